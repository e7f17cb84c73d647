/*
 * test_kv_snap.c — database snapshots over all shards: a snapshot taken
 * while transfers run holds one consistent state (the bank total) and keeps
 * returning exactly the same rows — later, after a clean reopen and after a
 * SIGKILL; snapshot transactions are read-only; drop and list; automatic
 * snapshots keep `snapshot_retention`; an online backup taken under load
 * opens as a database holding exactly the snapshot's rows.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "tests/core/testutil.h"
#include "tests/shards/kvtest.h"

static char *dir;

static void setup(void)
{
    hdb_log_set_level(HDB_LOG_ERROR);
    dir = tu_mkdtemp("kvsnap");
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

TestSuite(kv_snap, .init = setup, .fini = teardown, .timeout = 600);

/* Every row of a table: [klen][vlen][key][value]..., and the sum of 8-byte balances. */
struct dump {
    uint8_t *b;
    size_t len, cap;
    uint32_t rows;
    int64_t total;
};

static bool dump_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                     uint32_t vlen)
{
    struct dump *d = ctx;
    size_t need = d->len + 8 + klen + vlen;
    if (need > d->cap) {
        d->cap = need * 2;
        d->b = realloc(d->b, d->cap);
        cr_assert_not_null(d->b);
    }
    memcpy(d->b + d->len, &klen, 4);
    memcpy(d->b + d->len + 4, &vlen, 4);
    memcpy(d->b + d->len + 8, key, klen);
    memcpy(d->b + d->len + 8 + klen, val, vlen);
    d->len = need;
    d->rows++;
    if (vlen == 8 && klen > 5 && memcmp(key, "acct:", 5) == 0) {
        int64_t v;
        memcpy(&v, val, 8);
        d->total += v;
    }
    return true;
}

static struct hdb_table *accounts(struct hdb_conn *c)
{
    struct hdb_table *tb;
    struct hdb_err err;
    cr_assert_eq(hdb_kv_table(c, "accounts", true, &tb, &err), HDB_OK, "%s", err.msg);
    return tb;
}

/* Reads the whole accounts table, through snapshot `id` (0: a normal transaction). */
static struct dump read_all(struct hdb_conn *c, uint64_t id)
{
    struct hdb_table *tb = accounts(c);
    for (int attempt = 0; attempt < 100; attempt++) {
        struct dump d = {0};
        struct hdb_txn *t;
        struct hdb_err err;
        if (id != 0) {
            cr_assert_eq(hdb_txn_begin_snapshot(c, id, &t, &err), HDB_OK, "%s", err.msg);
        } else {
            cr_assert_eq(hdb_txn_begin(c, &t, &err), HDB_OK, "%s", err.msg);
        }
        int rc = hdb_txn_scan(t, tb, "", 0, NULL, 0, 0, dump_row, &d, &err);
        if (rc == HDB_OK) {
            rc = hdb_txn_commit(t, &err);
        } else {
            hdb_txn_rollback(t);
        }
        if (rc == HDB_CONFLICT && id == 0) {
            free(d.b);
            continue;
        }
        cr_assert_eq(rc, HDB_OK, "reading snapshot %" PRIu64 ": %s", id, err.msg);
        return d;
    }
    cr_assert_fail("no consistent read in 100 attempts");
    return (struct dump){0};
}

static void same(const struct dump *a, const struct dump *b, const char *when)
{
    cr_assert_eq(a->rows, b->rows, "%s: %u rows, then %u", when, a->rows, b->rows);
    cr_assert(a->len == b->len && memcmp(a->b, b->b, a->len) == 0, "%s: rows differ", when);
}

static uint64_t snapshot(struct hdb_conn *c)
{
    struct hdb_snapshot_info info;
    struct hdb_err err;
    cr_assert_eq(hdb_snapshot_create(c, &info, &err), HDB_OK, "%s", err.msg);
    cr_assert_gt(info.id, 0);
    return info.id;
}

