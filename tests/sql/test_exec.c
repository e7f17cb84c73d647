/*
 * test_exec.c — SQL statements on a database through a session: tables,
 * inserts and queries (filters, joins, grouping, ordering, limits,
 * subqueries), every constraint with SQLite's message, explicit
 * transactions (commit, rollback, a failed statement), RETURNING, ON
 * CONFLICT DO NOTHING and OR IGNORE/REPLACE, exact DECIMAL sums, rowids and
 * AUTOINCREMENT across a reopen, unique indexes, and two sessions whose
 * transactions conflict.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/exec.h"
#include "sql/parser.h"
#include "tests/core/testutil.h"
#include "tests/shards/kvtest.h"

static char *dir;

static void setup(void)
{
    dir = tu_mkdtemp("exec");
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

TestSuite(exec, .init = setup, .fini = teardown, .timeout = 300);

/* Runs every statement of `sql`; the last result is left in `res`. */
static int run(struct hdb_sql_session *s, const char *sql, struct hdb_sql_result *res,
               struct hdb_err *err)
{
    struct hdb_sql_script script;
    int rc = hdb_sql_script_init(&script, sql, strlen(sql), err);
    while (rc == HDB_OK) {
        struct hdb_sql_arena arena = {0};
        struct hdb_sql_stmt *st = NULL;
        rc = hdb_sql_script_next(&script, &arena, &st, NULL, err);
        if (rc == HDB_OK && st == NULL) {
            hdb_sql_arena_free(&arena);
            break;
        }
        rc = rc == HDB_OK ? hdb_sql_exec(s, sql, st, NULL, 0, res, err) : rc;
        hdb_sql_arena_free(&arena);
    }
    return rc;
}

static void ok(struct hdb_sql_session *s, const char *sql)
{
    struct hdb_sql_result res = {0};
    struct hdb_err err = {0};
    cr_assert_eq(run(s, sql, &res, &err), HDB_OK, "%s: %s", sql, err.msg);
    hdb_sql_result_free(&res);
}

static void fails(struct hdb_sql_session *s, const char *sql, int code, const char *msg)
{
    struct hdb_sql_result res = {0};
    struct hdb_err err = {0};
    cr_assert_eq(run(s, sql, &res, &err), code, "%s: %s", sql, err.msg);
    cr_assert_not_null(strstr(err.msg, msg), "%s: got \"%s\", want \"%s\"", sql, err.msg, msg);
    hdb_sql_result_free(&res);
}

/* The rows of a query as text: values separated by '|', rows by '\n'. */
static void query_text(struct hdb_sql_session *s, const char *sql, char *got, size_t cap)
{
    struct hdb_sql_result res = {0};
    struct hdb_err err = {0};
    cr_assert_eq(run(s, sql, &res, &err), HDB_OK, "%s: %s", sql, err.msg);
    size_t at = 0;
    got[0] = '\0';
    for (uint32_t r = 0; r < res.nrows && at < cap; r++) {
        for (uint32_t c = 0; c < res.ncols && at < cap; c++) {
            const struct hdb_value *v = &res.rows[(size_t)r * res.ncols + c];
            char buf[HDB_DEC_TEXT_MAX];
            at += (size_t)snprintf(got + at, cap - at, "%s", c > 0 ? "|" : "");
            if (at >= cap) {
                break;
            }
            switch (v->type) {
            case HDB_V_NULL:
                at += (size_t)snprintf(got + at, cap - at, "NULL");
                break;
            case HDB_V_INT:
                at += (size_t)snprintf(got + at, cap - at, "%" PRId64, v->u.i);
                break;
            case HDB_V_REAL:
                at += (size_t)snprintf(got + at, cap - at, "%g", v->u.r);
                break;
            case HDB_V_DEC:
                hdb_dec_format(&v->u.d, buf);
                at += (size_t)snprintf(got + at, cap - at, "%s", buf);
                break;
            default:
                at += (size_t)snprintf(got + at, cap - at, "%.*s", (int)v->u.s.len,
                                       (const char *)v->u.s.p);
            }
        }
        if (at < cap) {
            at += (size_t)snprintf(got + at, cap - at, "\n");
        }
    }
    cr_assert_lt(at, cap, "%s: result longer than %zu bytes", sql, cap);
    hdb_sql_result_free(&res);
}

static void query_is(struct hdb_sql_session *s, const char *sql, const char *want)
{
    char got[4096];
    query_text(s, sql, got, sizeof got);
    cr_assert_str_eq(got, want, "%s: got \"%s\"", sql, got);
}

/* Two queries return the same rows (an index lookup against a scan). */
static void same_rows(struct hdb_sql_session *s, const char *a, const char *b)
{
    static char ga[65536], gb[65536];
    query_text(s, a, ga, sizeof ga);
    query_text(s, b, gb, sizeof gb);
    cr_assert_str_eq(ga, gb, "%s\n  and\n%s\ndiffer", a, b);
}

static struct hdb_db *open_db(void)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    return kt_open(dir, &o);
}

static struct hdb_sql_session *session(struct hdb_db *db)
{
    struct hdb_sql_session *s = NULL;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_sql_session_open(db, &s, &err), HDB_OK, "%s", err.msg);
    return s;
}

Test(exec, queries_over_inserted_rows)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT NOT NULL, dept TEXT, pay INT);"
          "INSERT INTO emp (name, dept, pay) VALUES ('ann', 'ops', 10), ('bob', 'dev', 30),"
          " ('cy', 'dev', 20), ('dee', NULL, 5);"
          "CREATE TABLE dept (name TEXT PRIMARY KEY, floor INT);"
          "INSERT INTO dept VALUES ('ops', 1), ('dev', 2), ('hr', 3)");
    query_is(s, "SELECT id, name FROM emp WHERE pay > 8 ORDER BY pay DESC", "2|bob\n3|cy\n1|ann\n");
    query_is(s, "SELECT dept, count(*), sum(pay), avg(pay) FROM emp GROUP BY dept ORDER BY 1",
             "NULL|1|5|5\ndev|2|50|25\nops|1|10|10\n");
    query_is(s, "SELECT e.name, d.floor FROM emp e JOIN dept d ON e.dept = d.name ORDER BY e.name",
             "ann|1\nbob|2\ncy|2\n");
    query_is(s,
             "SELECT d.name, count(e.id) FROM dept d LEFT JOIN emp e ON e.dept = d.name "
             "GROUP BY d.name ORDER BY d.name",
             "dev|2\nhr|0\nops|1\n");
    query_is(s, "SELECT name FROM emp WHERE pay = (SELECT max(pay) FROM emp)", "bob\n");
    query_is(s,
             "SELECT name FROM emp e WHERE EXISTS (SELECT 1 FROM dept WHERE name = e.dept "
             "AND floor = 2) ORDER BY 1",
             "bob\ncy\n");
    query_is(s, "SELECT name FROM emp WHERE dept IN (SELECT name FROM dept WHERE floor < 2)",
             "ann\n");
    query_is(s, "SELECT name FROM emp ORDER BY pay LIMIT 2 OFFSET 1", "ann\ncy\n");
    query_is(s, "SELECT DISTINCT dept FROM emp WHERE dept IS NOT NULL ORDER BY dept", "dev\nops\n");
    query_is(s,
             "SELECT dept FROM emp WHERE dept IS NOT NULL UNION SELECT name FROM dept ORDER BY 1",
             "dev\nhr\nops\n");
    query_is(s, "SELECT group_concat(name, '+') FROM emp WHERE dept = 'dev'", "bob+cy\n");
    query_is(s, "SELECT dept, sum(pay) FROM emp GROUP BY dept HAVING sum(pay) > 9 ORDER BY 2",
             "ops|10\ndev|50\n");
    fails(s, "SELECT nosuch FROM emp", HDB_INVALID, "no such column: nosuch");
    fails(s, "SELECT * FROM nosuch", HDB_INVALID, "no such table: nosuch");
    fails(s, "SELECT name FROM emp, dept", HDB_INVALID, "ambiguous column name: name");
    fails(s, "SELECT name FROM emp ORDER BY 3", HDB_INVALID, "1st ORDER BY term out of range");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

Test(exec, constraints_fail_with_sqlite_messages)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE,"
          " age INT CONSTRAINT adult CHECK (age >= 18), code TEXT CHECK (length(code) = 3))");
    ok(s, "INSERT INTO users (email, age) VALUES ('a@x', 30)");
    fails(s, "INSERT INTO users (email, age) VALUES ('a@x', 40)", HDB_CONSTRAINT,
          "UNIQUE constraint failed: users.email");
    fails(s, "INSERT INTO users (age) VALUES (40)", HDB_CONSTRAINT,
          "NOT NULL constraint failed: users.email");
    fails(s, "INSERT INTO users (email, age) VALUES ('b@x', 12)", HDB_CONSTRAINT,
          "CHECK constraint failed: adult");
    fails(s, "INSERT INTO users (email, code) VALUES ('c@x', 'ab')", HDB_CONSTRAINT,
          "CHECK constraint failed: length(code) = 3");
    fails(s, "INSERT INTO users (id, email) VALUES (1, 'd@x')", HDB_CONSTRAINT,
          "UNIQUE constraint failed: users.id");
    fails(s, "INSERT INTO users VALUES (5, 'e@x')", HDB_INVALID,
          "table users has 4 columns but 2 values were supplied");
    fails(s, "UPDATE users SET email = NULL", HDB_CONSTRAINT, "NOT NULL constraint failed");
    ok(s, "INSERT OR IGNORE INTO users (email) VALUES ('a@x');"
          "INSERT INTO users (email) VALUES ('a@x') ON CONFLICT DO NOTHING");
    query_is(s, "SELECT count(*) FROM users", "1\n");
    ok(s, "CREATE TABLE kv (k TEXT PRIMARY KEY, v INT);"
          "INSERT INTO kv VALUES ('x', 1);"
          "INSERT OR REPLACE INTO kv VALUES ('x', 2)");
    query_is(s, "SELECT k, v FROM kv", "x|2\n");
    ok(s, "CREATE UNIQUE INDEX one_v ON kv (v)");
    fails(s, "INSERT INTO kv VALUES ('y', 2)", HDB_CONSTRAINT, "UNIQUE constraint failed: kv.v");
    ok(s, "INSERT INTO kv VALUES ('y', 3)");
    fails(s,
          "CREATE UNIQUE INDEX bad ON users (age); INSERT INTO users (email, age) "
          "VALUES ('z@x', 30)",
          HDB_CONSTRAINT, "UNIQUE constraint failed: users.age");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

