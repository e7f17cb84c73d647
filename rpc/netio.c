/*
 * netio.c — a network thread's io_uring (see netio.h).
 *
 * user_data names what completed: its low bits a tag (TAG_*), the rest the socket (a
 * struct netio_sock, 8-byte aligned) or the listener index. Every SQE that names a socket
 * counts one in its `ops` when queued and one out when its last CQE (no IORING_CQE_F_MORE)
 * has been handled (netio_done, or here for the completions the caller never sees).
 *
 * Received bytes land in the ring's provided buffers (one group, NETIO_BGID): each CQE
 * carries the id of the buffer it filled, which goes back to the ring once the caller has
 * handled the event. When every buffer is taken, a receive ends with ENOBUFS and is re-armed;
 * the buffers come back as the events of the batch are handled, before the next submit.
 */
#include "rpc/netio.h"

#include <assert.h>
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

#define NETIO_BGID         0     /* the provided-buffer group */
#define NETIO_REAP_MAX     8192u /* CQEs one netio_wait looks at, at most */
#define NETIO_FREE_WAIT_MS 1000u /* netio_free waits this long for what it cancelled */

static_assert((NETIO_BUFS & (NETIO_BUFS - 1)) == 0, "a buffer ring's size is a power of two");
static_assert(NETIO_BUFS <= 32768, "buffer ids are 16 bits, ring entries at most 32768");
static_assert(NETIO_EVENTS_MAX < NETIO_BUFS, "a batch's events cannot hold every buffer");

enum { TAG_WAKE = 1, TAG_ACCEPT, TAG_RECV, TAG_SEND, TAG_CANCEL, TAG_BITS = 3 };
#define TAG_MASK ((uint64_t)((1u << TAG_BITS) - 1))
static_assert(_Alignof(struct netio_sock) >= (1u << TAG_BITS), "tags fit below the pointer");

struct netio {
    struct io_uring ring;
    struct io_uring_buf_ring *br; /* NETIO_BUFS entries, page-aligned (mmap) */
    size_t br_bytes;
    uint8_t *bufs; /* NETIO_BUFS buffers of NETIO_BUF_BYTES */
    bool br_registered;
    int wakefd;
    bool wake_armed;
    int listen_fd[NETIO_LISTENERS_MAX]; /* -1: none, or unlistened */
    bool accept_armed[NETIO_LISTENERS_MAX];
    bool accept_ms[NETIO_LISTENERS_MAX]; /* the armed accept is multishot */
    bool accept_multishot, recv_multishot;
    uint32_t inflight; /* sum of every socket's ops */
};

static uint64_t sock_tag(const struct netio_sock *s, uint64_t tag)
{
    return (uint64_t)(uintptr_t)s | tag;
}

static struct netio_sock *sock_of(uint64_t user_data)
{
    return (struct netio_sock *)(uintptr_t)(user_data & ~TAG_MASK);
}

static uint64_t accept_tag(uint32_t index)
{
    return ((uint64_t)index << TAG_BITS) | TAG_ACCEPT;
}

/* An SQE; when the queue is full, what it holds is submitted first. NULL: none even then. */
static struct io_uring_sqe *sqe_get(struct netio *io)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
    if (sqe == NULL) {
        io_uring_submit(&io->ring);
        sqe = io_uring_get_sqe(&io->ring);
    }
    return sqe;
}

static void cancel(struct netio *io, uint64_t user_data, int flags)
{
    struct io_uring_sqe *sqe = sqe_get(io);
    if (sqe != NULL) {
        io_uring_prep_cancel64(sqe, user_data, flags);
        io_uring_sqe_set_data64(sqe, TAG_CANCEL);
    }
}

/* --- set-up --- */

/* Which opcodes the kernel has: those the loop needs, and multishot (told by opcodes of the
 * same kernel: IORING_OP_SOCKET came with multishot accept in 5.19, IORING_OP_SEND_ZC with
 * multishot receive in 6.0; a kernel that still refuses the flag gets single-shot). */
