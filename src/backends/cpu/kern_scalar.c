/* Portable micro-kernels: the canonical 16-lane order in plain C (fmaf). */
#include <math.h>

#include "backends/cpu/cpu.h"

/* Decodes 16 weights of row n starting at k (k % 16 == 0). */
static void decode16(const ld_weight *w, int n, int k, float *out) {
    switch (w->fmt) {
    case LD_WF_F32:
        for (int i = 0; i < 16; i++) out[i] = ((const float *)w->data)[(long)n * w->k + k + i];
        break;
    case LD_WF_BF16:
        for (int i = 0; i < 16; i++) out[i] = ld_bf16_to_f32(((const ld_bf16 *)w->data)[(long)n * w->k + k + i]);
        break;
    case LD_WF_FP8:
    case LD_WF_FP8_DQ: {
        float s = cpu_e8m0[w->scale[(long)(n / 128) * w->scale_cols + k / 128]];
        const uint8_t *q = (const uint8_t *)w->data + (long)n * w->k + k;
        for (int i = 0; i < 16; i++) out[i] = ld_fp8_to_f32(q[i]) * s;
        break;
    }
    case LD_WF_FP4: {
        float s = cpu_e8m0[w->scale[(long)n * w->scale_cols + k / 32]];
        const uint8_t *q = (const uint8_t *)w->data + (long)n * (w->k / 2) + k / 2;
        for (int i = 0; i < 16; i++) out[i] = ld_fp4_to_f32(i & 1 ? q[i / 2] >> 4 : q[i / 2] & 15) * s;
        break;
    }
    }
}

static void tile(const float *x, long ldx, int mr, const ld_weight *w, int n0, int nr, float *y, long ldy) {
    float acc[CPU_MR][CPU_NR][16] = {{{0}}};
    float wv[16];
    for (int k = 0; k < w->k; k += 16)
        for (int j = 0; j < nr; j++) {
            decode16(w, n0 + j, k, wv);
            for (int r = 0; r < mr; r++)
                for (int i = 0; i < 16; i++) acc[r][j][i] = fmaf(x[r * ldx + k + i], wv[i], acc[r][j][i]);
        }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) y[r * ldy + j] = cpu_reduce16(acc[r][j]);
}

const cpu_kernels cpu_kernels_scalar = {"scalar", {tile, tile, tile, tile, tile}};
