/* classify.c — libtern embedded in a program of its own: load a deploy
 * model (tern export), read one image, run it through the runtime and print
 * the most probable class.
 *
 *   classify MODEL.h5 IMAGE      IMAGE: binary PGM/PPM or raw C*H*W bytes
 *
 * Prints "class K 'NAME' p=P" and exits 0; on any error one line on stderr
 * and exit 1. Builds against an installed tern: CMakeLists.txt
 * (find_package) or Makefile (pkg-config). */
#include <stdio.h>
#include <stdlib.h>

#include <tern.h>

static int fail(const char *what) {
    fprintf(stderr, "classify: %s: %s\n", what, tern_errmsg());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: classify MODEL.h5 IMAGE\n");
        return 2;
    }
    tern_deploy model;
    tern_deploy_init(&model);
    if (tern_deploy_load(&model, argv[1])) return fail(argv[1]);

    /* One image (C,H,W), normalised as the model was trained. */
    int shape[4] = {1, model.in_shape[0], model.in_shape[1], model.in_shape[2]};
    float *x = malloc(sizeof(float) * (size_t)shape[1] * (size_t)shape[2] * (size_t)shape[3]);
    if (!x || tern_runtime_read_input(&model, argv[2], x)) {
        tern_deploy_free(&model);
        free(x);
        return x ? fail(argv[2]) : 1;
    }

    /* Plan for batch 1, activations as trained; then one forward. */
    tern_runtime rt;
    tern_tensor xt = tern_tensor_view(x, NULL, 4, shape);
    const float *logits = NULL;
    int rc = 0;
    if (tern_runtime_init(&rt, &model, 1, TERN_RUNTIME_ACT_AUTO)) {
        rc = fail("runtime");
    } else {
        if (tern_runtime_forward(&rt, &xt, &logits)) {
            rc = fail("forward");
        } else {
            float p[TERN_DATA_MAX_CLASSES];
            tern_runtime_softmax(logits, model.n_classes, p);
            int best = 0;
            for (int k = 1; k < model.n_classes; k++)
                if (p[k] > p[best]) best = k;
            printf("class %d '%s' p=%.4f\n", best, model.class_names[best], p[best]);
        }
        tern_runtime_free(&rt);
    }
    free(x);
    tern_deploy_free(&model);
    return rc;
}
