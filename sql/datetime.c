/*
 * datetime.c — SQLite-compatible date and time functions (see datetime.h and
 * docs/sql-datetime.md).
 *
 * How the pieces fit: every call builds a `struct dt_state` from its time
 * value (parse_time_value), applies the modifiers left to right
 * (apply_modifier), then renders the state (the hdb_dt_* entry points and
 * the strftime formatter).
 *
 * A state holds a moment in up to two forms, as SQLite does: a Julian day in
 * integer milliseconds (`jd_ms`), and broken-down fields (year .. second).
 * Either may be stale; `jd_ok`, `ymd_ok` and `hms_ok` say which are current,
 * and ensure_jd / ensure_ymd / ensure_hms derive one from the other. Keeping
 * parsed fields as given (rather than always going through the Julian day)
 * is what makes '12:00:01.0005' print like SQLite does. Dates use the
 * proleptic Gregorian calendar, converted with Meeus' algorithms
 * (Astronomical Algorithms, ch. 7).
 *
 * Invalid input never fails a call: it marks the state `failed` and the
 * result is NULL. Only misuse and the bounds in datetime.h return an error.
 */
#include "sql/datetime.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MS_PER_DAY  INT64_C(86400000)
#define MS_HALF_DAY INT64_C(43200000)
/* Julian day of 1970-01-01 00:00:00 in milliseconds. */
#define UNIX_EPOCH_JD_MS INT64_C(210866760000000)
/* Last valid millisecond: 9999-12-31 23:59:59.999. */
#define JD_MS_MAX INT64_C(464269060799999)
/* A raw number is a Julian day when it is in [0, JD_DAYS_LIMIT). */
#define JD_DAYS_LIMIT 5373484.5
/* Unix seconds 'auto' accepts: 0000-01-01 .. 9999-12-31 23:59:59. */
#define UNIX_SECONDS_MIN (-210866760000.0)
#define UNIX_SECONDS_MAX 253402300799.0
/* Beyond this a Julian day is nonsense; stops int64 overflow in long chains. */
#define JD_MS_SANE (INT64_C(1) << 61)
/* Room for one formatted field (a %J or %s number is the longest). */
#define FIELD_BYTES_MAX 96

static_assert(HDB_DT_TEXT_MAX >= 32, "date/time results need room");
static_assert(HDB_DT_NUMBER_BYTES_MAX < FIELD_BYTES_MAX, "number buffer");

struct dt_state {
    int64_t jd_ms;
    int year, month, day, hour, minute;
    double second;
    double raw;     /* the numeric time value as given, while is_raw */
    int floor_days; /* days past month end after the last month/year shift */
    int zone_min;   /* pending zone offset of a time-only value, minutes east */
    bool jd_ok, ymd_ok, hms_ok;
    bool is_raw; /* time value was a number; 'unixepoch'/'auto' may reread it */
    bool is_utc, is_local, subsec, failed;
};

/* ---- small text helpers ---- */

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* True when s[0..len) equals the lower-case `word`, ignoring ASCII case. */
static bool equals_word(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);
    if (len != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (ascii_lower(s[i]) != word[i]) {
            return false;
        }
    }
    return true;
}

static bool has_prefix(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && equals_word(s, n, word);
}

/* Reads exactly `width` digits at s[*pos] into a value in [lo, hi]. */
static bool read_digits(const char *s, size_t len, size_t *pos, int width, int lo, int hi, int *out)
{
    int v = 0;
    for (int i = 0; i < width; i++) {
        if (*pos >= len || !is_digit(s[*pos])) {
            return false;
        }
        v = v * 10 + (s[*pos] - '0');
        (*pos)++;
    }
    if (v < lo || v > hi) {
        return false;
    }
    *out = v;
    return true;
}

static bool read_char(const char *s, size_t len, size_t *pos, char c)
{
    if (*pos < len && s[*pos] == c) {
        (*pos)++;
        return true;
    }
    return false;
}

static void skip_spaces(const char *s, size_t len, size_t *pos)
{
    while (*pos < len && is_space(s[*pos])) {
        (*pos)++;
    }
}

/* Skips digits; returns how many. */
static size_t skip_digits(const char *s, size_t len, size_t *pos)
{
    size_t start = *pos;
    while (*pos < len && is_digit(s[*pos])) {
        (*pos)++;
    }
    return *pos - start;
}

/*
 * Reads all of s[0..len) as a decimal number with optional surrounding
 * spaces, sign, fraction and exponent (no hex, inf or nan), as SQLite does.
 * False when it is not one, is not finite, or exceeds
 * HDB_DT_NUMBER_BYTES_MAX.
 */
static bool parse_number(const char *s, size_t len, double *out)
{
    size_t pos = 0;
    skip_spaces(s, len, &pos);
    size_t start = pos;
    if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
        pos++;
    }
    size_t int_digits = skip_digits(s, len, &pos);
    size_t frac_digits = 0;
    if (read_char(s, len, &pos, '.')) {
        frac_digits = skip_digits(s, len, &pos);
    }
    if (int_digits + frac_digits == 0) {
        return false;
    }
    if (pos < len && (s[pos] == 'e' || s[pos] == 'E')) {
        pos++;
        if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
            pos++;
        }
        if (skip_digits(s, len, &pos) == 0) {
            return false;
        }
    }
    size_t end = pos;
    skip_spaces(s, len, &pos);
    if (pos != len || end - start > HDB_DT_NUMBER_BYTES_MAX) {
        return false;
    }
    char buf[HDB_DT_NUMBER_BYTES_MAX + 1];
    memcpy(buf, s + start, end - start);
    buf[end - start] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v)) {
        return false;
    }
    *out = v;
    return true;
}

