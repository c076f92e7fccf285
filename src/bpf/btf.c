/* BTF reader: validation of the whole section, then typed lookups.
 *
 * Layout (kernel Documentation/bpf/btf.rst): a header, then a type section
 * of variable-length records (a struct btf_type followed by kind-specific
 * data whose length depends on the kind and on 'vlen'), then a string
 * section.  Type IDs number the records from 1 in order, so the parser
 * builds an array of record offsets while checking each record's length.
 * Object files come from this machine's clang, so only little-endian BTF
 * is accepted. */
#include "bpf/btf.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define BTF_MAX_CHAIN 32 /* Longest typedef/modifier chain. */

struct bpf_btf {
    uint8_t *types;     /* Copy of the type section (owned). */
    uint32_t types_len; /* Bytes. */
    char *strs;         /* Copy of the string section (owned). */
    uint32_t strs_len;  /* Bytes; strs[strs_len - 1] == '\0'. */
    uint32_t *offs;     /* offs[id - 1]: record offset in types. */
    uint32_t n;         /* Records (IDs 1..n). */
};

unsigned int
bpf_btf_kind(const struct btf_type *t)
{
    return BTF_INFO_KIND(t->info);
}

unsigned int
bpf_btf_vlen(const struct btf_type *t)
{
    return BTF_INFO_VLEN(t->info);
}

/* Returns the bytes that follow the struct btf_type of a record of this
 * kind and vlen, or -1 for an unknown kind. */
static int64_t
extra_size(unsigned int kind, unsigned int vlen)
{
    switch (kind) {
    case BTF_KIND_INT:
        return 4;
    case BTF_KIND_PTR:
    case BTF_KIND_FWD:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_FUNC:
    case BTF_KIND_FLOAT:
    case BTF_KIND_TYPE_TAG:
        return 0;
    case BTF_KIND_ARRAY:
        return sizeof(struct btf_array);
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
        return (int64_t)vlen * sizeof(struct btf_member);
    case BTF_KIND_ENUM:
        return (int64_t)vlen * sizeof(struct btf_enum);
    case BTF_KIND_FUNC_PROTO:
        return (int64_t)vlen * sizeof(struct btf_param);
    case BTF_KIND_VAR:
        return sizeof(struct btf_var);
    case BTF_KIND_DATASEC:
        return (int64_t)vlen * sizeof(struct btf_var_secinfo);
    case BTF_KIND_DECL_TAG:
        return sizeof(struct btf_decl_tag);
    case BTF_KIND_ENUM64:
        return (int64_t)vlen * sizeof(struct btf_enum64);
    default:
        return -1;
    }
}

/* Frees the partly built 'btf' and passes 'msg' through. */
static char *
parse_fail(struct bpf_btf *btf, char *msg)
{
    bpf_btf_destroy(btf);
    return msg;
}

