/*
 * test_http2.c — the HTTP/2 server connection (rpc/http2.c) driven by an nghttp2 client session
 * in memory: the client's bytes are fed to h2_feed and h2_output's bytes to the client until
 * both are quiet. A small application (struct app) records what the callbacks saw and answers
 * in one of a few ways; the client records what came back. Covered: requests and answers
 * (headers, bodies in pieces, trailers, streams answered out of order, a 1 MiB answer under flow
 * control), every limit (concurrent streams, header block, body, reset flood), a bad preface,
 * the HTTP/1.1 upgrade to stream 1, a graceful shutdown and freeing with streams open. Every
 * test ends in fixture_finish, which checks that each accepted stream was closed exactly once.
 */
#include <criterion/criterion.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/http2.h"

#define MSG_BYTES             256u
#define BODY_BYTES_MAX        (64u * 1024u)
#define APP_STREAMS_MAX       64u
#define APP_FIELDS_MAX        16u
#define APP_FIELD_BYTES       128u
#define APP_BODY_BYTES_MAX    (16u * 1024u)
#define CLIENT_STREAMS_MAX    64u
#define CLIENT_BODY_BYTES_MAX (2u * 1024u * 1024u)
#define PUMP_ROUNDS_MAX       10000u
#define LARGE_ANSWER_BYTES    (1024u * 1024u)
#define SETTINGS_BYTES_MAX    64u
#define BASE64_BYTES_MAX      128u

/* How the application answers a request. */
enum answer {
    ANSWER_NONE,    /* the test answers */
    ANSWER_AT_END,  /* on_stream_end: 200, "hello <path>" */
    ANSWER_GRPC,    /* on_stream_end: 200, one empty gRPC message, trailers grpc-status 0 */
    ANSWER_LARGE,   /* on_stream_end: 200 and LARGE_ANSWER_BYTES of pattern */
    ANSWER_ON_OPEN, /* on_stream_open: 200 "early" before the request ends */
};

/* What the application saw of one stream. */
struct app_stream {
    int32_t id;
    bool accepted;
    size_t field_count, field_bytes;
    char names[APP_FIELDS_MAX][APP_FIELD_BYTES];
    char values[APP_FIELDS_MAX][APP_FIELD_BYTES];
    char body[APP_BODY_BYTES_MAX];
    size_t body_len, pieces;
    int ends, closes;
    uint32_t close_code;
};

struct app {
    enum answer answer;
    int open_status;       /* what on_stream_open returns */
    int data_rc;           /* what on_stream_data returns */
    int32_t close_answers; /* on_stream_close ends this stream's answer with "later" */
    struct app_stream streams[APP_STREAMS_MAX];
    size_t count;
};

/* What the client saw of one stream. */
struct client_stream {
    int32_t id;
    int status;
    uint8_t *body;
    size_t body_len;
    bool trailers_seen, closed;
    char grpc_status[16];
    int64_t rst_code; /* -1: no RST_STREAM received */
    uint32_t close_code;
};

/* A request body the client sends in pieces of `piece` bytes (held back while `hold`). */
struct body_source {
    const uint8_t *data;
    size_t len, off, piece;
    bool hold;
};

struct client {
    nghttp2_session *session;
    struct client_stream streams[CLIENT_STREAMS_MAX];
    size_t count;
    int32_t close_order[CLIENT_STREAMS_MAX];
    size_t closes;
    bool goaway;
    uint32_t goaway_code;
    int32_t goaway_last_id;
};

struct fixture {
    struct app *app;
    struct client *cl;
    struct h2_conn *conn;
    int feed_rc;
    char feed_msg[MSG_BYTES];
};

static uint8_t pattern_byte(size_t i)
{
    return (uint8_t)(i * 131u + (i >> 9));
}

/* --- the application (server callbacks) --- */

static struct app_stream *app_stream(struct app *app, int32_t id)
{
    for (size_t i = 0; i < app->count; i++) {
        if (app->streams[i].id == id) {
            return &app->streams[i];
        }
    }
    cr_assert_fail("no application stream %d", id);
    return NULL;
}

static const char *app_field(const struct app_stream *st, const char *name)
{
    for (size_t i = 0; i < st->field_count; i++) {
        if (strcmp(st->names[i], name) == 0) {
            return st->values[i];
        }
    }
    return NULL;
}

static void app_answer_text(struct h2_conn *c, int32_t id, const char *text)
{
    const struct h2_header h[] = {{":status", "200"}, {"content-type", "text/plain"}};
    cr_assert_eq(h2_send_headers(c, id, h, 2, false), 0);
    cr_assert_eq(h2_send_data(c, id, text, strlen(text), true), 0);
}

static void app_answer_grpc(struct h2_conn *c, int32_t id)
{
    const struct h2_header h[] = {{":status", "200"}, {"content-type", "application/grpc"}};
    const struct h2_header t[] = {{"grpc-status", "0"}, {"grpc-message", "ok"}};
    const uint8_t empty_message[5] = {0};
    cr_assert_eq(h2_send_headers(c, id, h, 2, false), 0);
    cr_assert_eq(h2_send_data(c, id, empty_message, sizeof empty_message, false), 0);
    cr_assert_eq(h2_send_trailers(c, id, t, 2), 0);
}

