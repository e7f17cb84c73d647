/*
 * test_config.c — the configuration schema and its loading: the three
 * example files (embedded below, checked against /work/shared when that
 * directory exists), defaults with no file, environment and flag overrides
 * and their errors, aliases and disagreeing aliases, unknown sections and
 * keys, wrong types, ranges and enum values, the "accepted, not yet active"
 * report, and printing the configuration then loading it back.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "tests/core/testutil.h"

#include "tests/core/config_fixtures.h"

static void load_ok(struct hdb_config *cfg, const char *text, char *const *envp)
{
    struct hdb_err err = {0};
    hdb_config_init(cfg);
    int rc = hdb_config_load_text(cfg, "app.toml", text, strlen(text), &err);
    cr_assert_eq(rc, HDB_OK, "load: %s", err.msg);
    rc = hdb_config_apply_env(cfg, envp, &err);
    cr_assert_eq(rc, HDB_OK, "env: %s", err.msg);
}

/* Loading `text` (and `envp`) fails with HDB_INVALID and `want` in the message. */
static void load_fails(const char *text, char *const *envp, const char *want)
{
    struct hdb_config cfg;
    struct hdb_err err = {0};
    hdb_config_init(&cfg);
    int rc = hdb_config_load_text(&cfg, "app.toml", text, strlen(text), &err);
    if (rc == HDB_OK) {
        rc = hdb_config_apply_env(&cfg, envp, &err);
    }
    cr_assert_eq(rc, HDB_INVALID, "expected HDB_INVALID, got %d for:\n%s", rc, text);
    cr_assert(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
    hdb_config_free(&cfg);
}

static void set_fails(const char *key, const char *value, const char *want)
{
    struct hdb_config cfg;
    struct hdb_err err = {0};
    hdb_config_init(&cfg);
    cr_assert_eq(hdb_config_set(&cfg, key, value, HDB_CFG_FLAG, &err), HDB_INVALID, "%s=%s", key,
                 value);
    cr_assert(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
    hdb_config_free(&cfg);
}

static enum hdb_cfg_source source_of(const struct hdb_config *cfg, const char *key)
{
    int i = hdb_config_find(key);
    cr_assert_geq(i, 0, "%s is not a key", key);
    return cfg->origin[i].source;
}

/* Collects the inactive report. */
struct report {
    uint32_t n;
    char keys[HDB_CFG_KEYS_COUNT][HDB_CFG_NAME_BYTES_MAX];
    char origins[HDB_CFG_KEYS_COUNT][256];
};

static void report_inactive(void *ctx, const struct hdb_cfg_key *key, const char *origin)
{
    struct report *r = ctx;
    cr_assert_lt(r->n, HDB_CFG_KEYS_COUNT);
    cr_assert(!key->active);
    snprintf(r->keys[r->n], sizeof r->keys[0], "%s", key->key);
    snprintf(r->origins[r->n], sizeof r->origins[0], "%s", origin);
    r->n++;
}

static int report_find(const struct report *r, const char *key)
{
    for (uint32_t i = 0; i < r->n; i++) {
        if (strcmp(r->keys[i], key) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- the example files ------------------------------------------------------------------ */

Test(config, loads_the_container_example)
{
    struct hdb_config cfg;
    load_ok(&cfg, FIXTURE_CONTAINER, NULL);
    cr_assert_str_eq(cfg.database.path, "/data/app.db");
    cr_assert_eq(cfg.database.page_size, 16384);
    cr_assert_eq(cfg.database.cache_size_mb, 256);
    cr_assert_eq(cfg.wal.mode, HDB_WAL_ASYNC);
    cr_assert_eq(cfg.wal.group_commit_delay_us, 500);
    cr_assert_eq(cfg.wal.segment_size_mb, 64);
    cr_assert_eq(cfg.wal.max_segments, 4);
    cr_assert(cfg.io.use_direct_io && cfg.io.use_io_uring && !cfg.io.io_uring_polling);
    cr_assert_eq(cfg.io.io_uring_entries, 256);
    cr_assert_eq(cfg.checksums.algorithm, HDB_CFG_CHECKSUM_XXH3);
    cr_assert(cfg.checksums.repair_on_corruption);
    cr_assert_eq(cfg.crash_recovery.recovery_threads, 4);
    cr_assert_eq(cfg.snapshot.snapshot_interval_minutes, 60);
    cr_assert_eq(cfg.performance.worker_threads, 0);
    cr_assert_eq(cfg.container.graceful_shutdown_timeout_seconds, 30);
    cr_assert_str_eq(cfg.container.readiness_query, "SELECT 1");
    cr_assert_eq(cfg.observability.log_level, HDB_CFG_LOG_INFO);
    cr_assert(cfg.observability.tracing_enabled);
    cr_assert_eq(source_of(&cfg, "wal.mode"), HDB_CFG_FILE);
    cr_assert_eq(cfg.origin[hdb_config_find("wal.mode")].line, 6);
    cr_assert_eq(source_of(&cfg, "api.grpc_port"), HDB_CFG_DEFAULT);
    hdb_config_free(&cfg);
}

Test(config, loads_the_microservice_example)
{
    struct hdb_config cfg;
    load_ok(&cfg, FIXTURE_MICROSERVICE, NULL);
    cr_assert_str_eq(cfg.database.path, "/data/orders.db");
    cr_assert_eq(cfg.wal.mode, HDB_WAL_ASYNC); /* via [database] wal_mode */
    cr_assert_eq(cfg.database.max_connections, 1000);
    cr_assert_str_eq(cfg.api.bind_address, "0.0.0.0");
    cr_assert_eq(cfg.api.grpc_port, 50051);
    cr_assert_eq(cfg.api.rest_port, 8080);
    cr_assert(cfg.api.enable_cors);
    cr_assert_eq(cfg.api.max_request_size_mb, 10);
    cr_assert(cfg.api.tls.enabled);
    cr_assert_str_eq(cfg.api.tls.cert_path, "/certs/server.crt");
    cr_assert_str_eq(cfg.api.tls.key_path, "/certs/server.key");
    cr_assert_eq(cfg.performance.worker_threads, 4);
    cr_assert(cfg.io.use_io_uring); /* via [performance] use_io_uring */
    cr_assert_eq(cfg.performance.simd_acceleration, HDB_CFG_SIMD_AVX2);
    cr_assert_str_eq(cfg.observability.tracing_endpoint, "http://jaeger:14268/api/traces");
    cr_assert(cfg.schema.auto_generate_grpc && cfg.schema.auto_generate_rest);
    char origin[256];
    hdb_config_origin_text(&cfg, (uint32_t)hdb_config_find("wal.mode"), origin, sizeof origin);
    cr_assert_str_eq(origin, "file app.toml:3 (as database.wal_mode)");
    hdb_config_free(&cfg);
}

Test(config, loads_the_edge_example)
{
    struct hdb_config cfg;
    load_ok(&cfg, FIXTURE_EDGE, NULL);
    cr_assert_eq(cfg.wal.mode, HDB_WAL_SYNC);
    cr_assert_eq(cfg.database.cache_size_mb, 64);
    cr_assert_eq(cfg.database.max_connections, 100);
    cr_assert(cfg.api.tls.enabled); /* via [api] enable_tls */
    cr_assert(!cfg.io.use_io_uring);
    cr_assert_eq(cfg.performance.simd_acceleration, HDB_CFG_SIMD_NEON);
    cr_assert(cfg.edge.cloud_sync_enabled);
    cr_assert_str_eq(cfg.edge.cloud_endpoint, "https://central.example.com/edge-sync");
    cr_assert_eq(cfg.edge.sync_interval_seconds, 300);
    cr_assert_eq(cfg.edge.batch_size, 1000);
    cr_assert(cfg.retention.enabled && cfg.retention.vacuum_on_delete);
    cr_assert_eq(cfg.retention.keep_days, 7);
    cr_assert_eq(cfg.observability.log_level, HDB_CFG_LOG_WARN);
    hdb_config_free(&cfg);
}

Test(config, fixtures_match_shared_examples)
{
    /* tests/core/test_config.c -> ../../../shared/config-examples, when this tree has it */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    for (int up = 0; up < 4; up++) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL) {
            cr_skip_test("no directory in __FILE__");
        }
        *slash = '\0';
    }
    const char *names[] = {"heliosdb-container.toml", "heliosdb-microservice.toml",
                           "edge-node.toml"};
    const char *copies[] = {FIXTURE_CONTAINER, FIXTURE_MICROSERVICE, FIXTURE_EDGE};
    for (size_t i = 0; i < 3; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/shared/config-examples/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            cr_skip_test("%s not present (CI clones only the repository)", path);
        }
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        cr_assert_str_eq(buf, copies[i], "%s differs from the embedded copy", names[i]);
        struct hdb_config cfg;
        struct hdb_err err = {0};
        cr_assert_eq(hdb_config_load(&cfg, path, NULL, &err), HDB_OK, "%s", err.msg);
        hdb_config_free(&cfg);
    }
}

Test(config, example_files_report_their_inactive_keys)
{
    struct hdb_config cfg;
    load_ok(&cfg, FIXTURE_EDGE, NULL);
    struct report r = {0};
    uint32_t n = hdb_config_inactive(&cfg, report_inactive, &r);
    cr_assert_eq(n, r.n);
    cr_assert_geq(report_find(&r, "edge.cloud_endpoint"), 0);
    cr_assert_geq(report_find(&r, "retention.keep_days"), 0);
    /* active keys are never reported (api.enable_tls, line 12, is api.tls.enabled: the server) */
    cr_assert_eq(report_find(&r, "api.tls.enabled"), -1);
    cr_assert_eq(report_find(&r, "database.cache_size_mb"), -1);
    cr_assert_eq(report_find(&r, "wal.mode"), -1);
    cr_assert_eq(report_find(&r, "io.use_io_uring"), -1);
    hdb_config_free(&cfg);
}

/* ---- defaults and the schema ------------------------------------------------------------ */

Test(config, defaults_apply_without_a_file)
{
    struct hdb_config cfg;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_config_load(&cfg, NULL, NULL, &err), HDB_OK, "%s", err.msg);
    cr_assert_str_eq(cfg.database.path, "./data");
    cr_assert_eq(cfg.database.page_size, 16384);
    cr_assert_eq(cfg.database.cache_size_mb, 256);
    cr_assert_eq(cfg.wal.mode, HDB_WAL_SYNC);
    cr_assert(cfg.io.use_io_uring && cfg.io.use_direct_io);
    cr_assert_eq(cfg.api.auth_tokens.count, 0);
    cr_assert_str_eq(cfg.api.tls.cert_path, "");
    cr_assert_eq(cfg.observability.log_format, HDB_CFG_LOG_TEXT);
    cr_assert_float_eq(cfg.observability.tracing_sample_ratio, 1.0, 0);
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
        cr_assert_eq(cfg.origin[i].source, HDB_CFG_DEFAULT);
    }
    cr_assert_eq(hdb_config_inactive(&cfg, NULL, NULL), 0);
    cr_assert_null(cfg.file);
    hdb_config_free(&cfg);
}

