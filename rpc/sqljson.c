/*
 * sqljson.c — SQL over JSON (sqljson.h) on the public C API only.
 *
 * A request goes through three steps. The body is parsed (jansson) and
 * checked whole: its keys, the form of every param, for a batch every
 * element. Then the SQL text is planned: every statement is prepared once
 * (parsing only, nothing runs) to find syntax errors and which statement
 * takes the params, so a bad text or a wrong param count runs nothing.
 * Then the statements run in order and the last one's rows become the
 * answer; a batch wraps its requests in BEGIN ... COMMIT.
 *
 * Choices the header leaves open:
 *  - A text of several statements: each runs as its own transaction unless
 *    the text says BEGIN; a failure leaves the earlier ones done (use
 *    /v1/_batch for all or nothing). A text that leaves a transaction open
 *    is rolled back and refused (400); so is a batch element that ends the
 *    batch's transaction (COMMIT or ROLLBACK inside a batch).
 *  - "params" bind to the one statement of the text that takes parameters;
 *    a text in which two statements take parameters is refused (400), as is
 *    a count that differs from the statement's (a missing "params" counts
 *    as none). A text that holds no statement is refused (400).
 *  - Limits, 413 RESOURCE_EXHAUSTED past them: SQLJSON_ROWS_MAX rows and
 *    SJ_ANSWER_BYTES_MAX estimated bytes per answer (a batch's results
 *    together), SQLJSON_PARAMS_MAX params, SQLJSON_STATEMENTS_MAX requests
 *    per batch and statements per text.
 *  - A stored text that is not valid UTF-8 is answered with U+FFFD for each
 *    bad byte (JSON cannot carry it); so is an error message.
 *  - An engine error with a syntax offset gets " (at offset N)", N counted
 *    in bytes from the start of "sql", unless its message names an offset.
 */
#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/sqljson.h"
#include "rpc/sqlrun.h"

#define SJ_ANSWER_BYTES_MAX (64u << 20) /* estimated bytes of one answer's values (413 past) */
#define SJ_VALUE_BYTES      32u         /* a value's cost beside its bytes: the json_t it becomes */

static_assert(SQLJSON_STATEMENTS_MAX < SQLRUN_NONE, "statement indexes fit");
static_assert(SQLJSON_PARAMS_MAX <= INT32_MAX, "param indexes fit an int");

/* One checked request element: {"sql": ..., "params": [...]} (params NULL when absent). */
struct sj_request {
    const char *sql;
    size_t sql_len;
    json_t *params; /* borrowed from the parsed body */
};

/* What an answer holds so far, against SQLJSON_ROWS_MAX and SJ_ANSWER_BYTES_MAX. */
struct sj_budget {
    uint32_t rows;
    size_t bytes;
};

/* ---- UTF-8 and base64 ---- */

/* The length of the well-formed UTF-8 sequence starting s[0..n), or 0 if there is none. */
static size_t utf8_sequence_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80) {
        return 1;
    } else if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2, cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3, cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4, cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0u) != 0x80u) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    return overlong || surrogate || cp > 0x10FFFF ? 0 : len;
}

/* A JSON string of s[0..n), each byte that is not part of well-formed UTF-8 replaced by U+FFFD;
 * NULL out of memory. */
static json_t *json_string_lossy(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence_len(u + i, n - i);
        bad += len == 0;
        i += len == 0 ? 1 : len;
    }
    if (bad == 0) {
        return json_stringn(s, n);
    }
    char *copy = malloc(n + 2 * bad); /* each bad byte becomes three */
    if (copy == NULL) {
        return NULL;
    }
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence_len(u + i, n - i);
        if (len == 0) {
            memcpy(copy + m, "\xEF\xBF\xBD", 3);
            m += 3, i += 1;
        } else {
            memcpy(copy + m, s + i, len);
            m += len, i += len;
        }
    }
    json_t *j = json_stringn_nocheck(copy, m);
    free(copy);
    return j;
}

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Writes base64_encoded_len(n) bytes of standard, padded base64 to out (no NUL). */
static void base64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        size_t left = n - i;
        uint32_t quad = (uint32_t)in[i] << 16;
        quad |= left > 1 ? (uint32_t)in[i + 1] << 8 : 0;
        quad |= left > 2 ? (uint32_t)in[i + 2] : 0;
        out[o++] = base64_alphabet[quad >> 18 & 0x3F];
        out[o++] = base64_alphabet[quad >> 12 & 0x3F];
        out[o++] = left > 1 ? base64_alphabet[quad >> 6 & 0x3F] : '=';
        out[o++] = left > 2 ? base64_alphabet[quad & 0x3F] : '=';
    }
}

