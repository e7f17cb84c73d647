/*
 * parser.c — statements and the entry points (see parser.h).
 *
 * The first keyword picks the statement; each statement has one function
 * here, built from the expression, SELECT and name helpers of parse_expr.c
 * and parse_base.c. After a statement comes ';' or the end of the text.
 */
#include "sql/parse_int.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

static struct hdb_sql_constraint *new_constraint(struct parser *p, struct hdb_sql_str name,
                                                 enum hdb_sql_constraint_kind kind)
{
    struct hdb_sql_constraint *c = p_alloc(p, sizeof *c);
    if (c != NULL) {
        c->name = name;
        c->kind = kind;
    }
    return c;
}

/* [ON CONFLICT ROLLBACK|ABORT|FAIL|IGNORE|REPLACE] (constraints), or the
 * same words after INSERT OR / UPDATE OR (`after_or`). */
static bool conflict_action(struct parser *p, enum hdb_sql_conflict *out, bool after_or)
{
    if (!after_or) {
        if (!p_is_kw(p, HDB_KW_ON) || !p_peek_is_kw(p, 1, HDB_KW_CONFLICT)) {
            return p->rc == HDB_OK;
        }
        p_advance(p);
        p_advance(p);
    }
    static const struct {
        enum hdb_sql_kw kw;
        enum hdb_sql_conflict action;
    } map[] = {{HDB_KW_ROLLBACK, HDB_CONFLICT_ROLLBACK},
               {HDB_KW_ABORT, HDB_CONFLICT_ABORT},
               {HDB_KW_FAIL, HDB_CONFLICT_FAIL},
               {HDB_KW_IGNORE, HDB_CONFLICT_IGNORE},
               {HDB_KW_REPLACE, HDB_CONFLICT_REPLACE}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (p_accept_kw(p, map[i].kw)) {
            *out = map[i].action;
            return true;
        }
    }
    return p_syntax_error(p, "ROLLBACK, ABORT, FAIL, IGNORE or REPLACE");
}

static bool fk_action(struct parser *p, enum hdb_sql_fk_action *out)
{
    if (p_accept_kw(p, HDB_KW_SET)) {
        if (p_accept_kw(p, HDB_KW_NULL)) {
            *out = HDB_FK_SET_NULL;
            return true;
        }
        *out = HDB_FK_SET_DEFAULT;
        return p_expect_kw(p, HDB_KW_DEFAULT);
    }
    if (p_accept_kw(p, HDB_KW_CASCADE)) {
        *out = HDB_FK_CASCADE;
    } else if (p_accept_kw(p, HDB_KW_RESTRICT)) {
        *out = HDB_FK_RESTRICT;
    } else if (p_accept_kw(p, HDB_KW_NO)) {
        *out = HDB_FK_NO_ACTION;
        return p_expect_kw(p, HDB_KW_ACTION);
    } else {
        return p_syntax_error(p, "SET NULL, SET DEFAULT, CASCADE, RESTRICT or NO ACTION");
    }
    return true;
}

/* REFERENCES t [(cols)] [ON DELETE|UPDATE action]… [[NOT] DEFERRABLE …] */
static bool fk_clause(struct parser *p, struct hdb_sql_fk *fk)
{
    if (!p_expect_kw(p, HDB_KW_REFERENCES) || !p_name(p, &fk->table, "a table name")) {
        return false;
    }
    if (p_is(p, HDB_TK_LP) && !p_name_list(p, &fk->columns)) {
        return false;
    }
    while (p_is_kw(p, HDB_KW_ON) && !p_peek_is_kw(p, 1, HDB_KW_CONFLICT)) {
        p_advance(p);
        bool del = p_accept_kw(p, HDB_KW_DELETE);
        if (!del && !p_expect_kw(p, HDB_KW_UPDATE)) {
            return false;
        }
        if (!fk_action(p, del ? &fk->on_delete : &fk->on_update)) {
            return false;
        }
    }
    bool not_ = p_is_kw(p, HDB_KW_NOT) && p_peek_is_kw(p, 1, HDB_KW_DEFERRABLE);
    if (not_) {
        p_advance(p);
    }
    if (p_accept_kw(p, HDB_KW_DEFERRABLE) && p_accept_kw(p, HDB_KW_INITIALLY)) {
        bool deferred = p_accept_kw(p, HDB_KW_DEFERRED);
        if (!deferred && !p_expect_kw(p, HDB_KW_IMMEDIATE)) {
            return false;
        }
        fk->deferred = deferred && !not_;
    }
    return p->rc == HDB_OK;
}