static void app_answer_large(struct h2_conn *c, int32_t id)
{
    uint8_t *body = malloc(LARGE_ANSWER_BYTES);
    cr_assert_not_null(body);
    for (size_t i = 0; i < LARGE_ANSWER_BYTES; i++) {
        body[i] = pattern_byte(i);
    }
    const struct h2_header h[] = {{":status", "200"}};
    cr_assert_eq(h2_send_headers(c, id, h, 1, false), 0);
    cr_assert_eq(h2_send_data(c, id, body, LARGE_ANSWER_BYTES / 2, false), 0);
    cr_assert_eq(h2_send_data(c, id, body + LARGE_ANSWER_BYTES / 2, LARGE_ANSWER_BYTES / 2, true),
                 0);
    free(body);
}

static int app_on_stream_open(void *ctx, struct h2_conn *c, int32_t id, const struct h2_header *h,
                              size_t n)
{
    struct app *app = ctx;
    cr_assert_lt(app->count, APP_STREAMS_MAX);
    struct app_stream *st = &app->streams[app->count++];
    st->id = id;
    st->accepted = app->open_status == 0;
    for (size_t i = 0; i < n; i++) {
        st->field_bytes += strlen(h[i].name) + strlen(h[i].value);
    }
    for (size_t i = 0; i < n && i < APP_FIELDS_MAX; i++) {
        snprintf(st->names[i], APP_FIELD_BYTES, "%s", h[i].name);
        snprintf(st->values[i], APP_FIELD_BYTES, "%s", h[i].value);
        st->field_count++;
    }
    if (app->answer == ANSWER_ON_OPEN && st->accepted) {
        app_answer_text(c, id, "early");
    }
    return app->open_status;
}

static int app_on_stream_data(void *ctx, struct h2_conn *c, int32_t id, const uint8_t *data,
                              size_t len)
{
    (void)c;
    struct app *app = ctx;
    struct app_stream *st = app_stream(app, id);
    cr_assert(st->accepted);
    cr_assert_leq(len, sizeof st->body - st->body_len);
    memcpy(st->body + st->body_len, data, len);
    st->body_len += len;
    st->pieces++;
    return app->data_rc;
}

static void app_on_stream_end(void *ctx, struct h2_conn *c, int32_t id)
{
    struct app *app = ctx;
    struct app_stream *st = app_stream(app, id);
    cr_assert(st->accepted);
    st->ends++;
    char text[APP_FIELD_BYTES + 8];
    switch (app->answer) {
    case ANSWER_AT_END:
        snprintf(text, sizeof text, "hello %s", app_field(st, ":path"));
        app_answer_text(c, id, text);
        break;
    case ANSWER_GRPC:
        app_answer_grpc(c, id);
        break;
    case ANSWER_LARGE:
        app_answer_large(c, id);
        break;
    default:
        break;
    }
}

static void app_on_stream_close(void *ctx, struct h2_conn *c, int32_t id, uint32_t error_code)
{
    struct app *app = ctx;
    struct app_stream *st = app_stream(app, id);
    cr_assert(st->accepted, "on_stream_close for stream %d, which was not accepted", id);
    st->closes++;
    st->close_code = error_code;
    if (app->close_answers != 0 && app->close_answers != id) {
        cr_assert_eq(h2_send_data(c, app->close_answers, "later", 5, true), 0);
        app->close_answers = 0;
    }
}

static const struct h2_callbacks app_callbacks = {
    .on_stream_open = app_on_stream_open,
    .on_stream_data = app_on_stream_data,
    .on_stream_end = app_on_stream_end,
    .on_stream_close = app_on_stream_close,
};

/* --- the client --- */

static struct client_stream *client_stream(struct client *cl, int32_t id)
{
    for (size_t i = 0; i < cl->count; i++) {
        if (cl->streams[i].id == id) {
            return &cl->streams[i];
        }
    }
    cr_assert_lt(cl->count, CLIENT_STREAMS_MAX);
    struct client_stream *cs = &cl->streams[cl->count++];
    cs->id = id;
    cs->rst_code = -1;
    return cs;
}

static int client_on_header(nghttp2_session *session, const nghttp2_frame *frame,
                            const uint8_t *name, size_t name_len, const uint8_t *value,
                            size_t value_len, uint8_t flags, void *user_data)
{
    (void)session;
    (void)flags;
    (void)name_len;
    struct client_stream *cs = client_stream(user_data, frame->hd.stream_id);
    if (strcmp((const char *)name, ":status") == 0) {
        cs->status = atoi((const char *)value);
    }
    if (frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
        cs->trailers_seen = true;
    }
    if (strcmp((const char *)name, "grpc-status") == 0) {
        snprintf(cs->grpc_status, sizeof cs->grpc_status, "%.*s", (int)value_len, value);
    }
    return 0;
}

