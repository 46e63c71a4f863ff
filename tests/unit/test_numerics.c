/* Number formats and quantizers (core/numerics), checked exhaustively where
 * the domain is small and against brute-force nearest searches elsewhere.
 * Every expected value here comes from a definition written out in this
 * file (format formulas, linear scans over all codes, double arithmetic),
 * never from the library's own tables. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/numerics.h"
#include "testutil.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_unit(void) { return (double)(rng_next() >> 11) * 0x1p-53; }

static float bits_f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static int same_bits(float a, float b) { return f_bits(a) == f_bits(b); }

/* ---- fp8 e4m3fn (values from the format definition, testutil.h) --------- */

/* Nearest finite magnitude code by linear scan; ties go to the even code
 * (= even mantissa, since the mantissa is the low bits). Magnitudes beyond
 * 448 are nearest to 448, so saturation falls out of the search. */
static double fp8_val[128];
static int fp8_nearest_mag(double a) {
    if (fp8_val[1] == 0)
        for (int c = 0; c < 128; c++) fp8_val[c] = test_fp8_value(c);
    int best = 0;
    double bd = INFINITY;
    for (int c = 0; c <= 0x7e; c++) {
        double d = fabs(fp8_val[c] - a);
        if (d < bd || (d == bd && (c & 1) == 0)) { bd = d; best = c; }
    }
    return best;
}
static int fp8_encode_ref(float x) {
    if (isnan(x)) return 0x7f;
    return (signbit(x) ? 0x80 : 0) | fp8_nearest_mag(fabs((double)x));
}

static void test_fp8_decode(void) {
    int bad = 0;
    for (int c = 0; c < 256; c++) {
        double want = test_fp8_value(c);
        float got = ld_fp8_to_f32((uint8_t)c);
        if (isnan(want)) {
            if (!isnan(got)) bad++;
            CHECK(isnan(got), "fp8 code 0x%02x should be NaN, got %g", c, got);
            continue;
        }
        int ok = (double)got == want && !signbit(got) == !(c & 0x80);
        if (!ok) bad++;
        CHECK(ok, "fp8 decode 0x%02x: got %.9g want %.9g", c, got, want);
    }
    CHECK(bad == 0, "%d fp8 codes decode wrongly", bad);
    CHECK(ld_fp8_to_f32(0x7e) == 448.0f && ld_fp8_to_f32(0x01) == 0x1p-9f && ld_fp8_to_f32(0x08) == 0x1p-6f,
          "fp8 landmarks: max 448, min subnormal 2^-9, min normal 2^-6");
}

static void test_fp8_roundtrip(void) {
    for (int c = 0; c < 256; c++) {
        float v = (float)test_fp8_value(c);
        if (isnan(v)) continue;
        uint8_t back = ld_f32_to_fp8(v);
        CHECK(back == c, "fp8 encode(decode(0x%02x)) = 0x%02x", c, back);
    }
}

static int fp8_encode_bad;
static void fp8_check(float x) {
    int want = fp8_encode_ref(x), got = ld_f32_to_fp8(x);
    if (want != got && fp8_encode_bad++ < 10)
        CHECK(want == got, "fp8 encode(%.9g = 0x%08x): got 0x%02x want 0x%02x", x, f_bits(x), got, want);
}