/* DEFAULT literal | signed number | (expr) | name */
static struct hdb_sql_expr *default_value(struct parser *p)
{
    if (p_is(p, HDB_TK_LP)) {
        return p_expr(p);
    }
    if (p_is(p, HDB_TK_MINUS) || p_is(p, HDB_TK_PLUS)) {
        struct hdb_sql_token t = p_peek(p, 1);
        if (t.kind != HDB_TK_INTEGER && t.kind != HDB_TK_REAL) {
            p_syntax_error(p, "a literal or a parenthesized expression");
            return NULL;
        }
        return p_expr(p); /* a unary operator over a number */
    }
    struct hdb_sql_expr *e = p_literal(p);
    if (e != NULL || p->rc != HDB_OK) {
        return e;
    }
    if (p_is_name(p)) {
        /* SQLite takes DEFAULT word as the string 'word'. */
        e = p_alloc(p, sizeof *e);
        if (e == NULL) {
            return NULL;
        }
        e->kind = HDB_EXPR_STRING;
        e->offset = p->tok.offset;
        e->height = 1;
        if (!p_name(p, &e->u.s, "a default value")) {
            return NULL;
        }
        e->len = p->prev.offset + p->prev.len - e->offset;
        return e;
    }
    p_syntax_error(p, "a literal or a parenthesized expression");
    return NULL;
}

static bool paren_expr_into(struct parser *p, struct hdb_sql_expr **out)
{
    return p_expect(p, HDB_TK_LP, "\"(\"") && (*out = p_expr(p)) != NULL &&
           p_expect(p, HDB_TK_RP, "\")\"");
}

static bool column_pk(struct parser *p, struct hdb_sql_constraint *c)
{
    if (!p_expect_kw(p, HDB_KW_KEY)) {
        return false;
    }
    if (p_accept_kw(p, HDB_KW_ASC)) {
        c->order = HDB_ORDER_ASC;
    } else if (p_accept_kw(p, HDB_KW_DESC)) {
        c->order = HDB_ORDER_DESC;
    }
    if (!conflict_action(p, &c->on_conflict, false)) {
        return false;
    }
    c->autoincrement = p_accept_kw(p, HDB_KW_AUTOINCREMENT);
    return p->rc == HDB_OK;
}

static bool column_generated(struct parser *p, struct hdb_sql_constraint *c)
{
    if (p_accept_kw(p, HDB_KW_GENERATED) && !p_expect_kw(p, HDB_KW_ALWAYS)) {
        return false;
    }
    if (!p_expect_kw(p, HDB_KW_AS) || !paren_expr_into(p, &c->expr)) {
        return false;
    }
    c->stored = p_accept_kw(p, HDB_KW_STORED);
    if (!c->stored) {
        p_accept_kw(p, HDB_KW_VIRTUAL);
    }
    return p->rc == HDB_OK;
}

