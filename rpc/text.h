/*
 * text.h — UTF-8 checking and lossy repair, shared by the front ends that must send text as
 * UTF-8: SQL over JSON (rpc/sqljson.c), the REST tables (rpc/rest_tables.c, through
 * rpc/jsonval.c) and gRPC (rpc/grpc.c, rpc/grpc_tables.c).
 *
 * "Well-formed" is Unicode's definition (table 3-7): no overlong forms, no surrogates, nothing
 * past U+10FFFF. A repair replaces each byte that is not part of a well-formed sequence by
 * U+FFFD (three bytes), so a text of n bytes with b bad ones repairs to n + 2 * b bytes.
 */
#ifndef HDB_RPC_TEXT_H
#define HDB_RPC_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* The length of the well-formed UTF-8 sequence starting s[0..n) (n >= 1), or 0 if there is
 * none. */
size_t text_utf8_len(const unsigned char *s, size_t n);

/* How many bytes of s[0..n) are not part of well-formed UTF-8; with nul_bad, each NUL byte
 * counts as bad too (for protobuf-c strings, which cannot carry one). */
size_t text_bad_bytes(const char *s, size_t n, bool nul_bad);

/* Writes s[0..n) to out with each bad byte (as text_bad_bytes counts them) replaced by U+FFFD;
 * out holds n + 2 * text_bad_bytes(s, n, nul_bad) bytes. Returns the bytes written (no NUL). */
size_t text_repair(const char *s, size_t n, bool nul_bad, char *out);

#endif
