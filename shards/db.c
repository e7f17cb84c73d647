/*
 * db.c — the database handle: the manifest, the LOCK, the shard threads and
 * their loop, recovery across shards (every shard recovers on its own
 * thread; then in-doubt multi-shard commits are finished or rolled back
 * from their coordinator's decision), and waking sleeping threads.
 *
 * MANIFEST (one 4 KiB block, written to MANIFEST.tmp, fsynced, renamed):
 *   off size
 *     0    4 magic "HDBM"
 *     4    4 format version (1)
 *     8    4 shard count, fixed at creation
 *    12    4 page size
 *    16    8 creation time (Unix seconds)
 *    24    4 flags: 1 = last opened in async mode (recovery then cuts every
 *              shard back to the largest timestamp all of them durably passed)
 *    28   28 zero
 *    56    8 XXH3-64 of bytes 0..55
 *
 * The thread loop (kept as small as Redis's ae.c): take a turn on each
 * shard this thread runs; when none had work, announce sleep, look once
 * more, and wait in ppoll on the thread's eventfd until the earliest timer
 * a shard asked for. Anyone who pushes to a sleeping thread's ring writes
 * its eventfd.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/bytes.h"
#include "core/config.h"
#include "core/io.h"
#include "core/log.h"
#include "shards/cpus.h"
#include "shards/shard_int.h"

#define MANIFEST_MAGIC    0x4d424448u /* "HDBM" */
#define MANIFEST_VERSION  1u
#define MANIFEST_BYTES    4096u
#define THREAD_IDLE_TURNS 64u /* empty loop turns before a shard thread sleeps */

void hdb_db_opts_default(struct hdb_db_opts *o)
{
    memset(o, 0, sizeof *o);
    hdb_store_opts_default(&o->store);
    o->pin_threads = true;
    o->parallel_recovery = true;
    o->txn_idle_timeout_ms = 60000;
    o->version_retention_ms = 5000;
    o->enable_cow_snapshots = true;
    o->snapshot_retention = 3;
}

void hdb_db_opts_from_config(const struct hdb_config *cfg, struct hdb_db_opts *o)
{
    hdb_db_opts_default(o);
    hdb_config_store_opts(cfg, &o->store);
    o->threads = (uint32_t)cfg->performance.worker_threads;
    o->parallel_recovery = cfg->crash_recovery.parallel_recovery;
    o->txn_idle_timeout_ms = (uint32_t)cfg->database.transaction_idle_timeout_ms;
    o->enable_cow_snapshots = cfg->snapshot.enable_cow_snapshots;
    o->snapshot_retention = (uint32_t)cfg->snapshot.snapshot_retention;
    o->snapshot_interval_ms = (uint32_t)cfg->snapshot.snapshot_interval_minutes * 60000u;
}

uint64_t db_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void db_clock_advance(struct hdb_db *db, uint64_t ts)
{
    uint64_t cur = atomic_load(&db->clock);
    while (cur < ts && !atomic_compare_exchange_weak(&db->clock, &cur, ts)) {
    }
}

uint64_t hdb_db_commit_ts(const struct hdb_db *db)
{
    return atomic_load(&((struct hdb_db *)db)->clock);
}

uint32_t hdb_db_version_retention_ms(const struct hdb_db *db)
{
    return db->opts.version_retention_ms;
}

uint32_t hdb_db_shards(const struct hdb_db *db)
{
    return db->nshards;
}

uint32_t hdb_kv_shard_of(const struct hdb_db *db, const void *key, uint32_t klen)
{
    return (uint32_t)(XXH3_64bits(key, klen) % db->nshards);
}

void db_wake_thread(struct hdb_db *db, uint32_t thread)
{
    struct thread *t = &db->threads[thread];
    if (atomic_load(&t->sleeping)) {
        uint64_t one = 1;
        ssize_t n = write(t->eventfd, &one, sizeof one);
        (void)n; /* EAGAIN: the counter is already non-zero, the thread wakes anyway */
    }
}

