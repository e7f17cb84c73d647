/*
 * rest_tables.c — the REST API generated from the schema (rest_tables.h), on the public C API
 * and the catalog of sql/api_int.h.
 *
 * A request goes through three steps. The route: /v1/{table}[/{key}] is looked up in the
 * catalog (from the caller's rest_cache while the catalog's change counter stays the same, else
 * read with heliosdb_tables, so DDL shows at once) and the method checked
 * against what the route takes. The request: the query (PostgREST's grammar) and the body (JSON)
 * are parsed and checked whole against the table's columns before anything runs. The statement:
 * SQL is written (struct rt_sql) with every name a double-quoted identifier and every value a
 * bound parameter, then prepared, bound and stepped; its rows become JSON objects keyed by
 * column name, with the value forms of rpc/sqljson.h (INTEGER a number, REAL a number or null
 * for NaN and infinities, TEXT a string, NULL null, DECIMAL its text, BLOB {"$base64": "..."});
 * body values bind as sqljson's params do (true/false as 1/0). GET /v1/_openapi.json describes
 * it all (OpenAPI 3.1).
 *
 * Choices the header leaves open:
 *  - The key in the path: the server has percent-decoded the path, so the text after
 *    "/v1/{table}/" (slashes included) is the key as is. A one-column key is that whole text
 *    (commas included); a composite key is split on every ',' and must give one value per key
 *    column, in key order (so its values cannot hold ','). A rowid table's INTEGER PRIMARY KEY
 *    column is its key. A table without any primary key has no /{key} routes (404): the engine
 *    does not expose the implicit rowid as a column; filter its collection instead.
 *  - Filter values bind as text and the column's affinity converts them as SQLite does (id=eq.5
 *    finds the row 5, created_at=gt.9 compares numbers), so no value is guessed to be a number;
 *    a column without a declared type compares as stored. `not.` before an operator negates it;
 *    `in.()` matches nothing. `like` is the engine's LIKE (ASCII case-insensitive, as SQLite's)
 *    and `ilike` is lower(col) LIKE lower(?); in both '*' becomes '%' ('%' and '_' stay
 *    wildcards too).
 *  - order: NULLs sort first in ascending order, as in SQLite (PostgreSQL sorts them last);
 *    .nullsfirst/.nullslast are written as a `col IS NULL` sort term before the column, since
 *    the engine parses NULLS FIRST/LAST but does not apply them.
 *  - limit above REST_ROWS_MAX is refused (400). Without a limit at most REST_ROWS_MAX rows are
 *    answered. Content-Range is always given for lists (STAR standing for '*' here, as C
 *    comments cannot hold it after a slash): "start-end/STAR", "STAR/0" when nothing matched,
 *    "STAR/STAR" when an offset went past the end or limit was 0 (the total is unknown then).
 *  - select, order, limit and offset are reserved query names: a column so named cannot be
 *    filtered. GET /{key} takes only select; POST, PATCH, PUT and DELETE /{key} take no query;
 *    DELETE on the collection takes only filters (at least one) and ignores Prefer (204).
 *  - POST of one object is one statement (its own transaction, which the engine retries on
 *    conflicts); an array is BEGIN ... COMMIT and an error names the object's index. {} inserts
 *    DEFAULT VALUES; [] inserts nothing (201). Location is given for one object in a table with
 *    a key when every key value is a number or text (in a composite key, without ','),
 *    percent-encoded, and left out when it does not fit `extra`.
 *  - PATCH, PUT and DELETE /{key} with return=representation answer the row as an object (200),
 *    as GET /{key} does. PUT sets the object's columns and leaves the others as they are on an
 *    existing row (defaults on a new one); an object of key columns only leaves a row unchanged.
 *  - Tables whose names start with '_' cannot be routed (reserved) and are left out of the
 *    OpenAPI document, as are tables and columns whose names are not UTF-8.
 *  - 405 answers carry the code INVALID_ARGUMENT, as rpc/server.c's do. Answers without a body
 *    (201 minimal, 204) have body "" (allocated) and len 0. When even an error answer cannot
 *    be built, out->body is NULL and http_status 500: the caller answers 500 itself.
 *  - Bounds: RT_URL_BYTES_MAX (414), RT_FILTERS_MAX filters, RT_OBJECTS_MAX objects per POST
 *    (413), RT_PARAMS_MAX values and RT_SQL_BYTES_MAX bytes per statement (413),
 *    RT_ANSWER_BYTES_MAX estimated bytes per answer (413), REST_ROWS_MAX rows.
 */
#include <assert.h>
#include <errno.h>
#include <http_parser.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rpc/jsonval.h"
#include "rpc/rest_tables.h"
#include "rpc/text.h"
#include "sql/api_int.h"
#include "sql/value.h" /* enum hdb_affinity, for the OpenAPI types */

#define RT_URL_BYTES_MAX      8192u /* path plus query (the server's target limit) */
#define RT_FILTERS_MAX        64u   /* filters in one query */
#define RT_QUERY_ITEMS_MAX    (RT_FILTERS_MAX + 4u) /* plus select, order, limit, offset */
#define RT_OBJECTS_MAX        1000u                 /* objects in one POST */
#define RT_PARAMS_MAX         4096u                 /* values bound to one statement */
#define RT_KEY_COLUMNS_MAX    32u         /* columns of a primary key (the engine's limit) */
#define RT_SQL_BYTES_MAX      (1u << 20)  /* the text of one statement */
#define RT_ANSWER_BYTES_MAX   (64u << 20) /* estimated bytes of one answer's values */
#define RT_MESSAGE_BYTES      1024u       /* an error message */
#define RT_LOCATION_BYTES_MAX 2048u       /* a Location header's URL */
#define RT_NAME_SHOWN         128         /* bytes of a name or value quoted in a message */

static_assert(RT_FILTERS_MAX < RT_QUERY_ITEMS_MAX, "room for the reserved query names");
static_assert(REST_ROWS_MAX < UINT32_MAX, "row counts fit");
static_assert(RT_OBJECTS_MAX <= REST_ROWS_MAX, "a POST's rows fit one answer");
static_assert(RT_PARAMS_MAX <= INT32_MAX, "param indexes fit an int");
static_assert(RT_MESSAGE_BYTES > sizeof(((heliosdb_error *)0)->message) + 2 * RT_NAME_SHOWN,
              "room for names beside the engine's message");

/* Why a request failed: its HTTP status (0 while nothing failed), code and message. */
struct rt_fail {
    int http_status;
    const char *code;
    char message[RT_MESSAGE_BYTES];
};

/* A value to bind: text from the URL, a number, or a (checked) JSON value from the body. */
enum rt_param_kind { RT_PARAM_TEXT, RT_PARAM_INT, RT_PARAM_JSON };
struct rt_param {
    enum rt_param_kind kind;
    const char *text; /* RT_PARAM_TEXT: borrowed, len bytes */
    size_t len;
    int64_t number;
    json_t *json; /* RT_PARAM_JSON: borrowed */
};

/*
 * A statement being written: its text and its params in order, within RT_SQL_BYTES_MAX and
 * RT_PARAMS_MAX. Appending never fails on the spot: past a bound or out of memory the statement
 * is marked broken (HELIOSDB_TOOBIG or HELIOSDB_NOMEM), and sql_run reports it.
 */
struct rt_sql {
    char *text;
    size_t len, cap;
    struct rt_param *params;
    uint32_t nparams, params_cap;
    int broken;
};

enum rt_op { RT_EQ, RT_NEQ, RT_GT, RT_GTE, RT_LT, RT_LTE, RT_LIKE, RT_ILIKE, RT_IS, RT_IN };

/* The operators of a filter and their SQL (NULL: written by filter_write itself). */
static const struct {
    const char *name;
    const char *sql;
} rt_ops[] = {
    [RT_EQ] = {"eq", " = "},        [RT_NEQ] = {"neq", " <> "},   [RT_GT] = {"gt", " > "},
    [RT_GTE] = {"gte", " >= "},     [RT_LT] = {"lt", " < "},      [RT_LTE] = {"lte", " <= "},
    [RT_LIKE] = {"like", " LIKE "}, [RT_ILIKE] = {"ilike", NULL}, [RT_IS] = {"is", NULL},
    [RT_IN] = {"in", NULL},
};

/* One filter of the query: `column=[not.]op.value`, value decoded in rt_query's copy. */
struct rt_filter {
    const struct heliosdb_column_info *col;
    enum rt_op op;
    bool negate;
    char *value;
    size_t len;
};

/* A parsed query: everything points into `copy`, decoded item by item in place. */
struct rt_query {
    char *copy;
    struct rt_filter filters[RT_FILTERS_MAX];
    uint32_t nfilters;
    char *select, *order; /* NULL when not given */
    bool has_limit, has_offset;
    uint64_t limit, offset;
};

/* One request: the route's table and key, and what the answer needs. */
struct rt_ctx {
    heliosdb_conn *c;
    const struct rest_request *r;
    struct heliosdb_table_info *tables;
    uint32_t ntables;
    bool borrowed; /* tables belong to the request's cache */
    const struct heliosdb_table_info *t;
    const struct heliosdb_column_info *pk[RT_KEY_COLUMNS_MAX]; /* in key order */
    uint32_t npk;
    char *key_copy; /* the path's key, split in place */
    const char *key[RT_KEY_COLUMNS_MAX];
    size_t key_len[RT_KEY_COLUMNS_MAX];
    bool representation; /* Prefer: return=representation */
    size_t answer_bytes; /* against RT_ANSWER_BYTES_MAX */
    char *extra;
    size_t extra_cap;
    struct rt_fail fail;
};

/* ---- failures ---- */

