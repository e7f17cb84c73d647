/*
 * test_corruption.c — damaged files give their documented result:
 *   - a bit flip in a data page: reads of it fail with HDB_CORRUPT naming
 *     the page and both checksums; other reads are right; verify reports it;
 *   - a bit flip in a WAL record in the middle: open fails with HDB_CORRUPT
 *     naming the segment and offset;
 *   - one superblock copy damaged: open uses the other copy and the WAL
 *     kept since it, losing nothing;
 *   - both copies damaged: open fails with HDB_CORRUPT;
 *   - the WAL cut at every byte offset of its last group: open truncates
 *     the torn tail cleanly; all earlier commits are there.
 * Never wrong data, never a crash.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/log.h"
#include "core/page.h"
#include "tests/core/testutil.h"
#include "tests/core/workload.h"

#define CORR_KEYS 400u

static void setup(void)
{
    hdb_log_set_level(HDB_LOG_ERROR);
}

static struct hdb_store *open_ok(const char *dir, struct hdb_recovery_info *info)
{
    struct hdb_store_opts o;
    wl_store_opts(&o);
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open(dir, &o, &s, info, &err), HDB_OK, "open: %s", err.msg);
    return s;
}

/* Runs commits [from, to) of the workload, one durable group each. */
static void run_commits(struct hdb_store *s, struct wl *wl, uint64_t from, uint64_t to)
{
    struct hdb_err err;
    cr_assert_eq(wl_trees(wl, s, &err), HDB_OK, "%s", err.msg);
    struct wl_commit c;
    wl_commit_init(&c);
    for (uint64_t i = from; i < to; i++) {
        wl_gen(wl, i, &c);
        cr_assert_eq(hdb_store_commit_sync(s, c.w, c.n, &err), HDB_OK, "%s", err.msg);
    }
    wl_commit_free(&c);
}

/* Commits [0, n) in a child that exits without closing: the WAL is not checkpointed. */
static void commits_then_crash(const char *dir, uint64_t n)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct hdb_store *s = open_ok(dir, NULL);
        struct wl wl;
        wl_init(&wl, 11, CORR_KEYS);
        wl.big_every = 0;
        run_commits(s, &wl, 0, n);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed");
}

static void expect_prefix(struct hdb_store *s, uint64_t n)
{
    struct wl wl;
    wl_init(&wl, 11, CORR_KEYS);
    wl.big_every = 0;
    struct hdb_err err;
    cr_assert_eq(wl_trees(&wl, s, &err), HDB_OK, "%s", err.msg);
    struct wl_model m;
    wl_model_init(&m, CORR_KEYS);
    for (uint64_t i = 0; i < n; i++) {
        wl_model_apply(&m, &wl, i);
    }
    char why[512];
    cr_assert(wl_model_matches(&m, &wl, s, why, sizeof why), "after %llu commits: %s",
              (unsigned long long)n, why);
    wl_model_free(&m);
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0, "open %s", path);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, off), 1);
    b ^= 0x10;
    cr_assert_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

struct problems {
    int n;
    char first[512];
};

static void collect(void *ctx, const char *msg)
{
    struct problems *p = ctx;
    if (p->n++ == 0) {
        snprintf(p->first, sizeof p->first, "%s", msg);
    }
}

/* Finds the leaf page (4 KiB pages) that holds `key` in tree `t`: the live one, not a free page. */
static uint64_t find_leaf(const char *path, const char *key, uint32_t t)
{
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    uint8_t page[4096];
    uint64_t found = 0;
    (void)t;
    /* The newest generation among leaves holding the key is the live copy. */
    uint64_t best_gen = 0;
    for (uint64_t pgno = 2; pread(fd, page, sizeof page, (off_t)(pgno * 4096)) == 4096; pgno++) {
        if (hdb_get32(page) != HDB_PAGE_MAGIC || hdb_page_type(page) != HDB_PAGE_LEAF ||
            memmem(page, sizeof page, key, strlen(key)) == NULL) {
            continue;
        }
        if (found == 0 || hdb_page_gen(page) > best_gen) {
            found = pgno;
            best_gen = hdb_page_gen(page);
        }
    }
    close(fd);
    cr_assert_neq(found, 0, "no leaf page holds %s", key);
    return found;
}

