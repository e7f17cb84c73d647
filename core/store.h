/*
 * store.h — one storage engine instance: a data file of copy-on-write
 * B+trees, its write-ahead log, group commit, checkpoints, crash recovery
 * and verification. One thread owns a store (later: one per shard).
 *
 * Files in the store's directory:
 *   LOCK               flock'd while open (HDB_BUSY names the holder's PID)
 *   data               pages; 0 and 1 are the superblock copies
 *   wal-<seq>.log      WAL segments (see wal.h)
 *
 * Versions. Writers change a private working version; publishing turns it
 * into an immutable version (a generation number and the root of every
 * tree) that readers take and release in O(1) while writes go on. In
 * "sync" WAL mode the working version is published after its commit
 * group's fdatasync, so a commit is visible only once durable; in "async"
 * mode it is published when the commit is applied, and the WAL is written
 * and fdatasynced at the latest `async_flush_interval_us` later (driven by
 * hdb_store_poll), which bounds what a crash can lose.
 *
 * Group commit. hdb_store_commit applies a commit to the working version
 * and appends its records to the pending WAL group; it does not wait. The
 * group is written, fdatasynced and acknowledged (each commit's `done`
 * callback) by hdb_store_flush, by hdb_store_poll once the oldest pending
 * commit is `group_commit_delay_us` old, or at once when the group reaches
 * `group_commits_max` commits. hdb_store_commit_sync does both for callers
 * that want one durable commit.
 *
 * Space. A page that leaves the working version is reused only when no
 * held version can reach it and, if a durable checkpoint references it,
 * after two later checkpoints are durable (either superblock copy may be
 * the one that survives). WAL segments are kept back to the older of the
 * two checkpoints for the same reason.
 *
 * Checkpoint: dirty pages -> fdatasync -> superblock copy (alternating,
 * checksummed; it holds the catalog and free-list chains) -> fdatasync ->
 * recycle WAL segments. On demand, on close, and from hdb_store_poll when
 * the live WAL passes `checkpoint_wal_bytes`.
 *
 * Failure. An I/O error while writing the WAL or a checkpoint is never
 * retried: pending commits fail with the error and the store refuses
 * writes (HDB_READONLY) until it is closed and reopened, which recovers.
 * In sync mode a commit that cannot be applied (a page that fails its
 * checksum, an I/O error reading or evicting a page, no memory) also fails
 * the other commits of its pending group with the same error — they changed
 * the same private pages — and the working version goes back to the newest
 * published one. In async mode only that commit fails.
 */
#ifndef HDB_STORE_H
#define HDB_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/btree.h"
#include "core/io.h"
#include "core/status.h"
#include "core/wal.h"

#define HDB_TREE_NAME_BYTES_MAX 128u
#define HDB_TREES_MAX           65536u
#define HDB_COMMIT_WRITES_MAX   100000u
#define HDB_GROUP_COMMITS_MAX   4096u

enum hdb_wal_mode {
    HDB_WAL_SYNC = 0,
    HDB_WAL_ASYNC = 1,
};

struct hdb_store_opts {
    uint32_t page_size;               /* [database] page_size; fixed when the store is created */
    uint64_t cache_bytes;             /* [database] cache_size_mb, as bytes */
    struct hdb_io_opts io;            /* [io] */
    bool checksums_enabled;           /* [checksums] enabled */
    bool verify_on_read;              /* [checksums] verify_on_read */
    uint32_t prefetch_pages;          /* [performance] prefetch_pages */
    enum hdb_wal_mode wal_mode;       /* [wal] mode */
    uint64_t wal_segment_bytes;       /* [wal] segment_size_mb, as bytes */
    uint32_t wal_max_segments;        /* [wal] max_segments */
    uint32_t group_commit_delay_us;   /* [wal] group_commit_delay_us */
    uint32_t group_commits_max;       /* commits per group before it is flushed at once */
    uint32_t async_flush_interval_us; /* async mode: longest a commit stays unwritten (10 ms) */
    uint64_t checkpoint_wal_bytes;    /* checkpoint from poll after this much WAL since the last
                                         one (0: a quarter of segment bytes * max_segments) */
    bool auto_replay_wal;             /* [crash_recovery] auto_replay_wal */
    bool checkpoint_by_owner;         /* poll never checkpoints: the owner asks
                                         hdb_store_checkpoint_due and checkpoints itself */
    bool replay_cut;                  /* recovery leaves out records with a commit timestamp
                                         above replay_ts_max and checkpoints at once */
    uint64_t replay_ts_max;
    bool lock;                /* take the directory's LOCK file (default true) */
    struct hdb_sim_disk *sim; /* tests: run on a simulated disk */
    hdb_io_fault_fn fault;    /* tests: I/O fault injection */
    void *fault_ctx;
};

