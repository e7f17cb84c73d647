/*
 * demo.c — `make run` until the server exists: a short demonstration of the
 * sharded engine on a database directory (./data by default, or [database]
 * path of the configuration: $HELIOSDB_CONFIG and HELIOSDB_* variables, see
 * docs/config.md). It opens (creates or recovers) the database with one
 * shard per usable CPU, creates 10,000 accounts, runs transfers from four
 * threads (most of them across shards, serializable, retried on conflict),
 * takes a snapshot and shows it unchanged while transfers go on, checks that
 * money is conserved, verifies every shard's files, and prints what it did
 * and what it cost. Run it again to see the database recovered.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "shards/kv.h"

#define DEMO_ACCOUNTS       10000u
#define DEMO_START          1000
#define DEMO_THREADS        4u
#define DEMO_TRANSFERS      500u /* per thread */
#define DEMO_BATCH          500u /* accounts created per transaction */
#define DEMO_ATTEMPTS_MAX   100  /* retries of one transfer on HDB_CONFLICT */
#define DEMO_SNAPSHOTS_KEPT 3u

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, const struct hdb_err *err)
{
    fprintf(stderr, "heliosdb-demo: %s: %s (%s)\n", what, err->msg, hdb_status_name(err->code));
    return 1;
}

static void account_key(uint32_t id, char key[16])
{
    snprintf(key, 16, "acct:%08" PRIu32, id);
}

static struct hdb_table *accounts(struct hdb_conn *c)
{
    struct hdb_table *tb = NULL;
    struct hdb_err err;
    if (hdb_kv_table(c, "accounts", true, &tb, &err) != HDB_OK) {
        die("table accounts", &err);
        exit(1);
    }
    return tb;
}

