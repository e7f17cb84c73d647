/*
 * status.c — error records and status names (see status.h).
 */
#include "core/status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int hdb_err_set(struct hdb_err *err, int code, const char *fmt, ...)
{
    if (err == NULL) {
        return code;
    }
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int hdb_err_prefix(struct hdb_err *err, const char *fmt, ...)
{
    if (err == NULL) {
        return HDB_ERROR;
    }
    char prefix[HDB_ERR_MSG_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[2 * HDB_ERR_MSG_BYTES_MAX + 2];
    size_t n = strlen(prefix);
    memcpy(joined, prefix, n);
    joined[n++] = ':';
    joined[n++] = ' ';
    size_t m = strnlen(err->msg, sizeof err->msg - 1);
    memcpy(joined + n, err->msg, m);
    joined[n + m] = '\0';
    memcpy(err->msg, joined, sizeof err->msg - 1);
    err->msg[sizeof err->msg - 1] = '\0';
    return err->code;
}

int hdb_status_from_errno(int errnum)
{
    switch (errnum) {
    case ENOSPC:
    case EDQUOT:
        return HDB_NOSPACE;
    case ENOMEM:
        return HDB_NOMEM;
    case ENOENT:
        return HDB_NOTFOUND;
    case EEXIST:
        return HDB_EXISTS;
    case EINVAL:
        return HDB_INVALID;
    case EWOULDBLOCK:
        return HDB_BUSY;
    default:
        return HDB_IOERR;
    }
}

const char *hdb_status_name(int code)
{
    static const char *const names[] = {
        "HDB_OK",       "HDB_ERROR",      "HDB_INVALID", "HDB_NOTFOUND",
        "HDB_CORRUPT",  "HDB_IOERR",      "HDB_NOSPACE", "HDB_NOMEM",
        "HDB_BUSY",     "HDB_TOOBIG",     "HDB_FULL",    "HDB_READONLY",
        "HDB_CONFLICT", "HDB_CONSTRAINT", "HDB_EXISTS",  "HDB_TIMEOUT",
    };
    if (code < 0 || (size_t)code >= sizeof names / sizeof names[0]) {
        return "HDB_UNKNOWN";
    }
    return names[code];
}
