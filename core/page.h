/*
 * page.h — the fixed-size page every data file is made of, and its checksum.
 *
 * A data file is an array of pages of `page_size` bytes (a power of two,
 * 4 KiB to 64 KiB). Page N lives at byte offset N * page_size. Pages 0 and
 * 1 are the two superblock copies; every other page belongs to a B+tree
 * (branch, leaf), an overflow chain or the free-list chain.
 *
 * Common header, 64 bytes, little-endian:
 *
 *   off  size  field
 *     0     4  magic      HDB_PAGE_MAGIC ("HDBP")
 *     4     2  version    HDB_FORMAT_VERSION
 *     6     1  type       enum hdb_page_type
 *     7     1  flags      type-specific
 *     8     8  pgno       the page's own number (catches misdirected writes)
 *    16     8  gen        generation of the version that created the page
 *    24    16  checksum   XXH3-128 (low 64 bits, then high 64 bits) of
 *                         bytes [0, 24) followed by bytes [40, page_size)
 *    40    24  type-specific header fields (see btree.c, store.c)
 *    64     -  body
 *
 * The checksum is computed when a page is written (hdb_page_seal) and
 * verified when it is read from disk (hdb_page_check); a mismatch is
 * HDB_CORRUPT naming the file, page number, expected and found checksum.
 */
#ifndef HDB_PAGE_H
#define HDB_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

#define HDB_PAGE_MAGIC        0x50424448u /* "HDBP" */
#define HDB_FORMAT_VERSION    1
#define HDB_PAGE_HEADER_BYTES 64
#define HDB_PAGE_SIZE_MIN     4096u
#define HDB_PAGE_SIZE_MAX     65536u
#define HDB_PAGE_SIZE_DEFAULT 16384u

#define HDB_PAGE_OFF_MAGIC       0
#define HDB_PAGE_OFF_VERSION     4
#define HDB_PAGE_OFF_TYPE        6
#define HDB_PAGE_OFF_FLAGS       7
#define HDB_PAGE_OFF_PGNO        8
#define HDB_PAGE_OFF_GEN         16
#define HDB_PAGE_OFF_CHECKSUM    24
#define HDB_PAGE_OFF_TYPE_HEADER 40

_Static_assert(HDB_PAGE_SIZE_MIN % 4096 == 0, "pages must be whole 4 KiB blocks for O_DIRECT");
_Static_assert(HDB_PAGE_OFF_TYPE_HEADER + 24 == HDB_PAGE_HEADER_BYTES, "header layout");

enum hdb_page_type {
    HDB_PAGE_FREE = 0, /* never written or zeroed */
    HDB_PAGE_SUPER = 1,
    HDB_PAGE_BRANCH = 2,
    HDB_PAGE_LEAF = 3,
    HDB_PAGE_OVERFLOW = 4,
    HDB_PAGE_FREELIST = 5,
    HDB_PAGE_CATALOG = 6,
    HDB_PAGE_SNAPSHOTS = 7,
};

/* True if `page_size` is a supported page size. */
bool hdb_page_size_valid(uint32_t page_size);

/* Zeroes the page and writes the common header (checksum left zero). */
void hdb_page_init(uint8_t *page, uint32_t page_size, enum hdb_page_type type, uint64_t pgno,
                   uint64_t gen);

/* Computes and stores the checksum; call after the last change, before writing. */
void hdb_page_seal(uint8_t *page, uint32_t page_size);

/*
 * Verifies magic, version, page number and (if `verify_checksum`) the
 * checksum of a page read from `file`. Returns HDB_OK or HDB_CORRUPT with a
 * message naming file, page number and, for a checksum mismatch, the
 * expected (stored) and found (computed) checksums.
 */
int hdb_page_check(const uint8_t *page, uint32_t page_size, uint64_t pgno, const char *file,
                   bool verify_checksum, struct hdb_err *err);

static inline enum hdb_page_type hdb_page_type(const uint8_t *page)
{
    return (enum hdb_page_type)page[HDB_PAGE_OFF_TYPE];
}
uint64_t hdb_page_pgno(const uint8_t *page);
uint64_t hdb_page_gen(const uint8_t *page);

#endif
