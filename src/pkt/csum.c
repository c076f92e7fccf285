/* Internet checksums (RFC 1071) and their incremental update (RFC 1624),
 * plus the CRC32c that SCTP uses instead.
 *
 * csum_partial() adds big-endian 16-bit words as host-order integers into a
 * 32-bit accumulator with end-around carry, so partial sums over several
 * pieces (pseudo-header, header, payload) can be chained; csum_fold()
 * folds and complements the result into the 16-bit checksum (host order:
 * store it with htons()).
 *
 * The update functions work directly on network-order values: one's
 * complement addition is byte-order independent as long as every operand
 * uses the same order, so no swapping is needed on the rewrite path. */
#include <stddef.h>
#include <stdint.h>

#include "pkt.h"
#include "pkt_int.h"

uint32_t
csum_partial(const void *data_, size_t len, uint32_t sum)
{
    const uint8_t *data = data_;
    uint64_t acc = sum;

    while (len >= 2) {
        acc += (uint32_t)data[0] << 8 | data[1];
        data += 2;
        len -= 2;
    }
    if (len) {
        acc += (uint32_t)data[0] << 8;
    }
    while (acc >> 32) {
        acc = (acc & 0xffffffff) + (acc >> 32);
    }
    return (uint32_t)acc;
}

uint16_t
csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* RFC 1624 equation 3: HC' = ~(~HC + ~m + m'). */
uint16_t
csum_update16(uint16_t csum, be16 old, be16 new_)
{
    uint32_t sum = (uint16_t)~csum;

    sum += (uint16_t)~old;
    sum += new_;
    return csum_fold(sum);
}

uint16_t
csum_update32(uint16_t csum, be32 old, be32 new_)
{
    uint32_t sum = (uint16_t)~csum;

    sum += (uint16_t) ~(old & 0xffff);
    sum += (uint16_t) ~(old >> 16);
    sum += new_ & 0xffff;
    sum += new_ >> 16;
    return csum_fold(sum);
}

/* CRC32c (Castagnoli, reflected polynomial 0x82f63b78), one table lookup a
 * byte.  The table is built at load time by a constructor so lookups need
 * no once-guard. */
static uint32_t crc32c_table[256];

__attribute__((constructor)) static void
crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
        }
        crc32c_table[i] = c;
    }
}

uint32_t
pkt_crc32c(const void *data_, size_t len)
{
    const uint8_t *data = data_;
    uint32_t crc = 0xffffffff;

    for (size_t i = 0; i < len; i++) {
        crc = crc32c_table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}
