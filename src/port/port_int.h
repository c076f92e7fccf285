/* Private to src/port: the port types the registry in port.c lists. */
#ifndef PORT_PORT_INT_H
#define PORT_PORT_INT_H 1

#include "port.h"
#include "port_live.h"

extern const struct port_class port_pcap_class;

#endif
