/*
 * server.c — the network threads of `heliosdb serve` (see server.h), each
 * one a service that shard thread k runs between its shards' turns
 * (service_turn: one net_turn, which does not wait for the sockets; the shard
 * thread sleeps on the ring's or the epoll set's descriptor instead).
 *
 * Each thread owns an io_uring (rpc/netio.h: multishot accept and receive
 * where the kernel has them; an epoll set where io_uring cannot be used)
 * with its listening sockets (every port, bound with SO_REUSEPORT), an
 * eventfd that wakes it, and its connections. A connection reads into the
 * thread's buffer (io_uring: the ring's provided buffers). Its first bytes
 * decide the protocol: the HTTP/2 preface starts an nghttp2 session (rpc/http2.h),
 * anything else goes to http1 (which queues complete requests; one with
 * Upgrade: h2c switches to HTTP/2 as stream 1). HTTP/1.1 requests are
 * answered in order into the connection's output; HTTP/2 streams are REST
 * requests (gathered until their end, then routed the same way) or gRPC
 * calls (rpc/grpc.h, fed as their bytes arrive). Output is written as far as
 * the socket takes it (EPOLLOUT for the rest); on io_uring a connection has
 * one send in flight, and what is answered meanwhile goes in the next one.
 * Requests run on the thread, one at a time.
 *
 * Shutdown: stop_accepting closes the listeners (each thread its own) and
 * makes /ready answer 503; drain closes idle connections, lets busy ones
 * finish their answers until the deadline, then the service stops (the
 * shard threads then run their shards only).
 */
#include "rpc/server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "rpc/grpc.h"
#include "rpc/grpc_tables.h"
#include "rpc/http1.h"
#include "rpc/http2.h"
#include "rpc/netio.h"
#include "rpc/rest_tables.h"
#include "rpc/sqljson.h"
#include "rpc/tls.h"
#include "sql/api_int.h"

#define NET_EVENTS_MAX    64u
#define NET_READ_BYTES    65536u
#define NET_TICK_MS       100
#define NET_LISTEN_QUEUE  1024
#define NET_OUT_BYTES_MAX (64u << 20) /* answers queued on a connection (io_uring: + a send's) */
#define NET_RING_DRAIN_MS 2000u       /* at the end, how long closed connections' operations get */
#define NET_STOP_MS       5000u /* after the drain: how long a thread gets to close the rest */

static_assert(NET_EVENTS_MAX <= NETIO_EVENTS_MAX, "one netio_wait fills the loop's batch");
static_assert(SERVER_LISTENERS_MAX <= NETIO_LISTENERS_MAX, "every listener has its accept");

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* Request latency histogram bounds, in microseconds (Prometheus `le` in seconds). */
#define LATENCY_BUCKETS 10
static const uint64_t latency_bounds_us[LATENCY_BUCKETS] = {100,  250,   500,   1000,   2500,
                                                            5000, 10000, 50000, 250000, 1000000};
enum { PROTO_HTTP1, PROTO_HTTP2, PROTO_GRPC };

/* Routes as metric labels: fixed templates, so the label set stays bounded whatever the paths
 * (REST first, then gRPC methods; the generated per-table services share one label). */
enum {
    ROUTE_HEALTH,
    ROUTE_READY,
    ROUTE_METRICS,
    ROUTE_SQL,
    ROUTE_BATCH,
    ROUTE_SNAPSHOTS,
    ROUTE_OPENAPI,
    ROUTE_TABLE,
    ROUTE_TABLE_ROW,
    ROUTE_REST_OTHER,
    ROUTE_GRPC_FIRST,
    ROUTE_GRPC_REFLECTION = ROUTE_GRPC_FIRST + 8,
    ROUTE_GRPC_TABLES,
    ROUTE_GRPC_OTHER,
    ROUTES
};
static const char *const route_labels[ROUTES] = {
    "/health",
    "/ready",
    "/metrics",
    "/v1/_sql",
    "/v1/_batch",
    "/v1/_snapshots",
    "/v1/_openapi.json",
    "/v1/{table}",
    "/v1/{table}/{pk}",
    "other",
    "/heliosdb.v1.Database/Execute",
    "/heliosdb.v1.Database/Query",
    "/heliosdb.v1.Database/Batch",
    "/heliosdb.v1.Database/Transaction",
    "/heliosdb.v1.Database/CreateSnapshot",
    "/heliosdb.v1.Database/ListSnapshots",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection/ServerReflectionInfo",
    "/heliosdb.tables.v1.{Table}Service/{Method}",
    "other",
};
/* Status slots per route: REST keeps these HTTP statuses (the last slot counts the rest); gRPC
 * keeps its 17 codes by number. */
#define ROUTE_STATUS_SLOTS 20
static const int route_http_statuses[ROUTE_STATUS_SLOTS - 1] = {
    200, 201, 204, 400, 401, 404, 405, 408, 409, 411, 413, 414, 415, 422, 429, 431, 500, 503, 504};
static const char *const grpc_code_names[17] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

static int rest_route_of(const char *p)
{
    static const char *const fixed[] = {"/health",          "/ready",     "/metrics",
                                        "/v1/_sql",         "/v1/_batch", "/v1/_snapshots",
                                        "/v1/_openapi.json"};
    for (int i = 0; i < (int)(sizeof fixed / sizeof fixed[0]); i++) {
        if (strcmp(p, fixed[i]) == 0) {
            return ROUTE_HEALTH + i;
        }
    }
    if (strncmp(p, "/v1/", 4) == 0 && p[4] != '\0' && p[4] != '_') {
        const char *slash = strchr(p + 4, '/');
        return slash == NULL                    ? ROUTE_TABLE
               : strchr(slash + 1, '/') == NULL ? ROUTE_TABLE_ROW
                                                : ROUTE_REST_OTHER;
    }
    return ROUTE_REST_OTHER;
}

