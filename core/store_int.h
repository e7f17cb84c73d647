/*
 * store_int.h — the inside of struct hdb_store, shared by store.c (open,
 * commit, versions), store_space.c (page allocation and reuse),
 * store_meta.c (superblock, catalog and free-list chains, checkpoint) and
 * store_verify.c. Nothing outside core/store*.c includes it.
 *
 * Superblock page (type HDB_PAGE_SUPER, pages 0 and 1; checkpoint number s
 * goes to page s % 2; the valid copy with the larger s wins):
 *
 *   off size field
 *    64    8 seq            checkpoint number (1 for a new store)
 *    72    8 gen            generation of the checkpointed version
 *    80   32 wal position   lsn, seg_seq, offset, epoch where replay starts
 *   112    8 commit_ts      largest commit timestamp in the checkpoint
 *   120    8 page_count     pages in use by the file (later ones are garbage)
 *   128    4 page_size
 *   132    4 tree_ids       next tree id
 *   136    8 catalog_head   first catalog chain page (0 = none)
 *   144    8 catalog_count  catalog entries
 *   152    8 free_head      first free-list chain page (0 = none)
 *   160    8 free_count     free-list entries
 *   168    8 txn            largest transaction id
 *   176    8 prev_lsn       replay start of the previous checkpoint (WAL kept from here)
 *   184    8 store_id       random, fixed at creation
 *   192    8 snap_head      first snapshot-table chain page (0 = none)
 *   200    8 snap_bytes     bytes of the snapshot table
 *   208    8 mark           the newest watermark logged before the checkpoint (hdb_store_mark)
 *
 * Chain page (catalog: HDB_PAGE_CATALOG, free list: HDB_PAGE_FREELIST):
 *
 *   off size field
 *    40    8 next           next page of the chain (0 = last)
 *    48    4 count          entries in this page
 *    52    4 bytes          body bytes used
 *    64    -  entries
 *
 * Free-list entry: pgno (8), last_ckpt (8): the page is free; it may be
 * written once checkpoint last_ckpt + 2 is durable (0: at once).
 * Catalog entry: id (4), name_len (2), 0 (2), root (8), name, zero pad to 8.
 *
 * Snapshot table (HDB_PAGE_SNAPSHOTS chain; one entry per page: the next
 * `bytes` of the table, which is split over pages in order):
 *
 *   nsnaps (4), 0 (4)
 *   per snapshot: id, tag, created_ms, gen, lsn_end (8 each), nroots (4), 0 (4),
 *     then per tree: id (4), name_len (2), 0 (2), root (8), name, zero pad to 8
 *   nheld (8), then per page: pgno, born, freed (8 each)
 *
 * Held pages are pages no longer in the checkpointed version that a
 * snapshot still reaches: they are in neither the trees nor the free list.
 */
#ifndef HDB_STORE_INT_H
#define HDB_STORE_INT_H

#include "core/cache.h"
#include "core/store.h"

#define HDB_SB_OFF_SEQ                 64
#define HDB_SB_OFF_GEN                 72
#define HDB_SB_OFF_WAL                 80
#define HDB_SB_OFF_COMMIT_TS           112
#define HDB_SB_OFF_PAGE_COUNT          120
#define HDB_SB_OFF_PAGE_SIZE           128
#define HDB_SB_OFF_TREE_IDS            132
#define HDB_SB_OFF_CATALOG_HEAD        136
#define HDB_SB_OFF_CATALOG_COUNT       144
#define HDB_SB_OFF_FREE_HEAD           152
#define HDB_SB_OFF_FREE_COUNT          160
#define HDB_SB_OFF_TXN                 168
#define HDB_SB_OFF_PREV_LSN            176
#define HDB_SB_OFF_STORE_ID            184
#define HDB_SB_OFF_SNAP_HEAD           192
#define HDB_SB_OFF_SNAP_BYTES          200
#define HDB_SB_OFF_MARK                208
#define HDB_CHAIN_OFF_NEXT             40
#define HDB_CHAIN_OFF_COUNT            48
#define HDB_CHAIN_OFF_BYTES            52
#define HDB_FREE_ENTRY_BYTES           16u
#define HDB_CATALOG_ENTRY_HEADER_BYTES 16u
#define HDB_ROOT_NONE                  UINT64_MAX /* a version's root slot for a tree that does not exist */

