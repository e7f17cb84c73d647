/*
 * testutil.c — see testutil.h.
 */
#define _XOPEN_SOURCE 700
#include "tests/core/testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tu_mkdtemp(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    size_t n = strlen(base) + strlen(tag) + 32;
    char *path = malloc(n);
    int len = snprintf(path, n, "%s/hdb-%s-", base, tag);
    memset(path + len, 'X', 6); /* mkdtemp's template: six X */
    path[len + 6] = '\0';
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void tu_rng_seed(struct tu_rng *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (r->s == 0) {
        r->s = 1;
    }
}

uint64_t tu_rng_next(struct tu_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint64_t tu_rng_below(struct tu_rng *r, uint64_t n)
{
    return n == 0 ? 0 : tu_rng_next(r) % n;
}

void tu_rng_bytes(struct tu_rng *r, uint8_t *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        out[i] = (uint8_t)tu_rng_next(r);
    }
}

bool tu_sanitized(void)
{
#ifdef HDB_SANITIZED
    return true;
#else
    const char *s = getenv("HDB_SANITIZED");
    return s != NULL && s[0] == '1';
#endif
}

uint64_t tu_fuzz_iterations(uint64_t normal, uint64_t sanitized)
{
    double scale = 1.0;
    const char *s = getenv("HDB_FUZZ_SCALE");
    if (s != NULL && atof(s) > 0) {
        scale = atof(s);
    }
    uint64_t n = (uint64_t)((double)(tu_sanitized() ? sanitized : normal) * scale);
    return n == 0 ? 1 : n;
}

uint64_t tu_scaled(uint64_t n)
{
    double f = 1.0;
    const char *s = getenv("HDB_TEST_SCALE");
    if (s != NULL) {
        f = atof(s);
    }
    if (tu_sanitized()) {
        f /= 4.0;
    }
    uint64_t r = (uint64_t)((double)n * f);
    return r == 0 ? 1 : r;
}
