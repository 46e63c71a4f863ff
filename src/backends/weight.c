/* Weight views shared by all backends. */
#include "backends/backend.h"

ld_weight ld_weight_rows(const ld_weight *w, int r0, int rows) {
    ld_weight s = *w;
    s.n = rows;
    switch (w->fmt) {
    case LD_WF_F32: s.data = (const float *)w->data + (long)r0 * w->k; break;
    case LD_WF_BF16: s.data = (const ld_bf16 *)w->data + (long)r0 * w->k; break;
    case LD_WF_FP8:
    case LD_WF_FP8_DQ:
        s.data = (const uint8_t *)w->data + (long)r0 * w->k;
        s.scale = w->scale + (long)(r0 / 128) * w->scale_cols;
        break;
    case LD_WF_FP4:
        s.data = (const uint8_t *)w->data + (long)r0 * (w->k / 2);
        s.scale = w->scale + (long)r0 * w->scale_cols;
        break;
    }
    return s;
}