void db_wake_conn(struct hdb_conn *c)
{
    atomic_fetch_add(&c->wake_seq, 1);
    uint32_t host = atomic_load(&c->host);
    if (host != 0) {
        db_wake_thread(c->db, host - 1); /* a shard thread waits for it (conn_wait_all) */
        return;
    }
    if (atomic_load(&c->sleeping)) {
        syscall(SYS_futex, &c->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

/* --- manifest --- */

static int manifest_io(const struct hdb_db *db, struct hdb_io **io, struct hdb_err *err)
{
    struct hdb_io_opts o = db->opts.store.io;
    o.use_io_uring = false;
    o.use_direct_io = false;
    return hdb_io_create(&o, db->opts.store.sim, NULL, NULL, io, err);
}

static int manifest_read(struct hdb_io *io, const char *path, uint32_t *shards, uint32_t *page,
                         uint32_t *flags, struct hdb_err *err)
{
    struct hdb_file *f = NULL;
    int rc = hdb_file_open(io, path, 0, &f, err);
    if (rc != HDB_OK) {
        return rc;
    }
    uint8_t *b = hdb_io_alloc(MANIFEST_BYTES);
    uint64_t size = 0;
    rc = b == NULL ? hdb_err_set(err, HDB_NOMEM, "out of memory") : hdb_file_size(f, &size, err);
    if (rc == HDB_OK && size < MANIFEST_BYTES) {
        rc = hdb_err_set(err, HDB_CORRUPT, "%s: %" PRIu64 " bytes, expected %u", path, size,
                         MANIFEST_BYTES);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_read(f, b, MANIFEST_BYTES, 0, err);
    }
    if (rc == HDB_OK) {
        uint64_t want = XXH3_64bits(b, 56), got = hdb_get64(b + 56);
        if (hdb_get32(b) != MANIFEST_MAGIC || want != got) {
            rc = hdb_err_set(err, HDB_CORRUPT,
                             "%s: bad magic or checksum (expected %016" PRIx64 ", found %016" PRIx64
                             ")",
                             path, want, got);
        } else if (hdb_get32(b + 4) != MANIFEST_VERSION) {
            rc = hdb_err_set(err, HDB_CORRUPT, "%s: format version %u, this build reads %u", path,
                             hdb_get32(b + 4), MANIFEST_VERSION);
        } else {
            *shards = hdb_get32(b + 8);
            *page = hdb_get32(b + 12);
            *flags = hdb_get32(b + 24);
            if (*shards == 0 || *shards > HDB_SHARDS_MAX) {
                rc =
                    hdb_err_set(err, HDB_CORRUPT, "%s: shard count %u out of range", path, *shards);
            }
        }
    }
    hdb_io_free(b);
    hdb_file_close(f);
    return rc;
}

int db_manifest_write(struct hdb_io *io, const char *dir, uint32_t shards, uint32_t page,
                      uint32_t flags, struct hdb_err *err)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/MANIFEST.tmp", dir);
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    uint8_t *b = hdb_io_alloc(MANIFEST_BYTES);
    if (b == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    hdb_put32(b, MANIFEST_MAGIC);
    hdb_put32(b + 4, MANIFEST_VERSION);
    hdb_put32(b + 8, shards);
    hdb_put32(b + 12, page);
    hdb_put64(b + 16, (uint64_t)time(NULL));
    hdb_put32(b + 24, flags);
    hdb_put64(b + 56, XXH3_64bits(b, 56));
    struct hdb_file *f = NULL;
    int rc = hdb_file_open(io, tmp, HDB_FILE_CREATE, &f, err);
    if (rc == HDB_OK) {
        rc = hdb_io_write(f, b, MANIFEST_BYTES, 0, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_fsync(f, err);
    }
    hdb_file_close(f);
    hdb_io_free(b);
    if (rc == HDB_OK) {
        rc = hdb_io_rename(io, tmp, path, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_sync_dir(io, dir, err);
    }
    return rc;
}

/* Reads the manifest, or writes a new one: *created tells which. */
static int manifest_load(struct hdb_db *db, struct hdb_io *io, bool *created, struct hdb_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/MANIFEST", db->path);
    uint32_t page = 0;
    int rc = manifest_read(io, path, &db->nshards, &page, &db->manifest_flags, err);
    if (rc == HDB_OK) {
        *created = false;
        db->opts.store.page_size = page;
        return HDB_OK;
    }
    if (rc != HDB_NOTFOUND) {
        return rc;
    }
    db->nshards = db->opts.shards != 0 ? db->opts.shards : hdb_usable_cpus();
    if (db->nshards > HDB_SHARDS_MAX) {
        return hdb_err_set(err, HDB_INVALID, "%u shards asked for; at most %u", db->nshards,
                           HDB_SHARDS_MAX);
    }
    *created = true;
    db->manifest_flags = 0;
    return db_manifest_write(io, db->path, db->nshards, db->opts.store.page_size, 0, err);
}

/* --- threads --- */

static int pick_cpu(uint32_t index)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        return -1;
    }
    uint32_t n = (uint32_t)CPU_COUNT(&set), seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n > 0; cpu++) {
        if (CPU_ISSET(cpu, &set) && seen++ == index % n) {
            return cpu;
        }
    }
    return -1;
}

static _Thread_local struct thread *current_thread;

struct thread *db_current_thread(const struct hdb_db *db)
{
    struct thread *t = current_thread;
    return t != NULL && t->db == db ? t : NULL;
}

uint32_t hdb_db_threads(const struct hdb_db *db)
{
    return db->nthreads;
}

void db_thread_sleep(struct thread *t, uint64_t now_ns, uint64_t next_ns,
                     const struct hdb_conn *waiting, bool service)
{
    atomic_store(&t->sleeping, 1);
    /* Look again after announcing sleep: a push that missed the flag is seen here. */
    bool pending = atomic_load(&t->db->stop) != 0;
    for (uint32_t s = 0; waiting != NULL && s < t->db->nshards && !pending; s++) {
        pending = hdb_ring_depth(&waiting->from_shard[s]) > 0;
    }
    uint32_t slots = atomic_load(&t->db->conn_slots);
    for (uint32_t i = 0; i < slots && !pending; i++) {
        struct hdb_conn *c = atomic_load(&t->db->conns[i]);
        for (uint32_t s = 0; c != NULL && s < t->nshards && !pending; s++) {
            pending = hdb_ring_depth(&c->to_shard[shard_id(t->shards[s])]) > 0;
        }
    }
    for (uint32_t s = 0; s < t->nshards && !pending; s++) {
        for (uint32_t j = 0; j < t->db->nshards && !pending; j++) {
            pending = hdb_ring_depth(shard_ring_from(t->shards[s], j)) > 0;
        }
    }
    if (!pending) {
        uint64_t wait_ns = next_ns > now_ns ? next_ns - now_ns : 0;
        if (wait_ns > 100000000) {
            wait_ns = 100000000; /* wake at least every 100 ms for version expiry */
        }
        struct timespec ts = {.tv_sec = (time_t)(wait_ns / 1000000000ull),
                              .tv_nsec = (long)(wait_ns % 1000000000ull)};
        const struct hdb_db_service *svc = service ? atomic_load(&t->db->service) : NULL;
        struct pollfd p[2] = {{.fd = t->eventfd, .events = POLLIN},
                              {.fd = svc != NULL ? svc->fds[t->index] : -1, .events = POLLIN}};
        if (ppoll(p, 2, &ts, NULL) > 0 && (p[0].revents & POLLIN)) {
            uint64_t v;
            ssize_t n = read(t->eventfd, &v, sizeof v);
            (void)n;
        }
    }
    atomic_store(&t->sleeping, 0);
}

static bool thread_idle(const struct thread *t)
{
    for (uint32_t s = 0; s < t->nshards; s++) {
        if (!shard_idle(t->shards[s])) {
            return false;
        }
    }
    return true;
}

uint64_t db_thread_turns(struct thread *t, uint64_t now_ns, uint64_t *next_ns)
{
    uint64_t work = 0;
    for (uint32_t s = 0; s < t->nshards; s++) {
        uint64_t n = UINT64_MAX;
        work += shard_turn(t->shards[s], now_ns, &n);
        *next_ns = n < *next_ns ? n : *next_ns;
    }
    atomic_fetch_add(&t->loops, 1);
    return work;
}

void db_thread_step(struct thread *t, uint32_t *idle)
{
    uint64_t now = db_now_ns(), next = UINT64_MAX;
    if (db_thread_turns(t, now, &next) > 0) {
        *idle = 0;
    } else if (++*idle < THREAD_IDLE_TURNS) {
        __builtin_ia32_pause();
    } else {
        *idle = 0;
        uint64_t soon = now + 1000000; /* a lock or a pause: look again within 1 ms */
        db_thread_sleep(t, now, next < soon ? next : soon, NULL, false);
    }
}

/* The service's turn; its waits run this thread's shards (db_thread_turns) meanwhile. */
static uint64_t service_turn(struct thread *t, uint64_t now_ns, uint64_t *next_ns)
{
    /* in_service before the load: whoever removes the service and then sees it 0 knows this
     * thread will see the removal (both are sequentially consistent). */
    atomic_store(&t->in_service, 1);
    const struct hdb_db_service *svc = atomic_load(&t->db->service);
    uint64_t work = 0, n = UINT64_MAX;
    if (svc != NULL) {
        work = svc->turn(svc->arg, t->index, now_ns, &n);
    }
    atomic_store(&t->in_service, 0);
    *next_ns = n < *next_ns ? n : *next_ns;
    return work;
}

void hdb_db_set_service(struct hdb_db *db, const struct hdb_db_service *svc)
{
    assert(current_thread == NULL);
    atomic_store(&db->service, svc);
    /* A turn of the old service still running ends first (however long its statement takes:
     * loops would not do, the statement's waits take turns of their own). */
    for (uint32_t t = 0; t < db->nthreads; t++) {
        while (atomic_load(&db->threads[t].in_service) != 0) {
            db_wake_thread(db, t);
            usleep(50);
        }
    }
}

void hdb_db_yield(struct hdb_db *db)
{
    struct thread *t = db_current_thread(db);
    if (t != NULL) {
        uint64_t next = UINT64_MAX;
        db_thread_turns(t, db_now_ns(), &next);
    }
}

void hdb_db_pause(struct hdb_db *db, uint32_t ms)
{
    struct thread *t = db_current_thread(db);
    if (t == NULL) {
        struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                              .tv_nsec = (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        return;
    }
    uint64_t until = db_now_ns() + (uint64_t)ms * 1000000u;
    uint32_t idle = 0;
    while (db_now_ns() < until) {
        db_thread_step(t, &idle);
    }
}

enum lock_kind { LOCK_MUTEX, LOCK_READ, LOCK_WRITE };

static int lock_try(void *l, enum lock_kind k)
{
    return k == LOCK_MUTEX  ? pthread_mutex_trylock(l)
           : k == LOCK_READ ? pthread_rwlock_tryrdlock(l)
                            : pthread_rwlock_trywrlock(l);
}

/* Takes the lock: blocking off the shard threads; on one, trying and serving its shards between
 * tries (whoever holds the lock may wait for them). */
static void lock_serving(struct hdb_db *db, void *l, enum lock_kind k)
{
    struct thread *t = db_current_thread(db);
    if (t == NULL) {
        int rc = k == LOCK_MUTEX  ? pthread_mutex_lock(l)
                 : k == LOCK_READ ? pthread_rwlock_rdlock(l)
                                  : pthread_rwlock_wrlock(l);
        assert(rc == 0);
        (void)rc;
        return;
    }
    for (uint32_t idle = 0; lock_try(l, k) != 0;) {
        db_thread_step(t, &idle);
    }
}

void hdb_db_lock_mutex(struct hdb_db *db, pthread_mutex_t *m)
{
    lock_serving(db, m, LOCK_MUTEX);
}

void hdb_db_lock_read(struct hdb_db *db, pthread_rwlock_t *l)
{
    lock_serving(db, l, LOCK_READ);
}

void hdb_db_lock_write(struct hdb_db *db, pthread_rwlock_t *l)
{
    lock_serving(db, l, LOCK_WRITE);
}

static void thread_loop(struct thread *t)
{
    uint32_t idle_turns = 0;
    uint64_t now = db_now_ns();
    for (;;) {
        /* The clock after work, and every 8th idle turn (an idle turn takes well under 1 µs). */
        now = idle_turns % 8 == 0 ? db_now_ns() : now;
        uint64_t next = UINT64_MAX;
        uint64_t work = db_thread_turns(t, now, &next);
        work += service_turn(t, now, &next);
        if (work > 0) {
            idle_turns = 0;
            continue;
        }
        if (atomic_load(&t->db->stop) && thread_idle(t)) {
            return;
        }
        /* A reply usually brings the next request within microseconds: look a few more
         * times before paying for a sleep and a wake-up. */
        if (++idle_turns < THREAD_IDLE_TURNS) {
            __builtin_ia32_pause();
            continue;
        }
        idle_turns = 0;
        db_thread_sleep(t, now, next, NULL, true);
    }
}

static void *thread_main(void *arg)
{
    struct thread *t = arg;
    current_thread = t;
    if (t->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(t->cpu, &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
            hdb_log_once(HDB_LOG_WARN, "could not pin shard threads to CPUs; running unpinned");
        }
    }
    /* Recovery: every shard of this thread opens (replays) here. */
    t->open_status = HDB_OK;
    for (uint32_t s = 0; s < t->nshards && t->open_status == HDB_OK; s++) {
        t->open_status = shard_open(t->shards[s], &t->open_err);
    }
    atomic_store(&t->loops, 1); /* tells the opener this thread's shards are open */
    while (atomic_load(&t->db->go) == 0) {
        uint64_t v;
        struct pollfd p = {.fd = t->eventfd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            ssize_t n = read(t->eventfd, &v, sizeof v);
            (void)n;
        }
    }
    if (atomic_load(&t->db->go) == 1 && t->open_status == HDB_OK) {
        thread_loop(t);
    }
    return NULL;
}

/* --- recovery across shards --- */

/*
 * In-doubt multi-shard commits. A transaction is committed once every
 * participant's prepare record is durable (conn.c); a participant that
 * applied its part replaced the record with an applied marker. So, for each
 * prepared record left: committed if some participant holds a marker (at the
 * marker's timestamp), or a decision record from before markers existed, or
 * if every participant holds its record (at the largest p_lower); otherwise
 * rolled back. In async mode a commit above the recovery cut is rolled back.
 */
struct resolve_ctx {
    struct hdb_db *db;
    uint64_t cut_ts;
    struct hdb_db_open_info *info;
    struct hdb_err *err;
    struct pending {
        struct shard *sh;
        uint64_t txn, ts;
        bool commit, marker;
        uint32_t coordinator;
        uint8_t *val;
        uint32_t vlen;
    } * list;
    uint32_t n, cap;
};

static int resolve_collect(void *ctx, struct shard *sh, uint64_t txn, bool marker,
                           uint32_t coordinator, const uint8_t *val, uint32_t vlen)
{
    struct resolve_ctx *rc = ctx;
    if (coordinator >= rc->db->nshards) {
        return hdb_err_set(rc->err, HDB_CORRUPT,
                           "prepared transaction %" PRIx64 " names coordinator shard %u of %u", txn,
                           coordinator, rc->db->nshards);
    }
    if (rc->n == rc->cap) {
        rc->cap = rc->cap == 0 ? 16 : rc->cap * 2;
        void *l = realloc(rc->list, rc->cap * sizeof *rc->list);
        if (l == NULL) {
            return hdb_err_set(rc->err, HDB_NOMEM, "out of memory");
        }
        rc->list = l;
    }
    uint8_t *copy = malloc(vlen);
    if (copy == NULL) {
        return hdb_err_set(rc->err, HDB_NOMEM, "out of memory");
    }
    memcpy(copy, val, vlen);
    rc->list[rc->n++] = (struct pending){.sh = sh,
                                         .txn = txn,
                                         .marker = marker,
                                         .coordinator = coordinator,
                                         .val = copy,
                                         .vlen = vlen};
    return HDB_OK;
}

/* Does shard k hold a prepare record (not a marker) for txn? */
static bool holds_record(const struct resolve_ctx *ctx, uint64_t txn, uint32_t k)
{
    for (uint32_t i = 0; i < ctx->n; i++) {
        const struct pending *q = &ctx->list[i];
        if (q->txn == txn && !q->marker && shard_id(q->sh) == k) {
            return true;
        }
    }
    return false;
}

/* Decides one prepared record's fate (see above). */
static int resolve_one(struct resolve_ctx *ctx, struct pending *p, struct hdb_err *err)
{
    struct prepared_trailer *t = malloc(sizeof *t);
    if (t == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    int rc = HDB_OK;
    p->commit = false;
    for (uint32_t i = 0; i < ctx->n && !p->commit && rc == HDB_OK; i++) {
        const struct pending *q = &ctx->list[i];
        if (q->txn == p->txn && q->marker) {
            rc = shard_marker_decode(q->val, q->vlen, t);
            p->commit = rc == HDB_OK;
            p->ts = t->p_lower;
        }
    }
    if (!p->commit && rc == HDB_OK) {
        struct hdb_err e = {0};
        int st = shard_find_decision(ctx->db->shards[p->coordinator], p->txn, &p->ts, &e);
        p->commit = st == HDB_OK;
        rc = st == HDB_OK || st == HDB_NOTFOUND ? HDB_OK : (*err = e, st);
    }
    if (!p->commit && rc == HDB_OK) {
        rc = shard_prepared_trailer(p->val, p->vlen, t);
        bool all = rc == HDB_OK && t->present;
        for (uint32_t i = 0; all && i < t->nparts; i++) {
            all = t->parts[i] < ctx->db->nshards && holds_record(ctx, p->txn, t->parts[i]);
        }
        p->commit = all;
        p->ts = 0;
        for (uint32_t i = 0; all && i < ctx->n; i++) {
            struct prepared_trailer *u = t; /* reused: the records of the same transaction */
            const struct pending *q = &ctx->list[i];
            if (q->txn == p->txn && !q->marker &&
                shard_prepared_trailer(q->val, q->vlen, u) == HDB_OK) {
                p->ts = u->p_lower > p->ts ? u->p_lower : p->ts;
            }
        }
        if (rc != HDB_OK) {
            rc = hdb_err_set(err, HDB_CORRUPT,
                             "shard %u: prepared transaction %" PRIx64 " is malformed",
                             shard_id(p->sh), p->txn);
        }
    }
    if (p->commit && p->ts > ctx->cut_ts) {
        p->commit = false; /* above the async recovery cut */
    }
    free(t);
    return rc;
}

static int cmp_pending(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts ? 1 : 0;
}

/* Finishes or rolls back every in-doubt multi-shard commit (all shards are open, none serves). */
static int resolve_in_doubt(struct hdb_db *db, struct hdb_db_open_info *info, uint64_t *max_ts,
                            struct hdb_err *err)
{
    struct resolve_ctx ctx = {
        .db = db, .info = info, .err = err, .cut_ts = info->cut ? info->cut_ts : UINT64_MAX};
    int rc = HDB_OK;
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        rc = shard_each_prepared(db->shards[k], resolve_collect, &ctx, err);
    }
    for (uint32_t i = 0; i < ctx.n && rc == HDB_OK; i++) {
        if (!ctx.list[i].marker) {
            rc = resolve_one(&ctx, &ctx.list[i], err);
        }
    }
    if (rc == HDB_OK && ctx.n > 0) {
        qsort(ctx.list, ctx.n, sizeof *ctx.list, cmp_pending);
    }
    for (uint32_t i = 0; i < ctx.n && rc == HDB_OK; i++) {
        struct pending *p = &ctx.list[i];
        if (p->marker) {
            continue;
        }
        rc = shard_resolve_prepared(p->sh, p->txn, p->val, p->vlen, p->commit, p->ts, err);
        info->prepared_committed += p->commit ? 1 : 0;
        info->prepared_aborted += p->commit ? 0 : 1;
        *max_ts = p->commit && p->ts > *max_ts ? p->ts : *max_ts;
        hdb_log(HDB_LOG_INFO, "recovery: multi-shard transaction %" PRIx64 " %s", p->txn,
                p->commit ? "committed (every participant prepared it)" : "rolled back");
    }
    for (uint32_t i = 0; i < ctx.n; i++) {
        free(ctx.list[i].val);
    }
    free(ctx.list);
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        rc = shard_clear_decisions(db->shards[k], err);
    }
    return rc;
}

/*
 * Async mode acknowledges commits before they are durable, and every shard
 * flushes on its own, so after a crash one shard may keep a commit that
 * depended on another shard's lost one. If the last run was in async mode,
 * every shard is cut back to the largest timestamp all of them durably
 * passed: the smallest of their durable watermarks (shard.c). A checkpoint
 * never holds commits above every shard's mark (checkpoint_turn), except one
 * forced by a full WAL: then the cut cannot go below it, which is logged.
 */
static int cut_async(struct hdb_db *db, struct hdb_db_open_info *info, uint64_t *clock,
                     struct hdb_err *err)
{
    uint64_t cut = UINT64_MAX, ckpt = 0, top = 0;
    for (uint32_t k = 0; k < db->nshards; k++) {
        const struct hdb_recovery_info *ri = shard_recovery_info(db->shards[k]);
        cut = ri->mark < cut ? ri->mark : cut;
        ckpt = ri->ckpt_ts > ckpt ? ri->ckpt_ts : ckpt;
        top = ri->max_ts > top ? ri->max_ts : top;
        top = ri->mark > top ? ri->mark : top;
    }
    if (cut < ckpt) {
        hdb_log(HDB_LOG_WARN,
                "recovery: a checkpoint holds timestamp %" PRIu64 ", above the shards' common "
                "watermark %" PRIu64 " (a full WAL forced it): cutting back to %" PRIu64 " only",
                ckpt, cut, ckpt);
        cut = ckpt;
    }
    info->cut = true;
    info->cut_ts = cut;
    int rc = HDB_OK;
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        if (shard_recovery_info(db->shards[k])->max_ts > cut) {
            rc = shard_reopen_cut(db->shards[k], cut, err);
            info->cut_records += rc == HDB_OK ? shard_recovery_info(db->shards[k])->cut_records : 0;
        }
    }
    /* New commits get labels above every timestamp any log has seen or promised. */
    *clock = top > *clock ? top : *clock;
    if (info->cut_records > 0) {
        hdb_log(HDB_LOG_WARN,
                "recovery: async mode: every shard cut back to timestamp %" PRIu64 " (%" PRIu64
                " WAL records of later commits left out)",
                cut, info->cut_records);
    }
    return rc;
}

/* Async mode: every shard's recovered state is durable: mark it, then record the mode. */
static int mark_open(struct hdb_db *db, uint64_t clock, struct hdb_err *err)
{
    int rc = HDB_OK;
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        rc = shard_mark_now(db->shards[k], clock, err);
    }
    uint32_t flags = db->opts.store.wal_mode == HDB_WAL_ASYNC ? MANIFEST_FLAG_ASYNC : 0;
    if (rc == HDB_OK && flags != db->manifest_flags) {
        rc = db_manifest_write(db->io, db->path, db->nshards, db->opts.store.page_size, flags, err);
        db->manifest_flags = flags;
    }
    return rc;
}

