/*
 * page.c — page header and XXH3-128 checksums (see page.h).
 */
#include "core/page.h"

#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/bytes.h"

bool hdb_page_size_valid(uint32_t page_size)
{
    if (page_size < HDB_PAGE_SIZE_MIN || page_size > HDB_PAGE_SIZE_MAX) {
        return false;
    }
    return (page_size & (page_size - 1)) == 0;
}

void hdb_page_init(uint8_t *page, uint32_t page_size, enum hdb_page_type type, uint64_t pgno,
                   uint64_t gen)
{
    memset(page, 0, page_size);
    hdb_put32(page + HDB_PAGE_OFF_MAGIC, HDB_PAGE_MAGIC);
    hdb_put16(page + HDB_PAGE_OFF_VERSION, HDB_FORMAT_VERSION);
    page[HDB_PAGE_OFF_TYPE] = (uint8_t)type;
    hdb_put64(page + HDB_PAGE_OFF_PGNO, pgno);
    hdb_put64(page + HDB_PAGE_OFF_GEN, gen);
}

/* XXH3-128 over the page with the checksum field skipped. */
static XXH128_hash_t page_checksum(const uint8_t *page, uint32_t page_size)
{
    XXH3_state_t state;
    XXH3_128bits_reset(&state);
    XXH3_128bits_update(&state, page, HDB_PAGE_OFF_CHECKSUM);
    XXH3_128bits_update(&state, page + HDB_PAGE_OFF_TYPE_HEADER,
                        page_size - HDB_PAGE_OFF_TYPE_HEADER);
    return XXH3_128bits_digest(&state);
}

void hdb_page_seal(uint8_t *page, uint32_t page_size)
{
    XXH128_hash_t h = page_checksum(page, page_size);
    hdb_put64(page + HDB_PAGE_OFF_CHECKSUM, h.low64);
    hdb_put64(page + HDB_PAGE_OFF_CHECKSUM + 8, h.high64);
}

uint64_t hdb_page_pgno(const uint8_t *page)
{
    return hdb_get64(page + HDB_PAGE_OFF_PGNO);
}

uint64_t hdb_page_gen(const uint8_t *page)
{
    return hdb_get64(page + HDB_PAGE_OFF_GEN);
}

int hdb_page_check(const uint8_t *page, uint32_t page_size, uint64_t pgno, const char *file,
                   bool verify_checksum, struct hdb_err *err)
{
    uint32_t magic = hdb_get32(page + HDB_PAGE_OFF_MAGIC);
    if (magic != HDB_PAGE_MAGIC) {
        return hdb_err_set(err, HDB_CORRUPT, "%s: page %llu: bad magic 0x%08x (expected 0x%08x)",
                           file, (unsigned long long)pgno, magic, HDB_PAGE_MAGIC);
    }
    if (verify_checksum) {
        XXH128_hash_t h = page_checksum(page, page_size);
        uint64_t lo = hdb_get64(page + HDB_PAGE_OFF_CHECKSUM);
        uint64_t hi = hdb_get64(page + HDB_PAGE_OFF_CHECKSUM + 8);
        if (h.low64 != lo || h.high64 != hi) {
            return hdb_err_set(err, HDB_CORRUPT,
                               "%s: page %llu: checksum mismatch: expected %016llx%016llx, "
                               "found %016llx%016llx",
                               file, (unsigned long long)pgno, (unsigned long long)hi,
                               (unsigned long long)lo, (unsigned long long)h.high64,
                               (unsigned long long)h.low64);
        }
    }
    uint16_t version = hdb_get16(page + HDB_PAGE_OFF_VERSION);
    if (version != HDB_FORMAT_VERSION) {
        return hdb_err_set(err, HDB_CORRUPT,
                           "%s: page %llu: format version %u (this build reads %u)", file,
                           (unsigned long long)pgno, version, HDB_FORMAT_VERSION);
    }
    uint64_t stored = hdb_page_pgno(page);
    if (stored != pgno) {
        return hdb_err_set(err, HDB_CORRUPT,
                           "%s: page %llu: holds page number %llu (misdirected write)", file,
                           (unsigned long long)pgno, (unsigned long long)stored);
    }
    return HDB_OK;
}
