/* Worst-case traffic generation; see worst.h for the method. */
#include "contract/worst.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/interp.h"
#include "bpf/verifier.h"
#include "contract/mapcost.h"
#include "contract/x86count.h"
#include "core/hash.h"
#include "core/util.h"

#define W_HEADROOM 256
#define W_MAX_CONSTS 24        /* Branch constants tried. */
#define W_MAX_CFG 16           /* Configuration words tried. */
#define W_CFG_MAPS_MAX 4       /* Arrays this small hold configuration. */
#define W_IN_PORTS 3           /* Input ports tried: 0, 1, 2. */
#define W_KINDS 6              /* Packet templates. */
#define W_MAX_TRIES (1u << 28) /* Brute-force attempts at most. */
#define W_STEP_NS 1000         /* Packet spacing. */
#define W_KEY_MAX 512          /* Largest map key handled. */
#define W_OPT_MAX 40           /* TCP option bytes at most. */
#define W_MAX_LOOP_CONSTS 64   /* Branch constants for option atoms. */
#define W_MAX_ATOMS (2 + W_MAX_LOOP_CONSTS * W_MAX_LOOP_CONSTS) /* Atoms. */

/* Maps whose cost grows with chains. */
static bool
w_is_hash(const struct bpf_map *m)
{
    switch (bpf_map_type(m)) {
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_SLUICE_FLOWTABLE:
        return true;
    default:
        return false;
    }
}

/* The entries a hash-type map held before the build: configuration
 * (`nf bridge static`, `nf p0f load`), which every pass starts from. */
struct w_snap {
    uint8_t *kv;   /* 'n' keys, each followed by its value. */
    size_t n;
    size_t stride; /* Key size + the map's syscall value size. */
};

/* The state of one build: the program, its maps' configuration, and
 * packet time.  A flow table's clock never goes back, so each pass over
 * emptied maps (a candidate, the trace, its replay) starts later than
 * every time used before it. */
struct w_ctx {
    struct bpf_object *obj;
    struct bpf_prog *prog;
    uint64_t base_ns;     /* Time of the current pass's packet 0. */
    uint64_t max_ns;      /* Latest time given to the program. */
    uint8_t *scratch;     /* W_KEY_MAX bytes. */
    struct w_snap *snaps; /* Per map of 'obj'. */
};

static void
w_ctx_destroy(struct w_ctx *c)
{
    for (size_t i = 0; c->snaps && i < bpf_object_n_maps(c->obj); i++) {
        free(c->snaps[i].kv);
    }
    free(c->snaps);
    free(c->scratch);
}

/* A context for 'prog' of 'obj': its passes start after the latest clock
 * of its flow tables (earlier builds and replays on the same object), and
 * its hash-type maps other than flow tables are snapshotted. */
static bool
w_ctx_init(struct w_ctx *c, struct bpf_object *obj, struct bpf_prog *prog)
{
    memset(c, 0, sizeof *c);
    c->obj = obj;
    c->prog = prog;
    c->scratch = malloc(W_KEY_MAX);
    c->snaps = calloc(bpf_object_n_maps(obj) + 1, sizeof *c->snaps);
    if (!c->scratch || !c->snaps) {
        w_ctx_destroy(c);
        return false;
    }
    for (size_t i = 0; i < bpf_object_n_maps(obj); i++) {
        struct bpf_map *m = bpf_object_map(obj, i);
        struct bpf_flowtable_stats st;
        if (!bpf_flowtable_get_stats(m, &st)) {
            c->max_ns = st.clock_ns > c->max_ns ? st.clock_ns : c->max_ns;
            continue;
        }
        if (!w_is_hash(m)) {
            continue;
        }
        struct w_snap *sn = &c->snaps[i];
        uint32_t ks = bpf_map_key_size(m);
        sn->stride = ks + bpf_map_sys_value_size(m);
        size_t cap = 0;
        bool more = !bpf_map_next_key(m, NULL, c->scratch);
        while (more) {
            if (sn->n == cap) {
                cap = cap ? 2 * cap : 16;
                uint8_t *kv = realloc(sn->kv, cap * sn->stride);
                if (!kv) {
                    w_ctx_destroy(c);
                    return false;
                }
                sn->kv = kv;
            }
            uint8_t *e = sn->kv + sn->n * sn->stride;
            memcpy(e, c->scratch, ks);
            sn->n += !bpf_map_lookup(m, e, e + ks);
            more = !bpf_map_next_key(m, e, c->scratch);
        }
    }
    return true;
}

/* Whether 'key' is one of the snapshotted entries of map 'i'. */
static bool
w_in_snap(const struct w_ctx *c, size_t i, const uint8_t *key, uint32_t ks)
{
    const struct w_snap *sn = &c->snaps[i];
    for (size_t k = 0; k < sn->n; k++) {
        if (!memcmp(sn->kv + k * sn->stride, key, ks)) {
            return true;
        }
    }
    return false;
}

/* Brings the hash-type maps back to their snapshot and empties the flow
 * tables (LPM tries and arrays hold configuration the program does not
 * change), and starts a new pass. */
static void
w_clear(struct w_ctx *c)
{
    for (size_t i = 0; i < bpf_object_n_maps(c->obj); i++) {
        struct bpf_map *m = bpf_object_map(c->obj, i);
        if (bpf_map_type(m) == BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
            struct bpf_flowtable_stats st;
            bpf_flowtable_get_stats(m, &st);
            bpf_flowtable_configure(m, st.capacity, st.timeout_ns);
        } else if (w_is_hash(m)) {
            while (!bpf_map_next_key(m, NULL, c->scratch) &&
                   !bpf_map_delete(m, c->scratch)) {
            }
            const struct w_snap *sn = &c->snaps[i];
            uint32_t ks = bpf_map_key_size(m);
            for (size_t k = 0; k < sn->n; k++) {
                const uint8_t *e = sn->kv + k * sn->stride;
                bpf_map_update(m, e, e + ks, 0);
            }
        }
    }
    c->base_ns = c->max_ns + W_STEP_NS;
}

/* What the helper calls of one interpreter run did, probed as `contract
 * check` probes them. */
struct w_obs {
    const struct bpf_map *watch;      /* Keep the PCVs of calls on it. */
    uint64_t pcv_max[CONTRACT_PCV_N]; /* Largest in one call, */
    uint64_t pcv_sum[CONTRACT_PCV_N]; /* summed, */
    uint64_t calls;                   /* over this many calls. */
    /* The run's first LPM-trie lookup: its map, key and PCVs. */
    const struct bpf_map *lpm;
    uint8_t lpm_key[W_KEY_MAX];
    struct contract_pcvs lpm_pcvs;
};

