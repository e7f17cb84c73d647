/*
 * parse_expr.c — expressions and SELECT (see parse_int.h).
 *
 * Precedence, lowest first (SQLite's): OR; AND; NOT; = == != <> IS IN LIKE
 * GLOB MATCH REGEXP BETWEEN ISNULL NOTNULL NOT NULL; < <= > >=; & | << >>;
 * + -; * / %; ||; unary - + ~; COLLATE. One function per level; binary
 * levels loop (left-associative), so only parentheses, subqueries, unary
 * operators and CASE recurse, and those count against HDB_SQL_NEST_MAX.
 * Each node's height is checked against HDB_SQL_EXPR_HEIGHT_MAX as it is
 * built.
 */
#include "sql/parse_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- */
/* Node construction                                                 */

static struct hdb_sql_expr *new_expr(struct parser *p, enum hdb_sql_expr_kind kind, uint32_t offset)
{
    struct hdb_sql_expr *e = p_alloc(p, sizeof *e);
    if (e != NULL) {
        e->kind = kind;
        e->offset = offset;
        e->height = 1;
    }
    return e;
}

static void grow(struct hdb_sql_expr *e, uint32_t child_height)
{
    if (child_height + 1 > e->height) {
        e->height = child_height + 1;
    }
}

static void grow_list(struct hdb_sql_expr *e, const struct hdb_sql_list *l)
{
    for (uint32_t i = 0; i < l->n; i++) {
        grow(e, ((const struct hdb_sql_expr *)l->items[i])->height);
    }
}

/* Closes a node: its span ends at the last token consumed; checks height. */
static struct hdb_sql_expr *done(struct parser *p, struct hdb_sql_expr *e)
{
    if (e == NULL || p->rc != HDB_OK) {
        return NULL;
    }
    e->len = p->prev.offset + p->prev.len - e->offset;
    if (e->height > HDB_SQL_EXPR_HEIGHT_MAX) {
        p_fail(p, HDB_INVALID, "expression tree is too large (maximum depth %d)",
               HDB_SQL_EXPR_HEIGHT_MAX);
        return NULL;
    }
    if (e->height > p->sel_height) {
        p->sel_height = e->height;
    }
    return e;
}

static struct hdb_sql_expr *binary(struct parser *p, enum hdb_sql_binary_op op,
                                   struct hdb_sql_expr *l, struct hdb_sql_expr *r)
{
    if (l == NULL || r == NULL) {
        return NULL;
    }
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_BINARY, l->offset);
    if (e == NULL) {
        return NULL;
    }
    e->u.binary.op = op;
    e->u.binary.left = l;
    e->u.binary.right = r;
    grow(e, l->height);
    grow(e, r->height);
    return done(p, e);
}

/* ---------------------------------------------------------------- */
/* Literals                                                          */

static char *token_copy(struct parser *p, const struct hdb_sql_token *t)
{
    char *d = p_alloc(p, (size_t)t->len + 1);
    if (d != NULL) {
        memcpy(d, p->src + t->offset, t->len);
        d[t->len] = '\0';
    }
    return d;
}

/* Decimal integers that overflow int64 become reals, as in SQLite; hex
 * literals are 64-bit two's complement and may not exceed 16 digits. */
