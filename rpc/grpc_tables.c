/*
 * grpc_tables.c — the typed per-table gRPC services (grpc_tables.h), generated from the catalog
 * of sql/api_int.h and run on the public C API.
 *
 * Two halves. Generation (gen_build) reads heliosdb_tables once, names each table's messages and
 * fields, and writes both the .proto text and the FileDescriptorProto (the protobuf wire format
 * written by hand: pb_* below) that reflection serves. Calls (grpc_tables_call) find the table
 * and method from the path, decode the request by the table's field types, write one SQL
 * statement (names quoted, values bound), and encode its rows back the same way.
 *
 * Choices the header leaves open:
 *  - Names. A message is the table name with its alphanumeric runs capitalised and everything
 *    else dropped ("order_items" -> OrderItems). A table whose name gives an empty name, one
 *    starting with a digit, or one of its six names (T, TKey, TList, TListRequest, TDeleted,
 *    TService) already taken by an earlier table is skipped, with a comment in the .proto.
 *    A field is the column name lower-cased with every byte not [a-z0-9_] replaced by '_',
 *    prefixed with 'f' when it would start with a digit or '_'; when two fields would be the
 *    same once underscores are dropped (protobuf refuses fields whose JSON names clash), the
 *    later one gets "_<column id>" (then "_<k>") appended.
 *  - Numbers: column id + 1, stable across ALTER TABLE ADD COLUMN. A column whose number would
 *    be reserved by protobuf (19000-19999) or past 2^29 - 1 has no field (a comment says so); a
 *    table whose key column has none is skipped.
 *  - Types: INTEGER affinity int64, REAL double, TEXT string, a declared BLOB type bytes;
 *    NUMERIC affinity (DECIMAL, NUMERIC, ...) and no declared type string (DECIMAL as its exact
 *    text). Values are read as the C API converts them (heliosdb_column_int64 and so on); text
 *    that is not UTF-8 is sent with U+FFFD for each bad byte (proto3 strings are UTF-8).
 *  - NULL: every field of T is proto3 `optional` (a synthetic oneof "_<field>" each, as protoc
 *    writes them), so presence is real: a NULL value is left out of the message, and a field
 *    absent from a request is NULL (Create: the column's default or rowid; Update: the column is
 *    left as it is). TKey fields have no presence: absent is the zero value.
 *  - Update needs every key field present; it sets the non-key fields present (none: it answers
 *    the row as Get does). Every method answers through RETURNING or a SELECT of every column.
 *  - List pages by primary key order; page_token is the base64 of the last row's TKey message
 *    (the key values of any types, bound as they are). A table without a primary key pages by
 *    OFFSET in scan (rowid) order, its token the decimal offset. page_size 0 is 100, more than
 *    1000 is 1000, negative INVALID_ARGUMENT. An answer over GT_ANSWER_BYTES_MAX is
 *    RESOURCE_EXHAUSTED.
 *  - Requests: unknown fields are skipped; a known field with another wire type, a string that
 *    is not UTF-8, or bytes that are not the wire format are INVALID_ARGUMENT.
 */
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/grpc.h"
#include "rpc/grpc_tables.h"
#include "rpc/text.h"
#include "sql/api_int.h"
#include "sql/value.h"

#define GT_KEY_COLUMNS_MAX  32u         /* columns of a primary key (the engine's limit) */
#define GT_ANSWER_BYTES_MAX (64u << 20) /* one answer message */
#define GT_FIELD_NUMBER_MAX 536870911u  /* protobuf's largest field number */
#define GT_RESERVED_FIRST   19000u      /* field numbers protobuf keeps for itself */
#define GT_RESERVED_LAST    19999u
#define GT_NAMES_PER_TABLE  6u          /* T, TKey, TList, TListRequest, TDeleted, TService */
#define GT_NAME_SHOWN       128         /* bytes of a name an error message repeats */
#define GT_PAGE_TOKEN_MAX   (64u << 10) /* bytes of a page token */
#define GT_FRAME_HEAD_BYTES 5u

static_assert(GT_ANSWER_BYTES_MAX < UINT32_MAX, "an answer's frame length fits 32 bits");
static_assert(GRPC_TABLES_PAGE_DEFAULT <= GRPC_TABLES_PAGE_MAX, "the default page fits");

/* protobuf wire types and descriptor constants (descriptor.proto). */
enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };
enum { TYPE_DOUBLE = 1, TYPE_INT64 = 3, TYPE_INT32 = 5, TYPE_STRING = 9, TYPE_MESSAGE = 11 };
enum { TYPE_BYTES = 12, LABEL_OPTIONAL = 1, LABEL_REPEATED = 3 };

enum gt_type { GT_INT64, GT_DOUBLE, GT_STRING, GT_BYTES };

struct gt_field {
    uint32_t col; /* index into the table's columns */
    uint32_t number;
    enum gt_type type;
    char *name;
};

struct gt_table {
    const struct heliosdb_table_info *info;
    char *message; /* "Users" */
    char *service; /* "heliosdb.tables.v1.UsersService" */
    struct gt_field *fields;
    uint32_t nfields;
    uint32_t key[GT_KEY_COLUMNS_MAX]; /* indexes into fields, in key order */
    uint32_t nkey;
};

struct grpc_tables {
    struct heliosdb_table_info *info;
    uint32_t ninfo;
    struct gt_table *tables; /* those that have a service */
    uint32_t ntables;
    struct http1_out proto; /* NUL-terminated text */
    struct http1_out desc;  /* FileDescriptorProto */
    bool nomem;             /* a buffer could not grow: the build failed */
};

/* ---- buffers: text and the wire format ---- */

static void put(struct grpc_tables *g, struct http1_out *o, const void *p, size_t n)
{
    if (!g->nomem && http1_out_append(o, p, n) != 0) {
        g->nomem = true;
    }
}

static void putf(struct grpc_tables *g, struct http1_out *o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void putf(struct grpc_tables *g, struct http1_out *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof buf && "callers print bounded pieces");
    put(g, o, buf, n > 0 ? (size_t)n : 0);
}

/* Appends s as a comment's text: control bytes become '?' (a name may hold a newline). */
static void put_comment_text(struct grpc_tables *g, struct http1_out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        char c = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
        put(g, o, &c, 1);
    }
}

/* The wire format into an http1_out (nomem sticky, as put). */
struct pb_out {
    struct http1_out o;
    bool nomem;
};

static void pb_raw(struct pb_out *w, const void *p, size_t n)
{
    if (!w->nomem && http1_out_append(&w->o, p, n) != 0) {
        w->nomem = true;
    }
}

static void pb_varint(struct pb_out *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7Fu);
        v >>= 7;
        b[n] |= v != 0 ? 0x80u : 0;
        n++;
    } while (v != 0);
    pb_raw(w, b, n);
}

static void pb_tag(struct pb_out *w, uint32_t field, uint32_t wire)
{
    pb_varint(w, (uint64_t)field << 3 | wire);
}

