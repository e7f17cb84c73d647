/*
 * test_eval.c — scalar expressions evaluate as SQLite evaluates them: 246
 * expressions (arithmetic and its overflow to REAL, division by zero, text
 * read as numbers, comparisons with and without affinity, three-valued
 * logic, IN, BETWEEN, CASE, CAST, LIKE/GLOB/ESCAPE, ||, and the scalar
 * functions) checked against results recorded from Python's sqlite3; plus
 * the errors (unknown function, wrong argument count, aggregate misuse,
 * integer overflow in abs) and column values with affinity.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sql/eval.h"
#include "sql/parser.h"

struct eval_case {
    const char *expr, *want;
};

#include "tests/sql/eval_cases.inc"

/* The value in the form the cases use (the slt shell protocol's tags). */
static void render(const struct hdb_value *v, char *out, size_t cap)
{
    switch (v->type) {
    case HDB_V_NULL:
        snprintf(out, cap, "N");
        break;
    case HDB_V_INT:
        snprintf(out, cap, "I%" PRId64, v->u.i);
        break;
    case HDB_V_REAL:
        snprintf(out, cap, isinf(v->u.r) ? (v->u.r > 0 ? "Rinf" : "R-inf") : "R%.17g", v->u.r);
        break;
    case HDB_V_DEC: {
        char buf[HDB_DEC_TEXT_MAX];
        hdb_dec_format(&v->u.d, buf);
        snprintf(out, cap, "D%s", buf);
        break;
    }
    default: {
        size_t at = 0;
        out[at++] = v->type == HDB_V_TEXT ? 'T' : 'B';
        for (uint32_t i = 0; i < v->u.s.len && at + 4 < cap; i++) {
            uint8_t b = v->u.s.p[i];
            if (v->type == HDB_V_BLOB) {
                at += (size_t)snprintf(out + at, cap - at, "%02x", b);
            } else if (b == '\\' || b == '\t' || b == '\n') {
                out[at++] = '\\';
                out[at++] = b == '\\' ? '\\' : b == '\t' ? 't' : 'n';
            } else {
                out[at++] = (char)b;
            }
        }
        out[at] = '\0';
    }
    }
}

/* Evaluates the first result column of "SELECT <expr>"; returns the status. */
static int eval_text(const char *expr, struct hdb_value *out, struct hdb_sql_arena *arena,
                     struct hdb_eval_ctx *ctx, struct hdb_err *err)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s", expr);
    struct hdb_sql_stmt *stmt = NULL;
    int rc = hdb_sql_parse(arena, sql, strlen(sql), &stmt, NULL, err);
    cr_assert_eq(rc, HDB_OK, "%s: %s", sql, err->msg);
    cr_assert_eq(stmt->kind, HDB_STMT_SELECT);
    struct hdb_sql_select_core *core = stmt->u.select->cores.items[0];
    struct hdb_sql_result_col *col = core->columns.items[0];
    ctx->arena = arena;
    return hdb_eval(ctx, col->expr, out, err);
}

Test(eval, expressions_match_sqlite)
{
    uint32_t failed = 0;
    for (size_t i = 0; i < sizeof EVAL_CASES / sizeof EVAL_CASES[0]; i++) {
        const struct eval_case *t = &EVAL_CASES[i];
        struct hdb_sql_arena arena = {0};
        struct hdb_eval_ctx ctx = {0};
        struct hdb_value v;
        struct hdb_err err = {0};
        char got[HDB_ERR_MSG_BYTES_MAX + 8];
        if (eval_text(t->expr, &v, &arena, &ctx, &err) != HDB_OK) {
            snprintf(got, sizeof got, "E%s", err.msg);
        } else {
            render(&v, got, sizeof got);
        }
        if (strcmp(got, t->want) != 0) {
            cr_log_error("SELECT %s: got %s, SQLite gives %s", t->expr, got, t->want);
            failed++;
        }
        hdb_sql_arena_free(&arena);
    }
    cr_assert_eq(failed, 0, "%u of %zu expressions differ from SQLite", failed,
                 sizeof EVAL_CASES / sizeof EVAL_CASES[0]);
}

static void expect_error(const char *expr, int code, const char *part)
{
    struct hdb_sql_arena arena = {0};
    struct hdb_eval_ctx ctx = {0};
    struct hdb_value v;
    struct hdb_err err = {0};
    cr_assert_eq(eval_text(expr, &v, &arena, &ctx, &err), code, "%s", expr);
    cr_assert_not_null(strstr(err.msg, part), "%s: %s", expr, err.msg);
    hdb_sql_arena_free(&arena);
}

