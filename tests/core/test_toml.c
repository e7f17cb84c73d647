/*
 * test_toml.c — the strict TOML parser: every value kind, escapes to UTF-8,
 * the table rules, each error kind with its line (and column) checked in the
 * message, the limits (depth, size, counts), and a fuzz-ish loop over
 * truncated and mutated copies of the example configuration files that must
 * end in HDB_OK or HDB_INVALID and never crash (the ASan build checks memory).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/toml.h"
#include "tests/core/testutil.h"

#include "tests/core/config_fixtures.h"

static struct hdb_toml_doc *parse_ok(const char *text)
{
    struct hdb_toml_doc *doc = NULL;
    struct hdb_err err = {0};
    int rc = hdb_toml_parse("t.toml", text, strlen(text), &doc, &err);
    cr_assert_eq(rc, HDB_OK, "parse failed: %s\n---\n%s", err.msg, text);
    cr_assert_not_null(doc);
    return doc;
}

/* Parses `len` bytes expecting HDB_INVALID with `want` in the message. */
static void parse_fails_n(const char *text, size_t len, const char *want)
{
    struct hdb_toml_doc *doc = (struct hdb_toml_doc *)1;
    struct hdb_err err = {0};
    int rc = hdb_toml_parse("t.toml", text, len, &doc, &err);
    cr_assert_eq(rc, HDB_INVALID, "expected HDB_INVALID, got %d for:\n%s", rc, text);
    cr_assert_null(doc, "no document on failure");
    cr_assert(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
}

static void parse_fails(const char *text, const char *want)
{
    parse_fails_n(text, strlen(text), want);
}

static const struct hdb_toml_value *get(const struct hdb_toml_doc *doc, const char *path,
                                        enum hdb_toml_type type)
{
    const struct hdb_toml_value *v = hdb_toml_get_path(hdb_toml_root(doc), path);
    cr_assert_not_null(v, "%s missing", path);
    cr_assert_eq(v->type, type, "%s is a %s", path, hdb_toml_type_name(v->type));
    return v;
}

static int64_t get_int(const struct hdb_toml_doc *doc, const char *path)
{
    return get(doc, path, HDB_TOML_INT)->as.integer;
}

static double get_float(const struct hdb_toml_doc *doc, const char *path)
{
    return get(doc, path, HDB_TOML_FLOAT)->as.real;
}

static const char *get_str(const struct hdb_toml_doc *doc, const char *path)
{
    return get(doc, path, HDB_TOML_STRING)->as.string.bytes;
}

/* ---- value kinds ------------------------------------------------------------------------ */

Test(toml, parses_every_value_kind_with_its_line)
{
    struct hdb_toml_doc *doc = parse_ok("# comment\n"
                                        "s = \"text\"\n"
                                        "i = 42\n"
                                        "f = 2.5\n"
                                        "b = true\n"
                                        "a = [1, 2]\n"
                                        "t = { x = 1 }\n"
                                        "[sec]\n"
                                        "k = false\n");
    cr_assert_str_eq(get_str(doc, "s"), "text");
    cr_assert_eq(get_int(doc, "i"), 42);
    cr_assert_float_eq(get_float(doc, "f"), 2.5, 1e-12);
    cr_assert_eq(get(doc, "b", HDB_TOML_BOOL)->as.boolean, true);
    cr_assert_eq(get(doc, "a", HDB_TOML_ARRAY)->as.array.count, 2);
    cr_assert_eq(get_int(doc, "t.x"), 1);
    cr_assert_eq(get(doc, "sec.k", HDB_TOML_BOOL)->as.boolean, false);
    cr_assert_eq(get(doc, "s", HDB_TOML_STRING)->line, 2);
    cr_assert_eq(get(doc, "sec", HDB_TOML_TABLE)->line, 8);
    cr_assert_eq(get(doc, "sec.k", HDB_TOML_BOOL)->line, 9);
    hdb_toml_free(doc);
}

Test(toml, integers_accept_signs_underscores_and_prefixes)
{
    struct hdb_toml_doc *doc = parse_ok("a = +99\nb = -17\nc = 0\nd = 1_000_000\n"
                                        "e = 0xDEAD_beef\nf = 0o755\ng = 0b1101\n"
                                        "h = 9223372036854775807\ni = -9223372036854775808\n"
                                        "j = -0\n");
    cr_assert_eq(get_int(doc, "a"), 99);
    cr_assert_eq(get_int(doc, "b"), -17);
    cr_assert_eq(get_int(doc, "c"), 0);
    cr_assert_eq(get_int(doc, "d"), 1000000);
    cr_assert_eq(get_int(doc, "e"), 0xDEADBEEF);
    cr_assert_eq(get_int(doc, "f"), 0755);
    cr_assert_eq(get_int(doc, "g"), 13);
    cr_assert_eq(get_int(doc, "h"), INT64_MAX);
    cr_assert_eq(get_int(doc, "i"), INT64_MIN);
    cr_assert_eq(get_int(doc, "j"), 0);
    hdb_toml_free(doc);
}

Test(toml, rejects_int64_overflow)
{
    parse_fails("x = 9223372036854775808\n", "t.toml:1:5: key \"x\": integer");
    parse_fails("x = -9223372036854775809\n", "does not fit in 64 bits");
    parse_fails("x = 0x8000000000000000\n", "does not fit in 64 bits");
    parse_fails("x = 99999999999999999999999\n", "does not fit in 64 bits");
}

Test(toml, rejects_malformed_integers)
{
    parse_fails("x = 012\n", "leading zeros");
    parse_fails("x = 1__2\n", "invalid integer");
    parse_fails("x = 1_\n", "invalid integer");
    parse_fails("x = _1\n", "expected a value, found '_'");
    parse_fails("x = -0x10\n", "cannot have a sign");
    parse_fails("x = 0x\n", "invalid integer");
    parse_fails("x = 0b102\n", "invalid integer");
    parse_fails("x = 0o8\n", "invalid integer");
    parse_fails("x = 1979-05-27\n", "dates and times are not supported");
    parse_fails("x = 07:32:00\n", "dates and times are not supported");
}

Test(toml, floats_accept_fraction_exponent_inf_and_nan)
{
    struct hdb_toml_doc *doc = parse_ok("a = 3.1415\nb = -0.01\nc = 5e+22\nd = 1e06\n"
                                        "e = -2E-2\nf = 6.626e-34\ng = 224_617.445_991\n"
                                        "h = inf\ni = -inf\nj = nan\nk = +nan\nl = 0.0\n");
    cr_assert_float_eq(get_float(doc, "a"), 3.1415, 1e-12);
    cr_assert_float_eq(get_float(doc, "b"), -0.01, 1e-12);
    cr_assert_float_eq(get_float(doc, "c"), 5e22, 1e9);
    cr_assert_float_eq(get_float(doc, "d"), 1e6, 1e-6);
    cr_assert_float_eq(get_float(doc, "e"), -0.02, 1e-12);
    cr_assert_float_eq(get_float(doc, "f"), 6.626e-34, 1e-40);
    cr_assert_float_eq(get_float(doc, "g"), 224617.445991, 1e-6);
    cr_assert(isinf(get_float(doc, "h")) && get_float(doc, "h") > 0);
    cr_assert(isinf(get_float(doc, "i")) && get_float(doc, "i") < 0);
    cr_assert(isnan(get_float(doc, "j")));
    cr_assert(isnan(get_float(doc, "k")));
    cr_assert_float_eq(get_float(doc, "l"), 0.0, 0);
    hdb_toml_free(doc);
}

Test(toml, rejects_malformed_floats)
{
    parse_fails("x = 1.\n", "invalid number");
    parse_fails("x = .5\n", "expected a value, found '.'");
    parse_fails("x = 1e\n", "invalid number");
    parse_fails("x = 01.5\n", "invalid number");
    parse_fails("x = 1.e5\n", "invalid number");
    parse_fails("x = 1._5\n", "invalid number");
    parse_fails("x = 1e999\n", "out of range");
    parse_fails("x = infinity\n", "invalid value");
    parse_fails("x = NaN\n", "expected a value");
}

Test(toml, booleans_are_lower_case_words)
{
    struct hdb_toml_doc *doc = parse_ok("t = true\nf = false\n");
    cr_assert(get(doc, "t", HDB_TOML_BOOL)->as.boolean);
    cr_assert(!get(doc, "f", HDB_TOML_BOOL)->as.boolean);
    hdb_toml_free(doc);
    parse_fails("x = True\n", "expected a value");
    parse_fails("x = truely\n", "invalid value");
    parse_fails("x = yes\n", "expected a value");
}

/* ---- strings ---------------------------------------------------------------------------- */

Test(toml, basic_string_escapes_become_bytes_and_utf8)
{
    struct hdb_toml_doc *doc = parse_ok("a = \"\\b\\t\\n\\f\\r\\\"\\\\\"\n"
                                        "b = \"caf\\u00E9\"\n"
                                        "c = \"\\U0001F600\"\n"
                                        "d = \"\\u20AC \\u0041\"\n"
                                        "e = \"x\\u0000y\"\n"
                                        "f = \"tab\there\"\n"
                                        "g = \"\xC3\xA9t\xC3\xA9\"\n");
    cr_assert_str_eq(get_str(doc, "a"), "\b\t\n\f\r\"\\");
    cr_assert_str_eq(get_str(doc, "b"), "caf\xC3\xA9");
    cr_assert_str_eq(get_str(doc, "c"), "\xF0\x9F\x98\x80");
    cr_assert_str_eq(get_str(doc, "d"), "\xE2\x82\xAC A");
    const struct hdb_toml_value *e = get(doc, "e", HDB_TOML_STRING);
    cr_assert_eq(e->as.string.len, 3);
    cr_assert(memcmp(e->as.string.bytes, "x\0y", 3) == 0);
    cr_assert_str_eq(get_str(doc, "f"), "tab\there");
    cr_assert_str_eq(get_str(doc, "g"), "\xC3\xA9t\xC3\xA9");
    hdb_toml_free(doc);
}

Test(toml, rejects_invalid_escapes_and_control_characters)
{
    parse_fails("\nx = \"a\\xb\"\n", "t.toml:2:7: key \"x\": invalid escape");
    parse_fails("x = \"\\e\"\n", "invalid escape");
    parse_fails("x = \"\\uD800\"\n", "not a Unicode scalar value");
    parse_fails("x = \"\\U00110000\"\n", "not a Unicode scalar value");
    parse_fails("x = \"\\u12\"\n", "needs 4 hex digits");
    parse_fails("x = \"\\U1234567\"\n", "needs 8 hex digits");
    parse_fails("x = \"a\x01"
                "b\"\n",
                "control character U+0001");
    parse_fails("x = \"a\x7F\"\n", "control character U+007F");
    parse_fails("x = 'a\x1F"
                "b'\n",
                "control character U+001F");
    parse_fails("x = \"\"\"a\x02\"\"\"\n", "control character U+0002");
    parse_fails("x = \"ok\\ \"\n", "invalid escape");
}

Test(toml, literal_and_multiline_strings)
{
    struct hdb_toml_doc *doc = parse_ok("a = 'C:\\Users\\x'\n"
                                        "b = '''\nfirst\nsecond'''\n"
                                        "c = \"\"\"\nroses\\n\"\"\"\n"
                                        "d = \"\"\"one \\\n     two \\\n\n  three\"\"\"\n"
                                        "e = \"\"\"has \"quotes\" \"\" inside\"\"\"\n"
                                        "f = \"\"\"ends with two quotes\"\"\"\"\"\n"
                                        "g = '''it''s'''\n"
                                        "h = \"\"\"\"\"\"\n"
                                        "i = 'no \\escapes \\u0041'\n"
                                        "j = \"\"\"crlf\r\nkept\"\"\"\n");
    cr_assert_str_eq(get_str(doc, "a"), "C:\\Users\\x");
    cr_assert_str_eq(get_str(doc, "b"), "first\nsecond");
    cr_assert_str_eq(get_str(doc, "c"), "roses\n");
    cr_assert_str_eq(get_str(doc, "d"), "one two three");
    cr_assert_str_eq(get_str(doc, "e"), "has \"quotes\" \"\" inside");
    cr_assert_str_eq(get_str(doc, "f"), "ends with two quotes\"\"");
    cr_assert_str_eq(get_str(doc, "g"), "it''s");
    cr_assert_str_eq(get_str(doc, "h"), "");
    cr_assert_str_eq(get_str(doc, "i"), "no \\escapes \\u0041");
    cr_assert_str_eq(get_str(doc, "j"), "crlf\r\nkept");
    /* lines keep counting through multi-line strings */
    cr_assert_eq(get(doc, "c", HDB_TOML_STRING)->line, 5);
    cr_assert_eq(get(doc, "e", HDB_TOML_STRING)->line, 11);
    hdb_toml_free(doc);
}

Test(toml, rejects_unterminated_strings)
{
    parse_fails("a = 1\nx = \"open\n", "t.toml:2:");
    parse_fails("x = \"open\n", "unterminated string");
    parse_fails("x = 'open\n", "unterminated string");
    parse_fails("x = \"open", "unterminated string");
    /* multi-line strings report the line they start on */
    parse_fails("a = 1\nx = \"\"\"never\nclosed\n\n",
                "t.toml:2:5: key \"x\": unterminated multi-line");
    parse_fails("x = '''never\n", "unterminated multi-line string");
    parse_fails("x = \"\"\"too many\"\"\"\"\"\"\n", "too many quotes");
}

/* ---- arrays and inline tables ----------------------------------------------------------- */

Test(toml, arrays_span_lines_with_comments_and_a_trailing_comma)
{
    struct hdb_toml_doc *doc = parse_ok("a = [\n"
                                        "  1, # one\n"
                                        "  2,\n"
                                        "\n"
                                        "  # a comment line\n"
                                        "  3,\n"
                                        "]\n"
                                        "b = []\n"
                                        "c = [ [1, 2], [\"x\", [true]] ]\n"
                                        "d = [1, \"mixed\", 2.5, {k = 1}]\n"
                                        "e = [\r\n 1\r\n]\n");
    const struct hdb_toml_value *a = get(doc, "a", HDB_TOML_ARRAY);
    cr_assert_eq(a->as.array.count, 3);
    cr_assert_eq(hdb_toml_at(a, 2)->as.integer, 3);
    cr_assert_null(hdb_toml_at(a, 3));
    cr_assert_eq(get(doc, "b", HDB_TOML_ARRAY)->as.array.count, 0);
    const struct hdb_toml_value *c = get(doc, "c", HDB_TOML_ARRAY);
    const struct hdb_toml_value *inner = hdb_toml_at(hdb_toml_at(c, 1), 1);
    cr_assert_eq(inner->type, HDB_TOML_ARRAY);
    cr_assert_eq(hdb_toml_at(inner, 0)->as.boolean, true);
    const struct hdb_toml_value *d = get(doc, "d", HDB_TOML_ARRAY);
    cr_assert_eq(hdb_toml_at(d, 1)->type, HDB_TOML_STRING);
    cr_assert_eq(hdb_toml_get(hdb_toml_at(d, 3), "k")->as.integer, 1);
    cr_assert_eq(get(doc, "e", HDB_TOML_ARRAY)->as.array.count, 1);
    cr_assert_eq(get(doc, "b", HDB_TOML_ARRAY)->line, 8);
    hdb_toml_free(doc);
}

Test(toml, rejects_malformed_arrays)
{
    parse_fails("x = [1 2]\n", "t.toml:1:8: key \"x\": expected ',' or ']'");
    parse_fails("x = [1,,2]\n", "expected a value, found ','");
    parse_fails("x = [,]\n", "expected a value");
    parse_fails("\nx = [1,\n2\n", "t.toml:2:5: key \"x\": unterminated array");
}

Test(toml, inline_tables_on_one_line)
{
    struct hdb_toml_doc *doc = parse_ok("p = { x = 1, y.z = \"deep\", \"q k\" = true }\n"
                                        "e = {}\n"
                                        "n = { a = { b = [1] } }\n");
    cr_assert_eq(get_int(doc, "p.x"), 1);
    cr_assert_str_eq(get_str(doc, "p.y.z"), "deep");
    cr_assert_not_null(hdb_toml_get(get(doc, "p", HDB_TOML_TABLE), "q k"));
    cr_assert_eq(get(doc, "e", HDB_TOML_TABLE)->as.table.count, 0);
    cr_assert_eq(get(doc, "n.a.b", HDB_TOML_ARRAY)->as.array.count, 1);
    hdb_toml_free(doc);
}

Test(toml, rejects_inline_tables_that_break_the_rules)
{
    parse_fails("x = { a = 1, }\n", "trailing comma");
    parse_fails("x = { a = 1,\n b = 2 }\n", "must close on the line it opens");
    parse_fails("x = {\n}\n", "must close on the line it opens");
    parse_fails("x = { a = 1 b = 2 }\n", "expected ',' or '}'");
    parse_fails("x = { a = 1, a = 2 }\n", "duplicate key");
    parse_fails("x = { a = 1 }\nx.b = 2\n",
                "t.toml:2:1: key \"x.b\": table \"x\" was written inline");
    parse_fails("x = { a = 1 }\n[x]\n", "t.toml:2:2: table [x]: \"x\" was written inline");
    parse_fails("x = { a = 1 }\n[x.y]\n", "written inline");
}

/* ---- keys and tables -------------------------------------------------------------------- */

Test(toml, dotted_and_quoted_keys)
{
    struct hdb_toml_doc *doc = parse_ok("a.b.c = 1\n"
                                        "a.b.d = 2\n"
                                        "\"dotted.name\" = 3\n"
                                        "site.\"google.com\" = true\n"
                                        "'lit' = 4\n"
                                        "\"\" = 5\n"
                                        "a . e = 6\n"
                                        "1234 = 7\n"
                                        "\"caf\\u00E9\" = 8\n");
    cr_assert_eq(get_int(doc, "a.b.c"), 1);
    cr_assert_eq(get_int(doc, "a.b.d"), 2);
    cr_assert_eq(hdb_toml_get(hdb_toml_root(doc), "dotted.name")->as.integer, 3);
    const struct hdb_toml_value *site = get(doc, "site", HDB_TOML_TABLE);
    cr_assert_eq(hdb_toml_get(site, "google.com")->as.boolean, true);
    cr_assert_eq(get_int(doc, "lit"), 4);
    cr_assert_eq(hdb_toml_get(hdb_toml_root(doc), "")->as.integer, 5);
    cr_assert_eq(get_int(doc, "a.e"), 6);
    cr_assert_eq(get_int(doc, "1234"), 7);
    cr_assert_eq(hdb_toml_get(hdb_toml_root(doc), "caf\xC3\xA9")->as.integer, 8);
    hdb_toml_free(doc);
}

Test(toml, tables_and_dotted_headers)
{
    struct hdb_toml_doc *doc = parse_ok("[x.y.z]\n"
                                        "k = 1\n"
                                        "[x]\n" /* defining an implicit table later is fine */
                                        "k = 2\n"
                                        "[ x . w ]\n"
                                        "k = 3\n"
                                        "[fruit]\n"
                                        "apple.color = \"red\"\n"
                                        "[fruit.apple.texture]\n" /* sub-table of a dotted table */
                                        "smooth = true\n");
    cr_assert_eq(get_int(doc, "x.y.z.k"), 1);
    cr_assert_eq(get_int(doc, "x.k"), 2);
    cr_assert_eq(get_int(doc, "x.w.k"), 3);
    cr_assert(get(doc, "fruit.apple.texture.smooth", HDB_TOML_BOOL)->as.boolean);
    cr_assert_eq(get(doc, "x", HDB_TOML_TABLE)->line, 3);
    hdb_toml_free(doc);
}

Test(toml, iterates_keys_in_file_order)
{
    struct hdb_toml_doc *doc = parse_ok("zeta = 1\nalpha = 2\nmid = 3\n[t]\nb = 1\na = 2\n");
    const char *want[] = {"zeta", "alpha", "mid", "t"};
    uint32_t n = 0;
    for (const struct hdb_toml_kv *kv = hdb_toml_first(hdb_toml_root(doc)); kv; kv = kv->next) {
        cr_assert_lt(n, 4);
        cr_assert_str_eq(kv->key, want[n]);
        cr_assert_eq(kv->line, n < 3 ? n + 1 : 4);
        n++;
    }
    cr_assert_eq(n, 4);
    const struct hdb_toml_kv *kv = hdb_toml_first(get(doc, "t", HDB_TOML_TABLE));
    cr_assert_str_eq(kv->key, "b");
    cr_assert_str_eq(kv->next->key, "a");
    cr_assert_null(kv->next->next);
    cr_assert_null(hdb_toml_get_path(hdb_toml_root(doc), "t.c"));
    cr_assert_null(hdb_toml_get_path(hdb_toml_root(doc), "zeta.x"));
    hdb_toml_free(doc);
}

Test(toml, rejects_duplicate_key)
{
    parse_fails("a = 1\nb = 2\na = 3\n",
                "t.toml:3:1: key \"a\": duplicate key (first defined at line 1)");
    parse_fails("[t]\nk = 1\n\nk = 2\n", "t.toml:4:1: key \"k\": duplicate key");
    parse_fails("a.b = 1\na.b = 2\n", "t.toml:2:1: key \"a.b\": duplicate key");
    parse_fails("'a' = 1\n\"a\" = 2\n", "duplicate key");
}

Test(toml, rejects_table_defined_twice)
{
    parse_fails("[a]\nx = 1\n[b]\n[a]\n",
                "t.toml:4:2: table [a] is defined twice (first at line 1)");
    parse_fails("[a.b]\n[a.b]\n", "table [a.b] is defined twice");
    parse_fails("[a]\nb.c = 1\n[a.b]\n",
                "t.toml:3:2: table [a.b] was already defined by dotted keys");
}

Test(toml, rejects_key_redefined_as_table)
{
    parse_fails("a = 1\n[a]\n", "t.toml:2:2: table [a]: \"a\" is already a value (line 1)");
    parse_fails("a = 1\n[a.b]\n", "\"a\" is already a value");
    parse_fails("a = 1\na.b = 2\n", "t.toml:2:1: key \"a.b\": \"a\" is already an integer");
    parse_fails("a = [1]\na.b = 2\n", "is already an array");
    /* dotted keys cannot add to a table that has its own header */
    parse_fails("[a.b.c]\nz = 1\n[a]\nb.c.t = 2\n",
                "t.toml:4:1: key \"b.c.t\": table \"b\" has a [header]");
    parse_fails("[a.b]\nz = 1\n[a]\nb.y = 2\n", "has a [header]");
}

Test(toml, rejects_missing_equals_and_missing_value)
{
    parse_fails("[database]\ncache_size_mb 256\n",
                "t.toml:2:15: key \"cache_size_mb\": expected '=' after the key, found '2'");
    parse_fails("[database]\n\ncache_size_mb =\n",
                "t.toml:3:16: key \"cache_size_mb\": expected a value after '='");
    parse_fails("x = # nothing\n", "expected a value after '='");
    parse_fails("x =", "expected a value after '='");
    parse_fails("= 1\n", "t.toml:1:1: expected a key, found '='");
    parse_fails("a.= 1\n", "expected a key");
    parse_fails("x = \"\"\"a\"\"\" = 1\n", "unexpected '='");
    parse_fails("\"\"\"k\"\"\" = 1\n", "a key cannot be a multi-line string");
}

Test(toml, rejects_garbage_after_a_value)
{
    parse_fails("a = 1\nb = 2 3\n", "t.toml:2:7: key \"b\": unexpected '3' after the value");
    parse_fails("b = \"x\" y\n", "unexpected 'y' after the value");
    parse_fails("b = true false\n", "after the value");
    parse_fails("[t] x = 1\n", "t.toml:1:5: unexpected 'x' after the table header");
    parse_fails("[t\n", "expected ']' to close the table header");
    parse_fails("[[t]]\n", "arrays of tables ([[...]]) are not supported");
    parse_fails("a = 1\rb = 2\n", "carriage return without a line feed");
}

Test(toml, accepts_crlf_bom_and_blank_input)
{
    struct hdb_toml_doc *doc = parse_ok("\xEF\xBB\xBF"
                                        "a = 1\r\n[t]\r\nb = 'x' # c\r\n");
    cr_assert_eq(get_int(doc, "a"), 1);
    cr_assert_str_eq(get_str(doc, "t.b"), "x");
    cr_assert_eq(get(doc, "t.b", HDB_TOML_STRING)->line, 3);
    hdb_toml_free(doc);
    doc = parse_ok("");
    cr_assert_eq(hdb_toml_root(doc)->as.table.count, 0);
    hdb_toml_free(doc);
    doc = parse_ok("\n  # only comments\n\t\n");
    hdb_toml_free(doc);
}

Test(toml, rejects_invalid_utf8_and_nul_bytes)
{
    parse_fails("a = 1\nb = \"\xC3\x28\"\n", "t.toml:2:6: invalid UTF-8 (byte 0xC3)");
    parse_fails("# \xC0\xAF overlong\n", "invalid UTF-8");
    parse_fails("x = '\xED\xA0\x80'\n", "invalid UTF-8");     /* a surrogate */
    parse_fails("x = '\xF4\x90\x80\x80'\n", "invalid UTF-8"); /* above U+10FFFF */
    parse_fails("x = '\xE2\x82'\n", "invalid UTF-8");         /* truncated */
    parse_fails_n("a = 1\n\nb = 'x\0y'\n", 17, "t.toml:3:7: NUL byte");
    parse_fails("# bell \x07 in a comment\n", "control character U+0007 in a comment");
    cr_assert(hdb_toml_utf8_valid("caf\xC3\xA9", 5));
    cr_assert(!hdb_toml_utf8_valid("\xFF", 1));
}

/* ---- limits ----------------------------------------------------------------------------- */

static char *repeat(const char *head, const char *unit, uint32_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    cr_assert_not_null(s);
    memcpy(s, head, hl);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(s + hl + ul * i, unit, ul);
    }
    memcpy(s + hl + ul * n, tail, tl + 1);
    return s;
}

