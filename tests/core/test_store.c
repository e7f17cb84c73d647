/*
 * test_store.c — the store's promises one by one: durability across reopen
 * and crash, held versions, space reuse, exclusive open, sync and async
 * visibility, bad input, fdatasync failure, and a long random workload
 * checked against a reference map with reopens in between.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "tests/core/testutil.h"
#include "tests/core/workload.h"

static void setup(void)
{
    hdb_log_set_level(HDB_LOG_ERROR);
}

static struct hdb_store *open_opts(const char *dir, const struct hdb_store_opts *o)
{
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open(dir, o, &s, NULL, &err), HDB_OK, "open %s: %s", dir, err.msg);
    return s;
}

static struct hdb_store *open_default(const char *dir)
{
    struct hdb_store_opts o;
    wl_store_opts(&o);
    return open_opts(dir, &o);
}

static void close_ok(struct hdb_store *s)
{
    struct hdb_err err;
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK, "close: %s", err.msg);
}

static void put(struct hdb_store *s, uint32_t tree, const char *k, const char *v)
{
    struct hdb_write w = {.type = HDB_WAL_PUT,
                          .tree = tree,
                          .key = k,
                          .klen = (uint32_t)strlen(k),
                          .val = v,
                          .vlen = (uint32_t)strlen(v)};
    struct hdb_err err;
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_OK, "put %s: %s", k, err.msg);
}

static void expect(struct hdb_store *s, struct hdb_version *v, uint32_t tree, const char *k,
                   const char *want)
{
    struct hdb_buf val = {0};
    struct hdb_err err;
    int rc = hdb_store_get(s, v, tree, k, (uint32_t)strlen(k), &val, &err);
    if (want == NULL) {
        cr_assert_eq(rc, HDB_NOTFOUND, "%s: expected absent, rc %d", k, rc);
    } else {
        cr_assert_eq(rc, HDB_OK, "%s: %s", k, err.msg);
        cr_assert(val.len == strlen(want) && memcmp(val.data, want, val.len) == 0,
                  "%s: wrong value", k);
    }
    hdb_buf_free(&val);
}

Test(store, reopen_keeps_committed_data, .init = setup)
{
    char *dir = tu_mkdtemp("store-reopen");
    struct hdb_store *s = open_default(dir);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "accounts", &t, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(hdb_store_tree_create(s, "accounts", NULL, &err), HDB_EXISTS);
    put(s, t, "alice", "100");
    put(s, t, "bob", "250");
    close_ok(s);
    s = open_default(dir);
    uint32_t t2;
    cr_assert_eq(hdb_store_tree_find(s, "accounts", &t2, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(t2, t);
    expect(s, NULL, t, "alice", "100");
    expect(s, NULL, t, "bob", "250");
    expect(s, NULL, t, "carol", NULL);
    cr_assert_eq(hdb_store_tree_drop(s, "accounts", &err), HDB_OK, "%s", err.msg);
    close_ok(s);
    s = open_default(dir);
    cr_assert_eq(hdb_store_tree_find(s, "accounts", &t2, &err), HDB_NOTFOUND);
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}

Test(store, recovers_commits_not_checkpointed, .init = setup)
{
    char *dir = tu_mkdtemp("store-recover");
    pid_t pid = fork();
    if (pid == 0) {
        struct hdb_store *s = open_default(dir);
        uint32_t t;
        struct hdb_err err;
        if (hdb_store_tree_create(s, "t", &t, &err) != HDB_OK) {
            _exit(1);
        }
        put(s, t, "k1", "v1");
        put(s, t, "k2", "v2");
        _exit(0); /* no close: no checkpoint */
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct hdb_recovery_info info;
    struct hdb_store_opts o;
    wl_store_opts(&o);
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open(dir, &o, &s, &info, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(info.wal.records, 3, "replayed %llu records",
                 (unsigned long long)info.wal.records);
    uint32_t t;
    cr_assert_eq(hdb_store_tree_find(s, "t", &t, &err), HDB_OK);
    expect(s, NULL, t, "k1", "v1");
    expect(s, NULL, t, "k2", "v2");
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}