static void
w_on_call(void *arg, int32_t helper, const uint64_t args[5])
{
    struct w_obs *o = arg;
    const struct bpf_helper_proto *proto = bpf_helper_proto(helper);
    if (!proto || proto->args[0] != BPF_ARG_CONST_MAP_PTR) {
        return;
    }
    const struct bpf_map *m = (const struct bpf_map *)(uintptr_t)args[0];
    struct contract_pcvs pcv;
    if (contract_mapcost_probe(helper, args, &pcv)) {
        return;
    }
    if (m == o->watch) {
        o->calls++;
        for (int i = 0; i < CONTRACT_PCV_N; i++) {
            o->pcv_max[i] =
                pcv.pcv[i] > o->pcv_max[i] ? pcv.pcv[i] : o->pcv_max[i];
            o->pcv_sum[i] += pcv.pcv[i];
        }
    }
    if (!o->lpm && helper == BPF_FUNC_map_lookup_elem &&
        bpf_map_type(m) == BPF_MAP_TYPE_LPM_TRIE &&
        bpf_map_key_size(m) <= W_KEY_MAX) {
        o->lpm = m;
        memcpy(o->lpm_key, (const void *)(uintptr_t)args[1],
               bpf_map_key_size(m));
        o->lpm_pcvs = pcv;
    }
}

struct w_run_arg {
    const struct bpf_prog *prog;
    struct bpf_xdp_buff *x;
};

static void
w_run_jit(void *arg)
{
    struct w_run_arg *a = arg;
    bpf_prog_run_xdp(a->prog, a->x);
}

/* Runs 'prog' on a copy of the packet at time 'rel_ns' of the current
 * pass.  Returns the eBPF instructions run by the counting interpreter
 * (helper calls observed into '*obs' when not NULL), or with 'x86' the x86
 * instructions of a single-stepped JIT run (or of the interpreter when the
 * JIT refused the program). */
static uint64_t
w_run(struct w_ctx *c, const uint8_t *pkt, uint32_t len, uint32_t in_port,
      uint64_t rel_ns, bool x86, struct w_obs *obs)
{
    uint8_t buf[W_HEADROOM + CONTRACT_WORST_PKT_MAX + 64];
    struct bpf_xdp_buff x;
    uint64_t t = c->base_ns + rel_ns;

    memcpy(buf + W_HEADROOM, pkt, len);
    memset(&x, 0, sizeof x);
    x.data_hard_start = (uint64_t)(uintptr_t)buf;
    x.data = x.data_meta = (uint64_t)(uintptr_t)(buf + W_HEADROOM);
    x.data_end = x.data + len;
    x.frame_end = (uint64_t)(uintptr_t)(buf + sizeof buf);
    x.ingress_ifindex = in_port;
    x.redirect_port = UINT32_MAX;
    c->max_ns = t > c->max_ns ? t : c->max_ns;
    bpf_set_time_ns(t);
    if (x86) {
        struct w_run_arg a = {c->prog, &x};
        bpf_prog_set_exec_mode(c->prog, BPF_EXEC_JIT);
        uint64_t n = x86count_run(w_run_jit, &a);
        bpf_prog_set_exec_mode(c->prog, BPF_EXEC_INTERP);
        return n;
    }
    struct bpf_interp_counts cnt;
    memset(&cnt, 0, sizeof cnt);
    if (obs) {
        cnt.on_call = w_on_call;
        cnt.arg = obs;
    }
    bpf_interp_run_xdp_counted(c->prog, &x, &cnt);
    return cnt.insns;
}

/* Recomputes the IPv4 header checksum of an Ethernet frame, if it holds
 * one: the bytes the method rewrites may lie in the header. */
