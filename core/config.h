/*
 * config.h — the configuration schema and how a configuration is loaded.
 *
 * One static schema (config.c) lists every section and key: its type, range
 * or allowed values, default, a one-line description and whether the engine
 * acts on it yet. `struct hdb_config` has one typed field per key and
 * remembers where each value came from. docs/config.md is the user's view.
 *
 * Loading order, each step overriding the one before:
 *   defaults -> file (optional) -> environment HELIOSDB_<SECTION>_<KEY> -> flags.
 *   struct hdb_config cfg;
 *   int rc = hdb_config_load(&cfg, path_or_NULL, envp, &err);   // defaults, file, env
 *   rc = hdb_config_set(&cfg, "wal.mode", "sync", HDB_CFG_FLAG, &err); // per flag
 *   hdb_config_inactive(&cfg, report_fn, ctx);                  // "accepted, not yet active"
 *   hdb_config_free(&cfg);
 *
 * Aliases name the same key: `database.wal_mode` = `wal.mode`,
 * `performance.use_io_uring` = `io.use_io_uring`, `api.enable_tls` =
 * `api.tls.enabled`; two spellings with different values in one file (or in
 * one environment) are an error naming both. The environment variable
 * HELIOSDB_PATH is accepted for database.path; HELIOSDB_CONFIG is not a key
 * (it names the file; see hdb_config_env_file).
 *
 * Every error is HDB_INVALID (or the file system's code when the file cannot
 * be read) with a message naming the file and line, the environment variable
 * or the flag, and the key. A config is used by one thread at a time.
 */
#ifndef HDB_CONFIG_H
#define HDB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "core/store.h"

#define HDB_CFG_KEYS_COUNT       62u    /* keys in the schema (checked in config.c) */
#define HDB_CFG_STRING_BYTES_MAX 4096u  /* one string value */
#define HDB_CFG_STRINGS_MAX      64u    /* items in a list-of-strings value */
#define HDB_CFG_NAME_BYTES_MAX   96u    /* "section.key" or an environment variable name */
#define HDB_CFG_ENV_VARS_MAX     65536u /* environment entries looked at */

enum hdb_cfg_type {
    HDB_CFG_BOOL = 0,
    HDB_CFG_INT = 1,     /* int64_t field, inclusive [min, max] */
    HDB_CFG_FLOAT = 2,   /* double field, inclusive [fmin, fmax] */
    HDB_CFG_STRING = 3,  /* char * field (never NULL after init), valid UTF-8, no NUL */
    HDB_CFG_ENUM = 4,    /* an enum field; the value is the index into `choices` */
    HDB_CFG_STRINGS = 5, /* struct hdb_cfg_strings field */
};

enum hdb_cfg_source {
    HDB_CFG_DEFAULT = 0,
    HDB_CFG_FILE = 1,
    HDB_CFG_ENV = 2,
    HDB_CFG_FLAG = 3,
};

#define HDB_CFG_POW2   1u /* INT: must be a power of two */
#define HDB_CFG_SECRET 2u /* hidden by hdb_config_write unless HDB_CFG_WRITE_SECRETS */

/* One row of the schema. */
struct hdb_cfg_key {
    const char *section; /* "api.tls" */
    const char *name;    /* "enabled" */
    const char *key;     /* "api.tls.enabled" */
    enum hdb_cfg_type type;
    bool active; /* the engine acts on it; otherwise "accepted, not yet active" */
    uint32_t flags;
    int64_t min, max;           /* INT */
    double fmin, fmax;          /* FLOAT */
    const char *const *choices; /* ENUM: NULL-terminated */
    const char *def;            /* default, in the text form of environment variables */
    size_t offset;              /* of the field in struct hdb_config */
    const char *doc;            /* one line */
};

struct hdb_cfg_strings {
    char **items;
    uint32_t count;
};

/* Where a key's value came from. */
struct hdb_cfg_origin {
    enum hdb_cfg_source source;
    uint32_t line;                    /* FILE: line in cfg->file */
    uint32_t phase;                   /* private: which load set it */
    char via[HDB_CFG_NAME_BYTES_MAX]; /* spelling used: "database.wal_mode", "HELIOSDB_PATH" */
};

