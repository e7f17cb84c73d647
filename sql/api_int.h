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

#endif
