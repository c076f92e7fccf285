/* Input classes in words; see describe.h.
 *
 * The conditions are read back from the text the path walk wrote
 * (verifier_paths.c: origin_name(), atom_text()), in two passes: the
 * first finds what the rest is read against (VLAN tags, the EtherType,
 * the transport protocol), the second says each condition in words or,
 * when no rule fits, repeats it with its fields named.  The walk names
 * L3 and L4 bytes as if an IPv4 header of 20 bytes followed the Ethernet
 * header (14 bytes, plus 4 per VLAN tag); each such name is turned back
 * into an offset from the L3 header and named again for the packet's real
 * L3 protocol, so "ip_frag[0]" of an IPv6 packet is its next header and
 * "l4[33:34]" its TCP flags. */
#include "contract/describe.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <linux/bpf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/btf.h"
#include "bpf/helpers.h"
#include "bpf/verifier_paths.h"
#include "contract/contract.h"
#include "core/util.h"

/* ---- Map value field names from BTF ------------------------------------ */

struct dfield {
    uint32_t off;                /* Bytes from the start of the value. */
    uint32_t size;               /* Bytes. */
    char *name;                  /* "wan_port", "hdr.slot". */
};

struct dmap {
    char *name;                  /* Map name, as the loader gives it. */
    uint32_t value_size;         /* Bytes of the BTF value type. */
    struct dfield *fields;       /* Scalar and array members, in order. */
    size_t n_fields, cap_fields;
};

static struct dmap *d_maps;      /* Read by contract_describe_use_btf(). */
static size_t d_n_maps;

static void
names_forget(void)
{
    for (size_t i = 0; i < d_n_maps; i++) {
        for (size_t f = 0; f < d_maps[i].n_fields; f++) {
            free(d_maps[i].fields[f].name);
        }
        free(d_maps[i].fields);
        free(d_maps[i].name);
    }
    free(d_maps);
    d_maps = NULL;
    d_n_maps = 0;
}

/* Adds the leaves of type 'id' at byte 'off' of the value, named
 * 'prefix' and below: struct members by name (anonymous ones add no
 * component), everything else (integers, enums, arrays, pointers) as one
 * field.  Bit-fields are skipped: a load names bytes, not bits. */
static void
add_fields(const struct bpf_btf *btf, uint32_t id, uint32_t off,
           const char *prefix, int depth, struct dmap *m)
{
    id = bpf_btf_skip_mods(btf, id);
    const struct btf_type *t = bpf_btf_type(btf, id);
    if (!t || depth > 8) {
        return;
    }
    unsigned int kind = bpf_btf_kind(t);
    if (kind == BTF_KIND_STRUCT || kind == BTF_KIND_UNION) {
        const struct btf_member *mb = (const void *)(t + 1);
        bool kflag = BTF_INFO_KFLAG(t->info);
        for (unsigned int i = 0; i < bpf_btf_vlen(t); i++) {
            uint32_t bits = kflag ? BTF_MEMBER_BIT_OFFSET(mb[i].offset)
                                  : mb[i].offset;
            if (bits % 8 || (kflag && BTF_MEMBER_BITFIELD_SIZE(mb[i].offset))) {
                continue;
            }
            const char *n = bpf_btf_str(btf, mb[i].name_off);
            char *child = !*n       ? xstrdup(prefix)
                          : *prefix ? xasprintf("%s.%s", prefix, n)
                                    : xstrdup(n);
            add_fields(btf, mb[i].type, off + bits / 8, child, depth + 1, m);
            free(child);
        }
        return;
    }
    uint32_t size = 0;
    if (!*prefix || bpf_btf_type_size(btf, id, &size) || !size) {
        return;
    }
    if (m->n_fields == m->cap_fields) {
        m->cap_fields = m->cap_fields ? m->cap_fields * 2 : 8;
        m->fields = xrealloc(m->fields, m->cap_fields * sizeof *m->fields);
    }
    struct dfield *f = &m->fields[m->n_fields++];
    f->off = off;
    f->size = size;
    f->name = xstrdup(prefix);
}

/* Reads the "value" member (a pointer to the value type, as __type()
 * makes it) of every map variable of DATASEC ".maps". */
static void
names_read(const struct bpf_btf *btf)
{
    uint32_t ds_id = bpf_btf_find_datasec(btf, ".maps");
    const struct btf_type *ds = bpf_btf_type(btf, ds_id);
    if (!ds) {
        return;
    }
    const struct btf_var_secinfo *vs = (const void *)(ds + 1);
    for (unsigned int i = 0; i < bpf_btf_vlen(ds); i++) {
        const struct btf_type *var = bpf_btf_type(btf, vs[i].type);
        if (!var || bpf_btf_kind(var) != BTF_KIND_VAR) {
            continue;
        }
        const struct btf_type *st =
            bpf_btf_type(btf, bpf_btf_skip_mods(btf, var->type));
        if (!st || bpf_btf_kind(st) != BTF_KIND_STRUCT) {
            continue;
        }
        const struct btf_member *mb = (const void *)(st + 1);
        for (unsigned int k = 0; k < bpf_btf_vlen(st); k++) {
            if (strcmp(bpf_btf_str(btf, mb[k].name_off), "value")) {
                continue;
            }
            const struct btf_type *ptr =
                bpf_btf_type(btf, bpf_btf_skip_mods(btf, mb[k].type));
            uint32_t size = 0;
            if (!ptr || bpf_btf_kind(ptr) != BTF_KIND_PTR
                || bpf_btf_type_size(btf, ptr->type, &size)) {
                break;
            }
            d_maps = xrealloc(d_maps, (d_n_maps + 1) * sizeof *d_maps);
            struct dmap *m = &d_maps[d_n_maps++];
            memset(m, 0, sizeof *m);
            m->name = xstrdup(bpf_btf_str(btf, var->name_off));
            m->value_size = size;
            add_fields(btf, ptr->type, 0, "", 0, m);
            break;
        }
    }
}

int
contract_describe_use_btf(const char *path, char **errp)
{
    *errp = NULL;
    names_forget();
    if (!path) {
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        *errp = xasprintf("%s: %s", path, strerror(e));
        return -e;
    }
    int rc = 0;
    size_t shstrndx = 0;
    Elf *elf = NULL;
    if (elf_version(EV_CURRENT) != EV_NONE) {
        elf = elf_begin(fd, ELF_C_READ, NULL);
    }
    if (!elf || elf_kind(elf) != ELF_K_ELF
        || elf_getshdrstrndx(elf, &shstrndx)) {
        *errp = xasprintf("%s: not an ELF object", path);
        rc = -EINVAL;
    }
    Elf_Data *data = NULL;
    for (Elf_Scn *scn = NULL; !rc && (scn = elf_nextscn(elf, scn));) {
        GElf_Shdr sh;
        const char *name;
        if (gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS
            && (name = elf_strptr(elf, shstrndx, sh.sh_name))
            && !strcmp(name, ".BTF")) {
            data = elf_getdata(scn, NULL);
            break;
        }
    }
    if (!rc && data && data->d_buf && data->d_size) {
        struct bpf_btf *btf = NULL;
        char *e = bpf_btf_parse(data->d_buf, data->d_size, &btf);
        if (e) {
            *errp = xasprintf("%s: .BTF: %s", path, e);
            free(e);
            rc = -EINVAL;
        } else {
            names_read(btf);
            bpf_btf_destroy(btf);
        }
    }
    elf_end(elf);
    close(fd);
    return rc;
}

