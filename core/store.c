/*
 * store.c — opening and recovering a store, named trees, commits and group
 * commit, versions and reads (see store.h; the durable image is in
 * store_meta.c, page reuse in store_space.c, verification in
 * store_verify.c).
 */
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/bytes.h"
#include "core/log.h"
#include "core/page.h"
#include "core/store_int.h"

void hdb_store_opts_default(struct hdb_store_opts *o)
{
    memset(o, 0, sizeof *o);
    o->page_size = HDB_PAGE_SIZE_DEFAULT;
    o->cache_bytes = 256ull << 20;
    hdb_io_opts_default(&o->io);
    o->checksums_enabled = true;
    o->verify_on_read = true;
    o->prefetch_pages = 16;
    o->wal_mode = HDB_WAL_SYNC;
    o->wal_segment_bytes = 64ull << 20;
    o->wal_max_segments = 4;
    o->group_commit_delay_us = 0;
    o->group_commits_max = 1024;
    o->async_flush_interval_us = 10000;
    o->checkpoint_wal_bytes = 0; /* 0: a quarter of wal_segment_bytes * wal_max_segments */
    o->auto_replay_wal = true;
    o->lock = true;
}

uint64_t store_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int store_fail(struct hdb_store *s, const struct hdb_err *cause)
{
    if (!s->failed) {
        s->failed = true;
        s->fail_err = *cause;
        hdb_log(HDB_LOG_ERROR, "%s: writes refused until reopen: %s", s->dir, cause->msg);
    }
    return cause->code;
}

static int refuse_failed(const struct hdb_store *s, struct hdb_err *err)
{
    return hdb_err_set(err, HDB_READONLY, "%s: writes refused until reopen after: %s", s->dir,
                       s->fail_err.msg);
}

static int check_opts(const struct hdb_store_opts *o, struct hdb_err *err)
{
    if (!hdb_page_size_valid(o->page_size)) {
        return hdb_err_set(err, HDB_INVALID,
                           "page_size %u: must be a power of two from 4096 to 65536", o->page_size);
    }
    if (o->wal_max_segments < 2 || o->wal_max_segments > HDB_WAL_SEGMENTS_MAX) {
        return hdb_err_set(err, HDB_INVALID, "max_segments %u: must be 2 to %u",
                           o->wal_max_segments, HDB_WAL_SEGMENTS_MAX);
    }
    if (o->wal_segment_bytes < (1u << 20) || o->wal_segment_bytes % HDB_IO_ALIGN != 0) {
        return hdb_err_set(err, HDB_INVALID, "segment size %llu: must be at least 1 MiB",
                           (unsigned long long)o->wal_segment_bytes);
    }
    if (o->group_commits_max == 0 || o->group_commits_max > HDB_GROUP_COMMITS_MAX) {
        return hdb_err_set(err, HDB_INVALID, "group_commits_max %u: must be 1 to %u",
                           o->group_commits_max, HDB_GROUP_COMMITS_MAX);
    }
    return HDB_OK;
}

/* --- versions --- */

static struct hdb_version *version_new(struct hdb_store *s, uint64_t gen)
{
    struct hdb_version *v = calloc(1, sizeof *v);
    uint64_t *roots = malloc((size_t)s->ntrees * sizeof *roots);
    if (v == NULL || roots == NULL) {
        free(v);
        free(roots);
        return NULL;
    }
    for (uint32_t id = 0; id < s->ntrees; id++) {
        roots[id] = s->trees[id].exists ? s->trees[id].root : HDB_ROOT_NONE;
    }
    v->gen = gen;
    v->commit_ts = s->last_commit_ts;
    v->lsn_end = s->wal != NULL ? hdb_wal_next_lsn(s->wal) : s->replay_next;
    v->refs = 1;
    v->ntrees = s->ntrees;
    v->roots = roots;
    v->prev = s->vtail;
    if (s->vtail != NULL) {
        s->vtail->next = v;
    } else {
        s->vhead = v;
    }
    s->vtail = v;
    s->versions_live++;
    return v;
}

/* Drops a reference; `reader` says it was a reader's (its pages may unblock old frees). */
static void version_unref(struct hdb_store *s, struct hdb_version *v, bool reader)
{
    if (v->refs == 0) {
        hdb_log(HDB_LOG_ERROR, "version %llu released too often", (unsigned long long)v->gen);
        return;
    }
    if (--v->refs > 0) {
        return;
    }
    if (v->prev != NULL) {
        v->prev->next = v->next;
    } else {
        s->vhead = v->next;
    }
    if (v->next != NULL) {
        v->next->prev = v->prev;
    } else {
        s->vtail = v->prev;
    }
    s->versions_live--;
    s->reclaim_needed = true;
    if (reader) {
        space_version_gone(s);
    }
    free(v->roots);
    free(v);
}

/* A version of an older generation restored from the snapshot table (roots all absent). */
struct hdb_version *store_version_old(struct hdb_store *s, uint64_t gen, uint32_t ntrees)
{
    uint32_t keep = s->ntrees;
    s->ntrees = 0;
    struct hdb_version *v = version_new(s, gen);
    s->ntrees = keep;
    if (v == NULL) {
        return NULL;
    }
    uint64_t *roots = malloc((ntrees > 0 ? ntrees : 1) * sizeof *roots);
    if (roots == NULL) {
        version_unref(s, v, false);
        return NULL;
    }
    for (uint32_t id = 0; id < ntrees; id++) {
        roots[id] = HDB_ROOT_NONE;
    }
    free(v->roots);
    v->roots = roots;
    v->ntrees = ntrees;
    return v;
}

void store_version_unref(struct hdb_store *s, struct hdb_version *v)
{
    version_unref(s, v, true);
}