static int create_accounts(struct hdb_conn *c, struct hdb_err *err)
{
    struct hdb_table *tb = accounts(c);
    struct hdb_buf val = {0};
    char key[16];
    account_key(0, key);
    int rc = hdb_kv_get(c, tb, key, 13, &val, err);
    hdb_buf_free(&val);
    if (rc != HDB_NOTFOUND) {
        if (rc == HDB_OK) {
            printf("accounts exist already: recovered from the previous run\n");
        }
        return rc;
    }
    double t0 = now_s();
    int64_t amount = DEMO_START;
    for (uint32_t i = 0; i < DEMO_ACCOUNTS; i += DEMO_BATCH) {
        struct hdb_txn *t = NULL;
        rc = hdb_txn_begin(c, &t, err);
        for (uint32_t j = i; rc == HDB_OK && j < i + DEMO_BATCH; j++) {
            account_key(j, key);
            rc = hdb_txn_put(t, tb, key, 13, &amount, sizeof amount, err);
        }
        rc = rc == HDB_OK ? hdb_txn_commit(t, err) : (hdb_txn_rollback(t), rc);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    printf("created %u accounts of %d in %u transactions across all shards (%.1f ms)\n",
           DEMO_ACCOUNTS, DEMO_START, DEMO_ACCOUNTS / DEMO_BATCH, (now_s() - t0) * 1e3);
    return HDB_OK;
}

static int64_t read_balance(struct hdb_txn *t, struct hdb_table *tb, uint32_t id,
                            struct hdb_err *err, int *rc)
{
    char key[16];
    account_key(id, key);
    struct hdb_buf val = {0};
    int64_t b = 0;
    *rc = hdb_txn_get(t, tb, key, 13, &val, err);
    if (*rc == HDB_OK && val.len == sizeof b) {
        memcpy(&b, val.data, sizeof b);
    }
    hdb_buf_free(&val);
    return b;
}

/* One serializable transfer; HDB_CONFLICT means try again. */
static int transfer_once(struct hdb_conn *c, struct hdb_table *tb, uint32_t from, uint32_t to,
                         int64_t amount, struct hdb_err *err)
{
    struct hdb_txn *t = NULL;
    int rc = hdb_txn_begin(c, &t, err);
    if (rc != HDB_OK) {
        return rc;
    }
    int64_t a = read_balance(t, tb, from, err, &rc);
    int64_t b = rc == HDB_OK ? read_balance(t, tb, to, err, &rc) : 0;
    char ka[16], kb[16];
    account_key(from, ka);
    account_key(to, kb);
    a -= amount;
    b += amount;
    rc = rc == HDB_OK ? hdb_txn_put(t, tb, ka, 13, &a, sizeof a, err) : rc;
    rc = rc == HDB_OK ? hdb_txn_put(t, tb, kb, 13, &b, sizeof b, err) : rc;
    if (rc != HDB_OK) {
        hdb_txn_rollback(t);
        return rc;
    }
    return hdb_txn_commit(t, err);
}

struct worker {
    struct hdb_db *db;
    uint64_t seed;
    uint32_t done, retries, multi;
    int failed;
    struct hdb_err err; /* why it failed */
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct hdb_conn *c = NULL;
    struct hdb_err err = {0};
    if (hdb_db_connect(w->db, &c, &err) != HDB_OK) {
        w->failed = err.code;
        return NULL;
    }
    struct hdb_table *tb = accounts(c);
    uint64_t x = w->seed;
    for (uint32_t i = 0; i < DEMO_TRANSFERS && w->failed == 0; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t from = (uint32_t)(x >> 33) % DEMO_ACCOUNTS;
        uint32_t to = (from + 1 + (uint32_t)(x >> 13) % (DEMO_ACCOUNTS - 1)) % DEMO_ACCOUNTS;
        char kf[16], kt[16];
        account_key(from, kf);
        account_key(to, kt);
        w->multi += hdb_kv_shard_of(w->db, kf, 13) != hdb_kv_shard_of(w->db, kt, 13);
        int rc = HDB_CONFLICT;
        for (int attempt = 0; rc == HDB_CONFLICT && attempt < DEMO_ATTEMPTS_MAX; attempt++) {
            if (attempt > 0) { /* back off as a client should: 50 µs doubling up to 5 ms */
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                long us = 50L << (attempt < 7 ? attempt : 7);
                struct timespec ts = {.tv_nsec = (us + (long)(x >> 54)) * 1000L};
                nanosleep(&ts, NULL);
            }
            rc = transfer_once(c, tb, from, to, 7, &err);
            w->retries += rc == HDB_CONFLICT;
        }
        w->failed = rc == HDB_OK ? 0 : rc;
        w->done += rc == HDB_OK;
    }
    if (w->failed != 0) {
        w->err = err;
        fprintf(stderr, "heliosdb-demo: transfer failed: %s\n", err.msg);
    }
    hdb_db_disconnect(c);
    return NULL;
}

static int run_transfers(struct hdb_db *db, struct hdb_err *err)
{
    struct worker w[DEMO_THREADS];
    pthread_t tid[DEMO_THREADS];
    double t0 = now_s();
    for (uint32_t i = 0; i < DEMO_THREADS; i++) {
        w[i] = (struct worker){.db = db, .seed = (uint64_t)time(NULL) * 31 + i};
        pthread_create(&tid[i], NULL, worker_run, &w[i]);
    }
    uint32_t done = 0, retries = 0, multi = 0;
    int failed = 0;
    for (uint32_t i = 0; i < DEMO_THREADS; i++) {
        pthread_join(tid[i], NULL);
        done += w[i].done;
        retries += w[i].retries;
        multi += w[i].multi;
        if (failed == 0 && w[i].failed != 0) {
            failed = w[i].failed;
            *err = w[i].err;
        }
    }
    double dt = now_s() - t0;
    printf("%u threads made %u transfers (%u across shards, %u retried after a conflict): "
           "%.0f transfers/s\n",
           DEMO_THREADS, done, multi, retries, done / dt);
    return failed;
}

struct sum {
    int64_t total;
    uint32_t rows;
};

static bool sum_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val, uint32_t vlen)
{
    struct sum *s = ctx;
    (void)key;
    (void)klen;
    int64_t b = 0;
    if (vlen == sizeof b) {
        memcpy(&b, val, sizeof b);
    }
    s->total += b;
    s->rows++;
    return true;
}

/* The total of every balance, read in one transaction (or through snapshot `snap`). */
static int total(struct hdb_conn *c, uint64_t snap, struct sum *s, struct hdb_err *err)
{
    struct hdb_table *tb = accounts(c);
    for (int attempt = 0; attempt < DEMO_ATTEMPTS_MAX; attempt++) {
        struct hdb_txn *t = NULL;
        int rc = snap != 0 ? hdb_txn_begin_snapshot(c, snap, &t, err) : hdb_txn_begin(c, &t, err);
        if (rc != HDB_OK) {
            return rc;
        }
        *s = (struct sum){0};
        rc = hdb_txn_scan(t, tb, "acct:", 5, "acct;", 5, 0, sum_row, s, err);
        rc = rc == HDB_OK ? hdb_txn_commit(t, err) : (hdb_txn_rollback(t), rc);
        if (rc != HDB_CONFLICT) {
            return rc;
        }
    }
    return HDB_CONFLICT;
}

