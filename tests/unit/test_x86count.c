/* Tests for the single-step instruction counter (src/contract/x86count.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "contract/x86count.h"

/* Hand-written functions with a known instruction count: the counter must
 * report exactly these, independent of the compiler. */
void x86count_five(void *);   /* 4 instructions + RET. */
void x86count_loop(void *);   /* 2 + 3 per iteration (arg = count >= 1) +
                               * RET. */
__asm__(".text\n"
        ".globl x86count_five\n"
        "x86count_five:\n"
        "  mov %rdi, %rax\n"
        "  add $1, %rax\n"
        "  xor %rax, %rax\n"
        "  nop\n"
        "  ret\n"
        ".globl x86count_loop\n"
        "x86count_loop:\n"
        "  mov %rdi, %rcx\n"
        "  xor %eax, %eax\n"
        "1:\n"
        "  add %rcx, %rax\n"
        "  dec %rcx\n"
        "  jnz 1b\n"
        "  ret\n");

static void
test_exact_counts(void **state)
{
    (void)state;
    assert_int_equal(x86count_run(x86count_five, NULL), 5);
    for (uintptr_t n = 1; n <= 50; n += 7) {
        assert_int_equal(x86count_run(x86count_loop, (void *)n), 3 + 3 * n);
    }
}

static int side_effect;

static void
c_function(void *arg)
{
    side_effect += (int)(intptr_t)arg;
}

/* The function really runs, and counting twice gives the same figure. */
static void
test_runs_and_repeats(void **state)
{
    (void)state;
    side_effect = 0;
    uint64_t a = x86count_run(c_function, (void *)3);
    uint64_t b = x86count_run(c_function, (void *)4);
    assert_int_equal(side_effect, 7);
    assert_true(a >= 2);
    assert_int_equal(a, b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_counts),
        cmocka_unit_test(test_runs_and_repeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
