/*
 * test_crash.c — the crash test: a child process runs the deterministic
 * workload in sync mode and reports every acknowledged commit to the parent
 * over a pipe; the parent SIGKILLs it at a random moment, reopens the store
 * and checks that every acknowledged commit is there, that nothing else is
 * (the store equals the workload after some prefix of at most the commits
 * in flight past the last acknowledgement), and that verification finds
 * nothing. HDB_CRASH_CYCLES sets the number of kills (default 100).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "tests/core/testutil.h"
#include "tests/core/workload.h"

#define CRASH_BATCH_MAX 8u
#define CRASH_KEYS      3000u

struct ack_pipe {
    int fd;
};

static void ack_done(void *ctx, int status, const char *msg)
{
    (void)msg;
    uint64_t *slot = ctx;
    if (status == HDB_OK) {
        slot[1] = 1;
    }
}

/* The child: commits from `start` on until killed; writes each acked count to fd. */
static void crash_child(const char *dir, uint64_t seed, uint64_t start, int fd)
{
    struct hdb_store_opts o;
    wl_store_opts(&o);
    struct hdb_store *s;
    struct hdb_err err;
    if (hdb_store_open(dir, &o, &s, NULL, &err) != HDB_OK) {
        fprintf(stderr, "child open: %s\n", err.msg);
        _exit(2);
    }
    struct wl wl;
    wl_init(&wl, seed, CRASH_KEYS);
    if (wl_trees(&wl, s, &err) != HDB_OK) {
        fprintf(stderr, "child trees: %s\n", err.msg);
        _exit(2);
    }
    struct wl_commit c;
    wl_commit_init(&c);
    struct tu_rng rng;
    tu_rng_seed(&rng, seed ^ start);
    uint64_t acks[CRASH_BATCH_MAX][2];
    for (uint64_t i = start;;) {
        uint32_t batch = 1 + (uint32_t)tu_rng_below(&rng, CRASH_BATCH_MAX);
        for (uint32_t b = 0; b < batch; b++) {
            wl_gen(&wl, i + b, &c);
            acks[b][0] = i + b + 1;
            acks[b][1] = 0;
            if (hdb_store_commit(s, c.w, c.n, 0, 0, ack_done, acks[b], &err) != HDB_OK) {
                fprintf(stderr, "child commit: %s\n", err.msg);
                _exit(3);
            }
        }
        if (hdb_store_flush(s, &err) != HDB_OK) {
            fprintf(stderr, "child flush: %s\n", err.msg);
            _exit(3);
        }
        for (uint32_t b = 0; b < batch; b++) {
            if (acks[b][1] && write(fd, &acks[b][0], sizeof acks[b][0]) != sizeof acks[b][0]) {
                _exit(4);
            }
        }
        i += batch;
        if (hdb_store_poll(s, UINT64_MAX / 2, NULL, &err) != HDB_OK) {
            fprintf(stderr, "child poll: %s\n", err.msg);
            _exit(3);
        }
    }
}

/* Reads every acked count the child managed to send; returns the largest. */
static uint64_t read_acks(int fd, uint64_t start)
{
    uint64_t best = start, v;
    ssize_t n;
    while ((n = read(fd, &v, sizeof v)) == (ssize_t)sizeof v) {
        best = v > best ? v : best;
    }
    return best;
}

static void problem_print(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "verify: %s\n", msg);
}

/* Reopens after a kill and checks the store; returns the prefix it holds. */
static void check_after_kill(const char *dir, struct wl *wl, struct wl_model *m, uint64_t acked,
                             int cycle)
{
    struct hdb_store_opts o;
    wl_store_opts(&o);
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open(dir, &o, &s, NULL, &err), HDB_OK, "cycle %d: reopen: %s", cycle,
                 err.msg);
    cr_assert_eq(wl_trees(wl, s, &err), HDB_OK, "%s", err.msg);
    char why[512];
    bool ok = wl_model_settle(m, wl, s, acked, CRASH_BATCH_MAX, why, sizeof why);
    cr_assert(ok, "cycle %d: acked %llu: %s", cycle, (unsigned long long)acked, why);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, problem_print, NULL, &rep, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(rep.problems, 0, "cycle %d: verification found %llu problems", cycle,
                 (unsigned long long)rep.problems);
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK, "%s", err.msg);
}

static int crash_cycles(void)
{
    const char *env = getenv("HDB_CRASH_CYCLES");
    return env != NULL ? atoi(env) : 100;
}

Test(crash, sigkill_loses_no_acknowledged_commit, .timeout = 900)
{
    hdb_log_set_level(HDB_LOG_WARN);
    char *dir = tu_mkdtemp("crash");
    uint64_t seed = (uint64_t)time(NULL);
    fprintf(stderr, "crash test seed %llu\n", (unsigned long long)seed);
    struct tu_rng rng;
    tu_rng_seed(&rng, seed);
    struct wl wl;
    wl_init(&wl, seed, CRASH_KEYS);
    struct wl_model m;
    wl_model_init(&m, CRASH_KEYS);
    int cycles = crash_cycles();
    for (int cycle = 0; cycle < cycles; cycle++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        uint64_t start = m.applied;
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            close(fds[0]);
            crash_child(dir, seed, start, fds[1]);
        }
        close(fds[1]);
        struct timespec d = {0, (long)(1 + tu_rng_below(&rng, 60)) * 1000000L};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "cycle %d: child exited by itself (status %d)", cycle,
                  WEXITSTATUS(status));
        uint64_t acked = read_acks(fds[0], start);
        close(fds[0]);
        check_after_kill(dir, &wl, &m, acked, cycle);
    }
    fprintf(stderr, "crash test: %d kills, %llu commits survived\n", cycles,
            (unsigned long long)m.applied);
    wl_model_free(&m);
    tu_rmtree(dir);
    free(dir);
}