static const struct dmap *
names_find(const struct bpf_map *map)
{
    for (size_t i = 0; i < d_n_maps; i++) {
        if (!strcmp(d_maps[i].name, map->name)
            && d_maps[i].value_size == map->value_size) {
            return &d_maps[i];
        }
    }
    return NULL;
}

/* Names byte 'off' of a value of 'map': "nat_cfg.wan_port" (its field
 * name alone in '*leaf'), "+2" added inside a field.  False (and
 * "nat_cfg+0") without a BTF name. */
static bool
value_field_name(const struct bpf_map *map, uint32_t off, char *buf,
                 size_t len, const char **leaf)
{
    const struct dmap *m = names_find(map);
    for (size_t i = 0; m && i < m->n_fields; i++) {
        const struct dfield *f = &m->fields[i];
        if (off >= f->off && off - f->off < f->size) {
            if (off == f->off) {
                snprintf(buf, len, "%s.%s", map->name, f->name);
            } else {
                snprintf(buf, len, "%s.%s+%u", map->name, f->name,
                         off - f->off);
            }
            if (leaf) {
                *leaf = f->name;
            }
            return true;
        }
    }
    snprintf(buf, len, "%s+%u", map->name, off);
    return false;
}

/* ---- Map kinds, from type and name ------------------------------------ */

/* Whether '_'-separated 'name' has one of 'words' as a component. */
static bool
name_has(const char *name, const char *const *words)
{
    const char *p = name;
    while (*p) {
        size_t n = strcspn(p, "_.");
        for (const char *const *w = words; *w; w++) {
            if (strlen(*w) == n && !strncasecmp(p, *w, n)) {
                return true;
            }
        }
        p += n;
        p += *p != '\0';
    }
    return false;
}

static const char *const flow_words[] = {
    "flow", "flows", "conn", "conns", "connection", "connections", "sess",
    "session", "sessions", "ct", "conntrack", "track", NULL,
};
static const char *const route_words[] = {
    "route", "routes", "routing", "fib", "rib", "rt", NULL,
};
static const char *const cfg_words[] = {
    "cfg", "conf", "config", "configuration", "settings", "params", NULL,
};

enum mkind {
    MK_ARRAY,                    /* Arrays, per-CPU arrays, global data. */
    MK_FLOW,                     /* Flow tables: see flow_map(). */
    MK_HASH,                     /* Other hash types. */
    MK_LPM,                      /* LPM tries. */
    MK_PROG,                     /* Program arrays. */
    MK_OTHER,
};

/* A flow table is a map whose entries are flows: sluice's expiring flow
 * table and LRU hashes by type, and hashes named like one (a component
 * flow, conn, sess, ct, track...: "fw_conns", "nat_flows"). */
static enum mkind
map_kind(const struct bpf_map *m)
{
    if (m->section) {
        return MK_ARRAY;
    }
    switch ((int)m->type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
        return MK_ARRAY;
    case BPF_MAP_TYPE_SLUICE_FLOWTABLE:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        return MK_FLOW;
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
        return name_has(m->name, flow_words) ? MK_FLOW : MK_HASH;
    case BPF_MAP_TYPE_LPM_TRIE:
        return MK_LPM;
    case BPF_MAP_TYPE_PROG_ARRAY:
        return MK_PROG;
    default:
        return MK_OTHER;
    }
}

/* Configuration: global data, a one-element array, or a map named so. */
static bool
config_map(const struct bpf_map *m)
{
    return m->section || name_has(m->name, cfg_words)
           || (map_kind(m) == MK_ARRAY && m->max_entries == 1);
}

/* "wan_port" -> "WAN port", "ext_ip" -> "external IP". */
static void
humanize(const char *field, struct ds *s)
{
    static const char *const words[][2] = {
        {"wan", "WAN"}, {"lan", "LAN"}, {"ip", "IP"}, {"ip4", "IPv4"},
        {"ip6", "IPv6"}, {"mac", "MAC"}, {"vip", "VIP"}, {"ttl", "TTL"},
        {"id", "ID"}, {"tcp", "TCP"}, {"udp", "UDP"}, {"vlan", "VLAN"},
        {"ext", "external"}, {"int", "internal"}, {"addr", "address"},
        {"ifindex", "port"}, {"src", "source"}, {"dst", "destination"},
    };
    const char *dot = strrchr(field, '.');
    const char *p = dot ? dot + 1 : field;
    bool first = true;
    while (*p) {
        size_t n = strcspn(p, "_");
        if (n) {
            const char *w = NULL;
            for (size_t i = 0; i < ARRAY_SIZE(words) && !w; i++) {
                if (strlen(words[i][0]) == n
                    && !strncasecmp(p, words[i][0], n)) {
                    w = words[i][1];
                }
            }
            ds_put_format(s, "%s%.*s", first ? "" : " ", w ? (int)strlen(w)
                                                           : (int)n,
                          w ? w : p);
            first = false;
        }
        p += n;
        p += *p != '\0';
    }
}

/* ---- Reading conditions back ------------------------------------------ */

enum rel {
    R_EQ, R_NE, R_GT, R_GE, R_LT, R_LE, R_SGT, R_SGE, R_SLT, R_SLE,
    R_SET, R_NSET,
};

static const char *const rel_text[] = {
    "=", "!=", ">", ">=", "<", "<=", " s> ", " s>= ", " s< ", " s<= ",
    " has bits ", " has no bits ",
};

/* The same, spaced, for words. */
static const char *const rel_words[] = {
    " = ", " != ", " > ", " >= ", " < ", " <= ", " s> ", " s>= ", " s< ",
    " s<= ", " has bits ", " has no bits ",
};

/* One side of a condition: a number or an origin (verifier_paths.c
 * origin_name(): "base", "base&0xM", "base>>S", "(base>>S)&0xM", the base
 * possibly followed by "(before adjust)"). */
struct operand {
    bool is_num;
    uint64_t num;                /* Two's complement when negative. */
    char base[96];               /* Origin without mask and shift. */
    bool stale;                  /* Read before the packet was adjusted. */
    unsigned int shift;          /* Bits shifted right first. */
    uint64_t mask;               /* Then AND-ed with; 0 = none. */
};

struct cond {
    struct operand l, r;
    enum rel op;
};

static bool
parse_num(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    if (*s == '-') {
        *v = (uint64_t)strtoll(s, &end, 0);
    } else if (*s >= '0' && *s <= '9') {
        *v = strtoull(s, &end, 0);
    } else {
        return false;
    }
    return !errno && !*end && end != s;
}

static bool
parse_operand(const char *s, size_t len, struct operand *o)
{
    char buf[160];
    memset(o, 0, sizeof *o);
    if (!len || len >= sizeof buf) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (parse_num(buf, &o->num)) {
        o->is_num = true;
        return true;
    }
    char *base = buf, *p;
    if (buf[0] == '(' && (p = strstr(buf, ">>"))) {
        char *close = strstr(p, ")&0x");
        if (!close || !parse_num(close + 2, &o->mask)) {
            return false;
        }
        *close = '\0';
        if (!parse_num(p + 2, &o->num)) {
            return false;
        }
        o->shift = (unsigned int)o->num;
        o->num = 0;
        *p = '\0';
        base = buf + 1;
    } else if ((p = strstr(buf, ">>"))) {
        uint64_t sh;
        if (!parse_num(p + 2, &sh)) {
            return false;
        }
        o->shift = (unsigned int)sh;
        *p = '\0';
    } else if ((p = strstr(buf, "&0x"))) {
        if (!parse_num(p + 1, &o->mask)) {
            return false;
        }
        *p = '\0';
    }
    size_t bl = strlen(base);
    static const char stale[] = "(before adjust)";
    if (bl > sizeof stale - 1 && !strcmp(base + bl - (sizeof stale - 1),
                                         stale)) {
        o->stale = true;
        base[bl - (sizeof stale - 1)] = '\0';
    }
    if (!*base || strlen(base) >= sizeof o->base) {
        return false;
    }
    snprintf(o->base, sizeof o->base, "%s", base);
    return true;
}

