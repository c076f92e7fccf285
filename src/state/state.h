/* State analysis of eBPF programs (StateAlyzr on bytecode).
 *
 * All state of a sluice network function lives in its maps, so the question
 * "which state matters for which flows" is answered per map: does the packet
 * path read it, update it, which packet fields index it (its flowspace
 * dimensions) and do values read from it influence the program's output.
 * state_analyze() answers it by abstract interpretation of a loaded program
 * (see analysis.c); when it cannot tell it over-approximates and says why. */
#ifndef STATE_STATE_H
#define STATE_STATE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_prog;

/* Packet fields, named as in flows (OvS names). */
enum state_field {
    STATE_F_IN_PORT, STATE_F_DL_DST, STATE_F_DL_SRC, STATE_F_DL_TYPE,
    STATE_F_DL_VLAN, STATE_F_NW_TOS, STATE_F_NW_TTL, STATE_F_NW_PROTO,
    STATE_F_NW_FRAG, STATE_F_NW_SRC, STATE_F_NW_DST, STATE_F_IPV6_SRC,
    STATE_F_IPV6_DST, STATE_F_IPV6_LABEL, STATE_F_TP_SRC, STATE_F_TP_DST,
    STATE_F_TCP_FLAGS, STATE_F_ARP_OP, STATE_F_ARP_SHA, STATE_F_ARP_SPA,
    STATE_F_ARP_THA, STATE_F_ARP_TPA, STATE_F_PKT_LEN,
    STATE_F_NW_OTHER,            /* Other L3 header bytes (len, id, csum). */
    STATE_F_TP_OTHER,            /* Other L4 header bytes (seq, csum). */
    STATE_F_PAYLOAD,             /* Bytes past the parsed headers. */
    STATE_N_FIELDS
};
#define STATE_ALL_FIELDS ((UINT64_C(1) << STATE_N_FIELDS) - 1)

enum state_class {
    STATE_CLASS_CONFIG,          /* Never updated by the program. */
    STATE_CLASS_PER_FLOW,        /* Key covers the 5-tuple. */
    STATE_CLASS_MULTI_FLOW,      /* Key uses a strict subset of it. */
    STATE_CLASS_ALL_FLOWS,       /* Some updated entry's key does not
                                  * depend on the packet. */
};

#define STATE_REASON_LEN 160

/* Key layout: where each byte of a map's key comes from, joined over every
 * access of the packet path (so a byte is named only if every access puts
 * the same thing there).  Packet fields are numbered in network byte order
 * (byte 0 first on the wire), except in_port, a host-order u32 numbered
 * from its least significant byte. */
enum state_key_kind {
    STATE_KEY_UNKNOWN,           /* Computed, from a map, or differs. */
    STATE_KEY_FIELD,             /* Byte 'byte' of field 'field'. */
    STATE_KEY_PAIR,              /* Byte 'byte' of either member of the
                                  * pair whose source member is 'field'. */
    STATE_KEY_CONST,             /* Always 'value'. */
};

struct state_key_byte {
    uint8_t kind;                /* enum state_key_kind. */
    uint8_t field;               /* enum state_field. */
    uint8_t byte;                /* Index within the field. */
    uint8_t value;               /* STATE_KEY_CONST only. */
    /* STATE_KEY_PAIR: bytes of one group with a different 'member' hold
     * different members of the pair on every path (one the source, the
     * other the destination), so together they give the unordered pair. */
    uint16_t group;
    uint8_t member;              /* 0 or 1. */
};

