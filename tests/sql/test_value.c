/*
 * test_value.c — SQL values: SQLite's comparison order across types, the key
 * encoding whose byte order is that comparison (ascending, descending and
 * composite, checked on thousands of random values of every type), row
 * records (round trip; every truncation and bad type byte is HDB_CORRUPT),
 * and type affinity (SQLite's documented examples).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sql/value.h"
#include "tests/core/testutil.h"

static struct hdb_value vint(int64_t i)
{
    return (struct hdb_value){.type = HDB_V_INT, .u.i = i};
}
static struct hdb_value vreal(double r)
{
    return (struct hdb_value){.type = HDB_V_REAL, .u.r = r};
}
static struct hdb_value vtext(const char *s)
{
    return (struct hdb_value){.type = HDB_V_TEXT, .u.s = {(const uint8_t *)s, (uint32_t)strlen(s)}};
}
static struct hdb_value vdec(const char *s)
{
    struct hdb_value v = {.type = HDB_V_DEC};
    struct hdb_err err;
    cr_assert_eq(hdb_dec_parse(s, strlen(s), &v.u.d, &err), HDB_OK);
    return v;
}

static int key_cmp(const struct hdb_value *a, const struct hdb_value *b, bool desc)
{
    struct hdb_buf ka = {0}, kb = {0};
    struct hdb_err err;
    cr_assert_eq(hdb_key_append(&ka, a, desc, &err), HDB_OK);
    cr_assert_eq(hdb_key_append(&kb, b, desc, &err), HDB_OK);
    size_t n = ka.len < kb.len ? ka.len : kb.len;
    int c = memcmp(ka.data, kb.data, n);
    c = c != 0 ? (c < 0 ? -1 : 1) : ka.len == kb.len ? 0 : (ka.len < kb.len ? -1 : 1);
    free(ka.data);
    free(kb.data);
    return c;
}

Test(value, comparison_follows_sqlite_across_types)
{
    struct hdb_value null = {.type = HDB_V_NULL};
    struct hdb_value order[] = {null,        vint(-5),   vreal(-4.5), vdec("-0.01"), vint(0),
                                vdec("0.5"), vint(1),    vreal(1.25), vint(2),       vtext(""),
                                vtext("A"),  vtext("a"), vtext("ab")};
    size_t n = sizeof order / sizeof order[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int want = i < j ? -1 : i > j ? 1 : 0;
            cr_assert_eq(hdb_value_cmp(&order[i], &order[j]), want, "%zu vs %zu", i, j);
        }
    }
    struct hdb_value one = vint(1), onef = vreal(1.0), oned = vdec("1.00");
    cr_assert_eq(hdb_value_cmp(&one, &onef), 0);
    cr_assert_eq(hdb_value_cmp(&one, &oned), 0);
    cr_assert_eq(key_cmp(&one, &onef, false), 0, "1 and 1.0 are one key");
    cr_assert_eq(key_cmp(&onef, &oned, false), 0);
    /* beyond 2^53 an integer and the nearest double differ */
    struct hdb_value big = vint(9007199254740993), bigf = vreal(9007199254740992.0);
    cr_assert_eq(hdb_value_cmp(&big, &bigf), 1);
    cr_assert_eq(key_cmp(&big, &bigf, false), 1);
    struct hdb_value blob = {.type = HDB_V_BLOB, .u.s = {(const uint8_t *)"", 0}};
    struct hdb_value zz = vtext("zz");
    cr_assert_eq(hdb_value_cmp(&zz, &blob), -1, "TEXT sorts before BLOB");
}

