/*
 * test_grpc.c — the gRPC calls (rpc/grpc.h) on a scratch database, without
 * HTTP/2: requests are built and answers read with the protobuf-c code
 * generated from rpc/proto/ and framed by hand. Covers typed values both
 * ways, framing (split byte by byte, several messages in one piece,
 * compression, limits, truncation), Query batches, Batch and Transaction
 * atomicity, snapshots, health Check and Watch, reflection, deadlines and
 * the status mapping.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health.pb-c.h"
#include "heliosdb.h"
#include "heliosdb.pb-c.h"
#include "reflection.pb-c.h"
#include "rpc/grpc.h"
#include "tests/core/testutil.h"

#define PATH_EXECUTE      "/heliosdb.v1.Database/Execute"
#define PATH_QUERY        "/heliosdb.v1.Database/Query"
#define PATH_BATCH        "/heliosdb.v1.Database/Batch"
#define PATH_TRANSACTION  "/heliosdb.v1.Database/Transaction"
#define PATH_REFLECTION   "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define PATH_REFLECTION_A "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
#define FRAMES_MAX        512u

static char *dir;
static heliosdb *db;
static heliosdb_conn *conn;
static struct grpc_env env;

static void setup(void)
{
    dir = tu_mkdtemp("grpc");
    heliosdb_error err;
    cr_assert_eq(heliosdb_open(dir, NULL, &db, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_connect(db, &conn, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_exec(conn,
                               "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, r REAL, "
                               "s TEXT, z TEXT, d DECIMAL(10,2), b BLOB);"
                               "CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT UNIQUE)",
                               &err),
                 HELIOSDB_OK, "%s", err.message);
    env = (struct grpc_env){.db = db,
                            .conn = conn,
                            .message_bytes_max = GRPC_MESSAGE_BYTES_MAX_DEFAULT,
                            .serving = true};
}

static void teardown(void)
{
    heliosdb_error err;
    grpc_env_release(&env);
    heliosdb_disconnect(conn);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK, "%s", err.message);
    tu_rmtree(dir);
    free(dir);
}

TestSuite(grpc, .init = setup, .fini = teardown, .timeout = 600);

/* ---- framing by hand ---- */

/* Request bytes being built. */
struct bytes {
    uint8_t *p;
    size_t len;
};

static void bytes_put(struct bytes *b, const void *data, size_t n)
{
    b->p = realloc(b->p, b->len + n + 1);
    cr_assert_not_null(b->p);
    if (n > 0) {
        memcpy(b->p + b->len, data, n);
    }
    b->len += n;
}

/* Appends a frame head: flag and big-endian length. */
static void bytes_head(struct bytes *b, uint8_t flag, uint32_t len)
{
    uint8_t head[5] = {flag, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                       (uint8_t)len};
    bytes_put(b, head, sizeof head);
}

/* Appends m as one uncompressed gRPC message. */
static void bytes_message(struct bytes *b, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *packed = malloc(len + 1);
    protobuf_c_message_pack(m, packed);
    bytes_head(b, 0, (uint32_t)len);
    bytes_put(b, packed, len);
    free(packed);
}

static void bytes_free(struct bytes *b)
{
    free(b->p);
    *b = (struct bytes){0};
}

/* A message of an answer. */
struct frame {
    const uint8_t *p;
    size_t len;
};

/* Splits out into its messages, checking every frame is whole and uncompressed. */
static size_t frames_of(const struct http1_out *out, struct frame *frames, size_t max)
{
    size_t n = 0, at = 0;
    while (at < out->len) {
        cr_assert_geq(out->len - at, 5, "a whole frame head");
        const uint8_t *h = out->data + at;
        cr_assert_eq(h[0], 0, "answers are not compressed");
        size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
        cr_assert_leq(len, out->len - at - 5, "a whole message");
        cr_assert_lt(n, max);
        frames[n++] = (struct frame){.p = h + 5, .len = len};
        at += 5 + len;
    }
    return n;
}

/* ---- calls ---- */

/* What a call ended with. */
struct outcome {
    int status;
    char msg[1024];
    struct http1_out out;
    size_t frames;
    struct frame frame[FRAMES_MAX];
};

static void outcome_free(struct outcome *o)
{
    http1_out_free(&o->out);
}

static struct grpc_call *call_open(const char *path, const char *timeout)
{
    int status = -1;
    char msg[256];
    struct grpc_call *c = grpc_call_new(&env, path, timeout, &status, msg, sizeof msg);
    cr_assert_not_null(c, "%s: %s", path, msg);
    cr_assert_eq(status, GRPC_OK);
    return c;
}

/* Feeds b whole (or byte by byte); returns what grpc_call_data returned last. */
static int call_feed(struct grpc_call *c, const struct bytes *b, bool byte_by_byte,
                     struct outcome *o)
{
    if (!byte_by_byte) {
        return grpc_call_data(c, b->p, b->len, &o->out, &o->status, o->msg, sizeof o->msg);
    }
    int rc = 0;
    for (size_t i = 0; i < b->len && rc == 0; i++) {
        rc = grpc_call_data(c, b->p + i, 1, &o->out, &o->status, o->msg, sizeof o->msg);
    }
    return rc;
}

/* A unary or server-streaming call of request m: its outcome and answer messages. */
static void call_unary(const char *path, const char *timeout, const ProtobufCMessage *m,
                       bool byte_by_byte, struct outcome *o)
{
    *o = (struct outcome){.status = -1};
    struct bytes b = {0};
    bytes_message(&b, m);
    struct grpc_call *c = call_open(path, timeout);
    cr_assert_eq(call_feed(c, &b, byte_by_byte, o), 0, "%s", o->msg);
    grpc_call_end(c, &o->out, &o->status, o->msg, sizeof o->msg);
    grpc_call_free(c);
    bytes_free(&b);
    o->frames = frames_of(&o->out, o->frame, FRAMES_MAX);
}

/* Feeds raw bytes to a new call at path; returns the outcome after grpc_call_data (and
 * grpc_call_end when the data did not end the call). */
static void call_raw(const char *path, const uint8_t *data, size_t len, struct outcome *o)
{
    *o = (struct outcome){.status = -1};
    struct grpc_call *c = call_open(path, NULL);
    if (grpc_call_data(c, data, len, &o->out, &o->status, o->msg, sizeof o->msg) == 0) {
        grpc_call_end(c, &o->out, &o->status, o->msg, sizeof o->msg);
    }
    grpc_call_free(c);
}

static void expect_status(const struct outcome *o, int status, const char *message_part)
{
    cr_assert_eq(o->status, status, "status %d (want %d): %s", o->status, status, o->msg);
    if (message_part != NULL) {
        cr_assert_not_null(strstr(o->msg, message_part), "\"%s\" holds \"%s\"", o->msg,
                           message_part);
    }
}

/* ---- requests and answers ---- */

static Heliosdb__V1__ExecuteRequest request_of(const char *sql, Heliosdb__V1__Value **params,
                                               size_t n_params)
{
    Heliosdb__V1__ExecuteRequest r = HELIOSDB__V1__EXECUTE_REQUEST__INIT;
    r.sql = (char *)sql;
    r.params = params;
    r.n_params = n_params;
    return r;
}

