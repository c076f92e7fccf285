/* The benchmarks' clock: the calling thread's CPU time, so that other
 * processes on a shared machine do not count against the code measured
 * (they still disturb its caches). */
#ifndef BENCH_BENCH_CLOCK_H
#define BENCH_BENCH_CLOCK_H 1

#include <stdint.h>
#include <time.h>

/* CPU time of the calling thread, ns. */
static inline uint64_t
bench_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