/* The value of base64 digit c, or -1. */
static int base64_digit(char c)
{
    const char *at = c != '\0' ? strchr(base64_alphabet, c) : NULL;
    return at != NULL ? (int)(at - base64_alphabet) : -1;
}

/*
 * Decodes s[0..n) if it is strict standard base64: whole groups of four, '=' padding only at
 * the end, no whitespace, the unused bits of the last digit zero (so each blob has exactly one
 * text). Writes *out_len bytes to out (which may be NULL: check only). Returns false otherwise.
 */
static bool base64_decode(const char *s, size_t n, unsigned char *out, size_t *out_len)
{
    if (n % 4 != 0) {
        return false;
    }
    size_t pad = n > 0 && s[n - 1] == '=' ? 1 + (s[n - 2] == '=') : 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        size_t digits = i + 4 == n ? 4 - pad : 4;
        uint32_t quad = 0;
        for (size_t k = 0; k < 4; k++) {
            int v = k < digits ? base64_digit(s[i + k]) : 0;
            if (v < 0) {
                return false;
            }
            quad = quad << 6 | (uint32_t)v;
        }
        uint32_t unused = digits == 4 ? 0 : digits == 3 ? 0xFFu : 0xFFFFu;
        if ((quad & unused) != 0) {
            return false;
        }
        for (size_t k = 0; k + 1 < digits; k++) {
            if (out != NULL) {
                out[o] = (unsigned char)(quad >> (16 - 8 * k) & 0xFF);
            }
            o++;
        }
    }
    *out_len = o;
    return true;
}

/* ---- the request ---- */

/* Parses a body that must be a JSON object or array. */
static int body_parse(const char *body, size_t len, json_t **root, struct sqlrun_fail *f)
{
    *root = NULL;
    if (body == NULL || len == 0) {
        return sqlrun_fail_set(f, HELIOSDB_INVALID, "the body is empty (expected JSON)");
    }
    json_error_t je;
    *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (*root != NULL) {
        return HELIOSDB_OK;
    }
    if (json_error_code(&je) == json_error_out_of_memory) {
        return sqlrun_fail_nomem(f);
    }
    return sqlrun_fail_set(f, HELIOSDB_INVALID, "malformed JSON at line %d, column %d: %s", je.line,
                           je.column, je.text);
}

static const char *json_type_name(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "an integer", [JSON_REAL] = "a real",    [JSON_TRUE] = "true",
        [JSON_FALSE] = "false",        [JSON_NULL] = "null"};
    return names[json_typeof(v)];
}

/* The string of a {"$base64": "..."} object, or NULL if v is not one. */
static json_t *blob_text(json_t *v)
{
    json_t *text = json_object_get(v, "$base64");
    return json_object_size(v) == 1 && json_is_string(text) ? text : NULL;
}

/* Checks that params[i] has one of the forms a param takes. */
static int param_check(json_t *v, size_t i, struct sqlrun_fail *f)
{
    if (!json_is_object(v) && !json_is_array(v)) {
        return HELIOSDB_OK;
    }
    json_t *text = json_is_object(v) ? blob_text(v) : NULL;
    if (text == NULL) {
        return sqlrun_fail_set(f, HELIOSDB_INVALID,
                               "params[%zu]: expected a number, string, boolean, null or "
                               "{\"$base64\": \"...\"}, got %s",
                               i, json_type_name(v));
    }
    size_t len;
    if (!base64_decode(json_string_value(text), json_string_length(text), NULL, &len)) {
        return sqlrun_fail_set(f, HELIOSDB_INVALID,
                               "params[%zu]: \"$base64\" is not standard padded base64", i);
    }
    return HELIOSDB_OK;
}

