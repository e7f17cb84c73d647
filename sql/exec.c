/*
 * exec.c — sessions, transactions and the statements that change data
 * (INSERT, UPDATE, DELETE), row storage, name resolution and the
 * evaluator's hook (aggregate results, subqueries). SELECT is in
 * exec_select.c; exec.h has the storage layout and the limits.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/bytes.h"
#include "core/log.h"
#include "sql/exec_int.h"
#include "sql/rowids.h"

#define STMT_RETRIES_MAX 100 /* autocommit statements retried on HDB_CONFLICT */
#define SCAN_PAGE_ROWS   4096u

struct hdb_sql_session {
    struct hdb_db *db;
    struct hdb_conn *conn;
    struct hdb_txn *txn;          /* explicit transaction, or NULL */
    bool txn_failed;              /* a statement failed inside it: only ROLLBACK is accepted */
    struct hdb_schema *schema;    /* read once per explicit transaction (its snapshot is fixed),
                                     again after DDL in it */
    bool txn_ddl;                 /* DDL ran in the explicit transaction: load its own schema */
    uint64_t txn_seq;             /* the DDL sequence at its BEGIN (rowids.h; odd: unknown) */
    uint64_t committed_seq;       /* the DDL sequence `committed` was loaded at (odd: unknown) */
    struct hdb_schema *committed; /* the last schema an autocommit statement loaded from committed
                                     data: used again while the catalog version is the same */
    uint64_t rng;
    uint32_t timeout_ms;
    size_t work_mem; /* bytes; 0: HDB_SQL_ARENA_BYTES_MAX only */
};

void hdb_sql_session_set_timeout(struct hdb_sql_session *s, uint32_t ms)
{
    s->timeout_ms = ms;
}

void hdb_sql_session_set_work_mem(struct hdb_sql_session *s, uint32_t mb)
{
    s->work_mem = (size_t)mb << 20;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int exec_tick(struct exec *x)
{
    if ((++x->ticks & 1023u) == 0) {
        hdb_db_yield(x->db); /* on a shard thread (a server's statement), its shards get a turn */
    }
    if (x->deadline_ns == 0 || (x->ticks & 255u) != 0 || mono_ns() < x->deadline_ns) {
        return HDB_OK;
    }
    return exec_fail(x, HDB_TIMEOUT, "the statement ran past statement_timeout_ms (%u ms)",
                     x->timeout_ms);
}

int exec_fail(struct exec *x, int code, const char *fmt, ...)
{
    if (x->arena->over_limit) { /* whatever the caller was doing, this is what went wrong */
        return hdb_err_set(x->err, HDB_TOOBIG,
                           "the statement needs more than work_mem_mb (%zu MiB) of memory for "
                           "its rows, sorts and hash tables",
                           x->arena->limit >> 20);
    }
    va_list ap;
    va_start(ap, fmt);
    char msg[HDB_ERR_MSG_BYTES_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hdb_err_set(x->err, code, "%s", msg);
}

int rows_push(struct exec *x, struct rows *r, const struct hdb_value *row)
{
    int trc = exec_tick(x);
    if (trc != HDB_OK) {
        return trc;
    }
    if (r->n == r->cap) {
        uint32_t cap = r->cap == 0 ? 16 : r->cap * 2;
        if (x->rows_held + cap - r->cap > HDB_EXEC_ROWS_MAX) {
            return exec_fail(x, HDB_TOOBIG, "a statement may hold at most %u rows in memory",
                             HDB_EXEC_ROWS_MAX);
        }
        int rc = HDB_OK;
        struct hdb_value *v =
            hdb_sql_arena_alloc(x->arena, (size_t)cap * (r->ncols + 1) * sizeof *v, &rc);
        if (v == NULL) {
            return exec_fail(x, rc, "out of memory holding rows");
        }
        if (r->n > 0) {
            memcpy(v, r->v, (size_t)r->n * r->ncols * sizeof *v);
        }
        x->rows_held += cap - r->cap;
        r->v = v;
        r->cap = cap;
    }
    if (r->ncols > 0) {
        memcpy(r->v + (size_t)r->n * r->ncols, row, r->ncols * sizeof *row);
    }
    r->n++;
    return HDB_OK;
}

int value_keep(struct exec *x, struct hdb_value *v)
{
    if ((v->type != HDB_V_TEXT && v->type != HDB_V_BLOB) || v->u.s.len == 0) {
        return HDB_OK;
    }
    int rc = HDB_OK;
    uint8_t *p = hdb_sql_arena_alloc(x->arena, (size_t)v->u.s.len + 1, &rc); /* NUL-terminated */
    if (p == NULL) {
        return exec_fail(x, rc, "out of memory");
    }
    memcpy(p, v->u.s.p, v->u.s.len);
    v->u.s.p = p;
    return HDB_OK;
}

/* --- row storage --- */

void rowid_key(int64_t rowid, uint8_t out[8])
{
    uint64_t u = (uint64_t)rowid ^ (1ull << 63);
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(u >> (56 - 8 * i));
    }
}

struct scan_ctx {
    struct exec *x;
    const struct hdb_table_def *def;
    struct rows *out, *keys;
    int rc;
};

int row_decode_push(struct exec *x, const struct hdb_table_def *def, const uint8_t *val,
                    uint32_t vlen, struct rows *out)
{
    struct hdb_value row[HDB_TABLE_COLUMNS_MAX];
    uint32_t n = 0, ncols = def->ncols;
    int rc = hdb_row_decode(val, vlen, row, HDB_TABLE_COLUMNS_MAX, &n, x->err);
    for (uint32_t i = n; rc == HDB_OK && i < ncols; i++) {
        /* A column added after the row was written: its DEFAULT (a literal, see ADD COLUMN). */
        const struct hdb_column *c = &def->cols[i];
        row[i] = (struct hdb_value){.type = HDB_V_NULL};
        if (c->default_expr != NULL) {
            char buf[32];
            rc = scope_eval(x, NULL, c->default_expr, &row[i]);
            hdb_value_apply(&row[i], c->affinity, buf);
            rc = rc == HDB_OK ? value_keep(x, &row[i]) : rc;
        }
    }
    for (uint32_t i = 0; rc == HDB_OK && i < ncols; i++) {
        rc = value_keep(x, &row[i]);
    }
    return rc == HDB_OK ? rows_push(x, out, row) : rc;
}

static bool scan_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                     uint32_t vlen)
{
    struct scan_ctx *s = ctx;
    struct exec *x = s->x;
    s->rc = row_decode_push(x, s->def, val, vlen, s->out);
    if (s->rc == HDB_OK && s->keys != NULL) {
        struct hdb_value k = {.type = HDB_V_BLOB, .u.s = {key, klen}};
        s->rc = value_keep(x, &k);
        s->rc = s->rc == HDB_OK ? rows_push(x, s->keys, &k) : s->rc;
    }
    return s->rc == HDB_OK;
}

int table_scan_all(struct exec *x, const struct hdb_schema_table *st, struct rows *out,
                   struct rows *keys)
{
    return table_scan_first(x, st, 0, out, keys);
}

int table_scan_first(struct exec *x, const struct hdb_schema_table *st, uint64_t max,
                     struct rows *out, struct rows *keys)
{
    return table_scan_range(x, st, NULL, 0, NULL, 0, max, out, keys);
}

/* Wraps a scan callback: keeps the last key (where the next page starts) and counts rows. */
struct paged {
    hdb_scan_row_fn row;
    void *ctx;
    struct hdb_buf last;
    uint32_t seen;
    uint64_t total;
    bool stopped, nomem;
};

static bool paged_row(void *p, const uint8_t *key, uint32_t klen, const uint8_t *val, uint32_t vlen)
{
    struct paged *pg = p;
    pg->seen++;
    pg->total++;
    if (hdb_buf_set(&pg->last, key, klen) != HDB_OK) {
        pg->nomem = true;
        return false;
    }
    pg->stopped = !pg->row(pg->ctx, key, klen, val, vlen);
    return !pg->stopped;
}

/*
 * A range bound longer than any stored key (keys are at most HDB_KEY_BYTES_MAX bytes) as the
 * bound of HDB_KEY_BYTES_MAX + 1 bytes that selects the same stored keys: its first
 * HDB_KEY_BYTES_MAX bytes P, then a 0 byte. For a key k that fits, k >= bound exactly when
 * k > P, and k < bound exactly when k <= P. Found by test_fuzz_sql: `WHERE b = '<10,000
 * bytes>'` on an indexed column built such a bound and overflowed the scan's key buffer.
 */
static uint32_t bound_clamp(const uint8_t *b, uint32_t len, uint8_t out[HDB_KEY_BYTES_MAX + 1])
{
    if (len <= HDB_KEY_BYTES_MAX) {
        memcpy(out, b, len);
        return len;
    }
    memcpy(out, b, HDB_KEY_BYTES_MAX);
    out[HDB_KEY_BYTES_MAX] = 0;
    return HDB_KEY_BYTES_MAX + 1;
}

int scan_paged(struct exec *x, struct hdb_table *tb, const uint8_t *lo, uint32_t lolen,
               const uint8_t *hi, uint32_t hilen, uint64_t max, hdb_scan_row_fn row, void *ctx)
{
    struct paged pg = {.row = row, .ctx = ctx};
    int rc = HDB_OK;
    uint8_t to[HDB_KEY_BYTES_MAX + 1];
    if (hi != NULL) {
        hilen = bound_clamp(hi, hilen, to);
        hi = to;
    }
    for (bool first = true; rc == HDB_OK; first = false) {
        uint8_t from[HDB_KEY_BYTES_MAX + 1];
        uint32_t from_len = 0;
        if (first && lo != NULL) {
            from_len = bound_clamp(lo, lolen, from);
        } else if (!first) { /* the smallest key after the last one */
            memcpy(from, pg.last.data, pg.last.len);
            from[pg.last.len] = 0;
            from_len = (uint32_t)pg.last.len + 1;
        }
        pg.seen = 0;
        uint32_t page = max != 0 && max - pg.total < SCAN_PAGE_ROWS ? (uint32_t)(max - pg.total)
                                                                    : SCAN_PAGE_ROWS;
        rc = hdb_txn_scan(x->t, tb, from, from_len, hi, hilen, page, paged_row, &pg, x->err);
        rc = rc == HDB_OK && pg.nomem ? exec_fail(x, HDB_NOMEM, "out of memory") : rc;
        if (pg.stopped || pg.seen < page || (max != 0 && pg.total >= max)) {
            break;
        }
    }
    free(pg.last.data);
    return rc;
}

int table_scan_range(struct exec *x, const struct hdb_schema_table *st, const uint8_t *lo,
                     uint32_t lolen, const uint8_t *hi, uint32_t hilen, uint64_t max,
                     struct rows *out, struct rows *keys)
{
    struct scan_ctx s = {.x = x, .def = st->def, .out = out, .keys = keys};
    out->ncols = st->def->ncols;
    if (keys != NULL) {
        keys->ncols = 1;
    }
    int rc = scan_paged(x, st->rows, lo, lolen, hi, hilen, max, scan_row, &s);
    return rc == HDB_OK ? s.rc : rc;
}

/* --- primary-key point reads --- */

/* Does the expression depend on no column at all (constants, parameters, functions of them)? */
bool column_free(const struct hdb_sql_expr *e)
{
    switch (e->kind) {
    case HDB_EXPR_INTEGER:
    case HDB_EXPR_REAL:
    case HDB_EXPR_STRING:
    case HDB_EXPR_BLOB:
    case HDB_EXPR_NULL:
    case HDB_EXPR_BOOL:
    case HDB_EXPR_PARAM:
        return true;
    case HDB_EXPR_UNARY:
        return column_free(e->u.unary.operand);
    case HDB_EXPR_BINARY:
        return column_free(e->u.binary.left) && column_free(e->u.binary.right);
    case HDB_EXPR_CAST:
        return column_free(e->u.cast.operand);
    default:
        return false;
    }
}

