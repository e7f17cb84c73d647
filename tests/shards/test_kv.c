/*
 * test_kv.c — the shard runtime: routing, scans merged across shards,
 * transactions that see their own writes, the anomalies serializability
 * rules out (write skew, lost update, phantom, a commit racing a prepared
 * transaction's fences, multi-shard cases included), the bank invariant
 * under concurrent transfers and readers, and reopening with fewer threads.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/testutil.h"
#include "core/config.h"
#include "kvtest.h"

static char *dir;

static void setup(void)
{
    dir = tu_mkdtemp("kv");
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

TestSuite(kv, .init = setup, .fini = teardown, .timeout = 600);

static struct hdb_table *table(struct hdb_conn *c, const char *name)
{
    struct hdb_table *tb = NULL;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_kv_table(c, name, true, &tb, &err), HDB_OK, "%s", err.msg);
    return tb;
}

static void put(struct hdb_txn *t, struct hdb_table *tb, const char *k, int64_t v)
{
    struct hdb_err err = {0};
    cr_assert_eq(hdb_txn_put(t, tb, k, (uint32_t)strlen(k), &v, sizeof v, &err), HDB_OK, "%s",
                 err.msg);
}

static int64_t get(struct hdb_txn *t, struct hdb_table *tb, const char *k)
{
    struct hdb_err err = {0};
    struct hdb_buf val = {0};
    int rc = hdb_txn_get(t, tb, k, (uint32_t)strlen(k), &val, &err);
    int64_t v = -1;
    if (rc == HDB_OK) {
        cr_assert_eq(val.len, sizeof v);
        memcpy(&v, val.data, sizeof v);
    } else {
        cr_assert_eq(rc, HDB_NOTFOUND, "%s", err.msg);
    }
    hdb_buf_free(&val);
    return v;
}

static struct hdb_txn *begin(struct hdb_conn *c)
{
    struct hdb_txn *t = NULL;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_txn_begin(c, &t, &err), HDB_OK, "%s", err.msg);
    return t;
}

static int commit(struct hdb_txn *t)
{
    struct hdb_err err = {0};
    return hdb_txn_commit(t, &err);
}

struct collect {
    char keys[64][16];
    uint32_t n;
};

static bool collect_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                        uint32_t vlen)
{
    struct collect *c = ctx;
    (void)val;
    (void)vlen;
    if (c->n < 64 && klen < 16) {
        memcpy(c->keys[c->n], key, klen);
        c->keys[c->n][klen] = '\0';
    }
    c->n++;
    return true;
}

Test(kv, keys_spread_over_shards_and_scans_merge_in_key_order)
{
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    struct hdb_db *db = kt_open(dir, &o);
    cr_assert_eq(hdb_db_shards(db), 4);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = table(c, "t");
    uint32_t per_shard[4] = {0};
    for (int i = 0; i < 2000; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%05d", i);
        int64_t v = i;
        struct hdb_err err = {0};
        cr_assert_eq(hdb_kv_put(c, tb, k, (uint32_t)strlen(k), &v, sizeof v, &err), HDB_OK, "%s",
                     err.msg);
        per_shard[hdb_kv_shard_of(db, k, (uint32_t)strlen(k))]++;
    }
    for (int s = 0; s < 4; s++) {
        cr_assert_gt(per_shard[s], 350, "shard %d got %u of 2000 keys", s, per_shard[s]);
    }
    struct hdb_txn *t = begin(c);
    struct collect col = {0};
    struct hdb_err err = {0};
    cr_assert_eq(hdb_txn_scan(t, tb, "key00100", 8, "key00150", 8, 0, collect_row, &col, &err),
                 HDB_OK, "%s", err.msg);
    cr_assert_eq(col.n, 50);
    for (uint32_t i = 0; i < 50; i++) {
        char want[16];
        snprintf(want, sizeof want, "key%05u", 100 + i);
        cr_assert_str_eq(col.keys[i], want);
    }
    memset(&col, 0, sizeof col);
    cr_assert_eq(hdb_txn_scan(t, tb, "key", 3, NULL, 0, 10, collect_row, &col, &err), HDB_OK);
    cr_assert_eq(col.n, 10, "limit");
    cr_assert_str_eq(col.keys[9], "key00009");
    cr_assert_eq(get(t, tb, "key01234"), 1234);
    cr_assert_eq(get(t, tb, "nokey"), -1);
    hdb_txn_rollback(t);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);

    /* Reopen on one thread: the four shards are kept and nothing is lost. */
    o.threads = 1;
    o.shards = 2; /* ignored: fixed at creation */
    db = kt_open(dir, &o);
    cr_assert_eq(hdb_db_shards(db), 4);
    c = kt_connect(db);
    tb = table(c, "t");
    t = begin(c);
    memset(&col, 0, sizeof col);
    cr_assert_eq(hdb_txn_scan(t, tb, "", 0, NULL, 0, 0, collect_row, &col, &err), HDB_OK);
    cr_assert_eq(col.n, 2000);
    cr_assert_eq(get(t, tb, "key01999"), 1999);
    hdb_txn_rollback(t);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

