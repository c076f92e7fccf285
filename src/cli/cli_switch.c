/* `sluice switch`: the live switch process.
 *
 * The main thread is the control thread: one poll() loop over a signalfd
 * (SIGTERM/SIGINT stop, SIGHUP reloads the config file) and the control
 * socket, waking at least once a second for rule timeouts.  The datapath
 * threads (src/dp/dp_live.c) never see a signal: the signals are blocked
 * before they start, so they inherit the mask.
 *
 * With --detach the process forks once the configuration is loaded, the
 * ports are open and the socket listens, so that when `sluice switch
 * --detach` returns, the switch already answers on its socket and its
 * pidfile is written. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "core/util.h"
#include "ctl/ctl.h"
#include "dp/dp_live.h"

struct switch_ctx {
    struct dpl *dpl;    /* The datapath. */
    const char *config; /* Config file for reloads, or NULL. */
};

/* Loads the config again (SIGHUP or the "reload" command). */
static char *
switch_reload(struct switch_ctx *ctx)
{
    if (!ctx->config) {
        return xstrdup("no configuration file to reload (start with "
                       "--config FILE)");
    }
    return dpl_load_config(ctx->dpl, ctx->config);
}

/* Control socket handler. */
static json_t *
switch_handle(void *aux, const struct ctl_request *req)
{
    struct switch_ctx *ctx = aux;
    struct ds out = DS_EMPTY_INITIALIZER;
    json_t *response;
    char *error;

    if (!strcmp(req->command, "reload")) {
        error = req->argc ? xstrdup("reload takes no arguments")
                          : switch_reload(ctx);
    } else {
        error = dpl_command(ctx->dpl, req->command, req->argc, req->argv,
                            req->json, &out);
    }
    if (error) {
        response = ctl_response_error("%s", error);
        free(error);
    } else if (req->json) {
        json_t *j = out.len ? json_loads(ds_cstr(&out), 0, NULL) : NULL;

        response = ctl_response_result(j ? j : json_object());
    } else {
        response = ctl_response_output(out.len ? ds_cstr(&out) : "");
    }
    ds_destroy(&out);
    return response;
}

static int
write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");

    if (!f) {
        return cli_error("%s: %s", path, strerror(errno));
    }
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f)) {
        return cli_error("%s: %s", path, strerror(errno));
    }
    return 0;
}

/* Goes to the background like daemon(1, 0), except that the parent exits
 * only once the child has written 'pidfile' (0 if it did, 1 if not), so
 * that the file exists when `sluice switch --detach` returns.  The parent
 * leaves with _exit(): the socket and ports now belong to the child.
 * Returns 0 in the child, or -1 (message printed) if nothing could be
 * started. */
static int
switch_detach(const char *pidfile)
{
    int fds[2], null;
    pid_t pid;
    char ok = 0;

    if (pipe(fds)) {
        cli_error("cannot detach: %s", strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        cli_error("cannot detach: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid > 0) {
        ssize_t n;

        close(fds[1]);
        do {
            n = read(fds[0], &ok, 1);
        } while (n < 0 && errno == EINTR);
        _exit(n == 1 && ok ? 0 : 1);
    }
    close(fds[0]);
    setsid();
    /* Still on the caller's stderr: a failure is reported there. */
    ok = !write_pidfile(pidfile);
    if (write(fds[1], &ok, 1) != 1) {
        ok = 0;
    }
    close(fds[1]);
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
    return ok ? 0 : -1;
}

/* Runs the control loop until SIGTERM/SIGINT. */
static void
switch_loop(struct switch_ctx *ctx, struct ctl_server *server, int sig_fd)
{
    struct pollfd fds[CTL_MAX_CLIENTS + 2];
    struct timespec last, now;

    clock_gettime(CLOCK_MONOTONIC, &last);
    for (;;) {
        struct signalfd_siginfo si;
        size_t n;

        fds[0] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
        n = ctl_server_pollfds(server, fds + 1, ARRAY_SIZE(fds) - 1);
        if (poll(fds, n + 1, 1000) < 0 && errno != EINTR) {
            fprintf(stderr, "sluice switch: poll: %s\n", strerror(errno));
            return;
        }
        if (fds[0].revents &&
            read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo == SIGHUP) {
                char *error = switch_reload(ctx);

                if (error) {
                    fprintf(stderr, "sluice switch: reload: %s\n", error);
                    free(error);
                }
            } else {
                return;
            }
        }
        ctl_server_handle(server, fds + 1, n);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec != last.tv_sec) {
            dpl_tick(ctx->dpl);
            last = now;
        }
    }
}

int
cli_cmd_switch(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"config", required_argument, NULL, 'c'},
        {"ctl", required_argument, NULL, 's'},
        {"detach", no_argument, NULL, 'd'},
        {"pidfile", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    struct switch_ctx ctx = {NULL, NULL};
    const char *ctl = NULL, *pidfile = NULL;
    struct ctl_server *server;
    unsigned long threads = 1;
    bool detach = false;
    sigset_t mask;
    char *error = NULL;
    int sig_fd, c, err;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        char *end;

        switch (c) {
        case 'c':
            ctx.config = optarg;
            break;
        case 's':
            ctl = optarg;
            break;
        case 'd':
            detach = true;
            break;
        case 'p':
            pidfile = optarg;
            break;
        case 't':
            errno = 0;
            threads = strtoul(optarg, &end, 10);
            if (!optarg[0] || *end || errno || threads < 1 ||
                threads > DPL_MAX_THREADS) {
                return cli_usage_error("--threads must be 1..%d",
                                       DPL_MAX_THREADS);
            }
            break;
        default:
            return cli_bad_option(argv);
        }
    }
    if (optind < argc) {
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    }
    if (detach && !pidfile) {
        return cli_usage_error("--detach needs --pidfile FILE");
    }

    /* Signals are handled by the control loop only. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sig_fd < 0) {
        return cli_error("signalfd: %s", strerror(errno));
    }

    ctx.dpl = dpl_create((unsigned int)threads);
    if (ctx.config) {
        error = dpl_load_config(ctx.dpl, ctx.config);
        if (error) {
            cli_error("%s", error);
            free(error);
            dpl_destroy(ctx.dpl);
            return 1;
        }
    }
    err = ctl_server_create(ctl_socket_path(ctl), switch_handle, &ctx, &server,
                            &error);
    if (err) {
        cli_error("%s", error);
        free(error);
        dpl_destroy(ctx.dpl);
        return 1;
    }
    if (detach ? switch_detach(pidfile) != 0
               : pidfile && write_pidfile(pidfile)) {
        ctl_server_destroy(server);
        dpl_destroy(ctx.dpl);
        return 1;
    }
    err = dpl_start(ctx.dpl, &error);
    if (err) {
        cli_error("%s", error);
        free(error);
    } else {
        switch_loop(&ctx, server, sig_fd);
    }
    ctl_server_destroy(server);
    dpl_destroy(ctx.dpl);
    close(sig_fd);
    if (pidfile) {
        unlink(pidfile);
    }
    return err ? 1 : 0;
}