Test(config, store_options_follow_the_active_keys)
{
    struct hdb_config cfg;
    struct hdb_store_opts def, o;
    hdb_config_init(&cfg);
    hdb_store_opts_default(&def);
    hdb_config_store_opts(&cfg, &o);
    /* with no file the engine's own defaults are what the schema says */
    cr_assert_eq(o.page_size, def.page_size);
    cr_assert_eq(o.cache_bytes, def.cache_bytes);
    cr_assert_eq(o.wal_mode, def.wal_mode);
    cr_assert_eq(o.wal_segment_bytes, def.wal_segment_bytes);
    cr_assert_eq(o.wal_max_segments, def.wal_max_segments);
    cr_assert_eq(o.group_commit_delay_us, def.group_commit_delay_us);
    cr_assert_eq(o.prefetch_pages, def.prefetch_pages);
    cr_assert_eq(o.io.io_uring_entries, def.io.io_uring_entries);
    cr_assert_eq(o.io.use_io_uring, def.io.use_io_uring);
    cr_assert_eq(o.io.use_direct_io, def.io.use_direct_io);
    cr_assert_eq(o.io.io_uring_polling, def.io.io_uring_polling);
    cr_assert_eq(o.checksums_enabled, def.checksums_enabled);
    cr_assert_eq(o.verify_on_read, def.verify_on_read);
    cr_assert_eq(o.auto_replay_wal, def.auto_replay_wal);
    hdb_config_free(&cfg);
    load_ok(&cfg, FIXTURE_CONTAINER, NULL);
    hdb_config_store_opts(&cfg, &o);
    cr_assert_eq(o.cache_bytes, 256ull << 20);
    cr_assert_eq(o.wal_mode, HDB_WAL_ASYNC);
    cr_assert_eq(o.group_commit_delay_us, 500);
    cr_assert_eq(o.wal_segment_bytes, 64ull << 20);
    hdb_config_free(&cfg);
}

