/*
 * test_rest_tables.c — the REST API generated from the schema (rpc/rest_tables.h) on a scratch
 * database holding the product docs' users table and an orders table with a composite key:
 * inserts (one object, arrays, all or nothing), PostgREST filters, order, paging and select,
 * reads, updates, upserts and deletes by key, Content-Range and Location, the error answers
 * and their statuses, quoting of names and values, and the OpenAPI document.
 */
#include <criterion/criterion.h>
#include <http_parser.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heliosdb.h"
#include "rpc/rest_tables.h"
#include "tests/core/testutil.h"

#define EXTRA_BYTES 512u

static char *dir;
static heliosdb *db;
static heliosdb_conn *conn;

static void exec_ok(const char *sql)
{
    heliosdb_error err;
    cr_assert_eq(heliosdb_exec(conn, sql, &err), HELIOSDB_OK, "%s: %s", sql, err.message);
}

static void setup(void)
{
    dir = tu_mkdtemp("rest_tables");
    heliosdb_error err;
    cr_assert_eq(heliosdb_open(dir, NULL, &db, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_connect(db, &conn, &err), HELIOSDB_OK, "%s", err.message);
    exec_ok("CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL "
            "UNIQUE, name TEXT, created_at INTEGER);"
            "CREATE TABLE orders (customer_id INTEGER, order_no INTEGER, amount DECIMAL(10,2), "
            "PRIMARY KEY (customer_id, order_no))");
}

static void teardown(void)
{
    heliosdb_error err;
    heliosdb_disconnect(conn);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK, "%s", err.message);
    tu_rmtree(dir);
    free(dir);
}

TestSuite(rest_tables, .init = setup, .fini = teardown, .timeout = 600);

/* An answer: status, body text, extra header lines, the body parsed (NULL when empty). */
struct reply {
    int status;
    char *body;
    char extra[EXTRA_BYTES];
    json_t *json;
};

static struct reply call(int method, const char *path, const char *query, const char *prefer,
                         const char *body)
{
    struct rest_request r = {.method = method,
                             .path = path,
                             .query = query,
                             .prefer = prefer,
                             .body = (const uint8_t *)body,
                             .body_len = body != NULL ? strlen(body) : 0};
    struct sqljson_answer a;
    struct reply rp = {0};
    int rc = rest_tables_route(conn, &r, &a, rp.extra, sizeof rp.extra);
    cr_assert_eq(rc, 0, "%s is handled", path);
    cr_assert_not_null(a.body, "an answer for %s", path);
    cr_assert_eq(strlen(a.body), a.len);
    cr_assert_eq(heliosdb_in_transaction(conn), 0, "no transaction is left open");
    rp.status = a.http_status;
    rp.body = a.body;
    if (a.len > 0) {
        json_error_t je;
        rp.json = json_loads(a.body, 0, &je);
        cr_assert_not_null(rp.json, "%s: %s", a.body, je.text);
    }
    return rp;
}

static void reply_free(struct reply *rp)
{
    json_decref(rp->json);
    free(rp->body);
}

/* Calls and checks the status; the caller frees the reply. */
static struct reply expect(int method, const char *path, const char *query, const char *prefer,
                           const char *body, int want_status)
{
    struct reply rp = call(method, path, query, prefer, body);
    cr_assert_eq(rp.status, want_status, "%s %s?%s: HTTP %d, want %d: %s",
                 http_method_str((enum http_method)method), path, query ? query : "", rp.status,
                 want_status, rp.body);
    return rp;
}

/* Checks an error answer: status, code, and that the message holds message_part. */
static void expect_error(int method, const char *path, const char *query, const char *body,
                         int want_status, const char *want_code, const char *message_part)
{
    struct reply rp = expect(method, path, query, NULL, body, want_status);
    json_t *e = json_object_get(rp.json, "error");
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), want_code, "%s", rp.body);
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), want_status, "%s", rp.body);
    const char *message = json_string_value(json_object_get(e, "message"));
    cr_assert_not_null(message, "%s", rp.body);
    cr_assert_not_null(strstr(message, message_part), "\"%s\" holds \"%s\"", message, message_part);
    reply_free(&rp);
}