/* ---- calendar arithmetic ---- */

static bool jd_in_range(int64_t jd_ms)
{
    return jd_ms >= 0 && jd_ms <= JD_MS_MAX;
}

static bool is_leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    assert(m >= 1 && m <= 12);
    return (m == 2 && is_leap_year(y)) ? 29 : days[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    assert(b > 0);
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

/* Julian day (ms) of 00:00 on y-m-d; d may exceed the month (it rolls on). */
static int64_t civil_to_jd_ms(int y, int m, int d)
{
    if (m <= 2) {
        y--;
        m += 12;
    }
    int64_t a = floor_div(y, 100);
    int64_t b = 2 - a + floor_div(a, 4);
    int64_t x1 = INT64_C(36525) * (y + 4716) / 100;
    int64_t x2 = INT64_C(306001) * (m + 1) / 10000;
    /* whole days minus 1524.5: exact in double, so the product is too */
    return (int64_t)(((double)(x1 + x2 + d + b) - 1524.5) * (double)MS_PER_DAY);
}

/* The civil date of a valid Julian day (ms). */
static void jd_ms_to_civil(int64_t jd_ms, int *y, int *m, int *d)
{
    int z = (int)((jd_ms + MS_HALF_DAY) / MS_PER_DAY);
    int alpha = (int)((z - 1867216.25) / 36524.25);
    int a = z + 1 + alpha - alpha / 4;
    int b = a + 1524;
    int c = (int)((b - 122.1) / 365.25);
    int dd = (36525 * (c & 32767)) / 100;
    int e = (int)((b - dd) / 30.6001);
    *d = b - dd - (int)(30.6001 * e);
    *m = e < 14 ? e - 1 : e - 13;
    *y = *m > 2 ? c - 4716 : c - 4715;
}

/* Day number whose value mod 7 is 0 on Mondays. */
static int64_t jd_day_number(int64_t jd_ms)
{
    return (jd_ms + MS_HALF_DAY) / MS_PER_DAY;
}

/* ---- state transitions ---- */

static void fail(struct dt_state *st)
{
    st->failed = true;
    st->jd_ok = st->ymd_ok = st->hms_ok = false;
}

/* Keeps only the Julian day: the fields go stale after it moves. */
static void keep_jd_only(struct dt_state *st)
{
    st->ymd_ok = false;
    st->hms_ok = false;
}

/* Makes the Julian day current from the fields (and any pending zone). */
static void ensure_jd(struct dt_state *st)
{
    if (st->jd_ok || st->failed) {
        return;
    }
    if (!st->ymd_ok && !st->hms_ok) {
        fail(st); /* a raw number outside the Julian day range */
        return;
    }
    int y = st->ymd_ok ? st->year : 2000;
    int m = st->ymd_ok ? st->month : 1;
    int d = st->ymd_ok ? st->day : 1;
    if (y < -4713 || y > 9999) {
        fail(st);
        return;
    }
    int64_t jd = civil_to_jd_ms(y, m, d);
    if (st->hms_ok) {
        double sec_of_day = st->hour * 3600.0 + st->minute * 60.0 + st->second;
        jd += (int64_t)(sec_of_day * 1000.0 + 0.5);
    }
    st->jd_ms = jd;
    st->jd_ok = true;
    if (st->zone_min != 0) {
        /* Folding the zone in makes the fields (local to that zone) stale. */
        st->jd_ms -= (int64_t)st->zone_min * 60000;
        st->zone_min = 0;
        keep_jd_only(st);
    }
}

/* Makes the date fields current (2000-01-01 for a time-only value). */
static void ensure_ymd(struct dt_state *st)
{
    if (st->ymd_ok || st->failed) {
        return;
    }
    if (!st->jd_ok && !st->hms_ok) {
        fail(st); /* a raw number outside the Julian day range */
        return;
    }
    if (!st->jd_ok) {
        st->year = 2000;
        st->month = 1;
        st->day = 1;
    } else if (!jd_in_range(st->jd_ms)) {
        fail(st);
        return;
    } else {
        jd_ms_to_civil(st->jd_ms, &st->year, &st->month, &st->day);
    }
    st->ymd_ok = true;
}

/* Makes the time fields current. */
static void ensure_hms(struct dt_state *st)
{
    if (st->hms_ok || st->failed) {
        return;
    }
    ensure_jd(st);
    if (st->failed) {
        return;
    }
    int64_t ms_of_day = (st->jd_ms + MS_HALF_DAY) % MS_PER_DAY;
    st->second = (double)(ms_of_day % 60000) / 1000.0;
    int64_t minutes = ms_of_day / 60000;
    st->minute = (int)(minutes % 60);
    st->hour = (int)(minutes / 60);
    st->hms_ok = true;
    st->is_raw = false;
}

static void ensure_fields(struct dt_state *st)
{
    ensure_ymd(st);
    ensure_hms(st);
}

/* Adds to the Julian day, failing rather than overflowing. */
static void add_ms(struct dt_state *st, int64_t delta_ms)
{
    if (st->failed) {
        return;
    }
    if (st->jd_ms > JD_MS_SANE || st->jd_ms < -JD_MS_SANE || delta_ms > JD_MS_SANE ||
        delta_ms < -JD_MS_SANE) {
        fail(st);
        return;
    }
    st->jd_ms += delta_ms;
}

/* Brings a month count back into 1..12, carrying into the year, and notes
 * how far the day runs past the end of the month. */
static void normalize_month(struct dt_state *st)
{
    int carry = st->month > 0 ? (st->month - 1) / 12 : (st->month - 12) / 12;
    st->year += carry;
    st->month -= carry * 12;
    int excess = st->day - days_in_month(st->year, st->month);
    st->floor_days = excess > 0 ? excess : 0;
    st->jd_ok = false;
}

/* ---- time values ---- */

/* Reads '[+-]HH:MM' or 'Z' and trailing spaces after a time; returns the
 * offset in minutes east of UTC. */
static bool parse_zone(const char *s, size_t len, size_t *pos, int *zone_min, bool *zoned)
{
    skip_spaces(s, len, pos);
    *zone_min = 0;
    *zoned = false;
    if (*pos < len && (s[*pos] == 'Z' || s[*pos] == 'z')) {
        (*pos)++;
        *zoned = true;
    } else if (*pos < len && (s[*pos] == '+' || s[*pos] == '-')) {
        int sign = s[*pos] == '-' ? -1 : 1;
        int h, m;
        (*pos)++;
        if (!read_digits(s, len, pos, 2, 0, 14, &h) || !read_char(s, len, pos, ':') ||
            !read_digits(s, len, pos, 2, 0, 59, &m)) {
            return false;
        }
        *zone_min = sign * (h * 60 + m);
        *zoned = true;
    }
    skip_spaces(s, len, pos);
    return *pos == len;
}

/* Reads '.digits' after the seconds; clamps so it never rounds up to the
 * next second. */
static double parse_fraction(const char *s, size_t len, size_t *pos)
{
    double value = 0.0, scale = 1.0;
    int used = 0;
    while (*pos < len && is_digit(s[*pos])) {
        if (used < 18) {
            value = value * 10.0 + (s[*pos] - '0');
            scale *= 10.0;
            used++;
        }
        (*pos)++;
    }
    double frac = value / scale;
    return frac > 0.999 ? 0.999 : frac;
}

struct clock_time {
    int hour, minute;
    double second;
    int zone_min;
    bool zoned;
};

/* Reads 'HH:MM[:SS[.SSS]]' then an optional zone; must consume s[pos..len). */
static bool parse_clock(const char *s, size_t len, size_t pos, struct clock_time *t)
{
    int sec = 0;
    double frac = 0.0;
    if (!read_digits(s, len, &pos, 2, 0, 24, &t->hour) || !read_char(s, len, &pos, ':') ||
        !read_digits(s, len, &pos, 2, 0, 59, &t->minute)) {
        return false;
    }
    if (read_char(s, len, &pos, ':')) {
        if (!read_digits(s, len, &pos, 2, 0, 59, &sec)) {
            return false;
        }
        if (pos + 1 < len && s[pos] == '.' && is_digit(s[pos + 1])) {
            pos++;
            frac = parse_fraction(s, len, &pos);
        }
    }
    t->second = sec + frac;
    if (t->hour == 24 && (t->minute != 0 || t->second != 0.0)) {
        return false;
    }
    return parse_zone(s, len, &pos, &t->zone_min, &t->zoned);
}

/* Moves a parsed date on by `days`, keeping the time fields as parsed. */
static void roll_date(struct dt_state *st, int days)
{
    int64_t jd = civil_to_jd_ms(st->year, st->month, st->day) + days * MS_PER_DAY;
    if (!jd_in_range(jd)) {
        fail(st);
        return;
    }
    jd_ms_to_civil(jd, &st->year, &st->month, &st->day);
}

/* Applies a parsed clock time to the state: 24:00 becomes 00:00 of the next
 * day and a zone offset is folded into the Julian day. */
static void set_clock(struct dt_state *st, const struct clock_time *t)
{
    st->hour = t->hour;
    st->minute = t->minute;
    st->second = t->second;
    st->hms_ok = true;
    if (st->hour == 24) {
        st->hour = 0;
        if (!st->ymd_ok) {
            st->year = 2000;
            st->month = 1;
            st->day = 1;
            st->ymd_ok = true;
        }
        roll_date(st, 1);
    }
    if (t->zoned) {
        st->is_utc = true;
    }
    if (t->zone_min != 0 && !st->ymd_ok) {
        st->zone_min = t->zone_min; /* time only: SQLite applies it lazily */
    } else if (t->zone_min != 0 && !st->failed) {
        ensure_jd(st);
        add_ms(st, -(int64_t)t->zone_min * 60000);
        keep_jd_only(st);
    }
}

/* Reads '[-]YYYY-MM-DD[( |T)+time]'. False when the text is not that form. */
static bool parse_date_text(const char *s, size_t len, struct dt_state *st)
{
    size_t pos = 0;
    bool negative = read_char(s, len, &pos, '-');
    int y, m, d;
    if (!read_digits(s, len, &pos, 4, 0, 9999, &y) || !read_char(s, len, &pos, '-') ||
        !read_digits(s, len, &pos, 2, 1, 12, &m) || !read_char(s, len, &pos, '-') ||
        !read_digits(s, len, &pos, 2, 1, 31, &d)) {
        return false;
    }
    while (pos < len && (is_space(s[pos]) || s[pos] == 'T')) {
        pos++;
    }
    struct clock_time t = {0};
    bool has_time = pos < len;
    if (has_time && !parse_clock(s, len, pos, &t)) {
        return false;
    }
    st->year = negative ? -y : y;
    st->month = m;
    st->day = d;
    st->ymd_ok = true;
    int excess = d - days_in_month(st->year, m);
    st->floor_days = excess > 0 ? excess : 0; /* 'floor' undoes a parsed Feb 30 too */
    if (has_time && !st->failed) {
        set_clock(st, &t);
    }
    return true;
}

/* A number as time value: a Julian day if in range; kept raw either way. */
static void set_raw_number(struct dt_state *st, double v)
{
    st->raw = v;
    st->is_raw = true;
    if (v >= 0.0 && v < JD_DAYS_LIMIT) {
        st->jd_ms = (int64_t)(v * 86400000.0 + 0.5);
        st->jd_ok = true;
    }
}

static bool set_now(struct dt_state *st, int64_t now_ms)
{
    if (now_ms < -UNIX_EPOCH_JD_MS || now_ms > JD_MS_MAX - UNIX_EPOCH_JD_MS) {
        return false;
    }
    st->jd_ms = now_ms + UNIX_EPOCH_JD_MS;
    st->jd_ok = true;
    st->is_utc = true;
    return true;
}

/* Reads a text time value; marks the state failed when it is not one. */
static void parse_time_text(const char *s, size_t len, struct dt_state *st, bool *needs_now)
{
    struct clock_time t = {0};
    double v;
    if (parse_date_text(s, len, st)) {
        return;
    }
    if (parse_clock(s, len, 0, &t)) {
        set_clock(st, &t);
    } else if (equals_word(s, len, "now")) {
        *needs_now = true;
    } else if (parse_number(s, len, &v)) {
        set_raw_number(st, v);
    } else {
        fail(st);
    }
}

/* ---- modifiers ---- */

/* Reinterprets a raw number as Unix seconds. */
static bool set_unix_seconds(struct dt_state *st)
{
    double ms = st->raw * 1000.0 + (double)UNIX_EPOCH_JD_MS;
    if (!(ms >= 0.0 && ms < (double)(JD_MS_MAX + 1))) {
        return false;
    }
    st->jd_ms = (int64_t)(ms + 0.5);
    st->jd_ok = true;
    st->ymd_ok = st->hms_ok = false;
    st->is_raw = false;
    return true;
}

/* 'unixepoch', 'julianday' and 'auto': only right after a numeric value. */
static bool apply_number_kind(struct dt_state *st, const char *z, size_t n, bool first)
{
    if (!first) {
        return false;
    }
    if (equals_word(z, n, "unixepoch")) {
        return st->is_raw && set_unix_seconds(st);
    }
    if (equals_word(z, n, "julianday")) {
        if (!st->is_raw || !st->jd_ok) {
            return false;
        }
        st->is_raw = false;
        return true;
    }
    /* auto */
    if (!st->is_raw || st->jd_ok) {
        st->is_raw = false;
        return true;
    }
    if (st->raw < UNIX_SECONDS_MIN || st->raw > UNIX_SECONDS_MAX) {
        return false;
    }
    return set_unix_seconds(st);
}

/* The local time of a Julian day, from the process time zone. Years outside
 * what localtime_r handles well (1970..2037) are mapped to an equivalent
 * year near 2000 and back, as SQLite documents. */
static bool to_local_fields(struct dt_state *st)
{
    ensure_jd(st);
    if (st->failed || !jd_in_range(st->jd_ms)) {
        return false;
    }
    int year_shift = 0;
    int64_t jd = st->jd_ms;
    if (jd < INT64_C(210866760000000) || jd > INT64_C(213014145600000)) {
        struct dt_state x = *st;
        keep_jd_only(&x);
        ensure_fields(&x);
        year_shift = (2000 + x.year % 4) - x.year;
        x.year += year_shift;
        x.jd_ok = false;
        ensure_jd(&x);
        jd = x.jd_ms;
    }
    time_t t = (time_t)(jd / 1000 - UNIX_EPOCH_JD_MS / 1000);
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL) {
        return false;
    }
    st->year = tm.tm_year + 1900 - year_shift;
    st->month = tm.tm_mon + 1;
    st->day = tm.tm_mday;
    st->hour = tm.tm_hour;
    st->minute = tm.tm_min;
    st->second = tm.tm_sec + (double)(st->jd_ms % 1000) * 0.001;
    st->ymd_ok = st->hms_ok = true;
    st->jd_ok = false;
    st->is_raw = false;
    return true;
}

