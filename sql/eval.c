/*
 * eval.c — scalar expression evaluation with SQLite's semantics (eval.h).
 *
 * The evaluator walks the tree: literals and parameters become values,
 * operators convert their operands the way SQLite does (TEXT read by its
 * numeric prefix for arithmetic, affinity applied before comparisons), and
 * functions are looked up by name in a small table. Every TEXT or BLOB it
 * builds is allocated in the context's arena.
 */
#include "sql/eval.h"

#include "sql/datetime.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EVAL_FUNC_ARGS_MAX 64u /* arguments of a scalar function */

static struct hdb_value null_value(void)
{
    return (struct hdb_value){.type = HDB_V_NULL};
}

static struct hdb_value int_value(int64_t i)
{
    return (struct hdb_value){.type = HDB_V_INT, .u.i = i};
}

static struct hdb_value real_value(double r)
{
    /* SQLite has no NaN: an operation that makes one gives NULL. */
    return isnan(r) ? null_value() : (struct hdb_value){.type = HDB_V_REAL, .u.r = r};
}

static int nomem(struct hdb_err *err, int rc)
{
    return hdb_err_set(err, rc,
                       rc == HDB_TOOBIG ? "a statement used too much memory"
                                        : "out of memory evaluating an expression");
}

/* A TEXT or BLOB value holding a copy of `len` bytes. */
static int bytes_value(struct hdb_eval_ctx *c, enum hdb_vtype type, const void *p, size_t len,
                       struct hdb_value *out, struct hdb_err *err)
{
    if (len > HDB_VALUE_BYTES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "string or blob too big (%zu bytes, at most %u)", len,
                           HDB_VALUE_BYTES_MAX);
    }
    int rc = HDB_OK;
    uint8_t *copy = hdb_sql_arena_alloc(c->arena, len + 1, &rc);
    if (copy == NULL) {
        return nomem(err, rc);
    }
    if (len > 0) {
        memcpy(copy, p, len);
    }
    *out = (struct hdb_value){.type = type, .u.s = {copy, (uint32_t)len}};
    return HDB_OK;
}

int hdb_real_text(double r, char buf[32])
{
    if (isinf(r)) {
        return snprintf(buf, 32, "%s", r < 0 ? "-Inf" : "Inf");
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.15g", r == 0.0 ? 0.0 : r); /* -0.0 prints as 0.0 */
    char *e = strchr(tmp, 'e');
    if (strchr(tmp, '.') != NULL || (e == NULL && n >= 30)) {
        memcpy(buf, tmp, (size_t)n + 1);
        return n;
    }
    if (e == NULL) {
        return snprintf(buf, 32, "%s.0", tmp); /* 100.0, not 100 */
    }
    *e = '\0';
    return snprintf(buf, 32, "%s.0e%s", tmp, e + 1); /* 1.0e+20 */
}

/* The value as TEXT (numbers in SQLite's text form). */
static int text_of(struct hdb_eval_ctx *c, const struct hdb_value *v, struct hdb_value *out,
                   struct hdb_err *err)
{
    char buf[HDB_DEC_TEXT_MAX];
    int n;
    switch (v->type) {
    case HDB_V_TEXT:
        *out = *v;
        return HDB_OK;
    case HDB_V_BLOB:
        *out = *v;
        out->type = HDB_V_TEXT;
        return HDB_OK;
    case HDB_V_INT:
        n = snprintf(buf, sizeof buf, "%" PRId64, v->u.i);
        break;
    case HDB_V_REAL:
        n = hdb_real_text(v->u.r, buf);
        break;
    case HDB_V_DEC:
        n = (int)hdb_dec_format(&v->u.d, buf);
        break;
    default:
        *out = null_value();
        return HDB_OK;
    }
    return bytes_value(c, HDB_V_TEXT, buf, (size_t)n, out, err);
}

/* --- numbers from text --- */

/* Length of the longest prefix of p that is a number, and whether it is an integer. */
static size_t number_prefix(const char *p, size_t len, bool *integer)
{
    size_t i = 0, mark = 0;
    *integer = true;
    if (i < len && (p[i] == '+' || p[i] == '-')) {
        i++;
    }
    bool digits = false;
    while (i < len && isdigit((unsigned char)p[i])) {
        i++;
        digits = true;
    }
    mark = digits ? i : 0;
    if (i < len && p[i] == '.') {
        i++;
        while (i < len && isdigit((unsigned char)p[i])) {
            i++;
            digits = true;
        }
        if (digits) {
            mark = i;
            *integer = false;
        }
    }
    if (digits && i < len && (p[i] == 'e' || p[i] == 'E')) {
        size_t j = i + 1;
        j += j < len && (p[j] == '+' || p[j] == '-') ? 1 : 0;
        if (j < len && isdigit((unsigned char)p[j])) {
            while (j < len && isdigit((unsigned char)p[j])) {
                j++;
            }
            mark = j;
            *integer = false;
        }
    }
    return mark;
}

void hdb_value_numeric(const struct hdb_value *v, struct hdb_value *out)
{
    if (v->type != HDB_V_TEXT && v->type != HDB_V_BLOB) {
        *out = *v;
        return;
    }
    char buf[128];
    const char *p = (const char *)v->u.s.p;
    size_t len = v->u.s.len;
    while (len > 0 && isspace((unsigned char)*p)) {
        p++;
        len--;
    }
    bool integer;
    size_t n = number_prefix(p, len, &integer);
    if (n == 0 || n >= sizeof buf) {
        *out = n == 0 ? int_value(0) : real_value(strtod(p, NULL));
        return;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (integer) {
        errno = 0;
        long long i = strtoll(buf, NULL, 10);
        if (errno == 0) {
            *out = int_value(i);
            return;
        }
    }
    *out = real_value(strtod(buf, NULL));
}

/* CAST(... AS INTEGER) of text: only the leading integer part counts. */
static int64_t text_integer(const uint8_t *p, uint32_t len)
{
    size_t i = 0;
    while (i < len && isspace(p[i])) {
        i++;
    }
    bool neg = i < len && p[i] == '-';
    i += i < len && (p[i] == '-' || p[i] == '+') ? 1 : 0;
    uint64_t m = 0;
    for (; i < len && isdigit(p[i]); i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        if (m > (UINT64_MAX - d) / 10) {
            return neg ? INT64_MIN : INT64_MAX;
        }
        m = m * 10 + d;
    }
    if (neg) {
        return m > (uint64_t)INT64_MAX + 1 ? INT64_MIN : (int64_t)(0 - m);
    }
    return m > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)m;
}

static double as_double(const struct hdb_value *v)
{
    return v->type == HDB_V_INT   ? (double)v->u.i
           : v->type == HDB_V_DEC ? hdb_dec_to_double(&v->u.d)
                                  : v->u.r;
}

static int64_t real_to_int(double r)
{
    if (isnan(r)) {
        return 0;
    }
    if (r >= 9223372036854775807.0) {
        return INT64_MAX;
    }
    return r <= -9223372036854775808.0 ? INT64_MIN : (int64_t)r;
}

/* --- arithmetic --- */

static int dec_arith(enum hdb_sql_binary_op op, const struct hdb_value *a,
                     const struct hdb_value *b, struct hdb_value *out, struct hdb_err *err)
{
    struct hdb_dec x = a->u.d, y = b->u.d, r;
    if (a->type == HDB_V_INT) {
        hdb_dec_from_i64(a->u.i, &x);
    }
    if (b->type == HDB_V_INT) {
        hdb_dec_from_i64(b->u.i, &y);
    }
    if ((op == HDB_OP_DIV || op == HDB_OP_REM) && hdb_dec_is_zero(&y)) {
        *out = null_value();
        return HDB_OK;
    }
    int rc = op == HDB_OP_ADD   ? hdb_dec_add(&x, &y, &r, err)
             : op == HDB_OP_SUB ? hdb_dec_sub(&x, &y, &r, err)
             : op == HDB_OP_MUL ? hdb_dec_mul(&x, &y, &r, err)
             : op == HDB_OP_DIV ? hdb_dec_div(&x, &y, &r, err)
                                : hdb_err_set(err, HDB_INVALID, "%% is not defined for DECIMAL");
    if (rc == HDB_OK) {
        *out = (struct hdb_value){.type = HDB_V_DEC, .u.d = r};
    }
    return rc;
}

static struct hdb_value int_arith(enum hdb_sql_binary_op op, int64_t x, int64_t y)
{
    int64_t r;
    switch (op) {
    case HDB_OP_ADD:
        return __builtin_add_overflow(x, y, &r) ? real_value((double)x + (double)y) : int_value(r);
    case HDB_OP_SUB:
        return __builtin_sub_overflow(x, y, &r) ? real_value((double)x - (double)y) : int_value(r);
    case HDB_OP_MUL:
        return __builtin_mul_overflow(x, y, &r) ? real_value((double)x * (double)y) : int_value(r);
    case HDB_OP_DIV:
        if (y == 0) {
            return null_value();
        }
        return x == INT64_MIN && y == -1 ? real_value(-(double)x) : int_value(x / y);
    default: /* HDB_OP_REM */
        return y == 0 ? null_value() : int_value(y == -1 ? 0 : x % y);
    }
}

static int arith(enum hdb_sql_binary_op op, const struct hdb_value *l, const struct hdb_value *r,
                 struct hdb_value *out, struct hdb_err *err)
{
    if (l->type == HDB_V_NULL || r->type == HDB_V_NULL) {
        *out = null_value();
        return HDB_OK;
    }
    struct hdb_value a, b;
    hdb_value_numeric(l, &a);
    hdb_value_numeric(r, &b);
    bool real = a.type == HDB_V_REAL || b.type == HDB_V_REAL;
    if (op == HDB_OP_REM) {
        /* SQLite: both operands as integers; REAL if either was REAL. */
        int64_t x = a.type == HDB_V_INT ? a.u.i : real_to_int(as_double(&a));
        int64_t y = b.type == HDB_V_INT ? b.u.i : real_to_int(as_double(&b));
        *out = int_arith(op, x, y);
        *out = real && out->type == HDB_V_INT ? real_value((double)out->u.i) : *out;
        return HDB_OK;
    }
    if (!real && (a.type == HDB_V_DEC || b.type == HDB_V_DEC)) {
        return dec_arith(op, &a, &b, out, err);
    }
    if (!real) {
        *out = int_arith(op, a.u.i, b.u.i);
        return HDB_OK;
    }
    double x = as_double(&a), y = as_double(&b);
    *out = op == HDB_OP_ADD   ? real_value(x + y)
           : op == HDB_OP_SUB ? real_value(x - y)
           : op == HDB_OP_MUL ? real_value(x * y)
           : y == 0.0         ? null_value()
                              : real_value(x / y);
    return HDB_OK;
}

static int bitwise(enum hdb_sql_binary_op op, const struct hdb_value *l, const struct hdb_value *r,
                   struct hdb_value *out)
{
    if (l->type == HDB_V_NULL || r->type == HDB_V_NULL) {
        *out = null_value();
        return HDB_OK;
    }
    struct hdb_value a, b;
    hdb_value_numeric(l, &a);
    hdb_value_numeric(r, &b);
    int64_t x = a.type == HDB_V_INT ? a.u.i : real_to_int(as_double(&a));
    int64_t y = b.type == HDB_V_INT ? b.u.i : real_to_int(as_double(&b));
    if (op == HDB_OP_BITAND || op == HDB_OP_BITOR) {
        *out = int_value(op == HDB_OP_BITAND ? (x & y) : (x | y));
        return HDB_OK;
    }
    bool left = op == HDB_OP_LSHIFT;
    if (y < 0) {
        left = !left;
        y = y == INT64_MIN ? 64 : -y;
    }
    uint64_t u = (uint64_t)x;
    if (y >= 64) {
        *out = int_value(left || x >= 0 ? 0 : -1);
    } else if (left) {
        *out = int_value((int64_t)(u << y));
    } else {
        *out = int_value(x >= 0 ? (int64_t)(u >> y) : ~(int64_t)(~u >> y));
    }
    return HDB_OK;
}

/* --- comparison --- */

static bool numeric_aff(enum hdb_affinity a)
{
    return a == HDB_AFF_INTEGER || a == HDB_AFF_REAL || a == HDB_AFF_NUMERIC;
}

/* SQLite's rules: a numeric side makes the other numeric; a TEXT side makes an unaffined one TEXT.
 */
static void compare_affinity(struct hdb_value *a, enum hdb_affinity fa, struct hdb_value *b,
                             enum hdb_affinity fb, char buf_a[32], char buf_b[32])
{
    if (numeric_aff(fa) && !numeric_aff(fb)) {
        hdb_value_apply(b, HDB_AFF_NUMERIC, buf_b);
    } else if (numeric_aff(fb) && !numeric_aff(fa)) {
        hdb_value_apply(a, HDB_AFF_NUMERIC, buf_a);
    } else if (fa == HDB_AFF_TEXT && fb == HDB_AFF_NONE) {
        hdb_value_apply(b, HDB_AFF_TEXT, buf_b);
    } else if (fb == HDB_AFF_TEXT && fa == HDB_AFF_NONE) {
        hdb_value_apply(a, HDB_AFF_TEXT, buf_a);
    }
}

static struct hdb_value compare(enum hdb_sql_binary_op op, const struct hdb_value *a,
                                const struct hdb_value *b)
{
    bool na = a->type == HDB_V_NULL, nb = b->type == HDB_V_NULL;
    if (op == HDB_OP_IS || op == HDB_OP_IS_NOT) {
        bool same = na || nb ? na && nb : hdb_value_cmp(a, b) == 0;
        return int_value(same == (op == HDB_OP_IS));
    }
    if (na || nb) {
        return null_value();
    }
    int c = hdb_value_cmp(a, b);
    bool t = op == HDB_OP_EQ   ? c == 0
             : op == HDB_OP_NE ? c != 0
             : op == HDB_OP_LT ? c < 0
             : op == HDB_OP_LE ? c <= 0
             : op == HDB_OP_GT ? c > 0
                               : c >= 0;
    return int_value(t);
}

int hdb_value_truth(const struct hdb_value *v)
{
    struct hdb_value n;
    switch (v->type) {
    case HDB_V_NULL:
        return -1;
    case HDB_V_INT:
        return v->u.i != 0;
    case HDB_V_REAL:
        return v->u.r != 0.0;
    case HDB_V_DEC:
        return !hdb_dec_is_zero(&v->u.d);
    default:
        hdb_value_numeric(v, &n);
        return hdb_value_truth(&n);
    }
}

/* --- LIKE and GLOB --- */

/* Decodes one UTF-8 character (invalid bytes count as one character each). */
static uint32_t utf8_next(const uint8_t *p, size_t len, size_t *at)
{
    uint8_t b = p[*at];
    size_t n = b < 0x80             ? 1
               : (b & 0xE0) == 0xC0 ? 2
               : (b & 0xF0) == 0xE0 ? 3
               : (b & 0xF8) == 0xF0 ? 4
                                    : 1;
    if (*at + n > len) {
        n = 1;
    }
    uint32_t cp = n == 1 ? b : b & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        cp = (cp << 6) | (p[*at + i] & 0x3F);
    }
    *at += n;
    return cp;
}

