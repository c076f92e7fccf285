/* ovs-ofctl flow syntax: parsing flows, matches and packet descriptions,
 * and printing them back canonically.
 *
 * The text is a list of items separated by commas or whitespace.  An item is
 * a protocol shorthand ("tcp"), a rule attribute (table=, priority=,
 * cookie=, idle_timeout=, hard_timeout=, prog=), a match field from the
 * field table (field.h) written NAME=VALUE[/MASK] (or NAME:VALUE, as
 * ovs-ofctl also accepts), or "actions=", which takes the rest of the text.
 *
 * Every field is applied to the match as soon as it is read, refusing a
 * second, different value for bits already matched; prerequisites are
 * checked once the whole match is known, so their order does not matter
 * ("tp_dst=80,tcp" is as good as "tcp,tp_dst=80"), and actions are parsed
 * last because their prerequisites depend on the match.
 *
 * Printing follows the order of ovs-ofctl's match_format(): the protocol
 * shorthand first, then in_port, VLAN, Ethernet, L3 and L4 fields, so what
 * `sluice flow dump` prints looks like what ovs-ofctl dump-flows prints and
 * parses back to an equal spec. */
#include "flow_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"

enum parse_mode {
    MODE_ADD,   /* FLOW_PARSE_ADD. */
    MODE_MATCH, /* FLOW_PARSE_MATCH. */
    MODE_KEY,   /* flow_key_parse(). */
};

static const struct shorthand {
    const char *name;
    uint16_t dl_type; /* Host order. */
    int nw_proto;     /* -1: none. */
} shorthands[] = {
    /* Printing picks the first entry that fits, so the protocol-specific
     * ones come before plain "ip" and "ipv6". */
    {"icmp", 0x0800, 1},   {"tcp", 0x0800, 6},     {"udp", 0x0800, 17},
    {"sctp", 0x0800, 132}, {"icmp6", 0x86dd, 58},  {"tcp6", 0x86dd, 6},
    {"udp6", 0x86dd, 17},  {"sctp6", 0x86dd, 132}, {"ip", 0x0800, -1},
    {"ipv6", 0x86dd, -1},  {"arp", 0x0806, -1},
};

void
flow_spec_init(struct flow_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->priority = FLOW_DEFAULT_PRIORITY;
    action_list_init(&spec->actions);
}

void
flow_spec_destroy(struct flow_spec *spec)
{
    if (!spec) {
        return;
    }
    free(spec->prog_name);
    spec->prog_name = NULL;
    action_list_destroy(&spec->actions);
}

void
flow_spec_clone(struct flow_spec *dst, const struct flow_spec *src)
{
    *dst = *src;
    dst->prog_name = src->prog_name ? xstrdup(src->prog_name) : NULL;
    action_list_clone(&dst->actions, &src->actions);
}

bool
flow_spec_equal(const struct flow_spec *a, const struct flow_spec *b)
{
    return a->table == b->table && a->table_set == b->table_set &&
           a->priority == b->priority && a->cookie == b->cookie &&
           a->cookie_mask == b->cookie_mask &&
           a->idle_timeout == b->idle_timeout &&
           a->hard_timeout == b->hard_timeout &&
           !memcmp(&a->match, &b->match, sizeof a->match) &&
           !a->prog_name == !b->prog_name &&
           (!a->prog_name || !strcmp(a->prog_name, b->prog_name)) &&
           a->has_actions == b->has_actions &&
           action_list_equal(&a->actions, &b->actions);
}

bool
flow_prog_name_valid(const char *name, size_t len)
{
    if (!len || len > 64) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)name[i]) && !strchr("_-.", name[i])) {
            return false;
        }
    }
    return true;
}

/* ---- Parsing. ---- */

