/*
 * toolstack/workq.h - the worker pool that runs API calls off the libevent
 * thread: a FIFO of jobs and a set of threads that grows on demand up to a
 * maximum (calls like event.from block a worker for up to a minute) and
 * shrinks back after idling.
 * Threads: submit from any thread; jobs run on pool threads.
 */
#ifndef TS_WORKQ_H
#define TS_WORKQ_H

typedef void (*ts_workq_fn)(void *arg);

/* Starts the pool: min_threads kept alive, at most max_threads. 0 or -1 (errno). */
int ts_workq_start(unsigned min_threads, unsigned max_threads);
/* Queues fn(arg); a new thread is started if every thread is busy and max allows. */
void ts_workq_submit(ts_workq_fn fn, void *arg);
/* Stops taking jobs, waits up to timeout_ms for queued and running jobs, joins idle threads.
 * Returns the number of jobs still running (their threads are left detached). */
unsigned ts_workq_stop(int timeout_ms);
/* A function every worker runs just before it exits (frees per-thread caches while the
 * process is still whole); set before ts_workq_start. NULL: none. */
void ts_workq_set_thread_fini(void (*fn)(void));
/* Current number of threads and of jobs waiting (for stats and tests). */
void ts_workq_stats(unsigned *threads, unsigned *busy, unsigned *queued);

#endif
