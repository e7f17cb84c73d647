/*
 * toml.c — the strict TOML parser (see toml.h).
 *
 * How the pieces fit:
 *   - An arena (`struct arena_chunk` list) holds every node, key and string of
 *     one document; freeing the document frees the chunks, so there is no
 *     tree walk on free.
 *   - `check_utf8` validates the whole input first (and rejects NUL bytes),
 *     so the scanner below can treat bytes >= 0x80 as ordinary text.
 *   - The document loop (`parse_document`) is iterative: a line is blank, a
 *     comment, a `[table]` header or `key = value`. Only values recurse
 *     (arrays and inline tables), and every new node checks its depth
 *     against HDB_TOML_DEPTH_MAX before anything deeper is parsed.
 *   - Table rules of TOML 1.0 are kept with an `origin` per table: created
 *     implicitly by a header path, defined by its own header, created by
 *     dotted keys, or inline (sealed: never extended afterwards).
 */
#include "core/toml.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARENA_CHUNK_BYTES    (64u << 10)
#define KEY_TEXT_BYTES       160u /* the dotted key quoted in error messages (truncated) */
#define NUMBER_TOKEN_MAX     128u
#define MULTILINE_QUOTES_MAX 5u /* `"""` plus up to two quotes that belong to the content */

static_assert(HDB_TOML_DEPTH_MAX <= 255, "depth is kept in a uint8_t");
static_assert(HDB_TOML_KEY_BYTES_MAX <= HDB_TOML_STRING_BYTES_MAX, "keys decode into the scratch");

enum origin {
    ORIGIN_ROOT = 0,
    ORIGIN_IMPLICIT = 1, /* an intermediate part of a [a.b] header: may still get its own header */
    ORIGIN_HEADER = 2,   /* defined by its own [header] */
    ORIGIN_DOTTED = 3,   /* created by a dotted key `a.b = 1` */
    ORIGIN_INLINE = 4,   /* { ... }: sealed */
};