Test(exec, transactions_returning_and_rowids_across_reopen)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)");
    ok(s, "BEGIN; INSERT INTO t (v) VALUES ('kept'); COMMIT");
    ok(s, "BEGIN; INSERT INTO t (v) VALUES ('gone'); ROLLBACK");
    query_is(s, "SELECT id, v FROM t", "1|kept\n");
    ok(s, "BEGIN");
    fails(s, "INSERT INTO t (id, v) VALUES (1, 'dup')", HDB_CONSTRAINT, "UNIQUE");
    fails(s, "SELECT 1", HDB_INVALID, "only ROLLBACK");
    ok(s, "ROLLBACK");
    /* rowids come from a leased block: the rolled-back insert's id is a gap (SQLite would hand
     * it out again), so concurrent inserters never wait for each other's counter */
    query_is(s, "INSERT INTO t (v) VALUES ('r') RETURNING id, v", "3|r\n");
    query_is(s, "UPDATE t SET v = v || '!' WHERE id = 3 RETURNING v", "r!\n");
    query_is(s, "DELETE FROM t WHERE id = 3 RETURNING id", "3\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
    db = open_db();
    s = session(db);
    /* AUTOINCREMENT: the deleted row's id is not used again, also after a reopen; a clean close
     * gave the rest of the lease back, so ids go on without a gap */
    query_is(s, "INSERT INTO t (v) VALUES ('after') RETURNING id", "4\n");
    query_is(s, "SELECT id, v FROM t ORDER BY id", "1|kept\n4|after\n");
    /* an explicit id moves later automatic ones past it */
    query_is(s, "INSERT INTO t (id, v) VALUES (5000, 'x') RETURNING id", "5000\n");
    query_is(s, "INSERT INTO t (v) VALUES ('y') RETURNING id", "5001\n");
    hdb_sql_session_close(s);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

Test(exec, decimal_ledger_sums_stay_exact)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount DECIMAL(12,2) NOT NULL)");
    ok(s, "BEGIN");
    for (int i = 0; i < 1000; i++) {
        ok(s, "INSERT INTO ledger (amount) VALUES (0.1)");
    }
    ok(s, "INSERT INTO ledger (amount) VALUES ('-12.345')");
    ok(s, "COMMIT");
    query_is(s, "SELECT sum(amount), count(*) FROM ledger", "87.65|1001\n");
    query_is(s, "SELECT amount FROM ledger WHERE amount < 0", "-12.35\n");
    fails(s, "INSERT INTO ledger (amount) VALUES (12345678901)", HDB_TOOBIG, "DECIMAL(12,2)");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* Two sessions: serializable validation makes the second writer of one row retry. */
Test(exec, concurrent_sessions_conflict_and_ddl_changes_are_seen)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *a = session(db), *b = session(db);
    ok(a, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INT); INSERT INTO acct VALUES (1, 100)");
    ok(a, "BEGIN; UPDATE acct SET bal = bal - 10 WHERE id = 1");
    ok(b, "UPDATE acct SET bal = bal + 5 WHERE id = 1"); /* autocommit, commits first */
    struct hdb_sql_result res = {0};
    struct hdb_err err = {0};
    cr_assert_eq(run(a, "COMMIT", &res, &err), HDB_CONFLICT, "the first writer must retry");
    hdb_sql_result_free(&res);
    query_is(a, "SELECT bal FROM acct", "105\n");
    ok(b, "ALTER TABLE acct ADD COLUMN note TEXT DEFAULT 'n'");
    query_is(a, "SELECT id, bal, note FROM acct", "1|105|n\n"); /* as SQLite: the default */
    ok(a, "INSERT INTO acct (id, bal) VALUES (2, 0)");
    query_is(a, "SELECT note FROM acct WHERE id = 2", "n\n");
    hdb_sql_session_close(a);
    hdb_sql_session_close(b);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* ON CONFLICT DO UPDATE as SQLite runs it (results recorded from Python's sqlite3). */
Test(exec, upsert_updates_the_conflicting_row)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE inv (sku TEXT PRIMARY KEY, qty INT NOT NULL, name TEXT UNIQUE);"
          "INSERT INTO inv VALUES ('a', 5, 'apple')");
    query_is(s,
             "INSERT INTO inv VALUES ('a', 3, 'apple2') ON CONFLICT (sku) DO UPDATE SET "
             "qty = qty + excluded.qty RETURNING sku, qty, name",
             "a|8|apple\n");
    query_is(s,
             "INSERT INTO inv VALUES ('b', 1, 'apple') ON CONFLICT (name) DO UPDATE SET "
             "qty = inv.qty * 10 RETURNING *",
             "a|80|apple\n");
    query_is(s,
             "INSERT INTO inv VALUES ('a', 100, 'x') ON CONFLICT DO UPDATE SET qty = excluded.qty "
             "WHERE excluded.qty < 50 RETURNING *",
             "");
    query_is(s, "SELECT * FROM inv", "a|80|apple\n");
    query_is(s,
             "INSERT INTO inv VALUES ('c', 1, 'cherry') ON CONFLICT DO UPDATE SET qty = 0 "
             "RETURNING *",
             "c|1|cherry\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* statement_timeout: a statement past its limit fails with HDB_TIMEOUT and changes nothing. */
Test(exec, statement_timeout_stops_a_long_statement)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE n (i INTEGER PRIMARY KEY)");
    ok(s, "BEGIN");
    for (int i = 0; i < 300; i++) {
        ok(s, "INSERT INTO n DEFAULT VALUES");
    }
    ok(s, "COMMIT");
    hdb_sql_session_set_timeout(s, 50);
    fails(s, "SELECT count(*) FROM n a, n b, n c", HDB_TIMEOUT, "statement_timeout_ms (50 ms)");
    hdb_sql_session_set_timeout(s, 0);
    query_is(s, "SELECT count(*) FROM n", "300\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* EXPLAIN names each table's access path and the shards it touches. */
Test(exec, explain_shows_access_paths_and_shards)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);"
          "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INT)");
    query_is(s, "EXPLAIN SELECT * FROM users WHERE id = ?",
             "SEARCH users USING PRIMARY KEY (point read on 1 of 2 shards)\n");
    query_is(
        s,
        "EXPLAIN QUERY PLAN SELECT u.email, count(*) FROM users u JOIN orders o "
        "ON o.customer_id = u.id GROUP BY u.email ORDER BY 2",
        "SCAN users (full scan of all 2 shards)\nJOIN orders (full scan of all 2 shards)\n"
        "GROUP BY (hash, at the coordinator)\nORDER BY (sort in memory, at the coordinator)\n");
    query_is(s, "EXPLAIN DELETE FROM orders WHERE customer_id = 3",
             "DELETE FROM orders (full scan of all 2 shards)\n");
    fails(s, "EXPLAIN SELECT * FROM nosuch", HDB_INVALID, "no such table: nosuch");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* VALUES as a query and WITH: common table expressions, column lists, several at once. */
Test(exec, values_queries_and_common_table_expressions)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    query_is(s, "VALUES (1, 'a'), (3, 'c'), (2, 'b') ORDER BY 1 DESC", "3|c\n2|b\n1|a\n");
    query_is(s, "SELECT column2 FROM (VALUES (1, 'x'), (2, 'y')) WHERE column1 = 2", "y\n");
    ok(s, "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT);"
          "INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'z')");
    query_is(s, "WITH big AS (SELECT a, b FROM t WHERE a > 1) SELECT b FROM big ORDER BY a DESC",
             "z\ny\n");
    query_is(s, "WITH c(x, y) AS (SELECT a, b FROM t) SELECT y, x FROM c WHERE x = 2", "y|2\n");
    query_is(s, "WITH a AS (SELECT 1 AS v), b AS (SELECT v + 1 AS w FROM a) SELECT * FROM a, b",
             "1|2\n");
    query_is(s,
             "WITH c AS (SELECT a FROM t WHERE a < 3) SELECT b FROM t WHERE a IN (SELECT a FROM c)",
             "x\ny\n");
    ok(s, "INSERT INTO t WITH q AS (SELECT 9, 'n') SELECT * FROM q");
    query_is(s, "SELECT b FROM t WHERE a = 9", "n\n");
    fails(s, "WITH s AS (SELECT * FROM s) SELECT * FROM s", HDB_INVALID, "refers to itself");
    fails(s, "WITH c(x) AS (SELECT a, b FROM t) SELECT * FROM c", HDB_INVALID,
          "table c has 2 values for 1 columns");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* Every lookup through an index returns what a scan of the table returns. */
static void lookups_match_scans(struct hdb_sql_session *s)
{
    char a[256], b[256];
    for (int i = 0; i < 7; i++) {
        snprintf(a, sizeof a, "SELECT id, email, age FROM users WHERE name = 'n%d' ORDER BY id", i);
        snprintf(b, sizeof b,
                 "SELECT id, email, age FROM users WHERE name || '' = 'n%d' ORDER BY id", i);
        same_rows(s, a, b);
        snprintf(a, sizeof a, "SELECT id FROM users WHERE name = 'n%d' AND age = %d ORDER BY id", i,
                 i % 10);
        snprintf(b, sizeof b,
                 "SELECT id FROM users WHERE name || '' = 'n%d' AND age + 0 = %d "
                 "ORDER BY id",
                 i, i % 10);
        same_rows(s, a, b);
    }
    for (int i = 0; i < 220; i += 3) {
        snprintf(a, sizeof a, "SELECT id, name FROM users WHERE email = 'e%d'", i);
        snprintf(b, sizeof b, "SELECT id, name FROM users WHERE email || '' = 'e%d'", i);
        same_rows(s, a, b);
    }
}

