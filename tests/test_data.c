/* test_data.c — dataset readers, normalisation, augmentation, batching.
 *
 * Small synthetic idx (plain and gzip) and CIFAR-10 files are written to a
 * temporary directory and read back; values are checked against the bytes
 * written, normalisation against hand-computed numbers and a naive double
 * loop, augmentation against a pad-crop-flip reference built step by step.
 * The real MNIST / Fashion-MNIST / CIFAR-10 files are checked when present
 * (datasets/fetch.sh), against facts published about them; else skipped. */
#define _DEFAULT_SOURCE    /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tern.h"
#include "tmpdir.h"


/* ---- helpers ------------------------------------------------------------ */

static const char *tpath(const char *name) {
    static char buf[8][512];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        if (n) assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        if (n) assert_int_equal(fwrite(data, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
}

static void put_be32(unsigned char *b, uint32_t v) {
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* An idx3 images file (n, h, w) of pix; `cut` bytes removed from the end. */
static void write_idx_images(const char *path, int gz, uint32_t magic, int n, int h, int w, const unsigned char *pix,
                             size_t cut) {
    size_t size = 16 + (size_t)n * h * w;
    unsigned char *b = malloc(size);
    assert_non_null(b);
    put_be32(b, magic);
    put_be32(b + 4, (uint32_t)n);
    put_be32(b + 8, (uint32_t)h);
    put_be32(b + 12, (uint32_t)w);
    memcpy(b + 16, pix, (size_t)n * h * w);
    write_file(path, b, size - cut, gz);
    free(b);
}

static void write_idx_labels(const char *path, int gz, uint32_t magic, int n, const unsigned char *lab, size_t cut) {
    size_t size = 8 + (size_t)n;
    unsigned char *b = malloc(size);
    assert_non_null(b);
    put_be32(b, magic);
    put_be32(b + 4, (uint32_t)n);
    memcpy(b + 8, lab, (size_t)n);
    write_file(path, b, size - cut, gz);
    free(b);
}

/* Deterministic bytes that use the whole 0..255 range. */
static void fill_bytes(unsigned char *b, size_t n, uint64_t seed) {
    tern_rng r;
    tern_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)tern_rng_below(&r, 256);
}

static void fill_labels(unsigned char *b, int n, uint64_t seed) {
    tern_rng r;
    tern_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) b[i] = (unsigned char)tern_rng_below(&r, 10);
}

/* The last error message must contain both strings. */
static void expect_msg(const char *a, const char *b) {
    const char *m = tern_errmsg();
    if (!strstr(m, a) || (b && !strstr(m, b))) {
        print_error("message \"%s\" lacks \"%s\"%s%s%s\n", m, a, b ? " or \"" : "", b ? b : "", b ? "\"" : "");
        fail();
    }
}

static int setup(void **state) {
    (void)state;
    return tmpdir_make("data");
}

/* ---- idx ---------------------------------------------------------------- */

static void check_idx_roundtrip(int gz, int n, int h, int w, const char *img, const char *lab) {
    unsigned char *pix = malloc((size_t)n * h * w), labels[64];
    assert_non_null(pix);
    fill_bytes(pix, (size_t)n * h * w, 11 + (uint64_t)n);
    fill_labels(labels, n, 5);
    write_idx_images(tpath(img), gz, 0x803, n, h, w, pix, 0);
    write_idx_labels(tpath(lab), gz, 0x801, n, labels, 0);

    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_idx_load(&ds, tpath(img), tpath(lab)), TERN_OK);
    assert_int_equal(ds.n, n);
    assert_int_equal(ds.c, 1);
    assert_int_equal(ds.h, h);
    assert_int_equal(ds.w, w);
    assert_int_equal(ds.n_classes, 10);
    assert_string_equal(ds.class_names[0], "0");
    assert_string_equal(ds.class_names[9], "9");
    assert_int_equal(ds.normalized, 0);
    for (size_t i = 0; i < (size_t)n * h * w; i++) assert_true(fabs(ds.images[i] - pix[i] / 255.0) < 1e-7);
    for (int i = 0; i < n; i++) assert_int_equal(ds.labels[i], labels[i]);
    tern_dataset_free(&ds);
    assert_null(ds.images);
    free(pix);
}

static void test_idx_plain(void **state) {
    (void)state;
    check_idx_roundtrip(0, 5, 3, 7, "p-img", "p-lab");
}

static void test_idx_gzip(void **state) {
    (void)state;
    check_idx_roundtrip(1, 9, 28, 28, "g-img.gz", "g-lab.gz");
    check_idx_roundtrip(1, 1, 2, 3, "g1-img.gz", "g1-lab.gz");  /* batch of one */
}

/* The directory layout of tern_dataset_load: standard names, .gz or not. */
static void test_load_mnist_layout(void **state) {
    (void)state;
    const char *dir = tpath("mnist");
    assert_int_equal(mkdir(dir, 0755), 0);
    unsigned char pix[4 * 4 * 3], lab[4] = {3, 1, 4, 1}, tlab[3] = {9, 2, 6};
    fill_bytes(pix, sizeof pix, 3);
    write_idx_images(tpath("mnist/train-images-idx3-ubyte"), 0, 0x803, 4, 4, 3, pix, 0);
    write_idx_labels(tpath("mnist/train-labels-idx1-ubyte.gz"), 1, 0x801, 4, lab, 0);
    write_idx_images(tpath("mnist/t10k-images-idx3-ubyte.gz"), 1, 0x803, 3, 4, 3, pix, 0);
    write_idx_labels(tpath("mnist/t10k-labels-idx1-ubyte.gz"), 1, 0x801, 3, tlab, 0);

    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_dataset_load(&ds, "mnist", dir, "train", NULL), TERN_OK);
    assert_string_equal(ds.name, "mnist");
    assert_int_equal(ds.n, 4);
    assert_int_equal(ds.labels[2], 4);
    assert_true(fabs(ds.images[47] - pix[47] / 255.0) < 1e-7);
    tern_dataset_free(&ds);

    assert_int_equal(tern_dataset_load(&ds, "fashion-mnist", dir, "test", NULL), TERN_OK);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.labels[0], 9);
    assert_string_equal(ds.class_names[0], "T-shirt/top");
    assert_string_equal(ds.class_names[9], "Ankle boot");
    tern_dataset_free(&ds);

    /* Bad names and splits. */
    assert_int_equal(tern_dataset_load(&ds, "mnist", dir, "valid", NULL), TERN_ERR_ARG);
    expect_msg("valid", "split");
    assert_int_equal(tern_dataset_load(&ds, "imagenet", dir, "train", NULL), TERN_ERR_ARG);
    expect_msg("imagenet", "unknown dataset");
}

