/*
 * test_snapshot.c — snapshots of one store: a snapshot keeps answering
 * with its version's rows while the store moves on, through checkpoints,
 * reopens and crashes (from the snapshot table, from the WAL record, and by
 * the second replay that cuts an older version out of the WAL); dropping
 * one gives its pages back; a dropped tree stays readable in a snapshot;
 * verification walks snapshot trees; creating one touches no page and does
 * exactly one WAL write, at 10K keys as at 1M.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "tests/core/testutil.h"
#include "tests/core/workload.h"

static void setup(void)
{
    hdb_log_set_level(HDB_LOG_ERROR);
}

static struct hdb_store *open_store(const char *dir)
{
    struct hdb_store_opts o;
    wl_store_opts(&o);
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open(dir, &o, &s, NULL, &err), HDB_OK, "open %s: %s", dir, err.msg);
    return s;
}

static void close_store(struct hdb_store *s)
{
    struct hdb_err err;
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK, "close: %s", err.msg);
}

static uint32_t tree(struct hdb_store *s, const char *name)
{
    uint32_t id;
    struct hdb_err err;
    if (hdb_store_tree_find(s, name, &id, &err) == HDB_OK) {
        return id;
    }
    cr_assert_eq(hdb_store_tree_create(s, name, &id, &err), HDB_OK, "%s", err.msg);
    return id;
}

static void key_of(uint32_t i, char out[16])
{
    snprintf(out, 16, "k%08" PRIu32, i);
}

/* Writes keys [0, n) with value "<tag>-<i>" (tag NULL: deletes every third key). */
static void write_all(struct hdb_store *s, uint32_t t, uint32_t n, const char *tag)
{
    enum { BATCH = 500 };
    static char keys[BATCH][16], vals[BATCH][32];
    struct hdb_write w[BATCH];
    for (uint32_t base = 0; base < n; base += BATCH) {
        uint32_t m = 0;
        for (uint32_t i = base; i < n && i < base + BATCH; i++) {
            key_of(i, keys[m]);
            if (tag == NULL) {
                if (i % 3 != 0) {
                    continue;
                }
                w[m] = (struct hdb_write){
                    .type = HDB_WAL_DELETE, .tree = t, .key = keys[m], .klen = 9};
            } else {
                snprintf(vals[m], sizeof vals[m], "%s-%" PRIu32, tag, i);
                w[m] = (struct hdb_write){.type = HDB_WAL_PUT,
                                          .tree = t,
                                          .key = keys[m],
                                          .klen = 9,
                                          .val = vals[m],
                                          .vlen = (uint32_t)strlen(vals[m])};
            }
            m++;
        }
        struct hdb_err err;
        if (m > 0) {
            cr_assert_eq(hdb_store_commit_sync(s, w, m, &err), HDB_OK, "commit: %s", err.msg);
        }
    }
}

/* Every key of [0, n) reads "<tag>-<i>" through v (tag NULL: every third is gone). */
static void expect_all(struct hdb_store *s, struct hdb_version *v, uint32_t t, uint32_t n,
                       const char *tag, bool thirds_deleted)
{
    struct hdb_buf b = {0};
    for (uint32_t i = 0; i < n; i++) {
        char k[16], want[32];
        key_of(i, k);
        snprintf(want, sizeof want, "%s-%" PRIu32, tag, i);
        struct hdb_err err;
        int rc = hdb_store_get(s, v, t, k, 9, &b, &err);
        if (thirds_deleted && i % 3 == 0) {
            cr_assert_eq(rc, HDB_NOTFOUND, "key %u should be deleted", i);
            continue;
        }
        cr_assert_eq(rc, HDB_OK, "key %u: %s", i, err.msg);
        cr_assert(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
                  "key %u: got %.*s, want %s", i, (int)b.len, (const char *)b.data, want);
    }
    hdb_buf_free(&b);
}

static void verify_clean(struct hdb_store *s)
{
    struct hdb_verify_report rep;
    struct hdb_err err;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK, "verify: %s", err.msg);
    cr_assert_eq(rep.problems, 0, "verify found %" PRIu64 " problems", rep.problems);
}