/* A value plus the parser's bookkeeping; `pub` must stay first. */
struct node {
    struct hdb_toml_value pub;
    struct hdb_toml_kv *last; /* tables: tail of the key list */
    uint32_t cap;             /* arrays: capacity of pub.as.array.items */
    uint8_t origin;           /* tables: enum origin */
    uint8_t depth;
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct hdb_toml_doc {
    struct arena_chunk *chunks;
    size_t bytes;
    struct node *root;
};

struct key_path {
    uint32_t count;
    const char *part[HDB_TOML_DEPTH_MAX];
    uint32_t len[HDB_TOML_DEPTH_MAX];
    uint32_t line, column;
};

struct parser {
    const char *name;
    const char *p, *end;
    uint32_t line;
    const char *line_start;
    struct hdb_toml_doc *doc;
    struct node *current; /* the table `key = value` lines go into */
    uint32_t values;
    bool nomem;
    char key_text[KEY_TEXT_BYTES]; /* the key being parsed, for messages; "" if none */
    char *scratch;                 /* HDB_TOML_STRING_BYTES_MAX bytes for decoding strings */
    uint32_t scratch_len;
    struct hdb_err *err;
};

/* ---- arena ---------------------------------------------------------------------------- */

static void *arena_alloc(struct parser *P, size_t size)
{
    struct hdb_toml_doc *d = P->doc;
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct arena_chunk *c = d->chunks;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > ARENA_CHUNK_BYTES ? size : ARENA_CHUNK_BYTES;
        if (d->bytes + cap > HDB_TOML_MEMORY_BYTES_MAX) {
            return NULL;
        }
        c = malloc(sizeof *c + cap);
        if (c == NULL) {
            P->nomem = true;
            return NULL;
        }
        c->next = d->chunks;
        c->used = 0;
        c->cap = cap;
        d->chunks = c;
        d->bytes += cap;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

/* ---- errors --------------------------------------------------------------------------- */

static uint32_t column_of(const struct parser *P, const char *at)
{
    uint32_t col = 1;
    for (const char *q = P->line_start; q < at && q < P->end; q++) {
        col += ((unsigned char)*q & 0xC0) != 0x80;
    }
    return col;
}

static int fail_at(struct parser *P, uint32_t line, uint32_t col, const char *fmt, va_list ap)
{
    char msg[HDB_ERR_MSG_BYTES_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (P->key_text[0] != '\0') {
        hdb_err_set(P->err, HDB_INVALID, "%s:%u:%u: key \"%s\": %s", P->name, line, col,
                    P->key_text, msg);
    } else {
        hdb_err_set(P->err, HDB_INVALID, "%s:%u:%u: %s", P->name, line, col, msg);
    }
    return HDB_INVALID;
}

/* Fails at the current position. */
static int fail(struct parser *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *P, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_at(P, P->line, column_of(P, P->p), fmt, ap);
    va_end(ap);
    return HDB_INVALID;
}

/* Fails at a remembered position (the start of a key or string). */
static int fail_pos(struct parser *P, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_pos(struct parser *P, uint32_t line, uint32_t col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_at(P, line, col, fmt, ap);
    va_end(ap);
    return HDB_INVALID;
}

static int fail_memory(struct parser *P)
{
    if (P->nomem) {
        return hdb_err_set(P->err, HDB_NOMEM, "%s: out of memory while parsing", P->name);
    }
    return fail(P, "the document needs more than %u bytes of memory", HDB_TOML_MEMORY_BYTES_MAX);
}

/* Describes the byte at the current position for "found ..." messages. */
static const char *found(const struct parser *P, char buf[16])
{
    if (P->p >= P->end) {
        return "the end of the file";
    }
    unsigned char c = (unsigned char)*P->p;
    if (c == '\n' || c == '\r') {
        return "the end of the line";
    }
    if (c >= 0x20 && c < 0x7F) {
        snprintf(buf, 16, "'%c'", c);
    } else {
        snprintf(buf, 16, "byte 0x%02X", c);
    }
    return buf;
}

/* ---- nodes and tables ----------------------------------------------------------------- */

static struct node *new_node(struct parser *P, enum hdb_toml_type type, uint32_t depth,
                             uint32_t line, uint32_t col)
{
    if (depth > HDB_TOML_DEPTH_MAX) {
        fail_pos(P, line, col, "nesting is deeper than %u levels", HDB_TOML_DEPTH_MAX);
        return NULL;
    }
    if (P->values >= HDB_TOML_VALUES_MAX) {
        fail_pos(P, line, col, "the document has more than %u values", HDB_TOML_VALUES_MAX);
        return NULL;
    }
    struct node *n = arena_alloc(P, sizeof *n);
    if (n == NULL) {
        fail_memory(P);
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->pub.type = type;
    n->pub.line = line;
    n->pub.column = col;
    n->depth = (uint8_t)depth;
    P->values++;
    return n;
}

static struct node *table_find(const struct node *t, const char *key, uint32_t len)
{
    assert(t->pub.type == HDB_TOML_TABLE);
    for (struct hdb_toml_kv *kv = t->pub.as.table.first; kv != NULL; kv = kv->next) {
        if (kv->key_len == len && memcmp(kv->key, key, len) == 0) {
            return (struct node *)kv->value;
        }
    }
    return NULL;
}

/* Appends key -> value to table `t`; the caller checked that the key is new. */
static int table_add(struct parser *P, struct node *t, const char *key, uint32_t len, uint32_t line,
                     struct node *value)
{
    assert(t->pub.type == HDB_TOML_TABLE);
    assert(table_find(t, key, len) == NULL);
    if (t->pub.as.table.count >= HDB_TOML_TABLE_KEYS_MAX) {
        return fail(P, "a table has more than %u keys", HDB_TOML_TABLE_KEYS_MAX);
    }
    struct hdb_toml_kv *kv = arena_alloc(P, sizeof *kv);
    if (kv == NULL) {
        return fail_memory(P);
    }
    kv->key = key;
    kv->key_len = len;
    kv->line = line;
    kv->value = &value->pub;
    kv->next = NULL;
    if (t->last == NULL) {
        t->pub.as.table.first = kv;
    } else {
        t->last->next = kv;
    }
    t->last = kv;
    t->pub.as.table.count++;
    return HDB_OK;
}

static int array_add(struct parser *P, struct node *a, struct node *item)
{
    assert(a->pub.type == HDB_TOML_ARRAY);
    uint32_t n = a->pub.as.array.count;
    if (n >= HDB_TOML_ARRAY_ITEMS_MAX) {
        return fail(P, "an array has more than %u items", HDB_TOML_ARRAY_ITEMS_MAX);
    }
    if (n == a->cap) {
        uint32_t cap = a->cap == 0 ? 8 : a->cap * 2;
        struct hdb_toml_value **items = arena_alloc(P, cap * sizeof *items);
        if (items == NULL) {
            return fail_memory(P);
        }
        if (n > 0) {
            memcpy(items, a->pub.as.array.items, n * sizeof *items);
        }
        a->pub.as.array.items = items;
        a->cap = cap;
    }
    a->pub.as.array.items[n] = &item->pub;
    a->pub.as.array.count = n + 1;
    return HDB_OK;
}

/* ---- low-level scanning --------------------------------------------------------------- */

static bool at_end(const struct parser *P)
{
    return P->p >= P->end;
}

static bool is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7F;
}

static bool is_bare_key_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static void skip_ws(struct parser *P)
{
    while (!at_end(P) && (*P->p == ' ' || *P->p == '\t')) {
        P->p++;
    }
}

/* True if a newline (LF or CRLF) starts here. */
static bool at_newline(const struct parser *P)
{
    if (at_end(P)) {
        return false;
    }
    return *P->p == '\n' || (*P->p == '\r' && P->p + 1 < P->end && P->p[1] == '\n');
}

/* Consumes a newline that at_newline() saw. */
static void take_newline(struct parser *P)
{
    assert(at_newline(P));
    P->p += *P->p == '\r' ? 2 : 1;
    P->line++;
    P->line_start = P->p;
}

/* Skips a comment if one starts here (up to, not including, the newline). */
static int skip_comment(struct parser *P)
{
    if (at_end(P) || *P->p != '#') {
        return HDB_OK;
    }
    P->p++;
    while (!at_end(P) && !at_newline(P)) {
        unsigned char c = (unsigned char)*P->p;
        if (is_control(c)) {
            return fail(P, "control character U+%04X in a comment", c);
        }
        P->p++;
    }
    return HDB_OK;
}

/* Requires the rest of the line to be blank or a comment, and consumes the newline. */
static int end_of_line(struct parser *P, const char *after)
{
    skip_ws(P);
    int rc = skip_comment(P);
    if (rc != HDB_OK) {
        return rc;
    }
    if (at_end(P)) {
        return HDB_OK;
    }
    if (!at_newline(P)) {
        char buf[16];
        const char *what = found(P, buf);
        if (*P->p == '\r') {
            return fail(P, "carriage return without a line feed");
        }
        return fail(P, "unexpected %s after %s; expected the end of the line", what, after);
    }
    take_newline(P);
    return HDB_OK;
}

/* Skips whitespace, newlines and comments (inside arrays). */
static int skip_ws_lines(struct parser *P)
{
    for (;;) {
        skip_ws(P);
        int rc = skip_comment(P);
        if (rc != HDB_OK) {
            return rc;
        }
        if (!at_newline(P)) {
            return HDB_OK;
        }
        take_newline(P);
    }
}

/* ---- strings -------------------------------------------------------------------------- */

static int scratch_put(struct parser *P, const char *bytes, uint32_t n)
{
    if (HDB_TOML_STRING_BYTES_MAX - P->scratch_len < n) {
        return fail(P, "string is longer than %u bytes", HDB_TOML_STRING_BYTES_MAX);
    }
    memcpy(P->scratch + P->scratch_len, bytes, n);
    P->scratch_len += n;
    return HDB_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static uint32_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* \u and four hex digits, or \U and eight, with P->p after the 'u'/'U'. */
static int unicode_escape(struct parser *P, uint32_t digits)
{
    const char *start = P->p - 2;
    uint32_t cp = 0;
    for (uint32_t i = 0; i < digits; i++) {
        int h = P->p + i < P->end ? hex_value(P->p[i]) : -1;
        if (h < 0) {
            P->p = start;
            return fail(P, "\\%c escape needs %u hex digits", digits == 4 ? 'u' : 'U', digits);
        }
        cp = cp * 16 + (uint32_t)h;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        P->p = start;
        return fail(P, "escape \\%c%.*s is not a Unicode scalar value", digits == 4 ? 'u' : 'U',
                    (int)digits, start + 2);
    }
    P->p += digits;
    char out[4];
    return scratch_put(P, out, utf8_encode(cp, out));
}

/* An escape with P->p at the backslash (not a line-ending backslash). */
static int escape(struct parser *P)
{
    if (P->p + 1 >= P->end) {
        return fail(P, "unterminated string");
    }
    char c = P->p[1], out;
    switch (c) {
    case 'b':
        out = '\b';
        break;
    case 't':
        out = '\t';
        break;
    case 'n':
        out = '\n';
        break;
    case 'f':
        out = '\f';
        break;
    case 'r':
        out = '\r';
        break;
    case '"':
        out = '"';
        break;
    case '\\':
        out = '\\';
        break;
    case 'u':
        P->p += 2;
        return unicode_escape(P, 4);
    case 'U':
        P->p += 2;
        return unicode_escape(P, 8);
    default: {
        char buf[16];
        P->p++;
        const char *what = found(P, buf);
        P->p--; /* point at the backslash */
        return fail(P, "invalid escape: backslash followed by %s", what);
    }
    }
    P->p += 2;
    return scratch_put(P, &out, 1);
}

/* A single-line string; `quote` is '"' (basic) or '\'' (literal). P->p at the opening quote. */
static int string_line(struct parser *P, char quote)
{
    P->p++;
    for (;;) {
        if (at_end(P) || *P->p == '\n' || *P->p == '\r') {
            return fail(P, "unterminated string (strings in %c quotes end on the same line)",
                        quote);
        }
        unsigned char c = (unsigned char)*P->p;
        int rc = HDB_OK;
        if (c == (unsigned char)quote) {
            P->p++;
            return HDB_OK;
        } else if (c == '\\' && quote == '"') {
            rc = escape(P);
        } else if (is_control(c)) {
            rc = fail(P, "control character U+%04X in a string; write it as an escape", c);
        } else {
            rc = scratch_put(P, P->p, 1);
            P->p++;
        }
        if (rc != HDB_OK) {
            return rc;
        }
    }
}

/* A backslash at the end of a line in a """ string: skip it, the newline and following blanks. */
static bool line_ending_backslash(struct parser *P)
{
    const char *q = P->p + 1;
    while (q < P->end && (*q == ' ' || *q == '\t')) {
        q++;
    }
    const char *save = P->p;
    P->p = q;
    if (!at_newline(P)) {
        P->p = save;
        return false;
    }
    while (!at_end(P) && (*P->p == ' ' || *P->p == '\t' || at_newline(P))) {
        if (at_newline(P)) {
            take_newline(P);
        } else {
            P->p++;
        }
    }
    return true;
}

/* Counts quotes at P->p; a run of 3..5 closes the string (extra ones are content). */
static int multiline_quotes(struct parser *P, char quote, bool *closed)
{
    uint32_t n = 0;
    while (P->p + n < P->end && P->p[n] == quote && n <= MULTILINE_QUOTES_MAX) {
        n++;
    }
    if (n > MULTILINE_QUOTES_MAX) {
        return fail(P, "too many quotes in a row in a multi-line string");
    }
    *closed = n >= 3;
    uint32_t content = *closed ? n - 3 : n;
    int rc = scratch_put(P, P->p, content);
    P->p += n;
    return rc;
}

/* One character of a multi-line string body that is not a quote. */
static int multiline_char(struct parser *P, char quote)
{
    unsigned char c = (unsigned char)*P->p;
    if (at_newline(P)) {
        int rc = scratch_put(P, P->p, *P->p == '\r' ? 2 : 1);
        take_newline(P);
        return rc;
    }
    if (c == '\\' && quote == '"') {
        if (line_ending_backslash(P)) {
            return HDB_OK;
        }
        return escape(P);
    }
    if (is_control(c)) {
        return fail(P, "control character U+%04X in a string; write it as an escape", c);
    }
    P->p++;
    return scratch_put(P, P->p - 1, 1);
}

/* A """ or ''' string; P->p at the first of the three quotes. */
static int string_multiline(struct parser *P, char quote)
{
    uint32_t line = P->line, col = column_of(P, P->p);
    P->p += 3;
    if (at_newline(P)) {
        take_newline(P); /* a newline right after the opening quotes is trimmed */
    }
    for (;;) {
        if (at_end(P)) {
            return fail_pos(P, line, col, "unterminated multi-line string");
        }
        int rc;
        if (*P->p == quote) {
            bool closed = false;
            rc = multiline_quotes(P, quote, &closed);
            if (rc == HDB_OK && closed) {
                return HDB_OK;
            }
        } else {
            rc = multiline_char(P, quote);
        }
        if (rc != HDB_OK) {
            return rc;
        }
    }
}

static bool starts_with3(const struct parser *P, char c)
{
    return P->end - P->p >= 3 && P->p[0] == c && P->p[1] == c && P->p[2] == c;
}

/* Decodes any string at P->p into the scratch buffer. */
static int string_any(struct parser *P, bool allow_multiline)
{
    char quote = *P->p;
    assert(quote == '"' || quote == '\'');
    P->scratch_len = 0;
    if (starts_with3(P, quote)) {
        if (!allow_multiline) {
            return fail(P, "a key cannot be a multi-line string");
        }
        return string_multiline(P, quote);
    }
    return string_line(P, quote);
}

/* Copies the scratch buffer into the arena as a NUL-terminated string. */
static char *scratch_copy(struct parser *P)
{
    char *s = arena_alloc(P, P->scratch_len + 1u);
    if (s == NULL) {
        fail_memory(P);
        return NULL;
    }
    memcpy(s, P->scratch, P->scratch_len);
    s[P->scratch_len] = '\0';
    return s;
}

/* ---- keys ----------------------------------------------------------------------------- */

static void key_text_append(struct parser *P, const char *part, uint32_t len, bool dot)
{
    size_t used = strlen(P->key_text);
    size_t room = sizeof P->key_text - 1 - used;
    if (dot && room > 0) {
        P->key_text[used++] = '.';
        room--;
    }
    size_t n = len < room ? len : room;
    memcpy(P->key_text + used, part, n);
    P->key_text[used + n] = '\0';
}

/* One key part (bare or quoted) into the arena. */
static int key_part(struct parser *P, const char **out, uint32_t *out_len)
{
    uint32_t col = column_of(P, P->p);
    if (!at_end(P) && (*P->p == '"' || *P->p == '\'')) {
        int rc = string_any(P, false);
        if (rc != HDB_OK) {
            return rc;
        }
    } else {
        const char *s = P->p;
        while (!at_end(P) && is_bare_key_char((unsigned char)*P->p)) {
            P->p++;
        }
        if (P->p == s) {
            char buf[16];
            return fail(P, "expected a key, found %s", found(P, buf));
        }
        P->scratch_len = 0;
        if ((size_t)(P->p - s) > HDB_TOML_KEY_BYTES_MAX) {
            return fail_pos(P, P->line, col, "key is longer than %u bytes", HDB_TOML_KEY_BYTES_MAX);
        }
        memcpy(P->scratch, s, (size_t)(P->p - s));
        P->scratch_len = (uint32_t)(P->p - s);
    }
    if (P->scratch_len > HDB_TOML_KEY_BYTES_MAX) {
        return fail_pos(P, P->line, col, "key is longer than %u bytes", HDB_TOML_KEY_BYTES_MAX);
    }
    if (memchr(P->scratch, '\0', P->scratch_len) != NULL) {
        return fail_pos(P, P->line, col, "key contains a NUL character");
    }
    *out_len = P->scratch_len;
    *out = scratch_copy(P);
    return *out == NULL ? P->err->code : HDB_OK;
}

/* A dotted key `a."b c".d`; fills `kp` and P->key_text. */
static int parse_key(struct parser *P, struct key_path *kp)
{
    kp->count = 0;
    kp->line = P->line;
    kp->column = column_of(P, P->p);
    P->key_text[0] = '\0';
    for (;;) {
        skip_ws(P);
        if (kp->count == HDB_TOML_DEPTH_MAX) {
            return fail(P, "key has more than %u dotted parts", HDB_TOML_DEPTH_MAX);
        }
        int rc = key_part(P, &kp->part[kp->count], &kp->len[kp->count]);
        if (rc != HDB_OK) {
            return rc;
        }
        key_text_append(P, kp->part[kp->count], kp->len[kp->count], kp->count > 0);
        kp->count++;
        skip_ws(P);
        if (at_end(P) || *P->p != '.') {
            return HDB_OK;
        }
        P->p++;
    }
}

/* ---- values --------------------------------------------------------------------------- */

static int parse_value(struct parser *P, uint32_t depth, struct node **out);
static int parse_keyval(struct parser *P, struct node *table);

static bool is_value_end(const struct parser *P, const char *q)
{
    if (q >= P->end) {
        return true;
    }
    return strchr(" \t\r\n,]}#", *q) != NULL;
}

static int value_string(struct parser *P, struct node *n)
{
    int rc = string_any(P, true);
    if (rc != HDB_OK) {
        return rc;
    }
    n->pub.type = HDB_TOML_STRING;
    n->pub.as.string.len = P->scratch_len;
    n->pub.as.string.bytes = scratch_copy(P);
    return n->pub.as.string.bytes == NULL ? P->err->code : HDB_OK;
}

static int value_bool(struct parser *P, struct node *n)
{
    bool t = P->end - P->p >= 4 && memcmp(P->p, "true", 4) == 0;
    bool f = P->end - P->p >= 5 && memcmp(P->p, "false", 5) == 0;
    const char *after = t ? P->p + 4 : f ? P->p + 5 : P->p;
    if ((!t && !f) || !is_value_end(P, after)) {
        return fail(P,
                    "invalid value (booleans are lower-case true or false; strings need quotes)");
    }
    n->pub.type = HDB_TOML_BOOL;
    n->pub.as.boolean = t;
    P->p = after;
    return HDB_OK;
}

static int digit_value(char c, int radix)
{
    int v = hex_value(c);
    return v >= 0 && v < radix ? v : -1;
}

/* Digits of `radix` with single underscores between digits. */
static bool digits_ok(const char *s, size_t n, int radix)
{
    if (n == 0 || digit_value(s[0], radix) < 0 || digit_value(s[n - 1], radix) < 0) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        if (s[i] == '_' ? s[i - 1] == '_' : digit_value(s[i], radix) < 0) {
            return false;
        }
    }
    return true;
}

/* Accumulates validated digits into a magnitude no larger than `limit`. */
static bool magnitude(const char *s, size_t n, int radix, uint64_t limit, uint64_t *out)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            continue;
        }
        uint64_t d = (uint64_t)digit_value(s[i], radix);
        if (m > (limit - d) / (uint64_t)radix) {
            return false;
        }
        m = m * (uint64_t)radix + d;
    }
    *out = m;
    return true;
}

static int number_int(struct parser *P, struct node *n, const char *t, size_t len)
{
    bool neg = t[0] == '-';
    size_t s = (t[0] == '-' || t[0] == '+') ? 1 : 0;
    int radix = 10;
    if (len - s >= 2 && t[s] == '0' && strchr("xob", t[s + 1]) != NULL) {
        if (s == 1) {
            return fail(P, "hexadecimal, octal and binary integers cannot have a sign");
        }
        radix = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
        s = 2;
    } else if (len - s > 1 && t[s] == '0') {
        return fail(P, "leading zeros are not allowed in integers");
    }
    if (!digits_ok(t + s, len - s, radix)) {
        return fail(P, "invalid integer '%.*s'", (int)len, t);
    }
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX, m;
    if (!magnitude(t + s, len - s, radix, limit, &m)) {
        return fail(P, "integer '%.*s' does not fit in 64 bits", (int)len, t);
    }
    n->pub.type = HDB_TOML_INT;
    n->pub.as.integer =
        neg ? (m == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)m) : (int64_t)m;
    return HDB_OK;
}