static int probe(struct netio *io, char *why, size_t why_cap)
{
    static const int needed[] = {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND,
                                 IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL};
    struct io_uring_probe *p = io_uring_get_probe_ring(&io->ring);
    if (p == NULL) {
        snprintf(why, why_cap, "the io_uring opcodes cannot be probed");
        return -1;
    }
    bool ok = true;
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        ok = ok && io_uring_opcode_supported(p, needed[i]);
    }
    io->accept_multishot = io_uring_opcode_supported(p, IORING_OP_SOCKET);
    io->recv_multishot = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
    io_uring_free_probe(p);
    if (!ok) {
        snprintf(why, why_cap, "the kernel's io_uring lacks accept, recv, send, poll or cancel");
        return -1;
    }
    const char *single = getenv("HDB_TEST_NETIO_SINGLESHOT");
    if (single != NULL && single[0] == '1') {
        io->accept_multishot = io->recv_multishot = false;
    }
    return 0;
}

static void buf_give(struct netio *io, uint16_t bid, int offset)
{
    io_uring_buf_ring_add(io->br, io->bufs + (size_t)bid * NETIO_BUF_BYTES, NETIO_BUF_BYTES, bid,
                          io_uring_buf_ring_mask(NETIO_BUFS), offset);
}

/* The provided-buffer ring (liburing 2.3 has no io_uring_setup_buf_ring: mmap, register). */
static int bufs_setup(struct netio *io, char *why, size_t why_cap)
{
    io->br_bytes = NETIO_BUFS * sizeof(struct io_uring_buf);
    void *mem =
        mmap(NULL, io->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    io->bufs = malloc((size_t)NETIO_BUFS * NETIO_BUF_BYTES);
    if (mem == MAP_FAILED || io->bufs == NULL) {
        snprintf(why, why_cap, "no memory for the receive buffers");
        io->br = NULL;
        if (mem != MAP_FAILED) {
            munmap(mem, io->br_bytes);
        }
        return -1;
    }
    io->br = mem;
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)mem, .ring_entries = NETIO_BUFS, .bgid = NETIO_BGID};
    int r = io_uring_register_buf_ring(&io->ring, &reg, 0);
    if (r < 0) {
        snprintf(why, why_cap, "no provided-buffer rings (kernel before 5.19?): %s", strerror(-r));
        return -1;
    }
    io->br_registered = true;
    io_uring_buf_ring_init(io->br);
    for (uint32_t i = 0; i < NETIO_BUFS; i++) {
        buf_give(io, (uint16_t)i, (int)i);
    }
    io_uring_buf_ring_advance(io->br, NETIO_BUFS);
    return 0;
}

static void wake_arm(struct netio *io)
{
    struct io_uring_sqe *sqe = sqe_get(io);
    if (sqe != NULL) {
        io_uring_prep_poll_add(sqe, io->wakefd, POLLIN);
        io_uring_sqe_set_data64(sqe, TAG_WAKE);
        io->wake_armed = true;
    }
}

static void ring_release(struct netio *io, bool bufs_free)
{
    if (io->br_registered) {
        io_uring_unregister_buf_ring(&io->ring, NETIO_BGID);
    }
    io_uring_queue_exit(&io->ring);
    if (io->br != NULL) {
        munmap(io->br, io->br_bytes);
    }
    if (bufs_free) {
        free(io->bufs);
    }
    free(io);
}

struct netio *netio_new(int wakefd, char *why, size_t why_cap)
{
    struct netio *io = calloc(1, sizeof *io);
    if (io == NULL) {
        snprintf(why, why_cap, "out of memory");
        return NULL;
    }
    io->wakefd = wakefd;
    for (uint32_t i = 0; i < NETIO_LISTENERS_MAX; i++) {
        io->listen_fd[i] = -1;
    }
    /* TASKRUN_FLAG: a completion waiting for its task work shows in the SQ flags, so a peek of
     * the CQ (the shard loop's turns make no system call) enters the kernel to run it. */
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN |
                                         IORING_SETUP_TASKRUN_FLAG,
                                .cq_entries = NETIO_CQ_ENTRIES};
    int r = io_uring_queue_init_params(NETIO_SQ_ENTRIES, &io->ring, &p);
    if (r == -EINVAL) { /* before 5.19: no COOP_TASKRUN */
        p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE, .cq_entries = NETIO_CQ_ENTRIES};
        r = io_uring_queue_init_params(NETIO_SQ_ENTRIES, &io->ring, &p);
    }
    if (r < 0) {
        snprintf(why, why_cap, "io_uring_queue_init: %s", strerror(-r));
        free(io);
        return NULL;
    }
    if (probe(io, why, why_cap) != 0 || bufs_setup(io, why, why_cap) != 0) {
        ring_release(io, true);
        return NULL;
    }
    wake_arm(io);
    return io;
}

