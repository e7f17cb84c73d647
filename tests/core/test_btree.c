/*
 * test_btree.c — B+tree behaviour through the store: values up to 16 MiB in
 * overflow pages (and their pages given back), cursor seeks in every mode
 * with next/prev across leaves, key size limits on the smallest page size,
 * and verification reporting a structural problem that checksums miss.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/log.h"
#include "core/page.h"
#include "tests/core/testutil.h"
#include "tests/core/workload.h"

static void setup(void)
{
    hdb_log_set_level(HDB_LOG_ERROR);
}

static struct hdb_store *open_big(const char *dir)
{
    struct hdb_store_opts o;
    wl_store_opts(&o);
    o.wal_segment_bytes = 40u << 20; /* a 16 MiB value is one commit in one segment */
    o.checkpoint_wal_bytes = 64u << 20;
    struct hdb_store *s;
    struct hdb_err err;
    cr_assert_eq(hdb_store_open(dir, &o, &s, NULL, &err), HDB_OK, "%s", err.msg);
    return s;
}

static void put_sync(struct hdb_store *s, uint32_t t, const void *k, uint32_t klen, const void *v,
                     uint32_t vlen)
{
    struct hdb_write w = {
        .type = HDB_WAL_PUT, .tree = t, .key = k, .klen = klen, .val = v, .vlen = vlen};
    struct hdb_err err;
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_OK, "%s", err.msg);
}

Test(btree, values_up_to_16mib_roundtrip_and_give_pages_back, .init = setup, .timeout = 300)
{
    char *dir = tu_mkdtemp("bt-big");
    struct hdb_store *s = open_big(dir);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "blobs", &t, &err), HDB_OK);
    uint32_t len = HDB_VALUE_BYTES_MAX;
    uint8_t *big = malloc(len);
    struct tu_rng rng;
    tu_rng_seed(&rng, 5);
    tu_rng_bytes(&rng, big, len);
    put_sync(s, t, "big", 3, big, len);
    struct hdb_buf val = {0};
    cr_assert_eq(hdb_store_get(s, NULL, t, "big", 3, &val, &err), HDB_OK, "%s", err.msg);
    cr_assert(val.len == len && memcmp(val.data, big, len) == 0, "16 MiB value differs");
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK, "%s", err.msg);
    s = open_big(dir); /* from disk this time */
    cr_assert_eq(hdb_store_get(s, NULL, t, "big", 3, &val, &err), HDB_OK, "%s", err.msg);
    cr_assert(val.len == len && memcmp(val.data, big, len) == 0, "16 MiB value differs on disk");
    struct hdb_store_stats st;
    hdb_store_get_stats(s, &st);
    uint64_t pages = st.pages_total;
    for (int round = 0; round < 3; round++) { /* overwrite: the old chain's pages come back */
        big[round] ^= 1;
        put_sync(s, t, "big", 3, big, len);
        for (int c = 0; c < 3; c++) {
            cr_assert_eq(hdb_store_checkpoint(s, &err), HDB_OK, "%s", err.msg);
        }
    }
    hdb_store_get_stats(s, &st);
    cr_assert_leq(st.pages_total, pages * 3, "overwrites grew %llu -> %llu pages",
                  (unsigned long long)pages, (unsigned long long)st.pages_total);
    cr_assert_eq(hdb_store_get(s, NULL, t, "big", 3, &val, &err), HDB_OK);
    cr_assert(val.len == len && memcmp(val.data, big, len) == 0);
    struct hdb_write del = {.type = HDB_WAL_DELETE, .tree = t, .key = "big", .klen = 3};
    cr_assert_eq(hdb_store_commit_sync(s, &del, 1, &err), HDB_OK);
    cr_assert_eq(hdb_store_get(s, NULL, t, "big", 3, &val, &err), HDB_NOTFOUND);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK);
    cr_assert_eq(rep.problems, 0);
    cr_assert_gt(rep.free_pages, 4000, "the chain's pages are free again");
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK);
    hdb_buf_free(&val);
    free(big);
    tu_rmtree(dir);
    free(dir);
}

