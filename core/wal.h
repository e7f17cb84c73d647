/*
 * wal.h — the write-ahead log of one store: segmented, logical records in
 * checksummed groups, group commit, replay to the end of the log.
 *
 * Files: `wal-<seq as 16 hex digits>.log` in the store's directory, each
 * `segment_bytes` long (preallocated), at most `max_segments` of them. A
 * segment starts with a 4 KiB header block:
 *
 *   off size field
 *     0    4 magic "HDBW" (HDB_WAL_SEG_MAGIC)
 *     4    2 version
 *     6    2 reserved
 *     8    8 seg_seq
 *    16    8 segment_bytes
 *    24    8 xxh3-64 of bytes [0, 24)
 *
 * followed by groups, each starting on a HDB_IO_ALIGN boundary and padded
 * with zeros to the next one (so no write ever touches a block that holds
 * an acknowledged group). Group header, 64 bytes:
 *
 *   off size field
 *     0    4 magic "HDBG" (HDB_WAL_GROUP_MAGIC)
 *     4    2 version
 *     6    2 flags (0)
 *     8    8 seg_seq      segment this group was written to (stale groups
 *                         of a recycled segment carry an older one)
 *    16    8 epoch        incremented at every open; non-decreasing along the log
 *    24    8 lsn_first    LSN of the first record; records are numbered consecutively
 *    32    4 nrecs
 *    36    4 payload_bytes
 *    40    8 durable_lsn  every record with a smaller LSN was durable when
 *                         this group was written
 *    48    8 xxh3-64 of the payload
 *    56    8 xxh3-64 of bytes [0, 56)
 *
 * Payload: `nrecs` records, each 8-byte aligned:
 *
 *   off size field
 *     0    8 lsn
 *     8    8 txn
 *    16    8 commit_ts
 *    24    1 type (enum hdb_wal_rec_type)
 *    25    3 reserved (0)
 *    28    4 tree
 *    32    4 klen
 *    36    4 vlen
 *    40    8 xxh3-64 of bytes [0, 40) + key + value
 *    48    - key, value, zero padding to 8
 *
 * A group holds whole commits: replay applies a group entirely or not at all.
 *
 * End of log: replay starts at a position saved by a checkpoint and follows
 * LSN continuity: a group is taken only if its header and payload checksum,
 * its seg_seq is the segment's, its epoch is not older than the previous
 * group's and its lsn_first is the next LSN expected; when a segment has no
 * next group there, replay moves to the next segment if that one's first
 * group continues the LSNs. The first position where that fails is the end
 * of the log (a torn tail, normal after a crash, is cut off there). But if
 * a valid group further on (same or later segment, epoch not older) starts
 * past the expected LSN and its durable_lsn says the missing records had
 * been made durable, records were lost in the middle: that is HDB_CORRUPT
 * naming the segment and offset, never a silent truncation.
 *
 * Writing: hdb_wal_append adds records to the pending group in memory;
 * hdb_wal_flush writes the group (one write, or two at a segment switch)
 * and, with `sync`, an fdatasync ordered after it. A failed write or
 * fdatasync is never retried: the WAL turns failed (hdb_wal_failed) and
 * refuses every later write until it is reopened.
 */
#ifndef HDB_WAL_H
#define HDB_WAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/io.h"
#include "core/status.h"

#define HDB_WAL_SEG_MAGIC           0x57424448u /* "HDBW" */
#define HDB_WAL_GROUP_MAGIC         0x47424448u /* "HDBG" */
#define HDB_WAL_VERSION             1
#define HDB_WAL_SEG_HEADER_BYTES    HDB_IO_ALIGN
#define HDB_WAL_GROUP_HEADER_BYTES  64u
#define HDB_WAL_REC_HEADER_BYTES    48u
#define HDB_WAL_SEGMENTS_MAX        1024u
#define HDB_WAL_GROUP_BYTES_DEFAULT (1u << 20)

enum hdb_wal_rec_type {
    HDB_WAL_PUT = 1,
    HDB_WAL_DELETE = 2,
    HDB_WAL_TREE_CREATE = 3, /* key = tree name, tree = new id */
    HDB_WAL_TREE_DROP = 4,   /* tree = id */
    HDB_WAL_PREPARE = 5,     /* reserved for multi-shard commit */
    HDB_WAL_DECISION = 6,    /* reserved for multi-shard commit */
    HDB_WAL_SNAPSHOT = 7,    /* reserved for snapshots */
    HDB_WAL_MARK = 8,        /* a durability watermark: value = u64 (store.h, hdb_store_mark) */
    HDB_WAL_REC_TYPE_MAX = 8,
};

struct hdb_wal_rec {
    uint64_t lsn; /* set by hdb_wal_append */
    uint64_t txn;
    uint64_t commit_ts;
    uint8_t type;
    uint32_t tree;
    const uint8_t *key;
    uint32_t klen;
    const uint8_t *val;
    uint32_t vlen;
};

