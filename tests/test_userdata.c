/* test_userdata.c — a user's own data: image folders (PNG, JPEG), NumPy
 * arrays (.npy, .npz) and CSV files, and the image reader and resize.
 *
 * Every file is written here: PNG with libpng, JPEG with libjpeg, PGM as
 * text, .npy and stored .npz byte by byte, deflated .npz with zlib, CSV as
 * text. Pixel values are checked against the bytes written (JPEG within its
 * loss), the channel conversion against the BT.601 weights, the bilinear
 * resize against a case computed by hand; every bad input must give a
 * one-line error naming the file (and line). */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <jpeglib.h>
#include <png.h>

#include "tern.h"
#include "tmpdir.h"

/* ---- helpers ------------------------------------------------------------ */

static const char *tpath(const char *fmt, ...) {
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8], rel[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    snprintf(p, 512, "%s/%s", tmpdir, rel);
    return p;
}

/* mkdir -p of path, a path under tmpdir. */
static void mkdirs(const char *path) {
    char p[512];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + strlen(tmpdir) + 1; *s; s++)
        if (*s == '/') *s = '\0', mkdir(p, 0755), *s = '/';
    mkdir(p, 0755);
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

/* The last error must contain a and b (when given) and be one line. */
static void expect_msg(const char *a, const char *b) {
    const char *m = tern_errmsg();
    if (!strstr(m, a) || (b && !strstr(m, b)) || strchr(m, '\n')) {
        print_error("message \"%s\" lacks \"%s\"%s%s\n", m, a, b ? " or " : "", b ? b : "");
        fail();
    }
}

/* A PNG of (h, w, c) bytes; color type gray, RGB or RGBA (c = 1, 3, 4). */
static void write_png(const char *path, const unsigned char *px, int h, int w, int c) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    png_init_io(p, f);
    int type = c == 1 ? PNG_COLOR_TYPE_GRAY : c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < h; y++) png_write_row(p, px + (size_t)y * w * c);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    fclose(f);
}

/* A quality-100 JPEG of (h, w, c) bytes, c = 1 or 3. */
static void write_jpeg(const char *path, const unsigned char *px, int h, int w, int c) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct j;
    struct jpeg_error_mgr err;
    j.err = jpeg_std_error(&err);
    jpeg_create_compress(&j);
    jpeg_stdio_dest(&j, f);
    j.image_width = (JDIMENSION)w, j.image_height = (JDIMENSION)h, j.input_components = c;
    j.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&j);
    jpeg_set_quality(&j, 100, TRUE);
    jpeg_start_compress(&j, TRUE);
    for (int y = 0; y < h; y++) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)y * w * c);
        jpeg_write_scanlines(&j, &row, 1);
    }
    jpeg_finish_compress(&j);
    jpeg_destroy_compress(&j);
    fclose(f);
}

static void pattern(unsigned char *px, size_t n, int seed) {
    for (size_t i = 0; i < n; i++) px[i] = (unsigned char)((i * 37 + (size_t)seed * 11) % 256);
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) ? -1 : (long)sb.st_size;
}

static int setup(void **state) {
    (void)state;
    return tmpdir_make("userdata");
}

/* ---- the image reader ---------------------------------------------------- */

