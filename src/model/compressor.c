/* KV compressor (CSA r=4 with overlap, HCA without), run token by token as
 * a state machine. The reference computes prefill blocks in one batch and
 * decode steps from its state buffers; both reduce to the same per-block
 * pooling, so the state machine is bit-identical to either and makes chunked
 * prefill free.
 *
 * Overlap (r=4): state rows [0,r) hold the previous block, rows [r,2r) the
 * current one; channels [0,d) of the previous block and [d,2d) of the current
 * block are pooled together (2r rows). Rows start as kv=0, score=-inf, so
 * block 0 pools only its own tokens. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/layers.h"

static int cache_reserve(ld_comp_cache *cc, int n) {
    if (n <= cc->cap) return 0;
    int nc = cc->cap ? cc->cap : 16;
    while (nc < n) nc *= 2;
    ld_bf16 *p = realloc(cc->cache, sizeof(ld_bf16) * (size_t)nc * cc->d);
    if (!p) return ld_set_error("out of memory growing the compressed KV cache");
    cc->cache = p;
    cc->cap = nc;
    return 0;
}

/* Normalizes, rotates and quantizes a pooled entry exactly as stored by the
 * reference, then appends it. */
static int emit(const ld_call *c, const ld_compressor_w *w, ld_comp_cache *cc, const float *pooled, long block_start,
                int rotate) {
    const ld_model *m = c->m;
    const ld_backend_ops *ops = m->ops;
    int d = w->d, rd = m->cfg.rope_dim;
    if (cache_reserve(cc, cc->n + 1)) return -1;
    ld_bf16 *e = cc->cache + (long)cc->n * d;
    ld_bf16 tmp[4096];
    for (int i = 0; i < d; i++) tmp[i] = ld_f32_to_bf16(pooled[i]); /* bf16 before the norm */
    ops->rmsnorm(tmp, w->norm, 1, d, (float)m->cfg.norm_eps, e);
    float cs[2048], sn[2048];
    ld_model_rope_cos_sin(m, 1, block_start, cs, sn);
    ops->rope(e + d - rd, 1, 0, cs, sn, rd / 2, 0);
    if (rotate) {
        ops->hadamard(e, 1, d);
        ld_fp4_sim_bf16(e, d, 32);
    } else {
        ld_fp8_sim_bf16(e, d - rd, 64);
    }
    cc->n++;
    return 0;
}

int ld_compressor_project(const ld_call *c, const ld_compressor_w *w, const float *x, float **kv, float **sc) {
    int cd = (1 + w->overlap) * w->d;
    *kv = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)c->rows * cd);
    *sc = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)c->rows * cd);
    if (c->sc->failed) return ld_set_error("out of memory in the compressor");
    ld_linear_f32(c, &w->wkv, x, c->rows, *kv);
    ld_linear_f32(c, &w->wgate, x, c->rows, *sc);
    return 0;
}

int ld_compressor_run(const ld_call *c, const ld_seg *g, const ld_compressor_w *w, ld_comp_cache *cc, float *kv,
                      float *sc, int rotate) {
    const ld_backend_ops *ops = c->m->ops;
    int r = w->ratio, d = w->d, cd = (1 + w->overlap) * d, S = g->S;
    float *pk = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)2 * r * d);
    float *ps = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)2 * r * d);
    float *pooled = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)d);
    if (c->sc->failed) return ld_set_error("out of memory in the compressor");
    for (int t = 0; t < S; t++) {
        long p = g->P + t;
        int slot = (int)(p % r);
        const float *ape = w->ape + (long)slot * cd;
        float *kr = kv + (long)t * cd, *sr = sc + (long)t * cd;
        for (int i = 0; i < cd; i++) sr[i] += ape[i];
        int row = w->overlap ? r + slot : slot;
        memcpy(cc->kv_state + (long)row * cd, kr, sizeof(float) * (size_t)cd);
        memcpy(cc->sc_state + (long)row * cd, sr, sizeof(float) * (size_t)cd);
        if ((p + 1) % r) continue;
        if (w->overlap) {
            for (int j = 0; j < r; j++) {
                memcpy(pk + (long)j * d, cc->kv_state + (long)j * cd, sizeof(float) * (size_t)d);
                memcpy(ps + (long)j * d, cc->sc_state + (long)j * cd, sizeof(float) * (size_t)d);
                memcpy(pk + (long)(r + j) * d, cc->kv_state + (long)(r + j) * cd + d, sizeof(float) * (size_t)d);
                memcpy(ps + (long)(r + j) * d, cc->sc_state + (long)(r + j) * cd + d, sizeof(float) * (size_t)d);
            }
            ops->compress_pool(pk, ps, 2 * r, d, d, pooled);
            memcpy(cc->kv_state, cc->kv_state + (long)r * cd, sizeof(float) * (size_t)r * cd);
            memcpy(cc->sc_state, cc->sc_state + (long)r * cd, sizeof(float) * (size_t)r * cd);
        } else {
            ops->compress_pool(cc->kv_state, cc->sc_state, r, d, cd, pooled);
        }
        if (emit(c, w, cc, pooled, p + 1 - r, rotate)) return -1;
    }
    return 0;
}