Test(config, schema_rows_are_unique_documented_and_env_names_distinct)
{
    const struct hdb_cfg_key *s = hdb_config_schema();
    static char env[HDB_CFG_KEYS_COUNT][HDB_CFG_NAME_BYTES_MAX];
    uint32_t active = 0;
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
        cr_assert(s[i].doc != NULL && strlen(s[i].doc) > 10, "%s has no doc", s[i].key);
        cr_assert_eq(hdb_config_find(s[i].key), (int)i, "%s", s[i].key);
        snprintf(env[i], sizeof env[i], "HELIOSDB_%s", s[i].key);
        for (char *p = env[i]; *p; p++) {
            *p = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        }
        for (uint32_t j = 0; j < i; j++) {
            cr_assert_str_neq(env[i], env[j]);
        }
        active += s[i].active;
    }
    cr_assert_eq(active, 47, "the keys the engine acts on today");
    const char *must_be_active[] = {"database.path",
                                    "database.transaction_idle_timeout_ms",
                                    "observability.log_level",
                                    "database.statement_timeout_ms",
                                    "database.page_size",
                                    "database.cache_size_mb",
                                    "wal.mode",
                                    "wal.group_commit_delay_us",
                                    "wal.segment_size_mb",
                                    "wal.max_segments",
                                    "io.use_direct_io",
                                    "io.use_io_uring",
                                    "io.io_uring_entries",
                                    "io.io_uring_polling",
                                    "checksums.enabled",
                                    "checksums.verify_on_read",
                                    "crash_recovery.auto_replay_wal",
                                    "crash_recovery.parallel_recovery",
                                    "snapshot.enable_cow_snapshots",
                                    "snapshot.snapshot_retention",
                                    "snapshot.snapshot_interval_minutes",
                                    "performance.worker_threads",
                                    "performance.prefetch_pages"};
    for (size_t i = 0; i < sizeof must_be_active / sizeof must_be_active[0]; i++) {
        cr_assert(s[hdb_config_find(must_be_active[i])].active, "%s", must_be_active[i]);
    }
    cr_assert_eq(hdb_config_find("database.wal_mode"), hdb_config_find("wal.mode"));
    cr_assert_eq(hdb_config_find("performance.use_io_uring"), hdb_config_find("io.use_io_uring"));
    cr_assert_eq(hdb_config_find("api.enable_tls"), hdb_config_find("api.tls.enabled"));
    cr_assert_eq(hdb_config_find("nosuch"), -1);
    cr_assert_eq(hdb_config_find("database.nosuch"), -1);
}