void hdb_store_opts_default(struct hdb_store_opts *opts);

struct hdb_store;
struct hdb_version;

/* What recovery did when the store was opened. */
struct hdb_recovery_info {
    bool created;             /* a new store was made */
    uint64_t checkpoint_seq;  /* superblock copy used */
    bool superblock_fallback; /* the newest copy was damaged and the older one was used */
    struct hdb_wal_replay_stats wal;
    uint64_t mark;        /* the newest durable watermark (hdb_store_mark) */
    uint64_t max_ts;      /* largest commit timestamp met, left-out records included */
    uint64_t cut_records; /* records left out by opts.replay_cut */
    uint64_t ckpt_ts;     /* largest commit timestamp in the checkpoint replay started from */
    uint64_t duration_ns; /* whole open, including replay */
};

/*
 * Opens (creating if needed) the store in directory `dir`. Recovery runs
 * here: newest valid superblock, WAL replay, torn tail truncated. Returns
 * HDB_BUSY if another process has it open, HDB_CORRUPT if no superblock copy
 * is valid or the log is damaged in the middle.
 */
int hdb_store_open(const char *dir, const struct hdb_store_opts *opts, struct hdb_store **out,
                   struct hdb_recovery_info *info, struct hdb_err *err);
/* Flushes, checkpoints (unless failed) and frees everything, even on error. */
int hdb_store_close(struct hdb_store *s, struct hdb_err *err);

/* Named trees. Creation and drop are durable when these return. */
int hdb_store_tree_create(struct hdb_store *s, const char *name, uint32_t *id, struct hdb_err *err);
int hdb_store_tree_find(struct hdb_store *s, const char *name, uint32_t *id, struct hdb_err *err);
int hdb_store_tree_drop(struct hdb_store *s, const char *name, struct hdb_err *err);

struct hdb_write {
    uint8_t type; /* HDB_WAL_PUT or HDB_WAL_DELETE */
    uint32_t tree;
    const void *key;
    uint32_t klen;
    const void *val;
    uint32_t vlen;
};

/* Called once per accepted commit: status HDB_OK when durable (sync) or applied (async). */
typedef void (*hdb_commit_done_fn)(void *ctx, int status, const char *msg);

/*
 * Applies a commit to the working version and queues it in the pending
 * group. Returns an error (and never calls `done`) if the commit is refused
 * up front: bad tree, key or value size (HDB_INVALID/HDB_TOOBIG/
 * HDB_NOTFOUND), store failed (HDB_READONLY). Otherwise returns HDB_OK and
 * `done` (may be NULL) is called exactly once, possibly before this returns.
 * txn and commit_ts of 0 are assigned by the store.
 */
int hdb_store_commit(struct hdb_store *s, const struct hdb_write *writes, uint32_t n, uint64_t txn,
                     uint64_t commit_ts, hdb_commit_done_fn done, void *ctx, struct hdb_err *err);
/* Would a commit of these writes plus `extra_bytes` of log (other records' hdb_wal_rec_bytes) fit
 * in one WAL group? HDB_TOOBIG (naming both sizes) if not. For a commit that must not be refused
 * later, as a prepared multi-shard transaction's apply. */
