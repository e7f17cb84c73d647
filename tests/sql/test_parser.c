/*
 * test_parser.c — the SQL lexer and parser (sql/lexer.h, sql/parser.h).
 *
 * Most tests parse a statement, print it back with the canonical printer
 * (every compound expression parenthesized) and compare with the expected
 * text; every successful parse is also checked to round-trip: printing,
 * parsing the print and printing again gives the same text. Error tests
 * check the status, the message and the reported line/column/offset. The
 * limits (nesting, expression height) are checked with inputs far beyond
 * them, which must fail cleanly (the ASan build checks memory and stack).
 *
 * The corpus: tests/sql/corpus_sample.inc holds ~300 statements sampled from
 * the sqllogictest files (tests/sql/gen_corpus_sample.py); all must parse.
 * When the full corpus is present (HDB_SLT_DIR, default /work/shared/slt),
 * corpus_full_slt_parses_when_present parses every record and prints the
 * counts; without it that test is skipped, so CI needs only the repository.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sql/lexer.h"
#include "sql/parser.h"

#define PRINT_BYTES_MAX (256u * 1024u)

static char print1[PRINT_BYTES_MAX];
static char print2[PRINT_BYTES_MAX];

/* Parses `sql` (one statement), checks the round trip, returns the print. */
static const char *canon(const char *sql)
{
    struct hdb_sql_arena arena = {0};
    struct hdb_sql_stmt *st = NULL;
    struct hdb_err err = {0};
    int rc = hdb_sql_parse(&arena, sql, strlen(sql), &st, NULL, &err);
    cr_assert_eq(rc, HDB_OK, "parse failed: %s\n  sql: %s", err.msg, sql);
    size_t n = hdb_sql_print(st, print1, sizeof print1);
    cr_assert_lt(n, sizeof print1);
    hdb_sql_arena_free(&arena);

    rc = hdb_sql_parse(&arena, print1, n, &st, NULL, &err);
    cr_assert_eq(rc, HDB_OK, "reparse failed: %s\n  printed: %s", err.msg, print1);
    hdb_sql_print(st, print2, sizeof print2);
    cr_assert_str_eq(print1, print2, "round trip differs for: %s", sql);
    hdb_sql_arena_free(&arena);
    return print1;
}

static void expect_canon(const char *sql, const char *want)
{
    const char *got = canon(sql);
    cr_expect_str_eq(got, want, "for: %s\n  got:  %s\n  want: %s", sql, got, want);
}

/* The canonical text of the expression in `SELECT expr`. */
static void expect_expr(const char *expr, const char *want)
{
    char sql[4096];
    snprintf(sql, sizeof sql, "SELECT %s", expr);
    const char *got = canon(sql);
    cr_assert_eq(strncmp(got, "SELECT ", 7), 0);
    cr_expect_str_eq(got + 7, want, "for: %s\n  got:  %s\n  want: %s", expr, got + 7, want);
}

/* Parses `sql` expecting `code` with `want` in the message and the error at
 * line/column (0 to skip). */
static void expect_error(const char *sql, int code, const char *want, uint32_t line,
                         uint32_t column)
{
    struct hdb_sql_arena arena = {0};
    struct hdb_sql_stmt *st = NULL;
    struct hdb_err err = {0};
    struct hdb_sql_pos pos = {0};
    int rc = hdb_sql_parse(&arena, sql, strlen(sql), &st, &pos, &err);
    hdb_sql_arena_free(&arena);
    cr_assert_eq(rc, code, "rc %d (want %d) for: %s\n  msg: %s", rc, code, sql, err.msg);
    cr_assert_null(st);
    cr_expect(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
    if (line != 0) {
        cr_expect_eq(pos.line, line, "line %u, want %u: %s", pos.line, line, err.msg);
        cr_expect_eq(pos.column, column, "column %u, want %u: %s", pos.column, column, err.msg);
    }
}

static struct hdb_sql_stmt *parse_in(struct hdb_sql_arena *arena, const char *sql)
{
    struct hdb_sql_stmt *st = NULL;
    struct hdb_err err = {0};
    int rc = hdb_sql_parse(arena, sql, strlen(sql), &st, NULL, &err);
    cr_assert_eq(rc, HDB_OK, "parse failed: %s\n  sql: %s", err.msg, sql);
    return st;
}

/* ------------------------------------------------------------------ */
/* Lexer                                                               */

Test(lexer, keyword_table_is_sorted_for_binary_search)
{
    for (int k = HDB_KW_NONE + 2; k < HDB_KW_COUNT_; k++) {
        cr_assert_lt(strcmp(hdb_sql_keyword_name(k - 1), hdb_sql_keyword_name(k)), 0,
                     "%s before %s", hdb_sql_keyword_name(k - 1), hdb_sql_keyword_name(k));
        const char *name = hdb_sql_keyword_name(k);
        cr_assert_eq(hdb_sql_keyword(name, strlen(name)), (enum hdb_sql_kw)k);
    }
    cr_assert_eq(hdb_sql_keyword("select", 6), HDB_KW_SELECT);
    cr_assert_eq(hdb_sql_keyword("SeLeCt", 6), HDB_KW_SELECT);
    cr_assert_eq(hdb_sql_keyword("sel", 3), HDB_KW_NONE);
    cr_assert_eq(hdb_sql_keyword("selects", 7), HDB_KW_NONE);
}

struct want_tok {
    enum hdb_sql_tk kind;
    const char *text;
    uint32_t line, column;
};

static void expect_tokens(const char *sql, const struct want_tok *want, size_t n)
{
    struct hdb_sql_lexer lx;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_sql_lexer_init(&lx, sql, strlen(sql), &err), HDB_OK);
    for (size_t i = 0; i <= n; i++) {
        struct hdb_sql_token t;
        cr_assert_eq(hdb_sql_lex(&lx, &t, &err), HDB_OK, "token %zu: %s", i, err.msg);
        if (i == n) {
            cr_assert_eq(t.kind, HDB_TK_EOF, "extra token at %u", t.offset);
            break;
        }
        cr_expect_eq(t.kind, want[i].kind, "token %zu kind %d", i, t.kind);
        cr_expect_eq(t.len, strlen(want[i].text), "token %zu len", i);
        cr_expect_eq(strncmp(sql + t.offset, want[i].text, t.len), 0, "token %zu text", i);
        if (want[i].line != 0) {
            cr_expect_eq(t.line, want[i].line, "token %zu line %u", i, t.line);
            cr_expect_eq(t.column, want[i].column, "token %zu column %u", i, t.column);
        }
    }
}

Test(lexer, tokens_carry_offset_line_and_column)
{
    const char *sql = "SELECT a,\n  \"b c\" -- comment\n FROM /* x\n y */ t;";
    const struct want_tok want[] = {
        {HDB_TK_ID, "SELECT", 1, 1},   {HDB_TK_ID, "a", 1, 8},    {HDB_TK_COMMA, ",", 1, 9},
        {HDB_TK_QID, "\"b c\"", 2, 3}, {HDB_TK_ID, "FROM", 3, 2}, {HDB_TK_ID, "t", 4, 7},
        {HDB_TK_SEMI, ";", 4, 8},
    };
    expect_tokens(sql, want, sizeof want / sizeof want[0]);
}