static int client_on_data(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                          const uint8_t *data, size_t len, void *user_data)
{
    (void)session;
    (void)flags;
    struct client_stream *cs = client_stream(user_data, stream_id);
    cr_assert_leq(len, CLIENT_BODY_BYTES_MAX - cs->body_len);
    uint8_t *body = realloc(cs->body, cs->body_len + len);
    cr_assert_not_null(body);
    memcpy(body + cs->body_len, data, len);
    cs->body = body;
    cs->body_len += len;
    return 0;
}

static int client_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                                void *user_data)
{
    (void)session;
    struct client *cl = user_data;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        client_stream(cl, frame->hd.stream_id)->rst_code = frame->rst_stream.error_code;
    } else if (frame->hd.type == NGHTTP2_GOAWAY) {
        cl->goaway = true;
        cl->goaway_code = frame->goaway.error_code;
        cl->goaway_last_id = frame->goaway.last_stream_id;
    }
    return 0;
}

static int client_on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                                  void *user_data)
{
    (void)session;
    struct client *cl = user_data;
    struct client_stream *cs = client_stream(cl, stream_id);
    cr_assert(!cs->closed);
    cs->closed = true;
    cs->close_code = error_code;
    cl->close_order[cl->closes++] = stream_id;
    return 0;
}

static ssize_t client_body_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                                void *user_data)
{
    (void)session;
    (void)stream_id;
    (void)user_data;
    struct body_source *b = source->ptr;
    if (b->hold) {
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = b->len - b->off;
    n = n < length ? n : length;
    n = n < b->piece ? n : b->piece;
    memcpy(buf, b->data + b->off, n);
    b->off += n;
    if (b->off == b->len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

static struct client *client_new(bool send_settings)
{
    struct client *cl = calloc(1, sizeof *cl);
    cr_assert_not_null(cl);
    nghttp2_session_callbacks *cbs;
    cr_assert_eq(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_on_header_callback(cbs, client_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, client_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, client_on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, client_on_stream_close);
    cr_assert_eq(nghttp2_session_client_new(&cl->session, cbs, cl), 0);
    nghttp2_session_callbacks_del(cbs);
    if (send_settings) {
        cr_assert_eq(nghttp2_submit_settings(cl->session, NGHTTP2_FLAG_NONE, NULL, 0), 0);
    }
    return cl;
}

static void client_free(struct client *cl)
{
    nghttp2_session_del(cl->session);
    for (size_t i = 0; i < cl->count; i++) {
        free(cl->streams[i].body);
    }
    free(cl);
}

#define NV(name, value)                                                                            \
    {                                                                                              \
        (uint8_t *)(name), (uint8_t *)(value), sizeof(name) - 1, sizeof(value) - 1,                \
            NGHTTP2_NV_FLAG_NONE                                                                   \
    }

/* Submits a request (pseudo-headers, then `extra`); a body comes from `body` if not NULL. */
static int32_t client_request(struct client *cl, const char *method, const char *path,
                              const nghttp2_nv *extra, size_t extra_count, struct body_source *body)
{
    nghttp2_nv nv[8] = {
        {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), NGHTTP2_NV_FLAG_NONE},
        NV(":scheme", "http"),
        NV(":authority", "localhost"),
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE},
    };
    cr_assert_leq(extra_count, 4u);
    for (size_t i = 0; i < extra_count; i++) {
        nv[4 + i] = extra[i];
    }
    nghttp2_data_provider provider = {.source = {.ptr = body}, .read_callback = client_body_read};
    int32_t id = nghttp2_submit_request(cl->session, NULL, nv, 4 + extra_count,
                                        body != NULL ? &provider : NULL, NULL);
    cr_assert_gt(id, 0, "submit_request: %s", nghttp2_strerror(id));
    client_stream(cl, id);
    return id;
}

/* --- moving bytes --- */

static void fixture_init(struct fixture *f, const struct h2_limits *lim, enum answer answer)
{
    *f = (struct fixture){0};
    f->app = calloc(1, sizeof *f->app);
    cr_assert_not_null(f->app);
    f->app->answer = answer;
    f->conn = h2_conn_new(lim, &app_callbacks, f->app);
    cr_assert_not_null(f->conn);
    f->cl = client_new(true);
}

static struct h2_limits limits_default(void)
{
    return (struct h2_limits){.body_bytes_max = BODY_BYTES_MAX};
}

/* Moves the client's pending bytes to the server; returns how many. */
static size_t client_to_server(struct fixture *f)
{
    size_t moved = 0;
    for (unsigned i = 0; i < PUMP_ROUNDS_MAX; i++) {
        const uint8_t *bytes;
        ssize_t n = nghttp2_session_mem_send(f->cl->session, &bytes);
        cr_assert_geq(n, 0, "client mem_send: %s", nghttp2_strerror((int)n));
        if (n == 0) {
            return moved;
        }
        moved += (size_t)n;
        if (f->feed_rc == 0) {
            f->feed_rc = h2_feed(f->conn, bytes, (size_t)n, f->feed_msg, sizeof f->feed_msg);
        }
    }
    cr_assert_fail("the client kept sending");
    return moved;
}

/* Moves the server's output to the client; returns how many bytes. */
static size_t server_to_client(struct fixture *f)
{
    struct http1_out out = {0};
    cr_assert_eq(h2_output(f->conn, &out), 0);
    size_t moved = out.len;
    if (out.len > 0) {
        ssize_t n = nghttp2_session_mem_recv(f->cl->session, out.data, out.len);
        cr_assert_eq(n, (ssize_t)out.len, "client mem_recv: %s", nghttp2_strerror((int)n));
    }
    http1_out_free(&out);
    return moved;
}

static void pump(struct fixture *f)
{
    for (unsigned round = 0; round < PUMP_ROUNDS_MAX; round++) {
        size_t moved = client_to_server(f);
        moved += server_to_client(f);
        if (moved == 0) {
            return;
        }
    }
    cr_assert_fail("the connection did not settle");
}

/* Frees everything; every accepted stream must have been closed exactly once. */
static void fixture_finish(struct fixture *f)
{
    h2_conn_free(f->conn);
    f->conn = NULL;
    for (size_t i = 0; i < f->app->count; i++) {
        const struct app_stream *st = &f->app->streams[i];
        cr_assert_eq(st->closes, st->accepted ? 1 : 0, "stream %d closed %d times", st->id,
                     st->closes);
    }
    client_free(f->cl);
    free(f->app);
}

static void expect_text_answer(struct fixture *f, int32_t id, const char *body)
{
    struct client_stream *cs = client_stream(f->cl, id);
    cr_assert_eq(cs->status, 200, "stream %d: status %d", id, cs->status);
    cr_assert_eq(cs->body_len, strlen(body), "stream %d: %zu body bytes", id, cs->body_len);
    cr_assert_eq(memcmp(cs->body, body, cs->body_len), 0);
    cr_assert(cs->closed);
    cr_assert_eq(cs->close_code, NGHTTP2_NO_ERROR);
}

/* --- requests and answers --- */

Test(http2, get_request_reports_headers_in_order_and_client_gets_answer)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_AT_END);
    const nghttp2_nv extra[] = {NV("accept", "application/json"), NV("x-custom", "yes")};
    int32_t id = client_request(f.cl, "GET", "/v1/users?id=eq.5", extra, 2, NULL);
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    cr_assert_eq(f.app->count, 1u);
    const struct app_stream *st = &f.app->streams[0];
    cr_assert_eq(st->id, id);
    cr_assert_eq(st->field_count, 6u);
    const char *names[] = {":method", ":scheme", ":authority", ":path", "accept", "x-custom"};
    for (size_t i = 0; i < 6; i++) {
        cr_assert_str_eq(st->names[i], names[i]);
    }
    cr_assert_str_eq(app_field(st, ":method"), "GET");
    cr_assert_str_eq(app_field(st, ":path"), "/v1/users?id=eq.5");
    cr_assert_str_eq(app_field(st, "accept"), "application/json");
    cr_assert_eq(st->ends, 1);
    cr_assert_eq(st->body_len, 0u);
    expect_text_answer(&f, id, "hello /v1/users?id=eq.5");
    cr_assert_eq(st->closes, 1);
    cr_assert_eq(st->close_code, NGHTTP2_NO_ERROR);
    cr_assert_eq(h2_streams_open(f.conn), 0u);
    fixture_finish(&f);
}

