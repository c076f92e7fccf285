/* The packet parser: bytes -> struct flow_key, header offsets and hash.
 *
 * One pass from Ethernet to L4, every read preceded by a length check
 * against what is left of the frame, so no input can make it read past
 * data + len.  Each layer is a function that fills its part of the key and
 * returns PKT_ERR_NONE or the reason it stopped; a layer fills the key only
 * once its whole header proved valid, so after an error the key holds
 * exactly the layers below the broken one (flows can still match on them).
 *
 * Offsets follow the same rule: l3_ofs is set only for a valid ARP, IPv4
 * or IPv6 header, l4_ofs/l7_ofs only for a complete TCP, UDP, SCTP, ICMP or
 * ICMPv6 header.  The rewrite code relies on that: a set offset means the
 * whole header is there.
 *
 * Semantics follow Open vSwitch's flow extraction: an IPv4 total length
 * shorter than the frame trims the frame for L4 (Ethernet padding); only
 * the first fragment carries L4 fields (nw_frag LATER means no L4 parse);
 * ICMP type and code go into tp_src/tp_dst; the ARP opcode goes into
 * nw_proto when it fits in a byte, else nw_proto stays 0. */
#include <string.h>

#include "core/compiler.h"
#include "core/hash.h"
#include "pkt.h"
#include "pkt_int.h"

/* The key's hash indexes the datapath's exact-match cache, which compares
 * whole keys, so the hash must spread keys well and be a function of the
 * key, nothing more.  Two savings follow:
 *
 *   - Only the first PKT_HASH_WORDS words are hashed unless the packet is
 *     IPv6: the remaining four hold the IPv6 addresses, which are zero in
 *     every other key (and equal keys still get equal hashes, since
 *     dl_type is part of the key).
 *   - On x86-64 CPUs with SSE4.2 (every one since 2008), each word costs
 *     one CRC32C instruction; two chains overlap their latency.  Elsewhere
 *     four multiply lanes do the same job.  Both end in the 64-bit
 *     Murmur3 finaliser, since CRC alone is linear.  The hash never leaves
 *     the process, so the two need not agree.  (The choice is a tested
 *     CPU feature bit, not an ifunc: an ifunc resolver runs before the
 *     sanitizers' start-up and crashed the fuzzing build.) */
#define PKT_HASH_WORDS (offsetof(struct flow_key, ipv6_src) / 8)
#define PKT_HASH_MUL UINT64_C(0x9e3779b97f4a7c15)
_Static_assert(PKT_HASH_WORDS == 7 && FLOW_KEY_WORDS == 11,
               "the hash's word split assumes the flow key layout");

static inline uint64_t
pkt_hash_word(const struct flow_key *key, size_t i)
{
    uint64_t w;

    /* A key on the stack may be only 4-byte aligned; the compiler turns
     * this into a plain load. */
    memcpy(&w, (const uint8_t *)key + i * sizeof w, sizeof w);
    return w;
}

static inline size_t
pkt_hash_n_words(const struct flow_key *key)
{
    return key->dl_type == htons(ETH_TYPE_IPV6) ? FLOW_KEY_WORDS
                                                : PKT_HASH_WORDS;
}

static inline uint64_t
pkt_hash_lane(uint64_t lane, uint64_t word)
{
    lane = (lane ^ word) * PKT_HASH_MUL;
    return lane ^ (lane >> 32);
}