Test(lexer, identifier_forms_and_literals)
{
    const char *sql = "[a b] `c``d` \"e\"\"f\" 'it''s' x'0aFF' X'' 12 0x1F 1.5 .5 1e10 1.5E-3 7.";
    const struct want_tok want[] = {
        {HDB_TK_QID, "[a b]", 0, 0},      {HDB_TK_QID, "`c``d`", 0, 0},
        {HDB_TK_QID, "\"e\"\"f\"", 0, 0}, {HDB_TK_STRING, "'it''s'", 0, 0},
        {HDB_TK_BLOB, "x'0aFF'", 0, 0},   {HDB_TK_BLOB, "X''", 0, 0},
        {HDB_TK_INTEGER, "12", 0, 0},     {HDB_TK_INTEGER, "0x1F", 0, 0},
        {HDB_TK_REAL, "1.5", 0, 0},       {HDB_TK_REAL, ".5", 0, 0},
        {HDB_TK_REAL, "1e10", 0, 0},      {HDB_TK_REAL, "1.5E-3", 0, 0},
        {HDB_TK_REAL, "7.", 0, 0},
    };
    expect_tokens(sql, want, sizeof want / sizeof want[0]);
}

Test(lexer, every_operator)
{
    const char *sql = "|| * / % + - << >> & | < <= > >= = == != <> ~ , ; ( ) .";
    const struct want_tok want[] = {
        {HDB_TK_CONCAT, "||", 0, 0}, {HDB_TK_STAR, "*", 0, 0},    {HDB_TK_SLASH, "/", 0, 0},
        {HDB_TK_REM, "%", 0, 0},     {HDB_TK_PLUS, "+", 0, 0},    {HDB_TK_MINUS, "-", 0, 0},
        {HDB_TK_LSHIFT, "<<", 0, 0}, {HDB_TK_RSHIFT, ">>", 0, 0}, {HDB_TK_BITAND, "&", 0, 0},
        {HDB_TK_BITOR, "|", 0, 0},   {HDB_TK_LT, "<", 0, 0},      {HDB_TK_LE, "<=", 0, 0},
        {HDB_TK_GT, ">", 0, 0},      {HDB_TK_GE, ">=", 0, 0},     {HDB_TK_EQ, "=", 0, 0},
        {HDB_TK_EQ, "==", 0, 0},     {HDB_TK_NE, "!=", 0, 0},     {HDB_TK_NE, "<>", 0, 0},
        {HDB_TK_BITNOT, "~", 0, 0},  {HDB_TK_COMMA, ",", 0, 0},   {HDB_TK_SEMI, ";", 0, 0},
        {HDB_TK_LP, "(", 0, 0},      {HDB_TK_RP, ")", 0, 0},      {HDB_TK_DOT, ".", 0, 0},
    };
    expect_tokens(sql, want, sizeof want / sizeof want[0]);
}

Test(lexer, parameters_of_every_form)
{
    const char *sql = "? ?12 :name @x $y";
    const struct want_tok want[] = {
        {HDB_TK_PARAM, "?", 0, 0},  {HDB_TK_PARAM, "?12", 0, 0}, {HDB_TK_PARAM, ":name", 0, 0},
        {HDB_TK_PARAM, "@x", 0, 0}, {HDB_TK_PARAM, "$y", 0, 0},
    };
    expect_tokens(sql, want, sizeof want / sizeof want[0]);
}

Test(lexer, keywords_are_case_insensitive_and_quoted_names_are_not_keywords)
{
    struct hdb_sql_lexer lx;
    struct hdb_sql_token t;
    const char *sql = "sElEcT \"select\"";
    cr_assert_eq(hdb_sql_lexer_init(&lx, sql, strlen(sql), NULL), HDB_OK);
    cr_assert_eq(hdb_sql_lex(&lx, &t, NULL), HDB_OK);
    cr_expect_eq(t.kw, HDB_KW_SELECT);
    cr_assert_eq(hdb_sql_lex(&lx, &t, NULL), HDB_OK);
    cr_expect_eq(t.kind, HDB_TK_QID);
    cr_expect_eq(t.kw, HDB_KW_NONE);
}

Test(lexer_errors, unterminated_string_reports_its_start)
{
    expect_error("SELECT 1,\n  'abc", HDB_INVALID, "unterminated string literal", 2, 3);
    expect_error("SELECT 'abc", HDB_INVALID, "near \"'abc\" at line 1, column 8", 1, 8);
}

Test(lexer_errors, unterminated_comment_and_identifiers)
{
    expect_error("SELECT 1 /* never closed", HDB_INVALID, "unterminated /* comment", 1, 10);
    expect_error("SELECT \"abc", HDB_INVALID, "unterminated quoted identifier", 1, 8);
    expect_error("SELECT [abc", HDB_INVALID, "unterminated [identifier]", 1, 8);
    expect_error("SELECT `abc", HDB_INVALID, "unterminated quoted identifier", 1, 8);
}

Test(lexer_errors, bad_characters_numbers_and_blobs)
{
    expect_error("SELECT 1 # 2", HDB_INVALID, "near \"#\" at line 1, column 10: unrecognized", 1,
                 10);
    expect_error("SELECT 12abc", HDB_INVALID, "malformed number", 1, 8);
    expect_error("SELECT x'abc'", HDB_INVALID, "odd number of hex digits", 1, 8);
    expect_error("SELECT x'zz'", HDB_INVALID, "malformed blob", 1, 8);
    expect_error("SELECT :", HDB_INVALID, "parameter name", 1, 8);
    expect_error("SELECT 1 -- fine\n ^", HDB_INVALID, "unrecognized token", 2, 2);
}

/* ------------------------------------------------------------------ */
/* Literals and parameters                                            */

Test(literals, numbers_strings_blobs_and_keywords)
{
    expect_expr("12, 0x1F, 0xffffffffffffffff, 1.5, .5, 1e10, 1.5E-3",
                "12, 31, 0xFFFFFFFFFFFFFFFF, 1.5, 0.5, 10000000000.0, 0.0015");
    expect_expr("'it''s', X'0aff', NULL, TRUE, false", "'it''s', X'0AFF', NULL, TRUE, FALSE");
    expect_expr("CURRENT_TIME, CURRENT_DATE, current_timestamp",
                "CURRENT_TIME, CURRENT_DATE, CURRENT_TIMESTAMP");
}

Test(literals, too_large_decimal_integers_become_reals)
{
    expect_expr("9223372036854775807", "9223372036854775807");
    expect_expr("9223372036854775808", "9.2233720368547758e+18");
    expect_expr("1e999", "1e999");
    expect_error("SELECT 0x11112222333344445", HDB_INVALID, "hex literal too big", 1, 8);
}

Test(parameters, question_marks_number_in_order_and_after_explicit_ones)
{
    struct hdb_sql_arena arena = {0};
    struct hdb_sql_stmt *st = parse_in(&arena, "SELECT ?, ?5, ?, ?2, :a, @b, :a, ?");
    expect_canon("SELECT ?, ?5, ?, ?2, :a, @b, :a, ?", "SELECT ?1, ?5, ?6, ?2, :a, @b, :a, ?9");
    cr_expect_eq(st->params, 9);
    const struct hdb_sql_select_core *c = st->u.select->cores.items[0];
    const uint32_t want[] = {1, 5, 6, 2, 7, 8, 7, 9};
    for (uint32_t i = 0; i < 8; i++) {
        const struct hdb_sql_result_col *rc = c->columns.items[i];
        cr_expect_eq(rc->expr->kind, HDB_EXPR_PARAM);
        cr_expect_eq(rc->expr->u.param.number, want[i], "param %u", i);
    }
    hdb_sql_arena_free(&arena);
}

