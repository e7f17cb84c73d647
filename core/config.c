/*
 * config.c — the configuration schema and its loading (see config.h).
 *
 * How the pieces fit:
 *   - `schema[]` is the single source of truth: one row per key, grouped by
 *     section in `sections[]` order. Flipping a key to "acted on" is the one
 *     word INACTIVE -> ACTIVE in its row. Each row records the offset of its
 *     typed field in struct hdb_config; the row macros check the field's C
 *     type at compile time.
 *   - Every value, whatever its source, goes through `struct val`: converted
 *     from TOML (val_from_toml) or from text (val_from_text: defaults,
 *     environment, flags), checked against the row (val_check), then moved
 *     into the field (val_store). The writer and the error messages format a
 *     `struct val` the same way, so what is printed loads back.
 *   - Origins: each key remembers its source, file line and spelling. A
 *     `phase` number per load spots two spellings of one key in one file or
 *     one environment.
 */
#include "core/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/toml.h"

#define ACTIVE   true
#define INACTIVE false

#define VALUE_TEXT_BYTES 128u /* a value quoted in an error message (truncated) */
#define ENV_PREFIX       "HELIOSDB_"

/* offsetof plus a compile-time check that the field has C type T. */
#define FIELD_OF(f, T)                                                                             \
    (offsetof(struct hdb_config, f) + 0 * sizeof(_Generic(((struct hdb_config *)0)->f, T : 1)))
#define ENUM_FIELD_OF(f)                                                                           \
    (offsetof(struct hdb_config, f) +                                                              \
     0 * sizeof(char[sizeof(((struct hdb_config *)0)->f) == sizeof(int) ? 1 : -1]))

#define K_BOOL(sec, nm, f, def_, act, doc_)                                                        \
    {                                                                                              \
        .section = sec, .name = nm, .key = sec "." nm, .type = HDB_CFG_BOOL, .active = act,        \
        .def = def_, .offset = FIELD_OF(f, bool), .doc = doc_                                      \
    }
#define K_INT(sec, nm, f, def_, lo, hi, fl, act, doc_)                                             \
    {                                                                                              \
        .section = sec, .name = nm, .key = sec "." nm, .type = HDB_CFG_INT, .active = act,         \
        .flags = fl, .min = lo, .max = hi, .def = def_, .offset = FIELD_OF(f, int64_t),            \
        .doc = doc_                                                                                \
    }
#define K_FLOAT(sec, nm, f, def_, lo, hi, act, doc_)                                               \
    {                                                                                              \
        .section = sec, .name = nm, .key = sec "." nm, .type = HDB_CFG_FLOAT, .active = act,       \
        .fmin = lo, .fmax = hi, .def = def_, .offset = FIELD_OF(f, double), .doc = doc_            \
    }
#define K_STR(sec, nm, f, def_, fl, act, doc_)                                                     \
    {                                                                                              \
        .section = sec, .name = nm, .key = sec "." nm, .type = HDB_CFG_STRING, .active = act,      \
        .flags = fl, .def = def_, .offset = FIELD_OF(f, char *), .doc = doc_                       \
    }
#define K_ENUM(sec, nm, f, ch, def_, act, doc_)                                                    \
    {                                                                                              \
        .section = sec, .name = nm, .key = sec "." nm, .type = HDB_CFG_ENUM, .active = act,        \
        .choices = ch, .def = def_, .offset = ENUM_FIELD_OF(f), .doc = doc_                        \
    }
#define K_STRS(sec, nm, f, def_, fl, act, doc_)                                                    \
    {                                                                                              \
        .section = sec, .name = nm, .key = sec "." nm, .type = HDB_CFG_STRINGS, .active = act,     \
        .flags = fl, .def = def_, .offset = FIELD_OF(f, struct hdb_cfg_strings), .doc = doc_       \
    }

static_assert(HDB_WAL_SYNC == 0 && HDB_WAL_ASYNC == 1, "wal_modes[] is indexed by the enum");

static const char *const wal_modes[] = {"sync", "async", NULL};
static const char *const checksum_algorithms[] = {"xxh3", NULL};
static const char *const simd_levels[] = {"auto", "none", "sse4.2", "avx2", "avx512", "neon", NULL};
static const char *const log_levels[] = {"error", "warn", "info", "debug", "trace", NULL};
static const char *const log_formats[] = {"text", "json", NULL};

static const char *const sections[] = {
    "database",  "wal", "io",      "checksums",     "crash_recovery", "snapshot", "performance",
    "container", "api", "api.tls", "observability", "schema",         "edge",     "retention",
};
#define SECTIONS_COUNT (sizeof sections / sizeof sections[0])

#define MS_DAY      86400000
#define PORT_MAX    65535
#define THREADS_MAX 1024

