/*
 * tls.c — TLS for `heliosdb serve` over OpenSSL 3 with memory BIOs (see tls.h).
 *
 * How the pieces fit. A tls_ctx wraps one SSL_CTX holding the certificate chain, the key and the
 * settings (TLS 1.2 and 1.3 only, no renegotiation, ALPN "h2" then "http/1.1"). It is set up
 * once by tls_ctx_new and only read afterwards, so every network thread may create connections
 * from it at once (SSL_new on a shared SSL_CTX is thread-safe; its session cache has its own
 * lock). A tls_conn is one SSL object between two memory BIOs, used by one thread:
 *
 *   socket ──tls_push──> [in BIO] ──SSL──> tls_read ──> plaintext
 *   socket <──tls_pull── [out BIO] <──SSL── tls_write <── plaintext
 *
 * Its life:
 *
 *   HANDSHAKE ──(SSL_do_handshake done, in tls_push)──> READY ──(close_notify)──> PEER_CLOSED
 *       │                                                 │
 *       └────────── a handshake or record failure ────────┴──> FAILED (every call then -1)
 *
 * OpenSSL keeps its errors in a per-thread queue: every call into it here starts with
 * ERR_clear_error and every failure takes its message out and clears the rest, so one
 * connection's errors never show up on another served by the same thread.
 *
 * Decisions the header leaves open:
 *   - tls_push drives the handshake; once it is done it also lets OpenSSL look at the records
 *     that arrived (SSL_peek) so that an alert or the peer's close_notify that follows no data
 *     is reported by tls_push itself. Records are decrypted by tls_read.
 *   - tls_read appends at most TLS_READ_BYTES_MAX bytes per call and leaves the rest for the
 *     next call. Plaintext is never longer than the ciphertext that carried it, so a caller
 *     that calls tls_read after each tls_push of at most TLS_READ_BYTES_MAX -
 *     TLS_RECORD_BYTES_MAX bytes (the server pushes 64 KiB reads) never leaves bytes behind.
 *   - When close_notify (or a bad record) arrives after data, tls_read appends the data and
 *     returns 0; the next tls_read or tls_push returns -1. tls_write still works after the
 *     peer's close_notify (TLS allows the half-close): the answer to a last request goes out.
 *   - Plaintext written before the handshake is done is kept (at most TLS_EARLY_BYTES_MAX,
 *     beyond which tls_write returns -1) and encrypted the moment the handshake completes.
 *   - A client that offers ALPN without "h2" or "http/1.1" gets no ALPN answer (not an alert):
 *     tls_ready then reports "", which means HTTP/1.1.
 *   - tls_close before the handshake is done, or after a failure, sends nothing.
 */
#include "rpc/tls.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_READ_BYTES_MAX   (1024u * 1024u)       /* plaintext appended by one tls_read */
#define TLS_RECORD_BYTES_MAX 16384u                /* plaintext in one TLS record */
#define TLS_EARLY_BYTES_MAX  (16u * 1024u * 1024u) /* plaintext kept until the handshake ends */
#define TLS_REASON_BYTES     384u                  /* a failure message: some words and an error */
#define TLS_ERROR_BYTES      256u                  /* one ERR_error_string_n text */
#define TLS_ALPN_BYTES       16u                   /* "http/1.1" and its NUL, with room */
#define TLS_PEER_CLOSED_TEXT "the peer closed the TLS session"

static_assert(TLS_READ_BYTES_MAX >= 4u * TLS_RECORD_BYTES_MAX, "a read takes several records");
static_assert(sizeof("http/1.1") <= TLS_ALPN_BYTES, "the longest protocol fits");

struct tls_ctx {
    SSL_CTX *ssl_ctx;
};

enum conn_state {
    CONN_HANDSHAKE,   /* waiting for the client's handshake records */
    CONN_READY,       /* application data flows both ways */
    CONN_PEER_CLOSED, /* close_notify received: nothing more to read, writing still allowed */
    CONN_FAILED,      /* the connection must end; `reason` says why */
};