static char *
xmemdup0(const char *s, size_t len)
{
    char *p = xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static bool
is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parse state: what has been given so far, for conflicts and for the
 * prerequisite check at the end. */
struct parse_ctx {
    const char *text; /* Whole input. */
    enum parse_mode mode;
    struct flow_spec *spec; /* Being filled. */
    bool seen_table;        /* table= given (its value is in spec). */
    bool seen_priority;
    bool seen_cookie;
    bool seen_idle;
    bool seen_hard;
    struct {
        bool given;      /* The field appeared. */
        size_t col;      /* 0-based column of its first appearance. */
        size_t name_len; /* As written there (alias or name). */
    } fields[MFF_N_IDS]; /* By enum mf_field_id. */
    int err_col;         /* 1-based column of the error. */
};

static char *
ctx_error(struct parse_ctx *ctx, size_t ofs, char *msg)
{
    ctx->err_col = (int)ofs + 1;
    return msg;
}

/* Checks that setting 'value'/'mask' for 'mf' does not contradict what the
 * match already says about those bits. */
static char *
check_conflict(const struct mf_field *mf, const uint8_t *value,
               const uint8_t *mask, const struct match *m)
{
    uint8_t old_v[16], old_m[16];
    bool any_old = false, differ = false;

    /* dl_vlan and dl_vlan_pcp imply a tag. */
    if ((mf->id == MFF_DL_VLAN || mf->id == MFF_DL_VLAN_PCP) &&
        (m->mask.vlan_tci & htons(VLAN_CFI)) &&
        !(m->key.vlan_tci & htons(VLAN_CFI))) {
        return xasprintf("conflicting values for %s: the match already "
                         "requires no VLAN tag",
                         mf->name);
    }
    mf_get(mf, &m->key, old_v);
    mf_get_mask(mf, m, old_m);
    for (size_t i = 0; i < mf->n_bytes; i++) {
        if (old_m[i]) {
            any_old = true;
        }
        if ((old_v[i] ^ value[i]) & old_m[i] & mask[i]) {
            differ = true;
        }
    }
    if (any_old && (differ || memcmp(old_m, mask, mf->n_bytes))) {
        struct ds a = DS_EMPTY_INITIALIZER, b = DS_EMPTY_INITIALIZER;
        char *msg;

        mf_format(mf, value, mask, &a);
        mf_format(mf, old_v, old_m, &b);
        msg = xasprintf("conflicting values for %s: %s, but already %s",
                        mf->name, ds_cstr(&a), ds_cstr(&b));
        ds_destroy(&a);
        ds_destroy(&b);
        return msg;
    }
    return NULL;
}

static char *
apply_field(struct parse_ctx *ctx, const struct mf_field *mf,
            const uint8_t *value, const uint8_t *mask, size_t col,
            size_t name_len)
{
    struct match *m = &ctx->spec->match;
    char *err = check_conflict(mf, value, mask, m);

    if (err) {
        return ctx_error(ctx, col, err);
    }
    mf_set_match(mf, value, mask, m);
    if (!ctx->fields[mf->id].given) {
        ctx->fields[mf->id].given = true;
        ctx->fields[mf->id].col = col;
        ctx->fields[mf->id].name_len = name_len;
    }
    return NULL;
}

static char *
apply_shorthand(struct parse_ctx *ctx, const struct shorthand *sh, size_t col,
                size_t name_len)
{
    uint8_t v[2], full[2] = {0xff, 0xff};
    char *err;

    v[0] = sh->dl_type >> 8;
    v[1] = sh->dl_type & 0xff;
    err = apply_field(ctx, mf_from_id(MFF_DL_TYPE), v, full, col, name_len);
    if (!err && sh->nw_proto >= 0) {
        v[0] = sh->nw_proto;
        err =
            apply_field(ctx, mf_from_id(MFF_NW_PROTO), v, full, col, name_len);
    }
    return err;
}

/* Parses an unsigned decimal or 0x number that fills [s, s + len). */
static bool
parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    char buf[24];
    char *end;

    if (!len || len >= sizeof buf || !isdigit((unsigned char)s[0])) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (len > 1 && buf[0] == '0' && buf[1] != 'x' && buf[1] != 'X') {
        return false; /* No octal surprises. */
    }
    *out = strtoull(buf, &end, 0);
    return !*end && *out <= max;
}