/* One column constraint, or NULL with no error when none follows. */
static struct hdb_sql_constraint *column_constraint(struct parser *p)
{
    struct hdb_sql_str name = {0};
    bool named = p_accept_kw(p, HDB_KW_CONSTRAINT);
    if (named && !p_name(p, &name, "a constraint name")) {
        return NULL;
    }
    enum hdb_sql_kw kw = p->tok.kind == HDB_TK_ID ? p->tok.kw : HDB_KW_NONE;
    struct hdb_sql_constraint *c = new_constraint(p, name, HDB_CONS_NULL);
    if (c == NULL) {
        return NULL;
    }
    bool ok;
    switch (kw) {
    case HDB_KW_PRIMARY:
        c->kind = HDB_CONS_PRIMARY_KEY;
        ok = p_advance(p) && column_pk(p, c);
        break;
    case HDB_KW_NOT:
        c->kind = HDB_CONS_NOT_NULL;
        ok = p_advance(p) && p_expect_kw(p, HDB_KW_NULL) &&
             conflict_action(p, &c->on_conflict, false);
        break;
    case HDB_KW_NULL:
        ok = p_advance(p) && conflict_action(p, &c->on_conflict, false);
        break;
    case HDB_KW_UNIQUE:
        c->kind = HDB_CONS_UNIQUE;
        ok = p_advance(p) && conflict_action(p, &c->on_conflict, false);
        break;
    case HDB_KW_CHECK:
        c->kind = HDB_CONS_CHECK;
        ok = p_advance(p) && paren_expr_into(p, &c->expr);
        break;
    case HDB_KW_DEFAULT:
        c->kind = HDB_CONS_DEFAULT;
        ok = p_advance(p) && (c->expr = default_value(p)) != NULL;
        break;
    case HDB_KW_COLLATE:
        c->kind = HDB_CONS_COLLATE;
        ok = p_advance(p) && p_name(p, &c->collation, "a collation name");
        break;
    case HDB_KW_REFERENCES:
        c->kind = HDB_CONS_REFERENCES;
        ok = fk_clause(p, &c->fk);
        break;
    case HDB_KW_GENERATED:
    case HDB_KW_AS:
        c->kind = HDB_CONS_GENERATED;
        ok = column_generated(p, c);
        break;
    default:
        if (named) {
            p_syntax_error(p, "a constraint after CONSTRAINT name");
        }
        return NULL;
    }
    return ok ? c : NULL;
}

static struct hdb_sql_column_def *column_def(struct parser *p)
{
    struct hdb_sql_column_def *d = p_alloc(p, sizeof *d);
    if (d == NULL || !p_name(p, &d->name, "a column name") || !p_type(p, &d->type, false)) {
        return NULL;
    }
    for (;;) {
        struct hdb_sql_constraint *c = column_constraint(p);
        if (c == NULL) {
            return p->rc == HDB_OK ? d : NULL;
        }
        if (!p_push(p, &d->constraints, c)) {
            return NULL;
        }
    }
}

static bool starts_table_constraint(const struct parser *p)
{
    return p_is_kw(p, HDB_KW_CONSTRAINT) || p_is_kw(p, HDB_KW_PRIMARY) ||
           p_is_kw(p, HDB_KW_UNIQUE) || p_is_kw(p, HDB_KW_CHECK) || p_is_kw(p, HDB_KW_FOREIGN);
}

static bool indexed_columns(struct parser *p, struct hdb_sql_list *out)
{
    return p_expect(p, HDB_TK_LP, "\"(\"") && p_order_terms(p, out) &&
           p_expect(p, HDB_TK_RP, "\")\"");
}

static struct hdb_sql_constraint *table_constraint(struct parser *p)
{
    struct hdb_sql_str name = {0};
    if (p_accept_kw(p, HDB_KW_CONSTRAINT) && !p_name(p, &name, "a constraint name")) {
        return NULL;
    }
    struct hdb_sql_constraint *c = new_constraint(p, name, HDB_CONS_CHECK);
    if (c == NULL) {
        return NULL;
    }
    bool ok;
    if (p_accept_kw(p, HDB_KW_PRIMARY)) {
        c->kind = HDB_CONS_PRIMARY_KEY;
        ok = p_expect_kw(p, HDB_KW_KEY) && indexed_columns(p, &c->columns) &&
             conflict_action(p, &c->on_conflict, false);
    } else if (p_accept_kw(p, HDB_KW_UNIQUE)) {
        c->kind = HDB_CONS_UNIQUE;
        ok = indexed_columns(p, &c->columns) && conflict_action(p, &c->on_conflict, false);
    } else if (p_accept_kw(p, HDB_KW_CHECK)) {
        ok = paren_expr_into(p, &c->expr);
    } else if (p_accept_kw(p, HDB_KW_FOREIGN)) {
        c->kind = HDB_CONS_REFERENCES;
        ok = p_expect_kw(p, HDB_KW_KEY) && p_name_list(p, &c->columns) && fk_clause(p, &c->fk);
    } else {
        p_syntax_error(p, "PRIMARY KEY, UNIQUE, CHECK or FOREIGN KEY");
        return NULL;
    }
    return ok ? c : NULL;
}

