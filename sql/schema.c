/*
 * schema.c — the stored catalog and DDL (schema.h has the layout).
 */
#include "sql/schema.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bytes.h"
#include "sql/lexer.h"
#include "sql/parser.h"

#define KIND_TABLE         1u
#define KIND_INDEX         2u
#define SQL_TEXT_BYTES_MAX (1u << 20) /* one stored CREATE TABLE text */

static int catalog(struct hdb_conn *c, struct hdb_table **out, struct hdb_err *err)
{
    return hdb_kv_table(c, HDB_CATALOG_TABLE, true, out, err);
}

static void object_key(char kind, const char *name, char *out, size_t cap, uint32_t *len)
{
    int n = snprintf(out, cap, "%c:%s", kind, name);
    for (int i = 2; i < n; i++) {
        out[i] = (char)tolower((unsigned char)out[i]);
    }
    *len = (uint32_t)n;
}

static int get_u64(struct hdb_txn *t, struct hdb_table *cat, const char *key, uint64_t *out,
                   struct hdb_err *err)
{
    struct hdb_buf val = {0};
    int rc = hdb_txn_get(t, cat, key, (uint32_t)strlen(key), &val, err);
    *out = 0;
    if (rc == HDB_OK && val.len == 8) {
        *out = hdb_get64(val.data);
    } else if (rc == HDB_OK) {
        rc = hdb_err_set(err, HDB_CORRUPT, "catalog key \"%s\" holds %zu bytes, not 8", key,
                         val.len);
    }
    hdb_buf_free(&val);
    return rc == HDB_NOTFOUND ? HDB_OK : rc;
}

static int put_u64(struct hdb_txn *t, struct hdb_table *cat, const char *key, uint64_t v,
                   struct hdb_err *err)
{
    uint8_t b[8];
    hdb_put64(b, v);
    return hdb_txn_put(t, cat, key, (uint32_t)strlen(key), b, 8, err);
}

static void table_key(const char *name, char *out, size_t cap, uint32_t *len)
{
    object_key('t', name, out, cap, len);
}

/* --- loading --- */

static void index_free(struct hdb_schema_index *ix)
{
    if (ix != NULL) {
        hdb_sql_arena_free(&ix->arena);
        free(ix);
    }
}

void hdb_schema_free(struct hdb_schema *s)
{
    if (s == NULL) {
        return;
    }
    for (uint32_t i = 0; i < s->ntables; i++) {
        hdb_table_def_free(s->tables[i].def);
    }
    for (uint32_t i = 0; i < s->nindexes; i++) {
        index_free(s->indexes[i]);
    }
    for (uint32_t i = 0; i < s->ntables; i++) {
        free(s->tables[i].ix);
    }
    free(s->indexes);
    free(s->tables);
    free(s);
}

const struct hdb_schema_table *hdb_schema_table(const struct hdb_schema *s, const char *name)
{
    for (uint32_t i = 0; i < s->ntables; i++) {
        if (strcasecmp(s->tables[i].def->name, name) == 0) {
            return &s->tables[i];
        }
    }
    return NULL;
}

struct load_ctx {
    struct hdb_schema *s;
    uint32_t cap;
    int rc;
    struct hdb_err *err;
};

static bool load_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                     uint32_t vlen)
{
    struct load_ctx *l = ctx;
    if (klen < 3 || key[0] != 't' || key[1] != ':') {
        return true;
    }
    if (vlen < 8 || hdb_get32(val) != KIND_TABLE) {
        l->rc =
            hdb_err_set(l->err, HDB_CORRUPT, "catalog entry \"%.*s\" is malformed", (int)klen, key);
        return false;
    }
    if (l->s->ntables == l->cap) {
        uint32_t cap = l->cap == 0 ? 16 : l->cap * 2;
        void *p =
            cap > HDB_SCHEMA_TABLES_MAX ? NULL : realloc(l->s->tables, cap * sizeof *l->s->tables);
        if (p == NULL) {
            l->rc = hdb_err_set(l->err, HDB_NOMEM, "out of memory loading the catalog");
            return false;
        }
        l->s->tables = p;
        l->cap = cap;
    }
    struct hdb_schema_table *st = &l->s->tables[l->s->ntables];
    *st = (struct hdb_schema_table){.id = hdb_get32(val + 4)};
    l->rc = hdb_table_def_build((const char *)val + 8, vlen - 8, &st->def, l->err);
    if (l->rc != HDB_OK) {
        hdb_err_prefix(l->err, "catalog entry \"%.*s\"", (int)klen, key);
        return false;
    }
    l->s->ntables++;
    return true;
}

