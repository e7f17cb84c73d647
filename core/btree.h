/*
 * btree.h — copy-on-write B+trees over the page cache.
 *
 * A tree is named by its root page number (0 = empty tree). Keys are byte
 * strings compared with memcmp (shorter first on a common prefix), 1 to
 * HDB_KEY_BYTES_MAX bytes; values are 0 to HDB_VALUE_BYTES_MAX bytes, and
 * a value too large to sit in a leaf goes to a chain of overflow pages.
 *
 * Copy-on-write: the pager's `gen` is the generation of the writer's
 * private working version. A page whose header gen equals pager->gen is
 * private and is changed in place; any older page belongs to a published
 * (immutable) version and is copied to a newly allocated page before it is
 * changed, all the way up to a new root. Every page that stops being
 * reachable from the working version is handed to pager->release with the
 * gen it was created with; the store decides when it can be reused.
 *
 * Writes (put, delete, drop) take `uint64_t *root` and update it. Reads
 * and cursors only need a root, so they work on any published version as
 * long as its pages are not reused (the store guarantees that while the
 * version is held). A cursor over the working version is invalidated by a
 * write to that tree.
 *
 * Deletes merge a node into a sibling when the two fit in one page, and
 * collapse a root with one child, so space is reused after deletes.
 */
#ifndef HDB_BTREE_H
#define HDB_BTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cache.h"
#include "core/page.h"
#include "core/status.h"

#define HDB_KEY_BYTES_MAX   1024u
#define HDB_VALUE_BYTES_MAX (16u << 20)
#define HDB_BTREE_DEPTH_MAX 32u

struct hdb_pager {
    struct hdb_cache *cache;
    uint32_t page_size;
    uint64_t gen; /* working generation */
    /* Hands out a page number that is free to be written. */
    int (*alloc)(void *ctx, uint64_t *pgno, struct hdb_err *err);
    /* `pgno` (created at `page_gen`) is no longer reachable from the working version. */
    void (*release)(void *ctx, uint64_t pgno, uint64_t page_gen);
    void *ctx;
};

/* A growable byte buffer owned by the caller; free with hdb_buf_free. After a
 * successful hdb_buf_set or value read, `data` is not NULL even for 0 bytes. */
struct hdb_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};
int hdb_buf_reserve(struct hdb_buf *b, size_t cap);
int hdb_buf_set(struct hdb_buf *b, const void *data, size_t len);
void hdb_buf_free(struct hdb_buf *b);

/* HDB_OK with the value copied into `val`, or HDB_NOTFOUND. */
int hdb_bt_get(struct hdb_pager *p, uint64_t root, const void *key, uint32_t klen,
               struct hdb_buf *val, struct hdb_err *err);
/* Inserts or replaces. HDB_TOOBIG for an over-long key or value, HDB_INVALID for an empty key. */
int hdb_bt_put(struct hdb_pager *p, uint64_t *root, const void *key, uint32_t klen, const void *val,
               uint32_t vlen, struct hdb_err *err);
/* Deletes `key`; *found says whether it was there. */
int hdb_bt_delete(struct hdb_pager *p, uint64_t *root, const void *key, uint32_t klen, bool *found,
                  struct hdb_err *err);
/* Releases every page of the tree (for dropping a tree). */
int hdb_bt_drop(struct hdb_pager *p, uint64_t root, struct hdb_err *err);
/*
 * Compaction: copies each branch or leaf page numbered `from` or above that an older generation
 * owns (with the pages above it), as a write would, so the copies take the lowest free pages and
 * the old ones are released. Overflow pages stay. At most `budget` copies are made in all
 * (*moved counts them, across calls); *more says pages were left over. Keys and values do not
 * change.
 */
int hdb_bt_relocate(struct hdb_pager *p, uint64_t *root, uint64_t from, uint32_t budget,
                    uint32_t *moved, bool *more, struct hdb_err *err);

enum hdb_seek {
    HDB_SEEK_GE = 0, /* first key >= target */
    HDB_SEEK_GT = 1, /* first key > target */
    HDB_SEEK_LE = 2, /* last key <= target */
    HDB_SEEK_LT = 3, /* last key < target */
};

struct hdb_cursor_level {
    uint64_t pgno;
    uint32_t idx;
};

/*
 * A cursor over one root. Positioning calls return HDB_OK when the cursor
 * rests on an entry and HDB_NOTFOUND when it ran off either end (it is then
 * invalid). The key pointer from hdb_cursor_key is valid until the next
 * call on the cursor.
 */
struct hdb_cursor {
    struct hdb_pager *pager;
    uint64_t root;
    uint32_t depth;
    bool valid;
    struct hdb_cursor_level path[HDB_BTREE_DEPTH_MAX];
    struct hdb_frame *leaf; /* pinned while valid */
    uint8_t key[HDB_KEY_BYTES_MAX];
    uint32_t klen;
};

void hdb_cursor_init(struct hdb_cursor *c, struct hdb_pager *p, uint64_t root);
int hdb_cursor_first(struct hdb_cursor *c, struct hdb_err *err);
int hdb_cursor_last(struct hdb_cursor *c, struct hdb_err *err);
/* Positions the cursor by `mode`; a key longer than HDB_KEY_BYTES_MAX (none is stored) is fine. */
int hdb_cursor_seek(struct hdb_cursor *c, const void *key, uint32_t klen, enum hdb_seek mode,
                    struct hdb_err *err);
int hdb_cursor_next(struct hdb_cursor *c, struct hdb_err *err);
int hdb_cursor_prev(struct hdb_cursor *c, struct hdb_err *err);
bool hdb_cursor_valid(const struct hdb_cursor *c);
void hdb_cursor_key(const struct hdb_cursor *c, const uint8_t **key, uint32_t *klen);
/* Copies the current value (following overflow pages). */
int hdb_cursor_value(struct hdb_cursor *c, struct hdb_buf *val, struct hdb_err *err);
/* Unpins; the cursor may be positioned again afterwards. */
void hdb_cursor_close(struct hdb_cursor *c);

/*
 * Structural verification of one tree: every page readable and checksummed,
 * page types right, keys strictly ascending inside pages and within their
 * parent's separator bounds, all leaves at one depth, overflow chains of the
 * recorded length. `visit` is called once per page reached (tree and
 * overflow) so the caller can find pages reached twice or both used and
 * free; `problem` once per problem found. Returns HDB_OK if it could walk
 * (problems are reported, not returned); *problems counts them.
 */
struct hdb_bt_verify_cb {
    void (*visit)(void *ctx, uint64_t pgno, enum hdb_page_type type);
    void (*problem)(void *ctx, const char *msg);
    void *ctx;
};
int hdb_bt_verify(struct hdb_pager *p, uint64_t root, const struct hdb_bt_verify_cb *cb,
                  uint64_t *entries, uint64_t *problems, struct hdb_err *err);

#endif