/* Execute of sql (no params): the outcome, and the answer unpacked when it is OK. */
static Heliosdb__V1__ExecuteResponse *execute(const char *sql, Heliosdb__V1__Value **params,
                                              size_t n_params, struct outcome *o)
{
    Heliosdb__V1__ExecuteRequest r = request_of(sql, params, n_params);
    call_unary(PATH_EXECUTE, NULL, &r.base, false, o);
    if (o->status != GRPC_OK) {
        cr_assert_eq(o->frames, 0, "no answer with an error");
        return NULL;
    }
    cr_assert_eq(o->frames, 1, "%s", o->msg);
    Heliosdb__V1__ExecuteResponse *a =
        heliosdb__v1__execute_response__unpack(NULL, o->frame[0].len, o->frame[0].p);
    cr_assert_not_null(a);
    return a;
}

/* Execute of sql that must succeed; the caller frees the answer. */
static Heliosdb__V1__ExecuteResponse *execute_ok(const char *sql)
{
    struct outcome o;
    Heliosdb__V1__ExecuteResponse *a = execute(sql, NULL, 0, &o);
    expect_status(&o, GRPC_OK, NULL);
    outcome_free(&o);
    return a;
}

/* Execute of sql that must fail with status and a message holding message_part. */
static void execute_fails(const char *sql, Heliosdb__V1__Value **params, size_t n_params,
                          int status, const char *message_part)
{
    struct outcome o;
    cr_assert_null(execute(sql, params, n_params, &o));
    expect_status(&o, status, message_part);
    outcome_free(&o);
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

static Heliosdb__V1__Value value_integer(int64_t v)
{
    Heliosdb__V1__Value x = HELIOSDB__V1__VALUE__INIT;
    x.kind_case = HELIOSDB__V1__VALUE__KIND_INTEGER;
    x.integer = v;
    return x;
}

static Heliosdb__V1__Value value_text(const char *s)
{
    Heliosdb__V1__Value x = HELIOSDB__V1__VALUE__INIT;
    x.kind_case = HELIOSDB__V1__VALUE__KIND_TEXT;
    x.text = (char *)s;
    return x;
}

/* ---- Execute ---- */

Test(grpc, execute_inserts_with_params_then_selects_typed_values)
{
    static uint8_t blob[] = {0, 1, 2, 255};
    Heliosdb__V1__Value v[6] = {value_integer(7)};
    v[1] = (Heliosdb__V1__Value)HELIOSDB__V1__VALUE__INIT;
    v[1].kind_case = HELIOSDB__V1__VALUE__KIND_REAL, v[1].real = 2.5;
    v[2] = value_text("h\xc3\xa9llo");
    v[3] = (Heliosdb__V1__Value)HELIOSDB__V1__VALUE__INIT;
    v[3].kind_case = HELIOSDB__V1__VALUE__KIND_NULL, v[3].null = 1;
    v[4] = (Heliosdb__V1__Value)HELIOSDB__V1__VALUE__INIT;
    v[4].kind_case = HELIOSDB__V1__VALUE__KIND_DECIMAL, v[4].decimal = "12.5";
    v[5] = (Heliosdb__V1__Value)HELIOSDB__V1__VALUE__INIT;
    v[5].kind_case = HELIOSDB__V1__VALUE__KIND_BLOB;
    v[5].blob = (ProtobufCBinaryData){.len = sizeof blob, .data = blob};
    Heliosdb__V1__Value *params[6] = {&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]};
    struct outcome o;
    Heliosdb__V1__ExecuteResponse *a =
        execute("INSERT INTO t (n, r, s, z, d, b) VALUES (?, ?, ?, ?, ?, ?)", params, 6, &o);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_str_eq(o.msg, "");
    cr_assert_eq(a->n_columns, 0);
    cr_assert_eq(a->n_rows, 0);
    cr_assert_eq(a->rows_affected, 1);
    cr_assert_eq(a->last_insert_id, 1);
    heliosdb__v1__execute_response__free_unpacked(a, NULL);
    outcome_free(&o);

    /* An unset kind binds NULL too. */
    v[0] = (Heliosdb__V1__Value)HELIOSDB__V1__VALUE__INIT;
    a = execute("INSERT INTO t (n) VALUES (?)", params, 1, &o);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_eq(a->last_insert_id, 2);
    heliosdb__v1__execute_response__free_unpacked(a, NULL);
    outcome_free(&o);

    a = execute_ok("SELECT id, n, r, s, z, d, b FROM t ORDER BY id");
    const char *names[] = {"id", "n", "r", "s", "z", "d", "b"};
    cr_assert_eq(a->n_columns, 7);
    for (size_t i = 0; i < 7; i++) {
        cr_assert_str_eq(a->columns[i], names[i]);
    }
    cr_assert_eq(a->n_rows, 2);
    cr_assert_eq(a->rows_affected, 0);
    Heliosdb__V1__Value **row = a->rows[0]->values;
    cr_assert_eq(a->rows[0]->n_values, 7);
    cr_assert_eq(row[0]->kind_case, HELIOSDB__V1__VALUE__KIND_INTEGER);
    cr_assert_eq(row[0]->integer, 1);
    cr_assert_eq(row[1]->kind_case, HELIOSDB__V1__VALUE__KIND_INTEGER);
    cr_assert_eq(row[1]->integer, 7);
    cr_assert_eq(row[2]->kind_case, HELIOSDB__V1__VALUE__KIND_REAL);
    cr_assert_float_eq(row[2]->real, 2.5, 1e-12);
    cr_assert_eq(row[3]->kind_case, HELIOSDB__V1__VALUE__KIND_TEXT);
    cr_assert_str_eq(row[3]->text, "h\xc3\xa9llo");
    cr_assert_eq(row[4]->kind_case, HELIOSDB__V1__VALUE__KIND_NULL);
    cr_assert(row[4]->null);
    cr_assert_eq(row[5]->kind_case, HELIOSDB__V1__VALUE__KIND_DECIMAL);
    cr_assert_str_eq(row[5]->decimal, "12.50");
    cr_assert_eq(row[6]->kind_case, HELIOSDB__V1__VALUE__KIND_BLOB);
    cr_assert_eq(row[6]->blob.len, sizeof blob);
    cr_assert_arr_eq(row[6]->blob.data, blob, sizeof blob);
    cr_assert_eq(a->rows[1]->values[1]->kind_case, HELIOSDB__V1__VALUE__KIND_NULL);
    heliosdb__v1__execute_response__free_unpacked(a, NULL);
}

Test(grpc, execute_answers_rows_affected_for_an_update)
{
    Heliosdb__V1__ExecuteResponse *a =
        execute_ok("INSERT INTO u (email) VALUES ('a'); INSERT INTO u (email) VALUES ('b')");
    cr_assert_eq(a->rows_affected, 1);
    cr_assert_eq(a->last_insert_id, 2);
    heliosdb__v1__execute_response__free_unpacked(a, NULL);
    a = execute_ok("UPDATE u SET email = email || 'x'");
    cr_assert_eq(a->rows_affected, 2);
    heliosdb__v1__execute_response__free_unpacked(a, NULL);
}

Test(grpc, execute_binds_params_to_the_one_statement_that_takes_them)
{
    Heliosdb__V1__Value v = value_text("a");
    Heliosdb__V1__Value *params[] = {&v};
    struct outcome o;
    Heliosdb__V1__ExecuteResponse *a =
        execute("INSERT INTO u (email) VALUES (?); SELECT email FROM u", params, 1, &o);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_eq(a->n_rows, 1);
    cr_assert_str_eq(a->rows[0]->values[0]->text, "a");
    heliosdb__v1__execute_response__free_unpacked(a, NULL);
    outcome_free(&o);
}