/* ---- environment ------------------------------------------------------------------------ */

Test(config, env_overrides_the_file)
{
    char *envp[] = {"PATH=/usr/bin",
                    "HELIOSDB_DATABASE_CACHE_SIZE_MB=512",
                    "HELIOSDB_API_TLS_ENABLED=off",
                    "HELIOSDB_WAL_MODE=sync",
                    "HELIOSDB_API_AUTH_TOKENS= tok-a , tok-b",
                    "HELIOSDB_OBSERVABILITY_TRACING_SAMPLE_RATIO=0.25",
                    "HELIOSDB_CONFIG=/etc/heliosdb.toml",
                    "HELIOSDB_DATABASE_PATH=relative/dir",
                    NULL};
    struct hdb_config cfg;
    load_ok(&cfg, FIXTURE_MICROSERVICE, envp);
    cr_assert_eq(cfg.database.cache_size_mb, 512);
    cr_assert(!cfg.api.tls.enabled);
    cr_assert_eq(cfg.wal.mode, HDB_WAL_SYNC);
    cr_assert_eq(cfg.api.auth_tokens.count, 2);
    cr_assert_str_eq(cfg.api.auth_tokens.items[0], "tok-a");
    cr_assert_str_eq(cfg.api.auth_tokens.items[1], "tok-b");
    cr_assert_float_eq(cfg.observability.tracing_sample_ratio, 0.25, 0);
    cr_assert_str_eq(cfg.database.path, "relative/dir"); /* kept as given */
    cr_assert_eq(source_of(&cfg, "database.cache_size_mb"), HDB_CFG_ENV);
    cr_assert_eq(source_of(&cfg, "database.max_connections"), HDB_CFG_FILE);
    char origin[256];
    hdb_config_origin_text(&cfg, (uint32_t)hdb_config_find("wal.mode"), origin, sizeof origin);
    cr_assert_str_eq(origin, "env HELIOSDB_WAL_MODE");
    cr_assert_str_eq(hdb_config_env_file(envp), "/etc/heliosdb.toml");
    hdb_config_free(&cfg);
}

Test(config, env_booleans_accept_the_usual_spellings)
{
    const char *yes[] = {"true", "TRUE", "1", "yes", "Yes", "on", "ON"};
    const char *no[] = {"false", "False", "0", "no", "NO", "off", "Off"};
    for (size_t i = 0; i < 7; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "HELIOSDB_IO_USE_DIRECT_IO=%s", no[i]);
        snprintf(b, sizeof b, "HELIOSDB_API_ENABLE_CORS=%s", yes[i]);
        char *envp[] = {a, b, NULL};
        struct hdb_config cfg;
        load_ok(&cfg, "", envp);
        cr_assert(!cfg.io.use_direct_io, "%s", no[i]);
        cr_assert(cfg.api.enable_cors, "%s", yes[i]);
        hdb_config_free(&cfg);
    }
}

Test(config, env_rejects_bad_values_naming_the_variable)
{
    char *bad_int[] = {"HELIOSDB_DATABASE_CACHE_SIZE_MB=lots", NULL};
    load_fails("", bad_int,
               "environment variable HELIOSDB_DATABASE_CACHE_SIZE_MB: key "
               "\"database.cache_size_mb\" must be an integer, got \"lots\"");
    char *bad_bool[] = {"HELIOSDB_IO_USE_DIRECT_IO=maybe", NULL};
    load_fails("", bad_bool,
               "HELIOSDB_IO_USE_DIRECT_IO: key \"io.use_direct_io\" must be a boolean");
    char *range[] = {"HELIOSDB_WAL_MAX_SEGMENTS=1", NULL};
    load_fails(
        "", range,
        "HELIOSDB_WAL_MAX_SEGMENTS: key \"wal.max_segments\" = 1 is out of range (2 to 1024)");
    char *enumv[] = {"HELIOSDB_OBSERVABILITY_LOG_FORMAT=xml", NULL};
    load_fails("", enumv, "use one of \"text\", \"json\"");
    char *empty[] = {"HELIOSDB_DATABASE_PAGE_SIZE=", NULL};
    load_fails("", empty, "must be an integer, got \"\"");
    char *spaces[] = {"HELIOSDB_DATABASE_PAGE_SIZE= 4096", NULL};
    load_fails("", spaces, "must be an integer");
    char *list[] = {"HELIOSDB_API_AUTH_TOKENS=a,,b", NULL};
    load_fails("", list, "empty item");
    char *utf8[] = {"HELIOSDB_DATABASE_PATH=/data/\xFF", NULL};
    load_fails("", utf8, "not valid UTF-8");
}

