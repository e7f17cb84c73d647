/*
 * test_cache_io.c — the page cache and the I/O layer on their own:
 * eviction writes dirty pages back and rereads them intact, pins keep
 * frames and exhausting them is HDB_FULL, prefetched pages are hits, a
 * damaged page is HDB_CORRUPT naming page and checksums; io_uring batches
 * round-trip, set-up and O_DIRECT failures fall back, and the simulated
 * disk keeps only what an fdatasync covered.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cache.h"
#include "core/log.h"
#include "core/page.h"
#include "tests/core/testutil.h"
#include "tests/core/workload.h"

#define PS 4096u

static void setup(void)
{
    hdb_log_set_level(HDB_LOG_ERROR);
}

struct fixture {
    char *dir, *path;
    struct hdb_io *io;
    struct hdb_file *file;
    struct hdb_cache *cache;
};

static void fixture_open(struct fixture *fx, uint32_t frames, hdb_io_fault_fn fault)
{
    fx->dir = tu_mkdtemp("cache");
    fx->path = tu_path(fx->dir, "pages");
    struct hdb_io_opts o;
    hdb_io_opts_default(&o);
    struct hdb_err err;
    cr_assert_eq(hdb_io_create(&o, NULL, fault, NULL, &fx->io, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(
        hdb_file_open(fx->io, fx->path, HDB_FILE_CREATE | HDB_FILE_DIRECT, &fx->file, &err), HDB_OK,
        "%s", err.msg);
    struct hdb_cache_opts co = {.capacity_bytes = (uint64_t)frames * PS,
                                .page_size = PS,
                                .prefetch_pages = 8,
                                .verify_on_read = true};
    cr_assert_eq(hdb_cache_create(&co, fx->file, &fx->cache, &err), HDB_OK, "%s", err.msg);
}

static void fixture_close(struct fixture *fx)
{
    hdb_cache_destroy(fx->cache);
    hdb_file_close(fx->file);
    hdb_io_destroy(fx->io);
    tu_rmtree(fx->dir);
    free(fx->path);
    free(fx->dir);
}

/* Writes pages [0, n) through the cache, each filled with its number. */
static void write_pages(struct fixture *fx, uint64_t n)
{
    struct hdb_err err;
    for (uint64_t p = 0; p < n; p++) {
        struct hdb_frame *f;
        cr_assert_eq(hdb_cache_new(fx->cache, p, &f, &err), HDB_OK, "%s", err.msg);
        hdb_page_init(f->data, PS, HDB_PAGE_LEAF, p, 1);
        memset(f->data + 64, (int)(p & 0xff), PS - 64);
        hdb_cache_unpin(fx->cache, f);
    }
}

Test(cache, eviction_writes_back_and_rereads_intact, .init = setup)
{
    struct fixture fx;
    fixture_open(&fx, 64, NULL);
    write_pages(&fx, 300); /* far more pages than frames: dirty evictions */
    struct hdb_err err;
    for (uint64_t p = 0; p < 300; p++) {
        struct hdb_frame *f;
        cr_assert_eq(hdb_cache_get(fx.cache, p, &f, &err), HDB_OK, "page %llu: %s",
                     (unsigned long long)p, err.msg);
        cr_assert_eq(f->data[100], (uint8_t)(p & 0xff));
        hdb_cache_unpin(fx.cache, f);
    }
    struct hdb_cache_stats st;
    hdb_cache_get_stats(fx.cache, &st);
    cr_assert_gt(st.writebacks, 200);
    cr_assert_gt(st.misses, 200);
    cr_assert_eq(st.frames, 64);
    fixture_close(&fx);
}

Test(cache, pinned_frames_stay_and_exhaustion_is_full, .init = setup)
{
    struct fixture fx;
    fixture_open(&fx, 64, NULL);
    write_pages(&fx, 64);
    cr_assert_eq(hdb_cache_flush(fx.cache, NULL), HDB_OK);
    struct hdb_frame *pinned[64];
    struct hdb_err err;
    for (uint64_t p = 0; p < 64; p++) {
        cr_assert_eq(hdb_cache_get(fx.cache, p, &pinned[p], &err), HDB_OK);
    }
    struct hdb_frame *f;
    cr_assert_eq(hdb_cache_new(fx.cache, 100, &f, &err), HDB_FULL);
    cr_assert(strstr(err.msg, "pinned") != NULL, "%s", err.msg);
    for (uint64_t p = 0; p < 64; p++) {
        cr_assert_eq(pinned[p]->pgno, p, "a pinned frame was reused");
        hdb_cache_unpin(fx.cache, pinned[p]);
    }
    cr_assert_eq(hdb_cache_new(fx.cache, 100, &f, &err), HDB_OK);
    hdb_cache_unpin(fx.cache, f);
    fixture_close(&fx);
}

