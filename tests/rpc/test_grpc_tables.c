/*
 * test_grpc_tables.c — the per-table gRPC services generated from the catalog
 * (rpc/grpc_tables.h) on a scratch database, through rpc/grpc.h's calls with
 * messages encoded and decoded by hand: the .proto text, Create, Get, List
 * paging, Update, Delete, NOT_FOUND, wrong wire types, stable field numbers
 * across ALTER TABLE ADD COLUMN, and reflection of the generated file.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heliosdb.h"
#include "reflection.pb-c.h"
#include "rpc/grpc.h"
#include "rpc/grpc_tables.h"
#include "tests/core/testutil.h"

#define USERS   "/heliosdb.tables.v1.UsersService/"
#define ORDERS  "/heliosdb.tables.v1.OrdersService/"
#define ANSWERS 4

static char *dir;
static heliosdb *db;
static heliosdb_conn *conn;
static struct grpc_tables_cache cache;
static struct grpc_env env;

static void exec_ok(const char *sql)
{
    heliosdb_error err;
    cr_assert_eq(heliosdb_exec(conn, sql, &err), HELIOSDB_OK, "%s: %s", sql, err.message);
}

static void setup(void)
{
    dir = tu_mkdtemp("grpc_tables");
    heliosdb_error err;
    cr_assert_eq(heliosdb_open(dir, NULL, &db, &err), HELIOSDB_OK, "%s", err.message);
    cr_assert_eq(heliosdb_connect(db, &conn, &err), HELIOSDB_OK, "%s", err.message);
    exec_ok("CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL "
            "UNIQUE, name TEXT, created_at INTEGER);"
            "CREATE TABLE orders (user_id INTEGER, line INTEGER, amount DECIMAL(12,2), "
            "note TEXT, PRIMARY KEY (user_id, line));"
            "CREATE TABLE log (msg TEXT)");
    cache = (struct grpc_tables_cache){0};
    env = (struct grpc_env){.db = db,
                            .conn = conn,
                            .message_bytes_max = GRPC_MESSAGE_BYTES_MAX_DEFAULT,
                            .serving = true,
                            .tables_enabled = true,
                            .tables_cache = &cache};
}

static void teardown(void)
{
    heliosdb_error err;
    grpc_tables_cache_free(&cache);
    grpc_env_release(&env);
    heliosdb_disconnect(conn);
    cr_assert_eq(heliosdb_close(db, &err), HELIOSDB_OK, "%s", err.message);
    tu_rmtree(dir);
    free(dir);
}

TestSuite(grpc_tables, .init = setup, .fini = teardown, .timeout = 600);

/* ---- messages by hand ---- */

struct msg {
    uint8_t p[4096];
    size_t len;
};

static void put_varint(struct msg *m, uint64_t v)
{
    do {
        cr_assert_lt(m->len, sizeof m->p);
        m->p[m->len++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
}

static void put_int(struct msg *m, uint32_t field, int64_t v)
{
    put_varint(m, (uint64_t)field << 3);
    put_varint(m, (uint64_t)v);
}

static void put_bytes(struct msg *m, uint32_t field, const void *p, size_t n)
{
    put_varint(m, (uint64_t)field << 3 | 2);
    put_varint(m, n);
    cr_assert_leq(m->len + n, sizeof m->p);
    memcpy(m->p + m->len, p, n);
    m->len += n;
}

static void put_text(struct msg *m, uint32_t field, const char *s)
{
    put_bytes(m, field, s, strlen(s));
}

/* A decoded answer: the last value of each field number below 16 (varints in num, bytes in
 * text with their length), and the LEN fields numbered 1 one by one (List's rows). */
struct fields {
    bool has[16];
    int64_t num[16];
    char text[16][256];
    size_t rows;
    struct msg row[128];
};

static uint64_t get_varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (unsigned shift = 0; *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
            return v;
        }
    }
    cr_assert_fail("a varint cut short");
    return 0;
}