Test(store, held_version_unchanged_while_writes_go_on, .init = setup)
{
    char *dir = tu_mkdtemp("store-version");
    struct hdb_store *s = open_default(dir);
    struct wl wl;
    wl_init(&wl, 3, 500);
    struct hdb_err err;
    cr_assert_eq(wl_trees(&wl, s, &err), HDB_OK);
    struct wl_commit c;
    wl_commit_init(&c);
    struct wl_model m;
    wl_model_init(&m, 500);
    for (uint64_t i = 0; i < 400; i++) {
        wl_gen(&wl, i, &c);
        cr_assert_eq(hdb_store_commit(s, c.w, c.n, 0, 0, NULL, NULL, &err), HDB_OK);
        wl_model_apply(&m, &wl, i);
    }
    cr_assert_eq(hdb_store_flush(s, &err), HDB_OK);
    struct hdb_version *v = hdb_store_version_take(s);
    uint64_t gen = hdb_version_gen(v);
    for (uint64_t i = 400; i < 2400; i++) {
        wl_gen(&wl, i, &c);
        cr_assert_eq(hdb_store_commit(s, c.w, c.n, 0, 0, NULL, NULL, &err), HDB_OK);
        if (i % 50 == 0) {
            cr_assert_eq(hdb_store_flush(s, &err), HDB_OK);
        }
        if (i % 300 == 0) {
            cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
        }
    }
    cr_assert_eq(hdb_store_flush(s, &err), HDB_OK);
    /* Read every key through the held version: it must be the 400-commit state. */
    uint8_t *want = malloc(WL_VALUE_BYTES_MAX);
    struct hdb_buf val = {0};
    for (uint32_t t = 0; t < 2; t++) {
        for (uint32_t k = 0; k < 500; k++) {
            char key[16];
            snprintf(key, sizeof key, "key%08u", k);
            uint32_t len;
            bool present = wl_expected(&m, &wl, t, k, want, &len);
            int rc = hdb_store_get(s, v, wl.tree[t], key, WL_KEY_BYTES, &val, &err);
            cr_assert_eq(rc, present ? HDB_OK : HDB_NOTFOUND, "%s: rc %d %s", key, rc, err.msg);
            cr_assert(!present || (val.len == len && memcmp(val.data, want, len) == 0));
        }
    }
    cr_assert_eq(hdb_version_gen(v), gen);
    hdb_store_version_release(s, v);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK);
    cr_assert_eq(rep.problems, 0);
    close_ok(s);
    hdb_buf_free(&val);
    free(want);
    wl_model_free(&m);
    wl_commit_free(&c);
    tu_rmtree(dir);
    free(dir);
}

/* Inserts keys [0, n) with 200-byte values, or deletes them, in commits of 100. */
static void fill(struct hdb_store *s, uint32_t t, uint32_t n, bool del)
{
    char val[200];
    memset(val, 'v', sizeof val);
    struct hdb_write w[100];
    char keys[100][16];
    struct hdb_err err;
    for (uint32_t i = 0; i < n; i += 100) {
        uint32_t m = n - i < 100 ? n - i : 100;
        for (uint32_t j = 0; j < m; j++) {
            snprintf(keys[j], sizeof keys[j], "k%09u", i + j);
            w[j] = (struct hdb_write){.type = del ? HDB_WAL_DELETE : HDB_WAL_PUT,
                                      .tree = t,
                                      .key = keys[j],
                                      .klen = 10,
                                      .val = val,
                                      .vlen = 200};
        }
        cr_assert_eq(hdb_store_commit_sync(s, w, m, &err), HDB_OK, "%s", err.msg);
    }
}

Test(store, space_reused_after_deletes, .init = setup)
{
    char *dir = tu_mkdtemp("store-space");
    struct hdb_store *s = open_default(dir);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    struct hdb_store_stats st;
    fill(s, t, 20000, false);
    cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK);
    hdb_store_get_stats(s, &st);
    uint64_t pages_full = st.pages_total;
    for (int round = 0; round < 5; round++) {
        fill(s, t, 20000, true);
        for (int c = 0; c < 3; c++) {
            cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK);
        }
        fill(s, t, 20000, false);
        cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK);
    }
    hdb_store_get_stats(s, &st);
    cr_assert_leq(st.pages_total, pages_full * 2 + 64,
                  "file grew from %llu to %llu pages over 5 delete/insert rounds",
                  (unsigned long long)pages_full, (unsigned long long)st.pages_total);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK);
    cr_assert_eq(rep.problems, 0);
    cr_assert_eq(rep.entries, 20000);
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}

