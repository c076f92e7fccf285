/* Worst-case traffic generation; see worst.h for the method. */
#include "contract/worst.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "contract/mapcost.h"
#include "contract/x86count.h"
#include "core/hash.h"
#include "core/util.h"

#define W_HEADROOM 256
#define W_MAX_CONSTS 24        /* Branch constants tried. */
#define W_IN_PORTS 3           /* Input ports tried: 0, 1, 2. */
#define W_KINDS 6              /* Packet templates. */
#define W_MAX_TRIES (1u << 28) /* Brute-force attempts at most. */
#define W_STEP_NS 1000         /* Packet spacing. */

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

/* Empties the hash-type maps (LPM tries and arrays hold configuration). */
static void
w_clear(struct bpf_object *obj, uint8_t *key)
{
    for (size_t i = 0; i < bpf_object_n_maps(obj); i++) {
        struct bpf_map *m = bpf_object_map(obj, i);
        if (bpf_map_type(m) == BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
            struct bpf_flowtable_stats st;
            bpf_flowtable_get_stats(m, &st);
            bpf_flowtable_configure(m, st.capacity, st.timeout_ns);
        } else if (w_is_hash(m)) {
            while (!bpf_map_next_key(m, NULL, key) && !bpf_map_delete(m, key)) {
            }
        }
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

/* Runs 'prog' on a copy of the packet.  Returns the eBPF instructions run
 * (interpreter), or with 'x86' the x86 instructions of a single-stepped
 * JIT run (or of the interpreter when the JIT refused the program). */
static uint64_t
w_run(struct bpf_prog *prog, const uint8_t *pkt, uint32_t len, uint32_t in_port,
      uint64_t time_ns, bool x86)
{
    uint8_t buf[W_HEADROOM + CONTRACT_WORST_PKT_MAX + 64];
    struct bpf_xdp_buff x;
    struct bpf_prog_stats before, after;

    memcpy(buf + W_HEADROOM, pkt, len);
    memset(&x, 0, sizeof x);
    x.data_hard_start = (uint64_t)(uintptr_t)buf;
    x.data = x.data_meta = (uint64_t)(uintptr_t)(buf + W_HEADROOM);
    x.data_end = x.data + len;
    x.frame_end = (uint64_t)(uintptr_t)(buf + sizeof buf);
    x.ingress_ifindex = in_port;
    bpf_set_time_ns(time_ns);
    if (x86) {
        struct w_run_arg a = {prog, &x};
        bpf_prog_set_exec_mode(prog, BPF_EXEC_JIT);
        uint64_t n = x86count_run(w_run_jit, &a);
        bpf_prog_set_exec_mode(prog, BPF_EXEC_INTERP);
        return n;
    }
    bpf_prog_get_stats(prog, &before);
    bpf_prog_run_xdp(prog, &x);
    bpf_prog_get_stats(prog, &after);
    return after.insns - before.insns;
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

struct w_best {
    uint8_t pkt[CONTRACT_WORST_PKT_MAX];
    uint32_t len, in_port;
    uint64_t insns;
    struct bpf_map *map; /* Map it inserts into, or NULL. */
};

/* The first key of hash-type map 'm' into 'key'; false when empty. */
static bool
w_first_key(struct bpf_map *m, uint8_t *key)
{
    return !bpf_map_next_key(m, NULL, key);
}

static void
w_try(struct bpf_object *obj, struct bpf_prog *prog, const uint8_t *pkt,
      uint32_t len, uint32_t in_port, uint8_t *scratch, struct w_best *best)
{
    w_clear(obj, scratch);
    uint64_t insns = w_run(prog, pkt, len, in_port, W_STEP_NS, false);
    struct bpf_map *hit = NULL;
    for (size_t i = 0; i < bpf_object_n_maps(obj) && !hit; i++) {
        struct bpf_map *m = bpf_object_map(obj, i);
        if (w_is_hash(m) && w_first_key(m, scratch)) {
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

/* Runs 'pkt' on empty maps; its key in 'm' into 'key', false if none. */
static bool
w_key_of(struct bpf_object *obj, struct bpf_prog *prog, struct bpf_map *m,
         const uint8_t *pkt, uint32_t len, uint32_t in_port, uint8_t *key)
{
    w_clear(obj, key);
    w_run(prog, pkt, len, in_port, W_STEP_NS, false);
    return w_first_key(m, key);
}

static uint64_t
w_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int
contract_worst_build(struct bpf_object *obj, struct bpf_prog *prog,
                     const struct contract_worst_opts *opts,
                     struct contract_worst *out, char **errp)
{
    size_t n = opts->n_packets < 2 ? 2 : opts->n_packets;
    uint32_t consts[W_MAX_CONSTS];
    size_t n_consts = w_consts(prog, consts, W_MAX_CONSTS);
    uint32_t ks_max = 8;
    int err = 0;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < bpf_object_n_maps(obj); i++) {
        uint32_t ks = bpf_map_key_size(bpf_object_map(obj, i));
        ks_max = ks > ks_max ? ks : ks_max;
    }
    uint8_t *key = malloc(ks_max), *key0 = malloc(ks_max);
    uint8_t *keys = NULL;
    struct w_best *best = calloc(1, sizeof *best);
    uint32_t *pairs = calloc(2 * CONTRACT_WORST_PKT_MAX, sizeof *pairs);
    out->pkts = calloc(n, sizeof *out->pkts);
    if (!key || !key0 || !best || !pairs || !out->pkts) {
        err = -ENOMEM;
        goto done;
    }
    bpf_prog_set_exec_mode(prog, BPF_EXEC_INTERP);

    /* 1. Candidates. */
    for (int kind = 0; kind < W_KINDS; kind++) {
        for (size_t c = 0; c <= 2 * n_consts; c++) {
            uint32_t v = c ? consts[(c - 1) / 2] : 0;
            if (c && (c % 2 == 0)) {
                v = v <= 0xffff ? (uint32_t)__builtin_bswap16((uint16_t)v)
                                : __builtin_bswap32(v);
            }
            uint16_t dport = v <= 0xffff ? (uint16_t)v : 0;
            uint32_t dst4 = v > 0xffff ? v : 0;
            if (c && !dport && !dst4) {
                continue;
            }
            uint8_t pkt[CONTRACT_WORST_PKT_MAX];
            uint32_t len = w_template(kind, dport, dst4, pkt);
            for (uint32_t port = 0; port < W_IN_PORTS; port++) {
                w_try(obj, prog, pkt, len, port, key, best);
            }
        }
    }
    out->in_port = best->in_port;
    memcpy(out->base, best->pkt, best->len);
    out->base_len = best->len;
    if (!best->map) {
        /* Nothing to grow: the most expensive packet, repeated. */
        w_run(prog, best->pkt, best->len, best->in_port, 0, true);
        for (size_t i = 0; i < n; i++) {
            memcpy(out->pkts[i].data, best->pkt, best->len);
            out->pkts[i].len = best->len;
            out->pkts[i].time_ns = i * W_STEP_NS;
        }
        out->n = n;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = w_run(prog, best->pkt, best->len, best->in_port,
                               i * W_STEP_NS, true);
            out->x86_first = i ? out->x86_first : x;
            out->x86_last = x;
            out->x86_sum += x;
        }
        goto done;
    }
    struct bpf_map *m = best->map;
    uint32_t ks = bpf_map_key_size(m);
    snprintf(out->map, sizeof out->map, "%s", bpf_map_name(m));

    /* 2. Which packet bytes are copied into which key bytes. */
    size_t n_pairs = 0;
    w_key_of(obj, prog, m, best->pkt, best->len, best->in_port, key0);
    for (uint32_t i = 0; i < best->len; i++) {
        int j_seen = -1;
        bool ok = true;
        for (int t = 0; t < 2 && ok; t++) {
            uint8_t pkt[CONTRACT_WORST_PKT_MAX];
            memcpy(pkt, best->pkt, best->len);
            pkt[i] ^= t ? 0xa5 : 0x5a;
            if (!w_key_of(obj, prog, m, pkt, best->len, best->in_port, key)) {
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
    out->key_bytes_free = n_pairs;
    for (size_t p = 0; p < n_pairs; p++) {
        out->free_off[p] = pairs[2 * p];
    }

    /* 3. Keys in the first key's bucket. */
    uint32_t n_buckets = 1;
    while (n_buckets < bpf_map_max_entries(m)) {
        n_buckets <<= 1;
    }
    uint32_t mask = n_buckets - 1, seed = m->hash_seed;
    uint32_t bucket = hash_bytes(key0, ks, seed) & mask;
    size_t want = n < bpf_map_max_entries(m) ? n : bpf_map_max_entries(m);
    keys = malloc(want * ks);
    uint8_t(*pkts)[CONTRACT_WORST_PKT_MAX] = malloc(want * sizeof *pkts);
    if (!keys || !pkts) {
        free(pkts);
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

    /* 4. Check the sequence: each insert finds one more element.  The
     * JIT compiles at the first run: warm it up first, so that the
     * measurements are the runs' own. */
    w_run(prog, best->pkt, best->len, best->in_port, 0, true);
    w_clear(obj, key);
    out->bucket = bucket;
    uint64_t now = 0;
    size_t k_out = 0, deepest = SIZE_MAX;
    for (size_t f = 0; f < found && k_out < n; f++) {
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
        uint64_t x86 =
            w_run(prog, pkts[f], best->len, best->in_port, now, true);
        if (contract_mapcost_probe(BPF_FUNC_map_lookup_elem, args, &pcv) ||
            pcv.outcome != CONTRACT_OUT_HIT) {
            continue;
        }
        if (deepest == SIZE_MAX) {
            deepest = f;
            out->x86_first = x86;
        }
        out->x86_last = x86;
        out->x86_sum += x86;
        out->n_collide++;
        memcpy(out->pkts[k_out].data, pkts[f], best->len);
        out->pkts[k_out].len = best->len;
        out->pkts[k_out].time_ns = now;
        k_out++;
        now += W_STEP_NS;
    }
    /* 5. The rest: the deepest key again, walking the whole chain. */
    for (; k_out < n && deepest != SIZE_MAX; k_out++) {
        out->x86_last =
            w_run(prog, pkts[deepest], best->len, best->in_port, now, true);
        out->x86_sum += out->x86_last;
        memcpy(out->pkts[k_out].data, pkts[deepest], best->len);
        out->pkts[k_out].len = best->len;
        out->pkts[k_out].time_ns = now;
        now += W_STEP_NS;
    }
    out->n = k_out;
    free(pkts);
    if (!out->n) {
        err = -ENOENT;
    }

done:
    if (key) {
        w_clear(obj, key);
    }
    bpf_prog_set_exec_mode(prog, BPF_EXEC_DEFAULT);
    free(key);
    free(key0);
    free(keys);
    free(best);
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
