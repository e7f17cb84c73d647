/*
 * test_fuzz_inputs.c — bad input of every kind the server's front end reads, fed in process to
 * the code that reads it: randomly mutated HTTP/1.1 requests (rpc/http1.h), SQL over JSON bodies
 * (rpc/sqljson.h), REST tables requests (rpc/rest_tables.h), gRPC messages and frames
 * (rpc/grpc.h, with the generated per-table services of rpc/grpc_tables.h), HTTP/2 frames
 * (rpc/http2.h), and schema changes (random CREATE, ALTER and DROP TABLE) between REST and gRPC
 * table calls, so the catalog caches of both see the catalog move. Every input must get an
 * answer of a documented kind (a parser status 400, 413, 414 or 431; an HTTP status 2xx/4xx/5xx
 * with a JSON body, {"error": {"code", "message", "status"}} for errors; a gRPC status 0..16,
 * with a message when not 0, and whole uncompressed frames; an HTTP/2 connection that goes on
 * or ends with a reason, each accepted stream closed exactly once), leave no transaction open,
 * and neither crash the process nor make ASan or UBSan report anything (the sanitizer build runs
 * this same program). A hang shows as criterion's time limit; statements have a time limit of
 * their own (FZ_STATEMENT_MS) so that a runaway query ends.
 *
 * How inputs are made. Each target starts from valid inputs (its seeds), then applies one to
 * four mutations (struct fz_buf, fz_mutate): bit flips, random bytes inserted or overwritten,
 * ranges deleted or duplicated, truncation, splices with another seed, words from the target's
 * dictionary (tokens of its grammar, odd numbers, bad UTF-8), long runs of one byte, and numbers
 * replaced by extreme ones. Some inputs are built from the grammar instead (PostgREST queries,
 * chunked bodies, HTTP/2 frame sequences), and byte streams are fed in pieces of random sizes.
 *
 * Deterministic: each target has its own fixed seed (tu_rng) and a fixed iteration count; a
 * failing check names the target and its iteration, which the same build replays exactly.
 *
 * HDB_FUZZ_SCALE (a positive number, default 1; at most FZ_SCALE_MAX) multiplies every
 * iteration count for longer local runs, e.g. `HDB_FUZZ_SCALE=50 ./test_fuzz_inputs`. At scale
 * 1 the whole program runs in a few seconds in the normal build and well within 90 s under ASan.
 */
#include <criterion/criterion.h>
#include <http_parser.h>
#include <inttypes.h>
#include <jansson.h>
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heliosdb.h"
#include "rpc/grpc.h"
#include "rpc/grpc_tables.h"
#include "rpc/http1.h"
#include "rpc/http2.h"
#include "rpc/rest_tables.h"
#include "rpc/sqljson.h"
#include "sql/api_int.h"
#include "tests/core/testutil.h"

#define FZ_BYTES_MAX       (64u * 1024u) /* one input */
#define FZ_OPS_MAX         4u            /* mutations applied to one input */
#define FZ_RUN_BYTES_MAX   4096u         /* a run of one byte inserted */
#define FZ_SCALE_MAX       100000.0      /* HDB_FUZZ_SCALE at most */
#define FZ_RESET_EVERY     32u           /* iterations between resets of the tables' rows */
#define FZ_MSG_BYTES       1024u
#define FZ_EXTRA_BYTES     512u
#define FZ_STATEMENT_MS    2000u /* a runaway statement ends (no assertion on time) */
#define FZ_H2_RECORDS_MAX  64u
#define FZ_H2_FRAMES_MAX   24u
#define FZ_H2_FEEDS_MAX    4096u
#define FZ_GRPC_MESSAGES   3u
#define FZ_QUERY_ITEMS_MAX 6u

#define ITER_HTTP1       40000u
#define ITER_SQLJSON     5000u
#define ITER_REST        8000u
#define ITER_GRPC        8000u
#define ITER_GRPC_TABLES 5000u
#define ITER_HTTP2       3000u
#define ITER_CHURN       1500u

/* ---- inputs and mutations ---- */

/* An input being mutated; p has a byte beyond FZ_BYTES_MAX for a terminating NUL. */
struct fz_buf {
    uint8_t p[FZ_BYTES_MAX + 1];
    size_t len;
};

/* A dictionary word (may hold NUL bytes). */
struct fz_word {
    const char *s;
    size_t n;
};
#define W(text)                                                                                    \
    {                                                                                              \
        text, sizeof(text) - 1                                                                     \
    }

struct fz_dict {
    const struct fz_word *words;
    size_t n;
};
#define DICT(array)                                                                                \
    {                                                                                              \
        array, sizeof array / sizeof array[0]                                                      \
    }

static const char *const fz_numbers[] = {
    "0",
    "-0",
    "-1",
    "1e999",
    "-1e999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "4294967296",
    "2147483648",
    "1e-400",
    "0.000000000000000000000000000000001",
    "99999999999999999999999999999999999999",
    "NaN",
    "0x10",
    "1.5",
    "12.345",
    "-99999999999.99",
};

/* Iterations of a target: base times HDB_FUZZ_SCALE. */
static uint64_t fz_iterations(uint64_t base)
{
    const char *s = getenv("HDB_FUZZ_SCALE");
    double scale = s != NULL ? strtod(s, NULL) : 1.0;
    if (!(scale > 0.0)) {
        scale = 1.0;
    }
    scale = scale > FZ_SCALE_MAX ? FZ_SCALE_MAX : scale;
    uint64_t n = (uint64_t)((double)base * scale);
    return n > 0 ? n : 1;
}

static size_t below(struct tu_rng *r, size_t n)
{
    return n == 0 ? 0 : (size_t)tu_rng_below(r, n);
}

static bool chance(struct tu_rng *r, unsigned one_in)
{
    return tu_rng_below(r, one_in) == 0;
}

static void buf_set(struct fz_buf *b, const void *p, size_t n)
{
    b->len = n < FZ_BYTES_MAX ? n : FZ_BYTES_MAX;
    memcpy(b->p, p, b->len);
}

static void buf_put(struct fz_buf *b, const void *p, size_t n)
{
    n = n < FZ_BYTES_MAX - b->len ? n : FZ_BYTES_MAX - b->len;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_puts(struct fz_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* Inserts n bytes at `at` (cut to what fits). */
static void buf_insert(struct fz_buf *b, size_t at, const void *p, size_t n)
{
    at = at < b->len ? at : b->len;
    n = n < FZ_BYTES_MAX - b->len ? n : FZ_BYTES_MAX - b->len;
    memmove(b->p + at + n, b->p + at, b->len - at);
    memcpy(b->p + at, p, n);
    b->len += n;
}

static void buf_erase(struct fz_buf *b, size_t at, size_t n)
{
    at = at < b->len ? at : b->len;
    n = n < b->len - at ? n : b->len - at;
    memmove(b->p + at, b->p + at + n, b->len - at - n);
    b->len -= n;
}

/* The input as a C string: cut at its first NUL. */
static const char *buf_cstr(struct fz_buf *b)
{
    b->p[b->len] = '\0';
    b->len = strlen((const char *)b->p);
    return (const char *)b->p;
}

/* Replaces the run of digits at or after `at` with an extreme number. */
static void mutate_number(struct tu_rng *r, struct fz_buf *b, size_t at)
{
    while (at < b->len && (b->p[at] < '0' || b->p[at] > '9')) {
        at++;
    }
    size_t end = at;
    while (end < b->len && b->p[end] >= '0' && b->p[end] <= '9') {
        end++;
    }
    const char *n = fz_numbers[below(r, sizeof fz_numbers / sizeof fz_numbers[0])];
    buf_erase(b, at, end - at);
    buf_insert(b, at, n, strlen(n));
}

static void mutate_duplicate(struct tu_rng *r, struct fz_buf *b, size_t at)
{
    static uint8_t chunk[256];
    size_t from = below(r, b->len + 1);
    size_t n = below(r, (b->len - from < sizeof chunk ? b->len - from : sizeof chunk) + 1);
    memcpy(chunk, b->p + from, n);
    buf_insert(b, at, chunk, n);
}

static void mutate_splice(struct tu_rng *r, struct fz_buf *b, size_t at, const struct fz_buf *other)
{
    size_t from = below(r, other->len + 1);
    b->len = at < b->len ? at : b->len;
    buf_put(b, other->p + from, other->len - from);
}

static void mutate_run(struct tu_rng *r, struct fz_buf *b, size_t at)
{
    static const char run_bytes[] = "a0 [{\"\\%\xff\x80\r\n,.(";
    static uint8_t run[FZ_RUN_BYTES_MAX];
    size_t n = 1 + below(r, chance(r, 4) ? FZ_RUN_BYTES_MAX : 64);
    memset(run, run_bytes[below(r, sizeof run_bytes - 1)], n);
    buf_insert(b, at, run, n);
}

/* One mutation of b; other (may be b itself) is what a splice takes its tail from. */
static void mutate_once(struct tu_rng *r, struct fz_buf *b, const struct fz_dict *d,
                        const struct fz_buf *other)
{
    size_t at = below(r, b->len + 1);
    uint8_t bytes[8];
    size_t n = 1 + below(r, sizeof bytes);
    const struct fz_word *w = &d->words[below(r, d->n)];
    switch (tu_rng_below(r, 11)) {
    case 0:
        b->p[at % (b->len + 1)] ^= (uint8_t)(1u << below(r, 8));
        b->len += at == b->len && b->len < FZ_BYTES_MAX; /* flipped the byte past the end */
        break;
    case 1:
        tu_rng_bytes(r, bytes, 1);
        buf_insert(b, at, bytes, 1);
        buf_erase(b, at + 1, 1);
        break;
    case 2:
        tu_rng_bytes(r, bytes, (uint32_t)n);
        buf_insert(b, at, bytes, n);
        break;
    case 3:
        buf_erase(b, at, 1 + below(r, 16));
        break;
    case 4:
        mutate_duplicate(r, b, at);
        break;
    case 5:
        b->len = at;
        break;
    case 6:
    case 7:
        buf_erase(b, at, tu_rng_below(r, 2) ? below(r, 8) : 0);
        buf_insert(b, at, w->s, w->n);
        break;
    case 8:
        mutate_splice(r, b, at, other);
        break;
    case 9:
        mutate_run(r, b, at);
        break;
    default:
        mutate_number(r, b, at);
        break;
    }
}

/* One to FZ_OPS_MAX mutations. other must not be b. */
static void fz_mutate(struct tu_rng *r, struct fz_buf *b, const struct fz_dict *d,
                      const struct fz_buf *other)
{
    size_t ops = chance(r, 2) ? 1 : 1 + below(r, FZ_OPS_MAX);
    for (size_t i = 0; i < ops; i++) {
        mutate_once(r, b, d, other);
    }
}

/* A random seed of `seeds` into b, and another one into other (for splices). */
static void seed_pick(struct tu_rng *r, const char *const *seeds, size_t n, struct fz_buf *b,
                      struct fz_buf *other)
{
    const char *s = seeds[below(r, n)];
    buf_set(b, s, strlen(s));
    const char *o = seeds[below(r, n)];
    buf_set(other, o, strlen(o));
}

/* ---- checks shared by the JSON answers ---- */

/* Checks an {"error": {"code", "message", "status"}} body with this status. */
static void error_body_check(const json_t *root, int status, const char *where, uint64_t i)
{
    cr_assert(json_is_object(root), "%s %" PRIu64 ": an error object", where, i);
    json_t *e = json_object_get(root, "error");
    cr_assert(json_is_object(e), "%s %" PRIu64 ": an \"error\" member", where, i);
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *message = json_string_value(json_object_get(e, "message"));
    cr_assert(code != NULL && code[0] != '\0', "%s %" PRIu64 ": an error code", where, i);
    cr_assert(message != NULL && message[0] != '\0', "%s %" PRIu64 ": a message", where, i);
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), status,
                 "%s %" PRIu64 ": the body's status", where, i);
}

