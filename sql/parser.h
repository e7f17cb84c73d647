/*
 * parser.h — the SQL parser: text in, syntax tree (ast.h) out.
 *
 * A recursive-descent parser for SQLite's dialect. Recursion is bounded:
 * nesting of parentheses, subqueries, unary operators and CASE by
 * HDB_SQL_NEST_MAX, and the height of every expression tree by
 * HDB_SQL_EXPR_HEIGHT_MAX; beyond either the parse fails with HDB_INVALID
 * and a message naming the limit.
 *
 * Errors are HDB_INVALID with a message in SQLite's style plus the position,
 * e.g. `near "FROM": syntax error at line 1, column 8 (expected an
 * expression)`, or `incomplete input at line 1, column 14 (…)` at the end of
 * the text. The position is also returned as numbers (struct hdb_sql_pos).
 *
 * Memory: every node is allocated in the caller's arena; free it with
 * hdb_sql_arena_free() when the tree is no longer needed. Names and literal
 * values are copied into the arena; the tree keeps no pointer into the
 * source, only offsets. Not thread-safe per script; separate scripts and
 * arenas may be used from separate threads.
 */
#ifndef HDB_SQL_PARSER_H
#define HDB_SQL_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "sql/ast.h"
#include "sql/lexer.h"

/* Where a parse failed: byte offset into the text, 1-based line and column. */
struct hdb_sql_pos {
    uint32_t offset;
    uint32_t line;
    uint32_t column;
};

/* A text holding statements separated by ';', parsed one at a time so that
 * a shell can run each before parsing the next. */
struct hdb_sql_script {
    struct hdb_sql_lexer lx; /* positioned after the last statement parsed */
    struct hdb_sql_pos error_pos;
};

/* Starts a script over `len` bytes of `src` (kept alive by the caller).
 * Returns HDB_TOOBIG past HDB_SQL_TEXT_BYTES_MAX. */
int hdb_sql_script_init(struct hdb_sql_script *s, const char *src, size_t len, struct hdb_err *err);

/* Parses the next statement into `arena`. Empty statements (";;") are
 * skipped. Sets *stmt (NULL when only spaces, comments and ';' remain) and
 * returns HDB_OK; *end_offset (may be NULL) is the offset just past the
 * statement's ';' or the end of the text. On failure returns HDB_INVALID
 * (HDB_NOMEM / HDB_TOOBIG for memory), fills `err` and s->error_pos; the
 * script must not be continued after a failure. */
int hdb_sql_script_next(struct hdb_sql_script *s, struct hdb_sql_arena *arena,
                        struct hdb_sql_stmt **stmt, size_t *end_offset, struct hdb_err *err);

/* Parses text holding exactly one statement (a trailing ';' is allowed).
 * `pos` (may be NULL) receives the error position on failure. */
int hdb_sql_parse(struct hdb_sql_arena *arena, const char *src, size_t len,
                  struct hdb_sql_stmt **stmt, struct hdb_sql_pos *pos, struct hdb_err *err);

/* Writes canonical SQL for a statement into `out` (NUL-terminated, at most
 * cap - 1 bytes): keywords in upper case, every compound expression in
 * parentheses, names quoted with "" when they need it. Returns the length it
 * needed (like snprintf): a result >= cap means the text was cut. Used by
 * the tests to check that parse → print → parse → print is a fixed point. */
size_t hdb_sql_print(const struct hdb_sql_stmt *stmt, char *out, size_t cap);

/* The same for one expression. */
size_t hdb_sql_print_expr(const struct hdb_sql_expr *expr, char *out, size_t cap);

#endif
