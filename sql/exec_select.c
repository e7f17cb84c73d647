/*
 * exec_select.c — SELECT: sources from FROM (tables scanned in full,
 * subqueries run first), nested-loop joins (inner, cross, left; ON, USING,
 * NATURAL), WHERE, grouping and aggregates (count sum total avg min max
 * group_concat, DISTINCT inside them), HAVING, DISTINCT, compound
 * operators, ORDER BY and LIMIT/OFFSET; subqueries in expressions
 * (scalar, EXISTS, IN), correlated ones included, through the evaluator's
 * hook. Everything is materialized in the statement's arena.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "sql/exec_int.h"

#define JOIN_SOURCES_MAX   64u /* entries of one FROM clause */
#define RESULT_COLUMNS_MAX 2000u
#define AGG_SLOTS_MAX      256u /* aggregate calls in one SELECT */

/* Runs `stmt` with the arena that outlives a streamed page (see struct exec), if one is in use. */
#define IN_KEEP(x, stmt)                                                                           \
    do {                                                                                           \
        struct hdb_sql_arena *page_ = (x)->arena;                                                  \
        if ((x)->keep != NULL) {                                                                   \
            (x)->arena = (x)->keep;                                                                \
        }                                                                                          \
        stmt;                                                                                      \
        (x)->arena = page_;                                                                        \
    } while (0)

/* --- hash set of byte keys (grouping, DISTINCT, compound operators) --- */

struct kslot {
    uint64_t h;
    const uint8_t *k; /* NULL: empty */
    uint32_t len;
    uint32_t idx;
};

struct kset {
    struct kslot *slots;
    uint32_t cap, n;
};

static int kset_grow(struct exec *x, struct kset *s)
{
    uint32_t cap = s->cap == 0 ? 64 : s->cap * 2;
    int rc = HDB_OK;
    struct kslot *n = hdb_sql_arena_alloc(x->arena, cap * sizeof *n, &rc);
    if (n == NULL) {
        return exec_fail(x, rc, "out of memory grouping rows");
    }
    for (uint32_t i = 0; i < s->cap; i++) {
        if (s->slots[i].k != NULL) {
            uint32_t at = (uint32_t)s->slots[i].h & (cap - 1);
            while (n[at].k != NULL) {
                at = (at + 1) & (cap - 1);
            }
            n[at] = s->slots[i];
        }
    }
    s->slots = n;
    s->cap = cap;
    return HDB_OK;
}

