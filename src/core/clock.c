#include "clock.h"

#include <time.h>

uint64_t
clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double
clock_cycles_per_ns(void)
{
    static double rate;

    if (rate == 0.0) {
#if defined(__x86_64__) || defined(__i386__)
        /* 5 ms against the monotonic clock gives better than 0.1%. */
        uint64_t t0 = clock_now_ns(), c0 = clock_cycles();
        uint64_t t1;
        do {
            t1 = clock_now_ns();
        } while (t1 - t0 < 5000000);
        uint64_t c1 = clock_cycles();
        rate = (double)(c1 - c0) / (double)(t1 - t0);
#else
        rate = 1.0;
#endif
    }
    return rate;
}
