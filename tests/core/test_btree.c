/*
 * test_btree.c — the copy-on-write B+tree on its own, over a test pager,
 * and a few of its limits through the store.
 *
 * The test pager (struct tp) hands out pages of a temporary file through a
 * page cache and tracks each page's state: a page released while it
 * belongs to the working generation is reused at once; a page of an older
 * generation is reused only after the next publish (gen bump), and only
 * when the test holds no older root (`recycle`). A release of a page that
 * is not live counts as a bad release, and verification checks that the
 * pages a tree reaches are exactly the live ones, so leaks and double
 * releases show; it also checks that no frame is left pinned.
 *
 * Tests: random put/update/delete/get against a reference map (keys 1..1024
 * bytes, values 0..40 KiB) with publishes, cache reopens (part of the time
 * at 64 frames), full scans both ways and verification at checkpoints; a
 * published version unchanged by later writes; space given back by
 * deletes and drop; cursor seeks and steps; 16 MiB values; key limits;
 * deletes with maximal keys never leaving a keyless branch or empty leaf
 * (a regression); failures part way through a write; verification naming
 * damaged pages.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/btree.h"
#include "core/bytes.h"
#include "core/log.h"
#include "core/page.h"
#include "tests/core/testutil.h"
#include "tests/core/workload.h"

static void setup(void)
{
    hdb_log_set_level(HDB_LOG_ERROR);
}

/* ------------------------------------------------------------------ */
/* The test pager                                                      */
/* ------------------------------------------------------------------ */

enum { PG_NEVER = 0, PG_LIVE = 1, PG_FREE = 2, PG_RETIRED = 3 };

struct u64vec {
    uint64_t *v;
    size_t n, cap;
};

static void vec_push(struct u64vec *s, uint64_t x)
{
    if (s->n == s->cap) {
        s->cap = s->cap == 0 ? 1024 : s->cap * 2;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        cr_assert_not_null(s->v);
    }
    s->v[s->n++] = x;
}

struct tp {
    char *dir, *path;
    uint32_t page_size;
    struct hdb_io *io;
    struct hdb_file *file;
    struct hdb_cache *cache;
    struct hdb_pager pager;
    uint64_t next; /* first never-used page */
    uint8_t *state;
    uint64_t state_cap;
    struct u64vec free;    /* reusable now */
    struct u64vec retired; /* older-generation pages: reusable after the next publish */
    bool recycle;          /* no older root is held: retired pages may be reused */
    uint64_t live, allocs, releases;
    uint64_t bad_releases;
    uint64_t fail_alloc_in, fail_read_in; /* fail the n-th next alloc / read (0: never) */
};

static void tp_state_grow(struct tp *t, uint64_t pgno)
{
    if (pgno < t->state_cap) {
        return;
    }
    uint64_t cap = t->state_cap == 0 ? 4096 : t->state_cap;
    while (cap <= pgno) {
        cap *= 2;
    }
    t->state = realloc(t->state, cap);
    cr_assert_not_null(t->state);
    memset(t->state + t->state_cap, PG_NEVER, cap - t->state_cap);
    t->state_cap = cap;
}

static int tp_alloc(void *ctx, uint64_t *pgno, struct hdb_err *err)
{
    struct tp *t = ctx;
    if (t->fail_alloc_in > 0 && --t->fail_alloc_in == 0) {
        return hdb_err_set(err, HDB_NOSPACE, "test pager: no space (injected)");
    }
    *pgno = t->free.n > 0 ? t->free.v[--t->free.n] : t->next++;
    tp_state_grow(t, *pgno);
    cr_assert(t->state[*pgno] == PG_NEVER || t->state[*pgno] == PG_FREE,
              "page %llu handed out while in state %u", (unsigned long long)*pgno, t->state[*pgno]);
    t->state[*pgno] = PG_LIVE;
    t->live++;
    t->allocs++;
    return HDB_OK;
}

static void tp_release(void *ctx, uint64_t pgno, uint64_t page_gen)
{
    struct tp *t = ctx;
    if (pgno >= t->state_cap || t->state[pgno] != PG_LIVE || page_gen > t->pager.gen) {
        t->bad_releases++;
        return;
    }
    t->live--;
    t->releases++;
    if (page_gen == t->pager.gen) {
        /* Private to the working version: no published root reaches it. */
        hdb_cache_forget(t->cache, pgno);
        t->state[pgno] = PG_FREE;
        vec_push(&t->free, pgno);
    } else {
        t->state[pgno] = PG_RETIRED;
        vec_push(&t->retired, pgno);
    }
}

static int tp_fault(void *ctx, enum hdb_fault_point point, uint64_t call_no, const char *path,
                    uint64_t off, uint32_t len)
{
    (void)call_no;
    (void)path;
    (void)off;
    (void)len;
    struct tp *t = ctx;
    if (point == HDB_FAULT_READ && t->fail_read_in > 0 && --t->fail_read_in == 0) {
        return -EIO;
    }
    return 0;
}

static void tp_cache_open(struct tp *t, uint32_t frames, uint32_t prefetch)
{
    struct hdb_cache_opts co = {.capacity_bytes = (uint64_t)frames * t->page_size,
                                .page_size = t->page_size,
                                .prefetch_pages = prefetch,
                                .verify_on_read = true};
    struct hdb_err err;
    cr_assert_eq(hdb_cache_create(&co, t->file, &t->cache, &err), HDB_OK, "%s", err.msg);
    t->pager.cache = t->cache;
}

