/* Conformance entry points by backend name (conform.h): the command line
 * never sees the operator tables, so the lookup and the cpu settings it
 * used to check itself happen here. */
#include <stdio.h>
#include <string.h>

#include "backends/cpu/cpu_api.h"
#include "conform/conform.h"
#include "core/error.h"

int conform_select_backend(const char *name, const char *cpu_isa, int threads, const char **resolved) {
    if (!name || !*name) {
        name = NULL;
        for (int i = 0; i < ld_backend_count() && !name; i++)
            if (ld_backend_at(i) != &ld_backend_ref_ops) name = ld_backend_at(i)->name;
        if (!name) return ld_set_error("no backend besides ref is registered");
    }
    const ld_backend_ops *ops = ld_backend_resolve(name);
    if (!ops) return -1;
    /* the settings themselves reach the instance through the options structs */
    if (ops == &ld_backend_cpu_ops && cpu_isa && *cpu_isa && !ld_cpu_isa_usable(cpu_isa))
        return ld_set_error("cpu ISA path '%s' is unknown or not supported by this CPU (this build has: %s; this CPU runs up to %s)",
                            cpu_isa, ld_cpu_isa_list(), ld_cpu_best_isa());
    if (threads < 0) return ld_set_error("thread count %d is negative", threads);
    *resolved = ops->name;
    return 0;
}

int ld_conform_ops_named(const char *backend, const conform_opts *o, conform_report *r) {
    const ld_backend_ops *ops = ld_backend_resolve(backend);
    return ops ? ld_conform_ops(ops, o, r) : -1;
}

int ld_conform_layers_named(const char *backend, const char *dir, const conform_layer_opts *o, conform_report *r) {
    const ld_backend_ops *ops = ld_backend_resolve(backend);
    return ops ? ld_conform_layers(ops, dir, o, r) : -1;
}
