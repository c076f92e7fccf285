#include "nf_p0f.h"

#include <ctype.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "core/util.h"

static char *
trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

/* Parses a decimal number in [0, max] from 's' (the whole string). */
static bool
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!isdigit((unsigned char)*s)) {
        return false;
    }
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static uint8_t
ttl_class(unsigned long ttl)
{
    return ttl <= 32 ? 32 : ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
}

static const struct {
    const char *name;
    uint32_t bit;
} quirk_names[] = {
    { "df", P0F_Q_DF },          { "id+", P0F_Q_NZ_ID },
    { "id-", P0F_Q_ZERO_ID },    { "ecn", P0F_Q_ECN },
    { "0+", P0F_Q_NZ_MBZ },      { "flow", P0F_Q_FLOW },
    { "seq-", P0F_Q_ZERO_SEQ },  { "ack+", P0F_Q_NZ_ACK },
    { "ack-", P0F_Q_ZERO_ACK },  { "uptr+", P0F_Q_NZ_URG },
    { "urgf+", P0F_Q_URG },      { "pushf+", P0F_Q_PUSH },
    { "ts1-", P0F_Q_OPT_ZERO_TS1 }, { "ts2+", P0F_Q_OPT_NZ_TS2 },
    { "opt+", P0F_Q_OPT_EOL_NZ }, { "exws", P0F_Q_OPT_EXWS },
    { "bad", P0F_Q_OPT_BAD },
};

static char *
parse_layout(char *s, struct p0f_key *key)
{
    key->layout_len = 0;
    if (!*s) {
        return NULL;
    }
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        unsigned long v;
        uint8_t code[2];
        int n = 1;

        if (!strcmp(tok, "nop")) {
            code[0] = P0F_OPT_NOP;
        } else if (!strcmp(tok, "mss")) {
            code[0] = P0F_OPT_MSS;
        } else if (!strcmp(tok, "ws")) {
            code[0] = P0F_OPT_WS;
        } else if (!strcmp(tok, "sok")) {
            code[0] = P0F_OPT_SOK;
        } else if (!strcmp(tok, "sack")) {
            code[0] = P0F_OPT_SACK;
        } else if (!strcmp(tok, "ts")) {
            code[0] = P0F_OPT_TS;
        } else if (!strncmp(tok, "eol+", 4) && parse_uint(tok + 4, 39, &v)) {
            code[0] = P0F_OPT_EOL;
            code[1] = (uint8_t)v;
            n = 2;
        } else if (tok[0] == '?' && parse_uint(tok + 1, 255, &v)) {
            code[0] = (uint8_t)v;
        } else {
            return xasprintf("bad TCP option '%s' in layout", tok);
        }
        for (int i = 0; i < n; i++) {
            if (key->layout_len >= P0F_MAX_LAYOUT - 1) {
                return xstrdup("option layout longer than the filter keeps");
            }
            p0f_layout_add(key->layout, code[i]);
            key->layout_len++;
        }
    }
    return NULL;
}

static char *
parse_wsize(const char *s, struct p0f_variant *var)
{
    unsigned long v;
    if (!strcmp(s, "*")) {
        var->wsize_kind = P0F_WSIZE_ANY;
        var->wsize = 0;
    } else if (!strncmp(s, "mss*", 4) && parse_uint(s + 4, 65535, &v)) {
        var->wsize_kind = P0F_WSIZE_MSS;
        var->wsize = (uint32_t)v;
    } else if (!strncmp(s, "mtu*", 4) && parse_uint(s + 4, 65535, &v)) {
        var->wsize_kind = P0F_WSIZE_MTU;
        var->wsize = (uint32_t)v;
    } else if (s[0] == '%' && parse_uint(s + 1, 65535, &v) && v) {
        var->wsize_kind = P0F_WSIZE_MOD;
        var->wsize = (uint32_t)v;
    } else if (parse_uint(s, 65535, &v)) {
        var->wsize_kind = P0F_WSIZE_FIXED;
        var->wsize = (uint32_t)v;
    } else {
        return xasprintf("bad window size '%s'", s);
    }
    return NULL;
}

