/* avx2 variant of the attention-side cpu ops (see ops_impl.h). */
#define OPS_SUFFIX avx2
#include "backends/cpu/ops_impl.h"
