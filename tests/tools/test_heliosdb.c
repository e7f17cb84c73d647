/*
 * test_heliosdb.c — the `heliosdb` command as a user runs it: `check` on a
 * healthy database (exit 0), on one with a damaged page (exit 1, the shard
 * and the problem named), on a path with no database and with bad options
 * (exit 2); `config` printing a configuration that names a bad file's line.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/core/testutil.h"
#include "tests/shards/kvtest.h"

#ifndef HDB_HELIOSDB_BIN
#error "HDB_HELIOSDB_BIN must name the heliosdb binary"
#endif

#define TOOL_KEYS      2000u
#define TOOL_OUT_BYTES 65536u

struct run {
    int status;
    char out[TOOL_OUT_BYTES];
};

/* Runs `heliosdb ARGS` through the shell, capturing stdout and stderr. */
static void run_tool(const char *args, struct run *r)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", HDB_HELIOSDB_BIN, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    int st = pclose(p);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *make_db(void)
{
    char *dir = tu_mkdtemp("tool");
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_table *tb = NULL;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_kv_table(c, "t", true, &tb, &err), HDB_OK, "%s", err.msg);
    char val[100];
    memset(val, 'v', sizeof val);
    for (uint32_t i = 0; i < TOOL_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "tool-key-%06u", i);
        cr_assert_eq(hdb_kv_put(c, tb, key, (uint32_t)strlen(key), val, sizeof val, &err), HDB_OK,
                     "%s", err.msg);
    }
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
    return dir;
}

/* Flips a byte in the middle of the first page of shard-K/data holding `needle`. */
static bool damage_page_with(const char *dir, const char *needle)
{
    for (int k = 0; k < 2; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/shard-%d/data", dir, k);
        int fd = open(path, O_RDWR);
        cr_assert_geq(fd, 0, "%s", path);
        static uint8_t page[4096];
        for (off_t off = 2 * 4096;; off += 4096) {
            if (pread(fd, page, sizeof page, off) != (ssize_t)sizeof page) {
                break;
            }
            if (memmem(page, sizeof page, needle, strlen(needle)) != NULL) {
                uint8_t b = page[2048] ^ 0x5a;
                cr_assert_eq(pwrite(fd, &b, 1, off + 2048), 1);
                close(fd);
                return true;
            }
        }
        close(fd);
    }
    return false;
}

Test(heliosdb, check_passes_on_a_healthy_database)
{
    char *dir = make_db();
    struct run r;
    char args[4200];
    snprintf(args, sizeof args, "check %s", dir);
    run_tool(args, &r);
    fprintf(stderr, "%s", r.out); /* the report, as a user sees it */
    cr_assert_eq(r.status, 0, "exit %d:\n%s", r.status, r.out);
    cr_assert_not_null(strstr(r.out, "2 shards"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "shard 0: ok"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "shard 1: ok"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "result: ok"), "%s", r.out);
    tu_rmtree(dir);
    free(dir);
}

Test(heliosdb, check_reports_a_damaged_page_and_exits_1)
{
    char *dir = make_db();
    cr_assert(damage_page_with(dir, "tool-key-001000"), "no page holds the key");
    struct run r;
    char args[4200];
    snprintf(args, sizeof args, "check %s", dir);
    run_tool(args, &r);
    fprintf(stderr, "%s", r.out);
    cr_assert_eq(r.status, 1, "exit %d:\n%s", r.status, r.out);
    cr_assert_not_null(strstr(r.out, "PROBLEMS"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "checksum"), "the problem is named:\n%s", r.out);
    tu_rmtree(dir);
    free(dir);
}

Test(heliosdb, usage_and_configuration_errors_exit_2)
{
    struct run r;
    run_tool("check /nonexistent/heliosdb-test", &r);
    cr_assert_eq(r.status, 2, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "no database"), "%s", r.out);
    run_tool("check --set wal.mode=sometimes /tmp", &r);
    cr_assert_eq(r.status, 2, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "wal.mode"), "%s", r.out);
    run_tool("frobnicate", &r);
    cr_assert_eq(r.status, 2, "%s", r.out);
    run_tool("check --config", &r);
    cr_assert_eq(r.status, 2, "%s", r.out);

    char *dir = tu_mkdtemp("tool-cfg");
    char *file = tu_path(dir, "bad.toml");
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("[database]\ncache_size_mb = \"lots\"\n", f);
    fclose(f);
    char args[4200];
    snprintf(args, sizeof args, "config --config %s", file);
    run_tool(args, &r);
    cr_assert_eq(r.status, 2, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "bad.toml:2"), "the file and line are named:\n%s", r.out);
    cr_assert_not_null(strstr(r.out, "cache_size_mb"), "%s", r.out);
    tu_rmtree(dir);
    free(file);
    free(dir);
}

