/*
 * store_space.c — which pages of the data file are free, and when a page
 * that left the working version may be written again.
 *
 *   free_now      reusable at once (no version, no durable checkpoint reaches them)
 *   work_alloc    allocated by the working generation (private pages)
 *   work_freed    private pages the working generation released again; they
 *                 join free_now at publish (a revert puts all of work_alloc back)
 *   pending_ckpt  pages a durable checkpoint references: they wait until two
 *                 later checkpoints are durable (last_ckpt + 2 <= durable_seq)
 *   pending       pages that wait only until no held version in [born, freed)
 *                 exists; checked incrementally (space_reclaim)
 *
 * When free_now is empty the file grows by one page (page_count).
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/store_int.h"

int u64vec_push(struct u64vec *a, uint64_t x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap == 0 ? 64 : a->cap * 2;
        uint64_t *v = realloc(a->v, cap * sizeof *v);
        if (v == NULL) {
            return HDB_NOMEM;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return HDB_OK;
}

void u64vec_free(struct u64vec *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

static int pending_push(struct pending_vec *a, struct pending_page p)
{
    if (a->n == a->cap) {
        size_t cap = a->cap == 0 ? 64 : a->cap * 2;
        struct pending_page *v = realloc(a->v, cap * sizeof *v);
        if (v == NULL) {
            return HDB_NOMEM;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = p;
    return HDB_OK;
}

/* True if some live version can reach a page that existed in gens [born, freed). */
static bool held_in_range(const struct hdb_store *s, uint64_t born, uint64_t freed)
{
    for (const struct hdb_version *v = s->vhead; v != NULL; v = v->next) {
        if (v->gen >= freed) {
            return false; /* versions are in gen order */
        }
        if (v->gen >= born) {
            return true;
        }
    }
    return false;
}

/*
 * Moves every reusable page of `pending` (the version-blocked list) to
 * free_now. The entries kept in pending[0, pending_scanned) are blocked by
 * versions that readers hold (the store's own newest version never blocks a
 * page freed before the working generation), so they are not looked at
 * again until a reader releases a version (space_version_gone). Pages the
 * working generation freed are kept after them, to be checked once it is
 * published.
 */
void space_reclaim(struct hdb_store *s)
{
    if (!s->reclaim_needed) {
        return;
    }
    s->reclaim_needed = false;
    struct pending_vec *pv = &s->pending;
    size_t keep = s->pending_scanned;
    s->young.n = 0;
    for (size_t i = s->pending_scanned; i < pv->n; i++) {
        struct pending_page p = pv->v[i];
        if (p.freed >= s->gen_work && pending_push(&s->young, p) == HDB_OK) {
            continue;
        }
        if (p.freed < s->gen_work && !held_in_range(s, p.born, p.freed) &&
            u64vec_push(&s->free_now, p.pgno) == HDB_OK) {
            hdb_cache_forget(s->cache, p.pgno);
            continue;
        }
        pv->v[keep++] = p; /* keep <= i: nothing unread is overwritten */
    }
    s->pending_scanned = keep;
    if (s->young.n > 0) {
        memcpy(pv->v + keep, s->young.v, s->young.n * sizeof *pv->v);
    }
    pv->n = keep + s->young.n;
}

void space_version_gone(struct hdb_store *s)
{
    s->pending_scanned = 0;
    s->reclaim_needed = true;
}

static int take_page(struct hdb_store *s, uint64_t *pgno, struct hdb_err *err)
{
    if (s->free_now.n == 0) {
        space_reclaim(s);
    }
    if (s->free_now.n > 0) {
        *pgno = s->free_now.v[--s->free_now.n];
        return HDB_OK;
    }
    if (s->page_count >= (UINT64_MAX / s->page_size) - 1) {
        return hdb_err_set(err, HDB_FULL, "%s: no more page numbers", s->data_path);
    }
    *pgno = s->page_count++;
    return HDB_OK;
}

