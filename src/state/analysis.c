/* State analysis: abstract interpretation of a program's bytecode.
 *
 * The program is run abstractly once per "packet shape" hypothesis
 * (Ethernet with 0 or 1 802.1Q tag carrying IPv4 without options, IPv6
 * without extension headers, ARP or another EtherType; TCP, UDP, ICMP or an
 * unknown L4 protocol).  Under a shape the structural header bytes
 * (EtherTypes, IP version/IHL, protocol) are known constants, so packet
 * pointers have constant offsets (or small ranges where paths join),
 * branches on those bytes are decided, and each packet byte loaded has one
 * field name.  Everything else in the packet is unknown and branches on it
 * go both ways.
 *
 * Each abstract value carries two taints: the packet fields it was computed
 * from and the maps whose values it was computed from.  They follow copies,
 * arithmetic (union), stack spills and fills (byte-wise, with constant
 * bytes kept) and helper calls.  Values stored into a map are remembered
 * per value byte, so a key kept in one map and used to index another keeps
 * its fields (over-approximated as a union over the map, and said so).
 * Branches on map values add those maps to every value defined until their
 * immediate post-dominator (implicit flows) and to the sinks reached there.
 *
 * Implicit flows from packet fields: a constant (or constant operand) an
 * instruction uses differently under two shapes that differ in one field
 * depends on that field (defs_update()); within a shape, a pure value
 * (computed from program constants only) that differs between joining
 * paths depends on the fields of the undecided branches they split at
 * (ctrl regions with sides).  A key made only of pure values names entries
 * shared by every flow on the path: no dimension, all-flows.
 *
 * A map's key taint at each map helper call gives its flowspace
 * dimensions; key bytes that are constants chosen by the path (a protocol
 * number stored on the TCP path, another on the UDP path) are found by
 * comparing the key bytes between shapes that differ in one field.  The
 * key layout ("Key layout" below) says which key byte holds which packet
 * byte, for steering and export --match.  Map
 * taints reaching r0 at exit, the redirect helpers or a packet store make a
 * map output-impacting.  A write to an entry whose key does not depend on
 * the packet makes the map all-flows.
 *
 * Anything the analysis cannot resolve (a key pointer of unknown origin, a
 * variable packet offset, a tail call, a BPF-to-BPF call, an unknown helper
 * given a map value) is over-approximated (all fields, updated, shared,
 * output-impacting) and recorded as the reason.  docs/state.md lists what
 * is not modelled. */
#include "state/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_int.h"
#include "core/util.h"

#define PKT_BYTES 128                /* Header bytes modelled per shape. */
#define MAX_SPAN 64                  /* Widest offset range kept. */
/* Taint bit beside the fields: the fields came through a map value (a key
 * kept in one map, or a value found by a packet-derived key), which the
 * analysis follows only as a union over the map, so dimensions reached
 * that way are over-approximated. */
#define VIA_MAP (UINT64_C(1) << 63)
#define MAX_STACK BPF_STACK_SIZE

enum av_kind {
    AV_SCALAR,                       /* Unknown number. */
    AV_RANGE,                        /* Number in [val, hi]. */
    AV_CONST,                        /* Known number ('val' = 'hi'). */
    AV_CTX,
    AV_PKT,                          /* data + [val, hi] (or variable). */
    AV_PKT_END,
    AV_STACK,                        /* r10 + off (off < 0). */
    AV_MAP_PTR,                      /* LD_IMM64 of map 'map'. */
    AV_MAP_VAL,                      /* Pointer into a value of 'map'. */
};

struct av {
    uint8_t kind;                    /* enum av_kind. */
    bool var;                        /* Offset not constant. */
    uint8_t map;                     /* Map index (MAP_PTR/MAP_VAL). */
    int64_t val;                     /* CONST value or pointer offset, or
                                      * the low end of a range... */
    int64_t hi;                      /* ...and its high end. */
    uint64_t fields;                 /* Packet-field taint. */
    uint64_t maps;                   /* Map-value taint (bit per map). */
    uint32_t ob[8];                  /* Per byte (little-endian): the
                                      * packet byte it copies, or 0 (see
                                      * "Key layout" below). */
    uint16_t d;                      /* Defining instruction + 1, or 0:
                                      * equal stamps mean one value. */
    /* A number or packet offset chosen at join 'cg' (see "Key layout"):
     * 'c0' on the join's class-0 paths, 'c1' on its class-1 paths (a
     * firewall picks the offset of the inside address this way). */
    uint16_t cg;
    int64_t c0, c1;
    bool other;                      /* The IP protocol byte under the
                                      * "other protocol" shape, which
                                      * stands for none of those with
                                      * shapes of their own. */
    bool pure;                       /* A number computed from program
                                      * constants only (no packet byte,
                                      * map value or helper result). */
    uint16_t site;                   /* AV_MAP_VAL: the lookup call that
                                      * returned it (pc + 1), 0 when
                                      * several or unknown. */
};

#define N_CTRL 32                    /* Branch regions tracked. */

struct astate {
    bool live;
    struct av r[11];
    uint64_t sfields[MAX_STACK];     /* Per stack byte. */
    uint64_t smaps[MAX_STACK];
    int16_t sconst[MAX_STACK];       /* Known byte value or -1. */
    uint32_t sorig[MAX_STACK];       /* Packet byte copied there (ob). */
    uint16_t sdef[MAX_STACK];        /* Definition stamp (av.d). */
    bool spure[MAX_STACK];           /* Stored from a pure value. */
    struct av slot[MAX_STACK / 8];   /* Spilled 8-byte values. */
    bool slot_ok[MAX_STACK / 8];
    /* Implicit flows: the maps tested by enclosing branches ('ctrl'), kept
     * per branch region until its immediate post-dominator. */
    uint64_t ctrl;
    int32_t ctrl_end[N_CTRL];        /* Post-dominators ending regions. */
    uint64_t ctrl_mask[N_CTRL];
    /* The same for packet fields tested by undecided branches: a pure
     * value that differs between the two sides of such a branch depends
     * on them.  'ctrl_side' says which side the paths took (0 fall
     * through, 1 taken, 2 both), so a join only adds the fields of the
     * branches its incoming paths actually split at. */
    uint64_t ctrl_fmask[N_CTRL];
    int32_t ctrl_pc[N_CTRL];         /* The branch. */
    uint8_t ctrl_side[N_CTRL];       /* With a condition: its class. */
    uint16_t ctrl_cond[N_CTRL];      /* Group of the branch's condition
                                      * (see cond_group()), or 0. */
    uint8_t n_ctrl;
    /* On every path here, map 'upd_map' (-1 none) was updated with the
     * key at stack index 'upd_a' and no store hit those bytes since: a
     * lookup of that key then finds an entry the update just inserted or
     * refreshed (see "Owned slots"). */
    int16_t upd_map;
    int16_t upd_a;
    uint16_t upd_len;                /* Bytes of that key. */
};

/* Constant key bytes seen at one map helper call, to find keys that differ
 * between packet shapes only through the program's path (a protocol
 * constant stored on the TCP path and another on the UDP path). */
#define SITE_BYTES 64
#define N_SHAPES 20
struct key_site {
    uint64_t maps;                   /* Maps used at this call. */
    uint64_t extra;                  /* Fields found by comparing shapes
                                      * (as of the last round). */
    bool seen[N_SHAPES];
    int16_t val[N_SHAPES][SITE_BYTES];   /* Constant bytes, or -1. */
};

/* The constants one instruction defined, and those its register operands
 * held, under each shape (track 0 the result, 1 dst, 2 src). */
struct def_site {
    uint8_t st[3][N_SHAPES];         /* 0 unseen, 1 constant, 2 varies. */
    int64_t val[3][N_SHAPES];
};

/* Branch conditions that name pair groups (cond_group()). */
#define N_CONDS 256
#define COND_GROUP0 0x8000           /* Groups below are joins (pc + 1);
                                      * from 0xff00 map-level groups. */
struct cond_key {
    uint16_t d;                      /* Definition stamp compared. */
    bool k;                          /* Against a constant ('v')... */
    bool w32;                        /* ...in 32 bits. */
    int64_t v;                       /* Or a value of stamp 'v'. */
};

/* One packet shape. */
struct shape {
    int vlan, l3, l4;                /* As given to shape_build(). */
    int16_t byte[PKT_BYTES];         /* Known value or -1. */
    uint8_t field[PKT_BYTES];        /* enum state_field per byte. */
    uint8_t fbyte[PKT_BYTES];        /* Byte index within that field. */
    uint64_t all;                    /* Every field of this shape. */
    int proto_off;                   /* The IP protocol byte, or -1. */
};

struct ctx {
    const struct bpf_prog *prog;
    struct state_result *res;
    const struct shape *sh;
    struct key_site **sites;         /* Per instruction, or NULL. */
    const struct shape *shapes;      /* All N_SHAPES of them. */
    uint64_t *vf[BPF_MAX_MAPS];      /* Per map, per value byte: packet
                                      * fields stored there. */
    bool vf_changed;                 /* In this round. */
    int shape_idx;                   /* Index of 'sh'. */
    /* Implicit flows through the packet shape: per instruction, the
     * constant it defined under each shape, and the structural fields
     * found by comparing them (see defs_update()). */
    struct def_site *defs;           /* Per instruction. */
    uint64_t *def_extra;             /* Per instruction. */
    /* Key layout per map, joined over every keyed access. */
    struct state_key_byte *lay[BPF_MAX_MAPS];
    bool *lay_seen[BPF_MAX_MAPS];    /* One flag: seen at all. */
    int *key_map;                    /* Per instruction: the map keyed
                                      * there, -1 none, -2 several. */
    bool plain_update[BPF_MAX_MAPS]; /* Updated other than atomically. */
    /* Writers (for steering): per call instruction, the key layout joined
     * over this round's shapes, its map, and the lookup (pc + 1) whose
     * entry's slot the key holds, 0 none, UINT32_MAX differing. */
    struct state_key_byte **clay;
    uint32_t *csize;                 /* Bytes allocated in 'clay'. */
    bool *clay_seen;
    int *cmap;
    uint32_t *cown;
    bool *cfresh;                    /* Per lookup call: right after an
                                      * update of its key on every path. */
    bool *val_written;               /* Per lookup call: a store went
                                      * through the value it returned. */
    bool val_write_any[BPF_MAX_MAPS]; /* A store through a value pointer
                                       * whose lookup is not known. */
    bool slot_written[BPF_MAX_MAPS]; /* A store may hit a value's slot. */
    bool unkeyed[BPF_MAX_MAPS];      /* Written without a known key (a
                                      * queue, a call on several maps). */
    bool opaque;                     /* Code not analysed (approx_all()):
                                      * its writes are unknown. */
    struct cond_key conds[N_CONDS];
    int n_conds;
    struct astate *st;               /* Per instruction (entry state). */
    int32_t *ipdom;                  /* Per instruction, or -1 (exit). */
    uint32_t *work;
    bool *queued;
    uint32_t n_work;
};

static void
approx(struct state_map_result *m, const char *why)
{
    if (!m->approx) {
        m->approx = true;
        snprintf(m->reason, sizeof m->reason, "%s", why);
    }
}

static void
approx_all(struct ctx *c, const char *why, bool skip_prog_arrays)
{
    c->opaque = true;
    for (unsigned int i = 0; i < c->res->n_maps; i++) {
        struct state_map_result *m = &c->res->maps[i];
        if (skip_prog_arrays
            && c->prog->maps[i]->type == BPF_MAP_TYPE_PROG_ARRAY) {
            continue;
        }
        m->used = m->read = m->updated = m->output = true;
        c->plain_update[i] = true;
        m->shared = true;
        m->dims = STATE_ALL_FIELDS;
        approx(m, why);
    }
}

/* ---- Key layout. ----
 *
 * Besides taints, each register byte and stack byte remembers which packet
 * byte it is a verbatim copy of ("ob" codes), so the bytes of a key can be
 * named: field and byte within it.  Where two paths join with the source
 * and destination member of a pair (a firewall keys connections by inside
 * address first, so the source on one path and the destination on the
 * other), the byte becomes a pair code.  Pair codes carry a group (the
 * join instruction) and a polarity: within a group every path agrees on
 * a class (0 or 1) such that a byte holds the source member on one class
 * and the destination on the other, as its polarity says.  Two key bytes
 * of one group with opposite polarity therefore hold one member each, on
 * every path; a pair code whose paths could not be given consistent
 * classes has group 0 and says only "one of the two". */
#define OB_VALID (UINT32_C(1) << 13)
#define OB_PAIR (UINT32_C(1) << 11)
#define OB_POL (UINT32_C(1) << 12)   /* Class-1 paths hold the dst. */
#define OB_GROUP(c) ((c) >> 16)
#define OB_FIELD(c) ((int) ((c) >> 6 & 0x1f))
#define OB_BYTE(c) ((int) ((c) & 0x3f))
/* Not a packet byte: byte OB_BYTE of the slot (struct sluice_ft_value_hdr)
 * of the flow-table entry found by the lookup call OB_GROUP - 1 (see
 * "Owned slots" below). */
#define OB_SLOT (UINT32_C(1) << 14)

static uint32_t
ob_make(int field, int byte)
{
    return OB_VALID | (uint32_t) field << 6 | (uint32_t) byte;
}

/* The source member of the pair 'f' belongs to, or -1. */
static int
pair_src(int f)
{
    switch (f) {
    case STATE_F_DL_SRC: case STATE_F_DL_DST: return STATE_F_DL_SRC;
    case STATE_F_NW_SRC: case STATE_F_NW_DST: return STATE_F_NW_SRC;
    case STATE_F_IPV6_SRC: case STATE_F_IPV6_DST: return STATE_F_IPV6_SRC;
    case STATE_F_TP_SRC: case STATE_F_TP_DST: return STATE_F_TP_SRC;
    default: return -1;
    }
}

