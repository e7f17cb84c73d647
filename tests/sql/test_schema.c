/*
 * test_schema.c — the catalog stored in the database: CREATE TABLE, DROP
 * TABLE, ALTER TABLE ... ADD COLUMN, CREATE/DROP INDEX inside transactions (they commit and
 * roll back with them), the schema after a reopen, IF [NOT] EXISTS, the
 * error messages, reserved names, and a statement whose catalog version
 * changed under it failing its commit with HDB_CONFLICT.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sql/parser.h"
#include "sql/schema.h"
#include "tests/core/testutil.h"
#include "tests/shards/kvtest.h"

static char *dir;

static void setup(void)
{
    dir = tu_mkdtemp("schema");
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

TestSuite(schema, .init = setup, .fini = teardown, .timeout = 120);

/* Runs one DDL statement in `t`; returns its status. */
static int ddl_in(struct hdb_conn *c, struct hdb_txn *t, const char *sql, struct hdb_err *err)
{
    struct hdb_sql_arena arena = {0};
    struct hdb_sql_stmt *st = NULL;
    int rc = hdb_sql_parse(&arena, sql, strlen(sql), &st, NULL, err);
    cr_assert_eq(rc, HDB_OK, "%s: %s", sql, err->msg);
    rc = hdb_schema_ddl(c, t, st, sql, err);
    hdb_sql_arena_free(&arena);
    return rc;
}

/* One DDL statement in its own transaction. */
static int ddl(struct hdb_conn *c, const char *sql, struct hdb_err *err)
{
    struct hdb_txn *t = NULL;
    cr_assert_eq(hdb_txn_begin(c, &t, err), HDB_OK);
    int rc = ddl_in(c, t, sql, err);
    if (rc == HDB_OK) {
        return hdb_txn_commit(t, err);
    }
    hdb_txn_rollback(t);
    return rc;
}

static struct hdb_schema *load(struct hdb_conn *c)
{
    struct hdb_txn *t = NULL;
    struct hdb_err err = {0};
    struct hdb_schema *s = NULL;
    cr_assert_eq(hdb_txn_begin(c, &t, &err), HDB_OK);
    cr_assert_eq(hdb_schema_load(c, t, &s, &err), HDB_OK, "%s", err.msg);
    hdb_txn_rollback(t);
    return s;
}

