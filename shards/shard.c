/*
 * shard.c — one shard: its store, the versions it keeps for snapshot
 * reads, the recent writes it validates against, its prepared two-phase
 * transactions, and what it does with each message. Only the shard's
 * thread calls into a shard after it is opened.
 *
 * Timestamps (docs/shards.md has the argument). Every published version of
 * the store gets a label L, the commit timestamp it stands for; labels never
 * go down, and a read at snapshot T is served from the newest version with
 * L <= T. Three rules make that version hold exactly the commits <= T:
 *  - A read at T first waits for every prepared transaction here whose
 *    commit timestamp could be <= T (undecided with p_lower <= T, or decided
 *    at D <= T and not yet published); p_lower is the clock when it prepared
 *    plus one, and the coordinator picks D from the clock later, so D >= p_lower.
 *  - Otherwise it is served at once and raises served_max to T; the next
 *    label is at least served_max + 1, so commits not yet published here
 *    land after every read already served.
 *  - Decided transactions are applied in timestamp order, none while an
 *    undecided one could still get a smaller timestamp, and (in sync mode)
 *    a commit group holds at most one of them, whose D becomes the label.
 * A single-shard commit counts as a read at its transaction's snapshot (it
 * waits like one and raises served_max), so its label is above every commit
 * acknowledged before the transaction began. In async mode the WAL records
 * carry the label and watermarks bound a recovery cut (docs/shards.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/bytes.h"
#include "core/log.h"
#include "shards/shard_int.h"

#define TS_PENDING UINT64_MAX

struct ver_slot {
    struct hdb_version *v;
    uint64_t label;
    uint64_t at_ns;
};

struct log_entry {
    uint64_t ts; /* label of the version that published it; TS_PENDING until then */
    uint64_t hash;
    uint32_t tree, klen;
    uint8_t *key;
};

struct prepared {
    uint64_t txn;
    uint64_t p_lower; /* its commit timestamp will be at least this */
    uint64_t commit_ts;
    bool decided;
    struct req *prepare_req; /* the caller's PREPARE payload: its part stays valid until the end */
    struct req *commit_req;
    struct prepared *next;
};

/* The coordinator's count of participants whose apply is durable (FORGETs may come first). */
struct decision {
    uint64_t txn;
    uint32_t total;     /* participants (0: the coordinator has not applied its part yet) */
    uint32_t forgotten; /* FORGETs received */
    uint16_t *participants;
};

struct forget_ctx {
    struct shard *sh;
    uint64_t txn;
    uint32_t coordinator;
    uint64_t groups; /* async: the store's flushed groups when the apply was accepted */
};

struct shard {
    struct hdb_db *db;
    uint32_t id, thread;
    char *dir;
    struct hdb_store *store;
    bool sync;
    uint32_t t_prepared, t_decisions;
    struct hdb_ring *in; /* [nshards]: ring from shard j to this one */
    /* timestamps */
    uint64_t last_label, served_max, pub_gen, pending_fixed;
    struct ver_slot vers[SHARD_VERSIONS_MAX];
    uint32_t vfirst, vcount;
    /* recent writes, oldest first, for validation */
    struct log_entry *log;
    uint32_t log_first, log_count, log_pending;
    uint64_t log_floor; /* newest timestamp that fell out of the log */
    bool floor_pending; /* an unpublished write fell out: the floor is its coming label */
    struct prepared *prepared;
    uint32_t nprepared;
    struct decision *decisions;
    uint32_t ndecisions, decisions_cap;
    struct req *waiting; /* reads waiting for prepared transactions */
    struct req **acks;   /* replies held until their commit is labelled (and durable) */
    uint32_t nacks, acks_cap;
    struct hdb_msg outbox[SHARD_OUTBOX_MAX]; /* FORGETs the target ring had no room for */
    uint32_t noutbox;
    bool need_flush;          /* async mode: a prepare or decision must reach the disk this turn */
    struct forget_ctx **late; /* async: applied 2PC parts whose FORGET waits for their flush */
    uint32_t nlate, late_cap;
    uint64_t poll_at_ns;
    /* Async mode (docs/shards.md, "Async mode and the recovery cut"): watermarks, and the
     * freeze that holds user commits while a checkpoint waits for every shard's mark. */
    bool system_commit; /* the commit after_store labels changed only system trees */
    uint64_t mark_logged, mark_at_ns;
    alignas(HDB_CACHE_LINE) _Atomic uint64_t durable_mark;
    bool frozen;
    uint64_t frozen_since_ns, ckpt_retry_ns;
    struct req *deferred, *deferred_tail; /* COMMIT1s held while frozen, in arrival order */
    struct req *ckpt_waiters;             /* async: MSG_CHECKPOINTs waiting for the next one */
    struct hdb_recovery_info rinfo;
    uint64_t recovery_ns, replayed_records;
    struct hdb_shard_stats st;
};

static uint64_t safe_mark(const struct shard *sh);

/* --- small helpers --- */

