/* Workers sleep on a condition variable between jobs and claim task indices
 * from one 64-bit atomic that packs (job generation << 32 | next index): a
 * claim only succeeds for the current job, so a late worker can never run an
 * index of a job it did not see start. The caller works too and returns when
 * every task of its job is done. Workers spin briefly before sleeping because
 * decode-sized jobs last only a few hundred microseconds. */
#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

struct ld_threadpool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ld_task_fn fn;
    void *ctx;
    atomic_int n_tasks;
    atomic_uint_fast64_t work; /* gen << 32 | next index */
    atomic_int done;
    atomic_int quit;
};

/* Claims and runs tasks of generation gen until none is left. */
static void run_tasks(ld_threadpool *p, uint64_t gen) {
    for (;;) {
        uint_fast64_t v = atomic_load(&p->work);
        if ((v >> 32) != gen || (int)(v & 0xffffffffu) >= atomic_load(&p->n_tasks)) return;
        if (!atomic_compare_exchange_weak(&p->work, &v, v + 1)) continue;
        p->fn(p->ctx, (int)(v & 0xffffffffu), atomic_load(&p->n_tasks));
        atomic_fetch_add(&p->done, 1);
    }
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spin iterations before a worker sleeps: about 0.2 ms with the pause hint,
 * longer than the serial gaps between the parallel parts of a decode step. */
#define SPIN_ITERS 5000

static void *worker(void *arg) {
    ld_threadpool *p = arg;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load(&p->work) >> 32) == seen && spins < SPIN_ITERS && !atomic_load(&p->quit)) {
            cpu_relax();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->work) >> 32) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = g;
        run_tasks(p, g);
    }
}

ld_threadpool *ld_threadpool_create(int n) {
    ld_threadpool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n < 1 ? 1 : n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->th = calloc((size_t)p->n, sizeof *p->th);
    if (!p->th) { free(p); return NULL; }
    for (int i = 1; i < p->n; i++)
        if (pthread_create(&p->th[i], NULL, worker, p)) { p->n = i; break; }
    return p;
}

void ld_threadpool_destroy(ld_threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->th);
    free(p);
}

int ld_threadpool_size(const ld_threadpool *p) { return p ? p->n : 1; }

void ld_threadpool_run(ld_threadpool *p, int n_tasks, ld_task_fn fn, void *ctx) {
    if (!p || p->n == 1 || n_tasks <= 1) {
        for (int t = 0; t < n_tasks; t++) fn(ctx, t, n_tasks);
        return;
    }
    /* Two generations per job. The first, whose index (INT_MAX) no task
       count reaches, closes the previous job before its task count
       changes. Otherwise a worker still inside run_tasks for that job could
       pass the bounds check against the new, larger count, claim an index
       of the old generation, run the new job's function and count it done:
       this call would then return while one of its tasks still runs. */
    uint64_t gen = (atomic_load(&p->work) >> 32) + 2;
    atomic_store(&p->work, (gen - 1) << 32 | 0x7fffffffu);
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->n_tasks, n_tasks);
    atomic_store(&p->done, 0);
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->work, gen << 32);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p, gen);
    while (atomic_load(&p->done) < n_tasks) cpu_relax();
}
