/* Action lists: parsing the actions= part of a flow, printing it back, and
 * the list bookkeeping.
 *
 * Every field-writing action (mod_nw_dst, mod_vlan_vid, set_field, ...)
 * becomes one SET_FIELD action naming a field of the field table with its
 * value in storage form, so the pipeline has a single code path for all of
 * them (mf_set_packet()); 'spelling' only remembers how the user wrote it so
 * that printing gives the same text back.
 *
 * The syntax follows ovs-ofctl: actions are separated by commas or
 * whitespace; an action is NAME, NAME:ARG (also NAME=ARG) or NAME(ARGS); a
 * bare number is output:NUMBER. */
#include "action.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "field.h"
#include "flow_parse.h"

void
action_list_init(struct action_list *list)
{
    list->acts = NULL;
    list->n = 0;
}

static void
action_free_data(struct action *a)
{
    if (a->type == ACTION_NOTE) {
        free(a->note.data);
    } else if (a->type == ACTION_PROG) {
        free(a->prog.name);
    }
}

void
action_list_destroy(struct action_list *list)
{
    if (!list) {
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        action_free_data(&list->acts[i]);
    }
    free(list->acts);
    action_list_init(list);
}

void
action_list_clone(struct action_list *dst, const struct action_list *src)
{
    action_list_init(dst);
    if (!src->n) {
        return;
    }
    dst->acts = xmalloc(src->n * sizeof *dst->acts);
    memcpy(dst->acts, src->acts, src->n * sizeof *dst->acts);
    dst->n = src->n;
    for (size_t i = 0; i < dst->n; i++) {
        struct action *a = &dst->acts[i];

        if (a->type == ACTION_NOTE && a->note.len) {
            a->note.data = xmalloc(a->note.len);
            memcpy(a->note.data, src->acts[i].note.data, a->note.len);
        } else if (a->type == ACTION_PROG) {
            a->prog.name = xstrdup(src->acts[i].prog.name);
        }
    }
}

struct action *
action_list_append(struct action_list *list, enum action_type type)
{
    struct action *a;

    list->acts = xrealloc(list->acts, (list->n + 1) * sizeof *list->acts);
    a = &list->acts[list->n++];
    memset(a, 0, sizeof *a);
    a->type = type;
    return a;
}

const char *
action_type_name(enum action_type type)
{
    static const char *const names[] = {
#define ACTION_NAME_(ENUM, NAME) [ACTION_##ENUM] = NAME,
        ACTION_TYPES(ACTION_NAME_)
#undef ACTION_NAME_
    };

    return (unsigned int)type < ACTION_N_TYPES ? names[type] : "unknown";
}

static bool
action_equal(const struct action *a, const struct action *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case ACTION_OUTPUT:
        return a->port == b->port;
    case ACTION_SET_FIELD:
        return a->set.field == b->set.field &&
               a->set.spelling == b->set.spelling &&
               !memcmp(a->set.value, b->set.value, sizeof a->set.value);
    case ACTION_PUSH_VLAN:
        return a->tpid == b->tpid;
    case ACTION_RESUBMIT:
        return a->resubmit.in_port == b->resubmit.in_port &&
               a->resubmit.same_table == b->resubmit.same_table &&
               (a->resubmit.same_table ||
                a->resubmit.table == b->resubmit.table);
    case ACTION_GOTO_TABLE:
        return a->table == b->table;
    case ACTION_NOTE:
        return a->note.len == b->note.len &&
               (!a->note.len ||
                !memcmp(a->note.data, b->note.data, a->note.len));
    case ACTION_PROG:
        return !strcmp(a->prog.name, b->prog.name);
    case ACTION_IN_PORT:
    case ACTION_FLOOD:
    case ACTION_ALL:
    case ACTION_DROP:
    case ACTION_DEC_TTL:
    case ACTION_POP_VLAN:
    case ACTION_N_TYPES:
        break;
    }
    return true;
}

bool
action_list_equal(const struct action_list *a, const struct action_list *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (!action_equal(&a->acts[i], &b->acts[i])) {
            return false;
        }
    }
    return true;
}

/* ---- Printing. ---- */

