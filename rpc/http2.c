/*
 * http2.c — one HTTP/2 server connection over Debian's nghttp2 1.52 (see http2.h).
 *
 * How the pieces fit. An h2_conn owns an nghttp2 server session and a list of h2_stream records,
 * one per stream whose request HEADERS began (nghttp2 refuses streams over the limit itself, with
 * RST_STREAM REFUSED_STREAM, before we see them, so the list is bounded by
 * max_concurrent_streams). A record is found from its id through nghttp2's stream user data and
 * freed in nghttp2's on_stream_close. Its life:
 *
 *   HEADERS ──(header block complete)──> on_stream_open ──0──> ACCEPTED ──> (closed)
 *      │                                       └─status──> ANSWERED (":status" only, END_STREAM)
 *      └─(block over header_bytes_max)─> OVERSIZED ──> ANSWERED with 431
 *
 * Only ACCEPTED streams reach the callbacks; each gets exactly one on_stream_close.
 *
 * Answers. h2_send_headers submits the response with a data provider that serves the stream's
 * output queue: when the queue is empty and the answer not ended it defers, and h2_send_data /
 * h2_send_trailers resume it. Trailers wait in the stream until the queue has drained, then the
 * provider ends the DATA without END_STREAM and submits them, so they always follow the body.
 *
 * Output. h2_feed runs nghttp2_session_mem_recv and then takes what nghttp2 wants to send at once
 * into `pending` (h2_output hands it out first). Sending inside h2_feed is how a connection error
 * is seen: nghttp2 answers most protocol errors by queueing a GOAWAY and carrying on, so h2_feed
 * returns -1 exactly when a GOAWAY with an error code went out (or nghttp2 returned a fatal
 * error, or the reset flood guard fired).
 *
 * Decisions the header leaves open:
 *   - Callbacks run inside h2_feed and h2_conn_upgrade, and on_stream_close also inside h2_output
 *     (a stream closes when its last frame is sent, which can happen there when an answer is
 *     sent outside a callback) and inside h2_conn_free: streams still open then are closed with
 *     NGHTTP2_CANCEL (8). A callback may call h2_send_*, h2_reset, h2_shutdown and
 *     h2_streams_open, never h2_feed, h2_output, h2_conn_upgrade or h2_conn_free.
 *   - Header bytes are counted as HTTP/1.1 would spell them ("name: value\r\n", so a limit means
 *     the same in both protocols), pseudo-headers included. Request trailers are ignored.
 *   - A status returned by on_stream_open outside 200..599 is answered as 500.
 *   - When a stream's answer has ended while the client is still sending (431, a status from
 *     on_stream_open, or an answer sent before the request ended) the stream is reset with
 *     NO_ERROR after the answer (RFC 9113 §8.1); on_stream_close then reports 0.
 *   - A request body over body_bytes_max: the piece that crosses the limit is not delivered and
 *     the stream is reset with ENHANCE_YOUR_CALM; on_stream_close(id, 0xb) follows when the
 *     RST_STREAM is sent.
 *   - Each stream's output queue holds at most STREAM_OUT_BYTES_MAX (64 MiB) not yet taken by
 *     nghttp2; h2_send_data returns -1 beyond it. Headers sent per block: at most
 *     SEND_FIELDS_MAX fields and SEND_HEADER_BYTES_MAX bytes.
 *   - Reset floods: RST_STREAM frames are counted in one-second windows (CLOCK_MONOTONIC).
 *     nghttp2's own reset rate limit is set looser than ours so that ours decides.
 *   - h2_conn_upgrade: nghttp2 takes the decoded HTTP2-Settings payload, so it is base64url
 *     decoded here (padding optional). Stream 1's header block is :method, :path (the target),
 *     :scheme "http", then the kept headers the request carries (content-type, authorization,
 *     prefer, origin, accept); no :authority (struct http_request keeps no Host).
 *   - After h2_feed returned -1 it keeps returning -1 without reading.
 *   - max_concurrent_streams is nghttp2's: a stream over it is refused with REFUSED_STREAM while
 *     the client has not yet acknowledged our SETTINGS; a client that goes over it after
 *     acknowledging breaks the protocol, and nghttp2 ends the connection (GOAWAY PROTOCOL_ERROR,
 *     so h2_feed returns -1). Clients that honour SETTINGS never see that.
 */
#include "rpc/http2.h"

