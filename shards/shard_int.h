/*
 * shard_int.h — structures shared by the shard runtime's files: db.c (open,
 * close, threads, recovery), shard.c (what a shard does with a message) and
 * conn.c (connections and transactions on the caller's side).
 *
 * Messages. A caller pushes {type, payload = struct req *} onto its
 * connection's ring to the shard; the shard handles it and pushes the same
 * payload back on the connection's reply ring. The payload (and everything
 * it points to) belongs to the caller, who does not touch it until the
 * reply. Shards talk to each other over one ring per ordered pair (FORGET:
 * a participant tells the coordinator a multi-shard commit is durable).
 */
#ifndef HDB_SHARD_INT_H
#define HDB_SHARD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <xxhash.h>

#include "shards/kv.h"
#include "shards/ring.h"

#define CONN_RING_CAPACITY  64u    /* requests one connection can have at one shard */
#define SHARD_RING_CAPACITY 4096u  /* >= what one shard can owe another (FORGETs) */
#define SHARD_DRAIN_MAX     256u   /* messages taken from one ring per loop turn */
#define SHARD_VERSIONS_MAX  256u   /* published versions a shard keeps for snapshot reads */
#define SHARD_LOG_ENTRIES   65536u /* recent writes kept for validation */
#define SHARD_OUTBOX_MAX    (HDB_CONNS_MAX * 4u)
#define SYS_PREPARED_TREE   "_sys.prepared"
#define SYS_DECISIONS_TREE  "_sys.decisions"
#define SNAP_FLAG_AUTO      1u            /* made by the automatic snapshot thread */
#define SHARD_FREEZE_MAX_NS 1000000000ull /* async: longest a checkpoint holds user commits */

_Static_assert((CONN_RING_CAPACITY & (CONN_RING_CAPACITY - 1)) == 0, "power of two");
_Static_assert((SHARD_RING_CAPACITY & (SHARD_RING_CAPACITY - 1)) == 0, "power of two");
_Static_assert(SHARD_RING_CAPACITY >= SHARD_OUTBOX_MAX, "a shard never owes more than a ring");

enum msg_type {
    MSG_GET = 1,
    MSG_SCAN,
    MSG_COMMIT1, /* single-shard commit: validate + log + apply */
    MSG_PREPARE, /* 2PC phase one on a participant */
    MSG_COMMIT2, /* 2PC phase two on a participant: apply, leave an applied marker */
    MSG_ABORT2,  /* 2PC: a prepared participant rolls back */
    MSG_TREE,    /* find or create a tree */
    MSG_STATS,
    MSG_VERIFY,      /* hdb_store_verify on the shard's thread */
    MSG_FORGET,      /* shard to shard: a participant's part is durable */
    MSG_CLEAN,       /* shard to shard: every part is durable, drop the applied marker */
    MSG_SNAP_CREATE, /* pin the version at ts as snapshot ts (a read at ts, then durable) */
    MSG_SNAP_DROP,
    MSG_SNAP_TREES, /* the snapshot's user trees: rows of name -> u32 id */
    MSG_TREE_DROP,  /* drop a tree (missing: fine) */
    MSG_CHECKPOINT, /* checkpoint now (async mode: through the freeze), reply when done */
    MSG_FOLD,       /* a read: run the caller's fold over a key range, one turn's worth */
    MSG_COMPACT,    /* move tree pages from the file's tail into free pages (hdb_store_compact) */
};

/* A key read by a transaction, or a write it buffered. */
struct txn_key {
    uint32_t shard;
    uint32_t tree; /* the tree's id on that shard */
    uint64_t hash; /* XXH3 of tree and key, to compare quickly */
    uint8_t *key;
    uint32_t klen;
};

struct txn_write {
    struct txn_key k;
    bool del;
    uint8_t *val;
    uint32_t vlen;
};

struct txn_range {
    uint32_t shard, tree;
    uint8_t *lo, *hi; /* hi NULL: to the end */
    uint32_t lolen, hilen;
};