Test(corruption, data_page_bitflip_detected_never_wrong_data, .init = setup)
{
    char *dir = tu_mkdtemp("corr-page");
    struct hdb_store *s = open_ok(dir, NULL);
    struct wl wl;
    wl_init(&wl, 11, CORR_KEYS);
    wl.big_every = 0;
    run_commits(s, &wl, 0, 600);
    struct hdb_err err;
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK, "%s", err.msg);

    char *data = tu_path(dir, "data");
    struct wl_model m;
    wl_model_init(&m, CORR_KEYS);
    for (uint64_t i = 0; i < 600; i++) {
        wl_model_apply(&m, &wl, i);
    }
    uint32_t probe = 0;
    while (m.last[probe] < 0) {
        probe++; /* a key of tree t0 that is present */
    }
    char probe_key[16];
    snprintf(probe_key, sizeof probe_key, "key%08u", probe);
    uint64_t leaf = find_leaf(data, probe_key, 0);
    flip_byte(data, (off_t)(leaf * 4096 + 1000));

    s = open_ok(dir, NULL);
    char needle[64];
    snprintf(needle, sizeof needle, "page %llu", (unsigned long long)leaf);
    uint8_t *expect = malloc(WL_VALUE_BYTES_MAX);
    struct hdb_buf val = {0};
    int corrupt = 0;
    for (uint32_t t = 0; t < 2; t++) {
        for (uint32_t k = 0; k < CORR_KEYS; k++) {
            char key[16];
            snprintf(key, sizeof key, "key%08u", k);
            uint32_t len = 0;
            bool present = wl_expected(&m, &wl, t, k, expect, &len);
            int rc = hdb_store_get(s, NULL, wl.tree[t], key, WL_KEY_BYTES, &val, &err);
            if (rc == HDB_CORRUPT) {
                cr_assert(strstr(err.msg, needle) != NULL, "error names the page: %s", err.msg);
                cr_assert(strstr(err.msg, "checksum") != NULL, "error names checksums: %s",
                          err.msg);
                corrupt++;
                continue;
            }
            cr_assert_eq(rc, present ? HDB_OK : HDB_NOTFOUND, "%s: rc %d", key, rc);
            if (present) {
                cr_assert(val.len == len && memcmp(val.data, expect, len) == 0, "wrong data");
            }
        }
    }
    cr_assert_gt(corrupt, 0, "no read hit the damaged page");
    struct hdb_store_stats st;
    hdb_store_get_stats(s, &st);
    cr_assert_eq(st.cache.corrupt_reads, (uint64_t)corrupt, "each failed read is counted");
    struct problems p = {0};
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, collect, &p, &rep, &err), HDB_OK, "%s", err.msg);
    cr_assert_gt(p.n, 0, "verify missed the damaged page");
    cr_assert(strstr(p.first, needle) != NULL, "verify names the page: %s", p.first);
    hdb_store_close(s, &err);
    hdb_buf_free(&val);
    free(expect);
    wl_model_free(&m);
    free(data);
    tu_rmtree(dir);
    free(dir);
}

Test(corruption, wal_mid_record_bitflip_is_reported, .init = setup)
{
    char *dir = tu_mkdtemp("corr-wal");
    commits_then_crash(dir, 300);
    char *seg = tu_path(dir, "wal-0000000000000001.log");
    flip_byte(seg, 4096 * 150 + 64 + 20); /* inside the first record of group 150 */
    struct hdb_store_opts o;
    wl_store_opts(&o);
    struct hdb_store *s;
    struct hdb_err err;
    int rc = hdb_store_open(dir, &o, &s, NULL, &err);
    cr_assert_eq(rc, HDB_CORRUPT, "open gave %d: %s", rc, err.msg);
    cr_assert(strstr(err.msg, "wal-0000000000000001.log") != NULL, "names segment: %s", err.msg);
    cr_assert(strstr(err.msg, "614400") != NULL || strstr(err.msg, "0x96000") != NULL,
              "names offset 614400: %s", err.msg);
    free(seg);
    tu_rmtree(dir);
    free(dir);
}

/* Two checkpoints (both copies valid) and commits after them; returns commits made. */
static uint64_t two_checkpoints_then_crash(const char *dir)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct hdb_store *s = open_ok(dir, NULL);
        struct wl wl;
        wl_init(&wl, 11, CORR_KEYS);
        wl.big_every = 0;
        struct hdb_err err;
        run_commits(s, &wl, 0, 100);
        cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
        run_commits(s, &wl, 100, 200);
        cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
        run_commits(s, &wl, 200, 300);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 300;
}

static uint64_t superblock_seq(const char *data, int slot)
{
    int fd = open(data, O_RDONLY);
    uint8_t page[4096];
    cr_assert_eq(pread(fd, page, sizeof page, slot * 4096), 4096);
    close(fd);
    return hdb_get64(page + 64);
}

