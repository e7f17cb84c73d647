/*
 * test_fuzz_sql.c — deterministic mutation fuzzing of SQL through the public
 * API (include/heliosdb.h).
 *
 * A corpus of valid statements covering the dialect (this file's `corpus`
 * plus tests/sql/corpus_sample.inc, sampled from the sqllogictest files) is
 * mutated at random — token level (swap, duplicate, delete, identifiers
 * replaced by other identifiers or keywords, literals by extreme values:
 * huge integers, INT64_MIN, 1e308, NaN-producing math, long strings,
 * invalid UTF-8, NULL), byte level (flip, insert, delete) and by splicing
 * two statements — plus statements around random expressions (functions,
 * casts, operators, subqueries over hard arguments), and each is prepared, bound with random values
 * of every type and stepped, its columns read with every accessor. The promise checked: every call
 * returns OK/ROW/DONE or an error code with a message; nothing crashes and ASan/UBSan report
 * nothing. A table only valid statements write (`ledger`) keeps its expected count and sum, and
 * after the run every shard verifies (as `heliosdb check` does) and the database reopens with the
 * ledger intact.
 *
 * Bounded: tables stay tiny (the fuzzed tables are dropped and made again
 * every RESET_EVERY statements), statement_timeout_ms and work_mem_mb are
 * set low in the test's configuration, at most ROWS_MAX rows are read per
 * statement, and VACUUM (which waits version_retention_ms, 5 s) is prepared
 * but never run. Fixed seeds; $HDB_FUZZ_SCALE (a float, default 1)
 * multiplies the iteration counts for longer local runs, e.g.
 *   HDB_FUZZ_SCALE=20 ./build/tests/test_fuzz_sql
 * $HDB_FUZZ_SEED (an integer) replaces the main test's seed to explore, and
 * $HDB_FUZZ_TRACE (set) prints each text before it runs, to find one that fails.
 *
 * The tests after the fuzz loop keep each input that once failed as a fixed
 * case with the answer it must give.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "heliosdb.h"
#include "shards/kv.h"
#include "sql/api_int.h"
#include "tests/core/testutil.h"

#define ITERATIONS      80000u /* statements per run in the normal build */
#define ITERATIONS_ASAN 80000u /* ... and under ASan+UBSan */
#define RESET_EVERY     150u   /* fuzzed tables are dropped and made again this often */
/* The database is closed and opened again this often, which exercises recovery (it also kept
 * the shard layer's table registry, which once held dropped tables too, below its limit). */
#define REOPEN_EVERY_RESETS  32u
#define LEDGER_EVERY         7u   /* a valid write to the ledger this often */
#define ROWS_MAX             500u /* rows read from one statement */
#define PARAMS_BOUND_MAX     40   /* parameters given random values (others stay NULL) */
#define TOKENS_MAX           512u /* tokens of one statement considered for mutation */
#define TEXT_BYTES_MAX       (96u << 10)
#define LONG_STRING_BYTES    20000u
#define MUTATIONS_MAX        4u
#define STATEMENT_TIMEOUT_MS 1000u

static char *dir;

