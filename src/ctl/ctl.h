/* The control socket: how `sluice flow add ...` reaches a running switch.
 *
 * A UNIX stream socket carries JSON, one object per line, in both
 * directions.  A client sends one request and reads one response per line
 * (it may send several on one connection):
 *
 *   request:  {"command": "flow add", "args": ["in_port=1,actions=drop"],
 *              "json": false}
 *   response: {"ok": true, "output": "TEXT"}          (json false)
 *             {"ok": true, "result": JSON-VALUE}      (json true)
 *             {"ok": false, "error": "REASON"}
 *
 * The server side knows nothing about switching: it reads lines, checks
 * that each is a well-formed request and hands it to the caller's handler,
 * which returns the response.  It is driven by the caller's poll() loop
 * (ctl_server_pollfds / ctl_server_handle), so the switch's control thread
 * also handles signals and timers in that one loop.
 *
 * Errors follow the library convention: 0 or a negative errno, with an
 * allocated message in '*errp'. */
#ifndef CTL_CTL_H
#define CTL_CTL_H 1

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/compiler.h"

/* Longest request or response line accepted, in bytes. */
#define CTL_LINE_MAX (16u << 20)
/* Most clients connected at once; more are refused. */
#define CTL_MAX_CLIENTS 64
/* Default socket path when neither --ctl nor $SLUICE_CTL is given. */
#define CTL_DEFAULT_PATH "/run/sluice/ctl.sock"

/* The socket path to use: 'path' if non-NULL, else $SLUICE_CTL if set and
 * non-empty, else CTL_DEFAULT_PATH. */
const char *ctl_socket_path(const char *path);

/* A request that passed the protocol checks. */
struct ctl_request {
    const char *command; /* E.g. "flow add" (borrowed from the JSON). */
    size_t argc;         /* Arguments. */
    const char **argv;   /* Borrowed strings (array owned by the server). */
    bool json;           /* Wants "result" rather than "output". */
};

/* Handles one request; returns a new response object (see above), which
 * the server sends and releases. */
typedef json_t *ctl_handler_cb(void *aux, const struct ctl_request *);

/* Response helpers for handlers. */
json_t *ctl_response_error(const char *fmt, ...) PRINTF_FORMAT(1, 2);
json_t *ctl_response_output(const char *text);
/* Takes the reference to 'result'. */
json_t *ctl_response_result(json_t *result);

/* Checks and decodes one request line (without its '\n').  Returns NULL
 * and fills 'req' (whose argv the caller frees; strings point into
 * '*jsonp', which the caller releases), or an allocated reason. */
char *ctl_request_parse(const char *line, size_t len, json_t **jsonp,
                        struct ctl_request *req) WARN_UNUSED_RESULT;

struct ctl_server;

/* Listens on 'path', creating its directory (mode 0755) if missing.  An
 * existing socket file that nobody answers on is replaced; one that a
 * running switch answers on is an error (-EADDRINUSE). */
int ctl_server_create(const char *path, ctl_handler_cb *, void *aux,
                      struct ctl_server **, char **errp);
/* Closes every connection and removes the socket file.  NULL is a no-op. */
void ctl_server_destroy(struct ctl_server *);

/* Fills up to 'max' entries of 'fds' with the descriptors to poll (the
 * listener and each client); returns how many. */
size_t ctl_server_pollfds(const struct ctl_server *, struct pollfd *fds,
                          size_t max);
/* Acts on the poll() results of the 'n' entries filled by
 * ctl_server_pollfds(): accepts, reads, answers complete lines, drops
 * closed or misbehaving clients. */
void ctl_server_handle(struct ctl_server *, const struct pollfd *fds, size_t n);

/* Client: connects to 'path', sends 'request' and waits up to 'timeout_ms'
 * for the response, stored in '*responsep'. */
int ctl_call(const char *path, const json_t *request, int timeout_ms,
             json_t **responsep, char **errp);

#endif