static void
w_fix_ip4_csum(uint8_t *p, uint32_t len)
{
    if (len < 34 || p[12] != 0x08 || p[13] != 0x00 || (p[14] >> 4) != 4) {
        return;
    }
    uint32_t ihl = (uint32_t)(p[14] & 0xf) * 4, sum = 0;
    if (ihl < 20 || 14 + ihl > len) {
        return;
    }
    p[24] = p[25] = 0;
    for (uint32_t i = 0; i < ihl; i += 2) {
        sum += (uint32_t)(p[14 + i] << 8 | p[14 + i + 1]);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    p[24] = (uint8_t)(~sum >> 8);
    p[25] = (uint8_t)~sum;
}

static void
w_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Template 'kind' (0 UDP4, 1 TCP4 SYN, 2 TCP4 ACK, 3 ICMP4 echo, 4 UDP6,
 * 5 TCP6 SYN); 'dport' and 'dst4' as they lie in memory (raw bytes), 0 =
 * default.  Returns the length. */
static uint32_t
w_template(int kind, uint16_t dport_raw, uint32_t dst4_raw, uint8_t *p)
{
    static const uint8_t eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    bool v6 = kind >= 4;
    uint8_t proto = kind == 3 ? 1 : (kind == 0 || kind == 4) ? 17 : 6;
    uint32_t l4len = proto == 6 ? 20 : 8, payload = 18;
    uint32_t l3 = 14, l4 = l3 + (v6 ? 40 : 20);
    uint32_t len = l4 + l4len + payload;

    memset(p, 0, len);
    memcpy(p, eth, sizeof eth);
    if (v6) {
        w_put16(p + 12, 0x86dd);
        p[l3] = 0x60;
        w_put16(p + l3 + 4, (uint16_t)(l4len + payload));
        p[l3 + 6] = proto;
        p[l3 + 7] = 64;
        p[l3 + 8] = 0xfd;
        p[l3 + 23] = 1;
        p[l3 + 24] = 0xfd;
        p[l3 + 39] = 2;
    } else {
        w_put16(p + 12, 0x0800);
        p[l3] = 0x45;
        w_put16(p + l3 + 2, (uint16_t)(len - l3));
        w_put16(p + l3 + 6, 0x4000);
        p[l3 + 8] = 64;
        p[l3 + 9] = proto;
        p[l3 + 12] = 10;
        p[l3 + 15] = 1;
        p[l3 + 16] = 10;
        p[l3 + 18] = 1;
        p[l3 + 19] = 1;
        if (dst4_raw) {
            memcpy(p + l3 + 16, &dst4_raw, 4);
        }
        /* Header checksum. */
        uint32_t sum = 0;
        for (int i = 0; i < 20; i += 2) {
            sum += (uint32_t)(p[l3 + i] << 8 | p[l3 + i + 1]);
        }
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        w_put16(p + l3 + 10, (uint16_t)~sum);
    }
    if (proto == 1) {
        p[l4] = 8; /* Echo request. */
        w_put16(p + l4 + 4, 0x1234);
    } else {
        w_put16(p + l4, 1024);
        w_put16(p + l4 + 2, 80);
        if (dport_raw) {
            memcpy(p + l4 + 2, &dport_raw, 2);
        }
        if (proto == 17) {
            w_put16(p + l4 + 4, (uint16_t)(l4len + payload));
        } else {
            p[l4 + 12] = 0x50;
            p[l4 + 13] = kind == 2 ? 0x10 : 0x02;
            w_put16(p + l4 + 14, 65535);
        }
    }
    return len;
}

/* Immediate operands of the program's conditional jumps. */
static size_t
w_consts(const struct bpf_prog *prog, uint32_t *out, size_t max)
{
    size_t n = 0;
    for (uint32_t i = 0; i < prog->n_insns && n < max; i++) {
        const struct bpf_insn *in = &prog->insns[i];
        uint8_t cls = BPF_CLASS(in->code), op = BPF_OP(in->code);
        if ((cls != BPF_JMP && cls != BPF_JMP32) || BPF_SRC(in->code) ||
            op == BPF_JA || op == BPF_CALL || op == BPF_EXIT || !in->imm) {
            continue;
        }
        bool seen = false;
        for (size_t j = 0; j < n; j++) {
            seen |= out[j] == (uint32_t)in->imm;
        }
        if (!seen) {
            out[n++] = (uint32_t)in->imm;
        }
    }
    return n;
}

/* Configuration words: the first entries of the program's small arrays
 * (a VIP and its port in lb_cfg), as they lie in memory.  A packet field
 * compared with configuration needs them, and the program's branch
 * constants cannot know them.  'w32' and 'w16' get the distinct non-zero
 * aligned 32- and 16-bit words. */
static void
w_cfg_words(struct bpf_object *obj, uint32_t *w32, size_t *n32,
            uint16_t *w16, size_t *n16)
{
    uint8_t key[4] = {0}, val[256];
    *n32 = *n16 = 0;
    for (size_t i = 0; i < bpf_object_n_maps(obj); i++) {
        struct bpf_map *m = bpf_object_map(obj, i);
        uint32_t vs = bpf_map_value_size(m);
        if (bpf_map_type(m) != BPF_MAP_TYPE_ARRAY ||
            bpf_map_max_entries(m) > W_CFG_MAPS_MAX || vs > sizeof val ||
            bpf_map_key_size(m) != 4 || bpf_map_lookup(m, key, val)) {
            continue;
        }
        for (uint32_t off = 0; off + 2 <= vs; off += 2) {
            uint16_t v16;
            uint32_t v32;
            memcpy(&v16, val + off, 2);
            bool seen = !v16;
            for (size_t j = 0; j < *n16 && !seen; j++) {
                seen = w16[j] == v16;
            }
            if (!seen && *n16 < W_MAX_CFG) {
                w16[(*n16)++] = v16;
            }
            if (off % 4 || off + 4 > vs) {
                continue;
            }
            memcpy(&v32, val + off, 4);
            seen = v32 <= 0xffff;
            for (size_t j = 0; j < *n32 && !seen; j++) {
                seen = w32[j] == v32;
            }
            if (!seen && *n32 < W_MAX_CFG) {
                w32[(*n32)++] = v32;
            }
        }
    }
}

struct w_best {
    uint8_t pkt[CONTRACT_WORST_PKT_MAX];
    uint32_t len, in_port;
    uint64_t insns;
    struct bpf_map *map; /* Map it inserts into, or NULL. */
};

/* A key of hash-type map 'i' that is not in its snapshot (one a packet
 * inserted) into 'key'; false when there is none. */
static bool
w_new_key(const struct w_ctx *c, size_t i, uint8_t *key)
{
    struct bpf_map *m = bpf_object_map(c->obj, i);
    uint32_t ks = bpf_map_key_size(m);
    uint8_t next[W_KEY_MAX];
    bool more = !bpf_map_next_key(m, NULL, key);
    while (more && w_in_snap(c, i, key, ks)) {
        more = !bpf_map_next_key(m, key, next);
        memcpy(key, next, ks);
    }
    return more;
}

/* The index of map 'm' in the object. */
static size_t
w_map_index(const struct w_ctx *c, const struct bpf_map *m)
{
    size_t i = 0;
    while (i < bpf_object_n_maps(c->obj) && bpf_object_map(c->obj, i) != m) {
        i++;
    }
    return i;
}

static void
w_try(struct w_ctx *c, const uint8_t *pkt, uint32_t len, uint32_t in_port,
      struct w_best *best)
{
    w_clear(c);
    uint64_t insns = w_run(c, pkt, len, in_port, 0, false, NULL);
    struct bpf_map *hit = NULL;
    for (size_t i = 0; i < bpf_object_n_maps(c->obj) && !hit; i++) {
        struct bpf_map *m = bpf_object_map(c->obj, i);
        if (w_is_hash(m) && w_new_key(c, i, c->scratch)) {
            hit = m;
        }
    }
    /* Prefer candidates that create state (their class is the one whose
     * PCVs an attacker can grow), then the most instructions. */
    if ((hit && !best->map) || (!hit == !best->map && insns > best->insns)) {
        memcpy(best->pkt, pkt, len);
        best->len = len;
        best->in_port = in_port;
        best->insns = insns;
        best->map = hit;
    }
}

/* Step 1: the candidates.  Destination ports and addresses come from the
 * program's branch constants (both byte orders) and from its
 * configuration words, each alone and in pairs. */
static void
w_candidates(struct w_ctx *c, struct w_best *best)
{
    uint32_t consts[W_MAX_CONSTS], cfg32[W_MAX_CFG];
    uint16_t cfg16[W_MAX_CFG];
    size_t n_consts = w_consts(c->prog, consts, W_MAX_CONSTS), n32, n16;
    uint16_t dports[1 + 2 * W_MAX_CONSTS + W_MAX_CFG];
    uint32_t dsts[1 + 2 * W_MAX_CONSTS + W_MAX_CFG];
    size_t n_dports = 1, n_dsts = 1;

    w_cfg_words(c->obj, cfg32, &n32, cfg16, &n16);
    dports[0] = 0;
    dsts[0] = 0;
    for (size_t i = 0; i < n_consts; i++) {
        uint32_t v = consts[i];
        if (v <= 0xffff) {
            dports[n_dports++] = (uint16_t)v;
            dports[n_dports++] = __builtin_bswap16((uint16_t)v);
        } else {
            dsts[n_dsts++] = v;
            dsts[n_dsts++] = __builtin_bswap32(v);
        }
    }
    for (size_t i = 0; i < n16; i++) {
        dports[n_dports++] = cfg16[i];
    }
    for (size_t i = 0; i < n32; i++) {
        dsts[n_dsts++] = cfg32[i];
    }
    for (int kind = 0; kind < W_KINDS; kind++) {
        for (size_t d = 0; d < n_dsts; d++) {
            for (size_t q = 0; q < n_dports; q++) {
                uint8_t pkt[CONTRACT_WORST_PKT_MAX];
                uint32_t len = w_template(kind, dports[q], dsts[d], pkt);
                for (uint32_t port = 0; port < W_IN_PORTS; port++) {
                    w_try(c, pkt, len, port, best);
                }
            }
        }
    }
}

/* How step 2 reads the key a packet produces. */
enum w_keysrc {
    W_KEY_INSERTED, /* The key it inserts into 'map' (empty maps). */
    W_KEY_LPM,      /* The key of its first LPM lookup. */
};

/* Runs 'pkt'; its key into 'key', false if none. */
static bool
w_key_of(struct w_ctx *c, struct bpf_map *m, enum w_keysrc src,
         const uint8_t *pkt, uint32_t len, uint32_t in_port, uint8_t *key)
{
    struct w_obs *o = NULL;
    if (src == W_KEY_LPM) {
        o = xzalloc(sizeof *o);
    }
    w_clear(c);
    w_run(c, pkt, len, in_port, 0, false, o);
    bool ok;
    if (o) {
        ok = o->lpm == m;
        if (ok) {
            memcpy(key, o->lpm_key, bpf_map_key_size(m));
        }
        free(o);
    } else {
        ok = w_new_key(c, w_map_index(c, m), key);
    }
    return ok;
}

/* Step 2: which packet bytes are copied into which key bytes (key bytes
 * from 'first' on).  Fills 'pairs' (packet offset, key offset) and
 * returns how many. */
static size_t
w_learn_key(struct w_ctx *c, const struct w_best *best, struct bpf_map *m,
            enum w_keysrc src, uint32_t first, const uint8_t *key0,
            uint8_t *key, uint32_t *pairs)
{
    uint32_t ks = bpf_map_key_size(m);
    size_t n_pairs = 0;
    for (uint32_t i = 0; i < best->len; i++) {
        int j_seen = -1;
        bool ok = true;
        for (int t = 0; t < 2 && ok; t++) {
            uint8_t pkt[CONTRACT_WORST_PKT_MAX];
            memcpy(pkt, best->pkt, best->len);
            pkt[i] ^= t ? 0xa5 : 0x5a;
            if (!w_key_of(c, m, src, pkt, best->len, best->in_port, key)) {
                ok = false;
                break;
            }
            int j_diff = -1, n_diff = 0;
            for (uint32_t j = 0; j < ks; j++) {
                if (key[j] != key0[j]) {
                    n_diff++;
                    j_diff = (int)j;
                }
            }
            ok = n_diff == 1 && key[j_diff] == pkt[i] &&
                 (uint32_t)j_diff >= first &&
                 (j_seen < 0 || j_seen == j_diff);
            j_seen = j_diff;
        }
        bool taken = false;
        for (size_t p = 0; p < n_pairs; p++) {
            taken |= pairs[2 * p + 1] == (uint32_t)j_seen;
        }
        if (ok && !taken) {
            pairs[2 * n_pairs] = i;
            pairs[2 * n_pairs + 1] = (uint32_t)j_seen;
            n_pairs++;
        }
    }
    return n_pairs;
}

static uint64_t
w_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Appends packet 'pkt' at time 'rel_ns' to the trace and adds the PCVs
 * its run observed. */
static void
w_emit(struct contract_worst *out, const uint8_t *pkt, uint32_t len,
       uint64_t rel_ns, const struct w_obs *o)
{
    struct contract_worst_pkt *w = &out->pkts[out->n++];
    memcpy(w->data, pkt, len);
    w->len = len;
    w->time_ns = rel_ns;
    out->map_calls += o->calls;
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        out->pcv_max[i] =
            o->pcv_max[i] > out->pcv_max[i] ? o->pcv_max[i] : out->pcv_max[i];
        out->pcv_sum[i] += o->pcv_sum[i];
    }
}

