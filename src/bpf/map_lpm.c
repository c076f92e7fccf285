/* Longest-prefix-match trie: BPF_MAP_TYPE_LPM_TRIE.
 *
 * Keys are struct bpf_lpm_trie_key: a u32 prefix length followed by
 * key_size - 4 data bytes read as one big-endian bit string (IPv4, IPv6 or
 * any other address).  Like the kernel, the map must be created with
 * BPF_F_NO_PREALLOC, and max_entries counts stored prefixes.
 *
 * Layout: a binary path-compressed trie, the kernel's design.  Each node
 * holds its prefix length, the data bytes, two children and (for real
 * entries) the value; intermediate nodes, which exist only to join two
 * subtrees, carry no value and always have two children.  Nodes come from a
 * pool of 2 * max_entries preallocated at creation (a trie of n entries
 * needs at most n - 1 intermediate nodes), so updates never call malloc.
 *
 * Costs: lookup walks from the root, one visit and one prefix compare per
 * node on the path (at most max_prefixlen + 1 nodes, in practice the number
 * of distinct stored prefix lengths on that path); update and delete walk
 * the same path.  get_next_key walks the path to the key, then returns the
 * next node in post-order (more specific prefixes before less specific
 * ones, the kernel's order).  Performance contracts (contract/mapcost.c)
 * bound lookups, updates and deletes exactly by what bpf_lpm_probe_walk()
 * predicts: per node a visit and a compare (bytes read, whether it read
 * any, whether it stopped at a differing byte), where the walk ended (off
 * the trie, at an intermediate node) and what an insert or delete changes
 * (nodes added or freed, an intermediate one among them, fresh pool
 * nodes); tests whose outcome would not change the result are computed
 * branch-free (LPM_OPAQUE) so that they add no path of their own.
 *
 * Semantics follow kernels >= 6.13: BPF_NOEXIST and BPF_EXIST are honoured
 * (-EEXIST / -ENOENT), and -ENOSPC is returned only when a new prefix does
 * not fit (replacing an existing one always works).
 *
 * Concurrency (bpf_maps_concurrent; docs/maps.md): updates, deletes and
 * get_next_key run under one per-map spin lock, and writers bump a
 * sequence count (odd while they change the trie).  Lookups take no lock:
 * they walk with atomic loads (a node freed under them stays pool memory,
 * and the walk is bounded) and start again if the count was odd or moved,
 * so a lookup returns the longest match of one consistent trie.  As in the
 * kernel, a node freed while a program holds its value pointer can be
 * reused at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/maps.h"

#define LPM_DATA_SIZE_MAX 256
#define LPM_VALUE_SIZE_MAX ((4u << 20) - LPM_DATA_SIZE_MAX - 32)
#define LPM_CREATE_FLAGS                                                       \
    (BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY |       \
     BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)
#define LPM_FLAG_IM 1u /* Intermediate node: no value. */

/* Node fields read by lock-free lookups ('shared') are loaded and stored
 * with these (plain moves on x86-64), so that a racing read is well
 * defined.  Acquire loads keep the lookup's final read of the sequence
 * count after them, and release stores keep a writer's odd count before
 * them: the seqlock needs no fence.  Other reads are plain, which leaves
 * the one-thread walk (and writers, under the lock) free to keep fields
 * in registers. */
#define LPM_LOAD(shared, lv)                                                   \
    ((shared) ? __atomic_load_n(&(lv), __ATOMIC_ACQUIRE) : (lv))
#define LPM_STORE(lv, v) __atomic_store_n(&(lv), (v), __ATOMIC_RELEASE)

/* Makes the compiler compute 'x' into a register before it is tested, so
 * that a condition built of several tests is one path, not a branch per
 * test: a cost that depends only on the outcome (docs/contracts.md). */
#define LPM_OPAQUE(x) __asm__("" : "+r"(x))

struct lpm_node {
    struct lpm_node *child[2]; /* Bit 0 / bit 1 subtrees. */
    uint32_t prefixlen;        /* Bits of 'data' that count. */
    uint32_t flags;            /* LPM_FLAG_IM. */
    uint8_t data[];            /* data_size bytes, then the value at
                                * value_off. */
};