static void tp_open(struct tp *t, const char *tag, uint32_t page_size, uint32_t frames)
{
    memset(t, 0, sizeof *t);
    t->dir = tu_mkdtemp(tag);
    t->path = tu_path(t->dir, "data");
    t->page_size = page_size;
    struct hdb_io_opts o;
    hdb_io_opts_default(&o);
    struct hdb_err err;
    cr_assert_eq(hdb_io_create(&o, NULL, tp_fault, t, &t->io, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(hdb_file_open(t->io, t->path, HDB_FILE_CREATE, &t->file, &err), HDB_OK, "%s",
                 err.msg);
    t->next = 2; /* pages 0 and 1 are the superblocks in a real store */
    t->pager = (struct hdb_pager){
        .page_size = page_size, .gen = 1, .alloc = tp_alloc, .release = tp_release, .ctx = t};
    tp_cache_open(t, frames, 8);
}

static void tp_flush(struct tp *t)
{
    struct hdb_err err;
    cr_assert_eq(hdb_cache_flush(t->cache, &err), HDB_OK, "%s", err.msg);
}

/* Publishes the working version: later writes copy its pages. */
static void tp_publish(struct tp *t)
{
    t->pager.gen++;
    if (t->recycle) {
        for (size_t i = 0; i < t->retired.n; i++) {
            t->state[t->retired.v[i]] = PG_FREE;
            vec_push(&t->free, t->retired.v[i]);
        }
        t->retired.n = 0;
    }
}

/* Flushes, drops the cache and opens a new one of `frames` over the same file. */
static void tp_reopen(struct tp *t, uint32_t frames)
{
    tp_flush(t);
    hdb_cache_destroy(t->cache);
    tp_cache_open(t, frames, 8);
    tp_publish(t);
}

static void tp_close(struct tp *t)
{
    hdb_cache_destroy(t->cache);
    hdb_file_close(t->file);
    hdb_io_destroy(t->io);
    tu_rmtree(t->dir);
    free(t->dir);
    free(t->path);
    free(t->state);
    free(t->free.v);
    free(t->retired.v);
}

/* ------------------------------------------------------------------ */
/* Verification through the pager                                      */
/* ------------------------------------------------------------------ */

struct vstate {
    struct tp *t;
    uint8_t *seen;
    uint64_t pages, twice, not_live;
    char problems[4096];
    size_t plen;
};

static void v_visit(void *ctx, uint64_t pgno, enum hdb_page_type type)
{
    (void)type;
    struct vstate *v = ctx;
    v->pages++;
    if (pgno >= v->t->state_cap || v->t->state[pgno] == PG_NEVER || v->t->state[pgno] == PG_FREE) {
        v->not_live++;
        return;
    }
    v->twice += v->seen[pgno];
    v->seen[pgno] = 1;
}

static void v_problem(void *ctx, const char *msg)
{
    struct vstate *v = ctx;
    int n = snprintf(v->problems + v->plen, sizeof v->problems - v->plen, "%s\n", msg);
    if (n > 0 && v->plen + (size_t)n < sizeof v->problems) {
        v->plen += (size_t)n;
    }
}

/* Verifies `root`; returns the problem count, the messages in v->problems. */
static uint64_t tp_verify(struct tp *t, uint64_t root, uint64_t *entries, struct vstate *v)
{
    memset(v, 0, sizeof *v);
    v->t = t;
    v->seen = calloc(t->state_cap + 1, 1);
    struct hdb_bt_verify_cb cb = {.visit = v_visit, .problem = v_problem, .ctx = v};
    uint64_t problems = 0, n = 0;
    struct hdb_err err;
    cr_assert_eq(hdb_bt_verify(&t->pager, root, &cb, &n, &problems, &err), HDB_OK, "%s", err.msg);
    free(v->seen);
    v->seen = NULL;
    if (entries != NULL) {
        *entries = n;
    }
    return problems;
}

/* Verifies the working tree: no problems, and it reaches exactly the live pages. */
static void tp_verify_working(struct tp *t, uint64_t root, uint64_t want_entries)
{
    struct vstate v;
    uint64_t entries;
    uint64_t problems = tp_verify(t, root, &entries, &v);
    cr_assert_eq(problems, 0, "verify found %llu problems:\n%s", (unsigned long long)problems,
                 v.problems);
    cr_assert_eq(entries, want_entries, "verify counted %llu entries, expected %llu",
                 (unsigned long long)entries, (unsigned long long)want_entries);
    cr_assert_eq(v.twice, 0, "%llu pages reached twice", (unsigned long long)v.twice);
    cr_assert_eq(v.not_live, 0, "%llu pages reached that were never handed out or are free",
                 (unsigned long long)v.not_live);
    cr_assert_eq(v.pages, t->live, "tree reaches %llu pages but %llu are live (leak)",
                 (unsigned long long)v.pages, (unsigned long long)t->live);
    cr_assert_eq(t->bad_releases, 0, "%llu bad releases", (unsigned long long)t->bad_releases);
    struct hdb_cache_stats st;
    hdb_cache_get_stats(t->cache, &st);
    cr_assert_eq(st.frames_pinned, 0, "%u frames left pinned", st.frames_pinned);
}

/* ------------------------------------------------------------------ */
/* Reference map: key bytes -> (offset into the value pool, length)    */
/* ------------------------------------------------------------------ */

#define REF_ENTRIES_MAX (1u << 15)
#define REF_SLOTS       (1u << 16)
#define POOL_BYTES      (64u << 10)
#define VALUE_BYTES_MAX (40u << 10)

struct ref_entry {
    uint8_t *key;
    uint32_t klen;
    uint32_t voff, vlen;
};

struct ref {
    struct ref_entry *e;
    uint32_t n;
    uint32_t *slot; /* entry index + 1, 0 = empty */
    uint8_t *pool;  /* POOL_BYTES + VALUE_BYTES_MAX random bytes */
};

static uint32_t ref_hash(const uint8_t *k, uint32_t klen)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < klen; i++) {
        h = (h ^ k[i]) * 0x100000001b3ull;
    }
    return (uint32_t)(h ^ (h >> 32)) & (REF_SLOTS - 1);
}

/* The slot holding `key`, or the empty slot where it would go. */
static uint32_t ref_find(const struct ref *r, const uint8_t *k, uint32_t klen)
{
    for (uint32_t i = ref_hash(k, klen);; i = (i + 1) & (REF_SLOTS - 1)) {
        uint32_t ei = r->slot[i];
        if (ei == 0 || (r->e[ei - 1].klen == klen && memcmp(r->e[ei - 1].key, k, klen) == 0)) {
            return i;
        }
    }
}

static void ref_init(struct ref *r, uint64_t seed)
{
    r->e = calloc(REF_ENTRIES_MAX, sizeof *r->e);
    r->slot = calloc(REF_SLOTS, sizeof *r->slot);
    r->pool = malloc(POOL_BYTES + VALUE_BYTES_MAX);
    r->n = 0;
    struct tu_rng rng;
    tu_rng_seed(&rng, seed);
    tu_rng_bytes(&rng, r->pool, POOL_BYTES + VALUE_BYTES_MAX);
}

static void ref_free(struct ref *r)
{
    for (uint32_t i = 0; i < r->n; i++) {
        free(r->e[i].key);
    }
    free(r->e);
    free(r->slot);
    free(r->pool);
}

static void ref_put(struct ref *r, const uint8_t *k, uint32_t klen, uint32_t voff, uint32_t vlen)
{
    uint32_t s = ref_find(r, k, klen);
    if (r->slot[s] == 0) {
        cr_assert_lt(r->n, REF_ENTRIES_MAX);
        struct ref_entry *e = &r->e[r->n++];
        e->key = malloc(klen);
        memcpy(e->key, k, klen);
        e->klen = klen;
        r->slot[s] = r->n;
    }
    r->e[r->slot[s] - 1].voff = voff;
    r->e[r->slot[s] - 1].vlen = vlen;
}

/* Removes slot s, shifting later members of its probe run back. */
static void ref_slot_remove(struct ref *r, uint32_t i)
{
    for (uint32_t j = i;;) {
        j = (j + 1) & (REF_SLOTS - 1);
        if (r->slot[j] == 0) {
            break;
        }
        const struct ref_entry *e = &r->e[r->slot[j] - 1];
        uint32_t k = ref_hash(e->key, e->klen);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            r->slot[i] = r->slot[j];
            i = j;
        }
    }
    r->slot[i] = 0;
}

static bool ref_delete(struct ref *r, const uint8_t *k, uint32_t klen)
{
    uint32_t s = ref_find(r, k, klen);
    if (r->slot[s] == 0) {
        return false;
    }
    uint32_t ei = r->slot[s] - 1;
    ref_slot_remove(r, s);
    free(r->e[ei].key);
    if (ei != r->n - 1) { /* move the last entry into the hole */
        r->e[ei] = r->e[r->n - 1];
        r->slot[ref_find(r, r->e[ei].key, r->e[ei].klen)] = ei + 1;
    }
    r->n--;
    return true;
}

