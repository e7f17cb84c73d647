/*
 * grpc.h — gRPC calls of `heliosdb serve` (docs/server.md), without HTTP/2:
 * rpc/server.c hands each stream with content-type application/grpc to a
 * call, feeds it the request body bytes as they arrive and sends what the
 * call appends to its output (length-prefixed messages), then the trailers
 * (grpc-status, grpc-message) once the call is over.
 *
 * Services (protobuf-c, messages in the .proto files of rpc/proto/):
 *   heliosdb.v1.Database: Execute, Query (rows streamed in batches), Batch
 *     (atomic), Transaction (a bidirectional stream is one interactive
 *     transaction on a connection of its own: statements, then commit or
 *     rollback; a stream that ends or is cancelled without commit rolls
 *     back), CreateSnapshot, ListSnapshots;
 *   grpc.health.v1.Health: Check and Watch (SERVING, or NOT_SERVING while
 *     the server shuts down; "" and "heliosdb.v1.Database" are known
 *     services, others SERVICE_UNKNOWN / NOT_FOUND);
 *   grpc.reflection.v1.ServerReflection and v1alpha: ServerReflectionInfo
 *     (list_services, file_by_filename, file_containing_symbol) from the
 *     descriptors of these .proto files, embedded at build time, and of the
 *     generated heliosdb_tables.proto when env->tables_enabled;
 *   heliosdb.tables.v1.<Table>Service (env->tables_enabled): the typed
 *     per-table services of rpc/grpc_tables.h.
 *
 * Errors map to status codes (grpc_status_of): INVALID 3 INVALID_ARGUMENT,
 * NOTFOUND 5 NOT_FOUND, CONSTRAINT 9 FAILED_PRECONDITION, EXISTS 6
 * ALREADY_EXISTS, CONFLICT 10 ABORTED, TIMEOUT 4 DEADLINE_EXCEEDED,
 * TOOBIG/FULL/NOMEM/NOSPACE 8 RESOURCE_EXHAUSTED, BUSY/READONLY/IOERR 14
 * UNAVAILABLE, others 13 INTERNAL; an unknown method is 12 UNIMPLEMENTED,
 * a malformed message or frame 3 INVALID_ARGUMENT (or 13 INTERNAL for a
 * frame that cannot be a gRPC message at all, as gRPC specifies).
 */
#ifndef HDB_RPC_GRPC_H
#define HDB_RPC_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heliosdb.h"
#include "rpc/http1.h"

#define GRPC_MESSAGE_BYTES_MAX_DEFAULT (4u << 20)
#define GRPC_QUERY_BATCH_ROWS          500u /* rows per QueryBatch message */

enum grpc_code {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_UNKNOWN = 2,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_ALREADY_EXISTS = 6,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_FAILED_PRECONDITION = 9,
    GRPC_ABORTED = 10,
    GRPC_OUT_OF_RANGE = 11,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_DATA_LOSS = 15,
    GRPC_UNAUTHENTICATED = 16,
};

struct grpc_tables_cache;

/* What calls run against, shared by the calls of one network thread. */
struct grpc_env {
    heliosdb *db;
    heliosdb_conn *conn;      /* the thread's connection, for every call but Transaction */
    size_t message_bytes_max; /* one request message ([api] max_request_size_mb) */
    bool serving;             /* health: false once the server shuts down */
    /* [schema] auto_generate_grpc: the per-table services of rpc/grpc_tables.h under
     * "/heliosdb.tables.v1.", with tables_cache (the thread's; required then) */
    bool tables_enabled;
    struct grpc_tables_cache *tables_cache;
    void *spare_chunk; /* one answer buffer kept for the next call (grpc_env_release frees it) */
};

/* Frees what the env keeps between calls (not db, conn or tables_cache). */
void grpc_env_release(struct grpc_env *env);

struct grpc_call;

/*
 * A call for `path` (":path", e.g. "/heliosdb.v1.Database/Execute"), with the request's
 * grpc-timeout header (NULL if none: then no deadline; a malformed one is INVALID_ARGUMENT).
 * Returns NULL with *status and msg set when the call cannot start (12 UNIMPLEMENTED for an
 * unknown method, 8 RESOURCE_EXHAUSTED when no connection can be made for a transaction).
 */
struct grpc_call *grpc_call_new(struct grpc_env *env, const char *path, const char *timeout,
                                int *status, char *msg, size_t msg_cap);
/*
 * Request body bytes, in pieces of any size. Complete messages are handled as they come:
 * streaming-request methods (Transaction, reflection) answer each into `out` at once; unary
 * ones keep their one message for grpc_call_end. Returns 0, or 1 when the call is over early
 * (an error: *status, msg set; send the trailers and end the stream).
 */
int grpc_call_data(struct grpc_call *c, const uint8_t *data, size_t len, struct http1_out *out,
                   int *status, char *msg, size_t msg_cap);
/* The client ended its side: unary and server-streaming methods run now, appending their
 * messages to `out`; *status and msg get the call's outcome (for the trailers). */
void grpc_call_end(struct grpc_call *c, struct http1_out *out, int *status, char *msg,
                   size_t msg_cap);
/* Health Watch: appends a status message if the serving state changed since the last one it
 * sent (the server calls it on every open Watch when shutting down). Returns whether it did. */
bool grpc_call_poll(struct grpc_call *c, struct http1_out *out);
/* Is this a Watch (a stream the server keeps open)? */
bool grpc_call_is_watch(const struct grpc_call *c);
/* Frees the call; a Transaction not committed rolls back and its connection closes. */
void grpc_call_free(struct grpc_call *c);

/* The gRPC status for a HeliosDB status (see the top of this file). */
int grpc_status_of(int heliosdb_status);
/* grpc-timeout ("1S", "250m", "100u", "5n", "2M", "1H"; at most 8 digits) in milliseconds
 * (rounded up); -1 if malformed. */
int64_t grpc_timeout_ms(const char *value);

#endif
