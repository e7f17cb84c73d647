/*
 * test_tls.c — the TLS server connection (rpc/tls.c) driven by an OpenSSL client in memory: the
 * client's ciphertext is fed to tls_push and tls_pull's to the client until both are quiet, and
 * plaintext goes through tls_read/tls_write on the server side and SSL_read/SSL_write on the
 * client side. Certificates are made at test time (EC P-256, CN=localhost, subjectAltName
 * DNS:localhost and IP:127.0.0.1) and written as PEM files into a scratch directory. Covered:
 * the handshake and ALPN, data both ways (3 MiB, the per-call read bound, plaintext written
 * before the handshake ended), close_notify both ways, handshake failures (an untrusted
 * certificate, HTTP/1.1 bytes, TLS 1.1), what tls_ctx_new refuses, and one context shared by
 * several threads.
 */
#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/tls.h"
#include "tests/core/testutil.h"

#define MSG_BYTES         256u
#define PUMP_ROUNDS_MAX   10000u
#define CHUNK_BYTES       65536u               /* what the test moves per BIO read */
#define LARGE_BYTES       (3u * 1024u * 1024u) /* the big transfers */
#define READ_BYTES_MAX    (1024u * 1024u)      /* tls.c's TLS_READ_BYTES_MAX */
#define CERT_DAYS         1
#define THREADS           4u
#define THREAD_HANDSHAKES 8u

/* ALPN lists in wire form (length-prefixed names). */
#define ALPN_H2_AND_HTTP1 "\x02h2\x08http/1.1"
#define ALPN_HTTP1        "\x08http/1.1"
#define ALPN_OTHER        "\x06spdy/3"

/* --- certificates --- */

/* A certificate and its key, and where they were written. */
struct cert {
    EVP_PKEY *key;
    X509 *x509;
    char *cert_path;
    char *key_path;
};

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    cr_assert_not_null(ext);
    cr_assert_eq(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A self-signed certificate for localhost over `key`. */
static X509 *self_signed(EVP_PKEY *key, long serial)
{
    X509 *x = X509_new();
    cr_assert_not_null(x);
    cr_assert_eq(X509_set_version(x, 2), 1);
    cr_assert_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
    cr_assert_not_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
    cr_assert_not_null(X509_gmtime_adj(X509_getm_notAfter(x), 60L * 60 * 24 * CERT_DAYS));
    X509_NAME *name = X509_get_subject_name(x);
    cr_assert_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                            (const unsigned char *)"localhost", -1, -1, 0),
                 1);
    cr_assert_eq(X509_set_issuer_name(x, name), 1);
    cr_assert_eq(X509_set_pubkey(x, key), 1);
    add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
    cr_assert_gt(X509_sign(x, key, EVP_sha256()), 0);
    return x;
}

static void write_pem(const char *path, EVP_PKEY *key, X509 *x)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    if (key != NULL) {
        cr_assert_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    }
    if (x != NULL) {
        cr_assert_eq(PEM_write_X509(f, x), 1);
    }
    cr_assert_eq(fclose(f), 0);
}

/* Makes an EC P-256 key and a certificate, written as <tag>.crt and <tag>.key into dir. */
static void cert_make(struct cert *c, const char *dir, const char *tag, long serial)
{
    char name[64];
    c->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    cr_assert_not_null(c->key);
    c->x509 = self_signed(c->key, serial);
    snprintf(name, sizeof name, "%s.crt", tag);
    c->cert_path = tu_path(dir, name);
    snprintf(name, sizeof name, "%s.key", tag);
    c->key_path = tu_path(dir, name);
    write_pem(c->cert_path, NULL, c->x509);
    write_pem(c->key_path, c->key, NULL);
}

static void cert_free(struct cert *c)
{
    EVP_PKEY_free(c->key);
    X509_free(c->x509);
    free(c->cert_path);
    free(c->key_path);
    memset(c, 0, sizeof *c);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fputs(text, f) >= 0, true);
    cr_assert_eq(fclose(f), 0);
}

/* --- fixture: a scratch directory, the server's certificate, another one, a context --- */

static char *g_dir;
static struct cert g_server;
static struct cert g_other;
static struct tls_ctx *g_ctx;

