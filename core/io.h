/*
 * io.h — files and batched I/O for one thread: io_uring, O_DIRECT, and the
 * fallbacks, a fault-injection hook, and a simulated disk for power-cut tests.
 *
 * A `struct hdb_io` belongs to one thread (a shard). It submits batches of
 * reads, writes and fdatasyncs through its io_uring ring when one could be
 * set up, and through pread/pwrite/fdatasync otherwise (the fallback is
 * logged once per process). Files asked for with HDB_FILE_DIRECT are opened
 * with O_DIRECT; where the filesystem refuses it (EINVAL) they are opened
 * buffered instead (logged once). Buffers, offsets and lengths of direct
 * I/O must be multiples of HDB_IO_ALIGN: allocate with hdb_io_alloc().
 *
 * Backends (chosen at hdb_io_create):
 *   - uring:  io_uring; a batch goes in one submission; an FSYNC in a batch
 *             is ordered after every earlier op of the batch (it is linked
 *             to them with IOSQE_IO_LINK or submitted after they complete).
 *   - posix:  pread/pwrite/fdatasync, one call at a time.
 *   - sim:    an in-memory disk (struct hdb_sim_disk) that remembers which
 *             writes no completed fdatasync covers yet; hdb_sim_power_cut()
 *             then keeps, drops or garbles each of them sector by sector.
 *
 * Every backend finishes short transfers, retries EINTR, and reports EIO,
 * ENOSPC and friends as status codes with a message naming file, operation
 * and offset. The fault hook (hdb_io_set_fault) sees every operation before
 * the backend does and can fail it with an errno or cut a transfer short;
 * it also covers io_uring set-up and O_DIRECT opens so tests can force the
 * fallbacks.
 */
#ifndef HDB_IO_H
#define HDB_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define HDB_IO_ALIGN                 4096u
#define HDB_IO_BATCH_OPS_MAX         256u /* ops in one hdb_io_run call */
#define HDB_IO_PATH_BYTES_MAX        4096u
#define HDB_IO_URING_ENTRIES_DEFAULT 256u

struct hdb_io_opts {
    bool use_io_uring;         /* [io] use_io_uring (default true) */
    bool use_direct_io;        /* [io] use_direct_io (default true) */
    uint32_t io_uring_entries; /* [io] io_uring_entries (default 256; power of two) */
    bool io_uring_polling;     /* [io] io_uring_polling: SQPOLL kernel thread (default false) */
};

void hdb_io_opts_default(struct hdb_io_opts *opts);

enum hdb_io_kind {
    HDB_IO_READ = 0,
    HDB_IO_WRITE = 1,
    HDB_IO_FSYNC = 2, /* fdatasync of op.file; buf/len/off ignored */
};

/* What the fault hook is asked about. */
enum hdb_fault_point {
    HDB_FAULT_READ = 0,
    HDB_FAULT_WRITE = 1,
    HDB_FAULT_FSYNC = 2,
    HDB_FAULT_OPEN = 3,        /* any file open */
    HDB_FAULT_DIRECT_OPEN = 4, /* an O_DIRECT open: -EINVAL forces the buffered fallback */
    HDB_FAULT_URING_SETUP = 5, /* io_uring set-up: -EPERM/-ENOSYS/-ENOMEM force posix */
    HDB_FAULT_TRUNCATE = 6,    /* ftruncate / fallocate */
    HDB_FAULT_DIR = 7,         /* unlink, rename, mkdir, directory fsync */
};

/*
 * The fault hook. `call_no` counts the hook's calls on this io from 1.
 * Returns 0 to let the operation proceed, a negative errno to fail it with
 * that error, or for READ/WRITE a positive byte count to make that
 * transfer stop short after so many bytes (the backend then continues it,
 * as it does for a real short transfer).
 */
typedef int (*hdb_io_fault_fn)(void *ctx, enum hdb_fault_point point, uint64_t call_no,
                               const char *path, uint64_t off, uint32_t len);

struct hdb_io;
struct hdb_file;
struct hdb_sim_disk;

/*
 * Creates an I/O context. With `sim` non-NULL every file lives on that
 * simulated disk (io_uring and O_DIRECT are then not used). The `fault`
 * hook, if given, is installed before io_uring set-up so set-up failures
 * can be injected. Never fails because io_uring is unavailable.
 */
int hdb_io_create(const struct hdb_io_opts *opts, struct hdb_sim_disk *sim, hdb_io_fault_fn fault,
                  void *fault_ctx, struct hdb_io **out, struct hdb_err *err);
void hdb_io_destroy(struct hdb_io *io);
void hdb_io_set_fault(struct hdb_io *io, hdb_io_fault_fn fault, void *fault_ctx);
bool hdb_io_uses_uring(const struct hdb_io *io);

/* Aligned, zeroed buffer for direct I/O; NULL on out of memory. Free with hdb_io_free. */
void *hdb_io_alloc(size_t bytes);
/* The same without zeroing: large arenas (the page cache) are then not touched at allocation. */
void *hdb_io_alloc_uninit(size_t bytes);
void hdb_io_free(void *buf);

#define HDB_FILE_CREATE 0x1 /* create if missing */
#define HDB_FILE_DIRECT 0x2 /* O_DIRECT if opts.use_direct_io and the filesystem allows */
#define HDB_FILE_EXCL   0x4 /* with CREATE: fail with HDB_EXISTS if it exists */