/* Checks the shape int[.frac][(e|E)[+-]exp] with TOML's digit rules. */
static bool float_shape_ok(const char *t, size_t len)
{
    size_t s = (t[0] == '-' || t[0] == '+') ? 1 : 0;
    size_t i = s;
    while (i < len && t[i] != '.' && t[i] != 'e' && t[i] != 'E') {
        i++;
    }
    if (!digits_ok(t + s, i - s, 10) || (t[s] == '0' && i - s > 1)) {
        return false;
    }
    if (i < len && t[i] == '.') {
        size_t f = ++i;
        while (i < len && t[i] != 'e' && t[i] != 'E') {
            i++;
        }
        if (!digits_ok(t + f, i - f, 10)) {
            return false;
        }
    }
    if (i < len) {
        i++; /* the e or E */
        if (i < len && (t[i] == '+' || t[i] == '-')) {
            i++;
        }
        return digits_ok(t + i, len - i, 10);
    }
    return true;
}

static int number_float(struct parser *P, struct node *n, const char *t, size_t len)
{
    size_t s = (t[0] == '-' || t[0] == '+') ? 1 : 0;
    double v;
    if (strcmp(t + s, "inf") == 0 || strcmp(t + s, "nan") == 0) {
        v = t[s] == 'i' ? INFINITY : NAN;
    } else {
        if (!float_shape_ok(t, len)) {
            return fail(P, "invalid number '%.*s'", (int)len, t);
        }
        char clean[NUMBER_TOKEN_MAX + 1];
        size_t m = 0;
        for (size_t i = 0; i < len; i++) {
            if (t[i] != '_') {
                clean[m++] = t[i];
            }
        }
        clean[m] = '\0';
        char *endp;
        errno = 0;
        v = strtod(clean, &endp);
        if (*endp != '\0') {
            return fail(P, "invalid number '%.*s'", (int)len, t);
        }
        if (errno == ERANGE && isinf(v)) {
            return fail(P, "float '%.*s' is out of range", (int)len, t);
        }
    }
    n->pub.type = HDB_TOML_FLOAT;
    n->pub.as.real = t[0] == '-' ? -fabs(v) : v;
    return HDB_OK;
}