static void test_fp8_encode(void) {
    fp8_encode_bad = 0;
    /* dense sweep of bit patterns from 0 to 512 (covers subnormal, normal,
     * saturation ranges), odd stride so every mantissa bit varies */
    for (uint32_t u = 0; u <= 0x44000000u; u += 4099) {
        fp8_check(bits_f(u));
        fp8_check(-bits_f(u));
    }
    /* exact midpoints between consecutive codes, and one float either side */
    for (int c = 0; c < 0x7e; c++) {
        float mid = (float)((test_fp8_value(c) + test_fp8_value(c + 1)) / 2); /* 5 significant bits: exact */
        CHECK((double)mid * 2 == test_fp8_value(c) + test_fp8_value(c + 1), "midpoint representable");
        float xs[3] = {mid, nextafterf(mid, 0), nextafterf(mid, INFINITY)};
        for (int i = 0; i < 3; i++) { fp8_check(xs[i]); fp8_check(-xs[i]); }
        /* the tie itself must go to the even code */
        int want_tie = (c & 1) == 0 ? c : c + 1;
        CHECK(ld_f32_to_fp8(mid) == want_tie, "fp8 tie between 0x%02x and 0x%02x -> 0x%02x, got 0x%02x", c, c + 1,
              want_tie, ld_f32_to_fp8(mid));
    }
    for (int i = 0; i < 200000; i++) {
        float x = (float)ldexp(rng_unit() * 2 - 1, (int)(rng_next() % 40) - 25);
        fp8_check(x);
    }
    CHECK(fp8_encode_bad == 0, "%d fp8 encodes differ from the brute-force nearest code", fp8_encode_bad);

    /* saturation and special values, as documented: saturate to +-448, NaN -> 0x7F */
    CHECK(ld_f32_to_fp8(448.0f) == 0x7e && ld_f32_to_fp8(-448.0f) == 0xfe, "+-448 exact");
    CHECK(ld_f32_to_fp8(464.0f) == 0x7e, "464 (halfway to the absent 480) saturates");
    CHECK(ld_f32_to_fp8(1e30f) == 0x7e && ld_f32_to_fp8(-1e30f) == 0xfe, "huge saturates");
    CHECK(ld_f32_to_fp8(FLT_MAX) == 0x7e, "FLT_MAX saturates");
    CHECK(ld_f32_to_fp8(INFINITY) == 0x7e && ld_f32_to_fp8(-INFINITY) == 0xfe, "+-inf saturate to +-448");
    CHECK(ld_f32_to_fp8(NAN) == 0x7f && ld_f32_to_fp8(-NAN) == 0x7f, "NaN -> 0x7F");
    /* subnormal rounding and the sign of values that round to zero */
    CHECK(ld_f32_to_fp8(0x1p-10f) == 0x00, "2^-10 is the tie between 0 and 2^-9: even code 0");
    CHECK(ld_f32_to_fp8(0x1.8p-9f) == 0x02, "1.5*2^-9 ties to code 2");
    CHECK(ld_f32_to_fp8(0x1.4p-9f) == 0x01, "1.25*2^-9 rounds to code 1");
    CHECK(ld_f32_to_fp8(-0x1p-12f) == 0x80, "tiny negative rounds to -0 (0x80)");
    CHECK(ld_f32_to_fp8(-0.0f) == 0x80 && ld_f32_to_fp8(0.0f) == 0x00, "signed zeros");
    CHECK(ld_f32_to_fp8(0x1.ep-7f) == 0x08, "15*2^-10 = midpoint of codes 7 and 8 goes to the even code 8 (min normal)");
}

/* ---- fp4 e2m1 ------------------------------------------------------------ */

static const double fp4_mag[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};

static int fp4_encode_ref(float x) {
    double a = fabs((double)x);
    int best = 0;
    double bd = INFINITY;
    for (int c = 0; c < 8; c++) {
        double d = fabs(fp4_mag[c] - a);
        if (d < bd || (d == bd && (c & 1) == 0)) { bd = d; best = c; }
    }
    return (signbit(x) ? 8 : 0) | best;
}

