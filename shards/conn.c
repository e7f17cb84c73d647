/*
 * conn.c — the caller's side: connections (a ring pair to every shard),
 * the table registry, and transactions. A transaction lives here, in the
 * connection, between statements: reads go to the owning shard at the
 * transaction's snapshot timestamp, writes stay buffered, and commit sends
 * them out — one COMMIT1 message when one shard is involved, otherwise
 * two-phase commit (PREPARE to every participant, DECIDE to the
 * coordinator, COMMIT2 to every participant).
 */
#include <inttypes.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/bytes.h"
#include "core/log.h"
#include "shards/shard_int.h"

#define CONN_SPINS 2000u /* polls of the reply rings before sleeping on the futex */

/* --- sending and waiting --- */

void conn_send(struct hdb_conn *c, uint32_t shard, struct req *r)
{
    struct hdb_msg m = {.type = r->type, .payload = r};
    r->shard = shard;
    r->conn = c;
    r->status = -1;
    r->msg[0] = '\0';
    /* At most a few requests per shard are in flight per connection: the ring has room. */
    struct thread *self = db_current_thread(c->db);
    for (uint32_t idle = 0; hdb_ring_push(&c->to_shard[shard], &m, 1) != 1;) {
        if (self != NULL) {
            db_thread_step(self, &idle); /* the ring may be this thread's own shard's */
        } else {
            sched_yield();
        }
    }
    c->outstanding++;
    db_wake_thread(c->db, shard_thread(c->db->shards[shard]));
}

static uint32_t conn_poll(struct hdb_conn *c)
{
    struct hdb_msg m[CONN_RING_CAPACITY];
    uint32_t got = 0;
    for (uint32_t s = 0; s < c->db->nshards; s++) {
        got += hdb_ring_pop(&c->from_shard[s], m, CONN_RING_CAPACITY);
    }
    return got;
}

/* conn_wait_all on a shard thread: the thread runs its own shards until the replies are in (its
 * own shards' requests are among them), sleeping only when no shard of it has work. */
static void conn_wait_hosted(struct hdb_conn *c, struct thread *t)
{
    atomic_store(&c->host, t->index + 1);
    uint32_t idle = 0;
    uint64_t now = db_now_ns();
    while (c->outstanding > 0) {
        uint32_t got = conn_poll(c);
        c->outstanding -= got;
        if (got > 0 || c->outstanding == 0) {
            idle = 0;
            continue;
        }
        now = idle % 8 == 0 ? db_now_ns() : now; /* (the clock once per 8 idle polls) */
        uint64_t next = UINT64_MAX;
        if (db_thread_turns(t, now, &next) > 0) {
            idle = 0;
        } else if (++idle < CONN_SPINS / 16) {
            __builtin_ia32_pause();
        } else {
            idle = 0;
            db_thread_sleep(t, now, next, c, false);
        }
    }
    atomic_store(&c->host, 0);
}

/* Waits for every outstanding reply (their results are in the requests). */
void conn_wait_all(struct hdb_conn *c)
{
    struct thread *self = db_current_thread(c->db);
    if (self != NULL) {
        conn_wait_hosted(c, self);
        return;
    }
    uint32_t spins = 0;
    while (c->outstanding > 0) {
        uint32_t got = conn_poll(c);
        c->outstanding -= got;
        if (got > 0 || c->outstanding == 0) {
            spins = 0;
            continue;
        }
        if (++spins < CONN_SPINS) {
            /* Yield now and then: on a box with fewer CPUs than threads the shard needs it. */
            if (spins % 16 == 0) {
                sched_yield();
            } else {
                __builtin_ia32_pause();
            }
            continue;
        }
        uint32_t seq = atomic_load(&c->wake_seq);
        atomic_store(&c->sleeping, 1);
        got = conn_poll(c);
        c->outstanding -= got;
        if (got == 0 && c->outstanding > 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000};
            syscall(SYS_futex, &c->wake_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
        }
        atomic_store(&c->sleeping, 0);
        spins = 0;
    }
}

int req_status(const struct req *r, struct hdb_err *err)
{
    if (r->status == HDB_OK) {
        return HDB_OK;
    }
    return hdb_err_set(err, r->status, "%s",
                       r->msg[0] != '\0' ? r->msg : hdb_status_name(r->status));
}

/* --- connections --- */

int hdb_db_connect(struct hdb_db *db, struct hdb_conn **out, struct hdb_err *err)
{
    struct hdb_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    c->db = db;
    c->to_shard = calloc(db->nshards, sizeof *c->to_shard);
    c->from_shard = calloc(db->nshards, sizeof *c->from_shard);
    c->txn = calloc(1, sizeof *c->txn);
    int rc = c->to_shard == NULL || c->from_shard == NULL || c->txn == NULL
                 ? hdb_err_set(err, HDB_NOMEM, "out of memory")
                 : HDB_OK;
    for (uint32_t s = 0; s < db->nshards && rc == HDB_OK; s++) {
        rc = hdb_ring_init(&c->to_shard[s], CONN_RING_CAPACITY, err);
        if (rc == HDB_OK) {
            rc = hdb_ring_init(&c->from_shard[s], CONN_RING_CAPACITY, err);
        }
    }
    if (rc == HDB_OK) {
        hdb_db_lock_mutex(db, &db->admin);
        c->slot = HDB_CONNS_MAX;
        for (uint32_t i = 0; i < HDB_CONNS_MAX && c->slot == HDB_CONNS_MAX; i++) {
            if (atomic_load(&db->conns[i]) == NULL) {
                c->slot = i;
                atomic_store_explicit(&db->conns[i], c, memory_order_release);
                if (i + 1 > atomic_load(&db->conn_slots)) {
                    atomic_store_explicit(&db->conn_slots, i + 1, memory_order_release);
                }
            }
        }
        pthread_mutex_unlock(&db->admin);
        if (c->slot == HDB_CONNS_MAX) {
            rc = hdb_err_set(err, HDB_FULL, "all %u connections are in use", HDB_CONNS_MAX);
        }
    }
    if (rc != HDB_OK) {
        c->slot = HDB_CONNS_MAX;
        hdb_db_disconnect(c);
        return rc;
    }
    c->txn->conn = c;
    *out = c;
    return HDB_OK;
}

