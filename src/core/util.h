/* Small allocation and string helpers.
 *
 * The x*() allocators abort on out-of-memory: they are used only on control
 * paths (loading a configuration, adding a flow) where there is no sensible
 * recovery, never on the per-packet fast path. */
#ifndef CORE_UTIL_H
#define CORE_UTIL_H 1

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xcalloc(size_t n, size_t size);
/* Zeroed memory aligned to 'align' (a power of 2, multiple of
 * sizeof(void *)), e.g. per-thread counters on their own cache lines;
 * freed with free(). */
void *xzalloc_aligned(size_t align, size_t size);
/* Zeroed memory on cache lines of its own: aligned to 64 bytes and
 * rounded up to a multiple of 64, so that nothing else allocated shares
 * its first or last line.  For a structure one datapath thread writes on
 * every batch (its pipeline's counters, its flow cache): allocated next to
 * another thread's, a shared line would bounce between the two cores. */
void *xzalloc_lines(size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) PRINTF_FORMAT(1, 2);
char *xvasprintf(const char *fmt, va_list args) PRINTF_FORMAT(1, 0);

/* Growable string buffer: 'buf' is always NUL-terminated once anything was
 * appended.  The owner frees 'buf' with ds_destroy(). */
struct ds {
    char *buf;       /* NUL-terminated contents, or NULL when empty. */
    size_t len;      /* Bytes used, excluding the NUL. */
    size_t cap;      /* Bytes allocated. */
};

#define DS_EMPTY_INITIALIZER { NULL, 0, 0 }

void ds_init(struct ds *);
void ds_clear(struct ds *);
void ds_destroy(struct ds *);
void ds_put_char(struct ds *, char);
void ds_put_cstr(struct ds *, const char *);
void ds_put_buf(struct ds *, const char *, size_t);
void ds_put_format(struct ds *, const char *fmt, ...) PRINTF_FORMAT(2, 3);
void ds_put_hex(struct ds *, const void *, size_t);
const char *ds_cstr(struct ds *);
/* Returns the string and leaves 'ds' empty; the caller frees it. */
char *ds_steal_cstr(struct ds *);
void ds_chomp(struct ds *, int c);

/* Parses hex digits (whitespace and ':' ignored) into a newly allocated
 * buffer stored in '*out' of '*len' bytes.  Returns NULL on success or an
 * error message the caller frees. */
char *hex_to_bytes(const char *s, uint8_t **out, size_t *len)
    WARN_UNUSED_RESULT;

#endif
