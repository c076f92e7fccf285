/* Assembler: the text notation printed by disasm.c back to bytecode.
 *
 * One instruction per line.  Besides everything the disassembler prints,
 * the assembler accepts what makes hand-written test programs readable:
 * comments after ';' or "//", blank lines, an optional index prefix ("12:")
 * or opcode prefix ("(b7)") as in verifier logs, labels ("out:" on its own
 * line or before an instruction) as jump targets ("goto out"), helper calls
 * by name ("call bpf_map_lookup_elem" or "call map_lookup_elem"), and
 * "rN = IMM" with a 64-bit constant, which becomes LD_IMM64. */
#ifndef BPF_ASM_H
#define BPF_ASM_H 1

#include <stddef.h>

#include "bpf/bpf_int.h"
#include "core/compiler.h"

/* Assembles 'text'.  'maps' (may be NULL) resolves "map[id:NAME]"; a
 * numeric id is an index used as is.  On success returns NULL and stores a
 * newly allocated array of '*n' instructions in '*insnsp' (the caller frees
 * it); on error returns a message naming the line, column and reason (the
 * caller frees it). */
char *bpf_asm(const char *text, struct bpf_map *const *maps, size_t n_maps,
              struct bpf_insn **insnsp, size_t *n) WARN_UNUSED_RESULT;

#endif
