/* fuzz_cifar.c — the CIFAR-10 binary reader and the class-name file.
 *
 * Input: a data_batch_1.bin, optionally followed by "TERNMETA" and the text
 * of batches.meta.txt; read through tern_dataset_load as `tern train` reads
 * a cifar10 directory, then the statistics and normalisation. */
#include <stdint.h>

#include "fuzz_util.h"
#include "tern/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t split = fuzz_find(data, size, 0, "TERNMETA", 8);
    char batch[128], meta[128];
    fuzz_write("data_batch_1.bin", data, split, batch, sizeof batch);
    snprintf(meta, sizeof meta, "%s/batches.meta.txt", fuzz_dir());
    if (split < size)
        fuzz_write("batches.meta.txt", data + split + 8, size - split - 8, meta, sizeof meta);
    else
        remove(meta);
    tern_dataset ds;
    tern_dataset_init(&ds);
    if (fuzz_said("tern_dataset_load", tern_dataset_load(&ds, "cifar10", fuzz_dir(), "train", NULL)) == TERN_OK) {
        tern_norm norm = {.mode = TERN_NORM_COMPUTE};
        if (tern_dataset_stats(&ds, norm.mean, norm.std) == TERN_OK) tern_dataset_normalize(&ds, &norm);
    }
    tern_dataset_free(&ds);
    return 0;
}
