/* Public facts about the cpu backend (its instances are made through
 * ld_backend_create with ld_backend_opts.isa / .threads). */
#ifndef LADDER_BACKENDS_CPU_API_H
#define LADDER_BACKENDS_CPU_API_H

#include "backends/backend.h"

extern const ld_backend_ops ld_backend_cpu_ops;

/* "avx512", "avx2" or "scalar": the best path this CPU runs. */
const char *ld_cpu_best_isa(void);
/* 1 when isa names a path this CPU can run. */
int ld_cpu_isa_usable(const char *isa);
/* The path and thread count of a cpu instance. */
const char *ld_cpu_instance_isa(const ld_backend *be);
int ld_cpu_instance_threads(const ld_backend *be);

#endif
