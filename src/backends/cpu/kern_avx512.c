/* The AVX-512 path: the pieces of kern_avx512.h in the shared tile
 * drivers. */
#include "backends/cpu/kern_avx512.h"

#define KERNELS_VAR cpu_kernels_avx512
#define KERNELS_NAME "avx512"
#include "backends/cpu/tile_template.h"