/* Index entries follow INSERT, UPDATE, DELETE, OR REPLACE and upserts, commit and roll back with
 * their transaction, survive a reopen, and check UNIQUE across shards and sessions. */
Test(exec, indexes_stay_in_step_with_the_rows)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, "
          "name TEXT, age INT)");
    ok(s, "BEGIN");
    for (int i = 0; i < 200; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "INSERT INTO users (email, name, age) VALUES ('e%d', 'n%d', %d)",
                 i, i % 7, i % 10);
        ok(s, sql);
    }
    ok(s, "COMMIT");
    ok(s, "CREATE INDEX by_name ON users (name, age DESC)");
    query_is(s, "EXPLAIN SELECT * FROM users WHERE name = ? AND age = 3",
             "SEARCH users USING INDEX by_name (name=? AND age=?) (a range of index entries from "
             "every shard, then each row from its shard)\n");
    query_is(s, "EXPLAIN SELECT * FROM users WHERE email = ?",
             "SEARCH users USING UNIQUE CONSTRAINT (email=?) (one index entry from 1 shard, then "
             "each row from its shard)\n");
    lookups_match_scans(s);
    query_is(s, "SELECT count(*) FROM users WHERE name = 'n3'", "29\n");

    ok(s, "UPDATE users SET name = 'n3' WHERE age = 5");
    ok(s, "DELETE FROM users WHERE id % 3 = 0");
    ok(s, "UPDATE users SET email = 'x' || email WHERE age = 1");
    ok(s, "UPDATE users SET id = id + 1000 WHERE age = 2"); /* rows move to new keys */
    ok(s, "INSERT OR REPLACE INTO users (id, email, name, age) VALUES (1, 'e1', 'n6', 6)");
    ok(s, "INSERT INTO users (email, name, age) VALUES ('e4', 'zz', 0) "
          "ON CONFLICT (email) DO UPDATE SET name = 'n0'");
    fails(s, "UPDATE users SET email = 'e4' WHERE email = 'e7'", HDB_CONSTRAINT,
          "UNIQUE constraint failed: users.email");
    fails(s, "INSERT INTO users (email, name) VALUES ('a', 'x'), ('a', 'y')", HDB_CONSTRAINT,
          "UNIQUE constraint failed: users.email");
    ok(s, "BEGIN; INSERT INTO users (email, name) VALUES ('e300', 'n1'); ROLLBACK");
    lookups_match_scans(s);
    query_is(s, "SELECT count(*) FROM users WHERE email = 'e300'", "0\n");
    ok(s, "INSERT INTO users (email, name) VALUES ('e300', 'n1')");
    query_is(s, "SELECT name FROM users WHERE email = 'e300'", "n1\n");

    /* A new UNIQUE index checks the stored rows; a failed one leaves nothing behind. */
    fails(s, "CREATE UNIQUE INDEX one_name ON users (name)", HDB_CONSTRAINT,
          "UNIQUE constraint failed: users.name");
    fails(s, "DROP INDEX one_name", HDB_NOTFOUND, "no such index: one_name");
    ok(s, "CREATE INDEX by_age ON users (age)");
    same_rows(s, "SELECT id FROM users WHERE age = '5' ORDER BY id", /* affinity: '5' is 5 */
              "SELECT id FROM users WHERE age + 0 = 5 ORDER BY id");
    query_is(s, "SELECT count(*) FROM users WHERE age = NULL", "0\n");

    /* UNIQUE across sessions: the second inserter of the same value conflicts at commit. */
    struct hdb_sql_session *b = session(db);
    ok(s, "BEGIN; INSERT INTO users (email, name) VALUES ('race', 'a')");
    ok(b, "INSERT INTO users (email, name) VALUES ('race', 'b')");
    struct hdb_sql_result res = {0};
    struct hdb_err err = {0};
    cr_assert_eq(run(s, "COMMIT", &res, &err), HDB_CONFLICT, "%s", err.msg);
    hdb_sql_result_free(&res);
    fails(s, "INSERT INTO users (email, name) VALUES ('race', 'a')", HDB_CONSTRAINT,
          "UNIQUE constraint failed: users.email");
    query_is(s, "SELECT name FROM users WHERE email = 'race'", "b\n");
    hdb_sql_session_close(b);

    /* NULLs are never equal; a partial unique index holds only the rows its WHERE accepts. */
    ok(s, "CREATE TABLE tasks (id INTEGER PRIMARY KEY, owner TEXT UNIQUE, team INT, done INT);"
          "CREATE UNIQUE INDEX one_open ON tasks (team) WHERE done = 0;"
          "INSERT INTO tasks VALUES (1, NULL, 1, 1), (2, NULL, 1, 1), (3, 'a', 1, 0)");
    fails(s, "INSERT INTO tasks VALUES (4, 'b', 1, 0)", HDB_CONSTRAINT,
          "UNIQUE constraint failed: tasks.team");
    ok(s, "UPDATE tasks SET done = 1 WHERE id = 3; INSERT INTO tasks VALUES (4, 'b', 1, 0)");
    query_is(s, "SELECT id FROM tasks WHERE owner IS NULL ORDER BY id", "1\n2\n");

    hdb_sql_session_close(s);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
    db = open_db();
    s = session(db);
    lookups_match_scans(s);
    query_is(s, "SELECT name FROM users WHERE email = 'e300'", "n1\n");
    hdb_sql_session_close(s);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* work_mem_mb: a statement that holds more fails with HDB_TOOBIG naming the key, and the session
 * goes on. */
