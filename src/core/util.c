#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
out_of_memory(void)
{
    fputs("sluice: out of memory\n", stderr);
    abort();
}

void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        out_of_memory();
    }
    return p;
}

void *
xzalloc(size_t size)
{
    return xcalloc(1, size);
}

void *
xzalloc_aligned(size_t align, size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : 1)) {
        out_of_memory();
    }
    memset(p, 0, size);
    return p;
}

void *
xzalloc_lines(size_t size)
{
    return xzalloc_aligned(64, ROUND_UP(size ? size : 1, 64));
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        out_of_memory();
    }
    return p;
}

void *
xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (!p) {
        out_of_memory();
    }
    return p;
}

char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *
xvasprintf(const char *fmt, va_list args)
{
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) {
        out_of_memory();
    }
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, args);
    return s;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *s = xvasprintf(fmt, args);
    va_end(args);
    return s;
}

void
ds_init(struct ds *ds)
{
    ds->buf = NULL;
    ds->len = 0;
    ds->cap = 0;
}

void
ds_clear(struct ds *ds)
{
    ds->len = 0;
    if (ds->buf) {
        ds->buf[0] = '\0';
    }
}

void
ds_destroy(struct ds *ds)
{
    free(ds->buf);
    ds_init(ds);
}

static void
ds_reserve(struct ds *ds, size_t extra)
{
    if (ds->len + extra + 1 > ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 64;
        while (cap < ds->len + extra + 1) {
            cap *= 2;
        }
        ds->buf = xrealloc(ds->buf, cap);
        ds->cap = cap;
    }
}

void
ds_put_buf(struct ds *ds, const char *s, size_t n)
{
    ds_reserve(ds, n);
    memcpy(ds->buf + ds->len, s, n);
    ds->len += n;
    ds->buf[ds->len] = '\0';
}

void
ds_put_char(struct ds *ds, char c)
{
    ds_put_buf(ds, &c, 1);
}

void
ds_put_cstr(struct ds *ds, const char *s)
{
    ds_put_buf(ds, s, strlen(s));
}

void
ds_put_format(struct ds *ds, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n > 0) {
        ds_reserve(ds, (size_t)n);
        vsnprintf(ds->buf + ds->len, (size_t)n + 1, fmt, args);
        ds->len += (size_t)n;
    }
    va_end(args);
}

void
ds_put_hex(struct ds *ds, const void *p_, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = p_;
    ds_reserve(ds, n * 2);
    for (size_t i = 0; i < n; i++) {
        ds->buf[ds->len++] = digits[p[i] >> 4];
        ds->buf[ds->len++] = digits[p[i] & 15];
    }
    ds->buf[ds->len] = '\0';
}

const char *
ds_cstr(struct ds *ds)
{
    if (!ds->buf) {
        ds_reserve(ds, 0);
        ds->buf[0] = '\0';
    }
    return ds->buf;
}

char *
ds_steal_cstr(struct ds *ds)
{
    ds_cstr(ds);
    char *s = ds->buf;
    ds_init(ds);
    return s;
}

void
ds_chomp(struct ds *ds, int c)
{
    if (ds->len && ds->buf[ds->len - 1] == (char)c) {
        ds->buf[--ds->len] = '\0';
    }
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

char *
hex_to_bytes(const char *s, uint8_t **out, size_t *len)
{
    size_t n = strlen(s);
    uint8_t *buf = xmalloc(n / 2 + 1);
    size_t used = 0;
    int hi = -1;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
    }
    for (size_t i = 0; s[i]; i++) {
        if (isspace((unsigned char)s[i]) || s[i] == ':') {
            continue;
        }
        int v = hexval((unsigned char)s[i]);
        if (v < 0) {
            free(buf);
            return xasprintf("column %zu: '%c' is not a hex digit", i + 1,
                             s[i]);
        }
        if (hi < 0) {
            hi = v;
        } else {
            buf[used++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        free(buf);
        return xstrdup("odd number of hex digits");
    }
    *out = buf;
    *len = used;
    return NULL;
}
