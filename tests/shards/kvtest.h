/*
 * kvtest.h — helpers for the shard runtime tests (criterion and plain TSan
 * programs): opening a test database and the bank workload.
 */
#ifndef HDB_KVTEST_H
#define HDB_KVTEST_H

#include <stdbool.h>
#include <stdint.h>

#include "shards/kv.h"

#define BANK_ACCOUNTS 1000u
#define BANK_START    1000

/* Options for a small test database: `shards` shards, sync WAL, small cache, no pinning. */
void kt_opts(struct hdb_db_opts *o, uint32_t shards);
/* Opens or dies with the error on stderr. */
struct hdb_db *kt_open(const char *dir, const struct hdb_db_opts *o);
struct hdb_conn *kt_connect(struct hdb_db *db);

void kt_account_key(uint32_t id, char key[16]);
/* Creates the accounts (one transaction) if the table is empty. */
void kt_bank_init(struct hdb_conn *c);
/*
 * One transfer between two random accounts, retried on HDB_CONFLICT. With
 * `xfer_id` non-zero it also writes xfer:<id> in the same transaction.
 * Returns HDB_OK or the error that stopped it; *multi tells if it spanned shards.
 */
int kt_bank_transfer(struct hdb_conn *c, uint64_t *rng, uint64_t xfer_id, bool *multi);
/* Sums every balance in one transaction (by scan when `scan`, else by gets); -1 on error. */
int64_t kt_bank_total(struct hdb_conn *c, bool scan);

uint64_t kt_rand(uint64_t *s);

/* Two keys ("k0" and the first "kN" after it) that live on different shards. */
void kt_keys_on_two_shards(struct hdb_db *db, char a[16], char b[16]);

/*
 * A bank thread (pthread start routine): on its own connection, `ops`
 * transfers, or `ops` reads of the total when `reader`. It counts what it
 * did; a reader counts totals that were wrong, a transfer stops at the
 * first error (in `failed`).
 */
struct kt_bank_worker {
    struct hdb_db *db;
    bool reader;
    uint32_t ops;
    uint32_t done, multi, bad_totals;
    int failed;
};
void *kt_bank_worker_run(void *arg);

#endif
