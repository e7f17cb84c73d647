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