static uint32_t fold(uint32_t c, bool nocase)
{
    return nocase && c < 128 ? (uint32_t)tolower((int)c) : c;
}

struct pattern {
    const uint8_t *p, *s;
    size_t plen, slen;
    bool glob;
    uint32_t escape; /* LIKE ... ESCAPE (0: none) */
};

static bool glob_class(const struct pattern *m, size_t *pi, uint32_t c)
{
    size_t at = *pi;
    bool negate = at < m->plen && m->p[at] == '^';
    at += negate ? 1 : 0;
    bool hit = false;
    bool first = true;
    uint32_t prev = 0;
    while (at < m->plen && (first || m->p[at] != ']')) {
        uint32_t x = utf8_next(m->p, m->plen, &at);
        if (x == '-' && !first && at < m->plen && m->p[at] != ']') {
            uint32_t hi = utf8_next(m->p, m->plen, &at);
            hit = hit || (c >= prev && c <= hi);
        } else {
            hit = hit || c == x;
            prev = x;
        }
        first = false;
    }
    *pi = at < m->plen ? at + 1 : at;
    return hit != negate;
}

/* Iterative matcher with one backtrack point per wildcard run (like the classic algorithm). */
static bool pattern_match(const struct pattern *m)
{
    bool nocase = !m->glob;
    uint32_t any = m->glob ? '*' : '%', one = m->glob ? '?' : '_';
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < m->slen) {
        size_t p_at = pi, s_at = si;
        if (pi < m->plen) {
            uint32_t pc = utf8_next(m->p, m->plen, &p_at);
            size_t s_next = si;
            uint32_t sc = utf8_next(m->s, m->slen, &s_next);
            if (pc == any) {
                star_p = p_at;
                star_s = si;
                pi = p_at;
                continue;
            }
            bool escaped = m->escape != 0 && pc == m->escape && p_at < m->plen;
            if (escaped) {
                pc = utf8_next(m->p, m->plen, &p_at);
            }
            bool ok;
            if (!escaped && pc == one) {
                ok = true;
            } else if (!escaped && m->glob && pc == '[') {
                ok = glob_class(m, &p_at, sc);
            } else {
                ok = fold(pc, nocase) == fold(sc, nocase);
            }
            if (ok) {
                pi = p_at;
                si = s_next;
                continue;
            }
        }
        if (star_p == SIZE_MAX) {
            return false;
        }
        pi = star_p;
        s_at = star_s;
        utf8_next(m->s, m->slen, &s_at);
        star_s = s_at;
        si = s_at;
    }
    while (pi < m->plen) {
        size_t p_at = pi;
        if (utf8_next(m->p, m->plen, &p_at) != any) {
            return false;
        }
        pi = p_at;
    }
    return true;
}