/* ---- CIFAR-10 ----------------------------------------------------------- */

#define REC 3073

static void make_cifar(unsigned char *rec, int n, uint64_t seed) {
    fill_bytes(rec, (size_t)n * REC, seed);
    for (int i = 0; i < n; i++) rec[(size_t)i * REC] = (unsigned char)((i * 7 + (int)seed) % 10);
}

static void check_cifar_records(const tern_dataset *ds, int first, const unsigned char *rec, int n) {
    for (int i = 0; i < n; i++) {
        const unsigned char *r = rec + (size_t)i * REC;
        assert_int_equal(ds->labels[first + i], r[0]);
        /* Record layout: 1024 R, 1024 G, 1024 B, each 32 rows of 32. */
        for (int k = 0; k < 3; k++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    float v = ds->images[(((size_t)(first + i) * 3 + k) * 32 + y) * 32 + x];
                    assert_true(fabs(v - r[1 + k * 1024 + y * 32 + x] / 255.0) < 1e-7);
                }
    }
}

static void test_cifar_files(void **state) {
    (void)state;
    unsigned char a[3 * REC], b[1 * REC];
    make_cifar(a, 3, 1);
    make_cifar(b, 1, 2);
    write_file(tpath("c-a.bin"), a, sizeof a, 0);
    write_file(tpath("c-b.bin"), b, sizeof b, 0);
    const char *paths[2] = {tpath("c-a.bin"), tpath("c-b.bin")};
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_cifar10_load(&ds, paths, 2), TERN_OK);
    assert_int_equal(ds.n, 4);
    assert_int_equal(ds.c, 3);
    assert_int_equal(ds.h, 32);
    assert_int_equal(ds.w, 32);
    assert_string_equal(ds.class_names[0], "airplane");
    assert_string_equal(ds.class_names[9], "truck");
    check_cifar_records(&ds, 0, a, 3);
    check_cifar_records(&ds, 3, b, 1);
    tern_dataset_free(&ds);
}

/* Standard names win over the glob; the glob finds partial copies. */
static void test_cifar_dir(void **state) {
    (void)state;
    unsigned char r1[2 * REC], r2[REC], rt[REC], rx[REC];
    make_cifar(r1, 2, 3);
    make_cifar(r2, 1, 4);
    make_cifar(rt, 1, 5);
    make_cifar(rx, 1, 6);
    assert_int_equal(mkdir(tpath("cstd"), 0755), 0);
    write_file(tpath("cstd/data_batch_2.bin"), r2, sizeof r2, 0);
    write_file(tpath("cstd/data_batch_1.bin"), r1, sizeof r1, 0);
    write_file(tpath("cstd/data_batch_1.extra.bin"), rx, sizeof rx, 0);  /* ignored: standard names exist */
    write_file(tpath("cstd/test_batch.bin"), rt, sizeof rt, 0);
    const char meta[] = "a0\na1\na2\na3\na4\na5\na6\na7\na8\nlast one\r\n\n";
    write_file(tpath("cstd/batches.meta.txt"), meta, sizeof meta - 1, 0);

    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_dataset_load(&ds, "cifar10", tpath("cstd"), "train", NULL), TERN_OK);
    assert_int_equal(ds.n, 3);
    check_cifar_records(&ds, 0, r1, 2);  /* batch 1 before batch 2 */
    check_cifar_records(&ds, 2, r2, 1);
    assert_string_equal(ds.class_names[0], "a0");
    assert_string_equal(ds.class_names[9], "last one");
    tern_dataset_free(&ds);

    assert_int_equal(mkdir(tpath("cpart"), 0755), 0);
    write_file(tpath("cpart/data_batch_1.first2.bin"), r1, sizeof r1, 0);
    write_file(tpath("cpart/test_batch.first1.bin"), rt, sizeof rt, 0);
    assert_int_equal(tern_dataset_load(&ds, "cifar10", tpath("cpart"), "test", NULL), TERN_OK);
    assert_int_equal(ds.n, 1);
    check_cifar_records(&ds, 0, rt, 1);
    assert_string_equal(ds.class_names[3], "cat");  /* no meta file: built-in names */
    tern_dataset_free(&ds);
    assert_int_equal(tern_dataset_load(&ds, "cifar10", tpath("cpart"), "train", NULL), TERN_OK);
    assert_int_equal(ds.n, 2);
    check_cifar_records(&ds, 0, r1, 2);
    tern_dataset_free(&ds);
}

/* ---- normalisation ------------------------------------------------------ */

