/* Object loader: ELF files from `clang -target bpf` to relocated programs
 * and created maps, the way libbpf prepares them for the kernel.
 *
 * The big idea: an object file is a set of sections, and a program is a
 * function in an executable section other than ".text".  Loading happens in
 * passes over a private copy of the file:
 *   1. Read the ELF headers, the section table, the symbol table and .BTF,
 *      checking every offset and size against the image.
 *   2. Create the maps: BTF-defined ones in ".maps", legacy struct
 *      bpf_map_def ones in "maps", and one single-entry array per global
 *      data section (.data*, .rodata*, .bss*) holding the section image,
 *      with .rodata variables overridden from bpf_load_opts first.
 *   3. Split executable sections into functions by their STT_FUNC symbols.
 *   4. Link each program: copy its function, patch LD_IMM64 relocations
 *      into map references (BPF_PSEUDO_MAP_FD / BPF_PSEUDO_MAP_VALUE with
 *      imm = index into the program's own map list), and append every
 *      function it calls (BPF_PSEUDO_CALL) or takes the address of
 *      (BPF_PSEUDO_FUNC), transitively, fixing each call's imm to the
 *      callee's offset relative to the call, as the kernel expects.
 * Every failure is a negative errno plus a message naming the section or
 * symbol; nothing here trusts a number read from the file. */
#include "bpf/bpf_api.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpf/bpf_int.h"
#include "bpf/btf.h"
#include "bpf/jit.h"
#include "bpf/maps.h"
#include "core/util.h"

#define BPF_OBJ_MAX_SIZE (256u << 20) /* Largest object file, bytes. */
#ifndef R_BPF_64_ABS64
#define R_BPF_64_ABS64 2 /* 64-bit absolute address (data). */
#endif
#define BPF_LEGACY_MAP_DEF_SIZE 20 /* struct bpf_map_def, 5 x u32. */
/* Most map memory (keys and values) one object may ask for, like the
 * kernel's memlock limit: maps are preallocated, so a corrupt or hostile
 * max_entries would otherwise become a huge allocation. */
#define BPF_OBJ_MAX_MAP_BYTES (512ull << 20)

struct bpf_object {
    char name[BPF_NAME_LEN]; /* File name without directories. */
    struct bpf_prog **progs; /* Owned. */
    size_t n_progs;
    struct bpf_map **maps; /* Owned. */
    size_t n_maps;
};

enum sec_kind {
    SEC_OTHER,       /* Ignored (debug info, license...). */
    SEC_TEXT,        /* ".text": subprograms only. */
    SEC_PROG,        /* Other executable sections. */
    SEC_MAPS_BTF,    /* ".maps". */
    SEC_MAPS_LEGACY, /* "maps". */
    SEC_DATA,        /* .data*, .rodata*, .bss*. */
};

struct ld_sec {
    const char *name; /* Borrowed from the ELF image. */
    GElf_Shdr shdr;
    const uint8_t *data; /* Section bytes; NULL for NOBITS. */
    size_t size;         /* Bytes. */
    enum sec_kind kind;
    int map_idx;       /* SEC_DATA: object map index. */
    int32_t *insn_rel; /* Executable: per-insn relocation
                        * index into 'rels', or -1. */
    GElf_Rel *rels;    /* Executable: its relocations. */
    size_t n_rels;
    size_t rel_sec; /* Index of the .rel section, or 0. */
};

/* A function: a range of instructions of an executable section. */
struct ld_unit {
    size_t sec;        /* Section index. */
    size_t start, end; /* Instruction range [start, end). */
    const char *name;  /* Symbol name (borrowed). */
};

/* Where a map symbol lives, for relocations against map sections. */
struct ld_map_sym {
    size_t sec;          /* Section index. */
    uint64_t off;        /* Symbol value, bytes. */
    uint64_t size;       /* Bytes of the definition. */
    size_t map_idx;      /* Object map index. */
    bool has_values;     /* Program array with initial 'values'. */
    uint32_t values_off; /* Bytes from 'off' to the 'values' slots. */
};

struct loader {
    uint8_t *image; /* Private copy of the file (owned). */
    size_t size;    /* Bytes. */
    Elf *elf;
    struct ld_sec *secs; /* Indexed by ELF section index. */
    size_t n_secs;
    GElf_Sym *syms;         /* Symbol table. */
    const char **sym_names; /* Parallel to 'syms'. */
    size_t n_syms;
    struct bpf_btf *btf; /* NULL without .BTF. */
    struct ld_unit *units;
    size_t n_units;
    struct ld_map_sym *map_syms;
    size_t n_map_syms;
    const struct bpf_load_opts *opts;
    struct bpf_object *obj;
    char *err;          /* First error message. */
    uint64_t map_bytes; /* Map memory asked for so far, bytes. */
    size_t *prog_units; /* Per object program: its unit index. */
};

/* Records the first error and returns 'err' (a negative errno). */
static int PRINTF_FORMAT(3, 4)
    ld_error(struct loader *ld, int err, const char *fmt, ...)
{
    if (!ld->err) {
        va_list args;
        va_start(args, fmt);
        ld->err = xvasprintf(fmt, args);
        va_end(args);
    }
    return err;
}

static bool
has_prefix(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static bool
is_data_section(const char *name)
{
    static const char *const bases[] = {".data", ".rodata", ".bss"};
    for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
        size_t len = strlen(bases[i]);
        if (!strncmp(name, bases[i], len) &&
            (name[len] == '\0' || name[len] == '.')) {
            return true;
        }
    }
    return false;
}

static const char *
sym_name(const struct loader *ld, size_t i)
{
    return ld->sym_names[i];
}

