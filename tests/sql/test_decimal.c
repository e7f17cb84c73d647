/*
 * test_decimal.c — exact fixed-point arithmetic for DECIMAL(p,s): parsing
 * and formatting, exact + - * / and their overflow errors, rounding half
 * away from zero, fitting into a column's precision and scale, comparison
 * across scales, and a ledger whose sums stay exact.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sql/decimal.h"

static struct hdb_dec dec(const char *text)
{
    struct hdb_dec d;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_dec_parse(text, strlen(text), &d, &err), HDB_OK, "%s: %s", text, err.msg);
    return d;
}

static void expect(const struct hdb_dec *d, const char *want)
{
    char buf[HDB_DEC_TEXT_MAX];
    hdb_dec_format(d, buf);
    cr_assert_str_eq(buf, want);
}

typedef int (*dec_op)(const struct hdb_dec *, const struct hdb_dec *, struct hdb_dec *,
                      struct hdb_err *);

static void op_is(dec_op op, const char *a, const char *b, const char *want)
{
    struct hdb_dec x = dec(a), y = dec(b), r;
    struct hdb_err err = {0};
    cr_assert_eq(op(&x, &y, &r, &err), HDB_OK, "%s op %s: %s", a, b, err.msg);
    expect(&r, want);
}

static void op_fails(dec_op op, const char *a, const char *b, int code)
{
    struct hdb_dec x = dec(a), y = dec(b), r;
    struct hdb_err err = {0};
    cr_assert_eq(op(&x, &y, &r, &err), code, "%s op %s", a, b);
    cr_assert_gt(strlen(err.msg), 0);
}

Test(decimal, parses_and_formats_with_its_scale)
{
    struct hdb_dec d = dec("123.450");
    cr_assert_eq(d.scale, 3);
    expect(&d, "123.450");
    expect((d = dec("-0.05"), &d), "-0.05");
    expect((d = dec("+7"), &d), "7");
    expect((d = dec(" 42 "), &d), "42");
    expect((d = dec("1.5e3"), &d), "1500");
    expect((d = dec("12e-4"), &d), "0.0012");
    expect((d = dec(".5"), &d), "0.5");
    expect((d = dec("00012.3400"), &d), "12.3400");
    expect((d = dec("99999999999999999999999999999999999999"), &d),
           "99999999999999999999999999999999999999");
    expect((d = dec("-0.00000000000000000000000000000000000001"), &d),
           "-0.00000000000000000000000000000000000001");
}

Test(decimal, rejects_what_is_not_a_number_or_too_long)
{
    const char *bad[] = {"", "-", "abc", "1.2.3", "1e", "1e+", "12a", ". ", "--1", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hdb_dec d;
        struct hdb_err err = {0};
        cr_assert_eq(hdb_dec_parse(bad[i], strlen(bad[i]), &d, &err), HDB_INVALID, "\"%s\"",
                     bad[i]);
    }
    struct hdb_dec d;
    struct hdb_err err = {0};
    const char *long39 = "123456789012345678901234567890123456789";
    cr_assert_eq(hdb_dec_parse(long39, strlen(long39), &d, &err), HDB_TOOBIG);
    cr_assert_eq(hdb_dec_parse("1e38", 4, &d, &err), HDB_TOOBIG);
}

Test(decimal, addition_and_subtraction_are_exact_across_scales)
{
    op_is(hdb_dec_add, "0.1", "0.2", "0.3");
    op_is(hdb_dec_add, "10.25", "-0.255", "9.995");
    op_is(hdb_dec_sub, "1", "0.001", "0.999");
    op_is(hdb_dec_sub, "-5.5", "-5.5", "0.0");
    op_is(hdb_dec_add, "99999999999999999999999999999999999998", "1",
          "99999999999999999999999999999999999999");
    op_fails(hdb_dec_add, "99999999999999999999999999999999999999", "1", HDB_TOOBIG);
    op_fails(hdb_dec_sub, "-99999999999999999999999999999999999999", "1", HDB_TOOBIG);
    /* aligning scales can itself overflow */
    op_is(hdb_dec_add, "9999999999999999999999999999999999999", "0.1",
          "9999999999999999999999999999999999999.1");
    op_fails(hdb_dec_add, "99999999999999999999999999999999999999", "0.1", HDB_TOOBIG);
}