Test(parameters, numbers_outside_1_to_32766_are_errors)
{
    expect_canon("SELECT ?32766", "SELECT ?32766");
    expect_error("SELECT ?0", HDB_INVALID, "between ?1 and ?32766", 1, 8);
    expect_error("SELECT ?32767", HDB_INVALID, "between ?1 and ?32766", 1, 8);
    expect_error("SELECT ?99999999999999999999", HDB_INVALID, "between ?1 and ?32766", 1, 8);
    expect_error("SELECT ?32766, ?", HDB_INVALID, "too many SQL variables", 1, 16);
}

/* ------------------------------------------------------------------ */
/* Expressions and precedence                                          */

Test(precedence, arithmetic_binds_tighter_than_comparison_and_logic)
{
    expect_expr("1 + 2 * 3", "(1 + (2 * 3))");
    expect_expr("1 - 2 - 3", "((1 - 2) - 3)");
    expect_expr("a || b * c", "((a || b) * c)"); /* || binds tighter than * */
    expect_expr("a * b || c", "(a * (b || c))");
    expect_expr("1 + 2 << 3 & 4", "(((1 + 2) << 3) & 4)");
    expect_expr("a < b = c > d", "((a < b) = (c > d))");
    expect_expr("a = 1 OR b = 2 AND c = 3", "((a = 1) OR ((b = 2) AND (c = 3)))");
    expect_expr("a % b / c", "((a % b) / c)");
}

Test(precedence, not_is_below_comparison_and_unary_above_everything)
{
    expect_expr("NOT a = b", "(NOT (a = b))");
    expect_expr("NOT NOT a", "(NOT (NOT a))");
    expect_expr("NOT a AND b", "((NOT a) AND b)");
    expect_expr("- a * b", "((- a) * b)");
    expect_expr("- - + ~ 1", "(- (- (+ (~ 1))))");
    expect_expr("-a COLLATE nocase", "(- (a COLLATE nocase))");
    expect_expr("a || b COLLATE x", "(a || (b COLLATE x))");
}

Test(precedence, between_and_is_not_confused_with_logical_and)
{
    expect_expr("a BETWEEN 1 AND 2 AND c", "((a BETWEEN 1 AND 2) AND c)");
    expect_expr("a NOT BETWEEN b + 1 AND c * 2", "(a NOT BETWEEN (b + 1) AND (c * 2))");
    expect_expr("a BETWEEN 1 AND 2 = 0", "((a BETWEEN 1 AND 2) = 0)");
}

Test(expressions, is_isnull_notnull_and_distinct_from)
{
    expect_expr("a IS NULL", "(a IS NULL)");
    expect_expr("a IS NOT NULL", "(a IS NOT NULL)");
    expect_expr("a ISNULL, b NOTNULL, c NOT NULL", "(a IS NULL), (b IS NOT NULL), (c IS NOT NULL)");
    expect_expr("a IS b", "(a IS b)");
    expect_expr("a IS NOT b + 1", "(a IS NOT (b + 1))");
    expect_expr("a IS DISTINCT FROM b", "(a IS NOT b)");
    expect_expr("a IS NOT DISTINCT FROM b", "(a IS b)");
    expect_expr("NOT NULL IS NULL", "(NOT (NULL IS NULL))");
}

Test(expressions, like_glob_with_escape_and_negation)
{
    expect_expr("a LIKE 'x%'", "(a LIKE 'x%')");
    expect_expr("a NOT LIKE 'x\\%' ESCAPE '\\'", "(a NOT LIKE 'x\\%' ESCAPE '\\')");
    expect_expr("a GLOB '*x' AND b NOT GLOB 'y'", "((a GLOB '*x') AND (b NOT GLOB 'y'))");
    expect_expr("a REGEXP b, a MATCH b", "(a REGEXP b), (a MATCH b)");
    expect_expr("like('a', b)", "like('a', b)");
}

Test(expressions, in_with_lists_subqueries_and_tables)
{
    expect_expr("a IN (1, 2, 3)", "(a IN (1, 2, 3))");
    expect_expr("a NOT IN ()", "(a NOT IN ())");
    expect_expr("a IN (SELECT b FROM t)", "(a IN (SELECT b FROM t))");
    expect_expr("a NOT IN t", "(a NOT IN t)");
    expect_expr("a IN main.t", "(a IN main.t)");
    expect_expr("1 IN (1) IN (1)", "((1 IN (1)) IN (1))");
}

Test(expressions, case_cast_functions_and_subqueries)
{
    expect_expr("CASE a WHEN 1 THEN 'x' WHEN 2 THEN 'y' ELSE 'z' END",
                "CASE a WHEN 1 THEN 'x' WHEN 2 THEN 'y' ELSE 'z' END");
    expect_expr("CASE WHEN a > 1 THEN 2 END", "CASE WHEN (a > 1) THEN 2 END");
    expect_expr("CAST(a AS DECIMAL(12, 2)) + CAST('1' AS INTEGER)",
                "(CAST(a AS DECIMAL(12, 2)) + CAST('1' AS INTEGER))");
    expect_expr("count(*), COUNT(DISTINCT x), max(a, b), random(), f(*)",
                "count(*), COUNT(DISTINCT x), max(a, b), random(), f(*)");
    expect_expr("EXISTS (SELECT 1), NOT EXISTS (SELECT 2)",
                "EXISTS (SELECT 1), (NOT EXISTS (SELECT 2))");
    expect_expr("(SELECT max(x) FROM t) + 1", "((SELECT max(x) FROM t) + 1)");
    expect_expr("(a, b) = (1, 2)", "((a, b) = (1, 2))");
    expect_expr("t.c, main.t.c, \"odd name\".\"select\"", "t.c, main.t.c, \"odd name\".\"select\"");
    expect_expr("((((1))))", "1");
    expect_expr("replace(a, 'x', 'y')", "replace(a, 'x', 'y')");
}

Test(expressions, spans_cover_the_source_text)
{
    struct hdb_sql_arena arena = {0};
    const char *sql = "SELECT a + (b * 2) AS x, count( * ) FROM t";
    struct hdb_sql_stmt *st = parse_in(&arena, sql);
    const struct hdb_sql_select_core *c = st->u.select->cores.items[0];
    const struct hdb_sql_result_col *r0 = c->columns.items[0];
    const struct hdb_sql_result_col *r1 = c->columns.items[1];
    cr_expect_eq(strncmp(sql + r0->expr->offset, "a + (b * 2)", r0->expr->len), 0);
    cr_expect_eq(r0->expr->len, strlen("a + (b * 2)"));
    cr_expect_eq(r1->expr->len, strlen("count( * )"));
    cr_expect_str_eq(r0->alias.ptr, "x");
    cr_expect_eq(r0->expr->height, 3);
    cr_expect_eq(st->offset, 0);
    cr_expect_eq(st->len, strlen(sql));
    hdb_sql_arena_free(&arena);
}

/* ------------------------------------------------------------------ */
/* Limits                                                              */

