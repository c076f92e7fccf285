/* Test object for test_bpf_loader.c: a program array initialised
 * statically with __array(values, ...), as libbpf allows, so that the
 * loader must fill its slots from the relocations of ".maps", and an
 * entry program that tail-calls into it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int tail_one(struct xdp_md *ctx)
{
    return XDP_TX;
}

SEC("xdp")
int tail_two(struct xdp_md *ctx)
{
    return XDP_DROP;
}

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __uint(key_size, sizeof(unsigned int));
    __array(values, int(void *));
} jump_table SEC(".maps") = {
    .values = {
        [1] = (void *) &tail_one,
        [3] = (void *) &tail_two,
    },
};

SEC("xdp/entry")
int entry(struct xdp_md *ctx)
{
    bpf_tail_call(ctx, &jump_table, ctx->rx_queue_index);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
