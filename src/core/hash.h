/* Fast non-cryptographic hashing of words and byte strings.
 *
 * Used for flow-key hashing in the classifier and datapath: the flow key is
 * hashed 32 bits at a time (word-wise, so masked keys hash without copying).
 * The mixer is a Murmur3-style finalised multiply-rotate chain; a 'basis'
 * seeds each table so hashes differ between tables. */
#ifndef CORE_HASH_H
#define CORE_HASH_H 1

#include <stddef.h>
#include <stdint.h>

static inline uint32_t
hash_rot(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

static inline uint32_t
hash_add(uint32_t hash, uint32_t data)
{
    data *= 0xcc9e2d51;
    data = hash_rot(data, 15);
    data *= 0x1b873593;
    hash ^= data;
    hash = hash_rot(hash, 13);
    return hash * 5 + 0xe6546b64;
}

static inline uint32_t
hash_add64(uint32_t hash, uint64_t data)
{
    return hash_add(hash_add(hash, (uint32_t)data), (uint32_t)(data >> 32));
}

static inline uint32_t
hash_finish(uint32_t hash, uint32_t final)
{
    hash ^= final;
    hash ^= hash >> 16;
    hash *= 0x85ebca6b;
    hash ^= hash >> 13;
    hash *= 0xc2b2ae35;
    hash ^= hash >> 16;
    return hash;
}

/* Hashes 'n' bytes at 'p' (any alignment). */
uint32_t hash_bytes(const void *p, size_t n, uint32_t basis);

/* Hashes 'n_words' 64-bit words. */
static inline uint32_t
hash_words64(const uint64_t *p, size_t n_words, uint32_t basis)
{
    uint32_t hash = basis;
    for (size_t i = 0; i < n_words; i++) {
        hash = hash_add64(hash, p[i]);
    }
    return hash_finish(hash, (uint32_t)(n_words * 8));
}

#endif
