/*
 * lexer.c — the SQL tokenizer (see lexer.h).
 *
 * One function per token family: spaces and comments are skipped first, then
 * the first byte picks the family. Every loop runs at most to the end of the
 * input, whose length is bounded by HDB_SQL_TEXT_BYTES_MAX.
 */
#include "sql/lexer.h"

#include <assert.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

static_assert(HDB_SQL_TEXT_BYTES_MAX < UINT32_MAX / 2, "offsets fit in uint32_t");

static const char *const keyword_names[HDB_KW_COUNT_] = {[HDB_KW_NONE] = "",
#define HDB_SQL_KW_NAME(name) [HDB_KW_##name] = #name,
                                                         HDB_SQL_KEYWORDS(HDB_SQL_KW_NAME)
#undef HDB_SQL_KW_NAME
};

/* The longest keyword ("CURRENT_TIMESTAMP"). */
#define KEYWORD_BYTES_MAX 17

enum hdb_sql_kw hdb_sql_keyword(const char *s, size_t len)
{
    if (len == 0 || len > KEYWORD_BYTES_MAX) {
        return HDB_KW_NONE;
    }
    int lo = 1;
    int hi = HDB_KW_COUNT_ - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const char *name = keyword_names[mid];
        int c = strncasecmp(s, name, len);
        if (c == 0 && name[len] != '\0') {
            c = -1; /* s is a proper prefix of name */
        }
        if (c == 0) {
            return (enum hdb_sql_kw)mid;
        }
        if (c < 0) {
            hi = mid - 1;
        } else {
            lo = mid + 1;
        }
    }
    return HDB_KW_NONE;
}

const char *hdb_sql_keyword_name(enum hdb_sql_kw kw)
{
    assert(kw >= 0 && kw < HDB_KW_COUNT_);
    return keyword_names[kw];
}

int hdb_sql_lexer_init(struct hdb_sql_lexer *lx, const char *src, size_t len, struct hdb_err *err)
{
    assert(lx != NULL);
    assert(src != NULL || len == 0);
    memset(lx, 0, sizeof *lx);
    if (len > HDB_SQL_TEXT_BYTES_MAX) {
        return hdb_err_set(err, HDB_TOOBIG, "SQL text of %zu bytes exceeds the limit of %u bytes",
                           len, HDB_SQL_TEXT_BYTES_MAX);
    }
    lx->src = src == NULL ? "" : src;
    lx->len = (uint32_t)len;
    lx->line = 1;
    return HDB_OK;
}

void hdb_sql_token_excerpt(const char *src, const struct hdb_sql_token *tok, char *out, size_t cap)
{
    assert(cap >= 8);
    size_t n = tok->len;
    bool cut = false;
    if (n > cap - 4) {
        n = cap - 4;
        cut = true;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[tok->offset + i];
        out[j++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : (char)c;
    }
    if (cut) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
}

static int lex_error(struct hdb_sql_lexer *lx, const struct hdb_sql_token *tok, struct hdb_err *err,
                     const char *what)
{
    char near[64];
    hdb_sql_token_excerpt(lx->src, tok, near, sizeof near);
    return hdb_err_set(err, HDB_INVALID, "near \"%s\" at line %u, column %u: %s", near, tok->line,
                       tok->column, what);
}

static int peek_at(const struct hdb_sql_lexer *lx, uint32_t at)
{
    return at < lx->len ? (unsigned char)lx->src[at] : -1;
}

/* Advances to `to`, counting the newlines passed. */
static void advance_to(struct hdb_sql_lexer *lx, uint32_t to)
{
    assert(to <= lx->len);
    for (uint32_t i = lx->pos; i < to; i++) {
        if (lx->src[i] == '\n') {
            lx->line++;
            lx->line_start = i + 1;
        }
    }
    lx->pos = to;
}

/* Skips spaces and comments; an unterminated block comment is an error. */
static int skip_space(struct hdb_sql_lexer *lx, struct hdb_sql_token *tok, struct hdb_err *err)
{
    for (;;) {
        int c = peek_at(lx, lx->pos);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            advance_to(lx, lx->pos + 1);
        } else if (c == '-' && peek_at(lx, lx->pos + 1) == '-') {
            uint32_t end = lx->pos;
            while (end < lx->len && lx->src[end] != '\n') {
                end++;
            }
            advance_to(lx, end);
        } else if (c == '/' && peek_at(lx, lx->pos + 1) == '*') {
            tok->offset = lx->pos;
            tok->line = lx->line;
            tok->column = lx->pos - lx->line_start + 1;
            uint32_t end = lx->pos + 2;
            while (end + 1 < lx->len && !(lx->src[end] == '*' && lx->src[end + 1] == '/')) {
                end++;
            }
            if (end + 1 >= lx->len) {
                tok->len = 2;
                return lex_error(lx, tok, err, "unterminated /* comment");
            }
            advance_to(lx, end + 2);
        } else {
            return HDB_OK;
        }
    }
}

