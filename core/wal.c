/*
 * wal.c — the write-ahead log (format and rules in wal.h).
 *
 * Segments are tracked in a small array; `cur` is the one being appended
 * to. The pending group is built in an aligned buffer: 64 bytes of group
 * header, then the records; hdb_wal_flush seals the header, pads to 4 KiB
 * and writes it in one operation (plus the fdatasync when asked). Replay
 * reads segments through a chunked reader and validates every group
 * before handing its records to the callback.
 */
#include "core/wal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/bytes.h"
#include "core/log.h"

#define WAL_READ_CHUNK (1u << 20)
#define WAL_NAME_BYTES 32u

struct wal_seg {
    uint64_t seq;
    struct hdb_file *file;
    uint64_t last_lsn; /* largest LSN written to it (0: none known) */
    bool unsynced;     /* holds writes no fdatasync covered yet */
};

struct hdb_wal {
    struct hdb_io *io;
    char *dir;
    struct hdb_wal_opts opts;
    struct wal_seg segs[HDB_WAL_SEGMENTS_MAX];
    uint32_t nsegs;
    struct wal_seg *cur;
    uint64_t write_off;
    uint64_t epoch;
    uint64_t next_lsn;    /* next LSN to hand out */
    uint64_t written_lsn; /* every LSN below was written */
    uint64_t durable_lsn; /* every LSN below was written and fdatasynced */
    uint64_t keep_lsn;
    uint8_t *buf; /* pending group: header + records */
    uint32_t cap;
    uint32_t pend_bytes; /* payload bytes */
    uint32_t pend_recs;
    bool failed;
    struct hdb_err fail_err;
    struct hdb_wal_stats stats;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t align_up(uint64_t n)
{
    return (n + HDB_IO_ALIGN - 1) & ~(uint64_t)(HDB_IO_ALIGN - 1);
}

static uint32_t rec_bytes(uint32_t klen, uint32_t vlen)
{
    return (uint32_t)((HDB_WAL_REC_HEADER_BYTES + (uint64_t)klen + vlen + 7) & ~7ull);
}

static void seg_name(const struct hdb_wal *w, uint64_t seq, char *out, size_t n)
{
    snprintf(out, n, "%s/wal-%016llx.log", w->dir, (unsigned long long)seq);
}

void hdb_wal_pos_initial(struct hdb_wal_pos *pos)
{
    pos->lsn = 1;
    pos->seg_seq = 1;
    pos->offset = HDB_WAL_SEG_HEADER_BYTES;
    pos->epoch = 0;
}

static struct wal_seg *seg_find(struct hdb_wal *w, uint64_t seq)
{
    for (uint32_t i = 0; i < w->nsegs; i++) {
        if (w->segs[i].seq == seq) {
            return &w->segs[i];
        }
    }
    return NULL;
}

/* --- segment headers --- */

static int seg_write_header(struct hdb_wal *w, struct wal_seg *s, struct hdb_err *err)
{
    uint8_t *b = hdb_io_alloc(HDB_WAL_SEG_HEADER_BYTES);
    if (b == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory writing a WAL segment header");
    }
    hdb_put32(b, HDB_WAL_SEG_MAGIC);
    hdb_put16(b + 4, HDB_WAL_VERSION);
    hdb_put64(b + 8, s->seq);
    hdb_put64(b + 16, w->opts.segment_bytes);
    hdb_put64(b + 24, XXH3_64bits(b, 24));
    struct hdb_io_op ops[2] = {
        {.file = s->file, .kind = HDB_IO_WRITE, .buf = b, .len = HDB_WAL_SEG_HEADER_BYTES},
        {.file = s->file, .kind = HDB_IO_FSYNC},
    };
    int rc = hdb_io_run(w->io, ops, 2, err);
    hdb_io_free(b);
    return rc;
}

static int seg_check_header(struct hdb_wal *w, struct wal_seg *s, struct hdb_err *err)
{
    (void)w;
    uint8_t *b = hdb_io_alloc(HDB_WAL_SEG_HEADER_BYTES);
    if (b == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory reading a WAL segment header");
    }
    int rc = hdb_io_read(s->file, b, HDB_WAL_SEG_HEADER_BYTES, 0, err);
    if (rc == HDB_OK && (hdb_get32(b) != HDB_WAL_SEG_MAGIC || hdb_get64(b + 8) != s->seq ||
                         hdb_get64(b + 24) != XXH3_64bits(b, 24))) {
        rc = hdb_err_set(err, HDB_CORRUPT, "%s: bad WAL segment header", hdb_file_path(s->file));
    }
    hdb_io_free(b);
    return rc;
}

static int seg_open(struct hdb_wal *w, uint64_t seq, bool create, struct hdb_err *err)
{
    if (w->nsegs == HDB_WAL_SEGMENTS_MAX) {
        return hdb_err_set(err, HDB_FULL, "%s: too many WAL segments", w->dir);
    }
    char name[HDB_IO_PATH_BYTES_MAX];
    seg_name(w, seq, name, sizeof name);
    int flags = (w->opts.direct_io ? HDB_FILE_DIRECT : 0) | (create ? HDB_FILE_CREATE : 0);
    struct wal_seg *s = &w->segs[w->nsegs];
    *s = (struct wal_seg){.seq = seq};
    int rc = hdb_file_open(w->io, name, flags, &s->file, err);
    if (rc == HDB_OK) {
        w->nsegs++;
    }
    return rc;
}

/* Creates segment `seq`: preallocated, header written and synced, directory synced. */
static int seg_create(struct hdb_wal *w, uint64_t seq, struct wal_seg **out, struct hdb_err *err)
{
    int rc = seg_open(w, seq, true, err);
    if (rc != HDB_OK) {
        return rc;
    }
    struct wal_seg *s = &w->segs[w->nsegs - 1];
    rc = hdb_file_allocate(s->file, w->opts.segment_bytes, err);
    if (rc == HDB_OK) {
        rc = seg_write_header(w, s, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_sync_dir(w->io, w->dir, err);
    }
    if (rc == HDB_OK) {
        w->stats.segments_created++;
        *out = s;
    }
    return rc;
}

/* --- reading --- */

struct reader {
    struct hdb_file *file;
    uint64_t size;
    uint8_t *buf;
    uint32_t cap;
    uint64_t at;  /* file offset of buf[0] */
    uint32_t len; /* bytes valid in buf */
};

/* Points *p at file bytes [off, off + len); false if they are past the end. */
static int reader_get(struct reader *r, uint64_t off, uint32_t len, const uint8_t **p,
                      struct hdb_err *err)
{
    if (off + len > r->size) {
        *p = NULL;
        return HDB_OK;
    }
    if (off >= r->at && off + len <= r->at + r->len) {
        *p = r->buf + (off - r->at);
        return HDB_OK;
    }
    uint64_t start = off & ~(uint64_t)(HDB_IO_ALIGN - 1);
    uint64_t need = align_up(off + len) - start;
    uint64_t want = need > WAL_READ_CHUNK ? need : WAL_READ_CHUNK;
    if (start + want > r->size) {
        want = (r->size - start) & ~(uint64_t)(HDB_IO_ALIGN - 1);
    }
    if (want > r->cap) {
        hdb_io_free(r->buf);
        r->buf = hdb_io_alloc(want);
        r->cap = r->buf != NULL ? (uint32_t)want : 0;
        if (r->buf == NULL) {
            return hdb_err_set(err, HDB_NOMEM, "out of memory reading the WAL");
        }
    }
    r->len = 0;
    int rc = hdb_io_read(r->file, r->buf, (uint32_t)want, start, err);
    if (rc != HDB_OK) {
        return rc;
    }
    r->at = start;
    r->len = (uint32_t)want;
    *p = r->buf + (off - start);
    return HDB_OK;
}

static int reader_open(struct reader *r, struct hdb_file *f, struct hdb_err *err)
{
    r->file = f;
    r->at = 0;
    r->len = 0;
    int rc = hdb_file_size(f, &r->size, err);
    r->size &= ~(uint64_t)(HDB_IO_ALIGN - 1);
    return rc;
}

struct group_view {
    uint64_t seg_seq, epoch, lsn_first, durable_lsn;
    uint32_t nrecs, payload_bytes;
    const uint8_t *payload;
};

/* Decodes a 64-byte group header; false if it is not a well-formed, checksummed one. */
static bool group_header(const uint8_t *h, uint64_t room, struct group_view *g)
{
    if (hdb_get32(h) != HDB_WAL_GROUP_MAGIC || hdb_get16(h + 4) != HDB_WAL_VERSION ||
        hdb_get64(h + 56) != XXH3_64bits(h, 56)) {
        return false;
    }
    g->seg_seq = hdb_get64(h + 8);
    g->epoch = hdb_get64(h + 16);
    g->lsn_first = hdb_get64(h + 24);
    g->nrecs = hdb_get32(h + 32);
    g->payload_bytes = hdb_get32(h + 36);
    g->durable_lsn = hdb_get64(h + 40);
    return g->nrecs > 0 && (uint64_t)g->payload_bytes + HDB_WAL_GROUP_HEADER_BYTES <= room &&
           (uint64_t)g->nrecs * HDB_WAL_REC_HEADER_BYTES <= g->payload_bytes;
}

/* Reads and fully checks the group at `off`; *ok false if there is none. */
static int group_read(struct reader *r, uint64_t seq, uint64_t off, struct group_view *g, bool *ok,
                      struct hdb_err *err)
{
    const uint8_t *h;
    *ok = false;
    int rc = reader_get(r, off, HDB_WAL_GROUP_HEADER_BYTES, &h, err);
    if (rc != HDB_OK || h == NULL || !group_header(h, r->size - off, g) || g->seg_seq != seq) {
        return rc;
    }
    const uint8_t *p;
    rc = reader_get(r, off, HDB_WAL_GROUP_HEADER_BYTES + g->payload_bytes, &p, err);
    if (rc != HDB_OK || p == NULL) {
        return rc;
    }
    g->payload = p + HDB_WAL_GROUP_HEADER_BYTES;
    *ok = hdb_get64(p + 48) == XXH3_64bits(g->payload, g->payload_bytes);
    return HDB_OK;
}

static uint64_t rec_checksum(const uint8_t *rec, uint32_t klen, uint32_t vlen)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, rec, 40);
    XXH3_64bits_update(&st, rec + HDB_WAL_REC_HEADER_BYTES, (size_t)klen + vlen);
    return XXH3_64bits_digest(&st);
}

