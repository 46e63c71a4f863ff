/* Row-wise and elementwise ops. Sums over a row: each work-item a strided
 * fp32 partial, then the fixed tree of wg_sum. */

/* rsqrt(mean(x^2) + eps) of n bf16 values, mean = sum * fp32(1/n). */
float row_inv_rms(__local float *red, __global const ushort *x, int n, float invn, float eps) {
    float s = 0.0f;
    for (int i = get_local_id(0); i < n; i += WG) {
        float v = bf2f(x[i]);
        s = fma(v, v, s);
    }
    return 1.0f / sqrt(wg_sum(red, s) * invn + eps);
}

/* One work-group per row; y == NULL-buffer mode (rs_only) writes rs[row]. */
__kernel void rmsnorm(BUF(x), BUF(w), BUF(y), BUF(rs), int n, float invn, float eps, int rs_only) {
    __local float red[WG];
    long r = get_group_id(0);
    __global const ushort *xr = P(ushort, x) + r * n;
    float v = row_inv_rms(red, xr, n, invn, eps);
    if (rs_only) {
        if (get_local_id(0) == 0) P(float, rs)[r] = v;
        return;
    }
    for (int i = get_local_id(0); i < n; i += WG)
        P(ushort, y)[r * n + i] = f2bf(bf2f(P(ushort, w)[i]) * (bf2f(xr[i]) * v));
}

/* Every intermediate rounded to bf16, as the official bf16 tensor ops do. */
__kernel void head_rmsnorm(BUF(q), int hd, float invhd, float eps) {
    __local float red[WG];
    __global ushort *v = P(ushort, q) + (long)get_group_id(0) * hd;
    float s = 0.0f;
    for (int i = get_local_id(0); i < hd; i += WG) {
        float x = bf2f(v[i]);
        s += rbf(x * x);
    }
    float mean = rbf(wg_sum(red, s) * invhd);
    float r = rbf(1.0f / sqrt(rbf(mean + eps)));
    for (int i = get_local_id(0); i < hd; i += WG) v[i] = f2bf(bf2f(v[i]) * r);
}

/* One work-item per (pair, vector, row); the complex product without FMA. */
__kernel void rope(BUF(x), BUF(cs), long row_stride, int vec_stride, int n_pairs, int inverse) {
    int i = get_global_id(0), v = get_global_id(1);
    long r = get_global_id(2);
    __global ushort *p = P(ushort, x) + r * row_stride + (long)v * vec_stride;
    __global const float *c = P(float, cs) + r * 2 * n_pairs;
    float a = bf2f(p[2 * i]), b = bf2f(p[2 * i + 1]);
    float co = c[i], d = inverse ? -c[n_pairs + i] : c[n_pairs + i];
    float ac = a * co, bd = b * d, ad = a * d, bc = b * co;
    p[2 * i] = f2bf(ac - bd);
    p[2 * i + 1] = f2bf(ad + bc);
}

/* Butterflies of the fast Walsh-Hadamard transform on n values in local
 * memory, in the order of ref's loops. */