/* The part of a transaction one shard sees at commit (points into the txn's arrays). */
struct txn_part {
    uint64_t txn_id;
    uint64_t snapshot_ts;
    uint32_t coordinator;
    struct txn_key **reads;
    uint32_t nreads;
    struct txn_range **ranges;
    uint32_t nranges;
    struct txn_write **writes;
    uint32_t nwrites;
};

struct scan_rows {
    uint8_t
        *buf; /* [u32 klen][u32 vlen][key][val] ..., malloc'd by the shard, freed by the caller */
    size_t len, cap;
    uint32_t count;
};

struct req {
    uint32_t type;
    uint32_t shard;
    struct hdb_conn *conn;
    /* in */
    uint64_t ts;   /* snapshot timestamp, or the decision's commit timestamp */
    uint64_t snap; /* reads: through snapshot `snap` (0: at ts); MSG_SNAP_*: its id */
                   /* MSG_SNAP_CREATE: limit carries the snapshot's flags (SNAP_FLAG_*) */
    uint64_t created_ms;
    uint32_t tree;
    const uint8_t *key, *hi;
    uint32_t klen, hilen, limit;
    const char *name;
    bool create; /* MSG_TREE: create if missing; MSG_ABORT2: keep the durable prepared record */
    struct txn_part part;
    uint16_t *participants;
    uint32_t nparticipants;
    /* out */
    uint64_t out_ts; /* MSG_PREPARE: the participant's p_lower */
    int status;
    char msg[HDB_ERR_MSG_BYTES_MAX];
    struct hdb_buf val;
    struct scan_rows rows;
    struct hdb_shard_stats *stats;
    struct hdb_verify_report *verify;
    void (*problem)(void *ctx, const char *msg); /* MSG_VERIFY: called on the shard's thread */
    void *problem_ctx;
    hdb_fold_fn fold; /* MSG_FOLD: called on the shard's thread; `val` gets where to go on */
    void *fold_ctx;
    bool more;             /* MSG_FOLD out: rows are left from `val` on */
    struct req *next_wait; /* shard's list of reads waiting for a timestamp */
};

struct db_snap {
    struct hdb_snapshot_info info;
    uint32_t flags;
    uint32_t backups; /* backups reading it now: it cannot be dropped meanwhile */
};

/* A key-value table's handle: owned by the db, valid until it closes (a dropped table's handle
 * is retired from the registry, not freed, so holders see its requests fail instead of reading
 * freed memory). */
struct hdb_table {
    char name[HDB_TREE_NAME_BYTES_MAX + 1];
    uint64_t hash;                 /* of the name: the registry's buckets */
    struct hdb_table *bucket_next; /* the next live table of its bucket */
    struct hdb_table *retired;     /* the next dropped one (freed at close) */
    uint32_t ids[];                /* [shards] the tree's id on each shard */
};
#define TABLE_BUCKETS 4096u /* the registry's hash buckets (a power of two) */

struct shard;
struct thread;

struct hdb_conn {
    struct hdb_db *db;
    uint32_t slot;
    struct hdb_ring *to_shard;   /* [shards] caller -> shard */
    struct hdb_ring *from_shard; /* [shards] shard -> caller */
    alignas(HDB_CACHE_LINE) _Atomic uint32_t wake_seq;
    _Atomic uint32_t sleeping;
    /* A shard thread waiting for this connection's replies (index + 1; 0: none): replies wake
     * that thread, which runs its shards while it waits. */
    _Atomic uint32_t host;
    uint32_t outstanding;
    uint64_t txn_seq;
    struct hdb_txn *txn;
};

struct hdb_txn {
    struct hdb_conn *conn;
    bool open, failed;
    uint64_t snap; /* reading a snapshot (read-only) */
    uint64_t snapshot_ts, commit_ts, id;
    uint64_t last_used_ns;
    struct txn_key *reads;
    uint32_t nreads, reads_cap;
    struct txn_range *ranges;
    uint32_t nranges, ranges_cap;
    struct txn_write *writes;
    uint32_t nwrites, writes_cap;
    /* Once a transaction has many writes: an open-addressing index of them by hash (slot value
     * = write index + 1, 0 = empty), so finding its own writes stays O(1). */
    uint32_t *widx;
    uint32_t widx_cap;
};

