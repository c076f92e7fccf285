/* Loaded eBPF programs, by name, as the pipeline uses them (Oko's design).
 *
 * `prog load NAME FILE.o [SECTION] [rodata.VAR=VALUE ...]` opens the object
 * with the eBPF runtime (src/bpf), verifies the chosen program and registers
 * it under NAME.  Rules then name it as a filter (`prog=NAME` in the match:
 * the rule matches only if the program returns non-zero) or as an action
 * (`actions=prog:NAME`: XDP verdicts).  The registry adapts a program to
 * struct pipeline_prog: it builds the XDP context from the packet, runs the
 * program at the packet's time, applies head/tail adjustments to the packet
 * and re-parses it when the program may have changed it.
 *
 * Map commands (`map dump|lookup|update|delete NAME MAP ...`) address a
 * program's maps through the same names. */
#ifndef FLOW_FLOW_PROG_H
#define FLOW_FLOW_PROG_H 1

#include <stdbool.h>
#include <stddef.h>

#include "core/compiler.h"
#include "core/util.h"
#include "pipeline.h"

struct flow_progs;
struct bpf_object;
struct bpf_prog;

struct flow_progs *flow_progs_create(void);
/* Frees every program; rules that used them must be gone. */
void flow_progs_destroy(struct flow_progs *);

/* Loads and verifies.  'section' may be NULL (the object's only program, or
 * its first one).  'rodata' holds "VAR=VALUE" strings (the "rodata." prefix
 * already removed).  Returns NULL or an allocated reason. */
char *flow_progs_load(struct flow_progs *, const char *name, const char *path,
                      const char *section, char *const *rodata,
                      size_t n_rodata) WARN_UNUSED_RESULT;
/* Unloads; fails while a rule still uses the program. */
char *flow_progs_unload(struct flow_progs *, const char *name)
    WARN_UNUSED_RESULT;

/* pipeline_prog_lookup_cb for pipeline_set_prog_lookup(): 'aux' is the
 * struct flow_progs. */
struct pipeline_prog *flow_progs_lookup(void *aux, const char *name);
struct bpf_object *flow_progs_object(const struct flow_progs *,
                                     const char *name);
/* The verified program of NAME (borrowed), with its object file's path in
 * '*path' if 'path' is not NULL; NULL if no such program is loaded. */
const struct bpf_prog *flow_progs_prog(const struct flow_progs *,
                                       const char *name, const char **path);

/* The verified programs loaded now, newest first: stores up to 'max' of
 * them in 'progs' (borrowed; valid until unloaded) and returns how many
 * are loaded.  The live switch analyses them to choose its steering. */
size_t flow_progs_list(const struct flow_progs *,
                       const struct bpf_prog **progs, size_t max);

/* `prog show`: per program its file, section, instruction count, runs,
 * matches (non-zero returns), instructions executed and run time. */
void flow_progs_show(const struct flow_progs *, bool json, struct ds *);

/* `map dump NAME MAP`, `map lookup NAME MAP KEY_HEX`,
 * `map update NAME MAP KEY_HEX VALUE_HEX [any|noexist|exist]`,
 * `map delete NAME MAP KEY_HEX`: 'args' are the words after "map".
 * Output (dump / lookup) goes to 'out', as text or JSON.  Returns NULL or
 * an allocated reason (e.g. "key is 3 bytes, map 'conns' needs 16"). */
char *flow_progs_map_cmd(struct flow_progs *, int argc, char *const *argv,
                         bool json, struct ds *out) WARN_UNUSED_RESULT;

#endif