static void decode(const uint8_t *p, size_t len, struct fields *f)
{
    memset(f, 0, sizeof *f);
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t key = get_varint(&p, end);
        uint32_t field = (uint32_t)(key >> 3);
        cr_assert_lt(field, 16);
        f->has[field] = true;
        if ((key & 7) == 0) {
            f->num[field] = (int64_t)get_varint(&p, end);
        } else {
            cr_assert_eq(key & 7, 2, "only varints and LEN in these answers");
            size_t n = (size_t)get_varint(&p, end);
            cr_assert_leq(n, (size_t)(end - p));
            snprintf(f->text[field], sizeof f->text[field], "%.*s", (int)n, (const char *)p);
            if (field == 1 && f->rows < 128) {
                memcpy(f->row[f->rows].p, p, n);
                f->row[f->rows++].len = n;
            }
            p += n;
        }
    }
}

/* ---- calls ---- */

struct outcome {
    int status;
    char msg[1024];
    struct fields answer;
};

static void call(const char *path, const struct msg *m, struct outcome *o)
{
    *o = (struct outcome){.status = -1};
    struct http1_out out = {0};
    uint8_t head[5] = {0, (uint8_t)(m->len >> 24), (uint8_t)(m->len >> 16), (uint8_t)(m->len >> 8),
                       (uint8_t)m->len};
    struct grpc_call *c = grpc_call_new(&env, path, NULL, &o->status, o->msg, sizeof o->msg);
    if (c == NULL) {
        return;
    }
    cr_assert_eq(grpc_call_data(c, head, sizeof head, &out, &o->status, o->msg, sizeof o->msg), 0);
    cr_assert_eq(grpc_call_data(c, m->p, m->len, &out, &o->status, o->msg, sizeof o->msg), 0);
    grpc_call_end(c, &out, &o->status, o->msg, sizeof o->msg);
    grpc_call_free(c);
    if (o->status == GRPC_OK) {
        cr_assert_geq(out.len, 5);
        size_t len = (size_t)out.data[1] << 24 | (size_t)out.data[2] << 16 |
                     (size_t)out.data[3] << 8 | out.data[4];
        cr_assert_eq(out.len, 5 + len, "one answer message");
        decode(out.data + 5, len, &o->answer);
    } else {
        cr_assert_eq(out.len, 0, "no answer with an error");
    }
    http1_out_free(&out);
}

static void call_ok(const char *path, const struct msg *m, struct outcome *o)
{
    call(path, m, o);
    cr_assert_eq(o->status, GRPC_OK, "%s: %d %s", path, o->status, o->msg);
}

static const char *proto_text(void)
{
    const struct grpc_tables *g = NULL;
    heliosdb_error err;
    cr_assert_eq(grpc_tables_get(conn, &cache, &g, &err), HELIOSDB_OK, "%s", err.message);
    return grpc_tables_proto(g);
}

static int64_t create_user(const char *email, const char *name)
{
    struct msg m = {0};
    put_text(&m, 2, email);
    if (name != NULL) {
        put_text(&m, 3, name);
    }
    struct outcome o;
    call_ok(USERS "Create", &m, &o);
    cr_assert(o.answer.has[1], "the rowid is filled");
    cr_assert_str_eq(o.answer.text[2], email);
    cr_assert_eq(o.answer.has[3], name != NULL, "NULL is left out");
    return o.answer.num[1];
}

/* ---- tests ---- */

