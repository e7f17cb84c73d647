/*
 * test_sqljson.c — SQL over JSON (rpc/sqljson.h) on a scratch database:
 * typed values both ways, rows_affected and last_insert_id, how engine
 * errors and malformed bodies map to error answers and HTTP statuses,
 * params checks, multi-statement texts, the row limit, and batches that
 * commit whole or roll back whole.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heliosdb.h"
#include "rpc/sqljson.h"
#include "tests/core/testutil.h"

static char *dir;
static heliosdb *db;
static heliosdb_conn *conn;

static void setup(void)
{
    dir = tu_mkdtemp("sqljson");
    heliosdb_error err;
    cr_assert_eq(heliosdb_open(dir, NULL, &db, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_connect(db, &conn, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_exec(conn,
                               "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, r REAL, "
                               "s TEXT, z TEXT, d DECIMAL(10,2), b BLOB);"
                               "CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT UNIQUE)",
                               &err),
                 HELIOSDB_OK, "%s", err.message);
}

static void teardown(void)
{
    heliosdb_error err;
    heliosdb_disconnect(conn);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK, "%s", err.message);
    tu_rmtree(dir);
    free(dir);
}

TestSuite(sqljson, .init = setup, .fini = teardown, .timeout = 600);

/* Runs body through sqljson_execute (or sqljson_batch), checks the status and HTTP status, and
 * returns the answer text (malloc'd). */
static char *answer_of(bool batch, const char *body, int want_rc, int want_http)
{
    struct sqljson_answer a;
    int rc = batch ? sqljson_batch(conn, body, strlen(body), &a)
                   : sqljson_execute(conn, body, strlen(body), &a);
    cr_assert_not_null(a.body, "an answer for %s", body);
    cr_assert_eq(strlen(a.body), a.len);
    cr_assert_eq(rc, want_rc, "status %s for %s: %s", heliosdb_status_name(rc), body, a.body);
    cr_assert_eq(a.http_status, want_http, "HTTP %d for %s: %s", a.http_status, body, a.body);
    cr_assert_eq(heliosdb_in_transaction(conn), 0, "no transaction is left open");
    char *text = a.body;
    a.body = NULL;
    sqljson_answer_free(&a);
    return text;
}

static void expect_answer(const char *body, const char *want)
{
    char *got = answer_of(false, body, HELIOSDB_OK, 200);
    cr_assert_str_eq(got, want, "for %s: %s", body, got);
    free(got);
}

/* Checks body's error answer: its code, HTTP status and that the message starts with
 * message_prefix and holds message_part (either may be NULL). */
static void expect_error(bool batch, const char *body, int want_rc, int want_http,
                         const char *want_code, const char *message_prefix,
                         const char *message_part)
{
    char *text = answer_of(batch, body, want_rc, want_http);
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    cr_assert_not_null(root, "%s: %s", text, je.text);
    cr_assert_eq(json_object_size(root), 1, "%s", text);
    json_t *e = json_object_get(root, "error");
    cr_assert_eq(json_object_size(e), 3, "%s", text);
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), want_code, "%s", text);
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), want_http, "%s", text);
    const char *message = json_string_value(json_object_get(e, "message"));
    cr_assert_not_null(message, "%s", text);
    if (message_prefix != NULL) {
        cr_assert_eq(strncmp(message, message_prefix, strlen(message_prefix)), 0,
                     "\"%s\" starts with \"%s\"", message, message_prefix);
    }
    if (message_part != NULL) {
        cr_assert_not_null(strstr(message, message_part), "\"%s\" holds \"%s\"", message,
                           message_part);
    }
    json_decref(root);
    free(text);
}

static void expect_invalid(const char *body, const char *message_part)
{
    expect_error(false, body, HELIOSDB_INVALID, 400, "INVALID_ARGUMENT", NULL, message_part);
}

/* The number of rows of table u, read through the C API. */
static int64_t count_u(void)
{
    heliosdb_stmt *st = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_prepare(conn, "SELECT count(*) FROM u", -1, &st, NULL, &err), HELIOSDB_OK,
                 "%s", err.message);
    cr_assert_eq(heliosdb_step(st, &err), HELIOSDB_ROW, "%s", err.message);
    int64_t n = heliosdb_column_int64(st, 0);
    heliosdb_finalize(st);
    return n;
}