static int key_order(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int cmp_entries(const void *x, const void *y)
{
    const struct ref_entry *a = x, *b = y;
    return key_order(a->key, a->klen, b->key, b->klen);
}

/* ------------------------------------------------------------------ */
/* Scans                                                               */
/* ------------------------------------------------------------------ */

static void expect_value(const struct ref *r, const struct hdb_buf *v, uint32_t voff, uint32_t vlen,
                         const char *where)
{
    cr_assert_eq(v->len, vlen, "%s: value of %zu bytes, expected %u", where, v->len, vlen);
    cr_assert(vlen == 0 || memcmp(v->data, r->pool + voff, vlen) == 0, "%s: value bytes differ",
              where);
    cr_assert_not_null(v->data, "%s: value data is NULL", where);
}

/* Walks the whole tree forward and backward and compares it with the sorted reference. */
static void scan_compare(struct tp *t, uint64_t root, struct ref *r)
{
    struct ref_entry *sorted = malloc(((size_t)r->n + 1) * sizeof *sorted);
    memcpy(sorted, r->e, (size_t)r->n * sizeof *sorted);
    qsort(sorted, r->n, sizeof *sorted, cmp_entries);
    struct hdb_cursor c;
    struct hdb_buf v = {0};
    struct hdb_err err;
    for (int dir = 0; dir < 2; dir++) {
        hdb_cursor_init(&c, &t->pager, root);
        int rc = dir == 0 ? hdb_cursor_first(&c, &err) : hdb_cursor_last(&c, &err);
        for (uint32_t i = 0; i < r->n; i++) {
            const struct ref_entry *e = &sorted[dir == 0 ? i : r->n - 1 - i];
            cr_assert_eq(rc, HDB_OK, "scan %s stopped after %u of %u entries: %s",
                         dir == 0 ? "forward" : "backward", i, r->n, rc == HDB_OK ? "" : err.msg);
            const uint8_t *k;
            uint32_t klen;
            hdb_cursor_key(&c, &k, &klen);
            cr_assert(klen == e->klen && memcmp(k, e->key, klen) == 0,
                      "scan %s: entry %u has the wrong key", dir == 0 ? "forward" : "backward", i);
            cr_assert_eq(hdb_cursor_value(&c, &v, &err), HDB_OK, "%s", err.msg);
            expect_value(r, &v, e->voff, e->vlen, "scan");
            rc = dir == 0 ? hdb_cursor_next(&c, &err) : hdb_cursor_prev(&c, &err);
        }
        cr_assert_eq(rc, HDB_NOTFOUND, "scan went past the reference's %u entries", r->n);
        hdb_cursor_close(&c);
    }
    hdb_buf_free(&v);
    free(sorted);
}

/* ------------------------------------------------------------------ */
/* Random operations against the reference map                         */
/* ------------------------------------------------------------------ */

struct gen {
    struct tu_rng rng;
    struct ref *ref;
    uint8_t key[HDB_KEY_BYTES_MAX];
    uint32_t klen;
};

static uint32_t random_klen(struct tu_rng *rng)
{
    uint64_t d = tu_rng_below(rng, 100);
    return d < 60   ? 1 + (uint32_t)tu_rng_below(rng, 16)
           : d < 90 ? 17 + (uint32_t)tu_rng_below(rng, 48)
           : d < 98 ? 65 + (uint32_t)tu_rng_below(rng, 336)
                    : 401 + (uint32_t)tu_rng_below(rng, HDB_KEY_BYTES_MAX - 400);
}

static uint32_t random_vlen(struct tu_rng *rng)
{
    uint64_t d = tu_rng_below(rng, 100);
    return d < 65   ? (uint32_t)tu_rng_below(rng, 65)
           : d < 90 ? 65 + (uint32_t)tu_rng_below(rng, 1936)
           : d < 98 ? 2001 + (uint32_t)tu_rng_below(rng, 10000)
                    : 12001 + (uint32_t)tu_rng_below(rng, VALUE_BYTES_MAX - 12000);
}

/* A key that is new (often sharing a prefix with an existing one) or an existing one. */
static void pick_key(struct gen *g, bool existing)
{
    struct ref *r = g->ref;
    if (existing && r->n > 0) {
        const struct ref_entry *e = &r->e[tu_rng_below(&g->rng, r->n)];
        memcpy(g->key, e->key, e->klen);
        g->klen = e->klen;
        return;
    }
    g->klen = random_klen(&g->rng);
    uint32_t prefix = 0;
    if (r->n > 0 && tu_rng_below(&g->rng, 4) == 0) {
        const struct ref_entry *e = &r->e[tu_rng_below(&g->rng, r->n)];
        prefix = (uint32_t)tu_rng_below(&g->rng, (e->klen < g->klen ? e->klen : g->klen) + 1);
        memcpy(g->key, e->key, prefix);
    }
    tu_rng_bytes(&g->rng, g->key + prefix, g->klen - prefix);
}

static void op_put(struct tp *t, uint64_t *root, struct gen *g)
{
    pick_key(g, tu_rng_below(&g->rng, 10) < 3);
    uint32_t vlen = random_vlen(&g->rng);
    uint32_t voff = (uint32_t)tu_rng_below(&g->rng, POOL_BYTES);
    struct hdb_err err;
    int rc = hdb_bt_put(&t->pager, root, g->key, g->klen, g->ref->pool + voff, vlen, &err);
    cr_assert_eq(rc, HDB_OK, "put of %u-byte key, %u-byte value: %s", g->klen, vlen, err.msg);
    ref_put(g->ref, g->key, g->klen, voff, vlen);
}

static void op_delete(struct tp *t, uint64_t *root, struct gen *g)
{
    pick_key(g, tu_rng_below(&g->rng, 100) < 85);
    bool found;
    struct hdb_err err;
    int rc = hdb_bt_delete(&t->pager, root, g->key, g->klen, &found, &err);
    cr_assert_eq(rc, HDB_OK, "delete: %s", err.msg);
    cr_assert_eq(found, ref_delete(g->ref, g->key, g->klen), "delete: found differs");
}

static void op_get(struct tp *t, uint64_t root, struct gen *g, struct hdb_buf *v)
{
    pick_key(g, tu_rng_below(&g->rng, 100) < 80);
    struct hdb_err err;
    int rc = hdb_bt_get(&t->pager, root, g->key, g->klen, v, &err);
    uint32_t s = ref_find(g->ref, g->key, g->klen);
    if (g->ref->slot[s] == 0) {
        cr_assert_eq(rc, HDB_NOTFOUND, "get of an absent key: rc %d", rc);
        return;
    }
    cr_assert_eq(rc, HDB_OK, "get: %s", err.msg);
    const struct ref_entry *e = &g->ref->e[g->ref->slot[s] - 1];
    expect_value(g->ref, v, e->voff, e->vlen, "get");
}

/* One random op; the tree is kept near `target` entries. */
static void random_op(struct tp *t, uint64_t *root, struct gen *g, uint32_t target,
                      struct hdb_buf *v)
{
    uint64_t d = tu_rng_below(&g->rng, 100);
    uint32_t put_pct = g->ref->n < target ? 50 : 30;
    if (g->ref->n + 1 >= REF_ENTRIES_MAX) {
        put_pct = 0;
    }
    if (d < put_pct) {
        op_put(t, root, g);
    } else if (d < 70) {
        op_delete(t, root, g);
    } else {
        op_get(t, *root, g, v);
    }
}

static void checkpoint(struct tp *t, uint64_t root, struct ref *r)
{
    scan_compare(t, root, r);
    tp_verify_working(t, root, r->n);
}

Test(btree, btree_matches_reference_map_random_ops, .init = setup, .timeout = 900)
{
    struct tp t;
    tp_open(&t, "bt-random", 4096, 1024);
    t.recycle = true;
    struct ref r;
    ref_init(&r, 11);
    struct gen g = {.ref = &r};
    tu_rng_seed(&g.rng, 12);
    struct hdb_buf v = {0};
    uint64_t root = 0;
    const uint64_t ops = tu_scaled(1000000);
    const uint64_t check_every = ops / 8 + 1, publish_every = 5000, reopen_every = ops / 20 + 1;
    for (uint64_t i = 1; i <= ops; i++) {
        random_op(&t, &root, &g, 6000, &v);
        if (i % publish_every == 0) {
            tp_publish(&t);
        }
        if (i % reopen_every == 0) { /* alternate a 64-frame cache and a 4 MiB one */
            tp_reopen(&t, (i / reopen_every) % 2 == 1 ? HDB_CACHE_FRAMES_MIN : 1024);
        }
        if (i % check_every == 0) {
            checkpoint(&t, root, &r);
        }
    }
    checkpoint(&t, root, &r);
    /* Delete everything that is left: the tree empties and every page comes back. */
    while (r.n > 0) {
        bool found;
        struct hdb_err err;
        struct ref_entry e = r.e[r.n - 1];
        cr_assert_eq(hdb_bt_delete(&t.pager, &root, e.key, e.klen, &found, &err), HDB_OK);
        cr_assert(found);
        ref_delete(&r, e.key, e.klen);
    }
    cr_assert_eq(root, 0, "an empty tree has root 0");
    cr_assert_eq(t.live, 0, "%llu pages still live after deleting everything",
                 (unsigned long long)t.live);
    cr_assert_eq(t.bad_releases, 0);
    hdb_buf_free(&v);
    ref_free(&r);
    tp_close(&t);
}

/* ------------------------------------------------------------------ */
/* Copy-on-write                                                       */
/* ------------------------------------------------------------------ */

/* Collects the pages a verify walk reaches. */
struct page_list {
    struct u64vec pg;
};

static void collect_visit(void *ctx, uint64_t pgno, enum hdb_page_type type)
{
    (void)type;
    vec_push(&((struct page_list *)ctx)->pg, pgno);
}

static void fill_random(struct tp *t, uint64_t *root, struct gen *g, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        op_put(t, root, g);
    }
}

