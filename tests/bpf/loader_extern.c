/* Test object for test_bpf_loader.c: refers to an extern (kconfig)
 * variable, which sluice cannot resolve; loading must fail naming it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern unsigned int LINUX_KERNEL_VERSION __kconfig;

SEC("xdp")
int xdp_extern(struct xdp_md *ctx)
{
    return LINUX_KERNEL_VERSION > 0x50000 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