Test(grpc, execute_refuses_bad_texts_and_params_and_runs_nothing)
{
    Heliosdb__V1__Value v[2] = {value_text("a"), value_integer(1)};
    Heliosdb__V1__Value *params[] = {&v[0], &v[1]};
    execute_fails("INSERT INTO u (email) VALUES (?); SELECT ?", params, 2, GRPC_INVALID_ARGUMENT,
                  "both take parameters");
    execute_fails("INSERT INTO u (email) VALUES (?)", params, 2, GRPC_INVALID_ARGUMENT,
                  "2 params given, the statement takes 1");
    execute_fails("INSERT INTO u (email) VALUES ('a'); SELEC 1", NULL, 0, GRPC_INVALID_ARGUMENT,
                  "at offset");
    execute_fails("", NULL, 0, GRPC_INVALID_ARGUMENT, "no statement");
    execute_fails("SELECT * FROM nope", NULL, 0, GRPC_INVALID_ARGUMENT, NULL);
    execute_fails("BEGIN; INSERT INTO u (email) VALUES ('a')", NULL, 0, GRPC_INVALID_ARGUMENT,
                  "transaction open");
    cr_assert_eq(count_u(), 0, "nothing ran");
    cr_assert_eq(heliosdb_in_transaction(conn), 0);
}

Test(grpc, execute_unique_violation_is_failed_precondition)
{
    heliosdb__v1__execute_response__free_unpacked(execute_ok("INSERT INTO u (email) VALUES ('a')"),
                                                  NULL);
    execute_fails("INSERT INTO u (email) VALUES ('a')", NULL, 0, GRPC_FAILED_PRECONDITION,
                  "UNIQUE constraint failed");
}

Test(grpc, execute_of_more_rows_than_the_limit_is_resource_exhausted)
{
    execute_fails("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE "
                  "x < 100001) SELECT x FROM n",
                  NULL, 0, GRPC_RESOURCE_EXHAUSTED, "rows");
}

Test(grpc, messages_split_byte_by_byte_are_put_back_together)
{
    Heliosdb__V1__Value v = value_text("split");
    Heliosdb__V1__Value *params[] = {&v};
    Heliosdb__V1__ExecuteRequest r = request_of("INSERT INTO u (email) VALUES (?)", params, 1);
    struct outcome o;
    call_unary(PATH_EXECUTE, NULL, &r.base, true, &o);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_eq(o.frames, 1);
    outcome_free(&o);

    /* An empty message (CreateSnapshotRequest {}) split the same way. */
    Heliosdb__V1__CreateSnapshotRequest s = HELIOSDB__V1__CREATE_SNAPSHOT_REQUEST__INIT;
    call_unary("/heliosdb.v1.Database/CreateSnapshot", NULL, &s.base, true, &o);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_eq(o.frames, 1);
    outcome_free(&o);
    cr_assert_eq(count_u(), 1);
}

/* ---- Query ---- */

Test(grpc, query_of_1200_rows_answers_batches_of_500_500_200_columns_in_the_first)
{
    Heliosdb__V1__ExecuteRequest r =
        request_of("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE "
                   "x < 1200) SELECT x FROM n",
                   NULL, 0);
    struct outcome o;
    call_unary(PATH_QUERY, NULL, &r.base, false, &o);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_eq(o.frames, 3);
    size_t want_rows[] = {500, 500, 200};
    int64_t next = 1;
    for (size_t i = 0; i < 3; i++) {
        Heliosdb__V1__QueryBatch *b =
            heliosdb__v1__query_batch__unpack(NULL, o.frame[i].len, o.frame[i].p);
        cr_assert_not_null(b);
        cr_assert_eq(b->n_rows, want_rows[i]);
        cr_assert_eq(b->n_columns, i == 0 ? 1 : 0, "columns only in the first batch");
        if (i == 0) {
            cr_assert_str_eq(b->columns[0], "x");
        }
        for (size_t k = 0; k < b->n_rows; k++) {
            cr_assert_eq(b->rows[k]->values[0]->integer, next++);
        }
        heliosdb__v1__query_batch__free_unpacked(b, NULL);
    }
    outcome_free(&o);
}

Test(grpc, query_of_no_rows_still_sends_one_batch_with_the_columns)
{
    Heliosdb__V1__ExecuteRequest r = request_of("SELECT id, email FROM u", NULL, 0);
    struct outcome o;
    call_unary(PATH_QUERY, NULL, &r.base, false, &o);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_eq(o.frames, 1);
    Heliosdb__V1__QueryBatch *b =
        heliosdb__v1__query_batch__unpack(NULL, o.frame[0].len, o.frame[0].p);
    cr_assert_eq(b->n_columns, 2);
    cr_assert_str_eq(b->columns[1], "email");
    cr_assert_eq(b->n_rows, 0);
    heliosdb__v1__query_batch__free_unpacked(b, NULL);
    outcome_free(&o);
}

Test(grpc, query_over_the_row_limit_keeps_the_batches_sent_and_fails)
{
    Heliosdb__V1__ExecuteRequest r =
        request_of("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE "
                   "x < 100001) SELECT x FROM n",
                   NULL, 0);
    struct outcome o;
    call_unary(PATH_QUERY, NULL, &r.base, false, &o);
    expect_status(&o, GRPC_RESOURCE_EXHAUSTED, "100000 rows");
    cr_assert_eq(o.frames, 100000 / GRPC_QUERY_BATCH_ROWS, "the full batches before the limit");
    outcome_free(&o);
}

/* ---- Batch ---- */

Test(grpc, batch_commits_every_statement)
{
    Heliosdb__V1__Value v = value_text("a");
    Heliosdb__V1__Value *params[] = {&v};
    Heliosdb__V1__ExecuteRequest s[3] = {request_of("INSERT INTO u (email) VALUES (?)", params, 1),
                                         request_of("INSERT INTO u (email) VALUES ('b')", NULL, 0),
                                         request_of("SELECT email FROM u ORDER BY email", NULL, 0)};
    Heliosdb__V1__ExecuteRequest *list[] = {&s[0], &s[1], &s[2]};
    Heliosdb__V1__BatchRequest b = HELIOSDB__V1__BATCH_REQUEST__INIT;
    b.n_statements = 3;
    b.statements = list;
    struct outcome o;
    call_unary(PATH_BATCH, NULL, &b.base, false, &o);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_eq(o.frames, 1);
    Heliosdb__V1__BatchResponse *a =
        heliosdb__v1__batch_response__unpack(NULL, o.frame[0].len, o.frame[0].p);
    cr_assert_eq(a->n_results, 3);
    cr_assert_eq(a->results[0]->rows_affected, 1);
    cr_assert_eq(a->results[1]->last_insert_id, 2);
    cr_assert_eq(a->results[2]->n_rows, 2);
    cr_assert_str_eq(a->results[2]->rows[1]->values[0]->text, "b");
    heliosdb__v1__batch_response__free_unpacked(a, NULL);
    outcome_free(&o);
    cr_assert_eq(count_u(), 2, "both inserts are visible after the batch");
}

