/* Private to src/port: the live port types and the few helpers they share.
 *
 *   afpacket:IFNAME           AF_PACKET, TPACKET_V3 receive ring, TPACKET_V2
 *                             transmit ring (port_afpacket.c)
 *   afxdp:IFNAME[,queue=Q]    AF_XDP through libxdp, built only where libxdp
 *                             is found (SLUICE_HAVE_AFXDP; port_afxdp.c)
 *   tap:NAME                  a TAP device, created if missing (port_tap.c)
 *
 * All three hand the pipeline ordinary frames with correct checksums and
 * their VLAN tags in place, whatever offloads the kernel used (offload.h),
 * and offer port_class.fd for poll(). */
#ifndef PORT_PORT_LIVE_H
#define PORT_PORT_LIVE_H 1

#include <stddef.h>
#include <stdint.h>

#include "port.h"

extern const struct port_class port_afpacket_class;
extern const struct port_class port_tap_class;
#ifdef SLUICE_HAVE_AFXDP
extern const struct port_class port_afxdp_class;
#endif

/* Checks that the 'len' bytes at 'name' form a valid Linux interface name
 * (1..15 bytes, not "." or "..", no '/', ':', ',' or white space).
 * Returns NULL or an allocated message with '*err_col' (1-based from
 * 'name') where the problem starts. */
char *port_ifname_check(const char *name, size_t len, int *err_col);

/* Sets '*ns' to the current CLOCK_REALTIME, in ns since the epoch. */
void port_clock_ns(uint64_t *ns);

#endif
