/*
 * print.c — the syntax tree back to canonical SQL text (see parser.h).
 *
 * Every compound expression is printed inside parentheses, so the output
 * shows how the parser grouped the operators, and parsing the output again
 * gives the same tree. Output goes to a bounded buffer (struct out) that
 * counts what it could not write, like snprintf. The recursion follows the
 * tree, whose height the parser bounded (HDB_SQL_EXPR_HEIGHT_MAX).
 */
#include "sql/parser.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct out {
    char *buf;
    size_t cap;
    size_t n; /* bytes wanted so far (may exceed cap) */
};

static void put_n(struct out *o, const char *s, size_t len)
{
    if (o->n < o->cap) {
        size_t room = o->cap - o->n;
        memcpy(o->buf + o->n, s, len < room ? len : room);
    }
    o->n += len;
}

static void put(struct out *o, const char *s)
{
    put_n(o, s, strlen(s));
}

static void put_quoted(struct out *o, const char *s, size_t len, char q)
{
    put_n(o, &q, 1);
    for (size_t i = 0; i < len; i++) {
        put_n(o, s + i, 1);
        if (s[i] == q) {
            put_n(o, &q, 1);
        }
    }
    put_n(o, &q, 1);
}

/* A name, quoted when it is not a plain identifier or is a keyword. */
static void put_name(struct out *o, struct hdb_sql_str s)
{
    bool plain = s.len > 0 && (isalpha((unsigned char)s.ptr[0]) || s.ptr[0] == '_');
    for (uint32_t i = 0; plain && i < s.len; i++) {
        plain = isalnum((unsigned char)s.ptr[i]) || s.ptr[i] == '_';
    }
    if (plain && hdb_sql_keyword(s.ptr, s.len) == HDB_KW_NONE) {
        put_n(o, s.ptr, s.len);
    } else {
        put_quoted(o, s.ptr, s.len, '"');
    }
}

static void put_qualified(struct out *o, struct hdb_sql_str schema, struct hdb_sql_str name)
{
    if (schema.ptr != NULL) {
        put_name(o, schema);
        put(o, ".");
    }
    put_name(o, name);
}

static void put_names(struct out *o, const struct hdb_sql_list *l)
{
    put(o, "(");
    for (uint32_t i = 0; i < l->n; i++) {
        put(o, i > 0 ? ", " : "");
        put_name(o, *(const struct hdb_sql_str *)l->items[i]);
    }
    put(o, ")");
}

static void put_expr(struct out *o, const struct hdb_sql_expr *e);
static void put_select(struct out *o, const struct hdb_sql_select *s);

static void put_exprs(struct out *o, const struct hdb_sql_list *l)
{
    for (uint32_t i = 0; i < l->n; i++) {
        put(o, i > 0 ? ", " : "");
        put_expr(o, l->items[i]);
    }
}

static void put_real(struct out *o, double r)
{
    char buf[40];
    if (isinf(r)) {
        put(o, "1e999");
        return;
    }
    snprintf(buf, sizeof buf, "%.17g", r);
    put(o, buf);
    if (strpbrk(buf, ".eE") == NULL) {
        put(o, ".0");
    }
}

static void put_blob(struct out *o, struct hdb_sql_str s)
{
    static const char hex[] = "0123456789ABCDEF";
    put(o, "X'");
    for (uint32_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        char two[2] = {hex[c >> 4], hex[c & 15]};
        put_n(o, two, 2);
    }
    put(o, "'");
}

static void put_type(struct out *o, const struct hdb_sql_type *t)
{
    put_n(o, t->name.ptr, t->name.len);
    if (t->nargs > 0) {
        char buf[48];
        if (t->nargs == 1) {
            snprintf(buf, sizeof buf, "(%" PRId64 ")", t->args[0]);
        } else {
            snprintf(buf, sizeof buf, "(%" PRId64 ", %" PRId64 ")", t->args[0], t->args[1]);
        }
        put(o, buf);
    }
}