static int grpc_route_of(const char *p)
{
    for (int i = ROUTE_GRPC_FIRST; i < ROUTE_GRPC_REFLECTION; i++) {
        if (strcmp(p, route_labels[i]) == 0) {
            return i;
        }
    }
    if (strcmp(p, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo") == 0 ||
        strcmp(p, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") == 0) {
        return ROUTE_GRPC_REFLECTION;
    }
    return strncmp(p, "/heliosdb.tables.v1.", 20) == 0 ? ROUTE_GRPC_TABLES : ROUTE_GRPC_OTHER;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct conn {
    struct netio_sock sock; /* io_uring: the socket as the ring sees it (and the send in flight) */
    int fd;
    struct http1_conn *http;
    struct http1_out out;
    size_t sent;
    uint64_t last_ms;
    uint64_t partial_ms; /* when the request being received began (0: none) */
    bool closing;        /* close once the output is written */
    struct h2_conn *h2;  /* after the HTTP/2 preface or an Upgrade: h2c, else NULL */
    struct h2s *streams; /* its open streams */
    struct net_thread *t;
    bool sniffed;         /* the first bytes were looked at (HTTP/2 preface, TLS) */
    bool h2_shut;         /* draining: GOAWAY sent, health watches told */
    struct tls_conn *tls; /* [api.tls]: `out` is plaintext, `wire` what goes to the socket */
    struct http1_out wire;
    size_t wire_sent;
    bool tls_closed; /* close_notify queued */
    struct conn *prev, *next;
};

/* An HTTP/2 stream being served: a REST request gathered until its end, or a gRPC call. */
struct h2s {
    int32_t id;
    struct http_request req; /* REST: the request (strings owned) */
    size_t body_cap;
    struct grpc_call *call; /* gRPC */
    uint64_t start_us;
    int route;       /* ROUTE_*, for the metrics */
    bool grpc, done; /* done: answered, ignore what comes */
    struct h2s *next;
};

struct net_thread {
    struct hdb_server *srv;
    struct grpc_env genv;
    struct rest_cache rest_cache;          /* the catalog, for the generated REST routes */
    struct grpc_tables_cache tables_cache; /* the generated gRPC services (genv) */
    uint32_t index;
    struct netio *io; /* NULL: epoll (epfd) */
    int epfd, wakefd;
    int listen_fds[SERVER_LISTENERS_MAX];
    uint32_t nlisten;
    heliosdb_conn *sql;
    struct conn *conns;
    uint32_t nconns;
    uint8_t *buf;
    uint64_t last_sweep_ms;
    atomic_bool done; /* stopped: every connection and listener closed */
};

struct hdb_server {
    heliosdb *db;
    struct hdb_server_opts o;
    char *bind_address, *readiness_query;
    char *tokens[SERVER_TOKENS_MAX];
    struct tls_ctx *tls; /* [api.tls] enabled */
    struct net_thread threads[SERVER_THREADS_MAX];
    uint32_t nthreads;
    struct hdb_db_service service; /* the threads' turns, run by the shard threads */
    bool service_on;
    atomic_bool accepting, draining, stopping;
    bool ring_wanted;   /* io_uring for the network threads, where netio_new succeeds */
    char ring_why[160]; /* why a thread uses epoll instead */
    atomic_uint_fast64_t accepted, open, refused, requests, r2xx, r4xx, r5xx;
    atomic_uint_fast64_t by_protocol[3];               /* http1, http2 (REST), grpc */
    atomic_uint_fast64_t latency[LATENCY_BUCKETS + 1]; /* counts per bucket, +Inf last */
    atomic_uint_fast64_t latency_us_sum, in_flight;
    atomic_uint_fast64_t by_route[ROUTES][ROUTE_STATUS_SLOTS];
};

/* One answer on `route` with `status` (HTTP status, or the gRPC code on gRPC routes). */
static void count_route(struct hdb_server *s, int route, int status)
{
    int slot = ROUTE_STATUS_SLOTS - 1;
    if (route >= ROUTE_GRPC_FIRST) {
        slot = status >= 0 && status < 17 ? status : 2; /* UNKNOWN */
    } else {
        for (int i = 0; i < ROUTE_STATUS_SLOTS - 1; i++) {
            slot = route_http_statuses[i] == status ? i : slot;
        }
    }
    atomic_fetch_add(&s->by_route[route][slot], 1);
}

/* A request (or gRPC call) was answered after `us` microseconds. */
static void count_latency(struct hdb_server *s, int protocol, uint64_t us)
{
    uint32_t b = 0;
    while (b < LATENCY_BUCKETS && us > latency_bounds_us[b]) {
        b++;
    }
    atomic_fetch_add(&s->latency[b], 1);
    atomic_fetch_add(&s->latency_us_sum, us);
    atomic_fetch_add(&s->by_protocol[protocol], 1);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- listeners --- */

static int listen_on(const char *addr, uint16_t port, int *out, char *msg, size_t cap)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof *v6;
    } else {
        snprintf(msg, cap, "[api] bind_address \"%s\" is not an IPv4 or IPv6 address", addr);
        return HELIOSDB_INVALID;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, NET_LISTEN_QUEUE) != 0) {
        snprintf(msg, cap, "cannot listen on %s port %u: %s", addr, port, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return HELIOSDB_IOERR;
    }
    *out = fd;
    return HELIOSDB_OK;
}

static void close_listeners(struct net_thread *t)
{
    for (uint32_t i = 0; i < t->nlisten; i++) {
        if (t->io != NULL) {
            netio_unlisten(t->io, i); /* the accept is cancelled before the socket closes */
        } else {
            epoll_ctl(t->epfd, EPOLL_CTL_DEL, t->listen_fds[i], NULL);
        }
        close(t->listen_fds[i]);
    }
    t->nlisten = 0;
}

/* --- connections --- */

/* Closes the socket and frees the connection; on io_uring its memory stays until the last
 * operation naming it completes (ring_event frees it then). */
static void conn_close(struct net_thread *t, struct conn *c)
{
    bool release = true;
    if (t->io != NULL) {
        release = netio_close(t->io, &c->sock);
    } else {
        epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    h2_conn_free(c->h2); /* its on_stream_close frees the streams */
    tls_conn_free(c->tls);
    http1_out_free(&c->wire);
    http1_conn_free(c->http);
    http1_out_free(&c->out);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        t->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    t->nconns--;
    atomic_fetch_sub(&t->srv->open, 1);
    if (release) {
        free(c);
    }
}

/* Writes what the socket takes; returns false when the connection is gone. */
/* TLS: the plaintext answers are encrypted into `wire` (with close_notify before a close). */
static bool tls_encrypt(struct conn *c)
{
    bool ok = true;
    if (c->out.len > c->sent) {
        ok = tls_write(c->tls, c->out.data + c->sent, c->out.len - c->sent) == 0;
    }
    c->out.len = c->sent = 0;
    if (c->closing && !c->tls_closed) {
        tls_close(c->tls);
        c->tls_closed = true;
    }
    return tls_pull(c->tls, &c->wire) == 0 && ok;
}

static bool conn_quiet(const struct conn *c)
{
    return c->out.len == c->sent && c->wire.len == c->wire_sent && !c->sock.sending;
}

/* io_uring: the pending output goes out in one send; while one is in flight, what is appended
 * waits for its completion (ring_event). Returns false when the connection is gone. */
static bool ring_flush(struct net_thread *t, struct conn *c)
{
    struct http1_out *o = c->tls != NULL ? &c->wire : &c->out;
    size_t *sent = c->tls != NULL ? &c->wire_sent : &c->sent;
    if (netio_send(t->io, &c->sock, o, sent) != 0 ||
        (c->closing && !c->sock.sending && *sent == o->len)) {
        conn_close(t, c);
        return false;
    }
    return true;
}

/* Writes what the socket takes; returns false when the connection is gone. */
static bool conn_flush(struct net_thread *t, struct conn *c)
{
    if (c->tls != NULL && !tls_encrypt(c)) {
        c->closing = true;
    }
    if (t->io != NULL) {
        return ring_flush(t, c);
    }
    struct http1_out *o = c->tls != NULL ? &c->wire : &c->out;
    size_t *sent = c->tls != NULL ? &c->wire_sent : &c->sent;
    while (*sent < o->len) {
        ssize_t n = send(c->fd, o->data + *sent, o->len - *sent, MSG_NOSIGNAL);
        if (n > 0) {
            *sent += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
            epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
            return true;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        conn_close(t, c);
        return false;
    }
    o->len = *sent = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    if (c->closing) {
        conn_close(t, c);
        return false;
    }
    return true;
}

static void count_status(struct hdb_server *s, int status)
{
    atomic_fetch_add(status >= 500 ? &s->r5xx : status >= 400 ? &s->r4xx : &s->r2xx, 1);
}

/* A socket accepted: past max_connections it is answered 503 and closed, else it becomes a
 * connection of t (watched by epoll, or its receive armed on the ring). */
static void conn_open(struct net_thread *t, int fd)
{
    struct hdb_server *s = t->srv;
    if (atomic_load(&s->open) >= s->o.max_connections) {
        static const char busy[] =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            "Content-Length: 96\r\nConnection: close\r\n\r\n"
            "{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"too many connections "
            "(max_connections)\",\"status\":503}}";
        ssize_t n = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
        close(fd);
        atomic_fetch_add(&s->refused, 1);
        return;
    }
    struct http1_limits lim = {.header_bytes_max = s->o.max_header_bytes,
                               .body_bytes_max = s->o.max_request_bytes};
    struct conn *c = calloc(1, sizeof *c);
    struct http1_conn *h = c != NULL ? http1_conn_new(&lim) : NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (h == NULL || (t->io == NULL && epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)) {
        http1_conn_free(h);
        free(c);
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *c = (struct conn){.fd = fd, .http = h, .last_ms = now_ms(), .next = t->conns, .t = t};
    netio_sock_init(&c->sock, fd);
    c->tls = s->tls != NULL ? tls_conn_new(s->tls) : NULL;
    if ((s->tls != NULL && c->tls == NULL) || (t->io != NULL && netio_recv(t->io, &c->sock) != 0)) {
        if (t->io == NULL) {
            epoll_ctl(t->epfd, EPOLL_CTL_DEL, fd, NULL);
        }
        tls_conn_free(c->tls);
        http1_conn_free(h);
        free(c);
        close(fd);
        return;
    }
    if (t->conns != NULL) {
        t->conns->prev = c;
    }
    t->conns = c;
    t->nconns++;
    atomic_fetch_add(&s->open, 1);
    atomic_fetch_add(&s->accepted, 1);
}

static void accept_all(struct net_thread *t, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return; /* EAGAIN, or an error the next readiness retries */
        }
        conn_open(t, fd);
    }
}

/* --- routes --- */

/* Compares without stopping at the first difference (the time says nothing of the token). */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned diff = (unsigned)(la ^ lb);
    for (size_t i = 0; i < la; i++) {
        diff |= (unsigned)(uint8_t)a[i] ^ (unsigned)(uint8_t)b[i % (lb > 0 ? lb : 1)];
    }
    return diff == 0 && lb > 0;
}

static bool authorized(const struct hdb_server *s, const char *h)
{
    if (s->o.ntokens == 0) {
        return true;
    }
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        return false;
    }
    bool ok = false;
    for (uint32_t i = 0; i < s->o.ntokens; i++) {
        ok = same_secret(h + 7, s->tokens[i]) || ok;
    }
    return ok;
}

/* Where an answer goes: a connection's HTTP/1.1 output, or an HTTP/2 stream of it. */
struct reply {
    struct net_thread *t;
    struct conn *c;
    int32_t stream;  /* 0: HTTP/1.1 */
    bool keep_alive; /* HTTP/1.1: what the request asked */
    int route;       /* ROUTE_* */
};

#define H2_REPLY_HEADERS_MAX 12u

/* "Name: value\r\n" lines as HTTP/2 headers (names lower-cased into `names`). */
static size_t extra_headers(const char *extra, struct h2_header *h, size_t max, char *names,
                            size_t names_cap, char *values, size_t values_cap)
{
    size_t n = 0, at = 0, vat = 0;
    while (extra != NULL && *extra != '\0' && n < max) {
        const char *colon = strchr(extra, ':'), *end = strstr(extra, "\r\n");
        if (colon == NULL || end == NULL || colon > end) {
            break;
        }
        size_t nl = (size_t)(colon - extra), vl = (size_t)(end - colon - 2);
        if (at + nl + 1 > names_cap || vat + vl + 1 > values_cap) {
            break;
        }
        for (size_t i = 0; i < nl; i++) {
            names[at + i] = (char)(extra[i] >= 'A' && extra[i] <= 'Z' ? extra[i] + 32 : extra[i]);
        }
        names[at + nl] = '\0';
        memcpy(values + vat, colon + 2, vl);
        values[vat + vl] = '\0';
        h[n++] = (struct h2_header){.name = names + at, .value = values + vat};
        at += nl + 1;
        vat += vl + 1;
        extra = end + 2;
    }
    return n;
}

/* Sends an answer; over HTTP/1.1 the connection closes after it when `close` (or the request
 * did not keep alive, or the server drains). */
static void reply_send(struct reply *rp, int status, const char *content_type, const char *extra,
                       const void *body, size_t len, bool close)
{
    count_status(rp->t->srv, status);
    count_route(rp->t->srv, rp->route, status);
    struct conn *c = rp->c;
    if (rp->stream == 0) {
        bool keep = rp->keep_alive && !close && !atomic_load(&rp->t->srv->draining);
        if (http1_respond(&c->out, status, content_type, extra, body, len, keep) != 0) {
            c->closing = true;
        }
        c->closing = c->closing || !keep;
        return;
    }
    struct h2_header h[H2_REPLY_HEADERS_MAX];
    char st[8], names[512], values[1024];
    snprintf(st, sizeof st, "%d", status);
    size_t n = 0;
    h[n++] = (struct h2_header){":status", st};
    if (content_type != NULL) {
        h[n++] = (struct h2_header){"content-type", content_type};
    }
    n += extra_headers(extra, h + n, H2_REPLY_HEADERS_MAX - n, names, sizeof names, values,
                       sizeof values);
    if (h2_send_headers(c->h2, rp->stream, h, n, len == 0) != 0 ||
        (len > 0 && h2_send_data(c->h2, rp->stream, body, len, true) != 0)) {
        h2_reset(c->h2, rp->stream, 2 /* INTERNAL_ERROR */);
    }
}

static void respond_json(struct reply *rp, int status, const char *body, size_t len,
                         const char *extra)
{
    reply_send(rp, status, "application/json", extra, body, len, false);
}

/* A JSON error answer; over HTTP/1.1 the connection closes after it when `close`. */
static void respond_error(struct reply *rp, int status, const char *code, const char *message,
                          const char *extra, bool close)
{
    struct sqljson_answer a = {0};
    if (sqljson_error(status, code, message, &a) != 0) {
        a.body = NULL;
    }
    const char *body = a.body != NULL ? a.body : "{\"error\":{\"code\":\"INTERNAL\"}}";
    reply_send(rp, status, "application/json", extra, body, strlen(body), close);
    sqljson_answer_free(&a);
}

static void route_ready(struct reply *rp, const char *extra)
{
    struct net_thread *t = rp->t;
    if (!atomic_load(&t->srv->accepting)) {
        static const char body[] = "{\"status\":\"shutting down\"}";
        respond_json(rp, 503, body, sizeof body - 1, extra);
        return;
    }
    heliosdb_error err;
    if (heliosdb_exec(t->sql, t->srv->readiness_query, &err) != HELIOSDB_OK) {
        respond_error(rp, 503, "UNAVAILABLE", err.message, extra, false);
        return;
    }
    static const char body[] = "{\"status\":\"ready\"}";
    respond_json(rp, 200, body, sizeof body - 1, extra);
}

/* A bounded text buffer for /metrics. */
struct text {
    char *p;
    size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) text_add(struct text *t, const char *fmt, ...)
{
    if (t->p == NULL || t->len >= t->cap) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len = n < 0 ? t->len : t->len + (size_t)n < t->cap ? t->len + (size_t)n : t->cap;
}

static void metrics_server(struct hdb_server *s, struct text *t)
{
    struct hdb_server_stats st;
    hdb_server_stats(s, &st);
    static const char *const protocols[3] = {"http1", "http2", "grpc"};
    text_add(t, "# TYPE heliosdb_requests_total counter\n");
    for (int p = 0; p < 3; p++) {
        text_add(t, "heliosdb_requests_total{protocol=\"%s\"} %llu\n", protocols[p],
                 (unsigned long long)atomic_load(&s->by_protocol[p]));
    }
    text_add(t,
             "# TYPE heliosdb_responses_total counter\n"
             "heliosdb_responses_total{class=\"2xx\"} %llu\n"
             "heliosdb_responses_total{class=\"4xx\"} %llu\n"
             "heliosdb_responses_total{class=\"5xx\"} %llu\n",
             (unsigned long long)st.responses_2xx, (unsigned long long)st.responses_4xx,
             (unsigned long long)st.responses_5xx);
    text_add(t, "# TYPE heliosdb_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b <= LATENCY_BUCKETS; b++) {
        cum += atomic_load(&s->latency[b]);
        if (b < LATENCY_BUCKETS) {
            text_add(t, "heliosdb_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                     (double)latency_bounds_us[b] / 1e6, (unsigned long long)cum);
        } else {
            text_add(t, "heliosdb_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                     (unsigned long long)cum);
        }
    }
    text_add(t,
             "heliosdb_request_duration_seconds_sum %.6f\n"
             "heliosdb_request_duration_seconds_count %llu\n",
             (double)atomic_load(&s->latency_us_sum) / 1e6, (unsigned long long)cum);
    text_add(t, "# TYPE heliosdb_requests_in_flight gauge\nheliosdb_requests_in_flight %llu\n",
             (unsigned long long)atomic_load(&s->in_flight));
    text_add(t,
             "# TYPE heliosdb_connections_open gauge\nheliosdb_connections_open %llu\n"
             "# TYPE heliosdb_connections_accepted_total counter\n"
             "heliosdb_connections_accepted_total %llu\n"
             "# TYPE heliosdb_connections_refused_total counter\n"
             "heliosdb_connections_refused_total %llu\n",
             (unsigned long long)st.connections_open, (unsigned long long)st.connections_accepted,
             (unsigned long long)st.connections_refused);
    text_add(t, "# TYPE heliosdb_recovery_seconds gauge\nheliosdb_recovery_seconds %.6f\n",
             s->o.recovery_ms / 1e3);
    text_add(t, "# TYPE heliosdb_route_requests_total counter\n");
    for (int r = 0; r < ROUTES; r++) {
        for (int k = 0; k < ROUTE_STATUS_SLOTS; k++) {
            uint64_t v = atomic_load(&s->by_route[r][k]);
            bool grpc = r >= ROUTE_GRPC_FIRST;
            if (v == 0 || (grpc && k >= 17)) {
                continue;
            }
            char code[24];
            if (grpc) {
                snprintf(code, sizeof code, "%s", grpc_code_names[k]);
            } else if (k < ROUTE_STATUS_SLOTS - 1) {
                snprintf(code, sizeof code, "%d", route_http_statuses[k]);
            } else {
                snprintf(code, sizeof code, "other");
            }
            text_add(t,
                     "heliosdb_route_requests_total{protocol=\"%s\",route=\"%s\",status=\"%s\"} "
                     "%llu\n",
                     grpc ? "grpc" : "rest", route_labels[r], code, (unsigned long long)v);
        }
    }
}

/* The WAL fdatasync latency histogram, over every shard. */
static void metrics_fsync(const struct hdb_shard_stats *st, const bool *have, uint32_t n,
                          struct text *t)
{
    if (st == NULL || have == NULL) {
        return;
    }
    uint64_t cum = 0, total_ns = 0;
    text_add(t, "# TYPE heliosdb_wal_fsync_duration_seconds histogram\n");
    for (uint32_t b = 0; b < HDB_WAL_FSYNC_BUCKETS; b++) {
        for (uint32_t k = 0; k < n; k++) {
            cum += have[k] ? st[k].store.wal.fsync_buckets[b] : 0;
        }
        if (b < HDB_WAL_FSYNC_BUCKETS - 1) {
            text_add(t, "heliosdb_wal_fsync_duration_seconds_bucket{le=\"%g\"} %llu\n",
                     (double)hdb_wal_fsync_bounds_us[b] / 1e6, (unsigned long long)cum);
        } else {
            text_add(t, "heliosdb_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                     (unsigned long long)cum);
        }
    }
    for (uint32_t k = 0; k < n; k++) {
        total_ns += have[k] ? st[k].store.wal.fsync_ns_total : 0;
    }
    text_add(t,
             "heliosdb_wal_fsync_duration_seconds_sum %.6f\n"
             "heliosdb_wal_fsync_duration_seconds_count %llu\n",
             (double)total_ns / 1e9, (unsigned long long)cum);
}

/* One metric line per shard (name, type, and the value of each shard's stats). */
#define SHARD_METRICS 16
static void metrics_shards(struct hdb_server *s, struct text *t)
{
    static const char *const names[SHARD_METRICS][2] = {
        {"heliosdb_commits_total", "counter"},
        {"heliosdb_commits_multi_shard_total", "counter"},
        {"heliosdb_conflicts_total", "counter"},
        {"heliosdb_cache_hits_total", "counter"},
        {"heliosdb_cache_misses_total", "counter"},
        {"heliosdb_wal_bytes_total", "counter"},
        {"heliosdb_wal_fsyncs_total", "counter"},
        {"heliosdb_wal_fsync_seconds_total", "counter"},
        {"heliosdb_wal_group_records_max", "gauge"},
        {"heliosdb_wal_groups_total", "counter"},
        {"heliosdb_wal_records_total", "counter"},
        {"heliosdb_checkpoints_total", "counter"},
        {"heliosdb_snapshots", "gauge"},
        {"heliosdb_data_pages", "gauge"},
        {"heliosdb_corrupt_page_reads_total", "counter"},
        {"heliosdb_shard_ring_depth", "gauge"},
    };
    uint32_t n = heliosdb_shards(s->db);
    n = n > SERVER_THREADS_MAX ? SERVER_THREADS_MAX : n;
    struct hdb_shard_stats *st = calloc(n + 1, sizeof *st);
    bool *have = calloc(n + 1, sizeof *have);
    for (uint32_t k = 0; st != NULL && have != NULL && k < n; k++) {
        have[k] = heliosdb_shard_stats(s->db, k, &st[k], NULL) == HELIOSDB_OK;
    }
    for (int m = 0; st != NULL && have != NULL && m < SHARD_METRICS; m++) {
        text_add(t, "# TYPE %s %s\n", names[m][0], names[m][1]);
        for (uint32_t k = 0; k < n; k++) {
            const struct hdb_shard_stats *x = &st[k];
            const double v[] = {(double)(x->commits_single + x->commits_2pc),
                                (double)x->commits_2pc,
                                (double)x->conflicts,
                                (double)x->store.cache.hits,
                                (double)x->store.cache.misses,
                                (double)x->store.wal.bytes,
                                (double)x->store.wal.fsyncs,
                                (double)x->store.wal.fsync_ns_total / 1e9,
                                (double)x->store.wal.group_records_max,
                                (double)x->store.wal.groups,
                                (double)x->store.wal.records,
                                (double)x->store.checkpoints,
                                (double)x->store.snapshots,
                                (double)x->store.pages_total,
                                (double)x->store.cache.corrupt_reads,
                                (double)x->ring_depth};
            static_assert(sizeof v / sizeof v[0] == SHARD_METRICS, "a value per metric");
            if (have[k]) {
                text_add(t, "%s{shard=\"%u\"} %.9g\n", names[m][0], k, v[m]);
            }
        }
    }
    metrics_fsync(st, have, n, t);
    free(st);
    free(have);
}

static void route_metrics(struct reply *rp, const char *extra)
{
    struct hdb_server *s = rp->t->srv;
    struct text t = {.cap = 8192 + (size_t)heliosdb_shards(s->db) * 1024};
    t.p = malloc(t.cap);
    if (t.p == NULL) {
        respond_error(rp, 503, "RESOURCE_EXHAUSTED", "out of memory", extra, false);
        return;
    }
    metrics_server(s, &t);
    metrics_shards(s, &t);
    reply_send(rp, 200, "text/plain; version=0.0.4", extra, t.p, t.len, false);
    free(t.p);
}

/* POST /v1/_snapshots creates one ({"id", "created_ms"}, 201); GET lists them, oldest first. */
static void route_snapshots(struct reply *rp, const struct http_request *r, const char *extra)
{
    struct net_thread *t = rp->t;
    char body[160];
    if (r->method == HTTP_POST) {
        uint64_t id = 0;
        heliosdb_error err;
        if (heliosdb_snapshot_create(t->sql, &id, &err) != HELIOSDB_OK) {
            const char *code = NULL;
            respond_error(rp, sqljson_http_status(err.code, &code), code, err.message, extra,
                          false);
            return;
        }
        int n = snprintf(body, sizeof body, "{\"id\":%llu}", (unsigned long long)id);
        reply_send(rp, 201, "application/json", extra, body, (size_t)n, false);
        return;
    }
    if (r->method != HTTP_GET) {
        respond_error(rp, 405, "INVALID_ARGUMENT", "use GET or POST", "Allow: GET, POST\r\n",
                      false);
        return;
    }
    enum { SNAPSHOTS_LISTED_MAX = 4096 };
    struct hdb_snapshot_info *list = calloc(SNAPSHOTS_LISTED_MAX, sizeof *list);
    size_t cap = 64 + (size_t)SNAPSHOTS_LISTED_MAX * 64;
    char *out = malloc(cap);
    if (list == NULL || out == NULL) {
        free(list);
        free(out);
        respond_error(rp, 503, "RESOURCE_EXHAUSTED", "out of memory", extra, false);
        return;
    }
    uint32_t total = heliosdb_snapshot_list(t->srv->db, list, SNAPSHOTS_LISTED_MAX);
    uint32_t n = total < SNAPSHOTS_LISTED_MAX ? total : SNAPSHOTS_LISTED_MAX;
    size_t at = (size_t)snprintf(out, cap, "{\"snapshots\":[");
    for (uint32_t i = 0; i < n; i++) {
        at += (size_t)snprintf(out + at, cap - at, "%s{\"id\":%llu,\"created_ms\":%llu}",
                               i > 0 ? "," : "", (unsigned long long)list[i].id,
                               (unsigned long long)list[i].created_ms);
    }
    at += (size_t)snprintf(out + at, cap - at, "]}");
    reply_send(rp, 200, "application/json", extra, out, at, false);
    free(list);
    free(out);
}

/* POST /v1/_sql and /v1/_batch. */
static void route_sql(struct reply *rp, const struct http_request *r, bool batch, const char *extra)
{
    struct net_thread *t = rp->t;
    const char *ct = r->content_type;
    if (ct != NULL && strncasecmp(ct, "application/json", 16) != 0) {
        respond_error(rp, 415, "INVALID_ARGUMENT", "Content-Type must be application/json", extra,
                      false);
        return;
    }
    struct sqljson_answer a = {0};
    const char *body = r->body != NULL ? (const char *)r->body : "";
    if (batch) {
        sqljson_batch(t->sql, body, r->body_len, &a);
    } else {
        sqljson_execute(t->sql, body, r->body_len, &a);
    }
    if (a.body == NULL) {
        respond_error(rp, 500, "INTERNAL", "out of memory building the answer", extra, true);
    } else {
        respond_json(rp, a.http_status, a.body, a.len, extra);
    }
    sqljson_answer_free(&a);
    if (heliosdb_in_transaction(t->sql)) { /* never left open across requests */
        heliosdb_exec(t->sql, "ROLLBACK", NULL);
    }
}

static const char cors_headers[] = "Access-Control-Allow-Origin: *\r\n";
static const char cors_preflight[] =
    "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
    "Access-Control-Allow-Headers: Authorization, Content-Type, Prefer\r\n"
    "Access-Control-Max-Age: 600\r\n";

/* The REST API generated from the schema (rpc/rest_tables.h); false if the path is not one. */
static bool route_tables(struct reply *rp, const struct http_request *r, const char *extra)
{
    struct net_thread *t = rp->t;
    struct rest_request rr = {.method = r->method,
                              .path = r->path,
                              .query = r->query,
                              .prefer = r->prefer,
                              .body = r->body,
                              .body_len = r->body_len,
                              .cache = &t->rest_cache};
    struct sqljson_answer a = {0};
    char headers[1024] = "";
    size_t at = 0;
    if (extra != NULL) {
        at = (size_t)snprintf(headers, sizeof headers, "%s", extra);
    }
    if (rest_tables_route(t->sql, &rr, &a, headers + at, sizeof headers - at) != 0) {
        return false;
    }
    if (a.body == NULL) {
        respond_error(rp, 500, "INTERNAL", "out of memory building the answer", extra, true);
    } else {
        reply_send(rp, a.http_status, a.len > 0 ? "application/json" : NULL, headers, a.body, a.len,
                   false);
    }
    sqljson_answer_free(&a);
    if (heliosdb_in_transaction(t->sql)) {
        heliosdb_exec(t->sql, "ROLLBACK", NULL);
    }
    return true;
}

static void route_request(struct reply *rp, const struct http_request *r);

static void route(struct reply *rp, const struct http_request *r)
{
    struct hdb_server *s = rp->t->srv;
    uint64_t start = now_us();
    atomic_fetch_add(&s->in_flight, 1);
    rp->route = rest_route_of(r->path);
    route_request(rp, r);
    atomic_fetch_sub(&s->in_flight, 1);
    count_latency(s, rp->stream == 0 ? PROTO_HTTP1 : PROTO_HTTP2, now_us() - start);
}

/* Answers one REST request (HTTP/1.1 or HTTP/2 alike). */
static void route_request(struct reply *rp, const struct http_request *r)
{
    struct hdb_server *s = rp->t->srv;
    atomic_fetch_add(&s->requests, 1);
    const char *extra = s->o.enable_cors ? cors_headers : NULL;
    const char *p = r->path;
    bool get = r->method == HTTP_GET;
    if (s->o.enable_cors && r->method == HTTP_OPTIONS) {
        respond_json(rp, 204, "", 0, cors_preflight);
    } else if (strcmp(p, "/health") == 0 && get) {
        static const char body[] = "{\"status\":\"ok\"}";
        respond_json(rp, 200, body, sizeof body - 1, extra);
    } else if (strcmp(p, "/ready") == 0 && get) {
        route_ready(rp, extra);
    } else if (strcmp(p, "/health") == 0 || strcmp(p, "/ready") == 0) {
        respond_error(rp, 405, "INVALID_ARGUMENT", "use GET", "Allow: GET\r\n", false);
    } else if (!authorized(s, r->authorization)) {
        respond_error(rp, 401, "UNAUTHENTICATED", "a valid bearer token is required",
                      "WWW-Authenticate: Bearer\r\n", false);
    } else if (strcmp(p, "/metrics") == 0 && get) {
        route_metrics(rp, extra);
    } else if (strcmp(p, "/v1/_snapshots") == 0) {
        route_snapshots(rp, r, extra);
    } else if (strcmp(p, "/v1/_sql") == 0 || strcmp(p, "/v1/_batch") == 0) {
        if (r->method != HTTP_POST) {
            respond_error(rp, 405, "INVALID_ARGUMENT", "use POST", "Allow: POST\r\n", false);
        } else {
            route_sql(rp, r, strcmp(p, "/v1/_batch") == 0, extra);
        }
    } else if (!s->o.rest_tables || !route_tables(rp, r, extra)) {
        char msg[256];
        snprintf(msg, sizeof msg, "no route %.200s", p);
        respond_error(rp, 404, "NOT_FOUND", msg, extra, false);
    }
}

/* --- reading --- */

/* --- HTTP/2 --- */

static struct h2s *stream_find(struct conn *c, int32_t id)
{
    struct h2s *st = c->streams;
    while (st != NULL && st->id != id) {
        st = st->next;
    }
    return st;
}

static int method_of(const char *m)
{
    static const struct {
        const char *name;
        int method;
    } methods[] = {{"GET", HTTP_GET},        {"POST", HTTP_POST},     {"PUT", HTTP_PUT},
                   {"PATCH", HTTP_PATCH},    {"DELETE", HTTP_DELETE}, {"HEAD", HTTP_HEAD},
                   {"OPTIONS", HTTP_OPTIONS}};
    for (size_t i = 0; m != NULL && i < sizeof methods / sizeof methods[0]; i++) {
        if (strcmp(m, methods[i].name) == 0) {
            return methods[i].method;
        }
    }
    return -1;
}

/* Percent-encodes a grpc-message value (gRPC: printable ASCII but '%' as is). */
static void grpc_message_encode(const char *in, char *out, size_t cap)
{
    size_t at = 0;
    for (; *in != '\0' && at + 4 < cap; in++) {
        uint8_t ch = (uint8_t)*in;
        if (ch >= 0x20 && ch < 0x7f && ch != '%') {
            out[at++] = (char)ch;
        } else {
            at += (size_t)snprintf(out + at, cap - at, "%%%02X", ch);
        }
    }
    out[at] = '\0';
}

/* Ends a gRPC stream with its status (trailers; trailers-only when nothing was sent). */
static void grpc_finish(struct conn *c, struct h2s *st, int status, const char *msg,
                        bool headers_sent)
{
    char code[8], text[1024];
    snprintf(code, sizeof code, "%d", status);
    grpc_message_encode(msg != NULL ? msg : "", text, sizeof text);
    struct h2_header tr[4];
    size_t n = 0;
    if (!headers_sent) {
        tr[n++] = (struct h2_header){":status", "200"};
        tr[n++] = (struct h2_header){"content-type", "application/grpc"};
    }
    tr[n++] = (struct h2_header){"grpc-status", code};
    if (text[0] != '\0') {
        tr[n++] = (struct h2_header){"grpc-message", text};
    }
    int rc = headers_sent ? h2_send_trailers(c->h2, st->id, tr, n)
                          : h2_send_headers(c->h2, st->id, tr, n, true);
    if (rc != 0) {
        h2_reset(c->h2, st->id, 2);
    }
    st->done = true;
    count_status(c->t->srv, status == 0 ? 200 : status == 13 ? 500 : 400);
    count_route(c->t->srv, st->route, status);
    count_latency(c->t->srv, PROTO_GRPC, now_us() - st->start_us);
}

static const char *header_of(const struct h2_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(h[i].name, name) == 0) {
            return h[i].value;
        }
    }
    return NULL;
}

/* A gRPC stream: authentication (not for health checks), then the call. */
static void grpc_open(struct conn *c, struct h2s *st, const struct h2_header *h, size_t n)
{
    struct net_thread *t = c->t;
    const char *path = header_of(h, n, ":path");
    path = path != NULL ? path : "";
    st->route = grpc_route_of(path);
    atomic_fetch_add(&t->srv->requests, 1);
    if (strncmp(path, "/grpc.health.v1.", 16) != 0 &&
        !authorized(t->srv, header_of(h, n, "authorization"))) {
        grpc_finish(c, st, 16, "a valid bearer token is required", false);
        return;
    }
    int status = 0;
    char msg[512] = "";
    t->genv.serving = atomic_load(&t->srv->accepting);
    st->call =
        grpc_call_new(&t->genv, path, header_of(h, n, "grpc-timeout"), &status, msg, sizeof msg);
    if (st->call == NULL) {
        grpc_finish(c, st, status, msg, false);
        return;
    }
    struct h2_header rh[2] = {{":status", "200"}, {"content-type", "application/grpc"}};
    if (h2_send_headers(c->h2, st->id, rh, 2, false) != 0) {
        h2_reset(c->h2, st->id, 2);
        st->done = true;
    }
}

static int on_stream_open(void *ctx, struct h2_conn *h2, int32_t id, const struct h2_header *h,
                          size_t n)
{
    (void)h2;
    struct conn *c = ctx;
    struct h2s *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return 503;
    }
    st->id = id;
    st->start_us = now_us();
    st->next = c->streams;
    c->streams = st;
    const char *ct = header_of(h, n, "content-type");
    st->grpc = ct != NULL && strncmp(ct, "application/grpc", 16) == 0;
    if (st->grpc) {
        grpc_open(c, st, h, n);
        return 0;
    }
    const char *path = header_of(h, n, ":path");
    struct http_request *r = &st->req;
    r->method = method_of(header_of(h, n, ":method"));
    r->target = strdup(path != NULL ? path : "/");
    const char *q = r->target != NULL ? strchr(r->target, '?') : NULL;
    r->path = r->target != NULL
                  ? strndup(r->target, q != NULL ? (size_t)(q - r->target) : strlen(r->target))
                  : NULL;
    r->query = q != NULL ? strdup(q + 1) : NULL;
    const char *names[] = {"content-type", "authorization", "prefer", "origin", "accept"};
    char **fields[] = {&r->content_type, &r->authorization, &r->prefer, &r->origin, &r->accept};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = header_of(h, n, names[i]);
        *fields[i] = v != NULL ? strdup(v) : NULL;
    }
    r->keep_alive = true;
    r->http_major = 2;
    return r->path == NULL ? 503 : 0;
}