static void setup(void)
{
    dir = tu_mkdtemp("fuzzsql");
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

TestSuite(fuzz_sql, .init = setup, .fini = teardown, .timeout = 600);

/* --- the corpus ------------------------------------------------------------------------- */

/* The fuzzed tables, made again at every reset. */
static const char *const schema_sql =
    "CREATE TABLE t1 (a INTEGER PRIMARY KEY, b TEXT NOT NULL DEFAULT 'x', c REAL, "
    "d DECIMAL(10,2) CHECK (d IS NULL OR d > -1000), e BLOB);"
    "CREATE TABLE t2 (id INTEGER PRIMARY KEY AUTOINCREMENT, t1a INTEGER, name TEXT UNIQUE, "
    "qty INTEGER DEFAULT 0 CHECK (qty >= 0), price DECIMAL(8,3));"
    "CREATE TABLE t3 (k TEXT, n INTEGER, v TEXT, PRIMARY KEY (k, n));"
    "CREATE INDEX t1_b ON t1 (b);"
    "CREATE INDEX t2_qty_desc ON t2 (qty DESC, name);"
    "CREATE UNIQUE INDEX t3_v ON t3 (v) WHERE v IS NOT NULL;"
    "INSERT INTO t1 VALUES (1, 'one', 1.5, 10.25, x'01'), (2, 'two', -2.25, 3.5, NULL), "
    "(3, 'three', NULL, NULL, x''), (4, 'Four', 1e10, 999.99, x'ff00');"
    "INSERT INTO t2 (t1a, name, qty, price) VALUES (1, 'apple', 3, 1.5), (2, 'pear', 0, 2.125), "
    "(1, 'plum', 7, NULL), (9, NULL, 1, 0.001);"
    "INSERT INTO t3 VALUES ('a', 1, 'x'), ('a', 2, NULL), ('b', 1, 'y'), ('c', 3, 'z');";

static const char *const corpus[] = {
    "CREATE TABLE IF NOT EXISTS t4 (id INTEGER PRIMARY KEY, s TEXT COLLATE NOCASE, "
    "n NUMERIC DEFAULT 42, CHECK (length(s) < 100))",
    "CREATE TABLE t5 (a INT NOT NULL, b VARCHAR(10) DEFAULT 'q', c DOUBLE PRECISION, "
    "CONSTRAINT pk5 PRIMARY KEY (a), CONSTRAINT ck5 CHECK (a > 0), UNIQUE (b, c))",
    "CREATE TABLE t6 (x DECIMAL(38,10), y DECIMAL(5,0), z DECIMAL(12,2) NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS t1_cd ON t1 (c DESC, d)",
    "CREATE INDEX t2_part ON t2 (t1a) WHERE qty > 0",
    "CREATE UNIQUE INDEX t2_name_u ON t2 (name, t1a)",
    "INSERT INTO t1 (a, b, c) VALUES (10, 'ten', 10.0)",
    "INSERT INTO t1 VALUES (?, ?, ?, ?, ?)",
    "INSERT INTO t1 (b, d) VALUES (?1, ?2) RETURNING a, b, d",
    "INSERT INTO t2 (t1a, name, qty) SELECT a, b || '-copy', 1 FROM t1 WHERE a < 3",
    "INSERT INTO t2 (name, qty) VALUES ('apple', 5) ON CONFLICT (name) DO UPDATE SET qty = "
    "qty + excluded.qty WHERE excluded.qty > 0",
    "INSERT INTO t2 (name) VALUES ('pear') ON CONFLICT DO NOTHING",
    "INSERT OR IGNORE INTO t1 VALUES (1, 'dup', 0, 0, NULL)",
    "INSERT OR REPLACE INTO t3 VALUES ('a', 1, 'w')",
    "REPLACE INTO t3 (k, n, v) VALUES (:k, :n, :v)",
    "INSERT INTO t6 VALUES (12345678901234567890.0123456789, 99999, 1.005)",
    "INSERT INTO t1 DEFAULT VALUES",
    "UPDATE t1 SET c = c * 2, b = upper(b) WHERE a BETWEEN 1 AND 3",
    "UPDATE t2 SET qty = qty + 1 WHERE name LIKE 'p%' RETURNING id, qty",
    "UPDATE t2 SET price = price * 1.1 WHERE id IN (SELECT a FROM t1 WHERE c > 0)",
    "UPDATE t3 SET v = NULL WHERE k = ? AND n = ?",
    "UPDATE t2 SET qty = t1.a FROM t1 WHERE t1.a = t2.t1a",
    "DELETE FROM t2 WHERE qty = 0 RETURNING *",
    "DELETE FROM t1 WHERE a NOT IN (SELECT t1a FROM t2 WHERE t1a IS NOT NULL) AND a > 3",
    "DELETE FROM t3 WHERE EXISTS (SELECT 1 FROM t1 WHERE t1.b = t3.v)",
    "SELECT * FROM t1",
    "SELECT a, b, c FROM t1 WHERE a = ? OR b = ?",
    "SELECT t1.a, t2.name FROM t1 JOIN t2 ON t2.t1a = t1.a ORDER BY t1.a DESC, t2.name",
    "SELECT t1.a, t2.name FROM t1 LEFT JOIN t2 ON t2.t1a = t1.a WHERE t2.id IS NULL",
    "SELECT * FROM t1 CROSS JOIN t3 LIMIT 5",
    "SELECT * FROM t1 NATURAL JOIN t3",
    "SELECT x.a, y.n FROM t1 AS x RIGHT JOIN t3 AS y ON x.a = y.n",
    "SELECT x.a, y.n FROM t1 x FULL JOIN t3 y USING (a)",
    "SELECT a, (SELECT count(*) FROM t2 WHERE t2.t1a = t1.a) AS cnt FROM t1",
    "SELECT b FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.t1a = t1.a AND qty > 2)",
    "SELECT b FROM t1 WHERE NOT EXISTS (SELECT * FROM t3 WHERE t3.n = t1.a)",
    "SELECT * FROM t1 WHERE a IN (1, 2, NULL) AND b NOT IN ('x', 'y')",
    "SELECT (SELECT max(c) FROM t1) + 1, (SELECT b FROM t1 ORDER BY a LIMIT 1)",
    "SELECT t1a, count(*), sum(qty), avg(price), min(name), max(name), total(qty) FROM t2 "
    "GROUP BY t1a HAVING count(*) > 0 ORDER BY 2 DESC",
    "SELECT count(DISTINCT t1a), group_concat(name, ';') FROM t2",
    "SELECT DISTINCT k FROM t3 ORDER BY k",
    "SELECT a FROM t1 ORDER BY a LIMIT ? OFFSET ?",
    "SELECT a FROM t1 ORDER BY c NULLS LAST, a LIMIT 2, 1",
    "SELECT a FROM t1 UNION SELECT n FROM t3 ORDER BY 1",
    "SELECT a FROM t1 UNION ALL SELECT id FROM t2",
    "SELECT a FROM t1 EXCEPT SELECT t1a FROM t2",
    "SELECT n FROM t3 INTERSECT SELECT a FROM t1",
    "WITH RECURSIVE cnt(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM cnt WHERE x < 50) "
    "SELECT sum(x) FROM cnt",
    "WITH RECURSIVE fib(a, b) AS (SELECT 0, 1 UNION ALL SELECT b, a + b FROM fib WHERE a < 1000) "
    "SELECT a FROM fib",
    "WITH w AS (SELECT a, b FROM t1 WHERE a > 1) SELECT * FROM w JOIN t2 ON w.a = t2.t1a",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION SELECT n * 2 FROM r WHERE n < 4096 LIMIT 20) "
    "SELECT n FROM r",
    "VALUES (1, 'a'), (2, 'b'), (NULL, x'00')",
    "SELECT * FROM (VALUES (1), (2)) AS v JOIN t1 ON v.column1 = t1.a",
    "SELECT CASE WHEN a > 2 THEN 'big' WHEN a > 1 THEN 'mid' ELSE 'small' END FROM t1",
    "SELECT CASE b WHEN 'one' THEN 1 WHEN 'two' THEN 2 END FROM t1",
    "SELECT CAST(c AS INTEGER), CAST(b AS REAL), CAST(a AS TEXT), CAST('12.5' AS DECIMAL(5,2)) "
    "FROM t1",
    "SELECT CAST(x'41' AS TEXT), CAST(3.99 AS INT), CAST('abc' AS NUMERIC), CAST(1 AS BLOB)",
    "SELECT b FROM t1 WHERE b LIKE '%o%' ESCAPE '\\' OR b GLOB 'T*' OR b NOT LIKE '_w_'",
    "SELECT a FROM t1 WHERE c BETWEEN -10 AND 10 AND a NOT BETWEEN 5 AND 6",
    "SELECT strftime('%Y-%m-%d %H:%M:%f', '2024-02-29 12:34:56.789', '+1 month', 'start of day')",
    "SELECT date('now'), time('12:00', '+90 minutes'), datetime(1700000000, 'unixepoch'), "
    "julianday('2000-01-01'), unixepoch('2024-01-01')",
    "SELECT strftime('%s %j %W %w %J', ?), date(?, ?)",
    "SELECT printf('%5.2f|%-8s|%08d|%x|%q|%c|%e|%,d', 3.14159, 'ab', 42, 255, 'it''s', 'z', "
    "1e100, 1234567)",
    "SELECT printf('%*.*f', ?, ?, ?), format('%s %%', ?)",
    "SELECT substr(b, 2, 3), substr(b, -2), substring(b, 1, ?), instr(b, 'o'), replace(b, 'o', "
    "'00') FROM t1",
    "SELECT round(c, 2), round(-2.5), round(d, 1), abs(-9223372036854775807), abs(c) FROM t1",
    "SELECT length(b), lower(b), upper(b), trim('  x  '), ltrim('xxy', 'x'), rtrim(b, 'e'), "
    "hex(e), typeof(d) FROM t1",
    "SELECT coalesce(NULL, c, 0), ifnull(d, -1), nullif(a, 2), iif(a > 1, 'y', 'n'), "
    "min(a, 2, 3), max(c, 0) FROM t1",
    "SELECT d * 3, d / 7, d + 0.005, d - 1000, -d, d % 2 FROM t1 WHERE d IS NOT NULL",
    "SELECT sum(d), avg(d), max(d) FROM t1",
    "SELECT price * qty, CAST(price AS DECIMAL(20,6)) / 3 FROM t2",
    "SELECT 9223372036854775807 + 1, -9223372036854775808 - 1, 9223372036854775807 * 2, "
    "1 / 0, 1 % 0, 5 / 2, 5.0 / 2",
    "SELECT 1e308 * 10, -1e308 * 10, 0.0 / 0, 1 << 63, -1 >> 70, ~0, 7 & 3 | 8",
    "SELECT 'a' || 'b' || NULL, x'0102' || 'c', 1 = 1.0, 'abc' < 'abd', NULL IS NULL, 2 IS NOT 3",
    "SELECT a, b FROM t1 WHERE (a, b) = (1, 'one')",
    "SELECT b COLLATE NOCASE FROM t1 ORDER BY b COLLATE NOCASE DESC",
    "SELECT random() IS NOT NULL, typeof(random())",
    "SELECT * FROM t1 WHERE a = 9223372036854775807 OR a = -9223372036854775808",
    "SELECT t1.* , t3.v FROM t1, t3 WHERE t1.a = t3.n",
    "SELECT a FROM t1 t WHERE a > (SELECT avg(a) FROM t1 WHERE t1.b <> t.b)",
    "SELECT k, n, v FROM t3 WHERE k = 'a' AND n > 0 ORDER BY n DESC",
    "SELECT name FROM t2 WHERE qty = 3 ORDER BY qty DESC, name",
    "BEGIN",
    "BEGIN TRANSACTION",
    "COMMIT",
    "END",
    "ROLLBACK",
    "SAVEPOINT sp1",
    "RELEASE sp1",
    "ALTER TABLE t1 ADD COLUMN f TEXT DEFAULT 'new'",
    "ALTER TABLE t2 ADD COLUMN g INTEGER NOT NULL DEFAULT 7",
    "ALTER TABLE t3 RENAME TO t3b",
    "DROP INDEX IF EXISTS t1_b",
    "DROP INDEX t2_qty_desc",
    "DROP TABLE IF EXISTS t4",
    "DROP TABLE t6",
    "EXPLAIN SELECT * FROM t1 WHERE a = 1",
    "EXPLAIN QUERY PLAN SELECT * FROM t2 WHERE qty = 3 AND name = 'x'",
    "EXPLAIN INSERT INTO t1 VALUES (99, 'e', 0, 0, NULL)",
    "VACUUM",
    "ANALYZE",
    "REINDEX",
    "CREATE VIEW v1 AS SELECT * FROM t1",
    "SELECT @p, $q, :r, ?5, ?",
    "SELECT zeroblob(10), quote('x'), char(65), unicode('A')",
    "SELECT -9223372036854775808, 0x7fffffffffffffff, 0xffffffffffffffff, 1e-400, .5e+3",
    "SELECT 'it''s', \"t1\".\"a\" FROM \"t1\" WHERE [b] = `b`",
    "SELECT /* comment */ 1 -- trailing\n",
};

