/*
 * workload.c — see workload.h.
 */
#include "tests/core/workload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t h3(uint64_t seed, uint64_t a, uint64_t b)
{
    return mix(seed ^ mix(a * 0x9E3779B97F4A7C15ull ^ mix(b + 0x632BE59BD9B4E019ull)));
}

void wl_init(struct wl *wl, uint64_t seed, uint32_t nkeys)
{
    memset(wl, 0, sizeof *wl);
    wl->seed = seed;
    wl->nkeys = nkeys;
    wl->big_every = 50;
}

int wl_trees(struct wl *wl, struct hdb_store *s, struct hdb_err *err)
{
    static const char *const names[2] = {"t0", "t1"};
    for (int t = 0; t < 2; t++) {
        int rc = hdb_store_tree_find(s, names[t], &wl->tree[t], err);
        if (rc == HDB_NOTFOUND) {
            rc = hdb_store_tree_create(s, names[t], &wl->tree[t], err);
        }
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

void wl_commit_init(struct wl_commit *c)
{
    memset(c, 0, sizeof *c);
    for (uint32_t j = 0; j < WL_WRITES_MAX; j++) {
        c->vals[j] = malloc(WL_VALUE_BYTES_MAX);
    }
}

void wl_commit_free(struct wl_commit *c)
{
    for (uint32_t j = 0; j < WL_WRITES_MAX; j++) {
        free(c->vals[j]);
    }
}

/* The value written by write j of commit i: its length, and its bytes if out != NULL. */
static uint32_t wl_value(const struct wl *wl, uint64_t i, uint32_t j, uint8_t *out)
{
    uint64_t h = h3(wl->seed, i, 100 + j);
    uint32_t len = (uint32_t)(h % 201);
    if (wl->big_every != 0 && (h >> 20) % wl->big_every == 0) {
        len = 5000 + (uint32_t)((h >> 32) % (WL_VALUE_BYTES_MAX - 5000));
    }
    if (out != NULL) {
        uint64_t x = h | 1;
        for (uint32_t k = 0; k < len; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out[k] = (uint8_t)x;
        }
    }
    return len;
}

/* Key index and tree of write j of commit i; true for a delete. */
static bool wl_slot(const struct wl *wl, uint64_t i, uint32_t j, uint32_t *key, uint32_t *tree)
{
    uint64_t h = h3(wl->seed, i, j);
    *key = (uint32_t)(h % wl->nkeys);
    *tree = (uint32_t)((h >> 32) & 1);
    return (h >> 40) % 5 == 0;
}

static uint32_t wl_nwrites(const struct wl *wl, uint64_t i)
{
    return 1 + (uint32_t)(h3(wl->seed, i, 999) % WL_WRITES_MAX);
}

void wl_gen(const struct wl *wl, uint64_t i, struct wl_commit *c)
{
    c->n = wl_nwrites(wl, i);
    for (uint32_t j = 0; j < c->n; j++) {
        uint32_t key, tree;
        bool del = wl_slot(wl, i, j, &key, &tree);
        snprintf((char *)c->keys[j], sizeof c->keys[j], "key%08u", key);
        c->w[j] = (struct hdb_write){
            .type = del ? HDB_WAL_DELETE : HDB_WAL_PUT,
            .tree = wl->tree[tree],
            .key = c->keys[j],
            .klen = WL_KEY_BYTES,
        };
        if (!del) {
            c->w[j].vlen = wl_value(wl, i, j, c->vals[j]);
            c->w[j].val = c->vals[j];
        }
    }
}

void wl_model_init(struct wl_model *m, uint32_t nkeys)
{
    m->nkeys = nkeys;
    m->last = malloc(2 * (size_t)nkeys * sizeof *m->last);
    for (uint32_t k = 0; k < 2 * nkeys; k++) {
        m->last[k] = -1;
    }
    m->applied = 0;
}

void wl_model_free(struct wl_model *m)
{
    free(m->last);
    m->last = NULL;
}

void wl_model_copy(struct wl_model *dst, const struct wl_model *src)
{
    memcpy(dst->last, src->last, 2 * (size_t)src->nkeys * sizeof *src->last);
    dst->applied = src->applied;
}

void wl_model_apply(struct wl_model *m, const struct wl *wl, uint64_t i)
{
    uint32_t n = wl_nwrites(wl, i);
    for (uint32_t j = 0; j < n; j++) {
        uint32_t key, tree;
        bool del = wl_slot(wl, i, j, &key, &tree);
        m->last[tree * m->nkeys + key] = del ? -1 : (int64_t)(i * WL_WRITES_MAX + j);
    }
    m->applied = i + 1;
}

static bool check_key(const struct wl_model *m, const struct wl *wl, struct hdb_store *s,
                      uint32_t tree, uint32_t key, struct hdb_buf *val, uint8_t *expect, char *why,
                      size_t why_len)
{
    char k[16];
    snprintf(k, sizeof k, "key%08u", key);
    struct hdb_err err = {0};
    int rc = hdb_store_get(s, NULL, wl->tree[tree], k, WL_KEY_BYTES, val, &err);
    int64_t last = m->last[tree * m->nkeys + key];
    if (last < 0) {
        if (rc == HDB_NOTFOUND) {
            return true;
        }
        snprintf(why, why_len, "t%u/%s: expected absent, got rc %d (%s)", tree, k, rc,
                 rc == HDB_OK ? "present" : err.msg);
        return false;
    }
    if (rc != HDB_OK) {
        snprintf(why, why_len, "t%u/%s: expected value of commit %lld, got rc %d: %s", tree, k,
                 (long long)(last / WL_WRITES_MAX), rc, err.msg);
        return false;
    }
    uint32_t len =
        wl_value(wl, (uint64_t)last / WL_WRITES_MAX, (uint32_t)(last % WL_WRITES_MAX), expect);
    if (val->len != len || memcmp(val->data, expect, len) != 0) {
        snprintf(why, why_len, "t%u/%s: value differs from commit %lld (len %zu vs %u)", tree, k,
                 (long long)(last / WL_WRITES_MAX), val->len, len);
        return false;
    }
    return true;
}

/* Counts the keys of one tree by a full scan, forward. */
static bool count_tree(struct hdb_store *s, uint32_t tree, uint64_t *count, char *why,
                       size_t why_len)
{
    struct hdb_cursor c;
    struct hdb_err err = {0};
    *count = 0;
    if (hdb_store_cursor(s, NULL, tree, &c, &err) != HDB_OK) {
        snprintf(why, why_len, "cursor: %s", err.msg);
        return false;
    }
    int rc = hdb_cursor_first(&c, &err);
    while (rc == HDB_OK) {
        (*count)++;
        rc = hdb_cursor_next(&c, &err);
    }
    hdb_cursor_close(&c);
    if (rc != HDB_NOTFOUND) {
        snprintf(why, why_len, "scan: rc %d: %s", rc, err.msg);
        return false;
    }
    return true;
}

bool wl_model_matches(const struct wl_model *m, const struct wl *wl, struct hdb_store *s, char *why,
                      size_t why_len)
{
    struct hdb_buf val = {0};
    uint8_t *expect = malloc(WL_VALUE_BYTES_MAX);
    bool ok = true;
    uint64_t present[2] = {0, 0};
    for (uint32_t t = 0; ok && t < 2; t++) {
        for (uint32_t k = 0; ok && k < m->nkeys; k++) {
            ok = check_key(m, wl, s, t, k, &val, expect, why, why_len);
            present[t] += m->last[t * m->nkeys + k] >= 0;
        }
    }
    for (uint32_t t = 0; ok && t < 2; t++) {
        uint64_t n;
        ok = count_tree(s, wl->tree[t], &n, why, why_len);
        if (ok && n != present[t]) {
            snprintf(why, why_len, "t%u holds %llu keys, expected %llu", t, (unsigned long long)n,
                     (unsigned long long)present[t]);
            ok = false;
        }
    }
    hdb_buf_free(&val);
    free(expect);
    return ok;
}

bool wl_model_settle(struct wl_model *m, const struct wl *wl, struct hdb_store *s, uint64_t acked,
                     uint64_t inflight, char *why, size_t why_len)
{
    while (m->applied < acked) {
        wl_model_apply(m, wl, m->applied);
    }
    char first[512] = "";
    for (uint64_t p = acked; p <= acked + inflight; p++) {
        if (p > m->applied) {
            wl_model_apply(m, wl, m->applied);
        }
        if (wl_model_matches(m, wl, s, why, why_len)) {
            return true;
        }
        if (p == acked) {
            snprintf(first, sizeof first, "%s", why);
        }
    }
    snprintf(why, why_len, "no prefix in [%llu, %llu] matches; at %llu: %s",
             (unsigned long long)acked, (unsigned long long)(acked + inflight),
             (unsigned long long)acked, first);
    return false;
}

int wl_fallback_fault(void *ctx, enum hdb_fault_point point, uint64_t call_no, const char *path,
                      uint64_t off, uint32_t len)
{
    (void)ctx;
    (void)call_no;
    (void)path;
    (void)off;
    (void)len;
    if (point == HDB_FAULT_URING_SETUP) {
        return -EPERM;
    }
    if (point == HDB_FAULT_DIRECT_OPEN) {
        return -EINVAL;
    }
    return 0;
}

void wl_store_opts(struct hdb_store_opts *o)
{
    hdb_store_opts_default(o);
    o->page_size = 4096;
    o->cache_bytes = 128 * 4096;
    o->wal_segment_bytes = 1u << 20;
    o->wal_max_segments = 3;
    o->checkpoint_wal_bytes = 1u << 20;
    o->prefetch_pages = 4;
    const char *fb = getenv("HDB_TEST_FALLBACK");
    if (fb != NULL && fb[0] == '1') {
        o->fault = wl_fallback_fault;
    }
}

bool wl_expected(const struct wl_model *m, const struct wl *wl, uint32_t tree, uint32_t key,
                 uint8_t *out, uint32_t *len)
{
    int64_t last = m->last[tree * m->nkeys + key];
    if (last < 0) {
        return false;
    }
    *len = wl_value(wl, (uint64_t)last / WL_WRITES_MAX, (uint32_t)(last % WL_WRITES_MAX), out);
    return true;
}
