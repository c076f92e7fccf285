/* `sluice contract worst FILE.o -o OUT.pcap [--setup LINE]...`: worst-case
 * traffic for a program (src/contract/worst.h, docs/contracts.md).  The
 * object is opened with the fixed hash seed that `contract check` and
 * tests use, so the colliding keys it constructs collide there too, and
 * configured with the same --setup lines `contract check` takes (a NAT or
 * load balancer drops or passes everything until configured, a router
 * routes by its loaded table), so that the trace meets there the tables
 * it was built against. */
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
#define WORST_MAX_SETUP 64

/* What the trace does, and the PCVs it drives on its map. */
static void
print_method(const struct contract_worst *w)
{
    switch (w->method) {
    case CONTRACT_WORST_REPEAT:
        printf("  no hash-type map takes keys from packets and no LPM "
               "lookup reaches a deeper prefix: the most expensive packet, "
               "repeated\n");
        return;
    case CONTRACT_WORST_COLLIDE:
    case CONTRACT_WORST_EXPIRE:
        printf("  map '%s': %zu keys built into bucket %u (%zu key bytes "
               "come from the packet)\n",
               w->map, w->n_collide, w->bucket, w->key_bytes_free);
        if (w->method == CONTRACT_WORST_EXPIRE) {
            printf("  expiry: %zu waits of the %llu ns idle timeout\n",
                   w->n_bursts, (unsigned long long)w->timeout_ns);
        }
        break;
    case CONTRACT_WORST_LOOPS:
        printf("  TCP options of %u bytes that run the loops longest:",
               w->opt_len);
        for (uint32_t i = 0; i < w->opt_len; i++) {
            printf(" %02x", w->pkts[0].data[w->opt_off + i]);
        }
        printf("\n");
        return;
    case CONTRACT_WORST_LPM:
        printf("  LPM map '%s': deepest key", w->map);
        for (uint32_t i = 4; i < w->lpm_key_len; i++) {
            printf(w->lpm_key_len == 8 ? "%s%u" : "%s%02x",
                   i == 4 ? " " : w->lpm_key_len == 8 ? "." : "",
                   w->lpm_key[i]);
        }
        printf(" (%zu key bytes come from the packet)\n", w->key_bytes_free);
        break;
    }
    printf("  PCVs on '%s' over %llu calls (largest in one call, total):",
           w->map, (unsigned long long)w->map_calls);
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        if (w->pcv_max[i]) {
            printf(" %s %llu/%llu", contract_pcv_name((enum contract_pcv)i),
                   (unsigned long long)w->pcv_max[i],
                   (unsigned long long)w->pcv_sum[i]);
        }
    }
    printf("\n");
}

int
cli_cmd_contract_worst(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"section", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"packets", required_argument, NULL, 'n'},
        {"setup", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    const char *section = NULL, *output = NULL;
    const char *setup[WORST_MAX_SETUP];
    size_t n_setup = 0;
    struct contract_worst_opts wo = {.n_packets = WORST_DEFAULT_PACKETS,
                                     .rng_seed = 1};
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:o:n:S:", longopts, NULL)) != -1) {
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
        case 'S':
            if (n_setup == WORST_MAX_SETUP) {
                return cli_usage_error("too many --setup options");
            }
            setup[n_setup++] = optarg;
            break;
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
    for (size_t i = 0; i < n_setup; i++) {
        err = cli_contract_setup(obj, setup[i]);
        if (err) {
            cli_error("%s", err);
            free(err);
            bpf_object_close(obj);
            return 1;
        }
    }

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
    printf("program %s (section %s): method %s\n", bpf_prog_name(prog),
           bpf_prog_section(prog), contract_worst_method_name(w.method));
    print_method(&w);
    printf("  x86 instructions (JIT): first packet %llu, last packet %llu, "
           "mean %.1f\n",
           (unsigned long long)w.x86_first, (unsigned long long)w.x86_last,
           w.n ? (double)w.x86_sum / (double)w.n : 0.0);
    /* The yardstick: as many packets of the same class with their key
     * bytes drawn at random, measured the same way. */
    struct contract_worst_pkt *uni = calloc(w.n, sizeof *uni);
    if (uni) {
        contract_worst_uniform(&w, 7, uni, w.n);
        uint64_t usum = contract_worst_x86(obj, prog, uni, w.n, w.in_port,
                                           NULL);
        printf("  uniform workload of the same class (key bytes random): "
               "mean %.1f x86 instructions per packet; worst / uniform "
               "%.2f\n",
               (double)usum / (double)w.n,
               usum ? (double)w.x86_sum / (double)usum : 0.0);
        free(uni);
    }
    printf("  wrote %zu packets to %s (input port %u; maps seeded 0: "
           "sluice contract check %s%s --pcap %s@%u)\n",
           w.n, output, w.in_port, path,
           n_setup ? " --setup ..." : "", output, w.in_port);
    contract_worst_free(&w);
    bpf_object_close(obj);
    return 0;
}
