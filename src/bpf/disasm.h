/* Disassembler for eBPF bytecode, in the kernel's and bpftool's notation.
 *
 * Every instruction of RFC 9669 (including the v4 additions: signed
 * division and modulo, sign-extending moves and loads, unconditional byte
 * swaps, 32-bit-offset jumps) prints as one line that asm.c parses back to
 * the same bytes.  Anything that does not encode a valid instruction -- an
 * unknown opcode, a register above r10, a reserved field that is not zero --
 * prints as ".insn CODE, DST, SRC, OFF, IMM" so that the round trip still
 * holds and a reader sees exactly what is there. */
#ifndef BPF_DISASM_H
#define BPF_DISASM_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/bpf_int.h"

struct ds;

/* RFC 9669 encodings newer than the uapi headers of this system. */
#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80 /* Sign-extending load mode. */
#endif

/* Returns the kernel helper name for 'id' without the "bpf_" prefix
 * ("map_lookup_elem"), or NULL if the ID is unknown. */
const char *bpf_disasm_helper_name(int32_t id);
/* Returns the helper ID for 'name' (with or without "bpf_"), or -1. */
int bpf_disasm_helper_id(const char *name);

/* Appends the text of the instruction at 'insns[idx]' (of 'n') to 'out',
 * without index or newline.  'maps' (may be NULL) names the maps that
 * LD_IMM64 pseudo-sources refer to by index.  Returns the number of
 * instruction slots consumed: 2 for a well-formed LD_IMM64, else 1. */
unsigned int bpf_disasm_insn(const struct bpf_insn *insns, size_t n, size_t idx,
                             struct bpf_map *const *maps, size_t n_maps,
                             struct ds *out);

/* Appends one line per instruction to 'out'; with 'with_idx', each line
 * starts with the instruction index ("  12: "). */
void bpf_disasm_insns(const struct bpf_insn *insns, size_t n,
                      struct bpf_map *const *maps, size_t n_maps, bool with_idx,
                      struct ds *out);

#endif