Test(sqljson, insert_with_params_then_select_answers_typed_values)
{
    expect_answer("{\"sql\": \"INSERT INTO t (n, r, s, z, d, b) VALUES (?, ?, ?, ?, ?, ?)\","
                  " \"params\": [7, 2.5, \"h\\u00e9llo\", null, \"12.5\","
                  " {\"$base64\": \"AAEC/w==\"}]}",
                  "{\"columns\":[],\"rows\":[],\"rows_affected\":1,\"last_insert_id\":1}");
    expect_answer("{\"sql\": \"SELECT id, n, r, s, z, d, b FROM t\"}",
                  "{\"columns\":[\"id\",\"n\",\"r\",\"s\",\"z\",\"d\",\"b\"],"
                  "\"rows\":[[1,7,2.5,\"h\xc3\xa9llo\",null,\"12.50\",{\"$base64\":\"AAEC/w==\"}]],"
                  "\"rows_affected\":0,\"last_insert_id\":1}");
}

Test(sqljson, blobs_of_every_length_round_trip_through_base64)
{
    const char *texts[] = {"", "YQ==", "YWI=", "YWJj", "YWJjZA==", "+/+/"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char body[256], want[256];
        snprintf(body, sizeof body,
                 "{\"sql\": \"SELECT ? AS b\", \"params\": [{\"$base64\": "
                 "\"%s\"}]}",
                 texts[i]);
        snprintf(want, sizeof want,
                 "{\"columns\":[\"b\"],\"rows\":[[{\"$base64\":\"%s\"}]],\"rows_affected\":0,"
                 "\"last_insert_id\":0}",
                 texts[i]);
        expect_answer(body, want);
    }
}

Test(sqljson, booleans_bind_as_one_and_zero)
{
    expect_answer("{\"sql\": \"SELECT ? AS a, ? AS b\", \"params\": [true, false]}",
                  "{\"columns\":[\"a\",\"b\"],\"rows\":[[1,0]],\"rows_affected\":0,"
                  "\"last_insert_id\":0}");
}

Test(sqljson, real_overflow_answers_null)
{
    expect_answer("{\"sql\": \"SELECT CAST(? AS REAL) * 10 AS x, ? AS y\", \"params\": [1e308, "
                  "1e308]}",
                  "{\"columns\":[\"x\",\"y\"],\"rows\":[[null,1e308]],\"rows_affected\":0,"
                  "\"last_insert_id\":0}");
}

Test(sqljson, update_answers_rows_affected)
{
    expect_answer("{\"sql\": \"INSERT INTO t (n) VALUES (1), (2), (3)\"}",
                  "{\"columns\":[],\"rows\":[],\"rows_affected\":3,\"last_insert_id\":3}");
    expect_answer("{\"sql\": \"UPDATE t SET n = n * 10 WHERE n >= 2\"}",
                  "{\"columns\":[],\"rows\":[],\"rows_affected\":2,\"last_insert_id\":3}");
    expect_answer("{\"sql\": \"SELECT n FROM t ORDER BY id\"}",
                  "{\"columns\":[\"n\"],\"rows\":[[1],[20],[30]],\"rows_affected\":0,"
                  "\"last_insert_id\":3}");
}

Test(sqljson, insert_answers_last_insert_id)
{
    expect_answer("{\"sql\": \"INSERT INTO u (email) VALUES (?)\", \"params\": [\"a@x\"]}",
                  "{\"columns\":[],\"rows\":[],\"rows_affected\":1,\"last_insert_id\":1}");
    expect_answer("{\"sql\": \"INSERT INTO u (id, email) VALUES (?, ?)\", \"params\": [41, "
                  "\"b@x\"]}",
                  "{\"columns\":[],\"rows\":[],\"rows_affected\":1,\"last_insert_id\":41}");
}

Test(sqljson, query_without_rows_still_names_its_columns)
{
    expect_answer("{\"sql\": \"SELECT id, email FROM u WHERE id < 0\"}",
                  "{\"columns\":[\"id\",\"email\"],\"rows\":[],\"rows_affected\":0,"
                  "\"last_insert_id\":0}");
}

