/*
 * decimal.c — exact fixed-point arithmetic (decimal.h has the rules).
 *
 * Values are handled as sign + magnitude. Magnitudes below 10^38 fit an
 * unsigned 128-bit integer; products and scaled dividends may need up to
 * 256 bits, so multiplication and division go through a small 256-bit type
 * (two 128-bit halves) and a bit-serial long division, which is simple and
 * exact (256 steps: well under a microsecond).
 */
#include "sql/decimal.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

struct u256 {
    u128 hi, lo;
};

static u128 pow10_u(uint32_t k)
{
    u128 p = 1;
    for (uint32_t i = 0; i < k; i++) {
        p *= 10;
    }
    return p;
}

static u128 limit(void)
{
    return pow10_u(HDB_DEC_DIGITS_MAX); /* magnitudes stay below this */
}

static u128 mag(hdb_i128 v)
{
    return v < 0 ? (u128)0 - (u128)v : (u128)v;
}

static hdb_i128 signed_of(u128 m, bool neg)
{
    return neg ? -(hdb_i128)m : (hdb_i128)m;
}

static int overflow(struct hdb_err *err, const char *op)
{
    return hdb_err_set(err, HDB_TOOBIG,
                       "numeric overflow in %s: the result needs more than %u digits", op,
                       HDB_DEC_DIGITS_MAX);
}

/* 128 x 128 -> 256 bits. */
static struct u256 mul_wide(u128 a, u128 b)
{
    uint64_t a0 = (uint64_t)a, a1 = (uint64_t)(a >> 64), b0 = (uint64_t)b, b1 = (uint64_t)(b >> 64);
    u128 p00 = (u128)a0 * b0, p01 = (u128)a0 * b1, p10 = (u128)a1 * b0, p11 = (u128)a1 * b1;
    u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
    struct u256 r;
    r.lo = (p00 & UINT64_MAX) | (mid << 64);
    r.hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    return r;
}

/* n / d for d != 0: *q (if it fits 128 bits; false otherwise) and *r. */
static bool div_wide(struct u256 n, u128 d, u128 *q, u128 *r)
{
    struct u256 quot = {0, 0};
    u128 rem = 0;
    for (int bit = 255; bit >= 0; bit--) {
        bool top = rem >> 127; /* rem << 1 would lose this bit */
        u128 in = bit >= 128 ? (n.hi >> (bit - 128)) & 1 : (n.lo >> bit) & 1;
        rem = (rem << 1) | in;
        if (top || rem >= d) {
            rem -= d;
            if (bit >= 128) {
                quot.hi |= (u128)1 << (bit - 128);
            } else {
                quot.lo |= (u128)1 << bit;
            }
        }
    }
    *q = quot.lo;
    *r = rem;
    return quot.hi == 0;
}

/* m / 10^k rounded half away from zero (k <= 38). */
static u128 shrink(u128 m, uint32_t k)
{
    if (k == 0) {
        return m;
    }
    u128 p = pow10_u(k), q = m / p, r = m % p;
    return r >= p - r ? q + 1 : q; /* r >= p/2 without overflow */
}

/* m * 10^k, false if it reaches 10^38. */
static bool grow(u128 m, uint32_t k, u128 *out)
{
    if (k > HDB_DEC_DIGITS_MAX) {
        return m == 0 ? (*out = 0, true) : false;
    }
    struct u256 w = mul_wide(m, pow10_u(k));
    if (w.hi != 0 || w.lo >= limit()) {
        return false;
    }
    *out = w.lo;
    return true;
}

void hdb_dec_from_i64(int64_t v, struct hdb_dec *out)
{
    out->coef = v;
    out->scale = 0;
}

void hdb_dec_neg(const struct hdb_dec *d, struct hdb_dec *out)
{
    out->coef = -d->coef;
    out->scale = d->scale;
}

bool hdb_dec_is_zero(const struct hdb_dec *d)
{
    return d->coef == 0;
}

/* --- text --- */

struct dec_text {
    bool neg;
    u128 digits; /* significant digits read */
    uint32_t ndigits;
    int32_t scale;  /* fraction digits among them */
    int32_t expo;   /* e-notation exponent */
    bool any_digit; /* at least one digit */
};