static void test_normalize_hand(void **state) {
    (void)state;
    /* Pixels 0, 51, 102, 255 are 0, 0.2, 0.4, 1 after /255. By hand:
     * mean = 1.6 / 4 = 0.4; population variance = (0.16 + 0.04 + 0 + 0.36) / 4
     * = 0.14; std = sqrt(0.14) = 0.3741657387. */
    unsigned char pix[4] = {0, 51, 102, 255}, lab[2] = {0, 1};
    write_idx_images(tpath("n-img"), 0, 0x803, 2, 1, 2, pix, 0);
    write_idx_labels(tpath("n-lab"), 0, 0x801, 2, lab, 0);
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_idx_load(&ds, tpath("n-img"), tpath("n-lab")), TERN_OK);
    float mean, std;
    assert_int_equal(tern_dataset_stats(&ds, &mean, &std), TERN_OK);
    assert_true(fabs(mean - 0.4) < 1e-6);
    assert_true(fabs(std - 0.3741657387) < 1e-6);
    tern_norm norm = {.mode = TERN_NORM_COMPUTE};
    assert_int_equal(tern_dataset_normalize(&ds, &norm), TERN_OK);
    assert_int_equal(ds.normalized, 1);
    const double want[4] = {-0.4 / 0.3741657387, -0.2 / 0.3741657387, 0.0, 0.6 / 0.3741657387};
    for (int i = 0; i < 4; i++) assert_true(fabs(ds.images[i] - want[i]) < 1e-5);
    /* Twice is refused: the values would be normalised on top of normalised. */
    assert_int_equal(tern_dataset_normalize(&ds, &norm), TERN_ERR_ARG);
    expect_msg("already normalised", NULL);
    tern_dataset_free(&ds);
}

/* Three channels, given and computed, against a naive double loop on the bytes. */
static void test_normalize_channels(void **state) {
    (void)state;
    enum { N = 3 };
    unsigned char rec[N * REC];
    make_cifar(rec, N, 9);
    for (int i = 0; i < N; i++)  /* make the channels differ: G dark, B bright */
        for (int j = 0; j < 1024; j++) {
            rec[(size_t)i * REC + 1 + 1024 + j] /= 4;
            rec[(size_t)i * REC + 1 + 2048 + j] = (unsigned char)(255 - rec[(size_t)i * REC + 1 + 2048 + j] / 3);
        }
    write_file(tpath("norm.bin"), rec, sizeof rec, 0);
    const char *p = tpath("norm.bin");
    double mean[3], std[3];
    for (int k = 0; k < 3; k++) {
        double s = 0, q = 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < 1024; j++) s += rec[(size_t)i * REC + 1 + k * 1024 + j] / 255.0;
        mean[k] = s / (N * 1024);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < 1024; j++) {
                double d = rec[(size_t)i * REC + 1 + k * 1024 + j] / 255.0 - mean[k];
                q += d * d;
            }
        std[k] = sqrt(q / (N * 1024));
    }
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_cifar10_load(&ds, &p, 1), TERN_OK);
    tern_norm norm = {.mode = TERN_NORM_COMPUTE};
    assert_int_equal(tern_dataset_normalize(&ds, &norm), TERN_OK);
    for (int k = 0; k < 3; k++) {
        assert_true(fabs(ds.mean[k] - mean[k]) < 1e-6);
        assert_true(fabs(ds.std[k] - std[k]) < 1e-6);
    }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 1024; j += 37) {
                double want = (rec[(size_t)i * REC + 1 + k * 1024 + j] / 255.0 - mean[k]) / std[k];
                assert_true(fabs(ds.images[((size_t)i * 3 + k) * 1024 + j] - want) < 1e-5);
            }
    tern_dataset_free(&ds);

    /* Given statistics, as from a config. */
    tern_norm given = {.mode = TERN_NORM_GIVEN, .mean = {0.5f, 0.25f, 0.75f}, .std = {0.5f, 0.125f, 2.0f}};
    assert_int_equal(tern_cifar10_load(&ds, &p, 1), TERN_OK);
    assert_int_equal(tern_dataset_normalize(&ds, &given), TERN_OK);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 1024; j += 31) {
                double want = (rec[(size_t)i * REC + 1 + k * 1024 + j] / 255.0 - given.mean[k]) / given.std[k];
                assert_true(fabs(ds.images[((size_t)i * 3 + k) * 1024 + j] - want) < 1e-5);
            }
    tern_dataset_free(&ds);
}

static void test_normalize_errors(void **state) {
    (void)state;
    unsigned char flat[6] = {7, 7, 7, 7, 7, 7}, lab[3] = {1, 2, 3};
    write_idx_images(tpath("flat-img"), 0, 0x803, 3, 1, 2, flat, 0);
    write_idx_labels(tpath("flat-lab"), 0, 0x801, 3, lab, 0);
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_idx_load(&ds, tpath("flat-img"), tpath("flat-lab")), TERN_OK);
    tern_norm compute = {.mode = TERN_NORM_COMPUTE};
    assert_int_equal(tern_dataset_normalize(&ds, &compute), TERN_ERR_NUMERIC);
    expect_msg("channel 0", "constant");
    tern_norm zero = {.mode = TERN_NORM_GIVEN, .mean = {0.5f}, .std = {0.0f}};
    assert_int_equal(tern_dataset_normalize(&ds, &zero), TERN_ERR_ARG);
    expect_msg("std", "> 0");
    assert_int_equal(ds.normalized, 0);
    assert_true(fabs(ds.images[0] - 7 / 255.0) < 1e-7);  /* untouched by the refusals */
    tern_dataset_free(&ds);

    /* Statistics for the test split must come from the train split. */
    assert_int_equal(tern_dataset_load(&ds, "mnist", tmpdir, "test", &compute), TERN_ERR_ARG);
    expect_msg("train split", NULL);
}

/* ---- augmentation ------------------------------------------------------- */

