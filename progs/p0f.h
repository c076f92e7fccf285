/* Layout of the p0f SYN filter's signature map, shared by the eBPF program
 * (progs/p0f.c) and the control-plane loader that fills it from a p0f v3
 * signature file (src/nf/p0f.c).
 *
 * A p0f TCP signature is ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass.
 * The fields that must match exactly (version, initial-TTL class, IP option
 * length, TCP option layout, quirks, payload class) form the hash key; the
 * ones that allow wildcards or arithmetic (mss, window size, window scale)
 * are checked against up to P0F_MAX_VARIANTS entries in the value, so a
 * lookup is one hash probe plus a short bounded loop. */
#ifndef PROGS_P0F_H
#define PROGS_P0F_H 1

#ifdef __bpf__
#include <linux/types.h>
typedef __u8 p0f_u8;
typedef __u16 p0f_u16;
typedef __u32 p0f_u32;
typedef __u64 p0f_u64;
#else
#include <stdint.h>
typedef uint8_t p0f_u8;
typedef uint16_t p0f_u16;
typedef uint32_t p0f_u32;
typedef uint64_t p0f_u64;
#endif

#define P0F_MAX_LAYOUT 20        /* TCP option layout entries. */
#define P0F_MAX_VARIANTS 32       /* mss/wsize/scale variants per key (p0f.fp needs 26). */

/* Option layout codes: the TCP option kind, except EOL which is followed
 * by its padding length in the next byte. */
#define P0F_OPT_EOL 0
#define P0F_OPT_NOP 1
#define P0F_OPT_MSS 2
#define P0F_OPT_WS 3
#define P0F_OPT_SOK 4
#define P0F_OPT_SACK 5
#define P0F_OPT_TS 8

/* Quirk bits. */
#define P0F_Q_DF (1u << 0)
#define P0F_Q_NZ_ID (1u << 1)      /* id+ */
#define P0F_Q_ZERO_ID (1u << 2)    /* id- */
#define P0F_Q_ECN (1u << 3)
#define P0F_Q_NZ_MBZ (1u << 4)     /* 0+ */
#define P0F_Q_FLOW (1u << 5)
#define P0F_Q_ZERO_SEQ (1u << 6)   /* seq- */
#define P0F_Q_NZ_ACK (1u << 7)     /* ack+ */
#define P0F_Q_ZERO_ACK (1u << 8)   /* ack- */
#define P0F_Q_NZ_URG (1u << 9)     /* uptr+ */
#define P0F_Q_URG (1u << 10)       /* urgf+ */
#define P0F_Q_PUSH (1u << 11)      /* pushf+ */
#define P0F_Q_OPT_ZERO_TS1 (1u << 12)  /* ts1- */
#define P0F_Q_OPT_NZ_TS2 (1u << 13)    /* ts2+ */
#define P0F_Q_OPT_EOL_NZ (1u << 14)    /* opt+ */
#define P0F_Q_OPT_EXWS (1u << 15)      /* exws */
#define P0F_Q_OPT_BAD (1u << 16)       /* bad */

/* Quirks that only exist for one IP version (a '*' signature ignores the
 * others' bits, as p0f does). */
#define P0F_Q_V4_ONLY (P0F_Q_DF | P0F_Q_NZ_ID | P0F_Q_ZERO_ID | P0F_Q_NZ_MBZ)
#define P0F_Q_V6_ONLY (P0F_Q_FLOW)

/* Window size forms. */
#define P0F_WSIZE_ANY 0
#define P0F_WSIZE_FIXED 1
#define P0F_WSIZE_MSS 2            /* mss*N */
#define P0F_WSIZE_MTU 3            /* mtu*N */
#define P0F_WSIZE_MOD 4            /* %N */

#define P0F_ANY_MSS 0xffffffffu
#define P0F_ANY_SCALE 0xff         /* Scale is 0 when there is no ws option,
                                    * as in p0f. */

struct p0f_key {
    p0f_u8 ver;                    /* 4 or 6. */
    p0f_u8 ittl;                   /* Initial TTL class: 32/64/128/255. */
    p0f_u8 olen;                   /* IPv4 option bytes (0 for IPv6). */
    p0f_u8 pclass;                 /* 1 if the SYN carries payload. */
    p0f_u32 quirks;                /* P0F_Q_* bits. */
    p0f_u32 layout_len;            /* Codes shifted into 'layout'. */
    p0f_u32 pad;
    p0f_u64 layout[3];             /* Option codes, see p0f_layout_add. */
};

/* The option layout is a 24-byte shift register: each code enters at the
 * low byte of layout[0] and older codes move up.  Building it by shifting
 * (rather than indexing an array by a running count) keeps the count out
 * of address arithmetic, which lets verifiers prune the option loop. */
static inline void
p0f_layout_add(p0f_u64 layout[3], p0f_u8 code)
{
    layout[2] = layout[2] << 8 | layout[1] >> 56;
    layout[1] = layout[1] << 8 | layout[0] >> 56;
    layout[0] = layout[0] << 8 | code;
}

struct p0f_variant {
    p0f_u32 mss;                   /* Exact MSS or P0F_ANY_MSS. */
    p0f_u32 wsize;                 /* Value, multiplier or modulus. */
    p0f_u8 wsize_kind;             /* P0F_WSIZE_*. */
    p0f_u8 scale;                  /* Exact or P0F_ANY_SCALE. */
    p0f_u16 label;                 /* Index of the signature's label. */
};

struct p0f_sigs {
    p0f_u32 n;                     /* Variants used. */
    struct p0f_variant v[P0F_MAX_VARIANTS];
};

#endif