static void test_fp4(void) {
    for (int c = 0; c < 16; c++) {
        float v = ld_fp4_to_f32((uint8_t)c);
        double want = c & 8 ? -fp4_mag[c & 7] : fp4_mag[c & 7];
        CHECK((double)v == want && !signbit(v) == !(c & 8), "fp4 decode %d: got %g want %g", c, v, want);
        CHECK(ld_fp4_to_f32((uint8_t)(c | 0xf0)) == v, "fp4 decode ignores the high nibble");
        CHECK(ld_f32_to_fp4(v) == c, "fp4 encode(decode(%d)) = %d", c, ld_f32_to_fp4(v));
    }
    static const float ties[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
    static const int tie_code[7] = {0, 2, 2, 4, 4, 6, 6};
    for (int i = 0; i < 7; i++) {
        CHECK(ld_f32_to_fp4(ties[i]) == tie_code[i], "fp4 tie %g -> code %d, got %d", ties[i], tie_code[i],
              ld_f32_to_fp4(ties[i]));
        CHECK(ld_f32_to_fp4(-ties[i]) == (8 | tie_code[i]), "fp4 tie %g", -ties[i]);
        CHECK(ld_f32_to_fp4(nextafterf(ties[i], 0)) == fp4_encode_ref(nextafterf(ties[i], 0)), "below tie %g", ties[i]);
        CHECK(ld_f32_to_fp4(nextafterf(ties[i], 10)) == fp4_encode_ref(nextafterf(ties[i], 10)), "above tie %g", ties[i]);
    }
    int bad = 0;
    for (int i = -40000; i <= 40000; i++) {
        float x = (float)i * (8.0f / 40000.0f); /* sweep [-8, 8], includes every tie exactly */
        if (ld_f32_to_fp4(x) != fp4_encode_ref(x) && bad++ < 10)
            CHECK(0, "fp4 encode(%.9g): got %d want %d", x, ld_f32_to_fp4(x), fp4_encode_ref(x));
    }
    for (int i = 0; i < 100000; i++) {
        float x = (float)ldexp(rng_unit() * 2 - 1, (int)(rng_next() % 12) - 6);
        if (ld_f32_to_fp4(x) != fp4_encode_ref(x) && bad++ < 10)
            CHECK(0, "fp4 encode(%.9g): got %d want %d", x, ld_f32_to_fp4(x), fp4_encode_ref(x));
    }
    CHECK(bad == 0, "%d fp4 encodes differ from brute force", bad);
    CHECK(ld_f32_to_fp4(6.5f) == 7 && ld_f32_to_fp4(100.0f) == 7 && ld_f32_to_fp4(INFINITY) == 7, "saturate to 6");
    CHECK(ld_f32_to_fp4(-100.0f) == 15 && ld_f32_to_fp4(-INFINITY) == 15, "saturate to -6");
    CHECK(ld_f32_to_fp4(-0.1f) == 8, "tiny negative -> -0");
}

/* ---- bf16 ---------------------------------------------------------------- */

/* Nearest bf16 by comparing distances in double; the step above the largest
 * finite bf16 is 2^128 (IEEE overflow: a value that rounds past the largest
 * finite number becomes infinity). Ties go to the even bf16 code. */
static uint16_t bf16_ref(float f) {
    uint32_t u = f_bits(f);
    if (isnan(f)) return 0xffff; /* marker: caller checks NaN-ness */
    if (isinf(f)) return (uint16_t)(u >> 16);
    uint32_t sign = u & 0x80000000u, mag = u & 0x7fffffffu;
    uint32_t lo = mag & 0xffff0000u, hi = lo + 0x10000u;
    double a = fabs((double)f), vlo = (double)bits_f(lo);
    double vhi = hi == 0x7f800000u ? ldexp(1.0, 128) : (double)bits_f(hi);
    double dlo = a - vlo, dhi = vhi - a;
    uint32_t pick = dlo < dhi ? lo : dhi < dlo ? hi : (((lo >> 16) & 1) ? hi : lo);
    return (uint16_t)((sign | pick) >> 16);
}

static void test_bf16(void) {
    static const uint16_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff, 0x4000, 0xc000};
    int bad = 0;
    for (uint32_t top = 0; top < 0x10000u; top++) {
        for (int k = 0; k < 9; k++) {
            uint32_t low = k < 8 ? lows[k] : (uint32_t)(rng_next() & 0xffff);
            uint32_t u = top << 16 | low;
            float f = bits_f(u);
            ld_bf16 got = ld_f32_to_bf16(f);
            if (isnan(f)) {
                /* NaN stays NaN, even when only low mantissa bits are set */
                if (!isnan(ld_bf16_to_f32(got)) && bad++ < 10) CHECK(0, "bf16(NaN 0x%08x) = 0x%04x", u, got);
                continue;
            }
            uint16_t want = bf16_ref(f);
            if (got != want && bad++ < 10) CHECK(0, "bf16(0x%08x) = 0x%04x, want 0x%04x", u, got, want);
        }
    }
    CHECK(bad == 0, "%d bf16 conversions differ", bad);
    /* explicit ties: exactly halfway, to even */
    CHECK(ld_f32_to_bf16(bits_f(0x3f808000u)) == 0x3f80, "1 + 2^-8 ties down to 1 (even)");
    CHECK(ld_f32_to_bf16(bits_f(0x3f818000u)) == 0x3f82, "odd lower neighbour ties up");
    CHECK(ld_f32_to_bf16(bits_f(0x3f808001u)) == 0x3f81, "just above halfway rounds up");
    CHECK(ld_f32_to_bf16(INFINITY) == 0x7f80 && ld_f32_to_bf16(-INFINITY) == 0xff80, "inf stays inf");
    CHECK(ld_f32_to_bf16(FLT_MAX) == 0x7f80, "FLT_MAX rounds up to inf");
    CHECK(ld_f32_to_bf16(bits_f(0x7f7f7fffu)) == 0x7f7f, "just below the overflow tie stays finite");
    CHECK(ld_f32_to_bf16(bits_f(0x7f7f8000u)) == 0x7f80, "the overflow tie (odd 0x7f7f) rounds to inf");
    CHECK(isnan(ld_bf16_to_f32(ld_f32_to_bf16(bits_f(0x7f800001u)))), "signalling NaN with low bits only stays NaN");
    CHECK(ld_bf16_to_f32(0x3fc0) == 1.5f && ld_bf16_to_f32(0xc000) == -2.0f, "bf16 decode is the upper half");
    CHECK(ld_round_bf16(1.00390625f) == 1.0f, "ld_round_bf16 ties to even");
}

