/* Disassembler: eBPF bytecode to the text notation of the kernel's
 * verifier log and bpftool ("r0 = *(u32 *)(r1 +4)", "if r2 > r3 goto +5",
 * "call bpf_map_lookup_elem#1").
 *
 * The printer is strict on purpose: an instruction prints in its readable
 * form only when every field the form does not show is zero (or holds the
 * value the form implies), so that the assembler in asm.c can rebuild the
 * exact bytes.  Everything else prints as a raw ".insn" line. */
#include "bpf/disasm.h"

#include <inttypes.h>
#include <string.h>

#include "core/util.h"

#define BPF_HELPER_NAME_(x) #x
static const char *const helper_names[] = {__BPF_FUNC_MAPPER(BPF_HELPER_NAME_)};
#undef BPF_HELPER_NAME_

const char *
bpf_disasm_helper_name(int32_t id)
{
    if (id <= 0 || (size_t)id >= ARRAY_SIZE(helper_names)) {
        return NULL;
    }
    return helper_names[id];
}

int
bpf_disasm_helper_id(const char *name)
{
    if (!strncmp(name, "bpf_", 4)) {
        name += 4;
    }
    for (size_t i = 1; i < ARRAY_SIZE(helper_names); i++) {
        if (!strcmp(helper_names[i], name)) {
            return (int)i;
        }
    }
    return -1;
}

static const char *
alu_op_str(uint8_t op, int16_t off)
{
    switch (op) {
    case BPF_ADD:
        return off ? NULL : "+=";
    case BPF_SUB:
        return off ? NULL : "-=";
    case BPF_MUL:
        return off ? NULL : "*=";
    case BPF_DIV:
        return off == 0 ? "/=" : off == 1 ? "s/=" : NULL;
    case BPF_OR:
        return off ? NULL : "|=";
    case BPF_AND:
        return off ? NULL : "&=";
    case BPF_LSH:
        return off ? NULL : "<<=";
    case BPF_RSH:
        return off ? NULL : ">>=";
    case BPF_MOD:
        return off == 0 ? "%=" : off == 1 ? "s%=" : NULL;
    case BPF_XOR:
        return off ? NULL : "^=";
    case BPF_MOV:
        return off ? NULL : "=";
    case BPF_ARSH:
        return off ? NULL : "s>>=";
    default:
        return NULL;
    }
}

static const char *
jmp_op_str(uint8_t op)
{
    switch (op) {
    case BPF_JEQ:
        return "==";
    case BPF_JGT:
        return ">";
    case BPF_JGE:
        return ">=";
    case BPF_JSET:
        return "&";
    case BPF_JNE:
        return "!=";
    case BPF_JSGT:
        return "s>";
    case BPF_JSGE:
        return "s>=";
    case BPF_JLT:
        return "<";
    case BPF_JLE:
        return "<=";
    case BPF_JSLT:
        return "s<";
    case BPF_JSLE:
        return "s<=";
    default:
        return NULL;
    }
}

static const char *
size_str(uint8_t size, bool sign)
{
    switch (size) {
    case BPF_B:
        return sign ? "s8" : "u8";
    case BPF_H:
        return sign ? "s16" : "u16";
    case BPF_W:
        return sign ? "s32" : "u32";
    case BPF_DW:
        return sign ? NULL : "u64";
    default:
        return NULL;
    }
}

static const char *
atomic_op_str(int32_t op)
{
    switch (op & ~BPF_FETCH) {
    case BPF_ADD:
        return "add";
    case BPF_OR:
        return "or";
    case BPF_AND:
        return "and";
    case BPF_XOR:
        return "xor";
    default:
        return NULL;
    }
}

static void
put_raw(const struct bpf_insn *insn, struct ds *out)
{
    ds_put_format(out, ".insn 0x%02x, %u, %u, %d, %d", insn->code,
                  insn->dst_reg, insn->src_reg, insn->off, insn->imm);
}

/* Returns the name of map 'idx' if the assembler can read it back to the
 * same index: a unique name that cannot pass for a number and holds no
 * bracket, blank or comment character.  Otherwise NULL (print the index). */