static void setup(void)
{
    g_dir = tu_mkdtemp("tls");
    cert_make(&g_server, g_dir, "server", 1);
    cert_make(&g_other, g_dir, "other", 2);
    char msg[MSG_BYTES] = "";
    g_ctx = tls_ctx_new(g_server.cert_path, g_server.key_path, msg, sizeof msg);
    cr_assert_not_null(g_ctx, "tls_ctx_new: %s", msg);
}

static void teardown(void)
{
    tls_ctx_free(g_ctx);
    g_ctx = NULL;
    cert_free(&g_server);
    cert_free(&g_other);
    tu_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

TestSuite(tls, .init = setup, .fini = teardown);

/* --- buffers --- */

static void buf_append(struct http1_out *o, const void *bytes, size_t n)
{
    if (n == 0) {
        return;
    }
    if (o->len + n > o->cap) {
        size_t cap = o->cap == 0 ? CHUNK_BYTES : o->cap;
        while (cap < o->len + n) {
            cap *= 2;
        }
        o->data = realloc(o->data, cap);
        cr_assert_not_null(o->data);
        o->cap = cap;
    }
    memcpy(o->data + o->len, bytes, n);
    o->len += n;
}

/* The byte at `i` of the test pattern. */
static uint8_t pattern_byte(size_t i)
{
    return (uint8_t)((i * 31u + (i >> 12)) & 0xffu);
}

static uint8_t *pattern_make(size_t n)
{
    uint8_t *p = malloc(n);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++) {
        p[i] = pattern_byte(i);
    }
    return p;
}

/* --- the client --- */

struct client_opts {
    X509 *trust;        /* the certificate the client trusts */
    const char *alpn;   /* wire form, or NULL: no ALPN */
    size_t alpn_len;    /* bytes of alpn */
    int max_version;    /* 0: OpenSSL's default */
    bool allow_old_tls; /* TLS 1.0 and 1.1 allowed (security level 0) */
};

struct client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in;  /* ciphertext from the server */
    BIO *out; /* ciphertext to the server */
    struct http1_out got;
    bool handshake_done;
    bool failed;    /* the handshake or a read failed */
    bool saw_close; /* the server's close_notify arrived */
    char error[MSG_BYTES];
};

static void client_ctx_settings(SSL_CTX *ctx, const struct client_opts *o)
{
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    cr_assert_eq(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), o->trust), 1);
    if (o->allow_old_tls) {
        SSL_CTX_set_security_level(ctx, 0);
        cr_assert_eq(SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0"), 1);
        cr_assert_eq(SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION), 1);
    }
    if (o->max_version != 0) {
        cr_assert_eq(SSL_CTX_set_max_proto_version(ctx, o->max_version), 1);
    }
}

static void client_init(struct client *cl, const struct client_opts *o)
{
    memset(cl, 0, sizeof *cl);
    cl->ctx = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(cl->ctx);
    client_ctx_settings(cl->ctx, o);
    cl->ssl = SSL_new(cl->ctx);
    cr_assert_not_null(cl->ssl);
    cr_assert_eq(SSL_set_tlsext_host_name(cl->ssl, "localhost"), 1);
    cr_assert_eq(SSL_set1_host(cl->ssl, "localhost"), 1);
    if (o->alpn != NULL) {
        /* SSL_set_alpn_protos returns 0 on success. */
        cr_assert_eq(
            SSL_set_alpn_protos(cl->ssl, (const unsigned char *)o->alpn, (unsigned)o->alpn_len), 0);
    }
    cl->in = BIO_new(BIO_s_mem());
    cl->out = BIO_new(BIO_s_mem());
    cr_assert_not_null(cl->in);
    cr_assert_not_null(cl->out);
    BIO_set_mem_eof_return(cl->in, -1);
    BIO_set_mem_eof_return(cl->out, -1);
    SSL_set_bio(cl->ssl, cl->in, cl->out);
    SSL_set_connect_state(cl->ssl);
}

static void client_free(struct client *cl)
{
    SSL_free(cl->ssl);
    SSL_CTX_free(cl->ctx);
    http1_out_free(&cl->got);
}

static void client_fail(struct client *cl)
{
    cl->failed = true;
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, cl->error, sizeof cl->error);
    ERR_clear_error();
}

/* Runs the client's side: the handshake, then reading what arrived. Returns whether anything
 * changed. */
