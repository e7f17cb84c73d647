/*
 * ast.c — the arena the syntax tree lives in, and arena-backed lists
 * (see ast.h).
 *
 * The arena is a list of chunks; allocations bump a cursor in the newest
 * chunk and a request that does not fit starts a new chunk (a request larger
 * than a chunk gets one of its own size). The total is bounded by
 * HDB_SQL_ARENA_BYTES_MAX.
 */
#include "sql/ast.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct hdb_sql_arena_chunk {
    struct hdb_sql_arena_chunk *next;
    size_t cap;
    size_t used;
    max_align_t data[];
};

#define ALIGN_BYTES (sizeof(max_align_t))

void *hdb_sql_arena_alloc(struct hdb_sql_arena *a, size_t bytes, int *rc)
{
    assert(a != NULL);
    assert(rc != NULL);
    size_t need = (bytes + ALIGN_BYTES - 1) / ALIGN_BYTES * ALIGN_BYTES;
    if (need == 0) {
        need = ALIGN_BYTES;
    }
    struct hdb_sql_arena_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > HDB_SQL_ARENA_CHUNK_BYTES ? need : HDB_SQL_ARENA_CHUNK_BYTES;
        size_t total = sizeof *c + cap;
        size_t max = a->limit != 0 ? a->limit : HDB_SQL_ARENA_BYTES_MAX;
        if (bytes > max || a->used_bytes + total > max) {
            a->over_limit = a->limit != 0;
            *rc = HDB_TOOBIG;
            return NULL;
        }
        c = malloc(total);
        if (c == NULL) {
            *rc = HDB_NOMEM;
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->used_bytes += total;
    }
    void *p = (char *)c->data + c->used;
    c->used += need;
    memset(p, 0, bytes);
    return p;
}

void hdb_sql_arena_free(struct hdb_sql_arena *a)
{
    assert(a != NULL);
    struct hdb_sql_arena_chunk *c = a->head;
    while (c != NULL) {
        struct hdb_sql_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
    a->over_limit = false;
}

int hdb_sql_list_push(struct hdb_sql_arena *a, struct hdb_sql_list *l, void *item)
{
    assert(l != NULL);
    assert(item != NULL);
    if (l->n == l->cap) {
        if (l->n >= HDB_SQL_LIST_ITEMS_MAX) {
            return HDB_TOOBIG;
        }
        uint32_t cap = l->cap == 0 ? 4 : l->cap * 2;
        int rc = HDB_OK;
        void **items = hdb_sql_arena_alloc(a, cap * sizeof *items, &rc);
        if (items == NULL) {
            return rc;
        }
        if (l->n > 0) {
            memcpy(items, l->items, l->n * sizeof *items);
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
    return HDB_OK;
}

/* --- expression walks --- */

static int walk_list(const struct hdb_sql_list *l, hdb_sql_expr_visit_fn fn, void *ctx,
                     struct hdb_err *err)
{
    int rc = HDB_OK;
    for (uint32_t i = 0; i < l->n && rc == HDB_OK; i++) {
        rc = hdb_sql_expr_walk(l->items[i], fn, ctx, err);
    }
    return rc;
}

int hdb_sql_expr_walk(const struct hdb_sql_expr *e, hdb_sql_expr_visit_fn fn, void *ctx,
                      struct hdb_err *err)
{
    if (e == NULL) {
        return HDB_OK;
    }
    int rc = fn(e, ctx, err);
    if (rc != HDB_OK) {
        return rc;
    }
    switch (e->kind) {
    case HDB_EXPR_UNARY:
        return hdb_sql_expr_walk(e->u.unary.operand, fn, ctx, err);
    case HDB_EXPR_BINARY:
        rc = hdb_sql_expr_walk(e->u.binary.left, fn, ctx, err);
        return rc == HDB_OK ? hdb_sql_expr_walk(e->u.binary.right, fn, ctx, err) : rc;
    case HDB_EXPR_LIKE:
        rc = hdb_sql_expr_walk(e->u.like.left, fn, ctx, err);
        rc = rc == HDB_OK ? hdb_sql_expr_walk(e->u.like.pattern, fn, ctx, err) : rc;
        return rc == HDB_OK ? hdb_sql_expr_walk(e->u.like.escape, fn, ctx, err) : rc;
    case HDB_EXPR_BETWEEN:
        rc = hdb_sql_expr_walk(e->u.between.operand, fn, ctx, err);
        rc = rc == HDB_OK ? hdb_sql_expr_walk(e->u.between.low, fn, ctx, err) : rc;
        return rc == HDB_OK ? hdb_sql_expr_walk(e->u.between.high, fn, ctx, err) : rc;
    case HDB_EXPR_IN:
        rc = hdb_sql_expr_walk(e->u.in.operand, fn, ctx, err);
        return rc == HDB_OK ? walk_list(&e->u.in.list, fn, ctx, err) : rc;
    case HDB_EXPR_ISNULL:
        return hdb_sql_expr_walk(e->u.isnull.operand, fn, ctx, err);
    case HDB_EXPR_CASE:
        rc = hdb_sql_expr_walk(e->u.case_.base, fn, ctx, err);
        rc = rc == HDB_OK ? walk_list(&e->u.case_.whens, fn, ctx, err) : rc;
        return rc == HDB_OK ? hdb_sql_expr_walk(e->u.case_.else_, fn, ctx, err) : rc;
    case HDB_EXPR_CAST:
        return hdb_sql_expr_walk(e->u.cast.operand, fn, ctx, err);
    case HDB_EXPR_FUNCTION:
        return walk_list(&e->u.function.args, fn, ctx, err);
    case HDB_EXPR_COLLATE:
        return hdb_sql_expr_walk(e->u.collate.operand, fn, ctx, err);
    case HDB_EXPR_ROW:
        return walk_list(&e->u.row, fn, ctx, err);
    default:
        return HDB_OK;
    }
}

bool hdb_sql_expr_is_subquery(const struct hdb_sql_expr *e)
{
    return e->kind == HDB_EXPR_SUBQUERY || e->kind == HDB_EXPR_EXISTS ||
           (e->kind == HDB_EXPR_IN && (e->u.in.select != NULL || e->u.in.table.ptr != NULL));
}
