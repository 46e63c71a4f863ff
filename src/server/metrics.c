#include "server/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* seconds: decode steps of a tiny model are ~1 ms, of a large one ~1 s */
static const double BOUNDS[LD_HIST_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,   0.25,   0.5,   1,    2.5,   10};

void ld_metrics_init(ld_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void ld_metrics_free(ld_metrics *m) { pthread_mutex_destroy(&m->mu); }

void ld_metrics_status(ld_metrics *m, int status) {
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->n_codes && m->codes[i] != status) i++;
    if (i == m->n_codes && i < 16) m->codes[m->n_codes++] = status;
    if (i < 16) m->by_code[i]++;
    pthread_mutex_unlock(&m->mu);
}

static void observe(ld_metrics *m, ld_hist *h, double s, long times) {
    pthread_mutex_lock(&m->mu);
    int b = 0;
    while (b < LD_HIST_BUCKETS && s > BOUNDS[b]) b++;
    h->count[b] += times;
    h->sum += s * (double)times;
    h->n += times;
    pthread_mutex_unlock(&m->mu);
}

void ld_metrics_ttft(ld_metrics *m, double s) { observe(m, &m->ttft, s, 1); }
void ld_metrics_itl(ld_metrics *m, double s) { observe(m, &m->itl, s, 1); }

static void put(ld_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(ld_strbuf *b, const char *fmt, ...) {
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) ld_sb_put(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* One counter or gauge: %.15g prints counts exactly and a ratio short. */
static void scalar(ld_strbuf *b, const char *name, const char *type, const char *help, double v) {
    put(b, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n", name, help, name, type, name, v);
}

static void hist(ld_strbuf *b, const char *name, const char *help, const ld_hist *h) {
    put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    long cum = 0;
    for (int i = 0; i < LD_HIST_BUCKETS; i++) {
        cum += h->count[i];
        put(b, "%s_bucket{le=\"%g\"} %ld\n", name, BOUNDS[i], cum);
    }
    cum += h->count[LD_HIST_BUCKETS];
    put(b, "%s_bucket{le=\"+Inf\"} %ld\n%s_sum %.6f\n%s_count %ld\n", name, cum, name, h->sum, name, h->n);
}

void ld_metrics_render(ld_metrics *m, const ld_sched_stats *st, ld_strbuf *b) {
    pthread_mutex_lock(&m->mu);
    put(b, "# HELP ladder_requests_total HTTP requests answered, by status\n# TYPE ladder_requests_total counter\n");
    for (int i = 0; i < m->n_codes; i++) put(b, "ladder_requests_total{status=\"%d\"} %ld\n", m->codes[i], m->by_code[i]);
    hist(b, "ladder_time_to_first_token_seconds", "Time from request to its first generated token", &m->ttft);
    hist(b, "ladder_inter_token_latency_seconds", "Time between consecutive generated tokens of a request", &m->itl);
    pthread_mutex_unlock(&m->mu);
    const ld_prefix_stats *p = &st->prefix;
    static const char C[] = "counter", G[] = "gauge";
    scalar(b, "ladder_prompt_tokens_total", C, "Prompt tokens admitted", (double)st->prompt_tokens);
    scalar(b, "ladder_generation_tokens_total", C, "Tokens generated", (double)st->generated_tokens);
    scalar(b, "ladder_queue_depth", G, "Requests waiting for a slot", (double)st->queued);
    scalar(b, "ladder_running_sequences", G, "Sequences in the running batch", (double)st->running);
    scalar(b, "ladder_slots", G, "Sequences the server decodes together at most", (double)st->slots);
    scalar(b, "ladder_kv_cache_usage_ratio", G, "Share of the reserved KV cache held by running sequences",
           st->kv_bytes_total > 0 ? st->kv_bytes_used / st->kv_bytes_total : 0.0);
    scalar(b, "ladder_batch_steps_total", C, "Batched forward steps", (double)st->steps);
    scalar(b, "ladder_prefix_cache_hits_total", C, "Requests resumed from a cached prefix", (double)p->hits);
    scalar(b, "ladder_prefix_cache_misses_total", C, "Requests that found no cached prefix", (double)p->misses);
    scalar(b, "ladder_prefix_cache_hit_tokens_total", C, "Prompt tokens resumed instead of evaluated",
           (double)p->hit_tokens);
    scalar(b, "ladder_prefix_cache_entries", G, "Snapshots held", (double)p->entries);
    scalar(b, "ladder_prefix_cache_bytes", G, "Host memory the snapshots hold", (double)p->bytes);
    scalar(b, "ladder_prefix_cache_evictions_total", C, "Snapshots dropped for room", (double)p->evictions);
}
