/*
 * io.c — files and batched I/O (see io.h): the posix and io_uring backends,
 * O_DIRECT with its buffered fallback, the fault hook, directory operations
 * and the LOCK file. The simulated disk lives in simdisk.c.
 */
#include "core/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/simdisk.h"

#define HDB_IO_URING_ENTRIES_MAX 4096u

struct hdb_io {
    struct hdb_io_opts opts;
    struct hdb_sim_disk *sim;
    hdb_io_fault_fn fault;
    void *fault_ctx;
    uint64_t fault_calls;
    bool uring;
    struct io_uring ring;
    struct hdb_io_stats stats;
};

struct hdb_file {
    struct hdb_io *io;
    int fd;
    struct sim_handle sim;
    bool direct;
    char path[HDB_IO_PATH_BYTES_MAX];
};

struct hdb_lock {
    struct hdb_io *io;
    int fd;
    char path[HDB_IO_PATH_BYTES_MAX];
};

void hdb_io_opts_default(struct hdb_io_opts *opts)
{
    opts->use_io_uring = true;
    opts->use_direct_io = true;
    opts->io_uring_entries = HDB_IO_URING_ENTRIES_DEFAULT;
    opts->io_uring_polling = false;
}

static int fault(struct hdb_io *io, enum hdb_fault_point point, const char *path, uint64_t off,
                 uint32_t len)
{
    if (io->fault == NULL) {
        return 0;
    }
    return io->fault(io->fault_ctx, point, ++io->fault_calls, path, off, len);
}

static const char *op_name(enum hdb_io_kind kind)
{
    return kind == HDB_IO_READ ? "read" : kind == HDB_IO_WRITE ? "write" : "fdatasync";
}

static int io_error(struct hdb_err *err, int errnum, const struct hdb_io_op *op, bool injected)
{
    if (op->kind == HDB_IO_FSYNC) {
        return hdb_err_set(
            err, hdb_status_from_errno(errnum) == HDB_NOSPACE ? HDB_NOSPACE : HDB_IOERR,
            "fdatasync %s: %s%s", op->file->path, strerror(errnum), injected ? " (injected)" : "");
    }
    int code = hdb_status_from_errno(errnum);
    if (code != HDB_NOSPACE && code != HDB_NOMEM) {
        code = HDB_IOERR;
    }
    return hdb_err_set(err, code, "%s %s at offset %llu (%u bytes): %s%s", op_name(op->kind),
                       op->file->path, (unsigned long long)op->off, op->len, strerror(errnum),
                       injected ? " (injected)" : "");
}

