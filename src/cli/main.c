/* sluice: the command-line entry point.
 *
 * One binary with subcommands in the style of `ip` and `bpftool`.  The
 * table below is the only list of subcommands: dispatch, `sluice --help`
 * and `sluice CMD --help` are all generated from it.
 *
 * Adding a command (for other files of src/cli/):
 *   1. declare the handler in cli.h:  int cli_cmd_prog_run(int, char **);
 *   2. add one line to 'commands' below:
 *        { "prog run", cli_cmd_prog_run, "FILE.o [--section S] ...",
 *          "Runs a program once...\n  --section S   program section" },
 *   3. list the .c file in src/cli/meson.build.
 * The handler receives argv[0] = the command words and argv[1..] = the
 * arguments after them, and returns the exit status (0, 1, or
 * CLI_EXIT_USAGE via cli_usage_error()).
 *
 * Dispatch picks the table entry whose words match the most leading
 * arguments ("flow dump" beats a hypothetical "flow"), so commands can share
 * a first word.  Global options (-v, --log LEVEL) may appear before the
 * command words or anywhere among the arguments before a "--"; they are
 * removed before the handler sees argv.  `--help`/`-h` anywhere prints the
 * command's help and exits 0. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/log.h"
#include "ctl/ctl.h"

/* In cli_state.c (the client of `state export`). */
int cli_cmd_state_export(int argc, char **argv);

