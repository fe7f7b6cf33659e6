/* config_doc.c — YAML tree with positions (libyaml), checked against a
 * libcyaml schema and written back as canonical YAML. See config_doc.h. */
#include "config_doc.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <yaml.h>

#include "io/fsutil.h"

#define MAX_DEPTH 64  /* configs nest four deep; this only stops runaway input */
#define PATH_LEN 256

/* ---- text buffer ---------------------------------------------------------- */

static int cbuf_reserve(cbuf *b, size_t extra) {
    if (b->oom) return 0;
    if (b->n + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void tern_cdoc_buf_putn(cbuf *b, const char *s, size_t k) {
    if (!cbuf_reserve(b, k)) return;
    memcpy(b->p + b->n, s, k);
    b->n += k;
    b->p[b->n] = '\0';
}

void tern_cdoc_buf_puts(cbuf *b, const char *s) { tern_cdoc_buf_putn(b, s, strlen(s)); }

void tern_cdoc_buf_printf(cbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || !cbuf_reserve(b, (size_t)k)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void tern_cdoc_buf_putq(cbuf *b, const char *s) {
    tern_cdoc_buf_puts(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') tern_cdoc_buf_printf(b, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f) tern_cdoc_buf_printf(b, "\\x%02x", *c);
        else {
            char one[2] = {(char)*c, 0};
            tern_cdoc_buf_puts(b, one);
        }
    }
    tern_cdoc_buf_puts(b, "\"");
}

tern_status tern_cdoc_read_file(const char *path, cbuf *out) {
    *out = (cbuf){0};
    int fd;
    long long size;
    tern_status st = tern_fs_open_regular(path, &fd, &size);
    if (st) return st;
    char chunk[4096];
    ssize_t k;
    while ((k = read(fd, chunk, sizeof chunk)) > 0 || (k < 0 && errno == EINTR)) {
        if (k < 0) continue;
        if (memchr(chunk, '\0', (size_t)k)) {
            st = tern_error(TERN_ERR_FORMAT, "%s: contains a NUL byte; not a YAML text file", path);
            break;
        }
        tern_cdoc_buf_putn(out, chunk, (size_t)k);
    }
    if (!st && k < 0) st = tern_error(TERN_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    close(fd);
    tern_cdoc_buf_putn(out, "", 0);
    if (!st && out->oom) st = tern_error(TERN_ERR_NOMEM, "%s: out of memory reading %lld bytes", path, size);
    if (st) {
        free(out->p);
        *out = (cbuf){0};
    }
    return st;
}

/* ---- messages ------------------------------------------------------------- */

/* "[--set SET: ]WHERE: [PATH: ]message" for a node with origin at line:col. */
static tern_status vfail(const cdoc_ctx *x, const char *origin, int line, int col, const char *path,
                         tern_status code, const char *fmt, va_list ap) {
    char msg[384], where[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    where[0] = '\0';
    size_t k = 0;
    if (x->set) k += (size_t)snprintf(where, sizeof where, "--set %s: ", x->set);
    if (k < sizeof where) {
        if (origin && !(x->set && !strcmp(origin, x->set)))
            snprintf(where + k, sizeof where - k, "--set %s: ", origin);
        else if (!origin)
            snprintf(where + k, sizeof where - k, "%s:%d:%d: ", x->file, line, col);
    }
    if (path && *path) return tern_error(code, "%s%s: %s", where, path, msg);
    return tern_error(code, "%s%s", where, msg);
}

static tern_status fail_at(const cdoc_ctx *x, const char *origin, int line, int col, const char *path,
                           const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static tern_status fail_at(const cdoc_ctx *x, const char *origin, int line, int col, const char *path,
                           const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tern_status st = vfail(x, origin, line, col, path, TERN_ERR_CONFIG, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- nodes ---------------------------------------------------------------- */

static cnode *cnode_new(cnode_kind kind, int line, int col, const char *origin) {
    cnode *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = line;
    n->col = col;
    if (origin && !(n->origin = strdup(origin))) {
        free(n);
        return NULL;
    }
    return n;
}

void tern_cdoc_node_free(cnode *n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        free(n->items[i].key);
        tern_cdoc_node_free(n->items[i].val);
    }
    free(n->items);
    free(n->text);
    free(n->origin);
    free(n);
}

/* Append an item; the key (may be NULL) is copied, val is taken. 0 on OOM. */
static int cnode_push(cnode *n, const char *key, int line, int col, cnode *val) {
    if (n->n == n->cap) {
        int cap = n->cap ? 2 * n->cap : 8;
        cpair *p = realloc(n->items, (size_t)cap * sizeof *p);
        if (!p) return 0;
        n->items = p;
        n->cap = cap;
    }
    char *k = NULL;
    if (key && !(k = strdup(key))) return 0;
    n->items[n->n++] = (cpair){k, line, col, val};
    return 1;
}

cnode *tern_cdoc_node_clone(const cnode *n) {
    if (!n) return NULL;
    cnode *c = cnode_new(n->kind, n->line, n->col, n->origin);
    if (!c) return NULL;
    c->plain = n->plain;
    if (n->text && !(c->text = strdup(n->text))) goto oom;
    for (int i = 0; i < n->n; i++) {
        cnode *v = tern_cdoc_node_clone(n->items[i].val);
        if (!v || !cnode_push(c, n->items[i].key, n->items[i].line, n->items[i].col, v)) {
            tern_cdoc_node_free(v);
            goto oom;
        }
    }
    return c;
oom:
    tern_cdoc_node_free(c);
    return NULL;
}

/* ---- parsing -------------------------------------------------------------- */

typedef struct pctx {
    yaml_parser_t parser;
    const cdoc_ctx *x;
    const char *origin;
} pctx;

static tern_status oom(void) { return tern_error(TERN_ERR_NOMEM, "config: out of memory"); }

static tern_status parse_error(pctx *P) {
    const yaml_parser_t *p = &P->parser;
    if (p->error == YAML_MEMORY_ERROR) return oom();
    const char *problem = p->problem ? p->problem : "cannot be parsed";
    char ctx[160] = "";
    if (p->context)
        snprintf(ctx, sizeof ctx, " (%s at line %d, column %d)", p->context, (int)p->context_mark.line + 1,
                 (int)p->context_mark.column + 1);
    if (P->origin) return fail_at(P->x, P->origin, 0, 0, NULL, "malformed value: %s%s", problem, ctx);
    return fail_at(P->x, NULL, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1, NULL,
                   "malformed YAML: %s%s", problem, ctx);
}

static tern_status next_event(pctx *P, yaml_event_t *ev) {
    return yaml_parser_parse(&P->parser, ev) ? TERN_OK : parse_error(P);
}

/* Build the node whose first event is ev (the caller deletes ev). */
static tern_status build(pctx *P, const yaml_event_t *ev, int depth, cnode **out) {
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    *out = NULL;
    if (depth > MAX_DEPTH) return fail_at(P->x, P->origin, line, col, NULL, "YAML nested more than %d deep", MAX_DEPTH);
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return fail_at(P->x, P->origin, line, col, NULL, "aliases (*name) are not supported in tern configs");
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (memchr(v, '\0', len)) return fail_at(P->x, P->origin, line, col, NULL, "a value contains a NUL byte");
        cnode *n = cnode_new(CNODE_SCALAR, line, col, P->origin);
        if (!n || !(n->text = strndup(v, len))) {
            tern_cdoc_node_free(n);
            return oom();
        }
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag;
        *out = n;
        return TERN_OK;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
        cnode *n = cnode_new(is_map ? CNODE_MAP : CNODE_SEQ, line, col, P->origin);
        if (!n) return oom();
        tern_status st = TERN_OK;
        for (;;) {
            yaml_event_t kev;
            if ((st = next_event(P, &kev))) break;
            if (kev.type == end) {
                yaml_event_delete(&kev);
                break;
            }
            char *key = NULL;
            int kl = (int)kev.start_mark.line + 1, kc = (int)kev.start_mark.column + 1;
            if (is_map) {
                if (kev.type != YAML_SCALAR_EVENT) {
                    st = fail_at(P->x, P->origin, kl, kc, NULL, "mapping keys must be plain names");
                    yaml_event_delete(&kev);
                    break;
                }
                key = strndup((const char *)kev.data.scalar.value, kev.data.scalar.length);
                yaml_event_delete(&kev);
                if (!key) {
                    st = oom();
                    break;
                }
                if ((st = next_event(P, &kev))) {
                    free(key);
                    break;
                }
            }
            cnode *v = NULL;
            st = build(P, &kev, depth + 1, &v);
            yaml_event_delete(&kev);
            if (!st && !cnode_push(n, key, kl, kc, v)) st = oom();
            free(key);
            if (st) {
                tern_cdoc_node_free(v);
                break;
            }
        }
        if (st) {
            tern_cdoc_node_free(n);
            return st;
        }
        *out = n;
        return TERN_OK;
    }
    default:
        return fail_at(P->x, P->origin, line, col, NULL, "unexpected YAML event %d", (int)ev->type);
    }
}

tern_status tern_cdoc_parse(const char *text, size_t len, const cdoc_ctx *x, const char *origin, cnode **out) {
    pctx P = {.x = x, .origin = origin};
    *out = NULL;
    if (!yaml_parser_initialize(&P.parser)) return oom();
    yaml_parser_set_input_string(&P.parser, (const unsigned char *)text, len);
    cnode *root = NULL;
    tern_status st;
    yaml_event_t ev;
    int docs = 0;
    for (;;) {
        if ((st = next_event(&P, &ev))) break;
        yaml_event_type_t t = ev.type;
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) break;
        if (t != YAML_DOCUMENT_START_EVENT) continue;  /* STREAM_START */
        if (++docs > 1) {
            st = fail_at(x, origin, line, col, NULL, "a config is one YAML document; a second one starts here");
            break;
        }
        if ((st = next_event(&P, &ev))) break;
        st = build(&P, &ev, 0, &root);
        yaml_event_delete(&ev);
        if (st) break;
        if ((st = next_event(&P, &ev))) break;  /* DOCUMENT_END */
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&P.parser);
    if (!st && !root) {  /* no document at all: a null scalar */
        root = cnode_new(CNODE_SCALAR, 1, 1, origin);
        if (!root || !(root->text = strdup(""))) st = oom();
        else root->plain = 1;
    }
    if (st) {
        tern_cdoc_node_free(root);
        return st;
    }
    *out = root;
    return TERN_OK;
}

/* ---- paths ---------------------------------------------------------------- */

/* The item of a sequence named by seg: an index, or the item whose "name" is seg. */
static int seq_find(const cnode *seq, const char *seg) {
    char *end;
    errno = 0;
    long i = strtol(seg, &end, 10);
    if (*seg >= '0' && *seg <= '9' && !*end && !errno) return i < seq->n ? (int)i : -1;
    for (int k = 0; k < seq->n; k++) {
        const cnode *it = seq->items[k].val;
        if (it->kind != CNODE_MAP) continue;
        for (int j = 0; j < it->n; j++)
            if (!strcmp(it->items[j].key, "name") && it->items[j].val->kind == CNODE_SCALAR &&
                !strcmp(it->items[j].val->text, seg))
                return k;
    }
    return -1;
}

static int map_find(const cnode *map, const char *key) {
    for (int k = 0; k < map->n; k++)
        if (!strcmp(map->items[k].key, key)) return k;
    return -1;
}

/* The deepest node along path; *complete = 1 when it is the node at path,
 * and *pair the entry that holds it (NULL at the root). */
static const cnode *walk(const cnode *root, const char *path, int *complete, const cpair **pair) {
    char buf[PATH_LEN];
    snprintf(buf, sizeof buf, "%s", path);
    const cnode *cur = root;
    *complete = 1;
    *pair = NULL;
    for (char *save = NULL, *seg = strtok_r(buf, ".", &save); seg; seg = strtok_r(NULL, ".", &save)) {
        int k = -1;
        if (cur->kind == CNODE_MAP) k = map_find(cur, seg);
        else if (cur->kind == CNODE_SEQ) k = seq_find(cur, seg);
        if (k < 0) {
            *complete = 0;
            return cur;
        }
        *pair = &cur->items[k];
        cur = cur->items[k].val;
    }
    return cur;
}

tern_status tern_cdoc_fail(const cdoc_ctx *x, const cnode *root, const char *path, int at_key, tern_status code,
                      const char *fmt, ...) {
    int complete = 0;
    const cpair *pair = NULL;
    const cnode *n = root ? walk(root, path, &complete, &pair) : NULL;
    int line = n ? n->line : 1, col = n ? n->col : 1;
    if (at_key && complete && pair && pair->key) line = pair->line, col = pair->col;
    va_list ap;
    va_start(ap, fmt);
    tern_status st = vfail(x, n ? n->origin : NULL, line, col, path, code, fmt, ap);
    va_end(ap);
    return st;
}

tern_status tern_cdoc_set(const cdoc_ctx *x, cnode *root, const char *path, cnode *value) {
    char buf[PATH_LEN], done[PATH_LEN] = "";
    if (strlen(path) >= sizeof buf || !*path || path[0] == '.' || path[strlen(path) - 1] == '.' || strstr(path, "..")) {
        tern_cdoc_node_free(value);
        return fail_at(x, x->set, 0, 0, NULL, "expected section.key=value, e.g. training.epochs=3");
    }
    snprintf(buf, sizeof buf, "%s", path);
    cnode *cur = root;
    char *save = NULL, *seg = strtok_r(buf, ".", &save);
    while (seg) {
        char *next = strtok_r(NULL, ".", &save);
        cnode **slot = NULL;
        if (cur->kind == CNODE_MAP) {
            int k = map_find(cur, seg);
            if (k >= 0) slot = &cur->items[k].val;
            else {
                cnode *fresh = next ? cnode_new(CNODE_MAP, 0, 0, value->origin) : value;
                if (!fresh || !cnode_push(cur, seg, 0, 0, fresh)) {
                    if (fresh != value) tern_cdoc_node_free(fresh);
                    tern_cdoc_node_free(value);
                    return oom();
                }
                slot = &cur->items[cur->n - 1].val;
                if (!next) return TERN_OK;
            }
        } else if (cur->kind == CNODE_SEQ) {
            int k = seq_find(cur, seg);
            if (k < 0) {
                tern_cdoc_node_free(value);
                return fail_at(x, x->set, 0, 0, done, "no item '%s' among its %d (an index 0..%d or a layer name)",
                               seg, cur->n, cur->n - 1);
            }
            slot = &cur->items[k].val;
        } else {
            tern_cdoc_node_free(value);
            return fail_at(x, x->set, 0, 0, done, "is a single value; it has no '%s'", seg);
        }
        if (!next) {
            tern_cdoc_node_free(*slot);
            *slot = value;
            return TERN_OK;
        }
        size_t dl = strlen(done);
        snprintf(done + dl, sizeof done - dl, "%s%s", dl ? "." : "", seg);
        cur = *slot;
        seg = next;
    }
    tern_cdoc_node_free(value);
    return TERN_OK;
}

/* ---- schema check --------------------------------------------------------- */

static int is_null(const cnode *n) {
    return n->kind == CNODE_SCALAR && n->plain &&
           (!n->text[0] || !strcmp(n->text, "~") || !strcmp(n->text, "null") || !strcmp(n->text, "Null") ||
            !strcmp(n->text, "NULL"));
}

static const char *kind_name(const cnode *n) {
    if (is_null(n)) return "nothing";
    return n->kind == CNODE_MAP ? "a mapping" : n->kind == CNODE_SEQ ? "a list" : "a single value";
}

/* Plain integer text: [-+]digits (1), in range for a signed (or unsigned)
 * value of `size` bytes, else -1 with that range in [*lo, *hi]; 0 when it is
 * not an integer at all. */
static int parse_int(const char *s, int is_unsigned, unsigned size, long long *out, long long *lo, long long *hi) {
    /* seeds and the like: unsigned up to 2^63 - 1, so the value fits a long long on the way */
    *hi = size >= 8 ? LLONG_MAX : is_unsigned ? (long long)((1ULL << (8 * size)) - 1)
                                              : (long long)((1ULL << (8 * size - 1)) - 1);
    *lo = is_unsigned ? 0 : -*hi - 1;
    const char *d = s + (*s == '-' || *s == '+');
    if (!*d) return 0;
    for (const char *c = d; *c; c++)
        if (*c < '0' || *c > '9') return 0;
    if (is_unsigned && *s == '-') return -1;
    errno = 0;
    if (is_unsigned) {
        unsigned long long v = strtoull(s, NULL, 10);
        if (errno || v > (unsigned long long)*hi) return -1;
        *out = (long long)v;
    } else {
        long long v = strtoll(s, NULL, 10);
        if (errno || v > *hi || v < *lo) return -1;
        *out = v;
    }
    return 1;
}

/* YAML's and C's words for NaN and infinity. */
static int is_nonfinite_word(const char *s) {
    static const char *const words[] = {".nan", ".NaN", ".NAN", "nan", "NaN", "NAN", ".inf", ".Inf", ".INF",
                                        "inf", "Inf", "INF", "infinity", "Infinity"};
    if (*s == '-' || *s == '+') s++;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (!strcmp(s, words[i])) return 1;
    return 0;
}

/* Plain decimal number text (no hex): 1 with *out when finite and, for a
 * float of size 4, representable (|v| <= FLT_MAX, and no nonzero that
 * would round to 0); -1 for NaN, infinity or a number out of that range;
 * 0 when it is not a number at all. */
static int parse_float(const char *s, unsigned size, double *out) {
    if (is_nonfinite_word(s)) return -1;
    int digits = 0, nonzero = 0, exp = 0;
    for (const char *c = s; *c; c++) {
        if (*c >= '0' && *c <= '9') digits = 1, nonzero |= !exp && *c != '0';
        else if (*c == 'e' || *c == 'E') exp = 1;
        else if (!strchr("+-.", *c)) return 0;
    }
    if (!digits) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end) return 0;
    if (!isfinite(v) || (nonzero && v == 0.0)) return -1;
    if (size == 4 && (fabs(v) > FLT_MAX || (v != 0.0 && (float)v == 0.0f))) return -1;
    *out = v;
    return 1;
}

static int parse_bool(const char *s, int *out) {
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) return *out = 1, 1;
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) return *out = 0, 1;
    return 0;
}

typedef struct check_ctx {
    const cdoc_ctx *x;
    cbuf *out;
    char path[PATH_LEN];
} check_ctx;

static tern_status check_value(check_ctx *C, const cnode *n, const cyaml_schema_value_t *s);

static void keys_list(const cyaml_schema_field_t *f, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = '\0';
    for (; f->key && k < len; f++) k += (size_t)snprintf(buf + k, len - k, "%s%s", k ? ", " : "", f->key);
}

static tern_status check_mapping(check_ctx *C, const cnode *n, const cyaml_schema_value_t *s) {
    const cyaml_schema_field_t *fields = s->mapping.fields;
    char keys[256];  /* the valid keys, for messages: listed only on failure */
    if (n->kind != CNODE_MAP) {
        keys_list(fields, keys, sizeof keys);
        return fail_at(C->x, n->origin, n->line, n->col, C->path, "expected a mapping (%s), got %s", keys,
                       kind_name(n));
    }
    size_t base = strlen(C->path);
    tern_cdoc_buf_puts(C->out, "{");
    for (int i = 0; i < n->n; i++) {
        const cpair *p = &n->items[i];
        snprintf(C->path + base, sizeof C->path - base, "%s%s", base ? "." : "", p->key);
        const cyaml_schema_field_t *f = fields;
        while (f->key && strcmp(f->key, p->key)) f++;
        if (!f->key) {
            keys_list(fields, keys, sizeof keys);
            return fail_at(C->x, p->val->origin, p->line, p->col, C->path, "unknown key (%s)", keys);
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(n->items[j].key, p->key))
                return fail_at(C->x, p->val->origin, p->line, p->col, C->path, "duplicate key (first at line %d)",
                               n->items[j].line);
        tern_cdoc_buf_puts(C->out, i ? ", " : "");
        tern_cdoc_buf_putq(C->out, p->key);
        tern_cdoc_buf_puts(C->out, ": ");
        tern_status st = check_value(C, p->val, &f->value);
        if (st) return st;
    }
    C->path[base] = '\0';
    for (const cyaml_schema_field_t *f = fields; f->key; f++)
        if (!(f->value.flags & CYAML_FLAG_OPTIONAL) && map_find(n, f->key) < 0)
            return fail_at(C->x, n->origin, n->line, n->col, C->path, "missing '%s'", f->key);
    tern_cdoc_buf_puts(C->out, "}");
    return TERN_OK;
}

static tern_status check_value(check_ctx *C, const cnode *n, const cyaml_schema_value_t *s) {
    const char *P = C->path;
    switch (s->type) {
    case CYAML_MAPPING:
        return check_mapping(C, n, s);
    case CYAML_SEQUENCE:
    case CYAML_SEQUENCE_FIXED: {
        if (n->kind != CNODE_SEQ) return fail_at(C->x, n->origin, n->line, n->col, P, "expected a list, got %s", kind_name(n));
        if ((uint32_t)n->n < s->sequence.min || (uint32_t)n->n > s->sequence.max) {
            if (s->sequence.max == CYAML_UNLIMITED)
                return fail_at(C->x, n->origin, n->line, n->col, P, "expected at least %u items, got %d",
                               s->sequence.min, n->n);
            return fail_at(C->x, n->origin, n->line, n->col, P, "expected %u to %u items, got %d", s->sequence.min,
                           s->sequence.max, n->n);
        }
        size_t base = strlen(C->path);
        tern_cdoc_buf_puts(C->out, "[");
        for (int i = 0; i < n->n; i++) {
            snprintf(C->path + base, sizeof C->path - base, ".%d", i);
            tern_cdoc_buf_puts(C->out, i ? ", " : "");
            tern_status st = check_value(C, n->items[i].val, s->sequence.entry);
            if (st) return st;
        }
        C->path[base] = '\0';
        tern_cdoc_buf_puts(C->out, "]");
        return TERN_OK;
    }
    default:
        break;
    }
    static const char *const what[CYAML__TYPE_COUNT] = {
        [CYAML_INT] = "an integer", [CYAML_UINT] = "a non-negative integer", [CYAML_BOOL] = "true or false",
        [CYAML_FLOAT] = "a number", [CYAML_STRING] = "a string",
    };
    const char *want = (unsigned)s->type < CYAML__TYPE_COUNT && what[s->type] ? what[s->type] : "a value";
    if (n->kind != CNODE_SCALAR || is_null(n))
        return fail_at(C->x, n->origin, n->line, n->col, P, "expected %s, got %s", want, kind_name(n));
    if (s->type == CYAML_STRING) {
        size_t len = strlen(n->text);
        if (len < s->string.min || len > s->string.max)
            return fail_at(C->x, n->origin, n->line, n->col, P, "expected %u to %u characters, got %zu",
                           s->string.min, s->string.max, len);
        tern_cdoc_buf_putq(C->out, n->text);
        return TERN_OK;
    }
    if (!n->plain)
        return fail_at(C->x, n->origin, n->line, n->col, P, "expected %s, got the quoted string \"%s\"", want, n->text);
    long long iv, lo, hi;
    double fv;
    int bv;
    switch (s->type) {
    case CYAML_INT:
    case CYAML_UINT:
        bv = parse_int(n->text, s->type == CYAML_UINT, s->data_size, &iv, &lo, &hi);
        if (bv < 0)
            return fail_at(C->x, n->origin, n->line, n->col, P, "%s is out of range (%lld..%lld)", n->text, lo, hi);
        if (!bv) return fail_at(C->x, n->origin, n->line, n->col, P, "expected %s, got '%s'", want, n->text);
        tern_cdoc_buf_printf(C->out, "%lld", iv);
        return TERN_OK;
    case CYAML_FLOAT:
        bv = parse_float(n->text, s->data_size, &fv);
        if (bv < 0 && is_nonfinite_word(n->text))
            return fail_at(C->x, n->origin, n->line, n->col, P, "expected a finite number, got '%s'", n->text);
        if (bv < 0)
            return fail_at(C->x, n->origin, n->line, n->col, P, "%s is out of range (%s)", n->text,
                           s->data_size == 4 ? "a float holds 0 and magnitudes 1.4e-45 to 3.4e+38"
                                             : "a double holds magnitudes up to 1.8e+308");
        if (!bv)
            return fail_at(C->x, n->origin, n->line, n->col, P, "expected %s, got '%s'", want, n->text);
        /* %.9g round-trips a float exactly; libcyaml reads it with strtof. */
        tern_cdoc_buf_printf(C->out, s->data_size == 4 ? "%.9g" : "%.17g", s->data_size == 4 ? (double)(float)fv : fv);
        return TERN_OK;
    case CYAML_BOOL:
        if (!parse_bool(n->text, &bv))
            return fail_at(C->x, n->origin, n->line, n->col, P, "expected %s, got '%s'", want, n->text);
        tern_cdoc_buf_puts(C->out, bv ? "true" : "false");
        return TERN_OK;
    default:
        return fail_at(C->x, n->origin, n->line, n->col, P, "internal: schema type %d is not supported",
                       (int)s->type);
    }
}

/* Check the tree against schema (a mapping at the top) and write it to out
 * as canonical YAML; TERN_ERR_CONFIG with a positioned message when not. */
static tern_status cdoc_check(const cdoc_ctx *x, const cnode *root, const cyaml_schema_value_t *schema, cbuf *out) {
    check_ctx C = {.x = x, .out = out};
    tern_status st = check_value(&C, root, schema);
    if (!st && out->oom) return oom();
    return st;
}

/* ---- loading through libcyaml ----------------------------------------------- */

typedef struct log_capture {
    char msg[256];
} log_capture;

/* libcyaml's log: keep the first error line; library code never prints. */
static void capture_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args) {
    log_capture *L = ctx;
    if (level < CYAML_LOG_ERROR || L->msg[0]) return;
    vsnprintf(L->msg, sizeof L->msg, fmt, args);
    size_t k = strlen(L->msg);
    while (k && (L->msg[k - 1] == '\n' || L->msg[k - 1] == ' ')) L->msg[--k] = '\0';
}

