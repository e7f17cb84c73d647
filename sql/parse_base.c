/*
 * parse_base.c — the parser's plumbing (see parse_int.h): moving through
 * tokens, reporting errors with their position, bounding recursion, arena
 * allocation, and decoding names.
 */
#include "sql/parse_int.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set_pos(struct parser *p, const struct hdb_sql_token *t)
{
    p->pos.offset = t->offset;
    p->pos.line = t->line;
    p->pos.column = t->column;
}

bool p_advance(struct parser *p)
{
    if (p->rc != HDB_OK) {
        return false;
    }
    p->prev = p->tok;
    int rc = hdb_sql_lex(&p->lx, &p->tok, p->err);
    if (rc != HDB_OK) {
        p->rc = rc;
        set_pos(p, &p->tok);
        return false;
    }
    return true;
}

bool p_is(const struct parser *p, enum hdb_sql_tk kind)
{
    return p->rc == HDB_OK && p->tok.kind == kind;
}

bool p_is_kw(const struct parser *p, enum hdb_sql_kw kw)
{
    return p->rc == HDB_OK && p->tok.kind == HDB_TK_ID && p->tok.kw == kw;
}

bool p_accept(struct parser *p, enum hdb_sql_tk kind)
{
    return p_is(p, kind) && p_advance(p);
}

bool p_accept_kw(struct parser *p, enum hdb_sql_kw kw)
{
    return p_is_kw(p, kw) && p_advance(p);
}

bool p_expect(struct parser *p, enum hdb_sql_tk kind, const char *what)
{
    if (p_accept(p, kind)) {
        return true;
    }
    return p_syntax_error(p, what);
}

bool p_expect_kw(struct parser *p, enum hdb_sql_kw kw)
{
    if (p_accept_kw(p, kw)) {
        return true;
    }
    return p_syntax_error(p, hdb_sql_keyword_name(kw));
}

struct hdb_sql_token p_peek(const struct parser *p, int n)
{
    assert(n >= 1 && n <= 2);
    struct hdb_sql_lexer lx = p->lx;
    struct hdb_sql_token t = {0};
    for (int i = 0; i < n; i++) {
        if (hdb_sql_lex(&lx, &t, NULL) != HDB_OK) {
            t.kind = HDB_TK_EOF;
            return t;
        }
    }
    return t;
}

bool p_peek_is_kw(const struct parser *p, int n, enum hdb_sql_kw kw)
{
    struct hdb_sql_token t = p_peek(p, n);
    return t.kind == HDB_TK_ID && t.kw == kw;
}

bool p_syntax_error(struct parser *p, const char *expected)
{
    if (p->rc != HDB_OK) {
        return false;
    }
    p->rc = HDB_INVALID;
    set_pos(p, &p->tok);
    if (p->tok.kind == HDB_TK_EOF) {
        hdb_err_set(p->err, HDB_INVALID, "incomplete input at line %u, column %u (expected %s)",
                    p->tok.line, p->tok.column, expected);
        return false;
    }
    char near[64];
    hdb_sql_token_excerpt(p->src, &p->tok, near, sizeof near);
    hdb_err_set(p->err, HDB_INVALID,
                "near \"%s\": syntax error at line %u, column %u (expected %s)", near, p->tok.line,
                p->tok.column, expected);
    return false;
}

