/* The offline commands: `sluice run`, `sluice trace`, `sluice flow dump`.
 *
 * Each loads a configuration into a fresh datapath.  Only `run` opens the
 * ports' files; trace and flow dump only need the port numbers and the
 * flows, so they never read or create a capture file of the config.
 *
 * Output formats are part of the interface (tests and scripts parse them)
 * and documented in the --help text in main.c. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "config.h"
#include "core/util.h"
#include "dp/dp.h"
#include "flow/flow_parse.h"
#include "flow/flow_prog.h"
#include "flow/pipeline.h"
#include "pkt/pkt.h"
#include "port/port.h"

/* Loads 'path' into a new datapath; on error prints it and returns NULL. */
static struct dp *
load_config(const char *path, unsigned int flags)
{
    struct dp *dp = dp_create();
    char *error = config_load(dp, path, flags);

    if (error) {
        fprintf(stderr, "%s\n", error);
        free(error);
        dp_destroy(dp);
        return NULL;
    }
    return dp;
}

/* Appends "name=N" for every non-zero counter, or "none". */
static void
put_reason_counts(struct ds *s, const uint64_t *counts, size_t n,
                  const char *(*name)(unsigned int), size_t first)
{
    bool any = false;

    for (size_t i = first; i < n; i++) {
        if (counts[i]) {
            ds_put_format(s, " %s=%llu", name(i),
                          (unsigned long long)counts[i]);
            any = true;
        }
    }
    if (!any) {
        ds_put_cstr(s, " none");
    }
}

static const char *
parse_err_name(unsigned int i)
{
    return pkt_parse_err_name(i);
}

static const char *
drop_name(unsigned int i)
{
    return pipeline_drop_name(i);
}

static json_t *
reason_object(const uint64_t *counts, size_t n,
              const char *(*name)(unsigned int), size_t first)
{
    json_t *o = json_object();

    for (size_t i = first; i < n; i++) {
        json_object_set_new(o, name(i), json_integer((json_int_t)counts[i]));
    }
    return o;
}

static void
print_run_text(struct dp *dp, uint64_t now)
{
    uint64_t parse_total[PKT_N_PARSE_ERRORS] = {0};
    uint64_t drops[PIPELINE_N_DROPS];
    struct ds s = DS_EMPTY_INITIALIZER;

    for (size_t i = 0; i < dp_n_ports(dp); i++) {
        const uint64_t *pe = dp_port_parse_errors(dp, i);
        struct port_stats st;

        dp_port_stats(dp, i, &st);
        ds_put_format(
            &s,
            "port %u %s: rx_packets=%llu rx_bytes=%llu "
            "tx_packets=%llu tx_bytes=%llu drops=%llu "
            "errors=%llu\n",
            dp_port_number(dp, i), dp_port_spec(dp, i),
            (unsigned long long)st.rx_packets, (unsigned long long)st.rx_bytes,
            (unsigned long long)st.tx_packets, (unsigned long long)st.tx_bytes,
            (unsigned long long)st.drops, (unsigned long long)st.errors);
        ds_put_cstr(&s, "  parse_errors:");
        put_reason_counts(&s, pe, PKT_N_PARSE_ERRORS, parse_err_name, 1);
        ds_put_char(&s, '\n');
        for (size_t r = 0; r < PKT_N_PARSE_ERRORS; r++) {
            parse_total[r] += pe[r];
        }
    }
    ds_put_cstr(&s, "flows:\n");
    pipeline_dump(dp_pipeline(dp), true, now, &s);
    if (s.len && s.buf[s.len - 1] != '\n') {
        ds_put_char(&s, '\n');
    }
    {
        /* Programs, only when a configuration loads some. */
        struct ds progs = DS_EMPTY_INITIALIZER;

        flow_progs_show(dp_progs(dp), false, &progs);
        if (progs.len) {
            ds_put_cstr(&s, "progs:\n");
            ds_put_cstr(&s, ds_cstr(&progs));
        }
        ds_destroy(&progs);
    }
    pipeline_drop_counts(dp_pipeline(dp), drops);
    ds_put_cstr(&s, "drops:");
    put_reason_counts(&s, drops, PIPELINE_N_DROPS, drop_name, 0);
    ds_put_cstr(&s, "\nparse_errors:");
    put_reason_counts(&s, parse_total, PKT_N_PARSE_ERRORS, parse_err_name, 1);
    ds_put_char(&s, '\n');
    fputs(ds_cstr(&s), stdout);
    ds_destroy(&s);
}