/* A fresh observation of calls on 'm'. */
static void
w_obs_reset(struct w_obs *o, const struct bpf_map *m)
{
    memset(o, 0, sizeof *o);
    o->watch = m;
}

/* Whether 'key' is in flow table or hash map 'm' now (live). */
static bool
w_present(struct bpf_map *m, const uint8_t *key)
{
    struct contract_pcvs pcv;
    uint64_t args[5] = {(uint64_t)(uintptr_t)m, (uint64_t)(uintptr_t)key, 0,
                        0, 0};
    return !contract_mapcost_probe(BPF_FUNC_map_lookup_elem, args, &pcv) &&
           pcv.outcome == CONTRACT_OUT_HIT;
}

/* Steps 4 and 5 for a map without expiry: each colliding key inserted
 * (checked: it must find one more element in the chain than the one
 * before), then the deepest key again. */
static void
w_trace_collide(struct w_ctx *c, struct contract_worst *out,
                const struct w_best *best, struct bpf_map *m,
                const uint8_t *keys, uint8_t (*pkts)[CONTRACT_WORST_PKT_MAX],
                size_t found, size_t n, struct w_obs *o)
{
    uint32_t ks = bpf_map_key_size(m);
    size_t deepest = SIZE_MAX;
    uint64_t now = 0;
    for (size_t f = 0; f < found && out->n < n; f++) {
        struct contract_pcvs pcv;
        uint64_t args[5] = {(uint64_t)(uintptr_t)m,
                            (uint64_t)(uintptr_t)(keys + f * ks), 0, 0, 0};
        uint64_t chain_before = 0;
        if (!contract_mapcost_probe(BPF_FUNC_map_lookup_elem, args, &pcv)) {
            chain_before = pcv.pcv[CONTRACT_PCV_CHAIN];
        }
        if (chain_before < out->n_collide) {
            continue;
        }
        w_obs_reset(o, m);
        w_run(c, pkts[f], best->len, best->in_port, now, false, o);
        if (!w_present(m, keys + f * ks)) {
            continue;
        }
        deepest = deepest == SIZE_MAX ? f : deepest;
        out->n_collide++;
        w_emit(out, pkts[f], best->len, now, o);
        now += W_STEP_NS;
    }
    for (; out->n < n && deepest != SIZE_MAX; now += W_STEP_NS) {
        w_obs_reset(o, m);
        w_run(c, pkts[deepest], best->len, best->in_port, now, false, o);
        w_emit(out, pkts[deepest], best->len, now, o);
    }
}

