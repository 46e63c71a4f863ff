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
 *   void dec_f32 / dec_bf16 / dec_fp8 / dec_fp4 (const uint8_t *p, const uint8_t *s, size_t k, v16 *v):
 *        the 2 slots of the 32-element group at k of a weight row, whose
 *        bytes for that group start at p (s: the row's FP4 scales); dec_fp8
 *        returns e4m3 values times 2^-8 (the fp16 route), hence FP8_SCALE's 2^8
 *   KERNELS_VAR, KERNELS_NAME    the cpu_kernels object and its name */

/* KERNELS_FP8H_PREP, KERNELS_FP8H_TILE (and _FP4H_): the optional
 * half-precision FP8 (FP4) tile (cpu.h), declared before inclusion; none by
 * default. */
#ifndef KERNELS_FP8H_PREP
#define KERNELS_FP8H_PREP NULL
#define KERNELS_FP8H_TILE NULL
#endif
#ifndef KERNELS_FP4H_PREP
#define KERNELS_FP4H_PREP NULL
#define KERNELS_FP4H_TILE NULL
#endif

/* V_KEEP(v): makes v live in a register. Without it compilers fold a load
 * used by several fmas into each of them as a memory operand, which loads
 * it again per use and makes the tall tiles load-bound. Optional. */
#ifndef V_KEEP
#define V_KEEP(v) ((void)0)
#endif

/* Sums of 16 accumulators by the fixed tree (cpu_reduce16), into
 * y[(q / 4) * ldy + q % 4] for accumulator v[q]. An ISA may define
 * V_REDUCE_16 to do the tree on whole registers; it must pair the same
 * lanes. */
#ifndef V_REDUCE_16
#define V_REDUCE_16(v, y, ldy)                                                                    \
    do {                                                                                          \
        for (int q = 0; q < 16; q++) {                                                            \
            float lanes[16];                                                                      \
            V_STORE(lanes, (v)[q]);                                                               \
            (y)[(q / 4) * (ldy) + q % 4] = cpu_reduce16(lanes);                                   \
        }                                                                                         \
    } while (0)
#endif

/* The same for 4 accumulators, sums into y[0..3]. */
#ifndef V_REDUCE_4
#define V_REDUCE_4(v, y)                                                                          \
    do {                                                                                          \
        for (int q = 0; q < 4; q++) {                                                             \
            float lanes[16];                                                                      \
            V_STORE(lanes, (v)[q]);                                                               \
            (y)[q] = cpu_reduce16(lanes);                                                         \
        }                                                                                         \
    } while (0)
#endif

/* FP8 block scales: the row of 128x128 blocks holding weight row n, and the
 * scale at k in it, times the 2^8 of the fp16 decode route. */
#define FP8_SROW(XS, n) ((XS) ? w->scale + (size_t)((n) / 128) * w->scale_cols : NULL)
#define FP8_SCALE(s8, k) (cpu_e8m0[(s8)[(k) / 128]] * 256.0f)

/* Bytes of weight row n, and of its FP4 scales (NULL for other formats). */
#define WROW(EBITS, n) ((const uint8_t *)w->data + (size_t)(n) * (size_t)w->k * (EBITS) / 8)
#define SROW(EBITS, n) ((EBITS) == 4 ? w->scale + (size_t)(n) * (size_t)w->scale_cols : NULL)

/* Rows ahead whose bytes the tiles prefetch into L2 as they go: the next
 * tile's. Decoding FP4 is slow enough that the hardware prefetcher alone
 * leaves the core stalled on memory at one activation row. */
#define PF_ROWS CPU_NR
/* One MR x NR tile (MR <= 4), accumulators in registers; one weight row at
 * a time keeps register pressure low. XS: FP8, whose power-of-two block
 * scale multiplies x (kept in registers for the k step and shared by the NR
 * rows); scaling x or the weight gives the same exact product. */
#define TILE_FIXED(DEC, XS, EBITS, MR, NR)                                                        \
    do {                                                                                          \
        v16 acc[MR][NR];                                                                          \
        const uint8_t *wr[NR], *sr[NR], *s8 = FP8_SROW(XS, n0);                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) acc[r][j] = V_ZERO();            \
        _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) wr[j] = WROW(EBITS, n0 + j), sr[j] = SROW(EBITS, n0 + j); \
        _Pragma("GCC unroll 2") for (size_t k = 0; k < (size_t)w->k; k += 32) {                 \
            v16 xs = V_SET1(XS ? FP8_SCALE(s8, k) : 1.0f), xv[2][MR];                             \
            _Pragma("GCC unroll 2") for (int g = 0; g < 2; g++)                                   \
                _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) {                            \
                xv[g][r] = V_LOAD(x + r * ldx + k + 16 * g);                                      \
                if (XS) xv[g][r] = V_MUL(xv[g][r], xs);                                           \
            }                                                                                     \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) {                                \
                v16 wv[2];                                                                        \
                PREFETCH_NEXT(EBITS, j, k);                                                       \
                DEC(wr[j] + k * EBITS / 8, sr[j], k, wv);                                         \
                _Pragma("GCC unroll 2") for (int g = 0; g < 2; g++)                               \
                    _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                          \
                    acc[r][j] = V_FMA(xv[g][r], wv[g], acc[r][j]);                                \
            }                                                                                     \
        }                                                                                         \
        TILE_STORE(MR, NR);                                                                       \
    } while (0)