Test(exec, work_mem_bounds_a_statement)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE n (i INTEGER PRIMARY KEY, pad TEXT)");
    char sql[200];
    snprintf(sql, sizeof sql, "INSERT INTO n (pad) VALUES ('%0100d')", 7);
    ok(s, "BEGIN");
    for (int i = 0; i < 300; i++) {
        ok(s, sql);
    }
    ok(s, "COMMIT");
    hdb_sql_session_set_work_mem(s, 1);
    fails(s, "SELECT a.pad, b.pad FROM n a, n b ORDER BY 1", HDB_TOOBIG,
          "more than work_mem_mb (1 MiB)");
    fails(s, "SELECT DISTINCT a.pad || b.i FROM n a, n b", HDB_TOOBIG, "work_mem_mb");
    query_is(s, "SELECT count(*), length(min(pad)) FROM n", "300|100\n");
    hdb_sql_session_set_work_mem(s, 256);
    query_is(s, "SELECT a.i, b.i FROM n a, n b ORDER BY 2 DESC, 1 DESC LIMIT 1", "300|300\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

struct inserter {
    struct hdb_db *db;
    int64_t ids[300];
    int failed;
};

static void *insert_rows(void *arg)
{
    struct inserter *in = arg;
    struct hdb_sql_session *s = NULL;
    struct hdb_err err = {0};
    if (hdb_sql_session_open(in->db, &s, &err) != HDB_OK) {
        in->failed = 1;
        return NULL;
    }
    for (int i = 0; i < 300; i++) {
        struct hdb_sql_result res = {0};
        if (run(s, "INSERT INTO seq (v) VALUES ('x') RETURNING id", &res, &err) != HDB_OK ||
            res.nrows != 1) {
            in->failed++;
        } else {
            in->ids[i] = res.rows[0].u.i;
        }
        hdb_sql_result_free(&res);
    }
    hdb_sql_session_close(s);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* AUTOINCREMENT ids from leased blocks: 4 sessions inserting at once get distinct ids without
 * failing, and after a crash (a child that exits without closing) ids are never handed out
 * again. */
Test(exec, autoincrement_ids_from_leases_across_sessions_and_crashes)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)");
    static struct inserter in[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        in[i] = (struct inserter){.db = db};
        cr_assert_eq(pthread_create(&th[i], NULL, insert_rows, &in[i]), 0);
    }
    static int64_t all[1200];
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(in[i].failed, 0, "session %d: %d inserts failed", i, in[i].failed);
        memcpy(all + 300 * i, in[i].ids, sizeof in[i].ids);
        for (int k = 1; k < 300; k++) {
            cr_assert_gt(in[i].ids[k], in[i].ids[k - 1], "one session's ids increase");
        }
    }
    qsort(all, 1200, sizeof all[0], cmp_i64);
    for (int i = 1; i < 1200; i++) {
        cr_assert_neq(all[i], all[i - 1], "id %" PRId64 " handed out twice", all[i]);
    }
    query_is(s, "SELECT count(*), count(DISTINCT id), max(id) <= 2000 FROM seq", "1200|1200|1\n");
    hdb_sql_session_close(s);
    struct hdb_err err = {0};
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);

    pid_t pid = fork();
    if (pid == 0) { /* crashes: leases taken, nothing closed or given back */
        struct hdb_db *cdb = open_db();
        struct hdb_sql_session *cs = session(cdb);
        struct hdb_sql_result res = {0};
        for (int i = 0; i < 5; i++) {
            if (run(cs, "INSERT INTO seq (v) VALUES ('child')", &res, &err) != HDB_OK) {
                _exit(3);
            }
            hdb_sql_result_free(&res);
        }
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    db = open_db();
    s = session(db);
    query_is(s, "SELECT count(*) FROM seq WHERE v = 'child'", "5\n");
    query_is(s,
             "INSERT INTO seq (v) VALUES ('after') RETURNING id > (SELECT max(id) FROM seq "
             "WHERE v = 'child')",
             "1\n");
    hdb_sql_session_close(s);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

/* LIMIT with an ORDER BY an index or the key already gives: only the first rows are read, and
 * the answers are those of a full sort (each query against one the planner cannot shortcut). */
Test(exec, limit_through_an_index_or_the_key_order_matches_a_sort)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INT, created_at INT, "
          "status TEXT);"
          "CREATE INDEX by_customer ON orders (customer_id, created_at);"
          "CREATE INDEX by_status ON orders (status, created_at DESC);"
          "CREATE TABLE kv (k TEXT PRIMARY KEY, v INT)");
    ok(s, "BEGIN");
    for (int i = 1; i <= 400; i++) {
        char sql[200];
        snprintf(
            sql, sizeof sql,
            "INSERT INTO orders VALUES (%d, %d, %d, '%s'); INSERT INTO kv VALUES ('k%03d', %d)", i,
            i % 7, (i * 37) % 101, i % 3 == 0 ? "paid" : "new", (i * 13) % 400, i);
        ok(s, sql);
    }
    ok(s, "COMMIT");
    static const char *const pairs[][2] = {
        {"SELECT id, created_at FROM orders WHERE customer_id = 3 ORDER BY created_at DESC LIMIT 5",
         "SELECT id, created_at FROM orders WHERE customer_id + 0 = 3 ORDER BY created_at DESC "
         "LIMIT 5"},
        {"SELECT id FROM orders WHERE customer_id = 3 ORDER BY created_at LIMIT 4 OFFSET 3",
         "SELECT id FROM orders WHERE customer_id + 0 = 3 ORDER BY created_at LIMIT 4 OFFSET 3"},
        {"SELECT created_at FROM orders WHERE status = 'paid' ORDER BY created_at DESC LIMIT 6",
         "SELECT created_at FROM orders WHERE status || '' = 'paid' ORDER BY created_at DESC "
         "LIMIT 6"},
        {"SELECT count(*) FROM (SELECT id FROM orders WHERE customer_id = 2 LIMIT 3)",
         "SELECT count(*) FROM (SELECT id FROM orders WHERE customer_id + 0 = 2 LIMIT 3)"},
        /* a condition the index does not cover: no shortcut, still right */
        {"SELECT id FROM orders WHERE customer_id = 3 AND id > 200 ORDER BY created_at LIMIT 3",
         "SELECT id FROM orders WHERE customer_id + 0 = 3 AND id > 200 ORDER BY created_at "
         "LIMIT 3"},
        {"SELECT id FROM orders ORDER BY id LIMIT 5 OFFSET 10",
         "SELECT id FROM orders ORDER BY id + 0 LIMIT 5 OFFSET 10"},
        {"SELECT k, v FROM kv ORDER BY k LIMIT 7", "SELECT k, v FROM kv ORDER BY k || '' LIMIT 7"},
        {"SELECT id FROM orders ORDER BY id DESC LIMIT 3",
         "SELECT id FROM orders ORDER BY id + 0 DESC LIMIT 3"},
        /* ORDER BY names a result column that is another expression */
        {"SELECT created_at AS id FROM orders ORDER BY id LIMIT 3",
         "SELECT created_at AS id FROM orders ORDER BY created_at + 0 LIMIT 3"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        same_rows(s, pairs[i][0], pairs[i][1]);
    }
    query_is(s, "SELECT id FROM orders ORDER BY id LIMIT 3", "1\n2\n3\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* Bytes of the shards' data files. */
/* The storage verification of both shards finds nothing. */
static void verify_shards(struct hdb_db *db)
{
    struct hdb_conn *c = kt_connect(db);
    struct hdb_err err = {0};
    for (uint32_t k = 0; k < 2; k++) {
        struct hdb_verify_report rep;
        cr_assert_eq(hdb_db_verify_shard(c, k, NULL, NULL, &rep, &err), HDB_OK, "%s", err.msg);
        cr_assert_eq(rep.problems, 0, "shard %u: %" PRIu64 " problems", k, rep.problems);
    }
    hdb_db_disconnect(c);
}

static long long data_bytes(void)
{
    long long n = 0;
    for (int k = 0; k < 2; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/shard-%d/data", dir, k);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0, "%s", path);
        n += st.st_size;
    }
    return n;
}

/* VACUUM gives the pages of a dropped table and its indexes back to the file system; what is
 * left stays intact and verifies clean. */
Test(exec, vacuum_shrinks_the_files_after_a_drop)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    o.version_retention_ms = 300; /* VACUUM waits this long for older snapshots */
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE keep (id INTEGER PRIMARY KEY, v TEXT);"
          "INSERT INTO keep (v) VALUES ('a'), ('b'), ('c');"
          "CREATE TABLE big (id INTEGER PRIMARY KEY, email TEXT UNIQUE, pad TEXT);"
          "CREATE INDEX big_pad ON big (pad)");
    for (int i = 0; i < 6000; i++) {
        char sql[400];
        if (i % 500 == 0) {
            ok(s, i == 0 ? "BEGIN" : "COMMIT; BEGIN"); /* each transaction well within 300 ms */
        }
        snprintf(sql, sizeof sql,
                 "INSERT INTO big (email, pad) VALUES ('user%d@example.com', '%0200d')", i, i);
        ok(s, sql);
    }
    ok(s, "COMMIT");
    ok(s, "VACUUM"); /* nothing dropped yet: settles the checkpoints */
    long long full = data_bytes();
    fails(s, "BEGIN; VACUUM", HDB_INVALID, "cannot VACUUM from within a transaction");
    ok(s, "ROLLBACK");
    ok(s, "DROP TABLE big");
    ok(s, "VACUUM");
    long long after = data_bytes();
    cr_assert_lt(after * 3, full, "data files: %lld bytes before, %lld after VACUUM", full, after);
    query_is(s, "SELECT v FROM keep ORDER BY id", "a\nb\nc\n");
    ok(s, "CREATE TABLE big (id INTEGER PRIMARY KEY, email TEXT UNIQUE)");
    ok(s, "INSERT INTO big (email) VALUES ('x'); VACUUM");
    query_is(s, "SELECT email FROM big WHERE email = 'x'", "x\n");
    hdb_sql_session_close(s);
    struct hdb_err err = {0};
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
    db = kt_open(dir, &o);
    verify_shards(db);
    s = session(db);
    query_is(s, "SELECT v FROM keep ORDER BY id", "a\nb\nc\n");
    query_is(s, "SELECT count(*) FROM big", "1\n");
    hdb_sql_session_close(s);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

/* Ranges of the rowid, of a text primary key and of an index (after pinned columns, on a DESC
 * column too) return what a scan returns, with and without a LIMIT the range may stop at. */
Test(exec, key_and_index_ranges_match_scans)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE t (id INTEGER PRIMARY KEY, c INT, d TEXT);"
          "CREATE INDEX tc ON t (c, d DESC);"
          "CREATE TABLE p (k TEXT PRIMARY KEY, v INT)");
    ok(s, "BEGIN");
    for (int i = 1; i <= 120; i++) {
        char sql[200];
        char c[16];
        snprintf(c, sizeof c, "%d", i % 3 == 0 ? 7 : i % 13);
        snprintf(sql, sizeof sql,
                 "INSERT INTO t VALUES (%d, %s, 'd%02d'); INSERT INTO p VALUES ('k%03d', %d)", i,
                 i % 11 == 0 ? "NULL" : c, i % 17, i * 7 % 150, i);
        ok(s, sql);
    }
    ok(s, "COMMIT");
    /* each: the condition with the indexed column, and with an expression no range can use */
    static const char *const conds[][2] = {
        {"id > 100", "id + 0 > 100"},
        {"id >= 100", "id + 0 >= 100"},
        {"id < 5", "id + 0 < 5"},
        {"id <= 5", "id + 0 <= 5"},
        {"id > 10.5 AND id < 20.5", "id + 0 > 10.5 AND id + 0 < 20.5"},
        {"id BETWEEN 30 AND 33", "id + 0 BETWEEN 30 AND 33"},
        {"100 < id", "100 < id + 0"},
        {"id > 'x'", "id + 0 > 'x'"},
        {"id < 'x' AND id > 118", "id + 0 < 'x' AND id + 0 > 118"},
        {"id > NULL", "id + 0 > NULL"},
        {"id > 50 AND c = 7", "id + 0 > 50 AND c + 0 = 7"},
        {"c > 10", "c + 0 > 10"},
        {"c >= 5 AND c <= 7", "c + 0 >= 5 AND c + 0 <= 7"},
        {"c < 2", "c + 0 < 2"},
        {"c BETWEEN 3 AND 4", "c + 0 BETWEEN 3 AND 4"},
        {"c = 7 AND d > 'd10'", "c + 0 = 7 AND d || '' > 'd10'"},
        {"c = 7 AND d <= 'd05'", "c + 0 = 7 AND d || '' <= 'd05'"},
        {"c = 7 AND d BETWEEN 'd03' AND 'd09'", "c + 0 = 7 AND d || '' BETWEEN 'd03' AND 'd09'"},
        {"k > 'k100'", "k || '' > 'k100'"},
        {"k >= 'k010' AND k < 'k020'", "k || '' >= 'k010' AND k || '' < 'k020'"},
        {"k < 'k003'", "k || '' < 'k003'"},
    };
    /* %s: the key column (ORDER BY a number would not let the range stop early) */
    static const char *const tails[] = {"ORDER BY %s", "ORDER BY %s LIMIT 3",
                                        "ORDER BY %s LIMIT 2 OFFSET 1",
                                        "ORDER BY %s DESC LIMIT 2 OFFSET 1"};
    for (size_t i = 0; i < sizeof conds / sizeof conds[0]; i++) {
        for (size_t j = 0; j < sizeof tails / sizeof tails[0]; j++) {
            const char *table = conds[i][0][0] == 'k' ? "p" : "t";
            const char *cols = conds[i][0][0] == 'k' ? "k, v" : "id, c, d";
            char a[512], b[512], tail[64];
            snprintf(tail, sizeof tail, tails[j], conds[i][0][0] == 'k' ? "k" : "id");
            snprintf(a, sizeof a, "SELECT %s FROM %s WHERE %s %s", cols, table, conds[i][0], tail);
            snprintf(b, sizeof b, "SELECT %s FROM %s WHERE %s %s", cols, table, conds[i][1], tail);
            same_rows(s, a, b);
        }
    }
    /* UPDATE and DELETE through a range */
    ok(s, "UPDATE t SET d = 'u' WHERE id BETWEEN 10 AND 12; DELETE FROM t WHERE id > 115");
    query_is(s, "SELECT count(*), sum(d = 'u') FROM t", "115|3\n");
    query_is(s, "EXPLAIN SELECT * FROM t WHERE id > ? AND id < ?",
             "SEARCH t USING PRIMARY KEY (id>? AND id<?) (a range of the key on every shard, "
             "merged in key order)\n");
    query_is(s, "EXPLAIN SELECT * FROM t WHERE c = 7 AND d > ?",
             "SEARCH t USING INDEX tc (c=? AND d>?) (a range of index entries from every shard, "
             "then each row from its shard)\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* The user documents' sensor readings (a partial index that the sync query reads in timestamp
 * order, and the batch UPDATE ... WHERE id IN (...)) and inventory reservation transactions. */
