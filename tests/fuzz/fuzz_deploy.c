/* fuzz_deploy.c — the deploy checkpoint loader, then the runtime on it.
 *
 * Input: a mode byte and a deploy file (fuzz_util.h: odd modes fix the CRC
 * header). A file that loads is planned for a batch of 2 and run forward on
 * a fixed input, once with the activations it was trained with and once with
 * every layer in int8, then as its fp32 twin. */
#include <stdint.h>

#include "fuzz_util.h"
#include "tern/deploy.h"
#include "tern/export.h"
#include "tern/runtime.h"
#include "tern/tensor.h"

/* Keep one input's work small: the runtime's cost grows with the model. */
#define FUZZ_MAX_INPUT (1 << 14)

static void forward(const tern_deploy *d, tern_runtime_act act) {
    int batch = 2;
    size_t numel = (size_t)d->in_shape[0] * d->in_shape[1] * d->in_shape[2];
    if (!numel || numel > FUZZ_MAX_INPUT) return;
    float *x = malloc(batch * numel * sizeof *x);
    if (!x) abort();
    for (size_t i = 0; i < batch * numel; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    tern_runtime rt;
    if (fuzz_said("tern_runtime_init", tern_runtime_init(&rt, d, batch, act)) == TERN_OK) {
        int shape[4] = {batch, d->in_shape[0], d->in_shape[1], d->in_shape[2]};
        tern_tensor t = tern_tensor_view(x, NULL, 4, shape);
        const float *logits = NULL;
        fuzz_said("tern_runtime_forward", tern_runtime_forward(&rt, &t, &logits));
        tern_runtime_free(&rt);
    }
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128];
    fuzz_write_h5("model.tern", data, size, path, sizeof path);
    tern_deploy d;
    tern_deploy_init(&d);
    if (fuzz_said("tern_deploy_load", tern_deploy_load(&d, path)) == TERN_OK) {
        forward(&d, TERN_RUNTIME_ACT_AUTO);
        forward(&d, TERN_RUNTIME_ACT_I8);
        tern_deploy f;
        tern_deploy_init(&f);
        if (fuzz_said("tern_deploy_to_fp32", tern_deploy_to_fp32(&d, &f)) == TERN_OK) forward(&f, TERN_RUNTIME_ACT_F32);
        tern_deploy_free(&f);
    }
    tern_deploy_free(&d);
    fuzz_h5_closed("tern_deploy_load");
    return 0;
}
