/*
 * kv.h — the shard runtime's API: a database of N shards (one store each,
 * run by pinned threads), connections for caller threads, named tables
 * hash-partitioned over the shards, and serializable transactions. This is
 * the internal key-value layer the SQL layer is built on; the public C API
 * (include/heliosdb.h) wraps it.
 *
 * Directory layout:
 *   MANIFEST      magic, version, shard count (fixed at creation), page size
 *   LOCK          flock'd while open (HDB_BUSY names the holder's PID)
 *   shard-K/      shard K's store: data, wal-*.log (see core/store.h)
 *
 * Threads. hdb_db_open starts one thread per usable CPU (at most one per
 * shard), pinned to a CPU of the affinity mask; each runs the shards
 * k with k % threads == its index. A connection belongs to the thread that
 * made it: one thread at a time may use a connection and its transaction.
 *
 * Keys are routed to shard XXH3_64(key) % shards. Scans go to every shard
 * and are merged in key order.
 *
 * Transactions are serializable (see docs/shards.md): reads see one
 * consistent snapshot across shards taken at begin, plus the transaction's
 * own writes; commit validates that nothing read (keys and scanned ranges)
 * was written since, on one shard in one message or over several shards by
 * two-phase commit. HDB_CONFLICT means "retry the transaction".
 */
#ifndef HDB_KV_H
#define HDB_KV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "core/store.h"

#define HDB_SHARDS_MAX           256u
#define HDB_CONNS_MAX            256u
#define HDB_TABLES_MAX           65536u /* key-value tables open at once (the store's tree limit) */
#define HDB_TXN_READS_MAX        100000u
#define HDB_TXN_RANGES_MAX       4096u
#define HDB_TXN_WRITES_MAX       HDB_COMMIT_WRITES_MAX
#define HDB_SCAN_ROWS_MAX        100000u
#define HDB_SCAN_REPLY_BYTES_MAX (64u << 20)
#define HDB_FOLD_TURN_ROWS       8192u /* rows a shard folds before it serves others */

struct hdb_db_opts {
    struct hdb_store_opts store;   /* every shard's store; store.cache_bytes is the total */
    uint32_t shards;               /* when creating: 0 = usable CPUs; ignored on reopen */
    uint32_t threads;              /* [performance] worker_threads: 0 = usable CPUs */
    bool pin_threads;              /* pin each thread to one CPU of the affinity mask */
    bool parallel_recovery;        /* [crash_recovery] parallel_recovery */
    uint32_t txn_idle_timeout_ms;  /* a transaction idle longer is aborted (0 = never) */
    uint32_t version_retention_ms; /* how old a transaction's snapshot may get */
    /* [snapshot]: automatic snapshots every snapshot_interval_minutes (0: none) while
     * enable_cow_snapshots, keeping the newest snapshot_retention automatic ones (0: all). */
    bool enable_cow_snapshots;
    uint32_t snapshot_interval_ms;
    uint32_t snapshot_retention;
    /* Tests: called at named points of the two-phase commit ("prepared", "decided",
     * "applied") with the coordinator's shard; a test may _exit there. */
    void (*twopc_hook)(void *ctx, const char *point, uint32_t shard);
    void *twopc_hook_ctx;
};

void hdb_db_opts_default(struct hdb_db_opts *o);
struct hdb_config;
/* The options a loaded configuration (core/config.h) asks for: every key it marks active. */
void hdb_db_opts_from_config(const struct hdb_config *cfg, struct hdb_db_opts *o);

struct hdb_db;
struct hdb_conn;
struct hdb_txn;
struct hdb_table;

/* What hdb_db_open found and did. */
struct hdb_db_open_info {
    bool created;
    uint32_t shards, threads;
    uint64_t recovery_ns;        /* wall time of the shards' recovery */
    uint64_t recovery_ns_max;    /* the slowest shard's own recovery */
    uint64_t wal_records;        /* records replayed over all shards */
    uint32_t prepared_committed; /* in-doubt multi-shard commits finished from a decision */
    uint32_t prepared_aborted;   /* in-doubt ones with no durable decision, rolled back */
    uint64_t commit_ts;          /* the global commit timestamp after recovery */
    bool cut;                    /* the last run was in async mode: shards were cut back */
    uint64_t cut_ts;             /* ... to this timestamp, which every shard durably passed */
    uint64_t cut_records;        /* WAL records left out by the cut, over all shards */
};

/*
 * Creates or recovers the database in directory `path` and returns when
 * every shard is ready. `info` may be NULL. HDB_BUSY: another process has it
 * open. HDB_CORRUPT: a shard's files or the manifest are damaged (the
 * message names the file).
 */