Test(config, env_rejects_unknown_heliosdb_variables)
{
    char *typo[] = {"HELIOSDB_DATABASE_CACHE_SIZE=64", NULL};
    load_fails("", typo,
               "environment variable HELIOSDB_DATABASE_CACHE_SIZE matches no configuration key; "
               "did you mean HELIOSDB_DATABASE_CACHE_SIZE_MB?");
    char *far[] = {"HELIOSDB_FROBNICATE=1", NULL};
    load_fails("", far, "HELIOSDB_FROBNICATE matches no configuration key (variables are");
    /* other prefixes and the documented non-key variable are ignored */
    char *fine[] = {"HELIOS_X=1", "HELIOSDBX=1", "HELIOSDB_CONFIG=/x.toml", "NOEQUALS", NULL};
    struct hdb_config cfg;
    load_ok(&cfg, "", fine);
    hdb_config_free(&cfg);
}

Test(config, env_alias_names_set_the_canonical_key)
{
    char *envp[] = {"HELIOSDB_DATABASE_WAL_MODE=async", "HELIOSDB_PERFORMANCE_USE_IO_URING=0",
                    "HELIOSDB_API_ENABLE_TLS=1", "HELIOSDB_PATH=/data/orders.db", NULL};
    struct hdb_config cfg;
    load_ok(&cfg, "", envp);
    cr_assert_eq(cfg.wal.mode, HDB_WAL_ASYNC);
    cr_assert(!cfg.io.use_io_uring);
    cr_assert(cfg.api.tls.enabled);
    cr_assert_str_eq(cfg.database.path, "/data/orders.db");
    cr_assert_str_eq(cfg.origin[hdb_config_find("wal.mode")].via, "HELIOSDB_DATABASE_WAL_MODE");
    hdb_config_free(&cfg);
    char *same[] = {"HELIOSDB_WAL_MODE=async", "HELIOSDB_DATABASE_WAL_MODE=async", NULL};
    load_ok(&cfg, "", same);
    hdb_config_free(&cfg);
    char *differ[] = {"HELIOSDB_WAL_MODE=sync", "HELIOSDB_DATABASE_WAL_MODE=async", NULL};
    load_fails("", differ,
               "environment variables HELIOSDB_WAL_MODE=\"sync\" and "
               "HELIOSDB_DATABASE_WAL_MODE=\"async\" set the same key \"wal.mode\"");
    char *path[] = {"HELIOSDB_DATABASE_PATH=/a", "HELIOSDB_PATH=/b", NULL};
    load_fails("", path, "HELIOSDB_DATABASE_PATH=\"/a\" and HELIOSDB_PATH=\"/b\"");
}

/* ---- flags ------------------------------------------------------------------------------ */

Test(config, flags_override_env_and_file)
{
    char *envp[] = {"HELIOSDB_DATABASE_CACHE_SIZE_MB=512", NULL};
    struct hdb_config cfg;
    struct hdb_err err = {0};
    load_ok(&cfg, FIXTURE_CONTAINER, envp);
    cr_assert_eq(hdb_config_set(&cfg, "database.cache_size_mb", "1024", HDB_CFG_FLAG, &err), HDB_OK,
                 "%s", err.msg);
    cr_assert_eq(hdb_config_set(&cfg, "database.wal_mode", "sync", HDB_CFG_FLAG, &err), HDB_OK,
                 "%s", err.msg);
    cr_assert_eq(hdb_config_set(&cfg, "api.enable_tls", "yes", HDB_CFG_FLAG, &err), HDB_OK);
    cr_assert_eq(hdb_config_set(&cfg, "performance.use_io_uring", "false", HDB_CFG_FLAG, &err),
                 HDB_OK);
    cr_assert_eq(cfg.database.cache_size_mb, 1024);
    cr_assert_eq(cfg.wal.mode, HDB_WAL_SYNC);
    cr_assert(cfg.api.tls.enabled);
    cr_assert(!cfg.io.use_io_uring);
    cr_assert_eq(source_of(&cfg, "database.cache_size_mb"), HDB_CFG_FLAG);
    char origin[256];
    hdb_config_origin_text(&cfg, (uint32_t)hdb_config_find("wal.mode"), origin, sizeof origin);
    cr_assert_str_eq(origin, "flag database.wal_mode");
    /* a later flag wins */
    cr_assert_eq(hdb_config_set(&cfg, "wal.mode", "async", HDB_CFG_FLAG, &err), HDB_OK);
    cr_assert_eq(cfg.wal.mode, HDB_WAL_ASYNC);
    hdb_config_free(&cfg);
}

Test(config, flag_errors_name_the_flag)
{
    set_fails("database.cache_size", "64",
              "flag database.cache_size: unknown key \"database.cache_size\"; did you mean "
              "\"database.cache_size_mb\"?");
    set_fails("cache_size_mb", "64",
              "unknown key \"cache_size_mb\"; did you mean \"database.cache_size_mb\"?");
    set_fails("wal.mode", "fast",
              "flag wal.mode: key \"wal.mode\" = \"fast\" is not allowed; use one of \"sync\", "
              "\"async\"");
    set_fails("database.page_size", "5000",
              "flag database.page_size: key \"database.page_size\" = 5000 must be a power of two");
    set_fails("io.io_uring_entries", "8192", "is out of range (1 to 4096)");
    set_fails("observability.tracing_sample_ratio", "1.5", "= 1.5 is out of range (0 to 1)");
    set_fails("observability.tracing_sample_ratio", "nan", "is out of range");
    set_fails("database.cache_size_mb", "99999999999999999999", "must be an integer");
}

