/*
 * server.h — `heliosdb serve`'s network front end (docs/server.md).
 *
 * One network "thread" (struct net_thread) per shard thread, run by that
 * shard thread between its shards' turns (hdb_db_set_service): each binds
 * every configured port with SO_REUSEPORT, so the kernel spreads
 * connections over them, and serves its connections: accept, receive and
 * send through its own io_uring (rpc/netio.h), or epoll where io_uring is
 * unavailable. A connection lives on the thread that accepted it. Each has
 * one SQL connection (heliosdb_conn); the executor's waits for shard replies
 * run the thread's own shards meanwhile, so it never waits for itself.
 *
 * Served now: HTTP/1.1 with keep-alive and pipelining (rpc/http1.h) and
 * HTTP/2 by prior knowledge or Upgrade: h2c (rpc/http2.h) on every port; the
 * fixed REST routes /health, /ready, /metrics, POST /v1/_sql and
 * POST /v1/_batch (rpc/sqljson.h); gRPC (rpc/grpc.h); bearer-token
 * authentication, CORS, TLS (rpc/tls.h).
 */
#ifndef HDB_RPC_SERVER_H
#define HDB_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heliosdb.h"

#define SERVER_THREADS_MAX   256u
#define SERVER_TOKENS_MAX    65u /* [api] auth_tokens (64) and auth_token_env */
#define SERVER_LISTENERS_MAX 4u  /* rest, grpc, metrics, health ports */

struct hdb_server_opts {
    const char *bind_address; /* an IPv4 or IPv6 address ("127.0.0.1", "::1", "0.0.0.0") */
    uint16_t ports[SERVER_LISTENERS_MAX]; /* rest, grpc, metrics, health; 0: none; equal share */
    uint32_t max_connections;             /* over all threads; more are answered 503 and closed */
    size_t max_request_bytes;             /* a request body ([api] max_request_size_mb) */
    size_t max_header_bytes;              /* request line and headers ([api] max_header_bytes) */
    uint32_t max_concurrent_streams;      /* HTTP/2 streams open at once on one connection */
    uint32_t idle_timeout_ms;             /* close a connection idle this long (0: never) */
    uint32_t request_timeout_ms; /* a request must arrive whole, and its statements end, in this */
    const char *tokens[SERVER_TOKENS_MAX]; /* accepted bearer tokens; none: no authentication */
    uint32_t ntokens;
    bool enable_cors;
    const char *readiness_query; /* what /ready runs */
    double recovery_ms;          /* how long opening the database took (/metrics) */
    bool rest_tables;            /* [schema] auto_generate_rest: /v1/{table} routes */
    bool grpc_tables;            /* [schema] auto_generate_grpc: per-table gRPC services */
    const char *tls_cert_path;   /* [api.tls] enabled: every connection is TLS (else NULL) */
    const char *tls_key_path;
    bool use_io_uring; /* [io] use_io_uring: network I/O through io_uring (else epoll) */
};

struct hdb_server;

/*
 * Binds every port on every thread and starts the threads. On failure returns a HELIOSDB_*
 * status with a message naming the address and port (msg, msg_cap) and starts nothing.
 */
int hdb_server_start(heliosdb *db, const struct hdb_server_opts *o, struct hdb_server **out,
                     char *msg, size_t msg_cap);
/* Shutting down, first step: /ready answers 503 and the listeners close (no new connection). */
void hdb_server_stop_accepting(struct hdb_server *s);
/*
 * Second step: waits up to timeout_ms for the requests being served and the answers being sent
 * (idle connections close at once), then closes every connection and joins the threads. Returns
 * the number of connections that were still busy at the deadline.
 */
uint32_t hdb_server_drain(struct hdb_server *s, uint32_t timeout_ms);
void hdb_server_free(struct hdb_server *s);

/* Counters for /metrics and the logs (read without locks; each is one atomic word). */
struct hdb_server_stats {
    uint64_t connections_accepted, connections_open, connections_refused;
    uint64_t requests, responses_2xx, responses_4xx, responses_5xx;
    uint32_t network_threads_io_uring; /* threads whose I/O goes through io_uring (others: epoll) */
};
void hdb_server_stats(const struct hdb_server *s, struct hdb_server_stats *out);

#endif
