/*
 * store_space.c — which pages of the data file are free, and when a page
 * that left the working version may be written again.
 *
 * Four sets:
 *   free_now    reusable at once (no version, no durable checkpoint reaches them)
 *   work_alloc  allocated by the working generation (private pages)
 *   work_freed  private pages the working generation released again; they
 *               join free_now at publish (a revert puts all of work_alloc back)
 *   pending     published pages that left the working version: reusable
 *               when no held version in [born, freed) exists and, if a
 *               durable checkpoint references the page, two later
 *               checkpoints are durable (last_ckpt + 2 <= durable_seq)
 *
 * When free_now is empty the file grows by one page (page_count).
 */
#include <stdlib.h>

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

static bool reusable(const struct hdb_store *s, const struct pending_page *p)
{
    if (p->last_ckpt != 0 && s->durable_seq < p->last_ckpt + 2) {
        return false;
    }
    return !held_in_range(s, p->born, p->freed);
}

void space_reclaim(struct hdb_store *s)
{
    if (!s->reclaim_needed) {
        return;
    }
    s->reclaim_needed = false;
    size_t keep = 0;
    for (size_t i = 0; i < s->pending.n; i++) {
        struct pending_page p = s->pending.v[i];
        if (reusable(s, &p) && u64vec_push(&s->free_now, p.pgno) == HDB_OK) {
            hdb_cache_forget(s->cache, p.pgno);
            continue;
        }
        s->pending.v[keep++] = p;
    }
    s->pending.n = keep;
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
    if (pending_push(&s->pending, p) != HDB_OK) {
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
    size_t keep = 0;
    for (size_t i = 0; i < s->pending.n; i++) {
        if (s->pending.v[i].freed != s->gen_work) {
            s->pending.v[keep++] = s->pending.v[i];
        }
    }
    s->pending.n = keep;
}

void space_mark_ckpt_refs(struct hdb_store *s, uint64_t seq, uint64_t gen)
{
    for (size_t i = 0; i < s->pending.n; i++) {
        struct pending_page *p = &s->pending.v[i];
        if (p->born <= gen && gen < p->freed) {
            p->last_ckpt = seq;
        }
    }
}

void space_checkpointed(struct hdb_store *s, uint64_t seq, uint64_t gen)
{
    s->durable_seq = seq;
    s->durable_gen = gen;
    s->reclaim_needed = true;
    space_reclaim(s);
}

void space_free(struct hdb_store *s)
{
    u64vec_free(&s->free_now);
    u64vec_free(&s->work_alloc);
    u64vec_free(&s->work_freed);
    u64vec_free(&s->meta_pages);
    free(s->pending.v);
    s->pending.v = NULL;
    s->pending.n = s->pending.cap = 0;
}

int space_retire_meta(struct hdb_store *s)
{
    for (size_t i = 0; i < s->meta_pages.n; i++) {
        struct pending_page p = {.pgno = s->meta_pages.v[i], .last_ckpt = s->durable_seq};
        if (pending_push(&s->pending, p) != HDB_OK) {
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
    return pending_push(&s->pending, (struct pending_page){.pgno = pgno, .last_ckpt = last_ckpt});
}
