/* Portable micro-kernels: the canonical slot/lane order of cpu.h in plain C
 * (fmaf is the correctly rounded fused multiply-add the SIMD paths use). */
#include <math.h>

#include "backends/cpu/cpu.h"

static float weight(const ld_weight *w, int n, long e) {
    switch (w->fmt) {
    case LD_WF_F32: return ((const float *)w->data)[(long)n * w->k + e];
    case LD_WF_BF16: return ld_bf16_to_f32(((const ld_bf16 *)w->data)[(long)n * w->k + e]);
    case LD_WF_FP4: {
        uint8_t b = ((const uint8_t *)w->data)[(long)n * (w->k / 2) + e / 2];
        return ld_fp4_to_f32(e & 1 ? b >> 4 : b & 15) * cpu_e8m0[w->scale[(long)n * w->scale_cols + e / 32]];
    }
    default:
        return ld_fp8_to_f32(((const uint8_t *)w->data)[(long)n * w->k + e]) *
               cpu_e8m0[w->scale[(long)(n / 128) * w->scale_cols + e / 128]];
    }
}

static void tile(const float *x, long ldx, int mr, const ld_weight *w, int n0, int nr, float *y, long ldy) {
    float acc[CPU_MR][CPU_NR][16] = {{{0}}};
    for (long s = 0; s < w->k / 16; s++)
        for (int j = 0; j < nr; j++)
            for (int i = 0; i < 16; i++) {
                float wv = weight(w, n0 + j, cpu_elem(w->fmt, s, i));
                for (int r = 0; r < mr; r++) acc[r][j][i] = fmaf(x[r * ldx + 16 * s + i], wv, acc[r][j][i]);
            }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) y[r * ldy + j] = cpu_reduce16(acc[r][j]);
}

static void decode(const ld_weight *w, int n0, int nr, long k0, long k1, float *panel) {
    for (int j = 0; j < nr; j++)
        for (long s = k0 / 16; s < k1 / 16; s++)
            for (int i = 0; i < 16; i++)
                panel[(long)j * (k1 - k0) + 16 * s - k0 + i] = weight(w, n0 + j, cpu_elem(w->fmt, s, i));
}

static void panel_tiles(const float *x, long ldx, int m, const float *panel, long ldp, int nr, long kc, float *st,
                        int first, float *y, long ldy) {
    for (int r = 0; r < m; r++)
        for (int j = 0; j < nr; j++) {
            float *acc = st + ((r / CPU_MR) * CPU_MR * CPU_NR + (r % CPU_MR) * CPU_NR + j) * 16;
            if (first)
                for (int i = 0; i < 16; i++) acc[i] = 0;
            for (long k = 0; k < kc; k += 16)
                for (int i = 0; i < 16; i++) acc[i] = fmaf(x[r * ldx + k + i], panel[j * ldp + k + i], acc[i]);
            if (y) y[r * ldy + j] = cpu_reduce16(acc);
        }
}

static void tall(const float *x8, const ld_weight *w, int n0, int nr, long k0, long k1, float *st, int first) {
    for (int j = 0; j < nr; j++)
        for (int r = 0; r < CPU_MR_TALL; r++) {
            float *acc = st + (j * CPU_MR_TALL + r) * 16;
            if (first)
                for (int i = 0; i < 16; i++) acc[i] = 0;
            for (long s = k0 / 16; s < k1 / 16; s++)
                for (int i = 0; i < 16; i++)
                    acc[i] = fmaf(x8[cpu_x8(s, r, i)], weight(w, n0 + j, cpu_elem(w->fmt, s, i)), acc[i]);
        }
}

const cpu_kernels cpu_kernels_scalar = {"scalar",
                                        {tile, tile, tile, tile, tile},
                                        {decode, decode, decode, decode, decode},
                                        panel_tiles,
                                        {tall, tall, tall, tall, tall},
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL};