/* Pass 1: ELF header and section table. */
static int
read_sections(struct loader *ld)
{
    GElf_Ehdr ehdr;
    size_t shstrndx, n;

    if (elf_version(EV_CURRENT) == EV_NONE) {
        return ld_error(ld, -EINVAL, "libelf: %s", elf_errmsg(-1));
    }
    if (ld->size < EI_NIDENT || memcmp(ld->image, ELFMAG, SELFMAG)) {
        return ld_error(ld, -EINVAL, "not an ELF file");
    }
    if (ld->image[EI_CLASS] != ELFCLASS64) {
        return ld_error(ld, -ENOTSUP, "ELF class %u is not 64-bit",
                        ld->image[EI_CLASS]);
    }
    if (ld->image[EI_DATA] != ELFDATA2LSB) {
        return ld_error(ld, -ENOTSUP, "big-endian objects are not supported");
    }
    ld->elf = elf_memory((char *)ld->image, ld->size);
    if (!ld->elf || elf_kind(ld->elf) != ELF_K_ELF) {
        return ld_error(ld, -EINVAL, "not an ELF file: %s", elf_errmsg(-1));
    }
    if (!gelf_getehdr(ld->elf, &ehdr)) {
        return ld_error(ld, -EINVAL, "bad ELF header: %s", elf_errmsg(-1));
    }
    if (ehdr.e_machine != EM_BPF) {
        return ld_error(ld, -ENOTSUP, "ELF machine %u is not BPF (%u)",
                        ehdr.e_machine, EM_BPF);
    }
    if (ehdr.e_type != ET_REL) {
        return ld_error(ld, -ENOTSUP,
                        "ELF type %u is not a relocatable "
                        "object",
                        ehdr.e_type);
    }
    if (elf_getshdrnum(ld->elf, &n) || elf_getshdrstrndx(ld->elf, &shstrndx)) {
        return ld_error(ld, -EINVAL, "bad section table: %s", elf_errmsg(-1));
    }
    if (n == 0 || n > 65535) {
        return ld_error(ld, -EINVAL, "bad section count %zu", n);
    }
    ld->n_secs = n;
    ld->secs = xcalloc(n, sizeof *ld->secs);
    for (size_t i = 1; i < n; i++) {
        struct ld_sec *sec = &ld->secs[i];
        Elf_Scn *scn = elf_getscn(ld->elf, i);
        if (!scn || !gelf_getshdr(scn, &sec->shdr)) {
            return ld_error(ld, -EINVAL, "section %zu: bad header: %s", i,
                            elf_errmsg(-1));
        }
        sec->name = elf_strptr(ld->elf, shstrndx, sec->shdr.sh_name);
        if (!sec->name) {
            return ld_error(ld, -EINVAL, "section %zu: bad name offset %u", i,
                            sec->shdr.sh_name);
        }
        sec->map_idx = -1;
        sec->size = sec->shdr.sh_size;
        if (sec->shdr.sh_type != SHT_NOBITS && sec->shdr.sh_type != SHT_NULL) {
            if (sec->shdr.sh_offset > ld->size ||
                sec->shdr.sh_size > ld->size - sec->shdr.sh_offset) {
                return ld_error(ld, -EINVAL,
                                "section '%s': %" PRIu64
                                " bytes at offset %" PRIu64 " exceed the "
                                "%zu-byte file",
                                sec->name, (uint64_t)sec->shdr.sh_size,
                                (uint64_t)sec->shdr.sh_offset, ld->size);
            }
            sec->data = ld->image + sec->shdr.sh_offset;
        }

        const char *name = sec->name;
        if (sec->shdr.sh_type == SHT_PROGBITS &&
            (sec->shdr.sh_flags & SHF_EXECINSTR)) {
            if (sec->size % sizeof(struct bpf_insn)) {
                return ld_error(ld, -EINVAL,
                                "section '%s': size %zu is "
                                "not a multiple of 8",
                                name, sec->size);
            }
            if (sec->size / sizeof(struct bpf_insn) > BPF_MAX_INSNS) {
                return ld_error(ld, -E2BIG,
                                "section '%s': too many "
                                "instructions",
                                name);
            }
            sec->kind = strcmp(name, ".text") ? SEC_PROG : SEC_TEXT;
        } else if (!strcmp(name, ".maps")) {
            sec->kind = SEC_MAPS_BTF;
        } else if (!strcmp(name, "maps")) {
            sec->kind = SEC_MAPS_LEGACY;
        } else if (is_data_section(name) &&
                   (sec->shdr.sh_type == SHT_PROGBITS ||
                    sec->shdr.sh_type == SHT_NOBITS)) {
            sec->kind = SEC_DATA;
        }
        if ((sec->kind == SEC_MAPS_BTF || sec->kind == SEC_MAPS_LEGACY) &&
            !sec->data && sec->size) {
            return ld_error(ld, -EINVAL,
                            "section '%s': map definitions "
                            "have no contents",
                            name);
        }
    }
    return 0;
}

/* Pass 1 (cont.): symbol table. */
static int
read_symbols(struct loader *ld)
{
    size_t symtab = 0;
    for (size_t i = 1; i < ld->n_secs; i++) {
        if (ld->secs[i].shdr.sh_type == SHT_SYMTAB) {
            if (symtab) {
                return ld_error(ld, -ENOTSUP, "more than one symbol table");
            }
            symtab = i;
        }
    }
    if (!symtab) {
        return ld_error(ld, -EINVAL, "no symbol table");
    }
    const struct ld_sec *sec = &ld->secs[symtab];
    if (sec->shdr.sh_entsize != sizeof(Elf64_Sym)) {
        return ld_error(ld, -EINVAL, "section '%s': bad symbol size %" PRIu64,
                        sec->name, (uint64_t)sec->shdr.sh_entsize);
    }
    if (sec->shdr.sh_link == 0 || sec->shdr.sh_link >= ld->n_secs ||
        ld->secs[sec->shdr.sh_link].shdr.sh_type != SHT_STRTAB) {
        return ld_error(ld, -EINVAL, "section '%s': bad string table link",
                        sec->name);
    }
    Elf_Data *data = elf_getdata(elf_getscn(ld->elf, symtab), NULL);
    if (!data || data->d_size != sec->size) {
        return ld_error(ld, -EINVAL, "section '%s': cannot read: %s", sec->name,
                        elf_errmsg(-1));
    }
    ld->n_syms = sec->size / sizeof(Elf64_Sym);
    ld->syms = xcalloc(ld->n_syms ? ld->n_syms : 1, sizeof *ld->syms);
    ld->sym_names = xcalloc(ld->n_syms ? ld->n_syms : 1, sizeof *ld->sym_names);
    for (size_t i = 0; i < ld->n_syms; i++) {
        GElf_Sym *s = &ld->syms[i];
        if (!gelf_getsym(data, (int)i, s)) {
            return ld_error(ld, -EINVAL, "symbol %zu: cannot read", i);
        }
        const char *name = elf_strptr(ld->elf, sec->shdr.sh_link, s->st_name);
        if (!name) {
            return ld_error(ld, -EINVAL, "symbol %zu: bad name offset %u", i,
                            s->st_name);
        }
        if (GELF_ST_TYPE(s->st_info) == STT_SECTION && s->st_shndx &&
            s->st_shndx < ld->n_secs) {
            name = ld->secs[s->st_shndx].name;
        }
        ld->sym_names[i] = name;
    }
    return 0;
}

static int
read_btf(struct loader *ld)
{
    for (size_t i = 1; i < ld->n_secs; i++) {
        const struct ld_sec *sec = &ld->secs[i];
        if (!strcmp(sec->name, ".BTF") && sec->data) {
            char *err = bpf_btf_parse(sec->data, sec->size, &ld->btf);
            if (err) {
                ld_error(ld, -EINVAL, "section '.BTF': %s", err);
                free(err);
                return -EINVAL;
            }
            return 0;
        }
    }
    return 0;
}

/* Pass 2: maps. */

