/* p0f v3 signature files (p0f.fp) -> entries of the p0f filter's map.
 *
 * Reads the [tcp:request] section of a p0f.fp file, optionally keeping only
 * labels that contain a given substring (a "subset"), and turns each
 * signature into the hash key and variant that progs/p0f.c looks up (see
 * progs/p0f.h).  Signatures with ver '*' or pclass '*' expand into one key
 * per version or class, as p0f matches them.  Variants sharing a key are
 * grouped; more than P0F_MAX_VARIANTS for one key is an error naming the
 * line. */
#ifndef NF_P0F_H
#define NF_P0F_H 1

#include <stddef.h>

#include "core/compiler.h"
#include "p0f.h" /* progs/p0f.h */

struct nf_p0f_group {
    struct p0f_key key;          /* Exact part of the signature. */
    struct p0f_sigs sigs;        /* Its variants. */
};

struct nf_p0f_db {
    char **labels;               /* Label text by index (owned). */
    size_t n_labels;
    struct nf_p0f_group *groups; /* One per distinct key (owned). */
    size_t n_groups;
    size_t n_sigs;               /* Signature lines accepted. */
};

/* Parses 'path'; keeps labels containing 'label_filter' (NULL = all).
 * Returns NULL or an allocated "FILE:LINE: reason" message. */
char *nf_p0f_load(const char *path, const char *label_filter,
                  struct nf_p0f_db *) WARN_UNUSED_RESULT;
/* Parses one "sig = ..." value (after "sig = "); for tests and tools.
 * Fills up to 4 (key, variant) pairs; returns the count or -1 with '*errp'
 * set. */
int nf_p0f_parse_sig(const char *sig, unsigned int label,
                     struct p0f_key keys[4], struct p0f_variant *var,
                     char **errp);
void nf_p0f_db_destroy(struct nf_p0f_db *);

struct bpf_map;
/* Writes every group of 'db' into 'map' (the p0f program's 'p0f_sigs'),
 * replacing entries with the same key.  Checks the map's key and value
 * sizes against this build's layout.  Returns NULL or an allocated
 * reason. */
char *nf_p0f_fill_map(const struct nf_p0f_db *, struct bpf_map *)
    WARN_UNUSED_RESULT;

#endif
