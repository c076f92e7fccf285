/* Counting the x86-64 instructions a piece of code executes, by single
 * stepping.
 *
 * Performance contracts (issue 8) are checked against measured x86
 * instruction counts.  This machine's virtual CPU exposes no hardware
 * performance counters (perf_event_open() of
 * PERF_COUNT_HW_INSTRUCTIONS fails with ENOENT), so sluice measures the
 * exact count another way: it sets the trap flag (EFLAGS.TF) around the
 * call, the CPU raises a debug exception after every user-space
 * instruction, the kernel turns each into a SIGTRAP, and a handler counts
 * them.  The kernel clears TF while the handler runs, so the handler's own
 * instructions are not counted, and restores it on return.
 *
 * Differences from a hardware "instructions retired" counter, both
 * documented in docs/contracts.md: a REP-prefixed string instruction traps
 * once per iteration (so it counts as its iteration count, not 1), and a
 * system call counts as the one SYSCALL instruction (kernel work is not
 * user-space code).  Cost: a signal per instruction, about 1-3 us each, so
 * this is for checking contracts, never for the datapath. */
#ifndef CONTRACT_X86COUNT_H
#define CONTRACT_X86COUNT_H 1

#include <stdint.h>

/* Runs fn(arg) single-stepped and returns the number of instructions it
 * executed, from its first instruction to its RET inclusive (the call
 * sequence around it is measured once and subtracted).  Thread-safe: the
 * counter is per thread.  Installs a SIGTRAP handler on first use (a
 * debugger attached to sluice would see the traps). */
uint64_t x86count_run(void (*fn)(void *), void *arg);

#endif /* CONTRACT_X86COUNT_H */