/* Splits "LEFT OP RIGHT" (atom_text()).  False when it is not of that
 * form. */
static bool
parse_cond(const char *t, struct cond *c)
{
    static const struct {
        const char *text;
        enum rel op;
    } words[] = {
        {" has no bits ", R_NSET}, {" has bits ", R_SET},
        {" s>= ", R_SGE}, {" s<= ", R_SLE}, {" s> ", R_SGT},
        {" s< ", R_SLT},
    };
    const char *at = NULL;
    size_t oplen = 0;
    for (size_t i = 0; i < ARRAY_SIZE(words) && !at; i++) {
        if ((at = strstr(t, words[i].text))) {
            c->op = words[i].op;
            oplen = strlen(words[i].text);
        }
    }
    for (const char *p = t; !at && *p; p++) {
        if (p[0] == '>' && p[1] == '>') {
            p++;                 /* A shift, not an operator. */
            continue;
        }
        if (p[0] == '!' && p[1] == '=') {
            c->op = R_NE;
            oplen = 2;
        } else if ((p[0] == '>' || p[0] == '<') && p[1] == '=') {
            c->op = p[0] == '>' ? R_GE : R_LE;
            oplen = 2;
        } else if (p[0] == '=' || p[0] == '>' || p[0] == '<') {
            c->op = p[0] == '=' ? R_EQ : p[0] == '>' ? R_GT : R_LT;
            oplen = 1;
        } else {
            continue;
        }
        at = p;
    }
    if (!at || at == t) {
        return false;
    }
    return parse_operand(t, (size_t)(at - t), &c->l)
           && parse_operand(at + oplen, strlen(at + oplen), &c->r);
}

/* ---- Where an origin is ------------------------------------------------ */

enum area {
    A_OTHER,                     /* Kept as written. */
    A_L2,                        /* Named link-layer field. */
    A_ABS,                       /* pkt[a:b]: bytes from the frame start. */
    A_L3,                        /* Bytes from the L3 header. */
    A_INPORT,                    /* The ingress port. */
    A_MAP,                       /* A map value's bytes. */
    A_NOW,                       /* ktime_get_ns()'s result. */
};

struct loc {
    enum area a;
    int32_t off;                 /* A_ABS, A_L3, A_MAP: bytes. */
    uint32_t size;               /* A_ABS, A_L3: bytes. */
    const struct bpf_map *map;   /* A_MAP. */
};

/* What a field of the L3 header or behind it means. */
enum sem {
    S_NONE, S_VHL, S_FRAG, S_FRAG0, S_TTL, S_PROTO, S_SRC, S_DST, S_SPORT,
    S_DPORT, S_TFLAGS, S_TOFF, S_TOFF_FLAGS, S_ICMP_TYPE, S_ARP_OP,
};

struct fname {
    int32_t off;                 /* Bytes from the header. */
    uint32_t size;               /* Bytes. */
    const char *name;
    enum sem sem;
    int proto;                   /* L4: the protocol it belongs to, or 0
                                  * for TCP and UDP both. */
};

/* The walk's names (verifier_paths.c ip_names, l4_names). */
static const struct fname ip4_names[] = {
    {0, 1, "ip_vhl", S_VHL, 0}, {1, 1, "nw_tos", S_NONE, 0},
    {2, 2, "ip_len", S_NONE, 0}, {4, 2, "ip_id", S_NONE, 0},
    {6, 2, "ip_frag", S_FRAG, 0}, {6, 1, "ip_frag[0]", S_FRAG0, 0},
    {8, 1, "nw_ttl", S_TTL, 0}, {9, 1, "nw_proto", S_PROTO, 0},
    {10, 2, "ip_csum", S_NONE, 0}, {12, 4, "nw_src", S_SRC, 0},
    {16, 4, "nw_dst", S_DST, 0},
};
static const struct fname l4_names[] = {
    {0, 2, "tp_src", S_SPORT, 0}, {2, 2, "tp_dst", S_DPORT, 0},
    {4, 4, "tcp_seq", S_NONE, 6}, {8, 4, "tcp_ack", S_NONE, 6},
    {12, 1, "tcp_off", S_TOFF, 6}, {13, 1, "tcp_flags", S_TFLAGS, 6},
    {12, 2, "tcp_off_flags", S_TOFF_FLAGS, 6}, {14, 2, "tcp_win", S_NONE, 6},
    {4, 2, "udp_len", S_NONE, 17},
};

