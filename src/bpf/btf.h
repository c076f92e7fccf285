/* A small reader for BTF, the type information clang emits into ".BTF".
 *
 * The loader needs only a little of it: the DATASEC records that list the
 * variables of ".maps" (and of the global-data sections), the struct each
 * map variable has, and the sizes of key and value types.  The parser
 * checks every record against the section bounds once, up front, so that
 * the lookups below can trust type IDs they hand out; IDs that come from
 * the data (a member's type, say) are checked on every use. */
#ifndef BPF_BTF_H
#define BPF_BTF_H 1

#include <linux/btf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/compiler.h"

struct bpf_btf;

/* Parses a ".BTF" section image (copied; 'data' is not kept).  Returns NULL
 * and sets '*btfp', or an error message the caller frees. */
char *bpf_btf_parse(const void *data, size_t size,
                    struct bpf_btf **btfp) WARN_UNUSED_RESULT;
void bpf_btf_destroy(struct bpf_btf *);

/* Number of type IDs, including the implicit 'void' (ID 0). */
uint32_t bpf_btf_n_types(const struct bpf_btf *);
/* Returns type 'id' or NULL if 'id' is 0 or out of range. */
const struct btf_type *bpf_btf_type(const struct bpf_btf *, uint32_t id);
/* Returns the string at 'off' ("" if out of range). */
const char *bpf_btf_str(const struct bpf_btf *, uint32_t off);
/* Kind of a type record. */
unsigned int bpf_btf_kind(const struct btf_type *);
unsigned int bpf_btf_vlen(const struct btf_type *);

/* Follows typedefs and const/volatile/restrict/type-tag modifiers.
 * Returns the final ID, or 0 (void, a loop, a bad ID). */
uint32_t bpf_btf_skip_mods(const struct bpf_btf *, uint32_t id);
/* Stores the byte size of type 'id'.  Returns 0 or -EINVAL for types
 * without a size (void, functions, forward declarations) or overflow. */
int bpf_btf_type_size(const struct bpf_btf *, uint32_t id, uint32_t *size);
/* Returns the ID of the DATASEC named 'name', or 0. */
uint32_t bpf_btf_find_datasec(const struct bpf_btf *, const char *name);

/* A map definition read from a BTF-defined map (struct in ".maps"). */
struct bpf_btf_map_def {
    uint32_t type;       /* Map type. */
    uint32_t key_size;   /* Bytes. */
    uint32_t value_size; /* Bytes. */
    uint32_t max_entries;
    uint32_t map_flags;
    uint32_t struct_size; /* Bytes of the definition struct. */
    bool has_values;      /* Program array with __array(values, ...). */
    uint32_t values_off;  /* Bytes from the struct start to 'values'. */
};

/* Reads the definition of the ".maps" variable of type 'var_type_id'.
 * Returns NULL or an error message naming the field (caller frees). */
char *bpf_btf_map_def(const struct bpf_btf *, uint32_t var_type_id,
                      struct bpf_btf_map_def *) WARN_UNUSED_RESULT;

#endif
