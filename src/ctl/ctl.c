/* The control socket protocol, server and client; see ctl.h.
 *
 * The server is single-threaded and poll-driven.  Client sockets stay
 * blocking but are read only when poll() reported them readable, one
 * read() per event, so a slow client never stalls the others while it
 * sends.  Responses are written whole with a send timeout (SO_SNDTIMEO): a
 * client that stops reading is dropped instead of blocking the switch's
 * control thread forever. */
#include "ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

/* How long a response write may block before the client is dropped. */
#define CTL_SEND_TIMEOUT_MS 5000

const char *
ctl_socket_path(const char *path)
{
    const char *env = getenv("SLUICE_CTL");

    if (path) {
        return path;
    }
    return env && env[0] ? env : CTL_DEFAULT_PATH;
}

json_t *
ctl_response_error(const char *fmt, ...)
{
    json_t *r = json_object();
    va_list args;
    char *msg;

    va_start(args, fmt);
    msg = xvasprintf(fmt, args);
    va_end(args);
    json_object_set_new(r, "ok", json_false());
    json_object_set_new(r, "error", json_string(msg));
    free(msg);
    return r;
}

json_t *
ctl_response_output(const char *text)
{
    json_t *r = json_object();

    json_object_set_new(r, "ok", json_true());
    json_object_set_new(r, "output", json_string(text));
    return r;
}

json_t *
ctl_response_result(json_t *result)
{
    json_t *r = json_object();

    json_object_set_new(r, "ok", json_true());
    json_object_set_new(r, "result", result);
    return r;
}

char *
ctl_request_parse(const char *line, size_t len, json_t **jsonp,
                  struct ctl_request *req)
{
    json_error_t jerr;
    json_t *j, *cmd, *args, *json;

    memset(req, 0, sizeof *req);
    *jsonp = NULL;
    j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        return xasprintf("bad JSON at column %d: %s", jerr.column, jerr.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return xstrdup("request must be a JSON object");
    }
    cmd = json_object_get(j, "command");
    if (!json_is_string(cmd) || !json_string_length(cmd)) {
        json_decref(j);
        return xstrdup("request needs \"command\", a non-empty string");
    }
    args = json_object_get(j, "args");
    if (args && !json_is_array(args)) {
        json_decref(j);
        return xstrdup("\"args\" must be an array of strings");
    }
    json = json_object_get(j, "json");
    if (json && !json_is_boolean(json)) {
        json_decref(j);
        return xstrdup("\"json\" must be true or false");
    }
    /* Unknown members are rejected so that typos do not pass silently. */
    for (void *it = json_object_iter(j); it;
         it = json_object_iter_next(j, it)) {
        const char *k = json_object_iter_key(it);

        if (strcmp(k, "command") && strcmp(k, "args") && strcmp(k, "json")) {
            char *msg = xasprintf("unknown request member \"%s\"", k);

            json_decref(j);
            return msg;
        }
    }
    req->command = json_string_value(cmd);
    req->json = json && json_is_true(json);
    req->argc = args ? json_array_size(args) : 0;
    req->argv = xcalloc(req->argc + 1, sizeof *req->argv);
    for (size_t i = 0; i < req->argc; i++) {
        json_t *a = json_array_get(args, i);

        if (!json_is_string(a)) {
            free(req->argv);
            req->argv = NULL;
            json_decref(j);
            return xasprintf("\"args\"[%zu] is not a string", i);
        }
        req->argv[i] = json_string_value(a);
    }
    *jsonp = j;
    return NULL;
}

/* ---- Server. ---- */

struct ctl_client {
    int fd;       /* Connected socket. */
    struct ds in; /* Bytes received, not yet a whole line. */
};

struct ctl_server {
    char *path;                                 /* Socket file (owned). */
    int listen_fd;                              /* Listening socket. */
    struct ctl_client clients[CTL_MAX_CLIENTS]; /* fd -1: free slot. */
    ctl_handler_cb *handler;                    /* Answers requests. */
    void *aux;                                  /* Its argument. */
};

