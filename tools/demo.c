/*
 * demo.c — `make run` until the server exists: a short demonstration of the
 * storage engine on a directory (./data by default). It opens (or creates,
 * or recovers) the store, writes accounts and transfers through group
 * commit, shows a held version reading old data while writes go on,
 * scans, checkpoints, verifies, and prints what it did and what it cost.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/store.h"

#define DEMO_ACCOUNTS  10000u
#define DEMO_TRANSFERS 2000u
#define DEMO_IN_FLIGHT 16u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, const struct hdb_err *err)
{
    fprintf(stderr, "heliosdb-demo: %s: %s (%s)\n", what, err->msg, hdb_status_name(err->code));
    return 1;
}

static void account_key(uint32_t id, char key[16])
{
    snprintf(key, 16, "acct:%08" PRIu32, id);
}

static int64_t balance(struct hdb_store *s, struct hdb_version *v, uint32_t tree, uint32_t id)
{
    char key[16];
    account_key(id, key);
    struct hdb_buf val = {0};
    int64_t b = -1;
    if (hdb_store_get(s, v, tree, key, 13, &val, NULL) == HDB_OK && val.len == sizeof b) {
        memcpy(&b, val.data, sizeof b);
    }
    hdb_buf_free(&val);
    return b;
}

static int open_accounts(struct hdb_store *s, uint32_t *tree, struct hdb_err *err)
{
    double t0 = now_s();
    if (hdb_store_tree_find(s, "accounts", tree, err) == HDB_OK) {
        printf("found tree \"accounts\" (id %" PRIu32 ")\n", *tree);
        return HDB_OK;
    }
    int rc = hdb_store_tree_create(s, "accounts", tree, err);
    if (rc != HDB_OK) {
        return rc;
    }
    struct hdb_write w[100];
    char keys[100][16];
    int64_t amount = 1000;
    for (uint32_t i = 0; i < DEMO_ACCOUNTS; i += 100) {
        for (uint32_t j = 0; j < 100; j++) {
            account_key(i + j, keys[j]);
            w[j] = (struct hdb_write){.type = HDB_WAL_PUT,
                                      .tree = *tree,
                                      .key = keys[j],
                                      .klen = 13,
                                      .val = &amount,
                                      .vlen = sizeof amount};
        }
        rc = hdb_store_commit_sync(s, w, 100, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    printf("created tree \"accounts\" with %u accounts of 1000 in %u durable commits (%.1f ms)\n",
           DEMO_ACCOUNTS, DEMO_ACCOUNTS / 100, (now_s() - t0) * 1e3);
    return HDB_OK;
}

/* The two puts of a transfer of `amount` from account `from` to account `to`. */
struct transfer {
    char keys[2][16];
    int64_t bal[2];
    struct hdb_write w[2];
};

static void transfer_writes(struct hdb_store *s, uint32_t tree, uint32_t from, uint32_t to,
                            int64_t amount, struct transfer *t)
{
    t->bal[0] = balance(s, NULL, tree, from) - amount;
    t->bal[1] = balance(s, NULL, tree, to) + amount;
    account_key(from, t->keys[0]);
    account_key(to, t->keys[1]);
    for (int i = 0; i < 2; i++) {
        t->w[i] = (struct hdb_write){.type = HDB_WAL_PUT,
                                     .tree = tree,
                                     .key = t->keys[i],
                                     .klen = 13,
                                     .val = &t->bal[i],
                                     .vlen = sizeof t->bal[i]};
    }
}