/* An index definition from its CREATE INDEX text, resolved against its table. */
static int index_build(const struct hdb_table_def *def, const char *sql, size_t len,
                       struct hdb_schema_index **out, struct hdb_err *err)
{
    struct hdb_schema_index *ix = calloc(1, sizeof *ix);
    if (ix == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    struct hdb_sql_stmt *st = NULL;
    int rc = hdb_sql_parse(&ix->arena, sql, len, &st, NULL, err);
    if (rc == HDB_OK && st->kind != HDB_STMT_CREATE_INDEX) {
        rc = hdb_err_set(err, HDB_CORRUPT, "not a CREATE INDEX statement");
    }
    const struct hdb_sql_list *cols = rc == HDB_OK ? &st->u.create_index.columns : NULL;
    if (rc == HDB_OK && (cols->n == 0 || cols->n > HDB_KEY_COLUMNS_MAX)) {
        rc = hdb_err_set(err, HDB_INVALID, "an index has 1 to %u columns", HDB_KEY_COLUMNS_MAX);
    }
    for (uint32_t i = 0; rc == HDB_OK && i < cols->n; i++) {
        const struct hdb_sql_order_term *t = cols->items[i];
        const struct hdb_sql_expr *e = t->expr;
        bool binary = true, collated = false;
        while (e->kind == HDB_EXPR_COLLATE) {
            binary = binary && (collated || strcasecmp(e->u.collate.name.ptr, "BINARY") == 0);
            collated = true; /* the outermost COLLATE decides */
            e = e->u.collate.operand;
        }
        int32_t at =
            e->kind == HDB_EXPR_COLUMN ? hdb_table_column(def, e->u.column.column.ptr) : -1;
        if (at >= 0 && !collated && def->cols[at].collation != NULL) {
            binary = strcasecmp(def->cols[at].collation, "BINARY") == 0;
        }
        ix->binary = i == 0 ? binary : ix->binary && binary;
        if (e->kind != HDB_EXPR_COLUMN) {
            rc = hdb_err_set(err, HDB_INVALID, "expressions in an index are not supported yet");
        } else if (at < 0) {
            rc = hdb_err_set(err, HDB_INVALID, "no such column: %s", e->u.column.column.ptr);
        } else {
            ix->key.cols[i] = (uint32_t)at;
            ix->key.desc[i] = t->order == HDB_ORDER_DESC;
        }
    }
    int arc = HDB_OK;
    char *text = rc == HDB_OK ? hdb_sql_arena_alloc(&ix->arena, len + 1, &arc) : NULL;
    if (rc == HDB_OK && text == NULL) {
        rc = hdb_err_set(err, arc, "out of memory");
    }
    if (rc != HDB_OK) {
        index_free(ix);
        return rc;
    }
    memcpy(text, sql, len);
    ix->sql = text;
    ix->key.ncols = cols->n;
    ix->name = st->u.create_index.name.ptr;
    ix->table = st->u.create_index.table.ptr;
    ix->key.name = ix->name;
    ix->unique = st->u.create_index.unique;
    ix->where = st->u.create_index.where;
    *out = ix;
    return HDB_OK;
}

struct index_load_ctx {
    struct hdb_schema *s;
    uint32_t cap;
    int rc;
    struct hdb_err *err;
};

static bool load_index_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                           uint32_t vlen)
{
    struct index_load_ctx *l = ctx;
    uint32_t tlen = vlen >= 10 ? hdb_get16(val + 8) : 0;
    if (vlen < 10 || hdb_get32(val) != KIND_INDEX || 10 + (size_t)tlen > vlen ||
        tlen > HDB_NAME_BYTES_MAX) {
        l->rc =
            hdb_err_set(l->err, HDB_CORRUPT, "catalog entry \"%.*s\" is malformed", (int)klen, key);
        return false;
    }
    char table[HDB_NAME_BYTES_MAX + 1];
    memcpy(table, val + 10, tlen);
    table[tlen] = '\0';
    const struct hdb_schema_table *st = hdb_schema_table(l->s, table);
    if (st == NULL) {
        l->rc = hdb_err_set(l->err, HDB_CORRUPT, "index \"%.*s\" names missing table %s", (int)klen,
                            key, table);
        return false;
    }
    if (l->s->nindexes == l->cap) {
        uint32_t cap = l->cap == 0 ? 8 : l->cap * 2;
        void *p = realloc(l->s->indexes, cap * sizeof *l->s->indexes);
        if (p == NULL) {
            l->rc = hdb_err_set(l->err, HDB_NOMEM, "out of memory loading the catalog");
            return false;
        }
        l->s->indexes = p;
        l->cap = cap;
    }
    struct hdb_schema_index *ix = NULL;
    l->rc = index_build(st->def, (const char *)val + 10 + tlen, vlen - 10 - tlen, &ix, l->err);
    if (l->rc != HDB_OK) {
        return false;
    }
    ix->id = hdb_get32(val + 4);
    l->s->indexes[l->s->nindexes++] = ix;
    return true;
}

