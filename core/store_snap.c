/*
 * store_snap.c — snapshots of one store (store.h has the contract): the
 * pinned versions, their WAL records, the snapshot table a checkpoint
 * writes (layout in store_int.h), loading it back, and what recovery does
 * with snapshot records.
 *
 * WAL record (type HDB_WAL_SNAPSHOT, txn 0, commit_ts 0, no key):
 *   tree 0, create: value = id, tag, created_ms, lsn_end (8 bytes each)
 *   tree 1, drop:   value = id
 *
 * Recovery. A create record says the snapshot holds exactly the records
 * below lsn_end. If no change was replayed from lsn_end up to the record,
 * the replayed state is the snapshot: it is published and pinned there.
 * Otherwise the record is remembered as a cut and, once the first replay
 * is done, the store is opened again and the second replay publishes and
 * pins the version just before the first record at or past each cut.
 */
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/log.h"
#include "core/store_int.h"

#define SNAP_REC_CREATE       0u
#define SNAP_REC_DROP         1u
#define SNAP_REC_CREATE_BYTES 32u
#define SNAP_HEADER_BYTES     48u /* id, tag, created_ms, gen, lsn_end, nroots + pad */
#define SNAP_ROOT_BYTES       16u /* tree, name_len, pad, root */
#define SNAP_HELD_BYTES       24u

