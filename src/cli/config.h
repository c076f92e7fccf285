/* Configuration files: one command per line, the same commands the CLI
 * takes ("port add 1 pcap:rx=in.pcap", "flow add table=0,...").
 *
 * '#' starts a comment that runs to the end of the line; blank lines are
 * ignored.  A bad line stops loading with "CONFIG:LINE:COLUMN: reason",
 * the column pointing at the offending token (for a flow, at the bad field
 * inside it).  Nothing is processed before the whole file was accepted. */
#ifndef CLI_CONFIG_H
#define CLI_CONFIG_H 1

#include <stdint.h>

#include "core/compiler.h"

struct dp;

enum config_flags {
    /* Open the ports' files.  Without it ports are only checked and
     * declared (flow dump, trace): no file is read or created. */
    CONFIG_OPEN_PORTS = 1 << 0,
};

/* Loads the file 'path' into 'dp'.  Port commands run as they are read;
 * the others (flows, ...) run afterwards in file order, at the packet time
 * of the first input packet (dp_start_time()) so that rule timeouts run in
 * packet time.  Relative file names in port specs are resolved against the
 * directory of 'path'.  Returns NULL or an allocated
 * "PATH:LINE:COLUMN: reason" (or "PATH: reason" if it cannot be read). */
char *config_load(struct dp *, const char *path,
                  unsigned int flags) WARN_UNUSED_RESULT;

/* Runs one command line at once (comments allowed) against 'dp', with
 * 'base_dir' for relative paths (NULL: current directory) and 'now_ns' as
 * the time for new rules.  Returns NULL or an allocated reason with the
 * 1-based column in '*err_col'. */
char *config_exec_line(struct dp *, const char *line, const char *base_dir,
                       unsigned int flags, uint64_t now_ns,
                       int *err_col) WARN_UNUSED_RESULT;

/* The directory relative paths in 'config_path' are resolved against
 * (allocated; "." when it has no directory part). */
char *config_base_dir(const char *config_path);

#endif
