/*
 * test_powercut.c — the power-cut test. SIGKILL keeps the kernel's page
 * cache, so it cannot catch a missing or misordered fdatasync; this test
 * runs the workload on the simulated disk (io.h), cuts the power at a
 * seeded I/O call — every write not yet covered by a completed fdatasync is
 * then kept, dropped or garbled sector by sector — and reopens the store
 * on what survived: every acknowledged commit must be there, nothing else,
 * and verification must find nothing. HDB_POWERCUT_SEEDS sets the number of
 * seeds (default 40, each with several cuts).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "tests/core/testutil.h"
#include "tests/core/workload.h"

#define CUT_BATCH_MAX   6u
#define CUT_KEYS        800u
#define CUT_ROUNDS      4
#define CUT_COMMITS_MAX 400u

struct cutter {
    struct hdb_sim_disk *sim;
    enum hdb_sim_cut_mode mode;
    uint64_t at; /* cut at this hook call */
    uint64_t calls;
    bool cut;
    uint64_t pending_at_cut; /* unsynced bytes the cut decided about */
};

static int cut_fault(void *ctx, enum hdb_fault_point point, uint64_t call_no, const char *path,
                     uint64_t off, uint32_t len)
{
    (void)point;
    (void)call_no;
    (void)path;
    (void)off;
    (void)len;
    struct cutter *c = ctx;
    if (c->cut) {
        return -EIO;
    }
    if (++c->calls == c->at) {
        c->pending_at_cut = hdb_sim_pending_bytes(c->sim);
        hdb_sim_power_cut(c->sim, c->mode);
        c->cut = true;
        return -EIO;
    }
    return 0;
}

static void ack_done(void *ctx, int status, const char *msg)
{
    (void)msg;
    uint64_t *slot = ctx;
    if (status == HDB_OK) {
        slot[1] = 1;
    }
}

/* Runs commits from m->applied until the power goes; returns the acked count. */
static uint64_t run_until_cut(struct hdb_store *s, struct wl *wl, uint64_t start,
                              struct tu_rng *rng)
{
    struct wl_commit c;
    wl_commit_init(&c);
    uint64_t acked = start;
    uint64_t acks[CUT_BATCH_MAX][2];
    struct hdb_err err;
    for (uint64_t i = start; i < start + CUT_COMMITS_MAX;) {
        uint32_t batch = 1 + (uint32_t)tu_rng_below(rng, CUT_BATCH_MAX);
        uint32_t queued = 0;
        for (uint32_t b = 0; b < batch; b++, queued++) {
            wl_gen(wl, i + b, &c);
            acks[b][0] = i + b + 1;
            acks[b][1] = 0;
            if (hdb_store_commit(s, c.w, c.n, 0, 0, ack_done, acks[b], &err) != HDB_OK) {
                break;
            }
        }
        int rc = hdb_store_flush(s, &err);
        for (uint32_t b = 0; b < queued; b++) {
            if (acks[b][1]) {
                acked = acks[b][0];
            }
        }
        if (rc != HDB_OK || queued < batch) {
            break;
        }
        i += batch;
        if (tu_rng_below(rng, 20) == 0 && hdb_store_checkpoint(s, &err) != HDB_OK) {
            break;
        }
    }
    wl_commit_free(&c);
    return acked;
}

static void problem_print(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "verify: %s\n", msg);
}

static void check_survivor(struct hdb_sim_disk *sim, struct wl *wl, struct wl_model *m,
                           uint64_t acked, uint64_t seed, int round)
{
    struct hdb_store_opts o;
    wl_store_opts(&o);
    o.sim = sim;
    o.fault = NULL;
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open("/db", &o, &s, NULL, &err), HDB_OK, "seed %llu round %d: %s",
                 (unsigned long long)seed, round, err.msg);
    cr_assert_eq(wl_trees(wl, s, &err), HDB_OK, "%s", err.msg);
    char why[512];
    cr_assert(wl_model_settle(m, wl, s, acked, CUT_BATCH_MAX, why, sizeof why),
              "seed %llu round %d: %s", (unsigned long long)seed, round, why);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, problem_print, NULL, &rep, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(rep.problems, 0, "seed %llu round %d: %llu problems", (unsigned long long)seed,
                 round, (unsigned long long)rep.problems);
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK, "%s", err.msg);
}

struct cut_totals {
    uint64_t acked, cuts, lost_pending_bytes;
};

static void one_seed(uint64_t seed, struct cut_totals *tot)
{
    struct tu_rng rng;
    tu_rng_seed(&rng, seed);
    struct hdb_sim_disk *sim = hdb_sim_create(seed);
    struct wl wl;
    wl_init(&wl, seed, CUT_KEYS);
    struct wl_model m;
    wl_model_init(&m, CUT_KEYS);
    for (int round = 0; round < CUT_ROUNDS; round++) {
        static const enum hdb_sim_cut_mode modes[4] = {HDB_SIM_CUT_RANDOM, HDB_SIM_CUT_RANDOM,
                                                       HDB_SIM_CUT_DROP_ALL, HDB_SIM_CUT_KEEP_ALL};
        struct cutter cut = {
            .sim = sim, .mode = modes[tu_rng_below(&rng, 4)], .at = 1 + tu_rng_below(&rng, 600)};
        struct hdb_store_opts o;
        wl_store_opts(&o);
        o.sim = sim;
        o.fault = cut_fault;
        o.fault_ctx = &cut;
        struct hdb_store *s;
        struct hdb_err err;
        uint64_t acked = m.applied;
        if (hdb_store_open("/db", &o, &s, NULL, &err) == HDB_OK) {
            if (wl_trees(&wl, s, &err) == HDB_OK) {
                acked = run_until_cut(s, &wl, m.applied, &rng);
            }
            hdb_store_close(s, &err);
        }
        tot->lost_pending_bytes += cut.pending_at_cut;
        if (!cut.cut) {
            hdb_sim_power_cut(sim, cut.mode);
        }
        tot->cuts++;
        tot->acked += acked - m.applied;
        check_survivor(sim, &wl, &m, acked, seed, round);
    }
    wl_model_free(&m);
    hdb_sim_destroy(sim);
}

Test(powercut, seeded_cuts_lose_no_acknowledged_commit, .timeout = 900)
{
    hdb_log_set_level(HDB_LOG_ERROR);
    const char *env = getenv("HDB_POWERCUT_SEEDS");
    uint64_t seeds = env != NULL ? strtoull(env, NULL, 10) : tu_scaled(40);
    struct cut_totals tot = {0};
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        one_seed(seed, &tot);
    }
    fprintf(stderr,
            "power-cut test: %llu cuts, %llu commits acknowledged before them, %llu bytes "
            "of unsynced writes at the cuts\n",
            (unsigned long long)tot.cuts, (unsigned long long)tot.acked,
            (unsigned long long)tot.lost_pending_bytes);
    cr_assert_gt(tot.acked, tot.cuts * 10, "the workload barely ran");
    cr_assert_gt(tot.lost_pending_bytes, 0, "no cut ever hit unsynced writes");
}