static int params_check(json_t *params, struct sqlrun_fail *f)
{
    if (json_array_size(params) > SQLJSON_PARAMS_MAX) {
        return sqlrun_fail_set(f, HELIOSDB_TOOBIG, "more than %u params", SQLJSON_PARAMS_MAX);
    }
    size_t i;
    json_t *v;
    json_array_foreach(params, i, v)
    {
        int rc = param_check(v, i, f);
        if (rc != HELIOSDB_OK) {
            return rc;
        }
    }
    return HELIOSDB_OK;
}

/* Checks obj is {"sql": "...", "params": [...]} (params optional) and points r at its parts. */
static int request_from_json(json_t *obj, struct sj_request *r, struct sqlrun_fail *f)
{
    *r = (struct sj_request){0};
    if (!json_is_object(obj)) {
        return sqlrun_fail_set(f, HELIOSDB_INVALID,
                               "expected an object {\"sql\": ..., \"params\": [...]}");
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (strcmp(key, "sql") == 0 && json_is_string(v)) {
            r->sql = json_string_value(v);
            r->sql_len = json_string_length(v);
        } else if (strcmp(key, "params") == 0 && json_is_array(v)) {
            r->params = v;
        } else if (strcmp(key, "sql") == 0 || strcmp(key, "params") == 0) {
            return sqlrun_fail_set(f, HELIOSDB_INVALID, "\"%s\" must be %s, got %s", key,
                                   key[0] == 's' ? "a string" : "an array", json_type_name(v));
        } else {
            return sqlrun_fail_set(f, HELIOSDB_INVALID,
                                   "unknown key \"%.64s\" (expected \"sql\" and \"params\")", key);
        }
    }
    if (r->sql == NULL) {
        return sqlrun_fail_set(f, HELIOSDB_INVALID, "\"sql\" is missing");
    }
    return params_check(r->params, f);
}

/* ---- planning and binding ---- */

/* Binds {"$base64": ...} (checked by param_check) at index. */
static int bind_blob(heliosdb_stmt *st, int index, json_t *v, heliosdb_error *e)
{
    json_t *text = blob_text(v);
    const char *s = json_string_value(text);
    size_t n = json_string_length(text), len = 0;
    static unsigned char empty[1];
    unsigned char *bytes = n > 0 ? malloc(n / 4 * 3) : empty;
    if (bytes == NULL) {
        snprintf(e->message, sizeof e->message, "%s", "out of memory");
        e->offset = -1;
        return HELIOSDB_NOMEM;
    }
    bool ok = base64_decode(s, n, bytes, &len);
    assert(ok);
    (void)ok;
    int rc = heliosdb_bind_blob(st, index, bytes, len, e);
    if (bytes != empty) {
        free(bytes);
    }
    return rc;
}

/* Binds params[i] (checked by param_check) as parameter i + 1. */
static int bind_param(heliosdb_stmt *st, size_t i, json_t *v, heliosdb_error *e)
{
    int index = (int)i + 1;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return heliosdb_bind_int64(st, index, json_integer_value(v), e);
    case JSON_REAL:
        return heliosdb_bind_double(st, index, json_real_value(v), e);
    case JSON_STRING:
        return heliosdb_bind_text(st, index, json_string_value(v), (long)json_string_length(v), e);
    case JSON_TRUE:
    case JSON_FALSE:
        return heliosdb_bind_int64(st, index, json_is_true(v) ? 1 : 0, e);
    case JSON_OBJECT:
        return bind_blob(st, index, v, e);
    default: /* null: arrays and other objects were refused by param_check */
        assert(json_is_null(v));
        return heliosdb_bind_null(st, index, e);
    }
}

