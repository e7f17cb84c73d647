/*
 * tsan_service.c — a service on the shard threads (hdb_db_set_service, what
 * `heliosdb serve` runs there) under ThreadSanitizer: every shard thread
 * runs transfers on a connection it made itself, some under a lock the
 * other threads (and an outside thread) take too, snapshots and pauses,
 * while an outside thread transfers and reads totals; the service is
 * removed and installed again midway, and the bank total holds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/testutil.h"
#include "kvtest.h"

enum { OPS = 120 };

struct state {
    struct hdb_db *db;
    pthread_mutex_t lock;
    struct hdb_conn *conn[HDB_SHARDS_MAX];
    uint32_t done[HDB_SHARDS_MAX]; /* each only touched by its own thread */
    _Atomic uint32_t finished;
    _Atomic int failed;
};

static uint64_t turn(void *arg, uint32_t thread, uint64_t now_ns, uint64_t *next_ns)
{
    (void)now_ns;
    (void)next_ns;
    struct state *st = arg;
    if (st->done[thread] == OPS) {
        return 0;
    }
    struct hdb_err err = {0};
    if (st->conn[thread] == NULL && hdb_db_connect(st->db, &st->conn[thread], &err) != HDB_OK) {
        atomic_store(&st->failed, 1);
        return 0;
    }
    uint64_t rng = (uint64_t)thread * 104729u + st->done[thread] + 7u;
    bool multi = false, locked = st->done[thread] % 7 == 0;
    if (locked) {
        hdb_db_lock_mutex(st->db, &st->lock);
    }
    int rc = kt_bank_transfer(st->conn[thread], &rng, 0, &multi);
    if (locked) {
        pthread_mutex_unlock(&st->lock);
    }
    if (rc == HDB_OK && st->done[thread] % 40 == 0) {
        struct hdb_snapshot_info info;
        rc = hdb_snapshot_create(st->conn[thread], &info, &err);
        rc = rc == HDB_OK ? hdb_snapshot_drop(st->conn[thread], info.id, &err) : rc;
        hdb_db_pause(st->db, 1);
    }
    if (rc != HDB_OK) {
        fprintf(stderr, "service turn on thread %u: %d %s\n", thread, rc, err.msg);
        atomic_store(&st->failed, 1);
    }
    if (++st->done[thread] == OPS) {
        hdb_db_disconnect(st->conn[thread]);
        st->conn[thread] = NULL;
        atomic_fetch_add(&st->finished, 1);
    }
    return 1;
}

int main(void)
{
    char *dir = tu_mkdtemp("tsan-service");
    struct hdb_db_opts o;
    kt_opts(&o, 4);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    kt_bank_init(c);
    static struct state st;
    st.db = db;
    pthread_mutex_init(&st.lock, NULL);
    struct hdb_db_service svc = {.turn = turn, .arg = &st};
    for (uint32_t i = 0; i < HDB_SHARDS_MAX; i++) {
        svc.fds[i] = -1;
    }
    hdb_db_set_service(db, &svc);
    struct kt_bank_worker reader = {.db = db, .reader = true, .ops = 10};
    pthread_t rt;
    pthread_create(&rt, NULL, kt_bank_worker_run, &reader);
    uint64_t rng = 99;
    int bad = 0;
    for (uint32_t i = 0; atomic_load(&st.finished) < hdb_db_threads(db) && !bad; i++) {
        bool multi = false;
        if (i == 20) { /* off and on again while the threads are busy */
            hdb_db_set_service(db, NULL);
            hdb_db_set_service(db, &svc);
        }
        if (i % 3 == 0) {
            hdb_db_lock_mutex(db, &st.lock);
        }
        bad += kt_bank_transfer(c, &rng, 0, &multi) != HDB_OK;
        if (i % 3 == 0) {
            pthread_mutex_unlock(&st.lock);
        }
        bad += atomic_load(&st.failed);
    }
    hdb_db_set_service(db, NULL);
    pthread_join(rt, NULL);
    bad += (int)reader.bad_totals + (reader.failed != 0) + atomic_load(&st.failed);
    if (kt_bank_total(c, true) != (int64_t)BANK_ACCOUNTS * BANK_START) {
        fprintf(stderr, "the bank total moved\n");
        bad++;
    }
    hdb_db_disconnect(c);
    struct hdb_err err;
    if (hdb_db_close(db, &err) != HDB_OK) {
        fprintf(stderr, "close: %s\n", err.msg);
        bad++;
    }
    tu_rmtree(dir);
    free(dir);
    printf("tsan_service: %s\n", bad == 0 ? "ok" : "FAILED");
    return bad == 0 ? 0 : 1;
}
