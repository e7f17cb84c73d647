/*
 * parse_int.h — the parser's internal state and helpers, shared by
 * parse_base.c (tokens, names, literals, errors), parse_expr.c (expressions
 * and SELECT) and parser.c (statements). Not part of the sql/ layer's
 * interface.
 *
 * Failure is sticky: the first error is recorded in `rc`/`err`/`pos`, and
 * every parse function then returns NULL (or false) up to the entry point.
 */
#ifndef HDB_SQL_PARSE_INT_H
#define HDB_SQL_PARSE_INT_H

#include <stdbool.h>

#include "sql/parser.h"

struct named_param {
    struct hdb_sql_str name;
    uint32_t number;
};

struct parser {
    struct hdb_sql_lexer lx;
    const char *src;
    struct hdb_sql_token tok;  /* the current token */
    struct hdb_sql_token prev; /* the last token consumed */
    struct hdb_sql_arena *arena;
    struct hdb_err *err;
    int rc;
    struct hdb_sql_pos pos;
    uint32_t nest;       /* current nesting, bounded by HDB_SQL_NEST_MAX */
    uint32_t sel_height; /* tallest expression in the SELECT being parsed */
    uint32_t param_max;
    struct hdb_sql_list named; /* of struct named_param */
};

/* Tokens. */
bool p_advance(struct parser *p);
bool p_is(const struct parser *p, enum hdb_sql_tk kind);
bool p_is_kw(const struct parser *p, enum hdb_sql_kw kw);
bool p_accept(struct parser *p, enum hdb_sql_tk kind);
bool p_accept_kw(struct parser *p, enum hdb_sql_kw kw);
bool p_expect(struct parser *p, enum hdb_sql_tk kind, const char *what);
bool p_expect_kw(struct parser *p, enum hdb_sql_kw kw);
/* The token `n` (1 or 2) places after the current one; EOF if it cannot be
 * lexed (the error then surfaces when it is reached). */
struct hdb_sql_token p_peek(const struct parser *p, int n);
bool p_peek_is_kw(const struct parser *p, int n, enum hdb_sql_kw kw);

/* Errors: a syntax error at the current token, or another message. */
bool p_syntax_error(struct parser *p, const char *expected);
bool p_fail(struct parser *p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool p_enter(struct parser *p);
void p_leave(struct parser *p);

/* Memory. */
void *p_alloc(struct parser *p, size_t bytes);
bool p_push(struct parser *p, struct hdb_sql_list *l, void *item);

/* Names: a token usable as a name (identifier, quoted identifier, or a
 * keyword that is not reserved), and one usable as an alias without AS. */
bool p_is_name(const struct parser *p);
bool p_is_alias(const struct parser *p);
bool p_name(struct parser *p, struct hdb_sql_str *out, const char *what);
/* name or schema.name */
bool p_qualified_name(struct parser *p, struct hdb_sql_str *schema, struct hdb_sql_str *name,
                      const char *what);
/* ( name, … ) */
bool p_name_list(struct parser *p, struct hdb_sql_list *out);
/* [AS] alias (AS optional if `bare_ok`); leaves out->ptr NULL if none. */
bool p_alias(struct parser *p, struct hdb_sql_str *out, bool bare_ok);

/* Expressions and SELECT (parse_expr.c). */
struct hdb_sql_expr *p_expr(struct parser *p);
struct hdb_sql_expr *p_literal(struct parser *p);
struct hdb_sql_select *p_select(struct parser *p);
bool p_starts_select(const struct parser *p);
bool p_type(struct parser *p, struct hdb_sql_type *type, bool required);
bool p_expr_list(struct parser *p, struct hdb_sql_list *out);
bool p_order_terms(struct parser *p, struct hdb_sql_list *out);
bool p_result_columns(struct parser *p, struct hdb_sql_list *out);
bool p_from(struct parser *p, struct hdb_sql_list *out);

#endif
