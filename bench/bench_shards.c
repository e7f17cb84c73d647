/*
 * bench_shards.c — the shard runtime: point get and put throughput from 1
 * to N shards, multi-shard transfer transactions per second, the latency of
 * a point read from a connection thread (beside a direct store read on one
 * thread, the floor it is compared with), and recovery of N shards in
 * parallel against one shard holding the same records. See bench/README.md.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "shards/cpus.h"
#include "shards/kv.h"

static const char *base_dir = "./bench-data";
static uint32_t keys = 100000, seconds = 3, conns = 4, recovery_records = 400000;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const struct hdb_err *e)
{
    fprintf(stderr, "bench_shards: %s: %s\n", what, e->msg);
    exit(1);
}

static void rmrf(const char *dir)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_shards: could not remove %s\n", dir);
    }
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static void key_of(uint64_t i, char k[24])
{
    snprintf(k, 24, "key:%012" PRIu64, i);
}

static struct hdb_db *open_db(const char *dir, uint32_t shards, enum hdb_wal_mode mode,
                              struct hdb_db_open_info *info)
{
    struct hdb_db_opts o;
    hdb_db_opts_default(&o);
    o.shards = shards;
    o.threads = shards;
    o.store.wal_mode = mode;
    o.store.cache_bytes = 512ull << 20;
    struct hdb_db *db = NULL;
    struct hdb_err e = {0};
    if (hdb_db_open(dir, &o, &db, info, &e) != HDB_OK) {
        die("open", &e);
    }
    return db;
}

static struct hdb_table *table(struct hdb_conn *c)
{
    struct hdb_table *tb = NULL;
    struct hdb_err e = {0};
    if (hdb_kv_table(c, "bench", true, &tb, &e) != HDB_OK) {
        die("table", &e);
    }
    return tb;
}

/* Loads keys 0..n-1 in transactions of 1000 that each stay on one shard (one WAL record per key).
 */
static void load(struct hdb_db *db, uint32_t n)
{
    struct hdb_conn *c = NULL;
    struct hdb_err e = {0};
    if (hdb_db_connect(db, &c, &e) != HDB_OK) {
        die("connect", &e);
    }
    struct hdb_table *tb = table(c);
    uint32_t shards = hdb_db_shards(db);
    char val[100];
    memset(val, 'v', sizeof val);
    for (uint32_t s = 0; s < shards; s++) {
        struct hdb_txn *t = NULL;
        uint32_t in_txn = 0;
        for (uint32_t i = 0; i < n; i++) {
            char k[24];
            key_of(i, k);
            if (hdb_kv_shard_of(db, k, 16) != s) {
                continue;
            }
            if (t == NULL && hdb_txn_begin(c, &t, &e) != HDB_OK) {
                die("begin", &e);
            }
            if (hdb_txn_put(t, tb, k, 16, val, sizeof val, &e) != HDB_OK) {
                die("load put", &e);
            }
            if (++in_txn == 1000) {
                if (hdb_txn_commit(t, &e) != HDB_OK) {
                    die("load commit", &e);
                }
                t = NULL;
                in_txn = 0;
            }
        }
        if (t != NULL && hdb_txn_commit(t, &e) != HDB_OK) {
            die("load commit", &e);
        }
    }
    hdb_db_disconnect(c);
}

/* --- workers --- */

enum op { OP_GET, OP_PUT, OP_TRANSFER };

struct worker {
    struct hdb_db *db;
    enum op op;
    uint64_t deadline_ns;
    uint64_t ops, conflicts;
    uint64_t *lat_ns; /* samples for OP_GET latency */
    uint32_t nlat, lat_cap;
};

