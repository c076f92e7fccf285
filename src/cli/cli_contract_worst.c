/* `sluice contract worst FILE.o -o OUT.pcap`: worst-case traffic for a
 * program (src/contract/worst.h, docs/contracts.md).  The object is opened
 * with the fixed hash seed that `contract check` and tests use, so the
 * colliding keys it constructs collide there too. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "cli.h"
#include "contract/worst.h"

#define WORST_DEFAULT_PACKETS 256
#define WORST_MAX_PACKETS 1000000

int
cli_cmd_contract_worst(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"section", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"packets", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *section = NULL, *output = NULL;
    struct contract_worst_opts wo = {.n_packets = WORST_DEFAULT_PACKETS,
                                     .rng_seed = 1};
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:o:n:", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            section = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'n': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || !*optarg || v < 2 || v > WORST_MAX_PACKETS) {
                return cli_usage_error("--packets: '%s' is not a number "
                                       "from 2 to %d",
                                       optarg, WORST_MAX_PACKETS);
            }
            wo.n_packets = (size_t)v;
            break;
        }
        default:
            return cli_bad_option(argv);
        }
    }
    if (optind != argc - 1) {
        return cli_usage_error("expected one object file");
    }
    if (!output) {
        return cli_usage_error("-o OUT.pcap is required");
    }
    const char *path = argv[optind];
    struct bpf_load_opts lo = {.fixed_seed = true};
    struct bpf_object *obj;
    char *err = NULL;
    int rc = bpf_object_open(path, &lo, &obj, &err);
    if (rc) {
        cli_error("%s: %s", path, err ? err : strerror(-rc));
        free(err);
        return 1;
    }
    if (!section && bpf_object_n_progs(obj) > 1) {
        bpf_object_close(obj);
        return cli_usage_error("%s has %zu programs: choose one with "
                               "--section",
                               path, bpf_object_n_progs(obj));
    }
    struct bpf_prog *prog =
        section ? bpf_object_find_prog(obj, section) : bpf_object_prog(obj, 0);
    if (!prog) {
        cli_error("%s: no program section '%s'", path, section ? section : "");
        bpf_object_close(obj);
        return 1;
    }
    struct bpf_verify_result vr;
    rc = bpf_prog_verify(prog, &vr);
    if (rc) {
        cli_error("%s: %s rejected: %s", path, bpf_prog_name(prog),
                  vr.log ? vr.log : "");
        bpf_verify_result_destroy(&vr);
        bpf_object_close(obj);
        return 1;
    }
    bpf_verify_result_destroy(&vr);

    struct contract_worst w;
    rc = contract_worst_build(obj, prog, &wo, &w, &err);
    if (rc) {
        cli_error("%s: %s: %s", path, bpf_prog_name(prog), err);
        free(err);
        bpf_object_close(obj);
        return 1;
    }
    rc = contract_worst_write_pcap(&w, output);
    if (rc) {
        cli_error("%s: %s", output, strerror(-rc));
        contract_worst_free(&w);
        bpf_object_close(obj);
        return 1;
    }
    printf("program %s (section %s)\n", bpf_prog_name(prog),
           bpf_prog_section(prog));
    if (w.map[0]) {
        printf("  map '%s': %zu keys built into bucket %u (%zu key bytes "
               "come from the packet)\n",
               w.map, w.n_collide, w.bucket, w.key_bytes_free);
    } else {
        printf("  no hash-type map takes keys from packets: the most "
               "expensive packet, repeated\n");
    }
    printf("  x86 instructions (JIT): first packet %llu, last packet %llu, "
           "mean %.1f\n",
           (unsigned long long)w.x86_first, (unsigned long long)w.x86_last,
           w.n ? (double)w.x86_sum / (double)w.n : 0.0);
    printf("  wrote %zu packets to %s (input port %u; maps seeded 0: "
           "sluice contract check %s --pcap %s@%u)\n",
           w.n, output, w.in_port, path, output, w.in_port);
    contract_worst_free(&w);
    bpf_object_close(obj);
    return 0;
}
