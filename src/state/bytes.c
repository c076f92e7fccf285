/* The bytes report: the state a naive copy of every map moves against the
 * updateable state one flow owns (see state_bytes() in state.h).  Sizes
 * come from the maps' declarations, not their contents, so the report
 * describes the program, not one moment of a switch. */
#include "state/state.h"

#include "bpf/bpf_int.h"

uint64_t
state_map_bytes(const struct bpf_prog *prog, unsigned int i, uint64_t *entry)
{
    const struct bpf_map *map = prog->maps[i];
    bool percpu = map->type == BPF_MAP_TYPE_PERCPU_ARRAY
                  || map->type == BPF_MAP_TYPE_PERCPU_HASH
                  || map->type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    uint64_t vs = map->value_size;

    if (percpu) {
        vs = (vs + 7) / 8 * 8 * (map->n_cpus ? map->n_cpus : 1);
    }
    *entry = map->key_size + vs;
    return (uint64_t) map->max_entries * *entry;
}

void
state_bytes(const struct bpf_prog *prog, const struct state_result *res,
            struct state_bytes *b)
{
    b->naive = b->flow = b->shared = 0;
    for (unsigned int i = 0; i < res->n_maps; i++) {
        const struct state_map_result *m = &res->maps[i];
        uint64_t entry;
        uint64_t all = state_map_bytes(prog, i, &entry);
        b->naive += all;
        if (!m->updated || prog->maps[i]->type == BPF_MAP_TYPE_PROG_ARRAY) {
            continue;
        }
        if (m->klass == STATE_CLASS_PER_FLOW
            || m->klass == STATE_CLASS_MULTI_FLOW) {
            b->flow += entry;
        } else {
            b->shared += all;
        }
    }
}
