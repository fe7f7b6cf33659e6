/* folder.c — the image-folder dataset: DIR/<split>/<class>/<image>, class
 * names from the folder names in byte order, images through image.c
 * (tern/data.h says exactly what is accepted). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data_impl.h"

#define PATH_LEN 4096

/* A sorted list of names, owned. */
typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static void names_free(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_image_name(const char *s) {
    const char *dot = strrchr(s, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* The entries of dir that are directories (dirs 1) or image files (dirs 0),
 * hidden ones skipped, sorted by name. */
static tern_status list_dir(const char *dir, int dirs, name_list *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return tern_error(TERN_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    tern_status st = TERN_OK;
    struct dirent *e;
    char path[PATH_LEN];
    while (!st && (e = readdir(d)) != NULL) {
        struct stat sb;
        if (e->d_name[0] == '.') continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
            st = tern_error(TERN_ERR_ARG, "%s/%s: path too long", dir, e->d_name);
            break;
        }
        if (stat(path, &sb) != 0 || (dirs ? !S_ISDIR(sb.st_mode) : !is_image_name(e->d_name))) continue;
        if (out->n == out->cap) {
            int cap = out->cap ? 2 * out->cap : 64;
            char **v = cap < (1 << 28) ? realloc(out->v, sizeof *v * (size_t)cap) : NULL;
            if (!v) {
                st = tern_error(TERN_ERR_NOMEM, "%s: out of memory listing the directory", dir);
                break;
            }
            out->v = v, out->cap = cap;
        }
        if (!(out->v[out->n] = strdup(e->d_name))) st = tern_error(TERN_ERR_NOMEM, "%s: out of memory", dir);
        else out->n++;
    }
    closedir(d);
    if (!st && out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_name); /* v is NULL when empty */
    else names_free(out);
    return st;
}

/* The first name of a that b lacks, or NULL (both sorted). */
static const char *first_missing(const name_list *a, const name_list *b) {
    for (int i = 0; i < a->n; i++)
        if (!bsearch(&a->v[i], b->v, (size_t)b->n, sizeof *b->v, cmp_name)) return a->v[i];
    return NULL;
}

/* The classes of split: its subfolders, which must be those of the other split. */
static tern_status folder_classes(const char *dir, const char *split, name_list *classes) {
    const char *other = strcmp(split, "train") ? "train" : "test";
    char here[PATH_LEN], there[PATH_LEN];
    snprintf(here, sizeof here, "%s/%s", dir, split);
    snprintf(there, sizeof there, "%s/%s", dir, other);
    name_list o;
    tern_status st = list_dir(here, 1, classes);
    if (st) return st;
    if ((st = list_dir(there, 1, &o))) {
        names_free(classes);
        return st;
    }
    const char *miss;
    if (classes->n == 0)
        st = tern_error(TERN_ERR_FORMAT, "%s: no class folders (expected %s/CLASS/IMAGE.png)", here, here);
    else if (classes->n > TERN_DATA_MAX_CLASSES)
        st = tern_error(TERN_ERR_FORMAT, "%s: %d class folders, at most %d", here, classes->n, TERN_DATA_MAX_CLASSES);
    else if ((miss = first_missing(classes, &o)))
        st = tern_error(TERN_ERR_FORMAT, "%s: class '%s' (a folder in %s) is missing", there, miss, here);
    else if ((miss = first_missing(&o, classes)))
        st = tern_error(TERN_ERR_FORMAT, "%s: class '%s' (a folder in %s) is missing", here, miss, there);
    for (int i = 0; !st && i < classes->n; i++)
        if (strlen(classes->v[i]) >= TERN_DATA_NAME_LEN)
            st = tern_error(TERN_ERR_FORMAT, "%s/%s: a class name has at most %d characters", here, classes->v[i],
                            TERN_DATA_NAME_LEN - 1);
    names_free(&o);
    if (st) names_free(classes);
    return st;
}

/* Read image path into the dataset's sample i; the first image fixes the
 * channels and size left open in opts and allocates ds for n samples. */
static tern_status folder_image(tern_dataset *ds, const char *path, int i, int n, const tern_data_opts *o) {
    tern_image img;
    tern_status st = tern_image_read(path, &img);
    if (st == TERN_ERR_UNSUPPORTED) st = tern_error(TERN_ERR_FORMAT, "%s", tern_errmsg());
    if (st) return st;
    if (i == 0) {
        int c = o->channels ? o->channels : img.c;
        int h = o->size[0] ? o->size[0] : img.h, w = o->size[1] ? o->size[1] : img.w;
        st = tern__dataset_alloc(ds, path, n, c, h, w);
    }
    if (!st) {
        float *x = ds->images + (size_t)i * ds->c * ds->h * ds->w;  /* (c, h, w) */
        st = tern_image_convert(&img, path, ds->c, ds->h, ds->w, o->resize, x);
    }
    tern_image_free(&img);
    return st;
}

tern_status tern_folder_load(tern_dataset *ds, const char *dir, const char *split, const tern_data_opts *opts) {
    if (!ds || !dir || !split) return tern_error(TERN_ERR_ARG, "folder: NULL argument");
    if (!tern__dataset_empty(ds))
        return tern_error(TERN_ERR_ARG, "folder: dataset already holds data; tern_dataset_free() it first");
    tern_data_opts o = {0};
    if (opts) o = *opts;
    if (o.channels != 0 && o.channels != 1 && o.channels != 3)
        return tern_error(TERN_ERR_ARG, "folder: %d channels, expected 1 or 3", o.channels);
    name_list classes;
    tern_status st = folder_classes(dir, split, &classes);
    if (st) return st;
    name_list *files = calloc((size_t)classes.n, sizeof *files);
    long long total = 0;
    char path[PATH_LEN];
    if (!files) st = tern_error(TERN_ERR_NOMEM, "folder: out of memory");
    for (int k = 0; !st && k < classes.n; k++) {
        snprintf(path, sizeof path, "%s/%s/%s", dir, split, classes.v[k]);
        if (!(st = list_dir(path, 0, &files[k])) && files[k].n == 0)
            st = tern_error(TERN_ERR_FORMAT, "%s: empty class folder: no .png, .jpg or .jpeg image", path);
        if (!st && (total += files[k].n) > TERN_DATA_MAX_N)
            st = tern_error(TERN_ERR_FORMAT, "%s/%s: more than %d images", dir, split, TERN_DATA_MAX_N);
    }
    for (int k = 0, i = 0; !st && k < classes.n; k++)
        for (int j = 0; !st && j < files[k].n; j++, i++) {
            if (snprintf(path, sizeof path, "%s/%s/%s/%s", dir, split, classes.v[k], files[k].v[j]) >= (int)sizeof path)
                st = tern_error(TERN_ERR_ARG, "%s/%s/%s: path too long", dir, split, classes.v[k]);
            if (!st) st = folder_image(ds, path, i, (int)total, &o);
            if (!st) ds->labels[i] = k;
        }
    if (!st) {
        tern__dataset_set_classes(ds, (const char *const *)classes.v, classes.n);
        snprintf(ds->name, sizeof ds->name, "folder");
    }
    for (int k = 0; files && k < classes.n; k++) names_free(&files[k]);
    free(files);
    names_free(&classes);
    if (st) tern_dataset_free(ds);
    return st;
}