Test(store, second_open_is_busy_naming_the_holder, .init = setup)
{
    char *dir = tu_mkdtemp("store-busy");
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct hdb_store *s = open_default(dir);
        char c = 1;
        cr_assert_eq(write(go[1], &c, 1), 1);
        pause(); /* hold the store until killed */
        (void)s;
        _exit(0);
    }
    char c;
    cr_assert_eq(read(go[0], &c, 1), 1);
    struct hdb_store_opts o;
    wl_store_opts(&o);
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open(dir, &o, &s, NULL, &err), HDB_BUSY);
    char pidtext[32];
    snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
    cr_assert(strstr(err.msg, pidtext) != NULL, "names holder %s: %s", pidtext, err.msg);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s = open_default(dir); /* the lock died with its holder */
    struct hdb_store *s2;
    cr_assert_eq(hdb_store_open(dir, &o, &s2, NULL, &err), HDB_BUSY, "same process, second open");
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}

Test(store, sync_commit_visible_only_after_its_group_is_durable, .init = setup)
{
    char *dir = tu_mkdtemp("store-sync");
    struct hdb_store *s = open_default(dir);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    struct hdb_write w = {
        .type = HDB_WAL_PUT, .tree = t, .key = "k", .klen = 1, .val = "v", .vlen = 1};
    int acked = 0;
    cr_assert_eq(hdb_store_commit(s, &w, 1, 0, 0, NULL, NULL, &err), HDB_OK);
    (void)acked;
    expect(s, NULL, t, "k", NULL);
    cr_assert_eq(hdb_store_pending_commits(s), 1);
    cr_assert_eq(hdb_store_flush(s, &err), HDB_OK);
    expect(s, NULL, t, "k", "v");
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}

Test(store, async_commit_visible_at_once_durable_after_poll, .init = setup)
{
    char *dir = tu_mkdtemp("store-async");
    struct hdb_store_opts o;
    wl_store_opts(&o);
    o.wal_mode = HDB_WAL_ASYNC;
    struct hdb_store *s = open_opts(dir, &o);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    struct hdb_write w = {
        .type = HDB_WAL_PUT, .tree = t, .key = "k", .klen = 1, .val = "v", .vlen = 1};
    cr_assert_eq(hdb_store_commit(s, &w, 1, 0, 0, NULL, NULL, &err), HDB_OK);
    expect(s, NULL, t, "k", "v");
    struct hdb_store_stats st;
    hdb_store_get_stats(s, &st);
    uint64_t fsyncs = st.wal.fsyncs;
    uint64_t next;
    cr_assert_eq(hdb_store_poll(s, 0, &next, &err), HDB_OK);
    hdb_store_get_stats(s, &st);
    cr_assert_eq(st.wal.fsyncs, fsyncs, "flushed before the interval");
    cr_assert_neq(next, UINT64_MAX);
    cr_assert_eq(hdb_store_poll(s, next, NULL, &err), HDB_OK);
    hdb_store_get_stats(s, &st);
    cr_assert_gt(st.wal.fsyncs, fsyncs, "not flushed after the interval");
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}

Test(store, bad_writes_are_refused_and_store_stays_usable, .init = setup)
{
    char *dir = tu_mkdtemp("store-bad");
    struct hdb_store *s = open_default(dir);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    static char big[HDB_KEY_BYTES_MAX + 1];
    memset(big, 'x', sizeof big);
    struct hdb_write w = {
        .type = HDB_WAL_PUT, .tree = t, .key = big, .klen = sizeof big, .val = "v", .vlen = 1};
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_TOOBIG);
    w.klen = 0;
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_INVALID);
    w.klen = 1;
    w.tree = 999;
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_NOTFOUND);
    w.tree = t;
    w.vlen = HDB_VALUE_BYTES_MAX + 1;
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_TOOBIG);
    cr_assert_eq(hdb_store_tree_create(s, "", NULL, &err), HDB_INVALID);
    put(s, t, "ok", "fine");
    expect(s, NULL, t, "ok", "fine");
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}

