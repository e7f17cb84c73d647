/*
 * tsan_kv.c — the shard runtime under ThreadSanitizer (a plain program:
 * Debian's criterion aborts under TSan). Transfer threads and reader
 * threads on their own connections over 4 shards on 2 threads, in sync and
 * async WAL mode; every read of all balances sees the same total. Meanwhile
 * automatic snapshots run on their own thread, and the main thread creates
 * snapshots, reads them and drops them.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/testutil.h"
#include "kvtest.h"

static int bank(const char *dir, enum hdb_wal_mode mode)
{
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    o.store.wal_mode = mode;
    o.snapshot_interval_ms = 5;
    o.snapshot_retention = 2;
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    kt_bank_init(c);
    enum { N = 4 };
    struct kt_bank_worker w[N];
    pthread_t tid[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct kt_bank_worker){.db = db, .reader = i == 3, .ops = i == 3 ? 10 : 150};
        pthread_create(&tid[i], NULL, kt_bank_worker_run, &w[i]);
    }
    int bad = 0;
    for (int i = 0; i < 5; i++) {
        struct hdb_snapshot_info info;
        struct hdb_txn *t;
        struct hdb_err err;
        struct hdb_buf val = {0};
        struct hdb_table *tb;
        if (hdb_snapshot_create(c, &info, &err) != HDB_OK ||
            hdb_kv_table(c, "accounts", false, &tb, &err) != HDB_OK ||
            hdb_txn_begin_snapshot(c, info.id, &t, &err) != HDB_OK) {
            fprintf(stderr, "snapshot: %s\n", err.msg);
            bad++;
            continue;
        }
        if (hdb_txn_get(t, tb, "acct:00001", 10, &val, &err) != HDB_OK) {
            fprintf(stderr, "snapshot read: %s\n", err.msg);
            bad++;
        }
        hdb_txn_rollback(t);
        hdb_buf_free(&val);
        if (hdb_snapshot_drop(c, info.id, &err) != HDB_OK) {
            fprintf(stderr, "snapshot drop: %s\n", err.msg);
            bad++;
        }
    }
    for (int i = 0; i < N; i++) {
        pthread_join(tid[i], NULL);
        bad += (int)w[i].bad_totals + (w[i].failed != 0);
    }
    if (kt_bank_total(c, true) != (int64_t)BANK_ACCOUNTS * BANK_START) {
        bad++;
    }
    hdb_db_disconnect(c);
    struct hdb_err err;
    if (hdb_db_close(db, &err) != HDB_OK) {
        fprintf(stderr, "close: %s\n", err.msg);
        bad++;
    }
    return bad;
}

int main(void)
{
    int bad = 0;
    for (int mode = 0; mode < 2; mode++) {
        char *dir = tu_mkdtemp("tsan-kv");
        bad += bank(dir, mode == 0 ? HDB_WAL_SYNC : HDB_WAL_ASYNC);
        tu_rmtree(dir);
        free(dir);
    }
    if (bad != 0) {
        fprintf(stderr, "tsan_kv: %d failures\n", bad);
        return 1;
    }
    printf("tsan_kv: bank invariant held in sync and async mode\n");
    return 0;
}
