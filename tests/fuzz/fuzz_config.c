/* libFuzzer target for configuration lines (src/cli/config.c) and port
 * specs (src/port).
 *
 * Each input is split into lines, and every line is run with
 * config_exec_line() against one datapath in "check only" mode (ports are
 * declared, never opened, and "prog load" lines are skipped, so no file is
 * touched).  A rejected line must
 * give a message and a column inside the line (or just past its end); a
 * port spec accepted by port_spec_check() must be one of the declared
 * ports afterwards. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "core/util.h"
#include "dp/dp.h"
#include "port/port.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = xmalloc(size + 1);
    struct dp *dp = dp_create();
    char *line, *save = NULL;

    memcpy(text, data, size);
    text[size] = '\0';
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(line);
        int col = 0;
        char *err;

        /* "prog load" would open whatever file the input names (a device
         * could block); object loading has its own fuzz target. */
        if (strstr(line, "prog") && strstr(line, "load")) {
            continue;
        }
        err = config_exec_line(dp, line, NULL, 0, 0, &col);
        if (err && (!err[0] || col < 1 || (size_t)col > len + 1)) {
            abort();
        }
        free(err);

        err = port_spec_check(line, &col);
        if (err && (!err[0] || col < 1 || (size_t)col > len + 1)) {
            abort();
        }
        free(err);
    }
    free(text);
    dp_destroy(dp);
    return 0;
}
