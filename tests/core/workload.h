/*
 * workload.h — a deterministic write workload and its reference model,
 * shared by the store, crash, power-cut and fault tests.
 *
 * Commit number i is a pure function of (seed, i): 1-4 puts or deletes of
 * keys "key%08u" in trees "t0"/"t1", values of 0-200 bytes and sometimes
 * 5-40 KiB (overflow pages). So a process that crashed after acknowledging
 * commit A can be checked by replaying commits into the model, and a new
 * process can continue at commit P without any shared state.
 */
#ifndef HDB_WORKLOAD_H
#define HDB_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/store.h"

#define WL_WRITES_MAX      4u
#define WL_VALUE_BYTES_MAX (40u * 1024u)
#define WL_KEY_BYTES       11u

struct wl {
    uint64_t seed;
    uint32_t nkeys;
    uint32_t big_every; /* one value in big_every is 5-40 KiB (0: never) */
    uint32_t tree[2];
};

/* Buffers for one generated commit. */
struct wl_commit {
    struct hdb_write w[WL_WRITES_MAX];
    uint32_t n;
    uint8_t keys[WL_WRITES_MAX][16];
    uint8_t *vals[WL_WRITES_MAX];
};

void wl_init(struct wl *wl, uint64_t seed, uint32_t nkeys);
/* Creates (or finds) the two trees. */
int wl_trees(struct wl *wl, struct hdb_store *s, struct hdb_err *err);
void wl_commit_init(struct wl_commit *c);
void wl_commit_free(struct wl_commit *c);
/* Fills c with commit number i. */
void wl_gen(const struct wl *wl, uint64_t i, struct wl_commit *c);

/* The model: for each (tree, key) which commit/write last set it. */
struct wl_model {
    uint32_t nkeys;
    int64_t *last;    /* [2 * nkeys]: -1 absent, else i * WL_WRITES_MAX + j */
    uint64_t applied; /* commits applied so far */
};

void wl_model_init(struct wl_model *m, uint32_t nkeys);
void wl_model_free(struct wl_model *m);
void wl_model_copy(struct wl_model *dst, const struct wl_model *src);
void wl_model_apply(struct wl_model *m, const struct wl *wl, uint64_t i);

/*
 * Compares the store's newest version with the model: every key's value and
 * that both trees hold no other keys. Returns true if equal; else `why`
 * says the first difference.
 */
bool wl_model_matches(const struct wl_model *m, const struct wl *wl, struct hdb_store *s, char *why,
                      size_t why_len);

/*
 * After a crash with commits [0, acked) acknowledged and at most `inflight`
 * more possibly written: finds P in [acked, acked + inflight] such that the
 * store equals the model after P commits, advancing `m` (which holds a
 * prefix <= acked) to P. Returns false (with `why`) if there is none.
 */
bool wl_model_settle(struct wl_model *m, const struct wl *wl, struct hdb_store *s, uint64_t acked,
                     uint64_t inflight, char *why, size_t why_len);

/*
 * Store options for tests: 4 KiB pages, a small cache and small WAL
 * segments so eviction, checkpoints and segment recycling all happen. With
 * HDB_TEST_FALLBACK=1 in the environment, io_uring set-up and O_DIRECT opens
 * are failed by an injected fault so the fallbacks carry the whole test.
 */
void wl_store_opts(struct hdb_store_opts *o);
/* The fault hook wl_store_opts installs under HDB_TEST_FALLBACK=1. */
int wl_fallback_fault(void *ctx, enum hdb_fault_point point, uint64_t call_no, const char *path,
                      uint64_t off, uint32_t len);

/* The value the model expects for (tree index, key): false if absent. */
bool wl_expected(const struct wl_model *m, const struct wl *wl, uint32_t tree, uint32_t key,
                 uint8_t *out, uint32_t *len);

#endif