static const char *binary_text(enum hdb_sql_binary_op op)
{
    static const char *const text[] = {
        [HDB_OP_OR] = "OR",     [HDB_OP_AND] = "AND",   [HDB_OP_EQ] = "=",
        [HDB_OP_NE] = "<>",     [HDB_OP_IS] = "IS",     [HDB_OP_IS_NOT] = "IS NOT",
        [HDB_OP_LT] = "<",      [HDB_OP_LE] = "<=",     [HDB_OP_GT] = ">",
        [HDB_OP_GE] = ">=",     [HDB_OP_BITAND] = "&",  [HDB_OP_BITOR] = "|",
        [HDB_OP_LSHIFT] = "<<", [HDB_OP_RSHIFT] = ">>", [HDB_OP_ADD] = "+",
        [HDB_OP_SUB] = "-",     [HDB_OP_MUL] = "*",     [HDB_OP_DIV] = "/",
        [HDB_OP_REM] = "%",     [HDB_OP_CONCAT] = "||",
    };
    return text[op];
}

static void put_literal(struct out *o, const struct hdb_sql_expr *e)
{
    char buf[32];
    switch (e->kind) {
    case HDB_EXPR_INTEGER:
        /* A literal is never negative in the source, except a hex one with
         * the top bit set: print those in hex so that they read back. */
        if (e->u.i < 0) {
            snprintf(buf, sizeof buf, "0x%016" PRIX64, (uint64_t)e->u.i);
        } else {
            snprintf(buf, sizeof buf, "%" PRId64, e->u.i);
        }
        put(o, buf);
        break;
    case HDB_EXPR_REAL:
        put_real(o, e->u.r);
        break;
    case HDB_EXPR_STRING:
        put_quoted(o, e->u.s.ptr, e->u.s.len, '\'');
        break;
    case HDB_EXPR_BLOB:
        put_blob(o, e->u.s);
        break;
    case HDB_EXPR_NULL:
        put(o, "NULL");
        break;
    case HDB_EXPR_BOOL:
        put(o, e->u.i ? "TRUE" : "FALSE");
        break;
    case HDB_EXPR_CURRENT:
        put(o, e->u.current == HDB_CURRENT_TIME   ? "CURRENT_TIME"
               : e->u.current == HDB_CURRENT_DATE ? "CURRENT_DATE"
                                                  : "CURRENT_TIMESTAMP");
        break;
    case HDB_EXPR_PARAM:
        if (e->u.param.name.ptr != NULL) {
            put_n(o, e->u.param.name.ptr, e->u.param.name.len);
        } else {
            snprintf(buf, sizeof buf, "?%" PRIu32, e->u.param.number);
            put(o, buf);
        }
        break;
    default:
        assert(false);
    }
}

static void put_predicate(struct out *o, const struct hdb_sql_expr *e)
{
    static const char *const like_text[] = {"LIKE", "GLOB", "MATCH", "REGEXP"};
    put(o, "(");
    switch (e->kind) {
    case HDB_EXPR_LIKE:
        put_expr(o, e->u.like.left);
        put(o, e->u.like.negated ? " NOT " : " ");
        put(o, like_text[e->u.like.op]);
        put(o, " ");
        put_expr(o, e->u.like.pattern);
        if (e->u.like.escape != NULL) {
            put(o, " ESCAPE ");
            put_expr(o, e->u.like.escape);
        }
        break;
    case HDB_EXPR_BETWEEN:
        put_expr(o, e->u.between.operand);
        put(o, e->u.between.negated ? " NOT BETWEEN " : " BETWEEN ");
        put_expr(o, e->u.between.low);
        put(o, " AND ");
        put_expr(o, e->u.between.high);
        break;
    case HDB_EXPR_ISNULL:
        put_expr(o, e->u.isnull.operand);
        put(o, e->u.isnull.negated ? " IS NOT NULL" : " IS NULL");
        break;
    default:
        assert(e->kind == HDB_EXPR_IN);
        put_expr(o, e->u.in.operand);
        put(o, e->u.in.negated ? " NOT IN " : " IN ");
        if (e->u.in.table.ptr != NULL) {
            put_qualified(o, e->u.in.schema, e->u.in.table);
        } else if (e->u.in.select != NULL) {
            put(o, "(");
            put_select(o, e->u.in.select);
            put(o, ")");
        } else {
            put(o, "(");
            put_exprs(o, &e->u.in.list);
            put(o, ")");
        }
        break;
    }
    put(o, ")");
}