static void
locate(const struct bpf_prog *prog, const char *base, struct loc *l)
{
    static const char *const l2[] = {
        "dl_dst", "dl_src", "dl_type", "vlan_tpid", "vlan_tpid2",
        "vlan_tci",
    };
    int a, b, n = 0;

    memset(l, 0, sizeof *l);
    for (size_t i = 0; i < ARRAY_SIZE(l2); i++) {
        if (!strcmp(base, l2[i])) {
            l->a = A_L2;
            return;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(ip4_names); i++) {
        if (!strcmp(base, ip4_names[i].name)) {
            *l = (struct loc){A_L3, ip4_names[i].off, ip4_names[i].size,
                              NULL};
            return;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(l4_names); i++) {
        if (!strcmp(base, l4_names[i].name)) {
            *l = (struct loc){A_L3, 20 + l4_names[i].off, l4_names[i].size,
                              NULL};
            return;
        }
    }
    if (sscanf(base, "l4[%d:%d]%n", &a, &b, &n) == 2 && !base[n]
        && a >= 0 && b > a) {
        *l = (struct loc){A_L3, 20 + a, (uint32_t)(b - a), NULL};
        return;
    }
    if (sscanf(base, "pkt[%d:%d]%n", &a, &b, &n) == 2 && !base[n]
        && a >= 0 && b > a) {
        *l = (struct loc){A_ABS, a, (uint32_t)(b - a), NULL};
        return;
    }
    if (!strcmp(base, "in_port")) {
        l->a = A_INPORT;
        return;
    }
    if (!strncmp(base, "ktime_get_ns#", 13)) {
        l->a = A_NOW;
        return;
    }
    const char *plus = strrchr(base, '+');
    uint64_t off;
    if (plus && prog && parse_num(plus + 1, &off) && off < UINT32_MAX) {
        for (uint32_t i = 0; i < prog->n_maps; i++) {
            const struct bpf_map *m = prog->maps[i];
            if (strlen(m->name) == (size_t)(plus - base)
                && !strncmp(m->name, base, (size_t)(plus - base))) {
                *l = (struct loc){A_MAP, (int32_t)off, 0, m};
                return;
            }
        }
    }
}

/* ---- Describing --------------------------------------------------------- */

enum l3kind { L3_UNKNOWN, L3_IPV4, L3_IPV6, L3_ARP, L3_OTHER };

struct words {
    const struct bpf_prog *prog;
    enum l3kind l3;
    uint16_t ethertype;          /* With L3_OTHER. */
    uint16_t not_types[8];       /* EtherTypes the packet is known not to
                                  * have. */
    size_t n_not_types;
    int tags;                    /* VLAN tags. */
    uint16_t tpid[2];            /* Their TPIDs, outer first. */
    int proto;                   /* IP protocol or IPv6 next header, or
                                  * -1. */
    int not_protos[8];
    size_t n_not_protos;
    bool fragment;
    uint8_t flags_set, flags_clear; /* TCP flags known set or clear. */
    struct ds flags_extra;       /* "not SYN without ACK", ... */
    char *items[256];            /* Words after the headline, in order
                                  * (conditions, 48 at most, and calls,
                                  * 64 at most, fit). */
    size_t n_items;
};

static void PRINTF_FORMAT(2, 3)
    item(struct words *w, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *s = xvasprintf(fmt, args);
    va_end(args);
    for (size_t i = 0; i < w->n_items; i++) {
        if (!strcmp(w->items[i], s)) {
            free(s);
            return;
        }
    }
    if (w->n_items == ARRAY_SIZE(w->items)) {
        free(s);
        return;
    }
    w->items[w->n_items++] = s;
}

static const char *
proto_word(int p, enum l3kind l3)
{
    switch (p) {
    case 1:
        return "ICMP";
    case 6:
        return "TCP";
    case 17:
        return "UDP";
    case 47:
        return "GRE";
    case 50:
        return "ESP";
    case 58:
        return l3 == L3_IPV6 ? "ICMPv6" : NULL;
    case 132:
        return "SCTP";
    default:
        return NULL;
    }
}

static const char *
ethertype_word(uint64_t t)
{
    switch (t) {
    case 0x0800:
        return "IPv4";
    case 0x86dd:
        return "IPv6";
    case 0x0806:
        return "ARP";
    case 0x8847:
        return "MPLS";
    case 0x88cc:
        return "LLDP";
    default:
        return NULL;
    }
}

/* locate() for this packet: bytes the walk could not name (it names only
 * IPv4's fields) behind the Ethernet header and its VLAN tags are L3
 * bytes. */
static void
locate_in(const struct words *w, const char *base, struct loc *l)
{
    int32_t l3 = 14 + 4 * w->tags;
    locate(w->prog, base, l);
    if (l->a == A_ABS && l->off >= l3) {
        l->a = A_L3;
        l->off -= l3;
    }
}

/* Names the field at L3 offset 'off' of 'size' bytes for the packet's L3
 * protocol, and says what it is. */
static enum sem
l3_field(const struct words *w, int32_t off, uint32_t size, char *buf,
         size_t len)
{
    int32_t l4 = w->l3 == L3_IPV6 ? 40 : 20;
    const char *l4p = "l4";

    if (w->l3 == L3_ARP) {
        if (off == 6 && size == 2) {
            snprintf(buf, len, "arp_op");
            return S_ARP_OP;
        }
        snprintf(buf, len, "arp[%d:%u]", off, off + size);
        return S_NONE;
    }
    if (w->l3 == L3_IPV6 && off < 40) {
        static const struct fname ip6[] = {
            {4, 2, "ip6_plen", S_NONE, 0},
            {6, 1, "ip6_nxt", S_PROTO, 0},
            {7, 1, "ip6_hlim", S_TTL, 0},
        };
        for (size_t i = 0; i < ARRAY_SIZE(ip6); i++) {
            if (ip6[i].off == off && ip6[i].size == size) {
                snprintf(buf, len, "%s", ip6[i].name);
                return ip6[i].sem;
            }
        }
        if (off >= 8 && off + (int32_t)size <= 24) {
            snprintf(buf, len, "ip6_src[%d:%u]", off - 8, off - 8 + size);
        } else if (off >= 24 && off + (int32_t)size <= 40) {
            snprintf(buf, len, "ip6_dst[%d:%u]", off - 24, off - 24 + size);
        } else {
            snprintf(buf, len, "ip6[%d:%u]", off, off + size);
        }
        return S_NONE;
    }
    if (off < l4) {
        for (size_t i = 0; i < ARRAY_SIZE(ip4_names); i++) {
            if (ip4_names[i].off == off && ip4_names[i].size == size) {
                snprintf(buf, len, "%s", ip4_names[i].name);
                return ip4_names[i].sem;
            }
        }
        snprintf(buf, len, "ip[%d:%u]", off, off + size);
        return S_NONE;
    }
    int32_t x = off - l4;
    if (w->proto == 6) {
        l4p = "tcp";
    } else if (w->proto == 17) {
        l4p = "udp";
    } else if (w->proto == 1 || w->proto == 58) {
        if (x == 0 && size == 1) {
            snprintf(buf, len, "icmp_type");
            return S_ICMP_TYPE;
        }
        snprintf(buf, len, "icmp[%d:%u]", x, x + size);
        return S_NONE;
    }
    for (size_t i = 0; i < ARRAY_SIZE(l4_names); i++) {
        const struct fname *f = &l4_names[i];
        /* An unknown protocol is read as TCP, as the walk names it. */
        if (f->off != x || f->size != size
            || (f->proto == 6 && w->proto != 6 && w->proto != -1)
            || (f->proto == 17 && w->proto != 17)) {
            continue;
        }
        snprintf(buf, len, "%s", f->name);
        return f->sem;
    }
    if (w->proto == 17 && x == 6 && size == 2) {
        snprintf(buf, len, "udp_csum");
        return S_NONE;
    }
    snprintf(buf, len, "%s[%d:%u]", l4p, x, x + size);
    return S_NONE;
}

/* An operand as written, with its field named (map values from BTF,
 * packet fields for the L3 protocol, "now" for the clock); '*leaf' gets
 * a map field's BTF name when it has one. */
static void
operand_text(const struct words *w, const struct operand *o, bool signed_op,
             struct ds *s, const char **leaf)
{
    char name[160];
    struct loc l;

    if (leaf) {
        *leaf = NULL;
    }
    if (o->is_num) {
        if (signed_op) {
            ds_put_format(s, "%lld", (long long)o->num);
        } else if (o->num > 255) {
            ds_put_format(s, "0x%llx", (unsigned long long)o->num);
        } else {
            ds_put_format(s, "%llu", (unsigned long long)o->num);
        }
        return;
    }
    locate_in(w, o->base, &l);
    if (l.a == A_L3) {
        l3_field(w, l.off, l.size, name, sizeof name);
    } else if (l.a == A_MAP) {
        value_field_name(l.map, (uint32_t)l.off, name, sizeof name, leaf);
    } else if (l.a == A_NOW) {
        snprintf(name, sizeof name, "now");
    } else {
        snprintf(name, sizeof name, "%s", o->base);
    }
    const char *stale = o->stale ? "(before adjust)" : "";
    if (o->shift && o->mask) {
        ds_put_format(s, "(%s%s>>%u)&0x%llx", name, stale, o->shift,
                      (unsigned long long)o->mask);
    } else if (o->shift) {
        ds_put_format(s, "%s%s>>%u", name, stale, o->shift);
    } else if (o->mask) {
        ds_put_format(s, "%s%s&0x%llx", name, stale,
                      (unsigned long long)o->mask);
    } else {
        ds_put_format(s, "%s%s", name, stale);
    }
}

/* The condition as written, fields named. */
static void
verbatim(struct words *w, const struct cond *c)
{
    struct ds s;
    bool sg = c->op >= R_SGT && c->op <= R_SLE;
    ds_init(&s);
    operand_text(w, &c->l, sg, &s, NULL);
    ds_put_cstr(&s, rel_text[c->op]);
    operand_text(w, &c->r, sg, &s, NULL);
    item(w, "%s", ds_cstr(&s));
    ds_destroy(&s);
}

/* A packet field compared with a map field (the right side): "from WAN
 * port" ('from' and the field's name) when it is a named field of a
 * configuration map, else "<what> = nat_cfg+0". */
static void
compare_with_field(struct words *w, const struct cond *c, const char *what,
                   const char *from)
{
    struct loc l;
    struct ds name, human;
    const char *leaf = NULL;

    ds_init(&name);
    ds_init(&human);
    locate_in(w, c->r.base, &l);
    operand_text(w, &c->r, false, &name, &leaf);
    if (l.a == A_MAP && leaf && config_map(l.map) && !c->r.mask
        && !c->r.shift && (c->op == R_EQ || c->op == R_NE)) {
        humanize(leaf, &human);
        item(w, "%s%s %s", c->op == R_NE ? "not " : "", from,
             ds_cstr(&human));
    } else {
        item(w, "%s%s%s", what, rel_words[c->op], ds_cstr(&name));
    }
    ds_destroy(&name);
    ds_destroy(&human);
}

/* First pass: tags, EtherType and IP protocol, which the other
 * conditions are read against. */
static void
find_protocols(struct words *w, const struct cond *c)
{
    struct loc l;
    if (c->l.is_num || !c->r.is_num || c->l.mask || c->l.shift) {
        return;
    }
    locate_in(w, c->l.base, &l);
    uint64_t v = c->r.num;
    if (l.a == A_L2 && c->op == R_EQ && (v == 0x8100 || v == 0x88a8)
        && (!strcmp(c->l.base, "vlan_tpid")
            || !strcmp(c->l.base, "vlan_tpid2"))) {
        int n = !strcmp(c->l.base, "vlan_tpid2") ? 2 : 1;
        w->tags = w->tags > n ? w->tags : n;
        w->tpid[n - 1] = (uint16_t)v;
    } else if (l.a == A_L2 && !strcmp(c->l.base, "dl_type")
               && c->op == R_EQ) {
        w->l3 = v == 0x0800   ? L3_IPV4
                : v == 0x86dd ? L3_IPV6
                : v == 0x0806 ? L3_ARP
                              : L3_OTHER;
        w->ethertype = (uint16_t)v;
    }
}

static void
find_proto(struct words *w, const struct cond *c)
{
    struct loc l;
    char name[64];
    if (c->l.is_num || !c->r.is_num || c->l.mask || c->l.shift) {
        return;
    }
    locate_in(w, c->l.base, &l);
    if (l.a == A_L3 && c->op == R_EQ
        && l3_field(w, l.off, l.size, name, sizeof name) == S_PROTO) {
        w->proto = (int)c->r.num;
    }
}

static bool
one_bit(uint64_t m)
{
    return m && !(m & (m - 1));
}

static const char *const tcp_flag_names[8] = {
    "FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR",
};

/* "SYN+ACK", "ACK without SYN", "no SYN/ACK" for flags 'set' and
 * 'clear'. */
static void
flags_text(uint8_t set, uint8_t clear, bool plain_syn, struct ds *s)
{
    const char *sep = "";
    if (plain_syn && set == 0x02 && !(clear & ~0x10)) {
        ds_put_cstr(s, "SYN");   /* A plain SYN is what people call SYN. */
        return;
    }
    for (int b = 0; b < 8; b++) {
        if (set & (1u << b)) {
            ds_put_format(s, "%s%s", sep, tcp_flag_names[b]);
            sep = "+";
        }
    }
    if (!clear) {
        return;
    }
    ds_put_cstr(s, set ? " without " : one_bit(clear) ? "not " : "no ");
    sep = "";
    for (int b = 0; b < 8; b++) {
        if (clear & (1u << b)) {
            ds_put_format(s, "%s%s", sep, tcp_flag_names[b]);
            sep = set ? "+" : "/";
        }
    }
}

static bool
tcp_flags(struct words *w, const struct cond *c)
{
    uint64_t m = c->l.mask ? c->l.mask : 0xff, v = c->r.num;
    if (c->l.shift || m > 0xff) {
        return false;
    }
    switch (c->op) {
    case R_EQ:
        w->flags_set |= (uint8_t)(v & m);
        w->flags_clear |= (uint8_t)(m & ~v);
        return true;
    case R_NE:
        if (one_bit(m) && (v == 0 || v == m)) {
            if (v) {
                w->flags_clear |= (uint8_t)m;
            } else {
                w->flags_set |= (uint8_t)m;
            }
        } else {
            ds_put_format(&w->flags_extra, "%snot ",
                          w->flags_extra.len ? ", " : "");
            flags_text((uint8_t)(v & m), (uint8_t)(m & ~v), false,
                       &w->flags_extra);
        }
        return true;
    case R_SET:
    case R_NSET:
        if (c->op == R_NSET) {
            w->flags_clear |= (uint8_t)v;
        } else if (one_bit(v)) {
            w->flags_set |= (uint8_t)v;
        } else {
            return false;
        }
        return true;
    default:
        return false;
    }
}

/* Header lengths in 32-bit words against the smallest legal one: "bad
 * ... length", "options", or nothing for a plain "at least minimal". */
static bool
header_length(struct words *w, enum rel op, uint64_t v, uint64_t min,
              const char *proto)
{
    if ((op == R_GE && v == min) || (op == R_GT && v == min - 1)) {
        return true;
    }
    if ((op == R_LT && v == min) || (op == R_LE && v == min - 1)) {
        item(w, "bad %s header length", proto);
    } else if (op == R_EQ && v == min) {
        item(w, "no %s options", proto);
    } else if ((op == R_GT && v == min) || (op == R_GE && v == min + 1)
               || (op == R_NE && v == min)) {
        item(w, "%s options", proto);
    } else {
        return false;
    }
    return true;
}

static const char *
icmp_type_word(const struct words *w, uint64_t t)
{
    if (w->proto == 58) {
        return t == 128   ? "echo request"
               : t == 129 ? "echo reply"
               : t == 133 ? "router solicitation"
               : t == 134 ? "router advertisement"
               : t == 135 ? "neighbour solicitation"
               : t == 136 ? "neighbour advertisement"
                          : NULL;
    }
    return t == 8    ? "echo request"
           : t == 0  ? "echo reply"
           : t == 3  ? "destination unreachable"
           : t == 11 ? "time exceeded"
                     : NULL;
}

/* A condition on an L3 or L4 field with a known meaning; false when no
 * rule fits. */
static bool
l3_cond(struct words *w, const struct cond *c, enum sem sem)
{
    const struct operand *l = &c->l;
    uint64_t v = c->r.num, m = l->mask;
    bool num = c->r.is_num;
    bool ipv4 = w->l3 == L3_IPV4 || w->l3 == L3_UNKNOWN;

    switch (sem) {
    case S_PROTO:
        if (num && !m && !l->shift && c->op == R_NE) {
            if (w->n_not_protos < ARRAY_SIZE(w->not_protos)) {
                w->not_protos[w->n_not_protos++] = (int)v;
            }
            return true;
        }
        return num && !m && !l->shift && c->op == R_EQ;
    case S_VHL:
        if (!num || !ipv4) {
            return false;
        }
        if ((m == 0xf0 && !l->shift) || (l->shift == 4 && !m)) {
            uint64_t ver = m ? v >> 4 : v;
            if (c->op == R_EQ && ver == 4) {
                if (w->l3 == L3_UNKNOWN) {
                    item(w, "IP version 4");
                }
                return true;
            }
            if (c->op == R_NE && ver == 4) {
                item(w, "IP version not 4");
                return true;
            }
            return false;
        }
        return m == 0xf && !l->shift && header_length(w, c->op, v, 5, "IP");
    case S_FRAG:
    case S_FRAG0: {
        /* Offset bits (and MF): 0x1fff/0x3fff of the 16-bit field, 0x1f/
         * 0x3f of its first byte. */
        uint64_t offs = sem == S_FRAG ? 0x3fff : 0x3f;
        bool jset = c->op == R_SET || c->op == R_NSET;
        uint64_t bits = jset ? v : m;
        if (!num || l->shift || !bits || (bits & ~offs) || (jset && m)) {
            if (num && sem == S_FRAG0 && bits == 0x40 && !l->shift
                && (c->op == R_SET || (c->op == R_NE && !v))) {
                item(w, "don't fragment");
                return true;
            }
            return false;
        }
        if ((c->op == R_EQ && !v) || c->op == R_NSET) {
            return true;
        }
        if ((c->op == R_NE && !v) || c->op == R_SET) {
            w->fragment = true;
            return true;
        }
        return false;
    }
    case S_TTL:
        if (!num || m || l->shift) {
            return false;
        }
        if ((c->op == R_LE && v <= 1) || (c->op == R_LT && v <= 2)
            || (c->op == R_EQ && v <= 1)) {
            item(w, "%s expiring", w->l3 == L3_IPV6 ? "hop limit" : "TTL");
            return true;
        }
        return (c->op == R_GT && v == 1) || (c->op == R_GE && v == 2);
    case S_SRC:
    case S_DST: {
        const char *dir = sem == S_SRC ? "from" : "to";
        if (!ipv4 || l->shift || (c->op != R_EQ && c->op != R_NE)) {
            return false;
        }
        if (!num) {
            if (m) {
                return false;
            }
            compare_with_field(w, c, sem == S_SRC ? "src IP" : "dst IP",
                               dir);
            return true;
        }
        int plen = 32;
        if (m) {
            uint32_t inv = ~(uint32_t)m;
            if (m > 0xffffffffu || (inv & (inv + 1))) {
                return false;    /* Not a prefix mask. */
            }
            plen = __builtin_popcount((uint32_t)m);
        }
        char a[32];
        snprintf(a, sizeof a, "%u.%u.%u.%u", (unsigned)(v >> 24) & 255,
                 (unsigned)(v >> 16) & 255, (unsigned)(v >> 8) & 255,
                 (unsigned)v & 255);
        if (plen < 32) {
            item(w, "%s%s %s/%d", c->op == R_NE ? "not " : "", dir, a,
                 plen);
        } else {
            item(w, "%s%s %s", c->op == R_NE ? "not " : "", dir, a);
        }
        return true;
    }
    case S_SPORT:
    case S_DPORT: {
        const char *what = sem == S_SPORT ? "src port" : "dst port";
        if (m || l->shift) {
            return false;
        }
        if (!num) {
            if (c->op != R_EQ && c->op != R_NE) {
                return false;
            }
            compare_with_field(w, c, what, sem == S_SPORT ? "from" : "to");
            return true;
        }
        if (c->op == R_NE) {
            item(w, "%s not %llu", what, (unsigned long long)v);
        } else if (c->op <= R_LE) {
            item(w, "%s%s%llu", what, c->op == R_EQ ? " " : rel_words[c->op],
                 (unsigned long long)v);
        } else {
            return false;
        }
        return true;
    }
    case S_TFLAGS:
        return num && tcp_flags(w, c);
    case S_TOFF:
    case S_TOFF_FLAGS: {
        unsigned int sh = sem == S_TOFF ? 4 : 12;
        uint64_t full = sem == S_TOFF ? 0xf0 : 0xf000;
        uint64_t words;
        if (!num) {
            return false;
        }
        if (m == full && !l->shift) {
            words = v >> sh;
            if (v & ((1u << sh) - 1)) {
                return false;
            }
        } else if (l->shift == sh && (!m || m == 0xf)) {
            words = v;
        } else {
            return false;
        }
        return header_length(w, c->op, words, 5, "TCP");
    }
    case S_ICMP_TYPE: {
        const char *t = icmp_type_word(w, v);
        if (!num || m || l->shift || (c->op != R_EQ && c->op != R_NE)) {
            return false;
        }
        if (t) {
            item(w, "%s%s", c->op == R_NE ? "not " : "", t);
        } else {
            item(w, "%s type %s%llu", w->proto == 58 ? "ICMPv6" : "ICMP",
                 c->op == R_NE ? "not " : "", (unsigned long long)v);
        }
        return true;
    }
    case S_ARP_OP:
        if (!num || m || l->shift || c->op != R_EQ || v < 1 || v > 2) {
            return false;
        }
        item(w, "%s", v == 1 ? "request" : "reply");
        return true;
    default:
        return false;
    }
}

static enum rel
rel_swap(enum rel op)
{
    switch (op) {
    case R_GT:
        return R_LT;
    case R_GE:
        return R_LE;
    case R_LT:
        return R_GT;
    case R_LE:
        return R_GE;
    case R_SGT:
        return R_SLT;
    case R_SGE:
        return R_SLE;
    case R_SLT:
        return R_SGT;
    case R_SLE:
        return R_SGE;
    default:
        return op;
    }
}

/* Second pass: one condition in words, or as written. */
static void
describe_cond(struct words *w, const struct cond *k)
{
    struct cond c = *k;
    struct loc l, r;

    locate_in(w, c.l.base, &l);
    if (!c.r.is_num) {
        locate_in(w, c.r.base, &r);
        /* "br_static+0=in_port" is about the ingress port. */
        if (r.a == A_INPORT && l.a != A_INPORT && c.op <= R_SLE) {
            struct operand t = c.l;
            c.l = c.r;
            c.r = t;
            c.op = rel_swap(c.op);
            l = r;
        }
    }
    bool num = c.r.is_num;
    uint64_t v = c.r.num;
    if (c.l.stale || c.r.stale) {
        /* Read before the packet moved: its offsets are not the
         * packet's fields any more. */
        verbatim(w, &c);
        return;
    }
    switch (l.a) {
    case A_L2:
        if (!strcmp(c.l.base, "dl_type") && num && !c.l.mask
            && !c.l.shift) {
            if (c.op == R_EQ) {
                return;          /* In the headline. */
            }
            if (c.op == R_NE) {
                /* "Not another tag" says no more than the tags found. */
                if (v != 0x8100 && v != 0x88a8
                    && w->n_not_types < ARRAY_SIZE(w->not_types)) {
                    w->not_types[w->n_not_types++] = (uint16_t)v;
                }
                return;
            }
        }
        if ((!strcmp(c.l.base, "vlan_tpid")
             || !strcmp(c.l.base, "vlan_tpid2"))
            && num && c.op == R_EQ && (v == 0x8100 || v == 0x88a8)) {
            return;
        }
        if (!strcmp(c.l.base, "vlan_tci") && num && c.l.mask == 0xfff
            && !c.l.shift && (c.op == R_EQ || c.op == R_NE)) {
            item(w, "%sVLAN %llu", c.op == R_NE ? "not " : "",
                 (unsigned long long)v);
            return;
        }
        break;
    case A_ABS:
        /* The group bit of a MAC address. */
        if ((l.off == 0 || l.off == 6) && l.size == 1 && c.l.mask == 1
            && !c.l.shift && num) {
            bool group = (c.op == R_NE && !v) || (c.op == R_EQ && v == 1)
                         || c.op == R_SET;
            bool unicast = (c.op == R_EQ && !v) || c.op == R_NSET
                           || (c.op == R_NE && v == 1);
            if (group || unicast) {
                item(w, "%s %s MAC", group ? "multicast" : "unicast",
                     l.off ? "src" : "dst");
                return;
            }
        }
        break;
    case A_L3: {
        char name[64];
        enum sem sem = l3_field(w, l.off, l.size, name, sizeof name);
        if (l3_cond(w, &c, sem)) {
            return;
        }
        break;
    }
    case A_INPORT:
        if (c.l.mask || c.l.shift) {
            break;
        }
        if (num && (c.op == R_EQ || c.op == R_NE)) {
            item(w, "%sfrom port %llu", c.op == R_NE ? "not " : "",
                 (unsigned long long)v);
            return;
        }
        if (!num) {
            compare_with_field(w, &c, "ingress", "from");
            return;
        }
        break;
    default:
        break;
    }
    verbatim(w, &c);
}

/* The bytes of the headers the headline names: what any packet so
 * described has room for. */
static unsigned long long
headers_len(const struct words *w)
{
    unsigned long long n = 14 + 4 * (unsigned long long)w->tags;
    n += w->l3 == L3_IPV4 ? 20 : w->l3 == L3_IPV6 ? 40 : w->l3 == L3_ARP ? 28
                                                                          : 0;
    if (w->l3 == L3_IPV4 || w->l3 == L3_IPV6) {
        n += w->proto == 6                       ? 20
             : w->proto == 17 || w->proto == 1 || w->proto == 58 ? 8
                                                                 : 0;
    }
    return n;
}

/* "len>=34" passed every bounds check: worth saying only when it asks
 * for more than the headers named; the others failed one. */
static bool
describe_len(struct words *w, const char *t)
{
    unsigned long long a, b;
    int n = 0;
    if (sscanf(t, "len>=%llu%n", &a, &n) == 1 && !t[n]) {
        if (a > headers_len(w)) {
            item(w, "at least %llu bytes", a);
        }
        return true;
    }
    if (sscanf(t, "len<=%llu%n", &b, &n) == 1 && !t[n]) {
        item(w, "shorter than %llu bytes", b + 1);
        return true;
    }
    if (sscanf(t, "len %llu..%llu%n", &a, &b, &n) == 2 && !t[n]) {
        item(w, "shorter than %llu bytes", b + 1);
        return true;
    }
    if (sscanf(t, "len=%llu%n", &a, &n) == 1 && !t[n]) {
        item(w, "exactly %llu bytes", a);
        return true;
    }
    return false;
}

/* Whether condition 't' (parsed in 'c', or NULL) is about the packet or
 * its ingress port rather than map contents. */
static bool
on_packet(const struct words *w, const char *t, const struct cond *c)
{
    struct loc l, r;
    if (!strncmp(t, "len", 3) && (t[3] == ' ' || t[3] == '>' || t[3] == '<'
                                  || t[3] == '=')) {
        return true;
    }
    if (!c) {
        return false;
    }
    locate_in(w, c->l.base, &l);
    if (!c->r.is_num) {
        locate_in(w, c->r.base, &r);
        if (r.a == A_INPORT) {
            return true;
        }
    }
    return l.a == A_L2 || l.a == A_ABS || l.a == A_L3 || l.a == A_INPORT;
}

/* ---- Calls ------------------------------------------------------------ */

/* The outcomes of call 'cc' as map-contract outcome bits; from what the
 * path knows when it has no map contract. */
static uint32_t
call_outcomes(const struct contract_call *cc)
{
    if (cc->has_cost && cc->outcomes) {
        return cc->outcomes;
    }
    switch (cc->path_outcome) {
    case BPF_PATH_HIT:
        return 1u << CONTRACT_OUT_HIT;
    case BPF_PATH_MISS:
        return 1u << CONTRACT_OUT_MISS;
    default:
        return 0;
    }
}

/* "now > fw_conns.last_seen_ns" from a call's test ">fw_conns+0". */
static void
call_test(struct words *w, const struct contract_call *cc, const char *who)
{
    char copy[sizeof cc->cond + 1];
    char *parts[sizeof cc->cond];  /* One per test: fewer than its bytes. */
    size_t n = 0;
    struct ds s;

    ds_init(&s);
    snprintf(copy, sizeof copy, "%s", cc->cond);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        char *text = xasprintf("x#1%s", t);
        struct cond c;
        struct ds one;
        ds_init(&one);
        if (parse_cond(text, &c) && !c.l.mask && !c.l.shift) {
            ds_put_format(&one, "%s%s", who, rel_words[c.op]);
            operand_text(w, &c.r, c.op >= R_SGT && c.op <= R_SLE, &one,
                         NULL);
        } else {
            ds_put_format(&one, "%s %s", who, t);
        }
        /* Two tests that read the same (fields of two entries at one
         * offset) are said once. */
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++) {
            dup = !strcmp(parts[i], ds_cstr(&one));
        }
        if (dup) {
            ds_destroy(&one);
        } else {
            ds_put_format(&s, "%s%s", n ? " and " : "", ds_cstr(&one));
            parts[n++] = ds_steal_cstr(&one);
        }
        free(text);
    }
    for (size_t i = 0; i < n; i++) {
        free(parts[i]);
    }
    item(w, "%s", ds_cstr(&s));
    ds_destroy(&s);
}

