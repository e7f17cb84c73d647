/*
 * decimal.h — exact fixed-point numbers for DECIMAL(p,s) / NUMERIC(p,s)
 * columns with a declared precision (DESIGN §6: money is exact).
 *
 * A value is a signed integer coefficient of at most 38 decimal digits and a
 * scale: value = coefficient / 10^scale. Addition, subtraction and
 * multiplication are exact; a result that needs more than 38 digits is an
 * error (HDB_TOOBIG, "numeric overflow"), never a rounded or wrapped value.
 * Rounding happens only where a result must take fewer fraction digits than
 * it has (storing into a column of scale s, division, round()): half away
 * from zero (2.345 -> 2.35, -2.345 -> -2.35), as PostgreSQL's NUMERIC does.
 * Division keeps max(s1, s2) + HDB_DEC_DIV_EXTRA_SCALE fraction digits (at
 * most 38, fewer if the integer part needs the room); division by zero is an
 * error (HDB_INVALID) here — the SQL layer maps it to NULL as SQLite does.
 */
#ifndef HDB_DECIMAL_H
#define HDB_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define HDB_DEC_DIGITS_MAX      38u /* precision limit of DECIMAL(p,s) */
#define HDB_DEC_DIV_EXTRA_SCALE 6u  /* extra fraction digits a quotient keeps */
#define HDB_DEC_TEXT_MAX        48u /* sign, 38 digits, point, NUL, with room */

__extension__ typedef __int128 hdb_i128;

struct hdb_dec {
    hdb_i128 coef; /* |coef| < 10^38 */
    uint8_t scale; /* 0..38 */
};

/* Parses "[-+]digits[.digits][e[-+]digits]" (surrounding spaces allowed). */
int hdb_dec_parse(const char *text, size_t len, struct hdb_dec *out, struct hdb_err *err);
/* Writes the value with exactly `scale` fraction digits ("-12.50"); returns the length. */
size_t hdb_dec_format(const struct hdb_dec *d, char out[HDB_DEC_TEXT_MAX]);

void hdb_dec_from_i64(int64_t v, struct hdb_dec *out);
/* A double, through its shortest exact-enough decimal text (17 significant digits). */
int hdb_dec_from_double(double v, struct hdb_dec *out, struct hdb_err *err);
double hdb_dec_to_double(const struct hdb_dec *d);
/* The integer part (truncated toward zero); HDB_TOOBIG outside int64. */
int hdb_dec_to_i64(const struct hdb_dec *d, int64_t *out, struct hdb_err *err);

/* Rounds (half away from zero) or pads to `scale`, then checks that the value
 * fits DECIMAL(precision, scale): HDB_TOOBIG naming both otherwise. */
int hdb_dec_fit(const struct hdb_dec *d, uint32_t precision, uint32_t scale, struct hdb_dec *out,
                struct hdb_err *err);

int hdb_dec_add(const struct hdb_dec *a, const struct hdb_dec *b, struct hdb_dec *out,
                struct hdb_err *err);
int hdb_dec_sub(const struct hdb_dec *a, const struct hdb_dec *b, struct hdb_dec *out,
                struct hdb_err *err);
int hdb_dec_mul(const struct hdb_dec *a, const struct hdb_dec *b, struct hdb_dec *out,
                struct hdb_err *err);
int hdb_dec_div(const struct hdb_dec *a, const struct hdb_dec *b, struct hdb_dec *out,
                struct hdb_err *err);
/* round(d, digits) as SQL's round: digits may be negative (round(1250, -2) = 1300). */
int hdb_dec_round(const struct hdb_dec *d, int32_t digits, struct hdb_dec *out,
                  struct hdb_err *err);
void hdb_dec_neg(const struct hdb_dec *d, struct hdb_dec *out);

/* -1, 0 or 1; exact across scales. */
int hdb_dec_cmp(const struct hdb_dec *a, const struct hdb_dec *b);
bool hdb_dec_is_zero(const struct hdb_dec *d);

#endif