/* Collects `keycol = constant` conjuncts of WHERE (the tree height is bounded by the parser). */
void find_pins(const struct hdb_sql_expr *e, const struct hdb_table_def *d, const char *name,
               const struct hdb_key_def *pk, struct pk_pins *p)
{
    if (e == NULL || e->kind != HDB_EXPR_BINARY) {
        return;
    }
    if (e->u.binary.op == HDB_OP_AND) {
        find_pins(e->u.binary.left, d, name, pk, p);
        find_pins(e->u.binary.right, d, name, pk, p);
        return;
    }
    if (e->u.binary.op != HDB_OP_EQ) {
        return;
    }
    const struct hdb_sql_expr *col = e->u.binary.left, *val = e->u.binary.right;
    if (col->kind != HDB_EXPR_COLUMN) {
        col = e->u.binary.right;
        val = e->u.binary.left;
    }
    if (col->kind != HDB_EXPR_COLUMN || !column_free(val) ||
        (col->u.column.table.ptr != NULL && strcasecmp(col->u.column.table.ptr, name) != 0)) {
        return;
    }
    int32_t c = hdb_table_column(d, col->u.column.column.ptr);
    for (uint32_t i = 0; c >= 0 && i < pk->ncols; i++) {
        if (pk->cols[i] == (uint32_t)c) {
            p->value[i] = val;
        }
    }
}

/* A `keycol IN (v, ...)` conjunct of WHERE whose values depend on no column: its list. */
static const struct hdb_sql_expr *find_in_list(const struct hdb_sql_expr *e,
                                               const struct hdb_table_def *d, const char *name,
                                               uint32_t col)
{
    if (e == NULL) {
        return NULL;
    }
    if (e->kind == HDB_EXPR_BINARY && e->u.binary.op == HDB_OP_AND) {
        const struct hdb_sql_expr *l = find_in_list(e->u.binary.left, d, name, col);
        return l != NULL ? l : find_in_list(e->u.binary.right, d, name, col);
    }
    if (e->kind != HDB_EXPR_IN || e->u.in.negated || e->u.in.table.ptr != NULL ||
        (e->u.in.select == NULL && (e->u.in.list.n == 0 || e->u.in.list.n > HDB_SCAN_ROWS_MAX))) {
        return NULL;
    }
    const struct hdb_sql_expr *c = e->u.in.operand;
    if (c->kind != HDB_EXPR_COLUMN ||
        (c->u.column.table.ptr != NULL && strcasecmp(c->u.column.table.ptr, name) != 0) ||
        hdb_table_column(d, c->u.column.column.ptr) != (int32_t)col) {
        return NULL;
    }
    for (uint32_t i = 0; i < e->u.in.list.n; i++) {
        const struct hdb_sql_expr *v = e->u.in.list.items[i];
        if (!column_free(v) || v->kind == HDB_EXPR_CAST) {
            return NULL;
        }
    }
    return e;
}

static int cmp_key_values(const void *a, const void *b)
{
    const struct hdb_value *x = a, *y = b;
    uint32_t n = x->u.s.len < y->u.s.len ? x->u.s.len : y->u.s.len;
    int c = n > 0 ? memcmp(x->u.s.p, y->u.s.p, n) : 0;
    return c != 0 ? c : (x->u.s.len > y->u.s.len) - (x->u.s.len < y->u.s.len);
}

/* Adds the storage key of key value v (after the column's affinity) to `rks`, unless no stored
 * key can equal it. */
static int in_key_push(struct exec *x, const struct hdb_table_def *d, const struct hdb_key_def *pk,
                       struct hdb_value v, struct rows *rks, struct hdb_buf *key)
{
    char buf[32];
    hdb_value_apply(&v, d->cols[pk->cols[0]].affinity, buf);
    if (v.type == HDB_V_NULL || (d->rowid_col >= 0 && v.type != HDB_V_INT)) {
        return HDB_OK;
    }
    key->len = 0;
    int rc = HDB_OK;
    if (d->rowid_col >= 0) {
        uint8_t k[8];
        rowid_key(v.u.i, k);
        rc = hdb_buf_set(key, k, 8) == HDB_OK ? HDB_OK : exec_fail(x, HDB_NOMEM, "out of memory");
    } else {
        rc = hdb_key_append(key, &v, pk->desc[0], x->err);
    }
    struct hdb_value kv = {.type = HDB_V_BLOB, .u.s = {key->data, (uint32_t)key->len}};
    rc = rc == HDB_OK ? value_keep(x, &kv) : rc;
    return rc == HDB_OK ? rows_push(x, rks, &kv) : rc;
}

static int subquery_rows(struct exec *x, struct scope *sc, const struct hdb_sql_expr *e,
                         struct rows *r, bool *has_null, bool *kept);

#define IN_SUBQUERY_READS_MAX 1000u /* more keys than this: a scan instead of point reads */

/*
 * The values of `key IN (SELECT ...)` for point reads: the subquery runs now, with no outer
 * query in reach. Only one that reads no outer column gives them (then it is kept for the
 * statement, and WHERE uses it again on the rows read); one that names a column from outside
 * fails here with "no such column", which is forgotten: *ok is false and the query reads the
 * table as if there were no IN.
 */
static int in_subquery_values(struct exec *x, const struct hdb_sql_expr *in, struct rows *vals,
                              bool *ok)
{
    struct hdb_err saved = *x->err;
    bool has_null = false, kept = false;
    *ok = false;
    int rc = subquery_rows(x, NULL, in, vals, &has_null, &kept);
    if (rc == HDB_INVALID && !x->arena->over_limit) {
        *x->err = saved; /* it reads the outer query: planned as without it */
        return HDB_OK;
    }
    *ok = rc == HDB_OK && kept && vals->ncols == 1 && vals->n <= IN_SUBQUERY_READS_MAX;
    return rc;
}

/* The rows whose one-column key is in the list or the subquery's values: each distinct key read
 * once, all at once, in key order. */
static int in_list_read(struct exec *x, const struct hdb_schema_table *t,
                        const struct hdb_key_def *pk, const struct hdb_sql_expr *in,
                        struct rows *out, struct rows *keys, bool *done)
{
    const struct hdb_table_def *d = t->def;
    struct rows rks = {.ncols = 1}, vals = {0};
    struct hdb_buf key = {0};
    bool ok = true;
    int rc = in->u.in.select != NULL ? in_subquery_values(x, in, &vals, &ok) : HDB_OK;
    for (uint32_t i = 0; rc == HDB_OK && ok && i < in->u.in.list.n; i++) {
        struct hdb_value v;
        rc = scope_eval(x, NULL, in->u.in.list.items[i], &v);
        rc = rc == HDB_OK ? in_key_push(x, d, pk, v, &rks, &key) : rc;
    }
    for (uint32_t i = 0; rc == HDB_OK && ok && i < vals.n; i++) {
        rc = in_key_push(x, d, pk, vals.v[i], &rks, &key);
    }
    free(key.data);
    if (rc != HDB_OK || !ok) {
        return rc;
    }
    if (rks.n > 1) {
        qsort(rks.v, rks.n, sizeof *rks.v, cmp_key_values);
        uint32_t w = 1;
        for (uint32_t i = 1; i < rks.n; i++) {
            if (cmp_key_values(&rks.v[i], &rks.v[w - 1]) != 0) {
                rks.v[w++] = rks.v[i];
            }
        }
        rks.n = w;
    }
    uint32_t missing = 0;
    rc = table_get_rows(x, t, &rks, out, keys, &missing);
    *done = rc == HDB_OK;
    return rc;
}

int table_point_read(struct exec *x, const struct hdb_schema_table *t, const char *name,
                     const struct hdb_sql_expr *where, struct rows *out, struct rows *keys,
                     bool *done)
{
    const struct hdb_table_def *d = t->def;
    const struct hdb_key_def rowid_pk = {.ncols = 1, .cols = {(uint32_t)d->rowid_col}};
    const struct hdb_key_def *pk = d->rowid_col >= 0 ? &rowid_pk : &d->pk;
    struct pk_pins pins = {0};
    *done = false;
    if (pk->ncols == 0 || where == NULL) {
        return HDB_OK;
    }
    find_pins(where, d, name, pk, &pins);
    for (uint32_t i = 0; i < pk->ncols; i++) {
        if (pins.value[i] == NULL) {
            const struct hdb_sql_expr *in =
                pk->ncols == 1 ? find_in_list(where, d, name, pk->cols[0]) : NULL;
            return in != NULL ? in_list_read(x, t, pk, in, out, keys, done) : HDB_OK;
        }
    }
    struct hdb_buf key = {0};
    int rc = HDB_OK;
    bool none = false; /* a pinned value no stored key can equal */
    for (uint32_t i = 0; rc == HDB_OK && i < pk->ncols && !none; i++) {
        struct hdb_value v;
        char buf[32];
        rc = scope_eval(x, NULL, pins.value[i], &v);
        hdb_value_apply(&v, d->cols[pk->cols[i]].affinity, buf);
        none = v.type == HDB_V_NULL || (d->rowid_col >= 0 && v.type != HDB_V_INT);
        if (rc == HDB_OK && !none && d->rowid_col >= 0) {
            uint8_t k[8];
            rowid_key(v.u.i, k);
            rc = hdb_buf_set(&key, k, 8) == HDB_OK ? HDB_OK
                                                   : exec_fail(x, HDB_NOMEM, "out of memory");
        } else if (rc == HDB_OK && !none) {
            rc = hdb_key_append(&key, &v, pk->desc[i], x->err);
        }
    }
    out->ncols = d->ncols;
    if (keys != NULL) {
        keys->ncols = 1;
    }
    if (rc == HDB_OK && !none) {
        rc = table_get_row(x, t, key.data, (uint32_t)key.len, out, keys);
        rc = rc == HDB_NOTFOUND ? HDB_OK : rc;
    }
    free(key.data);
    *done = rc == HDB_OK;
    return rc;
}

int table_get_row(struct exec *x, const struct hdb_schema_table *t, const uint8_t *key,
                  uint32_t klen, struct rows *out, struct rows *keys)
{
    struct hdb_buf val = {0};
    out->ncols = t->def->ncols;
    if (keys != NULL) {
        keys->ncols = 1;
    }
    int rc = hdb_txn_get(x->t, t->rows, key, klen, &val, x->err);
    if (rc == HDB_OK) {
        struct scan_ctx sc = {.x = x, .def = t->def, .out = out, .keys = keys};
        scan_row(&sc, key, klen, val.data, (uint32_t)val.len);
        rc = sc.rc;
    }
    hdb_buf_free(&val);
    return rc;
}

int table_get_rows(struct exec *x, const struct hdb_schema_table *t, const struct rows *rks,
                   struct rows *out, struct rows *keys, uint32_t *missing)
{
    out->ncols = t->def->ncols;
    if (keys != NULL) {
        keys->ncols = 1;
    }
    *missing = 0;
    if (rks->n == 0) {
        return HDB_OK;
    }
    const uint8_t **kp = malloc(rks->n * sizeof *kp);
    uint32_t *kl = malloc(rks->n * sizeof *kl);
    struct hdb_buf *vals = calloc(rks->n, sizeof *vals);
    bool *found = calloc(rks->n, sizeof *found);
    int rc = kp != NULL && kl != NULL && vals != NULL && found != NULL
                 ? HDB_OK
                 : exec_fail(x, HDB_NOMEM, "out of memory");
    for (uint32_t i = 0; rc == HDB_OK && i < rks->n; i++) {
        kp[i] = rks->v[i].u.s.p;
        kl[i] = rks->v[i].u.s.len;
    }
    rc = rc == HDB_OK ? hdb_txn_get_many(x->t, t->rows, rks->n, kp, kl, vals, found, x->err) : rc;
    struct scan_ctx sc = {.x = x, .def = t->def, .out = out, .keys = keys};
    for (uint32_t i = 0; rc == HDB_OK && i < rks->n; i++) {
        if (!found[i]) {
            (*missing)++;
            continue;
        }
        scan_row(&sc, kp[i], kl[i], vals[i].data, (uint32_t)vals[i].len);
        rc = sc.rc;
    }
    for (uint32_t i = 0; vals != NULL && i < rks->n; i++) {
        hdb_buf_free(&vals[i]);
    }
    free(kp);
    free(kl);
    free(vals);
    free(found);
    return rc;
}

