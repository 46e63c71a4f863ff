/* ref linears: the canonical arithmetic, one output at a time.
 * Exact partial sums: products of fp8/fp4/bf16 values are exact in double
 * and a 128-term sum of them stays exact (their exponent span is small), so
 * accumulating in double and rounding once to fp32 is the exact value
 * rounded once. For fp32 x fp32 dots (hc mixes) double accumulation is exact
 * to far below fp32 resolution. */
#include <stdlib.h>

#include "backends/ref/ref.h"
#include "backends/w8a8.h"

static float weight_at(const ld_weight *w, long i) {
    if (w->fmt == LD_WF_F32) return ((const float *)w->data)[i];
    return ld_bf16_to_f32(((const ld_bf16 *)w->data)[i]);
}

/* Exact bf16 dequantization of an FP8 row: fp8 value times a power of two. */
static void fp8_row_dequant(const ld_weight *w, int r, float *out) {
    const uint8_t *q = (const uint8_t *)w->data + (long)r * w->k;
    const uint8_t *s = w->scale + (long)(r / 128) * w->scale_cols;
    for (int i = 0; i < w->k; i++) out[i] = ld_fp8_to_f32(q[i]) * ld_e8m0_to_f32(s[i / 128]);
}

/* The reference activation quantization of one row: e4m3 codes and one
 * E8M0 scale per 128-block. */
static void quant_row(const float *x, int k, uint8_t *codes, float *sa) {
    for (int b = 0; b < k / 128; b++) sa[b] = ld_quant_fp8_block(x + b * 128, 128, codes + b * 128);
}

static void linear_fp8(const ld_weight *w, const float *xf, int m, ld_bf16 *y) {
    int k = w->k, nb = k / 128;
    uint8_t *codes = malloc((size_t)k);
    float *sa = malloc(sizeof(float) * (size_t)nb);
    for (int r = 0; r < m; r++) {
        quant_row(xf + (long)r * k, k, codes, sa);
        for (int o = 0; o < w->n; o++) {
            const uint8_t *wq = (const uint8_t *)w->data + (long)o * k;
            const uint8_t *ws = w->scale + (long)(o / 128) * w->scale_cols;
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                double p = 0;
                for (int i = b * 128; i < b * 128 + 128; i++)
                    p += (double)ld_fp8_to_f32(codes[i]) * (double)ld_fp8_to_f32(wq[i]);
                acc += (float)p * (sa[b] * ld_e8m0_to_f32(ws[b]));
            }
            y[(long)r * w->n + o] = ld_f32_to_bf16(acc);
        }
    }
    free(codes);
    free(sa);
}

static void linear_fp4(const ld_weight *w, const float *xf, int m, ld_bf16 *y) {
    int k = w->k, nb = k / 128;
    uint8_t *codes = malloc((size_t)k);
    float *sa = malloc(sizeof(float) * (size_t)nb);
    for (int r = 0; r < m; r++) {
        quant_row(xf + (long)r * k, k, codes, sa);
        for (int o = 0; o < w->n; o++) {
            const uint8_t *wq = (const uint8_t *)w->data + (long)o * (k / 2);
            const uint8_t *ws = w->scale + (long)o * w->scale_cols;
            float acc = 0;
            for (int b = 0; b < k / 32; b++) {
                double p = 0;
                for (int i = b * 32; i < b * 32 + 32; i++) {
                    uint8_t byte = wq[i / 2];
                    p += (double)ld_fp8_to_f32(codes[i]) * (double)ld_fp4_to_f32(i & 1 ? byte >> 4 : byte & 15);
                }
                acc += (float)p * sa[b / 4] * ld_e8m0_to_f32(ws[b]);
            }
            y[(long)r * w->n + o] = ld_f32_to_bf16(acc);
        }
    }
    free(codes);
    free(sa);
}

/* The w8a8 forms (backends/w8a8.h): integer dot products, exact. */
static void linear_w8a8(const ld_weight *w, const float *xf, int m, ld_bf16 *y) {
    long k = w->k;
    int8_t *q = malloc((size_t)k);
    for (int r = 0; r < m; r++) {
        float s = ld_w8a8_quant_row(xf + r * k, k, q);
        for (int o = 0; o < w->n; o++) {
            float v;
            if (w->fmt == LD_WF_I8)
                v = (float)ld_w8a8_dot_i8(q, (const int8_t *)w->data + o * k, k) *
                    (s * ((const float *)(const void *)w->scale)[o]);
            else
                v = ld_w8a8_dot_fp4(q, (const uint8_t *)w->data + o * (k / 2), w->scale + (long)o * w->scale_cols, k) *
                    (0.5f * s);
            y[(long)r * w->n + o] = ld_f32_to_bf16(v);
        }
    }
    free(q);
}

static void linear_plain(const ld_weight *w, const float *xf, int m, float *y) {
    int k = w->k;
    float *row = w->fmt == LD_WF_FP8_DQ ? malloc(sizeof(float) * (size_t)k) : NULL;
    for (int o = 0; o < w->n; o++) {
        if (row) fp8_row_dequant(w, o, row);
        for (int r = 0; r < m; r++) {
            const float *x = xf + (long)r * k;
            double p = 0;
            if (row)
                for (int i = 0; i < k; i++) p += (double)x[i] * (double)row[i];
            else
                for (int i = 0; i < k; i++) p += (double)x[i] * (double)weight_at(w, (long)o * k + i);
            y[(long)r * w->n + o] = (float)p;
        }
    }
    free(row);
}

void ld_ref_linear(const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y) {
    long nx = (long)m * w->k;
    float *xf = malloc(sizeof(float) * (size_t)(nx ? nx : 1));
    for (long i = 0; i < nx; i++) xf[i] = ld_bf16_to_f32(x[i]);
    if (w->fmt == LD_WF_FP8) {
        linear_fp8(w, xf, m, y);
    } else if (w->fmt == LD_WF_FP4) {
        linear_fp4(w, xf, m, y);
    } else if (w->fmt == LD_WF_I8 || w->fmt == LD_WF_FP4_I8) {
        linear_w8a8(w, xf, m, y);
    } else {
        float *yf = malloc(sizeof(float) * (size_t)m * (size_t)w->n);
        linear_plain(w, xf, m, yf);
        for (long i = 0; i < (long)m * w->n; i++) y[i] = ld_f32_to_bf16(yf[i]);
        free(yf);
    }
    free(xf);
}

void ld_ref_linear_f32(const ld_weight *w, const float *x, int m, float *y) { linear_plain(w, x, m, y); }