static int
ctl_fill_addr(const char *path, struct sockaddr_un *sun, char **errp)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun->sun_path) {
        *errp = xasprintf("%s: socket path longer than %zu bytes", path,
                          sizeof sun->sun_path - 1);
        return -ENAMETOOLONG;
    }
    strcpy(sun->sun_path, path);
    return 0;
}

/* Creates every missing directory above 'path'. */
static int
ctl_make_dirs(const char *path, char **errp)
{
    char *dir = xstrdup(path);

    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(dir, 0755) && errno != EEXIST) {
            int err = -errno;

            *errp = xasprintf("%s: cannot create directory: %s", dir,
                              strerror(errno));
            free(dir);
            return err;
        }
        *p = '/';
    }
    free(dir);
    return 0;
}

int
ctl_server_create(const char *path, ctl_handler_cb *handler, void *aux,
                  struct ctl_server **serverp, char **errp)
{
    struct ctl_server *s;
    struct sockaddr_un sun;
    int fd, err;

    *serverp = NULL;
    err = ctl_fill_addr(path, &sun, errp);
    if (err || (err = ctl_make_dirs(path, errp))) {
        return err;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = -errno;
        *errp = xasprintf("socket: %s", strerror(errno));
        return err;
    }
    err = bind(fd, (struct sockaddr *)&sun, sizeof sun) ? -errno : 0;
    if (err == -EADDRINUSE) {
        /* A stale file from a switch that died, or a live switch? */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool alive =
            probe >= 0 && !connect(probe, (struct sockaddr *)&sun, sizeof sun);

        if (probe >= 0) {
            close(probe);
        }
        if (alive) {
            close(fd);
            *errp = xasprintf("%s: another switch is listening there", path);
            return -EADDRINUSE;
        }
        unlink(path);
        err = bind(fd, (struct sockaddr *)&sun, sizeof sun) ? -errno : 0;
    }
    if (!err && listen(fd, 16)) {
        err = -errno;
    }
    if (err) {
        *errp = xasprintf("%s: %s", path, strerror(-err));
        close(fd);
        return err;
    }
    s = xzalloc(sizeof *s);
    s->path = xstrdup(path);
    s->listen_fd = fd;
    s->handler = handler;
    s->aux = aux;
    for (size_t i = 0; i < CTL_MAX_CLIENTS; i++) {
        s->clients[i].fd = -1;
        ds_init(&s->clients[i].in);
    }
    *serverp = s;
    return 0;
}

static void
ctl_client_close(struct ctl_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    ds_destroy(&c->in);
    ds_init(&c->in);
}

void
ctl_server_destroy(struct ctl_server *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < CTL_MAX_CLIENTS; i++) {
        ctl_client_close(&s->clients[i]);
    }
    close(s->listen_fd);
    unlink(s->path);
    free(s->path);
    free(s);
}

size_t
ctl_server_pollfds(const struct ctl_server *s, struct pollfd *fds, size_t max)
{
    size_t n = 0;

    if (n < max) {
        fds[n++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
    }
    for (size_t i = 0; i < CTL_MAX_CLIENTS && n < max; i++) {
        if (s->clients[i].fd >= 0) {
            fds[n++] =
                (struct pollfd){.fd = s->clients[i].fd, .events = POLLIN};
        }
    }
    return n;
}

/* Writes all of 'buf'; false if the client is gone or too slow. */
static bool
ctl_write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Sends 'response' (released) as one line. */
static bool
ctl_send(int fd, json_t *response)
{
    char *text = json_dumps(response, JSON_COMPACT | JSON_PRESERVE_ORDER);
    bool ok;

    json_decref(response);
    if (!text) {
        return false;
    }
    ok = ctl_write_all(fd, text, strlen(text)) && ctl_write_all(fd, "\n", 1);
    free(text);
    return ok;
}

static json_t *
ctl_answer(struct ctl_server *s, const char *line, size_t len)
{
    struct ctl_request req;
    json_t *j, *response;
    char *error = ctl_request_parse(line, len, &j, &req);

    if (error) {
        response = ctl_response_error("%s", error);
        free(error);
        return response;
    }
    response = s->handler(s->aux, &req);
    free(req.argv);
    json_decref(j);
    return response;
}

/* Reads what 'c' sent and answers each complete line.  Returns false when
 * the client must be dropped. */
static bool
ctl_client_read(struct ctl_server *s, struct ctl_client *c)
{
    char buf[65536];
    ssize_t n = read(c->fd, buf, sizeof buf);
    size_t start = 0;

    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return true;
    }
    if (n <= 0) {
        return false;
    }
    ds_put_buf(&c->in, buf, (size_t)n);
    for (size_t i = 0; i < c->in.len; i++) {
        if (c->in.buf[i] != '\n') {
            continue;
        }
        if (!ctl_send(c->fd, ctl_answer(s, c->in.buf + start, i - start))) {
            return false;
        }
        start = i + 1;
    }
    if (start) {
        memmove(c->in.buf, c->in.buf + start, c->in.len - start);
        c->in.len -= start;
    }
    if (c->in.len > CTL_LINE_MAX) {
        ctl_send(c->fd, ctl_response_error("request line longer than %u "
                                           "bytes",
                                           CTL_LINE_MAX));
        return false;
    }
    return true;
}

