/*
 * store_meta.c — the durable image: superblock copies, the catalog and
 * free-list chains they point to, checkpoints, and loading all of that at
 * open (see the layouts in store_int.h).
 *
 * A checkpoint writes the newest published version V:
 *   1. pages still pending that V reaches get last_ckpt = this checkpoint;
 *   2. the previous checkpoint's chain pages become pending;
 *   3. new catalog (V's tree roots) and free-list chains are built in
 *      freshly allocated pages;
 *   4. every dirty page is written, then fdatasync;
 *   5. the superblock copy for this checkpoint is written, then fdatasync;
 *   6. WAL segments older than the previous checkpoint are recycled.
 * Any failure in 4-6 fails the store (writes refused until reopen).
 */
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/log.h"
#include "core/page.h"
#include "core/store_int.h"

/* --- chain building --- */

/* Writes entries into a chain of pages, taken from `preset` if given, else allocated. */
struct chain_writer {
    struct hdb_store *s;
    enum hdb_page_type type;
    uint64_t gen;
    const uint64_t *preset;
    size_t npreset, next_preset;
    struct hdb_frame *frame; /* current page, pinned */
    uint64_t head;
    uint32_t used;  /* body bytes used in the current page */
    uint32_t count; /* entries in the current page */
};

static void chain_close_page(struct chain_writer *w)
{
    if (w->frame != NULL) {
        hdb_put32(w->frame->data + HDB_CHAIN_OFF_COUNT, w->count);
        hdb_put32(w->frame->data + HDB_CHAIN_OFF_BYTES, w->used);
        hdb_cache_mark_dirty(w->s->cache, w->frame);
        hdb_cache_unpin(w->s->cache, w->frame);
        w->frame = NULL;
    }
}