static void pb_bytes(struct pb_out *w, uint32_t field, const void *p, size_t n)
{
    pb_tag(w, field, PB_LEN);
    pb_varint(w, n);
    pb_raw(w, p, n);
}

static void pb_string(struct pb_out *w, uint32_t field, const char *s)
{
    pb_bytes(w, field, s, strlen(s));
}

static void pb_uint(struct pb_out *w, uint32_t field, uint64_t v)
{
    pb_tag(w, field, PB_VARINT);
    pb_varint(w, v);
}

/* Appends the finished nested message m as field `field` of w, then frees m. */
static void pb_nested(struct pb_out *w, uint32_t field, struct pb_out *m)
{
    w->nomem = w->nomem || m->nomem;
    pb_bytes(w, field, m->o.data, m->o.len);
    http1_out_free(&m->o);
}

/* ---- names ---- */

static const char *type_proto(enum gt_type t)
{
    static const char *const names[] = {"int64", "double", "string", "bytes"};
    return names[t];
}

static int type_descriptor(enum gt_type t)
{
    static const int types[] = {TYPE_INT64, TYPE_DOUBLE, TYPE_STRING, TYPE_BYTES};
    return types[t];
}

static enum gt_type type_of(const struct heliosdb_column_info *c)
{
    switch (c->affinity) {
    case HDB_AFF_INTEGER:
        return GT_INT64;
    case HDB_AFF_REAL:
        return GT_DOUBLE;
    case HDB_AFF_BLOB:
        return c->type[0] != '\0' ? GT_BYTES : GT_STRING;
    default: /* TEXT, NUMERIC (DECIMAL as its exact text) */
        return GT_STRING;
    }
}

/* The message name of table `name` (malloc'd; "" when nothing alphanumeric is left). */
static char *message_name(const char *name)
{
    size_t n = strlen(name);
    char *out = malloc(n + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t m = 0;
    bool start = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x80 || !isalnum(c)) {
            start = true;
            continue;
        }
        out[m++] = start ? (char)toupper(c) : (char)c;
        start = false;
    }
    out[m] = '\0';
    return out;
}

/* A field name's clash key: the name without underscores (protobuf's JSON-name check). */
static bool field_clashes(const struct gt_field *fields, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++) {
        const char *a = fields[i].name, *b = name;
        for (;;) {
            while (*a == '_') {
                a++;
            }
            while (*b == '_') {
                b++;
            }
            if (*a != *b) {
                break;
            }
            if (*a == '\0') {
                return true;
            }
            a++, b++;
        }
    }
    return false;
}

/* The field name of column `col` (id) among fields[0..n) (malloc'd; see the top of the file). */
static char *field_name(const char *col, uint32_t id, const struct gt_field *fields, uint32_t n)
{
    size_t len = strlen(col);
    size_t cap = len + 48;
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    size_t m = 0;
    if (len == 0 || col[0] == '_' || (col[0] >= '0' && col[0] <= '9')) {
        out[m++] = 'f';
    }
    for (size_t i = 0; i < len; i++) {
        char c = (char)tolower((unsigned char)col[i]);
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        out[m++] = ok && (unsigned char)col[i] < 0x80 ? c : '_';
    }
    out[m] = '\0';
    /* Each existing field blocks at most one of the names "<base>_<id>_<k>" (their clash keys
     * differ by k), so one of the first n + 1 is free. */
    for (uint32_t k = 0; field_clashes(fields, n, out); k++) {
        assert(k <= n + 1);
        if (k == 0) {
            snprintf(out + m, cap - m, "_%" PRIu32, id);
        } else {
            snprintf(out + m, cap - m, "_%" PRIu32 "_%" PRIu32, id, k);
        }
    }
    return out;
}

/* ---- generation ---- */

static void table_free(struct gt_table *t)
{
    for (uint32_t i = 0; i < t->nfields; i++) {
        free(t->fields[i].name);
    }
    free(t->fields);
    free(t->message);
    free(t->service);
}

static void gen_free(struct grpc_tables *g)
{
    if (g == NULL) {
        return;
    }
    for (uint32_t i = 0; i < g->ntables; i++) {
        table_free(&g->tables[i]);
    }
    free(g->tables);
    heliosdb_tables_free(g->info, g->ninfo);
    http1_out_free(&g->proto);
    http1_out_free(&g->desc);
    free(g);
}

static const char *const name_suffixes[GT_NAMES_PER_TABLE] = {
    "", "Key", "List", "ListRequest", "Deleted", "Service"};

/* Whether a + sa and b + sb are the same name (message names are at most 200 bytes). */
static bool names_equal(const char *a, const char *sa, const char *b, const char *sb)
{
    char x[256], y[256];
    snprintf(x, sizeof x, "%s%s", a, sa);
    snprintf(y, sizeof y, "%s%s", b, sb);
    return strcmp(x, y) == 0;
}

/* Whether one of message's six names is taken by an earlier table. */
static bool names_taken(const struct grpc_tables *g, const char *message)
{
    for (uint32_t i = 0; i < g->ntables; i++) {
        for (uint32_t a = 0; a < GT_NAMES_PER_TABLE; a++) {
            for (uint32_t b = 0; b < GT_NAMES_PER_TABLE; b++) {
                if (names_equal(message, name_suffixes[a], g->tables[i].message,
                                name_suffixes[b])) {
                    return true;
                }
            }
        }
    }
    return false;
}

/* Fills t's fields and key from info; false with *why when the table gets no service. */
static bool table_fields(struct gt_table *t, const struct heliosdb_table_info *info,
                         struct grpc_tables *g, const char **why)
{
    t->fields = calloc(info->ncols > 0 ? info->ncols : 1, sizeof *t->fields);
    if (t->fields == NULL) {
        g->nomem = true;
        return false;
    }
    uint32_t pk[GT_KEY_COLUMNS_MAX] = {0};
    bool pk_has[GT_KEY_COLUMNS_MAX] = {false};
    for (uint32_t c = 0; c < info->ncols; c++) {
        const struct heliosdb_column_info *col = &info->cols[c];
        uint64_t number = (uint64_t)col->id + 1;
        bool numbered = number <= GT_FIELD_NUMBER_MAX &&
                        (number < GT_RESERVED_FIRST || number > GT_RESERVED_LAST);
        if (col->pk_position > (int)GT_KEY_COLUMNS_MAX) {
            *why = "its primary key has too many columns";
            return false;
        }
        if (!numbered) {
            if (col->pk_position > 0) {
                *why = "a key column's number is reserved by protobuf";
                return false;
            }
            continue;
        }
        struct gt_field *f = &t->fields[t->nfields];
        f->name = field_name(col->name, col->id, t->fields, t->nfields);
        if (f->name == NULL) {
            g->nomem = true;
            return false;
        }
        f->col = c;
        f->number = (uint32_t)number;
        f->type = type_of(col);
        if (col->pk_position > 0) {
            pk[col->pk_position - 1] = t->nfields;
            pk_has[col->pk_position - 1] = true;
            t->nkey = (uint32_t)col->pk_position > t->nkey ? (uint32_t)col->pk_position : t->nkey;
        }
        t->nfields++;
    }
    for (uint32_t k = 0; k < t->nkey; k++) {
        if (!pk_has[k]) {
            *why = "its primary key has a gap";
            return false;
        }
        t->key[k] = pk[k];
    }
    return true;
}