/* --- the tree walk --- */

static int eval_aff(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
                    enum hdb_affinity *aff, struct hdb_err *err);
static int eval_function(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e,
                         struct hdb_value *out, struct hdb_err *err);
static int eval_cast(struct hdb_eval_ctx *c, const struct hdb_value *v,
                     const struct hdb_sql_type *t, struct hdb_value *out, struct hdb_err *err);

static int eval_logic(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
                      struct hdb_err *err)
{
    struct hdb_value l, r;
    int rc = hdb_eval(c, e->u.binary.left, &l, err);
    if (rc != HDB_OK) {
        return rc;
    }
    int tl = hdb_value_truth(&l);
    bool is_and = e->u.binary.op == HDB_OP_AND;
    if ((is_and && tl == 0) || (!is_and && tl == 1)) {
        *out = int_value(tl);
        return HDB_OK;
    }
    rc = hdb_eval(c, e->u.binary.right, &r, err);
    if (rc != HDB_OK) {
        return rc;
    }
    int tr = hdb_value_truth(&r);
    if (is_and) {
        *out = tr == 0 ? int_value(0) : tl == -1 || tr == -1 ? null_value() : int_value(1);
    } else {
        *out = tr == 1 ? int_value(1) : tl == -1 || tr == -1 ? null_value() : int_value(0);
    }
    return HDB_OK;
}

static int concat(struct hdb_eval_ctx *c, const struct hdb_value *l, const struct hdb_value *r,
                  struct hdb_value *out, struct hdb_err *err)
{
    if (l->type == HDB_V_NULL || r->type == HDB_V_NULL) {
        *out = null_value();
        return HDB_OK;
    }
    struct hdb_value a, b;
    int rc = text_of(c, l, &a, err);
    rc = rc == HDB_OK ? text_of(c, r, &b, err) : rc;
    if (rc != HDB_OK) {
        return rc;
    }
    size_t len = (size_t)a.u.s.len + b.u.s.len;
    if (len > HDB_VALUE_BYTES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "string or blob too big");
    }
    uint8_t *p = hdb_sql_arena_alloc(c->arena, len + 1, &rc);
    if (p == NULL) {
        return nomem(err, rc);
    }
    if (a.u.s.len > 0) {
        memcpy(p, a.u.s.p, a.u.s.len);
    }
    if (b.u.s.len > 0) {
        memcpy(p + a.u.s.len, b.u.s.p, b.u.s.len);
    }
    *out = (struct hdb_value){.type = HDB_V_TEXT, .u.s = {p, (uint32_t)len}};
    return HDB_OK;
}

static int eval_binary(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
                       struct hdb_err *err)
{
    enum hdb_sql_binary_op op = e->u.binary.op;
    if (op == HDB_OP_AND || op == HDB_OP_OR) {
        return eval_logic(c, e, out, err);
    }
    struct hdb_value l, r;
    enum hdb_affinity fl, fr;
    int rc = eval_aff(c, e->u.binary.left, &l, &fl, err);
    rc = rc == HDB_OK ? eval_aff(c, e->u.binary.right, &r, &fr, err) : rc;
    if (rc != HDB_OK) {
        return rc;
    }
    switch (op) {
    case HDB_OP_ADD:
    case HDB_OP_SUB:
    case HDB_OP_MUL:
    case HDB_OP_DIV:
    case HDB_OP_REM:
        return arith(op, &l, &r, out, err);
    case HDB_OP_BITAND:
    case HDB_OP_BITOR:
    case HDB_OP_LSHIFT:
    case HDB_OP_RSHIFT:
        return bitwise(op, &l, &r, out);
    case HDB_OP_CONCAT:
        return concat(c, &l, &r, out, err);
    default: {
        char ba[32], bb[32];
        compare_affinity(&l, fl, &r, fr, ba, bb);
        *out = compare(op, &l, &r);
        return HDB_OK;
    }
    }
}

static int eval_unary(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
                      struct hdb_err *err)
{
    const struct hdb_sql_expr *operand = e->u.unary.operand;
    if (e->u.unary.op == HDB_UNARY_NEG && operand->kind == HDB_EXPR_REAL &&
        operand->u.r == 9223372036854775808.0 && operand->len == 19) {
        *out = int_value(INT64_MIN); /* the literal -9223372036854775808, as SQLite folds it */
        return HDB_OK;
    }
    struct hdb_value v;
    int rc = hdb_eval(c, operand, &v, err);
    if (rc != HDB_OK || v.type == HDB_V_NULL) {
        *out = null_value();
        return rc;
    }
    switch (e->u.unary.op) {
    case HDB_UNARY_NOT:
        *out = int_value(!hdb_value_truth(&v));
        return HDB_OK;
    case HDB_UNARY_PLUS:
        *out = v;
        return HDB_OK;
    case HDB_UNARY_BITNOT: {
        struct hdb_value n;
        hdb_value_numeric(&v, &n);
        *out = int_value(~(n.type == HDB_V_INT ? n.u.i : real_to_int(as_double(&n))));
        return HDB_OK;
    }
    default: {
        struct hdb_value n;
        hdb_value_numeric(&v, &n);
        if (n.type == HDB_V_INT) {
            *out = n.u.i == INT64_MIN ? real_value(-(double)n.u.i) : int_value(-n.u.i);
        } else if (n.type == HDB_V_DEC) {
            *out = n;
            hdb_dec_neg(&n.u.d, &out->u.d);
        } else {
            *out = real_value(-n.u.r);
        }
        return HDB_OK;
    }
    }
}

static int eval_like(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
                     struct hdb_err *err)
{
    if (e->u.like.op != HDB_LIKE_LIKE && e->u.like.op != HDB_LIKE_GLOB) {
        return hdb_err_set(err, HDB_INVALID, "MATCH and REGEXP are not supported");
    }
    struct hdb_value s, p, esc = null_value(), ts, tp, tesc;
    int rc = hdb_eval(c, e->u.like.left, &s, err);
    rc = rc == HDB_OK ? hdb_eval(c, e->u.like.pattern, &p, err) : rc;
    if (rc == HDB_OK && e->u.like.escape != NULL) {
        rc = hdb_eval(c, e->u.like.escape, &esc, err);
    }
    if (rc != HDB_OK) {
        return rc;
    }
    if (s.type == HDB_V_NULL || p.type == HDB_V_NULL ||
        (e->u.like.escape != NULL && esc.type == HDB_V_NULL)) {
        *out = null_value();
        return HDB_OK;
    }
    rc = text_of(c, &s, &ts, err);
    rc = rc == HDB_OK ? text_of(c, &p, &tp, err) : rc;
    struct pattern m = {.p = tp.u.s.p,
                        .plen = tp.u.s.len,
                        .s = ts.u.s.p,
                        .slen = ts.u.s.len,
                        .glob = e->u.like.op == HDB_LIKE_GLOB};
    if (rc == HDB_OK && e->u.like.escape != NULL) {
        rc = text_of(c, &esc, &tesc, err);
        size_t at = 0;
        if (rc == HDB_OK &&
            (tesc.u.s.len == 0 || (utf8_next(tesc.u.s.p, tesc.u.s.len, &at), at != tesc.u.s.len))) {
            return hdb_err_set(err, HDB_INVALID, "ESCAPE expression must be a single character");
        }
        at = 0;
        m.escape = rc == HDB_OK ? utf8_next(tesc.u.s.p, tesc.u.s.len, &at) : 0;
    }
    if (rc != HDB_OK) {
        return rc;
    }
    *out = int_value(pattern_match(&m) != e->u.like.negated);
    return HDB_OK;
}