struct thread {
    struct hdb_db *db;
    uint32_t index;
    int cpu; /* -1: not pinned */
    pthread_t tid;
    int eventfd;
    alignas(HDB_CACHE_LINE) _Atomic uint32_t sleeping;
    _Atomic uint32_t loops;      /* turns taken; disconnect waits for it to move */
    _Atomic uint32_t in_service; /* in the service's turn (hdb_db_set_service waits it out) */
    struct shard **shards;
    uint32_t nshards;
    bool started; /* pthread_create succeeded: join it */
    int open_status;
    struct hdb_err open_err;
};

struct hdb_db {
    char *path;
    struct hdb_db_opts opts;
    uint32_t nshards, nthreads;
    uint32_t manifest_flags; /* MANIFEST_FLAG_* as read at open */
    struct hdb_io *io;       /* for the manifest and the LOCK */
    struct hdb_lock *lock;
    struct shard **shards;
    struct thread *threads;
    /* The global commit timestamp: the one shared writable word on the data path. */
    alignas(HDB_CACHE_LINE) _Atomic uint64_t clock;
    /* Async mode: the shard whose checkpoint is waiting for every mark (UINT32_MAX: none). */
    alignas(HDB_CACHE_LINE) _Atomic uint32_t ckpt_owner;
    alignas(HDB_CACHE_LINE) _Atomic(struct hdb_conn *) conns[HDB_CONNS_MAX];
    _Atomic uint32_t conn_slots; /* slots below this have been used: shards scan only those */
    _Atomic uint32_t stop;
    _Atomic uint32_t go;   /* recovery resolved: shards may serve */
    pthread_mutex_t admin; /* connect/disconnect and the table registry; never on the data path */
    struct hdb_table **table_buckets; /* [TABLE_BUCKETS] live tables by name hash */
    struct hdb_table *tables_retired; /* dropped tables' handles, freed at close */
    uint32_t ntables;                 /* live tables */
    /* Snapshots that exist on every shard (snap.c), oldest first. */
    pthread_mutex_t snap_lock; /* one create/drop/backup registry change at a time */
    struct db_snap *snaps;
    uint32_t nsnaps, snaps_cap;
    pthread_t auto_tid; /* automatic snapshots ([snapshot] snapshot_interval_minutes) */
    bool auto_started, auto_stop;
    pthread_mutex_t auto_mu;
    pthread_cond_t auto_cv;
    uint64_t conn_txn_seq[HDB_CONNS_MAX];
    /* the layer above's shared state (hdb_db_attachment); set once, read on every statement */
    _Atomic(void *) attachment;
    void (*attachment_drop)(void *);
    /* hdb_db_set_service: what the threads run between their turns (NULL: nothing) */
    _Atomic(const struct hdb_db_service *) service;
};

/* The hash that read sets, write sets and the validation log compare first. */
static inline uint64_t key_hash(uint32_t tree, const void *key, uint32_t klen)
{
    return XXH3_64bits_withSeed(key, klen, tree);
}