static bool client_step(struct client *cl)
{
    if (cl->failed || cl->saw_close) {
        return false;
    }
    bool changed = false;
    if (!cl->handshake_done) {
        ERR_clear_error();
        int rv = SSL_do_handshake(cl->ssl);
        if (rv != 1) {
            if (SSL_get_error(cl->ssl, rv) != SSL_ERROR_WANT_READ) {
                client_fail(cl);
                return true;
            }
            return false;
        }
        cl->handshake_done = true;
        changed = true;
    }
    uint8_t buf[CHUNK_BYTES];
    for (;;) {
        size_t n = 0;
        ERR_clear_error();
        int rv = SSL_read_ex(cl->ssl, buf, sizeof buf, &n);
        if (rv != 1) {
            int e = SSL_get_error(cl->ssl, rv);
            if (e == SSL_ERROR_ZERO_RETURN) {
                cl->saw_close = true;
                changed = true;
            } else if (e != SSL_ERROR_WANT_READ) {
                client_fail(cl);
                changed = true;
            }
            return changed;
        }
        buf_append(&cl->got, buf, n);
        changed = true;
    }
}

/* Takes everything the client wrote. */
static void client_output(struct client *cl, struct http1_out *o)
{
    uint8_t buf[CHUNK_BYTES];
    size_t n = 0;
    while (BIO_read_ex(cl->out, buf, sizeof buf, &n) == 1) {
        buf_append(o, buf, n);
    }
}

static void client_write(struct client *cl, const void *data, size_t len)
{
    size_t written = 0;
    cr_assert_eq(SSL_write_ex(cl->ssl, data, len, &written), 1);
    cr_assert_eq(written, len);
}

/* --- the server side --- */

struct server {
    struct tls_conn *conn;
    struct http1_out got;
    int rc; /* 0, or the first -1 of tls_push or tls_read */
    char msg[MSG_BYTES];
};

static void server_init(struct server *s)
{
    memset(s, 0, sizeof *s);
    s->conn = tls_conn_new(g_ctx);
    cr_assert_not_null(s->conn);
}

static void server_free(struct server *s)
{
    tls_conn_free(s->conn);
    http1_out_free(&s->got);
}

/* Feeds the client's bytes to the server, then reads. Returns whether anything changed. */
static bool server_step(struct server *s, struct client *cl)
{
    struct http1_out in = {0};
    client_output(cl, &in);
    bool changed = in.len > 0;
    if (s->rc == 0 && in.len > 0) {
        s->rc = tls_push(s->conn, in.data, in.len, s->msg, sizeof s->msg);
    }
    http1_out_free(&in);
    if (s->rc == 0) {
        size_t before = s->got.len;
        s->rc = tls_read(s->conn, &s->got, s->msg, sizeof s->msg);
        changed = changed || s->got.len != before || s->rc != 0;
    }
    struct http1_out out = {0};
    cr_assert_eq(tls_pull(s->conn, &out), 0);
    if (out.len > 0) {
        size_t taken = 0;
        cr_assert_eq(BIO_write_ex(cl->in, out.data, out.len, &taken), 1);
        cr_assert_eq(taken, out.len);
        changed = true;
    }
    http1_out_free(&out);
    return changed;
}

/* Moves bytes both ways until neither side has anything more to do. */
static void pump(struct server *s, struct client *cl)
{
    for (uint32_t round = 0; round < PUMP_ROUNDS_MAX; round++) {
        bool changed = client_step(cl);
        changed = server_step(s, cl) || changed;
        if (!changed) {
            return;
        }
    }
    cr_assert_fail("pump: no quiet after %u rounds", PUMP_ROUNDS_MAX);
}

static struct client_opts default_opts(void)
{
    return (struct client_opts){.trust = g_server.x509,
                                .alpn = ALPN_H2_AND_HTTP1,
                                .alpn_len = sizeof ALPN_H2_AND_HTTP1 - 1};
}

/* Connects a client with `o` and pumps until quiet. */
static void connect_with(struct server *s, struct client *cl, const struct client_opts *o)
{
    server_init(s);
    client_init(cl, o);
    pump(s, cl);
}

static void connect_ok(struct server *s, struct client *cl, const struct client_opts *o)
{
    connect_with(s, cl, o);
    cr_assert_eq(s->rc, 0, "server: %s", s->msg);
    cr_assert(!cl->failed, "client: %s", cl->error);
    cr_assert(cl->handshake_done);
    cr_assert(tls_ready(s->conn, NULL));
}