/* table=, priority=, idle_timeout=, hard_timeout=: one number each, and the
 * same value if given twice. */
static char *
parse_attr_num(struct parse_ctx *ctx, const char *name, const char *v,
               size_t vlen, size_t vofs, uint64_t max, bool *seen, uint64_t old,
               uint64_t *out)
{
    if (!parse_u64(v, vlen, max, out)) {
        return ctx_error(ctx, vofs,
                         xasprintf("%s: bad value '%.*s' (expected a number "
                                   "0..%" PRIu64 ")",
                                   name, (int)vlen, v, max));
    }
    if (*seen && *out != old) {
        return ctx_error(ctx, vofs,
                         xasprintf("conflicting values for %s: %" PRIu64
                                   ", but already %" PRIu64,
                                   name, *out, old));
    }
    *seen = true;
    return NULL;
}

static char *
parse_cookie(struct parse_ctx *ctx, const char *v, size_t vlen, size_t vofs)
{
    struct flow_spec *spec = ctx->spec;
    const char *slash = memchr(v, '/', vlen);
    size_t clen = slash ? (size_t)(slash - v) : vlen;
    uint64_t cookie, mask = 0;

    if (!parse_u64(v, clen, UINT64_MAX, &cookie) ||
        (slash && !parse_u64(slash + 1, vlen - clen - 1, UINT64_MAX, &mask))) {
        return ctx_error(ctx, vofs,
                         xasprintf("cookie: bad value '%.*s' (expected a "
                                   "64-bit number%s)",
                                   (int)vlen, v,
                                   ctx->mode == MODE_MATCH ? "[/MASK]" : ""));
    }
    if (ctx->mode == MODE_ADD && slash) {
        return ctx_error(ctx, vofs,
                         xstrdup("cookie: a flow being added "
                                 "cannot have a cookie mask"));
    }
    if (ctx->mode == MODE_MATCH) {
        mask = slash ? mask : UINT64_MAX;
        cookie &= mask;
    }
    if (ctx->seen_cookie &&
        (cookie != spec->cookie || mask != spec->cookie_mask)) {
        return ctx_error(ctx, vofs,
                         xstrdup("conflicting values for "
                                 "cookie"));
    }
    ctx->seen_cookie = true;
    spec->cookie = cookie;
    spec->cookie_mask = mask;
    return NULL;
}