struct u64vec {
    uint64_t *v;
    size_t n, cap;
};
int u64vec_push(struct u64vec *a, uint64_t x);
void u64vec_free(struct u64vec *a);

/* A page that left the working version and is not reusable yet. */
struct pending_page {
    uint64_t pgno;
    uint64_t born;      /* gen that created it */
    uint64_t freed;     /* working gen when it left: reachable from versions [born, freed) */
    uint64_t last_ckpt; /* last checkpoint that may reference it (0: none) */
};

struct pending_vec {
    struct pending_page *v;
    size_t n, cap;
};

struct tree_slot {
    char *name; /* NULL: id unused */
    bool exists;
    uint64_t root;
};

struct hdb_version {
    uint64_t gen;
    uint64_t commit_ts;
    uint64_t lsn_end; /* every WAL record below this LSN is in the version, none after */
    uint32_t refs;
    uint32_t ntrees;
    uint64_t *roots; /* by tree id; HDB_ROOT_NONE if the tree does not exist */
    struct hdb_version *prev, *next;
};

/* A pinned snapshot (store_snap.c). */
struct store_snap {
    uint64_t id, tag, created_ms, lsn_end;
    struct hdb_version *v;
};

/* A snapshot that recovery must cut out of the WAL at lsn_end (second replay). */
struct snap_cut {
    uint64_t id, tag, created_ms, lsn_end;
};

struct commit_req {
    hdb_commit_done_fn done;
    void *ctx;
};

struct hdb_store {
    char *dir;
    char *data_path;
    struct hdb_store_opts opts;
    uint32_t page_size;
    uint64_t store_id;
    struct hdb_io *io;
    struct hdb_lock *lock;
    struct hdb_file *data;
    struct hdb_cache *cache;
    struct hdb_wal *wal;
    struct hdb_pager pager;

    /* Space (store_space.c). */
    uint64_t page_count;
    struct u64vec free_now;          /* reusable now; not cached */
    struct u64vec work_alloc;        /* allocated by the working gen */
    struct u64vec work_freed;        /* private pages the working gen released */
    struct u64vec meta_pages;        /* chain pages of the newest durable checkpoint */
    struct pending_vec pending;      /* waiting for held versions only */
    struct pending_vec pending_ckpt; /* waiting for checkpoints (and maybe versions) */
    size_t pending_scanned;          /* pending[0, this) are blocked by readers' versions */
    struct pending_vec young;        /* scratch for space_reclaim */
    bool reclaim_needed;

    /* Durable state. */
    uint64_t durable_seq;
    uint64_t durable_gen;
    uint64_t ckpt_lsn;
    uint64_t prev_ckpt_lsn;

    /* Versions. */
    uint64_t gen_work;
    struct hdb_version *current;
    struct hdb_version *vhead, *vtail; /* live versions, oldest first */
    uint64_t versions_live;

    /* Snapshots, by id ascending. */
    struct store_snap *snaps;
    uint32_t nsnaps, snaps_cap;
    /* Recovery: replay position, the LSN after the last applied change, and the cuts. */
    uint64_t replay_next, change_next;
    struct snap_cut *cuts;
    uint32_t ncuts, cuts_done, cuts_cap;
    bool redo; /* a snapshot needs a cut: replay again */
    /* Watermarks (hdb_store_mark) and the replay cut (opts.replay_ts_max). */
    uint64_t mark_logged, mark_durable;
    uint64_t max_ts_seen; /* largest commit_ts met, skipped records included */
    uint64_t ckpt_commit_ts;
    uint64_t cut_records;

    /* Trees, indexed by id (0 unused). */
    struct tree_slot *trees;
    uint32_t ntrees;

    /* Group commit. */
    struct commit_req *reqs;
    uint32_t nreqs;
    uint64_t first_pending_ns; /* 0: no unflushed records */
    uint64_t last_commit_ts;
    uint64_t last_txn;
    struct hdb_wal_rec *recs; /* scratch for one commit */
    uint32_t recs_cap;

    bool failed;
    struct hdb_err fail_err;
    bool in_checkpoint;
    uint64_t wal_bytes_at_ckpt; /* WAL bytes written when the last checkpoint finished */
    uint64_t stat_commits, stat_commit_failures, stat_groups, stat_checkpoints, stat_publishes;
};

