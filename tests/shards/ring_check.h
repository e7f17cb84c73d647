/*
 * ring_check.h — the two-thread ring check shared by the criterion test and
 * the ThreadSanitizer program: a producer pushes `count` numbered messages
 * in random batches, a consumer pops them in random batches, and every
 * message must arrive once, in order, with its payload intact.
 */
#ifndef HDB_RING_CHECK_H
#define HDB_RING_CHECK_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>

#include "shards/ring.h"

#define RING_CHECK_BATCH_MAX 37u

struct ring_check {
    struct hdb_ring ring;
    uint64_t count;
    uint64_t received;
    uint64_t full_pushes; /* pushes that found the ring full: backpressure happened */
    _Atomic bool stop;    /* the consumer found a bad message: the producer gives up */
    char failure[256];
};

static uint64_t ring_check_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *ring_check_producer(void *arg)
{
    struct ring_check *c = arg;
    struct hdb_msg batch[RING_CHECK_BATCH_MAX];
    uint64_t seed = 0x9E3779B97F4A7C15ull, next = 0;
    while (next < c->count) {
        uint32_t n = 1 + (uint32_t)(ring_check_rand(&seed) % RING_CHECK_BATCH_MAX);
        n = c->count - next < n ? (uint32_t)(c->count - next) : n;
        for (uint32_t i = 0; i < n; i++) {
            batch[i] = (struct hdb_msg){.type = 7, .id = next + i, .arg = {~(next + i)}};
        }
        uint32_t sent = 0;
        while (sent < n) {
            if (atomic_load(&c->stop)) {
                return NULL;
            }
            uint32_t k = hdb_ring_push(&c->ring, batch + sent, n - sent);
            if (k == 0) {
                c->full_pushes++;
                sched_yield();
            }
            sent += k;
        }
        next += n;
    }
    return NULL;
}

static void *ring_check_consumer(void *arg)
{
    struct ring_check *c = arg;
    struct hdb_msg batch[RING_CHECK_BATCH_MAX];
    uint64_t seed = 0xD1B54A32D192ED03ull;
    while (c->received < c->count) {
        uint32_t want = 1 + (uint32_t)(ring_check_rand(&seed) % RING_CHECK_BATCH_MAX);
        uint32_t k = hdb_ring_pop(&c->ring, batch, want);
        if (k == 0) {
            sched_yield();
        }
        for (uint32_t i = 0; i < k; i++, c->received++) {
            if (batch[i].id != c->received || batch[i].arg[0] != ~c->received ||
                batch[i].type != 7) {
                snprintf(c->failure, sizeof c->failure, "message %llu arrived as id %llu",
                         (unsigned long long)c->received, (unsigned long long)batch[i].id);
                atomic_store(&c->stop, true);
                return NULL;
            }
        }
    }
    return NULL;
}

/* Runs the check on a ring of `capacity`; returns true if every message arrived in order. */
static bool ring_check_run(uint32_t capacity, uint64_t count, struct ring_check *c)
{
    c->count = count;
    c->received = 0;
    c->full_pushes = 0;
    atomic_init(&c->stop, false);
    c->failure[0] = '\0';
    if (hdb_ring_init(&c->ring, capacity, NULL) != HDB_OK) {
        snprintf(c->failure, sizeof c->failure, "ring init failed");
        return false;
    }
    pthread_t p, q;
    pthread_create(&q, NULL, ring_check_consumer, c);
    pthread_create(&p, NULL, ring_check_producer, c);
    pthread_join(p, NULL);
    pthread_join(q, NULL);
    bool ok = c->failure[0] == '\0' && hdb_ring_depth(&c->ring) == 0;
    hdb_ring_destroy(&c->ring);
    return ok;
}

#endif
