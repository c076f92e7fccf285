/* ovs-ofctl flow syntax: parsing and canonical printing.
 *
 *   table=0,priority=100,in_port=1,tcp,nw_dst=10.0.0.0/24,tp_dst=80,
 *       actions=mod_nw_dst:10.0.1.5,output:2
 *
 * Parsing what flow_spec_format() prints gives back an equal spec (round
 * trip).  Errors give the 1-based column in the flow text and the reason:
 * (17, "unknown field 'nw_srx'"), (9, "tp_dst needs a transport protocol
 * (tcp, udp, sctp)"), (30, "unknown action 'outptu'"). */
#ifndef FLOW_FLOW_PARSE_H
#define FLOW_FLOW_PARSE_H 1

#include <stdbool.h>
#include <stdint.h>

#include "action.h"
#include "core/compiler.h"
#include "core/util.h"
#include "match.h"

#define FLOW_N_TABLES 255          /* Tables 0..254 (OpenFlow's limit). */
#define FLOW_DEFAULT_PRIORITY 32768

struct flow_spec {
    uint8_t table;             /* Table id. */
    bool table_set;            /* table= was given (for del: restricts). */
    uint16_t priority;         /* Default 32768. */
    uint64_t cookie;           /* cookie=. */
    uint64_t cookie_mask;      /* cookie=V/M in del; 0 = any. */
    uint16_t idle_timeout;     /* Seconds; 0 = none. */
    uint16_t hard_timeout;     /* Seconds; 0 = none. */
    struct match match;        /* Match fields (pre-masked). */
    char *prog_name;           /* prog=NAME filter program or NULL (owned). */
    struct action_list actions;
    bool has_actions;          /* actions= was present. */
};

enum flow_parse_mode {
    FLOW_PARSE_ADD,            /* Needs actions=... (may be empty = drop). */
    FLOW_PARSE_MATCH,          /* del / dump: no actions, no timeouts. */
};

void flow_spec_init(struct flow_spec *);
void flow_spec_destroy(struct flow_spec *);
void flow_spec_clone(struct flow_spec *dst, const struct flow_spec *src);

/* Parses 'text' into 'spec' (initialised by this call).  Returns NULL on
 * success or an allocated message giving the reason ("unknown field
 * 'nw_srx'"), and stores in '*err_col' the 1-based column of 'text' where
 * the offending token starts (callers prefix "FILE:LINE:COLUMN: " or
 * "column N: ").  On error 'spec' is left empty (flow_spec_destroy is still
 * safe). */
char *flow_spec_parse(struct flow_spec *spec, const char *text,
                      enum flow_parse_mode, int *err_col) WARN_UNUSED_RESULT;
/* Appends canonical ovs-ofctl text: "table=T,priority=P,[cookie=...,]
 * MATCH,actions=..." (no stats). */
void flow_spec_format(const struct flow_spec *, struct ds *);
/* Appends just the match part ("tcp,in_port=1,nw_dst=10.0.0.0/24"), or
 * nothing for a catch-all.  Includes prog=NAME when given. */
void flow_match_format(const struct match *, const char *prog_name,
                       struct ds *);
/* Parses a packet description in flow syntax ("in_port=1,tcp,nw_src=...")
 * into a full flow key: fields not given are zero, and shorthands set
 * dl_type/nw_proto.  Masks are not allowed. */
char *flow_key_parse(struct flow_key *key, const char *text, int *err_col)
    WARN_UNUSED_RESULT;
/* Appends every non-zero field of a key in flow syntax. */
void flow_key_format(const struct flow_key *, struct ds *);

/* True if two specs are equal in every parsed attribute (the round-trip
 * property: parse(format(s)) equals s). */
bool flow_spec_equal(const struct flow_spec *, const struct flow_spec *);
/* True if [name, name + len) is a valid program name for prog=NAME and
 * actions=prog:NAME: 1 to 64 letters, digits, '_', '-' or '.'. */
bool flow_prog_name_valid(const char *name, size_t len);

#endif
