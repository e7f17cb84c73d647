/*
 * ring.h — the bounded, lock-free, single-producer/single-consumer message
 * ring that connects two threads (shard to shard, connection to shard).
 *
 * One thread pushes, one thread pops; nothing else touches a ring. The
 * producer owns `tail`, the consumer owns `head`; each is published with a
 * release store and read by the other side with an acquire load, and each
 * side keeps a private cached copy of the other's index so that it touches
 * the shared cache line only when the cached copy says the ring looks full
 * (producer) or empty (consumer). head and tail live on separate cache
 * lines. Messages are fixed-size (struct hdb_msg: a small header and a
 * pointer to a payload the sender owns until the reply); a push copies a
 * batch and publishes the tail once, a pop drains a batch and publishes the
 * head once. A full ring refuses what does not fit: that is the
 * backpressure — there is no unbounded queue behind it.
 */
#ifndef HDB_RING_H
#define HDB_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/status.h"

#define HDB_CACHE_LINE        64
#define HDB_RING_CAPACITY_MIN 2u
#define HDB_RING_CAPACITY_MAX (1u << 20)

/* One message: 64 bytes, one cache line. */
struct hdb_msg {
    uint32_t type;
    uint32_t flags;
    uint64_t id;   /* request id, echoed in the reply */
    void *payload; /* owned by the sender until the reply */
    uint64_t arg[5];
};

_Static_assert(sizeof(struct hdb_msg) == HDB_CACHE_LINE, "a message is one cache line");

struct hdb_ring {
    /* Consumer's line. */
    alignas(HDB_CACHE_LINE) _Atomic uint64_t head;
    uint64_t tail_cached; /* consumer's copy of tail */
    /* Producer's line. */
    alignas(HDB_CACHE_LINE) _Atomic uint64_t tail;
    uint64_t head_cached; /* producer's copy of head */
    /* Read-only after init. */
    alignas(HDB_CACHE_LINE) uint32_t capacity;
    uint32_t mask;
    struct hdb_msg *slots;
};

/* capacity: a power of two from HDB_RING_CAPACITY_MIN to HDB_RING_CAPACITY_MAX. */
int hdb_ring_init(struct hdb_ring *r, uint32_t capacity, struct hdb_err *err);
void hdb_ring_destroy(struct hdb_ring *r);

/*
 * Producer only. Copies up to n messages in order and publishes them with
 * one release store. Returns how many fit (0 when the ring is full).
 */
uint32_t hdb_ring_push(struct hdb_ring *r, const struct hdb_msg *msgs, uint32_t n);

/*
 * Consumer only. Copies up to max messages out in order and frees their
 * slots with one release store. Returns how many there were (0 when empty).
 */
uint32_t hdb_ring_pop(struct hdb_ring *r, struct hdb_msg *out, uint32_t max);

/* Messages in the ring, as seen now (exact from either side's own thread, a hint from others). */
uint32_t hdb_ring_depth(const struct hdb_ring *r);

#endif