static void put_case(struct out *o, const struct hdb_sql_expr *e)
{
    put(o, "CASE");
    if (e->u.case_.base != NULL) {
        put(o, " ");
        put_expr(o, e->u.case_.base);
    }
    for (uint32_t i = 0; i + 1 < e->u.case_.whens.n; i += 2) {
        put(o, " WHEN ");
        put_expr(o, e->u.case_.whens.items[i]);
        put(o, " THEN ");
        put_expr(o, e->u.case_.whens.items[i + 1]);
    }
    if (e->u.case_.else_ != NULL) {
        put(o, " ELSE ");
        put_expr(o, e->u.case_.else_);
    }
    put(o, " END");
}

static void put_function(struct out *o, const struct hdb_sql_expr *e)
{
    struct hdb_sql_str name = e->u.function.name;
    bool plain = true;
    for (uint32_t i = 0; plain && i < name.len; i++) {
        plain = isalnum((unsigned char)name.ptr[i]) || name.ptr[i] == '_';
    }
    if (plain && hdb_sql_keyword(name.ptr, name.len) != HDB_KW_NONE) {
        put_n(o, name.ptr, name.len); /* replace(), like(): keywords used as names */
    } else {
        put_name(o, name);
    }
    put(o, "(");
    if (e->u.function.star) {
        put(o, "*");
    } else {
        put(o, e->u.function.distinct ? "DISTINCT " : "");
        put_exprs(o, &e->u.function.args);
    }
    put(o, ")");
}

static void put_column(struct out *o, const struct hdb_sql_expr *e)
{
    if (e->u.column.schema.ptr != NULL) {
        put_name(o, e->u.column.schema);
        put(o, ".");
    }
    if (e->u.column.table.ptr != NULL) {
        put_name(o, e->u.column.table);
        put(o, ".");
    }
    put_name(o, e->u.column.column);
}

static void put_operator(struct out *o, const struct hdb_sql_expr *e)
{
    static const char *const unary_text[] = {"- ", "+ ", "~ ", "NOT "};
    put(o, "(");
    if (e->kind == HDB_EXPR_UNARY) {
        put(o, unary_text[e->u.unary.op]);
        put_expr(o, e->u.unary.operand);
    } else if (e->kind == HDB_EXPR_BINARY) {
        put_expr(o, e->u.binary.left);
        put(o, " ");
        put(o, binary_text(e->u.binary.op));
        put(o, " ");
        put_expr(o, e->u.binary.right);
    } else if (e->kind == HDB_EXPR_COLLATE) {
        put_expr(o, e->u.collate.operand);
        put(o, " COLLATE ");
        put_name(o, e->u.collate.name);
    } else {
        assert(e->kind == HDB_EXPR_ROW);
        put_exprs(o, &e->u.row);
    }
    put(o, ")");
}

