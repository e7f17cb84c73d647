/*
 * ast.h — the syntax tree the SQL parser builds, and the arena that owns it.
 *
 * Every node of one parse lives in one arena (struct hdb_sql_arena): chunks
 * of memory handed out by bumping a pointer and freed all at once by
 * hdb_sql_arena_free(). Nodes never point outside the arena except that the
 * source text (which the caller keeps alive) may be referenced by offset.
 *
 * Shape, for the planner:
 *   - struct hdb_sql_stmt: a tagged union over statement kinds, with the
 *     source span [offset, offset + len) of the statement text.
 *   - struct hdb_sql_expr: a tagged union over expression kinds, with the
 *     source span (SQLite names result columns by their text) and `height`,
 *     the depth of the subtree, bounded by HDB_SQL_EXPR_HEIGHT_MAX so that
 *     any later recursive walk of a tree is bounded too.
 *   - struct hdb_sql_select: a compound of one or more cores (SELECT … or
 *     VALUES …) with ORDER BY / LIMIT / OFFSET and an optional WITH list.
 *   - Lists are struct hdb_sql_list: an arena array of pointers; the element
 *     type is documented at each use.
 * Names are struct hdb_sql_str: NUL-terminated arena strings with quotes
 * removed and case kept as written (compare them case-insensitively, as
 * SQLite does). An absent name has ptr == NULL.
 */
#ifndef HDB_SQL_AST_H
#define HDB_SQL_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Bytes of one arena chunk (bigger requests get a chunk of their own). */
#define HDB_SQL_ARENA_CHUNK_BYTES (16u * 1024u)
/* All the memory one parse may use; beyond it the parse fails HDB_TOOBIG. */
#define HDB_SQL_ARENA_BYTES_MAX (256u * 1024u * 1024u)
/* Height of an expression tree (SQLite's SQLITE_MAX_EXPR_DEPTH default). */
#define HDB_SQL_EXPR_HEIGHT_MAX 1000
/* Nesting of parentheses, subqueries, unary operators and CASE while
 * parsing: the parser recurses once per level, so this bounds its stack. */
#define HDB_SQL_NEST_MAX 256
/* Elements of any one list (columns, VALUES rows, IN items, …). */
#define HDB_SQL_LIST_ITEMS_MAX (1u << 20)

struct hdb_sql_arena_chunk;

struct hdb_sql_arena {
    struct hdb_sql_arena_chunk *head;
    size_t used_bytes; /* total allocated from malloc, headers included */
    size_t limit;      /* the bound instead of HDB_SQL_ARENA_BYTES_MAX (0: none); kept by free */
    bool over_limit;   /* an allocation failed because of `limit` */
};

/* Returns zeroed memory of `bytes` from the arena or NULL (out of memory or
 * over HDB_SQL_ARENA_BYTES_MAX; *rc says which: HDB_NOMEM or HDB_TOOBIG). */
void *hdb_sql_arena_alloc(struct hdb_sql_arena *a, size_t bytes, int *rc);
/* Frees every chunk; the arena may be reused afterwards. */
void hdb_sql_arena_free(struct hdb_sql_arena *a);

struct hdb_sql_str {
    const char *ptr; /* NUL-terminated, in the arena; NULL when absent */
    uint32_t len;
};

struct hdb_sql_list {
    void **items;
    uint32_t n;
    uint32_t cap;
};

/* Appends `item`; returns HDB_OK, HDB_NOMEM or HDB_TOOBIG. */
int hdb_sql_list_push(struct hdb_sql_arena *a, struct hdb_sql_list *l, void *item);

/* ------------------------------------------------------------------ */
/* Expressions                                                         */

