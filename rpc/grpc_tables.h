/*
 * grpc_tables.h — typed gRPC services generated at run time from the catalog
 * ([schema] auto_generate_grpc; docs/server.md), package heliosdb.tables.v1,
 * file "heliosdb_tables.proto".
 *
 * Per table T (its name in UpperCamelCase, non-alphanumerics dropped):
 *   message T            the columns, every field `optional` (proto3
 *                        presence: absent is NULL), number = column id + 1
 *   message TKey         the primary-key fields (same numbers, no presence)
 *   message TListRequest {int32 page_size = 1; string page_token = 2;}
 *   message TList        {repeated T rows = 1; string next_page_token = 2;}
 *   message TDeleted     {}
 *   service TService     Create(T) T, Get(TKey) T, List(TListRequest) TList,
 *                        Update(T) T, Delete(TKey) TDeleted (a table without
 *                        a primary key: Create and List only)
 *
 * The generated file (its .proto text and its FileDescriptorProto, written
 * here in the wire format) is kept in a cache the caller owns, one per
 * network thread, and built again when the catalog's change counter
 * (heliosdb_schema_seq) moved. Methods run SQL on the public C API with
 * every name a quoted identifier and every value a bound parameter.
 */
#ifndef HDB_RPC_GRPC_TABLES_H
#define HDB_RPC_GRPC_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heliosdb.h"
#include "rpc/http1.h"

#define GRPC_TABLES_PACKAGE       "heliosdb.tables.v1"
#define GRPC_TABLES_FILE          "heliosdb_tables.proto"
#define GRPC_TABLES_PATH_PREFIX   "/heliosdb.tables.v1."
#define GRPC_TABLES_PAGE_DEFAULT  100u  /* List's page_size when 0 */
#define GRPC_TABLES_PAGE_MAX      1000u /* List's page_size at most (larger asks get this many) */
#define GRPC_TABLES_MESSAGE_BYTES 1024u /* an error message */

/* The generated services of one catalog. */
struct grpc_tables;

/* The generated services kept between calls (one per network thread; zero it to start). */
struct grpc_tables_cache {
    uint64_t seq;
    bool valid;              /* gen matches seq (false when built while a DDL committed) */
    struct grpc_tables *gen; /* NULL until the first grpc_tables_get */
};
void grpc_tables_cache_free(struct grpc_tables_cache *c);

/*
 * The generated services for the catalog as c sees it now: from the cache while the catalog's
 * change counter stayed the same, else built again (and kept in the cache). *out is borrowed
 * from the cache until the next grpc_tables_get on it. c must not be inside a transaction.
 * Returns a HELIOSDB_* status with e filled.
 */
int grpc_tables_get(heliosdb_conn *c, struct grpc_tables_cache *cache,
                    const struct grpc_tables **out, heliosdb_error *e);

/* The .proto text (NUL-terminated). */
const char *grpc_tables_proto(const struct grpc_tables *g);
/* The FileDescriptorProto of the file, in the wire format. */
void grpc_tables_descriptor(const struct grpc_tables *g, const uint8_t **data, size_t *len);
/* The services, fully qualified ("heliosdb.tables.v1.UsersService"). */
uint32_t grpc_tables_services(const struct grpc_tables *g);
const char *grpc_tables_service(const struct grpc_tables *g, uint32_t i);
/* Whether ":path" names a generated method ("/heliosdb.tables.v1.UsersService/Get"). */
bool grpc_tables_has_method(const struct grpc_tables *g, const char *path);

/*
 * Runs the unary method `path` on the request message req[0..len) on connection c, appending
 * the answer as one gRPC message (framed, uncompressed) to out. Returns a gRPC status
 * (enum grpc_code: 0, 12 UNIMPLEMENTED for an unknown method, 3 INVALID_ARGUMENT for a malformed
 * message or wrong wire type, 5 NOT_FOUND for no row with the key, or the engine's status as
 * grpc_status_of maps it) with msg filled when not 0.
 */
int grpc_tables_call(heliosdb_conn *c, const struct grpc_tables *g, const char *path,
                     const uint8_t *req, size_t len, struct http1_out *out, char *msg,
                     size_t msg_cap);

#endif