struct lpm_trie {
    struct lpm_node *root;
    uint8_t *pool;              /* 2 * max_entries nodes. */
    size_t node_size;           /* Bytes per pool node. */
    size_t value_off;           /* Offset of the value in data[]. */
    uint32_t n_pool;            /* Nodes in the pool. */
    uint32_t n_bumped;          /* Pool nodes ever handed out. */
    struct lpm_node *free_list; /* Released nodes (via child[0]). */
    uint32_t n_entries;         /* Real (non-intermediate) nodes. */
    uint32_t data_size;         /* Bytes of key data. */
    uint32_t max_prefixlen;     /* data_size * 8. */
    struct lpm_node **stack;    /* max_prefixlen + 1 slots for the
                                 * get_next_key path. */
    uint32_t lock;              /* Writers' spin lock when
                                 * bpf_maps_concurrent. */
    uint32_t seq;               /* Odd while a writer changes the trie. */
};

struct lpm_key {
    uint32_t prefixlen;
    uint8_t data[];
};

static int
lpm_alloc(struct bpf_map *map)
{
    if (!(map->map_flags & BPF_F_NO_PREALLOC)) {
        return bpf_map_invalid(map, "an LPM trie must be created with "
                                    "BPF_F_NO_PREALLOC");
    }
    if (!bpf_map_access_flags_ok(map->map_flags)) {
        return bpf_map_invalid(map, "contradictory access flags");
    }
    if (map->map_flags & ~LPM_CREATE_FLAGS) {
        return bpf_map_invalid(map,
                               "unsupported map_flags 0x%x for an LPM "
                               "trie",
                               map->map_flags & ~LPM_CREATE_FLAGS);
    }
    if (map->key_size < 5 || map->key_size > 4 + LPM_DATA_SIZE_MAX) {
        return bpf_map_invalid(map,
                               "LPM key_size %u is not 5..%d (u32 "
                               "prefixlen + 1..%d data bytes)",
                               map->key_size, 4 + LPM_DATA_SIZE_MAX,
                               LPM_DATA_SIZE_MAX);
    }
    if (!map->value_size || map->value_size > LPM_VALUE_SIZE_MAX ||
        !map->max_entries) {
        return bpf_map_invalid(map, "LPM value_size and max_entries must be "
                                    "non-zero");
    }
    if (map->max_entries > (1u << 28)) {
        return -E2BIG;
    }
    struct lpm_trie *t = calloc(1, sizeof *t);
    if (!t) {
        return -ENOMEM;
    }
    t->data_size = map->key_size - 4;
    t->max_prefixlen = t->data_size * 8;
    t->value_off = ROUND_UP((size_t)t->data_size, 8);
    t->node_size =
        ROUND_UP(sizeof(struct lpm_node) + t->value_off + map->value_size, 8);
    t->n_pool = map->max_entries * 2;
    t->pool = calloc(t->n_pool, t->node_size);
    t->stack = calloc(t->max_prefixlen + 2, sizeof *t->stack);
    if (!t->pool || !t->stack) {
        free(t->pool);
        free(t->stack);
        free(t);
        return -ENOMEM;
    }
    map->priv = t;
    return 0;
}

static void
lpm_free(struct bpf_map *map)
{
    struct lpm_trie *t = map->priv;
    free(t->pool);
    free(t->stack);
    free(t);
}

/* Writers: the lock when concurrent, and the sequence count odd. */
static void
write_begin(struct lpm_trie *t)
{
    if (bpf_maps_concurrent) {
        bpf_mlock_acquire(&t->lock);
    }
    __atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELAXED);
}

static void
write_end(struct lpm_trie *t)
{
    __atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELEASE);
    if (bpf_maps_concurrent) {
        bpf_mlock_release(&t->lock);
    }
}

static void
store_data(uint8_t *dst, const uint8_t *src, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        LPM_STORE(dst[i], src[i]);
    }
}

static struct lpm_node *
node_get(struct lpm_trie *t)
{
    struct lpm_node *n;
    if (t->free_list) {
        n = t->free_list;
        t->free_list = n->child[0];
    } else {
        /* Never exhausted: at most 2 * max_entries - 1 nodes are live. */
        n = (struct lpm_node *)(void *)(t->pool +
                                        (size_t)t->n_bumped++ * t->node_size);
    }
    LPM_STORE(n->child[0], NULL);
    LPM_STORE(n->child[1], NULL);
    LPM_STORE(n->flags, 0);
    return n;
}