static void expect_bad(int method, const char *path, const char *query, const char *body,
                       const char *message_part)
{
    expect_error(method, path, query, body, 400, "INVALID_ARGUMENT", message_part);
}

/* The compact JSON text of v (to compare with an expected text). */
static void expect_json(const json_t *v, const char *want)
{
    char *text = json_dumps(v, JSON_COMPACT);
    cr_assert_not_null(text);
    cr_assert_str_eq(text, want);
    free(text);
}

/* The first column of the first row of sql, as an integer. */
static int64_t query_int(const char *sql)
{
    heliosdb_stmt *st = NULL;
    heliosdb_error err;
    cr_assert_eq(heliosdb_prepare(conn, sql, -1, &st, NULL, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_step(st, &err), HELIOSDB_ROW, "%s", err.message);
    int64_t n = heliosdb_column_int64(st, 0);
    heliosdb_finalize(st);
    return n;
}

/* Three users: 1 ann (created 9), 2 bob (no name, created 10), 3 cat (created 5). */
static void users_three(void)
{
    exec_ok("INSERT INTO users (email, name, created_at) VALUES ('ann@x.io', 'Ann', 9), "
            "('bob@x.io', NULL, 10), ('cat@x.io', 'Cat', 5)");
}

/* The ids of a GET list answer, as "1,2,3". */
static void expect_ids(const char *query, const char *want)
{
    struct reply rp = expect(HTTP_GET, "/v1/users", query, NULL, NULL, 200);
    char got[256] = "";
    size_t i;
    json_t *row;
    json_array_foreach(rp.json, i, row)
    {
        size_t n = strlen(got);
        snprintf(got + n, sizeof got - n, "%s%lld", i == 0 ? "" : ",",
                 (long long)json_integer_value(json_object_get(row, "id")));
    }
    cr_assert_str_eq(got, want, "GET /v1/users?%s: %s", query ? query : "", rp.body);
    reply_free(&rp);
}

Test(rest_tables, post_one_object_answers_201_with_location_and_no_body)
{
    struct reply rp = expect(HTTP_POST, "/v1/users", NULL, NULL,
                             "{\"email\": \"ann@x.io\", \"name\": \"Ann\"}", 201);
    cr_assert_eq(strlen(rp.body), 0);
    cr_assert_str_eq(rp.extra, "Location: /v1/users/1\r\n");
    reply_free(&rp);
    cr_assert_eq(query_int("SELECT count(*) FROM users WHERE email = 'ann@x.io'"), 1);

    rp = expect(HTTP_POST, "/v1/orders", NULL, "return=minimal",
                "{\"customer_id\": 7, \"order_no\": 2, \"amount\": \"12.50\"}", 201);
    cr_assert_str_eq(rp.extra, "Location: /v1/orders/7,2\r\n");
    reply_free(&rp);
}

Test(rest_tables, post_array_with_representation_answers_the_rows_written)
{
    struct reply rp =
        expect(HTTP_POST, "/v1/users", NULL, "count=none, return=representation",
               "[{\"email\": \"a@x.io\", \"created_at\": 5}, {\"email\": \"b@x.io\", \"name\": "
               "\"B\"}]",
               201);
    expect_json(rp.json, "[{\"id\":1,\"email\":\"a@x.io\",\"name\":null,\"created_at\":5},"
                         "{\"id\":2,\"email\":\"b@x.io\",\"name\":\"B\",\"created_at\":null}]");
    cr_assert_eq(strstr(rp.extra, "Location"), NULL, "no Location for an array: %s", rp.extra);
    reply_free(&rp);

    rp = expect(HTTP_POST, "/v1/users", NULL, NULL, "[]", 201);
    reply_free(&rp);
    cr_assert_eq(query_int("SELECT count(*) FROM users"), 2);
}

Test(rest_tables, values_keep_their_forms_both_ways)
{
    exec_ok("CREATE TABLE v (id INTEGER PRIMARY KEY, r REAL, d DECIMAL(10,2), b BLOB, f INTEGER)");
    struct reply rp = expect(HTTP_POST, "/v1/v", NULL, "return=representation",
                             "{\"id\": 1, \"r\": 1.5, \"d\": \"3.1\", \"b\": {\"$base64\": "
                             "\"aGk=\"}, \"f\": true}",
                             201);
    expect_json(rp.json, "[{\"id\":1,\"r\":1.5,\"d\":\"3.10\",\"b\":{\"$base64\":\"aGk=\"},"
                         "\"f\":1}]");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/v", "f=is.true&select=id", NULL, NULL, 200);
    expect_json(rp.json, "[{\"id\":1}]");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/v", "f=is.false", NULL, NULL, 200);
    cr_assert_str_eq(rp.body, "[]");
    reply_free(&rp);
    expect_bad(HTTP_POST, "/v1/v", NULL, "{\"id\": 2, \"b\": {\"$base64\": \"aGk\"}}",
               "column b: expected");
    expect_bad(HTTP_POST, "/v1/v", NULL, "{\"id\": 2, \"r\": [1]}", "got an array");
}

Test(rest_tables, eq_on_an_integer_key_binds_text_and_matches_by_affinity)
{
    users_three();
    expect_ids("id=eq.2", "2");
    expect_ids("id=neq.2&order=id", "1,3");
    /* numbers, not text: '10' > '8' is false as text */
    expect_ids("created_at=gt.8&order=id", "1,2");
    expect_ids("created_at=gte.9&created_at=lt.10", "1");
    expect_ids("created_at=lte.5", "3");
}

Test(rest_tables, in_like_ilike_is_and_not_filter_rows)
{
    users_three();
    exec_ok("INSERT INTO users (email, name) VALUES ('d,e@x.io', 'Dee \"D\"')");
    expect_ids("id=in.(1,3)&order=id", "1,3");
    expect_ids("email=in.(\"d,e@x.io\",ann@x.io)&order=id", "1,4");
    expect_ids("name=in.(\"Dee \\\"D\\\"\")", "4");
    expect_ids("id=in.()", "");
    expect_ids("id=not.in.(1,3)&order=id", "2,4");
    expect_ids("email=like.c*", "3");
    expect_ids("name=ilike.*AN*", "1");
    expect_ids("name=is.null", "2");
    expect_ids("name=not.is.null&order=id.desc", "4,3,1");
    expect_ids("email=eq.ann%40x.io", "1");
}

Test(rest_tables, order_limit_offset_and_select_shape_the_list)
{
    users_three();
    expect_ids("order=created_at.desc", "2,1,3");
    expect_ids("order=name.asc", "2,1,3");
    expect_ids("order=name.asc.nullslast", "1,3,2");
    expect_ids("order=name.desc.nullsfirst", "2,3,1");
    expect_ids("order=id&limit=2", "1,2");
    expect_ids("order=id&limit=2&offset=1", "2,3");
    struct reply rp = expect(HTTP_GET, "/v1/users", "select=email,id&id=eq.3", NULL, NULL, 200);
    expect_json(rp.json, "[{\"email\":\"cat@x.io\",\"id\":3}]");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/users", "select=*&id=eq.3", NULL, NULL, 200);
    expect_json(rp.json, "[{\"id\":3,\"email\":\"cat@x.io\",\"name\":\"Cat\",\"created_at\":5}]");
    reply_free(&rp);
}

Test(rest_tables, lists_carry_content_range)
{
    users_three();
    struct reply rp = expect(HTTP_GET, "/v1/users", NULL, NULL, NULL, 200);
    cr_assert_str_eq(rp.extra, "Content-Range: 0-2/*\r\n");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/users", "limit=2&offset=1&order=id", NULL, NULL, 200);
    cr_assert_str_eq(rp.extra, "Content-Range: 1-2/*\r\n");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/users", "id=gt.100", NULL, NULL, 200);
    cr_assert_str_eq(rp.body, "[]");
    cr_assert_str_eq(rp.extra, "Content-Range: */0\r\n");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/users", "offset=10", NULL, NULL, 200);
    cr_assert_str_eq(rp.extra, "Content-Range: */*\r\n");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/users", "limit=0", NULL, NULL, 200);
    cr_assert_str_eq(rp.extra, "Content-Range: */*\r\n");
    reply_free(&rp);
}

Test(rest_tables, a_list_without_limit_stops_at_rest_rows_max)
{
    exec_ok("CREATE TABLE big (n INTEGER PRIMARY KEY, v TEXT);"
            "INSERT INTO big (n, v) WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 "
            "FROM c WHERE n < 10001) SELECT n, 'x' FROM c");
    struct reply rp = expect(HTTP_GET, "/v1/big", "select=n", NULL, NULL, 200);
    cr_assert_eq(json_array_size(rp.json), REST_ROWS_MAX);
    cr_assert_str_eq(rp.extra, "Content-Range: 0-9999/*\r\n");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/big", "select=n&offset=9999", NULL, NULL, 200);
    cr_assert_eq(json_array_size(rp.json), 2);
    cr_assert_str_eq(rp.extra, "Content-Range: 9999-10000/*\r\n");
    reply_free(&rp);
}

Test(rest_tables, get_by_key_answers_the_row_or_404)
{
    users_three();
    struct reply rp = expect(HTTP_GET, "/v1/users/2", NULL, NULL, NULL, 200);
    expect_json(rp.json, "{\"id\":2,\"email\":\"bob@x.io\",\"name\":null,\"created_at\":10}");
    cr_assert_str_eq(rp.extra, "");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/users/2", "select=email", NULL, NULL, 200);
    expect_json(rp.json, "{\"email\":\"bob@x.io\"}");
    reply_free(&rp);
    expect_error(HTTP_GET, "/v1/users/9", NULL, NULL, 404, "NOT_FOUND", "no row in users");
    expect_bad(HTTP_GET, "/v1/users/2", "order=id", NULL, "only select");
}

Test(rest_tables, a_composite_key_is_its_values_joined_by_commas)
{
    exec_ok("INSERT INTO orders VALUES (1, 1, 10), (1, 2, 20.5), (2, 1, 30)");
    struct reply rp = expect(HTTP_GET, "/v1/orders/1,2", NULL, NULL, NULL, 200);
    expect_json(rp.json, "{\"customer_id\":1,\"order_no\":2,\"amount\":\"20.50\"}");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/orders", "amount=gt.15&order=amount.desc", NULL, NULL, 200);
    expect_json(rp.json, "[{\"customer_id\":2,\"order_no\":1,\"amount\":\"30.00\"},"
                         "{\"customer_id\":1,\"order_no\":2,\"amount\":\"20.50\"}]");
    reply_free(&rp);
    expect_error(HTTP_GET, "/v1/orders/2,2", NULL, NULL, 404, "NOT_FOUND", "no row");
    expect_bad(HTTP_GET, "/v1/orders/1", NULL, NULL, "has 2 columns");
    expect_bad(HTTP_GET, "/v1/orders/1,2,3", NULL, NULL, "has 2 columns");
}

Test(rest_tables, patch_answers_the_row_204_or_404)
{
    users_three();
    struct reply rp = expect(HTTP_PATCH, "/v1/users/2", NULL, "return=representation",
                             "{\"name\": \"Bob\", \"created_at\": 11}", 200);
    expect_json(rp.json, "{\"id\":2,\"email\":\"bob@x.io\",\"name\":\"Bob\",\"created_at\":11}");
    reply_free(&rp);
    rp = expect(HTTP_PATCH, "/v1/users/3", NULL, NULL, "{\"name\": null}", 204);
    cr_assert_eq(rp.json, NULL);
    reply_free(&rp);
    cr_assert_eq(query_int("SELECT count(*) FROM users WHERE name IS NULL AND id = 3"), 1);
    expect_error(HTTP_PATCH, "/v1/users/9", NULL, "{\"name\": \"X\"}", 404, "NOT_FOUND", "no row");
    expect_error(HTTP_PATCH, "/v1/users/9", NULL, NULL, 400, "INVALID_ARGUMENT", "empty");
    expect_bad(HTTP_PATCH, "/v1/users/2", NULL, "{}", "at least one column");
    expect_bad(HTTP_PATCH, "/v1/users/2", NULL, "[{\"name\": \"x\"}]", "expected an object");
    expect_error(HTTP_PATCH, "/v1/users/2", NULL, "{\"email\": \"ann@x.io\"}", 409,
                 "FAILED_PRECONDITION", "UNIQUE");
}

Test(rest_tables, put_inserts_then_updates_the_row)
{
    struct reply rp = expect(HTTP_PUT, "/v1/orders/5,1", NULL, "return=representation",
                             "{\"customer_id\": 5, \"order_no\": 1, \"amount\": \"7\"}", 200);
    expect_json(rp.json, "{\"customer_id\":5,\"order_no\":1,\"amount\":\"7.00\"}");
    reply_free(&rp);
    rp = expect(HTTP_PUT, "/v1/orders/5,1", NULL, NULL,
                "{\"customer_id\": \"5\", \"order_no\": 1, \"amount\": 8.25}", 204);
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/orders/5,1", NULL, NULL, NULL, 200);
    expect_json(rp.json, "{\"customer_id\":5,\"order_no\":1,\"amount\":\"8.25\"}");
    reply_free(&rp);
    rp = expect(HTTP_PUT, "/v1/orders/5,1", NULL, "return=representation",
                "{\"customer_id\": 5, \"order_no\": 1}", 200);
    expect_json(rp.json, "{\"customer_id\":5,\"order_no\":1,\"amount\":\"8.25\"}");
    reply_free(&rp);
    cr_assert_eq(query_int("SELECT count(*) FROM orders"), 1);
}

Test(rest_tables, put_refuses_a_body_whose_key_differs_from_the_path)
{
    expect_bad(HTTP_PUT, "/v1/orders/5,1", NULL,
               "{\"customer_id\": 5, \"order_no\": 2, \"amount\": 1}", "differs");
    expect_bad(HTTP_PUT, "/v1/orders/5,1", NULL, "{\"customer_id\": 5, \"amount\": 1}",
               "order_no is missing");
    expect_bad(HTTP_PUT, "/v1/users/1", NULL, "{\"id\": 2, \"email\": \"a@x.io\"}", "differs");
    cr_assert_eq(query_int("SELECT count(*) FROM orders"), 0);
}

Test(rest_tables, delete_by_key_answers_204_then_404)
{
    users_three();
    struct reply rp = expect(HTTP_DELETE, "/v1/users/2", NULL, NULL, NULL, 204);
    reply_free(&rp);
    expect_error(HTTP_DELETE, "/v1/users/2", NULL, NULL, 404, "NOT_FOUND", "no row");
    rp = expect(HTTP_DELETE, "/v1/users/3", NULL, "return=representation", NULL, 200);
    expect_json(rp.json, "{\"id\":3,\"email\":\"cat@x.io\",\"name\":\"Cat\",\"created_at\":5}");
    reply_free(&rp);
    cr_assert_eq(query_int("SELECT count(*) FROM users"), 1);
}

Test(rest_tables, collection_delete_needs_a_filter)
{
    users_three();
    expect_bad(HTTP_DELETE, "/v1/users", NULL, NULL, "refusing to delete every row");
    expect_bad(HTTP_DELETE, "/v1/users", "limit=1", NULL, "only filters");
    struct reply rp = expect(HTTP_DELETE, "/v1/users", "created_at=lt.10", NULL, NULL, 204);
    reply_free(&rp);
    expect_ids("", "2");
}

Test(rest_tables, unknown_tables_columns_operators_and_limits_are_refused)
{
    expect_error(HTTP_GET, "/v1/users2", NULL, NULL, 404, "NOT_FOUND", "no table users2");
    expect_error(HTTP_GET, "/v1/users2/1", NULL, NULL, 404, "NOT_FOUND", "no table users2");
    expect_bad(HTTP_GET, "/v1/users", "nme=eq.1", NULL, "\"nme\"");
    expect_bad(HTTP_GET, "/v1/users", "select=id,nme", NULL, "no column \"nme\"");
    expect_bad(HTTP_GET, "/v1/users", "order=nme.desc", NULL, "no column \"nme\"");
    expect_bad(HTTP_POST, "/v1/users", NULL, "{\"email\": \"a@x.io\", \"nme\": 1}",
               "no column \"nme\"");
    expect_bad(HTTP_GET, "/v1/users", "id=eqq.1", NULL, "unknown operator");
    expect_bad(HTTP_GET, "/v1/users", "id=5", NULL, "unknown operator");
    expect_bad(HTTP_GET, "/v1/users", "name=is.maybe", NULL, "is takes null");
    expect_bad(HTTP_GET, "/v1/users", "id=in.1,2", NULL, "parentheses");
    expect_bad(HTTP_GET, "/v1/users", "id=in.(\"1,2)", NULL, "quoted");
    expect_bad(HTTP_GET, "/v1/users", "limit=-1", NULL, "limit must be");
    expect_bad(HTTP_GET, "/v1/users", "limit=abc", NULL, "limit must be");
    expect_bad(HTTP_GET, "/v1/users", "limit=10001", NULL, "at most 10000");
    expect_bad(HTTP_GET, "/v1/users", "offset=1.5", NULL, "offset must be");
    expect_bad(HTTP_GET, "/v1/users", "limit=1&limit=2", NULL, "twice");
    expect_bad(HTTP_GET, "/v1/users", "id=eq.%zz", NULL, "percent-escape");
    expect_bad(HTTP_POST, "/v1/users", "select=id", "{\"email\": \"a@x.io\"}", "no query");
}

Test(rest_tables, too_many_filters_are_refused)
{
    char query[2048] = "";
    for (int i = 0; i < 65; i++) {
        size_t n = strlen(query);
        snprintf(query + n, sizeof query - n, "%sid=gt.%d", i == 0 ? "" : "&", i);
    }
    expect_bad(HTTP_GET, "/v1/users", query, NULL, "more than");
}

Test(rest_tables, malformed_bodies_are_refused)
{
    expect_bad(HTTP_POST, "/v1/users", NULL, "{\"email\": ", "malformed JSON");
    expect_bad(HTTP_POST, "/v1/users", NULL, NULL, "empty");
    expect_bad(HTTP_POST, "/v1/users", NULL, "\"x\"", "an object or an array");
    expect_bad(HTTP_POST, "/v1/users", NULL, "[{\"email\": \"a@x.io\"}, 3]",
               "object 1: expected an object");
    expect_bad(HTTP_POST, "/v1/users", NULL, "{\"email\": \"a\", \"email\": \"b\"}",
               "malformed JSON");
    size_t cap = 4 * 1001 + 3, n = 0;
    char *many = malloc(cap);
    cr_assert_not_null(many);
    many[n++] = '[';
    for (int i = 0; i < 1001; i++) {
        n += (size_t)snprintf(many + n, cap - n, "%s{}", i == 0 ? "" : ",");
    }
    snprintf(many + n, cap - n, "]");
    expect_error(HTTP_POST, "/v1/users", NULL, many, 413, "RESOURCE_EXHAUSTED", "more than 1000");
    free(many);
    cr_assert_eq(query_int("SELECT count(*) FROM users"), 0);
}

Test(rest_tables, a_unique_violation_is_409_and_inserts_nothing_of_the_batch)
{
    users_three();
    expect_error(HTTP_POST, "/v1/users", NULL,
                 "[{\"email\": \"new1@x.io\"}, {\"email\": \"new2@x.io\"}, {\"email\": "
                 "\"ann@x.io\"}]",
                 409, "FAILED_PRECONDITION", "object 2: UNIQUE constraint failed: users.email");
    cr_assert_eq(query_int("SELECT count(*) FROM users"), 3);
    expect_error(HTTP_POST, "/v1/users", NULL, "{\"name\": \"no email\"}", 409,
                 "FAILED_PRECONDITION", "NOT NULL");
    struct reply rp = expect(HTTP_POST, "/v1/users", NULL, NULL, "{\"email\": \"new1@x.io\"}", 201);
    reply_free(&rp);
}

Test(rest_tables, names_with_quotes_work_as_identifiers)
{
    exec_ok("CREATE TABLE \"we\"\"ird\" (\"k\"\"ey\" INTEGER PRIMARY KEY, \"va\"\"l\" TEXT)");
    struct reply rp =
        expect(HTTP_POST, "/v1/we\"ird", NULL, NULL, "{\"k\\\"ey\": 1, \"va\\\"l\": \"x\"}", 201);
    cr_assert_str_eq(rp.extra, "Location: /v1/we%22ird/1\r\n");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/we\"ird", "va%22l=eq.x&select=k%22ey,va%22l&order=k%22ey.desc", NULL,
                NULL, 200);
    expect_json(rp.json, "[{\"k\\\"ey\":1,\"va\\\"l\":\"x\"}]");
    reply_free(&rp);
    rp = expect(HTTP_PATCH, "/v1/we\"ird/1", NULL, NULL, "{\"va\\\"l\": \"y\"}", 204);
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/we\"ird/1", NULL, NULL, NULL, 200);
    expect_json(rp.json, "{\"k\\\"ey\":1,\"va\\\"l\":\"y\"}");
    reply_free(&rp);
}

