/*
 * exec.h — running SQL statements on a database: a session per connection,
 * its transaction (explicit BEGIN ... COMMIT, or one per statement), and the
 * first executor.
 *
 * This executor is deliberately simple and complete rather than fast: every
 * table a query reads is scanned in full inside the statement's transaction
 * (so the read set covers it and serializable validation holds), joins are
 * nested loops, grouping and DISTINCT use hash sets of memcmp-ordered keys,
 * and ORDER BY sorts in memory. Indexes, the planner and pushing work to the
 * shards come next (issue 4). Limits: HDB_EXEC_ROWS_MAX rows materialized
 * per statement (an error names the limit beyond it).
 *
 * Rows are stored in the table's key-value table "t<id>" (schema.h): the key
 * is the rowid (8 bytes, big-endian, sign bit flipped) or the primary key's
 * key encoding (value.h); the value is the row record of all columns.
 */
#ifndef HDB_SQL_EXEC_H
#define HDB_SQL_EXEC_H

#include <stdint.h>

#include "shards/kv.h"
#include "sql/ast.h"
#include "sql/value.h"

#define HDB_EXEC_ROWS_MAX 5000000u /* rows one statement may hold in memory */

struct hdb_sql_session;

/* The result of one statement. Values (and names) live in `arena`. */
struct hdb_sql_result {
    uint32_t ncols; /* 0 for statements without a result set */
    const char **names;
    uint32_t nrows;
    struct hdb_value *rows; /* nrows * ncols, row by row */
    int64_t changes;        /* rows inserted, updated or deleted */
    int64_t last_insert_id; /* the rowid of the last row inserted, or 0 */
    struct hdb_sql_arena arena;
};

int hdb_sql_session_open(struct hdb_db *db, struct hdb_sql_session **out, struct hdb_err *err);
/* Rolls back an open transaction and frees the session. */
void hdb_sql_session_close(struct hdb_sql_session *s);

/*
 * Runs one parsed statement (`src` is the text it was parsed from). `res`
 * must be zeroed before the first call; each call frees the previous
 * result's memory. Outside BEGIN ... COMMIT a statement runs in its own
 * transaction and is retried while it meets HDB_CONFLICT (up to a bound).
 * Errors: HDB_INVALID (no such table/column, misuse), HDB_CONSTRAINT (with
 * SQLite's messages: "UNIQUE constraint failed: t.a", "NOT NULL constraint
 * failed: t.a", "CHECK constraint failed: name"), HDB_CONFLICT inside an
 * explicit transaction (roll back and retry), HDB_TOOBIG past a limit.
 */
int hdb_sql_exec(struct hdb_sql_session *s, const char *src, const struct hdb_sql_stmt *st,
                 const struct hdb_value *params, uint32_t nparams, struct hdb_sql_result *res,
                 struct hdb_err *err);
void hdb_sql_result_free(struct hdb_sql_result *res);

/* Statements running longer than `ms` fail with HDB_TIMEOUT (0: no limit). */
void hdb_sql_session_set_timeout(struct hdb_sql_session *s, uint32_t ms);
/* [database] work_mem_mb: the memory one statement may hold (its rows, sorts, hash tables and
 * result) before it fails with HDB_TOOBIG naming the key; 0: HDB_SQL_ARENA_BYTES_MAX. */
void hdb_sql_session_set_work_mem(struct hdb_sql_session *s, uint32_t mb);

/* True while an explicit transaction is open. */
bool hdb_sql_in_transaction(const struct hdb_sql_session *s);

#endif