static void
node_put(struct lpm_trie *t, struct lpm_node *n)
{
    LPM_STORE(n->child[0], t->free_list);
    t->free_list = n;
}

static unsigned int
extract_bit(const uint8_t *data, size_t index)
{
    return (data[index / 8] >> (7 - (index % 8))) & 1;
}

/* Number of leading bits 'node' and 'key' share, up to the shorter of
 * their prefix lengths. */
static inline __attribute__((always_inline)) uint32_t
prefix_match_ld(const struct lpm_trie *t, const struct lpm_node *node,
                const struct lpm_key *key, bool shared)
{
    uint32_t limit = MIN(LPM_LOAD(shared, node->prefixlen), key->prefixlen);
    uint32_t bits = 0;

    for (uint32_t i = 0; i < t->data_size && bits < limit; i++) {
        uint8_t diff = LPM_LOAD(shared, node->data[i]) ^ key->data[i];
        if (diff) {
            bits += (uint32_t)__builtin_clz((unsigned int)diff) - 24;
            break;
        }
        bits += 8;
    }
    BPF_MAP_COST(1, 1);
    return MIN(bits, limit);
}

/* Writers' (and get_next_key's) compare, under the lock or alone. */
static uint32_t
prefix_match(const struct lpm_trie *t, const struct lpm_node *node,
             const struct lpm_key *key)
{
    return prefix_match_ld(t, node, key, false);
}

/* The walk of a lookup.  At most max_prefixlen + 1 nodes lie on a path
 * (prefix lengths grow along it): the bound of a lock-free walk, which a
 * concurrent writer may send astray (the sequence count then rejects its
 * result). */
static inline __attribute__((always_inline)) struct lpm_node *
lpm_longest(struct bpf_map *map, const void *key_, bool shared)
{
    struct lpm_trie *t = map->priv;
    const struct lpm_key *key = key_;
    struct lpm_node *found = NULL;
    uint32_t steps = 0;

    for (struct lpm_node *node = LPM_LOAD(shared, t->root);
         node && (!shared || steps <= t->max_prefixlen); steps++) {
        uint32_t matchlen = prefix_match_ld(t, node, key, shared);
        uint32_t prefixlen = LPM_LOAD(shared, node->prefixlen);
        bool im = LPM_LOAD(shared, node->flags) & LPM_FLAG_IM;
        if (matchlen == t->max_prefixlen) {
            if (!im) {
                found = node;
            }
            break;
        }
        if (matchlen < prefixlen) {
            break;
        }
        if (!im) {
            found = node;
        }
        /* prefixlen <= matchlen < max_prefixlen: the bit is in the key. */
        node = LPM_LOAD(shared, node->child[extract_bit(key->data, prefixlen)]);
    }
    return found;
}

static void *
lpm_lookup(struct bpf_map *map, const void *key)
{
    struct lpm_trie *t = map->priv;
    struct lpm_node *n;

    BPF_MAP_COST_OP();
    if (!bpf_maps_concurrent) {
        n = lpm_longest(map, key, false);
    } else {
        for (;;) {
            uint32_t seq = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
            if (seq & 1) {
                __builtin_ia32_pause();
                continue;
            }
            n = lpm_longest(map, key, true);
            if (__atomic_load_n(&t->seq, __ATOMIC_RELAXED) == seq) {
                break;
            }
        }
    }
    return n ? n->data + t->value_off : NULL;
}