static void put_expr(struct out *o, const struct hdb_sql_expr *e)
{
    switch (e->kind) {
    case HDB_EXPR_COLUMN:
        put_column(o, e);
        break;
    case HDB_EXPR_UNARY:
    case HDB_EXPR_BINARY:
    case HDB_EXPR_COLLATE:
    case HDB_EXPR_ROW:
        put_operator(o, e);
        break;
    case HDB_EXPR_LIKE:
    case HDB_EXPR_BETWEEN:
    case HDB_EXPR_IN:
    case HDB_EXPR_ISNULL:
        put_predicate(o, e);
        break;
    case HDB_EXPR_CASE:
        put_case(o, e);
        break;
    case HDB_EXPR_CAST:
        put(o, "CAST(");
        put_expr(o, e->u.cast.operand);
        put(o, " AS ");
        put_type(o, &e->u.cast.type);
        put(o, ")");
        break;
    case HDB_EXPR_FUNCTION:
        put_function(o, e);
        break;
    case HDB_EXPR_EXISTS:
    case HDB_EXPR_SUBQUERY:
        put(o, e->kind == HDB_EXPR_EXISTS ? "EXISTS (" : "(");
        put_select(o, e->kind == HDB_EXPR_EXISTS ? e->u.exists.select : e->u.subquery);
        put(o, ")");
        break;
    default:
        put_literal(o, e);
        break;
    }
}

/* ---------------------------------------------------------------- */
/* SELECT                                                            */

static void put_result_columns(struct out *o, const struct hdb_sql_list *l)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const struct hdb_sql_result_col *c = l->items[i];
        put(o, i > 0 ? ", " : "");
        if (c->star) {
            if (c->table.ptr != NULL) {
                put_name(o, c->table);
                put(o, ".");
            }
            put(o, "*");
            continue;
        }
        put_expr(o, c->expr);
        if (c->alias.ptr != NULL) {
            put(o, " AS ");
            put_name(o, c->alias);
        }
    }
}

static void put_order_terms(struct out *o, const struct hdb_sql_list *l)
{
    static const char *const order_text[] = {"", " ASC", " DESC"};
    static const char *const nulls_text[] = {"", " NULLS FIRST", " NULLS LAST"};
    for (uint32_t i = 0; i < l->n; i++) {
        const struct hdb_sql_order_term *t = l->items[i];
        put(o, i > 0 ? ", " : "");
        put_expr(o, t->expr);
        put(o, order_text[t->order]);
        put(o, nulls_text[t->nulls]);
    }
}

static void put_from(struct out *o, const struct hdb_sql_list *l)
{
    static const char *const join_text[] = {
        [HDB_JOIN_NONE] = "",
        [HDB_JOIN_COMMA] = ", ",
        [HDB_JOIN_INNER] = " JOIN ",
        [HDB_JOIN_LEFT] = " LEFT JOIN ",
        [HDB_JOIN_RIGHT] = " RIGHT JOIN ",
        [HDB_JOIN_FULL] = " FULL JOIN ",
        [HDB_JOIN_CROSS] = " CROSS JOIN ",
    };
    for (uint32_t i = 0; i < l->n; i++) {
        const struct hdb_sql_source *s = l->items[i];
        if (s->natural) {
            put(o, " NATURAL");
        }
        put(o, join_text[s->join]);
        if (s->select != NULL) {
            put(o, "(");
            put_select(o, s->select);
            put(o, ")");
        } else if (s->nested.n > 0) {
            put(o, "(");
            put_from(o, &s->nested);
            put(o, ")");
        } else {
            put_qualified(o, s->schema, s->table);
        }
        if (s->alias.ptr != NULL) {
            put(o, " AS ");
            put_name(o, s->alias);
        }
        if (s->on != NULL) {
            put(o, " ON ");
            put_expr(o, s->on);
        } else if (s->using_cols.n > 0) {
            put(o, " USING ");
            put_names(o, &s->using_cols);
        }
    }
}