/* Numbers: the token is the run of characters a number or date could contain. */
static int value_number(struct parser *P, struct node *n)
{
    const char *s = P->p;
    while (!at_end(P) && (is_bare_key_char((unsigned char)*P->p) || *P->p == '.' || *P->p == '+' ||
                          *P->p == ':')) {
        P->p++;
    }
    size_t len = (size_t)(P->p - s);
    P->p = s; /* errors point at the start of the number */
    if (len > NUMBER_TOKEN_MAX) {
        return fail(P, "number is longer than %u characters", NUMBER_TOKEN_MAX);
    }
    char t[NUMBER_TOKEN_MAX + 1];
    memcpy(t, s, len);
    t[len] = '\0';
    size_t sign = (t[0] == '-' || t[0] == '+') ? 1 : 0;
    bool date = strchr(t, ':') != NULL;
    for (size_t i = sign + 1; i < len && !date; i++) {
        date = t[i] == '-' && t[i - 1] != 'e' && t[i - 1] != 'E';
    }
    if (date) {
        return fail(P, "dates and times are not supported; write them as strings");
    }
    bool word = !(t[sign] >= '0' && t[sign] <= '9') && strcmp(t + sign, "inf") != 0 &&
                strcmp(t + sign, "nan") != 0;
    if (word) {
        return fail(P, "invalid value '%s' (strings need quotes)", t);
    }
    bool prefixed = len > sign + 1 && t[sign] == '0' && strchr("xob", t[sign + 1]) != NULL;
    bool is_float = strcmp(t + sign, "inf") == 0 || strcmp(t + sign, "nan") == 0 ||
                    (!prefixed && strpbrk(t, ".eE") != NULL);
    int rc = is_float ? number_float(P, n, t, len) : number_int(P, n, t, len);
    if (rc == HDB_OK) {
        P->p = s + len;
    }
    return rc;
}

