/* Input classes of a contract in words (issue 8): "IPv4 TCP SYN, not from
 * WAN port, flow unknown, nat_flows full".
 *
 * A class of contract.h is a set of raw conditions as the path walk
 * (bpf/verifier_paths.c) writes them ("dl_type=0x800", "nw_proto=6",
 * "tcp_flags&0x12=2", "in_port!=nat_cfg+0") plus its helper calls and
 * their outcomes.  contract_describe_class() reads them back and says the
 * same in a tenant's words:
 *
 *  - a headline of protocol words: VLAN tags, the EtherType ("IPv4",
 *    "IPv6", "ARP"), "fragment", the transport protocol and TCP flags
 *    ("TCP SYN", "TCP SYN+ACK", "TCP not SYN");
 *  - then ports, addresses (dotted), the ingress port ("from port 2", or
 *    "from WAN port" when it is compared with a configuration map field
 *    named wan_port), length bounds ("shorter than 34 bytes");
 *  - then the calls: "flow unknown", "nat_flows full", "tail call via
 *    jumps" (rules in describe.c, documented in docs/contracts.md);
 *  - any condition it does not recognise, as written (map value offsets
 *    named from BTF where known), so nothing is lost.
 *
 * Conditions that only say a packet is well formed (long enough, IPv4
 * header length at least 5, not a fragment, TTL above 1) are left out of
 * the words: the raw conditions keep them.  IPv6 packets are read with
 * IPv6 offsets: the walk names packet bytes as if an IPv4 header without
 * options followed the Ethernet header ("ip_frag[0]" is IPv6's next
 * header, "l4[33:34]" the TCP flags), which this module undoes.
 *
 * Map value fields ("nat_cfg+0") are named from the object's BTF
 * ("nat_cfg.wan_port") once contract_describe_use_btf() has read it; the
 * names are process-wide, keyed by map name and value size, like the
 * contract module's other per-process state (not thread-safe). */
#ifndef CONTRACT_DESCRIBE_H
#define CONTRACT_DESCRIBE_H 1

#include <stdint.h>

#include "core/compiler.h"

struct bpf_prog;
struct contract_call;

/* Reads the value types of the maps of ELF object 'path' from its ".BTF"
 * section, for the descriptions made afterwards; NULL forgets the names.
 * An object without BTF or without BTF-defined maps gives no names and
 * returns 0.  Returns 0, or a negative errno with '*errp' (allocated) for
 * a file that cannot be read or a malformed ".BTF". */
int contract_describe_use_btf(const char *path, char **errp);

/* The words of a class of 'prog' with conditions conds[0..n_conds) and
 * calls calls[0..n_calls) (borrowed).  Returns an allocated string the
 * caller frees; "any packet" when there is nothing to say. */
char *contract_describe_class(const struct bpf_prog *prog,
                              char *const *conds, uint32_t n_conds,
                              const struct contract_call *calls,
                              uint32_t n_calls);

#endif