static int snaps_find(const struct hdb_store *s, uint64_t id)
{
    uint32_t lo = 0, hi = s->nsnaps;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->snaps[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < s->nsnaps && s->snaps[lo].id == id ? (int)lo : -(int)lo - 1;
}

/* Pins v under `id` (the id is not taken: the caller checked). */
static int snaps_pin(struct hdb_store *s, struct hdb_version *v, uint64_t id, uint64_t tag,
                     uint64_t created_ms, uint64_t lsn_end, struct hdb_err *err)
{
    if (s->nsnaps == s->snaps_cap) {
        uint32_t cap = s->snaps_cap == 0 ? 8 : s->snaps_cap * 2;
        struct store_snap *a = realloc(s->snaps, cap * sizeof *a);
        if (a == NULL) {
            return hdb_err_set(err, HDB_NOMEM, "out of memory pinning a snapshot");
        }
        s->snaps = a;
        s->snaps_cap = cap;
    }
    uint32_t at = (uint32_t)(-snaps_find(s, id) - 1);
    memmove(s->snaps + at + 1, s->snaps + at, (s->nsnaps - at) * sizeof *s->snaps);
    s->snaps[at] = (struct store_snap){
        .id = id, .tag = tag, .created_ms = created_ms, .lsn_end = lsn_end, .v = v};
    s->nsnaps++;
    v->refs++;
    return HDB_OK;
}

static void snaps_unpin(struct hdb_store *s, uint32_t at)
{
    struct hdb_version *v = s->snaps[at].v;
    memmove(s->snaps + at, s->snaps + at + 1, (s->nsnaps - at - 1) * sizeof *s->snaps);
    s->nsnaps--;
    store_version_unref(s, v);
}

bool snap_holds(const struct hdb_store *s, uint64_t born, uint64_t freed)
{
    for (uint32_t i = 0; i < s->nsnaps; i++) {
        uint64_t g = s->snaps[i].v->gen;
        if (born <= g && g < freed) {
            return true;
        }
    }
    return false;
}

/* --- the API --- */

int hdb_store_snapshot_create(struct hdb_store *s, struct hdb_version *v, uint64_t id, uint64_t tag,
                              uint64_t created_ms, struct hdb_err *err)
{
    if (s->failed) {
        return hdb_err_set(err, HDB_READONLY, "%s: writes refused until reopen after: %s", s->dir,
                           s->fail_err.msg);
    }
    if (id == 0) {
        return hdb_err_set(err, HDB_INVALID, "a snapshot id must not be 0");
    }
    if (snaps_find(s, id) >= 0) {
        return hdb_err_set(err, HDB_EXISTS, "%s: snapshot %llu already exists", s->dir,
                           (unsigned long long)id);
    }
    if (s->nsnaps >= HDB_STORE_SNAPSHOTS_MAX) {
        return hdb_err_set(err, HDB_FULL, "%s: %u snapshots exist (the most a store keeps)", s->dir,
                           HDB_STORE_SNAPSHOTS_MAX);
    }
    v = v != NULL ? v : s->current;
    int rc = snaps_pin(s, v, id, tag, created_ms, v->lsn_end, err);
    if (rc != HDB_OK) {
        return rc;
    }
    uint8_t val[SNAP_REC_CREATE_BYTES];
    hdb_put64(val, id);
    hdb_put64(val + 8, tag);
    hdb_put64(val + 16, created_ms);
    hdb_put64(val + 24, v->lsn_end);
    struct hdb_wal_rec r = {
        .type = HDB_WAL_SNAPSHOT, .tree = SNAP_REC_CREATE, .val = val, .vlen = sizeof val};
    rc = store_log_sync(s, &r, err);
    if (rc == HDB_OK && v->lsn_end < s->ckpt_lsn) {
        /* Replay starts after this version: only the snapshot table can bring it back. */
        rc = hdb_store_checkpoint(s, err);
    }
    if (rc != HDB_OK) {
        snaps_unpin(s, (uint32_t)snaps_find(s, id));
        return hdb_err_prefix(err, "snapshot %llu", (unsigned long long)id);
    }
    return HDB_OK;
}

int hdb_store_snapshot_drop(struct hdb_store *s, uint64_t id, struct hdb_err *err)
{
    int at = snaps_find(s, id);
    if (at < 0) {
        return hdb_err_set(err, HDB_NOTFOUND, "%s: no snapshot %llu", s->dir,
                           (unsigned long long)id);
    }
    uint8_t val[8];
    hdb_put64(val, id);
    struct hdb_wal_rec r = {
        .type = HDB_WAL_SNAPSHOT, .tree = SNAP_REC_DROP, .val = val, .vlen = sizeof val};
    int rc = store_log_sync(s, &r, err);
    if (rc != HDB_OK) {
        return hdb_err_prefix(err, "dropping snapshot %llu", (unsigned long long)id);
    }
    snaps_unpin(s, (uint32_t)snaps_find(s, id));
    return HDB_OK;
}

struct hdb_version *hdb_store_snapshot_version(struct hdb_store *s, uint64_t id)
{
    int at = snaps_find(s, id);
    return at >= 0 ? s->snaps[at].v : NULL;
}

uint32_t hdb_store_snapshot_list(const struct hdb_store *s, struct hdb_store_snapshot *out,
                                 uint32_t max)
{
    for (uint32_t i = 0; i < s->nsnaps && i < max; i++) {
        const struct store_snap *p = &s->snaps[i];
        out[i] = (struct hdb_store_snapshot){
            .id = p->id, .tag = p->tag, .created_ms = p->created_ms, .gen = p->v->gen};
    }
    return s->nsnaps;
}

/* --- the snapshot table --- */

static bool held_page(const struct hdb_store *s, const struct pending_page *p, uint64_t gen)
{
    return p->freed <= gen && snap_holds(s, p->born, p->freed);
}

static size_t table_bytes(const struct hdb_store *s, uint64_t gen, uint64_t *nheld)
{
    size_t n = 8;
    for (uint32_t i = 0; i < s->nsnaps; i++) {
        const struct hdb_version *v = s->snaps[i].v;
        n += SNAP_HEADER_BYTES;
        for (uint32_t id = 1; id < v->ntrees; id++) {
            if (v->roots[id] != HDB_ROOT_NONE) {
                const char *name = s->trees[id].name;
                n += SNAP_ROOT_BYTES + ((name != NULL ? strlen(name) : 0) + 7u) / 8u * 8u;
            }
        }
    }
    *nheld = 0;
    const struct pending_vec *lists[2] = {&s->pending, &s->pending_ckpt};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->n; i++) {
            *nheld += held_page(s, &lists[l]->v[i], gen);
        }
    }
    return n + 8 + (size_t)*nheld * SNAP_HELD_BYTES;
}