/* Starts a new chain page, linked from the current one. */
static int chain_new_page(struct chain_writer *w, struct hdb_err *err)
{
    uint64_t pgno;
    if (w->preset != NULL) {
        if (w->next_preset == w->npreset) {
            return hdb_err_set(err, HDB_ERROR, "checkpoint: free-list chain pages underestimated");
        }
        pgno = w->preset[w->next_preset++];
    } else {
        int rc = space_alloc_meta(w->s, &pgno, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    struct hdb_frame *f;
    int rc = hdb_cache_new(w->s->cache, pgno, &f, err);
    if (rc != HDB_OK) {
        return rc;
    }
    hdb_page_init(f->data, w->s->page_size, w->type, pgno, w->gen);
    if (w->frame == NULL) {
        w->head = pgno;
    } else {
        hdb_put64(w->frame->data + HDB_CHAIN_OFF_NEXT, pgno);
        chain_close_page(w);
    }
    w->frame = f;
    w->used = 0;
    w->count = 0;
    return HDB_OK;
}

/* Reserves `bytes` for one entry and returns where to write it. */
static int chain_reserve(struct chain_writer *w, uint32_t bytes, uint8_t **at, struct hdb_err *err)
{
    uint32_t body = w->s->page_size - HDB_PAGE_HEADER_BYTES;
    if (w->frame == NULL || w->used + bytes > body) {
        int rc = chain_new_page(w, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    *at = w->frame->data + HDB_PAGE_HEADER_BYTES + w->used;
    w->used += bytes;
    w->count++;
    return HDB_OK;
}

static uint32_t catalog_entry_bytes(size_t name_len)
{
    return (uint32_t)((HDB_CATALOG_ENTRY_HEADER_BYTES + name_len + 7) & ~(size_t)7);
}

static int write_catalog(struct hdb_store *s, const struct hdb_version *v, uint64_t *head,
                         uint64_t *count, struct hdb_err *err)
{
    struct chain_writer w = {.s = s, .type = HDB_PAGE_CATALOG, .gen = v->gen};
    int rc = HDB_OK;
    *count = 0;
    for (uint32_t id = 1; rc == HDB_OK && id < v->ntrees; id++) {
        if (v->roots[id] == HDB_ROOT_NONE) {
            continue;
        }
        size_t nlen = strlen(s->trees[id].name);
        uint8_t *at;
        rc = chain_reserve(&w, catalog_entry_bytes(nlen), &at, err);
        if (rc == HDB_OK) {
            hdb_put32(at, id);
            hdb_put16(at + 4, (uint16_t)nlen);
            hdb_put64(at + 8, v->roots[id]);
            memcpy(at + HDB_CATALOG_ENTRY_HEADER_BYTES, s->trees[id].name, nlen);
            (*count)++;
        }
    }
    chain_close_page(&w);
    *head = w.head;
    return rc;
}

/* Number of pages free as seen from the checkpointed version (gen). */
static size_t free_entries(const struct hdb_store *s, uint64_t gen)
{
    size_t n = s->free_now.n + s->work_alloc.n;
    const struct pending_vec *lists[2] = {&s->pending, &s->pending_ckpt};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->n; i++) {
            const struct pending_page *p = &lists[l]->v[i];
            n += p->freed <= gen && !snap_holds(s, p->born, p->freed);
        }
    }
    return n;
}

/* Allocates the free-list chain's pages; each one taken from free_now shrinks the list. */
static int reserve_free_chain(struct hdb_store *s, uint64_t gen, struct u64vec *pages,
                              struct hdb_err *err)
{
    uint32_t per_page = (s->page_size - HDB_PAGE_HEADER_BYTES) / HDB_FREE_ENTRY_BYTES;
    for (;;) {
        size_t need = (free_entries(s, gen) + per_page - 1) / per_page;
        if (pages->n >= need) {
            return HDB_OK;
        }
        uint64_t pgno;
        int rc = space_alloc_meta(s, &pgno, err);
        if (rc != HDB_OK) {
            return rc;
        }
        if (u64vec_push(pages, pgno) != HDB_OK) {
            return hdb_err_set(err, HDB_NOMEM, "out of memory reserving free-list pages");
        }
    }
}

static int put_free_entry(struct chain_writer *w, uint64_t pgno, uint64_t last_ckpt,
                          struct hdb_err *err)
{
    uint8_t *at;
    int rc = chain_reserve(w, HDB_FREE_ENTRY_BYTES, &at, err);
    if (rc == HDB_OK) {
        hdb_put64(at, pgno);
        hdb_put64(at + 8, last_ckpt);
    }
    return rc;
}

static int put_free_entries(struct hdb_store *s, struct chain_writer *w, uint64_t gen,
                            struct hdb_err *err)
{
    int rc = HDB_OK;
    for (size_t i = 0; rc == HDB_OK && i < s->free_now.n; i++) {
        rc = put_free_entry(w, s->free_now.v[i], 0, err);
    }
    for (size_t i = 0; rc == HDB_OK && i < s->work_alloc.n; i++) {
        rc = put_free_entry(w, s->work_alloc.v[i], 0, err);
    }
    const struct pending_vec *lists[2] = {&s->pending, &s->pending_ckpt};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; rc == HDB_OK && i < lists[l]->n; i++) {
            const struct pending_page *p = &lists[l]->v[i];
            if (p->freed <= gen && !snap_holds(s, p->born, p->freed)) {
                rc = put_free_entry(w, p->pgno, p->last_ckpt, err);
            }
        }
    }
    return rc;
}

static int write_free_list(struct hdb_store *s, uint64_t gen, uint64_t *head, uint64_t *count,
                           struct hdb_err *err)
{
    struct u64vec pages = {0};
    int rc = reserve_free_chain(s, gen, &pages, err);
    *count = free_entries(s, gen);
    struct chain_writer w = {
        .s = s, .type = HDB_PAGE_FREELIST, .gen = gen, .preset = pages.v, .npreset = pages.n};
    if (rc == HDB_OK) {
        rc = put_free_entries(s, &w, gen, err);
    }
    while (rc == HDB_OK && w.next_preset < w.npreset) {
        rc = chain_new_page(&w, err); /* a reserved page left over stays in the chain, empty */
    }
    chain_close_page(&w);
    u64vec_free(&pages);
    *head = w.head;
    return rc;
}

/* The snapshot table, split over a chain of pages (one entry per page). */
static int write_snap_table(struct hdb_store *s, uint64_t gen, uint64_t *head, uint64_t *bytes,
                            struct hdb_err *err)
{
    uint8_t *table;
    size_t len;
    *head = 0;
    *bytes = 0;
    int rc = snap_table_encode(s, gen, &table, &len, err);
    if (rc != HDB_OK || len == 0) {
        return rc;
    }
    struct chain_writer w = {.s = s, .type = HDB_PAGE_SNAPSHOTS, .gen = gen};
    uint32_t body = s->page_size - HDB_PAGE_HEADER_BYTES;
    for (size_t at = 0; rc == HDB_OK && at < len;) {
        uint32_t piece = len - at < body ? (uint32_t)(len - at) : body;
        uint8_t *dst;
        rc = chain_reserve(&w, piece, &dst, err);
        if (rc == HDB_OK) {
            memcpy(dst, table + at, piece);
            at += piece;
        }
    }
    chain_close_page(&w);
    free(table);
    *head = w.head;
    *bytes = len;
    return rc;
}