static int fail_status(struct rt_fail *f, int http_status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_bad(struct rt_fail *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail_v(struct rt_fail *f, int http_status, const char *code, const char *fmt, va_list ap)
{
    assert(http_status >= 400);
    if (vsnprintf(f->message, sizeof f->message, fmt, ap) < 0) {
        snprintf(f->message, sizeof f->message, "%s", "error message could not be formatted");
    }
    f->http_status = http_status;
    f->code = code;
    return http_status;
}

/* Fills f; returns http_status (never 0). */
static int fail_status(struct rt_fail *f, int http_status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_v(f, http_status, code, fmt, ap);
    va_end(ap);
    return rc;
}

/* A 400 INVALID_ARGUMENT. */
static int fail_bad(struct rt_fail *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_v(f, 400, "INVALID_ARGUMENT", fmt, ap);
    va_end(ap);
    return rc;
}

static int fail_nomem(struct rt_fail *f)
{
    return fail_status(f, 503, "RESOURCE_EXHAUSTED", "out of memory");
}

/* An engine error, with the status sqljson_http_status gives it. */
static int fail_engine(struct rt_fail *f, int rc, const heliosdb_error *e)
{
    assert(rc != HELIOSDB_OK);
    const char *code = NULL;
    int http_status = sqljson_http_status(rc, &code);
    return fail_status(f, http_status, code, "%s", e->message);
}

/* Puts "object <index>: " before f's message. */
static void fail_prefix(struct rt_fail *f, size_t index)
{
    char old[RT_MESSAGE_BYTES];
    memcpy(old, f->message, sizeof old);
    if (snprintf(f->message, sizeof f->message, "object %zu: %s", index, old) < 0) {
        snprintf(f->message, sizeof f->message, "%s", old); /* cut, never lost */
    }
}

/* ---- values (their JSON forms are rpc/jsonval.h's) ---- */

static bool utf8_valid(const char *s)
{
    return text_bad_bytes(s, strlen(s), false) == 0;
}

/* True when v has a form a column value takes: a scalar or {"$base64": "<strict base64>"}. */
static bool value_check(json_t *v)
{
    if (json_is_array(v)) {
        return false;
    }
    if (!json_is_object(v)) {
        return true;
    }
    json_t *text = jsonval_blob_text(v);
    size_t len;
    return text != NULL &&
           jsonval_base64_decode(json_string_value(text), json_string_length(text), NULL, &len);
}

/* ---- writing statements ---- */

static void sql_add_n(struct rt_sql *s, const char *text, size_t n)
{
    if (s->broken != HELIOSDB_OK) {
        return;
    }
    if (n > RT_SQL_BYTES_MAX - s->len) {
        s->broken = HELIOSDB_TOOBIG;
        return;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap == 0 ? 256 : s->cap;
        while (cap < s->len + n + 1) {
            cap *= 2; /* at most twice RT_SQL_BYTES_MAX */
        }
        char *grown = realloc(s->text, cap);
        if (grown == NULL) {
            s->broken = HELIOSDB_NOMEM;
            return;
        }
        s->text = grown, s->cap = cap;
    }
    memcpy(s->text + s->len, text, n);
    s->len += n;
    s->text[s->len] = '\0';
}

static void sql_add(struct rt_sql *s, const char *text)
{
    sql_add_n(s, text, strlen(text));
}

/* Appends name as a double-quoted identifier, each '"' in it doubled. */
static void sql_ident(struct rt_sql *s, const char *name)
{
    sql_add(s, "\"");
    for (const char *p = name; *p != '\0';) {
        const char *quote = strchr(p, '"');
        size_t n = quote != NULL ? (size_t)(quote - p) + 1 : strlen(p);
        sql_add_n(s, p, n);
        if (quote != NULL) {
            sql_add(s, "\"");
        }
        p += n;
    }
    sql_add(s, "\"");
}

/* Appends "?" and returns its param slot to fill, or NULL when s is broken. */
static struct rt_param *sql_param(struct rt_sql *s)
{
    if (s->broken == HELIOSDB_OK && s->nparams == RT_PARAMS_MAX) {
        s->broken = HELIOSDB_TOOBIG;
    }
    if (s->broken == HELIOSDB_OK && s->nparams == s->params_cap) {
        uint32_t cap = s->params_cap == 0 ? 16 : s->params_cap * 2;
        cap = cap < RT_PARAMS_MAX ? cap : RT_PARAMS_MAX;
        struct rt_param *grown = realloc(s->params, cap * sizeof *grown);
        s->broken = grown == NULL ? HELIOSDB_NOMEM : HELIOSDB_OK;
        s->params = grown != NULL ? grown : s->params;
        s->params_cap = grown != NULL ? cap : s->params_cap;
    }
    sql_add(s, "?");
    return s->broken == HELIOSDB_OK ? &s->params[s->nparams++] : NULL;
}

static void sql_text_param(struct rt_sql *s, const char *text, size_t len)
{
    struct rt_param *p = sql_param(s);
    if (p != NULL) {
        *p = (struct rt_param){.kind = RT_PARAM_TEXT, .text = text, .len = len};
    }
}

static void sql_int_param(struct rt_sql *s, int64_t number)
{
    struct rt_param *p = sql_param(s);
    if (p != NULL) {
        *p = (struct rt_param){.kind = RT_PARAM_INT, .number = number};
    }
}

static void sql_json_param(struct rt_sql *s, json_t *v)
{
    struct rt_param *p = sql_param(s);
    if (p != NULL) {
        *p = (struct rt_param){.kind = RT_PARAM_JSON, .json = v};
    }
}

static void sql_free(struct rt_sql *s)
{
    free(s->text);
    free(s->params);
    *s = (struct rt_sql){0};
}

/* ---- running statements ---- */

static int params_bind(struct rt_ctx *x, heliosdb_stmt *st, const struct rt_sql *s)
{
    for (uint32_t i = 0; i < s->nparams; i++) {
        const struct rt_param *p = &s->params[i];
        heliosdb_error e = {.offset = -1};
        int index = (int)i + 1, rc;
        if (p->kind == RT_PARAM_TEXT) {
            rc = heliosdb_bind_text(st, index, p->text, (long)p->len, &e);
        } else if (p->kind == RT_PARAM_INT) {
            rc = heliosdb_bind_int64(st, index, p->number, &e);
        } else {
            rc = jsonval_bind(st, index, p->json, &e);
        }
        if (rc != HELIOSDB_OK) {
            return fail_engine(&x->fail, rc, &e);
        }
    }
    return 0;
}

/* The result's column names as JSON strings (*keys, *ncols), once its first row is read. */
static int keys_make(struct rt_ctx *x, heliosdb_stmt *st, json_t ***keys, int *ncols)
{
    int n = heliosdb_column_count(st);
    *keys = calloc((size_t)n + 1, sizeof **keys);
    if (*keys == NULL) {
        return fail_nomem(&x->fail);
    }
    *ncols = n;
    for (int col = 0; col < n; col++) {
        const char *name = heliosdb_column_name(st, col);
        name = name != NULL ? name : "";
        if (((*keys)[col] = jsonval_text(name, strlen(name))) == NULL) {
            return fail_nomem(&x->fail);
        }
    }
    return 0;
}

static void keys_free(json_t **keys, int ncols)
{
    for (int col = 0; keys != NULL && col < ncols; col++) {
        json_decref(keys[col]);
    }
    free(keys);
}

/* Appends st's current row to rows as an object keyed by column name, within the budget. */
static int row_append(struct rt_ctx *x, heliosdb_stmt *st, json_t **keys, int ncols, json_t *rows)
{
    size_t cost = JSONVAL_VALUE_BYTES;
    for (int col = 0; col < ncols; col++) {
        cost += jsonval_cost(st, col);
    }
    if (cost > RT_ANSWER_BYTES_MAX - x->answer_bytes) {
        return fail_status(&x->fail, 413, "RESOURCE_EXHAUSTED",
                           "the answer would be over %u MiB (use limit and select)",
                           RT_ANSWER_BYTES_MAX >> 20);
    }
    x->answer_bytes += cost;
    json_t *row = json_object();
    if (row == NULL || json_array_append_new(rows, row) != 0) {
        return fail_nomem(&x->fail);
    }
    for (int col = 0; col < ncols; col++) {
        const char *key = json_string_value(keys[col]);
        size_t key_len = json_string_length(keys[col]);
        if (json_object_setn_new_nocheck(row, key, key_len, jsonval_from_column(st, col)) != 0) {
            return fail_nomem(&x->fail);
        }
    }
    return 0;
}

/* Steps st to its end; with rows non-NULL, appends each row to it, stopping after rows_max rows
 * (then *more, if given, is set when another row came). */
static int rows_read(struct rt_ctx *x, heliosdb_stmt *st, json_t *rows, uint32_t rows_max,
                     bool *more)
{
    heliosdb_error e = {.offset = -1};
    json_t **keys = NULL;
    int ncols = 0, rc = 0, step;
    uint32_t n = 0;
    while ((step = heliosdb_step(st, &e)) == HELIOSDB_ROW) {
        if (rows == NULL) {
            continue;
        }
        if (n == rows_max) {
            if (more != NULL) {
                *more = true;
            }
            break;
        }
        rc = keys == NULL ? keys_make(x, st, &keys, &ncols) : 0;
        rc = rc == 0 ? row_append(x, st, keys, ncols, rows) : rc;
        if (rc != 0) {
            break;
        }
        n++;
    }
    if (rc == 0 && step != HELIOSDB_ROW && step != HELIOSDB_DONE) {
        rc = fail_engine(&x->fail, step, &e);
    }
    keys_free(keys, ncols);
    return rc;
}

/* Prepares s, binds its params and runs it (rows, rows_max and more as rows_read takes them). */
static int sql_run(struct rt_ctx *x, struct rt_sql *s, json_t *rows, uint32_t rows_max, bool *more)
{
    if (s->broken == HELIOSDB_TOOBIG) {
        return fail_status(&x->fail, 413, "RESOURCE_EXHAUSTED",
                           "the statement would be over %u KiB or %u values",
                           RT_SQL_BYTES_MAX >> 10, RT_PARAMS_MAX);
    }
    if (s->broken != HELIOSDB_OK) {
        return fail_nomem(&x->fail);
    }
    heliosdb_stmt *st = NULL;
    heliosdb_error e = {.offset = -1};
    int rc = heliosdb_prepare_cached(x->c, s->text, (long)s->len, &st, NULL, &e);
    if (rc != HELIOSDB_OK) {
        return fail_engine(&x->fail, rc, &e);
    }
    if (st == NULL) {
        return fail_status(&x->fail, 500, "INTERNAL", "the statement written was empty");
    }
    rc = params_bind(x, st, s);
    rc = rc == 0 ? rows_read(x, st, rows, rows_max, more) : rc;
    heliosdb_finalize(st);
    return rc;
}

static int txn_exec(struct rt_ctx *x, const char *sql)
{
    heliosdb_error e = {.offset = -1};
    int rc = heliosdb_exec(x->c, sql, &e);
    return rc == HELIOSDB_OK ? 0 : fail_engine(&x->fail, rc, &e);
}

/* Rolls back a transaction left open on c (how that goes does not matter: disconnect would). */
static void rollback_open(heliosdb_conn *c)
{
    if (heliosdb_in_transaction(c)) {
        heliosdb_error e;
        heliosdb_exec(c, "ROLLBACK", &e);
    }
}

/* ---- answers and headers ---- */

/* Appends a header line to extra, or nothing when it does not fit. */
static void extra_add(struct rt_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void extra_add(struct rt_ctx *x, const char *fmt, ...)
{
    size_t used = strlen(x->extra);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(x->extra + used, x->extra_cap - used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= x->extra_cap - used) {
        x->extra[used] = '\0';
    }
}

/* Fills out with v's text (taking v). */
static int answer_json(struct rt_ctx *x, struct sqljson_answer *out, int http_status, json_t *v)
{
    char *body = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (body == NULL) {
        return fail_nomem(&x->fail);
    }
    *out = (struct sqljson_answer){.http_status = http_status, .body = body, .len = strlen(body)};
    return 0;
}

/* Fills out with an answer without a body (its text "", allocated, as the caller frees it). */
static int answer_empty(struct rt_ctx *x, struct sqljson_answer *out, int http_status)
{
    char *body = calloc(1, 1);
    if (body == NULL) {
        return fail_nomem(&x->fail);
    }
    *out = (struct sqljson_answer){.http_status = http_status, .body = body, .len = 0};
    return 0;
}

/* Fills out with the first of rows as a 200 answer, or 404 when rows is empty (taking rows). */
static int answer_row(struct rt_ctx *x, struct sqljson_answer *out, json_t *rows)
{
    json_t *row = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    if (row == NULL) {
        return fail_status(&x->fail, 404, "NOT_FOUND", "no row in %.*s with key %.*s",
                           RT_NAME_SHOWN, x->t->name, RT_NAME_SHOWN,
                           x->r->path + 4 + strlen(x->t->name) + 1);
    }
    return answer_json(x, out, 200, row);
}

/* Appends s percent-encoded (or as is) to buf[*n..cap); false when it does not fit. */
static bool url_put(char *buf, size_t cap, size_t *n, const char *s, bool encode)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        bool plain = !encode || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
        if (*n + (plain ? 1 : 3) >= cap) {
            return false;
        }
        if (plain) {
            buf[(*n)++] = (char)*p;
        } else {
            buf[(*n)++] = '%', buf[(*n)++] = hex[*p >> 4], buf[(*n)++] = hex[*p & 15];
        }
    }
    buf[*n] = '\0';
    return true;
}

/* The text of a key value in a row (numbers written into num), or NULL when it has none. */
static const char *key_text(json_t *v, char num[32])
{
    if (json_is_integer(v)) {
        snprintf(num, 32, "%" PRId64, (int64_t)json_integer_value(v));
        return num;
    }
    if (json_is_real(v)) {
        snprintf(num, 32, "%.17g", json_real_value(v));
        return num;
    }
    const char *s = json_string_value(v);
    return s != NULL && strlen(s) == json_string_length(v) ? s : NULL;
}

/* Adds "Location: /v1/{table}/{key}\r\n" for the row (an object holding the key's columns). */
static void location_add(struct rt_ctx *x, json_t *row)
{
    char loc[RT_LOCATION_BYTES_MAX];
    size_t n = 0;
    bool ok = url_put(loc, sizeof loc, &n, "/v1/", false) &&
              url_put(loc, sizeof loc, &n, x->t->name, true);
    for (uint32_t i = 0; ok && i < x->npk; i++) {
        char num[32];
        const char *text = key_text(json_object_get(row, x->pk[i]->name), num);
        ok = text != NULL && (x->npk == 1 || strchr(text, ',') == NULL);
        ok = ok && url_put(loc, sizeof loc, &n, i == 0 ? "/" : ",", false);
        ok = ok && url_put(loc, sizeof loc, &n, text, true);
    }
    if (ok) {
        extra_add(x, "Location: %s\r\n", loc);
    }
}

/* ---- the route: table, key, method ---- */

static const struct heliosdb_column_info *column_find(const struct heliosdb_table_info *t,
                                                      const char *name)
{
    for (uint32_t k = 0; k < t->ncols; k++) {
        if (strcmp(t->cols[k].name, name) == 0) {
            return &t->cols[k];
        }
    }
    return NULL;
}

static int column_missing(struct rt_ctx *x, const char *name)
{
    return fail_bad(&x->fail, "no column \"%.*s\" in table %.*s", RT_NAME_SHOWN, name,
                    RT_NAME_SHOWN, x->t->name);
}

void rest_cache_free(struct rest_cache *c)
{
    heliosdb_tables_free(c->tables, c->ntables);
    *c = (struct rest_cache){0};
}

/* The catalog: the request's cache when the catalog has not changed since it was taken (then
 * x->tables is borrowed), else read now (and kept in the cache when no DDL was under way). */
static int tables_load(struct rt_ctx *x)
{
    struct rest_cache *cache = x->r->cache;
    uint64_t seq = heliosdb_schema_seq(x->c);
    if (cache != NULL && cache->valid && cache->seq == seq && seq % 2 == 0) {
        x->tables = cache->tables;
        x->ntables = cache->ntables;
        x->borrowed = true;
        return 0;
    }
    heliosdb_error e = {.offset = -1};
    int rc = heliosdb_tables(x->c, &x->tables, &x->ntables, &e);
    if (rc != HELIOSDB_OK) {
        return fail_engine(&x->fail, rc, &e);
    }
    if (cache != NULL && seq % 2 == 0) {
        rest_cache_free(cache);
        *cache = (struct rest_cache){
            .seq = seq, .valid = true, .tables = x->tables, .ntables = x->ntables};
        x->borrowed = true;
    }
    return 0;
}

/* Points x->pk at the table's key columns in key order. */
static int key_columns(struct rt_ctx *x)
{
    const struct heliosdb_table_info *t = x->t;
    for (uint32_t k = 0; k < t->ncols; k++) {
        int p = t->cols[k].pk_position;
        if (p > (int)RT_KEY_COLUMNS_MAX) {
            return fail_status(&x->fail, 500, "INTERNAL", "the key of %.*s has over %u columns",
                               RT_NAME_SHOWN, t->name, RT_KEY_COLUMNS_MAX);
        }
        if (p > 0) {
            x->pk[p - 1] = &t->cols[k];
            x->npk = (uint32_t)p > x->npk ? (uint32_t)p : x->npk;
        }
    }
    for (uint32_t i = 0; i < x->npk; i++) {
        if (x->pk[i] == NULL) {
            return fail_status(&x->fail, 500, "INTERNAL", "the key of %.*s has a gap",
                               RT_NAME_SHOWN, t->name);
        }
    }
    return 0;
}

static int table_find(struct rt_ctx *x, const char *name, size_t len)
{
    for (uint32_t i = 0; i < x->ntables; i++) {
        if (strlen(x->tables[i].name) == len && memcmp(x->tables[i].name, name, len) == 0) {
            x->t = &x->tables[i];
            return key_columns(x);
        }
    }
    int shown = len < RT_NAME_SHOWN ? (int)len : RT_NAME_SHOWN;
    return fail_status(&x->fail, 404, "NOT_FOUND", "no table %.*s", shown, name);
}

/* Splits the path's key into one value per key column (x->key, x->key_len). */
static int key_parse(struct rt_ctx *x, const char *text)
{
    if ((x->key_copy = strdup(text)) == NULL) {
        return fail_nomem(&x->fail);
    }
    char *p = x->key_copy;
    for (uint32_t i = 0; i < x->npk; i++) {
        char *comma = x->npk > 1 ? strchr(p, ',') : NULL;
        if ((comma == NULL) != (i + 1 == x->npk)) {
            return fail_bad(&x->fail,
                            "the key of %.*s has %u columns: give %u values joined by ',' in "
                            "key order",
                            RT_NAME_SHOWN, x->t->name, x->npk, x->npk);
        }
        x->key[i] = p;
        x->key_len[i] = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (comma != NULL) {
            *comma = '\0';
            p = comma + 1;
        }
    }
    return 0;
}

/* Appends " WHERE k1 = ? AND ..." for the path's key. */
static void key_where(struct rt_ctx *x, struct rt_sql *s)
{
    for (uint32_t i = 0; i < x->npk; i++) {
        sql_add(s, i == 0 ? " WHERE " : " AND ");
        sql_ident(s, x->pk[i]->name);
        sql_add(s, " = ");
        sql_text_param(s, x->key[i], x->key_len[i]);
    }
}

/* Appends the key's columns, comma-separated (with named, each `AS` itself: the engine leaves
 * a RETURNING column without AS unnamed, where SQLite would name it after the column). */
static void key_list(struct rt_ctx *x, struct rt_sql *s, bool named)
{
    for (uint32_t i = 0; i < x->npk; i++) {
        sql_add(s, i == 0 ? "" : ", ");
        sql_ident(s, x->pk[i]->name);
        if (named) {
            sql_add(s, " AS ");
            sql_ident(s, x->pk[i]->name);
        }
    }
}

/* A 405 naming the methods the route takes (and the Allow header). */
static int method_refuse(struct rt_ctx *x, const char *allowed)
{
    extra_add(x, "Allow: %s\r\n", allowed);
    return fail_status(&x->fail, 405, "INVALID_ARGUMENT", "%s is not allowed on %.*s (use %s)",
                       http_method_str((enum http_method)x->r->method), RT_NAME_SHOWN * 2,
                       x->r->path, allowed);
}

/* True when the Prefer header asks for return=representation. */
static bool prefer_representation(const char *prefer)
{
    static const char want[] = "return=representation";
    for (const char *p = prefer; p != NULL && *p != '\0';) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",;");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
            n--;
        }
        if (n == sizeof want - 1 && strncasecmp(p, want, n) == 0) {
            return true;
        }
        p += strcspn(p, ","); /* past the preference's parameters */
    }
    return false;
}