#include <assert.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEADER_BYTES_LIMIT          (1024u * 1024u) /* largest header_bytes_max accepted */
#define HEADER_FIELD_OVERHEAD_BYTES 4u              /* ": " and CRLF in HTTP/1.1 spelling */
#define HEADER_BUF_BYTES_MIN        256u
#define STREAM_WINDOW_BYTES         (256u * 1024u)  /* SETTINGS_INITIAL_WINDOW_SIZE */
#define CONNECTION_WINDOW_BYTES     (1024u * 1024u) /* the connection's receive window */
#define STREAM_OUT_BYTES_MAX        (64u * 1024u * 1024u)
#define OUT_QUEUE_BYTES_MIN         4096u
#define SEND_FIELDS_MAX             256u
#define SEND_HEADER_BYTES_MAX       (64u * 1024u) /* nghttp2's default send limit */
#define STATUS_TEXT_BYTES           4u            /* "431" and a NUL */
#define SETTINGS_PAYLOAD_BYTES_MAX  (6u * 64u)    /* 64 settings of 6 bytes */
#define SETTINGS_BASE64_BYTES_MAX   ((SETTINGS_PAYLOAD_BYTES_MAX + 2u) / 3u * 4u)
#define NGHTTP2_RESET_BURST_MIN     1000u /* nghttp2's default burst */
#define CONN_MSG_BYTES              200u
#define LIB_MSG_BYTES               120u
#define NS_PER_SECOND               1000000000u

static_assert(HTTP1_HEADER_BYTES_MAX <= HEADER_BYTES_LIMIT, "the default must be accepted");
static_assert(STREAM_WINDOW_BYTES <= NGHTTP2_MAX_WINDOW_SIZE, "a window is at most 2^31-1");
static_assert(CONNECTION_WINDOW_BYTES <= NGHTTP2_MAX_WINDOW_SIZE, "a window is at most 2^31-1");
static_assert(CONNECTION_WINDOW_BYTES >= NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE,
              "the connection window only grows");
static_assert(SETTINGS_PAYLOAD_BYTES_MAX % 6u == 0, "a setting is 6 bytes");

/* Where a stream is; see the diagram at the top. */
enum stream_state {
    STREAM_HEADERS,   /* the request header block is arriving */
    STREAM_OVERSIZED, /* ...and went over header_bytes_max: it will be answered 431 */
    STREAM_ACCEPTED,  /* on_stream_open returned 0: the callbacks follow it */
    STREAM_ANSWERED,  /* answered with a status by this file; nothing more is reported */
};

/* Bytes [head, head + len) of data[cap]: an answer's body not yet taken by nghttp2. */
struct byte_queue {
    uint8_t *data;
    size_t head, len, cap;
};

/*
 * One stream. `hdr` holds the request header block while it arrives as "name\0value\0" pairs
 * (`hdr_count` of them, `hdr_bytes` counted against header_bytes_max); it is freed once
 * on_stream_open has run. `trailers` is one allocation: the nghttp2_nv array, then the strings.
 */
struct h2_stream {
    struct h2_stream *prev, *next;
    int32_t id;
    enum stream_state state;
    bool reset_sent; /* a reset was submitted: no more request callbacks */
    bool closing;    /* inside on_stream_close: h2_send_* refuse */
    char *hdr;
    size_t hdr_len, hdr_cap, hdr_count, hdr_bytes;
    size_t body_bytes;
    bool headers_sent, has_provider, out_end, deferred;
    struct byte_queue out;
    nghttp2_nv *trailers;
    size_t trailers_count;
};

struct h2_conn {
    nghttp2_session *session;
    struct h2_callbacks cb;
    void *ctx;
    struct h2_limits lim; /* with the defaults filled in */
    struct h2_stream *streams;
    uint32_t accepted_open;
    struct http1_out pending; /* taken from nghttp2 inside h2_feed; h2_output hands it out */
    uint64_t reset_window_start_ns;
    uint32_t reset_window_count;
    bool busy;   /* inside h2_feed, h2_output or h2_conn_upgrade */
    bool failed; /* the connection must end; `reason` says why */
    bool upgraded;
    bool goaway_error_sent;
    uint32_t goaway_error_code;
    char reason[CONN_MSG_BYTES];
    char lib_msg[LIB_MSG_BYTES]; /* nghttp2's last error message during this call */
};

static int conn_fail(struct h2_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Marks the connection failed with a reason (the first reason wins). Returns -1. */
static int conn_fail(struct h2_conn *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->reason, sizeof c->reason, fmt, ap);
        va_end(ap);
        c->failed = true;
    }
    return -1;
}

static void copy_msg(char *msg, size_t msg_cap, const char *text)
{
    if (msg != NULL && msg_cap > 0) {
        snprintf(msg, msg_cap, "%s", text);
    }
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    assert(rc == 0);
    (void)rc;
    return (uint64_t)ts.tv_sec * NS_PER_SECOND + (uint64_t)ts.tv_nsec;
}

/* Appends to the queue, keeping it within `len_max` bytes. Returns 0, or -1 over the limit or
 * out of memory (the queue is then unchanged). */