/* Steps 4 and 5 for an expiring flow table: colliding flows until the
 * table holds 'fill' live entries, then one timeout of silence, so that
 * the packets after it meet a table of expired entries; repeated.  After
 * a silence the packets bring back the flows of the fill before it,
 * newest first: each call removes the oldest entries (the budget), and
 * the first call of such a packet also its own key, an expired entry the
 * budget has not reached yet, which is the most one call can remove. */
static void
w_trace_expire(struct w_ctx *c, struct contract_worst *out,
               const struct w_best *best, struct bpf_map *m,
               const uint8_t *keys, uint8_t (*pkts)[CONTRACT_WORST_PKT_MAX],
               size_t found, size_t n, struct w_obs *o)
{
    uint32_t ks = bpf_map_key_size(m);
    struct bpf_flowtable_stats st;
    bpf_flowtable_get_stats(m, &st);
    uint32_t fill = (uint32_t)(n / 2 < st.capacity ? n / 2 : st.capacity);
    fill = fill ? fill : 1;
    out->timeout_ns = st.timeout_ns;
    size_t *filled = xmalloc(found * sizeof *filled), n_filled = 0;
    size_t *back = xmalloc(found * sizeof *back), n_back = 0;
    uint64_t now = 0;
    size_t f = 0;
    while (out->n < n) {
        /* A flow of the last fill (expired: the table's clock moves only
         * when this packet comes), else the next colliding key the table
         * does not hold live. */
        size_t k = SIZE_MAX, tries = 0;
        if (n_back) {
            k = back[--n_back];
        } else {
            while (tries < found && w_present(m, keys + f * ks)) {
                f = (f + 1) % found;
                tries++;
            }
            k = f;
            f = (f + 1) % found;
        }
        w_obs_reset(o, m);
        w_run(c, pkts[k], best->len, best->in_port, now, false, o);
        if (w_present(m, keys + k * ks)) {
            out->n_collide++;
            filled[n_filled++ % found] = k;
        }
        w_emit(out, pkts[k], best->len, now, o);
        now += W_STEP_NS;
        bpf_flowtable_get_stats(m, &st);
        if (st.live >= fill || tries == found) {
            /* The pcap has microsecond timestamps: whole ones. */
            now += (st.timeout_ns + W_STEP_NS) / W_STEP_NS * W_STEP_NS;
            out->n_bursts++;
            n_back = n_filled < found ? n_filled : found;
            memcpy(back, filled, n_back * sizeof *back);
            n_filled = 0;
        }
    }
    free(filled);
    free(back);
}

/* The lookup cost of 'key' in LPM trie 'm' by its contract (x86), or by
 * its PCVs when there is no contract; 'pcv' gets the probe. */
static uint64_t
w_lpm_cost(struct bpf_map *m, const uint8_t *key, struct contract_pcvs *pcv)
{
    uint64_t args[5] = {(uint64_t)(uintptr_t)m, (uint64_t)(uintptr_t)key, 0,
                        0, 0};
    struct contract_op_cost cost;
    if (contract_mapcost_probe(BPF_FUNC_map_lookup_elem, args, pcv)) {
        return 0;
    }
    if (!contract_mapcost_get(BPF_FUNC_map_lookup_elem, m, pcv->outcome,
                              &cost)) {
        return contract_linear_eval(&cost.x86, pcv->pcv);
    }
    return pcv->pcv[CONTRACT_PCV_CHAIN] * 1000 + pcv->pcv[CONTRACT_PCV_CMPS];
}

/* The LPM refinement: 'o' observed the costliest packet's first LPM
 * lookup.  Rewrites the packet's address bytes to the stored prefix
 * whose lookup costs most; returns false when the packet's bytes do not
 * reach the key or no address costs more than the packet's own. */
static bool
w_trace_lpm(struct w_ctx *c, struct contract_worst *out,
            const struct w_best *best, struct w_obs *o, size_t n,
            uint32_t *pairs)
{
    struct bpf_map *m = (struct bpf_map *)o->lpm;
    uint32_t ks = bpf_map_key_size(m), dbytes = ks - 4;
    uint8_t *key0 = xmalloc(ks), *key = xmalloc(ks), *cand = xmalloc(ks);
    uint8_t *bestkey = xmalloc(ks);
    bool ok = false;

    memcpy(key0, o->lpm_key, ks);
    size_t n_pairs =
        w_learn_key(c, best, m, W_KEY_LPM, 4, key0, key, pairs);
    int32_t *from = xmalloc(ks * sizeof *from);
    for (uint32_t j = 0; j < ks; j++) {
        from[j] = -1;
    }
    for (size_t p = 0; p < n_pairs; p++) {
        from[pairs[2 * p + 1]] = (int32_t)pairs[2 * p];
    }
    /* Targets: each stored prefix, host bits all 0 and all 1, with the
     * prefix length the program asks for. */
    struct contract_pcvs pcv;
    uint64_t best_cost = w_lpm_cost(m, key0, &pcv);
    memcpy(bestkey, key0, ks);
    bool more = !bpf_map_next_key(m, NULL, cand);
    while (more) {
        uint32_t plen;
        memcpy(&plen, cand, 4);
        for (int ones = 0; ones < 2; ones++) {
            memcpy(key, key0, 4);
            bool reach = true;
            for (uint32_t b = 0; b < dbytes; b++) {
                uint8_t keep = plen >= 8 * (b + 1) ? 0xff
                               : plen <= 8 * b
                                   ? 0
                                   : (uint8_t)(0xff << (8 - (plen - 8 * b)));
                uint8_t v = (uint8_t)((cand[4 + b] & keep) |
                                      (ones ? (uint8_t)~keep : 0));
                key[4 + b] = v;
                reach &= v == key0[4 + b] || from[4 + b] >= 0;
            }
            uint64_t cost = w_lpm_cost(m, key, &pcv);
            if (reach && cost > best_cost) {
                best_cost = cost;
                memcpy(bestkey, key, ks);
            }
        }
        more = !bpf_map_next_key(m, cand, cand);
    }
    if (memcmp(bestkey, key0, ks)) {
        uint8_t pkt[CONTRACT_WORST_PKT_MAX];
        memcpy(pkt, best->pkt, best->len);
        for (uint32_t j = 4; j < ks; j++) {
            if (from[j] >= 0) {
                pkt[from[j]] = bestkey[j];
            }
        }
        w_fix_ip4_csum(pkt, best->len);
        /* The rewritten packet must look the target up. */
        w_clear(c);
        for (uint64_t k = 0; k < n; k++) {
            w_obs_reset(o, m);
            w_run(c, pkt, best->len, best->in_port, k * W_STEP_NS, false, o);
            if (o->lpm != m || memcmp(o->lpm_key, bestkey, ks)) {
                break;
            }
            w_emit(out, pkt, best->len, k * W_STEP_NS, o);
        }
        ok = out->n == n;
        if (ok) {
            out->method = CONTRACT_WORST_LPM;
            snprintf(out->map, sizeof out->map, "%s", bpf_map_name(m));
            out->lpm_key_len =
                ks < CONTRACT_WORST_PKT_MAX ? ks : CONTRACT_WORST_PKT_MAX;
            memcpy(out->lpm_key, bestkey, out->lpm_key_len);
            out->key_bytes_free = n_pairs;
            for (size_t p = 0; p < n_pairs; p++) {
                out->free_off[p] = pairs[2 * p];
            }
        } else {
            out->n = 0;
            memset(out->pcv_max, 0, sizeof out->pcv_max);
            memset(out->pcv_sum, 0, sizeof out->pcv_sum);
            out->map_calls = 0;
        }
    }
    free(from);
    free(key0);
    free(key);
    free(cand);
    free(bestkey);
    return ok;
}