static char *repeat3(const char *head, const char *unit, size_t n, const char *mid,
                     const char *tail_unit, const char *tail)
{
    size_t cap =
        strlen(head) + n * (strlen(unit) + strlen(tail_unit)) + strlen(mid) + strlen(tail) + 1;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    size_t k = 0;
    k += (size_t)sprintf(s + k, "%s", head);
    for (size_t i = 0; i < n; i++) {
        k += (size_t)sprintf(s + k, "%s", unit);
    }
    k += (size_t)sprintf(s + k, "%s", mid);
    for (size_t i = 0; i < n; i++) {
        k += (size_t)sprintf(s + k, "%s", tail_unit);
    }
    sprintf(s + k, "%s", tail);
    return s;
}

Test(limits, ten_thousand_nested_parentheses_fail_cleanly)
{
    char *sql = repeat3("SELECT ", "(", 10000, "1", ")", "");
    expect_error(sql, HDB_INVALID, "too deeply nested", 0, 0);
    free(sql);
    sql = repeat3("SELECT ", "(", HDB_SQL_NEST_MAX - 2, "1", ")", "");
    canon(sql);
    free(sql);
}

Test(limits, deep_unary_not_case_and_subqueries_fail_cleanly)
{
    char *sql = repeat3("SELECT ", "- ", 10000, "1", "", "");
    expect_error(sql, HDB_INVALID, "too deeply nested", 0, 0);
    free(sql);
    sql = repeat3("SELECT ", "NOT ", 10000, "1", "", "");
    expect_error(sql, HDB_INVALID, "too many NOT", 0, 0);
    free(sql);
    sql = repeat3("SELECT ", "CASE WHEN 1 THEN ", 10000, "1", " END", "");
    expect_error(sql, HDB_INVALID, "too deeply nested", 0, 0);
    free(sql);
    sql = repeat3("SELECT ", "(SELECT ", 10000, "1", ")", "");
    expect_error(sql, HDB_INVALID, "too deeply nested", 0, 0);
    free(sql);
    sql = repeat3("SELECT 1 WHERE ", "EXISTS (SELECT 1 WHERE ", 10000, "1", ")", "");
    expect_error(sql, HDB_INVALID, "too deeply nested", 0, 0);
    free(sql);
}

Test(limits, long_operator_chains_are_bounded_by_tree_height)
{
    /* A chain is parsed by a loop, but the tree it builds is deep: its
     * height is what later recursive passes see, so it is bounded too. */
    char *sql = repeat3("SELECT 1", " + 1", 5000, "", "", "");
    expect_error(sql, HDB_INVALID, "expression tree is too large", 0, 0);
    free(sql);
    /* (Parse only: the printer's parentheses would nest deeper than
     * HDB_SQL_NEST_MAX, so trees this tall do not round-trip.) */
    struct hdb_sql_arena arena = {0};
    sql = repeat3("SELECT 1", " + 1", HDB_SQL_EXPR_HEIGHT_MAX - 2, "", "", "");
    parse_in(&arena, sql);
    hdb_sql_arena_free(&arena);
    free(sql);
    /* Heights add up through subqueries. */
    char *inner = repeat3("SELECT 1", " + 1", 600, "", "", "");
    size_t n = strlen(inner);
    char *outer = malloc(2 * n + 64);
    cr_assert_not_null(outer);
    char *chain = repeat3("", " + 1", 600, "", "", "");
    sprintf(outer, "SELECT (%s)%s", inner, chain);
    expect_error(outer, HDB_INVALID, "expression tree is too large", 0, 0);
    free(chain);
    sprintf(outer, "SELECT (%s) + (%s)", inner, inner);
    parse_in(&arena, outer);
    hdb_sql_arena_free(&arena);
    free(outer);
    free(inner);
}

Test(limits, text_longer_than_the_limit_is_refused)
{
    struct hdb_sql_arena arena = {0};
    struct hdb_sql_stmt *st = NULL;
    struct hdb_err err = {0};
    int rc = hdb_sql_parse(&arena, "SELECT 1", (size_t)HDB_SQL_TEXT_BYTES_MAX + 1, &st, NULL, &err);
    cr_expect_eq(rc, HDB_TOOBIG);
    cr_expect(strstr(err.msg, "exceeds the limit") != NULL, "%s", err.msg);
}

/* ------------------------------------------------------------------ */
/* Syntax errors                                                       */

Test(syntax_errors, report_the_token_its_position_and_what_was_expected)
{
    expect_error("SELECT FROM t", HDB_INVALID,
                 "near \"FROM\": syntax error at line 1, column 8 (expected an expression)", 1, 8);
    expect_error("SELECT a\nFROM t\nWHERE a = = 1", HDB_INVALID,
                 "near \"=\": syntax error at line 3, column 11", 3, 11);
    expect_error("SELECT a FROM", HDB_INVALID,
                 "incomplete input at line 1, column 14 (expected a table name)", 1, 14);
    expect_error("CREATE TABLE t (a INTEGER", HDB_INVALID, "incomplete input", 1, 26);
    expect_error("SELEC 1", HDB_INVALID, "near \"SELEC\": syntax error", 1, 1);
    expect_error("SELECT 1 2", HDB_INVALID, "near \"2\": syntax error at line 1, column 10", 1, 10);
    expect_error("INSERT INTO t VALUES (1), (1, 2)", HDB_INVALID, "same number of terms", 0, 0);
    expect_error("SELECT CASE END", HDB_INVALID, "expected WHEN", 1, 16); /* END is a name */
    expect_error("SELECT CASE WHEN 1 END", HDB_INVALID, "near \"END\"", 1, 20);
    expect_error("DROP TABLE", HDB_INVALID, "incomplete input", 1, 11);
    expect_error("", HDB_INVALID, "incomplete input", 1, 1);
    expect_error("  ;; ", HDB_INVALID, "expected a statement", 0, 0);
    expect_error("SELECT 1; SELECT 2", HDB_INVALID, "more than one statement", 1, 11);
    expect_error("SELECT a FROM t WHERE", HDB_INVALID, "expected an expression", 1, 22);
    expect_error("CREATE TABLE t (a DECIMAL(1, 2, 3))", HDB_INVALID, "near \"3\"", 1, 33);
}

Test(syntax_errors, the_offset_is_readable_by_the_caller)
{
    struct hdb_sql_arena arena = {0};
    struct hdb_sql_stmt *st = NULL;
    struct hdb_err err = {0};
    struct hdb_sql_pos pos = {0};
    const char *sql = "SELECT 1;\nSELECT * FORM t";
    struct hdb_sql_script s;
    cr_assert_eq(hdb_sql_script_init(&s, sql, strlen(sql), &err), HDB_OK);
    cr_assert_eq(hdb_sql_script_next(&s, &arena, &st, NULL, &err), HDB_OK);
    cr_assert_eq(hdb_sql_script_next(&s, &arena, &st, NULL, &err), HDB_INVALID);
    pos = s.error_pos;
    cr_expect_eq(pos.offset, (uint32_t)(strstr(sql, "FORM") - sql));
    cr_expect_eq(pos.line, 2);
    cr_expect_eq(pos.column, 10);
    cr_expect(strstr(err.msg, "near \"FORM\"") != NULL, "%s", err.msg);
    hdb_sql_arena_free(&arena);
}

