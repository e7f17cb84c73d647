/*
 * bench_core.c — figures for the storage core, each next to a reference
 * measured in the same run on the same disk. A program, not a test: it
 * prints tables and never asserts a time.
 *
 *   1. raw disk: 4 KiB pwrite + fdatasync, the floor for a durable commit;
 *   2. durable commits with 1, 16 and 64 in flight, sync and async WAL;
 *   3. get, put, delete and 100-key scans on N keys (16-byte keys,
 *      100-byte values), warm cache;
 *   4. recovery of N WAL records not yet checkpointed;
 *   5. taking and releasing a held version of a large and a tiny tree.
 *
 * Usage: bench_core [--dir DIR] [--quick] [--keys N] [--recovery-records N]
 *                   [--big-mb M] [--only raw|commits|ops|recovery|versions] [--keep]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/store.h"

#define LAT_SAMPLES_MAX (4u << 20)

struct bench_opts {
    const char *dir;
    const char *only;
    bool quick, keep;
    uint64_t keys, recovery_records, big_mb;
    double row_seconds;
};

struct lat {
    uint64_t *ns;
    uint64_t n;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void lat_init(struct lat *l)
{
    l->ns = malloc(LAT_SAMPLES_MAX * sizeof *l->ns);
    l->n = 0;
    if (l->ns == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
}

static void lat_add(struct lat *l, uint64_t ns)
{
    if (l->n < LAT_SAMPLES_MAX) {
        l->ns[l->n++] = ns;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentile in microseconds (sorts in place). */
static double lat_pct(struct lat *l, double pct)
{
    if (l->n == 0) {
        return 0;
    }
    qsort(l->ns, l->n, sizeof *l->ns, cmp_u64);
    uint64_t i = (uint64_t)(pct / 100.0 * (double)(l->n - 1));
    return (double)l->ns[i] / 1000.0;
}

static void die(const char *what, const struct hdb_err *err)
{
    fprintf(stderr, "bench: %s: %s\n", what, err != NULL ? err->msg : strerror(errno));
    exit(1);
}

static bool want(const struct bench_opts *o, const char *section)
{
    return o->only == NULL || strcmp(o->only, section) == 0;
}

static char *sub(const struct bench_opts *o, const char *name)
{
    size_t n = strlen(o->dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", o->dir, name);
    return p;
}

static void rm_rf(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench: could not remove %s\n", path);
    }
}