Test(kv, transaction_reads_and_scans_see_its_own_writes)
{
    struct hdb_db_opts o;
    kt_opts(&o, 3);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = table(c, "t");
    struct hdb_txn *t = begin(c);
    put(t, tb, "a", 1);
    put(t, tb, "b", 2);
    put(t, tb, "c", 3);
    cr_assert_eq(commit(t), HDB_OK);

    t = begin(c);
    put(t, tb, "b", 20);
    put(t, tb, "bb", 25);
    struct hdb_err err = {0};
    cr_assert_eq(hdb_txn_delete(t, tb, "c", 1, &err), HDB_OK);
    cr_assert_eq(get(t, tb, "b"), 20);
    cr_assert_eq(get(t, tb, "c"), -1);
    struct collect col = {0};
    cr_assert_eq(hdb_txn_scan(t, tb, "", 0, NULL, 0, 0, collect_row, &col, &err), HDB_OK);
    cr_assert_eq(col.n, 3);
    cr_assert_str_eq(col.keys[0], "a");
    cr_assert_str_eq(col.keys[1], "b");
    cr_assert_str_eq(col.keys[2], "bb");

    /* Another connection does not see them before commit. */
    struct hdb_conn *c2 = kt_connect(db);
    struct hdb_txn *t2 = begin(c2);
    cr_assert_eq(get(t2, tb, "b"), 2);
    cr_assert_eq(get(t2, tb, "c"), 3);
    hdb_txn_rollback(t2);
    cr_assert_eq(commit(t), HDB_OK);
    t2 = begin(c2);
    cr_assert_eq(get(t2, tb, "b"), 20);
    cr_assert_eq(get(t2, tb, "c"), -1);
    cr_assert_eq(get(t2, tb, "bb"), 25);
    hdb_txn_rollback(t2);
    hdb_db_disconnect(c2);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* A database of `shards` shards with two connections and table "t", for the anomaly tests. */
struct pair {
    struct hdb_db *db;
    struct hdb_conn *c1, *c2;
    struct hdb_table *tb;
};

static struct pair pair_open(uint32_t shards)
{
    struct hdb_db_opts o;
    kt_opts(&o, shards);
    struct pair p = {.db = kt_open(dir, &o)};
    p.c1 = kt_connect(p.db);
    p.c2 = kt_connect(p.db);
    p.tb = table(p.c1, "t");
    return p;
}

static void pair_close(struct pair *p)
{
    hdb_db_disconnect(p->c1);
    hdb_db_disconnect(p->c2);
    struct hdb_err err = {0};
    cr_assert_eq(hdb_db_close(p->db, &err), HDB_OK, "%s", err.msg);
}

/* Write skew: each reads both rows and writes one (x and y on different shards). */
Test(kv, write_skew_across_shards_commits_only_one)
{
    struct pair p = pair_open(4);
    struct hdb_db *db = p.db;
    struct hdb_conn *c1 = p.c1, *c2 = p.c2;
    struct hdb_table *tb = p.tb;
    char x[16], y[16];
    kt_keys_on_two_shards(db, x, y);
    struct hdb_txn *t = begin(c1);
    put(t, tb, x, 1);
    put(t, tb, y, 1);
    cr_assert_eq(commit(t), HDB_OK);

    struct hdb_txn *t1 = begin(c1), *t2 = begin(c2);
    cr_assert_eq(get(t1, tb, x) + get(t1, tb, y), 2);
    cr_assert_eq(get(t2, tb, x) + get(t2, tb, y), 2);
    put(t1, tb, x, 0); /* "one of us may go off call" */
    put(t2, tb, y, 0);
    cr_assert_eq(commit(t1), HDB_OK);
    cr_assert_eq(commit(t2), HDB_CONFLICT);
    t = begin(c1);
    cr_assert_eq(get(t, tb, x) + get(t, tb, y), 1);
    hdb_txn_rollback(t);
    pair_close(&p);
}

Test(kv, lost_update_is_refused)
{
    struct pair p = pair_open(2);
    struct hdb_conn *c1 = p.c1, *c2 = p.c2;
    struct hdb_table *tb = p.tb;
    struct hdb_txn *t = begin(c1);
    put(t, tb, "counter", 10);
    cr_assert_eq(commit(t), HDB_OK);
    struct hdb_txn *t1 = begin(c1), *t2 = begin(c2);
    int64_t v1 = get(t1, tb, "counter"), v2 = get(t2, tb, "counter");
    put(t1, tb, "counter", v1 + 1);
    put(t2, tb, "counter", v2 + 1);
    cr_assert_eq(commit(t2), HDB_OK);
    cr_assert_eq(commit(t1), HDB_CONFLICT);
    t = begin(c1);
    cr_assert_eq(get(t, tb, "counter"), 11);
    hdb_txn_rollback(t);
    pair_close(&p);
}

/* Phantom: T1 counts a range and writes the count elsewhere; T2 inserts into the range. */
Test(kv, phantom_insert_into_scanned_range_fails_the_reader)
{
    struct pair p = pair_open(4);
    struct hdb_conn *c1 = p.c1, *c2 = p.c2;
    struct hdb_table *tb = p.tb;
    struct hdb_txn *t = begin(c1);
    put(t, tb, "order:1", 5);
    put(t, tb, "order:2", 7);
    cr_assert_eq(commit(t), HDB_OK);

    struct hdb_txn *t1 = begin(c1);
    struct collect col = {0};
    struct hdb_err err = {0};
    cr_assert_eq(hdb_txn_scan(t1, tb, "order:", 6, "order;", 6, 0, collect_row, &col, &err),
                 HDB_OK);
    cr_assert_eq(col.n, 2);
    struct hdb_txn *t2 = begin(c2);
    put(t2, tb, "order:3", 9);
    cr_assert_eq(commit(t2), HDB_OK);
    put(t1, tb, "summary", (int64_t)col.n);
    cr_assert_eq(commit(t1), HDB_CONFLICT);
    pair_close(&p);
}

/* A commit that runs while a multi-shard transaction is prepared meets its fences. */
struct race {
    struct hdb_conn *other, *older;
    struct hdb_txn *older_txn; /* began and read `key` before the prepare */
    struct hdb_table *tb;
    const char *key;
    int rc_write, rc_read_then_write;
    bool fired;
};

static void race_hook(void *ctx, const char *point, uint32_t shard)
{
    struct race *r = ctx;
    (void)shard;
    if (r->fired || strcmp(point, "prepared") != 0) {
        return;
    }
    r->fired = true;
    /* A blind write of a key the prepared transaction read and writes. */
    struct hdb_txn *t = begin(r->other);
    put(t, r->tb, r->key, 99);
    r->rc_write = commit(t);
    /* An older transaction read that key (before the prepared one's write) and writes now. */
    put(r->older_txn, r->tb, "elsewhere", 1);
    r->rc_read_then_write = commit(r->older_txn);
}

Test(kv, commit_racing_a_prepared_transaction_fails_on_its_fences)
{
    struct race race = {0};
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    o.twopc_hook = race_hook;
    o.twopc_hook_ctx = &race;
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c1 = kt_connect(db);
    race.other = kt_connect(db);
    race.older = kt_connect(db);
    race.tb = table(c1, "t");
    char x[16], y[16];
    kt_keys_on_two_shards(db, x, y);
    race.key = x;
    race.fired = true; /* not for the set-up commit */
    struct hdb_txn *t = begin(c1);
    put(t, race.tb, x, 1);
    put(t, race.tb, y, 1);
    cr_assert_eq(commit(t), HDB_OK);
    race.fired = false;
    race.older_txn = begin(race.older);
    cr_assert_eq(get(race.older_txn, race.tb, x), 1);

    t = begin(c1);
    int64_t vx = get(t, race.tb, x);
    put(t, race.tb, x, vx + 1);
    put(t, race.tb, y, 2);
    cr_assert_eq(commit(t), HDB_OK);
    cr_assert(race.fired);
    cr_assert_eq(race.rc_write, HDB_CONFLICT, "a write into the fences committed");
    cr_assert_eq(race.rc_read_then_write, HDB_CONFLICT, "a read of a fenced write committed");
    t = begin(c1);
    cr_assert_eq(get(t, race.tb, x), 2);
    hdb_txn_rollback(t);
    hdb_db_disconnect(c1);
    hdb_db_disconnect(race.other);
    hdb_db_disconnect(race.older);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* --- bank --- */

static void run_bank(enum hdb_wal_mode mode)
{
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    o.store.wal_mode = mode;
    if (mode == HDB_WAL_ASYNC) {
        o.store.checkpoint_wal_bytes = 64u << 10; /* many checkpoints, each a freeze */
    }
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    kt_bank_init(c);
    enum { WORKERS = 5 };
    struct kt_bank_worker w[WORKERS];
    pthread_t tid[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct kt_bank_worker){
            .db = db, .reader = i >= 3, .ops = (uint32_t)tu_scaled(i >= 3 ? 60 : 600)};
        pthread_create(&tid[i], NULL, kt_bank_worker_run, &w[i]);
    }
    uint32_t transfers = 0, multi = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(tid[i], NULL);
        cr_assert_eq(w[i].failed, 0, "worker %d failed with %d", i, w[i].failed);
        cr_assert_eq(w[i].bad_totals, 0, "reader %d saw a wrong total", i);
        transfers += w[i].reader ? 0 : w[i].done;
        multi += w[i].multi;
    }
    cr_assert_gt(multi, transfers / 2, "most transfers span shards (%u of %u)", multi, transfers);
    cr_assert_eq(kt_bank_total(c, true), (int64_t)BANK_ACCOUNTS * BANK_START);
    /* Every applied marker goes once every participant's apply is durable (FORGET, CLEAN). */
    struct hdb_err err;
    uint64_t written = 0, deleted = 0, freezes = 0, given_up = 0, freeze_us_max = 0;
    for (int tries = 0; tries < 500; tries++) {
        written = deleted = freezes = given_up = 0;
        for (uint32_t k = 0; k < hdb_db_shards(db); k++) {
            struct hdb_shard_stats st;
            cr_assert_eq(hdb_db_shard_stats(c, k, &st, &err), HDB_OK, "%s", err.msg);
            written += st.markers_written;
            deleted += st.markers_deleted;
            freezes += st.freezes;
            given_up += st.freezes_given_up;
            freeze_us_max = st.freeze_us_max > freeze_us_max ? st.freeze_us_max : freeze_us_max;
        }
        if (written == deleted) {
            break;
        }
        usleep(10000);
    }
    cr_assert_gt(written, 0);
    if (mode == HDB_WAL_ASYNC) {
        cr_assert_gt(freezes, 0, "async checkpoints freeze");
        fprintf(stderr, "async bank: %llu checkpoint freezes, %llu given up, longest %llu us\n",
                (unsigned long long)freezes, (unsigned long long)given_up,
                (unsigned long long)freeze_us_max);
    }
    cr_assert_eq(deleted, written, "applied markers left behind: %llu of %llu",
                 (unsigned long long)(written - deleted), (unsigned long long)written);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
    db = kt_open(dir, &o);
    c = kt_connect(db);
    cr_assert_eq(kt_bank_total(c, false), (int64_t)BANK_ACCOUNTS * BANK_START);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

Test(kv, bank_total_holds_under_concurrent_transfers_sync)
{
    run_bank(HDB_WAL_SYNC);
}

Test(kv, bank_total_holds_under_concurrent_transfers_async)
{
    run_bank(HDB_WAL_ASYNC);
}

/* A commit larger than the validation log must not leave every later reader conflicting. */
Test(kv, commit_larger_than_the_validation_log_does_not_block_later_readers)
{
    struct hdb_db_opts o;
    kt_opts(&o, 1);
    o.store.wal_segment_bytes = 64ull << 20; /* room for a 70,000-write commit */
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = table(c, "t");
    struct hdb_txn *t = begin(c);
    for (int i = 0; i < 70000; i++) {
        char k[16];
        snprintf(k, sizeof k, "big%06d", i);
        put(t, tb, k, i);
    }
    struct hdb_err err = {0};
    cr_assert_eq(hdb_txn_commit(t, &err), HDB_OK, "%s", err.msg);
    t = begin(c);
    int64_t v = get(t, tb, "big000007");
    cr_assert_eq(v, 7);
    put(t, tb, "big000007", v + 1);
    cr_assert_eq(hdb_txn_commit(t, &err), HDB_OK, "a reader after the big commit: %s", err.msg);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* A configuration file's active keys reach the database options, and a database opens with them. */
Test(kv, config_file_sets_the_database_options)
{
    static const char text[] = "[database]\n"
                               "page_size = 4096\n"
                               "cache_size_mb = 16\n"
                               "transaction_idle_timeout_ms = 1500\n"
                               "wal_mode = \"async\"\n"
                               "[wal]\n"
                               "segment_size_mb = 4\n"
                               "[crash_recovery]\n"
                               "parallel_recovery = false\n"
                               "[snapshot]\n"
                               "snapshot_retention = 5\n"
                               "snapshot_interval_minutes = 2\n"
                               "[performance]\n"
                               "worker_threads = 1\n";
    struct hdb_config cfg;
    struct hdb_err err = {0};
    hdb_config_init(&cfg);
    cr_assert_eq(hdb_config_load_text(&cfg, "test.toml", text, sizeof text - 1, &err), HDB_OK, "%s",
                 err.msg);
    struct hdb_db_opts o;
    hdb_db_opts_from_config(&cfg, &o);
    hdb_config_free(&cfg);
    cr_assert_eq(o.store.page_size, 4096);
    cr_assert_eq(o.store.cache_bytes, 16ull << 20);
    cr_assert_eq(o.store.wal_mode, HDB_WAL_ASYNC);
    cr_assert_eq(o.store.wal_segment_bytes, 4ull << 20);
    cr_assert_eq(o.txn_idle_timeout_ms, 1500);
    cr_assert(!o.parallel_recovery);
    cr_assert_eq(o.snapshot_retention, 5);
    cr_assert_eq(o.snapshot_interval_ms, 120000);
    cr_assert_eq(o.threads, 1);
    o.shards = 2;
    o.pin_threads = false;
    struct hdb_db *db = kt_open(dir, &o);
    cr_assert_eq(hdb_db_shards(db), 2);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

/* A transaction idle longer than txn_idle_timeout_ms fails at its next call; it held nothing. */
Test(kv, idle_transaction_is_aborted_at_its_next_call)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    o.txn_idle_timeout_ms = 50;
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = table(c, "t");
    struct hdb_txn *t = begin(c);
    put(t, tb, "k", 1);
    usleep(120 * 1000);
    struct hdb_buf val = {0};
    struct hdb_err err = {0};
    cr_assert_eq(hdb_txn_get(t, tb, "k", 1, &val, &err), HDB_CONFLICT);
    cr_assert_not_null(strstr(err.msg, "idle"), "%s", err.msg);
    cr_assert_neq(hdb_txn_commit(t, &err), HDB_OK, "an aborted transaction cannot commit");
    /* nothing of it was written, and another transaction proceeds */
    struct hdb_txn *t2 = begin(c);
    cr_assert_eq(hdb_txn_get(t2, tb, "k", 1, &val, &err), HDB_NOTFOUND);
    put(t2, tb, "k", 2);
    cr_assert_eq(commit(t2), HDB_OK);
    hdb_buf_free(&val);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

/* hdb_txn_get_many: more keys than one round holds, over every shard, with the transaction's own
 * writes and deletes and missing keys; the reads are validated like single gets. */
Test(kv, get_many_reads_a_batch_and_validates_it)
{
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db), *c2 = kt_connect(db);
    struct hdb_table *tb = table(c, "t");
    struct hdb_txn *t = begin(c);
    for (int i = 0; i < 300; i += 2) {
        char k[16];
        snprintf(k, sizeof k, "k%04d", i);
        put(t, tb, k, i);
    }
    cr_assert_eq(commit(t), HDB_OK);
    enum { N = 300 };
    static char names[N][16];
    const uint8_t *keys[N];
    uint32_t lens[N];
    static struct hdb_buf vals[N];
    bool found[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "k%04d", i);
        keys[i] = (const uint8_t *)names[i];
        lens[i] = (uint32_t)strlen(names[i]);
    }
    t = begin(c);
    put(t, tb, "k0001", 1001);
    struct hdb_err err = {0};
    cr_assert_eq(hdb_txn_delete(t, tb, "k0002", 5, &err), HDB_OK);
    cr_assert_eq(hdb_txn_get_many(t, tb, N, keys, lens, vals, found, &err), HDB_OK, "%s", err.msg);
    for (int i = 0; i < N; i++) {
        bool want = (i % 2 == 0 && i != 2) || i == 1;
        cr_assert_eq(found[i], want, "key %d", i);
        if (want) {
            int64_t v;
            cr_assert_eq(vals[i].len, sizeof v);
            memcpy(&v, vals[i].data, sizeof v);
            cr_assert_eq(v, i == 1 ? 1001 : i, "key %d", i);
        }
        hdb_buf_free(&vals[i]);
    }
    /* another connection writes a key the batch read: this transaction may not commit */
    struct hdb_txn *t2 = begin(c2);
    put(t2, tb, "k0150", -1);
    cr_assert_eq(commit(t2), HDB_OK);
    put(t, tb, "k9999", 0);
    cr_assert_eq(commit(t), HDB_CONFLICT);
    t = begin(c);
    cr_assert_eq(get(t, tb, "k0150"), -1);
    hdb_txn_rollback(t);
    hdb_db_disconnect(c);
    hdb_db_disconnect(c2);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

/* hdb_db_checkpoint checkpoints every shard, in sync mode at once and in async mode through the
 * freeze, and hdb_kv_table_drop drops a table everywhere (HDB_NOTFOUND the second time). */
Test(kv, checkpoint_on_request_and_table_drop)
{
    for (int async = 0; async < 2; async++) {
        char *sub = tu_path(dir, async ? "async" : "sync");
        struct hdb_db_opts o;
        kt_opts(&o, 2);
        o.store.wal_mode = async ? HDB_WAL_ASYNC : HDB_WAL_SYNC;
        struct hdb_db *db = kt_open(sub, &o);
        struct hdb_conn *c = kt_connect(db);
        struct hdb_table *tb = table(c, "gone");
        struct hdb_txn *t = begin(c);
        put(t, tb, "a", 1);
        put(t, tb, "b", 2);
        cr_assert_eq(commit(t), HDB_OK);
        uint64_t before[2];
        struct hdb_shard_stats st;
        struct hdb_err err = {0};
        for (uint32_t k = 0; k < 2; k++) {
            cr_assert_eq(hdb_db_shard_stats(c, k, &st, &err), HDB_OK);
            before[k] = st.store.checkpoints;
        }
        cr_assert_eq(hdb_db_checkpoint(c, &err), HDB_OK, "%s", err.msg);
        for (uint32_t k = 0; k < 2; k++) {
            cr_assert_eq(hdb_db_shard_stats(c, k, &st, &err), HDB_OK);
            cr_assert_gt(st.store.checkpoints, before[k], "shard %u (async %d)", k, async);
        }
        cr_assert_eq(hdb_kv_table_drop(c, "gone", &err), HDB_OK, "%s", err.msg);
        cr_assert_eq(hdb_kv_table_drop(c, "gone", &err), HDB_NOTFOUND);
        cr_assert_eq(hdb_kv_table_drop(c, "_sys.x", &err), HDB_INVALID);
        /* made again under the same name: a new, empty table (not the dropped one's handle) */
        struct hdb_table *again = table(c, "gone");
        cr_assert_neq(again, tb);
        t = begin(c);
        cr_assert_eq(get(t, again, "a"), -1);
        put(t, again, "c", 3);
        cr_assert_eq(commit(t), HDB_OK);
        hdb_db_disconnect(c);
        cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
        free(sub);
    }
}

/* A transaction's own writes are found through its write index once it has many: overwrites,
 * deletes and reads of 3,000 keys, then smaller transactions on the same connection (which reuse
 * or drop the index) still see exactly their own writes. */
Test(kv, many_own_writes_are_found_again)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = table(c, "w");
    for (int round = 0; round < 3; round++) {
        int n = round == 0 ? 3000 : round == 1 ? 20 : 600;
        struct hdb_txn *t = begin(c);
        char k[32];
        for (int i = 0; i < n; i++) {
            snprintf(k, sizeof k, "r%d-k%05d", round, i);
            put(t, tb, k, i);
        }
        for (int i = 0; i < n; i += 3) { /* overwrite every third */
            snprintf(k, sizeof k, "r%d-k%05d", round, i);
            put(t, tb, k, -i);
        }
        struct hdb_err err = {0};
        for (int i = 1; i < n; i += 5) {
            snprintf(k, sizeof k, "r%d-k%05d", round, i);
            cr_assert_eq(hdb_txn_delete(t, tb, k, (uint32_t)strlen(k), &err), HDB_OK);
        }
        for (int i = 0; i < n; i++) {
            snprintf(k, sizeof k, "r%d-k%05d", round, i);
            int64_t want = i % 5 == 1 ? -1 : i % 3 == 0 ? -i : i;
            cr_assert_eq(get(t, tb, k), want, "round %d key %d", round, i);
        }
        snprintf(k, sizeof k, "r%d-k%05d", round - 1, 7); /* an earlier round's key, committed */
        cr_assert_eq(get(t, tb, k), round == 0 ? -1 : 7);
        cr_assert_eq(commit(t), HDB_OK);
    }
    hdb_db_disconnect(c);
    struct hdb_err err = {0};
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

/* One shard's part of a fold: what it saw, and on which thread. */
struct fold_sum {
    int64_t sum, rows, turns;
    pthread_t thread;
    bool other_thread; /* saw rows on more than one thread */
    int64_t fail_at;   /* one more than a row value that makes the fold fail (0: none) */
};

static int fold_sum_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                        uint32_t vlen, struct hdb_err *err)
{
    struct fold_sum *f = ctx;
    (void)klen;
    if (f->rows + f->turns == 0) {
        f->thread = pthread_self();
    }
    f->other_thread = f->other_thread || !pthread_equal(f->thread, pthread_self());
    if (key == NULL) {
        f->turns++;
        return HDB_OK;
    }
    int64_t v;
    cr_assert_eq(vlen, sizeof v);
    memcpy(&v, val, sizeof v);
    if (v + 1 == f->fail_at) {
        return hdb_err_set(err, HDB_TOOBIG, "row %lld refused", (long long)v);
    }
    f->sum += v;
    f->rows++;
    return HDB_OK;
}

/* A fold runs on the shards' own threads over their rows at the snapshot, in turns of at most
 * HDB_FOLD_TURN_ROWS rows; its parts add up to the table; its range is validated like a scan's; it
 * refuses a transaction that wrote the table, and a failing part stops the fold with its error. */
Test(kv, fold_runs_on_each_shard_over_its_rows)
{
    struct hdb_db_opts o;
    kt_opts(&o, 3);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db), *c2 = kt_connect(db);
    struct hdb_table *tb = table(c, "f"), *other = table(c, "g");
    int64_t want = 0;
    for (int from = 0; from < 20000; from += 5000) {
        struct hdb_txn *t = begin(c);
        for (int i = from; i < from + 5000; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%05d", i);
            put(t, tb, k, i);
            want += i;
        }
        cr_assert_eq(commit(t), HDB_OK);
    }
    struct hdb_txn *t = begin(c);
    struct fold_sum parts[3] = {0};
    void *ctxs[3] = {&parts[0], &parts[1], &parts[2]};
    struct hdb_err err = {0};
    cr_assert_eq(hdb_txn_fold(t, tb, NULL, 0, NULL, 0, fold_sum_row, ctxs, &err), HDB_OK, "%s",
                 err.msg);
    int64_t sum = 0, rows = 0;
    for (int s = 0; s < 3; s++) {
        sum += parts[s].sum;
        rows += parts[s].rows;
        cr_assert_gt(parts[s].rows, 5000, "shard %d folded %lld rows", s, (long long)parts[s].rows);
        cr_assert_eq(parts[s].turns, (parts[s].rows + HDB_FOLD_TURN_ROWS - 1) / HDB_FOLD_TURN_ROWS);
        cr_assert(!parts[s].other_thread);
        cr_assert(!pthread_equal(parts[s].thread, pthread_self()), "runs on the shard's thread");
    }
    cr_assert_eq(rows, 20000);
    cr_assert_eq(sum, want);
    /* a range: keys k10000 <= key < k10100 */
    memset(parts, 0, sizeof parts);
    cr_assert_eq(hdb_txn_fold(t, tb, "k10000", 6, "k10100", 6, fold_sum_row, ctxs, &err), HDB_OK);
    cr_assert_eq(parts[0].rows + parts[1].rows + parts[2].rows, 100);
    cr_assert_eq(parts[0].sum + parts[1].sum + parts[2].sum, 100 * 10000 + 99 * 100 / 2);
    /* another transaction writes into the folded range: this one cannot commit a write */
    struct hdb_txn *t2 = begin(c2);
    put(t2, tb, "k10050x", 1);
    cr_assert_eq(commit(t2), HDB_OK);
    put(t, other, "x", 1);
    cr_assert_eq(commit(t), HDB_CONFLICT);
    /* own writes to the table: refused */
    t = begin(c);
    put(t, tb, "new", 1);
    cr_assert_eq(hdb_txn_fold(t, tb, NULL, 0, NULL, 0, fold_sum_row, ctxs, &err), HDB_INVALID);
    hdb_txn_rollback(t);
    /* a part that fails stops the fold with its message */
    t = begin(c);
    memset(parts, 0, sizeof parts);
    for (int s = 0; s < 3; s++) {
        parts[s].fail_at = 12346;
    }
    cr_assert_eq(hdb_txn_fold(t, tb, NULL, 0, NULL, 0, fold_sum_row, ctxs, &err), HDB_TOOBIG);
    cr_assert_str_eq(err.msg, "row 12345 refused");
    hdb_txn_rollback(t);
    hdb_db_disconnect(c2);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

/* A multi-shard transaction whose part on one shard would not fit in one WAL group when applied
 * is refused at prepare (HDB_TOOBIG, nothing written anywhere), not after the decision, where it
 * could no longer be refused (found by CREATE INDEX in a transaction: 60,000 entries per shard). */
Test(kv, prepared_part_too_big_to_apply_is_refused_at_prepare)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2); /* 4 MiB WAL segments */
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = table(c, "big");
    struct hdb_txn *t = begin(c);
    struct hdb_err err = {0};
    for (uint32_t i = 0; i < 99999; i++) { /* ~48 log bytes each when applied, on shard 0 */
        char k[16];
        int n = snprintf(k, sizeof k, "k%06u", i);
        cr_assert_eq(hdb_txn_put_at(t, tb, 0, k, (uint32_t)n, "", 0, &err), HDB_OK, "%s", err.msg);
    }
    cr_assert_eq(hdb_txn_put_at(t, tb, 1, "other", 5, "v", 1, &err), HDB_OK);
    char key[16];
    snprintf(key, sizeof key, "k%06u", 100000u);
    cr_assert_eq(hdb_txn_put_at(t, tb, 1, key, 7, "", 0, &err), HDB_TOOBIG, "the write limit");
    hdb_txn_rollback(t);
    t = begin(c);
    for (uint32_t i = 0; i < 99999; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%06u", i);
        cr_assert_eq(hdb_txn_put_at(t, tb, 0, k, (uint32_t)n, "", 0, &err), HDB_OK, "%s", err.msg);
    }
    cr_assert_eq(hdb_txn_put_at(t, tb, 1, "other", 5, "v", 1, &err), HDB_OK);
    cr_assert_eq(hdb_txn_commit(t, &err), HDB_TOOBIG);
    cr_assert(strstr(err.msg, "does not fit in a WAL group") != NULL, "%s", err.msg);
    struct hdb_shard_stats st;
    cr_assert_eq(hdb_db_shard_stats(c, 0, &st, &err), HDB_OK);
    cr_assert_eq(st.commits_2pc, 0);
    t = begin(c);
    struct collect col = {0};
    cr_assert_eq(hdb_txn_scan(t, tb, "", 0, NULL, 0, 10, collect_row, &col, &err), HDB_OK);
    cr_assert_eq(col.n, 0, "nothing was applied");
    put(t, tb, "after", 1); /* the shards go on */
    cr_assert_eq(commit(t), HDB_OK);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