Test(decimal, multiplication_is_exact_or_an_error)
{
    op_is(hdb_dec_mul, "1.10", "1.10", "1.2100");
    op_is(hdb_dec_mul, "-3", "0.333", "-0.999");
    op_is(hdb_dec_mul, "0", "-5.5", "0.0");
    op_is(hdb_dec_mul, "9999999999999999999", "9999999999999999999",
          "99999999999999999980000000000000000001");
    op_fails(hdb_dec_mul, "10000000000000000000", "10000000000000000000", HDB_TOOBIG);
    /* more than 38 fraction digits: kept at 38, rounded half away from zero */
    op_is(hdb_dec_mul, "0.0000000000000000000000000000000000005", "0.5",
          "0.00000000000000000000000000000000000025");
    op_is(hdb_dec_mul, "0.00000000000000000000000000000000000005", "0.5",
          "0.00000000000000000000000000000000000003");
    op_is(hdb_dec_mul, "-0.00000000000000000000000000000000000005", "0.5",
          "-0.00000000000000000000000000000000000003");
}

Test(decimal, division_keeps_six_more_digits_and_rounds_half_away)
{
    op_is(hdb_dec_div, "1", "3", "0.333333");
    op_is(hdb_dec_div, "2", "3", "0.666667");
    op_is(hdb_dec_div, "-2", "3", "-0.666667");
    op_is(hdb_dec_div, "10.00", "4", "2.50000000");
    op_is(hdb_dec_div, "1", "0.001", "1000.000000000");
    op_is(hdb_dec_div, "100", "7", "14.285714");
    op_fails(hdb_dec_div, "1", "0", HDB_INVALID);
    op_fails(hdb_dec_div, "0.0", "0.00", HDB_INVALID);
    /* a large quotient gives up fraction digits before it overflows */
    op_is(hdb_dec_div, "99999999999999999999999999999999999999", "1",
          "99999999999999999999999999999999999999");
    op_fails(hdb_dec_div, "99999999999999999999999999999999999999", "0.1", HDB_TOOBIG);
}

Test(decimal, rounding_is_half_away_from_zero)
{
    struct hdb_dec r;
    struct hdb_err err = {0};
    struct hdb_dec d = dec("2.345");
    cr_assert_eq(hdb_dec_round(&d, 2, &r, &err), HDB_OK);
    expect(&r, "2.35");
    d = dec("-2.345");
    hdb_dec_round(&d, 2, &r, &err);
    expect(&r, "-2.35");
    d = dec("2.344");
    hdb_dec_round(&d, 2, &r, &err);
    expect(&r, "2.34");
    d = dec("1250");
    hdb_dec_round(&d, -2, &r, &err);
    expect(&r, "1300");
    d = dec("0.4");
    hdb_dec_round(&d, 0, &r, &err);
    expect(&r, "0");
    d = dec("-0.5");
    hdb_dec_round(&d, 0, &r, &err);
    expect(&r, "-1");
    d = dec("7.1");
    hdb_dec_round(&d, 3, &r, &err);
    expect(&r, "7.1");
}

Test(decimal, fitting_a_column_rounds_the_scale_and_refuses_overflow)
{
    struct hdb_dec r;
    struct hdb_err err = {0};
    struct hdb_dec d = dec("12.345");
    cr_assert_eq(hdb_dec_fit(&d, 10, 2, &r, &err), HDB_OK);
    expect(&r, "12.35");
    d = dec("5");
    cr_assert_eq(hdb_dec_fit(&d, 10, 2, &r, &err), HDB_OK);
    expect(&r, "5.00");
    d = dec("99999999.995");
    cr_assert_eq(hdb_dec_fit(&d, 10, 2, &r, &err), HDB_TOOBIG, "rounds up to 11 digits");
    cr_assert(strstr(err.msg, "DECIMAL(10,2)") != NULL, "%s", err.msg);
    d = dec("123456789.1");
    cr_assert_eq(hdb_dec_fit(&d, 10, 2, &r, &err), HDB_TOOBIG);
    cr_assert_eq(hdb_dec_fit(&d, 39, 2, &r, &err), HDB_INVALID);
    cr_assert_eq(hdb_dec_fit(&d, 5, 6, &r, &err), HDB_INVALID);
    d = dec("-0.004");
    cr_assert_eq(hdb_dec_fit(&d, 5, 2, &r, &err), HDB_OK);
    expect(&r, "0.00");
}

