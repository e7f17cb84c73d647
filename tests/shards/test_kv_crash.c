/*
 * test_kv_crash.c — crashes of the shard runtime.
 *
 * Bank under SIGKILL: a child process runs transfers from two connections
 * (most of them across shards), each also writing a xfer:<id> key, and
 * reports every acknowledged id over a pipe; the parent kills it at a
 * random moment, reopens, and checks that the total holds and every
 * acknowledged transfer is there. HDB_CRASH_CYCLES sets the kills (50).
 *
 * Two-phase commit crash points: the child stops dead (_exit, which like
 * SIGKILL keeps what reached the kernel) after every participant prepared,
 * after the decision is durable, or after the first participant applied;
 * after reopening, the transaction is all there (decision durable) or all
 * gone (no decision).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/testutil.h"
#include "kvtest.h"

static char *dir;

static void setup(void)
{
    dir = tu_mkdtemp("kvcrash");
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

TestSuite(kv_crash, .init = setup, .fini = teardown, .timeout = 1200);

struct child_worker {
    struct hdb_db *db;
    int fd;
    uint64_t base;
    pthread_mutex_t *pipe_lock;
};

static void *child_transfers(void *arg)
{
    struct child_worker *w = arg;
    struct hdb_conn *c = kt_connect(w->db);
    uint64_t rng = w->base | 1;
    for (uint64_t n = 1;; n++) {
        bool multi = false;
        uint64_t id = w->base + n;
        int rc = kt_bank_transfer(c, &rng, id, &multi);
        if (rc != HDB_OK) {
            _exit(3);
        }
        pthread_mutex_lock(w->pipe_lock);
        if (write(w->fd, &id, sizeof id) != sizeof id) {
            _exit(4);
        }
        pthread_mutex_unlock(w->pipe_lock);
    }
    return NULL;
}

static void bank_child(uint32_t cycle, int fd)
{
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    kt_bank_init(c);
    uint64_t ready = 0;
    if (write(fd, &ready, sizeof ready) != sizeof ready) {
        _exit(4);
    }
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct child_worker w[2];
    pthread_t tid[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (struct child_worker){.db = db,
                                     .fd = fd,
                                     .base = ((uint64_t)cycle << 32) | ((uint64_t)i << 28),
                                     .pipe_lock = &lock};
        pthread_create(&tid[i], NULL, child_transfers, &w[i]);
    }
    for (;;) {
        pause();
    }
}

static bool xfer_present(struct hdb_conn *c, struct hdb_table *tb, uint64_t id)
{
    char k[32];
    snprintf(k, sizeof k, "xfer:%016" PRIx64, id);
    struct hdb_buf val = {0};
    struct hdb_err err = {0};
    int rc = hdb_kv_get(c, tb, k, (uint32_t)strlen(k), &val, &err);
    hdb_buf_free(&val);
    cr_assert(rc == HDB_OK || rc == HDB_NOTFOUND, "%s", err.msg);
    return rc == HDB_OK;
}

Test(kv_crash, bank_total_and_acknowledged_transfers_survive_sigkill)
{
    const char *env = getenv("HDB_CRASH_CYCLES");
    uint32_t cycles = env != NULL ? (uint32_t)atoi(env) : 50;
    uint64_t *acked = NULL;
    size_t nacked = 0, cap = 0;
    struct tu_rng rng;
    tu_rng_seed(&rng, 42);
    uint32_t in_doubt_committed = 0, in_doubt_aborted = 0;
    for (uint32_t cycle = 1; cycle <= cycles; cycle++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            bank_child(cycle, fds[1]);
        }
        close(fds[1]);
        uint64_t id;
        cr_assert_eq(read(fds[0], &id, sizeof id), (ssize_t)sizeof id, "child failed to start");
        usleep((useconds_t)(20000 + tu_rng_below(&rng, 150000)));
        kill(pid, SIGKILL);
        ssize_t n;
        while ((n = read(fds[0], &id, sizeof id)) == (ssize_t)sizeof id) {
            if (nacked == cap) {
                cap = cap == 0 ? 1024 : cap * 2;
                acked = realloc(acked, cap * sizeof *acked);
            }
            acked[nacked++] = id;
        }
        close(fds[0]);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "child exited by itself (status %d)", status);

        struct hdb_db_opts o;
        kt_opts(&o, 4);
        struct hdb_db *db = NULL;
        struct hdb_db_open_info info;
        struct hdb_err err = {0};
        cr_assert_eq(hdb_db_open(dir, &o, &db, &info, &err), HDB_OK, "cycle %u: %s", cycle,
                     err.msg);
        in_doubt_committed += info.prepared_committed;
        in_doubt_aborted += info.prepared_aborted;
        struct hdb_conn *c = kt_connect(db);
        cr_assert_eq(kt_bank_total(c, cycle % 2 == 0), (int64_t)BANK_ACCOUNTS * BANK_START,
                     "cycle %u: total changed", cycle);
        struct hdb_table *tb = NULL;
        cr_assert_eq(hdb_kv_table(c, "accounts", false, &tb, &err), HDB_OK);
        /* Every acknowledged transfer so far (all cycles: later ones must not undo them). */
        size_t from = nacked > 400 ? nacked - 400 : 0;
        for (size_t i = from; i < nacked; i++) {
            cr_assert(xfer_present(c, tb, acked[i]),
                      "cycle %u: acknowledged transfer %" PRIx64 " lost", cycle, acked[i]);
        }
        hdb_db_disconnect(c);
        cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
    }
    cr_assert_gt(nacked, cycles, "too few transfers to mean anything (%zu)", nacked);
    fprintf(stderr,
            "%u kills, %zu acknowledged transfers checked, %u in-doubt commits finished, %u rolled "
            "back\n",
            cycles, nacked, in_doubt_committed, in_doubt_aborted);
    free(acked);
}