static const struct cli_cmd commands[] = {
    {"run", cli_cmd_run, "CONFIG [-j]",
     "Runs CONFIG offline over its pcap ports and prints statistics.\n"
     "Every packet of the input pcaps is processed to the end (inputs\n"
     "merged in timestamp order, ties to the lower port), the output pcaps\n"
     "are written (timestamps kept) and statistics printed as text:\n"
     "  port N SPEC: rx_packets=N rx_bytes=N tx_packets=N tx_bytes=N "
     "drops=N errors=N\n"
     "    parse_errors: REASON=N ... | none\n"
     "  flows:\n"
     "  FLOW LINES (as 'sluice flow dump', with statistics)\n"
     "  progs:                     (only if CONFIG loads programs)\n"
     "  NAME: FILE section S (FUNCTION), N insns\n"
     "      runs N, matches N, insns executed N, X ns/run\n"
     "  drops: REASON=N ... | none\n"
     "  parse_errors: REASON=N ... | none   (totals over all ports)\n"
     "  -j, --json   print one JSON document instead:\n"
     "               {\"ports\": [{\"port\": N, \"spec\": S, "
     "\"rx_packets\": N,\n"
     "                 \"rx_bytes\": N, \"tx_packets\": N, "
     "\"tx_bytes\": N,\n"
     "                 \"drops\": N, \"errors\": N,\n"
     "                 \"parse_errors\": {REASON: N, ...}}, ...],\n"
     "                \"flows\": [per-rule statistics],\n"
     "                \"progs\": [{\"name\", \"file\", \"section\", "
     "\"function\",\n"
     "                  \"insns\", \"runs\", \"matches\", "
     "\"insns_executed\",\n"
     "                  \"ns\", \"ns_per_run\"}, ...],\n"
     "                \"drops\": {REASON: N, ...},\n"
     "                \"parse_errors\": {REASON: N, ...}}\n"
     "               Every reason is present, zeros included.\n"
     "Exit status: 0, or 1 if CONFIG is bad (nothing is processed) or an\n"
     "I/O error happened."},
    {"trace", cli_cmd_trace_any,
     "CONFIG (PACKET | --pcap FILE --index N) [-j] | PACKET [-j] [--ctl S]",
     "Traces one packet through the flow tables of CONFIG.\n"
     "Prints, table by table, the rule that matched (priority and text),\n"
     "the actions run, the packet after rewrites and the final verdict,\n"
     "like ovs-appctl ofproto/trace.  No file of CONFIG is read or written.\n"
     "  PACKET         flow syntax, e.g. in_port=1,tcp,nw_src=10.0.0.1,"
     "tp_dst=80\n"
     "  --pcap FILE    take the packet from FILE ...\n"
     "  --index N      ... the N-th one, counting from 0 (default 0)\n"
     "  --in-port N    ingress port for --pcap (default: the port of CONFIG\n"
     "                 that reads FILE)\n"
     "  -j, --json     print the trace as a JSON object\n"
     "Without CONFIG (the first argument is not an existing file) the\n"
     "packet is traced through the running switch's tables instead\n"
     "(--ctl SOCKET, default $SLUICE_CTL or " CTL_DEFAULT_PATH ")."},
    {"flow dump", cli_cmd_flow_dump_any,
     "CONFIG [--no-stats] | [--no-stats] [-j] [--ctl S]",
     "Prints the flows of CONFIG in canonical ovs-ofctl form.\n"
     "Table by table, priority descending, in ovs-ofctl dump-flows format;\n"
     "each line parses back to the same flow.  No file of CONFIG is read\n"
     "or written, so the statistics are all zero.\n"
     "  --no-stats   omit the cookie/duration/n_packets/... prefix\n"
     "Without CONFIG (no argument, or not an existing file) the flows of\n"
     "the running switch are printed, with live statistics (-j: JSON).\n"
     "The rule: an existing file argument means offline."},
    {"switch", cli_cmd_switch,
     "[--config FILE] [--ctl SOCKET] [--detach --pidfile FILE] "
     "[--threads N]",
     "Runs the switch on live ports (afpacket:IF, afxdp:IF[,queue=Q],\n"
     "tap:NAME) until SIGTERM or SIGINT.  Other sluice commands talk to it\n"
     "over its control socket (JSON lines; see docs/switch.md).\n"
     "  --config FILE   load FILE first (same commands as run configs);\n"
     "                  SIGHUP or 'sluice reload' loads it again, keeping\n"
     "                  unchanged flows and their counters\n"
     "  --ctl SOCKET    control socket (default $SLUICE_CTL, else\n"
     "                  " CTL_DEFAULT_PATH ")\n"
     "  --detach        run in the background once ready\n"
     "  --pidfile FILE  write the process id to FILE\n"
     "  --threads N     datapath threads (default 1); ports are spread\n"
     "                  over them"},
    {"flow add", cli_cmd_ctl, "FLOW [-j] [--ctl S]",
     "Adds FLOW to the running switch (OpenFlow add: a flow with the same\n"
     "table, priority and match is replaced, counters reset)."},
    {"flow del", cli_cmd_ctl, "[MATCH] [--ctl S]",
     "Deletes the running switch's flows covered by MATCH (non-strict, as\n"
     "ovs-ofctl del-flows; no MATCH deletes all)."},
    {"flow mod", cli_cmd_ctl, "FLOW [--ctl S]",
     "OpenFlow modify (non-strict): the flows covered by FLOW's match get\n"
     "its actions and keep their counters and age."},
    {"port add", cli_cmd_ctl, "N TYPE:ARGS [--ctl S]",
     "Opens a live port on the running switch as port N."},
    {"port del", cli_cmd_ctl, "N [--ctl S]",
     "Removes port N from the running switch and closes it."},
    {"port show", cli_cmd_ctl, "[-j] [--ctl S]",
     "Per port: spec, thread, rx/tx packets and bytes, parse errors,\n"
     "drops and errors."},
    {"prog load", cli_cmd_ctl,
     "NAME FILE.o [SECTION] [rodata.VAR=VALUE ...] [--ctl S]",
     "Loads and verifies a program into the running switch."},
    {"prog unload", cli_cmd_ctl, "NAME [--ctl S]",
     "Unloads a program no flow uses."},
    {"prog show", cli_cmd_state_any, "[CONFIG] [-j] [--ctl S]",
     "Loaded programs with their run statistics (runs, matches,\n"
     "instructions executed, ns per run).  With CONFIG: processes its\n"
     "inputs like `sluice run` (writing its outputs), then shows them."},
    {"map dump", cli_cmd_state_any, "[CONFIG] NAME MAP [-j] [--ctl S]",
     "Prints every entry of a program's map (with CONFIG: after\n"
     "processing its inputs, as prog show does)."},
    {"map lookup", cli_cmd_state_any,
     "[CONFIG] NAME MAP KEY_HEX [-j] [--ctl S]",
     "Prints one entry of a program's map (CONFIG: as map dump)."},
    {"map update", cli_cmd_ctl,
     "NAME MAP KEY_HEX VALUE_HEX [any|noexist|exist] [--ctl S]",
     "Writes one entry of a program's map."},
    {"map delete", cli_cmd_ctl, "NAME MAP KEY_HEX [--ctl S]",
     "Deletes one entry of a program's map."},
    {"nf", cli_cmd_ctl, "SUBCOMMAND ARGS... [--ctl S]",
     "Sends a network-function command of configuration files (nf p0f\n"
     "load NAME FILE, nf route load ..., nf nat ..., ...) to the running\n"
     "switch; arguments naming existing files are made absolute."},
    {"stats", cli_cmd_ctl, "[-j] [--ctl S]",
     "Per datapath thread: packets, batches, average batch, ns per packet,\n"
     "polls, idle polls, sleeps; drop counters; rule and port counts."},
    {"reload", cli_cmd_ctl, "[--ctl S]",
     "Makes the running switch load its --config file again (as SIGHUP)."},
    {"state", cli_cmd_state, "FILE.o [--section S] [--bytes] [-j]",
     "State analysis: for each map of each program, whether the packet\n"
     "path reads or updates it, the packet fields indexing it, its class\n"
     "(per-flow, multi-flow, all-flows, configuration), whether its values\n"
     "influence the output, whether that is exact, and its key layout.\n"
     "  --bytes   add the bytes a naive copy of all maps moves for one\n"
     "            flow against the export of its updateable state\n"
     "  -j        JSON"},
    {"state export", cli_cmd_state_export, "NAME [--match FLOW] [--ctl S]",
     "Prints the updateable state of the running switch's program NAME\n"
     "(the maps it updates, not its configuration) in the versioned state\n"
     "file format (docs/state.md); redirect it to a file.\n"
     "  --match FLOW   only entries a flow matching FLOW may use (entries\n"
     "                 whose key does not say are kept)"},
    {"state import", cli_cmd_ctl, "NAME FILE [--ctl S]",
     "Writes the state in FILE (from 'state export') into program NAME\n"
     "of the running switch; refuses a file of another object file or\n"
     "map layout, naming the field that differs."},
    {"prog check", cli_cmd_prog_check, "FILE.o [-j]",
     "Verifies every program of FILE.o: per section, accepted or rejected,\n"
     "instructions, instructions processed, states, verification time; on\n"
     "rejection the reason code, the message and the instructions around\n"
     "the culprit.  -j: JSON.  Exit status 0 only if all are accepted."},
    {"prog dump", cli_cmd_prog_dump, "FILE.o [--section S] [--jited]",
     "Disassembles every program of FILE.o (or the one in section S).\n"
     "  --section S   only the program of section (or function) S\n"
     "  --jited       verify and JIT it; show each instruction's x86-64 code\n"
     "                (disassembled when objdump is on PATH, else hex) and\n"
     "                the code size"},
    {"prog run", cli_cmd_prog_run,
     "FILE.o [--section S] (--packet HEX | --pcap F [--index N]) "
     "[--repeat N] [--interpret|--jit] [-j]",
     "Verifies and runs an XDP program on one packet; prints the return\n"
     "value, the packet after the run (hex), the median time per run and\n"
     "the engine that ran it.\n"
     "  --section S   program section or function (needed if several)\n"
     "  --packet HEX  the packet, as hex digits\n"
     "  --pcap F      take the packet from pcap file F ...\n"
     "  --index N     ... the N-th one, counting from 0 (default 0)\n"
     "  --repeat N    run N times on fresh copies (default 1)\n"
     "  --interpret   run in the interpreter\n"
     "  --jit         run in the JIT (an error if it cannot take the\n"
     "                program); default: the runtime's choice\n"
     "  -j, --json    print a JSON object"},
    {"contract", cli_cmd_contract,
     "FILE.o [--section S] [--rodata VAR=VALUE]... [--max-paths N] [-j]",
     "Performance contract: per program its input classes (feasible paths\n"
     "grouped by helper calls, their outcomes and their costs), each\n"
     "described by its packet conditions, with bounds on eBPF\n"
     "instructions, memory accesses, helper calls and x86 instructions as\n"
     "constant + sum(coef * PCV) (docs/contracts.md).\n"
     "  --section S      only the program of section (or function) S\n"
     "  --rodata V=X     set .rodata variable V (repeatable)\n"
     "  --max-paths N    stop enumerating after N paths (default 200000)\n"
     "  -j, --json       print JSON"},
    {"contract check", cli_cmd_contract,
     "FILE.o --pcap F[@PORT]... [--workload NAME --pcap ...]... "
     "[--section S] [--rodata VAR=VALUE]... [--setup LINE]... [--no-x86] "
     "[-j]",
     "Runs the program over the packets of the traces (merged by\n"
     "timestamp, each at its timestamp) and compares each packet's measured\n"
     "eBPF instructions, memory accesses, helper calls (counting\n"
     "interpreter) and x86 instructions (JIT, single-stepped) with the\n"
     "bound of its class at the PCVs observed (a path the enumeration did\n"
     "not reach is followed from the run and its class added, 'traced').\n"
     "Prints per class the packets and the largest and mean gaps.  Exit\n"
     "status 1 if any packet exceeds its bound (named with its index,\n"
     "class and metric) or has no class.\n"
     "  --pcap F[@PORT]  a trace whose packets arrive on PORT (default 1)\n"
     "  --workload NAME  the --pcap options after it form workload NAME,\n"
     "                   run on fresh copies of the program\n"
     "  --setup LINE     configure the program like a config file line\n"
     "                   without the program name: 'nf nat ARGS',\n"
     "                   'nf port P MAC NEXTHOP', 'nf route load FILE',\n"
     "                   'nf bridge static MAC IN OUT', 'nf p0f load FILE',\n"
     "                   'nf lb backends FILE ARGS', 'map update MAP K V'\n"
     "  --no-x86         skip the JIT measurement\n"
     "  hash maps use seed 0 so that both copies agree"},
    {"contract worst", cli_cmd_contract_worst,
     "FILE.o -o OUT.pcap [--section S] [--packets N] [--setup LINE]...",
     "Writes packets that drive the program's most expensive map work\n"
     "with the largest PCVs it can construct: keys that all fall into one\n"
     "bucket of its flow table (hash seed 0, as contract check and tests\n"
     "use), inserted one by one, then lookups of the deepest one; for an\n"
     "expiring flow table, waits of its timeout between fills so that\n"
     "single calls expire the most entries; for an LPM lookup, the\n"
     "deepest prefix.  Prints the PCVs reached and the mean x86\n"
     "instructions against the uniform workload (docs/contracts.md).\n"
     "  -o, --output F   the pcap to write\n"
     "  --section S      the program of section (or function) S\n"
     "  --packets N      packets to write (default 256)\n"
     "  --setup LINE     configuration, as for contract check (repeatable;\n"
     "                   replay the pcap with the same lines)"},
    {"bpf asm", cli_cmd_bpf_asm, "< TEXT > BYTECODE",
     "Assembles eBPF text (as 'sluice bpf disasm' prints it) from stdin\n"
     "into raw 8-byte instructions on stdout."},
    {"bpf disasm", cli_cmd_bpf_disasm, "< BYTECODE",
     "Disassembles raw 8-byte eBPF instructions from stdin."},
    {"bpf exec", cli_cmd_bpf_exec, "[MEMORY_HEX] [--interpret|--jit]",
     "Runs raw instructions from stdin with r1 = MEMORY, r2 = its length;\n"
     "prints r0 in hex.  Load, verification or run errors go to stderr\n"
     "with a non-zero exit status.\n"
     "  --interpret   use the interpreter (default)\n"
     "  --jit         use the JIT (an error where it is not available or\n"
     "                cannot take the program)"},
};