/* Handles one NAME[=VALUE] item; 'nofs'/'vofs' are offsets in the text. */
static char *
parse_item(struct parse_ctx *ctx, size_t nofs, size_t nlen, bool has_value,
           size_t vofs, size_t vlen)
{
    struct flow_spec *spec = ctx->spec;
    const char *name = ctx->text + nofs;
    const char *v = ctx->text + vofs;
    const struct mf_field *mf;
    uint8_t value[16], mask[16];
    char *vstr, *err;
    uint64_t n;

#define NAME_IS(S) (strlen(S) == nlen && !strncmp(name, S, nlen))
    for (size_t i = 0; i < ARRAY_SIZE(shorthands); i++) {
        if (NAME_IS(shorthands[i].name)) {
            if (has_value) {
                return ctx_error(ctx, nofs,
                                 xasprintf("'%s' is a protocol shorthand "
                                           "and takes no value",
                                           shorthands[i].name));
            }
            return apply_shorthand(ctx, &shorthands[i], nofs, nlen);
        }
    }

    mf = mf_from_name_len(name, nlen);
    if (!mf && !NAME_IS("table") && !NAME_IS("priority") &&
        !NAME_IS("cookie") && !NAME_IS("idle_timeout") &&
        !NAME_IS("hard_timeout") && !NAME_IS("prog")) {
        return ctx_error(ctx, nofs,
                         xasprintf("unknown field '%.*s'", (int)nlen, name));
    }
    if (!has_value) {
        return ctx_error(ctx, nofs,
                         xasprintf("%.*s needs a value "
                                   "(%.*s=VALUE)",
                                   (int)nlen, name, (int)nlen, name));
    }
    if (!vlen) {
        return ctx_error(ctx, vofs,
                         xasprintf("%.*s: missing value", (int)nlen, name));
    }
    if (!mf && ctx->mode == MODE_KEY) {
        return ctx_error(ctx, nofs,
                         xasprintf("%.*s is not allowed in a packet "
                                   "description",
                                   (int)nlen, name));
    }

    if (NAME_IS("table")) {
        err = parse_attr_num(ctx, "table", v, vlen, vofs, FLOW_N_TABLES - 1,
                             &ctx->seen_table, spec->table, &n);
        if (!err) {
            spec->table = n;
            spec->table_set = true;
        }
        return err;
    } else if (NAME_IS("priority")) {
        err = parse_attr_num(ctx, "priority", v, vlen, vofs, UINT16_MAX,
                             &ctx->seen_priority, spec->priority, &n);
        if (!err) {
            spec->priority = n;
        }
        return err;
    } else if (NAME_IS("cookie")) {
        return parse_cookie(ctx, v, vlen, vofs);
    } else if (NAME_IS("idle_timeout") || NAME_IS("hard_timeout")) {
        bool idle = NAME_IS("idle_timeout");

        if (ctx->mode == MODE_MATCH) {
            return ctx_error(ctx, nofs,
                             xasprintf("%.*s is not allowed when matching "
                                       "flows",
                                       (int)nlen, name));
        }
        err = parse_attr_num(
            ctx, idle ? "idle_timeout" : "hard_timeout", v, vlen, vofs,
            UINT16_MAX, idle ? &ctx->seen_idle : &ctx->seen_hard,
            idle ? spec->idle_timeout : spec->hard_timeout, &n);
        if (!err) {
            *(idle ? &spec->idle_timeout : &spec->hard_timeout) = n;
        }
        return err;
    } else if (NAME_IS("prog")) {
        if (!flow_prog_name_valid(v, vlen)) {
            return ctx_error(ctx, vofs,
                             xasprintf("prog: bad program name '%.*s' "
                                       "(expected 1 to 64 letters, digits, "
                                       "'_', '-' or '.')",
                                       (int)vlen, v));
        }
        if (spec->prog_name && (strlen(spec->prog_name) != vlen ||
                                strncmp(spec->prog_name, v, vlen))) {
            return ctx_error(ctx, vofs,
                             xasprintf("conflicting values for prog: %.*s, "
                                       "but already %s",
                                       (int)vlen, v, spec->prog_name));
        }
        free(spec->prog_name);
        spec->prog_name = xmemdup0(v, vlen);
        return NULL;
    }
#undef NAME_IS

    vstr = xmemdup0(v, vlen);
    if (mf->id == MFF_DL_VLAN &&
        (!strcmp(vstr, "0xffff") || !strcmp(vstr, "65535"))) {
        /* OvS's dl_vlan=0xffff: only packets without a tag. */
        mf = mf_from_id(MFF_VLAN_TCI);
        memset(value, 0, 2);
        memset(mask, 0xff, 2);
        err = NULL;
    } else {
        err = mf_parse(mf, vstr, value, ctx->mode == MODE_KEY ? NULL : mask);
        if (ctx->mode == MODE_KEY && !err) {
            memset(mask, 0xff, sizeof mask);
        }
    }
    free(vstr);
    if (err) {
        return ctx_error(ctx, vofs, err);
    }
    return apply_field(ctx, mf, value, mask, nofs, nlen);
}

/* After the whole match: every field's prerequisites must hold.  Reports
 * the leftmost offender. */