/* The reference: pad into a (h+2p, w+2p) canvas of fill, crop the window at
 * (dy, dx), then mirror; draws taken in the documented order. */
static void naive_augment(float *dst, const float *src, int c, int h, int w, const tern_augment *aug,
                          const float *fill, tern_rng *rng, int *drew_flip, int *drew_shift) {
    int p = aug->crop_pad, ph = h + 2 * p, pw = w + 2 * p;
    int dy = p ? (int)tern_rng_below(rng, (uint32_t)(2 * p + 1)) : 0;
    int dx = p ? (int)tern_rng_below(rng, (uint32_t)(2 * p + 1)) : 0;
    int flip = aug->hflip ? tern_rng_uniform(rng) < 0.5f : 0;
    if (drew_flip) *drew_flip = flip;
    if (drew_shift) *drew_shift = dy != p || dx != p;
    float *canvas = malloc(sizeof(float) * (size_t)c * ph * pw), *crop = malloc(sizeof(float) * (size_t)c * h * w);
    assert_non_null(canvas);
    assert_non_null(crop);
    for (int k = 0; k < c; k++)
        for (int i = 0; i < ph * pw; i++) canvas[k * ph * pw + i] = fill[k];
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) canvas[(k * ph + y + p) * pw + x + p] = src[(k * h + y) * w + x];
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) crop[(k * h + y) * w + x] = canvas[(k * ph + y + dy) * pw + x + dx];
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) dst[(k * h + y) * w + x] = crop[(k * h + y) * w + (flip ? w - 1 - x : x)];
    free(canvas);
    free(crop);
}

static void test_augment_reference(void **state) {
    (void)state;
    enum { C = 3, H = 5, W = 7 };
    float src[C * H * W], got[C * H * W], want[C * H * W];
    const float fill[C] = {-1.5f, -2.0f, -0.25f};
    tern_rng r;
    tern_rng_seed(&r, 99);
    for (int i = 0; i < C * H * W; i++) src[i] = tern_rng_uniform(&r);
    const tern_augment cases[4] = {{2, 1}, {0, 1}, {3, 0}, {5, 1}};
    for (int t = 0; t < 4; t++) {
        tern_rng a, b;
        tern_rng_seed(&a, 1234 + (uint64_t)t);
        b = a;
        int flipped = 0, shifted = 0;
        for (int trial = 0; trial < 200; trial++) {
            int f, sh;
            tern_augment_sample(got, src, C, H, W, &cases[t], fill, &a);
            naive_augment(want, src, C, H, W, &cases[t], fill, &b, &f, &sh);
            assert_memory_equal(got, want, sizeof got);
            assert_memory_equal(&a, &b, sizeof a);  /* same number of draws */
            flipped += f;
            shifted += sh;
        }
        /* Both flip outcomes occurred, and some crops moved the window. */
        if (cases[t].hflip) assert_true(flipped > 0 && flipped < 200);
        if (cases[t].crop_pad) assert_true(shifted > 0);
    }
    /* Neither augmentation: a plain copy, no draws. */
    tern_rng before = r;
    const tern_augment none = {0, 0};
    tern_augment_sample(got, src, C, H, W, &none, fill, &r);
    assert_memory_equal(got, src, sizeof got);
    assert_memory_equal(&r, &before, sizeof r);
}

/* ---- batching ----------------------------------------------------------- */

/* n samples of (1,1,2) whose pixels encode the index: (i, -i); label i % 10. */
static void make_indexed(tern_dataset *ds, int n) {
    tern_dataset_init(ds);
    ds->images = malloc(sizeof(float) * 2 * (size_t)n);
    ds->labels = malloc(sizeof(int) * (size_t)n);
    assert_non_null(ds->images);
    assert_non_null(ds->labels);
    ds->n = n;
    ds->c = 1;
    ds->h = 1;
    ds->w = 2;
    ds->n_classes = 10;
    snprintf(ds->name, sizeof ds->name, "indexed");
    for (int i = 0; i < n; i++) {
        ds->images[2 * i] = (float)i;
        ds->images[2 * i + 1] = (float)-i;
        ds->labels[i] = i % 10;
    }
}

/* One epoch; order[] receives the sample indices seen; returns their count. */
static int run_epoch(tern_loader *l, int *order, int *sizes, int *nbatches) {
    float x[2 * 16];
    int y[16], count, seen = 0;
    *nbatches = 0;
    tern_loader_begin_epoch(l);
    for (;;) {
        assert_int_equal(tern_loader_next(l, x, y, &count), TERN_OK);
        if (count == 0) break;
        sizes[(*nbatches)++] = count;
        for (int i = 0; i < count; i++) {
            int s = (int)x[2 * i];
            assert_true(x[2 * i + 1] == (float)-s);  /* the sample stays whole */
            assert_int_equal(y[i], s % 10);          /* and keeps its label */
            order[seen++] = s;
        }
    }
    /* Over means over: more calls return nothing. */
    assert_int_equal(tern_loader_next(l, x, y, &count), TERN_OK);
    assert_int_equal(count, 0);
    return seen;
}

static void assert_permutation(const int *order, int n) {
    int *hit = calloc((size_t)n, sizeof(int));
    assert_non_null(hit);
    for (int i = 0; i < n; i++) {
        assert_true(order[i] >= 0 && order[i] < n);
        hit[order[i]]++;
    }
    for (int i = 0; i < n; i++) assert_int_equal(hit[i], 1);
    free(hit);
}