static int transfer(struct hdb_conn *c, struct hdb_table *tb, uint64_t *rng, struct hdb_err *e)
{
    char ka[24], kb[24];
    key_of(rnd(rng) % keys, ka);
    key_of(rnd(rng) % keys, kb);
    struct hdb_txn *t = NULL;
    struct hdb_buf va = {0}, vb = {0};
    int rc = hdb_txn_begin(c, &t, e);
    if (rc == HDB_OK) {
        rc = hdb_txn_get(t, tb, ka, 16, &va, e);
    }
    if (rc == HDB_OK) {
        rc = hdb_txn_get(t, tb, kb, 16, &vb, e);
    }
    if (rc == HDB_OK && va.len > 0 && vb.len > 0) {
        va.data[0]++;
        vb.data[0]--;
        rc = hdb_txn_put(t, tb, ka, 16, va.data, (uint32_t)va.len, e);
        if (rc == HDB_OK) {
            rc = hdb_txn_put(t, tb, kb, 16, vb.data, (uint32_t)vb.len, e);
        }
    }
    if (rc == HDB_OK) {
        rc = hdb_txn_commit(t, e);
    } else if (t != NULL) {
        hdb_txn_rollback(t);
    }
    hdb_buf_free(&va);
    hdb_buf_free(&vb);
    return rc;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct hdb_conn *c = NULL;
    struct hdb_err e = {0};
    if (hdb_db_connect(w->db, &c, &e) != HDB_OK) {
        die("connect", &e);
    }
    struct hdb_table *tb = table(c);
    uint64_t rng = (uint64_t)(uintptr_t)w | 1;
    struct hdb_buf val = {0};
    char v[100];
    memset(v, 'w', sizeof v);
    while (now_ns() < w->deadline_ns) {
        char k[24];
        key_of(rnd(&rng) % keys, k);
        int rc;
        uint64_t t0 = now_ns();
        if (w->op == OP_GET) {
            rc = hdb_kv_get(c, tb, k, 16, &val, &e);
            if (w->nlat < w->lat_cap) {
                w->lat_ns[w->nlat++] = now_ns() - t0;
            }
        } else if (w->op == OP_PUT) {
            rc = hdb_kv_put(c, tb, k, 16, v, sizeof v, &e);
        } else {
            rc = transfer(c, tb, &rng, &e);
        }
        if (rc == HDB_CONFLICT) {
            w->conflicts++;
            continue;
        }
        if (rc != HDB_OK) {
            die("operation", &e);
        }
        w->ops++;
    }
    hdb_buf_free(&val);
    hdb_db_disconnect(c);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs `n` connections doing `op` for `seconds`; returns ops/s (and latency percentiles). */
static double run(struct hdb_db *db, enum op op, uint32_t n, double *p50_us, double *p99_us,
                  double *conflict_pct)
{
    struct worker *w = calloc(n, sizeof *w);
    pthread_t *tid = calloc(n, sizeof *tid);
    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)seconds * 1000000000ull;
    for (uint32_t i = 0; i < n; i++) {
        w[i] = (struct worker){.db = db, .op = op, .deadline_ns = deadline};
        if (op == OP_GET) {
            w[i].lat_cap = 2000000;
            w[i].lat_ns = malloc(w[i].lat_cap * sizeof *w[i].lat_ns);
        }
        pthread_create(&tid[i], NULL, work, &w[i]);
    }
    uint64_t ops = 0, conflicts = 0, nlat = 0;
    for (uint32_t i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
        ops += w[i].ops;
        conflicts += w[i].conflicts;
        nlat += w[i].nlat;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    if (op == OP_GET && p50_us != NULL) {
        uint64_t *all = malloc((nlat + 1) * sizeof *all), k = 0;
        for (uint32_t i = 0; i < n; i++) {
            memcpy(all + k, w[i].lat_ns, w[i].nlat * sizeof *all);
            k += w[i].nlat;
        }
        qsort(all, k, sizeof *all, cmp_u64);
        *p50_us = k > 0 ? (double)all[k / 2] / 1e3 : 0;
        *p99_us = k > 0 ? (double)all[k * 99 / 100] / 1e3 : 0;
        free(all);
    }
    if (conflict_pct != NULL) {
        *conflict_pct =
            ops + conflicts > 0 ? 100.0 * (double)conflicts / (double)(ops + conflicts) : 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        free(w[i].lat_ns);
    }
    free(w);
    free(tid);
    return (double)ops / secs;
}

/* --- sections --- */

static void section_scaling(uint32_t max_shards)
{
    printf("\n## point operations by shard count (%u keys, %u connections, %u s each)\n", keys,
           conns, seconds);
    printf("%-7s %14s %14s %14s\n", "shards", "get/s", "put/s (sync)", "put/s (async)");
    double base_get = 0, base_put = 0;
    for (uint32_t s = 1; s <= max_shards; s *= 2) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/scaling-%u", base_dir, s);
        rmrf(dir);
        struct hdb_db *db = open_db(dir, s, HDB_WAL_SYNC, NULL);
        load(db, keys);
        double get = run(db, OP_GET, conns, NULL, NULL, NULL);
        double put = run(db, OP_PUT, conns * 4, NULL, NULL, NULL);
        struct hdb_err e = {0};
        hdb_db_close(db, &e);
        db = open_db(dir, s, HDB_WAL_ASYNC, NULL);
        double aput = run(db, OP_PUT, conns, NULL, NULL, NULL);
        hdb_db_close(db, &e);
        rmrf(dir);
        if (s == 1) {
            base_get = get;
            base_put = put;
        }
        printf("%-7u %14.0f %14.0f %14.0f   (get %.2fx, sync put %.2fx of 1 shard)\n", s, get, put,
               aput, get / base_get, put / base_put);
        if (s < max_shards && s * 2 > max_shards) {
            s = max_shards / 2;
        }
    }
    printf("(sync puts use %u connections: a durable commit waits for its group's fdatasync)\n",
           conns * 4);
}

