/* pthread_cancel acts at blocking calls: threads blocked in sem_wait, read, nanosleep and
 * pthread_cond_wait are cancelled, their cleanup handlers run, and join sees PTHREAD_CANCELED. A
 * thread with cancellation disabled finishes its sleep; pthread_testcancel acts once enabled. */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define CHECK(x) do { if (!(x)) { printf("FAIL line %d: %s\n", __LINE__, #x); return 1; } } while (0)

static sem_t never;
static int pipe_fds[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int cleaned, started;

static void note_cleanup(void *arg) { __atomic_fetch_add(&cleaned, 1, __ATOMIC_SEQ_CST); }
static void unlock_cleanup(void *arg) { pthread_mutex_unlock(&lock); note_cleanup(0); }
static void begin(void) { __atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST); }

static void *in_sem_wait(void *arg)
{
    pthread_cleanup_push(note_cleanup, 0);
    begin();
    sem_wait(&never);
    pthread_cleanup_pop(0);
    return 0;
}

static void *in_read(void *arg)
{
    char c;
    pthread_cleanup_push(note_cleanup, 0);
    begin();
    read(pipe_fds[0], &c, 1);
    pthread_cleanup_pop(0);
    return 0;
}

static void *in_nanosleep(void *arg)
{
    struct timespec ts = { 3600, 0 };
    pthread_cleanup_push(note_cleanup, 0);
    begin();
    nanosleep(&ts, 0);
    pthread_cleanup_pop(0);
    return 0;
}

static void *in_cond_wait(void *arg)
{
    pthread_mutex_lock(&lock);
    pthread_cleanup_push(unlock_cleanup, 0);
    begin();
    for (;;) pthread_cond_wait(&cond, &lock);
    pthread_cleanup_pop(0);
    return 0;
}

static void *cancel_disabled(void *arg)
{
    struct timespec ts = { 0, 100 * 1000000 };
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, 0);
    begin();
    nanosleep(&ts, 0);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, 0);
    pthread_testcancel();
    return (void *)1;
}

static int cancel_blocked(void *(*fn)(void *), const char *what)
{
    pthread_t t;
    void *result;
    int before = __atomic_load_n(&cleaned, __ATOMIC_SEQ_CST), want = __atomic_load_n(&started, __ATOMIC_SEQ_CST) + 1;
    CHECK(pthread_create(&t, 0, fn, 0) == 0);
    while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < want) usleep(1000);
    usleep(20000);                     /* let it block */
    CHECK(pthread_cancel(t) == 0);
    CHECK(pthread_join(t, &result) == 0);
    CHECK(result == PTHREAD_CANCELED);
    CHECK(cleaned == before + 1);
    printf("cancelled in %s: ok\n", what);
    return 0;
}

int main(void)
{
    sem_init(&never, 0, 0);
    CHECK(pipe(pipe_fds) == 0);
    if (cancel_blocked(in_sem_wait, "sem_wait")) return 1;
    if (cancel_blocked(in_read, "read")) return 1;
    if (cancel_blocked(in_nanosleep, "nanosleep")) return 1;
    if (cancel_blocked(in_cond_wait, "pthread_cond_wait")) return 1;
    CHECK(pthread_mutex_trylock(&lock) == 0);      /* the cleanup handler unlocked it */
    pthread_mutex_unlock(&lock);

    pthread_t t;
    void *result;
    int want = started + 1;
    CHECK(pthread_create(&t, 0, cancel_disabled, 0) == 0);
    while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < want) usleep(1000);
    CHECK(pthread_cancel(t) == 0);
    CHECK(pthread_join(t, &result) == 0 && result == PTHREAD_CANCELED);
    puts("cancellation disabled, then pthread_testcancel: ok");
    return 0;
}