static int cmp_keys(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static bool in_range(const struct txn_range *r, uint32_t tree, const uint8_t *key, uint32_t klen)
{
    if (r->tree != tree || cmp_keys(key, klen, r->lo, r->lolen) < 0) {
        return false;
    }
    return r->hi == NULL || cmp_keys(key, klen, r->hi, r->hilen) < 0;
}

static bool same_key(const struct txn_key *k, uint64_t hash, uint32_t tree, const uint8_t *key,
                     uint32_t klen)
{
    return k->hash == hash && k->tree == tree && k->klen == klen && memcmp(k->key, key, klen) == 0;
}

static void reply(struct shard *sh, struct req *r)
{
    struct hdb_msg m = {.type = r->type, .payload = r};
    /* Once pushed, the request belongs to the caller again (it may be gone): read it first. */
    struct hdb_conn *conn = r->conn;
    /* A connection has at most CONN_RING_CAPACITY requests here, so there is always room. */
    uint32_t n = hdb_ring_push(&conn->from_shard[sh->id], &m, 1);
    if (n != 1) {
        hdb_log(HDB_LOG_ERROR, "shard %u: reply ring of connection %u full", sh->id, conn->slot);
        abort();
    }
    db_wake_conn(conn);
}

static void reply_err(struct shard *sh, struct req *r, const struct hdb_err *e)
{
    r->status = e->code;
    snprintf(r->msg, sizeof r->msg, "%s", e->msg);
    reply(sh, r);
}

static int hold_ack(struct shard *sh, struct req *r)
{
    if (sh->nacks == sh->acks_cap) {
        uint32_t cap = sh->acks_cap == 0 ? 64 : sh->acks_cap * 2;
        struct req **a = realloc(sh->acks, cap * sizeof *a);
        if (a == NULL) {
            return HDB_NOMEM;
        }
        sh->acks = a;
        sh->acks_cap = cap;
    }
    sh->acks[sh->nacks++] = r;
    return HDB_OK;
}

/* The store calls this once per accepted commit (caller's request as ctx). */
static void commit_done_store(void *ctx, int status, const char *msg)
{
    struct req *r = ctx;
    r->status = status;
    if (status != HDB_OK && msg != NULL) {
        snprintf(r->msg, sizeof r->msg, "%s", msg);
    }
    struct shard *sh = r->conn->db->shards[r->shard];
    if (hold_ack(sh, r) != HDB_OK) {
        hdb_log(HDB_LOG_ERROR, "shard %u: out of memory holding a commit reply", sh->id);
        abort();
    }
}

/* --- versions and labels --- */

static void versions_push(struct shard *sh, uint64_t label)
{
    if (sh->vcount == SHARD_VERSIONS_MAX) {
        hdb_store_version_release(sh->store, sh->vers[sh->vfirst].v);
        sh->vfirst = (sh->vfirst + 1) % SHARD_VERSIONS_MAX;
        sh->vcount--;
    }
    uint32_t i = (sh->vfirst + sh->vcount) % SHARD_VERSIONS_MAX;
    sh->vers[i] = (struct ver_slot){
        .v = hdb_store_version_take(sh->store), .label = label, .at_ns = db_now_ns()};
    sh->vcount++;
}

/* Drops versions older than the retention time (the newest always stays). */
static void versions_expire(struct shard *sh, uint64_t now_ns)
{
    uint64_t keep_ns = (uint64_t)sh->db->opts.version_retention_ms * 1000000ull;
    while (sh->vcount > 1) {
        uint32_t next = (sh->vfirst + 1) % SHARD_VERSIONS_MAX;
        /* A version is still needed while the one after it is younger than the limit. */
        if (sh->vers[next].at_ns + keep_ns > now_ns) {
            break;
        }
        hdb_store_version_release(sh->store, sh->vers[sh->vfirst].v);
        sh->vfirst = next;
        sh->vcount--;
    }
}

/*
 * The label the next published version gets. A version that changed only
 * system trees (prepare and decision records, their deletion) keeps the last
 * label in async mode: no user row changed, and a checkpoint's freeze relies
 * on those records not moving the label.
 */
static uint64_t next_label(const struct shard *sh, bool system)
{
    uint64_t label = sh->last_label;
    if (system) {
        return label;
    }
    if (sh->served_max + 1 > label) {
        label = sh->served_max + 1;
    }
    return sh->pending_fixed > label ? sh->pending_fixed : label;
}

/* Labels a newly published version (if there is one) and what it published. */
static void after_store(struct shard *sh)
{
    uint64_t gen = hdb_store_published_gen(sh->store);
    if (gen == sh->pub_gen) {
        return;
    }
    sh->pub_gen = gen;
    uint64_t label = next_label(sh, sh->system_commit);
    sh->system_commit = false;
    for (uint32_t i = sh->log_count - sh->log_pending; i < sh->log_count; i++) {
        struct log_entry *e = &sh->log[(sh->log_first + i) % SHARD_LOG_ENTRIES];
        e->ts = e->ts == TS_PENDING ? label : e->ts;
    }
    sh->log_pending = 0;
    if (sh->floor_pending) {
        sh->log_floor = label > sh->log_floor ? label : sh->log_floor;
        sh->floor_pending = false;
    }
    sh->pending_fixed = 0;
    sh->last_label = label;
    db_clock_advance(sh->db, label);
    versions_push(sh, label);
}

/* The newest kept version for a read at ts, or NULL if the snapshot is older than all. */
static struct hdb_version *version_at(struct shard *sh, uint64_t ts)
{
    for (uint32_t n = sh->vcount; n > 0; n--) {
        struct ver_slot *s = &sh->vers[(sh->vfirst + n - 1) % SHARD_VERSIONS_MAX];
        if (s->label <= ts) {
            return s->v;
        }
    }
    return NULL;
}

/* --- the recent-writes log --- */

static int log_add(struct shard *sh, uint64_t ts, uint32_t tree, const uint8_t *key, uint32_t klen)
{
    uint8_t *copy = malloc(klen > 0 ? klen : 1);
    if (copy == NULL) {
        return HDB_NOMEM;
    }
    memcpy(copy, key, klen);
    if (sh->log_count == SHARD_LOG_ENTRIES) {
        struct log_entry *old = &sh->log[sh->log_first];
        if (old->ts == TS_PENDING) {
            /* One huge group: the floor becomes its label once it is published. */
            sh->floor_pending = true;
            sh->log_pending--;
        } else if (old->ts > sh->log_floor) {
            sh->log_floor = old->ts;
        }
        free(old->key);
        sh->log_first = (sh->log_first + 1) % SHARD_LOG_ENTRIES;
        sh->log_count--;
    }
    struct log_entry *e = &sh->log[(sh->log_first + sh->log_count) % SHARD_LOG_ENTRIES];
    *e = (struct log_entry){
        .ts = ts, .hash = key_hash(tree, key, klen), .tree = tree, .klen = klen, .key = copy};
    sh->log_count++;
    if (ts == TS_PENDING) {
        sh->log_pending++;
    }
    return HDB_OK;
}

static int log_writes(struct shard *sh, const struct txn_part *p, uint64_t ts)
{
    for (uint32_t i = 0; i < p->nwrites; i++) {
        const struct txn_key *k = &p->writes[i]->k;
        if (log_add(sh, ts, k->tree, k->key, k->klen) != HDB_OK) {
            return HDB_NOMEM;
        }
    }
    return HDB_OK;
}

/* Did a write to (tree, key) hit anything p read? */
static bool write_hits_reads(const struct txn_part *p, uint64_t hash, uint32_t tree,
                             const uint8_t *key, uint32_t klen)
{
    for (uint32_t i = 0; i < p->nreads; i++) {
        if (same_key(p->reads[i], hash, tree, key, klen)) {
            return true;
        }
    }
    for (uint32_t i = 0; i < p->nranges; i++) {
        if (in_range(p->ranges[i], tree, key, klen)) {
            return true;
        }
    }
    return false;
}

static bool write_hits_writes(const struct txn_part *p, const struct txn_key *k)
{
    for (uint32_t i = 0; i < p->nwrites; i++) {
        if (same_key(&p->writes[i]->k, k->hash, k->tree, k->key, k->klen)) {
            return true;
        }
    }
    return false;
}

/* --- validation --- */

/* Conflicts of `p` with what committed here after its snapshot. */
static int validate_log(struct shard *sh, const struct txn_part *p, struct hdb_err *err)
{
    if (p->nreads == 0 && p->nranges == 0) {
        return HDB_OK;
    }
    if (p->snapshot_ts < sh->log_floor || sh->floor_pending) {
        return hdb_err_set(err, HDB_CONFLICT,
                           "shard %u: the transaction's snapshot (ts %" PRIu64
                           ") is older than the writes kept for validation",
                           sh->id, p->snapshot_ts);
    }
    for (uint32_t n = sh->log_count; n > 0; n--) {
        const struct log_entry *e = &sh->log[(sh->log_first + n - 1) % SHARD_LOG_ENTRIES];
        if (e->ts <= p->snapshot_ts) {
            break;
        }
        if (write_hits_reads(p, e->hash, e->tree, e->key, e->klen)) {
            return hdb_err_set(err, HDB_CONFLICT,
                               "shard %u: a key this transaction read was written by a later "
                               "commit (ts %" PRIu64 " > snapshot %" PRIu64 ")",
                               sh->id, e->ts == TS_PENDING ? 0 : e->ts, p->snapshot_ts);
        }
    }
    return HDB_OK;
}

/* Conflicts of `p` with the fences of the transactions prepared here. */
static int validate_fences(struct shard *sh, const struct txn_part *p, struct hdb_err *err)
{
    for (const struct prepared *q = sh->prepared; q != NULL; q = q->next) {
        const struct txn_part *f = &q->prepare_req->part;
        if (f->txn_id == p->txn_id) {
            continue;
        }
        bool hit = false;
        for (uint32_t i = 0; i < p->nwrites && !hit; i++) {
            const struct txn_key *k = &p->writes[i]->k;
            hit = write_hits_reads(f, k->hash, k->tree, k->key, k->klen) || write_hits_writes(f, k);
        }
        for (uint32_t i = 0; i < f->nwrites && !hit; i++) {
            const struct txn_key *k = &f->writes[i]->k;
            hit = write_hits_reads(p, k->hash, k->tree, k->key, k->klen);
        }
        if (hit) {
            return hdb_err_set(err, HDB_CONFLICT,
                               "shard %u: conflicts with multi-shard transaction %" PRIx64
                               " that is being committed",
                               sh->id, f->txn_id);
        }
    }
    return HDB_OK;
}

static int validate(struct shard *sh, const struct txn_part *p, struct hdb_err *err)
{
    int rc = validate_log(sh, p, err);
    if (rc == HDB_OK) {
        rc = validate_fences(sh, p, err);
    }
    if (rc == HDB_CONFLICT) {
        sh->st.conflicts++;
    }
    return rc;
}

/* --- store writes --- */

static int part_writes(const struct txn_part *p, struct hdb_write **out, uint32_t extra)
{
    struct hdb_write *w = calloc((size_t)p->nwrites + extra, sizeof *w);
    if (w == NULL) {
        return HDB_NOMEM;
    }
    for (uint32_t i = 0; i < p->nwrites; i++) {
        const struct txn_write *tw = p->writes[i];
        w[i] = (struct hdb_write){
            .type = tw->del ? HDB_WAL_DELETE : HDB_WAL_PUT,
            .tree = tw->k.tree,
            .key = tw->k.key,
            .klen = tw->k.klen,
            .val = tw->val,
            .vlen = tw->vlen,
        };
    }
    *out = w;
    return HDB_OK;
}

/* Commits writes; labels a version the store published before the commit joined its group. */
static int store_commit(struct shard *sh, const struct hdb_write *w, uint32_t n, uint64_t txn,
                        uint64_t ts, hdb_commit_done_fn done, void *ctx, struct hdb_err *err)
{
    int rc = hdb_store_commit(sh->store, w, n, txn, ts, done, ctx, err);
    if (sh->sync) {
        after_store(sh); /* a full group may have been flushed first */
    }
    return rc;
}

static uint64_t next_single_ts(const struct shard *sh)
{
    uint64_t ts = sh->last_label + 1;
    return sh->served_max + 1 > ts ? sh->served_max + 1 : ts;
}

/* The commit timestamp a commit's WAL records carry: in async mode exactly the label it will be
 * published under, so the recovery cut can compare them with watermarks. */
static uint64_t wal_ts(const struct shard *sh, bool system)
{
    return sh->sync ? next_single_ts(sh) : next_label(sh, system);
}

/* Async mode: labels the version a system-only commit published. */
static void after_system_store(struct shard *sh)
{
    sh->system_commit = true;
    after_store(sh);
}

static void txn_key_bytes(uint64_t txn, uint8_t out[8])
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(txn >> (56 - 8 * i)); /* big-endian: keys sort by id */
    }
}

/* An applied marker: the prepared record's key and one byte 1 (sorts right after it). */
static void marker_key(uint64_t txn, uint8_t out[9])
{
    txn_key_bytes(txn, out);
    out[8] = 1;
}

/* Marker value: [u64 commit ts][u32 coordinator][u32 n][u16 participant] * n. */
static uint32_t marker_encode(uint64_t ts, uint32_t coordinator, const uint16_t *parts, uint32_t n,
                              uint8_t *out)
{
    hdb_put64(out, ts);
    hdb_put32(out + 8, coordinator);
    hdb_put32(out + 12, n);
    for (uint32_t i = 0; i < n; i++) {
        hdb_put16(out + 16 + 2 * i, parts[i]);
    }
    return 16 + 2 * n;
}

/* --- reads --- */

static bool can_read(const struct shard *sh, uint64_t ts)
{
    for (const struct prepared *p = sh->prepared; p != NULL; p = p->next) {
        if (!p->decided && p->p_lower <= ts) {
            return false;
        }
        if (p->decided && p->commit_ts <= ts) {
            return false;
        }
    }
    return sh->pending_fixed == 0 || sh->pending_fixed > ts;
}

static struct hdb_version *read_version(struct shard *sh, struct req *r)
{
    if (r->snap != 0 && r->type != MSG_SNAP_CREATE) {
        struct hdb_version *sv = hdb_store_snapshot_version(sh->store, r->snap);
        if (sv == NULL) {
            r->status = HDB_NOTFOUND;
            snprintf(r->msg, sizeof r->msg, "shard %u: no snapshot %" PRIu64, sh->id, r->snap);
        }
        return sv;
    }
    struct hdb_version *v = version_at(sh, r->ts);
    if (v == NULL) {
        r->status = HDB_CONFLICT;
        snprintf(r->msg, sizeof r->msg,
                 "shard %u: the transaction's snapshot (ts %" PRIu64
                 ") is older than the versions kept (version_retention_ms)",
                 sh->id, r->ts);
        return NULL;
    }
    if (r->ts > sh->served_max) {
        sh->served_max = r->ts;
    }
    return v;
}