enum hdb_sql_expr_kind {
    HDB_EXPR_INTEGER,  /* u.i */
    HDB_EXPR_REAL,     /* u.r */
    HDB_EXPR_STRING,   /* u.s (unescaped) */
    HDB_EXPR_BLOB,     /* u.s (decoded bytes, len = bytes) */
    HDB_EXPR_NULL,     /* */
    HDB_EXPR_BOOL,     /* u.i: 1 for TRUE, 0 for FALSE */
    HDB_EXPR_CURRENT,  /* u.current: CURRENT_TIME / _DATE / _TIMESTAMP */
    HDB_EXPR_COLUMN,   /* u.column: [schema.][table.]column */
    HDB_EXPR_PARAM,    /* u.param */
    HDB_EXPR_UNARY,    /* u.unary */
    HDB_EXPR_BINARY,   /* u.binary */
    HDB_EXPR_LIKE,     /* u.like: LIKE GLOB MATCH REGEXP */
    HDB_EXPR_BETWEEN,  /* u.between */
    HDB_EXPR_IN,       /* u.in: list, subquery or table */
    HDB_EXPR_ISNULL,   /* u.isnull: IS NULL / ISNULL, NOT NULL / NOTNULL */
    HDB_EXPR_CASE,     /* u.case_ */
    HDB_EXPR_CAST,     /* u.cast */
    HDB_EXPR_FUNCTION, /* u.function */
    HDB_EXPR_EXISTS,   /* u.exists */
    HDB_EXPR_SUBQUERY, /* u.subquery: scalar (SELECT …) */
    HDB_EXPR_COLLATE,  /* u.collate */
    HDB_EXPR_ROW,      /* u.row: (a, b, …), two or more */
};

enum hdb_sql_unary_op {
    HDB_UNARY_NEG,
    HDB_UNARY_PLUS,
    HDB_UNARY_BITNOT,
    HDB_UNARY_NOT,
};

enum hdb_sql_binary_op {
    HDB_OP_OR,
    HDB_OP_AND,
    HDB_OP_EQ,
    HDB_OP_NE,
    HDB_OP_IS,     /* IS, IS NOT DISTINCT FROM */
    HDB_OP_IS_NOT, /* IS NOT, IS DISTINCT FROM */
    HDB_OP_LT,
    HDB_OP_LE,
    HDB_OP_GT,
    HDB_OP_GE,
    HDB_OP_BITAND,
    HDB_OP_BITOR,
    HDB_OP_LSHIFT,
    HDB_OP_RSHIFT,
    HDB_OP_ADD,
    HDB_OP_SUB,
    HDB_OP_MUL,
    HDB_OP_DIV,
    HDB_OP_REM,
    HDB_OP_CONCAT,
};

enum hdb_sql_like_op { HDB_LIKE_LIKE, HDB_LIKE_GLOB, HDB_LIKE_MATCH, HDB_LIKE_REGEXP };
enum hdb_sql_current { HDB_CURRENT_TIME, HDB_CURRENT_DATE, HDB_CURRENT_TIMESTAMP };

/* A declared type: words joined by one space as written ("DOUBLE PRECISION")
 * and up to two signed integer arguments (DECIMAL(12,2)). */
struct hdb_sql_type {
    struct hdb_sql_str name; /* ptr NULL when no type was given */
    uint8_t nargs;           /* 0, 1 or 2 */
    int64_t args[2];
};

struct hdb_sql_select;

struct hdb_sql_expr {
    enum hdb_sql_expr_kind kind;
    uint32_t offset; /* source span of the whole expression */
    uint32_t len;
    uint32_t height; /* 1 for a leaf; 1 + the tallest child (subqueries count) */
    union {
        int64_t i;
        double r;
        struct hdb_sql_str s;
        enum hdb_sql_current current;
        struct {
            struct hdb_sql_str schema, table, column;
        } column;
        struct {
            uint32_t number;         /* 1-based index the value binds to */
            struct hdb_sql_str name; /* ":x" as written, or ptr NULL for ? / ?NNN */
        } param;
        struct {
            enum hdb_sql_unary_op op;
            struct hdb_sql_expr *operand;
        } unary;
        struct {
            enum hdb_sql_binary_op op;
            struct hdb_sql_expr *left, *right;
        } binary;
        struct {
            enum hdb_sql_like_op op;
            bool negated;
            struct hdb_sql_expr *left, *pattern, *escape; /* escape may be NULL */
        } like;
        struct {
            bool negated;
            struct hdb_sql_expr *operand, *low, *high;
        } between;
        struct {
            bool negated;
            struct hdb_sql_expr *operand;
            struct hdb_sql_list list;         /* of hdb_sql_expr (may be empty) */
            struct hdb_sql_select *select;    /* IN (SELECT …), or NULL */
            struct hdb_sql_str schema, table; /* IN table, or table.ptr NULL */
        } in;
        struct {
            bool negated; /* true for NOT NULL / NOTNULL / IS NOT NULL */
            struct hdb_sql_expr *operand;
        } isnull;
        struct {
            struct hdb_sql_expr *base;  /* CASE base WHEN …, or NULL */
            struct hdb_sql_list whens;  /* of hdb_sql_expr: when0, then0, when1, … */
            struct hdb_sql_expr *else_; /* or NULL */
        } case_;
        struct {
            struct hdb_sql_expr *operand;
            struct hdb_sql_type type;
        } cast;
        struct {
            struct hdb_sql_str name;
            bool distinct;
            bool star;                /* f(*) */
            struct hdb_sql_list args; /* of hdb_sql_expr */
        } function;
        struct {
            struct hdb_sql_select *select; /* NOT EXISTS is NOT over this node */
        } exists;
        struct hdb_sql_select *subquery;
        struct {
            struct hdb_sql_expr *operand;
            struct hdb_sql_str name;
        } collate;
        struct hdb_sql_list row; /* of hdb_sql_expr */
    } u;
};