/* --- open and close --- */

static int start_threads(struct hdb_db *db, struct hdb_err *err)
{
    for (uint32_t t = 0; t < db->nthreads; t++) {
        struct thread *th = &db->threads[t];
        *th = (struct thread){.db = db, .index = t, .cpu = -1, .eventfd = -1};
        th->cpu = db->opts.pin_threads ? pick_cpu(t) : -1;
        th->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        th->shards = calloc(db->nshards, sizeof *th->shards);
        if (th->eventfd < 0 || th->shards == NULL) {
            return hdb_err_set(err, HDB_NOMEM, "cannot set up shard thread %u", t);
        }
        for (uint32_t k = t; k < db->nshards; k += db->nthreads) {
            th->shards[th->nshards++] = db->shards[k];
        }
    }
    for (uint32_t t = 0; t < db->nthreads; t++) {
        struct thread *th = &db->threads[t];
        if (pthread_create(&th->tid, NULL, thread_main, th) != 0) {
            return hdb_err_set(err, HDB_NOMEM, "cannot start shard thread %u", t);
        }
        th->started = true;
        if (!db->opts.parallel_recovery) {
            while (atomic_load(&th->loops) == 0) {
                usleep(100);
            }
        }
    }
    return HDB_OK;
}

static void wake_all(struct hdb_db *db)
{
    for (uint32_t t = 0; t < db->nthreads; t++) {
        if (db->threads[t].eventfd >= 0) {
            uint64_t one = 1;
            ssize_t n = write(db->threads[t].eventfd, &one, sizeof one);
            (void)n;
        }
    }
}