Test(sqljson, stored_text_that_is_not_utf8_answers_replacement_characters)
{
    heliosdb_stmt *st = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_prepare(conn, "INSERT INTO t (s) VALUES (?)", -1, &st, NULL, &err),
                 HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_bind_text(st, 1,
                                    "a\xff"
                                    "b\xc3",
                                    4, &err),
                 HELIOSDB_OK);
    cr_assert_eq(heliosdb_step(st, &err), HELIOSDB_DONE, "%s", err.message);
    heliosdb_finalize(st);
    expect_answer("{\"sql\": \"SELECT s FROM t\"}",
                  "{\"columns\":[\"s\"],\"rows\":[[\"a\xef\xbf\xbd"
                  "b\xef\xbf\xbd\"]],\"rows_affected\":0,\"last_insert_id\":1}");
}

Test(sqljson, several_statements_run_in_order_and_answer_for_the_last)
{
    expect_answer("{\"sql\": \"CREATE TABLE m (x INTEGER); INSERT INTO m VALUES (?); "
                  "INSERT INTO m VALUES (6); SELECT x FROM m ORDER BY x\", \"params\": [5]}",
                  "{\"columns\":[\"x\"],\"rows\":[[5],[6]],\"rows_affected\":0,"
                  "\"last_insert_id\":2}");
}

Test(sqljson, syntax_error_answers_400_with_message_and_offset)
{
    expect_invalid("{\"sql\": \"SELEC 1\"}", "syntax error");
    expect_invalid("{\"sql\": \"SELEC 1\"}", "offset 0");
    expect_invalid("{\"sql\": \"SELECT 1; SELEC 2\"}", "offset 10");
}

Test(sqljson, syntax_error_in_a_later_statement_runs_nothing)
{
    expect_invalid("{\"sql\": \"INSERT INTO u (email) VALUES ('a'); SELEC 2\"}", "syntax error");
    cr_assert_eq(count_u(), 0);
}

Test(sqljson, unknown_table_answers_400_invalid_argument)
{
    /* The engine reports "no such table" as HELIOSDB_INVALID (tests/sql/test_api.c). */
    expect_error(false, "{\"sql\": \"SELECT * FROM nope\"}", HELIOSDB_INVALID, 400,
                 "INVALID_ARGUMENT", "no such table: nope", NULL);
}

Test(sqljson, unique_violation_answers_409_failed_precondition)
{
    const char *body = "{\"sql\": \"INSERT INTO u (email) VALUES ('a@x')\"}";
    free(answer_of(false, body, HELIOSDB_OK, 200));
    expect_error(false, body, HELIOSDB_CONSTRAINT, 409, "FAILED_PRECONDITION",
                 "UNIQUE constraint failed: u.email", NULL);
}

Test(sqljson, malformed_bodies_answer_400)
{
    expect_invalid("{\"sql\": ", "malformed JSON");
    expect_invalid("", "empty");
    expect_invalid("\"SELECT 1\"", "malformed JSON");
    expect_invalid("[{\"sql\": \"SELECT 1\"}]", "expected an object");
    expect_invalid("{\"sql\": \"SELECT 1\", \"sql\": \"SELECT 2\"}", "duplicate");
    struct sqljson_answer a;
    cr_assert_eq(sqljson_execute(conn, NULL, 0, &a), HELIOSDB_INVALID);
    cr_assert_eq(a.http_status, 400);
    sqljson_answer_free(&a);
}

Test(sqljson, missing_or_mistyped_sql_answers_400)
{
    expect_invalid("{\"params\": []}", "\"sql\" is missing");
    expect_invalid("{\"sql\": 5}", "\"sql\" must be a string");
    expect_invalid("{\"sql\": \"SELECT 1\", \"params\": {}}", "\"params\" must be an array");
    expect_invalid("{\"sql\": \"  -- nothing\\n ;\"}", "no statement");
}

Test(sqljson, unknown_key_answers_400_naming_it)
{
    expect_invalid("{\"sql\": \"SELECT 1\", \"parms\": []}", "unknown key \"parms\"");
}