Test(btree, btree_cow_published_version_unchanged, .init = setup, .timeout = 300)
{
    struct tp t;
    tp_open(&t, "bt-cow", 4096, 256);
    t.recycle = false; /* the test holds the old root */
    struct ref r, old;
    ref_init(&r, 21);
    struct gen g = {.ref = &r};
    tu_rng_seed(&g.rng, 22);
    uint64_t root = 0;
    fill_random(&t, &root, &g, (uint32_t)tu_scaled(4000));
    tp_flush(&t);
    /* R at gen 1: remember its entries and every byte of its pages. */
    uint64_t published = root;
    ref_init(&old, 21);
    for (uint32_t i = 0; i < r.n; i++) {
        ref_put(&old, r.e[i].key, r.e[i].klen, r.e[i].voff, r.e[i].vlen);
    }
    struct page_list pl = {0};
    struct hdb_bt_verify_cb cb = {.visit = collect_visit, .ctx = &pl};
    uint64_t entries, problems;
    struct hdb_err err;
    cr_assert_eq(hdb_bt_verify(&t.pager, published, &cb, &entries, &problems, &err), HDB_OK);
    cr_assert_eq(problems, 0);
    uint8_t *image = malloc(pl.pg.n * t.page_size);
    int fd = open(t.path, O_RDONLY);
    for (size_t i = 0; i < pl.pg.n; i++) {
        cr_assert_eq(
            pread(fd, image + i * t.page_size, t.page_size, (off_t)(pl.pg.v[i] * t.page_size)),
            t.page_size);
    }
    tp_publish(&t);
    /* Mutate a lot: puts, overwrites, deletes (overflow values included), small cache too. */
    struct hdb_buf v = {0};
    for (uint64_t i = 0; i < tu_scaled(30000); i++) {
        random_op(&t, &root, &g, 3000, &v);
        if (i == 10000) {
            tp_reopen(&t, HDB_CACHE_FRAMES_MIN);
        }
    }
    tp_flush(&t);
    cr_assert_neq(root, published);
    scan_compare(&t, root, &r);
    tp_verify_working(&t, root, r.n);
    /* The published root still reads exactly as it was, and its pages are unchanged on disk. */
    scan_compare(&t, published, &old);
    for (size_t i = 0; i < pl.pg.n; i++) {
        uint8_t *now = malloc(t.page_size);
        cr_assert_eq(pread(fd, now, t.page_size, (off_t)(pl.pg.v[i] * t.page_size)), t.page_size);
        cr_assert(memcmp(now, image + i * t.page_size, t.page_size) == 0,
                  "page %llu of the published version changed", (unsigned long long)pl.pg.v[i]);
        cr_assert_neq(t.state[pl.pg.v[i]], PG_FREE, "a published page was freed for reuse");
        free(now);
    }
    struct vstate vs;
    cr_assert_eq(tp_verify(&t, published, &entries, &vs), 0, "%s", vs.problems);
    cr_assert_eq(entries, old.n);
    close(fd);
    free(image);
    free(pl.pg.v);
    hdb_buf_free(&v);
    ref_free(&old);
    ref_free(&r);
    tp_close(&t);
}

/* ------------------------------------------------------------------ */
/* Space                                                               */
/* ------------------------------------------------------------------ */

static void put_num(struct tp *t, uint64_t *root, uint32_t i, uint32_t vlen, const uint8_t *val)
{
    char k[16];
    snprintf(k, sizeof k, "%08u", i);
    struct hdb_err err;
    cr_assert_eq(hdb_bt_put(&t->pager, root, k, 8, val, vlen, &err), HDB_OK, "%s", err.msg);
}

static void del_num(struct tp *t, uint64_t *root, uint32_t i)
{
    char k[16];
    snprintf(k, sizeof k, "%08u", i);
    bool found;
    struct hdb_err err;
    cr_assert_eq(hdb_bt_delete(&t->pager, root, k, 8, &found, &err), HDB_OK, "%s", err.msg);
    cr_assert(found, "key %s not found", k);
}

