/* The benchmarks' random numbers: a small fixed-seed generator
 * (xorshift64*), so that every run of a benchmark uses the same packets,
 * rules and flow sequences.  Each benchmark keeps its own state, starting
 * at BENCH_RNG_SEED. */
#ifndef BENCH_BENCH_RNG_H
#define BENCH_BENCH_RNG_H 1

#include <stdint.h>

#define BENCH_RNG_SEED 0x9e3779b97f4a7c15ull

/* Advances '*state' and returns the next 32 random bits. */
static inline uint32_t
bench_rng(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545f4914f6cdd1dull) >> 32);
}

#endif
