/* Verifier case (accept): loops clang keeps as loops (not unrolled):
 * a checksum over up to 64 payload bytes and a search in a map value
 * array, plus spills of packet pointers across helper calls and a ring
 * buffer record reserved, filled and submitted. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct entry {
    __u32 keys[16];
    __u32 n;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct entry);
} table SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp")
int xdp_loops(struct xdp_md *ctx)
{
    __u8 *data = (void *)(long)ctx->data;
    __u8 *data_end = (void *)(long)ctx->data_end;
    __u32 sum = 0;

#pragma clang loop unroll(disable)
    for (int i = 0; i < 64; i++) {
        if (data + i + 1 > data_end) {
            break;
        }
        sum += data[i];
    }
    __u32 zero = 0;
    struct entry *e = bpf_map_lookup_elem(&table, &zero);
    if (!e) {
        return XDP_PASS;
    }
    int found = -1;
#pragma clang loop unroll(disable)
    for (int i = 0; i < 16; i++) {
        if (i >= e->n) {
            break;
        }
        if (e->keys[i] == sum) {
            found = i;
            break;
        }
    }
    __u32 *rec = bpf_ringbuf_reserve(&events, 8, 0);
    if (rec) {
        rec[0] = sum;
        rec[1] = found;
        bpf_ringbuf_submit(rec, 0);
    }
    if (data + 1 <= data_end && bpf_ktime_get_ns() & 1) {
        return data[0] == 0xff ? XDP_DROP : XDP_PASS;
    }
    return found >= 0 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
