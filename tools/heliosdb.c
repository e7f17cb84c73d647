/*
 * heliosdb.c — the `heliosdb` command. Subcommands so far:
 *
 *   heliosdb check [options] [DBPATH]   storage verification of every shard
 *   heliosdb config [options]           prints the effective configuration
 *   heliosdb shell [options] [--slt] [DBPATH]   SQL from a terminal or a pipe
 *   heliosdb proto [options] [DBPATH]   prints the generated per-table gRPC .proto
 *
 * Options of every subcommand: --config FILE (else $HELIOSDB_CONFIG, else
 * none: the documented defaults), --set SECTION.KEY=VALUE (repeatable; wins
 * over the file and HELIOSDB_* environment variables). docs/config.md has
 * the keys. Exit status: 0 success, 1 the check found problems, 2 usage,
 * configuration or open errors (the message says which).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "rpc/grpc_tables.h"
#include "rpc/server.h"
#include "shards/kv.h"
#include "sql/api_int.h"
#include "tools/shell.h"

#define EXIT_PROBLEMS      1
#define EXIT_USAGE         2
#define TOOL_SETS_MAX      64u  /* --set options on one command line */
#define CHECK_PROBLEMS_MAX 1000 /* problems printed per shard; the rest are counted */

extern char **environ;

struct tool_args {
    const char *command;
    const char *config_path;
    const char *sets[TOOL_SETS_MAX];
    uint32_t nsets;
    const char *db_path;
    bool slt;
};

static void usage(FILE *out)
{
    fputs("usage: heliosdb COMMAND [--config FILE] [--set SECTION.KEY=VALUE]... [ARGS]\n"
          "commands:\n"
          "  check [DBPATH]   verify every shard's files (default DBPATH: [database] path)\n"
          "  config           print the effective configuration as TOML\n"
          "  serve [DBPATH]   serve the database over HTTP (REST routes of docs/server.md)\n"
          "                   until SIGTERM or SIGINT\n"
          "  shell [--slt] [DBPATH]  run SQL from the terminal or stdin (--slt: the\n"
          "                   sqllogictest engine protocol of slt_run.py)\n"
          "  proto [DBPATH]   print the .proto of the per-table gRPC services generated\n"
          "                   from the tables ([schema] auto_generate_grpc)\n"
          "  help             this text\n",
          out);
}

static int parse_args(int argc, char **argv, struct tool_args *a)
{
    memset(a, 0, sizeof *a);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    a->command = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if ((strcmp(arg, "--config") == 0 || strcmp(arg, "--set") == 0) && i + 1 >= argc) {
            fprintf(stderr, "heliosdb: %s needs a value\n", arg);
            return EXIT_USAGE;
        }
        if (strcmp(arg, "--config") == 0) {
            a->config_path = argv[++i];
        } else if (strcmp(arg, "--set") == 0) {
            if (a->nsets == TOOL_SETS_MAX) {
                fprintf(stderr, "heliosdb: more than %u --set options\n", TOOL_SETS_MAX);
                return EXIT_USAGE;
            }
            a->sets[a->nsets++] = argv[++i];
        } else if (strcmp(arg, "--slt") == 0) {
            a->slt = true;
        } else if (arg[0] == '-') {
            fprintf(stderr, "heliosdb: unknown option %s\n", arg);
            return EXIT_USAGE;
        } else if (a->db_path == NULL) {
            a->db_path = arg;
        } else {
            fprintf(stderr, "heliosdb: unexpected argument %s\n", arg);
            return EXIT_USAGE;
        }
    }
    return 0;
}

static void report_inactive(void *ctx, const struct hdb_cfg_key *key, const char *origin)
{
    (void)ctx;
    hdb_log(HDB_LOG_INFO, "config: %s (%s) is accepted but not yet active", key->key, origin);
}

/* Defaults, then the file, the environment and the --set options (hdb_config_load starts with
 * hdb_config_init). */