static int
lpm_update_locked(struct bpf_map *map, const void *key_, const void *value,
                  uint64_t flags)
{
    struct lpm_trie *t = map->priv;
    const struct lpm_key *key = key_;
    struct lpm_node **slot = &t->root, *node;
    uint32_t matchlen = 0;

    BPF_MAP_COST_OP();
    if (flags > BPF_EXIST || key->prefixlen > t->max_prefixlen) {
        return -EINVAL;
    }
    while ((node = *slot) != NULL) {
        matchlen = prefix_match(t, node, key);
        if (node->prefixlen != matchlen || node->prefixlen == key->prefixlen ||
            node->prefixlen == t->max_prefixlen) {
            break;
        }
        slot = &node->child[extract_bit(key->data, node->prefixlen)];
    }

    /* Stopped at a node of exactly the key's prefix?  One test
     * (LPM_OPAQUE), whichever of its two parts fails. */
    uint32_t exact = 0;
    if (node) {
        exact = (node->prefixlen == matchlen) &
                (node->prefixlen == key->prefixlen);
        LPM_OPAQUE(exact);
    }
    bool exists = exact && !(node->flags & LPM_FLAG_IM);
    if (exists && flags == BPF_NOEXIST) {
        return -EEXIST;
    }
    if (!exists && flags == BPF_EXIST) {
        return -ENOENT;
    }
    if (exists) {
        memcpy(node->data + t->value_off, value, map->value_size);
        return 0;
    }
    if (t->n_entries == map->max_entries) {
        return -ENOSPC;
    }
    if (exact) {
        /* An intermediate node of exactly this prefix becomes real, with
         * the key's bytes (its own came from one of its children). */
        store_data(node->data, key->data, t->data_size);
        memcpy(node->data + t->value_off, value, map->value_size);
        LPM_STORE(node->flags, node->flags & ~LPM_FLAG_IM);
        t->n_entries++;
        return 0;
    }

    struct lpm_node *new = node_get(t);
    LPM_STORE(new->prefixlen, key->prefixlen);
    store_data(new->data, key->data, t->data_size);
    memcpy(new->data + t->value_off, value, map->value_size);
    t->n_entries++;

    if (!node) {
        LPM_STORE(*slot, new);
    } else if (matchlen == key->prefixlen) {
        /* The new prefix covers 'node': it becomes its parent. */
        LPM_STORE(new->child[extract_bit(node->data, matchlen)], node);
        LPM_STORE(*slot, new);
    } else {
        /* They diverge at bit 'matchlen': join them under an intermediate
         * node of that length. */
        struct lpm_node *im = node_get(t);
        LPM_STORE(im->prefixlen, matchlen);
        LPM_STORE(im->flags, LPM_FLAG_IM);
        store_data(im->data, node->data, t->data_size);
        unsigned int bit = extract_bit(key->data, matchlen);
        LPM_STORE(im->child[bit], new);
        LPM_STORE(im->child[!bit], node);
        LPM_STORE(*slot, im);
    }
    return 0;
}

static int
lpm_update(struct bpf_map *map, const void *key, const void *value,
           uint64_t flags)
{
    struct lpm_trie *t = map->priv;
    write_begin(t);
    int err = lpm_update_locked(map, key, value, flags);
    write_end(t);
    return err;
}

/* The parent of the root, for lpm_delete_locked(): never intermediate, so
 * the root is never merged away, and its flags can be read without a
 * NULL test (one path less in the delete's cost). */
static struct lpm_node lpm_no_parent;

static int
lpm_delete_locked(struct bpf_map *map, const void *key_)
{
    struct lpm_trie *t = map->priv;
    const struct lpm_key *key = key_;
    struct lpm_node **trim = &t->root, **trim2 = trim;
    struct lpm_node *node, *parent = &lpm_no_parent;
    uint32_t matchlen = 0;

    BPF_MAP_COST_OP();
    if (key->prefixlen > t->max_prefixlen) {
        return -EINVAL;
    }
    while ((node = *trim) != NULL) {
        matchlen = prefix_match(t, node, key);
        if (node->prefixlen != matchlen || node->prefixlen == key->prefixlen) {
            break;
        }
        parent = node;
        trim2 = trim;
        trim = &node->child[extract_bit(key->data, node->prefixlen)];
    }
    if (!node || node->prefixlen != key->prefixlen ||
        node->prefixlen != matchlen || (node->flags & LPM_FLAG_IM)) {
        return -ENOENT;
    }
    t->n_entries--;

    /* Three cases, each one path whichever child is missing (the tests
     * are computed into registers, LPM_OPAQUE, rather than left to
     * short-circuit branches), so that a delete's cost is exactly linear
     * in its PCVs: two children, the node stays as an intermediate one;
     * a leaf under an intermediate parent, the parent's other child takes
     * the parent's place; otherwise the only child (or nothing) takes the
     * node's place. */
    struct lpm_node *c0 = node->child[0], *c1 = node->child[1];
    uint32_t children = (c0 != NULL) + (c1 != NULL);
    LPM_OPAQUE(children);
    if (children == 2) {
        LPM_STORE(node->flags, node->flags | LPM_FLAG_IM);
        return 0;
    }
    struct lpm_node *child =
        (struct lpm_node *)((uintptr_t)c0 | (uintptr_t)c1);
    uint32_t merge = (child == NULL) & (parent->flags & LPM_FLAG_IM);
    LPM_OPAQUE(merge);
    if (merge) {
        LPM_STORE(*trim2, parent->child[parent->child[0] == node]);
        node_put(t, parent);
        node_put(t, node);
        return 0;
    }
    LPM_STORE(*trim, child);
    node_put(t, node);
    return 0;
}