/* A random value of any type, biased to collide often. */
static struct hdb_value random_value(struct tu_rng *r, uint8_t *store)
{
    switch (tu_rng_below(r, 7)) {
    case 0:
        return (struct hdb_value){.type = HDB_V_NULL};
    case 1: {
        static const int64_t edge[] = {0, 1, -1, INT64_MAX, INT64_MIN, 100, -100, 1000000007};
        return vint(tu_rng_below(r, 2) ? edge[tu_rng_below(r, 8)]
                                       : (int64_t)tu_rng_below(r, 2001) - 1000);
    }
    case 2: {
        static const double edge[] = {0.0, -0.0, 0.5, -0.5, 1e300, -1e-300, 1.0 / 0.0, -1.0 / 0.0};
        return vreal(tu_rng_below(r, 2) ? edge[tu_rng_below(r, 8)]
                                        : ((double)tu_rng_below(r, 20001) - 10000) / 7.0);
    }
    case 3: {
        struct hdb_value v = {.type = HDB_V_DEC};
        v.u.d.coef = (hdb_i128)tu_rng_below(r, 200001) - 100000;
        v.u.d.scale = (uint8_t)tu_rng_below(r, 4);
        return v;
    }
    default: {
        uint32_t len = (uint32_t)tu_rng_below(r, 5);
        for (uint32_t i = 0; i < len; i++) {
            store[i] = (uint8_t) "\x00\x01"
                                 "ab\xff"[tu_rng_below(r, 5)];
        }
        return (struct hdb_value){.type = tu_rng_below(r, 3) == 0 ? HDB_V_BLOB : HDB_V_TEXT,
                                  .u.s = {store, len}};
    }
    }
}

Test(value, key_bytes_order_as_the_values_compare)
{
    struct tu_rng r;
    tu_rng_seed(&r, 42);
    uint8_t sa[8], sb[8];
    for (int i = 0; i < 20000; i++) {
        struct hdb_value a = random_value(&r, sa), b = random_value(&r, sb);
        int want = hdb_value_cmp(&a, &b);
        cr_assert_eq(key_cmp(&a, &b, false), want, "round %d (types %d, %d)", i, a.type, b.type);
        cr_assert_eq(key_cmp(&a, &b, true), -want, "descending, round %d", i);
        cr_assert_eq(hdb_value_cmp(&b, &a), -want, "antisymmetric, round %d", i);
    }
}

/* (a ASC, b DESC) keys order like the tuples do. */
Test(value, composite_keys_order_column_by_column)
{
    struct tu_rng r;
    tu_rng_seed(&r, 7);
    uint8_t s[4][8];
    for (int i = 0; i < 5000; i++) {
        struct hdb_value a1 = random_value(&r, s[0]), b1 = random_value(&r, s[1]);
        struct hdb_value a2 = random_value(&r, s[2]), b2 = random_value(&r, s[3]);
        int want = hdb_value_cmp(&a1, &a2);
        want = want != 0 ? want : -hdb_value_cmp(&b1, &b2);
        struct hdb_buf k1 = {0}, k2 = {0};
        struct hdb_err err;
        cr_assert_eq(hdb_key_append(&k1, &a1, false, &err), HDB_OK);
        cr_assert_eq(hdb_key_append(&k1, &b1, true, &err), HDB_OK);
        cr_assert_eq(hdb_key_append(&k2, &a2, false, &err), HDB_OK);
        cr_assert_eq(hdb_key_append(&k2, &b2, true, &err), HDB_OK);
        size_t n = k1.len < k2.len ? k1.len : k2.len;
        int c = memcmp(k1.data, k2.data, n);
        c = c != 0 ? (c < 0 ? -1 : 1) : k1.len == k2.len ? 0 : (k1.len < k2.len ? -1 : 1);
        cr_assert_eq(c, want, "round %d", i);
        free(k1.data);
        free(k2.data);
    }
}

