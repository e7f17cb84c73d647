/*
 * testutil.h — helpers shared by the core tests: scratch directories,
 * a seeded PRNG and a scale factor for long tests.
 */
#ifndef HDB_TESTUTIL_H
#define HDB_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>

/* Creates a fresh scratch directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_mkdtemp(const char *tag);
/* Removes a directory tree (best effort). */
void tu_rmtree(const char *path);
/* Joins dir and name into a malloc'd path. */
char *tu_path(const char *dir, const char *name);

/* xorshift64* PRNG. */
struct tu_rng {
    uint64_t s;
};
void tu_rng_seed(struct tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(struct tu_rng *r);
/* Uniform in [0, n). */
uint64_t tu_rng_below(struct tu_rng *r, uint64_t n);
void tu_rng_bytes(struct tu_rng *r, uint8_t *out, uint32_t n);

/* True when running the sanitizer build (HDB_SANITIZED in the environment or at compile time). */
bool tu_sanitized(void);
/* Scales an iteration count down for sanitizer builds and by $HDB_TEST_SCALE (a float). */
uint64_t tu_scaled(uint64_t n);
/* A mutation test's iteration count: `normal`, or `sanitized` under ASan/TSan, times
 * $HDB_FUZZ_SCALE (a positive number; default 1); at least 1. */
uint64_t tu_fuzz_iterations(uint64_t normal, uint64_t sanitized);

#endif
