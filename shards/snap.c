/*
 * snap.c — database snapshots over all shards (kv.h has the contract):
 * create, drop, list, read-only transactions on a snapshot, online backup,
 * the registry rebuilt at open, and automatic snapshots.
 *
 * A snapshot's id is a fresh commit timestamp T taken from the clock. Every
 * shard handles MSG_SNAP_CREATE as a read at T (it waits for prepared
 * transactions that could commit at or below T, then raises served_max so
 * later commits get labels above T) and pins that version in its store,
 * durably. The set of shards is consistent for the same reason a
 * transaction's reads are. The registry lists the snapshots every shard
 * has; a create that failed or was cut short by a crash is undone on the
 * shards that have it (at open: snap_recover).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/bytes.h"
#include "core/log.h"
#include "shards/shard_int.h"

#define BACKUP_BATCH_ROWS  2048u
#define BACKUP_CACHE_BYTES (8u << 20)

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- the registry (under snap_lock) --- */

static int registry_find(const struct hdb_db *db, uint64_t id)
{
    for (uint32_t i = 0; i < db->nsnaps; i++) {
        if (db->snaps[i].info.id == id) {
            return (int)i;
        }
    }
    return -1;
}

static int registry_add(struct hdb_db *db, const struct db_snap *p)
{
    if (db->nsnaps == db->snaps_cap) {
        uint32_t cap = db->snaps_cap == 0 ? 8 : db->snaps_cap * 2;
        struct db_snap *a = realloc(db->snaps, cap * sizeof *a);
        if (a == NULL) {
            return HDB_NOMEM;
        }
        db->snaps = a;
        db->snaps_cap = cap;
    }
    uint32_t at = db->nsnaps;
    while (at > 0 && db->snaps[at - 1].info.id > p->info.id) {
        db->snaps[at] = db->snaps[at - 1];
        at--;
    }
    db->snaps[at] = *p;
    db->nsnaps++;
    return HDB_OK;
}

static void registry_remove(struct hdb_db *db, uint64_t id)
{
    int at = registry_find(db, id);
    if (at >= 0) {
        memmove(db->snaps + at, db->snaps + at + 1,
                (db->nsnaps - (uint32_t)at - 1) * sizeof *db->snaps);
        db->nsnaps--;
    }
}

/* --- create, drop, list --- */

/* Sends MSG_SNAP_DROP for `id` to the shards with ok[k] and waits; returns the first error. */
static int drop_on(struct hdb_conn *c, uint64_t id, const bool *ok, struct req *reqs,
                   struct hdb_err *err)
{
    uint32_t n = c->db->nshards;
    for (uint32_t k = 0; k < n; k++) {
        if (ok == NULL || ok[k]) {
            reqs[k] = (struct req){.type = MSG_SNAP_DROP, .snap = id};
            conn_send(c, k, &reqs[k]);
        }
    }
    conn_wait_all(c);
    int rc = HDB_OK;
    for (uint32_t k = 0; k < n; k++) {
        if ((ok == NULL || ok[k]) && reqs[k].status != HDB_OK && rc == HDB_OK) {
            rc = req_status(&reqs[k], err);
        }
    }
    return rc;
}

