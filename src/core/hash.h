/* Fast non-cryptographic hashing of words and byte strings.
 *
 * Used for flow-key hashing in the classifier and datapath and for eBPF
 * hash-map keys: keys are hashed 64 bits at a time (word-wise, so masked
 * keys hash without copying).  Each word is mixed on its own, as a lane of
 * Murmur3's x64 variant does (multiply, rotate, multiply: every input bit
 * reaches the top half that is kept), which is off the critical path
 * since words do not depend on each other; the running 32-bit state then
 * takes one xor-rotate-multiply-add step per word, and Murmur3's
 * finaliser avalanches the result.  Half as many steps as 32-bit words
 * take, for the 8..64-byte keys that matter.  A 'basis' seeds each table
 * so hashes differ between tables. */
#ifndef CORE_HASH_H
#define CORE_HASH_H 1

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
    data *= 0x87c37b91114253d5ull;
    data = (data << 31) | (data >> 33);
    data *= 0x4cf5ad432745937full;
    hash ^= (uint32_t)(data >> 32);
    hash = hash_rot(hash, 13);
    return hash * 5 + 0xe6546b64;
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

/* The 64-bit Murmur3 finaliser, folded to 32 bits: every input bit
 * reaches every output bit.  Ends the flow-key and masked-key hashes,
 * whose word mixing is cheaper than hash_add64() but leaves the bits
 * unevenly spread. */
static inline uint32_t
hash_finish64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return (uint32_t)h;
}

/* The 1..7 bytes at 'p' as a zero-padded little-endian word, without a
 * variable-length copy: two overlapping 4-byte loads for 4..7 bytes (the
 * bytes they share are the same, so OR keeps them), three single bytes
 * (some the same) for 1..3.  Reads nothing past p + n. */
static inline uint64_t
hash_tail_word(const uint8_t *p, size_t n)
{
    uint32_t a, b;
    if (n >= 4) {
        memcpy(&a, p, 4);
        memcpy(&b, p + n - 4, 4);
        return (uint64_t)a | (uint64_t)b << (8 * (n - 4));
    }
    return (uint64_t)p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) |
           (uint64_t)p[n - 1] << (8 * (n - 1));
}

/* Hashes 'n' bytes at 'p' (any alignment): hash_add64() of each 8 bytes
 * (little-endian) and of the last 1..7 zero-padded, then hash_finish()
 * with 'n'. */
uint32_t hash_bytes(const void *p, size_t n, uint32_t basis);

/* Hashes 'n_words' 64-bit words: hash_bytes() of the same 8 * n_words
 * bytes on a little-endian machine. */
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