int hdb_db_open(const char *path, const struct hdb_db_opts *opts, struct hdb_db **out,
                struct hdb_db_open_info *info, struct hdb_err *err);
/* Stops the shards once their queues are drained, checkpoints, joins the threads and
 * frees everything. Every connection must have been disconnected. */
int hdb_db_close(struct hdb_db *db, struct hdb_err *err);
uint32_t hdb_db_shards(const struct hdb_db *db);
/* How long versions stay readable for transactions' snapshots (pages they reach wait as long). */
uint32_t hdb_db_version_retention_ms(const struct hdb_db *db);
uint64_t hdb_db_commit_ts(const struct hdb_db *db);

/*
 * A service the shard threads run between their turns. `heliosdb serve` puts
 * each thread's network connections here, so a request is read, executed and
 * answered on a shard thread, and its statements' messages to that thread's
 * own shards cost no thread switch (DESIGN §7).
 *
 * turn(arg, thread, now_ns, &next_ns) runs on shard thread `thread` once per
 * loop turn and returns how much it did (0 lets the thread sleep; next_ns may
 * be lowered to be called again by then). It must not block on anything but
 * this layer: its waits for shard replies, hdb_db_lock_* and hdb_db_pause
 * take the thread's shard turns meanwhile, so a thread never waits for
 * itself. fds[thread] (or -1) is a descriptor the sleeping thread also polls
 * for POLLIN (the service has work). Not nested: while a turn waits, the
 * thread runs its shards only.
 */
struct hdb_db_service {
    uint64_t (*turn)(void *arg, uint32_t thread, uint64_t now_ns, uint64_t *next_ns);
    void *arg;
    int fds[HDB_SHARDS_MAX];
};
/* The number of shard threads (services get one turn function call per thread). */
uint32_t hdb_db_threads(const struct hdb_db *db);
/* Installs `svc` (kept by pointer until replaced) or, with NULL, removes it; returns once no
 * thread runs the previous one. Never from a shard thread. */
void hdb_db_set_service(struct hdb_db *db, const struct hdb_db_service *svc);
/* On a shard thread: one turn of its shards, without waiting (long work of a service's statement
 * calls it now and then, so the thread's shards keep answering the other threads); elsewhere
 * nothing. */
void hdb_db_yield(struct hdb_db *db);
/* Waits `ms` milliseconds; on a shard thread its shards keep working meanwhile. */
void hdb_db_pause(struct hdb_db *db, uint32_t ms);
/* Locks for state shared between threads that is held across shard waits: on a shard thread they
 * try, and run the thread's shard turns between tries (so the holder's replies still come);
 * elsewhere they block. */
void hdb_db_lock_mutex(struct hdb_db *db, pthread_mutex_t *m);
void hdb_db_lock_read(struct hdb_db *db, pthread_rwlock_t *l);
void hdb_db_lock_write(struct hdb_db *db, pthread_rwlock_t *l);

/* A connection for the calling thread (HDB_FULL past HDB_CONNS_MAX). */
int hdb_db_connect(struct hdb_db *db, struct hdb_conn **out, struct hdb_err *err);
/* Rolls back an open transaction and frees the connection. */
void hdb_db_disconnect(struct hdb_conn *c);

/*
 * One pointer the layer above keeps per database (the SQL layer's shared
 * state). The first call with `make` creates it (make may connect); every
 * call returns the same one. hdb_db_close calls `drop` first, while the
 * shards still serve, so drop may run transactions and must disconnect what
 * make connected.
 */
void *hdb_db_attachment(struct hdb_db *db, void *(*make)(struct hdb_db *), void (*drop)(void *));

/* The table called `name` (created on every shard when `create`); owned by the db. */
int hdb_kv_table(struct hdb_conn *c, const char *name, bool create, struct hdb_table **out,
                 struct hdb_err *err);
/*
 * Drops table `name` on every shard (durable when this returns; HDB_NOTFOUND if missing). Its
 * pages are reused after the usual checkpoints. Only for a table no transaction can use any
 * more (the SQL layer's VACUUM drops those of dropped tables and indexes): handles to it fail.
 */
int hdb_kv_table_drop(struct hdb_conn *c, const char *name, struct hdb_err *err);
/* Checkpoints every shard now (async mode: each through its freeze, docs/shards.md) and returns
 * when all are durable. */