/* ---- e8m0 ---------------------------------------------------------------- */

static void test_e8m0(void) {
    for (int b = 0; b < 255; b++) {
        float got = ld_e8m0_to_f32((uint8_t)b);
        double want = ldexp(1.0, b - 127);
        CHECK((double)got == want, "e8m0 %d: got %g want 2^%d", b, got, b - 127);
    }
    CHECK(isnan(ld_e8m0_to_f32(255)), "e8m0 255 is NaN");
}

/* ---- activation scales --------------------------------------------------- */

/* Smallest power of two >= v, from frexp rather than from the bit pattern. */
static double pow2_ceil_ref(float v) {
    int e;
    double f = frexp((double)v, &e); /* v = f * 2^e, f in [0.5, 1) */
    return f == 0.5 ? ldexp(1.0, e - 1) : ldexp(1.0, e);
}
static double fp8_scale_ref(float amax) {
    if (amax < 1e-4f) amax = 1e-4f;
    float v = amax * (float)(1.0 / 448.0); /* an fp32 product, as the kernels compute it */
    return pow2_ceil_ref(v);
}
static double fp4_scale_ref(float amax) {
    float fl = (float)ldexp(6.0, -126);
    if (amax < fl) amax = fl;
    float v = amax * (float)(1.0 / 6.0);
    return pow2_ceil_ref(v);
}