static void put_core(struct out *o, const struct hdb_sql_select_core *c)
{
    if (c->values.n > 0) {
        put(o, "VALUES ");
        for (uint32_t i = 0; i < c->values.n; i++) {
            put(o, i > 0 ? ", (" : "(");
            put_exprs(o, c->values.items[i]);
            put(o, ")");
        }
        return;
    }
    put(o, c->distinct ? "SELECT DISTINCT " : "SELECT ");
    put_result_columns(o, &c->columns);
    if (c->from.n > 0) {
        put(o, " FROM ");
        put_from(o, &c->from);
    }
    if (c->where != NULL) {
        put(o, " WHERE ");
        put_expr(o, c->where);
    }
    if (c->group_by.n > 0) {
        put(o, " GROUP BY ");
        put_exprs(o, &c->group_by);
    }
    if (c->having != NULL) {
        put(o, " HAVING ");
        put_expr(o, c->having);
    }
}

static void put_with(struct out *o, const struct hdb_sql_select *s)
{
    put(o, s->recursive ? "WITH RECURSIVE " : "WITH ");
    for (uint32_t i = 0; i < s->with.n; i++) {
        const struct hdb_sql_cte *cte = s->with.items[i];
        put(o, i > 0 ? ", " : "");
        put_name(o, cte->name);
        if (cte->columns.n > 0) {
            put_names(o, &cte->columns);
        }
        put(o, " AS (");
        put_select(o, cte->select);
        put(o, ")");
    }
    put(o, " ");
}

static void put_select(struct out *o, const struct hdb_sql_select *s)
{
    static const char *const compound_text[] = {"", " UNION ", " UNION ALL ", " EXCEPT ",
                                                " INTERSECT "};
    if (s->with.n > 0) {
        put_with(o, s);
    }
    for (uint32_t i = 0; i < s->cores.n; i++) {
        const struct hdb_sql_select_core *c = s->cores.items[i];
        put(o, compound_text[c->op]);
        put_core(o, c);
    }
    if (s->order_by.n > 0) {
        put(o, " ORDER BY ");
        put_order_terms(o, &s->order_by);
    }
    if (s->limit != NULL) {
        put(o, " LIMIT ");
        put_expr(o, s->limit);
    }
    if (s->offset_expr != NULL) {
        put(o, " OFFSET ");
        put_expr(o, s->offset_expr);
    }
}

/* ---------------------------------------------------------------- */
/* Statements                                                        */

static const char *conflict_text(enum hdb_sql_conflict c)
{
    static const char *const text[] = {"", "ROLLBACK", "ABORT", "FAIL", "IGNORE", "REPLACE"};
    return text[c];
}

static void put_on_conflict(struct out *o, enum hdb_sql_conflict c)
{
    if (c != HDB_CONFLICT_NONE) {
        put(o, " ON CONFLICT ");
        put(o, conflict_text(c));
    }
}

static void put_fk(struct out *o, const struct hdb_sql_fk *fk)
{
    static const char *const action_text[] = {"",        "SET NULL", "SET DEFAULT",
                                              "CASCADE", "RESTRICT", "NO ACTION"};
    put(o, " REFERENCES ");
    put_name(o, fk->table);
    if (fk->columns.n > 0) {
        put_names(o, &fk->columns);
    }
    if (fk->on_delete != HDB_FK_NONE) {
        put(o, " ON DELETE ");
        put(o, action_text[fk->on_delete]);
    }
    if (fk->on_update != HDB_FK_NONE) {
        put(o, " ON UPDATE ");
        put(o, action_text[fk->on_update]);
    }
    if (fk->deferred) {
        put(o, " DEFERRABLE INITIALLY DEFERRED");
    }
}

