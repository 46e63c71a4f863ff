/* cpu backend: every ISA path of this build gives the same bits (they share one
 * canonical order), results do not depend on the thread count or on how
 * many rows are computed together, and they stay close to ref. End to end on
 * a synthetic checkpoint: threads, batching and chunked prefill never change
 * a bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/cpu/cpu_api.h"
#include "backends/ref/ref.h"
#include "backends/w8a8.h"
#include "core/error.h"
#include "model/session.h"
#include "model/synth.h"
#include "testutil.h"

/* The cpu instance the op-level checks run on, made per ISA path and
 * thread count. */
static ld_backend *g_be;

/* Every path of this build (cpu_isa.c), best first; the last is scalar. */
enum { MAX_ISAS = 8 };
static int n_isas, SC;
static const char *isas[MAX_ISAS];
static void isas_init(void) {
    n_isas = ld_cpu_isa_count() < MAX_ISAS ? ld_cpu_isa_count() : MAX_ISAS;
    for (int i = 0; i < n_isas; i++) isas[i] = ld_cpu_isa_at(i);
    SC = n_isas - 1;
}
/* LADDER_THREADS=1 caps every instance at one thread: emulators whose
 * threads do not work (scripts/cross-aarch64.sh runs this under qemu-user);
 * thread-count independence is then checked on the build machine only. */
static int g_max_threads = 64;
static int cap(int threads) { return threads < g_max_threads ? threads : g_max_threads; }
static int cpu_use(const char *isa, int threads) {
    if (isa && !ld_cpu_isa_usable(isa)) return -1;
    threads = cap(threads);
    ld_backend_opts o = {.isa = isa, .threads = threads, .device = -1};
    ld_backend *b = ld_backend_create(&ld_backend_cpu_ops, &o);
    if (!b) return -1;
    ld_backend_destroy(g_be);
    g_be = b;
    return 0;
}