/* The status is one of the kinds the server answers: 2xx, 4xx or 5xx. */
static void status_kind_check(int status, const char *where, uint64_t i)
{
    bool ok = (status >= 200 && status < 300) || (status >= 400 && status < 600);
    cr_assert(ok, "%s %" PRIu64 ": HTTP status %d", where, i, status);
}

/* ---- HTTP/1.1 ---- */

static const char *const http1_seeds[] = {
    "GET /v1/users?id=eq.5&select=name HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
    "POST /v1/_sql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
    "30\r\n\r\n{\"sql\":\"SELECT 1\",\"params\":[]}",
    "POST /v1/_batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    "3;ext=1\r\n[1]\r\n0\r\nX-Trailer: y\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    "DELETE /v1/t/1 HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n",
    "GET /v1/a%20b/%2Fx%C3%A9?x=%41#frag HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "PATCH /v1/t/1 HTTP/1.1\r\nHost: x\r\nPrefer: return=representation\r\nAuthorization: Bearer "
    "t0k\r\nOrigin: http://o\r\nContent-Length: 9\r\n\r\n{\"n\": 1}\n",
    "\r\n\r\nPUT /v1/t/2 HTTP/1.1\r\nContent-Length: 0\r\nContent-Type:  text/plain \t\r\n\r\n",
    "CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
};

static const struct fz_word http1_words[] = {
    W("\r\n"),
    W("\r\n\r\n"),
    W("\n"),
    W("Content-Length: "),
    W("Content-Length: 5\r\n"),
    W("Content-Length: 18446744073709551616\r\n"),
    W("Transfer-Encoding: chunked\r\n"),
    W("Transfer-Encoding: gzip, chunked\r\n"),
    W("0\r\n\r\n"),
    W("ffffffffffffffff\r\n"),
    W("%"),
    W("%2"),
    W("%00"),
    W("%zz"),
    W("%2F"),
    W("?"),
    W("#"),
    W(" HTTP/1.1"),
    W(" HTTP/1.0"),
    W(" HTTP/9.9"),
    W("Connection: close\r\n"),
    W("Connection: keep-alive\r\n"),
    W("Connection: upgrade\r\nUpgrade: h2c\r\n"),
    W("Expect: 100-continue\r\n"),
    W(":"),
    W(" "),
    W("\t"),
    W("\0"),
    W("\xff"),
    W("\xc3\xa9"),
    W("GET "),
    W("POST "),
    W("HEAD "),
    W("Prefer: "),
    W("Authorization: "),
    W("Content-Type: "),
    W("Upgrade: "),
    W("HTTP2-Settings: "),
    W("X-Long: "),
    W("\r\n\t folded"),
};

