/* Linears and the routed experts on the device. Weights stay in their
 * checkpoint formats and are decoded inside the kernel; FP8/FP4 activations
 * are quantized by their own kernel first, so the codes are ref's bit for
 * bit. moe_experts never reads the routing back: the row lists are built on
 * the device, and each expert's launches loop over its listed rows. */
#include "backends/opencl/ocl.h"
#include "core/error.h"

static int quantized(ld_wfmt f) { return f == LD_WF_FP8 || f == LD_WF_FP4; }

int ocl_quant_act(ocl_ctx *c, const void *x, int k, int m, const void *grp, int e, int E, void *codes, void *scales,
                  const char *op) {
    ocl_call a;
    ocl_begin(&a, c, OCL_K_quant_act);
    ocl_buf(&a, x);
    ocl_buf(&a, codes);
    ocl_buf(&a, scales);
    ocl_buf(&a, grp);
    ocl_int(&a, k);
    ocl_int(&a, m);
    ocl_int(&a, e);
    ocl_int(&a, E);
    return ocl_run(&a, op, (size_t)(k / 128), (size_t)m, 1, 0);
}

int ocl_linear_run(ocl_ctx *c, const ld_weight *w, const void *x, int xkind, const void *xs, int m, void *y,
                   int ykind, int list, const void *grp, int e, int E, const char *op) {
    int k = w->k;
    if (quantized(w->fmt)) {
        if (k % 128) return ld_set_error("opencl %s: k = %d is not a multiple of 128", op, k);
        if (xkind == 1) return ld_set_error("opencl %s: FP8/FP4 weights take bf16 activations", op);
        if (xkind == 0) {
            void *codes = ocl_scratch(c, SCR_CODES2, (size_t)m * k);
            void *sc = ocl_scratch(c, SCR_ASCALE2, sizeof(float) * (size_t)m * (k / 128));
            if (!codes || !sc) return ld_wrap_error("opencl %s", op);
            if (ocl_quant_act(c, x, k, m, list == 2 ? grp : NULL, list == 2 ? e : -1, E, codes, sc, op)) return -1;
            x = codes;
            xs = sc;
        }
    } else if (xkind == 2) {
        return ld_set_error("opencl %s: codes given to a plain-format weight", op);
    }
    if (w->fmt == LD_WF_FP8_DQ && k % 128) return ld_set_error("opencl %s: k = %d is not a multiple of 128", op, k);
    size_t nch = (size_t)(k + 31) / 32;
    ocl_call a;
    ocl_begin(&a, c, OCL_K_linear);
    ocl_buf(&a, w->data);
    ocl_buf(&a, w->scale);
    ocl_buf(&a, x);
    ocl_buf(&a, xs);
    ocl_buf(&a, y);
    ocl_buf(&a, grp);
    ocl_int(&a, w->n);
    ocl_int(&a, k);
    ocl_int(&a, (int)w->fmt);
    ocl_int(&a, w->scale_cols);
    ocl_int(&a, xkind);
    ocl_int(&a, ykind);
    ocl_int(&a, m);
    ocl_int(&a, list);
    ocl_int(&a, list ? e : -1);
    ocl_int(&a, E);
    ocl_local(&a, 8 * nch);
    return ocl_run(&a, op, (size_t)w->n * c->wg, list ? 1 : (size_t)m, 1, c->wg);
}

int ocl_op_linear(ld_backend *be, const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y) {
    return ocl_linear_run(OCL_CTX(be), w, x, 0, NULL, m, y, 0, 0, NULL, -1, 0, "linear");
}

int ocl_op_linear_f32(ld_backend *be, const ld_weight *w, const float *x, int m, float *y) {
    if (w->fmt != LD_WF_F32 && w->fmt != LD_WF_BF16)
        return ld_set_error("opencl linear_f32: weights must be F32 or BF16");
    return ocl_linear_run(OCL_CTX(be), w, x, 1, NULL, m, y, 1, 0, NULL, -1, 0, "linear_f32");
}

/* a = swiglu(g, u) * weight in place of g, rows of n; the weight of row i is
 * rw[start + i] for expert e, else `weight`. */
static int swiglu_rows(ocl_ctx *c, void *g, const void *u, int n, int rows, float limit, float weight,
                       const void *grp, const void *rw, int e, int E, const char *op) {
    ocl_call a;
    ocl_begin(&a, c, OCL_K_swiglu);
    ocl_buf(&a, g);
    ocl_buf(&a, u);
    ocl_buf(&a, g);
    ocl_buf(&a, grp);
    ocl_buf(&a, rw);
    ocl_int(&a, n);
    ocl_int(&a, rows);
    ocl_float(&a, limit);
    ocl_float(&a, weight);
    ocl_int(&a, e);
    ocl_int(&a, E);
    return ocl_run(&a, op, (size_t)n, (size_t)rows, 1, 0);
}