Test(grpc_tables, proto_text_names_messages_fields_and_services_from_the_catalog)
{
    const char *p = proto_text();
    static const char *const parts[] = {
        "syntax = \"proto3\";",
        "package heliosdb.tables.v1;",
        "message Users {\n  optional int64 id = 1;",
        "  optional string email = 2;",
        "  optional string name = 3;",
        "  optional int64 created_at = 4;",
        "message UsersKey {\n  int64 id = 1;\n}",
        "message UsersListRequest {\n  int32 page_size = 1;\n  string page_token = 2;\n}",
        "message UsersList {\n  repeated Users rows = 1;\n  string next_page_token = 2;\n}",
        "message UsersDeleted {}",
        "service UsersService {\n  rpc Create(Users) returns (Users);\n"
        "  rpc Get(UsersKey) returns (Users);\n"
        "  rpc List(UsersListRequest) returns (UsersList);\n"
        "  rpc Update(Users) returns (Users);\n"
        "  rpc Delete(UsersKey) returns (UsersDeleted);\n}",
        "message Orders {\n  optional int64 user_id = 1;",
        "  optional int64 line = 2;",
        "  optional string amount = 3; // amount DECIMAL(12,2)",
        "message OrdersKey {\n  int64 user_id = 1;\n  int64 line = 2;\n}",
        "service LogService {\n  rpc Create(Log) returns (Log);\n"
        "  rpc List(LogListRequest) returns (LogList);\n}",
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        cr_assert_not_null(strstr(p, parts[i]), "missing: %s\nin:\n%s", parts[i], p);
    }
    cr_assert_null(strstr(p, "LogKey"), "no key messages for a table without a primary key");
}

Test(grpc_tables, tables_whose_names_clash_or_are_empty_are_skipped_with_a_comment)
{
    exec_ok("CREATE TABLE \"users key\" (a TEXT); CREATE TABLE \"--\" (a TEXT)");
    const char *p = proto_text();
    cr_assert_not_null(strstr(p, "// table users key is skipped"), "%s", p);
    cr_assert_not_null(strstr(p, "// table -- is skipped"), "%s", p);
    cr_assert_not_null(strstr(p, "message UsersKey {\n  int64 id = 1;"), "users keeps its names");
}

Test(grpc_tables, create_get_update_delete_a_user)
{
    int64_t id = create_user("ann@example.com", "Ann");
    cr_assert_eq(id, 1);
    struct msg key = {0};
    put_int(&key, 1, id);
    struct outcome o;
    call_ok(USERS "Get", &key, &o);
    cr_assert_str_eq(o.answer.text[2], "ann@example.com");
    cr_assert_str_eq(o.answer.text[3], "Ann");
    cr_assert(!o.answer.has[4], "created_at is NULL: left out");

    struct msg up = {0};
    put_int(&up, 1, id);
    put_text(&up, 3, "Annie");
    put_int(&up, 4, 1700000000);
    call_ok(USERS "Update", &up, &o);
    cr_assert_str_eq(o.answer.text[3], "Annie");
    cr_assert_str_eq(o.answer.text[2], "ann@example.com", "a field absent is left as it is");
    cr_assert_eq(o.answer.num[4], 1700000000);

    call_ok(USERS "Delete", &key, &o);
    cr_assert(!o.answer.has[1] && !o.answer.has[2], "TDeleted is empty");
    call(USERS "Get", &key, &o);
    cr_assert_eq(o.status, GRPC_NOT_FOUND, "%s", o.msg);
    call(USERS "Delete", &key, &o);
    cr_assert_eq(o.status, GRPC_NOT_FOUND, "%s", o.msg);
    call(USERS "Update", &up, &o);
    cr_assert_eq(o.status, GRPC_NOT_FOUND, "%s", o.msg);
}

Test(grpc_tables, create_refused_by_a_constraint_is_failed_precondition)
{
    create_user("bob@example.com", NULL);
    struct msg m = {0};
    put_text(&m, 2, "bob@example.com");
    struct outcome o;
    call(USERS "Create", &m, &o);
    cr_assert_eq(o.status, GRPC_FAILED_PRECONDITION, "%d %s", o.status, o.msg);
    struct msg empty = {0};
    call(USERS "Create", &empty, &o);
    cr_assert_eq(o.status, GRPC_FAILED_PRECONDITION, "email is NOT NULL: %d %s", o.status, o.msg);
}