struct tls_conn {
    SSL *ssl;
    BIO *in;  /* ciphertext received, read by OpenSSL (owned by ssl) */
    BIO *out; /* ciphertext to send, written by OpenSSL (owned by ssl) */
    enum conn_state state;
    bool handshake_done;
    struct http1_out early; /* plaintext written before the handshake was done */
    char alpn[TLS_ALPN_BYTES];
    char reason[TLS_REASON_BYTES];
};

/* --- messages --- */

static void copy_msg(char *msg, size_t msg_cap, const char *text)
{
    if (msg != NULL && msg_cap > 0) {
        snprintf(msg, msg_cap, "%s", text);
    }
}

/* Writes OpenSSL's oldest queued error as text into buf (or "no OpenSSL error" when the queue is
 * empty), then clears the queue. */
static void take_ssl_error(char *buf, size_t cap)
{
    assert(cap > 0);
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, cap, "no OpenSSL error was queued");
    } else {
        ERR_error_string_n(e, buf, cap);
    }
    ERR_clear_error();
}

/* Marks the connection failed with the reason "<what>: <OpenSSL's oldest error>", or just `what`
 * when !with_ssl_error. Returns -1. */
static int conn_fail(struct tls_conn *c, const char *what, bool with_ssl_error)
{
    if (with_ssl_error) {
        char err[TLS_ERROR_BYTES];
        take_ssl_error(err, sizeof err);
        snprintf(c->reason, sizeof c->reason, "%s: %s", what, err);
    } else {
        ERR_clear_error();
        snprintf(c->reason, sizeof c->reason, "%s", what);
    }
    c->state = CONN_FAILED;
    return -1;
}

/* --- the context --- */

/* Called by OpenSSL for an encrypted key's passphrase: never gives one, so the key fails to load
 * instead of OpenSSL asking on the terminal. `userdata`, when not NULL, is a bool set to true. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    if (userdata != NULL) {
        *(bool *)userdata = true;
    }
    return -1;
}

/* Finds `name` in an ALPN wire list (length-prefixed names). */
static bool alpn_offered(const unsigned char *list, unsigned int list_len, const char *name)
{
    size_t name_len = strlen(name);
    unsigned int at = 0;
    while (at < list_len) { /* each step moves past one name: at most list_len steps */
        unsigned int len = list[at];
        at++;
        if (len > list_len - at) {
            return false; /* OpenSSL checked the list; never reached */
        }
        if (len == name_len && memcmp(list + at, name, name_len) == 0) {
            return true;
        }
        at += len;
    }
    return false;
}

/* Called by OpenSSL during the handshake with the client's ALPN list: chooses "h2", else
 * "http/1.1", else no ALPN at all. */
