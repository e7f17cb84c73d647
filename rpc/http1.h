/*
 * http1.h — HTTP/1.1 requests and responses for the server's front end,
 * over http-parser (Debian's libhttp-parser). No sockets here: a connection
 * feeds the bytes it received and takes complete requests out in order
 * (pipelining), then appends each response to its output buffer.
 *
 * Limits (each with the status the caller answers before closing): the
 * request line and headers together at most `header_bytes_max` (431), a
 * body at most `body_bytes_max` (413), at most `pipeline_max` complete
 * requests waiting (the caller stops reading until it took some out),
 * malformed bytes (400). Chunked request bodies are accepted.
 */
#ifndef HDB_RPC_HTTP1_H
#define HDB_RPC_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP1_HEADER_BYTES_MAX 16384u /* default header_bytes_max */
#define HTTP1_PIPELINE_MAX     64u    /* default pipeline_max */
#define HTTP1_URL_BYTES_MAX    8192u  /* a longer request target is refused with 414 */

/* One complete request. Strings are NUL-terminated copies owned by the request; a header the
 * request did not carry is NULL. */
struct http_request {
    int method;   /* enum http_method of http_parser.h (HTTP_GET, HTTP_POST, ...) */
    char *target; /* the request target as sent ("/v1/users?id=eq.5") */
    char *path;   /* the target up to '?', percent-decoded ("/v1/users") */
    char *query;  /* after '?' (not decoded), or NULL */
    char *content_type, *authorization, *prefer, *origin, *accept;
    char *upgrade, *http2_settings, *connection;
    uint8_t *body; /* NUL-terminated (not counted in body_len); NULL when empty */
    size_t body_len;
    bool keep_alive; /* the connection stays open after the response (HTTP/1.1 default) */
    int http_major, http_minor;
};
void http_request_free(struct http_request *r);

struct http1_limits {
    size_t header_bytes_max; /* 0: HTTP1_HEADER_BYTES_MAX */
    size_t body_bytes_max;   /* required: [api] max_request_size_mb in bytes */
    uint32_t pipeline_max;   /* 0: HTTP1_PIPELINE_MAX */
};

/* A connection's parser state (opaque). */
struct http1_conn;
struct http1_conn *http1_conn_new(const struct http1_limits *limits);
void http1_conn_free(struct http1_conn *c);

/*
 * Feeds received bytes. Returns 0 when they were taken (any completed requests are queued), or
 * the HTTP status to answer before closing (400, 413, 414, 431) with a message in msg. Bytes after
 * a request that asked to close (Connection: close) or to upgrade are not parsed: the caller
 * reads *consumed to find them (an HTTP/2 client's first bytes after Upgrade: h2c).
 */
int http1_feed(struct http1_conn *c, const uint8_t *data, size_t len, size_t *consumed, char *msg,
               size_t msg_cap);
/* The oldest complete request not yet taken, or NULL; the caller owns it. */
struct http_request *http1_next(struct http1_conn *c);
/* Complete requests waiting; http1_feed refuses more bytes past pipeline_max (returns 0 and
 * consumes nothing), so the caller stops reading until it takes some. */
uint32_t http1_pending(const struct http1_conn *c);

/* Is a request partly received (its start seen, its end not yet)? For request timeouts. */
bool http1_partial(const struct http1_conn *c);

/* A growable output buffer. */
struct http1_out {
    uint8_t *data;
    size_t len, cap;
};
void http1_out_free(struct http1_out *o);
/* Makes room for `n` more bytes (o->len unchanged) by doubling from 256 bytes. Returns 0, or -1 out
 * of memory or when o->len + n would overflow; `o` is then unchanged. */
int http1_out_reserve(struct http1_out *o, size_t n);
/* Appends `len` bytes (`data` may be NULL when `len` is 0), whole or not at all. Returns 0, or -1
 * as http1_out_reserve. */
int http1_out_append(struct http1_out *o, const void *data, size_t len);
/*
 * Appends a whole response: status line with the standard reason phrase, Content-Type (if not
 * NULL), Content-Length, `Connection: close` when !keep_alive, then `extra_headers` as given
 * (each line ending in CRLF; may be NULL), a blank line and the body. Returns 0, or -1 out of
 * memory.
 */
int http1_respond(struct http1_out *o, int status, const char *content_type,
                  const char *extra_headers, const void *body, size_t body_len, bool keep_alive);
/* The standard reason phrase ("OK", "Not Found", ...; "Unknown" for others). */
const char *http1_reason(int status);

#endif
