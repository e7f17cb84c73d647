/*
 * simdisk.c — the simulated disk of io.h, for power-cut tests.
 *
 * Each file keeps its current image (what reads see) and its durable image
 * (what survives a power cut), plus the list of operations (writes and
 * size changes) done since its last fdatasync. fdatasync applies that list
 * to the durable image. Directory entries have a current and a durable
 * name too; hdb_io_sync_dir makes the names under a directory durable.
 * hdb_sim_power_cut() decides the fate of every pending operation (per
 * 512-byte sector for writes: kept, dropped or garbled, seeded), makes the
 * survivors the new current state and bumps the boot count, so handles from
 * before the cut fail with EIO.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/simdisk.h"

#define SIM_FILES_MAX      4096u
#define SIM_FILE_BYTES_MAX (4ull << 30)

struct sim_op {
    uint64_t off; /* write offset, or the new size of a truncate */
    uint32_t len; /* 0: a size change */
    uint8_t *data;
};

struct sim_image {
    uint8_t *bytes;
    uint64_t size, cap;
};

struct sim_file {
    char *path;         /* current name; NULL once unlinked */
    char *durable_path; /* name a power cut keeps; NULL if none */
    struct sim_image cur, dur;
    struct sim_op *ops;
    size_t nops, cap;
};

struct hdb_sim_disk {
    uint64_t rng;
    uint64_t boot;
    struct sim_file *files;
    size_t nfiles, cap;
    char **dirs;
    size_t ndirs;
    char **locks;
    size_t nlocks;
    pthread_mutex_t mu; /* held by every entry point */
};

static uint64_t rng_next(struct hdb_sim_disk *sim)
{
    uint64_t x = sim->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    sim->rng = x;
    return x;
}

struct hdb_sim_disk *hdb_sim_create(uint64_t seed)
{
    struct hdb_sim_disk *sim = calloc(1, sizeof *sim);
    if (sim != NULL) {
        sim->rng = seed * 0x9E3779B97F4A7C15ull + 0x1234567;
        pthread_mutex_init(&sim->mu, NULL);
        sim->boot = 1;
    }
    return sim;
}

static void ops_clear(struct sim_file *f)
{
    for (size_t i = 0; i < f->nops; i++) {
        free(f->ops[i].data);
    }
    f->nops = 0;
}

static void file_free(struct sim_file *f)
{
    ops_clear(f);
    free(f->ops);
    free(f->path);
    free(f->durable_path);
    free(f->cur.bytes);
    free(f->dur.bytes);
    memset(f, 0, sizeof *f);
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

void hdb_sim_destroy(struct hdb_sim_disk *sim)
{
    if (sim == NULL) {
        return;
    }
    for (size_t i = 0; i < sim->nfiles; i++) {
        file_free(&sim->files[i]);
    }
    free(sim->files);
    free_strings(sim->dirs, sim->ndirs);
    free_strings(sim->locks, sim->nlocks);
    pthread_mutex_destroy(&sim->mu);
    free(sim);
}

/* Grows an image to `size` bytes (zero-filled); -ENOSPC past the limit, -ENOMEM. */
static int image_resize(struct sim_image *im, uint64_t size)
{
    if (size > SIM_FILE_BYTES_MAX) {
        return -ENOSPC;
    }
    if (size > im->cap) {
        uint64_t cap = im->cap == 0 ? 65536 : im->cap;
        while (cap < size) {
            cap *= 2;
        }
        uint8_t *b = realloc(im->bytes, cap);
        if (b == NULL) {
            return -ENOMEM;
        }
        memset(b + im->cap, 0, cap - im->cap);
        im->bytes = b;
        im->cap = cap;
    }
    if (size < im->size) {
        memset(im->bytes + size, 0, im->size - size);
    }
    im->size = size;
    return 0;
}

static int image_write(struct sim_image *im, const uint8_t *data, uint32_t len, uint64_t off)
{
    if (off + len > im->size) {
        int r = image_resize(im, off + len);
        if (r < 0) {
            return r;
        }
    }
    memcpy(im->bytes + off, data, len);
    return 0;
}

static int image_copy(struct sim_image *dst, const struct sim_image *src)
{
    int r = image_resize(dst, src->size);
    if (r == 0 && src->size > 0) {
        memcpy(dst->bytes, src->bytes, src->size);
    }
    return r;
}

/* --- names --- */

static struct sim_file *find_file(struct hdb_sim_disk *sim, const char *path)
{
    for (size_t i = 0; i < sim->nfiles; i++) {
        if (sim->files[i].path != NULL && strcmp(sim->files[i].path, path) == 0) {
            return &sim->files[i];
        }
    }
    return NULL;
}

/* Length of the directory part of `path` (up to the last '/'). */
static size_t dir_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash == NULL ? 0 : (size_t)(slash - path);
}

