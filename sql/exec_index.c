/*
 * exec_index.c — index entries: kept in step with the rows, checked for
 * uniqueness, filled when an index is created, and read by equality
 * lookups (the layout is in schema.h, struct hdb_schema_ix).
 *
 * A unique index stores a row whose indexed values hold no NULL under the
 * bare encoding of those values, so the uniqueness check and a lookup that
 * pins every column are one point read (on one shard); every other entry
 * has the row's storage key appended, so equal values from different rows
 * are different entries, and lookups read the range of keys that start with
 * the pinned values' encoding.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bytes.h"
#include "sql/exec_int.h"

#define INDEX_PAGE_ROWS 4096u

static int buf_add(struct exec *x, struct hdb_buf *b, const void *p, size_t n)
{
    if (hdb_buf_reserve(b, b->len + n) != HDB_OK) {
        return exec_fail(x, HDB_NOMEM, "out of memory");
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    return HDB_OK;
}

/* The entry key of `row` (not NULL) in `ix`; *held is false when a partial index leaves it out. */
static int entry_key(struct exec *x, const struct hdb_table_def *d, const struct hdb_schema_ix *ix,
                     const struct hdb_value *row, const uint8_t *rk, uint32_t rklen,
                     struct hdb_buf *out, bool *held)
{
    out->len = 0;
    int rc = in_partial(x, d, ix->where, row, held);
    if (rc != HDB_OK || !*held) {
        return rc;
    }
    bool nulls = false;
    for (uint32_t i = 0; rc == HDB_OK && i < ix->key->ncols; i++) {
        const struct hdb_value *v = &row[ix->key->cols[i]];
        nulls = nulls || v->type == HDB_V_NULL;
        rc = hdb_key_append(out, v, ix->key->desc[i], x->err);
    }
    if (rc == HDB_OK && (!ix->unique || nulls)) {
        rc = buf_add(x, out, rk, rklen);
    }
    if (rc == HDB_OK && out->len > HDB_KEY_BYTES_MAX) {
        rc = exec_fail(x, HDB_TOOBIG, "an entry of index %s is %zu bytes (at most %u)",
                       ix->name != NULL ? ix->name : constraint_cols(x, d, ix->key), out->len,
                       HDB_KEY_BYTES_MAX);
    }
    return rc;
}

int index_update_row(struct exec *x, const struct hdb_schema_table *t, const struct hdb_value *old,
                     const uint8_t *okey, uint32_t oklen, const struct hdb_value *row,
                     const uint8_t *nkey, uint32_t nklen)
{
    struct hdb_buf a = {0}, b = {0};
    int rc = HDB_OK;
    for (uint32_t i = 0; rc == HDB_OK && i < t->nix; i++) {
        const struct hdb_schema_ix *ix = &t->ix[i];
        bool had = false, has = false;
        rc = old != NULL ? entry_key(x, t->def, ix, old, okey, oklen, &a, &had) : HDB_OK;
        rc =
            rc == HDB_OK && row != NULL ? entry_key(x, t->def, ix, row, nkey, nklen, &b, &has) : rc;
        bool same_key = had && has && a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
        bool same_val = oklen == nklen && (oklen == 0 || memcmp(okey, nkey, oklen) == 0);
        if (rc != HDB_OK || (same_key && same_val)) {
            continue;
        }
        if (had && !same_key) {
            rc = hdb_txn_delete(x->t, ix->entries, a.data, (uint32_t)a.len, x->err);
        }
        if (rc == HDB_OK && has) {
            rc = hdb_txn_put(x->t, ix->entries, b.data, (uint32_t)b.len, nkey, nklen, x->err);
        }
    }
    free(a.data);
    free(b.data);
    return rc;
}

/* --- reading entries --- */

/* The smallest key after every key that starts with `p` (false: there is none). */
static bool prefix_end(const struct hdb_buf *p, struct hdb_buf *out)
{
    if (hdb_buf_set(out, p->data, p->len) != HDB_OK) {
        return false;
    }
    while (out->len > 0 && out->data[out->len - 1] == 0xFF) {
        out->len--;
    }
    if (out->len == 0) {
        return false;
    }
    out->data[out->len - 1]++;
    return true;
}

struct entry_ctx {
    struct exec *x;
    struct rows *keys; /* the row keys the entries point to */
    struct hdb_buf last;
    uint32_t seen;
    int rc;
};