/* Adds table info to g (or a comment saying why not). */
static void gen_table(struct grpc_tables *g, const struct heliosdb_table_info *info)
{
    struct gt_table *t = &g->tables[g->ntables];
    *t = (struct gt_table){.info = info};
    const char *why = NULL;
    t->message = message_name(info->name);
    if (t->message == NULL) {
        g->nomem = true;
        return;
    }
    if (t->message[0] == '\0') {
        why = "its name has no letter or digit";
    } else if (isdigit((unsigned char)t->message[0])) {
        why = "its message name would start with a digit";
    } else if (strlen(t->message) > 200) {
        why = "its name is over 200 bytes";
    } else if (names_taken(g, t->message)) {
        why = "its message or service names are taken by an earlier table";
    }
    char service[300];
    snprintf(service, sizeof service, "%s.%.200sService", GRPC_TABLES_PACKAGE, t->message);
    if (why == NULL && (t->service = strdup(service)) == NULL) {
        g->nomem = true;
    }
    if (why == NULL && t->service != NULL && table_fields(t, info, g, &why)) {
        g->ntables++;
        return;
    }
    if (why != NULL) {
        putf(g, &g->proto, "// table ");
        put_comment_text(g, &g->proto, info->name);
        putf(g, &g->proto, " is skipped: %s\n\n", why);
    }
    table_free(t);
}

/* ---- generation: the .proto text ---- */

static void proto_message(struct grpc_tables *g, const struct gt_table *t)
{
    struct http1_out *o = &g->proto;
    putf(g, o, "// table ");
    put_comment_text(g, o, t->info->name);
    putf(g, o, "\nmessage %s {\n", t->message);
    uint32_t f = 0;
    for (uint32_t c = 0; c < t->info->ncols; c++) {
        const struct heliosdb_column_info *col = &t->info->cols[c];
        if (f < t->nfields && t->fields[f].col == c) {
            const struct gt_field *x = &t->fields[f++];
            putf(g, o, "  optional %s %s = %" PRIu32 ";", type_proto(x->type), x->name, x->number);
        } else {
            putf(g, o, "  // column with no field (its number is reserved or too large):");
        }
        putf(g, o, " // ");
        put_comment_text(g, o, col->name);
        if (col->type[0] != '\0') {
            putf(g, o, " ");
            put_comment_text(g, o, col->type);
        }
        putf(g, o, "%s%s\n", col->pk_position > 0 ? " PRIMARY KEY" : "",
             col->not_null ? " NOT NULL" : "");
    }
    putf(g, o, "}\n");
}

static void proto_table(struct grpc_tables *g, const struct gt_table *t)
{
    struct http1_out *o = &g->proto;
    const char *m = t->message;
    proto_message(g, t);
    if (t->nkey > 0) {
        putf(g, o, "message %sKey {\n", m);
        for (uint32_t k = 0; k < t->nkey; k++) {
            const struct gt_field *x = &t->fields[t->key[k]];
            putf(g, o, "  %s %s = %" PRIu32 ";\n", type_proto(x->type), x->name, x->number);
        }
        putf(g, o, "}\n");
    }
    putf(g, o, "message %sListRequest {\n  int32 page_size = 1;\n  string page_token = 2;\n}\n", m);
    putf(g, o, "message %sList {\n  repeated %s rows = 1;\n  string next_page_token = 2;\n}\n", m,
         m);
    if (t->nkey > 0) {
        putf(g, o, "message %sDeleted {}\n", m);
    }
    putf(g, o, "service %sService {\n  rpc Create(%s) returns (%s);\n", m, m, m);
    if (t->nkey > 0) {
        putf(g, o, "  rpc Get(%sKey) returns (%s);\n", m, m);
    }
    putf(g, o, "  rpc List(%sListRequest) returns (%sList);\n", m, m);
    if (t->nkey > 0) {
        putf(g, o, "  rpc Update(%s) returns (%s);\n", m, m);
        putf(g, o, "  rpc Delete(%sKey) returns (%sDeleted);\n", m, m);
    }
    putf(g, o, "}\n\n");
}

/* ---- generation: the FileDescriptorProto ---- */

/* A FieldDescriptorProto; oneof >= 0: proto3 optional in that synthetic oneof. */
static void desc_field(struct pb_out *w, const char *name, uint32_t number, uint32_t label,
                       int type, const char *type_name, int oneof)
{
    struct pb_out f = {0};
    pb_string(&f, 1, name);
    pb_uint(&f, 3, number);
    pb_uint(&f, 4, label);
    pb_uint(&f, 5, (uint64_t)type);
    if (type_name != NULL) {
        char full[300];
        snprintf(full, sizeof full, ".%s.%s", GRPC_TABLES_PACKAGE, type_name);
        pb_string(&f, 6, full);
    }
    if (oneof >= 0) {
        pb_uint(&f, 9, (uint64_t)oneof);
        pb_uint(&f, 17, 1);
    }
    pb_nested(w, 2, &f); /* DescriptorProto.field */
}

/* The DescriptorProto of T (optional: every field proto3 optional) or TKey. */
static void desc_row(struct pb_out *file, const struct gt_table *t, bool key)
{
    struct pb_out m = {0};
    char name[256];
    snprintf(name, sizeof name, "%s%s", t->message, key ? "Key" : "");
    pb_string(&m, 1, name);
    uint32_t n = key ? t->nkey : t->nfields;
    for (uint32_t i = 0; i < n; i++) {
        const struct gt_field *f = &t->fields[key ? t->key[i] : i];
        desc_field(&m, f->name, f->number, LABEL_OPTIONAL, type_descriptor(f->type), NULL,
                   key ? -1 : (int)i);
    }
    for (uint32_t i = 0; !key && i < n; i++) {
        struct pb_out o = {0};
        char oneof[300];
        snprintf(oneof, sizeof oneof, "_%s", t->fields[i].name);
        pb_string(&o, 1, oneof);
        pb_nested(&m, 8, &o); /* DescriptorProto.oneof_decl */
    }
    pb_nested(file, 4, &m); /* FileDescriptorProto.message_type */
}

static void desc_method(struct pb_out *s, const char *name, const char *in, const char *out)
{
    struct pb_out m = {0};
    char full[300];
    pb_string(&m, 1, name);
    snprintf(full, sizeof full, ".%s.%s", GRPC_TABLES_PACKAGE, in);
    pb_string(&m, 2, full);
    snprintf(full, sizeof full, ".%s.%s", GRPC_TABLES_PACKAGE, out);
    pb_string(&m, 3, full);
    pb_nested(s, 2, &m);
}