static void
describe_call(struct words *w, const struct contract_call *cc,
              bool many_flow_maps)
{
    const struct bpf_map *map =
        cc->map >= 0 && w->prog && (uint32_t)cc->map < w->prog->n_maps
            ? w->prog->maps[cc->map]
            : NULL;
    const char *mn = map ? map->name : "";
    enum mkind kind = map ? map_kind(map) : MK_OTHER;
    uint32_t out = call_outcomes(cc);
    bool hit = out & (1u << CONTRACT_OUT_HIT);
    bool miss = out & (1u << CONTRACT_OUT_MISS);
    char flow[96];

    /* Several flow tables: say which one. */
    snprintf(flow, sizeof flow, "%s%s%s", many_flow_maps ? " (" : "",
             many_flow_maps ? mn : "", many_flow_maps ? ")" : "");
    switch (cc->helper) {
    case BPF_FUNC_map_lookup_elem:
        if (!map || hit == miss) {
            if (map && kind != MK_ARRAY && hit) {
                item(w, "%s hit or miss", mn);
            }
            return;
        }
        if (kind == MK_ARRAY) {
            if (miss) {
                item(w, "%s miss", mn); /* An index out of range. */
            }
        } else if (kind == MK_FLOW) {
            item(w, "flow %s%s", hit ? "known" : "unknown", flow);
        } else if (kind == MK_LPM && name_has(mn, route_words)) {
            item(w, "%s", hit ? "route found" : "no route");
        } else if (kind == MK_LPM) {
            item(w, "%s %s", mn, hit ? "match" : "no match");
        } else {
            item(w, "%s %s", mn, hit ? "hit" : "miss");
        }
        return;
    case BPF_FUNC_map_update_elem:
    case BPF_FUNC_map_delete_elem: {
        bool upd = cc->helper == BPF_FUNC_map_update_elem;
        struct ds s;
        ds_init(&s);
        for (int o = 0; o < CONTRACT_OUT_N; o++) {
            const char *t = NULL;
            char buf[160];
            if (!(out & (1u << o))) {
                continue;
            }
            switch (o) {
            case CONTRACT_OUT_INSERTED:
                t = kind == MK_FLOW ? "new flow" : "insert";
                break;
            case CONTRACT_OUT_REPLACED:
                t = kind == MK_ARRAY ? NULL
                    : kind == MK_FLOW ? "flow updated" : "replace";
                break;
            case CONTRACT_OUT_EXISTS:
                t = "key exists";
                break;
            case CONTRACT_OUT_NOENT:
                t = upd ? "no entry" : "nothing to delete";
                break;
            case CONTRACT_OUT_FULL:
                t = "full";
                break;
            case CONTRACT_OUT_DELETED:
                t = kind == MK_FLOW ? "flow deleted" : "delete";
                break;
            case CONTRACT_OUT_INVALID:
                t = upd ? "update rejected" : "delete rejected";
                break;
            default:
                break;
            }
            if (!t) {
                continue;
            }
            /* Flow words stand alone; the others name the map. */
            if (!strncmp(t, "flow", 4) || !strcmp(t, "new flow")) {
                snprintf(buf, sizeof buf, "%s%s", t, flow);
            } else {
                snprintf(buf, sizeof buf, "%s %s", mn, t);
            }
            ds_put_format(&s, "%s%s", s.len ? " or " : "", buf);
        }
        if (!s.len && !cc->has_cost) {
            if (cc->path_outcome == BPF_PATH_FAIL) {
                ds_put_format(&s, "%s %s failed", mn,
                              upd ? "update" : "delete");
            } else if (cc->path_outcome == BPF_PATH_TESTED) {
                ds_put_format(&s, "%s %s %s", mn, upd ? "update" : "delete",
                              cc->cond);
            }
        }
        if (s.len) {
            item(w, "%s", ds_cstr(&s));
        }
        ds_destroy(&s);
        return;
    }
    case BPF_FUNC_tail_call:
        if (cc->path_outcome == BPF_PATH_TAKEN) {
            item(w, "tail call via %s", mn);
        } else if (cc->path_outcome == BPF_PATH_NOT_TAKEN) {
            item(w, "no tail call via %s", mn);
        }
        return;
    case BPF_FUNC_ktime_get_ns:
        if (cc->path_outcome == BPF_PATH_TESTED && cc->cond[0]) {
            call_test(w, cc, "now");
        }
        return;
    default:
        break;
    }
    /* Other helpers: only what is not plain success. */
    const char *name = bpf_helper_name(cc->helper);
    if (cc->path_outcome == BPF_PATH_TESTED && cc->cond[0]) {
        char who[96];
        snprintf(who, sizeof who, "%s(%s)", name, mn);
        call_test(w, cc, who);
    } else if (cc->path_outcome == BPF_PATH_FAIL) {
        item(w, "%s(%s) failed", name, mn);
    } else if (out & (1u << CONTRACT_OUT_INVALID)) {
        item(w, "%s%s%s invalid", name, map ? " " : "", mn);
    } else if (miss) {
        item(w, "%s %s miss", name, mn);
    } else if (out & (1u << CONTRACT_OUT_FULL)) {
        item(w, "%s%s%s full", name, map ? " " : "", mn);
    }
}

