/*
 * rest_tables.h — the REST API generated from the schema ([schema]
 * auto_generate_rest), on the public C API and sql/api_int.h (the catalog).
 *
 *   GET    /v1/{table}        rows, with PostgREST's grammar in the query:
 *                             `col=eq.5` (also neq gt gte lt lte like ilike
 *                             is in.(a,b)), `order=col.desc,col2.asc`,
 *                             `limit=`, `offset=`, `select=col1,col2`;
 *                             several filters AND together
 *   POST   /v1/{table}        one JSON object or an array of them, in one
 *                             transaction; `Prefer: return=representation`
 *                             answers the rows written (201), else
 *                             `return=minimal` (201, no body; the default)
 *   GET    /v1/{table}/{pk}   one row by its primary key (404 if none)
 *   PATCH  /v1/{table}/{pk}   the object's columns set (404 if no row)
 *   PUT    /v1/{table}/{pk}   the whole row replaced or inserted (upsert)
 *   DELETE /v1/{table}/{pk}   the row deleted (404 if none; 204)
 *   GET    /v1/_openapi.json  OpenAPI 3.1 of every table's routes and rows
 *
 * A composite primary key is written as its values joined by ',' in key
 * order. Names are matched exactly (table and column names as declared);
 * every name and value goes into SQL as a quoted identifier or a bound
 * parameter, never as text. Answers and errors are JSON as in
 * rpc/sqljson.h (rows as objects keyed by column name here).
 */
#ifndef HDB_RPC_REST_TABLES_H
#define HDB_RPC_REST_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heliosdb.h"
#include "rpc/sqljson.h"
#include "sql/api_int.h"

#define REST_ROWS_MAX 10000u /* GET without a limit answers at most this many (and says so) */

/* A copy of the catalog kept between requests (one per network thread), taken again when the
 * catalog's change counter moved: a request then costs no catalog read. */
struct rest_cache {
    uint64_t seq;
    bool valid;
    struct heliosdb_table_info *tables;
    uint32_t ntables;
};
void rest_cache_free(struct rest_cache *c);

struct rest_request {
    int method;         /* enum http_method (http_parser.h) */
    const char *path;   /* decoded, e.g. "/v1/users/5" */
    const char *query;  /* raw, after '?', or NULL */
    const char *prefer; /* the Prefer header, or NULL */
    const uint8_t *body;
    size_t body_len;
    struct rest_cache *cache; /* may be NULL: the catalog is read for this request */
};

/*
 * Answers a request for /v1/{name}[/{pk}] (name not starting with '_') or /v1/_openapi.json.
 * Returns 1 (and leaves `out` alone) when the path is none of these, else 0 with `out` filled
 * (an error answer included: 404 for an unknown table or column, 400 for a bad filter or body,
 * 405 for a method the route does not take, 409 for constraints, ...). `extra` gets header
 * lines ("Location: ...\r\n", "Content-Range: ...\r\n") when the answer has some.
 */
int rest_tables_route(heliosdb_conn *c, const struct rest_request *r, struct sqljson_answer *out,
                      char *extra, size_t extra_cap);

#endif