static void test_batching(void **state) {
    (void)state;
    enum { N = 37 };
    tern_dataset ds;
    make_indexed(&ds, N);
    int order[N], sizes[N], nb;
    tern_loader l;

    /* Kept short last batch: 8,8,8,8,5 covering every sample once, in order. */
    assert_int_equal(tern_loader_init(&l, &ds, 8, 0, NULL, 1), TERN_OK);
    assert_int_equal(tern_loader_num_batches(&l), 5);
    assert_int_equal(run_epoch(&l, order, sizes, &nb), N);
    assert_int_equal(nb, 5);
    assert_int_equal(sizes[4], 5);
    for (int i = 0; i < N; i++) assert_int_equal(order[i], i);
    tern_loader_free(&l);

    /* Dropped: 4 full batches, 32 distinct samples, every epoch. */
    assert_int_equal(tern_loader_init(&l, &ds, 8, TERN_LOADER_SHUFFLE | TERN_LOADER_DROP_LAST, NULL, 2), TERN_OK);
    assert_int_equal(tern_loader_num_batches(&l), 4);
    for (int e = 0; e < 3; e++) {
        assert_int_equal(run_epoch(&l, order, sizes, &nb), 32);
        assert_int_equal(nb, 4);
        for (int i = 0; i < 4; i++) assert_int_equal(sizes[i], 8);
        int hit[N] = {0};
        for (int i = 0; i < 32; i++) assert_int_equal(hit[order[i]]++, 0);
    }
    tern_loader_free(&l);

    /* Batch 1, and a batch larger than the dataset, kept short. */
    assert_int_equal(tern_loader_init(&l, &ds, 1, TERN_LOADER_SHUFFLE, NULL, 3), TERN_OK);
    assert_int_equal(run_epoch(&l, order, sizes, &nb), N);
    assert_int_equal(nb, N);
    assert_permutation(order, N);
    tern_loader_free(&l);
    tern_dataset_free(&ds);

    make_indexed(&ds, 1);
    assert_int_equal(tern_loader_init(&l, &ds, 16, TERN_LOADER_SHUFFLE, NULL, 4), TERN_OK);
    assert_int_equal(run_epoch(&l, order, sizes, &nb), 1);
    assert_int_equal(sizes[0], 1);
    tern_loader_free(&l);
    tern_dataset_free(&ds);
}

static void test_shuffle(void **state) {
    (void)state;
    enum { N = 37 };
    tern_dataset ds;
    make_indexed(&ds, N);
    int e1[N], e2[N], again[N], other[N], sizes[N], nb;
    tern_loader l, m;
    assert_int_equal(tern_loader_init(&l, &ds, 5, TERN_LOADER_SHUFFLE, NULL, 42), TERN_OK);
    assert_int_equal(run_epoch(&l, e1, sizes, &nb), N);
    tern_rng at_epoch2 = l.rng;
    assert_int_equal(run_epoch(&l, e2, sizes, &nb), N);
    assert_permutation(e1, N);
    assert_permutation(e2, N);
    int in_order = 1, differ = 0;
    for (int i = 0; i < N; i++) {
        in_order &= e1[i] == i;
        differ |= e1[i] != e2[i];
    }
    assert_false(in_order);  /* shuffled */
    assert_true(differ);     /* reshuffled every epoch */

    /* Same seed, same orders; another seed, another order. */
    assert_int_equal(tern_loader_init(&m, &ds, 5, TERN_LOADER_SHUFFLE, NULL, 42), TERN_OK);
    assert_int_equal(run_epoch(&m, again, sizes, &nb), N);
    assert_memory_equal(again, e1, sizeof e1);
    tern_loader_free(&m);
    assert_int_equal(tern_loader_init(&m, &ds, 5, TERN_LOADER_SHUFFLE, NULL, 43), TERN_OK);
    assert_int_equal(run_epoch(&m, other, sizes, &nb), N);
    assert_true(memcmp(other, e1, sizeof e1) != 0);
    tern_loader_free(&m);

    /* Resume: the rng saved at an epoch's start reproduces that epoch. */
    assert_int_equal(tern_loader_init(&m, &ds, 7, TERN_LOADER_SHUFFLE, NULL, 0), TERN_OK);
    m.rng = at_epoch2;
    assert_int_equal(run_epoch(&m, again, sizes, &nb), N);
    assert_memory_equal(again, e2, sizeof e2);
    tern_loader_free(&m);
    tern_loader_free(&l);
    tern_dataset_free(&ds);
}

/* The loader augments per sample with its rng, padding with a black pixel. */
static void test_loader_augments(void **state) {
    (void)state;
    unsigned char rec[5 * REC];
    make_cifar(rec, 5, 21);
    write_file(tpath("aug.bin"), rec, sizeof rec, 0);
    const char *p = tpath("aug.bin");
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_cifar10_load(&ds, &p, 1), TERN_OK);
    tern_norm norm = {.mode = TERN_NORM_GIVEN, .mean = {0.4f, 0.5f, 0.6f}, .std = {0.2f, 0.25f, 0.5f}};
    assert_int_equal(tern_dataset_normalize(&ds, &norm), TERN_OK);
    const tern_augment aug = {4, 1};
    tern_loader l;
    assert_int_equal(tern_loader_init(&l, &ds, 2, TERN_LOADER_SHUFFLE, &aug, 77), TERN_OK);
    const float black[3] = {-0.4f / 0.2f, -0.5f / 0.25f, -0.6f / 0.5f};
    for (int k = 0; k < 3; k++) assert_true(fabs(l.fill[k] - black[k]) < 1e-6);

    /* Replay: the shuffle, then the per-sample draws, from the same seed. */
    tern_rng r;
    tern_rng_seed(&r, 77);
    int order[5] = {0, 1, 2, 3, 4};
    tern_rng_shuffle(&r, order, 5);
    static float x[2 * 3072], want[3072];
    int y[2], count, at = 0;
    tern_loader_begin_epoch(&l);
    for (;;) {
        assert_int_equal(tern_loader_next(&l, x, y, &count), TERN_OK);
        if (!count) break;
        for (int i = 0; i < count; i++, at++) {
            naive_augment(want, ds.images + (size_t)order[at] * 3072, 3, 32, 32, &aug, black, &r, NULL, NULL);
            assert_int_equal(y[i], ds.labels[order[at]]);
            for (int j = 0; j < 3072; j++) assert_true(fabs(x[(size_t)i * 3072 + j] - want[j]) < 1e-6);
        }
    }
    assert_int_equal(at, 5);
    tern_loader_free(&l);
    tern_dataset_free(&ds);
}

