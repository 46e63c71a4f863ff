/* Counters and latency histograms for GET /metrics (Prometheus text). */
#ifndef LADDER_SERVER_METRICS_H
#define LADDER_SERVER_METRICS_H

#include <pthread.h>

#include "server/sched.h"
#include "text/pyjson.h"

enum { LD_HIST_BUCKETS = 12 };

typedef struct {
    long count[LD_HIST_BUCKETS + 1]; /* the last: +Inf */
    double sum;
    long n;
} ld_hist;

typedef struct {
    pthread_mutex_t mu;
    int codes[16];
    long by_code[16];
    int n_codes;
    ld_hist ttft, itl;
} ld_metrics;

void ld_metrics_init(ld_metrics *m);
void ld_metrics_free(ld_metrics *m);
void ld_metrics_status(ld_metrics *m, int status);
void ld_metrics_ttft(ld_metrics *m, double s);
/* one gap between consecutive tokens of a request */
void ld_metrics_itl(ld_metrics *m, double s);
void ld_metrics_render(ld_metrics *m, const ld_sched_stats *st, ld_strbuf *b);

#endif
