/*
 * lexer.h — the SQL tokenizer (SQLite's dialect).
 *
 * The lexer turns SQL text into tokens one at a time; it never allocates and
 * never copies. A token is a span of the source (byte offset and length) with
 * its kind, its keyword (for bare words) and its line and column (1-based,
 * columns count bytes). Decoding a token's value (unescaping a string or a
 * quoted identifier, converting a number) is the parser's job.
 *
 * Keywords are matched case-insensitively; a bare word that is a keyword has
 * kind HDB_TK_ID and kw != HDB_KW_NONE, so that the parser can accept most
 * keywords as names where SQLite does. Quoted identifiers ("x", [x], `x`)
 * never become keywords.
 *
 * The lexer state is a small value: copying it saves a position and copying
 * it back rewinds, which is how the parser looks more than one token ahead.
 */
#ifndef HDB_SQL_LEXER_H
#define HDB_SQL_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* The longest SQL text accepted by one parse (SQLite's default is 1e9; ours
 * is smaller so that offsets fit in uint32_t with room to spare). */
#define HDB_SQL_TEXT_BYTES_MAX (64u * 1024u * 1024u)

/* Largest ?NNN parameter number (SQLite's SQLITE_MAX_VARIABLE_NUMBER). */
#define HDB_SQL_PARAM_NUMBER_MAX 32766

enum hdb_sql_tk {
    HDB_TK_EOF = 0,
    HDB_TK_ID,      /* bare word: identifier or keyword (see kw) */
    HDB_TK_QID,     /* "quoted", [bracketed] or `backticked` identifier */
    HDB_TK_STRING,  /* 'string' */
    HDB_TK_BLOB,    /* X'hex' */
    HDB_TK_INTEGER, /* 123 or 0x7f */
    HDB_TK_REAL,    /* 1.5 .5 1e10 */
    HDB_TK_PARAM,   /* ? ?NNN :name @name $name */
    HDB_TK_CONCAT,  /* || */
    HDB_TK_STAR,
    HDB_TK_SLASH,
    HDB_TK_REM,
    HDB_TK_PLUS,
    HDB_TK_MINUS,
    HDB_TK_LSHIFT,
    HDB_TK_RSHIFT,
    HDB_TK_BITAND,
    HDB_TK_BITOR,
    HDB_TK_BITNOT,
    HDB_TK_LT,
    HDB_TK_LE,
    HDB_TK_GT,
    HDB_TK_GE,
    HDB_TK_EQ, /* = or == */
    HDB_TK_NE, /* != or <> */
    HDB_TK_COMMA,
    HDB_TK_SEMI,
    HDB_TK_LP,
    HDB_TK_RP,
    HDB_TK_DOT,
};

/* X(name): every keyword the parser knows, in alphabetical order (the lexer
 * looks them up by binary search; a test checks the order). */