enum hdb_cfg_checksum_algorithm {
    HDB_CFG_CHECKSUM_XXH3 = 0,
};

enum hdb_cfg_simd {
    HDB_CFG_SIMD_AUTO = 0,
    HDB_CFG_SIMD_NONE = 1,
    HDB_CFG_SIMD_SSE42 = 2,
    HDB_CFG_SIMD_AVX2 = 3,
    HDB_CFG_SIMD_AVX512 = 4,
    HDB_CFG_SIMD_NEON = 5,
};

enum hdb_cfg_log_level {
    HDB_CFG_LOG_ERROR = 0,
    HDB_CFG_LOG_WARN = 1,
    HDB_CFG_LOG_INFO = 2,
    HDB_CFG_LOG_DEBUG = 3,
    HDB_CFG_LOG_TRACE = 4,
};

enum hdb_cfg_log_format {
    HDB_CFG_LOG_TEXT = 0,
    HDB_CFG_LOG_JSON = 1,
};

/* One field per schema key; see config.c or docs/config.md for each. */
struct hdb_config {
    struct {
        char *path;
        int64_t page_size;
        int64_t cache_size_mb;
        int64_t max_connections;
        int64_t statement_timeout_ms;
        int64_t transaction_idle_timeout_ms;
        int64_t work_mem_mb;
    } database;
    struct {
        enum hdb_wal_mode mode;
        int64_t group_commit_delay_us;
        int64_t segment_size_mb;
        int64_t max_segments;
    } wal;
    struct {
        bool use_direct_io;
        bool use_io_uring;
        int64_t io_uring_entries;
        bool io_uring_polling;
    } io;
    struct {
        bool enabled;
        enum hdb_cfg_checksum_algorithm algorithm;
        bool verify_on_read;
        bool repair_on_corruption;
    } checksums;
    struct {
        bool auto_replay_wal;
        bool parallel_recovery;
        int64_t recovery_threads;
    } crash_recovery;
    struct {
        bool enable_cow_snapshots;
        int64_t snapshot_retention;
        int64_t snapshot_interval_minutes;
    } snapshot;
    struct {
        int64_t worker_threads;
        int64_t prefetch_pages;
        bool background_writer;
        enum hdb_cfg_simd simd_acceleration;
    } performance;
    struct {
        int64_t graceful_shutdown_timeout_seconds;
        int64_t health_check_port;
        char *readiness_query;
    } container;
    struct {
        char *bind_address;
        int64_t grpc_port;
        int64_t rest_port;
        bool enable_cors;
        int64_t max_request_size_mb;
        int64_t idle_timeout_seconds;
        int64_t request_timeout_seconds;
        int64_t max_header_bytes;
        int64_t max_concurrent_streams;
        struct hdb_cfg_strings auth_tokens;
        char *auth_token_env;
        struct {
            bool enabled;
            char *cert_path;
            char *key_path;
        } tls;
    } api;
    struct {
        bool metrics_enabled;
        int64_t metrics_port;
        enum hdb_cfg_log_level log_level;
        enum hdb_cfg_log_format log_format;
        bool tracing_enabled;
        char *tracing_endpoint;
        double tracing_sample_ratio;
    } observability;
    struct {
        bool auto_generate_grpc;
        bool auto_generate_rest;
    } schema;
    struct {
        bool cloud_sync_enabled;
        char *cloud_endpoint;
        int64_t sync_interval_seconds;
        int64_t batch_size;
    } edge;
    struct {
        bool enabled;
        int64_t keep_days;
        bool vacuum_on_delete;
    } retention;

    struct hdb_cfg_origin origin[HDB_CFG_KEYS_COUNT]; /* indexed like hdb_config_schema() */
    char *file;     /* the last file loaded (for origins), or NULL */
    uint32_t phase; /* private: counts loads */
};