/* Returns a * b, or UINT64_MAX if that overflows. */
static uint64_t
sat_mul(uint64_t a, uint64_t b)
{
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static int
add_map(struct loader *ld, struct bpf_map *map, const void *init)
{
    struct bpf_object *obj = ld->obj;
    uint64_t bytes = map->type == BPF_MAP_TYPE_RINGBUF
                         ? map->max_entries
                         : sat_mul((uint64_t)map->key_size + map->value_size,
                                   map->max_entries);
    if (bpf_map_type_is_percpu(map->type)) {
        bytes = sat_mul(bytes, bpf_map_default_n_cpus());
    }
    if (bytes > BPF_OBJ_MAX_MAP_BYTES - ld->map_bytes) {
        ld_error(ld, -E2BIG,
                 "map '%s': %u entries of %u + %u bytes would take the "
                 "object's maps past %llu MiB",
                 map->name, map->max_entries, map->key_size, map->value_size,
                 BPF_OBJ_MAX_MAP_BYTES >> 20);
        free(map);
        return -E2BIG;
    }
    ld->map_bytes += bytes;
    if (ld->opts && ld->opts->fixed_seed &&
        (map->type == BPF_MAP_TYPE_HASH ||
         map->type == BPF_MAP_TYPE_PERCPU_HASH ||
         map->type == BPF_MAP_TYPE_LRU_HASH ||
         map->type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
         map->type == BPF_MAP_TYPE_SLUICE_FLOWTABLE)) {
        /* The kernel's flag for reproducible hash layouts. */
        map->map_flags |= BPF_F_ZERO_SEED;
    }
    int err = bpf_map_create_internal(map);
    if (err) {
        ld_error(ld, err < 0 ? err : -EINVAL,
                 "map '%s': cannot create "
                 "(type %u, key %u, value %u, max_entries %u): %s",
                 map->name, map->type, map->key_size, map->value_size,
                 map->max_entries, strerror(err < 0 ? -err : EINVAL));
        free(map);
        return err < 0 ? err : -EINVAL;
    }
    obj->maps = xrealloc(obj->maps, (obj->n_maps + 1) * sizeof *obj->maps);
    obj->maps[obj->n_maps++] = map;
    if (init) {
        uint32_t key = 0;
        err = map->ops->update(map, &key, init, BPF_ANY);
        if (err) {
            return ld_error(ld, err,
                            "map '%s': cannot store the initial "
                            "image: %s",
                            map->name, strerror(-err));
        }
    }
    return 0;
}

static void
note_map_sym(struct loader *ld, const struct ld_map_sym *ms)
{
    ld->map_syms =
        xrealloc(ld->map_syms, (ld->n_map_syms + 1) * sizeof *ld->map_syms);
    ld->map_syms[ld->n_map_syms++] = *ms;
}

static struct bpf_map *
new_map(const char *name)
{
    struct bpf_map *map = xzalloc(sizeof *map);
    snprintf(map->name, sizeof map->name, "%s", name);
    return map;
}

/* Finds the VAR named 'name' in DATASEC 'ds_id'; returns its type ID or 0
 * and the VAR's size in '*size' when known. */
static uint32_t
find_datasec_var(const struct bpf_btf *btf, uint32_t ds_id, const char *name,
                 uint32_t *size)
{
    const struct btf_type *ds = bpf_btf_type(btf, ds_id);
    const struct btf_var_secinfo *vs = (const void *)(ds + 1);
    for (unsigned int i = 0; i < bpf_btf_vlen(ds); i++) {
        const struct btf_type *var = bpf_btf_type(btf, vs[i].type);
        if (var && bpf_btf_kind(var) == BTF_KIND_VAR &&
            !strcmp(bpf_btf_str(btf, var->name_off), name)) {
            if (size) {
                *size = vs[i].size;
            }
            return var->type;
        }
    }
    return 0;
}

static bool
is_map_symbol(const GElf_Sym *s)
{
    unsigned int type = GELF_ST_TYPE(s->st_info);
    return type != STT_SECTION && type != STT_FILE && s->st_name;
}

static int
create_btf_maps(struct loader *ld, size_t sec_idx)
{
    const struct ld_sec *sec = &ld->secs[sec_idx];
    if (!ld->btf) {
        return ld_error(ld, -EINVAL,
                        "section '.maps': needs .BTF, which "
                        "the object lacks (build with -g)");
    }
    uint32_t ds = bpf_btf_find_datasec(ld->btf, ".maps");
    if (!ds) {
        return ld_error(ld, -EINVAL,
                        "section '.maps': no DATASEC '.maps' "
                        "in .BTF");
    }
    for (size_t i = 0; i < ld->n_syms; i++) {
        const GElf_Sym *s = &ld->syms[i];
        if (s->st_shndx != sec_idx || !is_map_symbol(s)) {
            continue;
        }
        const char *name = sym_name(ld, i);
        if (s->st_value >= sec->size) {
            return ld_error(ld, -EINVAL,
                            "map '%s': offset %" PRIu64
                            " is outside section '.maps'",
                            name, (uint64_t)s->st_value);
        }
        uint32_t type_id = find_datasec_var(ld->btf, ds, name, NULL);
        if (!type_id) {
            return ld_error(ld, -EINVAL,
                            "map '%s': no BTF variable of "
                            "that name in DATASEC '.maps'",
                            name);
        }
        struct bpf_btf_map_def def;
        char *err = bpf_btf_map_def(ld->btf, type_id, &def);
        if (err) {
            ld_error(ld, -EINVAL, "map '%s': %s", name, err);
            free(err);
            return -EINVAL;
        }
        struct bpf_map *map = new_map(name);
        map->type = def.type;
        map->key_size = def.key_size;
        map->value_size = def.value_size;
        map->max_entries = def.max_entries;
        map->map_flags = def.map_flags;
        int rc = add_map(ld, map, NULL);
        if (rc) {
            return rc;
        }
        note_map_sym(ld, &(struct ld_map_sym){
                             .sec = sec_idx,
                             .off = s->st_value,
                             .size = MAX(def.struct_size, s->st_size),
                             .map_idx = ld->obj->n_maps - 1,
                             .has_values = def.has_values,
                             .values_off = def.values_off,
                         });
    }
    return 0;
}

static int
create_legacy_maps(struct loader *ld, size_t sec_idx)
{
    const struct ld_sec *sec = &ld->secs[sec_idx];
    size_t n = 0;
    for (size_t i = 0; i < ld->n_syms; i++) {
        n += ld->syms[i].st_shndx == sec_idx && is_map_symbol(&ld->syms[i]);
    }
    if (!n) {
        return 0;
    }
    size_t def_size = sec->size / n;
    if (def_size < BPF_LEGACY_MAP_DEF_SIZE || sec->size % n) {
        return ld_error(ld, -EINVAL,
                        "section 'maps': %zu bytes do not hold "
                        "%zu map definitions of at least %d bytes",
                        sec->size, n, BPF_LEGACY_MAP_DEF_SIZE);
    }
    for (size_t i = 0; i < ld->n_syms; i++) {
        const GElf_Sym *s = &ld->syms[i];
        if (s->st_shndx != sec_idx || !is_map_symbol(s)) {
            continue;
        }
        const char *name = sym_name(ld, i);
        if (s->st_value > sec->size - def_size || s->st_value % 4) {
            return ld_error(ld, -EINVAL,
                            "map '%s': offset %" PRIu64
                            " is outside section 'maps' or misaligned",
                            name, (uint64_t)s->st_value);
        }
        uint32_t def[5];
        memcpy(def, sec->data + s->st_value, sizeof def);
        struct bpf_map *map = new_map(name);
        map->type = def[0];
        map->key_size = def[1];
        map->value_size = def[2];
        map->max_entries = def[3];
        map->map_flags = def[4];
        int rc = add_map(ld, map, NULL);
        if (rc) {
            return rc;
        }
        note_map_sym(ld, &(struct ld_map_sym){
                             .sec = sec_idx,
                             .off = s->st_value,
                             .size = def_size,
                             .map_idx = ld->obj->n_maps - 1,
                         });
    }
    return 0;
}

/* Applies the bpf_load_opts .rodata overrides that fall in section
 * 'sec_idx' to 'image'; marks which ones were found in 'found'. */
static int
apply_rodata(struct loader *ld, size_t sec_idx, uint8_t *image, bool *found)
{
    const struct ld_sec *sec = &ld->secs[sec_idx];
    uint32_t ds = ld->btf ? bpf_btf_find_datasec(ld->btf, sec->name) : 0;
    for (size_t r = 0; r < ld->opts->n_rodata; r++) {
        const struct bpf_rodata_set *set = &ld->opts->rodata[r];
        for (size_t i = 0; i < ld->n_syms; i++) {
            const GElf_Sym *s = &ld->syms[i];
            if (s->st_shndx != sec_idx || !is_map_symbol(s) ||
                strcmp(sym_name(ld, i), set->var)) {
                continue;
            }
            uint64_t size = s->st_size;
            uint32_t btf_size = 0;
            if (!size && ds &&
                find_datasec_var(ld->btf, ds, set->var, &btf_size)) {
                size = btf_size;
            }
            uint8_t int_bytes[8];
            const void *value = set->value;
            if (set->size == 0) {
                /* An integer stored at the variable's size: it must fit
                 * as an unsigned or as a two's-complement value. */
                uint64_t v;
                memcpy(&v, set->value, sizeof v);
                if (size != 1 && size != 2 && size != 4 && size != 8) {
                    return ld_error(ld, -EINVAL,
                                    "rodata variable '%s' is %" PRIu64
                                    " bytes: not an integer",
                                    set->var, size);
                }
                if (size < 8) {
                    int64_t sv = (int64_t)v;
                    int bits = (int)size * 8;
                    if (v >> bits &&
                        (sv < -(INT64_C(1) << (bits - 1)) || sv >= 0)) {
                        return ld_error(ld, -ERANGE,
                                        "rodata variable '%s' (%" PRIu64
                                        " bytes) cannot hold %" PRId64,
                                        set->var, size, sv);
                    }
                }
                memcpy(int_bytes, &v, sizeof v); /* Little-endian. */
                value = int_bytes;
            } else if (size != set->size) {
                return ld_error(ld, -EINVAL,
                                "rodata variable '%s' is %" PRIu64
                                " bytes, the value given has %zu",
                                set->var, size, set->size);
            }
            if (s->st_value > sec->size || size > sec->size - s->st_value) {
                return ld_error(ld, -EINVAL,
                                "rodata variable '%s' lies "
                                "outside section '%s'",
                                set->var, sec->name);
            }
            memcpy(image + s->st_value, value, size);
            found[r] = true;
        }
    }
    return 0;
}

static int
create_data_maps(struct loader *ld)
{
    size_t n_sets = ld->opts ? ld->opts->n_rodata : 0;
    bool *found = xcalloc(n_sets ? n_sets : 1, sizeof *found);
    int rc = 0;

    for (size_t i = 1; i < ld->n_secs && !rc; i++) {
        struct ld_sec *sec = &ld->secs[i];
        if (sec->kind != SEC_DATA || !sec->size) {
            continue;
        }
        if (sec->size > UINT32_MAX / 2) {
            rc = ld_error(ld, -E2BIG,
                          "section '%s': %zu bytes is too "
                          "large for a global data map",
                          sec->name, sec->size);
            break;
        }
        bool rodata = has_prefix(sec->name, ".rodata");
        uint8_t *image = xzalloc(sec->size);
        if (sec->data) {
            memcpy(image, sec->data, sec->size);
        }
        if (rodata && n_sets) {
            rc = apply_rodata(ld, i, image, found);
        }
        if (!rc) {
            struct bpf_map *map = new_map(sec->name);
            map->type = BPF_MAP_TYPE_ARRAY;
            map->key_size = sizeof(uint32_t);
            map->value_size = (uint32_t)sec->size;
            map->max_entries = 1;
            map->section = sec->name[0] == '.' && sec->name[1] == 'r'
                               ? ".rodata"
                           : sec->name[1] == 'd' ? ".data"
                                                 : ".bss";
            rc = add_map(ld, map, image);
            if (!rc) {
                map->read_only = rodata;
                sec->map_idx = (int)ld->obj->n_maps - 1;
            }
        }
        free(image);
    }
    for (size_t r = 0; r < n_sets && !rc; r++) {
        if (!found[r]) {
            rc = ld_error(ld, -ENOENT,
                          "rodata variable '%s' not found in "
                          ".rodata",
                          ld->opts->rodata[r].var);
        }
    }
    free(found);
    return rc;
}

static int
create_maps(struct loader *ld)
{
    for (size_t i = 1; i < ld->n_secs; i++) {
        int rc = 0;
        if (ld->secs[i].kind == SEC_MAPS_BTF) {
            rc = create_btf_maps(ld, i);
        } else if (ld->secs[i].kind == SEC_MAPS_LEGACY) {
            rc = create_legacy_maps(ld, i);
        }
        if (rc) {
            return rc;
        }
    }
    return create_data_maps(ld);
}

/* Pass 3: functions. */
static int
cmp_units(const void *a_, const void *b_)
{
    const struct ld_unit *a = a_, *b = b_;
    if (a->sec != b->sec) {
        return a->sec < b->sec ? -1 : 1;
    }
    return a->start < b->start ? -1 : a->start > b->start;
}

static int
find_units(struct loader *ld)
{
    size_t cap = 0;
    for (size_t i = 0; i < ld->n_syms; i++) {
        const GElf_Sym *s = &ld->syms[i];
        if (GELF_ST_TYPE(s->st_info) != STT_FUNC || !s->st_shndx ||
            s->st_shndx >= ld->n_secs) {
            continue;
        }
        const struct ld_sec *sec = &ld->secs[s->st_shndx];
        if (sec->kind != SEC_PROG && sec->kind != SEC_TEXT) {
            continue;
        }
        if (s->st_value % 8 || s->st_size % 8 || s->st_value > sec->size ||
            s->st_size > sec->size - s->st_value) {
            return ld_error(ld, -EINVAL,
                            "function '%s': range [%" PRIu64 ", +%" PRIu64
                            ") is misaligned or outside "
                            "section '%s'",
                            sym_name(ld, i), (uint64_t)s->st_value,
                            (uint64_t)s->st_size, sec->name);
        }
        if (s->st_value == sec->size) {
            continue;
        }
        if (ld->n_units == cap) {
            cap = cap ? cap * 2 : 16;
            ld->units = xrealloc(ld->units, cap * sizeof *ld->units);
        }
        ld->units[ld->n_units++] = (struct ld_unit){
            .sec = s->st_shndx,
            .start = s->st_value / 8,
            .end = s->st_size ? (s->st_value + s->st_size) / 8 : 0,
            .name = sym_name(ld, i),
        };
    }
    /* A section with code but no function symbols is one function. */
    for (size_t i = 1; i < ld->n_secs; i++) {
        const struct ld_sec *sec = &ld->secs[i];
        if ((sec->kind != SEC_PROG && sec->kind != SEC_TEXT) || !sec->size) {
            continue;
        }
        bool any = false;
        for (size_t u = 0; u < ld->n_units && !any; u++) {
            any = ld->units[u].sec == i;
        }
        if (!any) {
            ld->units =
                xrealloc(ld->units, (ld->n_units + 1) * sizeof *ld->units);
            ld->units[ld->n_units++] = (struct ld_unit){
                .sec = i,
                .start = 0,
                .end = sec->size / 8,
                .name = sec->name,
            };
        }
    }
    if (ld->n_units) {
        qsort(ld->units, ld->n_units, sizeof *ld->units, cmp_units);
    }

    /* Drop aliases, give sizeless functions the room up to the next one,
     * and refuse overlaps. */
    size_t w = 0;
    for (size_t u = 0; u < ld->n_units; u++) {
        struct ld_unit *cur = &ld->units[u];
        if (w && ld->units[w - 1].sec == cur->sec &&
            ld->units[w - 1].start == cur->start) {
            continue;
        }
        ld->units[w++] = *cur;
    }
    ld->n_units = w;
    for (size_t u = 0; u < ld->n_units; u++) {
        struct ld_unit *cur = &ld->units[u];
        size_t limit = ld->secs[cur->sec].size / 8;
        if (u + 1 < ld->n_units && ld->units[u + 1].sec == cur->sec) {
            limit = ld->units[u + 1].start;
        }
        if (!cur->end) {
            cur->end = limit;
        }
        if (cur->end > limit) {
            return ld_error(ld, -EINVAL,
                            "function '%s' in section '%s' "
                            "overlaps the next function",
                            cur->name, ld->secs[cur->sec].name);
        }
    }
    return 0;
}

/* Pass 3 (cont.): relocations of executable sections. */
static int
read_relocations(struct loader *ld)
{
    for (size_t i = 1; i < ld->n_secs; i++) {
        const struct ld_sec *rs = &ld->secs[i];
        if (rs->shdr.sh_type != SHT_REL && rs->shdr.sh_type != SHT_RELA) {
            continue;
        }
        size_t target = rs->shdr.sh_info;
        if (target == 0 || target >= ld->n_secs) {
            return ld_error(ld, -EINVAL,
                            "section '%s': bad target "
                            "section %zu",
                            rs->name, target);
        }
        struct ld_sec *ts = &ld->secs[target];
        if (ts->kind != SEC_PROG && ts->kind != SEC_TEXT) {
            continue; /* Debug info and BTF.ext: not needed. */
        }
        if (rs->shdr.sh_type == SHT_RELA) {
            return ld_error(ld, -ENOTSUP,
                            "section '%s': RELA relocations "
                            "are not supported",
                            rs->name);
        }
        if (ts->rel_sec) {
            return ld_error(ld, -EINVAL,
                            "section '%s' has two relocation "
                            "sections",
                            ts->name);
        }
        if (rs->shdr.sh_entsize != sizeof(Elf64_Rel) ||
            rs->size % sizeof(Elf64_Rel) || !rs->data) {
            return ld_error(ld, -EINVAL, "section '%s': bad entry size",
                            rs->name);
        }
        Elf_Data *data = elf_getdata(elf_getscn(ld->elf, i), NULL);
        if (!data || data->d_size != rs->size) {
            return ld_error(ld, -EINVAL, "section '%s': cannot read: %s",
                            rs->name, elf_errmsg(-1));
        }
        size_t n_insns = ts->size / 8;
        ts->rel_sec = i;
        ts->n_rels = rs->size / sizeof(Elf64_Rel);
        ts->rels = xcalloc(ts->n_rels ? ts->n_rels : 1, sizeof *ts->rels);
        ts->insn_rel = xmalloc((n_insns ? n_insns : 1) * sizeof *ts->insn_rel);
        for (size_t k = 0; k < n_insns; k++) {
            ts->insn_rel[k] = -1;
        }
        for (size_t r = 0; r < ts->n_rels; r++) {
            GElf_Rel *rel = &ts->rels[r];
            if (!gelf_getrel(data, (int)r, rel)) {
                return ld_error(ld, -EINVAL,
                                "section '%s': relocation %zu: "
                                "cannot read",
                                rs->name, r);
            }
            uint64_t sym = GELF_R_SYM(rel->r_info);
            uint64_t type = GELF_R_TYPE(rel->r_info);
            if (rel->r_offset % 8 || rel->r_offset >= ts->size) {
                return ld_error(ld, -EINVAL,
                                "section '%s': relocation %zu "
                                "has offset %" PRIu64 " outside section "
                                "'%s' or misaligned",
                                rs->name, r, (uint64_t)rel->r_offset, ts->name);
            }
            if (sym == 0 || sym >= ld->n_syms) {
                return ld_error(ld, -EINVAL,
                                "section '%s': relocation %zu "
                                "has bad symbol index %" PRIu64,
                                rs->name, r, sym);
            }
            if (type != R_BPF_64_64 && type != R_BPF_64_32) {
                return ld_error(ld, -ENOTSUP,
                                "section '%s': relocation %zu "
                                "has unsupported type %" PRIu64,
                                rs->name, r, type);
            }
            size_t idx = rel->r_offset / 8;
            if (ts->insn_rel[idx] >= 0) {
                return ld_error(ld, -EINVAL,
                                "section '%s': two relocations "
                                "for instruction %zu",
                                ts->name, idx);
            }
            ts->insn_rel[idx] = (int32_t)r;
        }
    }
    return 0;
}

/* Pass 4: linking one program. */
struct link {
    struct bpf_insn *insns; /* Output. */
    size_t n, cap;
    /* Per output instruction: the call or function-address target as
     * (section, instruction index), when 'has_target'. */
    size_t *tsec, *tidx;
    bool *has_target;
    size_t *unit_base;     /* Per unit: output base or SIZE_MAX. */
    struct bpf_map **maps; /* Program's map list. */
    size_t n_maps;
    const char *prog; /* For messages. */
};

static int
prog_map_index(struct loader *ld, struct link *lk, size_t obj_idx)
{
    struct bpf_map *map = ld->obj->maps[obj_idx];
    for (size_t i = 0; i < lk->n_maps; i++) {
        if (lk->maps[i] == map) {
            return (int)i;
        }
    }
    if (lk->n_maps >= BPF_MAX_MAPS) {
        return ld_error(ld, -E2BIG, "program '%s' uses more than %d maps",
                        lk->prog, BPF_MAX_MAPS);
    }
    lk->maps = xrealloc(lk->maps, (lk->n_maps + 1) * sizeof *lk->maps);
    lk->maps[lk->n_maps] = map;
    return (int)lk->n_maps++;
}

static void
set_target(struct link *lk, size_t out, size_t sec, size_t idx)
{
    lk->has_target[out] = true;
    lk->tsec[out] = sec;
    lk->tidx[out] = idx;
}

/* Patches the LD_IMM64 at 'out' (from instruction 'src_idx' of 'sec')
 * according to relocation 'r'. */
static int
reloc_ld_imm64(struct loader *ld, struct link *lk, const struct ld_sec *sec,
               size_t src_idx, size_t r, size_t out)
{
    const GElf_Rel *rel = &sec->rels[r];
    size_t si = GELF_R_SYM(rel->r_info);
    const GElf_Sym *s = &ld->syms[si];
    const char *name = sym_name(ld, si);
    struct bpf_insn *insn = &lk->insns[out];

    if (s->st_shndx == SHN_UNDEF) {
        return ld_error(ld, -ENOTSUP,
                        "section '%s': relocation %zu refers "
                        "to undefined (extern) symbol '%s'",
                        sec->name, r, name);
    }
    if (s->st_shndx >= ld->n_secs) {
        return ld_error(ld, -ENOTSUP,
                        "section '%s': relocation %zu refers "
                        "to symbol '%s' in special section 0x%x",
                        sec->name, r, name, s->st_shndx);
    }
    const struct ld_sec *ts = &ld->secs[s->st_shndx];
    switch (ts->kind) {
    case SEC_MAPS_BTF:
    case SEC_MAPS_LEGACY: {
        uint64_t off = s->st_value + (uint64_t)(int64_t)insn->imm;
        for (size_t m = 0; m < ld->n_map_syms; m++) {
            if (ld->map_syms[m].sec == s->st_shndx &&
                ld->map_syms[m].off == off) {
                int idx = prog_map_index(ld, lk, ld->map_syms[m].map_idx);
                if (idx < 0) {
                    return idx;
                }
                insn->src_reg = BPF_PSEUDO_MAP_FD;
                insn->imm = idx;
                insn[1].imm = 0;
                return 0;
            }
        }
        return ld_error(ld, -EINVAL,
                        "section '%s': relocation %zu refers "
                        "to '%s' at offset %" PRIu64 " of '%s', where no map "
                        "is defined",
                        sec->name, r, name, off, ts->name);
    }
    case SEC_DATA: {
        uint64_t off = s->st_value + (uint64_t)(int64_t)insn->imm;
        if (ts->map_idx < 0 || off >= ts->size) {
            return ld_error(ld, -EINVAL,
                            "section '%s': relocation %zu refers "
                            "to offset %" PRIu64 " of '%s', outside its %zu "
                            "bytes",
                            sec->name, r, off, ts->name, ts->size);
        }
        int idx = prog_map_index(ld, lk, (size_t)ts->map_idx);
        if (idx < 0) {
            return idx;
        }
        insn->src_reg = BPF_PSEUDO_MAP_VALUE;
        insn->imm = idx;
        insn[1].imm = (int32_t)off;
        return 0;
    }
    case SEC_TEXT:
    case SEC_PROG: {
        uint64_t off = s->st_value + (uint64_t)(int64_t)insn->imm;
        if (off % 8 || off >= ts->size) {
            return ld_error(ld, -EINVAL,
                            "section '%s': relocation %zu takes "
                            "the address of '%s' at a bad offset %" PRIu64,
                            sec->name, r, name, off);
        }
        insn->src_reg = BPF_PSEUDO_FUNC;
        insn->imm = 0;
        set_target(lk, out, s->st_shndx, off / 8);
        return 0;
    }
    default:
        return ld_error(ld, -ENOTSUP,
                        "section '%s': relocation %zu (instruction %zu) "
                        "refers to symbol '%s' in unsupported section '%s'",
                        sec->name, r, src_idx, name, ts->name);
    }
}

static int
append_unit(struct loader *ld, struct link *lk, size_t u)
{
    const struct ld_unit *unit = &ld->units[u];
    const struct ld_sec *sec = &ld->secs[unit->sec];
    size_t len = unit->end - unit->start;
    size_t base = lk->n;

    if (!len) {
        return ld_error(ld, -EINVAL,
                        "function '%s' in section '%s' is "
                        "empty",
                        unit->name, sec->name);
    }
    if (base + len > BPF_MAX_INSNS) {
        return ld_error(ld, -E2BIG, "program '%s' exceeds %d instructions",
                        lk->prog, BPF_MAX_INSNS);
    }
    if (base + len > lk->cap) {
        lk->cap = MAX(lk->cap * 2, base + len);
        lk->insns = xrealloc(lk->insns, lk->cap * sizeof *lk->insns);
        lk->tsec = xrealloc(lk->tsec, lk->cap * sizeof *lk->tsec);
        lk->tidx = xrealloc(lk->tidx, lk->cap * sizeof *lk->tidx);
        lk->has_target =
            xrealloc(lk->has_target, lk->cap * sizeof *lk->has_target);
    }
    memcpy(&lk->insns[base], sec->data + unit->start * 8, len * 8);
    memset(&lk->has_target[base], 0, len * sizeof *lk->has_target);
    lk->n = base + len;
    lk->unit_base[u] = base;

    for (size_t k = 0; k < len; k++) {
        size_t src_idx = unit->start + k;
        size_t out = base + k;
        struct bpf_insn *insn = &lk->insns[out];
        int32_t r = sec->insn_rel ? sec->insn_rel[src_idx] : -1;

        if (insn->code == (BPF_LD | BPF_IMM | BPF_DW)) {
            if (k + 1 >= len) {
                return ld_error(ld, -EINVAL,
                                "section '%s': LD_IMM64 at "
                                "instruction %zu is cut off by the end of "
                                "function '%s'",
                                sec->name, src_idx, unit->name);
            }
            if (sec->insn_rel && sec->insn_rel[src_idx + 1] >= 0) {
                return ld_error(ld, -EINVAL,
                                "section '%s': relocation on "
                                "the second half of LD_IMM64 at "
                                "instruction %zu",
                                sec->name, src_idx);
            }
            if (r >= 0) {
                int rc = reloc_ld_imm64(ld, lk, sec, src_idx, (size_t)r, out);
                if (rc) {
                    return rc;
                }
            } else if (insn->src_reg) {
                return ld_error(ld, -EINVAL,
                                "section '%s': LD_IMM64 at "
                                "instruction %zu has pseudo source %u but "
                                "no relocation",
                                sec->name, src_idx, insn->src_reg);
            }
            k++;
            continue;
        }
        if (insn->code == (BPF_JMP | BPF_CALL)) {
            if (insn->src_reg == BPF_PSEUDO_CALL) {
                if (r >= 0) {
                    const GElf_Rel *rel = &sec->rels[r];
                    size_t si = GELF_R_SYM(rel->r_info);
                    const GElf_Sym *s = &ld->syms[si];
                    if (!s->st_shndx || s->st_shndx >= ld->n_secs ||
                        (ld->secs[s->st_shndx].kind != SEC_TEXT &&
                         ld->secs[s->st_shndx].kind != SEC_PROG)) {
                        return ld_error(ld, -ENOTSUP,
                                        "section '%s': call "
                                        "at instruction %zu refers to "
                                        "'%s', which is not a function in "
                                        "this object",
                                        sec->name, src_idx, sym_name(ld, si));
                    }
                    int64_t t = (int64_t)(s->st_value / 8) + insn->imm + 1;
                    if (s->st_value % 8 || t < 0 ||
                        (uint64_t)t >= ld->secs[s->st_shndx].size / 8) {
                        return ld_error(ld, -EINVAL,
                                        "section '%s': call at "
                                        "instruction %zu to '%s' lands "
                                        "outside section '%s'",
                                        sec->name, src_idx, sym_name(ld, si),
                                        ld->secs[s->st_shndx].name);
                    }
                    set_target(lk, out, s->st_shndx, (size_t)t);
                } else {
                    int64_t t = (int64_t)src_idx + insn->imm + 1;
                    if (t < 0 || (uint64_t)t >= sec->size / 8) {
                        return ld_error(ld, -EINVAL,
                                        "section '%s': call at "
                                        "instruction %zu lands outside the "
                                        "section",
                                        sec->name, src_idx);
                    }
                    set_target(lk, out, unit->sec, (size_t)t);
                }
                continue;
            }
            if (insn->src_reg == BPF_PSEUDO_KFUNC_CALL) {
                return ld_error(ld, -ENOTSUP,
                                "section '%s': instruction "
                                "%zu calls a kernel function (kfunc), which "
                                "is not supported",
                                sec->name, src_idx);
            }
        }
        if (r >= 0) {
            size_t si = GELF_R_SYM(sec->rels[r].r_info);
            return ld_error(ld, -ENOTSUP,
                            "section '%s': relocation %d "
                            "refers to symbol '%s' from instruction %zu "
                            "(opcode 0x%02x), which takes no relocation",
                            sec->name, r, sym_name(ld, si), src_idx,
                            insn->code);
        }
    }
    return 0;
}

static int
link_program(struct loader *ld, size_t u, struct bpf_prog *prog)
{
    struct link lk;
    int rc;

    memset(&lk, 0, sizeof lk);
    lk.prog = ld->units[u].name;
    lk.unit_base = xmalloc(ld->n_units * sizeof *lk.unit_base);
    for (size_t i = 0; i < ld->n_units; i++) {
        lk.unit_base[i] = SIZE_MAX;
    }
    rc = append_unit(ld, &lk, u);
    for (size_t i = 0; !rc && i < lk.n; i++) {
        if (!lk.has_target[i]) {
            continue;
        }
        struct ld_unit key = {.sec = lk.tsec[i], .start = lk.tidx[i]};
        const struct ld_unit *hit =
            bsearch(&key, ld->units, ld->n_units, sizeof *ld->units, cmp_units);
        size_t t = hit ? (size_t)(hit - ld->units) : ld->n_units;
        if (t == ld->n_units) {
            rc = ld_error(ld, -EINVAL,
                          "program '%s': call or function "
                          "address targets instruction %zu of section '%s', "
                          "which starts no function",
                          lk.prog, lk.tidx[i], ld->secs[lk.tsec[i]].name);
            break;
        }
        if (lk.unit_base[t] == SIZE_MAX) {
            rc = append_unit(ld, &lk, t);
            if (rc) {
                break;
            }
        }
        lk.insns[i].imm = (int32_t)((int64_t)lk.unit_base[t] - (int64_t)i - 1);
    }
    free(lk.unit_base);
    free(lk.tsec);
    free(lk.tidx);
    free(lk.has_target);
    if (rc) {
        free(lk.insns);
        free(lk.maps);
        return rc;
    }
    prog->insns = lk.insns;
    prog->n_insns = (uint32_t)lk.n;
    prog->maps = lk.maps;
    prog->n_maps = (uint32_t)lk.n_maps;
    return 0;
}

static int
create_programs(struct loader *ld)
{
    struct bpf_object *obj = ld->obj;
    for (size_t u = 0; u < ld->n_units; u++) {
        const struct ld_unit *unit = &ld->units[u];
        const struct ld_sec *sec = &ld->secs[unit->sec];
        if (sec->kind != SEC_PROG) {
            continue;
        }
        struct bpf_prog *prog = xzalloc(sizeof *prog);
        snprintf(prog->name, sizeof prog->name, "%s", unit->name);
        snprintf(prog->section, sizeof prog->section, "%s", sec->name);
        prog->kind = BPF_PROG_KIND_XDP;
        int rc = link_program(ld, u, prog);
        if (rc) {
            free(prog);
            return rc;
        }
        obj->progs =
            xrealloc(obj->progs, (obj->n_progs + 1) * sizeof *obj->progs);
        ld->prog_units = xrealloc(ld->prog_units,
                                  (obj->n_progs + 1) * sizeof *ld->prog_units);
        ld->prog_units[obj->n_progs] = u;
        obj->progs[obj->n_progs++] = prog;
    }
    if (!obj->n_progs) {
        return ld_error(ld, -ENOENT, "no program sections in the object");
    }
    return 0;
}

/* Returns the program that unit 'u' became, or NULL. */
static struct bpf_prog *
unit_prog(const struct loader *ld, size_t u)
{
    for (size_t i = 0; i < ld->obj->n_progs; i++) {
        if (ld->prog_units[i] == u) {
            return ld->obj->progs[i];
        }
    }
    return NULL;
}

/* Fills one slot of a program array from relocation 'r' of 'rs', which
 * applies to the BTF map section 'msec'. */
static int
fill_prog_slot(struct loader *ld, const struct ld_sec *rs, size_t msec,
               size_t r, const GElf_Rel *rel)
{
    uint64_t si = GELF_R_SYM(rel->r_info);
    if (si == 0 || si >= ld->n_syms) {
        return ld_error(ld, -EINVAL,
                        "section '%s': relocation %zu has bad symbol "
                        "index %" PRIu64,
                        rs->name, r, si);
    }
    if (GELF_R_TYPE(rel->r_info) != R_BPF_64_ABS64) {
        return ld_error(ld, -ENOTSUP,
                        "section '%s': relocation %zu has unsupported "
                        "type %" PRIu64,
                        rs->name, r, (uint64_t)GELF_R_TYPE(rel->r_info));
    }
    const struct ld_map_sym *ms = NULL;
    for (size_t i = 0; i < ld->n_map_syms && !ms; i++) {
        const struct ld_map_sym *c = &ld->map_syms[i];
        if (c->sec == msec && rel->r_offset >= c->off &&
            rel->r_offset - c->off < c->size) {
            ms = c;
        }
    }
    if (!ms) {
        return ld_error(ld, -EINVAL,
                        "section '%s': relocation %zu at offset %" PRIu64
                        " lies in no map definition",
                        rs->name, r, (uint64_t)rel->r_offset);
    }
    struct bpf_map *map = ld->obj->maps[ms->map_idx];
    uint64_t rel_off = rel->r_offset - ms->off;
    if (!ms->has_values || rel_off < ms->values_off ||
        (rel_off - ms->values_off) % 8) {
        return ld_error(ld, -EINVAL,
                        "map '%s': relocation %zu of '%s' is not a slot of "
                        "its 'values'",
                        map->name, r, rs->name);
    }
    uint64_t slot = (rel_off - ms->values_off) / 8;
    const GElf_Sym *s = &ld->syms[si];
    struct ld_unit key = {.sec = s->st_shndx, .start = s->st_value / 8};
    const struct ld_unit *hit =
        GELF_ST_TYPE(s->st_info) == STT_FUNC && s->st_value % 8 == 0
            ? bsearch(&key, ld->units, ld->n_units, sizeof *ld->units,
                      cmp_units)
            : NULL;
    struct bpf_prog *prog = hit ? unit_prog(ld, hit - ld->units) : NULL;
    if (!prog) {
        return ld_error(ld, -EINVAL,
                        "map '%s': slot %" PRIu64 " refers to '%s', which "
                        "is not a program of this object",
                        map->name, slot, sym_name(ld, si));
    }
    int rc = slot < map->max_entries
                 ? bpf_prog_array_set(map, (uint32_t)slot, prog)
                 : -E2BIG;
    if (rc) {
        return ld_error(
            ld, rc < 0 ? rc : -EINVAL,
            "map '%s': cannot put program '%s' in slot %" PRIu64 ": %s",
            map->name, prog->name, slot, strerror(rc < 0 ? -rc : EINVAL));
    }
    return 0;
}

/* Pass 5: program arrays get the object's programs as their table (for
 * control-plane updates by index) and their static initial 'values',
 * which arrive as relocations of ".maps" against program symbols. */
static int
fill_prog_arrays(struct loader *ld)
{
    struct bpf_object *obj = ld->obj;
    for (size_t i = 0; i < obj->n_maps; i++) {
        if (obj->maps[i]->type == BPF_MAP_TYPE_PROG_ARRAY) {
            bpf_prog_array_bind(obj->maps[i], obj->progs, obj->n_progs);
        }
    }
    for (size_t i = 1; i < ld->n_secs; i++) {
        const struct ld_sec *rs = &ld->secs[i];
        size_t target = rs->shdr.sh_info;
        if (rs->shdr.sh_type != SHT_REL || target == 0 ||
            target >= ld->n_secs || ld->secs[target].kind != SEC_MAPS_BTF) {
            continue;
        }
        if (rs->shdr.sh_entsize != sizeof(Elf64_Rel) ||
            rs->size % sizeof(Elf64_Rel) || !rs->data) {
            return ld_error(ld, -EINVAL, "section '%s': bad entry size",
                            rs->name);
        }
        Elf_Data *data = elf_getdata(elf_getscn(ld->elf, i), NULL);
        if (!data || data->d_size != rs->size) {
            return ld_error(ld, -EINVAL, "section '%s': cannot read: %s",
                            rs->name, elf_errmsg(-1));
        }
        for (size_t r = 0; r < rs->size / sizeof(Elf64_Rel); r++) {
            GElf_Rel rel;
            if (!gelf_getrel(data, (int)r, &rel)) {
                return ld_error(ld, -EINVAL,
                                "section '%s': relocation %zu: cannot read",
                                rs->name, r);
            }
            int rc = fill_prog_slot(ld, rs, target, r, &rel);
            if (rc) {
                return rc;
            }
        }
    }
    return 0;
}

static void
loader_destroy(struct loader *ld)
{
    for (size_t i = 0; i < ld->n_secs; i++) {
        free(ld->secs[i].insn_rel);
        free(ld->secs[i].rels);
    }
    free(ld->secs);
    free(ld->syms);
    free(ld->sym_names);
    free(ld->units);
    free(ld->map_syms);
    free(ld->prog_units);
    bpf_btf_destroy(ld->btf);
    if (ld->elf) {
        elf_end(ld->elf);
    }
    free(ld->image);
}

int
bpf_object_open_mem(const void *data, size_t size, const char *name,
                    const struct bpf_load_opts *opts, struct bpf_object **objp,
                    char **errp)
{
    struct loader ld;
    int rc;

    *objp = NULL;
    if (errp) {
        *errp = NULL;
    }
    memset(&ld, 0, sizeof ld);
    ld.opts = opts;
    ld.size = size;
    ld.image = xmalloc(size ? size : 1);
    memcpy(ld.image, data, size);
    ld.obj = xzalloc(sizeof *ld.obj);
    const char *base = name ? strrchr(name, '/') : NULL;
    snprintf(ld.obj->name, sizeof ld.obj->name, "%s",
             base   ? base + 1
             : name ? name
                    : "mem");

    rc = read_sections(&ld);
    if (!rc) {
        rc = read_symbols(&ld);
    }
    if (!rc) {
        rc = read_btf(&ld);
    }
    if (!rc) {
        rc = find_units(&ld);
    }
    if (!rc) {
        rc = read_relocations(&ld);
    }
    if (!rc) {
        rc = create_maps(&ld);
    }
    if (!rc) {
        rc = create_programs(&ld);
    }
    if (!rc) {
        rc = fill_prog_arrays(&ld);
    }
    if (rc) {
        bpf_object_close(ld.obj);
        if (errp) {
            *errp = xasprintf("%s: %s", name ? name : "mem",
                              ld.err ? ld.err : strerror(-rc));
        }
    } else {
        *objp = ld.obj;
    }
    free(ld.err);
    loader_destroy(&ld);
    return rc;
}

int
bpf_object_open(const char *path, const struct bpf_load_opts *opts,
                struct bpf_object **objp, char **errp)
{
    struct stat st;
    int fd;

    *objp = NULL;
    if (errp) {
        *errp = NULL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st)) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
        }
        if (errp) {
            *errp = xasprintf("%s: %s", path, strerror(err));
        }
        return -err;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > BPF_OBJ_MAX_SIZE) {
        close(fd);
        if (errp) {
            *errp = xasprintf("%s: not a regular file of at most %u bytes",
                              path, BPF_OBJ_MAX_SIZE);
        }
        return -EINVAL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = xmalloc(size ? size : 1);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            close(fd);
            free(buf);
            if (errp) {
                *errp = xasprintf("%s: read: %s", path, strerror(err));
            }
            return -err;
        }
        got += (size_t)n;
    }
    close(fd);
    int rc = bpf_object_open_mem(buf, size, path, opts, objp, errp);
    free(buf);
    return rc;
}