static void test_loader_errors(void **state) {
    (void)state;
    tern_dataset ds;
    make_indexed(&ds, 10);
    tern_loader l;
    float x[2];
    int y[1], count = -1;
    assert_int_equal(tern_loader_init(&l, &ds, 0, 0, NULL, 1), TERN_ERR_ARG);
    expect_msg("batch size 0", NULL);
    assert_int_equal(tern_loader_init(&l, &ds, 11, TERN_LOADER_DROP_LAST, NULL, 1), TERN_ERR_ARG);
    expect_msg("batch 11", "drop_last");
    const tern_augment big = {3, 0};  /* images are 1x2 */
    assert_int_equal(tern_loader_init(&l, &ds, 2, 0, &big, 1), TERN_ERR_ARG);
    expect_msg("crop padding 3", NULL);
    assert_int_equal(tern_loader_init(&l, &ds, 1, 0, NULL, 1), TERN_OK);
    assert_int_equal(tern_loader_next(&l, x, y, &count), TERN_ERR_ARG);
    expect_msg("tern_loader_begin_epoch", NULL);
    assert_int_equal(count, 0);
    tern_loader_free(&l);
    tern_dataset_free(&ds);
}

/* ---- errors: each names the file and the problem ------------------------ */

static void test_err_missing_file(void **state) {
    (void)state;
    unsigned char lab[2] = {1, 2};
    write_idx_labels(tpath("m-lab"), 0, 0x801, 2, lab, 0);
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_idx_load(&ds, tpath("does-not-exist"), tpath("m-lab")), TERN_ERR_IO);
    expect_msg(tpath("does-not-exist"), "cannot open");
    assert_null(ds.images);

    /* Through the loader: names the file it looked for and how to get it. */
    assert_int_equal(mkdir(tpath("empty"), 0755), 0);
    assert_int_equal(tern_dataset_load(&ds, "fashion-mnist", tpath("empty"), "train", NULL), TERN_ERR_IO);
    expect_msg("empty/train-images-idx3-ubyte", "fetch.sh fashion-mnist");
    assert_int_equal(tern_dataset_load(&ds, "cifar10", tpath("empty"), "test", NULL), TERN_ERR_IO);
    expect_msg("test_batch.bin", "empty");
    assert_int_equal(tern_dataset_load(&ds, "cifar10", tpath("nowhere"), "train", NULL), TERN_ERR_IO);
    expect_msg("nowhere", "cannot open directory");
}

static void test_err_truncated_idx(void **state) {
    (void)state;
    unsigned char pix[4 * 3 * 3], lab[4] = {0, 1, 2, 3};
    fill_bytes(pix, sizeof pix, 8);
    write_idx_labels(tpath("t-lab"), 0, 0x801, 4, lab, 0);
    tern_dataset ds;
    tern_dataset_init(&ds);
    for (int gz = 0; gz < 2; gz++) {
        const char *img = tpath(gz ? "t-img.gz" : "t-img");
        write_idx_images(img, gz, 0x803, 4, 3, 3, pix, 5);  /* 5 pixel bytes short */
        assert_int_equal(tern_idx_load(&ds, img, tpath("t-lab")), TERN_ERR_FORMAT);
        expect_msg(img, "truncated");
        expect_msg("36 pixel bytes", "has 31");
        assert_null(ds.images);
    }
    /* A crafted header (3 images of 8196x65280: 6.4 GB as floats) on a file
     * of 50 pixel bytes is refused from the file's size, before any
     * allocation; a gzip file cannot hold more than deflate's 1032:1. */
    for (int gz = 0; gz < 2; gz++) {
        unsigned char b[16 + 50] = {0};
        put_be32(b, 0x803);
        put_be32(b + 4, 3);
        put_be32(b + 8, 8196);
        put_be32(b + 12, 65280);
        const char *img = tpath(gz ? "t-huge.gz" : "t-huge");
        write_file(img, b, sizeof b, gz);
        assert_int_equal(tern_idx_load(&ds, img, tpath("t-lab")), TERN_ERR_FORMAT);
        expect_msg(img, gz ? "more than a gzip file of" : "declares 1605104640 pixel bytes, the file has 50");
        assert_null(ds.images);
    }
    /* Cut inside the header. */
    write_idx_images(tpath("t-hdr"), 0, 0x803, 4, 3, 3, pix, 36 + 6);
    assert_int_equal(tern_idx_load(&ds, tpath("t-hdr"), tpath("t-lab")), TERN_ERR_FORMAT);
    expect_msg(tpath("t-hdr"), "truncated");
    /* Labels cut short. */
    write_idx_images(tpath("t-img2"), 0, 0x803, 4, 3, 3, pix, 0);
    write_idx_labels(tpath("t-lab2"), 1, 0x801, 4, lab, 1);
    assert_int_equal(tern_idx_load(&ds, tpath("t-img2"), tpath("t-lab2")), TERN_ERR_FORMAT);
    expect_msg(tpath("t-lab2"), "truncated");
    /* Bytes beyond what the header declares are as suspect as missing ones. */
    unsigned char longer[8 + 5] = {0, 0, 8, 1, 0, 0, 0, 4, 0, 1, 2, 3, 4};
    write_file(tpath("t-lab3"), longer, sizeof longer, 0);
    assert_int_equal(tern_idx_load(&ds, tpath("t-img2"), tpath("t-lab3")), TERN_ERR_FORMAT);
    expect_msg(tpath("t-lab3"), "trailing bytes");
    /* A corrupt gzip stream. */
    gzFile f = gzopen(tpath("t-bad.gz"), "wb");
    assert_non_null(f);
    unsigned char big[4096];
    fill_bytes(big, sizeof big, 1);
    gzwrite(f, big, sizeof big);
    gzclose(f);
    FILE *g = fopen(tpath("t-bad.gz"), "r+b");
    assert_non_null(g);
    fseek(g, 40, SEEK_SET);
    fputc(0xff, g);
    fputc(0x00, g);
    fputc(0xff, g);
    fclose(g);
    tern_status st = tern_idx_load(&ds, tpath("t-bad.gz"), tpath("t-lab"));
    assert_true(st == TERN_ERR_FORMAT || st == TERN_ERR_IO);
    expect_msg(tpath("t-bad.gz"), NULL);
    assert_null(ds.images);
}

