/*
 * store_verify.c — hdb_store_verify: after a checkpoint, reads the durable
 * image back from disk through a cache of its own and reports every
 * problem it finds instead of stopping at the first:
 *   - superblock copies that are neither valid nor blank;
 *   - catalog and free-list chain pages that fail their checks;
 *   - tree pages that fail their checksum or structure (hdb_bt_verify);
 *   - page accounting: each page below page_count is exactly one of
 *     superblock, tree/overflow, chain, free; referenced twice or by
 *     nothing at all is a problem. Trees of snapshots are walked too and
 *     may share pages with each other and the newest trees (copy-on-write),
 *     but a page they reach must not be free or a chain page.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/page.h"
#include "core/store_int.h"

#define VERIFY_CACHE_FRAMES 256u

enum page_use { USE_NONE = 0, USE_SUPER, USE_TREE, USE_OVERFLOW, USE_CHAIN, USE_FREE };

struct verifier {
    struct hdb_store *s;
    struct hdb_cache *cache;
    uint8_t *use; /* enum page_use per page */
    uint64_t page_count;
    void (*problem)(void *ctx, const char *msg);
    void *ctx;
    struct hdb_verify_report *rep;
    bool sharing;   /* walking a snapshot's trees: tree pages may be reached again */
    uint8_t *table; /* the snapshot table's bytes, gathered from its chain */
    size_t table_len, table_cap;
};

