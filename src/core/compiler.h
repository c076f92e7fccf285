/* Compiler helpers shared by every module. */
#ifndef CORE_COMPILER_H
#define CORE_COMPILER_H 1

#include <stddef.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define WARN_UNUSED_RESULT __attribute__((warn_unused_result))
#define NOINLINE __attribute__((noinline))
#define PRINTF_FORMAT(fmt, args) __attribute__((format(printf, fmt, args)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define ROUND_UP(x, y) (((x) + (y)-1) / (y) * (y))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