static const struct hdb_cfg_key schema[] = {
    /* [database] */
    K_STR("database", "path", database.path, "./data", 0, ACTIVE,
          "database directory (relative paths are kept as given)"),
    K_INT("database", "page_size", database.page_size, "16384", 4096, 65536, HDB_CFG_POW2, ACTIVE,
          "page size in bytes; fixed when the database is created"),
    K_INT("database", "cache_size_mb", database.cache_size_mb, "256", 4, 1048576, 0, ACTIVE,
          "page cache size in MiB, split evenly between shards"),
    K_INT("database", "max_connections", database.max_connections, "1000", 1, 1000000, 0, ACTIVE,
          "most client connections served at once"),
    K_INT("database", "statement_timeout_ms", database.statement_timeout_ms, "30000", 0, MS_DAY, 0,
          ACTIVE, "a statement running longer is cancelled (0: no limit)"),
    K_INT("database", "transaction_idle_timeout_ms", database.transaction_idle_timeout_ms, "60000",
          0, MS_DAY, 0, ACTIVE, "a transaction idle longer is aborted (0: never)"),
    K_INT("database", "work_mem_mb", database.work_mem_mb, "256", 1, 65536, 0, ACTIVE,
          "memory one sort, hash table or join may use before it fails with an error"),
    /* [wal] */
    K_ENUM("wal", "mode", wal.mode, wal_modes, "sync", ACTIVE,
           "sync: commit is acknowledged after fdatasync; async: within 10 ms after"),
    K_INT("wal", "group_commit_delay_us", wal.group_commit_delay_us, "0", 0, 100000, 0, ACTIVE,
          "how long a commit group waits for more commits before it is written"),
    K_INT("wal", "segment_size_mb", wal.segment_size_mb, "64", 1, 4096, 0, ACTIVE,
          "size of one WAL segment file in MiB"),
    K_INT("wal", "max_segments", wal.max_segments, "4", 2, 1024, 0, ACTIVE,
          "WAL segments per shard; a checkpoint recycles old ones"),
    /* [io] */
    K_BOOL("io", "use_direct_io", io.use_direct_io, "true", ACTIVE,
           "open data and WAL files with O_DIRECT (falls back if refused)"),
    K_BOOL("io", "use_io_uring", io.use_io_uring, "true", ACTIVE,
           "disk and network I/O through io_uring (else pread/pwrite, and epoll for serve)"),
    K_INT("io", "io_uring_entries", io.io_uring_entries, "256", 1, 4096, HDB_CFG_POW2, ACTIVE,
          "submission queue entries per ring"),
    K_BOOL("io", "io_uring_polling", io.io_uring_polling, "false", ACTIVE,
           "use a kernel polling thread (SQPOLL): lower latency, one busy core"),
    /* [checksums] */
    K_BOOL("checksums", "enabled", checksums.enabled, "true", ACTIVE,
           "write a checksum into every page"),
    K_ENUM("checksums", "algorithm", checksums.algorithm, checksum_algorithms, "xxh3", INACTIVE,
           "page checksum algorithm; pages always use XXH3-128"),
    K_BOOL("checksums", "verify_on_read", checksums.verify_on_read, "true", ACTIVE,
           "verify the checksum of every page read from disk"),
    K_BOOL("checksums", "repair_on_corruption", checksums.repair_on_corruption, "false", INACTIVE,
           "repair a damaged page from a redundant copy (WAL image, snapshot), never by dropping"),
    /* [crash_recovery] */
    K_BOOL("crash_recovery", "auto_replay_wal", crash_recovery.auto_replay_wal, "true", ACTIVE,
           "replay the WAL when the database is opened"),
    K_BOOL("crash_recovery", "parallel_recovery", crash_recovery.parallel_recovery, "true", ACTIVE,
           "recover shards in parallel, one thread each"),
    K_INT("crash_recovery", "recovery_threads", crash_recovery.recovery_threads, "0", 0,
          THREADS_MAX, 0, INACTIVE, "threads for recovery (0: one per shard)"),
    /* [snapshot] */
    K_BOOL("snapshot", "enable_cow_snapshots", snapshot.enable_cow_snapshots, "true", ACTIVE,
           "allow copy-on-write snapshots and take the automatic ones"),
    K_INT("snapshot", "snapshot_retention", snapshot.snapshot_retention, "3", 0, 100000, 0, ACTIVE,
          "automatic snapshots kept (0: all)"),
    K_INT("snapshot", "snapshot_interval_minutes", snapshot.snapshot_interval_minutes, "0", 0,
          43200, 0, ACTIVE, "minutes between automatic snapshots (0: none; at most 30 days)"),
    /* [performance] */
    K_INT("performance", "worker_threads", performance.worker_threads, "0", 0, THREADS_MAX, 0,
          ACTIVE, "shard threads (0: the CPUs the process may use, cgroup limits included)"),
    K_INT("performance", "prefetch_pages", performance.prefetch_pages, "16", 0, 64, 0, ACTIVE,
          "pages read ahead by range scans"),
    K_BOOL("performance", "background_writer", performance.background_writer, "true", INACTIVE,
           "checkpoint from a background task rather than on the commit path"),
    K_ENUM("performance", "simd_acceleration", performance.simd_acceleration, simd_levels, "auto",
           INACTIVE, "SIMD instruction set to use (auto: detect at startup)"),
    /* [container] */
    K_INT("container", "graceful_shutdown_timeout_seconds",
          container.graceful_shutdown_timeout_seconds, "30", 0, 3600, 0, ACTIVE,
          "on SIGTERM, seconds to finish requests and checkpoint before exiting"),
    K_INT("container", "health_check_port", container.health_check_port, "0", 0, PORT_MAX, 0,
          ACTIVE, "port for /health and /ready (0: the REST port)"),
    K_STR("container", "readiness_query", container.readiness_query, "SELECT 1", 0, ACTIVE,
          "SQL that /ready runs; ready when it succeeds"),
    /* [api] */
    K_STR("api", "bind_address", api.bind_address, "127.0.0.1", 0, ACTIVE,
          "address the listeners bind (0.0.0.0: every interface, as containers need)"),
    K_INT("api", "grpc_port", api.grpc_port, "50051", 0, PORT_MAX, 0, ACTIVE,
          "gRPC listener port (0: none; equal ports share one listener)"),
    K_INT("api", "rest_port", api.rest_port, "8080", 0, PORT_MAX, 0, ACTIVE,
          "REST/HTTP listener port (0: none)"),
    K_BOOL("api", "enable_cors", api.enable_cors, "false", ACTIVE,
           "answer CORS preflight requests and send CORS headers"),
    K_INT("api", "max_request_size_mb", api.max_request_size_mb, "4", 1, 1024, 0, ACTIVE,
          "largest request body or gRPC message in MiB"),
    K_INT("api", "idle_timeout_seconds", api.idle_timeout_seconds, "300", 0, 86400, 0, ACTIVE,
          "close a connection idle this long (0: never)"),
    K_INT("api", "request_timeout_seconds", api.request_timeout_seconds, "30", 0, 3600, 0, ACTIVE,
          "fail a request not answered in this time (0: no limit)"),
    K_INT("api", "max_header_bytes", api.max_header_bytes, "32768", 1024, 1048576, 0, ACTIVE,
          "largest request header block in bytes"),
    K_INT("api", "max_concurrent_streams", api.max_concurrent_streams, "100", 1, 10000, 0, ACTIVE,
          "HTTP/2 streams per connection"),
    K_STRS("api", "auth_tokens", api.auth_tokens, "", HDB_CFG_SECRET, ACTIVE,
           "bearer tokens accepted (none here and no auth_token_env: no authentication)"),
    K_STR("api", "auth_token_env", api.auth_token_env, "", 0, ACTIVE,
          "name of an environment variable holding one more accepted bearer token"),
    /* [api.tls] */
    K_BOOL("api.tls", "enabled", api.tls.enabled, "false", ACTIVE,
           "serve TLS (ALPN h2 and http/1.1) on the API ports"),
    K_STR("api.tls", "cert_path", api.tls.cert_path, "", 0, ACTIVE, "PEM certificate chain file"),
    K_STR("api.tls", "key_path", api.tls.key_path, "", 0, ACTIVE, "PEM private key file"),
    /* [observability] */
    K_BOOL("observability", "metrics_enabled", observability.metrics_enabled, "true", ACTIVE,
           "serve Prometheus metrics at /metrics"),
    K_INT("observability", "metrics_port", observability.metrics_port, "9090", 0, PORT_MAX, 0,
          ACTIVE, "metrics port (0: the REST port)"),
    K_ENUM("observability", "log_level", observability.log_level, log_levels, "info", ACTIVE,
           "least severe log lines written"),
    K_ENUM("observability", "log_format", observability.log_format, log_formats, "text", ACTIVE,
           "log lines as text or as one JSON object each"),
    K_BOOL("observability", "tracing_enabled", observability.tracing_enabled, "false", INACTIVE,
           "export request traces"),
    K_STR("observability", "tracing_endpoint", observability.tracing_endpoint, "", 0, INACTIVE,
          "URL traces are sent to"),
    K_FLOAT("observability", "tracing_sample_ratio", observability.tracing_sample_ratio, "1.0", 0.0,
            1.0, INACTIVE, "fraction of requests traced"),
    /* [schema] */
    K_BOOL("schema", "auto_generate_grpc", schema.auto_generate_grpc, "false", ACTIVE,
           "serve typed per-table gRPC services generated from the SQL schema"),
    K_BOOL("schema", "auto_generate_rest", schema.auto_generate_rest, "false", ACTIVE,
           "serve per-table REST CRUD routes and their OpenAPI document"),
    /* [edge] */
    K_BOOL("edge", "cloud_sync_enabled", edge.cloud_sync_enabled, "false", INACTIVE,
           "send new rows upstream when the network is available"),
    K_STR("edge", "cloud_endpoint", edge.cloud_endpoint, "", 0, INACTIVE, "URL rows are synced to"),
    K_INT("edge", "sync_interval_seconds", edge.sync_interval_seconds, "300", 1, 86400, 0, INACTIVE,
          "seconds between sync attempts"),
    K_INT("edge", "batch_size", edge.batch_size, "1000", 1, 1000000, 0, INACTIVE,
          "rows sent per sync request"),
    /* [retention] */
    K_BOOL("retention", "enabled", retention.enabled, "false", INACTIVE,
           "delete rows older than keep_days automatically"),
    K_INT("retention", "keep_days", retention.keep_days, "30", 1, 36500, 0, INACTIVE,
          "days rows are kept"),
    K_BOOL("retention", "vacuum_on_delete", retention.vacuum_on_delete, "false", INACTIVE,
           "return freed space to the file system after a purge"),
};
static_assert(sizeof schema / sizeof schema[0] == HDB_CFG_KEYS_COUNT, "HDB_CFG_KEYS_COUNT");