/* Eight rows, x interleaved (cpu.h), over the k range [k0, k1) with the
 * accumulators carried in st: the NR weight rows of a k step are decoded
 * first (FP8: block scale on the weights, 2 products instead of 16), then
 * each x slot is loaded once for its NR products, which keeps 8*NR
 * accumulators, 2*NR weights and one x in registers. */
#define TALL_FIXED(DEC, XS, EBITS, NR)                                                            \
    do {                                                                                          \
        v16 acc[CPU_MR_TALL][NR];                                                                 \
        const uint8_t *wr[NR], *sr[NR], *s8 = FP8_SROW(XS, n0);                                   \
        _Pragma("GCC unroll 8") for (int r = 0; r < CPU_MR_TALL; r++)                             \
            _Pragma("GCC unroll 2") for (int j = 0; j < NR; j++)                                  \
                acc[r][j] = first ? V_ZERO() : V_LOAD(st + (j * CPU_MR_TALL + r) * 16);           \
        _Pragma("GCC unroll 2") for (int j = 0; j < NR; j++) wr[j] = WROW(EBITS, n0 + j), sr[j] = SROW(EBITS, n0 + j); \
        for (size_t k = (size_t)k0; k < (size_t)k1; k += 32) {                                   \
            v16 wv[NR][2], xs = V_SET1(XS ? FP8_SCALE(s8, k) : 1.0f);                             \
            _Pragma("GCC unroll 2") for (int j = 0; j < NR; j++) {                                \
                PREFETCH_NEXT(EBITS, j, k);                                                       \
                DEC(wr[j] + k * EBITS / 8, sr[j], k, wv[j]);                                      \
                if (XS) wv[j][0] = V_MUL(wv[j][0], xs), wv[j][1] = V_MUL(wv[j][1], xs);           \
            }                                                                                     \
            const float *xk = x8 + k * CPU_MR_TALL;                                               \
            _Pragma("GCC unroll 2") for (int g = 0; g < 2; g++)                                   \
                _Pragma("GCC unroll 8") for (int r = 0; r < CPU_MR_TALL; r++) {                   \
                v16 xv = V_LOAD(xk + (g * CPU_MR_TALL + r) * 16);                                 \
                V_KEEP(xv);                                                                       \
                _Pragma("GCC unroll 2") for (int j = 0; j < NR; j++) acc[r][j] = V_FMA(xv, wv[j][g], acc[r][j]); \
            }                                                                                     \
        }                                                                                         \
        for (int r = 0; r < CPU_MR_TALL; r++)                                                     \
            for (int j = 0; j < NR; j++) V_STORE(st + (j * CPU_MR_TALL + r) * 16, acc[r][j]);     \
    } while (0)

#define DEFINE_TALL(NAME, DEC, XS, EBITS)                                                         \
    static void NAME(const float *x8, const ld_weight *w, int n0, int nr, long k0, long k1, float *st, int first) { \
        if (nr == 2) TALL_FIXED(DEC, XS, EBITS, 2);                                               \
        else TALL_FIXED(DEC, XS, EBITS, 1);                                                       \
    }