static const char *const corpus_sample[] = {
#include "corpus_sample.inc"
};

/* Replacement names: the fuzzed tables' names and columns, others, functions. Never the
 * ledger's name. */
static const char *const names[] = {
    "t1",       "t2",        "t3",         "t4",
    "t5",       "t6",        "a",          "b",
    "c",        "d",         "e",          "id",
    "name",     "qty",       "price",      "k",
    "n",        "v",         "x",          "t1a",
    "rowid",    "oid",       "_rowid_",    "nosuch",
    "excluded", "count",     "sum",        "avg",
    "min",      "max",       "total",      "group_concat",
    "substr",   "printf",    "strftime",   "date",
    "datetime", "round",     "abs",        "length",
    "coalesce", "zeroblob",  "randomblob", "hex",
    "typeof",   "julianday", "replace",    "instr",
    "iif",
};

/* Replacement keywords and punctuation. */
static const char *const keywords[] = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "NULL",
    "IN",
    "IS",
    "JOIN",
    "ON",
    "USING",
    "GROUP",
    "BY",
    "HAVING",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "UNION",
    "ALL",
    "EXCEPT",
    "INTERSECT",
    "DISTINCT",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "AS",
    "LIKE",
    "GLOB",
    "BETWEEN",
    "EXISTS",
    "WITH",
    "RECURSIVE",
    "VALUES",
    "INSERT",
    "INTO",
    "UPDATE",
    "SET",
    "DELETE",
    "CREATE",
    "TABLE",
    "INDEX",
    "UNIQUE",
    "PRIMARY",
    "KEY",
    "CHECK",
    "DEFAULT",
    "DROP",
    "ALTER",
    "ADD",
    "COLUMN",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "RETURNING",
    "CONFLICT",
    "DO",
    "NOTHING",
    "REPLACE",
    "IGNORE",
    "EXPLAIN",
    "VACUUM",
    "DESC",
    "ASC",
    "COLLATE",
    "NOCASE",
    "INTEGER",
    "TEXT",
    "REAL",
    "BLOB",
    "DECIMAL",
    "NATURAL",
    "LEFT",
    "FULL",
    "CROSS",
    "OUTER",
    "*",
    "(",
    ")",
    ",",
    ";",
    ".",
    "=",
    "<>",
    "||",
    "?",
    "?32766",
    ":x",
    "-",
    "+",
    "/",
    "%",
    "<<",
    ">>",
    "~",
    "SELECT 1",
    "(SELECT a FROM t1)",
    "(SELECT count(*) FROM t2)",
};

/* Extreme literals. */
static const char *const literals[] = {
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551616",
    "99999999999999999999999999999999999999999",
    "1e308",
    "-1e308",
    "1e309",
    "4.9e-324",
    "0.0",
    "-0.0",
    "(0.0 / 0)",
    "(1e308 * 1e308 - 1e308 * 1e308)",
    "abs(-9223372036854775808)",
    "(-9223372036854775808 / -1)",
    "(-9223372036854775808 % -1)",
    "NULL",
    "''",
    "x''",
    "x'ff'",
    "'\xff\xfe\xc3'",
    "'\xed\xa0\x80'",
    "'\xc0\x80'",
    "'%s%s%s%n%999999999d'",
    "'9999-12-31 23:59:59.999'",
    "'-4713-11-24'",
    "'2024-02-30'",
    "12345678901234567890.12345678901234567890",
    "0.000000000000000000000000000000000000001",
    "0x",
    "0xffffffffffffffffff",
    "1e",
    "?0",
    "?32767",
    "?99999999999",
    "$",
    "'long'", /* replaced by a long string */
};

/* --- a token list to mutate --------------------------------------------------------------- */

struct tok {
    const char *p; /* into the source text or a static string */
    uint32_t len;
    bool space;       /* preceded by whitespace */
    bool long_string; /* p is f->long_string: written between single quotes */
};

struct toks {
    struct tok t[TOKENS_MAX];
    uint32_t n;
};

static bool is_ident_byte(unsigned char c)
{
    return c == '_' || c == '$' || c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

/* The length of the token at s (at least 1): a word, a quoted run, or one punctuation byte. */
static uint32_t token_len(const char *s, uint32_t left)
{
    unsigned char c = (unsigned char)s[0];
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
        char close = c == '[' ? ']' : (char)c;
        uint32_t i = 1;
        while (i < left && s[i] != close) {
            i++;
        }
        return i < left ? i + 1 : left;
    }
    if (is_ident_byte(c) || c == '.') {
        uint32_t i = 1;
        while (i < left && (is_ident_byte((unsigned char)s[i]) || s[i] == '.')) {
            i++;
        }
        return i;
    }
    return 1;
}

/* Splits `len` bytes of `s` into tokens (at most TOKENS_MAX; the rest is one token). */
static void tokenize(const char *s, uint32_t len, struct toks *out)
{
    out->n = 0;
    uint32_t i = 0;
    while (i < len && out->n < TOKENS_MAX) {
        bool space = false;
        while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t')) {
            space = true;
            i++;
        }
        if (i == len) {
            break;
        }
        uint32_t n = out->n + 1 == TOKENS_MAX ? len - i : token_len(s + i, len - i);
        out->t[out->n++] = (struct tok){.p = s + i, .len = n, .space = space, .long_string = false};
        i += n;
    }
}

/* Appends n bytes at p to buf (length *at, capacity cap), as many as fit. */
static void put(char *buf, uint32_t *at, uint32_t cap, const char *p, uint32_t n)
{
    uint32_t k = n < cap - *at ? n : cap - *at;
    memcpy(buf + *at, p, k);
    *at += k;
}

/* Writes the tokens into buf (bounded by cap); returns the length. */
static uint32_t untokenize(const struct toks *t, char *buf, uint32_t cap)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->t[i].space && n > 0) {
            put(buf, &n, cap, " ", 1);
        }
        if (t->t[i].long_string) {
            put(buf, &n, cap, "'", 1);
        }
        put(buf, &n, cap, t->t[i].p, t->t[i].len);
        if (t->t[i].long_string) {
            put(buf, &n, cap, "'", 1);
        }
    }
    return n;
}

static bool is_literal(const struct tok *t)
{
    unsigned char c = (unsigned char)t->p[0];
    return c == '\'' || (c >= '0' && c <= '9') || (t->len > 1 && c == 'x' && t->p[1] == '\'');
}

static bool is_word(const struct tok *t)
{
    unsigned char c = (unsigned char)t->p[0];
    return c == '"' || (is_ident_byte(c) && !(c >= '0' && c <= '9'));
}

/* --- the mutator --------------------------------------------------------------------------- */

struct fuzz {
    struct tu_rng rng;
    char long_string[LONG_STRING_BYTES + 1];
    char text[TEXT_BYTES_MAX];
    char scratch[TEXT_BYTES_MAX];
    struct toks toks;
};

