/* The public engine (include/ladder.h) over the internal model, session and
 * backend registry.
 *
 * What it owns: the loaded model with its backend instance (default: the
 * registry's default, the first usable host backend after ref), that
 * instance's settings, per-call accounting, and the KV budget the model
 * checks every session against. It adds no arithmetic of its own. */
#include "model/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/cpu/cpu_api.h"
#include "core/error.h"
#include "model/stats.h"

_Static_assert((int)LADDER_DUMP_BF16 == (int)LD_DUMP_BF16 && (int)LADDER_DUMP_F32 == (int)LD_DUMP_F32 &&
                   (int)LADDER_DUMP_I32 == (int)LD_DUMP_I32,
               "ladder_dump_kind mirrors ld_dump_kind");

struct ladder_engine {
    ld_model m;
    char backend_desc[160];
    ld_traffic traffic; /* the current call's counts; m.traffic points here */
    ladder_engine_opts opts;
    ladder_info info;
    char *dir;
};

struct ladder_session {
    ladder_engine *e;
    ld_session s;
    ladder_observer obs;
    void *obs_ctx;
};

const char *ladder_last_error(void) { return ld_last_error(); }

ladder_engine_opts ladder_engine_opts_default(void) { return (ladder_engine_opts){0}; }

_Static_assert((int)LADDER_FORMATS_NATIVE == (int)LD_FORMATS_NATIVE && (int)LADDER_FORMATS_BF16 == (int)LD_FORMATS_BF16 &&
                   (int)LADDER_FORMATS_W8A8 == (int)LD_FORMATS_W8A8,
               "ladder_formats mirrors ld_formats");
static const char *const FORMAT_NAMES[] = {"native", "bf16", "w8a8"};

const char *ladder_formats_name(ladder_formats f) {
    return (unsigned)f < sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0] ? FORMAT_NAMES[f] : NULL;
}

int ladder_formats_parse(const char *name, ladder_formats *out) {
    for (unsigned i = 0; name && i < sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0]; i++)
        if (!strcmp(name, FORMAT_NAMES[i])) {
            *out = (ladder_formats)i;
            return 0;
        }
    return ld_set_error("unknown weight format path '%s' (known: native, bf16, w8a8)", name ? name : "");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* --------------------------------------------------------------- backends */

int ladder_backend_count(void) { return ld_backend_count(); }
const char *ladder_backend_name(int i) { return ld_backend_at(i) ? ld_backend_at(i)->name : NULL; }
int ladder_backend_usable(const char *name) { return name && ld_backend_find(name) != NULL; }
const char *ladder_cpu_isa_paths(void) { return ld_cpu_isa_list(); }
int ladder_cpu_isa_known(const char *name) { return ld_cpu_isa_known(name); }
const char *ladder_cpu_best_isa(void) { return ld_cpu_best_isa(); }

/* ----------------------------------------------------------------- engine */

/* ld_load_opts' progress callback has no user pointer; the load runs on
   the caller's thread, so a thread-local carries the options to it. */
static _Thread_local const ladder_engine_opts *load_opts;

static void load_progress(size_t done, size_t total) {
    if (load_opts && load_opts->progress) load_opts->progress(load_opts->progress_user, done, total);
}

static void fill_info(ladder_engine *e) {
    const ld_model *m = &e->m;
    const ld_config *c = &m->cfg;
    ladder_info *in = &e->info;
    ld_model_stats_t st;
    ld_model_stats(m, &st);
    *in = (ladder_info){
        .dir = e->dir,
        .vocab_size = c->vocab_size, .dim = c->dim, .n_layers = c->n_layers, .n_mtp_layers = c->n_mtp_layers,
        .n_heads = c->n_heads, .head_dim = c->head_dim, .q_lora_rank = c->q_lora_rank, .o_groups = c->o_groups,
        .o_lora_rank = c->o_lora_rank, .window = c->window,
        .index_n_heads = c->index_n_heads, .index_head_dim = c->index_head_dim, .index_topk = c->index_topk,
        .n_routed_experts = c->n_routed_experts, .n_activated_experts = c->n_activated_experts,
        .n_shared_experts = c->n_shared_experts, .moe_inter_dim = c->moe_inter_dim, .n_hash_layers = c->n_hash_layers,
        .route_scale = c->route_scale, .expert_fp4 = c->expert_fp4, .bos_id = c->bos_id, .eos_id = c->eos_id,
        .max_position_embeddings = c->max_position_embeddings,
        .n_files = m->ck.n_files, .n_tensors = m->ck.n_tensors,
        .total_params = st.total_params, .total_bytes = st.total_bytes,
        .weight_bytes_per_token = st.active_bytes, .kv_bytes_per_token = st.kv_bytes_per_token,
        .kv_fixed_bytes = st.kv_fixed_bytes, .kv_budget_bytes = e->opts.kv_budget_bytes,
        .backend = m->be->ops->name, .backend_description = e->backend_desc,
        .cpu_isa = m->be->ops == &ld_backend_cpu_ops ? ld_cpu_instance_isa(m->be) : NULL,
        .threads = m->be->ops == &ld_backend_cpu_ops ? ld_cpu_instance_threads(m->be) : 1,
        .weights_resident = m->resident, .mapped_note = m->mapped_why,
        .formats = ladder_formats_name((ladder_formats)m->formats),
        .temperature = m->gen.temperature, .top_p = m->gen.top_p, .min_p = m->gen.min_p, .top_k = m->gen.top_k,
        .do_sample = m->gen.do_sample,
    };
    for (int l = 0; l < c->n_layers; l++) {
        int r = c->compress_ratios[l];
        if (r == 0) in->n_window_layers++;
        else if (r == 4) in->n_csa_layers++;
        else in->n_hca_layers++;
    }
    for (int d = 0; d < LD_DT_COUNT && in->n_dtypes < (int)(sizeof in->dtypes / sizeof in->dtypes[0]); d++)
        if (st.bytes[d])
            in->dtypes[in->n_dtypes++] = (ladder_dtype_total){ld_dtype_name((ld_dtype)d), st.params[d], st.bytes[d]};
}