/* One prefetch per 64-byte line: a 32-element group is only 16 bytes of FP4
 * (32 of FP8), and prefetching the same line again per group spends issue
 * slots the decode needs. */
#define PREFETCH_NEXT(EBITS, j, k)                                                                \
    do {                                                                                          \
        if ((((k) * EBITS / 8) & 63) == 0)                                                        \
            __builtin_prefetch((const void *)((uintptr_t)wr[j] + (size_t)PF_ROWS * w->k * EBITS / 8 + (k) * EBITS / 8), 0, 1); \
    } while (0)

#define TILE_STORE(MR, NR)                                                                        \
    for (int r = 0; r < MR; r++)                                                                  \
        if (NR == 4) V_REDUCE_4(acc[r], y + r * ldy);                                             \
        else                                                                                      \
            for (int j = 0; j < NR; j++) {                                                        \
                float lanes[16];                                                                  \
                V_STORE(lanes, acc[r][j]);                                                        \
                y[r * ldy + j] = cpu_reduce16(lanes);                                             \
            }

#define DEFINE_TILE(NAME, DEC, XS, EBITS)                                                                \
    static void NAME(const float *x, long ldx, int mr, const ld_weight *w, int n0, int nr, float *y, long ldy) { \
        if (mr == 4 && nr == 4) TILE_FIXED(DEC, XS, EBITS, 4, 4);                                        \
        else if (mr == 1 && nr == 4) TILE_FIXED(DEC, XS, EBITS, 1, 4);                                   \
        else if (mr == 2 && nr == 4) TILE_FIXED(DEC, XS, EBITS, 2, 4);                                   \
        else if (mr == 3 && nr == 4) TILE_FIXED(DEC, XS, EBITS, 3, 4);                                   \
        else if (mr == 1 && nr == 2) TILE_FIXED(DEC, XS, EBITS, 1, 2);                                   \
        else {                                                                                  \
            const float *x0 = x;                                                                  \
            float *y0 = y;                                                                        \
            int base = n0;                                                                        \
            for (int rr = 0; rr < mr; rr++)                                                       \
                for (int jj = 0; jj < nr; jj++) {                                                 \
                    x = x0 + rr * ldx;                                                            \
                    y = y0 + rr * ldy + jj;                                                       \
                    n0 = base + jj;                                                               \
                    TILE_FIXED(DEC, XS, EBITS, 1, 1);                                                    \
                }                                                                                 \
        }                                                                                         \
    }

/* Panel decode: exact weights (FP8 scale folded in) in slot layout, the
 * k range [k0, k1) of each row, rows k1 - k0 apart. */
#define DEFINE_DECODE(NAME, DEC, XS, EBITS)                                                           \
    static void NAME(const ld_weight *w, int n0, int nr, long k0, long k1, float *panel) {      \
        for (int j = 0; j < nr; j++) {                                                            \
            /* row pointers in locals: the stores below could alias *w */                         \
            const uint8_t *wr = WROW(EBITS, n0 + j), *sr = SROW(EBITS, n0 + j), *s8 = FP8_SROW(XS, n0 + j); \
            float *o = panel + (size_t)j * (size_t)(k1 - k0);                                      \
            for (size_t k = (size_t)k0; k < (size_t)k1; k += 32, o += 32) {                       \
                v16 v[2];                                                                         \
                DEC(wr + k * EBITS / 8, sr, k, v);                                                \
                if (XS) {                                                                         \
                    v16 s = V_SET1(FP8_SCALE(s8, k));                                             \
                    v[0] = V_MUL(v[0], s), v[1] = V_MUL(v[1], s);                                 \
                }                                                                                 \
                V_STORE(o, v[0]);                                                                 \
                V_STORE(o + 16, v[1]);                                                            \
            }                                                                                     \
        }                                                                                         \
    }

