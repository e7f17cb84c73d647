/*
 * catalog.c — table definitions from CREATE TABLE (catalog.h has the rules).
 *
 * The statement is parsed into the definition's own arena; columns are
 * read first, then column constraints, then table constraints, and last the
 * expressions (DEFAULT must be constant, CHECK may name only this table's
 * columns and no subquery). Expression walks follow the tree, whose height
 * the parser bounds.
 */
#include "sql/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql/parser.h"

void hdb_table_def_free(struct hdb_table_def *def)
{
    if (def != NULL) {
        hdb_sql_arena_free(&def->arena);
        free(def);
    }
}

int32_t hdb_table_column(const struct hdb_table_def *def, const char *name)
{
    for (uint32_t i = 0; i < def->ncols; i++) {
        if (strcasecmp(def->cols[i].name, name) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

static void *alloc(struct hdb_table_def *def, size_t bytes, struct hdb_err *err)
{
    int rc = HDB_OK;
    void *p = hdb_sql_arena_alloc(&def->arena, bytes, &rc);
    if (p == NULL) {
        hdb_err_set(err, rc, "out of memory building a table definition");
    }
    return p;
}

static bool has_subquery(const struct hdb_sql_expr *e)
{
    return hdb_sql_expr_is_subquery(e);
}

struct default_ctx {
    const char *column;
};

static int default_visit(const struct hdb_sql_expr *e, void *ctx, struct hdb_err *err)
{
    const struct default_ctx *d = ctx;
    if (e->kind == HDB_EXPR_COLUMN || e->kind == HDB_EXPR_PARAM || has_subquery(e)) {
        return hdb_err_set(err, HDB_INVALID, "default value of column [%s] is not constant",
                           d->column);
    }
    return HDB_OK;
}

static int check_visit(const struct hdb_sql_expr *e, void *ctx, struct hdb_err *err)
{
    const struct hdb_table_def *def = ctx;
    if (has_subquery(e)) {
        return hdb_err_set(err, HDB_INVALID, "subqueries prohibited in CHECK constraints");
    }
    if (e->kind == HDB_EXPR_PARAM) {
        return hdb_err_set(err, HDB_INVALID, "parameters prohibited in CHECK constraints");
    }
    if (e->kind != HDB_EXPR_COLUMN) {
        return HDB_OK;
    }
    const char *table = e->u.column.table.ptr;
    if ((table != NULL && strcasecmp(table, def->name) != 0) ||
        hdb_table_column(def, e->u.column.column.ptr) < 0) {
        return hdb_err_set(err, HDB_INVALID, "no such column: %s%s%s", table != NULL ? table : "",
                           table != NULL ? "." : "", e->u.column.column.ptr);
    }
    return HDB_OK;
}

/* --- columns --- */

static int column_type(struct hdb_table_def *def, struct hdb_column *col,
                       const struct hdb_sql_type *t, struct hdb_err *err)
{
    col->type = "";
    col->affinity = t->name.ptr == NULL ? HDB_AFF_BLOB : hdb_affinity_of(t->name.ptr, t->name.len);
    if (t->name.ptr == NULL) {
        return HDB_OK;
    }
    char text[HDB_NAME_BYTES_MAX + 48];
    int n = t->nargs == 0 ? snprintf(text, sizeof text, "%s", t->name.ptr)
            : t->nargs == 1
                ? snprintf(text, sizeof text, "%s(%lld)", t->name.ptr, (long long)t->args[0])
                : snprintf(text, sizeof text, "%s(%lld,%lld)", t->name.ptr, (long long)t->args[0],
                           (long long)t->args[1]);
    char *copy = alloc(def, (size_t)n + 1, err);
    if (copy == NULL) {
        return err->code;
    }
    memcpy(copy, text, (size_t)n + 1);
    col->type = copy;
    bool dec_name =
        strcasecmp(t->name.ptr, "DECIMAL") == 0 || strcasecmp(t->name.ptr, "NUMERIC") == 0;
    if (!dec_name || t->nargs == 0) {
        return HDB_OK;
    }
    int64_t p = t->args[0], s = t->nargs > 1 ? t->args[1] : 0;
    if (p < 1 || p > (int64_t)HDB_DEC_DIGITS_MAX || s < 0 || s > p) {
        return hdb_err_set(err, HDB_INVALID,
                           "column %s: %s: the precision is 1 to %u and the scale 0 to the "
                           "precision",
                           col->name, copy, HDB_DEC_DIGITS_MAX);
    }
    col->decimal = true;
    col->precision = (uint8_t)p;
    col->scale = (uint8_t)s;
    return HDB_OK;
}

static int set_primary_key(struct hdb_table_def *def, const struct hdb_key_def *key,
                           struct hdb_err *err)
{
    if (def->pk.ncols > 0) {
        return hdb_err_set(err, HDB_INVALID, "table \"%s\" has more than one primary key",
                           def->name);
    }
    def->pk = *key;
    for (uint32_t i = 0; i < key->ncols; i++) {
        struct hdb_column *c = &def->cols[key->cols[i]];
        c->primary_key = true;
        c->not_null = true; /* unlike SQLite, a primary key never holds NULL */
    }
    const struct hdb_column *only = &def->cols[key->cols[0]];
    if (key->ncols == 1 && !key->desc[0] && strcasecmp(only->type, "INTEGER") == 0) {
        def->rowid_col = (int32_t)key->cols[0];
    }
    return HDB_OK;
}

static int add_unique(struct hdb_table_def *def, const struct hdb_key_def *key, struct hdb_err *err)
{
    struct hdb_key_def *u = alloc(def, (def->nuniques + 1) * sizeof *u, err);
    if (u == NULL) {
        return err->code;
    }
    if (def->nuniques > 0) {
        memcpy(u, def->uniques, def->nuniques * sizeof *u);
    }
    u[def->nuniques++] = *key;
    def->uniques = u;
    return HDB_OK;
}

static int add_check(struct hdb_table_def *def, const struct hdb_sql_constraint *c,
                     struct hdb_err *err)
{
    struct hdb_check_def *k = alloc(def, (def->nchecks + 1) * sizeof *k, err);
    if (k == NULL) {
        return err->code;
    }
    if (def->nchecks > 0) {
        memcpy(k, def->checks, def->nchecks * sizeof *k);
    }
    k[def->nchecks++] = (struct hdb_check_def){.name = c->name.ptr, .expr = c->expr};
    def->checks = k;
    return HDB_OK;
}

static int check_collation(const char *name, struct hdb_err *err)
{
    if (strcasecmp(name, "BINARY") == 0 || strcasecmp(name, "NOCASE") == 0 ||
        strcasecmp(name, "RTRIM") == 0) {
        return HDB_OK;
    }
    return hdb_err_set(err, HDB_INVALID, "no such collation sequence: %s", name);
}

static int column_constraint(struct hdb_table_def *def, uint32_t at,
                             const struct hdb_sql_constraint *c, struct hdb_err *err)
{
    struct hdb_column *col = &def->cols[at];
    struct hdb_key_def key = {.name = c->name.ptr, .ncols = 1, .cols = {at}};
    switch (c->kind) {
    case HDB_CONS_PRIMARY_KEY:
        key.desc[0] = c->order == HDB_ORDER_DESC;
        if (c->autoincrement && strcasecmp(col->type, "INTEGER") != 0) {
            return hdb_err_set(err, HDB_INVALID,
                               "AUTOINCREMENT is only allowed on an INTEGER PRIMARY KEY");
        }
        def->autoincrement = def->autoincrement || c->autoincrement;
        return set_primary_key(def, &key, err);
    case HDB_CONS_NOT_NULL:
        col->not_null = true;
        return HDB_OK;
    case HDB_CONS_UNIQUE:
        return add_unique(def, &key, err);
    case HDB_CONS_DEFAULT: {
        struct default_ctx d = {.column = col->name};
        col->default_expr = c->expr;
        return hdb_sql_expr_walk(c->expr, default_visit, &d, err);
    }
    case HDB_CONS_CHECK:
        return add_check(def, c, err);
    case HDB_CONS_COLLATE:
        col->collation = c->collation.ptr;
        return check_collation(c->collation.ptr, err);
    case HDB_CONS_GENERATED:
        return hdb_err_set(err, HDB_INVALID, "column %s: generated columns are not supported",
                           col->name);
    default: /* NULL, REFERENCES (kept in the text, not enforced) */
        return HDB_OK;
    }
}

/* A table constraint's column list as positions. */
static int key_columns(const struct hdb_table_def *def, const struct hdb_sql_list *terms,
                       struct hdb_key_def *key, struct hdb_err *err)
{
    if (terms->n > HDB_KEY_COLUMNS_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "a key has at most %u columns", HDB_KEY_COLUMNS_MAX);
    }
    for (uint32_t i = 0; i < terms->n; i++) {
        const struct hdb_sql_order_term *t = terms->items[i];
        const struct hdb_sql_expr *e = t->expr;
        while (e->kind == HDB_EXPR_COLLATE) {
            e = e->u.collate.operand;
        }
        int32_t at =
            e->kind == HDB_EXPR_COLUMN ? hdb_table_column(def, e->u.column.column.ptr) : -1;
        if (at < 0) {
            return e->kind == HDB_EXPR_COLUMN
                       ? hdb_err_set(err, HDB_INVALID, "no such column: %s", e->u.column.column.ptr)
                       : hdb_err_set(err, HDB_INVALID,
                                     "expressions prohibited in PRIMARY KEY and UNIQUE "
                                     "constraints");
        }
        key->cols[i] = (uint32_t)at;
        key->desc[i] = t->order == HDB_ORDER_DESC;
    }
    key->ncols = terms->n;
    return HDB_OK;
}

static int table_constraint(struct hdb_table_def *def, const struct hdb_sql_constraint *c,
                            struct hdb_err *err)
{
    struct hdb_key_def key = {.name = c->name.ptr};
    switch (c->kind) {
    case HDB_CONS_PRIMARY_KEY: {
        int rc = key_columns(def, &c->columns, &key, err);
        if (rc == HDB_OK && c->autoincrement &&
            (key.ncols != 1 || strcasecmp(def->cols[key.cols[0]].type, "INTEGER") != 0)) {
            return hdb_err_set(err, HDB_INVALID,
                               "AUTOINCREMENT is only allowed on an INTEGER PRIMARY KEY");
        }
        def->autoincrement = def->autoincrement || c->autoincrement;
        return rc == HDB_OK ? set_primary_key(def, &key, err) : rc;
    }
    case HDB_CONS_UNIQUE: {
        int rc = key_columns(def, &c->columns, &key, err);
        return rc == HDB_OK ? add_unique(def, &key, err) : rc;
    }
    case HDB_CONS_CHECK:
        return add_check(def, c, err);
    default: /* FOREIGN KEY: kept in the text, not enforced */
        return HDB_OK;
    }
}

static int read_columns(struct hdb_table_def *def, const struct hdb_sql_list *cols,
                        struct hdb_err *err)
{
    if (cols->n == 0 || cols->n > HDB_TABLE_COLUMNS_MAX) {
        return hdb_err_set(err, HDB_INVALID, "a table has 1 to %u columns, not %u",
                           HDB_TABLE_COLUMNS_MAX, cols->n);
    }
    def->cols = alloc(def, cols->n * sizeof *def->cols, err);
    if (def->cols == NULL) {
        return err->code;
    }
    for (uint32_t i = 0; i < cols->n; i++) {
        const struct hdb_sql_column_def *cd = cols->items[i];
        if (cd->name.len > HDB_NAME_BYTES_MAX) {
            return hdb_err_set(err, HDB_TOOBIG, "column name of %u bytes (at most %u)",
                               cd->name.len, HDB_NAME_BYTES_MAX);
        }
        if (hdb_table_column(def, cd->name.ptr) >= 0) {
            return hdb_err_set(err, HDB_INVALID, "duplicate column name: %s", cd->name.ptr);
        }
        struct hdb_column *col = &def->cols[def->ncols++];
        *col = (struct hdb_column){.name = cd->name.ptr, .id = i};
        int rc = column_type(def, col, &cd->type, err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    def->next_column_id = cols->n;
    return HDB_OK;
}

static int build(struct hdb_table_def *def, const struct hdb_sql_stmt *stmt, struct hdb_err *err)
{
    if (stmt->kind != HDB_STMT_CREATE_TABLE) {
        return hdb_err_set(err, HDB_INVALID, "not a CREATE TABLE statement");
    }
    if (stmt->u.create_table.as_select != NULL) {
        return hdb_err_set(err, HDB_INVALID, "CREATE TABLE ... AS SELECT is not supported yet");
    }
    def->name = stmt->u.create_table.name.ptr;
    if (strlen(def->name) > HDB_NAME_BYTES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "table name longer than %u bytes", HDB_NAME_BYTES_MAX);
    }
    int rc = read_columns(def, &stmt->u.create_table.columns, err);
    for (uint32_t i = 0; rc == HDB_OK && i < def->ncols; i++) {
        const struct hdb_sql_column_def *cd = stmt->u.create_table.columns.items[i];
        for (uint32_t k = 0; rc == HDB_OK && k < cd->constraints.n; k++) {
            rc = column_constraint(def, i, cd->constraints.items[k], err);
        }
    }
    for (uint32_t k = 0; rc == HDB_OK && k < stmt->u.create_table.constraints.n; k++) {
        rc = table_constraint(def, stmt->u.create_table.constraints.items[k], err);
    }
    for (uint32_t k = 0; rc == HDB_OK && k < def->nchecks; k++) {
        rc = hdb_sql_expr_walk(def->checks[k].expr, check_visit, def, err);
    }
    return rc;
}

int hdb_table_def_build(const char *sql, size_t len, struct hdb_table_def **out,
                        struct hdb_err *err)
{
    struct hdb_table_def *def = calloc(1, sizeof *def);
    if (def == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory building a table definition");
    }
    def->rowid_col = -1;
    struct hdb_sql_stmt *stmt = NULL;
    int rc = hdb_sql_parse(&def->arena, sql, len, &stmt, NULL, err);
    char *text = rc == HDB_OK ? alloc(def, len + 1, err) : NULL;
    if (rc == HDB_OK && text == NULL) {
        rc = err->code;
    }
    if (rc == HDB_OK) {
        memcpy(text, sql, len);
        text[len] = '\0';
        def->sql = text;
        rc = build(def, stmt, err);
    }
    if (rc != HDB_OK) {
        hdb_table_def_free(def);
        return rc;
    }
    *out = def;
    return HDB_OK;
}