/* --- a service on the shard threads (what `heliosdb serve` runs there) --- */

struct svc_state {
    struct hdb_db *db;
    pthread_mutex_t *shared; /* held across a transfer by every party in turn */
    struct hdb_conn *conn[HDB_SHARDS_MAX];
    uint32_t done_ops[HDB_SHARDS_MAX];
    uint32_t snapshots[HDB_SHARDS_MAX];
    _Atomic uint32_t finished;
    _Atomic int failed;
    uint32_t ops;
};

/* One transfer per turn on the thread's own connection (connected there, and disconnected there
 * at the end); every tenth under the shared lock, every fiftieth with a snapshot and a pause. */
static uint64_t svc_turn(void *arg, uint32_t thread, uint64_t now_ns, uint64_t *next_ns)
{
    (void)now_ns;
    (void)next_ns;
    struct svc_state *st = arg;
    if (st->done_ops[thread] == st->ops) {
        return 0;
    }
    struct hdb_err err = {0};
    if (st->conn[thread] == NULL && hdb_db_connect(st->db, &st->conn[thread], &err) != HDB_OK) {
        atomic_store(&st->failed, HDB_ERROR);
        return 0;
    }
    uint64_t rng = (uint64_t)thread * 7919u + st->done_ops[thread] + 1u;
    bool multi = false, locked = st->done_ops[thread] % 10 == 0;
    if (locked) {
        hdb_db_lock_mutex(st->db, st->shared);
    }
    int rc = kt_bank_transfer(st->conn[thread], &rng, 0, &multi);
    if (locked) {
        pthread_mutex_unlock(st->shared);
    }
    if (rc == HDB_OK && st->done_ops[thread] % 50 == 0) {
        struct hdb_snapshot_info info;
        rc = hdb_snapshot_create(st->conn[thread], &info, &err);
        st->snapshots[thread] += rc == HDB_OK;
        hdb_db_pause(st->db, 2);
    }
    if (rc != HDB_OK) {
        atomic_store(&st->failed, rc);
    }
    if (++st->done_ops[thread] == st->ops) {
        hdb_db_disconnect(st->conn[thread]);
        st->conn[thread] = NULL;
        atomic_fetch_add(&st->finished, 1);
    }
    return 1;
}