static void test_err_wrong_magic(void **state) {
    (void)state;
    unsigned char pix[2 * 2 * 2] = {0}, lab[2] = {0, 1};
    write_idx_images(tpath("w-img"), 0, 0x803, 2, 2, 2, pix, 0);
    write_idx_labels(tpath("w-lab"), 0, 0x801, 2, lab, 0);
    tern_dataset ds;
    tern_dataset_init(&ds);
    /* Files swapped: each names the magic found and the one expected. */
    assert_int_equal(tern_idx_load(&ds, tpath("w-lab"), tpath("w-img")), TERN_ERR_FORMAT);
    expect_msg(tpath("w-lab"), "wrong magic 0x00000801");
    expect_msg("expected 0x00000803", NULL);
    write_idx_images(tpath("w-img2"), 1, 0x0803 | 0x10000, 2, 2, 2, pix, 0);
    assert_int_equal(tern_idx_load(&ds, tpath("w-img2"), tpath("w-lab")), TERN_ERR_FORMAT);
    expect_msg(tpath("w-img2"), "wrong magic 0x00010803");
    write_idx_labels(tpath("w-lab2"), 0, 0x803, 2, lab, 0);
    assert_int_equal(tern_idx_load(&ds, tpath("w-img"), tpath("w-lab2")), TERN_ERR_FORMAT);
    expect_msg(tpath("w-lab2"), "expected 0x00000801");
    assert_null(ds.images);
}

static void test_err_label_range(void **state) {
    (void)state;
    unsigned char pix[50 * 2] = {0}, lab[50];
    fill_labels(lab, 50, 2);
    lab[40] = 12;
    write_idx_images(tpath("l-img"), 0, 0x803, 50, 1, 2, pix, 0);
    write_idx_labels(tpath("l-lab"), 1, 0x801, 50, lab, 0);
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_idx_load(&ds, tpath("l-img"), tpath("l-lab")), TERN_ERR_FORMAT);
    expect_msg(tpath("l-lab"), "label 12 at index 40 is outside 0..9");
    assert_null(ds.images);

    unsigned char rec[3 * REC];
    make_cifar(rec, 3, 0);
    rec[2 * REC] = 10;
    write_file(tpath("l-cifar.bin"), rec, sizeof rec, 0);
    const char *p = tpath("l-cifar.bin");
    assert_int_equal(tern_cifar10_load(&ds, &p, 1), TERN_ERR_FORMAT);
    expect_msg(p, "label 10 at index 2 is outside 0..9");
    assert_null(ds.images);
}

static void test_err_count_mismatch(void **state) {
    (void)state;
    unsigned char pix[5 * 4] = {0}, lab[4] = {0, 1, 2, 3};
    write_idx_images(tpath("c-img"), 0, 0x803, 5, 2, 2, pix, 0);
    write_idx_labels(tpath("c-lab"), 0, 0x801, 4, lab, 0);
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_idx_load(&ds, tpath("c-img"), tpath("c-lab")), TERN_ERR_FORMAT);
    expect_msg(tpath("c-lab"), "4 labels");
    expect_msg(tpath("c-img"), "has 5 images");
    assert_null(ds.images);
}

static void test_err_cifar_size(void **state) {
    (void)state;
    unsigned char rec[2 * REC];
    make_cifar(rec, 2, 1);
    write_file(tpath("s-ok.bin"), rec, REC, 0);
    write_file(tpath("s-bad.bin"), rec, 2 * REC - 100, 0);
    const char *paths[2] = {tpath("s-ok.bin"), tpath("s-bad.bin")};
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_cifar10_load(&ds, paths, 2), TERN_ERR_FORMAT);
    expect_msg(paths[1], "size 6046 is not a multiple of the 3073-byte");
    assert_null(ds.images);
    write_file(tpath("s-empty.bin"), rec, 0, 0);
    paths[1] = tpath("s-empty.bin");
    assert_int_equal(tern_cifar10_load(&ds, paths, 2), TERN_ERR_FORMAT);
    expect_msg(paths[1], "empty");

    /* A malformed batches.meta.txt is reported, not silently replaced. */
    assert_int_equal(mkdir(tpath("cmeta"), 0755), 0);
    write_file(tpath("cmeta/test_batch.bin"), rec, REC, 0);
    write_file(tpath("cmeta/batches.meta.txt"), "a\nb\nc\n", 6, 0);
    assert_int_equal(tern_dataset_load(&ds, "cifar10", tpath("cmeta"), "test", NULL), TERN_ERR_FORMAT);
    expect_msg("cmeta/batches.meta.txt", "3 class names, expected 10");
    assert_null(ds.images);
}