/* Finds `key`; if absent adds it with index `idx`. *found tells; *index gets the stored index. */
static int kset_add(struct exec *x, struct kset *s, const struct hdb_buf *key, uint32_t idx,
                    bool *found, uint32_t *index)
{
    if ((s->n + 1) * 2 > s->cap) {
        int rc = kset_grow(x, s);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    uint64_t h = XXH3_64bits(key->data, key->len);
    uint32_t at = (uint32_t)h & (s->cap - 1);
    for (; s->slots[at].k != NULL; at = (at + 1) & (s->cap - 1)) {
        const struct kslot *k = &s->slots[at];
        if (k->h == h && k->len == key->len && memcmp(k->k, key->data, key->len) == 0) {
            *found = true;
            *index = k->idx;
            return HDB_OK;
        }
    }
    int rc = HDB_OK;
    uint8_t *copy = hdb_sql_arena_alloc(x->arena, key->len + 1, &rc);
    if (copy == NULL) {
        return exec_fail(x, rc, "out of memory grouping rows");
    }
    if (key->len > 0) {
        memcpy(copy, key->data, key->len);
    }
    s->slots[at] = (struct kslot){.h = h, .k = copy, .len = (uint32_t)key->len, .idx = idx};
    s->n++;
    *found = false;
    *index = idx;
    return HDB_OK;
}

static int row_key(struct exec *x, const struct hdb_value *v, uint32_t n, struct hdb_buf *key)
{
    key->len = 0;
    if (hdb_buf_reserve(key, 16) != HDB_OK) { /* never NULL, even for an empty key */
        return exec_fail(x, HDB_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        int rc = hdb_key_append(key, &v[i], false, x->err);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

/* --- aggregates --- */

static bool is_aggregate(const struct hdb_sql_expr *e)
{
    if (e->kind != HDB_EXPR_FUNCTION) {
        return false;
    }
    const char *n = e->u.function.name.ptr;
    uint32_t args = e->u.function.args.n;
    if (strcasecmp(n, "min") == 0 || strcasecmp(n, "max") == 0) {
        return args == 1;
    }
    return strcasecmp(n, "count") == 0 || strcasecmp(n, "sum") == 0 ||
           strcasecmp(n, "total") == 0 || strcasecmp(n, "avg") == 0 ||
           strcasecmp(n, "group_concat") == 0;
}

struct agg_list {
    const struct hdb_sql_expr *e[AGG_SLOTS_MAX];
    uint32_t n;
    bool overflow;
};

/* Collects aggregate calls (not inside subqueries). The tree height is bounded by the parser. */
static void find_aggs(const struct hdb_sql_expr *e, struct agg_list *l)
{
    if (e == NULL) {
        return;
    }
    if (is_aggregate(e)) {
        if (l->n == AGG_SLOTS_MAX) {
            l->overflow = true;
            return;
        }
        l->e[l->n++] = e;
        return; /* an aggregate inside an aggregate is refused when it is evaluated */
    }
    const struct hdb_sql_list *list = NULL;
    switch (e->kind) {
    case HDB_EXPR_UNARY:
        find_aggs(e->u.unary.operand, l);
        break;
    case HDB_EXPR_BINARY:
        find_aggs(e->u.binary.left, l);
        find_aggs(e->u.binary.right, l);
        break;
    case HDB_EXPR_LIKE:
        find_aggs(e->u.like.left, l);
        find_aggs(e->u.like.pattern, l);
        find_aggs(e->u.like.escape, l);
        break;
    case HDB_EXPR_BETWEEN:
        find_aggs(e->u.between.operand, l);
        find_aggs(e->u.between.low, l);
        find_aggs(e->u.between.high, l);
        break;
    case HDB_EXPR_IN:
        find_aggs(e->u.in.operand, l);
        list = &e->u.in.list;
        break;
    case HDB_EXPR_ISNULL:
        find_aggs(e->u.isnull.operand, l);
        break;
    case HDB_EXPR_CASE:
        find_aggs(e->u.case_.base, l);
        find_aggs(e->u.case_.else_, l);
        list = &e->u.case_.whens;
        break;
    case HDB_EXPR_CAST:
        find_aggs(e->u.cast.operand, l);
        break;
    case HDB_EXPR_FUNCTION:
        list = &e->u.function.args;
        break;
    case HDB_EXPR_COLLATE:
        find_aggs(e->u.collate.operand, l);
        break;
    default:
        break;
    }
    for (uint32_t i = 0; list != NULL && i < list->n; i++) {
        find_aggs(list->items[i], l);
    }
}

/* One aggregate's running state. */
struct agg {
    int64_t count;
    bool any;      /* a non-NULL value was seen */
    bool is_real;  /* sum saw a REAL */
    bool overflow; /* integer sum overflowed */
    int64_t isum;
    double rsum;
    struct hdb_dec dsum;
    bool is_dec;
    struct hdb_value best; /* min / max */
    bool took;             /* min / max: the last step (or merge) replaced `best` */
    struct hdb_buf text;   /* group_concat */
    struct kset distinct;
};

struct group {
    struct agg *aggs;
    const struct hdb_value **rows; /* each source's current row when the group was last seen */
    /* A streamed scan: the page (counted from 1) whose row rows[0] points at, and the group's
     * own copy of it, overwritten when the page ends (bytes: its TEXT and BLOB values). */
    uint32_t page;
    struct hdb_value *copy;
    uint8_t *bytes;
    size_t bytes_cap;
};

static int agg_step(struct exec *x, struct scope *sc, const struct hdb_sql_expr *f, struct agg *a)
{
    const char *name = f->u.function.name.ptr;
    struct hdb_value v = {.type = HDB_V_INT, .u.i = 1};
    a->took = false;
    if (f->u.function.star || f->u.function.args.n == 0) {
        if (strcasecmp(name, "count") != 0) {
            return exec_fail(x, HDB_INVALID, "wrong number of arguments to function %s()", name);
        }
        a->count++;
        return HDB_OK;
    }
    int rc = scope_eval(x, sc, f->u.function.args.items[0], &v);
    if (rc != HDB_OK || v.type == HDB_V_NULL) {
        return rc;
    }
    if (f->u.function.distinct) {
        struct hdb_buf key = {0};
        bool found = false;
        uint32_t idx;
        rc = row_key(x, &v, 1, &key);
        IN_KEEP(x, rc = rc == HDB_OK ? kset_add(x, &a->distinct, &key, 0, &found, &idx) : rc);
        free(key.data);
        if (rc != HDB_OK || found) {
            return rc;
        }
    }
    a->count++;
    if (strcasecmp(name, "min") == 0 || strcasecmp(name, "max") == 0) {
        int c = a->any ? hdb_value_cmp(&v, &a->best) : 0;
        if (!a->any || (name[1] == 'i' || name[1] == 'I' ? c < 0 : c > 0)) {
            IN_KEEP(x, rc = value_keep(x, &v));
            a->best = v;
            a->took = true;
        }
        a->any = true;
        return rc;
    }
    if (strcasecmp(name, "group_concat") == 0) {
        struct hdb_value sep = {.type = HDB_V_TEXT, .u.s = {(const uint8_t *)",", 1}}, t;
        if (f->u.function.args.n > 1) {
            rc = scope_eval(x, sc, f->u.function.args.items[1], &sep);
        }
        char buf[64];
        if (rc == HDB_OK && v.type != HDB_V_TEXT && v.type != HDB_V_BLOB) {
            int n = v.type == HDB_V_INT    ? snprintf(buf, sizeof buf, "%lld", (long long)v.u.i)
                    : v.type == HDB_V_REAL ? hdb_real_text(v.u.r, buf)
                                           : (int)hdb_dec_format(&v.u.d, buf);
            v = (struct hdb_value){.type = HDB_V_TEXT, .u.s = {(const uint8_t *)buf, (uint32_t)n}};
        }
        t = sep;
        size_t need = a->text.len + (a->any && t.type != HDB_V_NULL ? t.u.s.len : 0) + v.u.s.len;
        if (rc == HDB_OK && need > HDB_VALUE_BYTES_MAX) {
            rc = exec_fail(x, HDB_TOOBIG, "group_concat result too big");
        }
        if (rc == HDB_OK && need > a->text.cap) { /* grown in the arena, freed with it */
            size_t cap = a->text.cap < 64 ? 64 : a->text.cap * 2;
            cap = cap < need ? need : cap;
            uint8_t *p = NULL;
            IN_KEEP(x, p = hdb_sql_arena_alloc(x->arena, cap, &rc));
            if (p == NULL) {
                rc = exec_fail(x, HDB_NOMEM, "out of memory in group_concat");
            } else if (a->text.len > 0) {
                memcpy(p, a->text.data, a->text.len);
            }
            a->text.data = p;
            a->text.cap = p != NULL ? cap : 0;
        }
        if (rc == HDB_OK && a->any && t.type != HDB_V_NULL && t.u.s.len > 0) {
            memcpy(a->text.data + a->text.len, t.u.s.p, t.u.s.len);
            a->text.len += t.u.s.len;
        }
        if (rc == HDB_OK && v.u.s.len > 0) {
            memcpy(a->text.data + a->text.len, v.u.s.p, v.u.s.len);
            a->text.len += v.u.s.len;
        }
        a->any = true;
        return rc;
    }
    if (strcasecmp(name, "count") == 0) {
        return HDB_OK;
    }
    /* sum, total, avg */
    struct hdb_value n;
    hdb_value_numeric(&v, &n);
    a->any = true;
    if (n.type == HDB_V_REAL) {
        a->is_real = true;
    }
    if (n.type == HDB_V_DEC) {
        struct hdb_dec d = a->dsum, r;
        if (!a->is_dec) {
            hdb_dec_from_i64(0, &d);
        }
        rc = hdb_dec_add(&d, &n.u.d, &r, x->err);
        a->dsum = r;
        a->is_dec = true;
    } else if (n.type == HDB_V_INT && !a->overflow &&
               __builtin_add_overflow(a->isum, n.u.i, &a->isum)) {
        a->overflow = true;
    }
    a->rsum += n.type == HDB_V_INT   ? (double)n.u.i
               : n.type == HDB_V_DEC ? hdb_dec_to_double(&n.u.d)
                                     : n.u.r;
    return rc;
}

static int agg_final(struct exec *x, const struct hdb_sql_expr *f, struct agg *a,
                     struct hdb_value *out)
{
    const char *name = f->u.function.name.ptr;
    *out = (struct hdb_value){.type = HDB_V_NULL};
    if (strcasecmp(name, "count") == 0) {
        *out = (struct hdb_value){.type = HDB_V_INT, .u.i = a->count};
    } else if (strcasecmp(name, "total") == 0) {
        *out = (struct hdb_value){.type = HDB_V_REAL, .u.r = a->any ? a->rsum : 0.0};
    } else if (!a->any) {
        return HDB_OK;
    } else if (strcasecmp(name, "avg") == 0) {
        *out = (struct hdb_value){.type = HDB_V_REAL, .u.r = a->rsum / (double)a->count};
    } else if (strcasecmp(name, "sum") == 0) {
        if (a->is_dec && !a->is_real) {
            *out = (struct hdb_value){.type = HDB_V_DEC, .u.d = a->dsum};
        } else if (a->is_real || a->is_dec) {
            *out = (struct hdb_value){.type = HDB_V_REAL, .u.r = a->rsum};
        } else if (a->overflow) {
            return exec_fail(x, HDB_TOOBIG, "integer overflow");
        } else {
            *out = (struct hdb_value){.type = HDB_V_INT, .u.i = a->isum};
        }
    } else if (strcasecmp(name, "group_concat") == 0) {
        int rc = HDB_OK;
        uint8_t *p = hdb_sql_arena_alloc(x->arena, a->text.len + 1, &rc);
        if (p == NULL) {
            return exec_fail(x, rc, "out of memory");
        }
        if (a->text.len > 0) {
            memcpy(p, a->text.data, a->text.len);
        }
        *out = (struct hdb_value){.type = HDB_V_TEXT, .u.s = {p, (uint32_t)a->text.len}};
    } else {
        *out = a->best; /* min, max */
    }
    return HDB_OK;
}

int group_value(struct exec *x, struct scope *sc, const struct hdb_sql_expr *e,
                struct hdb_value *out, bool *handled)
{
    if (!is_aggregate(e)) {
        return HDB_OK; /* a scalar function: the evaluator's */
    }
    *handled = true;
    for (struct scope *s = sc; s != NULL; s = s->outer) {
        for (uint32_t i = 0; s->aggs != NULL && i < s->aggs->n; i++) {
            if (s->aggs->e[i] == e) {
                if (s->group == NULL) {
                    break;
                }
                x->outer_reads += s->watched > 0; /* an outer query's aggregate: correlated */
                return agg_final(x, e, &s->group->aggs[i], out);
            }
        }
    }
    return exec_fail(x, HDB_INVALID, "misuse of aggregate function %s()", e->u.function.name.ptr);
}

/* --- the query --- */

/* A FROM entry after parenthesized join lists are flattened. */
struct from_entry {
    const struct hdb_sql_source *src;
    enum hdb_sql_join join;
    const struct hdb_sql_expr *group_on; /* a parenthesized group's ON, checked at its last entry */
};

struct query {
    struct exec *x;
    const struct hdb_sql_select_core *core;
    struct from_entry from[JOIN_SOURCES_MAX];
    uint32_t nfrom;
    struct scope sc;
    struct agg_list aggs;
    bool aggregate;
    int32_t minmax; /* the only min() or max() among the aggregates, or -1 */
    /* output: ncols values per row, the first nvisible are the result, the rest ORDER BY keys */
    uint32_t ncols, nvisible;
    const struct hdb_sql_expr **exprs; /* per output column; NULL: a star column */
    uint32_t *star_src, *star_col;     /* for star columns */
    const char **names;
    struct rows out;
    struct hdb_value *scratch; /* one output row (not on the stack: subqueries recurse) */
    /* grouping, and SELECT DISTINCT's result rows so far */
    struct kset groups, distinct;
    struct group *gv;
    uint32_t ngroups, gcap;
    struct hdb_value *null_row;
    bool *hit[JOIN_SOURCES_MAX]; /* RIGHT/FULL JOIN: which rows of that source found a match */
    bool ordered;                /* the one source gave its rows in ORDER BY order */
    /* stream_scan: the page being read (from 1) and the groups that took one of its rows */
    uint32_t page;
    uint32_t *touched;
    uint32_t ntouched, touched_cap;
};

static int add_source_columns(struct exec *x, struct source *s, const struct hdb_table_def *d)
{
    int rc = HDB_OK;
    s->colnames = hdb_sql_arena_alloc(x->arena, d->ncols * sizeof *s->colnames, &rc);
    enum hdb_affinity *affs = hdb_sql_arena_alloc(x->arena, d->ncols * sizeof *affs, &rc);
    if (s->colnames == NULL || affs == NULL) {
        return exec_fail(x, rc, "out of memory");
    }
    for (uint32_t i = 0; i < d->ncols; i++) {
        s->colnames[i] = d->cols[i].name;
        affs[i] = d->cols[i].affinity;
    }
    s->affs = affs;
    s->ncols = d->ncols;
    return HDB_OK;
}

static const struct hdb_sql_cte *find_cte(const struct exec *x, const char *name, bool *recursive)
{
    for (const struct cte_frame *f = x->ctes; f != NULL; f = f->up) {
        for (uint32_t i = 0; i < f->with->n; i++) {
            const struct hdb_sql_cte *c = f->with->items[i];
            if (strcasecmp(c->name.ptr, name) == 0) {
                *recursive = f->recursive;
                return c;
            }
        }
    }
    return NULL;
}

/* The column names and affinities of a common table expression's rows in `s`. */
static int cte_columns(struct exec *x, const struct hdb_sql_cte *cte, const char **names,
                       struct source *s)
{
    int rc = HDB_OK;
    s->ncols = s->rows.ncols;
    if (cte->columns.n > 0 && cte->columns.n != s->ncols) {
        return exec_fail(x, HDB_INVALID, "table %s has %u values for %u columns", cte->name.ptr,
                         s->ncols, cte->columns.n);
    }
    if (cte->columns.n > 0) {
        names = hdb_sql_arena_alloc(x->arena, s->ncols * sizeof *names, &rc);
        for (uint32_t i = 0; names != NULL && i < s->ncols; i++) {
            const struct hdb_sql_str *c = cte->columns.items[i];
            names[i] = c->ptr;
        }
    }
    enum hdb_affinity *affs = hdb_sql_arena_alloc(x->arena, (s->ncols + 1) * sizeof *affs, &rc);
    if (names == NULL || affs == NULL) {
        return exec_fail(x, rc != HDB_OK ? rc : HDB_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < s->ncols; i++) {
        affs[i] = HDB_AFF_NONE;
    }
    s->colnames = names;
    s->affs = affs;
    return HDB_OK;
}

/* Does a core name `cte` in its FROM list (the recursive step of a recursive CTE)? */
static bool core_names(const struct hdb_sql_select_core *core, const struct hdb_sql_cte *cte)
{
    for (uint32_t i = 0; i < core->from.n; i++) {
        const struct hdb_sql_source *fs = core->from.items[i];
        if (fs->select == NULL && fs->table.ptr != NULL && fs->schema.ptr == NULL &&
            strcasecmp(fs->table.ptr, cte->name.ptr) == 0) {
            return true;
        }
    }
    return false;
}

static int limit_value(struct exec *x, const struct hdb_sql_expr *e, int64_t *out);
static int row_key(struct exec *x, const struct hdb_value *v, uint32_t n, struct hdb_buf *key);

/* Adds the rows a step of a recursive CTE gave that are new (UNION: not there yet), up to its
 * LIMIT, copied into the statement's arena (the step's own is freed after). */
static int recursive_keep(struct exec *x, const struct rows *got, bool all, int64_t limit,
                          struct kset *seen, struct hdb_buf *key, struct source *s)
{
    int rc = HDB_OK;
    for (uint32_t i = 0; rc == HDB_OK && i < got->n; i++) {
        const struct hdb_value *row = got->v + (size_t)i * got->ncols;
        bool found = false;
        uint32_t idx;
        if (!all) {
            rc = row_key(x, row, got->ncols, key);
            rc = rc == HDB_OK ? kset_add(x, seen, key, 0, &found, &idx) : rc;
        }
        if (rc != HDB_OK || found || (limit >= 0 && s->rows.n >= (uint64_t)limit)) {
            continue;
        }
        rc = rows_push(x, &s->rows, row);
        struct hdb_value *kept = s->rows.v + (size_t)(s->rows.n - 1) * s->rows.ncols;
        for (uint32_t c = 0; rc == HDB_OK && c < s->rows.ncols; c++) {
            rc = value_keep(x, &kept[c]);
        }
    }
    return rc;
}

/*
 * WITH RECURSIVE name AS (initial SELECT UNION [ALL] recursive SELECT): the initial SELECTs give
 * the first rows; the recursive ones run again and again with `name` standing for the rows the
 * previous step added, until a step adds none (UNION drops rows already there) or the CTE's
 * LIMIT is reached. statement_timeout_ms and work_mem_mb bound one that never ends.
 */
static int run_recursive(struct exec *x, const struct hdb_sql_cte *cte, uint32_t split,
                         struct source *s)
{
    const struct hdb_sql_select *sel = cte->select;
    if (sel->order_by.n > 0) {
        return exec_fail(x, HDB_INVALID,
                         "ORDER BY in the recursive common table expression %s is not supported "
                         "yet",
                         cte->name.ptr);
    }
    const struct hdb_sql_select_core *step = sel->cores.items[split];
    bool all = step->op == HDB_COMPOUND_UNION_ALL;
    if (!all && step->op != HDB_COMPOUND_UNION) {
        return exec_fail(x, HDB_INVALID,
                         "the recursive SELECT of %s must follow UNION or UNION ALL",
                         cte->name.ptr);
    }
    int64_t limit = -1;
    int rc = sel->limit != NULL ? limit_value(x, sel->limit, &limit) : HDB_OK;
    struct hdb_sql_select init = {.cores = {.items = sel->cores.items, .n = split, .cap = split}};
    struct hdb_sql_select rec = {.cores = {.items = sel->cores.items + split,
                                           .n = sel->cores.n - split,
                                           .cap = sel->cores.n - split}};
    const char **names = NULL;
    struct rows got = {0};
    rc = rc == HDB_OK ? select_run(x, &init, NULL, &got, &names) : rc;
    struct kset seen = {0};
    struct hdb_buf key = {0};
    s->rows = (struct rows){.ncols = got.ncols};
    rc = rc == HDB_OK ? recursive_keep(x, &got, all, limit, &seen, &key, s) : rc;
    for (uint32_t start = 0; rc == HDB_OK;) {
        if (s->rows.n == start || (limit >= 0 && s->rows.n >= (uint64_t)limit)) {
            break;
        }
        struct hdb_sql_arena mem = {.limit = x->arena->limit}, *outer = x->arena;
        struct hdb_sql_arena *outer_keep = x->keep;
        uint64_t held = x->rows_held;
        struct rows step_rows = {.ncols = s->rows.ncols,
                                 .n = s->rows.n - start,
                                 .cap = s->rows.n - start,
                                 .v = s->rows.v + (size_t)start * s->rows.ncols};
        start = s->rows.n;
        struct cte_work w = {.cte = cte, .rows = &step_rows, .names = names, .up = x->work};
        x->work = &w;
        x->arena = &mem; /* the step's own memory, freed once its new rows are kept */
        x->keep = NULL;
        got = (struct rows){0};
        rc = select_run(x, &rec, NULL, &got, NULL);
        x->arena = outer;
        x->keep = outer_keep;
        x->work = w.up;
        if (rc == HDB_OK && got.n > 0 && got.ncols != s->rows.ncols) {
            rc = exec_fail(x, HDB_INVALID,
                           "SELECTs to the left and right of %s do not have the same number of "
                           "result columns",
                           all ? "UNION ALL" : "UNION");
        }
        x->rows_held = held; /* the step's rows go with its arena */
        rc = rc == HDB_OK ? recursive_keep(x, &got, all, limit, &seen, &key, s) : rc;
        if (mem.over_limit && rc != HDB_OK) {
            outer->over_limit = true;
        }
        hdb_sql_arena_free(&mem);
    }
    free(key.data);
    return rc == HDB_OK ? cte_columns(x, cte, names, s) : rc;
}

/* A common table expression used in FROM: run its query (it may name earlier ones). */
static int open_cte(struct exec *x, const struct hdb_sql_cte *cte, bool recursive, struct source *s)
{
    if (x->cte_depth >= 32) {
        return exec_fail(x, HDB_INVALID,
                         "WITH %s refers to itself (recursion needs WITH RECURSIVE, and the "
                         "reference in a SELECT after UNION [ALL])",
                         cte->name.ptr);
    }
    x->cte_depth++;
    int rc = HDB_OK;
    bool ran = false;
    for (uint32_t i = 1; recursive && !ran && i < cte->select->cores.n; i++) {
        if (core_names(cte->select->cores.items[i], cte)) {
            rc = run_recursive(x, cte, i, s);
            ran = true;
        }
    }
    if (!ran) {
        const char **names = NULL;
        rc = select_run(x, cte->select, NULL, &s->rows, &names);
        rc = rc == HDB_OK ? cte_columns(x, cte, names, s) : rc;
    }
    x->cte_depth--;
    return rc;
}

static int open_source(struct exec *x, const struct hdb_sql_source *fs, struct scope *outer,
                       const struct hdb_sql_expr *where, struct access_hint *hint, bool stream,
                       struct source *s)
{
    *s = (struct source){.name = fs->alias.ptr != NULL ? fs->alias.ptr : fs->table.ptr};
    if (fs->select != NULL) {
        const char **names = NULL;
        int rc = select_run(x, fs->select, outer, &s->rows, &names);
        if (rc != HDB_OK) {
            return rc;
        }
        s->ncols = s->rows.ncols;
        s->colnames = names;
        enum hdb_affinity *affs = hdb_sql_arena_alloc(x->arena, (s->ncols + 1) * sizeof *affs, &rc);
        if (affs == NULL) {
            return exec_fail(x, rc, "out of memory");
        }
        for (uint32_t i = 0; i < s->ncols; i++) {
            affs[i] = HDB_AFF_NONE;
        }
        s->affs = affs;
        return HDB_OK;
    }
    for (const struct cte_work *w = x->work; fs->schema.ptr == NULL && w != NULL; w = w->up) {
        if (strcasecmp(w->cte->name.ptr, fs->table.ptr) == 0) { /* the recursive step's input */
            s->rows = *w->rows;
            return cte_columns(x, w->cte, w->names, s);
        }
    }
    bool recursive = false;
    const struct hdb_sql_cte *cte =
        fs->schema.ptr == NULL ? find_cte(x, fs->table.ptr, &recursive) : NULL;
    if (cte != NULL) {
        return open_cte(x, cte, recursive, s);
    }
    const struct hdb_schema_table *st = hdb_schema_table(x->schema, fs->table.ptr);
    if (st == NULL) {
        return exec_fail(x, HDB_INVALID, "no such table: %s", fs->table.ptr);
    }
    int rc = add_source_columns(x, s, st->def);
    s->rows.ncols = s->ncols;
    bool point = false;
    rc = rc == HDB_OK ? table_point_read(x, st, s->name, where, &s->rows, NULL, &point) : rc;
    if (rc == HDB_OK && point && hint != NULL && hint->usable &&
        (s->rows.n <= 1 || scan_orders(st, s->name, hint->order))) {
        hint->ordered = true; /* one row, or an IN list read in key order */
    }
    /* the statement keeps its access path (written by the executor, see struct hdb_sql_plan) */
    struct hdb_sql_plan *plan = (struct hdb_sql_plan *)&fs->plan;
    rc = rc == HDB_OK && !point
             ? table_index_read(x, st, s->name, where, hint, plan, &s->rows, NULL, &point)
             : rc;
    if (rc != HDB_OK || point) {
        return rc;
    }
    /* No WHERE and rows wanted in key order: only the first LIMIT + OFFSET of the merged scan. */
    bool in_order = hint != NULL && hint->usable && scan_orders(st, s->name, hint->order);
    bool first = in_order && hint->max_rows > 0 && where == NULL;
    if (in_order) {
        hint->ordered = true; /* a scan (streamed or not) merges the shards in key order */
    }
    if (!first && stream) {
        x->stream_table = st->rows; /* run_core reads it page by page */
        return HDB_OK;
    }
    return table_scan_first(x, st, first ? hint->max_rows : 0, &s->rows, NULL);
}

static int32_t order_column(const struct hdb_sql_expr *e, const char **names, uint32_t ncols);

/* The result columns: expressions, `*` and `t.*` expanded; then ORDER BY terms that are not
 * result columns, as hidden columns. */
const char *result_name(struct exec *x, const struct hdb_sql_expr *e)
{
    if (e->kind == HDB_EXPR_COLUMN) {
        return e->u.column.column.ptr;
    }
    int rc = HDB_OK;
    size_t total = x->src != NULL ? strlen(x->src) : 0;
    size_t n = e->offset <= total && e->len <= total - e->offset ? e->len : 0;
    char *p = hdb_sql_arena_alloc(x->arena, n + 1, &rc);
    if (p == NULL) {
        return "";
    }
    memcpy(p, x->src + e->offset, n);
    return p;
}

static int plan_columns(struct query *q, const struct hdb_sql_list *order)
{
    struct exec *x = q->x;
    uint32_t n = 0;
    for (uint32_t i = 0; i < q->core->columns.n; i++) {
        const struct hdb_sql_result_col *rc = q->core->columns.items[i];
        for (uint32_t s = 0; rc->star && s < q->sc.nsrc; s++) {
            bool match =
                rc->table.ptr == NULL ||
                (q->sc.src[s].name != NULL && strcasecmp(rc->table.ptr, q->sc.src[s].name) == 0);
            n += match ? q->sc.src[s].ncols : 0;
        }
        n += rc->star ? 0 : 1;
        if (rc->star && q->sc.nsrc == 0) {
            return exec_fail(x, HDB_INVALID, "no tables specified");
        }
    }
    uint32_t hidden = order != NULL ? order->n : 0;
    if (n == 0 || n + hidden > RESULT_COLUMNS_MAX) {
        return exec_fail(x, HDB_INVALID, "no such table in a t.* column, or too many columns");
    }
    n += hidden;
    int err = HDB_OK;
    q->exprs = hdb_sql_arena_alloc(x->arena, n * sizeof *q->exprs, &err);
    q->star_src = hdb_sql_arena_alloc(x->arena, n * sizeof *q->star_src, &err);
    q->star_col = hdb_sql_arena_alloc(x->arena, n * sizeof *q->star_col, &err);
    q->names = hdb_sql_arena_alloc(x->arena, n * sizeof *q->names, &err);
    if (q->exprs == NULL || q->star_src == NULL || q->star_col == NULL || q->names == NULL) {
        return exec_fail(x, err, "out of memory");
    }
    uint32_t at = 0;
    for (uint32_t i = 0; i < q->core->columns.n; i++) {
        const struct hdb_sql_result_col *rc = q->core->columns.items[i];
        if (!rc->star) {
            const struct hdb_sql_expr *e = rc->expr;
            q->exprs[at] = e;
            q->names[at++] = rc->alias.ptr != NULL ? rc->alias.ptr : result_name(q->x, e);
            continue;
        }
        for (uint32_t s = 0; s < q->sc.nsrc; s++) {
            bool match =
                rc->table.ptr == NULL ||
                (q->sc.src[s].name != NULL && strcasecmp(rc->table.ptr, q->sc.src[s].name) == 0);
            for (uint32_t c = 0; match && c < q->sc.src[s].ncols; c++) {
                q->exprs[at] = NULL;
                q->star_src[at] = s;
                q->star_col[at] = c;
                q->names[at++] = q->sc.src[s].colnames[c];
            }
        }
    }
    q->nvisible = at;
    for (uint32_t i = 0; i < hidden; i++) {
        const struct hdb_sql_order_term *t = order->items[i];
        int32_t c = order_column(t->expr, q->names, q->nvisible);
        q->exprs[at] = c >= 0 ? NULL : t->expr;
        q->star_src[at] = UINT32_MAX; /* a copy of result column star_col */
        q->star_col[at] = c >= 0 ? (uint32_t)c : 0;
        q->names[at++] = NULL;
        if (c == -2) {
            return exec_fail(x, HDB_INVALID,
                             "%u%s ORDER BY term out of range - should be between 1 and %u", i + 1,
                             i == 0   ? "st"
                             : i == 1 ? "nd"
                             : i == 2 ? "rd"
                                      : "th",
                             q->nvisible);
        }
    }
    q->ncols = at;
    q->out.ncols = at;
    return HDB_OK;
}

static int output_row(struct query *q)
{
    struct exec *x = q->x;
    struct hdb_value *row = q->scratch;
    for (uint32_t i = 0; i < q->ncols; i++) {
        if (q->exprs[i] == NULL && q->star_src[i] == UINT32_MAX) {
            row[i] = row[q->star_col[i]]; /* an ORDER BY term naming a result column */
            continue;
        }
        if (q->exprs[i] == NULL) {
            row[i] = q->sc.src[q->star_src[i]].cur[q->star_col[i]];
            continue;
        }
        int rc = scope_eval(x, &q->sc, q->exprs[i], &row[i]);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    int rc = HDB_OK;
    if (q->core->distinct) { /* a row seen before is dropped now, not after holding them all */
        struct hdb_buf key = {0};
        bool found = false;
        uint32_t idx;
        rc = row_key(x, row, q->nvisible, &key);
        IN_KEEP(x, rc = rc == HDB_OK ? kset_add(x, &q->distinct, &key, 0, &found, &idx) : rc);
        free(key.data);
        if (rc != HDB_OK || found) {
            return rc;
        }
    }
    for (uint32_t i = 0; x->keep != NULL && i < q->ncols && rc == HDB_OK; i++) {
        IN_KEEP(x, rc = value_keep(x, &row[i])); /* out of the streamed page */
    }
    IN_KEEP(x, rc = rc == HDB_OK ? rows_push(x, &q->out, row) : rc);
    return rc;
}

/* The group whose GROUP BY values encode to `key` (row_key), made if it is new. */
static int group_at(struct query *q, const struct hdb_buf *key, struct group **out)
{
    struct exec *x = q->x;
    bool found = false;
    uint32_t idx = q->ngroups;
    int rc = kset_add(x, &q->groups, key, q->ngroups, &found, &idx);
    if (rc != HDB_OK) {
        return rc;
    }
    if (!found) {
        if (q->ngroups == q->gcap) {
            uint32_t cap = q->gcap == 0 ? 16 : q->gcap * 2;
            struct group *g = hdb_sql_arena_alloc(x->arena, cap * sizeof *g, &rc);
            if (g == NULL) {
                return exec_fail(x, rc, "out of memory grouping rows");
            }
            if (q->ngroups > 0) {
                memcpy(g, q->gv, q->ngroups * sizeof *g);
            }
            q->gv = g;
            q->gcap = cap;
        }
        struct group *g = &q->gv[q->ngroups++];
        g->aggs = hdb_sql_arena_alloc(x->arena, (q->aggs.n + 1) * sizeof *g->aggs, &rc);
        g->rows = hdb_sql_arena_alloc(x->arena, (q->sc.nsrc + 1) * sizeof *g->rows, &rc);
        if (g->aggs == NULL || g->rows == NULL) {
            return exec_fail(x, rc, "out of memory grouping rows");
        }
    }
    *out = &q->gv[idx];
    return HDB_OK;
}

static int group_of(struct query *q, struct group **out)
{
    struct exec *x = q->x;
    const struct hdb_sql_list *gb = &q->core->group_by;
    struct hdb_value vals[64];
    if (gb->n > 64) {
        return exec_fail(x, HDB_TOOBIG, "GROUP BY has more than 64 terms");
    }
    for (uint32_t i = 0; i < gb->n; i++) {
        int rc = scope_eval(x, &q->sc, gb->items[i], &vals[i]);
        if (rc != HDB_OK) {
            return rc;
        }
    }
    struct hdb_buf key = {0};
    int rc = row_key(x, vals, gb->n, &key);
    rc = rc == HDB_OK ? group_at(q, &key, out) : rc;
    free(key.data);
    return rc;
}

/* stream_scan: group `idx` took a row of this page, which must be copied before the page goes. */
static int touch_group(struct query *q, uint32_t idx)
{
    if (q->ntouched == q->touched_cap) {
        int rc = HDB_OK;
        uint32_t cap = q->touched_cap == 0 ? 64 : q->touched_cap * 2;
        uint32_t *t = hdb_sql_arena_alloc(q->x->arena, cap * sizeof *t, &rc);
        if (t == NULL) {
            return exec_fail(q->x, rc, "out of memory grouping rows");
        }
        if (q->ntouched > 0) {
            memcpy(t, q->touched, q->ntouched * sizeof *t);
        }
        q->touched = t;
        q->touched_cap = cap;
    }
    q->touched[q->ntouched++] = idx;
    return HDB_OK;
}

/* Copies the page row group g points at into the group's own storage (in the arena, which is
 * the statement's: reused by the group's later copies, so memory follows the groups). */
static int keep_group_row(struct query *q, struct group *g, uint32_t ncols)
{
    struct exec *x = q->x;
    const struct hdb_value *row = g->rows[0];
    if (row == NULL || row == q->null_row) {
        return HDB_OK;
    }
    int rc = HDB_OK;
    size_t need = 0;
    for (uint32_t c = 0; c < ncols; c++) {
        bool bytes = row[c].type == HDB_V_TEXT || row[c].type == HDB_V_BLOB;
        need += bytes ? row[c].u.s.len + 1 : 0;
    }
    if (g->copy == NULL) {
        g->copy = hdb_sql_arena_alloc(x->arena, (ncols + 1) * sizeof *g->copy, &rc);
    }
    if (g->copy != NULL && need > g->bytes_cap) {
        size_t cap = need > 2 * g->bytes_cap ? need : 2 * g->bytes_cap;
        g->bytes = hdb_sql_arena_alloc(x->arena, cap, &rc);
        g->bytes_cap = g->bytes != NULL ? cap : 0;
    }
    if (g->copy == NULL || (need > 0 && g->bytes == NULL)) {
        return exec_fail(x, rc, "out of memory grouping rows");
    }
    for (size_t c = 0, at = 0; c < ncols; c++) {
        g->copy[c] = row[c];
        if ((row[c].type == HDB_V_TEXT || row[c].type == HDB_V_BLOB) && row[c].u.s.len > 0) {
            memcpy(g->bytes + at, row[c].u.s.p, row[c].u.s.len);
            g->copy[c].u.s.p = g->bytes + at;
            at += row[c].u.s.len + 1;
        }
    }
    g->rows[0] = g->copy;
    return HDB_OK;
}

/* A joined row that passed WHERE. */
static int emit(struct query *q)
{
    if (!q->aggregate) {
        return output_row(q);
    }
    struct group *g = NULL;
    int rc = HDB_OK;
    IN_KEEP(q->x, rc = group_of(q, &g));
    for (uint32_t i = 0; rc == HDB_OK && i < q->aggs.n; i++) {
        rc = agg_step(q->x, &q->sc, q->aggs.e[i], &g->aggs[i]);
    }
    /* The group's row for bare columns: the last one, or with a single min() or max() the one
     * holding that value, as SQLite has it. */
    if (rc != HDB_OK || (q->minmax >= 0 && g->rows[0] != NULL && !g->aggs[q->minmax].took)) {
        return rc;
    }
    for (uint32_t s = 0; s < q->sc.nsrc; s++) {
        g->rows[s] = q->sc.src[s].cur;
    }
    if (q->page > 0 && g->page != q->page) {
        g->page = q->page;
        IN_KEEP(q->x, rc = touch_group(q, (uint32_t)(g - q->gv)));
    }
    return rc;
}

static int truth(struct query *q, const struct hdb_sql_expr *e, int *t)
{
    struct hdb_value v;
    int rc = scope_eval(q->x, &q->sc, e, &v);
    *t = rc == HDB_OK ? hdb_value_truth(&v) : 0;
    return rc;
}

/* USING / NATURAL: the named columns equal between source k and an earlier source. */
static int using_match(struct query *q, uint32_t k, const struct hdb_sql_source *fs, bool *ok)
{
    struct source *s = &q->sc.src[k];
    *ok = true;
    for (uint32_t c = 0; c < s->ncols && *ok; c++) {
        bool named = fs->natural;
        for (uint32_t u = 0; !fs->natural && u < fs->using_cols.n; u++) {
            const struct hdb_sql_str *col = fs->using_cols.items[u];
            named = named || strcasecmp(col->ptr, s->colnames[c]) == 0;
        }
        for (uint32_t p = 0; named && p < k; p++) {
            const struct source *o = &q->sc.src[p];
            for (uint32_t oc = 0; oc < o->ncols; oc++) {
                if (strcasecmp(o->colnames[oc], s->colnames[c]) == 0) {
                    struct hdb_value a = o->cur[oc], b = s->cur[c];
                    *ok =
                        a.type != HDB_V_NULL && b.type != HDB_V_NULL && hdb_value_cmp(&a, &b) == 0;
                    p = k; /* the first earlier source with the column */
                    break;
                }
            }
        }
    }
    return HDB_OK;
}

/* Nested loops over sources k.. (depth bounded by JOIN_SOURCES_MAX). */
static int join(struct query *q, uint32_t k)
{
    int trc = exec_tick(q->x);
    if (trc != HDB_OK) {
        return trc;
    }
    if (k == q->sc.nsrc) {
        int t = 1;
        int rc = q->core->where != NULL ? truth(q, q->core->where, &t) : HDB_OK;
        return rc == HDB_OK && t == 1 ? emit(q) : rc;
    }
    struct source *s = &q->sc.src[k];
    const struct from_entry *fe = &q->from[k];
    const struct hdb_sql_source *fs = fe->src;
    bool matched = false;
    for (uint32_t r = 0; r < s->rows.n; r++) {
        s->cur = s->rows.v + (size_t)r * s->ncols;
        int t = 1;
        bool ok = true;
        int rc = fs->on != NULL ? truth(q, fs->on, &t) : HDB_OK;
        if (rc == HDB_OK && t == 1 && fe->group_on != NULL) {
            rc = truth(q, fe->group_on, &t);
        }
        if (rc == HDB_OK && (fs->using_cols.n > 0 || fs->natural)) {
            rc = using_match(q, k, fs, &ok);
        }
        if (rc != HDB_OK) {
            return rc;
        }
        if (t == 1 && ok) {
            matched = true;
            if (q->hit[k] != NULL) {
                q->hit[k][r] = true;
            }
            rc = join(q, k + 1);
            if (rc != HDB_OK) {
                return rc;
            }
        }
    }
    if (!matched && (fe->join == HDB_JOIN_LEFT || fe->join == HDB_JOIN_FULL)) {
        s->cur = q->null_row;
        return join(q, k + 1);
    }
    return HDB_OK;
}

/*
 * All sources joined: then, for each RIGHT or FULL JOIN (left to right), its rows that matched
 * nothing, with every source before it NULL, joined on with the sources after it.
 */
static int join_all(struct query *q)
{
    int rc = HDB_OK;
    for (uint32_t k = 1; rc == HDB_OK && k < q->sc.nsrc; k++) {
        enum hdb_sql_join j = q->from[k].join;
        if ((j == HDB_JOIN_RIGHT || j == HDB_JOIN_FULL) && q->sc.src[k].rows.n > 0) {
            q->hit[k] = hdb_sql_arena_alloc(q->x->arena, q->sc.src[k].rows.n, &rc);
            rc = q->hit[k] == NULL ? exec_fail(q->x, HDB_NOMEM, "out of memory") : HDB_OK;
        }
    }
    rc = rc == HDB_OK ? join(q, 0) : rc;
    for (uint32_t k = 1; rc == HDB_OK && k < q->sc.nsrc; k++) {
        struct source *s = &q->sc.src[k];
        for (uint32_t r = 0; q->hit[k] != NULL && r < s->rows.n && rc == HDB_OK; r++) {
            if (q->hit[k][r]) {
                continue;
            }
            for (uint32_t p = 0; p < k; p++) {
                q->sc.src[p].cur = q->null_row;
            }
            s->cur = s->rows.v + (size_t)r * s->ncols;
            rc = join(q, k + 1);
        }
    }
    return rc;
}

/* Output of an aggregate query: one row per group that passes HAVING. */
static int output_groups(struct query *q)
{
    if (q->ngroups == 0 && q->core->group_by.n == 0) {
        struct group *g = NULL;
        for (uint32_t s = 0; s < q->sc.nsrc; s++) {
            q->sc.src[s].cur = q->null_row;
        }
        int rc = group_of(q, &g);
        for (uint32_t s = 0; rc == HDB_OK && s < q->sc.nsrc; s++) {
            g->rows[s] = q->null_row;
        }
        if (rc != HDB_OK) {
            return rc;
        }
    }
    for (uint32_t i = 0; i < q->ngroups; i++) {
        struct group *g = &q->gv[i];
        for (uint32_t s = 0; s < q->sc.nsrc; s++) {
            q->sc.src[s].cur = g->rows[s];
        }
        q->sc.group = g;
        int t = 1;
        int rc = q->core->having != NULL ? truth(q, q->core->having, &t) : HDB_OK;
        rc = rc == HDB_OK && t == 1 ? output_row(q) : rc;
        q->sc.group = NULL;
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

/* The aggregate calls of the result, HAVING and (for one core) ORDER BY. */
static void collect_aggs(struct query *q, const struct hdb_sql_select *sel)
{
    for (uint32_t i = 0; i < q->core->columns.n; i++) {
        const struct hdb_sql_result_col *rc = q->core->columns.items[i];
        find_aggs(rc->expr, &q->aggs);
    }
    find_aggs(q->core->having, &q->aggs);
    for (uint32_t i = 0; sel->cores.n == 1 && i < sel->order_by.n; i++) {
        const struct hdb_sql_order_term *t = sel->order_by.items[i];
        find_aggs(t->expr, &q->aggs);
    }
    q->aggregate = q->aggs.n > 0 || q->core->group_by.n > 0;
    q->minmax = -1;
    for (uint32_t i = 0, n = 0; i < q->aggs.n; i++) {
        const char *name = q->aggs.e[i]->u.function.name.ptr;
        if (strcasecmp(name, "min") == 0 || strcasecmp(name, "max") == 0) {
            q->minmax = n++ == 0 ? (int32_t)i : -1;
        }
    }
}

static bool inner_like(enum hdb_sql_join j)
{
    return j == HDB_JOIN_NONE || j == HDB_JOIN_COMMA || j == HDB_JOIN_INNER || j == HDB_JOIN_CROSS;
}

/*
 * FROM entries in order, parenthesized join lists spliced in: (a JOIN b) joined to what comes
 * before it by an inner join is the same as a JOIN b in place, with the group's ON checked once
 * all its entries are bound. Nesting is bounded by the parser.
 */
static int flatten_from(struct query *q, const struct hdb_sql_list *from, enum hdb_sql_join join,
                        const struct hdb_sql_expr *group_on)
{
    for (uint32_t i = 0; i < from->n; i++) {
        const struct hdb_sql_source *fs = from->items[i];
        enum hdb_sql_join j = i == 0 && join != HDB_JOIN_NONE ? join : fs->join;
        const struct hdb_sql_expr *on = i + 1 == from->n ? group_on : NULL;
        if (fs->nested.n > 0) {
            if (!inner_like(j) || fs->using_cols.n > 0 || fs->natural ||
                (on != NULL && fs->on != NULL)) {
                return exec_fail(q->x, HDB_INVALID, "this parenthesized join is not supported yet");
            }
            int rc = flatten_from(q, &fs->nested, j, fs->on != NULL ? fs->on : on);
            if (rc != HDB_OK) {
                return rc;
            }
            continue;
        }
        if (q->nfrom == JOIN_SOURCES_MAX) {
            return exec_fail(q->x, HDB_TOOBIG, "more than %u tables in one FROM", JOIN_SOURCES_MAX);
        }
        q->from[q->nfrom++] = (struct from_entry){.src = fs, .join = j, .group_on = on};
    }
    return HDB_OK;
}

/* VALUES (...), (...) as a query: columns column1, column2, ...; ORDER BY may name them. */
static int run_values(struct exec *x, const struct hdb_sql_select_core *core, struct scope *outer,
                      struct query *q, const struct hdb_sql_list *order)
{
    const struct hdb_sql_list *first = core->values.items[0];
    uint32_t n = first->n, hidden = order != NULL ? order->n : 0;
    if (n == 0 || n + hidden > RESULT_COLUMNS_MAX) {
        return exec_fail(x, HDB_TOOBIG, "VALUES with %u terms", n);
    }
    int rc = HDB_OK;
    q->names = hdb_sql_arena_alloc(x->arena, n * sizeof *q->names, &rc);
    q->scratch = hdb_sql_arena_alloc(x->arena, (n + hidden) * sizeof *q->scratch, &rc);
    int32_t *keys = hdb_sql_arena_alloc(x->arena, (hidden + 1) * sizeof *keys, &rc);
    for (uint32_t i = 0; q->names != NULL && i < n && rc == HDB_OK; i++) {
        char *name = hdb_sql_arena_alloc(x->arena, 24, &rc);
        if (name != NULL) {
            snprintf(name, 24, "column%u", i + 1);
            q->names[i] = name;
        }
    }
    if (q->names == NULL || q->scratch == NULL || keys == NULL || rc != HDB_OK) {
        return exec_fail(x, rc != HDB_OK ? rc : HDB_NOMEM, "out of memory");
    }
    for (uint32_t k = 0; k < hidden; k++) {
        const struct hdb_sql_order_term *t = order->items[k];
        keys[k] = order_column(t->expr, q->names, n);
        if (keys[k] < 0) {
            return exec_fail(x, HDB_INVALID,
                             "ORDER BY of a VALUES query must name a column or its number");
        }
    }
    q->ncols = n + hidden;
    q->nvisible = n;
    q->out.ncols = q->ncols;
    for (uint32_t r = 0; r < core->values.n && rc == HDB_OK; r++) {
        const struct hdb_sql_list *vals = core->values.items[r];
        if (vals->n != n) {
            return exec_fail(x, HDB_INVALID, "all VALUES must have the same number of terms");
        }
        for (uint32_t i = 0; i < n && rc == HDB_OK; i++) {
            rc = scope_eval(x, outer, vals->items[i], &q->scratch[i]);
        }
        for (uint32_t k = 0; k < hidden; k++) {
            q->scratch[n + k] = q->scratch[keys[k]];
        }
        rc = rc == HDB_OK ? rows_push(x, &q->out, q->scratch) : rc;
    }
    return rc;
}

static int limit_value(struct exec *x, const struct hdb_sql_expr *e, int64_t *out);

/* A LIMIT or OFFSET that may be evaluated ahead of time: a literal or a parameter. */
static bool settled(const struct hdb_sql_expr *e)
{
    return e == NULL || e->kind == HDB_EXPR_INTEGER || e->kind == HDB_EXPR_PARAM;
}

/* For a one-table SELECT without grouping or DISTINCT: how many rows in ORDER BY order the
 * query needs (LIMIT + OFFSET), unless an ORDER BY name means a result column. */
static int query_hint(struct exec *x, const struct hdb_sql_select *sel, const struct query *q,
                      struct access_hint *hint)
{
    const struct hdb_sql_select_core *core = q->core;
    hint->max_rows = 0;
    hint->usable = false;
    if (sel->cores.n != 1 || q->aggregate || core->distinct) {
        return HDB_OK;
    }
    for (uint32_t i = 0; i < sel->order_by.n; i++) {
        const struct hdb_sql_order_term *t = sel->order_by.items[i];
        if (t->expr->kind != HDB_EXPR_COLUMN) {
            return HDB_OK;
        }
        for (uint32_t c = 0; c < core->columns.n; c++) {
            const struct hdb_sql_result_col *rc = core->columns.items[c];
            if (rc->alias.ptr != NULL &&
                strcasecmp(rc->alias.ptr, t->expr->u.column.column.ptr) == 0) {
                return HDB_OK; /* names a result column, which may be another expression */
            }
        }
    }
    hint->usable = true;
    if (sel->limit == NULL || !settled(sel->limit) || !settled(sel->offset_expr)) {
        return HDB_OK;
    }
    int64_t limit = -1, offset = 0;
    int rc = limit_value(x, sel->limit, &limit);
    rc = rc == HDB_OK && sel->offset_expr != NULL ? limit_value(x, sel->offset_expr, &offset) : rc;
    if (rc == HDB_OK && limit > 0) {
        offset = offset < 0 ? 0 : offset;
        hint->max_rows = offset > INT64_MAX - limit ? 0 : (uint64_t)(limit + offset);
    }
    return rc;
}

#define STREAM_PAGE_ROWS 1024u

/*
 * A one-table query that scans the whole table: the rows come a page at a time into an arena of
 * their own, go through WHERE and into the result or the groups and their aggregates (copied out
 * of the page: a group keeps one row of its own, overwritten by later pages), and the page is
 * freed: memory follows the result and the groups, not the table.
 */
/* The schema's table whose rows are the key-value table `tb` (open_source found it there). */
static const struct hdb_schema_table *schema_table_of(struct exec *x, const struct hdb_table *tb)
{
    const struct hdb_schema_table *st = NULL;
    for (uint32_t i = 0; i < x->schema->ntables; i++) {
        st = x->schema->tables[i].rows == tb ? &x->schema->tables[i] : st;
    }
    return st;
}

static int stream_scan(struct query *q, struct hdb_table *tb)
{
    struct exec *x = q->x;
    struct source *s = &q->sc.src[0];
    struct hdb_sql_arena *keep = x->arena, *outer_keep = x->keep;
    const struct hdb_schema_table *st = schema_table_of(x, tb);
    uint8_t last[HDB_KEY_BYTES_MAX + 1];
    uint32_t lastlen = 0;
    int rc = st != NULL ? HDB_OK : exec_fail(x, HDB_ERROR, "streamed table not in the schema");
    for (bool first = true; rc == HDB_OK; first = false) {
        struct hdb_sql_arena page = {.limit = keep->limit};
        struct rows keys = {0};
        x->arena = &page;
        x->keep = keep;
        s->rows = (struct rows){.ncols = s->ncols};
        rc = table_scan_range(x, st, first ? NULL : last, first ? 0 : lastlen, NULL, 0,
                              STREAM_PAGE_ROWS, &s->rows, &keys);
        uint32_t n = s->rows.n;
        if (rc == HDB_OK && n > 0) { /* the smallest key after the page's last */
            const struct hdb_value *k = &keys.v[n - 1];
            memcpy(last, k->u.s.p, k->u.s.len);
            last[k->u.s.len] = 0;
            lastlen = k->u.s.len + 1;
        }
        q->page++;
        q->ntouched = 0;
        rc = rc == HDB_OK ? join(q, 0) : rc;
        for (uint32_t i = 0; rc == HDB_OK && i < q->ntouched; i++) {
            IN_KEEP(x, rc = keep_group_row(q, &q->gv[q->touched[i]], s->ncols));
        }
        x->rows_held -= s->rows.cap + keys.cap;
        if (rc != HDB_OK && page.over_limit) {
            keep->over_limit = true;
        }
        x->arena = keep;
        x->keep = outer_keep;
        hdb_sql_arena_free(&page);
        s->rows = (struct rows){.ncols = s->ncols};
        s->cur = NULL;
        if (n < STREAM_PAGE_ROWS) {
            break;
        }
    }
    q->page = 0;
    return rc;
}

/* --- partial aggregation on the shards --- */

/*
 * An aggregate query over one whole table runs where the rows are (DESIGN.md section 2): each
 * shard folds its own rows on its own thread into partial groups, a page of rows at a time, the
 * way stream_scan does at the coordinator, and the coordinator merges the parts and outputs the
 * groups. What needs the coordinator cannot go: subqueries (they read through the connection),
 * group_concat (its order is the scan's) and DISTINCT aggregates.
 */
struct fold_part {
    struct query q; /* the coordinator's query with groups of its own */
    struct exec x;  /* the statement's, with arenas, error and clock of its own */
    struct source src;
    struct hdb_sql_arena keep, page;
    struct hdb_err err;
    const struct hdb_table_def *def;
};

static int no_subquery_visit(const struct hdb_sql_expr *e, void *ctx, struct hdb_err *err)
{
    (void)ctx;
    (void)err;
    return hdb_sql_expr_is_subquery(e) ? HDB_INVALID : HDB_OK;
}

static bool no_subquery(const struct hdb_sql_expr *e)
{
    return hdb_sql_expr_walk(e, no_subquery_visit, NULL, NULL) == HDB_OK;
}

static bool fold_eligible(const struct query *q)
{
    bool ok = q->aggregate && q->sc.nsrc == 1 && no_subquery(q->core->where);
    for (uint32_t i = 0; ok && i < q->core->group_by.n; i++) {
        ok = no_subquery(q->core->group_by.items[i]);
    }
    for (uint32_t i = 0; ok && i < q->aggs.n; i++) {
        const struct hdb_sql_expr *f = q->aggs.e[i];
        ok = !f->u.function.distinct && strcasecmp(f->u.function.name.ptr, "group_concat") != 0;
        for (uint32_t a = 0; ok && a < f->u.function.args.n; a++) {
            ok = no_subquery(f->u.function.args.items[a]);
        }
    }
    return ok;
}

bool core_folds(const struct hdb_sql_select *sel, const struct hdb_sql_select_core *core)
{
    struct query q = {.core = core, .sc = {.nsrc = core->from.n == 1 ? 1 : 0}};
    collect_aggs(&q, sel);
    return fold_eligible(&q);
}

/* A page of a part's rows through WHERE into its groups; the page's memory is then freed. */
static int fold_page(struct fold_part *p)
{
    struct query *q = &p->q;
    struct exec *x = &p->x;
    q->page++;
    q->ntouched = 0;
    int rc = join(q, 0);
    for (uint32_t i = 0; rc == HDB_OK && i < q->ntouched; i++) {
        IN_KEEP(x, rc = keep_group_row(q, &q->gv[q->touched[i]], p->src.ncols));
    }
    x->rows_held -= p->src.rows.cap;
    if (rc != HDB_OK && p->page.over_limit) {
        p->keep.over_limit = true;
    }
    hdb_sql_arena_free(&p->page);
    p->src.rows = (struct rows){.ncols = p->src.ncols};
    p->src.cur = NULL;
    return rc;
}

/* hdb_txn_fold's callback, on the shard's thread: a row into the page, or a turn's end. */
static int fold_row(void *ctx, const uint8_t *key, uint32_t klen, const uint8_t *val, uint32_t vlen,
                    struct hdb_err *err)
{
    struct fold_part *p = ctx;
    (void)klen;
    int rc = key != NULL ? row_decode_push(&p->x, p->def, val, vlen, &p->src.rows) : HDB_OK;
    if (rc == HDB_OK && (key == NULL || p->src.rows.n == STREAM_PAGE_ROWS)) {
        rc = fold_page(p);
    }
    if (rc != HDB_OK) {
        *err = p->err.code != HDB_OK ? p->err : (struct hdb_err){.code = rc};
    }
    return rc;
}

static void fold_part_init(struct fold_part *p, const struct query *q, uint32_t shard,
                           const struct hdb_table_def *def)
{
    struct exec *x = q->x;
    p->def = def;
    p->keep.limit = x->arena->limit;
    p->page.limit = x->arena->limit;
    p->x = *x;
    p->x.arena = &p->page;
    p->x.keep = &p->keep;
    p->x.err = &p->err;
    p->x.t = NULL; /* a shard's thread may not use the transaction */
    p->x.conn = NULL;
    p->x.rows_held = 0;
    p->x.nsubs = 0; /* (a part runs no subquery) */
    p->x.rng = x->rng ^ (0x9E3779B97F4A7C15ull * (shard + 1u));
    p->x.rng = p->x.rng != 0 ? p->x.rng : 1;
    p->src = q->sc.src[0];
    p->src.rows = (struct rows){.ncols = p->src.ncols};
    p->src.cur = NULL;
    p->q = (struct query){.x = &p->x,
                          .core = q->core,
                          .nfrom = q->nfrom,
                          .sc = {.src = &p->src, .nsrc = 1, .outer = q->sc.outer},
                          .aggs = q->aggs,
                          .aggregate = true,
                          .minmax = q->minmax,
                          .null_row = q->null_row};
    memcpy(p->q.from, q->from, sizeof q->from);
    p->q.sc.aggs = &p->q.aggs;
}

/* Adds a part's aggregate state into the coordinator's (group_concat and DISTINCT never fold). */
static int agg_merge(struct exec *x, const struct hdb_sql_expr *f, struct agg *a,
                     const struct agg *b)
{
    const char *name = f->u.function.name.ptr;
    a->count += b->count;
    if (!b->any) {
        return HDB_OK;
    }
    int rc = HDB_OK;
    a->took = false;
    if (strcasecmp(name, "min") == 0 || strcasecmp(name, "max") == 0) {
        int c = a->any ? hdb_value_cmp(&b->best, &a->best) : 0;
        if (!a->any || (name[1] == 'i' || name[1] == 'I' ? c < 0 : c > 0)) {
            a->best = b->best;
            a->took = true;
            IN_KEEP(x, rc = value_keep(x, &a->best));
        }
        a->any = true;
        return rc;
    }
    if (b->is_dec && a->is_dec) {
        struct hdb_dec r;
        rc = hdb_dec_add(&a->dsum, &b->dsum, &r, x->err);
        a->dsum = r;
    } else if (b->is_dec) {
        a->dsum = b->dsum;
        a->is_dec = true;
    }
    if (b->overflow || (!a->overflow && __builtin_add_overflow(a->isum, b->isum, &a->isum))) {
        a->overflow = true;
    }
    a->rsum += b->rsum;
    a->is_real = a->is_real || b->is_real;
    a->any = true;
    return rc;
}

/* Merges a part's groups into the coordinator's, in the order the part made them. */
static int fold_merge(struct query *q, struct fold_part *p)
{
    struct exec *x = q->x;
    const struct kslot **by_idx = calloc(p->q.ngroups + 1, sizeof *by_idx);
    if (by_idx == NULL) {
        return exec_fail(x, HDB_NOMEM, "out of memory merging groups");
    }
    for (uint32_t i = 0; i < p->q.groups.cap; i++) {
        const struct kslot *k = &p->q.groups.slots[i];
        by_idx[k->k != NULL ? k->idx : p->q.ngroups] = k;
    }
    int rc = HDB_OK;
    for (uint32_t i = 0; i < p->q.ngroups && rc == HDB_OK; i++) {
        const struct group *from = &p->q.gv[i];
        struct hdb_buf key = {.data = (uint8_t *)by_idx[i]->k, .len = by_idx[i]->len};
        struct group *g = NULL;
        IN_KEEP(x, rc = group_at(q, &key, &g));
        bool had_row = rc == HDB_OK && g->rows[0] != NULL;
        for (uint32_t a = 0; rc == HDB_OK && a < q->aggs.n; a++) {
            rc = agg_merge(x, q->aggs.e[a], &g->aggs[a], &from->aggs[a]);
        }
        if (rc == HDB_OK && (!had_row || q->minmax < 0 || g->aggs[q->minmax].took)) {
            g->rows[0] = from->rows[0]; /* as emit() chooses it */
            IN_KEEP(x, rc = keep_group_row(q, g, q->sc.src[0].ncols));
        }
    }
    free(by_idx);
    return rc;
}

/* Runs the query's scan of `st` as partial aggregation on every shard, then merges the parts. */
static int fold_scan(struct query *q, const struct hdb_schema_table *st)
{
    struct exec *x = q->x;
    uint32_t n = x->nshards;
    struct fold_part *parts = calloc(n, sizeof *parts);
    void **ctxs = calloc(n, sizeof *ctxs);
    uint64_t outer_reads = x->outer_reads;
    int rc = parts != NULL && ctxs != NULL ? HDB_OK : exec_fail(x, HDB_NOMEM, "out of memory");
    for (uint32_t s = 0; rc == HDB_OK && s < n; s++) {
        fold_part_init(&parts[s], q, s, st->def);
        ctxs[s] = &parts[s];
    }
    rc = rc == HDB_OK ? hdb_txn_fold(x->t, st->rows, NULL, 0, NULL, 0, fold_row, ctxs, x->err) : rc;
    for (uint32_t s = 0; rc == HDB_OK && s < n; s++) {
        x->outer_reads += parts[s].x.outer_reads - outer_reads; /* a correlated subquery */
        rc = fold_merge(q, &parts[s]);
    }
    for (uint32_t s = 0; parts != NULL && s < n; s++) {
        if (rc != HDB_OK && parts[s].keep.over_limit) {
            x->arena->over_limit = true; /* the statement's error names work_mem_mb */
        }
        hdb_sql_arena_free(&parts[s].page);
        hdb_sql_arena_free(&parts[s].keep);
    }
    free(parts);
    free(ctxs);
    x->rng = x->rng * 6364136223846793005ull + 1442695040888963407ull;
    x->rng = x->rng != 0 ? x->rng : 1;
    return rc;
}

static int run_core(struct exec *x, const struct hdb_sql_select *sel,
                    const struct hdb_sql_select_core *core, struct scope *outer, struct query *q,
                    const struct hdb_sql_list *order)
{
    *q = (struct query){.x = x, .core = core, .sc = {.outer = outer}};
    if (core->values.n > 0) {
        return run_values(x, core, outer, q, order);
    }
    collect_aggs(q, sel);
    q->sc.aggs = &q->aggs;
    int rc = flatten_from(q, &core->from, HDB_JOIN_NONE, NULL);
    if (rc != HDB_OK) {
        return rc;
    }
    q->sc.src = hdb_sql_arena_alloc(x->arena, (q->nfrom + 1) * sizeof *q->sc.src, &rc);
    if (q->sc.src == NULL) {
        return exec_fail(x, rc, "out of memory");
    }
    struct access_hint hint = {.order = &sel->order_by};
    struct hdb_table *streamed = NULL; /* the one source, read page by page (stream_scan) */
    rc = q->nfrom == 1 ? query_hint(x, sel, q, &hint) : HDB_OK;
    uint32_t widest = 1;
    for (uint32_t i = 0; i < q->nfrom && rc == HDB_OK; i++) {
        const struct hdb_sql_source *fs = q->from[i].src;
        /* With one source, WHERE may pin its primary key: a point read instead of a scan. */
        const struct hdb_sql_expr *where = q->nfrom == 1 ? core->where : NULL;
        bool stream = q->nfrom == 1;
        x->stream_table = NULL;
        rc = open_source(x, fs, outer, where, q->nfrom == 1 ? &hint : NULL, stream, &q->sc.src[i]);
        streamed = q->nfrom == 1 ? x->stream_table : NULL;
        x->stream_table = NULL;
        q->ordered = q->nfrom == 1 && hint.ordered;
        q->sc.nsrc = i + 1;
        widest = q->sc.src[i].ncols > widest ? q->sc.src[i].ncols : widest;
    }
    q->null_row =
        rc == HDB_OK ? hdb_sql_arena_alloc(x->arena, widest * sizeof *q->null_row, &rc) : NULL;
    if (rc != HDB_OK) {
        return q->null_row == NULL && x->err->code == HDB_OK ? exec_fail(x, rc, "out of memory")
                                                             : rc;
    }
    rc = plan_columns(q, order);
    q->scratch =
        rc == HDB_OK ? hdb_sql_arena_alloc(x->arena, q->ncols * sizeof *q->scratch, &rc) : NULL;
    if (rc != HDB_OK && q->scratch == NULL && x->err->code == HDB_OK) {
        return exec_fail(x, rc, "out of memory");
    }
    if (rc == HDB_OK && q->aggs.overflow) {
        rc = exec_fail(x, HDB_TOOBIG, "more than %u aggregate calls in one SELECT", AGG_SLOTS_MAX);
    }
    if (rc == HDB_OK && q->sc.nsrc == 0) {
        int t = 1;
        rc = core->where != NULL ? truth(q, core->where, &t) : HDB_OK;
        rc = rc == HDB_OK && t == 1 ? emit(q) : rc;
    } else if (rc == HDB_OK && streamed != NULL && fold_eligible(q) &&
               !hdb_txn_wrote(x->t, streamed) && schema_table_of(x, streamed) != NULL) {
        rc = fold_scan(q, schema_table_of(x, streamed));
    } else if (rc == HDB_OK && streamed != NULL) {
        rc = stream_scan(q, streamed);
    } else if (rc == HDB_OK) {
        rc = join_all(q);
    }
    if (rc == HDB_OK && q->aggregate) {
        rc = output_groups(q);
    }
    return rc;
}

/* --- DISTINCT, compound operators, ORDER BY, LIMIT --- */

static int distinct_width(struct exec *x, struct rows *r, uint32_t width)
{
    struct kset seen = {0};
    struct hdb_buf key = {0};
    uint32_t w = 0;
    int rc = HDB_OK;
    for (uint32_t i = 0; i < r->n && rc == HDB_OK; i++) {
        bool found = false;
        uint32_t idx;
        rc = row_key(x, r->v + (size_t)i * r->ncols, width, &key);
        rc = rc == HDB_OK ? kset_add(x, &seen, &key, i, &found, &idx) : rc;
        if (rc == HDB_OK && !found) {
            memmove(r->v + (size_t)w * r->ncols, r->v + (size_t)i * r->ncols,
                    r->ncols * sizeof *r->v);
            w++;
        }
    }
    free(key.data);
    r->n = rc == HDB_OK ? w : r->n;
    return rc;
}

static int distinct_rows(struct exec *x, struct rows *r)
{
    return distinct_width(x, r, r->ncols);
}

/* Rows of `a` whose key is (keep) or is not (!keep) among the rows of `b`. */
static int filter_by(struct exec *x, struct rows *a, const struct rows *b, bool keep)
{
    struct kset in_b = {0};
    struct hdb_buf key = {0};
    int rc = HDB_OK;
    for (uint32_t i = 0; i < b->n && rc == HDB_OK; i++) {
        bool found;
        uint32_t idx;
        rc = row_key(x, b->v + (size_t)i * b->ncols, b->ncols, &key);
        rc = rc == HDB_OK ? kset_add(x, &in_b, &key, i, &found, &idx) : rc;
    }
    uint32_t w = 0;
    for (uint32_t i = 0; i < a->n && rc == HDB_OK; i++) {
        bool found = false;
        struct kset probe = in_b;
        rc = row_key(x, a->v + (size_t)i * a->ncols, a->ncols, &key);
        if (rc == HDB_OK) {
            uint64_t h = XXH3_64bits(key.data, key.len);
            for (uint32_t at = (uint32_t)h & (probe.cap - 1);
                 probe.cap > 0 && probe.slots[at].k != NULL; at = (at + 1) & (probe.cap - 1)) {
                const struct kslot *k = &probe.slots[at];
                if (k->h == h && k->len == key.len && memcmp(k->k, key.data, key.len) == 0) {
                    found = true;
                    break;
                }
            }
        }
        if (rc == HDB_OK && found == keep) {
            memmove(a->v + (size_t)w * a->ncols, a->v + (size_t)i * a->ncols,
                    a->ncols * sizeof *a->v);
            w++;
        }
    }
    free(key.data);
    a->n = rc == HDB_OK ? w : a->n;
    return rc == HDB_OK ? distinct_rows(x, a) : rc;
}

static int append_rows(struct exec *x, struct rows *a, const struct rows *b)
{
    int rc = HDB_OK;
    for (uint32_t i = 0; i < b->n && rc == HDB_OK; i++) {
        rc = rows_push(x, a, b->v + (size_t)i * b->ncols);
    }
    return rc;
}

struct sort_ctx {
    uint32_t nterms;
    const bool *desc;
    const enum hdb_sql_nulls *nulls; /* NULLS FIRST / LAST, or the default (first when ASC) */
    uint32_t width;                  /* values per row: result columns, then the sort keys */
    uint32_t first_key;
};

static int sort_cmp(const void *a, const void *b, void *arg)
{
    const struct sort_ctx *s = arg;
    const struct hdb_value *x = *(const struct hdb_value *const *)a;
    const struct hdb_value *y = *(const struct hdb_value *const *)b;
    for (uint32_t i = 0; i < s->nterms; i++) {
        const struct hdb_value *u = &x[s->first_key + i], *v = &y[s->first_key + i];
        bool un = u->type == HDB_V_NULL, vn = v->type == HDB_V_NULL;
        if (un != vn && s->nulls[i] != HDB_NULLS_DEFAULT) {
            return (un ? -1 : 1) * (s->nulls[i] == HDB_NULLS_FIRST ? 1 : -1);
        }
        int c = hdb_value_cmp(u, v);
        if (c != 0) {
            return s->desc[i] ? -c : c;
        }
    }
    return x < y ? -1 : x > y ? 1 : 0; /* stable */
}

/* An ORDER BY term as an output column (number, alias or name), or -1. */
static int32_t order_column(const struct hdb_sql_expr *e, const char **names, uint32_t ncols)
{
    if (e->kind == HDB_EXPR_INTEGER) {
        return e->u.i >= 1 && e->u.i <= (int64_t)ncols ? (int32_t)e->u.i - 1 : -2;
    }
    if (e->kind == HDB_EXPR_COLUMN && e->u.column.table.ptr == NULL) {
        for (uint32_t i = 0; i < ncols; i++) {
            if (names[i] != NULL && strcasecmp(names[i], e->u.column.column.ptr) == 0) {
                return (int32_t)i;
            }
        }
    }
    return -1;
}

static int limit_value(struct exec *x, const struct hdb_sql_expr *e, int64_t *out)
{
    struct hdb_value v;
    int rc = scope_eval(x, NULL, e, &v);
    if (rc != HDB_OK) {
        return rc;
    }
    struct hdb_value n;
    hdb_value_numeric(&v, &n);
    if (v.type == HDB_V_NULL || n.type != HDB_V_INT) {
        return exec_fail(x, HDB_INVALID, "datatype mismatch in LIMIT or OFFSET");
    }
    *out = n.u.i;
    return HDB_OK;
}

static int limit_rows(struct exec *x, const struct hdb_sql_select *sel, struct rows *r)
{
    int64_t limit = -1, offset = 0;
    int rc = sel->limit != NULL ? limit_value(x, sel->limit, &limit) : HDB_OK;
    rc = rc == HDB_OK && sel->offset_expr != NULL ? limit_value(x, sel->offset_expr, &offset) : rc;
    if (rc != HDB_OK) {
        return rc;
    }
    offset = offset < 0 ? 0 : offset;
    uint64_t from = (uint64_t)offset > r->n ? r->n : (uint64_t)offset;
    uint64_t count = r->n - from;
    if (limit >= 0 && (uint64_t)limit < count) {
        count = (uint64_t)limit;
    }
    if (from > 0 && count > 0) {
        memmove(r->v, r->v + from * r->ncols, count * r->ncols * sizeof *r->v);
    }
    r->n = (uint32_t)count;
    return HDB_OK;
}

/* Evaluates the ORDER BY keys of every output row of a single-core SELECT and sorts. */
static int order_rows(struct exec *x, const struct hdb_sql_select *sel, struct query *q,
                      struct rows *r, const char **names)
{
    uint32_t nt = sel->order_by.n;
    if (nt == 0 || r->n < 1) {
        return HDB_OK;
    }
    if (nt > 64) {
        return exec_fail(x, HDB_TOOBIG, "ORDER BY has more than 64 terms");
    }
    int32_t col[64];
    bool desc[64];
    enum hdb_sql_nulls nulls[64];
    for (uint32_t i = 0; i < nt; i++) {
        const struct hdb_sql_order_term *t = sel->order_by.items[i];
        col[i] = order_column(t->expr, names, r->ncols);
        desc[i] = t->order == HDB_ORDER_DESC;
        nulls[i] = t->nulls;
        if (col[i] == -2) {
            return exec_fail(x, HDB_INVALID,
                             "%u%s ORDER BY term out of range - should be between 1 and %u", i + 1,
                             i == 0   ? "st"
                             : i == 1 ? "nd"
                             : i == 2 ? "rd"
                                      : "th",
                             r->ncols);
        }
        if (col[i] == -1 && q == NULL) {
            return exec_fail(x, HDB_INVALID,
                             "%u%s ORDER BY term does not match any column in the result set",
                             i + 1,
                             i == 0   ? "st"
                             : i == 1 ? "nd"
                             : i == 2 ? "rd"
                                      : "th");
        }
    }
    /* Rows widened with their keys; expression keys need the rows' sources, so for a
     * plain query they were computed when the rows were made (see select_core_ordered). */
    struct sort_ctx sc = {
        .nterms = nt, .desc = desc, .nulls = nulls, .width = r->ncols, .first_key = 0};
    int rc = HDB_OK;
    const struct hdb_value **ptr = hdb_sql_arena_alloc(x->arena, r->n * sizeof *ptr, &rc);
    struct hdb_value *keyed =
        hdb_sql_arena_alloc(x->arena, (size_t)r->n * (r->ncols + nt) * sizeof *keyed, &rc);
    if (ptr == NULL || keyed == NULL) {
        return exec_fail(x, rc, "out of memory sorting");
    }
    uint32_t w = r->ncols + nt;
    for (uint32_t i = 0; i < r->n; i++) {
        struct hdb_value *row = keyed + (size_t)i * w;
        memcpy(row, r->v + (size_t)i * r->ncols, r->ncols * sizeof *row);
        for (uint32_t k = 0; k < nt; k++) {
            row[r->ncols + k] = row[col[k]];
        }
        ptr[i] = row;
    }
    sc.first_key = r->ncols;
    qsort_r(ptr, r->n, sizeof *ptr, sort_cmp, &sc);
    for (uint32_t i = 0; i < r->n; i++) {
        memcpy(r->v + (size_t)i * r->ncols, ptr[i], r->ncols * sizeof *r->v);
    }
    return HDB_OK;
}

/* A single-core SELECT whose ORDER BY may use expressions: keys are extra hidden columns. */
static int run_single(struct exec *x, const struct hdb_sql_select *sel, struct scope *outer,
                      struct rows *out, const char ***names)
{
    struct query q;
    const struct hdb_sql_select_core *core = sel->cores.items[0];
    int rc = run_core(x, sel, core, outer, &q, NULL);
    if (rc != HDB_OK) {
        return rc;
    }
    *out = q.out;
    if (names != NULL) {
        *names = q.names;
    }
    if (core->distinct) {
        rc = distinct_rows(x, out);
    }
    return rc;
}

/* One core with ORDER BY: the keys are hidden columns of each row; sort, then drop them. */
static int select_ordered(struct exec *x, const struct hdb_sql_select *sel, struct scope *outer,
                          struct rows *out, const char ***names)
{
    struct query q;
    const struct hdb_sql_select_core *core = sel->cores.items[0];
    int rc = run_core(x, sel, core, outer, &q, &sel->order_by);
    if (rc == HDB_OK && core->distinct) {
        rc = distinct_width(x, &q.out, q.nvisible);
    }
    if (rc != HDB_OK) {
        return rc;
    }
    uint32_t nt = sel->order_by.n;
    bool desc[64];
    enum hdb_sql_nulls nulls[64];
    if (nt > 64) {
        return exec_fail(x, HDB_TOOBIG, "ORDER BY has more than 64 terms");
    }
    for (uint32_t i = 0; i < nt; i++) {
        const struct hdb_sql_order_term *t = sel->order_by.items[i];
        desc[i] = t->order == HDB_ORDER_DESC;
        nulls[i] = t->nulls;
    }
    struct sort_ctx sc = {
        .nterms = nt, .desc = desc, .nulls = nulls, .width = q.ncols, .first_key = q.nvisible};
    const struct hdb_value **ptr = hdb_sql_arena_alloc(x->arena, (q.out.n + 1) * sizeof *ptr, &rc);
    if (ptr == NULL) {
        return exec_fail(x, rc, "out of memory sorting");
    }
    for (uint32_t i = 0; i < q.out.n; i++) {
        ptr[i] = q.out.v + (size_t)i * q.ncols;
    }
    if (!q.ordered) { /* an index or the key may already have given this order */
        qsort_r(ptr, q.out.n, sizeof *ptr, sort_cmp, &sc);
    }
    *out = (struct rows){.ncols = q.nvisible};
    for (uint32_t i = 0; i < q.out.n && rc == HDB_OK; i++) {
        rc = rows_push(x, out, ptr[i]);
    }
    *names = q.names;
    return rc;
}

static int select_body(struct exec *x, const struct hdb_sql_select *sel, struct scope *outer,
                       struct rows *out, const char ***names);

int select_run(struct exec *x, const struct hdb_sql_select *sel, struct scope *outer,
               struct rows *out, const char ***names)
{
    struct cte_frame frame = {.with = &sel->with, .recursive = sel->recursive, .up = x->ctes};
    if (sel->with.n > 0) {
        x->ctes = &frame; /* visible to this SELECT's FROM and its subqueries */
    }
    int wrc = select_body(x, sel, outer, out, names);
    x->ctes = sel->with.n > 0 ? frame.up : x->ctes;
    return wrc;
}

static int select_body(struct exec *x, const struct hdb_sql_select *sel, struct scope *outer,
                       struct rows *out, const char ***names)
{
    const char **first_names = NULL;
    int rc;
    if (sel->cores.n == 1 && sel->order_by.n > 0) {
        rc = select_ordered(x, sel, outer, out, &first_names);
    } else {
        rc = run_single(x, sel, outer, out, &first_names);
    }
    for (uint32_t i = 1; rc == HDB_OK && i < sel->cores.n; i++) {
        const struct hdb_sql_select_core *core = sel->cores.items[i];
        struct query q;
        rc = run_core(x, sel, core, outer, &q, NULL);
        if (rc == HDB_OK && core->distinct) {
            rc = distinct_rows(x, &q.out);
        }
        if (rc == HDB_OK && q.out.ncols != out->ncols) {
            rc = exec_fail(x, HDB_INVALID,
                           "SELECTs to the left and right of %s do not have the same number of "
                           "result columns",
                           core->op == HDB_COMPOUND_EXCEPT      ? "EXCEPT"
                           : core->op == HDB_COMPOUND_INTERSECT ? "INTERSECT"
                           : core->op == HDB_COMPOUND_UNION_ALL ? "UNION ALL"
                                                                : "UNION");
        }
        if (rc != HDB_OK) {
            break;
        }
        switch (core->op) {
        case HDB_COMPOUND_UNION_ALL:
            rc = append_rows(x, out, &q.out);
            break;
        case HDB_COMPOUND_UNION:
            rc = append_rows(x, out, &q.out);
            rc = rc == HDB_OK ? distinct_rows(x, out) : rc;
            break;
        case HDB_COMPOUND_EXCEPT:
            rc = filter_by(x, out, &q.out, false);
            break;
        default:
            rc = filter_by(x, out, &q.out, true);
        }
    }
    if (rc == HDB_OK && sel->cores.n > 1) {
        rc = order_rows(x, sel, NULL, out, first_names);
    }
    rc = rc == HDB_OK ? limit_rows(x, sel, out) : rc;
    if (rc == HDB_OK && names != NULL) {
        *names = first_names;
    }
    return rc;
}
