/* fixture_text.h — read the small reference fixtures of tests/reference/fixtures
 * written by gen_fixtures.py's generate_losses and generate_one_cycle:
 * "# comment", "param NAME VALUE" and "tensor NAME NDIM D0 ... " followed by
 * prod(D) numbers. Everything is kept as double; a malformed file fails the
 * test with its name. */
#ifndef TERN_TEST_FIXTURE_TEXT_H
#define TERN_TEST_FIXTURE_TEXT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FXT_MAX 16

typedef struct fxt {
    int count;
    char name[FXT_MAX][32];
    int n[FXT_MAX];     /* values of item i (1 for a param) */
    double *v[FXT_MAX]; /* (n[i]) */
} fxt;

static void fxt_free(fxt *f) {
    for (int i = 0; i < f->count; i++) free(f->v[i]);
    memset(f, 0, sizeof *f);
}

/* Load $TERN_SOURCE_DIR/tests/reference/fixtures/<file>; 0 on success. */
static int fxt_load(const char *file, fxt *f) {
    memset(f, 0, sizeof *f);
    const char *root = getenv("TERN_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/reference/fixtures/%s", root ? root : "..", file);
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    char word[64];
    int bad = 0;
    while (!bad && fscanf(fp, " %63s", word) == 1) {
        if (word[0] == '#') {
            int ch;
            while ((ch = fgetc(fp)) != EOF && ch != '\n') {}
            continue;
        }
        int i = f->count, is_param = !strcmp(word, "param");
        if (i == FXT_MAX || (!is_param && strcmp(word, "tensor")) || fscanf(fp, " %31s", f->name[i]) != 1) {
            bad = 1;
            break;
        }
        int ndim = 0, n = 1;
        if (!is_param) {
            bad = fscanf(fp, "%d", &ndim) != 1 || ndim < 1 || ndim > 4;
            for (int d = 0, k; !bad && d < ndim; d++) {
                bad = fscanf(fp, "%d", &k) != 1 || k < 1 || k > 100000;
                n *= k;
            }
        }
        f->v[i] = bad ? NULL : malloc(sizeof(double) * (size_t)n);
        bad = bad || !f->v[i];
        for (int k = 0; !bad && k < n; k++) bad = fscanf(fp, "%lf", &f->v[i][k]) != 1;
        f->n[i] = n;
        f->count += !!f->v[i];
    }
    fclose(fp);
    if (bad) fxt_free(f);
    return bad ? -1 : 0;
}

/* Item `name`'s values (and *n their count), NULL when absent. */
static const double *fxt_get(const fxt *f, const char *name, int *n) {
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->name[i], name)) {
            if (n) *n = f->n[i];
            return f->v[i];
        }
    return NULL;
}

#endif