/* A model on a cpu instance of its own. */
static int load_on(const char *dir, const char *isa, int threads, ld_model *m) {
    ld_load_opts o = {.mode = LD_LOAD_MMAP, .backend = {.isa = isa, .threads = cap(threads), .device = -1}};
    return ld_model_load_opts(dir, &ld_backend_cpu_ops, &o, m);
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static float frand(void) { return (float)(rnd() % 2000001) / 1e6f - 1.0f; }

typedef struct {
    ld_weight w;
    void *data;
    uint8_t *scale;
} wbuf;

static wbuf make_weight(ld_wfmt fmt, int n, int k) {
    wbuf b = {.w = {.fmt = fmt, .n = n, .k = k}};
    long nk = (long)n * k;
    switch (fmt) {
    case LD_WF_F32: {
        float *p = malloc(sizeof(float) * (size_t)nk);
        for (long i = 0; i < nk; i++) p[i] = frand() * 0.05f;
        b.data = p;
        break;
    }
    case LD_WF_BF16: {
        ld_bf16 *p = malloc(sizeof(ld_bf16) * (size_t)nk);
        for (long i = 0; i < nk; i++) p[i] = ld_f32_to_bf16(frand() * 0.05f);
        b.data = p;
        break;
    }
    case LD_WF_FP8:
    case LD_WF_FP8_DQ: {
        uint8_t *p = malloc((size_t)nk);
        for (long i = 0; i < nk; i++) p[i] = (uint8_t)(rnd() & 0xff) == 0x7f ? 0 : (uint8_t)(rnd() & 0xff);
        for (long i = 0; i < nk; i++) if ((p[i] & 0x7f) == 0x7f) p[i] = 0x3c; /* no NaN weights */
        b.w.scale_cols = (k + 127) / 128;
        b.scale = malloc((size_t)((n + 127) / 128) * b.w.scale_cols);
        for (int i = 0; i < ((n + 127) / 128) * b.w.scale_cols; i++) b.scale[i] = (uint8_t)(115 + rnd() % 5);
        b.data = p;
        break;
    }
    case LD_WF_I8:
    case LD_WF_FP4_I8: break; /* made by converting (w8a8_make) */
    case LD_WF_FP4: {
        uint8_t *p = malloc((size_t)nk / 2);
        for (long i = 0; i < nk / 2; i++) p[i] = (uint8_t)rnd();
        b.w.scale_cols = k / 32;
        b.scale = malloc((size_t)n * (k / 32));
        for (long i = 0; i < (long)n * (k / 32); i++) b.scale[i] = (uint8_t)(118 + rnd() % 5);
        b.data = p;
        break;
    }
    }
    b.w.data = b.data;
    b.w.scale = b.scale;
    return b;
}

static void linear_shape_checks(int n, int k) {
    const ld_wfmt fmts[] = {LD_WF_F32, LD_WF_BF16, LD_WF_FP8, LD_WF_FP8_DQ, LD_WF_FP4};
    int ms[] = {1, 3, 4, 8, 9, 37, 50};
    for (int f = 0; f < 5; f++) {
        wbuf wb = make_weight(fmts[f], n, k);
        for (int mi = 0; mi < 7; mi++) {
            int m = ms[mi];
            ld_bf16 *x = malloc(sizeof(ld_bf16) * (size_t)m * k);
            for (long i = 0; i < (long)m * k; i++) x[i] = ld_f32_to_bf16(frand());
            ld_bf16 *y[MAX_ISAS], *yr = malloc(sizeof(ld_bf16) * (size_t)m * n), *y1 = malloc(sizeof(ld_bf16) * (size_t)m * n);
            int have[MAX_ISAS] = {0};
            for (int i = 0; i < n_isas; i++) {
                y[i] = malloc(sizeof(ld_bf16) * (size_t)m * n);
                if (cpu_use(isas[i], 2)) continue; /* path not available on this CPU */
                have[i] = 1;
                ld_backend_cpu_ops.linear(g_be, &wb.w, x, m, y[i]);
            }
            CHECK(have[SC], "scalar path must always be available");
            for (int i = 0; i < SC; i++)
                if (have[i])
                    CHECK(!memcmp(y[i], y[SC], sizeof(ld_bf16) * (size_t)m * n), "n %d fmt %d m %d: %s differs from scalar", n, f,
                          m, isas[i]);
            /* one thread and one row at a time give the same bits */
            cpu_use(NULL, 1);
            for (int r = 0; r < m; r++) ld_backend_cpu_ops.linear(g_be, &wb.w, x + (long)r * k, 1, y1 + (long)r * n);
            CHECK(!memcmp(y1, y[SC], sizeof(ld_bf16) * (size_t)m * n), "n %d fmt %d m %d: row-by-row/1 thread differs", n, f, m);
            /* close to ref: bf16 outputs, fp32 sums in another order */
            ld_ref_linear(&wb.w, x, m, yr);
            double num = 0, den = 0;
            for (long i = 0; i < (long)m * n; i++) {
                double a = ld_bf16_to_f32(yr[i]), b = ld_bf16_to_f32(y[SC][i]);
                num += (a - b) * (a - b);
                den += a * a;
            }
            CHECK(num <= 1e-5 * den, "n %d fmt %d m %d: nmse vs ref %g", n, f, m, num / den);
            /* fp32 entry: all rows at once (packed straight into pieces on
               the panel path) against one row at a time, 2 threads */
            cpu_use(NULL, 2);
            float *xf = malloc(sizeof(float) * (size_t)m * k), *fa = malloc(sizeof(float) * (size_t)m * n),
                  *fb = malloc(sizeof(float) * (size_t)m * n);
            for (long i = 0; i < (long)m * k; i++) xf[i] = ld_bf16_to_f32(x[i]);
            ld_backend_cpu_ops.linear_f32(g_be, &wb.w, xf, m, fa);
            for (int r = 0; r < m; r++) ld_backend_cpu_ops.linear_f32(g_be, &wb.w, xf + (long)r * k, 1, fb + (long)r * n);
            CHECK(!memcmp(fa, fb, sizeof(float) * (size_t)m * n), "n %d fmt %d m %d: linear_f32 all rows vs row by row", n, f, m);
            free(xf);
            free(fa);
            free(fb);
            for (int i = 0; i < n_isas; i++) free(y[i]);
            free(yr);
            free(y1);
            free(x);
        }
        free(wb.data);
        free(wb.scale);
    }
}

/* m: direct, tall and panel paths, with edge tiles. k = 1152: two full
 * 512-wide panel ranges and a short one; n = 260: an edge of 4 weight rows.
 * n = 24 (like the hyper-connection mixes) has so few outputs that the rows
 * are split over tasks too. */
static void linear_checks(void) {
    linear_shape_checks(260, 1152);
    linear_shape_checks(24, 256);
}

/* A w8a8 weight converted from a random FP8 (I8) or FP4 (FP4_I8) one. */
static wbuf w8a8_make(ld_wfmt fmt, int n, int k) {
    wbuf src = make_weight(fmt == LD_WF_I8 ? LD_WF_FP8 : LD_WF_FP4, n, k), b = {.w = src.w};
    b.w.fmt = fmt;
    if (fmt == LD_WF_I8) {
        b.data = malloc((size_t)n * k);
        b.scale = malloc(sizeof(float) * (size_t)n);
        b.w.scale_cols = 1;
        CHECK(ld_weight_to_i8(&src.w, b.data, (float *)(void *)b.scale) == 0, "to i8: %s", ld_last_error());
    } else {
        b.data = malloc((size_t)n * k / 2);
        b.scale = malloc((size_t)n * (k / 32));
        CHECK(ld_weight_to_fp4i8(&src.w, b.data, b.scale) == 0, "to fp4i8: %s", ld_last_error());
    }
    b.w.data = b.data;
    b.w.scale = b.scale;
    free(src.data);
    free(src.scale);
    return b;
}

/* The w8a8 forms are integer sums: every path, thread count and batching
 * must give ref's bits exactly, not just come close. Rows: ordinary, all
 * zero, one loud element (the scale follows it), a tiny row (subnormal
 * scale), and one holding NaN, whose outputs must all be NaN. */
static void w8a8_shape_checks(ld_wfmt fmt, int n, int k) {
    wbuf wb = w8a8_make(fmt, n, k);
    const int ms[] = {1, 2, 3, 4, 5, 6, 9, 37}; /* every tile height: 6 = 4 + 2 */
    for (int mi = 0; mi < 8; mi++) {
        int m = ms[mi];
        ld_bf16 *x = malloc(sizeof(ld_bf16) * (size_t)m * k), *yr = malloc(sizeof(ld_bf16) * (size_t)m * n);
        ld_bf16 *y = malloc(sizeof(ld_bf16) * (size_t)m * n), *y1 = malloc(sizeof(ld_bf16) * (size_t)m * n);
        for (long i = 0; i < (long)m * k; i++) x[i] = ld_f32_to_bf16(frand());
        int nan_row = m > 4 ? 4 : -1;
        if (m > 1) memset(x + k, 0, sizeof(ld_bf16) * (size_t)k);
        if (m > 2) x[2L * k + 7] = ld_f32_to_bf16(3000.0f);
        if (m > 3)
            for (long i = 0; i < k; i++) x[3L * k + i] = ld_f32_to_bf16(frand() * 1e-38f);
        if (nan_row >= 0) x[(long)nan_row * k + k / 2] = ld_f32_to_bf16(NAN);
        ld_ref_linear(&wb.w, x, m, yr);
        long nonzero = 0;
        for (long i = 0; i < n; i++) nonzero += (yr[i] & 0x7fff) != 0;
        CHECK(nonzero > n / 2, "%s m %d: ref outputs of row 0 mostly zero (%ld of %d)", ld_wformat_of(fmt)->name, m,
              nonzero, n);
        for (int i = 0; i < n_isas; i++)
            for (int th = 1; th <= 2; th++) {
                if (cpu_use(isas[i], th)) continue;
                ld_backend_cpu_ops.linear(g_be, &wb.w, x, m, y);
                for (int r = 0; r < m; r++) ld_backend_cpu_ops.linear(g_be, &wb.w, x + (long)r * k, 1, y1 + (long)r * n);
                long diff = 0, diff1 = 0, notnan = 0;
                for (long r = 0; r < m; r++)
                    for (long j = 0; j < n; j++) {
                        long e = r * n + j;
                        if (r == nan_row) {
                            notnan += !isnan(ld_bf16_to_f32(y[e])) || !isnan(ld_bf16_to_f32(y1[e]));
                            continue;
                        }
                        diff += y[e] != yr[e];
                        diff1 += y1[e] != yr[e];
                    }
                CHECK(diff == 0 && diff1 == 0 && notnan == 0,
                      "%s [%d, %d] m %d on %s (w8a8 %s), %d threads: %ld outputs differ from ref, %ld row by row, %ld "
                      "not NaN in the NaN row",
                      ld_wformat_of(fmt)->name, n, k, m, isas[i], cpu_of(g_be)->w8a8->name, th, diff, diff1, notnan);
            }
        free(x);
        free(yr);
        free(y);
        free(y1);
    }
    free(wb.data);
    free(wb.scale);
}

/* k = 1152: I8 in 64-byte steps with a tail; FP4_I8 two superblocks and a
 * short one (4 groups). k = 256: a short superblock only. n = 70: a task and
 * a partial one. */
static void w8a8_checks(void) {
    w8a8_shape_checks(LD_WF_I8, 70, 1152);
    w8a8_shape_checks(LD_WF_I8, 5, 128);
    w8a8_shape_checks(LD_WF_FP4_I8, 70, 1152);
    w8a8_shape_checks(LD_WF_FP4_I8, 6, 256);
    w8a8_shape_checks(LD_WF_FP4_I8, 3, 1024);
}

/* Every path's FP8 tiles in fp32, against the scalar path's bit for bit, on
 * activation blocks and weight scales far apart: the half-precision tile
 * (cpu.h) must either reproduce the fp32 products exactly or hand the row
 * to the fp32 tile. Weight block row 0 has ordinary scales, row 1 scales
 * 2^40 apart, row 2 tiny ones. */
static void fp8_range_checks(void) {
    enum { N = 260, K = 1152, NB = K / 128, M = 4 };
    wbuf wb = make_weight(LD_WF_FP8, N, K);
    for (int b = 0; b < NB; b++) {
        wb.scale[NB + b] = (uint8_t)(b % 2 ? 100 : 140);
        wb.scale[2 * NB + b] = 20;
    }
    static const int sh[M][NB] = {{0, 0, 0, 0, 0, 0, 0, 0, 0},
                                  {0, 10, -10, 5, -5, 0, 8, -3, 2},
                                  {30, -30, 0, 12, -12, 0, 0, 20, -20},
                                  {-99, -15, -99, 9, -99, -16, 0, -99, -14}}; /* -99: a block of zeros */
    ld_bf16 *x = malloc(sizeof(ld_bf16) * M * K);
    float *xf = malloc(sizeof(float) * M * K), *ys = malloc(sizeof(float) * M * 4), *yp = malloc(sizeof(float) * M * 4);
    uint16_t *xh = malloc(sizeof(uint16_t) * M * K);
    int16_t *xe = malloc(sizeof(int16_t) * M * NB);
    for (int r = 0; r < M; r++)
        for (int i = 0; i < K; i++) {
            int e = sh[r][i / 128];
            x[r * K + i] = ld_f32_to_bf16(e == -99 ? 0.0f : ldexpf(frand(), e));
        }
    x[3 * K + 1000] = ld_f32_to_bf16(-0.0f);
    cpu_vec_scalar.quant_rows(x, M, K, xf);
    int half_paths = 0;
    for (int i = 0; i < SC; i++) {
        const cpu_kernels *kern;
        const cpu_vec *vec;
        if (!ld_cpu_isa_usable(isas[i]) || cpu_isa_lookup(isas[i], &kern, &vec)) continue;
        if (kern->fp8h_prep) kern->fp8h_prep(xf, M, K, xh, xe), half_paths++;
        for (int mr = 1; mr <= M; mr++)
            for (int n0 = 0; n0 < N; n0 += 128)
                for (int nr = 3; nr <= 4; nr++) {
                    memset(ys, 0, sizeof(float) * M * 4);
                    memset(yp, 0, sizeof(float) * M * 4);
                    cpu_kernels_scalar.tile[LD_WF_FP8](xf, K, mr, &wb.w, n0, nr, ys, 4);
                    kern->tile[LD_WF_FP8](xf, K, mr, &wb.w, n0, nr, yp, 4);
                    CHECK(!memcmp(ys, yp, sizeof(float) * 4 * (size_t)mr), "%s fp8 tile: rows %d, weights %d+%d", isas[i],
                          mr, n0, nr);
                    if (!kern->fp8h_tile) continue;
                    memset(yp, 0xff, sizeof(float) * M * 4);
                    kern->fp8h_tile(xf, xh, xe, K, mr, &wb.w, n0, nr, yp, 4);
                    for (int r = 0; r < mr; r++)
                        for (int j = 0; j < nr; j++)
                            CHECK(!memcmp(&ys[r * 4 + j], &yp[r * 4 + j], sizeof(float)),
                                  "%s half fp8 tile: row %d, weight %d: %a, want %a", isas[i], r, n0 + j, yp[r * 4 + j],
                                  ys[r * 4 + j]);
                }
    }
#if defined(__aarch64__)
    CHECK(!ld_cpu_isa_usable("asimdfhm") || half_paths == 1, "asimdfhm runs here but its half tile was not checked");
#elif defined(__x86_64__)
    CHECK(!ld_cpu_isa_usable("avx512bf16") || half_paths == 1, "avx512bf16 runs here but its half tile was not checked");
#endif
    (void)half_paths;
    free(x), free(xf), free(ys), free(yp), free(xh), free(xe);
    free(wb.data);
    free(wb.scale);
}

/* The same for FP4 tiles: weight rows whose scale bytes sit at the edges
 * the half tile must notice (1: subnormal bf16 weights; 2: the least it
 * takes; 250, 251: the greatest and one past; 255: NaN scales) against the
 * activation blocks of fp8_range_checks. */
static void fp4_range_checks(void) {
    enum { N = 40, K = 1152, NB = K / 128, M = 4 };
    static const int edge[10] = {1, 2, 250, 251, 255, 20, 230, 127, 3, 0};
    wbuf wb = make_weight(LD_WF_FP4, N, K);
    for (int n = 4; n < 4 + 4 * 10; n++)
        if (n < N) wb.scale[(long)n * (K / 32) + (n * 7) % (K / 32)] = (uint8_t)edge[(n - 4) / 4];
    for (int g = 0; g < K / 32; g++) wb.scale[36L * (K / 32) + g] = (uint8_t)(g % 2 ? 40 : 200); /* wide, in range */
    static const int sh[M][NB] = {{0, 0, 0, 0, 0, 0, 0, 0, 0},
                                  {0, 10, -10, 5, -5, 0, 8, -3, 2},
                                  {60, -60, 0, 12, -12, 0, 0, 20, -20},
                                  {-99, -100, -99, 9, -99, -16, 0, -99, -14}};
    ld_bf16 *x = malloc(sizeof(ld_bf16) * M * K);
    float *xf = malloc(sizeof(float) * M * K), *xs = malloc(sizeof(float) * M * K), *ys = malloc(sizeof(float) * M * 4),
          *yp = malloc(sizeof(float) * M * 4);
    uint16_t *xh = malloc(sizeof(uint16_t) * M * K);
    int16_t *xe = malloc(sizeof(int16_t) * M * NB);
    for (int r = 0; r < M; r++)
        for (int i = 0; i < K; i++) {
            int e = sh[r][i / 128];
            x[r * K + i] = ld_f32_to_bf16(e == -99 ? 0.0f : ldexpf(frand(), e));
        }
    cpu_vec_scalar.quant_rows(x, M, K, xf);
    for (int r = 0; r < M; r++) cpu_vec_scalar.to_slots(xf + r * K, K, xs + r * K);
    int half_paths = 0;
    for (int i = 0; i < SC; i++) {
        const cpu_kernels *kern;
        const cpu_vec *vec;
        if (!ld_cpu_isa_usable(isas[i]) || cpu_isa_lookup(isas[i], &kern, &vec) || !kern->fp4h_tile) continue;
        kern->fp4h_prep(xf, M, K, xh, xe), half_paths++;
        /* rows r0 .. r0+mr-1: each alone, and with the rows around it */
        for (int r0 = 0; r0 < M; r0++)
            for (int mr = 1; r0 + mr <= M; mr++)
                for (int n0 = 0; n0 < N; n0 += 4)
                    for (int nr = 1; nr <= 4; nr++) {
                        memset(ys, 0, sizeof(float) * M * 4);
                        memset(yp, 0xff, sizeof(float) * M * 4);
                        cpu_kernels_scalar.tile[LD_WF_FP4](xs + r0 * K, K, mr, &wb.w, n0, nr, ys, 4);
                        kern->fp4h_tile(xs + r0 * K, xh + r0 * K, xe + r0 * NB, K, mr, &wb.w, n0, nr, yp, 4);
                        for (int r = 0; r < mr; r++)
                            for (int j = 0; j < nr; j++)
                                CHECK(!memcmp(&ys[r * 4 + j], &yp[r * 4 + j], sizeof(float)),
                                      "%s half fp4 tile: rows %d+%d, row %d, weight %d: %a, want %a", isas[i], r0, mr, r,
                                      n0 + j, yp[r * 4 + j], ys[r * 4 + j]);
                    }
    }
#if defined(__x86_64__)
    CHECK(!ld_cpu_isa_usable("avx512bf16") || half_paths == 1, "avx512bf16 runs here but its fp4 half tile was not checked");
#endif
    (void)half_paths;
    free(x), free(xf), free(xs), free(ys), free(yp), free(xh), free(xe);
    free(wb.data);
    free(wb.scale);
}

/* The cpu backend's fast activation quantizer against the reference codec. */
static void quant_checks(void) {
    int k = 128 * 64;
    ld_bf16 *x = malloc(sizeof(ld_bf16) * (size_t)k);
    float *got = malloc(sizeof(float) * (size_t)k), blk[128];
    uint8_t codes[128];
    for (int b = 0; b < k / 128; b++) {
        /* magnitudes from 1e-6 to 1e4 per block; some blocks all tiny, some with exact ties */
        float mag = powf(10.0f, (float)(b % 11) - 6.0f);
        for (int i = 0; i < 128; i++) {
            float v = frand() * mag;
            if (b % 7 == 3) v = (float)((int)(rnd() % 33) - 16) * 0.0625f * mag; /* many exact grid midpoints */
            x[b * 128 + i] = ld_f32_to_bf16(v);
        }
    }
    for (int p = 0; p < n_isas; p++) {
        if (cpu_use(isas[p], 2)) continue; /* path not available on this CPU */
        cpu_quant_rows(cpu_of(g_be), x, 1, k, got);
        long bad = 0;
        for (int b = 0; b < k / 128; b++) {
            for (int i = 0; i < 128; i++) blk[i] = ld_bf16_to_f32(x[b * 128 + i]);
            float s = ld_quant_fp8_block(blk, 128, codes);
            for (int i = 0; i < 128; i++) {
                float want = ld_fp8_to_f32(codes[i]) * s;
                bad += memcmp(&want, &got[b * 128 + i], 4) != 0;
            }
        }
        CHECK(bad == 0, "%s fp8 activation quantizer differs from the reference in %ld of %d values", isas[p], bad, k);
    }
    cpu_use(NULL, 2);
    free(x);
    free(got);
}

/* The vectorized bf16 rounding against the reference one: ties, carries
 * into the exponent, overflow to inf, subnormals, NaN payloads, and random
 * bit patterns. */
static void bf16_checks(void) {
    enum { N = 1 << 16 };
    static float v[N];
    static ld_bf16 got[N];
    const uint32_t special[] = {0x00000000u, 0x80000000u, 0x00008000u, 0x00018000u, 0x3f808000u, 0x3f818000u,
                                0x3f80ffffu, 0x7f7fffffu, 0xff7f8000u, 0x7f800000u, 0xff800000u, 0x7f800001u,
                                0xffc00000u, 0x7fbfffffu, 0x807fffffu, 0x00400000u};
    int ns = (int)(sizeof special / sizeof special[0]);
    for (int i = 0; i < N; i++) {
        uint32_t u = i < ns ? special[i] : (uint32_t)rnd() << 16 ^ (uint32_t)rnd();
        memcpy(&v[i], &u, 4);
    }
    for (int p = 0; p < n_isas; p++) {
        if (cpu_use(isas[p], 2)) continue;
        cpu_bf16_rows(cpu_of(g_be), v, N, got);
        long bad = 0;
        for (int i = 0; i < N; i++) bad += got[i] != ld_f32_to_bf16(v[i]);
        CHECK(bad == 0, "%s bf16 rounding differs from the reference in %ld of %d values", isas[p], bad, N);
    }
    cpu_use(NULL, 2);
}

/* Activation preparation on every path: bf16 widening of all 65536 bit
 * patterns, bit for bit, and the slot layout of BF16/FP4 against its
 * definition (cpu_elem). */
static void prep_checks(void) {
    /* the byte-lookup FP4 decoders (aarch64) read the pre-scaled table as
       bf16 byte planes: that must lose nothing, for every scale byte */
    cpu_tables_init();
    long lost = 0;
    for (int sc = 0; sc < 256; sc++)
        for (int c = 0; c < 16; c++) {
            uint32_t u = (uint32_t)cpu_fp4_bf16[sc][c] << 16 | (uint32_t)cpu_fp4_bf16[sc][16 + c] << 24;
            lost += u != ld_f32_to_bits(cpu_fp4_tab[sc][c]);
        }
    CHECK(lost == 0, "%ld FP4 table entries are not exact in bf16", lost);
    enum { N = 1 << 16 };
    static ld_bf16 b[N];
    static float w[N], x[N], slots[N];
    for (int i = 0; i < N; i++) b[i] = (ld_bf16)i, x[i] = (float)rnd();
    for (int p = 0; p < n_isas; p++) {
        if (cpu_use(isas[p], 2)) continue;
        cpu_widen_rows(cpu_of(g_be), b, N, w);
        long bad = 0;
        for (int i = 0; i < N; i++) {
            float ref = ld_bf16_to_f32(b[i]);
            bad += memcmp(&w[i], &ref, sizeof ref) != 0;
        }
        CHECK(bad == 0, "%s bf16 widening differs in %ld of %d patterns", isas[p], bad, N);
        cpu_to_slots(cpu_of(g_be), x, N, slots);
        bad = 0;
        for (long s = 0; s < N / 16; s++)
            for (int i = 0; i < 16; i++) bad += slots[16 * s + i] != x[cpu_elem(LD_WF_BF16, s, i)];
        CHECK(bad == 0, "%s slot layout differs from cpu_elem in %ld of %d values", isas[p], bad, N);
    }
    cpu_use(NULL, 2);
}

/* ulps between two finite floats of the same sign */
static long ulps(float a, float b) {
    int32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return labs((long)x - (long)y);
}

/* The vectorized exp (attention softmax, SwiGLU) against libm evaluated in
 * double and rounded once (ld_expf), and the ISA paths against each other;
 * SwiGLU against the reference op over every bf16 gate value. */
static void exp_checks(void) {
    enum { N = 1 << 20 };
    static float x[N], y[MAX_ISAS][N];
    const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 88.72f, 88.73f, -87.3f, -103.9f, -104.0f, -150.0f, 1e-30f,
                             -1e-30f, INFINITY, -INFINITY, NAN};
    int ns = (int)(sizeof special / sizeof special[0]);
    for (int i = 0; i < N; i++) x[i] = i < ns ? special[i] : -120.0f + 220.0f * (float)(rnd() % (1u << 24)) / (float)(1u << 24);
    int have[MAX_ISAS] = {0};
    for (int p = 0; p < n_isas; p++)
        if (!cpu_use(isas[p], 1)) cpu_expf_rows(cpu_of(g_be), x, N, y[p]), have[p] = 1;
    for (int p = 0; p < SC; p++)
        if (have[p]) CHECK(!memcmp(y[p], y[SC], sizeof y[SC]), "expf: %s differs from scalar", isas[p]);
    long off = 0, far = 0;
    for (int i = 0; i < N; i++) {
        float want = ld_expf(x[i]);
        if (isnan(want)) { CHECK(isnan(y[SC][i]), "expf(%g) should be NaN", x[i]); continue; }
        if (memcmp(&want, &y[SC][i], 4)) off++, far += ulps(want, y[SC][i]) > 1;
    }
    /* a rounding midpoint within 1e-16 of e^x is rare: none occur in these values today */
    CHECK(off <= N / 100000 && far == 0, "expf: %ld of %d values differ from libm, %ld by more than one ulp", off, N, far);

    static ld_bf16 g[1 << 16], u[1 << 16], a[1 << 16], b[1 << 16];
    for (int i = 0; i < 1 << 16; i++) g[i] = (ld_bf16)i, u[i] = ld_f32_to_bf16(frand() * 8.0f);
    for (int lim = 0; lim < 2; lim++) {
        float limit = lim ? 7.0f : 0.0f;
        ld_ref_swiglu(g, u, 1 << 16, limit, 0.75f, a);
        for (int p = 0; p < n_isas; p++) {
            if (!have[p]) continue;
            cpu_use(isas[p], 1);
            cpu_swiglu_rows(cpu_of(g_be), g, u, 1 << 16, limit, 0.75f, b);
            long diff = 0;
            for (int i = 0; i < 1 << 16; i++) {
                float fa = ld_bf16_to_f32(a[i]), fb = ld_bf16_to_f32(b[i]);
                if (isnan(fa) && isnan(fb)) continue;
                diff += memcmp(&a[i], &b[i], 2) != 0;
            }
            CHECK(diff <= 2, "swiglu (%s, limit %g): %ld of 65536 differ from ref", isas[p], limit, diff);
        }
    }
    cpu_use(NULL, 2);
}

