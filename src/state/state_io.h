/* Export and import of a loaded program's updateable state (issue 9).
 *
 * `state export NAME [--match FLOW]` writes the entries of the maps the
 * state analysis says program NAME updates (never its configuration) as a
 * versioned text file (docs/state.md, "File format"); with --match only
 * the entries a flow matching FLOW may use.  `state import NAME FILE`
 * checks that the file was made from the same object file and map layouts
 * and writes the entries back, flow-table entries into their old slots. */
#ifndef STATE_STATE_IO_H
#define STATE_STATE_IO_H 1

#include <stdbool.h>

#include "core/compiler.h"
#include "core/util.h"

struct flow_progs;

#define STATE_FILE_FORMAT "sluice-state"
#define STATE_FILE_VERSION 1

/* Runs `state export ...` or `state import ...`: 'argv' are the words
 * after "state".  Export writes the file's text to 'out'; import writes a
 * summary (text, or JSON with 'json').  Returns NULL or an allocated
 * reason naming what is wrong (a header field that does not match, a line
 * that does not parse). */
char *state_cmd(struct flow_progs *, int argc, char *const *argv, bool json,
                struct ds *out) WARN_UNUSED_RESULT;

#endif /* STATE_STATE_IO_H */