/* ( coldef, …, [table constraint, …] ) */
static bool table_elements(struct parser *p, struct hdb_sql_stmt *st)
{
    bool constraints = false;
    do {
        constraints = constraints || starts_table_constraint(p);
        if (constraints) {
            do { /* SQLite allows table constraints without commas */
                if (!p_push(p, &st->u.create_table.constraints, table_constraint(p))) {
                    return false;
                }
            } while (starts_table_constraint(p));
        } else if (!p_push(p, &st->u.create_table.columns, column_def(p))) {
            return false;
        }
    } while (p_accept(p, HDB_TK_COMMA));
    return p_expect(p, HDB_TK_RP, "\",\" or \")\"");
}

static bool if_not_exists(struct parser *p, bool *out)
{
    if (!p_accept_kw(p, HDB_KW_IF)) {
        return p->rc == HDB_OK;
    }
    *out = true;
    return p_expect_kw(p, HDB_KW_NOT) && p_expect_kw(p, HDB_KW_EXISTS);
}

static bool create_table(struct parser *p, struct hdb_sql_stmt *st)
{
    st->kind = HDB_STMT_CREATE_TABLE;
    if (!if_not_exists(p, &st->u.create_table.if_not_exists) ||
        !p_qualified_name(p, &st->u.create_table.schema, &st->u.create_table.name,
                          "a table name")) {
        return false;
    }
    if (p_accept_kw(p, HDB_KW_AS)) {
        return (st->u.create_table.as_select = p_select(p)) != NULL;
    }
    if (!p_expect(p, HDB_TK_LP, "\"(\" or AS") || !table_elements(p, st)) {
        return false;
    }
    if (p_is_kw(p, HDB_KW_WITHOUT)) {
        struct hdb_sql_token t = p_peek(p, 1);
        if (t.kind != HDB_TK_ID || t.len != 5 || strncasecmp(p->src + t.offset, "ROWID", 5) != 0) {
            p_advance(p);
            return p_syntax_error(p, "ROWID");
        }
        st->u.create_table.without_rowid = true;
        return p_advance(p) && p_advance(p);
    }
    return true;
}

static bool create_index(struct parser *p, struct hdb_sql_stmt *st)
{
    st->kind = HDB_STMT_CREATE_INDEX;
    if (!if_not_exists(p, &st->u.create_index.if_not_exists) ||
        !p_qualified_name(p, &st->u.create_index.schema, &st->u.create_index.name,
                          "an index name") ||
        !p_expect_kw(p, HDB_KW_ON) || !p_name(p, &st->u.create_index.table, "a table name") ||
        !indexed_columns(p, &st->u.create_index.columns)) {
        return false;
    }
    if (p_accept_kw(p, HDB_KW_WHERE)) {
        return (st->u.create_index.where = p_expr(p)) != NULL;
    }
    return true;
}

static bool create_view(struct parser *p, struct hdb_sql_stmt *st)
{
    st->kind = HDB_STMT_CREATE_VIEW;
    if (!if_not_exists(p, &st->u.create_view.if_not_exists) ||
        !p_qualified_name(p, &st->u.create_view.schema, &st->u.create_view.name, "a view name")) {
        return false;
    }
    if (p_is(p, HDB_TK_LP) && !p_name_list(p, &st->u.create_view.columns)) {
        return false;
    }
    return p_expect_kw(p, HDB_KW_AS) && (st->u.create_view.select = p_select(p)) != NULL;
}

static bool create_stmt(struct parser *p, struct hdb_sql_stmt *st)
{
    bool temp = p_accept_kw(p, HDB_KW_TEMP) || p_accept_kw(p, HDB_KW_TEMPORARY);
    if (p_accept_kw(p, HDB_KW_TABLE)) {
        st->u.create_table.temp = temp;
        return create_table(p, st);
    }
    if (p_accept_kw(p, HDB_KW_VIEW)) {
        st->u.create_view.temp = temp;
        return create_view(p, st);
    }
    if (!temp) {
        st->u.create_index.unique = p_accept_kw(p, HDB_KW_UNIQUE);
        if (p_accept_kw(p, HDB_KW_INDEX)) {
            return create_index(p, st);
        }
        if (st->u.create_index.unique) {
            return p_syntax_error(p, "INDEX");
        }
    }
    return p_syntax_error(p, temp ? "TABLE or VIEW" : "TABLE, INDEX or VIEW");
}