/* 'utc': finds the UTC moment whose local time is the current value, by
 * fixed-point iteration (at most four rounds, enough across DST edges). */
static bool to_utc(struct dt_state *st)
{
    ensure_jd(st);
    if (st->failed) {
        return false;
    }
    int64_t target = st->jd_ms, guess = target, error_ms = 0;
    for (int round = 0; round < 4; round++) {
        guess -= error_ms;
        struct dt_state probe = {.jd_ms = guess, .jd_ok = true};
        if (!to_local_fields(&probe)) {
            return false;
        }
        ensure_jd(&probe);
        error_ms = probe.jd_ms - target;
        if (error_ms == 0) {
            break;
        }
    }
    /* SQLite starts afresh here: 'subsec' and the floor before 'utc' are lost. */
    *st = (struct dt_state){.jd_ms = guess, .jd_ok = true, .is_utc = true};
    return true;
}

static bool apply_zone_modifier(struct dt_state *st, bool to_local)
{
    if (to_local) {
        if (!st->is_local && !to_local_fields(st)) {
            return false;
        }
        st->is_utc = false;
        st->is_local = true;
        return true;
    }
    if (!st->is_utc && !to_utc(st)) {
        return false;
    }
    st->is_utc = true;
    st->is_local = false;
    return true;
}