/* --- two-phase commit crash points --- */

static const char *crash_point;

static void die_hook(void *ctx, const char *point, uint32_t shard)
{
    (void)ctx;
    (void)shard;
    if (crash_point != NULL && strcmp(point, crash_point) == 0) {
        _exit(0);
    }
}

static void two_keys(struct hdb_conn *c, struct hdb_table *tb, const char *x, const char *y,
                     int64_t v)
{
    struct hdb_txn *t = NULL;
    struct hdb_err err = {0};
    if (hdb_txn_begin(c, &t, &err) != HDB_OK ||
        hdb_txn_put(t, tb, x, (uint32_t)strlen(x), &v, sizeof v, &err) != HDB_OK ||
        hdb_txn_put(t, tb, y, (uint32_t)strlen(y), &v, sizeof v, &err) != HDB_OK ||
        hdb_txn_commit(t, &err) != HDB_OK) {
        fprintf(stderr, "two_keys: %s\n", err.msg);
        _exit(5);
    }
}

static int64_t value(struct hdb_conn *c, struct hdb_table *tb, const char *k)
{
    struct hdb_buf val = {0};
    struct hdb_err err = {0};
    int64_t v = -1;
    if (hdb_kv_get(c, tb, k, (uint32_t)strlen(k), &val, &err) == HDB_OK && val.len == sizeof v) {
        memcpy(&v, val.data, sizeof v);
    }
    hdb_buf_free(&val);
    return v;
}

#define ALL_OR_NOTHING (-2) /* want: x and y both 1 or both 2 */