/* --- superblock --- */

static void sb_encode(uint8_t *p, uint32_t page_size, const struct sb_fields *f)
{
    hdb_page_init(p, page_size, HDB_PAGE_SUPER, f->seq % 2, f->gen);
    hdb_put64(p + HDB_SB_OFF_SEQ, f->seq);
    hdb_put64(p + HDB_SB_OFF_GEN, f->gen);
    hdb_put64(p + HDB_SB_OFF_WAL, f->wal.lsn);
    hdb_put64(p + HDB_SB_OFF_WAL + 8, f->wal.seg_seq);
    hdb_put64(p + HDB_SB_OFF_WAL + 16, f->wal.offset);
    hdb_put64(p + HDB_SB_OFF_WAL + 24, f->wal.epoch);
    hdb_put64(p + HDB_SB_OFF_COMMIT_TS, f->commit_ts);
    hdb_put64(p + HDB_SB_OFF_PAGE_COUNT, f->page_count);
    hdb_put32(p + HDB_SB_OFF_PAGE_SIZE, f->page_size);
    hdb_put32(p + HDB_SB_OFF_TREE_IDS, f->tree_ids);
    hdb_put64(p + HDB_SB_OFF_CATALOG_HEAD, f->catalog_head);
    hdb_put64(p + HDB_SB_OFF_CATALOG_COUNT, f->catalog_count);
    hdb_put64(p + HDB_SB_OFF_FREE_HEAD, f->free_head);
    hdb_put64(p + HDB_SB_OFF_FREE_COUNT, f->free_count);
    hdb_put64(p + HDB_SB_OFF_TXN, f->txn);
    hdb_put64(p + HDB_SB_OFF_PREV_LSN, f->prev_lsn);
    hdb_put64(p + HDB_SB_OFF_STORE_ID, f->store_id);
    hdb_put64(p + HDB_SB_OFF_SNAP_HEAD, f->snap_head);
    hdb_put64(p + HDB_SB_OFF_SNAP_BYTES, f->snap_bytes);
    hdb_put64(p + HDB_SB_OFF_MARK, f->mark);
    hdb_page_seal(p, page_size);
}

static void sb_decode(const uint8_t *p, struct sb_fields *f)
{
    f->seq = hdb_get64(p + HDB_SB_OFF_SEQ);
    f->gen = hdb_get64(p + HDB_SB_OFF_GEN);
    f->wal.lsn = hdb_get64(p + HDB_SB_OFF_WAL);
    f->wal.seg_seq = hdb_get64(p + HDB_SB_OFF_WAL + 8);
    f->wal.offset = hdb_get64(p + HDB_SB_OFF_WAL + 16);
    f->wal.epoch = hdb_get64(p + HDB_SB_OFF_WAL + 24);
    f->commit_ts = hdb_get64(p + HDB_SB_OFF_COMMIT_TS);
    f->page_count = hdb_get64(p + HDB_SB_OFF_PAGE_COUNT);
    f->page_size = hdb_get32(p + HDB_SB_OFF_PAGE_SIZE);
    f->tree_ids = hdb_get32(p + HDB_SB_OFF_TREE_IDS);
    f->catalog_head = hdb_get64(p + HDB_SB_OFF_CATALOG_HEAD);
    f->catalog_count = hdb_get64(p + HDB_SB_OFF_CATALOG_COUNT);
    f->free_head = hdb_get64(p + HDB_SB_OFF_FREE_HEAD);
    f->free_count = hdb_get64(p + HDB_SB_OFF_FREE_COUNT);
    f->txn = hdb_get64(p + HDB_SB_OFF_TXN);
    f->prev_lsn = hdb_get64(p + HDB_SB_OFF_PREV_LSN);
    f->store_id = hdb_get64(p + HDB_SB_OFF_STORE_ID);
    f->snap_head = hdb_get64(p + HDB_SB_OFF_SNAP_HEAD);
    f->snap_bytes = hdb_get64(p + HDB_SB_OFF_SNAP_BYTES);
    f->mark = hdb_get64(p + HDB_SB_OFF_MARK);
}