static void join_threads(struct hdb_db *db)
{
    for (uint32_t t = 0; db->threads != NULL && t < db->nthreads; t++) {
        if (db->threads[t].started) {
            pthread_join(db->threads[t].tid, NULL);
            db->threads[t].started = false;
        }
    }
}

static void db_free(struct hdb_db *db)
{
    for (uint32_t k = 0; db->shards != NULL && k < db->nshards; k++) {
        shard_free(db->shards[k]);
    }
    for (uint32_t t = 0; db->threads != NULL && t < db->nthreads; t++) {
        if (db->threads[t].eventfd >= 0) {
            close(db->threads[t].eventfd);
        }
        free(db->threads[t].shards);
    }
    for (uint32_t b = 0; db->table_buckets != NULL && b < TABLE_BUCKETS; b++) {
        for (struct hdb_table *t = db->table_buckets[b], *next; t != NULL; t = next) {
            next = t->bucket_next;
            free(t);
        }
    }
    free(db->table_buckets);
    for (struct hdb_table *t = db->tables_retired, *next; t != NULL; t = next) {
        next = t->retired;
        free(t);
    }
    if (db->lock != NULL) {
        hdb_io_unlock(db->lock);
    }
    if (db->io != NULL) {
        hdb_io_destroy(db->io);
    }
    pthread_mutex_destroy(&db->admin);
    pthread_mutex_destroy(&db->snap_lock);
    pthread_mutex_destroy(&db->auto_mu);
    pthread_cond_destroy(&db->auto_cv);
    snap_free(db);
    free(db->shards);
    free(db->threads);
    free(db->path);
    free(db);
}