static void test_scales(void) {
    int bad = 0;
    for (int e = -140; e <= 127; e++) {
        float p = (float)ldexp(1.0, e);
        if (p == 0 || isinf(p)) continue;
        float xs[4] = {p, nextafterf(p, 0), nextafterf(p, INFINITY), p * 1.5f};
        for (int i = 0; i < 4; i++) {
            float x = xs[i];
            if (!(x > 0) || isinf(x)) continue;
            /* above 2^127 the next power of two is not a float */
            if (x >= FLT_MIN && x <= 0x1p127f && (double)ld_pow2_ceil_scale(x) != pow2_ceil_ref(x) && bad++ < 10)
                CHECK(0, "pow2_ceil(%a) = %a", x, ld_pow2_ceil_scale(x));
            if (x < 1e30f && (double)ld_fp8_block_scale(x) != fp8_scale_ref(x) && bad++ < 10)
                CHECK(0, "fp8 scale(%a) = %a want %a", x, ld_fp8_block_scale(x), fp8_scale_ref(x));
            if (x < 1e30f && (double)ld_fp4_block_scale(x) != fp4_scale_ref(x) && bad++ < 10)
                CHECK(0, "fp4 scale(%a) = %a want %a", x, ld_fp4_block_scale(x), fp4_scale_ref(x));
        }
    }
    /* amax right at the quantizer maxima: 448*2^k and 6*2^k and their neighbours */
    for (int k = -20; k <= 20; k++) {
        float a8 = (float)ldexp(448.0, k), a4 = (float)ldexp(6.0, k);
        float xs[6] = {a8, nextafterf(a8, 0), nextafterf(a8, INFINITY), a4, nextafterf(a4, 0), nextafterf(a4, INFINITY)};
        for (int i = 0; i < 6; i++) {
            if ((double)ld_fp8_block_scale(xs[i]) != fp8_scale_ref(xs[i]) && bad++ < 10)
                CHECK(0, "fp8 scale(%a) = %a want %a", xs[i], ld_fp8_block_scale(xs[i]), fp8_scale_ref(xs[i]));
            if ((double)ld_fp4_block_scale(xs[i]) != fp4_scale_ref(xs[i]) && bad++ < 10)
                CHECK(0, "fp4 scale(%a) = %a want %a", xs[i], ld_fp4_block_scale(xs[i]), fp4_scale_ref(xs[i]));
        }
    }
    for (int i = 0; i < 200000; i++) {
        float x = (float)ldexp(rng_unit(), (int)(rng_next() % 60) - 40);
        if ((double)ld_fp8_block_scale(x) != fp8_scale_ref(x) && bad++ < 10) CHECK(0, "fp8 scale(%a)", x);
        if ((double)ld_fp4_block_scale(x) != fp4_scale_ref(x) && bad++ < 10) CHECK(0, "fp4 scale(%a)", x);
        if (x >= FLT_MIN && (double)ld_pow2_ceil_scale(x) != pow2_ceil_ref(x) && bad++ < 10) CHECK(0, "pow2(%a)", x);
    }
    CHECK(bad == 0, "%d scale mismatches", bad);
    /* floors: zero blocks get the floored scale rather than 0 */
    CHECK((double)ld_fp8_block_scale(0) == pow2_ceil_ref(1e-4f * (float)(1.0 / 448.0)), "fp8 floor");
    CHECK(ld_fp8_block_scale(0) == 0x1p-22f, "1e-4/448 = 2.2e-7 -> 2^-22");
    CHECK(ld_fp4_block_scale(0) == 0x1p-126f, "fp4 floor 6*2^-126 gives 2^-126");
    CHECK(ld_fp8_block_scale(448.0f) == (float)fp8_scale_ref(448.0f), "amax 448");
}

/* ---- block quantizers ---------------------------------------------------- */