char *
bpf_btf_parse(const void *data, size_t size, struct bpf_btf **btfp)
{
    struct btf_header hdr;

    *btfp = NULL;
    if (size < sizeof hdr) {
        return xasprintf("%zu bytes is too short for the header", size);
    }
    memcpy(&hdr, data, sizeof hdr);
    if (hdr.magic != BTF_MAGIC) {
        return xasprintf("bad magic 0x%04x (big-endian BTF is not "
                         "supported)",
                         hdr.magic);
    }
    if (hdr.version != BTF_VERSION) {
        return xasprintf("unsupported version %u", hdr.version);
    }
    if (hdr.hdr_len < sizeof hdr || hdr.hdr_len > size) {
        return xasprintf("bad header length %u", hdr.hdr_len);
    }
    uint64_t body = size - hdr.hdr_len;
    if ((uint64_t)hdr.type_off + hdr.type_len > body ||
        (uint64_t)hdr.str_off + hdr.str_len > body) {
        return xasprintf("type or string section exceeds the %zu "
                         "bytes of the section",
                         size);
    }
    if (hdr.type_off % 4) {
        return xasprintf("misaligned type section offset %u", hdr.type_off);
    }
    if (!hdr.str_len ||
        ((const char *)data)[hdr.hdr_len + hdr.str_off + hdr.str_len - 1]) {
        return xstrdup("string section is empty or not "
                       "NUL-terminated");
    }

    struct bpf_btf *btf = xzalloc(sizeof *btf);
    btf->types_len = hdr.type_len;
    btf->types = xmalloc(hdr.type_len ? hdr.type_len : 1);
    memcpy(btf->types, (const uint8_t *)data + hdr.hdr_len + hdr.type_off,
           hdr.type_len);
    btf->strs_len = hdr.str_len;
    btf->strs = xmalloc(hdr.str_len);
    memcpy(btf->strs, (const uint8_t *)data + hdr.hdr_len + hdr.str_off,
           hdr.str_len);

    size_t cap = 0;
    uint32_t off = 0;
    while (off < btf->types_len) {
        struct btf_type t;
        if (btf->types_len - off < sizeof t) {
            return parse_fail(btf,
                              xasprintf("type %u is truncated", btf->n + 1));
        }
        memcpy(&t, btf->types + off, sizeof t);
        int64_t extra =
            extra_size(BTF_INFO_KIND(t.info), BTF_INFO_VLEN(t.info));
        if (extra < 0) {
            return parse_fail(btf,
                              xasprintf("type %u has unknown "
                                        "kind %u",
                                        btf->n + 1, BTF_INFO_KIND(t.info)));
        }
        if ((uint64_t)btf->types_len - off - sizeof t < (uint64_t)extra) {
            return parse_fail(btf,
                              xasprintf("type %u is truncated", btf->n + 1));
        }
        if (t.name_off >= btf->strs_len) {
            return parse_fail(btf, xasprintf("type %u has a name "
                                             "offset %u outside the string "
                                             "section",
                                             btf->n + 1, t.name_off));
        }
        if (btf->n == cap) {
            cap = cap ? cap * 2 : 256;
            btf->offs = xrealloc(btf->offs, cap * sizeof *btf->offs);
        }
        btf->offs[btf->n++] = off;
        off += sizeof t + (uint32_t)extra;
    }
    *btfp = btf;
    return NULL;
}

void
bpf_btf_destroy(struct bpf_btf *btf)
{
    if (btf) {
        free(btf->types);
        free(btf->strs);
        free(btf->offs);
        free(btf);
    }
}

uint32_t
bpf_btf_n_types(const struct bpf_btf *btf)
{
    return btf->n + 1;
}

const struct btf_type *
bpf_btf_type(const struct bpf_btf *btf, uint32_t id)
{
    if (id == 0 || id > btf->n) {
        return NULL;
    }
    /* Records are 4-byte multiples from a 4-aligned malloc'd base. */
    return (const struct btf_type *)(void *)(btf->types + btf->offs[id - 1]);
}

const char *
bpf_btf_str(const struct bpf_btf *btf, uint32_t off)
{
    return off < btf->strs_len ? btf->strs + off : "";
}

uint32_t
bpf_btf_skip_mods(const struct bpf_btf *btf, uint32_t id)
{
    for (int i = 0; i < BTF_MAX_CHAIN; i++) {
        const struct btf_type *t = bpf_btf_type(btf, id);
        if (!t) {
            return 0;
        }
        switch (bpf_btf_kind(t)) {
        case BTF_KIND_TYPEDEF:
        case BTF_KIND_VOLATILE:
        case BTF_KIND_CONST:
        case BTF_KIND_RESTRICT:
        case BTF_KIND_TYPE_TAG:
            id = t->type;
            break;
        default:
            return id;
        }
    }
    return 0;
}