const struct hdb_schema_index *hdb_schema_index(const struct hdb_schema *s, const char *name)
{
    for (uint32_t i = 0; i < s->nindexes; i++) {
        if (strcasecmp(s->indexes[i]->name, name) == 0) {
            return s->indexes[i];
        }
    }
    return NULL;
}

static bool binary_column(const struct hdb_table_def *d, const struct hdb_key_def *k)
{
    for (uint32_t i = 0; i < k->ncols; i++) {
        const char *coll = d->cols[k->cols[i]].collation;
        if (coll != NULL && strcasecmp(coll, "BINARY") != 0) {
            return false;
        }
    }
    return true;
}

/* Each table's UNIQUE constraints and indexes, with their key-value tables of entries. */
static int link_indexes(struct hdb_conn *c, struct hdb_schema *s, struct hdb_err *err)
{
    int rc = HDB_OK;
    for (uint32_t i = 0; rc == HDB_OK && i < s->ntables; i++) {
        struct hdb_schema_table *st = &s->tables[i];
        const struct hdb_table_def *d = st->def;
        uint32_t n = d->nuniques;
        for (uint32_t j = 0; j < s->nindexes; j++) {
            n += strcasecmp(s->indexes[j]->table, d->name) == 0;
        }
        st->ix = n > 0 ? calloc(n, sizeof *st->ix) : NULL;
        if (n > 0 && st->ix == NULL) {
            return hdb_err_set(err, HDB_NOMEM, "out of memory loading the catalog");
        }
        char name[40];
        for (uint32_t u = 0; rc == HDB_OK && u < d->nuniques; u++) {
            struct hdb_schema_ix *x = &st->ix[st->nix++];
            *x = (struct hdb_schema_ix){.name = d->uniques[u].name,
                                        .key = &d->uniques[u],
                                        .unique = true,
                                        .lookup = binary_column(d, &d->uniques[u])};
            snprintf(name, sizeof name, "u%u.%u", st->id, u);
            rc = hdb_kv_table(c, name, true, &x->entries, err);
        }
        for (uint32_t j = 0; rc == HDB_OK && j < s->nindexes; j++) {
            const struct hdb_schema_index *ix = s->indexes[j];
            if (strcasecmp(ix->table, d->name) != 0) {
                continue;
            }
            struct hdb_schema_ix *x = &st->ix[st->nix++];
            *x = (struct hdb_schema_ix){.name = ix->name,
                                        .key = &ix->key,
                                        .where = ix->where,
                                        .unique = ix->unique,
                                        .lookup = ix->binary};
            snprintf(name, sizeof name, "x%u", ix->id);
            rc = hdb_kv_table(c, name, true, &x->entries, err);
        }
    }
    return rc;
}