static void desc_table(struct pb_out *file, const struct gt_table *t)
{
    const char *m = t->message;
    char name[4][256];
    snprintf(name[0], sizeof name[0], "%sListRequest", m);
    snprintf(name[1], sizeof name[1], "%sList", m);
    snprintf(name[2], sizeof name[2], "%sDeleted", m);
    snprintf(name[3], sizeof name[3], "%sKey", m);
    desc_row(file, t, false);
    if (t->nkey > 0) {
        desc_row(file, t, true);
    }
    struct pb_out x = {0};
    pb_string(&x, 1, name[0]);
    desc_field(&x, "page_size", 1, LABEL_OPTIONAL, TYPE_INT32, NULL, -1);
    desc_field(&x, "page_token", 2, LABEL_OPTIONAL, TYPE_STRING, NULL, -1);
    pb_nested(file, 4, &x);
    pb_string(&x, 1, name[1]);
    desc_field(&x, "rows", 1, LABEL_REPEATED, TYPE_MESSAGE, m, -1);
    desc_field(&x, "next_page_token", 2, LABEL_OPTIONAL, TYPE_STRING, NULL, -1);
    pb_nested(file, 4, &x);
    if (t->nkey > 0) {
        pb_string(&x, 1, name[2]);
        pb_nested(file, 4, &x);
    }
    char service[256];
    snprintf(service, sizeof service, "%sService", m);
    pb_string(&x, 1, service);
    desc_method(&x, "Create", m, m);
    if (t->nkey > 0) {
        desc_method(&x, "Get", name[3], m);
    }
    desc_method(&x, "List", name[0], name[1]);
    if (t->nkey > 0) {
        desc_method(&x, "Update", m, m);
        desc_method(&x, "Delete", name[3], name[2]);
    }
    pb_nested(file, 6, &x); /* FileDescriptorProto.service */
}

/* Builds g's text and descriptor from g->info; false out of memory. */
static bool gen_build(struct grpc_tables *g)
{
    g->tables = calloc(g->ninfo > 0 ? g->ninfo : 1, sizeof *g->tables);
    if (g->tables == NULL) {
        return false;
    }
    putf(g, &g->proto,
         "// %s: the typed gRPC services HeliosDB-Lite generates from its tables\n"
         "// ([schema] auto_generate_grpc; docs/server.md). Every field of a row message is\n"
         "// optional: absent means NULL. Field numbers are column ids + 1.\n"
         "syntax = \"proto3\";\n\npackage %s;\n\n",
         GRPC_TABLES_FILE, GRPC_TABLES_PACKAGE);
    for (uint32_t i = 0; i < g->ninfo && !g->nomem; i++) {
        gen_table(g, &g->info[i]);
    }
    struct pb_out file = {0};
    pb_string(&file, 1, GRPC_TABLES_FILE);
    pb_string(&file, 2, GRPC_TABLES_PACKAGE);
    for (uint32_t i = 0; i < g->ntables; i++) {
        proto_table(g, &g->tables[i]);
        desc_table(&file, &g->tables[i]);
    }
    pb_string(&file, 12, "proto3");
    put(g, &g->proto, "", 1);
    g->proto.len--; /* the NUL stays after the text */
    g->desc = file.o;
    return !g->nomem && !file.nomem;
}

void grpc_tables_cache_free(struct grpc_tables_cache *c)
{
    gen_free(c->gen);
    *c = (struct grpc_tables_cache){0};
}

int grpc_tables_get(heliosdb_conn *c, struct grpc_tables_cache *cache,
                    const struct grpc_tables **out, heliosdb_error *e)
{
    assert(cache != NULL);
    uint64_t seq = heliosdb_schema_seq(c);
    if (cache->gen != NULL && cache->valid && cache->seq == seq) {
        *out = cache->gen;
        return HELIOSDB_OK;
    }
    struct grpc_tables *g = calloc(1, sizeof *g);
    if (g == NULL) {
        e->code = HELIOSDB_NOMEM;
        snprintf(e->message, sizeof e->message, "out of memory");
        return HELIOSDB_NOMEM;
    }
    int rc = heliosdb_tables(c, &g->info, &g->ninfo, e);
    if (rc != HELIOSDB_OK) {
        free(g);
        return rc;
    }
    if (!gen_build(g)) {
        gen_free(g);
        e->code = HELIOSDB_NOMEM;
        snprintf(e->message, sizeof e->message, "out of memory");
        return HELIOSDB_NOMEM;
    }
    grpc_tables_cache_free(cache);
    *cache = (struct grpc_tables_cache){.seq = seq, .valid = seq % 2 == 0, .gen = g};
    *out = g;
    return HELIOSDB_OK;
}

const char *grpc_tables_proto(const struct grpc_tables *g)
{
    return (const char *)g->proto.data;
}

void grpc_tables_descriptor(const struct grpc_tables *g, const uint8_t **data, size_t *len)
{
    *data = g->desc.data;
    *len = g->desc.len;
}

uint32_t grpc_tables_services(const struct grpc_tables *g)
{
    return g->ntables;
}

const char *grpc_tables_service(const struct grpc_tables *g, uint32_t i)
{
    assert(i < g->ntables);
    return g->tables[i].service;
}

/* ---- calls: the method ---- */

enum gt_method { GT_CREATE, GT_GET, GT_LIST, GT_UPDATE, GT_DELETE };

/* The table and method `path` names, or NULL. */
static const struct gt_table *method_find(const struct grpc_tables *g, const char *path,
                                          enum gt_method *method)
{
    static const char *const names[] = {"Create", "Get", "List", "Update", "Delete"};
    size_t prefix = strlen("/");
    const char *slash = strrchr(path, '/');
    if (path[0] != '/' || slash == NULL || slash == path) {
        return NULL;
    }
    size_t service_len = (size_t)(slash - path) - prefix;
    for (uint32_t i = 0; i < g->ntables; i++) {
        const struct gt_table *t = &g->tables[i];
        if (strlen(t->service) != service_len || memcmp(t->service, path + 1, service_len) != 0) {
            continue;
        }
        for (int m = 0; m < 5; m++) {
            bool keyed = m == GT_GET || m == GT_UPDATE || m == GT_DELETE;
            if (strcmp(slash + 1, names[m]) == 0 && (!keyed || t->nkey > 0)) {
                *method = (enum gt_method)m;
                return t;
            }
        }
        return NULL;
    }
    return NULL;
}

bool grpc_tables_has_method(const struct grpc_tables *g, const char *path)
{
    enum gt_method m;
    return method_find(g, path, &m) != NULL;
}

/* ---- calls: failures ---- */

struct gt_fail {
    int status;
    char message[GRPC_TABLES_MESSAGE_BYTES];
};

static int fail_set(struct gt_fail *f, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_set(struct gt_fail *f, int status, const char *fmt, ...)
{
    assert(status != GRPC_OK);
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(f->message, sizeof f->message, fmt, ap) < 0) {
        snprintf(f->message, sizeof f->message, "%s", "error");
    }
    va_end(ap);
    f->status = status;
    return status;
}

static int fail_nomem(struct gt_fail *f)
{
    return fail_set(f, GRPC_RESOURCE_EXHAUSTED, "out of memory");
}

static int fail_engine(struct gt_fail *f, int rc, const heliosdb_error *e)
{
    return fail_set(f, grpc_status_of(rc), "%s", e->message);
}