/* Writes superblock copy seq % 2 and fdatasyncs. */
static int sb_write(struct hdb_store *s, const struct sb_fields *f, struct hdb_err *err)
{
    uint8_t *page = hdb_io_alloc(s->page_size);
    if (page == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory for the superblock");
    }
    sb_encode(page, s->page_size, f);
    struct hdb_io_op ops[2] = {
        {.file = s->data,
         .kind = HDB_IO_WRITE,
         .buf = page,
         .len = s->page_size,
         .off = (f->seq % 2) * (uint64_t)s->page_size},
        {.file = s->data, .kind = HDB_IO_FSYNC},
    };
    int rc = hdb_io_run(s->io, ops, 2, err);
    hdb_io_free(page);
    return rc;
}

static void sb_fill(const struct hdb_store *s, struct sb_fields *f, uint64_t seq, uint64_t gen)
{
    memset(f, 0, sizeof *f);
    f->seq = seq;
    f->gen = gen;
    f->commit_ts = s->last_commit_ts;
    f->page_count = s->page_count;
    f->page_size = s->page_size;
    f->tree_ids = s->ntrees;
    f->txn = s->last_txn;
    f->prev_lsn = s->ckpt_lsn;
    f->store_id = s->store_id;
    f->mark = s->mark_durable; /* a mark still in the pending group is not on disk yet */
    hdb_wal_tail(s->wal, &f->wal);
}

int meta_write_superblock_initial(struct hdb_store *s, struct hdb_err *err)
{
    struct sb_fields f;
    memset(&f, 0, sizeof f);
    f.seq = 1;
    f.gen = 1;
    f.page_count = 2;
    f.page_size = s->page_size;
    f.tree_ids = 1;
    f.store_id = s->store_id;
    hdb_wal_pos_initial(&f.wal);
    f.prev_lsn = f.wal.lsn;
    return sb_write(s, &f, err);
}

/* --- checkpoint --- */

