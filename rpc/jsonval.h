/*
 * jsonval.h — SQL values as JSON and back, the forms of rpc/sqljson.h shared by SQL over JSON
 * (rpc/sqljson.c) and the REST tables (rpc/rest_tables.c).
 *
 * A column value becomes: INTEGER a number, REAL a number (null for NaN and infinities), TEXT a
 * string (each byte that is not well-formed UTF-8 as U+FFFD, rpc/text.h), NULL null, DECIMAL
 * its exact text as a string, BLOB {"$base64": "..."} (standard padded base64). A JSON value
 * binds as: a number as INTEGER or REAL, a string as TEXT, true/false as 1/0, null as NULL,
 * {"$base64": "..."} as a BLOB.
 */
#ifndef HDB_RPC_JSONVAL_H
#define HDB_RPC_JSONVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "heliosdb.h"

#define JSONVAL_VALUE_BYTES 32u /* a value's cost beside its bytes: the json_t it becomes */

/* "an object", "a string", ...: v's JSON type for error messages. */
const char *jsonval_type_name(const json_t *v);

/* A JSON string of s[0..n), each byte that is not part of well-formed UTF-8 replaced by U+FFFD;
 * NULL out of memory. */
json_t *jsonval_text(const char *s, size_t n);

/* The length of the base64 text of n bytes. */
size_t jsonval_base64_len(size_t n);

/*
 * Decodes s[0..n) if it is strict standard base64: whole groups of four, '=' padding only at
 * the end, no whitespace, the unused bits of the last digit zero (so each blob has exactly one
 * text). Writes *out_len bytes to out (which may be NULL: check only; else it holds n / 4 * 3
 * bytes). Returns false otherwise.
 */
bool jsonval_base64_decode(const char *s, size_t n, unsigned char *out, size_t *out_len);

/* The string of a {"$base64": "..."} object, or NULL if v is not one. */
json_t *jsonval_blob_text(json_t *v);

/* Column col of st's current row as JSON (the forms above); NULL out of memory. */
json_t *jsonval_from_column(heliosdb_stmt *st, int col);

/* The bytes column col of st's current row takes in an answer's budget: JSONVAL_VALUE_BYTES
 * plus the bytes of its text (a BLOB's base64). */
size_t jsonval_cost(heliosdb_stmt *st, int col);

/* Binds v at index (1-based) of st. v must be a scalar or a {"$base64": ...} object whose text
 * jsonval_base64_decode takes (the caller checked). */
int jsonval_bind(heliosdb_stmt *st, int index, json_t *v, heliosdb_error *e);

#endif