int hdb_db_checkpoint(struct hdb_conn *c, struct hdb_err *err);
/*
 * Compaction (VACUUM): every shard moves tree pages from where its data file could end down into
 * its lowest free pages (a turn of at most 2,048 per shard; see hdb_store_compact), with no
 * change to any key or value. *moved adds up the pages moved; *more says a shard has more to
 * move. The old places are freed by later checkpoints (after version_retention_ms, as readers of
 * older versions may still use them), which then trim the files.
 */
int hdb_db_compact(struct hdb_conn *c, uint64_t *moved, bool *more, struct hdb_err *err);
/* The shard that owns `key`. */
uint32_t hdb_kv_shard_of(const struct hdb_db *db, const void *key, uint32_t klen);

/*
 * Transactions. One per connection at a time; begin takes the snapshot.
 * Reads return HDB_NOTFOUND for a missing key. A transaction whose snapshot
 * has become older than version_retention_ms, or that stayed idle past
 * txn_idle_timeout_ms, fails with HDB_CONFLICT and must be rolled back.
 */
int hdb_txn_begin(struct hdb_conn *c, struct hdb_txn **out, struct hdb_err *err);
int hdb_txn_get(struct hdb_txn *t, struct hdb_table *tb, const void *key, uint32_t klen,
                struct hdb_buf *val, struct hdb_err *err);
/*
 * Reads `n` keys of one table at once: the requests go to their shards together (at most 32 per
 * shard in flight), so a batch costs about one round trip instead of n. found[i] says whether
 * key i exists; vals[i] then holds its value. Validation covers every key, as for hdb_txn_get.
 */
int hdb_txn_get_many(struct hdb_txn *t, struct hdb_table *tb, uint32_t n,
                     const uint8_t *const *keys, const uint32_t *klens, struct hdb_buf *vals,
                     bool *found, struct hdb_err *err);
int hdb_txn_put(struct hdb_txn *t, struct hdb_table *tb, const void *key, uint32_t klen,
                const void *val, uint32_t vlen, struct hdb_err *err);
int hdb_txn_delete(struct hdb_txn *t, struct hdb_table *tb, const void *key, uint32_t klen,
                   struct hdb_err *err);
/*
 * Writes placed on a given shard instead of the one the key hashes to, for a table whose keys are
 * only ever found by scans (which read every shard): the SQL layer keeps a row's non-unique index
 * entries on the row's shard, so writing a row and its entries stays a one-shard commit. A key
 * must always be written at the same shard; point reads of such keys find nothing elsewhere.
 */
int hdb_txn_put_at(struct hdb_txn *t, struct hdb_table *tb, uint32_t shard, const void *key,
                   uint32_t klen, const void *val, uint32_t vlen, struct hdb_err *err);
int hdb_txn_delete_at(struct hdb_txn *t, struct hdb_table *tb, uint32_t shard, const void *key,
                      uint32_t klen, struct hdb_err *err);
/* Called per row in key order; return false to stop. Pointers are valid during the call. */
typedef bool (*hdb_scan_row_fn)(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                                uint32_t vlen);
/* Rows with lo <= key < hi (hi NULL: no upper end), at most `limit`, in key order. */
int hdb_txn_scan(struct hdb_txn *t, struct hdb_table *tb, const void *lo, uint32_t lolen,
                 const void *hi, uint32_t hilen, uint32_t limit, hdb_scan_row_fn row, void *ctx,
                 struct hdb_err *err);
/*
 * Partial work on the shards' own threads (the SQL layer's aggregates): shard s calls
 * fold(ctxs[s], key, klen, val, vlen, err) for each of its rows with lo <= key < hi (hi NULL: no
 * upper end) in key order, at the transaction's snapshot, and fold(ctxs[s], NULL, 0, NULL, 0,
 * err) after the last row of each turn (a shard folds HDB_FOLD_TURN_ROWS rows per turn, then serves
 * other requests before it goes on). The shards run at once; each ctx is touched only by its
 * shard, one call at a time, and the caller waits meanwhile. A status other than HDB_OK from
 * fold stops it (the others at their next turn) and is returned with the message fold put in
 * err. The range joins the read set as a scan's does. The transaction's own writes are not
 * folded: HDB_INVALID if it has written to `tb` (see hdb_txn_wrote). fold runs on a shard's
 * thread: it may not use connections or transactions, and should be quick per row.
 */
typedef int (*hdb_fold_fn)(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                           uint32_t vlen, struct hdb_err *err);
int hdb_txn_fold(struct hdb_txn *t, struct hdb_table *tb, const void *lo, uint32_t lolen,
                 const void *hi, uint32_t hilen, hdb_fold_fn fold, void *const *ctxs,
                 struct hdb_err *err);