static const char *
map_name(struct bpf_map *const *maps, size_t n_maps, int32_t idx)
{
    if (!maps || idx < 0 || (size_t)idx >= n_maps) {
        return NULL;
    }
    const char *name = maps[idx]->name;
    if (!name[0] || (name[0] >= '0' && name[0] <= '9')) {
        return NULL;
    }
    for (const char *c = name; *c; c++) {
        if (*c <= ' ' || *c > '~' || *c == ']' || *c == ';' ||
            (c[0] == '/' && c[1] == '/')) {
            return NULL;
        }
    }
    for (size_t i = 0; i < n_maps; i++) {
        if (i != (size_t)idx && !strcmp(maps[i]->name, name)) {
            return NULL;
        }
    }
    return name;
}

/* Prints an ALU/ALU64 instruction; returns false if it is not valid. */
static bool
disasm_alu(const struct bpf_insn *insn, struct ds *out)
{
    bool is64 = BPF_CLASS(insn->code) == BPF_ALU64;
    char r = is64 ? 'r' : 'w';
    uint8_t op = BPF_OP(insn->code);
    bool is_x = BPF_SRC(insn->code) == BPF_X;

    if (op == BPF_NEG) {
        if (is_x || insn->src_reg || insn->off || insn->imm) {
            return false;
        }
        ds_put_format(out, "%c%u = -%c%u", r, insn->dst_reg, r, insn->dst_reg);
        return true;
    }
    if (op == BPF_END) {
        const char *kind;
        if (insn->src_reg || insn->off ||
            (insn->imm != 16 && insn->imm != 32 && insn->imm != 64)) {
            return false;
        }
        if (is64) {
            if (is_x) {
                return false;
            }
            kind = "bswap";
        } else {
            kind = is_x ? "be" : "le";
        }
        ds_put_format(out, "r%u = %s%d r%u", insn->dst_reg, kind, insn->imm,
                      insn->dst_reg);
        return true;
    }
    if (op == BPF_MOV && is_x && insn->off) {
        /* Sign-extending move (v4). */
        if (insn->imm || insn->src_reg > 10 ||
            (insn->off != 8 && insn->off != 16 && (insn->off != 32 || !is64))) {
            return false;
        }
        ds_put_format(out, "%c%u = (s%d)%c%u", r, insn->dst_reg, insn->off, r,
                      insn->src_reg);
        return true;
    }

    const char *ops = alu_op_str(op, insn->off);
    if (!ops) {
        return false;
    }
    if (is_x) {
        if (insn->imm || insn->src_reg > 10) {
            return false;
        }
        ds_put_format(out, "%c%u %s %c%u", r, insn->dst_reg, ops, r,
                      insn->src_reg);
    } else {
        if (insn->src_reg) {
            return false;
        }
        ds_put_format(out, "%c%u %s %d", r, insn->dst_reg, ops, insn->imm);
    }
    return true;
}

static bool
disasm_jmp(const struct bpf_insn *insn, struct ds *out)
{
    bool is64 = BPF_CLASS(insn->code) == BPF_JMP;
    char r = is64 ? 'r' : 'w';
    uint8_t op = BPF_OP(insn->code);
    bool is_x = BPF_SRC(insn->code) == BPF_X;

    if (op == BPF_JA) {
        if (is_x || insn->dst_reg || insn->src_reg) {
            return false;
        }
        if (is64) {
            if (insn->imm) {
                return false;
            }
            ds_put_format(out, "goto %+d", insn->off);
        } else {
            if (insn->off) {
                return false;
            }
            ds_put_format(out, "gotol %+d", insn->imm);
        }
        return true;
    }
    if (op == BPF_EXIT) {
        if (!is64 || is_x || insn->dst_reg || insn->src_reg || insn->off ||
            insn->imm) {
            return false;
        }
        ds_put_cstr(out, "exit");
        return true;
    }
    if (op == BPF_CALL) {
        if (!is64 || is_x || insn->dst_reg || insn->off) {
            return false;
        }
        if (insn->src_reg == BPF_PSEUDO_CALL) {
            ds_put_format(out, "call pc%+d", insn->imm);
            return true;
        }
        if (insn->src_reg) {
            return false;
        }
        const char *name = bpf_disasm_helper_name(insn->imm);
        ds_put_format(out, "call %s%s#%d", name ? "bpf_" : "",
                      name ? name : "unknown", insn->imm);
        return true;
    }

    const char *ops = jmp_op_str(op);
    if (!ops) {
        return false;
    }
    if (is_x) {
        if (insn->imm || insn->src_reg > 10) {
            return false;
        }
        ds_put_format(out, "if %c%u %s %c%u goto %+d", r, insn->dst_reg, ops, r,
                      insn->src_reg, insn->off);
    } else {
        if (insn->src_reg) {
            return false;
        }
        ds_put_format(out, "if %c%u %s %d goto %+d", r, insn->dst_reg, ops,
                      insn->imm, insn->off);
    }
    return true;
}

