/* libFuzzer target for the flow-syntax parser.
 *
 * Feeds arbitrary text to flow_spec_parse() (add and match modes) and
 * flow_key_parse().  Whatever parses must print as text that parses back to
 * an equal spec and prints identically (the round trip `sluice flow dump`
 * relies on); whatever fails must give a message and a column inside the
 * text (or just past its end). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow/flow_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(const char *err, int col, size_t len)
{
    if (!err[0] || col < 1 || (size_t)col > len + 1) {
        abort();
    }
}

static void
fuzz_spec(const char *text, size_t len, enum flow_parse_mode mode)
{
    struct flow_spec a, b;
    struct ds t1 = DS_EMPTY_INITIALIZER, t2 = DS_EMPTY_INITIALIZER;
    int col = 0;
    char *err = flow_spec_parse(&a, text, mode, &col);

    if (err) {
        check_error(err, col, len);
        free(err);
        flow_spec_destroy(&a);
        return;
    }
    flow_spec_format(&a, &t1);
    err = flow_spec_parse(&b, ds_cstr(&t1), mode, &col);
    if (err || !flow_spec_equal(&a, &b)) {
        abort();
    }
    flow_spec_format(&b, &t2);
    if (strcmp(ds_cstr(&t1), ds_cstr(&t2))) {
        abort();
    }
    flow_spec_destroy(&a);
    flow_spec_destroy(&b);
    ds_destroy(&t1);
    ds_destroy(&t2);
}

static void
fuzz_key(const char *text, size_t len)
{
    struct flow_key k1, k2;
    struct ds t = DS_EMPTY_INITIALIZER;
    int col = 0;
    char *err = flow_key_parse(&k1, text, &col);

    if (err) {
        check_error(err, col, len);
        free(err);
        return;
    }
    flow_key_format(&k1, &t);
    err = flow_key_parse(&k2, t.buf ? t.buf : "", &col);
    if (err || memcmp(&k1, &k2, sizeof k1)) {
        abort();
    }
    ds_destroy(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parsers take C strings: stop at the first NUL. */
    char *text = malloc(size + 1);
    size_t len;

    memcpy(text, data, size);
    text[size] = '\0';
    len = strlen(text);
    fuzz_spec(text, len, FLOW_PARSE_ADD);
    fuzz_spec(text, len, FLOW_PARSE_MATCH);
    fuzz_key(text, len);
    free(text);
    return 0;
}