static const char *pick_statement(struct fuzz *f)
{
    size_t n1 = sizeof corpus / sizeof corpus[0];
    size_t n2 = sizeof corpus_sample / sizeof corpus_sample[0];
    uint64_t i = tu_rng_below(&f->rng, n1 + n2 / 4); /* the dialect corpus 4 times as often */
    return i < n1 ? corpus[i] : corpus_sample[tu_rng_below(&f->rng, n2)];
}

/* An index into a token list of n > 0 tokens. */
static uint32_t pick_tok(struct fuzz *f, uint32_t n)
{
    return (uint32_t)tu_rng_below(&f->rng, n);
}

static void replace_token(struct fuzz *f, struct tok *t)
{
    t->long_string = false;
    if (is_literal(t) || tu_rng_below(&f->rng, 4) == 0) {
        uint64_t i = tu_rng_below(&f->rng, sizeof literals / sizeof literals[0]);
        const char *lit = literals[i];
        if (strcmp(lit, "'long'") == 0) {
            t->p = f->long_string;
            t->len = (uint32_t)tu_rng_below(&f->rng, LONG_STRING_BYTES);
            t->long_string = true;
            return;
        }
        t->p = lit;
        t->len = (uint32_t)strlen(lit);
        return;
    }
    const char *w = tu_rng_below(&f->rng, 3) != 0
                        ? names[tu_rng_below(&f->rng, sizeof names / sizeof names[0])]
                        : keywords[tu_rng_below(&f->rng, sizeof keywords / sizeof keywords[0])];
    t->p = w;
    t->len = (uint32_t)strlen(w);
}

/* One token-level mutation of f->toks. */
static void mutate_tokens(struct fuzz *f)
{
    struct toks *t = &f->toks;
    if (t->n == 0) {
        return;
    }
    uint32_t i = pick_tok(f, t->n);
    uint32_t j = pick_tok(f, t->n);
    switch (tu_rng_below(&f->rng, 8)) {
    case 0: { /* swap */
        struct tok x = t->t[i];
        t->t[i] = t->t[j];
        t->t[j] = x;
        break;
    }
    case 1: /* duplicate */
        if (t->n < TOKENS_MAX) {
            memmove(&t->t[i + 1], &t->t[i], (t->n - i) * sizeof t->t[0]);
            t->n++;
        }
        break;
    case 2: /* delete */
        memmove(&t->t[i], &t->t[i + 1], (t->n - i - 1) * sizeof t->t[0]);
        t->n--;
        break;
    default: { /* replace: prefer words and literals */
        for (uint32_t k = 0; k < 4 && !is_word(&t->t[i]) && !is_literal(&t->t[i]); k++) {
            i = pick_tok(f, t->n);
        }
        replace_token(f, &t->t[i]);
        break;
    }
    }
}

/* One byte-level mutation of f->text (len bytes); returns the new length. */
static uint32_t mutate_bytes(struct fuzz *f, uint32_t len)
{
    static const char interesting[] = "'\"()[],;.*?:$@-+/%0123456789 \n\x00\x80\xff\xc3";
    uint32_t i = len == 0 ? 0 : (uint32_t)tu_rng_below(&f->rng, len);
    switch (tu_rng_below(&f->rng, 4)) {
    case 0:
        if (len > 0) {
            f->text[i] ^= (char)(1u << tu_rng_below(&f->rng, 8));
        }
        return len;
    case 1:
        if (len + 1 < TEXT_BYTES_MAX) {
            memmove(f->text + i + 1, f->text + i, len - i);
            f->text[i] = interesting[tu_rng_below(&f->rng, sizeof interesting - 1)];
            return len + 1;
        }
        return len;
    case 2:
        if (len > 0) {
            memmove(f->text + i, f->text + i + 1, len - i - 1);
            return len - 1;
        }
        return len;
    default:
        if (len > 0) {
            f->text[i] = (char)tu_rng_next(&f->rng);
        }
        return len;
    }
}

/* Splices the first part of `a` with the last part of `b` (or joins them with ';'). */
static uint32_t splice(struct fuzz *f, const char *a, const char *b)
{
    uint32_t la = (uint32_t)strlen(a);
    uint32_t lb = (uint32_t)strlen(b);
    uint32_t cut_a = (uint32_t)tu_rng_below(&f->rng, la + 1);
    uint32_t cut_b = (uint32_t)tu_rng_below(&f->rng, lb + 1);
    bool join = tu_rng_below(&f->rng, 3) == 0;
    if (join) {
        cut_a = la;
        cut_b = 0;
    }
    uint32_t n = 0;
    memcpy(f->text, a, cut_a);
    n += cut_a;
    if (join) {
        f->text[n++] = ';';
    }
    memcpy(f->text + n, b + cut_b, lb - cut_b);
    return n + lb - cut_b;
}

/* A mutated statement in f->text; returns its length (the text is NUL-terminated too). */
static uint32_t make_statement(struct fuzz *f)
{
    uint32_t len;
    uint64_t how = tu_rng_below(&f->rng, 10);
    if (how == 0) {
        len = splice(f, pick_statement(f), pick_statement(f));
    } else {
        const char *s = pick_statement(f);
        len = (uint32_t)strlen(s);
        memcpy(f->text, s, len);
    }
    /* 0 mutations one time in 10 (valid statements keep the tables interesting), else 1 to
     * MUTATIONS_MAX, fewer more often. */
    uint32_t rounds = tu_rng_below(&f->rng, 10) == 0 ? 0 : 1;
    while (rounds > 0 && rounds < MUTATIONS_MAX && tu_rng_below(&f->rng, 2) == 0) {
        rounds++;
    }
    for (uint32_t r = 0; r < rounds; r++) {
        if (tu_rng_below(&f->rng, 3) == 0) {
            len = mutate_bytes(f, len);
            continue;
        }
        memcpy(f->scratch, f->text, len);
        tokenize(f->scratch, len, &f->toks);
        mutate_tokens(f);
        len = untokenize(&f->toks, f->text, TEXT_BYTES_MAX - 1);
    }
    f->text[len] = '\0';
    return len;
}

/* --- generated expressions ------------------------------------------------------------- */

#define EXPR_DEPTH_MAX 4u
#define EXPR_BYTES_MAX 4096u /* one generated expression (longer ones are cut at a leaf) */

static const char *const functions[] = {
    "abs",   "coalesce", "ifnull",     "iif",      "nullif",       "length",    "lower",
    "upper", "substr",   "substring",  "trim",     "ltrim",        "rtrim",     "replace",
    "round", "typeof",   "hex",        "instr",    "printf",       "format",    "min",
    "max",   "date",     "time",       "datetime", "julianday",    "unixepoch", "strftime",
    "count", "sum",      "avg",        "total",    "group_concat", "zeroblob",  "quote",
    "char",  "unicode",  "randomblob", "likely",   "nosuchfn",
};