Test(http2, post_body_in_several_data_frames_adds_up)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_AT_END);
    uint8_t body[5000];
    for (size_t i = 0; i < sizeof body; i++) {
        body[i] = pattern_byte(i);
    }
    struct body_source src = {.data = body, .len = sizeof body, .piece = 700};
    const nghttp2_nv extra[] = {NV("content-type", "application/octet-stream")};
    int32_t id = client_request(f.cl, "POST", "/v1/blob", extra, 1, &src);
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    const struct app_stream *st = app_stream(f.app, id);
    cr_assert_eq(st->body_len, sizeof body);
    cr_assert_eq(memcmp(st->body, body, sizeof body), 0);
    cr_assert_gt(st->pieces, 1u, "the body came in %zu pieces", st->pieces);
    cr_assert_eq(st->ends, 1);
    expect_text_answer(&f, id, "hello /v1/blob");
    fixture_finish(&f);
}

Test(http2, grpc_like_answer_carries_trailers_to_client)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_GRPC);
    const nghttp2_nv extra[] = {NV("content-type", "application/grpc"), NV("te", "trailers")};
    uint8_t message[5] = {0};
    struct body_source src = {.data = message, .len = sizeof message, .piece = sizeof message};
    int32_t id = client_request(f.cl, "POST", "/heliosdb.v1.Sql/Query", extra, 2, &src);
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    struct client_stream *cs = client_stream(f.cl, id);
    cr_assert_eq(cs->status, 200);
    cr_assert_eq(cs->body_len, 5u);
    cr_assert(cs->trailers_seen);
    cr_assert_str_eq(cs->grpc_status, "0");
    cr_assert(cs->closed);
    cr_assert_eq(cs->close_code, NGHTTP2_NO_ERROR);
    cr_assert_eq(app_stream(f.app, id)->close_code, NGHTTP2_NO_ERROR);
    fixture_finish(&f);
}

