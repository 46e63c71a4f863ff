/* Shared helpers of the kernels: addressing, number formats, reductions.
 * Built with -DWG=<work-group size> (a power of two) and, where the device
 * offers it, correctly rounded division and sqrt. Contraction is off so each
 * product and sum rounds separately; fma() is written where fusing is meant. */
#pragma OPENCL FP_CONTRACT OFF

/* Every buffer argument is a (base, byte offset) pair: device addresses
 * handed out by alloc() are one cl_mem each plus an offset into it. */
#define BUF(n) __global uchar *n##_b, ulong n##_o
#define P(T, n) ((__global T *)(n##_b + n##_o))

/* bf16: round to nearest even of the upper half, quiet NaN kept a NaN. */
ushort f2bf(float f) {
    uint u = as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ushort)(u >> 16);
}
float bf2f(ushort h) { return as_float((uint)h << 16); }
float rbf(float f) { return bf2f(f2bf(f)); }

/* 2^e as a float, e in [-126, 127]: exact. */
float pow2i(int e) { return as_float((uint)(e + 127) << 23); }

float e8m0(uchar b) {
    if (b == 255) return NAN;
    return b ? as_float((uint)b << 23) : as_float(0x00400000u);
}

float fp8_val(uchar b) {
    uint ex = (b >> 3) & 15, m = b & 7;
    float v;
    if (ex == 15 && m == 7) return NAN;
    if (ex == 0) v = (float)m * 0.001953125f;
    else v = as_float(((ex + 120u) << 23) | (m << 20));
    return (b & 0x80) ? -v : v;
}

__constant float fp4_tab[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

/* The quantizers of core/numerics.c, operation for operation. */
uchar f32_to_fp8(float x) {
    if (isnan(x)) return 0x7f;
    uchar sign = signbit(x) ? 0x80 : 0;
    float a = fabs(x);
    if (a >= 448.0f) return sign | 0x7e;
    if (a < 0.015625f) return sign | (uchar)rint(a * 512.0f);
    int e = (int)((as_uint(a) >> 23) & 0xff) - 127;
    float q = rint(a * pow2i(3 - e)); /* in [8,16] */
    int ex = e + 7, m = (int)q - 8;
    if (m == 8) { ex++; m = 0; }
    if (ex > 15 || (ex == 15 && m == 7)) return sign | 0x7e;
    return sign | (uchar)((ex << 3) | m);
}

uchar f32_to_fp4(float x) {
    uchar sign = signbit(x) ? 8 : 0;
    float a = fabs(x);
    uchar c;
    if (isnan(x)) c = 7;
    else if (a <= 0.25f) c = 0;
    else if (a < 0.75f) c = 1;
    else if (a <= 1.25f) c = 2;
    else if (a < 1.75f) c = 3;
    else if (a <= 2.5f) c = 4;
    else if (a < 3.5f) c = 5;
    else if (a <= 5.0f) c = 6;
    else c = 7;
    return sign | c;
}

/* Block scale exponent: 2^ceil(log2(v)) from the bits of v, with amax
 * floored and multiplied by fp32(1/qmax) as the reference kernels do. The
 * scale is a power of two, so x / s == x * 2^-e exactly. */
int pow2_ceil_exp(float v) {
    uint u = as_uint(v);
    return (int)((u >> 23) & 0xff) - 127 + ((u & 0x7fffffu) != 0);
}
int fp8_scale_exp(float amax) { return pow2_ceil_exp(fmax(amax, 0x1.a36e2ep-14f) * 0x1.24924ap-9f); }
int fp4_scale_exp(float amax) { return pow2_ceil_exp(fmax(amax, 6.0f * 0x1p-126f) * 0x1.555556p-3f); }

/* Fixed-tree reductions over the work-group; every work-item gets the result. */
float wg_sum(__local float *red, float v) {
    int l = get_local_id(0);
    red[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (l < s) red[l] += red[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Activations in an op: rows are dense unless a list names them. grp holds,
 * for E experts: counts [E], starts [E], then the row lists. */
int grp_count(__global const int *grp, int e, int E, int m) { return e >= 0 ? grp[e] : m; }
int grp_row(__global const int *grp, int e, int E, int i) { return grp[2 * E + grp[E + e] + i]; }