static void
ctl_accept(struct ctl_server *s)
{
    struct timeval tv = {CTL_SEND_TIMEOUT_MS / 1000,
                         CTL_SEND_TIMEOUT_MS % 1000 * 1000};
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        return;
    }
    for (size_t i = 0; i < CTL_MAX_CLIENTS; i++) {
        if (s->clients[i].fd < 0) {
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            s->clients[i].fd = fd;
            return;
        }
    }
    ctl_send(fd, ctl_response_error("too many control connections (%d)",
                                    CTL_MAX_CLIENTS));
    close(fd);
}

void
ctl_server_handle(struct ctl_server *s, const struct pollfd *fds, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (!fds[k].revents) {
            continue;
        }
        if (fds[k].fd == s->listen_fd) {
            ctl_accept(s);
            continue;
        }
        for (size_t i = 0; i < CTL_MAX_CLIENTS; i++) {
            struct ctl_client *c = &s->clients[i];

            if (c->fd == fds[k].fd && !ctl_client_read(s, c)) {
                ctl_client_close(c);
            }
        }
    }
}

/* ---- Client. ---- */

static uint64_t
ctl_msec_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
ctl_call(const char *path, const json_t *request, int timeout_ms,
         json_t **responsep, char **errp)
{
    struct sockaddr_un sun;
    struct ds in = DS_EMPTY_INITIALIZER;
    uint64_t deadline = ctl_msec_now() + (uint64_t)timeout_ms;
    json_error_t jerr;
    char *text;
    int fd, err;

    *responsep = NULL;
    err = ctl_fill_addr(path, &sun, errp);
    if (err) {
        return err;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun)) {
        err = -errno;
        *errp = xasprintf("%s: cannot connect: %s (is `sluice switch` "
                          "running? --ctl or $SLUICE_CTL name its socket)",
                          path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return err;
    }
    text = json_dumps(request, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!ctl_write_all(fd, text, strlen(text)) || !ctl_write_all(fd, "\n", 1)) {
        err = -errno;
        *errp = xasprintf("%s: send failed: %s", path, strerror(errno));
        free(text);
        close(fd);
        return err ? err : -EIO;
    }
    free(text);
    while (!memchr(in.buf ? in.buf : "", '\n', in.len)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        uint64_t now = ctl_msec_now();
        char buf[65536];
        ssize_t n;

        if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) == 0) {
            *errp = xasprintf("%s: no response within %d ms", path, timeout_ms);
            err = -ETIMEDOUT;
            break;
        }
        n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            *errp =
                xasprintf("%s: connection closed before the response", path);
            err = -ECONNRESET;
            break;
        }
        ds_put_buf(&in, buf, (size_t)n);
    }
    close(fd);
    if (!err) {
        size_t len = (size_t)((char *)memchr(in.buf, '\n', in.len) - in.buf);

        *responsep = json_loadb(in.buf, len, 0, &jerr);
        if (!*responsep || !json_is_object(*responsep)) {
            json_decref(*responsep);
            *responsep = NULL;
            *errp = xasprintf("%s: malformed response: %s", path, jerr.text);
            err = -EPROTO;
        }
    }
    ds_destroy(&in);
    return err;
}
