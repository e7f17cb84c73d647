/*
 * test_catalog.c — table definitions from CREATE TABLE: columns, types and
 * affinities, exact DECIMAL(p,s), the primary key and the rowid alias,
 * AUTOINCREMENT, UNIQUE and CHECK constraints, DEFAULT expressions, the seed
 * documents' schemas, and every error with SQLite's message.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sql/catalog.h"

static struct hdb_table_def *build_ok(const char *sql)
{
    struct hdb_table_def *def = NULL;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_table_def_build(sql, strlen(sql), &def, &err), HDB_OK, "%s: %s", sql, err.msg);
    return def;
}

static void build_fails(const char *sql, const char *msg)
{
    struct hdb_table_def *def = NULL;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_table_def_build(sql, strlen(sql), &def, &err), HDB_INVALID, "%s", sql);
    cr_assert_null(def);
    cr_assert_not_null(strstr(err.msg, msg), "%s: got \"%s\", want \"%s\"", sql, err.msg, msg);
}

Test(catalog, users_table_of_the_seed_documents)
{
    struct hdb_table_def *d =
        build_ok("CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL "
                 "UNIQUE, name TEXT NOT NULL, created_at INTEGER DEFAULT (strftime('%s', 'now')))");
    cr_assert_str_eq(d->name, "users");
    cr_assert_eq(d->ncols, 4);
    cr_assert_eq(d->rowid_col, 0, "INTEGER PRIMARY KEY is the rowid");
    cr_assert(d->autoincrement);
    cr_assert(d->pk.ncols == 1 && d->pk.cols[0] == 0);
    cr_assert(d->cols[1].not_null && d->cols[2].not_null && !d->cols[3].not_null);
    cr_assert_eq(d->nuniques, 1);
    cr_assert_eq(d->uniques[0].cols[0], 1);
    cr_assert_not_null(d->cols[3].default_expr);
    cr_assert_eq(d->cols[3].default_expr->kind, HDB_EXPR_FUNCTION);
    cr_assert_eq(d->cols[1].affinity, HDB_AFF_TEXT);
    cr_assert_eq(d->cols[0].affinity, HDB_AFF_INTEGER);
    cr_assert_eq(hdb_table_column(d, "EMAIL"), 1, "names compare without case");
    cr_assert_eq(hdb_table_column(d, "nosuch"), -1);
    cr_assert_eq(d->cols[2].id, 2);
    cr_assert_eq(d->next_column_id, 4);
    hdb_table_def_free(d);
}

Test(catalog, composite_keys_decimals_and_checks)
{
    struct hdb_table_def *d =
        build_ok("CREATE TABLE ledger (account TEXT, seq INTEGER, amount DECIMAL(18,2) NOT NULL "
                 "CHECK (amount <> 0), note VARCHAR(80) COLLATE NOCASE, kind, "
                 "PRIMARY KEY (account, seq DESC), CONSTRAINT one_note UNIQUE (account, note), "
                 "CHECK (length(account) > 0))");
    cr_assert(d->pk.ncols == 2 && d->pk.cols[0] == 0 && d->pk.cols[1] == 1);
    cr_assert(!d->pk.desc[0] && d->pk.desc[1]);
    cr_assert_eq(d->rowid_col, -1, "a composite key has its own rows");
    cr_assert(d->cols[0].not_null, "primary key columns are NOT NULL");
    cr_assert(d->cols[2].decimal && d->cols[2].precision == 18 && d->cols[2].scale == 2);
    cr_assert_str_eq(d->cols[2].type, "DECIMAL(18,2)");
    cr_assert_eq(d->cols[2].affinity, HDB_AFF_NUMERIC);
    cr_assert_str_eq(d->cols[3].collation, "NOCASE");
    cr_assert_eq(d->cols[4].affinity, HDB_AFF_BLOB, "no type: no affinity");
    cr_assert_eq(d->nchecks, 2);
    cr_assert_eq(d->nuniques, 1);
    cr_assert_str_eq(d->uniques[0].name, "one_note");
    cr_assert(!d->cols[3].decimal && !build_ok("CREATE TABLE n(x NUMERIC)")->cols[0].decimal,
              "NUMERIC without a precision keeps SQLite's affinity");
    hdb_table_def_free(d);
}

Test(catalog, rowid_alias_rules)
{
    struct hdb_table_def *d = build_ok("CREATE TABLE t(a INTEGER, b, PRIMARY KEY(a))");
    cr_assert_eq(d->rowid_col, 0);
    hdb_table_def_free(d);
    d = build_ok("CREATE TABLE t(a INT PRIMARY KEY, b)");
    cr_assert_eq(d->rowid_col, -1, "only the type name INTEGER makes a rowid alias");
    hdb_table_def_free(d);
    d = build_ok("CREATE TABLE t(a INTEGER PRIMARY KEY DESC, b)");
    cr_assert_eq(d->rowid_col, -1);
    hdb_table_def_free(d);
    d = build_ok("CREATE TABLE t(a, b)");
    cr_assert_eq(d->pk.ncols, 0, "no primary key: rows keyed by a rowid");
    hdb_table_def_free(d);
}

Test(catalog, errors_carry_sqlite_messages)
{
    build_fails("CREATE TABLE t(a, A)", "duplicate column name: A");
    build_fails("CREATE TABLE t(a PRIMARY KEY, b PRIMARY KEY)",
                "table \"t\" has more than one primary key");
    build_fails("CREATE TABLE t(a, PRIMARY KEY(a), PRIMARY KEY(a))", "more than one primary key");
    build_fails("CREATE TABLE t(a INT PRIMARY KEY AUTOINCREMENT)",
                "AUTOINCREMENT is only allowed on an INTEGER PRIMARY KEY");
    build_fails("CREATE TABLE t(a INTEGER, b, PRIMARY KEY(a, b) AUTOINCREMENT)", "syntax error");
    build_fails("CREATE TABLE t(a DEFAULT (b))", "default value of column [a] is not constant");
    build_fails("CREATE TABLE t(a DEFAULT ((SELECT 1)))", "is not constant");
    build_fails("CREATE TABLE t(a CHECK (a IN (SELECT 1)))",
                "subqueries prohibited in CHECK constraints");
    build_fails("CREATE TABLE t(a, PRIMARY KEY(z))", "no such column: z");
    build_fails("CREATE TABLE t(a, UNIQUE(z))", "no such column: z");
    build_fails("CREATE TABLE t(a, CHECK(z > 0))", "no such column: z");
    build_fails("CREATE TABLE t(a, CHECK(u.a > 0))", "no such column: u.a");
    build_fails("CREATE TABLE t(a DECIMAL(40,2))", "precision is 1 to 38");
    build_fails("CREATE TABLE t(a DECIMAL(5,6))", "precision is 1 to 38");
    build_fails("CREATE TABLE t(a TEXT COLLATE klingon)", "no such collation sequence: klingon");
    build_fails("CREATE TABLE t(a, b AS (a + 1))", "generated columns are not supported");
    build_fails("SELECT 1", "not a CREATE TABLE statement");
    build_fails("CREATE TABLE t AS SELECT 1", "AS SELECT is not supported");
    build_fails("CREATE TABLE t(a int,", "incomplete input at line 1, column 22");
    build_fails("CREATE TABLE t(a int, ,)", "syntax error");
}

Test(catalog, seed_orders_and_sensor_tables)
{
    struct hdb_table_def *d = build_ok(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL, "
        "total DECIMAL(12,2) NOT NULL, status TEXT NOT NULL DEFAULT 'pending', "
        "created_at INTEGER NOT NULL DEFAULT (unixepoch()))");
    cr_assert(d->cols[2].decimal && d->cols[2].scale == 2);
    cr_assert_eq(d->cols[3].default_expr->kind, HDB_EXPR_STRING);
    hdb_table_def_free(d);
    d = build_ok("CREATE TABLE sensor_readings (device_id TEXT NOT NULL, ts INTEGER NOT NULL, "
                 "value REAL, PRIMARY KEY (device_id, ts))");
    cr_assert_eq(d->pk.ncols, 2);
    cr_assert_eq(d->cols[2].affinity, HDB_AFF_REAL);
    hdb_table_def_free(d);
}