int space_alloc_work(void *ctx, uint64_t *pgno, struct hdb_err *err)
{
    struct hdb_store *s = ctx;
    int rc = take_page(s, pgno, err);
    if (rc != HDB_OK) {
        return rc;
    }
    if (u64vec_push(&s->work_alloc, *pgno) != HDB_OK) {
        u64vec_push(&s->free_now, *pgno); /* cannot fail: it was just popped or is new */
        return hdb_err_set(err, HDB_NOMEM, "out of memory tracking page allocation");
    }
    return HDB_OK;
}

int space_alloc_meta(struct hdb_store *s, uint64_t *pgno, struct hdb_err *err)
{
    int rc = take_page(s, pgno, err);
    if (rc == HDB_OK) {
        rc = u64vec_push(&s->meta_pages, *pgno);
        if (rc != HDB_OK) {
            return hdb_err_set(err, rc, "out of memory tracking checkpoint pages");
        }
    }
    return rc;
}

void space_release_work(void *ctx, uint64_t pgno, uint64_t page_gen)
{
    struct hdb_store *s = ctx;
    if (page_gen == s->gen_work) {
        /* Forgotten from the cache at publish or revert: the tree may still hold a pin. */
        if (u64vec_push(&s->work_freed, pgno) != HDB_OK) {
            hdb_log(HDB_LOG_WARN, "%s: out of memory: page %llu leaked until restart", s->data_path,
                    (unsigned long long)pgno);
        }
        return;
    }
    struct pending_page p = {
        .pgno = pgno,
        .born = page_gen,
        .freed = s->gen_work,
        .last_ckpt = page_gen <= s->durable_gen ? s->durable_seq : 0,
    };
    s->reclaim_needed = true;
    if (pending_push(p.last_ckpt != 0 ? &s->pending_ckpt : &s->pending, p) != HDB_OK) {
        hdb_log(HDB_LOG_WARN, "%s: out of memory: page %llu leaked until restart", s->data_path,
                (unsigned long long)pgno);
    }
}

void space_publish(struct hdb_store *s)
{
    for (size_t i = 0; i < s->work_freed.n; i++) {
        hdb_cache_forget(s->cache, s->work_freed.v[i]);
        if (u64vec_push(&s->free_now, s->work_freed.v[i]) != HDB_OK) {
            break; /* leaked until restart; the free list is rebuilt from disk */
        }
    }
    s->work_freed.n = 0;
    s->work_alloc.n = 0;
    s->reclaim_needed = true;
}

void space_revert(struct hdb_store *s)
{
    for (size_t i = 0; i < s->work_alloc.n; i++) {
        hdb_cache_forget(s->cache, s->work_alloc.v[i]);
        u64vec_push(&s->free_now, s->work_alloc.v[i]);
    }
    s->work_alloc.n = 0;
    s->work_freed.n = 0;
    struct pending_vec *lists[2] = {&s->pending, &s->pending_ckpt};
    for (int l = 0; l < 2; l++) {
        size_t keep = 0;
        for (size_t i = 0; i < lists[l]->n; i++) {
            if (lists[l]->v[i].freed != s->gen_work) {
                lists[l]->v[keep++] = lists[l]->v[i];
            }
        }
        lists[l]->n = keep;
    }
    space_version_gone(s);
}

/* Pages still pending that checkpoint `seq` of version `gen` (or one of its snapshots) reaches
 * wait for it too. */
void space_mark_ckpt_refs(struct hdb_store *s, uint64_t seq, uint64_t gen)
{
    for (size_t i = 0; i < s->pending_ckpt.n; i++) {
        struct pending_page *p = &s->pending_ckpt.v[i];
        if ((p->born <= gen && gen < p->freed) || snap_holds(s, p->born, p->freed)) {
            p->last_ckpt = seq;
        }
    }
    size_t keep = 0;
    for (size_t i = 0; i < s->pending.n; i++) {
        struct pending_page p = s->pending.v[i];
        if ((p.born <= gen && gen < p.freed) || snap_holds(s, p.born, p.freed)) {
            p.last_ckpt = seq;
            if (pending_push(&s->pending_ckpt, p) == HDB_OK) {
                continue;
            }
        }
        s->pending.v[keep++] = p;
    }
    s->pending.n = keep;
    s->pending_scanned = 0;
}

