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
    struct group *group;         /* during output of an aggregate query: the group's results */
    const struct agg_list *aggs; /* the aggregate calls of this scope's query */
};

/* The WITH lists in force (innermost first). */
struct cte_frame {
    const struct hdb_sql_list *with; /* of hdb_sql_cte */
    struct cte_frame *up;
};

/* One statement's execution. */
struct exec {
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
    struct cte_frame *ctes;
    uint32_t cte_depth; /* CTE queries running inside each other (self reference is refused) */
    /* The stored row (and its key) a failed UNIQUE check met: an upsert updates it. */
    const struct hdb_value *conflict_row, *conflict_key;
    struct hdb_err *err;
};

/* exec.c */
int rows_push(struct exec *x, struct rows *r, const struct hdb_value *row);
/* HDB_TIMEOUT once the statement is past its deadline (reads the clock every 256 calls). */
int exec_tick(struct exec *x);
int exec_fail(struct exec *x, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Reads every row of a table into `out` (values copied into the arena). */
int table_scan_all(struct exec *x, const struct hdb_schema_table *st, struct rows *out,
                   struct rows *keys);
/* When WHERE pins the whole primary key (or the rowid) to values that depend on no column,
 * reads that one row (or none) instead of the table: *done says whether it did. */
int table_point_read(struct exec *x, const struct hdb_schema_table *t, const char *name,
                     const struct hdb_sql_expr *where, struct rows *out, struct rows *keys,
                     bool *done);
/* Evaluates `e` for the rows the scope points at. */
int scope_eval(struct exec *x, struct scope *sc, const struct hdb_sql_expr *e,
               struct hdb_value *out);
/* Copies TEXT/BLOB bytes into the arena so the value outlives its buffer. */
int value_keep(struct exec *x, struct hdb_value *v);

/* exec_select.c */
/* The evaluator's hook for a function call: an aggregate's value in the group being output. */
int group_value(struct exec *x, struct scope *sc, const struct hdb_sql_expr *e,
                struct hdb_value *out, bool *handled);
/* Runs a SELECT; names (may be NULL) gets the result column names. */
int select_run(struct exec *x, const struct hdb_sql_select *sel, struct scope *outer,
               struct rows *out, const char ***names);

#endif