Test(syntax_errors, reserved_words_are_not_names_but_others_are)
{
    expect_error("CREATE TABLE select (a)", HDB_INVALID, "near \"select\"", 1, 14);
    expect_error("SELECT a FROM t WHERE from = 1", HDB_INVALID, "near \"from\"", 1, 23);
    expect_canon("CREATE TABLE key (action TEXT, replace INT, \"select\" INT)",
                 "CREATE TABLE \"key\" (\"action\" TEXT, \"replace\" INT, \"select\" INT)");
    expect_canon("SELECT t.key FROM t AS plan", "SELECT t.\"key\" FROM t AS \"plan\"");
}

/* ------------------------------------------------------------------ */
/* SELECT                                                              */

Test(select, result_columns_aliases_and_stars)
{
    expect_canon("select * , t.* , a x , b as \"y z\" , c 'w' from t",
                 "SELECT *, t.*, a AS x, b AS \"y z\", c AS w FROM t");
    expect_canon("SELECT DISTINCT a FROM t", "SELECT DISTINCT a FROM t");
    expect_canon("SELECT ALL a FROM t", "SELECT a FROM t");
    expect_canon("SELECT 1", "SELECT 1");
}

Test(select, joins_of_every_kind)
{
    expect_canon("SELECT * FROM a, b AS x, main.c y", "SELECT * FROM a, b AS x, main.c AS y");
    expect_canon("SELECT * FROM a JOIN b ON a.id = b.id INNER JOIN c USING (id, k)",
                 "SELECT * FROM a JOIN b ON (a.id = b.id) JOIN c USING (id, k)");
    expect_canon("SELECT * FROM a LEFT OUTER JOIN b ON 1 LEFT JOIN c CROSS JOIN d",
                 "SELECT * FROM a LEFT JOIN b ON 1 LEFT JOIN c CROSS JOIN d");
    expect_canon("SELECT * FROM a NATURAL JOIN b NATURAL LEFT JOIN c",
                 "SELECT * FROM a NATURAL JOIN b NATURAL LEFT JOIN c");
    expect_canon("SELECT * FROM (SELECT 1 AS x) AS s, (SELECT 2) t2",
                 "SELECT * FROM (SELECT 1 AS x) AS s, (SELECT 2) AS t2");
    expect_canon("SELECT * FROM ( tab0 AS cor0 CROSS JOIN tab1 AS cor1 )",
                 "SELECT * FROM (tab0 AS cor0 CROSS JOIN tab1 AS cor1)");
}

Test(select, where_group_by_having_order_limit)
{
    expect_canon("SELECT a, count(*) FROM t WHERE b > 1 GROUP BY a HAVING count(*) > 2 "
                 "ORDER BY 2 DESC, a COLLATE nocase ASC NULLS LAST LIMIT 10 OFFSET 5",
                 "SELECT a, count(*) FROM t WHERE (b > 1) GROUP BY a HAVING (count(*) > 2) "
                 "ORDER BY 2 DESC, (a COLLATE nocase) ASC NULLS LAST LIMIT 10 OFFSET 5");
    expect_canon("SELECT a FROM t LIMIT 5, 10", "SELECT a FROM t LIMIT 10 OFFSET 5");
    expect_canon("SELECT a FROM t ORDER BY a NULLS FIRST LIMIT ?",
                 "SELECT a FROM t ORDER BY a NULLS FIRST LIMIT ?1");
}

Test(select, compounds_values_and_with)
{
    expect_canon("SELECT 1 UNION SELECT 2 UNION ALL SELECT 3 EXCEPT SELECT 4 INTERSECT "
                 "SELECT 5 ORDER BY 1 LIMIT 2",
                 "SELECT 1 UNION SELECT 2 UNION ALL SELECT 3 EXCEPT SELECT 4 INTERSECT "
                 "SELECT 5 ORDER BY 1 LIMIT 2");
    expect_canon("VALUES (1, 'a'), (2, 'b')", "VALUES (1, 'a'), (2, 'b')");
    expect_canon("SELECT * FROM (VALUES (1), (2)) AS v", "SELECT * FROM (VALUES (1), (2)) AS v");
    expect_canon("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 9), "
                 "d AS (SELECT 2) SELECT n FROM c",
                 "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT (n + 1) FROM c WHERE (n < 9)), "
                 "d AS (SELECT 2) SELECT n FROM c");
}

Test(select, the_tree_has_the_expected_shape)
{
    struct hdb_sql_arena arena = {0};
    struct hdb_sql_stmt *st =
        parse_in(&arena, "SELECT a AS x FROM t LEFT JOIN u ON t.id = u.id WHERE a > ? "
                         "UNION ALL SELECT 1, 2 ORDER BY 1 LIMIT 3");
    cr_assert_eq(st->kind, HDB_STMT_SELECT);
    const struct hdb_sql_select *s = st->u.select;
    cr_assert_eq(s->cores.n, 2);
    const struct hdb_sql_select_core *c0 = s->cores.items[0];
    const struct hdb_sql_select_core *c1 = s->cores.items[1];
    cr_expect_eq(c0->op, HDB_COMPOUND_NONE);
    cr_expect_eq(c1->op, HDB_COMPOUND_UNION_ALL);
    cr_assert_eq(c0->from.n, 2);
    const struct hdb_sql_source *u = c0->from.items[1];
    cr_expect_eq(u->join, HDB_JOIN_LEFT);
    cr_expect_str_eq(u->table.ptr, "u");
    cr_assert_not_null(u->on);
    cr_expect_eq(u->on->kind, HDB_EXPR_BINARY);
    cr_expect_eq(u->on->u.binary.op, HDB_OP_EQ);
    cr_expect_eq(c0->where->u.binary.right->kind, HDB_EXPR_PARAM);
    cr_expect_eq(s->order_by.n, 1);
    cr_expect_eq(s->limit->u.i, 3);
    cr_expect_eq(st->params, 1);
    hdb_sql_arena_free(&arena);
}

/* ------------------------------------------------------------------ */
/* DDL                                                                 */

Test(ddl, create_table_with_every_column_constraint)
{
    expect_canon(
        "CREATE TABLE IF NOT EXISTS main.acct (\n"
        "  id INTEGER CONSTRAINT pk PRIMARY KEY DESC ON CONFLICT REPLACE AUTOINCREMENT,\n"
        "  bal DECIMAL(12,2) NOT NULL DEFAULT 0 CHECK (bal >= 0),\n"
        "  name VARCHAR(255) NULL UNIQUE COLLATE nocase,\n"
        "  rate DOUBLE PRECISION DEFAULT -1.5, flag DEFAULT +7,\n"
        "  at TEXT DEFAULT CURRENT_TIMESTAMP, note DEFAULT 'x', w DEFAULT abc,\n"
        "  owner INT REFERENCES users(id) ON DELETE CASCADE ON UPDATE SET NULL,\n"
        "  g AS (bal * 2) STORED, h INT GENERATED ALWAYS AS (1), blobby BLOB, n NUMERIC,\n"
        "  r REAL DEFAULT (1 + 2), s TEXT DEFAULT NULL, t INT DEFAULT TRUE)",
        "CREATE TABLE IF NOT EXISTS main.acct (id INTEGER CONSTRAINT pk PRIMARY KEY DESC ON "
        "CONFLICT REPLACE AUTOINCREMENT, bal DECIMAL(12, 2) NOT NULL DEFAULT (0) CHECK ((bal >= "
        "0)), name VARCHAR(255) NULL UNIQUE COLLATE nocase, rate DOUBLE PRECISION DEFAULT ((- "
        "1.5)), flag DEFAULT ((+ 7)), at TEXT DEFAULT (CURRENT_TIMESTAMP), note DEFAULT "
        "('x'), w DEFAULT ('abc'), owner INT REFERENCES users(id) ON DELETE CASCADE ON UPDATE "
        "SET NULL, g AS ((bal * 2)) STORED, h INT AS (1), blobby BLOB, n NUMERIC, r REAL "
        "DEFAULT ((1 + 2)), s TEXT DEFAULT (NULL), t INT DEFAULT (TRUE))");
}