/* 'start of month|year|day'. */
static bool apply_start_of(struct dt_state *st, const char *unit, size_t n)
{
    if (!st->jd_ok && !st->ymd_ok && !st->hms_ok) {
        return false;
    }
    ensure_ymd(st);
    if (st->failed) {
        return false;
    }
    st->zone_min = 0; /* SQLite drops a pending zone here */
    st->hour = st->minute = 0;
    st->second = 0.0;
    st->hms_ok = true;
    st->jd_ok = false;
    st->is_raw = false;
    if (equals_word(unit, n, "month")) {
        st->day = 1;
    } else if (equals_word(unit, n, "year")) {
        st->month = 1;
        st->day = 1;
    } else if (!equals_word(unit, n, "day")) {
        return false;
    }
    return true;
}

/* 'weekday N': forward to the next day (today included) with weekday N. */
static bool apply_weekday(struct dt_state *st, const char *arg, size_t n)
{
    double v;
    if (!parse_number(arg, n, &v) || !(v >= 0.0 && v < 7.0) || v != (int)v) {
        return false;
    }
    ensure_fields(st);
    st->zone_min = 0; /* SQLite drops a pending zone here */
    st->jd_ok = false;
    ensure_jd(st);
    if (st->failed) {
        return false;
    }
    int want = (int)v;
    int have = (int)(((st->jd_ms + 3 * MS_HALF_DAY) / MS_PER_DAY) % 7);
    if (have > want) {
        have -= 7;
    }
    add_ms(st, (int64_t)(want - have) * MS_PER_DAY);
    keep_jd_only(st);
    return !st->failed;
}

