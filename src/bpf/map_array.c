/* Array maps: BPF_MAP_TYPE_ARRAY, PERCPU_ARRAY and PROG_ARRAY.
 *
 * ARRAY / PERCPU_ARRAY layout: one allocation of max_entries slots of
 * round_up(value_size, 8) bytes, zeroed at creation.  The per-CPU type has
 * one such region per CPU (datapath thread), each rounded up to a cache
 * line, as the kernel's per-CPU areas are: threads bumping their own
 * counters of one index never write the same line, which they would if
 * the copies of a slot sat side by side.  Every element always exists:
 * lookup is a bounds check plus a multiply (one visit, no key compare),
 * update is one memcpy, delete is -EINVAL, get_next_key is O(1).  Value
 * pointers are stable for the life of the map.  Global data (.data,
 * .rodata, .bss) are single-slot arrays whose value is the section image.
 *
 * PROG_ARRAY layout: max_entries program pointers (NULL = empty slot) for
 * bpf_tail_call(); the value seen by the control plane is a u32 program
 * index into the table bound with bpf_prog_array_bind().  Programs cannot
 * look up or update it (the verifier rejects that); a tail call is one
 * bounds check and one load. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/jit.h"
#include "bpf/maps.h"

#define ARRAY_CREATE_FLAGS                                                     \
    (BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_RDONLY | BPF_F_WRONLY |          \
     BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG | BPF_F_PRESERVE_ELEMS |            \
     BPF_F_INNER_MAP)
#define ARRAY_VALUE_SIZE_MAX INT32_MAX /* Arrays are vmalloc()ed. */
#define PCPU_VALUE_SIZE_MAX 32768      /* PCPU_MIN_UNIT_SIZE. */
#define ARRAY_MAX_BYTES (1ull << 34)   /* Refuse absurd sizes (E2BIG). */

struct array {
    size_t stride;       /* Bytes per slot: round_up(value_size, 8). */
    size_t cpu_stride;   /* Bytes per CPU's region (per-CPU type), else 0. */
    uint8_t *values;     /* max_entries * stride bytes, per CPU. */
};

struct prog_array {
    const struct bpf_prog **progs; /* max_entries slots, NULL = empty. */
    struct bpf_prog *const *table; /* Borrowed: programs by u32 index. */
    size_t n_table;
};

static int
array_check(struct bpf_map *map)
{
    bool percpu = map->type == BPF_MAP_TYPE_PERCPU_ARRAY;

    if (!map->max_entries || map->key_size != 4 || !map->value_size) {
        return bpf_map_invalid(map, "an array needs key_size 4 and non-zero "
                                    "value_size and max_entries");
    }
    if (map->map_flags & ~ARRAY_CREATE_FLAGS) {
        return bpf_map_invalid(map,
                               "unsupported map_flags 0x%x for an "
                               "array",
                               map->map_flags & ~ARRAY_CREATE_FLAGS);
    }
    if (!bpf_map_access_flags_ok(map->map_flags)) {
        return bpf_map_invalid(map, "contradictory access flags");
    }
    if ((map->map_flags & BPF_F_MMAPABLE) && map->type != BPF_MAP_TYPE_ARRAY) {
        return bpf_map_invalid(map, "BPF_F_MMAPABLE needs a plain array");
    }
    if ((map->map_flags & BPF_F_PRESERVE_ELEMS)) {
        return bpf_map_invalid(map, "BPF_F_PRESERVE_ELEMS is for perf "
                                    "event arrays");
    }
    if (map->value_size > ARRAY_VALUE_SIZE_MAX ||
        (percpu && map->value_size > PCPU_VALUE_SIZE_MAX)) {
        return -E2BIG;
    }
    return 0;
}

static int
array_alloc(struct bpf_map *map)
{
    int err = array_check(map);
    if (err) {
        return err;
    }
    bool percpu = map->type == BPF_MAP_TYPE_PERCPU_ARRAY;
    uint32_t n_cpus = percpu ? map->n_cpus : 1;
    size_t stride = ROUND_UP((size_t)map->value_size, 8);
    uint64_t region = (uint64_t)stride * map->max_entries;
    if (percpu) {
        region = ROUND_UP(region, 64);
    }
    if (region * n_cpus > ARRAY_MAX_BYTES) {
        return -E2BIG;
    }
    struct array *a = calloc(1, sizeof *a);
    if (!a) {
        return -ENOMEM;
    }
    a->stride = stride;
    a->cpu_stride = percpu ? (size_t)region : 0;
    if (!percpu) {
        a->values = calloc(map->max_entries, stride);
    } else if (!posix_memalign((void **)&a->values, 64,
                               (size_t)region * n_cpus)) {
        memset(a->values, 0, (size_t)region * n_cpus);
    }
    if (!a->values) {
        free(a);
        return -ENOMEM;
    }
    map->priv = a;
    return 0;
}