static int
print_run_json(struct dp *dp, uint64_t now)
{
    uint64_t parse_total[PKT_N_PARSE_ERRORS] = {0};
    uint64_t drops[PIPELINE_N_DROPS];
    struct ds flows = DS_EMPTY_INITIALIZER;
    json_t *doc = json_object();
    json_t *ports = json_array();
    json_error_t jerr;
    json_t *flows_json;
    char *text;

    for (size_t i = 0; i < dp_n_ports(dp); i++) {
        const uint64_t *pe = dp_port_parse_errors(dp, i);
        struct port_stats st;
        json_t *o;

        dp_port_stats(dp, i, &st);
        o = json_pack(
            "{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "port",
            (json_int_t)dp_port_number(dp, i), "spec", dp_port_spec(dp, i),
            "rx_packets", (json_int_t)st.rx_packets, "rx_bytes",
            (json_int_t)st.rx_bytes, "tx_packets", (json_int_t)st.tx_packets,
            "tx_bytes", (json_int_t)st.tx_bytes, "drops", (json_int_t)st.drops,
            "errors", (json_int_t)st.errors);
        json_object_set_new(
            o, "parse_errors",
            reason_object(pe, PKT_N_PARSE_ERRORS, parse_err_name, 1));
        json_array_append_new(ports, o);
        for (size_t r = 0; r < PKT_N_PARSE_ERRORS; r++) {
            parse_total[r] += pe[r];
        }
    }
    json_object_set_new(doc, "ports", ports);

    pipeline_dump_json(dp_pipeline(dp), now, &flows);
    flows_json = json_loads(ds_cstr(&flows), 0, &jerr);
    ds_destroy(&flows);
    if (!flows_json) {
        json_decref(doc);
        return cli_error("internal error: flow statistics are not valid "
                         "JSON: %s",
                         jerr.text);
    }
    json_object_set_new(doc, "flows", flows_json);

    flow_progs_show(dp_progs(dp), true, &flows);
    flows_json = json_loads(ds_cstr(&flows), 0, &jerr);
    ds_destroy(&flows);
    if (!flows_json) {
        json_decref(doc);
        return cli_error("internal error: program statistics are not "
                         "valid JSON: %s",
                         jerr.text);
    }
    json_object_set_new(doc, "progs", flows_json);

    pipeline_drop_counts(dp_pipeline(dp), drops);
    json_object_set_new(doc, "drops",
                        reason_object(drops, PIPELINE_N_DROPS, drop_name, 0));
    json_object_set_new(
        doc, "parse_errors",
        reason_object(parse_total, PKT_N_PARSE_ERRORS, parse_err_name, 1));
    text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text) {
        return cli_error("out of memory formatting JSON");
    }
    puts(text);
    free(text);
    return 0;
}

/* Parses the arguments of a command that takes one flag, the only entry of
 * 'long_options' (short forms in 'short_options'), and exactly one CONFIG,
 * left at argv[optind].  Sets '*flag' when the flag is given.  Returns 0 or
 * the usage exit status. */
static int
parse_flag_and_config(int argc, char **argv, const char *short_options,
                      const struct option *long_options, bool *flag)
{
    int c;

    *flag = false;
    opterr = 0;
    while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) !=
           -1) {
        if (c != long_options[0].val) {
            return cli_bad_option(argv);
        }
        *flag = true;
    }
    if (argc - optind != 1) {
        return cli_usage_error(argc - optind ? "too many arguments"
                                             : "missing CONFIG");
    }
    return 0;
}

