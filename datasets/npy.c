/* npy.c — NumPy arrays: .npy files and .npz archives (tern/data.h says
 * which arrays, dtypes and shapes are accepted).
 *
 * A .npy file is the magic "\x93NUMPY", a major and minor version byte, the
 * header length (uint16 LE for 1.0, uint32 LE for 2.0 and 3.0), a header
 * that is a Python dict literal {'descr': '<f4', 'fortran_order': False,
 * 'shape': (N, H, W), }, then the array's bytes in C order. A .npz file is a
 * zip archive of .npy members, stored (np.savez) or deflated
 * (np.savez_compressed), read here with the zip central directory and
 * zlib's raw inflate. Every size a header declares is checked against the
 * bytes the file holds before anything is allocated for it. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data_impl.h"
#include "io/fsutil.h"

#define PATH_LEN 4096
#define NPY_MAX_DIMS 4
#define NPY_MAX_MEMBER 0xffffffffull  /* the largest .npz member inflated: zlib counts in uInt */

/* One array: its dtype, shape and bytes (borrowed from the file's buffer). */
typedef struct npy_arr {
    char descr[16];
    char kind;     /* 'u', 'i', 'f', 'b', ... */
    int itemsize;  /* bytes per element */
    int big;       /* 1: big-endian elements */
    int ndim;
    long long shape[NPY_MAX_DIMS];
    const unsigned char *data;
    size_t len;
} npy_arr;

/* The bytes of an array: the whole file, or an inflated member. */
typedef struct blob {
    unsigned char *p;
    size_t n;
} blob;

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* ---- the .npy header ------------------------------------------------------------ */

static const char *skip_ws(const char *s, const char *end) {
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) s++;
    return s;
}

/* A quoted string at *s into out (cap bytes); NULL on a syntax error. */
static const char *parse_quoted(const char *s, const char *end, char *out, size_t cap) {
    if (s >= end || (*s != '\'' && *s != '"')) return NULL;
    const char q = *s++, *start = s;
    while (s < end && *s != q) s++;
    if (s >= end || (size_t)(s - start) >= cap) return NULL;
    memcpy(out, start, (size_t)(s - start));
    out[s - start] = '\0';
    return s + 1;
}

/* "(a, b, c)" or "(a,)" or "()" into a->shape; NULL on a syntax error. */
static const char *parse_shape(const char *s, const char *end, npy_arr *a) {
    if (s >= end || *s++ != '(') return NULL;
    a->ndim = 0;
    for (;;) {
        s = skip_ws(s, end);
        if (s < end && *s == ')') return s + 1;
        if (s >= end || *s < '0' || *s > '9' || a->ndim == NPY_MAX_DIMS) return NULL;
        long long v = 0;
        for (; s < end && *s >= '0' && *s <= '9'; s++)
            if ((v = v * 10 + (*s - '0')) > INT32_MAX) return NULL;
        a->shape[a->ndim++] = v;
        s = skip_ws(s, end);
        if (s < end && *s == 'L') s++;  /* Python 2's long */
        if (s < end && *s == ',') s++;
        else if (s >= end || *s != ')') return NULL;
    }
}