Test(grpc_tables, list_pages_250_rows_in_pages_of_100_100_50)
{
    exec_ok("BEGIN");
    for (int i = 0; i < 250; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT INTO users (email) VALUES ('u%03d@example.com')", i);
        exec_ok(sql);
    }
    exec_ok("COMMIT");
    char token[256] = "";
    size_t sizes[3] = {0};
    int64_t next_id = 1;
    for (int page = 0; page < 3; page++) {
        struct msg m = {0};
        put_int(&m, 1, 100);
        if (token[0] != '\0') {
            put_text(&m, 2, token);
        }
        struct outcome o;
        call_ok(USERS "List", &m, &o);
        sizes[page] = o.answer.rows;
        for (size_t r = 0; r < o.answer.rows; r++) {
            struct fields row;
            decode(o.answer.row[r].p, o.answer.row[r].len, &row);
            cr_assert_eq(row.num[1], next_id, "key order across pages");
            next_id++;
        }
        cr_assert_eq(o.answer.has[2], page < 2, "a token while more rows follow");
        snprintf(token, sizeof token, "%s", o.answer.text[2]);
    }
    cr_assert_eq(sizes[0], 100);
    cr_assert_eq(sizes[1], 100);
    cr_assert_eq(sizes[2], 50);
}

Test(grpc_tables, list_of_a_composite_key_pages_in_key_order_with_decimals_exact)
{
    exec_ok("INSERT INTO orders VALUES (2, 1, 10.50, 'x'), (1, 2, 3.00, NULL), (1, 1, 0.10, 'a'),"
            " (2, 2, 99.99, 'b'), (3, 1, 1.25, 'c')");
    static const int64_t want[5][2] = {{1, 1}, {1, 2}, {2, 1}, {2, 2}, {3, 1}};
    static const char *const amounts[5] = {"0.10", "3.00", "10.50", "99.99", "1.25"};
    char token[256] = "";
    size_t seen = 0;
    for (int page = 0; page < 3; page++) {
        struct msg m = {0};
        put_int(&m, 1, 2);
        if (token[0] != '\0') {
            put_text(&m, 2, token);
        }
        struct outcome o;
        call_ok(ORDERS "List", &m, &o);
        for (size_t r = 0; r < o.answer.rows; r++, seen++) {
            struct fields row;
            decode(o.answer.row[r].p, o.answer.row[r].len, &row);
            cr_assert_eq(row.num[1], want[seen][0]);
            cr_assert_eq(row.num[2], want[seen][1]);
            cr_assert_str_eq(row.text[3], amounts[seen]);
        }
        snprintf(token, sizeof token, "%s", o.answer.text[2]);
    }
    cr_assert_eq(seen, 5);
    cr_assert_str_eq(token, "", "the last page has no token");

    struct msg key = {0};
    put_int(&key, 1, 2);
    put_int(&key, 2, 1);
    struct outcome o;
    call_ok(ORDERS "Get", &key, &o);
    cr_assert_str_eq(o.answer.text[3], "10.50");
    cr_assert_str_eq(o.answer.text[4], "x");
}

Test(grpc_tables, a_table_without_a_key_has_create_and_list_only)
{
    struct msg m = {0};
    put_text(&m, 1, "hello");
    struct outcome o;
    call_ok("/heliosdb.tables.v1.LogService/Create", &m, &o);
    cr_assert_str_eq(o.answer.text[1], "hello");
    call_ok("/heliosdb.tables.v1.LogService/Create", &m, &o);
    call_ok("/heliosdb.tables.v1.LogService/Create", &m, &o);
    struct msg list = {0};
    put_int(&list, 1, 2);
    call_ok("/heliosdb.tables.v1.LogService/List", &list, &o);
    cr_assert_eq(o.answer.rows, 2);
    char token[256];
    snprintf(token, sizeof token, "%s", o.answer.text[2]);
    list = (struct msg){0};
    put_int(&list, 1, 2);
    put_text(&list, 2, token);
    call_ok("/heliosdb.tables.v1.LogService/List", &list, &o);
    cr_assert_eq(o.answer.rows, 1);
    cr_assert(!o.answer.has[2]);
    call("/heliosdb.tables.v1.LogService/Get", &m, &o);
    cr_assert_eq(o.status, GRPC_UNIMPLEMENTED, "%d %s", o.status, o.msg);
}