Test(eval, errors_name_what_is_wrong)
{
    expect_error("nosuch(1)", HDB_INVALID, "no such function: nosuch");
    expect_error("abs(1, 2)", HDB_INVALID, "wrong number of arguments to function abs()");
    expect_error("count(1)", HDB_INVALID, "misuse of aggregate function count()");
    expect_error("abs(-9223372036854775808)", HDB_TOOBIG, "integer overflow");
    expect_error("'a' LIKE 'a' ESCAPE 'xy'", HDB_INVALID, "single character");
    expect_error("(SELECT 1)", HDB_INVALID, "executor");
    expect_error("zz", HDB_INVALID, "no such column: zz");
}

/* Columns: a TEXT-affinity column compared with a number, an INTEGER one with text. */
static int columns(void *ctx, const struct hdb_sql_expr *col, struct hdb_value *out,
                   enum hdb_affinity *aff, struct hdb_err *err)
{
    (void)ctx;
    (void)err;
    if (strcmp(col->u.column.column.ptr, "t") == 0) {
        *out = (struct hdb_value){.type = HDB_V_TEXT, .u.s = {(const uint8_t *)"10", 2}};
        *aff = HDB_AFF_TEXT;
    } else {
        *out = (struct hdb_value){.type = HDB_V_INT, .u.i = 10};
        *aff = HDB_AFF_INTEGER;
    }
    return HDB_OK;
}

Test(eval, column_affinity_applies_to_comparisons)
{
    struct {
        const char *expr;
        int64_t want;
    } cases[] = {
        {"i = '10'", 1},  /* the INTEGER column makes '10' a number */
        {"t = 10", 1},    /* 10 (no affinity) becomes TEXT '10' */
        {"t < 9", 1},     /* as text: '10' < '9' */
        {"i < '9'", 0},   /* as numbers */
        {"'10' = 10", 0}, /* no column: different storage classes */
        {"i IN ('10', 'x')", 1},
        {"i BETWEEN '5' AND '20'", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hdb_sql_arena arena = {0};
        struct hdb_eval_ctx ctx = {.column = columns};
        struct hdb_value v;
        struct hdb_err err = {0};
        cr_assert_eq(eval_text(cases[i].expr, &v, &arena, &ctx, &err), HDB_OK, "%s: %s",
                     cases[i].expr, err.msg);
        cr_assert(v.type == HDB_V_INT && v.u.i == cases[i].want, "%s", cases[i].expr);
        hdb_sql_arena_free(&arena);
    }
}

Test(eval, parameters_bind_by_number)
{
    struct hdb_value params[2] = {{.type = HDB_V_INT, .u.i = 40}, {.type = HDB_V_INT, .u.i = 2}};
    struct hdb_sql_arena arena = {0};
    struct hdb_eval_ctx ctx = {.params = params, .nparams = 2};
    struct hdb_value v;
    struct hdb_err err = {0};
    cr_assert_eq(eval_text("?1 + ?2", &v, &arena, &ctx, &err), HDB_OK, "%s", err.msg);
    cr_assert(v.type == HDB_V_INT && v.u.i == 42);
    cr_assert_eq(eval_text("?3 IS NULL", &v, &arena, &ctx, &err), HDB_OK, "%s", err.msg);
    cr_assert(v.type == HDB_V_INT && v.u.i == 1, "an unbound parameter is NULL");
    hdb_sql_arena_free(&arena);
}

/* The date and time functions, with 'now' fixed by the statement. */
Test(eval, date_and_time_functions_use_the_statement_clock)
{
    struct {
        const char *expr, *want;
    } cases[] = {
        {"date('2024-02-28', '+1 day')", "T2024-02-29"},
        {"datetime('now')", "T2023-11-14 22:13:20"},
        {"datetime('now', '-7 days')", "T2023-11-07 22:13:20"},
        {"strftime('%s', 'now')", "T1700000000"},
        {"unixepoch()", "I1700000000"},
        {"julianday('2000-01-01 12:00:00')", "R2451545"},
        {"date(1700000000, 'unixepoch')", "T2023-11-14"},
        {"date('nonsense')", "N"},
        {"time(NULL)", "N"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hdb_sql_arena arena = {0};
        struct hdb_eval_ctx ctx = {.now_ms = 1700000000000};
        struct hdb_value v;
        struct hdb_err err = {0};
        cr_assert_eq(eval_text(cases[i].expr, &v, &arena, &ctx, &err), HDB_OK, "%s: %s",
                     cases[i].expr, err.msg);
        char got[128];
        render(&v, got, sizeof got);
        cr_assert_str_eq(got, cases[i].want, "%s", cases[i].expr);
        hdb_sql_arena_free(&arena);
    }
}
