/*
 * test_ring.c — the SPSC ring: capacity rules, order and wrap-around,
 * batches that partly fit (backpressure), and two threads passing millions
 * of messages. The same two-thread check runs under ThreadSanitizer as
 * tests/shards/tsan_ring.c.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/shards/ring_check.h"

Test(ring, capacity_must_be_a_bounded_power_of_two)
{
    struct hdb_ring r;
    struct hdb_err err;
    cr_assert_eq(hdb_ring_init(&r, 0, &err), HDB_INVALID);
    cr_assert_eq(hdb_ring_init(&r, 3, &err), HDB_INVALID);
    cr_assert_eq(hdb_ring_init(&r, HDB_RING_CAPACITY_MAX * 2, &err), HDB_INVALID);
    cr_assert(strstr(err.msg, "power of two") != NULL, "%s", err.msg);
    cr_assert_eq(hdb_ring_init(&r, 8, &err), HDB_OK);
    hdb_ring_destroy(&r);
}

Test(ring, full_ring_refuses_what_does_not_fit_and_order_survives_wrap)
{
    struct hdb_ring r;
    cr_assert_eq(hdb_ring_init(&r, 8, NULL), HDB_OK);
    struct hdb_msg in[12], out[12];
    for (uint32_t i = 0; i < 12; i++) {
        in[i] = (struct hdb_msg){.id = i};
    }
    cr_assert_eq(hdb_ring_push(&r, in, 5), 5);
    cr_assert_eq(hdb_ring_push(&r, in + 5, 7), 3, "only 3 of 7 fit: backpressure");
    cr_assert_eq(hdb_ring_depth(&r), 8);
    cr_assert_eq(hdb_ring_push(&r, in + 8, 1), 0, "a full ring takes nothing");
    cr_assert_eq(hdb_ring_pop(&r, out, 6), 6);
    for (uint32_t i = 0; i < 6; i++) {
        cr_assert_eq(out[i].id, i);
    }
    cr_assert_eq(hdb_ring_push(&r, in + 8, 4), 4, "these wrap around the end");
    cr_assert_eq(hdb_ring_pop(&r, out, 12), 6);
    for (uint32_t i = 0; i < 6; i++) {
        cr_assert_eq(out[i].id, 6 + i, "wrapped order");
    }
    cr_assert_eq(hdb_ring_pop(&r, out, 12), 0);
    cr_assert_eq(hdb_ring_depth(&r), 0);
    hdb_ring_destroy(&r);
}

Test(ring, two_threads_pass_every_message_once_in_order, .timeout = 120)
{
    struct ring_check c;
    cr_assert(ring_check_run(64, 5000000, &c), "%s", c.failure);
    cr_assert(ring_check_run(2, 200000, &c), "smallest ring: %s", c.failure);
    cr_assert_gt(c.full_pushes, 0, "a 2-slot ring never pushed back");
}
