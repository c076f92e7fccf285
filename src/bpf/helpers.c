/* eBPF helpers with the kernel's IDs, arguments, return values and errno
 * (bpf-helpers(7)).  The verifier has already checked the argument kinds
 * (helper_protos.c), so a helper trusts its pointers: a map argument is a
 * struct bpf_map *, a key points to key_size readable bytes, an XDP
 * context is the struct bpf_xdp_buff of the running program.
 *
 * Differences from the kernel, all forced by running in user space:
 *  - bpf_redirect_map takes an ARRAY (or HASH) map with u32 keys and u32
 *    values holding sluice port numbers instead of a DEVMAP: the value is
 *    stored as the redirect port; a missing key returns the low two bits of
 *    'flags' (the XDP action on failure), as for a DEVMAP.
 *  - bpf_trace_printk writes to the sluice log (module "bpf", level info,
 *    rate-limited) instead of trace_pipe.
 *  - ktime_get_ns and jiffies64 read the packet's time when the caller set
 *    one (offline runs), else CLOCK_MONOTONIC; jiffies tick at 250 Hz.
 *  - get_numa_node_id is the node of the CPU the thread first ran it on.
 *  - Where the kernel answers ENOTSUPP (524, a kernel-internal errno with
 *    no userspace name: bpf_xdp_adjust_meta without metadata support),
 *    sluice answers -EOPNOTSUPP. */
#include "bpf/helpers.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bpf/bpf_log.h"
#include "bpf/maps.h"

#define ETH_HLEN 14
/* The kernel's BPF_F_ACTION_MASK: XDP_ABORTED to XDP_TX. */
#define XDP_ACTION_MASK 3ull
#define PRINTK_ARGS_MAX 3
#define PRINTK_STR_MAX 256

BPF_TLS struct bpf_run_ctx *bpf_run_cur;
BPF_TLS uint64_t bpf_time_ns;
BPF_TLS bool bpf_time_set;

static BPF_TLS uint64_t prandom_state[2];
static BPF_TLS int numa_node = -1;

static void *
ptr(uint64_t x)
{
    return (void *)(uintptr_t)x;
}

