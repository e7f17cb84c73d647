/*
 * text.c — UTF-8 checking and lossy repair (text.h).
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "rpc/text.h"

size_t text_utf8_len(const unsigned char *s, size_t n)
{
    assert(n >= 1);
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80) {
        return 1;
    } else if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2, cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3, cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4, cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0u) != 0x80u) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    return overlong || surrogate || cp > 0x10FFFF ? 0 : len;
}

/* The length of the good sequence at s[0..n), or 0 for a bad byte (a NUL too with nul_bad). */
static size_t good_len(const unsigned char *s, size_t n, bool nul_bad)
{
    return nul_bad && s[0] == 0 ? 0 : text_utf8_len(s, n);
}

/* How many bytes from s on are plain ASCII (and not NUL with nul_bad), eight at a time: the
 * common text skips the byte-by-byte check. */
static size_t ascii_prefix(const char *s, size_t n, bool nul_bad)
{
    const uint64_t high = 0x8080808080808080ull, ones = 0x0101010101010101ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        bool zero = ((w - ones) & ~w & high) != 0;
        if ((w & high) != 0 || (nul_bad && zero)) {
            break;
        }
    }
    return i;
}

size_t text_bad_bytes(const char *s, size_t n, bool nul_bad)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    for (size_t i = ascii_prefix(s, n, nul_bad); i < n;) {
        size_t len = good_len(u + i, n - i, nul_bad);
        bad += len == 0;
        i += len == 0 ? 1 : len;
    }
    return bad;
}

size_t text_repair(const char *s, size_t n, bool nul_bad, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t m = ascii_prefix(s, n, nul_bad);
    memcpy(out, s, m);
    for (size_t i = m; i < n;) {
        size_t len = good_len(u + i, n - i, nul_bad);
        if (len == 0) {
            memcpy(out + m, "\xEF\xBF\xBD", 3);
            m += 3, i += 1;
        } else {
            memcpy(out + m, s + i, len);
            m += len, i += len;
        }
    }
    return m;
}