static char *
check_prereqs(struct parse_ctx *ctx)
{
    const struct mf_field *bad = NULL;

    for (int id = 0; id < MFF_N_IDS; id++) {
        const struct mf_field *mf = mf_from_id(id);

        if (ctx->fields[id].given && !mf_prereqs_ok(mf, &ctx->spec->match) &&
            (!bad || ctx->fields[id].col < ctx->fields[bad->id].col)) {
            bad = mf;
        }
    }
    if (!bad) {
        return NULL;
    }
    return ctx_error(ctx, ctx->fields[bad->id].col,
                     xasprintf("%.*s needs %s",
                               (int)ctx->fields[bad->id].name_len,
                               ctx->text + ctx->fields[bad->id].col,
                               mf_prereq_text(bad->prereq)));
}

static char *
parse_text(struct flow_spec *spec, const char *text, enum parse_mode mode,
           int *err_col)
{
    struct parse_ctx ctx;
    size_t pos = 0;
    size_t actions_ofs = SIZE_MAX;
    char *err = NULL;

    memset(&ctx, 0, sizeof ctx);
    ctx.text = text;
    ctx.mode = mode;
    ctx.spec = spec;
    flow_spec_init(spec);

    while (!err) {
        size_t nofs, nlen, vofs = 0, vlen = 0;
        bool has_value = false;

        while (is_sep(text[pos])) {
            pos++;
        }
        if (!text[pos]) {
            break;
        }
        nofs = pos;
        while (text[pos] && !is_sep(text[pos]) && text[pos] != '=' &&
               text[pos] != ':') {
            pos++;
        }
        nlen = pos - nofs;
        if (text[pos] == '=' || text[pos] == ':') {
            has_value = true;
            vofs = ++pos;
            if (nlen == 7 && !strncmp(text + nofs, "actions", 7)) {
                if (mode != MODE_ADD) {
                    err = ctx_error(&ctx, nofs,
                                    xstrdup(mode == MODE_MATCH
                                                ? "actions are not allowed "
                                                  "when matching flows"
                                                : "actions are not allowed in "
                                                  "a packet description"));
                    break;
                }
                actions_ofs = vofs;
                break;
            }
            while (text[pos] && !is_sep(text[pos])) {
                pos++;
            }
            vlen = pos - vofs;
        }
        if (!nlen) {
            err = ctx_error(
                &ctx, nofs,
                xasprintf("expected a field name before '%c'", text[nofs]));
            break;
        }
        err = parse_item(&ctx, nofs, nlen, has_value, vofs, vlen);
    }
    if (!err) {
        err = check_prereqs(&ctx);
    }
    if (!err && mode == MODE_ADD) {
        if (actions_ofs == SIZE_MAX) {
            err = ctx_error(&ctx, strlen(text),
                            xstrdup("missing actions= (write actions=drop "
                                    "to drop)"));
        } else {
            int col = 0;

            err = action_list_parse(&spec->actions, text + actions_ofs,
                                    &spec->match, spec->table, &col);
            if (err) {
                ctx.err_col = (int)actions_ofs + col;
            }
            spec->has_actions = true;
        }
    }
    if (err) {
        flow_spec_destroy(spec);
        flow_spec_init(spec);
        *err_col = ctx.err_col;
    }
    return err;
}

char *
flow_spec_parse(struct flow_spec *spec, const char *text,
                enum flow_parse_mode mode, int *err_col)
{
    return parse_text(spec, text,
                      mode == FLOW_PARSE_ADD ? MODE_ADD : MODE_MATCH, err_col);
}

char *
flow_key_parse(struct flow_key *key, const char *text, int *err_col)
{
    struct flow_spec spec;
    char *err = parse_text(&spec, text, MODE_KEY, err_col);

    memcpy(key, &spec.match.key, sizeof *key);
    flow_spec_destroy(&spec);
    return err;
}

/* ---- Printing. ---- */

/* Appends ",NAME=VALUE" for field 'id' if the match constrains it, printed
 * under 'name' (arp_spa for nw_src in ARP flows, and so on). */
static void
put_field(const struct match *m, enum mf_field_id id, const char *name,
          struct ds *ds)
{
    const struct mf_field *mf = mf_from_id(id);
    uint8_t value[16], mask[16];