static int parse_digits(const char **p, const char *end, struct dec_text *t, bool fraction,
                        struct hdb_err *err)
{
    for (; *p < end && **p >= '0' && **p <= '9'; (*p)++) {
        t->any_digit = true;
        if (t->digits == 0 && **p == '0') {
            t->scale += fraction ? 1 : 0; /* leading zeros take no precision */
            continue;
        }
        if (t->ndigits == HDB_DEC_DIGITS_MAX) {
            return hdb_err_set(err, HDB_TOOBIG, "a decimal has at most %u significant digits",
                               HDB_DEC_DIGITS_MAX);
        }
        t->digits = t->digits * 10 + (u128)(**p - '0');
        t->ndigits++;
        t->scale += fraction ? 1 : 0;
    }
    return HDB_OK;
}

static int parse_exponent(const char **p, const char *end, struct dec_text *t)
{
    (*p)++;
    bool neg = *p < end && **p == '-';
    *p += *p < end && (**p == '-' || **p == '+') ? 1 : 0;
    if (*p == end || **p < '0' || **p > '9') {
        return -1;
    }
    int32_t e = 0;
    for (; *p < end && **p >= '0' && **p <= '9'; (*p)++) {
        e = e > 10000 ? e : e * 10 + (**p - '0');
    }
    t->expo = neg ? -e : e;
    return 0;
}

int hdb_dec_parse(const char *text, size_t len, struct hdb_dec *out, struct hdb_err *err)
{
    const char *p = text, *end = text + len;
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    struct dec_text t = {0};
    t.neg = p < end && *p == '-';
    p += p < end && (*p == '-' || *p == '+') ? 1 : 0;
    int rc = parse_digits(&p, end, &t, false, err);
    if (rc == HDB_OK && p < end && *p == '.') {
        p++;
        rc = parse_digits(&p, end, &t, true, err);
    }
    if (rc != HDB_OK) {
        return rc;
    }
    if ((p < end && (*p == 'e' || *p == 'E') && parse_exponent(&p, end, &t) != 0) || p != end ||
        !t.any_digit) {
        return hdb_err_set(err, HDB_INVALID, "\"%.*s\" is not a decimal number",
                           (int)(len > 64 ? 64 : len), text);
    }
    int32_t scale = t.scale - t.expo;
    u128 m = t.digits;
    if (scale < 0) {
        if (!grow(m, (uint32_t)-scale, &m)) {
            return overflow(err, "a decimal literal");
        }
        scale = 0;
    } else if (scale > (int32_t)HDB_DEC_DIGITS_MAX) {
        m = scale - (int32_t)HDB_DEC_DIGITS_MAX > (int32_t)HDB_DEC_DIGITS_MAX
                ? 0
                : shrink(m, (uint32_t)scale - HDB_DEC_DIGITS_MAX);
        scale = HDB_DEC_DIGITS_MAX;
    }
    out->coef = signed_of(m, t.neg);
    out->scale = (uint8_t)scale;
    return HDB_OK;
}

size_t hdb_dec_format(const struct hdb_dec *d, char out[HDB_DEC_TEXT_MAX])
{
    char digits[HDB_DEC_TEXT_MAX];
    u128 m = mag(d->coef);
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + (int)(m % 10));
        m /= 10;
    } while (m != 0);
    while (n <= d->scale) {
        digits[n++] = '0'; /* at least one digit before the point */
    }
    size_t at = 0;
    if (d->coef < 0) {
        out[at++] = '-';
    }
    for (size_t i = n; i > 0; i--) {
        if (i == (size_t)d->scale && d->scale > 0) {
            out[at++] = '.';
        }
        out[at++] = digits[i - 1];
    }
    out[at] = '\0';
    return at;
}

int hdb_dec_from_double(double v, struct hdb_dec *out, struct hdb_err *err)
{
    if (!isfinite(v)) {
        return hdb_err_set(err, HDB_INVALID, "%g is not a decimal number", v);
    }
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%.17g", v);
    return hdb_dec_parse(buf, (size_t)n, out, err);
}

double hdb_dec_to_double(const struct hdb_dec *d)
{
    char buf[HDB_DEC_TEXT_MAX];
    hdb_dec_format(d, buf);
    return strtod(buf, NULL);
}