static int open_rows(struct hdb_conn *c, struct hdb_schema_table *st, struct hdb_err *err)
{
    char name[32];
    snprintf(name, sizeof name, "t%u", st->id);
    return hdb_kv_table(c, name, true, &st->rows, err);
}

int hdb_schema_next_id(struct hdb_conn *c, struct hdb_txn *t, uint64_t *out, struct hdb_err *err)
{
    struct hdb_table *cat = NULL;
    int rc = catalog(c, &cat, err);
    return rc == HDB_OK ? get_u64(t, cat, "n", out, err) : rc;
}

int hdb_schema_version(struct hdb_conn *c, struct hdb_txn *t, uint64_t *out, struct hdb_err *err)
{
    struct hdb_table *cat = NULL;
    int rc = catalog(c, &cat, err);
    return rc == HDB_OK ? get_u64(t, cat, "v", out, err) : rc;
}

int hdb_schema_load(struct hdb_conn *c, struct hdb_txn *t, struct hdb_schema **out,
                    struct hdb_err *err)
{
    struct hdb_table *cat = NULL;
    int rc = catalog(c, &cat, err);
    struct hdb_schema *s = rc == HDB_OK ? calloc(1, sizeof *s) : NULL;
    if (rc == HDB_OK && s == NULL) {
        rc = hdb_err_set(err, HDB_NOMEM, "out of memory loading the catalog");
    }
    rc = rc == HDB_OK ? get_u64(t, cat, "v", &s->version, err) : rc;
    struct load_ctx l = {.s = s, .err = err};
    if (rc == HDB_OK) {
        rc = hdb_txn_scan(t, cat, "t:", 2, "t;", 2, 0, load_row, &l, err);
        rc = rc == HDB_OK ? l.rc : rc;
    }
    for (uint32_t i = 0; rc == HDB_OK && i < s->ntables; i++) {
        rc = open_rows(c, &s->tables[i], err);
    }
    struct index_load_ctx il = {.s = s, .err = err};
    if (rc == HDB_OK) {
        rc = hdb_txn_scan(t, cat, "i:", 2, "i;", 2, 0, load_index_row, &il, err);
        rc = rc == HDB_OK ? il.rc : rc;
    }
    rc = rc == HDB_OK ? link_indexes(c, s, err) : rc;
    if (rc != HDB_OK) {
        hdb_schema_free(s);
        return rc;
    }
    *out = s;
    return HDB_OK;
}

/* --- DDL --- */

static int reserved(const char *name, struct hdb_err *err)
{
    if (name[0] == '_') {
        return hdb_err_set(err, HDB_INVALID,
                           "object name %s is reserved: names starting with _ are the system's",
                           name);
    }
    return HDB_OK;
}

/* Writes the catalog entry of a table: kind, id, CREATE TABLE text. */
static int put_table(struct hdb_txn *t, struct hdb_table *cat, const char *name, uint32_t id,
                     const char *sql, size_t len, struct hdb_err *err)
{
    if (len > SQL_TEXT_BYTES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "CREATE TABLE text of %zu bytes (at most %u)", len,
                           SQL_TEXT_BYTES_MAX);
    }
    uint8_t *v = malloc(8 + len);
    if (v == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    hdb_put32(v, KIND_TABLE);
    hdb_put32(v + 4, id);
    memcpy(v + 8, sql, len);
    char key[HDB_NAME_BYTES_MAX + 8];
    uint32_t klen;
    table_key(name, key, sizeof key, &klen);
    int rc = hdb_txn_put(t, cat, key, klen, v, (uint32_t)(8 + len), err);
    free(v);
    return rc;
}