static int eval_between(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
                        struct hdb_err *err)
{
    struct hdb_value v, lo, hi;
    enum hdb_affinity fv, flo, fhi;
    int rc = eval_aff(c, e->u.between.operand, &v, &fv, err);
    rc = rc == HDB_OK ? eval_aff(c, e->u.between.low, &lo, &flo, err) : rc;
    rc = rc == HDB_OK ? eval_aff(c, e->u.between.high, &hi, &fhi, err) : rc;
    if (rc != HDB_OK) {
        return rc;
    }
    char b1[32], b2[32], b3[32], b4[32];
    struct hdb_value v2 = v;
    compare_affinity(&v, fv, &lo, flo, b1, b2);
    compare_affinity(&v2, fv, &hi, fhi, b3, b4);
    struct hdb_value ge = compare(HDB_OP_GE, &v, &lo), le = compare(HDB_OP_LE, &v2, &hi);
    int a = hdb_value_truth(&ge), b = hdb_value_truth(&le);
    int t = a == 0 || b == 0 ? 0 : a == -1 || b == -1 ? -1 : 1;
    *out = t == -1 ? null_value() : int_value(e->u.between.negated ? !t : t);
    return HDB_OK;
}

static int eval_in(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
                   struct hdb_err *err)
{
    if (e->u.in.select != NULL || e->u.in.table.ptr != NULL) {
        return hdb_err_set(err, HDB_INVALID, "IN (SELECT ...) is evaluated by the executor");
    }
    struct hdb_value v;
    enum hdb_affinity fv;
    int rc = eval_aff(c, e->u.in.operand, &v, &fv, err);
    if (rc != HDB_OK) {
        return rc;
    }
    if (e->u.in.list.n == 0) {
        *out = int_value(e->u.in.negated); /* x IN () is false, even for NULL */
        return HDB_OK;
    }
    if (v.type == HDB_V_NULL) {
        *out = null_value();
        return HDB_OK;
    }
    bool saw_null = false;
    for (uint32_t i = 0; i < e->u.in.list.n; i++) {
        struct hdb_value item, lhs = v;
        enum hdb_affinity fi;
        rc = eval_aff(c, e->u.in.list.items[i], &item, &fi, err);
        if (rc != HDB_OK) {
            return rc;
        }
        char ba[32], bb[32];
        /* The left side's affinity applies to the list (SQLite). */
        compare_affinity(&lhs, fv, &item, fv == HDB_AFF_NONE ? fi : HDB_AFF_NONE, ba, bb);
        struct hdb_value eq = compare(HDB_OP_EQ, &lhs, &item);
        if (eq.type == HDB_V_NULL) {
            saw_null = true;
        } else if (eq.u.i) {
            *out = int_value(!e->u.in.negated);
            return HDB_OK;
        }
    }
    *out = saw_null ? null_value() : int_value(e->u.in.negated);
    return HDB_OK;
}

static int eval_case(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
                     struct hdb_err *err)
{
    struct hdb_value base = null_value();
    enum hdb_affinity fb = HDB_AFF_NONE;
    int rc = e->u.case_.base != NULL ? eval_aff(c, e->u.case_.base, &base, &fb, err) : HDB_OK;
    for (uint32_t i = 0; rc == HDB_OK && i + 1 < e->u.case_.whens.n; i += 2) {
        struct hdb_value w;
        enum hdb_affinity fw;
        rc = eval_aff(c, e->u.case_.whens.items[i], &w, &fw, err);
        if (rc != HDB_OK) {
            break;
        }
        bool hit;
        if (e->u.case_.base != NULL) {
            struct hdb_value b = base;
            char ba[32], bb[32];
            compare_affinity(&b, fb, &w, fw, ba, bb);
            struct hdb_value eq = compare(HDB_OP_EQ, &b, &w);
            hit = eq.type == HDB_V_INT && eq.u.i;
        } else {
            hit = hdb_value_truth(&w) == 1;
        }
        if (hit) {
            return hdb_eval(c, e->u.case_.whens.items[i + 1], out, err);
        }
    }
    if (rc != HDB_OK) {
        return rc;
    }
    if (e->u.case_.else_ != NULL) {
        return hdb_eval(c, e->u.case_.else_, out, err);
    }
    *out = null_value();
    return HDB_OK;
}

static enum hdb_affinity type_affinity(const struct hdb_sql_type *t)
{
    return t->name.ptr == NULL ? HDB_AFF_BLOB : hdb_affinity_of(t->name.ptr, t->name.len);
}

static int eval_aff(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
                    enum hdb_affinity *aff, struct hdb_err *err)
{
    *aff = HDB_AFF_NONE;
    if (e->kind == HDB_EXPR_COLUMN) {
        if (c->column == NULL) {
            return hdb_err_set(err, HDB_INVALID, "no such column: %s", e->u.column.column.ptr);
        }
        return c->column(c->column_ctx, e, out, aff, err);
    }
    if (e->kind == HDB_EXPR_CAST) {
        *aff = type_affinity(&e->u.cast.type);
    } else if (e->kind == HDB_EXPR_COLLATE ||
               (e->kind == HDB_EXPR_UNARY && e->u.unary.op == HDB_UNARY_PLUS)) {
        /* COLLATE and unary + keep the operand's affinity (SQLite) */
        const struct hdb_sql_expr *inner =
            e->kind == HDB_EXPR_COLLATE ? e->u.collate.operand : e->u.unary.operand;
        return eval_aff(c, inner, out, aff, err);
    }
    return hdb_eval(c, e, out, err);
}

int hdb_eval(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e, struct hdb_value *out,
             struct hdb_err *err)
{
    enum hdb_affinity aff;
    if (c->hook != NULL &&
        (e->kind == HDB_EXPR_FUNCTION || e->kind == HDB_EXPR_SUBQUERY ||
         e->kind == HDB_EXPR_EXISTS || (e->kind == HDB_EXPR_IN && e->u.in.select != NULL))) {
        bool handled = false;
        int rc = c->hook(c->hook_ctx, e, out, &handled, err);
        if (rc != HDB_OK || handled) {
            return rc;
        }
    }
    switch (e->kind) {
    case HDB_EXPR_INTEGER:
    case HDB_EXPR_BOOL:
        *out = int_value(e->u.i);
        return HDB_OK;
    case HDB_EXPR_REAL:
        *out = real_value(e->u.r);
        return HDB_OK;
    case HDB_EXPR_STRING:
        *out = (struct hdb_value){.type = HDB_V_TEXT,
                                  .u.s = {(const uint8_t *)e->u.s.ptr, e->u.s.len}};
        return HDB_OK;
    case HDB_EXPR_BLOB:
        *out = (struct hdb_value){.type = HDB_V_BLOB,
                                  .u.s = {(const uint8_t *)e->u.s.ptr, e->u.s.len}};
        return HDB_OK;
    case HDB_EXPR_NULL:
        *out = null_value();
        return HDB_OK;
    case HDB_EXPR_PARAM:
        if (e->u.param.number == 0 || e->u.param.number > c->nparams) {
            *out = null_value(); /* an unbound parameter is NULL, as in SQLite */
            return HDB_OK;
        }
        *out = c->params[e->u.param.number - 1];
        return HDB_OK;
    case HDB_EXPR_COLUMN:
    case HDB_EXPR_COLLATE:
        return eval_aff(c, e, out, &aff, err);
    case HDB_EXPR_UNARY:
        return eval_unary(c, e, out, err);
    case HDB_EXPR_BINARY:
        return eval_binary(c, e, out, err);
    case HDB_EXPR_LIKE:
        return eval_like(c, e, out, err);
    case HDB_EXPR_BETWEEN:
        return eval_between(c, e, out, err);
    case HDB_EXPR_IN:
        return eval_in(c, e, out, err);
    case HDB_EXPR_ISNULL: {
        struct hdb_value v;
        int rc = hdb_eval(c, e->u.isnull.operand, &v, err);
        *out = int_value((v.type == HDB_V_NULL) != e->u.isnull.negated);
        return rc;
    }
    case HDB_EXPR_CASE:
        return eval_case(c, e, out, err);
    case HDB_EXPR_CAST: {
        struct hdb_value v;
        int rc = hdb_eval(c, e->u.cast.operand, &v, err);
        return rc == HDB_OK ? eval_cast(c, &v, &e->u.cast.type, out, err) : rc;
    }
    case HDB_EXPR_FUNCTION:
        return eval_function(c, e, out, err);
    default:
        return hdb_err_set(err, HDB_INVALID,
                           "this expression (subquery, EXISTS, row value or CURRENT_*) is "
                           "evaluated by the executor");
    }
}

/* --- CAST --- */