Test(ddl, create_table_with_table_constraints_and_as_select)
{
    expect_canon("CREATE TABLE t (a INT, b INT, c, PRIMARY KEY (a, b DESC), UNIQUE (c) ON "
                 "CONFLICT IGNORE, CONSTRAINT ck CHECK (a > b) FOREIGN KEY (c) REFERENCES "
                 "p(x) DEFERRABLE INITIALLY DEFERRED) WITHOUT ROWID",
                 "CREATE TABLE t (a INT, b INT, c, PRIMARY KEY (a, b DESC), UNIQUE (c) ON "
                 "CONFLICT IGNORE, CONSTRAINT ck CHECK ((a > b)), FOREIGN KEY (c) REFERENCES "
                 "p(x) DEFERRABLE INITIALLY DEFERRED) WITHOUT ROWID");
    expect_canon("CREATE TEMP TABLE t2 AS SELECT a, b FROM t WHERE a > 1",
                 "CREATE TEMP TABLE t2 AS SELECT a, b FROM t WHERE (a > 1)");
    expect_canon("CREATE TABLE t1( x INTEGER, y VARCHAR(8) )",
                 "CREATE TABLE t1 (x INTEGER, y VARCHAR(8))");
}

Test(ddl, create_table_tree_shape)
{
    struct hdb_sql_arena arena = {0};
    struct hdb_sql_stmt *st = parse_in(
        &arena, "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, amt NUMERIC(38, -2))");
    cr_assert_eq(st->kind, HDB_STMT_CREATE_TABLE);
    cr_assert_eq(st->u.create_table.columns.n, 2);
    const struct hdb_sql_column_def *id = st->u.create_table.columns.items[0];
    const struct hdb_sql_column_def *amt = st->u.create_table.columns.items[1];
    cr_expect_str_eq(id->type.name.ptr, "INTEGER");
    cr_assert_eq(id->constraints.n, 1);
    const struct hdb_sql_constraint *pk = id->constraints.items[0];
    cr_expect_eq(pk->kind, HDB_CONS_PRIMARY_KEY);
    cr_expect(pk->autoincrement);
    cr_expect_str_eq(amt->type.name.ptr, "NUMERIC");
    cr_expect_eq(amt->type.nargs, 2);
    cr_expect_eq(amt->type.args[0], 38);
    cr_expect_eq(amt->type.args[1], -2);
    hdb_sql_arena_free(&arena);
}

Test(ddl, indexes_views_drops_and_alter)
{
    expect_canon("CREATE UNIQUE INDEX IF NOT EXISTS i ON t (a COLLATE nocase DESC, b ASC) WHERE "
                 "a > 0",
                 "CREATE UNIQUE INDEX IF NOT EXISTS i ON t ((a COLLATE nocase) DESC, b ASC) "
                 "WHERE (a > 0)");
    expect_canon("CREATE INDEX i2 ON t(lower(a))", "CREATE INDEX i2 ON t (lower(a))");
    expect_canon("DROP TABLE IF EXISTS t", "DROP TABLE IF EXISTS t");
    expect_canon("DROP INDEX main.i", "DROP INDEX main.i");
    expect_canon("DROP VIEW IF EXISTS v", "DROP VIEW IF EXISTS v");
    expect_canon("CREATE VIEW IF NOT EXISTS v(a, b) AS SELECT 1, 2",
                 "CREATE VIEW IF NOT EXISTS v(a, b) AS SELECT 1, 2");
    expect_canon("CREATE TEMP VIEW v AS SELECT * FROM t", "CREATE TEMP VIEW v AS SELECT * FROM t");
    expect_canon("ALTER TABLE t ADD c TEXT NOT NULL DEFAULT ''",
                 "ALTER TABLE t ADD COLUMN c TEXT NOT NULL DEFAULT ('')");
    expect_canon("ALTER TABLE t ADD COLUMN d", "ALTER TABLE t ADD COLUMN d");
    expect_canon("ALTER TABLE t RENAME TO u", "ALTER TABLE t RENAME TO u");
    expect_canon("ALTER TABLE t RENAME a TO b", "ALTER TABLE t RENAME COLUMN a TO b");
    expect_canon("ALTER TABLE t DROP COLUMN b", "ALTER TABLE t DROP COLUMN b");
}

/* ------------------------------------------------------------------ */
/* DML                                                                 */

Test(dml, insert_forms)
{
    expect_canon("INSERT INTO t VALUES (1, 'a'), (2, NULL)",
                 "INSERT INTO t VALUES (1, 'a'), (2, NULL)");
    expect_canon("INSERT INTO t(a, b) SELECT x, y FROM u WHERE x > 0",
                 "INSERT INTO t (a, b) SELECT x, y FROM u WHERE (x > 0)");
    expect_canon("INSERT INTO t DEFAULT VALUES", "INSERT INTO t DEFAULT VALUES");
    expect_canon("INSERT OR IGNORE INTO t VALUES (1)", "INSERT OR IGNORE INTO t VALUES (1)");
    expect_canon("INSERT OR ROLLBACK INTO t VALUES (1)", "INSERT OR ROLLBACK INTO t VALUES (1)");
    expect_canon("REPLACE INTO t VALUES (1)", "INSERT OR REPLACE INTO t VALUES (1)");
    expect_canon("INSERT INTO main.t AS x VALUES (?) RETURNING *, x.a AS b",
                 "INSERT INTO main.t AS x VALUES (?1) RETURNING *, x.a AS b");
}

Test(dml, insert_on_conflict_do_update_returning)
{
    expect_canon("INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = "
                 "excluded.v, n = n + 1 WHERE v <> excluded.v RETURNING k, v",
                 "INSERT INTO kv (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = "
                 "excluded.v, n = (n + 1) WHERE (v <> excluded.v) RETURNING k, v");
    expect_canon("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING",
                 "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING");
    expect_canon("INSERT INTO t SELECT * FROM u WHERE true ON CONFLICT (a) WHERE a > 0 DO "
                 "NOTHING ON CONFLICT DO UPDATE SET (a, b) = (1, 2)",
                 "INSERT INTO t SELECT * FROM u WHERE TRUE ON CONFLICT (a) WHERE (a > 0) DO "
                 "NOTHING ON CONFLICT DO UPDATE SET (a, b) = (1, 2)");
}

Test(dml, update_and_delete)
{
    expect_canon("UPDATE OR FAIL t AS x SET a = 1, (b, c) = (2, 3) FROM u WHERE x.id = u.id "
                 "RETURNING a",
                 "UPDATE OR FAIL t AS x SET a = 1, (b, c) = (2, 3) FROM u WHERE (x.id = u.id) "
                 "RETURNING a");
    expect_canon("UPDATE t1 SET x=1 WHERE x>0", "UPDATE t1 SET x = 1 WHERE (x > 0)");
    expect_canon("DELETE FROM t", "DELETE FROM t");
    expect_canon("DELETE FROM t WHERE a IN (SELECT b FROM u) RETURNING *",
                 "DELETE FROM t WHERE (a IN (SELECT b FROM u)) RETURNING *");
}