    if (mf_is_wild(mf, m)) {
        return;
    }
    mf_get(mf, &m->key, value);
    mf_get_mask(mf, m, mask);
    ds_put_format(ds, ",%s=", name ? name : mf->name);
    mf_format(mf, value, mask, ds);
}

static void
put_vlan(const struct match *m, struct ds *ds)
{
    uint16_t tci = ntohs(m->key.vlan_tci);
    uint16_t mask = ntohs(m->mask.vlan_tci);
    uint16_t vid_mask = mask & VLAN_VID_MASK;
    uint16_t pcp_mask = mask & VLAN_PCP_MASK;

    if (!mask) {
        return;
    }
    /* dl_vlan/dl_vlan_pcp when the mask is exactly what they set, else the
     * raw vlan_tci (as ovs-ofctl prints it). */
    if ((mask & VLAN_CFI) && (tci & VLAN_CFI) &&
        (!vid_mask || vid_mask == VLAN_VID_MASK) &&
        (!pcp_mask || pcp_mask == VLAN_PCP_MASK) && (vid_mask || pcp_mask)) {
        if (vid_mask) {
            ds_put_format(ds, ",dl_vlan=%u", tci & VLAN_VID_MASK);
        }
        if (pcp_mask) {
            ds_put_format(ds, ",dl_vlan_pcp=%u", tci >> VLAN_PCP_SHIFT);
        }
    } else if (mask == 0xffff) {
        ds_put_format(ds, ",vlan_tci=0x%04x", tci);
    } else {
        ds_put_format(ds, ",vlan_tci=0x%04x/0x%04x", tci, mask);
    }
}

/* Appends the match with a leading comma before each item (the caller
 * strips the first). */
static void
put_match(const struct match *m, struct ds *ds)
{
    bool type_known = m->mask.dl_type == 0xffff;
    uint16_t type = ntohs(m->key.dl_type);
    bool proto_known = m->mask.nw_proto == 0xff;
    bool skip_type = false, skip_proto = false;
    bool is_arp = type_known && type == 0x0806;
    bool is_ip6 = type_known && type == 0x86dd;
    bool is_icmp = false;

    for (size_t i = 0; type_known && i < ARRAY_SIZE(shorthands); i++) {
        const struct shorthand *sh = &shorthands[i];

        if (sh->dl_type == type &&
            (sh->nw_proto < 0 ||
             (proto_known && m->key.nw_proto == sh->nw_proto))) {
            ds_put_format(ds, ",%s", sh->name);
            skip_type = true;
            skip_proto = sh->nw_proto >= 0;
            is_icmp = sh->nw_proto == 1 || sh->nw_proto == 58;
            break;
        }
    }
    put_field(m, MFF_IN_PORT, NULL, ds);
    put_vlan(m, ds);
    put_field(m, MFF_DL_SRC, NULL, ds);
    put_field(m, MFF_DL_DST, NULL, ds);
    if (!skip_type) {
        put_field(m, MFF_DL_TYPE, NULL, ds);
    }
    if (is_ip6) {
        put_field(m, MFF_IPV6_SRC, NULL, ds);
        put_field(m, MFF_IPV6_DST, NULL, ds);
        put_field(m, MFF_IPV6_LABEL, NULL, ds);
    }
    put_field(m, MFF_NW_SRC, is_arp ? "arp_spa" : NULL, ds);
    put_field(m, MFF_NW_DST, is_arp ? "arp_tpa" : NULL, ds);
    if (!skip_proto) {
        put_field(m, MFF_NW_PROTO, is_arp ? "arp_op" : NULL, ds);
    }
    put_field(m, MFF_ARP_SHA, NULL, ds);
    put_field(m, MFF_ARP_THA, NULL, ds);
    put_field(m, MFF_NW_TOS, NULL, ds);
    put_field(m, MFF_NW_ECN, NULL, ds);
    put_field(m, MFF_NW_TTL, NULL, ds);
    put_field(m, MFF_NW_FRAG, NULL, ds);
    if (is_icmp) {
        put_field(m, MFF_ICMP_TYPE, NULL, ds);
        put_field(m, MFF_ICMP_CODE, NULL, ds);
    } else {
        put_field(m, MFF_TP_SRC, NULL, ds);
        put_field(m, MFF_TP_DST, NULL, ds);
    }
    put_field(m, MFF_TCP_FLAGS, NULL, ds);
    if (!is_ip6) {
        put_field(m, MFF_IPV6_SRC, NULL, ds);
        put_field(m, MFF_IPV6_DST, NULL, ds);
        put_field(m, MFF_IPV6_LABEL, NULL, ds);
    }
}