static int load_config(const struct tool_args *a, struct hdb_config *cfg)
{
    struct hdb_err err = {0};
    const char *path = a->config_path != NULL ? a->config_path : hdb_config_env_file(environ);
    int rc = hdb_config_load(cfg, path, environ, &err);
    for (uint32_t i = 0; rc == HDB_OK && i < a->nsets; i++) {
        char key[HDB_CFG_NAME_BYTES_MAX];
        const char *eq = strchr(a->sets[i], '=');
        size_t len = eq != NULL ? (size_t)(eq - a->sets[i]) : 0;
        if (eq == NULL || len == 0 || len >= sizeof key) {
            rc = hdb_err_set(&err, HDB_INVALID, "--set %s: expected SECTION.KEY=VALUE", a->sets[i]);
            break;
        }
        memcpy(key, a->sets[i], len);
        key[len] = '\0';
        rc = hdb_config_set(cfg, key, eq + 1, HDB_CFG_FLAG, &err);
    }
    if (rc != HDB_OK) {
        fprintf(stderr, "heliosdb: %s\n", err.msg);
        hdb_config_free(cfg);
        return EXIT_USAGE;
    }
    hdb_config_inactive(cfg, report_inactive, NULL);
    return 0;
}

static int cmd_config(const struct tool_args *a)
{
    if (a->db_path != NULL) {
        fprintf(stderr, "heliosdb config: unexpected argument %s\n", a->db_path);
        return EXIT_USAGE;
    }
    struct hdb_config cfg;
    int rc = load_config(a, &cfg);
    if (rc != 0) {
        return rc;
    }
    struct hdb_err err = {0};
    rc = hdb_config_write(&cfg, stdout, 0, &err);
    hdb_config_free(&cfg);
    if (rc != HDB_OK) {
        fprintf(stderr, "heliosdb config: %s\n", err.msg);
        return EXIT_USAGE;
    }
    return 0;
}

struct check_state {
    uint32_t shard;
    uint64_t printed;
};

/* Called on the shard's thread while the command waits for it. */
static void check_problem(void *ctx, const char *msg)
{
    struct check_state *st = ctx;
    if (st->printed++ < CHECK_PROBLEMS_MAX) {
        printf("  shard %u: %s\n", st->shard, msg);
    }
}

/* Verifies every shard of an open database; returns the number of problems (or -1). */
static int64_t check_shards(struct hdb_db *db)
{
    struct hdb_conn *c = NULL;
    struct hdb_err err = {0};
    if (hdb_db_connect(db, &c, &err) != HDB_OK) {
        fprintf(stderr, "heliosdb check: %s\n", err.msg);
        return -1;
    }
    int64_t problems = 0;
    for (uint32_t k = 0; k < hdb_db_shards(db); k++) {
        struct check_state st = {.shard = k};
        struct hdb_verify_report r = {0};
        if (hdb_db_verify_shard(c, k, check_problem, &st, &r, &err) != HDB_OK) {
            printf("shard %u: verification stopped: %s\n", k, err.msg);
            problems++;
            continue;
        }
        printf("shard %u: %s: %llu pages (%llu tree, %llu free, %llu meta), %llu entries in "
               "%llu trees%s\n",
               k, r.problems == 0 ? "ok" : "PROBLEMS", (unsigned long long)r.pages,
               (unsigned long long)r.tree_pages, (unsigned long long)r.free_pages,
               (unsigned long long)r.meta_pages, (unsigned long long)r.entries,
               (unsigned long long)r.trees, st.printed > CHECK_PROBLEMS_MAX ? " (list cut)" : "");
        problems += (int64_t)r.problems;
    }
    hdb_db_disconnect(c);
    return problems;
}

/* The configuration (kept in *cfg, free it), the database path (DBPATH or [database] path) and
 * the open options it gives. Non-zero: the exit status of a configuration error. */
static int load_database(const struct tool_args *a, struct hdb_config *cfg, char path[4096],
                         struct hdb_db_opts *o)
{
    int rc = load_config(a, cfg);
    if (rc != 0) {
        return rc;
    }
    snprintf(path, 4096, "%s", a->db_path != NULL ? a->db_path : cfg->database.path);
    hdb_db_opts_from_config(cfg, o);
    return 0;
}