int snap_table_encode(struct hdb_store *s, uint64_t gen, uint8_t **out, size_t *len,
                      struct hdb_err *err)
{
    *out = NULL;
    *len = 0;
    if (s->nsnaps == 0) {
        return HDB_OK;
    }
    uint64_t nheld;
    size_t n = table_bytes(s, gen, &nheld);
    uint8_t *b = calloc(1, n);
    if (b == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory for the snapshot table");
    }
    size_t at = 0;
    hdb_put32(b, s->nsnaps);
    at += 8;
    for (uint32_t i = 0; i < s->nsnaps; i++) {
        const struct store_snap *p = &s->snaps[i];
        const struct hdb_version *v = p->v;
        uint8_t *h = b + at;
        hdb_put64(h, p->id);
        hdb_put64(h + 8, p->tag);
        hdb_put64(h + 16, p->created_ms);
        hdb_put64(h + 24, v->gen);
        hdb_put64(h + 32, p->lsn_end);
        at += SNAP_HEADER_BYTES;
        uint32_t nroots = 0;
        for (uint32_t id = 1; id < v->ntrees; id++) {
            if (v->roots[id] == HDB_ROOT_NONE) {
                continue;
            }
            const char *name = s->trees[id].name != NULL ? s->trees[id].name : "";
            size_t nlen = strlen(name);
            hdb_put32(b + at, id);
            hdb_put16(b + at + 4, (uint16_t)nlen);
            hdb_put64(b + at + 8, v->roots[id]);
            memcpy(b + at + SNAP_ROOT_BYTES, name, nlen);
            at += SNAP_ROOT_BYTES + (nlen + 7u) / 8u * 8u;
            nroots++;
        }
        hdb_put32(h + 40, nroots);
    }
    hdb_put64(b + at, nheld);
    at += 8;
    const struct pending_vec *lists[2] = {&s->pending, &s->pending_ckpt};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->n; i++) {
            const struct pending_page *p = &lists[l]->v[i];
            if (held_page(s, p, gen)) {
                hdb_put64(b + at, p->pgno);
                hdb_put64(b + at + 8, p->born);
                hdb_put64(b + at + 16, p->freed);
                at += SNAP_HELD_BYTES;
            }
        }
    }
    *out = b;
    *len = at;
    return HDB_OK;
}

void snap_table_free(struct snap_table *t)
{
    for (uint32_t i = 0; t->snaps != NULL && i < t->nsnaps; i++) {
        free(t->snaps[i].roots);
    }
    free(t->snaps);
    free(t->held);
    memset(t, 0, sizeof *t);
}

static int table_bad(struct hdb_err *err, const char *what)
{
    return hdb_err_set(err, HDB_CORRUPT, "snapshot table: %s", what);
}

int snap_table_parse(const uint8_t *b, size_t len, struct snap_table *t, struct hdb_err *err)
{
    memset(t, 0, sizeof *t);
    if (len < 16) {
        return table_bad(err, "shorter than its header");
    }
    uint32_t nsnaps = hdb_get32(b);
    if (nsnaps > HDB_STORE_SNAPSHOTS_MAX) {
        return table_bad(err, "too many snapshots");
    }
    t->snaps = calloc(nsnaps > 0 ? nsnaps : 1, sizeof *t->snaps);
    if (t->snaps == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory reading the snapshot table");
    }
    size_t at = 8;
    for (uint32_t i = 0; i < nsnaps; i++) {
        if (len - at < SNAP_HEADER_BYTES) {
            return table_bad(err, "a snapshot entry overruns it");
        }
        struct snap_table_snap *p = &t->snaps[i];
        t->nsnaps = i + 1;
        p->id = hdb_get64(b + at);
        p->tag = hdb_get64(b + at + 8);
        p->created_ms = hdb_get64(b + at + 16);
        p->gen = hdb_get64(b + at + 24);
        p->lsn_end = hdb_get64(b + at + 32);
        p->nroots = hdb_get32(b + at + 40);
        at += SNAP_HEADER_BYTES;
        if (p->nroots > HDB_TREES_MAX) {
            return table_bad(err, "a snapshot with too many trees");
        }
        p->roots = calloc(p->nroots > 0 ? p->nroots : 1, sizeof *p->roots);
        if (p->roots == NULL) {
            return hdb_err_set(err, HDB_NOMEM, "out of memory reading the snapshot table");
        }
        for (uint32_t r = 0; r < p->nroots; r++) {
            if (len - at < SNAP_ROOT_BYTES) {
                return table_bad(err, "a tree entry overruns it");
            }
            struct snap_table_root *x = &p->roots[r];
            x->tree = hdb_get32(b + at);
            x->name_len = hdb_get16(b + at + 4);
            x->root = hdb_get64(b + at + 8);
            size_t padded = ((size_t)x->name_len + 7u) / 8u * 8u;
            if (x->name_len > HDB_TREE_NAME_BYTES_MAX || len - at - SNAP_ROOT_BYTES < padded) {
                return table_bad(err, "a tree name overruns it");
            }
            x->name = (const char *)b + at + SNAP_ROOT_BYTES;
            at += SNAP_ROOT_BYTES + padded;
        }
    }
    if (len - at < 8) {
        return table_bad(err, "the held-page count is missing");
    }
    uint64_t nheld = hdb_get64(b + at);
    at += 8;
    if (nheld > (len - at) / SNAP_HELD_BYTES || (len - at) % SNAP_HELD_BYTES != 0 ||
        nheld * SNAP_HELD_BYTES != len - at) {
        return table_bad(err, "the held-page list does not match its length");
    }
    t->held = calloc(nheld > 0 ? nheld : 1, sizeof *t->held);
    if (t->held == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory reading the snapshot table");
    }
    for (uint64_t i = 0; i < nheld; i++, at += SNAP_HELD_BYTES) {
        t->held[i] = (struct pending_page){.pgno = hdb_get64(b + at),
                                           .born = hdb_get64(b + at + 8),
                                           .freed = hdb_get64(b + at + 16)};
    }
    t->nheld = nheld;
    return HDB_OK;
}

