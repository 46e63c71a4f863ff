/* scalar variant of the attention-side cpu ops (see ops_impl.h). */
#define OPS_SUFFIX scalar
#include "backends/cpu/ops_impl.h"
