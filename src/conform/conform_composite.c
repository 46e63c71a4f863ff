#include "conform/conform_harness.h"
void cf_composites(ctx_t *c) { (void)c; }
