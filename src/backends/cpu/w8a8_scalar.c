/* Portable w8a8 kernels: backends/w8a8.h's arithmetic in plain C, on the
 * activations as the driver prepares them (cpu.h). */
#include <math.h>

#include "backends/cpu/cpu.h"
#include "backends/w8a8.h"

static void i8(const cpu_qx *x, int mr, const ld_weight *w, int n0, int n1, float *y, long ldy) {
    const float *sw = (const float *)(const void *)w->scale;
    for (int r = 0; r < mr; r++)
        for (int n = n0; n < n1; n++) {
            const int8_t *wq = (const int8_t *)w->data + (long)n * w->k, *q = x->q + r * x->ldq;
            int32_t d = 0;
            for (long i = 0; i < w->k; i++) d += q[i] * wq[i];
            y[r * ldy + n - n0] = (float)d * (x->s[r] * sw[n]);
        }
}

static void fp4i8(const cpu_qx *x, int mr, const ld_weight *w, int n0, int n1, float *y, long ldy) {
    long k = w->k;
    for (int r = 0; r < mr; r++)
        for (int n = n0; n < n1; n++) {
            const uint8_t *wq = (const uint8_t *)w->data + (long)n * (k / 2), *ws = w->scale + (long)n * w->scale_cols;
            const int8_t *q = x->q + r * x->ldq;
            float lane[16] = {0};
            for (long g = 0; g < k / 32; g++) {
                int32_t d = 0;
                for (long i = g * 32; i < g * 32 + 32; i++) {
                    int hi;
                    uint8_t b = wq[ld_fp4i8_byte(k, i, &hi)];
                    d += q[i] * ld_fp4_twice(hi ? b >> 4 : b & 15);
                }
                lane[g % 16] = fmaf((float)d, ld_fp4i8_scale(ws[g]), lane[g % 16]);
            }
            y[r * ldy + n - n0] = ld_w8a8_tree16(lane) * (0.5f * x->s[r]);
        }
}

const cpu_w8a8_kernels cpu_w8a8_scalar = {"scalar", i8, fp4i8, cpu_w8a8_prep};