static int cast_decimal(const struct hdb_value *v, const struct hdb_sql_type *t,
                        struct hdb_value *out, struct hdb_err *err)
{
    struct hdb_dec d;
    struct hdb_value n;
    hdb_value_numeric(v, &n);
    int rc = HDB_OK;
    if (n.type == HDB_V_INT) {
        hdb_dec_from_i64(n.u.i, &d);
    } else if (n.type == HDB_V_REAL) {
        rc = hdb_dec_from_double(n.u.r, &d, err);
    } else {
        d = n.u.d;
    }
    int64_t p64 = t->args[0], s64 = t->nargs > 1 ? t->args[1] : 0;
    if (rc == HDB_OK && (p64 < 1 || p64 > HDB_DEC_DIGITS_MAX || s64 < 0 || s64 > p64)) {
        /* Checked here as written: converted to uint32_t first, DECIMAL(-1,2) was named
         * DECIMAL(4294967295,2) in the message (found by test_fuzz_sql). */
        return hdb_err_set(err, HDB_INVALID,
                           "DECIMAL(%" PRId64 ",%" PRId64
                           "): precision is 1 to %u and scale 0 to it",
                           p64, s64, HDB_DEC_DIGITS_MAX);
    }
    uint32_t p = (uint32_t)p64, s = (uint32_t)s64;
    struct hdb_dec fitted;
    rc = rc == HDB_OK ? hdb_dec_fit(&d, p, s, &fitted, err) : rc;
    if (rc == HDB_OK) {
        *out = (struct hdb_value){.type = HDB_V_DEC, .u.d = fitted};
    }
    return rc;
}

static bool is_decimal_type(const struct hdb_sql_type *t)
{
    return t->name.ptr != NULL && t->nargs >= 1 &&
           (strcasecmp(t->name.ptr, "DECIMAL") == 0 || strcasecmp(t->name.ptr, "NUMERIC") == 0);
}

static int eval_cast(struct hdb_eval_ctx *c, const struct hdb_value *v,
                     const struct hdb_sql_type *t, struct hdb_value *out, struct hdb_err *err)
{
    if (v->type == HDB_V_NULL) {
        *out = null_value();
        return HDB_OK;
    }
    if (is_decimal_type(t)) {
        return cast_decimal(v, t, out, err);
    }
    struct hdb_value n;
    switch (type_affinity(t)) {
    case HDB_AFF_INTEGER:
        if (v->type == HDB_V_TEXT || v->type == HDB_V_BLOB) {
            *out = int_value(text_integer(v->u.s.p, v->u.s.len));
        } else {
            *out = v->type == HDB_V_INT ? *v : int_value(real_to_int(as_double(v)));
        }
        return HDB_OK;
    case HDB_AFF_REAL:
        hdb_value_numeric(v, &n);
        *out = real_value(as_double(&n));
        return HDB_OK;
    case HDB_AFF_TEXT:
        return text_of(c, v, out, err);
    case HDB_AFF_NUMERIC: {
        char buf[32];
        *out = *v;
        if (v->type == HDB_V_TEXT || v->type == HDB_V_BLOB) {
            hdb_value_numeric(v, out);
            hdb_value_apply(out, HDB_AFF_NUMERIC, buf); /* '12.0' -> 12 */
        }
        return HDB_OK;
    }
    default:
        if (v->type == HDB_V_TEXT || v->type == HDB_V_BLOB) {
            *out = *v;
            out->type = HDB_V_BLOB;
            return HDB_OK;
        }
        int rc = text_of(c, v, out, err);
        out->type = rc == HDB_OK ? HDB_V_BLOB : out->type;
        return rc;
    }
}

/* --- functions --- */

struct fn_args {
    uint32_t n;
    struct hdb_value v[]; /* n, then a few zeroed (NULL) slots optional arguments may read */
};

typedef int (*fn_impl)(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                       struct hdb_err *err);

static int fn_abs(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                  struct hdb_err *err)
{
    (void)c;
    struct hdb_value n;
    hdb_value_numeric(&a->v[0], &n);
    if (a->v[0].type == HDB_V_TEXT || a->v[0].type == HDB_V_BLOB) {
        n = real_value(as_double(&n)); /* SQLite reads text as a double here */
    }
    if (n.type == HDB_V_NULL) {
        *out = n;
    } else if (n.type == HDB_V_INT) {
        if (n.u.i == INT64_MIN) {
            return hdb_err_set(err, HDB_TOOBIG, "integer overflow");
        }
        *out = int_value(n.u.i < 0 ? -n.u.i : n.u.i);
    } else if (n.type == HDB_V_DEC) {
        *out = n;
        out->u.d.coef = n.u.d.coef < 0 ? -n.u.d.coef : n.u.d.coef;
    } else {
        *out = real_value(n.u.r < 0 ? -n.u.r : n.u.r); /* abs(-0.0) is -0.0 in SQLite */
    }
    return HDB_OK;
}

static int fn_coalesce(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                       struct hdb_err *err)
{
    (void)c;
    (void)err;
    *out = null_value();
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->v[i].type != HDB_V_NULL) {
            *out = a->v[i];
            break;
        }
    }
    return HDB_OK;
}

static int fn_iif(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                  struct hdb_err *err)
{
    (void)c;
    (void)err;
    *out = hdb_value_truth(&a->v[0]) == 1 ? a->v[1] : a->v[2];
    return HDB_OK;
}

static int fn_nullif(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                     struct hdb_err *err)
{
    (void)c;
    (void)err;
    struct hdb_value eq = compare(HDB_OP_EQ, &a->v[0], &a->v[1]);
    *out = eq.type == HDB_V_INT && eq.u.i ? null_value() : a->v[0];
    return HDB_OK;
}

static size_t utf8_count(const uint8_t *p, size_t len)
{
    size_t n = 0;
    for (size_t at = 0; at < len && p[at] != 0;) {
        utf8_next(p, len, &at);
        n++;
    }
    return n;
}

static int fn_length(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                     struct hdb_err *err)
{
    struct hdb_value t;
    if (a->v[0].type == HDB_V_NULL) {
        *out = null_value();
        return HDB_OK;
    }
    if (a->v[0].type == HDB_V_BLOB) {
        *out = int_value(a->v[0].u.s.len);
        return HDB_OK;
    }
    int rc = text_of(c, &a->v[0], &t, err);
    *out = int_value((int64_t)utf8_count(t.u.s.p, t.u.s.len));
    return rc;
}

static int fn_case(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                   struct hdb_err *err, bool upper)
{
    struct hdb_value t;
    if (a->v[0].type == HDB_V_NULL) {
        *out = null_value();
        return HDB_OK;
    }
    int rc = text_of(c, &a->v[0], &t, err);
    rc = rc == HDB_OK ? bytes_value(c, HDB_V_TEXT, t.u.s.p, t.u.s.len, out, err) : rc;
    for (uint32_t i = 0; rc == HDB_OK && i < out->u.s.len; i++) {
        uint8_t *p = (uint8_t *)out->u.s.p + i;
        *p = *p < 128 ? (uint8_t)(upper ? toupper(*p) : tolower(*p)) : *p;
    }
    return rc;
}

static int fn_lower(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                    struct hdb_err *err)
{
    return fn_case(c, a, out, err, false);
}

static int fn_upper(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                    struct hdb_err *err)
{
    return fn_case(c, a, out, err, true);
}

/* Byte offset of character `chars` in text (or the end). */
static size_t utf8_offset(const uint8_t *p, size_t len, int64_t chars)
{
    size_t at = 0;
    for (int64_t i = 0; i < chars && at < len; i++) {
        utf8_next(p, len, &at);
    }
    return at;
}

static int fn_substr(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                     struct hdb_err *err)
{
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->v[i].type == HDB_V_NULL) {
            *out = null_value();
            return HDB_OK;
        }
    }
    struct hdb_value s = a->v[0], n1, n2;
    bool blob = s.type == HDB_V_BLOB;
    int rc = blob ? HDB_OK : text_of(c, &a->v[0], &s, err);
    if (rc != HDB_OK) {
        return rc;
    }
    hdb_value_numeric(&a->v[1], &n1);
    int64_t len = blob ? s.u.s.len : (int64_t)utf8_count(s.u.s.p, s.u.s.len);
    int64_t p1 = n1.type == HDB_V_INT ? n1.u.i : real_to_int(as_double(&n1));
    int64_t p2 = len;
    if (a->n > 2) {
        hdb_value_numeric(&a->v[2], &n2);
        p2 = n2.type == HDB_V_INT ? n2.u.i : real_to_int(as_double(&n2));
    }
    bool neg = p2 < 0;
    p2 = neg ? (p2 == INT64_MIN ? INT64_MAX : -p2) : p2;
    if (p1 < 0) {
        p1 += len;
        if (p1 < 0) {
            p2 = neg ? p2 : (p2 + p1 < 0 ? 0 : p2 + p1);
            p1 = 0;
        }
    } else if (p1 > 0) {
        p1--;
    } else if (p2 > 0 && !neg) {
        p2--;
    }
    if (neg) {
        p1 -= p2;
        if (p1 < 0) {
            p2 += p1;
            p1 = 0;
        }
    }
    p1 = p1 > len ? len : p1;
    p2 = p2 > len - p1 ? len - p1 : p2;
    p2 = p2 < 0 ? 0 : p2;
    size_t from = blob ? (size_t)p1 : utf8_offset(s.u.s.p, s.u.s.len, p1);
    size_t to = blob ? (size_t)(p1 + p2) : utf8_offset(s.u.s.p, s.u.s.len, p1 + p2);
    return bytes_value(c, blob ? HDB_V_BLOB : HDB_V_TEXT, s.u.s.p + from, to - from, out, err);
}

