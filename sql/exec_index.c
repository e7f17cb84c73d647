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
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bytes.h"
#include "core/log.h"
#include "sql/exec_int.h"
#include "sql/parser.h"

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

/* The entry key of `row` (not NULL) in `ix`; *held is false when a partial index leaves it out;
 * *local (may be NULL) says it carries the row key and so lives on the row's shard. */
static int entry_key(struct exec *x, const struct hdb_table_def *d, const struct hdb_schema_ix *ix,
                     const struct hdb_value *row, const uint8_t *rk, uint32_t rklen,
                     struct hdb_buf *out, bool *held, bool *local)
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
    if (local != NULL) {
        *local = !ix->unique || nulls;
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
        bool had = false, has = false, old_local = false, new_local = false;
        rc =
            old != NULL ? entry_key(x, t->def, ix, old, okey, oklen, &a, &had, &old_local) : HDB_OK;
        rc = rc == HDB_OK && row != NULL
                 ? entry_key(x, t->def, ix, row, nkey, nklen, &b, &has, &new_local)
                 : rc;
        bool same_key = had && has && a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
        bool same_val = oklen == nklen && (oklen == 0 || memcmp(okey, nkey, oklen) == 0);
        if (rc != HDB_OK || (same_key && same_val)) {
            continue;
        }
        /* Entries that carry the row key live on the row's shard (a one-shard commit with the
         * row); a unique entry lives where its own key hashes, where its check reads it. */
        if (had && !same_key) {
            rc = old_local
                     ? hdb_txn_delete_at(x->t, ix->entries, hdb_kv_shard_of(x->db, okey, oklen),
                                         a.data, (uint32_t)a.len, x->err)
                     : hdb_txn_delete(x->t, ix->entries, a.data, (uint32_t)a.len, x->err);
        }
        if (rc == HDB_OK && has) {
            rc = new_local
                     ? hdb_txn_put_at(x->t, ix->entries, hdb_kv_shard_of(x->db, nkey, nklen),
                                      b.data, (uint32_t)b.len, nkey, nklen, x->err)
                     : hdb_txn_put(x->t, ix->entries, b.data, (uint32_t)b.len, nkey, nklen, x->err);
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
    int rc;
};

static bool entry_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                      uint32_t vlen)
{
    struct entry_ctx *e = ctx;
    struct hdb_value k = {.type = HDB_V_BLOB, .u.s = {val, vlen}};
    (void)key;
    (void)klen;
    e->rc = value_keep(e->x, &k);
    e->rc = e->rc == HDB_OK ? rows_push(e->x, e->keys, &k) : e->rc;
    return e->rc == HDB_OK;
}

/* The row keys of the entries with lo <= key < hi (hi NULL: no end), in index order. Reads the
 * whole range, so the transaction's validation covers it. */