/* Leaves: literals the functions find hard, columns of t1, parameters. */
static const char *const leaves[] = {
    "0",
    "1",
    "-1",
    "2",
    "3",
    "10",
    "-2147483648",
    "2147483647",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "1e308",
    "-1e308",
    "1e-308",
    "0.5",
    "-0.5",
    "2.5",
    "1e18",
    "123456789012345678901234567890",
    "NULL",
    "''",
    "'a'",
    "'abc'",
    "'\xc3\xa9t\xc3\xa9'",
    "'\xff\xfe'",
    "x''",
    "x'00ff'",
    "a",
    "b",
    "c",
    "d",
    "e",
    "?",
    "?2",
    "'%d'",
    "'%*d'",
    "'%.*f'",
    "'%5000000d'",
    "'%.1000000f'",
    "'%lld'",
    "'%!'",
    "'%'",
    "'%-+ #0,10.3e'",
    "'%c%q%Q%w%z'",
    "'%2147483647d'",
    "'%.2147483647s'",
    "'%*.*g'",
    "'%99999999999d'",
    "'%-2147483648d'",
    "'%Y-%m-%d %H:%M:%S'",
    "'%J %s %f %%'",
    "'%j %W %w %u %G %V'",
    "'%E%'",
    "'+1e308 days'",
    "'-9223372036854775808 seconds'",
    "'start of month'",
    "'weekday 7'",
    "'weekday -1'",
    "'unixepoch'",
    "'localtime'",
    "'utc'",
    "'subsec'",
    "'auto'",
    "'julianday'",
    "'+999999999 years'",
    "'99999-01-01'",
    "'0000-00-00'",
    "'2024-13-45 25:61:61'",
    "'2000-01-01 00:00:00.123456789'",
    "'now'",
    "'-4713-11-24 12:00:00'",
    "'+5 months'",
    "'-1 year'",
    "'1e999'",
    "'NaN'",
    "'inf'",
    "'  12  '",
    "'0x10'",
    "'1.5e3xyz'",
};

static const char *const types[] = {
    "INTEGER",       "REAL",           "TEXT",          "BLOB",           "NUMERIC",
    "DECIMAL(38,0)", "DECIMAL(38,38)", "DECIMAL(1,0)",  "DECIMAL(0,0)",   "DECIMAL(100,2)",
    "DECIMAL(5,7)",  "DECIMAL(10,2)",  "DECIMAL(-1,2)", "DECIMAL(38,10)", "VARCHAR(1)",
    "BOOLEAN",       "DATE",
};

static const char *const operators[] = {
    "+",  "-", "*",  "/",  "%",      "||",  "<<", ">>",   "&",    "|",        "=",
    "<>", "<", ">=", "IS", "IS NOT", "AND", "OR", "LIKE", "GLOB", "NOT LIKE",
};

struct gen {
    struct fuzz *f;
    char *out;
    uint32_t n, cap;
};

static void gen_put(struct gen *g, const char *s)
{
    size_t l = strlen(s);
    if (g->n + l < g->cap) {
        memcpy(g->out + g->n, s, l);
        g->n += (uint32_t)l;
    }
}

#define PICK(g, arr) (arr)[tu_rng_below(&(g)->f->rng, sizeof(arr) / sizeof(arr)[0])]

static void gen_expr(struct gen *g, uint32_t depth);

static void gen_args(struct gen *g, uint32_t depth, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        gen_put(g, i == 0 ? "" : ", ");
        gen_expr(g, depth + 1);
    }
}

/* A random expression of bounded depth (the recursion is bounded by EXPR_DEPTH_MAX). */
static void gen_expr(struct gen *g, uint32_t depth)
{
    struct tu_rng *r = &g->f->rng;
    if (depth >= EXPR_DEPTH_MAX || g->n + 256 > g->cap || tu_rng_below(r, 3) == 0) {
        gen_put(g, PICK(g, leaves));
        return;
    }
    switch (tu_rng_below(r, 8)) {
    case 0:
    case 1:
    case 2:
        gen_put(g, PICK(g, functions));
        gen_put(g, "(");
        gen_args(g, depth, (uint32_t)tu_rng_below(r, 5));
        gen_put(g, ")");
        return;
    case 3:
        gen_put(g, "(");
        gen_expr(g, depth + 1);
        gen_put(g, " ");
        gen_put(g, PICK(g, operators));
        gen_put(g, " ");
        gen_expr(g, depth + 1);
        gen_put(g, ")");
        return;
    case 4:
        gen_put(g, "CAST(");
        gen_expr(g, depth + 1);
        gen_put(g, " AS ");
        gen_put(g, PICK(g, types));
        gen_put(g, ")");
        return;
    case 5:
        gen_put(g, "CASE WHEN ");
        gen_expr(g, depth + 1);
        gen_put(g, " THEN ");
        gen_expr(g, depth + 1);
        gen_put(g, " ELSE ");
        gen_expr(g, depth + 1);
        gen_put(g, " END");
        return;
    case 6:
        gen_put(g, "(");
        gen_expr(g, depth + 1);
        gen_put(g, tu_rng_below(r, 2) == 0 ? " BETWEEN " : " NOT IN (");
        gen_expr(g, depth + 1);
        gen_put(g, tu_rng_below(r, 2) == 0 ? " AND " : ", ");
        gen_expr(g, depth + 1);
        gen_put(g, ")");
        return;
    default:
        gen_put(g, "(SELECT ");
        gen_expr(g, depth + 1);
        gen_put(g, " FROM t1 WHERE a = ");
        gen_expr(g, depth + 1);
        gen_put(g, ")");
        return;
    }
}

/* A statement around generated expressions: a SELECT list, a WHERE, an INSERT or UPDATE. */
static uint32_t make_generated(struct fuzz *f)
{
    static const char *const heads[] = {
        "SELECT ",
        "SELECT a, ",
        "SELECT count(*), ",
        "INSERT INTO t1 (b, c, d) VALUES ('g', ",
        "UPDATE t1 SET c = ",
        "SELECT * FROM t2 WHERE qty < ",
        "INSERT INTO t6 (x, y, z) VALUES (",
    };
    static const char *const tails[] = {
        "",
        " FROM t1",
        " FROM t1 GROUP BY b",
        " FROM t1 ORDER BY 1",
        ", 1)",
        " WHERE a = 2",
        ", 0, 0)",
        " FROM t1 WHERE a IN (1, 2)",
    };
    struct gen g = {.f = f, .out = f->text, .n = 0, .cap = EXPR_BYTES_MAX};
    uint32_t h = (uint32_t)tu_rng_below(&f->rng, sizeof heads / sizeof heads[0]);
    gen_put(&g, heads[h]);
    gen_expr(&g, 0);
    /* the INSERT heads need the column count their tails give */
    const char *tail = h == 3   ? ", 1)"
                       : h == 6 ? ", 0, 0)"
                       : h == 4 ? (tu_rng_below(&f->rng, 2) == 0 ? " WHERE a = 2" : "")
                                : PICK(&g, tails);
    if (h < 3 && strchr(tail, ')') != NULL) {
        tail = "";
    }
    gen_put(&g, tail);
    f->text[g.n] = '\0';
    return g.n;
}

/* --- running statements -------------------------------------------------------------------- */

struct run_stats {
    uint64_t statements, prepared, ok, rows, errors[HELIOSDB_TIMEOUT + 1];
    uint32_t vacuums;
};

/* The promise: an error code with a message naming what is wrong. */
static void check_error(int rc, const heliosdb_error *err, const char *what, const char *sql)
{
    cr_assert(rc > HELIOSDB_OK && rc <= HELIOSDB_TIMEOUT, "%s: status %d for [%s]", what, rc, sql);
    cr_assert_eq(err->code, rc, "%s: err.code %d, status %d for [%s]", what, err->code, rc, sql);
    cr_assert(err->message[0] != '\0', "%s: %s without a message for [%s]", what,
              heliosdb_status_name(rc), sql);
    cr_assert(rc != HELIOSDB_CORRUPT && rc != HELIOSDB_ERROR && rc != HELIOSDB_READONLY,
              "%s: %s (%s) for [%s]", what, heliosdb_status_name(rc), err->message, sql);
}

