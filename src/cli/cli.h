/* The `sluice` command: subcommand table and the handlers it dispatches to.
 *
 * Every subcommand is one line of the table in main.c (struct cli_cmd): the
 * words that name it ("flow dump"), its handler, a one-line usage and the
 * help text.  `sluice --help` and `sluice CMD --help` are printed from the
 * same table, so help never drifts from what is accepted.
 *
 * A handler gets argc/argv where argv[0] is the command's words ("flow
 * dump") and argv[1..] are the arguments after them, so getopt_long() works
 * unchanged (the dispatcher itself never calls getopt).  It returns the
 * process exit status: 0 success, 1 failure (bad configuration, unreadable
 * file, ...), CLI_EXIT_USAGE (2) for a usage error, preferably through
 * cli_usage_error(), which also prints the usage line. */
#ifndef CLI_CLI_H
#define CLI_CLI_H 1

#include <stdbool.h>

#include "core/compiler.h"

#define CLI_EXIT_USAGE 2

struct cli_cmd {
    const char *words;                 /* Command words, e.g. "flow dump". */
    int (*run)(int argc, char **argv); /* Handler; returns exit status. */
    const char *usage; /* Arguments after the words, one line. */
    const char *help;  /* Description and options, '\n'-separated. */
};

/* Prints "sluice WORDS: MESSAGE" and the usage line of the command being
 * run to stderr; returns CLI_EXIT_USAGE for 'return cli_usage_error(...)'. */
int cli_usage_error(const char *fmt, ...) PRINTF_FORMAT(1, 2);
/* Reports the option getopt_long() stopped at (unknown, or missing its
 * value) as a usage error; handlers set 'opterr' to 0 so that this is the
 * only message.  Returns CLI_EXIT_USAGE. */
int cli_bad_option(char **argv);
/* Prints "sluice: MESSAGE" to stderr; returns 1. */
int cli_error(const char *fmt, ...) PRINTF_FORMAT(1, 2);

/* Handlers, one per table line.  cli_run.c: */
int cli_cmd_run(int argc, char **argv);       /* sluice run */
int cli_cmd_trace(int argc, char **argv);     /* sluice trace */
int cli_cmd_flow_dump(int argc, char **argv); /* sluice flow dump */

/* cli_switch.c: */
int cli_cmd_switch(int argc, char **argv); /* sluice switch */

/* cli_ctl.c: commands sent to a running switch over its control socket
 * (the handler reads argv[0], the command words, as the request's
 * command).  flow dump and trace pick their offline form (above) when
 * their first argument is an existing file. */
int cli_cmd_ctl(int argc, char **argv);
int cli_cmd_flow_dump_any(int argc, char **argv);
int cli_cmd_trace_any(int argc, char **argv);
/* cli_run.c: offline `prog show CONFIG`, `map dump|lookup CONFIG ...`. */
int cli_cmd_state_offline(int argc, char **argv);
/* cli_ctl.c: offline when given a CONFIG file, else the running switch. */
int cli_cmd_state_any(int argc, char **argv);

/* cli_bpf.c: */
struct bpf_object;
/* Opens the eBPF object 'path' (not verified); on failure prints the
 * loader's message ("sluice: FILE: section 'xdp': ...") and returns NULL. */
struct bpf_object *cli_open_object(const char *path);
int cli_cmd_prog_dump(int argc, char **argv);  /* sluice prog dump */
int cli_cmd_prog_run(int argc, char **argv);   /* sluice prog run */
int cli_cmd_prog_check(int argc, char **argv); /* sluice prog check */
int cli_cmd_bpf_asm(int argc, char **argv);    /* sluice bpf asm */
int cli_cmd_bpf_disasm(int argc, char **argv); /* sluice bpf disasm */
int cli_cmd_bpf_exec(int argc, char **argv);   /* sluice bpf exec */

/* cli_state.c: */
int cli_cmd_state(int argc, char **argv);      /* sluice state */

/* cli_contract.c: `contract` and `contract check` (argv[0] tells). */
int cli_cmd_contract(int argc, char **argv);
/* Applies one --setup line ("nf nat ...", "nf route load FILE", "map
 * update MAP KEY VALUE", ...) to 'obj'; returns NULL or an allocated
 * message that quotes the line. */
char *cli_contract_setup(struct bpf_object *obj, const char *text);
/* cli_contract_worst.c: `contract worst`. */
int cli_cmd_contract_worst(int argc, char **argv);

#endif
