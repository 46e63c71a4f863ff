/* Read-only safetensors files mapped with mmap: no weight is copied at load.
 *
 * Validation is strict because a checkpoint is untrusted input: the header
 * length must lie within the file, the header must be a JSON object, every
 * tensor must have a known dtype, a shape whose element count times the dtype
 * size equals its byte range, and a byte range inside the data section that
 * overlaps no other tensor. Every error names the file and the tensor. */
#ifndef LADDER_IO_SAFETENSORS_H
#define LADDER_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LD_DT_F32, LD_DT_F16, LD_DT_BF16, LD_DT_F8_E4M3, LD_DT_F8_E8M0,
    LD_DT_I8, LD_DT_U8, LD_DT_I16, LD_DT_I32, LD_DT_I64, LD_DT_F64, LD_DT_BOOL,
    LD_DT_COUNT
} ld_dtype;

#define LD_MAX_DIMS 8

typedef struct {
    char *name;
    ld_dtype dtype;
    int ndim;
    int64_t shape[LD_MAX_DIMS];
    int64_t numel;
    const void *data; /* points into the mapping */
    size_t nbytes;
    int file; /* index of the owning file in the checkpoint */
} ld_tensor;

typedef struct {
    char *path;
    void *map;
    size_t map_size;
    ld_tensor *tensors;
    int n_tensors;
} ld_st_file;

const char *ld_dtype_name(ld_dtype dt);
size_t ld_dtype_size(ld_dtype dt);
int ld_dtype_from_name(const char *s, ld_dtype *out);

/* Maps and validates one file. Returns 0, or -1 with ld_last_error() set. */
int ld_st_open(const char *path, ld_st_file *f);
void ld_st_close(ld_st_file *f);

#endif