/* ---- the real files, when fetched -------------------------------------- */

static const char *source_dir(void) {
    const char *s = getenv("TERN_SOURCE_DIR");
    return s ? s : ".";
}

/* Published facts: 60000/10000 images of 28x28; the first training digit
 * is a 5 and the first test digit a 7; pixel mean 0.1307, std 0.3081. */
static void test_real_mnist(void **state) {
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/datasets/data/mnist", source_dir());
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/t10k-labels-idx1-ubyte", dir);
    struct stat sb;
    if (stat(probe, &sb) != 0) {
        snprintf(probe, sizeof probe, "%s/t10k-labels-idx1-ubyte.gz", dir);
        if (stat(probe, &sb) != 0) skip();  /* not fetched: datasets/fetch.sh mnist */
    }
    tern_dataset tr, te;
    tern_dataset_init(&tr);
    tern_dataset_init(&te);
    tern_norm norm = {.mode = TERN_NORM_COMPUTE};
    assert_int_equal(tern_dataset_load(&tr, "mnist", dir, "train", &norm), TERN_OK);
    assert_int_equal(tr.n, 60000);
    assert_int_equal(tr.h, 28);
    assert_int_equal(tr.w, 28);
    assert_int_equal(tr.labels[0], 5);
    assert_true(fabs(tr.mean[0] - 0.1307) < 1e-4);
    assert_true(fabs(tr.std[0] - 0.3081) < 1e-4);
    tern_norm given = {.mode = TERN_NORM_GIVEN, .mean = {tr.mean[0]}, .std = {tr.std[0]}};
    assert_int_equal(tern_dataset_load(&te, "mnist", dir, "test", &given), TERN_OK);
    assert_int_equal(te.n, 10000);
    assert_int_equal(te.labels[0], 7);
    assert_true(fabs(te.mean[0] - tr.mean[0]) == 0.0f);
    tern_dataset_free(&tr);
    tern_dataset_free(&te);
}

/* Published: 60000/10000 images; the first training item is an ankle boot (9). */
static void test_real_fashion(void **state) {
    (void)state;
    char dir[1024], probe[1100];
    snprintf(dir, sizeof dir, "%s/datasets/data/fashion-mnist", source_dir());
    snprintf(probe, sizeof probe, "%s/train-labels-idx1-ubyte.gz", dir);
    struct stat sb;
    if (stat(probe, &sb) != 0) skip();  /* not fetched: datasets/fetch.sh fashion-mnist */
    tern_dataset ds;
    tern_dataset_init(&ds);
    assert_int_equal(tern_dataset_load(&ds, "fashion-mnist", dir, "train", NULL), TERN_OK);
    assert_int_equal(ds.n, 60000);
    assert_int_equal(ds.labels[0], 9);
    assert_string_equal(ds.class_names[ds.labels[0]], "Ankle boot");
    int hist[10] = {0};
    for (int i = 0; i < ds.n; i++) hist[ds.labels[i]]++;
    for (int k = 0; k < 10; k++) assert_int_equal(hist[k], 6000);  /* balanced by construction */
    tern_dataset_free(&ds);
}

/* The partial CIFAR-10 copy (4000 train, 1000 test records) when reachable:
 * the first training image is a frog (6), the first test image a cat (3). */
static void test_real_cifar10(void **state) {
    (void)state;
    char dirs[2][1024];
    snprintf(dirs[0], sizeof dirs[0], "%s/datasets/data/cifar10", source_dir());
    snprintf(dirs[1], sizeof dirs[1], "%s/../shared/datasets/cifar-10-batches-bin", source_dir());
    const char *dir = NULL;
    for (int i = 0; i < 2 && !dir; i++) {
        char probe[1100 + 1024];
        snprintf(probe, sizeof probe, "%s/batches.meta.txt", dirs[i]);
        struct stat sb;
        if (stat(probe, &sb) == 0) dir = dirs[i];
    }
    if (!dir) skip();
    tern_dataset tr, te;
    tern_dataset_init(&tr);
    tern_dataset_init(&te);
    assert_int_equal(tern_dataset_load(&tr, "cifar10", dir, "train", NULL), TERN_OK);
    assert_int_equal(tern_dataset_load(&te, "cifar10", dir, "test", NULL), TERN_OK);
    assert_true(tr.n % 1000 == 0 && tr.n >= 1000 && tr.n <= 50000);
    assert_true(te.n == 1000 || te.n == 10000);
    assert_int_equal(tr.labels[0], 6);
    assert_int_equal(te.labels[0], 3);
    assert_string_equal(tr.class_names[0], "airplane");
    assert_string_equal(tr.class_names[6], "frog");
    tern_dataset_free(&tr);
    tern_dataset_free(&te);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_plain),
        cmocka_unit_test(test_idx_gzip),
        cmocka_unit_test(test_load_mnist_layout),
        cmocka_unit_test(test_cifar_files),
        cmocka_unit_test(test_cifar_dir),
        cmocka_unit_test(test_normalize_hand),
        cmocka_unit_test(test_normalize_channels),
        cmocka_unit_test(test_normalize_errors),
        cmocka_unit_test(test_augment_reference),
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_loader_augments),
        cmocka_unit_test(test_loader_errors),
        cmocka_unit_test(test_err_missing_file),
        cmocka_unit_test(test_err_truncated_idx),
        cmocka_unit_test(test_err_wrong_magic),
        cmocka_unit_test(test_err_label_range),
        cmocka_unit_test(test_err_count_mismatch),
        cmocka_unit_test(test_err_cifar_size),
        cmocka_unit_test(test_real_mnist),
        cmocka_unit_test(test_real_fashion),
        cmocka_unit_test(test_real_cifar10),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
