/*
 * log.c — see log.h.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = HDB_LOG_INFO;
static atomic_bool log_json = false;

void hdb_log_set_level(enum hdb_log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum hdb_log_level hdb_log_get_level(void)
{
    return (enum hdb_log_level)atomic_load(&log_level);
}

int hdb_log_level_parse(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            return i;
        }
    }
    if (strcmp(name, "trace") == 0) {
        return HDB_LOG_DEBUG;
    }
    return -1;
}

void hdb_log_set_json(bool json)
{
    atomic_store(&log_json, json);
}

/* Appends `s` to `out` as the inside of a JSON string. */
static size_t json_escape(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s != '\0' && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return n;
}

void hdb_log(enum hdb_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level)) {
        return;
    }
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof when - w, ".%03ldZ", ts.tv_nsec / 1000000);

    char line[1400];
    int len;
    if (atomic_load(&log_json)) {
        char esc[1200];
        json_escape(esc, sizeof esc, msg);
        len = snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", when,
                       names[level], esc);
    } else {
        len = snprintf(line, sizeof line, "%s %-5s %s\n", when, names[level], msg);
    }
    if (len > (int)sizeof line - 1) {
        len = (int)sizeof line - 1;
        line[len - 1] = '\n';
    }
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)len);
    (void)ignored;
}