struct rec_vec {
    struct hdb_wal_rec *v;
    uint32_t cap;
};

/* Decodes and checks every record of a checksummed group; false if any is malformed. */
static bool group_records(const struct group_view *g, struct rec_vec *out, bool *nomem)
{
    *nomem = false;
    if (g->nrecs > out->cap) {
        struct hdb_wal_rec *v = realloc(out->v, (size_t)g->nrecs * sizeof *v);
        if (v == NULL) {
            *nomem = true;
            return false;
        }
        out->v = v;
        out->cap = g->nrecs;
    }
    uint32_t at = 0;
    for (uint32_t i = 0; i < g->nrecs; i++) {
        const uint8_t *p = g->payload + at;
        if (at + HDB_WAL_REC_HEADER_BYTES > g->payload_bytes) {
            return false;
        }
        uint32_t klen = hdb_get32(p + 32), vlen = hdb_get32(p + 36);
        uint64_t size = (HDB_WAL_REC_HEADER_BYTES + (uint64_t)klen + vlen + 7) & ~7ull;
        if (at + size > g->payload_bytes || hdb_get64(p) != g->lsn_first + i || p[24] == 0 ||
            p[24] > HDB_WAL_REC_TYPE_MAX || hdb_get64(p + 40) != rec_checksum(p, klen, vlen)) {
            return false;
        }
        out->v[i] = (struct hdb_wal_rec){.lsn = hdb_get64(p),
                                         .txn = hdb_get64(p + 8),
                                         .commit_ts = hdb_get64(p + 16),
                                         .type = p[24],
                                         .tree = hdb_get32(p + 28),
                                         .key = p + HDB_WAL_REC_HEADER_BYTES,
                                         .klen = klen,
                                         .val = p + HDB_WAL_REC_HEADER_BYTES + klen,
                                         .vlen = vlen};
        at += (uint32_t)size;
    }
    return true;
}