static void serve_get(struct shard *sh, struct req *r)
{
    struct hdb_version *v = read_version(sh, r);
    if (v != NULL) {
        struct hdb_err e = {0};
        r->status = hdb_store_get(sh->store, v, r->tree, r->key, r->klen, &r->val, &e);
        if (r->status != HDB_OK) {
            snprintf(r->msg, sizeof r->msg, "%s", e.msg);
        }
    }
    reply(sh, r);
}

static int rows_add(struct scan_rows *rows, const uint8_t *k, uint32_t klen, const uint8_t *v,
                    uint32_t vlen)
{
    size_t need = rows->len + 8 + klen + vlen;
    if (need > HDB_SCAN_REPLY_BYTES_MAX) {
        return HDB_TOOBIG;
    }
    if (need > rows->cap) {
        size_t cap = rows->cap == 0 ? 4096 : rows->cap;
        while (cap < need) {
            cap *= 2;
        }
        uint8_t *b = realloc(rows->buf, cap);
        if (b == NULL) {
            return HDB_NOMEM;
        }
        rows->buf = b;
        rows->cap = cap;
    }
    hdb_put32(rows->buf + rows->len, klen);
    hdb_put32(rows->buf + rows->len + 4, vlen);
    memcpy(rows->buf + rows->len + 8, k, klen);
    memcpy(rows->buf + rows->len + 8 + klen, v, vlen);
    rows->len = need;
    rows->count++;
    return HDB_OK;
}

static int scan_version(struct shard *sh, struct hdb_version *v, struct req *r, struct hdb_err *e)
{
    struct hdb_cursor c;
    int rc = hdb_store_cursor(sh->store, v, r->tree, &c, e);
    if (rc == HDB_NOTFOUND) {
        return HDB_OK; /* the tree did not exist at this snapshot */
    }
    if (rc != HDB_OK) {
        return rc;
    }
    struct hdb_buf val = {0};
    rc = hdb_cursor_seek(&c, r->key, r->klen, HDB_SEEK_GE, e);
    while (rc == HDB_OK && hdb_cursor_valid(&c) && r->rows.count < r->limit) {
        const uint8_t *k;
        uint32_t klen;
        hdb_cursor_key(&c, &k, &klen);
        if (r->hi != NULL && cmp_keys(k, klen, r->hi, r->hilen) >= 0) {
            break;
        }
        rc = hdb_cursor_value(&c, &val, e);
        if (rc == HDB_OK) {
            hdb_cursor_key(&c, &k, &klen);
            rc = rows_add(&r->rows, k, klen, val.data, (uint32_t)val.len);
            if (rc != HDB_OK) {
                rc = hdb_err_set(e, rc, "shard %u: scan reply over %u bytes", sh->id,
                                 HDB_SCAN_REPLY_BYTES_MAX);
            }
        }
        if (rc == HDB_OK) {
            rc = hdb_cursor_next(&c, e);
        }
    }
    hdb_buf_free(&val);
    hdb_cursor_close(&c);
    return rc == HDB_NOTFOUND ? HDB_OK : rc; /* the cursor ran off the end */
}

static void serve_scan(struct shard *sh, struct req *r)
{
    struct hdb_version *v = read_version(sh, r);
    if (v != NULL) {
        struct hdb_err e = {0};
        r->status = scan_version(sh, v, r, &e);
        if (r->status != HDB_OK) {
            snprintf(r->msg, sizeof r->msg, "%s", e.msg);
        }
    }
    reply(sh, r);
}

/* Pins the version a read at r->ts would see, durably, as snapshot r->snap. */
/* Async mode: logs the safe mark now (no I/O; the next flush carries it). */
static int mark_sync_point(struct shard *sh, struct hdb_err *err)
{
    uint64_t w = safe_mark(sh);
    int rc = w > sh->mark_logged ? hdb_store_mark(sh->store, w, err) : HDB_OK;
    if (rc == HDB_OK && w > sh->mark_logged) {
        sh->served_max = w > sh->served_max ? w : sh->served_max;
        sh->mark_logged = w;
    }
    return rc;
}

static void serve_snap_create(struct shard *sh, struct req *r)
{
    struct hdb_version *v = read_version(sh, r);
    if (v != NULL) {
        struct hdb_err e = {0};
        r->status = HDB_OK;
        if (!sh->sync) {
            /* The snapshot's record flushes this mark (>= its timestamp, as the read was
             * served): the async recovery cut can then never fall below the snapshot. */
            r->status = mark_sync_point(sh, &e);
        }
        if (r->status == HDB_OK) {
            r->status =
                hdb_store_snapshot_create(sh->store, v, r->snap, r->limit, r->created_ms, &e);
        }
        after_store(sh); /* the flush may have published a group */
        if (r->status != HDB_OK) {
            hdb_err_prefix(&e, "shard %u", sh->id);
            snprintf(r->msg, sizeof r->msg, "%s", e.msg);
        }
    }
    reply(sh, r);
}

/* One turn of a MSG_FOLD: up to HDB_FOLD_TURN_ROWS rows from r->key, then the turn's end call. */
static int fold_version(struct shard *sh, struct hdb_version *v, struct req *r, struct hdb_err *e)
{
    struct hdb_cursor c;
    int rc = hdb_store_cursor(sh->store, v, r->tree, &c, e);
    if (rc == HDB_NOTFOUND) {
        return HDB_OK; /* the tree did not exist at this snapshot */
    }
    if (rc != HDB_OK) {
        return rc;
    }
    struct hdb_buf val = {0};
    uint32_t n = 0;
    rc = hdb_cursor_seek(&c, r->key, r->klen, HDB_SEEK_GE, e);
    while (rc == HDB_OK && hdb_cursor_valid(&c)) {
        const uint8_t *k;
        uint32_t klen;
        hdb_cursor_key(&c, &k, &klen);
        if (r->hi != NULL && cmp_keys(k, klen, r->hi, r->hilen) >= 0) {
            break;
        }
        if (n == HDB_FOLD_TURN_ROWS) { /* the rest in the next turn, from this key */
            r->more = true;
            rc = hdb_buf_set(&r->val, k, klen);
            rc = rc == HDB_OK ? rc : hdb_err_set(e, rc, "out of memory");
            break;
        }
        rc = hdb_cursor_value(&c, &val, e);
        if (rc == HDB_OK) {
            hdb_cursor_key(&c, &k, &klen);
            rc = r->fold(r->fold_ctx, k, klen, val.data, (uint32_t)val.len, e);
            n++;
        }
        rc = rc == HDB_OK ? hdb_cursor_next(&c, e) : rc;
    }
    hdb_buf_free(&val);
    hdb_cursor_close(&c);
    rc = rc == HDB_NOTFOUND ? HDB_OK : rc; /* the cursor ran off the end */
    return rc == HDB_OK ? r->fold(r->fold_ctx, NULL, 0, NULL, 0, e) : rc;
}

static void serve_fold(struct shard *sh, struct req *r)
{
    struct hdb_version *v = read_version(sh, r);
    r->more = false;
    if (v != NULL) {
        struct hdb_err e = {0};
        r->status = fold_version(sh, v, r, &e);
        if (r->status != HDB_OK) {
            snprintf(r->msg, sizeof r->msg, "%s", e.msg);
        }
    }
    reply(sh, r);
}

static void serve_read(struct shard *sh, struct req *r)
{
    if (r->type == MSG_GET) {
        serve_get(sh, r);
    } else if (r->type == MSG_SCAN) {
        serve_scan(sh, r);
    } else if (r->type == MSG_FOLD) {
        serve_fold(sh, r);
    } else {
        serve_snap_create(sh, r);
    }
}

static void handle_read(struct shard *sh, struct req *r)
{
    if (r->snap == 0 || r->type == MSG_SNAP_CREATE) {
        if (!can_read(sh, r->ts)) {
            sh->st.reads_waited++;
            r->next_wait = sh->waiting;
            sh->waiting = r;
            return;
        }
    }
    serve_read(sh, r);
}

static void handle_commit1(struct shard *sh, struct req *r);
static void defer_commit(struct shard *sh, struct req *r);

/* The timestamp a waiting request waits for: a read's, or a commit's snapshot (below). */
static uint64_t wait_ts(const struct req *r)
{
    return r->type == MSG_COMMIT1 ? r->part.snapshot_ts : r->ts;
}

/* Serves the waiting reads and commits that can go now. */
static uint32_t serve_waiting(struct shard *sh)
{
    uint32_t served = 0;
    struct req **pp = &sh->waiting;
    while (*pp != NULL) {
        struct req *r = *pp;
        if (!can_read(sh, wait_ts(r))) {
            pp = &r->next_wait;
            continue;
        }
        *pp = r->next_wait;
        r->next_wait = NULL;
        if (r->type == MSG_COMMIT1) {
            handle_commit1(sh, r);
        } else {
            serve_read(sh, r);
        }
        served++;
    }
    return served;
}

/* --- single-shard commit --- */

/*
 * A single-shard commit gets a label above its transaction's snapshot, as if
 * it read there: a transaction begun after another was acknowledged then
 * commits after it in timestamp order too (even a blind write on another
 * shard), which snapshots and the async recovery cut rely on. Like such a
 * read it first waits for prepared transactions that could commit below.
 */