Test(sqljson, param_of_a_wrong_type_answers_400_naming_its_index)
{
    expect_error(false, "{\"sql\": \"SELECT ?\", \"params\": [[1]]}", HELIOSDB_INVALID, 400,
                 "INVALID_ARGUMENT", "params[0]: ", "got an array");
    expect_error(false, "{\"sql\": \"SELECT ?, ?\", \"params\": [1, {\"a\": 1}]}", HELIOSDB_INVALID,
                 400, "INVALID_ARGUMENT", "params[1]: ", "got an object");
    expect_error(false, "{\"sql\": \"SELECT ?\", \"params\": [{\"$base64\": \"AA==\", \"x\": 1}]}",
                 HELIOSDB_INVALID, 400, "INVALID_ARGUMENT", "params[0]: ", NULL);
}

Test(sqljson, bad_base64_answers_400)
{
    const char *bad[] = {"AAE", "AA=A", "AB==", "A===", "====", "AA AA==", "AA\\nA", "AAE-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"sql\": \"SELECT ?\", \"params\": [{\"$base64\": \"%s\"}]}",
                 bad[i]);
        expect_error(false, body, HELIOSDB_INVALID, 400, "INVALID_ARGUMENT",
                     "params[0]: ", "base64");
    }
}

Test(sqljson, wrong_param_count_answers_400)
{
    expect_invalid("{\"sql\": \"SELECT ?\", \"params\": [1, 2]}", "2 params given");
    expect_invalid("{\"sql\": \"SELECT ?, ?\", \"params\": [1]}", "1 params given");
    expect_invalid("{\"sql\": \"SELECT ?\"}", "0 params given");
    expect_invalid("{\"sql\": \"SELECT 1\", \"params\": [1]}", "takes 0");
}

Test(sqljson, params_for_two_statements_of_one_text_answer_400)
{
    expect_invalid("{\"sql\": \"INSERT INTO u (email) VALUES (?); SELECT ?\", \"params\": "
                   "[\"a\", 1]}",
                   "both take parameters");
    cr_assert_eq(count_u(), 0, "nothing ran");
}

Test(sqljson, text_leaving_a_transaction_open_is_rolled_back_and_refused)
{
    expect_invalid("{\"sql\": \"BEGIN; INSERT INTO u (email) VALUES ('a')\"}", "transaction open");
    cr_assert_eq(count_u(), 0);
    /* The rolled-back insert used rowid 1. */
    expect_answer("{\"sql\": \"BEGIN; INSERT INTO u (email) VALUES ('a'); COMMIT\"}",
                  "{\"columns\":[],\"rows\":[],\"rows_affected\":0,\"last_insert_id\":2}");
    cr_assert_eq(count_u(), 1);
}

Test(sqljson, more_rows_than_the_limit_answer_413)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"sql\": \"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE "
             "x < %u) SELECT x FROM n\"}",
             SQLJSON_ROWS_MAX);
    char *text = answer_of(false, body, HELIOSDB_OK, 200);
    json_t *root = json_loads(text, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(root, "rows")), SQLJSON_ROWS_MAX);
    json_decref(root);
    free(text);
    snprintf(body, sizeof body,
             "{\"sql\": \"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE "
             "x < %u) SELECT x FROM n\"}",
             SQLJSON_ROWS_MAX + 1);
    expect_error(false, body, HELIOSDB_TOOBIG, 413, "RESOURCE_EXHAUSTED", NULL, "rows");
}

Test(sqljson, batch_commits_every_statement)
{
    char *text = answer_of(true,
                           "{\"statements\": [{\"sql\": \"INSERT INTO u (email) VALUES (?)\", "
                           "\"params\": [\"a\"]}, {\"sql\": \"INSERT INTO u (email) VALUES "
                           "('b')\"}, {\"sql\": \"SELECT email FROM u ORDER BY email\"}]}",
                           HELIOSDB_OK, 200);
    cr_assert_str_eq(text,
                     "{\"results\":[{\"columns\":[],\"rows\":[],\"rows_affected\":1,"
                     "\"last_insert_id\":1},{\"columns\":[],\"rows\":[],\"rows_affected\":1,"
                     "\"last_insert_id\":2},{\"columns\":[\"email\"],\"rows\":[[\"a\"],[\"b\"]],"
                     "\"rows_affected\":0,\"last_insert_id\":2}]}");
    free(text);
    cr_assert_eq(count_u(), 2, "both inserts are visible after the batch");
}