Test(toml, nesting_depth_is_bounded)
{
    /* the value of x is depth 1, so 32 brackets reach exactly HDB_TOML_DEPTH_MAX */
    char *open = repeat("x = ", "[", HDB_TOML_DEPTH_MAX, "");
    char *ok = repeat(open, "]", HDB_TOML_DEPTH_MAX, "\n");
    hdb_toml_free(parse_ok(ok));
    free(open);
    free(ok);
    open = repeat("x = ", "[", HDB_TOML_DEPTH_MAX + 1, "");
    char *deep = repeat(open, "]", HDB_TOML_DEPTH_MAX + 1, "\n");
    parse_fails(deep, "nesting is deeper than 32 levels");
    free(open);
    free(deep);
    char *inl = repeat("x = ", "{a=", HDB_TOML_DEPTH_MAX + 5, "1");
    char *inl2 = repeat(inl, "}", HDB_TOML_DEPTH_MAX + 5, "\n");
    parse_fails(inl2, "nesting is deeper than 32 levels");
    free(inl);
    free(inl2);
    char *hdr = repeat("[a", ".a", HDB_TOML_DEPTH_MAX + 1, "]\n");
    parse_fails(hdr, "dotted parts");
    free(hdr);
    char *parts = repeat("a", ".a", HDB_TOML_DEPTH_MAX, " = 1\n");
    parse_fails(parts, "key has more than 32 dotted parts");
    free(parts);
    /* 31 header levels + a two-part dotted key put the value at depth 33 */
    char *dotted = repeat("[a", ".a", HDB_TOML_DEPTH_MAX - 2, "]\nb.c = 1\n");
    parse_fails(dotted, "t.toml:2:7: key \"b.c\": nesting is deeper than 32 levels");
    free(dotted);
    /* a million brackets: an error, not a stack overflow */
    char *huge = repeat("x = ", "[", 1000000, "");
    parse_fails(huge, "deeper than");
    free(huge);
}

