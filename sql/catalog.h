/*
 * catalog.h — table definitions as the planner and executor use them,
 * built from a CREATE TABLE statement and checked the way SQLite checks one
 * (same messages where SQLite has one).
 *
 * A definition owns the parse of its CREATE TABLE text (the catalog stores
 * that text and parses it again when a database opens, as SQLite does), so
 * DEFAULT and CHECK expressions are kept as syntax trees in the definition's
 * arena. Columns keep a permanent id (their position when created, then
 * ADD COLUMN order), which the generated protobuf messages use as field
 * numbers.
 */
#ifndef HDB_SQL_CATALOG_H
#define HDB_SQL_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "sql/ast.h"
#include "sql/value.h"

#define HDB_TABLE_COLUMNS_MAX 2000u /* columns in a table (SQLite's default) */
#define HDB_KEY_COLUMNS_MAX   32u   /* columns in a primary key, UNIQUE or index */
#define HDB_NAME_BYTES_MAX    128u  /* a table, column, index or constraint name */

struct hdb_column {
    const char *name; /* in the definition's arena */
    uint32_t id;      /* permanent */
    const char *type; /* as declared ("DECIMAL(12,2)"), "" if none */
    enum hdb_affinity affinity;
    bool decimal; /* DECIMAL(p,s) / NUMERIC(p,s) with a precision: exact fixed point */
    uint8_t precision, scale;
    bool not_null;
    bool primary_key;                        /* part of the primary key */
    const struct hdb_sql_expr *default_expr; /* or NULL */
    const char *collation;                   /* or NULL (BINARY) */
};

struct hdb_key_def {
    const char *name; /* CONSTRAINT name, or NULL */
    uint32_t ncols;
    uint32_t cols[HDB_KEY_COLUMNS_MAX]; /* column positions */
    bool desc[HDB_KEY_COLUMNS_MAX];
};

struct hdb_check_def {
    const char *name; /* CONSTRAINT name, or NULL */
    const struct hdb_sql_expr *expr;
};

struct hdb_table_def {
    struct hdb_sql_arena arena; /* owns everything below */
    const char *name;
    const char *sql; /* the CREATE TABLE text */
    uint32_t ncols;
    struct hdb_column *cols;
    struct hdb_key_def pk; /* ncols 0: rows are keyed by a rowid */
    int32_t rowid_col;     /* the INTEGER PRIMARY KEY column (an alias of the rowid), or -1 */
    bool autoincrement;
    uint32_t nuniques;
    struct hdb_key_def *uniques; /* UNIQUE constraints, column ones included */
    uint32_t nchecks;
    struct hdb_check_def *checks;
    uint32_t next_column_id;
};

/*
 * Builds and checks a definition from CREATE TABLE text (one statement).
 * Errors: HDB_INVALID with SQLite's message ("duplicate column name: a",
 * "table \"t\" has more than one primary key", "AUTOINCREMENT is only
 * allowed on an INTEGER PRIMARY KEY", "default value of column [a] is not
 * constant", "subqueries prohibited in CHECK constraints", "no such column:
 * z") or a syntax error with its position. Free with hdb_table_def_free.
 */
int hdb_table_def_build(const char *sql, size_t len, struct hdb_table_def **out,
                        struct hdb_err *err);
void hdb_table_def_free(struct hdb_table_def *def);

/* The position of column `name` (case-insensitive), or -1. */
int32_t hdb_table_column(const struct hdb_table_def *def, const char *name);

#endif
