/* The weight-format table and the weight views every backend shares. */
#include "backends/wformat.h"

_Static_assert(LD_WF_FP4_I8 + 1 == LD_WF_COUNT, "one FORMATS entry per ld_wfmt");

static const ld_wformat FORMATS[LD_WF_COUNT] = {
    [LD_WF_F32] = {"f32", LD_DT_F32, 4, 1, 0, 0, 0, LD_ACT_NONE},
    [LD_WF_BF16] = {"bf16", LD_DT_BF16, 2, 1, 0, 0, 0, LD_ACT_NONE},
    [LD_WF_FP8] = {"fp8", LD_DT_F8_E4M3, 1, 1, 128, 128, 1, LD_ACT_FP8_1X128},
    /* the same storage, multiplied as its exact bf16 dequantization */
    [LD_WF_FP8_DQ] = {"fp8dq", LD_DT_F8_E4M3, 1, 1, 128, 128, 1, LD_ACT_NONE},
    /* e2m1 two per byte, element 2j in the low nibble; safetensors calls the bytes I8 */
    [LD_WF_FP4] = {"fp4", LD_DT_I8, 1, 2, 1, 32, 1, LD_ACT_FP8_1X128},
    [LD_WF_I8] = {"i8", LD_DT_I8, 1, 1, 1, LD_WF_WHOLE_ROW, 4, LD_ACT_I8_ROW},
    [LD_WF_FP4_I8] = {"fp4i8", LD_DT_I8, 1, 2, 1, 32, 1, LD_ACT_I8_ROW},
};

const ld_wformat *ld_wformat_of(ld_wfmt f) { return &FORMATS[f]; }

int64_t ld_wformat_data_cols(ld_wfmt f, int64_t k) { return k / FORMATS[f].pack; }

size_t ld_wformat_data_bytes(ld_wfmt f, int64_t n, int64_t k) {
    return (size_t)n * (size_t)ld_wformat_data_cols(f, k) * (size_t)FORMATS[f].elem_bytes;
}

void ld_wformat_scale_shape(ld_wfmt f, int64_t n, int64_t k, int64_t *rows, int64_t *cols) {
    const ld_wformat *F = &FORMATS[f];
    *rows = F->scale_rows ? (n + F->scale_rows - 1) / F->scale_rows : 0;
    *cols = F->scale_cols ? (k + F->scale_cols - 1) / F->scale_cols : 0;
}

size_t ld_wformat_scale_bytes(ld_wfmt f, int64_t n, int64_t k) {
    int64_t r, c;
    ld_wformat_scale_shape(f, n, k, &r, &c);
    return (size_t)(r * c) * (size_t)FORMATS[f].scale_bytes;
}

double ld_weight_bytes(const ld_weight *w) {
    const ld_wformat *F = &FORMATS[w->fmt];
    double data = (double)w->n * w->k / F->pack * F->elem_bytes;
    if (!F->scale_rows) return data;
    return data + (double)((w->n + F->scale_rows - 1) / F->scale_rows) * w->scale_cols * F->scale_bytes;
}

ld_weight ld_weight_rows(const ld_weight *w, int r0, int rows) {
    const ld_wformat *F = &FORMATS[w->fmt];
    ld_weight s = *w;
    s.n = rows;
    s.data = (const uint8_t *)w->data + (long)r0 * (w->k / F->pack) * F->elem_bytes;
    if (F->scale_rows) s.scale = w->scale + (long)(r0 / F->scale_rows) * w->scale_cols * F->scale_bytes;
    return s;
}