Test(toml, input_size_is_bounded)
{
    size_t n = HDB_TOML_INPUT_BYTES_MAX + 1u;
    char *big = malloc(n);
    cr_assert_not_null(big);
    memset(big, '\n', n);
    parse_fails_n(big, n, "larger than the limit of 1048576 bytes");
    struct hdb_toml_doc *doc = NULL;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_toml_parse("t.toml", big, HDB_TOML_INPUT_BYTES_MAX, &doc, &err), HDB_OK,
                 "exactly the limit is fine: %s", err.msg);
    hdb_toml_free(doc);
    free(big);
}

Test(toml, keys_strings_and_counts_are_bounded)
{
    char *key = repeat("", "k", HDB_TOML_KEY_BYTES_MAX + 1, " = 1\n");
    parse_fails(key, "key is longer than 256 bytes");
    free(key);
    char *qkey = repeat("\"", "k", HDB_TOML_KEY_BYTES_MAX + 1, "\" = 1\n");
    parse_fails(qkey, "key is longer than 256 bytes");
    free(qkey);
    char *str = repeat("s = '", "x", HDB_TOML_STRING_BYTES_MAX + 1, "'\n");
    parse_fails(str, "string is longer than 65536 bytes");
    free(str);
    char *arr = repeat("a = [", "1,", HDB_TOML_ARRAY_ITEMS_MAX + 1, "]\n");
    parse_fails(arr, "an array has more than 4096 items");
    free(arr);
    /* HDB_TOML_TABLE_KEYS_MAX distinct keys in one table */
    size_t cap = (HDB_TOML_TABLE_KEYS_MAX + 1) * 16 + 1;
    char *keys = malloc(cap);
    size_t len = 0;
    for (uint32_t i = 0; i <= HDB_TOML_TABLE_KEYS_MAX; i++) {
        len += (size_t)snprintf(keys + len, cap - len, "k%u = %u\n", i, i);
    }
    parse_fails(keys, "a table has more than 1024 keys");
    free(keys);
    /* HDB_TOML_VALUES_MAX values over many tables */
    char *vals = repeat("a = [", "[1,2,3,4,5,6,7],", HDB_TOML_VALUES_MAX / 8 + 8, "]\n");
    parse_fails(vals, "more than 16384 values");
    free(vals);
}