static int entries_in_range(struct exec *x, const struct hdb_schema_ix *ix,
                            const struct hdb_buf *lo, const struct hdb_buf *hi, struct rows *keys)
{
    struct entry_ctx e = {.x = x, .keys = keys};
    keys->ncols = 1;
    int rc = scan_paged(x, ix->entries, lo->data, (uint32_t)lo->len, hi != NULL ? hi->data : NULL,
                        hi != NULL ? (uint32_t)hi->len : 0, 0, entry_row, &e);
    return rc == HDB_OK ? e.rc : rc;
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
        rc = entry_key(x, d, ix, row, NULL, 0, &k, &held, NULL);
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

/*
 * Building an index. Its entries go to a key-value table named after its catalog id, which no
 * other statement reads until the catalog change commits. A build first empties that table
 * through a connection of its own (a crashed or failed build with the same id, which a rolled
 * back CREATE hands out again, may have left entries there). In autocommit the entries are then
 * written by that connection in transactions of INDEX_BATCH_WRITES, while the statement's own
 * transaction reads every row of the table, page by page: the size of the table does not matter,
 * and if any row changes before the statement commits, its validation fails and the statement
 * runs again (which empties the table again). Inside BEGIN ... COMMIT the entries go through the
 * transaction itself (so its later statements see them), within its write limit.
 */
#define INDEX_BATCH_WRITES 10000u
#define INDEX_PAGE_ROWS    1024u
#define INDEX_CLEAR_KEYS   4096u

struct side {
    struct hdb_conn *conn;
    struct hdb_txn *t;
    uint32_t writes; /* in the open transaction */
};

static int side_begin(struct exec *x, struct side *sd)
{
    sd->writes = 0;
    return hdb_txn_begin(sd->conn, &sd->t, x->err);
}

static int side_commit(struct exec *x, struct side *sd)
{
    struct hdb_txn *t = sd->t;
    sd->t = NULL;
    return hdb_txn_commit(t, x->err);
}

static void side_close(struct side *sd)
{
    if (sd->t != NULL) {
        hdb_txn_rollback(sd->t);
    }
    if (sd->conn != NULL) {
        hdb_db_disconnect(sd->conn);
    }
}

/* One shard's keys of an entries table, collected by a fold on that shard. */
struct clear_part {
    uint8_t *keys[INDEX_CLEAR_KEYS];
    uint32_t lens[INDEX_CLEAR_KEYS];
    uint32_t n;
    bool more;
};

static int clear_fold(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val,
                      uint32_t vlen, struct hdb_err *err)
{
    struct clear_part *p = ctx;
    (void)val;
    (void)vlen;
    if (key == NULL || p->n == INDEX_CLEAR_KEYS) {
        p->more = p->more || key != NULL;
        return HDB_OK;
    }
    p->keys[p->n] = malloc(klen > 0 ? klen : 1);
    if (p->keys[p->n] == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory");
    }
    memcpy(p->keys[p->n], key, klen);
    p->lens[p->n++] = klen;
    return HDB_OK;
}

/* Deletes every entry of `entries` (each where it lives), a batch per transaction; *cleared
 * counts them. */
static int side_clear(struct exec *x, struct side *sd, struct hdb_table *entries, uint64_t *cleared)
{
    uint32_t n = x->nshards;
    struct clear_part *parts = calloc(n, sizeof *parts);
    void **ctxs = calloc(n, sizeof *ctxs);
    int rc = parts != NULL && ctxs != NULL ? HDB_OK : exec_fail(x, HDB_NOMEM, "out of memory");
    for (bool more = true; rc == HDB_OK && more;) {
        more = false;
        for (uint32_t s = 0; s < n; s++) {
            parts[s] = (struct clear_part){0};
            ctxs[s] = &parts[s];
        }
        rc = side_begin(x, sd);
        rc = rc == HDB_OK ? hdb_txn_fold(sd->t, entries, NULL, 0, NULL, 0, clear_fold, ctxs, x->err)
                          : rc;
        for (uint32_t s = 0; s < n; s++) {
            for (uint32_t k = 0; k < parts[s].n; k++) {
                if (rc == HDB_OK) {
                    rc = hdb_txn_delete_at(sd->t, entries, s, parts[s].keys[k], parts[s].lens[k],
                                           x->err);
                    more = true;
                    (*cleared)++;
                }
                free(parts[s].keys[k]);
            }
        }
        rc = rc == HDB_OK ? side_commit(x, sd) : rc;
    }
    free(parts);
    free(ctxs);
    return rc;
}

/* The entries of the table's rows, page by page: rows read through the statement's transaction,
 * entries written through `sd` when it is set (autocommit), else through the statement's. */
static int index_fill(struct exec *x, const struct hdb_schema_table *t,
                      const struct hdb_schema_table *one, struct side *sd)
{
    struct exec bx = *x;
    if (sd != NULL) {
        bx.t = sd->t;
        bx.conn = sd->conn;
    }
    struct hdb_sql_arena *outer = x->arena;
    uint8_t last[HDB_KEY_BYTES_MAX + 1];
    uint32_t lastlen = 0, n = INDEX_PAGE_ROWS;
    int rc = HDB_OK;
    for (bool first = true; rc == HDB_OK && n == INDEX_PAGE_ROWS; first = false) {
        struct hdb_sql_arena page = {.limit = outer->limit};
        struct rows all = {0}, keys = {0};
        uint64_t held = x->rows_held;
        x->arena = bx.arena = &page;
        rc = table_scan_range(x, t, first ? NULL : last, first ? 0 : lastlen, NULL, 0,
                              INDEX_PAGE_ROWS, &all, &keys);
        n = rc == HDB_OK ? all.n : 0;
        for (uint32_t r = 0; rc == HDB_OK && r < n; r++) {
            const struct hdb_value *row = all.v + (size_t)r * all.ncols;
            const struct hdb_value *k = &keys.v[r];
            rc = index_check_unique(&bx, one, row, k->u.s.p, k->u.s.len);
            rc = rc == HDB_OK ? index_update_row(&bx, one, NULL, NULL, 0, row, k->u.s.p, k->u.s.len)
                              : rc;
            if (rc == HDB_OK && sd != NULL && ++sd->writes == INDEX_BATCH_WRITES) {
                rc = side_commit(x, sd);
                rc = rc == HDB_OK ? side_begin(x, sd) : rc;
                bx.t = sd->t;
            }
        }
        if (rc == HDB_OK && n > 0) { /* the smallest key after the page's last */
            memcpy(last, keys.v[n - 1].u.s.p, keys.v[n - 1].u.s.len);
            last[keys.v[n - 1].u.s.len] = 0;
            lastlen = keys.v[n - 1].u.s.len + 1;
        }
        if (rc != HDB_OK && page.over_limit) {
            outer->over_limit = true;
        }
        x->arena = outer;
        x->rows_held = held;
        hdb_sql_arena_free(&page);
    }
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
    const struct hdb_schema_table one = {
        .def = t->def, .id = t->id, .rows = t->rows, .nix = 1, .ix = (struct hdb_schema_ix *)ix};
    struct side sd = {0};
    uint64_t cleared = 0;
    int rc = hdb_db_connect(x->db, &sd.conn, x->err);
    rc = rc == HDB_OK ? side_clear(x, &sd, ix->entries, &cleared) : rc;
    if (rc == HDB_OK && cleared > 0 && !x->autocommit) {
        /* this transaction's snapshot still sees what was cleared: a new one will not */
        rc = exec_fail(x, HDB_CONFLICT,
                       "index %s: entries of an earlier failed build were cleared; run the "
                       "transaction again",
                       index);
    }
    rc = rc == HDB_OK && x->autocommit ? side_begin(x, &sd) : rc;
    rc = rc == HDB_OK ? index_fill(x, t, &one, x->autocommit ? &sd : NULL) : rc;
    rc = rc == HDB_OK && x->autocommit ? side_commit(x, &sd) : rc;
    if (cleared > 0) {
        hdb_log(HDB_LOG_INFO, "CREATE INDEX %s: %" PRIu64 " entries of an earlier build cleared",
                index, cleared);
    }
    side_close(&sd);
    return rc;
}

/* --- equality lookups --- */

/* A pinned value an index may look up: a constant or parameter, not a CAST (whose affinity would
 * change how the comparison converts). */
static bool lookup_value(const struct hdb_sql_expr *e)
{
    return e->kind != HDB_EXPR_CAST;
}

/* The column of a bound condition if it is `col` of this table, else -1. */
static int32_t bound_column(const struct hdb_sql_expr *e, const struct hdb_table_def *d,
                            const char *name)
{
    if (e->kind != HDB_EXPR_COLUMN ||
        (e->u.column.table.ptr != NULL && strcasecmp(e->u.column.table.ptr, name) != 0)) {
        return -1;
    }
    return hdb_table_column(d, e->u.column.column.ptr);
}

/* Collects bounds on column `col` from the conjuncts of WHERE (the first of each side wins; rows
 * are filtered by the whole WHERE afterwards, so a looser bound is never wrong). */
static void find_range(const struct hdb_sql_expr *e, const struct hdb_table_def *d,
                       const char *name, uint32_t col, struct col_range *r)
{
    if (e == NULL) {
        return;
    }
    if (e->kind == HDB_EXPR_BETWEEN && !e->u.between.negated &&
        bound_column(e->u.between.operand, d, name) == (int32_t)col &&
        column_free(e->u.between.low) && column_free(e->u.between.high) &&
        lookup_value(e->u.between.low) && lookup_value(e->u.between.high) && r->lo == NULL &&
        r->hi == NULL) {
        *r = (struct col_range){
            .lo = e->u.between.low, .hi = e->u.between.high, .lo_cond = e, .hi_cond = e};
        return;
    }
    if (e->kind != HDB_EXPR_BINARY) {
        return;
    }
    enum hdb_sql_binary_op op = e->u.binary.op;
    if (op == HDB_OP_AND) {
        find_range(e->u.binary.left, d, name, col, r);
        find_range(e->u.binary.right, d, name, col, r);
        return;
    }
    if (op != HDB_OP_LT && op != HDB_OP_LE && op != HDB_OP_GT && op != HDB_OP_GE) {
        return;
    }
    const struct hdb_sql_expr *c = e->u.binary.left, *v = e->u.binary.right;
    bool flipped = false; /* v op col */
    if (bound_column(c, d, name) != (int32_t)col) {
        c = e->u.binary.right;
        v = e->u.binary.left;
        flipped = true;
    }
    if (bound_column(c, d, name) != (int32_t)col || !column_free(v) || !lookup_value(v)) {
        return;
    }
    bool lower = (op == HDB_OP_GT || op == HDB_OP_GE) != flipped; /* col > v, v < col */
    bool strict = op == HDB_OP_GT || op == HDB_OP_LT;
    if (lower && r->lo == NULL) {
        r->lo = v;
        r->lo_strict = strict;
        r->lo_cond = e;
    } else if (!lower && r->hi == NULL) {
        r->hi = v;
        r->hi_strict = strict;
        r->hi_cond = e;
    }
}

/* Is `c` (printed) one of the AND-ed conditions of `e`? */
static bool has_conjunct(const struct hdb_sql_expr *e, const char *c)
{
    if (e == NULL) {
        return false;
    }
    if (e->kind == HDB_EXPR_BINARY && e->u.binary.op == HDB_OP_AND) {
        return has_conjunct(e->u.binary.left, c) || has_conjunct(e->u.binary.right, c);
    }
    char buf[512];
    size_t n = hdb_sql_print_expr(e, buf, sizeof buf);
    return n < sizeof buf && strcasecmp(buf, c) == 0;
}

/* Does WHERE imply a partial index's condition: is each of its AND-ed conditions, as written
 * (printed the same way), one of WHERE's? Then every row WHERE accepts is in the index. */
static bool implies(const struct hdb_sql_expr *where, const struct hdb_sql_expr *cond)
{
    if (cond->kind == HDB_EXPR_BINARY && cond->u.binary.op == HDB_OP_AND) {
        return implies(where, cond->u.binary.left) && implies(where, cond->u.binary.right);
    }
    char buf[512];
    size_t n = hdb_sql_print_expr(cond, buf, sizeof buf);
    return n < sizeof buf && has_conjunct(where, buf);
}

const struct hdb_schema_ix *index_choose(const struct hdb_schema_table *t, const char *name,
                                         const struct hdb_sql_expr *where, uint32_t *npinned,
                                         struct col_range *range)
{
    const struct hdb_schema_ix *best = NULL;
    uint32_t best_n = 0;
    bool best_point = false, best_range = false;
    struct col_range best_r = {0};
    *npinned = 0;
    for (uint32_t i = 0; where != NULL && i < t->nix; i++) {
        const struct hdb_schema_ix *ix = &t->ix[i];
        if (!ix->lookup || (ix->where != NULL && !implies(where, ix->where))) {
            continue; /* a partial index serves only a WHERE that implies its condition */
        }
        struct pk_pins pins = {0};
        find_pins(where, t->def, name, ix->key, &pins);
        uint32_t n = 0;
        while (n < ix->key->ncols && pins.value[n] != NULL && lookup_value(pins.value[n])) {
            n++;
        }
        bool point = ix->unique && n == ix->key->ncols;
        struct col_range r = {0};
        if (n < ix->key->ncols) {
            find_range(where, t->def, name, ix->key->cols[n], &r);
        }
        bool ranged = r.lo != NULL || r.hi != NULL;
        bool better =
            best == NULL || (point && !best_point) ||
            (point == best_point && (n > best_n || (n == best_n && ranged && !best_range)));
        if ((n > 0 || ranged) && better) {
            best = ix;
            best_n = n;
            best_point = point;
            best_range = ranged;
            best_r = r;
        }
    }
    *npinned = best_n;
    if (range != NULL) {
        *range = best_r;
    }
    return best;
}

bool key_range_of(const struct hdb_schema_table *t, const char *name,
                  const struct hdb_sql_expr *where, struct col_range *range)
{
    const struct hdb_table_def *d = t->def;
    int32_t col = d->rowid_col >= 0 ? d->rowid_col : d->pk.ncols > 0 ? (int32_t)d->pk.cols[0] : -1;
    *range = (struct col_range){0};
    if (col < 0 || where == NULL ||
        (d->cols[col].collation != NULL && strcasecmp(d->cols[col].collation, "BINARY") != 0)) {
        return false;
    }
    find_range(where, d, name, (uint32_t)col, range);
    return range->lo != NULL || range->hi != NULL;
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
        bool desc = term->order == HDB_ORDER_DESC;
        bool nulls_moved = term->nulls == (desc ? HDB_NULLS_FIRST : HDB_NULLS_LAST);
        if (c < 0 || (uint32_t)c != k->cols[from + i] || nulls_moved) {
            return false; /* (NULLs sort first in a key: NULLS LAST on ASC needs a sort) */
        }
        bool back = (term->order == HDB_ORDER_DESC) != k->desc[from + i];
        if (i > 0 && back != *reverse) {
            return false;
        }
        *reverse = back;
    }
    return true;
}

