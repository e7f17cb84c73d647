/*
 * datetime.h — SQLite-compatible date and time functions: date(), time(),
 * datetime(), julianday(), unixepoch() and strftime().
 *
 * The module knows nothing of the engine's value type: the SQL layer passes
 * each argument as a `struct hdb_dt_arg` and gets a `struct hdb_dt_result`
 * back, which is NULL, text, an integer or a real. Behaviour follows SQLite
 * (checked against SQLite 3.54 and 3.40; see docs/sql-datetime.md): a time
 * value or modifier that does not parse, or a date outside 0000-01-01 ..
 * 9999-12-31 (Julian day 0 .. 5373484.49999), gives a NULL result, never an
 * error. An error (HDB_INVALID) means misuse or a documented bound: more
 * than HDB_DT_ARGS_MAX arguments, strftime() without a format, a text
 * argument with a NULL pointer, or a result longer than HDB_DT_TEXT_MAX - 1.
 *
 * Every function is pure apart from `now_ms`, the statement's clock in Unix
 * milliseconds, which the caller fixes for one statement as SQLite does, and
 * the 'localtime' and 'utc' modifiers, which read the process time zone
 * (localtime_r). Functions are thread-safe; they allocate nothing.
 */
#ifndef HDB_SQL_DATETIME_H
#define HDB_SQL_DATETIME_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Longest text result, including its terminating NUL. */
#define HDB_DT_TEXT_MAX 512
/* Most arguments one call takes: the format, the time value and modifiers. */
#define HDB_DT_ARGS_MAX 128
/* A number (time value or modifier amount) longer than this, spaces
 * excluded, is not read as a number: the result is NULL. */
#define HDB_DT_NUMBER_BYTES_MAX 64

/* The type of an argument or result. */
enum hdb_dt_arg_type { HDB_DT_NULL, HDB_DT_INT, HDB_DT_REAL, HDB_DT_TEXT };

/* An argument as the SQL layer passes it: `i` for INT, `r` for REAL, `s` and
 * `len` (bytes, not NUL-terminated) for TEXT. Borrowed for the call only. */
struct hdb_dt_arg {
    enum hdb_dt_arg_type type;
    int64_t i;
    double r;
    const char *s;
    size_t len;
};

/* A result: NULL, TEXT (in `buf`, NUL-terminated, `len` bytes), INT in `i`
 * or REAL in `r`. */
struct hdb_dt_result {
    enum hdb_dt_arg_type type;
    int64_t i;
    double r;
    char buf[HDB_DT_TEXT_MAX];
    size_t len;
};

/*
 * Each function takes `n` arguments: the time value (none means 'now') then
 * modifiers, as in SQLite. On HDB_OK `out` holds the result (possibly NULL);
 * on an error `out` is NULL-typed and `err` (may be NULL) says why.
 */

/* date(): 'YYYY-MM-DD' text. */
int hdb_dt_date(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                struct hdb_dt_result *out, struct hdb_err *err);
/* time(): 'HH:MM:SS' text ('HH:MM:SS.SSS' with 'subsec'). */
int hdb_dt_time(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                struct hdb_dt_result *out, struct hdb_err *err);
/* datetime(): 'YYYY-MM-DD HH:MM:SS' text ('.SSS' added with 'subsec'). */
int hdb_dt_datetime(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                    struct hdb_dt_result *out, struct hdb_err *err);
/* julianday(): the Julian day number as a real. */
int hdb_dt_julianday(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                     struct hdb_dt_result *out, struct hdb_err *err);
/* unixepoch(): seconds since 1970-01-01 as an integer (a real with 'subsec'). */
int hdb_dt_unixepoch(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                     struct hdb_dt_result *out, struct hdb_err *err);
/* strftime(): args[0] is the format (n >= 1), then the time value and
 * modifiers. An unknown %-conversion gives NULL. */
int hdb_dt_strftime(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                    struct hdb_dt_result *out, struct hdb_err *err);

#endif