Test(sqljson, batch_failure_rolls_back_everything_and_names_the_statement)
{
    expect_error(true,
                 "{\"statements\": [{\"sql\": \"INSERT INTO u (email) VALUES ('a')\"}, "
                 "{\"sql\": \"INSERT INTO u (email) VALUES ('a')\"}]}",
                 HELIOSDB_CONSTRAINT, 409, "FAILED_PRECONDITION",
                 "statements[1]: ", "UNIQUE constraint failed");
    cr_assert_eq(count_u(), 0, "the first insert was rolled back");
    expect_error(true, "[{\"sql\": \"INSERT INTO u (email) VALUES ('a')\"}, {\"sql\": \"SELEC\"}]",
                 HELIOSDB_INVALID, 400, "INVALID_ARGUMENT", "statements[1]: ", "syntax error");
    cr_assert_eq(count_u(), 0);
}

Test(sqljson, batch_accepts_a_bare_array)
{
    char *text = answer_of(true,
                           "[{\"sql\": \"INSERT INTO u (email) VALUES (?)\", \"params\": "
                           "[\"a\"]}, {\"sql\": \"SELECT count(*) AS n FROM u\"}]",
                           HELIOSDB_OK, 200);
    cr_assert_str_eq(text, "{\"results\":[{\"columns\":[],\"rows\":[],\"rows_affected\":1,"
                           "\"last_insert_id\":1},{\"columns\":[\"n\"],\"rows\":[[1]],"
                           "\"rows_affected\":0,\"last_insert_id\":1}]}");
    free(text);
    free(answer_of(true, "[]", HELIOSDB_OK, 200));
}

Test(sqljson, batch_with_a_malformed_element_runs_nothing)
{
    expect_error(true, "[{\"sql\": \"INSERT INTO u (email) VALUES ('a')\"}, {\"params\": []}]",
                 HELIOSDB_INVALID, 400, "INVALID_ARGUMENT", "statements[1]: ", "is missing");
    expect_error(true, "{\"statements\": [], \"extra\": 1}", HELIOSDB_INVALID, 400,
                 "INVALID_ARGUMENT", "unknown key \"extra\"", NULL);
    expect_error(true, "{}", HELIOSDB_INVALID, 400, "INVALID_ARGUMENT", "\"statements\" is missing",
                 NULL);
    cr_assert_eq(count_u(), 0);
}

Test(sqljson, batch_statement_ending_the_transaction_is_refused)
{
    expect_error(true,
                 "[{\"sql\": \"INSERT INTO u (email) VALUES ('a')\"}, {\"sql\": "
                 "\"ROLLBACK\"}, {\"sql\": \"INSERT INTO u (email) VALUES ('b')\"}]",
                 HELIOSDB_INVALID, 400, "INVALID_ARGUMENT",
                 "statements[1]: ", "ended the batch's transaction");
    cr_assert_eq(count_u(), 0);
}

Test(sqljson, batch_of_too_many_statements_answers_413)
{
    size_t n = SQLJSON_STATEMENTS_MAX + 1, unit = sizeof "{\"sql\":\"SELECT 1\"},";
    char *body = malloc(n * unit + 3);
    size_t len = 0;
    body[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        len += (size_t)sprintf(body + len, "%s{\"sql\":\"SELECT 1\"}", i > 0 ? "," : "");
    }
    body[len++] = ']';
    body[len] = '\0';
    expect_error(true, body, HELIOSDB_TOOBIG, 413, "RESOURCE_EXHAUSTED", NULL, "statements");
    free(body);
}

