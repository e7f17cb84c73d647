/*
 * sqljson.h — SQL over JSON for the REST routes (jansson), on the public C
 * API (include/heliosdb.h) only.
 *
 * POST /v1/_sql, body {"sql": "...", "params": [...]}: one statement (a
 * text with several runs them in order, each its own transaction, and
 * answers for the last; params bind to the one statement that takes
 * parameters, with exactly its count, and a text where two statements take
 * parameters is refused). The
 * answer: {"columns": ["id", ...], "rows": [[1, "a"], ...],
 * "rows_affected": n, "last_insert_id": n}. Values: INTEGER a JSON integer,
 * FLOAT a JSON real (NaN and infinities as null), TEXT a string, NULL null,
 * DECIMAL the exact decimal text as a string ("12.50"), BLOB an object
 * {"$base64": "..."}. Params take the same forms (true/false bind 1/0).
 *
 * POST /v1/_batch, body {"statements": [{"sql": "...", "params": [...]},
 * ...]} or a bare array of those: all in one transaction (BEGIN ... COMMIT;
 * the first failure rolls back everything and is the answer, naming the
 * statement's index). The answer: {"results": [<one answer as above>, ...]}.
 *
 * Errors answer {"error": {"code": "...", "message": "...", "status": n}}
 * (sqljson_error) with the HTTP status of sqljson_http_status.
 */
#ifndef HDB_RPC_SQLJSON_H
#define HDB_RPC_SQLJSON_H

#include <stddef.h>

#include "heliosdb.h"

#define SQLJSON_ROWS_MAX       100000u /* rows one answer may hold (413 past it) */
#define SQLJSON_PARAMS_MAX     999u
#define SQLJSON_STATEMENTS_MAX 1000u /* statements one batch may hold */

/* An answer: the HTTP status and the JSON body (malloc'd, NUL-terminated; the caller frees). */
struct sqljson_answer {
    int http_status;
    char *body;
    size_t len;
};

/* Runs POST /v1/_sql's body on connection c. Always fills `out` (an error answer included);
 * returns the HeliosDB status of the statement (HELIOSDB_OK, or what failed; HELIOSDB_INVALID for
 * a malformed body, HELIOSDB_NOMEM when even the answer could not be built: then out->body is
 * NULL and the caller answers 500 itself). c must not be inside a transaction. */
int sqljson_execute(heliosdb_conn *c, const char *body, size_t len, struct sqljson_answer *out);
/* POST /v1/_batch: the same contract, all statements in one transaction. */
int sqljson_batch(heliosdb_conn *c, const char *body, size_t len, struct sqljson_answer *out);

/* An error answer {"error": {"code", "message", "status"}} (code: a name such as
 * "INVALID_ARGUMENT"; the message is copied). Returns 0, or -1 out of memory. */
int sqljson_error(int http_status, const char *code, const char *message,
                  struct sqljson_answer *out);
/*
 * The HTTP status and error code for a HeliosDB status: INVALID 400 "INVALID_ARGUMENT",
 * NOTFOUND 404 "NOT_FOUND", CONSTRAINT 409 "FAILED_PRECONDITION", EXISTS 409 "ALREADY_EXISTS",
 * CONFLICT 409 "ABORTED" (retry), TIMEOUT 504 "DEADLINE_EXCEEDED", TOOBIG 413
 * "RESOURCE_EXHAUSTED", FULL/NOMEM/NOSPACE 503 "RESOURCE_EXHAUSTED", BUSY/READONLY/IOERR 503
 * "UNAVAILABLE", CORRUPT and ERROR 500 "INTERNAL".
 */
int sqljson_http_status(int heliosdb_status, const char **code);
void sqljson_answer_free(struct sqljson_answer *a);

#endif