/* Makes the working version the newest published one. */
int store_publish(struct hdb_store *s, struct hdb_err *err)
{
    struct hdb_version *v = version_new(s, s->gen_work);
    if (v == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory publishing a version");
    }
    struct hdb_version *old = s->current;
    s->current = v;
    if (old != NULL) {
        version_unref(s, old, false);
    }
    space_publish(s);
    s->gen_work++;
    s->pager.gen = s->gen_work;
    s->stat_publishes++;
    return HDB_OK;
}

/* Throws the working version away: back to the newest published one. */
static void revert(struct hdb_store *s)
{
    space_revert(s);
    const struct hdb_version *v = s->current;
    for (uint32_t id = 1; id < s->ntrees; id++) {
        struct tree_slot *t = &s->trees[id];
        bool existed = id < v->ntrees && v->roots[id] != HDB_ROOT_NONE;
        t->exists = existed;
        t->root = existed ? v->roots[id] : 0;
        if (!existed && t->name != NULL && id >= v->ntrees) {
            free(t->name); /* created by the reverted commits */
            t->name = NULL;
        }
    }
}

struct hdb_version *hdb_store_version_take(struct hdb_store *s)
{
    s->current->refs++;
    return s->current;
}

void hdb_store_version_release(struct hdb_store *s, struct hdb_version *v)
{
    version_unref(s, v, true);
}

uint64_t hdb_version_gen(const struct hdb_version *v)
{
    return v->gen;
}

uint64_t hdb_store_published_gen(const struct hdb_store *s)
{
    return s->current->gen;
}

uint64_t hdb_version_commit_ts(const struct hdb_version *v)
{
    return v->commit_ts;
}

uint32_t hdb_version_trees(const struct hdb_version *v)
{
    return v->ntrees;
}

bool hdb_version_has_tree(const struct hdb_version *v, uint32_t id)
{
    return id > 0 && id < v->ntrees && v->roots[id] != HDB_ROOT_NONE;
}

const char *hdb_store_tree_name(const struct hdb_store *s, uint32_t id)
{
    return id > 0 && id < s->ntrees ? s->trees[id].name : NULL;
}

/* --- trees --- */

static int trees_grow(struct hdb_store *s, uint32_t ntrees, struct hdb_err *err)
{
    if (ntrees <= s->ntrees) {
        return HDB_OK;
    }
    if (ntrees > HDB_TREES_MAX) {
        return hdb_err_set(err, HDB_FULL, "too many trees (at most %u)", HDB_TREES_MAX);
    }
    struct tree_slot *t = realloc(s->trees, (size_t)ntrees * sizeof *t);
    if (t == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory for %u trees", ntrees);
    }
    memset(t + s->ntrees, 0, (size_t)(ntrees - s->ntrees) * sizeof *t);
    s->trees = t;
    s->ntrees = ntrees;
    return HDB_OK;
}

static uint32_t tree_lookup(const struct hdb_store *s, const char *name, size_t len)
{
    for (uint32_t id = 1; id < s->ntrees; id++) {
        const struct tree_slot *t = &s->trees[id];
        if (t->exists && strlen(t->name) == len && memcmp(t->name, name, len) == 0) {
            return id;
        }
    }
    return 0;
}

static int apply_tree_create(struct hdb_store *s, uint32_t id, const uint8_t *name, uint32_t len,
                             struct hdb_err *err)
{
    if (id < s->ntrees && s->trees[id].exists) {
        return HDB_OK; /* replay of a create the checkpoint already has */
    }
    int rc = trees_grow(s, id + 1, err);
    if (rc != HDB_OK) {
        return rc;
    }
    struct tree_slot *t = &s->trees[id];
    char *copy = malloc((size_t)len + 1);
    if (copy == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory creating a tree");
    }
    memcpy(copy, name, len);
    copy[len] = '\0';
    free(t->name);
    *t = (struct tree_slot){.name = copy, .exists = true, .root = 0};
    return HDB_OK;
}

static int apply_tree_drop(struct hdb_store *s, uint32_t id, struct hdb_err *err)
{
    if (id >= s->ntrees || !s->trees[id].exists) {
        return HDB_OK; /* replay of a drop the checkpoint already has */
    }
    int rc = hdb_bt_drop(&s->pager, s->trees[id].root, err);
    if (rc == HDB_OK) {
        s->trees[id].exists = false;
        s->trees[id].root = 0;
    }
    return rc;
}

/* Applies one logged change to the working version (commits and replay). */
static int apply_rec(struct hdb_store *s, const struct hdb_wal_rec *r, bool replaying,
                     struct hdb_err *err)
{
    switch (r->type) {
    case HDB_WAL_TREE_CREATE:
        return apply_tree_create(s, r->tree, r->key, r->klen, err);
    case HDB_WAL_TREE_DROP:
        return apply_tree_drop(s, r->tree, err);
    case HDB_WAL_PUT:
    case HDB_WAL_DELETE:
        break;
    default:
        return replaying ? HDB_OK : hdb_err_set(err, HDB_INVALID, "bad write type %u", r->type);
    }
    if (r->tree >= s->ntrees || !s->trees[r->tree].exists) {
        if (replaying && r->tree < s->ntrees) {
            return HDB_OK; /* the tree was dropped later; the checkpoint already has that */
        }
        return hdb_err_set(err, replaying ? HDB_CORRUPT : HDB_NOTFOUND, "no tree with id %u",
                           r->tree);
    }
    uint64_t *root = &s->trees[r->tree].root;
    if (r->type == HDB_WAL_PUT) {
        return hdb_bt_put(&s->pager, root, r->key, r->klen, r->val, r->vlen, err);
    }
    bool found;
    return hdb_bt_delete(&s->pager, root, r->key, r->klen, &found, err);
}

/* --- commits --- */