bool netio_multishot(const struct netio *io)
{
    return io->accept_multishot && io->recv_multishot;
}

/* --- listeners --- */

static int accept_arm(struct netio *io, uint32_t index)
{
    struct io_uring_sqe *sqe = sqe_get(io);
    if (sqe == NULL) {
        return -1;
    }
    int fd = io->listen_fd[index], flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    if (io->accept_multishot) {
        io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, flags);
    } else {
        io_uring_prep_accept(sqe, fd, NULL, NULL, flags);
    }
    io_uring_sqe_set_data64(sqe, accept_tag(index));
    io->accept_armed[index] = true;
    io->accept_ms[index] = io->accept_multishot;
    return 0;
}

void netio_listen(struct netio *io, uint32_t index, int fd)
{
    assert(index < NETIO_LISTENERS_MAX);
    assert(io->listen_fd[index] < 0);
    io->listen_fd[index] = fd;
    accept_arm(io, index);
}

void netio_unlisten(struct netio *io, uint32_t index)
{
    assert(index < NETIO_LISTENERS_MAX);
    if (io->listen_fd[index] < 0) {
        return;
    }
    io->listen_fd[index] = -1;
    if (io->accept_armed[index]) {
        cancel(io, accept_tag(index), 0);
        io_uring_submit(&io->ring);
    }
}

void netio_relisten(struct netio *io)
{
    for (uint32_t i = 0; i < NETIO_LISTENERS_MAX; i++) {
        if (io->listen_fd[i] >= 0 && !io->accept_armed[i]) {
            accept_arm(io, i);
        }
    }
}

/* An accept completed: a new socket for the caller; re-armed when it ended (at once after a
 * success or a refused multishot flag, at the next tick after an error). */
static bool on_accept(struct netio *io, const struct io_uring_cqe *cqe, struct netio_event *ev)
{
    uint32_t index = (uint32_t)(cqe->user_data >> TAG_BITS);
    assert(index < NETIO_LISTENERS_MAX);
    if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
        io->accept_armed[index] = false;
        bool refused = cqe->res == -EINVAL && io->accept_ms[index];
        if (refused && io->accept_multishot) {
            io->accept_multishot = false;
            hdb_log_once(HDB_LOG_INFO, "serve: multishot accept refused: single-shot accepts");
        }
        if (io->listen_fd[index] >= 0 && (cqe->res >= 0 || refused)) {
            accept_arm(io, index);
        }
    }
    if (cqe->res < 0) {
        return false;
    }
    *ev = (struct netio_event){.kind = NETIO_ACCEPT, .res = cqe->res};
    return true;
}

/* --- connections --- */

void netio_sock_init(struct netio_sock *s, int fd)
{
    *s = (struct netio_sock){.fd = fd};
}

static int recv_arm(struct netio *io, struct netio_sock *s)
{
    struct io_uring_sqe *sqe = sqe_get(io);
    if (sqe == NULL) {
        return -1;
    }
    if (io->recv_multishot) {
        io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
    } else {
        io_uring_prep_recv(sqe, s->fd, NULL, NETIO_BUF_BYTES, 0);
    }
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = NETIO_BGID;
    io_uring_sqe_set_data64(sqe, sock_tag(s, TAG_RECV));
    s->receiving = true;
    s->multishot = io->recv_multishot;
    s->ops++;
    io->inflight++;
    return 0;
}

int netio_recv(struct netio *io, struct netio_sock *s)
{
    assert(!s->closed);
    assert(!s->receiving);
    return recv_arm(io, s);
}

/* The send of s->tx from tx_done on. */
static void send_prep(struct netio *io, struct netio_sock *s, struct io_uring_sqe *sqe)
{
    assert(s->tx_done < s->tx.len);
    io_uring_prep_send(sqe, s->fd, s->tx.data + s->tx_done, s->tx.len - s->tx_done, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, sock_tag(s, TAG_SEND));
    s->sending = true;
    s->ops++;
    io->inflight++;
}

