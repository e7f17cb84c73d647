/*
 * bytes.h — little-endian loads and stores for on-disk formats.
 *
 * Every on-disk integer in HeliosDB-Lite is little-endian and may be
 * unaligned; these helpers go through memcpy so the compiler emits plain
 * loads on x86-64 and arm64 without undefined behaviour.
 */
#ifndef HDB_BYTES_H
#define HDB_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "HeliosDB-Lite's on-disk format helpers assume a little-endian CPU"
#endif

static inline uint16_t hdb_get16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint32_t hdb_get32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint64_t hdb_get64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void hdb_put16(void *p, uint16_t v)
{
    memcpy(p, &v, sizeof v);
}
static inline void hdb_put32(void *p, uint32_t v)
{
    memcpy(p, &v, sizeof v);
}
static inline void hdb_put64(void *p, uint64_t v)
{
    memcpy(p, &v, sizeof v);
}

/* True if all n bytes are zero (a block that was never written). */
static inline bool hdb_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

#endif