static const struct cli_cmd *current_cmd;

int
cli_usage_error(const char *fmt, ...)
{
    va_list args;

    fprintf(stderr, "sluice%s%s: ", current_cmd ? " " : "",
            current_cmd ? current_cmd->words : "");
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    if (current_cmd) {
        fprintf(stderr, "usage: sluice %s %s\n", current_cmd->words,
                current_cmd->usage);
        fprintf(stderr, "(try 'sluice %s --help')\n", current_cmd->words);
    }
    return CLI_EXIT_USAGE;
}

int
cli_bad_option(char **argv)
{
    return cli_usage_error("bad option '%s'", argv[optind - 1]);
}

int
cli_error(const char *fmt, ...)
{
    va_list args;

    fputs("sluice: ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    return 1;
}

/* Prints the first line of each command whose words start with 'prefix'
 * (all when NULL). */
static void
list_commands(FILE *out, const char *prefix)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        const struct cli_cmd *c = &commands[i];
        const char *nl = strchr(c->help, '\n');
        int help_len = nl ? (int)(nl - c->help) : (int)strlen(c->help);

        if (prefix && strncmp(c->words, prefix, strlen(prefix))) {
            continue;
        }
        fprintf(out, "  sluice %s %s\n      %.*s\n", c->words, c->usage,
                help_len, c->help);
    }
}

