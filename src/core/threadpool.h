/* A fixed pool of worker threads for data-parallel loops. The caller's
 * thread takes part, so a pool of T threads has T-1 workers. Work items are
 * handed out in a fixed partition (item i always runs the same code on the
 * same data), so results never depend on the thread count. */
#ifndef LADDER_CORE_THREADPOOL_H
#define LADDER_CORE_THREADPOOL_H

typedef struct ld_threadpool ld_threadpool;

/* fn(ctx, task, n_tasks) is called once for every task in [0, n_tasks). */
typedef void (*ld_task_fn)(void *ctx, int task, int n_tasks);

ld_threadpool *ld_threadpool_create(int n_threads);
void ld_threadpool_destroy(ld_threadpool *p);
int ld_threadpool_size(const ld_threadpool *p);
/* Runs all tasks and returns when they are done. Not reentrant. */
void ld_threadpool_run(ld_threadpool *p, int n_tasks, ld_task_fn fn, void *ctx);

#endif