static int short_read(struct hdb_err *err, const struct hdb_io_op *op, uint32_t done)
{
    return hdb_err_set(
        err, HDB_IOERR,
        "read %s at offset %llu (%u bytes): short read at end of file after %u bytes",
        op->file->path, (unsigned long long)op->off, op->len, done);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void count_op(struct hdb_io *io, const struct hdb_io_op *op, uint64_t fsync_ns)
{
    switch (op->kind) {
    case HDB_IO_READ:
        io->stats.reads++;
        io->stats.bytes_read += op->len;
        break;
    case HDB_IO_WRITE:
        io->stats.writes++;
        io->stats.bytes_written += op->len;
        break;
    case HDB_IO_FSYNC:
        io->stats.fsyncs++;
        io->stats.fsync_ns_total += fsync_ns;
        if (fsync_ns > io->stats.fsync_ns_max) {
            io->stats.fsync_ns_max = fsync_ns;
        }
        break;
    }
}

/* One read or write through pread/pwrite, finishing short transfers. */
static int posix_rw(const struct hdb_io_op *op, uint32_t first_limit, struct hdb_err *err)
{
    uint32_t done = 0;
    while (done < op->len) {
        uint32_t want = op->len - done;
        if (first_limit != 0 && done == 0 && first_limit < want) {
            want = first_limit;
        }
        uint8_t *p = (uint8_t *)op->buf + done;
        ssize_t n = op->kind == HDB_IO_READ
                        ? pread(op->file->fd, p, want, (off_t)(op->off + done))
                        : pwrite(op->file->fd, p, want, (off_t)(op->off + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return io_error(err, errno, op, false);
        }
        if (n == 0) {
            return op->kind == HDB_IO_READ ? short_read(err, op, done)
                                           : io_error(err, EIO, op, false);
        }
        done += (uint32_t)n;
    }
    return HDB_OK;
}

static int posix_fsync(const struct hdb_io_op *op, struct hdb_err *err)
{
    while (fdatasync(op->file->fd) != 0) {
        if (errno != EINTR) {
            return io_error(err, errno, op, false);
        }
    }
    return HDB_OK;
}

/* --- io_uring --- */

struct uring_slot {
    const struct hdb_io_op *op;
    uint32_t done;
    uint32_t limit; /* first transfer cut short by the fault hook (0: none) */
    bool link;      /* first submission is linked to the next slot's */
    bool canceled;  /* an fdatasync whose link chain broke: it never ran */
};

static bool uring_prep(struct hdb_io *io, struct uring_slot *slot, uint64_t tag)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
    if (sqe == NULL) {
        return false;
    }
    const struct hdb_io_op *op = slot->op;
    if (op->kind == HDB_IO_FSYNC) {
        io_uring_prep_fsync(sqe, op->file->fd, IORING_FSYNC_DATASYNC);
    } else {
        uint32_t want = op->len - slot->done;
        if (slot->limit != 0 && slot->done == 0 && slot->limit < want) {
            want = slot->limit;
        }
        uint8_t *p = (uint8_t *)op->buf + slot->done;
        if (op->kind == HDB_IO_READ) {
            io_uring_prep_read(sqe, op->file->fd, p, want, op->off + slot->done);
        } else {
            io_uring_prep_write(sqe, op->file->fd, p, want, op->off + slot->done);
        }
    }
    io_uring_sqe_set_data64(sqe, tag);
    if (slot->link) {
        sqe->flags |= IOSQE_IO_LINK;
        slot->link = false; /* a resubmitted remainder is not linked */
    }
    return true;
}

/* Applies one completion; returns true when the slot's op is finished (ok or failed). */
static bool uring_complete(struct uring_slot *slot, int res, int *rc, struct hdb_err *err)
{
    const struct hdb_io_op *op = slot->op;
    if (op->kind == HDB_IO_FSYNC && res == -ECANCELED) {
        slot->canceled = true; /* an earlier linked write came up short or failed */
        return true;
    }
    if (res == -EINTR || res == -EAGAIN) {
        return false;
    }
    if (res < 0) {
        if (*rc == HDB_OK) {
            *rc = io_error(err, -res, op, false);
        }
        return true;
    }
    if (op->kind == HDB_IO_FSYNC) {
        return true;
    }
    if (res == 0) {
        if (*rc == HDB_OK) {
            *rc = op->kind == HDB_IO_READ ? short_read(err, op, slot->done)
                                          : io_error(err, EIO, op, false);
        }
        return true;
    }
    slot->done += (uint32_t)res;
    return slot->done >= op->len;
}

/* Runs slots [0, n) concurrently through the ring and waits for all. */
static int uring_run(struct hdb_io *io, struct uring_slot *slots, uint32_t n, struct hdb_err *err)
{
    int rc = HDB_OK;
    uint32_t left = n;
    for (uint32_t i = 0; i < n; i++) {
        if (!uring_prep(io, &slots[i], i)) {
            return hdb_err_set(err, HDB_ERROR, "io_uring submission queue full");
        }
    }
    io->stats.submits++;
    while (left > 0) {
        int r = io_uring_submit_and_wait(&io->ring, 1);
        if (r < 0 && r != -EINTR) {
            return hdb_err_set(err, HDB_IOERR, "io_uring_submit: %s", strerror(-r));
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&io->ring, head, cqe)
        {
            seen++;
            struct uring_slot *slot = &slots[cqe->user_data];
            if (uring_complete(slot, cqe->res, &rc, err)) {
                left--;
            } else if (!uring_prep(io, slot, cqe->user_data)) {
                rc = rc != HDB_OK ? rc : hdb_err_set(err, HDB_ERROR, "io_uring queue full");
                left--;
            }
        }
        io_uring_cq_advance(&io->ring, seen);
    }
    return rc;
}

/* --- dispatch --- */

/* One read or write on the simulated disk. */
static int sim_rw(struct hdb_io *io, const struct hdb_io_op *op, struct hdb_err *err);
static int sim_do_fsync(struct hdb_io *io, const struct hdb_io_op *op, struct hdb_err *err);

/* Runs reads and writes ops[0, n) (no FSYNC among them), each with its fault limit. */
static int run_rw(struct hdb_io *io, const struct hdb_io_op *ops, const uint32_t *limits,
                  uint32_t n, struct hdb_err *err)
{
    if (io->sim != NULL || !io->uring) {
        for (uint32_t i = 0; i < n; i++) {
            int rc = io->sim != NULL ? sim_rw(io, &ops[i], err) : posix_rw(&ops[i], limits[i], err);
            if (rc != HDB_OK) {
                return rc;
            }
        }
        return HDB_OK;
    }
    struct uring_slot slots[HDB_IO_BATCH_OPS_MAX];
    uint32_t chunk = io->opts.io_uring_entries < HDB_IO_BATCH_OPS_MAX ? io->opts.io_uring_entries
                                                                      : HDB_IO_BATCH_OPS_MAX;
    for (uint32_t at = 0; at < n; at += chunk) {
        uint32_t m = n - at < chunk ? n - at : chunk;
        for (uint32_t i = 0; i < m; i++) {
            slots[i] = (struct uring_slot){.op = &ops[at + i], .limit = limits[at + i]};
        }
        int rc = uring_run(io, slots, m, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

static int run_fsync(struct hdb_io *io, const struct hdb_io_op *op, struct hdb_err *err)
{
    if (io->sim != NULL) {
        return sim_do_fsync(io, op, err);
    }
    if (!io->uring) {
        return posix_fsync(op, err);
    }
    struct uring_slot slot = {.op = op};
    return uring_run(io, &slot, 1, err);
}

static enum hdb_fault_point fault_point(enum hdb_io_kind kind)
{
    return kind == HDB_IO_READ    ? HDB_FAULT_READ
           : kind == HDB_IO_WRITE ? HDB_FAULT_WRITE
                                  : HDB_FAULT_FSYNC;
}

/* Asks the fault hook about ops[0, n); returns how many may run (k) and the fault of op k. */
static uint32_t ask_faults(struct hdb_io *io, const struct hdb_io_op *ops, uint32_t n,
                           uint32_t *limits, int *fault_errno)
{
    *fault_errno = 0;
    for (uint32_t i = 0; i < n; i++) {
        int f = fault(io, fault_point(ops[i].kind), ops[i].file->path, ops[i].off, ops[i].len);
        limits[i] = f > 0 && ops[i].kind != HDB_IO_FSYNC ? (uint32_t)f : 0;
        if (f < 0) {
            *fault_errno = -f;
            return i;
        }
    }
    return n;
}

/* Writes followed by one fdatasync, as one chain linked with IOSQE_IO_LINK. */
static bool linkable(const struct hdb_io *io, const struct hdb_io_op *ops, uint32_t n)
{
    if (!io->uring || io->sim != NULL || n < 2 || n > io->opts.io_uring_entries ||
        ops[n - 1].kind != HDB_IO_FSYNC) {
        return false;
    }
    for (uint32_t i = 0; i + 1 < n; i++) {
        if (ops[i].kind != HDB_IO_WRITE || ops[i].file != ops[n - 1].file) {
            return false;
        }
    }
    return true;
}

static int run_linked(struct hdb_io *io, const struct hdb_io_op *ops, const uint32_t *limits,
                      uint32_t n, struct hdb_err *err)
{
    struct uring_slot slots[HDB_IO_BATCH_OPS_MAX];
    for (uint32_t i = 0; i < n; i++) {
        slots[i] = (struct uring_slot){.op = &ops[i], .limit = limits[i], .link = i + 1 < n};
        if (ops[i].kind == HDB_IO_WRITE) {
            count_op(io, &ops[i], 0);
        }
    }
    uint64_t t0 = now_ns();
    int rc = uring_run(io, slots, n, err);
    if (rc == HDB_OK && slots[n - 1].canceled) {
        rc = run_fsync(io, &ops[n - 1], err); /* it never ran: this is not a retry */
    }
    count_op(io, &ops[n - 1], now_ns() - t0);
    return rc;
}

int hdb_io_run(struct hdb_io *io, struct hdb_io_op *ops, uint32_t n, struct hdb_err *err)
{
    if (n > HDB_IO_BATCH_OPS_MAX) {
        return hdb_err_set(err, HDB_INVALID, "%u I/O ops in one batch (at most %u)", n,
                           HDB_IO_BATCH_OPS_MAX);
    }
    uint32_t limits[HDB_IO_BATCH_OPS_MAX];
    int fault_errno;
    uint32_t runnable = ask_faults(io, ops, n, limits, &fault_errno);
    if (runnable == n && linkable(io, ops, n)) {
        return run_linked(io, ops, limits, n, err);
    }
    for (uint32_t i = 0; i < runnable;) {
        uint32_t j = i;
        int rc;
        if (ops[i].kind == HDB_IO_FSYNC) {
            uint64_t t0 = now_ns();
            rc = run_fsync(io, &ops[i], err);
            count_op(io, &ops[i], now_ns() - t0);
            j = i + 1;
        } else {
            while (j < runnable && ops[j].kind != HDB_IO_FSYNC) {
                count_op(io, &ops[j], 0);
                j++;
            }
            rc = run_rw(io, ops + i, limits + i, j - i, err);
        }
        if (rc != HDB_OK) {
            return rc;
        }
        i = j;
    }
    if (runnable < n) {
        return io_error(err, fault_errno, &ops[runnable], true);
    }
    return HDB_OK;
}

int hdb_io_read(struct hdb_file *f, void *buf, uint32_t len, uint64_t off, struct hdb_err *err)
{
    struct hdb_io_op op = {.file = f, .kind = HDB_IO_READ, .buf = buf, .len = len, .off = off};
    return hdb_io_run(f->io, &op, 1, err);
}

int hdb_io_write(struct hdb_file *f, const void *buf, uint32_t len, uint64_t off,
                 struct hdb_err *err)
{
    struct hdb_io_op op = {
        .file = f, .kind = HDB_IO_WRITE, .buf = (void *)buf, .len = len, .off = off};
    return hdb_io_run(f->io, &op, 1, err);
}

int hdb_io_fsync(struct hdb_file *f, struct hdb_err *err)
{
    struct hdb_io_op op = {.file = f, .kind = HDB_IO_FSYNC};
    return hdb_io_run(f->io, &op, 1, err);
}

/* --- the simulated disk's side --- */

static int sim_rw(struct hdb_io *io, const struct hdb_io_op *op, struct hdb_err *err)
{
    if (op->kind == HDB_IO_WRITE) {
        int r = sim_write(io->sim, op->file->sim, op->buf, op->len, op->off);
        return r < 0 ? io_error(err, -r, op, false) : HDB_OK;
    }
    uint32_t got = 0;
    int r = sim_read(io->sim, op->file->sim, op->buf, op->len, op->off, &got);
    if (r < 0) {
        return io_error(err, -r, op, false);
    }
    return got < op->len ? short_read(err, op, got) : HDB_OK;
}

static int sim_do_fsync(struct hdb_io *io, const struct hdb_io_op *op, struct hdb_err *err)
{
    int r = sim_fsync(io->sim, op->file->sim);
    return r < 0 ? io_error(err, -r, op, false) : HDB_OK;
}

/* --- context --- */

static bool uring_disabled_by_sysctl(void)
{
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
    int v = 0;
    if (f != NULL) {
        if (fscanf(f, "%d", &v) != 1) {
            v = 0;
        }
        fclose(f);
    }
    return v != 0;
}

static void uring_setup(struct hdb_io *io)
{
    if (!io->opts.use_io_uring || io->sim != NULL) {
        return;
    }
    int r = fault(io, HDB_FAULT_URING_SETUP, "", 0, 0);
    if (r == 0 && uring_disabled_by_sysctl()) {
        r = -EPERM;
    }
    if (r == 0) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        if (io->opts.io_uring_polling) {
            p.flags |= IORING_SETUP_SQPOLL;
            p.sq_thread_idle = 100;
        }
        r = io_uring_queue_init_params(io->opts.io_uring_entries, &io->ring, &p);
    }
    if (r < 0) {
        hdb_log_once(HDB_LOG_WARN,
                     "io_uring unavailable (%s): using pread/pwrite/fdatasync instead",
                     strerror(-r));
        return;
    }
    io->uring = true;
}

int hdb_io_create(const struct hdb_io_opts *opts, struct hdb_sim_disk *sim,
                  hdb_io_fault_fn fault_fn, void *fault_ctx, struct hdb_io **out,
                  struct hdb_err *err)
{
    struct hdb_io *io = calloc(1, sizeof *io);
    if (io == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory creating an I/O context");
    }
    if (opts != NULL) {
        io->opts = *opts;
    } else {
        hdb_io_opts_default(&io->opts);
    }
    uint32_t e = io->opts.io_uring_entries;
    if (e == 0 || e > HDB_IO_URING_ENTRIES_MAX || (e & (e - 1)) != 0) {
        free(io);
        return hdb_err_set(err, HDB_INVALID,
                           "io_uring_entries %u: must be a power of two from 1 to %u", e,
                           HDB_IO_URING_ENTRIES_MAX);
    }
    io->sim = sim;
    io->fault = fault_fn;
    io->fault_ctx = fault_ctx;
    uring_setup(io);
    *out = io;
    return HDB_OK;
}

void hdb_io_destroy(struct hdb_io *io)
{
    if (io == NULL) {
        return;
    }
    if (io->uring) {
        io_uring_queue_exit(&io->ring);
    }
    free(io);
}

void hdb_io_set_fault(struct hdb_io *io, hdb_io_fault_fn fault_fn, void *fault_ctx)
{
    io->fault = fault_fn;
    io->fault_ctx = fault_ctx;
}

bool hdb_io_uses_uring(const struct hdb_io *io)
{
    return io->uring;
}

void hdb_io_get_stats(const struct hdb_io *io, struct hdb_io_stats *out)
{
    *out = io->stats;
}

static size_t align_bytes(size_t bytes)
{
    size_t rounded = (bytes + HDB_IO_ALIGN - 1) & ~(size_t)(HDB_IO_ALIGN - 1);
    return rounded == 0 ? HDB_IO_ALIGN : rounded;
}

void *hdb_io_alloc_uninit(size_t bytes)
{
    void *p = NULL;
    return posix_memalign(&p, HDB_IO_ALIGN, align_bytes(bytes)) == 0 ? p : NULL;
}

void *hdb_io_alloc(size_t bytes)
{
    void *p = hdb_io_alloc_uninit(bytes);
    if (p != NULL) {
        memset(p, 0, align_bytes(bytes));
    }
    return p;
}

void hdb_io_free(void *buf)
{
    free(buf);
}

/* --- files --- */

static int open_fd(struct hdb_io *io, const char *path, int flags, bool direct, int *fd,
                   struct hdb_err *err)
{
    int oflags = O_RDWR | O_CLOEXEC;
    oflags |= (flags & HDB_FILE_CREATE) ? O_CREAT : 0;
    oflags |= (flags & HDB_FILE_EXCL) ? O_EXCL : 0;
    int r = fault(io, HDB_FAULT_OPEN, path, 0, 0);
    if (r == 0 && direct) {
        r = fault(io, HDB_FAULT_DIRECT_OPEN, path, 0, 0);
        if (r == 0) {
            *fd = open(path, oflags | O_DIRECT, 0644);
            r = *fd < 0 ? -errno : 0;
        }
        if (r == -EINVAL) {
            hdb_log_once(HDB_LOG_WARN, "O_DIRECT refused for %s: using buffered I/O", path);
            return HDB_INVALID; /* caller retries buffered */
        }
    } else if (r == 0) {
        *fd = open(path, oflags, 0644);
        r = *fd < 0 ? -errno : 0;
    }
    if (r < 0) {
        return hdb_err_set(err,
                           hdb_status_from_errno(-r) == HDB_NOTFOUND ? HDB_NOTFOUND
                           : hdb_status_from_errno(-r) == HDB_EXISTS ? HDB_EXISTS
                                                                     : HDB_IOERR,
                           "open %s: %s", path, strerror(-r));
    }
    return HDB_OK;
}

int hdb_file_open(struct hdb_io *io, const char *path, int flags, struct hdb_file **out,
                  struct hdb_err *err)
{
    size_t len = strlen(path);
    if (len >= HDB_IO_PATH_BYTES_MAX) {
        return hdb_err_set(err, HDB_INVALID, "path of %zu bytes is too long", len);
    }
    struct hdb_file *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory opening %s", path);
    }
    f->io = io;
    f->fd = -1;
    memcpy(f->path, path, len + 1);
    int rc;
    if (io->sim != NULL) {
        int r = fault(io, HDB_FAULT_OPEN, path, 0, 0);
        r = r != 0
                ? r
                : sim_open(io->sim, path, flags & HDB_FILE_CREATE, flags & HDB_FILE_EXCL, &f->sim);
        rc = r < 0 ? hdb_err_set(err, r == -ENOENT ? HDB_NOTFOUND : HDB_IOERR, "open %s: %s", path,
                                 strerror(-r))
                   : HDB_OK;
    } else {
        bool direct = (flags & HDB_FILE_DIRECT) && io->opts.use_direct_io;
        rc = open_fd(io, path, flags, direct, &f->fd, err);
        f->direct = direct && rc == HDB_OK;
        if (rc == HDB_INVALID) {
            rc = open_fd(io, path, flags, false, &f->fd, err);
        }
    }
    if (rc != HDB_OK) {
        free(f);
        return rc;
    }
    *out = f;
    return HDB_OK;
}

void hdb_file_close(struct hdb_file *f)
{
    if (f == NULL) {
        return;
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f);
}

const char *hdb_file_path(const struct hdb_file *f)
{
    return f->path;
}

struct hdb_io *hdb_file_io(const struct hdb_file *f)
{
    return f->io;
}

bool hdb_file_is_direct(const struct hdb_file *f)
{
    return f->direct;
}

int hdb_file_size(struct hdb_file *f, uint64_t *size, struct hdb_err *err)
{
    if (f->io->sim != NULL) {
        int r = sim_size(f->io->sim, f->sim, size);
        return r < 0 ? hdb_err_set(err, HDB_IOERR, "stat %s: %s", f->path, strerror(-r)) : HDB_OK;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        return hdb_err_set(err, HDB_IOERR, "stat %s: %s", f->path, strerror(errno));
    }
    *size = (uint64_t)st.st_size;
    return HDB_OK;
}

static int size_change(struct hdb_file *f, uint64_t size, bool grow_only, struct hdb_err *err)
{
    int r = fault(f->io, HDB_FAULT_TRUNCATE, f->path, size, 0);
    if (r == 0 && f->io->sim != NULL) {
        uint64_t cur = 0;
        r = sim_size(f->io->sim, f->sim, &cur);
        r = r < 0 || (grow_only && cur >= size) ? r : sim_truncate(f->io->sim, f->sim, size);
    } else if (r == 0 && grow_only) {
        r = posix_fallocate(f->fd, 0, (off_t)size);
        if (r == EOPNOTSUPP || r == EINVAL) {
            struct stat st;
            r = fstat(f->fd, &st) != 0               ? errno
                : st.st_size >= (off_t)size          ? 0
                : ftruncate(f->fd, (off_t)size) != 0 ? errno
                                                     : 0;
        }
        r = -r;
    } else if (r == 0) {
        r = ftruncate(f->fd, (off_t)size) != 0 ? -errno : 0;
    }
    if (r < 0) {
        int code = hdb_status_from_errno(-r) == HDB_NOSPACE ? HDB_NOSPACE : HDB_IOERR;
        return hdb_err_set(err, code, "%s %s to %llu bytes: %s%s",
                           grow_only ? "allocate" : "truncate", f->path, (unsigned long long)size,
                           strerror(-r), f->io->fault != NULL ? " (maybe injected)" : "");
    }
    return HDB_OK;
}

int hdb_file_truncate(struct hdb_file *f, uint64_t size, struct hdb_err *err)
{
    return size_change(f, size, false, err);
}

int hdb_file_allocate(struct hdb_file *f, uint64_t size, struct hdb_err *err)
{
    return size_change(f, size, true, err);
}

/* --- directories --- */

static int dir_error(struct hdb_err *err, const char *what, const char *path, int errnum)
{
    int code = hdb_status_from_errno(errnum);
    if (code != HDB_NOTFOUND && code != HDB_NOSPACE && code != HDB_EXISTS) {
        code = HDB_IOERR;
    }
    return hdb_err_set(err, code, "%s %s: %s", what, path, strerror(errnum));
}

int hdb_io_mkdir(struct hdb_io *io, const char *path, struct hdb_err *err)
{
    int r = fault(io, HDB_FAULT_DIR, path, 0, 0);
    if (r == 0 && io->sim != NULL) {
        r = sim_mkdir(io->sim, path);
    } else if (r == 0 && mkdir(path, 0755) != 0 && errno != EEXIST) {
        r = -errno;
    }
    return r < 0 ? dir_error(err, "mkdir", path, -r) : HDB_OK;
}

int hdb_io_unlink(struct hdb_io *io, const char *path, struct hdb_err *err)
{
    int r = fault(io, HDB_FAULT_DIR, path, 0, 0);
    if (r == 0) {
        r = io->sim != NULL ? sim_unlink(io->sim, path) : unlink(path) != 0 ? -errno : 0;
    }
    return r < 0 ? dir_error(err, "unlink", path, -r) : HDB_OK;
}

int hdb_io_rename(struct hdb_io *io, const char *from, const char *to, struct hdb_err *err)
{
    int r = fault(io, HDB_FAULT_DIR, to, 0, 0);
    if (r == 0) {
        r = io->sim != NULL ? sim_rename(io->sim, from, to) : rename(from, to) != 0 ? -errno : 0;
    }
    return r < 0 ? dir_error(err, "rename to", to, -r) : HDB_OK;
}

int hdb_io_sync_dir(struct hdb_io *io, const char *dir, struct hdb_err *err)
{
    int r = fault(io, HDB_FAULT_DIR, dir, 0, 0);
    if (r == 0 && io->sim != NULL) {
        r = sim_sync_dir(io->sim, dir);
    } else if (r == 0) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = fd < 0 ? -errno : 0;
        while (r == 0 && fsync(fd) != 0) {
            if (errno != EINTR) { /* EINTR: the fsync did not run; run it again */
                r = -errno;
            }
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    return r < 0 ? dir_error(err, "fsync directory", dir, -r) : HDB_OK;
}

bool hdb_io_exists(struct hdb_io *io, const char *path)
{
    if (io->sim != NULL) {
        return sim_exists(io->sim, path);
    }
    return access(path, F_OK) == 0;
}

int hdb_io_list_dir(struct hdb_io *io, const char *dir, int (*fn)(void *ctx, const char *name),
                    void *ctx, struct hdb_err *err)
{
    if (io->sim != NULL) {
        int r = sim_list(io->sim, dir, fn, ctx);
        return r < 0 ? dir_error(err, "list", dir, -r) : HDB_OK;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        return dir_error(err, "list", dir, errno);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (fn(ctx, e->d_name) != 0) {
            break;
        }
    }
    closedir(d);
    return HDB_OK;
}

/* --- the LOCK file --- */

static int lock_busy(int fd, const char *path, struct hdb_err *err)
{
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
    close(fd);
    if (pid > 0) {
        return hdb_err_set(err, HDB_BUSY, "database %s is in use by process %ld", path, pid);
    }
    return hdb_err_set(err, HDB_BUSY, "database %s is in use by another process", path);
}

int hdb_io_lock_dir(struct hdb_io *io, const char *dir, struct hdb_lock **out, struct hdb_err *err)
{
    struct hdb_lock *lock = calloc(1, sizeof *lock);
    if (lock == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory locking %s", dir);
    }
    lock->io = io;
    lock->fd = -1;
    snprintf(lock->path, sizeof lock->path, "%s/LOCK", dir);
    if (io->sim != NULL) {
        if (sim_lock(io->sim, lock->path) != 0) {
            free(lock);
            return hdb_err_set(err, HDB_BUSY, "database %s is in use by process %d", dir,
                               (int)getpid());
        }
        *out = lock;
        return HDB_OK;
    }
    int fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(lock);
        return dir_error(err, "open", dir, e);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        free(lock);
        return e == EWOULDBLOCK ? lock_busy(fd, dir, err)
                                : (close(fd), dir_error(err, "flock", dir, e));
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        hdb_log(HDB_LOG_WARN, "%s: could not record our PID: %s", lock->path, strerror(errno));
    }
    lock->fd = fd;
    *out = lock;
    return HDB_OK;
}

void hdb_io_unlock(struct hdb_lock *lock)
{
    if (lock == NULL) {
        return;
    }
    if (lock->io->sim != NULL) {
        sim_unlock(lock->io->sim, lock->path);
    } else if (lock->fd >= 0) {
        close(lock->fd); /* releases the flock */
    }
    free(lock);
}