static int cmd_check(const struct tool_args *a)
{
    struct hdb_config cfg;
    char path[4096];
    struct hdb_db_opts o;
    int rc = load_database(a, &cfg, path, &o);
    if (rc != 0) {
        return rc;
    }
    hdb_config_free(&cfg);
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/MANIFEST", path);
    if (access(manifest, F_OK) != 0) {
        fprintf(stderr, "heliosdb check: no database at %s (no MANIFEST)\n", path);
        return EXIT_USAGE;
    }
    o.enable_cow_snapshots = false; /* no automatic snapshots while checking */
    struct hdb_db *db = NULL;
    struct hdb_db_open_info info;
    struct hdb_err err = {0};
    if (hdb_db_open(path, &o, &db, &info, &err) != HDB_OK) {
        printf("heliosdb check %s: cannot open: %s (%s)\n", path, err.msg,
               hdb_status_name(err.code));
        return EXIT_PROBLEMS;
    }
    printf("heliosdb check %s: %u shards; recovery replayed %llu WAL records\n", path, info.shards,
           (unsigned long long)info.wal_records);
    int64_t problems = check_shards(db);
    if (hdb_db_close(db, &err) != HDB_OK) {
        printf("closing: %s\n", err.msg);
        problems = problems < 0 ? problems : problems + 1;
    }
    if (problems < 0) {
        return EXIT_USAGE;
    }
    printf("result: %s (%lld problem%s)\n", problems == 0 ? "ok" : "PROBLEMS FOUND",
           (long long)problems, problems == 1 ? "" : "s");
    return problems == 0 ? 0 : EXIT_PROBLEMS;
}

static int cmd_shell(const struct tool_args *a)
{
    struct hdb_config cfg;
    char path[4096];
    struct hdb_db_opts o;
    int rc = load_database(a, &cfg, path, &o);
    if (rc != 0) {
        return rc;
    }
    uint32_t timeout_ms = (uint32_t)cfg.database.statement_timeout_ms;
    uint32_t work_mem_mb = (uint32_t)cfg.database.work_mem_mb;
    hdb_config_free(&cfg);
    o.enable_cow_snapshots = o.enable_cow_snapshots && !a->slt;
    struct hdb_db *db = NULL;
    struct hdb_err err = {0};
    if (hdb_db_open(path, &o, &db, NULL, &err) != HDB_OK) {
        fprintf(stderr, "heliosdb shell: cannot open %s: %s\n", path, err.msg);
        return EXIT_USAGE;
    }
    rc = hdb_shell_run(db, a->slt, timeout_ms, work_mem_mb);
    if (hdb_db_close(db, &err) != HDB_OK) {
        fprintf(stderr, "heliosdb shell: closing %s: %s\n", path, err.msg);
        rc = rc == 0 ? 1 : rc;
    }
    return rc;
}

/* Prints the .proto text of the gRPC services generated from the database's tables. */
static int cmd_proto(const struct tool_args *a)
{
    struct hdb_config cfg;
    char path[4096];
    struct hdb_db_opts o;
    int rc = load_database(a, &cfg, path, &o);
    if (rc != 0) {
        return rc;
    }
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/MANIFEST", path);
    if (access(manifest, F_OK) != 0) {
        fprintf(stderr, "heliosdb proto: no database at %s (no MANIFEST)\n", path);
        hdb_config_free(&cfg);
        return EXIT_USAGE;
    }
    cfg.snapshot.enable_cow_snapshots = false; /* no automatic snapshots for a read */
    heliosdb *db = NULL;
    heliosdb_conn *c = NULL;
    heliosdb_error err = {0};
    rc = heliosdb_open_config(path, &cfg, NULL, &db, &err);
    hdb_config_free(&cfg);
    if (rc != HELIOSDB_OK) {
        fprintf(stderr, "heliosdb proto: cannot open %s: %s\n", path, err.message);
        return EXIT_USAGE;
    }
    struct grpc_tables_cache cache = {0};
    const struct grpc_tables *gen = NULL;
    rc = heliosdb_connect(db, &c, &err);
    if (rc == HELIOSDB_OK) {
        rc = grpc_tables_get(c, &cache, &gen, &err);
        heliosdb_disconnect(c);
    }
    if (rc == HELIOSDB_OK) {
        fputs(grpc_tables_proto(gen), stdout);
    } else {
        fprintf(stderr, "heliosdb proto: %s\n", err.message);
    }
    grpc_tables_cache_free(&cache);
    if (heliosdb_close(db, &err) != HELIOSDB_OK) {
        fprintf(stderr, "heliosdb proto: closing %s: %s\n", path, err.message);
        rc = rc == HELIOSDB_OK ? HELIOSDB_ERROR : rc;
    }
    return rc == HELIOSDB_OK ? 0 : EXIT_USAGE;
}