static void
array_free(struct bpf_map *map)
{
    struct array *a = map->priv;
    free(a->values);
    free(a);
}

static uint8_t *
array_slot(const struct bpf_map *map, const void *key)
{
    const struct array *a = map->priv;
    uint32_t index;
    memcpy(&index, key, sizeof index);
    BPF_MAP_COST_OP();
    BPF_MAP_COST(1, 0);
    if (index >= map->max_entries) {
        return NULL;
    }
    return a->values + (size_t)index * a->stride;
}

/* Offset of the running thread's copy (bpf_cur_cpu, wrapped like the
 * kernel's per-CPU accessors never need to: sluice may run more threads
 * than a map has copies when the map predates bpf_maps_set_threads). */
static size_t
array_cpu_offset(const struct bpf_map *map)
{
    const struct array *a = map->priv;
    uint32_t cpu =
        bpf_cur_cpu < map->n_cpus ? bpf_cur_cpu : bpf_cur_cpu % map->n_cpus;

    return a->cpu_stride * cpu;
}

static void *
array_lookup(struct bpf_map *map, const void *key)
{
    uint8_t *slot = array_slot(map, key);
    if (slot && map->type == BPF_MAP_TYPE_PERCPU_ARRAY) {
        slot += array_cpu_offset(map);
    }
    return slot;
}

int
bpf_array_sys_read(struct bpf_map *map, const void *key, void *value)
{
    const struct array *a = map->priv;
    uint8_t *slot = array_slot(map, key);

    if (!slot) {
        return -ENOENT;
    }
    if (map->type != BPF_MAP_TYPE_PERCPU_ARRAY) {
        memcpy(value, slot, map->value_size);
        return 0;
    }
    /* The syscall's per-CPU format: each copy padded to 8 bytes, in CPU
     * order. */
    for (uint32_t cpu = 0; cpu < map->n_cpus; cpu++) {
        memcpy((uint8_t *)value + cpu * a->stride, slot + cpu * a->cpu_stride,
               a->stride);
    }
    return 0;
}

/* For the JIT's inline lookups (declared in jit.h). */
bool
bpf_array_layout(const struct bpf_map *map, uint8_t **values, size_t *stride,
                 size_t *cpu_stride)
{
    const struct array *a = map->priv;

    if (map->ops != &bpf_array_ops || !a) {
        return false;
    }
    *values = a->values;
    *stride = a->stride;
    *cpu_stride = a->cpu_stride;
    return true;
}

int
bpf_array_update(struct bpf_map *map, const void *key, const void *value,
                 uint64_t flags, bool all_cpus)
{
    const struct array *a = map->priv;
    uint32_t index;

    memcpy(&index, key, sizeof index);
    /* BPF_F_LOCK needs a bpf_spin_lock in the value, which sluice's maps
     * never have. */
    if (flags > BPF_EXIST) {
        return -EINVAL;
    }
    if (index >= map->max_entries) {
        return -E2BIG;
    }
    if (flags == BPF_NOEXIST) {
        return -EEXIST;
    }
    uint8_t *slot = array_slot(map, key);
    if (map->type != BPF_MAP_TYPE_PERCPU_ARRAY) {
        memcpy(slot, value, map->value_size);
    } else if (all_cpus) {
        /* Like the kernel's copy_map_value_long(): each copy with its
         * padding to 8 bytes. */
        for (uint32_t cpu = 0; cpu < map->n_cpus; cpu++) {
            memcpy(slot + cpu * a->cpu_stride,
                   (const uint8_t *)value + cpu * a->stride, a->stride);
        }
    } else {
        memcpy(slot + array_cpu_offset(map), value, map->value_size);
    }
    return 0;
}

static int
array_update(struct bpf_map *map, const void *key, const void *value,
             uint64_t flags)
{
    return bpf_array_update(map, key, value, flags, false);
}

static int
array_delete(struct bpf_map *map, const void *key)
{
    return -EINVAL;
}

static int
array_get_next_key(struct bpf_map *map, const void *key, void *next_key)
{
    uint32_t index = 0, next;

    if (key) {
        memcpy(&index, key, sizeof index);
    }
    if (!key || index >= map->max_entries) {
        next = 0;
    } else if (index == map->max_entries - 1) {
        return -ENOENT;
    } else {
        next = index + 1;
    }
    memcpy(next_key, &next, sizeof next);
    return 0;
}

