/* The widest vector path available is used for both measurements, since
 * that is what the kernels being judged use: AVX-512 or AVX2 on x86-64,
 * AdvSIMD on aarch64, and plain C (which the compiler vectorizes as it can)
 * elsewhere. */
#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/generate.h"
#include "bench/roofline.h"

typedef struct {
    const char *buf;
    size_t bytes;
    int wide;
    double sink;
    long iters;
    pthread_barrier_t *bar;
} job_t;

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static double read512(const char *p, size_t n) {
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    for (size_t i = 0; i + 256 <= n; i += 256) {
        a = _mm512_xor_si512(a, _mm512_load_si512((const void *)(p + i)));
        b = _mm512_xor_si512(b, _mm512_load_si512((const void *)(p + i + 64)));
        c = _mm512_xor_si512(c, _mm512_load_si512((const void *)(p + i + 128)));
        d = _mm512_xor_si512(d, _mm512_load_si512((const void *)(p + i + 192)));
    }
    a = _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d));
    return (double)_mm512_reduce_add_epi64(a);
}

__attribute__((target("avx2"))) static double read256(const char *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a = _mm256_xor_si256(a, _mm256_load_si256((const void *)(p + i)));
        b = _mm256_xor_si256(b, _mm256_load_si256((const void *)(p + i + 32)));
        c = _mm256_xor_si256(c, _mm256_load_si256((const void *)(p + i + 64)));
        d = _mm256_xor_si256(d, _mm256_load_si256((const void *)(p + i + 96)));
    }
    a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    int64_t v[4];
    _mm256_storeu_si256((__m256i *)v, a);
    return (double)(v[0] ^ v[1] ^ v[2] ^ v[3]);
}

static double read_wide(const char *p, size_t n) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? read512(p, n) : read256(p, n);
}
#elif defined(__aarch64__)
static double read_wide(const char *p, size_t n) {
    uint8x16_t a = vdupq_n_u8(0), b = a, c = a, d = a;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        a = veorq_u8(a, vld1q_u8((const uint8_t *)p + i));
        b = veorq_u8(b, vld1q_u8((const uint8_t *)p + i + 16));
        c = veorq_u8(c, vld1q_u8((const uint8_t *)p + i + 32));
        d = veorq_u8(d, vld1q_u8((const uint8_t *)p + i + 48));
    }
    a = veorq_u8(veorq_u8(a, b), veorq_u8(c, d));
    return (double)vaddvq_u8(a);
}
#else
static double read_wide(const char *p, size_t n) {
    uint64_t a = 0, b = 0, c = 0, d = 0, v[4];
    for (size_t i = 0; i + 32 <= n; i += 32) {
        memcpy(v, p + i, sizeof v);
        a ^= v[0], b ^= v[1], c ^= v[2], d ^= v[3];
    }
    return (double)(a ^ b ^ c ^ d);
}
#endif

static void *read_thread(void *arg) {
    job_t *j = arg;
    pthread_barrier_wait(j->bar);
    j->sink = read_wide(j->buf, j->bytes);
    return NULL;
}

double ld_read_pass(const void *buf, size_t bytes, int threads) {
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    pthread_t th[256];
    job_t jobs[256];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
    size_t part = (bytes / (size_t)threads) & ~(size_t)255;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job_t){.buf = (const char *)buf + (size_t)t * part, .bytes = part, .bar = &bar};
        pthread_create(&th[t], NULL, read_thread, &jobs[t]);
    }
    pthread_barrier_wait(&bar);
    double t0 = ld_now();
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    double dt = ld_now() - t0;
    pthread_barrier_destroy(&bar);
    return part ? dt * (double)bytes / (double)(part * (size_t)threads) : 0;
}

double ld_read_bytes(const void *buf, size_t cap, double bytes, int threads) {
    double t = 0, done = 0;
    while (done < bytes) {
        t += ld_read_pass(buf, cap, threads);
        done += (double)cap;
    }
    return done > 0 ? t * bytes / done : 0;
}

double ld_measure_read_bw(int threads, size_t bytes) {
    char *buf = aligned_alloc(4096, bytes);
    if (!buf) return 0;
    memset(buf, 1, bytes); /* fault every page in before timing */
    double best = 0;
    for (int pass = 0; pass < 8; pass++) {
        double dt = ld_read_pass(buf, bytes, threads), bw = dt > 0 ? (double)bytes / dt : 0;
        if (bw > best) best = bw;
    }
    free(buf);
    return best;
}

#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) static double fma512(long iters) {
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    /* fully unrolled so the 12 independent chains live in registers */
    _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static double fma256(long iters) {
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    /* fully unrolled so the 12 independent chains live in registers */
    _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[7];
}

static int wide_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
static double fma_wide(int wide, long iters) { return wide ? fma512(iters) : fma256(iters); }
#define FMA_LANES(wide) ((wide) ? 16 : 8)
#define FMA_ISA(wide) ((wide) ? "avx512" : "avx2")
#elif defined(__aarch64__)
static double fma_wide(int wide, long iters) {
    (void)wide;
    float32x4_t a[12], m = vdupq_n_f32(0.999999f), c = vdupq_n_f32(1e-7f);
    _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = vdupq_n_f32((float)i);
    for (long it = 0; it < iters; it++)
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = vfmaq_f32(c, a[i], m);
    float32x4_t s = a[0];
    for (int i = 1; i < 12; i++) s = vaddq_f32(s, a[i]);
    return (double)vaddvq_f32(s);
}
static int wide_ok(void) { return 0; }
#define FMA_LANES(wide) 4
#define FMA_ISA(wide) "neon"
#else
static double fma_wide(int wide, long iters) {
    (void)wide;
    float a[12][4];
    for (int i = 0; i < 12; i++)
        for (int l = 0; l < 4; l++) a[i][l] = (float)i;
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++)
            for (int l = 0; l < 4; l++) a[i][l] = fmaf(a[i][l], 0.999999f, 1e-7f);
    double s = 0;
    for (int i = 0; i < 12; i++) s += a[i][0] + a[i][3];
    return s;
}
static int wide_ok(void) { return 0; }
#define FMA_LANES(wide) 4
#define FMA_ISA(wide) "scalar"
#endif

static void *fma_thread(void *arg) {
    job_t *j = arg;
    pthread_barrier_wait(j->bar);
    j->sink = fma_wide(j->wide, j->iters);
    return NULL;
}

double ld_measure_peak_fma(int threads, const char **isa) {
    int wide = wide_ok();
    if (isa) *isa = FMA_ISA(wide);
    long iters = 20000000;
    double best = 0;
    for (int pass = 0; pass < 7; pass++) { /* best of several: short passes catch host noise */
        pthread_t th[256];
        job_t jobs[256];
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
        for (int t = 0; t < threads && t < 256; t++) {
            jobs[t] = (job_t){.wide = wide, .iters = iters, .bar = &bar};
            pthread_create(&th[t], NULL, fma_thread, &jobs[t]);
        }
        pthread_barrier_wait(&bar);
        double t0 = ld_now();
        for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
        double dt = ld_now() - t0;
        pthread_barrier_destroy(&bar);
        double flops = 2.0 * FMA_LANES(wide) * 12.0 * (double)iters * threads / dt;
        if (flops > best) best = flops;
    }
    return best;
}