/* ---- file errors ------------------------------------------------------------------------ */

Test(config, aliases_in_a_file_resolve_to_one_key)
{
    struct hdb_config cfg;
    load_ok(&cfg,
            "[database]\nwal_mode = \"async\"\n[performance]\nuse_io_uring = false\n"
            "[api]\nenable_tls = true\n",
            NULL);
    cr_assert_eq(cfg.wal.mode, HDB_WAL_ASYNC);
    cr_assert(!cfg.io.use_io_uring);
    cr_assert(cfg.api.tls.enabled);
    cr_assert_str_eq(cfg.origin[hdb_config_find("api.tls.enabled")].via, "api.enable_tls");
    hdb_config_free(&cfg);
    /* both spellings with the same value are fine */
    load_ok(&cfg,
            "[database]\nwal_mode = \"sync\"\n[wal]\nmode = \"sync\"\n"
            "[io]\nuse_io_uring = true\n[performance]\nuse_io_uring = true\n"
            "[api]\nenable_tls = false\n[api.tls]\nenabled = false\n",
            NULL);
    cr_assert_eq(cfg.wal.mode, HDB_WAL_SYNC);
    hdb_config_free(&cfg);
}

Test(config, disagreeing_aliases_are_an_error_naming_both_lines)
{
    load_fails("[database]\nwal_mode = \"sync\"\n\n[wal]\nmode = \"async\"\n", NULL,
               "app.toml:5: key \"wal.mode\" = \"async\" disagrees with \"database.wal_mode\" = "
               "\"sync\" at line 2");
    load_fails("[io]\nuse_io_uring = true\n[performance]\nuse_io_uring = false\n", NULL,
               "app.toml:4: key \"performance.use_io_uring\" = false disagrees with "
               "\"io.use_io_uring\" = true at line 2");
    load_fails("[api.tls]\nenabled = true\n[api]\nenable_tls = false\n", NULL,
               "app.toml:4: key \"api.enable_tls\" = false disagrees with \"api.tls.enabled\" = "
               "true at line 2");
    /* a file after another file may change a key: only one file's spellings are compared */
    struct hdb_config cfg;
    struct hdb_err err = {0};
    load_ok(&cfg, "[wal]\nmode = \"sync\"\n", NULL);
    const char *second = "[database]\nwal_mode = \"async\"\n";
    cr_assert_eq(hdb_config_load_text(&cfg, "b.toml", second, strlen(second), &err), HDB_OK, "%s",
                 err.msg);
    cr_assert_eq(cfg.wal.mode, HDB_WAL_ASYNC);
    hdb_config_free(&cfg);
}

Test(config, rejects_unknown_sections_and_keys)
{
    load_fails("[databse]\npath = \"x\"\n", NULL,
               "app.toml:1: unknown section [databse]; did you mean [database]?");
    load_fails("[database]\npath = \"x\"\n[frobnicator]\n", NULL,
               "app.toml:3: unknown section [frobnicator]");
    load_fails("[api.tsl]\nenabled = true\n", NULL,
               "unknown section [api.tsl]; did you mean [api.tls]?");
    load_fails("[api.tls.extra]\nx = 1\n", NULL, "unknown section [api.tls.extra]");
    load_fails("[database]\npath = \"x\"\ncache_size = 64\n", NULL,
               "app.toml:3: unknown key \"cache_size\" in [database]; did you mean "
               "\"database.cache_size_mb\"?");
    load_fails("[wal]\npage_size = 4096\n", NULL,
               "unknown key \"page_size\" in [wal]; did you mean \"database.page_size\"?");
    load_fails("[database]\nzzzzzzzz = 1\n", NULL, "unknown key \"zzzzzzzz\" in [database]\0");
    load_fails("path = \"/x\"\n", NULL,
               "app.toml:1: key \"path\" is outside any section (keys go under a [section] "
               "header); did you mean \"database.path\"?");
    load_fails("[database]\nfoo = { a = 1 }\n", NULL, "unknown section [database.foo]");
}

Test(config, rejects_wrong_types)
{
    load_fails("[database]\n\ncache_size_mb = \"256\"\n", NULL,
               "app.toml:3: key \"database.cache_size_mb\" must be an integer, got a string");
    load_fails("[checksums]\nenabled = 1\n", NULL,
               "key \"checksums.enabled\" must be a boolean (true or false), got an integer");
    load_fails("[database]\npath = 5\n", NULL,
               "key \"database.path\" must be a string, got an integer");
    load_fails("[database]\npage_size = 16384.0\n", NULL, "must be an integer, got a float");
    load_fails("[api]\nauth_tokens = \"one\"\n", NULL, "must be an array of strings, got a string");
    load_fails("[api]\nauth_tokens = [\"a\", 2]\n", NULL, "item 2 is an integer");
    load_fails("[wal]\nmode = true\n", NULL, "key \"wal.mode\" must be a string, got a boolean");
    load_fails("[database]\npath = { a = 1 }\n", NULL, "must be a string, got a table");
    load_fails("[database]\npath = \"a\\u0000b\"\n", NULL, "contains a NUL character");
    /* an integer is a fine float */
    struct hdb_config cfg;
    load_ok(&cfg, "[observability]\ntracing_sample_ratio = 0\n", NULL);
    cr_assert_float_eq(cfg.observability.tracing_sample_ratio, 0.0, 0);
    hdb_config_free(&cfg);
}