static int on_stream_data(void *ctx, struct h2_conn *h2, int32_t id, const uint8_t *data,
                          size_t len)
{
    (void)h2;
    struct conn *c = ctx;
    struct h2s *st = stream_find(c, id);
    if (st == NULL || st->done) {
        return 0;
    }
    if (st->grpc) {
        struct http1_out out = {0};
        int status = 0;
        char msg[512] = "";
        int over = grpc_call_data(st->call, data, len, &out, &status, msg, sizeof msg);
        if (out.len > 0 && h2_send_data(c->h2, id, out.data, out.len, false) != 0) {
            over = -1;
        }
        http1_out_free(&out);
        if (over == 1) {
            grpc_finish(c, st, status, msg, true);
        }
        return over < 0 ? -1 : 0;
    }
    struct http_request *r = &st->req;
    if (r->body_len + len + 1 > st->body_cap) {
        size_t cap = st->body_cap == 0 ? 4096 : st->body_cap;
        while (cap < r->body_len + len + 1) {
            cap *= 2;
        }
        uint8_t *b = realloc(r->body, cap);
        if (b == NULL) {
            return -1;
        }
        r->body = b;
        st->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static void on_stream_end(void *ctx, struct h2_conn *h2, int32_t id)
{
    (void)h2;
    struct conn *c = ctx;
    struct h2s *st = stream_find(c, id);
    if (st == NULL || st->done) {
        return;
    }
    if (st->grpc) {
        if (grpc_call_is_watch(st->call)) {
            return; /* stays open: answered again when the serving state changes */
        }
        struct http1_out out = {0};
        int status = 0;
        char msg[512] = "";
        grpc_call_end(st->call, &out, &status, msg, sizeof msg);
        if (out.len > 0 && h2_send_data(c->h2, id, out.data, out.len, false) != 0) {
            status = 13;
        }
        http1_out_free(&out);
        grpc_finish(c, st, status, msg, true);
        return;
    }
    struct reply rp = {.t = c->t, .c = c, .stream = id};
    st->done = true;
    route(&rp, &st->req);
}

static void on_stream_close(void *ctx, struct h2_conn *h2, int32_t id, uint32_t error_code)
{
    (void)h2;
    (void)error_code;
    struct conn *c = ctx;
    for (struct h2s **pp = &c->streams; *pp != NULL; pp = &(*pp)->next) {
        struct h2s *st = *pp;
        if (st->id == id) {
            *pp = st->next;
            grpc_call_free(st->call); /* a transaction not committed rolls back */
            free(st->req.target);
            free(st->req.path);
            free(st->req.query);
            free(st->req.content_type);
            free(st->req.authorization);
            free(st->req.prefer);
            free(st->req.origin);
            free(st->req.accept);
            free(st->req.body);
            free(st);
            return;
        }
    }
}

static const struct h2_callbacks h2_cb = {
    .on_stream_open = on_stream_open,
    .on_stream_data = on_stream_data,
    .on_stream_end = on_stream_end,
    .on_stream_close = on_stream_close,
};

static bool h2_start(struct conn *c)
{
    struct hdb_server *s = c->t->srv;
    struct h2_limits lim = {.header_bytes_max = s->o.max_header_bytes,
                            .body_bytes_max = s->o.max_request_bytes,
                            .max_concurrent_streams = s->o.max_concurrent_streams};
    c->h2 = h2_conn_new(&lim, &h2_cb, c);
    return c->h2 != NULL;
}

/* Bytes for an HTTP/2 connection; its output follows. Returns false to stop reading. */
static bool h2_input(struct conn *c, const uint8_t *data, size_t len)
{
    char msg[256];
    if (h2_feed(c->h2, data, len, msg, sizeof msg) != 0) {
        hdb_log(HDB_LOG_INFO, "serve: HTTP/2 connection ended: %s", msg);
        c->closing = true;
    }
    if (h2_output(c->h2, &c->out) != 0 || h2_done(c->h2)) {
        c->closing = true;
    }
    return !c->closing;
}

/* Upgrade: h2c on an HTTP/1.1 request: 101, then the request is stream 1. */
static bool h2_upgrade(struct conn *c, const struct http_request *r)
{
    static const char switching[] =
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    char msg[256];
    if (!h2_start(c)) {
        return false;
    }
    if (http1_out_append(&c->out, switching, sizeof switching - 1) != 0) {
        return false;
    }
    if (h2_conn_upgrade(c->h2, r->http2_settings, r, msg, sizeof msg) != 0) {
        hdb_log(HDB_LOG_INFO, "serve: Upgrade: h2c refused: %s", msg);
        return false;
    }
    return h2_output(c->h2, &c->out) == 0;
}

/* --- reading --- */

/* The first bytes of a connection: the HTTP/2 preface starts HTTP/2 (h2c with prior knowledge,
 * every gRPC client); a TLS client is closed. Returns false to stop. */
static bool sniff(struct conn *c, const uint8_t *data, size_t len)
{
    c->sniffed = true;
    size_t n = len < sizeof h2_preface - 1 ? len : sizeof h2_preface - 1;
    if (n >= 3 && memcmp(data, h2_preface, n) == 0) {
        if (!h2_start(c)) {
            c->closing = true;
            return false;
        }
        return true;
    }
    if (data[0] == 0x16 && c->tls == NULL) {
        hdb_log(HDB_LOG_INFO, "serve: a TLS client was closed ([api.tls] is off)");
        c->closing = true;
        return false;
    }
    return true;
}

/* Feeds received bytes and answers every complete request. Returns false to stop reading. */
static bool conn_input(struct net_thread *t, struct conn *c, const uint8_t *data, size_t len)
{
    if (!c->sniffed && !sniff(c, data, len)) {
        return false;
    }
    while (len > 0 && !c->closing) {
        if (c->h2 != NULL) {
            return h2_input(c, data, len);
        }
        size_t used = 0;
        char msg[256];
        int status = http1_feed(c->http, data, len, &used, msg, sizeof msg);
        if (status != 0) {
            const char *code = status == 413 || status == 431 ? "RESOURCE_EXHAUSTED"
                               : status >= 500                ? "INTERNAL"
                                                              : "INVALID_ARGUMENT";
            struct reply rp = {.t = t, .c = c};
            respond_error(&rp, status, code, msg, NULL, true);
            return false;
        }
        struct http_request *r;
        while ((r = http1_next(c->http)) != NULL && !c->closing) {
            bool h2c = r->upgrade != NULL && strcasecmp(r->upgrade, "h2c") == 0 &&
                       r->http2_settings != NULL && c->h2 == NULL;
            if (h2c) {
                c->closing = !h2_upgrade(c, r);
            } else {
                struct reply rp = {.t = t, .c = c, .keep_alive = r->keep_alive};
                route(&rp, r);
                c->closing = c->closing || !r->keep_alive || r->upgrade != NULL;
            }
            http_request_free(r);
        }
        if (r != NULL) {
            http_request_free(r);
        }
        if (c->out.len - c->sent > NET_OUT_BYTES_MAX) {
            c->closing = true;
        }
        bool partial = c->h2 == NULL && http1_partial(c->http);
        c->partial_ms = !partial ? 0 : c->partial_ms != 0 ? c->partial_ms : now_ms();
        if (used == 0 && len > 0 && http1_pending(c->http) == 0 && c->h2 == NULL) {
            break; /* nothing taken and nothing waiting: the parser stopped (close, upgrade) */
        }
        data += used;
        len -= used;
    }
    return !c->closing;
}

/* Ciphertext in: decrypted, then served as any connection's bytes. */
static bool tls_input(struct net_thread *t, struct conn *c, const uint8_t *data, size_t len)
{
    char msg[256];
    struct http1_out plain = {0};
    if (tls_push(c->tls, data, len, msg, sizeof msg) != 0 ||
        tls_read(c->tls, &plain, msg, sizeof msg) != 0) {
        hdb_log(HDB_LOG_DEBUG, "serve: TLS connection ended: %s", msg);
        c->closing = true;
    }
    bool go = plain.len == 0 || conn_input(t, c, plain.data, plain.len);
    http1_out_free(&plain);
    return go && !c->closing;
}

static void conn_readable(struct net_thread *t, struct conn *c)
{
    c->last_ms = now_ms();
    for (;;) {
        ssize_t n = recv(c->fd, t->buf, NET_READ_BYTES, 0);
        if (n > 0) {
            bool go = c->tls != NULL ? tls_input(t, c, t->buf, (size_t)n)
                                     : conn_input(t, c, t->buf, (size_t)n);
            if (!go) {
                break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        c->closing = true; /* the peer closed, or the socket failed */
        break;
    }
    conn_flush(t, c);
}

/* io_uring: bytes received (res > 0) or the end of the stream (res <= 0), then the output goes
 * out. What arrives once the connection is closing is dropped (epoll stops reading it). */
static void conn_received(struct net_thread *t, struct conn *c, const struct netio_event *ev)
{
    c->last_ms = now_ms();
    if (ev->res > 0 && !c->closing) {
        if (c->tls != NULL) {
            tls_input(t, c, ev->data, (size_t)ev->res);
        } else {
            conn_input(t, c, ev->data, (size_t)ev->res);
        }
    } else if (ev->res <= 0) {
        c->closing = true; /* the peer closed, or the socket failed */
    }
    conn_flush(t, c);
}

/* io_uring: one completion. A connection closed earlier (in this batch too) is told nothing
 * more; its memory goes with the last operation that names it. */
static void ring_event(struct net_thread *t, struct netio_event *ev)
{
    if (ev->kind == NETIO_ACCEPT) {
        conn_open(t, ev->res);
        return;
    }
    struct conn *c = (struct conn *)(void *)((char *)ev->sock - offsetof(struct conn, sock));
    if (!ev->sock->closed && ev->kind == NETIO_RECV) {
        conn_received(t, c, ev);
    } else if (!ev->sock->closed && ev->res < 0) {
        conn_close(t, c); /* the send failed */
    } else if (!ev->sock->closed) {
        conn_flush(t, c); /* a send completed: what was answered meanwhile, or the close */
    }
    if (netio_done(t->io, ev)) {
        free(c);
    }
}

/* --- the loop --- */

/* Idle connections past the timeout close; while draining, every connection with nothing left
 * to write closes. */
/* Draining an HTTP/2 connection: GOAWAY (streams open may finish), and every health Watch is
 * told NOT_SERVING and ended with UNAVAILABLE. */
static void h2_drain(struct conn *c)
{
    c->h2_shut = true;
    c->t->genv.serving = false;
    h2_shutdown(c->h2);
    for (struct h2s *st = c->streams; st != NULL; st = st->next) {
        if (st->call == NULL || st->done || !grpc_call_is_watch(st->call)) {
            continue;
        }
        struct http1_out out = {0};
        if (grpc_call_poll(st->call, &out) &&
            h2_send_data(c->h2, st->id, out.data, out.len, false) != 0) {
            h2_reset(c->h2, st->id, 2);
        }
        http1_out_free(&out);
        grpc_finish(c, st, 14, "the server is shutting down", true);
    }
    if (h2_output(c->h2, &c->out) == 0) {
        conn_flush(c->t, c);
    }
}

static void sweep(struct net_thread *t)
{
    uint64_t now = now_ms();
    bool draining = atomic_load(&t->srv->draining);
    uint32_t idle = t->srv->o.idle_timeout_ms;
    for (struct conn *c = t->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (draining && c->h2 != NULL && !c->h2_shut) {
            h2_drain(c); /* (may close c: nothing of it is used after) */
            continue;
        }
        uint32_t limit = t->srv->o.request_timeout_ms;
        if (limit > 0 && c->partial_ms != 0 && now - c->partial_ms > limit && !c->closing) {
            struct reply rp = {.t = t, .c = c};
            respond_error(&rp, 408, "DEADLINE_EXCEEDED",
                          "the request did not arrive whole within request_timeout_seconds", NULL,
                          true);
            c->partial_ms = 0;
            if (!conn_flush(t, c)) {
                continue;
            }
        }
        bool quiet = conn_quiet(c) && (c->h2 == NULL || h2_streams_open(c->h2) == 0);
        if ((draining && quiet) || (idle > 0 && quiet && now - c->last_ms > idle)) {
            conn_close(t, c);
        }
    }
}

/* One turn of the epoll loop: serves what is ready (waiting up to timeout_ms for it). */
static uint32_t epoll_turn(struct net_thread *t, int timeout_ms)
{
    struct epoll_event ev[NET_EVENTS_MAX];
    int n = epoll_wait(t->epfd, ev, NET_EVENTS_MAX, timeout_ms);
    for (int i = 0; i < n; i++) {
        void *p = ev[i].data.ptr;
        if (p == &t->wakefd) {
            uint64_t v;
            ssize_t r = read(t->wakefd, &v, sizeof v);
            (void)r;
        } else if (p >= (void *)t->listen_fds && p < (void *)(t->listen_fds + t->nlisten)) {
            accept_all(t, *(int *)p);
        } else if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            conn_readable(t, p);
        } else if (ev[i].events & EPOLLOUT) {
            conn_flush(t, p);
        }
    }
    return n > 0 ? (uint32_t)n : 0;
}

/* One turn of the io_uring loop: submits what was queued, serves the completions (waiting up
 * to timeout_ms for one), and submits the sends they queued. */
static uint32_t ring_turn(struct net_thread *t, uint32_t timeout_ms)
{
    struct netio_event ev[NET_EVENTS_MAX];
    uint32_t n = netio_wait(t->io, ev, NET_EVENTS_MAX, timeout_ms);
    for (uint32_t i = 0; i < n; i++) {
        ring_event(t, &ev[i]);
    }
    if (n > 0) {
        netio_submit(t->io);
    }
    return n;
}

/* io_uring, at the end (every connection closed): waits, bounded, for the operations that still
 * name closed connections, whose memory goes with them. What is left after NET_RING_DRAIN_MS is
 * leaked rather than freed under the kernel. */
static void ring_drain(struct net_thread *t)
{
    struct netio_event ev[NET_EVENTS_MAX];
    uint64_t deadline = now_ms() + NET_RING_DRAIN_MS;
    while (netio_inflight(t->io) > 0 && now_ms() < deadline) {
        uint32_t n = netio_wait(t->io, ev, NET_EVENTS_MAX, NET_TICK_MS);
        for (uint32_t i = 0; i < n; i++) {
            if (ev[i].kind == NETIO_ACCEPT) {
                close(ev[i].res); /* accepted as the listener closed: nobody serves it now */
            } else {
                ring_event(t, &ev[i]);
            }
        }
    }
    if (netio_inflight(t->io) > 0) {
        hdb_log(HDB_LOG_WARN, "serve: network thread %u: %u socket operations still in flight",
                t->index, netio_inflight(t->io));
    }
}

/* The end of a thread's serving: listeners and connections closed (on io_uring, the operations
 * that still name them waited for, bounded). */
static void net_finish(struct net_thread *t)
{
    close_listeners(t);
    while (t->conns != NULL) {
        conn_close(t, t->conns);
    }
    if (t->io != NULL) {
        ring_drain(t);
    }
    atomic_store(&t->done, true);
}

/* One turn of thread t's loop: what the socket calls brought is served (timeout_ms 0: without
 * waiting), timeouts are checked once per tick, and when the server stops, or drains and t has
 * no connection left, t finishes. Returns how many events it served. */
static uint32_t net_turn(struct net_thread *t, uint32_t timeout_ms)
{
    struct hdb_server *s = t->srv;
    if (atomic_load(&t->done)) {
        return 0;
    }
    if (atomic_load(&s->stopping) || (atomic_load(&s->draining) && t->nconns == 0)) {
        net_finish(t);
        return 1;
    }
    if (!atomic_load(&s->accepting) && t->nlisten > 0) {
        close_listeners(t);
    }
    uint32_t n = t->io != NULL ? ring_turn(t, timeout_ms) : epoll_turn(t, (int)timeout_ms);
    uint64_t now = now_ms();
    if (now - t->last_sweep_ms >= NET_TICK_MS || atomic_load(&s->draining)) {
        sweep(t);
        if (t->io != NULL) {
            netio_relisten(t->io);
        }
        t->last_sweep_ms = now;
    }
    return n;
}

/* The shard threads' service (hdb_db_set_service): shard thread k serves network thread k's
 * sockets between its shards' turns, and the statements they carry run there. */
static uint64_t service_turn(void *arg, uint32_t thread, uint64_t now_ns, uint64_t *next_ns)
{
    struct hdb_server *s = arg;
    if (thread >= s->nthreads) {
        return 0;
    }
    *next_ns = now_ns + (uint64_t)NET_TICK_MS * 1000000u; /* the timeouts' tick */
    return net_turn(&s->threads[thread], 0);
}

static void wake(struct net_thread *t)
{
    uint64_t one = 1;
    ssize_t n = write(t->wakefd, &one, sizeof one);
    (void)n;
}

/* --- start and stop --- */

static int thread_init(struct hdb_server *s, struct net_thread *t, uint32_t index, char *msg,
                       size_t cap)
{
    *t = (struct net_thread){.srv = s, .index = index, .epfd = -1, .wakefd = -1};
    t->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (t->wakefd >= 0 && s->ring_wanted) {
        t->io = netio_new(t->wakefd, s->ring_why, sizeof s->ring_why); /* NULL: epoll */
    }
    if (t->io == NULL) {
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        t->buf = malloc(NET_READ_BYTES);
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &t->wakefd};
    bool epoll_failed = t->io == NULL && (t->epfd < 0 || t->buf == NULL ||
                                          epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wakefd, &ev) != 0);
    if (t->wakefd < 0 || epoll_failed) {
        snprintf(msg, cap, "network thread %u: %s", index, strerror(errno));
        return HELIOSDB_NOMEM;
    }
    heliosdb_error err;
    if (heliosdb_connect(s->db, &t->sql, &err) != HELIOSDB_OK) {
        snprintf(msg, cap, "network thread %u: %s", index, err.message);
        return err.code;
    }
    uint32_t limit = s->o.request_timeout_ms, def = heliosdb_default_timeout_ms(t->sql);
    if (limit > 0 && (def == 0 || limit < def)) {
        heliosdb_set_timeout(t->sql, limit); /* REST statements end within the request's time */
    }
    t->genv = (struct grpc_env){.db = s->db,
                                .conn = t->sql,
                                .message_bytes_max = s->o.max_request_bytes,
                                .serving = true,
                                .tables_enabled = s->o.grpc_tables,
                                .tables_cache = &t->tables_cache};
    for (uint32_t p = 0; p < SERVER_LISTENERS_MAX; p++) {
        uint16_t port = s->o.ports[p];
        bool dup = port == 0;
        for (uint32_t q = 0; q < p && !dup; q++) {
            dup = s->o.ports[q] == port;
        }
        if (dup) {
            continue;
        }
        int rc = listen_on(s->bind_address, port, &t->listen_fds[t->nlisten], msg, cap);
        if (rc != HELIOSDB_OK) {
            return rc;
        }
        if (t->io != NULL) {
            netio_listen(t->io, t->nlisten, t->listen_fds[t->nlisten]);
        } else {
            struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &t->listen_fds[t->nlisten]};
            epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->listen_fds[t->nlisten], &lev);
        }
        t->nlisten++;
    }
    return HELIOSDB_OK;
}