Test(exec, seed_sensor_readings_and_inventory_reservations)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db), *b = session(db);
    ok(s, "CREATE TABLE IF NOT EXISTS sensor_readings ( id INTEGER PRIMARY KEY AUTOINCREMENT, "
          "device_id TEXT NOT NULL, sensor_type TEXT NOT NULL, value REAL NOT NULL, timestamp "
          "INTEGER NOT NULL, synced INTEGER DEFAULT 0 );"
          "CREATE INDEX IF NOT EXISTS idx_readings_sync ON sensor_readings(synced, timestamp) "
          "WHERE synced = 0");
    ok(s, "BEGIN");
    for (int i = 0; i < 90; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO sensor_readings (device_id, sensor_type, value, timestamp) VALUES "
                 "('dev%d', 'temp', %d.5, %d)",
                 i % 4, i, 1700000000 + (i * 37) % 90);
        ok(s, sql);
    }
    ok(s, "INSERT INTO sensor_readings (device_id, sensor_type, value, timestamp) VALUES ('dev9', "
          "'temp', 1.0, strftime('%s', 'now'))");
    ok(s, "COMMIT");
    query_is(s,
             "EXPLAIN SELECT * FROM sensor_readings WHERE synced = 0 ORDER BY timestamp LIMIT 40",
             "SEARCH sensor_readings USING INDEX idx_readings_sync (synced=?) (a range of index "
             "entries from every shard, then each row from its shard)\n"
             "ORDER BY (rows come in order from the index or the key: no sort)\n");
    for (int round = 0; round < 3; round++) {
        same_rows(s, "SELECT * FROM sensor_readings WHERE synced = 0 ORDER BY timestamp LIMIT 40",
                  "SELECT * FROM sensor_readings WHERE synced + 0 = 0 ORDER BY timestamp LIMIT 40");
        char ids[1024] = "";
        size_t at = 0;
        struct hdb_sql_result res = {0};
        struct hdb_err err = {0};
        cr_assert_eq(run(s,
                         "SELECT id FROM sensor_readings WHERE synced = 0 ORDER BY timestamp "
                         "LIMIT 40",
                         &res, &err),
                     HDB_OK, "%s", err.msg);
        for (uint32_t r = 0; r < res.nrows; r++) {
            at += (size_t)snprintf(ids + at, sizeof ids - at, "%s%" PRId64, r > 0 ? ", " : "",
                                   res.rows[r].u.i);
        }
        hdb_sql_result_free(&res);
        char sql[1200];
        snprintf(sql, sizeof sql, "UPDATE sensor_readings SET synced = 1 WHERE id IN (%s)", ids);
        ok(s, sql);
    }
    query_is(s, "SELECT count(*), sum(synced) FROM sensor_readings", "91|91\n");
    query_is(s, "SELECT count(*) FROM sensor_readings WHERE synced = 0", "0\n");

    ok(s, "CREATE TABLE inventory (product_id INTEGER PRIMARY KEY, quantity INTEGER NOT NULL "
          "CHECK (quantity >= 0), reserved INTEGER NOT NULL DEFAULT 0);"
          "CREATE TABLE reservations (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER NOT "
          "NULL, product_id INTEGER NOT NULL, quantity INTEGER NOT NULL);"
          "INSERT INTO inventory (product_id, quantity) VALUES (7, 10), (8, 1)");
    /* reserve 3 of product 7 for order 100 */
    ok(s, "BEGIN");
    query_is(s, "SELECT quantity FROM inventory WHERE product_id = 7", "10\n");
    ok(s, "UPDATE inventory SET quantity = quantity - 3, reserved = reserved + 3 WHERE "
          "product_id = 7;"
          "INSERT INTO reservations (order_id, product_id, quantity) VALUES (100, 7, 3);"
          "COMMIT");
    /* more than there is: the CHECK fails and the transaction only rolls back */
    ok(s, "BEGIN");
    fails(s,
          "UPDATE inventory SET quantity = quantity - 2, reserved = reserved + 2 WHERE "
          "product_id = 8",
          HDB_CONSTRAINT, "CHECK constraint failed: quantity >= 0");
    ok(s, "ROLLBACK");
    /* two reservations of product 7 at once: the later commit conflicts */
    ok(s, "BEGIN; UPDATE inventory SET quantity = quantity - 1, reserved = reserved + 1 WHERE "
          "product_id = 7; INSERT INTO reservations (order_id, product_id, quantity) VALUES (101, "
          "7, 1)");
    ok(b, "UPDATE inventory SET quantity = quantity - 2, reserved = reserved + 2 WHERE "
          "product_id = 7; INSERT INTO reservations (order_id, product_id, quantity) VALUES (102, "
          "7, 2)");
    struct hdb_sql_result res = {0};
    struct hdb_err err = {0};
    cr_assert_eq(run(s, "COMMIT", &res, &err), HDB_CONFLICT, "%s", err.msg);
    hdb_sql_result_free(&res);
    /* compensation for order 100 */
    ok(s, "BEGIN; UPDATE inventory SET quantity = quantity + 3, reserved = reserved - 3 WHERE "
          "product_id = 7; DELETE FROM reservations WHERE order_id = 100; COMMIT");
    query_is(s, "SELECT product_id, quantity, reserved FROM inventory ORDER BY 1",
             "7|8|2\n8|1|0\n");
    query_is(s, "SELECT order_id, quantity FROM reservations", "102|2\n");
    hdb_sql_session_close(s);
    hdb_sql_session_close(b);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* A session reuses its schema without reading the catalog while no DDL committed; a DDL that
 * commits during its transaction still makes that transaction conflict, and the next statement
 * sees the new schema. */