static int value_array(struct parser *P, struct node *a)
{
    uint32_t line = a->pub.line, col = a->pub.column;
    a->pub.type = HDB_TOML_ARRAY;
    P->p++;
    for (;;) {
        int rc = skip_ws_lines(P);
        if (rc != HDB_OK) {
            return rc;
        }
        if (at_end(P)) {
            return fail_pos(P, line, col, "unterminated array (no closing ']')");
        }
        if (*P->p == ']') {
            P->p++;
            return HDB_OK;
        }
        struct node *item = NULL;
        rc = parse_value(P, a->depth + 1u, &item);
        if (rc == HDB_OK) {
            rc = array_add(P, a, item);
        }
        if (rc == HDB_OK) {
            rc = skip_ws_lines(P);
        }
        if (rc != HDB_OK) {
            return rc;
        }
        if (!at_end(P) && *P->p == ',') {
            P->p++;
        } else if (at_end(P) || *P->p != ']') {
            char buf[16];
            return at_end(P) ? fail_pos(P, line, col, "unterminated array (no closing ']')")
                             : fail(P, "expected ',' or ']' in the array, found %s", found(P, buf));
        }
    }
}

/* The separator after a key = value inside { }: ',' (not before '}') or '}'. */
static int inline_separator(struct parser *P, bool *done)
{
    skip_ws(P);
    char buf[16];
    if (at_end(P) || at_newline(P) || *P->p == '\r') {
        return fail(P, "an inline table must close on the line it opens; use a [table] instead");
    }
    if (*P->p == '}') {
        P->p++;
        *done = true;
        return HDB_OK;
    }
    if (*P->p != ',') {
        return fail(P, "expected ',' or '}' in the inline table, found %s", found(P, buf));
    }
    P->p++;
    skip_ws(P);
    if (!at_end(P) && *P->p == '}') {
        return fail(P, "a trailing comma is not allowed in an inline table");
    }
    return HDB_OK;
}