Test(http2, two_concurrent_streams_answered_in_reverse_order)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_NONE);
    int32_t first = client_request(f.cl, "GET", "/a", NULL, 0, NULL);
    int32_t second = client_request(f.cl, "GET", "/b", NULL, 0, NULL);
    pump(&f);
    cr_assert_eq(f.app->count, 2u);
    cr_assert_eq(h2_streams_open(f.conn), 2u);
    app_answer_text(f.conn, second, "second");
    pump(&f);
    cr_assert_eq(f.cl->closes, 1u);
    cr_assert_eq(h2_streams_open(f.conn), 1u);
    app_answer_text(f.conn, first, "first");
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    cr_assert_eq(f.cl->closes, 2u);
    cr_assert_eq(f.cl->close_order[0], second);
    cr_assert_eq(f.cl->close_order[1], first);
    expect_text_answer(&f, first, "first");
    expect_text_answer(&f, second, "second");
    cr_assert_eq(h2_streams_open(f.conn), 0u);
    fixture_finish(&f);
}

Test(http2, large_answer_flows_under_flow_control)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_LARGE);
    int32_t id = client_request(f.cl, "GET", "/v1/dump", NULL, 0, NULL);
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    struct client_stream *cs = client_stream(f.cl, id);
    cr_assert_eq(cs->status, 200);
    cr_assert_eq(cs->body_len, LARGE_ANSWER_BYTES);
    for (size_t i = 0; i < LARGE_ANSWER_BYTES; i++) {
        if (cs->body[i] != pattern_byte(i)) {
            cr_assert_fail("byte %zu differs", i);
        }
    }
    cr_assert(cs->closed);
    cr_assert_eq(app_stream(f.app, id)->closes, 1);
    fixture_finish(&f);
}

Test(http2, answer_before_request_end_resets_request_with_no_error)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_ON_OPEN);
    uint8_t body[100] = {0};
    struct body_source src = {.data = body, .len = sizeof body, .piece = 10, .hold = true};
    int32_t id = client_request(f.cl, "POST", "/v1/early", NULL, 0, &src);
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    expect_text_answer(&f, id, "early");
    cr_assert_eq(client_stream(f.cl, id)->rst_code, NGHTTP2_NO_ERROR);
    const struct app_stream *st = app_stream(f.app, id);
    cr_assert_eq(st->ends, 0);
    cr_assert_eq(st->closes, 1);
    cr_assert_eq(st->close_code, NGHTTP2_NO_ERROR);
    fixture_finish(&f);
}

Test(http2, send_calls_out_of_order_fail)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_NONE);
    int32_t id = client_request(f.cl, "GET", "/", NULL, 0, NULL);
    pump(&f);
    const struct h2_header h[] = {{":status", "204"}};
    const struct h2_header t[] = {{"grpc-status", "0"}};
    cr_assert_eq(h2_send_data(f.conn, id, "x", 1, false), -1, "data before headers");
    cr_assert_eq(h2_send_trailers(f.conn, id, t, 1), -1, "trailers before headers");
    cr_assert_eq(h2_send_headers(f.conn, id + 2, h, 1, true), -1, "an unknown stream");
    cr_assert_eq(h2_send_headers(f.conn, id, h, 1, true), 0);
    cr_assert_eq(h2_send_headers(f.conn, id, h, 1, true), -1, "headers twice");
    cr_assert_eq(h2_send_data(f.conn, id, "x", 1, true), -1, "data after the end");
    pump(&f);
    cr_assert_eq(client_stream(f.cl, id)->status, 204);
    cr_assert(client_stream(f.cl, id)->closed);
    cr_assert_eq(h2_send_headers(f.conn, id, h, 1, true), -1, "a closed stream");
    fixture_finish(&f);
}

/* --- limits --- */

Test(http2, streams_over_concurrency_limit_are_refused)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    lim.max_concurrent_streams = 2;
    fixture_init(&f, &lim, ANSWER_NONE);
    int32_t ids[3];
    for (size_t i = 0; i < 3; i++) {
        ids[i] = client_request(f.cl, "GET", "/", NULL, 0, NULL);
    }
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    cr_assert_eq(f.app->count, 2u);
    cr_assert_eq(h2_streams_open(f.conn), 2u);
    struct client_stream *refused = client_stream(f.cl, ids[2]);
    cr_assert(refused->closed);
    cr_assert_eq(refused->rst_code, NGHTTP2_REFUSED_STREAM);
    app_answer_text(f.conn, ids[0], "one");
    app_answer_text(f.conn, ids[1], "two");
    pump(&f);
    expect_text_answer(&f, ids[0], "one");
    expect_text_answer(&f, ids[1], "two");
    fixture_finish(&f);
}

Test(http2, header_block_over_limit_is_answered_431_without_callbacks)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    lim.header_bytes_max = 512;
    fixture_init(&f, &lim, ANSWER_AT_END);
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const nghttp2_nv extra[] = {
        {(uint8_t *)"x-big", (uint8_t *)big, 5, strlen(big), NGHTTP2_NV_FLAG_NONE}};
    uint8_t body[10] = {0};
    struct body_source src = {.data = body, .len = sizeof body, .piece = 10, .hold = true};
    int32_t id = client_request(f.cl, "POST", "/", extra, 1, &src);
    int32_t small = client_request(f.cl, "GET", "/small", NULL, 0, NULL);
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    struct client_stream *cs = client_stream(f.cl, id);
    cr_assert_eq(cs->status, 431);
    cr_assert_eq(cs->body_len, 0u);
    cr_assert(cs->closed);
    cr_assert_eq(cs->rst_code, NGHTTP2_NO_ERROR, "reset after the answer: the body is unwanted");
    cr_assert_eq(f.app->count, 1u, "only the small request reaches on_stream_open");
    cr_assert_eq(f.app->streams[0].id, small);
    expect_text_answer(&f, small, "hello /small");
    fixture_finish(&f);
}