static bool is_id_start(int c)
{
    return c >= 0 && (isalpha(c) || c == '_' || c >= 0x80);
}

static bool is_id_char(int c)
{
    return c >= 0 && (isalnum(c) || c == '_' || c == '$' || c >= 0x80);
}

/* A quoted span ending at `close`; a doubled close quote is an escape (for
 * [..] there is no escape). Sets tok->len or fails if unterminated. */
static int lex_quoted(struct hdb_sql_lexer *lx, struct hdb_sql_token *tok, char close,
                      struct hdb_err *err, const char *what)
{
    uint32_t i = lx->pos + 1;
    for (;;) {
        if (i >= lx->len) {
            tok->len = lx->len - lx->pos;
            return lex_error(lx, tok, err, what);
        }
        if (lx->src[i] == close) {
            if (close != ']' && peek_at(lx, i + 1) == close) {
                i += 2;
                continue;
            }
            break;
        }
        i++;
    }
    tok->len = i + 1 - lx->pos;
    return HDB_OK;
}

static int lex_blob(struct hdb_sql_lexer *lx, struct hdb_sql_token *tok, struct hdb_err *err)
{
    uint32_t i = lx->pos + 2;
    while (i < lx->len && isxdigit((unsigned char)lx->src[i])) {
        i++;
    }
    if (i >= lx->len || lx->src[i] != '\'') {
        tok->len = (i < lx->len ? i + 1 : lx->len) - lx->pos;
        return lex_error(lx, tok, err, "malformed blob literal (X'…' holds hex digits)");
    }
    tok->len = i + 1 - lx->pos;
    if ((tok->len - 3) % 2 != 0) {
        return lex_error(lx, tok, err, "blob literal has an odd number of hex digits");
    }
    tok->kind = HDB_TK_BLOB;
    return HDB_OK;
}

/* Digits of a number: decimal with optional fraction and exponent, or hex. A
 * letter glued to the number (12abc) is an error as in SQLite. */
static int lex_number(struct hdb_sql_lexer *lx, struct hdb_sql_token *tok, struct hdb_err *err)
{
    uint32_t i = lx->pos;
    tok->kind = HDB_TK_INTEGER;
    if (lx->src[i] == '0' && (peek_at(lx, i + 1) == 'x' || peek_at(lx, i + 1) == 'X') &&
        peek_at(lx, i + 2) >= 0 && isxdigit(peek_at(lx, i + 2))) {
        i += 2;
        while (i < lx->len && isxdigit((unsigned char)lx->src[i])) {
            i++;
        }
    } else {
        while (i < lx->len && isdigit((unsigned char)lx->src[i])) {
            i++;
        }
        if (peek_at(lx, i) == '.') {
            tok->kind = HDB_TK_REAL;
            i++;
            while (i < lx->len && isdigit((unsigned char)lx->src[i])) {
                i++;
            }
        }
        int e = peek_at(lx, i);
        if (e == 'e' || e == 'E') {
            uint32_t j = i + 1;
            if (peek_at(lx, j) == '+' || peek_at(lx, j) == '-') {
                j++;
            }
            if (peek_at(lx, j) >= 0 && isdigit(peek_at(lx, j))) {
                tok->kind = HDB_TK_REAL;
                i = j;
                while (i < lx->len && isdigit((unsigned char)lx->src[i])) {
                    i++;
                }
            }
        }
    }
    tok->len = i - lx->pos;
    if (is_id_char(peek_at(lx, i))) {
        while (i < lx->len && is_id_char((unsigned char)lx->src[i])) {
            i++;
        }
        tok->len = i - lx->pos;
        return lex_error(lx, tok, err, "unrecognized token (malformed number)");
    }
    return HDB_OK;
}

static int lex_param(struct hdb_sql_lexer *lx, struct hdb_sql_token *tok, struct hdb_err *err)
{
    uint32_t i = lx->pos + 1;
    tok->kind = HDB_TK_PARAM;
    if (lx->src[lx->pos] == '?') {
        while (i < lx->len && isdigit((unsigned char)lx->src[i])) {
            i++;
        }
    } else {
        while (i < lx->len && is_id_char((unsigned char)lx->src[i])) {
            i++;
        }
        if (i == lx->pos + 1) {
            tok->len = 1;
            return lex_error(lx, tok, err, "a parameter name must follow the prefix");
        }
    }
    tok->len = i - lx->pos;
    return HDB_OK;
}

