/*
 * cache.h — the page cache of one data file, owned by one thread.
 *
 * Capacity is fixed at creation (bytes / page_size frames, at least
 * HDB_CACHE_FRAMES_MIN) and every frame is allocated up front, aligned for
 * O_DIRECT. No locks: one thread uses a cache. Lookup is an open-addressing
 * hash table sized at creation; eviction is CLOCK (second chance) over
 * frames that are not pinned. A dirty frame chosen for eviction is written
 * back (sealed with its checksum) before reuse. Pages read from disk are
 * checked with hdb_page_check (checksum if verify_on_read). Counters
 * record hits, misses, evictions, write-backs and prefetches.
 *
 * Pinning: hdb_cache_get / hdb_cache_new return a pinned frame; its `data`
 * stays valid until hdb_cache_unpin. Callers keep few pins at once (a tree
 * path); when every frame is pinned, get/new fail with HDB_FULL.
 */
#ifndef HDB_CACHE_H
#define HDB_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/io.h"
#include "core/status.h"

#define HDB_CACHE_FRAMES_MIN   64u
#define HDB_PREFETCH_PAGES_MAX 64u

struct hdb_cache_opts {
    uint64_t capacity_bytes; /* rounded down to whole frames; at least FRAMES_MIN frames */
    uint32_t page_size;
    uint32_t prefetch_pages; /* [performance] prefetch_pages, 0 = off, at most PREFETCH_PAGES_MAX */
    bool verify_on_read;     /* [checksums] verify_on_read (and enabled) */
};

/* A cached page. Callers read `data` and `pgno`; the rest is the cache's. */
struct hdb_frame {
    uint8_t *data;
    uint64_t pgno;
    uint32_t pins;
    bool dirty;
    bool referenced; /* CLOCK bit */
    bool valid;      /* holds a page */
};

struct hdb_cache_stats {
    uint64_t hits, misses, evictions, writebacks, prefetched;
    uint64_t corrupt_reads; /* pages read from disk that failed their check (checksum, magic...) */
    uint32_t frames, frames_used, frames_dirty, frames_pinned;
};

struct hdb_cache;

int hdb_cache_create(const struct hdb_cache_opts *opts, struct hdb_file *file,
                     struct hdb_cache **out, struct hdb_err *err);
void hdb_cache_destroy(struct hdb_cache *c);

/* Returns page `pgno` pinned, reading and checking it on a miss. */
int hdb_cache_get(struct hdb_cache *c, uint64_t pgno, struct hdb_frame **out, struct hdb_err *err);
/* Returns a pinned, dirty frame for `pgno` without reading the disk; its contents are
 * undefined until the caller initializes the page (hdb_page_init zeroes it). */
int hdb_cache_new(struct hdb_cache *c, uint64_t pgno, struct hdb_frame **out, struct hdb_err *err);
void hdb_cache_unpin(struct hdb_cache *c, struct hdb_frame *f);
void hdb_cache_mark_dirty(struct hdb_cache *c, struct hdb_frame *f);
/* Forgets page `pgno` (freed): a dirty image is discarded unwritten. Must not be pinned. */
void hdb_cache_forget(struct hdb_cache *c, uint64_t pgno);
/* Forgets every page (after a failed write or on rollback to disk state). No frame may be pinned.
 */
void hdb_cache_forget_all(struct hdb_cache *c);
/* Writes every dirty frame (sealed, in page order, batched); no fdatasync. */
int hdb_cache_flush(struct hdb_cache *c, struct hdb_err *err);
/* Reads the listed pages that are not cached, in one batch, into free or
 * clean unpinned frames (best effort: stops when none can be had). */
int hdb_cache_prefetch(struct hdb_cache *c, const uint64_t *pgnos, uint32_t n, struct hdb_err *err);
uint32_t hdb_cache_prefetch_pages(const struct hdb_cache *c);
void hdb_cache_get_stats(const struct hdb_cache *c, struct hdb_cache_stats *out);

#endif
