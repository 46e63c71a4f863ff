/* Weight format paths chosen at load (ld_load_opts.formats). The checkpoint
 * stays as shipped; what the forward pass reads is converted once, on the
 * host, before the backend places it.
 *
 * bf16: every FP8 and FP4 linear becomes its exact bf16 dequantization. An
 * e4m3 value has 4 significant bits and an e2m1 value 2; an E8M0 scale is a
 * power of two, so value x scale is exact in bf16 (8 significant bits, fp32's
 * exponent range) unless it leaves that range, which is checked. The
 * weights then take the BF16 linear's arithmetic: activations are used as
 * they come, not quantized to FP8 (a BF16 matrix unit takes bf16), which is
 * the accuracy cost the path has.
 *
 * w8a8 (backends/w8a8.h): FP8 linears become int8 with one scale per output
 * row, FP4 experts keep their bits in the FP4_I8 layout; both then take
 * int8 activations with one scale per token (per row of the linear's
 * input). wo_a, which the reference multiplies as its bf16 dequantization,
 * becomes int8 too, as every linear does on an INT8 matrix unit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/w8a8.h"
#include "core/error.h"
#include "core/numerics.h"
#include "model/model.h"
#include "model/schema.h"

/* value x 2^e, exact as long as it stays a normal bf16 (or zero) */
static int dequant_one(float v, float scale, ld_bf16 *out) {
    float x = v * scale;
    if (v != 0 && (x == 0 || !isfinite(x) || ld_round_bf16(x) != x)) return -1;
    *out = ld_f32_to_bf16(x);
    return 0;
}

int ld_weight_to_bf16(const ld_weight *w, ld_bf16 *out) {
    const uint8_t *d = w->data, *s = w->scale;
    long n = w->n, k = w->k;
    for (long r = 0; r < n; r++)
        for (long c = 0; c < k; c++) {
            float v, sc;
            if (w->fmt == LD_WF_FP4) {
                uint8_t b = d[r * (k / 2) + c / 2];
                v = ld_fp4_to_f32(c % 2 ? b >> 4 : b & 15);
                sc = ld_e8m0_to_f32(s[r * w->scale_cols + c / 32]);
            } else {
                v = ld_fp8_to_f32(d[r * k + c]);
                sc = ld_e8m0_to_f32(s[(r / 128) * w->scale_cols + c / 128]);
            }
            if (dequant_one(v, sc, &out[r * k + c]))
                return ld_set_error("weight [%ld, %ld]: element (%ld, %ld) = %g x %g is not exact in bf16", n, k, r, c,
                                    (double)v, (double)sc);
        }
    return 0;
}

typedef struct {
    ld_model *m;
    ld_formats f;
    int failed;
} converter;

/* A buffer the model frees when it is closed; NULL when out of memory. */
static void *owned_alloc(ld_model *m, size_t bytes) {
    void **np = realloc(m->owned, sizeof *np * (size_t)(m->n_owned + 1));
    if (!np) return NULL;
    m->owned = np;
    void *b = malloc(bytes ? bytes : 1);
    if (b) m->owned[m->n_owned++] = b;
    return b;
}

static int to_bf16(ld_model *m, ld_weight *w) {
    ld_bf16 *b = owned_alloc(m, sizeof(ld_bf16) * (size_t)w->n * (size_t)w->k);
    if (!b) return ld_set_error("out of memory converting to bf16");
    if (ld_weight_to_bf16(w, b)) return -1;
    *w = (ld_weight){.fmt = LD_WF_BF16, .n = w->n, .k = w->k, .data = b};
    return 0;
}

static int to_w8a8(ld_model *m, ld_weight *w) {
    size_t n = (size_t)w->n, k = (size_t)w->k;
    if (w->fmt == LD_WF_FP8 || w->fmt == LD_WF_FP8_DQ) {
        int8_t *q = owned_alloc(m, n * k);
        float *s = owned_alloc(m, sizeof(float) * n);
        if (!q || !s) return ld_set_error("out of memory converting to int8");
        if (ld_weight_to_i8(w, q, s)) return -1;
        *w = (ld_weight){.fmt = LD_WF_I8, .n = w->n, .k = w->k, .data = q, .scale = (const uint8_t *)s, .scale_cols = 1};
        return 0;
    }
    uint8_t *d = owned_alloc(m, n * k / 2), *s = owned_alloc(m, n * (size_t)w->scale_cols);
    if (!d || !s) return ld_set_error("out of memory converting to fp4i8");
    if (ld_weight_to_fp4i8(w, d, s)) return -1;
    *w = (ld_weight){.fmt = LD_WF_FP4_I8, .n = w->n, .k = w->k, .data = d, .scale = s, .scale_cols = w->scale_cols};
    return 0;
}

static int convert_one(void *ctx, const ld_schema_item *it) {
    converter *cv = ctx;
    if (!it->e->weight || it->mtp) return 0; /* MTP blocks are not run */
    ld_weight *w = ld_schema_field(cv->m, it);
    if (w->fmt != LD_WF_FP8 && w->fmt != LD_WF_FP8_DQ && w->fmt != LD_WF_FP4) return 0;
    if (cv->f == LD_FORMATS_BF16 ? to_bf16(cv->m, w) : to_w8a8(cv->m, w)) {
        ld_wrap_error("%s", it->part[0].name);
        return cv->failed = 1;
    }
    return 0;
}

int ld_model_convert(ld_model *m, ld_formats f) {
    if (f == LD_FORMATS_NATIVE) return 0;
    converter cv = {.m = m, .f = f};
    ld_schema_each(&m->cfg, convert_one, &cv);
    return cv.failed ? -1 : 0;
}