static int value_inline_table(struct parser *P, struct node *t)
{
    t->pub.type = HDB_TOML_TABLE;
    t->origin = ORIGIN_INLINE;
    P->p++;
    skip_ws(P);
    if (!at_end(P) && *P->p == '}') {
        P->p++;
        return HDB_OK;
    }
    char saved[KEY_TEXT_BYTES];
    memcpy(saved, P->key_text, sizeof saved);
    bool done = false;
    while (!done) {
        if (at_end(P) || at_newline(P) || *P->p == '\r') {
            return fail(P,
                        "an inline table must close on the line it opens; use a [table] instead");
        }
        int rc = parse_keyval(P, t);
        if (rc == HDB_OK) {
            rc = inline_separator(P, &done);
        }
        if (rc != HDB_OK) {
            return rc;
        }
    }
    memcpy(P->key_text, saved, sizeof saved);
    return HDB_OK;
}

/* Any value at P->p; `depth` is the depth the new value will have. */
static int parse_value(struct parser *P, uint32_t depth, struct node **out)
{
    if (at_end(P)) {
        return fail(P, "expected a value, found the end of the file");
    }
    struct node *n = new_node(P, HDB_TOML_BOOL, depth, P->line, column_of(P, P->p));
    if (n == NULL) {
        return P->err->code;
    }
    *out = n;
    char c = *P->p;
    if (c == '"' || c == '\'') {
        return value_string(P, n);
    }
    if (c == 't' || c == 'f') {
        return value_bool(P, n);
    }
    if (c == '[') {
        return value_array(P, n);
    }
    if (c == '{') {
        return value_inline_table(P, n);
    }
    if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'i' || c == 'n') {
        return value_number(P, n);
    }
    char buf[16];
    return fail(P, "expected a value, found %s", found(P, buf));
}

/* ---- key = value and [headers] -------------------------------------------------------- */

/* Walks the first count-1 parts of a dotted key from `t`, creating dotted tables. */
static int walk_dotted(struct parser *P, struct node *t, const struct key_path *kp,
                       struct node **parent)
{
    for (uint32_t i = 0; i + 1 < kp->count; i++) {
        struct node *child = table_find(t, kp->part[i], kp->len[i]);
        if (child == NULL) {
            child = new_node(P, HDB_TOML_TABLE, t->depth + 1u, kp->line, kp->column);
            if (child == NULL) {
                return P->err->code;
            }
            child->origin = ORIGIN_DOTTED;
            int rc = table_add(P, t, kp->part[i], kp->len[i], kp->line, child);
            if (rc != HDB_OK) {
                return rc;
            }
        } else if (child->pub.type != HDB_TOML_TABLE) {
            return fail_pos(
                P, kp->line, kp->column,
                "\"%s\" is already %s %s (line %u), so it cannot hold keys", kp->part[i],
                child->pub.type == HDB_TOML_ARRAY || child->pub.type == HDB_TOML_INT ? "an" : "a",
                hdb_toml_type_name(child->pub.type), child->pub.line);
        } else if (child->origin == ORIGIN_INLINE) {
            return fail_pos(P, kp->line, kp->column,
                            "table \"%s\" was written inline at line %u and cannot be extended",
                            kp->part[i], child->pub.line);
        } else if (child->origin != ORIGIN_DOTTED) {
            return fail_pos(P, kp->line, kp->column,
                            "table \"%s\" has a [header] (line %u); add its keys under it",
                            kp->part[i], child->pub.line);
        }
        t = child;
    }
    *parent = t;
    return HDB_OK;
}

static int parse_keyval(struct parser *P, struct node *table)
{
    struct key_path kp;
    int rc = parse_key(P, &kp);
    if (rc != HDB_OK) {
        return rc;
    }
    skip_ws(P);
    if (at_end(P) || *P->p != '=') {
        char buf[16];
        return fail(P, "expected '=' after the key, found %s", found(P, buf));
    }
    P->p++;
    skip_ws(P);
    if (at_end(P) || at_newline(P) || *P->p == '#' || *P->p == '\r') {
        return fail(P, "expected a value after '='");
    }
    struct node *parent = NULL;
    rc = walk_dotted(P, table, &kp, &parent);
    if (rc != HDB_OK) {
        return rc;
    }
    const char *last = kp.part[kp.count - 1];
    uint32_t last_len = kp.len[kp.count - 1];
    struct node *old = table_find(parent, last, last_len);
    if (old != NULL) {
        return fail_pos(P, kp.line, kp.column, "duplicate key (first defined at line %u)",
                        old->pub.line);
    }
    struct node *value = NULL;
    rc = parse_value(P, parent->depth + 1u, &value);
    if (rc != HDB_OK) {
        return rc;
    }
    value->pub.line = kp.line; /* a value is reported at the line of its key */
    return table_add(P, parent, last, last_len, kp.line, value);
}

