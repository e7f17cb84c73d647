/*
 * test_api.c — the public C API (include/heliosdb.h) as a program uses it:
 * open with and without a configuration file, exec, prepared statements
 * with every bind type reused across resets, columns of every type, error
 * codes and messages (syntax errors with their offset, constraints),
 * last_insert_id and changes, transactions, snapshots, and a reopen.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heliosdb.h"
#include "sql/api_int.h"
#include "tests/core/testutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_mkdtemp("api");
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 300);

static heliosdb *open_db(void)
{
    char *db_path = tu_path(dir, "db");
    char *cfg_path = tu_path(dir, "test.toml");
    FILE *f = fopen(cfg_path, "w");
    cr_assert_not_null(f);
    fputs("[database]\ncache_size_mb = 16\npage_size = 4096\n[performance]\nworker_threads = 2\n"
          "[snapshot]\nenable_cow_snapshots = true\n",
          f);
    fclose(f);
    heliosdb *db = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_open(db_path, cfg_path, &db, &err), HELIOSDB_OK, "%s", err.message);
    free(db_path);
    free(cfg_path);
    return db;
}

Test(api, prepared_statements_bind_step_and_columns)
{
    heliosdb *db = open_db();
    heliosdb_conn *c = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_connect(db, &c, &err), HELIOSDB_OK);
    cr_assert_eq(heliosdb_exec(c,
                               "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                               "email TEXT NOT NULL UNIQUE, score REAL, photo BLOB, "
                               "balance DECIMAL(10,2));",
                               &err),
                 HELIOSDB_OK, "%s", err.message);
    heliosdb_stmt *ins = NULL;
    cr_assert_eq(heliosdb_prepare(c,
                                  "INSERT INTO users (email, score, photo, balance) "
                                  "VALUES (?, ?, ?, ?)",
                                  -1, &ins, NULL, &err),
                 HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_bind_parameter_count(ins), 4);
    for (int i = 0; i < 10; i++) {
        char email[32];
        snprintf(email, sizeof email, "user%d@example.com", i);
        cr_assert_eq(heliosdb_bind_text(ins, 1, email, -1, &err), HELIOSDB_OK);
        cr_assert_eq(heliosdb_bind_double(ins, 2, i * 1.5, &err), HELIOSDB_OK);
        cr_assert_eq(heliosdb_bind_blob(ins, 3, "\0\1\2", 3, &err), HELIOSDB_OK);
        cr_assert_eq(heliosdb_bind_text(ins, 4, "10.005", -1, &err), HELIOSDB_OK);
        cr_assert_eq(heliosdb_step(ins, &err), HELIOSDB_DONE, "%s", err.message);
        cr_assert_eq(heliosdb_last_insert_id(c), i + 1);
        cr_assert_eq(heliosdb_changes(c), 1);
        heliosdb_reset(ins);
    }
    cr_assert_eq(heliosdb_bind_int64(ins, 5, 1, &err), HELIOSDB_INVALID, "index out of range");
    heliosdb_finalize(ins);

    heliosdb_stmt *q = NULL;
    cr_assert_eq(heliosdb_prepare(c,
                                  "SELECT id, email, score, photo, balance, NULL FROM users "
                                  "WHERE id = ?1 OR id = ?2 ORDER BY id",
                                  -1, &q, NULL, &err),
                 HELIOSDB_OK, "%s", err.message);
    heliosdb_bind_int64(q, 1, 3, &err);
    heliosdb_bind_int64(q, 2, 5, &err);
    cr_assert_eq(heliosdb_step(q, &err), HELIOSDB_ROW, "%s", err.message);
    cr_assert_eq(heliosdb_column_count(q), 6);
    cr_assert_str_eq(heliosdb_column_name(q, 1), "email");
    cr_assert_eq(heliosdb_column_type(q, 0), HELIOSDB_INTEGER);
    cr_assert_eq(heliosdb_column_int64(q, 0), 3);
    cr_assert_str_eq((const char *)heliosdb_column_text(q, 1), "user2@example.com");
    cr_assert_eq(heliosdb_column_type(q, 2), HELIOSDB_FLOAT);
    cr_assert_float_eq(heliosdb_column_double(q, 2), 3.0, 1e-9);
    cr_assert_eq(heliosdb_column_type(q, 3), HELIOSDB_BLOB);
    cr_assert_eq(heliosdb_column_bytes(q, 3), 3);
    cr_assert_eq(memcmp(heliosdb_column_blob(q, 3), "\0\1\2", 3), 0);
    cr_assert_eq(heliosdb_column_type(q, 4), HELIOSDB_DECIMAL);
    cr_assert_str_eq((const char *)heliosdb_column_text(q, 4), "10.01");
    cr_assert_str_eq((const char *)heliosdb_column_text(q, 0), "3", "numbers convert to text");
    cr_assert_null(heliosdb_column_text(q, 5));
    cr_assert_eq(heliosdb_step(q, &err), HELIOSDB_ROW);
    cr_assert_eq(heliosdb_column_int64(q, 0), 5);
    cr_assert_eq(heliosdb_step(q, &err), HELIOSDB_DONE);
    heliosdb_reset(q);
    heliosdb_bind_int64(q, 2, 9, &err);
    cr_assert_eq(heliosdb_step(q, &err), HELIOSDB_ROW, "a reset statement runs again");
    cr_assert_eq(heliosdb_step(q, &err), HELIOSDB_ROW);
    cr_assert_eq(heliosdb_column_int64(q, 0), 9);
    heliosdb_finalize(q);
    heliosdb_disconnect(c);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK, "%s", err.message);
}

Test(api, errors_carry_codes_offsets_and_names)
{
    heliosdb *db = open_db();
    heliosdb_conn *c = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_connect(db, &c, &err), HELIOSDB_OK);
    heliosdb_stmt *st = NULL;
    cr_assert_eq(heliosdb_prepare(c, "SELECT 1 FROM WHERE x", -1, &st, NULL, &err),
                 HELIOSDB_INVALID);
    cr_assert_null(st);
    cr_assert_eq(err.offset, 14, "the offset of \"WHERE\", got %d", err.offset);
    cr_assert_not_null(strstr(err.message, "syntax error"), "%s", err.message);
    cr_assert_eq(heliosdb_exec(c,
                               "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL);"
                               "INSERT INTO t VALUES (1, 'x');",
                               &err),
                 HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_exec(c, "INSERT INTO t VALUES (1, 'y')", &err), HELIOSDB_CONSTRAINT);
    cr_assert_str_eq(err.message, "UNIQUE constraint failed: t.a");
    cr_assert_eq(heliosdb_exec(c, "INSERT INTO t (a) VALUES (2)", &err), HELIOSDB_CONSTRAINT);
    cr_assert_str_eq(err.message, "NOT NULL constraint failed: t.b");
    cr_assert_eq(heliosdb_exec(c, "SELECT * FROM nope", &err), HELIOSDB_INVALID);
    cr_assert_str_eq(err.message, "no such table: nope");
    cr_assert_eq(heliosdb_exec(c, "SELECT 1; SELEC 2", &err), HELIOSDB_INVALID);
    cr_assert_eq(err.offset, 10, "offsets count from the start of the text, got %d", err.offset);
    cr_assert_str_eq(heliosdb_status_name(HELIOSDB_CONSTRAINT), "HELIOSDB_CONSTRAINT");
    cr_assert_str_eq(heliosdb_status_name(HELIOSDB_ROW), "HELIOSDB_ROW");
    const char *tail = NULL;
    cr_assert_eq(heliosdb_prepare(c, "  -- nothing\n ;", -1, &st, &tail, &err), HELIOSDB_OK);
    cr_assert_null(st, "no statement in the text");
    heliosdb_disconnect(c);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK);
}

Test(api, transactions_snapshots_and_reopen)
{
    heliosdb *db = open_db();
    heliosdb_conn *c = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_connect(db, &c, &err), HELIOSDB_OK);
    cr_assert_eq(heliosdb_exec(c,
                               "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INT);"
                               "BEGIN; INSERT INTO acct VALUES (1, 100), (2, 100);",
                               &err),
                 HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_in_transaction(c), 1);
    cr_assert_eq(heliosdb_exec(c, "COMMIT", &err), HELIOSDB_OK);
    cr_assert_eq(heliosdb_in_transaction(c), 0);
    uint64_t snap = 0;
    cr_assert_eq(heliosdb_snapshot_create(c, &snap, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_gt(snap, 0);
    cr_assert_eq(heliosdb_exec(c,
                               "UPDATE acct SET bal = bal - 30 WHERE id = 1;"
                               "UPDATE acct SET bal = bal + 30 WHERE id = 2",
                               &err),
                 HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_changes(c), 1);
    cr_assert_eq(heliosdb_checkpoint(c, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_snapshot_drop(c, snap, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_snapshot_drop(c, snap, &err), HELIOSDB_NOTFOUND);
    heliosdb_disconnect(c);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK);

    db = open_db();
    cr_assert_eq(heliosdb_connect(db, &c, &err), HELIOSDB_OK);
    heliosdb_stmt *q = NULL;
    cr_assert_eq(heliosdb_prepare(c, "SELECT sum(bal), max(bal) FROM acct", -1, &q, NULL, &err),
                 HELIOSDB_OK);
    cr_assert_eq(heliosdb_step(q, &err), HELIOSDB_ROW, "%s", err.message);
    cr_assert_eq(heliosdb_column_int64(q, 0), 200);
    cr_assert_eq(heliosdb_column_int64(q, 1), 130);
    heliosdb_finalize(q);
    heliosdb_disconnect(c);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK);
}

/* Steps a one-column query and returns its rows joined by ',' (static buffer). */
static const char *rows_of(heliosdb_stmt *q)
{
    static char buf[256];
    heliosdb_error err;
    size_t at = 0;
    buf[0] = '\0';
    int rc;
    while ((rc = heliosdb_step(q, &err)) == HELIOSDB_ROW && at < sizeof buf - 32) {
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s", at > 0 ? "," : "",
                               (const char *)heliosdb_column_text(q, 0));
    }
    cr_assert_eq(rc, HELIOSDB_DONE, "%s", err.message);
    heliosdb_reset(q);
    return buf;
}

