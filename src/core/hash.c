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

/* The 1..7 bytes at 'p' as a zero-padded little-endian word, without a
 * variable-length copy: two overlapping 4-byte loads for 4..7 bytes (the
 * bytes they share are the same, so OR keeps them), three single bytes
 * (some the same) for 1..3. */
static inline uint64_t
load_tail(const uint8_t *p, size_t n)
{
    if (n >= 4) {
        return load32(p) | load32(p + n - 4) << (8 * (n - 4));
    }
    return (uint64_t)p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) |
           (uint64_t)p[n - 1] << (8 * (n - 1));
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
        hash = hash_add64(hash, load_tail(p + i, n - i));
    }
    return hash_finish(hash, (uint32_t)n);
}
