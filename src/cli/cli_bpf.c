/* `sluice prog dump|run` and `sluice bpf asm|disasm|exec`: the eBPF tools.
 *
 * These commands drive src/bpf directly, without a datapath: load an
 * object (or raw instructions), verify, run in the interpreter or the JIT,
 * print.  `prog run` mimics `bpftool prog run`: the program runs on one packet
 * (from hex or a pcap) in an XDP buffer with the kernel's 256 bytes of
 * headroom, and reports the verdict, the packet after the run and the
 * median time per run.  `bpf exec` is the raw conformance mode usable as a
 * test-runner plugin: instructions on stdin, r1 = memory, r2 = its length,
 * r0 printed in hex. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
/* libpcap's classic-BPF struct bpf_insn would clash with the eBPF one. */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H 1
struct bpf_program;
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpf/asm.h"
#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/disasm.h"
#include "cli.h"
#include "core/util.h"

/* Bytes before the packet, as the kernel's XDP_PACKET_HEADROOM. */
#define XDP_HEADROOM 256
/* The whole XDP buffer, bytes. */
#define XDP_FRAME_SIZE 4096
/* Most runs of `prog run --repeat` (one timing each is kept). */
#define MAX_REPEAT 10000000u

/* Reads all of 'f' into a new buffer; returns NULL on error (errno). */
static uint8_t *
read_all(FILE *f, size_t *size)
{
    size_t cap = 4096, len = 0;
    uint8_t *buf = xmalloc(cap);
    for (;;) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
        if (len == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    *size = len;
    return buf;
}

static const char *
xdp_verdict_name(uint64_t rv)
{
    static const char *const names[] = {
        "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT",
    };
    return rv < ARRAY_SIZE(names) ? names[rv] : "unknown";
}

/* Verifies 'prog', printing the reason on failure; returns 0 or 1. */
static int
verify_or_complain(struct bpf_prog *prog)
{
    struct bpf_verify_result res;
    memset(&res, 0, sizeof res);
    bpf_prog_verify(prog, &res);
    if (!res.accepted) {
        fprintf(stderr,
                "sluice: program '%s' (section '%s') rejected at "
                "instruction %" PRIu32 "\n%s",
                bpf_prog_name(prog), bpf_prog_section(prog), res.insn_idx,
                res.log ? res.log : "");
        if (res.log && res.log[0] && res.log[strlen(res.log) - 1] != '\n') {
            fputc('\n', stderr);
        }
        bpf_verify_result_destroy(&res);
        return 1;
    }
    bpf_verify_result_destroy(&res);
    return 0;
}

/* Sets the engine of 'prog' (after verification): with 'jit', compiles it
 * now so that a program the JIT cannot take is an error, not a silent fall
 * back to the interpreter.  Returns 0 or 1 with the reason printed. */
static int
choose_engine(struct bpf_prog *prog, enum bpf_exec_mode mode)
{
    if (mode == BPF_EXEC_DEFAULT) {
        return 0;
    }
    bpf_prog_set_exec_mode(prog, mode);
    if (mode == BPF_EXEC_JIT) {
        char *err = NULL;
        int rc = bpf_prog_jit(prog, &err);
        if (rc) {
            cli_error("--jit: %s",
                      err ? err
                      : rc == -EOPNOTSUPP
                          ? "the JIT is not available on this machine"
                          : strerror(-rc));
            free(err);
            return 1;
        }
    }
    return 0;
}

/* `prog dump --jited` (helper "jit"): the native code of each instruction
 * of 'prog' (as the verifier rewrote it), disassembled when objdump or
 * llvm-objdump is on PATH, else as hex bytes, then the total size. */
static int
dump_jited(struct bpf_prog *prog, struct ds *out)
{
    const uint8_t *code;
    const uint32_t *offs;
    size_t size, n;
    char *err = NULL;

    if (verify_or_complain(prog)) {
        return 1;
    }
    if (bpf_prog_jit(prog, &err) ||
        !bpf_prog_jited(prog, &code, &size, &offs, &n)) {
        cli_error("%s: JIT: %s", prog->name, err ? err : "not available");
        free(err);
        return 1;
    }
    /* objdump's lines by address, when a disassembler is at hand. */
    char **asm_at = xcalloc(size + 1, sizeof *asm_at);
    char tmp[] = "/tmp/sluice-jit-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0) {
        bool written = write(fd, code, size) == (ssize_t)size;
        close(fd);
        const char *tools[] = {"objdump", "llvm-objdump"};
        for (size_t t = 0; written && t < ARRAY_SIZE(tools); t++) {
            char *cmd = xasprintf("%s -D -b binary -m i386:x86-64 %s "
                                  "2>/dev/null",
                                  tools[t], tmp);
            FILE *p = popen(cmd, "r");
            free(cmd);
            bool any = false;
            char line[512];
            while (p && fgets(line, sizeof line, p)) {
                unsigned long addr;
                int pos = 0;
                /* Instruction lines only: "  8f:\t53 ...".  objdump's
                 * headers ("0000000000000000 <.data>:", "Disassembly
                 * of ...") also start with hex digits but have no colon
                 * right after them, so %n is not reached. */
                if (sscanf(line, " %lx:%n", &addr, &pos) == 1 && pos > 0 &&
                    addr < size && !asm_at[addr]) {
                    line[strcspn(line, "\n")] = '\0';
                    asm_at[addr] = xstrdup(line);
                    any = true;
                }
            }
            if (p) {
                pclose(p);
            }
            if (any) {
                break;
            }
        }
        unlink(tmp);
    }
    ds_put_format(out, "  (entry and stop stubs: %" PRIu32 " bytes)\n",
                  offs[0]);
    for (size_t i = 0; i < n; i++) {
        if (offs[i + 1] == offs[i] && i + 1 < n) {
            continue; /* Second half of LD_IMM64. */
        }
        ds_put_format(out, "%5zu: ", i);
        bpf_disasm_insn(prog->xlated ? prog->xlated : prog->insns, n, i,
                        prog->maps, prog->n_maps, out);
        ds_put_char(out, '\n');
        for (uint32_t a = offs[i]; a < offs[i + 1]; a++) {
            if (asm_at[a]) {
                ds_put_format(out, "       %s\n", asm_at[a]);
            }
        }
        if (!asm_at[offs[i]] && offs[i + 1] > offs[i]) {
            ds_put_cstr(out, "       ");
            ds_put_hex(out, code + offs[i], offs[i + 1] - offs[i]);
            ds_put_char(out, '\n');
        }
    }
    ds_put_format(out, "jited: %zu bytes of x86-64 for %zu instructions\n",
                  size, n);
    for (size_t a = 0; a <= size; a++) {
        free(asm_at[a]);
    }
    free(asm_at);
    return 0;
}