/* Two-byte operators first, then one-byte ones. */
static bool lex_operator(struct hdb_sql_lexer *lx, struct hdb_sql_token *tok)
{
    static const struct {
        char text[3];
        enum hdb_sql_tk kind;
    } ops[] = {
        {"||", HDB_TK_CONCAT}, {"<<", HDB_TK_LSHIFT}, {">>", HDB_TK_RSHIFT}, {"<=", HDB_TK_LE},
        {">=", HDB_TK_GE},     {"==", HDB_TK_EQ},     {"!=", HDB_TK_NE},     {"<>", HDB_TK_NE},
        {"*", HDB_TK_STAR},    {"/", HDB_TK_SLASH},   {"%", HDB_TK_REM},     {"+", HDB_TK_PLUS},
        {"-", HDB_TK_MINUS},   {"&", HDB_TK_BITAND},  {"|", HDB_TK_BITOR},   {"~", HDB_TK_BITNOT},
        {"<", HDB_TK_LT},      {">", HDB_TK_GT},      {"=", HDB_TK_EQ},      {",", HDB_TK_COMMA},
        {";", HDB_TK_SEMI},    {"(", HDB_TK_LP},      {")", HDB_TK_RP},      {".", HDB_TK_DOT},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t n = strlen(ops[k].text);
        if (lx->pos + n <= lx->len && memcmp(lx->src + lx->pos, ops[k].text, n) == 0) {
            tok->kind = ops[k].kind;
            tok->len = (uint32_t)n;
            return true;
        }
    }
    return false;
}

static int lex_word(struct hdb_sql_lexer *lx, struct hdb_sql_token *tok, struct hdb_err *err)
{
    int c = (unsigned char)lx->src[lx->pos];
    if ((c == 'x' || c == 'X') && peek_at(lx, lx->pos + 1) == '\'') {
        return lex_blob(lx, tok, err);
    }
    uint32_t i = lx->pos + 1;
    while (i < lx->len && is_id_char((unsigned char)lx->src[i])) {
        i++;
    }
    tok->kind = HDB_TK_ID;
    tok->len = i - lx->pos;
    tok->kw = hdb_sql_keyword(lx->src + lx->pos, tok->len);
    return HDB_OK;
}

static int lex_dispatch(struct hdb_sql_lexer *lx, struct hdb_sql_token *tok, struct hdb_err *err)
{
    int c = (unsigned char)lx->src[lx->pos];
    if (is_id_start(c)) {
        return lex_word(lx, tok, err);
    }
    if (isdigit(c) ||
        (c == '.' && peek_at(lx, lx->pos + 1) >= 0 && isdigit(peek_at(lx, lx->pos + 1)))) {
        return lex_number(lx, tok, err);
    }
    switch (c) {
    case '\'':
        tok->kind = HDB_TK_STRING;
        return lex_quoted(lx, tok, '\'', err, "unterminated string literal");
    case '"':
        tok->kind = HDB_TK_QID;
        return lex_quoted(lx, tok, '"', err, "unterminated quoted identifier");
    case '`':
        tok->kind = HDB_TK_QID;
        return lex_quoted(lx, tok, '`', err, "unterminated quoted identifier");
    case '[':
        tok->kind = HDB_TK_QID;
        return lex_quoted(lx, tok, ']', err, "unterminated [identifier]");
    case '?':
    case ':':
    case '@':
    case '$':
        return lex_param(lx, tok, err);
    default:
        break;
    }
    if (lex_operator(lx, tok)) {
        return HDB_OK;
    }
    tok->len = 1;
    while (tok->len < 4 && ((unsigned char)lx->src[lx->pos + tok->len - 1] & 0x80) &&
           lx->pos + tok->len < lx->len &&
           ((unsigned char)lx->src[lx->pos + tok->len] & 0xc0) == 0x80) {
        tok->len++; /* show a whole UTF-8 sequence */
    }
    return lex_error(lx, tok, err, "unrecognized token");
}

int hdb_sql_lex(struct hdb_sql_lexer *lx, struct hdb_sql_token *tok, struct hdb_err *err)
{
    assert(lx != NULL);
    assert(tok != NULL);
    memset(tok, 0, sizeof *tok);
    int rc = skip_space(lx, tok, err);
    if (rc != HDB_OK) {
        return rc;
    }
    tok->offset = lx->pos;
    tok->line = lx->line;
    tok->column = lx->pos - lx->line_start + 1;
    if (lx->pos >= lx->len) {
        tok->kind = HDB_TK_EOF;
        return HDB_OK;
    }
    rc = lex_dispatch(lx, tok, err);
    if (rc != HDB_OK) {
        return rc;
    }
    assert(tok->len > 0);
    advance_to(lx, lx->pos + tok->len);
    return HDB_OK;
}