/* --- handshake and ALPN --- */

Test(tls, handshake_completes_with_a_client_trusting_the_certificate)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    server_init(&s);
    const char *alpn = "unset";
    cr_assert(!tls_ready(s.conn, &alpn));
    cr_assert_str_eq(alpn, "");
    client_init(&cl, &o);
    pump(&s, &cl);
    cr_assert_eq(s.rc, 0, "server: %s", s.msg);
    cr_assert(cl.handshake_done, "client: %s", cl.error);
    cr_assert(tls_ready(s.conn, &alpn));
    cr_assert_geq(SSL_version(cl.ssl), TLS1_2_VERSION);
    cr_assert_eq(SSL_get_verify_result(cl.ssl), X509_V_OK);
    client_free(&cl);
    server_free(&s);
}

static void check_alpn(const char *offered, size_t offered_len, const char *expected)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    o.alpn = offered;
    o.alpn_len = offered_len;
    connect_ok(&s, &cl, &o);
    const char *alpn = NULL;
    cr_assert(tls_ready(s.conn, &alpn));
    cr_assert_str_eq(alpn, expected);
    const unsigned char *client_alpn = NULL;
    unsigned int client_alpn_len = 0;
    SSL_get0_alpn_selected(cl.ssl, &client_alpn, &client_alpn_len);
    cr_assert_eq(client_alpn_len, strlen(expected));
    if (client_alpn_len > 0) {
        cr_assert_eq(memcmp(client_alpn, expected, client_alpn_len), 0);
    }
    client_free(&cl);
    server_free(&s);
}

Test(tls, alpn_chooses_h2_when_the_client_offers_h2_and_http1)
{
    check_alpn(ALPN_H2_AND_HTTP1, sizeof ALPN_H2_AND_HTTP1 - 1, "h2");
}

Test(tls, alpn_chooses_http1_when_the_client_offers_only_http1)
{
    check_alpn(ALPN_HTTP1, sizeof ALPN_HTTP1 - 1, "http/1.1");
}

Test(tls, alpn_is_empty_when_the_client_offers_none)
{
    check_alpn(NULL, 0, "");
}

Test(tls, alpn_is_empty_when_the_client_offers_only_other_protocols)
{
    check_alpn(ALPN_OTHER, sizeof ALPN_OTHER - 1, "");
}

/* --- data --- */

Test(tls, data_flows_both_ways_after_the_handshake)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    connect_ok(&s, &cl, &o);
    client_write(&cl, "GET / HTTP/1.1\r\n\r\n", 18);
    pump(&s, &cl);
    cr_assert_eq(s.rc, 0, "server: %s", s.msg);
    cr_assert_eq(s.got.len, 18);
    cr_assert_eq(memcmp(s.got.data, "GET / HTTP/1.1\r\n\r\n", 18), 0);
    cr_assert_eq(tls_write(s.conn, (const uint8_t *)"HTTP/1.1 200 OK\r\n", 17), 0);
    pump(&s, &cl);
    cr_assert_eq(cl.got.len, 17);
    cr_assert_eq(memcmp(cl.got.data, "HTTP/1.1 200 OK\r\n", 17), 0);
    client_free(&cl);
    server_free(&s);
}

Test(tls, three_mebibytes_from_the_server_arrive_whole)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    connect_ok(&s, &cl, &o);
    uint8_t *data = pattern_make(LARGE_BYTES);
    cr_assert_eq(tls_write(s.conn, data, LARGE_BYTES), 0);
    pump(&s, &cl);
    cr_assert(!cl.failed, "client: %s", cl.error);
    cr_assert_eq(cl.got.len, LARGE_BYTES);
    cr_assert_eq(memcmp(cl.got.data, data, LARGE_BYTES), 0);
    free(data);
    client_free(&cl);
    server_free(&s);
}