static int fail_fsyncs(void *ctx, enum hdb_fault_point point, uint64_t call_no, const char *path,
                       uint64_t off, uint32_t len)
{
    (void)call_no;
    (void)path;
    (void)off;
    (void)len;
    bool *armed = ctx;
    return *armed && point == HDB_FAULT_FSYNC ? -EIO : 0;
}

Test(store, fsync_failure_refuses_writes_until_reopen, .init = setup)
{
    char *dir = tu_mkdtemp("store-fsync");
    bool armed = false;
    struct hdb_store_opts o;
    wl_store_opts(&o);
    o.fault = fail_fsyncs;
    o.fault_ctx = &armed;
    struct hdb_store *s = open_opts(dir, &o);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    put(s, t, "a", "1");
    armed = true;
    struct hdb_write w = {
        .type = HDB_WAL_PUT, .tree = t, .key = "b", .klen = 1, .val = "2", .vlen = 1};
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_IOERR, "%s", err.msg);
    expect(s, NULL, t, "b", NULL);
    armed = false;
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_READONLY, "never retried");
    cr_assert(hdb_store_failed(s));
    hdb_store_close(s, &err);
    s = open_default(dir);
    expect(s, NULL, t, "a", "1");
    put(s, t, "b", "2");
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}

/*
 * The long random workload: puts, updates and deletes of random keys with
 * random value sizes through the store in large commits, checked against a
 * reference map by full scans in both directions after every reopen.
 */
#define REF_KEYS           60000u
#define REF_OPS_PER_COMMIT 500u

struct ref_map {
    int64_t *val; /* per key id: -1 absent, else the op number that wrote it */
};

static uint32_t ref_value(uint64_t op, uint8_t *out)
{
    uint64_t x = op * 0x9E3779B97F4A7C15ull + 1;
    uint32_t len = (uint32_t)(x >> 7) % 120;
    if ((x >> 30) % 97 == 0) {
        len = 3000 + (uint32_t)(x >> 40) % 30000; /* past a 4 KiB page: overflow */
    }
    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = (uint8_t)x;
    }
    return len;
}

#define REF_KEY_BYTES_MAX HDB_KEY_BYTES_MAX

static uint32_t ref_key(uint32_t id, char *out)
{
    /* Mixed lengths: mostly 4 to 40 bytes, one key in 61 of 100 to 1024 bytes. */
    int width = id % 61 == 0 ? 100 + (int)(id % 925) : 4 + (int)(id % 37);
    return (uint32_t)snprintf(out, REF_KEY_BYTES_MAX + 1, "%0*u", width, id);
}

static void ref_scan(struct hdb_store *s, uint32_t t, const struct ref_map *m, bool backward)
{
    /* Collect the expected keys in order: sort ids by their key bytes. */
    struct hdb_cursor c;
    struct hdb_err err;
    cr_assert_eq(hdb_store_cursor(s, NULL, t, &c, &err), HDB_OK);
    int rc = backward ? hdb_cursor_last(&c, &err) : hdb_cursor_first(&c, &err);
    uint64_t seen = 0, want = 0;
    for (uint32_t id = 0; id < REF_KEYS; id++) {
        want += m->val[id] >= 0;
    }
    uint8_t prev[REF_KEY_BYTES_MAX];
    uint32_t prev_len = 0;
    struct hdb_buf val = {0};
    static uint8_t expect[40000];
    while (rc == HDB_OK) {
        const uint8_t *k;
        uint32_t klen;
        hdb_cursor_key(&c, &k, &klen);
        if (seen > 0) {
            int cmp = memcmp(prev, k, prev_len < klen ? prev_len : klen);
            cmp = cmp != 0 ? cmp : (int)prev_len - (int)klen;
            cr_assert(backward ? cmp > 0 : cmp < 0, "scan out of order");
        }
        memcpy(prev, k, klen);
        prev_len = klen;
        char text[REF_KEY_BYTES_MAX + 1];
        memcpy(text, k, klen);
        text[klen] = '\0';
        uint32_t id = (uint32_t)strtoul(text, NULL, 10);
        cr_assert(id < REF_KEYS && m->val[id] >= 0, "scan found a key the map lacks: %s", text);
        cr_assert_eq(hdb_cursor_value(&c, &val, &err), HDB_OK, "%s", err.msg);
        uint32_t len = ref_value((uint64_t)m->val[id], expect);
        cr_assert(val.len == len && memcmp(val.data, expect, len) == 0, "value of %s", text);
        seen++;
        rc = backward ? hdb_cursor_prev(&c, &err) : hdb_cursor_next(&c, &err);
    }
    cr_assert_eq(rc, HDB_NOTFOUND, "scan ended with %d: %s", rc, err.msg);
    cr_assert_eq(seen, want, "scan saw %llu keys, map has %llu", (unsigned long long)seen,
                 (unsigned long long)want);
    hdb_cursor_close(&c);
    hdb_buf_free(&val);
}

