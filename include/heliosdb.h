/*
 * heliosdb.h — the embedded C API of HeliosDB-Lite, the only public header.
 *
 * Shaped like SQLite's: open a database, connect (one connection per
 * thread), prepare statements, bind parameters, step through rows, read
 * columns, finalize. Link with libheliosdb (the static libraries hdbsql,
 * hdbshards and hdbcore of this build).
 *
 *   heliosdb *db;
 *   heliosdb_conn *c;
 *   heliosdb_stmt *st;
 *   heliosdb_error err;
 *   heliosdb_open("./data", NULL, &db, &err);
 *   heliosdb_connect(db, &c, &err);
 *   heliosdb_exec(c, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)", &err);
 *   heliosdb_prepare(c, "SELECT v FROM t WHERE id = ?", -1, &st, NULL, &err);
 *   heliosdb_bind_int64(st, 1, 42, &err);
 *   while (heliosdb_step(st, &err) == HELIOSDB_ROW)
 *       puts((const char *)heliosdb_column_text(st, 0));
 *   heliosdb_finalize(st);
 *   heliosdb_disconnect(c);
 *   heliosdb_close(db, &err);
 *
 * Errors. Every call that can fail returns a status code and fills the
 * caller's heliosdb_error (which may be NULL): the same code, a message
 * naming what went wrong (the table, column, constraint, limit or file),
 * and for syntax errors the byte offset in the SQL text. HELIOSDB_CONFLICT
 * means a serialization failure: roll back and run the transaction again.
 * HELIOSDB_CONSTRAINT messages name the constraint as SQLite does
 * ("UNIQUE constraint failed: users.email").
 *
 * Threads. A heliosdb handle may be shared by threads; a heliosdb_conn and
 * the statements prepared on it belong to one thread at a time.
 *
 * Memory. Handles are freed by their close/disconnect/finalize call. Text
 * and blob pointers returned by heliosdb_column_* stay valid until the next
 * heliosdb_step, heliosdb_reset or heliosdb_finalize of that statement.
 */
#ifndef HELIOSDB_H
#define HELIOSDB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes (the engine's own numbers). */
#define HELIOSDB_OK         0
#define HELIOSDB_ERROR      1   /* internal error */
#define HELIOSDB_INVALID    2   /* bad SQL, argument or input (syntax errors carry an offset) */
#define HELIOSDB_NOTFOUND   3   /* no such table, index, snapshot or file */
#define HELIOSDB_CORRUPT    4   /* a checksum or structural check failed */
#define HELIOSDB_IOERR      5   /* the operating system reported an I/O error */
#define HELIOSDB_NOSPACE    6   /* the disk is full */
#define HELIOSDB_NOMEM      7   /* out of memory */
#define HELIOSDB_BUSY       8   /* another process holds the database */
#define HELIOSDB_TOOBIG     9   /* a value, statement or result exceeds a documented limit */
#define HELIOSDB_FULL       10  /* a bounded resource is exhausted */
#define HELIOSDB_READONLY   11  /* writes refused after an I/O failure until reopen */
#define HELIOSDB_CONFLICT   12  /* serialization failure: roll back and retry */
#define HELIOSDB_CONSTRAINT 13  /* a constraint was violated */
#define HELIOSDB_EXISTS     14  /* the object already exists */
#define HELIOSDB_TIMEOUT    15  /* the statement ran past [database] statement_timeout_ms */
#define HELIOSDB_ROW        100 /* heliosdb_step: a row is ready */
#define HELIOSDB_DONE       101 /* heliosdb_step: the statement has finished */

/* Column types (heliosdb_column_type). */
#define HELIOSDB_NULL    0
#define HELIOSDB_INTEGER 1
#define HELIOSDB_FLOAT   2
#define HELIOSDB_TEXT    3
#define HELIOSDB_BLOB    4
#define HELIOSDB_DECIMAL 5 /* a DECIMAL(p,s) value: read it with heliosdb_column_text */

typedef struct heliosdb heliosdb;
typedef struct heliosdb_conn heliosdb_conn;
typedef struct heliosdb_stmt heliosdb_stmt;

typedef struct heliosdb_error {
    int code;
    int offset; /* syntax errors: the byte offset in the SQL text; -1 otherwise */
    char message[512];
} heliosdb_error;

/*
 * Opens (creating it if needed) or recovers the database in directory
 * `path`, with the TOML configuration file `config_path` (NULL: the
 * documented defaults, then HELIOSDB_* environment variables; see
 * docs/config.md). Returns when every shard is ready. *out is set only on
 * success. HELIOSDB_BUSY: another process has the database open.
 */