Test(btree, btree_space_reused_after_deletes, .init = setup, .timeout = 300)
{
    struct tp t;
    tp_open(&t, "bt-space", 4096, 512);
    t.recycle = true;
    static uint8_t val[6000];
    memset(val, 'v', sizeof val);
    const uint32_t n = (uint32_t)tu_scaled(20000);
    uint64_t root = 0;
    /* Insert N (every 50th value in overflow pages), publish, delete all: nothing stays. */
    for (uint32_t i = 0; i < n; i++) {
        put_num(&t, &root, (i * 7919u) % n, i % 50 == 0 ? sizeof val : 100, val);
    }
    tp_verify_working(&t, root, n);
    tp_publish(&t);
    for (uint32_t i = 0; i < n; i++) {
        del_num(&t, &root, (i * 104729u) % n);
    }
    cr_assert_eq(root, 0);
    cr_assert_eq(t.live, 0, "%llu pages not released", (unsigned long long)t.live);
    cr_assert_eq(t.bad_releases, 0);
    /* Insert again after a publish: freed pages are reused, the file does not grow. */
    tp_publish(&t);
    uint64_t high = t.next;
    for (uint32_t i = 0; i < n; i++) {
        put_num(&t, &root, i, 100, val);
    }
    tp_publish(&t);
    cr_assert_leq(t.next, high + 1, "reinserting grew the file from %llu to %llu pages",
                  (unsigned long long)high, (unsigned long long)t.next);
    uint64_t full = t.live;
    /* Delete a contiguous half: the emptied leaves go. */
    for (uint32_t i = 0; i < n / 2; i++) {
        del_num(&t, &root, i);
    }
    tp_verify_working(&t, root, n - n / 2);
    cr_assert_lt(t.live, full * 6 / 10, "half deleted: %llu of %llu pages still live",
                 (unsigned long long)t.live, (unsigned long long)full);
    uint64_t half = t.live;
    /* Delete 4 of every 5 left: sparse leaves merge. */
    uint32_t left = n - n / 2;
    for (uint32_t i = n / 2; i < n; i++) {
        if (i % 5 != 0) {
            del_num(&t, &root, i);
            left--;
        }
    }
    tp_verify_working(&t, root, left);
    cr_assert_lt(t.live, half * 6 / 10, "4/5 deleted: %llu of %llu pages still live",
                 (unsigned long long)t.live, (unsigned long long)half);
    /* Drop gives back the rest. */
    tp_publish(&t);
    struct hdb_err err;
    cr_assert_eq(hdb_bt_drop(&t.pager, root, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(t.live, 0);
    cr_assert_eq(t.bad_releases, 0);
    tp_close(&t);
}

/* ------------------------------------------------------------------ */
/* Cursors                                                             */
/* ------------------------------------------------------------------ */

static void expect_at(struct hdb_cursor *c, int rc, int want_rc, uint32_t want)
{
    cr_assert_eq(rc, want_rc, "rc %d, expected %d", rc, want_rc);
    cr_assert_eq(hdb_cursor_valid(c), want_rc == HDB_OK);
    if (want_rc != HDB_OK) {
        return;
    }
    const uint8_t *k;
    uint32_t klen;
    hdb_cursor_key(c, &k, &klen);
    char want_key[16];
    snprintf(want_key, sizeof want_key, "%08u", want);
    cr_assert(klen == 8 && memcmp(k, want_key, 8) == 0, "at %.*s, expected %s", (int)klen, k,
              want_key);
}

static int seek(struct hdb_cursor *c, const char *k, enum hdb_seek mode)
{
    struct hdb_err err;
    return hdb_cursor_seek(c, k, (uint32_t)strlen(k), mode, &err);
}

static void seek_modes(struct hdb_cursor *c)
{
    expect_at(c, seek(c, "00000100", HDB_SEEK_GE), HDB_OK, 100);
    expect_at(c, seek(c, "00000100", HDB_SEEK_GT), HDB_OK, 102);
    expect_at(c, seek(c, "00000100", HDB_SEEK_LE), HDB_OK, 100);
    expect_at(c, seek(c, "00000100", HDB_SEEK_LT), HDB_OK, 98);
    expect_at(c, seek(c, "00000101", HDB_SEEK_GE), HDB_OK, 102);
    expect_at(c, seek(c, "00000101", HDB_SEEK_GT), HDB_OK, 102);
    expect_at(c, seek(c, "00000101", HDB_SEEK_LE), HDB_OK, 100);
    expect_at(c, seek(c, "00000101", HDB_SEEK_LT), HDB_OK, 100);
    expect_at(c, seek(c, "000001005", HDB_SEEK_LT), HDB_OK, 100); /* longer than a key */
    expect_at(c, seek(c, "000001005", HDB_SEEK_GT), HDB_OK, 102);
    expect_at(c, seek(c, "00000000", HDB_SEEK_LT), HDB_NOTFOUND, 0);
    expect_at(c, seek(c, "00000000", HDB_SEEK_LE), HDB_OK, 0);
    expect_at(c, seek(c, "0", HDB_SEEK_LT), HDB_NOTFOUND, 0);
    expect_at(c, seek(c, "0", HDB_SEEK_LE), HDB_NOTFOUND, 0);
    expect_at(c, seek(c, "0", HDB_SEEK_GE), HDB_OK, 0);
    expect_at(c, seek(c, "0", HDB_SEEK_GT), HDB_OK, 0);
    expect_at(c, seek(c, "00019998", HDB_SEEK_GT), HDB_NOTFOUND, 0);
    expect_at(c, seek(c, "00019998", HDB_SEEK_GE), HDB_OK, 19998);
    expect_at(c, seek(c, "9", HDB_SEEK_GT), HDB_NOTFOUND, 0);
    expect_at(c, seek(c, "9", HDB_SEEK_GE), HDB_NOTFOUND, 0);
    expect_at(c, seek(c, "9", HDB_SEEK_LE), HDB_OK, 19998);
    expect_at(c, seek(c, "9", HDB_SEEK_LT), HDB_OK, 19998);
}

/* From every 97th key: LT/GT land on the neighbours even across leaf boundaries. */
static void seek_neighbours(struct hdb_cursor *c)
{
    for (uint32_t i = 0; i < 20000; i += 2 * 97) {
        char k[16];
        snprintf(k, sizeof k, "%08u", i);
        if (i > 0) {
            expect_at(c, seek(c, k, HDB_SEEK_LT), HDB_OK, i - 2);
        }
        if (i < 19998) {
            expect_at(c, seek(c, k, HDB_SEEK_GT), HDB_OK, i + 2);
        }
    }
}

static void walk_both_ways(struct hdb_cursor *c)
{
    struct hdb_err err;
    int rc = seek(c, "00005000", HDB_SEEK_GE);
    for (uint32_t want = 5000; want < 20000; want += 2) {
        expect_at(c, rc, HDB_OK, want);
        rc = hdb_cursor_next(c, &err);
    }
    expect_at(c, rc, HDB_NOTFOUND, 0);
    cr_assert_eq(hdb_cursor_next(c, &err), HDB_NOTFOUND, "an invalid cursor stays invalid");
    rc = hdb_cursor_last(c, &err);
    for (uint32_t want = 19998;; want -= 2) {
        expect_at(c, rc, HDB_OK, want);
        rc = hdb_cursor_prev(c, &err);
        if (want == 0) {
            break;
        }
    }
    expect_at(c, rc, HDB_NOTFOUND, 0);
    /* Change direction in the middle. */
    expect_at(c, seek(c, "00010001", HDB_SEEK_LE), HDB_OK, 10000);
    expect_at(c, hdb_cursor_next(c, &err), HDB_OK, 10002);
    expect_at(c, hdb_cursor_prev(c, &err), HDB_OK, 10000);
    expect_at(c, hdb_cursor_prev(c, &err), HDB_OK, 9998);
    expect_at(c, hdb_cursor_first(c, &err), HDB_OK, 0);
}

Test(btree, btree_cursor_seek_modes, .init = setup)
{
    struct tp t;
    tp_open(&t, "bt-cursor", 4096, 256);
    uint64_t root = 0;
    struct hdb_cursor c;
    struct hdb_err err;
    hdb_cursor_init(&c, &t.pager, root);
    cr_assert_eq(hdb_cursor_first(&c, &err), HDB_NOTFOUND, "empty tree");
    cr_assert_eq(seek(&c, "x", HDB_SEEK_GE), HDB_NOTFOUND);
    for (uint32_t i = 0; i < 20000; i += 2) { /* hundreds of leaves */
        put_num(&t, &root, i, 8, (const uint8_t *)"abcdefgh");
    }
    hdb_cursor_init(&c, &t.pager, root);
    seek_modes(&c);
    seek_neighbours(&c);
    walk_both_ways(&c);
    hdb_cursor_close(&c);
    /* From a cold cache a forward scan reads the next leaves ahead. */
    tp_reopen(&t, 256);
    hdb_cursor_init(&c, &t.pager, root);
    walk_both_ways(&c);
    hdb_cursor_close(&c);
    struct hdb_cache_stats st;
    hdb_cache_get_stats(t.cache, &st);
    cr_assert_gt(st.prefetched, 0, "a scan from a cold cache prefetched nothing");
    cr_assert_eq(st.frames_pinned, 0, "cursors leave no pins behind");
    tp_close(&t);
}

/* ------------------------------------------------------------------ */
/* Large values and key limits                                         */
/* ------------------------------------------------------------------ */

Test(btree, btree_values_up_to_16mib, .init = setup, .timeout = 300)
{
    struct tp t;
    tp_open(&t, "bt-16mib", 4096, 1024);
    t.recycle = true;
    uint32_t len = HDB_VALUE_BYTES_MAX;
    uint8_t *big = malloc(len + 1);
    struct tu_rng rng;
    tu_rng_seed(&rng, 5);
    tu_rng_bytes(&rng, big, len + 1);
    uint64_t root = 0;
    struct hdb_err err;
    put_num(&t, &root, 1, 10, big);
    cr_assert_eq(hdb_bt_put(&t.pager, &root, "big", 3, big, len, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(hdb_bt_put(&t.pager, &root, "big2", 4, big, len + 1, &err), HDB_TOOBIG);
    uint64_t with_one = t.live;
    cr_assert_gt(with_one, len / 4096, "the value sits in overflow pages");
    struct hdb_buf v = {0};
    tp_reopen(&t, 256); /* read it back from disk through a small cache */
    cr_assert_eq(hdb_bt_get(&t.pager, root, "big", 3, &v, &err), HDB_OK, "%s", err.msg);
    cr_assert(v.len == len && memcmp(v.data, big, len) == 0, "16 MiB value differs");
    /* Overwrite (published, so the old chain is released at an older gen), then delete. */
    big[0] ^= 1;
    cr_assert_eq(hdb_bt_put(&t.pager, &root, "big", 3, big, len, &err), HDB_OK, "%s", err.msg);
    cr_assert_leq(t.live, with_one, "overwrite: old chain released (%llu -> %llu live pages)",
                  (unsigned long long)with_one, (unsigned long long)t.live);
    cr_assert_eq(hdb_bt_get(&t.pager, root, "big", 3, &v, &err), HDB_OK);
    cr_assert(v.len == len && memcmp(v.data, big, len) == 0);
    tp_verify_working(&t, root, 2);
    /* A small value replaces the chain without any overflow page left. */
    cr_assert_eq(hdb_bt_put(&t.pager, &root, "big", 3, "s", 1, &err), HDB_OK);
    tp_verify_working(&t, root, 2);
    cr_assert_leq(t.live, 2, "%llu pages live for two small entries", (unsigned long long)t.live);
    cr_assert_eq(hdb_bt_put(&t.pager, &root, "big", 3, big, len, &err), HDB_OK);
    bool found;
    cr_assert_eq(hdb_bt_delete(&t.pager, &root, "big", 3, &found, &err), HDB_OK);
    cr_assert(found);
    cr_assert_eq(hdb_bt_get(&t.pager, root, "big", 3, &v, &err), HDB_NOTFOUND);
    tp_verify_working(&t, root, 1);
    cr_assert_eq(t.live, 1, "only the leaf with the small entry is left");
    hdb_buf_free(&v);
    free(big);
    tp_close(&t);
}

/* A 1024-byte key: the id in decimal, then filler that depends on the id. */
static void max_key(uint8_t *key, uint32_t id)
{
    memset(key, 'a' + id % 26, HDB_KEY_BYTES_MAX);
    snprintf((char *)key, 8, "%05u", id);
    key[5] = 'x';
}

/* A seek key longer than any stored key (a scan resuming after a maximal key seeks it plus a 0
 * byte) lands where that key would sort, in every mode; it was refused as invalid. */
Test(btree, btree_seek_keys_longer_than_the_limit, .init = setup)
{
    struct tp t;
    tp_open(&t, "bt-longseek", 4096, 128);
    static uint8_t key[HDB_KEY_BYTES_MAX + 1];
    uint64_t root = 0;
    struct hdb_err err;
    for (uint32_t id = 0; id < 100; id++) {
        max_key(key, id * 2);
        cr_assert_eq(hdb_bt_put(&t.pager, &root, key, HDB_KEY_BYTES_MAX, "v", 1, &err), HDB_OK,
                     "%s", err.msg);
    }
    struct hdb_cursor c;
    hdb_cursor_init(&c, &t.pager, root);
    for (uint32_t id = 0; id < 200; id += 7) {
        static const enum hdb_seek modes[] = {HDB_SEEK_GE, HDB_SEEK_GT, HDB_SEEK_LE, HDB_SEEK_LT};
        for (size_t m = 0; m < 4; m++) {
            max_key(key, id);
            key[HDB_KEY_BYTES_MAX] = 0; /* the key of `id` plus a 0 byte */
            int rc = hdb_cursor_seek(&c, key, HDB_KEY_BYTES_MAX + 1, modes[m], &err);
            bool forward = m < 2;
            /* forward: the first stored id above `id`; backward: the last at or below it */
            uint32_t want = forward ? id / 2 * 2 + 2 : id / 2 * 2;
            if (forward && want >= 200) {
                cr_assert_eq(rc, HDB_NOTFOUND, "id %u mode %zu", id, m);
                continue;
            }
            cr_assert_eq(rc, HDB_OK, "id %u mode %zu: %s", id, m, err.msg);
            const uint8_t *k;
            uint32_t klen;
            hdb_cursor_key(&c, &k, &klen);
            max_key(key, want);
            cr_assert(klen == HDB_KEY_BYTES_MAX && memcmp(k, key, klen) == 0,
                      "id %u mode %zu: not on key %u", id, m, want);
        }
    }
    hdb_cursor_close(&c);
    tp_close(&t);
}

Test(btree, btree_key_limits, .init = setup)
{
    struct tp t;
    tp_open(&t, "bt-keys", 4096, 128);
    static uint8_t key[HDB_KEY_BYTES_MAX + 1];
    static uint8_t val[3000];
    memset(val, 'q', sizeof val);
    uint64_t root = 0;
    struct hdb_err err;
    for (uint32_t i = 0; i < 300; i++) { /* maximal keys: several levels of 3-key branches */
        uint32_t id = (i * 37) % 300;
        max_key(key, id);
        uint32_t vlen = id % 3 == 0 ? sizeof val : id % 3; /* inline and overflow values */
        cr_assert_eq(hdb_bt_put(&t.pager, &root, key, HDB_KEY_BYTES_MAX, val, vlen, &err), HDB_OK,
                     "%s", err.msg);
    }
    tp_verify_working(&t, root, 300);
    cr_assert_eq(hdb_bt_put(&t.pager, &root, key, HDB_KEY_BYTES_MAX + 1, "v", 1, &err), HDB_TOOBIG);
    cr_assert(strstr(err.msg, "1024") != NULL, "names the limit: %s", err.msg);
    cr_assert_eq(hdb_bt_put(&t.pager, &root, key, 0, "v", 1, &err), HDB_INVALID);
    struct hdb_buf v = {0};
    cr_assert_eq(hdb_bt_get(&t.pager, root, key, 0, &v, &err), HDB_NOTFOUND);
    bool found = true;
    cr_assert_eq(hdb_bt_delete(&t.pager, &root, key, 0, &found, &err), HDB_OK);
    cr_assert(!found);
    /* A value of 0 bytes reads back as 0 bytes with non-NULL data. */
    cr_assert_eq(hdb_bt_put(&t.pager, &root, "empty", 5, NULL, 0, &err), HDB_OK);
    cr_assert_eq(hdb_bt_get(&t.pager, root, "empty", 5, &v, &err), HDB_OK);
    cr_assert(v.len == 0 && v.data != NULL);
    /* Delete the maximal keys again in another order; the tree shrinks to the small one. */
    for (uint32_t i = 0; i < 300; i++) {
        uint32_t id = (i * 7) % 300;
        max_key(key, id);
        cr_assert_eq(hdb_bt_delete(&t.pager, &root, key, HDB_KEY_BYTES_MAX, &found, &err), HDB_OK);
        cr_assert(found, "maximal key %u", id);
    }
    struct hdb_cursor c;
    hdb_cursor_init(&c, &t.pager, root);
    cr_assert_eq(hdb_cursor_first(&c, &err), HDB_OK, "a scan finds the entry left");
    hdb_cursor_close(&c);
    tp_verify_working(&t, root, 1);
    cr_assert_eq(t.live, 1, "%llu pages live for one entry", (unsigned long long)t.live);
    hdb_buf_free(&v);
    tp_close(&t);
}

static uint32_t count_forward(struct tp *t, uint64_t root)
{
    struct hdb_cursor c;
    struct hdb_err err;
    hdb_cursor_init(&c, &t->pager, root);
    uint32_t n = 0;
    for (int rc = hdb_cursor_first(&c, &err); rc == HDB_OK; rc = hdb_cursor_next(&c, &err)) {
        n++;
    }
    hdb_cursor_close(&c);
    return n;
}

/*
 * Regression: with maximal keys a branch holds three, so a branch that lost a child could not
 * merge with a full neighbour and was left keyless; its only leaf, once emptied, stayed in the
 * tree and scans stopped there. Deletes now even such nodes out with a neighbour.
 */
Test(btree, btree_deletes_leave_no_keyless_branch_or_empty_leaf, .init = setup)
{
    struct tp t;
    tp_open(&t, "bt-shape", 4096, 128);
    t.recycle = true;
    static uint8_t key[HDB_KEY_BYTES_MAX];
    uint64_t root = 0;
    struct hdb_err err;
    const uint32_t n = 240;
    for (uint32_t i = 0; i < n; i++) {
        max_key(key, (i * 37) % n);
        cr_assert_eq(hdb_bt_put(&t.pager, &root, key, HDB_KEY_BYTES_MAX, "v", 1, &err), HDB_OK);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (i % 10 == 0) {
            tp_publish(&t); /* deletes copy pages too */
        }
        uint32_t id = (i * 71) % n;
        max_key(key, id);
        bool found;
        cr_assert_eq(hdb_bt_delete(&t.pager, &root, key, HDB_KEY_BYTES_MAX, &found, &err), HDB_OK);
        cr_assert(found, "key %u", id);
        tp_verify_working(&t, root, n - 1 - i);
        cr_assert_eq(count_forward(&t, root), n - 1 - i, "a scan after %u deletes", i + 1);
    }
    cr_assert_eq(root, 0);
    cr_assert_eq(t.live, 0);
    tp_close(&t);
}

/* One put or delete with a failure injected after a random number of allocs or reads. */
static int failing_op(struct tp *t, uint64_t *root, struct gen *g, bool *is_put, uint32_t *voff,
                      uint32_t *vlen, struct hdb_err *err)
{
    uint64_t in = 1 + tu_rng_below(&g->rng, 12);
    if (tu_rng_below(&g->rng, 2) == 0) {
        t->fail_alloc_in = in;
    } else {
        t->fail_read_in = in;
    }
    *is_put = tu_rng_below(&g->rng, 3) != 0;
    pick_key(g, !*is_put || tu_rng_below(&g->rng, 2) == 0);
    *vlen = random_vlen(&g->rng);
    *voff = (uint32_t)tu_rng_below(&g->rng, POOL_BYTES);
    bool found;
    int rc = *is_put
                 ? hdb_bt_put(&t->pager, root, g->key, g->klen, g->ref->pool + *voff, *vlen, err)
                 : hdb_bt_delete(&t->pager, root, g->key, g->klen, &found, err);
    t->fail_alloc_in = t->fail_read_in = 0;
    return rc;
}

/*
 * A put or delete that fails part way (no page to allocate, a read error) returns that error
 * and leaves no frame pinned; the caller throws the working version away (here: forgets the
 * cache and goes back to the last published root), and what was published is intact.
 */
Test(btree, btree_errors_return_cleanly_and_leave_no_pins, .init = setup, .timeout = 300)
{
    struct tp t;
    tp_open(&t, "bt-errors", 4096, HDB_CACHE_FRAMES_MIN);
    t.recycle = false; /* a failed op may have released pages the published root still uses */
    struct ref r;
    ref_init(&r, 31);
    struct gen g = {.ref = &r};
    tu_rng_seed(&g.rng, 32);
    uint64_t root = 0;
    fill_random(&t, &root, &g, 2000);
    uint32_t failed = 0;
    for (uint32_t i = 0; i < tu_scaled(3000); i++) {
        tp_flush(&t);
        tp_publish(&t);
        uint64_t published = root;
        bool is_put;
        uint32_t voff, vlen;
        struct hdb_err err;
        int rc = failing_op(&t, &root, &g, &is_put, &voff, &vlen, &err);
        struct hdb_cache_stats st;
        hdb_cache_get_stats(t.cache, &st);
        cr_assert_eq(st.frames_pinned, 0, "%u frames pinned after rc %d", st.frames_pinned, rc);
        if (rc == HDB_OK) {
            if (is_put) {
                ref_put(&r, g.key, g.klen, voff, vlen);
            } else {
                ref_delete(&r, g.key, g.klen);
            }
            continue;
        }
        cr_assert(rc == HDB_NOSPACE || rc == HDB_IOERR, "rc %d: %s", rc, err.msg);
        failed++;
        hdb_cache_forget_all(t.cache);
        root = published;
    }
    cr_assert_gt(failed, tu_scaled(3000) / 8, "only %u ops failed", failed);
    scan_compare(&t, root, &r);
    struct vstate vs;
    uint64_t entries;
    cr_assert_eq(tp_verify(&t, root, &entries, &vs), 0, "%s", vs.problems);
    cr_assert_eq(entries, r.n);
    ref_free(&r);
    tp_close(&t);
}

/* ------------------------------------------------------------------ */
/* Verification                                                        */
/* ------------------------------------------------------------------ */

/* Node layout (btree.c): nkeys at 40, u32 slots from 64, cell klen u16 at the cell's start. */
#define T_NKEYS   40
#define T_SLOTS   64
#define T_OVF_LEN 48

/* Applies `edit` to page pgno in the cache, verifies, restores; returns the messages. */
static uint64_t verify_edited(struct tp *t, uint64_t root, uint64_t pgno,
                              void (*edit)(uint8_t *page, uint32_t ps), struct vstate *vs)
{
    struct hdb_frame *f;
    struct hdb_err err;
    cr_assert_eq(hdb_cache_get(t->cache, pgno, &f, &err), HDB_OK, "%s", err.msg);
    uint8_t *saved = malloc(t->page_size);
    memcpy(saved, f->data, t->page_size);
    edit(f->data, t->page_size); /* stays pinned, so the edit is what verify reads */
    uint64_t problems = tp_verify(t, root, NULL, vs);
    memcpy(f->data, saved, t->page_size);
    hdb_cache_unpin(t->cache, f);
    free(saved);
    return problems;
}

static void swap_first_keys(uint8_t *page, uint32_t ps)
{
    (void)ps;
    uint32_t a = hdb_get32(page + T_SLOTS), b = hdb_get32(page + T_SLOTS + 4);
    hdb_put32(page + T_SLOTS, b);
    hdb_put32(page + T_SLOTS + 4, a);
}

static void slot_outside(uint8_t *page, uint32_t ps)
{
    hdb_put32(page + T_SLOTS + 4, ps + 12345);
}

static void key_too_long(uint8_t *page, uint32_t ps)
{
    (void)ps;
    hdb_put16(page + hdb_get32(page + T_SLOTS), 60000);
}

static void chain_short(uint8_t *page, uint32_t ps)
{
    (void)ps;
    hdb_put32(page + T_OVF_LEN, hdb_get32(page + T_OVF_LEN) + 1);
}

/* The pages along the leftmost path and the first overflow page, found through a cursor. */
static void find_pages(struct tp *t, uint64_t root, uint64_t *branch, uint64_t *leaf)
{
    struct hdb_cursor c;
    struct hdb_err err;
    hdb_cursor_init(&c, &t->pager, root);
    cr_assert_eq(seek(&c, "00001500", HDB_SEEK_GE), HDB_OK);
    cr_assert_geq(c.depth, 3, "want a tree of three levels, got %u", c.depth);
    *branch = c.path[c.depth - 2].pgno;
    *leaf = c.path[c.depth - 1].pgno;
    (void)err;
    hdb_cursor_close(&c);
}

static void expect_problem_naming(uint64_t problems, const struct vstate *vs, uint64_t pgno,
                                  const char *what)
{
    char name[32];
    snprintf(name, sizeof name, "%llu", (unsigned long long)pgno);
    cr_assert_gt(problems, 0, "%s went unnoticed", what);
    cr_assert(strstr(vs->problems, name) != NULL, "%s: the report does not name page %s:\n%s", what,
              name, vs->problems);
}

Test(btree, btree_verify_reports_corruption, .init = setup)
{
    struct tp t;
    tp_open(&t, "bt-verify", 4096, 512);
    uint64_t root = 0;
    static uint8_t val[5000];
    for (uint32_t i = 0; i < 6000; i++) {
        put_num(&t, &root, i, i == 1500 ? sizeof val : 300, val); /* 3 levels */
    }
    tp_verify_working(&t, root, 6000);
    uint64_t branch, leaf;
    find_pages(&t, root, &branch, &leaf);
    struct vstate vs;
    expect_problem_naming(verify_edited(&t, root, leaf, swap_first_keys, &vs), &vs, leaf,
                          "keys swapped in a leaf");
    expect_problem_naming(verify_edited(&t, root, branch, swap_first_keys, &vs), &vs, branch,
                          "separators swapped in a branch");
    expect_problem_naming(verify_edited(&t, root, leaf, slot_outside, &vs), &vs, leaf,
                          "a slot pointing outside the page");
    expect_problem_naming(verify_edited(&t, root, branch, slot_outside, &vs), &vs, branch,
                          "a branch slot pointing outside the page");
    expect_problem_naming(verify_edited(&t, root, branch, key_too_long, &vs), &vs, branch,
                          "a branch key longer than the limit");
    /* The overflow chain of "00001500" made one byte longer than the value. */
    struct hdb_frame *f;
    struct hdb_err err;
    cr_assert_eq(hdb_cache_get(t.cache, leaf, &f, &err), HDB_OK);
    uint64_t ovf = 0;
    for (uint32_t i = 0; i < hdb_get32(f->data + T_NKEYS); i++) {
        const uint8_t *c = f->data + hdb_get32(f->data + T_SLOTS + 4 * i);
        if (memcmp(c + 8, "00001500", 8) == 0) {
            ovf = hdb_get64(c + 8 + 8);
        }
    }
    hdb_cache_unpin(t.cache, f);
    cr_assert_neq(ovf, 0);
    expect_problem_naming(verify_edited(&t, root, ovf, chain_short, &vs), &vs, ovf,
                          "an overflow page holding more than its chain's length");
    /* A leaf emptied behind the tree's back (older code could leave one): verify names it,
     * and scans and seeks go past it. */
    cr_assert_eq(hdb_cache_get(t.cache, leaf, &f, &err), HDB_OK);
    uint8_t *saved = malloc(t.page_size);
    memcpy(saved, f->data, t.page_size);
    uint32_t lost = hdb_get32(f->data + T_NKEYS);
    const uint8_t *last = f->data + hdb_get32(f->data + T_SLOTS + 4 * (lost - 1));
    char last_key[9];
    memcpy(last_key, last + 8, 8);
    last_key[8] = '\0';
    uint32_t after = (uint32_t)atoi(last_key) + 1;
    hdb_put32(f->data + T_NKEYS, 0);
    uint64_t problems = tp_verify(&t, root, NULL, &vs);
    expect_problem_naming(problems, &vs, leaf, "an empty leaf");
    cr_assert_eq(count_forward(&t, root), 6000 - lost, "a forward scan stops at an empty leaf");
    struct hdb_cursor cur;
    hdb_cursor_init(&cur, &t.pager, root);
    uint32_t back = 0;
    for (int rc = hdb_cursor_last(&cur, &err); rc == HDB_OK; rc = hdb_cursor_prev(&cur, &err)) {
        back++;
    }
    cr_assert_eq(back, 6000 - lost, "a backward scan stops at an empty leaf");
    expect_at(&cur, seek(&cur, "00001500", HDB_SEEK_GE), HDB_OK, after);
    memcpy(f->data, saved, t.page_size);
    hdb_cache_unpin(t.cache, f);
    free(saved);
    /* Everything restored: clean again. */
    tp_verify_working(&t, root, 6000);
    tp_close(&t);
}

/* ------------------------------------------------------------------ */
/* Through the store                                                   */
/* ------------------------------------------------------------------ */

static struct hdb_store *open_big(const char *dir)
{
    struct hdb_store_opts o;
    wl_store_opts(&o);
    o.wal_segment_bytes = 40u << 20; /* a 16 MiB value is one commit in one segment */
    o.checkpoint_wal_bytes = 64u << 20;
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open(dir, &o, &s, NULL, &err), HDB_OK, "%s", err.msg);
    return s;
}

static void put_sync(struct hdb_store *s, uint32_t t, const void *k, uint32_t klen, const void *v,
                     uint32_t vlen)
{
    struct hdb_write w = {
        .type = HDB_WAL_PUT, .tree = t, .key = k, .klen = klen, .val = v, .vlen = vlen};
    struct hdb_err err;
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_OK, "%s", err.msg);
}

Test(btree, store_values_up_to_16mib_roundtrip_and_give_pages_back, .init = setup, .timeout = 300)
{
    char *dir = tu_mkdtemp("bt-big");
    struct hdb_store *s = open_big(dir);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "blobs", &t, &err), HDB_OK);
    uint32_t len = HDB_VALUE_BYTES_MAX;
    uint8_t *big = malloc(len);
    struct tu_rng rng;
    tu_rng_seed(&rng, 5);
    tu_rng_bytes(&rng, big, len);
    put_sync(s, t, "big", 3, big, len);
    struct hdb_buf val = {0};
    cr_assert_eq(hdb_store_get(s, NULL, t, "big", 3, &val, &err), HDB_OK, "%s", err.msg);
    cr_assert(val.len == len && memcmp(val.data, big, len) == 0, "16 MiB value differs");
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK, "%s", err.msg);
    s = open_big(dir); /* from disk this time */
    cr_assert_eq(hdb_store_get(s, NULL, t, "big", 3, &val, &err), HDB_OK, "%s", err.msg);
    cr_assert(val.len == len && memcmp(val.data, big, len) == 0, "16 MiB value differs on disk");
    struct hdb_store_stats st;
    hdb_store_get_stats(s, &st);
    uint64_t pages = st.pages_total;
    for (int round = 0; round < 3; round++) { /* overwrite: the old chain's pages come back */
        big[round] ^= 1;
        put_sync(s, t, "big", 3, big, len);
        for (int c = 0; c < 3; c++) {
            cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
        }
    }
    hdb_store_get_stats(s, &st);
    cr_assert_leq(st.pages_total, pages * 3, "overwrites grew %llu -> %llu pages",
                  (unsigned long long)pages, (unsigned long long)st.pages_total);
    cr_assert_eq(hdb_store_get(s, NULL, t, "big", 3, &val, &err), HDB_OK);
    cr_assert(val.len == len && memcmp(val.data, big, len) == 0);
    struct hdb_write del = {.type = HDB_WAL_DELETE, .tree = t, .key = "big", .klen = 3};
    cr_assert_eq(hdb_store_commit_sync(s, &del, 1, &err), HDB_OK);
    cr_assert_eq(hdb_store_get(s, NULL, t, "big", 3, &val, &err), HDB_NOTFOUND);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK);
    cr_assert_eq(rep.problems, 0);
    cr_assert_gt(rep.free_pages, 4000, "the chain's pages are free again");
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK);
    hdb_buf_free(&val);
    free(big);
    tu_rmtree(dir);
    free(dir);
}

