/* The logic of the benchmark's micro programs, written once and compiled
 * twice: with clang -target bpf into bench/progs/micro_*.o, and natively
 * into bench_bpf as the "plain C" reference.  Map access goes through
 * MICRO_LOOKUP/MICRO_UPDATE, which each side defines. */
#ifndef BENCH_PROGS_MICRO_H
#define BENCH_PROGS_MICRO_H 1

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* A TCP/IPv4 5-tuple, padded to 16 bytes (a hash-map key). */
struct micro_tuple {
    __u32 saddr;
    __u32 daddr;
    __u16 sport;
    __u16 dport;
    __u8 proto;
    __u8 pad[3];
};

/* Ethernet, IPv4 without options, TCP; 0 and 't' filled, or -1. */
static __always_inline int
micro_parse(void *data, void *data_end, struct micro_tuple *t)
{
    struct ethhdr *eth = data;
    struct iphdr *ip;
    struct tcphdr *th;

    if ((void *)(eth + 1) > data_end ||
        eth->h_proto != bpf_htons(ETH_P_IP)) {
        return -1;
    }
    ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end || ip->ihl != 5 ||
        ip->protocol != IPPROTO_TCP) {
        return -1;
    }
    th = (void *)(ip + 1);
    if ((void *)(th + 1) > data_end) {
        return -1;
    }
    t->saddr = ip->saddr;
    t->daddr = ip->daddr;
    t->sport = th->source;
    t->dport = th->dest;
    t->proto = ip->protocol;
    t->pad[0] = t->pad[1] = t->pad[2] = 0;
    return 0;
}

/* "Parse and compare a few fields": drop TCP SYNs to port 80 with a TTL
 * below 64 from 10.0.0.0/8; pass everything else. */
static __always_inline int
micro_filter(void *data, void *data_end)
{
    struct micro_tuple t;
    struct iphdr *ip = (struct iphdr *)((char *)data + sizeof(struct ethhdr));

    if (micro_parse(data, data_end, &t) < 0) {
        return 2; /* XDP_PASS */
    }
    __u8 flags = ((__u8 *)(ip + 1))[13];
    if (t.dport == bpf_htons(80) && (flags & 0x02) && ip->ttl < 64 &&
        (t.saddr & bpf_htonl(0xff000000)) == bpf_htonl(0x0a000000)) {
        return 1; /* XDP_DROP */
    }
    return 2;
}

static __always_inline __u32
micro_rol32(__u32 x, int k)
{
    return (x << k) | (x >> (32 - k));
}

/* jhash_3words of the tuple (the kernel's flow hash). */
static __always_inline __u32
micro_hash(const struct micro_tuple *t)
{
    __u32 a = t->saddr, b = t->daddr;
    __u32 c = ((__u32)t->sport << 16 | t->dport) ^ t->proto;

    a += 0xdeadbeef + 12;
    b += 0xdeadbeef + 12;
    c += 0xdeadbeef + 12;
    c ^= b; c -= micro_rol32(b, 14);
    a ^= c; a -= micro_rol32(c, 11);
    b ^= a; b -= micro_rol32(a, 25);
    c ^= b; c -= micro_rol32(b, 16);
    a ^= c; a -= micro_rol32(c, 4);
    b ^= a; b -= micro_rol32(a, 14);
    c ^= b; c -= micro_rol32(b, 24);
    return c;
}

/* "Hash a 5-tuple": the verdict is derived from the hash so that it
 * cannot be optimised away. */
static __always_inline int
micro_hash_prog(void *data, void *data_end)
{
    struct micro_tuple t;

    if (micro_parse(data, data_end, &t) < 0) {
        return 2;
    }
    return 1 + (micro_hash(&t) & 1);
}

/* "One hash-map lookup plus update keyed by the 5-tuple": a per-flow
 * packet counter. */
static __always_inline int
micro_map_prog(void *data, void *data_end)
{
    struct micro_tuple t;
    __u64 one = 1, *v;

    if (micro_parse(data, data_end, &t) < 0) {
        return 2;
    }
    v = MICRO_LOOKUP(&t);
    if (v) {
        one = *v + 1;
    }
    MICRO_UPDATE(&t, &one);
    return 2;
}

#endif
