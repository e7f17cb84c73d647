/*
 * simdisk.h — what io.c calls in the simulated disk (simdisk.c). A handle
 * is a file index plus the disk's boot count when it was opened; after a
 * power cut the boot count moves on and old handles fail with EIO.
 * Every entry point takes the disk's mutex, so shard threads can share one
 * disk (hdb_sim_pending_bytes does not: call it when no I/O runs).
 */
#ifndef HDB_SIMDISK_H
#define HDB_SIMDISK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/io.h"

struct sim_handle {
    uint32_t file;
    uint64_t boot;
};

/* All return 0 or a negative errno. */
int sim_open(struct hdb_sim_disk *sim, const char *path, bool create, bool excl,
             struct sim_handle *h);
int sim_read(struct hdb_sim_disk *sim, struct sim_handle h, void *buf, uint32_t len, uint64_t off,
             uint32_t *got);
int sim_write(struct hdb_sim_disk *sim, struct sim_handle h, const void *buf, uint32_t len,
              uint64_t off);
int sim_fsync(struct hdb_sim_disk *sim, struct sim_handle h);
int sim_size(struct hdb_sim_disk *sim, struct sim_handle h, uint64_t *size);
int sim_truncate(struct hdb_sim_disk *sim, struct sim_handle h, uint64_t size);
int sim_mkdir(struct hdb_sim_disk *sim, const char *path);
int sim_unlink(struct hdb_sim_disk *sim, const char *path);
int sim_rename(struct hdb_sim_disk *sim, const char *from, const char *to);
int sim_sync_dir(struct hdb_sim_disk *sim, const char *dir);
bool sim_exists(struct hdb_sim_disk *sim, const char *path);
int sim_list(struct hdb_sim_disk *sim, const char *dir, int (*fn)(void *ctx, const char *name),
             void *ctx);
/* In-memory exclusive lock per path; 0, or -EWOULDBLOCK if held. */
int sim_lock(struct hdb_sim_disk *sim, const char *path);
void sim_unlock(struct hdb_sim_disk *sim, const char *path);

#endif