static bool in_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') {
        n--;
    }
    return path != NULL && dir_len(path) == n && strncmp(path, dir, n) == 0;
}

static struct sim_file *live_file(struct hdb_sim_disk *sim, struct sim_handle h, int *r)
{
    if (h.boot != sim->boot || h.file >= sim->nfiles) {
        *r = -EIO;
        return NULL;
    }
    *r = 0;
    return &sim->files[h.file];
}

static int sim_open_unlocked(struct hdb_sim_disk *sim, const char *path, bool create, bool excl,
                             struct sim_handle *h)
{
    struct sim_file *f = find_file(sim, path);
    if (f != NULL && create && excl) {
        return -EEXIST;
    }
    if (f == NULL && !create) {
        return -ENOENT;
    }
    if (f == NULL) {
        if (sim->nfiles == SIM_FILES_MAX) {
            return -ENOSPC;
        }
        if (sim->nfiles == sim->cap) {
            size_t cap = sim->cap == 0 ? 16 : sim->cap * 2;
            struct sim_file *v = realloc(sim->files, cap * sizeof *v);
            if (v == NULL) {
                return -ENOMEM;
            }
            sim->files = v;
            sim->cap = cap;
        }
        f = &sim->files[sim->nfiles++];
        memset(f, 0, sizeof *f);
        f->path = strdup(path);
        if (f->path == NULL) {
            sim->nfiles--;
            return -ENOMEM;
        }
    }
    *h = (struct sim_handle){.file = (uint32_t)(f - sim->files), .boot = sim->boot};
    return 0;
}

static int push_op(struct sim_file *f, uint64_t off, const void *data, uint32_t len)
{
    if (f->nops == f->cap) {
        size_t cap = f->cap == 0 ? 64 : f->cap * 2;
        struct sim_op *v = realloc(f->ops, cap * sizeof *v);
        if (v == NULL) {
            return -ENOMEM;
        }
        f->ops = v;
        f->cap = cap;
    }
    struct sim_op op = {.off = off, .len = len};
    if (len > 0) {
        op.data = malloc(len);
        if (op.data == NULL) {
            return -ENOMEM;
        }
        memcpy(op.data, data, len);
    }
    f->ops[f->nops++] = op;
    return 0;
}

static int sim_read_unlocked(struct hdb_sim_disk *sim, struct sim_handle h, void *buf, uint32_t len,
                             uint64_t off, uint32_t *got)
{
    int r;
    struct sim_file *f = live_file(sim, h, &r);
    if (f == NULL) {
        return r;
    }
    uint64_t avail = off >= f->cur.size ? 0 : f->cur.size - off;
    *got = avail < len ? (uint32_t)avail : len;
    memcpy(buf, f->cur.bytes + off, *got);
    return 0;
}

static int sim_write_unlocked(struct hdb_sim_disk *sim, struct sim_handle h, const void *buf,
                              uint32_t len, uint64_t off)
{
    int r;
    struct sim_file *f = live_file(sim, h, &r);
    if (f == NULL) {
        return r;
    }
    r = image_write(&f->cur, buf, len, off);
    return r < 0 ? r : push_op(f, off, buf, len);
}

