/*
 * jsonval.c — SQL values as JSON and back (jsonval.h): base64 for blobs, lossy UTF-8 for text,
 * column values to json_t and json_t to binds.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/jsonval.h"
#include "rpc/text.h"

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const char *jsonval_type_name(const json_t *v)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "an integer", [JSON_REAL] = "a real",    [JSON_TRUE] = "true",
        [JSON_FALSE] = "false",        [JSON_NULL] = "null"};
    return names[json_typeof(v)];
}

json_t *jsonval_text(const char *s, size_t n)
{
    size_t bad = text_bad_bytes(s, n, false);
    if (bad == 0) {
        return json_stringn_nocheck(s, n);
    }
    char *copy = malloc(n + 2 * bad); /* each bad byte becomes three */
    if (copy == NULL) {
        return NULL;
    }
    size_t m = text_repair(s, n, false, copy);
    json_t *j = json_stringn_nocheck(copy, m);
    free(copy);
    return j;
}

size_t jsonval_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Writes jsonval_base64_len(n) bytes of standard, padded base64 to out (no NUL). */
static void base64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        size_t left = n - i;
        uint32_t quad = (uint32_t)in[i] << 16;
        quad |= left > 1 ? (uint32_t)in[i + 1] << 8 : 0;
        quad |= left > 2 ? (uint32_t)in[i + 2] : 0;
        out[o++] = base64_alphabet[quad >> 18 & 0x3F];
        out[o++] = base64_alphabet[quad >> 12 & 0x3F];
        out[o++] = left > 1 ? base64_alphabet[quad >> 6 & 0x3F] : '=';
        out[o++] = left > 2 ? base64_alphabet[quad & 0x3F] : '=';
    }
}

/* The value of base64 digit c, or -1. */
static int base64_digit(char c)
{
    const char *at = c != '\0' ? strchr(base64_alphabet, c) : NULL;
    return at != NULL ? (int)(at - base64_alphabet) : -1;
}

bool jsonval_base64_decode(const char *s, size_t n, unsigned char *out, size_t *out_len)
{
    if (n % 4 != 0) {
        return false;
    }
    size_t pad = n > 0 && s[n - 1] == '=' ? 1 + (s[n - 2] == '=') : 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        size_t digits = i + 4 == n ? 4 - pad : 4;
        uint32_t quad = 0;
        for (size_t k = 0; k < 4; k++) {
            int v = k < digits ? base64_digit(s[i + k]) : 0;
            if (v < 0) {
                return false;
            }
            quad = quad << 6 | (uint32_t)v;
        }
        uint32_t unused = digits == 4 ? 0 : digits == 3 ? 0xFFu : 0xFFFFu;
        if ((quad & unused) != 0) {
            return false;
        }
        for (size_t k = 0; k + 1 < digits; k++) {
            if (out != NULL) {
                out[o] = (unsigned char)(quad >> (16 - 8 * k) & 0xFF);
            }
            o++;
        }
    }
    *out_len = o;
    return true;
}

json_t *jsonval_blob_text(json_t *v)
{
    json_t *text = json_object_get(v, "$base64");
    return json_object_size(v) == 1 && json_is_string(text) ? text : NULL;
}

/* {"$base64": "..."} of n bytes; NULL out of memory. */
static json_t *blob_to_json(const void *data, size_t n)
{
    size_t len = jsonval_base64_len(n);
    char *text = malloc(len + 1);
    if (text == NULL) {
        return NULL;
    }
    base64_encode(data, n, text);
    json_t *s = json_stringn_nocheck(text, len);
    free(text);
    return s != NULL ? json_pack("{s:o}", "$base64", s) : NULL;
}

json_t *jsonval_from_column(heliosdb_stmt *st, int col)
{
    int type = heliosdb_column_type(st, col);
    if (type == HELIOSDB_NULL) {
        return json_null();
    } else if (type == HELIOSDB_INTEGER) {
        return json_integer((json_int_t)heliosdb_column_int64(st, col));
    } else if (type == HELIOSDB_FLOAT) {
        double d = heliosdb_column_double(st, col);
        return isfinite(d) ? json_real(d) : json_null();
    } else if (type == HELIOSDB_BLOB) {
        const void *data = heliosdb_column_blob(st, col);
        return blob_to_json(data, (size_t)heliosdb_column_bytes(st, col));
    }
    /* TEXT, DECIMAL (its exact text) and any type added later: the value as text. */
    const unsigned char *text = heliosdb_column_text(st, col);
    if (text == NULL) {
        return json_null();
    }
    return jsonval_text((const char *)text, (size_t)heliosdb_column_bytes(st, col));
}

size_t jsonval_cost(heliosdb_stmt *st, int col)
{
    int type = heliosdb_column_type(st, col);
    if (type == HELIOSDB_NULL || type == HELIOSDB_INTEGER || type == HELIOSDB_FLOAT) {
        return JSONVAL_VALUE_BYTES;
    }
    if (type == HELIOSDB_BLOB) {
        heliosdb_column_blob(st, col);
        return JSONVAL_VALUE_BYTES + jsonval_base64_len((size_t)heliosdb_column_bytes(st, col));
    }
    heliosdb_column_text(st, col);
    return JSONVAL_VALUE_BYTES + (size_t)heliosdb_column_bytes(st, col);
}

/* Binds the {"$base64": ...} object v (checked by the caller) at index. */
static int bind_blob(heliosdb_stmt *st, int index, json_t *v, heliosdb_error *e)
{
    json_t *text = jsonval_blob_text(v);
    size_t n = json_string_length(text), len = 0;
    unsigned char *bytes = malloc(n / 4 * 3 + 1); /* + 1: an empty blob still has an address */
    if (bytes == NULL) {
        *e = (heliosdb_error){.code = HELIOSDB_NOMEM, .offset = -1, .message = "out of memory"};
        return HELIOSDB_NOMEM;
    }
    bool ok = jsonval_base64_decode(json_string_value(text), n, bytes, &len);
    assert(ok);
    (void)ok;
    int rc = heliosdb_bind_blob(st, index, bytes, len, e);
    free(bytes);
    return rc;
}

int jsonval_bind(heliosdb_stmt *st, int index, json_t *v, heliosdb_error *e)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return heliosdb_bind_int64(st, index, json_integer_value(v), e);
    case JSON_REAL:
        return heliosdb_bind_double(st, index, json_real_value(v), e);
    case JSON_STRING:
        return heliosdb_bind_text(st, index, json_string_value(v), (long)json_string_length(v), e);
    case JSON_TRUE:
    case JSON_FALSE:
        return heliosdb_bind_int64(st, index, json_is_true(v) ? 1 : 0, e);
    case JSON_OBJECT:
        return bind_blob(st, index, v, e);
    default: /* null: arrays and other objects were refused by the caller's check */
        assert(json_is_null(v));
        return heliosdb_bind_null(st, index, e);
    }
}