/* ---- Putting it together ---------------------------------------------- */

static void
headline(struct words *w, struct ds *s)
{
    const char *sep = "";
    /* "VLAN", "S-VLAN" (802.1ad), "S-VLAN+VLAN" outer first. */
    for (int i = 0; i < w->tags; i++) {
        ds_put_format(s, "%s%s", i ? "+" : "",
                      w->tpid[i] == 0x88a8 ? "S-VLAN" : "VLAN");
        sep = " ";
    }
    if (w->l3 != L3_UNKNOWN) {
        const char *t = ethertype_word(w->ethertype);
        if (t) {
            ds_put_format(s, "%s%s", sep, t);
        } else {
            ds_put_format(s, "%sEtherType 0x%04x", sep, w->ethertype);
        }
        sep = " ";
    } else if (w->n_not_types) {
        ds_put_format(s, "%snot ", sep);
        for (size_t i = 0; i < w->n_not_types; i++) {
            const char *t = ethertype_word(w->not_types[i]);
            if (t) {
                ds_put_format(s, "%s%s", i ? "/" : "", t);
            } else {
                ds_put_format(s, "%s0x%04x", i ? "/" : "", w->not_types[i]);
            }
        }
        sep = " ";
    }
    if (w->fragment) {
        ds_put_format(s, "%sfragment", sep);
        sep = " ";
    }
    if (w->proto >= 0) {
        const char *t = proto_word(w->proto, w->l3);
        if (t) {
            ds_put_format(s, "%s%s", sep, t);
        } else {
            ds_put_format(s, "%sprotocol %d", sep, w->proto);
        }
        sep = " ";
    } else if (w->n_not_protos) {
        ds_put_format(s, "%snot ", sep);
        for (size_t i = 0; i < w->n_not_protos; i++) {
            const char *t = proto_word(w->not_protos[i], w->l3);
            if (t) {
                ds_put_format(s, "%s%s", i ? "/" : "", t);
            } else {
                ds_put_format(s, "%sprotocol %d", i ? "/" : "",
                              w->not_protos[i]);
            }
        }
        sep = " ";
    }
    if (w->flags_set || w->flags_clear) {
        ds_put_cstr(s, sep);
        flags_text(w->flags_set, w->flags_clear, true, s);
        sep = " ";
    }
    if (w->flags_extra.len) {
        ds_put_format(s, "%s%s", *sep ? ", " : "", ds_cstr(&w->flags_extra));
    }
}

