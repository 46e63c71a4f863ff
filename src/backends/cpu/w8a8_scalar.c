/* Portable w8a8 kernels: backends/w8a8.h's rules in plain C (the same code
 * ref runs), on the activations as the driver prepares them (cpu.h). */
#include "backends/cpu/cpu.h"
#include "backends/w8a8.h"

static void i8(const cpu_qx *x, int mr, const ld_weight *w, int n0, int n1, float *y, long ldy) {
    const float *sw = (const float *)(const void *)w->scale;
    for (int r = 0; r < mr; r++)
        for (int n = n0; n < n1; n++) {
            int32_t d = ld_w8a8_dot_i8(x->q + r * x->ldq, (const int8_t *)w->data + (long)n * w->k, w->k);
            y[r * ldy + n - n0] = (float)d * (x->s[r] * sw[n]);
        }
}

static void fp4i8(const cpu_qx *x, int mr, const ld_weight *w, int n0, int n1, float *y, long ldy) {
    for (int r = 0; r < mr; r++)
        for (int n = n0; n < n1; n++) {
            float t = ld_w8a8_dot_fp4(x->q + r * x->ldq, (const uint8_t *)w->data + (long)n * (w->k / 2),
                                      w->scale + (long)n * w->scale_cols, w->k);
            y[r * ldy + n - n0] = t * (0.5f * x->s[r]);
        }
}

const cpu_w8a8_kernels cpu_w8a8_scalar = {"scalar", i8, fp4i8, cpu_w8a8_prep};