/* '[+-]HH:MM[:SS[.SSS]]' (zone allowed) at s: the shift in ms, within a day. */
static bool clock_shift_ms(const char *s, size_t len, int64_t *out)
{
    struct clock_time t = {0};
    if (!parse_clock(s, len, 0, &t)) {
        return false;
    }
    double sec_of_day = t.hour * 3600.0 + t.minute * 60.0 + t.second;
    int64_t ms = (int64_t)(sec_of_day * 1000.0 + 0.5) - (int64_t)t.zone_min * 60000;
    *out = ((ms % MS_PER_DAY) + MS_PER_DAY) % MS_PER_DAY;
    return true;
}

static bool apply_clock_shift(struct dt_state *st, const char *s, size_t len, bool negative)
{
    int64_t shift;
    if (!clock_shift_ms(s, len, &shift)) {
        return false;
    }
    ensure_jd(st);
    keep_jd_only(st);
    add_ms(st, negative ? -shift : shift);
    return !st->failed;
}

/* '[+-]YYYY-MM-DD[ HH:MM[:SS[.SSS]]]' where z[1..digits] is the year. */
static bool apply_date_shift(struct dt_state *st, const char *z, size_t len, size_t digits)
{
    size_t pos = 1;
    int y, m, d;
    if (!read_digits(z, len, &pos, (int)digits, 0, 99999, &y) || !read_char(z, len, &pos, '-') ||
        !read_digits(z, len, &pos, 2, 0, 11, &m) || !read_char(z, len, &pos, '-') ||
        !read_digits(z, len, &pos, 2, 0, 30, &d)) {
        return false;
    }
    bool negative = z[0] == '-';
    ensure_fields(st);
    if (st->failed) {
        return false;
    }
    st->year += negative ? -y : y;
    st->month += negative ? -m : m;
    normalize_month(st);
    ensure_jd(st);
    keep_jd_only(st);
    add_ms(st, (int64_t)(negative ? -d : d) * MS_PER_DAY);
    if (st->failed) {
        return false;
    }
    if (pos == len) {
        return true;
    }
    size_t t = pos + 1;
    if (z[pos] != ' ' || len - t < 3 || !is_digit(z[t]) || !is_digit(z[t + 1]) || z[t + 2] != ':') {
        return false;
    }
    return apply_clock_shift(st, z + t, len - t, negative);
}

struct unit {
    const char *name;
    double limit;   /* |amount| must be below this */
    double seconds; /* length of one unit */
};

static const struct unit UNITS[] = {
    {"second", 4.6427e14, 1.0},  {"minute", 7.7379e12, 60.0},    {"hour", 1.2897e11, 3600.0},
    {"day", 5373485.0, 86400.0}, {"month", 176546.0, 2592000.0}, {"year", 14713.0, 31536000.0},
};

/* 'NNN unit[s]': `rest` is what follows the number and its spaces. */
static bool apply_unit(struct dt_state *st, double amount, const char *rest, size_t n)
{
    if (n < 3 || n > 10) {
        return false;
    }
    if (ascii_lower(rest[n - 1]) == 's') {
        n--;
    }
    const struct unit *u = NULL;
    for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++) {
        if (equals_word(rest, n, UNITS[i].name)) {
            u = &UNITS[i];
        }
    }
    if (u == NULL || !(amount > -u->limit && amount < u->limit)) {
        return false;
    }
    ensure_jd(st);
    st->floor_days = 0;
    if (u == &UNITS[4] || u == &UNITS[5]) {
        ensure_fields(st);
        if (st->failed) {
            return false;
        }
        int whole = (int)amount;
        if (u == &UNITS[4]) {
            st->month += whole;
        } else {
            st->year += whole;
        }
        normalize_month(st);
        amount -= whole;
        ensure_jd(st);
    }
    double rounder = amount < 0 ? -0.5 : 0.5;
    add_ms(st, (int64_t)(amount * 1000.0 * u->seconds + rounder));
    keep_jd_only(st);
    return !st->failed;
}