static int by_gen(const void *a, const void *b)
{
    const struct snap_table_snap *x = a, *y = b;
    return x->gen < y->gen ? -1 : x->gen > y->gen;
}

/* Restores the table of checkpoint `seq`: versions (oldest first, before the newest) and held
 * pages. */
int snap_load(struct hdb_store *s, const struct snap_table *t, uint64_t seq, struct hdb_err *err)
{
    if (t->nsnaps > 1) {
        qsort(t->snaps, t->nsnaps, sizeof *t->snaps, by_gen);
    }
    for (uint32_t i = 0; i < t->nsnaps; i++) {
        const struct snap_table_snap *p = &t->snaps[i];
        uint32_t ntrees = 1;
        for (uint32_t r = 0; r < p->nroots; r++) {
            const struct snap_table_root *x = &p->roots[r];
            if (x->tree == 0 || x->tree >= s->ntrees || x->name_len == 0 ||
                (x->root != 0 && (x->root < 2 || x->root >= s->page_count))) {
                return hdb_err_set(err, HDB_CORRUPT, "%s: snapshot %llu: bad entry for tree %u",
                                   s->data_path, (unsigned long long)p->id, x->tree);
            }
            ntrees = x->tree + 1 > ntrees ? x->tree + 1 : ntrees;
        }
        if (p->id == 0 || p->gen > s->durable_gen || snaps_find(s, p->id) >= 0) {
            return hdb_err_set(err, HDB_CORRUPT, "%s: snapshot table: bad snapshot %llu",
                               s->data_path, (unsigned long long)p->id);
        }
        struct hdb_version *v = store_version_old(s, p->gen, ntrees);
        if (v == NULL) {
            return hdb_err_set(err, HDB_NOMEM, "out of memory restoring snapshots");
        }
        v->lsn_end = p->lsn_end;
        for (uint32_t r = 0; r < p->nroots; r++) {
            const struct snap_table_root *x = &p->roots[r];
            v->roots[x->tree] = x->root;
            if (s->trees[x->tree].name == NULL) {
                char *name = strndup(x->name, x->name_len);
                if (name == NULL) {
                    return hdb_err_set(err, HDB_NOMEM, "out of memory restoring snapshots");
                }
                s->trees[x->tree].name = name; /* dropped since: exists stays false */
            }
        }
        int rc = snaps_pin(s, v, p->id, p->tag, p->created_ms, p->lsn_end, err);
        v->refs--; /* the pin is the only reference */
        if (rc != HDB_OK) {
            return rc;
        }
    }
    for (uint64_t i = 0; i < t->nheld; i++) {
        struct pending_page p = t->held[i];
        if (p.pgno < 2 || p.pgno >= s->page_count || p.born > p.freed) {
            return hdb_err_set(err, HDB_CORRUPT, "%s: snapshot table: bad held page %llu",
                               s->data_path, (unsigned long long)p.pgno);
        }
        p.last_ckpt = seq;
        if (space_load_held(s, p) != HDB_OK) {
            return hdb_err_set(err, HDB_NOMEM, "out of memory restoring snapshots");
        }
    }
    return HDB_OK;
}