static void thread_free(struct net_thread *t)
{
    rest_cache_free(&t->rest_cache);
    grpc_tables_cache_free(&t->tables_cache);
    grpc_env_release(&t->genv);
    close_listeners(t);
    while (t->conns != NULL) {
        conn_close(t, t->conns);
    }
    if (t->sql != NULL) {
        heliosdb_disconnect(t->sql);
    }
    netio_free(t->io);
    t->io = NULL;
    if (t->epfd >= 0) {
        close(t->epfd);
    }
    if (t->wakefd >= 0) {
        close(t->wakefd);
    }
    free(t->buf);
}

static uint32_t threads_io_uring(const struct hdb_server *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->nthreads; i++) {
        n += s->threads[i].io != NULL ? 1 : 0;
    }
    return n;
}

/* Says once, at start, how the network threads do their I/O. */
static void net_io_log(const struct hdb_server *s)
{
    uint32_t n = threads_io_uring(s);
    if (n == s->nthreads) {
        hdb_log(HDB_LOG_INFO, "serve: network I/O through io_uring (%s)",
                netio_multishot(s->threads[0].io) ? "multishot accept and receive"
                                                  : "single-shot accept and receive, re-armed");
    } else if (n == 0) {
        hdb_log(HDB_LOG_INFO, "serve: network I/O through epoll (%s)", s->ring_why);
    } else {
        hdb_log(HDB_LOG_WARN, "serve: network I/O through io_uring on %u of %u threads (%s)", n,
                s->nthreads, s->ring_why);
    }
}