Test(rest_tables, sql_in_a_filter_value_is_only_a_value)
{
    users_three();
    expect_ids("email=eq.x'%20OR%20'1'='1", "");
    expect_ids("name=eq.Ann'%3B%20DROP%20TABLE%20users%3B--", "");
    expect_ids("name=in.(Ann\")%20OR%201=1--)", "");
    expect_ids("name=like.%25'%20OR%20'%25'='", "");
    struct reply rp = expect(HTTP_POST, "/v1/users", NULL, "return=representation",
                             "{\"email\": \"x'); DROP TABLE users; --\"}", 201);
    reply_free(&rp);
    expect_ids("email=eq.x')%3B%20DROP%20TABLE%20users%3B%20--", "4");
    cr_assert_eq(query_int("SELECT count(*) FROM users"), 4);
    /* '+' is not a space */
    expect_ids("name=eq.Ann+", "");
}

Test(rest_tables, wrong_methods_answer_405_with_allow)
{
    struct reply rp = expect(HTTP_PUT, "/v1/users", NULL, NULL, "{}", 405);
    cr_assert_str_eq(rp.extra, "Allow: GET, POST, DELETE\r\n");
    reply_free(&rp);
    rp = expect(HTTP_POST, "/v1/users/1", NULL, NULL, "{}", 405);
    cr_assert_str_eq(rp.extra, "Allow: GET, PATCH, PUT, DELETE\r\n");
    reply_free(&rp);
    rp = expect(HTTP_POST, "/v1/_openapi.json", NULL, NULL, NULL, 405);
    cr_assert_str_eq(rp.extra, "Allow: GET\r\n");
    reply_free(&rp);
}