static void
prog_free(struct bpf_prog *prog)
{
    if (prog) {
        bpf_jit_free(prog);
        free(prog->insns);
        free(prog->maps);
        free(prog->xlated);
        free(prog);
    }
}

void
bpf_object_close(struct bpf_object *obj)
{
    if (!obj) {
        return;
    }
    for (size_t i = 0; i < obj->n_progs; i++) {
        prog_free(obj->progs[i]);
    }
    for (size_t i = 0; i < obj->n_maps; i++) {
        struct bpf_map *map = obj->maps[i];
        bpf_map_free_internal(map);
        free(map);
    }
    free(obj->progs);
    free(obj->maps);
    free(obj);
}

int
bpf_prog_from_insns(const void *insns, size_t n_insns, bool raw_ctx,
                    struct bpf_object **objp, char **errp)
{
    *objp = NULL;
    if (errp) {
        *errp = NULL;
    }
    if (!n_insns || n_insns > BPF_MAX_INSNS) {
        if (errp) {
            *errp = xasprintf("program has %zu instructions (must be 1 to "
                              "%d)",
                              n_insns, BPF_MAX_INSNS);
        }
        return n_insns ? -E2BIG : -EINVAL;
    }
    struct bpf_object *obj = xzalloc(sizeof *obj);
    snprintf(obj->name, sizeof obj->name, "raw");
    struct bpf_prog *prog = xzalloc(sizeof *prog);
    snprintf(prog->name, sizeof prog->name, "raw");
    snprintf(prog->section, sizeof prog->section, "raw");
    prog->kind = raw_ctx ? BPF_PROG_KIND_RAW : BPF_PROG_KIND_XDP;
    prog->insns = xmalloc(n_insns * sizeof *prog->insns);
    memcpy(prog->insns, insns, n_insns * sizeof *prog->insns);
    prog->n_insns = (uint32_t)n_insns;
    obj->progs = xmalloc(sizeof *obj->progs);
    obj->progs[0] = prog;
    obj->n_progs = 1;
    *objp = obj;
    return 0;
}