static int sim_truncate_unlocked(struct hdb_sim_disk *sim, struct sim_handle h, uint64_t size)
{
    int r;
    struct sim_file *f = live_file(sim, h, &r);
    if (f == NULL) {
        return r;
    }
    r = image_resize(&f->cur, size);
    return r < 0 ? r : push_op(f, size, NULL, 0);
}

static int sim_size_unlocked(struct hdb_sim_disk *sim, struct sim_handle h, uint64_t *size)
{
    int r;
    struct sim_file *f = live_file(sim, h, &r);
    if (f != NULL) {
        *size = f->cur.size;
    }
    return r;
}

static int sim_fsync_unlocked(struct hdb_sim_disk *sim, struct sim_handle h)
{
    int r;
    struct sim_file *f = live_file(sim, h, &r);
    if (f == NULL) {
        return r;
    }
    for (size_t i = 0; i < f->nops && r == 0; i++) {
        const struct sim_op *op = &f->ops[i];
        r = op->len == 0 ? image_resize(&f->dur, op->off)
                         : image_write(&f->dur, op->data, op->len, op->off);
    }
    ops_clear(f);
    return r;
}

/* --- directories and locks --- */

static int add_string(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (nv == NULL) {
        return -ENOMEM;
    }
    *v = nv;
    nv[*n] = strdup(s);
    if (nv[*n] == NULL) {
        return -ENOMEM;
    }
    (*n)++;
    return 0;
}

static bool has_string(char **v, size_t n, const char *s, size_t *at)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i], s) == 0) {
            if (at != NULL) {
                *at = i;
            }
            return true;
        }
    }
    return false;
}

static int sim_mkdir_unlocked(struct hdb_sim_disk *sim, const char *path)
{
    return has_string(sim->dirs, sim->ndirs, path, NULL)
               ? 0
               : add_string(&sim->dirs, &sim->ndirs, path);
}

static int sim_unlink_unlocked(struct hdb_sim_disk *sim, const char *path)
{
    struct sim_file *f = find_file(sim, path);
    if (f == NULL) {
        return -ENOENT;
    }
    free(f->path);
    f->path = NULL;
    return 0;
}

static int sim_rename_unlocked(struct hdb_sim_disk *sim, const char *from, const char *to)
{
    struct sim_file *f = find_file(sim, from);
    if (f == NULL) {
        return -ENOENT;
    }
    char *name = strdup(to);
    if (name == NULL) {
        return -ENOMEM;
    }
    struct sim_file *old = find_file(sim, to);
    if (old != NULL) {
        free(old->path);
        old->path = NULL;
    }
    free(f->path);
    f->path = name;
    return 0;
}

static int sim_sync_dir_unlocked(struct hdb_sim_disk *sim, const char *dir)
{
    for (size_t i = 0; i < sim->nfiles; i++) {
        struct sim_file *f = &sim->files[i];
        if (!in_dir(f->path, dir) && !in_dir(f->durable_path, dir)) {
            continue;
        }
        free(f->durable_path);
        f->durable_path = f->path != NULL ? strdup(f->path) : NULL;
        if (f->path != NULL && f->durable_path == NULL) {
            return -ENOMEM;
        }
    }
    return 0;
}

static bool sim_exists_unlocked(struct hdb_sim_disk *sim, const char *path)
{
    return find_file(sim, path) != NULL || has_string(sim->dirs, sim->ndirs, path, NULL);
}

static int sim_list_unlocked(struct hdb_sim_disk *sim, const char *dir,
                             int (*fn)(void *ctx, const char *name), void *ctx)
{
    for (size_t i = 0; i < sim->nfiles; i++) {
        const char *p = sim->files[i].path;
        if (in_dir(p, dir) && fn(ctx, p + dir_len(p) + 1) != 0) {
            break;
        }
    }
    return 0;
}

static int sim_lock_unlocked(struct hdb_sim_disk *sim, const char *path)
{
    if (has_string(sim->locks, sim->nlocks, path, NULL)) {
        return -EWOULDBLOCK;
    }
    return add_string(&sim->locks, &sim->nlocks, path);
}

