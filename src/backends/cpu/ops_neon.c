/* AdvSIMD variant of the attention-side cpu ops (see ops_impl.h). */
#define OPS_SUFFIX neon
#include "backends/cpu/ops_impl.h"