/* ---- running and answering ---- */

/* Takes bytes from the answer's budget; false past SJ_ANSWER_BYTES_MAX. */
static bool budget_take(struct sj_budget *b, size_t bytes)
{
    if (bytes > SJ_ANSWER_BYTES_MAX - b->bytes) {
        return false;
    }
    b->bytes += bytes;
    return true;
}

/* {"$base64": "..."} of n bytes; NULL out of memory. */
static json_t *blob_to_json(const void *data, size_t n)
{
    size_t len = base64_encoded_len(n);
    char *text = malloc(len + 1);
    if (text == NULL) {
        return NULL;
    }
    base64_encode(data, n, text);
    json_t *s = json_stringn_nocheck(text, len);
    free(text);
    return s != NULL ? json_pack("{s:o}", "$base64", s) : NULL;
}

/* The bytes column col of the current row takes in the budget. */
static size_t value_cost(heliosdb_stmt *st, int col)
{
    int type = heliosdb_column_type(st, col);
    if (type == HELIOSDB_NULL || type == HELIOSDB_INTEGER || type == HELIOSDB_FLOAT) {
        return SJ_VALUE_BYTES;
    }
    if (type == HELIOSDB_BLOB) {
        heliosdb_column_blob(st, col);
        return SJ_VALUE_BYTES + base64_encoded_len((size_t)heliosdb_column_bytes(st, col));
    }
    heliosdb_column_text(st, col);
    return SJ_VALUE_BYTES + (size_t)heliosdb_column_bytes(st, col);
}

/* Column col of the current row as JSON (see sqljson.h for the forms); NULL out of memory. */
static json_t *value_to_json(heliosdb_stmt *st, int col)
{
    int type = heliosdb_column_type(st, col);
    if (type == HELIOSDB_NULL) {
        return json_null();
    } else if (type == HELIOSDB_INTEGER) {
        return json_integer((json_int_t)heliosdb_column_int64(st, col));
    } else if (type == HELIOSDB_FLOAT) {
        double d = heliosdb_column_double(st, col);
        return isfinite(d) ? json_real(d) : json_null();
    } else if (type == HELIOSDB_BLOB) {
        const void *data = heliosdb_column_blob(st, col);
        return blob_to_json(data, (size_t)heliosdb_column_bytes(st, col));
    }
    /* TEXT, DECIMAL (its exact text) and any type added later: the value as text. */
    const unsigned char *text = heliosdb_column_text(st, col);
    if (text == NULL) {
        return json_null();
    }
    return json_string_lossy((const char *)text, (size_t)heliosdb_column_bytes(st, col));
}

/* Appends the current row of st to rows, within the budget. */
static int row_append(heliosdb_stmt *st, json_t *rows, struct sj_budget *b, struct sqlrun_fail *f)
{
    if (b->rows == SQLJSON_ROWS_MAX) {
        return sqlrun_fail_set(f, HELIOSDB_TOOBIG, "the answer holds more than %u rows",
                               SQLJSON_ROWS_MAX);
    }
    int ncols = heliosdb_column_count(st);
    size_t cost = SJ_VALUE_BYTES;
    for (int col = 0; col < ncols; col++) {
        cost += value_cost(st, col);
    }
    if (!budget_take(b, cost)) {
        return sqlrun_fail_set(f, HELIOSDB_TOOBIG, "the answer is over %u MiB",
                               SJ_ANSWER_BYTES_MAX >> 20);
    }
    json_t *row = json_array();
    if (row == NULL || json_array_append_new(rows, row) != 0) {
        return sqlrun_fail_nomem(f);
    }
    for (int col = 0; col < ncols; col++) {
        if (json_array_append_new(row, value_to_json(st, col)) != 0) {
            return sqlrun_fail_nomem(f);
        }
    }
    b->rows++;
    return HELIOSDB_OK;
}

/* {"columns", "rows", "rows_affected", "last_insert_id"} of the statement st ran to its end.
 * Takes rows. */