static void handle_commit1(struct shard *sh, struct req *r)
{
    if (sh->frozen) {
        defer_commit(sh, r);
        return;
    }
    struct hdb_err e = {0};
    struct hdb_write *w = NULL;
    int rc = validate(sh, &r->part, &e);
    if (rc == HDB_OK && !can_read(sh, r->part.snapshot_ts)) {
        /* Validated again when it goes: a conflict is reported without waiting. */
        sh->st.reads_waited++;
        r->next_wait = sh->waiting;
        sh->waiting = r;
        return;
    }
    if (rc == HDB_OK) {
        sh->served_max =
            r->part.snapshot_ts > sh->served_max ? r->part.snapshot_ts : sh->served_max;
        rc = part_writes(&r->part, &w, 0);
        if (rc != HDB_OK) {
            hdb_err_set(&e, rc, "out of memory");
        }
    }
    if (rc == HDB_OK) {
        uint64_t ts = wal_ts(sh, false);
        rc = store_commit(sh, w, r->part.nwrites, r->part.txn_id, ts, commit_done_store, r, &e);
        if (rc == HDB_OK && log_writes(sh, &r->part, TS_PENDING) != HDB_OK) {
            hdb_log(HDB_LOG_ERROR, "shard %u: out of memory logging a commit", sh->id);
            abort();
        }
        if (!sh->sync) {
            after_store(sh);
        }
    }
    free(w);
    if (rc != HDB_OK) {
        reply_err(sh, r, &e);
        return;
    }
    sh->st.commits_single++;
}

/* --- two-phase commit --- */

static int prepared_encode(const struct txn_part *p, const uint16_t *parts, uint32_t nparts,
                           uint64_t p_lower, struct hdb_buf *out, struct hdb_err *err);

static struct prepared *prepared_find(struct shard *sh, uint64_t txn, struct prepared ***link)
{
    struct prepared **pp = &sh->prepared;
    for (; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->txn == txn) {
            if (link != NULL) {
                *link = pp;
            }
            return *pp;
        }
    }
    return NULL;
}

static void prepared_remove(struct shard *sh, uint64_t txn)
{
    struct prepared **link = NULL;
    struct prepared *p = prepared_find(sh, txn, &link);
    if (p != NULL) {
        *link = p->next;
        free(p);
        sh->nprepared--;
    }
}

/* The apply of a prepared part cannot be refused once decided: its size is checked now (the
 * part's writes, the prepared record's delete and the applied marker, as apply_decided logs). */
static int apply_fits(struct shard *sh, const struct req *r, struct hdb_err *e)
{
    struct hdb_write *w = NULL;
    if (part_writes(&r->part, &w, 0) != HDB_OK) {
        return hdb_err_set(e, HDB_NOMEM, "out of memory");
    }
    uint64_t extra = hdb_wal_rec_bytes(8, 0) + hdb_wal_rec_bytes(9, 16 + 2 * HDB_SHARDS_MAX);
    int rc = hdb_store_commit_fits(sh->store, w, r->part.nwrites, extra, e);
    free(w);
    if (rc != HDB_OK) {
        hdb_err_prefix(e, "shard %u", sh->id);
    }
    return rc;
}

static void handle_prepare(struct shard *sh, struct req *r)
{
    struct hdb_err e = {0};
    struct hdb_buf val = {0};
    uint64_t p_lower = atomic_load(&sh->db->clock) + 1;
    int rc = validate(sh, &r->part, &e);
    rc = rc == HDB_OK ? apply_fits(sh, r, &e) : rc;
    if (rc == HDB_OK) {
        rc = prepared_encode(&r->part, r->participants, r->nparticipants, p_lower, &val, &e);
    }
    struct prepared *p = NULL;
    if (rc == HDB_OK) {
        p = calloc(1, sizeof *p);
        rc = p == NULL ? hdb_err_set(&e, HDB_NOMEM, "out of memory") : HDB_OK;
    }
    if (rc == HDB_OK) {
        uint8_t key[8];
        txn_key_bytes(r->part.txn_id, key);
        struct hdb_write w = {.type = HDB_WAL_PUT,
                              .tree = sh->t_prepared,
                              .key = key,
                              .klen = 8,
                              .val = val.data,
                              .vlen = (uint32_t)val.len};
        rc = store_commit(sh, &w, 1, r->part.txn_id, wal_ts(sh, true), commit_done_store, r, &e);
    }
    hdb_buf_free(&val);
    if (rc != HDB_OK) {
        free(p);
        reply_err(sh, r, &e);
        return;
    }
    r->out_ts = p_lower;
    *p = (struct prepared){
        .txn = r->part.txn_id, .p_lower = p_lower, .prepare_req = r, .next = sh->prepared};
    sh->prepared = p;
    sh->nprepared++;
    sh->st.prepares++;
    if (!sh->sync) {
        after_system_store(sh);
        sh->need_flush = true;
    }
}

static struct decision *decision_get(struct shard *sh, uint64_t txn)
{
    for (uint32_t i = 0; i < sh->ndecisions; i++) {
        if (sh->decisions[i].txn == txn) {
            return &sh->decisions[i];
        }
    }
    if (sh->ndecisions == sh->decisions_cap) {
        uint32_t cap = sh->decisions_cap == 0 ? 64 : sh->decisions_cap * 2;
        struct decision *d = realloc(sh->decisions, cap * sizeof *d);
        if (d == NULL) {
            return NULL; /* the markers stay until the next open clears them */
        }
        sh->decisions = d;
        sh->decisions_cap = cap;
    }
    struct decision *d = &sh->decisions[sh->ndecisions++];
    *d = (struct decision){.txn = txn};
    return d;
}

static void send_shard_msg(struct shard *sh, uint32_t to, uint32_t type, uint64_t txn);

/* Deletes this shard's applied marker of txn (a system commit; if lost, the next open does it). */
static void marker_delete(struct shard *sh, uint64_t txn)
{
    uint8_t key[9];
    marker_key(txn, key);
    struct hdb_write w = {.type = HDB_WAL_DELETE, .tree = sh->t_prepared, .key = key, .klen = 9};
    struct hdb_err e = {0};
    if (store_commit(sh, &w, 1, 0, wal_ts(sh, true), NULL, NULL, &e) != HDB_OK) {
        hdb_log(HDB_LOG_WARN, "shard %u: dropping marker %" PRIx64 ": %s", sh->id, txn, e.msg);
    } else {
        sh->st.markers_deleted++;
    }
    if (!sh->sync) {
        after_system_store(sh);
    }
}

/* Every participant's apply is durable: the markers (the coordinator's is the decision) go. */
static void decision_done(struct shard *sh, struct decision *d)
{
    for (uint32_t i = 0; i < d->total; i++) {
        if (d->participants[i] != sh->id) {
            send_shard_msg(sh, d->participants[i], MSG_CLEAN, d->txn);
        }
    }
    marker_delete(sh, d->txn);
    free(d->participants);
    *d = sh->decisions[--sh->ndecisions];
}

static void forget_local(struct shard *sh, uint64_t txn)
{
    struct decision *d = decision_get(sh, txn);
    if (d == NULL) {
        return;
    }
    d->forgotten++;
    if (d->total != 0 && d->forgotten >= d->total) {
        decision_done(sh, d);
    }
}

/* The coordinator learns the participants when it applies its own part. */
static void decision_start(struct shard *sh, const struct req *r)
{
    struct decision *d = decision_get(sh, r->part.txn_id);
    uint16_t *parts = d != NULL ? malloc(r->nparticipants * sizeof *parts) : NULL;
    if (parts == NULL) {
        return; /* the markers stay until the next open clears them */
    }
    memcpy(parts, r->participants, r->nparticipants * sizeof *parts);
    d->participants = parts;
    d->total = r->nparticipants;
    if (d->forgotten >= d->total) {
        decision_done(sh, d);
    }
}

static void send_shard_msg(struct shard *sh, uint32_t to, uint32_t type, uint64_t txn)
{
    struct hdb_msg m = {.type = type, .id = txn, .arg = {sh->id}};
    if (sh->noutbox > 0 || hdb_ring_push(shard_ring_from(sh->db->shards[to], sh->id), &m, 1) != 1) {
        if (sh->noutbox == SHARD_OUTBOX_MAX && type == MSG_CLEAN) {
            sh->st.cleans_dropped++; /* the marker stays until the next open clears it */
            return;
        }
        if (sh->noutbox == SHARD_OUTBOX_MAX) {
            hdb_log(HDB_LOG_ERROR, "shard %u: outbox full", sh->id);
            abort();
        }
        m.arg[1] = to;
        sh->outbox[sh->noutbox++] = m;
        return;
    }
    db_wake_thread(sh->db, shard_thread(sh->db->shards[to]));
}

/* The store made a participant's part of a multi-shard commit durable. */
static void applied_durable_store(void *ctx, int status, const char *msg)
{
    struct forget_ctx *f = ctx;
    if (status != HDB_OK) {
        /* The decision stays; recovery finishes the commit from it. */
        hdb_log(HDB_LOG_WARN, "shard %u: commit of %" PRIx64 " not durable here: %s", f->sh->id,
                f->txn, msg != NULL ? msg : "");
        free(f);
        return;
    }
    struct shard *sh = f->sh;
    if (!sh->sync) {
        /* Async mode acknowledges at apply: the coordinator may forget the decision only once
         * this part is on disk, or a crash could roll it back from its prepared record. */
        f->groups = hdb_store_flushed_groups(sh->store);
        if (sh->nlate == sh->late_cap) {
            uint32_t cap = sh->late_cap == 0 ? 64 : sh->late_cap * 2;
            struct forget_ctx **a = realloc(sh->late, cap * sizeof *a);
            if (a == NULL) {
                free(f); /* the decision stays until the next open finishes the commit */
                return;
            }
            sh->late = a;
            sh->late_cap = cap;
        }
        sh->late[sh->nlate++] = f;
        return;
    }
    /* Through the ring even to itself: the store is in the middle of a call here. */
    send_shard_msg(sh, f->coordinator, MSG_FORGET, f->txn);
    free(f);
}

/* Sends the FORGETs of async applies that a flushed group has made durable. */
static void send_late_forgets(struct shard *sh)
{
    uint64_t groups = hdb_store_flushed_groups(sh->store);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < sh->nlate; i++) {
        struct forget_ctx *f = sh->late[i];
        if (groups > f->groups) {
            send_shard_msg(sh, f->coordinator, MSG_FORGET, f->txn);
            free(f);
        } else {
            sh->late[keep++] = f;
        }
    }
    sh->nlate = keep;
}