/* Refuses a query on a route that takes none. */
static int query_none(struct rt_ctx *x)
{
    const char *q = x->r->query;
    if (q != NULL && q[0] != '\0') {
        return fail_bad(&x->fail, "%s %.*s takes no query parameters",
                        http_method_str((enum http_method)x->r->method), RT_NAME_SHOWN * 2,
                        x->r->path);
    }
    return 0;
}

/* ---- the query: PostgREST's grammar ---- */

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decodes s in place ('+' stays '+'); false for a bad escape or %00. */
static bool percent_decode(char *s)
{
    char *w = s;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p != '%') {
            *w++ = *p;
            continue;
        }
        int hi = hex_value(p[1]), lo = hi >= 0 ? hex_value(p[2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) {
            return false;
        }
        *w++ = (char)(hi << 4 | lo);
        p += 2;
    }
    *w = '\0';
    return true;
}

/* Parses a non-negative decimal integer of at most 18 digits (so it fits an int64_t). */
static bool count_parse(const char *s, uint64_t *out)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 18 || s[n] != '\0') {
        return false;
    }
    *out = strtoull(s, NULL, 10);
    return true;
}

/* Sets *slot to value for the query name `name`, which may be given once. */
static int reserved_set(struct rt_ctx *x, char **slot, const char *name, char *value)
{
    if (*slot != NULL) {
        return fail_bad(&x->fail, "%s is given twice in the query", name);
    }
    *slot = value;
    return 0;
}