int netio_send(struct netio *io, struct netio_sock *s, struct http1_out *out, size_t *sent)
{
    assert(!s->closed);
    assert(*sent <= out->len);
    if (s->sending || *sent == out->len) {
        return 0;
    }
    struct io_uring_sqe *sqe = sqe_get(io);
    if (sqe == NULL) {
        return -1;
    }
    assert(s->tx.len == 0);
    struct http1_out spare = s->tx;
    s->tx = *out;
    s->tx_done = *sent;
    *out = spare;
    *sent = 0;
    send_prep(io, s, sqe);
    return 0;
}

bool netio_close(struct netio *io, struct netio_sock *s)
{
    assert(!s->closed);
    s->closed = true;
    if (s->ops > 0) {
        /* Issue every queued SQE now: after close() the number may name another socket. */
        io_uring_submit(&io->ring);
        if (s->receiving) {
            cancel(io, sock_tag(s, TAG_RECV), 0);
        }
        if (s->sending) {
            cancel(io, sock_tag(s, TAG_SEND), 0);
        }
        shutdown(s->fd, SHUT_RDWR); /* ends them even where a cancel cannot */
    }
    close(s->fd);
    s->fd = -1;
    if (s->ops > 0) {
        return false;
    }
    http1_out_free(&s->tx);
    return true;
}

/* A receive completed. Re-armed at once when it ended with bytes (single-shot), for want of a
 * buffer (ENOBUFS) or because the kernel refused multishot; those without bytes are not told. */
static bool on_recv(struct netio *io, const struct io_uring_cqe *cqe, struct netio_event *ev)
{
    struct netio_sock *s = sock_of(cqe->user_data);
    bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    *ev = (struct netio_event){.kind = NETIO_RECV, .sock = s, .res = cqe->res, .ends = !more};
    if ((cqe->flags & IORING_CQE_F_BUFFER) != 0) {
        ev->has_buf = true;
        ev->bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        assert(ev->bid < NETIO_BUFS);
        ev->data = io->bufs + (size_t)ev->bid * NETIO_BUF_BYTES;
    }
    if (more || s->closed) {
        return true;
    }
    s->receiving = false;
    bool refused = cqe->res == -EINVAL && s->multishot;
    if (refused && io->recv_multishot) {
        io->recv_multishot = false;
        hdb_log_once(HDB_LOG_INFO, "serve: multishot receive refused: single-shot receives");
    }
    if (cqe->res <= 0 && cqe->res != -ENOBUFS && !refused) {
        return true; /* the peer closed, or the socket failed */
    }
    if (recv_arm(io, s) != 0) {
        ev->res = cqe->res > 0 ? cqe->res : -ENOBUFS; /* no SQE: the caller closes */
        return true;
    }
    if (cqe->res > 0) {
        return true;
    }
    assert(!ev->has_buf);
    s->ops--; /* not told: counted out here (the re-arm counted itself in) */
    io->inflight--;
    return false;
}

/* A send completed: the rest of a partial send is resubmitted (not told); else it is over. */
static bool on_send(struct netio *io, const struct io_uring_cqe *cqe, struct netio_event *ev)
{
    struct netio_sock *s = sock_of(cqe->user_data);
    *ev = (struct netio_event){.kind = NETIO_SEND, .sock = s, .res = cqe->res, .ends = true};
    if (s->closed) {
        return true;
    }
    if (cqe->res > 0 && s->tx_done + (size_t)cqe->res < s->tx.len) {
        s->tx_done += (size_t)cqe->res;
        struct io_uring_sqe *sqe = sqe_get(io);
        if (sqe != NULL) {
            s->ops--;
            io->inflight--;
            send_prep(io, s, sqe);
            return false;
        }
        ev->res = -ENOBUFS;
    }
    if (ev->res == 0 && s->tx.len > s->tx_done) {
        ev->res = -EPIPE; /* nothing written of something: not progress */
    }
    s->sending = false;
    s->tx.len = 0;
    s->tx_done = 0;
    return true;
}

/* --- the wait --- */

static void on_wake(struct netio *io)
{
    uint64_t v;
    ssize_t n = read(io->wakefd, &v, sizeof v); /* non-blocking: empties the counter */
    (void)n;
    io->wake_armed = false;
    wake_arm(io);
}