static void run_crash_point(const char *point, enum hdb_wal_mode mode, int64_t want)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct hdb_db_opts o;
        kt_opts(&o, 3);
        o.store.wal_mode = mode;
        o.twopc_hook = die_hook;
        struct hdb_db *db = kt_open(dir, &o);
        struct hdb_conn *c = kt_connect(db);
        struct hdb_table *tb = NULL;
        struct hdb_err err = {0};
        if (hdb_kv_table(c, "t", true, &tb, &err) != HDB_OK) {
            _exit(5);
        }
        char x[16], y[16];
        kt_keys_on_two_shards(db, x, y);
        two_keys(c, tb, x, y, 1);
        if (mode == HDB_WAL_ASYNC) {
            /* Async mode acknowledges before the disk: give every shard time to log and flush a
             * watermark past the first commit (docs/shards.md: within two flush intervals). */
            usleep(200 * 1000);
        }
        crash_point = point;
        two_keys(c, tb, x, y, 2);
        _exit(6); /* the hook did not fire */
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child status %d", point, status);
    struct hdb_db_opts o;
    kt_opts(&o, 3);
    o.store.wal_mode = mode;
    struct hdb_db *db = NULL;
    struct hdb_db_open_info info;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_db_open(dir, &o, &db, &info, &err), HDB_OK, "%s", err.msg);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = NULL;
    cr_assert_eq(hdb_kv_table(c, "t", false, &tb, &err), HDB_OK);
    char x[16], y[16];
    kt_keys_on_two_shards(db, x, y);
    if (want == ALL_OR_NOTHING) {
        /* A durable decision above the async cut is rolled back with the rest of the cut. */
        int64_t vx = value(c, tb, x);
        cr_assert(vx == 1 || vx == 2, "%s: x = %lld", point, (long long)vx);
        cr_assert_eq(value(c, tb, y), vx, "%s: y differs from x", point);
        want = vx;
    }
    cr_assert_eq(value(c, tb, x), want, "%s: x", point);
    cr_assert_eq(value(c, tb, y), want, "%s: y", point);
    if (want == 1 && mode == HDB_WAL_SYNC) {
        cr_assert_eq(info.prepared_aborted, 1, "%s: the one prepared part rolled back", point);
    }
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
    /* Resolution is durable: a second reopen finds nothing in doubt and the same values. */
    cr_assert_eq(hdb_db_open(dir, &o, &db, &info, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(info.prepared_committed + info.prepared_aborted, 0);
    c = kt_connect(db);
    cr_assert_eq(hdb_kv_table(c, "t", false, &tb, &err), HDB_OK);
    cr_assert_eq(value(c, tb, x), want);
    cr_assert_eq(value(c, tb, y), want);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

Test(kv_crash, crash_after_one_participant_prepared_rolls_back_everywhere)
{
    run_crash_point("prepared_one", HDB_WAL_SYNC, 1);
}

Test(kv_crash, crash_once_every_participant_prepared_commits_everywhere)
{
    run_crash_point("prepared", HDB_WAL_SYNC, 2);
}

Test(kv_crash, crash_after_one_participant_applied_commits_everywhere)
{
    run_crash_point("applied", HDB_WAL_SYNC, 2);
}

Test(kv_crash, crash_points_in_async_mode_are_all_or_nothing)
{
    run_crash_point("prepared_one", HDB_WAL_ASYNC, 1);
    tu_rmtree(dir);
    free(dir);
    dir = tu_mkdtemp("kvcrash");
    run_crash_point("prepared", HDB_WAL_ASYNC, ALL_OR_NOTHING);
    tu_rmtree(dir);
    free(dir);
    dir = tu_mkdtemp("kvcrash");
    run_crash_point("applied", HDB_WAL_ASYNC, ALL_OR_NOTHING);
}

/* --- the same crash points on the simulated disk, with a power cut --- */

struct cut_ctx {
    struct hdb_sim_disk *sim;
    const char *point;
    enum hdb_sim_cut_mode mode;
    bool armed, fired;
};

static void cut_hook(void *ctx, const char *point, uint32_t shard)
{
    struct cut_ctx *c = ctx;
    (void)shard;
    if (c->armed && !c->fired && strcmp(point, c->point) == 0) {
        c->fired = true;
        hdb_sim_power_cut(c->sim, c->mode); /* every later I/O of this boot fails */
    }
}

static void run_power_cut(const char *point, enum hdb_sim_cut_mode mode, uint64_t seed,
                          int64_t want)
{
    struct cut_ctx cut = {.sim = hdb_sim_create(seed), .point = point, .mode = mode};
    struct hdb_db_opts o;
    kt_opts(&o, 3);
    o.store.sim = cut.sim;
    o.twopc_hook = cut_hook;
    o.twopc_hook_ctx = &cut;
    struct hdb_db *db = kt_open("/db", &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = NULL;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_kv_table(c, "t", true, &tb, &err), HDB_OK, "%s", err.msg);
    char x[16], y[16];
    kt_keys_on_two_shards(db, x, y);
    two_keys(c, tb, x, y, 1);
    cut.armed = true;
    struct hdb_txn *t = NULL;
    int64_t v = 2;
    cr_assert_eq(hdb_txn_begin(c, &t, &err), HDB_OK);
    cr_assert_eq(hdb_txn_put(t, tb, x, (uint32_t)strlen(x), &v, sizeof v, &err), HDB_OK);
    cr_assert_eq(hdb_txn_put(t, tb, y, (uint32_t)strlen(y), &v, sizeof v, &err), HDB_OK);
    int rc = hdb_txn_commit(t, &err); /* fails after a cut before the decision */
    cr_assert(cut.fired, "%s: the hook did not fire", point);
    cr_assert(want == 2 ? rc == HDB_OK : rc != HDB_OK, "%s: commit returned %d", point, rc);
    hdb_db_disconnect(c);
    hdb_db_close(db, &err); /* fails: the disk is gone */

    o.twopc_hook = NULL;
    struct hdb_db_open_info info;
    cr_assert_eq(hdb_db_open("/db", &o, &db, &info, &err), HDB_OK, "%s: %s", point, err.msg);
    c = kt_connect(db);
    cr_assert_eq(hdb_kv_table(c, "t", false, &tb, &err), HDB_OK);
    cr_assert_eq(value(c, tb, x), want, "%s (seed %" PRIu64 "): x", point, seed);
    cr_assert_eq(value(c, tb, y), want, "%s (seed %" PRIu64 "): y", point, seed);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
    hdb_sim_destroy(cut.sim);
}

Test(kv_crash, power_cut_at_each_two_phase_point_is_all_or_nothing)
{
    static const enum hdb_sim_cut_mode modes[3] = {HDB_SIM_CUT_RANDOM, HDB_SIM_CUT_DROP_ALL,
                                                   HDB_SIM_CUT_KEEP_ALL};
    for (uint64_t seed = 1; seed <= 6; seed++) {
        enum hdb_sim_cut_mode m = modes[seed % 3];
        run_power_cut("prepared_one", m, seed, 1);
        run_power_cut("prepared", m, seed, 2);
        run_power_cut("applied", m, seed, 2);
    }
}

/* --- async mode: the recovery cut keeps a prefix of causally ordered commits --- */

#define SEQ_CYCLES         30
#define SEQ_WRITES_PER_RUN 2000u

struct seq_check {
    uint64_t rows;
    bool gap;
};

static bool seq_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val, uint32_t vlen)
{
    (void)val;
    (void)vlen;
    struct seq_check *s = ctx;
    char want[24];
    snprintf(want, sizeof want, "s%08llu", (unsigned long long)(s->rows + 1));
    if (klen != strlen(want) || memcmp(key, want, klen) != 0) {
        s->gap = true;
        return false;
    }
    s->rows++;
    return true;
}

/* The number of sequence keys present; -1 if they are not s1..sN without a gap. */
static int64_t seq_prefix(struct hdb_conn *c, struct hdb_table *tb)
{
    for (;;) {
        struct hdb_txn *t = NULL;
        struct hdb_err err = {0};
        struct seq_check s = {0};
        int rc = hdb_txn_begin(c, &t, &err);
        if (rc == HDB_OK) {
            rc = hdb_txn_scan(t, tb, "s", 1, "t", 1, 0, seq_row, &s, &err);
            hdb_txn_rollback(t);
        }
        if (rc == HDB_CONFLICT) {
            continue;
        }
        return rc != HDB_OK || s.gap ? -1 : (int64_t)s.rows;
    }
}

/* Child: checks the prefix the last crash left, then writes the next keys one commit at a
 * time (each after the previous one was acknowledged, on whichever shard owns it). */
static void seq_child(void)
{
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    o.store.wal_mode = HDB_WAL_ASYNC;
    o.store.checkpoint_wal_bytes = 32u << 10; /* checkpoints (and their freezes) all the time */
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = NULL;
    struct hdb_err err = {0};
    if (hdb_kv_table(c, "seq", true, &tb, &err) != HDB_OK) {
        _exit(5);
    }
    int64_t n = seq_prefix(c, tb);
    if (n < 0) {
        _exit(7);
    }
    for (uint64_t i = (uint64_t)n + 1; i <= (uint64_t)n + SEQ_WRITES_PER_RUN; i++) {
        char key[24];
        snprintf(key, sizeof key, "s%08llu", (unsigned long long)i);
        if (hdb_kv_put(c, tb, key, (uint32_t)strlen(key), "v", 1, &err) != HDB_OK) {
            _exit(8);
        }
    }
    for (;;) {
        pause();
    }
}

Test(kv_crash, async_recovery_cut_keeps_a_prefix_of_ordered_commits)
{
    uint64_t rng = 0x5eed;
    for (int cycle = 0; cycle < SEQ_CYCLES; cycle++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            seq_child();
        }
        usleep((useconds_t)(20000 + kt_rand(&rng) % 60000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "cycle %d: the child exited with %d (7: a gap)", cycle,
                  WEXITSTATUS(status));
    }
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    o.store.wal_mode = HDB_WAL_ASYNC;
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = NULL;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_kv_table(c, "seq", false, &tb, &err), HDB_OK, "%s", err.msg);
    int64_t n = seq_prefix(c, tb);
    cr_assert_gt(n, 0, "keys s1..sN without a gap (got %lld)", (long long)n);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}