/* ---- files ------------------------------------------------------------------------------ */

Test(toml, parse_file_reads_a_file_and_names_a_missing_one)
{
    char *dir = tu_mkdtemp("toml-file");
    char *path = tu_path(dir, "c.toml");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("[database]\ncache_size_mb = \n", f);
    fclose(f);
    struct hdb_toml_doc *doc = NULL;
    struct hdb_err err = {0};
    cr_assert_eq(hdb_toml_parse_file(path, &doc, &err), HDB_INVALID);
    char want[512];
    snprintf(want, sizeof want, "%s:2:17: key \"cache_size_mb\": expected a value", path);
    cr_assert(strstr(err.msg, want) != NULL, "%s", err.msg);
    f = fopen(path, "w");
    fputs(FIXTURE_EDGE, f);
    fclose(f);
    cr_assert_eq(hdb_toml_parse_file(path, &doc, &err), HDB_OK, "%s", err.msg);
    cr_assert_eq(get_int(doc, "edge.batch_size"), 1000);
    hdb_toml_free(doc);
    char *missing = tu_path(dir, "nope.toml");
    cr_assert_eq(hdb_toml_parse_file(missing, &doc, &err), HDB_NOTFOUND);
    cr_assert(strstr(err.msg, "nope.toml") != NULL, "%s", err.msg);
    f = fopen(path, "w");
    for (uint32_t i = 0; i < HDB_TOML_INPUT_BYTES_MAX / 8 + 1; i++) {
        fputs("#234567\n", f);
    }
    fclose(f);
    cr_assert_eq(hdb_toml_parse_file(path, &doc, &err), HDB_INVALID);
    cr_assert(strstr(err.msg, "larger than the limit") != NULL, "%s", err.msg);
    tu_rmtree(dir);
    free(missing);
    free(path);
    free(dir);
}