Test(tls, read_takes_at_most_a_mebibyte_per_call_and_the_rest_on_the_next)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    connect_ok(&s, &cl, &o);
    uint8_t *data = pattern_make(LARGE_BYTES);
    client_write(&cl, data, LARGE_BYTES);
    struct http1_out in = {0};
    client_output(&cl, &in);
    cr_assert_eq(tls_push(s.conn, in.data, in.len, s.msg, sizeof s.msg), 0, "%s", s.msg);
    http1_out_free(&in);
    cr_assert_eq(tls_read(s.conn, &s.got, s.msg, sizeof s.msg), 0, "%s", s.msg);
    cr_assert_eq(s.got.len, READ_BYTES_MAX);
    for (uint32_t i = 0; i < 8 && s.got.len < LARGE_BYTES; i++) {
        size_t before = s.got.len;
        cr_assert_eq(tls_read(s.conn, &s.got, s.msg, sizeof s.msg), 0, "%s", s.msg);
        cr_assert_leq(s.got.len - before, READ_BYTES_MAX);
    }
    cr_assert_eq(s.got.len, LARGE_BYTES);
    cr_assert_eq(memcmp(s.got.data, data, LARGE_BYTES), 0);
    free(data);
    client_free(&cl);
    server_free(&s);
}

Test(tls, plaintext_written_before_the_handshake_arrives_after_it)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    server_init(&s);
    cr_assert_eq(tls_write(s.conn, (const uint8_t *)"early ", 6), 0);
    cr_assert_eq(tls_write(s.conn, (const uint8_t *)"bird", 4), 0);
    struct http1_out out = {0};
    cr_assert_eq(tls_pull(s.conn, &out), 0);
    cr_assert_eq(out.len, 0, "nothing to send before the client's hello");
    client_init(&cl, &o);
    pump(&s, &cl);
    cr_assert_eq(s.rc, 0, "server: %s", s.msg);
    cr_assert(tls_ready(s.conn, NULL));
    cr_assert_eq(cl.got.len, 10);
    cr_assert_eq(memcmp(cl.got.data, "early bird", 10), 0);
    client_free(&cl);
    server_free(&s);
}

/* --- closing --- */

Test(tls, close_notify_from_the_client_ends_the_connection)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    connect_ok(&s, &cl, &o);
    cr_assert_geq(SSL_shutdown(cl.ssl), 0);
    pump(&s, &cl);
    cr_assert_eq(s.rc, -1);
    cr_assert_not_null(strstr(s.msg, "closed"), "%s", s.msg);
    cr_assert_str_eq(s.msg, "the peer closed the TLS session");
    char msg[MSG_BYTES] = "";
    struct http1_out more = {0};
    cr_assert_eq(tls_read(s.conn, &more, msg, sizeof msg), -1);
    cr_assert_str_eq(msg, "the peer closed the TLS session");
    cr_assert_eq(more.len, 0);
    http1_out_free(&more);
    client_free(&cl);
    server_free(&s);
}

Test(tls, data_before_close_notify_is_read_then_the_close_is_reported)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    connect_ok(&s, &cl, &o);
    client_write(&cl, "bye", 3);
    cr_assert_geq(SSL_shutdown(cl.ssl), 0);
    struct http1_out in = {0};
    client_output(&cl, &in);
    cr_assert_eq(tls_push(s.conn, in.data, in.len, s.msg, sizeof s.msg), 0, "%s", s.msg);
    http1_out_free(&in);
    cr_assert_eq(tls_read(s.conn, &s.got, s.msg, sizeof s.msg), 0, "%s", s.msg);
    cr_assert_eq(s.got.len, 3);
    cr_assert_eq(memcmp(s.got.data, "bye", 3), 0);
    cr_assert_eq(tls_read(s.conn, &s.got, s.msg, sizeof s.msg), -1);
    cr_assert_str_eq(s.msg, "the peer closed the TLS session");
    /* TLS allows the half-close: the answer still goes out. */
    cr_assert_eq(tls_write(s.conn, (const uint8_t *)"ok", 2), 0);
    s.rc = -1;
    pump(&s, &cl);
    cr_assert_eq(cl.got.len, 2);
    cr_assert_eq(memcmp(cl.got.data, "ok", 2), 0);
    client_free(&cl);
    server_free(&s);
}

Test(tls, close_sends_close_notify_to_the_client)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    connect_ok(&s, &cl, &o);
    cr_assert_eq(tls_write(s.conn, (const uint8_t *)"last", 4), 0);
    tls_close(s.conn);
    pump(&s, &cl);
    cr_assert(!cl.failed, "client: %s", cl.error);
    cr_assert(cl.saw_close);
    cr_assert_eq(cl.got.len, 4);
    cr_assert_eq(tls_write(s.conn, (const uint8_t *)"more", 4), -1);
    client_free(&cl);
    server_free(&s);
}