/* 16 transfers per group on distinct accounts, so each reads committed balances. */
static int transfers(struct hdb_store *s, uint32_t tree, struct hdb_err *err)
{
    double t0 = now_s();
    uint64_t x = (uint64_t)time(NULL) | 1;
    for (uint32_t g = 0; g < DEMO_TRANSFERS / DEMO_IN_FLIGHT; g++) {
        uint32_t base = (uint32_t)((x = x * 6364136223846793005ull + 1) >> 33) % DEMO_ACCOUNTS;
        for (uint32_t i = 0; i < DEMO_IN_FLIGHT; i++) {
            struct transfer t;
            transfer_writes(s, tree, (base + 2 * i) % DEMO_ACCOUNTS,
                            (base + 2 * i + 1) % DEMO_ACCOUNTS, 7, &t);
            int rc = hdb_store_commit(s, t.w, 2, 0, 0, NULL, NULL, err);
            if (rc != HDB_OK) {
                return rc;
            }
        }
        int rc = hdb_store_flush(s, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    double dt = now_s() - t0;
    printf("made %u transfers, %u per group commit: %.0f durable commits/s\n", DEMO_TRANSFERS,
           DEMO_IN_FLIGHT, DEMO_TRANSFERS / dt);
    return HDB_OK;
}

/* One durable transfer. */
static int pay(struct hdb_store *s, uint32_t tree, uint32_t from, uint32_t to, int64_t amount,
               struct hdb_err *err)
{
    struct transfer t;
    transfer_writes(s, tree, from, to, amount, &t);
    return hdb_store_commit_sync(s, t.w, 2, err);
}

static int64_t total(struct hdb_store *s, struct hdb_version *v, uint32_t tree, uint32_t *n,
                     struct hdb_err *err)
{
    struct hdb_cursor c;
    int64_t sum = 0;
    *n = 0;
    int rc = hdb_store_cursor(s, v, tree, &c, err);
    for (rc = rc == HDB_OK ? hdb_cursor_first(&c, err) : rc; rc == HDB_OK;
         rc = hdb_cursor_next(&c, err)) {
        struct hdb_buf val = {0};
        int64_t b = 0;
        if (hdb_cursor_value(&c, &val, err) == HDB_OK && val.len == sizeof b) {
            memcpy(&b, val.data, sizeof b);
        }
        hdb_buf_free(&val);
        sum += b;
        (*n)++;
    }
    hdb_cursor_close(&c);
    return sum;
}

static void print_stats(struct hdb_store *s)
{
    struct hdb_store_stats st;
    hdb_store_get_stats(s, &st);
    printf("stats: %" PRIu64 " commits in %" PRIu64 " groups, %" PRIu64 " WAL fsyncs, "
           "%" PRIu64 " checkpoints; cache %" PRIu64 " hits / %" PRIu64 " misses; "
           "file %" PRIu64 " pages (%" PRIu64 " free, %" PRIu64
           " waiting); io_uring %s, O_DIRECT %s\n",
           st.commits, st.groups, st.wal.fsyncs, st.checkpoints, st.cache.hits, st.cache.misses,
           st.pages_total, st.pages_free, st.pages_pending, st.io_uring ? "on" : "off (fallback)",
           st.direct_io ? "on" : "off (fallback)");
}

static int demo(const char *dir)
{
    struct hdb_store_opts o;
    hdb_store_opts_default(&o);
    o.cache_bytes = 32u << 20;
    struct hdb_store *s;
    struct hdb_recovery_info info;
    struct hdb_err err;
    if (hdb_store_open(dir, &o, &s, &info, &err) != HDB_OK) {
        return die("open", &err);
    }
    printf("%s %s: checkpoint %" PRIu64 ", %" PRIu64 " WAL records replayed, %.1f ms\n",
           info.created ? "created" : "opened", dir, info.checkpoint_seq, info.wal.records,
           (double)info.duration_ns / 1e6);
    uint32_t tree;
    if (open_accounts(s, &tree, &err) != HDB_OK || transfers(s, tree, &err) != HDB_OK) {
        return die("writes", &err);
    }
    struct hdb_version *v = hdb_store_version_take(s);
    int64_t before = balance(s, v, tree, 0);
    if (pay(s, tree, 0, 1, 25, &err) != HDB_OK || transfers(s, tree, &err) != HDB_OK) {
        return die("writes", &err);
    }
    uint32_t n;
    int64_t held_sum = total(s, v, tree, &n, &err);
    printf("held version %" PRIu64 " still reads account 0 as %" PRId64 " (now %" PRId64
           "); its %u accounts total %" PRId64 "\n",
           hdb_version_gen(v), before, balance(s, NULL, tree, 0), n, held_sum);
    hdb_store_version_release(s, v);
    int64_t sum = total(s, NULL, tree, &n, &err);
    printf("scan: %u accounts, total %" PRId64 " (%s)\n", n, sum,
           sum == (int64_t)DEMO_ACCOUNTS * 1000 ? "conserved" : "NOT conserved");
    struct hdb_verify_report rep;
    double t0 = now_s();
    if (hdb_store_verify(s, NULL, NULL, &rep, &err) != HDB_OK) {
        return die("verify", &err);
    }
    printf("checkpoint + verify: %" PRIu64 " pages, %" PRIu64 " entries, %" PRIu64
           " problems (%.1f ms)\n",
           rep.pages, rep.entries, rep.problems, (now_s() - t0) * 1e3);
    print_stats(s);
    if (hdb_store_close(s, &err) != HDB_OK) {
        return die("close", &err);
    }
    printf("closed %s; run again to reopen it\n", dir);
    return rep.problems == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    hdb_log_set_level(HDB_LOG_WARN);
    return demo(argc > 1 ? argv[1] : "./data");
}