/* ---- calls: decoding requests ---- */

/* One field's value from a request (spans point into the request). */
struct gt_value {
    bool present;
    int64_t i;
    double d;
    const uint8_t *p;
    size_t len;
};

struct pb_in {
    const uint8_t *at, *end;
};

static bool in_varint(struct pb_in *r, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && r->at < r->end; shift += 7) {
        uint8_t b = *r->at++;
        *v |= (uint64_t)(b & 0x7Fu) << shift;
        if ((b & 0x80u) == 0) {
            return true;
        }
    }
    return false;
}

/* The next field: number, wire type and value (varint in *v, I64 bits in *v, LEN span). Returns
 * 1, 0 at the end, -1 when the bytes are not the wire format. */
static int in_next(struct pb_in *r, uint32_t *field, uint32_t *wire, uint64_t *v,
                   struct gt_value *span)
{
    if (r->at == r->end) {
        return 0;
    }
    uint64_t key;
    if (!in_varint(r, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX) {
        return -1;
    }
    *field = (uint32_t)(key >> 3);
    *wire = (uint32_t)(key & 7u);
    size_t left = (size_t)(r->end - r->at);
    switch (*wire) {
    case PB_VARINT:
        return in_varint(r, v) ? 1 : -1;
    case PB_I64:
        if (left < 8) {
            return -1;
        }
        *v = 0;
        for (int b = 7; b >= 0; b--) {
            *v = *v << 8 | r->at[b];
        }
        r->at += 8;
        return 1;
    case PB_I32:
        if (left < 4) {
            return -1;
        }
        r->at += 4;
        return 1;
    case PB_LEN:
        if (!in_varint(r, v) || *v > (uint64_t)(r->end - r->at)) {
            return -1;
        }
        span->p = r->at;
        span->len = (size_t)*v;
        r->at += *v;
        return 1;
    default:
        return -1;
    }
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    return text_bad_bytes((const char *)s, n, false) == 0;
}

/* Whether field i is in t's primary key. */
static bool is_key(const struct gt_table *t, uint32_t i)
{
    for (uint32_t k = 0; k < t->nkey; k++) {
        if (t->key[k] == i) {
            return true;
        }
    }
    return false;
}

static const uint32_t wire_of_type[] = {PB_VARINT, PB_I64, PB_LEN, PB_LEN};

/* Decodes a T (key_only false) or TKey message into vals (one per field of t). */
static int decode_row(const struct gt_table *t, bool key_only, const uint8_t *data, size_t len,
                      struct gt_value *vals, struct gt_fail *f)
{
    const char *what = key_only ? "Key" : "";
    memset(vals, 0, t->nfields * sizeof *vals);
    struct pb_in r = {.at = data, .end = data + len};
    uint32_t field, wire;
    uint64_t v = 0;
    struct gt_value span = {0};
    int more;
    while ((more = in_next(&r, &field, &wire, &v, &span)) == 1) {
        uint32_t i = 0;
        while (i < t->nfields && t->fields[i].number != field) {
            i++;
        }
        if (i == t->nfields || (key_only && !is_key(t, i))) {
            continue; /* unknown fields are skipped */
        }
        const struct gt_field *x = &t->fields[i];
        if (wire != wire_of_type[x->type]) {
            return fail_set(f, GRPC_INVALID_ARGUMENT,
                            "malformed %s%s: field %s (%" PRIu32 ") has wire type %" PRIu32
                            ", expected %" PRIu32 " (%s)",
                            t->message, what, x->name, x->number, wire, wire_of_type[x->type],
                            type_proto(x->type));
        }
        struct gt_value *out = &vals[i];
        *out = (struct gt_value){.present = true};
        if (x->type == GT_INT64) {
            out->i = (int64_t)v;
        } else if (x->type == GT_DOUBLE) {
            memcpy(&out->d, &v, sizeof out->d);
        } else {
            out->p = span.p, out->len = span.len;
            if (x->type == GT_STRING && !utf8_valid(span.p, span.len)) {
                return fail_set(f, GRPC_INVALID_ARGUMENT, "malformed %s%s: field %s is not UTF-8",
                                t->message, what, x->name);
            }
        }
    }
    if (more < 0) {
        return fail_set(f, GRPC_INVALID_ARGUMENT, "malformed %s%s: not the protobuf wire format",
                        t->message, what);
    }
    return GRPC_OK;
}

/* Gives absent key fields their zero value (TKey has no presence). */
static void key_zero_fill(const struct gt_table *t, struct gt_value *vals)
{
    static const uint8_t empty[1];
    for (uint32_t k = 0; k < t->nkey; k++) {
        struct gt_value *v = &vals[t->key[k]];
        if (!v->present) {
            *v = (struct gt_value){.present = true, .p = empty};
        }
    }
}

/* ---- calls: SQL ---- */

/* A statement being written: its text and the values to bind, in order. */
struct gt_sql {
    struct http1_out text;
    const struct gt_field **bind_field;
    const struct gt_value **bind_value;
    size_t nbind, bind_cap;
    bool nomem;
};

static void sql_add(struct gt_sql *s, const char *text)
{
    if (!s->nomem && http1_out_append(&s->text, text, strlen(text)) != 0) {
        s->nomem = true;
    }
}

/* Appends name as a double-quoted identifier, each '"' doubled. */
static void sql_ident(struct gt_sql *s, const char *name)
{
    sql_add(s, "\"");
    for (const char *p = name; *p != '\0';) {
        const char *q = strchr(p, '"');
        size_t n = q != NULL ? (size_t)(q - p) + 1 : strlen(p);
        if (!s->nomem && http1_out_append(&s->text, p, n) != 0) {
            s->nomem = true;
        }
        if (q != NULL) {
            sql_add(s, "\"");
        }
        p += n;
    }
    sql_add(s, "\"");
}

/* Appends "?" bound to v (of field x). */
static void sql_param(struct gt_sql *s, const struct gt_field *x, const struct gt_value *v)
{
    if (s->nbind == s->bind_cap) {
        size_t cap = s->bind_cap < 16 ? 16 : s->bind_cap * 2;
        const struct gt_field **bf = realloc(s->bind_field, cap * sizeof *bf);
        if (bf != NULL) {
            s->bind_field = bf;
        }
        const struct gt_value **bv = realloc(s->bind_value, cap * sizeof *bv);
        if (bv != NULL) {
            s->bind_value = bv;
        }
        if (bf == NULL || bv == NULL) {
            s->nomem = true;
            return;
        }
        s->bind_cap = cap;
    }
    s->bind_field[s->nbind] = x;
    s->bind_value[s->nbind] = v;
    s->nbind++;
    sql_add(s, "?");
}

static void sql_free(struct gt_sql *s)
{
    http1_out_free(&s->text);
    free(s->bind_field);
    free(s->bind_value);
}

/* Appends every field's column, comma-separated. */
static void sql_columns(struct gt_sql *s, const struct gt_table *t)
{
    for (uint32_t i = 0; i < t->nfields; i++) {
        sql_add(s, i > 0 ? ", " : "");
        sql_ident(s, t->info->cols[t->fields[i].col].name);
    }
}

/* Appends "k1 = ? AND k2 = ?" for the key values in vals. */
static void sql_key_equal(struct gt_sql *s, const struct gt_table *t, const struct gt_value *vals)
{
    for (uint32_t k = 0; k < t->nkey; k++) {
        const struct gt_field *x = &t->fields[t->key[k]];
        sql_add(s, k > 0 ? " AND " : "");
        sql_ident(s, t->info->cols[x->col].name);
        sql_add(s, " = ");
        sql_param(s, x, &vals[t->key[k]]);
    }
}

static int bind_one(heliosdb_stmt *st, int index, const struct gt_field *x,
                    const struct gt_value *v, heliosdb_error *e)
{
    static const uint8_t empty[1];
    switch (x->type) {
    case GT_INT64:
        return heliosdb_bind_int64(st, index, v->i, e);
    case GT_DOUBLE:
        return heliosdb_bind_double(st, index, v->d, e);
    case GT_STRING:
        return heliosdb_bind_text(st, index, v->p != NULL ? (const char *)v->p : "", (long)v->len,
                                  e);
    default:
        return heliosdb_bind_blob(st, index, v->p != NULL ? v->p : empty, v->len, e);
    }
}

/* ---- calls: encoding answers ---- */

/* Appends text[0..n) as field `number`, each byte that is not UTF-8 as U+FFFD. */
static void encode_text(struct pb_out *w, uint32_t number, const uint8_t *s, size_t n)
{
    size_t bad = text_bad_bytes((const char *)s, n, false);
    if (bad == 0) {
        pb_bytes(w, number, s, n);
        return;
    }
    char *fixed = malloc(n + 2 * bad); /* each bad byte becomes three */
    if (fixed == NULL) {
        w->nomem = true;
        return;
    }
    size_t m = text_repair((const char *)s, n, false, fixed);
    pb_bytes(w, number, fixed, m);
    free(fixed);
}

/* Encodes the current row of st (columns = t's fields, in order) as a T, or as a TKey. */
static void encode_row(struct pb_out *w, const struct gt_table *t, heliosdb_stmt *st, bool key)
{
    uint32_t n = key ? t->nkey : t->nfields;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t i = key ? t->key[j] : j;
        const struct gt_field *x = &t->fields[i];
        int col = (int)i;
        int type = heliosdb_column_type(st, col);
        if (type == HELIOSDB_NULL) {
            continue; /* proto3 has no NULL: the field is left out */
        }
        if (x->type == GT_INT64) {
            pb_uint(w, x->number, (uint64_t)heliosdb_column_int64(st, col));
        } else if (x->type == GT_DOUBLE) {
            double d = heliosdb_column_double(st, col);
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            uint8_t le[8];
            for (int b = 0; b < 8; b++) {
                le[b] = (uint8_t)(bits >> (8 * b));
            }
            pb_tag(w, x->number, PB_I64);
            pb_raw(w, le, sizeof le);
        } else if (x->type == GT_BYTES && type == HELIOSDB_BLOB) {
            const void *p = heliosdb_column_blob(st, col);
            pb_bytes(w, x->number, p, (size_t)heliosdb_column_bytes(st, col));
        } else {
            const unsigned char *p = heliosdb_column_text(st, col);
            size_t len = p != NULL ? (size_t)heliosdb_column_bytes(st, col) : 0;
            if (x->type == GT_BYTES) {
                pb_bytes(w, x->number, p, len);
            } else {
                encode_text(w, x->number, p != NULL ? p : (const uint8_t *)"", len);
            }
        }
    }
}

