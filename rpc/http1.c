/*
 * http1.c — HTTP/1.1 requests in, responses out (see http1.h), over Debian's http-parser 2.9.
 *
 * How a feed runs. http1_feed hands the bytes to http_parser_execute in segments: the parser is
 * paused in on_headers_complete and in on_message_complete, so one segment never spans more
 * than one phase of one message (IDLE/HEAD up to the end of the header block, then BODY up to
 * the end of the message). That gives three things without reading the parser's private fields:
 *   - exact header accounting: every byte of a segment that starts in IDLE or HEAD is a header
 *     byte (leading blank lines included), so a data callback knows the exact count so far as
 *     `hdr_base + (at + length - seg)`, and the segment's return value closes the count;
 *   - pipelining control: after each complete request the loop checks pipeline_max and whether
 *     the request asked to close or upgrade, and stops with *consumed at the request's end;
 *   - the body limit is checked before a body byte is taken.
 *
 * A request is built in `cur` while it is parsed: the URL, the value of the header being read
 * (only when it is one the struct keeps) and the body accumulate in bounded growable buffers,
 * then move into the request. Requests wait in a ring of pipeline_max slots allocated up front.
 *
 * Decisions the header leaves open:
 *   - A kept header that appears twice keeps its first value; later ones are ignored.
 *     Trailing spaces and tabs of a value are trimmed (http-parser drops the leading ones).
 *   - `path` and `query` stop at a '#' (a fragment is never meant for the server).
 *   - Headers in a chunked body's trailer are not kept but count against header_bytes_max.
 *   - A request is an upgrade (parsing stops after it) as http-parser decides: `Upgrade` together
 *     with `Connection: upgrade`, or CONNECT. A lone Upgrade header is only kept as a string.
 *   - After a request that stopped parsing, http1_feed takes nothing more (returns 0 with
 *     *consumed 0). After an error it keeps returning that error, consuming nothing.
 *   - Out of memory while parsing answers 500.
 *   - http1_respond leaves out Content-Length for 1xx, 204 and 304 (RFC 9110 §8.6, §15.4.5);
 *     those responses carry no body.
 *   - http-parser's own header limit is process-wide; it is raised once (pthread_once) to
 *     HEADER_BYTES_LIBRARY_MAX so that only header_bytes_max decides.
 */
#include "rpc/http1.h"

#include <assert.h>
#include <http_parser.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEADER_BYTES_LIMIT        (1024u * 1024u) /* largest header_bytes_max accepted */
#define HEADER_BYTES_LIBRARY_MAX  (HEADER_BYTES_LIMIT + 64u * 1024u)
#define PIPELINE_LIMIT            4096u /* largest pipeline_max accepted */
#define FIELD_NAME_KEPT_BYTES_MAX 16u   /* longer than any kept header name */
#define BUF_BYTES_MIN             64u
#define CONN_MSG_BYTES            160u
#define OUT_BYTES_MIN             256u
#define STATUS_LINE_BYTES_MAX     64u /* "HTTP/1.1 ddd " + the longest reason + CRLF */
#define LENGTH_LINE_BYTES_MAX     48u /* "Content-Length: " + 20 digits + CRLF */

static_assert(HTTP1_URL_BYTES_MAX >= 1, "a request target needs at least one byte");
static_assert(HEADER_BYTES_LIBRARY_MAX > HEADER_BYTES_LIMIT,
              "our header limit must fire before http-parser's");
static_assert(HTTP1_HEADER_BYTES_MAX <= HEADER_BYTES_LIMIT, "the default must be accepted");
static_assert(HTTP1_PIPELINE_MAX <= PIPELINE_LIMIT, "the default must be accepted");

/* Where the connection is within the current message. */
enum phase {
    PHASE_IDLE, /* between messages */
    PHASE_HEAD, /* request line and headers */
    PHASE_BODY, /* after the header block, until the message completes */
};

/* A growable byte buffer; `cap` counts a byte kept free for a terminating NUL. */
struct buf {
    char *data;
    size_t len, cap;
};

/* The headers a request keeps: lower-case name and where it goes in struct http_request. */
struct kept_header {
    const char *name;
    size_t offset;
};

