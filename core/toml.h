/*
 * toml.h — a strict parser for the TOML that configuration files use.
 *
 * hdb_toml_parse turns a whole document into a tree of values (table, array,
 * string, integer, float, boolean). Each value and each key remembers the
 * line it was written on so the configuration layer can name lines in its
 * errors. The tree lives in one arena owned by the `struct hdb_toml_doc`;
 * hdb_toml_free releases all of it at once, so no pointer into the tree
 * outlives the document.
 *
 * Supported (TOML 1.0): comments, bare and quoted keys, dotted keys, tables
 * and dotted table headers, basic / literal / multi-line strings with every
 * escape, integers (decimal, 0x, 0o, 0b, underscores), floats (inf, nan),
 * booleans, arrays (nested, multi-line, trailing comma, comments inside) and
 * one-line inline tables. Not supported, rejected with a clear error: arrays
 * of tables (`[[x]]`) and dates/times. The document must be valid UTF-8.
 *
 * Every input error is HDB_INVALID with a message that starts with
 * "name:line:column:" and names the key when one is known, e.g.
 *   config.toml:7:17: key "cache_size_mb": expected a value after '='
 *
 * Everything is bounded (see the limits below); parsing recurses only into
 * arrays and inline tables, never deeper than HDB_TOML_DEPTH_MAX.
 */
#ifndef HDB_TOML_H
#define HDB_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define HDB_TOML_INPUT_BYTES_MAX  (1u << 20)  /* a document larger than 1 MiB is refused */
#define HDB_TOML_KEY_BYTES_MAX    256u        /* one key part (between dots), after unescaping */
#define HDB_TOML_STRING_BYTES_MAX (64u << 10) /* one string value, after unescaping */
#define HDB_TOML_DEPTH_MAX        32u         /* nesting of tables and arrays; the root is 0 */
#define HDB_TOML_VALUES_MAX       16384u      /* values (incl. tables and arrays) in a document */
#define HDB_TOML_TABLE_KEYS_MAX   1024u       /* keys directly in one table */
#define HDB_TOML_ARRAY_ITEMS_MAX  4096u       /* items in one array */
#define HDB_TOML_MEMORY_BYTES_MAX (32u << 20) /* arena bytes for one document */

enum hdb_toml_type {
    HDB_TOML_TABLE = 0,
    HDB_TOML_ARRAY = 1,
    HDB_TOML_STRING = 2,
    HDB_TOML_INT = 3,
    HDB_TOML_FLOAT = 4,
    HDB_TOML_BOOL = 5,
};

struct hdb_toml_value;

/* One key of a table. The list `next` is in file order. */
struct hdb_toml_kv {
    const char *key;  /* NUL-terminated; never contains a NUL byte */
    uint32_t key_len; /* bytes, without the terminator */
    uint32_t line;    /* 1-based line where this key was written */
    struct hdb_toml_value *value;
    struct hdb_toml_kv *next;
};

/* A node of the tree; read-only for callers. */
struct hdb_toml_value {
    enum hdb_toml_type type;
    uint32_t line;   /* 1-based line where the value (or, for a table, its header) starts */
    uint32_t column; /* 1-based column in characters */
    union {
        bool boolean;
        int64_t integer;
        double real;
        struct {
            const char *bytes; /* NUL-terminated, but may also hold NUL bytes (from \u0000) */
            uint32_t len;
        } string;
        struct {
            struct hdb_toml_value **items;
            uint32_t count;
        } array;
        struct {
            struct hdb_toml_kv *first; /* keys in file order; NULL when empty */
            uint32_t count;
        } table;
    } as;
};

struct hdb_toml_doc;

/*
 * Parses `len` bytes of `text` (need not be NUL-terminated). `name` is used
 * only in error messages (usually the file path). On HDB_OK `*out` is a new
 * document the caller frees with hdb_toml_free; on failure `*out` is NULL and
 * `err` says why: HDB_INVALID for any problem with the input, HDB_NOMEM when
 * memory runs out.
 */
int hdb_toml_parse(const char *name, const char *text, size_t len, struct hdb_toml_doc **out,
                   struct hdb_err *err);

/* Reads and parses the file at `path` (errors from the file system keep their code). */
int hdb_toml_parse_file(const char *path, struct hdb_toml_doc **out, struct hdb_err *err);

/* Frees the document and every value in it. NULL is allowed. */
void hdb_toml_free(struct hdb_toml_doc *doc);

/* The root table of the document. */
const struct hdb_toml_value *hdb_toml_root(const struct hdb_toml_doc *doc);

/* The value of `key` (one part, no dots interpreted) in `table`, or NULL. */
const struct hdb_toml_value *hdb_toml_get(const struct hdb_toml_value *table, const char *key);

/* Like hdb_toml_get but follows a dotted path of bare parts ("api.tls.enabled"). */
const struct hdb_toml_value *hdb_toml_get_path(const struct hdb_toml_value *table,
                                               const char *path);

/* The first key of `table` in file order (NULL if empty); continue with kv->next. */
const struct hdb_toml_kv *hdb_toml_first(const struct hdb_toml_value *table);

/* Item `i` of `array`, or NULL when out of range. */
const struct hdb_toml_value *hdb_toml_at(const struct hdb_toml_value *array, uint32_t i);

/* True if `len` bytes at `s` are valid UTF-8 (what the parser requires of a document). */
bool hdb_toml_utf8_valid(const char *s, size_t len);

/* "table", "array", "string", "integer", "float", "boolean". */
const char *hdb_toml_type_name(enum hdb_toml_type type);

#endif