static int queue_push(struct byte_queue *q, const void *bytes, size_t n, size_t len_max)
{
    if (n > len_max - q->len) {
        return -1;
    }
    if (q->head + q->len + n > q->cap && q->head > 0) {
        memmove(q->data, q->data + q->head, q->len);
        q->head = 0;
    }
    if (q->len + n > q->cap) {
        size_t cap = q->cap < OUT_QUEUE_BYTES_MIN ? OUT_QUEUE_BYTES_MIN : q->cap;
        while (cap < q->len + n) {
            cap *= 2; /* cannot overflow: len + n <= len_max <= SIZE_MAX / 4 */
        }
        uint8_t *data = realloc(q->data, cap);
        if (data == NULL) {
            return -1;
        }
        q->data = data;
        q->cap = cap;
    }
    memcpy(q->data + q->head + q->len, bytes, n);
    q->len += n;
    return 0;
}

/* Moves up to `cap` bytes from the front of the queue to `buf`; returns how many. */
static size_t queue_pop(struct byte_queue *q, uint8_t *buf, size_t cap)
{
    size_t n = q->len < cap ? q->len : cap;
    if (n > 0) {
        memcpy(buf, q->data + q->head, n);
        q->head += n;
        q->len -= n;
    }
    if (q->len == 0) {
        q->head = 0;
    }
    return n;
}

/* --- streams --- */

static struct h2_stream *stream_new(struct h2_conn *c, int32_t id)
{
    struct h2_stream *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->id = id;
    s->state = STREAM_HEADERS;
    s->next = c->streams;
    if (c->streams != NULL) {
        c->streams->prev = s;
    }
    c->streams = s;
    return s;
}

static void stream_free(struct h2_conn *c, struct h2_stream *s)
{
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        c->streams = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    free(s->hdr);
    free(s->out.data);
    free(s->trailers);
    free(s);
}

/* The stream's record while nghttp2 holds it open, else NULL. */
static struct h2_stream *stream_find(const struct h2_conn *c, int32_t id)
{
    if (id <= 0) {
        return NULL;
    }
    return nghttp2_session_get_stream_user_data(c->session, id);
}

/* Submits RST_STREAM; no more request callbacks for the stream. Returns 0 or -1. */
static int stream_reset(struct h2_conn *c, struct h2_stream *s, uint32_t error_code)
{
    s->reset_sent = true;
    int rv = nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id, error_code);
    return rv == 0 ? 0 : -1;
}

/*
 * Adds one request header to the stream's block. Returns 0 (also when the block just went over
 * the limit: the stream is then OVERSIZED and its block dropped), or -1 out of memory.
 */
static int header_add(struct h2_conn *c, struct h2_stream *s, const char *name, size_t name_len,
                      const char *value, size_t value_len)
{
    if (s->state != STREAM_HEADERS) {
        return 0;
    }
    size_t field = name_len + value_len + HEADER_FIELD_OVERHEAD_BYTES;
    if (field > c->lim.header_bytes_max - s->hdr_bytes) {
        s->state = STREAM_OVERSIZED;
        free(s->hdr);
        s->hdr = NULL;
        s->hdr_len = s->hdr_cap = 0;
        return 0;
    }
    size_t need = s->hdr_len + name_len + value_len + 2; /* <= hdr_bytes + field */
    if (need > s->hdr_cap) {
        size_t cap = s->hdr_cap < HEADER_BUF_BYTES_MIN ? HEADER_BUF_BYTES_MIN : s->hdr_cap;
        while (cap < need) {
            cap *= 2; /* bounded: need <= header_bytes_max <= HEADER_BYTES_LIMIT */
        }
        char *hdr = realloc(s->hdr, cap);
        if (hdr == NULL) {
            return -1;
        }
        s->hdr = hdr;
        s->hdr_cap = cap;
    }
    memcpy(s->hdr + s->hdr_len, name, name_len);
    s->hdr[s->hdr_len + name_len] = '\0';
    s->hdr_len += name_len + 1;
    memcpy(s->hdr + s->hdr_len, value, value_len);
    s->hdr[s->hdr_len + value_len] = '\0';
    s->hdr_len += value_len + 1;
    s->hdr_bytes += field;
    s->hdr_count++;
    return 0;
}

/* Answers with a bare ":status" and END_STREAM; the stream is ANSWERED. Returns 0 or -1. */
static int stream_answer_status(struct h2_conn *c, struct h2_stream *s, int status)
{
    char text[STATUS_TEXT_BYTES];
    if (status < 200 || status > 599) {
        status = 500;
    }
    snprintf(text, sizeof text, "%d", status);
    nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)text, 7, 3, NGHTTP2_NV_FLAG_NONE};
    s->state = STREAM_ANSWERED;
    free(s->hdr);
    s->hdr = NULL;
    s->headers_sent = true;
    s->out_end = true;
    return nghttp2_submit_response(c->session, s->id, &nv, 1, NULL) == 0 ? 0 : -1;
}