static int check_write(const struct hdb_store *s, const struct hdb_write *w, struct hdb_err *err)
{
    if (w->type != HDB_WAL_PUT && w->type != HDB_WAL_DELETE) {
        return hdb_err_set(err, HDB_INVALID, "write type %u: must be put or delete", w->type);
    }
    if (w->tree == 0 || w->tree >= s->ntrees || !s->trees[w->tree].exists) {
        return hdb_err_set(err, HDB_NOTFOUND, "no tree with id %u", w->tree);
    }
    if (w->klen == 0 || w->key == NULL) {
        return hdb_err_set(err, HDB_INVALID, "empty key");
    }
    if (w->klen > HDB_KEY_BYTES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "key of %u bytes: at most %u", w->klen,
                           HDB_KEY_BYTES_MAX);
    }
    if (w->type == HDB_WAL_PUT && w->vlen > HDB_VALUE_BYTES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "value of %u bytes: at most %u", w->vlen,
                           HDB_VALUE_BYTES_MAX);
    }
    if (w->type == HDB_WAL_PUT && w->vlen > 0 && w->val == NULL) {
        return hdb_err_set(err, HDB_INVALID, "value pointer is NULL");
    }
    return HDB_OK;
}

static int recs_reserve(struct hdb_store *s, uint32_t n, struct hdb_err *err)
{
    if (n <= s->recs_cap) {
        return HDB_OK;
    }
    struct hdb_wal_rec *r = realloc(s->recs, (size_t)n * sizeof *r);
    if (r == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory for a commit of %u writes", n);
    }
    s->recs = r;
    s->recs_cap = n;
    return HDB_OK;
}

static void fail_reqs(struct hdb_store *s, int status, const char *msg)
{
    for (uint32_t i = 0; i < s->nreqs; i++) {
        if (s->reqs[i].done != NULL) {
            s->reqs[i].done(s->reqs[i].ctx, status, msg);
        }
    }
    s->stat_commit_failures += s->nreqs;
    s->nreqs = 0;
}

static void ack_reqs(struct hdb_store *s)
{
    for (uint32_t i = 0; i < s->nreqs; i++) {
        if (s->reqs[i].done != NULL) {
            s->reqs[i].done(s->reqs[i].ctx, HDB_OK, NULL);
        }
    }
    s->nreqs = 0;
}

/* Drops the whole pending WAL group (nothing of it was written). */
static void rewind_group(struct hdb_store *s)
{
    struct hdb_wal_mark m;
    hdb_wal_mark(s->wal, &m);
    m.next_lsn -= m.records;
    m.bytes = 0;
    m.records = 0;
    hdb_wal_rewind(s->wal, &m);
}

/* Writes the pending WAL group, making room with checkpoints if the log is full. */
static int wal_flush_room(struct hdb_store *s, struct hdb_err *err)
{
    int rc = hdb_wal_flush(s->wal, true, err);
    for (int i = 0; i < 2 && rc == HDB_FULL && !s->in_checkpoint; i++) {
        s->in_checkpoint = true;
        rc = meta_checkpoint(s, err);
        s->in_checkpoint = false;
        if (rc == HDB_OK) {
            rc = hdb_wal_flush(s->wal, true, err);
        }
    }
    return rc;
}

/*
 * Group commit: the pending group is written and fdatasynced; in sync mode
 * the working version is then published and its commits acknowledged.
 */
static int flush_group(struct hdb_store *s, struct hdb_err *err)
{
    if (s->failed) {
        return refuse_failed(s, err);
    }
    if (hdb_wal_pending_records(s->wal) == 0 && s->nreqs == 0) {
        return HDB_OK;
    }
    int rc = wal_flush_room(s, err);
    if (rc == HDB_OK && s->opts.wal_mode == HDB_WAL_SYNC) {
        rc = store_publish(s, err);
    }
    if (rc != HDB_OK) {
        if (rc != HDB_FULL) {
            store_fail(s, err);
        }
        if (s->opts.wal_mode == HDB_WAL_SYNC) {
            rewind_group(s);
            revert(s);
        }
        fail_reqs(s, rc, err != NULL ? err->msg : "group commit failed");
        return rc;
    }
    s->first_pending_ns = 0;
    s->stat_groups++;
    s->mark_durable = s->mark_logged;
    ack_reqs(s);
    return HDB_OK;
}

int hdb_store_flush(struct hdb_store *s, struct hdb_err *err)
{
    return flush_group(s, err);
}

/* Undoes a commit that could not be applied (see store.h for who else fails). */
static void undo_commit(struct hdb_store *s, const struct hdb_wal_mark *mark, int rc,
                        const char *msg)
{
    if (s->opts.wal_mode == HDB_WAL_ASYNC) {
        hdb_wal_rewind(s->wal, mark);
        revert(s);
        return;
    }
    /* Sync mode: earlier commits of the group changed the same private pages. */
    rewind_group(s);
    revert(s);
    fail_reqs(s, rc, msg);
}

static int append_commit(struct hdb_store *s, uint32_t n, struct hdb_wal_mark *mark,
                         struct hdb_err *err)
{
    hdb_wal_mark(s->wal, mark);
    int rc = hdb_wal_append(s->wal, s->recs, n, err);
    if (rc == HDB_FULL) {
        rc = flush_group(s, err);
        if (rc == HDB_OK) {
            hdb_wal_mark(s->wal, mark);
            rc = hdb_wal_append(s->wal, s->recs, n, err);
        }
    }
    return rc;
}