static bool reap(struct netio *io, const struct io_uring_cqe *cqe, struct netio_event *ev)
{
    switch (cqe->user_data & TAG_MASK) {
    case TAG_WAKE:
        on_wake(io);
        return false;
    case TAG_ACCEPT:
        return on_accept(io, cqe, ev);
    case TAG_RECV:
        return on_recv(io, cqe, ev);
    case TAG_SEND:
        return on_send(io, cqe, ev);
    default:
        return false; /* a cancel's own completion */
    }
}

uint32_t netio_wait(struct netio *io, struct netio_event *ev, uint32_t max, uint32_t timeout_ms)
{
    assert(max <= NETIO_EVENTS_MAX);
    if (!io->wake_armed) {
        wake_arm(io);
    }
    struct io_uring_cqe *cqe = NULL;
    if (timeout_ms > 0) {
        struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000u,
                                       .tv_nsec = (long long)(timeout_ms % 1000u) * 1000000};
        int r = io_uring_submit_and_wait_timeout(&io->ring, &cqe, 1, &ts, NULL);
        (void)r; /* -ETIME, -EINTR: what completed is looked at all the same */
    } else {
        netio_submit(io); /* and no system call when nothing is queued: the CQ is looked at */
    }
    uint32_t n = 0;
    for (uint32_t seen = 0; n < max && seen < NETIO_REAP_MAX; seen++) {
        if (io_uring_peek_cqe(&io->ring, &cqe) != 0) {
            break;
        }
        struct io_uring_cqe c = *cqe;
        io_uring_cqe_seen(&io->ring, cqe);
        if (reap(io, &c, &ev[n])) {
            n++;
        }
    }
    return n;
}

void netio_submit(struct netio *io)
{
    if (io_uring_sq_ready(&io->ring) > 0) {
        int r = io_uring_submit(&io->ring);
        (void)r; /* -EBUSY/-EAGAIN: the entries stay queued for the next submit */
    }
}

int netio_fd(const struct netio *io)
{
    return io->ring.ring_fd;
}

bool netio_done(struct netio *io, struct netio_event *ev)
{
    if (ev->has_buf) {
        buf_give(io, ev->bid, 0);
        io_uring_buf_ring_advance(io->br, 1);
        ev->has_buf = false;
    }
    struct netio_sock *s = ev->sock;
    if (s == NULL || !ev->ends) {
        return false;
    }
    ev->ends = false;
    assert(s->ops > 0);
    assert(io->inflight > 0);
    s->ops--;
    io->inflight--;
    if (!s->closed || s->ops > 0) {
        return false;
    }
    http1_out_free(&s->tx);
    return true;
}

uint32_t netio_inflight(const struct netio *io)
{
    return io->inflight;
}

/* --- tear-down --- */

static bool armed(const struct netio *io)
{
    bool any = io->wake_armed;
    for (uint32_t i = 0; i < NETIO_LISTENERS_MAX; i++) {
        any = any || io->accept_armed[i];
    }
    return any;
}

void netio_free(struct netio *io)
{
    if (io == NULL) {
        return;
    }
    for (uint32_t i = 0; i < NETIO_LISTENERS_MAX; i++) {
        io->listen_fd[i] = -1; /* no re-arm; the caller closes the sockets */
    }
    if (io->wake_armed) {
        cancel(io, TAG_WAKE, 0);
    }
    for (uint32_t i = 0; i < NETIO_LISTENERS_MAX; i++) {
        if (io->accept_armed[i]) {
            cancel(io, accept_tag(i), 0);
        }
    }
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000};
    for (uint32_t waited = 0; armed(io) && waited < NETIO_FREE_WAIT_MS; waited += 10) {
        struct io_uring_cqe *cqe = NULL;
        io_uring_submit_and_wait_timeout(&io->ring, &cqe, 1, &ts, NULL);
        while (io_uring_peek_cqe(&io->ring, &cqe) == 0) {
            uint64_t tag = cqe->user_data & TAG_MASK;
            bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
            if (tag == TAG_ACCEPT && cqe->res >= 0) {
                close(cqe->res); /* accepted after the last wait: nobody serves it */
            }
            if (tag == TAG_ACCEPT && !more) {
                io->accept_armed[cqe->user_data >> TAG_BITS] = false;
            }
            io->wake_armed = io->wake_armed && tag != TAG_WAKE;
            io_uring_cqe_seen(&io->ring, cqe);
        }
    }
    /* A receive still in flight (its owner leaked by the caller) may yet fill a buffer. */
    ring_release(io, io->inflight == 0);
}
