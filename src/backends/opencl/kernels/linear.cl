/* Linears. One work-group per (output column, row): work-items take
 * 32-wide chunks of K, work-item 0 combines the chunk partials in ascending
 * order. FP8/FP4 partials are exact integer sums (e4m3 values are integers
 * times 2^-9, e2m1 values integers times 2^-1), so each block's partial is
 * the exact sum rounded once to fp32, as ref computes it. */

/* |fp8 value| * 512 == m << sh, exactly. */
int fp8_mant(uchar c, int *sh) {
    int ex = (c >> 3) & 15, m = c & 7;
    *sh = ex ? ex - 1 : 0;
    return ex ? m + 8 : m;
}
__constant int fp4_int[8] = {0, 1, 2, 3, 4, 6, 8, 12};

/* Activation quantization: one work-item per row and 128-block; codes [m, k]
 * and fp32 scales [m, k/128]. */
__kernel void quant_act(BUF(x), BUF(codes), BUF(scales), BUF(grp), int k, int m, int e, int E) {
    int b = get_global_id(0), r = get_global_id(1), nb = k / 128;
    if (r >= grp_count(P(int, grp), e, E, m)) return;
    __global const ushort *xr = P(ushort, x) + (long)r * k + b * 128;
    __global uchar *cr = P(uchar, codes) + (long)r * k + b * 128;
    float amax = 0.0f;
    for (int i = 0; i < 128; i++) amax = fmax(amax, fabs(bf2f(xr[i])));
    int se = fp8_scale_exp(amax);
    float inv = pow2i(-se);
    for (int i = 0; i < 128; i++) cr[i] = f32_to_fp8(clamp(bf2f(xr[i]) * inv, -448.0f, 448.0f));
    P(float, scales)[(long)r * nb + b] = pow2i(se);
}

long chunk_fp8(__global const uchar *a, __global const uchar *w) {
    long s = 0;
    for (int j = 0; j < 32; j++) {
        int sa, sw, ma = fp8_mant(a[j], &sa), mw = fp8_mant(w[j], &sw);
        long p = (long)(ma * mw) << (sa + sw);
        s += ((a[j] ^ w[j]) & 0x80) ? -p : p;
    }
    return s;
}

long chunk_fp4(__global const uchar *a, __global const uchar *w) {
    int s = 0;
    for (int j = 0; j < 32; j++) {
        uchar nib = (j & 1) ? w[j / 2] >> 4 : w[j / 2] & 15;
        int sa, ma = fp8_mant(a[j], &sa);
        int p = (ma * fp4_int[nib & 7]) << sa;
        s += ((a[j] >> 7) ^ (nib >> 3)) ? -p : p;
    }
    return s;
}

/* fmt: 0 F32, 1 BF16, 2 FP8, 3 FP8_DQ, 4 FP4 (the ld_wfmt order). xkind: 0
 * bf16, 1 fp32, 2 fp8 codes + scales. ykind: 0 bf16, 1 fp32. list: 0 dense
 * rows, 1 input rows gathered through expert e's list, 2 output added
 * (rounded to bf16 first) into fp32 rows scattered through the list. */
__kernel void linear(BUF(w), BUF(ws), BUF(x), BUF(xs), BUF(y), BUF(grp), int n, int k, int fmt, int scols,
                     int xkind, int ykind, int m, int list, int e, int E, __local long *part) {
    int o = get_group_id(0), l = get_local_id(0), nch = (k + 31) / 32;
    __global const int *g = P(int, grp);
    int cnt = grp_count(g, e, E, m);
    __global const uchar *wq = P(uchar, w);
    __global const uchar *wsc = P(uchar, ws);
    __local float *pf = (__local float *)part;
    for (int i = get_group_id(1); i < cnt; i += get_num_groups(1)) {
        long xr = list == 1 ? grp_row(g, e, E, i) : i;
        for (int c = l; c < nch; c += WG) {
            int i0 = c * 32, i1 = min(i0 + 32, k);
            if (fmt == 2) {
                part[c] = chunk_fp8(P(uchar, x) + xr * k + i0, wq + (long)o * k + i0);
            } else if (fmt == 4) {
                part[c] = chunk_fp4(P(uchar, x) + xr * k + i0, wq + (long)o * (k / 2) + i0 / 2);
            } else {
                float s = 0.0f;
                for (int j = i0; j < i1; j++) {
                    float xv = xkind == 1 ? P(float, x)[xr * k + j] : bf2f(P(ushort, x)[xr * k + j]);
                    float wv;
                    if (fmt == 0) wv = P(float, w)[(long)o * k + j];
                    else if (fmt == 1) wv = bf2f(P(ushort, w)[(long)o * k + j]);
                    else wv = fp8_val(wq[(long)o * k + j]) * e8m0(wsc[(long)(o / 128) * scols + j / 128]);
                    s = fma(xv, wv, s);
                }
                pf[c] = s;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (l == 0) {
            float acc = 0.0f;
            __global const float *sa = P(float, xs) + xr * (k / 128);
            if (fmt == 2) {
                for (int b = 0; b < k / 128; b++) {
                    long p = part[4 * b] + part[4 * b + 1] + part[4 * b + 2] + part[4 * b + 3];
                    acc += (float)p * 0x1p-18f * (sa[b] * e8m0(wsc[(long)(o / 128) * scols + b]));
                }
            } else if (fmt == 4) {
                for (int b = 0; b < k / 32; b++)
                    acc += (float)part[b] * 0x1p-10f * sa[b / 4] * e8m0(wsc[(long)o * scols + b]);
            } else {
                for (int c = 0; c < nch; c++) acc += pf[c];
            }
            long yi = (long)i * n + o;
            if (list == 2) P(float, y)[(long)grp_row(g, e, E, i) * n + o] += rbf(acc);
            else if (ykind == 1) P(float, y)[yi] = acc;
            else P(ushort, y)[yi] = f2bf(acc);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