Test(kv, service_on_the_shard_threads_runs_transactions_without_waiting_for_itself)
{
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    kt_bank_init(c);
    pthread_mutex_t shared = PTHREAD_MUTEX_INITIALIZER;
    static struct svc_state st;
    memset(&st, 0, sizeof st);
    st.db = db;
    st.shared = &shared;
    st.ops = (uint32_t)tu_scaled(300);
    struct hdb_db_service svc = {.turn = svc_turn, .arg = &st};
    for (uint32_t i = 0; i < HDB_SHARDS_MAX; i++) {
        svc.fds[i] = -1;
    }
    hdb_db_set_service(db, &svc);
    /* Meanwhile this (non-shard) thread transfers too, sometimes holding the shared lock across
     * its transfer while the shard threads try it. */
    uint64_t rng = 42;
    for (uint32_t i = 0; atomic_load(&st.finished) < hdb_db_threads(db); i++) {
        bool multi = false;
        if (i % 5 == 0) {
            hdb_db_lock_mutex(db, &shared);
        }
        cr_assert_eq(kt_bank_transfer(c, &rng, 0, &multi), HDB_OK);
        if (i % 5 == 0) {
            pthread_mutex_unlock(&shared);
        }
        cr_assert_eq(atomic_load(&st.failed), 0, "a service turn failed with %d",
                     atomic_load(&st.failed));
    }
    hdb_db_set_service(db, NULL);
    cr_assert_eq(atomic_load(&st.failed), 0);
    for (uint32_t t = 0; t < hdb_db_threads(db); t++) {
        cr_assert_eq(st.done_ops[t], st.ops);
        cr_assert_gt(st.snapshots[t], 0);
    }
    cr_assert_eq(kt_bank_total(c, true), (int64_t)BANK_ACCOUNTS * BANK_START);
    hdb_db_disconnect(c);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

/* Tables made and dropped for good leave the registry: far more than it holds at once can come
 * and go in one open database (it once stopped at 4,096 handles, dropped ones included). */
Test(kv, dropped_tables_leave_room_for_new_ones)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_err err = {0};
    uint32_t rounds = 4200; /* past the old limit */
    for (uint32_t i = 0; i < rounds; i++) {
        char name[32];
        snprintf(name, sizeof name, "churn%u", i);
        struct hdb_table *tb = table(c, name);
        struct hdb_txn *t = begin(c);
        cr_assert_eq(get(t, tb, "k"), -1, "%s holds the old table's row", name);
        put(t, tb, "k", (int64_t)i);
        cr_assert_eq(commit(t), HDB_OK);
        cr_assert_eq(hdb_kv_table_drop(c, name, &err), HDB_OK, "%s", err.msg);
    }
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}