bool p_fail(struct parser *p, int rc, const char *fmt, ...)
{
    if (p->rc != HDB_OK) {
        return false;
    }
    p->rc = rc;
    set_pos(p, &p->tok);
    char what[HDB_ERR_MSG_BYTES_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char near[64];
    hdb_sql_token_excerpt(p->src, &p->tok, near, sizeof near);
    hdb_err_set(p->err, rc, "near \"%s\" at line %u, column %u: %s", near, p->tok.line,
                p->tok.column, what);
    return false;
}

bool p_enter(struct parser *p)
{
    if (p->nest >= HDB_SQL_NEST_MAX) {
        return p_fail(p, HDB_INVALID,
                      "too deeply nested: more than %d levels of parentheses, subqueries or "
                      "operators (HDB_SQL_NEST_MAX)",
                      HDB_SQL_NEST_MAX);
    }
    p->nest++;
    return true;
}

void p_leave(struct parser *p)
{
    assert(p->nest > 0);
    p->nest--;
}

void *p_alloc(struct parser *p, size_t bytes)
{
    if (p->rc != HDB_OK) {
        return NULL;
    }
    int rc = HDB_OK;
    void *m = hdb_sql_arena_alloc(p->arena, bytes, &rc);
    if (m == NULL) {
        p_fail(p, rc, "out of memory for the syntax tree (limit %u bytes)",
               HDB_SQL_ARENA_BYTES_MAX);
    }
    return m;
}

bool p_push(struct parser *p, struct hdb_sql_list *l, void *item)
{
    if (p->rc != HDB_OK || item == NULL) {
        return false;
    }
    int rc = hdb_sql_list_push(p->arena, l, item);
    if (rc != HDB_OK) {
        return p_fail(p, rc, "list too long or out of memory (at most %u items)",
                      HDB_SQL_LIST_ITEMS_MAX);
    }
    return true;
}

/* Keywords that are never names (SQLite's keywords without a fallback to
 * an identifier, plus the join words, which cannot be aliases either). */
static bool kw_reserved(enum hdb_sql_kw kw)
{
    switch (kw) {
    case HDB_KW_ALL:
    case HDB_KW_ALTER:
    case HDB_KW_AND:
    case HDB_KW_AS:
    case HDB_KW_AUTOINCREMENT:
    case HDB_KW_BETWEEN:
    case HDB_KW_CASE:
    case HDB_KW_CHECK:
    case HDB_KW_COLLATE:
    case HDB_KW_COMMIT:
    case HDB_KW_CONSTRAINT:
    case HDB_KW_CREATE:
    case HDB_KW_CURRENT_DATE:
    case HDB_KW_CURRENT_TIME:
    case HDB_KW_CURRENT_TIMESTAMP:
    case HDB_KW_DEFAULT:
    case HDB_KW_DEFERRABLE:
    case HDB_KW_DELETE:
    case HDB_KW_DISTINCT:
    case HDB_KW_DROP:
    case HDB_KW_ELSE:
    case HDB_KW_ESCAPE:
    case HDB_KW_EXCEPT:
    case HDB_KW_EXISTS:
    case HDB_KW_FOREIGN:
    case HDB_KW_FROM:
    case HDB_KW_GROUP:
    case HDB_KW_HAVING:
    case HDB_KW_IN:
    case HDB_KW_INDEX:
    case HDB_KW_INSERT:
    case HDB_KW_INTERSECT:
    case HDB_KW_INTO:
    case HDB_KW_IS:
    case HDB_KW_ISNULL:
    case HDB_KW_LIMIT:
    case HDB_KW_NOT:
    case HDB_KW_NOTHING:
    case HDB_KW_NOTNULL:
    case HDB_KW_NULL:
    case HDB_KW_ON:
    case HDB_KW_OR:
    case HDB_KW_ORDER:
    case HDB_KW_PRIMARY:
    case HDB_KW_REFERENCES:
    case HDB_KW_RETURNING:
    case HDB_KW_SELECT:
    case HDB_KW_SET:
    case HDB_KW_TABLE:
    case HDB_KW_THEN:
    case HDB_KW_TO:
    case HDB_KW_TRANSACTION:
    case HDB_KW_UNION:
    case HDB_KW_UNIQUE:
    case HDB_KW_UPDATE:
    case HDB_KW_USING:
    case HDB_KW_VALUES:
    case HDB_KW_WHEN:
    case HDB_KW_WHERE:
        return true;
    default:
        return false;
    }
}

static bool kw_join(enum hdb_sql_kw kw)
{
    return kw == HDB_KW_JOIN || kw == HDB_KW_LEFT || kw == HDB_KW_RIGHT || kw == HDB_KW_FULL ||
           kw == HDB_KW_INNER || kw == HDB_KW_OUTER || kw == HDB_KW_CROSS || kw == HDB_KW_NATURAL;
}

bool p_is_name(const struct parser *p)
{
    if (p->rc != HDB_OK) {
        return false;
    }
    if (p->tok.kind == HDB_TK_QID) {
        return true;
    }
    return p->tok.kind == HDB_TK_ID && (p->tok.kw == HDB_KW_NONE || !kw_reserved(p->tok.kw));
}

bool p_is_alias(const struct parser *p)
{
    if (!p_is_name(p)) {
        return p_is(p, HDB_TK_STRING);
    }
    return p->tok.kind == HDB_TK_QID || !kw_join(p->tok.kw);
}

/* Copies a name token into the arena, removing quotes and doubled quotes. */
static bool decode_name(struct parser *p, const struct hdb_sql_token *t, struct hdb_sql_str *out)
{
    const char *s = p->src + t->offset;
    uint32_t n = t->len;
    char close = 0;
    if (t->kind != HDB_TK_ID) {
        assert(n >= 2);
        close = s[0] == '[' ? ']' : s[0];
        s++;
        n -= 2;
    }
    char *d = p_alloc(p, (size_t)n + 1);
    if (d == NULL) {
        return false;
    }
    uint32_t j = 0;
    for (uint32_t i = 0; i < n; i++) {
        d[j++] = s[i];
        if (close != 0 && close != ']' && s[i] == close) {
            i++; /* a doubled quote stands for one */
        }
    }
    d[j] = '\0';
    out->ptr = d;
    out->len = j;
    return true;
}

bool p_name(struct parser *p, struct hdb_sql_str *out, const char *what)
{
    if (!p_is_name(p)) {
        return p_syntax_error(p, what);
    }
    return decode_name(p, &p->tok, out) && p_advance(p);
}

bool p_qualified_name(struct parser *p, struct hdb_sql_str *schema, struct hdb_sql_str *name,
                      const char *what)
{
    if (!p_name(p, name, what)) {
        return false;
    }
    if (p_accept(p, HDB_TK_DOT)) {
        *schema = *name;
        return p_name(p, name, what);
    }
    return true;
}

bool p_name_list(struct parser *p, struct hdb_sql_list *out)
{
    if (!p_expect(p, HDB_TK_LP, "\"(\"")) {
        return false;
    }
    do {
        struct hdb_sql_str *s = p_alloc(p, sizeof *s);
        if (s == NULL || !p_name(p, s, "a column name") || !p_push(p, out, s)) {
            return false;
        }
    } while (p_accept(p, HDB_TK_COMMA));
    return p_expect(p, HDB_TK_RP, "\")\"");
}

bool p_alias(struct parser *p, struct hdb_sql_str *out, bool bare_ok)
{
    bool as = p_accept_kw(p, HDB_KW_AS);
    if (!as && !(bare_ok && p_is_alias(p))) {
        return p->rc == HDB_OK;
    }
    if (p_is(p, HDB_TK_STRING)) {
        /* SQLite accepts 'string' as an alias: keep its text. */
        struct hdb_sql_token t = p->tok;
        t.kind = HDB_TK_QID;
        return decode_name(p, &t, out) && p_advance(p);
    }
    return p_name(p, out, "an alias");
}