static float clampd(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

static void fill_block(float *x, int n, int kind) {
    double mag = ldexp(1.0, (int)(rng_next() % 30) - 18);
    for (int i = 0; i < n; i++) {
        double v = (rng_unit() * 2 - 1) * mag;
        if (kind == 1) v = 0;                                 /* all-zero block: floored scale */
        if (kind == 2 && i == n / 2) v = ldexp(448.0, 3);    /* amax exactly 448 * 2^k */
        if (kind == 3 && i % 7 == 0) v = -v * 50;            /* outliers */
        x[i] = ld_round_bf16((float)v);
    }
}

static void test_quant_fp8_block(void) {
    float x[128];
    uint8_t codes[128];
    int bad = 0;
    for (int t = 0; t < 400; t++) {
        fill_block(x, 128, t % 4);
        float s = ld_quant_fp8_block(x, 128, codes);
        float amax = 0;
        for (int i = 0; i < 128; i++) amax = fmaxf(amax, fabsf(x[i]));
        double ws = fp8_scale_ref(amax);
        if ((double)s != ws && bad++ < 10) CHECK(0, "block scale %a want %a", s, ws);
        for (int i = 0; i < 128; i++) {
            int want = fp8_encode_ref(clampd((float)(x[i] / ws), -448, 448));
            if (codes[i] != want && bad++ < 10) CHECK(0, "block %d code %d: got 0x%02x want 0x%02x", t, i, codes[i], want);
        }
    }
    CHECK(bad == 0, "%d fp8 block quantization mismatches", bad);
}

static void test_sim_bf16(void) {
    int bad = 0;
    for (int block = 32; block <= 128; block *= 2) {
        for (int t = 0; t < 60; t++) {
            int n = block * 3;
            float xf[384];
            ld_bf16 x8[384], x4[384];
            for (int b = 0; b < 3; b++) fill_block(xf + b * block, block, (t + b) % 4);
            for (int i = 0; i < n; i++) x8[i] = x4[i] = ld_f32_to_bf16(xf[i]);
            ld_fp8_sim_bf16(x8, n, block);
            ld_fp4_sim_bf16(x4, n, block);
            for (int b = 0; b < 3; b++) {
                float amax = 0;
                for (int i = 0; i < block; i++) amax = fmaxf(amax, fabsf(xf[b * block + i]));
                double s8 = fp8_scale_ref(amax), s4 = fp4_scale_ref(amax);
                for (int i = b * block; i < (b + 1) * block; i++) {
                    /* fp8/fp4 values times a power of two are exact in bf16 */
                    double w8 = test_fp8_value(fp8_encode_ref(clampd((float)(xf[i] / s8), -448, 448))) * s8;
                    int c4 = fp4_encode_ref(clampd((float)(xf[i] / s4), -6, 6));
                    double w4 = (c4 & 8 ? -fp4_mag[c4 & 7] : fp4_mag[c4 & 7]) * s4;
                    if ((double)ld_bf16_to_f32(x8[i]) != w8 && bad++ < 10)
                        CHECK(0, "fp8 sim block %d [%d]: %g -> %g want %g", block, i, xf[i], ld_bf16_to_f32(x8[i]), w8);
                    if ((double)ld_bf16_to_f32(x4[i]) != w4 && bad++ < 10)
                        CHECK(0, "fp4 sim block %d [%d]: %g -> %g want %g", block, i, xf[i], ld_bf16_to_f32(x4[i]), w4);
                }
            }
        }
    }
    CHECK(bad == 0, "%d simulation mismatches", bad);
}

/* ---- fp32 math helpers --------------------------------------------------- */

static void test_math(void) {
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        float x = (float)((rng_unit() * 2 - 1) * (i % 3 == 0 ? 100.0 : i % 3 == 1 ? 25.0 : 2.0));
        double d = x;
        float e = (float)exp(d), sg = (float)(1.0 / (1.0 + exp(-d))), si = (float)(d / (1.0 + exp(-d)));
        /* softplus through the overflow-safe identity, independent of the x>20 shortcut */
        float sp = (float)(d > 0 ? d + log1p(exp(-d)) : log1p(exp(d)));
        if (!same_bits(ld_expf(x), e) && bad++ < 10) CHECK(0, "expf(%a) = %a want %a", x, ld_expf(x), e);
        if (!same_bits(ld_sigmoidf(x), sg) && bad++ < 10) CHECK(0, "sigmoid(%a)", x);
        if (!same_bits(ld_siluf(x), si) && bad++ < 10) CHECK(0, "silu(%a)", x);
        if (!same_bits(ld_softplusf(x), sp) && bad++ < 10)
            CHECK(0, "softplus(%a) = %a want %a", x, ld_softplusf(x), sp);
        float px = fabsf(x) + 1e-6f;
        if (!same_bits(ld_rsqrtf(px), (float)(1.0 / sqrt((double)px))) && bad++ < 10) CHECK(0, "rsqrt(%a)", px);
    }
    CHECK(bad == 0, "%d math helper mismatches", bad);
    CHECK(isinf(ld_expf(100.0f)) && ld_expf(-200.0f) == 0.0f, "exp overflow/underflow");
    CHECK(ld_sigmoidf(-200.0f) == 0.0f && ld_sigmoidf(200.0f) == 1.0f, "sigmoid limits");
    CHECK(ld_softplusf(50.0f) == 50.0f && ld_softplusf(1000.0f) == 1000.0f, "softplus of large x is x");
}

int main(void) {
    test_fp8_decode();
    test_fp8_roundtrip();
    test_fp8_encode();
    test_fp4();
    test_bf16();
    test_e8m0();
    test_scales();
    test_quant_fp8_block();
    test_sim_bf16();
    test_math();
    return test_summary("test_numerics");
}