static void
print_main_help(FILE *out)
{
    fputs("usage: sluice [-v | --log [MODULE:]LEVEL] COMMAND [ARGS]\n"
          "\n"
          "sluice: a software switch running OpenFlow-style tables, with\n"
          "verified eBPF programs as filters and actions, over pcap files\n"
          "(offline: sluice run) or live ports (sluice switch).\n"
          "\n"
          "Global options:\n"
          "  -v                      more log output (repeat for debug)\n"
          "  --log [MODULE:]LEVEL    log level: off, err, warn, info, dbg\n"
          "  -h, --help              this help; 'sluice CMD --help' for "
          "one command\n"
          "\n"
          "Commands:\n",
          out);
    list_commands(out, NULL);
}

static void
print_cmd_help(const struct cli_cmd *c)
{
    printf("usage: sluice %s %s\n\n%s\n", c->words, c->usage, c->help);
}

/* Number of leading arguments of argv[0..argc) that equal c's words, or 0
 * if they do not all match. */
static int
match_words(const struct cli_cmd *c, int argc, char **argv)
{
    const char *w = c->words;
    int n = 0;

    while (*w) {
        size_t len = strcspn(w, " ");

        if (n >= argc || strlen(argv[n]) != len || strncmp(argv[n], w, len)) {
            return 0;
        }
        n++;
        w += len;
        w += strspn(w, " ");
    }
    return n;
}