/* Appends m (the answer message) to out, framed. */
static int answer(struct http1_out *out, const struct pb_out *m, struct gt_fail *f)
{
    if (m->nomem) {
        return fail_nomem(f);
    }
    if (m->o.len > GT_ANSWER_BYTES_MAX) {
        return fail_set(f, GRPC_RESOURCE_EXHAUSTED, "the answer is over %u MiB",
                        GT_ANSWER_BYTES_MAX >> 20);
    }
    uint8_t head[GT_FRAME_HEAD_BYTES] = {0, (uint8_t)(m->o.len >> 24), (uint8_t)(m->o.len >> 16),
                                         (uint8_t)(m->o.len >> 8), (uint8_t)m->o.len};
    if (http1_out_reserve(out, sizeof head + m->o.len) != 0) {
        return fail_nomem(f);
    }
    http1_out_append(out, head, sizeof head);
    http1_out_append(out, m->o.data, m->o.len);
    return GRPC_OK;
}

/* ---- calls: running ---- */

/* What a statement's rows go to. */
struct gt_rows {
    const struct gt_table *t;
    struct pb_out *answer; /* Create/Get/Update: the one row; List: TList */
    bool list;
    uint32_t rows;       /* rows seen */
    uint32_t page;       /* List: rows the page holds; one more means another page */
    struct pb_out token; /* List: the TKey of the page's last row */
};

/* One row of st into r. */
static int rows_take(struct gt_rows *r, heliosdb_stmt *st, struct gt_fail *f)
{
    r->rows++;
    if (!r->list) {
        if (r->rows == 1) {
            encode_row(r->answer, r->t, st, false);
        }
        return GRPC_OK;
    }
    if (r->rows > r->page) {
        return GRPC_OK; /* the one past the page: there is a next page */
    }
    struct pb_out row = {0};
    encode_row(&row, r->t, st, false);
    pb_nested(r->answer, 1, &row);
    if (r->rows == r->page && r->t->nkey > 0) {
        encode_row(&r->token, r->t, st, true);
    }
    if (r->answer->o.len > GT_ANSWER_BYTES_MAX) {
        return fail_set(f, GRPC_RESOURCE_EXHAUSTED, "the answer is over %u MiB",
                        GT_ANSWER_BYTES_MAX >> 20);
    }
    return GRPC_OK;
}

/* Prepares, binds and steps s, its rows into r. */
static int sql_run(heliosdb_conn *c, struct gt_sql *s, struct gt_rows *r, struct gt_fail *f)
{
    if (s->nomem) {
        return fail_nomem(f);
    }
    heliosdb_error e = {.offset = -1};
    heliosdb_stmt *st = NULL;
    int rc =
        heliosdb_prepare_cached(c, (const char *)s->text.data, (long)s->text.len, &st, NULL, &e);
    if (rc != HELIOSDB_OK || st == NULL) {
        return rc != HELIOSDB_OK ? fail_engine(f, rc, &e)
                                 : fail_set(f, GRPC_INTERNAL, "no statement was written");
    }
    for (size_t i = 0; i < s->nbind && rc == HELIOSDB_OK; i++) {
        rc = bind_one(st, (int)i + 1, s->bind_field[i], s->bind_value[i], &e);
    }
    int status = rc == HELIOSDB_OK ? GRPC_OK : fail_engine(f, rc, &e);
    while (status == GRPC_OK && (rc = heliosdb_step(st, &e)) == HELIOSDB_ROW) {
        status = rows_take(r, st, f);
    }
    if (status == GRPC_OK && rc != HELIOSDB_DONE) {
        status = fail_engine(f, rc, &e);
    }
    heliosdb_finalize(st);
    return status;
}