/* --- handshake failures --- */

Test(tls, a_client_trusting_another_certificate_fails_the_handshake)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    o.trust = g_other.x509;
    connect_with(&s, &cl, &o);
    cr_assert(cl.failed);
    cr_assert_eq(s.rc, -1);
    cr_assert_not_null(strstr(s.msg, "TLS handshake: "), "%s", s.msg);
    cr_assert(!tls_ready(s.conn, NULL));
    cr_assert_eq(tls_write(s.conn, (const uint8_t *)"x", 1), -1);
    char msg[MSG_BYTES] = "";
    cr_assert_eq(tls_push(s.conn, (const uint8_t *)"x", 1, msg, sizeof msg), -1);
    cr_assert_str_eq(msg, s.msg);
    client_free(&cl);
    server_free(&s);
}

Test(tls, an_http1_request_instead_of_a_hello_fails)
{
    struct tls_conn *c = tls_conn_new(g_ctx);
    cr_assert_not_null(c);
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    char msg[MSG_BYTES] = "";
    cr_assert_eq(tls_push(c, (const uint8_t *)req, strlen(req), msg, sizeof msg), -1);
    cr_assert_not_null(strstr(msg, "TLS handshake: "), "%s", msg);
    cr_assert(!tls_ready(c, NULL));
    struct http1_out out = {0};
    cr_assert_eq(tls_read(c, &out, msg, sizeof msg), -1);
    cr_assert_eq(tls_pull(c, &out), 0); /* may hold an alert */
    http1_out_free(&out);
    tls_conn_free(c);
}

Test(tls, tls_1_1_is_refused)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    o.max_version = TLS1_1_VERSION;
    o.allow_old_tls = true;
    connect_with(&s, &cl, &o);
    cr_assert_eq(s.rc, -1);
    cr_assert_not_null(strstr(s.msg, "TLS handshake: "), "%s", s.msg);
    cr_assert_not_null(strstr(s.msg, "unsupported protocol"), "%s", s.msg);
    cr_assert(cl.failed);
    cr_assert(!cl.handshake_done);
    client_free(&cl);
    server_free(&s);
}

Test(tls, tls_1_2_is_accepted)
{
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    o.max_version = TLS1_2_VERSION;
    connect_ok(&s, &cl, &o);
    cr_assert_eq(SSL_version(cl.ssl), TLS1_2_VERSION);
    const char *alpn = NULL;
    cr_assert(tls_ready(s.conn, &alpn));
    cr_assert_str_eq(alpn, "h2");
    client_write(&cl, "twelve", 6);
    cr_assert_eq(tls_write(s.conn, (const uint8_t *)"back", 4), 0);
    pump(&s, &cl);
    cr_assert_eq(s.got.len, 6);
    cr_assert_eq(cl.got.len, 4);
    client_free(&cl);
    server_free(&s);
}

Test(tls, one_connections_failure_leaves_another_unaffected)
{
    struct tls_conn *bad = tls_conn_new(g_ctx);
    cr_assert_not_null(bad);
    char msg[MSG_BYTES] = "";
    /* A fatal handshake_failure alert where the client's hello should be. */
    cr_assert_eq(tls_push(bad, (const uint8_t *)"\x15\x03\x03\x00\x02\x02\x28", 7, msg, sizeof msg),
                 -1);
    cr_assert_not_null(strstr(msg, "TLS handshake: "), "%s", msg);
    cr_assert_eq(ERR_peek_error(), 0, "the failure left errors in the thread's queue");
    struct server s;
    struct client cl;
    struct client_opts o = default_opts();
    connect_ok(&s, &cl, &o);
    client_write(&cl, "fine", 4);
    pump(&s, &cl);
    cr_assert_eq(s.rc, 0, "server: %s", s.msg);
    cr_assert_eq(s.got.len, 4);
    client_free(&cl);
    server_free(&s);
    tls_conn_free(bad);
}

/* --- tls_ctx_new --- */