Test(grpc, batch_unique_violation_rolls_back_everything_as_failed_precondition)
{
    Heliosdb__V1__ExecuteRequest s[2] = {request_of("INSERT INTO u (email) VALUES ('a')", NULL, 0),
                                         request_of("INSERT INTO u (email) VALUES ('a')", NULL, 0)};
    Heliosdb__V1__ExecuteRequest *list[] = {&s[0], &s[1]};
    Heliosdb__V1__BatchRequest b = HELIOSDB__V1__BATCH_REQUEST__INIT;
    b.n_statements = 2;
    b.statements = list;
    struct outcome o;
    call_unary(PATH_BATCH, NULL, &b.base, false, &o);
    expect_status(&o, GRPC_FAILED_PRECONDITION, "UNIQUE constraint failed");
    cr_assert_eq(strncmp(o.msg, "statements[1]: ", 15), 0, "%s", o.msg);
    cr_assert_eq(o.frames, 0);
    outcome_free(&o);
    cr_assert_eq(count_u(), 0, "the first insert was rolled back");
    cr_assert_eq(heliosdb_in_transaction(conn), 0);
}

Test(grpc, batch_statement_ending_the_transaction_is_refused)
{
    Heliosdb__V1__ExecuteRequest s[3] = {request_of("INSERT INTO u (email) VALUES ('a')", NULL, 0),
                                         request_of("COMMIT", NULL, 0),
                                         request_of("INSERT INTO u (email) VALUES ('b')", NULL, 0)};
    Heliosdb__V1__ExecuteRequest *list[] = {&s[0], &s[1], &s[2]};
    Heliosdb__V1__BatchRequest b = HELIOSDB__V1__BATCH_REQUEST__INIT;
    b.n_statements = 3;
    b.statements = list;
    struct outcome o;
    call_unary(PATH_BATCH, NULL, &b.base, false, &o);
    expect_status(&o, GRPC_INVALID_ARGUMENT, "statements[1]: ended the batch's transaction");
    outcome_free(&o);
    cr_assert_eq(heliosdb_in_transaction(conn), 0);
}

Test(grpc, batch_of_too_many_statements_is_resource_exhausted)
{
    size_t n = 1001;
    Heliosdb__V1__ExecuteRequest *s = malloc(n * sizeof *s);
    Heliosdb__V1__ExecuteRequest **list = malloc(n * sizeof *list);
    for (size_t i = 0; i < n; i++) {
        s[i] = request_of("INSERT INTO u (email) VALUES (NULL)", NULL, 0);
        list[i] = &s[i];
    }
    Heliosdb__V1__BatchRequest b = HELIOSDB__V1__BATCH_REQUEST__INIT;
    b.n_statements = n;
    b.statements = list;
    struct outcome o;
    call_unary(PATH_BATCH, NULL, &b.base, false, &o);
    expect_status(&o, GRPC_RESOURCE_EXHAUSTED, "statements");
    outcome_free(&o);
    free(list);
    free(s);
    cr_assert_eq(count_u(), 0);
}

/* ---- Transaction ---- */

static void txn_execute(struct bytes *b, const char *sql)
{
    Heliosdb__V1__ExecuteRequest e = request_of(sql, NULL, 0);
    Heliosdb__V1__TransactionRequest r = HELIOSDB__V1__TRANSACTION_REQUEST__INIT;
    r.action_case = HELIOSDB__V1__TRANSACTION_REQUEST__ACTION_EXECUTE;
    r.execute = &e;
    bytes_message(b, &r.base);
}

static void txn_finish(struct bytes *b, bool commit)
{
    Heliosdb__V1__TransactionRequest r = HELIOSDB__V1__TRANSACTION_REQUEST__INIT;
    r.action_case = commit ? HELIOSDB__V1__TRANSACTION_REQUEST__ACTION_COMMIT
                           : HELIOSDB__V1__TRANSACTION_REQUEST__ACTION_ROLLBACK;
    r.commit = commit, r.rollback = !commit;
    bytes_message(b, &r.base);
}

/* The result case of each TransactionResponse in o, in order, into cases. */
static void txn_results(struct outcome *o, int *cases, size_t want)
{
    o->frames = frames_of(&o->out, o->frame, FRAMES_MAX);
    cr_assert_eq(o->frames, want);
    for (size_t i = 0; i < o->frames; i++) {
        Heliosdb__V1__TransactionResponse *r =
            heliosdb__v1__transaction_response__unpack(NULL, o->frame[i].len, o->frame[i].p);
        cr_assert_not_null(r);
        cases[i] = (int)r->result_case;
        heliosdb__v1__transaction_response__free_unpacked(r, NULL);
    }
}

Test(grpc, transaction_execute_execute_commit_is_visible_after)
{
    struct bytes b = {0};
    txn_execute(&b, "INSERT INTO u (email) VALUES ('a')");
    txn_execute(&b, "INSERT INTO u (email) VALUES ('b')");
    txn_finish(&b, true);
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open(PATH_TRANSACTION, NULL);
    cr_assert_eq(call_feed(c, &b, false, &o), 1, "the call is over at commit");
    expect_status(&o, GRPC_OK, NULL);
    int cases[3];
    txn_results(&o, cases, 3);
    cr_assert_eq(cases[0], HELIOSDB__V1__TRANSACTION_RESPONSE__RESULT_EXECUTED);
    cr_assert_eq(cases[1], HELIOSDB__V1__TRANSACTION_RESPONSE__RESULT_EXECUTED);
    cr_assert_eq(cases[2], HELIOSDB__V1__TRANSACTION_RESPONSE__RESULT_COMMITTED);
    grpc_call_end(c, &o.out, &o.status, o.msg, sizeof o.msg);
    expect_status(&o, GRPC_OK, NULL);
    grpc_call_free(c);
    cr_assert_eq(count_u(), 2);
    outcome_free(&o);
    bytes_free(&b);
}

Test(grpc, transaction_answers_each_message_as_it_comes)
{
    struct bytes b1 = {0}, b2 = {0};
    txn_execute(&b1, "INSERT INTO u (email) VALUES ('a')");
    txn_execute(&b2, "SELECT count(*) AS n FROM u");
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open(PATH_TRANSACTION, NULL);
    cr_assert_eq(call_feed(c, &b1, true, &o), 0);
    cr_assert_eq(frames_of(&o.out, o.frame, FRAMES_MAX), 1, "answered before the stream ends");
    cr_assert_eq(call_feed(c, &b2, false, &o), 0);
    cr_assert_eq(frames_of(&o.out, o.frame, FRAMES_MAX), 2);
    Heliosdb__V1__TransactionResponse *r =
        heliosdb__v1__transaction_response__unpack(NULL, o.frame[1].len, o.frame[1].p);
    cr_assert_eq(r->executed->rows[0]->values[0]->integer, 1, "the transaction sees its insert");
    heliosdb__v1__transaction_response__free_unpacked(r, NULL);
    grpc_call_free(c);
    outcome_free(&o);
    bytes_free(&b1);
    bytes_free(&b2);
    cr_assert_eq(count_u(), 0, "freed without commit: rolled back");
}

Test(grpc, transaction_execute_then_rollback_is_not_visible)
{
    struct bytes b = {0};
    txn_execute(&b, "INSERT INTO u (email) VALUES ('a')");
    txn_finish(&b, false);
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open(PATH_TRANSACTION, NULL);
    cr_assert_eq(call_feed(c, &b, false, &o), 1);
    expect_status(&o, GRPC_OK, NULL);
    int cases[2];
    txn_results(&o, cases, 2);
    cr_assert_eq(cases[1], HELIOSDB__V1__TRANSACTION_RESPONSE__RESULT_ROLLED_BACK);
    grpc_call_free(c);
    cr_assert_eq(count_u(), 0);
    outcome_free(&o);
    bytes_free(&b);
}

