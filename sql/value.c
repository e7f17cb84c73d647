/*
 * value.c — comparison, key and row encodings and type affinity of SQL
 * values (value.h has the formats and rules).
 *
 * Numbers of every kind are compared and encoded through one canonical
 * form, sign + decimal exponent + significant digits, so that an INTEGER, a
 * REAL and a DECIMAL with the same value compare equal and get the same key,
 * and the key order is the comparison order by construction.
 */
#include "sql/value.h"

#include "core/bytes.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY_NULL       0x05
#define KEY_NEG        0x10
#define KEY_ZERO       0x14
#define KEY_POS        0x18
#define KEY_TEXT       0x20
#define KEY_BLOB       0x30
#define EXP_BIAS       0x8000
#define NUM_DIGITS_MAX 40 /* 38 decimal digits, 20 integer digits, 17 real digits */

/* A number as sign, exponent and digits: value = 0.d1d2...dn * 10^exp. */
struct canon {
    int sign; /* -1, 0, 1 */
    int32_t exp;
    char digits[NUM_DIGITS_MAX + 1];
    uint32_t n; /* no trailing zeros */
};

static void canon_digits(struct canon *c, const char *d, uint32_t n, int32_t exp)
{
    while (n > 0 && d[0] == '0') { /* leading zeros shift the exponent */
        d++;
        n--;
        exp--;
    }
    while (n > 0 && d[n - 1] == '0') {
        n--;
    }
    if (n == 0) {
        c->sign = 0;
        c->n = 0;
        return;
    }
    memcpy(c->digits, d, n);
    c->n = n;
    c->exp = exp;
}

static void canon_int(int64_t i, struct canon *c)
{
    char buf[24];
    uint64_t m = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)m);
    c->sign = i < 0 ? -1 : i > 0 ? 1 : 0;
    canon_digits(c, buf, (uint32_t)n, n);
}

static void canon_real(double r, struct canon *c)
{
    c->sign = r < 0 ? -1 : r > 0 ? 1 : 0;
    if (c->sign == 0) {
        c->n = 0;
        return;
    }
    if (isinf(r)) {
        c->exp = INT16_MAX; /* above every finite exponent */
        c->n = 0;
        return;
    }
    char buf[40]; /* d.dddddddddddddddde+ddd */
    snprintf(buf, sizeof buf, "%.16e", fabs(r));
    char digits[17];
    digits[0] = buf[0];
    memcpy(digits + 1, buf + 2, 16);
    int32_t e = (int32_t)strtol(buf + 19, NULL, 10);
    canon_digits(c, digits, 17, e + 1);
}

static void canon_dec(const struct hdb_dec *d, struct canon *c)
{
    char buf[HDB_DEC_TEXT_MAX], digits[HDB_DEC_TEXT_MAX];
    hdb_dec_format(d, buf);
    uint32_t n = 0;
    int32_t whole = -1;
    for (const char *p = buf; *p != '\0'; p++) {
        if (*p == '.') {
            whole = (int32_t)n;
        } else if (*p != '-') {
            digits[n++] = *p;
        }
    }
    c->sign = d->coef < 0 ? -1 : d->coef > 0 ? 1 : 0;
    canon_digits(c, digits, n, whole < 0 ? (int32_t)n : whole);
}

static bool canon_of(const struct hdb_value *v, struct canon *c)
{
    memset(c, 0, sizeof *c);
    switch (v->type) {
    case HDB_V_INT:
        canon_int(v->u.i, c);
        return true;
    case HDB_V_REAL:
        canon_real(v->u.r, c);
        return true;
    case HDB_V_DEC:
        canon_dec(&v->u.d, c);
        return true;
    default:
        return false;
    }
}