int ladder_engine_open(const char *dir, const ladder_engine_opts *opts, ladder_engine **out) {
    *out = NULL;
    ladder_engine_opts o = opts ? *opts : ladder_engine_opts_default();
    if (!dir || !*dir) return ld_set_error("no checkpoint directory given");
    if (o.threads < 0) return ld_set_error("thread count %d is negative", o.threads);
    if (o.weights != LADDER_WEIGHTS_AUTO && o.weights != LADDER_WEIGHTS_MMAP)
        return ld_set_error("unknown weight residency %d", (int)o.weights);
    if (!ladder_formats_name(o.formats)) return ld_set_error("unknown weight format path %d", (int)o.formats);
    const ld_backend_ops *ops = ld_backend_resolve(o.backend);
    if (!ops) return -1;
    ladder_engine *e = calloc(1, sizeof *e);
    if (!e || !(e->dir = strdup(dir))) {
        free(e);
        return ld_set_error("out of memory");
    }
    ld_load_opts lo = {.mode = o.weights == LADDER_WEIGHTS_MMAP ? LD_LOAD_MMAP : LD_LOAD_AUTO,
                       .progress = o.progress ? load_progress : NULL,
                       .backend = {.isa = o.cpu_isa, .threads = o.threads, .device = -1},
                       .kv_budget = o.kv_budget_bytes, .formats = (ld_formats)o.formats};
    o.backend = ops->name; /* the caller's strings need not outlive the call */
    o.cpu_isa = NULL;
    e->opts = o;
    load_opts = &o;
    int rc = ld_model_load_opts(dir, ops, &lo, &e->m);
    load_opts = NULL;
    if (rc) {
        free(e->dir);
        free(e);
        return -1;
    }
    e->m.traffic = &e->traffic;
    char d[128];
    ld_backend_describe(e->m.be, d, sizeof d);
    snprintf(e->backend_desc, sizeof e->backend_desc, "%s (%s)", e->m.be->ops->description, d);
    fill_info(e);
    *out = e;
    return 0;
}

void ladder_engine_close(ladder_engine *e) {
    if (!e) return;
    ld_model_free(&e->m);
    free(e->dir);
    free(e);
}

const ladder_info *ladder_engine_info(const ladder_engine *e) { return &e->info; }
const ld_model *ld_engine_model(const ladder_engine *e) { return &e->m; }

/* --------------------------------------------------------------- sessions */

/* The forward pass's observer for a session, forwarded to the caller's. */
static void on_dump(void *ctx, const char *name, int layer, ld_dump_kind kind, const void *data, int rows, int cols) {
    ladder_session *s = ctx;
    if (s->obs) s->obs(s->obs_ctx, name, layer, (ladder_dump_kind)kind, data, rows, cols);
}

int ladder_session_new(ladder_engine *e, const ladder_session_opts *opts, ladder_session **out) {
    *out = NULL;
    long ctx = opts ? opts->context : 0; /* the session checks it against the model */
    if (ctx < 0) return ld_set_error("session context %ld is negative", ctx);
    ladder_session *s = calloc(1, sizeof *s);
    if (!s) return ld_set_error("out of memory");
    s->e = e;
    if (ld_session_init_ctx(&s->s, &e->m, ctx)) {
        free(s);
        return -1;
    }
    s->s.dump_ctx = s;
    *out = s;
    return 0;
}

