/* ref attention-side ops: sparse attention with sink, compressor pooling,
 * lightning-indexer scores, top-k, SwiGLU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"

#define ATTN_BLOCK 64

void ld_ref_sparse_attn(const ld_bf16 *q, int h, int d, const ld_bf16 *const *kv, int n, const float *sink,
                        float scale, ld_bf16 *out) {
    double *pv = malloc(sizeof(double) * (size_t)d);
    float *acc = malloc(sizeof(float) * (size_t)d);
    float s[ATTN_BLOCK], p[ATTN_BLOCK];
    for (int hh = 0; hh < h; hh++) {
        const ld_bf16 *qh = q + (long)hh * d;
        float m = -INFINITY, l = 0;
        memset(acc, 0, sizeof(float) * (size_t)d);
        for (int b0 = 0; b0 < n; b0 += ATTN_BLOCK) {
            int bn = n - b0 < ATTN_BLOCK ? n - b0 : ATTN_BLOCK;
            float bmax = -INFINITY;
            for (int j = 0; j < bn; j++) {
                const ld_bf16 *k = kv[b0 + j];
                if (!k) { s[j] = -INFINITY; continue; }
                double dot = 0;
                for (int i = 0; i < d; i++) dot += (double)ld_bf16_to_f32(qh[i]) * (double)ld_bf16_to_f32(k[i]);
                s[j] = (float)dot * scale;
                bmax = fmaxf(bmax, s[j]);
            }
            float m_new = fmaxf(m, bmax);
            if (m_new == -INFINITY) continue; /* nothing visible yet: state stays empty */
            float alpha = ld_expf(m - m_new);
            double psum = 0;
            for (int j = 0; j < bn; j++) {
                p[j] = kv[b0 + j] ? ld_expf(s[j] - m_new) : 0.0f;
                psum += p[j];
            }
            l = l * alpha + (float)psum;
            memset(pv, 0, sizeof(double) * (size_t)d);
            for (int j = 0; j < bn; j++) {
                if (!kv[b0 + j]) continue;
                double pb = ld_round_bf16(p[j]);
                for (int i = 0; i < d; i++) pv[i] += pb * (double)ld_bf16_to_f32(kv[b0 + j][i]);
            }
            for (int i = 0; i < d; i++) acc[i] = acc[i] * alpha + (float)pv[i];
            m = m_new;
        }
        l += ld_expf(sink[hh] - m);
        for (int i = 0; i < d; i++) out[(long)hh * d + i] = ld_f32_to_bf16(acc[i] / l);
    }
    free(pv);
    free(acc);
}

void ld_ref_compress_pool(const float *kv, const float *score, int rows, int d, int ld, float *out) {
    float *e = malloc(sizeof(float) * (size_t)rows);
    for (int c = 0; c < d; c++) {
        float mx = -INFINITY;
        for (int r = 0; r < rows; r++) mx = fmaxf(mx, score[(long)r * ld + c]);
        double se = 0;
        for (int r = 0; r < rows; r++) {
            e[r] = ld_expf(score[(long)r * ld + c] - mx);
            se += e[r];
        }
        float fse = (float)se;
        double acc = 0;
        for (int r = 0; r < rows; r++) acc += (double)(kv[(long)r * ld + c] * (e[r] / fse));
        out[c] = (float)acc;
    }
    free(e);
}

void ld_ref_indexer_scores(const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys, int n, float *out) {
    for (int i = 0; i < n; i++) {
        const ld_bf16 *k = keys + (long)i * d;
        double tot = 0;
        for (int hh = 0; hh < h; hh++) {
            double dot = 0;
            for (int j = 0; j < d; j++) dot += (double)ld_bf16_to_f32(q[(long)hh * d + j]) * (double)ld_bf16_to_f32(k[j]);
            float sc = ld_round_bf16((float)dot);
            if (sc < 0) sc = 0;
            tot += ld_round_bf16(sc * ld_bf16_to_f32(w[hh]));
        }
        out[i] = ld_round_bf16((float)tot);
    }
}

void ld_ref_topk(const float *s, int n, int k, int *idx) {
    /* selection by repeated scan: k and n are small in the reference use */
    char *taken = calloc((size_t)(n ? n : 1), 1);
    for (int t = 0; t < k; t++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!taken[i] && (best < 0 || s[i] > s[best])) best = i;
        idx[t] = best;
        if (best >= 0) taken[best] = 1;
    }
    free(taken);
}

void ld_ref_swiglu(const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight, ld_bf16 *out) {
    for (int i = 0; i < n; i++) {
        float gv = ld_bf16_to_f32(g[i]), uv = ld_bf16_to_f32(u[i]);
        if (limit > 0) {
            uv = fminf(fmaxf(uv, -limit), limit);
            gv = fminf(gv, limit);
        }
        float a = ld_siluf(gv) * uv;
        out[i] = ld_f32_to_bf16(weight * a);
    }
}
