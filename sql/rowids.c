/*
 * rowids.c — rowids (and AUTOINCREMENT ids) handed out from blocks leased
 * per table, so concurrent inserts into one table do not all write the same
 * counter and conflict.
 *
 * The counter "r:<table id>" in the catalog is the first rowid never leased.
 * Taking a lease is its own small transaction on a connection of the
 * database's shared SQL state (made on first use, hdb_db_attachment): it
 * reads the counter, moves it HDB_ROWID_LEASE ahead and commits durably, so
 * after a crash no id of a lease is handed out again (the unused rest of a
 * lease is a gap, as SQLite allows). At a clean close the unused rest is
 * given back when nothing leased after it, so ids stay dense across
 * reopens. An insert with an explicit rowid moves the counter past it in
 * the inserting transaction and moves the lease past it too: later
 * automatic ids are larger, as AUTOINCREMENT promises.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "sql/rowids.h"
#include "sql/schema.h"

#define LEASE_RETRIES_MAX 100

struct lease {
    uint32_t table;
    int64_t next, end; /* ids next .. end-1 are this process's to hand out */
    int64_t floor;     /* an explicit rowid was inserted: the next lease starts above it */
};

struct shared {
    _Atomic uint64_t ddl_seq; /* odd while a DDL transaction commits (hdb_sql_ddl_enter) */
    pthread_rwlock_t commits; /* DDL commits exclusive, the others shared */
    pthread_mutex_t mu;
    struct hdb_conn *conn; /* lease transactions, under mu */
    struct lease *leases;
    uint32_t n, cap;
};

static void *shared_make(struct hdb_db *db)
{
    struct shared *sh = calloc(1, sizeof *sh);
    struct hdb_err err = {0};
    if (sh == NULL || hdb_db_connect(db, &sh->conn, &err) != HDB_OK) {
        free(sh);
        return NULL;
    }
    pthread_mutex_init(&sh->mu, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* a DDL must not wait behind an endless stream of other commits */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&sh->commits, &ra);
    pthread_rwlockattr_destroy(&ra);
    return sh;
}

static int counter_key(uint32_t table, char key[32])
{
    return snprintf(key, 32, "r:%u", table);
}

/* The unused rest of each lease back to the counter, where no later lease moved it. */
static void shared_drop(void *p)
{
    struct shared *sh = p;
    for (uint32_t i = 0; i < sh->n; i++) {
        struct lease *l = &sh->leases[i];
        if (l->next >= l->end) {
            continue;
        }
        struct hdb_table *cat = NULL;
        struct hdb_txn *t = NULL;
        struct hdb_buf val = {0};
        struct hdb_err err = {0};
        char key[32];
        int n = counter_key(l->table, key);
        int rc = hdb_kv_table(sh->conn, HDB_CATALOG_TABLE, true, &cat, &err);
        rc = rc == HDB_OK ? hdb_txn_begin(sh->conn, &t, &err) : rc;
        rc = rc == HDB_OK ? hdb_txn_get(t, cat, key, (uint32_t)n, &val, &err) : rc;
        if (rc == HDB_OK && val.len == 8 && (int64_t)hdb_get64(val.data) == l->end) {
            uint8_t b[8];
            hdb_put64(b, (uint64_t)l->next);
            rc = hdb_txn_put(t, cat, key, (uint32_t)n, b, 8, &err);
            rc = rc == HDB_OK ? hdb_txn_commit(t, &err) : rc;
            t = NULL;
        }
        if (t != NULL) {
            hdb_txn_rollback(t);
        }
        hdb_buf_free(&val);
    }
    hdb_db_disconnect(sh->conn);
    pthread_mutex_destroy(&sh->mu);
    pthread_rwlock_destroy(&sh->commits);
    free(sh->leases);
    free(sh);
}

static struct shared *shared_of(struct hdb_db *db)
{
    return hdb_db_attachment(db, shared_make, shared_drop);
}

static struct lease *lease_of(struct shared *sh, uint32_t table)
{
    for (uint32_t i = 0; i < sh->n; i++) {
        if (sh->leases[i].table == table) {
            return &sh->leases[i];
        }
    }
    if (sh->n == sh->cap) {
        uint32_t cap = sh->cap == 0 ? 16 : sh->cap * 2;
        struct lease *a = realloc(sh->leases, cap * sizeof *a);
        if (a == NULL) {
            return NULL;
        }
        sh->leases = a;
        sh->cap = cap;
    }
    struct lease *l = &sh->leases[sh->n++];
    *l = (struct lease){.table = table};
    return l;
}