static int count_set(struct rt_ctx *x, bool *given, uint64_t *out, const char *name,
                     const char *value)
{
    if (*given) {
        return fail_bad(&x->fail, "%s is given twice in the query", name);
    }
    if (!count_parse(value, out)) {
        return fail_bad(&x->fail, "%s must be a non-negative integer, got \"%.*s\"", name,
                        RT_NAME_SHOWN, value);
    }
    *given = true;
    return 0;
}

/* The operator named value[0..n), or -1. */
static int op_find(const char *value, size_t n)
{
    for (size_t i = 0; i < sizeof rt_ops / sizeof rt_ops[0]; i++) {
        if (strlen(rt_ops[i].name) == n && memcmp(rt_ops[i].name, value, n) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Checks the operand of `is` and `in`, and turns like's '*' into '%'. */
static int operand_check(struct rt_ctx *x, struct rt_filter *fl)
{
    if (fl->op == RT_IS && strcmp(fl->value, "null") != 0 && strcmp(fl->value, "true") != 0 &&
        strcmp(fl->value, "false") != 0) {
        return fail_bad(&x->fail, "filter on %.*s: is takes null, true or false, got \"%.*s\"",
                        RT_NAME_SHOWN, fl->col->name, RT_NAME_SHOWN, fl->value);
    }
    if (fl->op == RT_IN && (fl->len < 2 || fl->value[0] != '(' || fl->value[fl->len - 1] != ')')) {
        return fail_bad(&x->fail, "filter on %.*s: in takes a list in parentheses, as in.(1,2)",
                        RT_NAME_SHOWN, fl->col->name);
    }
    for (size_t i = 0; (fl->op == RT_LIKE || fl->op == RT_ILIKE) && i < fl->len; i++) {
        fl->value[i] = fl->value[i] == '*' ? '%' : fl->value[i];
    }
    return 0;
}

/* Adds the filter `key=[not.]op.value` on column key. */
static int filter_parse(struct rt_ctx *x, struct rt_query *q, const char *key, char *value)
{
    const struct heliosdb_column_info *col = column_find(x->t, key);
    if (col == NULL) {
        return fail_bad(&x->fail,
                        "\"%.*s\" is neither a column of %.*s nor select, order, limit or offset",
                        RT_NAME_SHOWN, key, RT_NAME_SHOWN, x->t->name);
    }
    if (q->nfilters == RT_FILTERS_MAX) {
        return fail_bad(&x->fail, "more than %u filters in one query", RT_FILTERS_MAX);
    }
    struct rt_filter *fl = &q->filters[q->nfilters];
    *fl = (struct rt_filter){.col = col, .negate = strncmp(value, "not.", 4) == 0};
    value += fl->negate ? 4 : 0;
    char *dot = strchr(value, '.');
    int op = dot != NULL ? op_find(value, (size_t)(dot - value)) : -1;
    if (op < 0) {
        return fail_bad(&x->fail,
                        "filter on %.*s: unknown operator in \"%.*s\" (use eq, neq, gt, gte, lt, "
                        "lte, like, ilike, is or in, as eq.5; not. before one negates it)",
                        RT_NAME_SHOWN, key, RT_NAME_SHOWN, value);
    }
    fl->op = (enum rt_op)op;
    fl->value = dot + 1;
    fl->len = strlen(fl->value);
    q->nfilters++;
    return operand_check(x, fl);
}

/* One `name=value` item of the query (raw; decoded here). */
static int query_item(struct rt_ctx *x, struct rt_query *q, char *item)
{
    char *eq = strchr(item, '=');
    if (eq == NULL) {
        return fail_bad(&x->fail, "query item \"%.*s\" has no '='", RT_NAME_SHOWN, item);
    }
    *eq = '\0';
    char *value = eq + 1;
    if (!percent_decode(item) || !percent_decode(value)) {
        return fail_bad(&x->fail, "the query holds a bad percent-escape (or %%00)");
    }
    if (strcmp(item, "select") == 0) {
        return reserved_set(x, &q->select, item, value);
    } else if (strcmp(item, "order") == 0) {
        return reserved_set(x, &q->order, item, value);
    } else if (strcmp(item, "limit") == 0) {
        int rc = count_set(x, &q->has_limit, &q->limit, item, value);
        if (rc == 0 && q->limit > REST_ROWS_MAX) {
            rc = fail_bad(&x->fail, "limit must be at most %u", REST_ROWS_MAX);
        }
        return rc;
    } else if (strcmp(item, "offset") == 0) {
        return count_set(x, &q->has_offset, &q->offset, item, value);
    }
    return filter_parse(x, q, item, value);
}

/* Parses x's query into q (q->copy to free with query_free). */
static int query_parse(struct rt_ctx *x, struct rt_query *q)
{
    *q = (struct rt_query){0};
    const char *raw = x->r->query;
    if (raw == NULL || raw[0] == '\0') {
        return 0;
    }
    if ((q->copy = strdup(raw)) == NULL) {
        return fail_nomem(&x->fail);
    }
    uint32_t items = 0;
    for (char *item = q->copy, *next; item != NULL; item = next) {
        next = strchr(item, '&');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (item[0] == '\0') {
            continue; /* "a=1&&b=2" */
        }
        if (++items > RT_QUERY_ITEMS_MAX) {
            return fail_bad(&x->fail, "more than %u items in the query", RT_QUERY_ITEMS_MAX);
        }
        int rc = query_item(x, q, item);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static void query_free(struct rt_query *q)
{
    free(q->copy);
    q->copy = NULL;
}

/*
 * Appends "?, ?, ..." for the list "(a,b,"c,d")" (v[0..len), parentheses checked), one param
 * per item, unescaping in place: an item in double quotes may hold ',' and ')', and inside
 * quotes '\' takes the next character as is.
 */
static int in_list_write(struct rt_ctx *x, struct rt_sql *s, char *v, size_t len)
{
    char *p = v + 1, *end = v + len - 1;
    if (p == end) {
        return 0; /* in.() */
    }
    for (uint32_t n = 0;; n++) { /* each item moves p on by at least its ',' */
        char *item = p, *w = p;
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++, w++) {
                p += *p == '\\' && p + 1 < end;
                *w = *p;
            }
            if (p == end || (p + 1 < end && p[1] != ',')) {
                return fail_bad(&x->fail, "in.(...): a quoted value must end with '\"' before "
                                          "',' or ')'");
            }
            p++;
        } else {
            p += strcspn(p, ",");
            p = p < end ? p : end; /* the list's ')' */
            w = p;
        }
        sql_add(s, n == 0 ? "" : ", ");
        sql_text_param(s, item, (size_t)(w - item));
        if (p == end) {
            return 0;
        }
        p++; /* past the ',' */
    }
}

/* Appends the filter's condition. */
static int filter_write(struct rt_ctx *x, struct rt_sql *s, struct rt_filter *fl)
{
    int rc = 0;
    sql_add(s, fl->negate ? "NOT (" : "(");
    if (fl->op == RT_ILIKE) {
        sql_add(s, "lower(");
        sql_ident(s, fl->col->name);
        sql_add(s, ") LIKE lower(");
        sql_text_param(s, fl->value, fl->len);
        sql_add(s, ")");
    } else if (fl->op == RT_IS) {
        sql_ident(s, fl->col->name);
        sql_add(s, fl->value[0] == 'n' ? " IS NULL" : fl->value[0] == 't' ? " IS 1" : " IS 0");
    } else if (fl->op == RT_IN) {
        sql_ident(s, fl->col->name);
        sql_add(s, " IN (");
        rc = in_list_write(x, s, fl->value, fl->len);
        sql_add(s, ")");
    } else {
        sql_ident(s, fl->col->name);
        sql_add(s, rt_ops[fl->op].sql);
        sql_text_param(s, fl->value, fl->len);
    }
    sql_add(s, ")");
    return rc;
}

static int filters_write(struct rt_ctx *x, struct rt_sql *s, struct rt_query *q)
{
    for (uint32_t i = 0; i < q->nfilters; i++) {
        sql_add(s, i == 0 ? " WHERE " : " AND ");
        int rc = filter_write(x, s, &q->filters[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Appends the select list ("*" when list is NULL): '*' or column names, comma-separated. */
static int select_write(struct rt_ctx *x, struct rt_sql *s, char *list)
{
    if (list == NULL) {
        sql_add(s, "*");
        return 0;
    }
    if (list[0] == '\0') {
        return fail_bad(&x->fail, "select is empty (name columns, or *)");
    }
    for (char *item = list, *next; item != NULL; item = next) {
        next = strchr(item, ',');
        if (next != NULL) {
            *next++ = '\0';
        }
        sql_add(s, item == list ? "" : ", ");
        const struct heliosdb_column_info *col =
            strcmp(item, "*") == 0 ? NULL : column_find(x->t, item);
        if (col == NULL && strcmp(item, "*") != 0) {
            return column_missing(x, item);
        }
        if (col != NULL) {
            sql_ident(s, col->name);
        } else {
            sql_add(s, "*");
        }
    }
    return 0;
}

/* Cuts suffix off the end of s (keeping at least one byte); true when it was there. */
static bool suffix_cut(char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (n <= k || strcmp(s + n - k, suffix) != 0) {
        return false;
    }
    s[n - k] = '\0';
    return true;
}

/* Appends one order term `col[.asc|.desc][.nullsfirst|.nullslast]`. */
static int order_term_write(struct rt_ctx *x, struct rt_sql *s, char *item)
{
    const struct heliosdb_column_info *col = column_find(x->t, item);
    bool first = false, last = false, desc = false;
    if (col == NULL) { /* a column named "a.desc" is taken whole above */
        first = suffix_cut(item, ".nullsfirst");
        last = !first && suffix_cut(item, ".nullslast");
        desc = suffix_cut(item, ".desc");
        if (!desc) {
            suffix_cut(item, ".asc");
        }
        col = column_find(x->t, item);
    }
    if (col == NULL) {
        return column_missing(x, item);
    }
    if (first || last) {
        sql_ident(s, col->name);
        sql_add(s, first ? " IS NULL DESC, " : " IS NULL ASC, ");
    }
    sql_ident(s, col->name);
    sql_add(s, desc ? " DESC" : " ASC");
    return 0;
}

static int order_write(struct rt_ctx *x, struct rt_sql *s, char *list)
{
    if (list == NULL) {
        return 0;
    }
    if (list[0] == '\0') {
        return fail_bad(&x->fail, "order is empty (as order=id.desc)");
    }
    sql_add(s, " ORDER BY ");
    for (char *item = list, *next; item != NULL; item = next) {
        next = strchr(item, ',');
        if (next != NULL) {
            *next++ = '\0';
        }
        sql_add(s, item == list ? "" : ", ");
        int rc = order_term_write(x, s, item);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- GET ---- */

/* Adds "Content-Range: start-end/STAR" for n rows from q's offset; for none, "STAR/0" when
 * nothing matched and "STAR/STAR" when offset or limit=0 hid how many did. */
static void content_range_add(struct rt_ctx *x, const struct rt_query *q, size_t n)
{
    uint64_t offset = q->offset;
    if (n == 0) {
        bool none = offset == 0 && (!q->has_limit || q->limit > 0);
        extra_add(x, "Content-Range: */%s\r\n", none ? "0" : "*");
    } else {
        extra_add(x, "Content-Range: %" PRIu64 "-%" PRIu64 "/*\r\n", offset,
                  offset + (uint64_t)n - 1);
    }
}

static int rows_get_write(struct rt_ctx *x, struct rt_query *q, struct rt_sql *s)
{
    sql_add(s, "SELECT ");
    int rc = select_write(x, s, q->select);
    sql_add(s, " FROM ");
    sql_ident(s, x->t->name);
    rc = rc == 0 ? filters_write(x, s, q) : rc;
    rc = rc == 0 ? order_write(x, s, q->order) : rc;
    sql_add(s, " LIMIT ");
    sql_int_param(s, (int64_t)(q->has_limit ? q->limit : REST_ROWS_MAX + 1u));
    if (q->has_offset) {
        sql_add(s, " OFFSET ");
        sql_int_param(s, (int64_t)q->offset);
    }
    return rc;
}

/* GET /v1/{table}: the rows the query selects, as an array of objects. */
static int rows_get(struct rt_ctx *x, struct sqljson_answer *out)
{
    struct rt_query q;
    struct rt_sql s = {0};
    json_t *rows = NULL;
    bool more = false;
    int rc = query_parse(x, &q);
    rc = rc == 0 ? rows_get_write(x, &q, &s) : rc;
    if (rc == 0 && (rows = json_array()) == NULL) {
        rc = fail_nomem(&x->fail);
    }
    uint32_t rows_max = q.has_limit ? (uint32_t)q.limit : REST_ROWS_MAX;
    rc = rc == 0 ? sql_run(x, &s, rows, rows_max, &more) : rc;
    size_t n = json_array_size(rows);
    rc = rc == 0 ? answer_json(x, out, 200, json_incref(rows)) : rc;
    if (rc == 0) {
        content_range_add(x, &q, n); /* with more, "0-9999/STAR": the rest was left out */
    }
    json_decref(rows);
    sql_free(&s);
    query_free(&q);
    return rc;
}

/* GET /v1/{table}/{key}: one row as an object, 404 if none. */
static int row_get(struct rt_ctx *x, struct sqljson_answer *out)
{
    struct rt_query q;
    struct rt_sql s = {0};
    json_t *rows = NULL;
    int rc = query_parse(x, &q);
    if (rc == 0 && (q.nfilters > 0 || q.order != NULL || q.has_limit || q.has_offset)) {
        rc = fail_bad(&x->fail, "GET of one row takes only select in its query");
    }
    if (rc == 0) {
        sql_add(&s, "SELECT ");
        rc = select_write(x, &s, q.select);
        sql_add(&s, " FROM ");
        sql_ident(&s, x->t->name);
        key_where(x, &s);
    }
    if (rc == 0 && (rows = json_array()) == NULL) {
        rc = fail_nomem(&x->fail);
    }
    rc = rc == 0 ? sql_run(x, &s, rows, 1, NULL) : rc;
    rc = rc == 0 ? answer_row(x, out, json_incref(rows)) : rc;
    json_decref(rows);
    sql_free(&s);
    query_free(&q);
    return rc;
}

/* ---- bodies ---- */

static int body_parse(struct rt_ctx *x, json_t **root)
{
    *root = NULL;
    if (x->r->body == NULL || x->r->body_len == 0) {
        return fail_bad(&x->fail, "the body is empty (expected JSON)");
    }
    json_error_t je;
    *root = json_loadb((const char *)x->r->body, x->r->body_len,
                       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (*root != NULL) {
        return 0;
    }
    if (json_error_code(&je) == json_error_out_of_memory) {
        return fail_nomem(&x->fail);
    }
    return fail_bad(&x->fail, "malformed JSON at line %d, column %d: %s", je.line, je.column,
                    je.text);
}

/* Checks obj is an object whose keys are columns of the table and whose values have forms a
 * column takes; index names the object in an array (SIZE_MAX: the body itself). */
static int object_check(struct rt_ctx *x, json_t *obj, size_t index)
{
    int rc = 0;
    const char *key;
    json_t *v;
    if (!json_is_object(obj)) {
        rc = fail_bad(&x->fail, "expected an object, got %s", jsonval_type_name(obj));
    }
    json_object_foreach(obj, key, v)
    {
        if (rc == 0 && column_find(x->t, key) == NULL) {
            rc = column_missing(x, key);
        } else if (rc == 0 && !value_check(v)) {
            rc = fail_bad(&x->fail,
                          "column %.*s: expected a number, string, boolean, null or "
                          "{\"$base64\": \"...\"} (standard padded base64), got %s",
                          RT_NAME_SHOWN, key, jsonval_type_name(v));
        }
    }
    if (rc != 0 && index != SIZE_MAX) {
        fail_prefix(&x->fail, index);
    }
    return rc;
}

/* Parses the body as one object (checked); *obj to json_decref. */
static int body_object(struct rt_ctx *x, json_t **obj)
{
    int rc = body_parse(x, obj);
    return rc == 0 ? object_check(x, *obj, SIZE_MAX) : rc;
}

/* Appends "INSERT INTO t (cols) VALUES (?...)" for obj (checked). */
static void insert_write(struct rt_ctx *x, struct rt_sql *s, json_t *obj)
{
    const char *key;
    json_t *v;
    bool first = true;
    sql_add(s, "INSERT INTO ");
    sql_ident(s, x->t->name);
    if (json_object_size(obj) == 0) {
        sql_add(s, " DEFAULT VALUES");
        return;
    }
    sql_add(s, " (");
    json_object_foreach(obj, key, v)
    {
        sql_add(s, first ? "" : ", ");
        sql_ident(s, key);
        first = false;
    }
    sql_add(s, ") VALUES (");
    first = true;
    json_object_foreach(obj, key, v)
    {
        sql_add(s, first ? "" : ", ");
        sql_json_param(s, v);
        first = false;
    }
    sql_add(s, ")");
}

/* ---- POST ---- */

/* Checks the body is an object or an array of at most RT_OBJECTS_MAX objects. */
static int post_check(struct rt_ctx *x, json_t *root)
{
    if (json_is_object(root)) {
        return object_check(x, root, SIZE_MAX);
    }
    if (!json_is_array(root)) {
        return fail_bad(&x->fail, "POST takes an object or an array of objects, got %s",
                        jsonval_type_name(root));
    }
    if (json_array_size(root) > RT_OBJECTS_MAX) {
        return fail_status(&x->fail, 413, "RESOURCE_EXHAUSTED", "more than %u objects in one POST",
                           RT_OBJECTS_MAX);
    }
    size_t i;
    json_t *v;
    json_array_foreach(root, i, v)
    {
        int rc = object_check(x, v, i);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Inserts obj; with rows non-NULL, appends what the insert returns (every column with
 * return=representation, else the key's). */
static int insert_one(struct rt_ctx *x, json_t *obj, json_t *rows)
{
    struct rt_sql s = {0};
    insert_write(x, &s, obj);
    if (rows != NULL && x->representation) {
        sql_add(&s, " RETURNING *");
    } else if (rows != NULL) {
        sql_add(&s, " RETURNING ");
        key_list(x, &s, true);
    }
    int rc = sql_run(x, &s, rows, RT_OBJECTS_MAX, NULL);
    sql_free(&s);
    return rc;
}

/* Inserts the body's objects: one statement, or an array in BEGIN ... COMMIT. */
static int inserts_run(struct rt_ctx *x, json_t *root, json_t *rows)
{
    bool single = json_is_object(root);
    size_t n = single ? 1 : json_array_size(root);
    int rc = n > 1 ? txn_exec(x, "BEGIN") : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = insert_one(x, single ? root : json_array_get(root, i), rows);
        if (rc != 0 && !single) {
            fail_prefix(&x->fail, i);
        }
    }
    rc = rc == 0 && n > 1 ? txn_exec(x, "COMMIT") : rc;
    rollback_open(x->c);
    return rc;
}

/* POST /v1/{table}: 201, with the rows written when asked for. */
static int rows_post(struct rt_ctx *x, struct sqljson_answer *out)
{
    json_t *root = NULL, *rows = NULL;
    int rc = query_none(x);
    rc = rc == 0 ? body_parse(x, &root) : rc;
    rc = rc == 0 ? post_check(x, root) : rc;
    bool keyed = rc == 0 && json_is_object(root) && x->npk > 0;
    if (rc == 0 && (x->representation || keyed) && (rows = json_array()) == NULL) {
        rc = fail_nomem(&x->fail);
    }
    rc = rc == 0 ? inserts_run(x, root, rows) : rc;
    if (rc == 0) {
        rc = x->representation ? answer_json(x, out, 201, json_incref(rows))
                               : answer_empty(x, out, 201);
    }
    if (rc == 0 && keyed) {
        location_add(x, json_array_get(rows, 0));
    }
    json_decref(rows);
    json_decref(root);
    return rc;
}

/* ---- PATCH, PUT, DELETE ---- */

/* Runs s (an UPDATE, upsert or DELETE of the key's row, with RETURNING * when x->representation)
 * and answers: the row (200), 204, or 404 when found_needed and no row was touched. */
static int row_write_answer(struct rt_ctx *x, struct rt_sql *s, bool found_needed,
                            struct sqljson_answer *out)
{
    json_t *rows = x->representation ? json_array() : NULL;
    if (x->representation && rows == NULL) {
        return fail_nomem(&x->fail);
    }
    int rc = sql_run(x, s, rows, REST_ROWS_MAX, NULL);
    bool found = rows != NULL ? json_array_size(rows) > 0 : heliosdb_changes(x->c) > 0;
    if (rc == 0 && rows != NULL) {
        return answer_row(x, out, rows);
    }
    json_decref(rows);
    if (rc == 0 && found_needed && !found) {
        return answer_row(x, out, NULL); /* the 404 */
    }
    return rc == 0 ? answer_empty(x, out, 204) : rc;
}

/* Appends "UPDATE t SET c = ?, ... WHERE key" for obj (checked). */
static void update_write(struct rt_ctx *x, struct rt_sql *s, json_t *obj)
{
    const char *key;
    json_t *v;
    bool first = true;
    sql_add(s, "UPDATE ");
    sql_ident(s, x->t->name);
    sql_add(s, " SET ");
    json_object_foreach(obj, key, v)
    {
        sql_add(s, first ? "" : ", ");
        sql_ident(s, key);
        sql_add(s, " = ");
        sql_json_param(s, v);
        first = false;
    }
    key_where(x, s);
}

/* PATCH /v1/{table}/{key}: the object's columns set. */
static int row_patch(struct rt_ctx *x, struct sqljson_answer *out)
{
    struct rt_sql s = {0};
    json_t *obj = NULL;
    int rc = query_none(x);
    rc = rc == 0 ? body_object(x, &obj) : rc;
    if (rc == 0 && json_object_size(obj) == 0) {
        rc = fail_bad(&x->fail, "PATCH needs an object with at least one column");
    }
    if (rc == 0) {
        update_write(x, &s, obj);
        sql_add(&s, x->representation ? " RETURNING *" : "");
        rc = row_write_answer(x, &s, true, out);
    }
    sql_free(&s);
    json_decref(obj);
    return rc;
}

/* True when the body's key value v equals the path's text[0..len) (numbers by value). */
static bool key_equal(json_t *v, const char *text, size_t len)
{
    char *end = NULL;
    errno = 0;
    if (json_is_string(v)) {
        return json_string_length(v) == len && memcmp(json_string_value(v), text, len) == 0;
    } else if (json_is_integer(v) || json_is_boolean(v)) {
        long long n = strtoll(text, &end, 10);
        int64_t want = json_is_integer(v) ? (int64_t)json_integer_value(v) : json_is_true(v);
        return len > 0 && end == text + len && errno == 0 && (int64_t)n == want;
    } else if (json_is_real(v)) {
        double d = strtod(text, &end);
        return len > 0 && end == text + len && d == json_real_value(v);
    }
    return false;
}

/* Checks the body holds every key column, each equal to the path's value. */
static int put_key_check(struct rt_ctx *x, json_t *obj)
{
    for (uint32_t i = 0; i < x->npk; i++) {
        json_t *v = json_object_get(obj, x->pk[i]->name);
        if (v == NULL) {
            return fail_bad(&x->fail, "PUT needs every key column in the body: %.*s is missing",
                            RT_NAME_SHOWN, x->pk[i]->name);
        }
        if (!key_equal(v, x->key[i], x->key_len[i])) {
            return fail_bad(&x->fail, "the body's %.*s differs from the path's key (%.*s)",
                            RT_NAME_SHOWN, x->pk[i]->name, RT_NAME_SHOWN, x->key[i]);
        }
    }
    return 0;
}

/* Appends " ON CONFLICT (key) DO UPDATE SET c = excluded.c" for obj's columns outside the key
 * (for the key's own columns when it has only those, so the row is returned unchanged). */
static void upsert_write(struct rt_ctx *x, struct rt_sql *s, json_t *obj)
{
    const char *key;
    json_t *v;
    bool others = json_object_size(obj) > x->npk, first = true;
    sql_add(s, " ON CONFLICT (");
    key_list(x, s, false);
    sql_add(s, ") DO UPDATE SET ");
    json_object_foreach(obj, key, v)
    {
        if (others == (column_find(x->t, key)->pk_position > 0)) {
            continue;
        }
        sql_add(s, first ? "" : ", ");
        sql_ident(s, key);
        sql_add(s, " = excluded.");
        sql_ident(s, key);
        first = false;
    }
}

/* PUT /v1/{table}/{key}: the row inserted, or its given columns set (an upsert). */
static int row_put(struct rt_ctx *x, struct sqljson_answer *out)
{
    struct rt_sql s = {0};
    json_t *obj = NULL;
    int rc = query_none(x);
    rc = rc == 0 ? body_object(x, &obj) : rc;
    rc = rc == 0 ? put_key_check(x, obj) : rc;
    if (rc == 0) {
        insert_write(x, &s, obj);
        upsert_write(x, &s, obj);
        sql_add(&s, x->representation ? " RETURNING *" : "");
        rc = row_write_answer(x, &s, false, out);
    }
    sql_free(&s);
    json_decref(obj);
    return rc;
}

/* DELETE /v1/{table}/{key}: 204, or 404 when there was no such row. */
static int row_delete(struct rt_ctx *x, struct sqljson_answer *out)
{
    struct rt_sql s = {0};
    int rc = query_none(x);
    sql_add(&s, "DELETE FROM ");
    sql_ident(&s, x->t->name);
    key_where(x, &s);
    sql_add(&s, x->representation ? " RETURNING *" : "");
    rc = rc == 0 ? row_write_answer(x, &s, true, out) : rc;
    sql_free(&s);
    return rc;
}

/* DELETE /v1/{table}?filters: the rows the filters select (at least one filter); 204. */
static int rows_delete(struct rt_ctx *x, struct sqljson_answer *out)
{
    struct rt_query q;
    struct rt_sql s = {0};
    int rc = query_parse(x, &q);
    if (rc == 0 && (q.select != NULL || q.order != NULL || q.has_limit || q.has_offset)) {
        rc = fail_bad(&x->fail, "DELETE takes only filters in its query");
    }
    if (rc == 0 && q.nfilters == 0) {
        rc = fail_bad(&x->fail,
                      "refusing to delete every row of %.*s: give at least one filter "
                      "(as id=gt.0)",
                      RT_NAME_SHOWN, x->t->name);
    }
    sql_add(&s, "DELETE FROM ");
    sql_ident(&s, x->t->name);
    rc = rc == 0 ? filters_write(x, &s, &q) : rc;
    rc = rc == 0 ? sql_run(x, &s, NULL, 0, NULL) : rc;
    rc = rc == 0 ? answer_empty(x, out, 204) : rc;
    sql_free(&s);
    query_free(&q);
    return rc;
}

/* ---- the OpenAPI document ---- */

/* obj[key] = v, taking v (also on failure); false when obj or v is NULL or out of memory. */
static bool put(json_t *obj, const char *key, json_t *v)
{
    return json_object_set_new(obj, key, v) == 0;
}

/* v when ok, else NULL (v released). */
static json_t *kept(json_t *v, bool ok)
{
    if (!ok) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* {"$ref": "#/components/<kind>/<name>"}, name as a JSON pointer token, percent-encoded. */
static json_t *ref_of(const char *kind, const char *name)
{
    size_t cap = strlen(kind) + strlen(name) * 6 + 32, n = 0;
    char *text = malloc(cap), token[3] = {0};
    bool ok = text != NULL && url_put(text, cap, &n, "#/components/", false) &&
              url_put(text, cap, &n, kind, false) && url_put(text, cap, &n, "/", false);
    for (const char *p = name; ok && *p != '\0'; p++) {
        token[0] = *p == '~' || *p == '/' ? '~' : *p;
        token[1] = *p == '~' ? '0' : *p == '/' ? '1' : '\0';
        ok = url_put(text, cap, &n, token, true);
    }
    json_t *ref = ok ? json_pack("{s:s}", "$ref", text) : NULL;
    free(text);
    return ref;
}

/* The JSON Schema type name of a column, or NULL for a column that takes any value. */
static const char *column_type(const struct heliosdb_column_info *col)
{
    if (col->decimal) {
        return "string";
    }
    switch (col->affinity) {
    case HDB_AFF_INTEGER:
        return "integer";
    case HDB_AFF_REAL:
    case HDB_AFF_NUMERIC:
        return "number";
    case HDB_AFF_TEXT:
        return "string";
    default:
        return col->type[0] == '\0' ? NULL : "object";
    }
}

/* The JSON Schema of a column's values (with null unless NOT NULL or `nullable` is false). */
static json_t *column_schema(const struct heliosdb_column_info *col, bool nullable)
{
    json_t *s = json_object();
    const char *type = column_type(col);
    bool ok = s != NULL;
    if (type != NULL) {
        ok = put(s, "type", nullable ? json_pack("[s,s]", type, "null") : json_string(type)) && ok;
    }
    if (col->decimal) {
        ok = put(s, "format", json_string("decimal")) && ok;
        ok = put(s, "pattern", json_string("^-?[0-9]+(\\.[0-9]+)?$")) && ok;
    } else if (type != NULL && strcmp(type, "object") == 0) {
        ok = put(s, "properties",
                 json_pack("{s:{s:s,s:s}}", "$base64", "type", "string", "contentEncoding",
                           "base64")) &&
             ok;
        ok = put(s, "required", json_pack("[s]", "$base64")) && ok;
    }
    if (col->type[0] != '\0') {
        ok = put(s, "description", json_pack("s+", "declared ", col->type)) && ok;
    }
    return kept(s, ok);
}

/* components.schemas of a table: its columns, required = NOT NULL without a default. */
static json_t *table_schema(const struct heliosdb_table_info *t)
{
    json_t *s = json_object(), *props = json_object(), *required = json_array();
    bool ok = s != NULL && required != NULL;
    for (uint32_t k = 0; k < t->ncols; k++) {
        const struct heliosdb_column_info *col = &t->cols[k];
        if (!utf8_valid(col->name)) {
            continue;
        }
        bool rowid_alias = t->rowid && col->pk_position > 0; /* never NULL, never required */
        ok = put(props, col->name, column_schema(col, !col->not_null && !rowid_alias)) && ok;
        if (col->not_null && !col->has_default && !rowid_alias) {
            ok = json_array_append_new(required, json_string(col->name)) == 0 && ok;
        }
    }
    ok = put(s, "type", json_string("object")) && ok;
    ok = put(s, "properties", props) && ok;
    ok = put(s, "required", required) && ok;
    return kept(s, ok);
}

/* {"application/json": {"schema": schema}} (taking schema). */
static json_t *content_of(json_t *schema)
{
    json_t *content = json_object(), *media = json_object();
    bool ok = put(media, "schema", schema);
    ok = put(content, "application/json", media) && ok;
    return kept(content, ok);
}

/* An answer: {"description", "content"} (no content when schema is NULL). */
static json_t *response_of(const char *description, json_t *schema)
{
    json_t *r = json_object();
    bool ok = put(r, "description", json_string(description));
    if (schema != NULL) {
        ok = put(r, "content", content_of(schema)) && ok;
    }
    return kept(r, ok);
}

/* An operation: summary, parameters (may be NULL), request body schema (may be NULL), and its
 * success answer (schema NULL: none) beside the error answer. */
static json_t *operation_of(const char *summary, json_t *params, json_t *body, const char *status,
                            const char *description, json_t *schema)
{
    json_t *op = json_object(), *responses = json_object();
    bool ok = put(op, "summary", json_string(summary));
    if (params != NULL) {
        ok = put(op, "parameters", params) && ok;
    }
    if (body != NULL) {
        json_t *request = json_pack("{s:b}", "required", 1);
        ok = put(request, "content", content_of(body)) && ok;
        ok = put(op, "requestBody", request) && ok;
    }
    ok = put(responses, status, response_of(description, schema)) && ok;
    ok = put(responses, "default",
             response_of("an error: {\"error\": {\"code\", \"message\", \"status\"}}",
                         ref_of("schemas", "_error"))) &&
         ok;
    ok = put(op, "responses", responses) && ok;
    return kept(op, ok);
}

static json_t *array_of(json_t *items)
{
    json_t *a = json_pack("{s:s}", "type", "array");
    return kept(a, put(a, "items", items));
}

/* The query parameters of a collection: a filter per column, then (for GET) the reserved. */
static json_t *collection_params(const struct heliosdb_table_info *t, bool get)
{
    static const char *const reserved[] = {"select", "order", "limit", "offset"};
    json_t *params = json_array();
    bool ok = params != NULL;
    for (uint32_t k = 0; k < t->ncols; k++) {
        const char *name = t->cols[k].name;
        bool shadowed = strcmp(name, "select") == 0 || strcmp(name, "order") == 0 ||
                        strcmp(name, "limit") == 0 || strcmp(name, "offset") == 0;
        if (shadowed || !utf8_valid(name)) {
            continue;
        }
        json_t *p = json_pack("{s:s,s:s,s:{s:s},s:s}", "name", name, "in", "query", "schema",
                              "type", "string", "description",
                              "a filter: [not.]eq|neq|gt|gte|lt|lte|like|ilike.<value> "
                              "('*' is the wildcard of like and ilike), is.null|true|false, "
                              "in.(a,b,\"c,d\")");
        ok = json_array_append_new(params, p) == 0 && ok;
    }
    for (size_t i = 0; get && i < sizeof reserved / sizeof reserved[0]; i++) {
        ok = json_array_append_new(params, ref_of("parameters", reserved[i])) == 0 && ok;
    }
    ok = json_array_append_new(params, ref_of("parameters", "prefer")) == 0 && ok;
    return kept(params, ok);
}

/* "/v1/{table}": GET, POST, DELETE. */
static json_t *collection_path(const struct heliosdb_table_info *t)
{
    json_t *item = json_object();
    json_t *body = json_pack("{s:[o,o]}", "oneOf", ref_of("schemas", t->name),
                             array_of(ref_of("schemas", t->name)));
    bool ok = put(item, "get",
                  operation_of("rows, filtered, ordered and paged", collection_params(t, true),
                               NULL, "200", "the rows (Content-Range says which)",
                               array_of(ref_of("schemas", t->name))));
    ok = put(item, "post",
             operation_of("insert one row or an array of rows, in one transaction",
                          json_pack("[o]", ref_of("parameters", "prefer")), body, "201",
                          "inserted (the rows with Prefer: return=representation)",
                          array_of(ref_of("schemas", t->name)))) &&
         ok;
    ok = put(item, "delete",
             operation_of("delete the rows the filters select (at least one filter)",
                          collection_params(t, false), NULL, "204", "deleted", NULL)) &&
         ok;
    return kept(item, ok);
}

/* The path parameters of the key, and the path "/v1/{table}/{k1},{k2}" written to *path. */
static json_t *key_params(const struct heliosdb_table_info *t, json_t **path)
{
    json_t *params = json_array();
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    bool ok = params != NULL && f != NULL && fprintf(f, "/v1/%s/", t->name) > 0;
    for (int p = 1; ok && p <= (int)RT_KEY_COLUMNS_MAX; p++) {
        for (uint32_t k = 0; k < t->ncols; k++) {
            const struct heliosdb_column_info *col = &t->cols[k];
            if (col->pk_position != p) {
                continue;
            }
            ok = fprintf(f, "%s{%s}", p == 1 ? "" : ",", col->name) > 0 && ok;
            json_t *param = json_pack("{s:s,s:s,s:b,s:o}", "name", col->name, "in", "path",
                                      "required", 1, "schema", column_schema(col, false));
            ok = json_array_append_new(params, param) == 0 && ok;
        }
    }
    ok = f != NULL && fclose(f) == 0 && ok;
    *path = ok ? json_string(text) : NULL;
    free(text);
    return kept(params, ok && *path != NULL);
}

/* "/v1/{table}/{key}": GET, PATCH, PUT, DELETE; *path gets the path's name. */
static json_t *item_path(const struct heliosdb_table_info *t, json_t **path)
{
    json_t *item = json_object();
    bool ok = put(item, "parameters", key_params(t, path));
    ok = put(item, "get",
             operation_of("one row by its key", NULL, NULL, "200", "the row",
                          ref_of("schemas", t->name))) &&
         ok;
    ok = put(item, "patch",
             operation_of("set the given columns of the row", NULL, ref_of("schemas", t->name),
                          "200", "the row (Prefer: return=representation; else 204)",
                          ref_of("schemas", t->name))) &&
         ok;
    ok = put(item, "put",
             operation_of("insert the row, or set its given columns (an upsert; the body "
                          "holds the key)",
                          NULL, ref_of("schemas", t->name), "200",
                          "the row (Prefer: return=representation; else 204)",
                          ref_of("schemas", t->name))) &&
         ok;
    ok = put(item, "delete", operation_of("delete the row", NULL, NULL, "204", "deleted", NULL)) &&
         ok;
    return kept(item, ok);
}

/* Adds the table's paths and schema; tables that cannot be routed or named are left out. */
static bool table_document(const struct heliosdb_table_info *t, json_t *paths, json_t *schemas)
{
    if (t->name[0] == '_' || strchr(t->name, '/') != NULL || !utf8_valid(t->name)) {
        return true;
    }
    char *name = NULL;
    if (asprintf(&name, "/v1/%s", t->name) < 0) {
        return false;
    }
    bool ok = put(paths, name, collection_path(t));
    free(name);
    bool keyed = false;
    for (uint32_t k = 0; k < t->ncols; k++) {
        keyed = keyed || (t->cols[k].pk_position > 0 && utf8_valid(t->cols[k].name));
    }
    json_t *path = NULL, *item = keyed ? item_path(t, &path) : NULL;
    if (keyed) {
        ok = item != NULL && path != NULL && put(paths, json_string_value(path), item) && ok;
        json_decref(path);
    }
    return put(schemas, t->name, table_schema(t)) && ok;
}

/* The fixed routes of the server (docs/server.md). */
static bool fixed_paths(json_t *paths)
{
    json_t *status =
        json_pack("{s:s,s:{s:{s:s}}}", "type", "object", "properties", "status", "type", "string");
    json_t *sql = json_pack("{s:s,s:[s],s:{s:{s:s},s:{s:s}}}", "type", "object", "required", "sql",
                            "properties", "sql", "type", "string", "params", "type", "array");
    json_t *result = json_pack("{s:s}", "type", "object");
    json_t *batch = json_pack("{s:s}", "type", "object");
    bool ok =
        put(paths, "/health",
            json_pack("{s:o}", "get",
                      operation_of("liveness", NULL, NULL, "200", "serving", json_incref(status))));
    ok = put(paths, "/ready",
             json_pack("{s:o}", "get",
                       operation_of("readiness", NULL, NULL, "200", "ready", status))) &&
         ok;
    ok = put(paths, "/v1/_sql",
             json_pack("{s:o}", "post",
                       operation_of("one SQL statement with params", NULL, json_incref(sql), "200",
                                    "columns, rows, rows_affected, last_insert_id", result))) &&
         ok;
    ok = put(paths, "/v1/_batch",
             json_pack("{s:o}", "post",
                       operation_of("statements in one transaction", NULL, array_of(sql), "200",
                                    "results", batch))) &&
         ok;
    return ok;
}

/* components.parameters: select, order, limit, offset and the Prefer header. */
static json_t *common_params(void)
{
    return json_pack(
        "{s:{s:s,s:s,s:s,s:{s:s}},s:{s:s,s:s,s:s,s:{s:s}},s:{s:s,s:s,s:s,s:{s:s,s:i,s:i}},"
        "s:{s:s,s:s,s:s,s:{s:s,s:i}},s:{s:s,s:s,s:s,s:{s:s}}}",
        "select", "name", "select", "in", "query", "description", "columns: a,b (or *)", "schema",
        "type", "string", "order", "name", "order", "in", "query", "description",
        "col.asc|desc[.nullsfirst|nullslast], comma-separated", "schema", "type", "string", "limit",
        "name", "limit", "in", "query", "description", "at most this many rows", "schema", "type",
        "integer", "minimum", 0, "maximum", (int)REST_ROWS_MAX, "offset", "name", "offset", "in",
        "query", "description", "rows skipped", "schema", "type", "integer", "minimum", 0, "prefer",
        "name", "Prefer", "in", "header", "description",
        "return=representation answers the rows written", "schema", "type", "string");
}

static json_t *openapi_document(const struct rt_ctx *x)
{
    json_t *paths = json_object(), *schemas = json_object();
    bool ok = fixed_paths(paths);
    for (uint32_t i = 0; i < x->ntables; i++) {
        ok = table_document(&x->tables[i], paths, schemas) && ok;
    }
    ok = put(schemas, "_error",
             json_pack("{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s}}}}}", "type", "object",
                       "properties", "error", "type", "object", "properties", "code", "type",
                       "string", "message", "type", "string", "status", "type", "integer")) &&
         ok;
    json_t *doc = json_pack("{s:s,s:{s:s,s:s}}", "openapi", "3.1.0", "info", "title",
                            "HeliosDB-Lite", "version", "1");
    ok = put(doc, "paths", paths) && ok;
    json_t *components = json_object();
    ok = put(components, "schemas", schemas) && ok;
    ok = put(components, "parameters", common_params()) && ok;
    ok = put(doc, "components", components) && ok;
    return kept(doc, ok);
}

/* GET /v1/_openapi.json. */
static int openapi_route(struct rt_ctx *x, struct sqljson_answer *out)
{
    if (x->r->method != HTTP_GET) {
        return method_refuse(x, "GET");
    }
    int rc = tables_load(x);
    if (rc != 0) {
        return rc;
    }
    json_t *doc = openapi_document(x);
    return doc != NULL ? answer_json(x, out, 200, doc) : fail_nomem(&x->fail);
}

/* ---- routing ---- */

static int collection_route(struct rt_ctx *x, struct sqljson_answer *out)
{
    switch (x->r->method) {
    case HTTP_GET:
        return rows_get(x, out);
    case HTTP_POST:
        return rows_post(x, out);
    case HTTP_DELETE:
        return rows_delete(x, out);
    default:
        return method_refuse(x, "GET, POST, DELETE");
    }
}

static int item_route(struct rt_ctx *x, const char *key, struct sqljson_answer *out)
{
    int m = x->r->method;
    if (m != HTTP_GET && m != HTTP_PATCH && m != HTTP_PUT && m != HTTP_DELETE) {
        return method_refuse(x, "GET, PATCH, PUT, DELETE");
    }
    int rc = key_parse(x, key);
    if (rc != 0) {
        return rc;
    }
    return m == HTTP_GET     ? row_get(x, out)
           : m == HTTP_PATCH ? row_patch(x, out)
           : m == HTTP_PUT   ? row_put(x, out)
                             : row_delete(x, out);
}

/* /v1/{table}[/{key}] with rest = "{table}[/{key}]". */
static int table_route(struct rt_ctx *x, const char *rest, struct sqljson_answer *out)
{
    const char *query = x->r->query != NULL ? x->r->query : "";
    if (strlen(x->r->path) + strlen(query) > RT_URL_BYTES_MAX) {
        return fail_status(&x->fail, 414, "RESOURCE_EXHAUSTED",
                           "the path and query are over %u bytes", RT_URL_BYTES_MAX);
    }
    const char *slash = strchr(rest, '/');
    int rc = tables_load(x);
    rc = rc == 0 ? table_find(x, rest, slash != NULL ? (size_t)(slash - rest) : strlen(rest)) : rc;
    if (rc != 0) {
        return rc;
    }
    x->representation = prefer_representation(x->r->prefer);
    if (slash == NULL) {
        return collection_route(x, out);
    }
    if (x->npk == 0) {
        return fail_status(&x->fail, 404, "NOT_FOUND",
                           "table %.*s has no primary key, so no /v1/%.*s/{key} routes (filter "
                           "/v1/%.*s instead)",
                           RT_NAME_SHOWN, x->t->name, RT_NAME_SHOWN, x->t->name, RT_NAME_SHOWN,
                           x->t->name);
    }
    return item_route(x, slash + 1, out);
}

int rest_tables_route(heliosdb_conn *c, const struct rest_request *r, struct sqljson_answer *out,
                      char *extra, size_t extra_cap)
{
    assert(c != NULL);
    assert(r != NULL);
    assert(r->path != NULL);
    assert(out != NULL);
    assert(extra != NULL);
    assert(extra_cap > 0);
    if (strncmp(r->path, "/v1/", 4) != 0) {
        return 1;
    }
    const char *rest = r->path + 4;
    bool openapi = strcmp(rest, "_openapi.json") == 0;
    if (!openapi && (rest[0] == '_' || rest[0] == '\0')) {
        return 1;
    }
    assert(!heliosdb_in_transaction(c));
    *out = (struct sqljson_answer){0};
    extra[0] = '\0';
    struct rt_ctx x = {.c = c, .r = r, .extra = extra, .extra_cap = extra_cap};
    int rc = openapi ? openapi_route(&x, out) : table_route(&x, rest, out);
    if (rc != 0 && sqljson_error(x.fail.http_status, x.fail.code, x.fail.message, out) != 0) {
        *out = (struct sqljson_answer){.http_status = 500};
    }
    rollback_open(c);
    if (!x.borrowed) {
        heliosdb_tables_free(x.tables, x.ntables);
    }
    free(x.key_copy);
    return 0;
}