static void test_image_formats(void **state) {
    (void)state;
    unsigned char rgba[4 * 5 * 4], rgb[4 * 5 * 3];
    pattern(rgba, sizeof rgba, 1);
    for (int j = 0; j < 20; j++) memcpy(rgb + 3 * j, rgba + 4 * j, 3);
    write_png(tpath("a.png"), rgba, 4, 5, 4);
    tern_image img;
    assert_int_equal(tern_image_read(tpath("a.png"), &img), TERN_OK);
    assert_int_equal(img.h, 4), assert_int_equal(img.w, 5), assert_int_equal(img.c, 3);
    assert_memory_equal(img.px, rgb, sizeof rgb);  /* alpha dropped, colours untouched */
    /* RGB to gray: BT.601 luma; gray to RGB: replicated. */
    float gray[20], three[3 * 20];
    assert_int_equal(tern_image_convert(&img, "a.png", 1, 4, 5, 0, gray), TERN_OK);
    for (int j = 0; j < 20; j++)
        assert_float_equal(gray[j], (0.299f * rgb[3 * j] + 0.587f * rgb[3 * j + 1] + 0.114f * rgb[3 * j + 2]) / 255.0f,
                           1e-5);
    tern_image_free(&img);
    unsigned char g[20];
    pattern(g, sizeof g, 2);
    write_png(tpath("g.png"), g, 4, 5, 1);
    assert_int_equal(tern_image_read(tpath("g.png"), &img), TERN_OK);
    assert_int_equal(tern_image_convert(&img, "g.png", 3, 4, 5, 0, three), TERN_OK);
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 20; j++) assert_float_equal(three[k * 20 + j], g[j] / 255.0f, 1e-7);
    assert_int_equal(tern_image_convert(&img, "g.png", 1, 4, 6, 0, gray), TERN_ERR_SHAPE);
    expect_msg("g.png: image is 4x5 (HxW) but 4x6 is expected", "dataset.resize");
    tern_image_free(&img);
    /* JPEG within its loss; a flat gray image is exact. */
    unsigned char flat[8 * 8 * 3];
    memset(flat, 77, sizeof flat);
    write_jpeg(tpath("f.jpg"), flat, 8, 8, 3);
    assert_int_equal(tern_image_read(tpath("f.jpg"), &img), TERN_OK);
    assert_int_equal(img.c, 3), assert_int_equal(img.h, 8);
    for (int j = 0; j < 8 * 8 * 3; j++) assert_in_range(img.px[j], 76, 78);
    tern_image_free(&img);
    /* ASCII PGM with a comment, maxval 15 scaled to 8 bits. */
    write_text(tpath("p.pgm"), "P2\n# two by one\n2 1\n15\n0 15\n");
    assert_int_equal(tern_image_read(tpath("p.pgm"), &img), TERN_OK);
    assert_int_equal(img.px[0], 0), assert_int_equal(img.px[1], 255);
    tern_image_free(&img);
}

static void test_image_bad(void **state) {
    (void)state;
    tern_image img;
    unsigned char px[16 * 16 * 3];
    pattern(px, sizeof px, 3);
    /* Truncated PNG and JPEG: an error naming the file, not gray pixels. */
    write_png(tpath("t.png"), px, 16, 16, 3);
    FILE *f = fopen(tpath("t.png"), "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(tpath("t.png"), buf, n / 2);
    assert_int_equal(tern_image_read(tpath("t.png"), &img), TERN_ERR_FORMAT);
    expect_msg("t.png: corrupt PNG", NULL);
    write_jpeg(tpath("t.jpg"), px, 16, 16, 3);
    f = fopen(tpath("t.jpg"), "rb");
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(tpath("t.jpg"), buf, n / 2);
    assert_int_equal(tern_image_read(tpath("t.jpg"), &img), TERN_ERR_FORMAT);
    expect_msg("t.jpg: corrupt JPEG", NULL);
    /* A huge declared size is refused before any allocation. */
    write_text(tpath("huge.pgm"), "P5 100000 100000 255\n");
    assert_int_equal(tern_image_read(tpath("huge.pgm"), &img), TERN_ERR_FORMAT);
    expect_msg("huge.pgm: declared size 100000x100000", NULL);
    write_text(tpath("x.txt"), "hello");
    assert_int_equal(tern_image_read(tpath("x.txt"), &img), TERN_ERR_UNSUPPORTED);
    expect_msg("x.txt: not a PNG, JPEG or PNM", NULL);
}

/* Bilinear, pixel centres aligned: 2x2 to 4x4 by hand. Output x in 0..3
 * samples x' = (x + 0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to
 * 0, 0.25, 0.75, 1: the row [0, 1] becomes [0, 0.25, 0.75, 1]. */
static void test_resize_hand(void **state) {
    (void)state;
    const float src[4] = {0, 1, 2, 3};  /* (1, 2, 2) */
    const float want[16] = {0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3};
    float dst[16];
    tern_image_resize(src, 1, 2, 2, dst, 4, 4);
    for (int i = 0; i < 16; i++) assert_float_equal(dst[i], want[i], 1e-6);
    /* Downsizing 4 -> 2 averages the middle pairs: x' = 0.5, 2.5. */
    const float row[4] = {0, 10, 20, 30};
    float half[2];
    tern_image_resize(row, 1, 1, 4, half, 1, 2);
    assert_float_equal(half[0], 5, 1e-6), assert_float_equal(half[1], 25, 1e-6);
}

/* ---- image folders ---------------------------------------------------------- */

/* DIR/{train,test}/{cat,dog}: 3 and 2 gray 6x6 images per class. */
static void make_folder(const char *dir) {
    const char *cls[2] = {"dog", "cat"};
    unsigned char px[6 * 6];
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 2; k++) {
            mkdirs(tpath("%s/%s/%s", dir, s ? "test" : "train", cls[k]));
            for (int i = 0; i < (s ? 2 : 3); i++) {
                pattern(px, sizeof px, 10 * k + i);
                write_png(tpath("%s/%s/%s/%d.png", dir, s ? "test" : "train", cls[k], i), px, 6, 6, 1);
            }
        }
    write_text(tpath("%s/train/cat/notes.txt", dir), "not an image: skipped");
}