int hdb_dec_to_i64(const struct hdb_dec *d, int64_t *out, struct hdb_err *err)
{
    u128 m = mag(d->coef) / pow10_u(d->scale);
    if (m > (u128)INT64_MAX + (d->coef < 0 ? 1 : 0)) {
        return hdb_err_set(err, HDB_TOOBIG, "the decimal does not fit a 64-bit integer");
    }
    *out = d->coef < 0 ? (int64_t)(0 - (uint64_t)m) : (int64_t)m;
    return HDB_OK;
}

/* --- arithmetic --- */

/* Both magnitudes at one scale (the larger one); false on overflow. */
static bool align(const struct hdb_dec *a, const struct hdb_dec *b, u128 *ma, u128 *mb,
                  uint32_t *scale)
{
    *scale = a->scale > b->scale ? a->scale : b->scale;
    return grow(mag(a->coef), *scale - a->scale, ma) && grow(mag(b->coef), *scale - b->scale, mb);
}

static int add_signed(const struct hdb_dec *a, const struct hdb_dec *b, bool negate_b,
                      struct hdb_dec *out, struct hdb_err *err, const char *op)
{
    u128 ma, mb;
    uint32_t scale;
    if (!align(a, b, &ma, &mb, &scale)) {
        return overflow(err, op);
    }
    bool na = a->coef < 0, nb = (b->coef < 0) != negate_b;
    u128 m;
    bool neg;
    if (na == nb) {
        m = ma + mb;
        neg = na;
    } else if (ma >= mb) {
        m = ma - mb;
        neg = na;
    } else {
        m = mb - ma;
        neg = nb;
    }
    if (m >= limit()) {
        return overflow(err, op);
    }
    out->coef = signed_of(m, neg);
    out->scale = (uint8_t)scale;
    return HDB_OK;
}

int hdb_dec_add(const struct hdb_dec *a, const struct hdb_dec *b, struct hdb_dec *out,
                struct hdb_err *err)
{
    return add_signed(a, b, false, out, err, "addition");
}

int hdb_dec_sub(const struct hdb_dec *a, const struct hdb_dec *b, struct hdb_dec *out,
                struct hdb_err *err)
{
    return add_signed(a, b, true, out, err, "subtraction");
}

int hdb_dec_mul(const struct hdb_dec *a, const struct hdb_dec *b, struct hdb_dec *out,
                struct hdb_err *err)
{
    struct u256 w = mul_wide(mag(a->coef), mag(b->coef));
    uint32_t scale = (uint32_t)a->scale + b->scale;
    u128 m, r;
    if (scale > HDB_DEC_DIGITS_MAX) {
        /* Keep 38 fraction digits: divide the wide product, rounding half away from zero. */
        u128 p = pow10_u(scale - HDB_DEC_DIGITS_MAX);
        if (!div_wide(w, p, &m, &r)) {
            return overflow(err, "multiplication");
        }
        m += r >= p - r ? 1 : 0;
        scale = HDB_DEC_DIGITS_MAX;
    } else if (w.hi != 0) {
        return overflow(err, "multiplication");
    } else {
        m = w.lo;
    }
    if (m >= limit()) {
        return overflow(err, "multiplication");
    }
    out->coef = signed_of(m, (a->coef < 0) != (b->coef < 0) && m != 0);
    out->scale = (uint8_t)scale;
    return HDB_OK;
}

/* Digits of the integer part of m / 10^scale. */
static uint32_t int_digits(u128 m, uint32_t scale)
{
    u128 i = m / pow10_u(scale);
    uint32_t n = 0;
    while (i != 0) {
        i /= 10;
        n++;
    }
    return n;
}