static bool drop_stmt(struct parser *p, struct hdb_sql_stmt *st)
{
    if (p_accept_kw(p, HDB_KW_TABLE)) {
        st->kind = HDB_STMT_DROP_TABLE;
    } else if (p_accept_kw(p, HDB_KW_INDEX)) {
        st->kind = HDB_STMT_DROP_INDEX;
    } else if (p_accept_kw(p, HDB_KW_VIEW)) {
        st->kind = HDB_STMT_DROP_VIEW;
    } else {
        return p_syntax_error(p, "TABLE, INDEX or VIEW");
    }
    if (p_accept_kw(p, HDB_KW_IF)) {
        st->u.drop.if_exists = true;
        if (!p_expect_kw(p, HDB_KW_EXISTS)) {
            return false;
        }
    }
    return p_qualified_name(p, &st->u.drop.schema, &st->u.drop.name, "a name");
}

static bool alter_stmt(struct parser *p, struct hdb_sql_stmt *st)
{
    st->kind = HDB_STMT_ALTER_TABLE;
    if (!p_expect_kw(p, HDB_KW_TABLE) ||
        !p_qualified_name(p, &st->u.alter.schema, &st->u.alter.table, "a table name")) {
        return false;
    }
    if (p_accept_kw(p, HDB_KW_ADD)) {
        st->u.alter.kind = HDB_ALTER_ADD_COLUMN;
        p_accept_kw(p, HDB_KW_COLUMN);
        return (st->u.alter.column = column_def(p)) != NULL;
    }
    if (p_accept_kw(p, HDB_KW_DROP)) {
        st->u.alter.kind = HDB_ALTER_DROP_COLUMN;
        p_accept_kw(p, HDB_KW_COLUMN);
        return p_name(p, &st->u.alter.from, "a column name");
    }
    if (!p_expect_kw(p, HDB_KW_RENAME)) {
        return false;
    }
    if (p_accept_kw(p, HDB_KW_TO)) {
        st->u.alter.kind = HDB_ALTER_RENAME_TABLE;
        return p_name(p, &st->u.alter.to, "a table name");
    }
    st->u.alter.kind = HDB_ALTER_RENAME_COLUMN;
    p_accept_kw(p, HDB_KW_COLUMN);
    return p_name(p, &st->u.alter.from, "a column name") && p_expect_kw(p, HDB_KW_TO) &&
           p_name(p, &st->u.alter.to, "a column name");
}

static bool returning(struct parser *p, struct hdb_sql_list *out)
{
    if (!p_accept_kw(p, HDB_KW_RETURNING)) {
        return p->rc == HDB_OK;
    }
    return p_result_columns(p, out);
}

/* c = expr | (a, b) = expr, … */
static bool set_list(struct parser *p, struct hdb_sql_list *out)
{
    do {
        struct hdb_sql_set *s = p_alloc(p, sizeof *s);
        if (s == NULL) {
            return false;
        }
        if (p_is(p, HDB_TK_LP)) {
            if (!p_name_list(p, &s->columns)) {
                return false;
            }
        } else {
            struct hdb_sql_str *name = p_alloc(p, sizeof *name);
            if (name == NULL || !p_name(p, name, "a column name") ||
                !p_push(p, &s->columns, name)) {
                return false;
            }
        }
        if (!p_expect(p, HDB_TK_EQ, "\"=\"") || (s->expr = p_expr(p)) == NULL ||
            !p_push(p, out, s)) {
            return false;
        }
    } while (p_accept(p, HDB_TK_COMMA));
    return true;
}