static void test_folder_load(void **state) {
    (void)state;
    make_folder("f1");
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_dataset_load(&ds, "folder", tpath("f1"), "train", NULL), TERN_OK);
    assert_int_equal(ds.n, 6), assert_int_equal(ds.c, 1), assert_int_equal(ds.h, 6), assert_int_equal(ds.w, 6);
    assert_int_equal(ds.n_classes, 2);
    assert_string_equal(ds.class_names[0], "cat");  /* sorted, whatever order they were made in */
    assert_string_equal(ds.class_names[1], "dog");
    assert_int_equal(ds.labels[0], 0), assert_int_equal(ds.labels[3], 1);
    unsigned char px[36];
    pattern(px, sizeof px, 10 * 1 + 1);  /* cat (made second) sorts first: sample 1 is cat/1.png */
    for (int j = 0; j < 36; j++) assert_float_equal(ds.images[36 + j], px[j] / 255.0f, 1e-7);
    tern_dataset_free(&ds);
    /* Converted to RGB and resized to 3x4. */
    tern_data_opts o = {.channels = 3, .size = {3, 4}, .resize = 1};
    assert_int_equal(tern_dataset_load_opts(&ds, "folder", tpath("f1"), "test", NULL, &o), TERN_OK);
    assert_int_equal(ds.n, 4), assert_int_equal(ds.c, 3), assert_int_equal(ds.h, 3), assert_int_equal(ds.w, 4);
    tern_dataset_free(&ds);
    o.resize = 0;
    assert_int_equal(tern_dataset_load_opts(&ds, "folder", tpath("f1"), "test", NULL, &o), TERN_ERR_SHAPE);
    expect_msg("f1/test/cat/0.png: image is 6x6 (HxW) but 3x4 is expected", NULL);
    assert_null(ds.images);
}