/* Other spellings of a key in files and flags (and, as env names, in the environment). */
struct alias {
    const char *section, *name, *key, *target;
};
static const struct alias aliases[] = {
    {"database", "wal_mode", "database.wal_mode", "wal.mode"},
    {"performance", "use_io_uring", "performance.use_io_uring", "io.use_io_uring"},
    {"api", "enable_tls", "api.enable_tls", "api.tls.enabled"},
};
#define ALIASES_COUNT (sizeof aliases / sizeof aliases[0])

/* Environment variables that are not HELIOSDB_<SECTION>_<KEY> but still mean a key. */
static const struct {
    const char *var, *target;
} env_aliases[] = {{"HELIOSDB_PATH", "database.path"}};
#define ENV_ALIASES_COUNT (sizeof env_aliases / sizeof env_aliases[0])

/* HELIOSDB_ variables that are not keys at all. */
static const char *const env_not_keys[] = {"HELIOSDB_CONFIG"};
#define ENV_NOT_KEYS_COUNT (sizeof env_not_keys / sizeof env_not_keys[0])

/* A value on its way into a field; owns `s` and `a`. */
struct val {
    bool b;
    int64_t i;
    double f;
    int e;
    char *s;
    struct hdb_cfg_strings a;
};

/* ---- small helpers -------------------------------------------------------------------- */

static void strings_free(struct hdb_cfg_strings *a)
{
    for (uint32_t i = 0; i < a->count; i++) {
        free(a->items[i]);
    }
    free(a->items);
    a->items = NULL;
    a->count = 0;
}

static void val_free(struct val *v)
{
    free(v->s);
    v->s = NULL;
    strings_free(&v->a);
}

static void *field_of(struct hdb_config *cfg, const struct hdb_cfg_key *k)
{
    return (char *)cfg + k->offset;
}

static const void *cfield_of(const struct hdb_config *cfg, const struct hdb_cfg_key *k)
{
    return (const char *)cfg + k->offset;
}

