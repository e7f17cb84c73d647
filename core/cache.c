/*
 * cache.c — the page cache (see cache.h).
 *
 * Frames live in one aligned arena allocated at creation. A page number
 * maps to its frame through an open-addressing table (linear probing,
 * backward-shift deletion, twice as many slots as frames, so it never
 * fills). Eviction is CLOCK: the hand skips pinned frames and gives
 * referenced ones a second chance; a dirty victim is sealed and written
 * before it is reused.
 */
#include "core/cache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"
#include "core/page.h"

#define SLOT_EMPTY      UINT32_MAX
#define HUGE_PAGE_BYTES (2u << 20)

/*
 * The frame arena: not touched here (so open stays fast), 2 MiB aligned and
 * marked for transparent huge pages when it is large, so first use of the
 * frames costs one fault per 2 MiB instead of one per 4 KiB.
 */
static void *arena_alloc(size_t bytes)
{
    if (bytes < HUGE_PAGE_BYTES) {
        return hdb_io_alloc_uninit(bytes);
    }
    void *p = NULL;
    size_t rounded = (bytes + HUGE_PAGE_BYTES - 1) & ~(size_t)(HUGE_PAGE_BYTES - 1);
    if (posix_memalign(&p, HUGE_PAGE_BYTES, rounded) != 0) {
        return NULL;
    }
    (void)madvise(p, rounded, MADV_HUGEPAGE); /* a hint: without THP it is ignored */
    return p;
}

struct hdb_cache {
    struct hdb_cache_opts opts;
    struct hdb_file *file;
    uint32_t nframes;
    struct hdb_frame *frames;
    uint8_t *arena;
    uint32_t *table; /* frame index per slot, SLOT_EMPTY if none */
    uint32_t mask;
    uint32_t hand;
    uint32_t *free_frames; /* frames emptied by forget, reused first (warm memory) */
    uint32_t nfree;
    uint32_t untouched; /* frames [untouched, nframes) were never used */
    struct hdb_cache_stats stats;
};

static uint32_t slot_of(const struct hdb_cache *c, uint64_t pgno)
{
    uint64_t x = pgno * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32) & c->mask;
}

static uint32_t table_find(const struct hdb_cache *c, uint64_t pgno, uint32_t *slot_out)
{
    for (uint32_t i = slot_of(c, pgno);; i = (i + 1) & c->mask) {
        uint32_t fi = c->table[i];
        if (fi == SLOT_EMPTY || c->frames[fi].pgno == pgno) {
            if (slot_out != NULL) {
                *slot_out = i;
            }
            return fi;
        }
    }
}

static void table_insert(struct hdb_cache *c, uint32_t fi)
{
    uint32_t slot;
    uint32_t found = table_find(c, c->frames[fi].pgno, &slot);
    (void)found;
    c->table[slot] = fi;
}

/* Removes pgno's slot, shifting later entries of its probe run back. */
static void table_remove(struct hdb_cache *c, uint64_t pgno)
{
    uint32_t i;
    if (table_find(c, pgno, &i) == SLOT_EMPTY) {
        return;
    }
    for (uint32_t j = i;;) {
        j = (j + 1) & c->mask;
        if (c->table[j] == SLOT_EMPTY) {
            break;
        }
        uint32_t k = slot_of(c, c->frames[c->table[j]].pgno);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) {
            continue;
        }
        c->table[i] = c->table[j];
        i = j;
    }
    c->table[i] = SLOT_EMPTY;
}

