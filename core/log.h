/*
 * log.h — leveled log lines to stderr (text or JSON), shared by every layer.
 *
 * The level is process-wide and set once at startup (`log_level`). Lines
 * are written with one write(2) each so lines from different threads do
 * not interleave. `hdb_log_once` logs a given site only the first time,
 * for fallbacks such as "io_uring unavailable, using pread/pwrite".
 */
#ifndef HDB_LOG_H
#define HDB_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

enum hdb_log_level {
    HDB_LOG_ERROR = 0,
    HDB_LOG_WARN = 1,
    HDB_LOG_INFO = 2,
    HDB_LOG_DEBUG = 3,
};

void hdb_log_set_level(enum hdb_log_level level);
enum hdb_log_level hdb_log_get_level(void);
/* Parses "error", "warn", "info", "debug" (also "trace" = debug); returns -1 if unknown. */
int hdb_log_level_parse(const char *name);
void hdb_log_set_json(bool json);

void hdb_log(enum hdb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs at most once per call site for the life of the process. */
#define hdb_log_once(level, ...)                                                                   \
    do {                                                                                           \
        static atomic_bool hdb_log_once_done_;                                                     \
        if (!atomic_exchange(&hdb_log_once_done_, true)) {                                         \
            hdb_log(level, __VA_ARGS__);                                                           \
        }                                                                                          \
    } while (0)

#endif
