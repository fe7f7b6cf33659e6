/* fuzz_ckpt.c — the training checkpoint loader, as `tern train --resume`
 * uses it.
 *
 * Input: a mode byte and a checkpoint (fuzz_util.h: odd modes fix the CRC
 * header). The harness reads its info and config text, loads that config,
 * builds the model and optimizer it describes (for the published input size
 * of its dataset), and loads the checkpoint into them with the trainer's two
 * RNGs. */
#include <stdint.h>

#include "fuzz_util.h"
#include "tern/checkpoint.h"
#include "tern/config.h"
#include "tern/nn.h"

/* Skip configs whose model would be large: the work per input must stay small. */
#define FUZZ_MAX_WIDTH 4096

static int small_enough(const tern_config *cfg) {
    for (int i = 0; i < cfg->model.n_layers; i++)
        if (cfg->model.layers[i].out > FUZZ_MAX_WIDTH) return 0;
    return cfg->model.n_layers <= 64;
}

static void load_into_model(const char *path, const tern_config *cfg) {
    int in[3];
    tern_config_input_shape(cfg, in);
    tern_model m;
    tern_optim o;
    memset(&m, 0, sizeof m);
    memset(&o, 0, sizeof o);
    if (fuzz_said("tern_model_init", tern_model_init(&m, cfg->model.layers, cfg->model.n_layers, 3, in, cfg->model.init, cfg->training.seed)) ==
            TERN_OK &&
        fuzz_said("tern_optim_init", tern_optim_init(&o, &m.params, &cfg->optimizer.cfg)) == TERN_OK) {
        tern_rng model_rng, loader_rng;
        tern_rng_seed(&model_rng, 1);
        tern_rng_seed(&loader_rng, 2);
        tern_ckpt_state ck;
        tern_ckpt_state_init(&ck, &m.params, &o);
        if (!tern_ckpt_add_rng(&ck, "model", &model_rng) && !tern_ckpt_add_rng(&ck, "loader", &loader_rng))
            fuzz_said("tern_ckpt_load", tern_ckpt_load(path, &ck));
    }
    tern_optim_free(&o);
    tern_model_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128];
    fuzz_write_h5("last.h5", data, size, path, sizeof path);
    tern_ckpt_info info;
    char *text = NULL;
    tern_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (fuzz_said("tern_ckpt_read_info", tern_ckpt_read_info(path, &info)) == TERN_OK && fuzz_said("tern_ckpt_read_config", tern_ckpt_read_config(path, &text)) == TERN_OK &&
        fuzz_said("tern_config_load_text", tern_config_load_text(&cfg, text, strlen(text), path)) == TERN_OK && small_enough(&cfg))
        load_into_model(path, &cfg);
    free(text);
    tern_config_free(&cfg);
    fuzz_h5_closed("tern_ckpt_load");
    return 0;
}
