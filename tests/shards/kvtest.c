/*
 * kvtest.c — see kvtest.h.
 */
#include "kvtest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kt_opts(struct hdb_db_opts *o, uint32_t shards)
{
    hdb_db_opts_default(o);
    o->shards = shards;
    o->threads = 2;
    o->pin_threads = false;
    o->store.cache_bytes = 16ull << 20;
    o->store.wal_segment_bytes = 4ull << 20;
    o->store.page_size = 4096;
    if (getenv("HDB_TEST_FALLBACK") != NULL) {
        o->store.io.use_io_uring = false;
        o->store.io.use_direct_io = false;
    }
}

struct hdb_db *kt_open(const char *dir, const struct hdb_db_opts *o)
{
    struct hdb_db *db = NULL;
    struct hdb_err err = {0};
    if (hdb_db_open(dir, o, &db, NULL, &err) != HDB_OK) {
        fprintf(stderr, "hdb_db_open %s: %s\n", dir, err.msg);
        abort();
    }
    return db;
}

struct hdb_conn *kt_connect(struct hdb_db *db)
{
    struct hdb_conn *c = NULL;
    struct hdb_err err = {0};
    if (hdb_db_connect(db, &c, &err) != HDB_OK) {
        fprintf(stderr, "hdb_db_connect: %s\n", err.msg);
        abort();
    }
    return c;
}

uint64_t kt_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

void kt_account_key(uint32_t id, char key[16])
{
    snprintf(key, 16, "acct:%05" PRIu32, id);
}

static struct hdb_table *accounts(struct hdb_conn *c)
{
    struct hdb_table *tb = NULL;
    struct hdb_err err = {0};
    if (hdb_kv_table(c, "accounts", true, &tb, &err) != HDB_OK) {
        fprintf(stderr, "table: %s\n", err.msg);
        abort();
    }
    return tb;
}

void kt_bank_init(struct hdb_conn *c)
{
    struct hdb_table *tb = accounts(c);
    struct hdb_err err = {0};
    struct hdb_buf val = {0};
    char key[16];
    kt_account_key(0, key);
    int rc = hdb_kv_get(c, tb, key, (uint32_t)strlen(key), &val, &err);
    hdb_buf_free(&val);
    if (rc == HDB_OK) {
        return;
    }
    struct hdb_txn *t = NULL;
    if (hdb_txn_begin(c, &t, &err) != HDB_OK) {
        abort();
    }
    for (uint32_t i = 0; i < BANK_ACCOUNTS; i++) {
        int64_t b = BANK_START;
        kt_account_key(i, key);
        if (hdb_txn_put(t, tb, key, (uint32_t)strlen(key), &b, sizeof b, &err) != HDB_OK) {
            abort();
        }
    }
    if (hdb_txn_commit(t, &err) != HDB_OK) {
        fprintf(stderr, "bank init: %s\n", err.msg);
        abort();
    }
}

static int read_balance(struct hdb_txn *t, struct hdb_table *tb, uint32_t id, int64_t *b,
                        struct hdb_err *err)
{
    char key[16];
    kt_account_key(id, key);
    struct hdb_buf val = {0};
    int rc = hdb_txn_get(t, tb, key, (uint32_t)strlen(key), &val, err);
    if (rc == HDB_OK && val.len == sizeof *b) {
        memcpy(b, val.data, sizeof *b);
    } else if (rc == HDB_OK) {
        rc = hdb_err_set(err, HDB_CORRUPT, "balance of %u has %zu bytes", id, val.len);
    }
    hdb_buf_free(&val);
    return rc;
}

