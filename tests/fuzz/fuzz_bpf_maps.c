/* libFuzzer target for the eBPF maps: the input picks a map type and size
 * and then a sequence of operations, run both on the map and on a simple
 * reference model (linear arrays); every return code and value must agree.
 * Covers hash, LRU hash (exact LRU order), LPM trie (longest match by
 * linear scan) and queue/stack.  The map sources are compiled into the
 * target so that coverage instrumentation sees them. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/maps.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODEL_MAX 64

struct input {
    const uint8_t *p;
    size_t n;
};

static uint32_t
take(struct input *in, unsigned int bytes)
{
    uint32_t v = 0;
    for (unsigned int i = 0; i < bytes && in->n; i++, in->n--) {
        v = v << 8 | *in->p++;
    }
    return v;
}

struct entry {
    bool used;
    uint32_t key;  /* Hash key, or LPM address. */
    uint32_t plen; /* LPM prefix length. */
    uint64_t value;
    uint64_t stamp; /* LRU: last use. */
};

static struct entry model[MODEL_MAX];
static uint64_t clock_;

static struct entry *
model_find(uint32_t key, uint32_t plen)
{
    for (int i = 0; i < MODEL_MAX; i++) {
        if (model[i].used && model[i].key == key && model[i].plen == plen) {
            return &model[i];
        }
    }
    return NULL;
}

static int
model_count(void)
{
    int n = 0;
    for (int i = 0; i < MODEL_MAX; i++) {
        n += model[i].used;
    }
    return n;
}

static struct entry *
model_free_slot(void)
{
    for (int i = 0; i < MODEL_MAX; i++) {
        if (!model[i].used) {
            return &model[i];
        }
    }
    abort();
}

static uint32_t
mask_of(uint32_t plen)
{
    return plen ? ~0u << (32 - plen) : 0;
}

static void
check(bool ok)
{
    if (!ok) {
        abort();
    }
}

/* Hash and LRU hash with 4-byte keys against the model. */
static void
run_hash(struct input *in, bool lru, uint32_t max)
{
    struct bpf_map m = {.name = "fuzz",
                        .type = lru ? BPF_MAP_TYPE_LRU_HASH : BPF_MAP_TYPE_HASH,
                        .key_size = 4,
                        .value_size = 8,
                        .max_entries = max,
                        .map_flags = BPF_F_ZERO_SEED};
    check(bpf_map_create_internal(&m) == 0);
    while (in->n) {
        uint32_t op = take(in, 1), key = take(in, 1) % 24;
        uint64_t value = take(in, 2), flags = op >> 4;
        struct entry *e = model_find(key, 0);
        uint64_t *v;
        int ret, want;

        switch (op % 4) {
        case 0:
            ret = m.ops->update(&m, &key, &value, flags);
            if (flags > BPF_EXIST) {
                want = -EINVAL;
            } else if (e && flags == BPF_NOEXIST) {
                want = -EEXIST;
            } else if (!e && flags == BPF_EXIST) {
                want = -ENOENT;
            } else if (!e && model_count() == (int)max && !lru) {
                want = -E2BIG;
            } else {
                want = 0;
                if (!e) {
                    if (model_count() == (int)max) {
                        struct entry *old = NULL;
                        for (int i = 0; i < MODEL_MAX; i++) {
                            if (model[i].used &&
                                (!old || model[i].stamp < old->stamp)) {
                                old = &model[i];
                            }
                        }
                        old->used = false;
                    }
                    e = model_free_slot();
                    e->used = true;
                    e->key = key;
                    e->plen = 0;
                }
                e->value = value;
                e->stamp = ++clock_;
            }
            check(ret == want);
            break;
        case 1:
            v = m.ops->lookup(&m, &key);
            check(!v == !e);
            if (e) {
                check(*v == e->value);
                e->stamp = ++clock_;
            }
            break;
        case 2:
            ret = m.ops->delete (&m, &key);
            check(ret == (e ? 0 : -ENOENT));
            if (e) {
                e->used = false;
            }
            break;
        default: {
            /* Iterating visits every key exactly once. */
            uint32_t k, next, n = 0;
            int err = m.ops->get_next_key(&m, NULL, &next);
            while (!err) {
                check(model_find(next, 0) != NULL);
                check(++n <= max);
                k = next;
                err = m.ops->get_next_key(&m, &k, &next);
            }
            check(err == -ENOENT && n == (uint32_t)model_count());
            break;
        }
        }
    }
    bpf_map_free_internal(&m);
}

struct lpm_key {
    uint32_t prefixlen;
    uint8_t addr[4];
};

static struct lpm_key
lpm_key(uint32_t plen, uint32_t addr)
{
    struct lpm_key k = {plen,
                        {(uint8_t)(addr >> 24), (uint8_t)(addr >> 16),
                         (uint8_t)(addr >> 8), (uint8_t)addr}};
    return k;
}