Test(grpc_tables, a_wrong_wire_type_or_bad_bytes_is_invalid_argument)
{
    struct msg m = {0};
    put_int(&m, 2, 5); /* email is a string */
    struct outcome o;
    call(USERS "Create", &m, &o);
    cr_assert_eq(o.status, GRPC_INVALID_ARGUMENT, "%d %s", o.status, o.msg);
    cr_assert_not_null(strstr(o.msg, "email"), "%s", o.msg);
    m = (struct msg){0};
    put_text(&m, 1, "x"); /* id is an int64 */
    call(USERS "Get", &m, &o);
    cr_assert_eq(o.status, GRPC_INVALID_ARGUMENT, "%d %s", o.status, o.msg);
    m = (struct msg){.p = {0x12, 0x05, 'a'}, .len = 3}; /* cut short */
    call(USERS "Create", &m, &o);
    cr_assert_eq(o.status, GRPC_INVALID_ARGUMENT, "%d %s", o.status, o.msg);
    m = (struct msg){0};
    put_bytes(&m, 2, "\xff\xfe", 2);
    call(USERS "Create", &m, &o);
    cr_assert_eq(o.status, GRPC_INVALID_ARGUMENT, "not UTF-8: %d %s", o.status, o.msg);
    m = (struct msg){0};
    put_int(&m, 1, -1);
    call(USERS "List", &m, &o);
    cr_assert_eq(o.status, GRPC_INVALID_ARGUMENT, "negative page_size: %d %s", o.status, o.msg);
    m = (struct msg){0};
    put_text(&m, 2, "not base64!");
    call(USERS "List", &m, &o);
    cr_assert_eq(o.status, GRPC_INVALID_ARGUMENT, "a bad token: %d %s", o.status, o.msg);
}

Test(grpc_tables, unknown_fields_are_skipped)
{
    struct msg m = {0};
    put_text(&m, 2, "carl@example.com");
    put_int(&m, 99, 7);
    put_text(&m, 100, "ignored");
    struct outcome o;
    call_ok(USERS "Create", &m, &o);
    cr_assert_str_eq(o.answer.text[2], "carl@example.com");
}

Test(grpc_tables, add_column_gets_a_new_number_and_old_numbers_stay)
{
    create_user("dee@example.com", "Dee");
    exec_ok("ALTER TABLE users ADD COLUMN nickname TEXT");
    const char *p = proto_text();
    cr_assert_not_null(strstr(p, "  optional int64 created_at = 4;"), "%s", p);
    cr_assert_not_null(strstr(p, "  optional string nickname = 5;"), "%s", p);
    cr_assert_not_null(strstr(p, "message Users {\n  optional int64 id = 1;"), "%s", p);
    struct msg up = {0};
    put_int(&up, 1, 1);
    put_text(&up, 5, "D");
    struct outcome o;
    call_ok(USERS "Update", &up, &o);
    cr_assert_str_eq(o.answer.text[5], "D");
    cr_assert_str_eq(o.answer.text[3], "Dee");
}

Test(grpc_tables, disabled_or_unknown_methods_are_unimplemented)
{
    struct msg m = {0};
    struct outcome o;
    call(USERS "Drop", &m, &o);
    cr_assert_eq(o.status, GRPC_UNIMPLEMENTED);
    call("/heliosdb.tables.v1.NoneService/List", &m, &o);
    cr_assert_eq(o.status, GRPC_UNIMPLEMENTED);
    env.tables_enabled = false;
    call(USERS "List", &m, &o);
    cr_assert_eq(o.status, GRPC_UNIMPLEMENTED);
}