/* Has the transaction buffered a write to `tb`? */
bool hdb_txn_wrote(const struct hdb_txn *t, const struct hdb_table *tb);
/* Validates and commits; the transaction is over whatever this returns. */
int hdb_txn_commit(struct hdb_txn *t, struct hdb_err *err);
void hdb_txn_rollback(struct hdb_txn *t);
/* The snapshot timestamp; after a successful commit, the commit timestamp (0 if read-only). */
uint64_t hdb_txn_ts(const struct hdb_txn *t);
/* Shards the transaction has written to so far. */
uint32_t hdb_txn_write_shards(const struct hdb_txn *t);

/* Autocommit helpers: one operation in its own transaction. */
int hdb_kv_get(struct hdb_conn *c, struct hdb_table *tb, const void *key, uint32_t klen,
               struct hdb_buf *val, struct hdb_err *err);
int hdb_kv_put(struct hdb_conn *c, struct hdb_table *tb, const void *key, uint32_t klen,
               const void *val, uint32_t vlen, struct hdb_err *err);

/*
 * Snapshots (docs/shards.md). A snapshot is the database as a read at one
 * commit timestamp sees it, on every shard: creating one takes a new
 * timestamp from the clock (its id), pins each shard's version at it (no
 * page copied or read) and makes that durable with one WAL record per
 * shard; it then survives crashes until dropped. At most one snapshot
 * operation runs at a time (others wait). A create that fails on any shard
 * is undone on the others.
 */
struct hdb_snapshot_info {
    uint64_t id;         /* the commit timestamp it holds; unique, increasing */
    uint64_t created_ms; /* wall clock (ms since the epoch) at creation */
};
int hdb_snapshot_create(struct hdb_conn *c, struct hdb_snapshot_info *out, struct hdb_err *err);
/* HDB_NOTFOUND if there is no snapshot `id`; HDB_BUSY while a backup of it runs. */
int hdb_snapshot_drop(struct hdb_conn *c, uint64_t id, struct hdb_err *err);
/* Copies up to `max` snapshots, oldest first; returns how many exist. */
uint32_t hdb_snapshot_list(struct hdb_db *db, struct hdb_snapshot_info *out, uint32_t max);
/* A read-only transaction that reads snapshot `id` (writes fail with HDB_READONLY). */
int hdb_txn_begin_snapshot(struct hdb_conn *c, uint64_t id, struct hdb_txn **out,
                           struct hdb_err *err);

/*
 * Online backup: writes snapshot `id` to the new directory `dir` (which must
 * not exist) as a database of the same shard count that hdb_db_open opens,
 * holding exactly the snapshot's rows, while the database goes on serving.
 * Rows are read from the shards in batches and written by the calling
 * thread into stores of its own; the directory appears (renamed from
 * `dir`.partial) only once complete and synced. `progress` (may be NULL) is
 * called after every batch.
 */
struct hdb_backup_progress {
    uint32_t shard, shards; /* shard being copied; total */
    uint64_t rows, bytes;   /* copied so far (keys + values) */
    bool done;              /* the last call */
};
typedef void (*hdb_backup_progress_fn)(void *ctx, const struct hdb_backup_progress *p);
int hdb_snapshot_backup(struct hdb_conn *c, uint64_t id, const char *dir,
                        hdb_backup_progress_fn progress, void *ctx, struct hdb_err *err);

/* Per-shard counters, read through a message to each shard. */
struct hdb_shard_stats {
    struct hdb_store_stats store;
    uint64_t commits_single, prepares, commits_2pc, aborts_2pc, conflicts;
    uint64_t reads_waited, versions_held, prepared_now, recent_writes;
    uint64_t cleans_dropped;  /* applied markers left for the next open (outbox full) */
    uint64_t markers_written; /* applied markers of multi-shard commits written here */
    uint64_t markers_deleted; /* ... and deleted once every participant's apply was durable */
    uint64_t freezes, freezes_given_up, freeze_us_max; /* async checkpoints (docs/shards.md) */
    /* Messages waiting for this shard when the stats were taken, in the rings from connections
     * and from other shards. */
    uint64_t ring_depth;
};
int hdb_db_shard_stats(struct hdb_conn *c, uint32_t shard, struct hdb_shard_stats *out,
                       struct hdb_err *err);
/*
 * Runs the storage verification (core/store.h, hdb_store_verify) of one
 * shard on its thread, which serves nothing else meanwhile: `problem` is
 * called for each finding, on that thread, while the caller waits.
 */
int hdb_db_verify_shard(struct hdb_conn *c, uint32_t shard,
                        void (*problem)(void *ctx, const char *msg), void *ctx,
                        struct hdb_verify_report *out, struct hdb_err *err);

#endif
