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
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/jsonval.h"
#include "rpc/sqljson.h"
#include "rpc/sqlrun.h"

#define SJ_ANSWER_BYTES_MAX (64u << 20) /* estimated bytes of one answer's values (413 past) */

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

/* Checks that params[i] has one of the forms a param takes. */
static int param_check(json_t *v, size_t i, struct sqlrun_fail *f)
{
    if (!json_is_object(v) && !json_is_array(v)) {
        return HELIOSDB_OK;
    }
    json_t *text = json_is_object(v) ? jsonval_blob_text(v) : NULL;
    if (text == NULL) {
        return sqlrun_fail_set(f, HELIOSDB_INVALID,
                               "params[%zu]: expected a number, string, boolean, null or "
                               "{\"$base64\": \"...\"}, got %s",
                               i, jsonval_type_name(v));
    }
    size_t len;
    if (!jsonval_base64_decode(json_string_value(text), json_string_length(text), NULL, &len)) {
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
                                   key[0] == 's' ? "a string" : "an array", jsonval_type_name(v));
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

/* Appends the current row of st to rows, within the budget. */
static int row_append(heliosdb_stmt *st, json_t *rows, struct sj_budget *b, struct sqlrun_fail *f)
{
    if (b->rows == SQLJSON_ROWS_MAX) {
        return sqlrun_fail_set(f, HELIOSDB_TOOBIG, "the answer holds more than %u rows",
                               SQLJSON_ROWS_MAX);
    }
    int ncols = heliosdb_column_count(st);
    size_t cost = JSONVAL_VALUE_BYTES;
    for (int col = 0; col < ncols; col++) {
        cost += jsonval_cost(st, col);
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
        if (json_array_append_new(row, jsonval_from_column(st, col)) != 0) {
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
        if (json_array_append_new(columns, jsonval_text(name, strlen(name))) != 0) {
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
    return jsonval_bind(st, (int)i + 1, json_array_get(run->params, i), e);
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
                                   jsonval_type_name(v));
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
    json_t *text = jsonval_text(message, strlen(message));
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