/* Returns once every thread has finished a loop turn that began after the slot was cleared. */
static void wait_threads_pass(struct hdb_db *db)
{
    /* On a shard thread (a service's turn) its own shards are not mid-turn: they pass at once. */
    struct thread *self = db_current_thread(db);
    uint32_t seen[HDB_SHARDS_MAX], idle = 0;
    for (uint32_t t = 0; t < db->nthreads; t++) {
        seen[t] = atomic_load(&db->threads[t].loops);
    }
    for (uint32_t t = 0; t < db->nthreads; t++) {
        while (&db->threads[t] != self && atomic_load(&db->threads[t].loops) - seen[t] < 2) {
            uint64_t one = 1;
            ssize_t n = write(db->threads[t].eventfd, &one, sizeof one);
            (void)n;
            if (self != NULL) {
                db_thread_step(self, &idle);
            } else {
                usleep(50);
            }
        }
    }
}

void hdb_db_disconnect(struct hdb_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->txn != NULL && c->txn->open) {
        hdb_txn_rollback(c->txn);
    }
    if (c->slot < HDB_CONNS_MAX) {
        hdb_db_lock_mutex(c->db, &c->db->admin);
        atomic_store(&c->db->conns[c->slot], NULL);
        pthread_mutex_unlock(&c->db->admin);
        wait_threads_pass(c->db);
    }
    for (uint32_t s = 0; s < c->db->nshards; s++) {
        if (c->to_shard != NULL) {
            hdb_ring_destroy(&c->to_shard[s]);
        }
        if (c->from_shard != NULL) {
            hdb_ring_destroy(&c->from_shard[s]);
        }
    }
    if (c->txn != NULL) {
        free(c->txn->reads);
        free(c->txn->ranges);
        free(c->txn->writes);
        free(c->txn->widx);
    }
    free(c->txn);
    free(c->to_shard);
    free(c->from_shard);
    free(c);
}

/* --- tables --- */

int hdb_kv_table(struct hdb_conn *c, const char *name, bool create, struct hdb_table **out,
                 struct hdb_err *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > HDB_TREE_NAME_BYTES_MAX || strncmp(name, "_sys.", 5) == 0) {
        return hdb_err_set(err, HDB_INVALID, "bad table name \"%s\" (1 to %u bytes, not _sys.*)",
                           name, HDB_TREE_NAME_BYTES_MAX);
    }
    struct hdb_db *db = c->db;
    uint64_t hash = XXH3_64bits(name, len);
    struct hdb_table **bucket = &db->table_buckets[hash & (TABLE_BUCKETS - 1)];
    hdb_db_lock_mutex(db, &db->admin);
    for (struct hdb_table *t = *bucket; t != NULL; t = t->bucket_next) {
        if (t->hash == hash && strcmp(t->name, name) == 0) {
            *out = t;
            pthread_mutex_unlock(&db->admin);
            return HDB_OK;
        }
    }
    int rc = db->ntables == HDB_TABLES_MAX
                 ? hdb_err_set(err, HDB_FULL,
                               "at most %u key-value tables open (those of dropped SQL tables and "
                               "indexes stay until VACUUM)",
                               HDB_TABLES_MAX)
                 : HDB_OK;
    struct hdb_table *tb =
        rc == HDB_OK ? calloc(1, sizeof *tb + db->nshards * sizeof tb->ids[0]) : NULL;
    struct req *reqs = rc == HDB_OK ? calloc(db->nshards, sizeof *reqs) : NULL;
    if (rc == HDB_OK && (tb == NULL || reqs == NULL)) {
        rc = hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    for (uint32_t s = 0; s < db->nshards && rc == HDB_OK; s++) {
        reqs[s] = (struct req){.type = MSG_TREE, .name = name, .create = create};
        conn_send(c, s, &reqs[s]);
    }
    if (rc == HDB_OK) {
        conn_wait_all(c);
    }
    for (uint32_t s = 0; s < db->nshards && rc == HDB_OK; s++) {
        rc = req_status(&reqs[s], err);
        tb->ids[s] = reqs[s].tree;
    }
    if (rc == HDB_OK) {
        snprintf(tb->name, sizeof tb->name, "%s", name);
        tb->hash = hash;
        tb->bucket_next = *bucket;
        *bucket = tb;
        db->ntables++;
        *out = tb;
        tb = NULL;
    }
    pthread_mutex_unlock(&db->admin);
    free(tb);
    free(reqs);
    return rc;
}

/* One request of `type` for `name` (may be NULL) to every shard; the first error wins. */
static int to_every_shard(struct hdb_conn *c, enum msg_type type, const char *name,
                          struct hdb_err *err)
{
    struct hdb_db *db = c->db;
    struct req *reqs = calloc(db->nshards, sizeof *reqs);
    if (reqs == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    for (uint32_t s = 0; s < db->nshards; s++) {
        reqs[s] = (struct req){.type = type, .name = name};
        conn_send(c, s, &reqs[s]);
    }
    conn_wait_all(c);
    int rc = HDB_OK;
    for (uint32_t s = 0; s < db->nshards && rc == HDB_OK; s++) {
        rc = req_status(&reqs[s], err);
    }
    free(reqs);
    return rc;
}

/* The handle of dropped table `name` leaves the registry (a table of that name made later gets a
 * new one) for the retired list: holders' requests then fail on its dropped trees. */
static void table_retire(struct hdb_db *db, const char *name)
{
    uint64_t hash = XXH3_64bits(name, strlen(name));
    hdb_db_lock_mutex(db, &db->admin);
    for (struct hdb_table **at = &db->table_buckets[hash & (TABLE_BUCKETS - 1)]; *at != NULL;
         at = &(*at)->bucket_next) {
        struct hdb_table *t = *at;
        if (t->hash == hash && strcmp(t->name, name) == 0) {
            *at = t->bucket_next;
            t->retired = db->tables_retired;
            db->tables_retired = t;
            db->ntables--;
            break;
        }
    }
    pthread_mutex_unlock(&db->admin);
}

int hdb_kv_table_drop(struct hdb_conn *c, const char *name, struct hdb_err *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > HDB_TREE_NAME_BYTES_MAX || strncmp(name, "_sys.", 5) == 0) {
        return hdb_err_set(err, HDB_INVALID, "bad table name \"%s\"", name);
    }
    int rc = to_every_shard(c, MSG_TREE_DROP, name, err);
    if (rc == HDB_OK || rc == HDB_NOTFOUND) {
        table_retire(c->db, name);
    }
    return rc;
}