static bool in_set(const struct hdb_value *set, uint8_t b)
{
    return memchr(set->u.s.p, b, set->u.s.len) != NULL;
}

static int trim_common(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                       struct hdb_err *err, bool left, bool right)
{
    if (a->v[0].type == HDB_V_NULL || (a->n > 1 && a->v[1].type == HDB_V_NULL)) {
        *out = null_value();
        return HDB_OK;
    }
    struct hdb_value s, set = {.type = HDB_V_TEXT, .u.s = {(const uint8_t *)" ", 1}};
    int rc = text_of(c, &a->v[0], &s, err);
    if (rc == HDB_OK && a->n > 1) {
        rc = text_of(c, &a->v[1], &set, err);
    }
    if (rc != HDB_OK) {
        return rc;
    }
    size_t from = 0, to = s.u.s.len;
    while (left && from < to && in_set(&set, s.u.s.p[from])) {
        from++;
    }
    while (right && to > from && in_set(&set, s.u.s.p[to - 1])) {
        to--;
    }
    return bytes_value(c, HDB_V_TEXT, s.u.s.p + from, to - from, out, err);
}

static int fn_trim(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                   struct hdb_err *err)
{
    return trim_common(c, a, out, err, true, true);
}

static int fn_ltrim(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                    struct hdb_err *err)
{
    return trim_common(c, a, out, err, true, false);
}

static int fn_rtrim(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                    struct hdb_err *err)
{
    return trim_common(c, a, out, err, false, true);
}

static int fn_replace(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                      struct hdb_err *err)
{
    for (uint32_t i = 0; i < 3; i++) {
        if (a->v[i].type == HDB_V_NULL) {
            *out = null_value();
            return HDB_OK;
        }
    }
    struct hdb_value s, from, to;
    int rc = text_of(c, &a->v[0], &s, err);
    rc = rc == HDB_OK ? text_of(c, &a->v[1], &from, err) : rc;
    rc = rc == HDB_OK ? text_of(c, &a->v[2], &to, err) : rc;
    if (rc != HDB_OK || from.u.s.len == 0) {
        *out = s;
        return rc;
    }
    size_t count = 0;
    for (size_t i = 0; i + from.u.s.len <= s.u.s.len;) {
        bool hit = memcmp(s.u.s.p + i, from.u.s.p, from.u.s.len) == 0;
        count += hit;
        i += hit ? from.u.s.len : 1;
    }
    size_t len = s.u.s.len + count * to.u.s.len - count * from.u.s.len;
    if (len > HDB_VALUE_BYTES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "string or blob too big");
    }
    uint8_t *p = hdb_sql_arena_alloc(c->arena, len + 1, &rc);
    if (p == NULL) {
        return nomem(err, rc);
    }
    size_t w = 0;
    for (size_t i = 0; i < s.u.s.len;) {
        if (i + from.u.s.len <= s.u.s.len && memcmp(s.u.s.p + i, from.u.s.p, from.u.s.len) == 0) {
            memcpy(p + w, to.u.s.p, to.u.s.len);
            w += to.u.s.len;
            i += from.u.s.len;
        } else {
            p[w++] = s.u.s.p[i++];
        }
    }
    *out = (struct hdb_value){.type = HDB_V_TEXT, .u.s = {p, (uint32_t)w}};
    return HDB_OK;
}

/* --- printf --- */

struct fmt_out {
    struct hdb_buf b;
    bool over; /* past HDB_VALUE_BYTES_MAX, or out of memory */
};

static void fmt_put(struct fmt_out *o, const void *p, size_t n)
{
    if (o->over || n == 0) {
        return;
    }
    if (o->b.len + n > HDB_VALUE_BYTES_MAX || hdb_buf_reserve(&o->b, o->b.len + n) != HDB_OK) {
        o->over = true;
        return;
    }
    memcpy(o->b.data + o->b.len, p, n);
    o->b.len += n;
}

static void fmt_fill(struct fmt_out *o, char ch, size_t n)
{
    char pad[64];
    memset(pad, ch, sizeof pad);
    for (; n > 0 && !o->over;) {
        size_t k = n < sizeof pad ? n : sizeof pad;
        fmt_put(o, pad, k);
        n -= k;
    }
}

/* `body` (with its sign or prefix `pre`) justified in `width`; zeros go between them. */
static void fmt_field(struct fmt_out *o, const char *pre, const char *body, size_t blen,
                      size_t width, bool left, bool zero)
{
    size_t len = strlen(pre) + blen, pad = width > len ? width - len : 0;
    if (!left && !zero) {
        fmt_fill(o, ' ', pad);
    }
    fmt_put(o, pre, strlen(pre));
    if (!left && zero) {
        fmt_fill(o, '0', pad);
    }
    fmt_put(o, body, blen);
    if (left) {
        fmt_fill(o, ' ', pad);
    }
}

static int64_t fmt_int(const struct hdb_value *v)
{
    switch (v->type) {
    case HDB_V_INT:
        return v->u.i;
    case HDB_V_REAL:
    case HDB_V_DEC:
        return real_to_int(as_double(v));
    case HDB_V_TEXT:
    case HDB_V_BLOB:
        return text_integer(v->u.s.p, v->u.s.len);
    default:
        return 0;
    }
}

static double fmt_double(const struct hdb_value *v)
{
    if (v->type == HDB_V_TEXT || v->type == HDB_V_BLOB) {
        char buf[64];
        size_t n = v->u.s.len < sizeof buf - 1 ? v->u.s.len : sizeof buf - 1;
        memcpy(buf, v->u.s.p, n);
        buf[n] = '\0';
        return strtod(buf, NULL);
    }
    return v->type == HDB_V_NULL ? 0.0 : as_double(v);
}

