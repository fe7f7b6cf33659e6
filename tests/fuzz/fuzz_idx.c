/* fuzz_idx.c — the idx reader (MNIST, Fashion-MNIST), plain or gzip.
 *
 * Input: an images file followed by a labels file; the labels file starts at
 * the first labels magic (00 00 08 01) after offset 4, or is empty. Either
 * may be gzip (zlib reads both). A loaded split also goes through the
 * statistics and the normalisation the trainer applies. */
#include <stdint.h>

#include "fuzz_util.h"
#include "tern/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t labels_magic[4] = {0, 0, 8, 1};
    size_t split = fuzz_find(data, size, 4, labels_magic, 4);
    char images[128], labels[128];
    fuzz_write("images-idx3-ubyte", data, split, images, sizeof images);
    fuzz_write("labels-idx1-ubyte", data + split, size - split, labels, sizeof labels);
    tern_dataset ds;
    tern_dataset_init(&ds);
    if (fuzz_said("tern_idx_load", tern_idx_load(&ds, images, labels)) == TERN_OK) {
        tern_norm norm = {.mode = TERN_NORM_COMPUTE};
        if (tern_dataset_stats(&ds, norm.mean, norm.std) == TERN_OK) tern_dataset_normalize(&ds, &norm);
    }
    tern_dataset_free(&ds);
    return 0;
}