struct bpf_object *
cli_open_object(const char *path)
{
    struct bpf_object *obj;
    char *err = NULL;

    if (bpf_object_open(path, NULL, &obj, &err)) {
        cli_error("%s", err ? err : path);
        free(err);
        return NULL;
    }
    return obj;
}

int
cli_cmd_prog_dump(int argc, char **argv)
{
    static const struct option opts[] = {
        {"section", required_argument, NULL, 's'},
        {"jited", no_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    const char *section = NULL;
    bool jited = false;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
        if (c == 's') {
            section = optarg;
        } else if (c == 'J') {
            jited = true;
        } else {
            return cli_bad_option(argv);
        }
    }
    if (optind != argc - 1) {
        return cli_usage_error("expected one object file");
    }

    struct bpf_object *obj = cli_open_object(argv[optind]);
    if (!obj) {
        return 1;
    }
    struct ds out = DS_EMPTY_INITIALIZER;
    size_t shown = 0;
    int rc = 0;
    for (size_t i = 0; i < bpf_object_n_progs(obj); i++) {
        struct bpf_prog *prog = bpf_object_prog(obj, i);
        if (section && strcmp(section, prog->section) &&
            strcmp(section, prog->name)) {
            continue;
        }
        ds_put_format(&out, "%s%s: %s, %" PRIu32 " insns\n", shown ? "\n" : "",
                      prog->section, prog->name, prog->n_insns);
        if (jited) {
            rc |= dump_jited(prog, &out);
        } else {
            bpf_disasm_insns(prog->insns, prog->n_insns, prog->maps,
                             prog->n_maps, true, &out);
        }
        shown++;
    }
    if (rc) {
        /* The reason is printed. */
    } else if (!shown) {
        rc = cli_error("%s: no program section '%s'", argv[optind], section);
    } else {
        fputs(ds_cstr(&out), stdout);
    }
    ds_destroy(&out);
    bpf_object_close(obj);
    return rc;
}

/* Reads packet 'index' of pcap 'path'; returns NULL or an error message. */
static char *
read_pcap_packet(const char *path, unsigned long index, uint8_t **pkt,
                 size_t *len, uint64_t *ts_ns)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline_with_tstamp_precision(
        path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!p) {
        return xasprintf("%s: %s", path, errbuf);
    }
    struct pcap_pkthdr *hdr;
    const u_char *data;
    for (unsigned long i = 0;; i++) {
        int rc = pcap_next_ex(p, &hdr, &data);
        if (rc != 1) {
            char *msg =
                rc == PCAP_ERROR_BREAK
                    ? xasprintf("%s: has only %lu packets, no index %lu", path,
                                i, index)
                    : xasprintf("%s: %s", path, pcap_geterr(p));
            pcap_close(p);
            return msg;
        }
        if (i == index) {
            break;
        }
    }
    *len = hdr->caplen;
    *pkt = xmalloc(hdr->caplen ? hdr->caplen : 1);
    memcpy(*pkt, data, hdr->caplen);
    *ts_ns = (uint64_t)hdr->ts.tv_sec * 1000000000u + (uint64_t)hdr->ts.tv_usec;
    pcap_close(p);
    return NULL;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *)a_, b = *(const uint64_t *)b_;
    return a < b ? -1 : a > b;
}