/* Runs on_stream_open with the block; the stream becomes ACCEPTED or ANSWERED. Returns 0, or -1
 * out of memory. */
static int stream_open(struct h2_conn *c, struct h2_stream *s)
{
    struct h2_header *h = calloc(s->hdr_count > 0 ? s->hdr_count : 1, sizeof *h);
    if (h == NULL) {
        return -1;
    }
    const char *p = s->hdr;
    for (size_t i = 0; i < s->hdr_count; i++) {
        h[i].name = p;
        p += strlen(p) + 1;
        h[i].value = p;
        p += strlen(p) + 1;
    }
    /* Accepted during the call, so that the callback may answer at once. */
    s->state = STREAM_ACCEPTED;
    c->accepted_open++;
    int status = c->cb.on_stream_open(c->ctx, c, s->id, h, s->hdr_count);
    free(h);
    free(s->hdr);
    s->hdr = NULL;
    s->hdr_len = s->hdr_cap = 0;
    if (status == 0) {
        return 0;
    }
    c->accepted_open--;
    if (s->headers_sent || s->reset_sent) {
        s->state = STREAM_ANSWERED; /* the callback answered or reset it already */
        return 0;
    }
    return stream_answer_status(c, s, status);
}

/* The header block is complete: answer 431 or ask on_stream_open. Returns 0 or -1. */
static int stream_headers_done(struct h2_conn *c, struct h2_stream *s)
{
    if (s->state == STREAM_OVERSIZED) {
        return stream_answer_status(c, s, 431);
    }
    assert(s->state == STREAM_HEADERS);
    return stream_open(c, s);
}

/* Whether request callbacks still run for the stream. */
static bool stream_reports(const struct h2_stream *s)
{
    return s->state == STREAM_ACCEPTED && !s->reset_sent && !s->closing;
}

/* Request body bytes for the stream: counted against body_bytes_max, then reported. */
static void stream_body(struct h2_conn *c, struct h2_stream *s, const uint8_t *data, size_t len)
{
    if (!stream_reports(s)) {
        return;
    }
    if (len > c->lim.body_bytes_max - s->body_bytes) {
        stream_reset(c, s, NGHTTP2_ENHANCE_YOUR_CALM);
        return;
    }
    s->body_bytes += len;
    if (len > 0 && c->cb.on_stream_data(c->ctx, c, s->id, data, len) != 0) {
        stream_reset(c, s, NGHTTP2_INTERNAL_ERROR);
    }
}

static void stream_end(struct h2_conn *c, struct h2_stream *s)
{
    if (stream_reports(s)) {
        c->cb.on_stream_end(c->ctx, c, s->id);
    }
}

/* --- nghttp2 callbacks --- */

static int session_on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame,
                                    void *user_data)
{
    struct h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    struct h2_stream *s = stream_new(c, frame->hd.stream_id);
    if (s == NULL) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset, INTERNAL_ERROR */
    }
    if (nghttp2_session_set_stream_user_data(session, s->id, s) != 0) {
        stream_free(c, s);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int session_on_header(nghttp2_session *session, const nghttp2_frame *frame,
                             const uint8_t *name, size_t name_len, const uint8_t *value,
                             size_t value_len, uint8_t flags, void *user_data)
{
    (void)session;
    (void)flags;
    struct h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0; /* request trailers are not kept */
    }
    struct h2_stream *s = stream_find(c, frame->hd.stream_id);
    if (s == NULL) {
        return 0;
    }
    if (header_add(c, s, (const char *)name, name_len, (const char *)value, value_len) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

/* Counts an RST_STREAM from the client; past the limit the connection ends (GOAWAY). */
static void reset_counted(struct h2_conn *c)
{
    uint64_t now = monotonic_ns();
    if (now - c->reset_window_start_ns >= NS_PER_SECOND || c->reset_window_count == 0) {
        c->reset_window_start_ns = now;
        c->reset_window_count = 0;
    }
    c->reset_window_count++;
    if (c->reset_window_count > c->lim.resets_per_second_max && !c->failed) {
        conn_fail(c, "http2: reset flood: more than %u RST_STREAM frames in one second",
                  c->lim.resets_per_second_max);
        nghttp2_session_terminate_session(c->session, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

static int session_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                                 void *user_data)
{
    (void)session;
    struct h2_conn *c = user_data;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        reset_counted(c);
        return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) {
        return 0;
    }
    struct h2_stream *s = stream_find(c, frame->hd.stream_id);
    if (s == NULL) {
        return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
        stream_headers_done(c, s) != 0) {
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* out of memory: the connection ends */
    }
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        stream_end(c, s);
    }
    return 0;
}

static int session_on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                                      const uint8_t *data, size_t len, void *user_data)
{
    (void)session;
    (void)flags;
    struct h2_conn *c = user_data;
    struct h2_stream *s = stream_find(c, stream_id);
    if (s != NULL) {
        stream_body(c, s, data, len);
    }
    return 0;
}

static int session_on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                                   void *user_data)
{
    (void)session;
    struct h2_conn *c = user_data;
    struct h2_stream *s = stream_find(c, stream_id);
    if (s == NULL) {
        return 0;
    }
    s->closing = true;
    if (s->state == STREAM_ACCEPTED) {
        assert(c->accepted_open > 0);
        c->accepted_open--;
        c->cb.on_stream_close(c->ctx, c, stream_id, error_code);
    }
    stream_free(c, s);
    return 0;
}