/* Modifiers that start with a sign or digit: amounts and shifts. */
static bool apply_numeric(struct dt_state *st, const char *z, size_t len)
{
    size_t n = 1;
    while (n < len && z[n] != ':' && !is_space(z[n])) {
        if (z[n] == '-' && (n == 5 || n == 6)) {
            size_t digits = 0;
            for (size_t i = 1; i < n && is_digit(z[i]); i++) {
                digits++;
            }
            if (digits == n - 1) {
                break;
            }
        }
        n++;
    }
    double amount;
    if (!parse_number(z, n, &amount)) {
        return false;
    }
    if (n < len && z[n] == '-') {
        if (z[0] != '+' && z[0] != '-') {
            return false;
        }
        return apply_date_shift(st, z, len, n - 1);
    }
    if (n < len && z[n] == ':') {
        size_t from = is_digit(z[0]) ? 0 : 1;
        return apply_clock_shift(st, z + from, len - from, z[0] == '-');
    }
    size_t pos = n;
    skip_spaces(z, len, &pos);
    return apply_unit(st, amount, z + pos, len - pos);
}

/* Applies one modifier; false when it is not valid here (result NULL). */
static bool apply_modifier(struct dt_state *st, const char *z, size_t n, bool first)
{
    if (n == 0) {
        return false;
    }
    if (z[0] == '+' || z[0] == '-' || is_digit(z[0])) {
        return apply_numeric(st, z, n);
    }
    if (equals_word(z, n, "unixepoch") || equals_word(z, n, "julianday") ||
        equals_word(z, n, "auto")) {
        return apply_number_kind(st, z, n, first);
    }
    if (equals_word(z, n, "localtime") || equals_word(z, n, "utc")) {
        return apply_zone_modifier(st, ascii_lower(z[0]) == 'l');
    }
    if (equals_word(z, n, "subsec") || equals_word(z, n, "subsecond")) {
        st->subsec = true;
        return true;
    }
    if (equals_word(z, n, "ceiling") || equals_word(z, n, "floor")) {
        ensure_jd(st);
        keep_jd_only(st);
        if (ascii_lower(z[0]) == 'f') {
            add_ms(st, -(int64_t)st->floor_days * MS_PER_DAY);
        } else {
            st->floor_days = 0;
        }
        return !st->failed;
    }
    if (has_prefix(z, n, "start of ")) {
        return apply_start_of(st, z + 9, n - 9);
    }
    if (has_prefix(z, n, "weekday ")) {
        return apply_weekday(st, z + 8, n - 8);
    }
    return false;
}

/* ---- evaluation ---- */

static int check_args(const struct hdb_dt_arg *args, uint32_t n, struct hdb_err *err)
{
    if (n > HDB_DT_ARGS_MAX) {
        return hdb_err_set(err, HDB_INVALID, "date/time function: %u arguments, at most %d",
                           (unsigned)n, HDB_DT_ARGS_MAX);
    }
    if (n > 0 && args == NULL) {
        return hdb_err_set(err, HDB_INVALID, "date/time function: NULL argument array");
    }
    for (uint32_t i = 0; i < n; i++) {
        if (args[i].type > HDB_DT_TEXT) {
            return hdb_err_set(err, HDB_INVALID, "date/time function: argument %u has type %d",
                               (unsigned)i, (int)args[i].type);
        }
        if (args[i].type == HDB_DT_TEXT && args[i].s == NULL && args[i].len > 0) {
            return hdb_err_set(err, HDB_INVALID, "date/time function: argument %u text is NULL",
                               (unsigned)i);
        }
    }
    return HDB_OK;
}

/* Reads the time value args[0] (none: now) and applies args[1..n). On
 * HDB_OK the state is failed when the result is NULL. */
static int evaluate(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms, struct dt_state *st,
                    struct hdb_err *err)
{
    *st = (struct dt_state){0};
    bool needs_now = n == 0;
    if (n > 0) {
        const struct hdb_dt_arg *a = &args[0];
        if (a->type == HDB_DT_NULL) {
            fail(st);
        } else if (a->type == HDB_DT_INT) {
            set_raw_number(st, (double)a->i);
        } else if (a->type == HDB_DT_REAL) {
            set_raw_number(st, a->r);
        } else {
            parse_time_text(a->s, a->len, st, &needs_now);
        }
    }
    if (needs_now && !set_now(st, now_ms)) {
        return hdb_err_set(err, HDB_INVALID, "date/time function: now_ms %lld out of range",
                           (long long)now_ms);
    }
    for (uint32_t i = 1; i < n && !st->failed; i++) {
        /* A number or NULL is never a valid modifier. */
        if (args[i].type != HDB_DT_TEXT || !apply_modifier(st, args[i].s, args[i].len, i == 1)) {
            fail(st);
        }
    }
    ensure_jd(st);
    if (!st->failed && !jd_in_range(st->jd_ms)) {
        fail(st);
    }
    if (n <= 1 && st->ymd_ok && st->day > 28) {
        /* SQLite rolls '2021-02-30' on to March only when no modifier
         * follows; with one, the parsed fields stay as written. */
        st->ymd_ok = false;
    }
    return HDB_OK;
}