static void
action_format(const struct action *a, struct ds *ds)
{
    switch (a->type) {
    case ACTION_OUTPUT:
        ds_put_format(ds, "output:%" PRIu32, a->port);
        return;
    case ACTION_IN_PORT:
        ds_put_cstr(ds, "IN_PORT");
        return;
    case ACTION_FLOOD:
        ds_put_cstr(ds, "FLOOD");
        return;
    case ACTION_ALL:
        ds_put_cstr(ds, "ALL");
        return;
    case ACTION_DROP:
        ds_put_cstr(ds, "drop");
        return;
    case ACTION_SET_FIELD: {
        const struct mf_field *mf = mf_from_id(a->set.field);

        if (!mf) {
            ds_put_cstr(ds, "set_field:?");
        } else if (a->set.spelling == ACTION_SPELL_MOD && mf->mod_name) {
            ds_put_format(ds, "%s:", mf->mod_name);
            mf_format(mf, a->set.value, NULL, ds);
        } else {
            ds_put_cstr(ds, "set_field:");
            mf_format(mf, a->set.value, NULL, ds);
            ds_put_format(ds, "->%s", mf->name);
        }
        return;
    }
    case ACTION_DEC_TTL:
        ds_put_cstr(ds, "dec_ttl");
        return;
    case ACTION_PUSH_VLAN:
        ds_put_format(ds, "push_vlan:0x%04" PRIx16, (uint16_t)ntohs(a->tpid));
        return;
    case ACTION_POP_VLAN:
        ds_put_cstr(ds, "pop_vlan");
        return;
    case ACTION_RESUBMIT:
        if (a->resubmit.same_table) {
            ds_put_format(ds, "resubmit:%" PRIu32, a->resubmit.in_port);
        } else if (a->resubmit.in_port == PORT_IN_PORT) {
            ds_put_format(ds, "resubmit(,%u)", a->resubmit.table);
        } else {
            ds_put_format(ds, "resubmit(%" PRIu32 ",%u)", a->resubmit.in_port,
                          a->resubmit.table);
        }
        return;
    case ACTION_GOTO_TABLE:
        ds_put_format(ds, "goto_table:%u", a->table);
        return;
    case ACTION_NOTE:
        ds_put_cstr(ds, "note:");
        for (size_t i = 0; i < a->note.len; i++) {
            ds_put_format(ds, "%s%02x", i ? "." : "", a->note.data[i]);
        }
        return;
    case ACTION_PROG:
        ds_put_format(ds, "prog:%s", a->prog.name);
        return;
    case ACTION_N_TYPES:
        break;
    }
    ds_put_cstr(ds, "?");
}

void
action_list_format(const struct action_list *list, struct ds *ds)
{
    if (!list->n) {
        ds_put_cstr(ds, "drop");
        return;
    }
    for (size_t i = 0; i < list->n; i++) {
        if (i) {
            ds_put_char(ds, ',');
        }
        action_format(&list->acts[i], ds);
    }
}

/* ---- Parsing. ---- */

/* One lexed action: NAME, NAME:ARG or NAME(ARG).  Offsets are into the
 * action text. */
struct action_token {
    size_t name_ofs; /* Start of the name. */
    size_t name_len; /* Bytes of name. */
    bool has_arg;    /* ':' '=' or '(' followed. */
    bool parens;     /* The argument was in parentheses. */
    size_t arg_ofs;  /* Start of the argument. */
    size_t arg_len;  /* Bytes of argument. */
};

static bool
is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Lexes the action at 'text[*pos]' (separators already skipped).  Returns
 * NULL or an error with '*err_ofs' set. */