static const struct kept_header kept_headers[] = {
    {"content-type", offsetof(struct http_request, content_type)},
    {"authorization", offsetof(struct http_request, authorization)},
    {"prefer", offsetof(struct http_request, prefer)},
    {"origin", offsetof(struct http_request, origin)},
    {"accept", offsetof(struct http_request, accept)},
    {"upgrade", offsetof(struct http_request, upgrade)},
    {"http2-settings", offsetof(struct http_request, http2_settings)},
    {"connection", offsetof(struct http_request, connection)},
};
#define KEPT_HEADERS_COUNT (sizeof kept_headers / sizeof kept_headers[0])

struct http1_conn {
    http_parser parser;
    size_t header_bytes_max, body_bytes_max;
    uint32_t pipeline_max;

    struct http_request **queue; /* ring of pipeline_max slots */
    uint32_t queue_head, queue_count;

    enum phase phase;
    bool stopped;             /* a request asked to close or upgrade: take no more bytes */
    int status;               /* sticky error status, 0 while none */
    char msg[CONN_MSG_BYTES]; /* its message */

    /* The request being parsed. */
    struct http_request *cur;
    struct buf url, value, body;
    char field[FIELD_NAME_KEPT_BYTES_MAX];
    size_t field_len;     /* whole name length, may exceed sizeof field */
    int header_index;     /* kept_headers index of the value being read, or -1 */
    bool in_value;        /* the last header callback was a value */
    size_t trailer_bytes; /* chunked trailer bytes seen */

    /* Header accounting for the segment being parsed (see the top of the file). */
    const char *seg;
    size_t hdr_base, hdr_bytes;
};

/* --- small helpers --- */