static json_t *result_object(heliosdb_conn *c, heliosdb_stmt *st, json_t *rows)
{
    int ncols = heliosdb_column_count(st);
    json_t *columns = json_array();
    for (int col = 0; columns != NULL && col < ncols; col++) {
        const char *name = heliosdb_column_name(st, col);
        name = name != NULL ? name : "";
        if (json_array_append_new(columns, json_string_lossy(name, strlen(name))) != 0) {
            json_decref(columns);
            columns = NULL;
        }
    }
    int64_t affected = ncols == 0 ? heliosdb_changes(c) : 0;
    if (columns == NULL) {
        json_decref(rows);
        return NULL;
    }
    return json_pack("{s:o,s:o,s:I,s:I}", "columns", columns, "rows", rows, "rows_affected",
                     (json_int_t)affected, "last_insert_id",
                     (json_int_t)heliosdb_last_insert_id(c));
}

/* One request element as it runs: the answer it builds for sqlrun_run's callbacks. */
struct sj_run {
    heliosdb_conn *c;
    json_t *params; /* borrowed from the parsed body */
    struct sj_budget *budget;
    json_t *rows;   /* the last statement's rows so far (NULL before its first) */
    json_t *result; /* its answer object once it ended */
};

/* The rows array of run, made at first use; NULL out of memory. */
static json_t *run_rows(struct sj_run *run)
{
    if (run->rows == NULL) {
        run->rows = json_array();
    }
    return run->rows;
}

/* The bind callback of sqlrun_run. */
static int run_bind(void *ctx, heliosdb_stmt *st, size_t i, heliosdb_error *e)
{
    const struct sj_run *run = ctx;
    return bind_param(st, i, json_array_get(run->params, i), e);
}

/* The row callback of sqlrun_run: appends the current row to the answer. */
static int run_row(void *ctx, heliosdb_stmt *st, struct sqlrun_fail *f)
{
    struct sj_run *run = ctx;
    json_t *rows = run_rows(run);
    return rows != NULL ? row_append(st, rows, run->budget, f) : sqlrun_fail_nomem(f);
}

/* The done callback of sqlrun_run: the answer object of the last statement. */
static int run_done(void *ctx, heliosdb_stmt *st, struct sqlrun_fail *f)
{
    struct sj_run *run = ctx;
    json_t *rows = run_rows(run);
    if (rows == NULL) {
        return sqlrun_fail_nomem(f);
    }
    run->rows = NULL;
    run->result = result_object(run->c, st, rows);
    return run->result != NULL ? HELIOSDB_OK : sqlrun_fail_nomem(f);
}

/* Checks, plans and runs one request element; *result gets its answer object. */
static int run_request(heliosdb_conn *c, json_t *obj, struct sj_budget *b, json_t **result,
                       struct sqlrun_fail *f)
{
    struct sj_request r;
    int rc = request_from_json(obj, &r, f);
    if (rc != HELIOSDB_OK) {
        return rc;
    }
    struct sqlrun_text text = {.sql = r.sql,
                               .sql_len = r.sql_len,
                               .name = "\"sql\"",
                               .statements_max = SQLJSON_STATEMENTS_MAX,
                               .params_given = json_array_size(r.params)};
    struct sqlrun_plan p;
    rc = sqlrun_plan(c, &text, &p, f);
    if (rc != HELIOSDB_OK) {
        return rc;
    }
    struct sj_run run = {.c = c, .params = r.params, .budget = b};
    struct sqlrun_calls calls = {.ctx = &run, .bind = run_bind, .row = run_row, .done = run_done};
    rc = sqlrun_run(c, &text, &p, &calls, f);
    json_decref(run.rows);
    if (rc != HELIOSDB_OK) {
        json_decref(run.result);
        return rc;
    }
    *result = run.result;
    return HELIOSDB_OK;
}