static void expect_at(struct hdb_cursor *c, int rc, int want_rc, uint32_t want)
{
    cr_assert_eq(rc, want_rc, "rc %d, expected %d", rc, want_rc);
    if (want_rc != HDB_OK) {
        return;
    }
    const uint8_t *k;
    uint32_t klen;
    hdb_cursor_key(c, &k, &klen);
    char want_key[16];
    snprintf(want_key, sizeof want_key, "%08u", want);
    cr_assert(klen == 8 && memcmp(k, want_key, 8) == 0, "at %.*s, expected %s", (int)klen, k,
              want_key);
}

Test(btree, cursor_seek_modes_and_steps_across_leaves, .init = setup)
{
    char *dir = tu_mkdtemp("bt-cursor");
    struct hdb_store *s = open_big(dir);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    /* Even numbers 0..19998 as 8-digit keys: hundreds of leaves. */
    for (uint32_t i = 0; i < 20000; i += 2) {
        char k[16];
        snprintf(k, sizeof k, "%08u", i);
        struct hdb_write w = {
            .type = HDB_WAL_PUT, .tree = t, .key = k, .klen = 8, .val = k, .vlen = 8};
        cr_assert_eq(hdb_store_commit(s, &w, 1, 0, 0, NULL, NULL, &err), HDB_OK);
    }
    cr_assert_eq(hdb_store_flush(s, &err), HDB_OK);
    struct hdb_cursor c;
    cr_assert_eq(hdb_store_cursor(s, NULL, t, &c, &err), HDB_OK);
    expect_at(&c, hdb_cursor_seek(&c, "00000100", 8, HDB_SEEK_GE, &err), HDB_OK, 100);
    expect_at(&c, hdb_cursor_seek(&c, "00000100", 8, HDB_SEEK_GT, &err), HDB_OK, 102);
    expect_at(&c, hdb_cursor_seek(&c, "00000100", 8, HDB_SEEK_LE, &err), HDB_OK, 100);
    expect_at(&c, hdb_cursor_seek(&c, "00000100", 8, HDB_SEEK_LT, &err), HDB_OK, 98);
    expect_at(&c, hdb_cursor_seek(&c, "00000101", 8, HDB_SEEK_GE, &err), HDB_OK, 102);
    expect_at(&c, hdb_cursor_seek(&c, "00000101", 8, HDB_SEEK_LE, &err), HDB_OK, 100);
    expect_at(&c, hdb_cursor_seek(&c, "0", 1, HDB_SEEK_LT, &err), HDB_NOTFOUND, 0);
    expect_at(&c, hdb_cursor_seek(&c, "0", 1, HDB_SEEK_GE, &err), HDB_OK, 0);
    expect_at(&c, hdb_cursor_seek(&c, "9", 1, HDB_SEEK_GT, &err), HDB_NOTFOUND, 0);
    expect_at(&c, hdb_cursor_seek(&c, "9", 1, HDB_SEEK_LE, &err), HDB_OK, 19998);
    /* Walk forward from a seek across every leaf boundary, then back. */
    int rc = hdb_cursor_seek(&c, "00005000", 8, HDB_SEEK_GE, &err);
    for (uint32_t want = 5000; want < 20000; want += 2) {
        expect_at(&c, rc, HDB_OK, want);
        rc = hdb_cursor_next(&c, &err);
    }
    cr_assert_eq(rc, HDB_NOTFOUND);
    rc = hdb_cursor_last(&c, &err);
    for (uint32_t want = 19998;; want -= 2) {
        expect_at(&c, rc, HDB_OK, want);
        rc = hdb_cursor_prev(&c, &err);
        if (want == 0) {
            break;
        }
    }
    cr_assert_eq(rc, HDB_NOTFOUND);
    hdb_cursor_close(&c);
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK);
    tu_rmtree(dir);
    free(dir);
}