static int on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *out_len,
                          const unsigned char *in, unsigned int in_len, void *arg)
{
    (void)ssl;
    (void)arg;
    static const char *const preferred[] = {"h2", "http/1.1"};
    for (size_t i = 0; i < sizeof preferred / sizeof preferred[0]; i++) {
        if (alpn_offered(in, in_len, preferred[i])) {
            *out = (const unsigned char *)preferred[i];
            *out_len = (unsigned char)strlen(preferred[i]);
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* Checks that `path` can be opened for reading; else writes "<what> <path>: <reason>" to msg
 * (never NULL here) and returns -1. */
static int file_readable(const char *what, const char *path, char *msg, size_t msg_cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(msg, msg_cap, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* Reads a PEM private key without ever asking for a passphrase. Returns it, or NULL with a
 * message naming the file (msg is never NULL here). */
static EVP_PKEY *key_load(const char *key_path, char *msg, size_t msg_cap)
{
    char err[TLS_ERROR_BYTES];
    bool encrypted = false;
    BIO *bio = BIO_new_file(key_path, "r");
    EVP_PKEY *key = NULL;
    if (bio != NULL) {
        key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &encrypted);
        BIO_free(bio);
    }
    if (key != NULL) {
        return key;
    }
    take_ssl_error(err, sizeof err);
    if (encrypted) {
        snprintf(msg, msg_cap, "TLS key %s is encrypted; give it without a passphrase", key_path);
    } else {
        snprintf(msg, msg_cap, "TLS key %s: not a PEM private key (%s)", key_path, err);
    }
    return NULL;
}

/* Loads the chain and the key into `ssl_ctx` and checks that they match. Returns 0, or -1 with a
 * message naming the file and what is wrong. */
static int ctx_load(SSL_CTX *ssl_ctx, const char *cert_path, const char *key_path, char *msg,
                    size_t msg_cap)
{
    char err[TLS_ERROR_BYTES];
    if (file_readable("TLS certificate", cert_path, msg, msg_cap) != 0 ||
        file_readable("TLS key", key_path, msg, msg_cap) != 0) {
        return -1;
    }
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ssl_ctx, cert_path) != 1) {
        take_ssl_error(err, sizeof err);
        snprintf(msg, msg_cap, "TLS certificate %s: not a PEM certificate chain (%s)", cert_path,
                 err);
        return -1;
    }
    EVP_PKEY *key = key_load(key_path, msg, msg_cap);
    if (key == NULL) {
        return -1;
    }
    /* Checked here rather than left to SSL_CTX_use_PrivateKey, which files a key of another
     * type than the certificate's aside without complaint. */
    X509 *cert = SSL_CTX_get0_certificate(ssl_ctx);
    ERR_clear_error();
    int ok = cert != NULL && X509_check_private_key(cert, key) == 1 &&
             SSL_CTX_use_PrivateKey(ssl_ctx, key) == 1 && SSL_CTX_check_private_key(ssl_ctx) == 1;
    EVP_PKEY_free(key);
    if (!ok) {
        take_ssl_error(err, sizeof err);
        snprintf(msg, msg_cap, "TLS key %s does not match the certificate %s (%s)", key_path,
                 cert_path, err);
        return -1;
    }
    return 0;
}

/* The settings every connection shares. Returns 0, or -1 with a message. */
static int ctx_configure(SSL_CTX *ssl_ctx, char *msg, size_t msg_cap)
{
    char err[TLS_ERROR_BYTES];
    ERR_clear_error();
    if (SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION) != 1) {
        take_ssl_error(err, sizeof err);
        snprintf(msg, msg_cap, "TLS settings: %s", err);
        return -1;
    }
    SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_default_passwd_cb(ssl_ctx, no_passphrase);
    SSL_CTX_set_alpn_select_cb(ssl_ctx, on_alpn_select, NULL);
    return 0;
}

struct tls_ctx *tls_ctx_new(const char *cert_path, const char *key_path, char *msg, size_t msg_cap)
{
    assert(cert_path != NULL);
    assert(key_path != NULL);
    char scratch[TLS_REASON_BYTES];
    if (msg == NULL || msg_cap == 0) { /* the helpers always have somewhere to write */
        msg = scratch;
        msg_cap = sizeof scratch;
    }
    msg[0] = '\0';
    struct tls_ctx *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(msg, msg_cap, "TLS: out of memory");
        return NULL;
    }
    ERR_clear_error();
    t->ssl_ctx = SSL_CTX_new(TLS_server_method());
    if (t->ssl_ctx == NULL) {
        char err[TLS_ERROR_BYTES];
        take_ssl_error(err, sizeof err);
        snprintf(msg, msg_cap, "TLS: %s", err);
        free(t);
        return NULL;
    }
    if (ctx_configure(t->ssl_ctx, msg, msg_cap) != 0 ||
        ctx_load(t->ssl_ctx, cert_path, key_path, msg, msg_cap) != 0) {
        tls_ctx_free(t);
        return NULL;
    }
    return t;
}

void tls_ctx_free(struct tls_ctx *t)
{
    if (t == NULL) {
        return;
    }
    SSL_CTX_free(t->ssl_ctx);
    free(t);
}

/* --- connections --- */