/* The TCP header of an Ethernet frame: its offset into '*l4', false when
 * the frame carries none (IPv4 without fragments, or IPv6 without
 * extension headers, as the templates build them). */
static bool
w_tcp_off(const uint8_t *p, uint32_t len, uint32_t *l4)
{
    if (len >= 34 && p[12] == 0x08 && p[13] == 0x00 && p[23] == 6) {
        *l4 = 14 + (uint32_t)(p[14] & 0xf) * 4;
    } else if (len >= 54 && p[12] == 0x86 && p[13] == 0xdd && p[20] == 6) {
        *l4 = 54;
    } else {
        return false;
    }
    return *l4 + 20 <= len;
}

/* 'base' (a TCP packet without options, TCP header at 'l4') with 'opts'
 * (n bytes, up to W_OPT_MAX) as its option bytes, padded with zeros (EOL)
 * to whole words, and as much of its payload as fits, into 'p'; the IP
 * lengths, the data offset and the IPv4 checksum follow.  Returns the
 * length. */
static uint32_t
w_with_opts(const uint8_t *base, uint32_t len, uint32_t l4,
            const uint8_t *opts, uint32_t n, uint8_t *p)
{
    uint32_t padded = (n + 3) & ~3u, hdr = l4 + 20 + padded;
    uint32_t payload = len - (l4 + 20);
    if (hdr + payload > CONTRACT_WORST_PKT_MAX) {
        payload = CONTRACT_WORST_PKT_MAX - hdr;
    }
    memcpy(p, base, l4 + 20);
    memcpy(p + l4 + 20, opts, n);
    memset(p + l4 + 20 + n, 0, padded - n);
    memcpy(p + hdr, base + l4 + 20, payload);
    p[l4 + 12] = (uint8_t)((5 + padded / 4) << 4);
    if (l4 == 54) {
        w_put16(p + 18, (uint16_t)(hdr + payload - 54));
    } else {
        w_put16(p + 16, (uint16_t)(hdr + payload - 14));
        w_fix_ip4_csum(p, hdr + payload);
    }
    return hdr + payload;
}

/* Option atoms: EOL and NOP alone, and for every branch constant k
 * that can be an option kind (2 to 254) and every one l that can be its
 * length (2 to W_OPT_MAX), the option k, l with l - 2 zero bytes.
 * Returns how many, each into 'atoms' (W_OPT_MAX bytes) with its length
 * in 'alen'. */
static size_t
w_opt_atoms(const struct bpf_prog *prog, uint8_t (*atoms)[W_OPT_MAX],
            uint32_t *alen, size_t max)
{
    uint32_t consts[W_MAX_LOOP_CONSTS];
    size_t n_consts = w_consts(prog, consts, W_MAX_LOOP_CONSTS), n = 0;
    for (uint8_t k = 0; k < 2; k++) {
        memset(atoms[n], 0, W_OPT_MAX);
        atoms[n][0] = k;
        alen[n++] = 1;
    }
    for (size_t i = 0; i < n_consts; i++) {
        for (size_t j = 0; j < n_consts && n < max; j++) {
            uint32_t k = consts[i], l = consts[j];
            if (k < 2 || k > 254 || l < 2 || l > W_OPT_MAX) {
                continue;
            }
            memset(atoms[n], 0, W_OPT_MAX);
            atoms[n][0] = (uint8_t)k;
            atoms[n][1] = (uint8_t)l;
            alen[n++] = l;
        }
    }
    return n;
}

/* The loop method: when the costliest candidate is TCP, the option bytes
 * after its header that make the program's loops run longest.  best[L],
 * the costliest option string of L bytes found, is the costliest of
 * best[L - len(a)] followed by an atom a (by the interpreter's eBPF
 * instructions, cheap to count); the best[L] are then measured through
 * the JIT, single-stepped, and the one with the most x86 instructions is
 * kept if it costs more than the packet without options.  Writes it to
 * 'wp' ('*wlen' bytes) and returns true when it does. */