static int bump_version(struct hdb_txn *t, struct hdb_table *cat, struct hdb_err *err)
{
    uint64_t v = 0;
    int rc = get_u64(t, cat, "v", &v, err);
    return rc == HDB_OK ? put_u64(t, cat, "v", v + 1, err) : rc;
}

/* Reads a table's catalog entry: HDB_NOTFOUND if there is none. */
static int get_table(struct hdb_txn *t, struct hdb_table *cat, const char *name,
                     struct hdb_buf *val, struct hdb_err *err)
{
    char key[HDB_NAME_BYTES_MAX + 8];
    uint32_t klen;
    table_key(name, key, sizeof key, &klen);
    int rc = hdb_txn_get(t, cat, key, klen, val, err);
    if (rc == HDB_OK && (val->len < 8 || hdb_get32(val->data) != KIND_TABLE)) {
        rc = hdb_err_set(err, HDB_CORRUPT, "catalog entry of table %s is malformed", name);
    }
    return rc;
}

static int create_table(struct hdb_conn *c, struct hdb_txn *t, struct hdb_table *cat,
                        const struct hdb_sql_stmt *st, const char *src, struct hdb_err *err)
{
    const char *name = st->u.create_table.name.ptr;
    if (strlen(name) > HDB_NAME_BYTES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "table name longer than %u bytes", HDB_NAME_BYTES_MAX);
    }
    int rc = reserved(name, err);
    struct hdb_buf val = {0};
    rc = rc == HDB_OK ? get_table(t, cat, name, &val, err) : rc;
    hdb_buf_free(&val);
    if (rc == HDB_OK) {
        return st->u.create_table.if_not_exists
                   ? HDB_OK
                   : hdb_err_set(err, HDB_EXISTS, "table %s already exists", name);
    }
    if (rc != HDB_NOTFOUND) {
        return rc;
    }
    struct hdb_table_def *def = NULL;
    rc = hdb_table_def_build(src + st->offset, st->len, &def, err);
    hdb_table_def_free(def);
    uint64_t id = 0;
    rc = rc == HDB_OK ? get_u64(t, cat, "n", &id, err) : rc;
    id = id == 0 ? 1 : id;
    rc = rc == HDB_OK ? put_u64(t, cat, "n", id + 1, err) : rc;
    rc = rc == HDB_OK ? put_table(t, cat, name, (uint32_t)id, src + st->offset, st->len, err) : rc;
    rc = rc == HDB_OK ? bump_version(t, cat, err) : rc;
    if (rc == HDB_OK) {
        /* The rows' key-value table exists from now on; if the transaction rolls back it stays
         * empty and unused (ids are not reused). */
        struct hdb_schema_table tmp = {.id = (uint32_t)id};
        rc = open_rows(c, &tmp, err);
    }
    return rc;
}

static int drop_table_indexes(struct hdb_txn *t, struct hdb_table *cat, const char *table,
                              struct hdb_err *err);

static int drop_table(struct hdb_txn *t, struct hdb_table *cat, const struct hdb_sql_stmt *st,
                      struct hdb_err *err)
{
    const char *name = st->u.drop.name.ptr;
    struct hdb_buf val = {0};
    int rc = get_table(t, cat, name, &val, err);
    hdb_buf_free(&val);
    if (rc == HDB_NOTFOUND) {
        return st->u.drop.if_exists ? HDB_OK
                                    : hdb_err_set(err, HDB_NOTFOUND, "no such table: %s", name);
    }
    char key[HDB_NAME_BYTES_MAX + 8];
    uint32_t klen;
    table_key(name, key, sizeof key, &klen);
    rc = rc == HDB_OK ? hdb_txn_delete(t, cat, key, klen, err) : rc;
    rc = rc == HDB_OK ? drop_table_indexes(t, cat, name, err) : rc;
    return rc == HDB_OK ? bump_version(t, cat, err) : rc;
}