static void report(struct verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(struct verifier *v, const char *fmt, ...)
{
    char msg[HDB_ERR_MSG_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    v->rep->problems++;
    if (v->problem != NULL) {
        v->problem(v->ctx, msg);
    }
}

static const char *use_name(uint8_t use)
{
    static const char *const names[] = {"unused",   "superblock", "tree",
                                        "overflow", "chain",      "free"};
    return use < sizeof names / sizeof names[0] ? names[use] : "?";
}

static void mark(struct verifier *v, uint64_t pgno, enum page_use use)
{
    if (pgno >= v->page_count) {
        report(v, "page %llu (%s) is past the end of the file (%llu pages)",
               (unsigned long long)pgno, use_name(use), (unsigned long long)v->page_count);
        return;
    }
    bool tree_use = use == USE_TREE || use == USE_OVERFLOW;
    if (v->sharing && tree_use && v->use[pgno] == use) {
        return;
    }
    if (v->use[pgno] != USE_NONE) {
        report(v, "page %llu is used as %s and also as %s", (unsigned long long)pgno,
               use_name(v->use[pgno]), use_name(use));
        return;
    }
    v->use[pgno] = (uint8_t)use;
}

static void tree_visit(void *ctx, uint64_t pgno, enum hdb_page_type type)
{
    mark(ctx, pgno, type == HDB_PAGE_OVERFLOW ? USE_OVERFLOW : USE_TREE);
}

static void tree_problem(void *ctx, const char *msg)
{
    report(ctx, "%s", msg);
}

/* Reads both superblock copies; reports damaged ones; returns the newest valid. */
static int verify_superblocks(struct verifier *v, struct sb_fields *best, struct hdb_err *err)
{
    struct hdb_store *s = v->s;
    uint32_t ps = s->page_size;
    uint8_t *buf = hdb_io_alloc(2 * (size_t)ps);
    if (buf == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory verifying");
    }
    int rc = hdb_io_read(s->data, buf, 2 * ps, 0, err);
    bool found = false;
    for (uint32_t slot = 0; rc == HDB_OK && slot < 2; slot++) {
        const uint8_t *p = buf + (size_t)slot * ps;
        struct sb_fields f;
        struct hdb_err e;
        bool blank = hdb_get32(p) == 0 && hdb_get64(p + HDB_PAGE_OFF_CHECKSUM) == 0;
        if (meta_sb_check(s, p, ps, slot, &f, &e) != HDB_OK) {
            if (!blank) {
                report(v, "superblock copy %u: %s", slot, e.msg);
            }
        } else if (!found || f.seq > best->seq) {
            *best = f;
            found = true;
        }
    }
    hdb_io_free(buf);
    if (rc == HDB_OK && !found) {
        rc = hdb_err_set(err, HDB_CORRUPT, "%s: no valid superblock copy", s->data_path);
    }
    return rc;
}

struct tree_ref {
    uint32_t id;
    uint64_t root;
};

struct tree_refs {
    struct tree_ref *v;
    size_t n, cap;
};

static void refs_add(struct verifier *v, struct tree_refs *refs, uint32_t id, uint64_t root)
{
    if (refs->n == refs->cap) {
        size_t cap = refs->cap == 0 ? 16 : refs->cap * 2;
        struct tree_ref *p = realloc(refs->v, cap * sizeof *p);
        if (p == NULL) {
            report(v, "out of memory listing trees");
            return;
        }
        refs->v = p;
        refs->cap = cap;
    }
    refs->v[refs->n++] = (struct tree_ref){.id = id, .root = root};
}

static void catalog_entries(struct verifier *v, const uint8_t *page, struct tree_refs *refs)
{
    uint32_t count = hdb_get32(page + HDB_CHAIN_OFF_COUNT);
    uint32_t bytes = hdb_get32(page + HDB_CHAIN_OFF_BYTES);
    const uint8_t *p = page + HDB_PAGE_HEADER_BYTES;
    uint32_t at = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint16_t nlen = at + HDB_CATALOG_ENTRY_HEADER_BYTES <= bytes ? hdb_get16(p + at + 4) : 0;
        uint32_t size = (HDB_CATALOG_ENTRY_HEADER_BYTES + nlen + 7u) & ~7u;
        if (nlen == 0 || at + size > bytes) {
            report(v, "catalog page %llu: entry %u overruns the page",
                   (unsigned long long)hdb_page_pgno(page), i);
            return;
        }
        refs_add(v, refs, hdb_get32(p + at), hdb_get64(p + at + 8));
        at += size;
    }
}

static void free_entries_mark(struct verifier *v, const uint8_t *page)
{
    uint32_t count = hdb_get32(page + HDB_CHAIN_OFF_COUNT);
    uint32_t max = (v->s->page_size - HDB_PAGE_HEADER_BYTES) / HDB_FREE_ENTRY_BYTES;
    if (count > max) {
        report(v, "free-list page %llu: count %u exceeds %u",
               (unsigned long long)hdb_page_pgno(page), count, max);
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        mark(v, hdb_get64(page + HDB_PAGE_HEADER_BYTES + (size_t)i * HDB_FREE_ENTRY_BYTES),
             USE_FREE);
        v->rep->free_pages++;
    }
}

/* Walks one chain, marking its pages and handing each page to the entry parser. */
static void verify_chain(struct verifier *v, uint64_t head, enum hdb_page_type type,
                         struct tree_refs *refs)
{
    uint64_t steps = 0;
    for (uint64_t pgno = head; pgno != 0; steps++) {
        if (steps > v->page_count || pgno >= v->page_count) {
            report(v, "chain page %llu out of range or chain has a cycle",
                   (unsigned long long)pgno);
            return;
        }
        mark(v, pgno, USE_CHAIN);
        v->rep->meta_pages++;
        struct hdb_frame *f;
        struct hdb_err e;
        if (hdb_cache_get(v->cache, pgno, &f, &e) != HDB_OK) {
            report(v, "%s", e.msg);
            return;
        }
        if (hdb_page_type(f->data) != type) {
            report(v, "page %llu: type %u, expected chain type %u", (unsigned long long)pgno,
                   hdb_page_type(f->data), type);
            hdb_cache_unpin(v->cache, f);
            return;
        }
        if (type == HDB_PAGE_CATALOG) {
            catalog_entries(v, f->data, refs);
        } else if (type == HDB_PAGE_SNAPSHOTS) {
            uint32_t bytes = hdb_get32(f->data + HDB_CHAIN_OFF_BYTES);
            if (bytes > v->s->page_size - HDB_PAGE_HEADER_BYTES ||
                bytes > v->table_cap - v->table_len) {
                report(v, "snapshot-table page %llu: %u bytes overrun the table",
                       (unsigned long long)pgno, bytes);
            } else {
                memcpy(v->table + v->table_len, f->data + HDB_PAGE_HEADER_BYTES, bytes);
                v->table_len += bytes;
            }
        } else {
            free_entries_mark(v, f->data);
        }
        pgno = hdb_get64(f->data + HDB_CHAIN_OFF_NEXT);
        hdb_cache_unpin(v->cache, f);
    }
}

static void verify_trees(struct verifier *v, const struct tree_refs *refs)
{
    struct hdb_pager pager = {.cache = v->cache, .page_size = v->s->page_size};
    struct hdb_bt_verify_cb cb = {.visit = tree_visit, .problem = tree_problem, .ctx = v};
    for (size_t i = 0; i < refs->n; i++) {
        uint64_t entries = 0, problems = 0;
        struct hdb_err e;
        v->rep->trees++;
        if (refs->v[i].root == 0) {
            continue;
        }
        if (hdb_bt_verify(&pager, refs->v[i].root, &cb, &entries, &problems, &e) != HDB_OK) {
            report(v, "tree %u: %s", refs->v[i].id, e.msg);
        }
        v->rep->entries += entries;
    }
}

/* Walks every snapshot's trees; their pages may be shared, never free. */
static void verify_snapshots(struct verifier *v, const struct sb_fields *f)
{
    if (f->snap_head == 0) {
        return;
    }
    if (f->snap_bytes > f->page_count * (uint64_t)v->s->page_size) {
        report(v, "superblock: snapshot table of %llu bytes", (unsigned long long)f->snap_bytes);
        return;
    }
    v->table = malloc(f->snap_bytes + 1);
    v->table_cap = f->snap_bytes;
    if (v->table == NULL) {
        report(v, "out of memory reading the snapshot table");
        return;
    }
    verify_chain(v, f->snap_head, HDB_PAGE_SNAPSHOTS, NULL);
    if (v->table_len != v->table_cap) {
        report(v, "snapshot table: %zu of %zu bytes found", v->table_len, v->table_cap);
        return;
    }
    struct snap_table t;
    struct hdb_err e;
    if (snap_table_parse(v->table, v->table_len, &t, &e) != HDB_OK) {
        report(v, "%s", e.msg);
        snap_table_free(&t);
        return;
    }
    struct tree_refs refs = {0};
    for (uint32_t i = 0; i < t.nsnaps; i++) {
        for (uint32_t r = 0; r < t.snaps[i].nroots; r++) {
            refs_add(v, &refs, t.snaps[i].roots[r].tree, t.snaps[i].roots[r].root);
        }
    }
    struct hdb_verify_report keep = *v->rep;
    v->sharing = true;
    verify_trees(v, &refs);
    v->sharing = false;
    v->rep->entries = keep.entries; /* counts are of the newest trees */
    v->rep->trees = keep.trees;
    free(refs.v);
    snap_table_free(&t);
}

static void verify_accounting(struct verifier *v)
{
    for (uint64_t pgno = 0; pgno < v->page_count; pgno++) {
        switch (v->use[pgno]) {
        case USE_NONE:
            report(v, "page %llu is neither used nor free (lost)", (unsigned long long)pgno);
            break;
        case USE_TREE:
        case USE_OVERFLOW:
            v->rep->tree_pages++;
            break;
        default:
            break;
        }
    }
    v->rep->pages = v->page_count;
}

static int verify_image(struct verifier *v, struct hdb_err *err)
{
    struct sb_fields f = {0};
    int rc = verify_superblocks(v, &f, err);
    if (rc != HDB_OK) {
        return rc;
    }
    v->page_count = f.page_count;
    v->use = calloc(f.page_count, 1);
    if (v->use == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory for %llu pages",
                           (unsigned long long)f.page_count);
    }
    v->use[0] = USE_SUPER;
    v->use[1] = USE_SUPER;
    struct tree_refs refs = {0};
    verify_chain(v, f.catalog_head, HDB_PAGE_CATALOG, &refs);
    verify_chain(v, f.free_head, HDB_PAGE_FREELIST, NULL);
    if (refs.n != f.catalog_count) {
        report(v, "catalog holds %zu trees, superblock says %llu", refs.n,
               (unsigned long long)f.catalog_count);
    }
    verify_trees(v, &refs);
    verify_snapshots(v, &f);
    verify_accounting(v);
    free(refs.v);
    free(v->table);
    return HDB_OK;
}

int hdb_store_verify(struct hdb_store *s, void (*problem)(void *ctx, const char *msg), void *ctx,
                     struct hdb_verify_report *rep, struct hdb_err *err)
{
    struct hdb_verify_report local;
    rep = rep != NULL ? rep : &local;
    memset(rep, 0, sizeof *rep);
    int rc = hdb_store_checkpoint(s, err);
    if (rc != HDB_OK) {
        return rc;
    }
    struct verifier v = {.s = s, .problem = problem, .ctx = ctx, .rep = rep};
    struct hdb_cache_opts co = {
        .capacity_bytes = (uint64_t)VERIFY_CACHE_FRAMES * s->page_size,
        .page_size = s->page_size,
        .verify_on_read = true,
    };
    rc = hdb_cache_create(&co, s->data, &v.cache, err);
    if (rc == HDB_OK) {
        rc = verify_image(&v, err);
        hdb_cache_destroy(v.cache);
    }
    free(v.use);
    return rc;
}