/* Visits or creates header part `i` under `t`. */
static int header_part(struct parser *P, struct node *t, const struct key_path *kp, uint32_t i,
                       const char *name, struct node **out)
{
    bool last = i + 1 == kp->count;
    struct node *child = table_find(t, kp->part[i], kp->len[i]);
    if (child == NULL) {
        child = new_node(P, HDB_TOML_TABLE, t->depth + 1u, kp->line, kp->column);
        if (child == NULL) {
            return P->err->code;
        }
        child->origin = last ? ORIGIN_HEADER : ORIGIN_IMPLICIT;
        *out = child;
        return table_add(P, t, kp->part[i], kp->len[i], kp->line, child);
    }
    uint32_t l = child->pub.line;
    if (child->pub.type != HDB_TOML_TABLE) {
        return fail_pos(P, kp->line, kp->column, "table [%s]: \"%s\" is already a value (line %u)",
                        name, kp->part[i], l);
    }
    if (child->origin == ORIGIN_INLINE) {
        return fail_pos(P, kp->line, kp->column,
                        "table [%s]: \"%s\" was written inline at line %u and cannot be extended",
                        name, kp->part[i], l);
    }
    if (last && child->origin == ORIGIN_HEADER) {
        return fail_pos(P, kp->line, kp->column, "table [%s] is defined twice (first at line %u)",
                        name, l);
    }
    if (last && child->origin == ORIGIN_DOTTED) {
        return fail_pos(P, kp->line, kp->column,
                        "table [%s] was already defined by dotted keys at line %u", name, l);
    }
    if (last) {
        child->origin = ORIGIN_HEADER;
        child->pub.line = kp->line;
        child->pub.column = kp->column;
    }
    *out = child;
    return HDB_OK;
}

static int parse_header(struct parser *P)
{
    P->key_text[0] = '\0';
    P->p++;
    if (!at_end(P) && *P->p == '[') {
        return fail(P, "arrays of tables ([[...]]) are not supported");
    }
    struct key_path kp;
    int rc = parse_key(P, &kp);
    if (rc != HDB_OK) {
        return rc;
    }
    skip_ws(P);
    if (at_end(P) || *P->p != ']') {
        char buf[16];
        return fail(P, "expected ']' to close the table header, found %s", found(P, buf));
    }
    P->p++;
    struct node *t = P->doc->root;
    char name[KEY_TEXT_BYTES];
    memcpy(name, P->key_text, sizeof name);
    P->key_text[0] = '\0'; /* header errors name the table themselves */
    for (uint32_t i = 0; i < kp.count; i++) {
        struct node *child = NULL;
        rc = header_part(P, t, &kp, i, name, &child);
        if (rc != HDB_OK) {
            return rc;
        }
        t = child;
    }
    P->current = t;
    return HDB_OK;
}

/* ---- document ------------------------------------------------------------------------- */

/* Length of the valid UTF-8 character at `s` (shortest form, no surrogate, at most
 * U+10FFFF), or 0 if the bytes there are not one. */
