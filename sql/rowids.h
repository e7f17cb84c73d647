/*
 * rowids.h — rowids handed out from blocks leased per table (rowids.c has
 * the scheme). Thread-safe: one lock per database.
 */
#ifndef HDB_SQL_ROWIDS_H
#define HDB_SQL_ROWIDS_H

#include <stdbool.h>
#include <stdint.h>

#include "shards/kv.h"

#define HDB_ROWID_LEASE 1000 /* ids per lease */

/* The next automatic rowid of table `table` (`name` for messages). HDB_FULL when none is left;
 * a lease that keeps conflicting fails with HDB_CONFLICT. */
int hdb_sql_rowid_next(struct hdb_db *db, uint32_t table, const char *name, int64_t *out,
                       struct hdb_err *err);
/* An explicit rowid was inserted: later automatic ones are larger. */
void hdb_sql_rowid_seen(struct hdb_db *db, uint32_t table, int64_t rowid);

/*
 * The DDL sequence: a transaction that changed the catalog commits between hdb_sql_ddl_enter and
 * hdb_sql_ddl_leave, which each add one (odd: a DDL commit is under way). Every DDL goes through
 * this process's SQL layer (the database is locked to one process), so a session that read the
 * same even value before and after taking its snapshot knows no catalog change committed in
 * between: the schema it loaded at that value is the schema of its snapshot.
 */
uint64_t hdb_sql_ddl_seq(struct hdb_db *db);
/* Around a DDL transaction's commit: excludes every other commit (hdb_sql_commit_enter). */
void hdb_sql_ddl_enter(struct hdb_db *db);
void hdb_sql_ddl_leave(struct hdb_db *db);
/*
 * Around the commit of a transaction that planned against the schema of DDL sequence `seq`
 * without reading the catalog: true (and DDL commits held off until hdb_sql_commit_leave) if no
 * DDL committed since; false (nothing held) if one did, and the transaction must be retried.
 */
bool hdb_sql_commit_enter(struct hdb_db *db, uint64_t seq);
void hdb_sql_commit_leave(struct hdb_db *db);

#endif
