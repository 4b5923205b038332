/* tests/unit/toolstack/test_workq.c - the API worker pool: jobs all run, the pool grows up to
 * its maximum when jobs block, queues beyond it, stops after draining, and runs the per-thread
 * clean-up on every thread that exits. */
#include <pthread.h>
#include <unistd.h>

#include "tap.h"
#include "workq.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int release, done, running, max_running, finis;

static void blocking_job(void *arg)
{
    pthread_mutex_lock(&lock);
    running++;
    if (running > max_running)
        max_running = running;
    while (!release)
        pthread_cond_wait(&cond, &lock);
    running--;
    done++;
    pthread_mutex_unlock(&lock);
}

static void quick_job(void *arg)
{
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_RELAXED);
}

static void fini(void)
{
    __atomic_add_fetch(&finis, 1, __ATOMIC_RELAXED);
}

int main(void)
{
    ts_workq_set_thread_fini(fini);
    ok(ts_workq_start(5, 2) < 0, "min above max refused");
    is_int(ts_workq_start(1, 8), 0, "pool starts (1..8 threads)");
    int counter = 0;
    for (int i = 0; i < 1000; i++)
        ts_workq_submit(quick_job, &counter);
    for (int i = 0; i < 500 && __atomic_load_n(&counter, __ATOMIC_RELAXED) < 1000; i++)
        usleep(10000);
    is_int(__atomic_load_n(&counter, __ATOMIC_RELAXED), 1000, "1000 quick jobs all ran");

    for (int i = 0; i < 12; i++)
        ts_workq_submit(blocking_job, NULL);
    unsigned threads = 0, busy = 0, queued = 0;
    for (int i = 0; i < 500; i++) {
        ts_workq_stats(&threads, &busy, &queued);
        if (busy == 8 && queued == 4)
            break;
        usleep(10000);
    }
    is_int(threads, 8, "grew to the maximum while jobs block");
    is_int(queued, 4, "the rest wait in the queue");
    pthread_mutex_lock(&lock);
    is_int(max_running, 8, "never more than the maximum at once");
    release = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&lock);
        int d = done;
        pthread_mutex_unlock(&lock);
        if (d == 12)
            break;
        usleep(10000);
    }
    is_int(done, 12, "queued jobs ran once threads were free");
    is_int(ts_workq_stop(5000), 0, "stop: every thread exited");
    is_int(__atomic_load_n(&finis, __ATOMIC_RELAXED), 8, "each exiting thread ran the clean-up");
    return tap_done();
}