int
nf_p0f_parse_sig(const char *sig, unsigned int label,
                 struct p0f_key keys[4], struct p0f_variant *var,
                 char **errp)
{
    char *copy = xstrdup(sig);
    char *f[8];
    char *err = NULL;
    int n = 0;
    char *p = copy;
    struct p0f_key key;
    unsigned long v;

    /* ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass */
    for (int i = 0; i < 8; i++) {
        char *colon = i < 7 ? strchr(p, ':') : NULL;
        if (i < 7 && !colon) {
            err = xasprintf("expected 8 ':'-separated fields, found %d", i + 1);
            goto out;
        }
        if (colon) {
            *colon = '\0';
        }
        f[i] = trim(p);
        p = colon ? colon + 1 : p;
    }
    if (strchr(f[7], ':')) {
        err = xstrdup("more than 8 ':'-separated fields");
        goto out;
    }

    memset(&key, 0, sizeof key);
    memset(var, 0, sizeof *var);
    var->label = (uint16_t)label;

    size_t tl = strlen(f[1]);
    if (tl && f[1][tl - 1] == '-') {
        f[1][tl - 1] = '\0';   /* "64-": random TTL up to 64. */
    }
    if (!parse_uint(f[1], 255, &v)) {
        err = xasprintf("bad initial TTL '%s'", f[1]);
        goto out;
    }
    key.ittl = ttl_class(v);
    if (!parse_uint(f[2], 40, &v)) {
        err = xasprintf("bad IP option length '%s'", f[2]);
        goto out;
    }
    key.olen = (uint8_t)v;
    if (!strcmp(f[3], "*")) {
        var->mss = P0F_ANY_MSS;
    } else if (parse_uint(f[3], 65535, &v)) {
        var->mss = (uint32_t)v;
    } else {
        err = xasprintf("bad MSS '%s'", f[3]);
        goto out;
    }
    char *comma = strchr(f[4], ',');
    if (!comma) {
        err = xasprintf("window field '%s' lacks ',scale'", f[4]);
        goto out;
    }
    *comma = '\0';
    char *scale = trim(comma + 1);
    err = parse_wsize(trim(f[4]), var);
    if (err) {
        goto out;
    }
    if (!strcmp(scale, "*")) {
        var->scale = P0F_ANY_SCALE;
    } else if (parse_uint(scale, 255, &v) && v != P0F_ANY_SCALE) {
        var->scale = (uint8_t)v;
    } else {
        err = xasprintf("bad window scale '%s'", scale);
        goto out;
    }
    err = parse_layout(f[5], &key);
    if (err) {
        goto out;
    }
    if (*f[6]) {
        for (char *tok = strtok(f[6], ","); tok; tok = strtok(NULL, ",")) {
            size_t i;
            for (i = 0; i < ARRAY_SIZE(quirk_names); i++) {
                if (!strcmp(tok, quirk_names[i].name)) {
                    key.quirks |= quirk_names[i].bit;
                    break;
                }
            }
            if (i == ARRAY_SIZE(quirk_names)) {
                err = xasprintf("unknown quirk '%s'", tok);
                goto out;
            }
        }
    }

    int vers[2], n_vers = 0;
    if (!strcmp(f[0], "4") || !strcmp(f[0], "*")) {
        vers[n_vers++] = 4;
    }
    if (!strcmp(f[0], "6") || !strcmp(f[0], "*")) {
        vers[n_vers++] = 6;
    }
    if (!n_vers) {
        err = xasprintf("bad IP version '%s'", f[0]);
        goto out;
    }
    int classes[2], n_classes = 0;
    if (!strcmp(f[7], "0") || !strcmp(f[7], "*")) {
        classes[n_classes++] = 0;
    }
    if (!strcmp(f[7], "+") || !strcmp(f[7], "*")) {
        classes[n_classes++] = 1;
    }
    if (!n_classes) {
        err = xasprintf("bad payload class '%s'", f[7]);
        goto out;
    }
    for (int i = 0; i < n_vers; i++) {
        for (int j = 0; j < n_classes; j++) {
            struct p0f_key *k = &keys[n++];
            *k = key;
            k->ver = (uint8_t)vers[i];
            k->pclass = (uint8_t)classes[j];
            /* A quirk of the other IP version is ignored, as in p0f; IPv6
             * has no options (olen) either. */
            if (k->ver == 6) {
                k->quirks &= ~P0F_Q_V4_ONLY;
            } else {
                k->quirks &= ~P0F_Q_V6_ONLY;
            }
        }
    }

out:
    free(copy);
    if (err) {
        *errp = err;
        return -1;
    }
    return n;
}