static int
lpm_delete(struct bpf_map *map, const void *key)
{
    struct lpm_trie *t = map->priv;
    write_begin(t);
    int err = lpm_delete_locked(map, key);
    write_end(t);
    return err;
}

static void
copy_key(const struct lpm_trie *t, const struct lpm_node *n, void *next_key)
{
    struct lpm_key *out = next_key;
    out->prefixlen = n->prefixlen;
    memcpy(out->data, n->data, t->data_size);
}

/* First real node in post-order of the subtree at 'root'. */
static const struct lpm_node *
leftmost(const struct lpm_node *root)
{
    const struct lpm_node *next = NULL;
    for (const struct lpm_node *n = root; n;) {
        BPF_MAP_COST(1, 0);
        if (n->flags & LPM_FLAG_IM) {
            n = n->child[0];
        } else {
            next = n;
            n = n->child[0] ? n->child[0] : n->child[1];
        }
    }
    return next;
}

static int
lpm_get_next_key_locked(struct bpf_map *map, const void *key_, void *next_key)
{
    struct lpm_trie *t = map->priv;
    const struct lpm_key *key = key_;
    struct lpm_node *node;
    int sp = -1;

    BPF_MAP_COST_OP();
    if (!t->root) {
        return -ENOENT;
    }
    if (!key || key->prefixlen > t->max_prefixlen) {
        copy_key(t, leftmost(t->root), next_key);
        return 0;
    }
    for (node = t->root; node;) {
        t->stack[++sp] = node;
        uint32_t matchlen = prefix_match(t, node, key);
        if (node->prefixlen != matchlen || node->prefixlen == key->prefixlen) {
            break;
        }
        node = node->child[extract_bit(key->data, node->prefixlen)];
    }
    if (!node || node->prefixlen != key->prefixlen ||
        prefix_match(t, node, key) != node->prefixlen ||
        (node->flags & LPM_FLAG_IM)) {
        copy_key(t, leftmost(t->root), next_key);
        return 0;
    }
    /* Post-order successor: the right sibling's subtree if we came from
     * the left, else the parent (skipping intermediate nodes). */
    node = t->stack[sp];
    while (sp > 0) {
        struct lpm_node *parent = t->stack[sp - 1];
        if (parent->child[0] == node && parent->child[1]) {
            copy_key(t, leftmost(parent->child[1]), next_key);
            return 0;
        }
        if (!(parent->flags & LPM_FLAG_IM)) {
            copy_key(t, parent, next_key);
            return 0;
        }
        node = parent;
        sp--;
    }
    return -ENOENT;
}

/* Under the writers' lock (no count change): it reads nodes plainly and
 * uses the trie's path stack. */
static int
lpm_get_next_key(struct bpf_map *map, const void *key, void *next_key)
{
    struct lpm_trie *t = map->priv;
    if (bpf_maps_concurrent) {
        bpf_mlock_acquire(&t->lock);
    }
    int err = lpm_get_next_key_locked(map, key, next_key);
    if (bpf_maps_concurrent) {
        bpf_mlock_release(&t->lock);
    }
    return err;
}

const struct bpf_map_ops bpf_lpm_ops = {
    .alloc = lpm_alloc,
    .free = lpm_free,
    .lookup = lpm_lookup,
    .update = lpm_update,
    .delete = lpm_delete,
    .get_next_key = lpm_get_next_key,
};