int hdb_file_open(struct hdb_io *io, const char *path, int flags, struct hdb_file **out,
                  struct hdb_err *err);
void hdb_file_close(struct hdb_file *f);
const char *hdb_file_path(const struct hdb_file *f);
struct hdb_io *hdb_file_io(const struct hdb_file *f);
bool hdb_file_is_direct(const struct hdb_file *f);
int hdb_file_size(struct hdb_file *f, uint64_t *size, struct hdb_err *err);
int hdb_file_truncate(struct hdb_file *f, uint64_t size, struct hdb_err *err);
/* Makes the file at least `size` bytes long, zero-filled (fallocate where possible). */
int hdb_file_allocate(struct hdb_file *f, uint64_t size, struct hdb_err *err);

struct hdb_io_op {
    struct hdb_file *file;
    enum hdb_io_kind kind;
    void *buf;
    uint32_t len;
    uint64_t off;
};

/*
 * Runs up to HDB_IO_BATCH_OPS_MAX ops and waits for all of them. Reads and
 * writes complete in full or fail; a read that meets end of file fails with
 * HDB_IOERR ("short read"). An FSYNC runs only after every earlier op in the
 * array completed successfully; if an earlier op failed, later ops are not
 * run. Returns the first failure.
 */
int hdb_io_run(struct hdb_io *io, struct hdb_io_op *ops, uint32_t n, struct hdb_err *err);

int hdb_io_read(struct hdb_file *f, void *buf, uint32_t len, uint64_t off, struct hdb_err *err);
int hdb_io_write(struct hdb_file *f, const void *buf, uint32_t len, uint64_t off,
                 struct hdb_err *err);
int hdb_io_fsync(struct hdb_file *f, struct hdb_err *err);

/* Directory operations (paths absolute or relative to the cwd). */
int hdb_io_mkdir(struct hdb_io *io, const char *path, struct hdb_err *err); /* ok if it exists */
int hdb_io_unlink(struct hdb_io *io, const char *path, struct hdb_err *err);
int hdb_io_rename(struct hdb_io *io, const char *from, const char *to, struct hdb_err *err);
int hdb_io_sync_dir(struct hdb_io *io, const char *dir, struct hdb_err *err);
bool hdb_io_exists(struct hdb_io *io, const char *path);
/* Calls `fn` with each entry name of `dir` (not "." or ".."); stops early if fn returns non-zero.
 */
int hdb_io_list_dir(struct hdb_io *io, const char *dir, int (*fn)(void *ctx, const char *name),
                    void *ctx, struct hdb_err *err);

/*
 * Takes the database directory's LOCK file with flock(LOCK_EX|LOCK_NB) and
 * writes our PID into it. A second opener gets HDB_BUSY naming the holder's
 * PID. The lock is released by hdb_io_unlock (or when the process dies).
 */
struct hdb_lock;
int hdb_io_lock_dir(struct hdb_io *io, const char *dir, struct hdb_lock **out, struct hdb_err *err);
void hdb_io_unlock(struct hdb_lock *lock);

/* Counters for metrics and benchmarks. */
struct hdb_io_stats {
    uint64_t reads, writes, fsyncs, submits;
    uint64_t bytes_read, bytes_written;
    uint64_t fsync_ns_total, fsync_ns_max;
};
void hdb_io_get_stats(const struct hdb_io *io, struct hdb_io_stats *out);

/*
 * The simulated disk. Files are kept in memory by path. Each file has its
 * durable image and its current image; a write updates the current image
 * and is remembered as pending until an fdatasync of that file completes.
 * File creation, rename and unlink are pending until hdb_io_sync_dir of
 * the parent directory; a size change is pending until the file's fsync.
 *
 * hdb_sim_power_cut() ends the "power": every pending write is, sector by
 * sector (HDB_SIM_SECTOR bytes), kept, dropped or replaced with garbage, as
 * a seeded random choice; pending directory changes are kept or dropped;
 * every file's current image becomes what survived. Handles opened before
 * the cut fail every later call with EIO. A new hdb_io on the same disk
 * then sees the surviving state, as after a reboot.
 */
#define HDB_SIM_SECTOR 512u

enum hdb_sim_cut_mode {
    HDB_SIM_CUT_RANDOM = 0,   /* each pending sector: keep, drop or garble */
    HDB_SIM_CUT_DROP_ALL = 1, /* every pending write lost */
    HDB_SIM_CUT_KEEP_ALL = 2, /* every pending write survives (like SIGKILL) */
};

struct hdb_sim_disk *hdb_sim_create(uint64_t seed);
void hdb_sim_destroy(struct hdb_sim_disk *sim);
void hdb_sim_power_cut(struct hdb_sim_disk *sim, enum hdb_sim_cut_mode mode);
/* Bytes written but not yet covered by an fdatasync (for tests). */
uint64_t hdb_sim_pending_bytes(const struct hdb_sim_disk *sim);
/* Direct access for corruption tests: flips/reads bytes of a file's image (durable and current). */
int hdb_sim_poke(struct hdb_sim_disk *sim, const char *path, uint64_t off, const void *bytes,
                 size_t len);
int hdb_sim_peek(struct hdb_sim_disk *sim, const char *path, uint64_t off, void *bytes, size_t len);

#endif