static void make_key(uint64_t id, uint8_t key[16])
{
    /* Big-endian id after a fixed prefix: 16 bytes, sorted like the ids. */
    memcpy(key, "bench:k", 8);
    for (int i = 0; i < 8; i++) {
        key[8 + i] = (uint8_t)(id >> (56 - 8 * i));
    }
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static struct hdb_store *open_store(const char *dir, const struct hdb_store_opts *so,
                                    uint32_t *tree)
{
    struct hdb_store *s;
    struct hdb_err err;
    if (hdb_store_open(dir, so, &s, NULL, &err) != HDB_OK) {
        die("open", &err);
    }
    if (tree != NULL && hdb_store_tree_find(s, "bench", tree, &err) != HDB_OK &&
        hdb_store_tree_create(s, "bench", tree, &err) != HDB_OK) {
        die("tree", &err);
    }
    return s;
}

static void close_store(struct hdb_store *s)
{
    struct hdb_err err;
    if (hdb_store_close(s, &err) != HDB_OK) {
        die("close", &err);
    }
}

/* --- 1. raw disk --- */

static double raw_fsync_rate(const struct bench_opts *o, struct lat *l)
{
    char *path = sub(o, "raw.dat");
    bool direct = true;
    int fd = open(path, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EINVAL) {
        direct = false;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    }
    const uint64_t span = 64ull << 20;
    if (fd < 0 || posix_fallocate(fd, 0, (off_t)span) != 0 || fdatasync(fd) != 0) {
        die("raw file", NULL);
    }
    void *buf;
    if (posix_memalign(&buf, 4096, 4096) != 0) {
        die("memory", NULL);
    }
    memset(buf, 0xab, 4096);
    l->n = 0;
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(o->row_seconds * 1e9), n = 0;
    for (; n < 200000 && now_ns() < end; n++) {
        uint64_t t = now_ns();
        if (pwrite(fd, buf, 4096, (off_t)((n * 4096) % span)) != 4096 || fdatasync(fd) != 0) {
            die("raw write", NULL);
        }
        lat_add(l, now_ns() - t);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    close(fd);
    unlink(path);
    free(path);
    free(buf);
    printf("raw disk (%s): 4 KiB pwrite + fdatasync: %.0f/s, p50 %.0f us, p99 %.0f us\n\n",
           direct ? "O_DIRECT" : "buffered, O_DIRECT refused", (double)n / secs, lat_pct(l, 50),
           lat_pct(l, 99));
    return (double)n / secs;
}

/* --- 2. durable commits with K in flight --- */

struct ack {
    uint64_t t0;
    struct lat *l;
};

static void ack_done(void *ctx, int status, const char *msg)
{
    struct ack *a = ctx;
    if (status != HDB_OK) {
        fprintf(stderr, "bench: commit failed: %s\n", msg);
        exit(1);
    }
    lat_add(a->l, now_ns() - a->t0);
}

static void commit_row(const struct bench_opts *o, enum hdb_wal_mode mode, uint32_t inflight,
                       double raw_rate, struct lat *l)
{
    char name[64];
    snprintf(name, sizeof name, "commits-%u", inflight);
    char *dir = sub(o, name);
    struct hdb_store_opts so;
    hdb_store_opts_default(&so);
    so.wal_mode = mode;
    uint32_t tree;
    struct hdb_store *s = open_store(dir, &so, &tree);
    struct ack acks[64];
    uint8_t key[16], val[100];
    memset(val, 'v', sizeof val);
    uint64_t seed = 88172645463325252ull, n = 0;
    struct hdb_err err;
    struct hdb_store_stats before, after;
    hdb_store_get_stats(s, &before);
    l->n = 0;
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(o->row_seconds * 1e9);
    while (now_ns() < end) {
        for (uint32_t k = 0; k < inflight; k++, n++) {
            make_key(rnd(&seed), key);
            struct hdb_write w = {
                .type = HDB_WAL_PUT, .tree = tree, .key = key, .klen = 16, .val = val, .vlen = 100};
            acks[k] = (struct ack){.t0 = now_ns(), .l = l};
            if (hdb_store_commit(s, &w, 1, 0, 0, ack_done, &acks[k], &err) != HDB_OK) {
                die("commit", &err);
            }
        }
        int rc = mode == HDB_WAL_SYNC ? hdb_store_flush(s, &err)
                                      : hdb_store_poll(s, now_ns(), NULL, &err);
        if (rc != HDB_OK) {
            die("flush", &err);
        }
    }
    if (hdb_store_flush(s, &err) != HDB_OK) {
        die("flush", &err);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    hdb_store_get_stats(s, &after);
    double rate = (double)n / secs;
    uint64_t fsyncs = after.wal.fsyncs - before.wal.fsyncs;
    printf("%-6s %4u  %10.0f  %8.1f  %8.1f  %9.1f  %s\n", mode == HDB_WAL_SYNC ? "sync" : "async",
           inflight, rate, lat_pct(l, 50), lat_pct(l, 99),
           fsyncs > 0 ? (double)n / (double)fsyncs : 0.0,
           mode == HDB_WAL_SYNC ? "" : "ack = applied; durable within 10 ms");
    if (mode == HDB_WAL_SYNC) {
        printf("%-6s %4s  %10.2fx raw fdatasync rate\n", "", "", rate / raw_rate);
    }
    close_store(s);
    rm_rf(dir);
    free(dir);
}

static void commits_section(const struct bench_opts *o, double raw_rate, struct lat *l)
{
    printf("durable commits: one 16-byte key + 100-byte value put per commit\n");
    printf("%-6s %4s  %10s  %8s  %8s  %9s\n", "mode", "K", "commits/s", "p50 us", "p99 us",
           "per fsync");
    static const uint32_t ks[3] = {1, 16, 64};
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < 3; i++) {
            commit_row(o, m == 0 ? HDB_WAL_SYNC : HDB_WAL_ASYNC, ks[i], raw_rate, l);
        }
    }
    printf("(K = commits in flight: K commits are submitted, then the group completes)\n\n");
}

/* --- 3. point and range operations --- */

/* Puts keys [0, nkeys) in commits of 1000; `durable`: wait for each; `checkpoint` at the end. */
static void load_keys(struct hdb_store *s, uint32_t tree, uint64_t nkeys, bool durable,
                      bool checkpoint)
{
    struct hdb_write w[1000];
    uint8_t keys[1000][16], val[100];
    memset(val, 'v', sizeof val);
    struct hdb_err err;
    for (uint64_t i = 0; i < nkeys; i += 1000) {
        uint32_t m = nkeys - i < 1000 ? (uint32_t)(nkeys - i) : 1000;
        for (uint32_t j = 0; j < m; j++) {
            make_key(i + j, keys[j]);
            w[j] = (struct hdb_write){.type = HDB_WAL_PUT,
                                      .tree = tree,
                                      .key = keys[j],
                                      .klen = 16,
                                      .val = val,
                                      .vlen = 100};
        }
        int rc = durable ? hdb_store_commit_sync(s, w, m, &err)
                         : hdb_store_commit(s, w, m, 0, 0, NULL, NULL, &err);
        if (rc != HDB_OK || (!durable && hdb_store_poll(s, now_ns(), NULL, &err) != HDB_OK)) {
            die("load", &err);
        }
    }
    if (hdb_store_flush(s, &err) != HDB_OK ||
        (checkpoint && hdb_store_checkpoint(s, &err) != HDB_OK)) {
        die("load", &err);
    }
}

static void op_row(const char *name, uint64_t n, uint64_t t0, struct lat *l)
{
    double secs = (double)(now_ns() - t0) / 1e9;
    printf("%-8s %10" PRIu64 "  %11.0f  %8.2f  %8.2f\n", name, n, (double)n / secs, lat_pct(l, 50),
           lat_pct(l, 99));
}

static void bench_gets(struct hdb_store *s, uint32_t tree, uint64_t nkeys, uint64_t count,
                       struct lat *l)
{
    struct hdb_buf val = {0};
    struct hdb_err err;
    uint8_t key[16];
    uint64_t seed = 2463534242ull;
    l->n = 0;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        make_key(rnd(&seed) % nkeys, key);
        uint64_t t = now_ns();
        if (hdb_store_get(s, NULL, tree, key, 16, &val, &err) != HDB_OK) {
            die("get", &err);
        }
        lat_add(l, now_ns() - t);
    }
    op_row("get", count, t0, l);
    hdb_buf_free(&val);
}