Test(dml, the_insert_tree_has_the_expected_shape)
{
    struct hdb_sql_arena arena = {0};
    struct hdb_sql_stmt *st =
        parse_in(&arena, "INSERT INTO t (a, b) VALUES (1, ?) ON CONFLICT (a) DO UPDATE SET b = 2 "
                         "RETURNING a");
    cr_assert_eq(st->kind, HDB_STMT_INSERT);
    cr_expect_str_eq(st->u.insert.table.ptr, "t");
    cr_expect_eq(st->u.insert.columns.n, 2);
    const struct hdb_sql_select_core *c = st->u.insert.select->cores.items[0];
    cr_expect_eq(c->values.n, 1);
    cr_expect_eq(((struct hdb_sql_list *)c->values.items[0])->n, 2);
    cr_assert_eq(st->u.insert.upserts.n, 1);
    const struct hdb_sql_upsert *u = st->u.insert.upserts.items[0];
    cr_expect(u->do_update);
    cr_expect_eq(u->target.n, 1);
    cr_expect_eq(u->set.n, 1);
    cr_expect_eq(st->u.insert.returning.n, 1);
    hdb_sql_arena_free(&arena);
}

/* ------------------------------------------------------------------ */
/* Transactions and utility statements                                 */

Test(utility, transactions_explain_and_maintenance)
{
    expect_canon("BEGIN", "BEGIN");
    expect_canon("BEGIN IMMEDIATE TRANSACTION", "BEGIN IMMEDIATE");
    expect_canon("begin deferred", "BEGIN DEFERRED");
    expect_canon("BEGIN EXCLUSIVE", "BEGIN EXCLUSIVE");
    expect_canon("COMMIT TRANSACTION", "COMMIT");
    expect_canon("END", "COMMIT");
    expect_canon("ROLLBACK", "ROLLBACK");
    expect_canon("ROLLBACK TRANSACTION TO SAVEPOINT sp", "ROLLBACK TO sp");
    expect_canon("SAVEPOINT sp", "SAVEPOINT sp");
    expect_canon("RELEASE SAVEPOINT sp", "RELEASE sp");
    expect_canon("VACUUM", "VACUUM");
    expect_canon("ANALYZE", "ANALYZE");
    expect_canon("ANALYZE main.t", "ANALYZE main.t");
    expect_canon("REINDEX i", "REINDEX i");
    expect_canon("EXPLAIN SELECT 1", "EXPLAIN SELECT 1");
    expect_canon("EXPLAIN QUERY PLAN SELECT * FROM t WHERE a = 1",
                 "EXPLAIN QUERY PLAN SELECT * FROM t WHERE (a = 1)");
}

/* ------------------------------------------------------------------ */
/* Scripts: statements one at a time                                   */

Test(script, statements_are_returned_one_by_one_with_their_end)
{
    const char *sql = "CREATE TABLE t(a);; INSERT INTO t VALUES (';');\n"
                      "-- a comment\nSELECT * FROM t /* trailing */ ; ; -- end";
    struct hdb_sql_script s;
    struct hdb_sql_arena arena = {0};
    struct hdb_err err = {0};
    cr_assert_eq(hdb_sql_script_init(&s, sql, strlen(sql), &err), HDB_OK);
    const enum hdb_sql_stmt_kind kinds[] = {HDB_STMT_CREATE_TABLE, HDB_STMT_INSERT,
                                            HDB_STMT_SELECT};
    const char *ends[] = {"; INSERT", "\n-- a comment", " ; -- end"};
    for (int i = 0; i < 3; i++) {
        struct hdb_sql_stmt *st = NULL;
        size_t end = 0;
        cr_assert_eq(hdb_sql_script_next(&s, &arena, &st, &end, &err), HDB_OK, "%s", err.msg);
        cr_assert_not_null(st);
        cr_expect_eq(st->kind, kinds[i]);
        cr_expect_eq(end, (size_t)(strstr(sql, ends[i]) - sql), "statement %d ends at %zu", i, end);
    }
    struct hdb_sql_stmt *st = (void *)1;
    size_t end = 0;
    cr_assert_eq(hdb_sql_script_next(&s, &arena, &st, &end, &err), HDB_OK);
    cr_expect_null(st);
    cr_expect_eq(end, strlen(sql));
    hdb_sql_arena_free(&arena);
}

Test(script, parameters_are_numbered_per_statement)
{
    const char *sql = "SELECT ?, ?; SELECT ?";
    struct hdb_sql_script s;
    struct hdb_sql_arena arena = {0};
    cr_assert_eq(hdb_sql_script_init(&s, sql, strlen(sql), NULL), HDB_OK);
    struct hdb_sql_stmt *a = NULL;
    struct hdb_sql_stmt *b = NULL;
    cr_assert_eq(hdb_sql_script_next(&s, &arena, &a, NULL, NULL), HDB_OK);
    cr_assert_eq(hdb_sql_script_next(&s, &arena, &b, NULL, NULL), HDB_OK);
    cr_expect_eq(a->params, 2);
    cr_expect_eq(b->params, 1);
    hdb_sql_arena_free(&arena);
}

/* ------------------------------------------------------------------ */
/* The SQL users write (/work/shared/seeds) and the sqllogictest corpus */

Test(seeds, application_schemas_and_queries)
{
    static const char *const seeds[] = {
        "CREATE TABLE IF NOT EXISTS users (\nid INTEGER PRIMARY KEY AUTOINCREMENT,\nemail TEXT "
        "NOT NULL UNIQUE,\nname TEXT NOT NULL,\ncreated_at INTEGER DEFAULT (strftime('%s', "
        "'now'))\n)",
        "CREATE INDEX IF NOT EXISTS idx_users_email ON users(email)",
        "INSERT INTO users (email, name) VALUES (?, ?)",
        "SELECT id, email, name, created_at FROM users WHERE id = ?",
        "SELECT 1",
        "INSERT INTO orders (customer_id, product_id, quantity, status)\nVALUES (?, ?, ?, ?)",
        "SELECT * FROM orders WHERE id = ?",
        "SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at DESC LIMIT ? OFFSET ?",
        "CREATE TABLE IF NOT EXISTS orders ( id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id "
        "INTEGER NOT NULL, product_id INTEGER NOT NULL, quantity INTEGER NOT NULL, total_price "
        "REAL NOT NULL, status TEXT NOT NULL, created_at INTEGER DEFAULT (strftime('%s', "
        "'now')) )",
        "CREATE INDEX IF NOT EXISTS idx_orders_customer ON orders(customer_id, created_at DESC)",
        "SELECT quantity FROM inventory WHERE product_id = ?",
        "UPDATE inventory SET quantity = quantity - ?, reserved = reserved + ? WHERE product_id "
        "= ?",
        "UPDATE inventory SET quantity = quantity - ? WHERE product_id = ? AND quantity >= ?",
        "INSERT INTO reservations (order_id, product_id, quantity) VALUES (?, ?, ?)",
        "UPDATE inventory SET quantity = quantity + ?, reserved = reserved - ? WHERE product_id "
        "= ?",
        "DELETE FROM reservations WHERE order_id = ?",
        "CREATE TABLE IF NOT EXISTS sensor_readings ( id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "device_id TEXT NOT NULL, sensor_type TEXT NOT NULL, value REAL NOT NULL, timestamp "
        "INTEGER NOT NULL, synced INTEGER DEFAULT 0 )",
        "CREATE INDEX IF NOT EXISTS idx_readings_sync ON sensor_readings(synced, timestamp) "
        "WHERE synced = 0",
        "INSERT INTO sensor_readings (device_id, sensor_type, value, timestamp) VALUES (?, ?, "
        "?, strftime('%s', 'now'))",
        "SELECT * FROM sensor_readings WHERE synced = 0 ORDER BY timestamp LIMIT 1000",
        "UPDATE sensor_readings SET synced = 1 WHERE id IN (?,?,?)",
        "DELETE FROM sensor_readings WHERE synced = 1 AND timestamp < strftime('%s', 'now', "
        "'-7 days')",
        "INSERT INTO users (email, name) VALUES (?, ?) ON CONFLICT (email) DO UPDATE SET name = "
        "excluded.name RETURNING id, created_at",
        "INSERT INTO inventory (product_id, quantity) VALUES (?1, ?2) ON CONFLICT(product_id) "
        "DO UPDATE SET quantity = quantity + excluded.quantity WHERE excluded.quantity > 0 "
        "RETURNING quantity",
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        canon(seeds[i]);
    }
    expect_canon(seeds[12], "UPDATE inventory SET quantity = (quantity - ?1) WHERE ((product_id "
                            "= ?2) AND (quantity >= ?3))");
    expect_canon(seeds[0], "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY "
                           "AUTOINCREMENT, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, "
                           "created_at INTEGER DEFAULT (strftime('%s', 'now')))");
}