static int
add_variant(struct nf_p0f_db *db, const struct p0f_key *key,
            const struct p0f_variant *var)
{
    for (size_t i = 0; i < db->n_groups; i++) {
        struct nf_p0f_group *g = &db->groups[i];
        if (!memcmp(&g->key, key, sizeof *key)) {
            if (g->sigs.n >= P0F_MAX_VARIANTS) {
                return -E2BIG;
            }
            g->sigs.v[g->sigs.n++] = *var;
            return 0;
        }
    }
    db->groups = xrealloc(db->groups, (db->n_groups + 1) * sizeof *db->groups);
    struct nf_p0f_group *g = &db->groups[db->n_groups++];
    memset(g, 0, sizeof *g);
    g->key = *key;
    g->sigs.n = 1;
    g->sigs.v[0] = *var;
    return 0;
}

char *
nf_p0f_load(const char *path, const char *label_filter, struct nf_p0f_db *db)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int lineno = 0;
    bool in_section = false;
    bool keep = false;
    char *err = NULL;

    memset(db, 0, sizeof *db);
    if (!f) {
        return xasprintf("%s: %s", path, strerror(errno));
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == ';') {
            continue;
        }
        if (*s == '[') {
            in_section = !strcmp(s, "[tcp:request]");
            keep = false;
            continue;
        }
        if (!in_section) {
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            err = xasprintf("%s:%d: expected 'name = value'", path, lineno);
            break;
        }
        *eq = '\0';
        char *name = trim(s);
        char *value = trim(eq + 1);
        if (!strcmp(name, "label")) {
            keep = !label_filter || strstr(value, label_filter);
            if (keep) {
                if (db->n_labels >= UINT16_MAX) {
                    err = xasprintf("%s:%d: too many labels", path, lineno);
                    break;
                }
                db->labels = xrealloc(db->labels,
                                      (db->n_labels + 1) * sizeof *db->labels);
                db->labels[db->n_labels++] = xstrdup(value);
            }
        } else if (!strcmp(name, "sig")) {
            if (!keep) {
                continue;
            }
            struct p0f_key keys[4];
            struct p0f_variant var;
            char *msg = NULL;
            int n = nf_p0f_parse_sig(value, (unsigned int)db->n_labels - 1,
                                     keys, &var, &msg);
            if (n < 0) {
                err = xasprintf("%s:%d: %s", path, lineno, msg);
                free(msg);
                break;
            }
            for (int i = 0; i < n; i++) {
                if (add_variant(db, &keys[i], &var) < 0) {
                    err = xasprintf("%s:%d: more than %d signatures share "
                                    "one exact key", path, lineno,
                                    P0F_MAX_VARIANTS);
                    break;
                }
            }
            if (err) {
                break;
            }
            db->n_sigs++;
        }
        /* Other names ("sys") carry no matching data. */
    }
    fclose(f);
    if (err) {
        nf_p0f_db_destroy(db);
    }
    return err;
}

void
nf_p0f_db_destroy(struct nf_p0f_db *db)
{
    if (!db) {
        return;
    }
    for (size_t i = 0; i < db->n_labels; i++) {
        free(db->labels[i]);
    }
    free(db->labels);
    free(db->groups);
    memset(db, 0, sizeof *db);
}

char *
nf_p0f_fill_map(const struct nf_p0f_db *db, struct bpf_map *map)
{
    if (bpf_map_key_size(map) != sizeof(struct p0f_key)
        || bpf_map_value_size(map) != sizeof(struct p0f_sigs)) {
        return xasprintf("map '%s' has %u-byte keys and %u-byte values, "
                         "the p0f layout needs %zu and %zu (program built "
                         "from another progs/p0f.h?)", bpf_map_name(map),
                         bpf_map_key_size(map), bpf_map_value_size(map),
                         sizeof(struct p0f_key), sizeof(struct p0f_sigs));
    }
    for (size_t i = 0; i < db->n_groups; i++) {
        const struct nf_p0f_group *g = &db->groups[i];
        int rc = bpf_map_update(map, &g->key, &g->sigs, BPF_ANY);
        if (rc < 0) {
            return xasprintf("map '%s': cannot store signature group %zu "
                             "of %zu: %s", bpf_map_name(map), i + 1,
                             db->n_groups, strerror(-rc));
        }
    }
    return NULL;
}
