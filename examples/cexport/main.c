/* main.c — a model exported as C (`tern export MODEL --format c -o DIR`)
 * in a program of its own: read one image, classify it, print the class
 * and the logits. Only this file does I/O; DIR's files need nothing but
 * the C standard headers.
 *
 *   cc -std=c99 -O2 -I DIR DIR/model.c DIR/tern_run.c main.c -lm -o classify_c
 *   ./classify_c IMAGE          IMAGE: exactly C*H*W raw bytes, or a binary PGM (P5)
 *
 * Prints "class K 'NAME'" and the logits; on any error one line on stderr
 * and exit 1. */
#include <stdio.h>
#include <string.h>

#include "model.h"

/* The C*H*W pixel bytes of a raw file of exactly that size, or of a P5 PGM
 * of the model's size with maxval 255. */
static int read_pixels(FILE *f, uint8_t *pix) {
    char magic[3] = {0};
    int w, h, maxval;
    if (fread(magic, 1, 2, f) == 2 && !strcmp(magic, "P5")) {
        if (fscanf(f, "%d %d %d", &w, &h, &maxval) != 3 || w != TERN_MODEL_IN_W || h != TERN_MODEL_IN_H ||
            maxval != 255 || TERN_MODEL_IN_C != 1 || fgetc(f) == EOF)
            return -1;
        return fread(pix, 1, TERN_MODEL_IN_SIZE, f) == TERN_MODEL_IN_SIZE ? 0 : -1;
    }
    rewind(f);
    return fread(pix, 1, TERN_MODEL_IN_SIZE, f) == TERN_MODEL_IN_SIZE && fgetc(f) == EOF ? 0 : -1;
}

int main(int argc, char **argv) {
    static uint8_t pix[TERN_MODEL_IN_SIZE];
    static float x[TERN_MODEL_IN_SIZE];
    float logits[TERN_MODEL_N_CLASSES];
    if (argc != 2) {
        fprintf(stderr, "usage: classify_c IMAGE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    int bad = !f || read_pixels(f, pix);
    if (f) fclose(f);
    if (bad) {
        fprintf(stderr, "classify_c: %s: not %d raw bytes or a %dx%d P5 PGM\n", argv[1], TERN_MODEL_IN_SIZE,
                TERN_MODEL_IN_W, TERN_MODEL_IN_H);
        return 1;
    }
    tern_model_normalize(pix, x);
    int k = tern_model_predict(x, logits);
    if (k < 0) {
        fprintf(stderr, "classify_c: %s: the model's input holds a NaN or Inf\n", argv[1]);
        return 1;
    }
    printf("class %d '%s'\nlogits", k, tern_model_class_names[k]);
    for (int j = 0; j < TERN_MODEL_N_CLASSES; j++) printf(" %.6g", logits[j]);
    printf("\n");
    return 0;
}