struct tls_conn *tls_conn_new(struct tls_ctx *t)
{
    assert(t != NULL);
    struct tls_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    ERR_clear_error();
    c->ssl = SSL_new(t->ssl_ctx);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->in == NULL || c->out == NULL) {
        BIO_free(c->in);
        BIO_free(c->out);
        SSL_free(c->ssl);
        free(c);
        ERR_clear_error();
        return NULL;
    }
    /* An empty BIO means "more is coming" (WANT_READ), never end of file. */
    BIO_set_mem_eof_return(c->in, -1);
    BIO_set_mem_eof_return(c->out, -1);
    SSL_set_bio(c->ssl, c->in, c->out); /* the SSL object owns both from here */
    SSL_set_accept_state(c->ssl);
    c->state = CONN_HANDSHAKE;
    return c;
}

void tls_conn_free(struct tls_conn *c)
{
    if (c == NULL) {
        return;
    }
    SSL_free(c->ssl); /* frees both BIOs */
    http1_out_free(&c->early);
    free(c);
}

/* Encrypts plaintext into the out BIO. A memory BIO never refuses bytes, so SSL_write_ex writes
 * everything or fails. Returns 0, or -1 (the connection failed). */
static int conn_encrypt(struct tls_conn *c, const uint8_t *data, size_t len)
{
    if (len == 0) {
        return 0;
    }
    size_t written = 0;
    ERR_clear_error();
    if (SSL_write_ex(c->ssl, data, len, &written) != 1 || written != len) {
        return conn_fail(c, "TLS write", true);
    }
    return 0;
}

/* The handshake completed: records the protocol chosen and sends what was written meanwhile. */
static int conn_handshake_done(struct tls_conn *c)
{
    const unsigned char *alpn = NULL;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    if (alpn_len >= sizeof c->alpn) {
        alpn_len = 0; /* on_alpn_select chooses only short names; never reached */
    }
    if (alpn_len > 0) {
        memcpy(c->alpn, alpn, alpn_len);
    }
    c->alpn[alpn_len] = '\0';
    c->handshake_done = true;
    c->state = CONN_READY;
    int rc = conn_encrypt(c, c->early.data, c->early.len);
    http1_out_free(&c->early);
    return rc;
}

/* Runs the handshake as far as the bytes received allow. Returns 0 (done or waiting for more),
 * or -1 (the connection failed). */
static int conn_handshake(struct tls_conn *c)
{
    ERR_clear_error();
    int rv = SSL_do_handshake(c->ssl);
    if (rv == 1) {
        return conn_handshake_done(c);
    }
    int e = SSL_get_error(c->ssl, rv);
    if (e == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        return 0;
    }
    return conn_fail(c, "TLS handshake", true);
}

/* Classifies a failed SSL_read_ex or SSL_peek_ex. Returns 0 when more bytes are needed, else -1
 * with the connection failed or closed by the peer. */
static int conn_read_error(struct tls_conn *c, int rv)
{
    int e = SSL_get_error(c->ssl, rv);
    if (e == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        c->state = CONN_PEER_CLOSED;
        return -1;
    }
    return conn_fail(c, "TLS read", true);
}

/* Lets OpenSSL handle the records before the next application data (alerts, close_notify, TLS
 * 1.3 key updates and tickets) without taking any data. Returns 0, or -1 as conn_read_error. */
static int conn_look_ahead(struct tls_conn *c)
{
    uint8_t byte;
    size_t n = 0;
    ERR_clear_error();
    int rv = SSL_peek_ex(c->ssl, &byte, 1, &n);
    if (rv == 1) {
        return 0;
    }
    return conn_read_error(c, rv);
}

/* For a connection that can no longer read: its message, and -1. */
static int conn_ended(const struct tls_conn *c, char *msg, size_t msg_cap)
{
    copy_msg(msg, msg_cap, c->state == CONN_PEER_CLOSED ? TLS_PEER_CLOSED_TEXT : c->reason);
    return -1;
}