/* Where the log continues: the next LSN and where its group starts. */
struct hdb_wal_pos {
    uint64_t lsn;
    uint64_t seg_seq;
    uint64_t offset;
    uint64_t epoch;
};

struct hdb_wal_opts {
    uint64_t segment_bytes;   /* [wal] segment_size_mb * MiB; multiple of HDB_IO_ALIGN */
    uint32_t max_segments;    /* [wal] max_segments, >= 2 */
    uint32_t group_bytes_max; /* a pending group is flushed before it grows past this */
    bool direct_io;           /* open segments with HDB_FILE_DIRECT */
};

struct hdb_wal_replay_stats {
    uint64_t groups, records, bytes;
    uint64_t truncated_at_seg, truncated_at_offset; /* where a torn tail was cut (0 if none) */
    uint64_t duration_ns;
};

/* fsync latency histogram: fsyncs that took at most each bound (µs), the last bucket the rest. */
#define HDB_WAL_FSYNC_BUCKETS 10
extern const uint64_t hdb_wal_fsync_bounds_us[HDB_WAL_FSYNC_BUCKETS - 1];

struct hdb_wal_stats {
    uint64_t groups, records, bytes, fsyncs, segments_created, segments_recycled;
    uint64_t fsync_ns_total, fsync_ns_max;
    uint64_t fsync_buckets[HDB_WAL_FSYNC_BUCKETS];
    uint64_t group_records_max;
};

/* Called once per replayed group with its records (pointers valid during the call). */
typedef int (*hdb_wal_replay_fn)(void *ctx, const struct hdb_wal_rec *recs, uint32_t n,
                                 struct hdb_err *err);

struct hdb_wal;

/* The position of a brand-new log. */
void hdb_wal_pos_initial(struct hdb_wal_pos *pos);

/*
 * Opens the log in `dir` (creating the first segment if there is none),
 * replays every group from `start` to the end of the log through `replay`
 * (which may be NULL to skip), truncates a torn tail, and positions the
 * log for appending. `stats` may be NULL.
 */
int hdb_wal_open(struct hdb_io *io, const char *dir, const struct hdb_wal_opts *opts,
                 const struct hdb_wal_pos *start, hdb_wal_replay_fn replay, void *ctx,
                 struct hdb_wal **out, struct hdb_wal_replay_stats *stats, struct hdb_err *err);
void hdb_wal_close(struct hdb_wal *wal);

/*
 * Adds records to the pending group and sets their LSNs. Returns HDB_FULL
 * when they do not fit in the pending group (flush, then append again) and
 * HDB_TOOBIG when they could not fit in any group. HDB_READONLY once failed.
 */
int hdb_wal_append(struct hdb_wal *wal, struct hdb_wal_rec *recs, uint32_t n, struct hdb_err *err);
/* The log bytes of one record, and the most one hdb_wal_append may add (a segment's payload). */
uint32_t hdb_wal_rec_bytes(uint32_t klen, uint32_t vlen);
uint64_t hdb_wal_append_bytes_max(const struct hdb_wal *wal);
uint32_t hdb_wal_pending_bytes(const struct hdb_wal *wal);
/*
 * A mark of the pending group. Rewinding to a mark drops every record
 * appended after it (they were never written) and gives their LSNs back;
 * the store uses it to undo a commit it could not apply.
 */
struct hdb_wal_mark {
    uint32_t bytes;
    uint32_t records;
    uint64_t next_lsn;
};
void hdb_wal_mark(const struct hdb_wal *wal, struct hdb_wal_mark *mark);
void hdb_wal_rewind(struct hdb_wal *wal, const struct hdb_wal_mark *mark);
uint32_t hdb_wal_pending_records(const struct hdb_wal *wal);

/*
 * Writes the pending group (if any) and, when `sync`, fdatasyncs so that
 * every record appended so far is durable. May switch to a new or recycled
 * segment; returns HDB_FULL if all max_segments hold records at or after
 * the last hdb_wal_recycle bound (checkpoint, then retry).
 */
int hdb_wal_flush(struct hdb_wal *wal, bool sync, struct hdb_err *err);

/* The position after the last flushed group (where replay would continue). */
void hdb_wal_tail(const struct hdb_wal *wal, struct hdb_wal_pos *pos);
/* Every record with an LSN below this is durable. */
uint64_t hdb_wal_durable_lsn(const struct hdb_wal *wal);
uint64_t hdb_wal_next_lsn(const struct hdb_wal *wal);
/* Lets segments whose records all have LSN < keep_lsn be reused. */
int hdb_wal_recycle(struct hdb_wal *wal, uint64_t keep_lsn, struct hdb_err *err);
/* Bytes of log holding records at or after the last recycle bound. */
uint64_t hdb_wal_live_bytes(const struct hdb_wal *wal);
bool hdb_wal_failed(const struct hdb_wal *wal);
void hdb_wal_get_stats(const struct hdb_wal *wal, struct hdb_wal_stats *out);

#endif