Test(store, random_ops_match_reference_map_across_reopens, .init = setup, .timeout = 900)
{
    char *dir = tu_mkdtemp("store-ref");
    struct hdb_store_opts o;
    wl_store_opts(&o);
    o.cache_bytes = 2048 * 4096;
    o.wal_segment_bytes = 8u << 20;
    o.checkpoint_wal_bytes = 8u << 20;
    struct hdb_store *s = open_opts(dir, &o);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "ref", &t, &err), HDB_OK);
    struct ref_map m = {.val = malloc(REF_KEYS * sizeof(int64_t))};
    for (uint32_t i = 0; i < REF_KEYS; i++) {
        m.val[i] = -1;
    }
    uint64_t ops = tu_scaled(1000000);
    struct tu_rng rng;
    tu_rng_seed(&rng, 42);
    struct hdb_write *w = calloc(REF_OPS_PER_COMMIT, sizeof *w);
    uint8_t(*vals)[40000] = malloc(REF_OPS_PER_COMMIT * sizeof *vals);
    char(*keys)[REF_KEY_BYTES_MAX + 1] = malloc(REF_OPS_PER_COMMIT * sizeof *keys);
    uint64_t op = 0;
    for (uint64_t commit = 0; op < ops; commit++) {
        uint32_t n = 0;
        for (; n < REF_OPS_PER_COMMIT && op < ops; n++, op++) {
            uint32_t id = (uint32_t)tu_rng_below(&rng, REF_KEYS);
            uint32_t klen = ref_key(id, keys[n]);
            bool del = tu_rng_below(&rng, 3) == 0;
            w[n] = (struct hdb_write){.type = del ? HDB_WAL_DELETE : HDB_WAL_PUT,
                                      .tree = t,
                                      .key = keys[n],
                                      .klen = klen};
            if (!del) {
                w[n].val = vals[n];
                w[n].vlen = ref_value(op, vals[n]);
            }
            m.val[id] = del ? -1 : (int64_t)op;
        }
        cr_assert_eq(hdb_store_commit(s, w, n, 0, 0, NULL, NULL, &err), HDB_OK, "%s", err.msg);
        cr_assert_eq(hdb_store_poll(s, UINT64_MAX / 2, NULL, &err), HDB_OK, "%s", err.msg);
        if (commit % 400 == 399) {
            ref_scan(s, t, &m, false);
            ref_scan(s, t, &m, true);
            close_ok(s);
            s = open_opts(dir, &o);
            ref_scan(s, t, &m, commit % 800 == 399);
        }
    }
    cr_assert_eq(hdb_store_flush(s, &err), HDB_OK);
    ref_scan(s, t, &m, false);
    ref_scan(s, t, &m, true);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(rep.problems, 0);
    close_ok(s);
    free(w);
    free(vals);
    free(keys);
    free(m.val);
    tu_rmtree(dir);
    free(dir);
}