static int
type_size(const struct bpf_btf *btf, uint32_t id, int depth, uint32_t *size)
{
    if (depth > BTF_MAX_CHAIN) {
        return -EINVAL;
    }
    id = bpf_btf_skip_mods(btf, id);
    const struct btf_type *t = bpf_btf_type(btf, id);
    if (!t) {
        return -EINVAL;
    }
    switch (bpf_btf_kind(t)) {
    case BTF_KIND_INT:
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
    case BTF_KIND_FLOAT:
    case BTF_KIND_DATASEC:
        *size = t->size;
        return 0;
    case BTF_KIND_PTR:
        *size = 8;
        return 0;
    case BTF_KIND_VAR:
        return type_size(btf, t->type, depth + 1, size);
    case BTF_KIND_ARRAY: {
        struct btf_array a;
        uint32_t elem;
        memcpy(&a, t + 1, sizeof a);
        int err = type_size(btf, a.type, depth + 1, &elem);
        if (err) {
            return err;
        }
        uint64_t total = (uint64_t)elem * a.nelems;
        if (total > UINT32_MAX) {
            return -EINVAL;
        }
        *size = (uint32_t)total;
        return 0;
    }
    default:
        return -EINVAL;
    }
}

int
bpf_btf_type_size(const struct bpf_btf *btf, uint32_t id, uint32_t *size)
{
    return type_size(btf, id, 0, size);
}

uint32_t
bpf_btf_find_datasec(const struct bpf_btf *btf, const char *name)
{
    for (uint32_t id = 1; id <= btf->n; id++) {
        const struct btf_type *t = bpf_btf_type(btf, id);
        if (bpf_btf_kind(t) == BTF_KIND_DATASEC &&
            !strcmp(bpf_btf_str(btf, t->name_off), name)) {
            return id;
        }
    }
    return 0;
}

/* libbpf's __uint(name, val) encodes 'val' as "int (*name)[val]": reads
 * the array's element count. */
static char *
field_uint(const struct bpf_btf *btf, const char *field, uint32_t type_id,
           uint32_t *val)
{
    const struct btf_type *t =
        bpf_btf_type(btf, bpf_btf_skip_mods(btf, type_id));
    if (!t || bpf_btf_kind(t) != BTF_KIND_PTR) {
        return xasprintf("field '%s' is not a pointer as __uint() makes "
                         "it",
                         field);
    }
    const struct btf_type *a =
        bpf_btf_type(btf, bpf_btf_skip_mods(btf, t->type));
    if (!a || bpf_btf_kind(a) != BTF_KIND_ARRAY) {
        return xasprintf("field '%s' does not point to an array as "
                         "__uint() makes it",
                         field);
    }
    struct btf_array arr;
    memcpy(&arr, a + 1, sizeof arr);
    *val = arr.nelems;
    return NULL;
}

/* __type(key, T) encodes "T *key": stores sizeof(T). */
static char *
field_type_size(const struct bpf_btf *btf, const char *field, uint32_t type_id,
                uint32_t *size)
{
    const struct btf_type *t =
        bpf_btf_type(btf, bpf_btf_skip_mods(btf, type_id));
    if (!t || bpf_btf_kind(t) != BTF_KIND_PTR) {
        return xasprintf("field '%s' is not a pointer as __type() makes "
                         "it",
                         field);
    }
    if (bpf_btf_type_size(btf, t->type, size) || !*size) {
        return xasprintf("field '%s' points to a type without a size", field);
    }
    return NULL;
}

/* __array(values, T) encodes a flexible array "typeof(T) *values[]" whose
 * slots the object fills with relocations: records where it starts. */
