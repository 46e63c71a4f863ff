/* Thread pool: every task of a job runs exactly once, and ld_threadpool_run
 * returns only after all of them have finished, across many back-to-back
 * jobs whose task counts alternate between small and large (the pattern in
 * which a worker left over from one job could once claim work of the next). */
#include <stdatomic.h>

#include "core/threadpool.h"
#include "testutil.h"

enum { MAX_TASKS = 64 };

typedef struct {
    atomic_int hits[MAX_TASKS + 8];
    atomic_int running, finished;
    int n;
} job;

static void task(void *ctx, int t, int n_tasks) {
    job *j = ctx;
    atomic_fetch_add(&j->running, 1);
    if (t >= 0 && t < MAX_TASKS + 8) atomic_fetch_add(&j->hits[t], 1);
    if (n_tasks != j->n) atomic_fetch_add(&j->hits[MAX_TASKS + 7], 1000); /* wrong count seen */
    /* uneven work, so workers fall behind one another */
    volatile unsigned spin = (unsigned)(t * 37 % 11) * 40u;
    while (spin) spin--;
    atomic_fetch_add(&j->finished, 1);
}

static void run_checks(int threads, int iters) {
    ld_threadpool *p = ld_threadpool_create(threads);
    CHECK(p != NULL, "cannot create a pool of %d threads", threads);
    if (!p) return;
    long bad_counts = 0, early = 0, extra = 0;
    for (int it = 0; it < iters; it++) {
        job j;
        for (int t = 0; t < MAX_TASKS + 8; t++) atomic_init(&j.hits[t], 0);
        atomic_init(&j.running, 0);
        atomic_init(&j.finished, 0);
        j.n = it % 2 ? 2 + it % 3 : 24 + it % 40;
        ld_threadpool_run(p, j.n, task, &j);
        if (atomic_load(&j.finished) != j.n || atomic_load(&j.running) != j.n) early++;
        for (int t = 0; t < MAX_TASKS + 8; t++) {
            int h = atomic_load(&j.hits[t]);
            if (t < j.n && h != 1) bad_counts++;
            if (t >= j.n && h != 0) extra++;
        }
    }
    CHECK(bad_counts == 0, "%d threads: %ld tasks did not run exactly once", threads, bad_counts);
    CHECK(extra == 0, "%d threads: %ld task indices beyond the job ran (or saw a wrong task count)", threads, extra);
    CHECK(early == 0, "%d threads: %ld jobs returned before all their tasks finished", threads, early);
    ld_threadpool_destroy(p);
}

int main(void) {
    run_checks(2, 20000);
    run_checks(3, 20000);
    /* more threads than cores: workers get preempted at arbitrary points,
       which is what exposes a late worker (the old pool failed here about
       50 times per million jobs) */
    run_checks(4, 200000);
    run_checks(1, 2000);
    return test_summary("threadpool");
}