static int session_on_frame_send(nghttp2_session *session, const nghttp2_frame *frame,
                                 void *user_data)
{
    struct h2_conn *c = user_data;
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
        c->goaway_error_sent = true;
        c->goaway_error_code = frame->goaway.error_code;
        return 0;
    }
    bool ends = frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA;
    if (!ends || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        return 0;
    }
    struct h2_stream *s = stream_find(c, frame->hd.stream_id);
    if (s != NULL && !s->reset_sent &&
        nghttp2_session_get_stream_remote_close(session, s->id) == 0) {
        stream_reset(c, s, NGHTTP2_NO_ERROR); /* the answer is complete: stop the request */
    }
    return 0;
}

static int session_on_error(nghttp2_session *session, int lib_error_code, const char *msg,
                            size_t len, void *user_data)
{
    (void)session;
    (void)lib_error_code;
    struct h2_conn *c = user_data;
    int shown = len < LIB_MSG_BYTES ? (int)len : (int)LIB_MSG_BYTES - 1;
    snprintf(c->lib_msg, sizeof c->lib_msg, "%.*s", shown, msg);
    return 0;
}

static int session_on_invalid_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                                         int lib_error_code, void *user_data)
{
    (void)session;
    (void)frame;
    struct h2_conn *c = user_data;
    if (c->lib_msg[0] == '\0') {
        snprintf(c->lib_msg, sizeof c->lib_msg, "%s", nghttp2_strerror(lib_error_code));
    }
    return 0;
}

/* Serves the stream's output queue to nghttp2 (see the top of the file). */
static ssize_t stream_data_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                                void *user_data)
{
    (void)source;
    struct h2_conn *c = user_data;
    struct h2_stream *s = stream_find(c, stream_id);
    if (s == NULL) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    size_t n = queue_pop(&s->out, buf, length);
    if (s->out.len > 0 || !s->out_end) {
        if (n > 0) {
            return (ssize_t)n;
        }
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->trailers != NULL) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        int rv = nghttp2_submit_trailer(session, stream_id, s->trailers, s->trailers_count);
        free(s->trailers);
        s->trailers = NULL;
        if (rv != 0) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* reset with INTERNAL_ERROR */
        }
    }
    return (ssize_t)n;
}

/* --- the session --- */

static int session_callbacks_new(nghttp2_session_callbacks **out)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        return -1;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, session_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, session_on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, session_on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, session_on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, session_on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, session_on_frame_send);
    nghttp2_session_callbacks_set_error_callback2(cbs, session_on_error);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs,
                                                                 session_on_invalid_frame_recv);
    *out = cbs;
    return 0;
}

/* Creates the server session with its options. Returns 0 or -1 out of memory. */
static int session_create(struct h2_conn *c)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    if (session_callbacks_new(&cbs) != 0) {
        return -1;
    }
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return -1;
    }
    /* Closed streams are forgotten at once (no RFC 7540 priority tree to keep). */
    nghttp2_option_set_no_closed_streams(opt, 1);
    uint64_t burst = 4u * (uint64_t)c->lim.resets_per_second_max;
    nghttp2_option_set_stream_reset_rate_limit(
        opt, burst < NGHTTP2_RESET_BURST_MIN ? NGHTTP2_RESET_BURST_MIN : burst,
        2u * (uint64_t)c->lim.resets_per_second_max);
    int rv = nghttp2_session_server_new2(&c->session, cbs, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    return rv == 0 ? 0 : -1;
}

/* Queues the server's SETTINGS and widens the connection window. Returns 0 or -1. */
static int session_greet(struct h2_conn *c)
{
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->lim.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW_BYTES},
    };
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0) {
        return -1;
    }
    int rv = nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
                                                   (int32_t)CONNECTION_WINDOW_BYTES);
    return rv == 0 ? 0 : -1;
}

