/*
 * grpc.c — the gRPC calls of `heliosdb serve` (grpc.h) on the public C API
 * (plus sql/api_int.h), with protobuf-c for the messages.
 *
 * A call goes through three layers. Framing cuts the request body into
 * messages (1 flag byte, 4 bytes big-endian length, the message) whatever
 * pieces it comes in, and frames answers the same way into `out`. Each
 * request message is then checked (a small wire-format walker: every string
 * must be UTF-8 without NUL, since protobuf-c would cut a string at a NUL)
 * and unpacked by protobuf-c. Then the method runs: the Database methods run
 * SQL by rpc/sqljson.c's rules, Health answers from env->serving, and
 * reflection answers from the FileDescriptorSet of the .proto files in
 * rpc/proto that the build embeds (grpc_descriptor_set, written by
 * rpc/embed.cmake), read with the same wire-format walker. Answers are built
 * in a per-answer arena and packed by protobuf-c.
 *
 * Choices the header leaves open:
 *  - Framing: a compressed message (flag 1) is 12 UNIMPLEMENTED
 *    "compression is not supported" (the server accepts no grpc-encoding,
 *    and gRPC answers an encoding it does not support so); any other flag
 *    but 0 is 13 INTERNAL. A message over env->message_bytes_max is
 *    8 RESOURCE_EXHAUSTED; a stream that ends inside a message, a second
 *    request message for a method that takes one, or none at all, is
 *    13 INTERNAL (as gRPC's own servers answer).
 *  - A message that protobuf-c cannot unpack, or with a string that is not
 *    UTF-8 or holds a NUL byte, is 3 INVALID_ARGUMENT "malformed <Message>:
 *    ..." (out of memory while unpacking reads the same: protobuf-c does not
 *    tell them apart).
 *  - SQL texts follow rpc/sqljson.c: every statement of a text is prepared
 *    once first (nothing runs on a syntax error or a wrong param count);
 *    params bind to the one statement that takes parameters (two such
 *    statements, or a count that differs, is INVALID_ARGUMENT); the last
 *    statement answers; a text that leaves a transaction open is rolled back
 *    and refused; a Batch or Transaction statement that ends the open
 *    transaction is refused; engine errors with a syntax offset get
 *    " (at offset N)", counted in bytes from the start of `sql`.
 *  - Values answered: NULL as `null = true` (not an unset kind), FLOAT as
 *    `real` (NaN and infinities as they are: protobuf carries them), DECIMAL
 *    as its exact text in `decimal`, TEXT with U+FFFD for each byte that is
 *    not UTF-8 (a proto3 string must be UTF-8; so are column names).
 *  - Limits, 8 RESOURCE_EXHAUSTED past them: GC_ROWS_MAX rows and
 *    GC_ANSWER_BYTES_MAX estimated bytes per answer (a Batch's results
 *    together; a Query's batches together, since `out` holds them until the
 *    call ends), GC_PARAMS_MAX params, GC_STATEMENTS_MAX statements per text
 *    and per Batch. Query batches appended before a failure stay in `out`;
 *    the trailers carry the failure, as a server stream may.
 *  - grpc-timeout: the deadline is counted from grpc_call_new. A call past it
 *    when it would run (unary and server-streaming methods at grpc_call_end,
 *    Transaction at each message) is 4 DEADLINE_EXCEEDED and runs nothing;
 *    each statement runs with the statement time limit min(time left,
 *    [database] statement_timeout_ms), and the limit is restored after.
 *    Health Watch and reflection have no deadline (they run no statement).
 *  - Transaction: a message without an action is INVALID_ARGUMENT; an error
 *    rolls back and ends the call with its status; after commit or rollback
 *    the call is over with status 0, and any byte after it is
 *    9 FAILED_PRECONDITION. A stream that ends without either rolls back and
 *    ends with 10 ABORTED "the transaction ended without COMMIT: rolled back"
 *    (ABORTED, not CANCELLED: the client ended its side normally, and ABORTED
 *    tells it the transaction did not take).
 *  - Health Watch answers when its request message is complete (in
 *    grpc_call_data); grpc_call_end then reports status 0 and keeps it open:
 *    grpc_call_is_watch is true for a Watch that has not failed. An unknown
 *    service is answered SERVICE_UNKNOWN once and stays so.
 *  - Reflection answers every request on the stream, in order, and ends OK
 *    when the client ends its side. Unknown files and symbols are an
 *    error_response NOT_FOUND, a request with no kind one INVALID_ARGUMENT;
 *    the stream goes on. file_containing_extension is NOT_FOUND (the protos
 *    define no extensions); all_extension_numbers_of_type answers an empty
 *    list for a known message. Both grpc.reflection.v1 and v1alpha paths
 *    run this code (the messages are the same on the wire).
 *  - The generated per-table services (env->tables_enabled, rpc/grpc_tables.h) are unary
 *    calls of kind GC_TABLES: the path is checked against the thread's generated file at
 *    grpc_call_new (UNIMPLEMENTED if there is no such method) and again when the call runs,
 *    since DDL may have come between. Reflection reads the same file: list_services adds its
 *    services; file_containing_symbol and file_by_filename answer it for its symbols and name.
 */
#include <assert.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health.pb-c.h"
#include "heliosdb.pb-c.h"
#include "reflection.pb-c.h"
#include "rpc/grpc.h"
#include "rpc/grpc_tables.h"
#include "rpc/sqlrun.h"
#include "rpc/text.h"
#include "sql/api_int.h"

#define GC_ROWS_MAX          100000u     /* rows one answer may hold */
#define GC_ANSWER_BYTES_MAX  (64u << 20) /* estimated bytes of one answer's values */
#define GC_VALUE_BYTES       64u         /* a value's cost beside its bytes: its structs */
#define GC_PARAMS_MAX        999u        /* params of one request */
#define GC_STATEMENTS_MAX    1000u       /* statements of one text, requests of one Batch */
#define GC_MESSAGE_BYTES     1024u       /* an error message: the engine's plus our prefixes */
#define GC_FRAME_HEAD_BYTES  5u          /* compressed flag, 4-byte big-endian length */
#define GC_ARENA_CHUNK_BYTES (64u << 10) /* the arena's usual chunk */
#define GC_SNAPSHOTS_MAX     4096u       /* snapshots ListSnapshots answers (the store's limit) */
#define GC_FILES_MAX         16u         /* files in the embedded descriptor set */
#define GC_SYMBOL_BYTES_MAX  1024u       /* a symbol or file name reflection looks up */
#define GC_NAME_SHOWN        200         /* bytes of a name an error message repeats */

static_assert(GC_MESSAGE_BYTES == SQLRUN_MESSAGE_BYTES, "messages pass to and from sqlrun whole");
static_assert(GC_ANSWER_BYTES_MAX < UINT32_MAX / 2, "an answer's frame length fits 32 bits");
static_assert(GC_STATEMENTS_MAX < SQLRUN_NONE, "statement indexes fit");
static_assert(GC_PARAMS_MAX <= INT32_MAX, "param indexes fit an int");
static_assert(GRPC_QUERY_BATCH_ROWS > 0 && GRPC_QUERY_BATCH_ROWS <= GC_ROWS_MAX,
              "a Query batch holds rows and fits an answer");

/* The FileDescriptorSet of the .proto files in rpc/proto (rpc/embed.cmake writes it). */
extern const uint8_t grpc_descriptor_set[];
extern const size_t grpc_descriptor_set_bytes;

/* Why a call failed: its gRPC status (GRPC_OK while it has not) and the message for the
 * trailers. */
struct gc_fail {
    int status;
    char message[GC_MESSAGE_BYTES];
};

static int fail_set(struct gc_fail *f, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills f; returns status (never GRPC_OK). */
static int fail_set(struct gc_fail *f, int status, const char *fmt, ...)
{
    assert(status != GRPC_OK);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(f->message, sizeof f->message, "%s", "error message could not be formatted");
    }
    f->status = status;
    return status;
}

static int fail_nomem(struct gc_fail *f)
{
    return fail_set(f, GRPC_RESOURCE_EXHAUSTED, "out of memory");
}

/* Takes rc and sf of rpc/sqlrun.c into f (its status by grpc_status_of). */
static int fail_from_run(struct gc_fail *f, int rc, const struct sqlrun_fail *sf)
{
    return rc == HELIOSDB_OK ? GRPC_OK : fail_set(f, grpc_status_of(rc), "%s", sf->message);
}

/* Fills f from an engine error; offset_base is where the prepared text starts within `sql`. */
static int fail_engine(struct gc_fail *f, int rc, const heliosdb_error *e, size_t offset_base)
{
    struct sqlrun_fail sf;
    return fail_from_run(f, sqlrun_fail_engine(&sf, rc, e, offset_base), &sf);
}

/* Puts "<name>[index]: " before f's message. */
static void fail_prefix(struct gc_fail *f, const char *name, size_t index)
{
    struct sqlrun_fail sf = {.code = HELIOSDB_ERROR};
    memcpy(sf.message, f->message, sizeof sf.message);
    sqlrun_fail_prefix(&sf, name, index);
    memcpy(f->message, sf.message, sizeof f->message);
}

/* ---- the output buffer ---- */

/* Appends m as one gRPC message (uncompressed) to o, whole or not at all. */
static int out_message(struct http1_out *o, const ProtobufCMessage *m, struct gc_fail *f)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    if (len > UINT32_MAX) {
        return fail_set(f, GRPC_RESOURCE_EXHAUSTED, "an answer message over 4 GiB");
    }
    if (http1_out_reserve(o, GC_FRAME_HEAD_BYTES + len) != 0) {
        return fail_nomem(f);
    }
    uint8_t *at = o->data + o->len;
    at[0] = 0;
    at[1] = (uint8_t)(len >> 24);
    at[2] = (uint8_t)(len >> 16);
    at[3] = (uint8_t)(len >> 8);
    at[4] = (uint8_t)len;
    size_t packed = protobuf_c_message_pack(m, at + GC_FRAME_HEAD_BYTES);
    assert(packed == len);
    (void)packed;
    o->len += GC_FRAME_HEAD_BYTES + len;
    return GRPC_OK;
}