int hdb_cache_create(const struct hdb_cache_opts *opts, struct hdb_file *file,
                     struct hdb_cache **out, struct hdb_err *err)
{
    if (!hdb_page_size_valid(opts->page_size)) {
        return hdb_err_set(err, HDB_INVALID, "cache: bad page size %u", opts->page_size);
    }
    uint64_t n = opts->capacity_bytes / opts->page_size;
    n = n < HDB_CACHE_FRAMES_MIN ? HDB_CACHE_FRAMES_MIN : n;
    if (n > (1u << 30)) {
        return hdb_err_set(err, HDB_INVALID, "cache of %llu frames is too large",
                           (unsigned long long)n);
    }
    uint32_t slots = 1;
    while (slots < 2 * n) {
        slots *= 2;
    }
    struct hdb_cache *c = calloc(1, sizeof *c);
    if (c != NULL) {
        c->frames = calloc(n, sizeof *c->frames);
        c->table = malloc((size_t)slots * sizeof *c->table);
        c->free_frames = malloc(n * sizeof *c->free_frames);
        c->arena = arena_alloc((size_t)n * opts->page_size);
    }
    if (c == NULL || c->frames == NULL || c->table == NULL || c->arena == NULL ||
        c->free_frames == NULL) {
        hdb_cache_destroy(c);
        return hdb_err_set(err, HDB_NOMEM, "out of memory for a cache of %llu pages",
                           (unsigned long long)n);
    }
    c->opts = *opts;
    if (c->opts.prefetch_pages > HDB_PREFETCH_PAGES_MAX) {
        c->opts.prefetch_pages = HDB_PREFETCH_PAGES_MAX;
    }
    c->file = file;
    c->nframes = (uint32_t)n;
    c->mask = slots - 1;
    memset(c->table, 0xff, (size_t)slots * sizeof *c->table);
    for (uint32_t i = 0; i < n; i++) {
        c->frames[i].data = c->arena + (size_t)i * opts->page_size;
    }
    *out = c;
    return HDB_OK;
}

void hdb_cache_destroy(struct hdb_cache *c)
{
    if (c == NULL) {
        return;
    }
    hdb_io_free(c->arena);
    free(c->free_frames);
    free(c->table);
    free(c->frames);
    free(c);
}

static int write_frame(struct hdb_cache *c, struct hdb_frame *f, struct hdb_err *err)
{
    hdb_page_seal(f->data, c->opts.page_size);
    int rc = hdb_io_write(c->file, f->data, c->opts.page_size, f->pgno * c->opts.page_size, err);
    if (rc == HDB_OK) {
        f->dirty = false;
        c->stats.writebacks++;
    }
    return rc;
}

/* Finds a frame to reuse (writing it back if dirty) and takes it out of the table. */
static int take_frame(struct hdb_cache *c, bool clean_only, struct hdb_frame **out,
                      struct hdb_err *err)
{
    while (c->nfree > 0) {
        struct hdb_frame *f = &c->frames[c->free_frames[--c->nfree]];
        if (!f->valid) {
            *out = f;
            return HDB_OK;
        }
    }
    if (c->untouched < c->nframes) {
        *out = &c->frames[c->untouched++];
        return HDB_OK;
    }
    for (uint32_t step = 0; step < 2 * c->nframes + 1; step++) {
        struct hdb_frame *f = &c->frames[c->hand];
        c->hand = c->hand + 1 == c->nframes ? 0 : c->hand + 1;
        if (!f->valid || f->pins > 0 || (clean_only && f->dirty)) {
            continue;
        }
        if (f->referenced) {
            f->referenced = false;
            continue;
        }
        if (f->dirty) {
            int rc = write_frame(c, f, err);
            if (rc != HDB_OK) {
                return rc;
            }
        }
        table_remove(c, f->pgno);
        f->valid = false;
        c->stats.evictions++;
        *out = f;
        return HDB_OK;
    }
    return hdb_err_set(err, HDB_FULL, "page cache: all %u frames are pinned%s", c->nframes,
                       clean_only ? " or dirty" : "");
}

/* Marks a frame empty and puts it on the free stack (it is in no table slot). */
static void frame_release(struct hdb_cache *c, struct hdb_frame *f)
{
    f->valid = false;
    f->dirty = false;
    f->pins = 0;
    c->free_frames[c->nfree++] = (uint32_t)(f - c->frames);
}

static void claim(struct hdb_cache *c, struct hdb_frame *f, uint64_t pgno)
{
    f->pgno = pgno;
    f->valid = true;
    f->pins = 1;
    f->referenced = true;
    f->dirty = false;
    table_insert(c, (uint32_t)(f - c->frames));
}