/* Transfer threads that run until stopped. */
struct load {
    struct hdb_db *db;
    _Atomic bool stop;
    _Atomic uint32_t done;
    int failed;
    pthread_t tid[3];
};

static void *load_main(void *arg)
{
    struct load *l = arg;
    struct hdb_conn *c = kt_connect(l->db);
    uint64_t rng = (uint64_t)pthread_self() | 1;
    while (!atomic_load(&l->stop)) {
        bool multi;
        int rc = kt_bank_transfer(c, &rng, 0, &multi);
        if (rc != HDB_OK) {
            l->failed = rc;
            break;
        }
        atomic_fetch_add(&l->done, 1);
    }
    hdb_db_disconnect(c);
    return NULL;
}

static void load_start(struct load *l, struct hdb_db *db)
{
    l->db = db;
    atomic_store(&l->stop, false);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pthread_create(&l->tid[i], NULL, load_main, l), 0);
    }
}

/* Lets at least `n` more transfers happen. */
static void load_wait(struct load *l, uint32_t n)
{
    uint32_t until = atomic_load(&l->done) + n;
    while (atomic_load(&l->done) < until && l->failed == 0) {
        usleep(1000);
    }
}

static void load_stop(struct load *l)
{
    atomic_store(&l->stop, true);
    for (int i = 0; i < 3; i++) {
        pthread_join(l->tid[i], NULL);
    }
    cr_assert_eq(l->failed, 0, "a transfer failed: %d", l->failed);
}

