/* dsp_twin.c — the Cortex-M DSP row kernel (tern_pt_row_i8_dsp,
 * src/portable/tern_portable_dsp.h) against its portable twin
 * (tern_pt_row_i8_c), bit for bit, on the board: rows of 1 to 9 blocks in
 * tile order (1 to 8 rows a group), K at and off multiples of 128 (q zero
 * from K on), random codes at several sparsities, rows all 0, all +1, all
 * -1, q random and at +-127. Prints one line; exits 1 on the first
 * mismatch, naming it. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tern_portable.h"

#if !defined(__ARM_FEATURE_DSP) || defined(TERN_PT_NO_DSP)
#error "dsp_twin.c tests the DSP kernel: build for a core with the DSP extension (-mcpu=cortex-m4)"
#endif

#define MAX_BLOCKS 9
#define MAX_GROUP 8

static uint32_t rng = 0x2545f491u;
static uint32_t next(void) { /* xorshift32 */
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static uint8_t tile[MAX_GROUP * MAX_BLOCKS * TERN_PT_BLOCK_BYTES]; /* (kblocks, h rows, 32) */
static int8_t q[MAX_BLOCKS * TERN_PT_BLOCK];

/* Weight k of row r (of h rows interleaved) in the tile: code w + 1. */
static void put(int h, int r, int k, int w) {
    uint8_t *blk = tile + ((size_t)(k / TERN_PT_BLOCK) * h + r) * TERN_PT_BLOCK_BYTES;
    const int e = k % TERN_PT_BLOCK, sh = 2 * (e / TERN_PT_BLOCK_BYTES);
    blk[e % TERN_PT_BLOCK_BYTES] = (uint8_t)((blk[e % TERN_PT_BLOCK_BYTES] & ~(3 << sh)) | (w + 1) << sh);
}

/* Weights of kind: 0 random with zeros one in `zeros` out of 8, 1 all 0,
 * 2 all +1, 3 all -1; q of kind: 0 random, 1 all +127, 2 all -127, 3 +-127
 * alternating; K weights of h rows, the padding zero. Returns the rows that
 * differ, after printing the first. */
static int check(int K, int h, int wkind, int zeros, int qkind) {
    const int kblocks = (K + TERN_PT_BLOCK - 1) / TERN_PT_BLOCK;
    for (int r = 0; r < h; r++)
        for (int k = 0; k < kblocks * TERN_PT_BLOCK; k++) {
            int w = 0;
            if (k < K) {
                if (wkind == 0) w = (int)(next() % 8) < zeros ? 0 : (next() & 1 ? 1 : -1);
                else w = wkind == 1 ? 0 : wkind == 2 ? 1 : -1;
            }
            put(h, r, k, w);
        }
    for (int k = 0; k < kblocks * TERN_PT_BLOCK; k++) {
        int v = qkind == 0 ? (int)(next() % 255) - 127 : qkind == 1 ? 127 : qkind == 2 ? -127 : (k & 1 ? 127 : -127);
        q[k] = (int8_t)(k < K ? v : 0);
    }
    const size_t bstride = (size_t)h * TERN_PT_BLOCK_BYTES;
    int bad = 0;
    for (int r = 0; r < h; r++) {
        int32_t pc, nc, pd, nd;
        const uint8_t *row = tile + (size_t)r * TERN_PT_BLOCK_BYTES;
        tern_pt_row_i8_c(row, bstride, kblocks, q, &pc, &nc);
        tern_pt_row_i8_dsp(row, bstride, kblocks, q, &pd, &nd);
        if (pc != pd || nc != nd) {
            if (!bad)
                printf("dsp_twin: K %d, row %d of %d, weights %d/%d, q %d: DSP P %ld N %ld, C P %ld N %ld\n", K, r, h,
                       wkind, zeros, qkind, (long)pd, (long)nd, (long)pc, (long)nc);
            bad++;
        }
    }
    return bad;
}

int main(void) {
    static const int Ks[] = {1, 3, 31, 32, 33, 100, 127, 128, 129, 255, 256, 300, 512, 777, 784, 1024, 1100, 1152};
    long rows = 0;
    int bad = 0;
    for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; i++)
        for (int h = 1; h <= MAX_GROUP; h += 3)
            for (int qkind = 0; qkind < 4; qkind++) {
                for (int zeros = 0; zeros <= 8; zeros += 2) bad += check(Ks[i], h, 0, zeros, qkind), rows += h;
                for (int wkind = 1; wkind <= 3; wkind++) bad += check(Ks[i], h, wkind, 0, qkind), rows += h;
            }
    printf("dsp_twin: %ld rows, %d differ\n", rows, bad);
    return bad != 0;
}