static bool number_value(struct parser *p, struct hdb_sql_expr *e)
{
    const struct hdb_sql_token *t = &p->tok;
    const char *s = p->src + t->offset;
    if (t->kind == HDB_TK_INTEGER && t->len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        if (t->len - 2 > 16) {
            return p_fail(p, HDB_INVALID, "hex literal too big");
        }
        uint64_t v = 0;
        for (uint32_t i = 2; i < t->len; i++) {
            int c = tolower((unsigned char)s[i]);
            v = v * 16 + (uint64_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
        }
        e->kind = HDB_EXPR_INTEGER;
        memcpy(&e->u.i, &v, sizeof v);
        return true;
    }
    if (t->kind == HDB_TK_INTEGER) {
        uint64_t v = 0;
        bool overflow = false;
        for (uint32_t i = 0; i < t->len && !overflow; i++) {
            uint64_t d = (uint64_t)(s[i] - '0');
            overflow = v > (UINT64_C(9223372036854775807) - d) / 10;
            v = v * 10 + d;
        }
        if (!overflow) {
            e->kind = HDB_EXPR_INTEGER;
            e->u.i = (int64_t)v;
            return true;
        }
    }
    char *text = token_copy(p, t);
    if (text == NULL) {
        return false;
    }
    e->kind = HDB_EXPR_REAL;
    e->u.r = strtod(text, NULL); /* overflow gives HUGE_VAL, as SQLite's Inf */
    return true;
}

static bool string_value(struct parser *p, struct hdb_sql_expr *e)
{
    const struct hdb_sql_token *t = &p->tok;
    const char *s = p->src + t->offset + 1;
    uint32_t n = t->len - 2;
    char *d = p_alloc(p, (size_t)n + 1);
    if (d == NULL) {
        return false;
    }
    uint32_t j = 0;
    for (uint32_t i = 0; i < n; i++) {
        d[j++] = s[i];
        if (s[i] == '\'') {
            i++;
        }
    }
    d[j] = '\0';
    e->kind = HDB_EXPR_STRING;
    e->u.s.ptr = d;
    e->u.s.len = j;
    return true;
}

static int hex_digit(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

static bool blob_value(struct parser *p, struct hdb_sql_expr *e)
{
    const struct hdb_sql_token *t = &p->tok;
    const char *s = p->src + t->offset + 2;
    uint32_t n = (t->len - 3) / 2;
    char *d = p_alloc(p, (size_t)n + 1);
    if (d == NULL) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        d[i] = (char)(hex_digit(s[2 * i]) * 16 + hex_digit(s[2 * i + 1]));
    }
    e->kind = HDB_EXPR_BLOB;
    e->u.s.ptr = d;
    e->u.s.len = n;
    return true;
}

/* ? takes the next number; ?NNN its own; a name the number of its first use. */
static bool param_value(struct parser *p, struct hdb_sql_expr *e)
{
    const struct hdb_sql_token *t = &p->tok;
    const char *s = p->src + t->offset;
    uint32_t number = 0;
    e->kind = HDB_EXPR_PARAM;
    if (s[0] == '?' && t->len > 1) {
        uint64_t v = 0;
        for (uint32_t i = 1; i < t->len && v <= HDB_SQL_PARAM_NUMBER_MAX; i++) {
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (v < 1 || v > HDB_SQL_PARAM_NUMBER_MAX) {
            return p_fail(p, HDB_INVALID, "variable number must be between ?1 and ?%d",
                          HDB_SQL_PARAM_NUMBER_MAX);
        }
        number = (uint32_t)v;
    } else if (s[0] != '?') {
        for (uint32_t i = 0; i < p->named.n; i++) {
            const struct named_param *np = p->named.items[i];
            if (np->name.len == t->len && memcmp(np->name.ptr, s, t->len) == 0) {
                number = np->number;
                break;
            }
        }
        char *name = token_copy(p, t);
        if (name == NULL) {
            return false;
        }
        e->u.param.name.ptr = name;
        e->u.param.name.len = t->len;
    }
    if (number == 0) {
        if (p->param_max >= HDB_SQL_PARAM_NUMBER_MAX) {
            return p_fail(p, HDB_INVALID, "too many SQL variables (at most %d)",
                          HDB_SQL_PARAM_NUMBER_MAX);
        }
        number = p->param_max + 1;
        if (e->u.param.name.ptr != NULL) {
            struct named_param *np = p_alloc(p, sizeof *np);
            if (np == NULL) {
                return false;
            }
            np->name = e->u.param.name;
            np->number = number;
            if (!p_push(p, &p->named, np)) {
                return false;
            }
        }
    }
    e->u.param.number = number;
    if (number > p->param_max) {
        p->param_max = number;
    }
    return true;
}

/* A literal token at the current position (number, string, blob, NULL,
 * TRUE/FALSE, CURRENT_*, parameter), or NULL with no error if it is none. */
struct hdb_sql_expr *p_literal(struct parser *p)
{
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_NULL, p->tok.offset);
    if (e == NULL) {
        return NULL;
    }
    bool ok = true;
    switch (p->tok.kind) {
    case HDB_TK_INTEGER:
    case HDB_TK_REAL:
        ok = number_value(p, e);
        break;
    case HDB_TK_STRING:
        ok = string_value(p, e);
        break;
    case HDB_TK_BLOB:
        ok = blob_value(p, e);
        break;
    case HDB_TK_PARAM:
        ok = param_value(p, e);
        break;
    case HDB_TK_ID:
        switch (p->tok.kw) {
        case HDB_KW_NULL:
            break;
        case HDB_KW_TRUE:
        case HDB_KW_FALSE:
            e->kind = HDB_EXPR_BOOL;
            e->u.i = p->tok.kw == HDB_KW_TRUE;
            break;
        case HDB_KW_CURRENT_TIME:
        case HDB_KW_CURRENT_DATE:
        case HDB_KW_CURRENT_TIMESTAMP:
            e->kind = HDB_EXPR_CURRENT;
            e->u.current = p->tok.kw == HDB_KW_CURRENT_TIME   ? HDB_CURRENT_TIME
                           : p->tok.kw == HDB_KW_CURRENT_DATE ? HDB_CURRENT_DATE
                                                              : HDB_CURRENT_TIMESTAMP;
            break;
        default:
            return NULL;
        }
        break;
    default:
        return NULL;
    }
    if (!ok || !p_advance(p)) {
        return NULL;
    }
    return done(p, e);
}

/* ---------------------------------------------------------------- */
/* Primary expressions                                               */

bool p_starts_select(const struct parser *p)
{
    return p_is_kw(p, HDB_KW_SELECT) || p_is_kw(p, HDB_KW_VALUES) || p_is_kw(p, HDB_KW_WITH);
}

/* Wraps a select as an expression child: its height counts. */
static struct hdb_sql_expr *with_select(struct hdb_sql_expr *e, struct hdb_sql_select *s)
{
    if (s == NULL) {
        return NULL;
    }
    grow(e, s->height);
    return e;
}

/* ( expr ), ( expr, expr … ) or ( SELECT … ); the '(' is current. */
static struct hdb_sql_expr *paren_expr(struct parser *p)
{
    uint32_t offset = p->tok.offset;
    if (!p_advance(p)) {
        return NULL;
    }
    if (p_starts_select(p)) {
        struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_SUBQUERY, offset);
        if (e == NULL || with_select(e, e->u.subquery = p_select(p)) == NULL) {
            return NULL;
        }
        return p_expect(p, HDB_TK_RP, "\")\"") ? done(p, e) : NULL;
    }
    struct hdb_sql_list list = {0};
    if (!p_expr_list(p, &list) || !p_expect(p, HDB_TK_RP, "\")\"")) {
        return NULL;
    }
    if (list.n == 1) {
        struct hdb_sql_expr *inner = list.items[0];
        inner->offset = offset; /* the span includes the parentheses */
        inner->len = p->prev.offset + p->prev.len - offset;
        return inner;
    }
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_ROW, offset);
    if (e == NULL) {
        return NULL;
    }
    e->u.row = list;
    grow_list(e, &list);
    return done(p, e);
}