static void section_transfers(uint32_t shards)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/transfers", base_dir);
    rmrf(dir);
    printf("\n## transfer transactions (read 2 keys, write 2 keys; %u shards, %u s)\n", shards,
           seconds);
    printf("%-8s %12s %14s %10s\n", "mode", "connections", "committed/s", "conflicts");
    for (int mode = 0; mode < 2; mode++) {
        struct hdb_db *db = open_db(dir, shards, mode == 0 ? HDB_WAL_SYNC : HDB_WAL_ASYNC, NULL);
        if (mode == 0) {
            load(db, keys);
        }
        for (uint32_t n = 1; n <= 16; n *= 4) {
            double pct = 0;
            double tps = run(db, OP_TRANSFER, n, NULL, NULL, &pct);
            printf("%-8s %12u %14.0f %9.2f%%\n", mode == 0 ? "sync" : "async", n, tps, pct);
        }
        struct hdb_err e = {0};
        hdb_db_close(db, &e);
    }
    printf("(with %u shards, %.0f%% of random transfers span two shards)\n", shards,
           100.0 * (1.0 - 1.0 / shards));
    rmrf(dir);
}

static void section_latency(uint32_t shards)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/latency", base_dir);
    rmrf(dir);
    struct hdb_db *db = open_db(dir, shards, HDB_WAL_SYNC, NULL);
    load(db, keys);
    double p50 = 0, p99 = 0;
    double gets = run(db, OP_GET, 1, &p50, &p99, NULL);
    struct hdb_err e = {0};
    hdb_db_close(db, &e);
    /* Reference: the same gets straight from one store on this thread (no rings, no threads). */
    char sdir[4200];
    snprintf(sdir, sizeof sdir, "%s/shard-0", dir);
    struct hdb_store_opts so;
    hdb_store_opts_default(&so);
    so.cache_bytes = 512ull << 20;
    struct hdb_store *s = NULL;
    uint32_t tree = 0;
    if (hdb_store_open(sdir, &so, &s, NULL, &e) != HDB_OK ||
        hdb_store_tree_find(s, "bench", &tree, &e) != HDB_OK) {
        die("store", &e);
    }
    uint64_t rng = 7, n = 0, found = 0;
    uint64_t *lat = malloc(2000000 * sizeof *lat);
    struct hdb_buf val = {0};
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)seconds * 1000000000ull;
    while (now_ns() < end && n < 2000000) {
        char k[24];
        key_of(rnd(&rng) % keys, k);
        uint64_t a = now_ns();
        found += hdb_store_get(s, NULL, tree, k, 16, &val, &e) == HDB_OK;
        lat[n++] = now_ns() - a;
    }
    double direct = (double)n / ((double)(now_ns() - t0) / 1e9);
    qsort(lat, n, sizeof *lat, cmp_u64);
    printf("\n## point read latency from one connection thread (%u shards, %u keys)\n", shards,
           keys);
    printf("through the rings:      %10.0f gets/s  p50 %6.2f us  p99 %6.2f us\n", gets, p50, p99);
    printf("direct store (1 shard): %10.0f gets/s  p50 %6.2f us  p99 %6.2f us  (%.0f%% of keys "
           "on that shard)\n",
           direct, (double)lat[n / 2] / 1e3, (double)lat[n * 99 / 100] / 1e3,
           100.0 * (double)found / (double)n);
    free(lat);
    hdb_buf_free(&val);
    hdb_store_close(s, &e);
    rmrf(dir);
}

/* A child writes `records` puts in async mode and exits without closing; the parent reopens. */
static void recovery_case(uint32_t shards, double *ms, uint64_t *replayed)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/recovery-%u", base_dir, shards);
    rmrf(dir);
    pid_t pid = fork();
    if (pid == 0) {
        struct hdb_db_opts o;
        hdb_db_opts_default(&o);
        o.shards = shards;
        o.threads = shards;
        o.store.wal_mode = HDB_WAL_ASYNC;
        o.store.wal_segment_bytes = 256ull << 20;
        o.store.checkpoint_wal_bytes = 1ull << 40; /* no checkpoint: everything is replayed */
        struct hdb_db *db = NULL;
        struct hdb_err e = {0};
        if (hdb_db_open(dir, &o, &db, NULL, &e) != HDB_OK) {
            die("child open", &e);
        }
        load(db, recovery_records);
        usleep(200000); /* the async flush writes the WAL within 10 ms */
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    struct hdb_db_open_info info;
    uint64_t t0 = now_ns();
    struct hdb_db *db = open_db(dir, shards, HDB_WAL_ASYNC, &info);
    *ms = (double)(now_ns() - t0) / 1e6;
    *replayed = info.wal_records;
    struct hdb_err e = {0};
    hdb_db_close(db, &e);
    rmrf(dir);
}