static int canon_cmp(const struct canon *a, const struct canon *b)
{
    if (a->sign != b->sign) {
        return a->sign < b->sign ? -1 : 1;
    }
    if (a->sign == 0) {
        return 0;
    }
    int mag;
    if (a->exp != b->exp) {
        mag = a->exp < b->exp ? -1 : 1;
    } else {
        uint32_t n = a->n < b->n ? a->n : b->n;
        int c = memcmp(a->digits, b->digits, n);
        mag = c != 0 ? (c < 0 ? -1 : 1) : a->n == b->n ? 0 : (a->n < b->n ? -1 : 1);
    }
    return a->sign < 0 ? -mag : mag;
}

/* NULL 0, numbers 1, TEXT 2, BLOB 3. */
static int class_of(enum hdb_vtype t)
{
    return t == HDB_V_NULL ? 0 : t == HDB_V_TEXT ? 2 : t == HDB_V_BLOB ? 3 : 1;
}

int hdb_value_cmp(const struct hdb_value *a, const struct hdb_value *b)
{
    int ca = class_of(a->type), cb = class_of(b->type);
    if (ca != cb) {
        return ca < cb ? -1 : 1;
    }
    if (ca == 0) {
        return 0;
    }
    if (a->type == HDB_V_INT && b->type == HDB_V_INT) {
        return a->u.i < b->u.i ? -1 : a->u.i > b->u.i ? 1 : 0;
    }
    if (ca == 1) {
        struct canon x, y;
        canon_of(a, &x);
        canon_of(b, &y);
        return canon_cmp(&x, &y);
    }
    uint32_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
    int c = n > 0 ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    return a->u.s.len == b->u.s.len ? 0 : (a->u.s.len < b->u.s.len ? -1 : 1);
}

/* --- keys --- */

static int put_bytes(struct hdb_buf *b, const void *p, size_t n, struct hdb_err *err)
{
    if (hdb_buf_reserve(b, b->len + n) != HDB_OK) {
        return hdb_err_set(err, HDB_NOMEM, "out of memory encoding a key");
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return HDB_OK;
}

static int key_number(struct hdb_buf *b, const struct canon *c, struct hdb_err *err)
{
    uint8_t out[3 + NUM_DIGITS_MAX / 2 + 2];
    size_t n = 0;
    out[n++] = c->sign < 0 ? KEY_NEG : c->sign > 0 ? KEY_POS : KEY_ZERO;
    if (c->sign != 0) {
        uint16_t e = (uint16_t)(c->exp + EXP_BIAS);
        out[n++] = (uint8_t)(e >> 8);
        out[n++] = (uint8_t)e;
        for (uint32_t i = 0; i < c->n; i += 2) {
            int hi = c->digits[i] - '0', lo = i + 1 < c->n ? c->digits[i + 1] - '0' : 0;
            out[n++] = (uint8_t)(hi * 10 + lo + 1);
        }
        out[n++] = 0x00;
        for (size_t i = 1; c->sign < 0 && i < n; i++) {
            out[i] = (uint8_t)~out[i];
        }
    }
    return put_bytes(b, out, n, err);
}

static int key_bytes(struct hdb_buf *b, uint8_t tag, const uint8_t *p, uint32_t len,
                     struct hdb_err *err)
{
    int rc = put_bytes(b, &tag, 1, err);
    uint32_t from = 0;
    for (uint32_t i = 0; rc == HDB_OK && i <= len; i++) {
        if (i == len || p[i] == 0x00) {
            rc = put_bytes(b, p + from, i - from, err);
            static const uint8_t esc[2] = {0x00, 0xFF}, end[2] = {0x00, 0x01};
            if (rc == HDB_OK) {
                rc = put_bytes(b, i == len ? end : esc, 2, err);
            }
            from = i + 1;
        }
    }
    return rc;
}

int hdb_key_append(struct hdb_buf *key, const struct hdb_value *v, bool desc, struct hdb_err *err)
{
    size_t start = key->len;
    int rc;
    struct canon c;
    if (v->type == HDB_V_NULL || (v->type == HDB_V_REAL && isnan(v->u.r))) {
        uint8_t tag = KEY_NULL;
        rc = put_bytes(key, &tag, 1, err);
    } else if (canon_of(v, &c)) {
        rc = key_number(key, &c, err);
    } else {
        rc = key_bytes(key, v->type == HDB_V_TEXT ? KEY_TEXT : KEY_BLOB, v->u.s.p, v->u.s.len, err);
    }
    for (size_t i = start; rc == HDB_OK && desc && i < key->len; i++) {
        key->data[i] = (uint8_t)~key->data[i];
    }
    return rc;
}

/* --- rows --- */

int hdb_row_encode(struct hdb_buf *out, const struct hdb_value *vals, uint32_t n,
                   struct hdb_err *err)
{
    if (n > HDB_ROW_VALUES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "a row has at most %u columns", HDB_ROW_VALUES_MAX);
    }
    uint8_t head[2];
    hdb_put16(head, (uint16_t)n);
    int rc = put_bytes(out, head, 2, err);
    for (uint32_t i = 0; rc == HDB_OK && i < n; i++) {
        const struct hdb_value *v = &vals[i];
        uint8_t t = (uint8_t)v->type, buf[17];
        rc = put_bytes(out, &t, 1, err);
        if (rc != HDB_OK || v->type == HDB_V_NULL) {
            continue;
        }
        if (v->type == HDB_V_INT || v->type == HDB_V_REAL) {
            memcpy(buf, &v->u, 8); /* the int64 or the double's bits */
            rc = put_bytes(out, buf, 8, err);
        } else if (v->type == HDB_V_DEC) {
            memcpy(buf, &v->u.d.coef, 16);
            buf[16] = v->u.d.scale;
            rc = put_bytes(out, buf, 17, err);
        } else if (v->u.s.len > HDB_VALUE_BYTES_MAX) {
            rc = hdb_err_set(err, HDB_TOOBIG, "a value of %u bytes: at most %u", v->u.s.len,
                             HDB_VALUE_BYTES_MAX);
        } else {
            hdb_put32(buf, v->u.s.len);
            rc = put_bytes(out, buf, 4, err);
            rc = rc == HDB_OK ? put_bytes(out, v->u.s.p, v->u.s.len, err) : rc;
        }
    }
    return rc;
}