/* May decided p be applied now? (See the top of the file.) */
static bool apply_allowed(const struct shard *sh, const struct prepared *p)
{
    for (const struct prepared *q = sh->prepared; q != NULL; q = q->next) {
        if (q == p) {
            continue;
        }
        if (!q->decided && q->p_lower <= p->commit_ts) {
            return false;
        }
        if (q->decided && q->commit_ts < p->commit_ts) {
            return false;
        }
    }
    return true;
}

static int apply_decided(struct shard *sh, struct prepared *p, struct hdb_err *e)
{
    if (sh->sync && sh->pending_fixed != 0 && sh->pending_fixed != p->commit_ts) {
        int rc = hdb_store_flush(sh->store, e);
        after_store(sh);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    const struct txn_part *part = &p->prepare_req->part;
    const struct req *cr = p->commit_req;
    struct hdb_write *w = NULL;
    if (part_writes(part, &w, 2) != HDB_OK) {
        return hdb_err_set(e, HDB_NOMEM, "out of memory");
    }
    uint8_t key[8], mkey[9], mval[16 + 2 * HDB_SHARDS_MAX];
    txn_key_bytes(p->txn, key);
    marker_key(p->txn, mkey);
    uint32_t mlen =
        marker_encode(p->commit_ts, part->coordinator, cr->participants, cr->nparticipants, mval);
    w[part->nwrites] =
        (struct hdb_write){.type = HDB_WAL_DELETE, .tree = sh->t_prepared, .key = key, .klen = 8};
    w[part->nwrites + 1] = (struct hdb_write){.type = HDB_WAL_PUT,
                                              .tree = sh->t_prepared,
                                              .key = mkey,
                                              .klen = 9,
                                              .val = mval,
                                              .vlen = mlen};
    struct forget_ctx *f = malloc(sizeof *f);
    int rc = HDB_NOMEM;
    if (f != NULL) {
        *f = (struct forget_ctx){.sh = sh, .txn = p->txn, .coordinator = part->coordinator};
        /* Async mode publishes inside the commit, so its label must be known before; in sync
         * mode the commit may first flush the previous group, which must not get it. */
        uint64_t fixed = sh->pending_fixed;
        sh->pending_fixed = sh->sync ? fixed : p->commit_ts;
        rc = store_commit(sh, w, part->nwrites + 2, p->txn, p->commit_ts, applied_durable_store, f,
                          e);
        sh->pending_fixed = rc == HDB_OK && sh->sync ? p->commit_ts : sh->pending_fixed;
        if (rc != HDB_OK) {
            sh->pending_fixed = fixed;
            free(f);
        }
    } else {
        hdb_err_set(e, rc, "out of memory");
    }
    free(w);
    if (rc == HDB_OK) {
        sh->st.markers_written++;
        log_writes(sh, part, p->commit_ts);
        if (!sh->sync) {
            after_store(sh);
        }
        sh->st.commits_2pc++;
    }
    return rc;
}

/* Applies the decided transactions that may go, in timestamp order. */
static uint32_t apply_ready(struct shard *sh)
{
    uint32_t applied = 0;
    for (;;) {
        struct prepared *best = NULL;
        for (struct prepared *p = sh->prepared; p != NULL; p = p->next) {
            if (p->decided && (best == NULL || p->commit_ts < best->commit_ts)) {
                best = p;
            }
        }
        if (best == NULL || !apply_allowed(sh, best) ||
            (sh->frozen && best->commit_ts > sh->last_label)) {
            return applied; /* a freeze keeps the label where it is (checkpoint_turn) */
        }
        struct hdb_err e = {0};
        struct req *r = best->commit_req;
        r->status = apply_decided(sh, best, &e);
        if (r->status != HDB_OK) {
            /* The decision is durable; a reopen finishes this commit. */
            snprintf(r->msg, sizeof r->msg, "%s", e.msg);
            hdb_log(HDB_LOG_ERROR, "shard %u: applying %" PRIx64 ": %s", sh->id, best->txn, e.msg);
        }
        prepared_remove(sh, best->txn);
        reply(sh, r);
        applied++;
    }
    return applied;
}

static void handle_commit2(struct shard *sh, struct req *r)
{
    struct prepared *p = prepared_find(sh, r->part.txn_id, NULL);
    if (p == NULL) {
        r->status = HDB_ERROR;
        snprintf(r->msg, sizeof r->msg, "shard %u: no prepared transaction %" PRIx64, sh->id,
                 r->part.txn_id);
        reply(sh, r);
        return;
    }
    p->decided = true;
    p->commit_ts = r->ts;
    p->commit_req = r;
    if (r->part.coordinator == sh->id) {
        decision_start(sh, r);
    }
    apply_ready(sh);
}

/* Rolls back a prepared part; the deletion is durable before the reply (see conn.c). */
static void handle_abort2(struct shard *sh, struct req *r)
{
    r->status = HDB_OK;
    if (prepared_find(sh, r->part.txn_id, NULL) != NULL) {
        prepared_remove(sh, r->part.txn_id);
        uint8_t key[8];
        txn_key_bytes(r->part.txn_id, key);
        struct hdb_write w = {
            .type = HDB_WAL_DELETE, .tree = sh->t_prepared, .key = key, .klen = 8};
        struct hdb_err e = {0};
        int rc = store_commit(sh, &w, 1, 0, wal_ts(sh, true), NULL, NULL, &e);
        if (!sh->sync) {
            after_system_store(sh);
        }
        if (rc == HDB_OK) {
            rc = hdb_store_flush(sh->store, &e);
            after_store(sh);
        }
        if (rc != HDB_OK) {
            r->status = rc;
            hdb_err_prefix(&e, "shard %u: rolling back %" PRIx64, sh->id, r->part.txn_id);
            snprintf(r->msg, sizeof r->msg, "%s", e.msg);
        }
        sh->st.aborts_2pc++;
        apply_ready(sh); /* decided ones may have waited for this one */
    }
    reply(sh, r);
}

/* --- other messages --- */

static void handle_tree(struct shard *sh, struct req *r)
{
    struct hdb_err e = {0};
    int rc = hdb_store_tree_find(sh->store, r->name, &r->tree, &e);
    if (rc == HDB_NOTFOUND && r->create) {
        rc = hdb_store_tree_create(sh->store, r->name, &r->tree, &e);
    }
    after_store(sh);
    r->status = rc;
    if (rc != HDB_OK) {
        hdb_err_prefix(&e, "shard %u", sh->id);
        snprintf(r->msg, sizeof r->msg, "%s", e.msg);
    }
    reply(sh, r);
}

static void handle_tree_drop(struct shard *sh, struct req *r)
{
    struct hdb_err e = {0};
    int rc = hdb_store_tree_drop(sh->store, r->name, &e);
    after_store(sh);
    r->status = rc;
    if (rc != HDB_OK && rc != HDB_NOTFOUND) {
        hdb_err_prefix(&e, "shard %u", sh->id);
        snprintf(r->msg, sizeof r->msg, "%s", e.msg);
    }
    reply(sh, r);
}

static void answer_checkpoint(struct shard *sh, struct req *r, int rc, const struct hdb_err *e)
{
    r->status = rc;
    if (rc != HDB_OK) {
        struct hdb_err copy = *e;
        hdb_err_prefix(&copy, "shard %u", sh->id);
        snprintf(r->msg, sizeof r->msg, "%s", copy.msg);
    }
    reply(sh, r);
}

/* Sync mode checkpoints at once (as the store's poll would); async mode through the freeze. */
static void handle_checkpoint(struct shard *sh, struct req *r)
{
    if (!sh->sync) {
        r->next_wait = sh->ckpt_waiters;
        sh->ckpt_waiters = r;
        return;
    }
    struct hdb_err e = {0};
    int rc = hdb_store_checkpoint(sh->store, &e);
    after_store(sh);
    answer_checkpoint(sh, r, rc, &e);
}

/* Pages a shard moves per MSG_COMPACT before it serves others again. */
#define COMPACT_TURN_PAGES 2048u

/* Compaction: the pending group is flushed (and labelled as commits are), then pages move and
 * the same contents are published as a system version. out_ts: pages moved; more: some left. */
static void handle_compact(struct shard *sh, struct req *r)
{
    struct hdb_err e = {0};
    int rc = HDB_OK;
    if (sh->sync) {
        rc = hdb_store_flush(sh->store, &e);
        after_store(sh);
    }
    uint32_t moved = 0;
    bool more = false;
    rc = rc == HDB_OK ? hdb_store_compact(sh->store, COMPACT_TURN_PAGES, &moved, &more, &e) : rc;
    after_system_store(sh);
    r->out_ts = moved;
    r->more = more;
    r->status = rc;
    if (rc != HDB_OK) {
        hdb_err_prefix(&e, "shard %u", sh->id);
        snprintf(r->msg, sizeof r->msg, "%s", e.msg);
    }
    reply(sh, r);
}

static void handle_stats(struct shard *sh, struct req *r)
{
    *r->stats = sh->st;
    hdb_store_get_stats(sh->store, &r->stats->store);
    r->stats->versions_held = sh->vcount;
    r->stats->prepared_now = sh->nprepared;
    r->stats->recent_writes = sh->log_count;
    /* What waits in the rings into this shard now (this request already taken out). */
    uint64_t depth = 0;
    uint32_t slots = atomic_load(&sh->db->conn_slots);
    for (uint32_t i = 0; i < slots; i++) {
        struct hdb_conn *c = atomic_load(&sh->db->conns[i]);
        depth += c != NULL ? hdb_ring_depth(&c->to_shard[sh->id]) : 0;
    }
    for (uint32_t j = 0; j < sh->db->nshards; j++) {
        depth += hdb_ring_depth(shard_ring_from(sh, j));
    }
    r->stats->ring_depth = depth;
    r->status = HDB_OK;
    reply(sh, r);
}

static void handle_verify(struct shard *sh, struct req *r)
{
    struct hdb_err e = {0};
    r->status = hdb_store_verify(sh->store, r->problem, r->problem_ctx, r->verify, &e);
    if (r->status != HDB_OK) {
        snprintf(r->msg, sizeof r->msg, "%s", e.msg);
    }
    after_store(sh); /* the verification's checkpoint flushed the pending group */
    reply(sh, r);
}

static void handle_snap_drop(struct shard *sh, struct req *r)
{
    struct hdb_err e = {0};
    r->status = hdb_store_snapshot_drop(sh->store, r->snap, &e);
    after_store(sh);
    if (r->status != HDB_OK) {
        hdb_err_prefix(&e, "shard %u", sh->id);
        snprintf(r->msg, sizeof r->msg, "%s", e.msg);
    }
    reply(sh, r);
}

/* The user trees of a snapshot, for a backup: rows of name -> tree id (4 bytes). */
static void handle_snap_trees(struct shard *sh, struct req *r)
{
    struct hdb_version *v = read_version(sh, r);
    if (v != NULL) {
        r->status = HDB_OK;
        for (uint32_t id = 1; id < hdb_version_trees(v) && r->status == HDB_OK; id++) {
            const char *name = hdb_store_tree_name(sh->store, id);
            if (!hdb_version_has_tree(v, id) || name == NULL || strncmp(name, "_sys.", 5) == 0) {
                continue;
            }
            uint8_t idb[4];
            hdb_put32(idb, id);
            r->status = rows_add(&r->rows, (const uint8_t *)name, (uint32_t)strlen(name), idb, 4);
        }
    }
    reply(sh, r);
}

static void defer_commit(struct shard *sh, struct req *r)
{
    r->next_wait = NULL;
    if (sh->deferred_tail != NULL) {
        sh->deferred_tail->next_wait = r;
    } else {
        sh->deferred = r;
    }
    sh->deferred_tail = r;
}

static void handle(struct shard *sh, const struct hdb_msg *m)
{
    if (m->type == MSG_FORGET) {
        forget_local(sh, m->id);
        return;
    }
    if (m->type == MSG_CLEAN) {
        marker_delete(sh, m->id);
        return;
    }
    struct req *r = m->payload;
    switch (m->type) {
    case MSG_GET:
    case MSG_SCAN:
    case MSG_FOLD:
    case MSG_SNAP_CREATE:
        handle_read(sh, r);
        break;
    case MSG_SNAP_DROP:
        handle_snap_drop(sh, r);
        break;
    case MSG_TREE_DROP:
        handle_tree_drop(sh, r);
        break;
    case MSG_CHECKPOINT:
        handle_checkpoint(sh, r);
        break;
    case MSG_COMPACT:
        handle_compact(sh, r);
        break;
    case MSG_SNAP_TREES:
        handle_snap_trees(sh, r);
        break;
    case MSG_COMMIT1:
        handle_commit1(sh, r);
        break;
    case MSG_PREPARE:
        handle_prepare(sh, r);
        break;
    case MSG_COMMIT2:
        handle_commit2(sh, r);
        break;
    case MSG_ABORT2:
        handle_abort2(sh, r);
        break;
    case MSG_TREE:
        handle_tree(sh, r);
        break;
    case MSG_STATS:
        handle_stats(sh, r);
        break;
    case MSG_VERIFY:
        handle_verify(sh, r);
        break;
    default:
        hdb_log(HDB_LOG_ERROR, "shard %u: unknown message type %u", sh->id, m->type);
        abort();
    }
}

/* --- the loop turn --- */

static uint32_t drain(struct shard *sh, struct hdb_ring *ring)
{
    struct hdb_msg batch[SHARD_DRAIN_MAX];
    uint32_t n = hdb_ring_pop(ring, batch, SHARD_DRAIN_MAX);
    for (uint32_t i = 0; i < n; i++) {
        handle(sh, &batch[i]);
    }
    return n;
}

static void retry_outbox(struct shard *sh)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < sh->noutbox; i++) {
        struct hdb_msg m = sh->outbox[i];
        uint32_t to = (uint32_t)m.arg[1];
        if (kept == 0 && hdb_ring_push(shard_ring_from(sh->db->shards[to], sh->id), &m, 1) == 1) {
            db_wake_thread(sh->db, shard_thread(sh->db->shards[to]));
            continue;
        }
        sh->outbox[kept++] = m;
    }
    sh->noutbox = kept;
}

