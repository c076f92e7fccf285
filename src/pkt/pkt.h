/* Packet parsing and header rewriting.
 *
 * pkt_parse() fills a packet's flow key, header offsets and hash from its
 * bytes.  It reads only within [data, data + len): a truncated or
 * inconsistent header stops the parse at the last valid layer and records
 * the reason in packet->parse_err (the key keeps what was valid, so flows can
 * still match the L2 fields).  l3_ofs is set only for a valid ARP, IPv4 or
 * IPv6 header, l4_ofs and l7_ofs only for a complete TCP, UDP, SCTP, ICMP
 * or ICMPv6 header (never for later fragments), so a set offset always
 * means the whole header lies inside the frame.
 *
 * The rewrite functions change one field in the packet bytes and in the flow
 * key together, updating the IPv4 header checksum and the TCP/UDP checksum
 * incrementally (RFC 1624).  They return 0, or -EINVAL when the packet lacks
 * the header (e.g. mod_nw_src on ARP), in which case nothing changes. */
#ifndef PKT_PKT_H
#define PKT_PKT_H 1

#include <stdint.h>

#include "flow_key.h"
#include "packet.h"

/* Parses 'p' (uses p->in_port, which goes into the key). */
void pkt_parse(struct packet *p);
/* Parses every packet of a batch. */
void pkt_parse_batch(struct packet_batch *b);
/* Hash of a flow key (also stored in packet->hash by pkt_parse()). */
uint32_t pkt_key_hash(const struct flow_key *key);

/* Building packets from a flow key (for `sluice trace in_port=1,tcp,...`):
 * writes a minimal well-formed frame carrying every field of 'key' that the
 * frame format can hold, with correct checksums, padded to 60 bytes.  The
 * frame replaces p's data (the buffer grows if needed); p->in_port is set
 * from the key and 'p' is parsed, ready for the pipeline. */
void pkt_compose(struct packet *p, const struct flow_key *key);

int pkt_set_dl_src(struct packet *, const uint8_t mac[6]);
int pkt_set_dl_dst(struct packet *, const uint8_t mac[6]);
int pkt_set_nw_src(struct packet *, be32 addr);
int pkt_set_nw_dst(struct packet *, be32 addr);
int pkt_set_ipv6_src(struct packet *, const uint8_t addr[16]);
int pkt_set_ipv6_dst(struct packet *, const uint8_t addr[16]);
int pkt_set_nw_tos(struct packet *, uint8_t tos);     /* Whole TOS byte. */
int pkt_set_nw_ttl(struct packet *, uint8_t ttl);
int pkt_set_tp_src(struct packet *, be16 port);        /* TCP/UDP/SCTP. */
int pkt_set_tp_dst(struct packet *, be16 port);
/* Decrements the IPv4 TTL or IPv6 hop limit.  Returns 1 if the packet must
 * be dropped (TTL was 0 or 1, as OvS's dec_ttl), 0 if decremented, -EINVAL
 * if not IP. */
int pkt_dec_ttl(struct packet *);
/* Pushes an 802.1Q (tpid 0x8100) or 802.1ad (0x88a8) tag holding 'tci'
 * (CFI bit ignored); -ENOSPC without headroom. */
int pkt_push_vlan(struct packet *, be16 tpid, be16 tci);
/* Removes the outer tag; -EINVAL if none. */
int pkt_pop_vlan(struct packet *);
/* Sets the VID / PCP of the outer tag, pushing an 802.1Q tag if there is
 * none (as OvS's mod_vlan_vid does). */
int pkt_set_vlan_vid(struct packet *, uint16_t vid);
int pkt_set_vlan_pcp(struct packet *, uint8_t pcp);
int pkt_set_arp_op(struct packet *, uint16_t op);
int pkt_set_arp_spa(struct packet *, be32);
int pkt_set_arp_tpa(struct packet *, be32);
int pkt_set_arp_sha(struct packet *, const uint8_t mac[6]);
int pkt_set_arp_tha(struct packet *, const uint8_t mac[6]);
int pkt_set_icmp_type(struct packet *, uint8_t);
int pkt_set_icmp_code(struct packet *, uint8_t);
int pkt_set_ipv6_label(struct packet *, uint32_t label);

/* Internet checksum helpers (RFC 1071/1624), host-order accumulation of
 * big-endian 16-bit words.  csum_partial() chains ('sum' is the previous
 * result, 0 to start); csum_fold() folds and complements it into the
 * checksum in host order (store it with htons()).  A header whose stored
 * checksum is right folds to 0. */
uint32_t csum_partial(const void *data, size_t len, uint32_t sum);
uint16_t csum_fold(uint32_t sum);
/* New checksum after a 16- or 32-bit field changes from 'old' to 'new'
 * (all values in network byte order). */
uint16_t csum_update16(uint16_t csum, be16 old, be16 new_);
uint16_t csum_update32(uint16_t csum, be32 old, be32 new_);

#endif
