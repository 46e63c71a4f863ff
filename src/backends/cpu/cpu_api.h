/* Public facts about the cpu backend (its instances are made through
 * ld_backend_create with ld_backend_opts.isa / .threads). */
#ifndef LADDER_BACKENDS_CPU_API_H
#define LADDER_BACKENDS_CPU_API_H

#include "backends/backend.h"

extern const ld_backend_ops ld_backend_cpu_ops;

/* The ISA paths this build has, best first: avx512, avx2, scalar on x86-64;
 * sve256, asimdfhm, neon, scalar on aarch64; scalar elsewhere. */
int ld_cpu_isa_count(void);
const char *ld_cpu_isa_at(int i);
/* The same as one string ("avx512, avx2, scalar"), for messages. */
const char *ld_cpu_isa_list(void);
/* 1 when this build has a path called isa. */
int ld_cpu_isa_known(const char *isa);
/* The best path this CPU runs. */
const char *ld_cpu_best_isa(void);
/* 1 when isa names a path of this build that this CPU can run. */
int ld_cpu_isa_usable(const char *isa);
/* The path and thread count of a cpu instance. */
const char *ld_cpu_instance_isa(const ld_backend *be);
int ld_cpu_instance_threads(const ld_backend *be);

#endif