/* A POST with a random chunked body (sizes, extensions, trailers) into b. */
static void http1_chunked(struct tu_rng *r, struct fz_buf *b)
{
    b->len = 0;
    buf_puts(b, "POST /v1/_sql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    size_t chunks = below(r, 6);
    for (size_t k = 0; k < chunks; k++) {
        uint8_t data[48];
        size_t n = below(r, sizeof data);
        char line[48];
        snprintf(line, sizeof line, "%zx%s\r\n", n, chance(r, 4) ? ";name=value" : "");
        buf_puts(b, line);
        tu_rng_bytes(r, data, (uint32_t)n);
        buf_put(b, data, n);
        buf_puts(b, "\r\n");
    }
    buf_puts(b, chance(r, 2) ? "0\r\nX-T: 1\r\n\r\n" : "0\r\n\r\n");
}

/* Checks a parsed request and answers it into o. Returns 1. */
static size_t http1_take(struct http_request *req, struct http1_out *o, uint64_t i)
{
    cr_assert_not_null(req->target, "http1 %" PRIu64, i);
    cr_assert_not_null(req->path, "http1 %" PRIu64, i);
    cr_assert_leq(strlen(req->path), strlen(req->target), "http1 %" PRIu64, i);
    cr_assert_eq(req->body == NULL, req->body_len == 0, "http1 %" PRIu64, i);
    cr_assert(req->body == NULL || req->body[req->body_len] == '\0', "http1 %" PRIu64, i);
    cr_assert_str_neq(http_method_str((enum http_method)req->method), "<unknown>");
    cr_assert_eq(http1_respond(o, 200, "application/json", NULL, "{}", 2, req->keep_alive), 0);
    http_request_free(req);
    return 1;
}

/* Feeds in[0..len) in random pieces, taking the requests as they complete. */
static void http1_run_one(struct tu_rng *r, const uint8_t *in, size_t len, uint64_t i)
{
    static const size_t headers[] = {0, 256, 4096};
    static const size_t bodies[] = {64, 1024, 1u << 20};
    static const uint32_t pipelines[] = {0, 1, 2, 4};
    struct http1_limits lim = {.header_bytes_max = headers[below(r, 3)],
                               .body_bytes_max = bodies[below(r, 3)],
                               .pipeline_max = pipelines[below(r, 4)]};
    struct http1_conn *c = http1_conn_new(&lim);
    cr_assert_not_null(c);
    struct http1_out o = {0};
    for (size_t off = 0; off < len;) {
        size_t piece = 1 + below(r, chance(r, 2) ? len - off : (len - off < 8 ? len - off : 8));
        size_t consumed = SIZE_MAX, taken = 0;
        char msg[FZ_MSG_BYTES] = "";
        int rc = http1_feed(c, in + off, piece, &consumed, msg, sizeof msg);
        cr_assert_leq(consumed, piece, "http1 %" PRIu64, i);
        for (struct http_request *req; (req = http1_next(c)) != NULL;) {
            taken += http1_take(req, &o, i);
        }
        if (rc != 0) {
            cr_assert(rc == 400 || rc == 413 || rc == 414 || rc == 431,
                      "http1 %" PRIu64 ": status %d (%s)", i, rc, msg);
            cr_assert_neq(msg[0], '\0', "http1 %" PRIu64 ": a message", i);
            cr_assert_eq(http1_feed(c, in, len, &consumed, NULL, 0), rc, "the error sticks");
            cr_assert_eq(consumed, 0);
            break;
        }
        off += consumed;
        if (consumed == 0 && taken == 0) {
            break; /* parsing stopped: Connection: close or an upgrade */
        }
    }
    (void)http1_partial(c);
    http1_out_free(&o);
    http1_conn_free(c);
}

Test(fuzz, http1_requests_in_random_pieces_get_a_request_or_a_4xx, .timeout = 600)
{
    static struct fz_buf b, other;
    struct tu_rng r;
    tu_rng_seed(&r, 0x4854545031ull);
    const struct fz_dict d = DICT(http1_words);
    uint64_t n = fz_iterations(ITER_HTTP1);
    for (uint64_t i = 0; i < n; i++) {
        seed_pick(&r, http1_seeds, sizeof http1_seeds / sizeof http1_seeds[0], &b, &other);
        if (chance(&r, 4)) {
            http1_chunked(&r, &b);
        }
        if (!chance(&r, 8)) {
            fz_mutate(&r, &b, &d, &other);
        }
        http1_run_one(&r, b.p, b.len, i);
    }
}

/* ---- a database for SQL over JSON, REST and gRPC ---- */

static char *dir;
static heliosdb *db;
static heliosdb_conn *conn;
static struct rest_cache rest_cache;
static struct grpc_tables_cache tables_cache;
static struct grpc_env env;

static void exec_ok(const char *sql)
{
    heliosdb_error err;
    cr_assert_eq(heliosdb_exec(conn, sql, &err), HELIOSDB_OK, "%s: %s", sql, err.message);
}

/* The rows every target starts from (and returns to every FZ_RESET_EVERY iterations). */
static void rows_reset(void)
{
    cr_assert_eq(heliosdb_in_transaction(conn), 0);
    exec_ok("DELETE FROM t; DELETE FROM pairs; DELETE FROM \"odd \"\"name\"\"\"; DELETE FROM log;"
            "INSERT INTO t VALUES (1, 10, 1.5, 'a', 12.50, x'00ff'), (2, NULL, NULL, NULL, NULL, "
            "NULL), (3, -7, -0.25, 'h\xc3\xa9llo', '99.99', x'');"
            "INSERT INTO pairs VALUES (1, 'a', 0.5), (1, 'b,c', NULL), (2, '', 3);"
            "INSERT INTO \"odd \"\"name\"\"\" VALUES (1, 'x', x'01');"
            "INSERT INTO log VALUES ('one'), ('two'), (NULL)");
}

static void db_setup(void)
{
    dir = tu_mkdtemp("fuzz_inputs");
    heliosdb_error err;
    cr_assert_eq(heliosdb_open(dir, NULL, &db, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_connect(db, &conn, &err), HELIOSDB_OK, "%s", err.message);
    heliosdb_set_timeout(conn, FZ_STATEMENT_MS);
    exec_ok("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, r REAL, s TEXT, "
            "d DECIMAL(12,2), b BLOB);"
            "CREATE TABLE pairs (a INTEGER, k TEXT, v REAL, PRIMARY KEY (a, k));"
            "CREATE TABLE \"odd \"\"name\"\"\" (\"select\" INTEGER PRIMARY KEY, \"x,y\" TEXT, "
            "\"\xc3\x9cn\" BLOB);"
            "CREATE TABLE log (msg TEXT)");
    rows_reset();
    rest_cache = (struct rest_cache){0};
    tables_cache = (struct grpc_tables_cache){0};
    env = (struct grpc_env){.db = db,
                            .conn = conn,
                            .message_bytes_max = 1u << 16,
                            .serving = true,
                            .tables_enabled = true,
                            .tables_cache = &tables_cache};
}

static void db_teardown(void)
{
    heliosdb_error err;
    grpc_tables_cache_free(&tables_cache);
    grpc_env_release(&env);
    rest_cache_free(&rest_cache);
    heliosdb_disconnect(conn);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK, "%s", err.message);
    tu_rmtree(dir);
    free(dir);
}

TestSuite(fuzz_db, .init = db_setup, .fini = db_teardown, .timeout = 600);

/* ---- SQL over JSON ---- */

static const char *const sqljson_seeds[] = {
    "{\"sql\": \"INSERT INTO t (id, n, r, s, d, b) VALUES (?, ?, ?, ?, ?, ?)\", \"params\": [10, "
    "-5, 2.5, \"h\\u00e9llo\", \"12.50\", {\"$base64\": \"AAEC\"}]}",
    "{\"sql\": \"SELECT id, n, r, s, d, b FROM t WHERE id = ? OR s = ?\", \"params\": [1, \"a\"]}",
    "{\"sql\": \"UPDATE t SET n = n + ?, s = ? WHERE id = ?\", \"params\": [true, null, 1]}",
    "{\"sql\": \"SELECT ?, ?, ?, ?, ?\", \"params\": [9223372036854775807, -9223372036854775808, "
    "1e308, false, {\"$base64\": \"\"}]}",
    "{\"sql\": \"DELETE FROM t WHERE id > ?\", \"params\": [100]}",
    "{\"sql\": \"INSERT INTO t (id, s) VALUES (?, ?); SELECT count(*) FROM t\", \"params\": [7, "
    "\"x\"]}",
    "{\"sql\": \"SELECT 1\"}",
    "{\"params\": [], \"sql\": \"SELECT * FROM pairs ORDER BY a, k\"}",
    "{\"sql\": \"BEGIN; SELECT 1\"}",
    "{\"sql\": \"INSERT INTO pairs VALUES (?, ?, ?)\", \"params\": [3, \"k\", 0.1]}",
};

static const char *const sqljson_batch_seeds[] = {
    "{\"statements\": [{\"sql\": \"INSERT INTO t (id, n) VALUES (?, ?)\", \"params\": [20, 1]}, "
    "{\"sql\": \"SELECT * FROM t WHERE id = ?\", \"params\": [20]}]}",
    "[{\"sql\": \"UPDATE t SET d = ? WHERE id = 1\", \"params\": [\"1.005\"]}, {\"sql\": "
    "\"SELECT d FROM t\"}]",
    "{\"statements\": []}",
    "[{\"sql\": \"INSERT INTO log VALUES (?)\", \"params\": [{\"$base64\": \"/w==\"}]}, {\"sql\": "
    "\"COMMIT\"}]",
    "{\"statements\": [{\"sql\": \"SELECT ?\", \"params\": [\"\\ud83d\\ude00\"]}]}",
};

static const struct fz_word json_words[] = {
    W("{"),
    W("}"),
    W("["),
    W("]"),
    W(","),
    W(":"),
    W("\""),
    W("\\"),
    W("null"),
    W("true"),
    W("false"),
    W("\"sql\""),
    W("\"params\""),
    W("\"statements\""),
    W("{\"$base64\": \"AA==\"}"),
    W("{\"$base64\": \"A===\"}"),
    W("{\"$base64\": 5}"),
    W("{\"$base64\": \"AA==\", \"x\": 1}"),
    W("[[[[[[[[[[[[[[[[[[[["),
    W("\\u0000"),
    W("\\ud800"),
    W("\\udc00\\ud800"),
    W("\\u00"),
    W("1e999"),
    W("-0.0"),
    W("1.7976931348623157e309"),
    W("9223372036854775808"),
    W("-9223372036854775809"),
    W("\xc3\x28"),
    W("\xed\xa0\x80"),
    W("\xf4\x90\x80\x80"),
    W("\xff"),
    W("\0"),
    W("?"),
    W(";"),
    W("'"),
    W("--"),
    W("/*"),
    W("SELECT "),
    W(" FROM t"),
    W("?1000"),
    W(":name"),
    W("x'00'"),
    W("CAST(? AS DECIMAL(12,2))"),
    W("COMMIT"),
    W("ROLLBACK"),
    W("BEGIN;"),
};

/* Checks a 200 answer of /v1/_sql: columns, rows, rows_affected, last_insert_id. */
static void sqljson_result_check(const json_t *v, uint64_t i)
{
    cr_assert(json_is_array(json_object_get(v, "columns")), "sqljson %" PRIu64, i);
    cr_assert(json_is_array(json_object_get(v, "rows")), "sqljson %" PRIu64, i);
    cr_assert(json_is_integer(json_object_get(v, "rows_affected")), "sqljson %" PRIu64, i);
    cr_assert(json_is_integer(json_object_get(v, "last_insert_id")), "sqljson %" PRIu64, i);
}

/* Runs body through /v1/_sql or /v1/_batch and checks the answer. */
static void sqljson_run_one(bool batch, const char *body, size_t len, uint64_t i)
{
    struct sqljson_answer a;
    int rc = batch ? sqljson_batch(conn, body, len, &a) : sqljson_execute(conn, body, len, &a);
    cr_assert_not_null(a.body, "sqljson %" PRIu64 ": an answer (rc %d)", i, rc);
    cr_assert_eq(strlen(a.body), a.len, "sqljson %" PRIu64, i);
    status_kind_check(a.http_status, "sqljson", i);
    cr_assert_eq(rc == HELIOSDB_OK, a.http_status == 200, "sqljson %" PRIu64 ": rc %d, HTTP %d", i,
                 rc, a.http_status);
    json_error_t je;
    json_t *root = json_loads(a.body, 0, &je);
    cr_assert_not_null(root, "sqljson %" PRIu64 ": %s: %s", i, je.text, a.body);
    if (a.http_status != 200) {
        error_body_check(root, a.http_status, "sqljson", i);
    } else if (batch) {
        json_t *results = json_object_get(root, "results");
        cr_assert(json_is_array(results), "sqljson %" PRIu64, i);
        for (size_t k = 0; k < json_array_size(results); k++) {
            sqljson_result_check(json_array_get(results, k), i);
        }
    } else {
        sqljson_result_check(root, i);
    }
    json_decref(root);
    sqljson_answer_free(&a);
    cr_assert_eq(heliosdb_in_transaction(conn), 0, "sqljson %" PRIu64 ": no transaction", i);
}

Test(fuzz_db, sqljson_bodies_get_a_result_or_a_json_error)
{
    static struct fz_buf b, other;
    struct tu_rng r;
    tu_rng_seed(&r, 0x53514c4a534f4eull);
    const struct fz_dict d = DICT(json_words);
    uint64_t n = fz_iterations(ITER_SQLJSON);
    for (uint64_t i = 0; i < n; i++) {
        bool batch = chance(&r, 3);
        if (batch) {
            seed_pick(&r, sqljson_batch_seeds,
                      sizeof sqljson_batch_seeds / sizeof sqljson_batch_seeds[0], &b, &other);
        } else {
            seed_pick(&r, sqljson_seeds, sizeof sqljson_seeds / sizeof sqljson_seeds[0], &b,
                      &other);
        }
        if (!chance(&r, 8)) {
            fz_mutate(&r, &b, &d, &other);
        }
        sqljson_run_one(batch, (const char *)b.p, b.len, i);
        if (i % FZ_RESET_EVERY == 0) {
            rows_reset();
        }
    }
}

/* ---- REST tables ---- */

/* A table of the schema: its collection, item paths (the first one matches `put`, the body of a
 * PUT that keeps its key), its columns and bodies for POST and PATCH. */
struct rest_table {
    const char *collection;
    const char *items[3];
    const char *columns[6];
    const char *put;
    const char *bodies[3];
};

static const struct rest_table rest_tables[] = {
    {"/v1/t",
     {"/v1/t/1", "/v1/t/2", "/v1/t/77"},
     {"id", "n", "r", "s", "d", "b"},
     "{\"id\": 1, \"s\": \"put\", \"d\": \"0.01\"}",
     {"{\"id\": 5, \"n\": 1, \"r\": 2.5, \"s\": \"x\", \"d\": \"12.34\", \"b\": {\"$base64\": "
      "\"AAE=\"}}",
      "[{\"id\": 6}, {\"n\": null, \"s\": \"\\u00e9\"}, {}]", "{\"n\": 2, \"d\": 7}"}},
    {"/v1/pairs",
     {"/v1/pairs/1,a", "/v1/pairs/1", "/v1/pairs/2,"},
     {"a", "k", "v"},
     "{\"a\": 1, \"k\": \"a\", \"v\": 2}",
     {"{\"a\": 1, \"k\": \"z\", \"v\": 1e308}", "[{\"a\": 4, \"k\": \"q\"}, {\"a\": 4}]",
      "{\"v\": true}"}},
    {"/v1/odd \"name\"",
     {"/v1/odd \"name\"/1", "/v1/odd \"name\"/x", "/v1/odd \"name\"/"},
     {"select", "x,y", "\xc3\x9cn"},
     "{\"select\": 1, \"x,y\": \"p\"}",
     {"{\"select\": 9, \"x,y\": \"q\", \"\\u00dcn\": {\"$base64\": \"\"}}", "{}",
      "{\"x,y\": [1]}"}},
    {"/v1/log",
     {"/v1/log/1", "/v1/nosuch/1", "/v1/_openapi.json"},
     {"msg"},
     "{\"msg\": 1}",
     {"{\"msg\": true}", "[]", "\"just a string\""}},
};

static const char *const rest_columns[] = {
    "nosuch", "", "order", "limit", "ID", "select", "id",
};

static const char *const rest_ops[] = {
    "eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "is", "in", "", "EQ", "fts", "not",
};

static const char *const rest_values[] = {
    "5",
    "-1",
    "abc",
    "*a*",
    "%25",
    "null",
    "true",
    "false",
    "(1,2)",
    "(\"a,b\",\"c\\\"d\")",
    "()",
    "(",
    "\"",
    "1e999",
    "9223372036854775808",
    "",
    "%00",
    "%zz",
    "%",
    "(\"a\"x,b)",
    "(\"unclosed)",
    "(,)",
    "(\\\")",
    "%C3%A9",
    "%FF",
    "12.50",
    "x'00'",
};

static const char *const rest_counts[] = {
    "0",
    "1",
    "10",
    "10000",
    "10001",
    "-1",
    "abc",
    "",
    "999999999999999999",
    "9999999999999999999",
    "1e3",
};

static const char *const rest_prefers[] = {
    "return=representation",
    "return=minimal",
    "return=representation; x=1",
    ",,,",
    "RETURN=REPRESENTATION , tx=commit",
};

static const char *pick(struct tu_rng *r, const char *const *list, size_t n)
{
    return list[below(r, n)];
}
#define PICK(r, list) pick(r, list, sizeof list / sizeof list[0])

/* A column of table t, most often. */
static const char *rest_column(struct tu_rng *r, const struct rest_table *t)
{
    size_t n = 0;
    while (n < 6 && t->columns[n] != NULL) {
        n++;
    }
    return chance(r, 8) ? PICK(r, rest_columns) : t->columns[below(r, n)];
}

/* One query item of PostgREST's grammar (or near it) for table t appended to b. */
static void rest_query_item(struct tu_rng *r, const struct rest_table *t, struct fz_buf *b)
{
    char item[256];
    switch (below(r, 6)) {
    case 0:
    case 1:
        snprintf(item, sizeof item, "%s=%s%s.%s", rest_column(r, t), chance(r, 4) ? "not." : "",
                 PICK(r, rest_ops), PICK(r, rest_values));
        break;
    case 2:
        snprintf(item, sizeof item, "order=%s%s%s,%s", rest_column(r, t),
                 chance(r, 2) ? ".desc" : ".asc", chance(r, 3) ? ".nullslast" : "",
                 rest_column(r, t));
        break;
    case 3:
        snprintf(item, sizeof item, "select=%s,%s", rest_column(r, t),
                 chance(r, 2) ? "*" : rest_column(r, t));
        break;
    case 4:
        snprintf(item, sizeof item, "limit=%s", PICK(r, rest_counts));
        break;
    default:
        snprintf(item, sizeof item, "offset=%s", PICK(r, rest_counts));
        break;
    }
    buf_puts(b, b->len > 0 ? "&" : "");
    buf_puts(b, item);
}

static const int rest_collection_methods[] = {HTTP_GET,  HTTP_GET,  HTTP_GET,
                                              HTTP_POST, HTTP_POST, HTTP_DELETE};
static const int rest_item_methods[] = {HTTP_GET, HTTP_PATCH, HTTP_PUT, HTTP_DELETE};
static const int rest_other_methods[] = {HTTP_HEAD, HTTP_OPTIONS, HTTP_POST, HTTP_PATCH, HTTP_PUT};

/* A request for table t (method, path, query, body) into the buffers; returns the method. */
static int rest_request_make(struct tu_rng *r, const struct rest_table *t, struct fz_buf *path,
                             struct fz_buf *query, struct fz_buf *body)
{
    bool item = chance(r, 2);
    int method = item ? rest_item_methods[below(r, 4)]
                      : rest_collection_methods[below(r, sizeof rest_collection_methods /
                                                             sizeof rest_collection_methods[0])];
    method = chance(r, 16) ? rest_other_methods[below(r, 5)] : method;
    const char *p =
        item ? (method == HTTP_PUT ? t->items[0] : t->items[below(r, 3)]) : t->collection;
    buf_set(path, p, strlen(p));
    query->len = 0;
    bool queried = method == HTTP_GET || method == HTTP_DELETE || chance(r, 8);
    for (size_t k = queried ? below(r, FZ_QUERY_ITEMS_MAX + 1) : 0; k > 0; k--) {
        rest_query_item(r, t, query);
    }
    const char *b = method == HTTP_PUT ? t->put : t->bodies[below(r, 3)];
    buf_set(body, b, strlen(b));
    return method;
}

/* Checks a REST answer (rc as rest_tables_route returned it). */
static void rest_answer_check(const struct rest_request *req, int rc, struct sqljson_answer *a,
                              const char *extra, uint64_t i)
{
    const char *rest = req->path + 4;
    bool routed = strncmp(req->path, "/v1/", 4) == 0 &&
                  (strcmp(rest, "_openapi.json") == 0 || (rest[0] != '_' && rest[0] != '\0'));
    cr_assert_eq(rc, routed ? 0 : 1, "rest %" PRIu64 ": %s", i, req->path);
    if (rc == 1) {
        return;
    }
    cr_assert_not_null(a->body, "rest %" PRIu64 ": an answer (HTTP %d)", i, a->http_status);
    cr_assert_eq(strlen(a->body), a->len, "rest %" PRIu64, i);
    status_kind_check(a->http_status, "rest", i);
    size_t extra_len = strlen(extra);
    cr_assert(extra_len == 0 || strcmp(extra + extra_len - 2, "\r\n") == 0, "rest %" PRIu64, i);
    cr_assert(a->len > 0 || a->http_status == 201 || a->http_status == 204,
              "rest %" PRIu64 ": an empty %d", i, a->http_status);
    if (a->len > 0) {
        json_error_t je;
        json_t *root = json_loads(a->body, JSON_DECODE_ANY, &je);
        cr_assert_not_null(root, "rest %" PRIu64 ": %s: %s", i, je.text, a->body);
        if (a->http_status >= 400) {
            error_body_check(root, a->http_status, "rest", i);
        }
        json_decref(root);
    }
    cr_assert_eq(heliosdb_in_transaction(conn), 0, "rest %" PRIu64 ": no transaction", i);
}

/* Makes one request (path, query and body in their buffers) and checks its answer. */
static void rest_run_one(struct tu_rng *r, int method, const char *path, const char *query,
                         const char *prefer, const struct fz_buf *body, uint64_t i)
{
    struct rest_request req = {.method = method,
                               .path = path,
                               .query = query,
                               .prefer = prefer,
                               .body = body->len > 0 ? body->p : NULL,
                               .body_len = body->len,
                               .cache = chance(r, 2) ? &rest_cache : NULL};
    struct sqljson_answer a = {0};
    char extra[FZ_EXTRA_BYTES];
    int rc = rest_tables_route(conn, &req, &a, extra, sizeof extra);
    rest_answer_check(&req, rc, &a, extra, i);
    sqljson_answer_free(&a);
}

Test(fuzz_db, rest_requests_get_an_answer_or_a_json_error)
{
    static struct fz_buf path, query, body, other;
    struct tu_rng r;
    tu_rng_seed(&r, 0x52455354ull);
    const struct fz_dict pd = DICT(http1_words), jd = DICT(json_words);
    uint64_t n = fz_iterations(ITER_REST);
    for (uint64_t i = 0; i < n; i++) {
        const struct rest_table *t =
            &rest_tables[below(&r, sizeof rest_tables / sizeof rest_tables[0])];
        int method = rest_request_make(&r, t, &path, &query, &body);
        buf_set(&other, t->collection, strlen(t->collection));
        if (chance(&r, 8)) {
            fz_mutate(&r, &path, &pd, &other);
        }
        if (chance(&r, 8)) {
            fz_mutate(&r, &query, &pd, &other);
        }
        const char *o = t->bodies[below(&r, 3)];
        buf_set(&other, o, strlen(o));
        if (chance(&r, 4)) {
            fz_mutate(&r, &body, &jd, &other);
        }
        body.len = chance(&r, 16) ? 0 : body.len;
        const char *prefer = chance(&r, 2) ? PICK(&r, rest_prefers) : NULL;
        const char *q = query.len == 0 && chance(&r, 2) ? NULL : buf_cstr(&query);
        rest_run_one(&r, method, buf_cstr(&path), q, prefer, &body, i);
        if (i % FZ_RESET_EVERY == 0) {
            rows_reset();
        }
    }
}

/* ---- gRPC: messages written by hand in the wire format ---- */

static void pb_varint(struct fz_buf *b, uint64_t v)
{
    do {
        uint8_t byte = (uint8_t)((v & 0x7Fu) | (v > 0x7Fu ? 0x80u : 0u));
        buf_put(b, &byte, 1);
        v >>= 7;
    } while (v != 0);
}

static void pb_uint(struct fz_buf *b, uint32_t field, uint64_t v)
{
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}

static void pb_bytes(struct fz_buf *b, uint32_t field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2u);
    pb_varint(b, n);
    buf_put(b, p, n);
}