/* --- replay --- */

struct replay {
    struct hdb_wal *w;
    hdb_wal_replay_fn fn;
    void *ctx;
    struct hdb_wal_replay_stats *stats;
    struct reader rd;
    struct rec_vec recs;
    uint64_t seq, off, expected, last_epoch, max_epoch;
};

/* Takes the group at the replay position if it continues the log; *took says if it did. */
static int replay_one(struct replay *rp, bool *took, struct hdb_err *err)
{
    struct group_view g;
    bool ok;
    *took = false;
    int rc = group_read(&rp->rd, rp->seq, rp->off, &g, &ok, err);
    if (rc != HDB_OK || !ok || g.epoch < rp->last_epoch || g.lsn_first != rp->expected) {
        return rc;
    }
    bool nomem;
    if (!group_records(&g, &rp->recs, &nomem)) {
        return nomem ? hdb_err_set(err, HDB_NOMEM, "out of memory replaying the WAL") : HDB_OK;
    }
    if (rp->fn != NULL) {
        rc = rp->fn(rp->ctx, rp->recs.v, g.nrecs, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    *took = true;
    rp->expected += g.nrecs;
    rp->last_epoch = g.epoch;
    rp->max_epoch = g.epoch > rp->max_epoch ? g.epoch : rp->max_epoch;
    rp->off += align_up(HDB_WAL_GROUP_HEADER_BYTES + (uint64_t)g.payload_bytes);
    rp->stats->groups++;
    rp->stats->records += g.nrecs;
    rp->stats->bytes += HDB_WAL_GROUP_HEADER_BYTES + g.payload_bytes;
    struct wal_seg *s = seg_find(rp->w, rp->seq);
    s->last_lsn = rp->expected - 1;
    return HDB_OK;
}

/* Moves replay to segment seq + 1 if its first group continues the log. */
static int replay_hop(struct replay *rp, bool *hopped, struct hdb_err *err)
{
    *hopped = false;
    struct wal_seg *next = seg_find(rp->w, rp->seq + 1);
    if (next == NULL) {
        return HDB_OK;
    }
    struct reader probe = {0};
    int rc = reader_open(&probe, next->file, err);
    struct group_view g;
    bool ok = false;
    if (rc == HDB_OK) {
        rc = group_read(&probe, next->seq, HDB_WAL_SEG_HEADER_BYTES, &g, &ok, err);
    }
    hdb_io_free(probe.buf);
    if (rc != HDB_OK || !ok || g.epoch < rp->last_epoch || g.lsn_first != rp->expected) {
        return rc;
    }
    rc = seg_check_header(rp->w, next, err);
    if (rc == HDB_OK) {
        hdb_io_free(rp->rd.buf);
        rp->rd = (struct reader){0};
        rc = reader_open(&rp->rd, next->file, err);
        rp->seq = next->seq;
        rp->off = HDB_WAL_SEG_HEADER_BYTES;
        *hopped = true;
    }
    return rc;
}

/*
 * After the end of the log: looks for a valid group further on that starts
 * past the expected LSN and whose durable_lsn says the missing records had
 * been made durable (that is corruption, not a torn tail). A segment is
 * scanned at every 4 KiB boundary until a stale group of an earlier life of
 * the file (nothing after it was written in this life) or a run of zeros
 * longer than any group.
 */
static int scan_segment(struct replay *rp, struct wal_seg *s, uint64_t from, struct hdb_err *err)
{
    struct reader rd = {0};
    int rc = reader_open(&rd, s->file, err);
    uint64_t zero_run = 0, zero_stop = rp->w->opts.group_bytes_max + HDB_IO_ALIGN;
    for (uint64_t off = from; rc == HDB_OK && off + HDB_IO_ALIGN <= rd.size; off += HDB_IO_ALIGN) {
        const uint8_t *b;
        rc = reader_get(&rd, off, HDB_IO_ALIGN, &b, err);
        if (rc != HDB_OK || b == NULL) {
            break;
        }
        struct group_view g;
        if (!group_header(b, rd.size - off, &g)) {
            zero_run = hdb_all_zero(b, HDB_IO_ALIGN) ? zero_run + HDB_IO_ALIGN : 0;
            if (zero_run >= zero_stop) {
                break;
            }
            continue;
        }
        zero_run = 0;
        if (g.seg_seq != s->seq) {
            break; /* stale: this life of the file never wrote past here */
        }
        rp->max_epoch = g.epoch > rp->max_epoch ? g.epoch : rp->max_epoch;
        bool ok = false;
        if (g.epoch >= rp->last_epoch && g.lsn_first > rp->expected &&
            g.durable_lsn > rp->expected) {
            rc = group_read(&rd, s->seq, off, &g, &ok, err);
        }
        if (rc == HDB_OK && ok) {
            char name[HDB_IO_PATH_BYTES_MAX];
            seg_name(rp->w, rp->seq, name, sizeof name);
            rc = hdb_err_set(err, HDB_CORRUPT,
                             "%s: WAL damaged at offset %llu: records from LSN %llu are missing "
                             "but a later durable group (LSN %llu, %s offset %llu) follows",
                             name, (unsigned long long)rp->off, (unsigned long long)rp->expected,
                             (unsigned long long)g.lsn_first, hdb_file_path(s->file),
                             (unsigned long long)off);
        }
    }
    hdb_io_free(rd.buf);
    return rc;
}

static int scan_after_end(struct replay *rp, struct hdb_err *err)
{
    for (uint64_t seq = rp->seq;; seq++) {
        struct wal_seg *s = seg_find(rp->w, seq);
        if (s == NULL) {
            return HDB_OK;
        }
        uint64_t from = seq == rp->seq ? rp->off + HDB_IO_ALIGN : HDB_WAL_SEG_HEADER_BYTES;
        int rc = scan_segment(rp, s, from, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
}

/* Records whether the end position holds anything (a torn tail) for the stats. */
static int note_tail(struct replay *rp, struct hdb_err *err)
{
    const uint8_t *b;
    int rc = reader_get(&rp->rd, rp->off, HDB_WAL_GROUP_HEADER_BYTES, &b, err);
    if (rc == HDB_OK && b != NULL && !hdb_all_zero(b, HDB_WAL_GROUP_HEADER_BYTES)) {
        struct group_view g;
        bool stale = group_header(b, rp->rd.size - rp->off, &g) && g.seg_seq != rp->seq;
        if (!stale) {
            rp->stats->truncated_at_seg = rp->seq;
            rp->stats->truncated_at_offset = rp->off;
            hdb_log(HDB_LOG_INFO, "WAL: torn tail cut at segment %llu offset %llu",
                    (unsigned long long)rp->seq, (unsigned long long)rp->off);
        }
    }
    return rc;
}

static int list_segment(void *ctx, const char *name)
{
    uint64_t *seqs = ctx; /* [0] = count, then seqs */
    unsigned long long seq;
    char tail[8];
    if (sscanf(name, "wal-%16llx.%3s", &seq, tail) == 2 && strcmp(tail, "log") == 0 &&
        strlen(name) == 24 && seqs[0] < HDB_WAL_SEGMENTS_MAX) {
        seqs[1 + seqs[0]++] = seq;
    }
    return 0;
}

static int open_segments(struct hdb_wal *w, struct hdb_err *err)
{
    uint64_t *seqs = calloc(HDB_WAL_SEGMENTS_MAX + 1, sizeof *seqs);
    if (seqs == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory listing the WAL");
    }
    int rc = hdb_io_list_dir(w->io, w->dir, list_segment, seqs, err);
    for (uint64_t i = 0; rc == HDB_OK && i < seqs[0]; i++) {
        rc = seg_open(w, seqs[1 + i], false, err);
    }
    free(seqs);
    return rc;
}

static int replay_run(struct replay *rp, struct hdb_err *err)
{
    struct wal_seg *s = seg_find(rp->w, rp->seq);
    int rc = seg_check_header(rp->w, s, err);
    if (rc == HDB_OK) {
        rc = reader_open(&rp->rd, s->file, err);
    }
    while (rc == HDB_OK) {
        bool took, hopped;
        rc = replay_one(rp, &took, err);
        if (rc != HDB_OK || took) {
            continue;
        }
        rc = replay_hop(rp, &hopped, err);
        if (!hopped) {
            break;
        }
    }
    if (rc == HDB_OK) {
        rc = note_tail(rp, err);
    }
    if (rc == HDB_OK) {
        rc = scan_after_end(rp, err);
    }
    return rc;
}

/* Makes what was replayed durable: a later power cut must not lose it under new groups. */
static int sync_replayed(struct hdb_wal *w, uint64_t from_seq, struct hdb_err *err)
{
    for (uint32_t i = 0; i < w->nsegs; i++) {
        if (w->segs[i].seq >= from_seq && w->segs[i].seq <= w->cur->seq) {
            int rc = hdb_io_fsync(w->segs[i].file, err);
            if (rc != HDB_OK) {
                return rc;
            }
        }
    }
    return HDB_OK;
}

static int wal_start(struct hdb_wal *w, const struct hdb_wal_pos *start, hdb_wal_replay_fn fn,
                     void *ctx, struct hdb_wal_replay_stats *stats, struct hdb_err *err)
{
    int rc = open_segments(w, err);
    if (rc != HDB_OK) {
        return rc;
    }
    struct hdb_wal_pos initial;
    hdb_wal_pos_initial(&initial);
    struct wal_seg *first = seg_find(w, start->seg_seq);
    if (first != NULL && memcmp(start, &initial, sizeof initial) == 0 &&
        seg_check_header(w, first, NULL) != HDB_OK) {
        /* Creating the first segment was cut short: no group was ever written to it. */
        rc = hdb_file_allocate(first->file, w->opts.segment_bytes, err);
        if (rc == HDB_OK) {
            rc = seg_write_header(w, first, err);
        }
        if (rc == HDB_OK) {
            rc = hdb_io_sync_dir(w->io, w->dir, err);
        }
        if (rc != HDB_OK) {
            return rc;
        }
    } else if (first == NULL) {
        if (memcmp(start, &initial, sizeof initial) != 0) {
            char name[HDB_IO_PATH_BYTES_MAX];
            seg_name(w, start->seg_seq, name, sizeof name);
            return hdb_err_set(err, HDB_CORRUPT, "%s: WAL segment needed for recovery is missing",
                               name);
        }
        struct wal_seg *s;
        rc = seg_create(w, start->seg_seq, &s, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    struct replay rp = {.w = w,
                        .fn = fn,
                        .ctx = ctx,
                        .stats = stats,
                        .seq = start->seg_seq,
                        .off = start->offset,
                        .expected = start->lsn,
                        .last_epoch = start->epoch,
                        .max_epoch = start->epoch};
    rc = replay_run(&rp, err);
    hdb_io_free(rp.rd.buf);
    free(rp.recs.v);
    if (rc != HDB_OK) {
        return rc;
    }
    w->cur = seg_find(w, rp.seq);
    w->write_off = rp.off;
    w->epoch = rp.max_epoch + 1;
    w->next_lsn = w->written_lsn = w->durable_lsn = rp.expected;
    for (uint32_t i = 0; i < w->nsegs; i++) {
        if (w->segs[i].seq < start->seg_seq) {
            w->segs[i].last_lsn = start->lsn - 1; /* at most: they end before the start */
        }
    }
    return stats->records > 0 ? sync_replayed(w, start->seg_seq, err) : HDB_OK;
}

static int buf_reserve(struct hdb_wal *w, uint64_t need, struct hdb_err *err)
{
    need = align_up(need);
    if (need <= w->cap) {
        return HDB_OK;
    }
    uint64_t cap = w->cap == 0 ? (uint64_t)HDB_IO_ALIGN * 16 : w->cap;
    while (cap < need) {
        cap *= 2;
    }
    uint8_t *b = hdb_io_alloc(cap);
    if (b == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory for a WAL group of %llu bytes",
                           (unsigned long long)need);
    }
    if (w->buf != NULL) {
        memcpy(b, w->buf, HDB_WAL_GROUP_HEADER_BYTES + w->pend_bytes);
        hdb_io_free(w->buf);
    }
    w->buf = b;
    w->cap = (uint32_t)cap;
    return HDB_OK;
}

int hdb_wal_open(struct hdb_io *io, const char *dir, const struct hdb_wal_opts *opts,
                 const struct hdb_wal_pos *start, hdb_wal_replay_fn replay, void *ctx,
                 struct hdb_wal **out, struct hdb_wal_replay_stats *stats, struct hdb_err *err)
{
    struct hdb_wal_replay_stats local;
    stats = stats != NULL ? stats : &local;
    memset(stats, 0, sizeof *stats);
    if (opts->segment_bytes < 4 * (uint64_t)HDB_IO_ALIGN || opts->segment_bytes % HDB_IO_ALIGN ||
        opts->segment_bytes > (1ull << 32) || opts->max_segments < 2 ||
        opts->max_segments > HDB_WAL_SEGMENTS_MAX || opts->group_bytes_max < HDB_IO_ALIGN) {
        return hdb_err_set(err, HDB_INVALID, "bad WAL options");
    }
    struct hdb_wal *w = calloc(1, sizeof *w);
    if (w == NULL || (w->dir = strdup(dir)) == NULL) {
        free(w);
        return hdb_err_set(err, HDB_NOMEM, "out of memory opening the WAL");
    }
    w->io = io;
    w->opts = *opts;
    uint64_t t0 = now_ns();
    int rc = buf_reserve(w, HDB_WAL_GROUP_HEADER_BYTES, err);
    if (rc == HDB_OK) {
        rc = wal_start(w, start, replay, ctx, stats, err);
    }
    if (rc != HDB_OK) {
        hdb_wal_close(w);
        return rc;
    }
    stats->duration_ns = now_ns() - t0;
    if (stats->records > 0) {
        hdb_log(HDB_LOG_INFO,
                "%s: replayed %llu WAL records in %llu groups (%llu bytes) in %.1f ms", dir,
                (unsigned long long)stats->records, (unsigned long long)stats->groups,
                (unsigned long long)stats->bytes, (double)stats->duration_ns / 1e6);
    }
    *out = w;
    return HDB_OK;
}

void hdb_wal_close(struct hdb_wal *w)
{
    if (w == NULL) {
        return;
    }
    for (uint32_t i = 0; i < w->nsegs; i++) {
        hdb_file_close(w->segs[i].file);
    }
    hdb_io_free(w->buf);
    free(w->dir);
    free(w);
}

static int refuse(const struct hdb_wal *w, struct hdb_err *err)
{
    return hdb_err_set(err, HDB_READONLY, "WAL failed earlier (%s); reopen the database",
                       w->fail_err.msg);
}

static int wal_fail(struct hdb_wal *w, int rc, const struct hdb_err *err)
{
    w->failed = true;
    if (err != NULL) {
        w->fail_err = *err;
    } else {
        hdb_err_set(&w->fail_err, rc, "WAL write failed");
    }
    return rc;
}

static void encode_rec(uint8_t *p, const struct hdb_wal_rec *r)
{
    memset(p, 0, HDB_WAL_REC_HEADER_BYTES);
    hdb_put64(p, r->lsn);
    hdb_put64(p + 8, r->txn);
    hdb_put64(p + 16, r->commit_ts);
    p[24] = r->type;
    hdb_put32(p + 28, r->tree);
    hdb_put32(p + 32, r->klen);
    hdb_put32(p + 36, r->vlen);
    if (r->klen > 0) {
        memcpy(p + HDB_WAL_REC_HEADER_BYTES, r->key, r->klen);
    }
    if (r->vlen > 0) {
        memcpy(p + HDB_WAL_REC_HEADER_BYTES + r->klen, r->val, r->vlen);
    }
    uint32_t size = rec_bytes(r->klen, r->vlen);
    memset(p + HDB_WAL_REC_HEADER_BYTES + r->klen + r->vlen, 0,
           size - HDB_WAL_REC_HEADER_BYTES - r->klen - r->vlen);
    hdb_put64(p + 40, rec_checksum(p, r->klen, r->vlen));
}

const uint64_t hdb_wal_fsync_bounds_us[HDB_WAL_FSYNC_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000};

/* One fdatasync of `dt` ns: the totals and the histogram. */
static void count_fsync(struct hdb_wal *w, uint64_t dt)
{
    uint32_t b = 0;
    while (b < HDB_WAL_FSYNC_BUCKETS - 1 && dt > hdb_wal_fsync_bounds_us[b] * 1000u) {
        b++;
    }
    w->stats.fsyncs++;
    w->stats.fsync_buckets[b]++;
    w->stats.fsync_ns_total += dt;
    w->stats.fsync_ns_max = dt > w->stats.fsync_ns_max ? dt : w->stats.fsync_ns_max;
}

/* Largest payload one group can carry: a whole segment after its header. */
static uint64_t payload_max(const struct hdb_wal *w)
{
    return w->opts.segment_bytes - HDB_WAL_SEG_HEADER_BYTES - HDB_WAL_GROUP_HEADER_BYTES;
}

uint32_t hdb_wal_rec_bytes(uint32_t klen, uint32_t vlen)
{
    return rec_bytes(klen, vlen);
}

uint64_t hdb_wal_append_bytes_max(const struct hdb_wal *w)
{
    return payload_max(w);
}

int hdb_wal_append(struct hdb_wal *w, struct hdb_wal_rec *recs, uint32_t n, struct hdb_err *err)
{
    if (w->failed) {
        return refuse(w, err);
    }
    uint64_t size = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (recs[i].type == 0 || recs[i].type > HDB_WAL_REC_TYPE_MAX ||
            (recs[i].klen > 0 && recs[i].key == NULL) ||
            (recs[i].vlen > 0 && recs[i].val == NULL)) {
            return hdb_err_set(err, HDB_INVALID, "WAL record %u: bad type or buffer", i);
        }
        size += rec_bytes(recs[i].klen, recs[i].vlen);
    }
    if (n == 0 || size > payload_max(w)) {
        return hdb_err_set(err, n == 0 ? HDB_INVALID : HDB_TOOBIG,
                           "a commit of %llu log bytes does not fit in a WAL segment of %llu bytes",
                           (unsigned long long)size, (unsigned long long)w->opts.segment_bytes);
    }
    uint64_t total = HDB_WAL_GROUP_HEADER_BYTES + (uint64_t)w->pend_bytes + size;
    if (w->pend_recs > 0 && (total > w->opts.group_bytes_max || total > payload_max(w))) {
        return hdb_err_set(err, HDB_FULL, "WAL group full");
    }
    int rc = buf_reserve(w, total, err);
    if (rc != HDB_OK) {
        return rc;
    }
    for (uint32_t i = 0; i < n; i++) {
        recs[i].lsn = w->next_lsn++;
        uint8_t *p = w->buf + HDB_WAL_GROUP_HEADER_BYTES + w->pend_bytes;
        encode_rec(p, &recs[i]);
        w->pend_bytes += rec_bytes(recs[i].klen, recs[i].vlen);
        w->pend_recs++;
    }
    return HDB_OK;
}

uint32_t hdb_wal_pending_bytes(const struct hdb_wal *w)
{
    return w->pend_bytes;
}

uint32_t hdb_wal_pending_records(const struct hdb_wal *w)
{
    return w->pend_recs;
}

void hdb_wal_mark(const struct hdb_wal *w, struct hdb_wal_mark *mark)
{
    mark->bytes = w->pend_bytes;
    mark->records = w->pend_recs;
    mark->next_lsn = w->next_lsn;
}

void hdb_wal_rewind(struct hdb_wal *w, const struct hdb_wal_mark *mark)
{
    w->pend_bytes = mark->bytes;
    w->pend_recs = mark->records;
    w->next_lsn = mark->next_lsn;
}

/* A segment that may be renamed for reuse: not current, all records below keep_lsn. */
static struct wal_seg *seg_reusable(struct hdb_wal *w)
{
    struct wal_seg *best = NULL;
    for (uint32_t i = 0; i < w->nsegs; i++) {
        struct wal_seg *s = &w->segs[i];
        bool ahead = s->seq > w->cur->seq; /* stale: written by a life that was cut off */
        if (s != w->cur && (ahead || s->last_lsn < w->keep_lsn) &&
            (best == NULL || s->seq < best->seq)) {
            best = s;
        }
    }
    return best;
}

static int seg_recycle(struct hdb_wal *w, struct wal_seg *s, uint64_t seq, struct hdb_err *err)
{
    char from[HDB_IO_PATH_BYTES_MAX], to[HDB_IO_PATH_BYTES_MAX];
    seg_name(w, s->seq, from, sizeof from);
    seg_name(w, seq, to, sizeof to);
    int rc = hdb_io_rename(w->io, from, to, err);
    if (rc != HDB_OK) {
        return rc;
    }
    hdb_file_close(s->file);
    s->file = NULL;
    s->seq = seq;
    s->last_lsn = 0;
    int flags = w->opts.direct_io ? HDB_FILE_DIRECT : 0;
    rc = hdb_file_open(w->io, to, flags, &s->file, err);
    if (rc == HDB_OK) {
        rc = seg_write_header(w, s, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_sync_dir(w->io, w->dir, err);
    }
    w->stats.segments_recycled++;
    return rc;
}

/* Moves appends to segment cur + 1: an existing stale one, a recycled one or a new one. */
static int seg_switch(struct hdb_wal *w, struct hdb_err *err)
{
    uint64_t seq = w->cur->seq + 1;
    int rc = HDB_OK;
    if (w->cur->unsynced) {
        rc = hdb_io_fsync(w->cur->file, err); /* a later group's durable_lsn covers it */
        if (rc != HDB_OK) {
            return rc;
        }
        w->cur->unsynced = false;
        w->durable_lsn = w->written_lsn;
    }
    struct wal_seg *s = seg_find(w, seq);
    if (s != NULL) {
        s->last_lsn = 0;
        rc = seg_write_header(w, s, err);
    } else if ((s = seg_reusable(w)) != NULL) {
        rc = seg_recycle(w, s, seq, err);
    } else if (w->nsegs < w->opts.max_segments) {
        rc = seg_create(w, seq, &s, err);
    } else {
        return hdb_err_set(err, HDB_FULL,
                           "WAL full: %u segments of %llu MiB hold records not yet checkpointed",
                           w->nsegs, (unsigned long long)(w->opts.segment_bytes >> 20));
    }
    if (rc == HDB_OK) {
        w->cur = s;
        w->write_off = HDB_WAL_SEG_HEADER_BYTES;
    }
    return rc;
}

static void seal_group(struct hdb_wal *w, uint64_t total)
{
    uint8_t *h = w->buf;
    uint64_t lsn_first = w->next_lsn - w->pend_recs;
    memset(h, 0, HDB_WAL_GROUP_HEADER_BYTES);
    hdb_put32(h, HDB_WAL_GROUP_MAGIC);
    hdb_put16(h + 4, HDB_WAL_VERSION);
    hdb_put64(h + 8, w->cur->seq);
    hdb_put64(h + 16, w->epoch);
    hdb_put64(h + 24, lsn_first);
    hdb_put32(h + 32, w->pend_recs);
    hdb_put32(h + 36, w->pend_bytes);
    hdb_put64(h + 40, w->durable_lsn);
    hdb_put64(h + 48, XXH3_64bits(h + HDB_WAL_GROUP_HEADER_BYTES, w->pend_bytes));
    hdb_put64(h + 56, XXH3_64bits(h, 56));
    uint64_t used = HDB_WAL_GROUP_HEADER_BYTES + (uint64_t)w->pend_bytes;
    memset(h + used, 0, total - used);
}

static int flush_sync_only(struct hdb_wal *w, struct hdb_err *err)
{
    if (!w->cur->unsynced) {
        return HDB_OK;
    }
    uint64_t t0 = now_ns();
    int rc = hdb_io_fsync(w->cur->file, err);
    if (rc != HDB_OK) {
        return wal_fail(w, rc, err);
    }
    count_fsync(w, now_ns() - t0);
    w->cur->unsynced = false;
    w->durable_lsn = w->written_lsn;
    return HDB_OK;
}

int hdb_wal_flush(struct hdb_wal *w, bool sync, struct hdb_err *err)
{
    if (w->failed) {
        return refuse(w, err);
    }
    if (w->pend_recs == 0) {
        return sync ? flush_sync_only(w, err) : HDB_OK;
    }
    uint64_t total = align_up(HDB_WAL_GROUP_HEADER_BYTES + (uint64_t)w->pend_bytes);
    if (w->write_off + total > w->opts.segment_bytes) {
        int rc = seg_switch(w, err);
        if (rc != HDB_OK) {
            return rc == HDB_FULL ? rc : wal_fail(w, rc, err);
        }
    }
    seal_group(w, total);
    struct hdb_io_op ops[2] = {
        {.file = w->cur->file,
         .kind = HDB_IO_WRITE,
         .buf = w->buf,
         .len = (uint32_t)total,
         .off = w->write_off},
        {.file = w->cur->file, .kind = HDB_IO_FSYNC},
    };
    uint64_t t0 = now_ns();
    int rc = hdb_io_run(w->io, ops, sync ? 2 : 1, err);
    if (rc != HDB_OK) {
        return wal_fail(w, rc, err);
    }
    w->write_off += total;
    w->written_lsn = w->next_lsn;
    w->cur->last_lsn = w->next_lsn - 1;
    w->cur->unsynced = !sync;
    if (sync) {
        count_fsync(w, now_ns() - t0);
        w->durable_lsn = w->next_lsn;
    }
    w->stats.groups++;
    w->stats.records += w->pend_recs;
    w->stats.bytes += total;
    w->stats.group_records_max =
        w->pend_recs > w->stats.group_records_max ? w->pend_recs : w->stats.group_records_max;
    w->pend_recs = 0;
    w->pend_bytes = 0;
    return HDB_OK;
}

void hdb_wal_tail(const struct hdb_wal *w, struct hdb_wal_pos *pos)
{
    pos->lsn = w->written_lsn;
    pos->seg_seq = w->cur->seq;
    pos->offset = w->write_off;
    pos->epoch = w->epoch;
}

uint64_t hdb_wal_durable_lsn(const struct hdb_wal *w)
{
    return w->durable_lsn;
}

uint64_t hdb_wal_next_lsn(const struct hdb_wal *w)
{
    return w->next_lsn;
}

int hdb_wal_recycle(struct hdb_wal *w, uint64_t keep_lsn, struct hdb_err *err)
{
    (void)err;
    if (keep_lsn > w->keep_lsn) {
        w->keep_lsn = keep_lsn;
    }
    return HDB_OK;
}

uint64_t hdb_wal_live_bytes(const struct hdb_wal *w)
{
    uint64_t n = w->write_off;
    for (uint32_t i = 0; i < w->nsegs; i++) {
        const struct wal_seg *s = &w->segs[i];
        if (s != w->cur && s->seq < w->cur->seq && s->last_lsn >= w->keep_lsn) {
            n += w->opts.segment_bytes;
        }
    }
    return n;
}

bool hdb_wal_failed(const struct hdb_wal *w)
{
    return w->failed;
}

void hdb_wal_get_stats(const struct hdb_wal *w, struct hdb_wal_stats *out)
{
    *out = w->stats;
}
