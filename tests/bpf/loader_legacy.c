/* Test object for test_bpf_loader.c: maps in the legacy "maps" section
 * (struct bpf_map_def, as before BTF-defined maps) used from a socket
 * filter section and a tc classifier section, plus string literals, which
 * clang puts in the mergeable-string section ".rodata.str1.1" and reaches
 * through the section symbol plus an offset. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
    unsigned int type;
    unsigned int key_size;
    unsigned int value_size;
    unsigned int max_entries;
    unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_hash = {
    .type = BPF_MAP_TYPE_HASH,
    .key_size = 8,
    .value_size = 4,
    .max_entries = 16,
};

struct bpf_map_def SEC("maps") legacy_array = {
    .type = BPF_MAP_TYPE_ARRAY,
    .key_size = 4,
    .value_size = 32,
    .max_entries = 8,
};

SEC("socket")
int sock_prog(void *ctx)
{
    unsigned long long k = 5;
    unsigned int *v = bpf_map_lookup_elem(&legacy_hash, &k);
    if (!v) {
        bpf_trace_printk("no key %d\n", sizeof("no key %d\n"), (int) k);
        bpf_trace_printk("miss\n", sizeof("miss\n"));
        return 0;
    }
    return *v;
}

SEC("classifier")
int cls_prog(void *ctx)
{
    unsigned int k = 2;
    return bpf_map_lookup_elem(&legacy_array, &k) ? 1 : 0;
}

char LICENSE[] SEC("license") = "GPL";