/* --- recovery --- */

static int cut_add(struct hdb_store *s, const struct snap_cut *c, struct hdb_err *err)
{
    if (s->ncuts == s->cuts_cap) {
        uint32_t cap = s->cuts_cap == 0 ? 4 : s->cuts_cap * 2;
        struct snap_cut *a = realloc(s->cuts, cap * sizeof *a);
        if (a == NULL) {
            return hdb_err_set(err, HDB_NOMEM, "out of memory replaying snapshots");
        }
        s->cuts = a;
        s->cuts_cap = cap;
    }
    uint32_t at = s->ncuts;
    while (at > 0 && s->cuts[at - 1].lsn_end > c->lsn_end) {
        s->cuts[at] = s->cuts[at - 1];
        at--;
    }
    s->cuts[at] = *c;
    s->ncuts++;
    return HDB_OK;
}

static int pin_replayed(struct hdb_store *s, const struct snap_cut *c, struct hdb_err *err)
{
    int rc = store_publish(s, err);
    if (rc == HDB_OK) {
        s->current->lsn_end = c->lsn_end;
        rc = snaps_pin(s, s->current, c->id, c->tag, c->created_ms, c->lsn_end, err);
    }
    return rc;
}

int snap_cuts_before(struct hdb_store *s, uint64_t lsn, struct hdb_err *err)
{
    while (s->cuts_done < s->ncuts && s->cuts[s->cuts_done].lsn_end <= lsn) {
        const struct snap_cut *c = &s->cuts[s->cuts_done++];
        if (snaps_find(s, c->id) < 0) {
            int rc = pin_replayed(s, c, err);
            if (rc != HDB_OK) {
                return rc;
            }
        }
    }
    return HDB_OK;
}

int snap_replay(struct hdb_store *s, const struct hdb_wal_rec *r, struct hdb_err *err)
{
    if (r->tree == SNAP_REC_DROP && r->vlen == 8) {
        uint64_t id = hdb_get64(r->val);
        int at = snaps_find(s, id);
        if (at >= 0) {
            snaps_unpin(s, (uint32_t)at);
        }
        for (uint32_t i = s->cuts_done; i < s->ncuts; i++) {
            if (s->cuts[i].id == id) {
                memmove(s->cuts + i, s->cuts + i + 1, (s->ncuts - i - 1) * sizeof *s->cuts);
                s->ncuts--;
                break;
            }
        }
        return HDB_OK;
    }
    if (r->tree != SNAP_REC_CREATE || r->vlen != SNAP_REC_CREATE_BYTES) {
        return hdb_err_set(err, HDB_CORRUPT, "bad snapshot record (kind %u, %u bytes)", r->tree,
                           r->vlen);
    }
    struct snap_cut c = {
        .id = hdb_get64(r->val),
        .tag = hdb_get64(r->val + 8),
        .created_ms = hdb_get64(r->val + 16),
        .lsn_end = hdb_get64(r->val + 24),
    };
    if (snaps_find(s, c.id) >= 0) {
        return HDB_OK; /* from the snapshot table, or pinned at its cut */
    }
    if (c.lsn_end >= s->change_next) {
        return pin_replayed(s, &c, err); /* nothing changed since: this state is the snapshot */
    }
    if (c.lsn_end < s->ckpt_lsn) {
        hdb_log(HDB_LOG_ERROR,
                "%s: snapshot %llu cannot be restored: its version ends at LSN %llu, before "
                "the checkpoint replay started from",
                s->dir, (unsigned long long)c.id, (unsigned long long)c.lsn_end);
        return HDB_OK;
    }
    s->redo = true;
    return cut_add(s, &c, err);
}

void snap_free_all(struct hdb_store *s)
{
    free(s->snaps);
    free(s->cuts);
    s->snaps = NULL;
    s->cuts = NULL;
    s->nsnaps = s->ncuts = 0;
}