/* Puts (or deletes) one key per commit in async mode. */
static void bench_writes(struct hdb_store *s, uint32_t tree, uint64_t nkeys, uint64_t count,
                         bool del, struct lat *l)
{
    uint8_t key[16], val[100];
    memset(val, 'u', sizeof val);
    struct hdb_err err;
    uint64_t seed = del ? 1181783497276652981ull : 8817264546332525ull;
    uint64_t stride = del ? (nkeys / count > 0 ? nkeys / count : 1) : 0;
    l->n = 0;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        make_key(del ? (i * stride) % nkeys : rnd(&seed) % nkeys, key);
        struct hdb_write w = {.type = del ? HDB_WAL_DELETE : HDB_WAL_PUT,
                              .tree = tree,
                              .key = key,
                              .klen = 16,
                              .val = val,
                              .vlen = 100};
        uint64_t t = now_ns();
        if (hdb_store_commit(s, &w, 1, 0, 0, NULL, NULL, &err) != HDB_OK) {
            die("write", &err);
        }
        lat_add(l, now_ns() - t);
        if (i % 1000 == 999 && hdb_store_poll(s, now_ns(), NULL, &err) != HDB_OK) {
            die("poll", &err);
        }
    }
    op_row(del ? "delete" : "put", count, t0, l);
}

static void bench_scans(struct hdb_store *s, uint32_t tree, uint64_t nkeys, uint64_t count,
                        struct lat *l)
{
    struct hdb_buf val = {0};
    struct hdb_err err;
    uint8_t key[16];
    uint64_t seed = 3141592653589793ull;
    l->n = 0;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        make_key(rnd(&seed) % nkeys, key);
        uint64_t t = now_ns();
        struct hdb_cursor c;
        if (hdb_store_cursor(s, NULL, tree, &c, &err) != HDB_OK) {
            die("cursor", &err);
        }
        int rc = hdb_cursor_seek(&c, key, 16, HDB_SEEK_GE, &err);
        for (int k = 0; k < 100 && rc == HDB_OK; k++) {
            const uint8_t *kp;
            uint32_t kl;
            hdb_cursor_key(&c, &kp, &kl);
            if (hdb_cursor_value(&c, &val, &err) != HDB_OK) {
                die("scan", &err);
            }
            rc = hdb_cursor_next(&c, &err);
        }
        hdb_cursor_close(&c);
        lat_add(l, now_ns() - t);
    }
    op_row("scan100", count, t0, l);
    hdb_buf_free(&val);
}

