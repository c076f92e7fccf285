/* Byte-string hashing; see hash.h. */
#include "hash.h"

#include <string.h>

static inline uint64_t
load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 8 bytes as two 4-byte loads: keys are usually written just before they
 * are hashed, field by field, and a load that spans two earlier stores
 * cannot take its data from the store buffer (a stall of about a dozen
 * cycles), while one within a 4-byte or wider store can.  The empty asm
 * keeps the compiler from fusing the two loads back into one. */
static inline uint64_t
load64(const uint8_t *p)
{
    uint64_t lo = load32(p);
    __asm__("" : "+r"(lo));
    return lo | load32(p + 4) << 32;
}

uint32_t
hash_bytes(const void *p_, size_t n, uint32_t basis)
{
    const uint8_t *p = p_;
    uint32_t hash = basis;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        hash = hash_add64(hash, load64(p + i));
    }
    if (i < n) {
        hash = hash_add64(hash, hash_tail_word(p + i, n - i));
    }
    return hash_finish(hash, (uint32_t)n);
}