/* Sends the replies whose commits are now labelled (and, in async mode, durable if they must be).
 */
static void send_acks(struct shard *sh)
{
    if (sh->need_flush) {
        struct hdb_err e = {0};
        int rc = hdb_store_flush(sh->store, &e);
        after_store(sh);
        sh->need_flush = false;
        for (uint32_t i = 0; rc != HDB_OK && i < sh->nacks; i++) {
            struct req *r = sh->acks[i];
            if (r->type == MSG_PREPARE && r->status == HDB_OK) {
                r->status = rc;
                snprintf(r->msg, sizeof r->msg, "%s", e.msg);
            }
        }
    }
    for (uint32_t i = 0; i < sh->nacks; i++) {
        struct req *r = sh->acks[i];
        if (r->type == MSG_PREPARE && r->status != HDB_OK) {
            prepared_remove(sh, r->part.txn_id);
        }
        reply(sh, r);
    }
    sh->nacks = 0;
}

/* --- async mode: watermarks and checkpoints --- */

/*
 * The largest timestamp this shard can promise: every commit it will publish
 * later gets a larger label. Prepared transactions bound it: an undecided one
 * may still commit at its p_lower, a decided one not yet applied at its D.
 */
static uint64_t safe_mark(const struct shard *sh)
{
    uint64_t w = atomic_load(&sh->db->clock);
    for (const struct prepared *p = sh->prepared; p != NULL; p = p->next) {
        uint64_t at = p->decided ? p->commit_ts : p->p_lower;
        w = at - 1 < w ? at - 1 : w;
    }
    return w;
}

/* Logs a mark every async flush interval while the clock moves (the store flushes it). */
static void log_mark(struct shard *sh, uint64_t now_ns)
{
    if (now_ns < sh->mark_at_ns) {
        return;
    }
    sh->mark_at_ns = now_ns + (uint64_t)sh->db->opts.store.async_flush_interval_us * 1000;
    uint64_t before = sh->mark_logged;
    struct hdb_err e = {0};
    if (mark_sync_point(sh, &e) != HDB_OK) {
        hdb_log_once(HDB_LOG_ERROR, "shard %u: %s", sh->id, e.msg);
    } else if (sh->mark_logged > before) {
        sh->poll_at_ns = now_ns; /* the store's poll schedules the flush */
    }
}

static uint64_t marks_min(const struct hdb_db *db)
{
    uint64_t g = UINT64_MAX;
    for (uint32_t k = 0; k < db->nshards; k++) {
        uint64_t m = atomic_load_explicit(&db->shards[k]->durable_mark, memory_order_acquire);
        g = m < g ? m : g;
    }
    return g;
}

static void unfreeze(struct shard *sh)
{
    sh->frozen = false;
    atomic_store(&sh->db->ckpt_owner, UINT32_MAX);
    apply_ready(sh);
    while (sh->deferred != NULL && !sh->frozen) {
        struct req *r = sh->deferred;
        sh->deferred = r->next_wait;
        sh->deferred_tail = sh->deferred != NULL ? sh->deferred_tail : NULL;
        handle_commit1(sh, r);
    }
}

/*
 * An async-mode checkpoint may hold only commits every shard has durably
 * passed, or a crash could leave the recovery cut below it. When one is due,
 * the shard (one at a time) freezes: its label stays where it is (single-shard
 * commits wait, and so do multi-shard applies above the label; prepares,
 * applies at the label and reads go on, so every prepared transaction
 * anywhere can still reach its decision and no shard's mark is held below
 * the label for long), and once every shard's durable mark reaches the label
 * it checkpoints. A freeze that does not finish within SHARD_FREEZE_MAX_NS is
 * given up and retried later.
 */
static void checkpoint_turn(struct shard *sh, uint64_t now_ns)
{
    if (!sh->frozen) {
        uint32_t none = UINT32_MAX;
        if (now_ns >= sh->ckpt_retry_ns &&
            (hdb_store_checkpoint_due(sh->store) || sh->ckpt_waiters != NULL) &&
            atomic_compare_exchange_strong(&sh->db->ckpt_owner, &none, sh->id)) {
            sh->frozen = true;
            sh->frozen_since_ns = now_ns;
            sh->st.freezes++;
        }
        return;
    }
    if (marks_min(sh->db) >= sh->last_label) {
        struct hdb_err e = {0};
        int rc = hdb_store_checkpoint(sh->store, &e);
        if (rc != HDB_OK) {
            hdb_log_once(HDB_LOG_ERROR, "shard %u: %s", sh->id, e.msg);
        }
        while (sh->ckpt_waiters != NULL) {
            struct req *w = sh->ckpt_waiters;
            sh->ckpt_waiters = w->next_wait;
            answer_checkpoint(sh, w, rc, &e);
        }
        uint64_t us = (now_ns - sh->frozen_since_ns) / 1000;
        sh->st.freeze_us_max = us > sh->st.freeze_us_max ? us : sh->st.freeze_us_max;
        unfreeze(sh);
    } else if (now_ns - sh->frozen_since_ns > SHARD_FREEZE_MAX_NS) {
        hdb_log(HDB_LOG_WARN, "shard %u: checkpoint put off: not every shard passed %" PRIu64,
                sh->id, sh->last_label);
        sh->ckpt_retry_ns = now_ns + SHARD_FREEZE_MAX_NS;
        sh->st.freezes_given_up++;
        unfreeze(sh);
    }
}

