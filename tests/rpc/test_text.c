/*
 * test_text.c — UTF-8 checking and repair (rpc/text.h): known cases, and
 * random texts (mostly ASCII, so the eight-bytes-at-a-time path runs, with
 * bad bytes, NULs and multi-byte sequences at every offset) checked against
 * a byte-by-byte reference.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/text.h"

/* The reference: every byte checked on its own. */
static size_t reference_bad(const char *s, size_t n, bool nul_bad, char *out, size_t *out_len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0, m = 0;
    for (size_t i = 0; i < n;) {
        size_t len = nul_bad && u[i] == 0 ? 0 : text_utf8_len(u + i, n - i);
        if (len == 0) {
            memcpy(out + m, "\xEF\xBF\xBD", 3);
            m += 3, i += 1, bad++;
        } else {
            memcpy(out + m, s + i, len);
            m += len, i += len;
        }
    }
    *out_len = m;
    return bad;
}

Test(text, known_texts)
{
    char out[64];
    cr_assert_eq(text_bad_bytes("plain ascii text, long enough", 29, true), 0);
    cr_assert_eq(text_bad_bytes("caf\xC3\xA9 ok", 8, true), 0);
    cr_assert_eq(text_bad_bytes("abcdefgh\xFFijk", 12, true), 1);
    cr_assert_eq(text_bad_bytes("abcdefgh\0ijk", 12, true), 1);
    cr_assert_eq(text_bad_bytes("abcdefgh\0ijk", 12, false), 0);
    cr_assert_eq(text_bad_bytes("\xED\xA0\x80", 3, false), 3, "a surrogate is three bad bytes");
    size_t m = text_repair("abcdefgh\xC3(", 10, true, out);
    cr_assert_eq(m, 12);
    cr_assert_eq(memcmp(out, "abcdefgh\xEF\xBF\xBD(", 12), 0);
}

Test(text, random_texts_match_the_byte_by_byte_reference)
{
    static const char *const pieces[] = {
        "a",  "Z",    " ",        "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xFF",
        "\0", "\xC3", "\xE2\x82", "\x80",     "\xED\xA0\x80", "\xC0\xAF"};
    enum { PIECES = sizeof pieces / sizeof pieces[0] };
    static const size_t piece_len[PIECES] = {1, 1, 1, 2, 3, 4, 1, 1, 1, 2, 1, 3, 2};
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        char s[200], want[700], got[700];
        size_t n = 0;
        size_t target = (size_t)(rand_r(&seed) % 120);
        while (n < target) {
            /* mostly ASCII runs, now and then another piece */
            int k = rand_r(&seed) % 10 < 8 ? rand_r(&seed) % 3 : rand_r(&seed) % PIECES;
            memcpy(s + n, pieces[k], piece_len[k]);
            n += piece_len[k];
        }
        bool nul_bad = round % 2 == 0;
        size_t want_len = 0;
        size_t bad = reference_bad(s, n, nul_bad, want, &want_len);
        cr_assert_eq(text_bad_bytes(s, n, nul_bad), bad, "round %d", round);
        size_t got_len = text_repair(s, n, nul_bad, got);
        cr_assert_eq(got_len, want_len, "round %d", round);
        cr_assert_eq(memcmp(got, want, want_len), 0, "round %d", round);
    }
}