/* Stops threads that are waiting for `go` (after a failed open) and closes the shards. */
static void abandon(struct hdb_db *db)
{
    atomic_store(&db->go, 2);
    wake_all(db);
    join_threads(db);
    for (uint32_t k = 0; k < db->nshards; k++) {
        struct hdb_err e;
        if (db->shards[k] != NULL) {
            shard_close(db->shards[k], &e);
        }
    }
    db_free(db);
}

static int open_shards(struct hdb_db *db, struct hdb_db_open_info *info, struct hdb_err *err)
{
    uint64_t t0 = db_now_ns();
    int rc = start_threads(db, err);
    for (uint32_t t = 0; t < db->nthreads && rc == HDB_OK; t++) {
        while (atomic_load(&db->threads[t].loops) == 0) {
            usleep(100);
        }
    }
    for (uint32_t t = 0; t < db->nthreads && rc == HDB_OK; t++) {
        if (db->threads[t].open_status != HDB_OK) {
            *err = db->threads[t].open_err;
            rc = err->code;
        }
    }
    info->recovery_ns = db_now_ns() - t0;
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        uint64_t ns = 0, records = 0;
        shard_recovery(db->shards[k], &ns, &records);
        info->recovery_ns_max = ns > info->recovery_ns_max ? ns : info->recovery_ns_max;
        info->wal_records += records;
    }
    return rc;
}