/* Joins code 't' (of the paths seen so far, of class 'tcls', 2 if of
 * both) with 'u' (a new path of class 'cls') for group 'g'.  '*ok' is
 * false when the classes do not allow the result. */
static uint32_t
ob_join1(uint32_t t, uint32_t u, uint32_t g, int tcls, int cls, bool *ok)
{
    *ok = true;
    if (t == u) {
        return t;
    }
    if (!(t & OB_VALID) || !(u & OB_VALID) || OB_BYTE(t) != OB_BYTE(u)) {
        return 0;
    }
    int pt = pair_src(OB_FIELD(t)), pu = pair_src(OB_FIELD(u));
    if (pt < 0 || pt != pu) {
        return 0;
    }
    uint32_t loose = OB_VALID | OB_PAIR | (uint32_t) pt << 6
                     | (uint32_t) OB_BYTE(t);
    bool u_dst = OB_FIELD(u) != pt;
    bool t_dst = OB_FIELD(t) != pt;
    if (!(t & OB_PAIR) && !(u & OB_PAIR)) {
        /* Different members on paths of different classes. */
        *ok = tcls != 2 && tcls != cls;
        return loose | g << 16 | ((cls == 1 ? u_dst : t_dst) ? OB_POL : 0);
    }
    if ((t & OB_PAIR) && OB_GROUP(t) == g && g && !(u & OB_PAIR)) {
        bool pol = t & OB_POL;
        *ok = u_dst == (cls == 1 ? pol : !pol);
        return t;
    }
    if ((u & OB_PAIR) && OB_GROUP(u) == g && g && !(t & OB_PAIR)) {
        bool pol = u & OB_POL;
        *ok = tcls != 2 && t_dst == (tcls == 1 ? pol : !pol);
        return u;
    }
    return loose;
}

/* A constant (number or exact packet offset) of 'a' itself. */
static bool
av_exact(const struct av *a, int64_t *x)
{
    *x = a->val;
    return (a->kind == AV_CONST || (a->kind == AV_PKT && !a->var))
           && a->val == a->hi;
}

/* A join of two states at join 'g', the new path being of class 'cls'.
 * A state reaching a join downstream of an earlier group G may hold a
 * plain field at a location where the other holds G's pair code (an older
 * state of the same paths, or paths that never met G's join): the plain
 * side's paths then have a class at G, implied by its member; if every
 * such location implies one class, the pair code stands for both. */
#define N_JGROUPS 16
struct join_ctx {
    uint32_t g;                      /* Group formed here, or 0. */
    uint32_t stamp;                  /* Definition stamp of joined values
                                      * that differ (the join + 1). */
    int tcls;                        /* Class of the paths so far (2:
                                      * both). */
    int cls;                         /* Class of the new path. */
    int n;
    uint16_t grp[N_JGROUPS];
    uint8_t mask[N_JGROUPS][2];      /* Per side (0 to, 1 from): bit per
                                      * class implied. */
    bool overflow;
};

static bool
ob_same_pair(uint32_t t, uint32_t u)
{
    return (t & OB_VALID) && (u & OB_VALID) && OB_BYTE(t) == OB_BYTE(u)
           && pair_src(OB_FIELD(t)) >= 0
           && pair_src(OB_FIELD(t)) == pair_src(OB_FIELD(u));
}

/* Notes that the paths of 'side' are of class 'cls' at group 'G'. */
static void
jc_note_class(struct join_ctx *jc, uint32_t G, int side, int cls)
{
    int i;

    for (i = 0; i < jc->n && jc->grp[i] != G; i++) {
        continue;
    }
    if (i == jc->n) {
        if (jc->n == N_JGROUPS) {
            jc->overflow = true;
            return;
        }
        jc->grp[jc->n] = (uint16_t) G;
        jc->mask[jc->n][0] = jc->mask[jc->n][1] = 0;
        jc->n++;
    }
    jc->mask[i][side] |= 1u << cls;
}

/* Notes the class that plain code 'plain' on 'side' implies for the
 * group of pair code 'pair'. */
static void
jc_note(struct join_ctx *jc, uint32_t plain, uint32_t pair, int side)
{
    uint32_t G = OB_GROUP(pair);

    if (!G || G == jc->g || (plain & OB_PAIR) || !(pair & OB_PAIR)
        || !ob_same_pair(plain, pair)) {
        return;
    }
    bool is_dst = OB_FIELD(plain) != pair_src(OB_FIELD(plain));
    bool pol = pair & OB_POL;
    jc_note_class(jc, G, side, is_dst == pol ? 1 : 0);
}

/* The same for a choice 'ch' and an exact value 'x' on 'side'. */
static void
jc_note_choice(struct join_ctx *jc, const struct av *ch, const struct av *x,
               int side)
{
    int64_t v;

    if (!ch->cg || ch->cg == jc->g || x->cg || !av_exact(x, &v)) {
        return;
    }
    if (v == ch->c0 || v == ch->c1) {
        jc_note_class(jc, ch->cg, side, v == ch->c1);
    } else {
        jc->overflow = true;
    }
}

static bool
jc_single(const struct join_ctx *jc, uint32_t G, int side)
{
    if (jc->overflow) {
        return false;
    }
    for (int i = 0; i < jc->n; i++) {
        if (jc->grp[i] == G) {
            return jc->mask[i][side] == 1 || jc->mask[i][side] == 2;
        }
    }
    return false;
}

static uint32_t
ob_loose(uint32_t c)
{
    if (c & OB_SLOT) {
        return c;                    /* Its group names the lookup. */
    }
    return c & ~(OB_POL | UINT32_C(0xffff) << 16);
}

/* One location of two states being joined. */
static uint32_t
ob_join_final(uint32_t t, uint32_t u, const struct join_ctx *jc)
{
    bool ok;

    if (t != u && ob_same_pair(t, u)) {
        if (!(t & OB_PAIR) && (u & OB_PAIR) && OB_GROUP(u)
            && OB_GROUP(u) != jc->g) {
            return jc_single(jc, OB_GROUP(u), 0) ? u : ob_loose(u);
        }
        if ((t & OB_PAIR) && OB_GROUP(t) && OB_GROUP(t) != jc->g
            && !(u & OB_PAIR)) {
            return jc_single(jc, OB_GROUP(t), 1) ? t : ob_loose(t);
        }
    }
    uint32_t r = ob_join1(t, u, jc->g, jc->tcls, jc->cls, &ok);
    return ok && jc->g ? r : ob_loose(r);
}

/* ---- Packet shapes. ---- */

static void
set_bytes(struct shape *s, int off, int len, enum state_field f)
{
    for (int i = off; i < off + len && i < PKT_BYTES; i++) {
        s->field[i] = f;
        s->all |= UINT64_C(1) << f;
    }
}

static void
set_known(struct shape *s, int off, unsigned int v, int len)
{
    for (int i = len - 1; i >= 0; i--) {
        s->byte[off + i] = v & 0xff;
        v >>= 8;
    }
}

/* l3: 4 = IPv4, 6 = IPv6, 1 = ARP, 0 = other.  l4: protocol or -1. */
static void
shape_build(struct shape *s, int vlan, int l3, int l4)
{
    int o = 12;

    s->vlan = vlan;
    s->l3 = l3;
    s->l4 = l4;
    s->proto_off = -1;
    for (int i = 0; i < PKT_BYTES; i++) {
        s->byte[i] = -1;
        s->field[i] = STATE_F_PAYLOAD;
    }
    s->all = (UINT64_C(1) << STATE_F_PAYLOAD) | (UINT64_C(1) << STATE_F_IN_PORT)
             | (UINT64_C(1) << STATE_F_PKT_LEN);
    set_bytes(s, 0, 6, STATE_F_DL_DST);
    set_bytes(s, 6, 6, STATE_F_DL_SRC);
    if (vlan) {
        set_known(s, 12, 0x8100, 2);
        set_bytes(s, 12, 2, STATE_F_DL_VLAN);
        set_bytes(s, 14, 2, STATE_F_DL_VLAN);
        o = 16;
    }
    set_bytes(s, o, 2, STATE_F_DL_TYPE);
    unsigned int type = l3 == 4 ? 0x0800 : l3 == 6 ? 0x86dd
                        : l3 == 1 ? 0x0806 : 0x88cc;
    set_known(s, o, type, 2);
    o += 2;
    int l4off;
    if (l3 == 4) {
        set_known(s, o, 0x45, 1);
        set_bytes(s, o, 20, STATE_F_NW_OTHER);
        set_bytes(s, o + 1, 1, STATE_F_NW_TOS);
        set_bytes(s, o + 6, 2, STATE_F_NW_FRAG);
        set_bytes(s, o + 8, 1, STATE_F_NW_TTL);
        set_bytes(s, o + 9, 1, STATE_F_NW_PROTO);
        s->proto_off = o + 9;
        set_bytes(s, o + 12, 4, STATE_F_NW_SRC);
        set_bytes(s, o + 16, 4, STATE_F_NW_DST);
        if (l4 >= 0) {
            set_known(s, o + 9, l4, 1);
        }
        l4off = o + 20;
    } else if (l3 == 6) {
        set_bytes(s, o, 8, STATE_F_NW_OTHER);
        set_bytes(s, o, 4, STATE_F_IPV6_LABEL);
        set_bytes(s, o + 6, 1, STATE_F_NW_PROTO);
        s->proto_off = o + 6;
        set_bytes(s, o + 7, 1, STATE_F_NW_TTL);
        set_bytes(s, o + 8, 16, STATE_F_IPV6_SRC);
        set_bytes(s, o + 24, 16, STATE_F_IPV6_DST);
        if (l4 >= 0) {
            set_known(s, o + 6, l4, 1);
        }
        l4off = o + 40;
    } else if (l3 == 1) {
        set_bytes(s, o, 6, STATE_F_NW_OTHER);
        set_bytes(s, o + 6, 2, STATE_F_ARP_OP);
        set_bytes(s, o + 8, 6, STATE_F_ARP_SHA);
        set_bytes(s, o + 14, 4, STATE_F_ARP_SPA);
        set_bytes(s, o + 18, 6, STATE_F_ARP_THA);
        set_bytes(s, o + 24, 4, STATE_F_ARP_TPA);
        return;
    } else {
        return;
    }
    /* L4: ports (ICMP type/code are tp_src/tp_dst in flows). */
    if (l4 == 1 || l4 == 58) {
        set_bytes(s, l4off, 1, STATE_F_TP_SRC);
        set_bytes(s, l4off + 1, 1, STATE_F_TP_DST);
        set_bytes(s, l4off + 2, 6, STATE_F_TP_OTHER);
        return;
    }
    set_bytes(s, l4off, 2, STATE_F_TP_SRC);
    set_bytes(s, l4off + 2, 2, STATE_F_TP_DST);
    if (l4 == 6 || l4 < 0) {
        set_bytes(s, l4off + 4, 16, STATE_F_TP_OTHER);
        set_bytes(s, l4off + 13, 1, STATE_F_TCP_FLAGS);
    } else {
        set_bytes(s, l4off + 4, 4, STATE_F_TP_OTHER);
    }
}

/* Numbers each byte within its field (network order). */
static void
shape_index_bytes(struct shape *s)
{
    for (int i = 0; i < PKT_BYTES; i++) {
        s->fbyte[i] = i && s->field[i - 1] == s->field[i]
                      ? s->fbyte[i - 1] + 1 : 0;
    }
}

/* The ob code of packet byte 'b' under shape 'sh': only fields a flow can
 * match are named. */
static uint32_t
pkt_ob(const struct shape *sh, int64_t b)
{
    if (b < 0 || b >= PKT_BYTES) {
        return 0;
    }
    int f = sh->field[b];
    if (f == STATE_F_NW_OTHER || f == STATE_F_TP_OTHER
        || f == STATE_F_PAYLOAD || sh->fbyte[b] > 63) {
        return 0;
    }
    return ob_make(f, sh->fbyte[b]);
}

/* ---- Post-dominators (for implicit flows). ---- */

static int
succs(const struct bpf_insn *in, uint32_t i, uint32_t n, int32_t out[2])
{
    uint8_t cls = BPF_CLASS(in[i].code);
    uint8_t op = BPF_OP(in[i].code);
    int k = 0;

    if (cls == BPF_JMP || cls == BPF_JMP32) {
        if (op == BPF_EXIT) {
            return 0;
        }
        if (op == BPF_CALL) {
            out[k++] = i + 1;
            return k;
        }
        int32_t t = (int32_t) i + 1 + in[i].off;
        if (op == BPF_JA) {
            out[k++] = t;
            return k;
        }
        out[k++] = i + 1;
        if (t != (int32_t) i + 1) {
            out[k++] = t;
        }
        return k;
    }
    if (in[i].code == (BPF_LD | BPF_IMM | BPF_DW)) {
        out[k++] = i + 2;
        return i + 2 < n ? k : 0;
    }
    out[k++] = i + 1;
    return k;
}

/* Iterative post-dominator sets as bitsets; ipdom is the strict
 * post-dominator with the largest set (the nearest). */