/* ------------------------------------------------------------------ */
/* SELECT                                                              */

enum hdb_sql_compound {
    HDB_COMPOUND_NONE,
    HDB_COMPOUND_UNION,
    HDB_COMPOUND_UNION_ALL,
    HDB_COMPOUND_EXCEPT,
    HDB_COMPOUND_INTERSECT
};

/* A result column: expr [AS alias], `*` (expr NULL, star true, table NULL) or
 * `t.*` (star true, table set). Also used for RETURNING. */
struct hdb_sql_result_col {
    struct hdb_sql_expr *expr;
    bool star;
    struct hdb_sql_str table;
    struct hdb_sql_str alias;
};

enum hdb_sql_join {
    HDB_JOIN_NONE,  /* the first source */
    HDB_JOIN_COMMA, /* a, b */
    HDB_JOIN_INNER, /* [INNER] JOIN */
    HDB_JOIN_LEFT,  /* LEFT [OUTER] JOIN */
    HDB_JOIN_RIGHT, /* RIGHT [OUTER] JOIN (parsed; SQLite ≥ 3.39) */
    HDB_JOIN_FULL,  /* FULL [OUTER] JOIN */
    HDB_JOIN_CROSS, /* CROSS JOIN */
};

/* One entry of FROM, joined to the entries before it: a table, a subquery
 * or a parenthesized join list (exactly one of table.ptr, select, nested). */
/*
 * The access path the executor chose for one table of a statement (sql/exec_index.c): a prepared
 * statement keeps it, so later executions skip planning while the schema version is the same.
 * Written by the executor; the parser leaves it zeroed.
 */
struct hdb_sql_plan {
    uint64_t version; /* the schema version it was made for, plus one (0: none yet) */
    uint32_t table;   /* the table's id */
    int32_t index;    /* position in the table's index list, -1: none */
    uint32_t npinned; /* leading index columns pinned by equality */
    bool key_range;   /* a range of the table's own key instead */
    const struct hdb_sql_expr *lo, *hi, *lo_cond, *hi_cond; /* the range's bounds */
    bool lo_strict, hi_strict;
};

struct hdb_sql_source {
    struct hdb_sql_plan plan;
    enum hdb_sql_join join;
    bool natural;
    struct hdb_sql_str schema, table; /* a table, or table.ptr NULL */
    struct hdb_sql_select *select;    /* a subquery, or NULL */
    struct hdb_sql_list nested;       /* ( a JOIN b ): of hdb_sql_source, or empty */
    struct hdb_sql_str alias;
    struct hdb_sql_expr *on;        /* or NULL */
    struct hdb_sql_list using_cols; /* of hdb_sql_str */
};

struct hdb_sql_select_core {
    enum hdb_sql_compound op; /* how it joins the core before it */
    bool distinct;
    struct hdb_sql_list values;  /* VALUES core: of hdb_sql_list* rows of expr; else empty */
    struct hdb_sql_list columns; /* of hdb_sql_result_col */
    struct hdb_sql_list from;    /* of hdb_sql_source */
    struct hdb_sql_expr *where;
    struct hdb_sql_list group_by; /* of hdb_sql_expr */
    struct hdb_sql_expr *having;
};

enum hdb_sql_order { HDB_ORDER_DEFAULT, HDB_ORDER_ASC, HDB_ORDER_DESC };
enum hdb_sql_nulls { HDB_NULLS_DEFAULT, HDB_NULLS_FIRST, HDB_NULLS_LAST };

/* An ORDER BY term or an indexed column (expr may be a COLLATE node). */
struct hdb_sql_order_term {
    struct hdb_sql_expr *expr;
    enum hdb_sql_order order;
    enum hdb_sql_nulls nulls;
};

/* WITH name [(cols)] AS (select) */
struct hdb_sql_cte {
    struct hdb_sql_str name;
    struct hdb_sql_list columns; /* of hdb_sql_str */
    struct hdb_sql_select *select;
};