static void put_constraint(struct out *o, const struct hdb_sql_constraint *c, bool table)
{
    if (c->name.ptr != NULL) {
        put(o, " CONSTRAINT ");
        put_name(o, c->name);
    }
    switch (c->kind) {
    case HDB_CONS_PRIMARY_KEY:
    case HDB_CONS_UNIQUE:
        put(o, c->kind == HDB_CONS_UNIQUE ? " UNIQUE" : " PRIMARY KEY");
        put(o, c->order == HDB_ORDER_ASC ? " ASC" : c->order == HDB_ORDER_DESC ? " DESC" : "");
        if (table) {
            put(o, " (");
            put_order_terms(o, &c->columns);
            put(o, ")");
        }
        put_on_conflict(o, c->on_conflict);
        put(o, c->autoincrement ? " AUTOINCREMENT" : "");
        break;
    case HDB_CONS_NOT_NULL:
    case HDB_CONS_NULL:
        put(o, c->kind == HDB_CONS_NULL ? " NULL" : " NOT NULL");
        put_on_conflict(o, c->on_conflict);
        break;
    case HDB_CONS_DEFAULT:
    case HDB_CONS_CHECK:
    case HDB_CONS_GENERATED:
        put(o, c->kind == HDB_CONS_DEFAULT ? " DEFAULT ("
               : c->kind == HDB_CONS_CHECK ? " CHECK ("
                                           : " AS (");
        put_expr(o, c->expr);
        put(o, c->kind != HDB_CONS_GENERATED ? ")" : c->stored ? ") STORED" : ")");
        break;
    case HDB_CONS_COLLATE:
        put(o, " COLLATE ");
        put_name(o, c->collation);
        break;
    case HDB_CONS_REFERENCES:
        if (table) {
            put(o, " FOREIGN KEY ");
            put_names(o, &c->columns);
        }
        put_fk(o, &c->fk);
        break;
    }
}

static void put_column_def(struct out *o, const struct hdb_sql_column_def *d)
{
    put_name(o, d->name);
    if (d->type.name.ptr != NULL) {
        put(o, " ");
        put_type(o, &d->type);
    }
    for (uint32_t i = 0; i < d->constraints.n; i++) {
        put_constraint(o, d->constraints.items[i], false);
    }
}

static void put_create_table(struct out *o, const struct hdb_sql_stmt *st)
{
    put(o, st->u.create_table.temp ? "CREATE TEMP TABLE " : "CREATE TABLE ");
    put(o, st->u.create_table.if_not_exists ? "IF NOT EXISTS " : "");
    put_qualified(o, st->u.create_table.schema, st->u.create_table.name);
    if (st->u.create_table.as_select != NULL) {
        put(o, " AS ");
        put_select(o, st->u.create_table.as_select);
        return;
    }
    put(o, " (");
    for (uint32_t i = 0; i < st->u.create_table.columns.n; i++) {
        put(o, i > 0 ? ", " : "");
        put_column_def(o, st->u.create_table.columns.items[i]);
    }
    for (uint32_t i = 0; i < st->u.create_table.constraints.n; i++) {
        put(o, ",");
        put_constraint(o, st->u.create_table.constraints.items[i], true);
    }
    put(o, ")");
    put(o, st->u.create_table.without_rowid ? " WITHOUT ROWID" : "");
}

static void put_set(struct out *o, const struct hdb_sql_list *l)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const struct hdb_sql_set *s = l->items[i];
        put(o, i > 0 ? ", " : "");
        if (s->columns.n == 1) {
            put_name(o, *(const struct hdb_sql_str *)s->columns.items[0]);
        } else {
            put_names(o, &s->columns);
        }
        put(o, " = ");
        put_expr(o, s->expr);
    }
}

static void put_returning(struct out *o, const struct hdb_sql_list *l)
{
    if (l->n > 0) {
        put(o, " RETURNING ");
        put_result_columns(o, l);
    }
}

static void put_where(struct out *o, const struct hdb_sql_expr *where)
{
    if (where != NULL) {
        put(o, " WHERE ");
        put_expr(o, where);
    }
}

static void put_table_alias(struct out *o, struct hdb_sql_str schema, struct hdb_sql_str table,
                            struct hdb_sql_str alias)
{
    put_qualified(o, schema, table);
    if (alias.ptr != NULL) {
        put(o, " AS ");
        put_name(o, alias);
    }
}