Test(http2, open_callback_status_is_answered_and_body_ignored)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_AT_END);
    f.app->open_status = 403;
    uint8_t body[3000] = {0};
    struct body_source src = {.data = body, .len = sizeof body, .piece = 1000};
    int32_t id = client_request(f.cl, "POST", "/v1/secret", NULL, 0, &src);
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    struct client_stream *cs = client_stream(f.cl, id);
    cr_assert_eq(cs->status, 403);
    cr_assert_eq(cs->body_len, 0u);
    cr_assert(cs->closed);
    const struct app_stream *st = app_stream(f.app, id);
    cr_assert_eq(st->body_len, 0u);
    cr_assert_eq(st->ends, 0);
    cr_assert_eq(st->closes, 0);
    cr_assert_eq(h2_streams_open(f.conn), 0u);
    fixture_finish(&f);
}

Test(http2, body_over_limit_resets_stream_with_enhance_your_calm)
{
    struct fixture f;
    struct h2_limits lim = {.body_bytes_max = 1000};
    fixture_init(&f, &lim, ANSWER_AT_END);
    uint8_t body[5000] = {0};
    struct body_source src = {.data = body, .len = sizeof body, .piece = 700};
    int32_t id = client_request(f.cl, "POST", "/v1/blob", NULL, 0, &src);
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    struct client_stream *cs = client_stream(f.cl, id);
    cr_assert_eq(cs->rst_code, NGHTTP2_ENHANCE_YOUR_CALM);
    cr_assert(cs->closed);
    cr_assert_eq(cs->close_code, NGHTTP2_ENHANCE_YOUR_CALM);
    cr_assert_eq(cs->status, 0, "no answer");
    const struct app_stream *st = app_stream(f.app, id);
    cr_assert_eq(st->body_len, 700u, "the piece over the limit is not delivered");
    cr_assert_eq(st->ends, 0);
    cr_assert_eq(st->closes, 1);
    cr_assert_eq(st->close_code, NGHTTP2_ENHANCE_YOUR_CALM);
    fixture_finish(&f);
}

Test(http2, data_callback_error_resets_stream_with_internal_error)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_AT_END);
    f.app->data_rc = 1;
    uint8_t body[100] = {0};
    struct body_source src = {.data = body, .len = sizeof body, .piece = 50};
    int32_t id = client_request(f.cl, "POST", "/v1/blob", NULL, 0, &src);
    pump(&f);
    cr_assert_eq(client_stream(f.cl, id)->rst_code, NGHTTP2_INTERNAL_ERROR);
    const struct app_stream *st = app_stream(f.app, id);
    cr_assert_eq(st->pieces, 1u);
    cr_assert_eq(st->ends, 0);
    cr_assert_eq(st->close_code, NGHTTP2_INTERNAL_ERROR);
    fixture_finish(&f);
}

Test(http2, reset_flood_ends_connection_with_goaway)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    lim.resets_per_second_max = 10;
    fixture_init(&f, &lim, ANSWER_NONE);
    for (unsigned i = 0; i < 40 && f.feed_rc == 0; i++) {
        int32_t id = client_request(f.cl, "GET", "/", NULL, 0, NULL);
        client_to_server(&f);
        cr_assert_eq(
            nghttp2_submit_rst_stream(f.cl->session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL), 0);
        client_to_server(&f);
    }
    cr_assert_eq(f.feed_rc, -1);
    cr_assert(strstr(f.feed_msg, "flood") != NULL, "message: %s", f.feed_msg);
    cr_assert_eq(f.app->count, 11u, "the 11th reset ends the connection");
    server_to_client(&f);
    cr_assert(f.cl->goaway);
    cr_assert_eq(f.cl->goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
    cr_assert(h2_done(f.conn));
    char msg[MSG_BYTES] = "";
    cr_assert_eq(h2_feed(f.conn, (const uint8_t *)"x", 1, msg, sizeof msg), -1);
    for (size_t i = 0; i < f.app->count; i++) {
        cr_assert_eq(f.app->streams[i].close_code, NGHTTP2_CANCEL);
    }
    fixture_finish(&f);
}

Test(http2, bad_preface_fails_feed)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_NONE);
    const char *http1 = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    char msg[MSG_BYTES] = "";
    cr_assert_eq(h2_feed(f.conn, (const uint8_t *)http1, strlen(http1), msg, sizeof msg), -1);
    cr_assert_neq(msg[0], '\0');
    struct http1_out out = {0};
    cr_assert_eq(h2_output(f.conn, &out), 0);
    cr_assert_gt(out.len, 0u, "SETTINGS and GOAWAY");
    http1_out_free(&out);
    cr_assert(h2_done(f.conn));
    cr_assert_eq(h2_feed(f.conn, (const uint8_t *)"x", 1, msg, sizeof msg), -1);
    fixture_finish(&f);
}