/* prefix_match() that also counts the key-data bytes it compares. */
static uint32_t
probe_match(const struct lpm_trie *t, const struct lpm_node *node,
            const struct lpm_key *key, uint32_t *bytes, uint32_t *diffs)
{
    uint32_t limit = MIN(node->prefixlen, key->prefixlen);
    uint32_t bits = 0;

    for (uint32_t i = 0; i < t->data_size && bits < limit; i++) {
        uint8_t diff = node->data[i] ^ key->data[i];
        ++*bytes;
        if (diff) {
            ++*diffs;
            bits += (uint32_t)__builtin_clz((unsigned int)diff) - 24;
            break;
        }
        bits += 8;
    }
    return MIN(bits, limit);
}

/* Nodes that node_get() would hand out next, 'n' of them: how many come
 * from the never-used part of the pool (node_get's longer path). */
static uint32_t
probe_fresh(const struct lpm_trie *t, uint32_t n)
{
    uint32_t fresh = 0;
    for (const struct lpm_node *f = t->free_list; n; n--) {
        if (f) {
            f = f->child[0];
        } else {
            fresh++;
        }
    }
    return fresh;
}

/* Read-only mirror of the walks of lpm_longest(), lpm_update() and
 * lpm_delete() for cost contracts (bpf_int.h): nodes visited, bytes
 * compared, how each compare and the walk ended, and what an insert or
 * delete would change.  Keep it in step with them. */
void
bpf_lpm_probe_walk(const struct bpf_map *map, int op, const void *key_,
                   struct bpf_map_probe *p, struct bpf_lpm_walk *w)
{
    const struct lpm_trie *t = map->priv;
    const struct lpm_key *key = key_;
    const struct lpm_node *node = t->root, *parent = NULL;
    uint32_t matchlen = 0;

    memset(p, 0, sizeof *p);
    memset(w, 0, sizeof *w);
    if (op != BPF_MAP_LOOKUP_ELEM && key->prefixlen > t->max_prefixlen) {
        return;
    }
    while (node) {
        uint32_t before = p->cmps;
        matchlen = probe_match(t, node, key, &p->cmps, &p->diffs);
        w->scans += p->cmps != before;
        bool im = node->flags & LPM_FLAG_IM;
        p->chain++;
        if (op == BPF_MAP_LOOKUP_ELEM) {
            if (matchlen == t->max_prefixlen || matchlen < node->prefixlen) {
                p->found |= matchlen == t->max_prefixlen && !im;
                break;
            }
            p->found |= !im;
        } else if (node->prefixlen != matchlen ||
                   node->prefixlen == key->prefixlen ||
                   (op == BPF_MAP_UPDATE_ELEM &&
                    node->prefixlen == t->max_prefixlen)) {
            break;
        }
        parent = node;
        node = node->child[extract_bit(key->data, node->prefixlen)];
        w->off = !node;
    }
    /* An empty trie counts as left at once (its own path, no costlier). */
    w->off |= !t->root;
    if (op == BPF_MAP_LOOKUP_ELEM) {
        return;
    }
    bool exact = node && node->prefixlen == matchlen &&
                 node->prefixlen == key->prefixlen;
    p->found = exact && !(node->flags & LPM_FLAG_IM);
    w->im = exact && !p->found;
    if (op == BPF_MAP_UPDATE_ELEM) {
        p->full = !p->found && t->n_entries == map->max_entries;
        /* An insert: a leaf or a new parent (one node), an intermediate
         * node turned real (none), or a new leaf joined to 'node' under
         * a new intermediate node (two). */
        w->nodes = w->im ? 0 : node && matchlen != key->prefixlen ? 2 : 1;
        w->joins = w->nodes == 2;
        w->fresh = probe_fresh(t, w->nodes);
    } else if (p->found) {
        /* A delete: as lpm_delete_locked()'s three cases. */
        bool leaf = !node->child[0] && !node->child[1];
        if (node->child[0] && node->child[1]) {
            w->nodes = 0;
        } else if (leaf && parent && (parent->flags & LPM_FLAG_IM)) {
            w->nodes = 2;
            w->joins = 1;
        } else {
            w->nodes = 1;
        }
    }
}

void
bpf_lpm_probe(const struct bpf_map *map, int op, const void *key,
              struct bpf_map_probe *p)
{
    struct bpf_lpm_walk w;
    bpf_lpm_probe_walk(map, op, key, p, &w);
}