static bool
w_loops(struct w_ctx *c, struct contract_worst *out, const struct w_best *b,
        uint8_t *wp, uint32_t *wlen)
{
    uint32_t l4;
    if (!w_tcp_off(b->pkt, b->len, &l4) || b->pkt[l4 + 12] != 0x50) {
        return false;
    }
    uint8_t(*atoms)[W_OPT_MAX] = calloc(W_MAX_ATOMS, W_OPT_MAX);
    uint8_t(*seq)[W_OPT_MAX] = calloc(W_OPT_MAX + 1, W_OPT_MAX);
    uint32_t *alen = calloc(W_MAX_ATOMS, sizeof *alen);
    uint64_t cost[W_OPT_MAX + 1];
    bool have[W_OPT_MAX + 1] = {true};
    bool found = false;
    if (!atoms || !seq || !alen) {
        free(atoms);
        free(seq);
        free(alen);
        return false;
    }
    size_t n_atoms = w_opt_atoms(c->prog, atoms, alen, W_MAX_ATOMS);
    uint8_t pkt[CONTRACT_WORST_PKT_MAX];
    for (uint32_t L = 1; L <= W_OPT_MAX; L++) {
        have[L] = false;
        for (size_t a = 0; a < n_atoms; a++) {
            if (alen[a] > L || !have[L - alen[a]]) {
                continue;
            }
            uint8_t s[W_OPT_MAX];
            memcpy(s, seq[L - alen[a]], L - alen[a]);
            memcpy(s + L - alen[a], atoms[a], alen[a]);
            uint32_t len = w_with_opts(b->pkt, b->len, l4, s, L, pkt);
            w_clear(c);
            uint64_t x = w_run(c, pkt, len, b->in_port, 0, false, NULL);
            if (!have[L] || x > cost[L]) {
                have[L] = true;
                cost[L] = x;
                memcpy(seq[L], s, L);
            }
        }
    }
    char *err = NULL;
    bpf_prog_jit(c->prog, &err);
    free(err);
    w_clear(c);
    uint64_t best_x86 = w_run(c, b->pkt, b->len, b->in_port, 0, true, NULL);
    w_clear(c);
    best_x86 = w_run(c, b->pkt, b->len, b->in_port, 0, true, NULL);
    for (uint32_t L = 1; L <= W_OPT_MAX; L++) {
        if (!have[L]) {
            continue;
        }
        uint32_t len = w_with_opts(b->pkt, b->len, l4, seq[L], L, pkt);
        w_clear(c);
        uint64_t x = w_run(c, pkt, len, b->in_port, 0, true, NULL);
        if (x > best_x86) {
            best_x86 = x;
            found = true;
            memcpy(wp, pkt, len);
            *wlen = len;
            out->opt_len = L;
            out->opt_off = l4 + 20;
        }
    }
    w_clear(c);
    bpf_prog_set_exec_mode(c->prog, BPF_EXEC_INTERP);
    free(atoms);
    free(seq);
    free(alen);
    return found;
}

/* Replays 'pkts' through the JIT on emptied maps, single-stepped; the
 * x86 instructions of each into 'x86' (n), their sum returned. */
static uint64_t
w_replay(struct w_ctx *c, const struct contract_worst_pkt *pkts, size_t n,
         uint32_t in_port, uint64_t *x86)
{
    /* The JIT compiles at the first run, and the first run sets up
     * per-thread state: compile, then a throwaway run, so that the
     * measurements are the runs' own (a program the JIT refuses is
     * measured in the interpreter). */
    char *err = NULL;
    bpf_prog_jit(c->prog, &err);
    free(err);
    if (n) {
        w_run(c, pkts[0].data, pkts[0].len, in_port, 0, true, NULL);
    }
    w_clear(c);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = w_run(c, pkts[i].data, pkts[i].len, in_port,
                           pkts[i].time_ns, true, NULL);
        if (x86) {
            x86[i] = x;
        }
        sum += x;
    }
    w_clear(c);
    bpf_prog_set_exec_mode(c->prog, BPF_EXEC_DEFAULT);
    return sum;
}

/* The x86 figures of the trace: replayed on emptied maps at the same
 * relative times, the same runs by determinism. */
static void
w_replay_x86(struct w_ctx *c, struct contract_worst *out)
{
    uint64_t *x86 = xmalloc(out->n * sizeof *x86);
    out->x86_sum = w_replay(c, out->pkts, out->n, out->in_port, x86);
    out->x86_first = x86[0];
    out->x86_last = x86[out->n - 1];
    free(x86);
    bpf_prog_set_exec_mode(c->prog, BPF_EXEC_INTERP);
}

uint64_t
contract_worst_x86(struct bpf_object *obj, struct bpf_prog *prog,
                   const struct contract_worst_pkt *pkts, size_t n,
                   uint32_t in_port, uint64_t *x86)
{
    struct w_ctx c;
    if (!w_ctx_init(&c, obj, prog)) {
        return 0;
    }
    uint64_t sum = w_replay(&c, pkts, n, in_port, x86);
    w_ctx_destroy(&c);
    return sum;
}

const char *
contract_worst_method_name(enum contract_worst_method m)
{
    switch (m) {
    case CONTRACT_WORST_REPEAT:
        return "repeat";
    case CONTRACT_WORST_COLLIDE:
        return "collide";
    case CONTRACT_WORST_EXPIRE:
        return "collide+expire";
    case CONTRACT_WORST_LPM:
        return "lpm";
    case CONTRACT_WORST_LOOPS:
        return "loops";
    }
    return "?";
}