Test(store, async_update_churn_reuses_pages, .init = setup)
{
    char *dir = tu_mkdtemp("store-churn");
    struct hdb_store_opts o;
    wl_store_opts(&o);
    o.wal_mode = HDB_WAL_ASYNC;
    o.cache_bytes = 4096 * 4096;
    struct hdb_store *s = open_opts(dir, &o);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    fill(s, t, 5000, false);
    cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK);
    struct hdb_store_stats st;
    hdb_store_get_stats(s, &st);
    uint64_t loaded = st.pages_total;
    char key[16], val[200];
    memset(val, 'u', sizeof val);
    struct hdb_version *reader = NULL;
    for (uint32_t i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "k%09u", (i * 7919) % 5000);
        struct hdb_write w = {
            .type = HDB_WAL_PUT, .tree = t, .key = key, .klen = 10, .val = val, .vlen = sizeof val};
        cr_assert_eq(hdb_store_commit(s, &w, 1, 0, 0, NULL, NULL, &err), HDB_OK, "%s", err.msg);
        if (i < 10000 && i % 1000 == 999) {
            /* No reader: the tree plus what the last two checkpoints reference. */
            cr_assert_eq(hdb_store_poll(s, UINT64_MAX / 2, NULL, &err), HDB_OK, "%s", err.msg);
            hdb_store_get_stats(s, &st);
            cr_assert_leq(st.pages_total, loaded * 3 + 64,
                          "%u updates without readers grew the file from %llu to %llu pages", i + 1,
                          (unsigned long long)loaded, (unsigned long long)st.pages_total);
        }
        if (i >= 10000 && i % 1000 == 0) {
            /* A reader holds a version for a while; its pages must be kept, then freed. */
            if (reader != NULL) {
                hdb_store_version_release(s, reader);
            }
            reader = hdb_store_version_take(s);
            cr_assert_eq(hdb_store_poll(s, UINT64_MAX / 2, NULL, &err), HDB_OK, "%s", err.msg);
        }
    }
    hdb_store_version_release(s, reader);
    cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK);
    cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK);
    hdb_store_get_stats(s, &st);
    /* At most: the tree, a reader's copy, and the copies the last two checkpoints
     * reference; pages that were never reused would grow by ~3 per update instead. */
    cr_assert_leq(st.pages_total, loaded * 5 + 64,
                  "20000 updates of 5000 keys grew the file from %llu to %llu pages",
                  (unsigned long long)loaded, (unsigned long long)st.pages_total);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK);
    cr_assert_eq(rep.problems, 0);
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}

static void put_at(struct hdb_store *s, uint32_t tree, const char *k, uint64_t ts)
{
    struct hdb_write w = {.type = HDB_WAL_PUT,
                          .tree = tree,
                          .key = k,
                          .klen = (uint32_t)strlen(k),
                          .val = k,
                          .vlen = 1};
    struct hdb_err err;
    cr_assert_eq(hdb_store_commit(s, &w, 1, 0, ts, NULL, NULL, &err), HDB_OK, "%s", err.msg);
}