int hdb_cache_get(struct hdb_cache *c, uint64_t pgno, struct hdb_frame **out, struct hdb_err *err)
{
    uint32_t fi = table_find(c, pgno, NULL);
    if (fi != SLOT_EMPTY) {
        struct hdb_frame *f = &c->frames[fi];
        f->pins++;
        f->referenced = true;
        c->stats.hits++;
        *out = f;
        return HDB_OK;
    }
    c->stats.misses++;
    struct hdb_frame *f;
    int rc = take_frame(c, false, &f, err);
    if (rc != HDB_OK) {
        return rc;
    }
    uint32_t ps = c->opts.page_size;
    rc = hdb_io_read(c->file, f->data, ps, pgno * ps, err);
    if (rc == HDB_OK) {
        rc = hdb_page_check(f->data, ps, pgno, hdb_file_path(c->file), c->opts.verify_on_read, err);
        c->stats.corrupt_reads += rc == HDB_CORRUPT;
    }
    if (rc != HDB_OK) {
        frame_release(c, f);
        return rc;
    }
    claim(c, f, pgno);
    *out = f;
    return HDB_OK;
}

int hdb_cache_new(struct hdb_cache *c, uint64_t pgno, struct hdb_frame **out, struct hdb_err *err)
{
    uint32_t fi = table_find(c, pgno, NULL);
    struct hdb_frame *f;
    if (fi != SLOT_EMPTY) {
        f = &c->frames[fi];
        if (f->pins > 0) {
            return hdb_err_set(err, HDB_ERROR, "page cache: new page %llu is pinned",
                               (unsigned long long)pgno);
        }
        f->pins = 1;
        f->referenced = true;
    } else {
        int rc = take_frame(c, false, &f, err);
        if (rc != HDB_OK) {
            return rc;
        }
        claim(c, f, pgno);
    }
    f->dirty = true;
    *out = f;
    return HDB_OK;
}

void hdb_cache_unpin(struct hdb_cache *c, struct hdb_frame *f)
{
    (void)c;
    if (f->pins == 0) {
        hdb_log(HDB_LOG_ERROR, "page cache: page %llu unpinned too often",
                (unsigned long long)f->pgno);
        return;
    }
    f->pins--;
}

void hdb_cache_mark_dirty(struct hdb_cache *c, struct hdb_frame *f)
{
    (void)c;
    f->dirty = true;
}

void hdb_cache_forget(struct hdb_cache *c, uint64_t pgno)
{
    uint32_t fi = table_find(c, pgno, NULL);
    if (fi == SLOT_EMPTY) {
        return;
    }
    struct hdb_frame *f = &c->frames[fi];
    if (f->pins > 0) {
        hdb_log(HDB_LOG_ERROR, "page cache: forgetting pinned page %llu", (unsigned long long)pgno);
        return;
    }
    table_remove(c, pgno);
    frame_release(c, f);
}

void hdb_cache_forget_all(struct hdb_cache *c)
{
    for (uint32_t i = 0; i < c->nframes; i++) {
        c->frames[i].valid = false;
        c->frames[i].dirty = false;
        c->frames[i].pins = 0;
    }
    c->nfree = 0;
    c->untouched = 0;
    memset(c->table, 0xff, ((size_t)c->mask + 1) * sizeof *c->table);
}

static int cmp_frame_pgno(const void *a, const void *b)
{
    const struct hdb_frame *x = *(const struct hdb_frame *const *)a;
    const struct hdb_frame *y = *(const struct hdb_frame *const *)b;
    return x->pgno < y->pgno ? -1 : x->pgno > y->pgno;
}

/* Writes frames [0, n) in one batch and marks them clean. */
static int write_batch(struct hdb_cache *c, struct hdb_frame **fs, uint32_t n, struct hdb_err *err)
{
    struct hdb_io_op ops[HDB_IO_BATCH_OPS_MAX];
    uint32_t ps = c->opts.page_size;
    for (uint32_t i = 0; i < n; i++) {
        hdb_page_seal(fs[i]->data, ps);
        ops[i] = (struct hdb_io_op){.file = c->file,
                                    .kind = HDB_IO_WRITE,
                                    .buf = fs[i]->data,
                                    .len = ps,
                                    .off = fs[i]->pgno * ps};
    }
    int rc = hdb_io_run(hdb_file_io(c->file), ops, n, err);
    for (uint32_t i = 0; rc == HDB_OK && i < n; i++) {
        fs[i]->dirty = false;
        c->stats.writebacks++;
    }
    return rc;
}