/* The column definition's text in an ALTER TABLE statement: after ADD [COLUMN]. */
static int added_column_text(const char *src, const struct hdb_sql_stmt *st, size_t *off,
                             size_t *len, struct hdb_err *err)
{
    struct hdb_sql_lexer lx;
    int rc = hdb_sql_lexer_init(&lx, src + st->offset, st->len, err);
    struct hdb_sql_token tok;
    bool after_add = false;
    while (rc == HDB_OK) {
        rc = hdb_sql_lex(&lx, &tok, err);
        if (rc != HDB_OK || tok.kind == HDB_TK_EOF) {
            break;
        }
        if (after_add && !(tok.kind == HDB_TK_ID && tok.kw == HDB_KW_COLUMN)) {
            *off = st->offset + tok.offset;
            *len = st->len - tok.offset;
            return HDB_OK;
        }
        after_add = after_add || (tok.kind == HDB_TK_ID && tok.kw == HDB_KW_ADD);
    }
    return rc != HDB_OK ? rc : hdb_err_set(err, HDB_INVALID, "ALTER TABLE without ADD COLUMN");
}

/* SQLite's rules for a column added to existing rows. */
static int check_added_column(const struct hdb_table_def *def, const struct hdb_column *col,
                              struct hdb_err *err)
{
    if (col->primary_key) {
        return hdb_err_set(err, HDB_INVALID, "Cannot add a PRIMARY KEY column");
    }
    for (uint32_t i = 0; i < def->nuniques; i++) {
        const struct hdb_key_def *u = &def->uniques[i];
        if (u->ncols == 1 && u->cols[0] == def->ncols - 1) {
            return hdb_err_set(err, HDB_INVALID, "Cannot add a UNIQUE column");
        }
    }
    if (col->not_null && (col->default_expr == NULL || col->default_expr->kind == HDB_EXPR_NULL)) {
        return hdb_err_set(err, HDB_INVALID,
                           "Cannot add a NOT NULL column with default value NULL");
    }
    /* Existing rows read the default, so it must be a literal (as SQLite requires). */
    const struct hdb_sql_expr *e = col->default_expr;
    while (e != NULL && e->kind == HDB_EXPR_UNARY &&
           (e->u.unary.op == HDB_UNARY_NEG || e->u.unary.op == HDB_UNARY_PLUS)) {
        e = e->u.unary.operand;
    }
    if (e != NULL && e->kind != HDB_EXPR_INTEGER && e->kind != HDB_EXPR_REAL &&
        e->kind != HDB_EXPR_STRING && e->kind != HDB_EXPR_BLOB && e->kind != HDB_EXPR_NULL &&
        e->kind != HDB_EXPR_BOOL) {
        return hdb_err_set(err, HDB_INVALID, "Cannot add a column with non-constant default");
    }
    return HDB_OK;
}

