/*
 * cpus.h — how many CPUs this process may use, which is the default shard
 * count (`[performance] worker_threads = 0`): the CPUs in its affinity mask,
 * lowered by a cgroup CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us` /
 * `cpu.cfs_period_us`, the tightest one on the path to the root), rounded
 * up, and at least 1. A container limited to 2 CPUs gets 2.
 */
#ifndef HDB_CPUS_H
#define HDB_CPUS_H

#include <stdint.h>

/* The usable CPU count (see above). */
uint32_t hdb_usable_cpus(void);

/*
 * The same from given parts, for tests: `affinity` CPUs, the process's
 * cgroup membership read from `proc_cgroup` (the format of /proc/self/cgroup)
 * and quota files under `cgroup_root` (v2: <root><path>/cpu.max up to the
 * root; v1: <root>/cpu,cpuacct<path>/ or <root>/cpu<path>/cpu.cfs_*).
 */
uint32_t hdb_cpus_count(uint32_t affinity, const char *proc_cgroup, const char *cgroup_root);

/* CPUs in this thread's affinity mask (at least 1). */
uint32_t hdb_affinity_cpus(void);

/*
 * Parses a cgroup v2 cpu.max line ("max 100000" or "200000 100000"): *cpus
 * gets the quota in CPUs rounded up, or 0 for no limit. Returns 0, or -1 if
 * the text is malformed.
 */
int hdb_cpu_max_parse(const char *text, uint32_t *cpus);

/* The same for cgroup v1's quota ("-1" = no limit) and period files. */
int hdb_cfs_quota_parse(const char *quota, const char *period, uint32_t *cpus);

#endif
