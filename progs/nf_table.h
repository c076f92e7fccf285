/* An expiring, fixed-capacity table built from kernel map types only.
 *
 * NF-SPECS asks for tables whose capacity is set at load time, whose idle
 * entries expire (an entry idle longer than the timeout is absent and its
 * slot reused) and whose "full" state is real: a live entry is never
 * evicted.  An LRU hash gets the last rule wrong (it evicts live entries
 * silently), and a plain hash with lazy expiry cannot find an expired
 * entry to reuse when it is full.  So a table here is three maps:
 *
 *   index  HASH   key -> slot number (1..capacity)
 *   nodes  ARRAY  slot -> struct nf_tbl_node, slot 0 being a sentinel
 *   slots  ARRAY  slot -> the program's entry (its key and value)
 *
 * 'nodes' keeps the slots in a doubly linked list in order of last use,
 * oldest first, as Vigor's "double chain" allocator does.  Because the
 * oldest slot is at the head, one look at the head tells whether any entry
 * has expired: when no never-used slot is left and the head is still live,
 * the table is full.  Allocation is therefore O(1) and exact.  The
 * sentinel's 'time_ns' holds the number of slots ever handed out (slots
 * are first given out in order 1, 2, ...; afterwards only expired ones are
 * reused), so an all-zero array is an empty table.
 *
 * The list is updated without locks: a table belongs to one program
 * instance run by one thread at a time, which is how sluice runs the
 * offline pipeline and a live switch with one datapath thread.  Threads
 * sharing a program could lose a refresh or misorder the list, but never
 * break memory safety: every access is checked and nothing walks the
 * list.  (The kernel would need a bpf_spin_lock per table.)
 *
 * Time is packet time.  An entry is expired when now - last use >
 * timeout; one exactly at the timeout survives.  A packet older than the
 * entry's last use (reordering between ports) neither expires nor ages it.
 */
#ifndef PROGS_NF_TABLE_H
#define PROGS_NF_TABLE_H 1

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Largest capacity; array maps of tables have NF_TBL_MAX + 1 slots. */
#define NF_TBL_MAX 65536

struct nf_tbl_node {
    __u64 time_ns;      /* Last use (packet time, ns); in the sentinel, the
                         * number of slots ever handed out. */
    __u32 prev;         /* Next older slot; 0 is the sentinel. */
    __u32 next;         /* Next newer slot; 0 is the sentinel. */
};

/* Outcomes of nf_tbl_alloc(). */
enum nf_tbl_alloc_result {
    NF_TBL_FULL = -1,   /* Every slot holds a live entry. */
    NF_TBL_FRESH = 0,   /* A never-used slot. */
    NF_TBL_REUSED = 1,  /* An expired entry's slot: the caller must delete
                         * that entry's key from its index. */
};

static __always_inline int
nf_tbl_expired(const struct nf_tbl_node *n, __u64 now, __u64 timeout_ns)
{
    return now > n->time_ns && now - n->time_ns > timeout_ns;
}

/* Moves 'slot' (whose node is 'n') to the newest end of the list and
 * stamps it with 'now'.  'linked' tells whether it is in the list yet. */
static __always_inline int
nf_tbl_append(void *nodes, __u32 slot, struct nf_tbl_node *n, __u64 now,
              int linked)
{
    __u32 zero = 0;
    struct nf_tbl_node *s = bpf_map_lookup_elem(nodes, &zero);

    if (!s) {
        return -1;
    }
    if (now > n->time_ns || !linked) {
        n->time_ns = now;
    }
    if (linked) {
        if (s->prev == slot) {
            return 0;           /* Already the newest. */
        }
        __u32 p_idx = n->prev;
        __u32 n_idx = n->next;
        struct nf_tbl_node *p = bpf_map_lookup_elem(nodes, &p_idx);
        struct nf_tbl_node *q = bpf_map_lookup_elem(nodes, &n_idx);
        if (!p || !q) {
            return -1;
        }
        p->next = n_idx;
        q->prev = p_idx;
    }
    __u32 last_idx = s->prev;
    struct nf_tbl_node *last = bpf_map_lookup_elem(nodes, &last_idx);
    if (!last) {
        return -1;
    }
    last->next = slot;
    n->prev = last_idx;
    n->next = 0;
    s->prev = slot;
    return 0;
}

/* Marks 'slot' as used now (a refresh). */
static __always_inline int
nf_tbl_touch(void *nodes, __u32 slot, __u64 now)
{
    struct nf_tbl_node *n = bpf_map_lookup_elem(nodes, &slot);

    if (!n) {
        return -1;
    }
    return nf_tbl_append(nodes, slot, n, now, 1);
}

/* The node of 'slot' when its entry is live at 'now', else NULL. */
static __always_inline struct nf_tbl_node *
nf_tbl_live(void *nodes, __u32 slot, __u64 now, __u64 timeout_ns)
{
    struct nf_tbl_node *n = bpf_map_lookup_elem(nodes, &slot);

    if (!n || nf_tbl_expired(n, now, timeout_ns)) {
        return NULL;
    }
    return n;
}

/* Finds a slot for a new entry among 'capacity' (at most NF_TBL_MAX) and
 * marks it used now.  Returns an enum nf_tbl_alloc_result and the slot in
 * '*slot'. */
static __always_inline int
nf_tbl_alloc(void *nodes, __u32 capacity, __u64 now, __u64 timeout_ns,
             __u32 *slot)
{
    __u32 zero = 0;
    struct nf_tbl_node *s = bpf_map_lookup_elem(nodes, &zero);

    if (!s) {
        return NF_TBL_FULL;
    }
    if (capacity > NF_TBL_MAX) {
        capacity = NF_TBL_MAX;
    }
    if (s->time_ns < capacity) {
        __u32 idx = (__u32)s->time_ns + 1;
        struct nf_tbl_node *n = bpf_map_lookup_elem(nodes, &idx);
        if (!n || nf_tbl_append(nodes, idx, n, now, 0) < 0) {
            return NF_TBL_FULL;
        }
        s->time_ns++;
        *slot = idx;
        return NF_TBL_FRESH;
    }

    __u32 oldest = s->next;
    struct nf_tbl_node *o = bpf_map_lookup_elem(nodes, &oldest);
    if (oldest == 0 || !o || !nf_tbl_expired(o, now, timeout_ns)) {
        return NF_TBL_FULL;
    }
    if (nf_tbl_append(nodes, oldest, o, now, 1) < 0) {
        return NF_TBL_FULL;
    }
    *slot = oldest;
    return NF_TBL_REUSED;
}

/* Declares the 'nodes' array of a table named NAME. */
#define NF_TBL_NODES(NAME)                                                     \
    struct {                                                                   \
        __uint(type, BPF_MAP_TYPE_ARRAY);                                      \
        __uint(max_entries, NF_TBL_MAX + 1);                                   \
        __type(key, __u32);                                                    \
        __type(value, struct nf_tbl_node);                                     \
    } NAME SEC(".maps")

#endif
