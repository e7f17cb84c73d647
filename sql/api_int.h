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

#endif