Test(kv_snap, snapshot_under_load_keeps_its_answers)
{
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    kt_bank_init(c);
    struct load l = {0};
    load_start(&l, db);
    load_wait(&l, 50);
    uint64_t s1 = snapshot(c);
    struct dump d1 = read_all(c, s1);
    cr_assert_eq(d1.rows, BANK_ACCOUNTS);
    cr_assert_eq(d1.total, (int64_t)BANK_ACCOUNTS * BANK_START);
    load_wait(&l, 200);
    struct dump again = read_all(c, s1);
    same(&d1, &again, "while transfers go on");
    free(again.b);
    uint64_t s2 = snapshot(c);
    cr_assert_gt(s2, s1);
    struct dump d2 = read_all(c, s2);
    cr_assert_eq(d2.total, (int64_t)BANK_ACCOUNTS * BANK_START);
    load_wait(&l, 100);
    load_stop(&l);
    struct dump now = read_all(c, 0);
    cr_assert(now.len != d1.len || memcmp(now.b, d1.b, d1.len) != 0, "transfers changed nothing");
    free(now.b);

    /* read-only, unknown ids */
    struct hdb_txn *t;
    struct hdb_err err;
    cr_assert_eq(hdb_txn_begin_snapshot(c, s1, &t, &err), HDB_OK);
    cr_assert_eq(hdb_txn_put(t, accounts(c), "x", 1, "y", 1, &err), HDB_READONLY);
    hdb_txn_rollback(t);
    cr_assert_eq(hdb_txn_begin_snapshot(c, s2 + 1000, &t, &err), HDB_NOTFOUND);
    cr_assert_eq(hdb_snapshot_drop(c, s2 + 1000, &err), HDB_NOTFOUND);
    struct hdb_snapshot_info list[8];
    cr_assert_eq(hdb_snapshot_list(db, list, 8), 2);
    cr_assert(list[0].id == s1 && list[1].id == s2);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);

    /* after a clean reopen */
    db = kt_open(dir, &o);
    c = kt_connect(db);
    cr_assert_eq(hdb_snapshot_list(db, list, 8), 2);
    struct dump r1 = read_all(c, s1), r2 = read_all(c, s2);
    same(&d1, &r1, "after reopen");
    same(&d2, &r2, "after reopen");
    cr_assert_gt(snapshot(c), s2, "snapshot ids go on increasing after a reopen");
    cr_assert_eq(hdb_snapshot_drop(c, s1, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(hdb_snapshot_list(db, list, 8), 2);
    cr_assert_eq(list[0].id, s2);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
    db = kt_open(dir, &o);
    cr_assert_eq(hdb_snapshot_list(db, list, 8), 2);
    cr_assert_eq(list[0].id, s2);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
    free(d1.b);
    free(d2.b);
    free(r1.b);
    free(r2.b);
}

/* The child takes snapshots under load, saves what they hold, and is killed mid-load. */
static void snapshot_child(const char *out_path, enum hdb_wal_mode mode)
{
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    o.store.wal_mode = mode;
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    kt_bank_init(c);
    struct load l = {0};
    load_start(&l, db);
    FILE *f = fopen(out_path, "wb");
    for (int i = 0; i < 3; i++) {
        load_wait(&l, 100);
        uint64_t id = snapshot(c);
        struct dump d = read_all(c, id);
        fwrite(&id, 8, 1, f);
        fwrite(&d.len, sizeof d.len, 1, f);
        fwrite(d.b, 1, d.len, f);
        free(d.b);
    }
    fclose(f);
    load_wait(&l, 100);
    raise(SIGKILL);
}

static void snapshots_survive_sigkill(enum hdb_wal_mode mode)
{
    char *out = tu_path(dir, "dumps");
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        snapshot_child(out, mode);
        _exit(1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    o.store.wal_mode = mode;
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_snapshot_info list[8];
    cr_assert_eq(hdb_snapshot_list(db, list, 8), 3, "every acknowledged snapshot is back");
    FILE *f = fopen(out, "rb");
    cr_assert_not_null(f);
    for (int i = 0; i < 3; i++) {
        uint64_t id;
        size_t len;
        cr_assert_eq(fread(&id, 8, 1, f), 1);
        cr_assert_eq(fread(&len, sizeof len, 1, f), 1);
        struct dump want = {.b = malloc(len + 1), .len = len};
        cr_assert_eq(fread(want.b, 1, len, f), len);
        cr_assert_eq(list[i].id, id);
        struct dump got = read_all(c, id);
        cr_assert_eq(got.total, (int64_t)BANK_ACCOUNTS * BANK_START);
        cr_assert(got.len == want.len && memcmp(got.b, want.b, len) == 0,
                  "snapshot %" PRIu64 " changed across the crash", id);
        free(got.b);
        free(want.b);
    }
    fclose(f);
    cr_assert_eq(kt_bank_total(c, true), (int64_t)BANK_ACCOUNTS * BANK_START);
    hdb_db_disconnect(c);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
    free(out);
}

Test(kv_snap, snapshots_survive_sigkill_sync)
{
    snapshots_survive_sigkill(HDB_WAL_SYNC);
}

Test(kv_snap, snapshots_survive_sigkill_async)
{
    snapshots_survive_sigkill(HDB_WAL_ASYNC);
}

struct progress {
    uint32_t calls;
    uint64_t rows;
    bool done;
    struct hdb_conn *other; /* tries to drop the snapshot being backed up */
    uint64_t id;
    int drop_rc;
};

static void on_progress(void *ctx, const struct hdb_backup_progress *p)
{
    struct progress *pr = ctx;
    cr_assert_geq(p->rows, pr->rows, "progress goes forward");
    pr->calls++;
    pr->rows = p->rows;
    pr->done = p->done;
    if (pr->other != NULL && pr->calls == 1) {
        struct hdb_err err;
        pr->drop_rc = hdb_snapshot_drop(pr->other, pr->id, &err);
    }
}

Test(kv_snap, backup_under_load_holds_exactly_the_snapshot)
{
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    kt_bank_init(c);
    /* more rows than one backup batch, some with large values */
    struct hdb_table *big;
    struct hdb_err err;
    cr_assert_eq(hdb_kv_table(c, "big", true, &big, &err), HDB_OK);
    static uint8_t blob[200000];
    for (uint32_t i = 0; i < 5000; i += 100) {
        struct hdb_txn *t;
        cr_assert_eq(hdb_txn_begin(c, &t, &err), HDB_OK);
        for (uint32_t j = i; j < i + 100; j++) {
            char k[16];
            snprintf(k, sizeof k, "b%06u", j);
            uint32_t vlen = j % 1000 == 7 ? sizeof blob : 8;
            memset(blob, (int)j, sizeof blob);
            cr_assert_eq(hdb_txn_put(t, big, k, (uint32_t)strlen(k), blob, vlen, &err), HDB_OK);
        }
        cr_assert_eq(hdb_txn_commit(t, &err), HDB_OK, "%s", err.msg);
    }
    struct load l = {0};
    load_start(&l, db);
    load_wait(&l, 50);
    uint64_t id = snapshot(c);
    struct dump want = read_all(c, id);
    char *target = tu_path(dir, "backup");
    struct progress pr = {.other = kt_connect(db), .id = id};
    cr_assert_eq(hdb_snapshot_backup(c, id, target, on_progress, &pr, &err), HDB_OK, "%s", err.msg);
    cr_assert(pr.done && pr.calls > 2, "progress: %u calls", pr.calls);
    cr_assert_eq(pr.drop_rc, HDB_BUSY, "a snapshot being backed up cannot be dropped");
    hdb_db_disconnect(pr.other);
    cr_assert_geq(pr.rows, BANK_ACCOUNTS + 5000);
    cr_assert_eq(hdb_snapshot_backup(c, id, target, NULL, NULL, &err), HDB_EXISTS);
    load_wait(&l, 50);
    load_stop(&l);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);

    /* the backup opens as a database and holds exactly the snapshot */
    struct hdb_db_opts bo;
    kt_opts(&bo, 1); /* the shard count comes from the backup's manifest */
    struct hdb_db *bdb = kt_open(target, &bo);
    cr_assert_eq(hdb_db_shards(bdb), 4);
    struct hdb_conn *bc = kt_connect(bdb);
    struct dump got = read_all(bc, 0);
    same(&want, &got, "backup");
    cr_assert_eq(got.total, (int64_t)BANK_ACCOUNTS * BANK_START);
    struct hdb_table *bbig;
    cr_assert_eq(hdb_kv_table(bc, "big", false, &bbig, &err), HDB_OK, "%s", err.msg);
    struct hdb_buf v = {0};
    cr_assert_eq(hdb_kv_get(bc, bbig, "b001007", 7, &v, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(v.len, sizeof blob);
    cr_assert_eq(v.data[sizeof blob - 1], (uint8_t)1007);
    hdb_buf_free(&v);
    hdb_db_disconnect(bc);
    cr_assert_eq(hdb_db_close(bdb, &err), HDB_OK, "%s", err.msg);
    free(want.b);
    free(got.b);
    free(target);
}

Test(kv_snap, automatic_snapshots_keep_the_retention)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    o.snapshot_interval_ms = 20;
    o.snapshot_retention = 2;
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_err err;
    uint64_t manual = snapshot(c);
    struct hdb_snapshot_info list[16];
    /* wait (bounded) until automatic ones have replaced each other a few times */
    uint64_t first_auto = 0, newest = 0;
    for (int i = 0; i < 2000 && newest < first_auto + 4; i++) {
        uint32_t n = hdb_snapshot_list(db, list, 16);
        cr_assert_leq(n, 3, "%u snapshots: retention is 2 automatic + 1 manual", n);
        if (n >= 2) {
            first_auto = first_auto == 0 ? list[1].id : first_auto;
            newest = list[n - 1].id;
        }
        usleep(5000);
    }
    cr_assert_geq(newest, first_auto + 4, "automatic snapshots did not go on");
    uint32_t n = hdb_snapshot_list(db, list, 16);
    cr_assert_eq(list[0].id, manual, "a manual snapshot is never dropped by retention");
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
    (void)n;
}

Test(kv_snap, snapshots_can_be_turned_off)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    o.enable_cow_snapshots = false;
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_err err;
    cr_assert_eq(hdb_snapshot_create(c, NULL, &err), HDB_INVALID);
    cr_assert(strstr(err.msg, "enable_cow_snapshots") != NULL, "%s", err.msg);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}
