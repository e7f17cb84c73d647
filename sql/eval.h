/*
 * eval.h — evaluating scalar expressions (ast.h) to values (value.h) with
 * SQLite's semantics: storage classes, integer arithmetic that turns REAL on
 * overflow, division by zero giving NULL, three-valued logic, comparison
 * affinity, CAST, LIKE and GLOB, CASE, IN lists, and the core scalar
 * functions (abs coalesce ifnull iif nullif length lower upper substr trim
 * ltrim rtrim replace round typeof random hex instr min max, and date time
 * datetime julianday unixepoch strftime through sql/datetime.c).
 *
 * Columns come from a callback; subqueries, EXISTS and aggregates are the
 * executor's business and are refused here with HDB_INVALID. TEXT and BLOB
 * results live in the context's arena. Recursion follows the expression
 * tree, whose height the parser bounds (HDB_SQL_EXPR_HEIGHT_MAX).
 */
#ifndef HDB_SQL_EVAL_H
#define HDB_SQL_EVAL_H

#include <stdint.h>

#include "sql/ast.h"
#include "sql/value.h"

/* Affinity of an expression for comparisons: a column's, a CAST's, or none. */
#define HDB_AFF_NONE ((enum hdb_affinity)255)

struct hdb_eval_ctx {
    struct hdb_sql_arena *arena; /* TEXT/BLOB results */
    /* The value of a column reference and its column's affinity. */
    int (*column)(void *ctx, const struct hdb_sql_expr *col, struct hdb_value *out,
                  enum hdb_affinity *aff, struct hdb_err *err);
    void *column_ctx;
    const struct hdb_value *params; /* ?1 is params[0] */
    uint32_t nparams;
    uint64_t rng;   /* random(): xorshift state, never 0 */
    int64_t now_ms; /* 'now' for the date and time functions: fixed for one statement */
    /* The executor's hook, asked first about function calls (aggregates), subqueries, EXISTS
     * and IN (SELECT ...): it sets *handled when it produced the value. May be NULL. */
    int (*hook)(void *ctx, const struct hdb_sql_expr *e, struct hdb_value *out, bool *handled,
                struct hdb_err *err);
    void *hook_ctx;
};

int hdb_eval(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
             struct hdb_err *err);

/* WHERE / ON / HAVING truth: 1 true, 0 false, -1 NULL (numbers: nonzero is true; text by its
 * numeric prefix, as SQLite). */
int hdb_value_truth(const struct hdb_value *v);

/* SQLite's text form of a REAL ("1.0", "0.1", "1.0e+20"); returns the length (buf >= 32). */
int hdb_real_text(double r, char buf[32]);

/* The numeric value of TEXT/BLOB the way arithmetic reads it (longest numeric prefix, else 0). */
void hdb_value_numeric(const struct hdb_value *v, struct hdb_value *out);

#endif
