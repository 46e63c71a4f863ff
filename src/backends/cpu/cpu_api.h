/* Public knobs of the cpu backend. */
#ifndef LADDER_BACKENDS_CPU_API_H
#define LADDER_BACKENDS_CPU_API_H

#include "backends/backend.h"

extern const ld_backend_ops ld_backend_cpu_ops;

/* isa: "avx512", "avx2", "scalar" or NULL for the best available;
 * threads <= 0: all online CPUs. Not thread-safe; call before running. */
int ld_cpu_configure(const char *isa, int threads);
const char *ld_cpu_isa(void);
int ld_cpu_threads(void);

#endif