static struct hdb_sql_expr *cast_expr(struct parser *p)
{
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_CAST, p->tok.offset);
    if (e == NULL || !p_advance(p) || !p_expect(p, HDB_TK_LP, "\"(\"")) {
        return NULL;
    }
    e->u.cast.operand = p_expr(p);
    if (e->u.cast.operand == NULL || !p_expect_kw(p, HDB_KW_AS) ||
        !p_type(p, &e->u.cast.type, true) || !p_expect(p, HDB_TK_RP, "\")\"")) {
        return NULL;
    }
    grow(e, e->u.cast.operand->height);
    return done(p, e);
}

static struct hdb_sql_expr *case_expr(struct parser *p)
{
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_CASE, p->tok.offset);
    if (e == NULL || !p_advance(p)) {
        return NULL;
    }
    if (!p_is_kw(p, HDB_KW_WHEN)) {
        if ((e->u.case_.base = p_expr(p)) == NULL) {
            return NULL;
        }
        grow(e, e->u.case_.base->height);
    }
    if (!p_is_kw(p, HDB_KW_WHEN)) {
        p_syntax_error(p, "WHEN");
        return NULL;
    }
    while (p_accept_kw(p, HDB_KW_WHEN)) {
        struct hdb_sql_expr *when = p_expr(p);
        if (when == NULL || !p_expect_kw(p, HDB_KW_THEN)) {
            return NULL;
        }
        struct hdb_sql_expr *then = p_expr(p);
        if (!p_push(p, &e->u.case_.whens, when) || !p_push(p, &e->u.case_.whens, then)) {
            return NULL;
        }
    }
    if (p_accept_kw(p, HDB_KW_ELSE)) {
        if ((e->u.case_.else_ = p_expr(p)) == NULL) {
            return NULL;
        }
        grow(e, e->u.case_.else_->height);
    }
    grow_list(e, &e->u.case_.whens);
    return p_expect_kw(p, HDB_KW_END) ? done(p, e) : NULL;
}

static struct hdb_sql_expr *exists_expr(struct parser *p)
{
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_EXISTS, p->tok.offset);
    if (e == NULL || !p_advance(p) || !p_expect(p, HDB_TK_LP, "\"(\"")) {
        return NULL;
    }
    if (with_select(e, e->u.exists.select = p_select(p)) == NULL) {
        return NULL;
    }
    return p_expect(p, HDB_TK_RP, "\")\"") ? done(p, e) : NULL;
}

/* name ( [DISTINCT] args | * ) — the name is already in `e`. */
static struct hdb_sql_expr *function_call(struct parser *p, struct hdb_sql_expr *e)
{
    e->kind = HDB_EXPR_FUNCTION;
    if (!p_expect(p, HDB_TK_LP, "\"(\"")) {
        return NULL;
    }
    if (p_accept(p, HDB_TK_STAR)) {
        e->u.function.star = true;
    } else if (!p_is(p, HDB_TK_RP)) {
        e->u.function.distinct = p_accept_kw(p, HDB_KW_DISTINCT);
        if (!e->u.function.distinct) {
            p_accept_kw(p, HDB_KW_ALL);
        }
        if (!p_expr_list(p, &e->u.function.args)) {
            return NULL;
        }
    }
    if (!p_expect(p, HDB_TK_RP, "\")\"")) {
        return NULL;
    }
    grow_list(e, &e->u.function.args);
    return done(p, e);
}

/* name, table.name, schema.table.name or name(…). */
static struct hdb_sql_expr *name_expr(struct parser *p)
{
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_COLUMN, p->tok.offset);
    struct hdb_sql_str a = {0};
    if (e == NULL || !p_name(p, &a, "a name")) {
        return NULL;
    }
    if (p_is(p, HDB_TK_LP)) {
        e->u.function.name = a;
        return function_call(p, e);
    }
    e->u.column.column = a;
    if (p_accept(p, HDB_TK_DOT)) {
        e->u.column.table = e->u.column.column;
        if (!p_name(p, &e->u.column.column, "a column name")) {
            return NULL;
        }
        if (p_accept(p, HDB_TK_DOT)) {
            e->u.column.schema = e->u.column.table;
            e->u.column.table = e->u.column.column;
            if (!p_name(p, &e->u.column.column, "a column name")) {
                return NULL;
            }
        }
    }
    return done(p, e);
}