Test(exec, cached_schema_never_outlives_a_ddl)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *a = session(db), *b = session(db);
    ok(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    ok(a, "INSERT INTO t (v) VALUES ('1')");
    query_is(a, "SELECT count(*) FROM t", "1\n"); /* the cached schema serves these */
    ok(a, "BEGIN; INSERT INTO t (v) VALUES ('2')");
    ok(b, "DROP TABLE t");
    struct hdb_sql_result res = {0};
    struct hdb_err err = {0};
    cr_assert_eq(run(a, "COMMIT", &res, &err), HDB_CONFLICT, "an insert into a dropped table");
    hdb_sql_result_free(&res);
    fails(a, "SELECT * FROM t", HDB_INVALID, "no such table: t");
    ok(b, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w INT DEFAULT 5)");
    ok(a, "INSERT INTO t (v) VALUES ('3')");
    query_is(a, "SELECT v, w FROM t", "3|5\n");
    ok(a, "BEGIN");
    query_is(a, "SELECT count(*) FROM t", "1\n");
    ok(b, "ALTER TABLE t ADD COLUMN z TEXT");
    ok(a, "UPDATE t SET w = 6");
    cr_assert_eq(run(a, "COMMIT", &res, &err), HDB_CONFLICT, "planned against the old schema");
    hdb_sql_result_free(&res);
    query_is(a, "SELECT v, w, z FROM t", "3|5|NULL\n");
    hdb_sql_session_close(a);
    hdb_sql_session_close(b);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* WITH RECURSIVE as SQLite runs it (results checked with sqlite3 3.40): counting, UNION dropping
 * repeats so a cycle ends, a tree walked from its root, LIMIT stopping an endless one, and the
 * limits that bound one without LIMIT. */
Test(exec, recursive_common_table_expressions)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    query_is(s,
             "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5) "
             "SELECT group_concat(n) FROM c",
             "1,2,3,4,5\n");
    query_is(s,
             "WITH RECURSIVE fib(a, b) AS (SELECT 0, 1 UNION ALL SELECT b, a + b FROM fib "
             "WHERE b < 50) SELECT max(a) FROM fib",
             "34\n");
    ok(s, "CREATE TABLE edge (src INT, dst INT);"
          "INSERT INTO edge VALUES (1, 2), (2, 3), (3, 1), (3, 4), (5, 6)");
    query_is(s,
             "WITH RECURSIVE reach(node) AS (SELECT 1 UNION SELECT dst FROM edge JOIN reach "
             "ON edge.src = reach.node) SELECT node FROM reach ORDER BY node",
             "1\n2\n3\n4\n");
    ok(s, "CREATE TABLE emp (id INTEGER PRIMARY KEY, boss INT, name TEXT);"
          "INSERT INTO emp VALUES (1, NULL, 'ceo'), (2, 1, 'cto'), (3, 2, 'dev'), (4, 1, 'cfo'),"
          "(5, 3, 'intern')");
    query_is(s,
             "WITH RECURSIVE chain(id, name, depth) AS (SELECT id, name, 0 FROM emp WHERE boss "
             "IS NULL UNION ALL SELECT e.id, e.name, c.depth + 1 FROM emp e JOIN chain c ON "
             "e.boss = c.id) SELECT name, depth FROM chain ORDER BY depth, name",
             "ceo|0\ncfo|1\ncto|1\ndev|2\nintern|3\n");
    query_is(s,
             "WITH RECURSIVE forever(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM forever "
             "LIMIT 7) SELECT count(*), max(n) FROM forever",
             "7|7\n");
    query_is(s,
             "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3) "
             "SELECT x.n, y.n FROM c x, c y WHERE x.n = y.n ORDER BY 1",
             "1|1\n2|2\n3|3\n");
    fails(s,
          "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n, n FROM c WHERE n < 3) SELECT * "
          "FROM c",
          HDB_INVALID, "do not have the same number of result columns");
    hdb_sql_session_set_work_mem(s, 64); /* a step's own memory goes when the step is done */
    query_is(s,
             "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 200000) "
             "SELECT count(*), sum(n) FROM c",
             "200000|20000100000\n");
    hdb_sql_session_set_work_mem(s, 1); /* what stops one that never ends */
    fails(s,
          "WITH RECURSIVE forever(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM forever) SELECT "
          "count(*) FROM forever",
          HDB_TOOBIG, "work_mem_mb");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* A scan of a whole table streams page by page: aggregates, filters, GROUP BY and DISTINCT over a
 * table bigger than work_mem_mb work, with the same answers; what must hold every row (a sort of
 * all of them, a group per row) still fails naming the limit. */
Test(exec, scans_stream_past_work_mem)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE big (id INTEGER PRIMARY KEY, pad TEXT, g INT)");
    char sql[300];
    for (int i = 0; i < 20000; i++) {
        if (i % 2000 == 0) {
            ok(s, i == 0 ? "BEGIN" : "COMMIT; BEGIN");
        }
        snprintf(sql, sizeof sql, "INSERT INTO big (pad, g) VALUES ('%0150d', %d)", i, i % 7);
        ok(s, sql);
    }
    ok(s, "COMMIT");
    hdb_sql_session_set_work_mem(s, 2);
    query_is(s,
             "SELECT count(*), sum(length(pad)), min(pad) = printf('%0150d', 0), max(id), "
             "avg(g) FROM big",
             "20000|3000000|1|20000|2.99985\n");
    query_is(s, "SELECT id, g FROM big WHERE id % 5000 = 0", "5000|1\n10000|3\n15000|5\n20000|0\n");
    query_is(s, "SELECT count(DISTINCT g), group_concat(DISTINCT g) FROM big WHERE id > 19990",
             "7|5,6,0,1,2,3,4\n");
    query_is(s, "SELECT max(length(pad || pad)) FROM big", "300\n");
    fails(s, "SELECT pad FROM big ORDER BY pad DESC LIMIT 1", HDB_TOOBIG, "work_mem_mb (2 MiB)");
    query_is(s, "SELECT g, count(*), max(id), length(pad) FROM big GROUP BY g ORDER BY g LIMIT 2",
             "0|2858|20000|150\n1|2857|19994|150\n");
    query_is(s, "SELECT g, substr(pad, 147) FROM big WHERE id > 19995 GROUP BY g ORDER BY g",
             "0|9999\n3|9995\n4|9996\n5|9997\n6|9998\n");
    query_is(s, "SELECT DISTINCT g * 2 FROM big ORDER BY 1 DESC LIMIT 2", "12\n10\n");
    fails(s, "SELECT pad, count(*) FROM big GROUP BY pad", HDB_TOOBIG, "work_mem_mb (2 MiB)");
    fails(s, "SELECT DISTINCT pad FROM big", HDB_TOOBIG, "work_mem_mb (2 MiB)");
    hdb_sql_session_set_work_mem(s, 256);
    query_is(s, "SELECT g, count(*) FROM big GROUP BY g ORDER BY g LIMIT 2", "0|2858\n1|2857\n");
    query_is(s, "SELECT count(*) FROM (SELECT pad, count(*) FROM big GROUP BY pad)", "20000\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* UPDATE ... FROM as SQLite runs it (answers checked with sqlite3 3.40). */
Test(exec, update_from_joins_other_tables)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE inv (sku TEXT PRIMARY KEY, qty INT);"
          "CREATE TABLE delta (sku TEXT, n INT, day INT);"
          "CREATE TABLE price (sku TEXT, p REAL);"
          "INSERT INTO inv VALUES ('a', 10), ('b', 20), ('c', 30);"
          "INSERT INTO delta VALUES ('a', -3, 1), ('b', 5, 1), ('x', 9, 1);"
          "INSERT INTO price VALUES ('a', 1.5), ('b', 2.5)");
    query_is(s,
             "UPDATE inv SET qty = qty + delta.n FROM delta WHERE delta.sku = inv.sku "
             "RETURNING sku, qty",
             "a|7\nb|25\n");
    query_is(s, "SELECT sku, qty FROM inv ORDER BY sku", "a|7\nb|25\nc|30\n");
    ok(s, "UPDATE inv AS i SET qty = i.qty * 2 FROM delta d JOIN price p ON p.sku = d.sku "
          "WHERE d.sku = i.sku AND p.p > 2");
    query_is(s, "SELECT sku, qty FROM inv ORDER BY sku", "a|7\nb|50\nc|30\n");
    ok(s, "UPDATE inv SET qty = (SELECT sum(n) FROM delta) FROM (SELECT 'c' AS k) AS q "
          "WHERE inv.sku = q.k");
    query_is(s, "SELECT qty FROM inv WHERE sku = 'c'", "11\n");
    fails(s, "UPDATE inv SET nosuch = 1 FROM delta", HDB_INVALID, "no such column: nosuch");
    fails(s, "UPDATE inv SET qty = nosuch.n FROM delta", HDB_INVALID, "no such column");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* RIGHT and FULL joins as SQLite 3.40 answers them. */
Test(exec, right_and_full_joins)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE a (x INT, av TEXT); CREATE TABLE b (x INT, bv TEXT);"
          "CREATE TABLE c (x INT, cv TEXT);"
          "INSERT INTO a VALUES (1, 'a1'), (2, 'a2'), (3, 'a3');"
          "INSERT INTO b VALUES (2, 'b2'), (3, 'b3'), (4, 'b4');"
          "INSERT INTO c VALUES (3, 'c3'), (4, 'c4'), (5, 'c5')");
    query_is(s, "SELECT a.x, av, b.x, bv FROM a RIGHT JOIN b ON a.x = b.x ORDER BY 3",
             "2|a2|2|b2\n3|a3|3|b3\nNULL|NULL|4|b4\n");
    query_is(s,
             "SELECT a.x, av, b.x, bv FROM a FULL JOIN b ON a.x = b.x ORDER BY coalesce(a.x, b.x)",
             "1|a1|NULL|NULL\n2|a2|2|b2\n3|a3|3|b3\nNULL|NULL|4|b4\n");
    query_is(s,
             "SELECT av, bv, cv FROM a LEFT JOIN b ON a.x = b.x RIGHT JOIN c ON c.x = b.x "
             "ORDER BY cv",
             "a3|b3|c3\nNULL|NULL|c4\nNULL|NULL|c5\n");
    query_is(s, "SELECT count(*) FROM a FULL JOIN b ON a.x = b.x WHERE a.x IS NULL OR b.x IS NULL",
             "2\n");
    query_is(s,
             "SELECT av, bv, cv FROM a FULL JOIN b ON a.x = b.x FULL JOIN c ON c.x = "
             "coalesce(a.x, b.x) ORDER BY coalesce(a.x, b.x, c.x)",
             "a1|NULL|NULL\na2|b2|NULL\na3|b3|c3\nNULL|b4|c4\nNULL|NULL|c5\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* DEFAULT values: literals, expressions evaluated per row at the statement's time, and the
 * DEFAULT VALUES form. */
Test(exec, default_expressions_fill_missing_columns)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s,
       "CREATE TABLE ev (id INTEGER PRIMARY KEY, kind TEXT DEFAULT 'note', n INT DEFAULT (1 + 2),"
       " created_at INTEGER DEFAULT (strftime('%s', 'now')), day TEXT DEFAULT (date('now')),"
       " price DECIMAL(8,2) DEFAULT 9.5, flag INT DEFAULT -1)");
    ok(s, "INSERT INTO ev (id) VALUES (1); INSERT INTO ev DEFAULT VALUES;"
          "INSERT INTO ev (kind, n) VALUES ('alert', NULL)");
    query_is(s, "SELECT id, kind, n, price, flag FROM ev ORDER BY id",
             "1|note|3|9.50|-1\n2|note|3|9.50|-1\n3|alert|NULL|9.50|-1\n");
    query_is(s,
             "SELECT count(*) FROM ev WHERE abs(created_at - unixepoch()) < 60 AND day = "
             "date(created_at, 'unixepoch')",
             "3\n");
    ok(s, "CREATE TABLE bad (a INT DEFAULT (nosuch_fn()))"); /* as SQLite: found when used */
    fails(s, "INSERT INTO bad DEFAULT VALUES", HDB_INVALID, "no such function: nosuch_fn");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

struct transfer_worker {
    struct hdb_db *db;
    uint64_t seed;
    int done, failed;
};