static bool entry_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                      uint32_t vlen)
{
    struct entry_ctx *e = ctx;
    struct hdb_value k = {.type = HDB_V_BLOB, .u.s = {val, vlen}};
    e->seen++;
    e->rc = hdb_buf_set(&e->last, key, klen) == HDB_OK
                ? value_keep(e->x, &k)
                : exec_fail(e->x, HDB_NOMEM, "out of memory");
    e->rc = e->rc == HDB_OK ? rows_push(e->x, e->keys, &k) : e->rc;
    return e->rc == HDB_OK;
}

/* The row keys of the entries whose keys start with `p` (at most `limit`, 0: all), in index
 * order. Reads the whole range, so the transaction's validation covers it. */
static int entries_with_prefix(struct exec *x, const struct hdb_schema_ix *ix,
                               const struct hdb_buf *p, uint32_t limit, struct rows *keys)
{
    struct hdb_buf hi = {0};
    bool bounded = prefix_end(p, &hi);
    struct entry_ctx e = {.x = x, .keys = keys};
    keys->ncols = 1;
    int rc = HDB_OK;
    for (bool first = true; rc == HDB_OK; first = false) {
        struct hdb_buf lo = {0}; /* then the smallest key after the last one */
        rc = buf_add(x, &lo, first ? p->data : e.last.data, first ? p->len : e.last.len);
        rc = rc == HDB_OK && !first ? buf_add(x, &lo, "", 1) : rc;
        if (rc != HDB_OK) {
            free(lo.data);
            break;
        }
        uint32_t page =
            limit != 0 && limit - keys->n < INDEX_PAGE_ROWS ? limit - keys->n : INDEX_PAGE_ROWS;
        e.seen = 0;
        rc = hdb_txn_scan(x->t, ix->entries, lo.data, (uint32_t)lo.len, bounded ? hi.data : NULL,
                          bounded ? (uint32_t)hi.len : 0, page, entry_row, &e, x->err);
        rc = rc == HDB_OK ? e.rc : rc;
        free(lo.data);
        if (e.seen < page || (limit != 0 && keys->n >= limit)) {
            break;
        }
    }
    free(hi.data);
    free(e.last.data);
    return rc;
}

/* --- uniqueness --- */

/* The stored row under `key`, copied into the arena, as the upsert's conflict row. */
static int note_conflict(struct exec *x, const struct hdb_schema_table *t, const uint8_t *key,
                         uint32_t klen)
{
    struct rows row = {0}, keys = {0};
    int rc = table_get_row(x, t, key, klen, &row, &keys);
    if (rc == HDB_NOTFOUND) {
        return exec_fail(x, HDB_CORRUPT, "an entry of an index of %s points to no row",
                         t->def->name);
    }
    if (rc == HDB_OK) {
        x->conflict_row = row.v;
        x->conflict_key = keys.v;
    }
    return rc;
}

int index_check_unique(struct exec *x, const struct hdb_schema_table *t,
                       const struct hdb_value *row, const uint8_t *self, uint32_t selflen)
{
    const struct hdb_table_def *d = t->def;
    struct hdb_buf k = {0}, val = {0};
    int rc = HDB_OK;
    for (uint32_t i = 0; rc == HDB_OK && i < t->nix; i++) {
        const struct hdb_schema_ix *ix = &t->ix[i];
        bool held = false, nulls = false;
        for (uint32_t c = 0; c < ix->key->ncols; c++) {
            nulls = nulls || row[ix->key->cols[c]].type == HDB_V_NULL; /* NULLs are never equal */
        }
        if (!ix->unique || nulls) {
            continue;
        }
        rc = entry_key(x, d, ix, row, NULL, 0, &k, &held);
        if (rc != HDB_OK || !held) {
            continue;
        }
        int g = hdb_txn_get(x->t, ix->entries, k.data, (uint32_t)k.len, &val, x->err);
        if (g == HDB_NOTFOUND) {
            continue;
        }
        rc = g;
        if (rc == HDB_OK &&
            (self == NULL || val.len != selflen || memcmp(val.data, self, selflen))) {
            rc = note_conflict(x, t, val.data, (uint32_t)val.len);
            rc = rc == HDB_OK ? exec_fail(x, HDB_CONSTRAINT, "UNIQUE constraint failed: %s",
                                          constraint_cols(x, d, ix->key))
                              : rc;
        }
    }
    free(k.data);
    hdb_buf_free(&val);
    return rc;
}