static void check_ctx_refused(const char *cert_path, const char *key_path, const char *wanted)
{
    char msg[MSG_BYTES] = "";
    struct tls_ctx *t = tls_ctx_new(cert_path, key_path, msg, sizeof msg);
    cr_assert_null(t);
    cr_assert_not_null(strstr(msg, wanted), "message \"%s\" lacks \"%s\"", msg, wanted);
}

Test(tls, ctx_refuses_a_missing_certificate_file_naming_it)
{
    char *missing = tu_path(g_dir, "missing.crt");
    check_ctx_refused(missing, g_server.key_path, missing);
    check_ctx_refused(missing, g_server.key_path, "No such file");
    free(missing);
}

Test(tls, ctx_refuses_a_missing_key_file_naming_it)
{
    char *missing = tu_path(g_dir, "missing.key");
    check_ctx_refused(g_server.cert_path, missing, missing);
    free(missing);
}

Test(tls, ctx_refuses_a_certificate_that_is_not_pem_naming_it)
{
    char *path = tu_path(g_dir, "junk.crt");
    write_text(path, "this is not a certificate\n");
    check_ctx_refused(path, g_server.key_path, path);
    check_ctx_refused(path, g_server.key_path, "not a PEM certificate");
    free(path);
}

Test(tls, ctx_refuses_a_key_that_is_not_pem_naming_it)
{
    char *path = tu_path(g_dir, "junk.key");
    write_text(path, "this is not a key\n");
    check_ctx_refused(g_server.cert_path, path, path);
    check_ctx_refused(g_server.cert_path, path, "not a PEM private key");
    /* A certificate where the key should be is not a key either. */
    check_ctx_refused(g_server.cert_path, g_server.cert_path, "not a PEM private key");
    free(path);
}

Test(tls, ctx_refuses_a_key_that_does_not_match_the_certificate)
{
    check_ctx_refused(g_server.cert_path, g_other.key_path, "does not match the certificate");
}

Test(tls, ctx_refuses_a_key_of_another_type_than_the_certificate)
{
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    cr_assert_not_null(rsa);
    char *path = tu_path(g_dir, "rsa.key");
    write_pem(path, rsa, NULL);
    check_ctx_refused(g_server.cert_path, path, "does not match the certificate");
    free(path);
    EVP_PKEY_free(rsa);
}

Test(tls, ctx_refuses_an_encrypted_key_without_asking_for_a_passphrase)
{
    char *path = tu_path(g_dir, "encrypted.key");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PrivateKey(f, g_server.key, EVP_aes_256_cbc(),
                                      (const unsigned char *)"secret", 6, NULL, NULL),
                 1);
    cr_assert_eq(fclose(f), 0);
    check_ctx_refused(g_server.cert_path, path, path);
    check_ctx_refused(g_server.cert_path, path, "is encrypted");
    free(path);
}

Test(tls, ctx_accepts_key_and_certificate_in_one_file)
{
    char *path = tu_path(g_dir, "both.pem");
    write_pem(path, g_server.key, g_server.x509);
    char msg[MSG_BYTES] = "";
    struct tls_ctx *t = tls_ctx_new(path, path, msg, sizeof msg);
    cr_assert_not_null(t, "%s", msg);
    tls_ctx_free(t);
    free(path);
}

/* --- threads --- */

/* Each thread makes its own connections from the shared g_ctx. A failed assert here, off the
 * test's thread, shows as a crash of the test rather than a failure. */
static void *handshakes_on_a_thread(void *arg)
{
    (void)arg;
    struct client_opts o = default_opts();
    for (uint32_t i = 0; i < THREAD_HANDSHAKES; i++) {
        struct server s;
        struct client cl;
        connect_ok(&s, &cl, &o);
        client_write(&cl, "ping", 4);
        pump(&s, &cl);
        cr_assert_eq(s.got.len, 4);
        client_free(&cl);
        server_free(&s);
    }
    return NULL;
}

Test(tls, connections_on_several_threads_share_one_ctx)
{
    pthread_t threads[THREADS];
    for (uint32_t i = 0; i < THREADS; i++) {
        cr_assert_eq(pthread_create(&threads[i], NULL, handshakes_on_a_thread, NULL), 0);
    }
    for (uint32_t i = 0; i < THREADS; i++) {
        cr_assert_eq(pthread_join(threads[i], NULL), 0);
    }
}