const struct bpf_map_ops bpf_array_ops = {
    .alloc = array_alloc,
    .free = array_free,
    .lookup = array_lookup,
    .update = array_update,
    .delete = array_delete,
    .get_next_key = array_get_next_key,
};

static int
prog_array_alloc(struct bpf_map *map)
{
    if (map->value_size != 4) {
        return bpf_map_invalid(map, "a program array needs value_size 4");
    }
    if (map->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) {
        return bpf_map_invalid(map, "program arrays take no program access "
                                    "flags");
    }
    int err = array_check(map);
    if (err) {
        return err;
    }
    struct prog_array *pa = calloc(1, sizeof *pa);
    if (!pa) {
        return -ENOMEM;
    }
    pa->progs = calloc(map->max_entries, sizeof *pa->progs);
    if (!pa->progs) {
        free(pa);
        return -ENOMEM;
    }
    map->priv = pa;
    return 0;
}

static void
prog_array_free(struct bpf_map *map)
{
    struct prog_array *pa = map->priv;
    free(pa->progs);
    free(pa);
}

/* Programs cannot read a program array (the kernel returns -EOPNOTSUPP
 * from its lookup); the control plane reads slots as program indices. */
static void *
prog_array_lookup(struct bpf_map *map, const void *key)
{
    return NULL;
}

static int
prog_array_update(struct bpf_map *map, const void *key, const void *value,
                  uint64_t flags)
{
    const struct prog_array *pa = map->priv;
    uint32_t index, prog_idx;

    memcpy(&index, key, sizeof index);
    memcpy(&prog_idx, value, sizeof prog_idx);
    if (flags != BPF_ANY) {
        return -EINVAL;
    }
    if (index >= map->max_entries) {
        return -E2BIG;
    }
    /* The kernel answers -EBADF for a descriptor that is not a program. */
    if (prog_idx >= pa->n_table) {
        return -EBADF;
    }
    return bpf_prog_array_set(map, index, pa->table[prog_idx]);
}

static int
prog_array_delete(struct bpf_map *map, const void *key)
{
    struct prog_array *pa = map->priv;
    uint32_t index;

    memcpy(&index, key, sizeof index);
    if (index >= map->max_entries) {
        return -E2BIG;
    }
    if (!pa->progs[index]) {
        return -ENOENT;
    }
    pa->progs[index] = NULL;
    return 0;
}

const struct bpf_map_ops bpf_prog_array_ops = {
    .alloc = prog_array_alloc,
    .free = prog_array_free,
    .lookup = prog_array_lookup,
    .update = prog_array_update,
    .delete = prog_array_delete,
    .get_next_key = array_get_next_key,
};

int
bpf_prog_array_set(struct bpf_map *map, uint32_t index,
                   const struct bpf_prog *prog)
{
    if (map->type != BPF_MAP_TYPE_PROG_ARRAY || !map->priv) {
        return -EINVAL;
    }
    struct prog_array *pa = map->priv;
    if (index >= map->max_entries) {
        return -E2BIG;
    }
    /* Like the kernel, all programs of one array have the same type. */
    if (prog) {
        for (uint32_t i = 0; i < map->max_entries; i++) {
            if (pa->progs[i] && pa->progs[i]->kind != prog->kind) {
                return -EINVAL;
            }
        }
    }
    pa->progs[index] = prog;
    return 0;
}

void
bpf_prog_array_bind(struct bpf_map *map, struct bpf_prog *const *progs,
                    size_t n)
{
    if (map->type == BPF_MAP_TYPE_PROG_ARRAY && map->priv) {
        struct prog_array *pa = map->priv;
        pa->table = progs;
        pa->n_table = n;
    }
}

/* Control-plane read of a slot: the program's index in the bound table.
 * -ENOENT for an empty slot or a program outside the table. */
int
bpf_prog_array_sys_lookup(struct bpf_map *map, const void *key, void *value)
{
    const struct prog_array *pa = map->priv;
    uint32_t index;

    memcpy(&index, key, sizeof index);
    if (index >= map->max_entries || !pa->progs[index]) {
        return -ENOENT;
    }
    for (uint32_t i = 0; i < pa->n_table; i++) {
        if (pa->table[i] == pa->progs[index]) {
            memcpy(value, &i, sizeof i);
            return 0;
        }
    }
    return -ENOENT;
}

const struct bpf_prog *
bpf_prog_array_get(const struct bpf_map *map, uint32_t index)
{
    const struct prog_array *pa = map->priv;
    return index < map->max_entries ? pa->progs[index] : NULL;
}