static void section_recovery(uint32_t shards)
{
    printf("\n## recovery: %u records replayed from the WAL\n", recovery_records);
    double one_ms = 0, n_ms = 0;
    uint64_t one_rec = 0, n_rec = 0;
    recovery_case(1, &one_ms, &one_rec);
    recovery_case(shards, &n_ms, &n_rec);
    printf("1 shard:            %8.1f ms (%" PRIu64 " records)\n", one_ms, one_rec);
    printf("%u shards, parallel: %8.1f ms (%" PRIu64 " records)  %.2fx faster\n", shards, n_ms,
           n_rec, one_ms / n_ms);
}

/* --- snapshots --- */

static uint32_t snapshot_sizes[2] = {10000, 1000000};

static void snapshot_case(uint32_t shards, uint32_t n)
{
    char dir[4096], bdir[4200];
    snprintf(dir, sizeof dir, "%s/snap-%u", base_dir, n);
    snprintf(bdir, sizeof bdir, "%s/snap-%u-backup", base_dir, n);
    rmrf(dir);
    rmrf(bdir);
    struct hdb_db *db = open_db(dir, shards, HDB_WAL_SYNC, NULL);
    load(db, n);
    struct hdb_conn *c = NULL;
    struct hdb_err e = {0};
    if (hdb_db_connect(db, &c, &e) != HDB_OK) {
        die("connect", &e);
    }
    enum { ROUNDS = 50 };
    uint64_t create_ns[ROUNDS], drop_ns[ROUNDS];
    struct hdb_snapshot_info info = {0};
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t t0 = now_ns();
        if (hdb_snapshot_create(c, &info, &e) != HDB_OK) {
            die("snapshot", &e);
        }
        uint64_t t1 = now_ns();
        if (i < ROUNDS - 1 && hdb_snapshot_drop(c, info.id, &e) != HDB_OK) {
            die("drop", &e);
        }
        create_ns[i] = t1 - t0;
        drop_ns[i] = now_ns() - t1;
    }
    qsort(create_ns, ROUNDS, sizeof create_ns[0], cmp_u64);
    qsort(drop_ns, ROUNDS - 1, sizeof drop_ns[0], cmp_u64);
    uint64_t t0 = now_ns();
    if (hdb_snapshot_backup(c, info.id, bdir, NULL, NULL, &e) != HDB_OK) {
        die("backup", &e);
    }
    double backup_ms = (double)(now_ns() - t0) / 1e6;
    printf("%8u keys: create p50 %7.3f ms, max %7.3f ms; drop p50 %7.3f ms | backup (full "
           "copy, the reference) %9.1f ms = %.0fx the create\n",
           n, (double)create_ns[ROUNDS / 2] / 1e6, (double)create_ns[ROUNDS - 1] / 1e6,
           (double)drop_ns[(ROUNDS - 1) / 2] / 1e6, backup_ms,
           backup_ms * 1e6 / (double)create_ns[ROUNDS / 2]);
    hdb_db_disconnect(c);
    hdb_db_close(db, &e);
    rmrf(dir);
    rmrf(bdir);
}

static void section_snapshots(uint32_t shards)
{
    printf("\n## snapshots: %u shards, sync WAL; a create includes one fdatasync per shard\n",
           shards);
    for (int i = 0; i < 2; i++) {
        snapshot_case(shards, snapshot_sizes[i]);
    }
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            keys = 20000;
            seconds = 1;
            recovery_records = 100000;
            snapshot_sizes[1] = 100000;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            base_dir = argv[++i];
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = (uint32_t)atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_shards [--quick] [--dir D] [--seconds S] [--only "
                            "scaling|transfers|latency|recovery|snapshots]\n");
            return 2;
        }
    }
    hdb_log_set_level(HDB_LOG_WARN);
    char mk[4200];
    snprintf(mk, sizeof mk, "mkdir -p '%s'", base_dir);
    if (system(mk) != 0) {
        fprintf(stderr, "bench_shards: cannot create %s\n", base_dir);
        return 1;
    }
    uint32_t cpus = hdb_usable_cpus();
    uint32_t shards = cpus < 2 ? 2 : cpus;
    printf("# bench_shards: %u usable CPUs, data in %s\n", cpus, base_dir);
    if (only == NULL || strcmp(only, "scaling") == 0) {
        section_scaling(shards);
    }
    if (only == NULL || strcmp(only, "transfers") == 0) {
        section_transfers(shards);
    }
    if (only == NULL || strcmp(only, "latency") == 0) {
        section_latency(shards);
    }
    if (only == NULL || strcmp(only, "recovery") == 0) {
        section_recovery(shards);
    }
    if (only == NULL || strcmp(only, "snapshots") == 0) {
        section_snapshots(shards);
    }
    rmrf(base_dir);
    return 0;
}