int
contract_worst_build(struct bpf_object *obj, struct bpf_prog *prog,
                     const struct contract_worst_opts *opts,
                     struct contract_worst *out, char **errp)
{
    size_t n = opts->n_packets < 2 ? 2 : opts->n_packets;
    uint32_t ks_max = 8;
    int err = 0;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < bpf_object_n_maps(obj); i++) {
        uint32_t ks = bpf_map_key_size(bpf_object_map(obj, i));
        ks_max = ks > ks_max ? ks : ks_max;
    }
    if (ks_max > W_KEY_MAX) {
        *errp = xasprintf("no worst-case packets: a map key of %u bytes "
                          "(at most %d handled)",
                          ks_max, W_KEY_MAX);
        return -E2BIG;
    }
    struct w_ctx c;
    bool have_ctx = w_ctx_init(&c, obj, prog);
    uint8_t *key = malloc(ks_max), *key0 = malloc(ks_max);
    uint8_t *keys = NULL;
    uint8_t(*pkts)[CONTRACT_WORST_PKT_MAX] = NULL;
    struct w_best *best = calloc(1, sizeof *best);
    struct w_obs *o = calloc(1, sizeof *o);
    uint32_t *pairs = calloc(2 * CONTRACT_WORST_PKT_MAX, sizeof *pairs);
    out->pkts = calloc(n, sizeof *out->pkts);
    if (!have_ctx || !key || !key0 || !best || !o || !pairs || !out->pkts) {
        err = -ENOMEM;
        goto done;
    }
    bpf_prog_set_exec_mode(prog, BPF_EXEC_INTERP);

    w_candidates(&c, best);
    out->in_port = best->in_port;
    memcpy(out->base, best->pkt, best->len);
    out->base_len = best->len;
    if (!best->map) {
        /* Nothing to grow: the deepest LPM path if the packet looks one
         * up, else the most expensive packet, repeated. */
        w_obs_reset(o, NULL);
        w_clear(&c);
        w_run(&c, best->pkt, best->len, best->in_port, 0, false, o);
        if (!o->lpm || !w_trace_lpm(&c, out, best, o, n, pairs)) {
            /* The loop method's packet, or the candidate itself. */
            uint8_t wp[CONTRACT_WORST_PKT_MAX];
            uint32_t wlen = best->len;
            memcpy(wp, best->pkt, best->len);
            if (w_loops(&c, out, best, wp, &wlen)) {
                out->method = CONTRACT_WORST_LOOPS;
            }
            w_clear(&c);
            for (size_t i = 0; i < n; i++) {
                w_obs_reset(o, NULL);
                w_run(&c, wp, wlen, best->in_port, i * W_STEP_NS, false, o);
                w_emit(out, wp, wlen, i * W_STEP_NS, o);
            }
        }
        w_replay_x86(&c, out);
        goto done;
    }
    struct bpf_map *m = best->map;
    uint32_t ks = bpf_map_key_size(m);
    snprintf(out->map, sizeof out->map, "%s", bpf_map_name(m));

    /* 2. Which packet bytes are copied into which key bytes. */
    w_key_of(&c, m, W_KEY_INSERTED, best->pkt, best->len, best->in_port,
             key0);
    size_t n_pairs =
        w_learn_key(&c, best, m, W_KEY_INSERTED, 0, key0, key, pairs);
    out->key_bytes_free = n_pairs;
    for (size_t p = 0; p < n_pairs; p++) {
        out->free_off[p] = pairs[2 * p];
    }

    /* 3. Keys in the first key's bucket: as many as packets, and for an
     * expiring table enough to refill it while the old ones expire. */
    struct bpf_flowtable_stats st = {0};
    bool expiring = bpf_map_type(m) == BPF_MAP_TYPE_SLUICE_FLOWTABLE &&
                    !bpf_flowtable_get_stats(m, &st) && st.timeout_ns;
    uint32_t n_buckets = 1;
    while (n_buckets < bpf_map_max_entries(m)) {
        n_buckets <<= 1;
    }
    uint32_t mask = n_buckets - 1, seed = m->hash_seed;
    uint32_t bucket = hash_bytes(key0, ks, seed) & mask;
    size_t want = n < bpf_map_max_entries(m) ? n : bpf_map_max_entries(m);
    if (expiring) {
        size_t fill = n / 2 < st.capacity ? n / 2 : st.capacity;
        size_t w2 = fill + fill / 2 + 4 * (BPF_FLOWTABLE_EXPIRE_BUDGET + 1);
        want = w2 < want ? w2 : want;
    }
    keys = malloc(want * ks);
    pkts = malloc(want * sizeof *pkts);
    if (!keys || !pkts) {
        err = -ENOMEM;
        goto done;
    }
    size_t found = 1;
    memcpy(keys, key0, ks);
    memcpy(pkts[0], best->pkt, best->len);
    uint64_t rng = opts->rng_seed;
    for (uint64_t t = 0; t < W_MAX_TRIES && found < want && n_pairs; t++) {
        uint8_t *k = keys + found * ks;
        memcpy(k, key0, ks);
        memcpy(pkts[found], best->pkt, best->len);
        for (size_t p = 0; p < n_pairs; p++) {
            uint8_t b = (uint8_t)w_rand(&rng);
            k[pairs[2 * p + 1]] = b;
            pkts[found][pairs[2 * p]] = b;
        }
        if ((hash_bytes(k, ks, seed) & mask) != bucket) {
            continue;
        }
        bool dup = false;
        for (size_t d = 0; d < found && !dup; d++) {
            dup = !memcmp(keys + d * ks, k, ks);
        }
        found += !dup;
    }
    for (size_t f = 0; f < found; f++) {
        w_fix_ip4_csum(pkts[f], best->len);
    }

    /* 4 and 5. */
    out->bucket = bucket;
    w_clear(&c);
    if (expiring) {
        out->method = CONTRACT_WORST_EXPIRE;
        w_trace_expire(&c, out, best, m, keys, pkts, found, n, o);
    } else {
        out->method = CONTRACT_WORST_COLLIDE;
        w_trace_collide(&c, out, best, m, keys, pkts, found, n, o);
    }
    if (!out->n) {
        err = -ENOENT;
        goto done;
    }
    w_replay_x86(&c, out);

done:
    bpf_prog_set_exec_mode(prog, BPF_EXEC_DEFAULT);
    if (have_ctx) {
        w_clear(&c);
        w_ctx_destroy(&c);
    }
    free(key);
    free(key0);
    free(keys);
    free(pkts);
    free(best);
    free(o);
    free(pairs);
    if (err) {
        *errp = xasprintf("no worst-case packets: %s",
                          err == -ENOENT ? "the program inserted none of "
                                           "the constructed keys"
                                         : strerror(-err));
        contract_worst_free(out);
    }
    return err;
}

void
contract_worst_free(struct contract_worst *w)
{
    free(w->pkts);
    w->pkts = NULL;
    w->n = 0;
}

void
contract_worst_uniform(const struct contract_worst *w, uint64_t seed,
                       struct contract_worst_pkt *pkts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memcpy(pkts[i].data, w->base, w->base_len);
        pkts[i].len = w->base_len;
        pkts[i].time_ns = i * W_STEP_NS;
        for (size_t p = 0; p < w->key_bytes_free; p++) {
            pkts[i].data[w->free_off[p]] = (uint8_t)w_rand(&seed);
        }
        w_fix_ip4_csum(pkts[i].data, pkts[i].len);
    }
}

static void
w_le32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); /* pcap files are written in host order. */
}

int
contract_worst_write_pcap(const struct contract_worst *w, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return -errno;
    }
    uint8_t hdr[24];
    w_le32(hdr, 0xa1b2c3d4);
    hdr[4] = 2;
    hdr[5] = 0;
    hdr[6] = 4;
    hdr[7] = 0;
    memset(hdr + 8, 0, 8);
    w_le32(hdr + 16, 65535);
    w_le32(hdr + 20, 1); /* LINKTYPE_ETHERNET. */
    bool ok = fwrite(hdr, sizeof hdr, 1, f) == 1;
    for (size_t i = 0; i < w->n && ok; i++) {
        uint8_t rec[16];
        uint64_t us = 1000000 + w->pkts[i].time_ns / 1000;
        w_le32(rec, (uint32_t)(us / 1000000));
        w_le32(rec + 4, (uint32_t)(us % 1000000));
        w_le32(rec + 8, w->pkts[i].len);
        w_le32(rec + 12, w->pkts[i].len);
        ok = fwrite(rec, sizeof rec, 1, f) == 1 &&
             fwrite(w->pkts[i].data, w->pkts[i].len, 1, f) == 1;
    }
    if (fclose(f) || !ok) {
        return -EIO;
    }
    return 0;
}