int
cli_cmd_run(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    bool json;
    struct dp *dp;
    uint64_t now;
    int status;
    int err;

    status = parse_flag_and_config(argc, argv, "j", long_options, &json);
    if (status) {
        return status;
    }
    dp = load_config(argv[optind], CONFIG_OPEN_PORTS);
    if (!dp) {
        return 1;
    }
    err = dp_run(dp);
    now = dp_now(dp);
    status = json ? print_run_json(dp, now) : (print_run_text(dp, now), 0);
    if (err) {
        fprintf(stderr, "sluice run: I/O error while processing: %s\n",
                strerror(-err));
        status = 1;
    }
    dp_destroy(dp);
    return status;
}

/* Parses a non-negative decimal number for option 'name'. */
static int
parse_uint_option(const char *name, const char *s, unsigned long max,
                  unsigned long *valuep)
{
    unsigned long v;
    char *end;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (!s[0] || *end || s[0] == '-' || errno || v > max) {
        return cli_usage_error("bad %s '%s'", name, s);
    }
    *valuep = v;
    return 0;
}

/* Reads packet 'index' (0-based) of the capture 'path' into a new packet
 * (the caller frees it).  Returns 0 or 1 after printing the error. */
static int
read_pcap_packet(const char *path, unsigned long index, struct packet **pp)
{
    struct packet_batch b;
    struct port *port;
    unsigned long seen = 0;
    char *spec = xasprintf("pcap:rx=%s", path);
    char *error;
    int err;

    *pp = NULL;
    err = port_open(PORT_NUMBER_MIN, spec, NULL, &port, &error);
    free(spec);
    if (err) {
        cli_error("%s", error);
        free(error);
        return 1;
    }
    while ((err = port_rx_batch(port, &b)) > 0) {
        if (index < seen + b.count) {
            *pp = packet_clone(b.pkts[index - seen]);
            break;
        }
        seen += b.count;
    }
    port_close(port);
    if (!*pp) {
        return cli_error("%s: no packet at index %lu (the capture holds "
                         "%lu; indexes count from 0)",
                         path, index, seen);
    }
    return 0;
}

/* The port of 'dp' whose input is the file 'path', or 0. */
static uint32_t
find_input_port(struct dp *dp, const char *config_path, const char *path)
{
    char *base_dir = config_base_dir(config_path);
    uint32_t found = 0;

    for (size_t i = 0; !found && i < dp_n_ports(dp); i++) {
        char *file = port_spec_file(dp_port_spec(dp, i), base_dir, false);

        if (file && port_same_file(file, path)) {
            found = dp_port_number(dp, i);
        }
        free(file);
    }
    free(base_dir);
    return found;
}

int
cli_cmd_trace(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"json", no_argument, NULL, 'j'},
        {"pcap", required_argument, NULL, 'p'},
        {"index", required_argument, NULL, 'i'},
        {"in-port", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    unsigned long index = 0, in_port = 0;
    bool index_set = false;
    const char *pcap = NULL;
    const char *config;
    struct packet *p = NULL;
    struct ds out = DS_EMPTY_INITIALIZER;
    bool json = false;
    struct dp *dp;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "j", long_options, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'p':
            pcap = optarg;
            break;
        case 'i':
            if (parse_uint_option("--index", optarg, ULONG_MAX, &index)) {
                return CLI_EXIT_USAGE;
            }
            index_set = true;
            break;
        case 'P':
            if (parse_uint_option("--in-port", optarg, PORT_NUMBER_MAX,
                                  &in_port)) {
                return CLI_EXIT_USAGE;
            }
            if (in_port < PORT_NUMBER_MIN) {
                return cli_usage_error("--in-port must be %d..%d",
                                       PORT_NUMBER_MIN, PORT_NUMBER_MAX);
            }
            break;
        default:
            return cli_bad_option(argv);
        }
    }
    if (argc - optind < 1) {
        return cli_usage_error("missing CONFIG");
    }
    config = argv[optind++];
    if (pcap && argc - optind) {
        return cli_usage_error("give either PACKET or --pcap, not both");
    }
    if (!pcap && argc - optind != 1) {
        return cli_usage_error(argc - optind ? "too many arguments"
                                             : "missing PACKET (flow "
                                               "syntax) or --pcap FILE");
    }
    if (!pcap && (index_set || in_port)) {
        return cli_usage_error("--index and --in-port go with --pcap");
    }

    dp = load_config(config, 0);
    if (!dp) {
        return 1;
    }
    if (pcap) {
        if (read_pcap_packet(pcap, index, &p)) {
            dp_destroy(dp);
            return 1;
        }
        if (!in_port) {
            in_port = find_input_port(dp, config, pcap);
        }
        if (!in_port) {
            packet_destroy(p);
            dp_destroy(dp);
            return cli_error("%s is not the input of a port of %s: give "
                             "--in-port N",
                             pcap, config);
        }
        p->in_port = (uint32_t)in_port;
    } else {
        struct flow_key key;
        int col = 1;
        char *error = flow_key_parse(&key, argv[optind], &col);

        if (error) {
            cli_error("PACKET column %d: %s", col, error);
            free(error);
            dp_destroy(dp);
            return 1;
        }
        p = packet_new(PACKET_DEFAULT_SIZE);
        pkt_compose(p, &key);
        p->in_port = key.in_port;
    }
    pkt_parse(p);
    pipeline_trace(dp_pipeline(dp), p, 0, json, &out);
    if (out.len && out.buf[out.len - 1] != '\n') {
        ds_put_char(&out, '\n');
    }
    fputs(ds_cstr(&out), stdout);
    ds_destroy(&out);
    packet_destroy(p);
    dp_destroy(dp);
    return 0;
}