int heliosdb_open(const char *path, const char *config_path, heliosdb **out, heliosdb_error *err);
/* Checkpoints and closes; every connection must have been disconnected first. */
int heliosdb_close(heliosdb *db, heliosdb_error *err);

/* A connection for the calling thread (HELIOSDB_FULL past the connection limit). */
int heliosdb_connect(heliosdb *db, heliosdb_conn **out, heliosdb_error *err);
/* Rolls back an open transaction and frees the connection. */
void heliosdb_disconnect(heliosdb_conn *c);

/* Runs every statement of a NUL-terminated text, discarding rows; stops at the first error. */
int heliosdb_exec(heliosdb_conn *c, const char *sql, heliosdb_error *err);

/*
 * Prepares the first statement of `sql` (`len` bytes, or up to the NUL if
 * negative). *tail (may be NULL) gets where the next statement starts.
 * *out is NULL if the text held no statement. The statement keeps its
 * parse: step it, reset it, bind new values, step again.
 */
int heliosdb_prepare(heliosdb_conn *c, const char *sql, long len, heliosdb_stmt **out,
                     const char **tail, heliosdb_error *err);

/* Parameters are numbered from 1 (`?`, `?NNN`, `:name` in order of first use). Values are
 * copied. A parameter left unbound is NULL. */
int heliosdb_bind_parameter_count(heliosdb_stmt *st);
int heliosdb_bind_null(heliosdb_stmt *st, int index, heliosdb_error *err);
int heliosdb_bind_int64(heliosdb_stmt *st, int index, int64_t value, heliosdb_error *err);
int heliosdb_bind_double(heliosdb_stmt *st, int index, double value, heliosdb_error *err);
/* `len` negative: up to the NUL. */
int heliosdb_bind_text(heliosdb_stmt *st, int index, const char *text, long len,
                       heliosdb_error *err);
int heliosdb_bind_blob(heliosdb_stmt *st, int index, const void *data, size_t len,
                       heliosdb_error *err);
int heliosdb_clear_bindings(heliosdb_stmt *st);

/*
 * Runs the statement (on the first call after prepare or reset) and moves
 * to its next row: HELIOSDB_ROW while there is one, then HELIOSDB_DONE, or
 * an error code. Outside BEGIN ... COMMIT each statement is its own
 * transaction, retried internally on conflicts.
 */
int heliosdb_step(heliosdb_stmt *st, heliosdb_error *err);
/* Back to before the first step; bindings are kept. */
int heliosdb_reset(heliosdb_stmt *st);
void heliosdb_finalize(heliosdb_stmt *st);

/* Result columns; for a query, known once the first heliosdb_step has run it. */
int heliosdb_column_count(heliosdb_stmt *st);
const char *heliosdb_column_name(heliosdb_stmt *st, int col);
int heliosdb_column_type(heliosdb_stmt *st, int col);
int64_t heliosdb_column_int64(heliosdb_stmt *st, int col);
double heliosdb_column_double(heliosdb_stmt *st, int col);
/* Text (numbers converted to text, NUL-terminated); NULL for a NULL value. */
const unsigned char *heliosdb_column_text(heliosdb_stmt *st, int col);
const void *heliosdb_column_blob(heliosdb_stmt *st, int col);
/* Bytes of the text or blob value (after conversion to text for numbers). */
int heliosdb_column_bytes(heliosdb_stmt *st, int col);

/* The rowid of the last row inserted on this connection (0 if none). */
int64_t heliosdb_last_insert_id(heliosdb_conn *c);
/* Rows inserted, updated or deleted by the connection's last statement. */
int64_t heliosdb_changes(heliosdb_conn *c);
/* 1 while BEGIN ... COMMIT is open on the connection. */
int heliosdb_in_transaction(heliosdb_conn *c);

/*
 * Checkpoints every shard now: pages written to the data files, the WAL
 * before it recycled (docs/shards.md; in async mode each shard waits until
 * every shard's log is durable past it). Returns when all are durable. Not
 * needed for durability (commits are durable when acknowledged in sync
 * mode); it bounds the next recovery's replay. Any thread, any time.
 */
int heliosdb_checkpoint(heliosdb_conn *c, heliosdb_error *err);

/*
 * Snapshots: the whole database as of one commit timestamp, durable until
 * dropped (docs/shards.md). *id gets the new snapshot's id.
 */
int heliosdb_snapshot_create(heliosdb_conn *c, uint64_t *id, heliosdb_error *err);
int heliosdb_snapshot_drop(heliosdb_conn *c, uint64_t id, heliosdb_error *err);

/* The name of a status code ("HELIOSDB_CONSTRAINT"). */
const char *heliosdb_status_name(int code);

#ifdef __cplusplus
}
#endif

#endif