static void bind_random(struct fuzz *f, heliosdb_stmt *st, int index)
{
    static const int64_t ints[] = {0, 1, -1, INT64_MAX, INT64_MIN, INT32_MAX, 255, 4096};
    static const char *const texts[] = {
        "",           "x",         "12.5",     "9223372036854775808", "-0",     "1e999",
        "2024-02-29", "now",       "+1 month", "unixepoch",           "%Y%s%f", "\xff\xfe",
        "\xc3",       "a\xcc\x81", "NULL",     "' OR 1=1 --"};
    heliosdb_error err;
    int rc;
    uint8_t bytes[64];
    switch (tu_rng_below(&f->rng, 6)) {
    case 0:
        rc = heliosdb_bind_null(st, index, &err);
        break;
    case 1:
        rc = heliosdb_bind_int64(st, index,
                                 tu_rng_below(&f->rng, 2) == 0
                                     ? ints[tu_rng_below(&f->rng, sizeof ints / sizeof ints[0])]
                                     : (int64_t)tu_rng_next(&f->rng),
                                 &err);
        break;
    case 2: {
        static const double reals[] = {0.0,    -0.0,    1.5,      1e308,
                                       -1e308, DBL_MIN, 4.9e-324, 9.2233720368547758e18};
        double v = tu_rng_below(&f->rng, 4) == 0 ? NAN
                   : tu_rng_below(&f->rng, 4) == 0
                       ? INFINITY
                       : reals[tu_rng_below(&f->rng, sizeof reals / sizeof reals[0])];
        rc = heliosdb_bind_double(st, index, tu_rng_below(&f->rng, 2) == 0 ? -v : v, &err);
        break;
    }
    case 3: {
        const char *s = texts[tu_rng_below(&f->rng, sizeof texts / sizeof texts[0])];
        rc = heliosdb_bind_text(st, index, s, -1, &err);
        break;
    }
    case 4: {
        uint32_t n = (uint32_t)tu_rng_below(&f->rng, sizeof bytes + 1);
        tu_rng_bytes(&f->rng, bytes, n);
        rc = tu_rng_below(&f->rng, 2) == 0 ? heliosdb_bind_text(st, index, (char *)bytes, n, &err)
                                           : heliosdb_bind_blob(st, index, bytes, n, &err);
        break;
    }
    default: {
        uint32_t n = (uint32_t)tu_rng_below(&f->rng, LONG_STRING_BYTES);
        rc = heliosdb_bind_text(st, index, f->long_string, n, &err);
        break;
    }
    }
    cr_assert_eq(rc, HELIOSDB_OK, "binding parameter %d: %s", index, err.message);
}

static void bind_all(struct fuzz *f, heliosdb_stmt *st, const char *sql)
{
    int count = heliosdb_bind_parameter_count(st);
    cr_assert(count >= 0, "parameter count %d for [%s]", count, sql);
    for (int i = 1; i <= count && i <= PARAMS_BOUND_MAX; i++) {
        bind_random(f, st, i);
    }
    if (tu_rng_below(&f->rng, 16) == 0) { /* out of range: an error, not a crash */
        heliosdb_error err;
        int bad = tu_rng_below(&f->rng, 2) == 0 ? 0 : count + 1;
        int rc = heliosdb_bind_int64(st, bad, 1, &err);
        check_error(rc, &err, "bind out of range", sql);
    }
}

/* Reads every column of the current row with every accessor. */
static void read_row(heliosdb_stmt *st, const char *sql)
{
    int n = heliosdb_column_count(st);
    for (int i = -1; i <= n; i++) { /* -1 and n: out of range */
        (void)heliosdb_column_name(st, i);
        (void)heliosdb_column_type(st, i);
        (void)heliosdb_column_int64(st, i);
        (void)heliosdb_column_double(st, i);
        const unsigned char *t = heliosdb_column_text(st, i);
        int bytes = heliosdb_column_bytes(st, i);
        if (t != NULL && i >= 0 && i < n) {
            cr_assert(bytes >= 0);
            cr_assert_eq(t[bytes], '\0', "column %d text is NUL-terminated for [%s]", i, sql);
        }
        (void)heliosdb_column_blob(st, i);
    }
}

/* Steps `st` up to ROWS_MAX rows; returns the last status. */
static int step_all(heliosdb_stmt *st, const char *sql, struct run_stats *stats)
{
    heliosdb_error err;
    int rc = HELIOSDB_DONE;
    for (uint32_t r = 0; r < ROWS_MAX; r++) {
        rc = heliosdb_step(st, &err);
        if (rc == HELIOSDB_ROW) {
            stats->rows++;
            read_row(st, sql);
            continue;
        }
        if (rc != HELIOSDB_DONE) {
            check_error(rc, &err, "step", sql);
            stats->errors[rc]++;
        }
        return rc;
    }
    return rc;
}

/* VACUUM waits version_retention_ms (5 s, not a configuration key) for readers of old versions,
 * so a statement that may be one is prepared but not run (test_exec runs VACUUM). */
static bool mentions_vacuum(const char *sql)
{
    return strcasestr(sql, "vacuum") != NULL;
}

/* Prepares, binds and steps every statement of sql[0..len) (at most 8), sometimes twice. */
static void run_text(struct fuzz *f, heliosdb_conn *c, const char *sql, uint32_t len,
                     struct run_stats *stats)
{
    const char *p = sql;
    const char *end = sql + len;
    for (int k = 0; k < 8 && p < end; k++) {
        heliosdb_stmt *st = NULL;
        const char *tail = NULL;
        heliosdb_error err;
        stats->statements++;
        int rc = tu_rng_below(&f->rng, 4) == 0
                     ? heliosdb_prepare_cached(c, p, (long)(end - p), &st, &tail, &err)
                     : heliosdb_prepare(c, p, (long)(end - p), &st, &tail, &err);
        if (rc != HELIOSDB_OK) {
            check_error(rc, &err, "prepare", sql);
            stats->errors[rc]++;
            return;
        }
        cr_assert(tail != NULL && tail >= p && tail <= end, "tail inside the text for [%s]", sql);
        if (st == NULL) {
            return;
        }
        stats->prepared++;
        bool skip = mentions_vacuum(p);
        stats->vacuums += skip;
        for (int again = 0; !skip && again < 2; again++) {
            bind_all(f, st, sql);
            rc = step_all(st, sql, stats);
            stats->ok += rc == HELIOSDB_DONE || rc == HELIOSDB_ROW;
            if (tu_rng_below(&f->rng, 4) != 0) {
                break;
            }
            heliosdb_reset(st);
            if (tu_rng_below(&f->rng, 2) == 0) {
                heliosdb_clear_bindings(st);
            }
        }
        heliosdb_finalize(st);
        if (tail == p) {
            return;
        }
        p = tail;
    }
}

/* --- the database around the run ------------------------------------------------------- */

static char *write_config(void)
{
    char *path = tu_path(dir, "fuzz.toml");
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file);
    fprintf(file,
            "[database]\ncache_size_mb = 16\npage_size = 4096\nstatement_timeout_ms = %u\n"
            "work_mem_mb = 16\n[wal]\nmode = \"async\"\nsegment_size_mb = 4\n"
            "[performance]\nworker_threads = 2\n"
            "[snapshot]\nenable_cow_snapshots = false\n",
            STATEMENT_TIMEOUT_MS);
    fclose(file);
    return path;
}

static heliosdb *open_db(const char *db_path, const char *cfg_path)
{
    heliosdb *db = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_open(db_path, cfg_path, &db, &err), HELIOSDB_OK, "%s", err.message);
    return db;
}

static void exec_ok(heliosdb_conn *c, const char *sql)
{
    heliosdb_error err;
    cr_assert_eq(heliosdb_exec(c, sql, &err), HELIOSDB_OK, "%.60s: %s", sql, err.message);
}

/* Drops every table but the ledger (whatever names the fuzzing gave them), then makes the
 * fuzzed tables again. */