Test(schema, tables_survive_a_reopen_and_drop_goes)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_err err = {0};
    cr_assert_eq(ddl(c, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE)", &err),
                 HDB_OK, "%s", err.msg);
    cr_assert_eq(ddl(c, "create table Orders (id INTEGER PRIMARY KEY, total DECIMAL(12,2))", &err),
                 HDB_OK, "%s", err.msg);
    struct hdb_schema *s = load(c);
    cr_assert_eq(s->ntables, 2);
    cr_assert_eq(s->version, 2);
    const struct hdb_schema_table *u = hdb_schema_table(s, "USERS");
    cr_assert_not_null(u);
    cr_assert_not_null(u->rows);
    cr_assert_eq(u->def->ncols, 2);
    cr_assert_neq(u->id, hdb_schema_table(s, "orders")->id);
    hdb_schema_free(s);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);

    db = kt_open(dir, &o);
    c = kt_connect(db);
    s = load(c);
    cr_assert_eq(s->ntables, 2, "the catalog is in the database");
    cr_assert(hdb_schema_table(s, "orders")->def->cols[1].decimal);
    uint32_t old_id = hdb_schema_table(s, "users")->id;
    hdb_schema_free(s);
    cr_assert_eq(ddl(c, "DROP TABLE users", &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(ddl(c, "CREATE TABLE users (a, b, c)", &err), HDB_OK, "%s", err.msg);
    s = load(c);
    cr_assert_eq(s->ntables, 2);
    cr_assert_eq(hdb_schema_table(s, "users")->def->ncols, 3);
    cr_assert_neq(hdb_schema_table(s, "users")->id, old_id, "ids are never reused");
    cr_assert_eq(s->version, 4);
    hdb_schema_free(s);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

Test(schema, errors_and_if_exists)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_err err = {0};
    cr_assert_eq(ddl(c, "CREATE TABLE t (a)", &err), HDB_OK);
    cr_assert_eq(ddl(c, "CREATE TABLE T (b)", &err), HDB_EXISTS);
    cr_assert_str_eq(err.msg, "table T already exists");
    cr_assert_eq(ddl(c, "CREATE TABLE IF NOT EXISTS t (b)", &err), HDB_OK);
    cr_assert_eq(ddl(c, "DROP TABLE nosuch", &err), HDB_NOTFOUND);
    cr_assert_str_eq(err.msg, "no such table: nosuch");
    cr_assert_eq(ddl(c, "DROP TABLE IF EXISTS nosuch", &err), HDB_OK);
    cr_assert_eq(ddl(c, "CREATE TABLE _private (a)", &err), HDB_INVALID);
    cr_assert_not_null(strstr(err.msg, "reserved"), "%s", err.msg);
    cr_assert_eq(ddl(c, "CREATE TABLE u (a, a)", &err), HDB_INVALID);
    cr_assert_str_eq(err.msg, "duplicate column name: a");
    cr_assert_eq(ddl(c, "CREATE INDEX i ON t (a)", &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(ddl(c, "CREATE INDEX I ON t (a)", &err), HDB_EXISTS);
    cr_assert_str_eq(err.msg, "index I already exists");
    cr_assert_eq(ddl(c, "CREATE INDEX IF NOT EXISTS i ON t (a)", &err), HDB_OK);
    cr_assert_eq(ddl(c, "CREATE INDEX j ON t (z)", &err), HDB_INVALID);
    cr_assert_str_eq(err.msg, "no such column: z");
    cr_assert_eq(ddl(c, "CREATE INDEX j ON q (a)", &err), HDB_NOTFOUND);
    cr_assert_str_eq(err.msg, "no such table: q");
    cr_assert_eq(ddl(c, "CREATE INDEX j ON t (a + 1)", &err), HDB_INVALID);
    cr_assert_eq(ddl(c, "DROP INDEX nosuch", &err), HDB_NOTFOUND);
    cr_assert_str_eq(err.msg, "no such index: nosuch");
    cr_assert_eq(ddl(c, "CREATE UNIQUE INDEX u ON t (a DESC) WHERE a > 0", &err), HDB_OK, "%s",
                 err.msg);
    struct hdb_schema *s = load(c);
    cr_assert_eq(s->ntables, 1, "failed DDL left nothing behind");
    cr_assert_eq(s->nindexes, 2);
    const struct hdb_schema_index *u = hdb_schema_index(s, "U");
    cr_assert(u != NULL && u->unique && u->key.desc[0] && u->where != NULL);
    hdb_schema_free(s);
    cr_assert_eq(ddl(c, "DROP INDEX i", &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(ddl(c, "DROP TABLE t", &err), HDB_OK, "%s", err.msg);
    s = load(c);
    cr_assert_eq(s->nindexes, 0, "a dropped table's indexes go with it");
    hdb_schema_free(s);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

Test(schema, ddl_rolls_back_with_its_transaction)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_err err = {0};
    struct hdb_txn *t = NULL;
    cr_assert_eq(hdb_txn_begin(c, &t, &err), HDB_OK);
    cr_assert_eq(ddl_in(c, t, "CREATE TABLE a (x)", &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(ddl_in(c, t, "CREATE TABLE b (y)", &err), HDB_OK, "%s", err.msg);
    struct hdb_schema *s = NULL;
    cr_assert_eq(hdb_schema_load(c, t, &s, &err), HDB_OK);
    cr_assert_eq(s->ntables, 2, "the transaction sees its own DDL");
    hdb_schema_free(s);
    hdb_txn_rollback(t);
    s = load(c);
    cr_assert_eq(s->ntables, 0);
    cr_assert_eq(s->version, 0);
    hdb_schema_free(s);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

Test(schema, add_column_rewrites_the_definition)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c = kt_connect(db);
    struct hdb_err err = {0};
    cr_assert_eq(ddl(c, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);", &err), HDB_OK);
    /* Existing rows read the default, so it must be a literal, as in SQLite. */
    cr_assert_eq(ddl(c, "ALTER TABLE t ADD COLUMN created_at INTEGER DEFAULT (unixepoch())", &err),
                 HDB_INVALID);
    cr_assert_str_eq(err.msg, "Cannot add a column with non-constant default");
    cr_assert_eq(ddl(c, "ALTER TABLE t ADD COLUMN created_at INTEGER DEFAULT -1", &err), HDB_OK,
                 "%s", err.msg);
    cr_assert_eq(ddl(c, "ALTER TABLE t ADD note TEXT NOT NULL DEFAULT ''", &err), HDB_OK, "%s",
                 err.msg);
    cr_assert_eq(ddl(c, "ALTER TABLE t ADD COLUMN name TEXT", &err), HDB_INVALID);
    cr_assert_str_eq(err.msg, "duplicate column name: name");
    cr_assert_eq(ddl(c, "ALTER TABLE t ADD COLUMN k INTEGER PRIMARY KEY", &err), HDB_INVALID);
    cr_assert_eq(ddl(c, "ALTER TABLE t ADD COLUMN u TEXT UNIQUE", &err), HDB_INVALID);
    cr_assert_str_eq(err.msg, "Cannot add a UNIQUE column");
    cr_assert_eq(ddl(c, "ALTER TABLE t ADD COLUMN n TEXT NOT NULL", &err), HDB_INVALID);
    cr_assert_eq(ddl(c, "ALTER TABLE nosuch ADD COLUMN x", &err), HDB_NOTFOUND);
    struct hdb_schema *s = load(c);
    const struct hdb_table_def *d = hdb_schema_table(s, "t")->def;
    cr_assert_eq(d->ncols, 4);
    cr_assert_str_eq(d->cols[2].name, "created_at");
    cr_assert_eq(d->cols[2].id, 2);
    cr_assert_eq(d->cols[3].id, 3);
    cr_assert(d->cols[3].not_null);
    cr_assert_not_null(strstr(d->sql, "note TEXT NOT NULL DEFAULT ''"), "%s", d->sql);
    hdb_schema_free(s);
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* A transaction that read the schema cannot commit after DDL changed it. */
Test(schema, statement_fails_when_the_catalog_changed_under_it)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_conn *c1 = kt_connect(db), *c2 = kt_connect(db);
    struct hdb_err err = {0};
    cr_assert_eq(ddl(c1, "CREATE TABLE t (a)", &err), HDB_OK);
    struct hdb_txn *t = NULL;
    struct hdb_schema *s = NULL;
    cr_assert_eq(hdb_txn_begin(c1, &t, &err), HDB_OK);
    cr_assert_eq(hdb_schema_load(c1, t, &s, &err), HDB_OK);
    const struct hdb_schema_table *st = hdb_schema_table(s, "t");
    cr_assert_eq(hdb_txn_put(t, st->rows, "k", 1, "v", 1, &err), HDB_OK);
    cr_assert_eq(ddl(c2, "ALTER TABLE t ADD COLUMN b", &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(hdb_txn_commit(t, &err), HDB_CONFLICT, "planned against an old catalog");
    hdb_schema_free(s);
    hdb_db_disconnect(c1);
    hdb_db_disconnect(c2);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}