static char *
action_lex(const char *text, size_t *pos, struct action_token *t,
           size_t *err_ofs)
{
    size_t i = *pos;

    memset(t, 0, sizeof *t);
    t->name_ofs = i;
    while (text[i] && !is_sep(text[i]) && !strchr(":=()", text[i])) {
        i++;
    }
    t->name_len = i - t->name_ofs;
    if (!t->name_len) {
        *err_ofs = i;
        return xasprintf("expected an action name, found '%c'", text[i]);
    }
    if (text[i] == ':' || text[i] == '=') {
        t->has_arg = true;
        t->arg_ofs = ++i;
        while (text[i] && !is_sep(text[i])) {
            i++;
        }
        t->arg_len = i - t->arg_ofs;
    } else if (text[i] == '(') {
        t->has_arg = t->parens = true;
        t->arg_ofs = ++i;
        while (text[i] && text[i] != ')') {
            if (text[i] == '(') {
                *err_ofs = i;
                return xstrdup("nested parentheses are not allowed");
            }
            i++;
        }
        if (!text[i]) {
            *err_ofs = t->arg_ofs - 1;
            return xstrdup("missing ')'");
        }
        t->arg_len = i - t->arg_ofs;
        i++;
    } else if (text[i] == ')') {
        *err_ofs = i;
        return xstrdup("unbalanced ')'");
    }
    if (text[i] && !is_sep(text[i])) {
        *err_ofs = i;
        return xasprintf("trailing garbage '%s' after action '%.*s'", text + i,
                         (int)t->name_len, text + t->name_ofs);
    }
    *pos = i;
    return NULL;
}

static bool
tok_is(const char *text, const struct action_token *t, const char *name)
{
    return strlen(name) == t->name_len &&
           !strncasecmp(text + t->name_ofs, name, t->name_len);
}

/* Parses a whole decimal or 0x number in [s, s + len) not above 'max'. */
static bool
parse_num(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    char buf[24];
    char *end;

    if (!len || len >= sizeof buf || !isdigit((unsigned char)s[0])) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtoull(buf, &end, 0);
    /* strtoull(.., 0) would read "010" as octal: require no leading zero
     * on decimal numbers with more than one digit. */
    if (*end || *out > max ||
        (len > 1 && buf[0] == '0' && buf[1] != 'x' && buf[1] != 'X')) {
        return false;
    }
    return true;
}

static char *
parse_table(const char *s, size_t len, uint8_t *table)
{
    uint64_t v;

    if (!parse_num(s, len, FLOW_N_TABLES - 1, &v)) {
        return xasprintf("bad table '%.*s' (expected 0..%d)", (int)len, s,
                         FLOW_N_TABLES - 1);
    }
    *table = v;
    return NULL;
}

static char *
parse_port(const char *s, size_t len, uint32_t *port)
{
    uint64_t v;

    if (!parse_num(s, len, PORT_MAX, &v)) {
        return xasprintf("bad port '%.*s' (expected a port number 0..%u)",
                         (int)len, s, PORT_MAX);
    }
    *port = v;
    return NULL;
}

/* A set_field/mod_* action: checks writability and prerequisites. */
static char *
parse_set(struct action *a, const struct mf_field *mf, const char *value,
          const struct match *match, enum action_spelling spelling)
{
    char *err;

    if (!mf->writable) {
        return xasprintf("field %s cannot be written", mf->name);
    }
    err = mf_parse(mf, value, a->set.value, NULL);
    if (err) {
        return err;
    }
    if (!mf_prereq_ok(mf->set_prereq, match)) {
        return xasprintf("%s needs %s in the match",
                         spelling == ACTION_SPELL_MOD ? mf->mod_name : mf->name,
                         mf_prereq_text(mf->set_prereq));
    }
    a->set.field = mf->id;
    a->set.spelling = spelling;
    return NULL;
}

static char *
parse_note(struct action *a, const char *s, size_t len)
{
    size_t i = 0;

    a->note.data = len ? xmalloc(len / 2 + 1) : NULL;
    while (i < len) {
        unsigned int hi, lo;

        if (i + 1 >= len || !isxdigit((unsigned char)s[i]) ||
            !isxdigit((unsigned char)s[i + 1])) {
            return xasprintf("note: bad hex bytes '%.*s' (expected pairs of "
                             "hex digits, optionally separated by '.')",
                             (int)len, s);
        }
        hi = isdigit((unsigned char)s[i]) ? s[i] - '0'
                                          : (tolower(s[i]) - 'a' + 10);
        lo = isdigit((unsigned char)s[i + 1]) ? s[i + 1] - '0'
                                              : (tolower(s[i + 1]) - 'a' + 10);
        a->note.data[a->note.len++] = hi << 4 | lo;
        i += 2;
        if (i < len && s[i] == '.') {
            i++;
            if (i == len) {
                return xstrdup("note: trailing '.'");
            }
        }
    }
    return NULL;
}

