/* The one log module of src/bpf, "bpf", shared by all its files.
 *
 * LOG_DEFINE_MODULE() makes a separate module per file, and
 * log_set_level("bpf", ...) changes only one module of that name; sharing
 * one module keeps a level change effective for the whole runtime
 * (bpf_trace_printk output included).  Include this instead of calling
 * LOG_DEFINE_MODULE(bpf), then use LOG_WARN() and friends as usual. */
#ifndef BPF_BPF_LOG_H
#define BPF_BPF_LOG_H 1

#include "core/log.h"

extern struct log_module bpf_log_module;

/* The LOG_* macros of core/log.h name the module 'log_module_'. */
#define log_module_ bpf_log_module

#endif