Test(decimal, comparison_is_exact_across_scales)
{
    struct hdb_dec a = dec("1.50"), b = dec("1.5"), c = dec("1.500001"), n = dec("-2");
    cr_assert_eq(hdb_dec_cmp(&a, &b), 0);
    cr_assert_eq(hdb_dec_cmp(&a, &c), -1);
    cr_assert_eq(hdb_dec_cmp(&c, &a), 1);
    cr_assert_eq(hdb_dec_cmp(&n, &a), -1);
    struct hdb_dec big = dec("99999999999999999999999999999999999999");
    struct hdb_dec tiny = dec("0.00000000000000000000000000000000000001");
    cr_assert_eq(hdb_dec_cmp(&big, &tiny), 1);
    struct hdb_dec nb = dec("-3.1"), nc = dec("-3.01");
    cr_assert_eq(hdb_dec_cmp(&nb, &nc), -1);
}

Test(decimal, conversions_to_and_from_integers_and_doubles)
{
    struct hdb_dec d;
    struct hdb_err err = {0};
    hdb_dec_from_i64(INT64_MIN, &d);
    expect(&d, "-9223372036854775808");
    int64_t v = 0;
    cr_assert_eq(hdb_dec_to_i64(&d, &v, &err), HDB_OK);
    cr_assert_eq(v, INT64_MIN);
    d = dec("-12.99");
    cr_assert_eq(hdb_dec_to_i64(&d, &v, &err), HDB_OK);
    cr_assert_eq(v, -12, "truncates toward zero");
    d = dec("9223372036854775808");
    cr_assert_eq(hdb_dec_to_i64(&d, &v, &err), HDB_TOOBIG);
    cr_assert_eq(hdb_dec_from_double(0.1, &d, &err), HDB_OK);
    cr_assert_eq(hdb_dec_to_double(&d), 0.1);
    cr_assert_eq(hdb_dec_from_double(1.0 / 0.0, &d, &err), HDB_INVALID);
}

/* A million cents summed stay exactly ten thousand; the same in double drifts. */
Test(decimal, ledger_sum_stays_exact)
{
    struct hdb_dec sum, cent = dec("0.01"), r;
    struct hdb_err err = {0};
    hdb_dec_from_i64(0, &sum);
    double fsum = 0;
    for (int i = 0; i < 1000000; i++) {
        cr_assert_eq(hdb_dec_add(&sum, &cent, &r, &err), HDB_OK);
        sum = r;
        fsum += 0.01;
    }
    expect(&sum, "10000.00");
    cr_assert_neq(fsum, 10000.0, "the binary sum is not exact (which is why DECIMAL exists)");
    /* debits and credits of odd amounts balance to zero */
    struct hdb_dec bal;
    hdb_dec_from_i64(0, &bal);
    const char *moves[] = {"1999.99", "-0.01", "-1999.98", "0.33", "-0.11", "-0.22"};
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
        struct hdb_dec m = dec(moves[i]);
        cr_assert_eq(hdb_dec_add(&bal, &m, &r, &err), HDB_OK);
        bal = r;
    }
    cr_assert(hdb_dec_is_zero(&bal));
}

struct dec_case {
    const char *op, *a, *b, *want;
};

#include "tests/sql/decimal_cases.inc"

/* 400 random cases checked against Python's decimal module with the same scale rules. */
Test(decimal, random_cases_match_a_reference)
{
    for (size_t i = 0; i < sizeof DEC_CASES / sizeof DEC_CASES[0]; i++) {
        const struct dec_case *c = &DEC_CASES[i];
        dec_op op = strcmp(c->op, "add") == 0   ? hdb_dec_add
                    : strcmp(c->op, "sub") == 0 ? hdb_dec_sub
                    : strcmp(c->op, "mul") == 0 ? hdb_dec_mul
                                                : hdb_dec_div;
        struct hdb_dec x = dec(c->a), y = dec(c->b), r;
        struct hdb_err err = {0};
        cr_assert_eq(op(&x, &y, &r, &err), HDB_OK, "%s %s %s: %s", c->a, c->op, c->b, err.msg);
        char buf[HDB_DEC_TEXT_MAX];
        hdb_dec_format(&r, buf);
        cr_assert_str_eq(buf, c->want, "%s %s %s", c->a, c->op, c->b);
    }
}