/* Sets every key to its default (source HDB_CFG_DEFAULT). Cannot fail. */
void hdb_config_init(struct hdb_config *cfg);

/* Frees the strings a config owns; the struct may be initialised again. */
void hdb_config_free(struct hdb_config *cfg);

/*
 * The whole load: hdb_config_init, then the file at `path` (NULL: no file,
 * which is valid), then the environment `envp` (NULL-terminated "NAME=value"
 * strings as main's third argument; NULL: none). Call hdb_config_free
 * afterwards even when this fails.
 */
int hdb_config_load(struct hdb_config *cfg, const char *path, char *const *envp,
                    struct hdb_err *err);

/* Applies the keys of the TOML file at `path` over what `cfg` holds. */
int hdb_config_load_file(struct hdb_config *cfg, const char *path, struct hdb_err *err);

/* Like hdb_config_load_file for `len` bytes of TOML in memory; `name` is used in messages. */
int hdb_config_load_text(struct hdb_config *cfg, const char *name, const char *text, size_t len,
                         struct hdb_err *err);

/*
 * Applies every HELIOSDB_* variable of `envp`. A variable that names no key
 * (and is not HELIOSDB_CONFIG) is an error naming it. Values are parsed by
 * the key's type (booleans: true/false/1/0/yes/no/on/off; lists: comma-separated).
 */
int hdb_config_apply_env(struct hdb_config *cfg, char *const *envp, struct hdb_err *err);

/*
 * Sets one key from text, as a flag does: `key` is "section.key" (canonical
 * or an alias), `source` HDB_CFG_FLAG or HDB_CFG_ENV. A later call wins.
 */
int hdb_config_set(struct hdb_config *cfg, const char *key, const char *value,
                   enum hdb_cfg_source source, struct hdb_err *err);

/* The value of HELIOSDB_CONFIG in `envp` (the file to load), or NULL. */
const char *hdb_config_env_file(char *const *envp);

/* Called by hdb_config_inactive for each key set explicitly that the engine does not act on. */
typedef void (*hdb_config_inactive_fn)(void *ctx, const struct hdb_cfg_key *key,
                                       const char *origin);

/*
 * Reports each key whose value came from a file, the environment or a flag
 * but which the engine does not act on yet, once each, in schema order, with
 * hdb_config_origin_text's description. Returns how many were reported.
 */
uint32_t hdb_config_inactive(const struct hdb_config *cfg, hdb_config_inactive_fn fn, void *ctx);

#define HDB_CFG_WRITE_SECRETS 1u /* hdb_config_write: include HDB_CFG_SECRET values */

/*
 * Writes the whole effective configuration as TOML that loads back to the
 * same values (secret keys are written as comments unless
 * HDB_CFG_WRITE_SECRETS). HDB_IOERR if writing fails.
 */
int hdb_config_write(const struct hdb_config *cfg, FILE *out, unsigned flags, struct hdb_err *err);

/* The schema: HDB_CFG_KEYS_COUNT rows, grouped by section. */
const struct hdb_cfg_key *hdb_config_schema(void);

/* Index of key "section.key" (canonical or alias) in the schema, or -1. */
int hdb_config_find(const char *key);

/* Where key `index` came from: "default", "file app.toml:7", "env HELIOSDB_WAL_MODE", ... */
void hdb_config_origin_text(const struct hdb_config *cfg, uint32_t index, char *buf, size_t cap);

/* The value of key `index` as TOML text ("256", "\"sync\"", "[\"a\"]"); false if truncated. */
bool hdb_config_value_text(const struct hdb_config *cfg, uint32_t index, char *buf, size_t cap);

/* "default", "file", "env", "flag". */
const char *hdb_cfg_source_name(enum hdb_cfg_source source);

/*
 * Fills the store options the storage core acts on from `cfg`, starting from
 * hdb_store_opts_default. (crash_recovery.parallel_recovery, performance.worker_threads
 * and [snapshot] are shard-layer options; that layer copies them from `cfg`.)
 */
void hdb_config_store_opts(const struct hdb_config *cfg, struct hdb_store_opts *opts);

#endif
