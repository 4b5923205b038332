/*
 * toolstack/workq.c - the API worker pool (see workq.h). A mutex-protected
 * FIFO; threads are created lazily when a job finds no idle worker, and exit
 * after WORKQ_IDLE_S seconds without work while above the minimum.
 * Threads: any thread submits; jobs never run on the submitting thread.
 */
#define ATOLL_LOG_MODULE "workq"
#include "workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atoll/log.h"
#include "atoll/util.h"

#define WORKQ_IDLE_S 30

struct job {
    ts_workq_fn fn;
    void *arg;
    struct job *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;  /* a job was queued, or stopping */
    pthread_cond_t drained; /* a worker finished a job or exited */
    struct job *head, *tail;
    unsigned queued, threads, idle, min, max;
    int running, stopping;
} wq = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void (*thread_fini)(void);

void ts_workq_set_thread_fini(void (*fn)(void))
{
    thread_fini = fn;
}

static void *worker_main(void *unused)
{
    pthread_mutex_lock(&wq.lock);
    for (;;) {
        while (!wq.head && !wq.stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += WORKQ_IDLE_S;
            wq.idle++;
            int rc = pthread_cond_timedwait(&wq.work, &wq.lock, &ts);
            wq.idle--;
            if (rc == ETIMEDOUT && !wq.head && wq.threads > wq.min)
                goto out;
        }
        if (!wq.head)
            break; /* stopping and drained */
        struct job *j = wq.head;
        wq.head = j->next;
        if (!wq.head)
            wq.tail = NULL;
        wq.queued--;
        pthread_mutex_unlock(&wq.lock);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&wq.lock);
        pthread_cond_broadcast(&wq.drained);
    }
out:
    if (thread_fini) {
        pthread_mutex_unlock(&wq.lock);
        thread_fini();
        pthread_mutex_lock(&wq.lock);
    }
    wq.threads--;
    pthread_cond_broadcast(&wq.drained);
    pthread_mutex_unlock(&wq.lock);
    return NULL;
}

/* With wq.lock held. */
static int spawn_locked(void)
{
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    int rc = pthread_create(&t, &attr, worker_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        log_warn("cannot start a worker thread: %s", strerror(rc));
        return -1;
    }
    wq.threads++;
    return 0;
}

int ts_workq_start(unsigned min_threads, unsigned max_threads)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wq.work, &ca);
    pthread_cond_init(&wq.drained, &ca);
    pthread_condattr_destroy(&ca);
    if (max_threads == 0 || min_threads > max_threads) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&wq.lock);
    wq.min = min_threads;
    wq.max = max_threads;
    wq.running = 1;
    wq.stopping = 0;
    for (unsigned i = 0; i < min_threads; i++)
        if (spawn_locked() < 0)
            break;
    int ok = wq.threads > 0 || min_threads == 0;
    pthread_mutex_unlock(&wq.lock);
    if (!ok) {
        errno = EAGAIN;
        return -1;
    }
    return 0;
}

void ts_workq_submit(ts_workq_fn fn, void *arg)
{
    struct job *j = atoll_malloc(sizeof(*j));
    j->fn = fn;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&wq.lock);
    if (wq.tail)
        wq.tail->next = j;
    else
        wq.head = j;
    wq.tail = j;
    wq.queued++;
    if (wq.idle < wq.queued && wq.threads < wq.max)
        spawn_locked();
    pthread_cond_signal(&wq.work);
    pthread_mutex_unlock(&wq.lock);
}

unsigned ts_workq_stop(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wq.lock);
    wq.stopping = 1;
    pthread_cond_broadcast(&wq.work);
    while (wq.threads > 0) {
        if (pthread_cond_timedwait(&wq.drained, &wq.lock, &ts) == ETIMEDOUT)
            break;
    }
    unsigned left = wq.threads;
    wq.running = 0;
    pthread_mutex_unlock(&wq.lock);
    return left;
}

void ts_workq_stats(unsigned *threads, unsigned *busy, unsigned *queued)
{
    pthread_mutex_lock(&wq.lock);
    if (threads)
        *threads = wq.threads;
    if (busy)
        *busy = wq.threads - wq.idle;
    if (queued)
        *queued = wq.queued;
    pthread_mutex_unlock(&wq.lock);
}