Test(corruption, one_superblock_copy_damaged_loses_nothing, .init = setup)
{
    for (int newer = 0; newer < 2; newer++) {
        char *dir = tu_mkdtemp("corr-sb1");
        uint64_t n = two_checkpoints_then_crash(dir);
        char *data = tu_path(dir, "data");
        int newest = superblock_seq(data, 0) > superblock_seq(data, 1) ? 0 : 1;
        int victim = newer ? newest : 1 - newest;
        flip_byte(data, victim * 4096 + 100);
        struct hdb_recovery_info info;
        struct hdb_store *s = open_ok(dir, &info);
        cr_assert(info.superblock_fallback, "damage was reported");
        expect_prefix(s, n);
        struct hdb_err err;
        struct hdb_verify_report rep;
        cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK, "%s", err.msg);
        cr_assert_eq(rep.problems, 0);
        cr_assert_eq(hdb_store_close(s, &err), HDB_OK, "%s", err.msg);
        free(data);
        tu_rmtree(dir);
        free(dir);
    }
}

Test(corruption, all_superblock_copies_damaged_is_corrupt, .init = setup)
{
    char *dir = tu_mkdtemp("corr-sb2");
    two_checkpoints_then_crash(dir);
    char *data = tu_path(dir, "data");
    flip_byte(data, 100);
    flip_byte(data, 4096 + 100);
    struct hdb_store_opts o;
    wl_store_opts(&o);
    struct hdb_store *s;
    struct hdb_err err;
    int rc = hdb_store_open(dir, &o, &s, NULL, &err);
    cr_assert_eq(rc, HDB_CORRUPT, "open gave %d: %s", rc, err.msg);
    cr_assert(strstr(err.msg, "superblock") != NULL, "%s", err.msg);
    free(data);
    tu_rmtree(dir);
    free(dir);
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(in >= 0 && out >= 0, "copy %s -> %s", from, to);
    static uint8_t buf[1 << 16];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        cr_assert_eq(write(out, buf, (size_t)n), n);
    }
    close(in);
    close(out);
}

static void zero_range(const char *path, off_t from, off_t to)
{
    int fd = open(path, O_RDWR);
    static const uint8_t zeros[4096];
    for (off_t at = from; at < to;) {
        size_t n = (size_t)(to - at) < sizeof zeros ? (size_t)(to - at) : sizeof zeros;
        cr_assert_eq(pwrite(fd, zeros, n, at), (ssize_t)n);
        at += (off_t)n;
    }
    close(fd);
}

/* Offset of the last group in a segment (the last 4 KiB block starting with the group magic). */
static off_t last_group(const char *seg, uint32_t *len)
{
    int fd = open(seg, O_RDONLY);
    uint8_t block[4096];
    off_t last = -1;
    for (off_t at = 4096; pread(fd, block, sizeof block, at) == 4096; at += 4096) {
        if (hdb_get32(block) == 0x47424448u) {
            last = at;
            *len = 64 + hdb_get32(block + 36);
        }
    }
    close(fd);
    cr_assert_geq(last, 0, "no group found");
    return last;
}

Test(corruption, wal_cut_at_every_byte_of_last_group_is_torn_tail, .init = setup, .timeout = 600)
{
    char *pristine = tu_mkdtemp("corr-cut");
    const uint64_t n = 40;
    commits_then_crash(pristine, n);
    char *seg = tu_path(pristine, "wal-0000000000000001.log");
    char *data = tu_path(pristine, "data");
    uint32_t len = 0;
    off_t g = last_group(seg, &len);
    /* Zeroing bytes that are zero already (record padding) cuts nothing. */
    off_t last_nonzero = g;
    int sfd = open(seg, O_RDONLY);
    for (off_t at = g; at < g + (off_t)len; at++) {
        uint8_t b = 0;
        cr_assert_eq(pread(sfd, &b, 1, at), 1);
        last_nonzero = b != 0 ? at : last_nonzero;
    }
    close(sfd);
    for (off_t cut = g; cut <= g + (off_t)len; cut++) {
        char *work = tu_mkdtemp("corr-cut-w");
        char *wseg = tu_path(work, "wal-0000000000000001.log");
        char *wdata = tu_path(work, "data");
        copy_file(seg, wseg);
        copy_file(data, wdata);
        if (cut < g + (off_t)len) {
            zero_range(wseg, cut, g + 4096);
        }
        struct hdb_store *s = open_ok(work, NULL);
        expect_prefix(s, cut <= last_nonzero ? n - 1 : n);
        struct hdb_err err;
        cr_assert_eq(hdb_store_close(s, &err), HDB_OK, "cut at %lld: %s", (long long)cut, err.msg);
        free(wseg);
        free(wdata);
        tu_rmtree(work);
        free(work);
    }
    free(seg);
    free(data);
    tu_rmtree(pristine);
    free(pristine);
}