/* Puts ciphertext into the in BIO. Returns 0, or -1 out of memory. */
static int conn_take(struct tls_conn *c, const uint8_t *data, size_t len)
{
    while (len > 0) { /* each step takes at most INT_MAX bytes: at most len / INT_MAX + 1 steps */
        size_t step = len < (size_t)INT_MAX ? len : (size_t)INT_MAX;
        size_t taken = 0;
        ERR_clear_error();
        if (BIO_write_ex(c->in, data, step, &taken) != 1 || taken != step) {
            return conn_fail(c, "TLS: out of memory", false);
        }
        data += step;
        len -= step;
    }
    return 0;
}

int tls_push(struct tls_conn *c, const uint8_t *data, size_t len, char *msg, size_t msg_cap)
{
    assert(c != NULL);
    assert(data != NULL || len == 0);
    if (c->state == CONN_FAILED || c->state == CONN_PEER_CLOSED) {
        return conn_ended(c, msg, msg_cap);
    }
    if (conn_take(c, data, len) != 0) {
        return conn_ended(c, msg, msg_cap);
    }
    if (c->state == CONN_HANDSHAKE && conn_handshake(c) != 0) {
        return conn_ended(c, msg, msg_cap);
    }
    if (c->state == CONN_READY && conn_look_ahead(c) != 0) {
        return conn_ended(c, msg, msg_cap);
    }
    return 0;
}

int tls_read(struct tls_conn *c, struct http1_out *out, char *msg, size_t msg_cap)
{
    assert(c != NULL);
    assert(out != NULL);
    if (c->state == CONN_FAILED || c->state == CONN_PEER_CLOSED) {
        return conn_ended(c, msg, msg_cap);
    }
    if (c->state == CONN_HANDSHAKE) {
        return 0; /* tls_push drives the handshake; no data before it ends */
    }
    size_t appended = 0;
    while (appended < TLS_READ_BYTES_MAX) { /* each step appends at least one byte or ends */
        size_t want = TLS_READ_BYTES_MAX - appended;
        want = want < TLS_RECORD_BYTES_MAX ? want : TLS_RECORD_BYTES_MAX;
        if (http1_out_reserve(out, want) != 0) {
            conn_fail(c, "TLS read: out of memory", false);
            return conn_ended(c, msg, msg_cap);
        }
        size_t n = 0;
        ERR_clear_error();
        int rv = SSL_read_ex(c->ssl, out->data + out->len, want, &n);
        if (rv != 1) {
            if (conn_read_error(c, rv) == 0 || appended > 0) {
                return 0; /* a closure after data is reported by the next call */
            }
            return conn_ended(c, msg, msg_cap);
        }
        out->len += n;
        appended += n;
    }
    return 0;
}

int tls_write(struct tls_conn *c, const uint8_t *data, size_t len)
{
    assert(c != NULL);
    assert(data != NULL || len == 0);
    if (c->state == CONN_FAILED) {
        return -1;
    }
    if (c->state == CONN_HANDSHAKE) {
        if (len > TLS_EARLY_BYTES_MAX - c->early.len) {
            return -1;
        }
        return http1_out_append(&c->early, data, len);
    }
    return conn_encrypt(c, data, len);
}

int tls_pull(struct tls_conn *c, struct http1_out *out)
{
    assert(c != NULL);
    assert(out != NULL);
    size_t pending = BIO_ctrl_pending(c->out);
    if (pending == 0) {
        return 0;
    }
    if (http1_out_reserve(out, pending) != 0) {
        return -1;
    }
    size_t n = 0;
    ERR_clear_error();
    if (BIO_read_ex(c->out, out->data + out->len, pending, &n) != 1 || n != pending) {
        ERR_clear_error();
        return -1; /* a memory BIO hands out what it holds; never reached */
    }
    out->len += n;
    return 0;
}

bool tls_ready(const struct tls_conn *c, const char **alpn)
{
    assert(c != NULL);
    if (alpn != NULL) {
        *alpn = c->handshake_done ? c->alpn : "";
    }
    return c->handshake_done;
}

void tls_close(struct tls_conn *c)
{
    assert(c != NULL);
    if (!c->handshake_done || c->state == CONN_FAILED) {
        return;
    }
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* 0: close_notify queued in the out BIO, the peer's not seen yet */
    ERR_clear_error();
}