static uint32_t utf8_char_len(const unsigned char *s, const unsigned char *e)
{
    unsigned char c = *s;
    uint32_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || (size_t)(e - s) < n) {
        return 0;
    }
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1Fu : n == 3 ? c & 0x0Fu : c & 0x07u;
    for (uint32_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

bool hdb_toml_utf8_valid(const char *s, size_t len)
{
    assert(s != NULL || len == 0);
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    while (p < e) {
        uint32_t n = utf8_char_len(p, e);
        if (n == 0) {
            return false;
        }
        p += n;
    }
    return true;
}

/* Validates the whole input as UTF-8 and rejects NUL bytes, naming the line. */
static int check_utf8(struct parser *P)
{
    const unsigned char *s = (const unsigned char *)P->p, *e = (const unsigned char *)P->end;
    while (s < e) {
        uint32_t n = utf8_char_len(s, e);
        if (n == 0 || *s == 0) {
            P->p = (const char *)s;
            return *s == 0 ? fail(P, "NUL byte in the file")
                           : fail(P, "invalid UTF-8 (byte 0x%02X)", *s);
        }
        if (*s == '\n') {
            P->line++;
            P->line_start = (const char *)s + 1;
        }
        s += n;
    }
    return HDB_OK;
}

static int parse_document(struct parser *P)
{
    while (!at_end(P)) {
        P->key_text[0] = '\0';
        skip_ws(P);
        int rc = HDB_OK;
        const char *what = "the value";
        if (!at_end(P) && *P->p == '[') {
            rc = parse_header(P);
            what = "the table header";
        } else if (!at_end(P) && *P->p != '#' && !at_newline(P) && *P->p != '\r') {
            rc = parse_keyval(P, P->current);
        }
        if (rc == HDB_OK) {
            rc = end_of_line(P, what);
        }
        if (rc != HDB_OK) {
            return rc;
        }
    }
    return HDB_OK;
}

static int parse_init(struct parser *P, const char *name, const char *text, size_t len,
                      struct hdb_err *err)
{
    memset(P, 0, sizeof *P);
    P->name = name != NULL ? name : "<toml>";
    P->p = text;
    P->end = text + len;
    P->line = 1;
    P->line_start = text;
    P->err = err;
    P->doc = calloc(1, sizeof *P->doc);
    P->scratch = malloc(HDB_TOML_STRING_BYTES_MAX);
    if (P->doc == NULL || P->scratch == NULL) {
        return hdb_err_set(err, HDB_NOMEM, "%s: out of memory while parsing", P->name);
    }
    P->doc->root = new_node(P, HDB_TOML_TABLE, 0, 1, 1);
    if (P->doc->root == NULL) {
        return err->code;
    }
    P->doc->root->origin = ORIGIN_ROOT;
    P->current = P->doc->root;
    return HDB_OK;
}

int hdb_toml_parse(const char *name, const char *text, size_t len, struct hdb_toml_doc **out,
                   struct hdb_err *err)
{
    assert(out != NULL);
    assert(text != NULL || len == 0);
    *out = NULL;
    struct hdb_err local;
    if (err == NULL) {
        err = &local;
    }
    struct parser P;
    int rc = parse_init(&P, name, text != NULL ? text : "", len, err);
    if (rc == HDB_OK && len > HDB_TOML_INPUT_BYTES_MAX) {
        rc = hdb_err_set(err, HDB_INVALID, "%s: %zu bytes is larger than the limit of %u bytes",
                         P.name, len, HDB_TOML_INPUT_BYTES_MAX);
    }
    if (rc == HDB_OK) {
        rc = check_utf8(&P);
        P.p = text;
        P.line = 1;
        P.line_start = text;
    }
    if (rc == HDB_OK && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        P.p += 3; /* a byte order mark */
        P.line_start = P.p;
    }
    if (rc == HDB_OK) {
        rc = parse_document(&P);
    }
    free(P.scratch);
    if (rc != HDB_OK) {
        hdb_toml_free(P.doc);
        return rc;
    }
    *out = P.doc;
    return HDB_OK;
}

/* Reads at most HDB_TOML_INPUT_BYTES_MAX + 1 bytes so a larger file is detected, not read. */
static int read_bounded(int fd, const char *path, char *buf, size_t *len, struct hdb_err *err)
{
    size_t n = 0;
    while (n < HDB_TOML_INPUT_BYTES_MAX + 1u) {
        ssize_t r = read(fd, buf + n, HDB_TOML_INPUT_BYTES_MAX + 1u - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return hdb_err_set(err, hdb_status_from_errno(errno), "%s: read: %s", path,
                               strerror(errno));
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    if (n > HDB_TOML_INPUT_BYTES_MAX) {
        return hdb_err_set(err, HDB_INVALID, "%s: the file is larger than the limit of %u bytes",
                           path, HDB_TOML_INPUT_BYTES_MAX);
    }
    *len = n;
    return HDB_OK;
}

int hdb_toml_parse_file(const char *path, struct hdb_toml_doc **out, struct hdb_err *err)
{
    assert(path != NULL);
    assert(out != NULL);
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return hdb_err_set(err, hdb_status_from_errno(errno), "%s: open: %s", path,
                           strerror(errno));
    }
    char *buf = malloc(HDB_TOML_INPUT_BYTES_MAX + 1u);
    if (buf == NULL) {
        close(fd);
        return hdb_err_set(err, HDB_NOMEM, "%s: out of memory", path);
    }
    size_t len = 0;
    int rc = read_bounded(fd, path, buf, &len, err);
    close(fd);
    if (rc == HDB_OK) {
        rc = hdb_toml_parse(path, buf, len, out, err);
    }
    free(buf);
    return rc;
}

void hdb_toml_free(struct hdb_toml_doc *doc)
{
    if (doc == NULL) {
        return;
    }
    struct arena_chunk *c = doc->chunks;
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

/* ---- lookups -------------------------------------------------------------------------- */

const struct hdb_toml_value *hdb_toml_root(const struct hdb_toml_doc *doc)
{
    assert(doc != NULL);
    return &doc->root->pub;
}

static const struct hdb_toml_value *get_n(const struct hdb_toml_value *table, const char *key,
                                          size_t len)
{
    if (table == NULL || table->type != HDB_TOML_TABLE) {
        return NULL;
    }
    for (const struct hdb_toml_kv *kv = table->as.table.first; kv != NULL; kv = kv->next) {
        if (kv->key_len == len && memcmp(kv->key, key, len) == 0) {
            return kv->value;
        }
    }
    return NULL;
}

const struct hdb_toml_value *hdb_toml_get(const struct hdb_toml_value *table, const char *key)
{
    assert(key != NULL);
    return get_n(table, key, strlen(key));
}

const struct hdb_toml_value *hdb_toml_get_path(const struct hdb_toml_value *table, const char *path)
{
    assert(path != NULL);
    for (uint32_t i = 0; i < HDB_TOML_DEPTH_MAX && table != NULL; i++) {
        const char *dot = strchr(path, '.');
        size_t len = dot != NULL ? (size_t)(dot - path) : strlen(path);
        table = get_n(table, path, len);
        if (dot == NULL) {
            return table;
        }
        path = dot + 1;
    }
    return NULL;
}

const struct hdb_toml_kv *hdb_toml_first(const struct hdb_toml_value *table)
{
    assert(table != NULL);
    assert(table->type == HDB_TOML_TABLE);
    return table->as.table.first;
}

const struct hdb_toml_value *hdb_toml_at(const struct hdb_toml_value *array, uint32_t i)
{
    assert(array != NULL);
    assert(array->type == HDB_TOML_ARRAY);
    return i < array->as.array.count ? array->as.array.items[i] : NULL;
}

const char *hdb_toml_type_name(enum hdb_toml_type type)
{
    switch (type) {
    case HDB_TOML_TABLE:
        return "table";
    case HDB_TOML_ARRAY:
        return "array";
    case HDB_TOML_STRING:
        return "string";
    case HDB_TOML_INT:
        return "integer";
    case HDB_TOML_FLOAT:
        return "float";
    case HDB_TOML_BOOL:
        return "boolean";
    }
    return "unknown";
}