static int db_init(const char *path, const struct hdb_db_opts *opts, struct hdb_db **out,
                   struct hdb_err *err)
{
    struct hdb_db *db = calloc(1, sizeof *db);
    if (db == NULL || (db->path = strdup(path)) == NULL) {
        free(db);
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    db->opts = *opts;
    atomic_store(&db->ckpt_owner, UINT32_MAX);
    pthread_mutex_init(&db->admin, NULL);
    pthread_mutex_init(&db->snap_lock, NULL);
    pthread_mutex_init(&db->auto_mu, NULL);
    pthread_cond_init(&db->auto_cv, NULL);
    *out = db;
    db->table_buckets = calloc(TABLE_BUCKETS, sizeof *db->table_buckets);
    int rc = db->table_buckets != NULL ? manifest_io(db, &db->io, err)
                                       : hdb_err_set(err, HDB_NOMEM, "out of memory");
    if (rc == HDB_OK) {
        rc = hdb_io_mkdir(db->io, path, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_io_lock_dir(db->io, path, &db->lock, err);
    }
    return rc;
}

int hdb_db_open(const char *path, const struct hdb_db_opts *opts, struct hdb_db **out,
                struct hdb_db_open_info *info, struct hdb_err *err)
{
    struct hdb_db_open_info scratch;
    info = info != NULL ? info : &scratch;
    memset(info, 0, sizeof *info);
    struct hdb_db *db = NULL;
    int rc = db_init(path, opts, &db, err);
    if (rc == HDB_OK) {
        rc = manifest_load(db, db->io, &info->created, err);
    }
    if (rc != HDB_OK) {
        if (db != NULL) {
            db_free(db);
        }
        return rc;
    }
    uint32_t cpus = opts->threads != 0 ? opts->threads : hdb_usable_cpus();
    db->nthreads = cpus < db->nshards ? cpus : db->nshards;
    db->shards = calloc(db->nshards, sizeof *db->shards);
    db->threads = calloc(db->nthreads, sizeof *db->threads);
    if (db->shards == NULL || db->threads == NULL) {
        db_free(db);
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        rc = shard_create(db, k, &db->shards[k], err);
    }
    if (rc == HDB_OK) {
        rc = open_shards(db, info, err);
    }
    uint64_t clock = 0;
    if (rc == HDB_OK && (db->manifest_flags & MANIFEST_FLAG_ASYNC) != 0) {
        rc = cut_async(db, info, &clock, err);
    }
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        uint64_t ts = shard_last_ts(db->shards[k]);
        clock = ts > clock ? ts : clock;
    }
    if (rc == HDB_OK) {
        rc = resolve_in_doubt(db, info, &clock, err);
    }
    if (rc == HDB_OK) {
        rc = snap_recover(db, info->cut ? info->cut_ts : UINT64_MAX, &clock, err);
    }
    for (uint32_t k = 0; k < db->nshards && rc == HDB_OK; k++) {
        shard_recover_label(db->shards[k], clock);
    }
    if (rc == HDB_OK) {
        rc = mark_open(db, clock, err);
    }
    if (rc != HDB_OK) {
        abandon(db);
        return rc;
    }
    atomic_store(&db->clock, clock);
    info->shards = db->nshards;
    info->threads = db->nthreads;
    info->commit_ts = clock;
    atomic_store(&db->go, 1);
    wake_all(db);
    struct hdb_err aerr;
    if (snap_auto_start(db, &aerr) != HDB_OK) {
        hdb_log(HDB_LOG_ERROR, "%s", aerr.msg);
    }
    hdb_log(HDB_LOG_INFO,
            "database %s: %u shards on %u threads, %s in %.1f ms (%" PRIu64
            " WAL records; %u in-doubt commits finished, %u rolled back)",
            path, db->nshards, db->nthreads, info->created ? "created" : "recovered",
            (double)info->recovery_ns / 1e6, info->wal_records, info->prepared_committed,
            info->prepared_aborted);
    *out = db;
    return HDB_OK;
}

void *hdb_db_attachment(struct hdb_db *db, void *(*make)(struct hdb_db *), void (*drop)(void *))
{
    void *a = atomic_load_explicit(&db->attachment, memory_order_acquire);
    if (a != NULL || make == NULL) {
        return a; /* the common case takes no lock */
    }
    void *made = make(db); /* outside the lock: it may connect */
    hdb_db_lock_mutex(db, &db->admin);
    a = atomic_load_explicit(&db->attachment, memory_order_acquire);
    if (a == NULL && made != NULL) {
        db->attachment_drop = drop;
        atomic_store_explicit(&db->attachment, made, memory_order_release);
        a = made;
        made = NULL;
    }
    pthread_mutex_unlock(&db->admin);
    if (made != NULL && drop != NULL) {
        drop(made); /* another thread attached first */
    }
    return a;
}

int hdb_db_close(struct hdb_db *db, struct hdb_err *err)
{
    void *attached = atomic_exchange(&db->attachment, NULL);
    if (attached != NULL && db->attachment_drop != NULL) {
        db->attachment_drop(attached); /* while the shards still serve */
    }
    snap_auto_stop(db);
    for (uint32_t i = 0; i < HDB_CONNS_MAX; i++) {
        if (atomic_load(&db->conns[i]) != NULL) {
            hdb_log(HDB_LOG_WARN, "hdb_db_close: connection %u was not disconnected", i);
        }
    }
    atomic_store(&db->stop, 1);
    wake_all(db);
    join_threads(db);
    int rc = HDB_OK;
    /* Async mode: every shard marks the final clock durably before any checkpoints, so a
     * crash between two shards' checkpoints finds the first one within every mark. */
    uint64_t clock = atomic_load(&db->clock);
    for (uint32_t k = 0; k < db->nshards; k++) {
        struct hdb_err e = {0};
        if (shard_mark_now(db->shards[k], clock, &e) != HDB_OK) {
            hdb_log(HDB_LOG_WARN, "closing shard %u: %s", k, e.msg);
        }
    }
    for (uint32_t k = 0; k < db->nshards; k++) {
        struct hdb_err e = {0};
        int st = shard_close(db->shards[k], &e);
        if (st != HDB_OK && rc == HDB_OK) {
            rc = st;
            if (err != NULL) {
                *err = e;
            }
        }
    }
    db_free(db);
    return rc;
}
