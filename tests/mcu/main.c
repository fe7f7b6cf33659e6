/* main.c — an exported tern model (tern export --format c) on a Cortex-M4F:
 * classifies the MNIST test images embedded in images.h and prints, per
 * image, the line `tern eval MODEL.h5 --logits` prints for it,
 *
 *     i label pred h0 h1 ... h(C-1)      (hj: logit j's float bits in hex)
 *
 * so tests/mcu/run.sh can cmp the two; then one footprint line:
 *
 *     footprint stack_predict B stack_peak B heap B io B fz 0 arena B
 *
 * stack_predict: the stack tern_model_normalize and tern_model_predict used
 * at their deepest (the stack is repainted before each image); stack_peak:
 * the whole program's; heap: what newlib took (stdio); io: this program's
 * input and logits buffers; fz: the FPSCR's flush-to-zero bit, which must
 * stay 0 (IEEE denormals, as on the host); arena: the buffers the export
 * says the model needs (TERN_MODEL_RAM_BYTES). Returns 1 when fz is set. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "images.h"
#include "model.h"

#if defined(__FAST_MATH__)
#error "tern's C export must not be built with -ffast-math: the logits would not be tern eval's"
#endif

/* The embedded images are the model's input size (a negative array otherwise). */
typedef char tern_mcu_image_size_check[TERN_MCU_IMAGE_BYTES == TERN_MODEL_IN_SIZE ? 1 : -1];

static float input[TERN_MODEL_IN_SIZE];   /* (C, H, W) */
static float logits[TERN_MODEL_N_CLASSES];

int main(void) {
    size_t stack_predict = 0;
    for (int i = 0; i < TERN_MCU_N_IMAGES; i++) {
        const uintptr_t sp = tern_mcu_sp();
        tern_mcu_stack_repaint();
        tern_model_normalize(tern_mcu_images + (size_t)i * TERN_MCU_IMAGE_BYTES, input);
        const int pred = tern_model_predict(input, logits);
        const size_t used = sp - tern_mcu_stack_low();
        if (used > stack_predict) stack_predict = used;
        printf("%d %d %d", i, tern_mcu_labels[i], pred);
        for (int j = 0; j < TERN_MODEL_N_CLASSES; j++) {
            uint32_t u;
            memcpy(&u, &logits[j], sizeof u);
            printf(" %08" PRIx32, u);
        }
        printf("\n");
    }
    const int fz = tern_mcu_fpscr_fz();
    printf("footprint stack_predict %u stack_peak %u heap %u io %u fz %d arena %u\n", (unsigned)stack_predict,
           (unsigned)tern_mcu_stack_peak(), (unsigned)tern_mcu_heap_used(), (unsigned)(sizeof input + sizeof logits),
           fz, (unsigned)TERN_MODEL_RAM_BYTES);
    return fz != 0;
}
