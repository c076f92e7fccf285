/* Cheap time stamps for statistics on the fast path.
 *
 * clock_cycles() reads the CPU's time-stamp counter (about 20 cycles, no
 * system call); clock_cycles_to_ns() converts a cycle count with a rate
 * calibrated once against CLOCK_MONOTONIC the first time it is needed. */
#ifndef CORE_CLOCK_H
#define CORE_CLOCK_H 1

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
static inline uint64_t
clock_cycles(void)
{
    return __rdtsc();
}
#else
#include <time.h>
static inline uint64_t
clock_cycles(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#endif

/* Monotonic wall time in ns. */
uint64_t clock_now_ns(void);
/* Cycles per ns of clock_cycles() (1.0 where it already counts ns). */
double clock_cycles_per_ns(void);
static inline uint64_t
clock_cycles_to_ns(uint64_t cycles)
{
    return (uint64_t)((double)cycles / clock_cycles_per_ns());
}

#endif
