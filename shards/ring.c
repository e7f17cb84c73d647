/*
 * ring.c — see ring.h. Indexes are free-running 64-bit counters (they never
 * wrap in practice); a slot is index & mask.
 */
#include "shards/ring.h"

#include <stdlib.h>
#include <string.h>

int hdb_ring_init(struct hdb_ring *r, uint32_t capacity, struct hdb_err *err)
{
    if (capacity < HDB_RING_CAPACITY_MIN || capacity > HDB_RING_CAPACITY_MAX ||
        (capacity & (capacity - 1)) != 0) {
        return hdb_err_set(err, HDB_INVALID, "ring capacity %u: a power of two from %u to %u",
                           capacity, HDB_RING_CAPACITY_MIN, HDB_RING_CAPACITY_MAX);
    }
    memset(r, 0, sizeof *r);
    r->slots = aligned_alloc(HDB_CACHE_LINE, (size_t)capacity * sizeof *r->slots);
    if (r->slots == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory for a ring of %u messages", capacity);
    }
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    r->capacity = capacity;
    r->mask = capacity - 1;
    return HDB_OK;
}

void hdb_ring_destroy(struct hdb_ring *r)
{
    free(r->slots);
    r->slots = NULL;
}

/* Copies n messages between the ring at index `at` and a flat array, across the wrap. */
static void copy_in(struct hdb_ring *r, uint64_t at, const struct hdb_msg *msgs, uint32_t n)
{
    uint32_t first = (uint32_t)(at & r->mask);
    uint32_t run = r->capacity - first < n ? r->capacity - first : n;
    memcpy(&r->slots[first], msgs, (size_t)run * sizeof *msgs);
    memcpy(&r->slots[0], msgs + run, (size_t)(n - run) * sizeof *msgs);
}

static void copy_out(const struct hdb_ring *r, uint64_t at, struct hdb_msg *out, uint32_t n)
{
    uint32_t first = (uint32_t)(at & r->mask);
    uint32_t run = r->capacity - first < n ? r->capacity - first : n;
    memcpy(out, &r->slots[first], (size_t)run * sizeof *out);
    memcpy(out + run, &r->slots[0], (size_t)(n - run) * sizeof *out);
}

uint32_t hdb_ring_push(struct hdb_ring *r, const struct hdb_msg *msgs, uint32_t n)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t space = r->capacity - (tail - r->head_cached);
    if (space < n) {
        r->head_cached = atomic_load_explicit(&r->head, memory_order_acquire);
        space = r->capacity - (tail - r->head_cached);
    }
    uint32_t k = space < n ? (uint32_t)space : n;
    if (k == 0) {
        return 0;
    }
    copy_in(r, tail, msgs, k);
    atomic_store_explicit(&r->tail, tail + k, memory_order_release);
    return k;
}

uint32_t hdb_ring_pop(struct hdb_ring *r, struct hdb_msg *out, uint32_t max)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t avail = r->tail_cached - head;
    if (avail < max) {
        r->tail_cached = atomic_load_explicit(&r->tail, memory_order_acquire);
        avail = r->tail_cached - head;
    }
    uint32_t k = avail < max ? (uint32_t)avail : max;
    if (k == 0) {
        return 0;
    }
    copy_out(r, head, out, k);
    atomic_store_explicit(&r->head, head + k, memory_order_release);
    return k;
}

uint32_t hdb_ring_depth(const struct hdb_ring *r)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    return tail >= head ? (uint32_t)(tail - head) : 0;
}