static int checkpoint_write(struct hdb_store *s, struct hdb_version *v, uint64_t seq,
                            struct sb_fields *f, struct hdb_err *err)
{
    space_mark_ckpt_refs(s, seq, v->gen);
    int rc = space_retire_meta(s);
    if (rc != HDB_OK) {
        return hdb_err_set(err, rc, "checkpoint: out of memory");
    }
    space_trim_tail(s);
    uint64_t cat_head, cat_count, free_head, free_count, snap_head, snap_bytes;
    rc = write_catalog(s, v, &cat_head, &cat_count, err);
    if (rc == HDB_OK) {
        rc = write_snap_table(s, v->gen, &snap_head, &snap_bytes, err);
    }
    if (rc == HDB_OK) {
        rc = write_free_list(s, v->gen, &free_head, &free_count, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_cache_flush(s->cache, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_fsync(s->data, err);
    }
    if (rc != HDB_OK) {
        return rc;
    }
    sb_fill(s, f, seq, v->gen);
    f->commit_ts = v->commit_ts;
    f->catalog_head = cat_head;
    f->catalog_count = cat_count;
    f->free_head = free_head;
    f->free_count = free_count;
    f->snap_head = snap_head;
    f->snap_bytes = snap_bytes;
    return sb_write(s, f, err);
}

int meta_checkpoint(struct hdb_store *s, struct hdb_err *err)
{
    struct hdb_version *v = s->current;
    uint64_t seq = s->durable_seq + 1;
    struct sb_fields f;
    int rc = checkpoint_write(s, v, seq, &f, err);
    if (rc != HDB_OK) {
        hdb_err_prefix(err, "checkpoint %llu", (unsigned long long)seq);
        return store_fail(s, err);
    }
    /* Pages past the new page count are free and no durable checkpoint reaches them: the file
     * gives them back (a failure only leaves the file longer than it needs to be). */
    uint64_t size = 0;
    struct hdb_err terr = {0};
    if (hdb_file_size(s->data, &size, &terr) == HDB_OK && size > s->page_count * s->page_size &&
        hdb_file_truncate(s->data, s->page_count * s->page_size, &terr) != HDB_OK) {
        hdb_log(HDB_LOG_WARN, "%s: giving back free pages: %s", s->data_path, terr.msg);
    }
    s->prev_ckpt_lsn = s->ckpt_lsn;
    s->ckpt_lsn = f.wal.lsn;
    space_checkpointed(s, seq, v->gen);
    rc = hdb_wal_recycle(s->wal, s->prev_ckpt_lsn, err);
    if (rc != HDB_OK) {
        return store_fail(s, err);
    }
    s->stat_checkpoints++;
    hdb_log(HDB_LOG_DEBUG, "%s: checkpoint %llu: gen %llu, wal lsn %llu, %llu pages", s->data_path,
            (unsigned long long)seq, (unsigned long long)v->gen, (unsigned long long)f.wal.lsn,
            (unsigned long long)s->page_count);
    return HDB_OK;
}

/* --- loading --- */

/* Checks copy `slot` assuming page size `ps`; fills `f` when valid. */
int meta_sb_check(const struct hdb_store *s, const uint8_t *p, uint32_t ps, uint32_t slot,
                  struct sb_fields *f, struct hdb_err *err)
{
    int rc = hdb_page_check(p, ps, slot, s->data_path, true, err);
    if (rc != HDB_OK) {
        return rc;
    }
    sb_decode(p, f);
    if (hdb_page_type(p) != HDB_PAGE_SUPER || f->page_size != ps || f->seq % 2 != slot ||
        f->page_count < 2) {
        return hdb_err_set(err, HDB_CORRUPT, "%s: page %u: not a valid superblock copy",
                           s->data_path, slot);
    }
    return HDB_OK;
}

#define SB_READ_BYTES (2 * HDB_PAGE_SIZE_MAX)

/* Finds the valid copy with the largest seq among all page sizes. */
static void sb_pick(const struct hdb_store *s, const uint8_t *buf, uint64_t len,
                    struct sb_fields *best, bool *found, struct hdb_err copy_err[2])
{
    *found = false;
    for (uint32_t ps = HDB_PAGE_SIZE_MIN; ps <= HDB_PAGE_SIZE_MAX; ps *= 2) {
        for (uint32_t slot = 0; slot < 2; slot++) {
            if ((uint64_t)(slot + 1) * ps > len) {
                continue;
            }
            struct sb_fields f;
            struct hdb_err e;
            if (meta_sb_check(s, buf + (size_t)slot * ps, ps, slot, &f, &e) != HDB_OK) {
                if (ps == s->page_size || copy_err[slot].code == HDB_OK) {
                    copy_err[slot] = e;
                }
                continue;
            }
            if (!*found || f.seq > best->seq) {
                *best = f;
                *found = true;
            }
        }
    }
}

int meta_read_superblock(struct hdb_store *s, struct sb_fields *f, bool *fresh,
                         struct hdb_recovery_info *info, struct hdb_err *err)
{
    uint64_t size;
    int rc = hdb_file_size(s->data, &size, err);
    if (rc != HDB_OK) {
        return rc;
    }
    uint64_t len = size < SB_READ_BYTES ? size : SB_READ_BYTES;
    len &= ~(uint64_t)(HDB_IO_ALIGN - 1);
    *fresh = false;
    if (len == 0) {
        *fresh = true;
        return HDB_OK;
    }
    uint8_t *buf = hdb_io_alloc(SB_READ_BYTES);
    if (buf == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory reading superblocks");
    }
    rc = hdb_io_read(s->data, buf, (uint32_t)len, 0, err);
    if (rc == HDB_OK) {
        struct hdb_err copy_err[2] = {{0}, {0}};
        bool found;
        sb_pick(s, buf, len, f, &found, copy_err);
        if (!found && hdb_all_zero(buf, len)) {
            *fresh = true; /* creation never finished: start over */
        } else if (!found) {
            rc = hdb_err_set(err, HDB_CORRUPT, "%s: no valid superblock copy: [%s] [%s]",
                             s->data_path, copy_err[0].msg, copy_err[1].msg);
        } else {
            uint32_t other = (uint32_t)((f->seq + 1) % 2);
            const uint8_t *op = buf + (size_t)other * f->page_size;
            bool other_zero =
                (uint64_t)(other + 1) * f->page_size > len || hdb_all_zero(op, f->page_size);
            struct sb_fields of;
            struct hdb_err e;
            if (!other_zero && meta_sb_check(s, op, f->page_size, other, &of, &e) != HDB_OK) {
                info->superblock_fallback = true;
                hdb_log(HDB_LOG_WARN,
                        "superblock copy %u is damaged (%s); using copy %u (checkpoint %llu)",
                        other, e.msg, 1 - other, (unsigned long long)f->seq);
            }
        }
    }
    hdb_io_free(buf);
    return rc;
}

/* Walks a chain of `type` pages from `head`, calling `entry` per body of each page. */
typedef int (*chain_page_fn)(struct hdb_store *s, const uint8_t *page, void *ctx,
                             struct hdb_err *err);

static int chain_walk(struct hdb_store *s, uint64_t head, enum hdb_page_type type, chain_page_fn fn,
                      void *ctx, struct hdb_err *err)
{
    uint64_t steps = 0;
    for (uint64_t pgno = head; pgno != 0; steps++) {
        if (pgno < 2 || pgno >= s->page_count || steps > s->page_count) {
            return hdb_err_set(err, HDB_CORRUPT, "%s: chain page %llu out of range (or a cycle)",
                               s->data_path, (unsigned long long)pgno);
        }
        struct hdb_frame *f;
        int rc = hdb_cache_get(s->cache, pgno, &f, err);
        if (rc != HDB_OK) {
            return rc;
        }
        uint32_t bytes = hdb_get32(f->data + HDB_CHAIN_OFF_BYTES);
        if (hdb_page_type(f->data) != type || bytes > s->page_size - HDB_PAGE_HEADER_BYTES) {
            hdb_cache_unpin(s->cache, f);
            return hdb_err_set(err, HDB_CORRUPT, "%s: page %llu: bad %s chain page", s->data_path,
                               (unsigned long long)pgno,
                               type == HDB_PAGE_CATALOG    ? "catalog"
                               : type == HDB_PAGE_FREELIST ? "free-list"
                                                           : "snapshot-table");
        }
        rc = u64vec_push(&s->meta_pages, pgno);
        if (rc == HDB_OK) {
            rc = fn(s, f->data, ctx, err);
        }
        uint64_t next = hdb_get64(f->data + HDB_CHAIN_OFF_NEXT);
        hdb_cache_unpin(s->cache, f);
        if (rc != HDB_OK) {
            return rc;
        }
        pgno = next;
    }
    return HDB_OK;
}

static int load_tree(struct hdb_store *s, uint32_t id, const uint8_t *name, uint16_t nlen,
                     uint64_t root, struct hdb_err *err)
{
    if (id == 0 || id >= s->ntrees || nlen == 0 || nlen > HDB_TREE_NAME_BYTES_MAX ||
        s->trees[id].name != NULL || (root != 0 && (root < 2 || root >= s->page_count))) {
        return hdb_err_set(err, HDB_CORRUPT, "%s: bad catalog entry for tree id %u", s->data_path,
                           id);
    }
    char *copy = malloc((size_t)nlen + 1);
    if (copy == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory loading the catalog");
    }
    memcpy(copy, name, nlen);
    copy[nlen] = '\0';
    s->trees[id] = (struct tree_slot){.name = copy, .exists = true, .root = root};
    return HDB_OK;
}

static int catalog_page(struct hdb_store *s, const uint8_t *page, void *ctx, struct hdb_err *err)
{
    (void)ctx;
    uint32_t count = hdb_get32(page + HDB_CHAIN_OFF_COUNT);
    uint32_t bytes = hdb_get32(page + HDB_CHAIN_OFF_BYTES);
    const uint8_t *p = page + HDB_PAGE_HEADER_BYTES;
    uint32_t at = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (at + HDB_CATALOG_ENTRY_HEADER_BYTES > bytes) {
            return hdb_err_set(err, HDB_CORRUPT, "%s: catalog page %llu overruns", s->data_path,
                               (unsigned long long)hdb_page_pgno(page));
        }
        uint16_t nlen = hdb_get16(p + at + 4);
        uint32_t size = catalog_entry_bytes(nlen);
        if (at + size > bytes) {
            return hdb_err_set(err, HDB_CORRUPT, "%s: catalog page %llu overruns", s->data_path,
                               (unsigned long long)hdb_page_pgno(page));
        }
        int rc = load_tree(s, hdb_get32(p + at), p + at + HDB_CATALOG_ENTRY_HEADER_BYTES, nlen,
                           hdb_get64(p + at + 8), err);
        if (rc != HDB_OK) {
            return rc;
        }
        at += size;
    }
    return HDB_OK;
}

static int free_page(struct hdb_store *s, const uint8_t *page, void *ctx, struct hdb_err *err)
{
    (void)ctx;
    uint32_t count = hdb_get32(page + HDB_CHAIN_OFF_COUNT);
    if (count > (s->page_size - HDB_PAGE_HEADER_BYTES) / HDB_FREE_ENTRY_BYTES) {
        return hdb_err_set(err, HDB_CORRUPT, "%s: free-list page %llu: bad count %u", s->data_path,
                           (unsigned long long)hdb_page_pgno(page), count);
    }
    const uint8_t *p = page + HDB_PAGE_HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++, p += HDB_FREE_ENTRY_BYTES) {
        uint64_t pgno = hdb_get64(p);
        uint64_t last = hdb_get64(p + 8);
        if (pgno < 2 || pgno >= s->page_count) {
            return hdb_err_set(err, HDB_CORRUPT, "%s: free-list page %llu: page %llu out of range",
                               s->data_path, (unsigned long long)hdb_page_pgno(page),
                               (unsigned long long)pgno);
        }
        int rc = space_load_free(s, pgno, last);
        if (rc != HDB_OK) {
            return hdb_err_set(err, rc, "out of memory loading the free list");
        }
    }
    return HDB_OK;
}

