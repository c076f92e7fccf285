/* libFuzzer target for the packet parser and the header rewrites.
 *
 * Each input is parsed from a buffer of exactly its size (so the
 * sanitizers catch any read past the end), then a fixed sequence of
 * rewrites runs with values taken from the input.  After every rewrite
 * that succeeds, the key, offsets and hash kept up to date incrementally
 * must equal what a fresh parse of the rewritten bytes gives, and valid
 * IPv4 header and L4 checksums must stay valid; any difference aborts.
 * The first parse is also compared with the parser's general path alone
 * (pkt_parse_general()), which its fast path for the common frame must
 * agree with. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkt/packet.h"
#include "pkt/pkt.h"
#include "pkt/pkt_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { N_STEPS = 16 };

static void
check_offsets(const struct packet *p)
{
    const uint16_t ofs[] = {p->l3_ofs, p->l4_ofs, p->l7_ofs, p->vlan_ofs};

    if (p->parse_err >= PKT_N_PARSE_ERRORS || p->n_vlans > 2) {
        abort();
    }
    for (size_t i = 0; i < sizeof ofs / sizeof ofs[0]; i++) {
        if (ofs[i] != PACKET_OFS_NONE && ofs[i] > p->len) {
            abort();
        }
    }
    if (p->hash != pkt_key_hash(&p->key)) {
        abort();
    }
}

/* 1 if 'p' has a valid IPv4 header checksum, 0 if it has a bad one, -1 if
 * it has no IPv4 header (any more: a third VLAN tag hides it). */
static int
ip4_csum_state(const struct packet *p)
{
    const uint8_t *ip;

    if (p->key.dl_type != htons(0x0800) || p->l3_ofs == PACKET_OFS_NONE) {
        return -1;
    }
    ip = packet_data(p) + p->l3_ofs;
    return csum_fold(csum_partial(ip, (size_t)(ip[0] & 0x0f) * 4, 0)) == 0;
}

/* The same for the TCP, UDP (unless 0, "no checksum"), ICMP or ICMPv6
 * checksum, recomputed over the whole segment and pseudo-header. */
static int
l4_csum_state(const struct packet *p)
{
    const uint8_t *d = packet_data(p);
    const uint8_t *l3 = d + p->l3_ofs;
    const uint8_t *l4 = d + p->l4_ofs;
    uint8_t proto = p->key.nw_proto;
    uint32_t end, len, sum = 0;
    int ipv6 = p->key.dl_type == htons(0x86dd);

    if (p->l4_ofs == PACKET_OFS_NONE || proto == 132) {
        return -1;
    }
    if (proto == 17 && !l4[6] && !l4[7]) {
        return -1;
    }
    end = ipv6 ? p->l3_ofs + 40u + (l3[4] << 8 | l3[5])
               : p->l3_ofs + (uint32_t)(l3[2] << 8 | l3[3]);
    len = end - p->l4_ofs;
    if (proto != 1) {
        sum = ipv6 ? csum_partial(l3 + 8, 32, 0) : csum_partial(l3 + 12, 8, 0);
        sum += proto + len;
    }
    return csum_fold(csum_partial(l4, len, sum)) == 0;
}

/* With 'general', the fresh parse skips the parser's fast path, which
 * must give the same as its general path on every input. */
static void
check_against_fresh_parse(const struct packet *p, bool general)
{
    struct packet *q = packet_new(0);

    packet_set_data(q, packet_data(p), p->len);
    q->in_port = p->in_port;
    if (general) {
        pkt_parse_general(q);
    } else {
        pkt_parse(q);
    }
    if (memcmp(&q->key, &p->key, sizeof p->key) || q->hash != p->hash ||
        q->parse_err != p->parse_err || q->l3_ofs != p->l3_ofs ||
        q->l4_ofs != p->l4_ofs || q->l7_ofs != p->l7_ofs ||
        q->vlan_ofs != p->vlan_ofs || q->n_vlans != p->n_vlans) {
        abort();
    }
    packet_destroy(q);
}

/* Runs rewrite number 'step' with values from 'v' (16 bytes). */
static int
rewrite(struct packet *p, unsigned int step, const uint8_t *v)
{
    be32 w;
    be16 h;

    memcpy(&w, v, 4);
    memcpy(&h, v + 4, 2);
    switch (step) {
    case 0:
        return pkt_set_dl_src(p, v);
    case 1:
        return pkt_set_nw_src(p, w);
    case 2:
        return pkt_set_nw_dst(p, w);
    case 3:
        return pkt_set_ipv6_src(p, v);
    case 4:
        return pkt_set_ipv6_dst(p, v);
    case 5:
        return pkt_set_nw_tos(p, v[0]);
    case 6:
        return pkt_dec_ttl(p);
    case 7:
        return pkt_set_tp_src(p, h);
    case 8:
        return pkt_set_tp_dst(p, h);
    case 9:
        return pkt_push_vlan(p, htons(v[0] & 1 ? 0x88a8 : 0x8100), h);
    case 10:
        return pkt_set_vlan_vid(p, (uint16_t)(ntohs(h) & 0x0fff));
    case 11:
        return pkt_pop_vlan(p);
    case 12:
        return pkt_set_arp_op(p, ntohs(h));
    case 13:
        return pkt_set_arp_tha(p, v);
    case 14:
        return pkt_set_icmp_type(p, v[0]);
    default:
        return pkt_set_ipv6_label(p, ntohl(w));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct packet *p = packet_new(0);
    uint8_t values[16] = {0};

    packet_set_data(p, data, (uint32_t)size);
    p->in_port = 1;
    pkt_parse(p);
    check_offsets(p);
    check_against_fresh_parse(p, true);

    /* Rewrite values come from the input's last bytes, so the fuzzer
     * controls them too. */
    memcpy(values, data + size - (size < 16 ? size : 16),
           size < 16 ? size : 16);
    for (unsigned int step = 0; step < N_STEPS; step++) {
        int csum_before = ip4_csum_state(p);
        int l4_before = l4_csum_state(p);

        if (rewrite(p, step, values) == 0) {
            check_offsets(p);
            check_against_fresh_parse(p, false);
            if (csum_before == 1 && ip4_csum_state(p) == 0) {
                abort();
            }
            /* Step 4 may rightly leave the L4 checksum alone: with an
             * active routing header the pseudo-header holds the final
             * destination, not the one rewritten. */
            if (l4_before == 1 && l4_csum_state(p) == 0 && step != 4) {
                abort();
            }
        }
    }
    packet_destroy(p);
    return 0;
}
