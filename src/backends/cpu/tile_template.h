/* The tile and panel-decode drivers shared by every SIMD path. An ISA file
 * defines a 16-lane vector type and a handful of operations on it, plus one
 * decoder per weight format, then includes this file; porting to a new ISA
 * (NEON, SVE, RVV) means writing exactly those pieces.
 *
 * Required before inclusion:
 *   v16                      16 fp32 lanes (one register or several)
 *   v16 V_ZERO(void), V_SET1(float), V_LOAD(const float *)
 *   v16 V_MUL(v16, v16), V_FMA(v16 a, v16 b, v16 acc)   (acc + a*b, fused)
 *   void V_STORE(float *, v16)
 *   void dec_f32 / dec_bf16 / dec_fp8 / dec_fp4 (const ld_weight *w, int n, long k, v16 *v):
 *        the G slots of weight row n at k (G = 2, 2, 2, 4); dec_fp8 returns
 *        e4m3 values times 2^-8 (the fp16 route), hence FP8_SCALE's 2^8
 *   KERNELS_VAR, KERNELS_NAME    the cpu_kernels object and its name */

/* Block scale of FP8 row n at k, times the 2^8 of the fp16 decode route. */
#define FP8_SCALE(n, k) (cpu_e8m0[w->scale[(long)((n) / 128) * w->scale_cols + (k) / 128]] * 256.0f)

/* One MR x NR tile, accumulators in registers; one weight row at a time
 * keeps register pressure at G + MR*NR. XS: FP8, whose power-of-two block
 * scale is applied to x (exact). */
#define TILE_FIXED(DEC, XS, G, MR, NR)                                                            \
    do {                                                                                          \
        v16 acc[MR][NR];                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) acc[r][j] = V_ZERO();            \
        for (long k = 0; k < w->k; k += 16 * G) {                                                 \
            v16 xs = V_SET1(XS ? FP8_SCALE(n0, k) : 1.0f);                                        \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) {                                \
                v16 wv[G];                                                                        \
                DEC(w, n0 + j, k, wv);                                                            \
                _Pragma("GCC unroll 4") for (int g = 0; g < G; g++)                               \
                    _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) {                        \
                    v16 xv = V_LOAD(x + r * ldx + k + 16 * g);                                    \
                    if (XS) xv = V_MUL(xv, xs);                                                   \
                    acc[r][j] = V_FMA(xv, wv[g], acc[r][j]);                                      \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        for (int r = 0; r < MR; r++)                                                              \
            for (int j = 0; j < NR; j++) {                                                        \
                float lanes[16];                                                                  \
                V_STORE(lanes, acc[r][j]);                                                        \
                y[r * ldy + j] = cpu_reduce16(lanes);                                             \
            }                                                                                     \
    } while (0)

#define DEFINE_TILE(NAME, DEC, XS, G)                                                             \
    static void NAME(const float *x, long ldx, int mr, const ld_weight *w, int n0, int nr, float *y, long ldy) { \
        if (mr == 4 && nr == 4) TILE_FIXED(DEC, XS, G, 4, 4);                                     \
        else if (mr == 1 && nr == 4) TILE_FIXED(DEC, XS, G, 1, 4);                                \
        else if (mr == 2 && nr == 4) TILE_FIXED(DEC, XS, G, 2, 4);                                \
        else if (mr == 3 && nr == 4) TILE_FIXED(DEC, XS, G, 3, 4);                                \
        else {                                                                                    \
            const float *x0 = x;                                                                  \
            float *y0 = y;                                                                        \
            int base = n0;                                                                        \
            for (int rr = 0; rr < mr; rr++)                                                       \
                for (int jj = 0; jj < nr; jj++) {                                                 \
                    x = x0 + rr * ldx;                                                            \
                    y = y0 + rr * ldy + jj;                                                       \
                    n0 = base + jj;                                                               \
                    TILE_FIXED(DEC, XS, G, 1, 1);                                                 \
                }                                                                                 \
        }                                                                                         \
    }

/* Panel decode: exact weights (FP8 scale folded in) in slot layout. */
#define DEFINE_DECODE(NAME, DEC, XS, G)                                                           \
    static void NAME(const ld_weight *w, int n0, int nr, float *panel) {                          \
        for (int j = 0; j < nr; j++)                                                              \
            for (long k = 0; k < w->k; k += 16 * G) {                                             \
                v16 v[G];                                                                         \
                DEC(w, n0 + j, k, v);                                                             \
                v16 s = V_SET1(XS ? FP8_SCALE(n0 + j, k) : 1.0f);                                 \
                for (int g = 0; g < G; g++) V_STORE(panel + (long)j * w->k + k + 16 * g, XS ? V_MUL(v[g], s) : v[g]); \
            }                                                                                     \
    }

DEFINE_TILE(tile_f32, dec_f32, 0, 2)
DEFINE_TILE(tile_bf16, dec_bf16, 0, 2)
DEFINE_TILE(tile_fp8, dec_fp8, 1, 2)
DEFINE_TILE(tile_fp4, dec_fp4, 0, 4)
DEFINE_DECODE(decode_f32, dec_f32, 0, 2)
DEFINE_DECODE(decode_bf16, dec_bf16, 0, 2)
DEFINE_DECODE(decode_fp8, dec_fp8, 1, 2)
DEFINE_DECODE(decode_fp4, dec_fp4, 0, 4)

/* Panel tile on a k range, accumulators carried in st between ranges. */
#define PANEL_FIXED(MR, NR)                                                                       \
    do {                                                                                          \
        v16 acc[MR][NR];                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++)                                  \
                acc[r][j] = first ? V_ZERO() : V_LOAD(st + (r * CPU_NR + j) * 16);                \
        for (long k = k0; k < k1; k += 32) {                                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) {                                \
                v16 w0 = V_LOAD(panel + j * ldp + k), w1 = V_LOAD(panel + j * ldp + k + 16);       \
                _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                              \
                    acc[r][j] = V_FMA(V_LOAD(x + r * ldx + k), w0, acc[r][j]);                    \
                _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                              \
                    acc[r][j] = V_FMA(V_LOAD(x + r * ldx + k + 16), w1, acc[r][j]);               \
            }                                                                                     \
        }                                                                                         \
        for (int r = 0; r < MR; r++)                                                              \
            for (int j = 0; j < NR; j++) V_STORE(st + (r * CPU_NR + j) * 16, acc[r][j]);          \
    } while (0)

static void panel_tile(const float *x, long ldx, int mr, const float *panel, long ldp, int nr, long k0, long k1,
                       float *st, int first) {
    if (mr == 4 && nr == 4) PANEL_FIXED(4, 4);
    else if (mr == 3 && nr == 4) PANEL_FIXED(3, 4);
    else if (mr == 2 && nr == 4) PANEL_FIXED(2, 4);
    else if (mr == 1 && nr == 4) PANEL_FIXED(1, 4);
    else {
        const float *x0 = x, *p0 = panel;
        float *s0 = st;
        for (int rr = 0; rr < mr; rr++)
            for (int jj = 0; jj < nr; jj++) {
                x = x0 + rr * ldx;
                panel = p0 + jj * ldp;
                st = s0 + (rr * CPU_NR + jj) * 16;
                PANEL_FIXED(1, 1);
            }
    }
}

const cpu_kernels KERNELS_VAR = {KERNELS_NAME,
                                 {tile_f32, tile_bf16, tile_fp8, tile_fp8, tile_fp4},
                                 {decode_f32, decode_bf16, decode_fp8, decode_fp8, decode_fp4},
                                 panel_tile};