/* printf(FORMAT, ...) / format(): SQLite's conversions d i u x X o c s z q Q w f e E g G %. */
static int fn_printf(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                     struct hdb_err *err)
{
    if (a->v[0].type == HDB_V_NULL) {
        *out = null_value();
        return HDB_OK;
    }
    struct hdb_value f;
    int rc = text_of(c, &a->v[0], &f, err);
    if (rc != HDB_OK) {
        return rc;
    }
    static const struct hdb_value none = {.type = HDB_V_NULL};
    uint32_t next = 1;
    struct fmt_out o = {0};
    const char *p = (const char *)f.u.s.p, *end = p + f.u.s.len;
    while (p < end && !o.over && rc == HDB_OK) {
        const char *pct = memchr(p, '%', (size_t)(end - p));
        if (pct == NULL) {
            fmt_put(&o, p, (size_t)(end - p));
            break;
        }
        fmt_put(&o, p, (size_t)(pct - p));
        p = pct + 1;
        bool left = false, plus = false, space = false, zero = false, alt = false, comma = false;
        for (; p < end && strchr("-+ 0#,!", *p) != NULL; p++) {
            left = left || *p == '-';
            plus = plus || *p == '+';
            space = space || *p == ' ';
            zero = zero || *p == '0';
            alt = alt || *p == '#';
            comma = comma || *p == ',';
        }
        int64_t width = 0, prec = -1;
        if (p < end && *p == '*') {
            width = fmt_int(next < a->n ? &a->v[next++] : &none);
            left = left || width < 0;
            width = width < 0 ? (width == INT64_MIN ? 0 : -width) : width;
            p++;
        }
        for (; p < end && isdigit((unsigned char)*p); p++) {
            width = width * 10 + (*p - '0');
            width = width > HDB_VALUE_BYTES_MAX ? HDB_VALUE_BYTES_MAX : width;
        }
        if (p < end && *p == '.') {
            p++;
            prec = 0;
            if (p < end && *p == '*') {
                prec = fmt_int(next < a->n ? &a->v[next++] : &none);
                prec = prec < 0 ? -1 : prec;
                p++;
            }
            for (; p < end && isdigit((unsigned char)*p); p++) {
                prec = prec * 10 + (*p - '0');
                prec = prec > HDB_VALUE_BYTES_MAX ? HDB_VALUE_BYTES_MAX : prec;
            }
        }
        while (p < end && (*p == 'l' || *p == 'h')) {
            p++;
        }
        if (p >= end) {
            break;
        }
        char t = *p++;
        if (t == '%') {
            fmt_put(&o, "%", 1);
            continue;
        }
        if (t == 'n') {
            continue;
        }
        const struct hdb_value *v =
            strchr("diuxXopcszqQwfeEgG", t) != NULL && next < a->n ? &a->v[next++] : &none;
        char num[400];
        if (t == 'd' || t == 'i' || t == 'u' || t == 'x' || t == 'X' || t == 'o' || t == 'p') {
            int64_t iv = fmt_int(v);
            bool neg = (t == 'd' || t == 'i') && iv < 0;
            uint64_t m = neg ? 0 - (uint64_t)iv : (uint64_t)iv;
            unsigned base = t == 'x' || t == 'X' || t == 'p' ? 16 : t == 'o' ? 8 : 10;
            const char *digits = t == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
            char rev[96];
            size_t n = 0, groups = 0;
            do {
                if (comma && base == 10 && n > 0 && (n - groups) % 3 == 0) {
                    rev[n++] = ',';
                    groups++;
                }
                rev[n++] = digits[m % base];
                m /= base;
            } while (m > 0);
            while (prec > 0 && (int64_t)(n - groups) < prec && n < sizeof rev) {
                rev[n++] = '0';
            }
            size_t k = 0;
            while (n > 0) {
                num[k++] = rev[--n];
            }
            const char *pre = neg                                ? "-"
                              : (t == 'd' || t == 'i') && plus   ? "+"
                              : (t == 'd' || t == 'i') && space  ? " "
                              : alt && t == 'x'                  ? "0x"
                              : alt && t == 'X'                  ? "0X"
                              : alt && t == 'o' && num[0] != '0' ? "0"
                                                                 : "";
            fmt_field(&o, pre, num, k, (size_t)width, left, zero);
        } else if (t == 'f' || t == 'e' || t == 'E' || t == 'g' || t == 'G') {
            char spec[16];
            size_t k = 0;
            spec[k++] = '%';
            if (plus) {
                spec[k++] = '+';
            } else if (space) {
                spec[k++] = ' ';
            }
            if (alt) {
                spec[k++] = '#';
            }
            memcpy(spec + k, ".*", 2);
            k += 2;
            spec[k++] = t;
            spec[k] = '\0';
            int fp = prec < 0 ? 6 : prec > 300 ? 300 : (int)prec;
            long double d = fmt_double(v);
            if (t == 'f' && isfinite(d) && fp + ilogb((double)d) / 3 < 15) {
                d += d * 3e-16L; /* as SQLite: 1.005 is printed 1.01 with %.2f */
            }
            spec[k - 1] = 'L';
            spec[k] = t;
            spec[k + 1] = '\0';
            int n = snprintf(num, sizeof num, spec, fp, d);
            n = n < 0 ? 0 : n >= (int)sizeof num ? (int)sizeof num - 1 : n;
            bool sign = num[0] == '-' || num[0] == '+' || num[0] == ' ';
            char pre[2] = {sign ? num[0] : '\0', '\0'};
            bool finite = isfinite(fmt_double(v));
            fmt_field(&o, pre, num + sign, (size_t)n - sign, (size_t)width, left, zero && finite);
        } else if (t == 'c') {
            struct hdb_value tv = {0};
            rc = v->type == HDB_V_NULL ? HDB_OK : text_of(c, v, &tv, err);
            size_t clen = 0;
            if (rc == HDB_OK && v->type != HDB_V_NULL && tv.u.s.len > 0) {
                clen = 1;
                while (clen < tv.u.s.len && (tv.u.s.p[clen] & 0xC0) == 0x80) {
                    clen++;
                }
            }
            int64_t times = prec > 1 ? prec : 1;
            size_t len = clen * (size_t)times;
            if (!left && (size_t)width > len) {
                fmt_fill(&o, ' ', (size_t)width - len);
            }
            for (int64_t i = 0; i < times && clen > 0 && !o.over; i++) {
                fmt_put(&o, tv.u.s.p, clen);
            }
            if (left && (size_t)width > len) {
                fmt_fill(&o, ' ', (size_t)width - len);
            }
        } else { /* s z q Q w */
            struct hdb_value tv = {.type = HDB_V_TEXT, .u.s = {(const uint8_t *)"", 0}};
            bool null = v->type == HDB_V_NULL;
            rc = null ? HDB_OK : text_of(c, v, &tv, err);
            if (null && t == 'Q') {
                tv.u.s.p = (const uint8_t *)"NULL";
                tv.u.s.len = 4;
            } else if (null && t == 'q') {
                tv.u.s.p = (const uint8_t *)"(NULL)";
                tv.u.s.len = 6;
            }
            size_t len = tv.u.s.len;
            if (prec >= 0 && (size_t)prec < len) {
                len = (size_t)prec;
            }
            char quote = t == 'w' ? '"' : '\'';
            bool quoting = t == 'q' || t == 'w' || (t == 'Q' && !null);
            size_t extra = 0;
            for (size_t i = 0; quoting && i < len; i++) {
                extra += tv.u.s.p[i] == (uint8_t)quote;
            }
            bool wrap = t == 'Q' && !null;
            size_t total = len + extra + (wrap ? 2 : 0);
            if (!left && (size_t)width > total) {
                fmt_fill(&o, ' ', (size_t)width - total);
            }
            if (wrap) {
                fmt_put(&o, &quote, 1);
            }
            for (size_t i = 0, from = 0; i <= len && !o.over; i++) {
                if (i == len || (quoting && tv.u.s.p[i] == (uint8_t)quote)) {
                    fmt_put(&o, tv.u.s.p + from, i - from + (i < len ? 1 : 0));
                    if (i < len) {
                        fmt_put(&o, &quote, 1);
                    }
                    from = i + 1;
                }
            }
            if (wrap) {
                fmt_put(&o, &quote, 1);
            }
            if (left && (size_t)width > total) {
                fmt_fill(&o, ' ', (size_t)width - total);
            }
        }
    }
    if (rc == HDB_OK && o.over) {
        rc = hdb_err_set(err, HDB_TOOBIG, "string or blob too big");
    }
    if (rc == HDB_OK) {
        rc = bytes_value(c, HDB_V_TEXT, o.b.data != NULL ? o.b.data : (const uint8_t *)"", o.b.len,
                         out, err);
    }
    hdb_buf_free(&o.b);
    return rc;
}

/* round(x[, n]): REAL, rounded half away from zero on the value's 15-digit decimal form. */
static int fn_round(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                    struct hdb_err *err)
{
    (void)c;
    if (a->v[0].type == HDB_V_NULL || (a->n > 1 && a->v[1].type == HDB_V_NULL)) {
        *out = null_value();
        return HDB_OK;
    }
    struct hdb_value x, nd;
    hdb_value_numeric(&a->v[0], &x);
    int64_t digits = 0;
    if (a->n > 1) {
        hdb_value_numeric(&a->v[1], &nd);
        digits = nd.type == HDB_V_INT ? nd.u.i : real_to_int(as_double(&nd));
    }
    digits = digits < 0 ? 0 : digits > 30 ? 30 : digits;
    if (x.type == HDB_V_DEC) {
        struct hdb_dec r;
        int rc = hdb_dec_round(&x.u.d, (int32_t)digits, &r, err);
        *out = (struct hdb_value){.type = HDB_V_DEC, .u.d = r};
        return rc;
    }
    double r = as_double(&x);
    if (fabs(r) >= 4503599627370496.0 || isinf(r)) {
        *out = real_value(r); /* already integral */
        return HDB_OK;
    }
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%.15g", r);
    struct hdb_dec d, rd;
    struct hdb_err ignore;
    if (hdb_dec_parse(buf, (size_t)n, &d, &ignore) != HDB_OK ||
        hdb_dec_round(&d, (int32_t)digits, &rd, &ignore) != HDB_OK) {
        *out = real_value(r);
        return HDB_OK;
    }
    *out = real_value(hdb_dec_to_double(&rd));
    return HDB_OK;
}

static int fn_typeof(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                     struct hdb_err *err)
{
    (void)c;
    (void)err;
    static const char *const names[] = {"null", "integer", "real", "text", "blob", "decimal"};
    const char *name = names[a->v[0].type];
    *out = (struct hdb_value){.type = HDB_V_TEXT,
                              .u.s = {(const uint8_t *)name, (uint32_t)strlen(name)}};
    return HDB_OK;
}

static int fn_random(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                     struct hdb_err *err)
{
    (void)a;
    (void)err;
    c->rng = c->rng != 0 ? c->rng : 0x9E3779B97F4A7C15ull;
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    *out = int_value((int64_t)c->rng);
    return HDB_OK;
}