int hdb_cache_flush(struct hdb_cache *c, struct hdb_err *err)
{
    struct hdb_frame **dirty = malloc((size_t)c->nframes * sizeof *dirty);
    if (dirty == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory flushing the page cache");
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->nframes; i++) {
        if (c->frames[i].valid && c->frames[i].dirty) {
            dirty[n++] = &c->frames[i];
        }
    }
    qsort(dirty, n, sizeof *dirty, cmp_frame_pgno);
    int rc = HDB_OK;
    for (uint32_t at = 0; rc == HDB_OK && at < n; at += HDB_IO_BATCH_OPS_MAX) {
        uint32_t m = n - at < HDB_IO_BATCH_OPS_MAX ? n - at : HDB_IO_BATCH_OPS_MAX;
        rc = write_batch(c, dirty + at, m, err);
    }
    free(dirty);
    return rc;
}

/* Reads the frames reserved for prefetch and keeps those that check out. */
static int prefetch_read(struct hdb_cache *c, struct hdb_frame **fs, uint32_t n,
                         struct hdb_err *err)
{
    struct hdb_io_op ops[HDB_PREFETCH_PAGES_MAX];
    uint32_t ps = c->opts.page_size;
    for (uint32_t i = 0; i < n; i++) {
        ops[i] = (struct hdb_io_op){.file = c->file,
                                    .kind = HDB_IO_READ,
                                    .buf = fs[i]->data,
                                    .len = ps,
                                    .off = fs[i]->pgno * ps};
    }
    int rc = hdb_io_run(hdb_file_io(c->file), ops, n, err);
    for (uint32_t i = 0; i < n; i++) {
        struct hdb_frame *f = fs[i];
        if (rc == HDB_OK && hdb_page_check(f->data, ps, f->pgno, hdb_file_path(c->file),
                                           c->opts.verify_on_read, NULL) == HDB_OK) {
            claim(c, f, f->pgno);
            f->pins = 0;
            f->referenced = false;
            c->stats.prefetched++;
        } else {
            frame_release(c, f);
        }
    }
    return rc;
}

int hdb_cache_prefetch(struct hdb_cache *c, const uint64_t *pgnos, uint32_t n, struct hdb_err *err)
{
    struct hdb_frame *fs[HDB_PREFETCH_PAGES_MAX];
    uint32_t m = 0;
    n = n < HDB_PREFETCH_PAGES_MAX ? n : HDB_PREFETCH_PAGES_MAX;
    for (uint32_t i = 0; i < n; i++) {
        bool dup = table_find(c, pgnos[i], NULL) != SLOT_EMPTY;
        for (uint32_t j = 0; j < m && !dup; j++) {
            dup = fs[j]->pgno == pgnos[i];
        }
        if (dup) {
            continue;
        }
        struct hdb_frame *f;
        if (take_frame(c, true, &f, NULL) != HDB_OK) {
            break; /* best effort: no clean frame to spare */
        }
        f->pgno = pgnos[i];
        f->valid = true; /* reserved: take_frame skips it while pinned */
        f->pins = 1;
        fs[m++] = f;
    }
    return m == 0 ? HDB_OK : prefetch_read(c, fs, m, err);
}

uint32_t hdb_cache_prefetch_pages(const struct hdb_cache *c)
{
    return c->opts.prefetch_pages;
}

void hdb_cache_get_stats(const struct hdb_cache *c, struct hdb_cache_stats *out)
{
    *out = c->stats;
    out->frames = c->nframes;
    for (uint32_t i = 0; i < c->nframes; i++) {
        const struct hdb_frame *f = &c->frames[i];
        out->frames_used += f->valid;
        out->frames_dirty += f->valid && f->dirty;
        out->frames_pinned += f->pins > 0;
    }
}