static bool
disasm_mem(const struct bpf_insn *insn, struct ds *out)
{
    uint8_t cls = BPF_CLASS(insn->code);
    uint8_t mode = BPF_MODE(insn->code);
    uint8_t size = BPF_SIZE(insn->code);

    if (cls == BPF_LDX) {
        const char *s = size_str(size, mode == BPF_MEMSX);
        if ((mode != BPF_MEM && mode != BPF_MEMSX) || !s || insn->imm ||
            insn->src_reg > 10) {
            return false;
        }
        ds_put_format(out, "r%u = *(%s *)(r%u %+d)", insn->dst_reg, s,
                      insn->src_reg, insn->off);
        return true;
    }
    if (cls == BPF_ST) {
        const char *s = size_str(size, false);
        if (mode != BPF_MEM || !s || insn->src_reg) {
            return false;
        }
        ds_put_format(out, "*(%s *)(r%u %+d) = %d", s, insn->dst_reg, insn->off,
                      insn->imm);
        return true;
    }
    /* BPF_STX. */
    const char *s = size_str(size, false);
    if (!s || insn->src_reg > 10) {
        return false;
    }
    if (mode == BPF_MEM) {
        if (insn->imm) {
            return false;
        }
        ds_put_format(out, "*(%s *)(r%u %+d) = r%u", s, insn->dst_reg,
                      insn->off, insn->src_reg);
        return true;
    }
    if (mode != BPF_ATOMIC || (size != BPF_W && size != BPF_DW)) {
        return false;
    }
    const char *width = size == BPF_DW ? "64" : "";
    const char *aop = atomic_op_str(insn->imm);
    if (aop && !(insn->imm & ~(0xf0 | BPF_FETCH))) {
        if (insn->imm & BPF_FETCH) {
            ds_put_format(out, "r%u = atomic%s_fetch_%s((%s *)(r%u %+d), r%u)",
                          insn->src_reg, width, aop, s, insn->dst_reg,
                          insn->off, insn->src_reg);
        } else {
            ds_put_format(out, "lock *(%s *)(r%u %+d) %c= r%u", s,
                          insn->dst_reg, insn->off,
                          insn->imm == BPF_ADD   ? '+'
                          : insn->imm == BPF_OR  ? '|'
                          : insn->imm == BPF_AND ? '&'
                                                 : '^',
                          insn->src_reg);
        }
        return true;
    }
    if (insn->imm == BPF_XCHG) {
        ds_put_format(out, "r%u = atomic%s_xchg((%s *)(r%u %+d), r%u)",
                      insn->src_reg, width, s, insn->dst_reg, insn->off,
                      insn->src_reg);
        return true;
    }
    if (insn->imm == BPF_CMPXCHG) {
        ds_put_format(out, "r0 = atomic%s_cmpxchg((%s *)(r%u %+d), r0, r%u)",
                      width, s, insn->dst_reg, insn->off, insn->src_reg);
        return true;
    }
    return false;
}

/* Prints LD_ABS/LD_IND and LD_IMM64; returns the slots consumed or 0. */
static unsigned int
disasm_ld(const struct bpf_insn *insns, size_t n, size_t idx,
          struct bpf_map *const *maps, size_t n_maps, struct ds *out)
{
    const struct bpf_insn *insn = &insns[idx];
    uint8_t mode = BPF_MODE(insn->code);
    uint8_t size = BPF_SIZE(insn->code);