Test(grpc, transaction_ended_without_commit_rolls_back_as_aborted)
{
    struct bytes b = {0};
    txn_execute(&b, "INSERT INTO u (email) VALUES ('a')");
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open(PATH_TRANSACTION, NULL);
    cr_assert_eq(call_feed(c, &b, false, &o), 0);
    grpc_call_end(c, &o.out, &o.status, o.msg, sizeof o.msg);
    expect_status(&o, GRPC_ABORTED, "without COMMIT: rolled back");
    cr_assert_eq(count_u(), 0, "rolled back at the end, before the free");
    grpc_call_free(c);
    outcome_free(&o);
    bytes_free(&b);
}

Test(grpc, transaction_error_ends_the_call_with_its_status_and_rolls_back)
{
    struct bytes b = {0};
    txn_execute(&b, "INSERT INTO u (email) VALUES ('a')");
    txn_execute(&b, "INSERT INTO u (email) VALUES ('a')");
    txn_execute(&b, "INSERT INTO u (email) VALUES ('c')");
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open(PATH_TRANSACTION, NULL);
    cr_assert_eq(call_feed(c, &b, false, &o), 1);
    expect_status(&o, GRPC_FAILED_PRECONDITION, "UNIQUE constraint failed");
    int cases[1];
    txn_results(&o, cases, 1);
    cr_assert_eq(count_u(), 0, "rolled back when the error ended the call");
    grpc_call_end(c, &o.out, &o.status, o.msg, sizeof o.msg);
    expect_status(&o, GRPC_FAILED_PRECONDITION, NULL);
    grpc_call_free(c);
    outcome_free(&o);
    bytes_free(&b);
}

Test(grpc, transaction_message_after_commit_is_failed_precondition)
{
    struct bytes b = {0}, more = {0};
    txn_execute(&b, "INSERT INTO u (email) VALUES ('a')");
    txn_finish(&b, true);
    txn_execute(&b, "INSERT INTO u (email) VALUES ('b')");
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open(PATH_TRANSACTION, NULL);
    cr_assert_eq(call_feed(c, &b, false, &o), 1);
    expect_status(&o, GRPC_FAILED_PRECONDITION, "transaction is over");
    grpc_call_free(c);
    cr_assert_eq(count_u(), 1, "the commit stands, the message after it did not run");
    outcome_free(&o);

    /* The same when the message comes in a later piece. */
    bytes_free(&b);
    txn_finish(&b, false);
    txn_execute(&more, "INSERT INTO u (email) VALUES ('b')");
    o = (struct outcome){.status = -1};
    c = call_open(PATH_TRANSACTION, NULL);
    cr_assert_eq(call_feed(c, &b, false, &o), 1);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_eq(call_feed(c, &more, false, &o), 1);
    expect_status(&o, GRPC_FAILED_PRECONDITION, "transaction is over");
    grpc_call_free(c);
    cr_assert_eq(count_u(), 1);
    outcome_free(&o);
    bytes_free(&b);
    bytes_free(&more);
}

Test(grpc, transaction_message_without_an_action_is_invalid_argument)
{
    struct bytes b = {0};
    txn_execute(&b, "INSERT INTO u (email) VALUES ('a')");
    Heliosdb__V1__TransactionRequest r = HELIOSDB__V1__TRANSACTION_REQUEST__INIT;
    bytes_message(&b, &r.base);
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open(PATH_TRANSACTION, NULL);
    cr_assert_eq(call_feed(c, &b, false, &o), 1);
    expect_status(&o, GRPC_INVALID_ARGUMENT, "without an action");
    grpc_call_free(c);
    cr_assert_eq(count_u(), 0);
    outcome_free(&o);
    bytes_free(&b);
}

/* ---- snapshots ---- */

Test(grpc, create_snapshot_then_list_snapshots_shows_it)
{
    Heliosdb__V1__CreateSnapshotRequest cr = HELIOSDB__V1__CREATE_SNAPSHOT_REQUEST__INIT;
    struct outcome o;
    call_unary("/heliosdb.v1.Database/CreateSnapshot", NULL, &cr.base, false, &o);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_eq(o.frames, 1);
    Heliosdb__V1__Snapshot *s = heliosdb__v1__snapshot__unpack(NULL, o.frame[0].len, o.frame[0].p);
    cr_assert_gt(s->id, 0);
    cr_assert_gt(s->created_ms, 0);
    outcome_free(&o);

    Heliosdb__V1__ListSnapshotsRequest lr = HELIOSDB__V1__LIST_SNAPSHOTS_REQUEST__INIT;
    call_unary("/heliosdb.v1.Database/ListSnapshots", NULL, &lr.base, false, &o);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert_eq(o.frames, 1);
    Heliosdb__V1__ListSnapshotsResponse *l =
        heliosdb__v1__list_snapshots_response__unpack(NULL, o.frame[0].len, o.frame[0].p);
    cr_assert_eq(l->n_snapshots, 1);
    cr_assert_eq(l->snapshots[0]->id, s->id);
    cr_assert_eq(l->snapshots[0]->created_ms, s->created_ms);
    heliosdb__v1__list_snapshots_response__free_unpacked(l, NULL);
    heliosdb__v1__snapshot__free_unpacked(s, NULL);
    outcome_free(&o);
}

/* ---- Health ---- */

/* Health Check of service: the outcome, and the status answered (-1 with none). */
static int health_check(const char *service, struct outcome *o)
{
    Grpc__Health__V1__HealthCheckRequest r = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    r.service = (char *)service;
    call_unary("/grpc.health.v1.Health/Check", NULL, &r.base, false, o);
    if (o->frames == 0) {
        return -1;
    }
    cr_assert_eq(o->frames, 1);
    Grpc__Health__V1__HealthCheckResponse *a =
        grpc__health__v1__health_check_response__unpack(NULL, o->frame[0].len, o->frame[0].p);
    int status = (int)a->status;
    grpc__health__v1__health_check_response__free_unpacked(a, NULL);
    return status;
}