static struct hdb_sql_upsert *upsert(struct parser *p)
{
    struct hdb_sql_upsert *u = p_alloc(p, sizeof *u);
    if (u == NULL || !p_advance(p) || !p_expect_kw(p, HDB_KW_CONFLICT)) {
        return NULL;
    }
    if (p_is(p, HDB_TK_LP)) {
        if (!indexed_columns(p, &u->target)) {
            return NULL;
        }
        if (p_accept_kw(p, HDB_KW_WHERE) && (u->target_where = p_expr(p)) == NULL) {
            return NULL;
        }
    }
    if (!p_expect_kw(p, HDB_KW_DO)) {
        return NULL;
    }
    if (p_accept_kw(p, HDB_KW_NOTHING)) {
        return u;
    }
    u->do_update = true;
    if (!p_expect_kw(p, HDB_KW_UPDATE) || !p_expect_kw(p, HDB_KW_SET) || !set_list(p, &u->set)) {
        return NULL;
    }
    if (p_accept_kw(p, HDB_KW_WHERE) && (u->where = p_expr(p)) == NULL) {
        return NULL;
    }
    return u;
}

static bool insert_stmt(struct parser *p, struct hdb_sql_stmt *st, bool replace)
{
    st->kind = HDB_STMT_INSERT;
    st->u.insert.replace_into = replace;
    if (replace) {
        st->u.insert.or_action = HDB_CONFLICT_REPLACE;
    } else if (p_accept_kw(p, HDB_KW_OR) && !conflict_action(p, &st->u.insert.or_action, true)) {
        return false;
    }
    if (!p_expect_kw(p, HDB_KW_INTO) ||
        !p_qualified_name(p, &st->u.insert.schema, &st->u.insert.table, "a table name") ||
        !p_alias(p, &st->u.insert.alias, false)) {
        return false;
    }
    if (p_is(p, HDB_TK_LP) && !p_name_list(p, &st->u.insert.columns)) {
        return false;
    }
    if (p_accept_kw(p, HDB_KW_DEFAULT)) {
        if (!p_expect_kw(p, HDB_KW_VALUES)) {
            return false;
        }
    } else if (!p_starts_select(p)) {
        return p_syntax_error(p, "VALUES, SELECT or DEFAULT VALUES");
    } else if ((st->u.insert.select = p_select(p)) == NULL) {
        return false;
    }
    while (p_is_kw(p, HDB_KW_ON)) {
        if (!p_push(p, &st->u.insert.upserts, upsert(p))) {
            return false;
        }
    }
    return returning(p, &st->u.insert.returning);
}

static bool update_stmt(struct parser *p, struct hdb_sql_stmt *st)
{
    st->kind = HDB_STMT_UPDATE;
    if (p_accept_kw(p, HDB_KW_OR) && !conflict_action(p, &st->u.update.or_action, true)) {
        return false;
    }
    if (!p_qualified_name(p, &st->u.update.schema, &st->u.update.table, "a table name") ||
        !p_alias(p, &st->u.update.alias, false) || !p_expect_kw(p, HDB_KW_SET) ||
        !set_list(p, &st->u.update.set)) {
        return false;
    }
    if (p_accept_kw(p, HDB_KW_FROM) && !p_from(p, &st->u.update.from)) {
        return false;
    }
    if (p_accept_kw(p, HDB_KW_WHERE) && (st->u.update.where = p_expr(p)) == NULL) {
        return false;
    }
    return returning(p, &st->u.update.returning);
}

static bool delete_stmt(struct parser *p, struct hdb_sql_stmt *st)
{
    st->kind = HDB_STMT_DELETE;
    if (!p_expect_kw(p, HDB_KW_FROM) ||
        !p_qualified_name(p, &st->u.delete_.schema, &st->u.delete_.table, "a table name") ||
        !p_alias(p, &st->u.delete_.alias, false)) {
        return false;
    }
    if (p_accept_kw(p, HDB_KW_WHERE) && (st->u.delete_.where = p_expr(p)) == NULL) {
        return false;
    }
    return returning(p, &st->u.delete_.returning);
}