void fwht_local(__local float *t, int n) {
    for (int len = 1; len < n; len <<= 1) {
        for (int q = get_local_id(0); q < n / 2; q += WG) {
            int j = (q / len) * 2 * len + q % len;
            float a = t[j], b = t[j + len];
            t[j] = a + b;
            t[j + len] = a - b;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

__kernel void hadamard(BUF(x), int n, float sc, __local float *t) {
    __global ushort *v = P(ushort, x) + (long)get_group_id(0) * n;
    for (int i = get_local_id(0); i < n; i += WG) t[i] = bf2f(v[i]);
    barrier(CLK_LOCAL_MEM_FENCE);
    fwht_local(t, n);
    for (int i = get_local_id(0); i < n; i += WG) v[i] = f2bf(t[i] * sc);
}

float sigm(float x) { return 1.0f / (1.0f + exp(-x)); }

/* After the mixes (dots [m, nmix] times the row's rs): sigmoids, Sinkhorn
 * (hc_pre) and the stream reduction y = bf16(sum_j pre[j] * stream_j). One
 * work-group per row; hc <= 16. */
__kernel void hc_finish(BUF(dots), BUF(rs), BUF(scale), BUF(base), BUF(h), BUF(y), BUF(post), BUF(comb), int d,
                        int hc, int nmix, int iters, float hc_eps, int head) {
    __local float pre[16], c[256];
    long r = get_group_id(0);
    __global const float *mx = P(float, dots) + r * nmix;
    __global const float *sc = P(float, scale), *bs = P(float, base);
    float rr = P(float, rs)[r];
    if (get_local_id(0) == 0) {
        for (int j = 0; j < hc; j++) pre[j] = sigm(mx[j] * rr * sc[0] + bs[j]) + hc_eps;
        if (!head) {
            for (int j = 0; j < hc; j++) P(float, post)[r * hc + j] = 2.0f * sigm(mx[hc + j] * rr * sc[1] + bs[hc + j]);
            for (int j = 0; j < hc * hc; j++) c[j] = mx[2 * hc + j] * rr * sc[2] + bs[2 * hc + j];
            for (int j = 0; j < hc; j++) {
                float m = c[j * hc], s = 0.0f;
                for (int k = 1; k < hc; k++) m = fmax(m, c[j * hc + k]);
                for (int k = 0; k < hc; k++) { c[j * hc + k] = exp(c[j * hc + k] - m); s += c[j * hc + k]; }
                for (int k = 0; k < hc; k++) c[j * hc + k] = c[j * hc + k] / s + hc_eps;
            }
            for (int it = 0; it < iters; it++) {
                if (it > 0)
                    for (int j = 0; j < hc; j++) {
                        float s = 0.0f;
                        for (int k = 0; k < hc; k++) s += c[j * hc + k];
                        float den = s + hc_eps;
                        for (int k = 0; k < hc; k++) c[j * hc + k] = c[j * hc + k] / den;
                    }
                for (int k = 0; k < hc; k++) {
                    float s = 0.0f;
                    for (int j = 0; j < hc; j++) s += c[j * hc + k];
                    float den = s + hc_eps;
                    for (int j = 0; j < hc; j++) c[j * hc + k] = c[j * hc + k] / den;
                }
            }
            for (int j = 0; j < hc * hc; j++) P(float, comb)[r * hc * hc + j] = c[j];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    __global const ushort *hr = P(ushort, h) + r * hc * d;
    for (int i = get_local_id(0); i < d; i += WG) {
        float s = 0.0f;
        for (int j = 0; j < hc; j++) s += pre[j] * bf2f(hr[(long)j * d + i]);
        P(ushort, y)[r * d + i] = f2bf(s);
    }
}

/* out[r, j, i] = bf16(post[j] x[i] + sum_k comb[k][j] res_k[i]). */
__kernel void hc_post(BUF(x), BUF(res), BUF(post), BUF(comb), BUF(out), int d, int hc) {
    int i = get_global_id(0), j = get_global_id(1);
    long r = get_global_id(2);
    __global const float *c = P(float, comb) + r * hc * hc;
    __global const ushort *rr = P(ushort, res) + r * hc * d;
    float s = 0.0f;
    for (int k = 0; k < hc; k++) s += c[k * hc + j] * bf2f(rr[(long)k * d + i]);
    float px = P(float, post)[r * hc + j] * bf2f(P(ushort, x)[r * d + i]);
    P(ushort, out)[(r * hc + j) * d + i] = f2bf(px + s);
}

/* Per channel: softmax over the rows of its scores, then the weighted sum.
 * Rows from `split` on read channel c + off2 (the overlap of compress). */
float pool_channel(__global const float *kv, __global const float *sc, int rows, int ld, int c, int split, int off2) {
    float mx = -INFINITY, se = 0.0f, acc = 0.0f;
#define AT(r) ((long)(r) * ld + c + ((r) >= split ? off2 : 0))
    for (int r = 0; r < rows; r++) mx = fmax(mx, sc[AT(r)]);
    for (int r = 0; r < rows; r++) se += exp(sc[AT(r)] - mx);
    for (int r = 0; r < rows; r++) acc += kv[AT(r)] * (exp(sc[AT(r)] - mx) / se);
#undef AT
    return acc;
}

__kernel void compress_pool(BUF(kv), BUF(score), BUF(out), int rows, int ld) {
    int c = get_global_id(0);
    P(float, out)[c] = pool_channel(P(float, kv), P(float, score), rows, ld, c, rows, 0);
}

__kernel void swiglu(BUF(g), BUF(u), BUF(out), BUF(grp), BUF(rw), int n, int rows, float lim, float weight, int e,
                     int E) {
    int i = get_global_id(0), r = get_global_id(1);
    __global const int *gl = P(int, grp);
    if (r >= grp_count(gl, e, E, rows)) return;
    long at = (long)r * n + i;
    float gv = bf2f(P(ushort, g)[at]), uv = bf2f(P(ushort, u)[at]);
    if (lim > 0.0f) {
        uv = fmin(fmax(uv, -lim), lim);
        gv = fmin(gv, lim);
    }
    float a = gv / (1.0f + exp(-gv)) * uv;
    float w = e >= 0 ? P(float, rw)[gl[E + e] + r] : weight;
    P(ushort, out)[at] = f2bf(w * a);
}

__kernel void embed(BUF(table), BUF(ids), BUF(h), int d, int copies) {
    int i = get_global_id(0), j = get_global_id(1);
    long t = get_global_id(2);
    P(ushort, h)[(t * copies + j) * d + i] = P(ushort, table)[(long)P(int, ids)[t] * d + i];
}

/* unit 4: every offset, pitch and length a multiple of 4 bytes. */
__kernel void copy_rows(BUF(dst), BUF(src), long dpitch, long spitch, int unit) {
    long i = get_global_id(0), r = get_global_id(1);
    if (unit == 4)
        ((__global uint *)(P(uchar, dst) + r * dpitch))[i] = ((__global const uint *)(P(uchar, src) + r * spitch))[i];
    else
        P(uchar, dst)[r * dpitch + i] = P(uchar, src)[r * spitch + i];
}

__kernel void widen(BUF(x), BUF(y)) {
    size_t i = get_global_id(0);
    P(float, y)[i] = bf2f(P(ushort, x)[i]);
}

__kernel void scale_bf16(BUF(x), float s) {
    size_t i = get_global_id(0);
    P(ushort, x)[i] = f2bf(bf2f(P(ushort, x)[i]) * s);
}

__kernel void fill_f32(BUF(y), float v) { P(float, y)[get_global_id(0)] = v; }

__kernel void add_round(BUF(y), BUF(ye), BUF(out)) {
    size_t i = get_global_id(0);
    P(ushort, out)[i] = f2bf(P(float, y)[i] + bf2f(P(ushort, ye)[i]));
}

/* ld_fp8_sim_bf16 / ld_fp4_sim_bf16 on one block of v. */
void sim_block(__global ushort *v, int block, int fp4) {
    float amax = 0.0f;
    for (int i = 0; i < block; i++) amax = fmax(amax, fabs(bf2f(v[i])));
    int se = fp4 ? fp4_scale_exp(amax) : fp8_scale_exp(amax);
    float s = pow2i(se), inv = pow2i(-se);
    for (int i = 0; i < block; i++) {
        float x = bf2f(v[i]) * inv;
        float q = fp4 ? fp4_tab[f32_to_fp4(clamp(x, -6.0f, 6.0f))] : fp8_val(f32_to_fp8(clamp(x, -448.0f, 448.0f)));
        v[i] = f2bf(q * s);
    }
}

__kernel void quant_sim(BUF(x), long stride, int block, int fp4) {
    sim_block(P(ushort, x) + get_global_id(1) * stride + (long)get_global_id(0) * block, block, fp4);
}