int hdb_server_start(heliosdb *db, const struct hdb_server_opts *o, struct hdb_server **out,
                     char *msg, size_t msg_cap)
{
    *out = NULL;
    uint32_t threads = heliosdb_threads(db);
    if (threads == 0 || threads > SERVER_THREADS_MAX || o->ntokens > SERVER_TOKENS_MAX) {
        snprintf(msg, msg_cap, "1 to %u shard threads, at most %u tokens", SERVER_THREADS_MAX,
                 SERVER_TOKENS_MAX);
        return HELIOSDB_INVALID;
    }
    struct hdb_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(msg, msg_cap, "out of memory");
        return HELIOSDB_NOMEM;
    }
    s->db = db;
    s->o = *o;
    s->bind_address = strdup(o->bind_address);
    s->readiness_query = strdup(o->readiness_query != NULL ? o->readiness_query : "SELECT 1");
    int rc = s->bind_address != NULL && s->readiness_query != NULL ? HELIOSDB_OK : HELIOSDB_NOMEM;
    for (uint32_t i = 0; i < o->ntokens && rc == HELIOSDB_OK; i++) {
        s->tokens[i] = strdup(o->tokens[i]);
        rc = s->tokens[i] != NULL ? HELIOSDB_OK : HELIOSDB_NOMEM;
    }
    if (rc == HELIOSDB_OK && o->tls_cert_path != NULL) {
        s->tls = tls_ctx_new(o->tls_cert_path, o->tls_key_path, msg, msg_cap);
        rc = s->tls != NULL ? HELIOSDB_OK : HELIOSDB_INVALID;
    }
    const char *fallback = getenv("HDB_TEST_FALLBACK"); /* tests: epoll as where io_uring fails */
    s->ring_wanted = o->use_io_uring && (fallback == NULL || fallback[0] != '1');
    snprintf(s->ring_why, sizeof s->ring_why, "%s",
             !o->use_io_uring ? "[io] use_io_uring = false" : "HDB_TEST_FALLBACK=1");
    atomic_store(&s->accepting, true);
    for (uint32_t i = 0; i < threads && rc == HELIOSDB_OK; i++) {
        rc = thread_init(s, &s->threads[i], i, msg, msg_cap);
        s->nthreads = i + 1;
    }
    if (rc == HELIOSDB_OK) {
        s->service = (struct hdb_db_service){.turn = service_turn, .arg = s};
        for (uint32_t i = 0; i < HDB_SHARDS_MAX; i++) {
            struct net_thread *t = &s->threads[i];
            s->service.fds[i] = i >= s->nthreads ? -1 : t->io != NULL ? netio_fd(t->io) : t->epfd;
        }
        heliosdb_set_service(db, &s->service);
        s->service_on = true;
    }
    if (rc != HELIOSDB_OK) {
        hdb_server_stop_accepting(s);
        hdb_server_drain(s, 0);
        hdb_server_free(s);
        if (msg[0] == '\0') {
            snprintf(msg, msg_cap, "cannot start the network threads");
        }
        return rc;
    }
    net_io_log(s);
    *out = s;
    return HELIOSDB_OK;
}