static int corrupt(struct hdb_err *err, uint32_t i)
{
    return hdb_err_set(err, HDB_CORRUPT, "malformed row record at value %u", i);
}

int hdb_row_decode(const uint8_t *rec, size_t len, struct hdb_value *vals, uint32_t max,
                   uint32_t *n, struct hdb_err *err)
{
    if (len < 2) {
        return corrupt(err, 0);
    }
    uint32_t count = hdb_get16(rec);
    if (count > max || count > HDB_ROW_VALUES_MAX) {
        return hdb_err_set(err, HDB_CORRUPT, "row record of %u values, at most %u expected", count,
                           max);
    }
    size_t at = 2;
    for (uint32_t i = 0; i < count; i++) {
        if (at >= len) {
            return corrupt(err, i);
        }
        struct hdb_value *v = &vals[i];
        v->type = (enum hdb_vtype)rec[at++];
        size_t need = v->type == HDB_V_NULL                            ? 0
                      : v->type == HDB_V_INT || v->type == HDB_V_REAL  ? 8
                      : v->type == HDB_V_DEC                           ? 17
                      : v->type == HDB_V_TEXT || v->type == HDB_V_BLOB ? 4
                                                                       : SIZE_MAX;
        if (need == SIZE_MAX || len - at < need) {
            return corrupt(err, i);
        }
        if (v->type == HDB_V_INT || v->type == HDB_V_REAL) {
            memcpy(&v->u, rec + at, 8);
        } else if (v->type == HDB_V_DEC) {
            memcpy(&v->u.d.coef, rec + at, 16);
            v->u.d.scale = rec[at + 16];
            if (v->u.d.scale > HDB_DEC_DIGITS_MAX) {
                return corrupt(err, i);
            }
        } else if (need == 4) {
            uint32_t l = hdb_get32(rec + at);
            if (len - at - 4 < l) {
                return corrupt(err, i);
            }
            v->u.s.p = rec + at + 4;
            v->u.s.len = l;
            at += l;
        }
        at += need;
    }
    if (at != len) {
        return corrupt(err, count);
    }
    *n = count;
    return HDB_OK;
}