int hdb_dec_div(const struct hdb_dec *a, const struct hdb_dec *b, struct hdb_dec *out,
                struct hdb_err *err)
{
    if (b->coef == 0) {
        return hdb_err_set(err, HDB_INVALID, "division by zero");
    }
    u128 ma = mag(a->coef), mb = mag(b->coef);
    uint32_t want = (a->scale > b->scale ? a->scale : b->scale) + HDB_DEC_DIV_EXTRA_SCALE;
    /* The integer part of the quotient needs its digits; the scale takes the rest. */
    uint32_t whole = int_digits(ma, a->scale) + b->scale + 1;
    uint32_t room = whole >= HDB_DEC_DIGITS_MAX ? 0 : HDB_DEC_DIGITS_MAX - whole;
    uint32_t scale = want < room ? want : room;
    /* quotient = ma * 10^(scale + b.scale - a.scale) / mb, all exact in 256 bits. */
    int32_t shift = (int32_t)scale + b->scale - a->scale;
    struct u256 n;
    u128 d = mb;
    if (shift >= 0) {
        n = mul_wide(ma, pow10_u((uint32_t)shift));
    } else {
        n = (struct u256){0, ma};
        struct u256 dw = mul_wide(mb, pow10_u((uint32_t)-shift));
        if (dw.hi != 0) {
            out->coef = 0; /* the divisor dwarfs the dividend at this scale */
            out->scale = (uint8_t)scale;
            return HDB_OK;
        }
        d = dw.lo;
    }
    u128 q, r;
    if (!div_wide(n, d, &q, &r)) {
        return overflow(err, "division");
    }
    q += r >= d - r ? 1 : 0;
    if (q >= limit()) {
        return overflow(err, "division");
    }
    out->coef = signed_of(q, (a->coef < 0) != (b->coef < 0) && q != 0);
    out->scale = (uint8_t)scale;
    return HDB_OK;
}

int hdb_dec_round(const struct hdb_dec *d, int32_t digits, struct hdb_dec *out, struct hdb_err *err)
{
    (void)err;
    if (digits >= (int32_t)d->scale) {
        *out = *d;
        return HDB_OK;
    }
    int32_t drop = (int32_t)d->scale - digits; /* digits to remove, may exceed the scale */
    u128 m = mag(d->coef);
    if (drop > (int32_t)HDB_DEC_DIGITS_MAX) {
        m = 0;
    } else {
        m = shrink(m, (uint32_t)drop);
    }
    uint32_t keep = digits > 0 ? (uint32_t)digits : 0;
    if (digits < 0 && m != 0 && !grow(m, (uint32_t)-digits, &m)) {
        return overflow(err, "round");
    }
    out->coef = signed_of(m, d->coef < 0 && m != 0);
    out->scale = (uint8_t)keep;
    return HDB_OK;
}

int hdb_dec_fit(const struct hdb_dec *d, uint32_t precision, uint32_t scale, struct hdb_dec *out,
                struct hdb_err *err)
{
    if (precision == 0 || precision > HDB_DEC_DIGITS_MAX || scale > precision) {
        return hdb_err_set(err, HDB_INVALID,
                           "DECIMAL(%u,%u): precision is 1 to %u and scale 0 to it", precision,
                           scale, HDB_DEC_DIGITS_MAX);
    }
    u128 m = mag(d->coef);
    if (scale < d->scale) {
        m = shrink(m, d->scale - scale);
    } else if (!grow(m, scale - d->scale, &m)) {
        return hdb_err_set(err, HDB_TOOBIG,
                           "numeric overflow: DECIMAL(%u,%u) holds at most %u digits "
                           "before the point",
                           precision, scale, precision - scale);
    }
    if (m >= pow10_u(precision)) {
        return hdb_err_set(
            err, HDB_TOOBIG,
            "numeric overflow: DECIMAL(%u,%u) holds at most %u digits before the point", precision,
            scale, precision - scale);
    }
    out->coef = signed_of(m, d->coef < 0 && m != 0);
    out->scale = (uint8_t)scale;
    return HDB_OK;
}

int hdb_dec_cmp(const struct hdb_dec *a, const struct hdb_dec *b)
{
    bool na = a->coef < 0, nb = b->coef < 0;
    if (na != nb) {
        return na ? -1 : 1;
    }
    /* Same sign: compare magnitudes at one scale in 256 bits (no overflow possible). */
    uint32_t scale = a->scale > b->scale ? a->scale : b->scale;
    struct u256 wa = mul_wide(mag(a->coef), pow10_u(scale - a->scale));
    struct u256 wb = mul_wide(mag(b->coef), pow10_u(scale - b->scale));
    int c = wa.hi != wb.hi   ? (wa.hi < wb.hi ? -1 : 1)
            : wa.lo == wb.lo ? 0
                             : (wa.lo < wb.lo ? -1 : 1);
    return na ? -c : c;
}