struct state_map_result {
    const char *name;            /* Borrowed from the program's map. */
    bool read;                   /* Looked up on the packet path. */
    bool updated;                /* Updated, deleted or written through. */
    bool output;                 /* Values influence verdict/redirect/
                                  * packet writes. */
    bool used;                   /* Accessed at all by the program. */
    uint64_t dims;               /* Bit per enum state_field. */
    bool shared;                 /* Some write hits an entry whose key
                                  * does not depend on the packet. */
    enum state_class klass;
    bool approx;                 /* Over-approximated (see 'reason'). */
    char reason[STATE_REASON_LEN];
    bool atomic_only;            /* Updated, only by atomic add/or/and/
                                  * xor through value pointers. */
    uint32_t key_size;           /* Bytes. */
    struct state_key_byte *key;  /* Owned: 'key_size' bytes, or NULL if
                                  * no keyed access was seen. */
    /* Writers, for steering (steering.c): who may write an entry.  A
     * flow table's lookup only refreshes its entry's idle time, which
     * commutes (map_flowtable.c), so the writes are the updates, the
     * deletes and the lookups whose value the program stores through.
     * 'write_key' is the layout of their keys; 'owner_key' that of the
     * flow-table key ('owner', the flow table's name) owning the slot
     * held by keys of writes under an owned slot (a slot the table just
     * gave the writing flow, docs/state.md).  Both NULL when no such
     * write was seen.  'writers_known' is false when some write cannot
     * be attributed to a key (code not analysed: a tail or BPF-to-BPF
     * call; a queue; several maps at one call): then only 'key'
     * applies. */
    bool writers_known;
    struct state_key_byte *write_key; /* Owned: 'key_size' bytes. */
    struct state_key_byte *owner_key; /* Owned: 'owner_key_size' bytes. */
    uint32_t owner_key_size;     /* Bytes. */
    const char *owner;           /* Borrowed from the program's map. */
};

struct state_result {
    unsigned int n_maps;
    struct state_map_result *maps;    /* Owned: one per map of the prog. */
    unsigned int n_hypotheses;        /* Packet shapes analysed. */
};

/* Analyses a verified XDP program: fills 'res' (one entry per map of the
 * program, in its order; free with state_result_destroy()).  Returns 0, or
 * -EINVAL with '*errp' set for a program that is not XDP or not verified. */
int state_analyze(const struct bpf_prog *, struct state_result *,
                  char **errp);
void state_result_destroy(struct state_result *);

/* Multi-core steering (issues 7 and 9): the coarsest set of packet fields
 * shared by all updateable state of the given programs, so that steering
 * packets to datapath threads by a hash of these fields never splits an
 * entry of mutable state between threads.  With 'symmetric', the hash must
 * treat each source/destination pair (dl_src/dl_dst, nw_src/nw_dst,
 * ipv6_src/ipv6_dst, tp_src/tp_dst) as an unordered pair, so both
 * directions of a connection land on one thread.  'single' means no field
 * set works (e.g. a map updated under a key that does not depend on the
 * packet): every packet must go to one thread; 'fields' is then 0.
 * 'reason' says in words why this set was chosen.  With no programs (or
 * none that updates state) the result is the symmetric 5-tuple. */
struct state_steering {
    uint64_t fields;             /* Bit per enum state_field. */
    bool symmetric;
    bool single;
    char reason[STATE_REASON_LEN];
};
int state_steering(const struct bpf_prog *const *progs, size_t n_progs,
                   struct state_steering *, char **errp);

/* The bytes report (issue 9): what moving one flow's state costs.
 * 'naive' is the allocated size of every map of the program (max_entries x
 * (key_size + value_size), value_size per CPU for per-CPU maps, each CPU's
 * copy rounded up to 8 bytes), what copying all maps moves whatever the
 * flow.  'flow' is what one flow owns in the updateable maps: one entry
 * (key + value) of each per-flow or multi-flow map, the entry its key
 * names.  'shared' is the updateable all-flows maps in full, which every
 * export carries (any flow may use their entries); the export for one
 * flow is flow + shared. */
struct state_bytes {
    uint64_t naive;              /* Bytes. */
    uint64_t flow;               /* Bytes. */
    uint64_t shared;             /* Bytes. */
};
void state_bytes(const struct bpf_prog *, const struct state_result *,
                 struct state_bytes *);
/* Bytes of map 'i' of the program as allocated (see state_bytes()), and
 * of one of its entries. */
uint64_t state_map_bytes(const struct bpf_prog *, unsigned int i,
                         uint64_t *entry);

const char *state_field_name(enum state_field);
const char *state_class_name(enum state_class);
/* Writes the field names of 'dims' separated by ','; "" for none. */
void state_dims_format(uint64_t dims, char *buf, size_t size);

#endif /* STATE_STATE_H */