/* Parses one lexed action into 'list'.  On error '*err_ofs' is where to
 * point (the name unless the argument is at fault). */
static char *
action_parse_one(struct action_list *list, const char *text,
                 const struct action_token *t, const struct match *match,
                 uint8_t table, size_t *err_ofs)
{
    const char *arg = text + t->arg_ofs;
    size_t alen = t->arg_len;
    char *argstr = NULL;
    struct action *a;
    char *err = NULL;
    uint64_t v;

    *err_ofs = t->name_ofs;
    if (isdigit((unsigned char)text[t->name_ofs]) && !t->has_arg) {
        a = action_list_append(list, ACTION_OUTPUT);
        return parse_port(text + t->name_ofs, t->name_len, &a->port);
    }

    /* Actions without arguments. */
    {
        static const struct {
            const char *name;
            enum action_type type;
        } bare[] = {
            {"in_port", ACTION_IN_PORT},
            {"flood", ACTION_FLOOD},
            {"all", ACTION_ALL},
            {"dec_ttl", ACTION_DEC_TTL},
            {"strip_vlan", ACTION_POP_VLAN},
            {"pop_vlan", ACTION_POP_VLAN},
        };

        for (size_t i = 0; i < ARRAY_SIZE(bare); i++) {
            if (tok_is(text, t, bare[i].name)) {
                if (t->has_arg) {
                    return xasprintf("action '%s' takes no argument",
                                     bare[i].name);
                }
                if (bare[i].type == ACTION_DEC_TTL &&
                    !mf_prereq_ok(MFP_IP_ANY, match)) {
                    return xasprintf("dec_ttl needs %s in the match",
                                     mf_prereq_text(MFP_IP_ANY));
                }
                action_list_append(list, bare[i].type);
                return NULL;
            }
        }
    }

    /* The rest take an argument. */
    if (!t->has_arg) {
        for (size_t i = 0; i < MFF_N_IDS; i++) {
            const struct mf_field *mf = mf_from_id(i);

            if (mf->mod_name && tok_is(text, t, mf->mod_name)) {
                return xasprintf("action '%s' needs an argument", mf->mod_name);
            }
        }
        if (tok_is(text, t, "output") || tok_is(text, t, "set_field") ||
            tok_is(text, t, "push_vlan") || tok_is(text, t, "resubmit") ||
            tok_is(text, t, "goto_table") || tok_is(text, t, "note") ||
            tok_is(text, t, "prog")) {
            return xasprintf("action '%.*s' needs an argument",
                             (int)t->name_len, text + t->name_ofs);
        }
        return xasprintf("unknown action '%.*s'", (int)t->name_len,
                         text + t->name_ofs);
    }

    *err_ofs = t->arg_ofs;
    argstr = xmalloc(alen + 1);
    memcpy(argstr, arg, alen);
    argstr[alen] = '\0';

    if (tok_is(text, t, "output")) {
        a = action_list_append(list, ACTION_OUTPUT);
        err = parse_port(arg, alen, &a->port);
    } else if (tok_is(text, t, "set_field")) {
        char *arrow = strstr(argstr, "->");
        const struct mf_field *mf;

        if (!arrow) {
            err = xasprintf("set_field: bad argument '%s' (expected "
                            "VALUE->FIELD)",
                            argstr);
            goto out;
        }
        *arrow = '\0';
        mf = mf_from_name(arrow + 2);
        if (!mf) {
            *err_ofs = t->arg_ofs + (arrow + 2 - argstr);
            err = xasprintf("set_field: unknown field '%s'", arrow + 2);
            goto out;
        }
        a = action_list_append(list, ACTION_SET_FIELD);
        err = parse_set(a, mf, argstr, match, ACTION_SPELL_SET_FIELD);
    } else if (tok_is(text, t, "push_vlan")) {
        if (!parse_num(arg, alen, UINT16_MAX, &v) ||
            (v != 0x8100 && v != 0x88a8)) {
            err = xasprintf("push_vlan: bad ethertype '%s' (expected 0x8100 "
                            "or 0x88a8)",
                            argstr);
            goto out;
        }
        a = action_list_append(list, ACTION_PUSH_VLAN);
        a->tpid = htons(v);
    } else if (tok_is(text, t, "resubmit")) {
        a = action_list_append(list, ACTION_RESUBMIT);
        a->resubmit.in_port = PORT_IN_PORT;
        if (!t->parens) {
            a->resubmit.same_table = true;
            err = parse_port(arg, alen, &a->resubmit.in_port);
        } else {
            const char *comma = memchr(arg, ',', alen);
            size_t plen = comma ? (size_t)(comma - arg) : alen;

            if (plen && strncasecmp(arg, "in_port", plen)) {
                err = parse_port(arg, plen, &a->resubmit.in_port);
            }
            if (!err && comma && comma + 1 < arg + alen) {
                *err_ofs = t->arg_ofs + plen + 1;
                err =
                    parse_table(comma + 1, alen - plen - 1, &a->resubmit.table);
            } else if (!err) {
                a->resubmit.same_table = true;
                if (!plen || a->resubmit.in_port == PORT_IN_PORT) {
                    err = xstrdup("resubmit needs a port or a table");
                }
            }
        }
    } else if (tok_is(text, t, "goto_table")) {
        a = action_list_append(list, ACTION_GOTO_TABLE);
        err = parse_table(arg, alen, &a->table);
        if (!err && a->table <= table) {
            err = xasprintf("goto_table:%u must go to a table after this "
                            "rule's table %u",
                            a->table, table);
        }
    } else if (tok_is(text, t, "note")) {
        a = action_list_append(list, ACTION_NOTE);
        err = parse_note(a, arg, alen);
    } else if (tok_is(text, t, "prog")) {
        if (!flow_prog_name_valid(arg, alen)) {
            err = xasprintf("prog: bad program name '%s' (expected 1 to 64 "
                            "letters, digits, '_', '-' or '.')",
                            argstr);
            goto out;
        }
        a = action_list_append(list, ACTION_PROG);
        a->prog.name = xstrdup(argstr);
    } else {
        const struct mf_field *mf = NULL;

        for (size_t i = 0; i < MFF_N_IDS && !mf; i++) {
            const struct mf_field *f = mf_from_id(i);

            if (f->mod_name && tok_is(text, t, f->mod_name)) {
                mf = f;
            }
        }
        if (!mf) {
            *err_ofs = t->name_ofs;
            err = xasprintf("unknown action '%.*s'", (int)t->name_len,
                            text + t->name_ofs);
            goto out;
        }
        a = action_list_append(list, ACTION_SET_FIELD);
        err = parse_set(a, mf, argstr, match, ACTION_SPELL_MOD);
    }
out:
    free(argstr);
    return err;
}