static void snap(struct hdb_store *s, struct hdb_version *v, uint64_t id)
{
    struct hdb_err err;
    cr_assert_eq(hdb_store_snapshot_create(s, v, id, id * 10, 1000 + id, &err), HDB_OK,
                 "snapshot %" PRIu64 ": %s", id, err.msg);
}

TestSuite(snapshot, .init = setup);

Test(snapshot, survives_writes_checkpoints_and_reopen)
{
    char *dir = tu_mkdtemp("snap");
    struct hdb_store *s = open_store(dir);
    uint32_t t = tree(s, "t");
    write_all(s, t, 3000, "a");
    snap(s, NULL, 1);
    write_all(s, t, 3000, "b");
    write_all(s, t, 3000, NULL);
    expect_all(s, hdb_store_snapshot_version(s, 1), t, 3000, "a", false);
    expect_all(s, NULL, t, 3000, "b", true);
    verify_clean(s);
    struct hdb_err err;
    cr_assert_eq(hdb_store_snapshot_create(s, NULL, 1, 0, 0, &err), HDB_EXISTS);
    cr_assert_eq(hdb_store_snapshot_create(s, NULL, 0, 0, 0, &err), HDB_INVALID);
    cr_assert_eq(hdb_store_snapshot_drop(s, 99, &err), HDB_NOTFOUND);
    close_store(s);

    s = open_store(dir);
    struct hdb_store_snapshot list[4];
    cr_assert_eq(hdb_store_snapshot_list(s, list, 4), 1);
    cr_assert_eq(list[0].id, 1);
    cr_assert_eq(list[0].tag, 10);
    cr_assert_eq(list[0].created_ms, 1001);
    expect_all(s, hdb_store_snapshot_version(s, 1), t, 3000, "a", false);
    expect_all(s, NULL, t, 3000, "b", true);
    write_all(s, t, 3000, "c");
    verify_clean(s);
    close_store(s);
    tu_rmtree(dir);
    free(dir);
}

Test(snapshot, drop_gives_pages_back)
{
    char *dir = tu_mkdtemp("snapdrop");
    struct hdb_store *s = open_store(dir);
    uint32_t t = tree(s, "t");
    write_all(s, t, 2000, "a");
    struct hdb_err err;
    struct hdb_store_stats st;
    uint64_t pages_held = 0;
    for (uint64_t round = 1; round <= 6; round++) {
        snap(s, NULL, round);
        write_all(s, t, 2000, round % 2 ? "b" : "c");
        cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
        cr_assert_eq(hdb_store_snapshot_drop(s, round, &err), HDB_OK, "%s", err.msg);
        cr_assert_null(hdb_store_snapshot_version(s, round));
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
        }
        hdb_store_get_stats(s, &st);
        if (round == 2) {
            pages_held = st.pages_total;
        }
        if (round > 2) {
            /* each round rewrites every page; without reuse the file would grow each time */
            cr_assert_leq(st.pages_total, pages_held + pages_held / 4,
                          "round %" PRIu64 ": %" PRIu64 " pages, %" PRIu64 " after round 2", round,
                          st.pages_total, pages_held);
        }
    }
    cr_assert_eq(st.snapshots, 0);
    verify_clean(s);
    close_store(s);
    s = open_store(dir);
    cr_assert_eq(hdb_store_snapshot_list(s, NULL, 0), 0);
    close_store(s);
    tu_rmtree(dir);
    free(dir);
}

Test(snapshot, dropped_tree_stays_readable)
{
    char *dir = tu_mkdtemp("snaptree");
    struct hdb_store *s = open_store(dir);
    uint32_t t = tree(s, "t");
    uint32_t gone = tree(s, "gone");
    write_all(s, t, 500, "a");
    write_all(s, gone, 800, "g");
    snap(s, NULL, 7);
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_drop(s, "gone", &err), HDB_OK, "%s", err.msg);
    verify_clean(s);
    close_store(s);
    s = open_store(dir);
    struct hdb_version *v = hdb_store_snapshot_version(s, 7);
    cr_assert_not_null(v);
    cr_assert(hdb_version_has_tree(v, gone));
    cr_assert_str_eq(hdb_store_tree_name(s, gone), "gone");
    expect_all(s, v, gone, 800, "g", false);
    cr_assert_eq(hdb_store_tree_find(s, "gone", &t, &err), HDB_NOTFOUND);
    verify_clean(s);
    cr_assert_eq(hdb_store_snapshot_drop(s, 7, &err), HDB_OK, "%s", err.msg);
    verify_clean(s);
    close_store(s);
    tu_rmtree(dir);
    free(dir);
}