Test(value, row_records_round_trip_and_damage_is_reported)
{
    struct hdb_value in[] = {
        {.type = HDB_V_NULL}, vint(-7),
        vreal(2.5),           vtext("héllo"),
        vdec("-12.340"),      {.type = HDB_V_BLOB, .u.s = {(const uint8_t *)"\0\1\2", 3}}};
    uint32_t n = sizeof in / sizeof in[0];
    struct hdb_buf rec = {0};
    struct hdb_err err;
    cr_assert_eq(hdb_row_encode(&rec, in, n, &err), HDB_OK);
    struct hdb_value out[8];
    uint32_t got = 0;
    cr_assert_eq(hdb_row_decode(rec.data, rec.len, out, 8, &got, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(got, n);
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_eq(out[i].type, in[i].type);
        cr_assert_eq(hdb_value_cmp(&out[i], &in[i]), 0, "value %u", i);
    }
    cr_assert_eq(out[4].u.d.scale, 3, "the scale is kept");
    for (size_t cut = 0; cut < rec.len; cut++) {
        cr_assert_eq(hdb_row_decode(rec.data, cut, out, 8, &got, &err), HDB_CORRUPT, "cut %zu",
                     cut);
    }
    uint8_t save = rec.data[2];
    rec.data[2] = 99; /* no such type */
    cr_assert_eq(hdb_row_decode(rec.data, rec.len, out, 8, &got, &err), HDB_CORRUPT);
    rec.data[2] = save;
    cr_assert_eq(hdb_row_decode(rec.data, rec.len, out, 3, &got, &err), HDB_CORRUPT,
                 "more values than the caller allows");
    free(rec.data);
}

Test(value, affinity_from_declared_types_as_sqlite_documents)
{
    struct {
        const char *type;
        enum hdb_affinity aff;
    } cases[] = {
        {"INT", HDB_AFF_INTEGER},
        {"INTEGER", HDB_AFF_INTEGER},
        {"TINYINT", HDB_AFF_INTEGER},
        {"UNSIGNED BIG INT", HDB_AFF_INTEGER},
        {"INT8", HDB_AFF_INTEGER},
        {"CHARACTER(20)", HDB_AFF_TEXT},
        {"VARCHAR(255)", HDB_AFF_TEXT},
        {"NATIVE CHARACTER(70)", HDB_AFF_TEXT},
        {"NVARCHAR(100)", HDB_AFF_TEXT},
        {"TEXT", HDB_AFF_TEXT},
        {"CLOB", HDB_AFF_TEXT},
        {"BLOB", HDB_AFF_BLOB},
        {"", HDB_AFF_BLOB},
        {"REAL", HDB_AFF_REAL},
        {"DOUBLE", HDB_AFF_REAL},
        {"DOUBLE PRECISION", HDB_AFF_REAL},
        {"FLOAT", HDB_AFF_REAL},
        {"NUMERIC", HDB_AFF_NUMERIC},
        {"DECIMAL(10,5)", HDB_AFF_NUMERIC},
        {"BOOLEAN", HDB_AFF_NUMERIC},
        {"DATE", HDB_AFF_NUMERIC},
        {"DATETIME", HDB_AFF_NUMERIC},
        {"FLOATING POINT", HDB_AFF_INTEGER}, /* "INT" wins, as in SQLite */
        {"string", HDB_AFF_NUMERIC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(hdb_affinity_of(cases[i].type, strlen(cases[i].type)), cases[i].aff, "%s",
                     cases[i].type);
    }
}

Test(value, affinity_converts_what_a_column_stores)
{
    char buf[32];
    struct hdb_value v = vtext(" 42 ");
    hdb_value_apply(&v, HDB_AFF_NUMERIC, buf);
    cr_assert(v.type == HDB_V_INT && v.u.i == 42);
    v = vtext("3.5");
    hdb_value_apply(&v, HDB_AFF_INTEGER, buf);
    cr_assert(v.type == HDB_V_REAL && v.u.r == 3.5);
    v = vtext("3.0e+5");
    hdb_value_apply(&v, HDB_AFF_NUMERIC, buf);
    cr_assert(v.type == HDB_V_INT && v.u.i == 300000);
    v = vtext("9223372036854775808");
    hdb_value_apply(&v, HDB_AFF_INTEGER, buf);
    cr_assert_eq(v.type, HDB_V_REAL, "too big for an integer");
    v = vtext("12abc");
    hdb_value_apply(&v, HDB_AFF_NUMERIC, buf);
    cr_assert_eq(v.type, HDB_V_TEXT);
    v = vint(3);
    hdb_value_apply(&v, HDB_AFF_REAL, buf);
    cr_assert(v.type == HDB_V_REAL && v.u.r == 3.0);
    v = vreal(7.0);
    hdb_value_apply(&v, HDB_AFF_NUMERIC, buf);
    cr_assert(v.type == HDB_V_INT && v.u.i == 7);
    v = vint(-15);
    hdb_value_apply(&v, HDB_AFF_TEXT, buf);
    cr_assert(v.type == HDB_V_TEXT && v.u.s.len == 3 && memcmp(v.u.s.p, "-15", 3) == 0);
    v = vreal(0.1);
    hdb_value_apply(&v, HDB_AFF_TEXT, buf);
    cr_assert(v.type == HDB_V_TEXT && v.u.s.len == 3 && memcmp(v.u.s.p, "0.1", 3) == 0);
    v = vtext("x");
    hdb_value_apply(&v, HDB_AFF_BLOB, buf);
    cr_assert_eq(v.type, HDB_V_TEXT, "no affinity: stored as given");
}