static void ops_section(const struct bench_opts *o, struct lat *l)
{
    char *dir = sub(o, "ops");
    struct hdb_store_opts so;
    hdb_store_opts_default(&so);
    so.wal_mode = HDB_WAL_ASYNC;
    so.cache_bytes = 1ull << 30;
    uint32_t tree;
    struct hdb_store *s = open_store(dir, &so, &tree);
    uint64_t t0 = now_ns();
    load_keys(s, tree, o->keys, false, true);
    printf("operations on %" PRIu64 " keys (16-byte keys, 100-byte values), async WAL, warm "
           "cache (loaded in %.1f s)\n",
           o->keys, (double)(now_ns() - t0) / 1e9);
    printf("%-8s %10s  %11s  %8s  %8s\n", "op", "count", "ops/s", "p50 us", "p99 us");
    bench_gets(s, tree, o->keys, o->keys, l); /* the first pass warms the cache */
    bench_gets(s, tree, o->keys, o->keys, l);
    bench_writes(s, tree, o->keys, o->keys / 2, false, l);
    bench_scans(s, tree, o->keys, o->quick ? 5000 : 20000, l);
    bench_writes(s, tree, o->keys, o->keys / 4, true, l);
    printf("(put and delete: one write per commit, acknowledged when applied; the WAL is "
           "written every 10 ms)\n\n");
    close_store(s);
    rm_rf(dir);
    free(dir);
}

/* --- 4. recovery --- */

static void recovery_opts(struct hdb_store_opts *so)
{
    hdb_store_opts_default(so);
    so->wal_segment_bytes = 64ull << 20;
    so->wal_max_segments = 8;
    so->checkpoint_wal_bytes = 1ull << 40; /* no checkpoint while writing */
}

static void recovery_section(const struct bench_opts *o)
{
    char *dir = sub(o, "recovery");
    pid_t pid = fork();
    if (pid == 0) {
        struct hdb_store_opts so;
        recovery_opts(&so);
        uint32_t tree;
        struct hdb_store *s = open_store(dir, &so, &tree);
        load_keys(s, tree, o->recovery_records, true, false);
        _exit(0); /* no close: nothing is checkpointed */
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        die("recovery child", NULL);
    }
    struct hdb_store_opts so;
    recovery_opts(&so);
    struct hdb_store *s;
    struct hdb_recovery_info info;
    struct hdb_err err;
    uint64_t t0 = now_ns();
    if (hdb_store_open(dir, &so, &s, &info, &err) != HDB_OK) {
        die("recovery open", &err);
    }
    double ms = (double)(now_ns() - t0) / 1e6;
    printf("recovery: %" PRIu64 " WAL records (%" PRIu64 " groups, %.0f MiB) replayed; open took "
           "%.1f ms (replay %.1f ms): %.0f records/s\n\n",
           info.wal.records, info.wal.groups, (double)info.wal.bytes / 1048576.0, ms,
           (double)info.wal.duration_ns / 1e6, (double)info.wal.records / (ms / 1000.0));
    close_store(s);
    rm_rf(dir);
    free(dir);
}

/* --- 5. held versions --- */

static double take_release_ns(struct hdb_store *s, uint64_t pairs)
{
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < pairs; i++) {
        struct hdb_version *v = hdb_store_version_take(s);
        hdb_store_version_release(s, v);
    }
    return (double)(now_ns() - t0) / (double)pairs;
}