/* --- serve --- */

static int signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t signals_seen;

/* The first SIGTERM/SIGINT starts the graceful shutdown; a second one exits at once. */
static void on_signal(int sig)
{
    if (signals_seen++ > 0) {
        _exit(128 + sig);
    }
    char c = (char)sig;
    ssize_t n = write(signal_pipe[1], &c, 1);
    (void)n;
}

static int install_signals(void)
{
    if (pipe(signal_pipe) != 0) {
        return -1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    signal(SIGPIPE, SIG_IGN);
    return sigaction(SIGTERM, &sa, NULL) == 0 && sigaction(SIGINT, &sa, NULL) == 0 ? 0 : -1;
}

/* The server's options from the configuration ([api], [container], [observability]). */
static int server_opts(const struct hdb_config *cfg, struct hdb_server_opts *o)
{
    *o = (struct hdb_server_opts){
        .bind_address = cfg->api.bind_address,
        .ports = {(uint16_t)cfg->api.rest_port, (uint16_t)cfg->api.grpc_port,
                  cfg->observability.metrics_enabled ? (uint16_t)cfg->observability.metrics_port
                                                     : 0,
                  (uint16_t)cfg->container.health_check_port},
        .max_connections = (uint32_t)cfg->database.max_connections,
        .max_request_bytes = (size_t)cfg->api.max_request_size_mb << 20,
        .max_header_bytes = (size_t)cfg->api.max_header_bytes,
        .max_concurrent_streams = (uint32_t)cfg->api.max_concurrent_streams,
        .idle_timeout_ms = (uint32_t)cfg->api.idle_timeout_seconds * 1000u,
        .request_timeout_ms = (uint32_t)cfg->api.request_timeout_seconds * 1000u,
        .enable_cors = cfg->api.enable_cors,
        .rest_tables = cfg->schema.auto_generate_rest,
        .grpc_tables = cfg->schema.auto_generate_grpc,
        .readiness_query = cfg->container.readiness_query,
        .use_io_uring = cfg->io.use_io_uring,
    };
    for (uint32_t i = 0; i < cfg->api.auth_tokens.count && o->ntokens < SERVER_TOKENS_MAX - 1;
         i++) {
        o->tokens[o->ntokens++] = cfg->api.auth_tokens.items[i];
    }
    const char *env = cfg->api.auth_token_env[0] != '\0' ? getenv(cfg->api.auth_token_env) : NULL;
    if (env != NULL && env[0] != '\0') {
        o->tokens[o->ntokens++] = env;
    }
    if (cfg->api.tls.enabled) {
        o->tls_cert_path = cfg->api.tls.cert_path;
        o->tls_key_path = cfg->api.tls.key_path;
    }
    return 0;
}

static double elapsed_ms(const struct timespec *from)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - from->tv_sec) * 1e3 + (double)(now.tv_nsec - from->tv_nsec) / 1e6;
}