/* Would WHERE pin the whole primary key of the table (a point read)? */
static bool pins_key(const struct hdb_table_def *d, const char *name,
                     const struct hdb_sql_expr *where)
{
    const struct hdb_key_def rowid_pk = {.ncols = 1, .cols = {(uint32_t)d->rowid_col}};
    const struct hdb_key_def *pk = d->rowid_col >= 0 ? &rowid_pk : &d->pk;
    struct pk_pins pins = {0};
    if (pk->ncols == 0 || where == NULL) {
        return false;
    }
    find_pins(where, d, name, pk, &pins);
    for (uint32_t i = 0; i < pk->ncols; i++) {
        if (pins.value[i] == NULL) {
            return false;
        }
    }
    return true;
}

/* --- EXPLAIN --- */

static bool is_ddl(enum hdb_sql_stmt_kind k);

static int explain_line(struct exec *x, struct rows *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int explain_line(struct exec *x, struct rows *out, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    n = n < 0 ? 0 : n >= (int)sizeof buf ? (int)sizeof buf - 1 : n;
    struct hdb_value v = {.type = HDB_V_TEXT, .u.s = {(const uint8_t *)buf, (uint32_t)n}};
    int rc = value_keep(x, &v);
    return rc == HDB_OK ? rows_push(x, out, &v) : rc;
}

/* The access path of one table: a point read on one shard, or a scan of every shard. */
static int explain_table(struct exec *x, struct rows *out, const char *verb, const char *table,
                         const char *alias, const struct hdb_sql_expr *where, bool single,
                         bool *full_scan)
{
    *full_scan = false;
    const struct hdb_schema_table *t = hdb_schema_table(x->schema, table);
    if (t == NULL) {
        return exec_fail(x, HDB_INVALID, "no such table: %s", table);
    }
    const struct hdb_table_def *d = t->def;
    uint32_t shards = x->nshards;
    if (single && pins_key(d, alias != NULL ? alias : d->name, where)) {
        return explain_line(x, out, "%s %s USING PRIMARY KEY (point read on 1 of %u shards)",
                            strcmp(verb, "SCAN") == 0 ? "SEARCH" : verb, d->name, shards);
    }
    int32_t key_col = d->rowid_col >= 0  ? d->rowid_col
                      : d->pk.ncols == 1 ? (int32_t)d->pk.cols[0]
                                         : -1;
    const struct hdb_sql_expr *in =
        single && key_col >= 0 && where != NULL
            ? find_in_list(where, d, alias != NULL ? alias : d->name, (uint32_t)key_col)
            : NULL;
    if (in != NULL && in->u.in.select != NULL) {
        return explain_line(x, out,
                            "%s %s USING PRIMARY KEY (%s IN a subquery) (point reads, sent to "
                            "their shards at once, when the subquery reads no outer column and "
                            "gives at most %u values; else a full scan of all %u shards)",
                            strcmp(verb, "SCAN") == 0 ? "SEARCH" : verb, d->name,
                            d->cols[key_col].name, IN_SUBQUERY_READS_MAX, shards);
    }
    if (in != NULL) {
        return explain_line(x, out,
                            "%s %s USING PRIMARY KEY (%s IN a list of %u) (point reads, sent to "
                            "their shards at once)",
                            strcmp(verb, "SCAN") == 0 ? "SEARCH" : verb, d->name,
                            d->cols[key_col].name, in->u.in.list.n);
    }
    uint32_t n = 0;
    const char *name = alias != NULL ? alias : d->name,
               *how = strcmp(verb, "SCAN") == 0 ? "SEARCH" : verb;
    struct col_range r = {0}, kr = {0};
    const struct hdb_schema_ix *ix = single ? index_choose(t, name, where, &n, &r) : NULL;
    if (single && (ix == NULL || n == 0) && key_range_of(t, name, where, &kr)) {
        int32_t col = d->rowid_col >= 0 ? d->rowid_col : (int32_t)d->pk.cols[0];
        return explain_line(x, out,
                            "%s %s USING PRIMARY KEY (%s%s%s%s%s) (a range of the key on every "
                            "shard, merged in key order)",
                            how, d->name, kr.lo != NULL ? d->cols[col].name : "",
                            kr.lo != NULL ? ">?" : "",
                            kr.lo != NULL && kr.hi != NULL ? " AND " : "",
                            kr.hi != NULL ? d->cols[col].name : "", kr.hi != NULL ? "<?" : "");
    }
    if (ix != NULL) {
        char cols[256];
        size_t at = 0;
        for (uint32_t i = 0; i < n && at < sizeof cols; i++) {
            at += (size_t)snprintf(cols + at, sizeof cols - at, "%s%s=?", i > 0 ? " AND " : "",
                                   d->cols[ix->key->cols[i]].name);
        }
        if ((r.lo != NULL || r.hi != NULL) && at < sizeof cols) {
            const char *c = d->cols[ix->key->cols[n]].name;
            snprintf(cols + at, sizeof cols - at, "%s%s%s%s%s%s", n > 0 ? " AND " : "",
                     r.lo != NULL ? c : "", r.lo != NULL ? ">?" : "",
                     r.lo != NULL && r.hi != NULL ? " AND " : "", r.hi != NULL ? c : "",
                     r.hi != NULL ? "<?" : "");
        }
        bool point = ix->unique && n == ix->key->ncols;
        return explain_line(
            x, out, "%s %s USING %s%s (%s) (%s, then each row from its shard)", how, d->name,
            ix->name == NULL ? "UNIQUE CONSTRAINT"
            : ix->unique     ? "UNIQUE INDEX "
                             : "INDEX ",
            ix->name != NULL ? ix->name : "", cols,
            point ? "one index entry from 1 shard" : "a range of index entries from every shard");
    }
    *full_scan = true;
    return explain_line(x, out, "%s %s (full scan of all %u shards)", verb, d->name, shards);
}

/* Would a one-table SELECT get its rows in ORDER BY order from its access path (as
 * table_point_read and table_index_read decide)? */
static bool access_orders(struct exec *x, const struct hdb_sql_select *sel)
{
    const struct hdb_sql_select_core *core = sel->cores.items[0];
    const struct hdb_sql_source *fs = core->from.n == 1 ? core->from.items[0] : NULL;
    const struct hdb_schema_table *t = fs != NULL && fs->select == NULL && fs->table.ptr != NULL
                                           ? hdb_schema_table(x->schema, fs->table.ptr)
                                           : NULL;
    if (sel->cores.n != 1 || t == NULL || core->group_by.n > 0 || core->distinct) {
        return false;
    }
    const char *name = fs->alias.ptr != NULL ? fs->alias.ptr : t->def->name;
    const struct hdb_sql_expr *where = core->where;
    if (pins_key(t->def, name, where)) {
        return true; /* one row at most */
    }
    uint32_t n = 0;
    struct col_range r = {0}, kr = {0};
    const struct hdb_schema_ix *ix = index_choose(t, name, where, &n, &r);
    if ((ix == NULL || n == 0) && key_range_of(t, name, where, &kr)) {
        return scan_orders(t, name, &sel->order_by);
    }
    return ix != NULL ? index_orders(t, name, ix, n, &sel->order_by)
                      : scan_orders(t, name, &sel->order_by);
}

static int explain_select(struct exec *x, const struct hdb_sql_select *sel, struct rows *out,
                          int depth)
{
    int rc = HDB_OK;
    if (depth > 16) {
        return explain_line(x, out, "...");
    }
    for (uint32_t c = 0; rc == HDB_OK && c < sel->cores.n; c++) {
        const struct hdb_sql_select_core *core = sel->cores.items[c];
        if (c > 0) {
            rc = explain_line(x, out, "COMPOUND %s",
                              core->op == HDB_COMPOUND_UNION_ALL ? "UNION ALL"
                              : core->op == HDB_COMPOUND_UNION   ? "UNION"
                              : core->op == HDB_COMPOUND_EXCEPT  ? "EXCEPT"
                                                                 : "INTERSECT");
        }
        bool full_scan = false; /* of the one table of this core */
        for (uint32_t i = 0; rc == HDB_OK && i < core->from.n; i++) {
            const struct hdb_sql_source *fs = core->from.items[i];
            if (fs->select != NULL) {
                rc =
                    explain_line(x, out, "SUBQUERY %s", fs->alias.ptr != NULL ? fs->alias.ptr : "");
                rc = rc == HDB_OK ? explain_select(x, fs->select, out, depth + 1) : rc;
            } else if (fs->table.ptr != NULL) {
                rc = explain_table(x, out, i == 0 ? "SCAN" : "JOIN", fs->table.ptr, fs->alias.ptr,
                                   core->where, core->from.n == 1, &full_scan);
            } else {
                rc = explain_line(x, out, "JOIN (parenthesized list)");
            }
        }
        if (rc == HDB_OK && core->from.n == 1 && full_scan && core_folds(sel, core)) {
            rc = explain_line(x, out,
                              "AGGREGATE (partial on each shard's thread over its rows, merged at "
                              "the coordinator%s)",
                              core->group_by.n > 0 ? ": GROUP BY by hash" : "");
        } else if (rc == HDB_OK && (core->group_by.n > 0)) {
            rc = explain_line(x, out, "GROUP BY (hash, at the coordinator)");
        }
    }
    if (rc == HDB_OK && sel->order_by.n > 0) {
        rc = explain_line(x, out,
                          access_orders(x, sel)
                              ? "ORDER BY (rows come in order from the index or the key: "
                                "no sort)"
                              : "ORDER BY (sort in memory, at the coordinator)");
    }
    return rc;
}

static int explain_stmt(struct exec *x, const struct hdb_sql_stmt *st, struct rows *out,
                        const char ***names)
{
    out->ncols = 1;
    static const char *detail[] = {"detail"};
    *names = detail;
    bool full_scan = false;
    switch (st->kind) {
    case HDB_STMT_SELECT:
        return explain_select(x, st->u.select, out, 0);
    case HDB_STMT_INSERT: {
        uint32_t shards = x->nshards;
        int rc =
            explain_line(x, out, "INSERT INTO %s (each row on the shard its key hashes to, of %u)",
                         st->u.insert.table.ptr, shards);
        return rc == HDB_OK && st->u.insert.select != NULL
                   ? explain_select(x, st->u.insert.select, out, 1)
                   : rc;
    }
    case HDB_STMT_UPDATE:
        return explain_table(x, out, "UPDATE", st->u.update.table.ptr, st->u.update.alias.ptr,
                             st->u.update.where, true, &full_scan);
    case HDB_STMT_DELETE:
        return explain_table(x, out, "DELETE FROM", st->u.delete_.table.ptr,
                             st->u.delete_.alias.ptr, st->u.delete_.where, true, &full_scan);
    default:
        return explain_line(
            x, out, "%s", is_ddl(st->kind) ? "DDL: the catalog on every shard" : "no access path");
    }
}

/* --- name resolution and the evaluator's hook --- */

struct eval_env {
    struct exec *x;
    struct scope *sc;
};

static int resolve_column(void *ctx, const struct hdb_sql_expr *col, struct hdb_value *out,
                          enum hdb_affinity *aff, struct hdb_err *err)
{
    struct eval_env *env = ctx;
    const char *table = col->u.column.table.ptr, *name = col->u.column.column.ptr;
    for (struct scope *sc = env->sc; sc != NULL; sc = sc->outer) {
        int found = 0;
        for (uint32_t s = 0; s < sc->nsrc; s++) {
            const struct source *src = &sc->src[s];
            if ((table != NULL && (src->name == NULL || strcasecmp(src->name, table) != 0)) ||
                (table == NULL && src->qualified_only)) {
                continue;
            }
            for (uint32_t c = 0; c < src->ncols; c++) {
                if (strcasecmp(src->colnames[c], name) == 0) {
                    env->x->outer_reads += sc->watched > 0;
                    if (found++ == 0) {
                        *out =
                            src->cur != NULL ? src->cur[c] : (struct hdb_value){.type = HDB_V_NULL};
                        *aff = src->affs[c];
                    }
                }
            }
        }
        if (found > 1) {
            return hdb_err_set(err, HDB_INVALID, "ambiguous column name: %s%s%s",
                               table != NULL ? table : "", table != NULL ? "." : "", name);
        }
        if (found == 1) {
            return HDB_OK;
        }
    }
    return hdb_err_set(err, HDB_INVALID, "no such column: %s%s%s", table != NULL ? table : "",
                       table != NULL ? "." : "", name);
}

static int eval_hook(void *ctx, const struct hdb_sql_expr *e, struct hdb_value *out, bool *handled,
                     struct hdb_err *err);

int scope_eval(struct exec *x, struct scope *sc, const struct hdb_sql_expr *e,
               struct hdb_value *out)
{
    struct eval_env env = {.x = x, .sc = sc};
    struct hdb_eval_ctx c = {.arena = x->arena,
                             .column = resolve_column,
                             .column_ctx = &env,
                             .params = x->params,
                             .nparams = x->nparams,
                             .rng = x->rng,
                             .now_ms = x->now_ms,
                             .hook = eval_hook,
                             .hook_ctx = &env};
    int rc = hdb_eval(&c, e, out, x->err);
    x->rng = c.rng;
    if (rc != HDB_OK && x->arena->over_limit) {
        rc = exec_fail(x, HDB_TOOBIG, "work_mem_mb"); /* exec_fail names the limit */
    }
    if (rc != HDB_OK) {
        /* A failed evaluation leaves NULL, never an unset value: table_point_read and
         * bound_value convert the value before they look at the status. Found by
         * test_fuzz_sql: a point read pinned to a failing expression read freed text. */
        *out = (struct hdb_value){.type = HDB_V_NULL};
    }
    return rc;
}

static int cmp_values(const void *a, const void *b)
{
    return hdb_value_cmp(a, b);
}

/* Marks the scopes a subquery may reach from inside (watched > 0 counts reads of them). */
static void watch_scopes(struct scope *sc, int by)
{
    for (; sc != NULL; sc = sc->outer) {
        sc->watched = (uint32_t)((int)sc->watched + by);
    }
}

/* Keeps a subquery's rows for the rest of the statement (copied into its arena: they outlive any
 * streamed page), for IN sorted without NULLs, for a value or EXISTS just the first. */
static int subquery_keep(struct exec *x, const struct hdb_sql_expr *e, const struct rows *r)
{
    struct sub_result *k = &x->subs[x->nsubs];
    struct hdb_sql_arena *page = x->arena;
    x->arena = x->stmt_arena;
    *k = (struct sub_result){.e = e, .rows = {.ncols = r->ncols}};
    int rc = HDB_OK;
    uint32_t n = e->kind == HDB_EXPR_IN ? r->n : r->n > 0; /* a value, EXISTS: the first row */
    for (uint32_t i = 0; i < n && rc == HDB_OK; i++) {
        const struct hdb_value *row = r->v + (size_t)i * r->ncols;
        if (e->kind == HDB_EXPR_IN && r->ncols == 1 && row->type == HDB_V_NULL) {
            k->has_null = true;
            continue;
        }
        rc = rows_push(x, &k->rows, row);
        struct hdb_value *kept = k->rows.v + (size_t)(k->rows.n - 1) * r->ncols;
        for (uint32_t c = 0; rc == HDB_OK && c < r->ncols; c++) {
            rc = value_keep(x, &kept[c]);
        }
    }
    x->arena = page;
    if (rc == HDB_OK && e->kind == HDB_EXPR_IN && r->ncols == 1 && k->rows.n > 1) {
        qsort(k->rows.v, k->rows.n, sizeof *k->rows.v, cmp_values);
    }
    x->nsubs += rc == HDB_OK;
    return rc;
}

/*
 * The rows of a subquery, EXISTS or IN (SELECT ...) for the current outer row. One that reads no
 * column of an outer query is run once per statement and kept (*kept: IN's rows sorted, NULLs
 * only in *has_null), so `id IN (SELECT ...)` costs one run, not one per row, and UPDATE or
 * DELETE see it as it was before they wrote (as SQLite does). Not inside a recursive CTE's step,
 * whose table changes from step to step.
 */
static int subquery_rows(struct exec *x, struct scope *sc, const struct hdb_sql_expr *e,
                         struct rows *r, bool *has_null, bool *kept)
{
    for (uint32_t i = 0; i < x->nsubs; i++) {
        if (x->subs[i].e == e) {
            *r = x->subs[i].rows;
            *has_null = x->subs[i].has_null;
            *kept = e->kind == HDB_EXPR_IN;
            return HDB_OK;
        }
    }
    const struct hdb_sql_select *sub = e->kind == HDB_EXPR_SUBQUERY ? e->u.subquery
                                       : e->kind == HDB_EXPR_EXISTS ? e->u.exists.select
                                                                    : e->u.in.select;
    uint64_t reads = x->outer_reads;
    watch_scopes(sc, 1);
    int rc = select_run(x, sub, sc, r, NULL);
    watch_scopes(sc, -1);
    if (rc != HDB_OK || x->outer_reads != reads || x->work != NULL || x->stmt_arena == NULL ||
        x->nsubs == SUBQUERY_CACHE_MAX) {
        return rc;
    }
    rc = subquery_keep(x, e, r);
    if (rc == HDB_OK && e->kind == HDB_EXPR_IN) {
        *r = x->subs[x->nsubs - 1].rows;
        *has_null = x->subs[x->nsubs - 1].has_null;
        *kept = true;
    }
    return rc;
}

/* The value of a subquery, EXISTS or IN (SELECT ...) for the rows `sc` points at. */
static int subquery_value(struct exec *x, struct scope *sc, const struct hdb_sql_expr *e,
                          struct hdb_value *out)
{
    struct eval_env envv = {.x = x, .sc = sc}, *env = &envv;
    struct rows r = {0};
    bool has_null = false, sorted = false;
    int rc = subquery_rows(x, env->sc, e, &r, &has_null, &sorted);
    if (rc != HDB_OK) {
        return rc;
    }
    if (e->kind == HDB_EXPR_EXISTS) {
        *out = (struct hdb_value){.type = HDB_V_INT, .u.i = r.n > 0};
        return HDB_OK;
    }
    if (e->kind == HDB_EXPR_SUBQUERY) {
        *out = r.n > 0 ? r.v[0] : (struct hdb_value){.type = HDB_V_NULL};
        return HDB_OK;
    }
    if (r.ncols != 1) {
        return exec_fail(x, HDB_INVALID, "sub-select returns %u columns - expected 1", r.ncols);
    }
    struct hdb_value v;
    rc = scope_eval(x, env->sc, e->u.in.operand, &v);
    if (rc != HDB_OK) {
        return rc;
    }
    bool hit = false, saw_null = v.type == HDB_V_NULL && (r.n > 0 || has_null);
    if (sorted && r.n > 0 && v.type != HDB_V_NULL) { /* a kept result: binary search */
        hit = bsearch(&v, r.v, r.n, sizeof *r.v, cmp_values) != NULL;
        saw_null = saw_null || has_null;
    }
    for (uint32_t i = 0; !sorted && i < r.n && !hit && v.type != HDB_V_NULL; i++) {
        saw_null = saw_null || r.v[i].type == HDB_V_NULL;
        hit = r.v[i].type != HDB_V_NULL && hdb_value_cmp(&v, &r.v[i]) == 0;
    }
    if (hit) {
        *out = (struct hdb_value){.type = HDB_V_INT, .u.i = !e->u.in.negated};
    } else if (saw_null) {
        *out = (struct hdb_value){.type = HDB_V_NULL};
    } else {
        *out = (struct hdb_value){.type = HDB_V_INT, .u.i = e->u.in.negated};
    }
    return HDB_OK;
}

/* Subqueries run in memory of their own, freed once their value is copied out: a correlated one
 * run per row of a big table needs one run's memory, not all of them. */
static int eval_hook(void *ctx, const struct hdb_sql_expr *e, struct hdb_value *out, bool *handled,
                     struct hdb_err *err)
{
    struct eval_env *env = ctx;
    struct exec *x = env->x;
    (void)err;
    if (e->kind == HDB_EXPR_FUNCTION) {
        return group_value(x, env->sc, e, out, handled);
    }
    *handled = true;
    struct hdb_sql_arena mem = {.limit = x->arena->limit}, *outer = x->arena, *keep = x->keep;
    uint64_t held = x->rows_held;
    x->arena = &mem;
    x->keep = NULL;
    int rc = subquery_value(x, env->sc, e, out);
    x->arena = outer;
    x->keep = keep;
    x->rows_held = held;
    rc = rc == HDB_OK ? value_keep(x, out) : rc;
    if (rc != HDB_OK && mem.over_limit) {
        outer->over_limit = true;
    }
    hdb_sql_arena_free(&mem);
    return rc;
}

/* --- writing rows --- */

/* The storage key of a row: its rowid or its primary key's encoding. */
static int row_store_key(struct exec *x, const struct hdb_table_def *d, const struct hdb_value *row,
                         int64_t rowid, struct hdb_buf *key)
{
    key->len = 0;
    if (d->pk.ncols == 0 || d->rowid_col >= 0) {
        uint8_t k[8];
        rowid_key(rowid, k);
        return hdb_buf_set(key, k, 8) == HDB_OK ? HDB_OK : exec_fail(x, HDB_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < d->pk.ncols; i++) {
        int rc = hdb_key_append(key, &row[d->pk.cols[i]], d->pk.desc[i], x->err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    if (key->len > HDB_KEY_BYTES_MAX) {
        return exec_fail(x, HDB_TOOBIG, "primary key of %zu bytes (at most %u)", key->len,
                         HDB_KEY_BYTES_MAX);
    }
    return HDB_OK;
}

const char *constraint_cols(struct exec *x, const struct hdb_table_def *d,
                            const struct hdb_key_def *k)
{
    char buf[512];
    size_t at = 0;
    for (uint32_t i = 0; i < k->ncols && at < sizeof buf - 1; i++) {
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s.%s", i > 0 ? ", " : "", d->name,
                               d->cols[k->cols[i]].name);
    }
    int rc = HDB_OK;
    char *p = hdb_sql_arena_alloc(x->arena, at + 1, &rc);
    if (p != NULL) {
        memcpy(p, buf, at + 1 < sizeof buf ? at + 1 : sizeof buf);
        p[at < sizeof buf ? at : sizeof buf - 1] = '\0';
    }
    return p != NULL ? p : "";
}

/* Converts each value as its column stores it, and checks NOT NULL and CHECK. */
static int prepare_row(struct exec *x, const struct hdb_table_def *d, struct hdb_value *row)
{
    for (uint32_t i = 0; i < d->ncols; i++) {
        const struct hdb_column *c = &d->cols[i];
        struct hdb_value *v = &row[i];
        if (v->type == HDB_V_NULL) {
            if (c->not_null && !((int32_t)i == d->rowid_col)) {
                return exec_fail(x, HDB_CONSTRAINT, "NOT NULL constraint failed: %s.%s", d->name,
                                 c->name);
            }
            continue;
        }
        if (c->decimal) {
            struct hdb_value n;
            hdb_value_numeric(v, &n);
            struct hdb_dec dec = n.u.d;
            int rc = HDB_OK;
            if (n.type == HDB_V_INT) {
                hdb_dec_from_i64(n.u.i, &dec);
            } else if (n.type == HDB_V_REAL) {
                rc = hdb_dec_from_double(n.u.r, &dec, x->err);
            }
            struct hdb_dec fitted;
            rc = rc == HDB_OK ? hdb_dec_fit(&dec, c->precision, c->scale, &fitted, x->err) : rc;
            if (rc != HDB_OK) {
                return hdb_err_prefix(x->err, "%s.%s", d->name, c->name);
            }
            *v = (struct hdb_value){.type = HDB_V_DEC, .u.d = fitted};
            continue;
        }
        char buf[32];
        hdb_value_apply(v, c->affinity, buf);
        int rc = value_keep(x, v);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

/* CHECK constraints against a prepared row (NULL passes, as in SQLite). */
static int check_row(struct exec *x, const struct hdb_table_def *d, struct hdb_value *row)
{
    if (d->nchecks == 0) {
        return HDB_OK;
    }
    struct source s = {.name = d->name, .ncols = d->ncols, .cur = row};
    const char *names[HDB_TABLE_COLUMNS_MAX];
    enum hdb_affinity affs[HDB_TABLE_COLUMNS_MAX];
    for (uint32_t i = 0; i < d->ncols; i++) {
        names[i] = d->cols[i].name;
        affs[i] = d->cols[i].affinity;
    }
    s.colnames = names;
    s.affs = affs;
    struct scope sc = {.src = &s, .nsrc = 1};
    for (uint32_t i = 0; i < d->nchecks; i++) {
        struct hdb_value v;
        int rc = scope_eval(x, &sc, d->checks[i].expr, &v);
        if (rc != HDB_OK) {
            return rc;
        }
        if (hdb_value_truth(&v) == 0) {
            const struct hdb_sql_expr *e = d->checks[i].expr;
            return d->checks[i].name != NULL
                       ? exec_fail(x, HDB_CONSTRAINT, "CHECK constraint failed: %s",
                                   d->checks[i].name)
                       : exec_fail(x, HDB_CONSTRAINT, "CHECK constraint failed: %.*s", (int)e->len,
                                   d->sql + e->offset);
        }
    }
    return HDB_OK;
}

/* Does the row satisfy a partial index's WHERE (true when there is none)? */
int in_partial(struct exec *x, const struct hdb_table_def *d, const struct hdb_sql_expr *where,
               const struct hdb_value *row, bool *in)
{
    *in = true;
    if (where == NULL) {
        return HDB_OK;
    }
    const char *names[HDB_TABLE_COLUMNS_MAX];
    enum hdb_affinity affs[HDB_TABLE_COLUMNS_MAX];
    for (uint32_t i = 0; i < d->ncols; i++) {
        names[i] = d->cols[i].name;
        affs[i] = d->cols[i].affinity;
    }
    struct source s = {
        .name = d->name, .ncols = d->ncols, .colnames = names, .affs = affs, .cur = row};
    struct scope sc = {.src = &s, .nsrc = 1};
    struct hdb_value v;
    int rc = scope_eval(x, &sc, where, &v);
    *in = rc == HDB_OK && hdb_value_truth(&v) == 1;
    return rc;
}

/* A new index: its entries from the rows already stored (a UNIQUE one checks them). */
static int fill_new_index(struct exec *x, const struct hdb_sql_stmt *st)
{
    struct hdb_schema *s = NULL;
    int rc = hdb_schema_load(x->conn, x->t, &s, x->err);
    const struct hdb_schema_index *ix =
        rc == HDB_OK ? hdb_schema_index(s, st->u.create_index.name.ptr) : NULL;
    const struct hdb_schema_table *t = ix != NULL ? hdb_schema_table(s, ix->table) : NULL;
    rc = rc == HDB_OK && t != NULL ? index_populate(x, t, ix->name) : rc;
    hdb_schema_free(s);
    return rc;
}

static int put_row(struct exec *x, const struct hdb_schema_table *st, const struct hdb_buf *key,
                   const struct hdb_value *row)
{
    struct hdb_buf rec = {0};
    int rc = hdb_row_encode(&rec, row, st->def->ncols, x->err);
    if (rc == HDB_OK && rec.len > HDB_VALUE_BYTES_MAX) {
        rc = exec_fail(x, HDB_TOOBIG, "a row of %zu bytes (at most %u)", rec.len,
                       HDB_VALUE_BYTES_MAX);
    }
    rc = rc == HDB_OK ? hdb_txn_put(x->t, st->rows, key->data, (uint32_t)key->len, rec.data,
                                    (uint32_t)rec.len, x->err)
                      : rc;
    free(rec.data);
    return rc;
}

/* --- INSERT --- */

/* The rowid of a new row: `given` (INT64_MIN: none) or the next one leased (rowids.c). */
static int next_rowid(struct exec *x, const struct hdb_schema_table *st, int64_t given,
                      int64_t *out)
{
    if (given == INT64_MIN) {
        return hdb_sql_rowid_next(x->db, st->id, st->def->name, out, x->err);
    }
    *out = given;
    /* The counter moves past an explicit rowid in this transaction, so later leases (here or
     * after a restart) start above it; below the counter nothing is written. */
    struct hdb_table *cat = NULL;
    int rc = hdb_kv_table(x->conn, HDB_CATALOG_TABLE, true, &cat, x->err);
    char key[32];
    int n = snprintf(key, sizeof key, "r:%u", st->id);
    struct hdb_buf val = {0};
    int64_t next = 1;
    rc = rc == HDB_OK ? hdb_txn_get(x->t, cat, key, (uint32_t)n, &val, x->err) : rc;
    if (rc == HDB_OK && val.len == 8) {
        next = (int64_t)hdb_get64(val.data);
    }
    hdb_buf_free(&val);
    if (rc != HDB_OK && rc != HDB_NOTFOUND) {
        return rc;
    }
    hdb_sql_rowid_seen(x->db, st->id, given);
    if (given < next) {
        return HDB_OK;
    }
    uint8_t b[8];
    hdb_put64(b, (uint64_t)(given == INT64_MAX ? given : given + 1));
    return hdb_txn_put(x->t, cat, key, (uint32_t)n, b, 8, x->err);
}

/* Evaluates DEFAULT expressions and places the given values into a full row. */
static int build_row(struct exec *x, const struct hdb_table_def *d, const int32_t *map,
                     const struct hdb_value *given, uint32_t ngiven, struct hdb_value *row)
{
    for (uint32_t i = 0; i < d->ncols; i++) {
        row[i] = (struct hdb_value){.type = HDB_V_NULL};
        if (d->cols[i].default_expr != NULL) {
            int rc = scope_eval(x, NULL, d->cols[i].default_expr, &row[i]);
            if (rc != HDB_OK) {
                return rc;
            }
        }
    }
    for (uint32_t i = 0; i < ngiven; i++) {
        row[map[i]] = given[i];
    }
    return HDB_OK;
}

static void table_source(const struct hdb_schema_table *t, const char *alias, const char **names,
                         enum hdb_affinity *affs, struct source *s);
static int update_one(struct exec *x, const struct hdb_sql_list *sets, const char *alias,
                      const struct hdb_schema_table *t, const struct hdb_value *old,
                      const struct hdb_value *old_key, const struct hdb_value *excluded,
                      struct hdb_value *row);
static int update_store(struct exec *x, const struct hdb_schema_table *t,
                        const struct hdb_value *old, const struct hdb_value *old_key,
                        struct hdb_value *row);

/* ON CONFLICT ... DO UPDATE: the first upsert clause that has one. */
static const struct hdb_sql_upsert *upsert_update(const struct hdb_sql_stmt *st)
{
    for (uint32_t i = 0; i < st->u.insert.upserts.n; i++) {
        const struct hdb_sql_upsert *u = st->u.insert.upserts.items[i];
        if (u->do_update) {
            return u;
        }
    }
    return NULL;
}

/* The conflict of an upsert: update the stored row unless the clause's WHERE says no. */
static int upsert_apply(struct exec *x, const struct hdb_sql_upsert *u,
                        const struct hdb_schema_table *t, const struct hdb_value *old,
                        const struct hdb_value *old_key, const struct hdb_value *proposed,
                        struct hdb_value *row, bool *updated)
{
    const struct hdb_table_def *d = t->def;
    *updated = false;
    if (u->where != NULL) {
        const char *names[HDB_TABLE_COLUMNS_MAX];
        enum hdb_affinity affs[HDB_TABLE_COLUMNS_MAX];
        struct source s[2];
        table_source(t, NULL, names, affs, &s[0]);
        s[0].cur = old;
        s[1] = s[0];
        s[1].name = "excluded";
        s[1].cur = proposed;
        s[1].qualified_only = true;
        struct scope sc = {.src = s, .nsrc = 2};
        struct hdb_value v;
        int rc = scope_eval(x, &sc, u->where, &v);
        if (rc != HDB_OK || hdb_value_truth(&v) != 1) {
            return rc;
        }
    }
    struct hdb_value *copy = NULL;
    int rc = HDB_OK;
    copy = hdb_sql_arena_alloc(x->arena, (d->ncols + 1) * sizeof *copy, &rc);
    if (copy == NULL) {
        return exec_fail(x, rc, "out of memory");
    }
    memcpy(copy, old, d->ncols * sizeof *copy); /* the conflicting row may live in a scan buffer */
    rc = update_one(x, &u->set, NULL, t, copy, old_key, proposed, row);
    *updated = rc == HDB_OK;
    return rc;
}

static int insert_one(struct exec *x, const struct hdb_sql_stmt *st,
                      const struct hdb_schema_table *t, struct hdb_value *row, int64_t *changes,
                      int64_t *last_id, bool *wrote)
{
    const struct hdb_table_def *d = t->def;
    int64_t given = INT64_MIN, rowid = 0;
    *wrote = false;
    int rc = prepare_row(x, d, row);
    if (rc == HDB_OK && d->rowid_col >= 0 && row[d->rowid_col].type != HDB_V_NULL) {
        if (row[d->rowid_col].type != HDB_V_INT) {
            return exec_fail(x, HDB_CONSTRAINT, "datatype mismatch");
        }
        given = row[d->rowid_col].u.i;
    }
    if (rc == HDB_OK && (d->pk.ncols == 0 || d->rowid_col >= 0)) {
        rc = next_rowid(x, t, given, &rowid);
        if (rc == HDB_OK && d->rowid_col >= 0) {
            row[d->rowid_col] = (struct hdb_value){.type = HDB_V_INT, .u.i = rowid};
        }
    }
    rc = rc == HDB_OK ? check_row(x, d, row) : rc;
    struct hdb_buf key = {0}, old = {0};
    rc = rc == HDB_OK ? row_store_key(x, d, row, rowid, &key) : rc;
    int exists =
        rc == HDB_OK ? hdb_txn_get(x->t, t->rows, key.data, (uint32_t)key.len, &old, x->err) : rc;
    enum hdb_sql_conflict action = st->u.insert.or_action;
    const struct hdb_sql_upsert *upd = upsert_update(st);
    bool nothing = st->u.insert.upserts.n > 0 && upd == NULL; /* ON CONFLICT DO NOTHING */
    const struct hdb_value *conflict_row = NULL, *conflict_key = NULL, *replaced = NULL;
    struct hdb_value pk_row[HDB_TABLE_COLUMNS_MAX], pk_key;
    if (rc == HDB_OK && exists == HDB_OK) {
        uint32_t n = 0;
        rc = upd != NULL
                 ? hdb_row_decode(old.data, old.len, pk_row, HDB_TABLE_COLUMNS_MAX, &n, x->err)
                 : HDB_OK;
        for (uint32_t i = n; rc == HDB_OK && upd != NULL && i < d->ncols; i++) {
            pk_row[i] = (struct hdb_value){.type = HDB_V_NULL};
        }
        pk_key = (struct hdb_value){.type = HDB_V_BLOB, .u.s = {key.data, (uint32_t)key.len}};
        conflict_row = pk_row;
        conflict_key = &pk_key;
        if (rc == HDB_OK && upd == NULL && action != HDB_CONFLICT_IGNORE && !nothing &&
            action != HDB_CONFLICT_REPLACE) {
            const struct hdb_key_def rk = {.ncols = 1, .cols = {(uint32_t)d->rowid_col}};
            rc = exec_fail(x, HDB_CONSTRAINT, "UNIQUE constraint failed: %s",
                           constraint_cols(x, d, d->rowid_col >= 0 ? &rk : &d->pk));
        }
    } else if (rc == HDB_OK && exists != HDB_NOTFOUND) {
        rc = exists;
    }
    if (rc == HDB_OK && conflict_row == NULL) {
        x->conflict_row = x->conflict_key = NULL;
        rc = index_check_unique(x, t, row, NULL, 0);
        if (rc == HDB_CONSTRAINT && (action == HDB_CONFLICT_IGNORE || nothing || upd != NULL)) {
            conflict_row = x->conflict_row;
            conflict_key = x->conflict_key;
            rc = HDB_OK;
            hdb_err_set(x->err, HDB_OK, " ");
        }
    } else if (rc == HDB_OK && action == HDB_CONFLICT_REPLACE) {
        rc = index_check_unique(x, t, row, key.data, (uint32_t)key.len);
        conflict_row = NULL; /* the stored row with this key is replaced */
        uint32_t n = 0;
        rc = rc == HDB_OK
                 ? hdb_row_decode(old.data, old.len, pk_row, HDB_TABLE_COLUMNS_MAX, &n, x->err)
                 : rc;
        for (uint32_t i = n; rc == HDB_OK && i < d->ncols; i++) {
            pk_row[i] = (struct hdb_value){.type = HDB_V_NULL};
        }
        replaced = pk_row;
    }
    if (rc == HDB_OK && conflict_row != NULL && upd != NULL) {
        bool updated = false;
        struct hdb_value *proposed =
            hdb_sql_arena_alloc(x->arena, (d->ncols + 1) * sizeof *row, &rc);
        if (proposed == NULL) {
            rc = exec_fail(x, rc, "out of memory");
        } else {
            memcpy(proposed, row,
                   d->ncols * sizeof *row); /* excluded.*, while `row` is rewritten */
            rc = upsert_apply(x, upd, t, conflict_row, conflict_key, proposed, row, &updated);
        }
        *changes += updated;
        *wrote = updated;
    } else if (rc == HDB_OK && conflict_row == NULL) {
        rc = put_row(x, t, &key, row);
        rc = rc == HDB_OK ? index_update_row(x, t, replaced, key.data, (uint32_t)key.len, row,
                                             key.data, (uint32_t)key.len)
                          : rc;
        if (rc == HDB_OK) {
            (*changes)++;
            *wrote = true;
            *last_id = d->pk.ncols == 0 || d->rowid_col >= 0 ? rowid : *last_id;
        }
    }
    hdb_buf_free(&old);
    free(key.data);
    return rc;
}

static int column_map(struct exec *x, const struct hdb_sql_stmt *st, const struct hdb_table_def *d,
                      int32_t *map, uint32_t *n)
{
    const struct hdb_sql_list *cols = &st->u.insert.columns;
    if (cols->n == 0) {
        for (uint32_t i = 0; i < d->ncols; i++) {
            map[i] = (int32_t)i;
        }
        *n = d->ncols;
        return HDB_OK;
    }
    for (uint32_t i = 0; i < cols->n; i++) {
        const struct hdb_sql_str *name = cols->items[i];
        map[i] = hdb_table_column(d, name->ptr);
        if (map[i] < 0) {
            return exec_fail(x, HDB_INVALID, "table %s has no column named %s", d->name, name->ptr);
        }
    }
    *n = cols->n;
    return HDB_OK;
}

static int returning_row(struct exec *x, const struct hdb_sql_list *ret,
                         const struct hdb_schema_table *t, const struct hdb_value *row,
                         struct hdb_sql_result *res, struct rows *out);

static int exec_insert(struct exec *x, const struct hdb_sql_stmt *st, struct hdb_sql_result *res,
                       struct rows *out)
{
    const struct hdb_schema_table *t = hdb_schema_table(x->schema, st->u.insert.table.ptr);
    if (t == NULL) {
        return exec_fail(x, HDB_INVALID, "no such table: %s", st->u.insert.table.ptr);
    }
    const struct hdb_table_def *d = t->def;
    int32_t map[HDB_TABLE_COLUMNS_MAX];
    uint32_t nmap = 0;
    int rc = column_map(x, st, d, map, &nmap);
    struct rows src = {0};
    const struct hdb_sql_select *sel = st->u.insert.select;
    if (rc == HDB_OK && sel != NULL && sel->cores.n == 1 &&
        ((struct hdb_sql_select_core *)sel->cores.items[0])->values.n > 0) {
        const struct hdb_sql_select_core *core = sel->cores.items[0];
        src.ncols = nmap;
        for (uint32_t r = 0; rc == HDB_OK && r < core->values.n; r++) {
            const struct hdb_sql_list *vals = core->values.items[r];
            struct hdb_value row[HDB_TABLE_COLUMNS_MAX];
            if (vals->n != nmap) {
                return st->u.insert.columns.n == 0
                           ? exec_fail(x, HDB_INVALID,
                                       "table %s has %u columns but %u values were supplied",
                                       d->name, d->ncols, vals->n)
                           : exec_fail(x, HDB_INVALID, "%u values for %u columns", vals->n, nmap);
            }
            for (uint32_t c = 0; rc == HDB_OK && c < vals->n; c++) {
                rc = scope_eval(x, NULL, vals->items[c], &row[c]);
            }
            rc = rc == HDB_OK ? rows_push(x, &src, row) : rc;
        }
    } else if (rc == HDB_OK && sel != NULL) {
        rc = select_run(x, sel, NULL, &src, NULL);
        if (rc == HDB_OK && src.ncols != nmap) {
            return exec_fail(x, HDB_INVALID, "table %s has %u columns but %u values were supplied",
                             d->name, nmap, src.ncols);
        }
    } else if (rc == HDB_OK) {
        src.ncols = 0;
        rc = rows_push(x, &src, NULL); /* DEFAULT VALUES */
        nmap = 0;
    }
    for (uint32_t r = 0; rc == HDB_OK && r < src.n; r++) {
        struct hdb_value row[HDB_TABLE_COLUMNS_MAX];
        rc = build_row(x, d, map, src.v + (size_t)r * src.ncols, nmap, row);
        bool wrote = false;
        rc = rc == HDB_OK ? insert_one(x, st, t, row, &res->changes, &res->last_insert_id, &wrote)
                          : rc;
        if (rc == HDB_OK && wrote && st->u.insert.returning.n > 0) {
            rc = returning_row(x, &st->u.insert.returning, t, row, res, out);
        }
    }
    return rc;
}

/* --- UPDATE and DELETE --- */

static void table_source(const struct hdb_schema_table *t, const char *alias, const char **names,
                         enum hdb_affinity *affs, struct source *s)
{
    const struct hdb_table_def *d = t->def;
    for (uint32_t i = 0; i < d->ncols; i++) {
        names[i] = d->cols[i].name;
        affs[i] = d->cols[i].affinity;
    }
    *s = (struct source){.name = alias != NULL ? alias : d->name,
                         .ncols = d->ncols,
                         .colnames = names,
                         .affs = affs};
}

static int returning_row(struct exec *x, const struct hdb_sql_list *ret,
                         const struct hdb_schema_table *t, const struct hdb_value *row,
                         struct hdb_sql_result *res, struct rows *out)
{
    const char *names[HDB_TABLE_COLUMNS_MAX];
    enum hdb_affinity affs[HDB_TABLE_COLUMNS_MAX];
    struct source s;
    table_source(t, NULL, names, affs, &s);
    s.cur = row;
    struct scope sc = {.src = &s, .nsrc = 1};
    struct hdb_value vals[HDB_TABLE_COLUMNS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < ret->n; i++) {
        const struct hdb_sql_result_col *rc = ret->items[i];
        for (uint32_t c = 0; rc->star && c < s.ncols; c++) {
            vals[n++] = row[c];
        }
        if (!rc->star) {
            int st = scope_eval(x, &sc, rc->expr, &vals[n++]);
            if (st != HDB_OK) {
                return st;
            }
        }
    }
    if (out->ncols == 0 && out->n == 0) {
        out->ncols = n;
        int err = HDB_OK;
        res->names = hdb_sql_arena_alloc(x->arena, n * sizeof *res->names, &err);
        if (res->names == NULL) {
            return exec_fail(x, err, "out of memory");
        }
        uint32_t at = 0;
        for (uint32_t i = 0; i < ret->n; i++) {
            const struct hdb_sql_result_col *rc = ret->items[i];
            for (uint32_t c = 0; rc->star && c < s.ncols; c++) {
                res->names[at++] = names[c];
            }
            if (!rc->star) {
                res->names[at++] = rc->alias.ptr != NULL ? rc->alias.ptr : result_name(x, rc->expr);
            }
        }
    }
    return rows_push(x, out, vals);
}

/* The rows of a table that satisfy WHERE, with their storage keys. */
static int matching_rows(struct exec *x, const struct hdb_schema_table *t, const char *alias,
                         const struct hdb_sql_expr *where, struct hdb_sql_plan *plan,
                         struct rows *rows, struct rows *keys)
{
    struct rows all = {0}, all_keys = {0};
    bool point = false;
    int rc = table_point_read(x, t, alias != NULL ? alias : t->def->name, where, &all, &all_keys,
                              &point);
    rc = rc == HDB_OK && !point ? table_index_read(x, t, alias != NULL ? alias : t->def->name,
                                                   where, NULL, plan, &all, &all_keys, &point)
                                : rc;
    rc = rc == HDB_OK && !point ? table_scan_all(x, t, &all, &all_keys) : rc;
    const char *names[HDB_TABLE_COLUMNS_MAX];
    enum hdb_affinity affs[HDB_TABLE_COLUMNS_MAX];
    struct source s;
    table_source(t, alias, names, affs, &s);
    struct scope sc = {.src = &s, .nsrc = 1};
    rows->ncols = t->def->ncols;
    keys->ncols = 1;
    for (uint32_t r = 0; rc == HDB_OK && r < all.n; r++) {
        s.cur = all.v + (size_t)r * all.ncols;
        struct hdb_value v = {.type = HDB_V_INT, .u.i = 1};
        rc = where != NULL ? scope_eval(x, &sc, where, &v) : HDB_OK;
        if (rc == HDB_OK && hdb_value_truth(&v) == 1) {
            rc = rows_push(x, rows, s.cur);
            rc = rc == HDB_OK ? rows_push(x, keys, &all_keys.v[r]) : rc;
        }
    }
    return rc;
}

/* Applies SET to one stored row (`old`, stored under `old_key`); `excluded` (may be NULL) is the
 * row an upsert proposed, visible as excluded.col. */
static int update_one(struct exec *x, const struct hdb_sql_list *sets, const char *alias,
                      const struct hdb_schema_table *t, const struct hdb_value *old,
                      const struct hdb_value *old_key, const struct hdb_value *excluded,
                      struct hdb_value *row)
{
    const struct hdb_table_def *d = t->def;
    const char *names[HDB_TABLE_COLUMNS_MAX];
    enum hdb_affinity affs[HDB_TABLE_COLUMNS_MAX];
    struct source s[2];
    table_source(t, alias, names, affs, &s[0]);
    s[0].cur = old;
    s[1] = s[0];
    s[1].name = "excluded";
    s[1].cur = excluded;
    s[1].qualified_only = true;
    struct scope sc = {.src = s, .nsrc = excluded != NULL ? 2 : 1};
    memcpy(row, old, d->ncols * sizeof *row);
    int rc = HDB_OK;
    for (uint32_t i = 0; rc == HDB_OK && i < sets->n; i++) {
        const struct hdb_sql_set *set = sets->items[i];
        if (set->columns.n != 1) {
            return exec_fail(x, HDB_INVALID, "row-value SET is not supported yet");
        }
        const struct hdb_sql_str *col = set->columns.items[0];
        int32_t c = hdb_table_column(d, col->ptr);
        if (c < 0) {
            return exec_fail(x, HDB_INVALID, "no such column: %s", col->ptr);
        }
        rc = scope_eval(x, &sc, set->expr, &row[c]);
    }
    return rc == HDB_OK ? update_store(x, t, old, old_key, row) : rc;
}

/* Stores `row`, the new values of the row `old` stored under `old_key`: conversions, NOT NULL,
 * CHECK, the key it moves to, UNIQUE, and the index entries. */
static int update_store(struct exec *x, const struct hdb_schema_table *t,
                        const struct hdb_value *old, const struct hdb_value *old_key,
                        struct hdb_value *row)
{
    const struct hdb_table_def *d = t->def;
    int rc = HDB_OK;
    int64_t rowid = 0;
    if (rc == HDB_OK && (d->pk.ncols == 0 || d->rowid_col >= 0)) {
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) {
            u = u << 8 | old_key->u.s.p[i];
        }
        rowid = (int64_t)(u ^ (1ull << 63));
    }
    rc = rc == HDB_OK ? prepare_row(x, d, row) : rc;
    if (rc == HDB_OK && d->rowid_col >= 0) {
        if (row[d->rowid_col].type != HDB_V_INT) {
            return exec_fail(x, HDB_CONSTRAINT, "datatype mismatch");
        }
        rowid = row[d->rowid_col].u.i;
    }
    rc = rc == HDB_OK ? check_row(x, d, row) : rc;
    struct hdb_buf key = {0}, other = {0};
    rc = rc == HDB_OK ? row_store_key(x, d, row, rowid, &key) : rc;
    bool moved = rc == HDB_OK &&
                 (key.len != old_key->u.s.len || memcmp(key.data, old_key->u.s.p, key.len) != 0);
    if (moved) {
        int g = hdb_txn_get(x->t, t->rows, key.data, (uint32_t)key.len, &other, x->err);
        if (g == HDB_OK) {
            const struct hdb_key_def rk = {.ncols = 1, .cols = {(uint32_t)d->rowid_col}};
            rc = exec_fail(x, HDB_CONSTRAINT, "UNIQUE constraint failed: %s",
                           constraint_cols(x, d, d->rowid_col >= 0 ? &rk : &d->pk));
        } else if (g != HDB_NOTFOUND) {
            rc = g;
        }
        rc = rc == HDB_OK ? hdb_txn_delete(x->t, t->rows, old_key->u.s.p, old_key->u.s.len, x->err)
                          : rc;
    }
    rc = rc == HDB_OK ? index_check_unique(x, t, row, old_key->u.s.p, old_key->u.s.len) : rc;
    rc = rc == HDB_OK ? put_row(x, t, &key, row) : rc;
    rc = rc == HDB_OK ? index_update_row(x, t, old, old_key->u.s.p, old_key->u.s.len, row, key.data,
                                         (uint32_t)key.len)
                      : rc;
    hdb_buf_free(&other);
    free(key.data);
    return rc;
}

/*
 * UPDATE t SET ... FROM f ... WHERE ...: for each row of t, the SET values come from the first
 * row of `SELECT <set expressions> FROM f ... WHERE ... LIMIT 1` run with that row of t as the
 * outer query (so t.col and f.col both resolve); a row of t with no such row is left alone, and
 * none is updated twice (as SQLite does).
 */
static int update_from(struct exec *x, const struct hdb_sql_stmt *st,
                       const struct hdb_schema_table *t, struct hdb_sql_result *res,
                       struct rows *out)
{
    const struct hdb_table_def *d = t->def;
    const struct hdb_sql_list *sets = &st->u.update.set;
    int rc = HDB_OK;
    struct hdb_sql_result_col *cols =
        hdb_sql_arena_alloc(x->arena, (sets->n + 1) * sizeof *cols, &rc);
    void **items = hdb_sql_arena_alloc(x->arena, (sets->n + 1) * sizeof *items, &rc);
    int32_t *target = hdb_sql_arena_alloc(x->arena, (sets->n + 1) * sizeof *target, &rc);
    if (cols == NULL || items == NULL || target == NULL) {
        return exec_fail(x, HDB_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < sets->n; i++) {
        const struct hdb_sql_set *set = sets->items[i];
        if (set->columns.n != 1) {
            return exec_fail(x, HDB_INVALID, "row-value SET is not supported yet");
        }
        const struct hdb_sql_str *col = set->columns.items[0];
        target[i] = hdb_table_column(d, col->ptr);
        if (target[i] < 0) {
            return exec_fail(x, HDB_INVALID, "no such column: %s", col->ptr);
        }
        cols[i] = (struct hdb_sql_result_col){.expr = set->expr};
        items[i] = &cols[i];
    }
    static struct hdb_sql_expr one = {.kind = HDB_EXPR_INTEGER, .u.i = 1};
    struct hdb_sql_select_core core = {.columns = {.items = items, .n = sets->n, .cap = sets->n},
                                       .from = st->u.update.from,
                                       .where = st->u.update.where};
    void *core_item = &core;
    struct hdb_sql_select q = {.cores = {.items = &core_item, .n = 1, .cap = 1}, .limit = &one};
    struct rows all = {0}, keys = {0};
    rc = table_scan_all(x, t, &all, &keys);
    const char *names[HDB_TABLE_COLUMNS_MAX];
    enum hdb_affinity affs[HDB_TABLE_COLUMNS_MAX];
    struct source src;
    table_source(t, st->u.update.alias.ptr, names, affs, &src);
    struct scope outer = {.src = &src, .nsrc = 1};
    for (uint32_t r = 0; rc == HDB_OK && r < all.n; r++) {
        const struct hdb_value *old = all.v + (size_t)r * all.ncols;
        src.cur = old;
        struct rows got = {0};
        rc = select_run(x, &q, &outer, &got, NULL);
        if (rc != HDB_OK || got.n == 0) {
            continue;
        }
        struct hdb_value row[HDB_TABLE_COLUMNS_MAX];
        memcpy(row, old, d->ncols * sizeof *row);
        for (uint32_t i = 0; i < sets->n; i++) {
            row[target[i]] = got.v[i];
        }
        rc = update_store(x, t, old, &keys.v[r], row);
        res->changes += rc == HDB_OK;
        if (rc == HDB_OK && st->u.update.returning.n > 0) {
            rc = returning_row(x, &st->u.update.returning, t, row, res, out);
        }
    }
    return rc;
}

static int exec_update(struct exec *x, const struct hdb_sql_stmt *st, struct hdb_sql_result *res,
                       struct rows *out)
{
    const struct hdb_schema_table *t = hdb_schema_table(x->schema, st->u.update.table.ptr);
    if (t == NULL) {
        return exec_fail(x, HDB_INVALID, "no such table: %s", st->u.update.table.ptr);
    }
    if (st->u.update.from.n > 0) {
        return update_from(x, st, t, res, out);
    }
    struct rows rows = {0}, keys = {0};
    /* the statement keeps its access path (written by the executor, see struct hdb_sql_plan) */
    struct hdb_sql_plan *plan = (struct hdb_sql_plan *)&st->u.update.plan;
    int rc = matching_rows(x, t, st->u.update.alias.ptr, st->u.update.where, plan, &rows, &keys);
    for (uint32_t r = 0; rc == HDB_OK && r < rows.n; r++) {
        struct hdb_value row[HDB_TABLE_COLUMNS_MAX];
        rc = update_one(x, &st->u.update.set, st->u.update.alias.ptr, t,
                        rows.v + (size_t)r * rows.ncols, &keys.v[r], NULL, row);
        res->changes += rc == HDB_OK;
        if (rc == HDB_OK && st->u.update.returning.n > 0) {
            rc = returning_row(x, &st->u.update.returning, t, row, res, out);
        }
    }
    return rc;
}

static int exec_delete(struct exec *x, const struct hdb_sql_stmt *st, struct hdb_sql_result *res,
                       struct rows *out)
{
    const struct hdb_schema_table *t = hdb_schema_table(x->schema, st->u.delete_.table.ptr);
    if (t == NULL) {
        return exec_fail(x, HDB_INVALID, "no such table: %s", st->u.delete_.table.ptr);
    }
    struct rows rows = {0}, keys = {0};
    struct hdb_sql_plan *plan = (struct hdb_sql_plan *)&st->u.delete_.plan;
    int rc = matching_rows(x, t, st->u.delete_.alias.ptr, st->u.delete_.where, plan, &rows, &keys);
    for (uint32_t r = 0; rc == HDB_OK && r < rows.n; r++) {
        rc = hdb_txn_delete(x->t, t->rows, keys.v[r].u.s.p, keys.v[r].u.s.len, x->err);
        rc = rc == HDB_OK ? index_update_row(x, t, rows.v + (size_t)r * rows.ncols, keys.v[r].u.s.p,
                                             keys.v[r].u.s.len, NULL, NULL, 0)
                          : rc;
        res->changes += rc == HDB_OK;
        if (rc == HDB_OK && st->u.delete_.returning.n > 0) {
            rc = returning_row(x, &st->u.delete_.returning, t, rows.v + (size_t)r * rows.ncols, res,
                               out);
        }
    }
    return rc;
}

/* --- sessions and statements --- */

int hdb_sql_session_open(struct hdb_db *db, struct hdb_sql_session **out, struct hdb_err *err)
{
    struct hdb_sql_session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    s->db = db;
    s->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull | 1;
    int rc = hdb_db_connect(db, &s->conn, err);
    if (rc != HDB_OK) {
        free(s);
        return rc;
    }
    *out = s;
    return HDB_OK;
}

void hdb_sql_session_close(struct hdb_sql_session *s)
{
    if (s == NULL) {
        return;
    }
    if (s->txn != NULL) {
        hdb_txn_rollback(s->txn);
    }
    hdb_schema_free(s->schema);
    hdb_schema_free(s->committed);
    hdb_db_disconnect(s->conn);
    free(s);
}

bool hdb_sql_in_transaction(const struct hdb_sql_session *s)
{
    return s->txn != NULL;
}

void hdb_sql_result_free(struct hdb_sql_result *res)
{
    hdb_sql_arena_free(&res->arena);
    *res = (struct hdb_sql_result){0};
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_ddl(enum hdb_sql_stmt_kind k)
{
    return k == HDB_STMT_CREATE_TABLE || k == HDB_STMT_DROP_TABLE || k == HDB_STMT_ALTER_TABLE ||
           k == HDB_STMT_CREATE_INDEX || k == HDB_STMT_DROP_INDEX;
}

/* One statement in transaction x->t; `cached` (may be NULL) keeps the schema across the
 * statements of an explicit transaction. */
/* `cached`: the explicit transaction's schema (kept after the statement unless it was DDL);
 * `committed`: an autocommit statement's cache of committed schemas (see the session). */
static int run_stmt(struct exec *x, const struct hdb_sql_stmt *st, struct hdb_sql_result *res,
                    struct hdb_schema **cached, struct hdb_sql_session *sess)
{
    int rc = HDB_OK;
    bool borrowed = false;
    struct hdb_schema **committed = sess != NULL ? &sess->committed : NULL;
    if (cached != NULL && *cached != NULL) {
        x->schema = *cached;
    } else if (committed != NULL && *committed != NULL && (x->ddl_seq & 1) == 0 &&
               sess->committed_seq == x->ddl_seq) {
        /* No DDL committed since the cached schema was loaded: it is this snapshot's. The commit
         * checks that none committed since either (commit_checked), instead of a read of the
         * catalog version that would make every writing statement a two-shard commit. */
        x->schema = *committed;
        borrowed = true;
    } else if (committed != NULL && *committed != NULL) {
        uint64_t v = 0;
        rc = hdb_schema_version(x->conn, x->t, &v, x->err);
        borrowed = rc == HDB_OK && v == (*committed)->version;
        if (borrowed) {
            x->schema = *committed;
            sess->committed_seq = x->ddl_seq;
        } else if (rc == HDB_OK) {
            hdb_schema_free(*committed);
            *committed = NULL;
            rc = hdb_schema_load(x->conn, x->t, &x->schema, x->err);
        }
    } else {
        rc = hdb_schema_load(x->conn, x->t, &x->schema, x->err);
    }
    if (rc != HDB_OK) {
        return rc;
    }
    /* Loaded first in the statement's own transaction: committed data at its version. */
    if (committed != NULL && !borrowed) {
        *committed = x->schema;
        sess->committed_seq = x->ddl_seq;
        borrowed = true;
    }
    struct rows out = {0};
    const char **names = NULL;
    if (st->explain != 0) {
        rc = explain_stmt(x, st, &out, &names);
        res->names = names;
    } else if (is_ddl(st->kind)) {
        rc = hdb_schema_ddl(x->conn, x->t, st, x->src, x->err);
        if (rc == HDB_OK && st->kind == HDB_STMT_CREATE_INDEX &&
            hdb_schema_index(x->schema, st->u.create_index.name.ptr) == NULL) {
            rc = fill_new_index(x, st);
        }
    } else if (st->kind == HDB_STMT_SELECT) {
        rc = select_run(x, st->u.select, NULL, &out, &names);
        res->names = names;
    } else if (st->kind == HDB_STMT_INSERT) {
        rc = exec_insert(x, st, res, &out);
    } else if (st->kind == HDB_STMT_UPDATE) {
        rc = exec_update(x, st, res, &out);
    } else if (st->kind == HDB_STMT_DELETE) {
        rc = exec_delete(x, st, res, &out);
    } else {
        rc = exec_fail(x, HDB_INVALID, "this statement is not supported yet");
    }
    if (borrowed) {
        /* stays in the session's cache */
    } else if (cached != NULL && rc == HDB_OK && !is_ddl(st->kind)) {
        *cached = x->schema;
    } else {
        hdb_schema_free(x->schema);
        if (cached != NULL) {
            *cached = NULL;
        }
    }
    x->schema = NULL;
    if (rc == HDB_OK) {
        res->ncols = out.ncols;
        res->nrows = out.n;
        res->rows = out.v;
    }
    return rc;
}

/* Pages of every shard's data file (*pending: those freed but not reusable yet). */
static uint64_t pages_total(struct hdb_sql_session *s, uint64_t *pending)
{
    uint64_t n = 0, p = 0;
    for (uint32_t k = 0; k < hdb_db_shards(s->db); k++) {
        struct hdb_shard_stats st;
        struct hdb_err err = {0};
        if (hdb_db_shard_stats(s->conn, k, &st, &err) == HDB_OK) {
            n += st.store.pages_total;
            p += st.store.pages_pending;
        }
    }
    if (pending != NULL) {
        *pending = p;
    }
    return n;
}

/* Drops key-value table `name` if it exists: 1 if it did, 0 if not, or an error. */
static int drop_if_there(struct hdb_sql_session *s, const char *name, struct hdb_err *err)
{
    int rc = hdb_kv_table_drop(s->conn, name, err);
    if (rc == HDB_NOTFOUND) {
        hdb_err_set(err, HDB_OK, " ");
        return 0;
    }
    return rc == HDB_OK ? 1 : -rc;
}

#define VACUUM_COMPACT_PASSES 3   /* move, wait for readers, checkpoint: at most this often */
#define VACUUM_COMPACT_TURNS  256 /* compaction turns per pass (2,048 pages per shard each) */

/* Freed pages wait two checkpoints, and checkpoint pages written at the ends meanwhile two more:
 * checkpoints until the files stop shrinking (at least 5, at most 8 rounds). */
static int checkpoint_until_stable(struct hdb_sql_session *s, uint64_t *now, struct hdb_err *err)
{
    uint64_t last = UINT64_MAX;
    int rc = HDB_OK;
    for (int round = 0; rc == HDB_OK && round < 8; round++) {
        rc = hdb_db_checkpoint(s->conn, err);
        *now = pages_total(s, NULL);
        if (round >= 4 && *now >= last) {
            break;
        }
        last = *now;
    }
    return rc;
}

/*
 * VACUUM: the rows and entries of dropped tables and indexes leave their key-value tables
 * (dropped on every shard), then every shard checkpoints until the freed pages have left the
 * ends of the data files (core: free pages at the end of a file leave it at a checkpoint); then
 * live pages at the ends move down into the free pages (hdb_db_compact) and, once readers of
 * older versions are done with the old places, checkpoints trim the ends again.
 */
static int vacuum(struct hdb_sql_session *s, struct hdb_err *err)
{
    if (s->txn != NULL) {
        return hdb_err_set(err, HDB_INVALID, "cannot VACUUM from within a transaction");
    }
    struct hdb_txn *t = NULL;
    struct hdb_schema *schema = NULL;
    uint64_t next = 0;
    int rc = hdb_txn_begin(s->conn, &t, err);
    rc = rc == HDB_OK ? hdb_schema_load(s->conn, t, &schema, err) : rc;
    rc = rc == HDB_OK ? hdb_schema_next_id(s->conn, t, &next, err) : rc;
    if (t != NULL) {
        hdb_txn_rollback(t); /* read only */
    }
    uint64_t before = pages_total(s, NULL), pending = 0;
    uint32_t dropped = 0;
    for (uint64_t id = 1; rc == HDB_OK && id < next && id <= UINT32_MAX; id++) {
        bool table = false, index = false;
        for (uint32_t i = 0; i < schema->ntables; i++) {
            table = table || schema->tables[i].id == id;
        }
        for (uint32_t i = 0; i < schema->nindexes; i++) {
            index = index || schema->indexes[i]->id == id;
        }
        char name[40];
        int d = 0;
        if (!table) { /* a dropped table's rows and UNIQUE entries (or never a table) */
            snprintf(name, sizeof name, "t%" PRIu64, id);
            d = drop_if_there(s, name, err);
            dropped += d > 0 ? 1 : 0;
            for (uint32_t u = 0; d >= 0; u++) {
                snprintf(name, sizeof name, "u%" PRIu64 ".%u", id, u);
                d = drop_if_there(s, name, err);
                if (d <= 0) {
                    break;
                }
                dropped++;
            }
        }
        if (d >= 0 && !index) {
            snprintf(name, sizeof name, "x%" PRIu64, id);
            d = drop_if_there(s, name, err);
            dropped += d > 0 ? (uint32_t)d : 0;
        }
        rc = d < 0 ? -d : HDB_OK;
    }
    hdb_schema_free(schema);
    /* Freed pages (of the drops, of deleted rows) stay readable for transactions whose snapshots
     * are older, for up to version_retention_ms: wait that long when there are any. */
    pages_total(s, &pending);
    if (rc == HDB_OK && (dropped > 0 || pending > 0)) {
        hdb_db_pause(s->db, hdb_db_version_retention_ms(s->db) + 50u);
    }
    uint64_t now = before, moved = 0;
    rc = rc == HDB_OK ? checkpoint_until_stable(s, &now, err) : rc;
    /* Then live pages move down from the files' tails into the free pages (as many rounds as the
     * free space allows), their old places wait out the readers, and the tails are trimmed. */
    for (int pass = 0; rc == HDB_OK && pass < VACUUM_COMPACT_PASSES; pass++) {
        uint64_t pass_moved = 0, turn = 0;
        bool more = true;
        for (int k = 0; rc == HDB_OK && more && k < VACUUM_COMPACT_TURNS; k++) {
            rc = hdb_db_compact(s->conn, &turn, &more, err);
            pass_moved += turn;
        }
        if (rc != HDB_OK || pass_moved == 0) {
            break;
        }
        moved += pass_moved;
        hdb_db_pause(s->db, hdb_db_version_retention_ms(s->db) + 50u);
        rc = checkpoint_until_stable(s, &now, err);
    }
    if (rc == HDB_OK) {
        hdb_log(HDB_LOG_INFO,
                "VACUUM: %u key-value tables of dropped tables and indexes dropped; %" PRIu64
                " pages moved down; data files %" PRIu64 " -> %" PRIu64 " pages",
                dropped, moved, before, now);
    }
    return rc;
}

/* Begins a transaction; *seq gets the DDL sequence if it was the same even value before and
 * after the snapshot was taken (no catalog change committed meanwhile), else an odd value. */
static int begin_stable(struct hdb_sql_session *s, struct hdb_txn **t, uint64_t *seq,
                        struct hdb_err *err)
{
    uint64_t before = hdb_sql_ddl_seq(s->db);
    int rc = hdb_txn_begin(s->conn, t, err);
    uint64_t after = hdb_sql_ddl_seq(s->db);
    *seq = before == after ? before : 1;
    return rc;
}

/*
 * Commits a transaction that changed no schema. Planned at an even DDL sequence `seq` (without
 * reading the catalog), it commits only if no DDL committed since, and holds DDL commits off
 * while it does; otherwise (odd: it read the catalog version, which validation covers) it just
 * commits. HDB_CONFLICT: retry with the new schema.
 */
static int commit_checked(struct hdb_sql_session *s, struct hdb_txn *t, uint64_t seq,
                          struct hdb_err *err)
{
    if ((seq & 1) != 0 || hdb_txn_write_shards(t) == 0) {
        return hdb_txn_commit(t, err); /* read the catalog itself, or wrote nothing */
    }
    if (!hdb_sql_commit_enter(s->db, seq)) {
        hdb_txn_rollback(t);
        return hdb_err_set(err, HDB_CONFLICT,
                           "the schema changed while the transaction ran: retry it");
    }
    int rc = hdb_txn_commit(t, err);
    hdb_sql_commit_leave(s->db);
    return rc;
}

static int txn_control(struct hdb_sql_session *s, const struct hdb_sql_stmt *st,
                       struct hdb_err *err)
{
    if (st->kind == HDB_STMT_BEGIN) {
        if (s->txn != NULL) {
            return hdb_err_set(err, HDB_INVALID, "cannot start a transaction within a transaction");
        }
        s->txn_failed = false;
        s->txn_ddl = false;
        return begin_stable(s, &s->txn, &s->txn_seq, err);
    }
    if (s->txn == NULL) {
        return hdb_err_set(err, HDB_INVALID, "cannot %s - no transaction is active",
                           st->kind == HDB_STMT_COMMIT ? "commit" : "rollback");
    }
    struct hdb_txn *t = s->txn;
    s->txn = NULL;
    hdb_schema_free(s->schema);
    s->schema = NULL;
    if (st->kind == HDB_STMT_ROLLBACK || s->txn_failed) {
        hdb_txn_rollback(t);
        return st->kind == HDB_STMT_ROLLBACK
                   ? HDB_OK
                   : hdb_err_set(err, HDB_INVALID,
                                 "the transaction failed earlier and was rolled back");
    }
    if (!s->txn_ddl) {
        return commit_checked(s, t, s->txn_seq, err);
    }
    hdb_sql_ddl_enter(s->db);
    int rc = hdb_txn_commit(t, err);
    hdb_sql_ddl_leave(s->db);
    return rc;
}

int hdb_sql_exec(struct hdb_sql_session *s, const char *src, const struct hdb_sql_stmt *st,
                 const struct hdb_value *params, uint32_t nparams, struct hdb_sql_result *res,
                 struct hdb_err *err)
{
    hdb_sql_result_free(res);
    res->arena.limit = s->work_mem;
    if (st->kind == HDB_STMT_BEGIN || st->kind == HDB_STMT_COMMIT ||
        st->kind == HDB_STMT_ROLLBACK) {
        return txn_control(s, st, err);
    }
    if (st->kind == HDB_STMT_VACUUM && st->explain == 0) {
        return vacuum(s, err);
    }
    if (s->txn != NULL && s->txn_failed) {
        return hdb_err_set(err, HDB_INVALID,
                           "the transaction failed earlier: only ROLLBACK is accepted");
    }
    struct exec x = {.db = s->db,
                     .conn = s->conn,
                     .arena = &res->arena,
                     .stmt_arena = &res->arena,
                     .src = src,
                     .params = params,
                     .nparams = nparams,
                     .now_ms = wall_ms(),
                     .rng = s->rng,
                     .timeout_ms = s->timeout_ms,
                     .nshards = hdb_db_shards(s->db),
                     .deadline_ns = s->timeout_ms > 0 ? mono_ns() + s->timeout_ms * 1000000ull : 0,
                     .err = err};
    int rc = HDB_CONFLICT;
    if (s->txn != NULL) {
        x.t = s->txn;
        x.ddl_seq = s->txn_seq;
        rc = run_stmt(&x, st, res, &s->schema, s->txn_ddl ? NULL : s);
        s->txn_ddl = s->txn_ddl || is_ddl(st->kind);
        /* A failed statement leaves its writes in the transaction; only ROLLBACK undoes them. */
        s->txn_failed = rc != HDB_OK;
    }
    for (int attempt = 0; s->txn == NULL && rc == HDB_CONFLICT && attempt < STMT_RETRIES_MAX;
         attempt++) {
        hdb_sql_result_free(res);
        res->arena.limit = s->work_mem;
        x.arena = &res->arena;
        x.rows_held = 0;
        x.nsubs = 0; /* the kept subqueries went with the arena */
        x.autocommit = true;
        rc = begin_stable(s, &x.t, &x.ddl_seq, err);
        rc = rc == HDB_OK ? run_stmt(&x, st, res, NULL, s) : rc;
        if (rc == HDB_OK && is_ddl(st->kind)) {
            hdb_sql_ddl_enter(s->db);
            rc = hdb_txn_commit(x.t, err);
            hdb_sql_ddl_leave(s->db);
        } else if (rc == HDB_OK) {
            rc = commit_checked(s, x.t, x.ddl_seq, err);
        } else if (x.t != NULL) {
            hdb_txn_rollback(x.t);
        }
        x.t = NULL;
    }
    s->rng = x.rng;
    return rc;
}