Test(btree, store_key_limits_on_4k_pages, .init = setup)
{
    char *dir = tu_mkdtemp("bt-keys");
    struct hdb_store *s = open_big(dir); /* 4 KiB pages */
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    static uint8_t key[HDB_KEY_BYTES_MAX + 1];
    for (uint32_t i = 0; i < 200; i++) { /* enough maximal keys for several levels */
        memset(key, 'a' + i % 26, sizeof key);
        snprintf((char *)key, sizeof key, "%05u", i);
        key[5] = 'x';
        put_sync(s, t, key, HDB_KEY_BYTES_MAX, "v", 1);
    }
    struct hdb_write w = {.type = HDB_WAL_PUT,
                          .tree = t,
                          .key = key,
                          .klen = HDB_KEY_BYTES_MAX + 1,
                          .val = "v",
                          .vlen = 1};
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_TOOBIG);
    cr_assert(strstr(err.msg, "1024") != NULL, "names the limit: %s", err.msg);
    w.klen = 0;
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_INVALID);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK);
    cr_assert_eq(rep.problems, 0);
    cr_assert_eq(rep.entries, 200);
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK);
    tu_rmtree(dir);
    free(dir);
}

Test(btree, store_verify_reports_keys_out_of_order_behind_a_valid_checksum, .init = setup)
{
    char *dir = tu_mkdtemp("bt-verify");
    struct hdb_store *s = open_big(dir);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    for (uint32_t i = 0; i < 3000; i++) {
        char k[16];
        snprintf(k, sizeof k, "%08u", i);
        struct hdb_write w = {
            .type = HDB_WAL_PUT, .tree = t, .key = k, .klen = 8, .val = k, .vlen = 8};
        cr_assert_eq(hdb_store_commit(s, &w, 1, 0, 0, NULL, NULL, &err), HDB_OK);
    }
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK);
    /* Swap the first two slots of the live leaf holding "00001500" and re-seal it. */
    char *data = tu_path(dir, "data");
    int fd = open(data, O_RDWR);
    uint8_t page[4096];
    uint64_t victim = 0, best_gen = 0;
    for (uint64_t pgno = 2; pread(fd, page, sizeof page, (off_t)(pgno * 4096)) == 4096; pgno++) {
        if (hdb_get32(page) == HDB_PAGE_MAGIC && hdb_page_type(page) == HDB_PAGE_LEAF &&
            memmem(page, sizeof page, "00001500", 8) != NULL && hdb_page_gen(page) >= best_gen) {
            victim = pgno;
            best_gen = hdb_page_gen(page);
        }
    }
    cr_assert_neq(victim, 0);
    cr_assert_eq(pread(fd, page, sizeof page, (off_t)(victim * 4096)), 4096);
    uint32_t a = hdb_get32(page + 64), b = hdb_get32(page + 68);
    hdb_put32(page + 64, b);
    hdb_put32(page + 68, a);
    hdb_page_seal(page, sizeof page);
    cr_assert_eq(pwrite(fd, page, sizeof page, (off_t)(victim * 4096)), 4096);
    close(fd);
    s = open_big(dir);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK, "%s", err.msg);
    cr_assert_gt(rep.problems, 0, "keys out of order went unnoticed");
    hdb_store_close(s, &err);
    free(data);
    tu_rmtree(dir);
    free(dir);
}