/* ---- the arena an answer is built in ---- */

struct gc_chunk {
    struct gc_chunk *next;
    size_t used, cap; /* bytes of data */
    max_align_t data[];
};

/* Allocations that live until arena_free; nothing is freed on its own. `spare` (may be NULL):
 * where one chunk of the usual size waits for the next arena of the thread (env->spare_chunk),
 * so a call's answer does not cost a 64 KiB malloc and free. */
struct gc_arena {
    struct gc_chunk *head;
    void **spare;
};

/* n bytes aligned for any type; NULL out of memory. */
static void *arena_alloc(struct gc_arena *a, size_t n)
{
    size_t align = alignof(max_align_t);
    if (n > SIZE_MAX / 2) {
        return NULL;
    }
    n = (n + align - 1) / align * align;
    struct gc_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > GC_ARENA_CHUNK_BYTES ? n : GC_ARENA_CHUNK_BYTES;
        bool reuse = cap == GC_ARENA_CHUNK_BYTES && a->spare != NULL && *a->spare != NULL;
        c = reuse ? *a->spare : malloc(sizeof *c + cap);
        if (c == NULL) {
            return NULL;
        }
        if (reuse) {
            *a->spare = NULL;
        }
        *c = (struct gc_chunk){.next = a->head, .used = 0, .cap = cap};
        a->head = c;
    }
    void *p = (unsigned char *)c->data + c->used;
    c->used += n;
    return p;
}

void grpc_env_release(struct grpc_env *env)
{
    free(env->spare_chunk);
    env->spare_chunk = NULL;
}

static void arena_free(struct gc_arena *a)
{
    while (a->head != NULL) {
        struct gc_chunk *next = a->head->next;
        if (a->spare != NULL && *a->spare == NULL && a->head->cap == GC_ARENA_CHUNK_BYTES) {
            *a->spare = a->head;
        } else {
            free(a->head);
        }
        a->head = next;
    }
}

/* ---- UTF-8 ---- */

/* Whether s[0..n) is UTF-8 without a NUL byte (what a protobuf-c string can carry whole). */
static bool utf8_without_nul(const uint8_t *s, size_t n)
{
    return text_bad_bytes((const char *)s, n, true) == 0;
}

/* A NUL-terminated copy of s[0..n) in the arena, each byte that is not part of well-formed
 * UTF-8 (and each NUL) replaced by U+FFFD; NULL out of memory. */
static char *arena_text(struct gc_arena *a, const char *s, size_t n)
{
    size_t bad = text_bad_bytes(s, n, true);
    char *copy = arena_alloc(a, n + 2 * bad + 1); /* each bad byte becomes three */
    if (copy == NULL) {
        return NULL;
    }
    size_t m = text_repair(s, n, true, copy);
    copy[m] = '\0';
    return copy;
}

/* ---- the protobuf wire format, for checking requests and reading descriptors ---- */

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

struct pb_span {
    const uint8_t *p;
    size_t len;
};

struct pb_reader {
    const uint8_t *at, *end;
};

static struct pb_reader pb_reader_of(struct pb_span s)
{
    return (struct pb_reader){.at = s.p, .end = s.p + s.len};
}

/* Reads a varint; false if it is cut short or longer than 10 bytes. */
static bool pb_varint(struct pb_reader *r, uint64_t *v)
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

/* Skips n bytes; false if fewer are left. */
static bool pb_skip(struct pb_reader *r, uint64_t n)
{
    if (n > (uint64_t)(r->end - r->at)) {
        return false;
    }
    r->at += n;
    return true;
}

/*
 * The next field: its number and wire type, and for PB_LEN its bytes in *value (other wire types
 * are skipped). Returns 1 for a field, 0 at the end, -1 if the bytes are not the wire format
 * (groups, which proto3 has not, included).
 */
