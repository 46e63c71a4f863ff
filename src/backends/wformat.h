/* Weight formats: for each ld_wfmt, how an [n, k] weight is stored (element
 * type, packing, E8M0 block scales), what it asks of the activations, and how
 * a row slice moves its pointers. Sizing (checkpoint schema, conformance
 * buffers, traffic counts) and slicing read this one table; only kernels know
 * the arithmetic. A new format is one entry here plus its kernels. */
#ifndef LADDER_BACKENDS_WFORMAT_H
#define LADDER_BACKENDS_WFORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "io/safetensors.h"

/* Activation quantization a linear of the format implies. */
typedef enum {
    LD_ACT_NONE,     /* activations used as they come (bf16 or f32) */
    LD_ACT_FP8_1X128, /* e4m3 with one scale per 128 consecutive elements of a row */
    LD_ACT_I8_ROW     /* int8 with one fp32 scale per row (backends/w8a8.h) */
} ld_actq;

/* scale_cols of a format whose scale covers a whole row, however long */
#define LD_WF_WHOLE_ROW (1 << 30)

typedef struct {
    const char *name;    /* short name in reports: "fp8" */
    ld_dtype dtype;      /* checkpoint dtype of the data tensor */
    int elem_bytes;      /* bytes per stored element */
    int pack;            /* weight elements per stored element: data is [n, k/pack] */
    /* rows x cols of weight elements sharing one E8M0 scale; 0 x 0: no
     * scale tensor. The scale matrix of [n, k] is [ceil(n/rows), ceil(k/cols)],
     * and a row slice must start on a multiple of rows (the block height). */
    int scale_rows, scale_cols;
    int scale_bytes; /* bytes per stored scale: 1 (E8M0) or 4 (fp32) */
    ld_actq act;
} ld_wformat;

#define LD_WF_COUNT 7

const ld_wformat *ld_wformat_of(ld_wfmt f);

/* Data tensor of an [n, k] weight: [n, k/pack] elements, bytes. */
int64_t ld_wformat_data_cols(ld_wfmt f, int64_t k);
size_t ld_wformat_data_bytes(ld_wfmt f, int64_t n, int64_t k);
/* Scale matrix of an [n, k] weight; 0 x 0 when the format has none. */
void ld_wformat_scale_shape(ld_wfmt f, int64_t n, int64_t k, int64_t *rows, int64_t *cols);

/* Bytes of the scale tensor of an [n, k] weight (0 when it has none). */
size_t ld_wformat_scale_bytes(ld_wfmt f, int64_t n, int64_t k);

/* Bytes a weight occupies in the checkpoint (data + scales). */
double ld_weight_bytes(const ld_weight *w);

#endif
