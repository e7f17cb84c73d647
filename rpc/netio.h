/*
 * netio.h — a network thread's io_uring (docs/server.md, "Network I/O").
 *
 * Each network thread of rpc/server.c owns one ring. Through it:
 *   - every listening socket has one accept armed (multishot where the kernel has it: one SQE,
 *     one CQE per new connection), re-armed when it ends;
 *   - every connection has one receive armed (multishot where the kernel has it), which takes a
 *     buffer from the ring's provided-buffer ring (NETIO_BUFS of NETIO_BUF_BYTES) for each CQE;
 *   - every connection has at most one send in flight: the pending output is swapped into the
 *     socket's own buffer (`tx`), so the owner keeps appending to its output while the send is
 *     in flight, and the memory the kernel reads does not move; partial sends are resubmitted;
 *   - the thread's wake eventfd is polled (re-armed after each wake-up).
 * Kernels without multishot get single-shot operations, re-armed after each completion (told
 * by the kernel refusing the multishot flag with EINVAL, or by the opcode probe at set-up).
 *
 * Lifetime: an operation in flight names its socket (a struct netio_sock embedded in its
 * owner) in its user_data. A socket closed with operations in flight has them cancelled; its
 * owner must stay allocated until netio_done says the last of them completed.
 *
 * Thread rules: one thread uses a ring at a time (the shard thread that serves the network
 * thread's connections; set-up and tear-down while no thread serves them).
 */
#ifndef HDB_RPC_NETIO_H
#define HDB_RPC_NETIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/http1.h"

#define NETIO_SQ_ENTRIES    256u  /* submission queue; full: submitted early, then reused */
#define NETIO_CQ_ENTRIES    4096u /* completion queue (the kernel keeps overflow, FEAT_NODROP) */
#define NETIO_BUFS          256u  /* provided receive buffers per ring (a power of two) */
#define NETIO_BUF_BYTES     16384u
#define NETIO_LISTENERS_MAX 4u
#define NETIO_EVENTS_MAX    128u /* events one netio_wait returns at most */

/* What completed. */
enum netio_kind {
    NETIO_ACCEPT = 1, /* res: a new socket (non-blocking, close-on-exec) */
    NETIO_RECV,       /* res > 0: bytes in `data`; res <= 0: the peer closed, or an error */
    NETIO_SEND,       /* res >= 0: all of the send was written; res < 0: the send failed */
};

/* A connection's socket as the ring sees it (embedded in the connection). */
struct netio_sock {
    _Alignas(8) int fd;  /* (user_data keeps tags in the low 3 bits of its address) */
    uint32_t ops;        /* operations in flight that name this socket */
    bool receiving;      /* a receive is armed */
    bool multishot;      /* it is multishot */
    bool sending;        /* a send is in flight (at most one) */
    bool closed;         /* netio_close was called; the owner waits for ops == 0 */
    struct http1_out tx; /* what the send in flight writes (owned; freed with the socket) */
    size_t tx_done;      /* how much of it was written */
};

/* One completion for the caller. */
struct netio_event {
    enum netio_kind kind;
    struct netio_sock *sock; /* RECV, SEND */
    int32_t res;
    const uint8_t *data; /* RECV: res bytes, valid until netio_done */
    /* private to netio */
    bool ends; /* the operation is over: netio_done counts it out */
    bool has_buf;
    uint16_t bid;
};

struct netio;

/*
 * A ring for one network thread, polling `wakefd` (an eventfd, non-blocking) so that a write
 * to it ends netio_wait. Returns NULL when io_uring cannot be used here, with the reason in
 * `why` (the caller then uses epoll). HDB_TEST_NETIO_SINGLESHOT=1 in the environment forces
 * single-shot accept and receive (tests).
 */
struct netio *netio_new(int wakefd, char *why, size_t why_cap);
/* Cancels what is armed, waits a bounded time for it, frees the ring. NULL: nothing. */
void netio_free(struct netio *io);
/* Are accept and receive multishot (else single-shot, re-armed)? For the log. */
bool netio_multishot(const struct netio *io);

/* Arms the accept of listening socket `fd` as listener `index` (< NETIO_LISTENERS_MAX); if no
 * SQE can be had now, netio_relisten arms it. */
void netio_listen(struct netio *io, uint32_t index, int fd);
/* Cancels listener `index`'s accept and submits the cancel at once: the caller then closes the
 * socket, which then really stops listening (the ring no longer holds it). */
void netio_unlisten(struct netio *io, uint32_t index);
/* Re-arms the accepts that ended on an error (EMFILE...): called once per tick, not at once,
 * so that an error that persists does not spin the loop. */
void netio_relisten(struct netio *io);

/* A new connection's socket (nothing armed yet). */
void netio_sock_init(struct netio_sock *s, int fd);
/* Arms its receive. Returns 0, or -1 (no SQE even after a submit: nothing armed). */
int netio_recv(struct netio *io, struct netio_sock *s);
/*
 * Sends out->data[*sent .. out->len): unless a send is in flight already (then nothing happens:
 * the caller calls again after its NETIO_SEND), the bytes are swapped into s->tx, `out` gets
 * the previous (empty) tx buffer and *sent = 0. Returns 0, or -1 (no SQE: nothing changed).
 */
int netio_send(struct netio *io, struct netio_sock *s, struct http1_out *out, size_t *sent);
/*
 * Closes the socket: submits what was queued naming it (so that no later SQE can meet another
 * socket given the same number), cancels its operations, shuts it down and closes it. Returns
 * true when nothing is in flight, and the owner may be freed now; else netio_done says when.
 */
bool netio_close(struct netio *io, struct netio_sock *s);

/*
 * Submits what is queued and waits up to timeout_ms for completions (0: no wait, and no system
 * call unless something is queued); fills at most `max` events (the wake-ups, re-arms and
 * partial sends are handled inside). Returns how many.
 */
uint32_t netio_wait(struct netio *io, struct netio_event *ev, uint32_t max, uint32_t timeout_ms);
/*
 * Call after handling each event: gives back its receive buffer and counts its operation out.
 * Returns true when ev->sock is closed and nothing names it any more: free its owner now.
 */
bool netio_done(struct netio *io, struct netio_event *ev);
/* Submits what is queued (no system call when nothing is). */
void netio_submit(struct netio *io);
/* The ring's descriptor: readable (POLLIN) when completions wait, for a thread that sleeps in
 * poll instead of netio_wait (entries queued must have been submitted first). */
int netio_fd(const struct netio *io);
/* Operations in flight over all sockets (not the accepts and the wake poll). */
uint32_t netio_inflight(const struct netio *io);

#endif