/* Moves 'tmp' (items each led by a comma) into 'ds' without the first
 * comma. */
static void
put_items(struct ds *tmp, struct ds *ds)
{
    if (tmp->len) {
        ds_put_cstr(ds, ds_cstr(tmp) + 1);
    }
    ds_destroy(tmp);
}

void
flow_match_format(const struct match *m, const char *prog_name, struct ds *ds)
{
    struct ds tmp = DS_EMPTY_INITIALIZER;

    put_match(m, &tmp);
    if (prog_name) {
        ds_put_format(&tmp, ",prog=%s", prog_name);
    }
    put_items(&tmp, ds);
}

void
flow_spec_format(const struct flow_spec *spec, struct ds *ds)
{
    struct ds tmp = DS_EMPTY_INITIALIZER;

    if (spec->table_set || spec->table) {
        ds_put_format(&tmp, ",table=%u", spec->table);
    }
    ds_put_format(&tmp, ",priority=%u", spec->priority);
    if (spec->cookie_mask) {
        ds_put_format(&tmp, ",cookie=0x%" PRIx64 "/0x%" PRIx64, spec->cookie,
                      spec->cookie_mask);
    } else if (spec->cookie) {
        ds_put_format(&tmp, ",cookie=0x%" PRIx64, spec->cookie);
    }
    if (spec->idle_timeout) {
        ds_put_format(&tmp, ",idle_timeout=%u", spec->idle_timeout);
    }
    if (spec->hard_timeout) {
        ds_put_format(&tmp, ",hard_timeout=%u", spec->hard_timeout);
    }
    put_match(&spec->match, &tmp);
    if (spec->prog_name) {
        ds_put_format(&tmp, ",prog=%s", spec->prog_name);
    }
    put_items(&tmp, ds);
    if (spec->has_actions) {
        ds_put_cstr(ds, " actions=");
        action_list_format(&spec->actions, ds);
    }
}

void
flow_key_format(const struct flow_key *key, struct ds *ds)
{
    /* The fields that together cover every printable byte of a key. */
    static const enum mf_field_id storage[] = {
        MFF_IN_PORT, MFF_DL_SRC,  MFF_DL_DST,   MFF_DL_TYPE,  MFF_VLAN_TCI,
        MFF_NW_SRC,  MFF_NW_DST,  MFF_NW_PROTO, MFF_NW_TOS,   MFF_NW_ECN,
        MFF_NW_TTL,  MFF_NW_FRAG, MFF_TP_SRC,   MFF_TP_DST,   MFF_TCP_FLAGS,
        MFF_ARP_SHA, MFF_ARP_THA, MFF_IPV6_SRC, MFF_IPV6_DST, MFF_IPV6_LABEL,
    };
    struct match m;

    /* Constrain exactly the fields that are non-zero: zero is what
     * flow_key_parse() leaves in a field not given, so those need no
     * text. */
    memset(&m, 0, sizeof m);
    for (size_t i = 0; i < ARRAY_SIZE(storage); i++) {
        const struct mf_field *mf = mf_from_id(storage[i]);
        uint8_t v[16];
        bool nonzero = false;

        mf_get(mf, key, v);
        for (size_t j = 0; j < mf->n_bytes; j++) {
            nonzero |= v[j] != 0;
        }
        if (nonzero) {
            mf_set_match(mf, v, NULL, &m);
        }
    }
    flow_match_format(&m, NULL, ds);
}