static int32_t *
compute_ipdom(const struct bpf_insn *in, uint32_t n)
{
    size_t w = (n + 63) / 64;
    uint64_t *pd = xcalloc((size_t) n * w, sizeof *pd);
    int32_t *ipdom = xmalloc(n * sizeof *ipdom);
    bool changed = true;

    for (uint32_t i = 0; i < n; i++) {
        memset(&pd[i * w], 0xff, w * 8);
    }
    while (changed) {
        changed = false;
        for (uint32_t ii = n; ii-- > 0;) {
            int32_t s[2];
            int k = succs(in, ii, n, s);
            uint64_t *p = &pd[ii * w];
            for (size_t j = 0; j < w; j++) {
                uint64_t v = k ? ~UINT64_C(0) : 0;
                for (int q = 0; q < k; q++) {
                    if (s[q] >= 0 && (uint32_t) s[q] < n) {
                        v &= pd[s[q] * w + j];
                    } else {
                        v = 0;
                    }
                }
                if (j == ii / 64) {
                    v |= UINT64_C(1) << (ii % 64);
                }
                if (v != p[j]) {
                    p[j] = v;
                    changed = true;
                }
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        int best = -1;
        size_t best_n = 0;
        for (uint32_t d = 0; d < n; d++) {
            if (d == i || !(pd[i * w + d / 64] >> (d % 64) & 1)) {
                continue;
            }
            size_t cnt = 0;
            for (size_t j = 0; j < w; j++) {
                cnt += __builtin_popcountll(pd[d * w + j]);
            }
            if (cnt > best_n) {
                best_n = cnt;
                best = d;
            }
        }
        ipdom[i] = best;
    }
    free(pd);
    return ipdom;
}

/* ---- Abstract values. ---- */

static struct av
scalar(uint64_t fields, uint64_t maps)
{
    struct av v = { .kind = AV_SCALAR, .fields = fields, .maps = maps };
    return v;
}

static struct av
av_join(const struct av *a, const struct av *b)
{
    struct av v = *a;

    v.fields |= b->fields;
    v.maps |= b->maps;
    /* NULL on one path, a pointer on the other: keep the pointer, as the
     * verifier does (it is only dereferenced after a NULL check). */
    if (a->kind == AV_CONST && !a->val && b->kind > AV_CONST) {
        v = *b;
        v.fields |= a->fields;
        v.maps |= a->maps;
        return v;
    }
    if (b->kind == AV_CONST && !b->val && a->kind > AV_CONST) {
        return v;
    }
    bool num_a = a->kind == AV_CONST || a->kind == AV_RANGE;
    bool num_b = b->kind == AV_CONST || b->kind == AV_RANGE;
    if (num_a && num_b) {
        v.kind = AV_RANGE;
    } else if (a->kind != b->kind
               || ((a->kind == AV_MAP_PTR || a->kind == AV_MAP_VAL)
                   && a->map != b->map)) {
        return scalar(v.fields, v.maps);
    }
    if (v.kind == AV_SCALAR || v.kind == AV_CTX || v.kind == AV_PKT_END
        || v.kind == AV_MAP_PTR) {
        return v;
    }
    if (a->site != b->site) {
        v.site = 0;
    }
    v.var = a->var || b->var;
    v.val = a->val < b->val ? a->val : b->val;
    v.hi = a->hi > b->hi ? a->hi : b->hi;
    if (v.kind == AV_RANGE && v.val == v.hi) {
        v.kind = AV_CONST;
    } else if (v.hi - v.val > MAX_SPAN) {
        if (v.kind == AV_RANGE) {
            return scalar(v.fields, v.maps);
        }
        v.var = true;
    }
    return v;
}

static bool
av_eq(const struct av *a, const struct av *b)
{
    return a->kind == b->kind && a->var == b->var && a->map == b->map
           && a->val == b->val && a->hi == b->hi && a->fields == b->fields
           && a->maps == b->maps && a->d == b->d && a->other == b->other
           && a->pure == b->pure && a->cg == b->cg && a->c0 == b->c0
           && a->c1 == b->c1 && a->site == b->site
           && !memcmp(a->ob, b->ob, sizeof a->ob);
}

static int
ctrl_find(const struct astate *s, int32_t branch)
{
    for (int i = 0; i < s->n_ctrl; i++) {
        if (s->ctrl_pc[i] == branch) {
            return i;
        }
    }
    return -1;
}

/* The packet fields of the branches two states joining at 'pc' split at:
 * passed by both on different sides (or both sides already), or a loop's
 * branch (at or after 'pc', so met through a back edge) passed by one
 * only.  A branch before 'pc' passed by one path only did not split
 * them: an earlier branch both passed on different sides did. */
static uint64_t
ctrl_split_fields(const struct astate *a, const struct astate *b,
                  uint32_t pc)
{
    uint64_t f = 0;

    for (int i = 0; i < a->n_ctrl; i++) {
        int j = ctrl_find(b, a->ctrl_pc[i]);
        if (j < 0 ? a->ctrl_pc[i] >= (int32_t) pc
                  : a->ctrl_side[i] != b->ctrl_side[j]
                    || a->ctrl_side[i] == 2) {
            f |= a->ctrl_fmask[i];
        }
    }
    for (int j = 0; j < b->n_ctrl; j++) {
        if (ctrl_find(a, b->ctrl_pc[j]) < 0
            && b->ctrl_pc[j] >= (int32_t) pc) {
            f |= b->ctrl_fmask[j];
        }
    }
    return f;
}

/* The group of the one branch condition the joining paths split at, with
 * the classes of both sides ('*tcls' 2 if the paths so far took both); 0
 * if no branch with a condition split them, -1 if several did. */
static int
join_condition(const struct astate *to, const struct astate *from,
               int *tcls, int *ucls)
{
    int g = 0;

    *tcls = *ucls = 0;
    for (int i = 0; i < from->n_ctrl; i++) {
        int j = ctrl_find(to, from->ctrl_pc[i]);
        if (j < 0 || to->ctrl_side[j] == from->ctrl_side[i]) {
            continue;
        }
        int c = from->ctrl_side[i] == 2 ? 0 : from->ctrl_cond[i];
        if (!c || (g && g != c)) {
            return -1;
        }
        if (g && *ucls != from->ctrl_side[i]) {
            return -1;
        }
        *tcls = g && *tcls != to->ctrl_side[j] ? 2 : to->ctrl_side[j];
        *ucls = from->ctrl_side[i];
        g = c;
    }
    return g;
}

/* Sets up the join of 'from' into 'to' at 'g': the new path's class (the
 * one under which more pair codes stay consistent) and the classes plain
 * codes imply for earlier groups. */
static void
join_setup(struct join_ctx *jc, const struct astate *to,
           const struct astate *from, uint32_t g)
{
    int bad[2] = { 0, 0 };
    int cond = join_condition(to, from, &jc->tcls, &jc->cls);

    memset(jc->mask, 0, sizeof jc->mask);
    jc->n = 0;
    jc->overflow = false;
    jc->stamp = g;
    jc->g = cond > 0 ? (uint32_t) cond : g;
    for (int i = 0; i < 11 * 8 + MAX_STACK; i++) {
        uint32_t t = i < 88 ? to->r[i / 8].ob[i % 8] : to->sorig[i - 88];
        uint32_t u = i < 88 ? from->r[i / 8].ob[i % 8]
                            : from->sorig[i - 88];
        if (t == u) {
            continue;
        }
        for (int cls = 0; cls <= 1 && cond <= 0; cls++) {
            bool ok;
            ob_join1(t, u, g, 0, cls, &ok);
            bad[cls] += !ok;
        }
        jc_note(jc, t, u, 0);
        jc_note(jc, u, t, 1);
    }
    for (int i = 0; i < 11 + MAX_STACK / 8; i++) {
        const struct av *a = i < 11 ? &to->r[i] : &to->slot[i - 11];
        const struct av *b = i < 11 ? &from->r[i] : &from->slot[i - 11];
        if (i >= 11 && (!to->slot_ok[i - 11] || !from->slot_ok[i - 11])) {
            continue;
        }
        jc_note_choice(jc, b, a, 0);
        jc_note_choice(jc, a, b, 1);
    }
    if (cond <= 0) {
        /* No one condition split the paths: the paths so far are class
         * 0 of this join's own group, the new one the better class. */
        jc->tcls = 0;
        jc->cls = bad[1] <= bad[0] ? 1 : 0;
    }
}


/* The choice of 'v' = join of 'a' (the paths so far) and 'b' (a new path
 * of class 'cls') at join 'g'. */
static void
av_join_choice(struct av *v, const struct av *a, const struct av *b,
               const struct join_ctx *jc)
{
    int64_t x, y;
    bool ea = av_exact(a, &x), eb = av_exact(b, &y);
    uint32_t g = jc->g;
    int cls = jc->cls, tcls = jc->tcls;

    v->cg = 0;
    v->c0 = v->c1 = 0;
    if (a->cg && a->cg == b->cg && a->c0 == b->c0 && a->c1 == b->c1) {
        v->cg = a->cg;
        v->c0 = a->c0;
        v->c1 = a->c1;
        return;
    }
    /* An older plain state joining a choice of an earlier group. */
    const struct av *ch = b->cg && b->cg != g && ea ? b
                          : a->cg && a->cg != g && eb ? a : NULL;
    if (ch) {
        int64_t pv = ch == b ? x : y;
        if ((pv == ch->c0 || pv == ch->c1)
            && jc_single(jc, ch->cg, ch == b ? 0 : 1)) {
            v->cg = ch->cg;
            v->c0 = ch->c0;
            v->c1 = ch->c1;
        }
        return;
    }
    bool num_a = a->kind == AV_CONST || a->kind == AV_RANGE;
    bool num_b = b->kind == AV_CONST || b->kind == AV_RANGE;
    if ((a->kind != b->kind && !(num_a && num_b)) || !eb) {
        return;
    }
    if (ea && x != y && tcls != 2 && tcls != cls && g) {
        v->cg = (uint16_t) g;
        v->c0 = cls == 1 ? x : y;
        v->c1 = cls == 1 ? y : x;
    } else if (a->cg == g && y == (cls ? a->c1 : a->c0)) {
        v->cg = a->cg;
        v->c0 = a->c0;
        v->c1 = a->c1;
    }
}

/* Joins register value 'b' (of a new path) into 'a' at join 'g'. */
static struct av
av_join_at(const struct av *a, const struct av *b, const struct join_ctx *jc,
           uint64_t jf)
{
    struct av v = av_join(a, b);
    uint32_t ob[8];

    for (int i = 0; i < 8; i++) {
        ob[i] = ob_join_final(a->ob[i], b->ob[i], jc);
    }
    memcpy(v.ob, ob, sizeof ob);
    v.pure = a->pure && b->pure;
    v.other = a->other && b->other;
    av_join_choice(&v, a, b, jc);
    bool num_a = a->kind == AV_CONST || a->kind == AV_RANGE;
    bool num_b = b->kind == AV_CONST || b->kind == AV_RANGE;
    bool same = num_a && num_b ? a->val == b->val && a->hi == b->hi
                : a->d && a->d == b->d;
    if (v.pure && !same) {
        /* Implicit flow: a constant chosen by the path taken. */
        v.fields |= jf;
    }
    v.d = a->d == b->d ? a->d : (uint16_t) jc->stamp;
    return v;
}

/* Joins 'from' (entering instruction 'pc') into 'to'; returns whether
 * 'to' changed. */
static bool
state_join(struct astate *to, const struct astate *from, uint32_t pc)
{
    bool ch = false;
    /* Join groups are 16 bits and the top ones name map-level groups
     * (lay_merge()): a later join forms no groups (only loose pairs). */
    uint32_t g = pc + 1 < COND_GROUP0 ? pc + 1 : 0;
    uint64_t jf;

    if (!to->live) {
        *to = *from;
        return true;
    }
    if (to->upd_map >= 0 && (to->upd_map != from->upd_map
                             || to->upd_a != from->upd_a
                             || to->upd_len != from->upd_len)) {
        to->upd_map = -1;
        ch = true;
    }
    jf = ctrl_split_fields(to, from, pc);
    struct join_ctx jc;
    join_setup(&jc, to, from, g);
    for (int i = 0; i < 11; i++) {
        struct av v = av_join_at(&to->r[i], &from->r[i], &jc, jf);
        if (!av_eq(&v, &to->r[i])) {
            to->r[i] = v;
            ch = true;
        }
    }
    for (int i = 0; i < MAX_STACK; i++) {
        uint64_t f = to->sfields[i] | from->sfields[i];
        uint64_t m = to->smaps[i] | from->smaps[i];
        int16_t k = to->sconst[i] == from->sconst[i] ? to->sconst[i] : -1;
        uint32_t o = ob_join_final(to->sorig[i], from->sorig[i], &jc);
        bool same = to->sconst[i] >= 0 || from->sconst[i] >= 0
                    ? to->sconst[i] == from->sconst[i]
                    : to->sdef[i] && to->sdef[i] == from->sdef[i];
        bool pure = to->spure[i] && from->spure[i];
        if (pure && !same) {
            f |= jf;
        }
        uint16_t dd = to->sdef[i] == from->sdef[i] ? to->sdef[i]
                      : (uint16_t) g;
        if (f != to->sfields[i] || m != to->smaps[i]
            || k != to->sconst[i] || o != to->sorig[i]
            || dd != to->sdef[i] || pure != to->spure[i]) {
            to->spure[i] = pure;
            to->sfields[i] = f;
            to->smaps[i] = m;
            to->sconst[i] = k;
            to->sorig[i] = o;
            to->sdef[i] = dd;
            ch = true;
        }
    }
    for (int i = 0; i < MAX_STACK / 8; i++) {
        bool ok = to->slot_ok[i] && from->slot_ok[i];
        if (ok) {
            struct av v = av_join_at(&to->slot[i], &from->slot[i], &jc, jf);
            if (!av_eq(&v, &to->slot[i])) {
                to->slot[i] = v;
                ch = true;
            }
        } else if (to->slot_ok[i]) {
            to->slot_ok[i] = false;
            ch = true;
        }
    }
    for (int i = 0; i < from->n_ctrl; i++) {
        int j = ctrl_find(to, from->ctrl_pc[i]);
        if (j < 0) {
            if (to->n_ctrl == N_CTRL) {
                j = N_CTRL - 1; /* Merge into the last (over-approx). */
                to->ctrl_side[j] = 2;
                to->ctrl_cond[j] = 0;
            } else {
                j = to->n_ctrl++;
                to->ctrl_end[j] = from->ctrl_end[i];
                to->ctrl_pc[j] = from->ctrl_pc[i];
                to->ctrl_side[j] = from->ctrl_side[i];
                to->ctrl_cond[j] = from->ctrl_cond[i];
                to->ctrl_mask[j] = 0;
                to->ctrl_fmask[j] = 0;
            }
            ch = true;
        }
        uint64_t m = to->ctrl_mask[j] | from->ctrl_mask[i];
        uint64_t fm = to->ctrl_fmask[j] | from->ctrl_fmask[i];
        uint8_t side = to->ctrl_side[j] == from->ctrl_side[i]
                       ? to->ctrl_side[j] : 2;
        if (m != to->ctrl_mask[j] || fm != to->ctrl_fmask[j]
            || side != to->ctrl_side[j]) {
            to->ctrl_mask[j] = m;
            to->ctrl_fmask[j] = fm;
            to->ctrl_side[j] = side;
            ch = true;
        }
    }
    return ch;
}

static void
ctrl_update(struct astate *s, int32_t pc)
{
    int k = 0;

    s->ctrl = 0;
    for (int i = 0; i < s->n_ctrl; i++) {
        if (s->ctrl_end[i] == pc) {
            continue;
        }
        s->ctrl_end[k] = s->ctrl_end[i];
        s->ctrl_mask[k] = s->ctrl_mask[i];
        s->ctrl_fmask[k] = s->ctrl_fmask[i];
        s->ctrl_pc[k] = s->ctrl_pc[i];
        s->ctrl_side[k] = s->ctrl_side[i];
        s->ctrl_cond[k] = s->ctrl_cond[i];
        s->ctrl |= s->ctrl_mask[k];
        k++;
    }
    s->n_ctrl = k;
}

/* Enters the region of undecided branch 'branch' (ending at 'end', with
 * condition group 'cond') on the fall-through side, of class 'fall';
 * returns its index (the taken side is the other class), or -1 if it
 * tests neither a map value nor a packet field and has no condition. */
static int
ctrl_push(struct astate *s, int32_t end, uint64_t maps, uint64_t fields,
          int32_t branch, uint16_t cond, int fall)
{
    if (!maps && !fields && !cond) {
        return -1;
    }
    int i = ctrl_find(s, branch);
    if (i >= 0) {
        /* Met again (a loop): the paths split here anew. */
        s->ctrl_side[i] = (uint8_t) fall;
    } else if (s->n_ctrl == N_CTRL) {
        /* Full: merge into the last region, whose end may come later. */
        i = N_CTRL - 1;
        s->ctrl_side[i] = 2;
        cond = 0;
    } else {
        i = s->n_ctrl++;
        s->ctrl_end[i] = end;
        s->ctrl_pc[i] = branch;
        s->ctrl_side[i] = (uint8_t) fall;
        s->ctrl_mask[i] = 0;
        s->ctrl_fmask[i] = 0;
    }
    s->ctrl_cond[i] = cond;
    s->ctrl_mask[i] |= maps;
    s->ctrl_fmask[i] |= fields;
    return i;
}

/* ---- Memory. ---- */

static void
pkt_load(struct ctx *c, const struct av *p, int off, int size, struct av *out)
{
    const struct shape *sh = c->sh;
    uint64_t f = 0;

    if (p->var) {
        /* Any field of the shape; 'payload' among them makes a key
         * built from it over-approximated. */
        *out = scalar(sh->all & ~(UINT64_C(1) << STATE_F_IN_PORT)
                      & ~(UINT64_C(1) << STATE_F_PKT_LEN), 0);
        return;
    }
    int64_t at = p->val + off;
    bool known = p->val == p->hi;
    uint64_t v = 0;
    for (int i = 0; i < size + (p->hi - p->val); i++) {
        int64_t b = at + i;
        if (b < 0 || b >= PKT_BYTES) {
            f |= UINT64_C(1) << STATE_F_PAYLOAD;
            known = false;
            continue;
        }
        f |= UINT64_C(1) << sh->field[b];
        if (sh->byte[b] < 0) {
            known = false;
        } else {
            /* Little-endian load, as the host and BPF are. */
            v |= (uint64_t) sh->byte[b] << (8 * i);
        }
    }
    if (known) {
        /* Known under this shape, but still a packet field. */
        *out = (struct av) { .kind = AV_CONST, .val = (int64_t) v,
                             .hi = (int64_t) v, .fields = f };
    } else {
        *out = scalar(f, 0);
    }
    if (p->val == p->hi) {
        for (int i = 0; i < size && i < 8; i++) {
            out->ob[i] = pkt_ob(sh, at + i);
        }
        out->other = sh->l4 < 0 && size == 1 && at == sh->proto_off;
    } else if (p->cg && p->kind == AV_PKT) {
        /* One of two offsets, chosen at join 'cg': pair codes where the
         * two offsets hold the two members of a pair. */
        for (int i = 0; i < size && i < 8; i++) {
            uint32_t o0 = pkt_ob(sh, p->c0 + off + i);
            uint32_t o1 = pkt_ob(sh, p->c1 + off + i);
            bool ok;
            uint32_t r = ob_join1(o0, o1, p->cg, 0, 1, &ok);
            out->ob[i] = ok ? r : 0;
        }
    }
}

static int
stack_index(const struct av *p, int off, int size)
{
    if (p->var || p->val != p->hi) {
        return -1;
    }
    int64_t a = p->val + off + MAX_STACK;
    if (a < 0 || a + size > MAX_STACK) {
        return -1;
    }
    return (int) a;
}

/* Packet fields stored into the value bytes [p + off, p + off + size) of a
 * map (every byte if the offset is not known). */
static uint64_t
vf_load(const struct ctx *c, const struct av *p, int off, uint32_t size)
{
    uint64_t f = p->fields;
    uint32_t vs = c->prog->maps[p->map]->value_size;
    const uint64_t *vf = c->vf[p->map];
    int64_t lo = p->val + off, hi = p->hi + off + size;

    if (p->var || lo < 0 || hi > vs) {
        lo = 0;
        hi = vs;
    }
    for (int64_t i = lo; i < hi; i++) {
        f |= vf[i];
    }
    return f ? f | VIA_MAP : 0;
}

static void
vf_store(struct ctx *c, const struct av *p, int off, uint32_t size,
         uint64_t fields)
{
    uint32_t vs = c->prog->maps[p->map]->value_size;
    uint64_t *vf = c->vf[p->map];
    int64_t lo = p->val + off, hi = p->hi + off + size;

    if (p->var || lo < 0 || hi > vs) {
        lo = 0;
        hi = vs;
    }
    for (int64_t i = lo; i < hi; i++) {
        if ((vf[i] | fields) != vf[i]) {
            vf[i] |= fields;
            c->vf_changed = true;
        }
    }
}

/* Taint of 'len' bytes at pointer 'p' (a key or value pointer).  Returns
 * false if the bytes cannot be resolved. */
static bool
mem_taint(struct ctx *c, const struct astate *s, const struct av *p,
          uint32_t len, uint64_t *fields, uint64_t *maps)
{
    *fields = 0;
    *maps = 0;
    if (p->kind == AV_STACK) {
        int a = stack_index(p, 0, len);
        if (a < 0) {
            return false;
        }
        for (uint32_t i = 0; i < len; i++) {
            *fields |= s->sfields[a + i];
            *maps |= s->smaps[a + i];
        }
        return true;
    }
    if (p->kind == AV_PKT) {
        struct av tmp;
        if (p->var) {
            return false;
        }
        for (uint32_t i = 0; i < len; i++) {
            pkt_load(c, p, i, 1, &tmp);
            *fields |= tmp.fields;
        }
        return true;
    }
    if (p->kind == AV_MAP_VAL) {
        /* Bytes of a map value: the fields ever stored there, and those
         * of the key that found it. */
        *fields = vf_load(c, p, 0, len);
        *maps |= UINT64_C(1) << p->map;
        return true;
    }
    return false;
}

/* A store to stack bytes [a, a + size) ('size' 0: anywhere). */
static void
upd_clobber(struct astate *s, int a, int size)
{
    if (s->upd_map >= 0 && (!size || a < s->upd_a + s->upd_len)
        && (!size || a + size > s->upd_a)) {
        s->upd_map = -1;
    }
}

static void
stack_store(struct astate *s, int a, int size, const struct av *v)
{
    upd_clobber(s, a, size);
    for (int i = 0; i < size; i++) {
        s->sfields[a + i] = v->fields;
        s->smaps[a + i] = v->maps;
        s->sconst[a + i] = v->kind == AV_CONST
                           ? (int16_t) ((uint64_t) v->val >> (8 * i) & 0xff)
                           : -1;
        s->sorig[a + i] = i < 8 ? v->ob[i] : 0;
        s->sdef[a + i] = v->d;
        s->spure[a + i] = v->pure;
        s->slot_ok[(a + i) / 8] = false;
    }
    if (size == 8 && a % 8 == 0) {
        s->slot[a / 8] = *v;
        s->slot_ok[a / 8] = true;
    }
}

/* ---- Transfer functions. ---- */

static int
size_bytes(uint8_t code)
{
    switch (BPF_SIZE(code)) {
    case BPF_B: return 1;
    case BPF_H: return 2;
    case BPF_W: return 4;
    default: return 8;
    }
}

static uint64_t
alu(uint8_t op, uint64_t a, uint64_t b, bool is64, bool *ok)
{
    *ok = true;
    if (!is64) {
        a = (uint32_t) a;
        b = (uint32_t) b;
    }
    uint64_t r;
    unsigned int sh = b & (is64 ? 63 : 31);
    switch (op) {
    case BPF_ADD: r = a + b; break;
    case BPF_SUB: r = a - b; break;
    case BPF_MUL: r = a * b; break;
    case BPF_DIV: r = b ? a / b : 0; break;
    case BPF_MOD: r = b ? a % b : a; break;
    case BPF_OR: r = a | b; break;
    case BPF_AND: r = a & b; break;
    case BPF_XOR: r = a ^ b; break;
    case BPF_LSH: r = a << sh; break;
    case BPF_RSH: r = a >> sh; break;
    case BPF_ARSH:
        r = is64 ? (uint64_t) ((int64_t) a >> sh)
                 : (uint32_t) ((int32_t) a >> sh);
        break;
    case BPF_MOV: r = b; break;
    case BPF_NEG: r = -a; break;
    default: *ok = false; return 0;
    }
    return is64 ? r : (uint32_t) r;
}

/* Decides a conditional jump on constants: 1 taken, 0 not, -1 unknown. */
static int
jmp_decide(uint8_t op, uint64_t a, uint64_t b, bool is64)
{
    if (!is64) {
        a = (uint32_t) a;
        b = (uint32_t) b;
    }
    int64_t sa = is64 ? (int64_t) a : (int32_t) a;
    int64_t sb = is64 ? (int64_t) b : (int32_t) b;
    switch (op) {
    case BPF_JEQ: return a == b;
    case BPF_JNE: return a != b;
    case BPF_JGT: return a > b;
    case BPF_JGE: return a >= b;
    case BPF_JLT: return a < b;
    case BPF_JLE: return a <= b;
    case BPF_JSET: return (a & b) != 0;
    case BPF_JSGT: return sa > sb;
    case BPF_JSGE: return sa >= sb;
    case BPF_JSLT: return sa < sb;
    case BPF_JSLE: return sa <= sb;
    default: return -1;
    }
}

static void
mark_output(struct ctx *c, uint64_t maps)
{
    for (unsigned int i = 0; i < c->res->n_maps; i++) {
        if (maps >> i & 1) {
            c->res->maps[i].output = true;
        }
    }
}

/* Records the constant key bytes of a map call under the current shape
 * (joined over the visits). */
static void
site_record(struct ctx *c, uint32_t pc, unsigned int m,
            const struct astate *s, int a, uint32_t len)
{
    struct key_site *k = c->sites[pc];
    int x = c->shape_idx;

    if (!k) {
        k = c->sites[pc] = xzalloc(sizeof *k);
    }
    k->maps |= UINT64_C(1) << m;
    if (len > SITE_BYTES) {
        len = SITE_BYTES;
    }
    for (uint32_t i = 0; i < len; i++) {
        int16_t v = s->sconst[a + i];
        if (k->seen[x] && k->val[x][i] != v) {
            v = -1;
        }
        k->val[x][i] = v;
    }
    for (uint32_t i = len; i < SITE_BYTES; i++) {
        k->val[x][i] = -1;
    }
    k->seen[x] = true;
}

/* Key bytes that are constants under two shapes differing in one respect
 * (VLAN tag, EtherType or IP protocol) but differ between them depend on
 * that field through the program's path: e.g. a protocol number stored as
 * a constant on the TCP path and another on the UDP path.  Updates each
 * site's 'extra' fields, which map_key() adds to its key from the next
 * round on (so values found with that key carry them too); returns whether
 * any changed. */
static bool
sites_update(struct ctx *c)
{
    bool changed = false;

    for (uint32_t pc = 0; pc < c->prog->n_insns; pc++) {
        struct key_site *k = c->sites[pc];
        if (!k) {
            continue;
        }
        uint64_t f = 0;
        for (int x = 0; x < N_SHAPES; x++) {
            for (int y = x + 1; y < N_SHAPES && k->seen[x]; y++) {
                const struct shape *a = &c->shapes[x], *b = &c->shapes[y];
                int nd = (a->vlan != b->vlan) + (a->l3 != b->l3)
                         + (a->l4 != b->l4 && a->l3 == b->l3);
                if (!k->seen[y] || nd != 1) {
                    continue;
                }
                for (int i = 0; i < SITE_BYTES; i++) {
                    if (k->val[x][i] >= 0 && k->val[y][i] >= 0
                        && k->val[x][i] != k->val[y][i]) {
                        f |= a->vlan != b->vlan
                             ? UINT64_C(1) << STATE_F_DL_VLAN
                             : a->l3 != b->l3
                             ? UINT64_C(1) << STATE_F_DL_TYPE
                             : UINT64_C(1) << STATE_F_NW_PROTO;
                    }
                }
            }
        }
        if ((k->extra | f) != k->extra) {
            k->extra |= f;
            changed = true;
        }
    }
    return changed;
}

/* Renumbers the pair groups of a key 1, 2, ... in order of first byte,
 * and their members so that each group's first byte has member 0: a group
 * only ties bytes of one key together, and the join or condition naming
 * it, like the class numbering, can differ between shapes and calls. */
static void
lay_normalize(struct state_key_byte *k, uint32_t n)
{
    bool *done = xcalloc(n + 1, sizeof *done);
    uint16_t next = 1;

    for (uint32_t i = 0; i < n; i++) {
        if (k[i].kind != STATE_KEY_PAIR || done[i]) {
            continue;
        }
        uint16_t old = k[i].group;
        uint8_t flip = k[i].member;
        for (uint32_t j = i; j < n; j++) {
            if (k[j].kind == STATE_KEY_PAIR && !done[j]
                && k[j].group == old) {
                k[j].group = next;
                k[j].member ^= flip;
                done[j] = true;
            }
        }
        next++;
    }
    free(done);
}

/* Whether 'a' and 'b' name the same byte of the two members of a pair. */
static bool
kb_partners(const struct state_key_byte *a, const struct state_key_byte *b)
{
    return a->kind == STATE_KEY_FIELD && b->kind == STATE_KEY_FIELD
           && a->byte == b->byte && a->field != b->field
           && pair_src(a->field) >= 0
           && pair_src(a->field) == pair_src(b->field);
}

/* Joins a key observed at one access ('obs', 'ks' bytes) into layout
 * 'l' ('*seen' false: none joined yet).  Accesses are joined like paths
 * (see "Key layout"), with a group of their own per map ('G'): a map
 * looked up with the tuple in one order at one call and in the other
 * order at another holds the pair unordered. */
static void
lay_join(struct state_key_byte *l, bool *seen, uint32_t ks, uint16_t G,
         const struct state_key_byte *obs)
{
    int bad[2] = { 0, 0 };

    if (!*seen) {
        memcpy(l, obs, ks * sizeof *l);
        *seen = true;
        return;
    }
    /* Observation class: 0 like the first, 1 the other way round. */
    for (uint32_t i = 0; i < ks; i++) {
        bool pairg = l[i].kind == STATE_KEY_PAIR && l[i].group == G;
        for (int cls = 0; cls <= 1; cls++) {
            if (kb_partners(&l[i], &obs[i])) {
                bad[cls] += cls != 1;
            } else if (pairg && obs[i].kind == STATE_KEY_FIELD) {
                bool dst = obs[i].field != pair_src(obs[i].field);
                bad[cls] += dst != (cls ? l[i].member : !l[i].member);
            }
        }
    }
    int cls = bad[1] < bad[0] ? 1 : 0;
    for (uint32_t i = 0; i < ks; i++) {
        bool pairg = l[i].kind == STATE_KEY_PAIR && l[i].group == G;
        if (!memcmp(&l[i], &obs[i], sizeof l[i])) {
            continue;
        }
        if (kb_partners(&l[i], &obs[i]) && cls == 1) {
            bool dst = obs[i].field != pair_src(obs[i].field);
            l[i].kind = STATE_KEY_PAIR;
            l[i].field = (uint8_t) pair_src(obs[i].field);
            l[i].group = G;
            l[i].member = dst;
            continue;
        }
        if (pairg && obs[i].kind == STATE_KEY_FIELD
            && pair_src(obs[i].field) == l[i].field
            && obs[i].byte == l[i].byte) {
            bool dst = obs[i].field != pair_src(obs[i].field);
            if (dst == (cls ? l[i].member : !l[i].member)) {
                continue;
            }
        }
        memset(&l[i], 0, sizeof l[i]);
    }
}

static void
lay_merge(struct ctx *c, unsigned int m, const struct state_key_byte *obs)
{
    lay_join(c->lay[m], c->lay_seen[m], c->prog->maps[m]->key_size,
             (uint16_t) (0xff00 + m), obs);
}

/* Joins the layout of a key seen at call 'pc' (of map 'm') into the
 * call's own layout over this round's shapes, and the lookup whose
 * entry's slot the key holds ('own', see "Owned slots") into the call's. */
static void
call_merge(struct ctx *c, uint32_t pc, unsigned int m,
           const struct state_key_byte *obs, uint32_t own, bool fresh)
{
    uint32_t ks = c->prog->maps[m]->key_size;

    if (c->clay_seen[pc] && c->cmap[pc] != (int) m) {
        /* Another map under another shape: no writer is known. */
        c->unkeyed[m] = c->unkeyed[c->cmap[pc]] = true;
        return;
    }
    if (!c->clay_seen[pc]) {
        if (c->csize[pc] < ks) {
            free(c->clay[pc]);
            c->clay[pc] = xcalloc(ks + 1, sizeof *c->clay[pc]);
            c->csize[pc] = ks;
        }
        c->cown[pc] = own;
        c->cmap[pc] = (int) m;
        c->cfresh[pc] = fresh;
    } else if (c->cown[pc] != own) {
        c->cown[pc] = UINT32_MAX;
    }
    c->cfresh[pc] = c->cfresh[pc] && fresh;
    lay_join(c->clay[pc], &c->clay_seen[pc], ks, (uint16_t) (0xff00 + m),
             obs);
}

/* ---- Owned slots. ----
 *
 * A flow table (BPF_MAP_TYPE_SLUICE_FLOWTABLE) hands each live slot to
 * exactly one entry and writes it into the first four bytes of the value
 * (struct sluice_ft_value_hdr).  A load of those bytes through the value
 * pointer a lookup returned gets OB_SLOT codes naming the lookup.  A key
 * that holds all four bytes of one such load names the entry of that slot
 * only; when the lookup follows, on every path, an update of the same key
 * ('upd_map' in the state: the entry was just inserted or refreshed, so
 * it cannot expire and hand its slot to another flow before the write),
 * every packet writing under the key belongs to the flow that owns the
 * slot: the writes are steered by the lookup's key (steering.c), as the
 * NAT's slot -> key array is steered by its LAN flow key.  The codes are
 * worthless if the program itself stores into a value's slot bytes, which
 * the final pass checks ('slot_written'). */

/* The lookup (pc + 1) whose entry's slot the key bytes 'ob' (with
 * definition stamps 'def') hold whole, or 0: all four bytes, stored by
 * one definition, so from one execution of the load. */
static uint32_t
owned_slot(const uint32_t *ob, const uint16_t *def, uint32_t ks)
{
    for (uint32_t i = 0; i < ks; i++) {
        if (!(ob[i] & OB_SLOT) || !def[i]) {
            continue;
        }
        unsigned int have = 0;
        for (uint32_t j = 0; j < ks; j++) {
            if ((ob[j] & OB_SLOT) && OB_GROUP(ob[j]) == OB_GROUP(ob[i])
                && def[j] == def[i] && OB_BYTE(ob[j]) < 4) {
                have |= 1u << OB_BYTE(ob[j]);
            }
        }
        if (have == 0xf) {
            return OB_GROUP(ob[i]);
        }
    }
    return 0;
}

/* Records the layout of the key of map 'm' at the helper call 'pc', from
 * the call's state once the shape's fixpoint is reached. */
static void
lay_record(struct ctx *c, const struct astate *s, unsigned int m,
           const struct av *key, uint32_t pc)
{
    uint32_t ks = c->prog->maps[m]->key_size;
    struct state_key_byte *obs = xcalloc(ks + 1, sizeof *obs);
    uint32_t *obv = xcalloc(ks + 1, sizeof *obv);
    uint16_t *defv = xcalloc(ks + 1, sizeof *defv);

    if (!c->lay[m]) {
        c->lay[m] = xcalloc(ks + 1, sizeof *c->lay[m]);
        c->lay_seen[m] = xcalloc(1, sizeof *c->lay_seen[m]);
    }
    int a = key->kind == AV_STACK ? stack_index(key, 0, ks) : -1;
    bool pkt = key->kind == AV_PKT && !key->var && key->val == key->hi;
    for (uint32_t i = 0; i < ks; i++) {
        struct state_key_byte *k = &obs[i];
        uint32_t ob = 0;
        int cv = -1;
        if (a >= 0) {
            ob = s->sorig[a + i];
            cv = s->sconst[a + i];
            defv[i] = s->sdef[a + i];
        } else if (pkt) {
            int64_t b = key->val + i;
            ob = pkt_ob(c->sh, b);
            cv = b >= 0 && b < PKT_BYTES ? c->sh->byte[b] : -1;
        }
        obv[i] = ob;
        if (ob & OB_SLOT) {
            /* No packet byte (unknown in the layout). */
        } else if (ob & OB_PAIR) {
            if (OB_GROUP(ob)) {
                k->kind = STATE_KEY_PAIR;
                k->field = OB_FIELD(ob);
                k->byte = OB_BYTE(ob);
                k->group = (uint16_t) OB_GROUP(ob);
                k->member = (ob & OB_POL) != 0;
            }
        } else if (ob) {
            /* A copy of a packet byte, known or not under this shape. */
            k->kind = STATE_KEY_FIELD;
            k->field = OB_FIELD(ob);
            k->byte = OB_BYTE(ob);
        } else if (cv >= 0) {
            k->kind = STATE_KEY_CONST;
            k->value = (uint8_t) cv;
        }
    }
    lay_normalize(obs, ks);
    lay_merge(c, m, obs);
    /* A lookup right after an update of the same key (see "Owned
     * slots"). */
    bool fresh = c->prog->insns[pc].imm == BPF_FUNC_map_lookup_elem
                 && s->upd_map == (int) m && a >= 0 && a == s->upd_a
                 && ks == s->upd_len;
    call_merge(c, pc, m, obs, owned_slot(obv, defv, ks), fresh);
    free(obs);
    free(obv);
    free(defv);
}

/* After a shape's fixpoint: the layouts of the keys of its map calls. */
static void
lay_shape(struct ctx *c)
{
    for (uint32_t pc = 0; pc < c->prog->n_insns; pc++) {
        struct astate *s = &c->st[pc];
        int m = c->key_map[pc];
        if (m < 0 || !s->live) {
            continue;
        }
        if (s->r[1].kind != AV_MAP_PTR || s->r[1].map != m) {
            /* Several maps at one call: no layout for any. */
            struct state_key_byte *unk = xcalloc(
                c->prog->maps[m]->key_size + 1, sizeof *unk);
            if (!c->lay[m]) {
                c->lay[m] = xcalloc(c->prog->maps[m]->key_size + 1,
                                    sizeof *c->lay[m]);
                c->lay_seen[m] = xcalloc(1, sizeof *c->lay_seen[m]);
            }
            lay_merge(c, m, unk);
            call_merge(c, pc, m, unk, 0, false);
            free(unk);
            continue;
        }
        lay_record(c, s, m, &s->r[2], pc);
    }
}

/* Implicit flows through structural fields: an instruction that defines
 * a constant under two shapes differing in one respect (VLAN tag,
 * EtherType or IP protocol), a different one under each, defines a value
 * chosen by that field (the load balancer stores 6 on its TCP path and 17
 * on its UDP path, then hashes it).  Adds the field to the instruction's
 * definitions from the next round on; returns whether any changed. */
static bool
defs_update(struct ctx *c)
{
    bool changed = false;

    for (uint32_t pc = 0; pc < c->prog->n_insns; pc++) {
        const struct def_site *k = &c->defs[pc];
        uint64_t f = 0;
        for (int t = 0; t < 3; t++)
        for (int x = 0; x < N_SHAPES; x++) {
            for (int y = x + 1; y < N_SHAPES && k->st[t][x] == 1; y++) {
                const struct shape *a = &c->shapes[x], *b = &c->shapes[y];
                int nd = (a->vlan != b->vlan) + (a->l3 != b->l3)
                         + (a->l4 != b->l4 && a->l3 == b->l3);
                if (k->st[t][y] != 1 || nd != 1
                    || k->val[t][x] == k->val[t][y]) {
                    continue;
                }
                f |= a->vlan != b->vlan ? UINT64_C(1) << STATE_F_DL_VLAN
                     : a->l3 != b->l3 ? UINT64_C(1) << STATE_F_DL_TYPE
                     : UINT64_C(1) << STATE_F_NW_PROTO;
            }
        }
        if ((c->def_extra[pc] | f) != c->def_extra[pc]) {
            c->def_extra[pc] |= f;
            changed = true;
        }
    }
    return changed;
}

/* Whether every byte of the key at 'key' holds a pure value. */
static bool
key_pure(const struct ctx *c, const struct astate *s, const struct av *key,
         uint32_t len)
{
    int a = key->kind == AV_STACK ? stack_index(key, 0, len) : -1;

    if (a < 0) {
        return false;
    }
    for (uint32_t i = 0; i < len; i++) {
        if (!s->spure[a + i]) {
            return false;
        }
    }
    return true;
}

/* Records the key of a map helper call; returns its packet fields. */
static uint64_t
map_key(struct ctx *c, const struct astate *s, unsigned int m,
        const struct av *key, uint32_t pc)
{
    struct state_map_result *r = &c->res->maps[m];
    uint64_t f, mp;

    r->used = true;
    if (c->key_map[pc] >= 0 && c->key_map[pc] != (int) m) {
        c->unkeyed[c->key_map[pc]] = c->unkeyed[m] = true;
    }
    c->key_map[pc] = c->key_map[pc] == -1 || c->key_map[pc] == (int) m
                     ? (int) m : -2;
    if (!mem_taint(c, s, key, c->prog->maps[m]->key_size, &f, &mp)) {
        /* Any key at all, possibly one every flow shares. */
        r->dims = STATE_ALL_FIELDS;
        r->shared = true;
        approx(r, key->kind == AV_PKT ? "key at a variable packet offset"
                                      : "key pointer not resolved");
        return STATE_ALL_FIELDS;
    }
    if (c->sites[pc]) {
        f |= c->sites[pc]->extra;
    }
    if (key_pure(c, s, key, c->prog->maps[m]->key_size)) {
        /* Chosen by the path only: the entries are shared by every flow
         * that takes it (all-flows); the branches' fields name which
         * paths, not flows, so they are not dimensions. */
        f = 0;
    }
    r->dims |= f & STATE_ALL_FIELDS;
    if (f & VIA_MAP) {
        approx(r, "key built from map values: their fields are a union "
               "over the map");
    }
    if (key->kind == AV_STACK) {
        site_record(c, pc, m, s, stack_index(key, 0, 0),
                    c->prog->maps[m]->key_size);
    }
    if (f & (UINT64_C(1) << STATE_F_PAYLOAD)) {
        approx(r, "key may hold packet bytes of unresolved origin "
               "(variable offset or unmodelled helper)");
    }
    return f;
}

/* A write to map 'm' at an entry whose key does not depend on the packet:
 * every flow shares that entry. */
static void
shared_write(struct ctx *c, unsigned int m, uint64_t key_fields)
{
    if (!key_fields) {
        c->res->maps[m].shared = true;
    }
}

static void
clobber_caller_saved(struct astate *s, struct av r0)
{
    s->r[0] = r0;
    for (int i = 1; i <= 5; i++) {
        s->r[i] = scalar(0, 0);
    }
}

/* Writes 'len' bytes at a stack pointer with taint (for helpers that fill
 * memory). */
static void
stack_fill(struct astate *s, const struct av *p, uint32_t len,
           uint64_t fields, uint64_t maps)
{
    int a = stack_index(p, 0, len);
    struct av v = scalar(fields, maps);

    if (a >= 0) {
        stack_store(s, a, len, &v);
    }
}

/* A helper wrote stack memory we cannot follow: every stack byte may now
 * hold any packet field (the 'payload' bit marks keys built from it as
 * over-approximated). */
static void
unknown_stack_write(struct ctx *c, struct astate *s)
{
    upd_clobber(s, 0, 0);
    for (int i = 0; i < MAX_STACK; i++) {
        s->sfields[i] |= c->sh->all;
        s->sconst[i] = -1;
        s->sorig[i] = 0;
        s->sdef[i] = 0;
        s->spure[i] = false;
        s->slot_ok[i / 8] = false;
    }
}

/* A helper copies a value from 'src' into map 'm': byte by byte, the
 * value's bytes get the source bytes' fields. */
static void
store_value(struct ctx *c, const struct astate *s, unsigned int m,
            const struct av *src)
{
    struct av dst = { .kind = AV_MAP_VAL, .map = m };
    uint32_t vs = c->prog->maps[m]->value_size;

    for (uint32_t i = 0; i < vs; i++) {
        struct av p = *src;
        uint64_t f, mp;
        p.val += i;
        p.hi += i;
        if (!mem_taint(c, s, &p, 1, &f, &mp)) {
            dst.var = true;
            vf_store(c, &dst, 0, 0, STATE_ALL_FIELDS);
            approx(&c->res->maps[m], "value stored from an unresolved "
                   "pointer");
            return;
        }
        dst.val = dst.hi = i;
        vf_store(c, &dst, 0, 1, f);
    }
}

/* A store of 'size' bytes at offset 'off' through value pointer 'p' (a
 * helper given the pointer: 'size' 0, anywhere in the value): the lookup
 * that returned it writes (see "Writers"). */
static void
note_value_write(struct ctx *c, const struct av *p, int off, int size)
{
    int64_t lo = p->val + off;

    if (p->site) {
        c->val_written[p->site - 1] = true;
    } else {
        c->val_write_any[p->map] = true;
    }
    if (p->var || !size || lo < (int64_t) sizeof(uint32_t)) {
        c->slot_written[p->map] = true;
    }
}

static void
do_call(struct ctx *c, struct astate *s, const struct bpf_insn *in,
        uint32_t pc)
{
    const struct av *r = s->r;
    int32_t id = in->imm;
    uint64_t argf = 0, argm = 0;
    char why[96];

    for (int i = 1; i <= 5; i++) {
        argf |= r[i].fields;
        argm |= r[i].maps;
    }
    if (in->src_reg == BPF_PSEUDO_CALL) {
        approx_all(c, "BPF-to-BPF call: callee not analysed", false);
        clobber_caller_saved(s, scalar(c->sh->all,
                                       (UINT64_C(1) << c->res->n_maps) - 1));
        return;
    }
    int m = r[1].kind == AV_MAP_PTR ? r[1].map : -1;
    switch (id) {
    case BPF_FUNC_map_lookup_elem:
    case BPF_FUNC_map_update_elem:
    case BPF_FUNC_map_delete_elem:
        if (m < 0) {
            approx_all(c, "map helper on an unresolved map", true);
            clobber_caller_saved(s, scalar(argf, argm));
            return;
        }
        uint64_t kf = map_key(c, s, m, &r[2], pc);
        if (id == BPF_FUNC_map_lookup_elem) {
            /* The value found depends on the key's fields. */
            struct av v = { .kind = AV_MAP_VAL, .map = m, .fields = kf,
                            .maps = (UINT64_C(1) << m) | s->ctrl,
                            .site = pc + 1 < UINT16_MAX
                                    ? (uint16_t) (pc + 1) : 0 };
            c->res->maps[m].read = true;
            clobber_caller_saved(s, v);
        } else {
            c->res->maps[m].updated = true;
            c->plain_update[m] = true;
            shared_write(c, m, kf);
            s->upd_map = -1;
            if (id == BPF_FUNC_map_update_elem) {
                int a = r[2].kind == AV_STACK
                        ? stack_index(&r[2], 0, c->prog->maps[m]->key_size)
                        : -1;
                store_value(c, s, m, &r[3]);
                if (a >= 0) {
                    s->upd_map = (int16_t) m;
                    s->upd_a = (int16_t) a;
                    s->upd_len = (uint16_t) c->prog->maps[m]->key_size;
                }
            }
            clobber_caller_saved(s, scalar(0, UINT64_C(1) << m));
        }
        return;
    case BPF_FUNC_map_push_elem:
    case BPF_FUNC_map_pop_elem:
    case BPF_FUNC_map_peek_elem:
        if (m < 0) {
            approx_all(c, "map helper on an unresolved map", true);
            clobber_caller_saved(s, scalar(argf, argm));
            return;
        }
        c->res->maps[m].used = true;
        if (id != BPF_FUNC_map_peek_elem) {
            /* A queue or stack has no key: all flows share it. */
            c->res->maps[m].updated = true;
            c->plain_update[m] = true;
            c->res->maps[m].shared = true;
            c->unkeyed[m] = true;
        }
        if (id == BPF_FUNC_map_push_elem) {
            store_value(c, s, m, &r[2]);
        } else {
            struct av all = { .kind = AV_MAP_VAL, .map = m, .var = true };
            c->res->maps[m].read = true;
            stack_fill(s, &r[2], c->prog->maps[m]->value_size,
                       vf_load(c, &all, 0, 0), UINT64_C(1) << m);
        }
        clobber_caller_saved(s, scalar(0, UINT64_C(1) << m));
        return;
    case BPF_FUNC_tail_call:
        approx_all(c, "tail call: the callee's state accesses are unknown",
                   true);
        if (r[2].kind == AV_MAP_PTR) {
            c->res->maps[r[2].map].used = true;
            c->res->maps[r[2].map].read = true;
            c->res->maps[r[2].map].output = true;
            c->res->maps[r[2].map].dims |= r[3].fields;
        }
        clobber_caller_saved(s, scalar(c->sh->all,
                                       (UINT64_C(1) << c->res->n_maps) - 1));
        return;
    case BPF_FUNC_redirect:
        mark_output(c, r[1].maps | r[2].maps | s->ctrl);
        clobber_caller_saved(s, scalar(argf, argm));
        return;
    case BPF_FUNC_redirect_map:
        if (m >= 0) {
            struct state_map_result *mr = &c->res->maps[m];
            mr->used = mr->read = mr->output = true;
            mr->dims |= r[2].fields;
        }
        mark_output(c, r[2].maps | r[3].maps | s->ctrl);
        clobber_caller_saved(s, scalar(argf, argm));
        return;
    case BPF_FUNC_xdp_adjust_head:
    case BPF_FUNC_xdp_adjust_tail:
    case BPF_FUNC_xdp_adjust_meta:
        mark_output(c, argm | s->ctrl);
        clobber_caller_saved(s, scalar(argf, argm));
        for (int i = 6; i <= 9; i++) {
            if (s->r[i].kind == AV_PKT || s->r[i].kind == AV_PKT_END) {
                s->r[i] = scalar(0, 0);
            }
        }
        return;
    case BPF_FUNC_ktime_get_ns:
    case BPF_FUNC_get_prandom_u32:
    case BPF_FUNC_get_smp_processor_id:
    case BPF_FUNC_trace_printk:
    case BPF_FUNC_perf_event_output:
    case BPF_FUNC_ringbuf_output:
    case BPF_FUNC_ringbuf_submit:
    case BPF_FUNC_ringbuf_discard:
    case BPF_FUNC_csum_diff:
        if (m >= 0) {
            c->res->maps[m].used = true;
        }
        clobber_caller_saved(s, scalar(argf, argm));
        return;
    default:
        for (int i = 1; i <= 5; i++) {
            if (r[i].kind == AV_STACK) {
                unknown_stack_write(c, s);
            }
            if (r[i].kind == AV_MAP_VAL) {
                struct state_map_result *mr = &c->res->maps[r[i].map];
                snprintf(why, sizeof why,
                         "helper %d at insn %u given a map value", id, pc);
                mr->updated = mr->output = true;
                c->plain_update[r[i].map] = true;
                note_value_write(c, &r[i], 0, 0);
                approx(mr, why);
            }
            if (r[i].kind == AV_PKT) {
                mark_output(c, argm | s->ctrl);
            }
        }
        clobber_caller_saved(s, scalar(argf, argm));
        return;
    }
}

static void
enqueue(struct ctx *c, uint32_t pc, const struct astate *s, uint32_t n)
{
    if (pc >= n) {
        return;
    }
    /* Regions ending at 'pc' are still in the states joined here (their
     * sides matter to the join); run_shape() drops them. */
    if (state_join(&c->st[pc], s, pc) && !c->queued[pc]) {
        c->queued[pc] = true;
        c->work[c->n_work++] = pc;
    }
}

/* Records the value of track 't' of instruction 'pc' for defs_update(). */
static void
def_note(struct ctx *c, uint32_t pc, int t, const struct av *v)
{
    struct def_site *ds = &c->defs[pc];
    int x = c->shape_idx;

    if (v->kind != AV_CONST) {
        ds->st[t][x] = 2;
    } else if (!ds->st[t][x]) {
        ds->st[t][x] = 1;
        ds->val[t][x] = v->val;
    } else if (ds->st[t][x] == 1 && ds->val[t][x] != v->val) {
        ds->st[t][x] = 2;
    }
}

/* The group of condition "value 'd' (a definition stamp) equals the
 * constant or value 'v'" (see "Key layout"): numbered in order of first
 * use, after the join groups, so it is the same under every shape; 0 when
 * the table is full. */
static uint16_t
cond_group(struct ctx *c, uint16_t d, bool k, int64_t v, bool w32)
{
    for (int i = 0; i < c->n_conds; i++) {
        const struct cond_key *q = &c->conds[i];
        if (q->d == d && q->k == k && q->v == v && q->w32 == w32) {
            return (uint16_t) (COND_GROUP0 + i);
        }
    }
    if (c->n_conds == N_CONDS) {
        return 0;
    }
    c->conds[c->n_conds] = (struct cond_key) { d, k, w32, v };
    return (uint16_t) (COND_GROUP0 + c->n_conds++);
}

/* Sets dst (with implicit-flow taint) as defined by instruction 'pc',
 * recording constants for defs_update(). */
static void
def(struct ctx *c, struct astate *s, uint32_t pc, int reg, struct av v)
{
    v.maps |= s->ctrl;
    v.fields |= c->def_extra[pc];
    if (c->def_extra[pc]) {
        v.pure = false;
    }
    if (!v.d) {
        v.d = (uint16_t) (pc + 1);
    }
    def_note(c, pc, 0, &v);
    s->r[reg] = v;
}

/* The choice of pointer 'v' = 'ptr' +/- 'off' (one of them may be a
 * choice, the other exact). */
static void
choice_add(struct av *v, const struct av *ptr, const struct av *off,
           uint8_t op)
{
    int64_t x;
    int64_t sign = op == BPF_SUB ? -1 : 1;

    v->cg = 0;
    if (v->var) {
        return;
    }
    if (off->cg && av_exact(ptr, &x)) {
        v->cg = off->cg;
        v->c0 = x + sign * off->c0;
        v->c1 = x + sign * off->c1;
    } else if (ptr->cg && av_exact(off, &x)) {
        v->cg = ptr->cg;
        v->c0 = ptr->c0 + sign * x;
        v->c1 = ptr->c1 + sign * x;
    }
}

/* The byte codes of an ALU result 'v' = d OP src (see "Key layout"):
 * moves, byte swaps, masks and whole-byte shifts keep them. */
static void
alu_ob(struct av *v, uint8_t op, const struct bpf_insn *in,
       const struct av *d, const struct av *src, bool is64)
{
    uint32_t ob[8] = { 0 };
    int w = is64 ? 8 : 4;

    if (op == BPF_MOV) {
        memcpy(ob, src->ob, w * sizeof ob[0]);
    } else if (op == BPF_END) {
        int k = in->imm / 8;
        if (k >= 1 && k <= 8) {
            for (int i = 0; i < k; i++) {
                ob[i] = BPF_SRC(in->code) == BPF_TO_BE ? d->ob[k - 1 - i]
                                                       : d->ob[i];
            }
        }
    } else if (src->kind == AV_CONST && op == BPF_AND) {
        for (int i = 0; i < w; i++) {
            if (((uint64_t) src->val >> (8 * i) & 0xff) == 0xff) {
                ob[i] = d->ob[i];
            }
        }
    } else if (src->kind == AV_CONST && (op == BPF_RSH || op == BPF_LSH)
               && src->val >= 0 && src->val < 8 * w && src->val % 8 == 0) {
        int k = (int) src->val / 8;
        for (int i = 0; i < w; i++) {
            int from = op == BPF_RSH ? i + k : i - k;
            if (from >= 0 && from < w) {
                ob[i] = d->ob[from];
            }
        }
    }
    memcpy(v->ob, ob, sizeof ob);
}

static void
step(struct ctx *c, uint32_t pc, struct astate *s)
{
    const struct bpf_insn *ins = c->prog->insns;
    const struct bpf_insn *in = &ins[pc];
    uint32_t n = c->prog->n_insns;
    uint8_t cls = BPF_CLASS(in->code);
    struct av *d = &s->r[in->dst_reg & 0xf];
    struct av src;

    if (in->dst_reg > 10 || in->src_reg > 10) {
        return;
    }
    /* STX always stores a register; BPF_X marks it only in ALU/JMP. */
    if (cls == BPF_STX
        || ((cls == BPF_ALU || cls == BPF_ALU64 || cls == BPF_JMP
             || cls == BPF_JMP32) && BPF_SRC(in->code) == BPF_X)) {
        src = s->r[in->src_reg];
    } else {
        src = (struct av) { .kind = AV_CONST, .val = in->imm,
                            .hi = in->imm, .pure = true };
    }

    if (in->code == (BPF_LD | BPF_IMM | BPF_DW)) {
        struct av v = { .kind = AV_CONST, .pure = true };
        if (in->src_reg == BPF_PSEUDO_MAP_FD
            && (uint32_t) in->imm < c->res->n_maps) {
            v.kind = AV_MAP_PTR;
            v.map = in->imm;
        } else if (in->src_reg == BPF_PSEUDO_MAP_VALUE
                   && (uint32_t) in->imm < c->res->n_maps && pc + 1 < n) {
            v.kind = AV_MAP_VAL;
            v.map = in->imm;
            v.val = v.hi = ins[pc + 1].imm;
            c->res->maps[in->imm].used = true;
        } else if (pc + 1 < n) {
            v.val = (int64_t) ((uint64_t) (uint32_t) in->imm
                               | (uint64_t) ins[pc + 1].imm << 32);
            v.hi = v.val;
        }
        def(c, s, pc, in->dst_reg, v);
        enqueue(c, pc + 2, s, n);
        return;
    }

    switch (cls) {
    case BPF_ALU:
    case BPF_ALU64: {
        bool is64 = cls == BPF_ALU64;
        uint8_t op = BPF_OP(in->code);
        struct av v;
        /* Constant operands chosen by the shape's path (the protocol
         * number one path xors in and another path does not) make the
         * result depend on the structural field. */
        if (op != BPF_MOV && (d->kind == AV_CONST || d->kind == AV_SCALAR
                              || d->kind == AV_RANGE)) {
            def_note(c, pc, 1, d);
        }
        if (BPF_SRC(in->code) == BPF_X && op != BPF_MOV) {
            def_note(c, pc, 2, &src);
        }
        if (op == BPF_END) {
            v = *d;
            if (v.kind == AV_CONST) {
                uint64_t x = (uint64_t) v.val;
                if (BPF_SRC(in->code) == BPF_TO_BE) {
                    x = in->imm == 16 ? __builtin_bswap16(x)
                        : in->imm == 32 ? __builtin_bswap32(x)
                        : __builtin_bswap64(x);
                } else {
                    x = in->imm == 16 ? (uint16_t) x
                        : in->imm == 32 ? (uint32_t) x : x;
                }
                v.val = v.hi = (int64_t) x;
            } else if (v.kind != AV_SCALAR) {
                v = scalar(v.fields, v.maps);
            }
        } else if (op == BPF_MOV) {
            v = src;
            /* A 32-bit move keeps a range already inside u32. */
            bool fits = v.kind == AV_RANGE && v.val >= 0
                        && v.hi <= UINT32_MAX;
            if (!is64 && !fits && v.kind != AV_CONST) {
                v = scalar(v.fields, v.maps);
            } else if (!is64 && v.kind == AV_CONST) {
                v.val = v.hi = (uint32_t) v.val;
            }
            if (!is64) {
                v.cg = 0;
            }
        } else if (d->kind == AV_CONST && src.kind == AV_CONST) {
            bool ok;
            uint64_t x = alu(op, d->val, src.val, is64, &ok);
            v = ok ? (struct av) { .kind = AV_CONST, .val = (int64_t) x,
                                   .hi = (int64_t) x,
                                   .fields = d->fields | src.fields,
                                   .maps = d->maps | src.maps }
                   : scalar(d->fields | src.fields, d->maps | src.maps);
        } else if (is64 && (op == BPF_ADD || op == BPF_SUB)
                   && (d->kind == AV_PKT || d->kind == AV_STACK
                       || d->kind == AV_MAP_VAL || d->kind == AV_CTX)
                   && src.kind != AV_PKT && src.kind != AV_STACK) {
            v = *d;
            if ((src.kind == AV_CONST || src.kind == AV_RANGE) && !v.var) {
                v.val += op == BPF_ADD ? src.val : -src.hi;
                v.hi += op == BPF_ADD ? src.hi : -src.val;
                v.var = v.hi - v.val > MAX_SPAN;
            } else {
                v.var = true;
            }
            v.fields |= src.fields;
            v.maps |= src.maps;
            choice_add(&v, d, &src, op);
        } else if (is64 && op == BPF_ADD && src.kind == AV_PKT
                   && d->kind != AV_PKT) {
            v = src;
            v.var = v.var || (d->kind != AV_CONST && d->kind != AV_RANGE);
            if (!v.var) {
                v.val += d->val;
                v.hi += d->hi;
                v.var = v.hi - v.val > MAX_SPAN;
            }
            v.fields |= d->fields;
            v.maps |= d->maps;
            choice_add(&v, &src, d, BPF_ADD);
        } else if (op == BPF_SUB && (d->kind == AV_PKT || d->kind == AV_PKT_END)
                   && (src.kind == AV_PKT || src.kind == AV_PKT_END)) {
            v = scalar(UINT64_C(1) << STATE_F_PKT_LEN, 0);
        } else {
            v = scalar(d->fields | src.fields, d->maps | src.maps);
            if (op == BPF_NEG) {
                v = scalar(d->fields, d->maps);
            }
        }
        /* A value xor-ed or subtracted with itself no longer depends on
         * anything, but keeping the taint is the sound choice. */
        alu_ob(&v, op, in, d, &src, is64);
        if (op != BPF_MOV && op != BPF_ADD && op != BPF_SUB) {
            v.cg = 0;
        }
        v.other = op == BPF_MOV && src.other;
        v.pure = src.pure && (op == BPF_MOV || op == BPF_NEG || d->pure)
                 && (v.kind == AV_CONST || v.kind == AV_RANGE
                     || v.kind == AV_SCALAR);
        if (op != BPF_MOV || !is64) {
            v.d = 0;
        }
        def(c, s, pc, in->dst_reg, v);
        enqueue(c, pc + 1, s, n);
        return;
    }
    case BPF_LDX: {
        const struct av *p = &s->r[in->src_reg];
        int size = size_bytes(in->code);
        struct av v = scalar(p->fields, p->maps);
        if (p->kind == AV_PKT) {
            pkt_load(c, p, in->off, size, &v);
        } else if (p->kind == AV_CTX) {
            if (in->off == 0) {
                v = (struct av) { .kind = AV_PKT };
            } else if (in->off == 8) {
                /* data_meta: before the packet, at an unknown distance. */
                v = (struct av) { .kind = AV_PKT, .var = true };
            } else if (in->off == 4) {
                v = (struct av) { .kind = AV_PKT_END };
            } else if (in->off == 12) {
                v = scalar(UINT64_C(1) << STATE_F_IN_PORT, 0);
            } else {
                v = scalar(0, 0);
            }
        } else if (p->kind == AV_STACK) {
            int a = stack_index(p, in->off, size);
            if (a < 0) {
                v = scalar(0, 0);
                for (int i = 0; i < MAX_STACK; i++) {
                    v.fields |= s->sfields[i];
                    v.maps |= s->smaps[i];
                }
            } else if (size == 8 && a % 8 == 0 && s->slot_ok[a / 8]) {
                v = s->slot[a / 8];
            } else {
                bool known = true;
                uint64_t x = 0;
                v = scalar(0, 0);
                v.d = s->sdef[a];
                v.pure = true;
                for (int i = 0; i < size; i++) {
                    v.pure = v.pure && s->spure[a + i];
                    v.fields |= s->sfields[a + i];
                    v.maps |= s->smaps[a + i];
                    v.ob[i] = s->sorig[a + i];
                    if (s->sdef[a + i] != v.d) {
                        v.d = 0;
                    }
                    known = known && s->sconst[a + i] >= 0;
                    x |= (uint64_t) (s->sconst[a + i] & 0xff) << (8 * i);
                }
                if (known) {
                    v.kind = AV_CONST;
                    v.val = v.hi = (int64_t) x;
                }
            }
        } else if (p->kind == AV_MAP_VAL) {
            v = scalar(vf_load(c, p, in->off, size),
                       p->maps | (UINT64_C(1) << p->map));
            if (c->prog->maps[p->map]->type == BPF_MAP_TYPE_SLUICE_FLOWTABLE
                && p->site && !p->var && p->val == p->hi) {
                /* Bytes of the entry's slot (see "Owned slots"). */
                for (int i = 0; i < size && i < 8; i++) {
                    int64_t b = p->val + in->off + i;
                    if (b >= 0 && b < (int64_t) sizeof(uint32_t)) {
                        v.ob[i] = OB_SLOT | (uint32_t) p->site << 16
                                  | (uint32_t) b;
                    }
                }
            }
            c->res->maps[p->map].used = true;
            if (c->prog->maps[p->map]->section) {
                c->res->maps[p->map].read = true;
            }
        }
        def(c, s, pc, in->dst_reg, v);
        enqueue(c, pc + 1, s, n);
        return;
    }
    case BPF_ST:
    case BPF_STX: {
        const struct av *p = d;
        int size = size_bytes(in->code);
        struct av v = src;
        v.maps |= s->ctrl;
        if (BPF_MODE(in->code) == BPF_ATOMIC) {
            /* Atomics read and write: the old value may land in src. */
            if (p->kind == AV_MAP_VAL) {
                int aop = in->imm & ~BPF_FETCH;
                c->res->maps[p->map].used = true;
                c->res->maps[p->map].updated = true;
                note_value_write(c, p, in->off, size);
                /* Exchanges are atomic but do not commute. */
                if (aop != BPF_ADD && aop != BPF_OR && aop != BPF_AND
                    && aop != BPF_XOR) {
                    c->plain_update[p->map] = true;
                }
                shared_write(c, p->map, p->fields);
                vf_store(c, p, in->off, size, v.fields);
                if (in->imm & BPF_FETCH) {
                    s->r[in->src_reg] = scalar(
                        v.fields | vf_load(c, p, in->off, size),
                        v.maps | (UINT64_C(1) << p->map));
                }
            } else if (p->kind == AV_STACK) {
                int a = stack_index(p, in->off, size);
                struct av sv = scalar(v.fields, v.maps);
                if (a >= 0) {
                    stack_store(s, a, size, &sv);
                }
            }
            enqueue(c, pc + 1, s, n);
            return;
        }
        if (p->kind == AV_STACK) {
            int a = stack_index(p, in->off, size);
            if (a >= 0) {
                if ((size == 8 && a % 8 == 0) || v.kind == AV_CONST) {
                    stack_store(s, a, size, &v);
                } else {
                    struct av sv = scalar(v.fields, v.maps);
                    memcpy(sv.ob, v.ob, sizeof sv.ob);
                    sv.d = v.d;
                    sv.pure = v.pure;
                    stack_store(s, a, size, &sv);
                }
            } else {
                upd_clobber(s, 0, 0);
                for (int i = 0; i < MAX_STACK; i++) {
                    s->sfields[i] |= v.fields;
                    s->smaps[i] |= v.maps;
                    s->sconst[i] = -1;
                    s->sorig[i] = 0;
                    s->sdef[i] = 0;
                    s->spure[i] = false;
                }
            }
        } else if (p->kind == AV_MAP_VAL) {
            c->res->maps[p->map].used = true;
            c->res->maps[p->map].updated = true;
            c->plain_update[p->map] = true;
            note_value_write(c, p, in->off, size);
            shared_write(c, p->map, p->fields);
            vf_store(c, p, in->off, size, v.fields);
        } else if (p->kind == AV_PKT) {
            mark_output(c, v.maps);
        }
        enqueue(c, pc + 1, s, n);
        return;
    }
    case BPF_JMP:
    case BPF_JMP32: {
        uint8_t op = BPF_OP(in->code);
        if (op == BPF_EXIT) {
            mark_output(c, s->r[0].maps | s->ctrl);
            return;
        }
        if (op == BPF_CALL) {
            do_call(c, s, in, pc);
            s->r[0].d = (uint16_t) (pc + 1);
            enqueue(c, pc + 1, s, n);
            return;
        }
        uint32_t t = pc + 1 + in->off;
        if (op == BPF_JA) {
            enqueue(c, t, s, n);
            return;
        }
        int dec = -1;
        if (d->kind == AV_CONST && src.kind == AV_CONST) {
            dec = jmp_decide(op, d->val, src.val, cls == BPF_JMP);
        } else if (d->other && src.kind == AV_CONST
                   && (op == BPF_JEQ || op == BPF_JNE)
                   && (src.val == 6 || src.val == 17 || src.val == 1
                       || src.val == 58)) {
            /* Those protocols are analysed under their own shapes. */
            dec = op == BPF_JNE;
        }
        int region = -1;
        if (dec < 0) {
            /* A bounds check compares packet pointers: it tests the
             * packet's length, whatever fields the offsets came from. */
            bool bounds = (d->kind == AV_PKT || d->kind == AV_PKT_END)
                          && (src.kind == AV_PKT || src.kind == AV_PKT_END);
            uint64_t tested = bounds ? UINT64_C(1) << STATE_F_PKT_LEN
                                     : d->fields | src.fields;
            /* An equality test names a condition: branches testing one
             * value against one constant split paths the same way. */
            uint16_t cond = 0;
            int fall = 0;
            if ((op == BPF_JEQ || op == BPF_JNE) && d->d
                && (BPF_SRC(in->code) == BPF_K || src.d)) {
                cond = cond_group(c, d->d, BPF_SRC(in->code) == BPF_K,
                                  BPF_SRC(in->code) == BPF_K ? in->imm
                                                             : src.d,
                                  cls == BPF_JMP32);
                fall = op == BPF_JNE;
            }
            region = ctrl_push(s, c->ipdom[pc], d->maps | src.maps,
                               tested & STATE_ALL_FIELDS, (int32_t) pc,
                               cond, fall);
            s->ctrl |= d->maps | src.maps;
        }
        if (dec != 1) {
            enqueue(c, pc + 1, s, n);
        }
        if (dec != 0) {
            if (region >= 0 && s->ctrl_side[region] != 2) {
                s->ctrl_side[region] ^= 1;
            }
            enqueue(c, t, s, n);
        }
        return;
    }
    default:
        /* Legacy packet loads (LD_ABS/LD_IND) are not used by XDP. */
        enqueue(c, pc + 1, s, n);
        return;
    }
}

static void
run_shape(struct ctx *c)
{
    uint32_t n = c->prog->n_insns;
    struct astate *init = xzalloc(sizeof *init);

    memset(c->st, 0, n * sizeof *c->st);
    memset(c->queued, 0, n * sizeof *c->queued);
    init->live = true;
    for (int i = 0; i < 11; i++) {
        init->r[i] = scalar(0, 0);
    }
    init->r[1].kind = AV_CTX;
    init->r[10].kind = AV_STACK;
    init->upd_map = -1;
    memset(init->sconst, 0xff, sizeof init->sconst);
    c->n_work = 0;
    enqueue(c, 0, init, n);
    while (c->n_work) {
        uint32_t pc = c->work[--c->n_work];
        c->queued[pc] = false;
        *init = c->st[pc];
        ctrl_update(init, pc);
        step(c, pc, init);
    }
    free(init);
}

static void
classify(struct state_map_result *m)
{
    const uint64_t b = UINT64_C(1);
    uint64_t d = m->dims;

    if (d & (b << STATE_F_IPV6_SRC)) {
        d |= b << STATE_F_NW_SRC;
    }
    if (d & (b << STATE_F_IPV6_DST)) {
        d |= b << STATE_F_NW_DST;
    }
    /* Addresses and ports, in either order.  nw_proto is a dimension when
     * the key depends on it; a program that keeps one protocol's flows
     * stores a constant there, and its ports already name one flow. */
    uint64_t flow = b << STATE_F_NW_SRC | b << STATE_F_NW_DST
                    | b << STATE_F_TP_SRC | b << STATE_F_TP_DST;
    if (!m->updated) {
        m->klass = STATE_CLASS_CONFIG;
    } else if (m->shared) {
        m->klass = STATE_CLASS_ALL_FLOWS;
    } else if ((d & flow) == flow) {
        m->klass = STATE_CLASS_PER_FLOW;
    } else if (d) {
        m->klass = STATE_CLASS_MULTI_FLOW;
    } else {
        m->klass = STATE_CLASS_ALL_FLOWS;
    }
}

/* ---- Writers. ----
 *
 * Steering needs to know which packets may write an entry, not which may
 * read it: threads read entries that others write as the kernel's CPUs
 * do.  A call writes when it updates or deletes, or when it is a lookup
 * whose returned value the program stores through (any lookup of the map
 * when the store's pointer may come from several).  A flow table's lookup
 * also refreshes the entry's idle time, but that is a timestamp that only
 * moves forward, stored atomically by the map: refreshes from several
 * threads commute, so they are no writes here.  Writes whose key holds an
 * owned slot are attributed to the flow-table key that owns it. */

/* Whether call 'pc' writes an entry of map 'm'. */
static bool
call_writes(const struct ctx *c, uint32_t pc, unsigned int m)
{
    switch (c->prog->insns[pc].imm) {
    case BPF_FUNC_map_update_elem:
    case BPF_FUNC_map_delete_elem:
        return true;
    case BPF_FUNC_map_lookup_elem:
        return c->val_written[pc] || c->val_write_any[m];
    default:
        return true;
    }
}

static void
writers(struct ctx *c)
{
    const struct bpf_prog *prog = c->prog;

    for (uint32_t i = 0; i < c->res->n_maps; i++) {
        struct state_map_result *m = &c->res->maps[i];
        uint32_t ks = prog->maps[i]->key_size;
        bool wseen = false, oseen = false;
        int owner = -1;
        m->writers_known = m->updated && !c->opaque && !c->unkeyed[i];
        if (!m->writers_known) {
            continue;
        }
        for (uint32_t pc = 0; pc < prog->n_insns && m->writers_known; pc++) {
            if (!c->clay_seen[pc] || c->cmap[pc] != (int) i
                || !call_writes(c, pc, i)) {
                continue;
            }
            uint32_t own = c->cown[pc];
            int om = own && own != UINT32_MAX && c->clay_seen[own - 1]
                     ? c->cmap[own - 1] : -1;
            if (om >= 0 && !c->slot_written[om] && c->cfresh[own - 1]
                && prog->maps[om]->type == BPF_MAP_TYPE_SLUICE_FLOWTABLE
                && (owner < 0 || owner == om)) {
                uint32_t oks = prog->maps[om]->key_size;
                if (!m->owner_key) {
                    m->owner_key = xcalloc(oks + 1, sizeof *m->owner_key);
                    m->owner_key_size = oks;
                    m->owner = prog->maps[om]->name;
                }
                owner = om;
                lay_join(m->owner_key, &oseen, oks, (uint16_t) (0xff00 + om),
                         c->clay[own - 1]);
                continue;
            }
            if (!m->write_key) {
                m->write_key = xcalloc(ks + 1, sizeof *m->write_key);
            }
            lay_join(m->write_key, &wseen, ks, (uint16_t) (0xff00 + i),
                     c->clay[pc]);
        }
        if (!wseen && !oseen) {
            /* Updated, yet no keyed write seen: only the key applies. */
            m->writers_known = false;
        }
    }
}

int
state_analyze(const struct bpf_prog *prog, struct state_result *res,
              char **errp)
{
    static const int l3s[] = { 4, 6, 1, 0 };
    static const int l4s[] = { 6, 17, 1, -1 };
    struct ctx c = { .prog = prog, .res = res };
    struct shape shapes[N_SHAPES];

    memset(res, 0, sizeof *res);
    if (!prog->n_insns) {
        *errp = xasprintf("program %s has no instructions", prog->name);
        return -EINVAL;
    }
    if (prog->kind != BPF_PROG_KIND_XDP) {
        *errp = xasprintf("program %s is not an XDP program", prog->name);
        return -EINVAL;
    }
    if (!prog->verified) {
        /* The transfer functions trust the verifier's guarantees
         * (bounded stack offsets, known helpers, no uninitialised
         * reads). */
        *errp = xasprintf("program %s is not verified", prog->name);
        return -EINVAL;
    }
    res->n_maps = prog->n_maps;
    res->maps = xcalloc(prog->n_maps ? prog->n_maps : 1, sizeof *res->maps);
    for (uint32_t i = 0; i < prog->n_maps; i++) {
        res->maps[i].name = prog->maps[i]->name;
    }
    c.st = xcalloc(prog->n_insns, sizeof *c.st);
    c.queued = xcalloc(prog->n_insns, sizeof *c.queued);
    c.work = xcalloc(prog->n_insns, sizeof *c.work);
    c.ipdom = compute_ipdom(prog->insns, prog->n_insns);
    c.sites = xcalloc(prog->n_insns, sizeof *c.sites);
    c.defs = xcalloc(prog->n_insns, sizeof *c.defs);
    c.def_extra = xcalloc(prog->n_insns, sizeof *c.def_extra);
    c.key_map = xcalloc(prog->n_insns, sizeof *c.key_map);
    c.clay = xcalloc(prog->n_insns, sizeof *c.clay);
    c.clay_seen = xcalloc(prog->n_insns, sizeof *c.clay_seen);
    c.csize = xcalloc(prog->n_insns, sizeof *c.csize);
    c.cmap = xcalloc(prog->n_insns, sizeof *c.cmap);
    c.cown = xcalloc(prog->n_insns, sizeof *c.cown);
    c.cfresh = xcalloc(prog->n_insns, sizeof *c.cfresh);
    c.val_written = xcalloc(prog->n_insns, sizeof *c.val_written);
    c.shapes = shapes;
    for (uint32_t i = 0; i < prog->n_maps; i++) {
        c.vf[i] = xcalloc(prog->maps[i]->value_size + 1, sizeof *c.vf[i]);
    }
    for (int vlan = 0; vlan <= 1; vlan++) {
        for (size_t i = 0; i < ARRAY_SIZE(l3s); i++) {
            for (size_t j = 0; j < ARRAY_SIZE(l4s); j++) {
                if ((l3s[i] != 4 && l3s[i] != 6) && j) {
                    break;
                }
                int l4 = l4s[j] == 1 && l3s[i] == 6 ? 58 : l4s[j];
                shape_build(&shapes[res->n_hypotheses], vlan, l3s[i], l4);
                shape_index_bytes(&shapes[res->n_hypotheses++]);
            }
        }
    }
    /* Values stored into maps and read back (a key kept in one map and
     * used to index another) need rounds until the value taints settle;
     * they only grow, over finitely many bits. */
    bool more;
    do {
        /* Each round recomputes the results from the facts that only grow
         * (value taints, path-chosen constants), so the last round's are
         * the fixpoint's. */
        c.vf_changed = false;
        for (uint32_t i = 0; i < prog->n_maps; i++) {
            memset(&res->maps[i], 0, sizeof res->maps[i]);
            res->maps[i].name = prog->maps[i]->name;
            c.plain_update[i] = false;
            if (c.lay_seen[i]) {
                c.lay_seen[i][0] = false;
            }
        }
        memset(c.clay_seen, 0, prog->n_insns * sizeof *c.clay_seen);
        for (unsigned int x = 0; x < res->n_hypotheses; x++) {
            c.sh = &shapes[x];
            c.shape_idx = x;
            for (uint32_t pc = 0; pc < prog->n_insns; pc++) {
                c.key_map[pc] = -1;
            }
            run_shape(&c);
            lay_shape(&c);
        }
        more = sites_update(&c);
        more |= defs_update(&c);
        more |= c.vf_changed;
    } while (more);
    for (uint32_t i = 0; i < res->n_maps; i++) {
        struct state_map_result *m = &res->maps[i];
        classify(m);
        m->atomic_only = m->updated && !c.plain_update[i];
        m->key_size = prog->maps[i]->key_size;
        m->key = c.lay[i];
        free(c.lay_seen[i]);
    }
    writers(&c);
    free(c.defs);
    free(c.def_extra);
    free(c.key_map);
    for (uint32_t i = 0; i < prog->n_insns; i++) {
        free(c.clay[i]);
    }
    free(c.clay);
    free(c.clay_seen);
    free(c.csize);
    free(c.cmap);
    free(c.cown);
    free(c.cfresh);
    free(c.val_written);
    free(c.st);
    free(c.queued);
    free(c.work);
    free(c.ipdom);
    for (uint32_t i = 0; i < prog->n_insns; i++) {
        free(c.sites[i]);
    }
    free(c.sites);
    for (uint32_t i = 0; i < prog->n_maps; i++) {
        free(c.vf[i]);
    }
    return 0;
}

void
state_result_destroy(struct state_result *res)
{
    for (unsigned int i = 0; i < res->n_maps; i++) {
        free(res->maps[i].key);
        free(res->maps[i].write_key);
        free(res->maps[i].owner_key);
    }
    free(res->maps);
    res->maps = NULL;
    res->n_maps = 0;
}

const char *
state_field_name(enum state_field f)
{
    static const char *const names[STATE_N_FIELDS] = {
        "in_port", "dl_dst", "dl_src", "dl_type", "dl_vlan", "nw_tos",
        "nw_ttl", "nw_proto", "nw_frag", "nw_src", "nw_dst", "ipv6_src",
        "ipv6_dst", "ipv6_label", "tp_src", "tp_dst", "tcp_flags",
        "arp_op", "arp_sha", "arp_spa", "arp_tha", "arp_tpa", "pkt_len",
        "nw_other", "tp_other", "payload",
    };
    return (unsigned int) f < STATE_N_FIELDS ? names[f] : "?";
}

const char *
state_class_name(enum state_class k)
{
    switch (k) {
    case STATE_CLASS_CONFIG: return "configuration";
    case STATE_CLASS_PER_FLOW: return "per-flow";
    case STATE_CLASS_MULTI_FLOW: return "multi-flow";
    case STATE_CLASS_ALL_FLOWS: return "all-flows";
    }
    return "?";
}

void
state_dims_format(uint64_t dims, char *buf, size_t size)
{
    size_t used = 0;

    if (size) {
        buf[0] = '\0';
    }
    for (int f = 0; f < STATE_N_FIELDS; f++) {
        if (dims >> f & 1) {
            int k = snprintf(buf + used, size - used, "%s%s",
                             used ? "," : "", state_field_name(f));
            if (k < 0 || (size_t) k >= size - used) {
                buf[used] = '\0';      /* No partial name. */
                return;
            }
            used += k;
        }
    }
}