/* Superblock contents, decoded. */
struct sb_fields {
    uint64_t seq, gen, commit_ts, page_count, catalog_head, catalog_count;
    uint64_t free_head, free_count, txn, prev_lsn, store_id, snap_head, snap_bytes, mark;
    uint32_t page_size, tree_ids;
    struct hdb_wal_pos wal;
};

/* store_space.c */
int space_alloc_work(void *ctx, uint64_t *pgno, struct hdb_err *err); /* pager->alloc */
void space_release_work(void *ctx, uint64_t pgno, uint64_t page_gen); /* pager->release */
int space_alloc_meta(struct hdb_store *s, uint64_t *pgno, struct hdb_err *err);
void space_reclaim(struct hdb_store *s);
void space_version_gone(struct hdb_store *s);
void space_publish(struct hdb_store *s);
void space_revert(struct hdb_store *s);
void space_checkpointed(struct hdb_store *s, uint64_t seq, uint64_t gen);
void space_mark_ckpt_refs(struct hdb_store *s, uint64_t seq, uint64_t gen);
void space_free(struct hdb_store *s);
/* Before a checkpoint: free pages at the end of the file leave it (page_count shrinks; the
 * checkpoint then truncates the file), and the rest are ordered so the lowest is reused first.
 * Returns the pages taken off. */
uint64_t space_trim_tail(struct hdb_store *s);
/* Compaction: orders the free pages lowest-first for reuse; returns where the file could end if
 * every used page sat below the free ones, and in *below how many free pages lie under it. */
uint64_t space_compact_target(struct hdb_store *s, uint64_t *below);
int space_retire_meta(struct hdb_store *s);
int space_load_free(struct hdb_store *s, uint64_t pgno, uint64_t last_ckpt);
int space_load_held(struct hdb_store *s, struct pending_page p);

/* store_meta.c */
int meta_write_superblock_initial(struct hdb_store *s, struct hdb_err *err);
int meta_read_superblock(struct hdb_store *s, struct sb_fields *f, bool *fresh,
                         struct hdb_recovery_info *info, struct hdb_err *err);
int meta_load_chains(struct hdb_store *s, const struct sb_fields *f, struct hdb_err *err);
int meta_checkpoint(struct hdb_store *s, struct hdb_err *err);
int meta_sb_check(const struct hdb_store *s, const uint8_t *p, uint32_t ps, uint32_t slot,
                  struct sb_fields *f, struct hdb_err *err);

/* store_snap.c */
struct snap_table_root {
    uint32_t tree;
    uint16_t name_len;
    const char *name; /* points into the table buffer, not terminated */
    uint64_t root;
};
struct snap_table_snap {
    uint64_t id, tag, created_ms, gen, lsn_end;
    uint32_t nroots;
    struct snap_table_root *roots;
};
struct snap_table {
    struct snap_table_snap *snaps;
    uint32_t nsnaps;
    struct pending_page *held; /* last_ckpt 0 */
    uint64_t nheld;
};
bool snap_holds(const struct hdb_store *s, uint64_t born, uint64_t freed);
int snap_table_encode(struct hdb_store *s, uint64_t gen, uint8_t **out, size_t *len,
                      struct hdb_err *err);
int snap_table_parse(const uint8_t *buf, size_t len, struct snap_table *t, struct hdb_err *err);
void snap_table_free(struct snap_table *t);
int snap_load(struct hdb_store *s, const struct snap_table *t, uint64_t seq, struct hdb_err *err);
int snap_replay(struct hdb_store *s, const struct hdb_wal_rec *r, struct hdb_err *err);
int snap_cuts_before(struct hdb_store *s, uint64_t lsn, struct hdb_err *err);
void snap_free_all(struct hdb_store *s);

/* store.c */
int store_publish(struct hdb_store *s, struct hdb_err *err);
int store_log_sync(struct hdb_store *s, const struct hdb_wal_rec *rec, struct hdb_err *err);
struct hdb_version *store_version_old(struct hdb_store *s, uint64_t gen, uint32_t ntrees);
void store_version_unref(struct hdb_store *s, struct hdb_version *v);
uint64_t store_now_ns(void);
int store_fail(struct hdb_store *s, const struct hdb_err *cause);

#endif