/* Parse the dict; errors name who and what is wrong. */
static tern_status parse_dict(const char *who, const char *s, const char *end, npy_arr *a, int *fortran) {
    int have = 0;  /* bits: descr, fortran_order, shape */
    s = skip_ws(s, end);
    if (s >= end || *s++ != '{') return tern_error(TERN_ERR_FORMAT, "%s: the header is not a dict", who);
    for (;;) {
        char key[32];
        s = skip_ws(s, end);
        if (s < end && *s == '}') break;
        if (!(s = parse_quoted(s, end, key, sizeof key)))
            return tern_error(TERN_ERR_FORMAT, "%s: unreadable header key", who);
        s = skip_ws(s, end);
        if (s >= end || *s++ != ':') return tern_error(TERN_ERR_FORMAT, "%s: header: no ':' after '%s'", who, key);
        s = skip_ws(s, end);
        if (!strcmp(key, "descr")) {
            s = parse_quoted(s, end, a->descr, sizeof a->descr), have |= 1;
        } else if (!strcmp(key, "fortran_order")) {
            int t = end - s >= 4 && !memcmp(s, "True", 4), f = end - s >= 5 && !memcmp(s, "False", 5);
            *fortran = t;
            s = t ? s + 4 : f ? s + 5 : NULL, have |= 2;
        } else if (!strcmp(key, "shape")) {
            s = parse_shape(s, end, a), have |= 4;
        } else {
            return tern_error(TERN_ERR_FORMAT, "%s: unknown header key '%s' (descr, fortran_order, shape)", who, key);
        }
        if (!s) return tern_error(TERN_ERR_FORMAT, "%s: header: unreadable value of '%s'", who, key);
        s = skip_ws(s, end);
        if (s < end && *s == ',') s++;
        else if (s >= end || *s != '}') return tern_error(TERN_ERR_FORMAT, "%s: header: expected ',' or '}'", who);
    }
    if (have != 7)
        return tern_error(TERN_ERR_FORMAT, "%s: the header lacks '%s'", who,
                          !(have & 1) ? "descr" : !(have & 2) ? "fortran_order" : "shape");
    return TERN_OK;
}