static void reset_tables(heliosdb_conn *c)
{
    heliosdb_error err;
    if (heliosdb_in_transaction(c)) {
        exec_ok(c, "ROLLBACK");
    }
    struct heliosdb_table_info *tables = NULL;
    uint32_t n = 0;
    cr_assert_eq(heliosdb_tables(c, &tables, &n, &err), HELIOSDB_OK, "%s", err.message);
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(tables[i].name, "ledger") == 0) {
            continue;
        }
        char sql[1200];
        uint32_t k = (uint32_t)snprintf(sql, sizeof sql, "DROP TABLE \"");
        for (const char *q = tables[i].name; *q != '\0' && k + 8 < sizeof sql; q++) {
            if (*q == '"') {
                sql[k++] = '"';
            }
            sql[k++] = *q;
        }
        snprintf(sql + k, sizeof sql - k, "\"");
        exec_ok(c, sql);
    }
    heliosdb_tables_free(tables, n);
    exec_ok(c, schema_sql);
}

struct ledger {
    int64_t count, sum;
};

static void ledger_write(heliosdb_conn *c, struct ledger *l, uint64_t i)
{
    if (heliosdb_in_transaction(c)) {
        exec_ok(c, "ROLLBACK");
    }
    int64_t v = (int64_t)(i * 7919u % 1000u) - 300;
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO ledger (v) VALUES (%" PRId64 ")", v);
    exec_ok(c, sql);
    l->count++;
    l->sum += v;
}

static void ledger_check(heliosdb_conn *c, const struct ledger *l)
{
    heliosdb_stmt *st = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_prepare(c, "SELECT count(*), coalesce(sum(v), 0) FROM ledger", -1, &st,
                                  NULL, &err),
                 HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_step(st, &err), HELIOSDB_ROW, "%s", err.message);
    cr_assert_eq(heliosdb_column_int64(st, 0), l->count);
    cr_assert_eq(heliosdb_column_int64(st, 1), l->sum);
    heliosdb_finalize(st);
}

static void verify_problem(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "verify: %s\n", msg);
}

/* What `heliosdb check` does: every shard's storage verified, no problem found. */
static void verify_database(const char *db_path, const char *cfg_path)
{
    struct hdb_config cfg;
    struct hdb_err e = {0};
    cr_assert_eq(hdb_config_load(&cfg, cfg_path, NULL, &e), HDB_OK, "%s", e.msg);
    struct hdb_db_opts o;
    hdb_db_opts_from_config(&cfg, &o);
    hdb_config_free(&cfg);
    struct hdb_db *db = NULL;
    cr_assert_eq(hdb_db_open(db_path, &o, &db, NULL, &e), HDB_OK, "%s", e.msg);
    struct hdb_conn *c = NULL;
    cr_assert_eq(hdb_db_connect(db, &c, &e), HDB_OK, "%s", e.msg);
    for (uint32_t k = 0; k < hdb_db_shards(db); k++) {
        struct hdb_verify_report r = {0};
        cr_assert_eq(hdb_db_verify_shard(c, k, verify_problem, NULL, &r, &e), HDB_OK, "%s", e.msg);
        cr_assert_eq(r.problems, 0, "shard %u: %" PRIu64 " problems", k, r.problems);
    }
    hdb_db_disconnect(c);
    cr_assert_eq(hdb_db_close(db, &e), HDB_OK, "%s", e.msg);
}

static void fuzz_init(struct fuzz *f, uint64_t seed)
{
    tu_rng_seed(&f->rng, seed);
    /* Text with two-byte characters, so a cut at a random length may leave invalid UTF-8. */
    static const char pattern[] = "abc \xc3\xa9z";
    for (uint32_t i = 0; i < LONG_STRING_BYTES; i++) {
        f->long_string[i] = pattern[i % (sizeof pattern - 1)];
    }
    f->long_string[LONG_STRING_BYTES] = '\0';
}

static void fuzz_run(uint64_t seed, uint64_t count)
{
    char *db_path = tu_path(dir, "db");
    char *cfg_path = write_config();
    heliosdb *db = open_db(db_path, cfg_path);
    heliosdb_conn *c = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_connect(db, &c, &err), HELIOSDB_OK, "%s", err.message);
    exec_ok(c, "CREATE TABLE ledger (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
    struct fuzz *f = calloc(1, sizeof *f);
    cr_assert_not_null(f);
    fuzz_init(f, seed);
    struct run_stats stats = {0};
    struct ledger l = {0};
    bool trace = getenv("HDB_FUZZ_TRACE") != NULL;
    for (uint64_t i = 0; i < count; i++) {
        if (i > 0 && i % (RESET_EVERY * REOPEN_EVERY_RESETS) == 0) {
            heliosdb_disconnect(c);
            cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK, "%s", err.message);
            db = open_db(db_path, cfg_path);
            cr_assert_eq(heliosdb_connect(db, &c, &err), HELIOSDB_OK, "%s", err.message);
        }
        if (i % RESET_EVERY == 0) {
            reset_tables(c);
            ledger_check(c, &l);
        }
        if (i % LEDGER_EVERY == 0) {
            ledger_write(c, &l, i);
        }
        uint32_t len = tu_rng_below(&f->rng, 4) == 0 ? make_generated(f) : make_statement(f);
        if (trace) {
            fprintf(stderr, "fuzz_sql %" PRIu64 ": [%s]\n", i, f->text);
        }
        run_text(f, c, f->text, len, &stats);
        if (heliosdb_in_transaction(c) && tu_rng_below(&f->rng, 8) == 0) {
            (void)heliosdb_exec(c, tu_rng_below(&f->rng, 2) == 0 ? "COMMIT" : "ROLLBACK", &err);
        }
    }
    if (heliosdb_in_transaction(c)) {
        exec_ok(c, "ROLLBACK");
    }
    ledger_check(c, &l);
    fprintf(stderr,
            "fuzz_sql seed %" PRIu64 ": %" PRIu64 " statements, %" PRIu64 " prepared, %" PRIu64
            " ran, %" PRIu64 " rows; errors: invalid %" PRIu64 ", notfound %" PRIu64
            ", toobig %" PRIu64 ", constraint %" PRIu64 ", exists %" PRIu64 ", timeout %" PRIu64
            "\n",
            seed, stats.statements, stats.prepared, stats.ok, stats.rows,
            stats.errors[HELIOSDB_INVALID], stats.errors[HELIOSDB_NOTFOUND],
            stats.errors[HELIOSDB_TOOBIG], stats.errors[HELIOSDB_CONSTRAINT],
            stats.errors[HELIOSDB_EXISTS], stats.errors[HELIOSDB_TIMEOUT]);
    free(f);
    heliosdb_disconnect(c);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK, "%s", err.message);

    verify_database(db_path, cfg_path);
    db = open_db(db_path, cfg_path);
    cr_assert_eq(heliosdb_connect(db, &c, &err), HELIOSDB_OK, "%s", err.message);
    ledger_check(c, &l);
    exec_ok(c, "CREATE TABLE after (a INTEGER PRIMARY KEY, b TEXT); INSERT INTO after VALUES "
               "(1, 'ok'); DROP TABLE after");
    heliosdb_disconnect(c);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK, "%s", err.message);
    free(db_path);
    free(cfg_path);
}

Test(fuzz_sql, mutated_statements_fail_cleanly_and_keep_the_database_sound)
{
    const char *seed = getenv("HDB_FUZZ_SEED");
    fuzz_run(seed != NULL ? strtoull(seed, NULL, 10) : 20240611u,
             tu_fuzz_iterations(ITERATIONS, ITERATIONS_ASAN));
}

/* --- regressions: inputs that once crashed or misbehaved, run as they are ---------------- */

/* A database with the fuzzed tables, for one regression test. */
static heliosdb *regression_db(heliosdb_conn **c)
{
    char *db_path = tu_path(dir, "db");
    char *cfg_path = write_config();
    heliosdb *db = open_db(db_path, cfg_path);
    heliosdb_error err;
    cr_assert_eq(heliosdb_connect(db, c, &err), HELIOSDB_OK, "%s", err.message);
    exec_ok(*c, schema_sql);
    free(db_path);
    free(cfg_path);
    return db;
}

