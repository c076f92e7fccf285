#!/usr/bin/python3
"""Writes the instruction-set conformance cases tests/bpf/isa/NAME.data.

Each expected r0 is computed here, in Python, from RFC 9669 and the
kernel's semantics (division by zero gives 0, modulo by zero keeps dst,
32-bit results are zero-extended, LD_ABS/LD_IND read big-endian and end
the program with 0 when out of bounds), independently of sluice's
interpreter.  Run it after adding a case; existing files are rewritten
with the same contents.
"""
import os
M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
def s64(x): x &= M64; return x - (1 << 64) if x >> 63 else x
def s32(x): x &= M32; return x - (1 << 32) if x >> 31 else x
def sx(x, bits): x &= (1 << bits) - 1; return x - (1 << bits) if x >> (bits - 1) else x
def tdiv(a, b): q = abs(a) // abs(b); return q if (a < 0) == (b < 0) else -q
def tmod(a, b): return a - tdiv(a, b) * b
def bswap(x, n): return int.from_bytes((x & ((1 << n) - 1)).to_bytes(n // 8, 'little'), 'big')

cases = []
def case(name, desc, text, expect, mem=''):
    cases.append((name, desc, text.strip('\n'), mem, expect & M64))

A = 0x123456789abcdef0
B = 0xfedcba9876543210
# ---- ALU64 register and immediate forms ----
ops64 = [
    ('add', '+=', lambda a, b: a + b), ('sub', '-=', lambda a, b: a - b),
    ('mul', '*=', lambda a, b: a * b), ('or', '|=', lambda a, b: a | b),
    ('and', '&=', lambda a, b: a & b), ('xor', '^=', lambda a, b: a ^ b),
]
for nm, op, f in ops64:
    case(f'alu64_{nm}_reg', f'64-bit {nm} of two registers',
         f'r0 = {hex(A)} ll\nr1 = {hex(B)} ll\nr0 {op} r1\nexit', f(A, B))
    case(f'alu64_{nm}_imm', f'64-bit {nm} with a negative immediate '
         '(sign-extended to 64 bits)',
         f'r0 = {hex(A)} ll\nr0 {op} -3\nexit', f(A, -3 & M64))
    case(f'alu32_{nm}_reg', f'32-bit {nm}: upper half of the result is zero',
         f'r0 = {hex(A)} ll\nr1 = {hex(B)} ll\nw0 {op} w1\nexit',
         f(A & M32, B & M32) & M32)
    case(f'alu32_{nm}_imm', f'32-bit {nm} with an immediate',
         f'r0 = {hex(A)} ll\nw0 {op} -3\nexit', f(A & M32, M32 - 2) & M32)

case('alu64_div_reg', 'unsigned 64-bit division',
     f'r0 = {hex(B)} ll\nr1 = 7\nr0 /= r1\nexit', B // 7)
case('alu64_div_imm_neg', 'division by an immediate -1 divides by 2^64-1',
     f'r0 = {hex(B)} ll\nr0 /= -1\nexit', B // M64)
case('alu32_div_reg', 'unsigned 32-bit division ignores the upper halves',
     f'r0 = {hex(B)} ll\nr1 = 0x100000007 ll\nw0 /= w1\nexit',
     (B & M32) // 7)
case('alu64_mod_reg', 'unsigned 64-bit modulo',
     f'r0 = {hex(B)} ll\nr1 = 1000\nr0 %= r1\nexit', B % 1000)
case('alu32_mod_imm', 'unsigned 32-bit modulo',
     f'r0 = {hex(B)} ll\nw0 %= 1000\nexit', (B & M32) % 1000)
case('alu64_div_by_zero_reg', 'division by zero gives 0 (kernel semantics)',
     'r0 = 1234\nr1 = 0\nr0 /= r1\nexit', 0)
case('alu64_div_by_zero_imm', 'division by an immediate 0 gives 0',
     'r0 = 1234\nr0 /= 0\nexit', 0)
case('alu32_div_by_zero_reg', '32-bit division by zero gives 0',
     f'r0 = {hex(A)} ll\nr1 = 0x100000000 ll\nw0 /= w1\nexit', 0)
case('alu64_mod_by_zero_reg', 'modulo by zero leaves dst unchanged',
     f'r0 = {hex(A)} ll\nr1 = 0\nr0 %= r1\nexit', A)
case('alu64_mod_by_zero_imm', 'modulo by an immediate 0 leaves dst unchanged',
     f'r0 = {hex(A)} ll\nr0 %= 0\nexit', A)
case('alu32_mod_by_zero_reg', '32-bit modulo by zero keeps the low half of '
     'dst and zero-extends it',
     f'r0 = {hex(A)} ll\nr1 = 0x100000000 ll\nw0 %= w1\nexit', A & M32)
case('alu64_sdiv_reg', 'signed 64-bit division truncates toward zero',
     'r0 = -17\nr1 = 5\nr0 s/= r1\nexit', tdiv(-17, 5))
case('alu64_sdiv_imm', 'signed division by a negative immediate',
     'r0 = 17\nr0 s/= -5\nexit', tdiv(17, -5))
case('alu32_sdiv_reg', 'signed 32-bit division, result zero-extended',
     'w0 = -17\nw1 = 5\nw0 s/= w1\nexit', tdiv(-17, 5) & M32)
case('alu64_sdiv_by_zero', 'signed division by zero gives 0',
     'r0 = -17\nr1 = 0\nr0 s/= r1\nexit', 0)
case('alu64_sdiv_overflow', 'INT64_MIN s/ -1 wraps to INT64_MIN',
     'r0 = 0x8000000000000000 ll\nr1 = -1\nr0 s/= r1\nexit', 1 << 63)
case('alu32_sdiv_overflow', 'INT32_MIN s/ -1 wraps to INT32_MIN',
     'w0 = 0x80000000\nw0 s/= -1\nexit', 1 << 31)
case('alu64_smod_reg', 'signed modulo takes the sign of the dividend',
     'r0 = -17\nr1 = 5\nr0 s%= r1\nexit', tmod(-17, 5))
case('alu64_smod_neg_divisor', 'signed modulo with a negative divisor',
     'r0 = 17\nr0 s%= -5\nexit', tmod(17, -5))
case('alu32_smod_reg', 'signed 32-bit modulo',
     'w0 = -17\nw1 = 5\nw0 s%= w1\nexit', tmod(-17, 5) & M32)
case('alu64_smod_by_zero', 'signed modulo by zero leaves dst unchanged',
     'r0 = -17\nr1 = 0\nr0 s%= r1\nexit', -17)
case('alu64_smod_overflow', 'INT64_MIN s% -1 is 0',
     'r0 = 0x8000000000000000 ll\nr0 s%= -1\nexit', 0)

# Shifts.
case('alu64_lsh_imm', '64-bit left shift', f'r0 = {hex(A)} ll\nr0 <<= 12\nexit',
     A << 12)
case('alu64_lsh_reg_masked', 'register shift counts are taken modulo 64',
     f'r0 = {hex(A)} ll\nr1 = 68\nr0 <<= r1\nexit', A << 4)
case('alu64_rsh_imm', '64-bit logical right shift',
     f'r0 = {hex(B)} ll\nr0 >>= 60\nexit', B >> 60)
case('alu64_arsh_imm', '64-bit arithmetic right shift copies the sign',
     f'r0 = {hex(B)} ll\nr0 s>>= 60\nexit', s64(B) >> 60)
case('alu64_arsh_reg', '64-bit arithmetic right shift by a register',
     f'r0 = {hex(B)} ll\nr1 = 4\nr0 s>>= r1\nexit', s64(B) >> 4)
case('alu32_lsh_reg_masked', '32-bit register shift counts are taken '
     'modulo 32', 'w0 = 0x12345678\nw1 = 36\nw0 <<= w1\nexit',
     (0x12345678 << 4) & M32)
case('alu32_rsh_imm', '32-bit logical right shift of a negative value',
     'w0 = -16\nw0 >>= 2\nexit', ((-16) & M32) >> 2)
case('alu32_arsh_imm', '32-bit arithmetic shift, then zero extension',
     'w0 = -16\nw0 s>>= 2\nexit', (-4) & M32)
case('alu32_arsh_reg', '32-bit arithmetic shift by a register',
     'w0 = 0x80000000\nw1 = 31\nw0 s>>= w1\nexit', M32)

# Moves, negation, sign extension.
case('mov64_imm_sign_extends', '64-bit move of an immediate sign-extends',
     'r0 = -2\nexit', -2)
case('mov32_imm_zero_extends', '32-bit move of an immediate zero-extends',
     'w0 = -2\nexit', M32 - 1)
case('mov64_reg', '64-bit register move',
     f'r1 = {hex(A)} ll\nr0 = r1\nexit', A)
case('mov32_reg', '32-bit register move clears the upper half',
     f'r1 = {hex(A)} ll\nr0 = {hex(B)} ll\nw0 = w1\nexit', A & M32)
case('neg64', '64-bit negation', 'r0 = 5\nr0 = -r0\nexit', -5)
case('neg32', '32-bit negation zero-extends', 'r0 = 5\nw0 = -w0\nexit',
     (-5) & M32)
case('movsx64_s8', 'sign-extending move from 8 bits',
     'r1 = 0x1ff80\nr0 = (s8)r1\nexit', sx(0x80, 8))
case('movsx64_s16', 'sign-extending move from 16 bits',
     'r1 = 0x18001\nr0 = (s16)r1\nexit', sx(0x8001, 16))
case('movsx64_s32', 'sign-extending move from 32 bits',
     'r1 = 0x180000000 ll\nr0 = (s32)r1\nexit', sx(0x80000000, 32))
case('movsx64_positive', 'sign extension of a positive byte',
     'r1 = 0x17f\nr0 = (s8)r1\nexit', 0x7f)
case('movsx32_s8', '32-bit sign-extending move, upper half zero',
     'r1 = 0x80\nw0 = (s8)w1\nexit', sx(0x80, 8) & M32)
case('movsx32_s16', '32-bit sign-extending move from 16 bits',
     'r1 = 0xffff\nw0 = (s16)w1\nexit', M32)
case('ld_imm64', 'LD_IMM64 loads all 64 bits',
     'r0 = 0x1122334455667788 ll\nexit', 0x1122334455667788)
case('ld_imm64_high_bit', 'LD_IMM64 with the top bit set',
     'r0 = 0x8000000000000001 ll\nexit', 0x8000000000000001)

# Byte swaps (little-endian host).
X = 0x0102030405060708
case('le16', 'to-little-endian 16 truncates on a little-endian host',
     f'r0 = {hex(X)} ll\nr0 = le16 r0\nexit', X & 0xffff)
case('le32', 'to-little-endian 32 truncates',
     f'r0 = {hex(X)} ll\nr0 = le32 r0\nexit', X & M32)
case('le64', 'to-little-endian 64 is the identity',
     f'r0 = {hex(X)} ll\nr0 = le64 r0\nexit', X)
case('be16', 'to-big-endian 16 swaps the low two bytes',
     f'r0 = {hex(X)} ll\nr0 = be16 r0\nexit', bswap(X, 16))
case('be32', 'to-big-endian 32 swaps the low four bytes',
     f'r0 = {hex(X)} ll\nr0 = be32 r0\nexit', bswap(X, 32))
case('be64', 'to-big-endian 64 swaps all bytes',
     f'r0 = {hex(X)} ll\nr0 = be64 r0\nexit', bswap(X, 64))
case('bswap16', 'unconditional swap of 16 bits (v4)',
     f'r0 = {hex(X)} ll\nr0 = bswap16 r0\nexit', bswap(X, 16))
case('bswap32', 'unconditional swap of 32 bits (v4)',
     f'r0 = {hex(X)} ll\nr0 = bswap32 r0\nexit', bswap(X, 32))
case('bswap64', 'unconditional swap of 64 bits (v4)',
     f'r0 = {hex(X)} ll\nr0 = bswap64 r0\nexit', bswap(X, 64))

# ---- Memory ----
MEM = '11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 00'
mb = bytes.fromhex(MEM.replace(' ', ''))
def le(off, n): return int.from_bytes(mb[off:off + n], 'little')
for sz, n in (('u8', 1), ('u16', 2), ('u32', 4), ('u64', 8)):
    case(f'ldx_{sz}', f'load of {n} bytes from memory (r1)',
         f'r0 = *({sz} *)(r1 +8)\nexit', le(8, n), MEM)
for sz, n in (('s8', 1), ('s16', 2), ('s32', 4)):
    case(f'ldsx_{sz}', f'sign-extending load of {n} bytes (v4)',
         f'r0 = *({sz} *)(r1 +8)\nexit', sx(le(8, n), 8 * n), MEM)
case('ldsx_s8_positive', 'sign-extending load of a positive byte',
     'r0 = *(s8 *)(r1 +0)\nexit', 0x11, MEM)
case('ldx_negative_offset', 'load with a negative offset',
     'r2 = r1\nr2 += 8\nr0 = *(u16 *)(r2 -6)\nexit', le(2, 2), MEM)
case('r2_is_length', 'r2 holds the length of the memory',
     'r0 = r2\nexit', 16, MEM)
for sz, n in (('u8', 1), ('u16', 2), ('u32', 4), ('u64', 8)):
    case(f'stx_{sz}', f'store of {n} bytes from a register, read back as u64',
         f'r2 = 0x0123456789abcdef ll\n*({sz} *)(r1 +0) = r2\n'
         'r0 = *(u64 *)(r1 +0)\nexit',
         int.from_bytes((0x0123456789abcdef & ((1 << 8 * n) - 1))
                        .to_bytes(n, 'little') + mb[n:8], 'little'), MEM)
    case(f'st_{sz}', f'store of a {n}-byte immediate',
         f'*({sz} *)(r1 +4) = -2\nr0 = *(u64 *)(r1 +0)\nexit',
         int.from_bytes(mb[0:4] + ((-2) & ((1 << 8 * n) - 1))
                        .to_bytes(n, 'little') + mb[4 + n:8], 'little')
         if n <= 4 else int.from_bytes(mb[0:4] + b'\xfe\xff\xff\xff', 'little'),
         MEM)
case('stack_roundtrip', 'store to and load from the stack (r10)',
     'r1 = 0x55aa\n*(u64 *)(r10 -8) = r1\n*(u16 *)(r10 -16) = 7\n'
     'r0 = *(u64 *)(r10 -8)\nr2 = *(u16 *)(r10 -16)\nr0 += r2\nexit',
     0x55aa + 7)
case('stack_bottom', 'the whole 512-byte stack is usable',
     '*(u64 *)(r10 -512) = 3\nr0 = *(u64 *)(r10 -512)\nexit', 3)

# ---- Atomics ----
def atom(nm, op, f, width):
    sz = 'u64' if width == 64 else 'u32'
    mask = M64 if width == 64 else M32
    old = le(0, width // 8)
    v = 0x0f0f0f0f0f0f0f0f & mask
    new = f(old, v) & mask
    case(f'atomic{width}_{nm}', f'{width}-bit atomic {nm}, memory read back',
         f'r2 = {hex(v)} ll\nlock *({sz} *)(r1 +0) {op} r2\n'
         f'r0 = *({sz} *)(r1 +0)\nexit', new, MEM)
    w = '64' if width == 64 else ''
    case(f'atomic{width}_fetch_{nm}', f'{width}-bit atomic fetch_{nm} returns '
         'the old value in the source register',
         f'r2 = {hex(v)} ll\nr2 = atomic{w}_fetch_{nm}(({sz} *)(r1 +0), r2)\n'
         f'r3 = *({sz} *)(r1 +0)\nr0 = r2\nr0 ^= r3\nexit', old ^ new, MEM)
for nm, op, f in (('add', '+=', lambda a, b: a + b),
                  ('or', '|=', lambda a, b: a | b),
                  ('and', '&=', lambda a, b: a & b),
                  ('xor', '^=', lambda a, b: a ^ b)):
    atom(nm, op, f, 64)
    atom(nm, op, f, 32)
case('atomic64_xchg', 'xchg stores the register and returns the old value',
     'r2 = 5\nr2 = atomic64_xchg((u64 *)(r1 +0), r2)\n'
     'r0 = *(u64 *)(r1 +0)\nr0 <<= 32\nr0 += r2\nexit',
     ((5 << 32) + le(0, 8)), MEM)
case('atomic32_xchg', '32-bit xchg zero-extends the old value',
     'r2 = 5\nr2 = atomic_xchg((u32 *)(r1 +4), r2)\nr0 = r2\nexit',
     le(4, 4), MEM)
case('atomic64_cmpxchg_match', 'cmpxchg writes when r0 equals memory',
     f'r0 = {hex(le(0, 8))} ll\nr2 = 9\n'
     'r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)\n'
     'r3 = *(u64 *)(r1 +0)\nr0 ^= r3\nexit', le(0, 8) ^ 9, MEM)
case('atomic64_cmpxchg_mismatch', 'cmpxchg leaves memory alone on mismatch '
     'but still loads the old value into r0',
     'r0 = 1\nr2 = 9\nr0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)\n'
     'r3 = *(u64 *)(r1 +0)\nr0 ^= r3\nexit', 0, MEM)
case('atomic32_cmpxchg_match', '32-bit cmpxchg compares the low halves',
     f'r0 = {hex((7 << 32) | le(8, 4))} ll\nr2 = 9\n'
     'r0 = atomic_cmpxchg((u32 *)(r1 +8), r0, r2)\n'
     'r3 = *(u32 *)(r1 +8)\nr3 <<= 32\nr0 |= r3\nexit',
     (9 << 32) | le(8, 4), MEM)
case('atomic_on_stack', 'atomic add on a stack slot',
     '*(u64 *)(r10 -8) = 40\nr2 = 2\nlock *(u64 *)(r10 -8) += r2\n'
     'r0 = *(u64 *)(r10 -8)\nexit', 42)

# ---- Jumps ----
def jcase(nm, op, a, b, taken, width=64, tag=''):
    r = 'r' if width == 64 else 'w'
    case(f'jmp{"" if width == 64 else "32"}_{nm}{tag}_{"taken" if taken else "not_taken"}',
         f'{"64" if width == 64 else "32"}-bit {op} comparison of '
         f'{hex(a)} and {hex(b)}',
         f'r1 = {hex(a)} ll\nr2 = {hex(b)} ll\nr0 = 0\n'
         f'if {r}1 {op} {r}2 goto yes\nexit\nyes:\nr0 = 1\nexit',
         1 if taken else 0)
NEG = (-5) & M64
jops = [
    ('jeq', '==', lambda a, b: a == b), ('jne', '!=', lambda a, b: a != b),
    ('jgt', '>', lambda a, b: a > b), ('jge', '>=', lambda a, b: a >= b),
    ('jlt', '<', lambda a, b: a < b), ('jle', '<=', lambda a, b: a <= b),
    ('jsgt', 's>', lambda a, b: s64(a) > s64(b)),
    ('jsge', 's>=', lambda a, b: s64(a) >= s64(b)),
    ('jslt', 's<', lambda a, b: s64(a) < s64(b)),
    ('jsle', 's<=', lambda a, b: s64(a) <= s64(b)),
    ('jset', '&', lambda a, b: (a & b) != 0),
]
for nm, op, f in jops:
    a, b = NEG, 3
    jcase(nm, op, a, b, f(a, b), tag='_neg')
    a, b = 3, 3 if nm in ('jeq', 'jge', 'jle', 'jsge', 'jsle') else 4
    jcase(nm, op, a, b, f(a, b), tag='_small')
J32A, J32B = 0xffffffff00000001, 0x0000000100000001
for nm, op, f in jops:
    a, b = J32A, J32B
    if nm.startswith('js'):
        taken = f(s32(a) & M64, s32(b) & M64)
    else:
        taken = f(a & M32, b & M32)
    jcase(nm, op, a, b, taken, 32)
# Immediate forms: the immediate is sign-extended to 64 bits for JMP and
# compared as 32 bits for JMP32.
for nm, op, f in jops:
    a, imm = (-7) & M64, -3
    taken = f(a, imm & M64)
    case(f'jmp_{nm}_imm_{"taken" if taken else "not_taken"}',
         f'64-bit {op} comparison of {hex(a)} with the immediate {imm}',
         f'r1 = {hex(a)} ll\nr0 = 0\nif r1 {op} {imm} goto +1\nexit\n'
         'r0 = 1\nexit', 1 if taken else 0)
    a32 = 0x12345678fffffff9
    if nm.startswith('js'):
        taken = f(s32(a32) & M64, s32(imm) & M64)
    else:
        taken = f(a32 & M32, imm & M32)
    case(f'jmp32_{nm}_imm_{"taken" if taken else "not_taken"}',
         f'32-bit {op} comparison of the low half of {hex(a32)} with the '
         f'immediate {imm}',
         f'r1 = {hex(a32)} ll\nr0 = 0\nif w1 {op} {imm} goto +1\nexit\n'
         'r0 = 1\nexit', 1 if taken else 0)
case('jmp32_signed_low_half', 'jmp32 s< sees only the (negative) low half',
     'r1 = 0x00000000ffffffff ll\nr0 = 0\nif w1 s< 0 goto yes\nexit\n'
     'yes:\nr0 = 1\nexit', 1)
case('jmp_imm_sign_extended', '64-bit compare with an immediate -1 compares '
     'against 2^64-1', 'r1 = -1\nr0 = 0\nif r1 == -1 goto yes\nexit\n'
     'yes:\nr0 = 1\nexit', 1)
case('ja_forward', 'unconditional jump skips an instruction',
     'r0 = 1\ngoto +1\nr0 = 2\nexit', 1)
case('ja_backward_loop', 'a bounded loop with a backward jump sums 1..10',
     'r0 = 0\nr1 = 10\nloop:\nr0 += r1\nr1 -= 1\nif r1 != 0 goto loop\nexit',
     55)
case('gotol', 'gotol (v4) with a 32-bit offset in imm',
     'r0 = 1\ngotol +2\nr0 = 2\nr0 = 3\nexit', 1)
case('jset_imm', 'jset with an immediate mask',
     'r1 = 0x10\nr0 = 0\nif r1 & 0x30 goto yes\nexit\nyes:\nr0 = 1\nexit', 1)

# ---- LD_ABS / LD_IND (r6 = context = memory; network byte order) ----
def be(off, n): return int.from_bytes(mb[off:off + n], 'big')
for sz, n in (('u8', 1), ('u16', 2), ('u32', 4)):
    case(f'ld_abs_{sz}', f'LD_ABS loads {n} bytes in network order',
         f'r6 = r1\nr0 = *({sz} *)skb[2]\nexit', be(2, n), MEM)
    case(f'ld_ind_{sz}', f'LD_IND adds a register to the offset',
         f'r6 = r1\nr7 = 3\nr0 = *({sz} *)skb[r7 +1]\nexit', be(4, n), MEM)
case('ld_abs_out_of_bounds', 'LD_ABS past the end ends the program with 0',
     'r6 = r1\nr0 = 7\nr0 = *(u32 *)skb[14]\nr0 = 9\nexit', 0, MEM)
case('ld_ind_out_of_bounds', 'LD_IND past the end ends the program with 0',
     'r6 = r1\nr7 = 100\nr0 = 7\nr0 = *(u8 *)skb[r7 +0]\nr0 = 9\nexit', 0, MEM)
case('ld_abs_clobbers', 'LD_ABS keeps r6-r9 (callee-saved)',
     'r6 = r1\nr7 = 5\nr0 = *(u8 *)skb[0]\nr0 += r7\nexit', 0x11 + 5, MEM)

# ---- Calls ----
case('call_local', 'BPF-to-BPF call passes r1 and returns r0',
     'r1 = 20\ncall f\nr0 += 1\nexit\nf:\nr0 = r1\nr0 *= 2\nexit', 41)
case('call_local_saves_r6_r9', 'the callee may not change r6-r9',
     'r6 = 1\nr7 = 2\nr8 = 3\nr9 = 4\ncall pc+5\nr0 = r6\nr0 += r7\n'
     'r0 += r8\nr0 += r9\nexit\n'
     'r6 = 100\nr7 = 100\nr8 = 100\nr9 = 100\nr0 = 0\nexit', 10)
case('call_local_own_stack', 'each frame has its own stack',
     '*(u64 *)(r10 -8) = 5\ncall pc+3\nr1 = *(u64 *)(r10 -8)\nr0 += r1\n'
     'exit\n*(u64 *)(r10 -8) = 7\nr0 = *(u64 *)(r10 -8)\nexit', 12)
case('call_local_nested', 'calls nest (depth 3)',
     'r1 = 1\ncall pc+2\nr0 += 100\nexit\n'
     'r1 += 1\ncall pc+2\nr0 += 10\nexit\n'
     'r0 = r1\nexit', 112)
case('call_local_five_args', 'r1-r5 carry five arguments',
     'r1 = 1\nr2 = 2\nr3 = 3\nr4 = 4\nr5 = 5\ncall pc+1\nexit\n'
     'r0 = r1\nr0 += r2\nr0 += r3\nr0 += r4\nr0 += r5\nexit', 15)
case('call_local_pointer_arg', 'a callee writes through a stack pointer '
     'from its caller',
     'r1 = r10\nr1 += -8\n*(u64 *)(r10 -8) = 0\ncall pc+2\n'
     'r0 = *(u64 *)(r10 -8)\nexit\n*(u64 *)(r1 +0) = 77\nr0 = 0\nexit', 77)

# Writes the cases.
out = os.path.dirname(os.path.abspath(__file__))
os.makedirs(out, exist_ok=True)
names = set()
for name, desc, text, mem, expect in cases:
    assert name not in names, name
    names.add(name)
    with open(os.path.join(out, name + '.data'), 'w') as f:
        f.write(f'# {desc}\n-- asm\n{text}\n')
        if mem:
            f.write(f'-- mem\n{mem}\n')
        f.write(f'-- result\n{hex(expect)}\n')
print(len(cases))