/* Runs 'prog' 'repeat' times on fresh copies of 'pkt'; leaves the packet
 * of the last run in 'frame' as [*outp, *outp + *out_len). */
static uint64_t
run_xdp(const struct bpf_prog *prog, const uint8_t *pkt, size_t len,
        unsigned long repeat, uint8_t *frame, const uint8_t **outp,
        size_t *out_len, uint64_t *median_ns)
{
    uint64_t *times = xcalloc(repeat, sizeof *times);
    uint64_t rv = 0;
    struct bpf_xdp_buff ctx;

    for (unsigned long r = 0; r < repeat; r++) {
        memset(frame, 0, XDP_FRAME_SIZE);
        memcpy(frame + XDP_HEADROOM, pkt, len);
        memset(&ctx, 0, sizeof ctx);
        ctx.data_hard_start = (uintptr_t)frame;
        ctx.data_meta = ctx.data = (uintptr_t)(frame + XDP_HEADROOM);
        ctx.data_end = ctx.data + len;
        ctx.frame_end = (uintptr_t)(frame + XDP_FRAME_SIZE);
        ctx.ingress_ifindex = 1;
        uint64_t t0 = now_ns();
        rv = bpf_prog_run_xdp(prog, &ctx);
        times[r] = now_ns() - t0;
    }
    qsort(times, repeat, sizeof *times, cmp_u64);
    *median_ns = times[repeat / 2];
    free(times);
    *outp = (const uint8_t *)(uintptr_t)ctx.data;
    *out_len = (size_t)(ctx.data_end - ctx.data);
    return rv;
}

