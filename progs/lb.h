/* Layout shared by progs/lb.c and its control plane (src/nf/nf_lb.c).
 *
 * The Maglev load balancer (NF-SPECS "Maglev load balancer") keeps the
 * lookup table built by the control plane in 'lb_table' (slot -> backend
 * index), the backends in 'lb_backends' and flows in 'lb_conns', an
 * expiring flow table (sluice_maps.h).  "net" marks network order. */
#ifndef PROGS_LB_H
#define PROGS_LB_H 1

#include <linux/types.h>

#define LB_TABLE_MAX 65537        /* Largest lookup table (prime M). */
#define LB_BACKENDS_MAX 256       /* Backends per balancer. */
#define LB_CONNS_MAX 65536        /* Connection-table max_entries. */
#define LB_NAME_LEN 32            /* Backend names, NUL-terminated. */
#define LB_NO_BACKEND 0xffffffffu /* Table slot when no backend is up. */

struct lb_config {
    __u32 vip;   /* Virtual IPv4 address (net). */
    __u16 vport; /* Virtual port (net). */
    __u16 pad;
    __u32 table_size; /* M (prime); 0 = unconfigured. */
    __u32 n_backends; /* Entries of lb_backends in use. */
};

struct lb_backend {
    char name[LB_NAME_LEN]; /* From the backends file. */
    __u32 ip;               /* Backend address (net). */
    __u32 port;             /* Sluice output port. */
    __u8 mac[6];            /* Backend MAC: new destination. */
    __u8 up;                /* 1 = healthy. */
    __u8 pad;
    __u32 weight; /* Turns per Maglev round, >= 1. */
};

struct lb_flow_key {
    __u32 src_ip;   /* Client (net). */
    __u32 dst_ip;   /* VIP (net). */
    __u16 src_port; /* (net). */
    __u16 dst_port; /* (net). */
    __u8 proto;
    __u8 pad[3]; /* Zero. */
};

struct lb_flow_value {
    __u32 slot;        /* Filled by the flow table. */
    __u32 backend;     /* Index into lb_backends. */
    __u32 client_port; /* Sluice port the client is behind. */
    __u32 pad;
};

enum lb_stat {
    LB_STAT_NEW,        /* Flows placed through the lookup table. */
    LB_STAT_KNOWN,      /* Packets of flows kept on their backend. */
    LB_STAT_MOVED,      /* Flows moved off a backend marked down. */
    LB_STAT_FULL,       /* New flows not recorded (table full). */
    LB_STAT_PASS,       /* Packets not to the VIP. */
    LB_STAT_NO_BACKEND, /* Dropped: no backend up. */
    LB_STAT_REPLY,      /* Backend replies sent back from the VIP. */
    LB_N_STATS,
};

/* The 5-tuple hash that picks a lookup-table slot (also used by tests). */
static inline __u32
lb_flow_hash(const struct lb_flow_key *k)
{
    __u32 h = 0x9e3779b9u;
    __u32 w[3] = {k->src_ip, k->dst_ip,
                  (__u32)k->src_port | ((__u32)k->dst_port << 16)};
    for (int i = 0; i < 3; i++) {
        __u32 x = w[i] * 0xcc9e2d51u;
        x = (x << 15) | (x >> 17);
        h ^= x * 0x1b873593u;
        h = ((h << 13) | (h >> 19)) * 5 + 0xe6546b64u;
    }
    h ^= k->proto;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

#endif