Test(rest_tables, a_table_without_a_primary_key_has_only_its_collection)
{
    exec_ok("CREATE TABLE notes (body TEXT, n INTEGER)");
    struct reply rp =
        expect(HTTP_POST, "/v1/notes", NULL, NULL, "{\"body\": \"hi\", \"n\": 1}", 201);
    cr_assert_str_eq(rp.extra, "");
    reply_free(&rp);
    rp = expect(HTTP_GET, "/v1/notes", "n=eq.1", NULL, NULL, 200);
    expect_json(rp.json, "[{\"body\":\"hi\",\"n\":1}]");
    reply_free(&rp);
    expect_error(HTTP_GET, "/v1/notes/1", NULL, NULL, 404, "NOT_FOUND", "no primary key");
}

Test(rest_tables, reserved_and_other_paths_are_not_handled)
{
    static const char *const paths[] = {"/v1/_sql", "/v1/_batch", "/v1/_anything", "/v1/",
                                        "/v1",      "/health",    "/v2/users",     "/"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct rest_request r = {.method = HTTP_GET, .path = paths[i]};
        struct sqljson_answer a = {.http_status = 12345};
        char extra[64] = "untouched";
        cr_assert_eq(rest_tables_route(conn, &r, &a, extra, sizeof extra), 1, "%s", paths[i]);
        cr_assert_eq(a.http_status, 12345, "out is left alone");
        cr_assert_str_eq(extra, "untouched");
    }
}