int ocl_op_swiglu(ld_backend *be, const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight,
                  ld_bf16 *out) {
    ocl_ctx *c = OCL_CTX(be);
    ocl_call a;
    ocl_begin(&a, c, OCL_K_swiglu);
    ocl_buf(&a, g);
    ocl_buf(&a, u);
    ocl_buf(&a, out);
    ocl_buf(&a, NULL);
    ocl_buf(&a, NULL);
    ocl_int(&a, n);
    ocl_int(&a, 1);
    ocl_float(&a, limit);
    ocl_float(&a, weight);
    ocl_int(&a, -1);
    ocl_int(&a, 0);
    return ocl_run(&a, "swiglu", (size_t)n, 1, 1, 0);
}

/* One expert FFN: w1/w3 over its listed rows of x (codes when quantized),
 * SwiGLU times the routing weight, w2 added into the fp32 rows of y (list
 * 2), or for the shared expert (e < 0) stored as bf16 into ye. */
static int expert(ocl_ctx *c, const ld_expert_w *X, const ld_moe_args *a, const void *xc, const void *xs, void *g,
                  void *u, const void *grp, const void *rw, int e, void *y) {
    int list = e >= 0, S = a->S;
    const char *op = "moe_experts";
    for (int j = 0; j < 2; j++) {
        const ld_weight *w = j ? &X->w3 : &X->w1;
        int q = quantized(w->fmt);
        if (ocl_linear_run(c, w, q ? xc : a->x, q ? 2 : 0, xs, S, j ? u : g, 0, list, grp, e, a->E, op)) return -1;
    }
    if (swiglu_rows(c, g, u, a->inter, S, a->swiglu_limit, 1.0f, grp, list ? rw : NULL, list ? e : -1, a->E, op))
        return -1;
    return ocl_linear_run(c, &X->w2, g, 0, NULL, S, y, 0, list ? 2 : 0, grp, e, a->E, op);
}

int ocl_op_moe_experts(ld_backend *be, const ld_moe_args *a) {
    ocl_ctx *c = OCL_CTX(be);
    int S = a->S, E = a->E, K = a->K, D = a->dim;
    int q = (E && quantized(a->experts[0].w1.fmt)) || quantized(a->shared->w1.fmt);
    if (!S) return 0;
    if (q && D % 128) return ld_set_error("opencl moe_experts: dim = %d is not a multiple of 128", D);
    void *grp = ocl_scratch(c, SCR_GRP, sizeof(int) * (size_t)(2 * E + S * K));
    void *rw = ocl_scratch(c, SCR_RW, sizeof(float) * (size_t)S * K);
    void *xc = ocl_scratch(c, SCR_CODES, (size_t)S * D);
    void *xs = ocl_scratch(c, SCR_ASCALE, sizeof(float) * (size_t)S * (D / 128));
    void *g = ocl_scratch(c, SCR_G, sizeof(ld_bf16) * (size_t)S * a->inter);
    void *u = ocl_scratch(c, SCR_U, sizeof(ld_bf16) * (size_t)S * a->inter);
    void *y = ocl_scratch(c, SCR_Y, sizeof(float) * (size_t)S * D);
    void *ye = ocl_scratch(c, SCR_YE, sizeof(ld_bf16) * (size_t)S * D);
    if (!grp || !rw || !xc || !xs || !g || !u || !y || !ye) return ld_wrap_error("opencl moe_experts");
    ocl_call k;
    ocl_begin(&k, c, OCL_K_moe_group);
    ocl_buf(&k, a->idx);
    ocl_buf(&k, a->wt);
    ocl_buf(&k, grp);
    ocl_buf(&k, rw);
    ocl_int(&k, S);
    ocl_int(&k, K);
    ocl_int(&k, E);
    if (ocl_run(&k, "moe_experts", 1, 1, 1, 0)) return -1;
    ocl_begin(&k, c, OCL_K_fill_f32);
    ocl_buf(&k, y);
    ocl_float(&k, 0.0f);
    if (ocl_run(&k, "moe_experts", (size_t)S * D, 1, 1, 0)) return -1;
    /* the activation codes do not depend on the weight format: quantize once */
    if (q && ocl_quant_act(c, a->x, D, S, NULL, -1, E, xc, xs, "moe_experts")) return -1;
    /* ascending expert id: the fp32 sum of y is in moe.c's order */
    for (int e = 0; e < E; e++)
        if (expert(c, &a->experts[e], a, xc, xs, g, u, grp, rw, e, y)) return -1;
    if (expert(c, a->shared, a, xc, xs, g, u, grp, rw, -1, ye)) return -1;
    ocl_begin(&k, c, OCL_K_add_round);
    ocl_buf(&k, y);
    ocl_buf(&k, ye);
    ocl_buf(&k, a->out);
    return ocl_run(&k, "moe_experts", (size_t)S * D, 1, 1, 0);
}