static int snapshot_demo(struct hdb_db *db, struct hdb_conn *c, struct hdb_err *err)
{
    struct hdb_snapshot_info info;
    double t0 = now_s();
    int rc = hdb_snapshot_create(c, &info, err);
    if (rc != HDB_OK) {
        return rc;
    }
    printf("snapshot %" PRIu64 " taken on every shard in %.2f ms (one WAL record per shard)\n",
           info.id, (now_s() - t0) * 1e3);
    rc = run_transfers(db, err);
    struct sum now, then;
    rc = rc == HDB_OK ? total(c, 0, &now, err) : rc;
    rc = rc == HDB_OK ? total(c, info.id, &then, err) : rc;
    if (rc != HDB_OK) {
        return rc;
    }
    printf("total now %" PRId64 " over %u accounts; through the snapshot %" PRId64
           " over %u accounts: %s\n",
           now.total, now.rows, then.total, then.rows,
           now.total == then.total && now.total == (int64_t)DEMO_ACCOUNTS * DEMO_START
               ? "money is conserved"
               : "MONEY IS NOT CONSERVED");
    struct hdb_snapshot_info list[64];
    uint32_t n = hdb_snapshot_list(db, list, 64);
    for (uint32_t i = 0; n > DEMO_SNAPSHOTS_KEPT && i < n - DEMO_SNAPSHOTS_KEPT && i < 64; i++) {
        rc = hdb_snapshot_drop(c, list[i].id, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    printf("snapshots kept: %u (the newest %u)\n",
           n < DEMO_SNAPSHOTS_KEPT ? n : DEMO_SNAPSHOTS_KEPT, DEMO_SNAPSHOTS_KEPT);
    return now.total == (int64_t)DEMO_ACCOUNTS * DEMO_START && now.total == then.total ? HDB_OK
                                                                                       : HDB_ERROR;
}

static int verify(struct hdb_db *db, struct hdb_conn *c, struct hdb_err *err)
{
    uint64_t problems = 0, pages = 0, entries = 0;
    double t0 = now_s();
    for (uint32_t k = 0; k < hdb_db_shards(db); k++) {
        struct hdb_verify_report r = {0};
        int rc = hdb_db_verify_shard(c, k, NULL, NULL, &r, err);
        if (rc != HDB_OK) {
            return rc;
        }
        problems += r.problems;
        pages += r.pages;
        entries += r.entries;
    }
    printf("verified %u shards: %" PRIu64 " pages, %" PRIu64 " entries, %" PRIu64
           " problems (%.1f ms)\n",
           hdb_db_shards(db), pages, entries, problems, (now_s() - t0) * 1e3);
    return problems == 0 ? HDB_OK : HDB_CORRUPT;
}

static void report_inactive(void *ctx, const struct hdb_cfg_key *key, const char *origin)
{
    (void)ctx;
    printf("config: %s (%s) is accepted but not yet active\n", key->key, origin);
}

static int demo(const char *path_arg)
{
    struct hdb_config cfg;
    struct hdb_err err = {0};
    if (hdb_config_load(&cfg, hdb_config_env_file(environ), environ, &err) != HDB_OK) {
        hdb_config_free(&cfg);
        return die("configuration", &err);
    }
    hdb_config_inactive(&cfg, report_inactive, NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s", path_arg != NULL ? path_arg : cfg.database.path);
    struct hdb_db_opts o;
    hdb_db_opts_from_config(&cfg, &o);
    hdb_config_free(&cfg);
    char old[4200];
    snprintf(old, sizeof old, "%s/data", path);
    if (access(old, F_OK) == 0) {
        fprintf(stderr,
                "heliosdb-demo: %s holds a single-store demo of an earlier version; "
                "remove the directory first\n",
                path);
        return 1;
    }
    struct hdb_db *db = NULL;
    struct hdb_db_open_info info;
    if (hdb_db_open(path, &o, &db, &info, &err) != HDB_OK) {
        return die("open", &err);
    }
    printf("%s %s: %u shards on %u threads in %.1f ms (%" PRIu64 " WAL records replayed; "
           "%s WAL)\n",
           info.created ? "created" : "recovered", path, info.shards, info.threads,
           info.recovery_ns / 1e6, info.wal_records,
           o.store.wal_mode == HDB_WAL_SYNC ? "sync" : "async");
    struct hdb_conn *c = NULL;
    int rc = hdb_db_connect(db, &c, &err);
    rc = rc == HDB_OK ? create_accounts(c, &err) : rc;
    rc = rc == HDB_OK ? snapshot_demo(db, c, &err) : rc;
    rc = rc == HDB_OK ? verify(db, c, &err) : rc;
    if (c != NULL) {
        hdb_db_disconnect(c);
    }
    struct hdb_err cerr = {0};
    int crc = hdb_db_close(db, &cerr);
    if (rc != HDB_OK) {
        return die("demo", &err);
    }
    if (crc != HDB_OK) {
        return die("close", &cerr);
    }
    printf("closed %s; run again to reopen it (heliosdb check %s verifies it)\n", path, path);
    return 0;
}

int main(int argc, char **argv)
{
    hdb_log_set_level(HDB_LOG_WARN);
    return demo(argc > 1 ? argv[1] : NULL);
}