/* A prepared statement keeps its access path between executions and makes a new one after DDL
 * (the index it used dropped, another created). */
Test(api, prepared_statements_keep_their_plan_until_the_schema_changes)
{
    heliosdb *db = open_db();
    heliosdb_conn *c = NULL, *d = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_connect(db, &c, &err), HELIOSDB_OK);
    cr_assert_eq(heliosdb_connect(db, &d, &err), HELIOSDB_OK);
    cr_assert_eq(heliosdb_exec(c,
                               "CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT, name TEXT);"
                               "CREATE INDEX by_email ON u (email);"
                               "CREATE INDEX by_name ON u (name);"
                               "INSERT INTO u (email, name) VALUES ('a@x', 'ann'), ('b@x', 'bob'),"
                               "('c@x', 'cy'), ('a@x', 'al')",
                               &err),
                 HELIOSDB_OK, "%s", err.message);
    heliosdb_stmt *q = NULL, *up = NULL;
    cr_assert_eq(
        heliosdb_prepare(c, "SELECT name FROM u WHERE email = ? ORDER BY name", -1, &q, NULL, &err),
        HELIOSDB_OK);
    cr_assert_eq(
        heliosdb_prepare(c, "UPDATE u SET name = upper(name) WHERE email = ?", -1, &up, NULL, &err),
        HELIOSDB_OK);
    for (int round = 0; round < 3; round++) {
        heliosdb_bind_text(q, 1, "a@x", -1, &err);
        cr_assert_str_eq(rows_of(q), round == 0 ? "al,ann" : "AL,ANN");
        heliosdb_bind_text(q, 1, "b@x", -1, &err);
        cr_assert_str_eq(rows_of(q), round < 2 ? "bob" : "BOB");
        heliosdb_bind_text(up, 1, round == 0 ? "a@x" : "b@x", -1, &err);
        cr_assert_eq(heliosdb_step(up, &err), HELIOSDB_DONE, "%s", err.message);
        heliosdb_reset(up);
        /* another connection changes the schema between executions */
        static const char *const ddl_of[] = {"DROP INDEX by_email",
                                             "CREATE INDEX by_email2 ON u (email, name)",
                                             "DROP INDEX by_name"};
        const char *ddl = ddl_of[round];
        cr_assert_eq(heliosdb_exec(d, ddl, &err), HELIOSDB_OK, "%s", err.message);
    }
    heliosdb_bind_text(q, 1, "c@x", -1, &err);
    cr_assert_str_eq(rows_of(q), "cy");
    heliosdb_finalize(q);
    heliosdb_finalize(up);
    heliosdb_disconnect(c);
    heliosdb_disconnect(d);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK);
}

