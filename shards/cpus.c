/*
 * cpus.c — see cpus.h. Files that are missing or unreadable mean "no limit
 * from here"; malformed ones are ignored the same way (and logged once).
 */
#include "shards/cpus.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define CGROUP_PATH_BYTES_MAX 4096u
#define CGROUP_LINE_BYTES_MAX 4096u

uint32_t hdb_affinity_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        return 1;
    }
    int n = CPU_COUNT(&set);
    return n > 0 ? (uint32_t)n : 1;
}

/* CPUs for quota/period microseconds, rounded up; 0 when quota <= 0 (no limit). */
static uint32_t quota_cpus(long long quota, long long period)
{
    if (quota <= 0 || period <= 0) {
        return 0;
    }
    long long n = (quota + period - 1) / period;
    return n > 1000000 ? 1000000u : (uint32_t)n;
}

int hdb_cpu_max_parse(const char *text, uint32_t *cpus)
{
    char quota[32];
    long long period;
    if (sscanf(text, "%31s %lld", quota, &period) != 2 || period <= 0) {
        return -1;
    }
    if (strcmp(quota, "max") == 0) {
        *cpus = 0;
        return 0;
    }
    char *end;
    errno = 0;
    long long q = strtoll(quota, &end, 10);
    if (errno != 0 || *end != '\0' || q <= 0) {
        return -1;
    }
    *cpus = quota_cpus(q, period);
    return 0;
}

int hdb_cfs_quota_parse(const char *quota, const char *period, uint32_t *cpus)
{
    char *end;
    errno = 0;
    long long q = strtoll(quota, &end, 10);
    if (errno != 0 || (*end != '\0' && *end != '\n')) {
        return -1;
    }
    long long p = strtoll(period, &end, 10);
    if (errno != 0 || (*end != '\0' && *end != '\n') || p <= 0) {
        return -1;
    }
    *cpus = q < 0 ? 0 : quota_cpus(q, p);
    return 0;
}

static int read_line(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return -1;
    }
    char *ok = fgets(buf, (int)n, f);
    fclose(f);
    return ok == NULL ? -1 : 0;
}

/* Keeps the tighter of two limits (0 = none). */
static uint32_t tighter(uint32_t a, uint32_t b)
{
    return a == 0 ? b : b == 0 ? a : (a < b ? a : b);
}

/* cgroup v2: cpu.max of the process's cgroup and of every ancestor. */
static uint32_t v2_limit(const char *root, const char *cg)
{
    char dir[CGROUP_PATH_BYTES_MAX], line[CGROUP_LINE_BYTES_MAX], file[CGROUP_PATH_BYTES_MAX + 16];
    snprintf(dir, sizeof dir, "%s%s", root, cg);
    size_t root_len = strlen(root) < sizeof dir ? strlen(root) : sizeof dir - 1;
    uint32_t limit = 0;
    for (;;) {
        snprintf(file, sizeof file, "%s/cpu.max", dir);
        uint32_t cpus;
        if (read_line(file, line, sizeof line) == 0 && hdb_cpu_max_parse(line, &cpus) == 0) {
            limit = tighter(limit, cpus);
        }
        char *slash = strrchr(dir, '/');
        if (slash == NULL || strlen(dir) <= root_len || (size_t)(slash - dir) < root_len) {
            return limit;
        }
        *slash = '\0';
    }
}

/* cgroup v1: the cpu controller's quota and period for the process's cgroup. */
static uint32_t v1_limit(const char *root, const char *cg)
{
    static const char *const mounts[] = {"/cpu,cpuacct", "/cpu"};
    char qf[CGROUP_PATH_BYTES_MAX + 64], pf[CGROUP_PATH_BYTES_MAX + 64];
    char q[64], p[64];
    for (int i = 0; i < 2; i++) {
        snprintf(qf, sizeof qf, "%s%s%s/cpu.cfs_quota_us", root, mounts[i], cg);
        snprintf(pf, sizeof pf, "%s%s%s/cpu.cfs_period_us", root, mounts[i], cg);
        uint32_t cpus;
        if (read_line(qf, q, sizeof q) == 0 && read_line(pf, p, sizeof p) == 0 &&
            hdb_cfs_quota_parse(q, p, &cpus) == 0) {
            return cpus;
        }
    }
    return 0;
}

/* The quota of this process's cgroup in CPUs (0 = none found). */
static uint32_t cgroup_limit(const char *proc_cgroup, const char *root)
{
    FILE *f = fopen(proc_cgroup, "re");
    if (f == NULL) {
        return 0;
    }
    char line[CGROUP_LINE_BYTES_MAX];
    uint32_t limit = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *ctrl = strchr(line, ':');
        char *path = ctrl != NULL ? strchr(ctrl + 1, ':') : NULL;
        if (path == NULL) {
            continue;
        }
        *ctrl++ = '\0'; /* line: the hierarchy id; ctrl: the controllers; path: the cgroup */
        *path++ = '\0';
        if (strcmp(line, "0") == 0 && ctrl[0] == '\0') {
            limit = tighter(limit, v2_limit(root, path));
        } else if (strstr(ctrl, "cpu") != NULL && strstr(ctrl, "cpuset") == NULL) {
            limit = tighter(limit, v1_limit(root, path));
        }
    }
    fclose(f);
    return limit;
}

uint32_t hdb_cpus_count(uint32_t affinity, const char *proc_cgroup, const char *cgroup_root)
{
    uint32_t cpus = affinity;
    uint32_t quota = cgroup_limit(proc_cgroup, cgroup_root);
    if (quota != 0 && quota < cpus) {
        hdb_log_once(HDB_LOG_INFO, "cgroup CPU quota allows %u of %u CPUs", quota, cpus);
        cpus = quota;
    }
    return cpus > 0 ? cpus : 1;
}

uint32_t hdb_usable_cpus(void)
{
    return hdb_cpus_count(hdb_affinity_cpus(), "/proc/self/cgroup", "/sys/fs/cgroup");
}