static struct hdb_sql_expr *primary(struct parser *p)
{
    if (p->rc != HDB_OK) {
        return NULL;
    }
    if (p_is(p, HDB_TK_LP)) {
        return paren_expr(p);
    }
    if (p_is_kw(p, HDB_KW_CAST)) {
        return cast_expr(p);
    }
    if (p_is_kw(p, HDB_KW_CASE)) {
        return case_expr(p);
    }
    if (p_is_kw(p, HDB_KW_EXISTS)) {
        return exists_expr(p);
    }
    struct hdb_sql_expr *lit = p_literal(p);
    if (lit != NULL || p->rc != HDB_OK) {
        return lit;
    }
    if (p_is_name(p) && !p_is_kw(p, HDB_KW_TRUE) && !p_is_kw(p, HDB_KW_FALSE)) {
        return name_expr(p);
    }
    p_syntax_error(p, "an expression");
    return NULL;
}

/* ---------------------------------------------------------------- */
/* Operators                                                         */

static struct hdb_sql_expr *collate_level(struct parser *p)
{
    struct hdb_sql_expr *e = primary(p);
    while (e != NULL && p_is_kw(p, HDB_KW_COLLATE)) {
        struct hdb_sql_expr *c = new_expr(p, HDB_EXPR_COLLATE, e->offset);
        if (c == NULL || !p_advance(p) || !p_name(p, &c->u.collate.name, "a collation name")) {
            return NULL;
        }
        c->u.collate.operand = e;
        grow(c, e->height);
        e = done(p, c);
    }
    return e;
}

static struct hdb_sql_expr *unary_level(struct parser *p)
{
    enum hdb_sql_unary_op op;
    if (p_is(p, HDB_TK_MINUS)) {
        op = HDB_UNARY_NEG;
    } else if (p_is(p, HDB_TK_PLUS)) {
        op = HDB_UNARY_PLUS;
    } else if (p_is(p, HDB_TK_BITNOT)) {
        op = HDB_UNARY_BITNOT;
    } else {
        return collate_level(p);
    }
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_UNARY, p->tok.offset);
    if (e == NULL || !p_advance(p) || !p_enter(p)) {
        return NULL;
    }
    e->u.unary.op = op;
    e->u.unary.operand = unary_level(p);
    p_leave(p);
    if (e->u.unary.operand == NULL) {
        return NULL;
    }
    grow(e, e->u.unary.operand->height);
    return done(p, e);
}

struct op_map {
    enum hdb_sql_tk tk;
    enum hdb_sql_binary_op op;
};

/* One left-associative level: operands from `next`, operators from `ops`. */
static struct hdb_sql_expr *binary_level(struct parser *p, const struct op_map *ops, size_t nops,
                                         struct hdb_sql_expr *(*next)(struct parser *))
{
    struct hdb_sql_expr *e = next(p);
    while (e != NULL) {
        size_t k = 0;
        while (k < nops && !p_is(p, ops[k].tk)) {
            k++;
        }
        if (k == nops || !p_advance(p)) {
            break;
        }
        e = binary(p, ops[k].op, e, next(p));
    }
    return e;
}

static struct hdb_sql_expr *concat_level(struct parser *p)
{
    static const struct op_map ops[] = {{HDB_TK_CONCAT, HDB_OP_CONCAT}};
    return binary_level(p, ops, 1, unary_level);
}

static struct hdb_sql_expr *mul_level(struct parser *p)
{
    static const struct op_map ops[] = {
        {HDB_TK_STAR, HDB_OP_MUL}, {HDB_TK_SLASH, HDB_OP_DIV}, {HDB_TK_REM, HDB_OP_REM}};
    return binary_level(p, ops, 3, concat_level);
}

static struct hdb_sql_expr *add_level(struct parser *p)
{
    static const struct op_map ops[] = {{HDB_TK_PLUS, HDB_OP_ADD}, {HDB_TK_MINUS, HDB_OP_SUB}};
    return binary_level(p, ops, 2, mul_level);
}

static struct hdb_sql_expr *bit_level(struct parser *p)
{
    static const struct op_map ops[] = {{HDB_TK_BITAND, HDB_OP_BITAND},
                                        {HDB_TK_BITOR, HDB_OP_BITOR},
                                        {HDB_TK_LSHIFT, HDB_OP_LSHIFT},
                                        {HDB_TK_RSHIFT, HDB_OP_RSHIFT}};
    return binary_level(p, ops, 4, add_level);
}

static struct hdb_sql_expr *cmp_level(struct parser *p)
{
    static const struct op_map ops[] = {{HDB_TK_LT, HDB_OP_LT},
                                        {HDB_TK_LE, HDB_OP_LE},
                                        {HDB_TK_GT, HDB_OP_GT},
                                        {HDB_TK_GE, HDB_OP_GE}};
    return binary_level(p, ops, 4, bit_level);
}

static struct hdb_sql_expr *isnull_expr(struct parser *p, struct hdb_sql_expr *l, bool negated)
{
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_ISNULL, l->offset);
    if (e == NULL) {
        return NULL;
    }
    e->u.isnull.negated = negated;
    e->u.isnull.operand = l;
    grow(e, l->height);
    return done(p, e);
}