static void put_insert(struct out *o, const struct hdb_sql_stmt *st)
{
    put(o, "INSERT ");
    if (st->u.insert.or_action != HDB_CONFLICT_NONE) {
        put(o, "OR ");
        put(o, conflict_text(st->u.insert.or_action));
        put(o, " ");
    }
    put(o, "INTO ");
    put_table_alias(o, st->u.insert.schema, st->u.insert.table, st->u.insert.alias);
    if (st->u.insert.columns.n > 0) {
        put(o, " ");
        put_names(o, &st->u.insert.columns);
    }
    if (st->u.insert.select == NULL) {
        put(o, " DEFAULT VALUES");
    } else {
        put(o, " ");
        put_select(o, st->u.insert.select);
    }
    for (uint32_t i = 0; i < st->u.insert.upserts.n; i++) {
        const struct hdb_sql_upsert *u = st->u.insert.upserts.items[i];
        put(o, " ON CONFLICT");
        if (u->target.n > 0) {
            put(o, " (");
            put_order_terms(o, &u->target);
            put(o, ")");
            put_where(o, u->target_where);
        }
        if (!u->do_update) {
            put(o, " DO NOTHING");
            continue;
        }
        put(o, " DO UPDATE SET ");
        put_set(o, &u->set);
        put_where(o, u->where);
    }
    put_returning(o, &st->u.insert.returning);
}

static void put_update(struct out *o, const struct hdb_sql_stmt *st)
{
    put(o, "UPDATE ");
    if (st->u.update.or_action != HDB_CONFLICT_NONE) {
        put(o, "OR ");
        put(o, conflict_text(st->u.update.or_action));
        put(o, " ");
    }
    put_table_alias(o, st->u.update.schema, st->u.update.table, st->u.update.alias);
    put(o, " SET ");
    put_set(o, &st->u.update.set);
    if (st->u.update.from.n > 0) {
        put(o, " FROM ");
        put_from(o, &st->u.update.from);
    }
    put_where(o, st->u.update.where);
    put_returning(o, &st->u.update.returning);
}