    if (mode == BPF_ABS || mode == BPF_IND) {
        const char *s = size != BPF_DW ? size_str(size, false) : NULL;
        if (!s || insn->dst_reg || insn->off ||
            (mode == BPF_ABS && insn->src_reg) ||
            (mode == BPF_IND && insn->src_reg > 10)) {
            return 0;
        }
        if (mode == BPF_ABS) {
            ds_put_format(out, "r0 = *(%s *)skb[%d]", s, insn->imm);
        } else {
            ds_put_format(out, "r0 = *(%s *)skb[r%u %+d]", s, insn->src_reg,
                          insn->imm);
        }
        return 1;
    }
    if (mode != BPF_IMM || size != BPF_DW || idx + 1 >= n) {
        return 0;
    }
    const struct bpf_insn *next = &insns[idx + 1];
    if (next->code || next->dst_reg || next->src_reg || next->off ||
        insn->off) {
        return 0;
    }
    const char *name;
    switch (insn->src_reg) {
    case 0: {
        uint64_t v = (uint32_t)insn->imm | (uint64_t)next->imm << 32;
        ds_put_format(out, "r%u = 0x%" PRIx64 " ll", insn->dst_reg, v);
        return 2;
    }
    case BPF_PSEUDO_MAP_FD:
        if (next->imm) {
            return 0;
        }
        name = map_name(maps, n_maps, insn->imm);
        if (name) {
            ds_put_format(out, "r%u = map[id:%s]", insn->dst_reg, name);
        } else {
            ds_put_format(out, "r%u = map[id:%d]", insn->dst_reg, insn->imm);
        }
        return 2;
    case BPF_PSEUDO_MAP_VALUE:
        name = map_name(maps, n_maps, insn->imm);
        if (name) {
            ds_put_format(out, "r%u = map[id:%s][0]+%u", insn->dst_reg, name,
                          (uint32_t)next->imm);
        } else {
            ds_put_format(out, "r%u = map[id:%d][0]+%u", insn->dst_reg,
                          insn->imm, (uint32_t)next->imm);
        }
        return 2;
    case BPF_PSEUDO_FUNC:
        if (next->imm) {
            return 0;
        }
        ds_put_format(out, "r%u = func pc%+d", insn->dst_reg, insn->imm);
        return 2;
    default:
        return 0;
    }
}

unsigned int
bpf_disasm_insn(const struct bpf_insn *insns, size_t n, size_t idx,
                struct bpf_map *const *maps, size_t n_maps, struct ds *out)
{
    const struct bpf_insn *insn = &insns[idx];
    unsigned int used = 1;
    bool ok;
    size_t mark = out->len;

    if (insn->dst_reg > 10) {
        ok = false;
    } else {
        switch (BPF_CLASS(insn->code)) {
        case BPF_ALU:
        case BPF_ALU64:
            ok = disasm_alu(insn, out);
            break;
        case BPF_JMP:
        case BPF_JMP32:
            ok = disasm_jmp(insn, out);
            break;
        case BPF_LD:
            used = disasm_ld(insns, n, idx, maps, n_maps, out);
            ok = used != 0;
            break;
        default:
            ok = disasm_mem(insn, out);
            break;
        }
    }
    if (!ok) {
        /* Drop any partial text and fall back to the raw form. */
        out->len = mark;
        if (out->buf) {
            out->buf[mark] = '\0';
        }
        put_raw(insn, out);
        used = 1;
    }
    return used;
}

void
bpf_disasm_insns(const struct bpf_insn *insns, size_t n,
                 struct bpf_map *const *maps, size_t n_maps, bool with_idx,
                 struct ds *out)
{
    for (size_t i = 0; i < n;) {
        if (with_idx) {
            ds_put_format(out, "%4zu: ", i);
        }
        i += bpf_disasm_insn(insns, n, i, maps, n_maps, out);
        ds_put_char(out, '\n');
    }
}