/* l IS [NOT] [DISTINCT FROM] r; IS [NOT] NULL becomes an ISNULL node. */
static struct hdb_sql_expr *is_expr(struct parser *p, struct hdb_sql_expr *l)
{
    bool negated = p_accept_kw(p, HDB_KW_NOT);
    if (p_accept_kw(p, HDB_KW_DISTINCT)) {
        if (!p_expect_kw(p, HDB_KW_FROM)) {
            return NULL;
        }
        negated = !negated;
    }
    struct hdb_sql_expr *r = cmp_level(p);
    if (r == NULL) {
        return NULL;
    }
    if (r->kind == HDB_EXPR_NULL) {
        return isnull_expr(p, l, negated);
    }
    return binary(p, negated ? HDB_OP_IS_NOT : HDB_OP_IS, l, r);
}

static struct hdb_sql_expr *like_expr(struct parser *p, struct hdb_sql_expr *l, bool negated)
{
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_LIKE, l->offset);
    if (e == NULL) {
        return NULL;
    }
    switch (p->tok.kw) {
    case HDB_KW_GLOB:
        e->u.like.op = HDB_LIKE_GLOB;
        break;
    case HDB_KW_MATCH:
        e->u.like.op = HDB_LIKE_MATCH;
        break;
    case HDB_KW_REGEXP:
        e->u.like.op = HDB_LIKE_REGEXP;
        break;
    default:
        e->u.like.op = HDB_LIKE_LIKE;
        break;
    }
    e->u.like.negated = negated;
    e->u.like.left = l;
    if (!p_advance(p) || (e->u.like.pattern = cmp_level(p)) == NULL) {
        return NULL;
    }
    grow(e, l->height);
    grow(e, e->u.like.pattern->height);
    if (p_accept_kw(p, HDB_KW_ESCAPE)) {
        if ((e->u.like.escape = cmp_level(p)) == NULL) {
            return NULL;
        }
        grow(e, e->u.like.escape->height);
    }
    return done(p, e);
}

static struct hdb_sql_expr *between_expr(struct parser *p, struct hdb_sql_expr *l, bool negated)
{
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_BETWEEN, l->offset);
    if (e == NULL || !p_advance(p)) {
        return NULL;
    }
    e->u.between.negated = negated;
    e->u.between.operand = l;
    if ((e->u.between.low = cmp_level(p)) == NULL || !p_expect_kw(p, HDB_KW_AND) ||
        (e->u.between.high = cmp_level(p)) == NULL) {
        return NULL;
    }
    grow(e, l->height);
    grow(e, e->u.between.low->height);
    grow(e, e->u.between.high->height);
    return done(p, e);
}

static struct hdb_sql_expr *in_expr(struct parser *p, struct hdb_sql_expr *l, bool negated)
{
    struct hdb_sql_expr *e = new_expr(p, HDB_EXPR_IN, l->offset);
    if (e == NULL || !p_advance(p)) {
        return NULL;
    }
    e->u.in.negated = negated;
    e->u.in.operand = l;
    grow(e, l->height);
    if (!p_accept(p, HDB_TK_LP)) {
        if (!p_qualified_name(p, &e->u.in.schema, &e->u.in.table, "\"(\" or a table name")) {
            return NULL;
        }
        return done(p, e);
    }
    if (p_starts_select(p)) {
        if (with_select(e, e->u.in.select = p_select(p)) == NULL) {
            return NULL;
        }
    } else if (!p_is(p, HDB_TK_RP)) {
        if (!p_expr_list(p, &e->u.in.list)) {
            return NULL;
        }
        grow_list(e, &e->u.in.list);
    }
    return p_expect(p, HDB_TK_RP, "\")\"") ? done(p, e) : NULL;
}

/* After NOT at the equality level: LIKE … BETWEEN … IN … or NULL. */
static bool not_follows(const struct parser *p)
{
    struct hdb_sql_token t = p_peek(p, 1);
    if (t.kind != HDB_TK_ID) {
        return false;
    }
    switch (t.kw) {
    case HDB_KW_LIKE:
    case HDB_KW_GLOB:
    case HDB_KW_MATCH:
    case HDB_KW_REGEXP:
    case HDB_KW_BETWEEN:
    case HDB_KW_IN:
    case HDB_KW_NULL:
        return true;
    default:
        return false;
    }
}

/* One postfix step at the equality level, or returns `l` unchanged with
 * *more false when the next token is not an operator of this level. */
static struct hdb_sql_expr *eq_step(struct parser *p, struct hdb_sql_expr *l, bool *more)
{
    *more = true;
    if (p_is(p, HDB_TK_EQ) || p_is(p, HDB_TK_NE)) {
        enum hdb_sql_binary_op op = p_is(p, HDB_TK_EQ) ? HDB_OP_EQ : HDB_OP_NE;
        return p_advance(p) ? binary(p, op, l, cmp_level(p)) : NULL;
    }
    if (p_is_kw(p, HDB_KW_IS)) {
        return p_advance(p) ? is_expr(p, l) : NULL;
    }
    if (p_is_kw(p, HDB_KW_ISNULL) || p_is_kw(p, HDB_KW_NOTNULL)) {
        bool negated = p_is_kw(p, HDB_KW_NOTNULL);
        return p_advance(p) ? isnull_expr(p, l, negated) : NULL;
    }
    bool negated = false;
    if (p_is_kw(p, HDB_KW_NOT) && not_follows(p)) {
        negated = true;
        if (!p_advance(p)) {
            return NULL;
        }
        if (p_accept_kw(p, HDB_KW_NULL)) {
            return isnull_expr(p, l, true);
        }
    }
    switch (p->tok.kind == HDB_TK_ID ? p->tok.kw : HDB_KW_NONE) {
    case HDB_KW_LIKE:
    case HDB_KW_GLOB:
    case HDB_KW_MATCH:
    case HDB_KW_REGEXP:
        return like_expr(p, l, negated);
    case HDB_KW_BETWEEN:
        return between_expr(p, l, negated);
    case HDB_KW_IN:
        return in_expr(p, l, negated);
    default:
        assert(!negated);
        *more = false;
        return l;
    }
}

