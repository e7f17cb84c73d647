/*
 * test_faults.c — I/O fault injection swept over every I/O call of a small
 * workload: EIO at call N (whatever that call is), ENOSPC at N (writes,
 * truncates), a short write at N, a failed fdatasync at N. In every case the
 * caller gets an error (or, for a short write, nothing goes wrong at all),
 * and a reopen without faults finds every acknowledged commit, nothing
 * else, and a store that verifies clean.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"
#include "tests/core/testutil.h"
#include "tests/core/workload.h"

#define FAULT_KEYS    200u
#define FAULT_BATCH   3u
#define FAULT_COMMITS 150u

enum fault_kind { FK_EIO, FK_ENOSPC, FK_SHORT, FK_FSYNC, FK_COUNT };

struct injector {
    enum fault_kind kind;
    uint64_t at;
    uint64_t calls;
    bool fired;
};

static int inject(void *ctx, enum hdb_fault_point point, uint64_t call_no, const char *path,
                  uint64_t off, uint32_t len)
{
    (void)call_no;
    (void)path;
    (void)off;
    struct injector *in = ctx;
    if (++in->calls != in->at) {
        return 0;
    }
    switch (in->kind) {
    case FK_EIO:
        in->fired = point != HDB_FAULT_URING_SETUP && point != HDB_FAULT_DIRECT_OPEN;
        return in->fired ? -EIO : 0;
    case FK_ENOSPC:
        in->fired = point == HDB_FAULT_WRITE || point == HDB_FAULT_TRUNCATE;
        return in->fired ? -ENOSPC : 0;
    case FK_SHORT:
        in->fired = point == HDB_FAULT_WRITE && len > 1;
        return in->fired ? (int)(len / 2) : 0;
    case FK_FSYNC:
        in->fired = point == HDB_FAULT_FSYNC;
        return in->fired ? -EIO : 0;
    default:
        return 0;
    }
}

static void ack_done(void *ctx, int status, const char *msg)
{
    (void)msg;
    if (status == HDB_OK) {
        uint64_t *slot = ctx;
        slot[1] = 1;
    }
}

/* The workload: commits in batches, a checkpoint half-way, close. Returns acked commits. */
static uint64_t workload(const char *dir, struct injector *in, int *first_error)
{
    struct hdb_store_opts o;
    wl_store_opts(&o);
    o.fault = inject;
    o.fault_ctx = in;
    struct hdb_store *s;
    struct hdb_err err;
    *first_error = hdb_store_open(dir, &o, &s, NULL, &err);
    if (*first_error != HDB_OK) {
        return 0;
    }
    struct wl wl;
    wl_init(&wl, 7, FAULT_KEYS);
    struct wl_commit c;
    wl_commit_init(&c);
    uint64_t acked = 0;
    int rc = wl_trees(&wl, s, &err);
    for (uint64_t i = 0; rc == HDB_OK && i < FAULT_COMMITS; i += FAULT_BATCH) {
        uint64_t acks[FAULT_BATCH][2] = {{0}};
        for (uint32_t b = 0; rc == HDB_OK && b < FAULT_BATCH; b++) {
            wl_gen(&wl, i + b, &c);
            acks[b][0] = i + b + 1;
            rc = hdb_store_commit(s, c.w, c.n, 0, 0, ack_done, acks[b], &err);
        }
        int frc = hdb_store_flush(s, &err);
        rc = rc != HDB_OK ? rc : frc;
        for (uint32_t b = 0; b < FAULT_BATCH; b++) {
            acked = acks[b][1] ? acks[b][0] : acked;
        }
        if (rc == HDB_OK && i % 30 == 27) {
            rc = hdb_store_checkpoint(s, &err);
        }
    }
    int crc = hdb_store_close(s, &err);
    *first_error = rc != HDB_OK ? rc : crc;
    wl_commit_free(&c);
    return acked;
}

static void problem_print(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "verify: %s\n", msg);
}

static void check_reopen(const char *dir, uint64_t acked, const char *what)
{
    struct hdb_store_opts o;
    wl_store_opts(&o);
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open(dir, &o, &s, NULL, &err), HDB_OK, "%s: reopen: %s", what, err.msg);
    struct wl wl;
    wl_init(&wl, 7, FAULT_KEYS);
    cr_assert_eq(wl_trees(&wl, s, &err), HDB_OK, "%s: %s", what, err.msg);
    struct wl_model m;
    wl_model_init(&m, FAULT_KEYS);
    char why[512];
    cr_assert(wl_model_settle(&m, &wl, s, acked, FAULT_BATCH, why, sizeof why), "%s: %s", what,
              why);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, problem_print, NULL, &rep, &err), HDB_OK, "%s: %s", what,
                 err.msg);
    cr_assert_eq(rep.problems, 0, "%s: %llu problems", what, (unsigned long long)rep.problems);
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK, "%s: %s", what, err.msg);
    wl_model_free(&m);
}

static const char *scratch_base(void)
{
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
}

Test(faults, every_io_call_fails_cleanly, .timeout = 900)
{
    hdb_log_set_level(HDB_LOG_ERROR);
    const char *base = scratch_base();
    if (base != NULL) {
        setenv("TMPDIR", base, 1);
    }
    char *dir = tu_mkdtemp("faults");
    struct injector count = {.kind = FK_COUNT};
    int rc;
    uint64_t acked = workload(dir, &count, &rc);
    cr_assert_eq(rc, HDB_OK, "fault-free run failed: %d", rc);
    cr_assert_eq(acked, FAULT_COMMITS);
    uint64_t total = count.calls;
    fprintf(stderr, "fault sweep over %llu I/O calls\n", (unsigned long long)total);
    uint64_t stride = tu_sanitized() ? 5 : 1;
    static const char *const names[FK_COUNT] = {"EIO", "ENOSPC", "short write", "fsync failure"};
    uint64_t injected = 0;
    for (int kind = 0; kind < FK_COUNT; kind++) {
        for (uint64_t n = 1; n <= total; n += stride) {
            tu_rmtree(dir);
            struct injector in = {.kind = (enum fault_kind)kind, .at = n};
            acked = workload(dir, &in, &rc);
            if (!in.fired) {
                continue;
            }
            injected++;
            char what[96];
            snprintf(what, sizeof what, "%s at I/O call %llu", names[kind], (unsigned long long)n);
            if (kind == FK_SHORT) {
                cr_assert_eq(rc, HDB_OK, "%s: a short write must be continued", what);
            } else {
                cr_assert_neq(rc, HDB_OK, "%s: the caller was not told", what);
            }
            check_reopen(dir, acked, what);
        }
    }
    fprintf(stderr, "fault sweep: %llu faults injected\n", (unsigned long long)injected);
    cr_assert_gt(injected, total / stride, "too few faults injected");
    tu_rmtree(dir);
    free(dir);
}