Test(cache, prefetched_pages_are_hits, .init = setup)
{
    struct fixture fx;
    fixture_open(&fx, 64, NULL);
    write_pages(&fx, 32);
    cr_assert_eq(hdb_cache_flush(fx.cache, NULL), HDB_OK);
    hdb_cache_forget_all(fx.cache);
    uint64_t want[8] = {3, 4, 5, 6, 7, 8, 9, 10};
    cr_assert_eq(hdb_cache_prefetch(fx.cache, want, 8, NULL), HDB_OK);
    struct hdb_cache_stats st;
    hdb_cache_get_stats(fx.cache, &st);
    cr_assert_eq(st.prefetched, 8);
    uint64_t misses = st.misses;
    for (int i = 0; i < 8; i++) {
        struct hdb_frame *f;
        cr_assert_eq(hdb_cache_get(fx.cache, want[i], &f, NULL), HDB_OK);
        hdb_cache_unpin(fx.cache, f);
    }
    hdb_cache_get_stats(fx.cache, &st);
    cr_assert_eq(st.misses, misses, "prefetched pages were read again");
    fixture_close(&fx);
}

Test(cache, damaged_page_is_corrupt_naming_page_and_checksums, .init = setup)
{
    struct fixture fx;
    fixture_open(&fx, 64, NULL);
    write_pages(&fx, 8);
    cr_assert_eq(hdb_cache_flush(fx.cache, NULL), HDB_OK);
    hdb_cache_forget_all(fx.cache);
    int fd = open(fx.path, O_RDWR);
    uint8_t b = 0x5a;
    cr_assert_eq(pwrite(fd, &b, 1, 5 * PS + 2000), 1);
    close(fd);
    struct hdb_frame *f;
    struct hdb_err err;
    cr_assert_eq(hdb_cache_get(fx.cache, 5, &f, &err), HDB_CORRUPT);
    cr_assert(strstr(err.msg, "page 5") != NULL && strstr(err.msg, "expected") != NULL &&
                  strstr(err.msg, "found") != NULL,
              "%s", err.msg);
    cr_assert_eq(hdb_cache_get(fx.cache, 4, &f, &err), HDB_OK, "neighbours are fine");
    hdb_cache_unpin(fx.cache, f);
    fixture_close(&fx);
}

/* Writes 64 pages and an fdatasync in one batch, reads them back in another. */
static void batch_roundtrip(struct hdb_io *io, const char *path, bool expect_direct)
{
    struct hdb_file *f;
    struct hdb_err err;
    cr_assert_eq(hdb_file_open(io, path, HDB_FILE_CREATE | HDB_FILE_DIRECT, &f, &err), HDB_OK, "%s",
                 err.msg);
    cr_assert_eq(hdb_file_is_direct(f), expect_direct);
    uint8_t *buf = hdb_io_alloc(64 * PS), *back = hdb_io_alloc(64 * PS);
    struct hdb_io_op ops[65];
    for (uint32_t i = 0; i < 64; i++) {
        memset(buf + i * PS, (int)i + 1, PS);
        ops[i] = (struct hdb_io_op){.file = f,
                                    .kind = HDB_IO_WRITE,
                                    .buf = buf + i * PS,
                                    .len = PS,
                                    .off = (uint64_t)i * PS};
    }
    ops[64] = (struct hdb_io_op){.file = f, .kind = HDB_IO_FSYNC};
    cr_assert_eq(hdb_io_run(io, ops, 65, &err), HDB_OK, "%s", err.msg);
    for (uint32_t i = 0; i < 64; i++) {
        ops[i].kind = HDB_IO_READ;
        ops[i].buf = back + (63 - i) * PS; /* out of order on purpose */
        ops[i].off = (uint64_t)(63 - i) * PS;
    }
    cr_assert_eq(hdb_io_run(io, ops, 64, &err), HDB_OK, "%s", err.msg);
    cr_assert(memcmp(buf, back, 64 * PS) == 0);
    uint8_t *past = hdb_io_alloc(PS);
    cr_assert_eq(hdb_io_read(f, past, PS, 64 * PS, &err), HDB_IOERR, "read past the end");
    cr_assert(strstr(err.msg, "short read") != NULL, "%s", err.msg);
    hdb_io_free(past);
    hdb_io_free(buf);
    hdb_io_free(back);
    hdb_file_close(f);
}

static bool direct_supported(const char *dir)
{
    char *p = tu_path(dir, "probe");
    int fd = open(p, O_RDWR | O_CREAT | O_DIRECT, 0644);
    bool ok = fd >= 0;
    if (fd >= 0) {
        close(fd);
    }
    unlink(p);
    free(p);
    return ok;
}

