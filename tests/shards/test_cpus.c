/*
 * test_cpus.c — the default shard count: cgroup quota parsing (v2 cpu.max
 * and v1 cfs quota/period), the affinity mask limiting the count, and the
 * count computed from a fake cgroup tree.
 */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shards/cpus.h"
#include "tests/core/testutil.h"

Test(cpus, cgroup_v2_cpu_max_parses_and_rounds_up)
{
    uint32_t n = 99;
    cr_assert_eq(hdb_cpu_max_parse("max 100000\n", &n), 0);
    cr_assert_eq(n, 0, "max means no limit");
    cr_assert_eq(hdb_cpu_max_parse("200000 100000\n", &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(hdb_cpu_max_parse("150000 100000", &n), 0);
    cr_assert_eq(n, 2, "1.5 CPUs round up to 2");
    cr_assert_eq(hdb_cpu_max_parse("50000 100000", &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(hdb_cpu_max_parse("lots 100000", &n), -1);
    cr_assert_eq(hdb_cpu_max_parse("0 100000", &n), -1);
    cr_assert_eq(hdb_cpu_max_parse("100000", &n), -1);
    cr_assert_eq(hdb_cpu_max_parse("100000 0", &n), -1);
}

Test(cpus, cgroup_v1_quota_parses)
{
    uint32_t n = 99;
    cr_assert_eq(hdb_cfs_quota_parse("-1\n", "100000\n", &n), 0);
    cr_assert_eq(n, 0, "-1 means no limit");
    cr_assert_eq(hdb_cfs_quota_parse("250000\n", "100000\n", &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(hdb_cfs_quota_parse("x", "100000", &n), -1);
    cr_assert_eq(hdb_cfs_quota_parse("100000", "0", &n), -1);
}

Test(cpus, usable_count_follows_the_affinity_mask)
{
    uint32_t all = hdb_affinity_cpus();
    uint32_t usable = hdb_usable_cpus();
    cr_assert_geq(usable, 1);
    cr_assert_leq(usable, all);
    pid_t pid = fork();
    if (pid == 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0) {
            _exit(2);
        }
        _exit(hdb_usable_cpus() == 1 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "a process pinned to one CPU must see one usable CPU");
}

static void write_file(const char *root, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* A fake cgroup tree: the count is the affinity mask, lowered by the tightest quota on the path. */
Test(cpus, shard_count_from_a_fake_cgroup_root_and_affinity)
{
    char *root = tu_mkdtemp("cpus");
    char proc[1024], sys[1024];
    snprintf(proc, sizeof proc, "%s/proc-self-cgroup", root);
    snprintf(sys, sizeof sys, "%s/sys", root);
    /* cgroup v2: /kubepods/pod1 with 1.5 CPUs under a parent allowing 4 */
    write_file(root, "proc-self-cgroup", "0::/kubepods/pod1\n");
    write_file(root, "sys/kubepods/cpu.max", "400000 100000\n");
    write_file(root, "sys/kubepods/pod1/cpu.max", "150000 100000\n");
    cr_assert_eq(hdb_cpus_count(8, proc, sys), 2, "1.5 CPUs round up to 2");
    cr_assert_eq(hdb_cpus_count(1, proc, sys), 1, "the affinity mask is tighter");
    /* the parent is tighter than the leaf */
    write_file(root, "sys/kubepods/cpu.max", "100000 100000\n");
    cr_assert_eq(hdb_cpus_count(8, proc, sys), 1);
    /* no limit anywhere: the affinity mask */
    write_file(root, "sys/kubepods/cpu.max", "max 100000\n");
    write_file(root, "sys/kubepods/pod1/cpu.max", "max 100000\n");
    cr_assert_eq(hdb_cpus_count(6, proc, sys), 6);
    /* cgroup v1, cpu,cpuacct hierarchy: 3 CPUs */
    write_file(root, "proc-self-cgroup", "4:memory:/docker/c1\n3:cpu,cpuacct:/docker/c1\n");
    write_file(root, "sys/cpu,cpuacct/docker/c1/cpu.cfs_quota_us", "300000\n");
    write_file(root, "sys/cpu,cpuacct/docker/c1/cpu.cfs_period_us", "100000\n");
    cr_assert_eq(hdb_cpus_count(16, proc, sys), 3);
    /* v1 without a quota (-1) */
    write_file(root, "sys/cpu,cpuacct/docker/c1/cpu.cfs_quota_us", "-1\n");
    cr_assert_eq(hdb_cpus_count(16, proc, sys), 16);
    /* nothing readable: the affinity mask, at least 1 */
    cr_assert_eq(hdb_cpus_count(0, "/nonexistent/cgroup", sys), 1);
    tu_rmtree(root);
    free(root);
}