static void pb_text(struct fz_buf *b, uint32_t field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

static void pb_double(struct fz_buf *b, uint32_t field, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    uint8_t le[8];
    for (int k = 0; k < 8; k++) {
        le[k] = (uint8_t)(bits >> (8 * k));
    }
    pb_varint(b, (uint64_t)field << 3 | 1u);
    buf_put(b, le, sizeof le);
}

/* A heliosdb.v1.Value of kind `kind` (0: none) as field `field` of b. */
static void pb_value(struct fz_buf *b, uint32_t field, uint32_t kind)
{
    static struct fz_buf v;
    v.len = 0;
    if (kind == 1) {
        pb_uint(&v, 1, (uint64_t)INT64_MIN);
    } else if (kind == 2) {
        pb_double(&v, 2, -2.5);
    } else if (kind == 3) {
        pb_text(&v, 3, "h\xc3\xa9");
    } else if (kind == 4) {
        pb_bytes(&v, 4, "\x00\xff", 2);
    } else if (kind == 5) {
        pb_text(&v, 5, "12.50");
    } else if (kind == 6) {
        pb_uint(&v, 6, 1);
    }
    pb_bytes(b, field, v.p, v.len);
}

/* An ExecuteRequest: sql with `params` params of every kind. */
static void pb_execute(struct fz_buf *b, const char *sql, uint32_t params)
{
    pb_text(b, 1, sql);
    for (uint32_t k = 0; k < params; k++) {
        pb_value(b, 2, k % 7);
    }
}

static void pb_nested_execute(struct fz_buf *b, uint32_t field, const char *sql, uint32_t params)
{
    static struct fz_buf m;
    m.len = 0;
    pb_execute(&m, sql, params);
    pb_bytes(b, field, m.p, m.len);
}

enum grpc_target {
    GT_EXECUTE,
    GT_QUERY,
    GT_BATCH,
    GT_TRANSACTION,
    GT_SNAPSHOT,
    GT_SNAPSHOTS,
    GT_HEALTH,
    GT_WATCH,
    GT_REFLECTION,
    GT_REFLECTION_A,
    GT_TARGETS,
};

static const char *const grpc_paths[GT_TARGETS] = {
    [GT_EXECUTE] = "/heliosdb.v1.Database/Execute",
    [GT_QUERY] = "/heliosdb.v1.Database/Query",
    [GT_BATCH] = "/heliosdb.v1.Database/Batch",
    [GT_TRANSACTION] = "/heliosdb.v1.Database/Transaction",
    [GT_SNAPSHOT] = "/heliosdb.v1.Database/CreateSnapshot",
    [GT_SNAPSHOTS] = "/heliosdb.v1.Database/ListSnapshots",
    [GT_HEALTH] = "/grpc.health.v1.Health/Check",
    [GT_WATCH] = "/grpc.health.v1.Health/Watch",
    [GT_REFLECTION] = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    [GT_REFLECTION_A] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
};

static const char *const grpc_sqls[] = {
    "SELECT ?, ?, ?, ?, ?, ?, ?",
    "INSERT INTO t (id, n, r, s, b, d, z) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "SELECT * FROM t WHERE id > ? ORDER BY id",
    "UPDATE t SET s = ? WHERE id = 1; SELECT s FROM t",
    "SELECT 1",
    "DELETE FROM log WHERE msg = ?",
    "",
    "BEGIN",
};

static const char *const reflection_names[] = {
    "heliosdb.proto",
    "heliosdb_tables.proto",
    "health.proto",
    "nope.proto",
    "heliosdb.v1.Database.Execute",
    "heliosdb.v1.Value",
    "heliosdb.tables.v1.TService",
    "heliosdb.tables.v1.T.id",
    "heliosdb.v1.",
    "heliosdb.v1..Value",
    "grpc.health.v1.HealthCheckResponse.SERVING",
    "",
};

/* A ServerReflectionRequest of a random kind (or none) into b. */
static void pb_reflection(struct tu_rng *r, struct fz_buf *b)
{
    static struct fz_buf ext;
    if (chance(r, 2)) {
        pb_text(b, 1, "host");
    }
    size_t kind = below(r, 6);
    if (kind == 0) {
        pb_text(b, 7, "*");
    } else if (kind <= 3) {
        pb_text(b, kind == 1 ? 3 : kind == 2 ? 4 : 6, PICK(r, reflection_names));
    } else if (kind == 4) {
        ext.len = 0;
        pb_text(&ext, 1, PICK(r, reflection_names));
        pb_uint(&ext, 2, 1000);
        pb_bytes(b, 5, ext.p, ext.len);
    }
}

/* The number of '?' in sql: the params it takes, more or less. */
static uint32_t params_of(const char *sql)
{
    uint32_t n = 0;
    for (const char *p = sql; *p != '\0'; p++) {
        n += *p == '?';
    }
    return n;
}

/* An ExecuteRequest (as field `field` of b when field is not 0). */
static void grpc_execute(struct tu_rng *r, struct fz_buf *b, uint32_t field)
{
    const char *sql = PICK(r, grpc_sqls);
    uint32_t params = chance(r, 2) ? params_of(sql) : (uint32_t)below(r, 8);
    if (field == 0) {
        pb_execute(b, sql, params);
    } else {
        pb_nested_execute(b, field, sql, params);
    }
}

/* One request message for target t into b. */
static void grpc_message(struct tu_rng *r, enum grpc_target t, struct fz_buf *b)
{
    b->len = 0;
    if (t == GT_EXECUTE || t == GT_QUERY) {
        grpc_execute(r, b, 0);
    } else if (t == GT_BATCH) {
        for (size_t k = below(r, 4); k > 0; k--) {
            grpc_execute(r, b, 1);
        }
    } else if (t == GT_TRANSACTION) {
        size_t k = below(r, 4);
        if (k < 2) {
            grpc_execute(r, b, 1);
        } else {
            pb_uint(b, k == 2 ? 2 : 3, 1);
        }
    } else if (t == GT_HEALTH || t == GT_WATCH) {
        pb_text(b, 1, chance(r, 2) ? "" : chance(r, 2) ? "heliosdb.v1.Database" : "nope");
    } else if (t == GT_REFLECTION || t == GT_REFLECTION_A) {
        pb_reflection(r, b);
    } /* the snapshot methods take an empty message */
}

static const struct fz_word pb_words[] = {
    W("\x08"),
    W("\x10\x01"),
    W("\x0a\x00"),
    W("\x12\x00"),
    W("\x12\x05"),
    W("\x1a\x03"
      "abc"),
    W("\x22\x02\xff\xfe"),
    W("\x2a\x01"),
    W("\x0a\xff\xff\xff\xff\x0f"),
    W("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
    W("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
    W("\x80"),
    W("\x0b"),
    W("\x0c"),
    W("\x0f"),
    W("\x0e"),
    W("\x00"),
    W("\xc0\x80"),
    W("\xed\xa0\x80"),
    W("\x11\x00\x00\x00\x00\x00\x00\xf8\x7f"),
    W("\x15\x00\x00\x80\x7f"),
    W("\xf8\xff\xff\xff\x0f\x01"),
    W("\x30\x01"),
    W("\x32\x00"),
    W("\x3a\x01*"),
};

/* Frames message m into body as one gRPC message, its head damaged now and then. */
static void grpc_frame(struct tu_rng *r, const struct fz_buf *m, struct fz_buf *body)
{
    uint32_t len = (uint32_t)m->len;
    uint8_t flag = 0;
    if (chance(r, 16)) {
        flag = chance(r, 2) ? 1 : (uint8_t)tu_rng_next(r);
    }
    if (chance(r, 16)) {
        len = chance(r, 2) ? len + (uint32_t)below(r, 9) - 4u : (uint32_t)tu_rng_next(r);
    }
    uint8_t head[5] = {flag, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                       (uint8_t)len};
    buf_put(body, head, sizeof head);
    buf_put(body, m->p, m->len);
}

/* Checks that o holds whole, uncompressed gRPC messages. */
static void grpc_frames_check(const struct http1_out *o, uint64_t i)
{
    for (size_t at = 0; at < o->len;) {
        cr_assert_geq(o->len - at, 5, "grpc %" PRIu64 ": a whole frame head", i);
        const uint8_t *h = o->data + at;
        cr_assert_eq(h[0], 0, "grpc %" PRIu64 ": answers are not compressed", i);
        size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
        cr_assert_leq(len, o->len - at - 5, "grpc %" PRIu64 ": a whole message", i);
        at += 5 + len;
    }
}

static const char *const grpc_timeouts[] = {
    "1S", "99999999H", "", "5", "1x", "123456789S", "0m", "10M", "-1S", " 1S", "1n",
};

/* One call of path with the request body bytes, fed in random pieces; checks its outcome. */
static void grpc_run_one(struct tu_rng *r, const char *path, const struct fz_buf *body, uint64_t i)
{
    const char *timeout = chance(r, 8) ? PICK(r, grpc_timeouts) : NULL;
    int status = -1;
    char msg[FZ_MSG_BYTES] = "";
    struct grpc_call *c = grpc_call_new(&env, path, timeout, &status, msg, sizeof msg);
    if (c == NULL) {
        cr_assert(status == GRPC_UNIMPLEMENTED || status == GRPC_INVALID_ARGUMENT ||
                      status == GRPC_RESOURCE_EXHAUSTED,
                  "grpc %" PRIu64 ": status %d", i, status);
        cr_assert_neq(msg[0], '\0', "grpc %" PRIu64 ": a message", i);
        return;
    }
    cr_assert_eq(status, GRPC_OK, "grpc %" PRIu64, i);
    struct http1_out out = {0};
    int over = 0;
    for (size_t off = 0; off < body->len && over == 0;) {
        size_t left = body->len - off;
        size_t piece = 1 + below(r, chance(r, 2) ? left : (left < 7 ? left : 7));
        over = grpc_call_data(c, body->p + off, piece, &out, &status, msg, sizeof msg);
        cr_assert(over == 0 || over == 1, "grpc %" PRIu64, i);
        off += piece;
    }
    if (over == 0) {
        grpc_call_end(c, &out, &status, msg, sizeof msg);
    }
    (void)grpc_call_poll(c, &out);
    cr_assert(status >= GRPC_OK && status <= GRPC_UNAUTHENTICATED, "grpc %" PRIu64, i);
    cr_assert(status == GRPC_OK || msg[0] != '\0', "grpc %" PRIu64 ": a message", i);
    grpc_frames_check(&out, i);
    grpc_call_free(c);
    http1_out_free(&out);
    cr_assert_eq(heliosdb_in_transaction(conn), 0, "grpc %" PRIu64 ": no transaction", i);
}

/* The request body of a call of target t: one message (several for the streaming ones, now and
 * then none or two for the unary ones), each mutated now and then. */
static void grpc_body(struct tu_rng *r, enum grpc_target t, struct fz_buf *body)
{
    static struct fz_buf m, other;
    const struct fz_dict d = DICT(pb_words);
    bool streaming = t == GT_TRANSACTION || t == GT_REFLECTION || t == GT_REFLECTION_A;
    size_t messages = streaming ? 1 + below(r, FZ_GRPC_MESSAGES) : 1;
    messages = chance(r, 16) ? below(r, 3) : messages;
    body->len = 0;
    for (size_t k = 0; k < messages; k++) {
        grpc_message(r, t, &m);
        grpc_message(r, t, &other);
        if (chance(r, 2)) {
            fz_mutate(r, &m, &d, &other);
        }
        grpc_frame(r, &m, body);
    }
    if (chance(r, 16)) {
        buf_set(&other, body->p, body->len);
        fz_mutate(r, body, &d, &other);
    }
}

Test(fuzz_db, grpc_calls_get_a_status_and_whole_frames)
{
    static struct fz_buf body, path, other;
    struct tu_rng r;
    tu_rng_seed(&r, 0x47525043ull);
    const struct fz_dict pd = DICT(http1_words);
    uint64_t n = fz_iterations(ITER_GRPC);
    for (uint64_t i = 0; i < n; i++) {
        enum grpc_target t = (enum grpc_target)below(&r, GT_TARGETS);
        if (t == GT_SNAPSHOT && !chance(&r, 16)) {
            t = GT_SNAPSHOTS; /* a snapshot costs a checkpoint: make few */
        }
        buf_set(&path, grpc_paths[t], strlen(grpc_paths[t]));
        if (chance(&r, 16)) {
            const char *o = grpc_paths[below(&r, GT_TARGETS)];
            buf_set(&other, o, strlen(o));
            fz_mutate(&r, &path, &pd, &other);
        }
        grpc_body(&r, t, &body);
        grpc_run_one(&r, buf_cstr(&path), &body, i);
        if (i % FZ_RESET_EVERY == 0) {
            rows_reset();
        }
    }
}

/* ---- gRPC: the generated per-table services ---- */

/* The generated services and the wire type of each field by number ('V' varint, 'D' double,
 * 'S' a string or bytes; field 1 first). */
static const struct {
    const char *service;
    const char *wires;
} tables_services[] = {
    {"TService", "VVDSSS"}, {"PairsService", "VSD"},  {"OddNameService", "VSS"},
    {"LogService", "S"},    {"NosuchService", "VVV"},
};

static const char *const tables_methods[] = {
    "Create", "Get", "List", "Update", "Delete", "Create", "Get", "Update", "Nope", "",
};

static const struct fz_word tables_texts[] = {
    W(""),    W("a"),     W("h\xc3\xa9"), W("12.50"), W("\xff"), W("\xed\xa0\x80"),
    W("b,c"), W("1e999"), W("-5"),        W("a\0b"),
};

static const uint64_t tables_ints[] = {
    0, 1, 2, 3, 5, (uint64_t)-1, (uint64_t)INT64_MAX, (uint64_t)INT64_MIN, 1u << 31, 10000,
};

/* A field of wire type `wire` ('V', 'D' or 'S') with a random value. */
static void pb_field(struct tu_rng *r, struct fz_buf *b, uint32_t field, char wire)
{
    static const double doubles[] = {0.0, -2.5, 1e308, -1e-300};
    if (wire == 'V') {
        pb_uint(b, field, tables_ints[below(r, sizeof tables_ints / sizeof tables_ints[0])]);
    } else if (wire == 'D') {
        pb_double(b, field, doubles[below(r, sizeof doubles / sizeof doubles[0])]);
    } else {
        const struct fz_word *w =
            &tables_texts[below(r, sizeof tables_texts / sizeof tables_texts[0])];
        pb_bytes(b, field, w->s, w->n);
    }
}

/* A row message for a table whose fields have the wire types `wires`: most fields of the right
 * type, now and then one of another type or an unknown field. */
static void pb_row(struct tu_rng *r, struct fz_buf *b, const char *wires)
{
    size_t nfields = strlen(wires);
    for (size_t k = below(r, nfields + 2); k > 0; k--) {
        uint32_t field = 1 + (uint32_t)below(r, nfields + (chance(r, 8) ? 2 : 0));
        char wire = field <= nfields ? wires[field - 1] : 'V';
        pb_field(r, b, field, chance(r, 8) ? "VDS"[below(r, 3)] : wire);
    }
}

/* Writes the standard base64 of p[0..n) after b's bytes. */
static void base64_put(struct fz_buf *b, const uint8_t *p, size_t n)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        v |= i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0;
        v |= i + 2 < n ? p[i + 2] : 0;
        char q[4] = {digits[v >> 18 & 63], digits[v >> 12 & 63],
                     i + 1 < n ? digits[v >> 6 & 63] : '=', i + 2 < n ? digits[v & 63] : '='};
        buf_put(b, q, sizeof q);
    }
}

/* A TListRequest: page_size, and a page_token that is a TKey, an offset or junk. */
static void pb_list_request(struct tu_rng *r, struct fz_buf *b, const char *wires)
{
    static const char *const offsets[] = {"0", "1", "99999999999999999999", "-1", "", "1x", " 2"};
    static struct fz_buf raw, token;
    if (chance(r, 2)) {
        pb_uint(b, 1, tables_ints[below(r, sizeof tables_ints / sizeof tables_ints[0])]);
    }
    if (chance(r, 2)) {
        raw.len = 0;
        token.len = 0;
        if (chance(r, 2)) {
            pb_row(r, &raw, wires);
        } else {
            buf_puts(&raw, PICK(r, offsets));
        }
        base64_put(&token, raw.p, raw.len);
        if (chance(r, 4)) {
            buf_puts(&token, chance(r, 2) ? "=" : "\xff");
        }
        pb_bytes(b, 2, token.p, token.len);
    }
}

Test(fuzz_db, grpc_table_services_get_a_status_and_whole_frames)
{
    static struct fz_buf m, other, body;
    struct tu_rng r;
    tu_rng_seed(&r, 0x5441424c4553ull);
    const struct fz_dict d = DICT(pb_words);
    uint64_t n = fz_iterations(ITER_GRPC_TABLES);
    for (uint64_t i = 0; i < n; i++) {
        char path[128];
        size_t t = below(&r, sizeof tables_services / sizeof tables_services[0]);
        const char *method = PICK(&r, tables_methods), *wires = tables_services[t].wires;
        snprintf(path, sizeof path, "/heliosdb.tables.v1.%s/%s", tables_services[t].service,
                 method);
        m.len = other.len = 0;
        if (strcmp(method, "List") == 0) {
            pb_list_request(&r, &m, wires);
        } else {
            pb_row(&r, &m, wires);
        }
        pb_row(&r, &other, wires);
        if (chance(&r, 4)) {
            fz_mutate(&r, &m, &d, &other);
        }
        body.len = 0;
        grpc_frame(&r, &m, &body);
        grpc_run_one(&r, path, &body, i);
        if (i % FZ_RESET_EVERY == 0) {
            rows_reset();
        }
    }
}

/* ---- schema changes between REST and gRPC table calls ---- */

static const struct fz_word churn_names[] = {
    W("a"),         W("A"),         W("a_b"),      W("ab"),  W("_x"),   W("1x"),
    W("x/y"),       W("t\xc3\xa9"), W("\xff\xfe"), W(""),    W(" "),    W("\"q\""),
    W("select"),    W("Service"),   W("XService"), W("X"),   W("XKey"), W("x-list"),
    W("page_size"), W("ID"),        W("i_d"),      W("_id"), W("x,y"),  W("id"),
    W("tab\nnl"),   W("%41"),       W("?"),        W("T"),   W("t"),    W("log"),
};

static const char *const churn_types[] = {
    "INTEGER", "REAL", "TEXT", "BLOB", "DECIMAL(12,2)", "NUMERIC", "", "VARCHAR(10)", "INT",
};

/* A name from the dictionary (now and then 128 bytes long) as a quoted identifier into b. */
static void churn_ident(struct tu_rng *r, struct fz_buf *b, char *raw, size_t raw_cap)
{
    const struct fz_word *w = &churn_names[below(r, sizeof churn_names / sizeof churn_names[0])];
    size_t n = w->n < raw_cap - 1 ? w->n : raw_cap - 1;
    memcpy(raw, w->s, n);
    if (chance(r, 16)) {
        n = raw_cap - 1 < 128 ? raw_cap - 1 : 128;
        memset(raw, chance(r, 2) ? 'L' : '_', n);
    }
    raw[n] = '\0';
    buf_puts(b, "\"");
    for (size_t k = 0; k < n; k++) {
        buf_put(b, raw[k] == '"' ? "\"\"" : &raw[k], raw[k] == '"' ? 2 : 1);
    }
    buf_puts(b, "\"");
}

/* CREATE TABLE, DROP TABLE or ALTER TABLE ADD COLUMN of random names; errors are fine. */
static void churn_ddl(struct tu_rng *r, char *table, size_t table_cap)
{
    static struct fz_buf sql;
    char col[200];
    sql.len = 0;
    size_t op = below(r, 4);
    buf_puts(&sql, op == 3 ? "DROP TABLE " : op == 2 ? "ALTER TABLE " : "CREATE TABLE ");
    churn_ident(r, &sql, table, table_cap);
    if (op == 2) {
        buf_puts(&sql, " ADD COLUMN ");
        churn_ident(r, &sql, col, sizeof col);
        buf_puts(&sql, " ");
        buf_puts(&sql, PICK(r, churn_types));
    } else if (op < 2) {
        size_t ncols = 1 + below(r, 4);
        buf_puts(&sql, " (");
        for (size_t k = 0; k < ncols; k++) {
            buf_puts(&sql, k > 0 ? ", " : "");
            churn_ident(r, &sql, col, sizeof col);
            buf_puts(&sql, " ");
            buf_puts(&sql, PICK(r, churn_types));
            buf_puts(&sql, k == 0 && chance(r, 2) ? " PRIMARY KEY" : "");
        }
        buf_puts(&sql, ncols > 1 && chance(r, 4) ? ", PRIMARY KEY (\"a\", \"b\"))" : ")");
    }
    heliosdb_error err;
    (void)heliosdb_exec(conn, buf_cstr(&sql), &err);
    cr_assert_eq(heliosdb_in_transaction(conn), 0);
}

/* A call of a random generated method (or a reflection request about the generated file). */
static void churn_grpc(struct tu_rng *r, uint64_t i)
{
    static struct fz_buf m, body;
    const struct grpc_tables *g = NULL;
    heliosdb_error err;
    cr_assert_eq(grpc_tables_get(conn, &tables_cache, &g, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_not_null(grpc_tables_proto(g));
    uint32_t n = grpc_tables_services(g);
    char path[512];
    m.len = 0;
    if (n == 0 || chance(r, 4)) {
        snprintf(path, sizeof path, "%s", grpc_paths[GT_REFLECTION]);
        pb_reflection(r, &m);
    } else {
        const char *method = PICK(r, tables_methods);
        snprintf(path, sizeof path, "/%s/%s", grpc_tables_service(g, (uint32_t)below(r, n)),
                 method);
        if (strcmp(method, "List") == 0) {
            pb_list_request(r, &m, "VSDVS");
        } else {
            pb_row(r, &m, "VSDVS");
        }
    }
    body.len = 0;
    grpc_frame(r, &m, &body);
    grpc_run_one(r, path, &body, i);
}

/* A REST request on a random name (or the OpenAPI document). */
static void churn_rest(struct tu_rng *r, const char *table, uint64_t i)
{
    static struct fz_buf body;
    static const char *const bodies[] = {"{}", "[{}, {}]", "{\"a\": 1}", "{\"id\": \"x\"}"};
    char path[300];
    bool item = chance(r, 3);
    snprintf(path, sizeof path,
             chance(r, 8) ? "/v1/_openapi.json"
             : item       ? "/v1/%s/1"
                          : "/v1/%s",
             table);
    const char *b = PICK(r, bodies);
    buf_set(&body, b, strlen(b));
    int method = item ? rest_item_methods[below(r, 4)] : rest_collection_methods[below(r, 6)];
    rest_run_one(r, method, path, chance(r, 2) ? "order=a.desc&limit=3" : NULL, NULL, &body, i);
}

Test(fuzz_db, schema_changes_between_rest_and_grpc_table_calls)
{
    struct tu_rng r;
    tu_rng_seed(&r, 0x534348454d41ull);
    char table[200] = "t";
    uint64_t n = fz_iterations(ITER_CHURN);
    for (uint64_t i = 0; i < n; i++) {
        size_t op = below(&r, 3);
        if (op == 0) {
            churn_ddl(&r, table, sizeof table);
        } else if (op == 1) {
            churn_grpc(&r, i);
        } else {
            churn_rest(&r, table, i);
        }
    }
}

/* ---- HTTP/2 ---- */

/* What the application saw of one accepted stream. */
struct h2_record {
    int32_t id;
    int opens, ends, closes;
    bool answered;
};

struct h2_app {
    struct tu_rng rng;
    struct h2_record rec[FZ_H2_RECORDS_MAX];
    size_t n;
    uint64_t i;
};

static struct h2_record *h2_record_of(struct h2_app *app, int32_t id)
{
    for (size_t k = 0; k < app->n; k++) {
        if (app->rec[k].id == id) {
            return &app->rec[k];
        }
    }
    return NULL;
}

/* Answers the stream as a gRPC call would: headers, one message, trailers. */
static void h2_app_answer(struct h2_app *app, struct h2_conn *c, int32_t id)
{
    static const struct h2_header h[] = {{":status", "200"}, {"content-type", "application/grpc"}};
    static const struct h2_header t[] = {{"grpc-status", "0"}, {"grpc-message", ""}};
    struct h2_record *rec = h2_record_of(app, id);
    if (rec->answered) {
        return;
    }
    rec->answered = true;
    int rc = h2_send_headers(c, id, h, 2, false);
    rc = rc == 0 ? h2_send_data(c, id, "\0\0\0\0\0", 5, false) : rc;
    rc = rc == 0 ? h2_send_trailers(c, id, t, 2) : rc;
    cr_assert(rc == 0 || rc == -1, "http2 %" PRIu64, app->i);
}

static int h2_app_open(void *ctx, struct h2_conn *c, int32_t id, const struct h2_header *h,
                       size_t n)
{
    struct h2_app *app = ctx;
    for (size_t k = 0; k < n; k++) {
        cr_assert(h[k].name != NULL && h[k].value != NULL, "http2 %" PRIu64, app->i);
    }
    if (chance(&app->rng, 8)) {
        return chance(&app->rng, 2) ? 400 : 1000; /* refused; 1000 is answered 500 */
    }
    cr_assert_null(h2_record_of(app, id), "http2 %" PRIu64 ": stream %d opened twice", app->i, id);
    cr_assert_lt(app->n, FZ_H2_RECORDS_MAX);
    app->rec[app->n++] = (struct h2_record){.id = id, .opens = 1};
    if (chance(&app->rng, 8)) {
        h2_app_answer(app, c, id);
    }
    return 0;
}

static int h2_app_data(void *ctx, struct h2_conn *c, int32_t id, const uint8_t *data, size_t len)
{
    (void)c;
    (void)data;
    struct h2_app *app = ctx;
    struct h2_record *rec = h2_record_of(app, id);
    cr_assert(rec != NULL && rec->closes == 0 && rec->ends == 0, "http2 %" PRIu64, app->i);
    cr_assert_gt(len, 0);
    return chance(&app->rng, 32) ? 1 : 0;
}

static void h2_app_end(void *ctx, struct h2_conn *c, int32_t id)
{
    struct h2_app *app = ctx;
    struct h2_record *rec = h2_record_of(app, id);
    cr_assert(rec != NULL && rec->closes == 0 && rec->ends == 0, "http2 %" PRIu64, app->i);
    rec->ends++;
    if (!chance(&app->rng, 8)) {
        h2_app_answer(app, c, id);
    }
}

static void h2_app_close(void *ctx, struct h2_conn *c, int32_t id, uint32_t error_code)
{
    (void)c;
    (void)error_code;
    struct h2_app *app = ctx;
    struct h2_record *rec = h2_record_of(app, id);
    cr_assert(rec != NULL && rec->closes == 0, "http2 %" PRIu64 ": stream %d closed twice", app->i,
              id);
    rec->closes++;
}

static const struct h2_callbacks h2_app_callbacks = {
    .on_stream_open = h2_app_open,
    .on_stream_data = h2_app_data,
    .on_stream_end = h2_app_end,
    .on_stream_close = h2_app_close,
};

static void h2_frame_head(struct fz_buf *b, size_t len, uint8_t type, uint8_t flags, uint32_t id)
{
    uint8_t head[9] = {
        (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len,       type,       flags,
        (uint8_t)(id >> 24),  (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    buf_put(b, head, sizeof head);
}

static const char *const h2_fields[][2] = {
    {":method", "POST"},
    {":method", "GET"},
    {":method", ""},
    {":path", "/heliosdb.v1.Database/Execute"},
    {":path", "/v1/t?id=eq.1"},
    {":path", ""},
    {":path", "*"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":authority", "x"},
    {":status", "200"},
    {":protocol", "websocket"},
    {"content-type", "application/grpc"},
    {"te", "trailers"},
    {"te", "gzip"},
    {"content-length", "5"},
    {"content-length", "-1"},
    {"content-length", "abc"},
    {"connection", "close"},
    {"Upper", "x"},
    {"grpc-timeout", "1S"},
    {"host", "x"},
    {"cookie", "a=b"},
    {"", ""},
    {"x-bad", "a\r\nb"},
};

/* A header block (HPACK from d) of a request, most often a well-formed one. */
static void h2_block(struct tu_rng *r, nghttp2_hd_deflater *d, struct fz_buf *b)
{
    static char long_value[8192];
    nghttp2_nv nv[12];
    size_t n = 0;
    if (!chance(r, 4)) {
        for (size_t k = 0; k < 4; k++) {
            size_t f = k == 0 ? 0 : k == 1 ? 7 : k == 2 ? 3 + below(r, 2) : 9;
            nv[n++] = (nghttp2_nv){(uint8_t *)h2_fields[f][0], (uint8_t *)h2_fields[f][1],
                                   strlen(h2_fields[f][0]), strlen(h2_fields[f][1]), 0};
        }
    }
    for (size_t k = below(r, 5); k > 0; k--) {
        size_t f = below(r, sizeof h2_fields / sizeof h2_fields[0]);
        nv[n++] = (nghttp2_nv){(uint8_t *)h2_fields[f][0], (uint8_t *)h2_fields[f][1],
                               strlen(h2_fields[f][0]), strlen(h2_fields[f][1]), 0};
    }
    if (chance(r, 16)) {
        memset(long_value, 'v', sizeof long_value);
        nv[n++] = (nghttp2_nv){(uint8_t *)"x-long", (uint8_t *)long_value, 6,
                               below(r, sizeof long_value), 0};
    }
    uint8_t block[16384];
    ssize_t len = nghttp2_hd_deflate_hd(d, block, sizeof block, nv, n);
    cr_assert_geq(len, 0, "hpack: %s", nghttp2_strerror((int)len));
    buf_put(b, block, (size_t)len);
}

/* A HEADERS frame (sometimes with priority, padding, or cut into CONTINUATIONs). */
static void h2_headers(struct tu_rng *r, nghttp2_hd_deflater *d, struct fz_buf *b, uint32_t id)
{
    static struct fz_buf block;
    block.len = 0;
    h2_block(r, d, &block);
    uint8_t flags = chance(r, 2) ? 0x1 : 0; /* END_STREAM */
    size_t cut = chance(r, 4) ? below(r, block.len + 1) : block.len;
    size_t extra = 0;
    if (chance(r, 8)) {
        flags |= 0x20, extra += 5; /* PRIORITY */
    }
    if (chance(r, 8)) {
        flags |= 0x8, extra += 1; /* PADDED, pad length 0 */
    }
    h2_frame_head(b, cut + extra, 1, (uint8_t)(flags | (cut == block.len ? 0x4 : 0)), id);
    static const uint8_t zeros[6] = {0};
    buf_put(b, zeros, extra);
    buf_put(b, block.p, cut);
    if (cut < block.len && !chance(r, 8)) {
        h2_frame_head(b, block.len - cut, 9, 0x4, id); /* CONTINUATION with END_HEADERS */
        buf_put(b, block.p + cut, block.len - cut);
    }
}

/* A frame of another type with a random (often well-formed) payload. */
static void h2_other(struct tu_rng *r, struct fz_buf *b, uint32_t id)
{
    static const uint8_t sizes[] = {0, 8, 5, 4, 6, 4, 8, 8, 4, 3, 7};
    uint8_t payload[64];
    uint8_t type = (uint8_t)(below(r, 10) == 0 ? 9 + below(r, 4) : below(r, 9));
    type = type == 1 ? 0 : type; /* HEADERS are h2_headers' */
    size_t len = type < sizeof sizes ? sizes[type] : below(r, 16);
    if (type == 0 || type == 4) {
        len = type == 0 ? below(r, sizeof payload) : 6 * below(r, 4);
    }
    len = chance(r, 16) ? below(r, sizeof payload) : len;
    tu_rng_bytes(r, payload, (uint32_t)len);
    uint8_t flags = (uint8_t)(chance(r, 4) ? tu_rng_next(r) : chance(r, 2) ? 0x1 : 0);
    if (type == 4 && (flags & 1)) {
        len = chance(r, 4) ? len : 0; /* SETTINGS ACK */
    }
    if (type == 8 && chance(r, 2)) {
        memcpy(payload, chance(r, 2) ? "\x7f\xff\xff\xff" : "\x00\x00\x00\x00", 4);
    }
    id = type == 4 || type == 6 || type == 7 ? (chance(r, 8) ? id : 0) : id;
    h2_frame_head(b, len, type, flags, id);
    buf_put(b, payload, len);
}

/* A client's bytes: the preface, SETTINGS, then random frames on a few streams. */
static void h2_client_bytes(struct tu_rng *r, nghttp2_hd_deflater *d, struct fz_buf *b)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    b->len = 0;
    buf_put(b, preface, sizeof preface - 1);
    h2_frame_head(b, 0, 4, 0, 0);
    uint32_t next = 1;
    for (size_t k = 1 + below(r, FZ_H2_FRAMES_MAX); k > 0; k--) {
        uint32_t id = chance(r, 3) ? next : next > 2 ? next - 2 : 1;
        id = chance(r, 16) ? (uint32_t)tu_rng_next(r) & (chance(r, 2) ? 0x7fffffffu : 0xfu) : id;
        if (chance(r, 3)) {
            h2_headers(r, d, b, id);
            next += id == next ? 2 : 0;
        } else {
            h2_other(r, b, id);
        }
    }
}

/* Feeds the client's bytes in random pieces, taking the output as it comes. */
static void h2_feed_all(struct tu_rng *r, struct h2_conn *c, const struct fz_buf *b, uint64_t i)
{
    struct http1_out out = {0};
    size_t feeds = 0;
    for (size_t off = 0; off < b->len && feeds < FZ_H2_FEEDS_MAX; feeds++) {
        size_t left = b->len - off;
        size_t piece = 1 + below(r, chance(r, 2) ? left : (left < 16 ? left : 16));
        char msg[FZ_MSG_BYTES] = "";
        int rc = h2_feed(c, b->p + off, piece, msg, sizeof msg);
        off += piece;
        cr_assert(rc == 0 || rc == -1, "http2 %" PRIu64, i);
        cr_assert_eq(h2_output(c, &out) == 0 || rc == -1, true, "http2 %" PRIu64, i);
        out.len = 0;
        if (rc == -1) {
            cr_assert_neq(msg[0], '\0', "http2 %" PRIu64 ": a reason", i);
            cr_assert_eq(h2_feed(c, b->p, 1, NULL, 0), -1, "the failure sticks");
            break;
        }
    }
    if (chance(r, 4)) {
        h2_shutdown(c);
        (void)h2_output(c, &out);
    }
    (void)h2_done(c);
    (void)h2_streams_open(c);
    http1_out_free(&out);
}

/* Starts c by the HTTP/1.1 upgrade with a (maybe damaged) HTTP2-Settings value. Returns 0 or
 * -1 when the value was refused. */
static int h2_upgrade_try(struct tu_rng *r, struct h2_conn *c, uint64_t i)
{
    static struct fz_buf settings, other;
    static const struct fz_word words[] = {W("="), W("+"), W("/"), W("_"), W("-"), W("A")};
    const struct fz_dict d = DICT(words);
    buf_set(&settings, "AAMAAABkAAQAAP__", 16);
    buf_set(&other, "AAIAAAAA", 8);
    if (chance(r, 2)) {
        fz_mutate(r, &settings, &d, &other);
    }
    struct http_request req = {.method = HTTP_POST,
                               .target = "/v1/_sql?x=1",
                               .path = "/v1/_sql",
                               .query = "x=1",
                               .content_type = "application/json",
                               .body = (uint8_t *)"{}",
                               .body_len = 2,
                               .keep_alive = true,
                               .http_major = 1,
                               .http_minor = 1};
    char msg[FZ_MSG_BYTES] = "";
    int rc = h2_conn_upgrade(c, buf_cstr(&settings), &req, msg, sizeof msg);
    cr_assert(rc == 0 || (rc == -1 && msg[0] != '\0'), "http2 %" PRIu64 ": upgrade", i);
    return rc;
}

Test(fuzz, http2_frames_end_the_connection_or_streams_cleanly, .timeout = 600)
{
    static struct fz_buf b, other;
    static struct h2_app app;
    tu_rng_seed(&app.rng, 0x48545450320aull);
    nghttp2_hd_deflater *d = NULL;
    cr_assert_eq(nghttp2_hd_deflate_new(&d, 4096), 0);
    const struct fz_dict dict = DICT(http1_words);
    uint64_t n = fz_iterations(ITER_HTTP2);
    for (uint64_t i = 0; i < n; i++) {
        struct tu_rng *r = &app.rng;
        app.n = 0;
        app.i = i;
        struct h2_limits lim = {.max_concurrent_streams = 8,
                                .header_bytes_max = chance(r, 2) ? 0 : 4096,
                                .body_bytes_max = chance(r, 2) ? 64 : 1u << 20,
                                .resets_per_second_max = 0};
        struct h2_conn *c = h2_conn_new(&lim, &h2_app_callbacks, &app);
        cr_assert_not_null(c);
        nghttp2_hd_deflate_del(d);
        cr_assert_eq(nghttp2_hd_deflate_new(&d, 4096), 0); /* a new connection's table */
        h2_client_bytes(r, d, &b);
        if (chance(r, 4)) {
            buf_set(&other, b.p, b.len);
            fz_mutate(r, &b, &dict, &other);
        }
        if (!chance(r, 8) || h2_upgrade_try(r, c, i) == 0) {
            h2_feed_all(r, c, &b, i);
        }
        h2_conn_free(c);
        for (size_t k = 0; k < app.n; k++) {
            cr_assert_eq(app.rec[k].closes, 1, "http2 %" PRIu64 ": stream %d closed %d times", i,
                         app.rec[k].id, app.rec[k].closes);
        }
    }
    nghttp2_hd_deflate_del(d);
}
