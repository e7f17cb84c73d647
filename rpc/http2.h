/*
 * http2.h — one HTTP/2 server connection over nghttp2, without sockets:
 * bytes in (h2_feed), bytes out (h2_output), streams reported through
 * callbacks as their headers, body bytes and end arrive, answers sent with
 * h2_send_* (which queue; h2_output then takes what nghttp2 lets out under
 * flow control). REST and gRPC (rpc/grpc.h) sit on top in rpc/server.c.
 *
 * Limits: at most `max_concurrent_streams` open streams (SETTINGS; more are
 * refused with RST_STREAM REFUSED_STREAM), a header block of at most
 * `header_bytes_max` (the stream is answered 431 and reset), a request body
 * of at most `body_bytes_max` per stream (reset with code 0xb
 * ENHANCE_YOUR_CALM after the callback is told with on_stream_close), and
 * protection against reset floods: more than `resets_per_second_max`
 * RST_STREAM frames from the client in one second ends the connection with
 * GOAWAY ENHANCE_YOUR_CALM.
 */
#ifndef HDB_RPC_HTTP2_H
#define HDB_RPC_HTTP2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/http1.h"

#define H2_STREAMS_MAX_DEFAULT 100u
#define H2_RESETS_PER_SECOND   200u

struct h2_header {
    const char *name; /* lower case; pseudo-headers start with ':' */
    const char *value;
};

struct h2_limits {
    uint32_t max_concurrent_streams; /* 0: H2_STREAMS_MAX_DEFAULT */
    size_t header_bytes_max;         /* 0: HTTP1_HEADER_BYTES_MAX */
    size_t body_bytes_max;           /* required */
    uint32_t resets_per_second_max;  /* 0: H2_RESETS_PER_SECOND */
};

struct h2_conn;

/* Called from inside h2_feed (and h2_conn_upgrade). Names and values are valid during the call
 * only. A callback may call h2_send_* and h2_reset on the same connection. */
struct h2_callbacks {
    /* A stream's request header block is complete (all of it, in order, pseudo-headers
     * included). Return 0 to accept; or an HTTP status (e.g. 400) to have the stream answered
     * with that status and an empty body, and no more callbacks for it. */
    int (*on_stream_open)(void *ctx, struct h2_conn *c, int32_t id, const struct h2_header *h,
                          size_t n);
    /* Request body bytes of an accepted stream, in order, in pieces of any size. Return 0, or
     * non-zero to reset the stream (INTERNAL_ERROR). */
    int (*on_stream_data)(void *ctx, struct h2_conn *c, int32_t id, const uint8_t *data,
                          size_t len);
    /* The client ended its side of an accepted stream (END_STREAM). */
    void (*on_stream_end)(void *ctx, struct h2_conn *c, int32_t id);
    /* An accepted stream is gone (answered and closed, reset by either side, or the connection
     * ended): forget it. error_code 0 means it ended normally. Called once per accepted stream. */
    void (*on_stream_close)(void *ctx, struct h2_conn *c, int32_t id, uint32_t error_code);
};

/* A server session; sends the server's SETTINGS (queued for h2_output). NULL: out of memory. */
struct h2_conn *h2_conn_new(const struct h2_limits *lim, const struct h2_callbacks *cb, void *ctx);
void h2_conn_free(struct h2_conn *c);

/*
 * An HTTP/1.1 request with `Upgrade: h2c` becomes stream 1 (RFC 7540 3.2): `settings` is its
 * HTTP2-Settings header (base64url), `req` the request itself; on_stream_open, on_stream_data
 * (its body) and on_stream_end run for it now. The caller has already written "HTTP/1.1 101
 * Switching Protocols" (with Connection: Upgrade, Upgrade: h2c) and then feeds what follows
 * (the client's preface). Returns 0, or -1 with msg (a bad HTTP2-Settings value).
 */
int h2_conn_upgrade(struct h2_conn *c, const char *settings, const struct http_request *req,
                    char *msg, size_t msg_cap);

/* Feeds received bytes (the client preface first). Returns 0, or -1 when the connection must
 * end (a protocol error, a reset flood): h2_output then holds the GOAWAY to send before closing;
 * msg says why. */
int h2_feed(struct h2_conn *c, const uint8_t *data, size_t len, char *msg, size_t msg_cap);

/* Appends the bytes nghttp2 has to send now (frames, under flow control). Returns 0, or -1 out
 * of memory. */
int h2_output(struct h2_conn *c, struct http1_out *o);
/* Nothing more to read or write (both sides are done, or a GOAWAY went out): close. */
bool h2_done(const struct h2_conn *c);

/* Answers: the response header block (":status" first), then body bytes (copied into the
 * stream's queue), then trailers or the end. end_stream on headers or data ends the stream. */
int h2_send_headers(struct h2_conn *c, int32_t id, const struct h2_header *h, size_t n,
                    bool end_stream);
int h2_send_data(struct h2_conn *c, int32_t id, const void *data, size_t len, bool end_stream);
int h2_send_trailers(struct h2_conn *c, int32_t id, const struct h2_header *h, size_t n);
int h2_reset(struct h2_conn *c, int32_t id, uint32_t error_code);
/* Graceful end: GOAWAY with the last stream id; open streams may finish. */
void h2_shutdown(struct h2_conn *c);
/* Streams open now (accepted and not yet closed). */
uint32_t h2_streams_open(const struct h2_conn *c);

#endif