static bool begin_stmt(struct parser *p, struct hdb_sql_stmt *st)
{
    st->kind = HDB_STMT_BEGIN;
    if (p_accept_kw(p, HDB_KW_DEFERRED)) {
        st->u.begin.mode = HDB_BEGIN_DEFERRED;
    } else if (p_accept_kw(p, HDB_KW_IMMEDIATE)) {
        st->u.begin.mode = HDB_BEGIN_IMMEDIATE;
    } else if (p_accept_kw(p, HDB_KW_EXCLUSIVE)) {
        st->u.begin.mode = HDB_BEGIN_EXCLUSIVE;
    }
    p_accept_kw(p, HDB_KW_TRANSACTION);
    return p->rc == HDB_OK;
}

static bool rollback_stmt(struct parser *p, struct hdb_sql_stmt *st)
{
    st->kind = HDB_STMT_ROLLBACK;
    p_accept_kw(p, HDB_KW_TRANSACTION);
    if (!p_accept_kw(p, HDB_KW_TO)) {
        return p->rc == HDB_OK;
    }
    p_accept_kw(p, HDB_KW_SAVEPOINT);
    return p_name(p, &st->u.txn.name, "a savepoint name");
}

/* ANALYZE / REINDEX / VACUUM [schema.]name, all optional. */
static bool target_stmt(struct parser *p, struct hdb_sql_stmt *st, enum hdb_sql_stmt_kind kind)
{
    st->kind = kind;
    if (!p_is_name(p)) {
        return p->rc == HDB_OK;
    }
    return p_qualified_name(p, &st->u.target.schema, &st->u.target.name, "a name");
}

static bool statement_body(struct parser *p, struct hdb_sql_stmt *st)
{
    if (p_starts_select(p)) {
        st->kind = HDB_STMT_SELECT;
        return (st->u.select = p_select(p)) != NULL;
    }
    enum hdb_sql_kw kw = p->tok.kind == HDB_TK_ID ? p->tok.kw : HDB_KW_NONE;
    if (kw == HDB_KW_NONE || !p_advance(p)) {
        return p_syntax_error(p, "a statement");
    }
    switch (kw) {
    case HDB_KW_CREATE:
        return create_stmt(p, st);
    case HDB_KW_DROP:
        return drop_stmt(p, st);
    case HDB_KW_ALTER:
        return alter_stmt(p, st);
    case HDB_KW_INSERT:
        return insert_stmt(p, st, false);
    case HDB_KW_REPLACE:
        return insert_stmt(p, st, true);
    case HDB_KW_UPDATE:
        return update_stmt(p, st);
    case HDB_KW_DELETE:
        return delete_stmt(p, st);
    case HDB_KW_BEGIN:
        return begin_stmt(p, st);
    case HDB_KW_COMMIT:
    case HDB_KW_END:
        st->kind = HDB_STMT_COMMIT;
        p_accept_kw(p, HDB_KW_TRANSACTION);
        return p->rc == HDB_OK;
    case HDB_KW_ROLLBACK:
        return rollback_stmt(p, st);
    case HDB_KW_SAVEPOINT:
        st->kind = HDB_STMT_SAVEPOINT;
        return p_name(p, &st->u.txn.name, "a savepoint name");
    case HDB_KW_RELEASE:
        st->kind = HDB_STMT_RELEASE;
        p_accept_kw(p, HDB_KW_SAVEPOINT);
        return p_name(p, &st->u.txn.name, "a savepoint name");
    case HDB_KW_VACUUM:
        return target_stmt(p, st, HDB_STMT_VACUUM);
    case HDB_KW_ANALYZE:
        return target_stmt(p, st, HDB_STMT_ANALYZE);
    case HDB_KW_REINDEX:
        return target_stmt(p, st, HDB_STMT_REINDEX);
    default:
        p->tok = p->prev; /* report the keyword itself */
        return p_syntax_error(p, "a statement");
    }
}