static void fill_recs(struct hdb_store *s, const struct hdb_write *w, uint32_t n, uint64_t txn,
                      uint64_t ts)
{
    for (uint32_t i = 0; i < n; i++) {
        s->recs[i] = (struct hdb_wal_rec){
            .txn = txn,
            .commit_ts = ts,
            .type = w[i].type,
            .tree = w[i].tree,
            .key = w[i].key,
            .klen = w[i].klen,
            .val = w[i].type == HDB_WAL_PUT ? w[i].val : NULL,
            .vlen = w[i].type == HDB_WAL_PUT ? w[i].vlen : 0,
        };
    }
}

static int apply_recs(struct hdb_store *s, uint32_t n, struct hdb_err *err)
{
    for (uint32_t i = 0; i < n; i++) {
        int rc = apply_rec(s, &s->recs[i], false, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

/* Logs and applies records already in s->recs; queues `done`. */
static int commit_recs(struct hdb_store *s, uint32_t n, hdb_commit_done_fn done, void *ctx,
                       struct hdb_err *err)
{
    if (s->opts.wal_mode == HDB_WAL_SYNC && s->nreqs >= s->opts.group_commits_max) {
        int rc = flush_group(s, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    struct hdb_wal_mark mark;
    int rc = append_commit(s, n, &mark, err);
    if (rc != HDB_OK) {
        return rc;
    }
    rc = apply_recs(s, n, err);
    if (rc != HDB_OK) {
        undo_commit(s, &mark, rc, err != NULL ? err->msg : "commit failed");
        s->stat_commit_failures++;
        return rc;
    }
    if (s->first_pending_ns == 0) {
        s->first_pending_ns = store_now_ns();
    }
    s->stat_commits++;
    if (s->opts.wal_mode == HDB_WAL_ASYNC) {
        rc = store_publish(s, err);
        if (rc != HDB_OK) {
            undo_commit(s, &mark, rc, err->msg);
            return rc;
        }
        if (done != NULL) {
            done(ctx, HDB_OK, NULL);
        }
        return HDB_OK;
    }
    s->reqs[s->nreqs++] = (struct commit_req){.done = done, .ctx = ctx};
    return HDB_OK;
}

int hdb_store_commit(struct hdb_store *s, const struct hdb_write *writes, uint32_t n, uint64_t txn,
                     uint64_t commit_ts, hdb_commit_done_fn done, void *ctx, struct hdb_err *err)
{
    if (s->failed) {
        return refuse_failed(s, err);
    }
    if (n == 0 || n > HDB_COMMIT_WRITES_MAX) {
        return hdb_err_set(err, HDB_INVALID, "a commit has 1 to %u writes, not %u",
                           HDB_COMMIT_WRITES_MAX, n);
    }
    for (uint32_t i = 0; i < n; i++) {
        int rc = check_write(s, &writes[i], err);
        if (rc != HDB_OK) {
            return hdb_err_prefix(err, "write %u", i);
        }
    }
    int rc = recs_reserve(s, n, err);
    if (rc != HDB_OK) {
        return rc;
    }
    txn = txn != 0 ? txn : s->last_txn + 1;
    commit_ts = commit_ts != 0 ? commit_ts : s->last_commit_ts + 1;
    fill_recs(s, writes, n, txn, commit_ts);
    rc = commit_recs(s, n, done, ctx, err);
    if (rc == HDB_OK) {
        s->last_txn = txn > s->last_txn ? txn : s->last_txn;
        s->last_commit_ts = commit_ts > s->last_commit_ts ? commit_ts : s->last_commit_ts;
        if (s->opts.wal_mode == HDB_WAL_ASYNC) {
            s->current->commit_ts = s->last_commit_ts;
        }
    }
    return rc;
}

struct sync_wait {
    int status;
    char msg[HDB_ERR_MSG_BYTES_MAX];
};

static void sync_done(void *ctx, int status, const char *msg)
{
    struct sync_wait *w = ctx;
    w->status = status;
    if (msg != NULL) {
        snprintf(w->msg, sizeof w->msg, "%s", msg);
    }
}

int hdb_store_compact(struct hdb_store *s, uint32_t budget, uint32_t *moved, bool *more,
                      struct hdb_err *err)
{
    *moved = 0;
    *more = false;
    if (s->failed) {
        return refuse_failed(s, err);
    }
    if (s->nreqs > 0 || s->in_checkpoint) {
        return hdb_err_set(err, HDB_INVALID, "%s: compaction needs no commit pending",
                           s->data_path);
    }
    uint64_t below = 0;
    uint64_t target = space_compact_target(s, &below);
    /* Each copy may also copy pages above it: leave room for them among the free pages. */
    uint32_t cap = below / 2 < budget ? (uint32_t)(below / 2) : budget;
    int rc = HDB_OK;
    for (uint32_t id = 1; rc == HDB_OK && id < s->ntrees && cap > 0; id++) {
        struct tree_slot *t = &s->trees[id];
        bool left = false;
        if (t->exists && t->root != 0) {
            rc = hdb_bt_relocate(&s->pager, &t->root, target, cap, moved, &left, err);
        }
        *more = *more || left;
    }
    if (rc != HDB_OK) {
        revert(s);
        return rc;
    }
    return *moved > 0 ? store_publish(s, err) : HDB_OK;
}

int hdb_store_commit_fits(const struct hdb_store *s, const struct hdb_write *writes, uint32_t n,
                          uint64_t extra_bytes, struct hdb_err *err)
{
    uint64_t bytes = extra_bytes, max = s->wal != NULL ? hdb_wal_append_bytes_max(s->wal) : 0;
    for (uint32_t i = 0; i < n; i++) {
        bytes +=
            hdb_wal_rec_bytes(writes[i].klen, writes[i].type == HDB_WAL_PUT ? writes[i].vlen : 0);
    }
    if (s->wal != NULL && bytes > max) {
        return hdb_err_set(err, HDB_TOOBIG,
                           "a commit of %" PRIu64 " log bytes on one shard does not fit in a WAL "
                           "group of at most %" PRIu64 " bytes (raise [wal] segment_size_mb)",
                           bytes, max);
    }
    return HDB_OK;
}

int hdb_store_commit_sync(struct hdb_store *s, const struct hdb_write *writes, uint32_t n,
                          struct hdb_err *err)
{
    struct sync_wait w = {.status = -1};
    int rc = hdb_store_commit(s, writes, n, 0, 0, sync_done, &w, err);
    if (rc != HDB_OK) {
        return rc;
    }
    if (w.status == -1) {
        rc = flush_group(s, err);
    }
    if (w.status != HDB_OK && w.status != -1) {
        return hdb_err_set(err, w.status, "%s", w.msg);
    }
    return rc;
}

uint64_t hdb_store_flushed_groups(const struct hdb_store *s)
{
    return s->stat_groups;
}

uint32_t hdb_store_pending_commits(const struct hdb_store *s)
{
    return s->nreqs;
}

/* Logs one record that changes no tree (a snapshot's) and makes it durable with the pending group.
 */
int store_log_sync(struct hdb_store *s, const struct hdb_wal_rec *rec, struct hdb_err *err)
{
    if (s->failed) {
        return refuse_failed(s, err);
    }
    int rc = recs_reserve(s, 1, err);
    if (rc != HDB_OK) {
        return rc;
    }
    s->recs[0] = *rec;
    struct hdb_wal_mark mark;
    rc = append_commit(s, 1, &mark, err);
    if (rc == HDB_OK && s->first_pending_ns == 0) {
        s->first_pending_ns = store_now_ns();
    }
    return rc == HDB_OK ? flush_group(s, err) : rc;
}

/* Logs and applies one tree record as its own durable commit. */
static int commit_tree_rec(struct hdb_store *s, uint8_t type, uint32_t id, const char *name,
                           struct hdb_err *err)
{
    int rc = flush_group(s, err);
    if (rc == HDB_OK) {
        rc = recs_reserve(s, 1, err);
    }
    if (rc != HDB_OK) {
        return rc;
    }
    s->recs[0] = (struct hdb_wal_rec){
        .txn = ++s->last_txn,
        .commit_ts = s->last_commit_ts,
        .type = type,
        .tree = id,
        .key = (const uint8_t *)name,
        .klen = name != NULL ? (uint32_t)strlen(name) : 0,
    };
    struct sync_wait w = {.status = -1};
    rc = commit_recs(s, 1, sync_done, &w, err);
    if (rc == HDB_OK) {
        rc = flush_group(s, err);
    }
    if (rc == HDB_OK && w.status != HDB_OK) {
        rc = hdb_err_set(err, w.status, "%s", w.msg);
    }
    return rc;
}

int hdb_store_tree_create(struct hdb_store *s, const char *name, uint32_t *id, struct hdb_err *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > HDB_TREE_NAME_BYTES_MAX) {
        return hdb_err_set(err, HDB_INVALID, "tree name of %zu bytes: must be 1 to %u", len,
                           HDB_TREE_NAME_BYTES_MAX);
    }
    if (s->failed) {
        return refuse_failed(s, err);
    }
    if (tree_lookup(s, name, len) != 0) {
        return hdb_err_set(err, HDB_EXISTS, "tree \"%s\" already exists", name);
    }
    uint32_t new_id = s->ntrees;
    int rc = commit_tree_rec(s, HDB_WAL_TREE_CREATE, new_id, name, err);
    if (rc == HDB_OK && id != NULL) {
        *id = new_id;
    }
    return rc;
}

int hdb_store_tree_find(struct hdb_store *s, const char *name, uint32_t *id, struct hdb_err *err)
{
    uint32_t found = tree_lookup(s, name, strlen(name));
    if (found == 0) {
        return hdb_err_set(err, HDB_NOTFOUND, "no tree named \"%s\"", name);
    }
    *id = found;
    return HDB_OK;
}

int hdb_store_tree_drop(struct hdb_store *s, const char *name, struct hdb_err *err)
{
    uint32_t id = 0;
    int rc = hdb_store_tree_find(s, name, &id, err);
    if (rc != HDB_OK) {
        return rc;
    }
    if (s->failed) {
        return refuse_failed(s, err);
    }
    return commit_tree_rec(s, HDB_WAL_TREE_DROP, id, name, err);
}

/* --- timed work, checkpoints --- */

/* WAL bytes written since the last checkpoint that trigger the next one. */
static uint64_t checkpoint_threshold(const struct hdb_store *s)
{
    if (s->opts.checkpoint_wal_bytes != 0) {
        return s->opts.checkpoint_wal_bytes;
    }
    return s->opts.wal_segment_bytes * s->opts.wal_max_segments / 4;
}

static uint64_t wal_bytes_written(const struct hdb_store *s)
{
    struct hdb_wal_stats ws;
    hdb_wal_get_stats(s->wal, &ws);
    return ws.bytes;
}

int hdb_store_poll(struct hdb_store *s, uint64_t now_ns, uint64_t *next_ns, struct hdb_err *err)
{
    uint64_t next = UINT64_MAX;
    if (s->failed) {
        if (next_ns != NULL) {
            *next_ns = next;
        }
        return refuse_failed(s, err);
    }
    int rc = HDB_OK;
    if (s->first_pending_ns != 0) {
        uint64_t wait_us = s->opts.wal_mode == HDB_WAL_SYNC ? s->opts.group_commit_delay_us
                                                            : s->opts.async_flush_interval_us;
        uint64_t due = s->first_pending_ns + wait_us * 1000;
        if (now_ns >= due) {
            rc = flush_group(s, err);
        } else {
            next = due;
        }
    }
    if (rc == HDB_OK && !s->opts.checkpoint_by_owner &&
        wal_bytes_written(s) - s->wal_bytes_at_ckpt >= checkpoint_threshold(s)) {
        rc = hdb_store_checkpoint(s, err);
    }
    if (next_ns != NULL) {
        *next_ns = next;
    }
    return rc;
}

int hdb_store_checkpoint(struct hdb_store *s, struct hdb_err *err)
{
    if (s->failed) {
        return refuse_failed(s, err);
    }
    int rc = flush_group(s, err);
    if (rc != HDB_OK && rc != HDB_FULL) {
        return rc;
    }
    s->in_checkpoint = true;
    rc = meta_checkpoint(s, err);
    s->in_checkpoint = false;
    if (rc == HDB_OK) {
        s->wal_bytes_at_ckpt = wal_bytes_written(s);
    }
    return rc;
}

/* --- open and recovery --- */

/* Marks and the cut: true if replay leaves this record out. */
static bool replay_cut(struct hdb_store *s, const struct hdb_wal_rec *r)
{
    if (r->type == HDB_WAL_MARK) {
        uint64_t mark = r->vlen == 8 ? hdb_get64(r->val) : 0;
        s->mark_logged = mark > s->mark_logged ? mark : s->mark_logged;
        s->mark_durable = s->mark_logged;
        return true;
    }
    if (s->opts.replay_cut && r->commit_ts > s->opts.replay_ts_max) {
        s->cut_records++;
        return true;
    }
    return false;
}

static int replay_group(void *ctx, const struct hdb_wal_rec *recs, uint32_t n, struct hdb_err *err)
{
    struct hdb_store *s = ctx;
    if (!s->opts.auto_replay_wal) {
        return hdb_err_set(err, HDB_INVALID,
                           "%s: the WAL holds commits after the last checkpoint and "
                           "[crash_recovery] auto_replay_wal is false",
                           s->dir);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (recs[i].commit_ts > s->max_ts_seen) {
            s->max_ts_seen = recs[i].commit_ts;
        }
        if (replay_cut(s, &recs[i])) {
            s->replay_next = recs[i].lsn + 1;
            continue;
        }
        int rc = snap_cuts_before(s, recs[i].lsn, err);
        if (rc == HDB_OK) {
            rc = recs[i].type == HDB_WAL_SNAPSHOT ? snap_replay(s, &recs[i], err)
                                                  : apply_rec(s, &recs[i], true, err);
        }
        if (rc != HDB_OK) {
            return hdb_err_prefix(err, "replaying WAL record %llu",
                                  (unsigned long long)recs[i].lsn);
        }
        s->replay_next = recs[i].lsn + 1;
        if (recs[i].type != HDB_WAL_SNAPSHOT) {
            s->change_next = recs[i].lsn + 1;
        }
        if (recs[i].commit_ts > s->last_commit_ts) {
            s->last_commit_ts = recs[i].commit_ts;
        }
        if (recs[i].txn > s->last_txn) {
            s->last_txn = recs[i].txn;
        }
    }
    return HDB_OK;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p != NULL) {
        snprintf(p, n, "%s/%s", dir, name);
    }
    return p;
}

static int open_files(struct hdb_store *s, const char *dir, struct hdb_err *err)
{
    int rc = hdb_io_create(&s->opts.io, s->opts.sim, s->opts.fault, s->opts.fault_ctx, &s->io, err);
    if (rc == HDB_OK) {
        rc = hdb_io_mkdir(s->io, dir, err);
    }
    if (rc == HDB_OK && s->opts.lock) {
        rc = hdb_io_lock_dir(s->io, dir, &s->lock, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_file_open(s->io, s->data_path, HDB_FILE_CREATE | HDB_FILE_DIRECT, &s->data, err);
    }
    return rc;
}

static int open_cache(struct hdb_store *s, struct hdb_err *err)
{
    struct hdb_cache_opts co = {
        .capacity_bytes = s->opts.cache_bytes,
        .page_size = s->page_size,
        .prefetch_pages = s->opts.prefetch_pages,
        .verify_on_read = s->opts.checksums_enabled && s->opts.verify_on_read,
    };
    int rc = hdb_cache_create(&co, s->data, &s->cache, err);
    s->pager = (struct hdb_pager){
        .cache = s->cache,
        .page_size = s->page_size,
        .alloc = space_alloc_work,
        .release = space_release_work,
        .ctx = s,
    };
    return rc;
}

static int create_new(struct hdb_store *s, struct hdb_err *err)
{
    if (getrandom(&s->store_id, sizeof s->store_id, 0) != (ssize_t)sizeof s->store_id) {
        s->store_id = store_now_ns();
    }
    int rc = hdb_file_truncate(s->data, 0, err);
    if (rc == HDB_OK) {
        rc = meta_write_superblock_initial(s, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_sync_dir(s->io, s->dir, err);
    }
    return rc;
}

static void adopt_superblock(struct hdb_store *s, const struct sb_fields *f)
{
    if (f->page_size != s->opts.page_size) {
        hdb_log(HDB_LOG_INFO, "%s: page_size is %u (fixed when the store was created), not %u",
                s->dir, f->page_size, s->opts.page_size);
    }
    s->page_size = f->page_size;
    s->store_id = f->store_id;
    s->durable_seq = f->seq;
    s->durable_gen = f->gen;
    s->ckpt_lsn = f->wal.lsn;
    s->prev_ckpt_lsn = f->prev_lsn;
    s->page_count = f->page_count;
    s->last_commit_ts = f->commit_ts;
    s->max_ts_seen = f->commit_ts;
    s->ckpt_commit_ts = f->commit_ts;
    s->mark_logged = s->mark_durable = f->mark;
    s->last_txn = f->txn;
    s->ntrees = f->tree_ids < 1 ? 1 : f->tree_ids;
    s->gen_work = f->gen + 1;
}

/* Reads the durable image: superblock, then catalog and free list. */
static int load_image(struct hdb_store *s, struct sb_fields *f, struct hdb_recovery_info *info,
                      struct hdb_err *err)
{
    bool fresh;
    s->page_size = s->opts.page_size;
    int rc = meta_read_superblock(s, f, &fresh, info, err);
    if (rc == HDB_OK && fresh) {
        info->created = true;
        rc = create_new(s, err);
        if (rc == HDB_OK) {
            rc = meta_read_superblock(s, f, &fresh, info, err);
        }
        if (rc == HDB_OK && fresh) {
            rc = hdb_err_set(err, HDB_IOERR, "%s: the new superblock did not read back",
                             s->data_path);
        }
    }
    if (rc != HDB_OK) {
        return rc;
    }
    adopt_superblock(s, f);
    info->checkpoint_seq = f->seq;
    uint64_t size;
    rc = hdb_file_size(s->data, &size, err);
    if (rc == HDB_OK && size > s->page_count * s->page_size) {
        rc = hdb_file_truncate(s->data, s->page_count * s->page_size, err);
    }
    if (rc == HDB_OK) {
        rc = open_cache(s, err);
    }
    if (rc == HDB_OK) {
        rc = meta_load_chains(s, f, err);
    }
    return rc;
}

static int open_wal(struct hdb_store *s, const struct sb_fields *f, struct hdb_recovery_info *info,
                    struct hdb_err *err)
{
    struct hdb_wal_opts wo = {
        .segment_bytes = s->opts.wal_segment_bytes,
        .max_segments = s->opts.wal_max_segments,
        .group_bytes_max = HDB_WAL_GROUP_BYTES_DEFAULT,
        .direct_io = s->opts.io.use_direct_io,
    };
    int rc = hdb_wal_open(s->io, s->dir, &wo, &f->wal, replay_group, s, &s->wal, &info->wal, err);
    if (rc == HDB_OK && info->wal.records > 0) {
        rc = store_publish(s, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_wal_recycle(s->wal, s->prev_ckpt_lsn, err);
    }
    return rc;
}

static int store_open(struct hdb_store *s, const char *dir, struct hdb_recovery_info *info,
                      struct hdb_err *err)
{
    int rc = check_opts(&s->opts, err);
    if (rc == HDB_OK) {
        rc = open_files(s, dir, err);
    }
    struct sb_fields f = {0};
    if (rc == HDB_OK) {
        rc = load_image(s, &f, info, err);
    }
    if (rc == HDB_OK) {
        s->pager.gen = s->gen_work;
        s->replay_next = s->change_next = f.wal.lsn;
        s->current = version_new(s, f.gen);
        s->reqs = calloc(s->opts.group_commits_max, sizeof *s->reqs);
        if (s->current == NULL || s->reqs == NULL) {
            rc = hdb_err_set(err, HDB_NOMEM, "out of memory opening %s", dir);
        }
    }
    if (rc == HDB_OK) {
        rc = open_wal(s, &f, info, err);
    }
    return rc;
}

static void store_free(struct hdb_store *s)
{
    if (s->reqs != NULL && s->nreqs > 0) {
        fail_reqs(s, HDB_IOERR, "store closed before the commit was durable");
    }
    snap_free_all(s);
    while (s->vhead != NULL) {
        struct hdb_version *v = s->vhead;
        s->vhead = v->next;
        free(v->roots);
        free(v);
    }
    for (uint32_t id = 0; s->trees != NULL && id < s->ntrees; id++) {
        free(s->trees[id].name);
    }
    free(s->trees);
    free(s->reqs);
    free(s->recs);
    if (s->wal != NULL) {
        hdb_wal_close(s->wal);
    }
    if (s->cache != NULL) {
        hdb_cache_destroy(s->cache);
    }
    if (s->data != NULL) {
        hdb_file_close(s->data);
    }
    if (s->lock != NULL) {
        hdb_io_unlock(s->lock);
    }
    if (s->io != NULL) {
        hdb_io_destroy(s->io);
    }
    space_free(s);
    free(s->data_path);
    free(s->dir);
    free(s);
}

int hdb_store_open(const char *dir, const struct hdb_store_opts *opts, struct hdb_store **out,
                   struct hdb_recovery_info *info, struct hdb_err *err)
{
    uint64_t t0 = store_now_ns();
    struct hdb_recovery_info local;
    info = info != NULL ? info : &local;
    memset(info, 0, sizeof *info);
    *out = NULL;
    struct hdb_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory opening %s", dir);
    }
    if (opts != NULL) {
        s->opts = *opts;
    } else {
        hdb_store_opts_default(&s->opts);
    }
    s->dir = strdup(dir);
    s->data_path = path_join(dir, "data");
    int rc = s->dir != NULL && s->data_path != NULL
                 ? store_open(s, dir, info, err)
                 : hdb_err_set(err, HDB_NOMEM, "out of memory opening %s", dir);
    if (rc == HDB_OK && s->redo && s->ncuts > 0) {
        /* A snapshot's version ends before later commits: replay again, cutting it out. */
        struct hdb_store *again = calloc(1, sizeof *again);
        if (again == NULL) {
            rc = hdb_err_set(err, HDB_NOMEM, "out of memory opening %s", dir);
        } else {
            again->opts = s->opts;
            again->dir = s->dir;
            again->data_path = s->data_path;
            again->cuts = s->cuts;
            again->ncuts = s->ncuts;
            again->cuts_cap = s->cuts_cap;
            s->dir = s->data_path = NULL;
            s->cuts = NULL;
            s->ncuts = 0;
            store_free(s);
            s = again;
            hdb_log(HDB_LOG_INFO, "%s: replaying the WAL again to restore %u snapshot(s)", dir,
                    s->ncuts);
            memset(info, 0, sizeof *info);
            rc = store_open(s, dir, info, err);
        }
    }
    if (rc == HDB_OK && s->cut_records > 0) {
        /* The cut is made permanent at once: the records left out are before the new
         * checkpoint's replay start, so no later open can bring them back. */
        hdb_log(HDB_LOG_WARN, "%s: left out %llu WAL records with commit timestamps after %llu",
                dir, (unsigned long long)s->cut_records, (unsigned long long)s->opts.replay_ts_max);
        rc = hdb_store_checkpoint(s, err);
    }
    if (rc != HDB_OK) {
        store_free(s);
        return rc;
    }
    info->mark = s->mark_durable;
    info->max_ts = s->max_ts_seen;
    info->cut_records = s->cut_records;
    info->ckpt_ts = s->ckpt_commit_ts;
    info->duration_ns = store_now_ns() - t0;
    hdb_log(
        HDB_LOG_INFO,
        "%s: %s at checkpoint %llu; replayed %llu WAL records in %llu groups; open took %.1f ms",
        dir, info->created ? "created" : "opened", (unsigned long long)info->checkpoint_seq,
        (unsigned long long)info->wal.records, (unsigned long long)info->wal.groups,
        (double)info->duration_ns / 1e6);
    *out = s;
    return HDB_OK;
}

void hdb_store_abandon(struct hdb_store *s)
{
    store_free(s);
}

int hdb_store_mark(struct hdb_store *s, uint64_t mark, struct hdb_err *err)
{
    if (s->failed) {
        return refuse_failed(s, err);
    }
    if (mark <= s->mark_logged) {
        return HDB_OK;
    }
    int rc = recs_reserve(s, 1, err);
    if (rc != HDB_OK) {
        return rc;
    }
    uint8_t val[8];
    hdb_put64(val, mark);
    s->recs[0] = (struct hdb_wal_rec){.type = HDB_WAL_MARK, .val = val, .vlen = sizeof val};
    struct hdb_wal_mark wm;
    rc = append_commit(s, 1, &wm, err);
    if (rc != HDB_OK) {
        return rc;
    }
    s->mark_logged = mark;
    if (s->first_pending_ns == 0) {
        s->first_pending_ns = store_now_ns();
    }
    return HDB_OK;
}

uint64_t hdb_store_durable_mark(const struct hdb_store *s)
{
    return s->mark_durable;
}

bool hdb_store_checkpoint_due(const struct hdb_store *s)
{
    return !s->failed && wal_bytes_written(s) - s->wal_bytes_at_ckpt >= checkpoint_threshold(s);
}

int hdb_store_close(struct hdb_store *s, struct hdb_err *err)
{
    int rc = HDB_OK;
    if (s->failed) {
        rc = refuse_failed(s, err);
    } else {
        rc = hdb_store_checkpoint(s, err);
    }
    if (s->versions_live > 1 + (uint64_t)s->nsnaps) {
        hdb_log(HDB_LOG_WARN, "%s: closed with %llu versions still held", s->dir,
                (unsigned long long)(s->versions_live - 1 - s->nsnaps));
    }
    store_free(s);
    return rc;
}

/* --- reads and stats --- */

static int version_root(const struct hdb_version *v, uint32_t tree, uint64_t *root,
                        struct hdb_err *err)
{
    if (tree >= v->ntrees || v->roots[tree] == HDB_ROOT_NONE) {
        return hdb_err_set(err, HDB_NOTFOUND, "no tree with id %u in version %llu", tree,
                           (unsigned long long)v->gen);
    }
    *root = v->roots[tree];
    return HDB_OK;
}

int hdb_store_get(struct hdb_store *s, struct hdb_version *v, uint32_t tree, const void *key,
                  uint32_t klen, struct hdb_buf *val, struct hdb_err *err)
{
    uint64_t root = 0;
    int rc = version_root(v != NULL ? v : s->current, tree, &root, err);
    if (rc != HDB_OK) {
        return rc;
    }
    return hdb_bt_get(&s->pager, root, key, klen, val, err);
}

int hdb_store_cursor(struct hdb_store *s, struct hdb_version *v, uint32_t tree,
                     struct hdb_cursor *c, struct hdb_err *err)
{
    uint64_t root = 0;
    int rc = version_root(v != NULL ? v : s->current, tree, &root, err);
    if (rc == HDB_OK) {
        hdb_cursor_init(c, &s->pager, root);
    }
    return rc;
}

void hdb_store_get_stats(const struct hdb_store *s, struct hdb_store_stats *out)
{
    memset(out, 0, sizeof *out);
    out->commits = s->stat_commits;
    out->commit_failures = s->stat_commit_failures;
    out->groups = s->stat_groups;
    out->checkpoints = s->stat_checkpoints;
    out->publishes = s->stat_publishes;
    out->pages_total = s->page_count;
    out->pages_free = s->free_now.n;
    out->pages_pending = s->pending.n + s->pending_ckpt.n;
    out->versions_held = s->versions_live;
    out->snapshots = s->nsnaps;
    out->gen = s->gen_work;
    out->durable_checkpoint_seq = s->durable_seq;
    out->last_commit_ts = s->last_commit_ts;
    hdb_cache_get_stats(s->cache, &out->cache);
    hdb_wal_get_stats(s->wal, &out->wal);
    hdb_io_get_stats(s->io, &out->io);
    out->io_uring = hdb_io_uses_uring(s->io);
    out->direct_io = hdb_file_is_direct(s->data);
    out->failed = s->failed;
}

bool hdb_store_failed(const struct hdb_store *s)
{
    return s->failed;
}

const char *hdb_store_dir(const struct hdb_store *s)
{
    return s->dir;
}
