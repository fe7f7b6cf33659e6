/* fuzz_config.c — the YAML config loader and --set overrides.
 *
 * Input: YAML text, then optionally NUL-separated --set assignments
 * ("training.epochs=3\0model.layers.0.out=8"), applied in order. A config
 * that loads must also survive tern_config_to_yaml and load back from that
 * text to the same YAML (config.h promises the round trip); anything else
 * aborts, which libFuzzer reports as a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tern/config.h"

static void round_trip(const tern_config *cfg) {
    char *y1 = NULL, *y2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (tern_config_to_yaml(cfg, &y1, &n1)) return;
    tern_config back;
    if (tern_config_load_text(&back, y1, n1, "fuzz.yaml")) {
        fprintf(stderr, "round trip: the resolved config does not load back: %s\n---\n%s", tern_errmsg(), y1);
        abort();
    }
    if (!tern_config_to_yaml(&back, &y2, &n2) && (n1 != n2 || memcmp(y1, y2, n1))) {
        fprintf(stderr, "round trip: the config changed when loaded back\n--- first\n%s--- second\n%s", y1, y2);
        abort();
    }
    free(y1);
    free(y2);
    tern_config_free(&back);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    const char *text = (const char *)data;
    size_t yaml_len = strnlen(text, size);
    tern_config cfg;
    if (tern_config_load_text(&cfg, text, yaml_len, "fuzz.yaml") == TERN_OK) {
        size_t at = yaml_len + 1;
        for (int i = 0; i < 8 && at < size; i++) {
            size_t n = strnlen(text + at, size - at);
            char *set = strndup(text + at, n);
            if (!set) abort();
            tern_config_set(&cfg, set);
            free(set);
            at += n + 1;
        }
        round_trip(&cfg);
    }
    tern_config_free(&cfg);
    return 0;
}