DEFINE_TILE(tile_f32, dec_f32, 0, 32)
DEFINE_TILE(tile_bf16, dec_bf16, 0, 16)
DEFINE_TILE(tile_fp8, dec_fp8, 1, 8)
DEFINE_TILE(tile_fp4, dec_fp4, 0, 4)
DEFINE_TALL(tall_f32, dec_f32, 0, 32)
DEFINE_TALL(tall_bf16, dec_bf16, 0, 16)
DEFINE_TALL(tall_fp8, dec_fp8, 1, 8)
DEFINE_TALL(tall_fp4, dec_fp4, 0, 4)
DEFINE_DECODE(decode_f32, dec_f32, 0, 32)
DEFINE_DECODE(decode_bf16, dec_bf16, 0, 16)
DEFINE_DECODE(decode_fp8, dec_fp8, 1, 8)
DEFINE_DECODE(decode_fp4, dec_fp4, 0, 4)

/* One panel tile over the k range [0, kc), accumulators carried in st, or,
 * on the last range (y not NULL), summed into y. The loop takes one slot
 * per step: the MR x values of the slot, then each panel row once for its
 * MR products, so a step loads MR + NR vectors for MR * NR fmas and
 * everything else stays in registers. */
#define PANEL_FIXED(MR, NR)                                                                       \
    do {                                                                                          \
        v16 acc[MR][NR];                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++)                                  \
                acc[r][j] = first ? V_ZERO() : V_LOAD(st + (r * CPU_NR + j) * 16);                \
        for (long k = 0; k < kc; k += 16) {                                                       \
            v16 xv[MR];                                                                           \
            _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) xv[r] = V_LOAD(x + r * ldx + k); \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) {                                \
                v16 wv = V_LOAD(panel + j * ldp + k);                                             \
                _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) acc[r][j] = V_FMA(xv[r], wv, acc[r][j]); \
            }                                                                                     \
        }                                                                                         \
        if (y) PANEL_SUM(MR, NR);                                                                 \
        else                                                                                      \
            _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                                  \
                _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) V_STORE(st + (r * CPU_NR + j) * 16, acc[r][j]); \
    } while (0)

/* A full 4x4 tile sums all 16 accumulators in one tree; smaller ones like
 * the direct tiles. */
#define PANEL_SUM(MR, NR)                                                                         \
    do {                                                                                          \
        if (MR == 4 && NR == 4) {                                                                 \
            v16 all[16];                                                                          \
            _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                                  \
                _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) all[r * 4 + j] = acc[r][j];  \
            V_REDUCE_16(all, y, ldy);                                                             \
        } else {                                                                                  \
            TILE_STORE(MR, NR);                                                                   \
        }                                                                                         \
    } while (0)

static inline __attribute__((always_inline)) void panel_one(const float *x, long ldx, const float *panel, long ldp,
                                                            long kc, float *st, int first, float *y, long ldy) {
    PANEL_FIXED(1, 1);
}

static void panel_tiles(const float *x, long ldx, int m, const float *panel, long ldp, int nr, long kc, float *st,
                        int first, float *y, long ldy) {
    for (int r0 = 0; r0 < m; r0 += CPU_MR, x += CPU_MR * ldx, st += CPU_MR * CPU_NR * 16, y = y ? y + CPU_MR * ldy : y) {
        int mr = m - r0 < CPU_MR ? m - r0 : CPU_MR;
        /* the last tile of a block may have fewer rows (m % 12 rows) */
        if (mr == 4 && nr == 4) PANEL_FIXED(4, 4);
        else if (mr == 3 && nr == 4) PANEL_FIXED(3, 4);
        else if (mr == 2 && nr == 4) PANEL_FIXED(2, 4);
        else if (mr == 1 && nr == 4) PANEL_FIXED(1, 4);
        else
            for (int r = 0; r < mr; r++)
                for (int j = 0; j < nr; j++)
                    panel_one(x + r * ldx, ldx, panel + j * ldp, ldp, kc, st + (r * CPU_NR + j) * 16, first,
                              y ? y + r * ldy + j : NULL, ldy);
    }
}

const cpu_kernels KERNELS_VAR = {KERNELS_NAME,
                                 {tile_f32, tile_bf16, tile_fp8, tile_fp8, tile_fp4},
                                 {decode_f32, decode_bf16, decode_fp8, decode_fp8, decode_fp4},
                                 panel_tiles,
                                 {tall_f32, tall_bf16, tall_fp8, tall_fp8, tall_fp4},
                                 KERNELS_FP8H_PREP,
                                 KERNELS_FP8H_TILE,
                                 KERNELS_FP4H_PREP,
                                 KERNELS_FP4H_TILE};