Test(sqljson, http_status_maps_every_code)
{
    struct {
        int status, http;
        const char *code;
    } cases[] = {
        {HELIOSDB_OK, 200, "OK"},
        {HELIOSDB_INVALID, 400, "INVALID_ARGUMENT"},
        {HELIOSDB_NOTFOUND, 404, "NOT_FOUND"},
        {HELIOSDB_CONSTRAINT, 409, "FAILED_PRECONDITION"},
        {HELIOSDB_EXISTS, 409, "ALREADY_EXISTS"},
        {HELIOSDB_CONFLICT, 409, "ABORTED"},
        {HELIOSDB_TIMEOUT, 504, "DEADLINE_EXCEEDED"},
        {HELIOSDB_TOOBIG, 413, "RESOURCE_EXHAUSTED"},
        {HELIOSDB_FULL, 503, "RESOURCE_EXHAUSTED"},
        {HELIOSDB_NOMEM, 503, "RESOURCE_EXHAUSTED"},
        {HELIOSDB_NOSPACE, 503, "RESOURCE_EXHAUSTED"},
        {HELIOSDB_BUSY, 503, "UNAVAILABLE"},
        {HELIOSDB_READONLY, 503, "UNAVAILABLE"},
        {HELIOSDB_IOERR, 503, "UNAVAILABLE"},
        {HELIOSDB_CORRUPT, 500, "INTERNAL"},
        {HELIOSDB_ERROR, 500, "INTERNAL"},
        {999, 500, "INTERNAL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *code = NULL;
        cr_assert_eq(sqljson_http_status(cases[i].status, &code), cases[i].http, "%s",
                     heliosdb_status_name(cases[i].status));
        cr_assert_str_eq(code, cases[i].code, "%s", heliosdb_status_name(cases[i].status));
    }
    cr_assert_eq(sqljson_http_status(HELIOSDB_CONFLICT, NULL), 409, "code may be NULL");
}

Test(sqljson, error_answer_holds_code_message_and_status)
{
    struct sqljson_answer a;
    cr_assert_eq(sqljson_error(409, "ABORTED", "retry \"me\"", &a), 0);
    cr_assert_eq(a.http_status, 409);
    cr_assert_str_eq(a.body, "{\"error\":{\"code\":\"ABORTED\",\"message\":\"retry \\\"me\\\"\","
                             "\"status\":409}}");
    cr_assert_eq(a.len, strlen(a.body));
    sqljson_answer_free(&a);
    cr_assert_null(a.body);
    cr_assert_eq(sqljson_error(500, "INTERNAL", "cut \xe2\x82", &a), 0,
                 "a message cut inside a character still answers");
    cr_assert_str_eq(a.body, "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"cut "
                             "\xef\xbf\xbd\xef\xbf\xbd\",\"status\":500}}");
    sqljson_answer_free(&a);
}

static long allocations_left;

static void *malloc_failing(size_t n)
{
    return allocations_left-- > 0 ? malloc(n) : NULL;
}

/* Runs body with jansson's allocations failing after 0, 1, 2, ... of them: every run answers
 * (200, or 503 for out of memory) or leaves the body NULL with HELIOSDB_NOMEM, and leaks nothing
 * (ASan). */
static void survive_allocation_failures(bool batch, const char *body)
{
    bool answered = false;
    for (long n = 0; !answered; n++) {
        cr_assert_lt(n, 100000, "the answer needs a bounded number of allocations");
        allocations_left = n;
        json_set_alloc_funcs(malloc_failing, free);
        struct sqljson_answer a;
        int rc = batch ? sqljson_batch(conn, body, strlen(body), &a)
                       : sqljson_execute(conn, body, strlen(body), &a);
        json_set_alloc_funcs(malloc, free);
        cr_assert_eq(heliosdb_in_transaction(conn), 0);
        if (rc == HELIOSDB_OK) {
            cr_assert_eq(a.http_status, 200);
            answered = true;
        } else {
            cr_assert_eq(rc, HELIOSDB_NOMEM, "%s after %ld allocations: %s",
                         heliosdb_status_name(rc), n, a.body != NULL ? a.body : "(none)");
            cr_assert(a.body == NULL || a.http_status == 503, "%s", a.body);
        }
        sqljson_answer_free(&a);
    }
}

Test(sqljson, jansson_out_of_memory_answers_503_or_nothing_and_leaks_nothing)
{
    survive_allocation_failures(false, "{\"sql\": \"SELECT ? AS a, ? AS b, 'x\\u00e9' AS c\", "
                                       "\"params\": [{\"$base64\": \"AAEC\"}, 1.5]}");
    survive_allocation_failures(true, "[{\"sql\": \"SELECT 1 AS a\"}, {\"sql\": \"SELECT ? AS "
                                      "b\", \"params\": [\"x\"]}]");
}