static void set_null(struct hdb_dt_result *out)
{
    out->type = HDB_DT_NULL;
    out->len = 0;
    out->buf[0] = '\0';
}

/* Bounded text output. */
struct writer {
    char *buf;
    size_t len, cap;
    bool overflow;
};

static void put(struct writer *w, const char *s, size_t n)
{
    if (w->overflow || n >= w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void putf(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct writer *w, const char *fmt, ...)
{
    char field[FIELD_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(field, sizeof field, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof field);
    put(w, field, (size_t)n);
}

static int finish_text(struct hdb_dt_result *out, const struct writer *w, struct hdb_err *err)
{
    if (w->overflow) {
        set_null(out);
        return hdb_err_set(err, HDB_INVALID, "date/time function: result longer than %d bytes",
                           HDB_DT_TEXT_MAX - 1);
    }
    out->type = HDB_DT_TEXT;
    out->len = w->len;
    return HDB_OK;
}

static void put_date(struct writer *w, const struct dt_state *st)
{
    if (st->year < 0) {
        putf(w, "-%04d-%02d-%02d", -st->year, st->month, st->day);
    } else {
        putf(w, "%04d-%02d-%02d", st->year, st->month, st->day);
    }
}

static void put_time(struct writer *w, const struct dt_state *st)
{
    if (st->subsec) {
        putf(w, "%02d:%02d:%06.3f", st->hour, st->minute, st->second);
    } else {
        putf(w, "%02d:%02d:%02d", st->hour, st->minute, (int)st->second);
    }
}

enum text_kind { TEXT_DATE, TEXT_TIME, TEXT_DATETIME };

/* A NULL result, then the moment the arguments name in *st (st->failed: none). */
static int start(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                 struct hdb_dt_result *out, struct dt_state *st, struct hdb_err *err)
{
    assert(out != NULL);
    set_null(out);
    int rc = check_args(args, n, err);
    return rc == HDB_OK ? evaluate(args, n, now_ms, st, err) : rc;
}

static int render_text(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                       struct hdb_dt_result *out, struct hdb_err *err, enum text_kind kind)
{
    struct dt_state st;
    int rc = start(args, n, now_ms, out, &st, err);
    if (rc != HDB_OK) {
        return rc;
    }
    ensure_fields(&st);
    if (st.failed) {
        return HDB_OK;
    }
    struct writer w = {.buf = out->buf, .cap = sizeof out->buf};
    if (kind != TEXT_TIME) {
        put_date(&w, &st);
    }
    if (kind == TEXT_DATETIME) {
        put(&w, " ", 1);
    }
    if (kind != TEXT_DATE) {
        put_time(&w, &st);
    }
    return finish_text(out, &w, err);
}

int hdb_dt_date(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                struct hdb_dt_result *out, struct hdb_err *err)
{
    return render_text(args, n, now_ms, out, err, TEXT_DATE);
}

int hdb_dt_time(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                struct hdb_dt_result *out, struct hdb_err *err)
{
    return render_text(args, n, now_ms, out, err, TEXT_TIME);
}

int hdb_dt_datetime(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                    struct hdb_dt_result *out, struct hdb_err *err)
{
    return render_text(args, n, now_ms, out, err, TEXT_DATETIME);
}

int hdb_dt_julianday(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                     struct hdb_dt_result *out, struct hdb_err *err)
{
    struct dt_state st;
    int rc = start(args, n, now_ms, out, &st, err);
    if (rc == HDB_OK && !st.failed) {
        out->type = HDB_DT_REAL;
        out->r = (double)st.jd_ms / 86400000.0;
    }
    return rc;
}

int hdb_dt_unixepoch(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                     struct hdb_dt_result *out, struct hdb_err *err)
{
    struct dt_state st;
    int rc = start(args, n, now_ms, out, &st, err);
    if (rc != HDB_OK || st.failed) {
        return rc;
    }
    if (st.subsec) {
        out->type = HDB_DT_REAL;
        out->r = (double)(st.jd_ms - UNIX_EPOCH_JD_MS) / 1000.0;
    } else {
        out->type = HDB_DT_INT;
        out->i = st.jd_ms / 1000 - UNIX_EPOCH_JD_MS / 1000;
    }
    return HDB_OK;
}

/* ---- strftime ---- */

/* Week-based values of the current date: 0-based day of year, ISO year and
 * week. */
struct week_info {
    int yday;
    int iso_year, iso_week;
    int64_t day_number; /* mod 7 == 0 on Mondays */
};

static int64_t day_number_of(int y, int m, int d)
{
    return jd_day_number(civil_to_jd_ms(y, m, d));
}

static struct week_info week_info_of(const struct dt_state *st)
{
    struct week_info wi;
    wi.day_number = jd_day_number(st->jd_ms);
    wi.yday = (int)(wi.day_number - day_number_of(st->year, 1, 1));
    int64_t thursday = wi.day_number - wi.day_number % 7 + 3;
    int ty, tm, td;
    jd_ms_to_civil(thursday * MS_PER_DAY, &ty, &tm, &td);
    wi.iso_year = ty;
    wi.iso_week = (int)((thursday - day_number_of(ty, 1, 1)) / 7 + 1);
    return wi;
}

static double clamped_second(const struct dt_state *st)
{
    return st->second > 59.999 ? 59.999 : st->second;
}

static int hour12(int h)
{
    int v = h % 12;
    return v == 0 ? 12 : v;
}

/* Writes one conversion; false for an unknown one. A flat table of cases,
 * so longer than the usual function on purpose. */
static bool put_conversion(struct writer *w, char c, const struct dt_state *st,
                           const struct week_info *wi)
{
    int sunday_based = (int)((wi->day_number + 1) % 7);
    int monday_based = (int)(wi->day_number % 7);
    switch (c) {
    case 'd':
        putf(w, "%02d", st->day);
        break;
    case 'e':
        putf(w, "%2d", st->day);
        break;
    case 'f':
        putf(w, "%06.3f", clamped_second(st));
        break;
    case 'F':
        putf(w, "%04d-%02d-%02d", st->year, st->month, st->day);
        break;
    case 'G':
        putf(w, "%04d", wi->iso_year);
        break;
    case 'g':
        putf(w, "%02d", wi->iso_year % 100);
        break;
    case 'H':
        putf(w, "%02d", st->hour);
        break;
    case 'I':
        putf(w, "%02d", hour12(st->hour));
        break;
    case 'j':
        putf(w, "%03d", wi->yday + 1);
        break;
    case 'J':
        putf(w, "%.16g", (double)st->jd_ms / 86400000.0);
        break;
    case 'k':
        putf(w, "%2d", st->hour);
        break;
    case 'l':
        putf(w, "%2d", hour12(st->hour));
        break;
    case 'm':
        putf(w, "%02d", st->month);
        break;
    case 'M':
        putf(w, "%02d", st->minute);
        break;
    case 'p':
        put(w, st->hour >= 12 ? "PM" : "AM", 2);
        break;
    case 'P':
        put(w, st->hour >= 12 ? "pm" : "am", 2);
        break;
    case 'R':
        putf(w, "%02d:%02d", st->hour, st->minute);
        break;
    case 's':
        if (st->subsec) {
            putf(w, "%.3f", (double)(st->jd_ms - UNIX_EPOCH_JD_MS) / 1000.0);
        } else {
            putf(w, "%lld", (long long)(st->jd_ms / 1000 - UNIX_EPOCH_JD_MS / 1000));
        }
        break;
    case 'S':
        putf(w, "%02d", (int)st->second);
        break;
    case 'T':
        putf(w, "%02d:%02d:%02d", st->hour, st->minute, (int)st->second);
        break;
    case 'u':
        putf(w, "%d", monday_based + 1);
        break;
    case 'U':
        putf(w, "%02d", (wi->yday + 7 - sunday_based) / 7);
        break;
    case 'V':
        putf(w, "%02d", wi->iso_week);
        break;
    case 'w':
        putf(w, "%d", sunday_based);
        break;
    case 'W':
        putf(w, "%02d", (wi->yday + 7 - monday_based) / 7);
        break;
    case 'Y':
        putf(w, "%04d", st->year);
        break;
    case '%':
        put(w, "%", 1);
        break;
    default:
        return false;
    }
    return true;
}

/* A numeric format becomes its SQL text, as SQLite converts it. */
static size_t number_as_text(const struct hdb_dt_arg *a, char *buf, size_t cap)
{
    int n;
    if (a->type == HDB_DT_INT) {
        n = snprintf(buf, cap, "%lld", (long long)a->i);
    } else {
        n = snprintf(buf, cap, "%.15g", a->r);
        if (isfinite(a->r) && strpbrk(buf, ".e") == NULL) {
            n = snprintf(buf, cap, "%.15g.0", a->r);
        } else if (isfinite(a->r) && strchr(buf, '.') == NULL) {
            /* 1e+20 -> 1.0e+20 */
            char mantissa[FIELD_BYTES_MAX];
            char *e = strchr(buf, 'e');
            size_t m = (size_t)(e - buf);
            memcpy(mantissa, buf, m);
            mantissa[m] = '\0';
            char exponent[FIELD_BYTES_MAX];
            snprintf(exponent, sizeof exponent, "%s", e);
            n = snprintf(buf, cap, "%s.0%s", mantissa, exponent);
        }
    }
    assert(n >= 0 && (size_t)n < cap);
    return (size_t)n;
}

int hdb_dt_strftime(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                    struct hdb_dt_result *out, struct hdb_err *err)
{
    assert(out != NULL);
    set_null(out);
    int rc = check_args(args, n, err);
    if (rc == HDB_OK && n == 0) {
        rc = hdb_err_set(err, HDB_INVALID, "strftime: no format argument");
    }
    struct dt_state st;
    if (rc == HDB_OK) {
        rc = evaluate(args + 1, n - 1, now_ms, &st, err);
    }
    if (rc != HDB_OK || st.failed || args[0].type == HDB_DT_NULL) {
        return rc;
    }
    char number[FIELD_BYTES_MAX];
    const char *fmt = args[0].s;
    size_t len = args[0].len;
    if (args[0].type != HDB_DT_TEXT) {
        len = number_as_text(&args[0], number, sizeof number);
        fmt = number;
    }
    ensure_fields(&st);
    struct week_info wi = week_info_of(&st);
    struct writer w = {.buf = out->buf, .cap = sizeof out->buf};
    for (size_t i = 0; i < len && !w.overflow; i++) {
        if (fmt[i] != '%') {
            put(&w, &fmt[i], 1);
        } else if (i + 1 >= len || !put_conversion(&w, fmt[++i], &st, &wi)) {
            set_null(out);
            return HDB_OK;
        }
    }
    return finish_text(out, &w, err);
}