static const char *const corpus_sample[] = {
#include "corpus_sample.inc"
};

Test(corpus, the_embedded_sample_parses_and_round_trips)
{
    size_t n = sizeof corpus_sample / sizeof corpus_sample[0];
    cr_assert_geq(n, 200);
    for (size_t i = 0; i < n; i++) {
        canon(corpus_sample[i]);
    }
}

Test(corpus, every_truncation_of_the_sample_parses_or_fails_cleanly)
{
    size_t n = sizeof corpus_sample / sizeof corpus_sample[0];
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(corpus_sample[i]);
        for (size_t cut = 0; cut < len; cut++) {
            struct hdb_sql_arena arena = {0};
            struct hdb_sql_stmt *st = NULL;
            struct hdb_err err = {0};
            int rc = hdb_sql_parse(&arena, corpus_sample[i], cut, &st, NULL, &err);
            hdb_sql_arena_free(&arena);
            cr_assert(rc == HDB_OK || rc == HDB_INVALID, "rc %d for cut %zu of: %s", rc, cut,
                      corpus_sample[i]);
            cr_assert(rc == HDB_OK || err.msg[0] != '\0', "no message");
        }
    }
}

/* ---- the full corpus, when present ---- */

struct corpus_counts {
    long ok, ok_parsed, query, query_parsed, error, error_rejected, other, other_parsed;
};

/* Parses every statement of one record's SQL; true if all parse. */
static bool record_parses(const char *sql, size_t len)
{
    struct hdb_sql_script s;
    struct hdb_sql_arena arena = {0};
    int rc = hdb_sql_script_init(&s, sql, len, NULL);
    int n = 0;
    while (rc == HDB_OK) {
        struct hdb_sql_stmt *st = NULL;
        rc = hdb_sql_script_next(&s, &arena, &st, NULL, NULL);
        if (rc != HDB_OK || st == NULL) {
            break;
        }
        n++;
    }
    hdb_sql_arena_free(&arena);
    return rc == HDB_OK && n > 0;
}

static void count_record(struct corpus_counts *c, int kind, bool skip, bool parsed, const char *sql)
{
    if (skip) {
        c->other++;
        c->other_parsed += parsed;
    } else if (kind == 'e') {
        c->error++;
        c->error_rejected += !parsed;
    } else if (kind == 'o') {
        c->ok++;
        c->ok_parsed += parsed;
    } else {
        c->query++;
        c->query_parsed += parsed;
    }
    if (!skip && kind != 'e' && !parsed) {
        fprintf(stderr, "corpus: does not parse: %s\n", sql);
    }
}

/* Reads the records of one .test file (format: tools/slt_run.py). */
static void corpus_file(const char *path, struct corpus_counts *c)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    static char line[1 << 16];
    static char sql[1 << 20];
    size_t len = 0;
    int kind = 0; /* 0 outside a record, 'o' ok, 'e' error, 'q' query */
    bool skip = false;
    for (;;) {
        char *r = fgets(line, sizeof line, f);
        size_t n = r != NULL ? strcspn(line, "\r\n") : 0;
        line[n] = '\0';
        if (kind != 0 && (r == NULL || n == 0 || strcmp(line, "----") == 0)) {
            sql[len] = '\0';
            count_record(c, kind, skip, record_parses(sql, len), sql);
            kind = 0;
            skip = false;
            len = 0;
        } else if (kind != 0) {
            if (len + n + 2 < sizeof sql) {
                len += (size_t)sprintf(sql + len, "%s%s", len > 0 ? "\n" : "", line);
            }
            continue;
        }
        if (r == NULL) {
            break;
        }
        if (strncmp(line, "skipif sqlite", 13) == 0 ||
            (strncmp(line, "onlyif ", 7) == 0 && strncmp(line + 7, "sqlite", 6) != 0)) {
            skip = true;
        } else if (strncmp(line, "statement ok", 12) == 0) {
            kind = 'o';
        } else if (strncmp(line, "statement error", 15) == 0) {
            kind = 'e';
        } else if (strncmp(line, "query ", 6) == 0) {
            kind = 'q';
        }
    }
    fclose(f);
}

/* Walks `dir` for *.test files (bounded depth: the corpus is 4 deep). */
static void corpus_walk(const char *dir, int depth, struct corpus_counts *c, int *files)
{
    cr_assert_lt(depth, 8, "corpus folders nested too deep at %s", dir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) {
            continue;
        }
        size_t n = strlen(e->d_name);
        if (S_ISDIR(st.st_mode)) {
            corpus_walk(path, depth + 1, c, files);
        } else if (n > 5 && strcmp(e->d_name + n - 5, ".test") == 0) {
            corpus_file(path, c);
            (*files)++;
        }
    }
    closedir(d);
}

Test(corpus, full_slt_parses_when_present, .timeout = 600)
{
    const char *dir = getenv("HDB_SLT_DIR");
    if (dir == NULL) {
        dir = "/work/shared/slt";
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cr_skip_test("no sqllogictest corpus at %s (set HDB_SLT_DIR)", dir);
    }
    struct corpus_counts c = {0};
    int files = 0;
    corpus_walk(dir, 0, &c, &files);
    fprintf(stderr,
            "corpus %s: %d files; statement ok %ld/%ld parsed; query %ld/%ld parsed; "
            "statement error %ld/%ld rejected by the parser; records SQLite skips "
            "(skipif sqlite / onlyif other) %ld/%ld parsed\n",
            dir, files, c.ok_parsed, c.ok, c.query_parsed, c.query, c.error_rejected, c.error,
            c.other_parsed, c.other);
    cr_expect_gt(files, 0);
    cr_expect_eq(c.ok_parsed, c.ok);
    cr_expect_eq(c.query_parsed, c.query);
}