Test(config, rejects_out_of_range_values_and_bad_enums)
{
    load_fails("[database]\ncache_size_mb = 0\n", NULL,
               "app.toml:2: key \"database.cache_size_mb\" = 0 is out of range (4 to 1048576)");
    load_fails("[database]\npage_size = 5000\n", NULL,
               "key \"database.page_size\" = 5000 must be a power of two (4096 to 65536)");
    load_fails("[database]\npage_size = 131072\n", NULL, "is out of range (4096 to 65536)");
    load_fails("[api]\nrest_port = 70000\n", NULL, "= 70000 is out of range (0 to 65535)");
    load_fails("[performance]\nworker_threads = -1\n", NULL, "= -1 is out of range");
    load_fails("[observability]\ntracing_sample_ratio = -0.5\n", NULL, "is out of range (0 to 1)");
    load_fails("[observability]\ntracing_sample_ratio = nan\n", NULL, "is out of range");
    load_fails("[wal]\nmode = \"fast\"\n", NULL,
               "app.toml:2: key \"wal.mode\" = \"fast\" is not allowed; use one of \"sync\", "
               "\"async\"");
    load_fails("[database]\nwal_mode = \"SYNC\"\n", NULL,
               "key \"database.wal_mode\" = \"SYNC\" is not allowed");
    load_fails("[observability]\nlog_level = \"verbose\"\n", NULL,
               "use one of \"error\", \"warn\", \"info\", \"debug\", \"trace\"");
    load_fails("[performance]\nsimd_acceleration = \"mmx\"\n", NULL,
               "\"avx2\", \"avx512\", \"neon\"");
}

Test(config, toml_errors_name_file_line_and_key)
{
    load_fails("[database]\npath = \"/x\"\ncache_size_mb =\n", NULL,
               "app.toml:3:16: key \"cache_size_mb\": expected a value after '='");
    load_fails("[database]\npath = \"/x\"\n[database]\n", NULL,
               "app.toml:3:2: table [database] is defined twice (first at line 1)");
    load_fails("[database]\npath = \"/x\"\npath = \"/y\"\n", NULL,
               "app.toml:3:1: key \"path\": duplicate key");
}

Test(config, load_file_reads_a_file_and_reports_a_missing_one)
{
    char *dir = tu_mkdtemp("config-file");
    char *path = tu_path(dir, "heliosdb.toml");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(FIXTURE_CONTAINER, f);
    fclose(f);
    struct hdb_config cfg;
    struct hdb_err err = {0};
    char *envp[] = {"HELIOSDB_WAL_MAX_SEGMENTS=8", NULL};
    cr_assert_eq(hdb_config_load(&cfg, path, envp, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(cfg.wal.max_segments, 8);
    cr_assert_str_eq(cfg.file, path);
    hdb_config_free(&cfg);
    f = fopen(path, "w");
    fputs("[database]\ncache_size_mb = \"lots\"\n", f);
    fclose(f);
    cr_assert_eq(hdb_config_load(&cfg, path, NULL, &err), HDB_INVALID);
    char want[600];
    snprintf(want, sizeof want, "%s:2: key \"database.cache_size_mb\" must be an integer", path);
    cr_assert(strstr(err.msg, want) != NULL, "%s", err.msg);
    hdb_config_free(&cfg);
    char *missing = tu_path(dir, "absent.toml");
    cr_assert_eq(hdb_config_load(&cfg, missing, NULL, &err), HDB_NOTFOUND);
    cr_assert(strstr(err.msg, "absent.toml") != NULL, "%s", err.msg);
    hdb_config_free(&cfg);
    tu_rmtree(dir);
    free(missing);
    free(path);
    free(dir);
}

/* ---- the inactive report ---------------------------------------------------------------- */

Test(config, inactive_report_names_each_explicit_inactive_key_once)
{
    char *envp[] = {"HELIOSDB_OBSERVABILITY_TRACING_SAMPLE_RATIO=0.1",
                    "HELIOSDB_OBSERVABILITY_TRACING_ENDPOINT=http://x",
                    "HELIOSDB_API_GRPC_PORT=6000", NULL};
    struct hdb_config cfg;
    struct hdb_err err = {0};
    load_ok(&cfg,
            "[observability]\ntracing_sample_ratio = 0.5\n[database]\ncache_size_mb = 64\n[edge]\n"
            "batch_size = 9\n",
            envp);
    cr_assert_eq(
        hdb_config_set(&cfg, "observability.tracing_sample_ratio", "0.2", HDB_CFG_FLAG, &err),
        HDB_OK);
    struct report r = {0};
    cr_assert_eq(hdb_config_inactive(&cfg, report_inactive, &r), 3);
    int ratio = report_find(&r, "observability.tracing_sample_ratio");
    cr_assert_geq(ratio, 0);
    cr_assert_str_eq(r.origins[ratio], "flag observability.tracing_sample_ratio");
    int tracing = report_find(&r, "observability.tracing_endpoint");
    cr_assert_geq(tracing, 0);
    cr_assert_str_eq(r.origins[tracing], "env HELIOSDB_OBSERVABILITY_TRACING_ENDPOINT");
    int batch = report_find(&r, "edge.batch_size");
    cr_assert_geq(batch, 0);
    cr_assert_str_eq(r.origins[batch], "file app.toml:6");
    cr_assert_eq(report_find(&r, "api.grpc_port"), -1, "active (the server): not reported");
    cr_assert_eq(report_find(&r, "database.cache_size_mb"), -1, "active: not reported");
    hdb_config_free(&cfg);
}

/* ---- printing --------------------------------------------------------------------------- */

static char *write_config(const struct hdb_config *cfg, unsigned flags)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    struct hdb_err err = {0};
    cr_assert_eq(hdb_config_write(cfg, f, flags, &err), HDB_OK, "%s", err.msg);
    fclose(f);
    return text;
}

static void assert_same_values(const struct hdb_config *a, const struct hdb_config *b)
{
    const struct hdb_cfg_key *s = hdb_config_schema();
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
        char va[8192], vb[8192];
        cr_assert(hdb_config_value_text(a, i, va, sizeof va));
        cr_assert(hdb_config_value_text(b, i, vb, sizeof vb));
        cr_assert_str_eq(va, vb, "%s: %s then %s", s[i].key, va, vb);
    }
}