/* Records the connection's error (the first one wins); returns -1 for callbacks to pass on. */
static int conn_fail(struct http1_conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int conn_fail(struct http1_conn *c, int status, const char *fmt, ...)
{
    assert(status >= 400);
    if (c->status != 0) {
        return -1;
    }
    c->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Makes room for `n` more bytes and a NUL, doubling but never past `cap_max` (>= the need).
 * Returns 0, or -1 out of memory. */
static int buf_reserve(struct buf *b, size_t n, size_t cap_max)
{
    size_t need = b->len + n + 1;
    assert(need > b->len);
    assert(need <= cap_max);
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap < BUF_BYTES_MIN ? BUF_BYTES_MIN : b->cap;
    while (cap < need) {
        cap = cap > cap_max / 2 ? cap_max : cap * 2;
    }
    cap = cap > cap_max ? cap_max : cap;
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

/* Appends `n` bytes (the caller checked the limit behind `cap_max`). Returns 0, or -1 OOM. */
static int buf_append(struct buf *b, const char *at, size_t n, size_t cap_max)
{
    if (buf_reserve(b, n, cap_max) != 0) {
        return -1;
    }
    memcpy(b->data + b->len, at, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* Hands over the NUL-terminated contents (an empty string when nothing was appended) and
 * empties the buffer. Returns NULL out of memory. */
static char *buf_take(struct buf *b)
{
    if (b->data == NULL && buf_reserve(b, 0, 1) != 0) {
        return NULL;
    }
    char *data = b->data;
    *b = (struct buf){0};
    return data;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    *b = (struct buf){0};
}

static char *copy_bytes(const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (copy != NULL) {
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Percent-decodes `n` bytes into `out` (room for n + 1) and NUL-terminates it. Returns 0, or -1
 * for a bad %xx escape or an escape that decodes to NUL. */
static int percent_decode(const char *s, size_t n, char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[len++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            return -1;
        }
        out[len++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[len] = '\0';
    return 0;
}

/* --- building the current request --- */

static char **request_header_slot(struct http_request *r, size_t index)
{
    assert(index < KEPT_HEADERS_COUNT);
    return (char **)(void *)((char *)r + kept_headers[index].offset);
}

/* The kept_headers index of the field name just read, or -1. */
static int kept_header_index(const struct http1_conn *c)
{
    if (c->field_len > sizeof c->field) {
        return -1;
    }
    for (size_t i = 0; i < KEPT_HEADERS_COUNT; i++) {
        const char *name = kept_headers[i].name;
        if (strlen(name) == c->field_len && strncasecmp(name, c->field, c->field_len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Stores the header value just read if its header is kept and not yet set. Returns 0 or -1. */
static int header_finish(struct http1_conn *c)
{
    int index = c->header_index;
    c->header_index = -1;
    c->in_value = false;
    c->field_len = 0;
    if (index < 0) {
        return 0;
    }
    char **slot = request_header_slot(c->cur, (size_t)index);
    assert(*slot == NULL); /* parser_on_header_value skips repeats */
    while (c->value.len > 0 &&
           (c->value.data[c->value.len - 1] == ' ' || c->value.data[c->value.len - 1] == '\t')) {
        c->value.data[--c->value.len] = '\0';
    }
    *slot = buf_take(&c->value);
    if (*slot == NULL) {
        return conn_fail(c, 500, "out of memory");
    }
    return 0;
}

/* Moves the URL into target, path (decoded) and query. Returns 0 or -1. */
static int request_set_target(struct http1_conn *c)
{
    struct http_request *r = c->cur;
    if (c->url.len == 0) {
        return conn_fail(c, 400, "malformed request: empty request target");
    }
    r->target = buf_take(&c->url);
    if (r->target == NULL) {
        return conn_fail(c, 500, "out of memory");
    }
    size_t path_len = strcspn(r->target, "?#");
    if (r->target[path_len] == '?') {
        const char *query = r->target + path_len + 1;
        r->query = copy_bytes(query, strcspn(query, "#"));
        if (r->query == NULL) {
            return conn_fail(c, 500, "out of memory");
        }
    }
    r->path = malloc(path_len + 1);
    if (r->path == NULL) {
        return conn_fail(c, 500, "out of memory");
    }
    if (percent_decode(r->target, path_len, r->path) != 0) {
        return conn_fail(c, 400, "bad percent-escape in the request path");
    }
    return 0;
}

/* Checks the exact header bytes seen up to `end` (a pointer into the current segment). */
static int check_header_bytes(struct http1_conn *c, const char *end)
{
    assert(c->phase == PHASE_HEAD);
    assert(end >= c->seg);
    size_t seen = c->hdr_base + (size_t)(end - c->seg);
    if (seen > c->header_bytes_max) {
        return conn_fail(c, 431, "request line and headers exceed %zu bytes", c->header_bytes_max);
    }
    return 0;
}

/* --- http-parser callbacks --- */

static int parser_on_message_begin(http_parser *p)
{
    struct http1_conn *c = p->data;
    assert(c->cur == NULL);
    assert(c->phase == PHASE_IDLE);
    c->phase = PHASE_HEAD;
    c->header_index = -1;
    c->in_value = false;
    c->field_len = 0;
    c->trailer_bytes = 0;
    c->cur = calloc(1, sizeof *c->cur);
    if (c->cur == NULL) {
        return conn_fail(c, 500, "out of memory");
    }
    return 0;
}

static int parser_on_url(http_parser *p, const char *at, size_t length)
{
    struct http1_conn *c = p->data;
    if (c->url.len + length > HTTP1_URL_BYTES_MAX) {
        return conn_fail(c, 414, "request target exceeds %u bytes", HTTP1_URL_BYTES_MAX);
    }
    if (check_header_bytes(c, at + length) != 0) {
        return -1;
    }
    if (buf_append(&c->url, at, length, HTTP1_URL_BYTES_MAX + 1) != 0) {
        return conn_fail(c, 500, "out of memory");
    }
    return 0;
}

/* Header fields and values of a chunked body's trailer: counted, not kept. */
static int trailer_bytes_add(struct http1_conn *c, size_t length)
{
    c->trailer_bytes += length;
    if (c->trailer_bytes > c->header_bytes_max) {
        return conn_fail(c, 431, "chunked trailer exceeds %zu bytes", c->header_bytes_max);
    }
    return 0;
}

static int parser_on_header_field(http_parser *p, const char *at, size_t length)
{
    struct http1_conn *c = p->data;
    if (c->phase == PHASE_BODY) {
        return trailer_bytes_add(c, length);
    }
    if (check_header_bytes(c, at + length) != 0) {
        return -1;
    }
    if (c->in_value && header_finish(c) != 0) {
        return -1;
    }
    if (c->field_len < sizeof c->field) {
        size_t n = sizeof c->field - c->field_len;
        memcpy(c->field + c->field_len, at, length < n ? length : n);
    }
    c->field_len += length;
    return 0;
}

static int parser_on_header_value(http_parser *p, const char *at, size_t length)
{
    struct http1_conn *c = p->data;
    if (c->phase == PHASE_BODY) {
        return trailer_bytes_add(c, length);
    }
    if (check_header_bytes(c, at + length) != 0) {
        return -1;
    }
    if (!c->in_value) {
        c->in_value = true;
        c->header_index = kept_header_index(c);
        if (c->header_index >= 0 && *request_header_slot(c->cur, (size_t)c->header_index)) {
            c->header_index = -1; /* a repeat: the first value stays */
        }
    }
    if (c->header_index >= 0 && buf_append(&c->value, at, length, c->header_bytes_max + 1) != 0) {
        return conn_fail(c, 500, "out of memory");
    }
    return 0;
}

static int parser_on_headers_complete(http_parser *p)
{
    struct http1_conn *c = p->data;
    struct http_request *r = c->cur;
    if (c->in_value && header_finish(c) != 0) {
        return -1;
    }
    if (request_set_target(c) != 0) {
        return -1;
    }
    r->method = (int)p->method;
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    r->keep_alive = http_should_keep_alive(p) != 0;
    bool length_known = !(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX;
    if (length_known && p->content_length > c->body_bytes_max) {
        return conn_fail(c, 413, "request body of %llu bytes exceeds %zu bytes",
                         (unsigned long long)p->content_length, c->body_bytes_max);
    }
    c->phase = PHASE_BODY;
    http_parser_pause(p, 1);
    return 0;
}

static int parser_on_body(http_parser *p, const char *at, size_t length)
{
    struct http1_conn *c = p->data;
    assert(c->phase == PHASE_BODY);
    if (length > c->body_bytes_max - c->body.len) {
        return conn_fail(c, 413, "request body exceeds %zu bytes", c->body_bytes_max);
    }
    if (buf_append(&c->body, at, length, c->body_bytes_max + 1) != 0) {
        return conn_fail(c, 500, "out of memory");
    }
    return 0;
}

static int parser_on_message_complete(http_parser *p)
{
    struct http1_conn *c = p->data;
    struct http_request *r = c->cur;
    assert(c->phase == PHASE_BODY);
    assert(c->queue_count < c->pipeline_max);
    if (c->body.len > 0) {
        r->body_len = c->body.len;
        r->body = (uint8_t *)buf_take(&c->body);
    }
    r->keep_alive = http_should_keep_alive(p) != 0;
    c->queue[(c->queue_head + c->queue_count) % c->pipeline_max] = r;
    c->queue_count++;
    c->cur = NULL;
    c->phase = PHASE_IDLE;
    if (!r->keep_alive || p->upgrade) {
        c->stopped = true;
    }
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = parser_on_message_begin,
    .on_url = parser_on_url,
    .on_header_field = parser_on_header_field,
    .on_header_value = parser_on_header_value,
    .on_headers_complete = parser_on_headers_complete,
    .on_body = parser_on_body,
    .on_message_complete = parser_on_message_complete,
};

/* --- connections --- */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;

static void library_init(void)
{
    http_parser_set_max_header_size(HEADER_BYTES_LIBRARY_MAX);
}

struct http1_conn *http1_conn_new(const struct http1_limits *limits)
{
    assert(limits != NULL);
    assert(limits->body_bytes_max > 0);
    assert(limits->body_bytes_max < SIZE_MAX);
    assert(limits->header_bytes_max <= HEADER_BYTES_LIMIT);
    assert(limits->pipeline_max <= PIPELINE_LIMIT);
    pthread_once(&library_once, library_init);
    struct http1_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->header_bytes_max =
        limits->header_bytes_max ? limits->header_bytes_max : HTTP1_HEADER_BYTES_MAX;
    c->body_bytes_max = limits->body_bytes_max;
    c->pipeline_max = limits->pipeline_max ? limits->pipeline_max : HTTP1_PIPELINE_MAX;
    c->queue = calloc(c->pipeline_max, sizeof *c->queue);
    if (c->queue == NULL) {
        free(c);
        return NULL;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->phase = PHASE_IDLE;
    c->header_index = -1;
    return c;
}

void http1_conn_free(struct http1_conn *c)
{
    if (c == NULL) {
        return;
    }
    while (c->queue_count > 0) {
        http_request_free(http1_next(c));
    }
    http_request_free(c->cur);
    buf_free(&c->url);
    buf_free(&c->value);
    buf_free(&c->body);
    free(c->queue);
    free(c);
}

void http_request_free(struct http_request *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < KEPT_HEADERS_COUNT; i++) {
        free(*request_header_slot(r, i));
    }
    free(r->target);
    free(r->path);
    free(r->query);
    free(r->body);
    free(r);
}

/* Turns a parser error into the connection's status (unless a callback already set one). */
static void conn_fail_parser(struct http1_conn *c, enum http_errno e)
{
    if (e == HPE_HEADER_OVERFLOW) {
        conn_fail(c, 431, "request line and headers exceed %zu bytes", c->header_bytes_max);
    } else if (e == HPE_CB_url || e == HPE_CB_header_field || e == HPE_CB_header_value ||
               e == HPE_CB_headers_complete || e == HPE_CB_body || e == HPE_CB_message_begin ||
               e == HPE_CB_message_complete) {
        assert(c->status != 0);
    } else {
        conn_fail(c, 400, "malformed request: %s", http_errno_description(e));
    }
}

/* Parses one segment (see the top of the file); returns the bytes it took. */
static size_t feed_segment(struct http1_conn *c, const char *data, size_t len)
{
    enum phase phase0 = c->phase;
    c->seg = data;
    c->hdr_base = phase0 == PHASE_HEAD ? c->hdr_bytes : 0;
    if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
        http_parser_pause(&c->parser, 0);
    }
    size_t n = http_parser_execute(&c->parser, &parser_settings, data, len);
    assert(n <= len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e != HPE_OK && e != HPE_PAUSED) {
        conn_fail_parser(c, e);
        return n;
    }
    if (phase0 != PHASE_BODY && c->phase == PHASE_HEAD) {
        c->hdr_bytes = c->hdr_base + n;
    } else if (phase0 != PHASE_BODY && c->phase == PHASE_BODY) {
        c->hdr_bytes = c->hdr_base + n + 1; /* paused on the block's last LF, not yet taken */
    } else {
        return n;
    }
    if (c->hdr_bytes > c->header_bytes_max) {
        conn_fail(c, 431, "request line and headers exceed %zu bytes", c->header_bytes_max);
    }
    return n;
}

static void copy_msg(const struct http1_conn *c, char *msg, size_t msg_cap)
{
    if (msg != NULL && msg_cap > 0) {
        snprintf(msg, msg_cap, "%s", c->msg);
    }
}

int http1_feed(struct http1_conn *c, const uint8_t *data, size_t len, size_t *consumed, char *msg,
               size_t msg_cap)
{
    assert(c != NULL);
    assert(data != NULL || len == 0);
    assert(consumed != NULL);
    *consumed = 0;
    if (c->status != 0) {
        copy_msg(c, msg, msg_cap);
        return c->status;
    }
    /* Each segment takes at least a byte, or ends a header block paused just before its last
     * LF (which the next segment takes): at most two segments a byte. */
    size_t off = 0;
    for (size_t i = 0; off < len && !c->stopped && c->queue_count < c->pipeline_max; i++) {
        assert(i / 2 <= off);
        off += feed_segment(c, (const char *)data + off, len - off);
        if (c->status != 0) {
            *consumed = off;
            copy_msg(c, msg, msg_cap);
            return c->status;
        }
    }
    *consumed = off;
    return 0;
}

struct http_request *http1_next(struct http1_conn *c)
{
    assert(c != NULL);
    if (c->queue_count == 0) {
        return NULL;
    }
    struct http_request *r = c->queue[c->queue_head];
    c->queue[c->queue_head] = NULL;
    c->queue_head = (c->queue_head + 1) % c->pipeline_max;
    c->queue_count--;
    assert(r != NULL);
    return r;
}

bool http1_partial(const struct http1_conn *c)
{
    return c->phase != PHASE_IDLE;
}

uint32_t http1_pending(const struct http1_conn *c)
{
    assert(c != NULL);
    return c->queue_count;
}

/* --- responses --- */

void http1_out_free(struct http1_out *o)
{
    if (o == NULL) {
        return;
    }
    free(o->data);
    *o = (struct http1_out){0};
}

int http1_out_reserve(struct http1_out *o, size_t n)
{
    assert(o != NULL);
    if (n > SIZE_MAX - o->len) {
        return -1;
    }
    size_t need = o->len + n;
    if (need <= o->cap) {
        return 0;
    }
    size_t cap = o->cap < OUT_BYTES_MIN ? OUT_BYTES_MIN : o->cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            return -1;
        }
        cap *= 2;
    }
    uint8_t *data = realloc(o->data, cap);
    if (data == NULL) {
        return -1;
    }
    o->data = data;
    o->cap = cap;
    return 0;
}

int http1_out_append(struct http1_out *o, const void *data, size_t len)
{
    assert(o != NULL);
    assert(data != NULL || len == 0);
    if (len == 0) {
        return 0;
    }
    if (http1_out_reserve(o, len) != 0) {
        return -1;
    }
    memcpy(o->data + o->len, data, len);
    o->len += len;
    return 0;
}

static void out_put(struct http1_out *o, const void *bytes, size_t n)
{
    assert(n <= o->cap - o->len);
    if (n > 0) {
        memcpy(o->data + o->len, bytes, n);
        o->len += n;
    }
}

/* 1xx, 204 and 304 responses carry neither a body nor Content-Length. */
static bool status_has_no_body(int status)
{
    return status < 200 || status == 204 || status == 304;
}

int http1_respond(struct http1_out *o, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t body_len, bool keep_alive)
{
    static const char type_name[] = "Content-Type: ";
    assert(o != NULL);
    assert(status >= 100 && status <= 999);
    assert(body != NULL || body_len == 0);
    assert(!status_has_no_body(status) || body_len == 0);
    assert(content_type == NULL || strpbrk(content_type, "\r\n") == NULL);
    size_t extra_len = extra_headers ? strlen(extra_headers) : 0;
    assert(extra_len == 0 || (extra_len >= 2 && extra_headers[extra_len - 2] == '\r' &&
                              extra_headers[extra_len - 1] == '\n'));

    char status_line[STATUS_LINE_BYTES_MAX];
    int n = snprintf(status_line, sizeof status_line, "HTTP/1.1 %d %s\r\n", status,
                     http1_reason(status));
    assert(n > 0 && (size_t)n < sizeof status_line);
    char length_line[LENGTH_LINE_BYTES_MAX] = "";
    if (!status_has_no_body(status)) {
        int m = snprintf(length_line, sizeof length_line, "Content-Length: %zu\r\n", body_len);
        assert(m > 0 && (size_t)m < sizeof length_line);
        (void)m;
    }
    const char *close_line = keep_alive ? "" : "Connection: close\r\n";
    size_t type_len = content_type ? strlen(content_type) : 0;
    size_t head_len = (size_t)n + strlen(length_line) + strlen(close_line) + 2;
    if (type_len > SIZE_MAX / 4 || extra_len > SIZE_MAX / 4) {
        return -1;
    }
    head_len += extra_len + (content_type ? sizeof type_name - 1 + type_len + 2 : 0);
    if (body_len > SIZE_MAX - head_len || http1_out_reserve(o, head_len + body_len) != 0) {
        return -1;
    }
    out_put(o, status_line, (size_t)n);
    if (content_type != NULL) {
        out_put(o, type_name, sizeof type_name - 1);
        out_put(o, content_type, type_len);
        out_put(o, "\r\n", 2);
    }
    out_put(o, length_line, strlen(length_line));
    out_put(o, close_line, strlen(close_line));
    out_put(o, extra_headers, extra_len);
    out_put(o, "\r\n", 2);
    out_put(o, body, body_len);
    return 0;
}

/* Reason phrases as RFC 9110 names them. */
static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *http1_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        if (reasons[i].status == status) {
            return reasons[i].reason;
        }
    }
    return "Unknown";
}