size_t
bpf_object_n_progs(const struct bpf_object *obj)
{
    return obj->n_progs;
}

struct bpf_prog *
bpf_object_prog(const struct bpf_object *obj, size_t idx)
{
    return idx < obj->n_progs ? obj->progs[idx] : NULL;
}

struct bpf_prog *
bpf_object_find_prog(const struct bpf_object *obj, const char *name)
{
    for (size_t i = 0; i < obj->n_progs; i++) {
        if (!strcmp(obj->progs[i]->section, name)) {
            return obj->progs[i];
        }
    }
    for (size_t i = 0; i < obj->n_progs; i++) {
        if (!strcmp(obj->progs[i]->name, name)) {
            return obj->progs[i];
        }
    }
    return NULL;
}

size_t
bpf_object_n_maps(const struct bpf_object *obj)
{
    return obj->n_maps;
}

struct bpf_map *
bpf_object_map(const struct bpf_object *obj, size_t idx)
{
    return idx < obj->n_maps ? obj->maps[idx] : NULL;
}

struct bpf_map *
bpf_object_find_map(const struct bpf_object *obj, const char *name)
{
    for (size_t i = 0; i < obj->n_maps; i++) {
        if (!strcmp(obj->maps[i]->name, name)) {
            return obj->maps[i];
        }
    }
    return NULL;
}

const char *
bpf_prog_name(const struct bpf_prog *prog)
{
    return prog->name;
}

const char *
bpf_prog_section(const struct bpf_prog *prog)
{
    return prog->section;
}

size_t
bpf_prog_n_insns(const struct bpf_prog *prog)
{
    return prog->n_insns;
}

bool
bpf_prog_writes_packet(const struct bpf_prog *prog)
{
    return prog->writes_packet;
}
