/* Synchronization: mutex types (normal, recursive, errorcheck, robust with an owner that exits),
 * condition variables with timeouts, rwlocks, barriers, unnamed semaphores (sem_timedwait too), a
 * named semaphore (sem_open in /dev/shm), pthread_kill to a thread blocked in pause. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define CHECK(x) do { if (!(x)) { printf("FAIL line %d: %s\n", __LINE__, #x); return 1; } } while (0)
#define THREADS 4
#define ROUNDS 20000

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static pthread_mutex_t robust;
static pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;
static int shared_table[16];
static pthread_barrier_t barrier;
static int arrivals, serial_threads;
static sem_t items, spaces;
static int ring[4], produced_sum;

static sem_t *named;
static volatile sig_atomic_t got;

static void on_usr1(int sig) { got = sig; }
static void *named_poster(void *arg) { sem_post(named); return 0; }
static void *sleeper(void *arg) { while (!got) pause(); return (void *)(long)got; }

static void *count(void *arg)
{
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&counter_lock);
        counter++;
        pthread_mutex_unlock(&counter_lock);
    }
    return 0;
}

static void *die_holding_robust(void *arg)
{
    pthread_mutex_lock(&robust);
    return 0;                          /* exits owning it */
}

static void *rw_worker(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 2000; i++) {
        if (i % 10 == 0) {
            pthread_rwlock_wrlock(&rwlock);
            for (int j = 0; j < 16; j++) shared_table[j]++;
            pthread_rwlock_unlock(&rwlock);
        } else {
            pthread_rwlock_rdlock(&rwlock);
            for (int j = 1; j < 16; j++)
                if (shared_table[j] != shared_table[0]) { printf("torn read in %ld\n", id); break; }
            pthread_rwlock_unlock(&rwlock);
        }
    }
    return 0;
}

static void *at_barrier(void *arg)
{
    for (int round = 0; round < 50; round++) {
        __atomic_fetch_add(&arrivals, 1, __ATOMIC_SEQ_CST);
        if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD)
            __atomic_fetch_add(&serial_threads, 1, __ATOMIC_SEQ_CST);
    }
    return 0;
}

static void *producer(void *arg)
{
    for (int i = 1; i <= 1000; i++) {
        sem_wait(&spaces);
        ring[i % 4] = i;
        sem_post(&items);
    }
    return 0;
}

int main(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], 0, count, 0) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], 0);
    CHECK(counter == THREADS * ROUNDS);
    puts("normal mutex, 4 threads: ok");

    pthread_mutexattr_t attr;
    pthread_mutex_t m;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&m, &attr);
    CHECK(pthread_mutex_lock(&m) == 0 && pthread_mutex_lock(&m) == 0);
    CHECK(pthread_mutex_unlock(&m) == 0 && pthread_mutex_unlock(&m) == 0);
    CHECK(pthread_mutex_unlock(&m) == EPERM);
    puts("recursive mutex: ok");

    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&m, &attr);
    CHECK(pthread_mutex_lock(&m) == 0 && pthread_mutex_lock(&m) == EDEADLK);
    CHECK(pthread_mutex_unlock(&m) == 0 && pthread_mutex_unlock(&m) == EPERM);
    puts("errorcheck mutex: ok");

    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_NORMAL);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &attr);
    pthread_t owner;
    CHECK(pthread_create(&owner, 0, die_holding_robust, 0) == 0);
    pthread_join(owner, 0);
    CHECK(pthread_mutex_lock(&robust) == EOWNERDEAD);
    CHECK(pthread_mutex_consistent(&robust) == 0);
    CHECK(pthread_mutex_unlock(&robust) == 0);
    CHECK(pthread_mutex_lock(&robust) == 0 && pthread_mutex_unlock(&robust) == 0);
    puts("robust mutex, owner exited: ok");

    pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct timespec before, deadline, after;
    clock_gettime(CLOCK_REALTIME, &before);
    deadline = before;
    deadline.tv_nsec += 50 * 1000000;
    if (deadline.tv_nsec >= 1000000000) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000; }
    pthread_mutex_lock(&cm);
    CHECK(pthread_cond_timedwait(&cv, &cm, &deadline) == ETIMEDOUT);
    pthread_mutex_unlock(&cm);
    clock_gettime(CLOCK_REALTIME, &after);
    long waited_ms = (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000;
    CHECK(waited_ms >= 45 && waited_ms < 5000);
    puts("condition variable timeout: ok");

    for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], 0, rw_worker, (void *)i) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], 0);
    CHECK(shared_table[0] == THREADS * 200 && shared_table[15] == THREADS * 200);
    puts("rwlock: ok");

    CHECK(pthread_barrier_init(&barrier, 0, THREADS) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], 0, at_barrier, 0) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], 0);
    CHECK(arrivals == THREADS * 50 && serial_threads == 50);
    puts("barrier: ok");

    sem_init(&items, 0, 0);
    sem_init(&spaces, 0, 4);
    pthread_t prod;
    CHECK(pthread_create(&prod, 0, producer, 0) == 0);
    for (int i = 1; i <= 1000; i++) {
        sem_wait(&items);
        produced_sum += ring[i % 4];
        sem_post(&spaces);
    }
    pthread_join(prod, 0);
    CHECK(produced_sum == 1000 * 1001 / 2);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 20 * 1000000;
    if (deadline.tv_nsec >= 1000000000) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000; }
    CHECK(sem_timedwait(&items, &deadline) == -1 && errno == ETIMEDOUT);
    puts("unnamed semaphores: ok");

    named = sem_open("/muslforge-smoke", O_CREAT | O_EXCL, 0600, 0);
    CHECK(named != SEM_FAILED);
    pthread_t poster;
    CHECK(pthread_create(&poster, 0, named_poster, 0) == 0);
    CHECK(sem_wait(named) == 0);
    pthread_join(poster, 0);
    CHECK(sem_close(named) == 0 && sem_unlink("/muslforge-smoke") == 0);
    puts("named semaphore: ok");

    void *seen;
    signal(SIGUSR1, on_usr1);
    CHECK(pthread_create(&poster, 0, sleeper, 0) == 0);
    usleep(20000);
    CHECK(pthread_kill(poster, SIGUSR1) == 0);
    CHECK(pthread_join(poster, &seen) == 0 && (long)seen == SIGUSR1);
    puts("pthread_kill to a thread in pause: ok");
    return 0;
}