static struct hdb_sql_stmt *statement(struct parser *p)
{
    struct hdb_sql_stmt *st = p_alloc(p, sizeof *st);
    if (st == NULL) {
        return NULL;
    }
    st->offset = p->tok.offset;
    if (p_accept_kw(p, HDB_KW_EXPLAIN)) {
        st->explain = 1;
        if (p_accept_kw(p, HDB_KW_QUERY)) {
            st->explain = 2;
            if (!p_expect_kw(p, HDB_KW_PLAN)) {
                return NULL;
            }
        }
    }
    if (!statement_body(p, st)) {
        return NULL;
    }
    if (!p_is(p, HDB_TK_SEMI) && !p_is(p, HDB_TK_EOF)) {
        p_syntax_error(p, "\";\" or the end of the statement");
        return NULL;
    }
    st->len = p->prev.offset + p->prev.len - st->offset;
    st->params = p->param_max;
    return st;
}

int hdb_sql_script_init(struct hdb_sql_script *s, const char *src, size_t len, struct hdb_err *err)
{
    assert(s != NULL);
    memset(s, 0, sizeof *s);
    return hdb_sql_lexer_init(&s->lx, src, len, err);
}

int hdb_sql_script_next(struct hdb_sql_script *s, struct hdb_sql_arena *arena,
                        struct hdb_sql_stmt **stmt, size_t *end_offset, struct hdb_err *err)
{
    assert(s != NULL);
    assert(arena != NULL);
    assert(stmt != NULL);
    struct parser p = {.lx = s->lx, .src = s->lx.src, .arena = arena, .err = err};
    *stmt = NULL;
    p.rc = hdb_sql_lex(&p.lx, &p.tok, err);
    while (p.rc == HDB_OK && p.tok.kind == HDB_TK_SEMI) {
        p_advance(&p);
    }
    if (p.rc == HDB_OK && p.tok.kind != HDB_TK_EOF) {
        /* The current token ends the statement (';' or the end), so the
         * lexer already sits just past it. */
        *stmt = statement(&p);
    }
    if (p.rc != HDB_OK) {
        *stmt = NULL;
        s->error_pos = p.pos;
        if (p.tok.kind == HDB_TK_EOF && p.pos.line == 0) {
            s->error_pos = (struct hdb_sql_pos){p.tok.offset, p.tok.line, p.tok.column};
        }
        return p.rc;
    }
    s->lx = p.lx;
    if (end_offset != NULL) {
        *end_offset = p.lx.pos;
    }
    return HDB_OK;
}

static struct hdb_sql_pos position_of(const char *src, uint32_t offset)
{
    struct hdb_sql_pos pos = {offset, 1, 1};
    for (uint32_t i = 0; i < offset; i++) {
        pos.column++;
        if (src[i] == '\n') {
            pos.line++;
            pos.column = 1;
        }
    }
    return pos;
}

int hdb_sql_parse(struct hdb_sql_arena *arena, const char *src, size_t len,
                  struct hdb_sql_stmt **stmt, struct hdb_sql_pos *pos, struct hdb_err *err)
{
    struct hdb_sql_script s;
    int rc = hdb_sql_script_init(&s, src, len, err);
    if (rc == HDB_OK) {
        rc = hdb_sql_script_next(&s, arena, stmt, NULL, err);
    }
    if (rc == HDB_OK && *stmt == NULL) {
        s.error_pos = (struct hdb_sql_pos){s.lx.pos, s.lx.line, s.lx.pos - s.lx.line_start + 1};
        rc = hdb_err_set(err, HDB_INVALID,
                         "incomplete input at line %u, column %u (expected a "
                         "statement)",
                         s.error_pos.line, s.error_pos.column);
    }
    if (rc == HDB_OK) {
        struct hdb_sql_stmt *extra = NULL;
        struct hdb_sql_arena scratch = {0};
        rc = hdb_sql_script_next(&s, &scratch, &extra, NULL, err);
        uint32_t extra_offset = extra != NULL ? extra->offset : 0;
        hdb_sql_arena_free(&scratch);
        if (rc == HDB_OK && extra != NULL) {
            s.error_pos = position_of(src, extra_offset);
            rc = hdb_err_set(err, HDB_INVALID,
                             "more than one statement: the second starts at line %u, column %u",
                             s.error_pos.line, s.error_pos.column);
        }
        if (rc != HDB_OK) {
            *stmt = NULL;
        }
    }
    if (rc != HDB_OK && pos != NULL) {
        *pos = s.error_pos;
    }
    return rc;
}
