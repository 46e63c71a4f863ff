/* ARMv8.0-A AdvSIMD micro-kernels (kern_neon.h); the same slot layout and
 * lane order as every other path, so the bits equal them. */
#include "backends/cpu/kern_neon.h"

#define KERNELS_VAR cpu_kernels_neon
#define KERNELS_NAME "neon"
#include "backends/cpu/tile_template.h"