static bool section_known(const char *s)
{
    for (size_t i = 0; i < SECTIONS_COUNT; i++) {
        if (strcmp(sections[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* Index of the key named by section + name (canonical or alias), or -1. */
static int resolve(const char *section, const char *name)
{
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
        if (strcmp(schema[i].section, section) == 0 && strcmp(schema[i].name, name) == 0) {
            return (int)i;
        }
    }
    for (size_t i = 0; i < ALIASES_COUNT; i++) {
        if (strcmp(aliases[i].section, section) == 0 && strcmp(aliases[i].name, name) == 0) {
            return hdb_config_find(aliases[i].target);
        }
    }
    return -1;
}

/* Edit distance of two short names (each cut to 64 bytes), for "did you mean". */
static uint32_t edit_distance(const char *a, const char *b)
{
    size_t n = strnlen(a, 64), m = strnlen(b, 64);
    uint32_t row[65];
    for (size_t j = 0; j <= m; j++) {
        row[j] = (uint32_t)j;
    }
    for (size_t i = 1; i <= n; i++) {
        uint32_t diag = row[0];
        row[0] = (uint32_t)i;
        for (size_t j = 1; j <= m; j++) {
            uint32_t up = row[j];
            uint32_t best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

/* Twice the edit distance, plus one unless one name starts with the other (so cache_size
 * -> cache_size_mb beats page_size at the same distance). Lower is closer. */
static uint32_t closeness(const char *typed, const char *known)
{
    size_t n = strlen(typed), m = strlen(known);
    bool prefix = strncmp(typed, known, n < m ? n : m) == 0;
    return 2 * edit_distance(typed, known) + (prefix ? 0u : 1u);
}

/* The largest closeness() still worth suggesting for `s`: about a third of it mistyped. */
static uint32_t near_enough(const char *s)
{
    size_t third = strlen(s) / 3;
    return 2 * (third > 2 ? (uint32_t)third : 2) + 1;
}

/* "; did you mean \"wal.segment_size_mb\"?" for an unknown key, or "". */
static void suggest_key(const char *section, const char *name, char *out, size_t cap)
{
    uint32_t best = UINT32_MAX;
    const char *pick = NULL;
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT + ALIASES_COUNT; i++) {
        bool is_alias = i >= HDB_CFG_KEYS_COUNT;
        const char *sec = is_alias ? aliases[i - HDB_CFG_KEYS_COUNT].section : schema[i].section;
        const char *nm = is_alias ? aliases[i - HDB_CFG_KEYS_COUNT].name : schema[i].name;
        uint32_t d = closeness(name, nm) + 2 * (strcmp(sec, section) != 0);
        if (d < best) {
            best = d;
            pick = is_alias ? aliases[i - HDB_CFG_KEYS_COUNT].key : schema[i].key;
        }
    }
    out[0] = '\0';
    if (pick != NULL && best <= near_enough(name)) {
        snprintf(out, cap, "; did you mean \"%s\"?", pick);
    }
}

static void suggest_section(const char *section, char *out, size_t cap)
{
    uint32_t best = UINT32_MAX;
    const char *pick = NULL;
    for (size_t i = 0; i < SECTIONS_COUNT; i++) {
        uint32_t d = closeness(section, sections[i]);
        if (d < best) {
            best = d;
            pick = sections[i];
        }
    }
    out[0] = '\0';
    if (pick != NULL && best <= near_enough(section)) {
        snprintf(out, cap, "; did you mean [%s]?", pick);
    }
}

/* "HELIOSDB_API_TLS_ENABLED" for section "api.tls", name "enabled". */
static void env_name(const char *section, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, ENV_PREFIX "%s_%s", section, name);
    assert(n > 0);
    assert((size_t)n < cap); /* schema_assert bounds every key's length */
    (void)n;
    for (char *p = out; *p != '\0'; p++) {
        *p = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    }
}

/* ---- formatting values ---------------------------------------------------------------- */

/* Output into a bounded buffer or a FILE. */
struct sink {
    char *buf;
    size_t cap, len;
    FILE *file;
    bool truncated;
};

static void sink_put(struct sink *o, const char *s, size_t n)
{
    if (o->file != NULL) {
        fwrite(s, 1, n, o->file);
        return;
    }
    size_t room = o->cap - 1 - o->len;
    if (n > room) {
        n = room;
        o->truncated = true;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void sink_str(struct sink *o, const char *s)
{
    sink_put(o, s, strlen(s));
}

/* A TOML basic string: quotes, backslashes and control characters escaped. */
static void sink_quoted(struct sink *o, const char *s)
{
    sink_put(o, "\"", 1);
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sink_put(o, esc, 2);
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof esc, "\\u%04X", c);
            sink_put(o, esc, 6);
        } else {
            sink_put(o, p, 1);
        }
    }
    sink_put(o, "\"", 1);
}

static void sink_float(struct sink *o, double f)
{
    char num[40];
    if (isnan(f)) {
        snprintf(num, sizeof num, "nan");
    } else if (isinf(f)) {
        snprintf(num, sizeof num, "%sinf", f < 0 ? "-" : "");
    } else {
        snprintf(num, sizeof num, "%.17g", f);
        if (strpbrk(num, ".e") == NULL) {
            strcat(num, ".0"); /* TOML needs a fraction or exponent */
        }
    }
    sink_str(o, num);
}

static void sink_val(struct sink *o, const struct hdb_cfg_key *k, const struct val *v)
{
    char num[32];
    switch (k->type) {
    case HDB_CFG_BOOL:
        sink_str(o, v->b ? "true" : "false");
        break;
    case HDB_CFG_INT:
        snprintf(num, sizeof num, "%" PRId64, v->i);
        sink_str(o, num);
        break;
    case HDB_CFG_FLOAT:
        sink_float(o, v->f);
        break;
    case HDB_CFG_STRING:
        sink_quoted(o, v->s);
        break;
    case HDB_CFG_ENUM:
        sink_quoted(o, k->choices[v->e]);
        break;
    case HDB_CFG_STRINGS:
        sink_str(o, "[");
        for (uint32_t i = 0; i < v->a.count; i++) {
            sink_str(o, i == 0 ? "" : ", ");
            sink_quoted(o, v->a.items[i]);
        }
        sink_str(o, "]");
        break;
    }
}

/* A borrowed view of a field as a `struct val` (do not val_free it). */
static void val_view(const struct hdb_config *cfg, const struct hdb_cfg_key *k, struct val *v)
{
    memset(v, 0, sizeof *v);
    const void *f = cfield_of(cfg, k);
    switch (k->type) {
    case HDB_CFG_BOOL:
        memcpy(&v->b, f, sizeof v->b);
        break;
    case HDB_CFG_INT:
        memcpy(&v->i, f, sizeof v->i);
        break;
    case HDB_CFG_FLOAT:
        memcpy(&v->f, f, sizeof v->f);
        break;
    case HDB_CFG_STRING:
        memcpy(&v->s, f, sizeof v->s);
        break;
    case HDB_CFG_ENUM:
        memcpy(&v->e, f, sizeof v->e);
        break;
    case HDB_CFG_STRINGS:
        memcpy(&v->a, f, sizeof v->a);
        break;
    }
}

/* A value for an error message (cut to VALUE_TEXT_BYTES). */
static const char *val_text(const struct hdb_cfg_key *k, const struct val *v,
                            char buf[VALUE_TEXT_BYTES])
{
    struct sink o = {.buf = buf, .cap = VALUE_TEXT_BYTES};
    buf[0] = '\0';
    sink_val(&o, k, v);
    if (o.truncated) {
        memcpy(buf + VALUE_TEXT_BYTES - 4, "...", 4);
    }
    return buf;
}

/* ---- converting and checking values --------------------------------------------------- */

static const char *wanted(const struct hdb_cfg_key *k)
{
    switch (k->type) {
    case HDB_CFG_BOOL:
        return "a boolean (true or false)";
    case HDB_CFG_INT:
        return "an integer";
    case HDB_CFG_FLOAT:
        return "a number";
    case HDB_CFG_STRING:
        return "a string";
    case HDB_CFG_ENUM:
        return "a string";
    case HDB_CFG_STRINGS:
        return "an array of strings";
    }
    return "?";
}

static int enum_index(const struct hdb_cfg_key *k, const char *s)
{
    for (int i = 0; k->choices[i] != NULL; i++) {
        if (strcmp(k->choices[i], s) == 0) {
            return i;
        }
    }
    return -1;
}

static int enum_error(const struct hdb_cfg_key *k, const char *spelling, const char *s,
                      struct hdb_err *err)
{
    char list[256];
    struct sink o = {.buf = list, .cap = sizeof list};
    list[0] = '\0';
    for (int i = 0; k->choices[i] != NULL; i++) {
        sink_str(&o, i == 0 ? "" : ", ");
        sink_quoted(&o, k->choices[i]);
    }
    return hdb_err_set(err, HDB_INVALID, "key \"%s\" = \"%.64s\" is not allowed; use one of %s",
                       spelling, s, list);
}

/* A string value: valid UTF-8, no NUL, bounded. `len` is its length in bytes. */
static int string_ok(const struct hdb_cfg_key *k, const char *spelling, const char *s, size_t len,
                     struct hdb_err *err)
{
    if (len > HDB_CFG_STRING_BYTES_MAX) {
        return hdb_err_set(err, HDB_INVALID, "key \"%s\": a string is longer than %u bytes",
                           spelling, HDB_CFG_STRING_BYTES_MAX);
    }
    if (memchr(s, '\0', len) != NULL) {
        return hdb_err_set(err, HDB_INVALID, "key \"%s\": a string contains a NUL character",
                           spelling);
    }
    if (!hdb_toml_utf8_valid(s, len)) {
        return hdb_err_set(err, HDB_INVALID, "key \"%s\": a string is not valid UTF-8", spelling);
    }
    (void)k;
    return HDB_OK;
}

static int dup_string(const char *s, size_t len, char **out, struct hdb_err *err)
{
    *out = malloc(len + 1);
    if (*out == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    memcpy(*out, s, len);
    (*out)[len] = '\0';
    return HDB_OK;
}

/* Range and shape checks shared by every source. */
static int val_check(const struct hdb_cfg_key *k, const char *spelling, const struct val *v,
                     struct hdb_err *err)
{
    if (k->type == HDB_CFG_INT && (v->i < k->min || v->i > k->max)) {
        return hdb_err_set(err, HDB_INVALID,
                           "key \"%s\" = %" PRId64 " is out of range (%" PRId64 " to %" PRId64 ")",
                           spelling, v->i, k->min, k->max);
    }
    if (k->type == HDB_CFG_INT && (k->flags & HDB_CFG_POW2) != 0 && (v->i & (v->i - 1)) != 0) {
        return hdb_err_set(err, HDB_INVALID,
                           "key \"%s\" = %" PRId64 " must be a power of two (%" PRId64
                           " to %" PRId64 ")",
                           spelling, v->i, k->min, k->max);
    }
    if (k->type == HDB_CFG_FLOAT && !(v->f >= k->fmin && v->f <= k->fmax)) {
        return hdb_err_set(err, HDB_INVALID, "key \"%s\" = %g is out of range (%g to %g)", spelling,
                           v->f, k->fmin, k->fmax);
    }
    if (k->type == HDB_CFG_STRINGS && v->a.count > HDB_CFG_STRINGS_MAX) {
        return hdb_err_set(err, HDB_INVALID, "key \"%s\" has more than %u items", spelling,
                           HDB_CFG_STRINGS_MAX);
    }
    return HDB_OK;
}

static int strings_push(struct hdb_cfg_strings *a, const char *s, size_t len, struct hdb_err *err)
{
    if (a->count >= HDB_CFG_STRINGS_MAX) {
        return hdb_err_set(err, HDB_INVALID, "a list has more than %u items", HDB_CFG_STRINGS_MAX);
    }
    if (a->count == 0) {
        a->items = calloc(HDB_CFG_STRINGS_MAX, sizeof *a->items);
        if (a->items == NULL) {
            return hdb_err_set(err, HDB_NOMEM, "out of memory");
        }
    }
    int rc = dup_string(s, len, &a->items[a->count], err);
    if (rc == HDB_OK) {
        a->count++;
    }
    return rc;
}

static int toml_type_error(const char *spelling, const struct hdb_cfg_key *k,
                           const struct hdb_toml_value *tv, struct hdb_err *err)
{
    enum hdb_toml_type t = tv->type;
    bool an = t == HDB_TOML_ARRAY || t == HDB_TOML_INT;
    return hdb_err_set(err, HDB_INVALID, "key \"%s\" must be %s, got %s %s", spelling, wanted(k),
                       an ? "an" : "a", hdb_toml_type_name(t));
}

static int strings_from_toml(const struct hdb_cfg_key *k, const char *spelling,
                             const struct hdb_toml_value *tv, struct val *v, struct hdb_err *err)
{
    if (tv->as.array.count > HDB_CFG_STRINGS_MAX) {
        return hdb_err_set(err, HDB_INVALID, "key \"%s\" has more than %u items", spelling,
                           HDB_CFG_STRINGS_MAX);
    }
    for (uint32_t i = 0; i < tv->as.array.count; i++) {
        const struct hdb_toml_value *it = hdb_toml_at(tv, i);
        if (it->type != HDB_TOML_STRING) {
            return hdb_err_set(err, HDB_INVALID, "key \"%s\" must be %s, item %u is %s %s",
                               spelling, wanted(k), i + 1,
                               it->type == HDB_TOML_ARRAY || it->type == HDB_TOML_INT ? "an" : "a",
                               hdb_toml_type_name(it->type));
        }
        int rc = string_ok(k, spelling, it->as.string.bytes, it->as.string.len, err);
        if (rc == HDB_OK) {
            rc = strings_push(&v->a, it->as.string.bytes, it->as.string.len, err);
        }
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

/* Converts a TOML value; on failure `v` may hold partial data the caller frees. */
static int val_from_toml(const struct hdb_cfg_key *k, const char *spelling,
                         const struct hdb_toml_value *tv, struct val *v, struct hdb_err *err)
{
    memset(v, 0, sizeof *v);
    enum hdb_toml_type t = tv->type;
    bool ok = (k->type == HDB_CFG_BOOL && t == HDB_TOML_BOOL) ||
              (k->type == HDB_CFG_INT && t == HDB_TOML_INT) ||
              (k->type == HDB_CFG_FLOAT && (t == HDB_TOML_FLOAT || t == HDB_TOML_INT)) ||
              ((k->type == HDB_CFG_STRING || k->type == HDB_CFG_ENUM) && t == HDB_TOML_STRING) ||
              (k->type == HDB_CFG_STRINGS && t == HDB_TOML_ARRAY);
    if (!ok) {
        return toml_type_error(spelling, k, tv, err);
    }
    int rc = HDB_OK;
    switch (k->type) {
    case HDB_CFG_BOOL:
        v->b = tv->as.boolean;
        break;
    case HDB_CFG_INT:
        v->i = tv->as.integer;
        break;
    case HDB_CFG_FLOAT:
        v->f = t == HDB_TOML_INT ? (double)tv->as.integer : tv->as.real;
        break;
    case HDB_CFG_STRING:
        rc = string_ok(k, spelling, tv->as.string.bytes, tv->as.string.len, err);
        if (rc == HDB_OK) {
            rc = dup_string(tv->as.string.bytes, tv->as.string.len, &v->s, err);
        }
        break;
    case HDB_CFG_ENUM:
        v->e = enum_index(k, tv->as.string.bytes);
        if (v->e < 0 || strlen(tv->as.string.bytes) != tv->as.string.len) {
            rc = enum_error(k, spelling, tv->as.string.bytes, err);
        }
        break;
    case HDB_CFG_STRINGS:
        rc = strings_from_toml(k, spelling, tv, v, err);
        break;
    }
    return rc == HDB_OK ? val_check(k, spelling, v, err) : rc;
}

static bool bool_from_text(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

static bool int_from_text(const char *s, int64_t *out)
{
    if (*s == '\0' || isspace((unsigned char)*s)) {
        return false;
    }
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end != '\0' || errno == ERANGE) {
        return false;
    }
    *out = (int64_t)x;
    return true;
}

static bool float_from_text(const char *s, double *out)
{
    if (*s == '\0' || isspace((unsigned char)*s)) {
        return false;
    }
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (*end != '\0' || (errno == ERANGE && isinf(x))) {
        return false;
    }
    *out = x;
    return true;
}

/* "a, b,c" -> three items; "" -> none. Items are trimmed and must not be empty. */
static int strings_from_text(const struct hdb_cfg_key *k, const char *spelling, const char *s,
                             struct val *v, struct hdb_err *err)
{
    if (*s == '\0') {
        return HDB_OK;
    }
    for (;;) {
        const char *comma = strchr(s, ',');
        const char *e = comma != NULL ? comma : s + strlen(s);
        while (s < e && isspace((unsigned char)*s)) {
            s++;
        }
        while (e > s && isspace((unsigned char)e[-1])) {
            e--;
        }
        if (e == s) {
            return hdb_err_set(err, HDB_INVALID, "key \"%s\": empty item in a comma-separated list",
                               spelling);
        }
        int rc = string_ok(k, spelling, s, (size_t)(e - s), err);
        if (rc == HDB_OK) {
            rc = strings_push(&v->a, s, (size_t)(e - s), err);
        }
        if (rc != HDB_OK || comma == NULL) {
            return rc;
        }
        s = comma + 1;
    }
}

/* Converts text (default, environment, flag); on failure `v` may hold data the caller frees. */
static int val_from_text(const struct hdb_cfg_key *k, const char *spelling, const char *s,
                         struct val *v, struct hdb_err *err)
{
    memset(v, 0, sizeof *v);
    bool ok = true;
    int rc = HDB_OK;
    switch (k->type) {
    case HDB_CFG_BOOL:
        ok = bool_from_text(s, &v->b);
        break;
    case HDB_CFG_INT:
        ok = int_from_text(s, &v->i);
        break;
    case HDB_CFG_FLOAT:
        ok = float_from_text(s, &v->f);
        break;
    case HDB_CFG_STRING:
        rc = string_ok(k, spelling, s, strlen(s), err);
        if (rc == HDB_OK) {
            rc = dup_string(s, strlen(s), &v->s, err);
        }
        break;
    case HDB_CFG_ENUM:
        v->e = enum_index(k, s);
        rc = v->e < 0 ? enum_error(k, spelling, s, err) : HDB_OK;
        break;
    case HDB_CFG_STRINGS:
        rc = strings_from_text(k, spelling, s, v, err);
        break;
    }
    if (!ok) {
        const char *extra = k->type == HDB_CFG_BOOL ? " (true/false, 1/0, yes/no, on/off)" : "";
        return hdb_err_set(err, HDB_INVALID, "key \"%s\" must be %s%s, got \"%.64s\"", spelling,
                           wanted(k), extra, s);
    }
    return rc == HDB_OK ? val_check(k, spelling, v, err) : rc;
}

static bool val_equal(const struct hdb_cfg_key *k, const struct val *a, const struct val *b)
{
    switch (k->type) {
    case HDB_CFG_BOOL:
        return a->b == b->b;
    case HDB_CFG_INT:
        return a->i == b->i;
    case HDB_CFG_FLOAT:
        return a->f == b->f || (isnan(a->f) && isnan(b->f));
    case HDB_CFG_STRING:
        return strcmp(a->s, b->s) == 0;
    case HDB_CFG_ENUM:
        return a->e == b->e;
    case HDB_CFG_STRINGS:
        if (a->a.count != b->a.count) {
            return false;
        }
        for (uint32_t i = 0; i < a->a.count; i++) {
            if (strcmp(a->a.items[i], b->a.items[i]) != 0) {
                return false;
            }
        }
        return true;
    }
    return false;
}

/* Moves `v` into the field of key `idx` and records where it came from. */
static void val_store(struct hdb_config *cfg, uint32_t idx, struct val *v,
                      enum hdb_cfg_source source, uint32_t line, const char *via)
{
    const struct hdb_cfg_key *k = &schema[idx];
    void *f = field_of(cfg, k);
    switch (k->type) {
    case HDB_CFG_BOOL:
        memcpy(f, &v->b, sizeof v->b);
        break;
    case HDB_CFG_INT:
        memcpy(f, &v->i, sizeof v->i);
        break;
    case HDB_CFG_FLOAT:
        memcpy(f, &v->f, sizeof v->f);
        break;
    case HDB_CFG_STRING:
        free(*(char **)f);
        memcpy(f, &v->s, sizeof v->s);
        v->s = NULL;
        break;
    case HDB_CFG_ENUM:
        memcpy(f, &v->e, sizeof v->e);
        break;
    case HDB_CFG_STRINGS:
        strings_free(f);
        memcpy(f, &v->a, sizeof v->a);
        memset(&v->a, 0, sizeof v->a);
        break;
    }
    struct hdb_cfg_origin *o = &cfg->origin[idx];
    o->source = source;
    o->line = line;
    o->phase = cfg->phase;
    snprintf(o->via, sizeof o->via, "%s", via);
}

/* ---- init and free -------------------------------------------------------------------- */

/* Programmer checks: rows grouped by section in sections[] order, names unique. */
static void schema_assert(void)
{
    size_t s = 0;
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
        while (s < SECTIONS_COUNT && strcmp(sections[s], schema[i].section) != 0) {
            s++;
        }
        assert(s < SECTIONS_COUNT);
        assert(strlen(schema[i].key) + sizeof ENV_PREFIX < HDB_CFG_NAME_BYTES_MAX);
        assert(schema[i].type != HDB_CFG_ENUM || schema[i].choices != NULL);
    }
    for (size_t a = 0; a < ALIASES_COUNT; a++) {
        assert(hdb_config_find(aliases[a].target) >= 0);
        assert(section_known(aliases[a].section));
    }
}

void hdb_config_init(struct hdb_config *cfg)
{
    assert(cfg != NULL);
    schema_assert();
    memset(cfg, 0, sizeof *cfg);
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
        struct val v;
        struct hdb_err err;
        int rc = val_from_text(&schema[i], schema[i].key, schema[i].def, &v, &err);
        assert(rc == HDB_OK); /* every default is valid: a schema bug otherwise */
        (void)rc;
        val_store(cfg, i, &v, HDB_CFG_DEFAULT, 0, schema[i].key);
        val_free(&v);
    }
}

void hdb_config_free(struct hdb_config *cfg)
{
    assert(cfg != NULL);
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
        void *f = field_of(cfg, &schema[i]);
        if (schema[i].type == HDB_CFG_STRING) {
            free(*(char **)f);
            *(char **)f = NULL;
        } else if (schema[i].type == HDB_CFG_STRINGS) {
            strings_free(f);
        }
    }
    free(cfg->file);
    cfg->file = NULL;
}

/* ---- loading a file ------------------------------------------------------------------- */

struct file_load {
    struct hdb_config *cfg;
    const char *name;
    struct hdb_err *err;
};

/* Two spellings of one key in one file: equal values are fine, different ones an error. */
static int file_duplicate(struct file_load *L, uint32_t idx, const char *spelling, uint32_t line,
                          struct val *v)
{
    const struct hdb_cfg_key *k = &schema[idx];
    const struct hdb_cfg_origin *o = &L->cfg->origin[idx];
    struct val old;
    val_view(L->cfg, k, &old);
    if (val_equal(k, &old, v)) {
        return HDB_OK;
    }
    char a[VALUE_TEXT_BYTES], b[VALUE_TEXT_BYTES];
    return hdb_err_set(L->err, HDB_INVALID,
                       "%s:%u: key \"%s\" = %s disagrees with \"%s\" = %s at line %u; both "
                       "spellings set the same key \"%s\"",
                       L->name, line, spelling, val_text(k, v, a), o->via, val_text(k, &old, b),
                       o->line, k->key);
}

static int file_key(struct file_load *L, uint32_t idx, const char *spelling,
                    const struct hdb_toml_kv *kv)
{
    struct val v;
    int rc = val_from_toml(&schema[idx], spelling, kv->value, &v, L->err);
    if (rc != HDB_OK) {
        hdb_err_prefix(L->err, "%s:%u", L->name, kv->line);
    } else if (L->cfg->origin[idx].source == HDB_CFG_FILE &&
               L->cfg->origin[idx].phase == L->cfg->phase) {
        rc = file_duplicate(L, idx, spelling, kv->line, &v);
    } else {
        val_store(L->cfg, idx, &v, HDB_CFG_FILE, kv->line, spelling);
    }
    val_free(&v);
    return rc;
}

static int unknown_section(struct file_load *L, const char *section, uint32_t line)
{
    char hint[96];
    suggest_section(section, hint, sizeof hint);
    return hdb_err_set(L->err, HDB_INVALID, "%s:%u: unknown section [%s]%s", L->name, line, section,
                       hint);
}

/* The keys of one section table. Recurses only into known sub-sections (depth <= 2). */
static int file_section(struct file_load *L, const char *section, const struct hdb_toml_value *t)
{
    if (!section_known(section)) {
        return unknown_section(L, section, t->line);
    }
    for (const struct hdb_toml_kv *kv = hdb_toml_first(t); kv != NULL; kv = kv->next) {
        char spelling[HDB_CFG_NAME_BYTES_MAX + 8];
        int n = snprintf(spelling, sizeof spelling, "%s.%s", section, kv->key);
        bool fits = n > 0 && (size_t)n < HDB_CFG_NAME_BYTES_MAX;
        int idx = fits ? resolve(section, kv->key) : -1;
        int rc;
        if (idx >= 0) {
            rc = file_key(L, (uint32_t)idx, spelling, kv);
        } else if (kv->value->type == HDB_TOML_TABLE && fits && section_known(spelling)) {
            rc = file_section(L, spelling, kv->value);
        } else if (kv->value->type == HDB_TOML_TABLE) {
            rc = unknown_section(L, spelling, kv->value->line);
        } else {
            char hint[HDB_CFG_NAME_BYTES_MAX + 32];
            suggest_key(section, kv->key, hint, sizeof hint);
            rc = hdb_err_set(L->err, HDB_INVALID, "%s:%u: unknown key \"%s\" in [%s]%s", L->name,
                             kv->line, kv->key, section, hint);
        }
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

static int file_doc(struct hdb_config *cfg, const char *name, const struct hdb_toml_doc *doc,
                    struct hdb_err *err)
{
    struct file_load L = {.cfg = cfg, .name = name, .err = err};
    char *copy = strdup(name);
    if (copy == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    free(cfg->file);
    cfg->file = copy;
    cfg->phase++;
    const struct hdb_toml_value *root = hdb_toml_root(doc);
    for (const struct hdb_toml_kv *kv = hdb_toml_first(root); kv != NULL; kv = kv->next) {
        int rc;
        if (kv->value->type == HDB_TOML_TABLE) {
            rc = file_section(&L, kv->key, kv->value);
        } else {
            char hint[HDB_CFG_NAME_BYTES_MAX + 32];
            suggest_key("", kv->key, hint, sizeof hint);
            rc = hdb_err_set(err, HDB_INVALID,
                             "%s:%u: key \"%s\" is outside any section (keys go under a "
                             "[section] header)%s",
                             name, kv->line, kv->key, hint);
        }
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

int hdb_config_load_text(struct hdb_config *cfg, const char *name, const char *text, size_t len,
                         struct hdb_err *err)
{
    assert(cfg != NULL);
    assert(name != NULL);
    struct hdb_toml_doc *doc;
    int rc = hdb_toml_parse(name, text, len, &doc, err);
    if (rc == HDB_OK) {
        rc = file_doc(cfg, name, doc, err);
        hdb_toml_free(doc);
    }
    return rc;
}

int hdb_config_load_file(struct hdb_config *cfg, const char *path, struct hdb_err *err)
{
    assert(cfg != NULL);
    assert(path != NULL);
    struct hdb_toml_doc *doc;
    int rc = hdb_toml_parse_file(path, &doc, err);
    if (rc == HDB_OK) {
        rc = file_doc(cfg, path, doc, err);
        hdb_toml_free(doc);
    }
    return rc;
}

/* ---- environment and flags ------------------------------------------------------------ */

/* The key an environment variable name sets, or -1. */
static int env_resolve(const char *name)
{
    char buf[HDB_CFG_NAME_BYTES_MAX + 16];
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
        env_name(schema[i].section, schema[i].name, buf, sizeof buf);
        if (strcmp(buf, name) == 0) {
            return (int)i;
        }
    }
    for (size_t i = 0; i < ALIASES_COUNT; i++) {
        env_name(aliases[i].section, aliases[i].name, buf, sizeof buf);
        if (strcmp(buf, name) == 0) {
            return hdb_config_find(aliases[i].target);
        }
    }
    for (size_t i = 0; i < ENV_ALIASES_COUNT; i++) {
        if (strcmp(env_aliases[i].var, name) == 0) {
            return hdb_config_find(env_aliases[i].target);
        }
    }
    return -1;
}

static int env_unknown(const char *name, struct hdb_err *err)
{
    char buf[HDB_CFG_NAME_BYTES_MAX + 16];
    uint32_t best = UINT32_MAX;
    char pick[sizeof buf] = "";
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
        env_name(schema[i].section, schema[i].name, buf, sizeof buf);
        uint32_t d = closeness(name, buf);
        if (d < best) {
            best = d;
            memcpy(pick, buf, sizeof buf);
        }
    }
    const char *tail = name + sizeof ENV_PREFIX - 1;
    if (best <= near_enough(tail)) {
        return hdb_err_set(err, HDB_INVALID,
                           "environment variable %.64s matches no configuration key; did you "
                           "mean %s?",
                           name, pick);
    }
    return hdb_err_set(err, HDB_INVALID,
                       "environment variable %.64s matches no configuration key (variables "
                       "are HELIOSDB_<SECTION>_<KEY>, e.g. HELIOSDB_DATABASE_CACHE_SIZE_MB)",
                       name);
}

static bool env_ignored(const char *name)
{
    for (size_t i = 0; i < ENV_NOT_KEYS_COUNT; i++) {
        if (strcmp(env_not_keys[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* One HELIOSDB_NAME=value entry. */
static int env_entry(struct hdb_config *cfg, const char *entry, struct hdb_err *err)
{
    const char *eq = strchr(entry, '=');
    if (eq == NULL) {
        return HDB_OK;
    }
    char name[HDB_CFG_NAME_BYTES_MAX];
    size_t len = (size_t)(eq - entry);
    if (len >= sizeof name) {
        return hdb_err_set(err, HDB_INVALID,
                           "environment variable %.64s... matches no configuration key", entry);
    }
    memcpy(name, entry, len);
    name[len] = '\0';
    if (env_ignored(name)) {
        return HDB_OK;
    }
    int idx = env_resolve(name);
    if (idx < 0) {
        return env_unknown(name, err);
    }
    const struct hdb_cfg_key *k = &schema[idx];
    struct val v;
    int rc = val_from_text(k, k->key, eq + 1, &v, err);
    struct hdb_cfg_origin *o = &cfg->origin[idx];
    if (rc != HDB_OK) {
        hdb_err_prefix(err, "environment variable %s", name);
    } else if (o->source == HDB_CFG_ENV && o->phase == cfg->phase) {
        struct val old;
        val_view(cfg, k, &old);
        char a[VALUE_TEXT_BYTES], b[VALUE_TEXT_BYTES];
        if (!val_equal(k, &old, &v)) {
            rc = hdb_err_set(err, HDB_INVALID,
                             "environment variables %s=%s and %s=%s set the same key \"%s\" to "
                             "different values",
                             o->via, val_text(k, &old, a), name, val_text(k, &v, b), k->key);
        }
    } else {
        val_store(cfg, (uint32_t)idx, &v, HDB_CFG_ENV, 0, name);
    }
    val_free(&v);
    return rc;
}

int hdb_config_apply_env(struct hdb_config *cfg, char *const *envp, struct hdb_err *err)
{
    assert(cfg != NULL);
    if (envp == NULL) {
        return HDB_OK;
    }
    cfg->phase++;
    for (uint32_t i = 0; envp[i] != NULL; i++) {
        if (i >= HDB_CFG_ENV_VARS_MAX) {
            return hdb_err_set(err, HDB_INVALID, "the environment has more than %u variables",
                               HDB_CFG_ENV_VARS_MAX);
        }
        if (strncmp(envp[i], ENV_PREFIX, sizeof ENV_PREFIX - 1) != 0) {
            continue;
        }
        int rc = env_entry(cfg, envp[i], err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

const char *hdb_config_env_file(char *const *envp)
{
    static const char var[] = "HELIOSDB_CONFIG=";
    for (uint32_t i = 0; envp != NULL && envp[i] != NULL && i < HDB_CFG_ENV_VARS_MAX; i++) {
        if (strncmp(envp[i], var, sizeof var - 1) == 0) {
            return envp[i] + sizeof var - 1;
        }
    }
    return NULL;
}

int hdb_config_find(const char *key)
{
    assert(key != NULL);
    const char *dot = strrchr(key, '.');
    char section[HDB_CFG_NAME_BYTES_MAX];
    if (dot == NULL || (size_t)(dot - key) >= sizeof section) {
        return -1;
    }
    memcpy(section, key, (size_t)(dot - key));
    section[dot - key] = '\0';
    return resolve(section, dot + 1);
}

int hdb_config_set(struct hdb_config *cfg, const char *key, const char *value,
                   enum hdb_cfg_source source, struct hdb_err *err)
{
    assert(cfg != NULL);
    assert(key != NULL);
    assert(value != NULL);
    assert(source == HDB_CFG_FLAG || source == HDB_CFG_ENV);
    const char *what = source == HDB_CFG_FLAG ? "flag" : "setting";
    int idx = hdb_config_find(key);
    if (idx < 0) {
        char hint[HDB_CFG_NAME_BYTES_MAX + 32] = "";
        const char *dot = strrchr(key, '.');
        char section[HDB_CFG_NAME_BYTES_MAX] = "";
        if (dot != NULL && (size_t)(dot - key) < sizeof section) {
            memcpy(section, key, (size_t)(dot - key));
            section[dot - key] = '\0';
        }
        suggest_key(section, dot != NULL ? dot + 1 : key, hint, sizeof hint);
        return hdb_err_set(err, HDB_INVALID, "%s %.64s: unknown key \"%.64s\"%s", what, key, key,
                           hint);
    }
    struct val v;
    int rc = val_from_text(&schema[idx], key, value, &v, err);
    if (rc == HDB_OK) {
        val_store(cfg, (uint32_t)idx, &v, source, 0, key);
    } else {
        hdb_err_prefix(err, "%s %.64s", what, key);
    }
    val_free(&v);
    return rc;
}

int hdb_config_load(struct hdb_config *cfg, const char *path, char *const *envp,
                    struct hdb_err *err)
{
    hdb_config_init(cfg);
    int rc = HDB_OK;
    if (path != NULL) {
        rc = hdb_config_load_file(cfg, path, err);
    }
    if (rc == HDB_OK) {
        rc = hdb_config_apply_env(cfg, envp, err);
    }
    return rc;
}

/* ---- reports and output --------------------------------------------------------------- */

const struct hdb_cfg_key *hdb_config_schema(void)
{
    return schema;
}

const char *hdb_cfg_source_name(enum hdb_cfg_source source)
{
    switch (source) {
    case HDB_CFG_DEFAULT:
        return "default";
    case HDB_CFG_FILE:
        return "file";
    case HDB_CFG_ENV:
        return "env";
    case HDB_CFG_FLAG:
        return "flag";
    }
    return "unknown";
}

void hdb_config_origin_text(const struct hdb_config *cfg, uint32_t index, char *buf, size_t cap)
{
    assert(index < HDB_CFG_KEYS_COUNT);
    const struct hdb_cfg_origin *o = &cfg->origin[index];
    const char *src = hdb_cfg_source_name(o->source);
    if (o->source == HDB_CFG_DEFAULT) {
        snprintf(buf, cap, "%s", src);
    } else if (o->source == HDB_CFG_FILE && strcmp(o->via, schema[index].key) != 0) {
        snprintf(buf, cap, "file %s:%u (as %s)", cfg->file != NULL ? cfg->file : "?", o->line,
                 o->via);
    } else if (o->source == HDB_CFG_FILE) {
        snprintf(buf, cap, "file %s:%u", cfg->file != NULL ? cfg->file : "?", o->line);
    } else {
        snprintf(buf, cap, "%s %s", src, o->via);
    }
}

bool hdb_config_value_text(const struct hdb_config *cfg, uint32_t index, char *buf, size_t cap)
{
    assert(index < HDB_CFG_KEYS_COUNT);
    assert(cap > 0);
    struct val v;
    val_view(cfg, &schema[index], &v);
    struct sink o = {.buf = buf, .cap = cap};
    buf[0] = '\0';
    sink_val(&o, &schema[index], &v);
    return !o.truncated;
}

uint32_t hdb_config_inactive(const struct hdb_config *cfg, hdb_config_inactive_fn fn, void *ctx)
{
    assert(cfg != NULL);
    uint32_t n = 0;
    for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
        if (schema[i].active || cfg->origin[i].source == HDB_CFG_DEFAULT) {
            continue;
        }
        char origin[HDB_CFG_NAME_BYTES_MAX + 256];
        hdb_config_origin_text(cfg, i, origin, sizeof origin);
        if (fn != NULL) {
            fn(ctx, &schema[i], origin);
        }
        n++;
    }
    return n;
}

static void write_key(const struct hdb_config *cfg, uint32_t i, struct sink *o, unsigned flags)
{
    const struct hdb_cfg_key *k = &schema[i];
    sink_str(o, "# ");
    sink_str(o, k->doc);
    sink_str(o, k->active ? "\n" : " (accepted, not yet active)\n");
    struct val v;
    val_view(cfg, k, &v);
    bool hide = (k->flags & HDB_CFG_SECRET) != 0 && (flags & HDB_CFG_WRITE_SECRETS) == 0;
    if (hide) {
        sink_str(o, "# ");
        sink_str(o, k->name);
        sink_str(o, " = (secret, not shown)\n");
        return;
    }
    sink_str(o, k->name);
    sink_str(o, " = ");
    sink_val(o, k, &v);
    if (cfg->origin[i].source != HDB_CFG_DEFAULT) {
        char origin[HDB_CFG_NAME_BYTES_MAX + 256];
        hdb_config_origin_text(cfg, i, origin, sizeof origin);
        sink_str(o, " # from ");
        sink_str(o, origin);
    }
    sink_str(o, "\n");
}

int hdb_config_write(const struct hdb_config *cfg, FILE *out, unsigned flags, struct hdb_err *err)
{
    assert(cfg != NULL);
    assert(out != NULL);
    struct sink o = {.file = out};
    sink_str(&o, "# HeliosDB-Lite effective configuration\n");
    for (size_t s = 0; s < SECTIONS_COUNT; s++) {
        sink_str(&o, "\n[");
        sink_str(&o, sections[s]);
        sink_str(&o, "]\n");
        for (uint32_t i = 0; i < HDB_CFG_KEYS_COUNT; i++) {
            if (strcmp(schema[i].section, sections[s]) == 0) {
                write_key(cfg, i, &o, flags);
            }
        }
    }
    if (fflush(out) != 0 || ferror(out)) {
        return hdb_err_set(err, HDB_IOERR, "writing the configuration: %s", strerror(errno));
    }
    return HDB_OK;
}

void hdb_config_store_opts(const struct hdb_config *cfg, struct hdb_store_opts *o)
{
    assert(cfg != NULL);
    assert(o != NULL);
    hdb_store_opts_default(o);
    o->page_size = (uint32_t)cfg->database.page_size;
    o->cache_bytes = (uint64_t)cfg->database.cache_size_mb << 20;
    o->io.use_direct_io = cfg->io.use_direct_io;
    o->io.use_io_uring = cfg->io.use_io_uring;
    o->io.io_uring_entries = (uint32_t)cfg->io.io_uring_entries;
    o->io.io_uring_polling = cfg->io.io_uring_polling;
    o->checksums_enabled = cfg->checksums.enabled;
    o->verify_on_read = cfg->checksums.verify_on_read;
    o->prefetch_pages = (uint32_t)cfg->performance.prefetch_pages;
    o->wal_mode = cfg->wal.mode;
    o->wal_segment_bytes = (uint64_t)cfg->wal.segment_size_mb << 20;
    o->wal_max_segments = (uint32_t)cfg->wal.max_segments;
    o->group_commit_delay_us = (uint32_t)cfg->wal.group_commit_delay_us;
    o->auto_replay_wal = cfg->crash_recovery.auto_replay_wal;
}