struct h2_conn *h2_conn_new(const struct h2_limits *lim, const struct h2_callbacks *cb, void *ctx)
{
    assert(lim != NULL);
    assert(cb != NULL);
    assert(lim->body_bytes_max > 0);
    assert(lim->header_bytes_max <= HEADER_BYTES_LIMIT);
    assert(cb->on_stream_open != NULL);
    assert(cb->on_stream_data != NULL);
    assert(cb->on_stream_end != NULL);
    assert(cb->on_stream_close != NULL);
    struct h2_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->cb = *cb;
    c->ctx = ctx;
    c->lim = *lim;
    if (c->lim.max_concurrent_streams == 0) {
        c->lim.max_concurrent_streams = H2_STREAMS_MAX_DEFAULT;
    }
    if (c->lim.header_bytes_max == 0) {
        c->lim.header_bytes_max = HTTP1_HEADER_BYTES_MAX;
    }
    if (c->lim.resets_per_second_max == 0) {
        c->lim.resets_per_second_max = H2_RESETS_PER_SECOND;
    }
    if (session_create(c) != 0) {
        free(c);
        return NULL;
    }
    if (session_greet(c) != 0) {
        nghttp2_session_del(c->session);
        free(c);
        return NULL;
    }
    return c;
}

void h2_conn_free(struct h2_conn *c)
{
    if (c == NULL) {
        return;
    }
    assert(!c->busy);
    /* Bounded by the streams open (at most max_concurrent_streams and the upgrade's). */
    while (c->streams != NULL) {
        struct h2_stream *s = c->streams;
        s->closing = true;
        if (s->state == STREAM_ACCEPTED) {
            c->accepted_open--;
            c->cb.on_stream_close(c->ctx, c, s->id, NGHTTP2_CANCEL);
        }
        stream_free(c, s);
    }
    nghttp2_session_del(c->session);
    http1_out_free(&c->pending);
    free(c);
}

/* --- bytes in and out --- */

/* Appends every frame nghttp2 wants to send now. The loop ends when nghttp2 has nothing more:
 * what it can send is bounded by the queued answers and the client's flow-control windows.
 * Returns 0, or -1 (the connection failed). */
static int session_drain(struct h2_conn *c, struct http1_out *out)
{
    for (;;) {
        const uint8_t *bytes;
        ssize_t n = nghttp2_session_mem_send(c->session, &bytes);
        if (n < 0) {
            return conn_fail(c, "http2: %s", nghttp2_strerror((int)n));
        }
        if (n == 0) {
            return 0;
        }
        if (http1_out_append(out, bytes, (size_t)n) != 0) {
            return conn_fail(c, "http2: out of memory");
        }
    }
}

/* After bytes were taken: send what is due and tell whether the connection must end. */
static int conn_settle(struct h2_conn *c, char *msg, size_t msg_cap)
{
    session_drain(c, &c->pending);
    if (c->goaway_error_sent) {
        conn_fail(c, "http2: connection error %s%s%s", nghttp2_http2_strerror(c->goaway_error_code),
                  c->lib_msg[0] ? ": " : "", c->lib_msg);
    }
    if (c->failed) {
        copy_msg(msg, msg_cap, c->reason);
        return -1;
    }
    return 0;
}

int h2_feed(struct h2_conn *c, const uint8_t *data, size_t len, char *msg, size_t msg_cap)
{
    assert(c != NULL);
    assert(!c->busy);
    assert(data != NULL || len == 0);
    if (c->failed) {
        copy_msg(msg, msg_cap, c->reason);
        return -1;
    }
    c->busy = true;
    c->lib_msg[0] = '\0';
    ssize_t rv = nghttp2_session_mem_recv(c->session, data, len);
    if (rv < 0) {
        conn_fail(c, "http2: %s", nghttp2_strerror((int)rv));
        /* Best effort: a GOAWAY for the client; nghttp2 queued none for a fatal error. */
        nghttp2_session_terminate_session(c->session, NGHTTP2_PROTOCOL_ERROR);
    } else {
        assert((size_t)rv == len); /* no callback pauses */
    }
    int rc = conn_settle(c, msg, msg_cap);
    c->busy = false;
    return rc;
}

int h2_output(struct h2_conn *c, struct http1_out *o)
{
    assert(c != NULL);
    assert(o != NULL);
    assert(!c->busy);
    if (http1_out_append(o, c->pending.data, c->pending.len) != 0) {
        return -1;
    }
    c->pending.len = 0;
    c->busy = true;
    int rc = session_drain(c, o); /* frames appended before a failure are whole */
    c->busy = false;
    return rc;
}