char *
action_list_parse(struct action_list *list, const char *text,
                  const struct match *match, uint8_t table, int *err_col)
{
    size_t pos = 0;
    size_t drop_ofs = SIZE_MAX;
    size_t goto_ofs = SIZE_MAX;
    size_t err_ofs = 0;
    char *err = NULL;

    action_list_init(list);
    for (;;) {
        struct action_token t;

        while (is_sep(text[pos])) {
            pos++;
        }
        if (!text[pos]) {
            break;
        }
        err = action_lex(text, &pos, &t, &err_ofs);
        if (err) {
            break;
        }
        if (goto_ofs != SIZE_MAX) {
            err_ofs = goto_ofs;
            err = xstrdup("goto_table must be the last action");
            break;
        }
        if (tok_is(text, &t, "drop")) {
            if (t.has_arg) {
                err_ofs = t.name_ofs;
                err = xstrdup("action 'drop' takes no argument");
                break;
            }
            drop_ofs = t.name_ofs;
            continue;
        }
        if (tok_is(text, &t, "goto_table")) {
            goto_ofs = t.name_ofs;
        }
        err = action_parse_one(list, text, &t, match, table, &err_ofs);
        if (err) {
            break;
        }
    }
    if (!err && drop_ofs != SIZE_MAX && list->n) {
        err_ofs = drop_ofs;
        err = xstrdup("drop must be the only action");
    }
    if (err) {
        action_list_destroy(list);
        *err_col = (int)err_ofs + 1;
    }
    return err;
}