static struct hdb_sql_expr *eq_level(struct parser *p)
{
    struct hdb_sql_expr *e = cmp_level(p);
    bool more = true;
    while (e != NULL && more) {
        e = eq_step(p, e, &more);
    }
    return e;
}

/* NOT is right-associative and may repeat: count, then wrap. */
static struct hdb_sql_expr *not_level(struct parser *p)
{
    uint32_t offsets[HDB_SQL_NEST_MAX];
    uint32_t n = 0;
    while (p_is_kw(p, HDB_KW_NOT)) {
        if (n == HDB_SQL_NEST_MAX) {
            p_fail(p, HDB_INVALID, "too many NOT operators in a row (more than %d)",
                   HDB_SQL_NEST_MAX);
            return NULL;
        }
        offsets[n++] = p->tok.offset;
        if (!p_advance(p)) {
            return NULL;
        }
    }
    struct hdb_sql_expr *e = eq_level(p);
    while (e != NULL && n > 0) {
        struct hdb_sql_expr *w = new_expr(p, HDB_EXPR_UNARY, offsets[--n]);
        if (w == NULL) {
            return NULL;
        }
        w->u.unary.op = HDB_UNARY_NOT;
        w->u.unary.operand = e;
        grow(w, e->height);
        e = done(p, w);
    }
    return e;
}

static struct hdb_sql_expr *and_level(struct parser *p)
{
    struct hdb_sql_expr *e = not_level(p);
    while (e != NULL && p_is_kw(p, HDB_KW_AND)) {
        e = p_advance(p) ? binary(p, HDB_OP_AND, e, not_level(p)) : NULL;
    }
    return e;
}

static struct hdb_sql_expr *or_level(struct parser *p)
{
    struct hdb_sql_expr *e = and_level(p);
    while (e != NULL && p_is_kw(p, HDB_KW_OR)) {
        e = p_advance(p) ? binary(p, HDB_OP_OR, e, and_level(p)) : NULL;
    }
    return e;
}

struct hdb_sql_expr *p_expr(struct parser *p)
{
    if (!p_enter(p)) {
        return NULL;
    }
    struct hdb_sql_expr *e = or_level(p);
    p_leave(p);
    return e;
}

bool p_expr_list(struct parser *p, struct hdb_sql_list *out)
{
    do {
        if (!p_push(p, out, p_expr(p))) {
            return false;
        }
    } while (p_accept(p, HDB_TK_COMMA));
    return true;
}

/* ---------------------------------------------------------------- */
/* Type names                                                        */

static bool type_arg(struct parser *p, int64_t *out)
{
    bool neg = p_accept(p, HDB_TK_MINUS);
    if (!neg) {
        p_accept(p, HDB_TK_PLUS);
    }
    if (!p_is(p, HDB_TK_INTEGER)) {
        return p_syntax_error(p, "an integer");
    }
    struct hdb_sql_expr tmp = {0};
    if (!number_value(p, &tmp) || tmp.kind != HDB_EXPR_INTEGER || tmp.u.i > INT32_MAX) {
        return p->rc == HDB_OK ? p_fail(p, HDB_INVALID, "type size out of range") : false;
    }
    *out = neg ? -tmp.u.i : tmp.u.i;
    return p_advance(p);
}

/* Words that end a type name in a column definition. */
static bool ends_type(const struct parser *p)
{
    return p_is_kw(p, HDB_KW_GENERATED);
}

/* [words] [ ( n [, n] ) ]; `required` for CAST. */
bool p_type(struct parser *p, struct hdb_sql_type *type, bool required)
{
    char buf[256];
    size_t n = 0;
    while (p_is_name(p) && !ends_type(p)) {
        uint32_t len = p->tok.len;
        if (n + len + 2 > sizeof buf) {
            return p_fail(p, HDB_INVALID, "type name too long (at most %zu bytes)", sizeof buf - 2);
        }
        if (n > 0) {
            buf[n++] = ' ';
        }
        memcpy(buf + n, p->src + p->tok.offset, len);
        n += len;
        if (!p_advance(p)) {
            return false;
        }
    }
    if (n == 0) {
        return required ? p_syntax_error(p, "a type name") : p->rc == HDB_OK;
    }
    char *name = p_alloc(p, n + 1);
    if (name == NULL) {
        return false;
    }
    memcpy(name, buf, n);
    name[n] = '\0';
    type->name.ptr = name;
    type->name.len = (uint32_t)n;
    if (!p_accept(p, HDB_TK_LP)) {
        return p->rc == HDB_OK;
    }
    do {
        if (type->nargs == 2) {
            return p_syntax_error(p, "\")\"");
        }
        if (!type_arg(p, &type->args[type->nargs++])) {
            return false;
        }
    } while (p_accept(p, HDB_TK_COMMA));
    return p_expect(p, HDB_TK_RP, "\")\"");
}

/* ---------------------------------------------------------------- */
/* SELECT                                                            */

