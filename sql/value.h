/*
 * value.h — SQL values and their three encodings:
 *
 *   - comparison with SQLite's rules: NULL < numbers < TEXT < BLOB; INTEGER,
 *     REAL and DECIMAL compare by numeric value (1 = 1.0 = 1.00); TEXT and
 *     BLOB byte by byte (the BINARY collation);
 *   - keys (primary keys, index entries): a byte string whose memcmp order is
 *     that comparison, column after column, with DESC columns reversed;
 *   - rows: a compact self-describing record of a row's values.
 *
 * And SQLite's type affinity: a column's declared type gives it an affinity
 * that converts values stored into it (hdb_affinity_of, hdb_value_apply).
 *
 * Key layout per column (prefix-free, so a DESC column can invert its bytes):
 *
 *   NULL     0x05
 *   number   0x10 negative | 0x14 zero | 0x18 positive, then for nonzero
 *            values m * 10^e with 0.1 <= m < 1: e + 0x8000 as 2 bytes
 *            big-endian and m's digits in pairs, one byte per pair (pair + 1,
 *            so 1..100), ended by 0x00; a negative number's bytes after the
 *            tag are inverted. REAL values use their 17 significant digits.
 *   TEXT     0x20, the bytes with 0x00 written as 0x00 0xFF, then 0x00 0x01
 *   BLOB     0x30, the same escaping
 */
#ifndef HDB_SQL_VALUE_H
#define HDB_SQL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/btree.h" /* struct hdb_buf */
#include "core/status.h"
#include "sql/decimal.h"

#define HDB_ROW_VALUES_MAX 2000u /* columns in one row (SQLite's default limit) */

enum hdb_vtype {
    HDB_V_NULL = 0,
    HDB_V_INT = 1,
    HDB_V_REAL = 2,
    HDB_V_TEXT = 3,
    HDB_V_BLOB = 4,
    HDB_V_DEC = 5, /* a DECIMAL(p,s) column's exact value */
};

/* A value; TEXT and BLOB point at bytes owned by someone else (a row buffer, the statement). */
struct hdb_value {
    enum hdb_vtype type;
    union {
        int64_t i;
        double r;
        struct hdb_dec d;
        struct {
            const uint8_t *p;
            uint32_t len;
        } s;
    } u;
};

/* SQLite's affinities (datatype3.html), from a column's declared type. */
enum hdb_affinity {
    HDB_AFF_BLOB = 0, /* "none": values are stored as given */
    HDB_AFF_TEXT = 1,
    HDB_AFF_NUMERIC = 2,
    HDB_AFF_INTEGER = 3,
    HDB_AFF_REAL = 4,
};

/* The affinity of a declared type name ("VARCHAR(20)" -> TEXT, "" -> BLOB, ...). */
enum hdb_affinity hdb_affinity_of(const char *type_name, size_t len);

/*
 * Converts `v` as a column of affinity `aff` stores it: TEXT that reads as a
 * number becomes INTEGER or REAL under NUMERIC/INTEGER/REAL, numbers become
 * TEXT under TEXT (written into `buf`, which must hold 32 bytes), a REAL with
 * an exact integer value becomes INTEGER under NUMERIC/INTEGER.
 */
void hdb_value_apply(struct hdb_value *v, enum hdb_affinity aff, char buf[32]);

/* -1, 0 or 1 by the rules at the top (the same order as the key encoding). */
int hdb_value_cmp(const struct hdb_value *a, const struct hdb_value *b);

/* Appends the key encoding of one value (reversed for a DESC column). */
int hdb_key_append(struct hdb_buf *key, const struct hdb_value *v, bool desc, struct hdb_err *err);

/* Appends a row record: [u16 n] then per value a type byte and its payload. */
int hdb_row_encode(struct hdb_buf *out, const struct hdb_value *vals, uint32_t n,
                   struct hdb_err *err);
/* Decodes up to `max` values (TEXT/BLOB point into `rec`); HDB_CORRUPT if damaged. */
int hdb_row_decode(const uint8_t *rec, size_t len, struct hdb_value *vals, uint32_t max,
                   uint32_t *n, struct hdb_err *err);

#endif