/* The rpc layer's cache of parses (sql/api_int.h): a text prepared again gets the statement it
 * gave back, reset and unbound; it still runs against the schema of the moment; a text in use is
 * parsed anew; the least recently used text goes when the cache is full. */
Test(api, cached_prepare_reuses_parses_and_follows_the_schema)
{
    heliosdb *db = open_db();
    heliosdb_conn *c = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_connect(db, &c, &err), HELIOSDB_OK);
    cr_assert_eq(heliosdb_exec(c,
                               "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
                               "INSERT INTO t VALUES (1, 'one'), (2, 'two')",
                               &err),
                 HELIOSDB_OK, "%s", err.message);
    static const char text[] = "SELECT * FROM t WHERE id >= ? ORDER BY id; SELECT 2";
    heliosdb_stmt *a = NULL, *b = NULL, *again = NULL;
    const char *tail = NULL;
    cr_assert_eq(heliosdb_prepare_cached(c, text, -1, &a, &tail, &err), HELIOSDB_OK);
    cr_assert_str_eq(tail, " SELECT 2");
    heliosdb_bind_int64(a, 1, 2, &err);
    cr_assert_eq(heliosdb_step(a, &err), HELIOSDB_ROW);
    cr_assert_eq(heliosdb_column_count(a), 2);
    /* in use: the same text is parsed anew, and that statement is not the cache's */
    cr_assert_eq(heliosdb_prepare_cached(c, text, -1, &b, NULL, &err), HELIOSDB_OK);
    cr_assert_neq(a, b);
    heliosdb_finalize(b);
    heliosdb_finalize(a);
    cr_assert_eq(heliosdb_exec(c, "ALTER TABLE t ADD COLUMN w INT DEFAULT 7", &err), HELIOSDB_OK);
    cr_assert_eq(heliosdb_prepare_cached(c, text, -1, &again, &tail, &err), HELIOSDB_OK);
    cr_assert_eq(again, a, "the parse given back is reused");
    cr_assert_str_eq(tail, " SELECT 2");
    /* unbound again (NULL: no row), then bound: the new column is there */
    cr_assert_eq(heliosdb_step(again, &err), HELIOSDB_DONE, "%s", err.message);
    heliosdb_reset(again);
    heliosdb_bind_int64(again, 1, 1, &err);
    cr_assert_eq(heliosdb_step(again, &err), HELIOSDB_ROW);
    cr_assert_eq(heliosdb_column_count(again), 3);
    cr_assert_eq(heliosdb_column_int64(again, 2), 7);
    heliosdb_finalize(again);
    /* 64 other texts push it out: it is parsed anew */
    for (int i = 0; i < 64; i++) {
        char other[64];
        snprintf(other, sizeof other, "SELECT %d", i);
        heliosdb_stmt *o = NULL;
        cr_assert_eq(heliosdb_prepare_cached(c, other, -1, &o, NULL, &err), HELIOSDB_OK);
        heliosdb_finalize(o);
    }
    cr_assert_eq(heliosdb_prepare_cached(c, text, -1, &b, NULL, &err), HELIOSDB_OK);
    heliosdb_bind_int64(b, 1, 2, &err);
    cr_assert_eq(heliosdb_step(b, &err), HELIOSDB_ROW);
    cr_assert_str_eq((const char *)heliosdb_column_text(b, 1), "two");
    heliosdb_finalize(b);
    /* errors are not kept */
    cr_assert_eq(heliosdb_prepare_cached(c, "SELEC 1", -1, &b, NULL, &err), HELIOSDB_INVALID);
    cr_assert_null(b);
    heliosdb_disconnect(c);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK);
}
