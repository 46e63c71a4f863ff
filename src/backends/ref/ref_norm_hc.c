/* ref norms, RoPE, Hadamard and hyper-connections. Long sums are exact
 * (double) and rounded once; every other fp32 operation is a plain IEEE
 * operation in the order the official code writes it. */
#include <math.h>
#include <stdlib.h>

#include "backends/ref/ref.h"

/* rsqrt(mean(x^2) + eps) of n bf16 values; the mean multiplies the rounded
 * sum by fp32(1/n). */
static float inv_rms(const ld_bf16 *x, int n, float eps) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        double v = ld_bf16_to_f32(x[i]);
        s += v * v;
    }
    float ms = (float)s * (float)(1.0 / n);
    return ld_rsqrtf(ms + eps);
}

void ld_ref_rmsnorm(const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y) {
    for (int r = 0; r < m; r++) {
        const ld_bf16 *xr = x + (long)r * n;
        float rs = inv_rms(xr, n, eps);
        for (int i = 0; i < n; i++)
            y[(long)r * n + i] = ld_f32_to_bf16(ld_bf16_to_f32(w[i]) * (ld_bf16_to_f32(xr[i]) * rs));
    }
}

/* The official code normalizes q with bf16 tensor ops, so every
 * intermediate is rounded to bf16. */
void ld_ref_head_rmsnorm(ld_bf16 *q, int n_heads, int hd, float eps) {
    for (int h = 0; h < n_heads; h++) {
        ld_bf16 *v = q + (long)h * hd;
        double s = 0;
        for (int i = 0; i < hd; i++) {
            float x = ld_bf16_to_f32(v[i]);
            s += ld_round_bf16(x * x);
        }
        float mean = ld_round_bf16((float)s * (float)(1.0 / hd));
        float r = ld_round_bf16(ld_rsqrtf(ld_round_bf16(mean + eps)));
        for (int i = 0; i < hd; i++) v[i] = ld_f32_to_bf16(ld_bf16_to_f32(v[i]) * r);
    }
}

void ld_ref_rope(ld_bf16 *x, int n_vec, int stride, const float *cs, const float *sn, int n_pairs, int inverse) {
    for (int v = 0; v < n_vec; v++) {
        ld_bf16 *p = x + (long)v * stride;
        for (int i = 0; i < n_pairs; i++) {
            float a = ld_bf16_to_f32(p[2 * i]), b = ld_bf16_to_f32(p[2 * i + 1]);
            float c = cs[i], d = inverse ? -sn[i] : sn[i];
            /* complex product without fused multiply-add */
            float ac = a * c, bd = b * d, ad = a * d, bc = b * c;
            p[2 * i] = ld_f32_to_bf16(ac - bd);
            p[2 * i + 1] = ld_f32_to_bf16(ad + bc);
        }
    }
}

void ld_ref_hadamard(ld_bf16 *x, int m, int n) {
    double *t = malloc(sizeof(double) * (size_t)n);
    float sc = (float)(1.0 / sqrt((double)n));
    for (int r = 0; r < m; r++) {
        ld_bf16 *v = x + (long)r * n;
        for (int i = 0; i < n; i++) t[i] = ld_bf16_to_f32(v[i]);
        /* butterflies on doubles are exact: sums of +-bf16 values of n<=2^14 terms */
        for (int len = 1; len < n; len <<= 1)
            for (int i = 0; i < n; i += 2 * len)
                for (int j = i; j < i + len; j++) {
                    double a = t[j], b = t[j + len];
                    t[j] = a + b;
                    t[j + len] = a - b;
                }
        for (int i = 0; i < n; i++) v[i] = ld_f32_to_bf16((float)t[i] * sc);
    }
    free(t);
}

/* mixes[j] = fp32(dot(x, fn_j)) * rsqrt(mean(x^2)+eps) over the hc*d stream concat. */
static void hc_mixes(const ld_bf16 *h, const float *fn, int nmix, int len, float norm_eps, float *mix) {
    float rs = inv_rms(h, len, norm_eps);
    for (int j = 0; j < nmix; j++) {
        double s = 0;
        for (int i = 0; i < len; i++) s += (double)ld_bf16_to_f32(h[i]) * (double)fn[(long)j * len + i];
        mix[j] = (float)s * rs;
    }
}

