/* main.c — the test program of an exported model (tests/cexport/host.sh):
 * reads images of TERN_MODEL_IN_SIZE pixel bytes from stdin until it ends,
 * and prints per image "i pred h0 h1 ...", hj the bits of logit j in hex,
 * the format of cexport_ref. The test program may do I/O; the runtime not. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

int main(void) {
    static uint8_t px[TERN_MODEL_IN_SIZE];
    static float x[TERN_MODEL_IN_SIZE];
    float z[TERN_MODEL_N_CLASSES];
    for (long i = 0; fread(px, 1, sizeof px, stdin) == sizeof px; i++) {
        tern_model_normalize(px, x);
        const int pred = tern_model_predict(x, z);
        printf("%ld %d", i, pred);
        for (int k = 0; k < TERN_MODEL_N_CLASSES; k++) {
            uint32_t b;
            memcpy(&b, &z[k], sizeof b);
            printf(" %08lx", (unsigned long)b);
        }
        printf("\n");
    }
    return 0;
}