void hdb_server_stop_accepting(struct hdb_server *s)
{
    atomic_store(&s->accepting, false);
    for (uint32_t i = 0; i < s->nthreads; i++) {
        wake(&s->threads[i]);
    }
}

/* Waits until every thread finished, or the deadline; returns how many did not. */
static uint32_t wait_finished(struct hdb_server *s, uint64_t deadline_ms)
{
    for (;;) {
        uint32_t busy = 0;
        for (uint32_t i = 0; i < s->nthreads; i++) {
            busy += s->service_on && !atomic_load(&s->threads[i].done) ? 1 : 0;
        }
        if (busy == 0 || now_ms() >= deadline_ms) {
            return busy;
        }
        for (uint32_t i = 0; i < s->nthreads; i++) {
            wake(&s->threads[i]);
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Stops the service: the shard threads then run their shards only, and what is left of the
 * network threads (a thread that did not finish in time) is closed by hdb_server_free. */
static void service_off(struct hdb_server *s)
{
    if (s->service_on) {
        heliosdb_set_service(s->db, NULL);
        s->service_on = false;
    }
}

uint32_t hdb_server_drain(struct hdb_server *s, uint32_t timeout_ms)
{
    atomic_store(&s->draining, true);
    uint32_t busy = wait_finished(s, now_ms() + timeout_ms);
    atomic_store(&s->stopping, true); /* what is left closes at the threads' next turns */
    wait_finished(s, now_ms() + NET_STOP_MS);
    service_off(s);
    return busy;
}

void hdb_server_free(struct hdb_server *s)
{
    if (s == NULL) {
        return;
    }
    service_off(s);
    for (uint32_t i = 0; i < s->nthreads; i++) {
        thread_free(&s->threads[i]);
    }
    for (uint32_t i = 0; i < SERVER_TOKENS_MAX; i++) {
        free(s->tokens[i]);
    }
    free(s->bind_address);
    free(s->readiness_query);
    tls_ctx_free(s->tls);
    free(s);
}

void hdb_server_stats(const struct hdb_server *s, struct hdb_server_stats *out)
{
    struct hdb_server *m = (struct hdb_server *)s; /* atomics are read, not written */
    *out = (struct hdb_server_stats){
        .connections_accepted = atomic_load(&m->accepted),
        .connections_open = atomic_load(&m->open),
        .connections_refused = atomic_load(&m->refused),
        .requests = atomic_load(&m->requests),
        .responses_2xx = atomic_load(&m->r2xx),
        .responses_4xx = atomic_load(&m->r4xx),
        .responses_5xx = atomic_load(&m->r5xx),
        .network_threads_io_uring = threads_io_uring(s),
    };
}