void ladder_session_free(ladder_session *s) {
    if (!s) return;
    ld_session_free(&s->s);
    free(s);
}

void ladder_session_reset(ladder_session *s) { ld_session_reset(&s->s); }
long ladder_session_pos(const ladder_session *s) { return s->s.pos; }
long ladder_session_context(const ladder_session *s) { return s->s.ctx; }
size_t ladder_session_kv_bytes(const ladder_engine *e, long context) { return ld_session_kv_bytes(&e->m, context); }
ladder_engine *ladder_session_engine(const ladder_session *s) { return s->e; }
ld_session *ld_engine_session(ladder_session *s) { return &s->s; }

int ladder_session_save(const ladder_session *s, ladder_snapshot **out) { return ld_session_save(&s->s, out); }
int ladder_session_restore(ladder_session *s, const ladder_snapshot *snap) { return ld_session_restore(&s->s, snap); }
long ladder_snapshot_pos(const ladder_snapshot *snap) { return ld_snapshot_pos(snap); }
size_t ladder_snapshot_bytes(const ladder_snapshot *snap) { return ld_snapshot_bytes(snap); }
int ladder_snapshot_exact(const ladder_snapshot *snap) { return ld_snapshot_exact(snap); }
int ladder_session_exact(const ladder_session *s) { return ld_session_exact(&s->s); }
void ladder_snapshot_free(ladder_snapshot *snap) { ld_snapshot_free(snap); }

void ladder_session_observe(ladder_session *s, ladder_observer fn, void *ctx) {
    s->obs = fn;
    s->obs_ctx = ctx;
    s->s.dump = fn ? on_dump : NULL;
}

/* ------------------------------------------------------------- evaluation */

static int check_room(const ladder_session *s, int n) {
    if (n <= 0) return ld_set_error("no tokens to evaluate");
    if (s->s.pos + n > s->s.ctx)
        return ld_set_error("%ld tokens exceed the session's context of %ld (at position %ld, %d more)",
                            s->s.pos + n, s->s.ctx, s->s.pos, n);
    return 0;
}

static void begin(ladder_engine *e, double *t0) {
    e->traffic = (ld_traffic){0};
    *t0 = now_s();
}

static void finish(ladder_engine *e, double t0, long rows, ladder_stats *st) {
    if (st)
        *st = (ladder_stats){.macs = e->traffic.macs, .weight_bytes = e->traffic.weight_bytes,
                             .seconds = now_s() - t0, .rows = rows, .h2d_bytes = e->m.last->h2d_bytes,
                             .d2h_bytes = e->m.last->d2h_bytes, .scratch_peak_bytes = e->m.last->scratch_peak};
}

static int eval_all(ladder_session *s, const int *ids, int n, float *logits) {
    ld_session *is = &s->s;
    return ld_batch_eval_rows(&is, &ids, &n, 1, logits, 1);
}

int ladder_eval(ladder_session *s, const int *ids, int n, ladder_logits_mode mode, float *logits, ladder_stats *st) {
    if (mode != LADDER_LOGITS_NONE && mode != LADDER_LOGITS_LAST && mode != LADDER_LOGITS_ALL)
        return ld_set_error("unknown logits mode %d", (int)mode);
    if (mode != LADDER_LOGITS_NONE && !logits) return ld_set_error("logits requested without an output buffer");
    if (check_room(s, n)) return -1;
    double t0;
    begin(s->e, &t0);
    int rc = mode == LADDER_LOGITS_ALL ? eval_all(s, ids, n, logits)
                                       : ld_session_eval(&s->s, ids, n, mode == LADDER_LOGITS_LAST ? logits : NULL);
    if (rc) return -1;
    finish(s->e, t0, n, st);
    return 0;
}

int ladder_eval_batch(ladder_session *const *ss, const int *const *ids, const int *n, int B, float *logits,
                      ladder_stats *st) {
    if (B <= 0) return ld_set_error("empty batch");
    ld_session *stack[16], **is = B <= 16 ? stack : malloc(sizeof *is * (size_t)B);
    if (!is) return ld_set_error("out of memory");
    long rows = 0;
    int rc = -1;
    for (int b = 0; b < B; b++) {
        if (ss[b]->e != ss[0]->e) { ld_set_error("batched sessions must share one engine"); goto out; }
        if (check_room(ss[b], n[b])) { ld_wrap_error("batch entry %d", b); goto out; }
        is[b] = &ss[b]->s;
        rows += n[b];
    }
    double t0;
    begin(ss[0]->e, &t0);
    if (ld_batch_eval(is, ids, n, B, logits)) goto out;
    finish(ss[0]->e, t0, rows, st);
    rc = 0;
out:
    if (is != stack) free(is);
    return rc;
}
