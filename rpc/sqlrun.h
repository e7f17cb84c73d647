/*
 * sqlrun.h — running one SQL text of a request on the public C API, shared by
 * SQL over JSON (rpc/sqljson.c) and over gRPC (rpc/grpc.c).
 *
 * A text runs in two steps. sqlrun_plan prepares every statement once
 * (parsing only, nothing runs) to find syntax errors, count the statements
 * and find the one statement that takes parameters, so a bad text or a
 * wrong param count runs nothing. sqlrun_run then runs the statements in
 * order: the caller binds the params through a callback, and the last
 * statement's rows go to the caller's row and done callbacks (the rows of
 * the others are discarded).
 *
 * Failures are HELIOSDB_* statuses with a message (struct sqlrun_fail); the
 * caller maps the status to its protocol's (sqljson_http_status,
 * grpc_status_of). An engine error with a syntax offset gets
 * " (at offset N)", N counted in bytes from the start of the text, unless
 * its message names an offset.
 */
#ifndef HDB_RPC_SQLRUN_H
#define HDB_RPC_SQLRUN_H

#include <stddef.h>
#include <stdint.h>

#include "heliosdb.h"

#define SQLRUN_MESSAGE_BYTES 1024u      /* an error message: the engine's plus our prefixes */
#define SQLRUN_NONE          UINT32_MAX /* no statement */

/* Why a request failed: a HELIOSDB_* status (HELIOSDB_OK while it has not) and its message. */
struct sqlrun_fail {
    int code;
    char message[SQLRUN_MESSAGE_BYTES];
};

/* Fills f; returns code (never HELIOSDB_OK). */
int sqlrun_fail_set(struct sqlrun_fail *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* HELIOSDB_NOMEM "out of memory". */
int sqlrun_fail_nomem(struct sqlrun_fail *f);
/* Fills f from an engine error (rc its status); offset_base is where the prepared text starts
 * within the request's text. Returns rc. */
int sqlrun_fail_engine(struct sqlrun_fail *f, int rc, const heliosdb_error *e, size_t offset_base);
/* Puts "<name>[index]: " before f's message. */
void sqlrun_fail_prefix(struct sqlrun_fail *f, const char *name, size_t index);

/* One request's text and its limits. */
struct sqlrun_text {
    const char *sql; /* not NUL-terminated necessarily */
    size_t sql_len;
    const char *name;        /* how messages name the text: "\"sql\"" (JSON) or "sql" (gRPC) */
    uint32_t statements_max; /* statements the text may hold (HELIOSDB_TOOBIG past it) */
    size_t params_given;     /* params the request carries */
};

/* What planning found in a text: how many statements, which one takes the params. */
struct sqlrun_plan {
    uint32_t statements;
    uint32_t param_statement; /* SQLRUN_NONE when no statement takes parameters */
    int param_count;
};

/*
 * Prepares every statement of t once (nothing runs) and checks t->params_given against the one
 * statement that takes parameters. HELIOSDB_INVALID for a text without a statement, two
 * statements that take parameters or a count that differs; HELIOSDB_TOOBIG past
 * t->statements_max; the engine's status for a text it cannot prepare.
 */
int sqlrun_plan(heliosdb_conn *c, const struct sqlrun_text *t, struct sqlrun_plan *p,
                struct sqlrun_fail *f);

/* The caller's part in sqlrun_run. A callback that fails returns a HELIOSDB_* status other than
 * HELIOSDB_OK, which sqlrun_run returns as it is; it says why in f or where its caller looks. */
struct sqlrun_calls {
    void *ctx;
    /* Before each statement is prepared (NULL: nothing to do). */
    int (*statement_start)(void *ctx, struct sqlrun_fail *f);
    /* Binds param i (0-based) as parameter i + 1 of st; returns the engine's status with e. */
    int (*bind)(void *ctx, heliosdb_stmt *st, size_t i, heliosdb_error *e);
    /* The last statement's current row. */
    int (*row)(void *ctx, heliosdb_stmt *st, struct sqlrun_fail *f);
    /* The last statement ran to its end (its columns and counts are there to read). */
    int (*done)(void *ctx, heliosdb_stmt *st, struct sqlrun_fail *f);
};

/* Runs t's statements on c as p planned them, the param statement bound by calls->bind. */
int sqlrun_run(heliosdb_conn *c, const struct sqlrun_text *t, const struct sqlrun_plan *p,
               const struct sqlrun_calls *calls, struct sqlrun_fail *f);

/* Rolls back a transaction left open on c (ignoring how that goes: disconnect would too). */
void sqlrun_rollback_open(heliosdb_conn *c);
/* After a text that ran outside a transaction: rolls back one it left open, which fails with
 * HELIOSDB_INVALID if rc was HELIOSDB_OK. Returns the outcome. */
int sqlrun_end_outside(heliosdb_conn *c, int rc, struct sqlrun_fail *f);
/* HELIOSDB_INVALID when an element of a batch ended the batch's transaction. */
int sqlrun_fail_batch_ended(struct sqlrun_fail *f);

#endif