int hdb_db_compact(struct hdb_conn *c, uint64_t *moved, bool *more, struct hdb_err *err)
{
    struct hdb_db *db = c->db;
    struct req *reqs = calloc(db->nshards, sizeof *reqs);
    if (reqs == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    for (uint32_t s = 0; s < db->nshards; s++) {
        reqs[s] = (struct req){.type = MSG_COMPACT};
        conn_send(c, s, &reqs[s]);
    }
    conn_wait_all(c);
    int rc = HDB_OK;
    *moved = 0;
    *more = false;
    for (uint32_t s = 0; s < db->nshards; s++) {
        int src = req_status(&reqs[s], err);
        rc = rc == HDB_OK ? src : rc;
        *moved += reqs[s].out_ts;
        *more = *more || reqs[s].more;
    }
    free(reqs);
    return rc;
}

int hdb_db_checkpoint(struct hdb_conn *c, struct hdb_err *err)
{
    return to_every_shard(c, MSG_CHECKPOINT, NULL, err);
}

/* --- transactions: buffers --- */

static int grow(void **arr, uint32_t *cap, uint32_t n, size_t size, uint32_t max)
{
    if (n < *cap) {
        return HDB_OK;
    }
    if (n >= max) {
        return HDB_TOOBIG;
    }
    uint32_t c = *cap == 0 ? 16 : *cap * 2;
    void *a = realloc(*arr, (size_t)c * size);
    if (a == NULL) {
        return HDB_NOMEM;
    }
    *arr = a;
    *cap = c;
    return HDB_OK;
}

static void txn_reset(struct hdb_txn *t)
{
    for (uint32_t i = 0; i < t->nreads; i++) {
        free(t->reads[i].key);
    }
    for (uint32_t i = 0; i < t->nranges; i++) {
        free(t->ranges[i].lo);
        free(t->ranges[i].hi);
    }
    for (uint32_t i = 0; i < t->nwrites; i++) {
        free(t->writes[i].k.key);
        free(t->writes[i].val);
    }
    t->nreads = t->nranges = t->nwrites = 0;
    if (t->widx_cap > 1024) { /* a big transaction's index is not kept for the next one */
        free(t->widx);
        t->widx = NULL;
        t->widx_cap = 0;
    } else if (t->widx != NULL) {
        memset(t->widx, 0, t->widx_cap * sizeof *t->widx);
    }
    t->open = false;
    t->failed = false;
    t->snap = 0;
}

static uint8_t *dup_bytes(const void *p, uint32_t len)
{
    uint8_t *d = malloc(len > 0 ? len : 1);
    if (d != NULL && len > 0) {
        memcpy(d, p, len);
    }
    return d;
}

static int fail(struct hdb_txn *t, int rc)
{
    if (rc != HDB_OK && rc != HDB_NOTFOUND) {
        t->failed = true;
    }
    return rc;
}

static int txn_check(struct hdb_txn *t, struct hdb_err *err)
{
    if (!t->open) {
        return hdb_err_set(err, HDB_INVALID, "no transaction is open");
    }
    if (t->failed) {
        return hdb_err_set(err, HDB_INVALID, "the transaction failed earlier; roll it back");
    }
    uint64_t now = db_now_ns(), idle_ms = t->conn->db->opts.txn_idle_timeout_ms;
    if (idle_ms > 0 && now - t->last_used_ns > idle_ms * 1000000ull) {
        t->failed = true;
        return hdb_err_set(err, HDB_CONFLICT,
                           "the transaction was idle over %" PRIu64
                           " ms (txn_idle_timeout_ms) and is aborted",
                           idle_ms);
    }
    t->last_used_ns = now;
    return HDB_OK;
}

static int check_key(const void *key, uint32_t klen, struct hdb_err *err)
{
    if (key == NULL || klen == 0 || klen > HDB_KEY_BYTES_MAX) {
        return hdb_err_set(err, HDB_INVALID, "a key is 1 to %u bytes, not %u", HDB_KEY_BYTES_MAX,
                           klen);
    }
    return HDB_OK;
}

#define WIDX_FROM 16u /* writes before the index is built */

static void widx_put(struct hdb_txn *t, uint32_t i)
{
    uint32_t at = (uint32_t)t->writes[i].k.hash & (t->widx_cap - 1);
    while (t->widx[at] != 0) {
        at = (at + 1) & (t->widx_cap - 1);
    }
    t->widx[at] = i + 1;
}

/* Before write `n` is added: at WIDX_FROM writes the index is filled with those already there
 * (a kept table was zeroed at reset), later it doubles when half full. Out of memory: no index,
 * the linear search still works. */
static void widx_grow(struct hdb_txn *t, uint32_t n)
{
    if (n + 1 < WIDX_FROM) {
        return;
    }
    bool fits = t->widx != NULL && (n + 1) * 2 <= t->widx_cap;
    if (fits && n + 1 > WIDX_FROM) {
        return; /* already holds writes 0 .. n-1 */
    }
    if (!fits) {
        uint32_t cap = t->widx_cap == 0 ? 64 : t->widx_cap;
        while ((n + 1) * 2 > cap) {
            cap *= 2;
        }
        free(t->widx);
        t->widx = calloc(cap, sizeof *t->widx);
        t->widx_cap = t->widx != NULL ? cap : 0;
    }
    for (uint32_t i = 0; t->widx != NULL && i < n; i++) {
        widx_put(t, i);
    }
}

static struct txn_write *find_write(struct hdb_txn *t, uint64_t hash, uint32_t shard, uint32_t tree,
                                    const void *key, uint32_t klen)
{
    if (t->widx != NULL && t->nwrites >= WIDX_FROM) {
        for (uint32_t at = (uint32_t)hash & (t->widx_cap - 1); t->widx[at] != 0;
             at = (at + 1) & (t->widx_cap - 1)) {
            struct txn_write *w = &t->writes[t->widx[at] - 1];
            if (w->k.hash == hash && w->k.shard == shard && w->k.tree == tree &&
                w->k.klen == klen && memcmp(w->k.key, key, klen) == 0) {
                return w;
            }
        }
        return NULL;
    }
    for (uint32_t i = t->nwrites; i > 0; i--) {
        struct txn_write *w = &t->writes[i - 1];
        if (w->k.hash == hash && w->k.shard == shard && w->k.tree == tree && w->k.klen == klen &&
            memcmp(w->k.key, key, klen) == 0) {
            return w;
        }
    }
    return NULL;
}

/* --- transactions: operations --- */

int hdb_txn_begin(struct hdb_conn *c, struct hdb_txn **out, struct hdb_err *err)
{
    struct hdb_txn *t = c->txn;
    if (t->open) {
        return hdb_err_set(err, HDB_INVALID, "a transaction is already open on this connection");
    }
    txn_reset(t);
    t->open = true;
    t->snapshot_ts = atomic_load(&c->db->clock);
    t->commit_ts = 0;
    t->id = (uint64_t)(c->slot + 1) << 48 | (++c->db->conn_txn_seq[c->slot] & 0xffffffffffffull);
    t->last_used_ns = db_now_ns();
    *out = t;
    return HDB_OK;
}

static int add_read(struct hdb_txn *t, uint32_t shard, uint32_t tree, uint64_t hash,
                    const void *key, uint32_t klen, struct hdb_err *err)
{
    int rc =
        grow((void **)&t->reads, &t->reads_cap, t->nreads, sizeof *t->reads, HDB_TXN_READS_MAX);
    uint8_t *copy = rc == HDB_OK ? dup_bytes(key, klen) : NULL;
    if (rc == HDB_OK && copy == NULL) {
        rc = HDB_NOMEM;
    }
    if (rc != HDB_OK) {
        return hdb_err_set(err, rc, "a transaction reads at most %u keys", HDB_TXN_READS_MAX);
    }
    t->reads[t->nreads++] =
        (struct txn_key){.shard = shard, .tree = tree, .hash = hash, .key = copy, .klen = klen};
    return HDB_OK;
}

int hdb_txn_get(struct hdb_txn *t, struct hdb_table *tb, const void *key, uint32_t klen,
                struct hdb_buf *val, struct hdb_err *err)
{
    int rc = txn_check(t, err);
    if (rc == HDB_OK) {
        rc = check_key(key, klen, err);
    }
    if (rc != HDB_OK) {
        return rc;
    }
    struct hdb_conn *c = t->conn;
    uint32_t shard = hdb_kv_shard_of(c->db, key, klen), tree = tb->ids[shard];
    uint64_t hash = key_hash(tree, key, klen);
    const struct txn_write *w = find_write(t, hash, shard, tree, key, klen);
    if (w != NULL) {
        if (w->del) {
            return hdb_err_set(err, HDB_NOTFOUND, "no such key (deleted in this transaction)");
        }
        return hdb_buf_set(val, w->val, w->vlen) == HDB_OK
                   ? HDB_OK
                   : fail(t, hdb_err_set(err, HDB_NOMEM, "out of memory"));
    }
    struct req r = {.type = MSG_GET,
                    .ts = t->snapshot_ts,
                    .snap = t->snap,
                    .tree = tree,
                    .key = key,
                    .klen = klen,
                    .val = *val};
    conn_send(c, shard, &r);
    conn_wait_all(c);
    *val = r.val;
    rc = req_status(&r, err);
    if (rc != HDB_OK && rc != HDB_NOTFOUND) {
        return fail(t, rc);
    }
    if (t->snap != 0) {
        return rc; /* nothing to validate: a snapshot never changes */
    }
    int rrc = add_read(t, shard, tree, hash, key, klen, err);
    return rrc != HDB_OK ? fail(t, rrc) : rc;
}

/* Requests one batch of hdb_txn_get_many keeps in flight at each shard (of CONN_RING_CAPACITY). */
#define GET_MANY_PER_SHARD 32u

int hdb_txn_get_many(struct hdb_txn *t, struct hdb_table *tb, uint32_t n,
                     const uint8_t *const *keys, const uint32_t *klens, struct hdb_buf *vals,
                     bool *found, struct hdb_err *err)
{
    int rc = txn_check(t, err);
    struct hdb_conn *c = t->conn;
    uint32_t round_max = c->db->nshards * GET_MANY_PER_SHARD;
    struct req *reqs = rc == HDB_OK && n > 0 ? calloc(round_max, sizeof *reqs) : NULL;
    uint32_t *from = reqs != NULL ? calloc(round_max, sizeof *from) : NULL;
    uint32_t per_shard[HDB_SHARDS_MAX];
    if (rc == HDB_OK && n > 0 && (reqs == NULL || from == NULL)) {
        rc = fail(t, hdb_err_set(err, HDB_NOMEM, "out of memory"));
    }
    uint32_t i = 0;
    while (rc == HDB_OK && i < n) {
        uint32_t m = 0;
        memset(per_shard, 0, c->db->nshards * sizeof per_shard[0]);
        for (; rc == HDB_OK && i < n; i++) {
            rc = check_key(keys[i], klens[i], err);
            if (rc != HDB_OK) {
                break;
            }
            uint32_t shard = hdb_kv_shard_of(c->db, keys[i], klens[i]), tree = tb->ids[shard];
            uint64_t hash = key_hash(tree, keys[i], klens[i]);
            const struct txn_write *w = find_write(t, hash, shard, tree, keys[i], klens[i]);
            if (w != NULL) { /* the transaction's own write */
                found[i] = !w->del;
                if (!w->del && hdb_buf_set(&vals[i], w->val, w->vlen) != HDB_OK) {
                    rc = fail(t, hdb_err_set(err, HDB_NOMEM, "out of memory"));
                }
                continue;
            }
            if (per_shard[shard] == GET_MANY_PER_SHARD) {
                break; /* this round is full at that shard */
            }
            per_shard[shard]++;
            reqs[m] = (struct req){.type = MSG_GET,
                                   .ts = t->snapshot_ts,
                                   .snap = t->snap,
                                   .tree = tree,
                                   .key = keys[i],
                                   .klen = klens[i],
                                   .val = vals[i]};
            from[m] = i;
            conn_send(c, shard, &reqs[m]);
            m++;
        }
        conn_wait_all(c);
        for (uint32_t j = 0; j < m; j++) {
            uint32_t k = from[j];
            vals[k] = reqs[j].val;
            int st = req_status(&reqs[j], rc == HDB_OK ? err : NULL);
            found[k] = st == HDB_OK;
            if (st != HDB_OK && st != HDB_NOTFOUND) {
                rc = rc == HDB_OK ? fail(t, st) : rc;
                continue;
            }
            if (rc == HDB_OK && t->snap == 0) {
                uint32_t shard = reqs[j].shard;
                int rrc =
                    add_read(t, shard, reqs[j].tree, key_hash(reqs[j].tree, keys[k], klens[k]),
                             keys[k], klens[k], err);
                rc = rrc != HDB_OK ? fail(t, rrc) : rc;
            }
        }
    }
    free(reqs);
    free(from);
    return rc;
}

static int buffer_write(struct hdb_txn *t, struct hdb_table *tb, uint32_t at, const void *key,
                        uint32_t klen, const void *val, uint32_t vlen, bool del,
                        struct hdb_err *err)
{
    int rc = txn_check(t, err);
    if (rc == HDB_OK && at != UINT32_MAX && at >= t->conn->db->nshards) {
        rc = hdb_err_set(err, HDB_INVALID, "no shard %u (of %u)", at, t->conn->db->nshards);
    }
    if (rc == HDB_OK) {
        rc = check_key(key, klen, err);
    }
    if (rc == HDB_OK && vlen > HDB_VALUE_BYTES_MAX) {
        rc = hdb_err_set(err, HDB_TOOBIG, "a value is at most %u bytes, not %u",
                         HDB_VALUE_BYTES_MAX, vlen);
    }
    if (rc == HDB_OK && t->snap != 0) {
        rc = hdb_err_set(err, HDB_READONLY,
                         "the transaction reads snapshot %" PRIu64 " and cannot write", t->snap);
    }
    if (rc != HDB_OK) {
        return rc;
    }
    uint32_t shard = at != UINT32_MAX ? at : hdb_kv_shard_of(t->conn->db, key, klen);
    uint32_t tree = tb->ids[shard];
    uint64_t hash = key_hash(tree, key, klen);
    uint8_t *vcopy = del ? NULL : dup_bytes(val, vlen);
    if (!del && vcopy == NULL) {
        return fail(t, hdb_err_set(err, HDB_NOMEM, "out of memory"));
    }
    struct txn_write *w = find_write(t, hash, shard, tree, key, klen);
    if (w != NULL) {
        free(w->val);
        w->val = vcopy;
        w->vlen = del ? 0 : vlen;
        w->del = del;
        return HDB_OK;
    }
    rc = t->nwrites < HDB_TXN_WRITES_MAX
             ? grow((void **)&t->writes, &t->writes_cap, t->nwrites, sizeof *t->writes, UINT32_MAX)
             : HDB_TOOBIG;
    uint8_t *kcopy = rc == HDB_OK ? dup_bytes(key, klen) : NULL;
    if (rc != HDB_OK || kcopy == NULL) {
        free(vcopy);
        return fail(t, hdb_err_set(err, rc != HDB_OK ? rc : HDB_NOMEM,
                                   "a transaction writes at most %u keys", HDB_TXN_WRITES_MAX));
    }
    widx_grow(t, t->nwrites);
    t->writes[t->nwrites++] = (struct txn_write){
        .k = {.shard = shard, .tree = tree, .hash = hash, .key = kcopy, .klen = klen},
        .del = del,
        .val = vcopy,
        .vlen = del ? 0 : vlen};
    if (t->widx != NULL && t->nwrites >= WIDX_FROM) {
        widx_put(t, t->nwrites - 1);
    }
    return HDB_OK;
}

int hdb_txn_put(struct hdb_txn *t, struct hdb_table *tb, const void *key, uint32_t klen,
                const void *val, uint32_t vlen, struct hdb_err *err)
{
    return buffer_write(t, tb, UINT32_MAX, key, klen, val != NULL ? val : "", vlen, false, err);
}

int hdb_txn_delete(struct hdb_txn *t, struct hdb_table *tb, const void *key, uint32_t klen,
                   struct hdb_err *err)
{
    return buffer_write(t, tb, UINT32_MAX, key, klen, NULL, 0, true, err);
}

int hdb_txn_put_at(struct hdb_txn *t, struct hdb_table *tb, uint32_t shard, const void *key,
                   uint32_t klen, const void *val, uint32_t vlen, struct hdb_err *err)
{
    return buffer_write(t, tb, shard, key, klen, val != NULL ? val : "", vlen, false, err);
}

int hdb_txn_delete_at(struct hdb_txn *t, struct hdb_table *tb, uint32_t shard, const void *key,
                      uint32_t klen, struct hdb_err *err)
{
    return buffer_write(t, tb, shard, key, klen, NULL, 0, true, err);
}

/* --- scans --- */

struct scan_item {
    const uint8_t *key, *val;
    uint32_t klen, vlen;
    uint32_t source; /* 0: the transaction's own write; 1: a shard */
    bool del;
};

static int cmp_items(const void *a, const void *b)
{
    const struct scan_item *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
    if (c == 0 && x->klen != y->klen) {
        c = x->klen < y->klen ? -1 : 1;
    }
    if (c == 0) {
        c = (int)x->source - (int)y->source;
    }
    return c;
}

static bool key_in(const uint8_t *k, uint32_t klen, const void *lo, uint32_t lolen, const void *hi,
                   uint32_t hilen)
{
    struct scan_item a = {.key = k, .klen = klen}, l = {.key = lo, .klen = lolen},
                     h = {.key = hi, .klen = hilen};
    return cmp_items(&a, &l) >= 0 && (hi == NULL || cmp_items(&a, &h) < 0);
}

static int cmp_bytes(const void *a, uint32_t alen, const void *b, uint32_t blen)
{
    uint32_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    return c != 0 ? c : alen == blen ? 0 : (alen < blen ? -1 : 1);
}

/* Is [lo, hi) inside a range the transaction already scanned in that table (hi NULL: to the end)?
 */
static bool range_covered(const struct hdb_txn *t, const struct hdb_table *tb, const void *lo,
                          uint32_t lolen, const void *hi, uint32_t hilen)
{
    for (uint32_t i = 0; i < t->nranges; i++) {
        const struct txn_range *r = &t->ranges[i];
        if (r->shard != 0 || r->tree != tb->ids[0] || cmp_bytes(r->lo, r->lolen, lo, lolen) > 0) {
            continue;
        }
        if (r->hi == NULL || (hi != NULL && cmp_bytes(hi, hilen, r->hi, r->hilen) <= 0)) {
            return true;
        }
    }
    return false;
}

static int add_ranges(struct hdb_txn *t, struct hdb_table *tb, const void *lo, uint32_t lolen,
                      const void *hi, uint32_t hilen, struct hdb_err *err)
{
    if (range_covered(t, tb, lo, lolen, hi, hilen)) {
        return HDB_OK; /* validation already covers it: scanning a table twice costs no range */
    }
    for (uint32_t s = 0; s < t->conn->db->nshards; s++) {
        int rc = grow((void **)&t->ranges, &t->ranges_cap, t->nranges, sizeof *t->ranges,
                      HDB_TXN_RANGES_MAX);
        if (rc != HDB_OK) {
            return hdb_err_set(err, rc, "a transaction scans at most %u ranges",
                               HDB_TXN_RANGES_MAX / t->conn->db->nshards);
        }
        struct txn_range r = {.shard = s, .tree = tb->ids[s], .lolen = lolen, .hilen = hilen};
        r.lo = dup_bytes(lo, lolen);
        r.hi = hi != NULL ? dup_bytes(hi, hilen) : NULL;
        if (r.lo == NULL || (hi != NULL && r.hi == NULL)) {
            free(r.lo);
            free(r.hi);
            return hdb_err_set(err, HDB_NOMEM, "out of memory");
        }
        t->ranges[t->nranges++] = r;
    }
    return HDB_OK;
}

/* Merges the shards' rows and the transaction's own writes, and calls `row` in key order. */
static int scan_merge(struct hdb_txn *t, struct hdb_table *tb, struct req *reqs, const void *lo,
                      uint32_t lolen, const void *hi, uint32_t hilen, uint32_t limit,
                      hdb_scan_row_fn row, void *ctx, struct hdb_err *err)
{
    size_t n = t->nwrites;
    for (uint32_t s = 0; s < t->conn->db->nshards; s++) {
        n += reqs[s].rows.count;
    }
    struct scan_item *items = malloc((n > 0 ? n : 1) * sizeof *items);
    if (items == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory merging a scan");
    }
    size_t k = 0;
    for (uint32_t i = 0; i < t->nwrites; i++) {
        const struct txn_write *w = &t->writes[i];
        if (w->k.tree == tb->ids[w->k.shard] && key_in(w->k.key, w->k.klen, lo, lolen, hi, hilen)) {
            items[k++] = (struct scan_item){
                .key = w->k.key, .klen = w->k.klen, .val = w->val, .vlen = w->vlen, .del = w->del};
        }
    }
    for (uint32_t s = 0; s < t->conn->db->nshards; s++) {
        const uint8_t *b = reqs[s].rows.buf;
        for (size_t at = 0, i = 0; i < reqs[s].rows.count; i++) {
            uint32_t klen = hdb_get32(b + at), vlen = hdb_get32(b + at + 4);
            items[k++] = (struct scan_item){.key = b + at + 8,
                                            .klen = klen,
                                            .val = b + at + 8 + klen,
                                            .vlen = vlen,
                                            .source = 1};
            at += 8 + (size_t)klen + vlen;
        }
    }
    qsort(items, k, sizeof *items, cmp_items);
    uint32_t emitted = 0;
    for (size_t i = 0; i < k && emitted < limit; i++) {
        if (i > 0 && items[i].klen == items[i - 1].klen &&
            memcmp(items[i].key, items[i - 1].key, items[i].klen) == 0) {
            continue; /* the own write (source 0) came first and wins */
        }
        if (items[i].del) {
            continue;
        }
        emitted++;
        if (!row(ctx, items[i].key, items[i].klen, items[i].val, items[i].vlen)) {
            break;
        }
    }
    free(items);
    return HDB_OK;
}

int hdb_txn_scan(struct hdb_txn *t, struct hdb_table *tb, const void *lo, uint32_t lolen,
                 const void *hi, uint32_t hilen, uint32_t limit, hdb_scan_row_fn row, void *ctx,
                 struct hdb_err *err)
{
    int rc = txn_check(t, err);
    if (rc != HDB_OK) {
        return rc;
    }
    if (limit == 0 || limit > HDB_SCAN_ROWS_MAX) {
        limit = HDB_SCAN_ROWS_MAX;
    }
    lo = lo != NULL ? lo : "";
    struct hdb_conn *c = t->conn;
    struct req *reqs = calloc(c->db->nshards, sizeof *reqs);
    if (reqs == NULL) {
        return fail(t, hdb_err_set(err, HDB_NOMEM, "out of memory"));
    }
    for (uint32_t s = 0; s < c->db->nshards; s++) {
        /* Own deletes may hide rows: ask each shard for enough to fill the limit anyway. */
        uint64_t want = (uint64_t)limit + t->nwrites;
        reqs[s] =
            (struct req){.type = MSG_SCAN,
                         .ts = t->snapshot_ts,
                         .snap = t->snap,
                         .tree = tb->ids[s],
                         .key = lo,
                         .klen = lolen,
                         .hi = hi,
                         .hilen = hilen,
                         .limit = want > HDB_SCAN_ROWS_MAX ? HDB_SCAN_ROWS_MAX : (uint32_t)want};
        conn_send(c, s, &reqs[s]);
    }
    conn_wait_all(c);
    for (uint32_t s = 0; s < c->db->nshards && rc == HDB_OK; s++) {
        rc = req_status(&reqs[s], err);
    }
    if (rc == HDB_OK && t->snap == 0) {
        rc = add_ranges(t, tb, lo, lolen, hi, hilen, err);
    }
    if (rc == HDB_OK) {
        rc = scan_merge(t, tb, reqs, lo, lolen, hi, hilen, limit, row, ctx, err);
    }
    for (uint32_t s = 0; s < c->db->nshards; s++) {
        free(reqs[s].rows.buf);
        hdb_buf_free(&reqs[s].val);
    }
    free(reqs);
    return fail(t, rc);
}

/* --- folds --- */

bool hdb_txn_wrote(const struct hdb_txn *t, const struct hdb_table *tb)
{
    for (uint32_t i = 0; i < t->nwrites; i++) {
        if (t->writes[i].k.tree == tb->ids[t->writes[i].k.shard]) {
            return true;
        }
    }
    return false;
}

/* Sends the next turn of each shard's fold that has rows left (from[s]); returns how many. */
static uint32_t fold_turn(struct hdb_txn *t, struct hdb_table *tb, struct req *reqs,
                          struct hdb_buf *from, const bool *more)
{
    struct hdb_conn *c = t->conn;
    uint32_t sent = 0;
    for (uint32_t s = 0; s < c->db->nshards; s++) {
        if (!more[s]) {
            continue;
        }
        struct req r = reqs[s];
        r.type = MSG_FOLD;
        r.ts = t->snapshot_ts;
        r.snap = t->snap;
        r.tree = tb->ids[s];
        r.key = from[s].data != NULL ? from[s].data : (const uint8_t *)"";
        r.klen = (uint32_t)from[s].len;
        reqs[s] = r;
        conn_send(c, s, &reqs[s]);
        sent++;
    }
    if (sent > 0) {
        conn_wait_all(c);
    }
    return sent;
}

int hdb_txn_fold(struct hdb_txn *t, struct hdb_table *tb, const void *lo, uint32_t lolen,
                 const void *hi, uint32_t hilen, hdb_fold_fn fold, void *const *ctxs,
                 struct hdb_err *err)
{
    int rc = txn_check(t, err);
    if (rc != HDB_OK) {
        return rc;
    }
    if (hdb_txn_wrote(t, tb)) {
        return hdb_err_set(err, HDB_INVALID, "a fold does not see the transaction's own writes");
    }
    uint32_t n = t->conn->db->nshards;
    struct req *reqs = calloc(n, sizeof *reqs);
    struct hdb_buf *from = calloc(n, sizeof *from);
    bool *more = calloc(n, sizeof *more);
    for (uint32_t s = 0; reqs != NULL && from != NULL && more != NULL && s < n && rc == HDB_OK;
         s++) {
        reqs[s] = (struct req){.hi = hi, .hilen = hilen, .fold = fold, .fold_ctx = ctxs[s]};
        more[s] = true;
        rc = lo != NULL ? hdb_buf_set(&from[s], lo, lolen) : HDB_OK;
    }
    if (reqs == NULL || from == NULL || more == NULL || rc != HDB_OK) {
        rc = hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    while (rc == HDB_OK && fold_turn(t, tb, reqs, from, more) > 0) {
        for (uint32_t s = 0; s < n; s++) {
            if (!more[s]) {
                continue;
            }
            int src = req_status(&reqs[s], err);
            rc = rc == HDB_OK ? src : rc;
            more[s] = src == HDB_OK && reqs[s].more;
            if (more[s] && hdb_buf_set(&from[s], reqs[s].val.data, reqs[s].val.len) != HDB_OK) {
                rc = rc == HDB_OK ? hdb_err_set(err, HDB_NOMEM, "out of memory") : rc;
            }
        }
        for (uint32_t s = 0; rc != HDB_OK && s < n; s++) {
            more[s] = false; /* one failed: the others stop too */
        }
    }
    if (rc == HDB_OK && t->snap == 0) {
        rc = add_ranges(t, tb, lo != NULL ? lo : "", lolen, hi, hilen, err);
    }
    for (uint32_t s = 0; reqs != NULL && from != NULL && s < n; s++) {
        hdb_buf_free(&reqs[s].val);
        hdb_buf_free(&from[s]);
    }
    free(reqs);
    free(from);
    free(more);
    return fail(t, rc);
}

/* --- commit --- */

struct commit_plan {
    uint32_t nparts;
    uint16_t shards[HDB_SHARDS_MAX];
    struct txn_part parts[HDB_SHARDS_MAX];
    struct txn_key **reads;
    struct txn_range **ranges;
    struct txn_write **writes;
    uint32_t coordinator;
};

/* Splits the read set, ranges and writes by shard (pointer arrays, grouped per part). */
static int plan_commit(struct hdb_txn *t, struct commit_plan *p, struct hdb_err *err)
{
    uint32_t nsh = t->conn->db->nshards;
    p->reads = malloc(((size_t)t->nreads + 1) * sizeof *p->reads);
    p->ranges = malloc(((size_t)t->nranges + 1) * sizeof *p->ranges);
    p->writes = malloc(((size_t)t->nwrites + 1) * sizeof *p->writes);
    if (p->reads == NULL || p->ranges == NULL || p->writes == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    bool coord_set = false;
    /* Participants in shard order; the coordinator is the first that writes. */
    for (uint32_t s = 0; s < nsh; s++) {
        bool any = false, writes = false;
        for (uint32_t i = 0; i < t->nreads && !any; i++) {
            any = t->reads[i].shard == s;
        }
        for (uint32_t i = 0; i < t->nranges && !any; i++) {
            any = t->ranges[i].shard == s;
        }
        for (uint32_t i = 0; i < t->nwrites && !writes; i++) {
            writes = t->writes[i].k.shard == s;
        }
        if (any || writes) {
            p->shards[p->nparts++] = (uint16_t)s;
        }
        if (writes && !coord_set) {
            p->coordinator = s;
            coord_set = true;
        }
    }
    uint32_t nr = 0, ng = 0, nw = 0;
    for (uint32_t k = 0; k < p->nparts; k++) {
        uint32_t s = p->shards[k];
        struct txn_part *part = &p->parts[k];
        *part = (struct txn_part){.txn_id = t->id,
                                  .snapshot_ts = t->snapshot_ts,
                                  .coordinator = p->coordinator,
                                  .reads = p->reads + nr,
                                  .ranges = p->ranges + ng,
                                  .writes = p->writes + nw};
        for (uint32_t i = 0; i < t->nreads; i++) {
            if (t->reads[i].shard == s) {
                p->reads[nr++] = &t->reads[i];
                part->nreads++;
            }
        }
        for (uint32_t i = 0; i < t->nranges; i++) {
            if (t->ranges[i].shard == s) {
                p->ranges[ng++] = &t->ranges[i];
                part->nranges++;
            }
        }
        for (uint32_t i = 0; i < t->nwrites; i++) {
            if (t->writes[i].k.shard == s) {
                p->writes[nw++] = &t->writes[i];
                part->nwrites++;
            }
        }
    }
    return HDB_OK;
}

static void hook(struct hdb_db *db, const char *point, uint32_t shard)
{
    if (db->opts.twopc_hook != NULL) {
        db->opts.twopc_hook(db->opts.twopc_hook_ctx, point, shard);
    }
}

static int commit_single(struct hdb_txn *t, struct commit_plan *p, struct hdb_err *err)
{
    struct req r = {.type = MSG_COMMIT1, .part = p->parts[0]};
    conn_send(t->conn, p->shards[0], &r);
    conn_wait_all(t->conn);
    int rc = req_status(&r, err);
    if (rc == HDB_OK) {
        t->commit_ts = atomic_load(&t->conn->db->clock);
    }
    return rc;
}

/* Phase one: PREPARE everywhere (one at a time under a test hook, so a crash can fall between
 * two participants' prepares). Returns the first failure. */
static int prepare_all(struct hdb_conn *c, struct commit_plan *p, struct req *reqs,
                       struct hdb_err *err)
{
    struct hdb_db *db = c->db;
    for (uint32_t k = 0; k < p->nparts; k++) {
        reqs[k] = (struct req){.type = MSG_PREPARE,
                               .part = p->parts[k],
                               .participants = p->shards,
                               .nparticipants = p->nparts};
        conn_send(c, p->shards[k], &reqs[k]);
        if (k == 0 && db->opts.twopc_hook != NULL) {
            conn_wait_all(c);
            hook(db, "prepared_one", p->coordinator);
        }
    }
    conn_wait_all(c);
    int rc = HDB_OK;
    for (uint32_t k = 0; k < p->nparts && rc == HDB_OK; k++) {
        rc = req_status(&reqs[k], err);
    }
    return rc;
}

/*
 * Two-phase commit with one fdatasync on the critical path: the transaction
 * is committed once every participant's prepare record is durable (they are
 * written in parallel, each listing all participants and its p_lower); the
 * commit timestamp is the largest p_lower. Recovery reads every shard's log
 * and commits a transaction whose participants all hold its prepare record
 * or its applied marker (docs/shards.md). The coordinator's applied marker is
 * the durable decision, kept until every participant's apply is durable.
 */
static int commit_two_phase(struct hdb_txn *t, struct commit_plan *p, struct req *reqs,
                            struct hdb_err *err)
{
    struct hdb_conn *c = t->conn;
    struct hdb_db *db = c->db;
    int rc = prepare_all(c, p, reqs, err);
    struct req *fin = reqs + p->nparts;
    if (rc != HDB_OK) {
        /* Not every record is durable: roll back the others (durably, before returning). */
        for (uint32_t k = 0; k < p->nparts; k++) {
            if (reqs[k].status == HDB_OK) {
                fin[k] = (struct req){.type = MSG_ABORT2, .part = p->parts[k]};
                conn_send(c, p->shards[k], &fin[k]);
            }
        }
        conn_wait_all(c);
        return rc;
    }
    uint64_t ts = 0;
    for (uint32_t k = 0; k < p->nparts; k++) {
        ts = reqs[k].out_ts > ts ? reqs[k].out_ts : ts;
    }
    db_clock_advance(db, ts); /* a transaction begun after this returns reads at or above ts */
    hook(db, "prepared", p->coordinator);
    for (uint32_t k = 0; k < p->nparts; k++) {
        fin[k] = (struct req){.type = MSG_COMMIT2,
                              .ts = ts,
                              .part = p->parts[k],
                              .participants = p->shards,
                              .nparticipants = p->nparts};
        conn_send(c, p->shards[k], &fin[k]);
        if (k == 0 && db->opts.twopc_hook != NULL) {
            conn_wait_all(c);
            hook(db, "applied", p->coordinator);
        }
    }
    conn_wait_all(c);
    for (uint32_t k = 0; k < p->nparts; k++) {
        if (fin[k].status != HDB_OK) {
            hdb_log(HDB_LOG_ERROR, "commit %" PRIx64 " on shard %u: %s (finished on reopen)", t->id,
                    p->shards[k], fin[k].msg);
        }
    }
    t->commit_ts = ts;
    return HDB_OK;
}

int hdb_txn_commit(struct hdb_txn *t, struct hdb_err *err)
{
    int rc = txn_check(t, err);
    if (rc != HDB_OK) {
        if (t->open) {
            txn_reset(t);
        }
        return rc;
    }
    if (t->nwrites == 0) {
        txn_reset(t); /* read-only: its snapshot was consistent, nothing to validate */
        return HDB_OK;
    }
    struct commit_plan *p = calloc(1, sizeof *p);
    struct req *reqs = NULL;
    rc = p == NULL ? hdb_err_set(err, HDB_NOMEM, "out of memory") : plan_commit(t, p, err);
    if (rc == HDB_OK && p->nparts == 1) {
        rc = commit_single(t, p, err);
    } else if (rc == HDB_OK) {
        reqs = calloc((size_t)p->nparts * 2, sizeof *reqs);
        rc = reqs == NULL ? hdb_err_set(err, HDB_NOMEM, "out of memory")
                          : commit_two_phase(t, p, reqs, err);
    }
    if (p != NULL) {
        free(p->reads);
        free(p->ranges);
        free(p->writes);
    }
    free(p);
    free(reqs);
    txn_reset(t);
    return rc;
}

void hdb_txn_rollback(struct hdb_txn *t)
{
    txn_reset(t);
}

uint64_t hdb_txn_ts(const struct hdb_txn *t)
{
    return t->commit_ts != 0 ? t->commit_ts : t->snapshot_ts;
}

uint32_t hdb_txn_write_shards(const struct hdb_txn *t)
{
    uint32_t n = 0;
    bool seen[HDB_SHARDS_MAX] = {0};
    for (uint32_t i = 0; i < t->nwrites; i++) {
        if (!seen[t->writes[i].k.shard]) {
            seen[t->writes[i].k.shard] = true;
            n++;
        }
    }
    return n;
}

/* --- autocommit and stats --- */

int hdb_kv_get(struct hdb_conn *c, struct hdb_table *tb, const void *key, uint32_t klen,
               struct hdb_buf *val, struct hdb_err *err)
{
    struct hdb_txn *t;
    int rc = hdb_txn_begin(c, &t, err);
    if (rc != HDB_OK) {
        return rc;
    }
    rc = hdb_txn_get(t, tb, key, klen, val, err);
    hdb_txn_rollback(t);
    return rc;
}

int hdb_kv_put(struct hdb_conn *c, struct hdb_table *tb, const void *key, uint32_t klen,
               const void *val, uint32_t vlen, struct hdb_err *err)
{
    struct hdb_txn *t = NULL;
    int rc = hdb_txn_begin(c, &t, err);
    if (rc == HDB_OK) {
        rc = hdb_txn_put(t, tb, key, klen, val, vlen, err);
    }
    if (rc == HDB_OK) {
        return hdb_txn_commit(t, err);
    }
    if (t != NULL && c->txn->open) {
        hdb_txn_rollback(t);
    }
    return rc;
}

int hdb_db_verify_shard(struct hdb_conn *c, uint32_t shard,
                        void (*problem)(void *ctx, const char *msg), void *ctx,
                        struct hdb_verify_report *out, struct hdb_err *err)
{
    if (shard >= c->db->nshards) {
        return hdb_err_set(err, HDB_INVALID, "no shard %u", shard);
    }
    struct req r = {.type = MSG_VERIFY, .verify = out, .problem = problem, .problem_ctx = ctx};
    conn_send(c, shard, &r);
    conn_wait_all(c);
    return req_status(&r, err);
}

int hdb_db_shard_stats(struct hdb_conn *c, uint32_t shard, struct hdb_shard_stats *out,
                       struct hdb_err *err)
{
    if (shard >= c->db->nshards) {
        return hdb_err_set(err, HDB_INVALID, "no shard %u", shard);
    }
    struct req r = {.type = MSG_STATS, .stats = out};
    conn_send(c, shard, &r);
    conn_wait_all(c);
    return req_status(&r, err);
}