Test(toml, example_files_parse)
{
    const char *files[] = {FIXTURE_CONTAINER, FIXTURE_MICROSERVICE, FIXTURE_EDGE};
    for (size_t i = 0; i < 3; i++) {
        hdb_toml_free(parse_ok(files[i]));
    }
    struct hdb_toml_doc *doc = parse_ok(FIXTURE_MICROSERVICE);
    cr_assert(get(doc, "api.tls.enabled", HDB_TOML_BOOL)->as.boolean);
    cr_assert_str_eq(get_str(doc, "observability.tracing_endpoint"),
                     "http://jaeger:14268/api/traces");
    cr_assert_eq(get(doc, "api.tls", HDB_TOML_TABLE)->line, 14);
    hdb_toml_free(doc);
}

/* ---- fuzz-ish --------------------------------------------------------------------------- */

static void parse_any(const char *text, size_t len)
{
    struct hdb_toml_doc *doc = NULL;
    struct hdb_err err = {0};
    int rc = hdb_toml_parse("fuzz.toml", text, len, &doc, &err);
    cr_assert(rc == HDB_OK || rc == HDB_INVALID, "rc %d", rc);
    cr_assert_eq(rc == HDB_OK, doc != NULL);
    if (rc == HDB_INVALID) {
        cr_assert(strncmp(err.msg, "fuzz.toml:", 10) == 0, "message: %s", err.msg);
    }
    hdb_toml_free(doc);
}