/* Checkpoint `seq` is durable: pages it no longer needs join the version-blocked list. */
void space_checkpointed(struct hdb_store *s, uint64_t seq, uint64_t gen)
{
    s->durable_seq = seq;
    s->durable_gen = gen;
    size_t keep = 0;
    for (size_t i = 0; i < s->pending_ckpt.n; i++) {
        struct pending_page p = s->pending_ckpt.v[i];
        if (s->durable_seq >= p.last_ckpt + 2 && pending_push(&s->pending, p) == HDB_OK) {
            continue;
        }
        s->pending_ckpt.v[keep++] = p;
    }
    s->pending_ckpt.n = keep;
    s->reclaim_needed = true;
    space_reclaim(s);
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x < y) - (x > y);
}

uint64_t space_compact_target(struct hdb_store *s, uint64_t *below)
{
    if (s->free_now.n > 1) { /* lowest taken first */
        qsort(s->free_now.v, s->free_now.n, sizeof *s->free_now.v, cmp_desc);
    }
    uint64_t target = s->page_count > s->free_now.n ? s->page_count - s->free_now.n : 0;
    *below = 0;
    for (size_t i = 0; i < s->free_now.n; i++) {
        *below += s->free_now.v[i] < target;
    }
    return target;
}

uint64_t space_trim_tail(struct hdb_store *s)
{
    if (s->free_now.n == 0) {
        return 0;
    }
    /* Highest first: take_page pops from the end, so the lowest pages are reused first and the
     * file's tail empties. */
    qsort(s->free_now.v, s->free_now.n, sizeof *s->free_now.v, cmp_desc);
    size_t k = 0;
    while (k < s->free_now.n && s->page_count > 2 && s->free_now.v[k] == s->page_count - 1) {
        s->page_count--;
        k++;
    }
    if (k > 0) {
        memmove(s->free_now.v, s->free_now.v + k, (s->free_now.n - k) * sizeof *s->free_now.v);
        s->free_now.n -= k;
    }
    return k;
}

void space_free(struct hdb_store *s)
{
    u64vec_free(&s->free_now);
    u64vec_free(&s->work_alloc);
    u64vec_free(&s->work_freed);
    u64vec_free(&s->meta_pages);
    free(s->pending.v);
    free(s->pending_ckpt.v);
    free(s->young.v);
    memset(&s->pending, 0, sizeof s->pending);
    memset(&s->pending_ckpt, 0, sizeof s->pending_ckpt);
}

int space_retire_meta(struct hdb_store *s)
{
    for (size_t i = 0; i < s->meta_pages.n; i++) {
        struct pending_page p = {.pgno = s->meta_pages.v[i], .last_ckpt = s->durable_seq};
        if (pending_push(&s->pending_ckpt, p) != HDB_OK) {
            return HDB_NOMEM;
        }
    }
    s->meta_pages.n = 0;
    return HDB_OK;
}

int space_load_free(struct hdb_store *s, uint64_t pgno, uint64_t last_ckpt)
{
    if (last_ckpt == 0 || s->durable_seq >= last_ckpt + 2) {
        return u64vec_push(&s->free_now, pgno);
    }
    return pending_push(&s->pending_ckpt,
                        (struct pending_page){.pgno = pgno, .last_ckpt = last_ckpt});
}

/* A page a snapshot of the loaded checkpoint reaches (p.last_ckpt is that checkpoint). */
int space_load_held(struct hdb_store *s, struct pending_page p)
{
    return pending_push(&s->pending_ckpt, p);
}