int hdb_store_commit_fits(const struct hdb_store *s, const struct hdb_write *writes, uint32_t n,
                          uint64_t extra_bytes, struct hdb_err *err);
/*
 * Compaction (VACUUM): flushes the pending group, then moves tree pages that lie where the file
 * could end (page_count minus the pages free now) down into the lowest free pages, at most
 * `budget` copies, and publishes the result as a new version with the same contents (no WAL
 * record: a crash before the next checkpoint leaves the old layout, which stays valid). The old
 * places are freed like any released page, so later checkpoints trim the file's tail. *moved
 * counts the copies; *more says pages that could move were left.
 */
int hdb_store_compact(struct hdb_store *s, uint32_t budget, uint32_t *moved, bool *more,
                      struct hdb_err *err);
/* Commit and flush: returns when the commit is durable (sync) or applied (async). */
int hdb_store_commit_sync(struct hdb_store *s, const struct hdb_write *writes, uint32_t n,
                          struct hdb_err *err);
/* Writes, fdatasyncs and acknowledges the pending group now. */
int hdb_store_flush(struct hdb_store *s, struct hdb_err *err);
/*
 * Timed work for the owning thread's loop: group commit after
 * group_commit_delay_us, the async flush, background checkpoints.
 * `now_ns` is CLOCK_MONOTONIC. *next_ns (may be NULL) gets when to call again
 * (UINT64_MAX if nothing is pending).
 */
int hdb_store_poll(struct hdb_store *s, uint64_t now_ns, uint64_t *next_ns, struct hdb_err *err);
uint32_t hdb_store_pending_commits(const struct hdb_store *s);
/* Groups written and fdatasynced so far: a commit accepted while this read g is durable once it
 * reads more than g (async mode acknowledges commits before that). */
uint64_t hdb_store_flushed_groups(const struct hdb_store *s);

int hdb_store_checkpoint(struct hdb_store *s, struct hdb_err *err);
/* Has enough WAL been written since the last checkpoint for the next one? */
bool hdb_store_checkpoint_due(const struct hdb_store *s);

/*
 * Watermarks. The owner logs a mark M (a commit timestamp) to promise that
 * every commit it logged with a timestamp <= M is before the mark in the WAL
 * and that it logs none later. The mark rides in the pending group (no I/O
 * here; hdb_store_poll flushes it); hdb_store_durable_mark is the newest mark
 * on disk. Recovery reports the newest one (hdb_recovery_info.mark), also
 * across checkpoints. Marks that do not grow are ignored.
 */
int hdb_store_mark(struct hdb_store *s, uint64_t mark, struct hdb_err *err);
uint64_t hdb_store_durable_mark(const struct hdb_store *s);

/* Frees the store without flushing or checkpointing (recovery opening it again with a cut). */
void hdb_store_abandon(struct hdb_store *s);

/* Versions: take the newest published version (O(1)); release when done (O(1)). */
struct hdb_version *hdb_store_version_take(struct hdb_store *s);
void hdb_store_version_release(struct hdb_store *s, struct hdb_version *v);
uint64_t hdb_version_gen(const struct hdb_version *v);
uint64_t hdb_version_commit_ts(const struct hdb_version *v);
/* Generation of the newest published version: it changes exactly when a version is published. */
uint64_t hdb_store_published_gen(const struct hdb_store *s);

/*
 * Reads through a held version. v == NULL reads the newest published version
 * without holding it: valid only until the next commit, flush, poll,
 * checkpoint or tree call on this store, which may publish and let its pages
 * be reused. Take a version to read across such calls.
 */
int hdb_store_get(struct hdb_store *s, struct hdb_version *v, uint32_t tree, const void *key,
                  uint32_t klen, struct hdb_buf *val, struct hdb_err *err);
/* Positions nothing; use the hdb_cursor_* calls. The version must stay held while the cursor
 * is used (v == NULL: only until the next write call, as for hdb_store_get). */
