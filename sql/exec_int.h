/*
 * exec_int.h — the executor's inside, shared by exec.c (sessions, DML, row
 * storage) and exec_select.c (SELECT). Not part of the layer's interface.
 */
#ifndef HDB_SQL_EXEC_INT_H
#define HDB_SQL_EXEC_INT_H

#include "sql/eval.h"
#include "sql/exec.h"
#include "sql/schema.h"

struct group;
struct agg_list;

/* Rows of `ncols` values each, in the statement's arena. */
struct rows {
    uint32_t ncols;
    uint32_t n, cap;
    struct hdb_value *v;
};

/* One FROM entry while a query runs: its columns and its current row. */
struct source {
    const char *name; /* alias or table name, for t.col */
    uint32_t ncols;
    const char **colnames;
    const enum hdb_affinity *affs;
    struct rows rows;
    const struct hdb_value *cur; /* the current row, or a row of NULLs */
    bool qualified_only;         /* only t.col reaches it (an upsert's `excluded`) */
};

/* Name resolution: the sources of one SELECT and the enclosing query's scope. */
struct scope {
    struct source *src;
    uint32_t nsrc;
    struct scope *outer;
    struct group *group; /* during output of an aggregate query: the group's results */
    uint32_t watched;    /* a subquery of this scope runs: reads of its columns are counted */
    const struct agg_list *aggs; /* the aggregate calls of this scope's query */
};

/* The WITH lists in force (innermost first). */
struct cte_frame {
    const struct hdb_sql_list *with; /* of hdb_sql_cte */
    bool recursive;                  /* WITH RECURSIVE */
    struct cte_frame *up;
};

/* While a recursive common table expression runs its recursive SELECT: the rows its name
 * stands for (those the previous step added). */
struct cte_work {
    const struct hdb_sql_cte *cte;
    const struct rows *rows;
    const char **names; /* of the initial SELECT's result */
    struct cte_work *up;
};

/* A subquery that read nothing of an outer row: its rows, kept for the rest of the statement
 * (IN: sorted by hdb_value_cmp without its NULLs, which has_null records). */
#define SUBQUERY_CACHE_MAX 16u
struct sub_result {
    const struct hdb_sql_expr *e;
    struct rows rows;
    bool has_null;
};

/* One statement's execution. */
struct exec {
    struct hdb_db *db;
    struct hdb_conn *conn;
    struct hdb_txn *t;
    struct hdb_schema *schema;
    struct hdb_sql_arena *arena; /* the result's: lives as long as the values */
    const char *src;
    const struct hdb_value *params;
    uint32_t nparams;
    int64_t now_ms;
    uint64_t rng;
    uint64_t rows_held;   /* bounded by HDB_EXEC_ROWS_MAX */
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: no statement_timeout */
    uint32_t timeout_ms;
    uint32_t ticks; /* calls since the clock was last read */
    uint32_t nshards;
    uint64_t ddl_seq; /* the DDL sequence around the snapshot (rowids.h); odd: not stable */
    bool autocommit;  /* the statement is its own transaction (not inside BEGIN ... COMMIT) */
    struct cte_frame *ctes;
    struct cte_work *work;
    /* While a scan streams page by page (exec_select.c), `arena` is the page's and is freed
     * after it; what outlives the page (result rows, aggregate states) goes to `keep`. */
    struct hdb_sql_arena *keep;
    struct hdb_table *stream_table; /* set by open_source: the scan run_core streams */
    uint32_t cte_depth; /* CTE queries running inside each other (self reference is refused) */
    /* Subqueries run once per statement, as SQLite runs them (exec.c, eval_hook); outer_reads
     * counts columns read from a watched scope, which makes a subquery correlated. */
    struct sub_result subs[SUBQUERY_CACHE_MAX];
    uint32_t nsubs;
    struct hdb_sql_arena *stmt_arena; /* where they are kept: lives as long as the statement */
    uint64_t outer_reads;
    /* The stored row (and its key) a failed UNIQUE check met: an upsert updates it. */
    const struct hdb_value *conflict_row, *conflict_key;
    struct hdb_err *err;
};