Test(grpc, health_check_answers_serving_for_known_services)
{
    struct outcome o;
    cr_assert_eq(health_check("", &o),
                 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    expect_status(&o, GRPC_OK, NULL);
    outcome_free(&o);
    cr_assert_eq(health_check("heliosdb.v1.Database", &o),
                 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    outcome_free(&o);
}

Test(grpc, health_check_answers_not_serving_while_shutting_down)
{
    env.serving = false;
    struct outcome o;
    cr_assert_eq(health_check("", &o),
                 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    expect_status(&o, GRPC_OK, NULL);
    outcome_free(&o);
}

Test(grpc, health_check_of_an_unknown_service_is_not_found)
{
    struct outcome o;
    cr_assert_eq(health_check("nope.v1.Nothing", &o), -1);
    expect_status(&o, GRPC_NOT_FOUND, "nope.v1.Nothing");
    outcome_free(&o);
}

/* The statuses of the HealthCheckResponse messages of out, in order, into statuses. */
static size_t watch_statuses(const struct http1_out *out, int *statuses, size_t max)
{
    struct frame frames[8];
    size_t n = frames_of(out, frames, 8);
    cr_assert_leq(n, max);
    for (size_t i = 0; i < n; i++) {
        Grpc__Health__V1__HealthCheckResponse *a =
            grpc__health__v1__health_check_response__unpack(NULL, frames[i].len, frames[i].p);
        cr_assert_not_null(a);
        statuses[i] = (int)a->status;
        grpc__health__v1__health_check_response__free_unpacked(a, NULL);
    }
    return n;
}

Test(grpc, health_watch_answers_at_once_then_poll_appends_not_serving)
{
    Grpc__Health__V1__HealthCheckRequest r = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    struct bytes b = {0};
    bytes_message(&b, &r.base);
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open("/grpc.health.v1.Health/Watch", NULL);
    cr_assert(grpc_call_is_watch(c));
    cr_assert_eq(call_feed(c, &b, true, &o), 0);
    int statuses[4];
    cr_assert_eq(watch_statuses(&o.out, statuses, 4), 1, "answered when the request came");
    cr_assert_eq(statuses[0], GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    grpc_call_end(c, &o.out, &o.status, o.msg, sizeof o.msg);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert(grpc_call_is_watch(c), "the end of the request keeps a Watch open");
    cr_assert_not(grpc_call_poll(c, &o.out), "nothing changed");
    env.serving = false;
    cr_assert(grpc_call_poll(c, &o.out));
    cr_assert_not(grpc_call_poll(c, &o.out), "sent once");
    cr_assert_eq(watch_statuses(&o.out, statuses, 4), 2);
    cr_assert_eq(statuses[1], GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    grpc_call_free(c);
    outcome_free(&o);
    bytes_free(&b);
}

Test(grpc, health_watch_of_an_unknown_service_answers_service_unknown_and_stays_open)
{
    Grpc__Health__V1__HealthCheckRequest r = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    r.service = "nope";
    struct bytes b = {0};
    bytes_message(&b, &r.base);
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open("/grpc.health.v1.Health/Watch", NULL);
    cr_assert_eq(call_feed(c, &b, false, &o), 0);
    grpc_call_end(c, &o.out, &o.status, o.msg, sizeof o.msg);
    expect_status(&o, GRPC_OK, NULL);
    cr_assert(grpc_call_is_watch(c));
    int statuses[2];
    cr_assert_eq(watch_statuses(&o.out, statuses, 2), 1);
    cr_assert_eq(statuses[0],
                 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN);
    env.serving = false;
    cr_assert_not(grpc_call_poll(c, &o.out), "an unknown service stays unknown");
    grpc_call_free(c);
    outcome_free(&o);
    bytes_free(&b);
}

Test(grpc, health_watch_without_a_request_is_internal_and_not_kept_open)
{
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open("/grpc.health.v1.Health/Watch", NULL);
    grpc_call_end(c, &o.out, &o.status, o.msg, sizeof o.msg);
    expect_status(&o, GRPC_INTERNAL, "without a message");
    cr_assert_not(grpc_call_is_watch(c));
    cr_assert_not(grpc_call_poll(c, &o.out));
    grpc_call_free(c);
    outcome_free(&o);
}

/* ---- reflection ---- */

typedef Grpc__Reflection__V1__ServerReflectionResponse reflection_response;

/* Sends the requests (one per kind/name pair) on one reflection stream at path; returns the
 * answers in order (the caller frees each). */
static void reflect(const char *path, size_t n, const int *kinds, const char *const *names,
                    reflection_response **answers)
{
    struct bytes b = {0};
    for (size_t i = 0; i < n; i++) {
        Grpc__Reflection__V1__ServerReflectionRequest r =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
        r.host = "localhost";
        r.message_request_case = kinds[i];
        r.file_by_filename = (char *)names[i]; /* the oneof's strings share their storage */
        bytes_message(&b, &r.base);
    }
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open(path, NULL);
    cr_assert_eq(call_feed(c, &b, false, &o), 0, "%s", o.msg);
    grpc_call_end(c, &o.out, &o.status, o.msg, sizeof o.msg);
    expect_status(&o, GRPC_OK, NULL);
    grpc_call_free(c);
    o.frames = frames_of(&o.out, o.frame, FRAMES_MAX);
    cr_assert_eq(o.frames, n, "one answer per request");
    for (size_t i = 0; i < n; i++) {
        answers[i] = grpc__reflection__v1__server_reflection_response__unpack(NULL, o.frame[i].len,
                                                                              o.frame[i].p);
        cr_assert_not_null(answers[i]);
        cr_assert_str_eq(answers[i]->valid_host, "localhost");
        cr_assert_not_null(answers[i]->original_request);
        cr_assert_eq((int)answers[i]->original_request->message_request_case, kinds[i]);
    }
    outcome_free(&o);
    bytes_free(&b);
}

#define LIST_SERVICES GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES
#define BY_FILENAME                                                                                \
    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME
#define BY_SYMBOL                                                                                  \
    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL
#define FILES_ANSWER                                                                               \
    GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE
#define ERROR_ANSWER                                                                               \
    GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE

static bool bytes_hold(const ProtobufCBinaryData *b, const char *text)
{
    return memmem(b->data, b->len, text, strlen(text)) != NULL;
}

Test(grpc, reflection_list_services_names_the_four_services_on_both_paths)
{
    const char *paths[] = {PATH_REFLECTION, PATH_REFLECTION_A};
    const char *want[] = {"heliosdb.v1.Database", "grpc.health.v1.Health",
                          "grpc.reflection.v1.ServerReflection",
                          "grpc.reflection.v1alpha.ServerReflection"};
    for (size_t p = 0; p < 2; p++) {
        int kinds[] = {LIST_SERVICES};
        const char *names[] = {"*"};
        reflection_response *a[1];
        reflect(paths[p], 1, kinds, names, a);
        cr_assert_eq(
            a[0]->message_response_case,
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
        cr_assert_eq(a[0]->list_services_response->n_service, 4);
        for (size_t i = 0; i < 4; i++) {
            cr_assert_str_eq(a[0]->list_services_response->service[i]->name, want[i]);
        }
        grpc__reflection__v1__server_reflection_response__free_unpacked(a[0], NULL);
    }
}

Test(grpc, reflection_file_containing_symbol_answers_the_file_that_defines_it)
{
    const char *symbols[] = {
        "heliosdb.v1.Database",
        "heliosdb.v1.Database.Execute",
        "heliosdb.v1.Value.decimal",
        "heliosdb.v1.TransactionRequest.action",
        "grpc.health.v1.HealthCheckResponse.ServingStatus",
        "grpc.health.v1.HealthCheckResponse.SERVING",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1alpha.ErrorResponse",
    };
    const char *files[] = {"heliosdb.proto",
                           "heliosdb.proto",
                           "heliosdb.proto",
                           "heliosdb.proto",
                           "health.proto",
                           "health.proto",
                           "reflection.proto",
                           "reflection_v1alpha.proto",
                           "reflection_v1alpha.proto"};
    size_t n = sizeof symbols / sizeof symbols[0];
    int kinds[sizeof symbols / sizeof symbols[0]];
    for (size_t i = 0; i < n; i++) {
        kinds[i] = BY_SYMBOL;
    }
    reflection_response *a[sizeof symbols / sizeof symbols[0]];
    reflect(PATH_REFLECTION, n, kinds, symbols, a);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(a[i]->message_response_case, FILES_ANSWER, "%s", symbols[i]);
        Grpc__Reflection__V1__FileDescriptorResponse *f = a[i]->file_descriptor_response;
        cr_assert_eq(f->n_file_descriptor_proto, 1, "no dependencies");
        /* FileDescriptorProto: name (field 1) first, as protoc writes it. */
        const ProtobufCBinaryData *d = &f->file_descriptor_proto[0];
        size_t name_len = strlen(files[i]);
        cr_assert_geq(d->len, 2 + name_len);
        cr_assert_eq(d->data[0], 0x0a);
        cr_assert_eq(d->data[1], name_len);
        cr_assert_eq(memcmp(d->data + 2, files[i], name_len), 0, "%s is in %s", symbols[i],
                     files[i]);
        grpc__reflection__v1__server_reflection_response__free_unpacked(a[i], NULL);
    }
    kinds[0] = BY_SYMBOL;
    reflect(PATH_REFLECTION, 1, kinds, symbols, a);
    cr_assert(bytes_hold(&a[0]->file_descriptor_response->file_descriptor_proto[0], "heliosdb.v1"));
    cr_assert(bytes_hold(&a[0]->file_descriptor_response->file_descriptor_proto[0], "Database"));
    grpc__reflection__v1__server_reflection_response__free_unpacked(a[0], NULL);
}

Test(grpc, reflection_file_by_filename_answers_the_file_and_unknown_names_not_found)
{
    const char *names[] = {
        "health.proto",          "nope.proto",         "heliosdb.v1.Nope",           "heliosdb.v1",
        "heliosdb.v1.Database.", "heliosdb.v1..Value", "heliosdb.v1.Value.decimal.x"};
    int kinds[] = {BY_FILENAME, BY_FILENAME, BY_SYMBOL, BY_SYMBOL, BY_SYMBOL, BY_SYMBOL, BY_SYMBOL};
    size_t n = sizeof names / sizeof names[0];
    reflection_response *a[sizeof names / sizeof names[0]];
    reflect(PATH_REFLECTION_A, n, kinds, names, a);
    cr_assert_eq(a[0]->message_response_case, FILES_ANSWER);
    cr_assert(
        bytes_hold(&a[0]->file_descriptor_response->file_descriptor_proto[0], "grpc.health.v1"));
    for (size_t i = 1; i < n; i++) {
        cr_assert_eq(a[i]->message_response_case, ERROR_ANSWER, "%s", names[i]);
        cr_assert_eq(a[i]->error_response->error_code, GRPC_NOT_FOUND);
        cr_assert_not_null(strstr(a[i]->error_response->error_message, names[i]));
    }
    for (size_t i = 0; i < n; i++) {
        grpc__reflection__v1__server_reflection_response__free_unpacked(a[i], NULL);
    }
}

Test(grpc, reflection_answers_extension_requests_and_requests_without_a_kind)
{
    Grpc__Reflection__V1__ExtensionRequest ext = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
    ext.containing_type = "heliosdb.v1.Value";
    ext.extension_number = 100;
    Grpc__Reflection__V1__ServerReflectionRequest r[4];
    for (size_t i = 0; i < 4; i++) {
        r[i] = (Grpc__Reflection__V1__ServerReflectionRequest)
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    }
    r[0].message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
    r[0].all_extension_numbers_of_type = "heliosdb.v1.Value";
    r[1].message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
    r[1].all_extension_numbers_of_type = "heliosdb.v1.Database"; /* a service, not a message */
    r[2].message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
    r[2].file_containing_extension = &ext;
    struct bytes b = {0};
    for (size_t i = 0; i < 4; i++) {
        bytes_message(&b, &r[i].base);
    }
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open(PATH_REFLECTION, NULL);
    cr_assert_eq(call_feed(c, &b, false, &o), 0);
    grpc_call_end(c, &o.out, &o.status, o.msg, sizeof o.msg);
    expect_status(&o, GRPC_OK, NULL);
    grpc_call_free(c);
    o.frames = frames_of(&o.out, o.frame, FRAMES_MAX);
    cr_assert_eq(o.frames, 4);
    int want_codes[] = {-1, GRPC_NOT_FOUND, GRPC_NOT_FOUND, GRPC_INVALID_ARGUMENT};
    for (size_t i = 0; i < 4; i++) {
        reflection_response *a = grpc__reflection__v1__server_reflection_response__unpack(
            NULL, o.frame[i].len, o.frame[i].p);
        if (want_codes[i] < 0) {
            cr_assert_eq(
                a->message_response_case,
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
            cr_assert_str_eq(a->all_extension_numbers_response->base_type_name,
                             "heliosdb.v1.Value");
            cr_assert_eq(a->all_extension_numbers_response->n_extension_number, 0);
        } else {
            cr_assert_eq(a->message_response_case, ERROR_ANSWER, "answer %zu", i);
            cr_assert_eq(a->error_response->error_code, want_codes[i], "answer %zu", i);
        }
        grpc__reflection__v1__server_reflection_response__free_unpacked(a, NULL);
    }
    outcome_free(&o);
    bytes_free(&b);
}

Test(grpc, reflection_malformed_request_ends_the_stream_invalid_argument)
{
    struct outcome o;
    const uint8_t bad[] = {0, 0, 0, 0, 3, 0x3a, 1, 0xc0}; /* list_services = "\xc0" */
    call_raw(PATH_REFLECTION, bad, sizeof bad, &o);
    expect_status(&o, GRPC_INVALID_ARGUMENT, "malformed ServerReflectionRequest");
    outcome_free(&o);
}

/* ---- errors ---- */

Test(grpc, unknown_method_is_unimplemented)
{
    int status = -1;
    char msg[256];
    cr_assert_null(
        grpc_call_new(&env, "/heliosdb.v1.Database/Nope", NULL, &status, msg, sizeof msg));
    cr_assert_eq(status, GRPC_UNIMPLEMENTED);
    cr_assert_not_null(strstr(msg, "/heliosdb.v1.Database/Nope"), "%s", msg);
    cr_assert_null(grpc_call_new(&env, "/", NULL, &status, msg, sizeof msg));
    cr_assert_eq(status, GRPC_UNIMPLEMENTED);
}

Test(grpc, malformed_message_is_invalid_argument)
{
    struct outcome o;
    const uint8_t not_protobuf[] = {0, 0, 0, 0, 2, 0xff, 0xff};
    call_raw(PATH_EXECUTE, not_protobuf, sizeof not_protobuf, &o);
    expect_status(&o, GRPC_INVALID_ARGUMENT, "malformed ExecuteRequest");
    cr_assert_eq(o.out.len, 0);
    outcome_free(&o);

    /* sql = "a\0b": protobuf-c would cut it at the NUL. */
    const uint8_t nul[] = {0, 0, 0, 0, 5, 0x0a, 3, 'a', 0, 'b'};
    call_raw(PATH_EXECUTE, nul, sizeof nul, &o);
    expect_status(&o, GRPC_INVALID_ARGUMENT, "malformed ExecuteRequest");
    outcome_free(&o);

    /* A text param that is not UTF-8, inside a Batch: statements { sql "?", params { text
     * "\xff" } }. */
    const uint8_t batch[] = {0, 0, 0, 0, 10, 0x0a, 8, 0x0a, 1, '?', 0x12, 3, 0x1a, 1, 0xff};
    call_raw(PATH_BATCH, batch, sizeof batch, &o);
    expect_status(&o, GRPC_INVALID_ARGUMENT, "malformed BatchRequest");
    outcome_free(&o);
    cr_assert_eq(count_u(), 0);
}

Test(grpc, message_over_the_limit_is_resource_exhausted)
{
    env.message_bytes_max = 16;
    struct outcome o;
    const uint8_t head[] = {0, 0, 0, 0, 17};
    call_raw(PATH_EXECUTE, head, sizeof head, &o);
    expect_status(&o, GRPC_RESOURCE_EXHAUSTED, "17 bytes");
    outcome_free(&o);
    const uint8_t huge[] = {0, 0xff, 0xff, 0xff, 0xff};
    call_raw(PATH_TRANSACTION, huge, sizeof huge, &o);
    expect_status(&o, GRPC_RESOURCE_EXHAUSTED, NULL);
    outcome_free(&o);
}

Test(grpc, compressed_message_is_unimplemented_and_other_flags_internal)
{
    struct outcome o;
    const uint8_t compressed[] = {1, 0, 0, 0, 0};
    call_raw(PATH_EXECUTE, compressed, sizeof compressed, &o);
    expect_status(&o, GRPC_UNIMPLEMENTED, "compression is not supported");
    outcome_free(&o);
    const uint8_t flag2[] = {2, 0, 0, 0, 0};
    call_raw(PATH_EXECUTE, flag2, sizeof flag2, &o);
    expect_status(&o, GRPC_INTERNAL, NULL);
    outcome_free(&o);
}

Test(grpc, stream_ending_inside_a_message_or_without_one_is_internal)
{
    struct outcome o;
    const uint8_t cut[] = {0, 0, 0, 0, 4, 0x0a, 2};
    call_raw(PATH_EXECUTE, cut, sizeof cut, &o);
    expect_status(&o, GRPC_INTERNAL, "inside a message");
    outcome_free(&o);
    const uint8_t head_only[] = {0, 0};
    call_raw(PATH_TRANSACTION, head_only, sizeof head_only, &o);
    expect_status(&o, GRPC_INTERNAL, "inside a message");
    outcome_free(&o);
    call_raw(PATH_EXECUTE, NULL, 0, &o);
    expect_status(&o, GRPC_INTERNAL, "without a message");
    outcome_free(&o);
}

Test(grpc, second_message_to_a_unary_method_is_internal)
{
    Heliosdb__V1__ExecuteRequest r = request_of("INSERT INTO u (email) VALUES ('a')", NULL, 0);
    struct bytes b = {0};
    bytes_message(&b, &r.base);
    bytes_message(&b, &r.base);
    struct outcome o;
    call_raw(PATH_EXECUTE, b.p, b.len, &o);
    expect_status(&o, GRPC_INTERNAL, "one request message");
    outcome_free(&o);
    bytes_free(&b);
    cr_assert_eq(count_u(), 0, "nothing ran");
}

/* ---- deadlines ---- */

Test(grpc, grpc_timeout_ms_parses_valid_values_and_refuses_others)
{
    struct {
        const char *text;
        int64_t ms;
    } cases[] = {
        {"1S", 1000},
        {"250m", 250},
        {"100u", 1},
        {"1500u", 2},
        {"5n", 1},
        {"1000000n", 1},
        {"2M", 120000},
        {"1H", 3600000},
        {"0m", 0},
        {"99999999S", 99999999000},
        {"99999999H", 99999999LL * 3600000},
        {"", -1},
        {"S", -1},
        {"1", -1},
        {"1s", -1},
        {"123456789S", -1},
        {"-1S", -1},
        {"1.5S", -1},
        {" 1S", -1},
        {"1SS", -1},
        {"+1S", -1},
        {"1 S", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(grpc_timeout_ms(cases[i].text), cases[i].ms, "\"%s\"", cases[i].text);
    }
    cr_assert_eq(grpc_timeout_ms(NULL), -1);
}

Test(grpc, malformed_grpc_timeout_is_invalid_argument)
{
    int status = -1;
    char msg[256];
    cr_assert_null(grpc_call_new(&env, PATH_EXECUTE, "soon", &status, msg, sizeof msg));
    cr_assert_eq(status, GRPC_INVALID_ARGUMENT);
    cr_assert_not_null(strstr(msg, "grpc-timeout"), "%s", msg);
}

Test(grpc, past_deadline_is_deadline_exceeded_and_runs_nothing)
{
    Heliosdb__V1__ExecuteRequest r = request_of("INSERT INTO u (email) VALUES ('a')", NULL, 0);
    struct bytes b = {0};
    bytes_message(&b, &r.base);
    struct outcome o = {.status = -1};
    struct grpc_call *c = call_open(PATH_EXECUTE, "1n");
    cr_assert_eq(call_feed(c, &b, false, &o), 0);
    struct timespec nap = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
    nanosleep(&nap, NULL);
    grpc_call_end(c, &o.out, &o.status, o.msg, sizeof o.msg);
    expect_status(&o, GRPC_DEADLINE_EXCEEDED, "deadline");
    cr_assert_eq(o.out.len, 0);
    grpc_call_free(c);
    outcome_free(&o);
    cr_assert_eq(count_u(), 0, "nothing ran");

    /* A Transaction checks at each message. */
    o = (struct outcome){.status = -1};
    c = call_open(PATH_TRANSACTION, "1m");
    nanosleep(&nap, NULL);
    bytes_free(&b);
    txn_execute(&b, "INSERT INTO u (email) VALUES ('a')");
    cr_assert_eq(call_feed(c, &b, false, &o), 1);
    expect_status(&o, GRPC_DEADLINE_EXCEEDED, NULL);
    grpc_call_free(c);
    outcome_free(&o);
    bytes_free(&b);
    cr_assert_eq(count_u(), 0);
}

Test(grpc, call_within_its_deadline_runs)
{
    Heliosdb__V1__ExecuteRequest r = request_of("INSERT INTO u (email) VALUES ('a')", NULL, 0);
    struct outcome o;
    call_unary(PATH_EXECUTE, "10S", &r.base, false, &o);
    expect_status(&o, GRPC_OK, NULL);
    outcome_free(&o);
    cr_assert_eq(count_u(), 1);
}

/* ---- status codes ---- */

Test(grpc, grpc_status_of_maps_every_code)
{
    struct {
        int heliosdb, grpc;
    } cases[] = {
        {HELIOSDB_OK, GRPC_OK},
        {HELIOSDB_ROW, GRPC_OK},
        {HELIOSDB_DONE, GRPC_OK},
        {HELIOSDB_ERROR, GRPC_INTERNAL},
        {HELIOSDB_INVALID, GRPC_INVALID_ARGUMENT},
        {HELIOSDB_NOTFOUND, GRPC_NOT_FOUND},
        {HELIOSDB_CORRUPT, GRPC_INTERNAL},
        {HELIOSDB_IOERR, GRPC_UNAVAILABLE},
        {HELIOSDB_NOSPACE, GRPC_RESOURCE_EXHAUSTED},
        {HELIOSDB_NOMEM, GRPC_RESOURCE_EXHAUSTED},
        {HELIOSDB_BUSY, GRPC_UNAVAILABLE},
        {HELIOSDB_TOOBIG, GRPC_RESOURCE_EXHAUSTED},
        {HELIOSDB_FULL, GRPC_RESOURCE_EXHAUSTED},
        {HELIOSDB_READONLY, GRPC_UNAVAILABLE},
        {HELIOSDB_CONFLICT, GRPC_ABORTED},
        {HELIOSDB_CONSTRAINT, GRPC_FAILED_PRECONDITION},
        {HELIOSDB_EXISTS, GRPC_ALREADY_EXISTS},
        {HELIOSDB_TIMEOUT, GRPC_DEADLINE_EXCEEDED},
        {999, GRPC_INTERNAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(grpc_status_of(cases[i].heliosdb), cases[i].grpc, "%s",
                     heliosdb_status_name(cases[i].heliosdb));
    }
}