int
cli_cmd_prog_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"section", required_argument, NULL, 's'},
        {"packet", required_argument, NULL, 'p'},
        {"pcap", required_argument, NULL, 'c'},
        {"index", required_argument, NULL, 'i'},
        {"repeat", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"interpret", no_argument, NULL, 'I'},
        {"jit", no_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    enum bpf_exec_mode mode = BPF_EXEC_DEFAULT;
    const char *section = NULL, *hex = NULL, *pcap = NULL;
    unsigned long index = 0, repeat = 1;
    bool json = false;
    char *end;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:p:c:i:r:j", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            section = optarg;
            break;
        case 'p':
            hex = optarg;
            break;
        case 'c':
            pcap = optarg;
            break;
        case 'i':
            errno = 0;
            index = strtoul(optarg, &end, 10);
            if (errno || *end || !*optarg || optarg[0] == '-') {
                return cli_usage_error("bad --index '%s'", optarg);
            }
            break;
        case 'r':
            errno = 0;
            repeat = strtoul(optarg, &end, 10);
            if (errno || *end || !repeat || repeat > MAX_REPEAT ||
                optarg[0] == '-') {
                return cli_usage_error("bad --repeat '%s' (1 to %u)", optarg,
                                       MAX_REPEAT);
            }
            break;
        case 'j':
            json = true;
            break;
        case 'I':
            mode = BPF_EXEC_INTERP;
            break;
        case 'J':
            mode = BPF_EXEC_JIT;
            break;
        default:
            return cli_bad_option(argv);
        }
    }
    if (optind != argc - 1) {
        return cli_usage_error("expected one object file");
    }
    if (!hex == !pcap) {
        return cli_usage_error("give exactly one of --packet and --pcap");
    }

    uint8_t *pkt = NULL;
    size_t len = 0;
    uint64_t ts_ns = 0;
    char *err = hex ? hex_to_bytes(hex, &pkt, &len)
                    : read_pcap_packet(pcap, index, &pkt, &len, &ts_ns);
    if (err) {
        cli_error("%s", err);
        free(err);
        return 1;
    }
    if (len > XDP_FRAME_SIZE - XDP_HEADROOM) {
        free(pkt);
        return cli_error("packet of %zu bytes exceeds the %d bytes an XDP "
                         "frame holds",
                         len, XDP_FRAME_SIZE - XDP_HEADROOM);
    }

    struct bpf_object *obj = cli_open_object(argv[optind]);
    if (!obj) {
        free(pkt);
        return 1;
    }
    struct bpf_prog *prog =
        section ? bpf_object_find_prog(obj, section) : bpf_object_prog(obj, 0);
    int rc = 0;
    if (!prog) {
        rc = cli_error("%s: no program section '%s'", argv[optind], section);
    } else if (!section && bpf_object_n_progs(obj) > 1) {
        rc = cli_usage_error("%s has %zu programs: choose one with "
                             "--section",
                             argv[optind], bpf_object_n_progs(obj));
    } else {
        rc = verify_or_complain(prog);
        if (!rc) {
            rc = choose_engine(prog, mode);
        }
    }
    if (!rc) {
        uint8_t *frame = xmalloc(XDP_FRAME_SIZE);
        const uint8_t *out;
        size_t out_len;
        uint64_t median;
        if (ts_ns) {
            bpf_set_time_ns(ts_ns);
        }
        uint64_t rv =
            run_xdp(prog, pkt, len, repeat, frame, &out, &out_len, &median);
        struct ds hexout = DS_EMPTY_INITIALIZER;
        ds_put_hex(&hexout, out, out_len);
        /* The runtime fell back to the interpreter if the JIT refused. */
        const uint8_t *code;
        const uint32_t *offs;
        size_t code_size, n_offs;
        const char *engine =
            bpf_prog_jited(prog, &code, &code_size, &offs, &n_offs)
                ? "jit"
                : "interpreter";
        if (json) {
            json_t *doc = json_pack(
                "{s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:s}", "section",
                prog->section, "program", prog->name, "retval", (json_int_t)rv,
                "verdict", xdp_verdict_name(rv), "packet", ds_cstr(&hexout),
                "repeat", (json_int_t)repeat, "ns_per_run", (json_int_t)median,
                "engine", engine);
            json_dumpf(doc, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(doc);
        } else {
            printf("section %s, program %s\n", prog->section, prog->name);
            printf("retval: %" PRIu64 " (%s)\n", rv, xdp_verdict_name(rv));
            printf("packet: %s\n", ds_cstr(&hexout));
            printf("duration: %" PRIu64 " ns/run (median of %lu, %s)\n", median,
                   repeat, engine);
        }
        ds_destroy(&hexout);
        free(frame);
    }
    bpf_object_close(obj);
    free(pkt);
    return rc;
}