/* Creates a snapshot on every shard (snap_lock held). */
static int snap_create(struct hdb_conn *c, uint32_t flags, struct hdb_snapshot_info *out,
                       struct hdb_err *err)
{
    struct hdb_db *db = c->db;
    if (!db->opts.enable_cow_snapshots) {
        return hdb_err_set(err, HDB_INVALID,
                           "snapshots are off ([snapshot] enable_cow_snapshots = false)");
    }
    uint32_t n = db->nshards;
    struct req *reqs = calloc(n, sizeof *reqs);
    bool *ok = calloc(n, sizeof *ok);
    if (reqs == NULL || ok == NULL) {
        free(reqs);
        free(ok);
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    struct db_snap p = {.info = {.created_ms = wall_ms()}, .flags = flags};
    p.info.id = atomic_fetch_add(&db->clock, 1) + 1;
    for (uint32_t k = 0; k < n; k++) {
        reqs[k] = (struct req){.type = MSG_SNAP_CREATE,
                               .ts = p.info.id,
                               .snap = p.info.id,
                               .limit = flags,
                               .created_ms = p.info.created_ms};
        conn_send(c, k, &reqs[k]);
    }
    conn_wait_all(c);
    int rc = HDB_OK;
    for (uint32_t k = 0; k < n; k++) {
        ok[k] = reqs[k].status == HDB_OK;
        if (!ok[k] && rc == HDB_OK) {
            rc = req_status(&reqs[k], err);
        }
    }
    if (rc == HDB_OK && registry_add(db, &p) != HDB_OK) {
        rc = hdb_err_set(err, HDB_NOMEM, "out of memory listing snapshot %" PRIu64, p.info.id);
    }
    if (rc != HDB_OK) {
        struct hdb_err e;
        if (drop_on(c, p.info.id, ok, reqs, &e) != HDB_OK) {
            hdb_log(HDB_LOG_WARN, "undoing snapshot %" PRIu64 ": %s (the next open drops it)",
                    p.info.id, e.msg);
        }
    }
    free(reqs);
    free(ok);
    if (rc == HDB_OK && out != NULL) {
        *out = p.info;
    }
    return rc;
}

int hdb_snapshot_create(struct hdb_conn *c, struct hdb_snapshot_info *out, struct hdb_err *err)
{
    hdb_db_lock_mutex(c->db, &c->db->snap_lock);
    int rc = snap_create(c, 0, out, err);
    pthread_mutex_unlock(&c->db->snap_lock);
    return rc;
}

/* Drops a snapshot on every shard (snap_lock held). */
static int snap_drop(struct hdb_conn *c, uint64_t id, struct hdb_err *err)
{
    struct hdb_db *db = c->db;
    struct req *reqs = calloc(db->nshards, sizeof *reqs);
    if (reqs == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    int rc = HDB_OK;
    int at = registry_find(db, id);
    if (at < 0) {
        rc = hdb_err_set(err, HDB_NOTFOUND, "no snapshot %" PRIu64, id);
    } else if (db->snaps[at].backups > 0) {
        rc = hdb_err_set(err, HDB_BUSY, "snapshot %" PRIu64 " is being backed up", id);
    } else {
        /* Gone from the registry even if a shard failed: that shard's store refuses writes
         * now, and the next open drops what is left. */
        registry_remove(db, id);
        rc = drop_on(c, id, NULL, reqs, err);
    }
    free(reqs);
    return rc;
}

int hdb_snapshot_drop(struct hdb_conn *c, uint64_t id, struct hdb_err *err)
{
    hdb_db_lock_mutex(c->db, &c->db->snap_lock);
    int rc = snap_drop(c, id, err);
    pthread_mutex_unlock(&c->db->snap_lock);
    return rc;
}

uint32_t hdb_snapshot_list(struct hdb_db *db, struct hdb_snapshot_info *out, uint32_t max)
{
    hdb_db_lock_mutex(db, &db->snap_lock);
    uint32_t n = db->nsnaps;
    for (uint32_t i = 0; i < n && i < max; i++) {
        out[i] = db->snaps[i].info;
    }
    pthread_mutex_unlock(&db->snap_lock);
    return n;
}

static bool snapshot_exists(struct hdb_db *db, uint64_t id)
{
    hdb_db_lock_mutex(db, &db->snap_lock);
    bool found = registry_find(db, id) >= 0;
    pthread_mutex_unlock(&db->snap_lock);
    return found;
}

/* A backup holds its snapshot (+1) and lets it go (-1); false if there is no such snapshot. */
static bool backup_hold(struct hdb_db *db, uint64_t id, int delta)
{
    hdb_db_lock_mutex(db, &db->snap_lock);
    int at = registry_find(db, id);
    if (at >= 0) {
        db->snaps[at].backups = (uint32_t)((int)db->snaps[at].backups + delta);
    }
    pthread_mutex_unlock(&db->snap_lock);
    return at >= 0;
}

int hdb_txn_begin_snapshot(struct hdb_conn *c, uint64_t id, struct hdb_txn **out,
                           struct hdb_err *err)
{
    if (!snapshot_exists(c->db, id)) {
        return hdb_err_set(err, HDB_NOTFOUND, "no snapshot %" PRIu64, id);
    }
    int rc = hdb_txn_begin(c, out, err);
    if (rc == HDB_OK) {
        (*out)->snap = id;
        (*out)->snapshot_ts = id;
    }
    return rc;
}

/* --- backup --- */

struct backup {
    struct hdb_conn *c;
    uint64_t id;
    struct hdb_store *dst;
    hdb_backup_progress_fn progress;
    void *ctx;
    struct hdb_backup_progress p;
};

/* Commits rows [0, n) of a reply; halves on HDB_TOOBIG (a commit must fit in a WAL segment). */
static int backup_commit(struct backup *b, uint32_t tree, const struct hdb_write *w, uint32_t n,
                         struct hdb_err *err)
{
    int rc = hdb_store_commit(b->dst, w, n, 0, 0, NULL, NULL, err);
    if (rc == HDB_TOOBIG && n > 1) {
        rc = backup_commit(b, tree, w, n / 2, err);
        if (rc == HDB_OK) {
            rc = backup_commit(b, tree, w + n / 2, n - n / 2, err);
        }
    }
    return rc;
}

/* Scans one batch of tree `src` from `lo` (skipping lo itself when `after`) into the backup. */
static int backup_batch(struct backup *b, uint32_t shard, uint32_t src, uint32_t dst,
                        struct hdb_buf *lo, bool after, uint32_t *limit, bool *more,
                        struct hdb_err *err)
{
    struct req r = {.type = MSG_SCAN,
                    .snap = b->id,
                    .tree = src,
                    .key = lo->data != NULL ? lo->data : (const uint8_t *)"",
                    .klen = (uint32_t)lo->len,
                    .limit = *limit};
    conn_send(b->c, shard, &r);
    conn_wait_all(b->c);
    int rc = req_status(&r, err);
    if (rc == HDB_TOOBIG && *limit > 1) {
        free(r.rows.buf);
        *limit /= 2; /* large values: fewer rows per reply */
        *more = true;
        return HDB_OK;
    }
    struct hdb_write *w = rc == HDB_OK ? calloc(r.rows.count + 1, sizeof *w) : NULL;
    if (rc == HDB_OK && w == NULL) {
        rc = hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    uint32_t n = 0;
    const uint8_t *at = r.rows.buf;
    for (uint32_t i = 0; rc == HDB_OK && i < r.rows.count; i++) {
        uint32_t klen = hdb_get32(at), vlen = hdb_get32(at + 4);
        const uint8_t *k = at + 8;
        at += 8 + (size_t)klen + vlen;
        if (i == 0 && after && klen == lo->len && memcmp(k, lo->data, klen) == 0) {
            continue;
        }
        w[n++] = (struct hdb_write){.type = HDB_WAL_PUT,
                                    .tree = dst,
                                    .key = k,
                                    .klen = klen,
                                    .val = k + klen,
                                    .vlen = vlen};
        b->p.bytes += klen + vlen;
    }
    if (rc == HDB_OK && n > 0) {
        rc = backup_commit(b, dst, w, n, err);
        if (rc == HDB_OK) {
            rc = hdb_buf_set(lo, w[n - 1].key, w[n - 1].klen);
        }
    }
    b->p.rows += n;
    *more = rc == HDB_OK && r.rows.count == *limit;
    free(w);
    free(r.rows.buf);
    if (rc == HDB_OK && b->progress != NULL) {
        b->progress(b->ctx, &b->p);
    }
    return rc;
}

static int backup_tree(struct backup *b, uint32_t shard, uint32_t src, const char *name,
                       struct hdb_err *err)
{
    uint32_t dst = 0;
    int rc = hdb_store_tree_find(b->dst, name, &dst, err);
    if (rc == HDB_NOTFOUND) {
        rc = hdb_store_tree_create(b->dst, name, &dst, err);
    }
    struct hdb_buf lo = {0};
    uint32_t limit = BACKUP_BATCH_ROWS;
    bool more = true, after = false;
    while (rc == HDB_OK && more) {
        size_t before = lo.len;
        rc = backup_batch(b, shard, src, dst, &lo, after, &limit, &more, err);
        after = after || lo.len != before || lo.data != NULL;
    }
    hdb_buf_free(&lo);
    return rc;
}

static int backup_shard(struct backup *b, const char *root, uint32_t shard, struct hdb_err *err)
{
    struct hdb_db *db = b->c->db;
    char *dir;
    if (asprintf(&dir, "%s/shard-%u", root, shard) < 0) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    struct hdb_store_opts o = db->opts.store;
    o.cache_bytes = BACKUP_CACHE_BYTES;
    o.wal_mode = HDB_WAL_ASYNC;
    int rc = hdb_store_open(dir, &o, &b->dst, NULL, err);
    free(dir);
    if (rc != HDB_OK) {
        return rc;
    }
    struct req r = {.type = MSG_SNAP_TREES, .snap = b->id};
    conn_send(b->c, shard, &r);
    conn_wait_all(b->c);
    rc = req_status(&r, err);
    const uint8_t *at = r.rows.buf;
    for (uint32_t i = 0; rc == HDB_OK && i < r.rows.count; i++) {
        uint32_t klen = hdb_get32(at);
        char name[HDB_TREE_NAME_BYTES_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)klen, (const char *)at + 8);
        rc = backup_tree(b, shard, hdb_get32(at + 8 + klen), name, err);
        at += 8 + (size_t)klen + 4;
    }
    free(r.rows.buf);
    struct hdb_err e;
    int crc = hdb_store_close(b->dst, &e); /* checkpoints: the shard's data is durable */
    if (rc == HDB_OK && crc != HDB_OK) {
        *err = e;
        rc = crc;
    }
    b->dst = NULL;
    return rc;
}

int hdb_snapshot_backup(struct hdb_conn *c, uint64_t id, const char *dir,
                        hdb_backup_progress_fn progress, void *ctx, struct hdb_err *err)
{
    struct hdb_db *db = c->db;
    if (!backup_hold(db, id, 1)) {
        return hdb_err_set(err, HDB_NOTFOUND, "no snapshot %" PRIu64, id);
    }
    struct hdb_io *io;
    int rc = hdb_io_create(&db->opts.store.io, db->opts.store.sim, NULL, NULL, &io, err);
    if (rc != HDB_OK) {
        backup_hold(db, id, -1);
        return rc;
    }
    char partial[4096];
    snprintf(partial, sizeof partial, "%s.partial", dir);
    if (hdb_io_exists(io, dir)) {
        rc = hdb_err_set(err, HDB_EXISTS, "backup target %s already exists", dir);
    } else if (hdb_io_exists(io, partial)) {
        rc = hdb_err_set(err, HDB_EXISTS, "%s exists (an interrupted backup?): remove it first",
                         partial);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_mkdir(io, partial, err);
    }
    if (rc == HDB_OK) {
        rc = db_manifest_write(io, partial, db->nshards, db->opts.store.page_size, 0, err);
    }
    struct backup b = {.c = c, .id = id, .progress = progress, .ctx = ctx};
    b.p.shards = db->nshards;
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        b.p.shard = k;
        rc = backup_shard(&b, partial, k, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_sync_dir(io, partial, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_rename(io, partial, dir, err);
    }
    if (rc == HDB_OK) {
        char parent[4096];
        snprintf(parent, sizeof parent, "%s", dir);
        char *slash = strrchr(parent, '/');
        if (slash == NULL) {
            snprintf(parent, sizeof parent, ".");
        } else if (slash == parent) {
            parent[1] = '\0';
        } else {
            *slash = '\0';
        }
        rc = hdb_io_sync_dir(io, parent, err);
    }
    hdb_io_destroy(io);
    backup_hold(db, id, -1);
    if (rc != HDB_OK) {
        return hdb_err_prefix(err, "backup of snapshot %" PRIu64 " to %s", id, dir);
    }
    b.p.done = true;
    if (progress != NULL) {
        progress(ctx, &b.p);
    }
    hdb_log(HDB_LOG_INFO,
            "backup of snapshot %" PRIu64 " to %s: %" PRIu64 " rows, %" PRIu64 " bytes", id, dir,
            b.p.rows, b.p.bytes);
    return HDB_OK;
}

/* --- recovery --- */

/* Rebuilds the registry from the shards' stores (all open, none serving yet): snapshots
 * every shard has are listed; the rest of a create a crash cut short is dropped. */
int snap_recover(struct hdb_db *db, uint64_t cut_ts, uint64_t *max_ts, struct hdb_err *err)
{
    struct hdb_store_snapshot *lists[HDB_SHARDS_MAX] = {0};
    uint32_t counts[HDB_SHARDS_MAX] = {0};
    int rc = HDB_OK;
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        struct hdb_store *s = shard_store(db->shards[k]);
        uint32_t n = hdb_store_snapshot_list(s, NULL, 0);
        lists[k] = calloc(n + 1, sizeof *lists[k]);
        if (lists[k] == NULL) {
            rc = hdb_err_set(err, HDB_NOMEM, "out of memory listing snapshots");
            break;
        }
        counts[k] = hdb_store_snapshot_list(s, lists[k], n);
    }
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        for (uint32_t i = 0; i < counts[k] && rc == HDB_OK; i++) {
            const struct hdb_store_snapshot *p = &lists[k][i];
            *max_ts = p->id > *max_ts ? p->id : *max_ts;
            uint32_t have = 0;
            for (uint32_t j = 0; j < db->nshards; j++) {
                have += hdb_store_snapshot_version(shard_store(db->shards[j]), p->id) != NULL;
            }
            if (have == db->nshards && p->id <= cut_ts) {
                if (k == 0) {
                    struct db_snap d = {.info = {.id = p->id, .created_ms = p->created_ms},
                                        .flags = (uint32_t)p->tag};
                    if (registry_add(db, &d) != HDB_OK) {
                        rc = hdb_err_set(err, HDB_NOMEM, "out of memory listing snapshots");
                    }
                }
                continue;
            }
            if (have == db->nshards) {
                hdb_log(HDB_LOG_WARN,
                        "recovery: snapshot %" PRIu64 " is after the async recovery cut at %" PRIu64
                        ": dropped",
                        p->id, cut_ts);
            } else {
                hdb_log(HDB_LOG_INFO,
                        "recovery: snapshot %" PRIu64 " is on %u of %u shards (its creation was "
                        "cut short): dropped",
                        p->id, have, db->nshards);
            }
            for (uint32_t j = 0; j < db->nshards && rc == HDB_OK; j++) {
                struct hdb_store *s = shard_store(db->shards[j]);
                if (hdb_store_snapshot_version(s, p->id) != NULL) {
                    rc = hdb_store_snapshot_drop(s, p->id, err);
                }
            }
        }
    }
    for (uint32_t k = 0; k < db->nshards; k++) {
        free(lists[k]);
    }
    return rc;
}

void snap_free(struct hdb_db *db)
{
    free(db->snaps);
    db->snaps = NULL;
    db->nsnaps = db->snaps_cap = 0;
}

/* --- automatic snapshots --- */

/* Drops the oldest automatic snapshots beyond the retention (snap_lock held). */
static void auto_retain(struct hdb_conn *c)
{
    struct hdb_db *db = c->db;
    uint32_t keep = db->opts.snapshot_retention;
    for (;;) {
        uint32_t autos = 0;
        uint64_t oldest = 0; /* the oldest automatic one no backup is reading */
        for (uint32_t i = 0; i < db->nsnaps; i++) {
            if (db->snaps[i].flags & SNAP_FLAG_AUTO) {
                oldest = oldest == 0 && db->snaps[i].backups == 0 ? db->snaps[i].info.id : oldest;
                autos++;
            }
        }
        if (keep == 0 || autos <= keep || oldest == 0) {
            return;
        }
        struct hdb_err e;
        if (snap_drop(c, oldest, &e) != HDB_OK) {
            hdb_log(HDB_LOG_WARN, "automatic snapshots: dropping %" PRIu64 ": %s", oldest, e.msg);
            return;
        }
    }
}

static void *auto_main(void *arg)
{
    struct hdb_db *db = arg;
    struct hdb_conn *c = NULL;
    struct hdb_err e;
    if (hdb_db_connect(db, &c, &e) != HDB_OK) {
        hdb_log(HDB_LOG_ERROR, "automatic snapshots: %s; none will be taken", e.msg);
        return NULL;
    }
    pthread_mutex_lock(&db->auto_mu);
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)db->opts.snapshot_interval_ms * 1000000u;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        while (!db->auto_stop) {
            if (pthread_cond_timedwait(&db->auto_cv, &db->auto_mu, &until) != 0) {
                break; /* the interval is up */
            }
        }
        if (db->auto_stop) {
            break;
        }
        pthread_mutex_unlock(&db->auto_mu);
        struct hdb_snapshot_info info;
        /* One critical section: a list never shows more than the retention. */
        hdb_db_lock_mutex(db, &db->snap_lock);
        if (snap_create(c, SNAP_FLAG_AUTO, &info, &e) == HDB_OK) {
            hdb_log(HDB_LOG_DEBUG, "automatic snapshot %" PRIu64, info.id);
            auto_retain(c);
        } else {
            hdb_log(HDB_LOG_WARN, "automatic snapshot failed: %s", e.msg);
        }
        pthread_mutex_unlock(&db->snap_lock);
        pthread_mutex_lock(&db->auto_mu);
    }
    pthread_mutex_unlock(&db->auto_mu);
    hdb_db_disconnect(c);
    return NULL;
}

int snap_auto_start(struct hdb_db *db, struct hdb_err *err)
{
    if (!db->opts.enable_cow_snapshots || db->opts.snapshot_interval_ms == 0) {
        return HDB_OK;
    }
    int e = pthread_create(&db->auto_tid, NULL, auto_main, db);
    if (e != 0) {
        return hdb_err_set(err, HDB_ERROR, "starting the automatic-snapshot thread: %s",
                           strerror(e));
    }
    db->auto_started = true;
    return HDB_OK;
}

void snap_auto_stop(struct hdb_db *db)
{
    if (!db->auto_started) {
        return;
    }
    pthread_mutex_lock(&db->auto_mu);
    db->auto_stop = true;
    pthread_cond_signal(&db->auto_cv);
    pthread_mutex_unlock(&db->auto_mu);
    pthread_join(db->auto_tid, NULL);
    db->auto_started = false;
}