struct hdb_sql_select {
    uint32_t offset;
    uint32_t height;                  /* tallest expression inside, plus one */
    bool recursive;                   /* WITH RECURSIVE */
    struct hdb_sql_list with;         /* of hdb_sql_cte */
    struct hdb_sql_list cores;        /* of hdb_sql_select_core, at least one */
    struct hdb_sql_list order_by;     /* of hdb_sql_order_term */
    struct hdb_sql_expr *limit;       /* or NULL */
    struct hdb_sql_expr *offset_expr; /* or NULL; LIMIT a, b stores b as limit, a here */
};

/* ------------------------------------------------------------------ */
/* Statements                                                          */

enum hdb_sql_conflict {
    HDB_CONFLICT_NONE,
    HDB_CONFLICT_ROLLBACK,
    HDB_CONFLICT_ABORT,
    HDB_CONFLICT_FAIL,
    HDB_CONFLICT_IGNORE,
    HDB_CONFLICT_REPLACE,
};

enum hdb_sql_fk_action {
    HDB_FK_NONE,
    HDB_FK_SET_NULL,
    HDB_FK_SET_DEFAULT,
    HDB_FK_CASCADE,
    HDB_FK_RESTRICT,
    HDB_FK_NO_ACTION,
};

struct hdb_sql_fk {
    struct hdb_sql_str table;
    struct hdb_sql_list columns; /* of hdb_sql_str, may be empty */
    enum hdb_sql_fk_action on_delete, on_update;
    bool deferred; /* DEFERRABLE INITIALLY DEFERRED */
};

enum hdb_sql_constraint_kind {
    HDB_CONS_PRIMARY_KEY,
    HDB_CONS_NOT_NULL,
    HDB_CONS_NULL,
    HDB_CONS_UNIQUE,
    HDB_CONS_DEFAULT,
    HDB_CONS_CHECK,
    HDB_CONS_COLLATE,
    HDB_CONS_REFERENCES, /* column REFERENCES, or table FOREIGN KEY */
    HDB_CONS_GENERATED,  /* [GENERATED ALWAYS] AS (expr) [STORED|VIRTUAL] */
};

/* A column or table constraint. */
struct hdb_sql_constraint {
    enum hdb_sql_constraint_kind kind;
    struct hdb_sql_str name;  /* CONSTRAINT name, or ptr NULL */
    enum hdb_sql_order order; /* column PRIMARY KEY ASC|DESC */
    bool autoincrement;
    bool stored; /* GENERATED … STORED */
    enum hdb_sql_conflict on_conflict;
    struct hdb_sql_expr *expr;    /* DEFAULT, CHECK, GENERATED */
    struct hdb_sql_str collation; /* COLLATE */
    struct hdb_sql_list columns;  /* table PK/UNIQUE: of hdb_sql_order_term; FK: of str */
    struct hdb_sql_fk fk;         /* REFERENCES */
};

struct hdb_sql_column_def {
    struct hdb_sql_str name;
    struct hdb_sql_type type;
    struct hdb_sql_list constraints; /* of hdb_sql_constraint */
};

enum hdb_sql_stmt_kind {
    HDB_STMT_SELECT,
    HDB_STMT_INSERT,
    HDB_STMT_UPDATE,
    HDB_STMT_DELETE,
    HDB_STMT_CREATE_TABLE,
    HDB_STMT_DROP_TABLE,
    HDB_STMT_CREATE_INDEX,
    HDB_STMT_DROP_INDEX,
    HDB_STMT_CREATE_VIEW,
    HDB_STMT_DROP_VIEW,
    HDB_STMT_ALTER_TABLE,
    HDB_STMT_BEGIN,
    HDB_STMT_COMMIT,
    HDB_STMT_ROLLBACK,
    HDB_STMT_SAVEPOINT,
    HDB_STMT_RELEASE,
    HDB_STMT_VACUUM,
    HDB_STMT_ANALYZE,
    HDB_STMT_REINDEX,
};

enum hdb_sql_begin_mode {
    HDB_BEGIN_DEFAULT,
    HDB_BEGIN_DEFERRED,
    HDB_BEGIN_IMMEDIATE,
    HDB_BEGIN_EXCLUSIVE
};

enum hdb_sql_alter_kind {
    HDB_ALTER_ADD_COLUMN,
    HDB_ALTER_RENAME_TABLE,
    HDB_ALTER_RENAME_COLUMN,
    HDB_ALTER_DROP_COLUMN
};