static void model_checks(void) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cpu-tiny", test_tmp_dir());
    ld_config c;
    ld_synth_preset("tiny", &c);
    ld_synth_opts so = {.seed = 11};
    CHECK(ld_synth_write(&c, dir, &so) == 0, "synth: %s", ld_last_error());
    ld_model m, m1;
    if (load_on(dir, NULL, 2, &m)) { CHECK(0, "load: %s", ld_last_error()); return; }
    int V = m.cfg.vocab_size, N = 90, toks[90];
    for (int i = 0; i < N; i++) toks[i] = i ? 2 + (i * 131) % (V - 2) : 0;
    float *a = malloc(sizeof(float) * (size_t)V), *b = malloc(sizeof(float) * (size_t)V * 8);
    ld_session s;
    /* reference run: 2 threads, one-shot prefill */
    ld_session_init(&s, &m);
    CHECK(ld_session_eval(&s, toks, N, a) == 0, "eval: %s", ld_last_error());
    ld_session_free(&s);
    /* 1 thread, chunked prefill (chunks >= one window), decode tail */
    CHECK(load_on(dir, NULL, 1, &m1) == 0, "load: %s", ld_last_error());
    ld_session_init(&s, &m1);
    CHECK(ld_session_eval(&s, toks, 16, b) == 0 && ld_session_eval(&s, toks + 16, 40, b) == 0, "chunks");
    for (int i = 56; i < N; i++) CHECK(ld_session_eval(&s, toks + i, 1, b) == 0, "decode");
    CHECK(!memcmp(a, b, sizeof(float) * (size_t)V), "1 thread chunked+decode differs from 2 threads one-shot");
    ld_session_free(&s);
    ld_model_free(&m1);
    /* every ISA path gives the same logits end to end (attention, indexer and
       hyper-connection ops included) */
    for (int i = 1; i < n_isas; i++) {
        if (!ld_cpu_isa_usable(isas[i])) continue;
        CHECK(load_on(dir, isas[i], 2, &m1) == 0, "load: %s", ld_last_error());
        ld_session_init(&s, &m1);
        CHECK(ld_session_eval(&s, toks, N, b) == 0, "eval %s", isas[i]);
        CHECK(!memcmp(a, b, sizeof(float) * (size_t)V), "%s logits differ from the default path", isas[i]);
        ld_session_free(&s);
        ld_model_free(&m1);
    }

    /* the same sequence inside a batch of 8 (position 5 of the batch) */
    ld_session ss[8];
    for (int i = 0; i < 8; i++) ld_session_init(&ss[i], &m);
    for (int i = 0; i < 8; i++) CHECK(ld_session_eval(&ss[i], i == 0 ? toks : toks + 20 + i, i == 0 ? 30 : 10 + i, b) == 0, "prefill %d", i);
    for (int t = 30; t < N; t++) {
        ld_session *bs[8] = {&ss[3], &ss[1], &ss[7], &ss[4], &ss[6], &ss[0], &ss[2], &ss[5]};
        int ti[8];
        const int *bi[8];
        int bn[8];
        for (int i = 0; i < 8; i++) {
            ti[i] = bs[i] == &ss[0] ? toks[t] : (t * 7 + 13 * i) % V;
            bi[i] = &ti[i];
            bn[i] = 1;
        }
        CHECK(ld_batch_eval(bs, bi, bn, 8, b) == 0, "batch: %s", ld_last_error());
    }
    CHECK(!memcmp(a, b + 5 * V, sizeof(float) * (size_t)V), "sequence in a batch of 8 differs from alone");
    for (int i = 0; i < 8; i++) ld_session_free(&ss[i]);

    /* weights copied into memory: every tensor on a cache line, out of the
       file mapping, and the same logits */
    ld_model rm;
    ld_load_opts lo = {.mode = LD_LOAD_RESIDENT, .backend = {.threads = cap(2), .device = -1}};
    if (ld_model_load_opts(dir, &ld_backend_cpu_ops, &lo, &rm)) {
        CHECK(0, "resident load: %s", ld_last_error());
    } else {
        CHECK(rm.resident && !m.resident, "resident flag");
        long misaligned = 0;
        for (int f = 0; f < rm.ck.n_files; f++)
            for (int i = 0; i < rm.ck.files[f].n_tensors; i++)
                misaligned += (uintptr_t)rm.ck.files[f].tensors[i].data % 64 != 0;
        CHECK(misaligned == 0, "%ld resident tensors are not 64-byte aligned", misaligned);
        CHECK(rm.n_owned == 0, "resident tensors still needed aligned copies");
        CHECK(memcmp(rm.head.data, m.head.data, (size_t)V * m.cfg.dim * 2) == 0 && rm.head.data != m.head.data,
              "resident head is not a copy of the mapped one");
        ld_session_init(&s, &rm);
        CHECK(ld_session_eval(&s, toks, N, b) == 0, "resident eval");
        CHECK(!memcmp(a, b, sizeof(float) * (size_t)V), "resident weights give other logits");
        ld_session_free(&s);
        ld_model_free(&rm);
    }
    free(a);
    free(b);
    ld_model_free(&m);
}

/* "kernels": the op-level checks with the linears on their small shape
 * only, and no model (for emulators, where the rest takes many minutes). */
int main(int argc, char **argv) {
    const char *t = getenv("LADDER_THREADS");
    if (t && atoi(t) >= 1) g_max_threads = atoi(t);
    int all = !(argc > 1 && !strcmp(argv[1], "kernels"));
    isas_init();
    quant_checks();
    bf16_checks();
    prep_checks();
    exp_checks();
    fp8_range_checks();
    fp4_range_checks();
    w8a8_checks();
    if (all) {
        linear_checks();
        model_checks();
    } else {
        linear_shape_checks(24, 256);
    }
    ld_backend_destroy(g_be);
    return test_summary("cpu");
}