static inline uint64_t
pkt_rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint32_t
pkt_key_hash_mul(const struct flow_key *key)
{
    uint64_t lane[4] = {
        UINT64_C(0x243f6a8885a308d3),
        UINT64_C(0x13198a2e03707344),
        UINT64_C(0xa4093822299f31d0),
        UINT64_C(0x082efa98ec4e6c89),
    };
    size_t n = pkt_hash_n_words(key);

    for (size_t i = 0; i < n; i++) {
        lane[i % 4] = pkt_hash_lane(lane[i % 4], pkt_hash_word(key, i));
    }
    return hash_finish64(lane[0] ^ pkt_rotl64(lane[1], 16) ^
                           pkt_rotl64(lane[2], 32) ^ pkt_rotl64(lane[3], 48));
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t
pkt_key_hash_crc(const struct flow_key *key)
{
    uint64_t a = 0x243f6a88, b = 0x85a308d3;

    for (size_t i = 0; i < PKT_HASH_WORDS - 1; i += 2) {
        a = __builtin_ia32_crc32di(a, pkt_hash_word(key, i));
        b = __builtin_ia32_crc32di(b, pkt_hash_word(key, i + 1));
    }
    a = __builtin_ia32_crc32di(a, pkt_hash_word(key, PKT_HASH_WORDS - 1));
    if (key->dl_type == htons(ETH_TYPE_IPV6)) {
        /* The four words of the two addresses. */
        for (size_t i = PKT_HASH_WORDS; i < FLOW_KEY_WORDS; i += 2) {
            a = __builtin_ia32_crc32di(a, pkt_hash_word(key, i));
            b = __builtin_ia32_crc32di(b, pkt_hash_word(key, i + 1));
        }
    }
    return hash_finish64(a << 32 | b);
}

uint32_t
pkt_key_hash(const struct flow_key *key)
{
    /* A load and a test of the CPU model that the compiler's runtime
     * filled in at start-up; the branch always goes the same way. */
    return __builtin_cpu_supports("sse4.2") ? pkt_key_hash_crc(key)
                                            : pkt_key_hash_mul(key);
}
#else
uint32_t
pkt_key_hash(const struct flow_key *key)
{
    return pkt_key_hash_mul(key);
}
#endif

/* Parses the L4 header of protocol 'proto' at 'ofs' in the frame 'd',
 * 'size' bytes long (the L3 payload, padding excluded). */
static enum pkt_parse_err
parse_l4(struct packet *p, const uint8_t *d, uint32_t ofs, uint32_t size,
         uint8_t proto, bool ipv6)
{
    const uint8_t *l4 = d + ofs;
    struct flow_key *k = &p->key;
    uint32_t hlen;

    switch (proto) {
    case IPPROTO_TCP_:
        if (size < TCP_HEADER_LEN) {
            return PKT_ERR_TCP_SHORT;
        }
        hlen = (uint32_t)(l4[12] >> 4) * 4;
        if (hlen < TCP_HEADER_LEN || hlen > size) {
            return PKT_ERR_TCP_BAD_OFF;
        }
        k->tcp_flags = htons(get_u16(l4 + 12) & TCP_FLAGS_MASK);
        break;
    case IPPROTO_UDP_:
        if (size < UDP_HEADER_LEN) {
            return PKT_ERR_UDP_SHORT;
        }
        hlen = UDP_HEADER_LEN;
        break;
    case IPPROTO_SCTP_:
        if (size < SCTP_HEADER_LEN) {
            return PKT_ERR_SCTP_SHORT;
        }
        hlen = SCTP_HEADER_LEN;
        break;
    case IPPROTO_ICMP_:
        if (ipv6) {
            return PKT_ERR_NONE;
        }
        if (size < ICMP_HEADER_LEN) {
            return PKT_ERR_ICMP_SHORT;
        }
        k->tp_src = htons(l4[0]);
        k->tp_dst = htons(l4[1]);
        p->l4_ofs = (uint16_t)ofs;
        p->l7_ofs = (uint16_t)(ofs + ICMP_HEADER_LEN);
        return PKT_ERR_NONE;
    case IPPROTO_ICMPV6_:
        if (!ipv6) {
            return PKT_ERR_NONE;
        }
        if (size < ICMP6_HEADER_LEN) {
            return PKT_ERR_ICMP6_SHORT;
        }
        k->tp_src = htons(l4[0]);
        k->tp_dst = htons(l4[1]);
        p->l4_ofs = (uint16_t)ofs;
        p->l7_ofs = (uint16_t)(ofs + ICMP6_HEADER_LEN);
        return PKT_ERR_NONE;
    default:
        return PKT_ERR_NONE;
    }

    /* TCP, UDP and SCTP all start with the two ports. */
    k->tp_src = get_be16(l4);
    k->tp_dst = get_be16(l4 + 2);
    p->l4_ofs = (uint16_t)ofs;
    p->l7_ofs = (uint16_t)(ofs + hlen);
    return PKT_ERR_NONE;
}

static enum pkt_parse_err
parse_arp(struct packet *p, const uint8_t *d, uint32_t ofs, uint32_t size)
{
    const uint8_t *a = d + ofs;
    struct flow_key *k = &p->key;
    uint16_t op;

    if (size < ARP_ETH_IP_LEN) {
        return PKT_ERR_ARP_SHORT;
    }
    if (get_u16(a) != 1 || get_u16(a + 2) != ETH_TYPE_IP ||
        a[4] != ETH_ADDR_LEN || a[5] != 4) {
        return PKT_ERR_ARP_BAD;
    }
    op = get_u16(a + 6);
    k->nw_proto = op <= 0xff ? (uint8_t)op : 0;
    memcpy(k->arp_sha, a + 8, ETH_ADDR_LEN);
    k->nw_src = get_be32(a + 14);
    memcpy(k->arp_tha, a + 18, ETH_ADDR_LEN);
    k->nw_dst = get_be32(a + 24);
    p->l3_ofs = (uint16_t)ofs;
    return PKT_ERR_NONE;
}

static enum pkt_parse_err
parse_ip4(struct packet *p, const uint8_t *d, uint32_t ofs, uint32_t size)
{
    const uint8_t *ip = d + ofs;
    struct flow_key *k = &p->key;
    uint32_t ihl, tot_len;
    uint16_t frag_off;

    if (size < IP_HEADER_LEN) {
        return PKT_ERR_IP4_SHORT;
    }
    if (ip[0] >> 4 != 4) {
        return PKT_ERR_IP4_BAD_VERSION;
    }
    ihl = (uint32_t)(ip[0] & 0x0f) * 4;
    if (ihl < IP_HEADER_LEN) {
        return PKT_ERR_IP4_BAD_IHL;
    }
    if (ihl > size) {
        return PKT_ERR_IP4_OPTS_SHORT;
    }
    tot_len = get_u16(ip + 2);
    if (tot_len < ihl || tot_len > size) {
        return PKT_ERR_IP4_BAD_LEN;
    }

    k->nw_tos = ip[1];
    k->nw_ttl = ip[8];
    k->nw_proto = ip[9];
    k->nw_src = get_be32(ip + 12);
    k->nw_dst = get_be32(ip + 16);
    frag_off = get_u16(ip + 6);
    if (frag_off & (IP_MF | IP_FRAG_OFF_MASK)) {
        k->nw_frag = FLOW_NW_FRAG_ANY;
        if (frag_off & IP_FRAG_OFF_MASK) {
            k->nw_frag |= FLOW_NW_FRAG_LATER;
        }
    }
    p->l3_ofs = (uint16_t)ofs;
    if (k->nw_frag & FLOW_NW_FRAG_LATER) {
        return PKT_ERR_NONE;
    }
    return parse_l4(p, d, ofs + ihl, tot_len - ihl, k->nw_proto, false);
}

enum pkt_parse_err
pkt_ip6_walk(const uint8_t *ip6, uint32_t size, struct ip6_chain *chain)
{
    enum pkt_parse_err err = PKT_ERR_NONE;
    uint32_t ofs = IPV6_HEADER_LEN;
    uint8_t nh = ip6[6];
    unsigned int n = 0;

    chain->frag = 0;
    chain->rh_active = 0;
    for (;;) {
        const uint8_t *e = ip6 + ofs;
        uint32_t len;

        if (nh != IPPROTO_HOPOPTS_ && nh != IPPROTO_ROUTING_ &&
            nh != IPPROTO_DSTOPTS_ && nh != IPPROTO_AH_ &&
            nh != IPPROTO_FRAGMENT_) {
            break;
        }
        if (n++ == IPV6_MAX_EXT_HDRS) {
            err = PKT_ERR_IP6_EXT_TOO_MANY;
            break;
        }
        /* Every extension header is at least 8 bytes long, and its length
         * field is in the first 8. */
        if (size - ofs < 8) {
            err = PKT_ERR_IP6_EXT_SHORT;
            break;
        }
        if (nh == IPPROTO_FRAGMENT_) {
            len = IPV6_FRAG_HEADER_LEN;
            chain->frag = FLOW_NW_FRAG_ANY;
            if (get_u16(e + 2) & 0xfff8) {
                /* A later fragment: what follows is not a header. */
                chain->frag |= FLOW_NW_FRAG_LATER;
                nh = e[0];
                ofs += len;
                break;
            }
        } else if (nh == IPPROTO_AH_) {
            len = ((uint32_t)e[1] + 2) * 4;
        } else {
            len = ((uint32_t)e[1] + 1) * 8;
            if (nh == IPPROTO_ROUTING_ && e[3]) {
                chain->rh_active = 1;
            }
        }
        if (len > size - ofs) {
            err = PKT_ERR_IP6_EXT_SHORT;
            break;
        }
        nh = e[0];
        ofs += len;
    }
    chain->proto = nh;
    chain->l4_ofs = ofs;
    return err;
}

static enum pkt_parse_err
parse_ip6(struct packet *p, const uint8_t *d, uint32_t ofs, uint32_t size)
{
    const uint8_t *ip6 = d + ofs;
    struct flow_key *k = &p->key;
    struct ip6_chain chain;
    enum pkt_parse_err err;
    uint32_t plen;

    if (size < IPV6_HEADER_LEN) {
        return PKT_ERR_IP6_SHORT;
    }
    if (ip6[0] >> 4 != 6) {
        return PKT_ERR_IP6_BAD_VERSION;
    }
    plen = get_u16(ip6 + 4);
    if (plen > size - IPV6_HEADER_LEN) {
        return PKT_ERR_IP6_BAD_LEN;
    }

    k->nw_tos = (uint8_t)(get_u16(ip6) >> 4);
    k->ipv6_label = get_be32(ip6) & htonl(IPV6_LABEL_MASK);
    k->nw_ttl = ip6[7];
    memcpy(k->ipv6_src, ip6 + 8, 16);
    memcpy(k->ipv6_dst, ip6 + 24, 16);
    p->l3_ofs = (uint16_t)ofs;

    err = pkt_ip6_walk(ip6, IPV6_HEADER_LEN + plen, &chain);
    k->nw_proto = chain.proto;
    k->nw_frag = chain.frag;
    if (err != PKT_ERR_NONE || chain.frag & FLOW_NW_FRAG_LATER) {
        return err;
    }
    return parse_l4(p, d, ofs + chain.l4_ofs,
                    IPV6_HEADER_LEN + plen - chain.l4_ofs, chain.proto, true);
}

static enum pkt_parse_err
parse_frame(struct packet *p, const uint8_t *d, uint32_t size)
{
    struct flow_key *k = &p->key;
    uint32_t ofs = 2 * ETH_ADDR_LEN;
    uint16_t type;

    if (size < ETH_HEADER_LEN) {
        return PKT_ERR_ETH_SHORT;
    }
    memcpy(k->dl_dst, d, ETH_ADDR_LEN);
    memcpy(k->dl_src, d + ETH_ADDR_LEN, ETH_ADDR_LEN);

    /* 'ofs' points at a type field: the Ethertype or a tag's TPID. */
    type = get_u16(d + ofs);
    while (type == ETH_TYPE_VLAN || type == ETH_TYPE_VLAN_8021AD) {
        be16 tci;

        if (p->n_vlans == 2) {
            k->dl_type = htons(type);
            return PKT_ERR_VLAN_TOO_MANY;
        }
        /* TPID, TCI and the next type field. */
        if (size - ofs < 2 + VLAN_HEADER_LEN) {
            k->dl_type = htons(type);
            return PKT_ERR_VLAN_SHORT;
        }
        tci = htons(get_u16(d + ofs + 2) | VLAN_CFI);
        if (p->n_vlans++ == 0) {
            k->vlan_tci = tci;
            p->vlan_ofs = (uint16_t)ofs;
        } else {
            k->vlan_tci2 = tci;
        }
        ofs += VLAN_HEADER_LEN;
        type = get_u16(d + ofs);
    }
    ofs += 2;

    if (type < ETH_TYPE_MIN) {
        /* An 802.3 length field: OvS gives such frames one dl_type. */
        k->dl_type = htons(ETH_TYPE_NONE);
        return PKT_ERR_NONE;
    }
    k->dl_type = htons(type);
    if (likely(type == ETH_TYPE_IP)) {
        return parse_ip4(p, d, ofs, size - ofs);
    }
    switch (type) {
    case ETH_TYPE_IPV6:
        return parse_ip6(p, d, ofs, size - ofs);
    case ETH_TYPE_ARP:
        return parse_arp(p, d, ofs, size - ofs);
    default:
        return PKT_ERR_NONE;
    }
}

/* Zeroes a key.  Two memsets, not one: GCC expands a single 88-byte
 * memset to "rep stos", whose start-up cost (dozens of cycles) was a third
 * of a parse, while blocks of up to 64 bytes become a few vector stores. */
static inline void
pkt_key_clear(struct flow_key *k)
{
    memset(k, 0, 64);
    memset((uint8_t *)k + 64, 0, sizeof *k - 64);
}

/* The common frame in one straight line: untagged Ethernet, IPv4 without
 * options and not a fragment, then a whole TCP or UDP header within the
 * IPv4 total length.  Every check comes before the first store, so a frame
 * of any other shape returns false with nothing written and takes the
 * general path (parse_frame()), which gives it the same key, offsets and
 * result as this would (test_pkt and fuzz_parse compare the two on every
 * input).  The general path spends about 100 instructions on such a frame,
 * layer by layer; this spends about half: a few combined tests, and the
 * MACs, addresses and ports copied as the runs of bytes they are in both
 * the frame and the key. */
static inline bool
parse_fast(struct packet *p, const uint8_t *d, uint32_t size)
{
    const uint8_t *ip = d + ETH_HEADER_LEN;
    const uint8_t *l4 = ip + IP_HEADER_LEN;
    struct flow_key *k = &p->key;
    uint32_t tot_len, hlen;
    be16 flags = 0;

    /* Enough for the longest header read here (TCP's data offset); a
     * shorter frame is never common (Ethernet pads to 60 bytes). */
    if (size < ETH_HEADER_LEN + IP_HEADER_LEN + TCP_HEADER_LEN ||
        get_be16(d + 2 * ETH_ADDR_LEN) != htons(ETH_TYPE_IP) ||
        ip[0] != (4 << 4 | IP_HEADER_LEN / 4) ||
        (get_be16(ip + 6) & htons(IP_MF | IP_FRAG_OFF_MASK))) {
        return false;
    }
    tot_len = get_u16(ip + 2);
    if (tot_len > size - ETH_HEADER_LEN) {
        return false;
    }
    if (ip[9] == IPPROTO_TCP_) {
        hlen = (uint32_t)(l4[12] >> 4) * 4;
        if (hlen < TCP_HEADER_LEN || hlen + IP_HEADER_LEN > tot_len) {
            return false;
        }
        flags = htons(get_u16(l4 + 12) & TCP_FLAGS_MASK);
    } else if (ip[9] == IPPROTO_UDP_ &&
               tot_len >= IP_HEADER_LEN + UDP_HEADER_LEN) {
        hlen = UDP_HEADER_LEN;
    } else {
        return false;
    }

    k->dl_type = htons(ETH_TYPE_IP);
    _Static_assert(offsetof(struct flow_key, dl_src) ==
                       offsetof(struct flow_key, dl_dst) + ETH_ADDR_LEN &&
                   offsetof(struct flow_key, tp_dst) ==
                       offsetof(struct flow_key, tp_src) + 2 &&
                   offsetof(struct flow_key, nw_dst) ==
                       offsetof(struct flow_key, nw_src) + 4,
                   "parse_fast() copies these fields pairwise");
    memcpy(k->dl_dst, d, 2 * ETH_ADDR_LEN);
    memcpy(&k->tp_src, l4, 4);
    k->tcp_flags = flags;
    memcpy(&k->nw_src, ip + 12, 8);
    k->nw_proto = ip[9];
    k->nw_tos = ip[1];
    k->nw_ttl = ip[8];
    p->l3_ofs = ETH_HEADER_LEN;
    p->l4_ofs = ETH_HEADER_LEN + IP_HEADER_LEN;
    p->l7_ofs = (uint16_t)(ETH_HEADER_LEN + IP_HEADER_LEN + hlen);
    p->parse_err = PKT_ERR_NONE;
    return true;
}

/* Everything pkt_parse() does but the hash; 'fast' tries parse_fast()
 * first. */
static inline void
parse_packet(struct packet *p, bool fast)
{
    const uint8_t *d = packet_data(p);

    pkt_key_clear(&p->key);
    p->key.in_port = p->in_port;
    p->vlan_ofs = PACKET_OFS_NONE;
    p->n_vlans = 0;
    if (fast && likely(parse_fast(p, d, p->len))) {
        return;
    }
    p->l3_ofs = PACKET_OFS_NONE;
    p->l4_ofs = PACKET_OFS_NONE;
    p->l7_ofs = PACKET_OFS_NONE;
    p->parse_err = (uint8_t)parse_frame(p, d, p->len);
}

void
pkt_parse(struct packet *p)
{
    parse_packet(p, true);
    p->hash = pkt_key_hash(&p->key);
}

void
pkt_parse_general(struct packet *p)
{
    parse_packet(p, false);
    p->hash = pkt_key_hash(&p->key);
}

/* Prefetch distances of pkt_parse_batch(), in packets: a packet's struct
 * (which the parse writes) is requested PKT_PF_STRUCT packets ahead, its
 * frame PKT_PF_FRAME ahead, by when the struct holding the frame's address
 * has arrived. */
#define PKT_PF_STRUCT 16
#define PKT_PF_FRAME 8

/* Frame bytes the parser reads in the common case: Ethernet, IPv4 and TCP
 * headers without options. */
#define PKT_PF_FRAME_LEN (ETH_HEADER_LEN + IP_HEADER_LEN + TCP_HEADER_LEN)

/* A parse is bound by memory latency: each packet's struct and frame are
 * usually cold, and the frame's address is in the struct.  So the loop
 * requests the struct of a packet PKT_PF_STRUCT packets ahead and the
 * frame of one PKT_PF_FRAME ahead, keeping several packets' misses in
 * flight while it parses.  (Requesting every packet of the batch at once
 * instead, before parsing, measured slower: the requests of a whole batch
 * outnumber the misses a core keeps in flight, so the prefetch loop itself
 * stalls, and the hardware prefetcher, which already follows packets
 * allocated in order, loses its lead.)
 *
 * The batch is parsed first and hashed after: hashing reads the key as
 * whole words right after the parser stored it field by field, and a load
 * that spans several pending narrower stores cannot be forwarded from them
 * (it waits for them to reach the cache), so hashing each key at once
 * stalls.  By the time the second pass runs, the stores are done. */
void
pkt_parse_batch(struct packet_batch *b)
{
    unsigned int n = MIN(b->count, PACKET_BATCH_MAX);

    for (unsigned int i = 0; i < n; i++) {
        if (i + PKT_PF_STRUCT < n) {
            /* The two lines the parse writes (struct packet's layout). */
            const char *q = (const char *)b->pkts[i + PKT_PF_STRUCT];
            __builtin_prefetch(q, 1);
            __builtin_prefetch(q + 64, 1);
        }
        if (i + PKT_PF_FRAME < n) {
            /* The headers' first and last line (the same line, when they
             * do not cross one). */
            const char *f = (const char *)packet_data(b->pkts[i + PKT_PF_FRAME]);
            __builtin_prefetch(f);
            __builtin_prefetch(f + PKT_PF_FRAME_LEN - 1);
        }
        parse_packet(b->pkts[i], true);
    }
    for (unsigned int i = 0; i < n; i++) {
        b->pkts[i]->hash = pkt_key_hash(&b->pkts[i]->key);
    }
}

uint32_t
pkt_l4_size(const struct packet *p)
{
    const uint8_t *l3 = packet_data(p) + p->l3_ofs;
    uint32_t end;

    if (p->key.dl_type == htons(ETH_TYPE_IP)) {
        end = p->l3_ofs + get_u16(l3 + 2);
    } else {
        end = p->l3_ofs + IPV6_HEADER_LEN + get_u16(l3 + 4);
    }
    /* The bytes may have changed since the parse (an eBPF program wrote
     * the length field): never report more than the frame holds. */
    end = MIN(end, p->len);
    return end > p->l4_ofs ? end - p->l4_ofs : 0;
}
