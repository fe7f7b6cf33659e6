/* config_doc.h — internal to the config module: a YAML document as a tree
 * that remembers where every node came from, and its check against a
 * libcyaml schema.
 *
 * libyaml parses the text into cnodes (scalars keep their text and whether
 * they were plain, i.e. unquoted; every node keeps its 1-based line and
 * column). tern_cdoc_load() walks the tree beside a cyaml_schema_value_t and
 * rejects unknown or duplicate keys, missing required keys, wrong kinds and
 * badly typed scalars with the position of the offending key or value; it
 * writes the checked document in canonical flow-style YAML for libcyaml to
 * load. --set overrides replace or create nodes (tagged with the assignment
 * as their origin) and the whole check runs again. */
#ifndef TERN_IO_CONFIG_DOC_H
#define TERN_IO_CONFIG_DOC_H

#include <stddef.h>

#include <cyaml/cyaml.h>

#include "tern/status.h"

typedef enum cnode_kind { CNODE_SCALAR, CNODE_MAP, CNODE_SEQ } cnode_kind;

typedef struct cnode cnode;

/* A mapping entry (key != NULL) or a sequence item (key == NULL). */
typedef struct cpair {
    char *key;
    int line, col;  /* the key's position */
    cnode *val;
} cpair;

struct cnode {
    cnode_kind kind;
    char *text;    /* scalars: the value */
    int plain;     /* scalars: written unquoted, so it may be a number, a bool or null */
    int line, col; /* 1-based start */
    char *origin;  /* NULL: from the file; else the --set assignment that wrote it */
    int n, cap;    /* maps and sequences: items */
    cpair *items;
};

/* Where messages point: the file's name, and the assignment being applied
 * (NULL while loading). Messages are "[--set SET: ]FILE:L:C: PATH: what". */
typedef struct cdoc_ctx {
    const char *file;
    const char *set;
} cdoc_ctx;

/* A growable text buffer; `oom` sticks once an allocation failed. */
typedef struct cbuf {
    char *p;
    size_t n, cap;
    int oom;
} cbuf;

void tern_cdoc_buf_putn(cbuf *b, const char *s, size_t n);
void tern_cdoc_buf_puts(cbuf *b, const char *s);
void tern_cdoc_buf_printf(cbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a YAML double-quoted scalar. */
void tern_cdoc_buf_putq(cbuf *b, const char *s);

/* Read the whole regular file at path into *out (NUL-terminated; free
 * out->p): a directory, a FIFO (never waited on) or a file holding a NUL
 * byte is refused with a message naming path and what it is. */
tern_status tern_cdoc_read_file(const char *path, cbuf *out);

/* Parse text[0..len) into a tree. origin NULL: a file, messages
 * "FILE:L:C: malformed YAML: ..."; else nodes carry origin and messages say
 * "--set ORIGIN: malformed value: ...". An empty text gives a null scalar. */
tern_status tern_cdoc_parse(const char *text, size_t len, const cdoc_ctx *x, const char *origin, cnode **out);

/* Free n and everything under it (NULL is fine). */
void tern_cdoc_node_free(cnode *n);
/* A deep copy of n, origins and positions included; NULL when out of memory. */
cnode *tern_cdoc_node_clone(const cnode *n);

/* Record "[--set SET: ]WHERE: PATH: message" for the node at a dotted path
 * ("model.layers.2.out"; a list item by index or by its "name") (its key
 * when at_key, for a key that does not belong; the nearest existing ancestor
 * when the node is absent) and return code. */
tern_status tern_cdoc_fail(const cdoc_ctx *x, const cnode *root, const char *path, int at_key, tern_status code,
                           const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Check the tree against schema (a mapping at the top), refusing what the
 * overview lists with a positioned message (TERN_ERR_CONFIG), then have
 * libcyaml load the checked canonical text into *raw (the schema's
 * top-level struct; NULL on failure). Free with tern_cdoc_unload. */
tern_status tern_cdoc_load(const cdoc_ctx *x, const cnode *root, const cyaml_schema_value_t *schema, void **raw);
/* Free what tern_cdoc_load returned (NULL is fine). */
void tern_cdoc_unload(const cyaml_schema_value_t *schema, void *raw);


/* Replace the node at path by value (taking it), creating missing mappings
 * on the way; TERN_ERR_CONFIG when the path cannot exist. */
tern_status tern_cdoc_set(const cdoc_ctx *x, cnode *root, const char *path, cnode *value);

#endif