/* A new block for `l`: one durable transaction that moves the counter. */
static int lease_take(struct shared *sh, struct lease *l, const char *name, struct hdb_err *err)
{
    struct hdb_table *cat = NULL;
    int rc = hdb_kv_table(sh->conn, HDB_CATALOG_TABLE, true, &cat, err);
    char key[32];
    int n = counter_key(l->table, key);
    for (int attempt = 0; rc == HDB_OK && attempt < LEASE_RETRIES_MAX; attempt++) {
        struct hdb_txn *t = NULL;
        struct hdb_buf val = {0};
        int64_t start = 1;
        rc = hdb_txn_begin(sh->conn, &t, err);
        int g = rc == HDB_OK ? hdb_txn_get(t, cat, key, (uint32_t)n, &val, err) : rc;
        if (g == HDB_OK && val.len == 8) {
            start = (int64_t)hdb_get64(val.data);
        } else if (g == HDB_OK) {
            rc = hdb_err_set(err, HDB_CORRUPT, "catalog key %s is malformed", key);
        } else if (g != HDB_NOTFOUND) {
            rc = g;
        }
        hdb_buf_free(&val);
        start = start < l->floor ? l->floor : start;
        if (rc == HDB_OK && start == INT64_MAX) {
            rc =
                hdb_err_set(err, HDB_FULL, "database or disk is full (no rowid left for %s)", name);
        }
        int64_t end = start <= INT64_MAX - HDB_ROWID_LEASE ? start + HDB_ROWID_LEASE : INT64_MAX;
        uint8_t b[8];
        hdb_put64(b, (uint64_t)end);
        rc = rc == HDB_OK ? hdb_txn_put(t, cat, key, (uint32_t)n, b, 8, err) : rc;
        if (rc == HDB_OK) {
            rc = hdb_txn_commit(t, err); /* the transaction is over either way */
            t = NULL;
        }
        if (t != NULL) {
            hdb_txn_rollback(t);
        }
        if (rc == HDB_OK) {
            l->next = start;
            l->end = end;
            return HDB_OK;
        }
        if (rc != HDB_CONFLICT) {
            return rc;
        }
        rc = HDB_OK; /* another lease or an explicit rowid moved the counter: again */
    }
    return hdb_err_set(err, HDB_CONFLICT, "could not lease rowids for %s", name);
}

int hdb_sql_rowid_next(struct hdb_db *db, uint32_t table, const char *name, int64_t *out,
                       struct hdb_err *err)
{
    struct shared *sh = shared_of(db);
    if (sh == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory (rowid leases)");
    }
    hdb_db_lock_mutex(db, &sh->mu);
    struct lease *l = lease_of(sh, table);
    int rc = l == NULL ? hdb_err_set(err, HDB_NOMEM, "out of memory (rowid leases)") : HDB_OK;
    if (rc == HDB_OK && l->next >= l->end) {
        rc = lease_take(sh, l, name, err);
    }
    if (rc == HDB_OK) {
        *out = l->next++;
    }
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

void hdb_sql_rowid_seen(struct hdb_db *db, uint32_t table, int64_t rowid)
{
    struct shared *sh = shared_of(db);
    if (sh == NULL || rowid == INT64_MAX) {
        return;
    }
    hdb_db_lock_mutex(db, &sh->mu);
    struct lease *l = lease_of(sh, table);
    if (l != NULL && rowid >= l->floor) {
        l->floor = rowid + 1;
    }
    if (l != NULL && rowid >= l->next) {
        l->next = rowid + 1 < l->end ? rowid + 1 : l->end;
    }
    pthread_mutex_unlock(&sh->mu);
}

/* --- the DDL sequence --- */

uint64_t hdb_sql_ddl_seq(struct hdb_db *db)
{
    struct shared *sh = shared_of(db);
    return sh != NULL ? atomic_load(&sh->ddl_seq) : 1; /* odd: not known, read the catalog */
}

void hdb_sql_ddl_enter(struct hdb_db *db)
{
    struct shared *sh = shared_of(db);
    if (sh != NULL) {
        hdb_db_lock_write(db, &sh->commits);
        atomic_fetch_add(&sh->ddl_seq, 1);
    }
}

void hdb_sql_ddl_leave(struct hdb_db *db)
{
    struct shared *sh = shared_of(db);
    if (sh != NULL) {
        atomic_fetch_add(&sh->ddl_seq, 1);
        pthread_rwlock_unlock(&sh->commits);
    }
}

bool hdb_sql_commit_enter(struct hdb_db *db, uint64_t seq)
{
    struct shared *sh = shared_of(db);
    if (sh == NULL) {
        return false;
    }
    hdb_db_lock_read(db, &sh->commits);
    if (atomic_load(&sh->ddl_seq) != seq) {
        pthread_rwlock_unlock(&sh->commits);
        return false;
    }
    return true;
}

void hdb_sql_commit_leave(struct hdb_db *db)
{
    struct shared *sh = shared_of(db);
    if (sh != NULL) {
        pthread_rwlock_unlock(&sh->commits);
    }
}
