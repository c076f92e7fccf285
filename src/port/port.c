/* The port type registry and the generic port calls.
 *
 * Port types are listed in 'classes'; adding a type (afpacket, afxdp, tap)
 * means writing its struct port_class and adding one line there.  The
 * generic wrappers keep the "cannot receive / cannot transmit" cases in one
 * place so the datapath can treat every port alike. */
#include "port.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "port_int.h"

static const struct port_class *const classes[] = {
    &port_pcap_class,
    &port_afpacket_class,
#ifdef SLUICE_HAVE_AFXDP
    &port_afxdp_class,
#endif
    &port_tap_class,
};

/* Returns the class whose type is the text before ':' in 'spec'. */
const struct port_class *
port_class_find(const char *spec)
{
    size_t len = strcspn(spec, ":");

    for (size_t i = 0; i < ARRAY_SIZE(classes); i++) {
        if (strlen(classes[i]->type) == len &&
            !strncmp(classes[i]->type, spec, len)) {
            return classes[i];
        }
    }
    return NULL;
}

static char *
unknown_type_error(const char *spec)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    size_t len = strcspn(spec, ":");

    ds_put_format(&s, "unknown port type '%.*s' (known:", (int)len, spec);
    for (size_t i = 0; i < ARRAY_SIZE(classes); i++) {
        ds_put_format(&s, " %s", classes[i]->type);
    }
    ds_put_char(&s, ')');
    return ds_steal_cstr(&s);
}

char *
port_spec_check(const char *spec, int *err_col)
{
    const struct port_class *class = port_class_find(spec);
    size_t type_len = strcspn(spec, ":");
    char *error;

    *err_col = 1;
    if (!class) {
        return unknown_type_error(spec);
    }
    if (spec[type_len] != ':') {
        *err_col = (int)type_len + 1;
        return xasprintf("expected '%s:ARGS'", class->type);
    }
    error = class->check(spec + type_len + 1, err_col);
    if (error) {
        *err_col += (int)type_len + 1;
    }
    return error;
}

int
port_open(uint32_t number, const char *spec, const char *base_dir,
          struct port **portp, char **errp)
{
    const struct port_class *class;
    struct port *port = NULL;
    int err_col;
    char *error;
    int err;

    *portp = NULL;
    if (number < PORT_NUMBER_MIN || number > PORT_NUMBER_MAX) {
        *errp = xasprintf("port number %u out of range %d..%d", number,
                          PORT_NUMBER_MIN, PORT_NUMBER_MAX);
        return -EINVAL;
    }
    error = port_spec_check(spec, &err_col);
    if (error) {
        *errp = error;
        return -EINVAL;
    }
    class = port_class_find(spec);
    err = class->open(spec + strlen(class->type) + 1, base_dir, &port, errp);
    if (err) {
        return err;
    }
    port->class = class;
    port->number = number;
    port->spec = xstrdup(spec);
    memset(&port->stats, 0, sizeof port->stats);
    *portp = port;
    return 0;
}

int
port_close(struct port *port)
{
    char *spec;
    int err;

    if (!port) {
        return 0;
    }
    spec = port->spec;
    err = port->class->close(port);
    free(spec);
    return err;
}

bool
port_can_rx(const struct port *port)
{
    return port->class->can_rx(port);
}

bool
port_can_tx(const struct port *port)
{
    return port->class->can_tx(port);
}

int
port_rx_batch(struct port *port, struct packet_batch *b)
{
    packet_batch_init(b);
    if (!port_can_rx(port)) {
        return 0;
    }
    return port->class->rx_batch(port, b);
}

int
port_tx(struct port *port, const struct packet *p)
{
    if (!port_can_tx(port)) {
        port->stats.drops++;
        return -EOPNOTSUPP;
    }
    return port->class->tx(port, p);
}

int
port_flush(struct port *port)
{
    return port->class->flush ? port->class->flush(port) : 0;
}

int
port_fd(const struct port *port)
{
    return port->class->fd ? port->class->fd(port) : -1;
}

bool
port_rx_nsec(const struct port *port)
{
    return port->class->rx_nsec && port->class->rx_nsec(port);
}

void
port_set_tx_nsec(struct port *port, bool nsec)
{
    if (port->class->set_tx_nsec) {
        port->class->set_tx_nsec(port, nsec);
    }
}

char *
port_spec_file(const char *spec, const char *base_dir, bool tx)
{
    const struct port_class *class = port_class_find(spec);
    size_t type_len = strcspn(spec, ":");

    if (!class || !class->file || spec[type_len] != ':') {
        return NULL;
    }
    return class->file(spec + type_len + 1, base_dir, tx);
}

/* 'path' with its directory resolved (symlinks, "..") when it exists. */
static char *
canonical_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir, *real, *result;

    real = realpath(path, NULL);
    if (real) {
        return real;
    }
    dir =
        slash ? xasprintf("%.*s", (int)(slash - path + 1), path) : xstrdup(".");
    real = realpath(dir, NULL);
    result = real ? xasprintf("%s/%s", real, slash ? slash + 1 : path)
                  : xstrdup(path);
    free(real);
    free(dir);
    return result;
}

bool
port_same_file(const char *a, const char *b)
{
    char *ca = canonical_path(a);
    char *cb = canonical_path(b);
    bool same = !strcmp(ca, cb);

    free(ca);
    free(cb);
    return same;
}

int
port_ring_create(const char *what, struct packet_pool **poolp,
                 struct packet **pkts, char **errp)
{
    *poolp = packet_pool_create_array(PACKET_BATCH_MAX, PACKET_DEFAULT_SIZE,
                                      pkts);
    if (!*poolp) {
        *errp = xasprintf("%s: packet pool: %s", what, strerror(errno));
        return -ENOMEM;
    }
    return 0;
}

char *
port_resolve_path(const char *base_dir, const char *path)
{
    if (path[0] == '/' || !base_dir || !base_dir[0]) {
        return xstrdup(path);
    }
    return xasprintf("%s/%s", base_dir, path);
}
