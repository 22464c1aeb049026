/* Thread lifecycle: create/join and create/detach 100 threads in a loop, _Thread_local, pthread_key
 * destructors at thread exit, pthread_once under contention, pthread_atfork registration, cleanup
 * handlers, C11 threads (thrd_create, mtx, cnd, tss), gettid, sched_getaffinity. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <threads.h>
#include <unistd.h>

#define ADD(p, v) __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST)
#define LOAD(p) __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define CHECK(x) do { if (!(x)) { printf("FAIL line %d: %s\n", __LINE__, #x); return 1; } } while (0)

static _Thread_local int tls_value = 7;
static int detached_done, destructed, once_runs, cleanups;
static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *echo(void *arg) { tls_value += (int)(long)arg; return (void *)(long)tls_value; }
static void *detached(void *arg) { ADD(&detached_done, 1); return arg; }
static void destructor(void *value) { ADD(&destructed, (int)(long)value); }
static void *with_key(void *arg) { pthread_setspecific(key, arg); return 0; }
static void init_once(void) { usleep(20000); ADD(&once_runs, 1); }
static void *call_once_(void *arg) { pthread_once(&once, init_once); return (void *)(long)LOAD(&once_runs); }
static void cleanup(void *arg) { ADD(&cleanups, (int)(long)arg); }
static void *exits_early(void *arg)
{
    pthread_cleanup_push(cleanup, (void *)3);
    pthread_exit((void *)(long)gettid());
    pthread_cleanup_pop(0);
    return 0;
}
static void prepare(void) {}

static mtx_t c11_lock;
static cnd_t c11_cond;
static int c11_ready;
static tss_t c11_key;
static int c11_dtor;
static void c11_destructor(void *v) { ADD(&c11_dtor, 1); }
static int c11_worker(void *arg)
{
    tss_set(c11_key, arg);
    mtx_lock(&c11_lock);
    c11_ready = 1;
    cnd_signal(&c11_cond);
    mtx_unlock(&c11_lock);
    return 42;
}

int main(void)
{
    for (long i = 0; i < 100; i++) {
        pthread_t t;
        void *result;
        CHECK(pthread_create(&t, 0, echo, (void *)i) == 0);
        CHECK(pthread_join(t, &result) == 0);
        CHECK((long)result == 7 + i);
    }
    CHECK(tls_value == 7);
    puts("create/join 100: ok");

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0, tries = 0; i < 100; i++) {
        pthread_t t;
        int made;
        /* EAGAIN: as many threads as the host allows are still running; one ends soon. */
        while ((made = pthread_create(&t, &attr, detached, 0)) == EAGAIN && tries++ < 10000) usleep(1000);
        CHECK(made == 0);
    }
    for (int spins = 0; LOAD(&detached_done) < 100 && spins < 10000; spins++) usleep(1000);
    CHECK(detached_done == 100);
    puts("create/detach 100: ok");

    CHECK(pthread_key_create(&key, destructor) == 0);
    pthread_t keyed[4];
    for (long i = 0; i < 4; i++) CHECK(pthread_create(&keyed[i], 0, with_key, (void *)(i + 1)) == 0);
    for (int i = 0; i < 4; i++) pthread_join(keyed[i], 0);
    CHECK(destructed == 1 + 2 + 3 + 4);
    puts("key destructors: ok");

    pthread_t racers[8];
    for (int i = 0; i < 8; i++) CHECK(pthread_create(&racers[i], 0, call_once_, 0) == 0);
    for (int i = 0; i < 8; i++) {
        void *seen;
        pthread_join(racers[i], &seen);
        CHECK((long)seen == 1);
    }
    CHECK(once_runs == 1);
    puts("pthread_once under contention: ok");

    CHECK(pthread_atfork(prepare, 0, 0) == 0);
    puts("pthread_atfork: ok");

    pthread_t early;
    void *tid;
    CHECK(pthread_create(&early, 0, exits_early, 0) == 0);
    CHECK(pthread_join(early, &tid) == 0);
    CHECK(cleanups == 3 && (long)tid > 1 && (long)tid != gettid());
    puts("pthread_exit with cleanup handlers: ok");

    cpu_set_t cpus;
    CHECK(sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) >= 1);
    CHECK(sched_yield() == 0);
    puts("sched_getaffinity, sched_yield: ok");

    thrd_t c11;
    int c11_result;
    CHECK(mtx_init(&c11_lock, mtx_plain) == thrd_success && cnd_init(&c11_cond) == thrd_success);
    CHECK(tss_create(&c11_key, c11_destructor) == thrd_success);
    CHECK(thrd_create(&c11, c11_worker, (void *)1) == thrd_success);
    mtx_lock(&c11_lock);
    while (!c11_ready) cnd_wait(&c11_cond, &c11_lock);
    mtx_unlock(&c11_lock);
    CHECK(thrd_join(c11, &c11_result) == thrd_success && c11_result == 42);
    CHECK(c11_dtor == 1);
    puts("C11 threads: ok");
    return 0;
}