static void *transfer_run(void *arg)
{
    struct transfer_worker *w = arg;
    struct hdb_sql_session *s = NULL;
    struct hdb_err err = {0};
    if (hdb_sql_session_open(w->db, &s, &err) != HDB_OK) {
        w->failed++;
        return NULL;
    }
    for (int i = 0; i < 150; i++) {
        w->seed = w->seed * 6364136223846793005ull + 1442695040888963407ull;
        int a = (int)((w->seed >> 33) % 200) + 1, b = (int)((w->seed >> 20) % 200) + 1,
            k = (int)((w->seed >> 50) % 10) + 1;
        char sql[256];
        snprintf(sql, sizeof sql,
                 "BEGIN; UPDATE acct SET bal = bal - %d WHERE id = %d; UPDATE acct SET bal = bal + "
                 "%d WHERE id = %d; COMMIT",
                 k, a, k, b);
        struct hdb_sql_result res = {0};
        int rc = run(s, sql, &res, &err);
        hdb_sql_result_free(&res);
        if (rc != HDB_OK) { /* a conflict: the transaction is over either way */
            run(s, "ROLLBACK", &res, &err);
            hdb_sql_result_free(&res);
            w->failed += rc != HDB_CONFLICT;
            continue;
        }
        w->done++;
    }
    hdb_sql_session_close(s);
    return NULL;
}

/* Scatter queries over every shard see one consistent snapshot while other sessions move money
 * between rows on different shards: the total never changes. */
Test(exec, scatter_queries_stay_consistent_under_writes)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INT NOT NULL)");
    ok(s, "BEGIN");
    for (int i = 1; i <= 200; i++) {
        char sql[80];
        snprintf(sql, sizeof sql, "INSERT INTO acct VALUES (%d, 100)", i);
        ok(s, sql);
    }
    ok(s, "COMMIT");
    static struct transfer_worker w[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (struct transfer_worker){.db = db, .seed = (uint64_t)i * 7919 + 1};
        cr_assert_eq(pthread_create(&th[i], NULL, transfer_run, &w[i]), 0);
    }
    int reads = 0;
    for (; reads < 400 && (w[0].done + w[0].failed + w[1].done + w[1].failed < 300 || reads < 20);
         reads++) {
        query_is(s, "SELECT sum(bal), count(*) FROM acct", "20000|200\n");
        query_is(s, "SELECT count(*) FROM (SELECT id FROM acct WHERE bal <> 100 OR bal = 100)",
                 "200\n");
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].failed, 0, "session %d: %d transfers failed with an error", i,
                     w[i].failed);
    }
    cr_assert_gt(w[0].done + w[1].done, 0);
    query_is(s, "SELECT sum(bal), count(*) FROM acct", "20000|200\n");
    cr_log_info("%d consistent scatter reads while %d transfers committed", reads,
                w[0].done + w[1].done);
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* A row and its non-unique index entries are written on the row's shard: inserting into a table
 * with such an index is a one-shard commit (no two-phase commit), and lookups still find all. */
Test(exec, non_unique_index_entries_stay_with_their_row)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INT, "
          "created_at INT);"
          "CREATE INDEX by_customer ON orders (customer_id, created_at DESC)");
    /* the first statement after DDL reads the catalog (on its shard); later ones need not */
    ok(s, "INSERT INTO orders (customer_id, created_at) VALUES (1, 999)");
    struct hdb_conn *c = kt_connect(db);
    struct hdb_err err = {0};
    uint64_t before = 0, after = 0;
    for (uint32_t k = 0; k < 2; k++) {
        struct hdb_shard_stats st;
        cr_assert_eq(hdb_db_shard_stats(c, k, &st, &err), HDB_OK);
        before += st.prepares;
    }
    for (int i = 0; i < 60; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "INSERT INTO orders (customer_id, created_at) VALUES (%d, %d)",
                 i % 5, 1000 + i);
        ok(s, sql);
    }
    for (uint32_t k = 0; k < 2; k++) {
        struct hdb_shard_stats st;
        cr_assert_eq(hdb_db_shard_stats(c, k, &st, &err), HDB_OK);
        after += st.prepares;
    }
    cr_assert_eq(after - before, 0, "%" PRIu64 " prepares: the inserts were not one-shard commits",
                 after - before);
    /* these scan every shard, so they commit over both */
    ok(s,
       "UPDATE orders SET customer_id = 9 WHERE id % 10 = 0; DELETE FROM orders WHERE id % 7 = 0");
    for (int cust = 0; cust < 10; cust++) {
        char a[200], b[200];
        snprintf(a, sizeof a,
                 "SELECT id FROM orders WHERE customer_id = %d ORDER BY created_at DESC", cust);
        snprintf(b, sizeof b,
                 "SELECT id FROM orders WHERE customer_id + 0 = %d ORDER BY created_at DESC", cust);
        same_rows(s, a, b);
    }
    hdb_db_disconnect(c);
    hdb_sql_session_close(s);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* An aggregate over one whole table is folded on each shard's thread and merged: the answers are
 * those of one pass over all rows (checked against sums the test keeps), EXPLAIN says where it
 * runs, the transaction's own writes and subqueries send it back to the coordinator, a part's
 * error (overflow, work_mem_mb, statement_timeout_ms) is the statement's. */