/* shard.c */
int shard_create(struct hdb_db *db, uint32_t id, struct shard **out, struct hdb_err *err);
/* Runs on the shard's thread: opens (recovers) the store. */
int shard_open(struct shard *sh, struct hdb_err *err);
/* One loop turn: returns how much it did; *next_ns gets when it wants to run again. */
uint32_t shard_turn(struct shard *sh, uint64_t now_ns, uint64_t *next_ns);
bool shard_idle(const struct shard *sh);
int shard_close(struct shard *sh, struct hdb_err *err);
void shard_free(struct shard *sh);
struct hdb_ring *shard_ring_from(struct shard *sh, uint32_t from);
uint32_t shard_thread(const struct shard *sh);
uint32_t shard_id(const struct shard *sh);
/* Recovery, before serving (db.c calls these from the opening thread). */
void shard_recover_label(struct shard *sh, uint64_t clock);
const struct hdb_recovery_info *shard_recovery_info(const struct shard *sh);
/* Opens the store again leaving out every commit above cut_ts (the async recovery cut). */
int shard_reopen_cut(struct shard *sh, uint64_t cut_ts, struct hdb_err *err);
/* Async mode: makes a watermark of at most ts durable now (after recovery, before close). */
int shard_mark_now(struct shard *sh, uint64_t ts, struct hdb_err *err);
uint64_t shard_last_ts(const struct shard *sh);
void shard_recovery(const struct shard *sh, uint64_t *ns, uint64_t *records);
/* Per prepared record, or per applied marker (`marker`) of a multi-shard commit. */
typedef int (*shard_prepared_fn)(void *ctx, struct shard *sh, uint64_t txn, bool marker,
                                 uint32_t coordinator, const uint8_t *val, uint32_t vlen);
/* A prepared record's participants and p_lower, or a marker's participants and commit ts. */
struct prepared_trailer {
    bool present; /* false: a record from before trailers (it needs a decision record) */
    uint64_t p_lower;
    uint32_t nparts;
    uint16_t parts[HDB_SHARDS_MAX];
};
int shard_prepared_trailer(const uint8_t *val, uint32_t vlen, struct prepared_trailer *t);
int shard_marker_decode(const uint8_t *val, uint32_t vlen, struct prepared_trailer *t);
int shard_each_prepared(struct shard *sh, shard_prepared_fn fn, void *ctx, struct hdb_err *err);
int shard_find_decision(struct shard *sh, uint64_t txn, uint64_t *commit_ts, struct hdb_err *err);
int shard_resolve_prepared(struct shard *sh, uint64_t txn, const uint8_t *val, uint32_t vlen,
                           bool commit, uint64_t commit_ts, struct hdb_err *err);
/* After resolving: deletes every decision record and applied marker, durably. */
int shard_clear_decisions(struct shard *sh, struct hdb_err *err);
struct hdb_store *shard_store(struct shard *sh); /* recovery only: before the shards serve */

/* db.c */
/* The shard thread running the caller (NULL on any other thread). */
struct thread *db_current_thread(const struct hdb_db *db);
/* One turn of the thread's shards (not its service), counted in `loops`; returns the work done. */
uint64_t db_thread_turns(struct thread *t, uint64_t now_ns, uint64_t *next_ns);
/* Sleeps until a push wakes the thread or `next_ns`; `waiting` (may be NULL): a connection
 * whose replies also end the sleep. `service`: the service's descriptor ends it too. */
void db_thread_sleep(struct thread *t, uint64_t now_ns, uint64_t next_ns,
                     const struct hdb_conn *waiting, bool service);
/* A waiting shard thread's step: a turn of its shards, and a short sleep after idle steps. */
void db_thread_step(struct thread *t, uint32_t *idle);
void db_wake_thread(struct hdb_db *db, uint32_t thread);
void db_wake_conn(struct hdb_conn *c);
uint64_t db_now_ns(void);
void db_clock_advance(struct hdb_db *db, uint64_t ts);
#define MANIFEST_FLAG_ASYNC 1u /* the database was last opened in async mode */
int db_manifest_write(struct hdb_io *io, const char *dir, uint32_t shards, uint32_t page_size,
                      uint32_t flags, struct hdb_err *err);
/* conn.c, for snap.c: send one request per shard and wait for every reply. */
void conn_send(struct hdb_conn *c, uint32_t shard, struct req *r);
void conn_wait_all(struct hdb_conn *c);
int req_status(const struct req *r, struct hdb_err *err);

/* snap.c */
int snap_recover(struct hdb_db *db, uint64_t cut_ts, uint64_t *max_ts, struct hdb_err *err);
int snap_auto_start(struct hdb_db *db, struct hdb_err *err);
void snap_auto_stop(struct hdb_db *db);
void snap_free(struct hdb_db *db);

#endif
