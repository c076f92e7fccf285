/* Unit tests for the control socket (src/ctl): request checking, and a
 * real server and client talking over a UNIX socket, the server driven by
 * its poll() loop in a second thread. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "ctl/ctl.h"

static void
test_request_parse_ok(void **state)
{
    const char *line = "{\"command\":\"flow add\",\"args\":[\"a\",\"b c\"],"
                       "\"json\":true}";
    struct ctl_request req;
    json_t *j;
    char *error = ctl_request_parse(line, strlen(line), &j, &req);

    assert_null(error);
    assert_string_equal(req.command, "flow add");
    assert_int_equal(req.argc, 2);
    assert_string_equal(req.argv[1], "b c");
    assert_true(req.json);
    free(req.argv);
    json_decref(j);
}

static void
expect_error(const char *line, const char *want)
{
    struct ctl_request req;
    json_t *j;
    char *error = ctl_request_parse(line, strlen(line), &j, &req);

    assert_non_null(error);
    if (!strstr(error, want)) {
        fail_msg("'%s': got '%s', want '%s'", line, error, want);
    }
    assert_null(j);
    free(error);
}

static void
test_request_parse_errors(void **state)
{
    expect_error("{\"command\":", "bad JSON");
    expect_error("[1]", "must be a JSON object");
    expect_error("{}", "needs \"command\"");
    expect_error("{\"command\":\"\"}", "needs \"command\"");
    expect_error("{\"command\":\"x\",\"args\":\"a\"}", "array of strings");
    expect_error("{\"command\":\"x\",\"args\":[1]}", "\"args\"[0]");
    expect_error("{\"command\":\"x\",\"json\":1}", "true or false");
    expect_error("{\"command\":\"x\",\"jsno\":true}", "unknown request "
                                                      "member \"jsno\"");
    expect_error("{\"command\":\"x\",\"command\":\"y\"}", "bad JSON");
}

static void
test_socket_path(void **state)
{
    unsetenv("SLUICE_CTL");
    assert_string_equal(ctl_socket_path(NULL), CTL_DEFAULT_PATH);
    setenv("SLUICE_CTL", "/tmp/x.sock", 1);
    assert_string_equal(ctl_socket_path(NULL), "/tmp/x.sock");
    assert_string_equal(ctl_socket_path("/a"), "/a");
    unsetenv("SLUICE_CTL");
}

/* Echo handler: "echo" returns its arguments, "fail" an error. */
static json_t *
echo_handler(void *aux, const struct ctl_request *req)
{
    int *calls = aux;

    (*calls)++;
    if (!strcmp(req->command, "fail")) {
        return ctl_response_error("failed with %zu args", req->argc);
    }
    if (req->json) {
        json_t *a = json_array();

        for (size_t i = 0; i < req->argc; i++) {
            json_array_append_new(a, json_string(req->argv[i]));
        }
        return ctl_response_result(a);
    }
    return ctl_response_output(req->argc ? req->argv[0] : "");
}

struct server_thread {
    struct ctl_server *server;
    volatile int stop;
};

static void *
server_main(void *aux)
{
    struct server_thread *st = aux;

    while (!st->stop) {
        struct pollfd fds[CTL_MAX_CLIENTS + 1];
        size_t n = ctl_server_pollfds(st->server, fds, ARRAY_SIZE(fds));

        if (poll(fds, n, 20) > 0) {
            ctl_server_handle(st->server, fds, n);
        }
    }
    return NULL;
}

static json_t *
request(const char *command, bool json, const char *arg)
{
    json_t *r = json_object();
    json_t *args = json_array();

    if (arg) {
        json_array_append_new(args, json_string(arg));
    }
    json_object_set_new(r, "command", json_string(command));
    json_object_set_new(r, "args", args);
    json_object_set_new(r, "json", json_boolean(json));
    return r;
}