uint32_t shard_turn(struct shard *sh, uint64_t now_ns, uint64_t *next_ns)
{
    uint32_t work = 0;
    if (sh->noutbox > 0) {
        retry_outbox(sh);
    }
    for (uint32_t j = 0; j < sh->db->nshards; j++) {
        work += drain(sh, &sh->in[j]);
    }
    uint32_t slots = atomic_load_explicit(&sh->db->conn_slots, memory_order_acquire);
    for (uint32_t i = 0; i < slots; i++) {
        struct hdb_conn *c = atomic_load_explicit(&sh->db->conns[i], memory_order_acquire);
        if (c != NULL) {
            work += drain(sh, &c->to_shard[sh->id]);
        }
    }
    if (!sh->sync) {
        log_mark(sh, now_ns);
    }
    if (now_ns >= sh->poll_at_ns || work > 0) {
        struct hdb_err e = {0};
        uint64_t next = UINT64_MAX;
        if (hdb_store_poll(sh->store, now_ns, &next, &e) != HDB_OK) {
            hdb_log_once(HDB_LOG_ERROR, "shard %u: %s", sh->id, e.msg);
        }
        sh->poll_at_ns = next;
        after_store(sh);
        atomic_store_explicit(&sh->durable_mark, hdb_store_durable_mark(sh->store),
                              memory_order_release);
    }
    if (!sh->sync) {
        checkpoint_turn(sh, now_ns);
    }
    work += apply_ready(sh);
    send_acks(sh);
    if (sh->nlate > 0) {
        send_late_forgets(sh);
    }
    work += serve_waiting(sh);
    versions_expire(sh, now_ns);
    *next_ns = sh->poll_at_ns;
    if ((sh->waiting != NULL || sh->frozen || sh->ckpt_waiters != NULL) &&
        *next_ns > now_ns + 1000000) {
        *next_ns = now_ns + 1000000; /* a waiting read or a freeze re-checks every millisecond */
    }
    if (!sh->sync && *next_ns > sh->mark_at_ns) {
        *next_ns = sh->mark_at_ns;
    }
    return work;
}

/* Nothing in flight. Prepared transactions may remain (their caller failed): the next open
 * resolves them from their decision. */
bool shard_idle(const struct shard *sh)
{
    return sh->waiting == NULL && sh->deferred == NULL && sh->noutbox == 0 && sh->nacks == 0 &&
           hdb_store_pending_commits(sh->store) == 0;
}

/* --- life cycle --- */

int shard_create(struct hdb_db *db, uint32_t id, struct shard **out, struct hdb_err *err)
{
    struct shard *sh = calloc(1, sizeof *sh);
    if (sh == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory for shard %u", id);
    }
    sh->db = db;
    sh->id = id;
    sh->thread = id % db->nthreads;
    sh->sync = db->opts.store.wal_mode == HDB_WAL_SYNC;
    sh->log = calloc(SHARD_LOG_ENTRIES, sizeof *sh->log);
    sh->in = calloc(db->nshards, sizeof *sh->in);
    if (asprintf(&sh->dir, "%s/shard-%u", db->path, id) < 0) {
        sh->dir = NULL;
    }
    if (sh->log == NULL || sh->in == NULL || sh->dir == NULL) {
        shard_free(sh);
        return hdb_err_set(err, HDB_NOMEM, "out of memory for shard %u", id);
    }
    for (uint32_t j = 0; j < db->nshards; j++) {
        int rc = hdb_ring_init(&sh->in[j], SHARD_RING_CAPACITY, err);
        if (rc != HDB_OK) {
            shard_free(sh);
            return rc;
        }
    }
    *out = sh;
    return HDB_OK;
}

static int system_tree(struct shard *sh, const char *name, uint32_t *id, struct hdb_err *err)
{
    int rc = hdb_store_tree_find(sh->store, name, id, err);
    if (rc == HDB_NOTFOUND) {
        rc = hdb_store_tree_create(sh->store, name, id, err);
    }
    return rc;
}

static int shard_open_at(struct shard *sh, bool cut, uint64_t cut_ts, struct hdb_err *err)
{
    struct hdb_store_opts o = sh->db->opts.store;
    o.lock = false; /* the database's LOCK covers every shard */
    o.cache_bytes = o.cache_bytes / sh->db->nshards;
    o.checkpoint_by_owner = !sh->sync; /* checkpoint_turn */
    o.replay_cut = cut;
    o.replay_ts_max = cut_ts;
    struct hdb_recovery_info *info = &sh->rinfo;
    int rc = hdb_store_open(sh->dir, &o, &sh->store, info, err);
    if (rc != HDB_OK) {
        return hdb_err_prefix(err, "shard %u", sh->id);
    }
    sh->recovery_ns += info->duration_ns;
    sh->replayed_records = info->wal.records;
    sh->mark_logged = info->mark;
    atomic_store(&sh->durable_mark, info->mark);
    rc = system_tree(sh, SYS_PREPARED_TREE, &sh->t_prepared, err);
    if (rc == HDB_OK) {
        rc = system_tree(sh, SYS_DECISIONS_TREE, &sh->t_decisions, err);
    }
    if (rc != HDB_OK) {
        return hdb_err_prefix(err, "shard %u", sh->id);
    }
    return HDB_OK;
}

int shard_open(struct shard *sh, struct hdb_err *err)
{
    return shard_open_at(sh, false, 0, err);
}

const struct hdb_recovery_info *shard_recovery_info(const struct shard *sh)
{
    return &sh->rinfo;
}

int shard_reopen_cut(struct shard *sh, uint64_t cut_ts, struct hdb_err *err)
{
    for (uint32_t i = 0; i < sh->vcount; i++) {
        hdb_store_version_release(sh->store, sh->vers[(sh->vfirst + i) % SHARD_VERSIONS_MAX].v);
    }
    sh->vcount = 0;
    hdb_store_abandon(sh->store);
    sh->store = NULL;
    return shard_open_at(sh, true, cut_ts, err);
}

/* Async mode: logs the mark `ts` (or the safe one below it) and makes it durable now. */
int shard_mark_now(struct shard *sh, uint64_t ts, struct hdb_err *err)
{
    if (sh->sync) {
        return HDB_OK;
    }
    uint64_t w = safe_mark(sh);
    w = ts < w ? ts : w;
    int rc = hdb_store_mark(sh->store, w, err);
    if (rc == HDB_OK) {
        rc = hdb_store_flush(sh->store, err);
    }
    if (rc == HDB_OK) {
        sh->mark_logged = w > sh->mark_logged ? w : sh->mark_logged;
        sh->served_max = w > sh->served_max ? w : sh->served_max;
        atomic_store(&sh->durable_mark, hdb_store_durable_mark(sh->store));
    }
    return rc;
}

uint64_t shard_last_ts(const struct shard *sh)
{
    struct hdb_store_stats st;
    hdb_store_get_stats(sh->store, &st);
    return st.last_commit_ts;
}

void shard_recover_label(struct shard *sh, uint64_t clock)
{
    sh->pub_gen = hdb_store_published_gen(sh->store);
    sh->last_label = clock;
    sh->served_max = clock;
    versions_push(sh, clock);
}

int shard_each_prepared(struct shard *sh, shard_prepared_fn fn, void *ctx, struct hdb_err *err)
{
    struct hdb_cursor c;
    int rc = hdb_store_cursor(sh->store, NULL, sh->t_prepared, &c, err);
    if (rc != HDB_OK) {
        return rc;
    }
    struct hdb_buf val = {0};
    rc = hdb_cursor_first(&c, err);
    while (rc == HDB_OK && hdb_cursor_valid(&c)) {
        const uint8_t *k;
        uint32_t klen;
        rc = hdb_cursor_value(&c, &val, err);
        hdb_cursor_key(&c, &k, &klen);
        bool marker = klen == 9 && k[8] == 1;
        if (rc == HDB_OK && ((klen != 8 && !marker) || val.len < 8)) {
            rc = hdb_err_set(err, HDB_CORRUPT, "shard %u: malformed prepared record", sh->id);
        }
        if (rc == HDB_OK) {
            uint64_t txn = 0;
            for (int i = 0; i < 8; i++) {
                txn = txn << 8 | k[i];
            }
            uint32_t coordinator = marker ? hdb_get32(val.data + 8) : hdb_get32(val.data);
            rc = fn(ctx, sh, txn, marker, coordinator, val.data, (uint32_t)val.len);
        }
        if (rc == HDB_OK) {
            rc = hdb_cursor_next(&c, err);
        }
    }
    hdb_buf_free(&val);
    hdb_cursor_close(&c);
    return rc == HDB_NOTFOUND ? HDB_OK : rc;
}

int shard_find_decision(struct shard *sh, uint64_t txn, uint64_t *commit_ts, struct hdb_err *err)
{
    uint8_t key[8];
    txn_key_bytes(txn, key);
    struct hdb_buf val = {0};
    int rc = hdb_store_get(sh->store, NULL, sh->t_decisions, key, 8, &val, err);
    if (rc == HDB_OK) {
        if (val.len < 12) {
            rc = hdb_err_set(err, HDB_CORRUPT, "shard %u: malformed decision record", sh->id);
        } else {
            *commit_ts = hdb_get64(val.data);
        }
    }
    hdb_buf_free(&val);
    return rc;
}

/*
 * Prepared value: [u32 coordinator][u32 n] then per write [u8 del][u32 tree][u32 klen][u32 vlen]
 * [key][val], then the trailer: [u16 participant] * m, [u32 m], [u64 p_lower], [u32 "PRP2"].
 * Records written before the trailer existed have none (their commit needs a decision record).
 */
#define PREPARED_TRAILER_MAGIC 0x32505250u /* "PRP2" */