/* One reflection request on a new call; the answer unpacked (free it). */
static Grpc__Reflection__V1__ServerReflectionResponse *
reflect(Grpc__Reflection__V1__ServerReflectionRequest *q)
{
    size_t len = protobuf_c_message_get_packed_size(&q->base);
    uint8_t *b = malloc(len + 5);
    b[0] = 0, b[1] = (uint8_t)(len >> 24), b[2] = (uint8_t)(len >> 16), b[3] = (uint8_t)(len >> 8),
    b[4] = (uint8_t)len;
    protobuf_c_message_pack(&q->base, b + 5);
    int status = -1;
    char msg[256];
    struct http1_out out = {0};
    struct grpc_call *c =
        grpc_call_new(&env, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", NULL,
                      &status, msg, sizeof msg);
    cr_assert_not_null(c);
    cr_assert_eq(grpc_call_data(c, b, len + 5, &out, &status, msg, sizeof msg), 0, "%s", msg);
    grpc_call_end(c, &out, &status, msg, sizeof msg);
    grpc_call_free(c);
    cr_assert_eq(status, GRPC_OK, "%s", msg);
    cr_assert_geq(out.len, 5);
    Grpc__Reflection__V1__ServerReflectionResponse *a =
        grpc__reflection__v1__server_reflection_response__unpack(NULL, out.len - 5, out.data + 5);
    cr_assert_not_null(a);
    http1_out_free(&out);
    free(b);
    return a;
}

Test(grpc_tables, reflection_lists_the_services_and_serves_the_generated_file)
{
    Grpc__Reflection__V1__ServerReflectionRequest q =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    q.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
    q.list_services = "";
    Grpc__Reflection__V1__ServerReflectionResponse *a = reflect(&q);
    cr_assert_not_null(a->list_services_response);
    bool users = false;
    for (size_t i = 0; i < a->list_services_response->n_service; i++) {
        users = users || strcmp(a->list_services_response->service[i]->name,
                                "heliosdb.tables.v1.UsersService") == 0;
    }
    cr_assert(users, "UsersService is listed");
    grpc__reflection__v1__server_reflection_response__free_unpacked(a, NULL);

    static const char *const symbols[] = {"heliosdb.tables.v1.UsersService",
                                          "heliosdb.tables.v1.OrdersKey",
                                          "heliosdb.tables.v1.UsersService.Get"};
    for (size_t i = 0; i < 3; i++) {
        q.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
        q.file_containing_symbol = (char *)symbols[i];
        a = reflect(&q);
        cr_assert_not_null(a->file_descriptor_response, "%s", symbols[i]);
        cr_assert_eq(a->file_descriptor_response->n_file_descriptor_proto, 1);
        ProtobufCBinaryData *f = &a->file_descriptor_response->file_descriptor_proto[0];
        cr_assert(memmem(f->data, f->len, GRPC_TABLES_FILE, strlen(GRPC_TABLES_FILE)) != NULL);
        grpc__reflection__v1__server_reflection_response__free_unpacked(a, NULL);
    }
    q.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    q.file_by_filename = GRPC_TABLES_FILE;
    a = reflect(&q);
    cr_assert_not_null(a->file_descriptor_response);
    grpc__reflection__v1__server_reflection_response__free_unpacked(a, NULL);
    q.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    q.file_containing_symbol = "heliosdb.tables.v1.NoSuch";
    a = reflect(&q);
    cr_assert_not_null(a->error_response);
    cr_assert_eq(a->error_response->error_code, GRPC_NOT_FOUND);
    grpc__reflection__v1__server_reflection_response__free_unpacked(a, NULL);
}