/* The JSON at a path of object keys in root. */
static json_t *at(json_t *root, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n && root != NULL; i++) {
        root = json_object_get(root, keys[i]);
    }
    return root;
}

Test(rest_tables, the_openapi_document_describes_every_table)
{
    exec_ok("CREATE TABLE notes (body TEXT)");
    struct reply rp = expect(HTTP_GET, "/v1/_openapi.json", NULL, NULL, NULL, 200);
    json_t *doc = rp.json;
    cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    const char *const title[] = {"info", "title"};
    cr_assert_str_eq(json_string_value(at(doc, title, 2)), "HeliosDB-Lite");
    json_t *paths = json_object_get(doc, "paths");
    static const char *const want_paths[] = {
        "/v1/users", "/v1/users/{id}", "/v1/orders", "/v1/orders/{customer_id},{order_no}",
        "/v1/notes", "/health",        "/ready",     "/v1/_sql",
        "/v1/_batch"};
    for (size_t i = 0; i < sizeof want_paths / sizeof want_paths[0]; i++) {
        cr_assert_not_null(json_object_get(paths, want_paths[i]), "%s", want_paths[i]);
    }
    cr_assert_null(json_object_get(paths, "/v1/notes/{rowid}"));
    const char *const ops[] = {"get", "patch", "put", "delete"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_not_null(json_object_get(json_object_get(paths, "/v1/users/{id}"), ops[i]));
    }
    const char *const email[] = {"components", "schemas", "users", "properties", "email", "type"};
    cr_assert_str_eq(json_string_value(at(doc, email, 6)), "string");
    const char *const id[] = {"components", "schemas", "users", "properties", "id", "type"};
    cr_assert_str_eq(json_string_value(at(doc, id, 6)), "integer");
    const char *const name[] = {"components", "schemas", "users", "properties", "name", "type"};
    expect_json(at(doc, name, 6), "[\"string\",\"null\"]");
    const char *const amount[] = {"components", "schemas", "orders",
                                  "properties", "amount",  "format"};
    cr_assert_str_eq(json_string_value(at(doc, amount, 6)), "decimal");
    const char *const required[] = {"components", "schemas", "users", "required"};
    expect_json(at(doc, required, 4), "[\"email\"]");
    reply_free(&rp);
}