static uint64_t
u64_of(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

static uint64_t
helper_map_lookup_elem(uint64_t map, uint64_t key, uint64_t r3, uint64_t r4,
                       uint64_t r5)
{
    struct bpf_map *m = ptr(map);
    return u64_of(m->ops->lookup(m, ptr(key)));
}

static uint64_t
helper_map_update_elem(uint64_t map, uint64_t key, uint64_t value,
                       uint64_t flags, uint64_t r5)
{
    struct bpf_map *m = ptr(map);
    return (uint64_t)(int64_t)m->ops->update(m, ptr(key), ptr(value), flags);
}

static uint64_t
helper_map_delete_elem(uint64_t map, uint64_t key, uint64_t r3, uint64_t r4,
                       uint64_t r5)
{
    struct bpf_map *m = ptr(map);
    return (uint64_t)(int64_t)m->ops->delete (m, ptr(key));
}

static uint64_t
now_ns(void)
{
    if (bpf_time_set) {
        return bpf_time_ns;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
helper_ktime_get_ns(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                    uint64_t r5)
{
    return now_ns();
}

static uint64_t
helper_jiffies64(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                 uint64_t r5)
{
    return now_ns() / (1000000000ull / BPF_JIFFIES_HZ);
}

/* xorshift128+, seeded per thread from getrandom() on first use. */
static uint64_t
helper_get_prandom_u32(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                       uint64_t r5)
{
    uint64_t *s = prandom_state;
    if (unlikely(!s[0] && !s[1])) {
        if (getrandom(s, 2 * sizeof *s, 0) != 2 * sizeof *s || !(s[0] | s[1])) {
            s[0] = 0x9e3779b97f4a7c15ull ^ u64_of(s);
            s[1] = 0xbf58476d1ce4e5b9ull;
        }
    }
    uint64_t x = s[0], y = s[1];
    s[0] = y;
    x ^= x << 23;
    s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return (uint32_t)((s[1] + y) >> 32);
}

static uint64_t
helper_get_smp_processor_id(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                            uint64_t r5)
{
    return bpf_cur_cpu;
}

static uint64_t
helper_get_numa_node_id(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                        uint64_t r5)
{
    if (unlikely(numa_node < 0)) {
        unsigned int cpu, node;
        numa_node = getcpu(&cpu, &node) == 0 ? (int)node : 0;
    }
    return (uint64_t)numa_node;
}

/* Copies up to 'n' - 1 bytes of the NUL-terminated string at 'addr' into
 * 'buf' without faulting on a bad address (the kernel's
 * strncpy_from_kernel_nofault): an unreadable string prints as empty. */
static void
read_string_nofault(uint64_t addr, char *buf, size_t n)
{
    size_t got = 0;
    long page = sysconf(_SC_PAGESIZE);

    while (got < n - 1) {
        uint64_t a = addr + got;
        size_t chunk = (size_t)page - (size_t)(a % (uint64_t)page);
        chunk = MIN(chunk, n - 1 - got);
        struct iovec local = {buf + got, chunk};
        struct iovec remote = {ptr(a), chunk};
        ssize_t r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (r <= 0) {
            break;
        }
        if (memchr(buf + got, '\0', (size_t)r)) {
            return;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
}

/* Formats like the kernel's bpf_trace_printk: at most three arguments,
 * conversions %d %i %u %x %X %c %s %p (with optional l or ll length and
 * %px/%pK), %% for a percent sign.  Returns the length of the output or
 * -EINVAL for a format the kernel would reject. */
static int
printk_format(const char *fmt, size_t fmt_size, const uint64_t args[3],
              char *out, size_t out_size)
{
    size_t len = 0;
    int n_args = 0;

    if (!fmt_size || fmt[fmt_size - 1] != '\0') {
        return -EINVAL;
    }
    for (size_t i = 0; fmt[i]; i++) {
        char piece[PRINTK_STR_MAX + 32];
        int k;
        unsigned char c = (unsigned char)fmt[i];

        if (c >= 0x80 || (c < 0x20 && c != '\n' && c != '\t' && c != '\r' &&
                          c != '\v' && c != '\f')) {
            return -EINVAL;
        }
        if (c != '%') {
            piece[0] = (char)c;
            k = 1;
        } else if (fmt[i + 1] == '%') {
            piece[0] = '%';
            k = 1;
            i++;
        } else {
            if (n_args == PRINTK_ARGS_MAX) {
                return -EINVAL;
            }
            uint64_t arg = args[n_args++];
            int longs = 0;
            i++;
            if (fmt[i] == 'p') {
                /* %p, %px and %pK all print the raw address here: there is
                 * no kernel address to hide. */
                if (fmt[i + 1] == 'x' || fmt[i + 1] == 'K') {
                    i++;
                }
                k = snprintf(piece, sizeof piece, "%016llx",
                             (unsigned long long)arg);
            } else if (fmt[i] == 's') {
                char s[PRINTK_STR_MAX];
                read_string_nofault(arg, s, sizeof s);
                k = snprintf(piece, sizeof piece, "%s", s);
            } else if (fmt[i] == 'c') {
                piece[0] = (char)arg;
                k = 1;
            } else {
                while (fmt[i] == 'l' && longs < 2) {
                    longs++;
                    i++;
                }
                char conv = fmt[i];
                if (!longs) {
                    arg = conv == 'd' || conv == 'i'
                              ? (uint64_t)(int64_t)(int32_t)arg
                              : (uint32_t)arg;
                }
                switch (conv) {
                case 'd':
                case 'i':
                    k = snprintf(piece, sizeof piece, "%lld", (long long)arg);
                    break;
                case 'u':
                    k = snprintf(piece, sizeof piece, "%llu",
                                 (unsigned long long)arg);
                    break;
                case 'x':
                    k = snprintf(piece, sizeof piece, "%llx",
                                 (unsigned long long)arg);
                    break;
                case 'X':
                    k = snprintf(piece, sizeof piece, "%llX",
                                 (unsigned long long)arg);
                    break;
                default:
                    return -EINVAL;
                }
            }
        }
        if (k > 0 && len + 1 < out_size) {
            size_t take = MIN((size_t)k, out_size - 1 - len);
            memcpy(out + len, piece, take);
            len += take;
        }
    }
    out[len] = '\0';
    return (int)len;
}

static uint64_t
helper_trace_printk(uint64_t fmt, uint64_t fmt_size, uint64_t a1, uint64_t a2,
                    uint64_t a3)
{
    const uint64_t args[3] = {a1, a2, a3};
    char out[512];
    int n = printk_format(ptr(fmt), fmt_size, args, out, sizeof out);
    if (n < 0) {
        return (uint64_t)(int64_t)n;
    }
    const struct bpf_prog *prog = bpf_run_cur ? bpf_run_cur->prog : NULL;
    size_t len = (size_t)n;
    while (len && out[len - 1] == '\n') {
        len--;
    }
    LOG_INFO_RL("%s: %.*s", prog ? prog->name : "?", (int)len, out);
    return (uint64_t)n;
}

static uint64_t
helper_redirect(uint64_t ifindex, uint64_t flags, uint64_t r3, uint64_t r4,
                uint64_t r5)
{
    struct bpf_xdp_buff *xdp = bpf_run_cur ? bpf_run_cur->xdp : NULL;
    if (flags || !xdp) {
        return XDP_ABORTED;
    }
    xdp->redirect_port = (uint32_t)ifindex;
    xdp->redirect_flags = flags;
    return XDP_REDIRECT;
}

static uint64_t
helper_redirect_map(uint64_t map, uint64_t key, uint64_t flags, uint64_t r4,
                    uint64_t r5)
{
    struct bpf_map *m = ptr(map);
    struct bpf_xdp_buff *xdp = bpf_run_cur ? bpf_run_cur->xdp : NULL;
    uint32_t k = (uint32_t)key;

    if ((flags & ~XDP_ACTION_MASK) || !xdp) {
        return XDP_ABORTED;
    }
    const uint32_t *port = NULL;
    if (m->key_size == 4 && m->value_size == 4 &&
        (m->type == BPF_MAP_TYPE_ARRAY || m->type == BPF_MAP_TYPE_HASH)) {
        port = m->ops->lookup(m, &k);
    }
    if (!port) {
        return flags & XDP_ACTION_MASK;
    }
    xdp->redirect_port = *port;
    xdp->redirect_flags = 0;
    return XDP_REDIRECT;
}

/* The kernel's csum_partial() as x86-64 computes it: 64-bit little-endian
 * words added with end-around carry, a zero-padded tail, then folded to
 * 32 bits.  Ones' complement sums give 0 only for all-zero input, so the
 * order of the additions does not change the result. */
static uint64_t
add64_with_carry(uint64_t a, uint64_t b)
{
    uint64_t r = a + b;
    return r + (r < b);
}

static uint32_t
csum_partial(const uint8_t *p, uint64_t len, uint32_t sum)
{
    uint64_t t = sum, w;

    for (; len >= 8; len -= 8, p += 8) {
        memcpy(&w, p, 8);
        t = add64_with_carry(t, w);
    }
    if (len) {
        w = 0;
        memcpy(&w, p, len);
        t = add64_with_carry(t, w);
    }
    return (uint32_t)((t + (t >> 32 | t << 32)) >> 32);
}

static uint32_t
csum_sub(uint32_t a, uint32_t b)
{
    uint32_t r = a + ~b;
    return r + (r < ~b);
}

/* bpf_csum_diff() of current kernels (6.13 and later): any sizes, the
 * difference csum(to) - csum(from) seeded with 'seed', folded to 16 bits
 * on every architecture (older kernels required multiples of 4 bytes, at
 * most 512, and returned x86's 32-bit sum).  The differential test in
 * test_bpf_interp.c checks this against the running kernel. */
static uint64_t
helper_csum_diff(uint64_t from, uint64_t from_size, uint64_t to,
                 uint64_t to_size, uint64_t seed)
{
    uint32_t ret = (uint32_t)seed;

    if (from_size && to_size) {
        ret = csum_sub(csum_partial(ptr(to), to_size, ret),
                       csum_partial(ptr(from), from_size, 0));
    } else if (to_size) {
        ret = csum_partial(ptr(to), to_size, ret);
    } else if (from_size) {
        ret = ~csum_partial(ptr(from), from_size, ~ret);
    }
    /* csum_from32to16(): add the halves with end-around carry. */
    ret += ret >> 16 | ret << 16;
    return ret >> 16;
}

static uint8_t *
u8p(uint64_t x)
{
    return ptr(x);
}

/* Metadata length, or 0 when the buffer does not support metadata (the
 * kernel marks that with data_meta = data + 1). */
static uint64_t
xdp_metalen(const struct bpf_xdp_buff *xdp)
{
    return xdp->data_meta > xdp->data ? 0 : xdp->data - xdp->data_meta;
}

static uint64_t
helper_xdp_adjust_head(uint64_t ctx, uint64_t offset_, uint64_t r3, uint64_t r4,
                       uint64_t r5)
{
    struct bpf_xdp_buff *xdp = ptr(ctx);
    int64_t offset = (int32_t)offset_;
    uint64_t metalen = xdp_metalen(xdp);
    uint64_t data_start = xdp->data_hard_start + BPF_XDP_FRAME_SIZE + metalen;
    uint64_t data = xdp->data + (uint64_t)offset;

    if (data < data_start || data > xdp->data_end - ETH_HLEN) {
        return (uint64_t)-EINVAL;
    }
    if (metalen) {
        memmove(u8p(xdp->data_meta + (uint64_t)offset), u8p(xdp->data_meta),
                metalen);
    }
    if (xdp->data_meta <= xdp->data) {
        xdp->data_meta += (uint64_t)offset;
    } else {
        xdp->data_meta = data + 1;
    }
    xdp->data = data;
    return 0;
}

static uint64_t
helper_xdp_adjust_meta(uint64_t ctx, uint64_t offset_, uint64_t r3, uint64_t r4,
                       uint64_t r5)
{
    struct bpf_xdp_buff *xdp = ptr(ctx);
    int64_t offset = (int32_t)offset_;

    if (xdp->data_meta > xdp->data) {
        return (uint64_t)-EOPNOTSUPP;
    }
    uint64_t meta = xdp->data_meta + (uint64_t)offset;
    if (meta < xdp->data_hard_start + BPF_XDP_FRAME_SIZE || meta > xdp->data) {
        return (uint64_t)-EINVAL;
    }
    uint64_t metalen = xdp->data - meta;
    if ((metalen & 3) || metalen > BPF_XDP_META_MAX) {
        return (uint64_t)-EACCES;
    }
    xdp->data_meta = meta;
    return 0;
}

static uint64_t
helper_xdp_adjust_tail(uint64_t ctx, uint64_t offset_, uint64_t r3, uint64_t r4,
                       uint64_t r5)
{
    struct bpf_xdp_buff *xdp = ptr(ctx);
    int64_t offset = (int32_t)offset_;
    uint64_t data_end = xdp->data_end + (uint64_t)offset;

    if (data_end > xdp->frame_end || data_end < xdp->data + ETH_HLEN) {
        return (uint64_t)-EINVAL;
    }
    if (offset > 0) {
        /* Grown bytes are zeroed, as in the kernel. */
        memset(u8p(xdp->data_end), 0, (size_t)offset);
    }
    xdp->data_end = data_end;
    return 0;
}

static uint64_t
helper_map_push_elem(uint64_t map, uint64_t value, uint64_t flags, uint64_t r4,
                     uint64_t r5)
{
    struct bpf_map *m = ptr(map);
    return m->ops->push ? (uint64_t)(int64_t)m->ops->push(m, ptr(value), flags)
                        : (uint64_t)-EINVAL;
}

static uint64_t
helper_map_pop_elem(uint64_t map, uint64_t value, uint64_t r3, uint64_t r4,
                    uint64_t r5)
{
    struct bpf_map *m = ptr(map);
    return m->ops->pop ? (uint64_t)(int64_t)m->ops->pop(m, ptr(value))
                       : (uint64_t)-EINVAL;
}

static uint64_t
helper_map_peek_elem(uint64_t map, uint64_t value, uint64_t r3, uint64_t r4,
                     uint64_t r5)
{
    struct bpf_map *m = ptr(map);
    return m->ops->peek ? (uint64_t)(int64_t)m->ops->peek(m, ptr(value))
                        : (uint64_t)-EINVAL;
}

static uint64_t
helper_ringbuf_output(uint64_t map, uint64_t data, uint64_t size,
                      uint64_t flags, uint64_t r5)
{
    return (uint64_t)(int64_t)bpf_ringbuf_output(ptr(map), ptr(data), size,
                                                 flags);
}

static uint64_t
helper_ringbuf_reserve(uint64_t map, uint64_t size, uint64_t flags, uint64_t r4,
                       uint64_t r5)
{
    return u64_of(bpf_ringbuf_reserve(ptr(map), size, flags));
}

static uint64_t
helper_ringbuf_submit(uint64_t data, uint64_t flags, uint64_t r3, uint64_t r4,
                      uint64_t r5)
{
    bpf_ringbuf_commit(ptr(data), flags, false);
    return 0;
}

static uint64_t
helper_ringbuf_discard(uint64_t data, uint64_t flags, uint64_t r3, uint64_t r4,
                       uint64_t r5)
{
    bpf_ringbuf_commit(ptr(data), flags, true);
    return 0;
}

static uint64_t
helper_ringbuf_query(uint64_t map, uint64_t flags, uint64_t r3, uint64_t r4,
                     uint64_t r5)
{
    return bpf_ringbuf_query(ptr(map), flags);
}

/* bpf_tail_call never gets here: the interpreter performs it. */
#define helper_tail_call NULL

struct helper_entry {
    int32_t id;
    const char *name;
    bpf_helper_fn *fn;
};

static const struct helper_entry helpers[] = {
#define HELPER_ENTRY(NAME) {BPF_FUNC_##NAME, #NAME, helper_##NAME},
    BPF_HELPER_LIST(HELPER_ENTRY)
#undef HELPER_ENTRY
};

/* Direct index by ID; built once from 'helpers'. */
#define HELPER_ID_MAX 256
static const struct helper_entry *by_id[HELPER_ID_MAX];

__attribute__((constructor)) static void
helpers_index(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(helpers); i++) {
        by_id[helpers[i].id] = &helpers[i];
    }
}

static const struct helper_entry *
entry(int32_t id)
{
    return id >= 0 && id < HELPER_ID_MAX ? by_id[id] : NULL;
}

bpf_helper_fn *
bpf_helper_func(int32_t id)
{
    const struct helper_entry *e = entry(id);
    return e ? e->fn : NULL;
}

const char *
bpf_helper_name(int32_t id)
{
    const struct helper_entry *e = entry(id);
    return e ? e->name : NULL;
}

bool
bpf_helper_known(int32_t id)
{
    return entry(id) != NULL;
}

size_t
bpf_helper_ids(int32_t *ids, size_t n)
{
    for (size_t i = 0; i < ARRAY_SIZE(helpers) && i < n; i++) {
        ids[i] = helpers[i].id;
    }
    return ARRAY_SIZE(helpers);
}