/* Recovery reports the newest durable mark, and replay_ts_max leaves out later commits for good. */
Test(store, marks_survive_and_replay_cut_is_permanent, .init = setup)
{
    char *dir = tu_mkdtemp("store-cut");
    struct hdb_store_opts o;
    wl_store_opts(&o);
    o.wal_mode = HDB_WAL_ASYNC;
    struct hdb_store *s = open_opts(dir, &o);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK, "%s", err.msg);
    char key[16];
    for (uint64_t ts = 1; ts <= 20; ts++) {
        snprintf(key, sizeof key, "k%02u", (unsigned)ts);
        put_at(s, t, key, ts);
        if (ts == 8) {
            cr_assert_eq(hdb_store_mark(s, 8, &err), HDB_OK, "%s", err.msg);
            cr_assert_eq(hdb_store_durable_mark(s), 0, "a pending mark is not durable");
            cr_assert_eq(hdb_store_flush(s, &err), HDB_OK, "%s", err.msg);
            cr_assert_eq(hdb_store_durable_mark(s), 8);
        }
        if (ts == 10) {
            cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
        }
    }
    cr_assert_eq(hdb_store_mark(s, 5, &err), HDB_OK, "a smaller mark is ignored");
    cr_assert_eq(hdb_store_flush(s, &err), HDB_OK, "%s", err.msg);
    hdb_store_abandon(s); /* a crash after the flush */

    struct hdb_recovery_info info;
    cr_assert_eq(hdb_store_open(dir, &o, &s, &info, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(info.mark, 8, "mark %llu", (unsigned long long)info.mark);
    cr_assert_eq(info.max_ts, 20);
    cr_assert_eq(info.cut_records, 0);
    hdb_store_abandon(s);

    o.replay_cut = true;
    o.replay_ts_max = 15;
    cr_assert_eq(hdb_store_open(dir, &o, &s, &info, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(info.cut_records, 5, "cut %llu", (unsigned long long)info.cut_records);
    cr_assert_eq(info.max_ts, 20, "the left-out timestamps are still reported");
    expect(s, NULL, t, "k15", "k");
    expect(s, NULL, t, "k16", NULL);
    put_at(s, t, "new", 21);
    cr_assert_eq(hdb_store_flush(s, &err), HDB_OK, "%s", err.msg);
    hdb_store_abandon(s);

    o.replay_cut = false;
    cr_assert_eq(hdb_store_open(dir, &o, &s, &info, &err), HDB_OK, "%s", err.msg);
    for (uint64_t ts = 1; ts <= 20; ts++) {
        snprintf(key, sizeof key, "k%02u", (unsigned)ts);
        expect(s, NULL, t, key, ts <= 15 ? "k" : NULL);
    }
    expect(s, NULL, t, "new", "n");
    cr_assert_eq(info.mark, 8);
    close_ok(s);
    struct hdb_store_opts o2 = o;
    s = open_opts(dir, &o2);
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, NULL, &err), HDB_OK, "%s", err.msg);
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}

/* Compaction: after most keys are deleted, tree pages at the file's end move down into the freed
 * pages, and checkpoints then trim the file; every key left reads the same, before and after a
 * reopen, and the verification finds nothing wrong. A version taken before compaction still
 * reads its keys meanwhile (its pages are released, not reused, while it is held). */
Test(store, compaction_moves_pages_down_and_the_file_shrinks, .init = setup)
{
    char *dir = tu_mkdtemp("store-compact");
    struct hdb_store *s = open_default(dir);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    fill(s, t, 20000, false);
    cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK);
    struct hdb_store_stats st;
    hdb_store_get_stats(s, &st);
    uint64_t pages_full = st.pages_total;
    for (uint32_t i = 0; i < 20000; i++) { /* keep every tenth key */
        char k[16];
        snprintf(k, sizeof k, "k%09u", i);
        struct hdb_write w = {.type = HDB_WAL_DELETE, .tree = t, .key = k, .klen = 10};
        if (i % 10 != 0) {
            cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_OK, "%s", err.msg);
        }
    }
    for (int c = 0; c < 3; c++) {
        cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK);
    }
    hdb_store_get_stats(s, &st);
    uint64_t pages_deleted = st.pages_total;
    struct hdb_version *held = hdb_store_version_take(s);
    char val[201];
    memset(val, 'v', 200);
    val[200] = '\0';
    uint64_t moved_total = 0;
    for (int pass = 0; pass < 4; pass++) {
        uint32_t moved = 0;
        bool more = true;
        while (more) {
            cr_assert_eq(hdb_store_compact(s, 64, &moved, &more, &err), HDB_OK, "%s", err.msg);
            moved_total += moved;
        }
        expect(s, held, t, "k000012340", val);
        expect(s, held, t, "k000012341", NULL);
        for (int c = 0; c < 3; c++) {
            cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK);
        }
    }
    hdb_store_version_release(s, held);
    for (int c = 0; c < 3; c++) {
        cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK);
    }
    hdb_store_get_stats(s, &st);
    cr_assert_gt(moved_total, 0);
    cr_assert_lt(st.pages_total * 3, pages_deleted,
                 "%llu pages full, %llu after the deletes, %llu after compaction",
                 (unsigned long long)pages_full, (unsigned long long)pages_deleted,
                 (unsigned long long)st.pages_total);
    for (int round = 0; round < 2; round++) {
        struct hdb_verify_report rep;
        cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK);
        cr_assert_eq(rep.problems, 0);
        cr_assert_eq(rep.entries, 2000);
        struct hdb_version *v = hdb_store_version_take(s);
        for (uint32_t i = 0; i < 20000; i += 1000) {
            char k[16];
            snprintf(k, sizeof k, "k%09u", i);
            expect(s, v, t, k, val);
            snprintf(k, sizeof k, "k%09u", i + 1);
            expect(s, v, t, k, NULL);
        }
        hdb_store_version_release(s, v);
        close_ok(s);
        s = open_default(dir);
    }
    close_ok(s);
    tu_rmtree(dir);
    free(dir);
}
