/*
 * tsan_ring.c — the two-thread ring check as a plain program, for the
 * ThreadSanitizer build (Debian's criterion aborts under TSan). Exits 0 and
 * prints its counts when every message arrived once and in order.
 */
#include <stdlib.h>

#include "tests/shards/ring_check.h"

int main(void)
{
    struct ring_check c;
    int failed = 0;
    if (!ring_check_run(64, 1000000, &c)) {
        fprintf(stderr, "tsan_ring: 64-slot ring: %s\n", c.failure);
        failed++;
    }
    if (!ring_check_run(2, 100000, &c)) {
        fprintf(stderr, "tsan_ring: 2-slot ring: %s\n", c.failure);
        failed++;
    }
    printf("%d passed, %d failed\n", 2 - failed, failed);
    return failed == 0 ? 0 : 1;
}
