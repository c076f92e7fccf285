/* Map creation: validates attributes, picks the type's operations and the
 * hash seed, and sizes per-CPU maps.  The types themselves live in
 * map_hash.c, map_array.c, map_lpm.c, map_ringbuf.c, map_queue.c and
 * map_flowtable.c (sluice's expiring flow table), each
 * opening with its layout and costs. */
#include "bpf/maps.h"
#include "bpf/bpf_api.h"
#include "bpf/bpf_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

struct log_module bpf_log_module = {"bpf", LOG_LEVEL_WARN, NULL};

__attribute__((constructor)) static void
bpf_log_init(void)
{
    log_register(&bpf_log_module);
}

BPF_TLS uint32_t bpf_cur_cpu;
BPF_TLS struct bpf_map_costs *bpf_map_costs;

static uint32_t default_n_cpus;
bool bpf_maps_concurrent;

void
bpf_map_set_default_n_cpus(uint32_t n)
{
    default_n_cpus = n;
}

void
bpf_maps_set_threads(uint32_t n)
{
    if (bpf_map_default_n_cpus() < n) {
        default_n_cpus = n;
    }
    bpf_maps_concurrent = n > 1;
}

size_t
bpf_map_elem_stride(size_t bytes)
{
    return bpf_maps_concurrent ? ROUND_UP(bytes, 64) : ROUND_UP(bytes, 8);
}

void *
bpf_map_elems_alloc(size_t n, size_t stride)
{
    size_t bytes;
    void *p;

    if (stride && n > SIZE_MAX / stride) {
        return NULL;
    }
    bytes = n * stride;
    if (posix_memalign(&p, 64, bytes ? bytes : 1)) {
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

uint32_t
bpf_map_default_n_cpus(void)
{
    if (!default_n_cpus) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        default_n_cpus = n > 0 ? (uint32_t)n : 1;
    }
    return default_n_cpus;
}

bool
bpf_map_type_is_percpu(uint32_t type)
{
    return type == BPF_MAP_TYPE_PERCPU_HASH ||
           type == BPF_MAP_TYPE_PERCPU_ARRAY ||
           type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

size_t
bpf_map_sys_value_size(const struct bpf_map *map)
{
    if (bpf_map_type_is_percpu(map->type)) {
        return ROUND_UP((size_t)map->value_size, 8) * map->n_cpus;
    }
    return map->value_size;
}

bool
bpf_map_access_flags_ok(uint32_t flags)
{
    return !((flags & BPF_F_RDONLY_PROG) && (flags & BPF_F_WRONLY_PROG)) &&
           !((flags & BPF_F_RDONLY) && (flags & BPF_F_WRONLY));
}

int
bpf_map_invalid(const struct bpf_map *map, const char *fmt, ...)
{
    char msg[256];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    LOG_WARN("map '%s' (type %u): %s", map->name, (unsigned int)map->type, msg);
    return -EINVAL;
}

static const struct bpf_map_ops *
ops_for_type(uint32_t type)
{
    switch (type) {
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        return &bpf_htab_ops;
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
        return &bpf_array_ops;
    case BPF_MAP_TYPE_PROG_ARRAY:
        return &bpf_prog_array_ops;
    case BPF_MAP_TYPE_LPM_TRIE:
        return &bpf_lpm_ops;
    case BPF_MAP_TYPE_RINGBUF:
        return &bpf_ringbuf_ops;
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK:
        return &bpf_queue_ops;
    case BPF_MAP_TYPE_SLUICE_FLOWTABLE:
        return &bpf_flowtable_ops;
    default:
        return NULL;
    }
}

int
bpf_map_create_internal(struct bpf_map *map)
{
    const struct bpf_map_ops *ops = ops_for_type(map->type);
    if (!ops) {
        LOG_WARN("map '%s': map type %u is not supported", map->name,
                 (unsigned int)map->type);
        return -EOPNOTSUPP;
    }
    bool hash = map->type == BPF_MAP_TYPE_HASH ||
                map->type == BPF_MAP_TYPE_PERCPU_HASH ||
                map->type == BPF_MAP_TYPE_LRU_HASH ||
                map->type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
                map->type == BPF_MAP_TYPE_SLUICE_FLOWTABLE;
    if ((map->map_flags & BPF_F_ZERO_SEED) && !hash) {
        return bpf_map_invalid(map, "BPF_F_ZERO_SEED is for hash maps");
    }
    if (bpf_map_type_is_percpu(map->type)) {
        if (!map->n_cpus) {
            map->n_cpus = bpf_map_default_n_cpus();
        }
    } else {
        map->n_cpus = 0;
    }
    map->hash_seed = 0;
    if (hash && !(map->map_flags & BPF_F_ZERO_SEED)) {
        uint32_t seed;
        if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
            return -errno;
        }
        map->hash_seed = seed;
    }
    map->priv = NULL;
    map->ops = ops;
    int err = ops->alloc(map);
    if (err) {
        map->ops = NULL;
        map->priv = NULL;
    }
    return err;
}

void
bpf_map_free_internal(struct bpf_map *map)
{
    if (map && map->ops && map->priv) {
        map->ops->free(map);
        map->priv = NULL;
    }
}