/*
 * The child builds the store and exits without closing (a crash: nothing
 * after the last fdatasync is written); the parent reopens and checks.
 * kind 0: the snapshot is of the newest version (restored by its WAL record);
 * kind 1: of an older version, with commits after it (the second replay);
 * kind 2: of a version older than the last checkpoint (create checkpoints);
 * kind 3: like 1, then dropped (must stay dropped).
 */
static void crash_case(int kind)
{
    char *dir = tu_mkdtemp("snapcrash");
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct hdb_store *s = open_store(dir);
        uint32_t t = tree(s, "t");
        write_all(s, t, 1500, "a");
        struct hdb_err err;
        if (hdb_store_checkpoint(s, &err) != HDB_OK) {
            _exit(2);
        }
        write_all(s, t, 1500, "b");
        struct hdb_version *v = hdb_store_version_take(s);
        write_all(s, t, 1500, "c");
        if (kind == 2 && hdb_store_checkpoint(s, &err) != HDB_OK) {
            _exit(2);
        }
        if (hdb_store_snapshot_create(s, kind == 0 ? NULL : v, 3, 30, 0, &err) != HDB_OK) {
            _exit(3);
        }
        write_all(s, t, 1500, NULL);
        write_all(s, t, 1000, "d");
        if (kind == 3 && hdb_store_snapshot_drop(s, 3, &err) != HDB_OK) {
            _exit(4);
        }
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    struct hdb_store *s = open_store(dir);
    uint32_t t = tree(s, "t");
    struct hdb_version *v = hdb_store_snapshot_version(s, 3);
    if (kind == 3) {
        cr_assert_null(v, "a dropped snapshot came back");
    } else {
        cr_assert_not_null(v, "snapshot lost in the crash (case %d)", kind);
        expect_all(s, v, t, 1500, kind == 0 ? "c" : "b", false);
    }
    /* the newest version has everything acknowledged */
    expect_all(s, NULL, t, 1000, "d", false);
    struct hdb_buf b = {0};
    struct hdb_err err;
    cr_assert_eq(hdb_store_get(s, NULL, t, "k00001200", 9, &b, &err), HDB_NOTFOUND);
    cr_assert_eq(hdb_store_get(s, NULL, t, "k00001201", 9, &b, &err), HDB_OK);
    cr_assert(b.len == 6 && memcmp(b.data, "c-1201", 6) == 0);
    hdb_buf_free(&b);
    verify_clean(s);
    close_store(s);
    /* and once more after the clean close (now from the snapshot table) */
    s = open_store(dir);
    v = hdb_store_snapshot_version(s, 3);
    cr_assert((v == NULL) == (kind == 3));
    if (v != NULL) {
        expect_all(s, v, t, 1500, kind == 0 ? "c" : "b", false);
    }
    close_store(s);
    tu_rmtree(dir);
    free(dir);
}

Test(snapshot, crash_newest_version)
{
    crash_case(0);
}

Test(snapshot, crash_older_version_second_replay)
{
    crash_case(1);
}

Test(snapshot, crash_version_before_checkpoint)
{
    crash_case(2);
}

Test(snapshot, crash_after_drop)
{
    crash_case(3);
}

