/* The benchmark's micro programs as XDP programs (logic in micro.h). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __uint(key_size, 16);            /* struct micro_tuple */
    __uint(value_size, 8);           /* Packets seen. */
} micro_flows SEC(".maps");

#define MICRO_LOOKUP(K) bpf_map_lookup_elem(&micro_flows, (K))
#define MICRO_UPDATE(K, V) bpf_map_update_elem(&micro_flows, (K), (V), BPF_ANY)
#include "micro.h"

SEC("xdp/empty")
int micro_empty(struct xdp_md *ctx)
{
    return 2;
}

SEC("xdp/parse")
int micro_parse_prog(struct xdp_md *ctx)
{
    return micro_filter((void *)(long)ctx->data, (void *)(long)ctx->data_end);
}

SEC("xdp/hash")
int micro_hash_xdp(struct xdp_md *ctx)
{
    return micro_hash_prog((void *)(long)ctx->data,
                           (void *)(long)ctx->data_end);
}

SEC("xdp/map")
int micro_map_xdp(struct xdp_md *ctx)
{
    return micro_map_prog((void *)(long)ctx->data,
                          (void *)(long)ctx->data_end);
}

char _license[] SEC("license") = "GPL";