/* What libcyaml allocates starts with its capacity. libcyaml grows a
 * sequence by one entry per item; growing the capacity by half instead
 * keeps a list of n layers at O(n) copying rather than O(n^2). */
typedef union cyaml_block {
    size_t cap;
    max_align_t align;
} cyaml_block;

static void *grow_mem(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    cyaml_block *b = ptr ? (cyaml_block *)ptr - 1 : NULL;
    if (size == 0) {
        free(b);
        return NULL;
    }
    if (b && size <= b->cap) return ptr;
    size_t cap = b && size <= SIZE_MAX / 3 ? size + size / 2 : size;
    if (cap > SIZE_MAX - sizeof *b) return NULL;
    cyaml_block *n = realloc(b, sizeof *b + cap);
    if (!n) return NULL;
    n->cap = cap;
    return n + 1;
}

static const cyaml_config_t quiet_cyaml = {
    .log_fn = capture_log, .mem_fn = grow_mem, .log_level = CYAML_LOG_ERROR, .flags = CYAML_CFG_NO_ALIAS,
};

tern_status tern_cdoc_load(const cdoc_ctx *x, const cnode *root, const cyaml_schema_value_t *schema, void **raw) {
    *raw = NULL;
    cbuf canon = {0};
    tern_status st = cdoc_check(x, root, schema, &canon);
    if (!st) {
        log_capture log = {{0}};
        cyaml_config_t cc = quiet_cyaml;
        cc.log_ctx = &log;
        cyaml_err_t e = cyaml_load_data((const uint8_t *)canon.p, canon.n, &cc, schema, raw, NULL);
        if (e == CYAML_ERR_OOM) {
            st = tern_error(TERN_ERR_NOMEM, "%s: out of memory loading the config", x->file);
            *raw = NULL;
        } else if (e != CYAML_OK) {
            /* The check above accepts only what libcyaml reads; this is a tern bug. */
            st = tern_error(TERN_ERR_CONFIG, "%s: libcyaml rejected the checked document: %s (%s)", x->file,
                            cyaml_strerror(e), log.msg[0] ? log.msg : "no detail");
            *raw = NULL;
        }
    }
    free(canon.p);
    return st;
}

void tern_cdoc_unload(const cyaml_schema_value_t *schema, void *raw) {
    if (raw) cyaml_free(&quiet_cyaml, schema, raw, 0);
}