/* Parse the array in b[0..n) (the .npy file `who`) into *a. */
static tern_status npy_parse(const char *who, const unsigned char *b, size_t n, npy_arr *a) {
    memset(a, 0, sizeof *a);
    if (n < 10 || memcmp(b, "\x93NUMPY", 6))
        return tern_error(TERN_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", who);
    if (b[6] < 1 || b[6] > 3 || b[7] != 0)
        return tern_error(TERN_ERR_FORMAT, "%s: .npy version %d.%d, expected 1.0, 2.0 or 3.0", who, b[6], b[7]);
    size_t hdr = b[6] == 1 ? 10 + le16(b + 8) : (n < 12 ? SIZE_MAX : 12 + (size_t)le32(b + 8));
    if (hdr > n) return tern_error(TERN_ERR_FORMAT, "%s: truncated: the header runs past the end of the file", who);
    const char *h = (const char *)b + (b[6] == 1 ? 10 : 12);
    int fortran = 0;
    tern_status st = parse_dict(who, h, (const char *)b + hdr, a, &fortran);
    if (st) return st;
    if (fortran) return tern_error(TERN_ERR_FORMAT, "%s: fortran_order is True; save the array in C order", who);
    const char *d = a->descr;
    char *endp = NULL;
    long size = strlen(d) >= 3 ? strtol(d + 2, &endp, 10) : 0;
    if (!d[0] || !strchr("<>|=", d[0]) || size < 1 || size > 16 || *endp)
        return tern_error(TERN_ERR_FORMAT, "%s: dtype '%s' is not a plain numeric type", who, d);
    a->kind = d[1], a->itemsize = (int)size, a->big = d[0] == '>';
    unsigned long long count = 1;
    for (int i = 0; i < a->ndim; i++) {
        count *= (unsigned long long)a->shape[i];
        if (count > (1ull << 40)) return tern_error(TERN_ERR_FORMAT, "%s: shape declares more than 2^40 elements", who);
    }
    unsigned long long need = count * (unsigned long long)a->itemsize;
    if (need != n - hdr)
        return tern_error(TERN_ERR_FORMAT, "%s: the shape and dtype declare %llu data bytes, the file holds %zu%s", who,
                          need, n - hdr, need > n - hdr ? " (truncated)" : "");
    a->data = b + hdr, a->len = n - hdr;
    return TERN_OK;
}

/* ---- .npz members ------------------------------------------------------------- */

/* Member `name` of the zip archive z (file `path`) into *out, inflated. */
static tern_status npz_member(const char *path, const blob *z, const char *name, blob *out) {
    memset(out, 0, sizeof *out);
    const unsigned char *p = z->p, *eocd = NULL;
    /* The end record: its 22 bytes and a comment of at most 65535. */
    for (size_t back = 22; !eocd && back <= z->n && back <= 22 + 65535; back++)
        if (le32(p + z->n - back) == 0x06054b50u) eocd = p + z->n - back;
    if (!eocd) return tern_error(TERN_ERR_FORMAT, "%s: not a zip archive (no end of central directory)", path);
    uint64_t cd = le32(eocd + 16), entries = le16(eocd + 10), nlen = strlen(name);
    for (uint64_t e = 0; e < entries; e++) {
        if (cd + 46 > z->n || le32(p + cd) != 0x02014b50u) break;
        const unsigned char *c = p + cd;
        uint32_t fl = le16(c + 28), xl = le16(c + 30), cl = le16(c + 32);
        if (cd + 46 + fl + xl > z->n) break;
        uint64_t csize = le32(c + 20), usize = le32(c + 24), off = le32(c + 42);
        /* Zip64: the 0xffffffff fields are in extra block 0x0001, in order. */
        for (const unsigned char *x = c + 46 + fl; x + 4 <= c + 46 + fl + xl; x += 4 + le16(x + 2)) {
            if (le16(x) != 1) continue;
            const unsigned char *v = x + 4, *vend = x + 4 + le16(x + 2);
            if (usize == 0xffffffffu && v + 8 <= vend) usize = le64(v), v += 8;
            if (csize == 0xffffffffu && v + 8 <= vend) csize = le64(v), v += 8;
            if (off == 0xffffffffu && v + 8 <= vend) off = le64(v);
        }
        if (fl == nlen && !memcmp(c + 46, name, nlen)) {
            int method = (int)le16(c + 10);
            uint32_t crc = le32(c + 16);
            if (off + 30 > z->n || le32(p + off) != 0x04034b50u)
                return tern_error(TERN_ERR_FORMAT, "%s: %s: bad local header", path, name);
            uint64_t data = off + 30 + le16(p + off + 26) + le16(p + off + 28);
            if (data > z->n || csize > z->n - data)
                return tern_error(TERN_ERR_FORMAT, "%s: %s: truncated (%llu compressed bytes declared)", path, name,
                                  (unsigned long long)csize);
            if (method != 0 && method != 8)
                return tern_error(TERN_ERR_UNSUPPORTED, "%s: %s: compression method %d (stored or deflated expected)",
                                  path, name, method);
            if ((method == 0 && usize != csize) || usize > NPY_MAX_MEMBER || csize > NPY_MAX_MEMBER ||
                usize / 1032 > csize + 64)  /* deflate's largest ratio is 1032:1 */
                return tern_error(TERN_ERR_FORMAT, "%s: %s: %llu bytes declared from %llu compressed", path, name,
                                  (unsigned long long)usize, (unsigned long long)csize);
            if (!(out->p = malloc(usize ? (size_t)usize : 1)))
                return tern_error(TERN_ERR_NOMEM, "%s: %s: cannot allocate %llu bytes", path, name,
                                  (unsigned long long)usize);
            out->n = (size_t)usize;
            int ok = 1;
            if (method == 0) {
                memcpy(out->p, p + data, (size_t)usize);
            } else {
                z_stream s = {0};
                ok = inflateInit2(&s, -MAX_WBITS) == Z_OK;
                s.next_in = (unsigned char *)(uintptr_t)(p + data), s.avail_in = (uInt)csize;
                s.next_out = out->p, s.avail_out = (uInt)usize;
                ok = ok && inflate(&s, Z_FINISH) == Z_STREAM_END && s.avail_out == 0;
                inflateEnd(&s);
            }
            if (ok && crc32(0L, out->p, (uInt)usize) != crc) ok = 0;
            if (!ok) {
                free(out->p), out->p = NULL;
                return tern_error(TERN_ERR_FORMAT, "%s: %s: corrupt data (inflate or CRC failed)", path, name);
            }
            return TERN_OK;
        }
        cd += 46 + fl + xl + cl;
    }
    return tern_error(TERN_ERR_FORMAT, "%s: no member '%s' (np.savez(path, images=..., labels=...))", path, name);
}

/* ---- a split ------------------------------------------------------------------ */

/* The images (when images is not NULL) and labels of split: the .npy pair
 * when DIR/SPLIT_images.npy exists, else DIR/SPLIT.npz. who[] names each. */
static tern_status npy_split(const char *dir, const char *split, blob *images, blob *labels, char who[2][PATH_LEN]) {
    char path[PATH_LEN - 16];  /* room for ":images.npy" in who */
    snprintf(path, sizeof path, "%s/%s_images.npy", dir, split);
    if (tern_fs_exists(path)) {
        snprintf(who[0], PATH_LEN, "%s", path);
        snprintf(who[1], PATH_LEN, "%s/%s_labels.npy", dir, split);
        tern_status st = images ? tern__data_read_file(who[0], &images->p, &images->n) : TERN_OK;
        if (!st && (st = tern__data_read_file(who[1], &labels->p, &labels->n)) && images) free(images->p), images->p = NULL;
        return st;
    }
    snprintf(path, sizeof path, "%s/%s.npz", dir, split);
    if (!tern_fs_exists(path))
        return tern_error(TERN_ERR_IO, "npy: no %s/%s_images.npy nor %s; give --data DIR or set dataset.path", dir,
                          split, path);
    blob z = {0};
    tern_status st = tern__data_read_file(path, &z.p, &z.n);
    snprintf(who[0], PATH_LEN, "%s:images.npy", path);
    snprintf(who[1], PATH_LEN, "%s:labels.npy", path);
    if (!st && images) st = npz_member(path, &z, "images.npy", images);
    if (!st && (st = npz_member(path, &z, "labels.npy", labels)) && images) free(images->p), images->p = NULL;
    free(z.p);
    return st;
}

/* Labels into out (may be NULL); *max = the largest. */
static tern_status npy_labels(const char *who, const npy_arr *a, long long n, int *out, int *max) {
    if (a->kind != 'u' && a->kind != 'i')
        return tern_error(TERN_ERR_FORMAT, "%s: dtype '%s' is not supported for labels (an integer type)", who, a->descr);
    if (a->itemsize != 1 && a->itemsize != 2 && a->itemsize != 4 && a->itemsize != 8)
        return tern_error(TERN_ERR_FORMAT, "%s: dtype '%s' is not supported for labels", who, a->descr);
    if (a->ndim != 1 || (n >= 0 && a->shape[0] != n))
        return tern_error(TERN_ERR_FORMAT, "%s: labels of shape (%lld%s) where (%lld,) is expected", who,
                          a->ndim ? a->shape[0] : 0, a->ndim > 1 ? ", ..." : ",", n >= 0 ? n : a->ndim ? a->shape[0] : 0);
    for (long long i = 0; i < a->shape[0]; i++) {
        const unsigned char *b = a->data + i * a->itemsize;
        uint64_t u = 0;
        for (int k = 0; k < a->itemsize; k++) u |= (uint64_t)b[a->big ? a->itemsize - 1 - k : k] << (8 * k);
        int64_t v = (int64_t)u;
        if (a->kind == 'i' && a->itemsize < 8 && (u >> (8 * a->itemsize - 1) & 1)) v = -1;  /* negative */
        if (a->kind == 'u' && a->itemsize == 8 && u > INT64_MAX) v = -1;
        if (v < 0 || v >= TERN_DATA_MAX_CLASSES)
            return tern_error(TERN_ERR_FORMAT, "%s: label %lld at index %lld is outside 0..%d", who, (long long)v, i,
                              TERN_DATA_MAX_CLASSES - 1);
        if (out) out[i] = (int)v;
        if ((int)v > *max) *max = (int)v;
    }
    return TERN_OK;
}

/* The images' (N, C, H, W) and whether they are stored (N, H, W, C). */
static tern_status npy_image_shape(const char *who, const npy_arr *a, int nchw[4], int *hwc) {
    const long long *s = a->shape;
    if (!(a->kind == 'u' && a->itemsize == 1) && !(a->kind == 'f' && a->itemsize == 4))
        return tern_error(TERN_ERR_FORMAT, "%s: dtype '%s' is not supported (uint8, float32)", who, a->descr);
    long long d[4];
    *hwc = 1;
    if (a->ndim == 3) d[0] = s[0], d[1] = 1, d[2] = s[1], d[3] = s[2];
    else if (a->ndim == 4 && (s[3] == 1 || s[3] == 3)) d[0] = s[0], d[1] = s[3], d[2] = s[1], d[3] = s[2];
    else if (a->ndim == 4 && (s[1] == 1 || s[1] == 3)) d[0] = s[0], d[1] = s[1], d[2] = s[2], d[3] = s[3], *hwc = 0;
    else
        return tern_error(TERN_ERR_FORMAT, "%s: images of shape %dD (%lld, ...); expected (N,H,W), (N,H,W,C) or "
                          "(N,C,H,W) with C 1 or 3", who, a->ndim, a->ndim ? s[0] : 0);
    if (d[0] < 1 || d[0] > TERN_DATA_MAX_N || d[2] < 1 || d[3] < 1 || d[2] > 65535 || d[3] > 65535)
        return tern_error(TERN_ERR_FORMAT, "%s: images (%lld,%lld,%lld,%lld) (N,C,H,W): need 1..%d images of 1..65535 "
                          "pixels a side", who, d[0], d[1], d[2], d[3], TERN_DATA_MAX_N);
    for (int k = 0; k < 4; k++) nchw[k] = (int)d[k];
    return TERN_OK;
}

/* Pixels into ds->images (N, C, H, W): uint8 as p/255, float32 as is. */
static tern_status npy_pixels(const char *who, const npy_arr *a, int hwc, tern_dataset *ds) {
    const size_t C = (size_t)ds->c, HW = (size_t)ds->h * ds->w, total = (size_t)ds->n * C * HW;
    for (size_t j = 0; j < total; j++) {
        /* j indexes the file's order; o the dataset's (N, C, H, W). */
        size_t o = j;
        if (hwc) {
            size_t n = j / (HW * C), r = j % (HW * C);
            o = (n * C + r % C) * HW + r / C;
        }
        float v;
        if (a->itemsize == 1) {
            v = (float)a->data[j] / 255.0f;
        } else {
            unsigned char b[4];
            for (int k = 0; k < 4; k++) b[k] = a->data[4 * j + (a->big ? 3 - k : k)];
            uint32_t u = le32(b);
            memcpy(&v, &u, 4);
            if (!isfinite(v))
                return tern_error(TERN_ERR_NUMERIC, "%s: value %zu is NaN or infinite", who, j);
        }
        ds->images[o] = v;
    }
    return TERN_OK;
}

tern_status tern_npy_load(tern_dataset *ds, const char *dir, const char *split) {
    if (!ds || !dir || !split) return tern_error(TERN_ERR_ARG, "npy: NULL argument");
    if (!tern__dataset_empty(ds))
        return tern_error(TERN_ERR_ARG, "npy: dataset already holds data; tern_dataset_free() it first");
    blob im = {0}, lb = {0}, other = {0};
    char who[2][PATH_LEN], owho[2][PATH_LEN];
    npy_arr ia, la, oa;
    int nchw[4], hwc = 0, max = 0;
    tern_status st = npy_split(dir, split, &im, &lb, who);
    if (!st) st = npy_parse(who[0], im.p, im.n, &ia);
    if (!st) st = npy_image_shape(who[0], &ia, nchw, &hwc);
    if (!st) st = npy_parse(who[1], lb.p, lb.n, &la);
    if (!st) st = npy_labels(who[1], &la, nchw[0], NULL, &max);
    /* K from both splits: a test split may lack the last classes. */
    if (!st) st = npy_split(dir, strcmp(split, "train") ? "train" : "test", NULL, &other, owho);
    if (!st) st = npy_parse(owho[1], other.p, other.n, &oa);
    if (!st) st = npy_labels(owho[1], &oa, -1, NULL, &max);
    if (!st) st = tern__dataset_alloc(ds, who[0], nchw[0], nchw[1], nchw[2], nchw[3]);
    if (!st) st = npy_labels(who[1], &la, nchw[0], ds->labels, &max);
    if (!st) st = npy_pixels(who[0], &ia, hwc, ds);
    free(im.p), free(lb.p), free(other.p);
    if (st) {
        tern_dataset_free(ds);
        return st;
    }
    char names[TERN_DATA_MAX_CLASSES][8];
    const char *ptr[TERN_DATA_MAX_CLASSES];
    for (int k = 0; k <= max; k++) snprintf(names[k], sizeof names[k], "%d", k), ptr[k] = names[k];
    tern__dataset_set_classes(ds, ptr, max + 1);
    snprintf(ds->name, sizeof ds->name, "npy");
    return TERN_OK;
}