bool h2_done(const struct h2_conn *c)
{
    assert(c != NULL);
    if (c->pending.len > 0 || nghttp2_session_want_write(c->session)) {
        return false;
    }
    return c->failed || !nghttp2_session_want_read(c->session);
}

/* --- answers --- */

/* Copies `n` headers into nghttp2_nv form (pointing at the caller's strings); NULL when over
 * the limits or out of memory. The caller frees the array. */
static nghttp2_nv *nv_array(const struct h2_header *h, size_t n)
{
    if (n > SEND_FIELDS_MAX) {
        return NULL;
    }
    nghttp2_nv *nv = calloc(n > 0 ? n : 1, sizeof *nv);
    if (nv == NULL) {
        return NULL;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        nv[i].name = (uint8_t *)(uintptr_t)h[i].name;
        nv[i].value = (uint8_t *)(uintptr_t)h[i].value;
        nv[i].namelen = strlen(h[i].name);
        nv[i].valuelen = strlen(h[i].value);
        nv[i].flags = NGHTTP2_NV_FLAG_NONE;
        bytes += nv[i].namelen + nv[i].valuelen;
        if (bytes > SEND_HEADER_BYTES_MAX) {
            free(nv);
            return NULL;
        }
    }
    return nv;
}

/* The stream if the application may answer on it now, else NULL. */
static struct h2_stream *stream_answerable(const struct h2_conn *c, int32_t id)
{
    struct h2_stream *s = stream_find(c, id);
    if (s == NULL || s->state != STREAM_ACCEPTED || s->reset_sent || s->closing) {
        return NULL;
    }
    return s;
}

/* nghttp2 took more to send: a deferred body continues. */
static int stream_resume(struct h2_conn *c, struct h2_stream *s)
{
    if (!s->deferred) {
        return 0;
    }
    s->deferred = false;
    return nghttp2_session_resume_data(c->session, s->id) == 0 ? 0 : -1;
}

int h2_send_headers(struct h2_conn *c, int32_t id, const struct h2_header *h, size_t n,
                    bool end_stream)
{
    assert(c != NULL);
    assert(h != NULL || n == 0);
    struct h2_stream *s = stream_answerable(c, id);
    if (s == NULL || s->headers_sent) {
        return -1;
    }
    nghttp2_nv *nv = nv_array(h, n);
    if (nv == NULL) {
        return -1;
    }
    nghttp2_data_provider provider = {.source = {.ptr = s}, .read_callback = stream_data_read};
    int rv = nghttp2_submit_response(c->session, id, nv, n, end_stream ? NULL : &provider);
    free(nv);
    if (rv != 0) {
        return -1;
    }
    s->headers_sent = true;
    s->has_provider = !end_stream;
    s->out_end = end_stream;
    return 0;
}

int h2_send_data(struct h2_conn *c, int32_t id, const void *data, size_t len, bool end_stream)
{
    assert(c != NULL);
    assert(data != NULL || len == 0);
    struct h2_stream *s = stream_answerable(c, id);
    if (s == NULL || !s->has_provider || s->out_end) {
        return -1;
    }
    if (len > 0 && queue_push(&s->out, data, len, STREAM_OUT_BYTES_MAX) != 0) {
        return -1;
    }
    s->out_end = end_stream;
    return stream_resume(c, s);
}

/* One allocation holding the nv array and copies of the strings; NULL over the limits or out
 * of memory. */
static nghttp2_nv *nv_copy(const struct h2_header *h, size_t n)
{
    nghttp2_nv *ref = nv_array(h, n);
    if (ref == NULL) {
        return NULL;
    }
    size_t bytes = n * sizeof *ref;
    for (size_t i = 0; i < n; i++) {
        bytes += ref[i].namelen + ref[i].valuelen + 2;
    }
    nghttp2_nv *nv = malloc(bytes);
    if (nv == NULL) {
        free(ref);
        return NULL;
    }
    uint8_t *p = (uint8_t *)(nv + n);
    for (size_t i = 0; i < n; i++) {
        nv[i] = ref[i];
        nv[i].name = p;
        memcpy(p, ref[i].name, ref[i].namelen + 1);
        p += ref[i].namelen + 1;
        nv[i].value = p;
        memcpy(p, ref[i].value, ref[i].valuelen + 1);
        p += ref[i].valuelen + 1;
    }
    free(ref);
    return nv;
}

int h2_send_trailers(struct h2_conn *c, int32_t id, const struct h2_header *h, size_t n)
{
    assert(c != NULL);
    assert(h != NULL || n == 0);
    struct h2_stream *s = stream_answerable(c, id);
    if (s == NULL || !s->has_provider || s->out_end || n == 0) {
        return -1;
    }
    nghttp2_nv *nv = nv_copy(h, n);
    if (nv == NULL) {
        return -1;
    }
    s->trailers = nv;
    s->trailers_count = n;
    s->out_end = true;
    return stream_resume(c, s);
}

