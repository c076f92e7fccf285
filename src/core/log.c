#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct log_module *modules;
static int log_fd = 2;

void
log_register(struct log_module *m)
{
    m->next = modules;
    modules = m;
}

int
log_set_level(const char *name, enum log_level level)
{
    for (struct log_module *m = modules; m; m = m->next) {
        if (!strcmp(m->name, name)) {
            m->level = level;
            return 0;
        }
    }
    return -ENOENT;
}

int
log_set_level_all(enum log_level level)
{
    for (struct log_module *m = modules; m; m = m->next) {
        m->level = level;
    }
    return 0;
}

int
log_level_from_string(const char *s)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {
        { "off", LOG_LEVEL_OFF },   { "err", LOG_LEVEL_ERR },
        { "warn", LOG_LEVEL_WARN }, { "info", LOG_LEVEL_INFO },
        { "dbg", LOG_LEVEL_DBG },   { "debug", LOG_LEVEL_DBG },
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (!strcmp(names[i].name, s)) {
            return (int)names[i].level;
        }
    }
    return -1;
}

void
log_set_stream_fd(int fd)
{
    log_fd = fd;
}

void
log_msg(struct log_module *m, enum log_level level, const char *fmt, ...)
{
    static const char *const level_names[] = { "off", "ERR", "WARN", "INFO",
                                               "DBG" };
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "sluice|%s|%s: ", m->name,
                     level_names[level]);
    va_list args;
    va_start(args, fmt);
    int k = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, args);
    va_end(args);
    size_t len = (size_t)n + (k < 0 ? 0 : (size_t)k);
    if (len > sizeof buf - 2) {
        len = sizeof buf - 2;
    }
    buf[len++] = '\n';
    ssize_t w = write(log_fd, buf, len);
    (void)w;
}

bool
log_rl_allow(struct log_rl *rl)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (rl->last_ns) {
        rl->tokens += (double)(now - rl->last_ns) * rl->rate / 1e9;
        if (rl->tokens > rl->burst) {
            rl->tokens = rl->burst;
        }
    }
    rl->last_ns = now;
    if (rl->tokens >= 1.0) {
        rl->tokens -= 1.0;
        rl->dropped = 0;
        return true;
    }
    rl->dropped++;
    return false;
}