/* Applies "--log LEVEL" or "--log MODULE:LEVEL".  Returns 0 or
 * CLI_EXIT_USAGE. */
static int
apply_log_option(const char *arg)
{
    const char *colon = strchr(arg, ':');
    int level = log_level_from_string(colon ? colon + 1 : arg);

    if (level < 0) {
        return cli_usage_error("unknown log level '%s' (off, err, warn, "
                               "info, dbg)",
                               colon ? colon + 1 : arg);
    }
    if (colon) {
        char *module = strndup(arg, colon - arg);
        int err = log_set_level(module, level);

        if (err) {
            cli_usage_error("unknown log module '%s'", module);
            free(module);
            return CLI_EXIT_USAGE;
        }
        free(module);
    } else {
        log_set_level_all(level);
    }
    return 0;
}

/* Removes global options from argv[first..argc) in place (up to "--"),
 * applying them.  '*helpp' is set when --help/-h is seen.  Returns 0 or
 * CLI_EXIT_USAGE. */
static int
strip_global_options(int *argcp, char **argv, int first, bool *helpp)
{
    int verbose = 0; /* -v seen so far: 1 = info, 2 = debug. */
    int out = first;
    int argc = *argcp;
    bool rest = false;

    for (int i = first; i < argc; i++) {
        const char *a = argv[i];

        if (rest) {
            argv[out++] = argv[i];
        } else if (!strcmp(a, "--")) {
            rest = true;
            argv[out++] = argv[i];
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            /* Applied at once, so options act in the order given. */
            verbose = MIN(verbose + 1, 2);
            log_set_level_all(verbose == 1 ? LOG_LEVEL_INFO : LOG_LEVEL_DBG);
        } else if (!strcmp(a, "-vv")) {
            verbose = 2;
            log_set_level_all(LOG_LEVEL_DBG);
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *helpp = true;
        } else if (!strcmp(a, "--log") || !strncmp(a, "--log=", 6)) {
            const char *val = a[5] == '=' ? a + 6 : NULL;
            int err;

            if (!val) {
                if (i + 1 >= argc) {
                    return cli_usage_error("--log needs a LEVEL");
                }
                val = argv[++i];
            }
            err = apply_log_option(val);
            if (err) {
                return err;
            }
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    *argcp = out;
    return 0;
}

int
main(int argc, char **argv)
{
    const struct cli_cmd *best = NULL;
    bool help = false;
    int best_n = 0;
    int err;

    err = strip_global_options(&argc, argv, 1, &help);
    if (err) {
        return err;
    }
    if (argc < 2) {
        if (help) {
            print_main_help(stdout);
            return 0;
        }
        print_main_help(stderr);
        return CLI_EXIT_USAGE;
    }

    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        int n = match_words(&commands[i], argc - 1, argv + 1);

        if (n > best_n) {
            best = &commands[i];
            best_n = n;
        }
    }
    if (!best) {
        /* A known first word ("sluice flow") lists its commands. */
        bool group = false;

        for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
            size_t len = strlen(argv[1]);

            if (!strncmp(commands[i].words, argv[1], len) &&
                commands[i].words[len] == ' ') {
                group = true;
            }
        }
        if (group) {
            FILE *out = help ? stdout : stderr;
            fprintf(out, "sluice %s commands:\n", argv[1]);
            list_commands(out, argv[1]);
            return help ? 0 : CLI_EXIT_USAGE;
        }
        fprintf(stderr,
                "sluice: unknown command '%s' "
                "(try 'sluice --help')\n",
                argv[1]);
        return CLI_EXIT_USAGE;
    }

    current_cmd = best;
    if (help) {
        print_cmd_help(best);
        return 0;
    }
    /* Hand the handler argv[0] = its words, then its arguments. */
    argv += best_n;
    argc -= best_n;
    argv[0] = (char *)best->words;
    return best->run(argc, argv);
}