/* y = bf16(sum_j pre[j] * stream_j), products in fp32, exact sum. */
static void hc_reduce(const ld_bf16 *h, const float *pre, int d, int hc, ld_bf16 *y) {
    for (int i = 0; i < d; i++) {
        double s = 0;
        for (int j = 0; j < hc; j++) s += (double)(pre[j] * ld_bf16_to_f32(h[(long)j * d + i]));
        y[i] = ld_f32_to_bf16((float)s);
    }
}

static void sinkhorn(float *c, int hc, int iters, float eps) {
    for (int j = 0; j < hc; j++) {
        float *row = c + j * hc, mx = row[0];
        for (int k = 1; k < hc; k++) mx = fmaxf(mx, row[k]);
        double s = 0;
        for (int k = 0; k < hc; k++) { row[k] = ld_expf(row[k] - mx); s += row[k]; }
        float fs = (float)s;
        for (int k = 0; k < hc; k++) row[k] = row[k] / fs + eps;
    }
    for (int it = 0; it < iters; it++) {
        if (it > 0)
            for (int j = 0; j < hc; j++) {
                double s = 0;
                for (int k = 0; k < hc; k++) s += c[j * hc + k];
                float den = (float)s + eps;
                for (int k = 0; k < hc; k++) c[j * hc + k] = c[j * hc + k] / den;
            }
        for (int k = 0; k < hc; k++) {
            double s = 0;
            for (int j = 0; j < hc; j++) s += c[j * hc + k];
            float den = (float)s + eps;
            for (int j = 0; j < hc; j++) c[j * hc + k] = c[j * hc + k] / den;
        }
    }
}

float ld_ref_inv_rms(const ld_bf16 *x, int n, float eps) { return inv_rms(x, n, eps); }

void ld_ref_hc_pre_finish(const ld_bf16 *hr, const float *mix, const float *scale, const float *base, int d, int hc,
                          int iters, float hc_eps, ld_bf16 *y, float *post, float *comb) {
    float pre[64];
    for (int j = 0; j < hc; j++) {
        pre[j] = ld_sigmoidf(mix[j] * scale[0] + base[j]) + hc_eps;
        post[j] = 2.0f * ld_sigmoidf(mix[hc + j] * scale[1] + base[hc + j]);
    }
    for (int j = 0; j < hc * hc; j++) comb[j] = mix[2 * hc + j] * scale[2] + base[2 * hc + j];
    sinkhorn(comb, hc, iters, hc_eps);
    hc_reduce(hr, pre, d, hc, y);
}

void ld_ref_hc_head_finish(const ld_bf16 *hr, const float *mix, const float *scale, const float *base, int d, int hc,
                           float hc_eps, ld_bf16 *y) {
    float pre[64];
    for (int j = 0; j < hc; j++) pre[j] = ld_sigmoidf(mix[j] * scale[0] + base[j]) + hc_eps;
    hc_reduce(hr, pre, d, hc, y);
}

void ld_ref_hc_pre(const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d, int hc,
                   int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb) {
    int nmix = (2 + hc) * hc;
    float *mix = malloc(sizeof(float) * (size_t)nmix);
    for (int r = 0; r < m; r++) {
        const ld_bf16 *hr = h + (long)r * hc * d;
        hc_mixes(hr, fn, nmix, hc * d, norm_eps, mix);
        ld_ref_hc_pre_finish(hr, mix, scale, base, d, hc, iters, hc_eps, y + (long)r * d, post + r * hc,
                             comb + (long)r * hc * hc);
    }
    free(mix);
}

void ld_ref_hc_post(const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m, int d, int hc,
                    ld_bf16 *out) {
    for (int r = 0; r < m; r++) {
        const float *c = comb + (long)r * hc * hc;
        const ld_bf16 *rr = res + (long)r * hc * d;
        for (int j = 0; j < hc; j++)
            for (int i = 0; i < d; i++) {
                double s = 0;
                for (int k = 0; k < hc; k++) s += (double)(c[k * hc + j] * ld_bf16_to_f32(rr[(long)k * d + i]));
                float px = post[r * hc + j] * ld_bf16_to_f32(x[(long)r * d + i]);
                out[((long)r * hc + j) * d + i] = ld_f32_to_bf16(px + (float)s);
            }
    }
}

void ld_ref_hc_head(const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d, int hc,
                    float norm_eps, float hc_eps, ld_bf16 *y) {
    float mix[64];
    for (int r = 0; r < m; r++) {
        const ld_bf16 *hr = h + (long)r * hc * d;
        hc_mixes(hr, fn, hc, hc * d, norm_eps, mix);
        ld_ref_hc_head_finish(hr, mix, scale, base, d, hc, hc_eps, y + (long)r * d);
    }
}