/* Fills out with root as a 200 answer. */
static int answer_json(const json_t *root, struct sqljson_answer *out, struct sqlrun_fail *f)
{
    out->body = json_dumps(root, JSON_COMPACT);
    if (out->body == NULL) {
        return sqlrun_fail_nomem(f);
    }
    out->len = strlen(out->body);
    out->http_status = 200;
    return HELIOSDB_OK;
}

/* Fills out with f's error answer; returns f's code, or HELIOSDB_NOMEM if out stays empty. */
static int answer_fail(const struct sqlrun_fail *f, struct sqljson_answer *out)
{
    const char *code = NULL;
    int http_status = sqljson_http_status(f->code, &code);
    if (sqljson_error(http_status, code, f->message, out) != 0) {
        return HELIOSDB_NOMEM;
    }
    return f->code;
}

int sqljson_execute(heliosdb_conn *c, const char *body, size_t len, struct sqljson_answer *out)
{
    assert(c != NULL);
    assert(out != NULL);
    assert(!heliosdb_in_transaction(c));
    *out = (struct sqljson_answer){0};
    struct sqlrun_fail f = {.code = HELIOSDB_OK};
    struct sj_budget b = {0};
    json_t *root = NULL, *result = NULL;
    int rc = body_parse(body, len, &root, &f);
    rc = rc == HELIOSDB_OK ? run_request(c, root, &b, &result, &f) : rc;
    rc = sqlrun_end_outside(c, rc, &f);
    rc = rc == HELIOSDB_OK ? answer_json(result, out, &f) : rc;
    json_decref(result);
    json_decref(root);
    return rc == HELIOSDB_OK ? HELIOSDB_OK : answer_fail(&f, out);
}

/* The batch's list of requests: {"statements": [...]} or a bare array, each element checked. */
static int batch_list(json_t *root, json_t **list, struct sqlrun_fail *f)
{
    *list = json_is_array(root) ? root : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "statements") != 0) {
            return sqlrun_fail_set(f, HELIOSDB_INVALID,
                                   "unknown key \"%.64s\" (expected \"statements\")", key);
        }
        if (!json_is_array(v)) {
            return sqlrun_fail_set(f, HELIOSDB_INVALID, "\"statements\" must be an array, got %s",
                                   json_type_name(v));
        }
        *list = v;
    }
    if (*list == NULL) {
        return sqlrun_fail_set(f, HELIOSDB_INVALID, "\"statements\" is missing");
    }
    if (json_array_size(*list) > SQLJSON_STATEMENTS_MAX) {
        return sqlrun_fail_set(f, HELIOSDB_TOOBIG, "more than %u statements in one batch",
                               SQLJSON_STATEMENTS_MAX);
    }
    size_t i;
    json_array_foreach(*list, i, v)
    {
        struct sj_request r;
        if (request_from_json(v, &r, f) != HELIOSDB_OK) {
            sqlrun_fail_prefix(f, "statements", i);
            return f->code;
        }
    }
    return HELIOSDB_OK;
}

/* Runs list's requests in one transaction on c; *results gets their answers. Rolls back on
 * failure, naming the failing element. */
static int batch_run(heliosdb_conn *c, json_t *list, json_t *results, struct sqlrun_fail *f)
{
    struct sj_budget b = {0};
    heliosdb_error e = {.offset = -1};
    int rc = heliosdb_exec(c, "BEGIN", &e);
    if (rc != HELIOSDB_OK) {
        return sqlrun_fail_engine(f, rc, &e, 0);
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        json_t *result = NULL;
        rc = run_request(c, v, &b, &result, f);
        if (rc == HELIOSDB_OK && !heliosdb_in_transaction(c)) {
            rc = sqlrun_fail_batch_ended(f);
        }
        if (rc == HELIOSDB_OK && json_array_append_new(results, result) != 0) {
            rc = sqlrun_fail_nomem(f);
        } else if (rc != HELIOSDB_OK) {
            json_decref(result);
        }
        if (rc != HELIOSDB_OK) {
            sqlrun_rollback_open(c);
            sqlrun_fail_prefix(f, "statements", i);
            return rc;
        }
    }
    rc = heliosdb_exec(c, "COMMIT", &e);
    if (rc != HELIOSDB_OK) {
        sqlrun_fail_engine(f, rc, &e, 0);
        sqlrun_rollback_open(c);
    }
    return rc;
}