static int transfer_once(struct hdb_conn *c, struct hdb_table *tb, uint32_t a, uint32_t b,
                         int64_t amount, uint64_t xfer_id, bool *multi, struct hdb_err *err)
{
    struct hdb_txn *t = NULL;
    int64_t ba = 0, bb = 0;
    int rc = hdb_txn_begin(c, &t, err);
    if (rc == HDB_OK) {
        rc = read_balance(t, tb, a, &ba, err);
    }
    if (rc == HDB_OK) {
        rc = read_balance(t, tb, b, &bb, err);
    }
    char ka[16], kb[16];
    kt_account_key(a, ka);
    kt_account_key(b, kb);
    ba -= amount;
    bb += amount;
    if (rc == HDB_OK) {
        rc = hdb_txn_put(t, tb, ka, (uint32_t)strlen(ka), &ba, sizeof ba, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_txn_put(t, tb, kb, (uint32_t)strlen(kb), &bb, sizeof bb, err);
    }
    if (rc == HDB_OK && xfer_id != 0) {
        char kx[32];
        snprintf(kx, sizeof kx, "xfer:%016" PRIx64, xfer_id);
        rc = hdb_txn_put(t, tb, kx, (uint32_t)strlen(kx), &amount, sizeof amount, err);
    }
    if (rc == HDB_OK) {
        *multi = hdb_txn_write_shards(t) > 1;
        return hdb_txn_commit(t, err);
    }
    if (t != NULL) {
        hdb_txn_rollback(t);
    }
    return rc;
}

int kt_bank_transfer(struct hdb_conn *c, uint64_t *rng, uint64_t xfer_id, bool *multi)
{
    struct hdb_table *tb = accounts(c);
    uint32_t a = (uint32_t)(kt_rand(rng) % BANK_ACCOUNTS),
             b = (uint32_t)(kt_rand(rng) % BANK_ACCOUNTS);
    if (a == b) {
        b = (a + 1) % BANK_ACCOUNTS;
    }
    int64_t amount = (int64_t)(kt_rand(rng) % 50) + 1;
    for (int attempt = 0; attempt < 1000; attempt++) {
        struct hdb_err err = {0};
        int rc = transfer_once(c, tb, a, b, amount, xfer_id, multi, &err);
        if (rc != HDB_CONFLICT) {
            if (rc != HDB_OK) {
                fprintf(stderr, "transfer: %s\n", err.msg);
            }
            return rc;
        }
    }
    return HDB_CONFLICT;
}

struct sum_ctx {
    int64_t total;
    uint32_t rows;
};

static bool sum_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val, uint32_t vlen)
{
    struct sum_ctx *s = ctx;
    (void)key;
    (void)klen;
    if (vlen == sizeof(int64_t)) {
        int64_t b;
        memcpy(&b, val, sizeof b);
        s->total += b;
        s->rows++;
    }
    return true;
}

int64_t kt_bank_total(struct hdb_conn *c, bool scan)
{
    struct hdb_table *tb = accounts(c);
    for (int attempt = 0; attempt < 100; attempt++) {
        struct hdb_txn *t = NULL;
        struct hdb_err err = {0};
        if (hdb_txn_begin(c, &t, &err) != HDB_OK) {
            return -1;
        }
        struct sum_ctx s = {0};
        int rc = HDB_OK;
        if (scan) {
            rc = hdb_txn_scan(t, tb, "acct:", 5, "acct;", 5, 0, sum_row, &s, &err);
        } else {
            for (uint32_t i = 0; i < BANK_ACCOUNTS && rc == HDB_OK; i++) {
                int64_t b = 0;
                rc = read_balance(t, tb, i, &b, &err);
                s.total += b;
                s.rows++;
            }
        }
        if (rc == HDB_OK) {
            rc = hdb_txn_commit(t, &err);
        } else {
            hdb_txn_rollback(t);
        }
        if (rc == HDB_CONFLICT) {
            continue;
        }
        if (rc != HDB_OK || s.rows != BANK_ACCOUNTS) {
            fprintf(stderr, "bank total: rc %d rows %u: %s\n", rc, s.rows, err.msg);
            return -1;
        }
        return s.total;
    }
    return -1;
}

void kt_keys_on_two_shards(struct hdb_db *db, char a[16], char b[16])
{
    snprintf(a, 16, "k0");
    for (int i = 1;; i++) {
        snprintf(b, 16, "k%d", i);
        if (hdb_kv_shard_of(db, b, (uint32_t)strlen(b)) != hdb_kv_shard_of(db, a, 2)) {
            return;
        }
    }
}

void *kt_bank_worker_run(void *arg)
{
    struct kt_bank_worker *w = arg;
    struct hdb_conn *c = kt_connect(w->db);
    uint64_t rng = (uint64_t)(uintptr_t)w | 1;
    for (uint32_t i = 0; i < w->ops; i++) {
        if (w->reader) {
            int64_t total = kt_bank_total(c, i % 2 == 0);
            if (total != (int64_t)BANK_ACCOUNTS * BANK_START) {
                fprintf(stderr, "reader saw total %" PRId64 "\n", total);
                w->bad_totals++;
            }
        } else {
            bool multi = false;
            int rc = kt_bank_transfer(c, &rng, 0, &multi);
            if (rc != HDB_OK) {
                w->failed = rc;
                break;
            }
            w->multi += multi ? 1 : 0;
        }
        w->done++;
    }
    hdb_db_disconnect(c);
    return NULL;
}