Test(exec, aggregates_fold_on_each_shard)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE m (id INTEGER PRIMARY KEY, g TEXT, v INT, r REAL, d DECIMAL(20,2), "
          "name TEXT)");
    int64_t count[7] = {0}, sum[7] = {0}, vmax = 0, vmin = 1000000, high = 0, max_at = 0;
    ok(s, "BEGIN");
    for (int i = 1; i <= 6000; i++) {
        int v = (i * 7919) % 10007;
        char sql[200];
        snprintf(sql, sizeof sql, "INSERT INTO m VALUES (%d, 'g%d', %d, %d.5, 0.10, 'n%d')", i,
                 i % 7, v, i % 3, i);
        ok(s, sql);
        count[i % 7]++;
        sum[i % 7] += v;
        max_at = v > vmax ? i : max_at;
        vmax = v > vmax ? v : vmax;
        high += v > 5000 && i % 7 != 3;
        vmin = v < vmin ? v : vmin;
    }
    ok(s, "COMMIT");
    query_is(s, "EXPLAIN SELECT g, count(*) FROM m GROUP BY g",
             "SCAN m (full scan of all 2 shards)\nAGGREGATE (partial on each shard's thread over "
             "its rows, merged at the coordinator: GROUP BY by hash)\n");
    query_is(s, "EXPLAIN SELECT group_concat(g) FROM m", "SCAN m (full scan of all 2 shards)\n");
    char want[2048];
    int at = 0;
    for (int g = 0; g < 7; g++) {
        at += snprintf(want + at, sizeof want - at, "g%d|%lld|%lld|%g\n", g, (long long)count[g],
                       (long long)sum[g], round((double)sum[g] / (double)count[g] * 10) / 10);
    }
    query_is(s, "SELECT g, count(*), sum(v), round(avg(v), 1) FROM m GROUP BY g ORDER BY g", want);
    snprintf(want, sizeof want, "6000|%lld|%lld|9000|600.00|6001000\n", (long long)vmin,
             (long long)vmax);
    query_is(s,
             "SELECT count(v), min(v), max(v), sum(r), sum(d), CAST(total(id) / 3 AS INT) FROM m",
             want);
    snprintf(want, sizeof want, "decimal|%lld\n", (long long)high);
    query_is(s, "SELECT typeof(sum(d)), count(*) FROM m WHERE v > 5000 AND g <> 'g3' HAVING 1",
             want);
    /* bare columns come from the row holding the only max() */
    snprintf(want, sizeof want, "n%lld|%lld|g%lld\n", (long long)max_at, (long long)vmax,
             (long long)(max_at % 7));
    query_is(s, "SELECT name, max(v), g FROM m", want);
    query_is(s, "SELECT g, min(id), name FROM m GROUP BY g HAVING count(*) > 857 ORDER BY 1",
             "g1|1|n1\n");
    /* subqueries stay at the coordinator; so does a transaction that wrote the table */
    query_is(s, "SELECT count(*) FROM m WHERE id IN (SELECT id FROM m WHERE v < 10)", "6\n");
    ok(s, "BEGIN; INSERT INTO m (id, g, v) VALUES (7000, 'g0', 1); DELETE FROM m WHERE id = 1");
    snprintf(want, sizeof want, "%lld|%lld\n", (long long)count[0] + 1, (long long)sum[0] + 1);
    query_is(s, "SELECT count(*), sum(v) FROM m WHERE g = 'g0'", want);
    ok(s, "ROLLBACK");
    /* errors of a part */
    ok(s, "CREATE TABLE o (id INTEGER PRIMARY KEY, v INT)");
    for (int i = 1; i <= 9; i++) { /* 9 * 2^60 > 2^63: over in the merge if not in a part */
        char sql[80];
        snprintf(sql, sizeof sql, "INSERT INTO o VALUES (%d, %lld)", i, 1ll << 60);
        ok(s, sql);
    }
    fails(s, "SELECT sum(v) FROM o", HDB_TOOBIG, "integer overflow");
    query_is(s, "SELECT total(v) = 9.0 * (1 << 60), count(*) FROM o", "1|9\n");
    hdb_sql_session_set_work_mem(s, 1);
    fails(s, "SELECT name, count(*) FROM m GROUP BY printf('%0400d', id)", HDB_TOOBIG,
          "work_mem_mb (1 MiB)");
    hdb_sql_session_set_work_mem(s, 256);
    hdb_sql_session_set_timeout(s, 5);
    fails(s,
          "SELECT count(*) FROM m a WHERE length(printf('%020000d', id) || printf('%020000d', v)) "
          "> 0",
          HDB_TIMEOUT, "statement_timeout_ms (5 ms)");
    hdb_sql_session_set_timeout(s, 0);
    query_is(s, "SELECT count(*) FROM m", "6000\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* A subquery that reads no outer column runs once per statement and is kept (IN: sorted), as
 * SQLite runs it (answers checked with sqlite3): an UPDATE sees it as it was before the statement
 * wrote, and a big table
 * filtered by IN (SELECT ...) over itself needs one run, not one per row (which would not fit in
 * 4 MiB); correlated ones still run per row. */
Test(exec, subqueries_without_outer_columns_run_once)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE s (id INTEGER PRIMARY KEY, v INT)");
    ok(s, "INSERT INTO s (v) VALUES (1), (2), (3), (4), (5), (NULL)");
    ok(s, "UPDATE s SET v = v + 10 WHERE v < (SELECT max(v) FROM s)");
    query_is(s, "SELECT group_concat(v) FROM s", "11,12,13,14,5\n");
    ok(s, "DELETE FROM s WHERE v > (SELECT min(v) FROM s) AND v < 14");
    query_is(s, "SELECT group_concat(v) FROM s", "14,5\n");
    query_is(s, "SELECT id, v NOT IN (SELECT v FROM s WHERE id > 4) FROM s ORDER BY id",
             "4|NULL\n5|0\n6|NULL\n");
    query_is(s, "SELECT id, (SELECT count(*) FROM s b WHERE b.id <= a.id) FROM s a ORDER BY 1",
             "4|1\n5|2\n6|3\n");
    query_is(s, "SELECT id, EXISTS (SELECT 1 FROM s b WHERE b.v > a.v) FROM s a ORDER BY 1",
             "4|0\n5|1\n6|0\n");
    ok(s, "CREATE TABLE big (id INTEGER PRIMARY KEY, g INT)");
    ok(s, "INSERT INTO big (g) SELECT n % 7 FROM (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL "
          "SELECT n + 1 FROM c WHERE n < 20000) SELECT n FROM c)");
    hdb_sql_session_set_work_mem(s, 4);
    query_is(s,
             "SELECT count(*), sum(id IN (SELECT id FROM big WHERE g = 3)) FROM big WHERE id IN "
             "(SELECT id FROM big WHERE g IN (3, 4)) AND g <> (SELECT min(g) + 4 FROM big)",
             "2857|2857\n");
    query_is(s,
             "SELECT g, (SELECT count(*) FROM big b WHERE b.g = a.g AND b.id < 30) FROM big a "
             "WHERE id < 4",
             "1|5\n2|4\n3|4\n");
    /* IN (SELECT ...) on the key: point reads when it reads no outer column (EXPLAIN says so),
     * else the scan with the subquery per row; answers checked with sqlite3 */
    query_is(s,
             "SELECT count(*), sum(g) FROM big WHERE id IN (SELECT id * 3 FROM big WHERE id < 300)",
             "299|899\n");
    query_is(s,
             "SELECT a.id FROM big a WHERE id IN (SELECT b.id + 1 FROM big b WHERE b.g = a.g - 1 "
             "AND b.id < 10) ORDER BY 1",
             "2\n3\n4\n5\n6\n8\n9\n10\n");
    query_is(s, "SELECT count(*) FROM big WHERE id IN (SELECT id FROM big WHERE g = 0)", "2857\n");
    /* an empty kept result (the binary search must not be handed an empty array) */
    query_is(s,
             "SELECT count(*), sum(g IN (SELECT g FROM big WHERE g > 99)), "
             "sum(g NOT IN (SELECT g FROM big WHERE g > 99)) FROM big WHERE id < 10 OR "
             "g IN (SELECT g FROM big WHERE id < 0)",
             "9|0|9\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* CREATE INDEX in autocommit on a table past one transaction's write limit: the entries are
 * written in batches by a connection of its own while the statement reads the rows; a UNIQUE one
 * that meets a duplicate late fails and leaves no index, and what its batches wrote is cleared by
 * the next build that gets the same id (in autocommit at once; inside BEGIN as a conflict). Inside
 * BEGIN the entries are the transaction's own writes, within its limit. */
Test(exec, create_index_on_a_big_table)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE big (id INTEGER PRIMARY KEY, k INT, tag TEXT)");
    for (int from = 0; from < 120000; from += 40000) {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "INSERT INTO big SELECT n, CASE WHEN n = 119999 THEN 5 ELSE n END, 't' || (n %% "
                 "100) FROM (WITH RECURSIVE c(n) AS (SELECT %d UNION ALL SELECT n + 1 FROM c "
                 "WHERE n < %d) SELECT n FROM c)",
                 from + 1, from + 40000);
        ok(s, sql);
    }
    fails(s, "CREATE UNIQUE INDEX big_k ON big (k)", HDB_CONSTRAINT, "UNIQUE constraint failed");
    query_is(s, "EXPLAIN SELECT id FROM big WHERE k = 5", "SCAN big (full scan of all 2 shards)\n");
    fails(s, "BEGIN; CREATE INDEX big_tag ON big (tag, k)", HDB_CONFLICT,
          "entries of an earlier failed build were cleared");
    ok(s, "ROLLBACK");
    /* inside a transaction, the entries are its writes: 120,000 are over its limit */
    fails(s, "BEGIN; CREATE INDEX big_tag ON big (tag, k)", HDB_TOOBIG,
          "a transaction writes at most 100000 keys");
    ok(s, "ROLLBACK");
    ok(s, "BEGIN; CREATE INDEX big_id ON big (id) WHERE id > 100000; COMMIT");
    query_is(s, "SELECT count(*) FROM big WHERE id > 100000 AND id < 100010", "9\n");
    ok(s, "CREATE INDEX big_tag ON big (tag, k)");
    query_is(s, "SELECT count(*), min(k), max(k) FROM big WHERE tag = 't7'", "1200|7|119907\n");
    query_is(s, "EXPLAIN SELECT id FROM big WHERE tag = 't42' AND k > 119000",
             "SEARCH big USING INDEX big_tag (tag=? AND k>?) (a range of index entries from "
             "every shard, then each row from its shard)\n");
    query_is(s, "SELECT id FROM big WHERE tag = 't42' AND k > 119000 ORDER BY k",
             "119042\n119142\n119242\n119342\n119442\n119542\n119642\n119742\n119842\n119942\n");
    query_is(s, "SELECT count(*) FROM big WHERE tag = 't99'", "1200\n");
    ok(s, "UPDATE big SET k = 119999 WHERE id = 119999");
    ok(s, "CREATE UNIQUE INDEX big_k ON big (k)");
    fails(s, "INSERT INTO big VALUES (200000, 5, 'x')", HDB_CONSTRAINT, "big.k");
    query_is(s, "SELECT id FROM big WHERE k = 119999", "119999\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}

/* VACUUM after deleting most rows of a live table: its pages (rows, a UNIQUE constraint's and an
 * index's entries) move down from the files' ends into the freed pages and the files shrink;
 * every row left, every lookup and the storage verification are right, also after a reopen. */
Test(exec, vacuum_compacts_a_table_after_deletes)
{
    struct hdb_db_opts o;
    kt_opts(&o, 2);
    o.version_retention_ms = 300; /* VACUUM waits this long for older snapshots */
    struct hdb_db *db = kt_open(dir, &o);
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE, pad TEXT);"
          "CREATE INDEX t_pad ON t (pad)");
    for (int from = 1; from <= 20000; from += 5000) { /* 4 MiB WAL segments: in four commits */
        char sql[400];
        snprintf(sql, sizeof sql,
                 "INSERT INTO t SELECT n, 'u' || n || '@example.com', printf('%%0200d', n) FROM "
                 "(WITH RECURSIVE c(n) AS (SELECT %d UNION ALL SELECT n + 1 FROM c WHERE n < %d) "
                 "SELECT n FROM c)",
                 from, from + 4999);
        ok(s, sql);
    }
    ok(s, "VACUUM"); /* settles the checkpoints */
    long long full = data_bytes();
    ok(s, "DELETE FROM t WHERE id % 10 <> 0");
    ok(s, "VACUUM");
    long long after = data_bytes();
    cr_assert_lt(after * 3, full, "data files: %lld bytes before, %lld after VACUUM", full, after);
    query_is(s, "SELECT count(*), sum(id), min(id), max(id) FROM t", "2000|20010000|10|20000\n");
    query_is(s, "SELECT id FROM t WHERE email = 'u12340@example.com'", "12340\n");
    query_is(s, "SELECT id FROM t WHERE pad = printf('%0200d', 19990)", "19990\n");
    fails(s, "INSERT INTO t (email) VALUES ('u20@example.com')", HDB_CONSTRAINT, "t.email");
    hdb_sql_session_close(s);
    struct hdb_err err = {0};
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
    db = kt_open(dir, &o);
    verify_shards(db);
    s = session(db);
    query_is(s, "SELECT count(*), sum(length(pad)) FROM t WHERE id > 10000", "1000|200000\n");
    query_is(s, "SELECT count(*) FROM t WHERE pad > printf('%0200d', 15000)", "500\n");
    hdb_sql_session_close(s);
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK, "%s", err.msg);
}

/* ORDER BY ... NULLS FIRST / NULLS LAST move the NULLs (SQLite's default: first when ASC, last
 * when DESC), also where an index would give the order without them (found by the REST API). */
Test(exec, order_by_nulls_first_and_last)
{
    struct hdb_db *db = open_db();
    struct hdb_sql_session *s = session(db);
    ok(s, "CREATE TABLE n (a INT, b INT); CREATE INDEX n_b ON n (b);"
          "INSERT INTO n VALUES (1, NULL), (2, 5), (3, NULL), (4, 1)");
    query_is(s, "SELECT a FROM n ORDER BY b, a", "1\n3\n4\n2\n");
    query_is(s, "SELECT a FROM n ORDER BY b NULLS LAST, a", "4\n2\n1\n3\n");
    query_is(s, "SELECT a FROM n ORDER BY b DESC, a", "2\n4\n1\n3\n");
    query_is(s, "SELECT a FROM n ORDER BY b DESC NULLS FIRST, a", "1\n3\n2\n4\n");
    query_is(s, "SELECT a FROM n WHERE b > 0 OR b IS NULL ORDER BY b NULLS LAST LIMIT 2", "4\n2\n");
    hdb_sql_session_close(s);
    struct hdb_err err;
    cr_assert_eq(hdb_db_close(db, &err), HDB_OK);
}