int
cli_cmd_bpf_asm(int argc, char **argv)
{
    if (argc != 1) {
        return cli_usage_error("no arguments expected");
    }
    size_t size;
    uint8_t *text = read_all(stdin, &size);
    if (!text) {
        return cli_error("reading stdin: %s", strerror(errno));
    }
    text = xrealloc(text, size + 1);
    text[size] = '\0';
    if (memchr(text, '\0', size)) {
        free(text);
        return cli_error("stdin holds a NUL byte: not assembly text");
    }
    struct bpf_insn *insns;
    size_t n;
    char *err = bpf_asm((const char *)text, NULL, 0, &insns, &n);
    free(text);
    if (err) {
        cli_error("%s", err);
        free(err);
        return 1;
    }
    int rc = 0;
    if (n && fwrite(insns, sizeof *insns, n, stdout) != n) {
        rc = cli_error("writing stdout: %s", strerror(errno));
    }
    free(insns);
    return rc;
}

/* Reads raw instructions from stdin; prints an error and returns NULL. */
static struct bpf_insn *
read_insns(size_t *n)
{
    size_t size;
    uint8_t *buf = read_all(stdin, &size);
    if (!buf) {
        cli_error("reading stdin: %s", strerror(errno));
        return NULL;
    }
    if (size % sizeof(struct bpf_insn)) {
        cli_error("stdin has %zu bytes, not a multiple of 8", size);
        free(buf);
        return NULL;
    }
    *n = size / sizeof(struct bpf_insn);
    return (struct bpf_insn *)(void *)buf;
}

int
cli_cmd_bpf_disasm(int argc, char **argv)
{
    if (argc != 1) {
        return cli_usage_error("no arguments expected");
    }
    size_t n;
    struct bpf_insn *insns = read_insns(&n);
    if (!insns) {
        return 1;
    }
    struct ds out = DS_EMPTY_INITIALIZER;
    bpf_disasm_insns(insns, n, NULL, 0, false, &out);
    fputs(ds_cstr(&out), stdout);
    ds_destroy(&out);
    free(insns);
    return 0;
}

int
cli_cmd_bpf_exec(int argc, char **argv)
{
    static const struct option opts[] = {
        {"interpret", no_argument, NULL, 'i'},
        {"jit", no_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    /* The interpreter unless asked otherwise: conformance runs compare
     * engines explicitly. */
    enum bpf_exec_mode mode = BPF_EXEC_INTERP;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'i') {
            mode = BPF_EXEC_INTERP;
        } else if (c == 'J') {
            mode = BPF_EXEC_JIT;
        } else {
            return cli_bad_option(argv);
        }
    }
    if (argc - optind > 1) {
        return cli_usage_error("expected at most one MEMORY_HEX argument");
    }
    uint8_t *mem = NULL;
    size_t mem_len = 0;
    if (optind < argc) {
        char *err = hex_to_bytes(argv[optind], &mem, &mem_len);
        if (err) {
            cli_error("MEMORY_HEX: %s", err);
            free(err);
            return 1;
        }
    }
    size_t n;
    struct bpf_insn *insns = read_insns(&n);
    if (!insns) {
        free(mem);
        return 1;
    }
    struct bpf_object *obj;
    char *err;
    int rc = 0;
    if (bpf_prog_from_insns(insns, n, true, &obj, &err)) {
        rc = cli_error("%s", err);
        free(err);
    } else {
        struct bpf_prog *prog = bpf_object_prog(obj, 0);
        rc = verify_or_complain(prog);
        if (!rc) {
            rc = choose_engine(prog, mode);
        }
        if (!rc) {
            /* A zero-length memory still gets a valid pointer. */
            uint8_t dummy;
            uint64_t r0 = bpf_prog_run_raw(prog, mem ? mem : &dummy, mem_len);
            const char *run_err = bpf_last_run_error();
            if (run_err) {
                rc = cli_error("run stopped: %s", run_err);
            } else {
                printf("%" PRIx64 "\n", r0);
            }
        }
        bpf_object_close(obj);
    }
    free(insns);
    free(mem);
    return rc;
}