/* Drops the " # from ..." notes that say where each value came from. */
static void strip_origins(char *text)
{
    char *w = text;
    for (char *line = text; *line != '\0';) {
        char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char *note = strstr(line, " # from ");
        size_t keep = note != NULL && note < line + len ? (size_t)(note - line) : len;
        memmove(w, line, keep);
        w += keep;
        if (end == NULL) {
            break;
        }
        *w++ = '\n';
        line = end + 1;
    }
    *w = '\0';
}

Test(heliosdb, config_prints_what_loads_again)
{
    struct run r;
    run_tool("config --set wal.mode=async --set database.cache_size_mb=64", &r);
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "mode = \"async\""), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "cache_size_mb = 64"), "%s", r.out);
    char *dir = tu_mkdtemp("tool-cfg2");
    char *file = tu_path(dir, "printed.toml");
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs(r.out, f);
    fclose(f);
    char args[4200];
    snprintf(args, sizeof args, "config --config %s", file);
    struct run again;
    run_tool(args, &again);
    cr_assert_eq(again.status, 0, "%s", again.out);
    strip_origins(again.out);
    strip_origins(r.out);
    cr_assert_str_eq(again.out, r.out, "the printed configuration loads to the same values");
    tu_rmtree(dir);
    free(file);
    free(dir);
}

/* The shell reads statements from a pipe, prints rows in list mode, answers dot commands. */
Test(heliosdb, shell_runs_sql_from_a_pipe)
{
    char *dir = tu_mkdtemp("tool-shell");
    char *input = tu_path(dir, "input.sql");
    FILE *f = fopen(input, "w");
    cr_assert_not_null(f);
    fputs("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT);\n"
          "INSERT INTO t VALUES (1, 'x'), (2, 'y');\n"
          "SELECT a, b FROM t\n  ORDER BY a DESC;\n"
          ".tables\n"
          ".mode csv\n"
          "SELECT b FROM t WHERE a = 1;\n"
          "SELECT nosuch FROM t;\n",
          f);
    fclose(f);
    char args[4400];
    snprintf(args, sizeof args, "shell %s/db < %s", dir, input);
    struct run r;
    run_tool(args, &r);
    cr_assert_eq(r.status, 1, "an error makes the exit status 1:\n%s", r.out);
    cr_assert_not_null(strstr(r.out, "2|y\n1|x\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\nt\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\"x\"\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "Error: no such column: nosuch"), "%s", r.out);
    tu_rmtree(dir);
    free(input);
    free(dir);
}

/* Runs `heliosdb shell` on a terminal (script(1) makes one) with HOME=dir; the input's bytes are
 * typed one second after start. */
static void shell_on_tty(const char *dir, const char *typed, struct run *r)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "(sleep 1; printf '%s'; sleep 2) | HOME=%s timeout 30 script -qfec '%s shell %s/db' "
             "/dev/null 2>&1",
             typed, dir, HDB_HELIOSDB_BIN, dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    r->status = pclose(p);
}

/* On a terminal the shell edits lines and keeps a history in ~/.heliosdb_history: the up arrow
 * in a later run brings back the earlier statement. */
Test(heliosdb, shell_keeps_a_history_on_a_terminal)
{
    if (system("command -v script > /dev/null 2>&1") != 0) {
        cr_skip_test("script(1) is not installed");
    }
    char *dir = tu_mkdtemp("tool-tty");
    struct run r;
    shell_on_tty(dir, "SELECT 40 + 2;\\n", &r);
    if (strncmp(r.out, "script:", 7) == 0) {
        tu_rmtree(dir);
        free(dir);
        cr_skip_test("script(1) could not make a terminal here: %s", r.out);
    }
    cr_assert_not_null(strstr(r.out, "42"), "%s", r.out);
    char *hist = tu_path(dir, ".heliosdb_history");
    FILE *f = fopen(hist, "r");
    cr_assert_not_null(f, "no history file was written:\n%s", r.out);
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    cr_assert_not_null(strstr(buf, "SELECT"), "%s", buf);
    shell_on_tty(dir, "\\033[A\\n", &r); /* up arrow, enter */
    cr_assert_not_null(strstr(r.out, "42"), "the recalled statement did not run:\n%s", r.out);
    tu_rmtree(dir);
    free(hist);
    free(dir);
}