/* Creating a snapshot touches no page and writes one WAL group, whatever the size. */
static void no_io_at(uint32_t nkeys)
{
    char *dir = tu_mkdtemp("snapio");
    struct hdb_store_opts o;
    wl_store_opts(&o);
    o.wal_mode = HDB_WAL_ASYNC;
    o.cache_bytes = 256ull << 20;
    o.wal_segment_bytes = 32ull << 20;
    o.wal_max_segments = 8;
    o.checkpoint_wal_bytes = 0;
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open(dir, &o, &s, NULL, &err), HDB_OK, "%s", err.msg);
    uint32_t t = tree(s, "t");
    enum { BATCH = 10000 };
    struct hdb_write *w = calloc(BATCH, sizeof *w);
    uint8_t(*keys)[8] = calloc(BATCH, 8);
    cr_assert(w != NULL && keys != NULL);
    for (uint32_t base = 0; base < nkeys; base += BATCH) {
        uint32_t m = 0;
        for (uint32_t i = base; i < nkeys && m < BATCH; i++, m++) {
            for (int b = 0; b < 8; b++) {
                keys[m][b] = (uint8_t)((uint64_t)i * 0x9E3779B97F4A7C15ull >> (56 - 8 * b));
            }
            w[m] = (struct hdb_write){.type = HDB_WAL_PUT,
                                      .tree = t,
                                      .key = keys[m],
                                      .klen = 8,
                                      .val = keys[m],
                                      .vlen = 8};
        }
        cr_assert_eq(hdb_store_commit(s, w, m, 0, 0, NULL, NULL, &err), HDB_OK, "%s", err.msg);
    }
    cr_assert_eq(hdb_store_flush(s, &err), HDB_OK, "%s", err.msg);
    struct hdb_store_stats a, b;
    hdb_store_get_stats(s, &a);
    snap(s, NULL, 1);
    hdb_store_get_stats(s, &b);
    cr_assert_eq(b.cache.hits + b.cache.misses, a.cache.hits + a.cache.misses,
                 "%u keys: creating a snapshot touched pages", nkeys);
    cr_assert_eq(b.cache.writebacks, a.cache.writebacks);
    cr_assert_eq(b.io.reads, a.io.reads, "%u keys: creating a snapshot read", nkeys);
    cr_assert_eq(b.wal.records - a.wal.records, 1);
    cr_assert_eq(b.wal.groups - a.wal.groups, 1);
    cr_assert_eq(b.io.writes - a.io.writes, b.wal.groups - a.wal.groups,
                 "%u keys: writes other than the WAL group", nkeys);
    /* and the snapshot holds all of it */
    struct hdb_cursor c;
    cr_assert_eq(hdb_store_cursor(s, hdb_store_snapshot_version(s, 1), t, &c, &err), HDB_OK);
    uint64_t n = 0;
    for (int rc = hdb_cursor_first(&c, &err); rc == HDB_OK; rc = hdb_cursor_next(&c, &err)) {
        n++;
    }
    hdb_cursor_close(&c);
    cr_assert_eq(n, nkeys);
    free(w);
    free(keys);
    close_store(s);
    tu_rmtree(dir);
    free(dir);
}

Test(snapshot, creation_touches_no_page_10k)
{
    no_io_at(10000);
}

Test(snapshot, creation_touches_no_page_1m, .timeout = 600)
{
    no_io_at(1000000);
}

/* A dropped tree's pages become free; once they sit at the end of the data file, a checkpoint
 * takes them off and the file shrinks. What is left reads back and verifies, also reopened. */
Test(snapshot, free_pages_at_the_end_leave_the_file)
{
    char *dir = tu_mkdtemp("shrink");
    struct hdb_store *s = open_store(dir);
    uint32_t keep = tree(s, "keep");
    write_all(s, keep, 300, "k");
    struct hdb_err err;
    cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
    uint32_t big = tree(s, "big");
    write_all(s, big, 20000, "b");
    cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
    char *data = tu_path(dir, "data");
    struct stat st;
    cr_assert_eq(stat(data, &st), 0, "%s", data);
    off_t before = st.st_size;
    cr_assert_eq(hdb_store_tree_drop(s, "big", &err), HDB_OK, "%s", err.msg);
    /* the pages wait two checkpoints, and so do the checkpoint pages written meanwhile at the
     * end of the file */
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
    }
    cr_assert_eq(stat(data, &st), 0);
    cr_assert_lt(st.st_size * 4, before, "the data file kept %lld of %lld bytes",
                 (long long)st.st_size, (long long)before);
    verify_clean(s);
    close_store(s);
    s = open_store(dir);
    verify_clean(s);
    write_all(s, tree(s, "again"), 2000, "a"); /* the file grows again from its new end */
    verify_clean(s);
    close_store(s);
    tu_rmtree(dir);
    free(data);
    free(dir);
}
