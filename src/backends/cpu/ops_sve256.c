/* SVE (256-bit) variant of the attention-side cpu ops (see ops_impl.h). */
#define OPS_SUFFIX sve256
#include "backends/cpu/ops_impl.h"