static char *
field_values(const struct bpf_btf *btf, const struct btf_type *st,
             const struct btf_member *m, struct bpf_btf_map_def *def)
{
    const struct btf_type *a =
        bpf_btf_type(btf, bpf_btf_skip_mods(btf, m->type));
    if (!a || bpf_btf_kind(a) != BTF_KIND_ARRAY) {
        return xstrdup("field 'values' is not an array as __array() makes "
                       "it");
    }
    struct btf_array arr;
    memcpy(&arr, a + 1, sizeof arr);
    const struct btf_type *elem =
        bpf_btf_type(btf, bpf_btf_skip_mods(btf, arr.type));
    if (!elem || bpf_btf_kind(elem) != BTF_KIND_PTR) {
        return xstrdup("field 'values' is not an array of pointers");
    }
    uint32_t bits =
        BTF_INFO_KFLAG(st->info) ? BTF_MEMBER_BIT_OFFSET(m->offset) : m->offset;
    if (bits % 64 || bits / 8 > st->size) {
        return xasprintf("field 'values' at bit offset %u is misplaced", bits);
    }
    def->has_values = true;
    def->values_off = bits / 8;
    return NULL;
}

char *
bpf_btf_map_def(const struct bpf_btf *btf, uint32_t var_type_id,
                struct bpf_btf_map_def *def)
{
    uint32_t key_type_size = 0, value_type_size = 0;
    char *err = NULL;

    memset(def, 0, sizeof *def);
    const struct btf_type *st =
        bpf_btf_type(btf, bpf_btf_skip_mods(btf, var_type_id));
    if (!st || bpf_btf_kind(st) != BTF_KIND_STRUCT) {
        return xstrdup("map definition is not a struct");
    }
    const struct btf_member *m = (const struct btf_member *)(st + 1);
    for (unsigned int i = 0; i < bpf_btf_vlen(st) && !err; i++) {
        const char *name = bpf_btf_str(btf, m[i].name_off);
        uint32_t type = m[i].type;
        if (!strcmp(name, "type")) {
            err = field_uint(btf, name, type, &def->type);
        } else if (!strcmp(name, "max_entries")) {
            err = field_uint(btf, name, type, &def->max_entries);
        } else if (!strcmp(name, "map_flags")) {
            err = field_uint(btf, name, type, &def->map_flags);
        } else if (!strcmp(name, "key_size")) {
            err = field_uint(btf, name, type, &def->key_size);
        } else if (!strcmp(name, "value_size")) {
            err = field_uint(btf, name, type, &def->value_size);
        } else if (!strcmp(name, "key")) {
            err = field_type_size(btf, name, type, &key_type_size);
        } else if (!strcmp(name, "value")) {
            err = field_type_size(btf, name, type, &value_type_size);
        } else if (!strcmp(name, "values")) {
            err = field_values(btf, st, &m[i], def);
        } else if (!strcmp(name, "pinning") || !strcmp(name, "numa_node") ||
                   !strcmp(name, "map_extra")) {
            /* Pinning and NUMA placement mean nothing here. */
        } else {
            err = xasprintf("unsupported map field '%s'", name);
        }
    }
    if (err) {
        return err;
    }
    if (key_type_size) {
        if (def->key_size && def->key_size != key_type_size) {
            return xasprintf("key_size %u disagrees with the key type's "
                             "size %u",
                             def->key_size, key_type_size);
        }
        def->key_size = key_type_size;
    }
    if (value_type_size) {
        if (def->value_size && def->value_size != value_type_size) {
            return xasprintf("value_size %u disagrees with the value "
                             "type's size %u",
                             def->value_size, value_type_size);
        }
        def->value_size = value_type_size;
    }
    if (!def->type) {
        return xstrdup("map definition has no 'type' field");
    }
    if (def->has_values) {
        if (def->type != BPF_MAP_TYPE_PROG_ARRAY) {
            return xstrdup("initial 'values' are supported for program "
                           "arrays only");
        }
        /* Slots hold program references: 4-byte ids, as in libbpf. */
        if (def->value_size && def->value_size != 4) {
            return xasprintf("value_size %u of a program array must be 4",
                             def->value_size);
        }
        def->value_size = 4;
    }
    def->struct_size = st->size;
    return NULL;
}
