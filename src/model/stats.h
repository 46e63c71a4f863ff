#ifndef LADDER_MODEL_STATS_H
#define LADDER_MODEL_STATS_H

#include "model/model.h"

typedef struct {
    int64_t params[LD_DT_COUNT], total_params; /* packed FP4 counts two per byte */
    uint64_t bytes[LD_DT_COUNT], total_bytes;
    double active_bytes;       /* weight bytes one decoded token reads (main layers, expected expert mix) */
    double kv_bytes_per_token; /* compressed-cache growth per token (reference bf16 layout) */
    double kv_fixed_bytes;     /* window rings */
} ld_model_stats_t;

void ld_model_stats(const ld_model *m, ld_model_stats_t *st);

#endif
