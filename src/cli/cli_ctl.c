/* The control-socket client commands: `sluice flow add|del|mod|dump`,
 * `sluice port ...`, `sluice prog load|unload|show`, `sluice map ...`,
 * `sluice nf ...` (every network-function command of configuration
 * files, e.g. `sluice nf p0f load NAME FILE`), `sluice trace`,
 * `sluice stats`, `sluice reload`.
 *
 * Each sends its words and arguments as one request to the running switch
 * (src/ctl/ctl.h) and prints the answer: the text output, or with -j the
 * JSON result.  Options (-j, --ctl SOCKET, and --no-stats for flow dump)
 * may come anywhere after the command words.
 *
 * `sluice flow dump`, `sluice trace`, `sluice prog show` and `sluice map
 * dump|lookup` also have offline forms that take
 * a configuration file (cli_run.c).  The rule: when the first argument
 * that is not an option names an existing regular file, the command runs
 * offline on that configuration; otherwise (no argument, or a packet in
 * flow syntax for trace) it asks the running switch.  --ctl always means
 * the switch. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"
#include "core/util.h"
#include "ctl/ctl.h"

/* How long to wait for the switch's answer (a big flow dump takes a
 * while). */
#define CLI_CTL_TIMEOUT_MS 60000

/* Whether the arguments of 'words' may name files, which are then made
 * absolute: the switch resolves names in its own working directory. */
static bool
takes_files(const char *words)
{
    return !strcmp(words, "prog load") || !strcmp(words, "nf") ||
           !strcmp(words, "state import");
}

int
cli_cmd_ctl(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"json", no_argument, NULL, 'j'},
        {"ctl", required_argument, NULL, 's'},
        {"no-stats", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *words = argv[0];
    const char *ctl = NULL;
    json_t *req, *args, *resp = NULL, *v;
    bool json = false, no_stats = false;
    char *error = NULL;
    int c, err, status = 0;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "j", long_options, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 's':
            ctl = optarg;
            break;
        case 'n':
            if (strcmp(words, "flow dump")) {
                return cli_usage_error("--no-stats goes with flow dump");
            }
            no_stats = true;
            break;
        default:
            return cli_bad_option(argv);
        }
    }
    req = json_object();
    args = json_array();
    if (no_stats) {
        json_array_append_new(args, json_string("--no-stats"));
    }
    for (int i = optind; i < argc; i++) {
        struct stat st;
        char *real = NULL;

        if (takes_files(words) && !stat(argv[i], &st) &&
            S_ISREG(st.st_mode)) {
            real = realpath(argv[i], NULL);
        }
        json_array_append_new(args, json_string(real ? real : argv[i]));
        free(real);
    }
    json_object_set_new(req, "command", json_string(words));
    json_object_set_new(req, "args", args);
    json_object_set_new(req, "json", json_boolean(json));

    err =
        ctl_call(ctl_socket_path(ctl), req, CLI_CTL_TIMEOUT_MS, &resp, &error);
    json_decref(req);
    if (err) {
        cli_error("%s", error);
        free(error);
        return 1;
    }
    if (!json_is_true(json_object_get(resp, "ok"))) {
        v = json_object_get(resp, "error");
        cli_error("%s: %s", words,
                  json_is_string(v) ? json_string_value(v) : "failed");
        status = 1;
    } else if (json) {
        char *text =
            json_dumps(json_object_get(resp, "result"),
                       JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

        printf("%s\n", text ? text : "null");
        free(text);
    } else {
        const char *text = json_string_value(json_object_get(resp, "output"));

        if (text && text[0]) {
            fputs(text, stdout);
            if (text[strlen(text) - 1] != '\n') {
                putchar('\n');
            }
        }
    }
    json_decref(resp);
    return status;
}

/* Whether the command's first non-option argument is an existing file
 * (and --ctl was not given): then it runs offline.  Options that take a
 * value are skipped with it. */
static bool
offline_form(int argc, char **argv)
{
    static const char *const valued[] = {"--ctl", "--pcap", "--index",
                                         "--in-port"};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        struct stat st;
        bool skip = false;

        if (!strcmp(a, "--ctl") || !strncmp(a, "--ctl=", 6)) {
            return false;
        }
        if (!strcmp(a, "--")) {
            continue;
        }
        if (a[0] == '-') {
            for (size_t k = 0; k < ARRAY_SIZE(valued); k++) {
                skip |= !strcmp(a, valued[k]);
            }
            i += skip;
            continue;
        }
        return !stat(a, &st) && S_ISREG(st.st_mode);
    }
    return false;
}

int
cli_cmd_flow_dump_any(int argc, char **argv)
{
    return offline_form(argc, argv) ? cli_cmd_flow_dump(argc, argv)
                                    : cli_cmd_ctl(argc, argv);
}

int
cli_cmd_trace_any(int argc, char **argv)
{
    return offline_form(argc, argv) ? cli_cmd_trace(argc, argv)
                                    : cli_cmd_ctl(argc, argv);
}

int
cli_cmd_state_any(int argc, char **argv)
{
    return offline_form(argc, argv) ? cli_cmd_state_offline(argc, argv)
                                    : cli_cmd_ctl(argc, argv);
}