static void sim_unlock_unlocked(struct hdb_sim_disk *sim, const char *path)
{
    size_t at;
    if (has_string(sim->locks, sim->nlocks, path, &at)) {
        free(sim->locks[at]);
        sim->locks[at] = sim->locks[--sim->nlocks];
    }
}

/* --- power cut --- */

enum sector_fate { FATE_KEEP, FATE_DROP, FATE_GARBLE };

static enum sector_fate fate(struct hdb_sim_disk *sim, enum hdb_sim_cut_mode mode)
{
    if (mode == HDB_SIM_CUT_KEEP_ALL) {
        return FATE_KEEP;
    }
    if (mode == HDB_SIM_CUT_DROP_ALL) {
        return FATE_DROP;
    }
    uint64_t r = rng_next(sim) % 8;
    return r < 4 ? FATE_KEEP : r < 7 ? FATE_DROP : FATE_GARBLE;
}

/* Applies what survives of one pending write to the durable image. */
static int cut_write(struct hdb_sim_disk *sim, struct sim_file *f, const struct sim_op *op,
                     enum hdb_sim_cut_mode mode)
{
    uint8_t sector[HDB_SIM_SECTOR];
    for (uint32_t at = 0; at < op->len; at += HDB_SIM_SECTOR) {
        uint32_t n = op->len - at < HDB_SIM_SECTOR ? op->len - at : HDB_SIM_SECTOR;
        enum sector_fate what = fate(sim, mode);
        if (what == FATE_DROP) {
            continue;
        }
        const uint8_t *src = op->data + at;
        if (what == FATE_GARBLE) {
            for (uint32_t i = 0; i < n; i++) {
                sector[i] = (uint8_t)rng_next(sim);
            }
            src = sector;
        }
        int r = image_write(&f->dur, src, n, op->off + at);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static void cut_file(struct hdb_sim_disk *sim, struct sim_file *f, enum hdb_sim_cut_mode mode)
{
    for (size_t i = 0; i < f->nops; i++) {
        const struct sim_op *op = &f->ops[i];
        if (op->len > 0) {
            cut_write(sim, f, op, mode);
        } else if (fate(sim, mode) != FATE_DROP) {
            image_resize(&f->dur, op->off);
        }
    }
    ops_clear(f);
    bool keep_name =
        mode == HDB_SIM_CUT_KEEP_ALL || (mode == HDB_SIM_CUT_RANDOM && rng_next(sim) % 2 == 0);
    if (keep_name) {
        free(f->durable_path);
        f->durable_path = f->path != NULL ? strdup(f->path) : NULL;
    }
    free(f->path);
    f->path = f->durable_path != NULL ? strdup(f->durable_path) : NULL;
    image_copy(&f->cur, &f->dur);
}

static void hdb_sim_power_cut_unlocked(struct hdb_sim_disk *sim, enum hdb_sim_cut_mode mode)
{
    for (size_t i = 0; i < sim->nfiles; i++) {
        cut_file(sim, &sim->files[i], mode);
    }
    free_strings(sim->locks, sim->nlocks);
    sim->locks = NULL;
    sim->nlocks = 0;
    sim->boot++;
}

uint64_t hdb_sim_pending_bytes(const struct hdb_sim_disk *sim)
{
    uint64_t n = 0;
    for (size_t i = 0; i < sim->nfiles; i++) {
        for (size_t j = 0; j < sim->files[i].nops; j++) {
            n += sim->files[i].ops[j].len;
        }
    }
    return n;
}

static int poke_image(struct sim_image *im, uint64_t off, const void *bytes, size_t len)
{
    if (off + len > im->size) {
        return HDB_INVALID;
    }
    memcpy(im->bytes + off, bytes, len);
    return HDB_OK;
}

static int hdb_sim_poke_unlocked(struct hdb_sim_disk *sim, const char *path, uint64_t off,
                                 const void *bytes, size_t len)
{
    struct sim_file *f = find_file(sim, path);
    if (f == NULL) {
        return HDB_NOTFOUND;
    }
    int rc = poke_image(&f->cur, off, bytes, len);
    if (rc == HDB_OK && off + len <= f->dur.size) {
        rc = poke_image(&f->dur, off, bytes, len);
    }
    return rc;
}

static int hdb_sim_peek_unlocked(struct hdb_sim_disk *sim, const char *path, uint64_t off,
                                 void *bytes, size_t len)
{
    struct sim_file *f = find_file(sim, path);
    if (f == NULL) {
        return HDB_NOTFOUND;
    }
    if (off + len > f->cur.size) {
        return HDB_INVALID;
    }
    memcpy(bytes, f->cur.bytes + off, len);
    return HDB_OK;
}

/* --- entry points: one mutex makes the disk safe to share between shard threads --- */

int sim_open(struct hdb_sim_disk *sim, const char *path, bool create, bool excl,
             struct sim_handle *h)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_open_unlocked(sim, path, create, excl, h);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_read(struct hdb_sim_disk *sim, struct sim_handle h, void *buf, uint32_t len, uint64_t off,
             uint32_t *got)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_read_unlocked(sim, h, buf, len, off, got);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_write(struct hdb_sim_disk *sim, struct sim_handle h, const void *buf, uint32_t len,
              uint64_t off)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_write_unlocked(sim, h, buf, len, off);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_truncate(struct hdb_sim_disk *sim, struct sim_handle h, uint64_t size)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_truncate_unlocked(sim, h, size);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_size(struct hdb_sim_disk *sim, struct sim_handle h, uint64_t *size)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_size_unlocked(sim, h, size);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_fsync(struct hdb_sim_disk *sim, struct sim_handle h)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_fsync_unlocked(sim, h);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_mkdir(struct hdb_sim_disk *sim, const char *path)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_mkdir_unlocked(sim, path);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_unlink(struct hdb_sim_disk *sim, const char *path)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_unlink_unlocked(sim, path);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_rename(struct hdb_sim_disk *sim, const char *from, const char *to)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_rename_unlocked(sim, from, to);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_sync_dir(struct hdb_sim_disk *sim, const char *dir)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_sync_dir_unlocked(sim, dir);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

bool sim_exists(struct hdb_sim_disk *sim, const char *path)
{
    pthread_mutex_lock(&sim->mu);
    bool rc = sim_exists_unlocked(sim, path);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_list(struct hdb_sim_disk *sim, const char *dir, int (*fn)(void *ctx, const char *name),
             void *ctx)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_list_unlocked(sim, dir, fn, ctx);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int sim_lock(struct hdb_sim_disk *sim, const char *path)
{
    pthread_mutex_lock(&sim->mu);
    int rc = sim_lock_unlocked(sim, path);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

void sim_unlock(struct hdb_sim_disk *sim, const char *path)
{
    pthread_mutex_lock(&sim->mu);
    sim_unlock_unlocked(sim, path);
    pthread_mutex_unlock(&sim->mu);
}

void hdb_sim_power_cut(struct hdb_sim_disk *sim, enum hdb_sim_cut_mode mode)
{
    pthread_mutex_lock(&sim->mu);
    hdb_sim_power_cut_unlocked(sim, mode);
    pthread_mutex_unlock(&sim->mu);
}

int hdb_sim_poke(struct hdb_sim_disk *sim, const char *path, uint64_t off, const void *bytes,
                 size_t len)
{
    pthread_mutex_lock(&sim->mu);
    int rc = hdb_sim_poke_unlocked(sim, path, off, bytes, len);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}

int hdb_sim_peek(struct hdb_sim_disk *sim, const char *path, uint64_t off, void *bytes, size_t len)
{
    pthread_mutex_lock(&sim->mu);
    int rc = hdb_sim_peek_unlocked(sim, path, off, bytes, len);
    pthread_mutex_unlock(&sim->mu);
    return rc;
}
