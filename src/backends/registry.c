/* The list of compiled-in backends. Adding a backend: its own folder under
 * backends/ plus one line in this table (faster ones first: the default is
 * the first usable one after ref). */
#include <stdio.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cpu/cpu_api.h"
#include "core/error.h"
#ifdef LADDER_HAVE_OPENCL
#include "backends/opencl/opencl_api.h"
#endif

static const ld_backend_ops *const backends[] = {
    &ld_backend_ref_ops,
    &ld_backend_cpu_ops,
#ifdef LADDER_HAVE_OPENCL
    &ld_backend_opencl_ops,
#endif
};

int ld_backend_count(void) { return (int)(sizeof backends / sizeof backends[0]); }
const ld_backend_ops *ld_backend_at(int i) { return i >= 0 && i < ld_backend_count() ? backends[i] : 0; }

const ld_backend_ops *ld_backend_find(const char *name) {
    for (int i = 0; i < ld_backend_count(); i++)
        if (!strcmp(backends[i]->name, name)) return (!backends[i]->probe || backends[i]->probe()) ? backends[i] : 0;
    return 0;
}

const ld_backend_ops *ld_backend_resolve(const char *name) {
    if (!name || !*name) return ld_backend_default();
    const ld_backend_ops *ops = ld_backend_find(name);
    if (ops) return ops;
    char list[256] = "";
    for (int i = 0; i < ld_backend_count(); i++) {
        if (!strcmp(backends[i]->name, name)) {
            ld_set_error("backend '%s' is built in but cannot run on this machine", name);
            return NULL;
        }
        size_t k = strlen(list);
        snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", backends[i]->name);
    }
    ld_set_error("unknown backend '%s' (available: %s)", name, list);
    return NULL;
}

/* Host backends run the whole forward pass by construction (they start
 * from the ref table); the default is a host one, since a device backend's
 * speed depends on the device it finds. */
const ld_backend_ops *ld_backend_default(void) {
    for (int i = 0; i < ld_backend_count(); i++)
        if (backends[i] != &ld_backend_ref_ops && backends[i]->mem == LD_MEM_HOST &&
            (!backends[i]->probe || backends[i]->probe()))
            return backends[i];
    return &ld_backend_ref_ops;
}