char *
contract_describe_class(const struct bpf_prog *prog, char *const *conds,
                        uint32_t n_conds, const struct contract_call *calls,
                        uint32_t n_calls)
{
    struct words w;
    struct cond *parsed = xcalloc(n_conds + 1, sizeof *parsed);
    bool *ok = xcalloc(n_conds + 1, sizeof *ok);

    memset(&w, 0, sizeof w);
    w.prog = prog;
    w.proto = -1;
    ds_init(&w.flags_extra);
    for (uint32_t i = 0; i < n_conds; i++) {
        ok[i] = parse_cond(conds[i], &parsed[i]);
        if (ok[i]) {
            find_protocols(&w, &parsed[i]);
        }
    }
    for (uint32_t i = 0; i < n_conds; i++) {
        if (ok[i]) {
            find_proto(&w, &parsed[i]);
        }
    }
    /* What the packet is first, then what the maps hold. */
    for (int pass = 0; pass < 2; pass++) {
        bool packet = pass == 0;
        for (uint32_t i = 0; i < n_conds; i++) {
            if (on_packet(&w, conds[i], ok[i] ? &parsed[i] : NULL)
                != packet) {
                continue;
            }
            if (describe_len(&w, conds[i])) {
                continue;
            }
            if (ok[i]) {
                describe_cond(&w, &parsed[i]);
            } else if (strcmp(conds[i], "any packet")) {
                item(&w, "%s", conds[i]);
            }
        }
    }
    size_t n_flow = 0;
    for (uint32_t i = 0; prog && i < prog->n_maps; i++) {
        n_flow += map_kind(prog->maps[i]) == MK_FLOW;
    }
    for (uint32_t i = 0; i < n_calls; i++) {
        describe_call(&w, &calls[i], n_flow > 1);
    }

    struct ds s;
    ds_init(&s);
    headline(&w, &s);
    for (size_t i = 0; i < w.n_items; i++) {
        ds_put_format(&s, "%s%s", s.len ? ", " : "", w.items[i]);
        free(w.items[i]);
    }
    if (!s.len) {
        ds_put_cstr(&s, "any packet");
    }
    ds_destroy(&w.flags_extra);
    free(parsed);
    free(ok);
    return ds_steal_cstr(&s);
}