/* exec.c */
int rows_push(struct exec *x, struct rows *r, const struct hdb_value *row);
/* HDB_TIMEOUT once the statement is past its deadline (reads the clock every 256 calls); every
 * 1024 calls, on a shard thread, lets the thread's shards take a turn (hdb_db_yield). */
int exec_tick(struct exec *x);
int exec_fail(struct exec *x, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Decodes a stored row of `def` (columns added since get their DEFAULT) and pushes it onto
 * `out`, its values copied into the arena. */
int row_decode_push(struct exec *x, const struct hdb_table_def *def, const uint8_t *val,
                    uint32_t vlen, struct rows *out);
/* Reads every row of a table into `out` (values copied into the arena). */
int table_scan_all(struct exec *x, const struct hdb_schema_table *st, struct rows *out,
                   struct rows *keys);
/* Calls `row` for the keys lo <= key < hi of a key-value table (every shard, merged in key
 * order), 4,096 rows a page, at most `max` (0: all); stops early when `row`
 * returns false (its context then holds why). */
int scan_paged(struct exec *x, struct hdb_table *tb, const uint8_t *lo, uint32_t lolen,
               const uint8_t *hi, uint32_t hilen, uint64_t max, hdb_scan_row_fn row, void *ctx);
/* The rows with lo <= key < hi (NULL: no bound), the first `max` of them (0: all). */
int table_scan_range(struct exec *x, const struct hdb_schema_table *st, const uint8_t *lo,
                     uint32_t lolen, const uint8_t *hi, uint32_t hilen, uint64_t max,
                     struct rows *out, struct rows *keys);
/* The storage key of a rowid: 8 bytes big-endian with the sign bit flipped. */
void rowid_key(int64_t rowid, uint8_t out[8]);
/* Does the expression depend on no column (constants, parameters, operators on them)? */
bool column_free(const struct hdb_sql_expr *e);
/* The first `max` rows in key order (0: all). */
int table_scan_first(struct exec *x, const struct hdb_schema_table *st, uint64_t max,
                     struct rows *out, struct rows *keys);

/*
 * What a one-table query lets its access path skip: when the path yields rows in ORDER BY
 * `order` (empty: any order) and no condition of WHERE is left to check on them, only the first
 * `max_rows` are needed (LIMIT + OFFSET; 0: all).
 */
struct access_hint {
    const struct hdb_sql_list *order; /* of hdb_sql_order_term */
    bool usable;                      /* the query may take rows in `order` as sorted */
    uint64_t max_rows;                /* 0 unless usable */
    bool ordered;                     /* out: the rows came in `order`: no sort needed */
};
/* Does index `ix` read after its first n columns give ORDER BY `order` (either way round)? */
bool index_orders(const struct hdb_schema_table *t, const char *name,
                  const struct hdb_schema_ix *ix, uint32_t n, const struct hdb_sql_list *order);
/* Does a scan of the table in key order give ORDER BY `order` (forward only)? */
bool scan_orders(const struct hdb_schema_table *t, const char *name,
                 const struct hdb_sql_list *order);
/* When WHERE pins the whole primary key (or the rowid) to values that depend on no column,
 * reads that one row (or none) instead of the table: *done says whether it did. */
int table_point_read(struct exec *x, const struct hdb_schema_table *t, const char *name,
                     const struct hdb_sql_expr *where, struct rows *out, struct rows *keys,
                     bool *done);
/* Reads the row stored under `key` into `out` (and the key into `keys`, may be NULL);
 * HDB_NOTFOUND if there is none. */
int table_get_row(struct exec *x, const struct hdb_schema_table *t, const uint8_t *key,
                  uint32_t klen, struct rows *out, struct rows *keys);
/* Reads the rows stored under the keys `rks` (one BLOB column) in that order, all requests at
 * once; keys with no row are counted in *missing. */
int table_get_rows(struct exec *x, const struct hdb_schema_table *t, const struct rows *rks,
                   struct rows *out, struct rows *keys, uint32_t *missing);
/* Key columns pinned by `col = constant` conjuncts of a WHERE. */
struct pk_pins {
    const struct hdb_sql_expr *value[HDB_KEY_COLUMNS_MAX]; /* per key column, or NULL */
};
void find_pins(const struct hdb_sql_expr *e, const struct hdb_table_def *d, const char *name,
               const struct hdb_key_def *pk, struct pk_pins *p);
/* "t.a, t.b": a key's columns as SQLite names them in constraint errors (in the arena). */
const char *constraint_cols(struct exec *x, const struct hdb_table_def *d,
                            const struct hdb_key_def *k);
/* Does the row satisfy a partial index's WHERE (true when there is none)? */
int in_partial(struct exec *x, const struct hdb_table_def *d, const struct hdb_sql_expr *where,
               const struct hdb_value *row, bool *in);
/* Evaluates `e` for the rows the scope points at; on failure *out is NULL. */
int scope_eval(struct exec *x, struct scope *sc, const struct hdb_sql_expr *e,
               struct hdb_value *out);
/* Copies TEXT/BLOB bytes into the arena so the value outlives its buffer. */
int value_keep(struct exec *x, struct hdb_value *v);

/* exec_index.c: the entries of UNIQUE constraints and indexes (struct hdb_schema_ix) */
/* Keeps every index of `t` in step with a row write: old (may be NULL) stored under okey
 * replaced by row (may be NULL) stored under nkey. Entries that stay the same are not written. */
int index_update_row(struct exec *x, const struct hdb_schema_table *t, const struct hdb_value *old,
                     const uint8_t *okey, uint32_t oklen, const struct hdb_value *row,
                     const uint8_t *nkey, uint32_t nklen);
/* UNIQUE constraints and unique indexes: no row other than the one stored under `self` (may be
 * NULL) has the same non-NULL values. On a conflict sets x->conflict_row/_key and fails with
 * HDB_CONSTRAINT naming the columns. */
int index_check_unique(struct exec *x, const struct hdb_schema_table *t,
                       const struct hdb_value *row, const uint8_t *self, uint32_t selflen);
/* Fills a new index from the rows of its table, checking uniqueness. */
int index_populate(struct exec *x, const struct hdb_schema_table *t, const char *index);
/* Bounds WHERE puts on one column (`col > v`, `v >= col`, `col BETWEEN a AND b`, ...). */
struct col_range {
    const struct hdb_sql_expr *lo, *hi; /* bound values (no column in them), or NULL */
    bool lo_strict, hi_strict;
    const struct hdb_sql_expr *lo_cond, *hi_cond; /* the conditions they come from */
};
/* The index a lookup on WHERE would use (none: NULL): how many leading columns WHERE pins to
 * values, and the bounds on the column after them (range may be NULL). */
const struct hdb_schema_ix *index_choose(const struct hdb_schema_table *t, const char *name,
                                         const struct hdb_sql_expr *where, uint32_t *npinned,
                                         struct col_range *range);
/* Would WHERE bound the table's key (the rowid, or the primary key's first column)? */
bool key_range_of(const struct hdb_schema_table *t, const char *name,
                  const struct hdb_sql_expr *where, struct col_range *range);
/* Reads the rows an index lookup or a range of the key finds (index with pinned columns first,
 * then a key range, then an index range); *done is false when none applies. */
int table_index_read(struct exec *x, const struct hdb_schema_table *t, const char *name,
                     const struct hdb_sql_expr *where, struct access_hint *hint,
                     struct hdb_sql_plan *plan, struct rows *out, struct rows *keys, bool *done);

/* exec_select.c */
/* The evaluator's hook for a function call: an aggregate's value in the group being output. */
int group_value(struct exec *x, struct scope *sc, const struct hdb_sql_expr *e,
                struct hdb_value *out, bool *handled);
/* Would the aggregates of this core, over one table read in full, be folded on the shards
 * (partial aggregation on each shard's thread; not while the transaction has written to it)? */
bool core_folds(const struct hdb_sql_select *sel, const struct hdb_sql_select_core *core);
/* The name of an unaliased result column, as SQLite gives it: a column's name, else the
 * expression's text as written (`count(*)`, `a + b`), in the arena. */
const char *result_name(struct exec *x, const struct hdb_sql_expr *e);
/* Runs a SELECT; names (may be NULL) gets the result column names. */
int select_run(struct exec *x, const struct hdb_sql_select *sel, struct scope *outer,
               struct rows *out, const char ***names);

#endif
