/* The w8a8 path's scalar definitions (w8a8.h): activation quantization and
 * the conversions from the checkpoint's FP8 and FP4 weights. */
#include <math.h>
#include <string.h>

#include "backends/w8a8.h"
#include "core/error.h"

static int8_t q_of(float v) {
    float r = rintf(v);
    if (r > LD_W8A8_QMAX) r = LD_W8A8_QMAX;
    if (r < -LD_W8A8_QMAX) r = -LD_W8A8_QMAX;
    return (int8_t)r;
}

float ld_w8a8_quant_row(const float *x, long k, int8_t *q) {
    float amax = 0;
    int bad = 0;
    for (long i = 0; i < k; i++) {
        float a = fabsf(x[i]);
        bad |= !(a <= 3.4028235e38f); /* Inf or NaN */
        amax = a > amax ? a : amax;
    }
    if (bad || amax == 0) {
        for (long i = 0; i < k; i++) q[i] = 0;
        return bad ? NAN : 0.0f;
    }
    float s = amax / LD_W8A8_QMAX;
    for (long i = 0; i < k; i++) q[i] = q_of(x[i] / s);
    return s;
}

float ld_fp4i8_scale(uint8_t e) {
    uint32_t u = (uint32_t)e << 23;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int32_t ld_w8a8_dot_i8(const int8_t *q, const int8_t *w, long k) {
    int32_t d = 0; /* |d| <= k * 127^2: exact below k = 2^17 */
    for (long i = 0; i < k; i++) d += q[i] * w[i];
    return d;
}

float ld_w8a8_dot_fp4(const int8_t *q, const uint8_t *w, const uint8_t *scales, long k) {
    float lane[16] = {0};
    for (long g = 0; g < k / 32; g++) {
        int32_t d = 0;
        for (long i = g * 32; i < g * 32 + 32; i++) {
            int hi;
            uint8_t b = w[ld_fp4i8_byte(k, i, &hi)];
            d += q[i] * ld_fp4_twice(hi ? b >> 4 : b & 15);
        }
        lane[g % 16] = fmaf((float)d, ld_fp4i8_scale(scales[g]), lane[g % 16]);
    }
    return ld_w8a8_tree16(lane);
}

int ld_weight_to_i8(const ld_weight *w, int8_t *q, float *scales) {
    const uint8_t *d = w->data;
    long k = w->k;
    for (long r = 0; r < w->n; r++) {
        const uint8_t *s = w->scale + (r / 128) * w->scale_cols;
        float amax = 0;
        for (long c = 0; c < k; c++) {
            float v = fabsf(ld_fp8_to_f32(d[r * k + c]) * ld_e8m0_to_f32(s[c / 128]));
            if (!(v <= 3.4028235e38f))
                return ld_set_error("weight [%d, %d]: element (%ld, %ld) is not finite", w->n, w->k, r, c);
            amax = v > amax ? v : amax;
        }
        float sw = amax / LD_W8A8_QMAX;
        scales[r] = sw;
        for (long c = 0; c < k; c++)
            q[r * k + c] = sw == 0 ? 0 : q_of(ld_fp8_to_f32(d[r * k + c]) * ld_e8m0_to_f32(s[c / 128]) / sw);
    }
    return 0;
}

int ld_weight_to_fp4i8(const ld_weight *w, uint8_t *data, uint8_t *scales) {
    const uint8_t *d = w->data;
    long k = w->k, groups = k / 32;
    if (k % 32) return ld_set_error("weight [%d, %d]: k is not a multiple of 32", w->n, w->k);
    for (long r = 0; r < w->n; r++) {
        const uint8_t *src = d + r * (k / 2);
        uint8_t *dst = data + r * (k / 2);
        for (long g = 0; g < groups; g++) {
            uint8_t e = w->scale[r * w->scale_cols + g];
            int zero = 1;
            for (int p = 0; p < 16; p++) zero &= (src[g * 16 + p] & 0x77) == 0; /* +-0 nibbles */
            if (e == 0 || e == 255) {
                if (!zero)
                    return ld_set_error("weight [%d, %d]: row %ld, group %ld has scale byte %d (%s), which the w8a8 "
                                        "path cannot take",
                                        w->n, w->k, r, g, e, e ? "NaN" : "2^-127, below fp32's normal range");
                e = 1;
            }
            scales[r * w->scale_cols + g] = e;
            for (int p = 0; p < 16; p++) {
                int hi;
                dst[ld_fp4i8_byte(k, g * 32 + 2 * p, &hi)] = src[g * 16 + p];
            }
        }
    }
    return 0;
}
