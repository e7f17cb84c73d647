/*
 * rowids.h — rowids handed out from blocks leased per table (rowids.c has
 * the scheme). Thread-safe: one lock per database.
 */
#ifndef HDB_SQL_ROWIDS_H
#define HDB_SQL_ROWIDS_H

#include <stdint.h>

#include "shards/kv.h"

#define HDB_ROWID_LEASE 1000 /* ids per lease */

/* The next automatic rowid of table `table` (`name` for messages). HDB_FULL when none is left;
 * a lease that keeps conflicting fails with HDB_CONFLICT. */
int hdb_sql_rowid_next(struct hdb_db *db, uint32_t table, const char *name, int64_t *out,
                       struct hdb_err *err);
/* An explicit rowid was inserted: later automatic ones are larger. */
void hdb_sql_rowid_seen(struct hdb_db *db, uint32_t table, int64_t rowid);

#endif
