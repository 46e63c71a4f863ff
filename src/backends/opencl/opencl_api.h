/* The OpenCL backend's table (device memory kind). */
#ifndef LADDER_BACKENDS_OPENCL_API_H
#define LADDER_BACKENDS_OPENCL_API_H

#include "backends/backend.h"

extern const ld_backend_ops ld_backend_opencl_ops;

#endif