static void
run_lpm(struct input *in, uint32_t max)
{
    struct bpf_map m = {.name = "fuzz",
                        .type = BPF_MAP_TYPE_LPM_TRIE,
                        .key_size = 8,
                        .value_size = 8,
                        .max_entries = max,
                        .map_flags = BPF_F_NO_PREALLOC};
    check(bpf_map_create_internal(&m) == 0);
    while (in->n) {
        uint32_t op = take(in, 1), plen = take(in, 1) % 34;
        /* Few distinct address bits, so that prefixes overlap. */
        uint32_t addr = take(in, 2) * 0x00010001u & 0xc3c3c3c3u;
        uint64_t value = take(in, 1), flags = op >> 5;
        uint32_t stored = plen <= 32 ? addr & mask_of(plen) : addr;
        struct lpm_key k = lpm_key(plen, stored);
        struct entry *e = plen <= 32 ? model_find(stored, plen) : NULL;
        int ret, want;

        switch (op % 3) {
        case 0:
            ret = m.ops->update(&m, &k, &value, flags);
            if (flags > BPF_EXIST || plen > 32) {
                want = -EINVAL;
            } else if (e && flags == BPF_NOEXIST) {
                want = -EEXIST;
            } else if (!e && flags == BPF_EXIST) {
                want = -ENOENT;
            } else if (!e && model_count() == (int)max) {
                want = -ENOSPC;
            } else {
                want = 0;
                if (!e) {
                    e = model_free_slot();
                    e->used = true;
                    e->key = stored;
                    e->plen = plen;
                }
                e->value = value;
            }
            check(ret == want);
            break;
        case 1: {
            struct lpm_key q = lpm_key(32, addr);
            struct entry *best = NULL;
            for (int i = 0; i < MODEL_MAX; i++) {
                if (model[i].used &&
                    (addr & mask_of(model[i].plen)) == model[i].key &&
                    (!best || model[i].plen > best->plen)) {
                    best = &model[i];
                }
            }
            uint64_t *v = m.ops->lookup(&m, &q);
            check(!v == !best);
            if (best) {
                check(*v == best->value);
            }
            break;
        }
        default:
            ret = m.ops->delete (&m, &k);
            check(ret == (plen > 32 ? -EINVAL : e ? 0 : -ENOENT));
            if (e) {
                e->used = false;
            }
            break;
        }
    }
    /* Post-order iteration visits every stored prefix once. */
    struct lpm_key key, next;
    int n = 0, err = m.ops->get_next_key(&m, NULL, &next);
    while (!err) {
        uint32_t a = (uint32_t)next.addr[0] << 24 |
                     (uint32_t)next.addr[1] << 16 |
                     (uint32_t)next.addr[2] << 8 | next.addr[3];
        check(model_find(a, next.prefixlen) != NULL);
        check(++n <= model_count());
        key = next;
        err = m.ops->get_next_key(&m, &key, &next);
    }
    check(err == -ENOENT && n == model_count());
    bpf_map_free_internal(&m);
}

static void
run_queue(struct input *in, bool stack, uint32_t max)
{
    struct bpf_map m = {.name = "fuzz",
                        .type = stack ? BPF_MAP_TYPE_STACK : BPF_MAP_TYPE_QUEUE,
                        .value_size = 8,
                        .max_entries = max};
    uint64_t ring[MODEL_MAX];
    uint32_t n = 0;

    check(bpf_map_create_internal(&m) == 0);
    while (in->n) {
        uint32_t op = take(in, 1);
        uint64_t value = take(in, 2), flags = op >> 5, out;
        int ret;

        if (op % 3 == 0) {
            ret = m.ops->push(&m, &value, flags);
            if ((flags & BPF_NOEXIST) || flags > BPF_EXIST) {
                check(ret == -EINVAL);
            } else if (n == max && !(flags & BPF_EXIST)) {
                check(ret == -E2BIG);
            } else {
                check(ret == 0);
                if (n == max) {
                    memmove(ring, ring + 1, (n - 1) * sizeof *ring);
                    n--;
                }
                ring[n++] = value;
            }
        } else {
            bool pop = op % 3 == 1;
            ret = pop ? m.ops->pop(&m, &out) : m.ops->peek(&m, &out);
            check(ret == (n ? 0 : -ENOENT));
            if (n) {
                check(out == (stack ? ring[n - 1] : ring[0]));
                if (pop && stack) {
                    n--;
                } else if (pop) {
                    memmove(ring, ring + 1, (n - 1) * sizeof *ring);
                    n--;
                }
            }
        }
    }
    bpf_map_free_internal(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    log_set_level_all(LOG_LEVEL_OFF);
    memset(model, 0, sizeof model);
    clock_ = 0;

    uint32_t kind = take(&in, 1), max = take(&in, 1) % 16 + 1;
    switch (kind % 5) {
    case 0:
        run_hash(&in, false, max);
        break;
    case 1:
        run_hash(&in, true, max);
        break;
    case 2:
        run_lpm(&in, max);
        break;
    case 3:
        run_queue(&in, false, max);
        break;
    default:
        run_queue(&in, true, max);
        break;
    }
    return 0;
}