static int alter_add_column(struct hdb_txn *t, struct hdb_table *cat, const struct hdb_sql_stmt *st,
                            const char *src, struct hdb_err *err)
{
    const char *name = st->u.alter.table.ptr;
    struct hdb_buf val = {0};
    int rc = get_table(t, cat, name, &val, err);
    if (rc == HDB_NOTFOUND) {
        hdb_buf_free(&val);
        return hdb_err_set(err, HDB_NOTFOUND, "no such table: %s", name);
    }
    size_t off = 0, clen = 0;
    rc = rc == HDB_OK ? added_column_text(src, st, &off, &clen, err) : rc;
    /* The stored text with the new column before its closing parenthesis. */
    const char *old = (const char *)val.data + 8;
    size_t olen = rc == HDB_OK ? val.len - 8 : 0;
    while (olen > 0 && (isspace((unsigned char)old[olen - 1]) || old[olen - 1] == ';')) {
        olen--;
    }
    if (rc == HDB_OK && (olen == 0 || old[olen - 1] != ')')) {
        rc = hdb_err_set(err, HDB_CORRUPT, "stored CREATE TABLE of %s does not end with ')'", name);
    }
    size_t nlen = olen - 1 + 2 + clen + 1;
    char *text = rc == HDB_OK ? malloc(nlen + 1) : NULL;
    if (rc == HDB_OK && text == NULL) {
        rc = hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    struct hdb_table_def *def = NULL;
    if (rc == HDB_OK) {
        snprintf(text, nlen + 1, "%.*s, %.*s)", (int)(olen - 1), old, (int)clen, src + off);
        rc = hdb_table_def_build(text, nlen, &def, err);
    }
    rc = rc == HDB_OK ? check_added_column(def, &def->cols[def->ncols - 1], err) : rc;
    rc = rc == HDB_OK ? put_table(t, cat, def->name, hdb_get32(val.data + 4), text, nlen, err) : rc;
    rc = rc == HDB_OK ? bump_version(t, cat, err) : rc;
    hdb_table_def_free(def);
    free(text);
    hdb_buf_free(&val);
    return rc;
}

static int next_id(struct hdb_txn *t, struct hdb_table *cat, uint64_t *id, struct hdb_err *err)
{
    int rc = get_u64(t, cat, "n", id, err);
    *id = *id == 0 ? 1 : *id;
    return rc == HDB_OK ? put_u64(t, cat, "n", *id + 1, err) : rc;
}

static int create_index(struct hdb_txn *t, struct hdb_table *cat, const struct hdb_sql_stmt *st,
                        const char *src, struct hdb_err *err)
{
    const char *name = st->u.create_index.name.ptr, *table = st->u.create_index.table.ptr;
    if (strlen(name) > HDB_NAME_BYTES_MAX || strlen(table) > HDB_NAME_BYTES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "a name longer than %u bytes", HDB_NAME_BYTES_MAX);
    }
    char key[HDB_NAME_BYTES_MAX + 8];
    uint32_t klen;
    object_key('i', name, key, sizeof key, &klen);
    struct hdb_buf val = {0};
    int rc = reserved(name, err);
    rc = rc == HDB_OK ? hdb_txn_get(t, cat, key, klen, &val, err) : rc;
    if (rc == HDB_OK) {
        hdb_buf_free(&val);
        return st->u.create_index.if_not_exists
                   ? HDB_OK
                   : hdb_err_set(err, HDB_EXISTS, "index %s already exists", name);
    }
    if (rc != HDB_NOTFOUND) {
        hdb_buf_free(&val);
        return rc;
    }
    rc = get_table(t, cat, table, &val, err);
    if (rc == HDB_NOTFOUND) {
        return hdb_err_set(err, HDB_NOTFOUND, "no such table: %s", table);
    }
    struct hdb_table_def *def = NULL;
    struct hdb_schema_index *ix = NULL;
    rc =
        rc == HDB_OK ? hdb_table_def_build((const char *)val.data + 8, val.len - 8, &def, err) : rc;
    rc = rc == HDB_OK ? index_build(def, src + st->offset, st->len, &ix, err) : rc;
    uint64_t id = 0;
    rc = rc == HDB_OK ? next_id(t, cat, &id, err) : rc;
    size_t tlen = def != NULL ? strlen(def->name) : 0;
    uint8_t *v = rc == HDB_OK ? malloc(10 + tlen + st->len) : NULL;
    if (rc == HDB_OK && v == NULL) {
        rc = hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    if (rc == HDB_OK) {
        hdb_put32(v, KIND_INDEX);
        hdb_put32(v + 4, (uint32_t)id);
        hdb_put16(v + 8, (uint16_t)tlen);
        memcpy(v + 10, def->name, tlen);
        memcpy(v + 10 + tlen, src + st->offset, st->len);
        rc = hdb_txn_put(t, cat, key, klen, v, (uint32_t)(10 + tlen + st->len), err);
    }
    rc = rc == HDB_OK ? bump_version(t, cat, err) : rc;
    free(v);
    index_free(ix);
    hdb_table_def_free(def);
    hdb_buf_free(&val);
    return rc;
}

static int drop_index(struct hdb_txn *t, struct hdb_table *cat, const struct hdb_sql_stmt *st,
                      struct hdb_err *err)
{
    const char *name = st->u.drop.name.ptr;
    char key[HDB_NAME_BYTES_MAX + 8];
    uint32_t klen;
    object_key('i', name, key, sizeof key, &klen);
    struct hdb_buf val = {0};
    int rc = hdb_txn_get(t, cat, key, klen, &val, err);
    hdb_buf_free(&val);
    if (rc == HDB_NOTFOUND) {
        return st->u.drop.if_exists ? HDB_OK
                                    : hdb_err_set(err, HDB_NOTFOUND, "no such index: %s", name);
    }
    rc = rc == HDB_OK ? hdb_txn_delete(t, cat, key, klen, err) : rc;
    return rc == HDB_OK ? bump_version(t, cat, err) : rc;
}

struct drop_ctx {
    const char *table;
    char keys[64][HDB_NAME_BYTES_MAX + 8];
    uint32_t lens[64], n;
    bool more;
};

static bool index_of_table(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                           uint32_t vlen)
{
    struct drop_ctx *d = ctx;
    uint32_t tlen = vlen >= 10 ? hdb_get16(val + 8) : 0;
    if (vlen >= 10 + (size_t)tlen && tlen == strlen(d->table) &&
        strncasecmp((const char *)val + 10, d->table, tlen) == 0 && klen < sizeof d->keys[0]) {
        if (d->n == 64) {
            d->more = true;
            return false;
        }
        memcpy(d->keys[d->n], key, klen);
        d->lens[d->n++] = klen;
    }
    return true;
}

/* A dropped table's indexes go with it. */
static int drop_table_indexes(struct hdb_txn *t, struct hdb_table *cat, const char *table,
                              struct hdb_err *err)
{
    for (;;) {
        struct drop_ctx *d = calloc(1, sizeof *d);
        if (d == NULL) {
            return hdb_err_set(err, HDB_NOMEM, "out of memory");
        }
        d->table = table;
        int rc = hdb_txn_scan(t, cat, "i:", 2, "i;", 2, 0, index_of_table, d, err);
        for (uint32_t i = 0; rc == HDB_OK && i < d->n; i++) {
            rc = hdb_txn_delete(t, cat, d->keys[i], d->lens[i], err);
        }
        bool more = d->more;
        free(d);
        if (rc != HDB_OK || !more) {
            return rc;
        }
    }
}

int hdb_schema_ddl(struct hdb_conn *c, struct hdb_txn *t, const struct hdb_sql_stmt *st,
                   const char *src, struct hdb_err *err)
{
    struct hdb_table *cat = NULL;
    int rc = catalog(c, &cat, err);
    if (rc != HDB_OK) {
        return rc;
    }
    switch (st->kind) {
    case HDB_STMT_CREATE_TABLE:
        return create_table(c, t, cat, st, src, err);
    case HDB_STMT_DROP_TABLE:
        return drop_table(t, cat, st, err);
    case HDB_STMT_ALTER_TABLE:
        if (st->u.alter.kind == HDB_ALTER_ADD_COLUMN) {
            return alter_add_column(t, cat, st, src, err);
        }
        return hdb_err_set(err, HDB_INVALID, "only ALTER TABLE ... ADD COLUMN is supported yet");
    case HDB_STMT_CREATE_INDEX:
        return create_index(t, cat, st, src, err);
    case HDB_STMT_DROP_INDEX:
        return drop_index(t, cat, st, err);
    default:
        return hdb_err_set(err, HDB_INVALID, "not a DDL statement");
    }
}