static int not_found(const struct gt_table *t, struct gt_fail *f)
{
    return fail_set(f, GRPC_NOT_FOUND, "no row of %.*s has that key", GT_NAME_SHOWN, t->info->name);
}

/* Create: INSERT of the present fields, RETURNING every column. */
static int method_create(heliosdb_conn *c, const struct gt_table *t, const struct gt_value *vals,
                         struct pb_out *a, struct gt_fail *f)
{
    struct gt_sql s = {0};
    sql_add(&s, "INSERT INTO ");
    sql_ident(&s, t->info->name);
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nfields; i++) {
        if (vals[i].present) {
            sql_add(&s, n++ > 0 ? ", " : " (");
            sql_ident(&s, t->info->cols[t->fields[i].col].name);
        }
    }
    sql_add(&s, n > 0 ? ") VALUES (" : " DEFAULT VALUES");
    for (uint32_t i = 0, m = 0; i < t->nfields; i++) {
        if (vals[i].present) {
            sql_add(&s, m++ > 0 ? ", " : "");
            sql_param(&s, &t->fields[i], &vals[i]);
        }
    }
    sql_add(&s, n > 0 ? ") RETURNING " : " RETURNING ");
    sql_columns(&s, t);
    struct gt_rows r = {.t = t, .answer = a};
    int rc = sql_run(c, &s, &r, f);
    sql_free(&s);
    if (rc == GRPC_OK && r.rows != 1) {
        rc = fail_set(f, GRPC_INTERNAL, "the INSERT answered %" PRIu32 " rows", r.rows);
    }
    return rc;
}

/* Get (also Update without a field to set): SELECT by the key. */
static int method_get(heliosdb_conn *c, const struct gt_table *t, const struct gt_value *vals,
                      struct pb_out *a, struct gt_fail *f)
{
    struct gt_sql s = {0};
    sql_add(&s, "SELECT ");
    sql_columns(&s, t);
    sql_add(&s, " FROM ");
    sql_ident(&s, t->info->name);
    sql_add(&s, " WHERE ");
    sql_key_equal(&s, t, vals);
    struct gt_rows r = {.t = t, .answer = a};
    int rc = sql_run(c, &s, &r, f);
    sql_free(&s);
    return rc == GRPC_OK && r.rows == 0 ? not_found(t, f) : rc;
}

static int method_update(heliosdb_conn *c, const struct gt_table *t, const struct gt_value *vals,
                         struct pb_out *a, struct gt_fail *f)
{
    for (uint32_t k = 0; k < t->nkey; k++) {
        if (!vals[t->key[k]].present) {
            return fail_set(f, GRPC_INVALID_ARGUMENT, "Update needs every key field: %s is absent",
                            t->fields[t->key[k]].name);
        }
    }
    struct gt_sql s = {0};
    sql_add(&s, "UPDATE ");
    sql_ident(&s, t->info->name);
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nfields; i++) {
        if (vals[i].present && t->info->cols[t->fields[i].col].pk_position == 0) {
            sql_add(&s, n++ > 0 ? ", " : " SET ");
            sql_ident(&s, t->info->cols[t->fields[i].col].name);
            sql_add(&s, " = ");
            sql_param(&s, &t->fields[i], &vals[i]);
        }
    }
    if (n == 0) {
        sql_free(&s);
        return method_get(c, t, vals, a, f);
    }
    sql_add(&s, " WHERE ");
    sql_key_equal(&s, t, vals);
    sql_add(&s, " RETURNING ");
    sql_columns(&s, t);
    struct gt_rows r = {.t = t, .answer = a};
    int rc = sql_run(c, &s, &r, f);
    sql_free(&s);
    return rc == GRPC_OK && r.rows == 0 ? not_found(t, f) : rc;
}

static int method_delete(heliosdb_conn *c, const struct gt_table *t, const struct gt_value *vals,
                         struct gt_fail *f)
{
    struct gt_sql s = {0};
    sql_add(&s, "DELETE FROM ");
    sql_ident(&s, t->info->name);
    sql_add(&s, " WHERE ");
    sql_key_equal(&s, t, vals);
    struct gt_rows r = {.t = t};
    int rc = sql_run(c, &s, &r, f);
    sql_free(&s);
    return rc == GRPC_OK && heliosdb_changes(c) == 0 ? not_found(t, f) : rc;
}

/* ---- List ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(struct pb_out *w, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        v |= i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0;
        v |= i + 2 < n ? p[i + 2] : 0;
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], i + 1 < n ? b64[v >> 6 & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        pb_raw(w, q, 4);
    }
}

/* Decodes base64 s[0..n) into out (n * 3 / 4 bytes at most); false if it is not base64. */
static bool b64_decode(const uint8_t *s, size_t n, uint8_t *out, size_t *out_len)
{
    if (n % 4 != 0) {
        return false;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            const char *at = s[i + j] != '\0' ? strchr(b64, s[i + j]) : NULL;
            bool is_pad = s[i + j] == '=' && i + 4 == n && j >= 2;
            if ((at == NULL && !is_pad) || (pad > 0 && !is_pad)) {
                return false;
            }
            pad += is_pad;
            v = v << 6 | (at != NULL ? (uint32_t)(at - b64) : 0);
        }
        out[m++] = (uint8_t)(v >> 16);
        if (pad < 2) {
            out[m++] = (uint8_t)(v >> 8);
        }
        if (pad < 1) {
            out[m++] = (uint8_t)v;
        }
    }
    *out_len = m;
    return true;
}

/* A TListRequest. */
struct gt_list_request {
    int64_t page_size;
    struct gt_value token;
};

static int decode_list_request(const struct gt_table *t, const uint8_t *data, size_t len,
                               struct gt_list_request *q, struct gt_fail *f)
{
    struct pb_in r = {.at = data, .end = data + len};
    uint32_t field, wire;
    uint64_t v = 0;
    struct gt_value span = {0};
    int more;
    *q = (struct gt_list_request){0};
    while ((more = in_next(&r, &field, &wire, &v, &span)) == 1) {
        if (field == 1 && wire == PB_VARINT) {
            q->page_size = (int32_t)(uint32_t)v;
        } else if (field == 2 && wire == PB_LEN) {
            q->token = span;
            q->token.present = true;
        } else if (field == 1 || field == 2) {
            return fail_set(f, GRPC_INVALID_ARGUMENT,
                            "malformed %sListRequest: field %" PRIu32 " has wire type %" PRIu32,
                            t->message, field, wire);
        }
    }
    if (more < 0) {
        return fail_set(f, GRPC_INVALID_ARGUMENT,
                        "malformed %sListRequest: not the protobuf wire format", t->message);
    }
    if (q->page_size < 0) {
        return fail_set(f, GRPC_INVALID_ARGUMENT, "page_size %" PRId64 " is negative",
                        q->page_size);
    }
    q->page_size = q->page_size == 0                     ? GRPC_TABLES_PAGE_DEFAULT
                   : q->page_size > GRPC_TABLES_PAGE_MAX ? GRPC_TABLES_PAGE_MAX
                                                         : q->page_size;
    return GRPC_OK;
}