struct table_buf {
    uint8_t *b;
    size_t len, cap;
};

static int snap_page(struct hdb_store *s, const uint8_t *page, void *ctx, struct hdb_err *err)
{
    struct table_buf *t = ctx;
    uint32_t bytes = hdb_get32(page + HDB_CHAIN_OFF_BYTES);
    if (t->len + bytes > t->cap) {
        return hdb_err_set(err, HDB_CORRUPT,
                           "%s: the snapshot table is longer than the %zu "
                           "bytes the superblock says",
                           s->data_path, t->cap);
    }
    memcpy(t->b + t->len, page + HDB_PAGE_HEADER_BYTES, bytes);
    t->len += bytes;
    return HDB_OK;
}

static int load_snapshots(struct hdb_store *s, const struct sb_fields *f, struct hdb_err *err)
{
    if (f->snap_head == 0) {
        return HDB_OK;
    }
    if (f->snap_bytes > f->page_count * (uint64_t)s->page_size) {
        return hdb_err_set(err, HDB_CORRUPT, "%s: snapshot table of %llu bytes", s->data_path,
                           (unsigned long long)f->snap_bytes);
    }
    struct table_buf t = {.b = malloc(f->snap_bytes + 1), .cap = f->snap_bytes};
    if (t.b == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory reading the snapshot table");
    }
    int rc = chain_walk(s, f->snap_head, HDB_PAGE_SNAPSHOTS, snap_page, &t, err);
    if (rc == HDB_OK && t.len != t.cap) {
        rc = hdb_err_set(err, HDB_CORRUPT, "%s: the snapshot table has %zu of its %zu bytes",
                         s->data_path, t.len, t.cap);
    }
    struct snap_table table = {0};
    if (rc == HDB_OK) {
        rc = snap_table_parse(t.b, t.len, &table, err);
        if (rc == HDB_CORRUPT) {
            hdb_err_prefix(err, "%s", s->data_path);
        }
    }
    if (rc == HDB_OK) {
        rc = snap_load(s, &table, f->seq, err);
    }
    snap_table_free(&table);
    free(t.b);
    return rc;
}

int meta_load_chains(struct hdb_store *s, const struct sb_fields *f, struct hdb_err *err)
{
    s->trees = calloc(s->ntrees, sizeof *s->trees);
    if (s->trees == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory for %u trees", s->ntrees);
    }
    int rc = chain_walk(s, f->catalog_head, HDB_PAGE_CATALOG, catalog_page, NULL, err);
    if (rc == HDB_OK) {
        rc = chain_walk(s, f->free_head, HDB_PAGE_FREELIST, free_page, NULL, err);
    }
    size_t listed = s->free_now.n + s->pending.n + s->pending_ckpt.n;
    if (rc == HDB_OK && listed != f->free_count) {
        rc = hdb_err_set(err, HDB_CORRUPT, "%s: free list holds %zu pages, superblock says %llu",
                         s->data_path, listed, (unsigned long long)f->free_count);
    }
    if (rc == HDB_OK) {
        rc = load_snapshots(s, f, err);
    }
    return rc;
}