int sqljson_batch(heliosdb_conn *c, const char *body, size_t len, struct sqljson_answer *out)
{
    assert(c != NULL);
    assert(out != NULL);
    assert(!heliosdb_in_transaction(c));
    *out = (struct sqljson_answer){0};
    struct sqlrun_fail f = {.code = HELIOSDB_OK};
    json_t *root = NULL, *list = NULL, *answer = NULL;
    json_t *results = json_array();
    int rc = results != NULL ? body_parse(body, len, &root, &f) : sqlrun_fail_nomem(&f);
    rc = rc == HELIOSDB_OK ? batch_list(root, &list, &f) : rc;
    rc = rc == HELIOSDB_OK ? batch_run(c, list, results, &f) : rc;
    if (rc == HELIOSDB_OK) {
        answer = json_pack("{s:O}", "results", results);
        rc = answer != NULL ? answer_json(answer, out, &f) : sqlrun_fail_nomem(&f);
    }
    json_decref(answer);
    json_decref(results);
    json_decref(root);
    return rc == HELIOSDB_OK ? HELIOSDB_OK : answer_fail(&f, out);
}

int sqljson_error(int http_status, const char *code, const char *message,
                  struct sqljson_answer *out)
{
    assert(code != NULL);
    assert(message != NULL);
    assert(out != NULL);
    *out = (struct sqljson_answer){0};
    json_t *text = json_string_lossy(message, strlen(message));
    if (text == NULL) {
        return -1;
    }
    json_t *root = json_pack("{s:{s:s,s:o,s:i}}", "error", "code", code, "message", text, "status",
                             http_status);
    char *body = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (body == NULL) {
        return -1;
    }
    *out = (struct sqljson_answer){.http_status = http_status, .body = body, .len = strlen(body)};
    return 0;
}

int sqljson_http_status(int heliosdb_status, const char **code)
{
    const char *name;
    int http_status;
    switch (heliosdb_status) {
    case HELIOSDB_OK:
    case HELIOSDB_ROW:
    case HELIOSDB_DONE:
        http_status = 200, name = "OK";
        break;
    case HELIOSDB_INVALID:
        http_status = 400, name = "INVALID_ARGUMENT";
        break;
    case HELIOSDB_NOTFOUND:
        http_status = 404, name = "NOT_FOUND";
        break;
    case HELIOSDB_CONSTRAINT:
        http_status = 409, name = "FAILED_PRECONDITION";
        break;
    case HELIOSDB_EXISTS:
        http_status = 409, name = "ALREADY_EXISTS";
        break;
    case HELIOSDB_CONFLICT:
        http_status = 409, name = "ABORTED";
        break;
    case HELIOSDB_TIMEOUT:
        http_status = 504, name = "DEADLINE_EXCEEDED";
        break;
    case HELIOSDB_TOOBIG:
        http_status = 413, name = "RESOURCE_EXHAUSTED";
        break;
    case HELIOSDB_FULL:
    case HELIOSDB_NOMEM:
    case HELIOSDB_NOSPACE:
        http_status = 503, name = "RESOURCE_EXHAUSTED";
        break;
    case HELIOSDB_BUSY:
    case HELIOSDB_READONLY:
    case HELIOSDB_IOERR:
        http_status = 503, name = "UNAVAILABLE";
        break;
    default: /* HELIOSDB_CORRUPT, HELIOSDB_ERROR and any code added later */
        http_status = 500, name = "INTERNAL";
        break;
    }
    if (code != NULL) {
        *code = name;
    }
    return http_status;
}

void sqljson_answer_free(struct sqljson_answer *a)
{
    if (a == NULL) {
        return;
    }
    free(a->body);
    *a = (struct sqljson_answer){0};
}