Test(http2, protocol_error_sends_goaway_and_fails_feed)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_NONE);
    client_to_server(&f); /* preface and SETTINGS */
    /* A DATA frame on stream 0 is a connection error (PROTOCOL_ERROR). */
    const uint8_t frame[] = {0, 0, 1, NGHTTP2_DATA, 0, 0, 0, 0, 0, 'x'};
    char msg[MSG_BYTES] = "";
    cr_assert_eq(h2_feed(f.conn, frame, sizeof frame, msg, sizeof msg), -1);
    cr_assert(strstr(msg, "PROTOCOL_ERROR") != NULL, "message: %s", msg);
    server_to_client(&f);
    cr_assert(f.cl->goaway);
    cr_assert_eq(f.cl->goaway_code, NGHTTP2_PROTOCOL_ERROR);
    cr_assert(h2_done(f.conn));
    fixture_finish(&f);
}

/* --- upgrade, shutdown, free --- */

static void base64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        v |= i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0;
        v |= i + 2 < len ? in[i + 2] : 0;
        size_t chars = len - i >= 3 ? 4 : len - i + 1;
        for (size_t k = 0; k < chars; k++) {
            cr_assert_lt(o + 1, cap);
            out[o++] = alphabet[(v >> (18 - 6 * k)) & 0x3f];
        }
    }
    out[o] = '\0';
}

Test(http2, upgrade_makes_stream_1_and_client_gets_answer)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    f = (struct fixture){0};
    f.app = calloc(1, sizeof *f.app);
    f.app->answer = ANSWER_AT_END;
    f.conn = h2_conn_new(&lim, &app_callbacks, f.app);
    cr_assert_not_null(f.conn);
    f.cl = client_new(false);
    const nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                         {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535}};
    uint8_t payload[SETTINGS_BYTES_MAX];
    ssize_t len = nghttp2_pack_settings_payload(payload, sizeof payload, iv, 2);
    cr_assert_eq(len, 12);
    char settings[BASE64_BYTES_MAX];
    base64url_encode(payload, (size_t)len, settings, sizeof settings);
    char target[] = "/v1/query?db=main", content_type[] = "application/json";
    char body[] = "{\"sql\":\"SELECT 1\"}";
    struct http_request req = {.method = HTTP_POST,
                               .target = target,
                               .content_type = content_type,
                               .body = (uint8_t *)body,
                               .body_len = strlen(body),
                               .http_major = 1,
                               .http_minor = 1};
    char msg[MSG_BYTES] = "";
    cr_assert_eq(h2_conn_upgrade(f.conn, settings, &req, msg, sizeof msg), 0, "%s", msg);
    const struct app_stream *st = app_stream(f.app, 1);
    cr_assert_str_eq(app_field(st, ":method"), "POST");
    cr_assert_str_eq(app_field(st, ":path"), "/v1/query?db=main");
    cr_assert_str_eq(app_field(st, ":scheme"), "http");
    cr_assert_str_eq(app_field(st, "content-type"), "application/json");
    cr_assert_null(app_field(st, "authorization"));
    cr_assert_eq(st->body_len, strlen(body));
    cr_assert_eq(memcmp(st->body, body, st->body_len), 0);
    cr_assert_eq(st->ends, 1);
    cr_assert_eq(nghttp2_session_upgrade2(f.cl->session, payload, (size_t)len, 0, NULL), 0);
    client_stream(f.cl, 1);
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    expect_text_answer(&f, 1, "hello /v1/query?db=main");
    cr_assert_eq(st->closes, 1);
    fixture_finish(&f);
}

Test(http2, upgrade_with_bad_settings_value_fails)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_AT_END);
    char target[] = "/";
    struct http_request req = {.method = HTTP_GET, .target = target};
    char msg[MSG_BYTES] = "";
    cr_assert_eq(h2_conn_upgrade(f.conn, "not base64!", &req, msg, sizeof msg), -1);
    cr_assert_neq(msg[0], '\0');
    msg[0] = '\0';
    cr_assert_eq(h2_conn_upgrade(f.conn, "AAAA", &req, msg, sizeof msg), -1, "3 bytes");
    cr_assert_neq(msg[0], '\0');
    cr_assert_eq(f.app->count, 0u);
    fixture_finish(&f);
}

Test(http2, shutdown_sends_goaway_and_lets_open_stream_finish)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_NONE);
    int32_t id = client_request(f.cl, "GET", "/slow", NULL, 0, NULL);
    pump(&f);
    h2_shutdown(f.conn);
    pump(&f);
    cr_assert(f.cl->goaway);
    cr_assert_eq(f.cl->goaway_code, NGHTTP2_NO_ERROR);
    cr_assert_eq(f.cl->goaway_last_id, id);
    cr_assert(!h2_done(f.conn), "a stream is still open");
    app_answer_text(f.conn, id, "done");
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    expect_text_answer(&f, id, "done");
    cr_assert(h2_done(f.conn));
    fixture_finish(&f);
}