static int pb_next(struct pb_reader *r, uint32_t *field, uint32_t *wire, struct pb_span *value)
{
    if (r->at == r->end) {
        return 0;
    }
    uint64_t key, len;
    if (!pb_varint(r, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX) {
        return -1;
    }
    *field = (uint32_t)(key >> 3);
    *wire = (uint32_t)(key & 7u);
    *value = (struct pb_span){0};
    switch (*wire) {
    case PB_VARINT:
        return pb_varint(r, &len) ? 1 : -1;
    case PB_I64:
        return pb_skip(r, 8) ? 1 : -1;
    case PB_I32:
        return pb_skip(r, 4) ? 1 : -1;
    case PB_LEN:
        if (!pb_varint(r, &len)) {
            return -1;
        }
        *value = (struct pb_span){.p = r->at, .len = (size_t)len};
        return pb_skip(r, len) ? 1 : -1;
    default:
        return -1;
    }
}

/* Field `field`'s first PB_LEN value in s (an empty span if none). */
static struct pb_span pb_find(struct pb_span s, uint32_t field)
{
    struct pb_reader r = pb_reader_of(s);
    uint32_t number, wire;
    struct pb_span value;
    while (pb_next(&r, &number, &wire, &value) == 1) {
        if (number == field && wire == PB_LEN) {
            return value;
        }
    }
    return (struct pb_span){0};
}

static bool pb_equals(struct pb_span s, const char *text, size_t len)
{
    return s.len == len && (len == 0 || memcmp(s.p, text, len) == 0);
}

/*
 * The strings and nested messages of a request message, by field number (all below 32), for
 * request_check. The shapes nest at most three deep and never refer back to themselves, so the
 * check's recursion is bounded by them, not by the input.
 */
struct pb_shape {
    uint32_t strings;                   /* bit n: field n is a string */
    const struct pb_shape *messages[8]; /* messages[n]: field n is a message of that shape */
};

static const struct pb_shape shape_empty = {0};
static const struct pb_shape shape_value = {.strings = 1u << 3 | 1u << 5}; /* text, decimal */
static const struct pb_shape shape_execute = {.strings = 1u << 1, .messages[2] = &shape_value};
static const struct pb_shape shape_batch = {.messages[1] = &shape_execute};
static const struct pb_shape shape_transaction = {.messages[1] = &shape_execute};
static const struct pb_shape shape_health = {.strings = 1u << 1};
static const struct pb_shape shape_extension = {.strings = 1u << 1};
static const struct pb_shape shape_reflection = {
    .strings = 1u << 1 | 1u << 3 | 1u << 4 | 1u << 6 | 1u << 7, .messages[5] = &shape_extension};

/* Whether s is the wire format with every string of the shape UTF-8 without NUL (what
 * protobuf-c does not check); *why gets what is wrong. */
static bool request_check(struct pb_span s, const struct pb_shape *shape, const char **why)
{
    struct pb_reader r = pb_reader_of(s);
    uint32_t field, wire;
    struct pb_span value;
    int more;
    while ((more = pb_next(&r, &field, &wire, &value)) == 1) {
        if (wire != PB_LEN || field >= 32) {
            continue;
        }
        if ((shape->strings >> field & 1u) && !utf8_without_nul(value.p, value.len)) {
            *why = "a string that is not UTF-8 or holds a NUL byte";
            return false;
        }
        const struct pb_shape *nested = field < 8 ? shape->messages[field] : NULL;
        if (nested != NULL && !request_check(value, nested, why)) {
            return false;
        }
    }
    *why = "not the protobuf wire format";
    return more == 0;
}

/* The request message data[0..len) checked and unpacked; NULL with f set if it is malformed. */
static ProtobufCMessage *request_unpack(const ProtobufCMessageDescriptor *d,
                                        const struct pb_shape *shape, const uint8_t *data,
                                        size_t len, struct gc_fail *f)
{
    static const uint8_t empty[1];
    const char *why = NULL;
    data = data != NULL ? data : empty;
    if (!request_check((struct pb_span){.p = data, .len = len}, shape, &why)) {
        fail_set(f, GRPC_INVALID_ARGUMENT, "malformed %s: %s", d->short_name, why);
        return NULL;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
    if (m == NULL) {
        fail_set(f, GRPC_INVALID_ARGUMENT, "malformed %s: protobuf-c cannot unpack it",
                 d->short_name);
    }
    return m;
}

/* ---- the call ---- */

enum gc_kind {
    GC_EXECUTE,
    GC_QUERY,
    GC_BATCH,
    GC_TRANSACTION,
    GC_CREATE_SNAPSHOT,
    GC_LIST_SNAPSHOTS,
    GC_HEALTH_CHECK,
    GC_HEALTH_WATCH,
    GC_REFLECTION,
    GC_TABLES, /* a generated per-table method (rpc/grpc_tables.h) */
};

struct gc_method {
    const char *path;
    enum gc_kind kind;
};

static const struct gc_method gc_methods[] = {
    {"/heliosdb.v1.Database/Execute", GC_EXECUTE},
    {"/heliosdb.v1.Database/Query", GC_QUERY},
    {"/heliosdb.v1.Database/Batch", GC_BATCH},
    {"/heliosdb.v1.Database/Transaction", GC_TRANSACTION},
    {"/heliosdb.v1.Database/CreateSnapshot", GC_CREATE_SNAPSHOT},
    {"/heliosdb.v1.Database/ListSnapshots", GC_LIST_SNAPSHOTS},
    {"/grpc.health.v1.Health/Check", GC_HEALTH_CHECK},
    {"/grpc.health.v1.Health/Watch", GC_HEALTH_WATCH},
    {"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", GC_REFLECTION},
    {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", GC_REFLECTION},
};

/* The services reflection lists (those of gc_methods). */
static const char *const gc_services[] = {
    "heliosdb.v1.Database",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
};

/* The message being cut out of the request body. */
struct gc_frame {
    uint8_t head[GC_FRAME_HEAD_BYTES];
    uint32_t head_len; /* bytes of head received */
    uint8_t *body;     /* malloc'd once the head is complete (NULL for an empty message) */
    size_t body_len, body_have;
};

struct grpc_call {
    struct grpc_env *env;
    enum gc_kind kind;
    bool has_deadline;
    int64_t deadline_ms; /* CLOCK_MONOTONIC */
    struct gc_frame frame;
    uint8_t *request; /* the one request message of a unary or server-streaming method */
    size_t request_len;
    bool have_request;
    bool over;           /* the outcome is in fail; nothing more runs */
    struct gc_fail fail; /* status GRPC_OK, or why the call failed */
    heliosdb_conn *txn;  /* Transaction: its own connection, BEGIN run on it */
    bool txn_finished;   /* Transaction: committed or rolled back by a message */
    bool watch_answered; /* Watch: its first status message is in `out` */
    bool watch_known;    /* Watch: the service asked about is known */
    int watch_sent;      /* Watch: the status last sent */
    char *tables_path;   /* GC_TABLES: the method's path */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sets conn's statement time limit to what is left of c's deadline (capped by the configured
 * limit); DEADLINE_EXCEEDED if none is left. Without a deadline it does nothing. */
static int deadline_arm(const struct grpc_call *c, heliosdb_conn *conn, struct gc_fail *f)
{
    if (!c->has_deadline) {
        return GRPC_OK;
    }
    int64_t left = c->deadline_ms - now_ms();
    if (left <= 0) {
        return fail_set(f, GRPC_DEADLINE_EXCEEDED, "the call's deadline (grpc-timeout) passed");
    }
    uint64_t ms = (uint64_t)left;
    uint32_t configured = heliosdb_default_timeout_ms(conn);
    ms = configured != 0 && configured < ms ? configured : ms;
    heliosdb_set_timeout(conn, ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms);
    return GRPC_OK;
}

/* Gives conn back its configured statement time limit after deadline_arm. */
static void deadline_disarm(const struct grpc_call *c, heliosdb_conn *conn)
{
    if (c->has_deadline) {
        heliosdb_set_timeout(conn, heliosdb_default_timeout_ms(conn));
    }
}

/* DEADLINE_EXCEEDED if c's deadline passed (for calls that run no statement). */
static int deadline_check(const struct grpc_call *c, struct gc_fail *f)
{
    if (c->has_deadline && c->deadline_ms - now_ms() <= 0) {
        return fail_set(f, GRPC_DEADLINE_EXCEEDED, "the call's deadline (grpc-timeout) passed");
    }
    return GRPC_OK;
}

/* ---- answers: rows and values ---- */

/* What an answer holds so far, against GC_ROWS_MAX and GC_ANSWER_BYTES_MAX. */
struct gc_budget {
    uint32_t rows;
    size_t bytes;
};

/* Rows of one statement's answer, in an arena. */
struct gc_rows {
    Heliosdb__V1__Row **rows;
    size_t len, cap;
};

/* The bytes column col of the current row takes in the budget. */
static size_t value_cost(heliosdb_stmt *st, int col)
{
    int type = heliosdb_column_type(st, col);
    if (type == HELIOSDB_NULL || type == HELIOSDB_INTEGER || type == HELIOSDB_FLOAT) {
        return GC_VALUE_BYTES;
    }
    if (type == HELIOSDB_BLOB) {
        heliosdb_column_blob(st, col);
    } else {
        heliosdb_column_text(st, col);
    }
    return GC_VALUE_BYTES + (size_t)heliosdb_column_bytes(st, col);
}

/* Takes the current row of st from the budget; RESOURCE_EXHAUSTED past a limit. */
static int budget_take_row(struct gc_budget *b, heliosdb_stmt *st, int ncols, struct gc_fail *f)
{
    if (b->rows == GC_ROWS_MAX) {
        return fail_set(f, GRPC_RESOURCE_EXHAUSTED, "the answer holds more than %u rows",
                        GC_ROWS_MAX);
    }
    size_t cost = GC_VALUE_BYTES;
    for (int col = 0; col < ncols; col++) {
        cost += value_cost(st, col);
    }
    if (cost > GC_ANSWER_BYTES_MAX - b->bytes) {
        return fail_set(f, GRPC_RESOURCE_EXHAUSTED, "the answer is over %u MiB",
                        GC_ANSWER_BYTES_MAX >> 20);
    }
    b->rows++;
    b->bytes += cost;
    return GRPC_OK;
}

/* Column col of the current row as a Value in the arena (see the top of the file for the
 * forms); NULL out of memory. */
static Heliosdb__V1__Value *value_of(heliosdb_stmt *st, int col, struct gc_arena *a)
{
    Heliosdb__V1__Value *v = arena_alloc(a, sizeof *v);
    if (v == NULL) {
        return NULL;
    }
    *v = (Heliosdb__V1__Value)HELIOSDB__V1__VALUE__INIT;
    int type = heliosdb_column_type(st, col);
    if (type == HELIOSDB_NULL) {
        v->kind_case = HELIOSDB__V1__VALUE__KIND_NULL;
        v->null = 1;
    } else if (type == HELIOSDB_INTEGER) {
        v->kind_case = HELIOSDB__V1__VALUE__KIND_INTEGER;
        v->integer = heliosdb_column_int64(st, col);
    } else if (type == HELIOSDB_FLOAT) {
        v->kind_case = HELIOSDB__V1__VALUE__KIND_REAL;
        v->real = heliosdb_column_double(st, col);
    } else if (type == HELIOSDB_BLOB) {
        const void *data = heliosdb_column_blob(st, col);
        size_t n = (size_t)heliosdb_column_bytes(st, col);
        uint8_t *copy = arena_alloc(a, n > 0 ? n : 1);
        if (copy == NULL) {
            return NULL;
        }
        if (n > 0) {
            memcpy(copy, data, n);
        }
        v->kind_case = HELIOSDB__V1__VALUE__KIND_BLOB;
        v->blob = (ProtobufCBinaryData){.len = n, .data = copy};
    } else {
        /* TEXT, DECIMAL (its exact text) and any type added later: the value as text. */
        const unsigned char *text = heliosdb_column_text(st, col);
        size_t n = text != NULL ? (size_t)heliosdb_column_bytes(st, col) : 0;
        char *copy = arena_text(a, text != NULL ? (const char *)text : "", n);
        if (copy == NULL) {
            return NULL;
        }
        bool decimal = type == HELIOSDB_DECIMAL;
        v->kind_case = decimal ? HELIOSDB__V1__VALUE__KIND_DECIMAL : HELIOSDB__V1__VALUE__KIND_TEXT;
        if (decimal) {
            v->decimal = copy;
        } else {
            v->text = copy;
        }
    }
    return v;
}

/* Appends the current row of st to rows (in the arena). */
static int rows_append(struct gc_rows *rows, heliosdb_stmt *st, int ncols, struct gc_arena *a,
                       struct gc_fail *f)
{
    if (rows->len == rows->cap) {
        size_t cap = rows->cap < 16 ? 16 : rows->cap * 2;
        Heliosdb__V1__Row **grown = arena_alloc(a, cap * sizeof *grown);
        if (grown == NULL) {
            return fail_nomem(f);
        }
        if (rows->len > 0) {
            memcpy(grown, rows->rows, rows->len * sizeof *grown);
        }
        rows->rows = grown;
        rows->cap = cap;
    }
    Heliosdb__V1__Row *row = arena_alloc(a, sizeof *row);
    Heliosdb__V1__Value **values = arena_alloc(a, (size_t)(ncols > 0 ? ncols : 1) * sizeof *values);
    if (row == NULL || values == NULL) {
        return fail_nomem(f);
    }
    *row = (Heliosdb__V1__Row)HELIOSDB__V1__ROW__INIT;
    for (int col = 0; col < ncols; col++) {
        values[col] = value_of(st, col, a);
        if (values[col] == NULL) {
            return fail_nomem(f);
        }
    }
    row->n_values = (size_t)ncols;
    row->values = values;
    rows->rows[rows->len++] = row;
    return GRPC_OK;
}

/* st's column names in the arena (*names NULL when there are none). */
static int columns_of(heliosdb_stmt *st, struct gc_arena *a, size_t *n, char ***names,
                      struct gc_fail *f)
{
    int ncols = heliosdb_column_count(st);
    *n = 0;
    *names = NULL;
    if (ncols <= 0) {
        return GRPC_OK;
    }
    char **out = arena_alloc(a, (size_t)ncols * sizeof *out);
    if (out == NULL) {
        return fail_nomem(f);
    }
    for (int col = 0; col < ncols; col++) {
        const char *name = heliosdb_column_name(st, col);
        name = name != NULL ? name : "";
        out[col] = arena_text(a, name, strlen(name));
        if (out[col] == NULL) {
            return fail_nomem(f);
        }
    }
    *n = (size_t)ncols;
    *names = out;
    return GRPC_OK;
}

/* ---- running SQL ---- */

/* Where the last statement of a text answers: into an ExecuteResponse, or as QueryBatch
 * messages appended to out. The arena and budget are the answer's. */
struct gc_sink {
    Heliosdb__V1__ExecuteResponse *response; /* NULL for Query */
    struct http1_out *out;                   /* Query */
    struct gc_arena *arena;
    struct gc_budget *budget;
};

/* Binds v as parameter index (an unset kind and null bind NULL; decimal binds its text, which
 * the engine converts by the column's type). */
static int bind_value(heliosdb_stmt *st, int index, const Heliosdb__V1__Value *v, heliosdb_error *e)
{
    static const uint8_t empty[1];
    switch (v->kind_case) {
    case HELIOSDB__V1__VALUE__KIND_INTEGER:
        return heliosdb_bind_int64(st, index, v->integer, e);
    case HELIOSDB__V1__VALUE__KIND_REAL:
        return heliosdb_bind_double(st, index, v->real, e);
    case HELIOSDB__V1__VALUE__KIND_TEXT:
        return heliosdb_bind_text(st, index, v->text, (long)strlen(v->text), e);
    case HELIOSDB__V1__VALUE__KIND_DECIMAL:
        return heliosdb_bind_text(st, index, v->decimal, (long)strlen(v->decimal), e);
    case HELIOSDB__V1__VALUE__KIND_BLOB:
        return heliosdb_bind_blob(st, index, v->blob.data != NULL ? v->blob.data : empty,
                                  v->blob.len, e);
    default: /* null, unset, and any kind added later that this server does not know */
        return heliosdb_bind_null(st, index, e);
    }
}

/* Appends rows as one QueryBatch to sink->out (with the column names when with_columns), then
 * empties the arena they were in. */
static int query_batch_send(heliosdb_stmt *st, struct gc_rows *rows, bool with_columns,
                            struct gc_sink *sink, struct gc_fail *f)
{
    Heliosdb__V1__QueryBatch batch = HELIOSDB__V1__QUERY_BATCH__INIT;
    int rc =
        with_columns ? columns_of(st, sink->arena, &batch.n_columns, &batch.columns, f) : GRPC_OK;
    if (rc == GRPC_OK) {
        batch.n_rows = rows->len;
        batch.rows = rows->rows;
        rc = out_message(sink->out, &batch.base, f);
    }
    arena_free(sink->arena);
    *rows = (struct gc_rows){0};
    return rc;
}

/* One ExecuteRequest as it runs: the answer it builds for sqlrun_run's callbacks. */
struct gc_run {
    const struct grpc_call *c;
    heliosdb_conn *conn;
    const Heliosdb__V1__ExecuteRequest *r;
    struct gc_sink *sink;
    struct gc_fail *f;
    struct gc_rows rows; /* the last statement's rows not yet answered */
    bool sent;           /* Query: a QueryBatch went out */
    bool failed;         /* a callback filled f (else a failure is sqlrun's) */
};

/* A callback's failure: f holds why; sqlrun_run stops with a status that is not OK. */
static int run_failed(struct gc_run *run)
{
    assert(run->f->status != GRPC_OK);
    run->failed = true;
    return HELIOSDB_ERROR;
}

/* The statement_start callback of sqlrun_run: arms the deadline. */
static int run_statement_start(void *ctx, struct sqlrun_fail *sf)
{
    (void)sf;
    struct gc_run *run = ctx;
    return deadline_arm(run->c, run->conn, run->f) == GRPC_OK ? HELIOSDB_OK : run_failed(run);
}

/* The bind callback of sqlrun_run. */
static int run_bind(void *ctx, heliosdb_stmt *st, size_t i, heliosdb_error *e)
{
    const struct gc_run *run = ctx;
    return bind_value(st, (int)i + 1, run->r->params[i], e);
}

/* The row callback of sqlrun_run: the row into the answer (Query: a QueryBatch of
 * GRPC_QUERY_BATCH_ROWS rows goes out when full, the column names in the first). */
static int run_row(void *ctx, heliosdb_stmt *st, struct sqlrun_fail *sf)
{
    (void)sf;
    struct gc_run *run = ctx;
    struct gc_sink *sink = run->sink;
    int ncols = heliosdb_column_count(st);
    int rc = budget_take_row(sink->budget, st, ncols, run->f);
    rc = rc == GRPC_OK ? rows_append(&run->rows, st, ncols, sink->arena, run->f) : rc;
    if (rc == GRPC_OK && sink->response == NULL && run->rows.len == GRPC_QUERY_BATCH_ROWS) {
        rc = query_batch_send(st, &run->rows, !run->sent, sink, run->f);
        run->sent = true;
    }
    return rc == GRPC_OK ? HELIOSDB_OK : run_failed(run);
}

/* The done callback of sqlrun_run: Execute fills sink->response (columns, rows, rows_affected,
 * last_insert_id); Query sends what is left as a QueryBatch (at least one message). */
static int run_done(void *ctx, heliosdb_stmt *st, struct sqlrun_fail *sf)
{
    (void)sf;
    struct gc_run *run = ctx;
    struct gc_sink *sink = run->sink;
    Heliosdb__V1__ExecuteResponse *r = sink->response;
    int rc = GRPC_OK;
    if (r == NULL && (run->rows.len > 0 || !run->sent)) {
        rc = query_batch_send(st, &run->rows, !run->sent, sink, run->f);
    } else if (r != NULL) {
        rc = columns_of(st, sink->arena, &r->n_columns, &r->columns, run->f);
        r->n_rows = run->rows.len;
        r->rows = run->rows.rows;
        r->rows_affected = r->n_columns == 0 ? heliosdb_changes(run->conn) : 0;
        r->last_insert_id = heliosdb_last_insert_id(run->conn);
    }
    return rc == GRPC_OK ? HELIOSDB_OK : run_failed(run);
}

/* Checks, plans and runs one ExecuteRequest on conn into sink (the last statement answers). */
static int run_request(const struct grpc_call *c, heliosdb_conn *conn,
                       const Heliosdb__V1__ExecuteRequest *r, struct gc_sink *sink,
                       struct gc_fail *f)
{
    if (r->n_params > GC_PARAMS_MAX) {
        return fail_set(f, GRPC_RESOURCE_EXHAUSTED, "more than %u params", GC_PARAMS_MAX);
    }
    struct sqlrun_text text = {.sql = r->sql,
                               .sql_len = strlen(r->sql),
                               .name = "sql",
                               .statements_max = GC_STATEMENTS_MAX,
                               .params_given = r->n_params};
    struct gc_run run = {.c = c, .conn = conn, .r = r, .sink = sink, .f = f};
    struct sqlrun_calls calls = {.ctx = &run,
                                 .statement_start = run_statement_start,
                                 .bind = run_bind,
                                 .row = run_row,
                                 .done = run_done};
    struct sqlrun_fail sf = {.code = HELIOSDB_OK};
    struct sqlrun_plan p;
    int rc = sqlrun_plan(conn, &text, &p, &sf);
    rc = rc == HELIOSDB_OK ? sqlrun_run(conn, &text, &p, &calls, &sf) : rc;
    deadline_disarm(c, conn);
    return run.failed ? f->status : fail_from_run(f, rc, &sf);
}

/* Runs one ExecuteRequest on the thread's connection, which it leaves without a transaction. */
static int run_outside_transaction(const struct grpc_call *c, const Heliosdb__V1__ExecuteRequest *r,
                                   struct gc_sink *sink, struct gc_fail *f)
{
    heliosdb_conn *conn = c->env->conn;
    assert(!heliosdb_in_transaction(conn));
    int rc = run_request(c, conn, r, sink, f);
    struct sqlrun_fail sf = {.code = HELIOSDB_OK};
    int ended = sqlrun_end_outside(conn, rc == GRPC_OK ? HELIOSDB_OK : HELIOSDB_ERROR, &sf);
    return rc != GRPC_OK ? rc : fail_from_run(f, ended, &sf);
}

/* ---- the Database methods ---- */

/* Execute and Query: the request, run, into out. */
static int method_execute(struct grpc_call *c, bool query, struct http1_out *out, struct gc_fail *f)
{
    ProtobufCMessage *m = request_unpack(&heliosdb__v1__execute_request__descriptor, &shape_execute,
                                         c->request, c->request_len, f);
    if (m == NULL) {
        return f->status;
    }
    Heliosdb__V1__ExecuteResponse response = HELIOSDB__V1__EXECUTE_RESPONSE__INIT;
    struct gc_arena arena = {.spare = &c->env->spare_chunk};
    struct gc_budget budget = {0};
    struct gc_sink sink = {
        .response = query ? NULL : &response, .out = out, .arena = &arena, .budget = &budget};
    int rc = run_outside_transaction(c, (Heliosdb__V1__ExecuteRequest *)m, &sink, f);
    if (rc == GRPC_OK && !query) {
        rc = out_message(out, &response.base, f);
    }
    arena_free(&arena);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* Runs the batch's requests in one transaction on the thread's connection, their answers into
 * results; rolls back on failure, naming the failing request. */
static int batch_run(const struct grpc_call *c, const Heliosdb__V1__BatchRequest *b,
                     Heliosdb__V1__ExecuteResponse *results, struct gc_sink *sink,
                     struct gc_fail *f)
{
    heliosdb_conn *conn = c->env->conn;
    assert(!heliosdb_in_transaction(conn));
    heliosdb_error e = {.offset = -1};
    int rc = heliosdb_exec(conn, "BEGIN", &e);
    if (rc != HELIOSDB_OK) {
        return fail_engine(f, rc, &e, 0);
    }
    for (size_t i = 0; i < b->n_statements; i++) {
        results[i] = (Heliosdb__V1__ExecuteResponse)HELIOSDB__V1__EXECUTE_RESPONSE__INIT;
        sink->response = &results[i];
        rc = run_request(c, conn, b->statements[i], sink, f);
        if (rc == GRPC_OK && !heliosdb_in_transaction(conn)) {
            struct sqlrun_fail sf;
            rc = fail_from_run(f, sqlrun_fail_batch_ended(&sf), &sf);
        }
        if (rc != GRPC_OK) {
            sqlrun_rollback_open(conn);
            fail_prefix(f, "statements", i);
            return rc;
        }
    }
    rc = heliosdb_exec(conn, "COMMIT", &e);
    if (rc != HELIOSDB_OK) {
        fail_engine(f, rc, &e, 0);
        sqlrun_rollback_open(conn);
        return f->status;
    }
    return GRPC_OK;
}

static int method_batch(struct grpc_call *c, struct http1_out *out, struct gc_fail *f)
{
    ProtobufCMessage *m = request_unpack(&heliosdb__v1__batch_request__descriptor, &shape_batch,
                                         c->request, c->request_len, f);
    if (m == NULL) {
        return f->status;
    }
    Heliosdb__V1__BatchRequest *b = (Heliosdb__V1__BatchRequest *)m;
    struct gc_arena arena = {.spare = &c->env->spare_chunk};
    struct gc_budget budget = {0};
    struct gc_sink sink = {.out = out, .arena = &arena, .budget = &budget};
    Heliosdb__V1__BatchResponse response = HELIOSDB__V1__BATCH_RESPONSE__INIT;
    Heliosdb__V1__ExecuteResponse *results = NULL, **pointers = NULL;
    int rc = GRPC_OK;
    if (b->n_statements > GC_STATEMENTS_MAX) {
        rc = fail_set(f, GRPC_RESOURCE_EXHAUSTED, "more than %u statements in one batch",
                      GC_STATEMENTS_MAX);
    } else if (b->n_statements > 0) {
        results = arena_alloc(&arena, b->n_statements * sizeof *results);
        pointers = arena_alloc(&arena, b->n_statements * sizeof *pointers);
        rc = results != NULL && pointers != NULL ? GRPC_OK : fail_nomem(f);
    }
    rc = rc == GRPC_OK ? batch_run(c, b, results, &sink, f) : rc;
    if (rc == GRPC_OK) {
        for (size_t i = 0; i < b->n_statements; i++) {
            pointers[i] = &results[i];
        }
        response.n_results = b->n_statements;
        response.results = pointers;
        rc = out_message(out, &response.base, f);
    }
    arena_free(&arena);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* The database's snapshots, oldest first (at most GC_SNAPSHOTS_MAX), into *list (malloc'd; the
 * caller frees it); *n gets how many. Returns false out of memory. */
static bool snapshots_load(heliosdb *db, struct hdb_snapshot_info **list, uint32_t *n)
{
    uint32_t cap = heliosdb_snapshot_list(db, NULL, 0);
    cap = cap < GC_SNAPSHOTS_MAX ? cap : GC_SNAPSHOTS_MAX;
    *list = malloc((cap > 0 ? cap : 1) * sizeof **list);
    if (*list == NULL) {
        *n = 0;
        return false;
    }
    *n = heliosdb_snapshot_list(db, *list, cap);
    *n = *n < cap ? *n : cap; /* one made since counting waits for the next list */
    return true;
}

/* created_ms of snapshot id (0 if it is gone, or out of memory). */
static uint64_t snapshot_created_ms(heliosdb *db, uint64_t id)
{
    struct hdb_snapshot_info *list;
    uint32_t n;
    uint64_t created_ms = 0;
    if (snapshots_load(db, &list, &n)) {
        for (uint32_t i = 0; i < n; i++) {
            created_ms = list[i].id == id ? list[i].created_ms : created_ms;
        }
        free(list);
    }
    return created_ms;
}

static int method_create_snapshot(struct grpc_call *c, struct http1_out *out, struct gc_fail *f)
{
    ProtobufCMessage *m = request_unpack(&heliosdb__v1__create_snapshot_request__descriptor,
                                         &shape_empty, c->request, c->request_len, f);
    if (m == NULL) {
        return f->status;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    uint64_t id = 0;
    heliosdb_error e = {.offset = -1};
    int rc = heliosdb_snapshot_create(c->env->conn, &id, &e);
    if (rc != HELIOSDB_OK) {
        return fail_engine(f, rc, &e, 0);
    }
    Heliosdb__V1__Snapshot s = HELIOSDB__V1__SNAPSHOT__INIT;
    s.id = id;
    s.created_ms = snapshot_created_ms(c->env->db, id);
    return out_message(out, &s.base, f);
}

static int method_list_snapshots(struct grpc_call *c, struct http1_out *out, struct gc_fail *f)
{
    ProtobufCMessage *m = request_unpack(&heliosdb__v1__list_snapshots_request__descriptor,
                                         &shape_empty, c->request, c->request_len, f);
    if (m == NULL) {
        return f->status;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    struct hdb_snapshot_info *list = NULL;
    uint32_t n = 0;
    bool loaded = snapshots_load(c->env->db, &list, &n);
    Heliosdb__V1__Snapshot *items = malloc((n > 0 ? n : 1) * sizeof *items);
    Heliosdb__V1__Snapshot **pointers = malloc((n > 0 ? n : 1) * sizeof *pointers);
    int rc = loaded && items != NULL && pointers != NULL ? GRPC_OK : fail_nomem(f);
    if (rc == GRPC_OK) {
        for (uint32_t i = 0; i < n; i++) {
            items[i] = (Heliosdb__V1__Snapshot)HELIOSDB__V1__SNAPSHOT__INIT;
            items[i].id = list[i].id;
            items[i].created_ms = list[i].created_ms;
            pointers[i] = &items[i];
        }
        Heliosdb__V1__ListSnapshotsResponse response = HELIOSDB__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
        response.n_snapshots = n;
        response.snapshots = pointers;
        rc = out_message(out, &response.base, f);
    }
    free(pointers);
    free(items);
    free(list);
    return rc;
}

/* ---- Transaction ---- */

/* Ends c's transaction with sql ("COMMIT" or "ROLLBACK") and answers result. Once sql ran, the
 * transaction is over even if its answer cannot be appended (out of memory). */
static int transaction_finish(struct grpc_call *c, const char *sql,
                              Heliosdb__V1__TransactionResponse__ResultCase result,
                              struct http1_out *out, struct gc_fail *f)
{
    heliosdb_error e = {.offset = -1};
    int rc = heliosdb_exec(c->txn, sql, &e);
    if (rc != HELIOSDB_OK) {
        fail_engine(f, rc, &e, 0);
        sqlrun_rollback_open(c->txn);
        return f->status;
    }
    c->txn_finished = true;
    Heliosdb__V1__TransactionResponse response = HELIOSDB__V1__TRANSACTION_RESPONSE__INIT;
    response.result_case = result;
    if (result == HELIOSDB__V1__TRANSACTION_RESPONSE__RESULT_COMMITTED) {
        response.committed = 1;
    } else {
        response.rolled_back = 1;
    }
    return out_message(out, &response.base, f);
}

/* Runs one statement text of the transaction and answers it as `executed`. */
static int transaction_execute(struct grpc_call *c, const Heliosdb__V1__ExecuteRequest *r,
                               struct http1_out *out, struct gc_fail *f)
{
    Heliosdb__V1__ExecuteResponse executed = HELIOSDB__V1__EXECUTE_RESPONSE__INIT;
    struct gc_arena arena = {.spare = &c->env->spare_chunk};
    struct gc_budget budget = {0};
    struct gc_sink sink = {.response = &executed, .out = out, .arena = &arena, .budget = &budget};
    int rc = run_request(c, c->txn, r, &sink, f);
    if (rc == GRPC_OK && !heliosdb_in_transaction(c->txn)) {
        rc = fail_set(f, GRPC_INVALID_ARGUMENT,
                      "the text ended the transaction; end it with a commit or rollback message");
    }
    if (rc == GRPC_OK) {
        Heliosdb__V1__TransactionResponse response = HELIOSDB__V1__TRANSACTION_RESPONSE__INIT;
        response.result_case = HELIOSDB__V1__TRANSACTION_RESPONSE__RESULT_EXECUTED;
        response.executed = &executed;
        rc = out_message(out, &response.base, f);
    }
    arena_free(&arena);
    return rc;
}

/* Does what r asks of c's transaction, answering into out. */
static int transaction_action(struct grpc_call *c, const Heliosdb__V1__TransactionRequest *r,
                              struct http1_out *out, struct gc_fail *f)
{
    int rc = deadline_check(c, f);
    if (rc != GRPC_OK) {
        return rc;
    }
    switch (r->action_case) {
    case HELIOSDB__V1__TRANSACTION_REQUEST__ACTION_EXECUTE:
        return transaction_execute(c, r->execute, out, f);
    case HELIOSDB__V1__TRANSACTION_REQUEST__ACTION_COMMIT:
        return transaction_finish(c, "COMMIT", HELIOSDB__V1__TRANSACTION_RESPONSE__RESULT_COMMITTED,
                                  out, f);
    case HELIOSDB__V1__TRANSACTION_REQUEST__ACTION_ROLLBACK:
        return transaction_finish(c, "ROLLBACK",
                                  HELIOSDB__V1__TRANSACTION_RESPONSE__RESULT_ROLLED_BACK, out, f);
    default:
        return fail_set(f, GRPC_INVALID_ARGUMENT,
                        "a TransactionRequest without an action (execute, commit or rollback)");
    }
}

/* One TransactionRequest (data[0..len)): answered into out at once. On failure f says why (the
 * caller ends the call, which rolls back); after commit or rollback c->txn_finished is set. */
static int transaction_message(struct grpc_call *c, const uint8_t *data, size_t len,
                               struct http1_out *out, struct gc_fail *f)
{
    ProtobufCMessage *m = request_unpack(&heliosdb__v1__transaction_request__descriptor,
                                         &shape_transaction, data, len, f);
    if (m == NULL) {
        return f->status;
    }
    int rc = transaction_action(c, (const Heliosdb__V1__TransactionRequest *)m, out, f);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* ---- Health ---- */

/* Whether the health service knows `service`. */
static bool health_known(const char *service)
{
    return strcmp(service, "") == 0 || strcmp(service, "heliosdb.v1.Database") == 0;
}

static int health_status(const struct grpc_env *env, bool known)
{
    if (!known) {
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    }
    return env->serving ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                        : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static int health_answer(int status, struct http1_out *out, struct gc_fail *f)
{
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
    return out_message(out, &r.base, f);
}

/* The service a HealthCheckRequest asks about, known or not; f set if it is malformed. */
static int health_request(const uint8_t *data, size_t len, bool *known, char *service,
                          size_t service_cap, struct gc_fail *f)
{
    ProtobufCMessage *m = request_unpack(&grpc__health__v1__health_check_request__descriptor,
                                         &shape_health, data, len, f);
    if (m == NULL) {
        return f->status;
    }
    const char *name = ((Grpc__Health__V1__HealthCheckRequest *)m)->service;
    *known = health_known(name);
    snprintf(service, service_cap, "%s", name);
    protobuf_c_message_free_unpacked(m, NULL);
    return GRPC_OK;
}

static int method_health_check(struct grpc_call *c, struct http1_out *out, struct gc_fail *f)
{
    bool known = false;
    char service[256];
    int rc = health_request(c->request, c->request_len, &known, service, sizeof service, f);
    if (rc != GRPC_OK) {
        return rc;
    }
    if (!known) {
        return fail_set(f, GRPC_NOT_FOUND, "unknown service \"%s\"", service);
    }
    return health_answer(health_status(c->env, true), out, f);
}

/* Watch's request data[0..len): answers the status now. */
static int watch_message(struct grpc_call *c, const uint8_t *data, size_t len,
                         struct http1_out *out, struct gc_fail *f)
{
    if (c->watch_answered) {
        return fail_set(f, GRPC_INTERNAL, "Watch takes one request message, got a second");
    }
    char service[256];
    int rc = health_request(data, len, &c->watch_known, service, sizeof service, f);
    if (rc != GRPC_OK) {
        return rc;
    }
    c->watch_sent = health_status(c->env, c->watch_known);
    rc = health_answer(c->watch_sent, out, f);
    c->watch_answered = rc == GRPC_OK;
    return rc;
}

/* ---- reflection: the embedded descriptor set ---- */

/* The files of the embedded FileDescriptorSet, with their names. */
struct desc_set {
    struct pb_span files[GC_FILES_MAX];
    struct pb_span names[GC_FILES_MAX];
    uint32_t count;
};

/* Splits the embedded set into its files (field 1 of FileDescriptorSet). False if it is not
 * the wire format or holds more than GC_FILES_MAX files: a build error. */
static bool desc_set_load(struct desc_set *s)
{
    struct pb_reader r =
        pb_reader_of((struct pb_span){.p = grpc_descriptor_set, .len = grpc_descriptor_set_bytes});
    uint32_t field, wire;
    struct pb_span value;
    int more;
    s->count = 0;
    while ((more = pb_next(&r, &field, &wire, &value)) == 1) {
        if (field != 1 || wire != PB_LEN) {
            continue;
        }
        if (s->count == GC_FILES_MAX) {
            return false;
        }
        s->files[s->count] = value;
        s->names[s->count] = pb_find(value, 1); /* FileDescriptorProto.name */
        s->count++;
    }
    return more == 0;
}

static int desc_file_named(const struct desc_set *s, const char *name, size_t len)
{
    for (uint32_t i = 0; i < s->count; i++) {
        if (pb_equals(s->names[i], name, len)) {
            return (int)i;
        }
    }
    return -1;
}

/* What a descriptor describes: a scope that holds others, or a member that does not. */
enum desc_kind { DESC_FILE, DESC_MESSAGE, DESC_ENUM, DESC_SERVICE, DESC_MEMBER };

/* The kind of field `field` of a descriptor of kind `kind`, or -1 if it describes no symbol:
 * FileDescriptorProto message_type 4, enum_type 5, service 6, extension 7; DescriptorProto
 * field 2, nested_type 3, enum_type 4, extension 6, oneof_decl 8; ServiceDescriptorProto
 * method 2. (EnumDescriptorProto's values are looked up beside their enum: desc_child.) */
static int desc_child_kind(enum desc_kind kind, uint32_t field)
{
    if (kind == DESC_FILE) {
        return field == 4   ? DESC_MESSAGE
               : field == 5 ? DESC_ENUM
               : field == 6 ? DESC_SERVICE
               : field == 7 ? DESC_MEMBER
                            : -1;
    }
    if (kind == DESC_MESSAGE) {
        return field == 3                               ? DESC_MESSAGE
               : field == 4                             ? DESC_ENUM
               : field == 2 || field == 6 || field == 8 ? DESC_MEMBER
                                                        : -1;
    }
    return kind == DESC_SERVICE && field == 2 ? DESC_MEMBER : -1;
}

/* Whether enum e has a value named name[0..len) (enum values are scoped beside their enum, as
 * in C++). */
static bool desc_enum_has_value(struct pb_span e, const char *name, size_t len)
{
    struct pb_reader r = pb_reader_of(e);
    uint32_t field, wire;
    struct pb_span value;
    while (pb_next(&r, &field, &wire, &value) == 1) {
        if (field == 2 && wire == PB_LEN && pb_equals(pb_find(value, 1), name, len)) {
            return true;
        }
    }
    return false;
}

/* Finds the symbol named name[0..len) directly in scope (of kind `kind`). */
static bool desc_child(struct pb_span scope, enum desc_kind kind, const char *name, size_t len,
                       struct pb_span *child, enum desc_kind *child_kind)
{
    struct pb_reader r = pb_reader_of(scope);
    uint32_t field, wire;
    struct pb_span value;
    while (pb_next(&r, &field, &wire, &value) == 1) {
        int k = wire == PB_LEN ? desc_child_kind(kind, field) : -1;
        if (k < 0) {
            continue;
        }
        if (pb_equals(pb_find(value, 1), name, len)) {
            *child = value;
            *child_kind = (enum desc_kind)k;
            return true;
        }
        if (k == DESC_ENUM && desc_enum_has_value(value, name, len)) {
            *child = value;
            *child_kind = DESC_MEMBER;
            return true;
        }
    }
    return false;
}

/* Whether file defines the fully qualified symbol (a message, enum, enum value, service, method,
 * field or oneof); *kind gets what it is. */
static bool desc_defines(struct pb_span file, const char *symbol, enum desc_kind *kind)
{
    struct pb_span package = pb_find(file, 2); /* FileDescriptorProto.package */
    size_t len = strlen(symbol);
    const char *at = symbol, *end = symbol + len;
    if (package.len > 0) {
        if (len <= package.len + 1 || memcmp(symbol, package.p, package.len) != 0 ||
            symbol[package.len] != '.') {
            return false;
        }
        at += package.len + 1;
    }
    struct pb_span scope = file;
    *kind = DESC_FILE;
    while (at < end) {
        const char *dot = memchr(at, '.', (size_t)(end - at));
        size_t part = dot != NULL ? (size_t)(dot - at) : (size_t)(end - at);
        if (part == 0 || (*kind != DESC_FILE && *kind != DESC_MESSAGE && *kind != DESC_SERVICE)) {
            return false;
        }
        if (!desc_child(scope, *kind, at, part, &scope, kind)) {
            return false;
        }
        at += part + (dot != NULL);
        if (dot != NULL && at == end) {
            return false; /* a trailing dot */
        }
    }
    return *kind != DESC_FILE;
}

/* The index of the file that defines symbol, or -1; *kind gets what it is. */
static int desc_file_defining(const struct desc_set *s, const char *symbol, enum desc_kind *kind)
{
    for (uint32_t i = 0; i < s->count; i++) {
        if (desc_defines(s->files[i], symbol, kind)) {
            return (int)i;
        }
    }
    return -1;
}

/* Fills order with file `first` then every file it depends on, directly or not (each once);
 * returns how many. Dependencies the set lacks are left out. */
static uint32_t desc_with_dependencies(const struct desc_set *s, uint32_t first,
                                       uint32_t order[GC_FILES_MAX])
{
    bool taken[GC_FILES_MAX] = {false};
    uint32_t n = 0;
    order[n++] = first;
    taken[first] = true;
    for (uint32_t next = 0; next < n; next++) {
        struct pb_reader r = pb_reader_of(s->files[order[next]]);
        uint32_t field, wire;
        struct pb_span value;
        while (pb_next(&r, &field, &wire, &value) == 1) {
            if (field != 3 || wire != PB_LEN) { /* FileDescriptorProto.dependency */
                continue;
            }
            int dep = desc_file_named(s, (const char *)value.p, value.len);
            if (dep >= 0 && !taken[dep]) {
                taken[dep] = true;
                order[n++] = (uint32_t)dep;
            }
        }
    }
    return n;
}

/* ---- reflection: requests ---- */

typedef Grpc__Reflection__V1__ServerReflectionRequest reflection_request;
typedef Grpc__Reflection__V1__ServerReflectionResponse reflection_response;

/* What one reflection answer points at while it is packed. */
struct reflection_parts {
    Grpc__Reflection__V1__FileDescriptorResponse files;
    ProtobufCBinaryData file_bytes[GC_FILES_MAX];
    Grpc__Reflection__V1__ListServiceResponse services;
    Grpc__Reflection__V1__ServiceResponse *service;           /* malloc'd (reflection_services) */
    Grpc__Reflection__V1__ServiceResponse **service_pointers; /* malloc'd */
    Grpc__Reflection__V1__ExtensionNumberResponse extensions;
    Grpc__Reflection__V1__ErrorResponse error;
    char error_message[GC_MESSAGE_BYTES];
};

static void reflection_error(reflection_response *a, struct reflection_parts *p, int code,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Answers error_response with code and the formatted message. */
static void reflection_error(reflection_response *a, struct reflection_parts *p, int code,
                             const char *fmt, ...)
{
    p->error = (Grpc__Reflection__V1__ErrorResponse)GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(p->error_message, sizeof p->error_message, fmt, ap) < 0) {
        snprintf(p->error_message, sizeof p->error_message, "%s", "not found");
    }
    va_end(ap);
    p->error.error_code = code;
    p->error.error_message = p->error_message;
    a->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    a->error_response = &p->error;
}

/* Answers file `first` and its dependencies as file_descriptor_response. */
static void reflection_files(reflection_response *a, struct reflection_parts *p,
                             const struct desc_set *s, uint32_t first)
{
    uint32_t order[GC_FILES_MAX];
    uint32_t n = desc_with_dependencies(s, first, order);
    p->files = (Grpc__Reflection__V1__FileDescriptorResponse)
        GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
    for (uint32_t i = 0; i < n; i++) {
        /* protobuf-c only reads the bytes it packs: casting away const is safe here */
        p->file_bytes[i] = (ProtobufCBinaryData){.len = s->files[order[i]].len,
                                                 .data = (uint8_t *)s->files[order[i]].p};
    }
    p->files.n_file_descriptor_proto = n;
    p->files.file_descriptor_proto = p->file_bytes;
    a->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    a->file_descriptor_response = &p->files;
}

/* Lists the fixed services, then the generated ones of gen (NULL: none). */
static void reflection_services(reflection_response *a, struct reflection_parts *p,
                                const struct grpc_tables *gen)
{
    size_t fixed = sizeof gc_services / sizeof gc_services[0];
    size_t n = fixed + (gen != NULL ? grpc_tables_services(gen) : 0);
    p->service = malloc(n * sizeof *p->service);
    p->service_pointers = malloc(n * sizeof *p->service_pointers);
    if (p->service == NULL || p->service_pointers == NULL) {
        reflection_error(a, p, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        p->service[i] =
            (Grpc__Reflection__V1__ServiceResponse)GRPC__REFLECTION__V1__SERVICE_RESPONSE__INIT;
        /* only read while packing */
        p->service[i].name =
            (char *)(i < fixed ? gc_services[i] : grpc_tables_service(gen, (uint32_t)(i - fixed)));
        p->service_pointers[i] = &p->service[i];
    }
    p->services = (Grpc__Reflection__V1__ListServiceResponse)
        GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
    p->services.n_service = n;
    p->services.service = p->service_pointers;
    a->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    a->list_services_response = &p->services;
}

/* Answers the extension numbers of message `type` (none: the protos define no extensions). */
static void reflection_extensions(reflection_response *a, struct reflection_parts *p,
                                  const struct desc_set *s, const char *type)
{
    enum desc_kind kind;
    if (desc_file_defining(s, type, &kind) < 0 || kind != DESC_MESSAGE) {
        reflection_error(a, p, GRPC_NOT_FOUND, "message type not found: %.*s", GC_NAME_SHOWN, type);
        return;
    }
    p->extensions = (Grpc__Reflection__V1__ExtensionNumberResponse)
        GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT;
    p->extensions.base_type_name = (char *)type; /* only read while packing */
    a->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
    a->all_extension_numbers_response = &p->extensions;
}

/* Answers the generated file (no dependencies) as file_descriptor_response. */
static void reflection_generated(reflection_response *a, struct reflection_parts *p,
                                 const struct grpc_tables *gen)
{
    const uint8_t *data;
    size_t len;
    grpc_tables_descriptor(gen, &data, &len);
    p->files = (Grpc__Reflection__V1__FileDescriptorResponse)
        GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
    p->file_bytes[0] = (ProtobufCBinaryData){.len = len, .data = (uint8_t *)data}; /* only read */
    p->files.n_file_descriptor_proto = 1;
    p->files.file_descriptor_proto = p->file_bytes;
    a->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    a->file_descriptor_response = &p->files;
}

/* Whether the generated file defines symbol. */
static bool generated_defines(const struct grpc_tables *gen, const char *symbol)
{
    const uint8_t *data;
    size_t len;
    enum desc_kind kind;
    if (gen == NULL || strncmp(symbol, GRPC_TABLES_PACKAGE ".", strlen(GRPC_TABLES_PACKAGE) + 1)) {
        return false;
    }
    grpc_tables_descriptor(gen, &data, &len);
    return desc_defines((struct pb_span){.p = data, .len = len}, symbol, &kind);
}

/* Fills a's message_response for request q (gen: the generated services, or NULL). */
static void reflection_answer(const reflection_request *q, reflection_response *a,
                              struct reflection_parts *p, const struct desc_set *s,
                              const struct grpc_tables *gen)
{
    enum desc_kind kind;
    int file;
    switch (q->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        reflection_services(a, p, gen);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        file = desc_file_named(s, q->file_by_filename, strlen(q->file_by_filename));
        if (file >= 0) {
            reflection_files(a, p, s, (uint32_t)file);
        } else if (gen != NULL && strcmp(q->file_by_filename, GRPC_TABLES_FILE) == 0) {
            reflection_generated(a, p, gen);
        } else {
            reflection_error(a, p, GRPC_NOT_FOUND, "file not found: %.*s", GC_NAME_SHOWN,
                             q->file_by_filename);
        }
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        file = strlen(q->file_containing_symbol) <= GC_SYMBOL_BYTES_MAX
                   ? desc_file_defining(s, q->file_containing_symbol, &kind)
                   : -1;
        if (file >= 0) {
            reflection_files(a, p, s, (uint32_t)file);
        } else if (strlen(q->file_containing_symbol) <= GC_SYMBOL_BYTES_MAX &&
                   generated_defines(gen, q->file_containing_symbol)) {
            reflection_generated(a, p, gen);
        } else {
            reflection_error(a, p, GRPC_NOT_FOUND, "symbol not found: %.*s", GC_NAME_SHOWN,
                             q->file_containing_symbol);
        }
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        reflection_error(a, p, GRPC_NOT_FOUND, "no extension %d of %.*s (the protos define none)",
                         q->file_containing_extension->extension_number, GC_NAME_SHOWN,
                         q->file_containing_extension->containing_type);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        reflection_extensions(a, p, s, q->all_extension_numbers_of_type);
        break;
    default:
        reflection_error(a, p, GRPC_INVALID_ARGUMENT,
                         "a ServerReflectionRequest without a message_request");
        break;
    }
}

/* One ServerReflectionRequest (data[0..len)): answered into out at once. */
static int reflection_message(struct grpc_call *c, const uint8_t *data, size_t len,
                              struct http1_out *out, struct gc_fail *f)
{
    ProtobufCMessage *m =
        request_unpack(&grpc__reflection__v1__server_reflection_request__descriptor,
                       &shape_reflection, data, len, f);
    if (m == NULL) {
        return f->status;
    }
    struct desc_set *s = malloc(sizeof *s);
    struct reflection_parts *p = calloc(1, sizeof *p);
    int rc = s != NULL && p != NULL ? GRPC_OK : fail_nomem(f);
    if (rc == GRPC_OK && !desc_set_load(s)) {
        rc = fail_set(f, GRPC_INTERNAL, "the embedded descriptor set is malformed");
    }
    const struct grpc_tables *gen = NULL;
    if (rc == GRPC_OK && c->env->tables_enabled) {
        heliosdb_error e = {.offset = -1};
        int hrc = grpc_tables_get(c->env->conn, c->env->tables_cache, &gen, &e);
        rc = hrc == HELIOSDB_OK ? GRPC_OK : fail_engine(f, hrc, &e, 0);
    }
    if (rc == GRPC_OK) {
        reflection_request *q = (reflection_request *)m;
        reflection_response a = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
        a.valid_host = q->host;
        a.original_request = q;
        reflection_answer(q, &a, p, s, gen);
        rc = out_message(out, &a.base, f);
    }
    if (p != NULL) {
        free(p->service);
        free(p->service_pointers);
    }
    free(p);
    free(s);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* ---- framing and the call's life ---- */

/* Takes bytes of the next message from data[0..len): *used says how many. Returns 1 when a
 * message is complete (c->frame.body, body_len: the caller takes the body), 0 when more bytes
 * are needed, -1 with f set when the frame is refused. */
static int frame_feed(struct grpc_call *c, const uint8_t *data, size_t len, size_t *used,
                      struct gc_fail *f)
{
    struct gc_frame *fr = &c->frame;
    *used = 0;
    if (fr->head_len < GC_FRAME_HEAD_BYTES) {
        size_t take = GC_FRAME_HEAD_BYTES - fr->head_len;
        take = take < len ? take : len;
        memcpy(fr->head + fr->head_len, data, take);
        fr->head_len += (uint32_t)take;
        *used = take;
        if (fr->head_len < GC_FRAME_HEAD_BYTES) {
            return 0;
        }
        if (fr->head[0] == 1) {
            fail_set(f, GRPC_UNIMPLEMENTED, "compression is not supported");
            return -1;
        }
        if (fr->head[0] != 0) {
            fail_set(f, GRPC_INTERNAL, "a message with compressed flag %u (not 0 or 1)",
                     fr->head[0]);
            return -1;
        }
        fr->body_len = (size_t)fr->head[1] << 24 | (size_t)fr->head[2] << 16 |
                       (size_t)fr->head[3] << 8 | fr->head[4];
        if (fr->body_len > c->env->message_bytes_max) {
            fail_set(f, GRPC_RESOURCE_EXHAUSTED,
                     "a request message of %zu bytes (the limit is %zu)", fr->body_len,
                     c->env->message_bytes_max);
            return -1;
        }
        fr->body = fr->body_len > 0 ? malloc(fr->body_len) : NULL;
        if (fr->body_len > 0 && fr->body == NULL) {
            fail_nomem(f);
            return -1;
        }
    }
    size_t take = fr->body_len - fr->body_have;
    take = take < len - *used ? take : len - *used;
    if (take > 0) {
        memcpy(fr->body + fr->body_have, data + *used, take);
        fr->body_have += take;
        *used += take;
    }
    return fr->body_have == fr->body_len ? 1 : 0;
}

/* Handles the complete message body[0..len) (which c takes). */
static int message_take(struct grpc_call *c, uint8_t *body, size_t len, struct http1_out *out,
                        struct gc_fail *f)
{
    int rc = GRPC_OK;
    if (c->kind == GC_TRANSACTION) {
        rc = transaction_message(c, body, len, out, f);
    } else if (c->kind == GC_REFLECTION) {
        rc = reflection_message(c, body, len, out, f);
    } else if (c->kind == GC_HEALTH_WATCH) {
        rc = watch_message(c, body, len, out, f);
    } else if (c->have_request) {
        rc = fail_set(f, GRPC_INTERNAL, "a unary method takes one request message, got a second");
    } else {
        c->request = body;
        c->request_len = len;
        c->have_request = true;
        return GRPC_OK;
    }
    free(body);
    return rc;
}

/* Copies c's outcome for the trailers. */
static void report(const struct grpc_call *c, int *status, char *msg, size_t msg_cap)
{
    *status = c->fail.status;
    if (msg != NULL && msg_cap > 0) {
        snprintf(msg, msg_cap, "%s", c->fail.status == GRPC_OK ? "" : c->fail.message);
    }
}

/* Ends c with f's outcome (a Transaction still open rolls back). */
static void call_over(struct grpc_call *c, const struct gc_fail *f)
{
    c->over = true;
    c->fail = *f;
    if (c->txn != NULL) {
        sqlrun_rollback_open(c->txn);
    }
}

/* A Transaction's connection, with BEGIN run on it; f set when it cannot start. */
static int transaction_start(struct grpc_call *c, struct gc_fail *f)
{
    heliosdb_error e = {.offset = -1};
    int rc = heliosdb_connect(c->env->db, &c->txn, &e);
    if (rc != HELIOSDB_OK) {
        c->txn = NULL;
        return fail_set(f, GRPC_RESOURCE_EXHAUSTED, "no connection for the transaction: %s",
                        e.message);
    }
    rc = heliosdb_exec(c->txn, "BEGIN", &e);
    if (rc != HELIOSDB_OK) {
        fail_engine(f, rc, &e, 0);
        heliosdb_disconnect(c->txn);
        c->txn = NULL;
        return f->status;
    }
    return GRPC_OK;
}

/* Whether path is a generated per-table method (env->tables_enabled); f set when the catalog
 * cannot be read. */
static bool tables_known(struct grpc_env *env, const char *path, struct gc_fail *f)
{
    if (!env->tables_enabled ||
        strncmp(path, GRPC_TABLES_PATH_PREFIX, strlen(GRPC_TABLES_PATH_PREFIX)) != 0) {
        return false;
    }
    assert(env->tables_cache != NULL);
    const struct grpc_tables *gen = NULL;
    heliosdb_error e = {.offset = -1};
    int rc = grpc_tables_get(env->conn, env->tables_cache, &gen, &e);
    if (rc != HELIOSDB_OK) {
        fail_engine(f, rc, &e, 0);
        return false;
    }
    return grpc_tables_has_method(gen, path);
}

/* A generated per-table method: the catalog as it is now (the method may have gone since
 * grpc_call_new: UNIMPLEMENTED then), within c's deadline. */
static int method_tables(struct grpc_call *c, struct http1_out *out, struct gc_fail *f)
{
    heliosdb_conn *conn = c->env->conn;
    const struct grpc_tables *gen = NULL;
    heliosdb_error e = {.offset = -1};
    int rc = grpc_tables_get(conn, c->env->tables_cache, &gen, &e);
    if (rc != HELIOSDB_OK) {
        return fail_engine(f, rc, &e, 0);
    }
    rc = deadline_arm(c, conn, f);
    if (rc != GRPC_OK) {
        return rc;
    }
    rc = grpc_tables_call(conn, gen, c->tables_path, c->request, c->request_len, out, f->message,
                          sizeof f->message);
    deadline_disarm(c, conn);
    f->status = rc;
    return rc;
}

struct grpc_call *grpc_call_new(struct grpc_env *env, const char *path, const char *timeout,
                                int *status, char *msg, size_t msg_cap)
{
    assert(env != NULL);
    assert(path != NULL);
    assert(status != NULL);
    struct gc_fail f = {.status = GRPC_OK};
    const struct gc_method *method = NULL;
    for (size_t i = 0; i < sizeof gc_methods / sizeof gc_methods[0]; i++) {
        method = strcmp(gc_methods[i].path, path) == 0 ? &gc_methods[i] : method;
    }
    int64_t timeout_ms = timeout != NULL ? grpc_timeout_ms(timeout) : 0;
    struct grpc_call *c = NULL;
    static const struct gc_method tables_method = {.path = "", .kind = GC_TABLES};
    if (method == NULL && tables_known(env, path, &f)) {
        method = &tables_method;
    }
    if (f.status != GRPC_OK) {
        /* the catalog could not be read: f says why */
    } else if (method == NULL) {
        fail_set(&f, GRPC_UNIMPLEMENTED, "unknown method %.200s", path);
    } else if (timeout_ms < 0) {
        fail_set(&f, GRPC_INVALID_ARGUMENT, "malformed grpc-timeout \"%.32s\"", timeout);
    } else if ((c = calloc(1, sizeof *c)) == NULL) {
        fail_nomem(&f);
    } else {
        *c = (struct grpc_call){.env = env,
                                .kind = method->kind,
                                .has_deadline = timeout != NULL,
                                .deadline_ms = now_ms() + timeout_ms,
                                .fail = {.status = GRPC_OK}};
        if (c->kind == GC_TRANSACTION && transaction_start(c, &f) != GRPC_OK) {
            free(c);
            c = NULL;
        } else if (c->kind == GC_TABLES && (c->tables_path = strdup(path)) == NULL) {
            fail_nomem(&f);
            free(c);
            c = NULL;
        }
    }
    *status = f.status;
    if (msg != NULL && msg_cap > 0) {
        snprintf(msg, msg_cap, "%s", f.status == GRPC_OK ? "" : f.message);
    }
    return c;
}

int grpc_call_data(struct grpc_call *c, const uint8_t *data, size_t len, struct http1_out *out,
                   int *status, char *msg, size_t msg_cap)
{
    assert(c != NULL);
    assert(out != NULL);
    assert(data != NULL || len == 0);
    struct gc_fail f = {.status = GRPC_OK};
    while (!c->over && len > 0) {
        size_t used = 0;
        int rc = frame_feed(c, data, len, &used, &f);
        data += used, len -= used;
        if (rc < 0) {
            call_over(c, &f);
        } else if (rc == 1) {
            uint8_t *body = c->frame.body;
            size_t body_len = c->frame.body_len;
            c->frame = (struct gc_frame){0};
            if (message_take(c, body, body_len, out, &f) != GRPC_OK) {
                call_over(c, &f);
            } else if (c->txn_finished) {
                call_over(c, &f); /* committed or rolled back: over with OK */
            }
        }
    }
    if (c->over && c->txn_finished && c->fail.status == GRPC_OK && len > 0) {
        fail_set(&c->fail, GRPC_FAILED_PRECONDITION,
                 "the transaction is over (committed or rolled back); no more messages");
    }
    report(c, status, msg, msg_cap);
    return c->over ? 1 : 0;
}

/* Runs c's unary or server-streaming method on its request, into out. */
static int call_run(struct grpc_call *c, struct http1_out *out, struct gc_fail *f)
{
    if (!c->have_request) {
        return fail_set(f, GRPC_INTERNAL, "the request ended without a message");
    }
    int rc = deadline_check(c, f);
    if (rc != GRPC_OK) {
        return rc;
    }
    switch (c->kind) {
    case GC_EXECUTE:
        return method_execute(c, false, out, f);
    case GC_QUERY:
        return method_execute(c, true, out, f);
    case GC_BATCH:
        return method_batch(c, out, f);
    case GC_CREATE_SNAPSHOT:
        return method_create_snapshot(c, out, f);
    case GC_LIST_SNAPSHOTS:
        return method_list_snapshots(c, out, f);
    case GC_HEALTH_CHECK:
        return method_health_check(c, out, f);
    case GC_TABLES:
        return method_tables(c, out, f);
    default:
        assert(false && "streaming-request methods run as their messages come");
        return fail_set(f, GRPC_INTERNAL, "no such unary method");
    }
}

void grpc_call_end(struct grpc_call *c, struct http1_out *out, int *status, char *msg,
                   size_t msg_cap)
{
    assert(c != NULL);
    assert(out != NULL);
    struct gc_fail f = {.status = GRPC_OK};
    if (c->over) {
        /* the outcome is already known */
    } else if (c->frame.head_len > 0) {
        fail_set(&f, GRPC_INTERNAL, "the request ended inside a message");
        call_over(c, &f);
    } else if (c->kind == GC_HEALTH_WATCH) {
        if (!c->watch_answered) {
            fail_set(&f, GRPC_INTERNAL, "the request ended without a message");
            call_over(c, &f);
        }
    } else if (c->kind == GC_TRANSACTION) {
        fail_set(&f, GRPC_ABORTED, "the transaction ended without COMMIT: rolled back");
        call_over(c, &f);
    } else if (c->kind == GC_REFLECTION) {
        call_over(c, &f);
    } else {
        call_run(c, out, &f);
        call_over(c, &f);
    }
    report(c, status, msg, msg_cap);
}

bool grpc_call_poll(struct grpc_call *c, struct http1_out *out)
{
    assert(c != NULL);
    assert(out != NULL);
    if (!grpc_call_is_watch(c) || !c->watch_answered) {
        return false;
    }
    int now = health_status(c->env, c->watch_known);
    struct gc_fail f = {.status = GRPC_OK};
    if (now == c->watch_sent || health_answer(now, out, &f) != GRPC_OK) {
        return false; /* unchanged, or out of memory: the next poll tries again */
    }
    c->watch_sent = now;
    return true;
}

bool grpc_call_is_watch(const struct grpc_call *c)
{
    assert(c != NULL);
    return c->kind == GC_HEALTH_WATCH && c->fail.status == GRPC_OK;
}

void grpc_call_free(struct grpc_call *c)
{
    if (c == NULL) {
        return;
    }
    if (c->txn != NULL) {
        sqlrun_rollback_open(c->txn);
        heliosdb_disconnect(c->txn);
    }
    free(c->frame.body);
    free(c->request);
    free(c->tables_path);
    free(c);
}

int grpc_status_of(int heliosdb_status)
{
    switch (heliosdb_status) {
    case HELIOSDB_OK:
    case HELIOSDB_ROW:
    case HELIOSDB_DONE:
        return GRPC_OK;
    case HELIOSDB_INVALID:
        return GRPC_INVALID_ARGUMENT;
    case HELIOSDB_NOTFOUND:
        return GRPC_NOT_FOUND;
    case HELIOSDB_CONSTRAINT:
        return GRPC_FAILED_PRECONDITION;
    case HELIOSDB_EXISTS:
        return GRPC_ALREADY_EXISTS;
    case HELIOSDB_CONFLICT:
        return GRPC_ABORTED;
    case HELIOSDB_TIMEOUT:
        return GRPC_DEADLINE_EXCEEDED;
    case HELIOSDB_TOOBIG:
    case HELIOSDB_FULL:
    case HELIOSDB_NOMEM:
    case HELIOSDB_NOSPACE:
        return GRPC_RESOURCE_EXHAUSTED;
    case HELIOSDB_BUSY:
    case HELIOSDB_READONLY:
    case HELIOSDB_IOERR:
        return GRPC_UNAVAILABLE;
    default: /* HELIOSDB_ERROR, HELIOSDB_CORRUPT and any code added later */
        return GRPC_INTERNAL;
    }
}

int64_t grpc_timeout_ms(const char *value)
{
    if (value == NULL) {
        return -1;
    }
    size_t n = strnlen(value, 10);
    if (n < 2 || n > 9) { /* 1 to 8 digits, then the unit */
        return -1;
    }
    int64_t v = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (value[i] < '0' || value[i] > '9') {
            return -1;
        }
        v = v * 10 + (value[i] - '0');
    }
    switch (value[n - 1]) {
    case 'H':
        return v * 3600000;
    case 'M':
        return v * 60000;
    case 'S':
        return v * 1000;
    case 'm':
        return v;
    case 'u':
        return (v + 999) / 1000;
    case 'n':
        return (v + 999999) / 1000000;
    default:
        return -1;
    }
}