/* Sends raw bytes and returns the first response line (allocated). */
static char *
raw_exchange(const char *path, const char *bytes, size_t len)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct ds in = DS_EMPTY_INITIALIZER;
    char buf[4096];
    ssize_t n;

    strcpy(sun.sun_path, path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    while (!in.len || in.buf[in.len - 1] != '\n') {
        n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        ds_put_buf(&in, buf, (size_t)n);
    }
    close(fd);
    return ds_steal_cstr(&in);
}

static void
test_server_client(void **state)
{
    char dir[] = "/tmp/sluice-ctl-test-XXXXXX";
    struct server_thread st = {NULL, 0};
    json_t *resp, *req;
    char *path, *error = NULL, *line;
    pthread_t tid;
    int calls = 0;
    int err;

    assert_non_null(mkdtemp(dir));
    /* A missing directory level is created. */
    path = xasprintf("%s/sub/ctl.sock", dir);
    err = ctl_server_create(path, echo_handler, &calls, &st.server, &error);
    assert_int_equal(err, 0);
    assert_int_equal(pthread_create(&tid, NULL, server_main, &st), 0);

    /* A second server on the same live socket is refused. */
    {
        struct ctl_server *other;
        char *e2 = NULL;

        assert_int_equal(
            ctl_server_create(path, echo_handler, &calls, &other, &e2),
            -EADDRINUSE);
        assert_non_null(strstr(e2, "another switch"));
        free(e2);
    }

    req = request("echo", false, "hello\nworld");
    assert_int_equal(ctl_call(path, req, 2000, &resp, &error), 0);
    json_decref(req);
    assert_true(json_is_true(json_object_get(resp, "ok")));
    assert_string_equal(json_string_value(json_object_get(resp, "output")),
                        "hello\nworld");
    json_decref(resp);

    req = request("echo", true, "x");
    assert_int_equal(ctl_call(path, req, 2000, &resp, &error), 0);
    json_decref(req);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(resp, "result"), 0)),
        "x");
    json_decref(resp);

    req = request("fail", false, "x");
    assert_int_equal(ctl_call(path, req, 2000, &resp, &error), 0);
    json_decref(req);
    assert_true(json_is_false(json_object_get(resp, "ok")));
    assert_string_equal(json_string_value(json_object_get(resp, "error")),
                        "failed with 1 args");
    json_decref(resp);
    assert_int_equal(calls, 3);

    /* A malformed line gets an error without reaching the handler, and
     * two requests in one write get two answers in order. */
    line = raw_exchange(path, "nonsense\n", 9);
    assert_non_null(strstr(line, "\"ok\":false"));
    assert_non_null(strstr(line, "bad JSON"));
    free(line);
    assert_int_equal(calls, 3);
    {
        const char *two = "{\"command\":\"echo\",\"args\":[\"1\"]}\n"
                          "{\"command\":\"echo\",\"args\":[\"2\"]}\n";

        line = raw_exchange(path, two, strlen(two));
        assert_non_null(strstr(line, "\"output\":\"1\""));
        free(line);
    }

    st.stop = 1;
    pthread_join(tid, NULL);
    ctl_server_destroy(st.server);
    /* The socket file is gone and clients get a clear error. */
    assert_int_equal(access(path, F_OK), -1);
    req = request("echo", false, NULL);
    assert_true(ctl_call(path, req, 500, &resp, &error) < 0);
    assert_non_null(strstr(error, "cannot connect"));
    free(error);
    json_decref(req);

    /* A stale socket file (nobody listening) is replaced. */
    {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);

        strcpy(sun.sun_path, path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
        close(fd);
        assert_int_equal(
            ctl_server_create(path, echo_handler, &calls, &st.server, &error),
            0);
        ctl_server_destroy(st.server);
    }
    free(path);
    path = xasprintf("%s/sub", dir);
    rmdir(path);
    free(path);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_parse_ok),
        cmocka_unit_test(test_request_parse_errors),
        cmocka_unit_test(test_socket_path),
        cmocka_unit_test(test_server_client),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