Test(config, print_then_reload_gives_the_same_values)
{
    char *envp[] = {"HELIOSDB_API_AUTH_TOKENS=secret-1,secret \"2\"", NULL};
    struct hdb_config cfg;
    struct hdb_err err = {0};
    load_ok(&cfg, FIXTURE_MICROSERVICE, envp);
    const char *flags[][2] = {
        {"container.readiness_query", "SELECT 'a\\b' AS \"q\"\ttab\nline \xC3\xA9\x7F"},
        {"observability.tracing_sample_ratio", "0.1"},
        {"database.path", "rel/path with spaces"},
        {"wal.group_commit_delay_us", "250"},
        {"api.auth_token_env", "MY_TOKEN"},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        cr_assert_eq(hdb_config_set(&cfg, flags[i][0], flags[i][1], HDB_CFG_FLAG, &err), HDB_OK,
                     "%s", err.msg);
    }
    char *text = write_config(&cfg, HDB_CFG_WRITE_SECRETS);
    struct hdb_config again;
    hdb_config_init(&again);
    cr_assert_eq(hdb_config_load_text(&again, "printed.toml", text, strlen(text), &err), HDB_OK,
                 "%s\n---\n%s", err.msg, text);
    assert_same_values(&cfg, &again);
    free(text);
    /* without HDB_CFG_WRITE_SECRETS the tokens are not printed; the output still loads */
    text = write_config(&cfg, 0);
    cr_assert_null(strstr(text, "secret-1"));
    cr_assert_not_null(strstr(text, "# auth_tokens = (secret, not shown)"));
    hdb_config_free(&again);
    hdb_config_init(&again);
    cr_assert_eq(hdb_config_load_text(&again, "printed.toml", text, strlen(text), &err), HDB_OK,
                 "%s", err.msg);
    cr_assert_eq(again.api.auth_tokens.count, 0);
    free(text);
    hdb_config_free(&again);
    hdb_config_free(&cfg);
}

Test(config, print_of_defaults_reloads_to_defaults)
{
    struct hdb_config def, again;
    struct hdb_err err = {0};
    hdb_config_init(&def);
    char *text = write_config(&def, 0);
    cr_assert_not_null(strstr(text, "[api.tls]\n"));
    cr_assert_not_null(strstr(text, "(accepted, not yet active)"));
    hdb_config_init(&again);
    cr_assert_eq(hdb_config_load_text(&again, "d.toml", text, strlen(text), &err), HDB_OK, "%s",
                 err.msg);
    assert_same_values(&def, &again);
    free(text);
    hdb_config_free(&again);
    hdb_config_free(&def);
}

Test(config, value_text_formats_as_toml)
{
    struct hdb_config cfg;
    load_ok(&cfg, FIXTURE_MICROSERVICE, NULL);
    char buf[256];
    cr_assert(hdb_config_value_text(&cfg, (uint32_t)hdb_config_find("wal.mode"), buf, sizeof buf));
    cr_assert_str_eq(buf, "\"async\"");
    cr_assert(hdb_config_value_text(&cfg, (uint32_t)hdb_config_find("api.grpc_port"), buf, 64));
    cr_assert_str_eq(buf, "50051");
    cr_assert(hdb_config_value_text(&cfg, (uint32_t)hdb_config_find("api.auth_tokens"), buf, 64));
    cr_assert_str_eq(buf, "[]");
    cr_assert(!hdb_config_value_text(&cfg, (uint32_t)hdb_config_find("api.tls.cert_path"), buf, 8));
    cr_assert_str_eq(hdb_cfg_source_name(HDB_CFG_ENV), "env");
    hdb_config_free(&cfg);
}