int h2_reset(struct h2_conn *c, int32_t id, uint32_t error_code)
{
    assert(c != NULL);
    struct h2_stream *s = stream_find(c, id);
    if (s == NULL || s->closing || s->reset_sent) {
        return -1;
    }
    return stream_reset(c, s, error_code);
}

void h2_shutdown(struct h2_conn *c)
{
    assert(c != NULL);
    int32_t last = nghttp2_session_get_last_proc_stream_id(c->session);
    (void)nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0);
}

uint32_t h2_streams_open(const struct h2_conn *c)
{
    assert(c != NULL);
    return c->accepted_open;
}

/* --- HTTP/1.1 upgrade --- */

static int base64url_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }
    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }
    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }
    if (ch == '-') {
        return 62;
    }
    return ch == '_' ? 63 : -1;
}

/* Decodes base64url (RFC 4648 §5; trailing '=' optional) into out[cap]. Returns the length, or
 * -1 when malformed or too long. */
static long base64url_decode(const char *text, uint8_t *out, size_t cap)
{
    size_t n = strnlen(text, SETTINGS_BASE64_BYTES_MAX + 1);
    if (n > SETTINGS_BASE64_BYTES_MAX) {
        return -1;
    }
    for (int pad = 0; pad < 2 && n > 0 && text[n - 1] == '='; pad++) {
        n--;
    }
    if (n % 4 == 1) {
        return -1;
    }
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int v = base64url_value(text[i]);
        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (len == cap) {
                return -1;
            }
            out[len++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1u;
        }
    }
    return (long)len;
}

/* Stream 1's header block in HTTP/2 form (see the top of the file). Returns 0 or -1. */
static int upgrade_headers(struct h2_conn *c, struct h2_stream *s, const struct http_request *r)
{
    const char *method = http_method_str((enum http_method)r->method);
    const char *target = r->target != NULL ? r->target : "/";
    const struct h2_header fields[] = {
        {":method", method},
        {":path", target},
        {":scheme", "http"},
        {"content-type", r->content_type},
        {"authorization", r->authorization},
        {"prefer", r->prefer},
        {"origin", r->origin},
        {"accept", r->accept},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const struct h2_header *f = &fields[i];
        if (f->value != NULL &&
            header_add(c, s, f->name, strlen(f->name), f->value, strlen(f->value)) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Reports stream 1: its header block, body and end. Returns 0, or -1 out of memory. */
static int upgrade_report(struct h2_conn *c, const struct http_request *req)
{
    struct h2_stream *s = stream_new(c, 1);
    if (s == NULL) {
        return -1;
    }
    if (nghttp2_session_set_stream_user_data(c->session, 1, s) != 0) {
        stream_free(c, s);
        return -1;
    }
    /* On failure the stream is not accepted: its record goes when the reset closes it. */
    if (upgrade_headers(c, s, req) != 0 || stream_headers_done(c, s) != 0) {
        stream_reset(c, s, NGHTTP2_INTERNAL_ERROR);
        return -1;
    }
    stream_body(c, s, req->body, req->body_len);
    stream_end(c, s);
    return 0;
}

int h2_conn_upgrade(struct h2_conn *c, const char *settings, const struct http_request *req,
                    char *msg, size_t msg_cap)
{
    assert(c != NULL);
    assert(req != NULL);
    assert(!c->busy);
    uint8_t payload[SETTINGS_PAYLOAD_BYTES_MAX];
    long len = settings != NULL ? base64url_decode(settings, payload, sizeof payload) : -1;
    if (len < 0) {
        copy_msg(msg, msg_cap, "http2: the HTTP2-Settings value is not base64url");
        return -1;
    }
    if (c->upgraded || c->failed) {
        copy_msg(msg, msg_cap, "http2: the connection cannot be upgraded now");
        return -1;
    }
    int rv =
        nghttp2_session_upgrade2(c->session, payload, (size_t)len, req->method == HTTP_HEAD, NULL);
    if (rv != 0) {
        snprintf(msg, msg_cap, "http2: bad HTTP2-Settings value: %s", nghttp2_strerror(rv));
        return -1;
    }
    c->upgraded = true;
    c->busy = true;
    c->lib_msg[0] = '\0';
    /* nghttp2 applies bad setting values by queueing a GOAWAY: find out before reporting. */
    int rc = conn_settle(c, msg, msg_cap);
    if (rc == 0 && upgrade_report(c, req) != 0) {
        copy_msg(msg, msg_cap, "http2: out of memory");
        rc = -1;
    }
    c->busy = false;
    return rc;
}