static void print_listeners(const struct hdb_server_opts *so, const char *path, double open_ms)
{
    static const char *const names[SERVER_LISTENERS_MAX] = {"REST", "gRPC (and REST)", "metrics",
                                                            "health probes"};
    printf("heliosdb serve: database %s open in %.1f ms\n", path, open_ms);
    for (uint32_t p = 0; p < SERVER_LISTENERS_MAX; p++) {
        if (so->ports[p] != 0) {
            printf("heliosdb serve: %s on %s://%s:%u\n", names[p],
                   so->tls_cert_path != NULL ? "https" : "http", so->bind_address, so->ports[p]);
        }
    }
    printf("heliosdb serve: try  curl -s http://%s:%u/ready  and  curl -s -X POST "
           "http://%s:%u/v1/_sql -H 'Content-Type: application/json' -d '{\"sql\": \"SELECT "
           "1\"}'\n",
           so->bind_address, so->ports[0], so->bind_address, so->ports[0]);
    if (so->ports[1] != 0 && so->tls_cert_path == NULL) {
        /* grpcurl finds the service by reflection; any gRPC client works from the .proto */
        printf("heliosdb serve: gRPC  grpcurl -plaintext -d '{\"sql\": \"SELECT 1\"}' %s:%u "
               "heliosdb.v1.Database/Execute  (rpc/proto/heliosdb.proto)\n",
               so->bind_address, so->ports[1]);
    }
    fflush(stdout);
}

static int cmd_serve(const struct tool_args *a)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct hdb_config cfg;
    char path[4096];
    struct hdb_db_opts dbo;
    int rc = load_database(a, &cfg, path, &dbo);
    if (rc != 0) {
        return rc;
    }
    if (install_signals() != 0) {
        fprintf(stderr, "heliosdb serve: cannot install signal handlers: %s\n", strerror(errno));
        hdb_config_free(&cfg);
        return EXIT_USAGE;
    }
    heliosdb *db = NULL;
    heliosdb_error err;
    struct hdb_db_open_info info = {0};
    if (heliosdb_open_config(path, &cfg, &info, &db, &err) != HELIOSDB_OK) {
        fprintf(stderr, "heliosdb serve: cannot open %s: %s\n", path, err.message);
        hdb_config_free(&cfg);
        return EXIT_USAGE;
    }
    struct hdb_server_opts so;
    struct hdb_server *srv = NULL;
    char msg[512] = "";
    uint32_t grace_ms = (uint32_t)cfg.container.graceful_shutdown_timeout_seconds * 1000u;
    rc = server_opts(&cfg, &so);
    so.recovery_ms = (double)info.recovery_ns / 1e6;
    if (rc == 0 && hdb_server_start(db, &so, &srv, msg, sizeof msg) != HELIOSDB_OK) {
        fprintf(stderr, "heliosdb serve: %s\n", msg);
        rc = EXIT_USAGE;
    }
    if (rc == 0) {
        print_listeners(&so, path, elapsed_ms(&start));
        char sig = 0;
        while (read(signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
        }
        hdb_log(HDB_LOG_INFO, "serve: signal %d: not ready, no new connections, draining", sig);
        hdb_server_stop_accepting(srv);
        uint32_t busy = hdb_server_drain(srv, grace_ms);
        if (busy > 0) {
            hdb_log(HDB_LOG_WARN, "serve: %u network threads still busy after %u ms: closed", busy,
                    grace_ms);
        }
    }
    hdb_server_free(srv);
    hdb_config_free(&cfg);
    if (heliosdb_close(db, &err) != HELIOSDB_OK) {
        fprintf(stderr, "heliosdb serve: closing %s: %s\n", path, err.message);
        return 1;
    }
    if (rc == 0) {
        printf("heliosdb serve: stopped; database checkpointed and closed\n");
    }
    return rc;
}

int main(int argc, char **argv)
{
    hdb_log_set_level(HDB_LOG_WARN);
    struct tool_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(a.command, "check") == 0) {
        return cmd_check(&a);
    }
    if (strcmp(a.command, "config") == 0) {
        return cmd_config(&a);
    }
    if (strcmp(a.command, "shell") == 0) {
        return cmd_shell(&a);
    }
    if (strcmp(a.command, "serve") == 0) {
        return cmd_serve(&a);
    }
    if (strcmp(a.command, "proto") == 0) {
        return cmd_proto(&a);
    }
    if (strcmp(a.command, "help") == 0 || strcmp(a.command, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "heliosdb: unknown command \"%s\"\n", a.command);
    usage(stderr);
    return EXIT_USAGE;
}