Test(btree, key_limits_on_4k_pages, .init = setup)
{
    char *dir = tu_mkdtemp("bt-keys");
    struct hdb_store *s = open_big(dir); /* 4 KiB pages */
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    static uint8_t key[HDB_KEY_BYTES_MAX + 1];
    for (uint32_t i = 0; i < 200; i++) { /* enough maximal keys for several levels */
        memset(key, 'a' + i % 26, sizeof key);
        snprintf((char *)key, sizeof key, "%05u", i);
        key[5] = 'x';
        put_sync(s, t, key, HDB_KEY_BYTES_MAX, "v", 1);
    }
    struct hdb_write w = {.type = HDB_WAL_PUT,
                          .tree = t,
                          .key = key,
                          .klen = HDB_KEY_BYTES_MAX + 1,
                          .val = "v",
                          .vlen = 1};
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_TOOBIG);
    cr_assert(strstr(err.msg, "1024") != NULL, "names the limit: %s", err.msg);
    w.klen = 0;
    cr_assert_eq(hdb_store_commit_sync(s, &w, 1, &err), HDB_INVALID);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK);
    cr_assert_eq(rep.problems, 0);
    cr_assert_eq(rep.entries, 200);
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK);
    tu_rmtree(dir);
    free(dir);
}

Test(btree, verify_reports_keys_out_of_order_behind_a_valid_checksum, .init = setup)
{
    char *dir = tu_mkdtemp("bt-verify");
    struct hdb_store *s = open_big(dir);
    uint32_t t;
    struct hdb_err err;
    cr_assert_eq(hdb_store_tree_create(s, "t", &t, &err), HDB_OK);
    for (uint32_t i = 0; i < 3000; i++) {
        char k[16];
        snprintf(k, sizeof k, "%08u", i);
        struct hdb_write w = {
            .type = HDB_WAL_PUT, .tree = t, .key = k, .klen = 8, .val = k, .vlen = 8};
        cr_assert_eq(hdb_store_commit(s, &w, 1, 0, 0, NULL, NULL, &err), HDB_OK);
    }
    cr_assert_eq(hdb_store_close(s, &err), HDB_OK);
    /* Swap the first two slots of the live leaf holding "00001500" and re-seal it. */
    char *data = tu_path(dir, "data");
    int fd = open(data, O_RDWR);
    uint8_t page[4096];
    uint64_t victim = 0, best_gen = 0;
    for (uint64_t pgno = 2; pread(fd, page, sizeof page, (off_t)(pgno * 4096)) == 4096; pgno++) {
        if (hdb_get32(page) == HDB_PAGE_MAGIC && hdb_page_type(page) == HDB_PAGE_LEAF &&
            memmem(page, sizeof page, "00001500", 8) != NULL && hdb_page_gen(page) >= best_gen) {
            victim = pgno;
            best_gen = hdb_page_gen(page);
        }
    }
    cr_assert_neq(victim, 0);
    cr_assert_eq(pread(fd, page, sizeof page, (off_t)(victim * 4096)), 4096);
    uint32_t a = hdb_get32(page + 64), b = hdb_get32(page + 68);
    hdb_put32(page + 64, b);
    hdb_put32(page + 68, a);
    hdb_page_seal(page, sizeof page);
    cr_assert_eq(pwrite(fd, page, sizeof page, (off_t)(victim * 4096)), 4096);
    close(fd);
    s = open_big(dir);
    struct hdb_verify_report rep;
    cr_assert_eq(hdb_store_verify(s, NULL, NULL, &rep, &err), HDB_OK, "%s", err.msg);
    cr_assert_gt(rep.problems, 0, "keys out of order went unnoticed");
    hdb_store_close(s, &err);
    free(data);
    tu_rmtree(dir);
    free(dir);
}