static void versions_section(const struct bench_opts *o)
{
    char *dir = sub(o, "versions");
    struct hdb_store_opts so;
    hdb_store_opts_default(&so);
    so.wal_mode = HDB_WAL_ASYNC;
    uint32_t tree;
    struct hdb_store *s = open_store(dir, &so, &tree);
    uint64_t entries = (o->big_mb << 20) / 1040;
    static uint8_t val[1000];
    memset(val, 'b', sizeof val);
    struct hdb_write w[256];
    uint8_t keys[256][16];
    struct hdb_err err;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < entries; i += 256) {
        uint32_t m = entries - i < 256 ? (uint32_t)(entries - i) : 256;
        for (uint32_t j = 0; j < m; j++) {
            make_key(i + j, keys[j]);
            w[j] = (struct hdb_write){.type = HDB_WAL_PUT,
                                      .tree = tree,
                                      .key = keys[j],
                                      .klen = 16,
                                      .val = val,
                                      .vlen = sizeof val};
        }
        if (hdb_store_commit(s, w, m, 0, 0, NULL, NULL, &err) != HDB_OK ||
            hdb_store_poll(s, now_ns(), NULL, &err) != HDB_OK) {
            die("versions load", &err);
        }
    }
    if (hdb_store_checkpoint(s, &err) != HDB_OK) {
        die("checkpoint", &err);
    }
    struct hdb_store_stats st;
    hdb_store_get_stats(s, &st);
    double load_s = (double)(now_ns() - t0) / 1e9;
    uint64_t pairs = o->quick ? 1000000 : 10000000;
    double big = take_release_ns(s, pairs);
    close_store(s);
    rm_rf(dir);
    char *tiny_dir = sub(o, "versions-tiny");
    s = open_store(tiny_dir, &so, &tree);
    struct hdb_write one = {
        .type = HDB_WAL_PUT, .tree = tree, .key = "k", .klen = 1, .val = "v", .vlen = 1};
    if (hdb_store_commit_sync(s, &one, 1, &err) != HDB_OK) {
        die("tiny", &err);
    }
    double tiny = take_release_ns(s, pairs);
    close_store(s);
    rm_rf(tiny_dir);
    printf("held versions: take + release of the newest version, %" PRIu64 " pairs\n", pairs);
    printf("  tree of %" PRIu64 " entries, %.0f MiB of keys and values in %.0f MiB of pages "
           "(loaded in %.1f s): %.1f ns per pair\n",
           entries, (double)entries * 1016.0 / 1048576.0,
           (double)st.pages_total * so.page_size / 1048576.0, load_s, big);
    printf("  tree of 1 entry: %.1f ns per pair\n\n", tiny);
    free(dir);
    free(tiny_dir);
}

/* --- main --- */

static void parse(int argc, char **argv, struct bench_opts *o)
{
    *o = (struct bench_opts){.dir = "./bench-data",
                             .keys = 1000000,
                             .recovery_records = 1000000,
                             .big_mb = 1024,
                             .row_seconds = 2.0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->quick = true;
            o->keys = 100000;
            o->recovery_records = 100000;
            o->big_mb = 64;
            o->row_seconds = 0.5;
        } else if (strcmp(a, "--keep") == 0) {
            o->keep = true;
        } else if (v != NULL && strcmp(a, "--dir") == 0) {
            o->dir = argv[++i];
        } else if (v != NULL && strcmp(a, "--only") == 0) {
            o->only = argv[++i];
        } else if (v != NULL && strcmp(a, "--keys") == 0) {
            o->keys = strtoull(argv[++i], NULL, 10);
        } else if (v != NULL && strcmp(a, "--recovery-records") == 0) {
            o->recovery_records = strtoull(argv[++i], NULL, 10);
        } else if (v != NULL && strcmp(a, "--big-mb") == 0) {
            o->big_mb = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr,
                    "usage: bench_core [--dir DIR] [--quick] [--keys N] [--recovery-records N]\n"
                    "                  [--big-mb M] [--only raw|commits|ops|recovery|versions] "
                    "[--keep]\n");
            exit(2);
        }
    }
    if (o->keys == 0) {
        o->keys = 1;
    }
}

static void context(const struct bench_opts *o)
{
    struct utsname u;
    uname(&u);
    char *dir = sub(o, "probe");
    struct hdb_store_opts so;
    hdb_store_opts_default(&so);
    struct hdb_store *s = open_store(dir, &so, NULL);
    struct hdb_store_stats st;
    hdb_store_get_stats(s, &st);
    close_store(s);
    rm_rf(dir);
    free(dir);
    printf(
        "bench_core: %ld CPUs, Linux %s, data in %s; io_uring %s, O_DIRECT %s, %u-byte pages\n\n",
        sysconf(_SC_NPROCESSORS_ONLN), u.release, o->dir, st.io_uring ? "on" : "off",
        st.direct_io ? "on" : "off", so.page_size);
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    parse(argc, argv, &o);
    hdb_log_set_level(HDB_LOG_WARN);
    mkdir(o.dir, 0755);
    struct lat l;
    lat_init(&l);
    context(&o);
    double raw = 0;
    if (want(&o, "raw") || want(&o, "commits")) {
        raw = raw_fsync_rate(&o, &l);
    }
    if (want(&o, "commits")) {
        commits_section(&o, raw, &l);
    }
    if (want(&o, "ops")) {
        ops_section(&o, &l);
    }
    if (want(&o, "recovery")) {
        recovery_section(&o);
    }
    if (want(&o, "versions")) {
        versions_section(&o);
    }
    if (!o.keep) {
        rm_rf(o.dir);
    }
    free(l.ns);
    return 0;
}
