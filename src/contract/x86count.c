/* Single-step instruction counting; see x86count.h. */
#include "x86count.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

static __thread volatile uint64_t x86count_steps;
static pthread_once_t x86count_once = PTHREAD_ONCE_INIT;
static uint64_t x86count_overhead; /* Steps of the harness around fn. */

static void
x86count_trap(int sig, siginfo_t *info, void *uctx)
{
    (void)sig;
    (void)info;
    (void)uctx;
    x86count_steps++;
}

/* The harness: set TF, call, clear TF.  noinline and noipa keep the call
 * sequence identical for every 'fn', so that one measurement of it can be
 * subtracted. */
__attribute__((noinline, noipa)) static void
x86count_step(void (*fn)(void *), void *arg)
{
    __asm__ volatile("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq" ::: "memory",
                     "cc");
    fn(arg);
    __asm__ volatile("pushfq\n\tandq $~0x100, (%%rsp)\n\tpopfq" ::: "memory",
                     "cc");
}

/* A function that is a lone RET, to measure the harness. */
__attribute__((noinline, noipa)) static void
x86count_empty(void *arg)
{
    (void)arg;
}

static uint64_t
x86count_raw(void (*fn)(void *), void *arg)
{
    x86count_steps = 0;
    x86count_step(fn, arg);
    return x86count_steps;
}

static void
x86count_init(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = x86count_trap;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTRAP, &sa, NULL);
    /* The empty function executes exactly one instruction (its RET): the
     * rest is harness.  Take the minimum of a few runs in case a signal
     * of another kind interrupted one. */
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 8; i++) {
        uint64_t n = x86count_raw(x86count_empty, NULL);
        best = n < best ? n : best;
    }
    x86count_overhead = best - 1;
}

uint64_t
x86count_run(void (*fn)(void *), void *arg)
{
    pthread_once(&x86count_once, x86count_init);
    uint64_t n = x86count_raw(fn, arg);
    return n > x86count_overhead ? n - x86count_overhead : 0;
}
