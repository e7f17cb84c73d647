/*
 * api_int.h — what the server (rpc/) and the tools need of the C API beyond
 * include/heliosdb.h: opening with a configuration already loaded (file,
 * environment and command-line flags applied), with the recovery report.
 */
#ifndef HDB_SQL_API_INT_H
#define HDB_SQL_API_INT_H

#include "core/config.h"
#include "heliosdb.h"
#include "shards/kv.h"

/* heliosdb_open with `cfg` instead of a file; path NULL: [database] path. info may be NULL. */
int heliosdb_open_config(const char *path, const struct hdb_config *cfg,
                         struct hdb_db_open_info *info, heliosdb **out, heliosdb_error *err);

/* Sets the connection's statement time limit in ms (0: none; the configuration's
 * statement_timeout_ms again: heliosdb_default_timeout_ms). For per-request deadlines. */
void heliosdb_set_timeout(heliosdb_conn *c, uint32_t ms);
uint32_t heliosdb_default_timeout_ms(heliosdb_conn *c);
/* The database's snapshots, oldest first: copies up to `max` into out; returns how many exist. */
uint32_t heliosdb_snapshot_list(heliosdb *db, struct hdb_snapshot_info *out, uint32_t max);

/* heliosdb_prepare, but the parse of a text prepared on c before is taken from c's cache of
 * recent texts (64) instead of parsing again. heliosdb_finalize gives the statement back to the
 * cache (reset, bindings cleared). A text whose statement is handed out still is parsed anew. */
int heliosdb_prepare_cached(heliosdb_conn *c, const char *sql, long len, heliosdb_stmt **out,
                            const char **tail, heliosdb_error *err);

/* Runs `svc` on the shard threads between their turns (NULL: stops it; returns once no thread
 * runs the previous one). See hdb_db_set_service in shards/kv.h. */
void heliosdb_set_service(heliosdb *db, const struct hdb_db_service *svc);
uint32_t heliosdb_threads(heliosdb *db);

/* The number of shards, and one shard's counters (read through a message to it). */
uint32_t heliosdb_shards(heliosdb *db);
int heliosdb_shard_stats(heliosdb *db, uint32_t shard, struct hdb_shard_stats *out,
                         heliosdb_error *err);

/* The catalog's change counter (odd while a DDL commit is under way): a copy of heliosdb_tables
 * taken when it was even stays right while it stays the same. */
uint64_t heliosdb_schema_seq(heliosdb_conn *c);

/* One column of a table, as the catalog has it. */
struct heliosdb_column_info {
    char *name;
    char *type;   /* as declared ("DECIMAL(12,2)"; "" when none) */
    uint32_t id;  /* permanent: never reused, kept across ALTER TABLE */
    int affinity; /* enum hdb_affinity (sql/value.h) */
    bool decimal; /* DECIMAL(p,s) with a precision: exact fixed point */
    bool not_null;
    int pk_position; /* 1-based place in the primary key, 0 when not in it */
    bool has_default;
};
struct heliosdb_table_info {
    char *name;
    char *sql;  /* the CREATE TABLE text */
    bool rowid; /* keyed by a rowid (an INTEGER PRIMARY KEY column or none at all) */
    bool autoincrement;
    uint32_t ncols;
    struct heliosdb_column_info *cols;
};
/* The tables of the committed catalog, in catalog order, read in a transaction of their own
 * (c must not be inside one). Free with heliosdb_tables_free. */
int heliosdb_tables(heliosdb_conn *c, struct heliosdb_table_info **out, uint32_t *n,
                    heliosdb_error *err);
void heliosdb_tables_free(struct heliosdb_table_info *t, uint32_t n);

#endif