int
cli_cmd_flow_dump(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"no-stats", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    struct ds out = DS_EMPTY_INITIALIZER;
    bool no_stats;
    struct dp *dp;
    int status;

    status = parse_flag_and_config(argc, argv, "", long_options, &no_stats);
    if (status) {
        return status;
    }
    dp = load_config(argv[optind], 0);
    if (!dp) {
        return 1;
    }
    pipeline_dump(dp_pipeline(dp), !no_stats, 0, &out);
    fputs(ds_cstr(&out), stdout);
    ds_destroy(&out);
    dp_destroy(dp);
    return 0;
}

/* The offline forms of `prog show CONFIG` and `map dump|lookup CONFIG NAME
 * MAP [KEY]`: process the configuration's inputs as `sluice run` does
 * (writing its outputs), then print the programs' statistics or the map,
 * i.e. the state the traffic left behind.  argv[0] holds the command's
 * words ("prog show", "map dump", "map lookup"). */
int
cli_cmd_state_offline(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    bool prog_show = !strcmp(argv[0], "prog show");
    bool json = false;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "j", long_options, NULL)) != -1) {
        if (c != 'j') {
            return cli_bad_option(argv);
        }
        json = true;
    }
    int n_args = argc - optind;
    int want = prog_show ? 1 : !strcmp(argv[0], "map dump") ? 3 : 4;
    if (n_args != want) {
        return cli_usage_error(n_args < want ? "missing arguments"
                                             : "too many arguments");
    }
    struct dp *dp = load_config(argv[optind], CONFIG_OPEN_PORTS);
    if (!dp) {
        return 1;
    }
    int status = 0;
    int err = dp_run(dp);
    if (err) {
        fprintf(stderr, "sluice %s: I/O error while processing: %s\n",
                argv[0], strerror(-err));
        status = 1;
    }

    struct ds out = DS_EMPTY_INITIALIZER;
    if (prog_show) {
        flow_progs_show(dp_progs(dp), json, &out);
    } else {
        /* "map dump" -> verb "dump", followed by NAME MAP [KEY]. */
        char *map_argv[4];
        map_argv[0] = argv[0] + strlen("map ");
        for (int i = 1; i < n_args; i++) {
            map_argv[i] = argv[optind + i];
        }
        char *error = flow_progs_map_cmd(dp_progs(dp), n_args, map_argv,
                                         json, &out);
        if (error) {
            fprintf(stderr, "sluice %s: %s\n", argv[0], error);
            free(error);
            status = 1;
        }
    }
    if (out.len) {
        fputs(ds_cstr(&out), stdout);
        if (json || out.buf[out.len - 1] != '\n') {
            putchar('\n');
        }
    }
    ds_destroy(&out);
    dp_destroy(dp);
    return status;
}