static void regression_close(heliosdb *db, heliosdb_conn *c)
{
    heliosdb_error err;
    heliosdb_disconnect(c);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK, "%s", err.message);
    char *db_path = tu_path(dir, "db");
    char *cfg_path = tu_path(dir, "fuzz.toml");
    verify_database(db_path, cfg_path);
    free(db_path);
    free(cfg_path);
}

/* The first column of every row of `sql`, as text joined by '|'. */
static void column_text_of(heliosdb_conn *c, const char *sql, char *out, size_t cap)
{
    heliosdb_stmt *st = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_prepare(c, sql, -1, &st, NULL, &err), HELIOSDB_OK, "%.80s: %s", sql,
                 err.message);
    size_t n = 0;
    out[0] = '\0';
    int rc;
    while ((rc = heliosdb_step(st, &err)) == HELIOSDB_ROW) {
        const unsigned char *t = heliosdb_column_text(st, 0);
        n += (size_t)snprintf(out + n, cap - n, "%s|", t != NULL ? (const char *)t : "NULL");
        cr_assert(n < cap);
    }
    cr_assert_eq(rc, HELIOSDB_DONE, "%.80s: %s", sql, err.message);
    heliosdb_finalize(st);
}

/* heliosdb_column_text promises NUL-terminated text; values read from a row record pointed into
 * it, so 'one' was followed by the next value's bytes, and an empty text came back NULL. */
Test(fuzz_sql, column_text_is_nul_terminated_for_every_stored_value)
{
    heliosdb_conn *c = NULL;
    heliosdb *db = regression_db(&c);
    exec_ok(c, "INSERT INTO t1 VALUES (5, '', 0, 0, x'41')");
    heliosdb_stmt *st = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_prepare(c, "SELECT b, e, a FROM t1 NATURAL JOIN t3 ORDER BY a", -1, &st,
                                  NULL, &err),
                 HELIOSDB_OK, "%s", err.message);
    int rows = 0;
    while (heliosdb_step(st, &err) == HELIOSDB_ROW) {
        for (int i = 0; i < 2; i++) {
            const unsigned char *t = heliosdb_column_text(st, i);
            int type = heliosdb_column_type(st, i);
            cr_assert_eq(t == NULL, type == HELIOSDB_NULL, "NULL text exactly for NULL");
            if (t != NULL) {
                cr_assert_eq(t[heliosdb_column_bytes(st, i)], '\0');
                cr_assert(type != HELIOSDB_TEXT ||
                          strlen((const char *)t) == (size_t)heliosdb_column_bytes(st, i));
            }
        }
        if (heliosdb_column_int64(st, 2) == 1) {
            cr_assert_str_eq((const char *)heliosdb_column_text(st, 0), "one");
        }
        if (heliosdb_column_int64(st, 2) == 5) {
            cr_assert_str_eq((const char *)heliosdb_column_text(st, 0), "", "empty, not NULL");
            cr_assert_str_eq((const char *)heliosdb_column_text(st, 1), "A");
        }
        rows++;
    }
    cr_assert_eq(rows, 5 * 4, "t1 x t3 (no common column)");
    heliosdb_finalize(st);
    regression_close(db, c);
}

/* `WHERE b = '<longer than a key>'` on an indexed column made a range bound longer than the
 * scan's key buffer (a stack overflow). The answers must match the unindexed table's. */
Test(fuzz_sql, index_ranges_with_bounds_longer_than_a_key_match_a_scan)
{
    heliosdb_conn *c = NULL;
    heliosdb *db = regression_db(&c);
    exec_ok(c, "CREATE TABLE plain (a INTEGER PRIMARY KEY, b TEXT);"
               "INSERT INTO plain SELECT a, b FROM t1");
    char *big = malloc(12000);
    cr_assert_not_null(big);
    for (int len = 1000; len <= 3000; len += 500) { /* around the key limit of 1,024 bytes */
        memset(big, 0, 12000);
        int n = snprintf(big, 12000, "INSERT INTO t1 (a, b) VALUES (%d, '", 100 + len);
        memset(big + n, 't', (size_t)len);
        strcpy(big + n + len, "');");
        if (heliosdb_exec(c, big, NULL) == HELIOSDB_OK) { /* a key too long may be refused */
            exec_ok(c,
                    "INSERT INTO plain SELECT a, b FROM t1 WHERE a NOT IN (SELECT a FROM plain)");
        }
    }
    static const char *const ops[] = {"=", "<", "<=", ">", ">=", "LIKE"};
    for (int len = 1000; len <= 11000; len += 2500) {
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            char want[4096], got[4096];
            for (int t = 0; t < 2; t++) {
                int n = snprintf(big, 12000, "SELECT a FROM %s WHERE b %s '", t ? "t1" : "plain",
                                 ops[o]);
                memset(big + n, 't', (size_t)len);
                strcpy(big + n + len, "' ORDER BY a");
                column_text_of(c, big, t ? got : want, sizeof want);
            }
            cr_assert_str_eq(got, want, "b %s '<%d bytes>'", ops[o], len);
        }
    }
    free(big);
    regression_close(db, c);
}

/* A point read, index read or range pinned to an expression that fails converted the value
 * before checking the status, reading an unset value (freed text under ASan). Each fails with
 * the evaluation's message instead. */
Test(fuzz_sql, failing_pinned_expressions_fail_the_statement)
{
    static const char *const cases[] = {
        "SELECT * FROM t1 WHERE a = nosuchfn(1)",
        "SELECT * FROM t3 WHERE k = nosuchfn() AND n = 1",
        "SELECT * FROM t2 WHERE qty = nosuchfn()",
        "SELECT * FROM t2 WHERE qty > nosuchfn() AND qty < 10",
        "SELECT * FROM t1 WHERE b BETWEEN 'a' AND nosuchfn()",
        "INSERT INTO t1 (b) VALUES ((SELECT b FROM t1 WHERE a = nosuchfn(2)))",
        "SELECT (SELECT 'inf' FROM t1 WHERE a = min('%', NULL)) FROM t1",
        "SELECT * FROM t1 WHERE a = (SELECT 1 UNION SELECT nosuchfn())",
    };
    heliosdb_conn *c = NULL;
    heliosdb *db = regression_db(&c);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        heliosdb_error err;
        int rc = heliosdb_exec(c, cases[i], &err);
        if (rc != HELIOSDB_OK) {
            check_error(rc, &err, "exec", cases[i]);
        }
        if (strstr(cases[i], "nosuchfn") != NULL) {
            cr_assert_eq(rc, HELIOSDB_INVALID, "%s", cases[i]);
            cr_assert(strstr(err.message, "nosuchfn") != NULL, "%s: %s", cases[i], err.message);
        }
    }
    regression_close(db, c);
}

/* CAST(... AS DECIMAL(-1,2)) named DECIMAL(4294967295,2) in its message. */
Test(fuzz_sql, decimal_cast_errors_name_the_type_as_written)
{
    heliosdb_conn *c = NULL;
    heliosdb *db = regression_db(&c);
    heliosdb_error err;
    cr_assert_eq(heliosdb_exec(c, "SELECT CAST(1 AS DECIMAL(-1,2))", &err), HELIOSDB_INVALID);
    cr_assert(strstr(err.message, "DECIMAL(-1,2)") != NULL, "%s", err.message);
    cr_assert_eq(heliosdb_exec(c, "SELECT CAST(1 AS DECIMAL(5,-7))", &err), HELIOSDB_INVALID);
    cr_assert(strstr(err.message, "DECIMAL(5,-7)") != NULL, "%s", err.message);
    regression_close(db, c);
}