Test(toml, truncated_and_mutated_examples_fail_cleanly)
{
    const char *files[] = {FIXTURE_CONTAINER, FIXTURE_MICROSERVICE, FIXTURE_EDGE};
    static const char specials[] = "\"'[]{}=.,#\\\n\r\t ux0_+-e\x80\xC3\xFF";
    struct tu_rng rng;
    tu_rng_seed(&rng, 20240601);
    uint64_t rounds = tu_scaled(3000);
    for (size_t f = 0; f < 3; f++) {
        size_t len = strlen(files[f]);
        for (size_t cut = 0; cut <= len; cut++) {
            parse_any(files[f], cut); /* every prefix, no terminator inside the length */
        }
        char *buf = malloc(len + 16);
        cr_assert_not_null(buf);
        for (uint64_t r = 0; r < rounds; r++) {
            memcpy(buf, files[f], len);
            size_t n = len;
            uint64_t edits = 1 + tu_rng_below(&rng, 4);
            for (uint64_t e = 0; e < edits; e++) {
                size_t at = (size_t)tu_rng_below(&rng, n);
                char c = specials[tu_rng_below(&rng, sizeof specials - 1)];
                uint64_t op = tu_rng_below(&rng, 3);
                if (op == 0) {
                    buf[at] = c;
                } else if (op == 1 && n + 1 < len + 16) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = c;
                    n++;
                } else if (n > 1) {
                    memmove(buf + at, buf + at + 1, n - at - 1);
                    n--;
                }
            }
            parse_any(buf, n);
        }
        free(buf);
    }
}