int hdb_store_cursor(struct hdb_store *s, struct hdb_version *v, uint32_t tree,
                     struct hdb_cursor *c, struct hdb_err *err);

/*
 * Snapshots. A snapshot pins a published version under a caller-chosen
 * nonzero id: creating one copies nothing and reads or writes no data page
 * (the version's pages simply stay unreusable while it is pinned). It is
 * made durable by one WAL record (id, timestamp, and the LSN where the
 * version's records end), written and fdatasynced before create returns.
 * Every checkpoint writes all pages the snapshots reach and records them in
 * a snapshot table that the superblock points to, so after a crash a
 * snapshot comes back from the table or, if it is younger than the last
 * checkpoint, by replaying the WAL up to its LSN (recovery replays a second
 * time when that LSN is behind a later commit). If the version is older
 * than the last checkpoint's replay start, create runs a checkpoint too.
 * Dropping one is also a durable WAL record; its pages are reused after the
 * usual two checkpoints.
 */
#define HDB_STORE_SNAPSHOTS_MAX 4096u

struct hdb_store_snapshot {
    uint64_t id, tag, created_ms; /* as given to create; tag is the caller's (kept, not used) */
    uint64_t gen;                 /* the pinned version's generation */
};

/* Pins v (NULL: the newest published version). HDB_EXISTS if the id is taken,
 * HDB_FULL past HDB_STORE_SNAPSHOTS_MAX; on an I/O error the store fails. */
int hdb_store_snapshot_create(struct hdb_store *s, struct hdb_version *v, uint64_t id, uint64_t tag,
                              uint64_t created_ms, struct hdb_err *err);
/* HDB_NOTFOUND if there is no such snapshot. */
int hdb_store_snapshot_drop(struct hdb_store *s, uint64_t id, struct hdb_err *err);
/* The pinned version (valid until the snapshot is dropped), or NULL. */
struct hdb_version *hdb_store_snapshot_version(struct hdb_store *s, uint64_t id);
/* Copies up to `max` snapshots, oldest id first; returns how many there are. */
uint32_t hdb_store_snapshot_list(const struct hdb_store *s, struct hdb_store_snapshot *out,
                                 uint32_t max);
/* Name of tree `id` as the version saw it (trees dropped later keep their name), or NULL. */
const char *hdb_store_tree_name(const struct hdb_store *s, uint32_t id);
uint32_t hdb_version_trees(const struct hdb_version *v); /* tree ids are below this */
bool hdb_version_has_tree(const struct hdb_version *v, uint32_t id);

/*
 * Verification: checkpoints, then reads every page of the durable image
 * from disk and reports each problem: superblock copies, checksums, tree
 * structure, and page accounting (every page exactly one of: superblock,
 * tree, overflow, catalog or free-list chain, free; none referenced twice,
 * none lost). Returns HDB_OK if the walk ran; *problems counts findings.
 */
struct hdb_verify_report {
    uint64_t pages, tree_pages, free_pages, meta_pages, entries, trees, problems;
};
int hdb_store_verify(struct hdb_store *s, void (*problem)(void *ctx, const char *msg), void *ctx,
                     struct hdb_verify_report *report, struct hdb_err *err);

struct hdb_store_stats {
    uint64_t commits, commit_failures, groups, checkpoints, publishes;
    uint64_t pages_total, pages_free, pages_pending;
    uint64_t versions_held;
    uint64_t snapshots;
    uint64_t gen, durable_checkpoint_seq, last_commit_ts;
    struct hdb_cache_stats cache;
    struct hdb_wal_stats wal;
    struct hdb_io_stats io;
    bool io_uring;  /* I/O goes through io_uring (else the pread/pwrite fallback) */
    bool direct_io; /* the data file is open with O_DIRECT */
    bool failed;
};
void hdb_store_get_stats(const struct hdb_store *s, struct hdb_store_stats *out);
bool hdb_store_failed(const struct hdb_store *s);
const char *hdb_store_dir(const struct hdb_store *s);

#endif
