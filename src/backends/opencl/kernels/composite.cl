/* Attention-side and routing kernels. Row t of a sequence call is at
 * position P + t; `sel` mode (indexer selection) limits row t to the first
 * (P + t + 1) / 4 keys. */

int visible(int n, int sel, long P, int t) { return sel ? (int)min((long)n, (P + t + 1) / 4) : n; }

/* out[t, i] = bf16(sum_h bf16(relu(bf16(q_h . k_i)) * w_h)): one work-group
 * per (key, row), work-items over heads, the head sum in ascending order. */
__kernel void indexer_scores(BUF(q), BUF(w), BUF(keys), BUF(out), int h, int d, int n, long ldo, int sel, long P,
                             __local float *part) {
    int i = get_group_id(0), t = get_group_id(1);
    if (i >= visible(n, sel, P, t)) return;
    __global const ushort *k = P(ushort, keys) + (long)i * d;
    for (int hh = get_local_id(0); hh < h; hh += WG) {
        __global const ushort *qh = P(ushort, q) + ((long)t * h + hh) * d;
        float dot = 0.0f;
        for (int j = 0; j < d; j++) dot = fma(bf2f(qh[j]), bf2f(k[j]), dot);
        float sc = fmax(rbf(dot), 0.0f);
        part[hh] = rbf(sc * bf2f(P(ushort, w)[(long)t * h + hh]));
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (get_local_id(0) == 0) {
        float tot = 0.0f;
        for (int hh = 0; hh < h; hh++) tot += part[hh];
        P(float, out)[(long)t * ldo + i] = rbf(tot);
    }
}

/* Exact top-k of row t by rank: s[i] has rank = #{j: s[j] > s[i] or (s[j] ==
 * s[i] and j < i)}, i.e. descending with ties to the lower index; slots past
 * min(k, visible) get -1 up to kpad. */
__kernel void topk(BUF(s), BUF(idx), long lds, int ldi, int n, int k, int kpad, int sel, long P) {
    int t = get_group_id(0), nv = visible(n, sel, P, t), kt = min(k, nv);
    /* read from global: the visible keys grow with the context, local memory does not */
    __global const float *v = P(float, s) + t * lds;
    __global int *ir = P(int, idx) + (long)t * ldi;
    for (int i = get_local_id(0); i < nv; i += WG) {
        float x = v[i];
        int rank = 0;
        for (int j = 0; j < nv && rank < kt; j++) rank += v[j] > x || (v[j] == x && j < i);
        if (rank < kt) ir[rank] = i;
    }
    for (int i = kt + get_local_id(0); i < kpad; i += WG) ir[i] = -1;
}

/* Sparse attention, one work-group per (head, row): the entry list of the
 * ld_attend_args comment in blocks of 64, online softmax, bf16
 * probabilities in the PV product, the sink added at the end. */
__kernel void attend(BUF(q), BUF(kvn), BUF(ring), BUF(comp), BUF(cidx), BUF(sink), BUF(out), int h, int d,
                     int window, int W, long P, int k_max, int ratio, int has_cidx, float scale,
                     __local float *acc) {
    __local float s[64], p[64];
    __local int nc;
    __local float alpha_l;
    __local int skip_l;
    int hh = get_group_id(0), t = get_group_id(1), l = get_local_id(0);
    long pos = P + t, start = max(0L, pos - window + 1);
    __global const int *ci = P(int, cidx) + (long)t * k_max;
    if (l == 0) {
        int c = 0;
        if (has_cidx) while (c < k_max && ci[c] >= 0) c++;
        else if (ratio > 0) c = (int)((pos + 1) / ratio);
        nc = c;
    }
    for (int i = l; i < d; i += WG) acc[i] = 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    int n = W + nc;
    float m = -INFINITY, lsum = 0.0f;
    __global const ushort *qh = P(ushort, q) + ((long)t * h + hh) * d;
    for (int b0 = 0; b0 < n; b0 += 64) {
        int bn = min(64, n - b0);
        for (int j = l; j < bn; j += WG) {
            int e = b0 + j;
            __global const ushort *kr = 0;
            if (e < W) {
                long qp = start + e;
                if (qp <= pos) kr = qp >= P ? P(ushort, kvn) + (qp - P) * d : P(ushort, ring) + (qp % window) * d;
            } else {
                long ce = has_cidx ? ci[e - W] : e - W;
                kr = P(ushort, comp) + ce * d;
            }
            float sc = -INFINITY;
            if (kr) {
                float dot = 0.0f;
                for (int i = 0; i < d; i++) dot = fma(bf2f(qh[i]), bf2f(kr[i]), dot);
                sc = dot * scale;
            }
            s[j] = sc;
            /* the row of an entry, kept as its offset: -1 = empty slot */
            p[j] = kr ? 0.0f : -1.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (l == 0) {
            float bmax = -INFINITY;
            for (int j = 0; j < bn; j++) if (p[j] == 0.0f) bmax = fmax(bmax, s[j]);
            float mn = fmax(m, bmax);
            skip_l = mn == -INFINITY;
            if (!skip_l) {
                float al = exp(m - mn), ps = 0.0f;
                for (int j = 0; j < bn; j++) {
                    p[j] = p[j] == 0.0f ? exp(s[j] - mn) : 0.0f;
                    ps += p[j];
                }
                lsum = lsum * al + ps;
                alpha_l = al;
                m = mn;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (!skip_l) {
            float al = alpha_l;
            for (int i = l; i < d; i += WG) {
                float pv = 0.0f;
                for (int j = 0; j < bn; j++) {
                    int e = b0 + j;
                    if (p[j] == 0.0f) continue;
                    __global const ushort *kr;
                    if (e < W) {
                        long qp = start + e;
                        kr = qp >= P ? P(ushort, kvn) + (qp - P) * d : P(ushort, ring) + (qp % window) * d;
                    } else {
                        kr = P(ushort, comp) + (has_cidx ? (long)ci[e - W] : (long)(e - W)) * d;
                    }
                    pv = fma(rbf(p[j]), bf2f(kr[i]), pv);
                }
                acc[i] = acc[i] * al + pv;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) s[0] = lsum + exp(P(float, sink)[hh] - m);
    barrier(CLK_LOCAL_MEM_FENCE);
    float den = s[0];
    for (int i = l; i < d; i += WG) P(ushort, out)[((long)t * h + hh) * d + i] = f2bf(acc[i] / den);
}

/* FP8 (fp4 = 0) or FP4 simulation of a block of bf16 values held as floats,
 * stored as bf16 into out. */
void sim_local(__local const float *v, __global ushort *out, int block, int fp4) {
    float amax = 0.0f;
    for (int i = 0; i < block; i++) amax = fmax(amax, fabs(v[i]));
    int se = fp4 ? fp4_scale_exp(amax) : fp8_scale_exp(amax);
    float s = pow2i(se), inv = pow2i(-se);
    for (int i = 0; i < block; i++) {
        float x = v[i] * inv;
        float q = fp4 ? fp4_tab[f32_to_fp4(clamp(x, -6.0f, 6.0f))] : fp8_val(f32_to_fp8(clamp(x, -448.0f, 448.0f)));
        out[i] = f2bf(q * s);
    }
}

/* The compressor state machine of one sequence (model/compressor.c), in one
 * work-group: tokens are sequential through the state, each emitted entry
 * is pooled, bf16-rounded, RMS-normed, rotated and quantized in local memory
 * t[d] before it is stored. */
__kernel void compress_run(BUF(kv), BUF(sc), BUF(ape), BUF(kvs), BUF(scs), BUF(cache), BUF(norm), BUF(cse), int S,
                           long P, int n0, int r, int d, int overlap, int rd, int rotate, float eps, float invd,
                           float hsc, __local float *t) {
    __local float red[WG];
    int l = get_local_id(0), cd = (1 + overlap) * d, j = 0;
    __global float *ks = P(float, kvs), *ss = P(float, scs);
    for (int tt = 0; tt < S; tt++) {
        long p = P + tt;
        int slot = (int)(p % r), row = overlap ? r + slot : slot;
        __global float *sr = P(float, sc) + (long)tt * cd;
        __global const float *kr = P(float, kv) + (long)tt * cd, *ap = P(float, ape) + (long)slot * cd;
        for (int i = l; i < cd; i += WG) {
            float v = sr[i] + ap[i];
            sr[i] = v;
            ks[(long)row * cd + i] = kr[i];
            ss[(long)row * cd + i] = v;
        }
        barrier(CLK_GLOBAL_MEM_FENCE);
        if ((p + 1) % r) continue;
        for (int c = l; c < d; c += WG)
            t[c] = rbf(overlap ? pool_channel(ks, ss, 2 * r, cd, c, r, d) : pool_channel(ks, ss, r, cd, c, r, 0));
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
        if (overlap)
            for (int i = l; i < r * cd; i += WG) {
                ks[i] = ks[(long)r * cd + i];
                ss[i] = ss[(long)r * cd + i];
            }
        float s = 0.0f;
        for (int c = l; c < d; c += WG) s = fma(t[c], t[c], s);
        float rs = 1.0f / sqrt(wg_sum(red, s) * invd + eps);
        for (int c = l; c < d; c += WG) t[c] = rbf(bf2f(P(ushort, norm)[c]) * (t[c] * rs));
        barrier(CLK_LOCAL_MEM_FENCE);
        __global const float *cs = P(float, cse) + (long)j * rd;
        for (int i = l; i < rd / 2; i += WG) {
            int at = d - rd + 2 * i;
            float a = t[at], b = t[at + 1], co = cs[i], si = cs[rd / 2 + i];
            float ac = a * co, bd = b * si, ad = a * si, bc = b * co;
            t[at] = rbf(ac - bd);
            t[at + 1] = rbf(ad + bc);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        __global ushort *e = P(ushort, cache) + (long)(n0 + j) * d;
        if (rotate) {
            fwht_local(t, d);
            for (int c = l; c < d; c += WG) t[c] = rbf(t[c] * hsc);
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int b = l; b < d / 32; b += WG) sim_local(t + b * 32, e + b * 32, 32, 1);
        } else {
            for (int b = l; b < (d - rd) / 64; b += WG) sim_local(t + b * 64, e + b * 64, 64, 0);
            for (int c = d - rd + l; c < d; c += WG) e[c] = f2bf(t[c]);
        }
        j++;
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    }
}

/* Routing of row t: score = sqrt(softplus(logit)) written over the logits,
 * K picks by repeated scan (first maximum wins, as ref's topk), or the hash
 * table; weights = score / sum * route_scale. K <= 16. */
__kernel void moe_route(BUF(logits), BUF(bias), BUF(tid), BUF(ids), BUF(idx), BUF(wt), int E, int K, float rsc,
                        int hash) {
    int t = get_global_id(0), pick[16];
    __global float *s = P(float, logits) + (long)t * E;
    __global const float *bias = P(float, bias);
    for (int e = 0; e < E; e++) {
        float x = s[e];
        s[e] = sqrt(x > 20.0f ? x : log1p(exp(x)));
    }
    for (int q = 0; q < K; q++) {
        if (hash) {
            pick[q] = (int)P(long, tid)[(long)P(int, ids)[t] * K + q];
            continue;
        }
        int best = -1;
        float bv = 0.0f;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int u = 0; u < q; u++) taken |= pick[u] == e;
            float v = s[e] + bias[e];
            if (!taken && (best < 0 || v > bv)) { best = e; bv = v; }
        }
        pick[q] = best;
    }
    float sum = 0.0f;
    for (int q = 0; q < K; q++) sum += s[pick[q]];
    for (int q = 0; q < K; q++) {
        P(int, idx)[t * K + q] = pick[q];
        P(float, wt)[t * K + q] = s[pick[q]] / sum * rsc;
    }
}

/* Per-expert row lists in ascending row order (a counting sort in one
 * work-item): grp = counts [E], starts [E], rows; rw the matching weights.
 * A row's repeated id counts once, with its first weight. */
__kernel void moe_group(BUF(idx), BUF(wt), BUF(grp), BUF(rw), int S, int K, int E) {
    __global const int *ix = P(int, idx);
    __global int *g = P(int, grp);
    for (int pass = 0; pass < 2; pass++) {
        for (int e = 0; e < E; e++) g[e] = 0;
        for (int t = 0; t < S; t++)
            for (int k = 0; k < K; k++) {
                int e = ix[t * K + k], dup = e < 0 || e >= E;
                for (int u = 0; u < k && !dup; u++) dup = ix[t * K + u] == e;
                if (dup) continue;
                if (pass) {
                    int at = g[E + e] + g[e];
                    g[2 * E + at] = t;
                    P(float, rw)[at] = P(float, wt)[t * K + k];
                }
                g[e]++;
            }
        if (!pass)
            for (int e = 0, acc = 0; e < E; e++) {
                g[E + e] = acc;
                acc += g[e];
            }
    }
}