/* --- affinity --- */

static bool has(const char *s, size_t len, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= len; i++) {
        if (strncasecmp(s + i, word, w) == 0) {
            return true;
        }
    }
    return false;
}

enum hdb_affinity hdb_affinity_of(const char *type_name, size_t len)
{
    if (has(type_name, len, "INT")) {
        return HDB_AFF_INTEGER;
    }
    if (has(type_name, len, "CHAR") || has(type_name, len, "CLOB") || has(type_name, len, "TEXT")) {
        return HDB_AFF_TEXT;
    }
    if (len == 0 || has(type_name, len, "BLOB")) {
        return HDB_AFF_BLOB;
    }
    if (has(type_name, len, "REAL") || has(type_name, len, "FLOA") || has(type_name, len, "DOUB")) {
        return HDB_AFF_REAL;
    }
    return HDB_AFF_NUMERIC;
}

/* TEXT that is a decimal number with optional spaces around: as INTEGER or REAL. */
static bool text_number(const uint8_t *p, uint32_t len, struct hdb_value *out)
{
    char buf[64];
    while (len > 0 && isspace(p[0])) {
        p++;
        len--;
    }
    while (len > 0 && isspace(p[len - 1])) {
        len--;
    }
    if (len == 0 || len >= sizeof buf) {
        return false;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    size_t i = buf[0] == '+' || buf[0] == '-' ? 1 : 0;
    bool digits = false, integer = true;
    for (; isdigit((unsigned char)buf[i]); i++) {
        digits = true;
    }
    if (buf[i] == '.') {
        integer = false;
        for (i++; isdigit((unsigned char)buf[i]); i++) {
            digits = true;
        }
    }
    if (digits && (buf[i] == 'e' || buf[i] == 'E')) {
        integer = false;
        i += buf[i + 1] == '+' || buf[i + 1] == '-' ? 2 : 1;
        if (!isdigit((unsigned char)buf[i])) {
            return false;
        }
        while (isdigit((unsigned char)buf[i])) {
            i++;
        }
    }
    if (!digits || buf[i] != '\0') {
        return false;
    }
    char *end;
    if (integer) {
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        if (errno == 0) {
            *out = (struct hdb_value){.type = HDB_V_INT, .u.i = v};
            return true;
        }
    }
    *out = (struct hdb_value){.type = HDB_V_REAL, .u.r = strtod(buf, &end)};
    return true;
}

void hdb_value_apply(struct hdb_value *v, enum hdb_affinity aff, char buf[32])
{
    if (aff == HDB_AFF_BLOB || v->type == HDB_V_NULL) {
        return;
    }
    if (aff == HDB_AFF_TEXT) {
        int n = v->type == HDB_V_INT    ? snprintf(buf, 32, "%lld", (long long)v->u.i)
                : v->type == HDB_V_REAL ? snprintf(buf, 32, "%.15g", v->u.r)
                                        : -1;
        if (n > 0) {
            *v = (struct hdb_value){.type = HDB_V_TEXT, .u.s = {(const uint8_t *)buf, (uint32_t)n}};
        }
        return;
    }
    struct hdb_value num;
    if (v->type == HDB_V_TEXT && text_number(v->u.s.p, v->u.s.len, &num)) {
        *v = num;
    }
    if (aff == HDB_AFF_REAL && v->type == HDB_V_INT) {
        *v = (struct hdb_value){.type = HDB_V_REAL, .u.r = (double)v->u.i};
    } else if (aff != HDB_AFF_REAL && v->type == HDB_V_REAL && v->u.r >= -9223372036854775808.0 &&
               v->u.r < 9223372036854775808.0 && v->u.r == (double)(int64_t)v->u.r) {
        *v = (struct hdb_value){.type = HDB_V_INT, .u.i = (int64_t)v->u.r};
    }
}
