/* aarch64 w8a8 kernels on the ARMv8.2 dot products (FEAT_DotProd): SDOT
 * multiplies s8 by s8 in groups of 4 into int32 lanes, exactly. Both
 * operands being signed, neither form needs the driver's corr: I8 weights
 * and activations go in as they are, and FP4_I8 nibbles become the signed
 * 2 * e2m1 through one TBL each, so the group sums start at zero. The 16
 * canonical lanes are four registers (kern_neon.h's v16): register j of a
 * 64-byte chunk is groups 4j .. 4j+3 of its superblock, lanes 4j .. 4j+3. */
#include <arm_neon.h>

#include "backends/cpu/cpu.h"
#include "backends/cpu/kern_neon.h"
#include "backends/w8a8.h"

/* MR activation rows against NB weight rows from n; CH chains per pair, so
 * that few pairs (decode: one row) do not wait on SDOT's latency. */
NEON_AI void i8_block(const cpu_qx *x, const int MR, const int NB, const int CH, const ld_weight *w, int n, float *y,
                      long ldy) {
    const float *sw = (const float *)(const void *)w->scale;
    long k = w->k;
    const int8_t *wr[4];
    for (int j = 0; j < NB; j++) wr[j] = (const int8_t *)w->data + (long)(n + j) * k;
    int32x4_t acc[4][4][2];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NB; j++)
            for (int h = 0; h < CH; h++) acc[r][j][h] = vdupq_n_s32(0);
    /* k is a multiple of 32: each step takes 16 bytes per chain */
    for (long i = 0; i < k; i += 16 * CH)
        for (int h = 0; h < CH; h++) {
            int8x16_t wv[4];
            for (int j = 0; j < NB; j++) wv[j] = vld1q_s8(wr[j] + i + 16 * h);
            for (int r = 0; r < MR; r++) {
                int8x16_t xv = vld1q_s8(x->q + r * x->ldq + i + 16 * h);
                for (int j = 0; j < NB; j++) acc[r][j][h] = vdotq_s32(acc[r][j][h], xv, wv[j]);
            }
        }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NB; j++) {
            int32x4_t a = CH == 2 ? vaddq_s32(acc[r][j][0], acc[r][j][1]) : acc[r][j][0];
            y[r * ldy + j] = (float)vaddvq_s32(a) * (x->s[r] * sw[n + j]);
        }
}

/* Weight rows in blocks of NB: each activation load serves NB of them. */
NEON_AI void i8_rows(const cpu_qx *x, const int MR, const ld_weight *w, int n0, int n1, float *y, long ldy) {
    const int NB = MR <= 2 ? 4 : 2, CH = MR * NB >= 8 ? 1 : 2;
    int n = n0;
    for (; n + NB <= n1; n += NB) i8_block(x, MR, NB, CH, w, n, y + n - n0, ldy);
    for (; n < n1; n++) i8_block(x, MR, 1, 2, w, n, y + n - n0, ldy);
}

CPU_W8A8_ENTRY(i8, i8_rows)

NEON_AI void fp4_rows(const cpu_qx *x, const int MR, const ld_weight *w, int n0, int n1, float *y, long ldy) {
    static const int8_t T[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const int8x16_t tab = vld1q_s8(T);
    const uint8x16_t m4 = vdupq_n_u8(15);
    /* a chain per nibble half while the rows are few (the integer sums are
       exact, so the split does not matter); four rows have chains enough,
       and their 16 fp32 lanes each fill the register file */
    const int CH = MR <= 2 ? 2 : 1;
    long k = w->k, groups = k / 32;
    for (int n = n0; n < n1; n++) {
        const uint8_t *wr = (const uint8_t *)w->data + (long)n * (k / 2), *sr = w->scale + (long)n * w->scale_cols;
        v16 facc[4];
        for (int r = 0; r < MR; r++) facc[r] = V_ZERO();
        for (long t = 0; t * 16 < groups; t++) {
            long G = groups - 16 * t < 16 ? groups - 16 * t : 16;
            uint8_t pad[256], spad[16];
            const uint8_t *p = wr + 256 * t, *sp = sr + 16 * t;
            if (G < 16) {
                cpu_fp4i8_pad(p, sp, G, pad, spad);
                p = pad, sp = spad;
            }
            /* 2^(e - 127) as the float bits e << 23 (w8a8.h) */
            uint8x16_t sb = vld1q_u8(sp);
            uint16x8_t s0 = vmovl_u8(vget_low_u8(sb)), s1 = vmovl_high_u8(sb);
            float32x4_t sc[4] = {vreinterpretq_f32_u32(vshlq_n_u32(vmovl_u16(vget_low_u16(s0)), 23)),
                                 vreinterpretq_f32_u32(vshlq_n_u32(vmovl_high_u16(s0), 23)),
                                 vreinterpretq_f32_u32(vshlq_n_u32(vmovl_u16(vget_low_u16(s1)), 23)),
                                 vreinterpretq_f32_u32(vshlq_n_u32(vmovl_high_u16(s1), 23))};
            const int8_t *xt = x->xp + LD_FP4I8_SB * t;
            for (int j = 0; j < 4; j++) {
                int32x4_t acc[4][2];
                for (int r = 0; r < MR; r++)
                    for (int h = 0; h < CH; h++) acc[r][h] = vdupq_n_s32(0);
                for (int c = 0; c < 4; c++) {
                    uint8x16_t wv = vld1q_u8(p + 64 * c + 16 * j);
                    int8x16_t lo = vqtbl1q_s8(tab, vandq_u8(wv, m4));
                    int8x16_t hi = vqtbl1q_s8(tab, vshrq_n_u8(wv, 4));
                    for (int r = 0; r < MR; r++) {
                        const int8_t *xq = xt + r * x->ldp + 128 * c + 16 * j;
                        acc[r][0] = vdotq_s32(acc[r][0], lo, vld1q_s8(xq));
                        acc[r][CH - 1] = vdotq_s32(acc[r][CH - 1], hi, vld1q_s8(xq + 64));
                    }
                }
                for (int r = 0; r < MR; r++) {
                    int32x4_t d = CH == 2 ? vaddq_s32(acc[r][0], acc[r][1]) : acc[r][0];
                    facc[r].q[j] = vfmaq_f32(facc[r].q[j], vcvtq_f32_s32(d), sc[j]);
                }
            }
        }
        for (int r = 0; r < MR; r++) y[r * ldy + n - n0] = neon_reduce(facc[r]) * (0.5f * x->s[r]);
    }
}

CPU_W8A8_ENTRY(fp4i8, fp4_rows)

const cpu_w8a8_kernels cpu_w8a8_dotprod = {"dotprod", i8, fp4i8, cpu_w8a8_prep};