static int prepared_encode(const struct txn_part *p, const uint16_t *parts, uint32_t nparts,
                           uint64_t p_lower, struct hdb_buf *out, struct hdb_err *err)
{
    size_t len = 8 + 2 * (size_t)nparts + 16;
    for (uint32_t i = 0; i < p->nwrites; i++) {
        len += 13 + (size_t)p->writes[i]->k.klen + p->writes[i]->vlen;
    }
    if (len > (16u << 20)) {
        return hdb_err_set(err, HDB_TOOBIG,
                           "a multi-shard transaction writes over 16 MiB to one "
                           "shard");
    }
    if (hdb_buf_reserve(out, len) != HDB_OK) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    uint8_t *b = out->data;
    hdb_put32(b, p->coordinator);
    hdb_put32(b + 4, p->nwrites);
    size_t at = 8;
    for (uint32_t i = 0; i < p->nwrites; i++) {
        const struct txn_write *w = p->writes[i];
        b[at] = w->del ? 1 : 0;
        hdb_put32(b + at + 1, w->k.tree);
        hdb_put32(b + at + 5, w->k.klen);
        hdb_put32(b + at + 9, w->vlen);
        memcpy(b + at + 13, w->k.key, w->k.klen);
        if (w->vlen > 0) {
            memcpy(b + at + 13 + w->k.klen, w->val, w->vlen);
        }
        at += 13 + (size_t)w->k.klen + w->vlen;
    }
    for (uint32_t i = 0; i < nparts; i++) {
        hdb_put16(b + at + 2 * i, parts[i]);
    }
    at += 2 * (size_t)nparts;
    hdb_put32(b + at, nparts);
    hdb_put64(b + at + 4, p_lower);
    hdb_put32(b + at + 12, PREPARED_TRAILER_MAGIC);
    out->len = len;
    return HDB_OK;
}

/* Decodes the writes (into a malloc'd array with one spare slot); *end: where they stop. */
static int prepared_writes(const uint8_t *b, uint32_t len, struct hdb_write **out, uint32_t *n,
                           size_t *end)
{
    if (len < 8) {
        return HDB_CORRUPT;
    }
    uint32_t count = hdb_get32(b + 4);
    if (count > HDB_TXN_WRITES_MAX) {
        return HDB_CORRUPT;
    }
    struct hdb_write *w = calloc((size_t)count + 1, sizeof *w);
    if (w == NULL) {
        return HDB_NOMEM;
    }
    size_t at = 8;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t klen = at + 13 <= len ? hdb_get32(b + at + 5) : 0;
        uint32_t vlen = at + 13 <= len ? hdb_get32(b + at + 9) : 0;
        if (at + 13 > len || at + 13 + (size_t)klen + vlen > len) {
            free(w);
            return HDB_CORRUPT;
        }
        w[i] = (struct hdb_write){.type = b[at] ? HDB_WAL_DELETE : HDB_WAL_PUT,
                                  .tree = hdb_get32(b + at + 1),
                                  .key = b + at + 13,
                                  .klen = klen,
                                  .val = b + at + 13 + klen,
                                  .vlen = vlen};
        at += 13 + (size_t)klen + vlen;
    }
    *out = w;
    *n = count;
    *end = at;
    return HDB_OK;
}

static int prepared_decode(const uint8_t *b, uint32_t len, struct hdb_write **out, uint32_t *n)
{
    size_t end = 0;
    return prepared_writes(b, len, out, n, &end);
}

int shard_prepared_trailer(const uint8_t *b, uint32_t len, struct prepared_trailer *t)
{
    struct hdb_write *w = NULL;
    uint32_t n = 0;
    size_t end = 0;
    int rc = prepared_writes(b, len, &w, &n, &end);
    free(w);
    if (rc != HDB_OK) {
        return rc;
    }
    t->present = false;
    if (len - end < 16 || hdb_get32(b + len - 4) != PREPARED_TRAILER_MAGIC) {
        return len == end ? HDB_OK : HDB_CORRUPT;
    }
    uint32_t m = hdb_get32(b + len - 16);
    if (m == 0 || m > HDB_SHARDS_MAX || end + 2 * (size_t)m + 16 != len) {
        return HDB_CORRUPT;
    }
    t->present = true;
    t->p_lower = hdb_get64(b + len - 12);
    t->nparts = m;
    for (uint32_t i = 0; i < m; i++) {
        t->parts[i] = hdb_get16(b + end + 2 * i);
    }
    return HDB_OK;
}

int shard_marker_decode(const uint8_t *b, uint32_t len, struct prepared_trailer *t)
{
    if (len < 16) {
        return HDB_CORRUPT;
    }
    uint32_t m = hdb_get32(b + 12);
    if (m == 0 || m > HDB_SHARDS_MAX || len != 16 + 2 * m) {
        return HDB_CORRUPT;
    }
    t->present = true;
    t->p_lower = hdb_get64(b); /* the commit timestamp */
    t->nparts = m;
    for (uint32_t i = 0; i < m; i++) {
        t->parts[i] = hdb_get16(b + 16 + 2 * i);
    }
    return HDB_OK;
}

int shard_resolve_prepared(struct shard *sh, uint64_t txn, const uint8_t *val, uint32_t vlen,
                           bool commit, uint64_t commit_ts, struct hdb_err *err)
{
    struct hdb_write *w = NULL;
    uint32_t n = 0;
    int rc = prepared_decode(val, vlen, &w, &n);
    if (rc != HDB_OK) {
        return hdb_err_set(err, rc, "shard %u: prepared transaction %" PRIx64 " is malformed",
                           sh->id, txn);
    }
    uint8_t key[8];
    txn_key_bytes(txn, key);
    struct hdb_write del = {.type = HDB_WAL_DELETE, .tree = sh->t_prepared, .key = key, .klen = 8};
    if (commit) {
        w[n++] = del;
        rc = hdb_store_commit(sh->store, w, n, txn, commit_ts, NULL, NULL, err);
    } else {
        rc = hdb_store_commit(sh->store, &del, 1, txn, 0, NULL, NULL, err);
    }
    free(w);
    if (rc == HDB_OK) {
        rc = hdb_store_flush(sh->store, err);
    }
    return rc != HDB_OK ? hdb_err_prefix(err, "shard %u: resolving %" PRIx64, sh->id, txn) : rc;
}

static int clear_tree_keys(struct shard *sh, uint32_t tree, uint32_t want_klen,
                           struct hdb_err *err);

int shard_clear_decisions(struct shard *sh, struct hdb_err *err)
{
    int rc = clear_tree_keys(sh, sh->t_decisions, 8, err);
    return rc == HDB_OK ? clear_tree_keys(sh, sh->t_prepared, 9, err) : rc;
}

/* Deletes every key of `klen` bytes in a system tree, durably. */
static int clear_tree_keys(struct shard *sh, uint32_t tree, uint32_t want_klen, struct hdb_err *err)
{
    struct hdb_cursor c;
    int rc = hdb_store_cursor(sh->store, NULL, tree, &c, err);
    if (rc != HDB_OK) {
        return rc;
    }
    uint8_t(*keys)[9] = NULL;
    uint32_t n = 0, cap = 0;
    rc = hdb_cursor_first(&c, err);
    while (rc == HDB_OK && hdb_cursor_valid(&c)) {
        const uint8_t *k;
        uint32_t klen;
        hdb_cursor_key(&c, &k, &klen);
        if (klen == want_klen) {
            if (n == cap) {
                cap = cap == 0 ? 64 : cap * 2;
                void *nk = realloc(keys, cap * sizeof *keys);
                if (nk == NULL) {
                    rc = hdb_err_set(err, HDB_NOMEM, "out of memory");
                    break;
                }
                keys = nk;
            }
            memcpy(keys[n++], k, klen);
        }
        rc = hdb_cursor_next(&c, err);
    }
    hdb_cursor_close(&c);
    rc = rc == HDB_NOTFOUND ? HDB_OK : rc;
    for (uint32_t i = 0; rc == HDB_OK && i < n; i++) {
        struct hdb_write w = {
            .type = HDB_WAL_DELETE, .tree = tree, .key = keys[i], .klen = want_klen};
        rc = hdb_store_commit(sh->store, &w, 1, 0, 0, NULL, NULL, err);
    }
    free(keys);
    if (rc == HDB_OK && n > 0) {
        rc = hdb_store_flush(sh->store, err);
    }
    return rc;
}

int shard_close(struct shard *sh, struct hdb_err *err)
{
    for (uint32_t i = 0; i < sh->vcount; i++) {
        hdb_store_version_release(sh->store, sh->vers[(sh->vfirst + i) % SHARD_VERSIONS_MAX].v);
    }
    sh->vcount = 0;
    int rc = HDB_OK;
    if (sh->store != NULL) {
        rc = hdb_store_close(sh->store, err);
        sh->store = NULL;
    }
    return rc;
}

void shard_free(struct shard *sh)
{
    if (sh == NULL) {
        return;
    }
    for (uint32_t i = 0; sh->log != NULL && i < sh->log_count; i++) {
        free(sh->log[(sh->log_first + i) % SHARD_LOG_ENTRIES].key);
    }
    for (uint32_t i = 0; i < sh->nlate; i++) {
        free(sh->late[i]); /* their decisions stay: the next open clears them */
    }
    free(sh->late);
    for (uint32_t j = 0; sh->in != NULL && j < sh->db->nshards; j++) {
        hdb_ring_destroy(&sh->in[j]);
    }
    while (sh->prepared != NULL) {
        struct prepared *p = sh->prepared;
        sh->prepared = p->next;
        free(p);
    }
    free(sh->in);
    free(sh->log);
    free(sh->dir);
    free(sh->acks);
    for (uint32_t i = 0; i < sh->ndecisions; i++) {
        free(sh->decisions[i].participants); /* their markers stay: the next open clears them */
    }
    free(sh->decisions);
    free(sh);
}

struct hdb_ring *shard_ring_from(struct shard *sh, uint32_t from)
{
    return &sh->in[from];
}

struct hdb_store *shard_store(struct shard *sh)
{
    return sh->store;
}

uint32_t shard_id(const struct shard *sh)
{
    return sh->id;
}

uint32_t shard_thread(const struct shard *sh)
{
    return sh->thread;
}

void shard_recovery(const struct shard *sh, uint64_t *ns, uint64_t *records)
{
    *ns = sh->recovery_ns;
    *records = sh->replayed_records;
}