Test(io, uring_batches_round_trip, .init = setup)
{
    char *dir = tu_mkdtemp("io");
    char *path = tu_path(dir, "f");
    struct hdb_io_opts o;
    hdb_io_opts_default(&o);
    struct hdb_io *io;
    cr_assert_eq(hdb_io_create(&o, NULL, NULL, NULL, &io, NULL), HDB_OK);
    if (!hdb_io_uses_uring(io)) {
        cr_log_warn("io_uring is not available here: the posix path was tested instead");
    }
    batch_roundtrip(io, path, direct_supported(dir));
    hdb_io_destroy(io);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

Test(io, sqpoll_ring_round_trips_or_falls_back, .init = setup)
{
    char *dir = tu_mkdtemp("io-sqpoll");
    char *path = tu_path(dir, "f");
    struct hdb_io_opts o;
    hdb_io_opts_default(&o);
    o.io_uring_polling = true; /* [io] io_uring_polling: a kernel thread polls the ring */
    struct hdb_io *io;
    cr_assert_eq(hdb_io_create(&o, NULL, NULL, NULL, &io, NULL), HDB_OK);
    batch_roundtrip(io, path, direct_supported(dir));
    hdb_io_destroy(io);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

Test(io, uring_and_direct_failures_fall_back, .init = setup)
{
    char *dir = tu_mkdtemp("io-fb");
    char *path = tu_path(dir, "f");
    struct hdb_io_opts o;
    hdb_io_opts_default(&o);
    struct hdb_io *io;
    cr_assert_eq(hdb_io_create(&o, NULL, wl_fallback_fault, NULL, &io, NULL), HDB_OK);
    cr_assert(!hdb_io_uses_uring(io), "io_uring set-up failure was not honoured");
    batch_roundtrip(io, path, false);
    hdb_io_destroy(io);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

static int cut_writes_short(void *ctx, enum hdb_fault_point point, uint64_t call_no,
                            const char *path, uint64_t off, uint32_t len)
{
    (void)ctx;
    (void)call_no;
    (void)path;
    (void)off;
    return point == HDB_FAULT_WRITE || point == HDB_FAULT_READ ? (int)(len / 3) : 0;
}

Test(io, short_transfers_are_continued, .init = setup)
{
    char *dir = tu_mkdtemp("io-short");
    char *path = tu_path(dir, "f");
    struct hdb_io_opts o;
    hdb_io_opts_default(&o);
    o.use_direct_io = false; /* partial transfers of direct I/O must stay aligned */
    struct hdb_io *io;
    cr_assert_eq(hdb_io_create(&o, NULL, cut_writes_short, NULL, &io, NULL), HDB_OK);
    batch_roundtrip(io, path, false);
    hdb_io_destroy(io);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

Test(io, simulated_disk_keeps_only_synced_writes, .init = setup)
{
    struct hdb_sim_disk *sim = hdb_sim_create(9);
    struct hdb_io *io;
    cr_assert_eq(hdb_io_create(NULL, sim, NULL, NULL, &io, NULL), HDB_OK);
    struct hdb_file *f;
    struct hdb_err err;
    cr_assert_eq(hdb_io_mkdir(io, "/d", &err), HDB_OK);
    cr_assert_eq(hdb_file_open(io, "/d/f", HDB_FILE_CREATE, &f, &err), HDB_OK);
    cr_assert_eq(hdb_io_sync_dir(io, "/d", &err), HDB_OK);
    uint8_t a[PS], b[PS];
    memset(a, 'a', PS);
    memset(b, 'b', PS);
    cr_assert_eq(hdb_io_write(f, a, PS, 0, &err), HDB_OK);
    cr_assert_eq(hdb_io_fsync(f, &err), HDB_OK);
    cr_assert_eq(hdb_io_write(f, b, PS, PS, &err), HDB_OK); /* never synced */
    cr_assert_eq(hdb_sim_pending_bytes(sim), PS);
    hdb_sim_power_cut(sim, HDB_SIM_CUT_DROP_ALL);
    cr_assert_eq(hdb_io_write(f, a, PS, 0, &err), HDB_IOERR, "a handle from before the cut");
    hdb_file_close(f);
    hdb_io_destroy(io);
    cr_assert_eq(hdb_io_create(NULL, sim, NULL, NULL, &io, NULL), HDB_OK);
    cr_assert_eq(hdb_file_open(io, "/d/f", 0, &f, &err), HDB_OK, "%s", err.msg);
    uint64_t size;
    cr_assert_eq(hdb_file_size(f, &size, &err), HDB_OK);
    cr_assert_eq(size, PS, "the unsynced page survived");
    uint8_t back[PS];
    cr_assert_eq(hdb_io_read(f, back, PS, 0, &err), HDB_OK);
    cr_assert(memcmp(back, a, PS) == 0);
    /* A file created without a directory fsync may vanish at a cut. */
    struct hdb_file *g;
    cr_assert_eq(hdb_file_open(io, "/d/new", HDB_FILE_CREATE, &g, &err), HDB_OK);
    cr_assert_eq(hdb_io_write(g, a, PS, 0, &err), HDB_OK);
    cr_assert_eq(hdb_io_fsync(g, &err), HDB_OK);
    hdb_sim_power_cut(sim, HDB_SIM_CUT_DROP_ALL);
    hdb_file_close(g);
    hdb_file_close(f);
    hdb_io_destroy(io);
    cr_assert_eq(hdb_io_create(NULL, sim, NULL, NULL, &io, NULL), HDB_OK);
    cr_assert(!hdb_io_exists(io, "/d/new"), "created but never made durable in its directory");
    cr_assert(hdb_io_exists(io, "/d/f"));
    hdb_io_destroy(io);
    hdb_sim_destroy(sim);
}
