/* Logging with per-module levels and a rate limiter.
 *
 * Each module declares its log module once (LOG_DEFINE_MODULE(bpf)) and logs
 * with LOG_ERR/LOG_WARN/LOG_INFO/LOG_DBG.  Levels can be changed at run time
 * per module (log_set_level("bpf", LOG_LEVEL_DBG)).  Anything reachable from
 * the fast path must log through the *_RL variants, which let at most a burst
 * of messages per second through and count the rest. */
#ifndef CORE_LOG_H
#define CORE_LOG_H 1

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

enum log_level {
    LOG_LEVEL_OFF,
    LOG_LEVEL_ERR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DBG,
};

struct log_module {
    const char *name;            /* Module name, e.g. "bpf". */
    enum log_level level;        /* Messages above this level are dropped. */
    struct log_module *next;     /* Registry list link. */
};

/* Token bucket: 'rate' messages per second, bursts of 'burst'. */
struct log_rl {
    unsigned int rate;           /* Messages per second. */
    unsigned int burst;          /* Bucket size, in messages. */
    double tokens;               /* Messages that may go out now. */
    uint64_t last_ns;            /* Monotonic time of the last refill. */
    uint64_t dropped;            /* Messages suppressed since the last one. */
};

#define LOG_RL_INIT(RATE, BURST) { RATE, BURST, BURST, 0, 0 }

void log_register(struct log_module *);
int log_set_level(const char *module, enum log_level);
int log_set_level_all(enum log_level);
/* Parses "err", "warn", "info", "dbg"/"debug" or "off"; -1 if unknown. */
int log_level_from_string(const char *);
void log_set_stream_fd(int fd);

void log_msg(struct log_module *, enum log_level, const char *fmt, ...)
    PRINTF_FORMAT(3, 4);
bool log_rl_allow(struct log_rl *);

#define LOG_DEFINE_MODULE(NAME)                                             \
    static struct log_module log_module_ = { #NAME, LOG_LEVEL_WARN, NULL }; \
    __attribute__((constructor)) static void log_module_init_(void)         \
    {                                                                       \
        log_register(&log_module_);                                         \
    }

#define LOG_AT_(LEVEL, ...)                                 \
    do {                                                    \
        if (unlikely(log_module_.level >= (LEVEL))) {       \
            log_msg(&log_module_, LEVEL, __VA_ARGS__);      \
        }                                                   \
    } while (0)

#define LOG_ERR(...) LOG_AT_(LOG_LEVEL_ERR, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT_(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT_(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_DBG(...) LOG_AT_(LOG_LEVEL_DBG, __VA_ARGS__)

#define LOG_RL_AT_(LEVEL, ...)                                      \
    do {                                                            \
        static struct log_rl rl_ = LOG_RL_INIT(5, 20);              \
        if (unlikely(log_module_.level >= (LEVEL))                  \
            && log_rl_allow(&rl_)) {                                \
            log_msg(&log_module_, LEVEL, __VA_ARGS__);              \
        }                                                           \
    } while (0)

#define LOG_WARN_RL(...) LOG_RL_AT_(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_INFO_RL(...) LOG_RL_AT_(LOG_LEVEL_INFO, __VA_ARGS__)

#endif