bool p_order_terms(struct parser *p, struct hdb_sql_list *out)
{
    do {
        struct hdb_sql_order_term *t = p_alloc(p, sizeof *t);
        if (t == NULL || (t->expr = p_expr(p)) == NULL) {
            return false;
        }
        if (p_accept_kw(p, HDB_KW_ASC)) {
            t->order = HDB_ORDER_ASC;
        } else if (p_accept_kw(p, HDB_KW_DESC)) {
            t->order = HDB_ORDER_DESC;
        }
        if (p_accept_kw(p, HDB_KW_NULLS)) {
            if (p_accept_kw(p, HDB_KW_FIRST)) {
                t->nulls = HDB_NULLS_FIRST;
            } else if (p_expect_kw(p, HDB_KW_LAST)) {
                t->nulls = HDB_NULLS_LAST;
            }
        }
        if (!p_push(p, out, t)) {
            return false;
        }
    } while (p_accept(p, HDB_TK_COMMA));
    return true;
}

static struct hdb_sql_result_col *result_column(struct parser *p)
{
    struct hdb_sql_result_col *c = p_alloc(p, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    if (p_accept(p, HDB_TK_STAR)) {
        c->star = true;
        return c;
    }
    if (p_is_name(p) && p_peek(p, 1).kind == HDB_TK_DOT && p_peek(p, 2).kind == HDB_TK_STAR) {
        c->star = true;
        if (!p_name(p, &c->table, "a table name") || !p_advance(p) || !p_advance(p)) {
            return NULL;
        }
        return c;
    }
    if ((c->expr = p_expr(p)) == NULL || !p_alias(p, &c->alias, true)) {
        return NULL;
    }
    return c;
}

bool p_result_columns(struct parser *p, struct hdb_sql_list *out)
{
    do {
        if (!p_push(p, out, result_column(p))) {
            return false;
        }
    } while (p_accept(p, HDB_TK_COMMA));
    return true;
}

/* The join operator before a source; false with no error at the end. */
static bool join_op(struct parser *p, struct hdb_sql_source *s)
{
    if (p_accept(p, HDB_TK_COMMA)) {
        s->join = HDB_JOIN_COMMA;
        return true;
    }
    s->natural = p_accept_kw(p, HDB_KW_NATURAL);
    if (p_accept_kw(p, HDB_KW_LEFT)) {
        s->join = HDB_JOIN_LEFT;
    } else if (p_accept_kw(p, HDB_KW_RIGHT)) {
        s->join = HDB_JOIN_RIGHT;
    } else if (p_accept_kw(p, HDB_KW_FULL)) {
        s->join = HDB_JOIN_FULL;
    } else if (p_accept_kw(p, HDB_KW_CROSS)) {
        s->join = HDB_JOIN_CROSS;
    } else {
        bool inner = p_accept_kw(p, HDB_KW_INNER);
        s->join = HDB_JOIN_INNER;
        if (!s->natural && !inner && !p_is_kw(p, HDB_KW_JOIN)) {
            return false;
        }
    }
    if (s->join == HDB_JOIN_LEFT || s->join == HDB_JOIN_RIGHT || s->join == HDB_JOIN_FULL) {
        p_accept_kw(p, HDB_KW_OUTER);
    }
    return p_expect_kw(p, HDB_KW_JOIN);
}

static bool source_body(struct parser *p, struct hdb_sql_source *s)
{
    if (p_accept(p, HDB_TK_LP)) {
        if (!p_starts_select(p)) {
            if (!p_enter(p)) {
                return false;
            }
            bool ok = p_from(p, &s->nested);
            p_leave(p);
            if (!ok || !p_expect(p, HDB_TK_RP, "\")\"")) {
                return false;
            }
        } else if ((s->select = p_select(p)) == NULL || !p_expect(p, HDB_TK_RP, "\")\"")) {
            return false;
        } else if (s->select->height > p->sel_height) {
            p->sel_height = s->select->height;
        }
    } else if (!p_qualified_name(p, &s->schema, &s->table, "a table name")) {
        return false;
    }
    if (!p_alias(p, &s->alias, true)) {
        return false;
    }
    if (s->join == HDB_JOIN_NONE) {
        return true;
    }
    if (p_accept_kw(p, HDB_KW_ON)) {
        return (s->on = p_expr(p)) != NULL;
    }
    if (p_accept_kw(p, HDB_KW_USING)) {
        return p_name_list(p, &s->using_cols);
    }
    return true;
}

bool p_from(struct parser *p, struct hdb_sql_list *out)
{
    for (;;) {
        struct hdb_sql_source *s = p_alloc(p, sizeof *s);
        if (s == NULL) {
            return false;
        }
        if (out->n > 0 && !join_op(p, s)) {
            return p->rc == HDB_OK;
        }
        if (!source_body(p, s) || !p_push(p, out, s)) {
            return false;
        }
    }
}

static bool values_core(struct parser *p, struct hdb_sql_select_core *c)
{
    do {
        struct hdb_sql_list *row = p_alloc(p, sizeof *row);
        if (row == NULL || !p_expect(p, HDB_TK_LP, "\"(\"") || !p_expr_list(p, row) ||
            !p_expect(p, HDB_TK_RP, "\")\"") || !p_push(p, &c->values, row)) {
            return false;
        }
        if (c->values.n > 1) {
            const struct hdb_sql_list *first = c->values.items[0];
            if (row->n != first->n) {
                return p_fail(p, HDB_INVALID, "all VALUES must have the same number of terms");
            }
        }
    } while (p_accept(p, HDB_TK_COMMA));
    return true;
}

static struct hdb_sql_select_core *select_core(struct parser *p)
{
    struct hdb_sql_select_core *c = p_alloc(p, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    if (p_accept_kw(p, HDB_KW_VALUES)) {
        return values_core(p, c) ? c : NULL;
    }
    if (!p_expect_kw(p, HDB_KW_SELECT)) {
        return NULL;
    }
    c->distinct = p_accept_kw(p, HDB_KW_DISTINCT);
    if (!c->distinct) {
        p_accept_kw(p, HDB_KW_ALL);
    }
    if (!p_result_columns(p, &c->columns)) {
        return NULL;
    }
    if (p_accept_kw(p, HDB_KW_FROM) && !p_from(p, &c->from)) {
        return NULL;
    }
    if (p_accept_kw(p, HDB_KW_WHERE) && (c->where = p_expr(p)) == NULL) {
        return NULL;
    }
    if (p_accept_kw(p, HDB_KW_GROUP) &&
        (!p_expect_kw(p, HDB_KW_BY) || !p_expr_list(p, &c->group_by))) {
        return NULL;
    }
    if (p_accept_kw(p, HDB_KW_HAVING) && (c->having = p_expr(p)) == NULL) {
        return NULL;
    }
    return p->rc == HDB_OK ? c : NULL;
}

static enum hdb_sql_compound compound_op(struct parser *p)
{
    if (p_accept_kw(p, HDB_KW_UNION)) {
        return p_accept_kw(p, HDB_KW_ALL) ? HDB_COMPOUND_UNION_ALL : HDB_COMPOUND_UNION;
    }
    if (p_accept_kw(p, HDB_KW_EXCEPT)) {
        return HDB_COMPOUND_EXCEPT;
    }
    if (p_accept_kw(p, HDB_KW_INTERSECT)) {
        return HDB_COMPOUND_INTERSECT;
    }
    return HDB_COMPOUND_NONE;
}

static bool with_clause(struct parser *p, struct hdb_sql_select *s)
{
    s->recursive = p_accept_kw(p, HDB_KW_RECURSIVE);
    do {
        struct hdb_sql_cte *cte = p_alloc(p, sizeof *cte);
        if (cte == NULL || !p_name(p, &cte->name, "a table name")) {
            return false;
        }
        if (p_is(p, HDB_TK_LP) && !p_name_list(p, &cte->columns)) {
            return false;
        }
        if (!p_expect_kw(p, HDB_KW_AS) || !p_expect(p, HDB_TK_LP, "\"(\"") ||
            (cte->select = p_select(p)) == NULL || !p_expect(p, HDB_TK_RP, "\")\"") ||
            !p_push(p, &s->with, cte)) {
            return false;
        }
        if (cte->select->height > p->sel_height) {
            p->sel_height = cte->select->height;
        }
    } while (p_accept(p, HDB_TK_COMMA));
    return true;
}

static bool select_tail(struct parser *p, struct hdb_sql_select *s)
{
    if (p_accept_kw(p, HDB_KW_ORDER) &&
        (!p_expect_kw(p, HDB_KW_BY) || !p_order_terms(p, &s->order_by))) {
        return false;
    }
    if (!p_accept_kw(p, HDB_KW_LIMIT)) {
        return p->rc == HDB_OK;
    }
    if ((s->limit = p_expr(p)) == NULL) {
        return false;
    }
    if (p_accept_kw(p, HDB_KW_OFFSET)) {
        return (s->offset_expr = p_expr(p)) != NULL;
    }
    if (p_accept(p, HDB_TK_COMMA)) {
        s->offset_expr = s->limit; /* LIMIT offset, count */
        return (s->limit = p_expr(p)) != NULL;
    }
    return true;
}

static bool select_body(struct parser *p, struct hdb_sql_select *s)
{
    if (p_accept_kw(p, HDB_KW_WITH) && !with_clause(p, s)) {
        return false;
    }
    enum hdb_sql_compound op = HDB_COMPOUND_NONE;
    do {
        struct hdb_sql_select_core *c = select_core(p);
        if (!p_push(p, &s->cores, c)) {
            return false;
        }
        c->op = op;
    } while ((op = compound_op(p)) != HDB_COMPOUND_NONE);
    return p->rc == HDB_OK && select_tail(p, s);
}

struct hdb_sql_select *p_select(struct parser *p)
{
    struct hdb_sql_select *s = p_alloc(p, sizeof *s);
    if (s == NULL || !p_enter(p)) {
        return NULL;
    }
    s->offset = p->tok.offset;
    uint32_t saved = p->sel_height;
    p->sel_height = 0;
    bool ok = select_body(p, s);
    s->height = p->sel_height + 1;
    p->sel_height = saved;
    p_leave(p);
    if (!ok) {
        return NULL;
    }
    if (s->height > HDB_SQL_EXPR_HEIGHT_MAX) {
        p_fail(p, HDB_INVALID, "expression tree is too large (maximum depth %d)",
               HDB_SQL_EXPR_HEIGHT_MAX);
        return NULL;
    }
    return s;
}