/* Appends the WHERE of the page after key values `after` (k1 > ? OR (k1 = ? AND k2 > ?) ...). */
static void sql_key_after(struct gt_sql *s, const struct gt_table *t, const struct gt_value *after)
{
    sql_add(s, " WHERE ");
    for (uint32_t k = 0; k < t->nkey; k++) {
        sql_add(s, k > 0 ? " OR (" : "(");
        for (uint32_t j = 0; j <= k; j++) {
            const struct gt_field *x = &t->fields[t->key[j]];
            sql_add(s, j > 0 ? " AND " : "");
            sql_ident(s, t->info->cols[x->col].name);
            sql_add(s, j < k ? " = " : " > ");
            sql_param(s, x, &after[t->key[j]]);
        }
        sql_add(s, ")");
    }
}

/* The page's WHERE, ORDER BY, LIMIT and OFFSET from the request's token. */
static int list_where(struct gt_sql *s, const struct gt_table *t, const struct gt_list_request *q,
                      struct gt_value *after, uint8_t **raw_out, int64_t *offset, struct gt_fail *f)
{
    *offset = 0;
    const struct gt_value *tok = &q->token;
    if (tok->present && tok->len > 0) {
        uint8_t *raw = tok->len <= GT_PAGE_TOKEN_MAX ? malloc(tok->len) : NULL;
        size_t raw_len = 0;
        bool ok = raw != NULL && b64_decode(tok->p, tok->len, raw, &raw_len);
        if (ok && t->nkey == 0) {
            char digits[24];
            ok = raw_len > 0 && raw_len < sizeof digits;
            if (ok) {
                memcpy(digits, raw, raw_len);
                digits[raw_len] = '\0';
                char *end = NULL;
                long long v = strtoll(digits, &end, 10);
                ok = *end == '\0' && v >= 0 && digits[0] != '-';
                *offset = v;
            }
        } else if (ok) {
            struct gt_fail ignored;
            ok = decode_row(t, true, raw, raw_len, after, &ignored) == GRPC_OK;
            for (uint32_t k = 0; ok && k < t->nkey; k++) {
                ok = after[t->key[k]].present;
            }
        }
        if (!ok) {
            free(raw);
            return fail_set(f, GRPC_INVALID_ARGUMENT, "malformed page_token");
        }
        *raw_out = raw; /* after's spans point into it: freed after the statement ran */
        if (t->nkey > 0) {
            sql_key_after(s, t, after);
        }
    }
    if (t->nkey > 0) {
        sql_add(s, " ORDER BY ");
        for (uint32_t k = 0; k < t->nkey; k++) {
            sql_add(s, k > 0 ? ", " : "");
            sql_ident(s, t->info->cols[t->fields[t->key[k]].col].name);
        }
    }
    return GRPC_OK;
}

static int method_list(heliosdb_conn *c, const struct gt_table *t, const uint8_t *req, size_t len,
                       struct pb_out *a, struct gt_fail *f)
{
    struct gt_list_request q;
    int rc = decode_list_request(t, req, len, &q, f);
    if (rc != GRPC_OK) {
        return rc;
    }
    struct gt_value *after = calloc(t->nfields > 0 ? t->nfields : 1, sizeof *after);
    if (after == NULL) {
        return fail_nomem(f);
    }
    struct gt_sql s = {0};
    sql_add(&s, "SELECT ");
    sql_columns(&s, t);
    sql_add(&s, " FROM ");
    sql_ident(&s, t->info->name);
    int64_t offset = 0;
    uint8_t *raw = NULL;
    rc = list_where(&s, t, &q, after, &raw, &offset, f);
    struct gt_field count = {.type = GT_INT64};
    struct gt_value limit = {.present = true, .i = q.page_size + 1};
    struct gt_value skip = {.present = true, .i = offset};
    sql_add(&s, " LIMIT ");
    sql_param(&s, &count, &limit);
    if (t->nkey == 0) {
        sql_add(&s, " OFFSET ");
        sql_param(&s, &count, &skip);
    }
    struct gt_rows r = {.t = t, .answer = a, .list = true, .page = (uint32_t)q.page_size};
    if (rc == GRPC_OK) {
        rc = sql_run(c, &s, &r, f);
    }
    if (rc == GRPC_OK && r.rows > r.page) {
        struct pb_out token = {0};
        if (t->nkey > 0) {
            b64_encode(&token, r.token.o.data, r.token.o.len);
        } else {
            char digits[24];
            int n = snprintf(digits, sizeof digits, "%" PRId64, offset + (int64_t)r.page);
            b64_encode(&token, (const uint8_t *)digits, (size_t)n);
        }
        a->nomem = a->nomem || token.nomem || r.token.nomem;
        pb_bytes(a, 2, token.o.data, token.o.len);
        http1_out_free(&token.o);
    }
    http1_out_free(&r.token.o);
    free(raw);
    sql_free(&s);
    free(after);
    return rc;
}

/* ---- calls ---- */

int grpc_tables_call(heliosdb_conn *c, const struct grpc_tables *g, const char *path,
                     const uint8_t *req, size_t len, struct http1_out *out, char *msg,
                     size_t msg_cap)
{
    static const uint8_t empty[1];
    req = req != NULL ? req : empty;
    struct gt_fail f = {.status = GRPC_OK};
    enum gt_method m = GT_CREATE;
    const struct gt_table *t = method_find(g, path, &m);
    struct gt_value *vals = t != NULL ? calloc(t->nfields + 1, sizeof *vals) : NULL;
    struct pb_out a = {0};
    int rc = GRPC_OK;
    if (t == NULL) {
        rc = fail_set(&f, GRPC_UNIMPLEMENTED, "unknown method %.200s", path);
    } else if (vals == NULL) {
        rc = fail_nomem(&f);
    } else if (m == GT_LIST) {
        rc = method_list(c, t, req, len, &a, &f);
    } else {
        bool key = m == GT_GET || m == GT_DELETE;
        rc = decode_row(t, key, req, len, vals, &f);
        if (rc == GRPC_OK && key) {
            key_zero_fill(t, vals);
        }
        rc = rc != GRPC_OK    ? rc
             : m == GT_CREATE ? method_create(c, t, vals, &a, &f)
             : m == GT_GET    ? method_get(c, t, vals, &a, &f)
             : m == GT_UPDATE ? method_update(c, t, vals, &a, &f)
                              : method_delete(c, t, vals, &f);
    }
    if (rc == GRPC_OK) {
        rc = answer(out, &a, &f);
    }
    http1_out_free(&a.o);
    free(vals);
    if (msg != NULL && msg_cap > 0) {
        snprintf(msg, msg_cap, "%s", rc == GRPC_OK ? "" : f.message);
    }
    return rc;
}