int index_populate(struct exec *x, const struct hdb_schema_table *t, const char *index)
{
    const struct hdb_schema_ix *ix = NULL;
    for (uint32_t i = 0; i < t->nix; i++) {
        if (t->ix[i].name != NULL && strcasecmp(t->ix[i].name, index) == 0 &&
            &t->ix[i] - t->ix >= (ptrdiff_t)t->def->nuniques) {
            ix = &t->ix[i];
        }
    }
    if (ix == NULL) {
        return exec_fail(x, HDB_ERROR, "index %s is not in the catalog of %s", index, t->def->name);
    }
    struct rows all = {0}, keys = {0};
    int rc = table_scan_all(x, t, &all, &keys);
    const struct hdb_schema_table one = {
        .def = t->def, .id = t->id, .rows = t->rows, .nix = 1, .ix = (struct hdb_schema_ix *)ix};
    for (uint32_t r = 0; rc == HDB_OK && r < all.n; r++) {
        const struct hdb_value *row = all.v + (size_t)r * all.ncols;
        const struct hdb_value *k = &keys.v[r];
        rc = index_check_unique(x, &one, row, k->u.s.p, k->u.s.len);
        rc =
            rc == HDB_OK ? index_update_row(x, &one, NULL, NULL, 0, row, k->u.s.p, k->u.s.len) : rc;
    }
    return rc;
}

/* --- equality lookups --- */

/* A pinned value an index may look up: a constant or parameter, not a CAST (whose affinity would
 * change how the comparison converts). */
static bool lookup_value(const struct hdb_sql_expr *e)
{
    return e->kind != HDB_EXPR_CAST;
}

const struct hdb_schema_ix *index_choose(const struct hdb_schema_table *t, const char *name,
                                         const struct hdb_sql_expr *where, uint32_t *npinned)
{
    const struct hdb_schema_ix *best = NULL;
    uint32_t best_n = 0;
    bool best_point = false;
    *npinned = 0;
    for (uint32_t i = 0; where != NULL && i < t->nix; i++) {
        const struct hdb_schema_ix *ix = &t->ix[i];
        if (!ix->lookup || ix->where != NULL) {
            continue; /* a partial index is used only once the planner proves WHERE implies it */
        }
        struct pk_pins pins = {0};
        find_pins(where, t->def, name, ix->key, &pins);
        uint32_t n = 0;
        while (n < ix->key->ncols && pins.value[n] != NULL && lookup_value(pins.value[n])) {
            n++;
        }
        bool point = ix->unique && n == ix->key->ncols;
        if (n > 0 &&
            (best == NULL || (point && !best_point) || (point == best_point && n > best_n))) {
            best = ix;
            best_n = n;
            best_point = point;
        }
    }
    *npinned = best_n;
    return best;
}

/* The table column an ORDER BY term names (-1: not a plain column of this table). */
static int32_t order_column(const struct hdb_schema_table *t, const char *name,
                            const struct hdb_sql_order_term *term)
{
    const struct hdb_sql_expr *e = term->expr;
    if (e->kind != HDB_EXPR_COLUMN || term->nulls != HDB_NULLS_DEFAULT ||
        (e->u.column.table.ptr != NULL && strcasecmp(e->u.column.table.ptr, name) != 0)) {
        return -1;
    }
    return hdb_table_column(t->def, e->u.column.column.ptr);
}

/* Do the columns of `k` from `from` on, read forward (or backward: *reverse), give ORDER BY
 * `order`? An empty ORDER BY takes any order. */
static bool key_orders(const struct hdb_schema_table *t, const char *name,
                       const struct hdb_key_def *k, uint32_t from, const struct hdb_sql_list *order,
                       bool *reverse)
{
    *reverse = false;
    if (from + order->n > k->ncols) {
        return false;
    }
    for (uint32_t i = 0; i < order->n; i++) {
        const struct hdb_sql_order_term *term = order->items[i];
        int32_t c = order_column(t, name, term);
        if (c < 0 || (uint32_t)c != k->cols[from + i]) {
            return false;
        }
        bool back = (term->order == HDB_ORDER_DESC) != k->desc[from + i];
        if (i > 0 && back != *reverse) {
            return false;
        }
        *reverse = back;
    }
    return true;
}

bool scan_orders(const struct hdb_schema_table *t, const char *name,
                 const struct hdb_sql_list *order)
{
    const struct hdb_table_def *d = t->def;
    const struct hdb_key_def rowid_pk = {.ncols = 1, .cols = {(uint32_t)d->rowid_col}};
    bool reverse = false;
    if (order->n == 0) {
        return true;
    }
    if (d->rowid_col < 0 && d->pk.ncols == 0) {
        return false; /* keyed by a hidden rowid no ORDER BY term names */
    }
    return key_orders(t, name, d->rowid_col >= 0 ? &rowid_pk : &d->pk, 0, order, &reverse) &&
           !reverse;
}