/* ON CONFLICT [(target) [WHERE …]] DO NOTHING | DO UPDATE SET … [WHERE …] */
struct hdb_sql_upsert {
    struct hdb_sql_list target; /* of hdb_sql_order_term; empty: any conflict */
    struct hdb_sql_expr *target_where;
    bool do_update;
    struct hdb_sql_list set; /* of hdb_sql_set */
    struct hdb_sql_expr *where;
};

/* SET column = expr, or (a, b) = expr */
struct hdb_sql_set {
    struct hdb_sql_list columns; /* of hdb_sql_str, one or more */
    struct hdb_sql_expr *expr;
};

struct hdb_sql_stmt {
    enum hdb_sql_stmt_kind kind;
    uint8_t explain; /* 0, 1 for EXPLAIN, 2 for EXPLAIN QUERY PLAN */
    uint32_t offset; /* source span, without the terminating ';' */
    uint32_t len;
    uint32_t params; /* largest parameter number used */
    union {
        struct hdb_sql_select *select;
        struct {
            enum hdb_sql_conflict or_action;
            bool replace_into; /* spelled REPLACE INTO */
            struct hdb_sql_str schema, table, alias;
            struct hdb_sql_list columns;   /* of hdb_sql_str; empty: all */
            struct hdb_sql_select *select; /* VALUES or SELECT; NULL: DEFAULT VALUES */
            struct hdb_sql_list upserts;   /* of hdb_sql_upsert */
            struct hdb_sql_list returning; /* of hdb_sql_result_col */
        } insert;
        struct {
            enum hdb_sql_conflict or_action;
            struct hdb_sql_str schema, table, alias;
            struct hdb_sql_list set;  /* of hdb_sql_set */
            struct hdb_sql_list from; /* of hdb_sql_source */
            struct hdb_sql_expr *where;
            struct hdb_sql_list returning;
            struct hdb_sql_plan plan;
        } update;
        struct {
            struct hdb_sql_str schema, table, alias;
            struct hdb_sql_expr *where;
            struct hdb_sql_list returning;
            struct hdb_sql_plan plan;
        } delete_;
        struct {
            bool temp, if_not_exists;
            bool without_rowid;
            struct hdb_sql_str schema, name;
            struct hdb_sql_list columns;      /* of hdb_sql_column_def */
            struct hdb_sql_list constraints;  /* of hdb_sql_constraint */
            struct hdb_sql_select *as_select; /* CREATE TABLE … AS SELECT, or NULL */
        } create_table;
        struct {
            bool unique, if_not_exists;
            struct hdb_sql_str schema, name, table;
            struct hdb_sql_list columns; /* of hdb_sql_order_term */
            struct hdb_sql_expr *where;
        } create_index;
        struct {
            bool temp, if_not_exists;
            struct hdb_sql_str schema, name;
            struct hdb_sql_list columns; /* of hdb_sql_str */
            struct hdb_sql_select *select;
        } create_view;
        struct {
            bool if_exists;
            struct hdb_sql_str schema, name;
        } drop; /* DROP TABLE / INDEX / VIEW */
        struct {
            enum hdb_sql_alter_kind kind;
            struct hdb_sql_str schema, table;
            struct hdb_sql_column_def *column; /* ADD COLUMN */
            struct hdb_sql_str from, to;       /* RENAME [COLUMN from] TO to; DROP COLUMN from */
        } alter;
        struct {
            enum hdb_sql_begin_mode mode;
        } begin;
        struct {
            struct hdb_sql_str name; /* ROLLBACK TO name / SAVEPOINT / RELEASE, or ptr NULL */
        } txn;
        struct {
            struct hdb_sql_str schema, name; /* ANALYZE / REINDEX / VACUUM target, or ptr NULL */
        } target;
    } u;
};

/*
 * Calls fn on `e` and on every expression under it, depth-first (not into subqueries' SELECTs),
 * and stops at the first status other than HDB_OK, which it returns. The depth follows the tree,
 * whose height the parser bounds.
 */
typedef int (*hdb_sql_expr_visit_fn)(const struct hdb_sql_expr *e, void *ctx, struct hdb_err *err);
int hdb_sql_expr_walk(const struct hdb_sql_expr *e, hdb_sql_expr_visit_fn fn, void *ctx,
                      struct hdb_err *err);
/* Is `e` itself a subquery, EXISTS or IN (SELECT ...) / IN table? */
bool hdb_sql_expr_is_subquery(const struct hdb_sql_expr *e);

#endif
