/* Flow steering; see steer.h. */
#include "steer.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

#define BIT(F) (UINT64_C(1) << (F))

/* Where a field that is not part of a source/destination pair lives in the
 * flow key (ARP's op shares nw_proto, as in Open vSwitch). */
struct steer_field {
    enum state_field field;
    uint16_t ofs;  /* Bytes into struct flow_key. */
    uint16_t size; /* Bytes. */
};

static const struct steer_field steer_fields[] = {
    {STATE_F_IN_PORT, offsetof(struct flow_key, in_port), 4},
    {STATE_F_DL_TYPE, offsetof(struct flow_key, dl_type), 2},
    {STATE_F_DL_VLAN, offsetof(struct flow_key, vlan_tci), 2},
    {STATE_F_DL_VLAN, offsetof(struct flow_key, vlan_tci2), 2},
    {STATE_F_NW_TOS, offsetof(struct flow_key, nw_tos), 1},
    {STATE_F_NW_TTL, offsetof(struct flow_key, nw_ttl), 1},
    {STATE_F_NW_PROTO, offsetof(struct flow_key, nw_proto), 1},
    {STATE_F_ARP_OP, offsetof(struct flow_key, nw_proto), 1},
    {STATE_F_NW_FRAG, offsetof(struct flow_key, nw_frag), 1},
    {STATE_F_IPV6_LABEL, offsetof(struct flow_key, ipv6_label), 4},
    {STATE_F_TCP_FLAGS, offsetof(struct flow_key, tcp_flags), 2},
    {STATE_F_ARP_SHA, offsetof(struct flow_key, arp_sha), 6},
    {STATE_F_ARP_THA, offsetof(struct flow_key, arp_tha), 6},
};

/* Source/destination pairs: hashed unordered when symmetric.  IPv6
 * addresses take two loads each. */
struct steer_pair_def {
    uint64_t a_fields; /* Fields naming the source side. */
    uint64_t b_fields; /* Fields naming the destination side. */
    uint16_t ofs_a, ofs_b, size;
};

static const struct steer_pair_def steer_pair_defs[] = {
    {BIT(STATE_F_DL_SRC), BIT(STATE_F_DL_DST),
     offsetof(struct flow_key, dl_src), offsetof(struct flow_key, dl_dst), 6},
    {BIT(STATE_F_NW_SRC) | BIT(STATE_F_ARP_SPA),
     BIT(STATE_F_NW_DST) | BIT(STATE_F_ARP_TPA),
     offsetof(struct flow_key, nw_src), offsetof(struct flow_key, nw_dst), 4},
    {BIT(STATE_F_TP_SRC), BIT(STATE_F_TP_DST),
     offsetof(struct flow_key, tp_src), offsetof(struct flow_key, tp_dst), 2},
    {BIT(STATE_F_IPV6_SRC), BIT(STATE_F_IPV6_DST),
     offsetof(struct flow_key, ipv6_src), offsetof(struct flow_key, ipv6_dst),
     8},
    {BIT(STATE_F_IPV6_SRC), BIT(STATE_F_IPV6_DST),
     offsetof(struct flow_key, ipv6_src) + 8,
     offsetof(struct flow_key, ipv6_dst) + 8, 8},
};
_Static_assert(ARRAY_SIZE(steer_pair_defs) == STEER_MAX_PAIRS,
               "STEER_MAX_PAIRS out of date");

static uint64_t
steer_size_mask(unsigned int size)
{
    /* Flow-key fields are stored as they are on the wire and loaded
     * little-endian: the field's bytes are the low bytes of the load. */
    return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

void
steer_default_spec(struct state_steering *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->fields = BIT(STATE_F_NW_PROTO) | BIT(STATE_F_NW_SRC) |
                   BIT(STATE_F_NW_DST) | BIT(STATE_F_IPV6_SRC) |
                   BIT(STATE_F_IPV6_DST) | BIT(STATE_F_TP_SRC) |
                   BIT(STATE_F_TP_DST);
    spec->symmetric = true;
    snprintf(spec->reason, sizeof spec->reason,
             "no loaded program updates state: symmetric 5-tuple");
}

void
steer_init(struct steer *s, const struct state_steering *spec)
{
    uint8_t bytes[sizeof(struct flow_key)] = {0};
    uint64_t fields = spec->single ? 0 : spec->fields;

    memset(s, 0, sizeof *s);
    s->spec = *spec;
    s->sym = spec->symmetric ? UINT64_MAX : 0;
    for (size_t i = 0; i < ARRAY_SIZE(steer_fields); i++) {
        const struct steer_field *f = &steer_fields[i];

        if (fields & BIT(f->field)) {
            memset(bytes + f->ofs, 0xff, f->size);
            s->used |= BIT(f->field);
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(steer_pair_defs); i++) {
        const struct steer_pair_def *d = &steer_pair_defs[i];
        uint64_t a = fields & d->a_fields, b = fields & d->b_fields;

        if (spec->symmetric && a && b) {
            s->pairs[s->n_pairs++] = (struct steer_pair){
                .ofs_a = d->ofs_a,
                .ofs_b = d->ofs_b,
                .mask = steer_size_mask(d->size),
            };
            s->used |= a | b;
        } else if (!spec->symmetric) {
            /* Directional: each side is an ordinary field.  (Symmetric
             * with one side only cannot be hashed symmetrically; leaving
             * it out is coarser, hence still safe.) */
            if (a) {
                memset(bytes + d->ofs_a, 0xff, d->size);
                s->used |= a;
            }
            if (b) {
                memset(bytes + d->ofs_b, 0xff, d->size);
                s->used |= b;
            }
        }
    }
    for (size_t w = 0; w < FLOW_KEY_WORDS; w++) {
        uint64_t mask;

        memcpy(&mask, bytes + w * 8, 8);
        if (mask) {
            s->word_idx[s->n_words] = (uint8_t)w;
            s->word_mask[s->n_words++] = mask;
        }
    }
    s->hash_mask = s->used ? UINT32_MAX : 0;
}