bool index_orders(const struct hdb_schema_table *t, const char *name,
                  const struct hdb_schema_ix *ix, uint32_t n, const struct hdb_sql_list *order)
{
    bool reverse = false;
    return key_orders(t, name, ix->key, n, order, &reverse);
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
    const struct hdb_key_def *k = d->rowid_col >= 0 ? &rowid_pk : &d->pk;
    for (uint32_t i = 0; i < order->n && i < k->ncols; i++) {
        const char *coll = d->cols[k->cols[i]].collation;
        if (coll != NULL && strcasecmp(coll, "BINARY") != 0) {
            return false; /* keys are in binary order, the ORDER BY is not */
        }
    }
    return key_orders(t, name, k, 0, order, &reverse) && !reverse;
}

/* Is every condition of WHERE one of the pins the lookup used, or one of the exact bounds of
 * `r` (may be NULL), so that no row needs checking? */
static bool where_consumed(const struct hdb_sql_expr *e, const struct hdb_schema_table *t,
                           const char *name, const struct hdb_key_def *k, uint32_t n,
                           const struct pk_pins *pins, const struct col_range *r)
{
    if (e == NULL) {
        return true;
    }
    if (r != NULL && (e == r->lo_cond || e == r->hi_cond)) {
        return true;
    }
    if (e->kind != HDB_EXPR_BINARY) {
        return false;
    }
    if (e->u.binary.op == HDB_OP_AND) {
        return where_consumed(e->u.binary.left, t, name, k, n, pins, r) &&
               where_consumed(e->u.binary.right, t, name, k, n, pins, r);
    }
    if (e->u.binary.op != HDB_OP_EQ || k == NULL) {
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

/* A bound's value as the column compares it (NULL: no row can satisfy the bound). */
static int bound_value(struct exec *x, const struct hdb_sql_expr *e, enum hdb_affinity aff,
                       struct hdb_value *v)
{
    char buf[32];
    int rc = scope_eval(x, NULL, e, v);
    hdb_value_apply(v, aff, buf);
    return rc == HDB_OK ? value_keep(x, v) : rc;
}

/*
 * Key bytes [lo, hi) that hold every key starting with `p` followed by a value of the column in
 * `r` (an inclusive superset: the rows are filtered by WHERE afterwards). `desc`: the column is
 * stored inverted, so the bounds swap. *none when a bound is NULL.
 */
static int range_keys(struct exec *x, const struct hdb_buf *p, const struct col_range *r,
                      enum hdb_affinity aff, bool desc, struct hdb_buf *lo, struct hdb_buf *hi,
                      bool *bounded, bool *none)
{
    const struct hdb_sql_expr *from = desc ? r->hi : r->lo, *to = desc ? r->lo : r->hi;
    struct hdb_value v;
    int rc = buf_add(x, lo, p->data, p->len);
    *none = false;
    if (rc == HDB_OK && from != NULL) {
        rc = bound_value(x, from, aff, &v);
        *none = v.type == HDB_V_NULL;
        rc = rc == HDB_OK && !*none ? hdb_key_append(lo, &v, desc, x->err) : rc;
    }
    struct hdb_buf upto = {0};
    rc = rc == HDB_OK ? buf_add(x, &upto, p->data, p->len) : rc;
    if (rc == HDB_OK && to != NULL && !*none) {
        rc = bound_value(x, to, aff, &v);
        *none = v.type == HDB_V_NULL;
        rc = rc == HDB_OK && !*none ? hdb_key_append(&upto, &v, desc, x->err) : rc;
    }
    *bounded = rc == HDB_OK && upto.len > 0 && prefix_end(&upto, hi);
    free(upto.data);
    return rc;
}

/* The rows of a range of the table's own key (see key_range_of). Rowid bounds are exact, so
 * a LIMIT may stop the scan early; others are inclusive supersets. */
static int key_range_read(struct exec *x, const struct hdb_schema_table *t, const char *name,
                          const struct hdb_sql_expr *where, struct access_hint *hint,
                          const struct col_range *r, struct rows *out, struct rows *keys)
{
    const struct hdb_table_def *d = t->def;
    struct hdb_buf lo = {0}, hi = {0};
    bool bounded = false, none = false, exact = false;
    int rc = HDB_OK;
    if (d->rowid_col >= 0) {
        int64_t from = INT64_MIN, to = INT64_MAX; /* rowids from <= id < to, or to unbounded */
        bool open_end = true;
        exact = true;
        struct hdb_value v;
        if (r->lo != NULL) {
            rc = bound_value(x, r->lo, HDB_AFF_INTEGER, &v);
            if (v.type == HDB_V_INT) {
                none = r->lo_strict && v.u.i == INT64_MAX;
                from = r->lo_strict && !none ? v.u.i + 1 : v.u.i;
            } else if (v.type == HDB_V_REAL && v.u.r > -9.2e18 && v.u.r < 9.2e18) {
                from = (int64_t)floor(v.u.r);
                exact = false;
            } else if (v.type == HDB_V_REAL) {
                none = v.u.r >= 9.2e18;
                exact = false;
            } else {
                none = true; /* NULL, or text and blobs, which no integer exceeds */
            }
        }
        if (r->hi != NULL && rc == HDB_OK) {
            rc = bound_value(x, r->hi, HDB_AFF_INTEGER, &v);
            if (v.type == HDB_V_INT) {
                none = none || (r->hi_strict && v.u.i == INT64_MIN);
                to = r->hi_strict ? v.u.i : v.u.i;
                open_end = !r->hi_strict && v.u.i == INT64_MAX;
                to = !r->hi_strict && !open_end ? v.u.i + 1 : to;
            } else if (v.type == HDB_V_REAL && v.u.r > -9.2e18 && v.u.r < 9.2e18) {
                to = (int64_t)floor(v.u.r) + 1;
                open_end = false;
                exact = false;
            } else if (v.type == HDB_V_REAL) {
                none = none || v.u.r <= -9.2e18;
                exact = false;
            } else {
                none = none || v.type == HDB_V_NULL; /* every integer is below text and blobs */
                exact = exact && v.type != HDB_V_NULL;
            }
        }
        none = none || (!open_end && from >= to);
        uint8_t k[8];
        rowid_key(from, k);
        rc = rc == HDB_OK ? buf_add(x, &lo, k, 8) : rc;
        rowid_key(to, k);
        bounded = !open_end;
        rc = rc == HDB_OK && bounded ? buf_add(x, &hi, k, 8) : rc;
    } else {
        struct hdb_buf empty = {0};
        uint32_t col = d->pk.cols[0];
        rc = range_keys(x, &empty, r, d->cols[col].affinity, d->pk.desc[0], &lo, &hi, &bounded,
                        &none);
    }
    uint64_t max = 0;
    bool in_order = hint != NULL && hint->usable && scan_orders(t, name, hint->order);
    if (rc == HDB_OK && in_order) {
        hint->ordered = true; /* a range of the key comes in key order */
    }
    if (rc == HDB_OK && in_order && exact && hint->max_rows > 0 &&
        where_consumed(where, t, name, NULL, 0, NULL, r)) {
        max = hint->max_rows; /* the range is exactly WHERE and in ORDER BY order */
    }
    out->ncols = d->ncols;
    if (keys != NULL) {
        keys->ncols = 1;
    }
    if (rc == HDB_OK && !none) {
        rc = table_scan_range(x, t, lo.data, (uint32_t)lo.len, bounded ? hi.data : NULL,
                              bounded ? (uint32_t)hi.len : 0, max, out, keys);
    }
    free(lo.data);
    free(hi.data);
    return rc;
}

int table_index_read(struct exec *x, const struct hdb_schema_table *t, const char *name,
                     const struct hdb_sql_expr *where, struct access_hint *hint,
                     struct hdb_sql_plan *plan, struct rows *out, struct rows *keys, bool *done)
{
    const struct hdb_table_def *d = t->def;
    uint32_t n = 0;
    struct col_range r = {0}, kr = {0};
    const struct hdb_schema_ix *ix = NULL;
    bool key_range = false;
    *done = false;
    if (plan != NULL && plan->version == x->schema->version + 1 && plan->table == t->id) {
        /* kept from an earlier execution of this prepared statement */
        ix = plan->index >= 0 ? &t->ix[plan->index] : NULL;
        n = plan->npinned;
        key_range = plan->key_range;
        struct col_range *pr = key_range ? &kr : &r;
        *pr = (struct col_range){.lo = plan->lo,
                                 .hi = plan->hi,
                                 .lo_cond = plan->lo_cond,
                                 .hi_cond = plan->hi_cond,
                                 .lo_strict = plan->lo_strict,
                                 .hi_strict = plan->hi_strict};
    } else {
        ix = index_choose(t, name, where, &n, &r);
        key_range = (ix == NULL || n == 0) && key_range_of(t, name, where, &kr);
        ix = key_range ? NULL : ix;
        if (plan != NULL) {
            const struct col_range *pr = key_range ? &kr : &r;
            *plan = (struct hdb_sql_plan){.version = x->schema->version + 1,
                                          .table = t->id,
                                          .index = ix != NULL ? (int32_t)(ix - t->ix) : -1,
                                          .npinned = n,
                                          .key_range = key_range,
                                          .lo = pr->lo,
                                          .hi = pr->hi,
                                          .lo_cond = pr->lo_cond,
                                          .hi_cond = pr->hi_cond,
                                          .lo_strict = pr->lo_strict,
                                          .hi_strict = pr->hi_strict};
        }
    }
    if (key_range) {
        *done = true; /* a range of the key beats a range of an index: no second read per row */
        return key_range_read(x, t, name, where, hint, &kr, out, keys);
    }
    if (ix == NULL) {
        return HDB_OK;
    }
    bool ranged = r.lo != NULL || r.hi != NULL;
    struct pk_pins pins = {0};
    find_pins(where, d, name, ix->key, &pins);
    struct hdb_buf p = {0}, val = {0}, lo = {0}, hi = {0};
    int rc = HDB_OK;
    bool none = false; /* a pinned NULL: no row can be equal */
    for (uint32_t i = 0; rc == HDB_OK && i < n && !none; i++) {
        struct hdb_value v;
        rc = bound_value(x, pins.value[i], d->cols[ix->key->cols[i]].affinity, &v);
        none = v.type == HDB_V_NULL;
        rc = rc == HDB_OK && !none ? hdb_key_append(&p, &v, ix->key->desc[i], x->err) : rc;
    }
    out->ncols = d->ncols;
    if (keys != NULL) {
        keys->ncols = 1;
    }
    struct rows rks = {0};
    rks.ncols = 1;
    bool bounded = false;
    if (rc == HDB_OK && !none && ix->unique && n == ix->key->ncols) {
        int g = hdb_txn_get(x->t, ix->entries, p.data, (uint32_t)p.len, &val, x->err);
        struct hdb_value k = {.type = HDB_V_BLOB, .u.s = {val.data, (uint32_t)val.len}};
        rc = g == HDB_OK ? value_keep(x, &k) : g == HDB_NOTFOUND ? HDB_OK : g;
        rc = rc == HDB_OK && g == HDB_OK ? rows_push(x, &rks, &k) : rc;
    } else if (rc == HDB_OK && !none && ranged) {
        uint32_t col = ix->key->cols[n];
        rc = range_keys(x, &p, &r, d->cols[col].affinity, ix->key->desc[n], &lo, &hi, &bounded,
                        &none);
        rc = rc == HDB_OK && !none ? entries_in_range(x, ix, &lo, bounded ? &hi : NULL, &rks) : rc;
    } else if (rc == HDB_OK && !none) {
        bounded = prefix_end(&p, &hi);
        rc = entries_in_range(x, ix, &p, bounded ? &hi : NULL, &rks);
    }
    bool reverse = false;
    if (rc == HDB_OK && hint != NULL && hint->usable &&
        key_orders(t, name, ix->key, n, hint->order, &reverse)) {
        /* The entries are in the query's order (read backward if need be): no sort, and when no
         * condition is left to check, only the first LIMIT + OFFSET rows are fetched. */
        for (uint32_t a = 0, b = rks.n; reverse && a + 1 < b; a++, b--) {
            struct hdb_value tmp = rks.v[a];
            rks.v[a] = rks.v[b - 1];
            rks.v[b - 1] = tmp;
        }
        hint->ordered = true;
        if (hint->max_rows > 0 && !ranged &&
            where_consumed(where, t, name, ix->key, n, &pins, NULL)) {
            rks.n = hint->max_rows < rks.n ? (uint32_t)hint->max_rows : rks.n;
        }
    }
    uint32_t missing = 0;
    rc = rc == HDB_OK ? table_get_rows(x, t, &rks, out, keys, &missing) : rc;
    if (rc == HDB_OK && missing > 0) {
        rc = exec_fail(x, HDB_CORRUPT, "%u entries of index %s of %s point to no row", missing,
                       ix->name != NULL ? ix->name : "(UNIQUE)", d->name);
    }
    hdb_buf_free(&val);
    free(p.data);
    free(lo.data);
    free(hi.data);
    *done = rc == HDB_OK;
    return rc;
}
