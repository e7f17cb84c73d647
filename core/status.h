/*
 * status.h — the status codes every HeliosDB-Lite function returns, and the
 * error record that carries a message a caller can act on.
 *
 * Functions return an int: HDB_OK or one of the codes below. When they fail
 * they fill a caller-supplied `struct hdb_err` (which may be NULL) with the
 * same code and a message that names what went wrong (file, page, offset,
 * key). There is no global errno-style state.
 */
#ifndef HDB_STATUS_H
#define HDB_STATUS_H

#include <stddef.h>

enum hdb_status {
    HDB_OK = 0,
    HDB_ERROR = 1,       /* internal error (a bug) */
    HDB_INVALID = 2,     /* bad argument or input */
    HDB_NOTFOUND = 3,    /* no such key, tree or file */
    HDB_CORRUPT = 4,     /* a checksum or structural check failed */
    HDB_IOERR = 5,       /* the operating system reported an I/O error */
    HDB_NOSPACE = 6,     /* the disk is full (ENOSPC) */
    HDB_NOMEM = 7,       /* out of memory */
    HDB_BUSY = 8,        /* another process holds the database */
    HDB_TOOBIG = 9,      /* a key, value or transaction exceeds a documented limit */
    HDB_FULL = 10,       /* a bounded resource is exhausted (cache frames, WAL space) */
    HDB_READONLY = 11,   /* writes refused after an unrecoverable I/O error until reopen */
    HDB_CONFLICT = 12,   /* serialization failure; retry the transaction */
    HDB_CONSTRAINT = 13, /* a constraint was violated */
    HDB_EXISTS = 14,     /* the object already exists */
    HDB_TIMEOUT = 15,    /* a statement ran past its time limit (statement_timeout_ms) */
};

#define HDB_ERR_MSG_BYTES_MAX 512

struct hdb_err {
    int code;
    char msg[HDB_ERR_MSG_BYTES_MAX];
};

/* Fills `err` (if not NULL) with `code` and a formatted message; returns `code`. */
int hdb_err_set(struct hdb_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in `err` with more context; returns err->code. */
int hdb_err_prefix(struct hdb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Maps an errno value from a failed system call to a status code. */
int hdb_status_from_errno(int errnum);

/* The symbolic name of a status code ("HDB_CORRUPT"). */
const char *hdb_status_name(int code);

#endif