#define HDB_SQL_KEYWORDS(X)                                                                        \
    X(ABORT)                                                                                       \
    X(ACTION)                                                                                      \
    X(ADD)                                                                                         \
    X(ALL)                                                                                         \
    X(ALTER)                                                                                       \
    X(ALWAYS)                                                                                      \
    X(ANALYZE)                                                                                     \
    X(AND)                                                                                         \
    X(AS)                                                                                          \
    X(ASC)                                                                                         \
    X(AUTOINCREMENT)                                                                               \
    X(BEGIN)                                                                                       \
    X(BETWEEN)                                                                                     \
    X(BY)                                                                                          \
    X(CASCADE)                                                                                     \
    X(CASE)                                                                                        \
    X(CAST)                                                                                        \
    X(CHECK)                                                                                       \
    X(COLLATE)                                                                                     \
    X(COLUMN)                                                                                      \
    X(COMMIT)                                                                                      \
    X(CONFLICT)                                                                                    \
    X(CONSTRAINT)                                                                                  \
    X(CREATE)                                                                                      \
    X(CROSS)                                                                                       \
    X(CURRENT_DATE)                                                                                \
    X(CURRENT_TIME)                                                                                \
    X(CURRENT_TIMESTAMP)                                                                           \
    X(DEFAULT)                                                                                     \
    X(DEFERRABLE)                                                                                  \
    X(DEFERRED)                                                                                    \
    X(DELETE)                                                                                      \
    X(DESC)                                                                                        \
    X(DISTINCT)                                                                                    \
    X(DO)                                                                                          \
    X(DROP)                                                                                        \
    X(ELSE)                                                                                        \
    X(END)                                                                                         \
    X(ESCAPE)                                                                                      \
    X(EXCEPT)                                                                                      \
    X(EXCLUSIVE)                                                                                   \
    X(EXISTS)                                                                                      \
    X(EXPLAIN)                                                                                     \
    X(FAIL)                                                                                        \
    X(FALSE)                                                                                       \
    X(FIRST)                                                                                       \
    X(FOREIGN)                                                                                     \
    X(FROM)                                                                                        \
    X(FULL)                                                                                        \
    X(GENERATED)                                                                                   \
    X(GLOB)                                                                                        \
    X(GROUP)                                                                                       \
    X(HAVING)                                                                                      \
    X(IF)                                                                                          \
    X(IGNORE)                                                                                      \
    X(IMMEDIATE)                                                                                   \
    X(IN)                                                                                          \
    X(INDEX)                                                                                       \
    X(INDEXED)                                                                                     \
    X(INITIALLY)                                                                                   \
    X(INNER)                                                                                       \
    X(INSERT)                                                                                      \
    X(INTERSECT)                                                                                   \
    X(INTO)                                                                                        \
    X(IS)                                                                                          \
    X(ISNULL)                                                                                      \
    X(JOIN)                                                                                        \
    X(KEY)                                                                                         \
    X(LAST)                                                                                        \
    X(LEFT)                                                                                        \
    X(LIKE)                                                                                        \
    X(LIMIT)                                                                                       \
    X(MATCH)                                                                                       \
    X(NATURAL)                                                                                     \
    X(NO)                                                                                          \
    X(NOT)                                                                                         \
    X(NOTHING)                                                                                     \
    X(NOTNULL)                                                                                     \
    X(NULL)                                                                                        \
    X(NULLS)                                                                                       \
    X(OFFSET)                                                                                      \
    X(ON)                                                                                          \
    X(OR)                                                                                          \
    X(ORDER)                                                                                       \
    X(OUTER)                                                                                       \
    X(PLAN)                                                                                        \
    X(PRECISION)                                                                                   \
    X(PRIMARY)                                                                                     \
    X(QUERY)                                                                                       \
    X(RECURSIVE)                                                                                   \
    X(REFERENCES)                                                                                  \
    X(REGEXP)                                                                                      \
    X(REINDEX)                                                                                     \
    X(RELEASE)                                                                                     \
    X(RENAME)                                                                                      \
    X(REPLACE)                                                                                     \
    X(RESTRICT)                                                                                    \
    X(RETURNING)                                                                                   \
    X(RIGHT)                                                                                       \
    X(ROLLBACK)                                                                                    \
    X(ROWID)                                                                                       \
    X(SAVEPOINT)                                                                                   \
    X(SELECT)                                                                                      \
    X(SET)                                                                                         \
    X(STORED)                                                                                      \
    X(TABLE)                                                                                       \
    X(TEMP)                                                                                        \
    X(TEMPORARY)                                                                                   \
    X(THEN)                                                                                        \
    X(TO)                                                                                          \
    X(TRANSACTION)                                                                                 \
    X(TRUE)                                                                                        \
    X(UNION)                                                                                       \
    X(UNIQUE)                                                                                      \
    X(UPDATE)                                                                                      \
    X(USING)                                                                                       \
    X(VACUUM)                                                                                      \
    X(VALUES)                                                                                      \
    X(VIEW)                                                                                        \
    X(VIRTUAL)                                                                                     \
    X(WHEN)                                                                                        \
    X(WHERE)                                                                                       \
    X(WITH)                                                                                        \
    X(WITHOUT)

enum hdb_sql_kw {
    HDB_KW_NONE = 0,
#define HDB_SQL_KW_ENUM(name) HDB_KW_##name,
    HDB_SQL_KEYWORDS(HDB_SQL_KW_ENUM)
#undef HDB_SQL_KW_ENUM
        HDB_KW_COUNT_,
};

struct hdb_sql_token {
    enum hdb_sql_tk kind;
    enum hdb_sql_kw kw; /* for HDB_TK_ID; HDB_KW_NONE otherwise */
    uint32_t offset;    /* byte offset of the first byte in the source */
    uint32_t len;       /* bytes, quotes and prefixes included */
    uint32_t line;      /* 1-based */
    uint32_t column;    /* 1-based, in bytes */
};

struct hdb_sql_lexer {
    const char *src;
    uint32_t len;
    uint32_t pos;
    uint32_t line;
    uint32_t line_start; /* offset of the first byte of the current line */
};

/* Starts lexing `len` bytes of `src` (which must stay alive). Returns
 * HDB_TOOBIG if len exceeds HDB_SQL_TEXT_BYTES_MAX. */
int hdb_sql_lexer_init(struct hdb_sql_lexer *lx, const char *src, size_t len, struct hdb_err *err);

/* Reads the next token into `tok`, skipping spaces and comments. At the end
 * returns HDB_OK with kind HDB_TK_EOF (again on every later call). Returns
 * HDB_INVALID for an unterminated string, identifier or comment, a malformed
 * number or blob, or a character that starts no token; the message reads
 * `near "…" at line L, column C: …` and `tok` holds the bad span. */
int hdb_sql_lex(struct hdb_sql_lexer *lx, struct hdb_sql_token *tok, struct hdb_err *err);

/* The keyword spelled by `len` bytes at `s` (any case), or HDB_KW_NONE. */
enum hdb_sql_kw hdb_sql_keyword(const char *s, size_t len);

/* The upper-case spelling of a keyword ("SELECT"). */
const char *hdb_sql_keyword_name(enum hdb_sql_kw kw);

/* Writes a printable excerpt of up to `cap - 1` bytes of the token (for error
 * messages: `near "…"`); "end of input" style text is the caller's choice. */
void hdb_sql_token_excerpt(const char *src, const struct hdb_sql_token *tok, char *out, size_t cap);

#endif
