/* Action lists, as parsed from the actions= part of a flow.
 *
 * An action list is a plain array owned by its rule; actions that carry
 * strings (note, prog) own them.  'set_field' actions name a field from the
 * field table (field.h) and carry its value in the field's storage form
 * (the field's bytes as they sit in struct flow_key, network byte order,
 * sub-fields such as dl_vlan_pcp already shifted into place) in the first
 * bytes of 'value'; mf_set_packet() applies it to a packet. */
#ifndef FLOW_ACTION_H
#define FLOW_ACTION_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"
#include "match.h"
#include "pkt/flow_key.h"

/* Port numbers with a special meaning, in OpenFlow's spirit (host order). */
#define PORT_IN_PORT 0xfffffff8u   /* "in_port": back out the ingress. */
#define PORT_FLOOD 0xfffffffbu     /* All ports but ingress. */
#define PORT_ALL 0xfffffffcu       /* All ports but ingress. */
#define PORT_NONE 0xffffffffu      /* No port. */
#define PORT_MAX 0xffffff00u       /* Highest ordinary port number. */

#define ACTION_TYPES(X)                                 \
    X(OUTPUT, "output")                                 \
    X(IN_PORT, "in_port")                               \
    X(FLOOD, "flood")                                   \
    X(ALL, "all")                                       \
    X(DROP, "drop")                                     \
    X(SET_FIELD, "set_field")                           \
    X(DEC_TTL, "dec_ttl")                               \
    X(PUSH_VLAN, "push_vlan")                           \
    X(POP_VLAN, "pop_vlan")                             \
    X(RESUBMIT, "resubmit")                             \
    X(GOTO_TABLE, "goto_table")                         \
    X(NOTE, "note")                                     \
    X(PROG, "prog")

enum action_type {
#define ACTION_ENUM_(ENUM, NAME) ACTION_##ENUM,
    ACTION_TYPES(ACTION_ENUM_)
#undef ACTION_ENUM_
    ACTION_N_TYPES
};

/* How a SET_FIELD action was written, so that printing gives it back. */
enum action_spelling {
    ACTION_SPELL_SET_FIELD,    /* set_field:VALUE->FIELD. */
    ACTION_SPELL_MOD,          /* The field's legacy action (mod_nw_src:V,
                                * mod_vlan_vid:V, ...). */
};

struct action {
    enum action_type type;
    union {
        uint32_t port;                  /* OUTPUT. */
        struct {                        /* SET_FIELD (and mod_*). */
            int field;                  /* enum mf_field_id (field.h). */
            uint8_t value[16];          /* Storage form (field.h). */
            uint8_t spelling;           /* enum action_spelling. */
        } set;
        be16 tpid;                      /* PUSH_VLAN: 0x8100 or 0x88a8. */
        struct {                        /* RESUBMIT. */
            uint32_t in_port;           /* PORT_IN_PORT = keep in_port. */
            uint8_t table;              /* Table to look up. */
            bool same_table;            /* resubmit(port) without table. */
        } resubmit;
        uint8_t table;                  /* GOTO_TABLE. */
        struct {                        /* NOTE. */
            uint8_t *data;              /* Owned. */
            size_t len;
        } note;
        struct {                        /* PROG. */
            char *name;                 /* Owned. */
            void *prog;                 /* Resolved program, borrowed. */
        } prog;
    };
};

struct action_list {
    struct action *acts;     /* Owned array. */
    size_t n;                /* Actions in 'acts'; 0 means drop. */
};

void action_list_init(struct action_list *);
void action_list_destroy(struct action_list *);
void action_list_clone(struct action_list *dst, const struct action_list *);
struct action *action_list_append(struct action_list *, enum action_type);
/* Appends the canonical text ("output:2,mod_nw_dst:10.0.1.5") to 'ds';
 * "drop" for an empty list. */
void action_list_format(const struct action_list *, struct ds *);
const char *action_type_name(enum action_type);
bool action_list_equal(const struct action_list *,
                       const struct action_list *);

/* Parses the text after "actions=" into 'list' (initialised by this call).
 * 'match' and 'table' are the rule's: actions that write a field need the
 * field's prerequisites in the match (mod_tp_dst needs tcp, udp or sctp) and
 * goto_table must go to a later table.  Returns NULL, or an allocated
 * message with '*err_col' the 1-based column in 'text' of the offending
 * token; 'list' is then empty. */
char *action_list_parse(struct action_list *list, const char *text,
                        const struct match *match, uint8_t table,
                        int *err_col) WARN_UNUSED_RESULT;

#endif
