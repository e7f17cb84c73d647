/*
 * test_cpus.c — the default shard count: cgroup quota parsing (v2 cpu.max
 * and v1 cfs quota/period), and the affinity mask limiting the count.
 */
#include <criterion/criterion.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shards/cpus.h"

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