static int fn_hex(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                  struct hdb_err *err)
{
    struct hdb_value t = a->v[0];
    int rc = t.type == HDB_V_NULL ? HDB_OK : text_of(c, &a->v[0], &t, err);
    size_t len = t.type == HDB_V_NULL ? 0 : t.u.s.len;
    if (rc != HDB_OK || len * 2 > HDB_VALUE_BYTES_MAX) {
        return rc != HDB_OK ? rc : hdb_err_set(err, HDB_TOOBIG, "string or blob too big");
    }
    char *p = hdb_sql_arena_alloc(c->arena, len * 2 + 1, &rc);
    if (p == NULL) {
        return nomem(err, rc);
    }
    for (size_t i = 0; i < len; i++) {
        snprintf(p + 2 * i, 3, "%02X", t.u.s.p[i]);
    }
    *out = (struct hdb_value){.type = HDB_V_TEXT, .u.s = {(const uint8_t *)p, (uint32_t)len * 2}};
    return HDB_OK;
}

static int fn_instr(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                    struct hdb_err *err)
{
    if (a->v[0].type == HDB_V_NULL || a->v[1].type == HDB_V_NULL) {
        *out = null_value();
        return HDB_OK;
    }
    struct hdb_value h, n;
    int rc = text_of(c, &a->v[0], &h, err);
    rc = rc == HDB_OK ? text_of(c, &a->v[1], &n, err) : rc;
    if (rc != HDB_OK) {
        return rc;
    }
    const uint8_t *hit = n.u.s.len == 0 ? h.u.s.p : memmem(h.u.s.p, h.u.s.len, n.u.s.p, n.u.s.len);
    *out = int_value(hit == NULL ? 0 : (int64_t)utf8_count(h.u.s.p, (size_t)(hit - h.u.s.p)) + 1);
    return HDB_OK;
}

static int min_max(struct fn_args *a, struct hdb_value *out, int sign)
{
    *out = a->v[0];
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->v[i].type == HDB_V_NULL) {
            *out = null_value();
            return HDB_OK;
        }
        if (hdb_value_cmp(&a->v[i], out) * sign > 0) {
            *out = a->v[i];
        }
    }
    return HDB_OK;
}

static int fn_min(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                  struct hdb_err *err)
{
    (void)c;
    (void)err;
    return min_max(a, out, -1);
}

static int fn_max(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                  struct hdb_err *err)
{
    (void)c;
    (void)err;
    return min_max(a, out, 1);
}

typedef int (*dt_fn)(const struct hdb_dt_arg *args, uint32_t n, int64_t now_ms,
                     struct hdb_dt_result *out, struct hdb_err *err);

/* Date and time functions: arguments as text or numbers, the result as a value. */
static int datetime_call(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,
                         struct hdb_err *err, dt_fn fn)
{
    int rc = HDB_OK;
    struct hdb_dt_arg *args = hdb_sql_arena_alloc(c->arena, (a->n + 1) * sizeof *args, &rc);
    struct hdb_dt_result *r = hdb_sql_arena_alloc(c->arena, sizeof *r, &rc);
    if (args == NULL || r == NULL) {
        return nomem(err, rc);
    }
    for (uint32_t i = 0; i < a->n; i++) {
        const struct hdb_value *v = &a->v[i];
        struct hdb_value t;
        switch (v->type) {
        case HDB_V_NULL:
            args[i] = (struct hdb_dt_arg){.type = HDB_DT_NULL};
            break;
        case HDB_V_INT:
            args[i] = (struct hdb_dt_arg){.type = HDB_DT_INT, .i = v->u.i};
            break;
        case HDB_V_REAL:
        case HDB_V_DEC:
            args[i] = (struct hdb_dt_arg){.type = HDB_DT_REAL, .r = as_double(v)};
            break;
        default: {
            rc = text_of(c, v, &t, err);
            if (rc != HDB_OK) {
                return rc;
            }
            args[i] = (struct hdb_dt_arg){
                .type = HDB_DT_TEXT, .s = (const char *)t.u.s.p, .len = t.u.s.len};
        }
        }
    }
    rc = fn(args, a->n, c->now_ms, r, err);
    if (rc != HDB_OK) {
        return rc;
    }
    switch (r->type) {
    case HDB_DT_TEXT:
        *out = (struct hdb_value){.type = HDB_V_TEXT,
                                  .u.s = {(const uint8_t *)r->buf, (uint32_t)r->len}};
        break;
    case HDB_DT_INT:
        *out = int_value(r->i);
        break;
    case HDB_DT_REAL:
        *out = real_value(r->r);
        break;
    default:
        *out = null_value();
    }
    return HDB_OK;
}

#define DATETIME_FN(name)                                                                          \
    static int fn_##name(struct hdb_eval_ctx *c, struct fn_args *a, struct hdb_value *out,         \
                         struct hdb_err *err)                                                      \
    {                                                                                              \
        return datetime_call(c, a, out, err, hdb_dt_##name);                                       \
    }

DATETIME_FN(date)
DATETIME_FN(time)
DATETIME_FN(datetime)
DATETIME_FN(julianday)
DATETIME_FN(unixepoch)
DATETIME_FN(strftime)

struct fn_def {
    const char *name;
    uint32_t min_args, max_args;
    fn_impl impl;
};

static const struct fn_def functions[] = {
    {"abs", 1, 1, fn_abs},
    {"coalesce", 2, EVAL_FUNC_ARGS_MAX, fn_coalesce},
    {"ifnull", 2, 2, fn_coalesce},
    {"iif", 3, 3, fn_iif},
    {"nullif", 2, 2, fn_nullif},
    {"length", 1, 1, fn_length},
    {"lower", 1, 1, fn_lower},
    {"upper", 1, 1, fn_upper},
    {"substr", 2, 3, fn_substr},
    {"substring", 2, 3, fn_substr},
    {"trim", 1, 2, fn_trim},
    {"ltrim", 1, 2, fn_ltrim},
    {"rtrim", 1, 2, fn_rtrim},
    {"replace", 3, 3, fn_replace},
    {"round", 1, 2, fn_round},
    {"typeof", 1, 1, fn_typeof},
    {"random", 0, 0, fn_random},
    {"hex", 1, 1, fn_hex},
    {"instr", 2, 2, fn_instr},
    {"printf", 1, EVAL_FUNC_ARGS_MAX, fn_printf},
    {"format", 1, EVAL_FUNC_ARGS_MAX, fn_printf},
    {"min", 2, EVAL_FUNC_ARGS_MAX, fn_min},
    {"max", 2, EVAL_FUNC_ARGS_MAX, fn_max},
    {"date", 0, EVAL_FUNC_ARGS_MAX, fn_date},
    {"time", 0, EVAL_FUNC_ARGS_MAX, fn_time},
    {"datetime", 0, EVAL_FUNC_ARGS_MAX, fn_datetime},
    {"julianday", 0, EVAL_FUNC_ARGS_MAX, fn_julianday},
    {"unixepoch", 0, EVAL_FUNC_ARGS_MAX, fn_unixepoch},
    {"strftime", 1, EVAL_FUNC_ARGS_MAX, fn_strftime},
};

static const char *const aggregates[] = {"count", "sum", "total",       "avg",
                                         "min",   "max", "group_concat"};

static int eval_function(struct hdb_eval_ctx *c, const struct hdb_sql_expr *e,
                         struct hdb_value *out, struct hdb_err *err)
{
    const char *name = e->u.function.name.ptr;
    uint32_t n = e->u.function.args.n;
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
        const struct fn_def *f = &functions[i];
        if (strcasecmp(f->name, name) != 0 || n < f->min_args || n > f->max_args ||
            e->u.function.star || e->u.function.distinct) {
            continue;
        }
        struct fn_args *a = NULL;
        int rc = HDB_OK;
        uint32_t slots = n + 3 < EVAL_FUNC_ARGS_MAX ? n + 3 : EVAL_FUNC_ARGS_MAX;
        a = hdb_sql_arena_alloc(c->arena, sizeof *a + slots * sizeof a->v[0], &rc);
        if (a == NULL) {
            return nomem(err, rc);
        }
        a->n = n;
        for (uint32_t k = 0; k < n && rc == HDB_OK; k++) {
            rc = hdb_eval(c, e->u.function.args.items[k], &a->v[k], err);
        }
        return rc == HDB_OK ? f->impl(c, a, out, err) : rc;
    }
    for (size_t i = 0; i < sizeof aggregates / sizeof aggregates[0]; i++) {
        if (strcasecmp(aggregates[i], name) == 0) {
            return hdb_err_set(err, HDB_INVALID, "misuse of aggregate function %s()", name);
        }
    }
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
        if (strcasecmp(functions[i].name, name) == 0) {
            return hdb_err_set(err, HDB_INVALID, "wrong number of arguments to function %s()",
                               name);
        }
    }
    return hdb_err_set(err, HDB_INVALID, "no such function: %s", name);
}