static void put_create_index(struct out *o, const struct hdb_sql_stmt *st)
{
    put(o, st->u.create_index.unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
    put(o, st->u.create_index.if_not_exists ? "IF NOT EXISTS " : "");
    put_qualified(o, st->u.create_index.schema, st->u.create_index.name);
    put(o, " ON ");
    put_name(o, st->u.create_index.table);
    put(o, " (");
    put_order_terms(o, &st->u.create_index.columns);
    put(o, ")");
    put_where(o, st->u.create_index.where);
}

static void put_create_view(struct out *o, const struct hdb_sql_stmt *st)
{
    put(o, st->u.create_view.temp ? "CREATE TEMP VIEW " : "CREATE VIEW ");
    put(o, st->u.create_view.if_not_exists ? "IF NOT EXISTS " : "");
    put_qualified(o, st->u.create_view.schema, st->u.create_view.name);
    if (st->u.create_view.columns.n > 0) {
        put_names(o, &st->u.create_view.columns);
    }
    put(o, " AS ");
    put_select(o, st->u.create_view.select);
}

static void put_alter(struct out *o, const struct hdb_sql_stmt *st)
{
    put(o, "ALTER TABLE ");
    put_qualified(o, st->u.alter.schema, st->u.alter.table);
    switch (st->u.alter.kind) {
    case HDB_ALTER_ADD_COLUMN:
        put(o, " ADD COLUMN ");
        put_column_def(o, st->u.alter.column);
        break;
    case HDB_ALTER_RENAME_TABLE:
        put(o, " RENAME TO ");
        put_name(o, st->u.alter.to);
        break;
    case HDB_ALTER_RENAME_COLUMN:
        put(o, " RENAME COLUMN ");
        put_name(o, st->u.alter.from);
        put(o, " TO ");
        put_name(o, st->u.alter.to);
        break;
    case HDB_ALTER_DROP_COLUMN:
        put(o, " DROP COLUMN ");
        put_name(o, st->u.alter.from);
        break;
    }
}

static void put_simple(struct out *o, const struct hdb_sql_stmt *st)
{
    static const char *const begin_text[] = {"BEGIN", "BEGIN DEFERRED", "BEGIN IMMEDIATE",
                                             "BEGIN EXCLUSIVE"};
    switch (st->kind) {
    case HDB_STMT_BEGIN:
        put(o, begin_text[st->u.begin.mode]);
        return;
    case HDB_STMT_COMMIT:
        put(o, "COMMIT");
        return;
    case HDB_STMT_ROLLBACK:
    case HDB_STMT_SAVEPOINT:
    case HDB_STMT_RELEASE:
        put(o, st->kind == HDB_STMT_ROLLBACK    ? "ROLLBACK"
               : st->kind == HDB_STMT_SAVEPOINT ? "SAVEPOINT"
                                                : "RELEASE");
        if (st->u.txn.name.ptr != NULL) {
            put(o, st->kind == HDB_STMT_ROLLBACK ? " TO " : " ");
            put_name(o, st->u.txn.name);
        }
        return;
    default:
        put(o, st->kind == HDB_STMT_VACUUM    ? "VACUUM"
               : st->kind == HDB_STMT_ANALYZE ? "ANALYZE"
                                              : "REINDEX");
        if (st->u.target.name.ptr != NULL) {
            put(o, " ");
            put_qualified(o, st->u.target.schema, st->u.target.name);
        }
        return;
    }
}

static void put_stmt(struct out *o, const struct hdb_sql_stmt *st)
{
    static const char *const explain_text[] = {"", "EXPLAIN ", "EXPLAIN QUERY PLAN "};
    put(o, explain_text[st->explain]);
    switch (st->kind) {
    case HDB_STMT_SELECT:
        put_select(o, st->u.select);
        break;
    case HDB_STMT_INSERT:
        put_insert(o, st);
        break;
    case HDB_STMT_UPDATE:
        put_update(o, st);
        break;
    case HDB_STMT_DELETE:
        put(o, "DELETE FROM ");
        put_table_alias(o, st->u.delete_.schema, st->u.delete_.table, st->u.delete_.alias);
        put_where(o, st->u.delete_.where);
        put_returning(o, &st->u.delete_.returning);
        break;
    case HDB_STMT_CREATE_TABLE:
        put_create_table(o, st);
        break;
    case HDB_STMT_CREATE_INDEX:
        put_create_index(o, st);
        break;
    case HDB_STMT_CREATE_VIEW:
        put_create_view(o, st);
        break;
    case HDB_STMT_DROP_TABLE:
    case HDB_STMT_DROP_INDEX:
    case HDB_STMT_DROP_VIEW:
        put(o, st->kind == HDB_STMT_DROP_TABLE   ? "DROP TABLE "
               : st->kind == HDB_STMT_DROP_INDEX ? "DROP INDEX "
                                                 : "DROP VIEW ");
        put(o, st->u.drop.if_exists ? "IF EXISTS " : "");
        put_qualified(o, st->u.drop.schema, st->u.drop.name);
        break;
    case HDB_STMT_ALTER_TABLE:
        put_alter(o, st);
        break;
    default:
        put_simple(o, st);
        break;
    }
}

static size_t finish(struct out *o)
{
    if (o->cap > 0) {
        o->buf[o->n < o->cap ? o->n : o->cap - 1] = '\0';
    }
    return o->n;
}

size_t hdb_sql_print(const struct hdb_sql_stmt *stmt, char *out, size_t cap)
{
    assert(stmt != NULL);
    struct out o = {out, cap, 0};
    put_stmt(&o, stmt);
    return finish(&o);
}

size_t hdb_sql_print_expr(const struct hdb_sql_expr *expr, char *out, size_t cap)
{
    assert(expr != NULL);
    struct out o = {out, cap, 0};
    put_expr(&o, expr);
    return finish(&o);
}