static void test_folder_bad(void **state) {
    (void)state;
    tern_dataset ds;
    tern_dataset_init(&ds);
    /* A corrupt PNG. */
    make_folder("f2");
    write_text(tpath("f2/train/dog/1.png"), "\x89PNG\r\n\x1a\nnot really");
    assert_int_equal(tern_dataset_load(&ds, "folder", tpath("f2"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("f2/train/dog/1.png: corrupt PNG", NULL);
    /* Mixed sizes without resize. */
    make_folder("f3");
    unsigned char px[7 * 6];
    pattern(px, sizeof px, 0);
    write_png(tpath("f3/train/dog/2.png"), px, 7, 6, 1);
    assert_int_equal(tern_dataset_load(&ds, "folder", tpath("f3"), "train", NULL), TERN_ERR_SHAPE);
    expect_msg("f3/train/dog/2.png: image is 7x6 (HxW) but 6x6 is expected", NULL);
    /* An empty class folder. */
    make_folder("f4");
    mkdirs(tpath("f4/train/eel"));
    mkdirs(tpath("f4/test/eel"));
    assert_int_equal(tern_dataset_load(&ds, "folder", tpath("f4"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("f4/train/eel: empty class folder", NULL);
    /* A class in train but not in test. */
    make_folder("f5");
    mkdirs(tpath("f5/train/eel"));
    write_png(tpath("f5/train/eel/0.png"), px, 6, 6, 1);
    assert_int_equal(tern_dataset_load(&ds, "folder", tpath("f5"), "test", NULL), TERN_ERR_FORMAT);
    expect_msg("f5/test: class 'eel'", "is missing");
    assert_int_equal(tern_dataset_load(&ds, "folder", tpath("nowhere"), "test", NULL), TERN_ERR_IO);
    expect_msg("nowhere/test", NULL);
    assert_null(ds.images);
}

/* ---- NumPy -------------------------------------------------------------- */

/* A .npy v1.0 of descr and shape text, with data[0..n); returns its size. */
static size_t npy_bytes(unsigned char *out, const char *descr, const char *shape, const void *data, size_t n) {
    char hdr[256];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    int pad = 64 - (10 + len + 1) % 64;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    size_t h = (size_t)len + (size_t)pad % 64 + 1;
    out[8] = (unsigned char)(h & 255), out[9] = (unsigned char)(h >> 8);
    memcpy(out + 10, hdr, (size_t)len);
    memset(out + 10 + len, ' ', h - 1 - (size_t)len);
    out[10 + h - 1] = '\n';
    memcpy(out + 10 + h, data, n);
    return 10 + h + n;
}

static void write_npy(const char *path, const char *descr, const char *shape, const void *data, size_t n) {
    unsigned char *b = malloc(n + 512);
    write_bytes(path, b, npy_bytes(b, descr, shape, data, n));
    free(b);
}

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) { put16(p, v & 0xffff), put16(p + 2, v >> 16); }

/* A zip of two members, stored or deflated (raw deflate, as zipfile writes). */
static void write_npz(const char *path, const char *names[2], unsigned char *data[2], size_t len[2], int deflated) {
    unsigned char *z = malloc(65536), *cd = malloc(1024);
    size_t at = 0, cl = 0;
    for (int m = 0; m < 2; m++) {
        unsigned char *body = data[m];
        size_t blen = len[m];
        unsigned char *packed = NULL;
        if (deflated) {
            z_stream s = {0};
            packed = malloc(len[m] + 1024);
            deflateInit2(&s, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
            s.next_in = data[m], s.avail_in = (uInt)len[m], s.next_out = packed, s.avail_out = (uInt)len[m] + 1024;
            assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
            blen = s.total_out, body = packed;
            deflateEnd(&s);
        }
        uint32_t crc = (uint32_t)crc32(0, data[m], (uInt)len[m]);
        size_t nl = strlen(names[m]), off = at;
        unsigned char *l = z + at;
        memset(l, 0, 30);
        put32(l, 0x04034b50), put16(l + 4, 20), put16(l + 8, deflated ? 8 : 0), put32(l + 14, crc);
        put32(l + 18, (uint32_t)blen), put32(l + 22, (uint32_t)len[m]), put16(l + 26, (unsigned)nl);
        memcpy(l + 30, names[m], nl);
        memcpy(l + 30 + nl, body, blen);
        at += 30 + nl + blen;
        unsigned char *c = cd + cl;
        memset(c, 0, 46);
        put32(c, 0x02014b50), put16(c + 6, 20), put16(c + 10, deflated ? 8 : 0), put32(c + 16, crc);
        put32(c + 20, (uint32_t)blen), put32(c + 24, (uint32_t)len[m]), put16(c + 28, (unsigned)nl);
        put32(c + 42, (uint32_t)off);
        memcpy(c + 46, names[m], nl);
        cl += 46 + nl;
        free(packed);
    }
    memcpy(z + at, cd, cl);
    unsigned char *e = z + at + cl;
    memset(e, 0, 22);
    put32(e, 0x06054b50), put16(e + 8, 2), put16(e + 10, 2), put32(e + 12, (uint32_t)cl), put32(e + 16, (uint32_t)at);
    write_bytes(path, z, at + cl + 22);
    free(z), free(cd);
}

static void test_npy_load(void **state) {
    (void)state;
    mkdirs(tpath("n1"));
    /* train: (3, 2, 2, 3) uint8 (N,H,W,C); test: (2, 3, 2, 2) float32 (N,C,H,W). */
    unsigned char px[3 * 12];
    pattern(px, sizeof px, 5);
    write_npy(tpath("n1/train_images.npy"), "|u1", "(3, 2, 2, 3)", px, sizeof px);
    int64_t lab[3] = {0, 2, 1};
    write_npy(tpath("n1/train_labels.npy"), "<i8", "(3,)", lab, sizeof lab);
    float fx[2 * 12];
    for (int i = 0; i < 24; i++) fx[i] = (float)i / 24.0f;
    write_npy(tpath("n1/test_images.npy"), "<f4", "(2, 3, 2, 2)", fx, sizeof fx);
    unsigned char lab8[2] = {1, 0};
    write_npy(tpath("n1/test_labels.npy"), "|u1", "(2,)", lab8, 2);
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n1"), "train", NULL), TERN_OK);
    assert_int_equal(ds.n, 3), assert_int_equal(ds.c, 3), assert_int_equal(ds.h, 2), assert_int_equal(ds.w, 2);
    assert_int_equal(ds.n_classes, 3), assert_int_equal(ds.labels[1], 2);
    /* (N,H,W,C) transposed: sample 1, channel 2, pixel (1, 0) is byte 12 + (1*2+0)*3 + 2. */
    assert_float_equal(ds.images[12 + 2 * 4 + 2], px[12 + 6 + 2] / 255.0f, 1e-7);
    tern_dataset_free(&ds);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n1"), "test", NULL), TERN_OK);
    assert_int_equal(ds.n_classes, 3);  /* from both splits */
    for (int i = 0; i < 24; i++) assert_float_equal(ds.images[i], fx[i], 0);
    tern_dataset_free(&ds);
    /* The same arrays in .npz, stored and deflated. */
    for (int deflate = 0; deflate < 2; deflate++) {
        mkdirs(tpath("z%d", deflate));
        const char *names[2] = {"images.npy", "labels.npy"};
        for (int s = 0; s < 2; s++) {
            unsigned char a[1024], b[512], *d[2] = {a, b};
            size_t len[2] = {s ? npy_bytes(a, "<f4", "(2, 3, 2, 2)", fx, sizeof fx)
                               : npy_bytes(a, "|u1", "(3, 2, 2, 3)", px, sizeof px),
                             s ? npy_bytes(b, "|u1", "(2,)", lab8, 2) : npy_bytes(b, "<i8", "(3,)", lab, sizeof lab)};
            write_npz(tpath("z%d/%s.npz", deflate, s ? "test" : "train"), names, d, len, deflate);
        }
        assert_int_equal(tern_dataset_load(&ds, "npy", tpath("z%d", deflate), "train", NULL), TERN_OK);
        assert_int_equal(ds.n, 3), assert_int_equal(ds.c, 3);
        assert_float_equal(ds.images[12 + 2 * 4 + 2], px[12 + 6 + 2] / 255.0f, 1e-7);
        tern_dataset_free(&ds);
    }
}

static void test_npy_bad(void **state) {
    (void)state;
    tern_dataset ds;
    tern_dataset_init(&ds);
    mkdirs(tpath("n2"));
    double d[4] = {0};
    int64_t lab[1] = {0};
    write_npy(tpath("n2/test_labels.npy"), "<i8", "(1,)", lab, sizeof lab);
    write_npy(tpath("n2/train_labels.npy"), "<i8", "(1,)", lab, sizeof lab);
    write_npy(tpath("n2/train_images.npy"), "<f8", "(1, 2, 2)", d, sizeof d);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n2"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("train_images.npy: dtype '<f8' is not supported (uint8, float32)", NULL);
    unsigned char px[2 * 5 * 5] = {0};
    write_npy(tpath("n2/train_images.npy"), "|u1", "(1, 2, 5, 5)", px, sizeof px);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n2"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("train_images.npy: images of shape", "(N,H,W)");
    /* Truncated data; a huge declared shape (no allocation of it). */
    write_npy(tpath("n2/train_images.npy"), "|u1", "(1, 5, 5)", px, 10);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n2"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("train_images.npy: the shape and dtype declare 25 data bytes, the file holds 10", "truncated");
    write_npy(tpath("n2/train_images.npy"), "|u1", "(100000, 60000, 60000)", px, 10);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n2"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("train_images.npy: shape declares more than", NULL);
    /* Fortran order, a bad version, a label count mismatch. */
    unsigned char b[512];
    size_t n = npy_bytes(b, "|u1", "(1, 5, 5)", px, 25);
    memcpy(strstr((char *)b + 10, "False"), "True ", 5);
    write_bytes(tpath("n2/train_images.npy"), b, n);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n2"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("train_images.npy: fortran_order is True", NULL);
    n = npy_bytes(b, "|u1", "(1, 5, 5)", px, 25);
    b[6] = 4;
    write_bytes(tpath("n2/train_images.npy"), b, n);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n2"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("train_images.npy: .npy version 4.0", NULL);
    write_npy(tpath("n2/train_images.npy"), "|u1", "(2, 5, 5)", px, 50);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n2"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("train_labels.npy: labels of shape (1,) where (2,) is expected", NULL);
    int64_t neg[2] = {0, -3};
    write_npy(tpath("n2/train_labels.npy"), "<i8", "(2,)", neg, sizeof neg);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n2"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("train_labels.npy: label -3 at index 1 is outside", NULL);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("nowhere"), "train", NULL), TERN_ERR_IO);
    expect_msg("nowhere/train_images.npy nor", "--data DIR");
    /* A .npz member declaring far more than it holds. */
    mkdirs(tpath("n3"));
    const char *names[2] = {"images.npy", "labels.npy"};
    unsigned char a[256], l[256], *dd[2] = {a, l};
    size_t len[2] = {npy_bytes(a, "|u1", "(1, 5, 5)", px, 25), npy_bytes(l, "<i8", "(1,)", lab, 8)};
    write_npz(tpath("n3/train.npz"), names, dd, len, 1);
    FILE *f = fopen(tpath("n3/train.npz"), "r+b");
    long size = file_size(tpath("n3/train.npz"));
    assert_true(f && size > 0 && size < 4096);
    static unsigned char z[4096];
    assert_int_equal(fread(z, 1, (size_t)size, f), (size_t)size);
    for (long i = 0; i + 4 < size; i++)  /* the central directory's uncompressed sizes */
        if (z[i] == 0x50 && z[i + 1] == 0x4b && z[i + 2] == 1 && z[i + 3] == 2) put32(z + i + 24, 0x7fffffff);
    rewind(f);
    fwrite(z, 1, (size_t)size, f);
    fclose(f);
    assert_int_equal(tern_dataset_load(&ds, "npy", tpath("n3"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("train.npz: images.npy: 2147483647 bytes declared", NULL);
    assert_null(ds.images);
}

/* ---- CSV ---------------------------------------------------------------- */

static void test_csv_load(void **state) {
    (void)state;
    mkdirs(tpath("c1"));
    write_text(tpath("c1/train.csv"), "age, species ,height\r\n31,setosa,1.5\n\n40, virginica,2e0\n7,setosa,-1\n");
    write_text(tpath("c1/test.csv"), "age,species,height\n1,versicolor,0.25\n");
    tern_data_opts o = {.label_column = "species"};
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_dataset_load_opts(&ds, "csv", tpath("c1"), "train", NULL, &o), TERN_OK);
    assert_int_equal(ds.n, 3), assert_int_equal(ds.c, 1), assert_int_equal(ds.h, 1), assert_int_equal(ds.w, 2);
    assert_int_equal(ds.n_classes, 3);
    assert_string_equal(ds.class_names[0], "setosa");
    assert_string_equal(ds.class_names[1], "versicolor");  /* from test.csv */
    assert_string_equal(ds.class_names[2], "virginica");
    const float want[6] = {31, 1.5f, 40, 2, 7, -1};
    for (int i = 0; i < 6; i++) assert_float_equal(ds.images[i], want[i], 0);
    assert_int_equal(ds.labels[0], 0), assert_int_equal(ds.labels[1], 2), assert_int_equal(ds.labels[2], 0);
    tern_dataset_free(&ds);
    /* Whole-number labels are the classes themselves. */
    mkdirs(tpath("c2"));
    write_text(tpath("c2/train.csv"), "x,label\n0.5,3\n1,0\n");
    write_text(tpath("c2/test.csv"), "x,label\n2,1\n");
    assert_int_equal(tern_dataset_load(&ds, "csv", tpath("c2"), "test", NULL), TERN_OK);
    assert_int_equal(ds.n_classes, 4), assert_int_equal(ds.labels[0], 1);
    assert_string_equal(ds.class_names[3], "3");
    tern_dataset_free(&ds);
}

static void test_csv_bad(void **state) {
    (void)state;
    tern_dataset ds;
    tern_dataset_init(&ds);
    mkdirs(tpath("c3"));
    write_text(tpath("c3/test.csv"), "age,label\n1,0\n");
    write_text(tpath("c3/train.csv"), "age,label\n1,0\n2,1\nabc,1\n");
    assert_int_equal(tern_dataset_load(&ds, "csv", tpath("c3"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("c3/train.csv:4: column 'age': 'abc' is not a number", NULL);
    write_text(tpath("c3/train.csv"), "age,label\n1,0\n2,1,7\n");
    assert_int_equal(tern_dataset_load(&ds, "csv", tpath("c3"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("c3/train.csv:3: more than 2 columns, the header has 2", NULL);
    write_text(tpath("c3/train.csv"), "age,label\n1\n");
    assert_int_equal(tern_dataset_load(&ds, "csv", tpath("c3"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("c3/train.csv:2: 1 columns, the header has 2", NULL);
    write_text(tpath("c3/train.csv"), "age,class\n1,0\n");
    assert_int_equal(tern_dataset_load(&ds, "csv", tpath("c3"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("c3/train.csv:1: no column 'label'", "dataset.label_column");
    write_text(tpath("c3/train.csv"), "age,weight,label\n1,2,0\n");
    assert_int_equal(tern_dataset_load(&ds, "csv", tpath("c3"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("c3/train.csv: 2 feature columns, but", "test.csv has 1");
    write_text(tpath("c3/train.csv"), "");
    assert_int_equal(tern_dataset_load(&ds, "csv", tpath("c3"), "train", NULL), TERN_ERR_FORMAT);
    expect_msg("c3/train.csv: empty file", NULL);
    assert_null(ds.images);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_formats), cmocka_unit_test(test_image_bad), cmocka_unit_test(test_resize_hand),
        cmocka_unit_test(test_folder_load),   cmocka_unit_test(test_folder_bad), cmocka_unit_test(test_npy_load),
        cmocka_unit_test(test_npy_bad),       cmocka_unit_test(test_csv_load),   cmocka_unit_test(test_csv_bad),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
