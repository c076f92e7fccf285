/* Test object for test_bpf_loader.c: BTF-defined maps of several shapes,
 * global data in .data/.rodata/.bss, a .rodata variable set at load time,
 * BPF-to-BPF calls into .text (global and static functions), and several
 * program sections, one of them holding two programs, and a callback
 * passed by address (BPF_PSEUDO_FUNC). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef unsigned int conn_id_t;

struct conn {
    unsigned long long packets;
    unsigned long long bytes;
    unsigned char flags[3];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, conn_id_t);
    __type(value, struct conn);
} conns SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __uint(key_size, sizeof(unsigned int));
    __uint(value_size, 16);
} stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, unsigned int);
    __type(value, unsigned long long[5]);
} counters SEC(".maps");

const volatile unsigned int threshold = 7;
const volatile unsigned char mode = 1;
unsigned long long total = 42;
unsigned int seen;

static __attribute__((noinline)) int
twice(int x)
{
    return x * 2 + (int) threshold;
}

__attribute__((noinline)) int
global_helper(int x)
{
    return twice(x) + 1;
}

SEC("xdp")
int xdp_main(struct xdp_md *ctx)
{
    conn_id_t key = ctx->ingress_ifindex;
    struct conn *c = bpf_map_lookup_elem(&conns, &key);
    if (c) {
        c->packets++;
    }
    seen++;
    total += mode;
    return global_helper(ctx->rx_queue_index) > 100 ? XDP_DROP : XDP_PASS;
}

SEC("xdp/second")
int xdp_second(struct xdp_md *ctx)
{
    unsigned int k = 0;
    void *v = bpf_map_lookup_elem(&stats, &k);
    return v ? twice(3) : XDP_ABORTED;
}

SEC("xdp.frags")
int xdp_one(struct xdp_md *ctx)
{
    unsigned int k = 1;
    return bpf_map_lookup_elem(&counters, &k) ? XDP_PASS : XDP_DROP;
}

SEC("xdp.frags")
int xdp_two(struct xdp_md *ctx)
{
    return global_helper(1);
}

static int
loop_step(unsigned int index, void *data)
{
    *(unsigned int *) data += index;
    return 0;
}

SEC("xdp/loop")
int xdp_loop(struct xdp_md *ctx)
{
    unsigned int sum = 0;
    bpf_loop(4, loop_step, &sum, 0);
    return sum;
}

char LICENSE[] SEC("license") = "GPL";