Test(http2, conn_free_closes_open_streams_with_cancel)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_NONE);
    client_request(f.cl, "GET", "/a", NULL, 0, NULL);
    client_request(f.cl, "GET", "/b", NULL, 0, NULL);
    pump(&f);
    cr_assert_eq(h2_streams_open(f.conn), 2u);
    const struct h2_header h[] = {{":status", "200"}};
    cr_assert_eq(h2_send_headers(f.conn, f.app->streams[0].id, h, 1, false), 0);
    cr_assert_eq(h2_send_data(f.conn, f.app->streams[0].id, "partial", 7, false), 0);
    h2_conn_free(f.conn);
    f.conn = NULL;
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(f.app->streams[i].closes, 1);
        cr_assert_eq(f.app->streams[i].close_code, NGHTTP2_CANCEL);
    }
    fixture_finish(&f);
}

Test(http2, header_block_in_continuation_frames_arrives_whole)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    lim.header_bytes_max = 32768;
    fixture_init(&f, &lim, ANSWER_AT_END);
    static char big[20001];
    memset(big, 'b', sizeof big - 1);
    const nghttp2_nv extra[] = {
        {(uint8_t *)"x-big", (uint8_t *)big, 5, strlen(big), NGHTTP2_NV_FLAG_NO_INDEX}};
    int32_t id = client_request(f.cl, "GET", "/big", extra, 1, NULL);
    pump(&f);
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    const struct app_stream *st = app_stream(f.app, id);
    size_t pseudo = strlen(":methodGET:schemehttp:authoritylocalhost:path/big");
    cr_assert_eq(st->field_bytes, pseudo + strlen("x-big") + strlen(big));
    expect_text_answer(&f, id, "hello /big");
    fixture_finish(&f);
}

Test(http2, request_fed_byte_by_byte_is_reported_once)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_AT_END);
    uint8_t body[300];
    memset(body, 'p', sizeof body);
    struct body_source src = {.data = body, .len = sizeof body, .piece = 100};
    int32_t id = client_request(f.cl, "PUT", "/v1/one", NULL, 0, &src);
    for (unsigned round = 0; round < PUMP_ROUNDS_MAX; round++) {
        const uint8_t *bytes;
        ssize_t n = nghttp2_session_mem_send(f.cl->session, &bytes);
        cr_assert_geq(n, 0);
        if (n == 0) {
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            char msg[MSG_BYTES] = "";
            cr_assert_eq(h2_feed(f.conn, bytes + i, 1, msg, sizeof msg), 0, "%s", msg);
        }
    }
    pump(&f);
    const struct app_stream *st = app_stream(f.app, id);
    cr_assert_eq(f.app->count, 1u);
    cr_assert_str_eq(app_field(st, ":method"), "PUT");
    cr_assert_eq(st->body_len, sizeof body);
    cr_assert_eq(st->ends, 1);
    expect_text_answer(&f, id, "hello /v1/one");
    fixture_finish(&f);
}

Test(http2, answer_sent_from_close_callback_is_delivered)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_NONE);
    int32_t first = client_request(f.cl, "GET", "/a", NULL, 0, NULL);
    int32_t second = client_request(f.cl, "GET", "/b", NULL, 0, NULL);
    pump(&f);
    const struct h2_header h[] = {{":status", "200"}};
    cr_assert_eq(h2_send_headers(f.conn, second, h, 1, false), 0);
    pump(&f); /* the second answer's body waits (deferred) */
    cr_assert_eq(client_stream(f.cl, second)->status, 200);
    cr_assert(!client_stream(f.cl, second)->closed);
    f.app->close_answers = second;
    app_answer_text(f.conn, first, "first");
    pump(&f); /* the first stream closes while nghttp2 sends; its callback answers the second */
    cr_assert_eq(f.feed_rc, 0, "%s", f.feed_msg);
    expect_text_answer(&f, first, "first");
    struct client_stream *cs = client_stream(f.cl, second);
    cr_assert(cs->closed);
    cr_assert_eq(cs->body_len, 5u);
    cr_assert_eq(memcmp(cs->body, "later", 5), 0);
    fixture_finish(&f);
}

Test(http2, answer_queue_over_64_mib_is_refused)
{
    struct fixture f;
    struct h2_limits lim = limits_default();
    fixture_init(&f, &lim, ANSWER_NONE);
    int32_t id = client_request(f.cl, "GET", "/", NULL, 0, NULL);
    pump(&f);
    const struct h2_header h[] = {{":status", "200"}};
    cr_assert_eq(h2_send_headers(f.conn, id, h, 1, false), 0);
    size_t too_many = 64u * 1024u * 1024u + 1u;
    uint8_t *big = calloc(1, too_many);
    cr_assert_not_null(big);
    cr_assert_eq(h2_send_data(f.conn, id, big, too_many, true), -1);
    free(big);
    cr_assert_eq(h2_send_data(f.conn, id, "ok", 2, true), 0, "the stream is still usable");
    pump(&f);
    expect_text_answer(&f, id, "ok");
    fixture_finish(&f);
}