/* Is every condition of WHERE one of the pins the lookup used (so no row needs checking)? */
static bool where_consumed(const struct hdb_sql_expr *e, const struct hdb_schema_table *t,
                           const char *name, const struct hdb_key_def *k, uint32_t n,
                           const struct pk_pins *pins)
{
    if (e == NULL) {
        return true;
    }
    if (e->kind != HDB_EXPR_BINARY) {
        return false;
    }
    if (e->u.binary.op == HDB_OP_AND) {
        return where_consumed(e->u.binary.left, t, name, k, n, pins) &&
               where_consumed(e->u.binary.right, t, name, k, n, pins);
    }
    if (e->u.binary.op != HDB_OP_EQ) {
        return false;
    }
    const struct hdb_sql_expr *col = e->u.binary.left, *val = e->u.binary.right;
    if (col->kind != HDB_EXPR_COLUMN) {
        col = e->u.binary.right;
        val = e->u.binary.left;
    }
    if (col->kind != HDB_EXPR_COLUMN ||
        (col->u.column.table.ptr != NULL && strcasecmp(col->u.column.table.ptr, name) != 0)) {
        return false;
    }
    int32_t c = hdb_table_column(t->def, col->u.column.column.ptr);
    for (uint32_t i = 0; c >= 0 && i < n; i++) {
        if (k->cols[i] == (uint32_t)c && pins->value[i] == val) {
            return true;
        }
    }
    return false;
}

int table_index_read(struct exec *x, const struct hdb_schema_table *t, const char *name,
                     const struct hdb_sql_expr *where, const struct access_hint *hint,
                     struct rows *out, struct rows *keys, bool *done)
{
    const struct hdb_table_def *d = t->def;
    uint32_t n = 0;
    const struct hdb_schema_ix *ix = index_choose(t, name, where, &n);
    *done = false;
    if (ix == NULL) {
        return HDB_OK;
    }
    struct pk_pins pins = {0};
    find_pins(where, d, name, ix->key, &pins);
    struct hdb_buf p = {0}, val = {0};
    int rc = HDB_OK;
    bool none = false; /* a pinned NULL: no row can be equal */
    for (uint32_t i = 0; rc == HDB_OK && i < n && !none; i++) {
        struct hdb_value v;
        char buf[32];
        rc = scope_eval(x, NULL, pins.value[i], &v);
        hdb_value_apply(&v, d->cols[ix->key->cols[i]].affinity, buf);
        none = v.type == HDB_V_NULL;
        rc = rc == HDB_OK && !none ? hdb_key_append(&p, &v, ix->key->desc[i], x->err) : rc;
    }
    out->ncols = d->ncols;
    if (keys != NULL) {
        keys->ncols = 1;
    }
    struct rows rks = {0};
    rks.ncols = 1;
    if (rc == HDB_OK && !none && ix->unique && n == ix->key->ncols) {
        int g = hdb_txn_get(x->t, ix->entries, p.data, (uint32_t)p.len, &val, x->err);
        struct hdb_value k = {.type = HDB_V_BLOB, .u.s = {val.data, (uint32_t)val.len}};
        rc = g == HDB_OK ? value_keep(x, &k) : g == HDB_NOTFOUND ? HDB_OK : g;
        rc = rc == HDB_OK && g == HDB_OK ? rows_push(x, &rks, &k) : rc;
    } else if (rc == HDB_OK && !none) {
        rc = entries_with_prefix(x, ix, &p, 0, &rks);
    }
    bool reverse = false;
    if (rc == HDB_OK && hint != NULL && hint->max_rows > 0 &&
        key_orders(t, name, ix->key, n, hint->order, &reverse) &&
        where_consumed(where, t, name, ix->key, n, &pins)) {
        /* Only the first rows in the query's order are needed: fetch just those. */
        for (uint32_t a = 0, b = rks.n; reverse && a + 1 < b; a++, b--) {
            struct hdb_value tmp = rks.v[a];
            rks.v[a] = rks.v[b - 1];
            rks.v[b - 1] = tmp;
        }
        rks.n = hint->max_rows < rks.n ? (uint32_t)hint->max_rows : rks.n;
    }
    uint32_t missing = 0;
    rc = rc == HDB_OK ? table_get_rows(x, t, &rks, out, keys, &missing) : rc;
    if (rc == HDB_OK && missing > 0) {
        rc = exec_fail(x, HDB_CORRUPT, "%u entries of index %s of %s point to no row", missing,
                       ix->name != NULL ? ix->name : "(UNIQUE)", d->name);
    }
    hdb_buf_free(&val);
    free(p.data);
    *done = rc == HDB_OK;
    return rc;
}
