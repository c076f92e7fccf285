/* The live datapath: `sluice switch`'s packet threads and the control
 * operations that change them while traffic flows.
 *
 * One control thread (the caller of every dpl_* function) owns the
 * configuration; N datapath threads poll live ports and run packets to
 * completion.  A change never stops or locks the datapath: the control
 * thread builds a new version of the tables and port set and publishes it
 * by pointer swap (see dp_live.c for the design). */
#ifndef DP_DP_LIVE_H
#define DP_DP_LIVE_H 1

#include <stdbool.h>
#include <stddef.h>

#include "core/compiler.h"
#include "core/util.h"

/* Most datapath threads. */
#define DPL_MAX_THREADS 64
/* Empty polls of all its ports after which a datapath thread sleeps in
 * poll() on the ports' descriptors instead of spinning. */
#define DPL_IDLE_POLLS 64
/* Longest such sleep (ms): bounds how long stopping a thread takes and
 * covers ports without a descriptor to poll. */
#define DPL_IDLE_SLEEP_MS 100

struct dpl;

/* Creates an empty switch with 'n_threads' datapath threads (not started). */
struct dpl *dpl_create(unsigned int n_threads);
/* Starts the datapath threads.  Returns 0 or a negative errno. */
int dpl_start(struct dpl *, char **errp);
/* Stops the threads, closes every port (rings unmapped) and frees all. */
void dpl_destroy(struct dpl *);

/* Loads the configuration file 'path' (the same commands as `sluice run`
 * configs, with live port specs), replacing the current configuration.
 * Unchanged ports stay open; flows whose text did not change keep their
 * counters and age.  On error nothing changes.  Returns NULL or an
 * allocated "PATH:LINE:COLUMN: reason". */
char *dpl_load_config(struct dpl *, const char *path) WARN_UNUSED_RESULT;

/* Runs a control command: 'command' names it ("flow add", "port show",
 * ...), 'argv' are its arguments.  Output goes to 'out' (JSON text when
 * 'json').  Returns NULL or an allocated reason; a failed command changes
 * nothing. */
char *dpl_command(struct dpl *, const char *command, size_t argc,
                  const char *const *argv, bool json,
                  struct ds *out) WARN_UNUSED_RESULT;

/* Housekeeping, about once a second: rule idle/hard timeouts (wall clock)
 * and rule ages. */
void dpl_tick(struct dpl *);

#endif
