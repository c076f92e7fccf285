/* Names and texts of the parse-error reasons, generated from the one
 * X-macro list in flow_key.h so counters and messages never drift apart. */
#include "flow_key.h"

static const char *const pkt_err_names[PKT_N_PARSE_ERRORS] = {
#define PKT_ERR_NAME_(ENUM, NAME, TEXT) [PKT_ERR_##ENUM] = NAME,
    PKT_PARSE_ERRORS(PKT_ERR_NAME_)
#undef PKT_ERR_NAME_
};

static const char *const pkt_err_texts[PKT_N_PARSE_ERRORS] = {
#define PKT_ERR_TEXT_(ENUM, NAME, TEXT) [PKT_ERR_##ENUM] = TEXT,
    PKT_PARSE_ERRORS(PKT_ERR_TEXT_)
#undef PKT_ERR_TEXT_
};

/* Returns the counter name of 'err', or "unknown" for an out-of-range
 * value (a corrupt packet->parse_err must not index past the table). */
const char *
pkt_parse_err_name(enum pkt_parse_err err)
{
    return (unsigned int)err < PKT_N_PARSE_ERRORS ? pkt_err_names[err]
                                                  : "unknown";
}

const char *
pkt_parse_err_text(enum pkt_parse_err err)
{
    return (unsigned int)err < PKT_N_PARSE_ERRORS ? pkt_err_texts[err]
                                                  : "unknown parse error";
}
