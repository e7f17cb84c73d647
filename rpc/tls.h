/*
 * tls.h — TLS for `heliosdb serve` ([api.tls]), over OpenSSL with memory
 * BIOs: no sockets here. The server feeds the ciphertext it received and
 * writes the ciphertext tls_pull hands it; plaintext goes through tls_read
 * and tls_write. ALPN offers "h2" and "http/1.1" (the client's choice
 * decides the protocol; none chosen means HTTP/1.1).
 */
#ifndef HDB_RPC_TLS_H
#define HDB_RPC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/http1.h"

struct tls_ctx;  /* one per server: certificate, key, settings */
struct tls_conn; /* one per connection */

/*
 * Loads the PEM certificate chain and private key ([api.tls] cert_path, key_path) and checks
 * they match. TLS 1.2 and 1.3 only. Returns NULL with a message naming the file and what is
 * wrong (unreadable, not PEM, key does not match the certificate).
 */
struct tls_ctx *tls_ctx_new(const char *cert_path, const char *key_path, char *msg, size_t msg_cap);
void tls_ctx_free(struct tls_ctx *t);

struct tls_conn *tls_conn_new(struct tls_ctx *t);
void tls_conn_free(struct tls_conn *c);

/*
 * Ciphertext received from the socket. Returns 0, or -1 when the connection must end (a
 * handshake failure, a bad record, the peer's close_notify): msg says why, and tls_pull may
 * still hold an alert to send.
 */
int tls_push(struct tls_conn *c, const uint8_t *data, size_t len, char *msg, size_t msg_cap);
/* Decrypted bytes available now: appends them to `out`. Returns 0, or -1 as tls_push. */
int tls_read(struct tls_conn *c, struct http1_out *out, char *msg, size_t msg_cap);
/* Encrypts plaintext to send (the handshake must be done, else it is kept until it is).
 * Returns 0, or -1 out of memory or after a failure. */
int tls_write(struct tls_conn *c, const uint8_t *data, size_t len);
/* Appends the ciphertext to send now (handshake records, encrypted data, alerts). */
int tls_pull(struct tls_conn *c, struct http1_out *out);
/* The handshake is complete; *alpn then is "h2", "http/1.1" or "" (the client offered none). */
bool tls_ready(const struct tls_conn *c, const char **alpn);
/* Sends close_notify (then tls_pull holds it). */
void tls_close(struct tls_conn *c);

#endif
