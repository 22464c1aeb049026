/* dlopen/dlsym of a shared object with __thread variables, used from several threads: threads started
   before the dlopen (the loader must give them the new TLS too) and after it. Each thread sees the
   initial value, its own copy and its own address. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define ROUNDS 1000

static int (*bump)(int);
static int (*zeroed_sum)(void);
static void *(*address)(void);
static pthread_barrier_t loaded;

struct result { int value, zeroed; void *where; };
static struct result results[THREADS + 1];

static void *work(void *arg)
{
    long index = (long)arg;
    if (index < 2)
        pthread_barrier_wait(&loaded);  /* started before the dlopen */
    int value = 0;
    for (int i = 0; i < ROUNDS; i++)
        value = bump((int)index + 1);
    results[index] = (struct result){value, zeroed_sum(), address()};
    return 0;
}

int main(void)
{
    pthread_t threads[THREADS];
    pthread_barrier_init(&loaded, 0, 3);
    for (long i = 0; i < 2; i++)
        if (pthread_create(&threads[i], 0, work, (void *)i))
            return 1;
    void *lib = dlopen("libsmoketls.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("dlopen failed: %s\n", dlerror());
        return 2;
    }
    bump = (int (*)(int))dlsym(lib, "tls_bump");
    zeroed_sum = (int (*)(void))dlsym(lib, "tls_zeroed_sum");
    address = (void *(*)(void))dlsym(lib, "tls_address");
    printf("dlsym: %s\n", bump && zeroed_sum && address ? "found" : "missing");
    printf("dlsym of a missing symbol: %s\n", !dlsym(lib, "no_such_symbol") && dlerror() ? "NULL + dlerror" : "?");
    if (!bump || !zeroed_sum || !address)
        return 3;
    pthread_barrier_wait(&loaded);
    for (long i = 2; i < THREADS; i++)
        if (pthread_create(&threads[i], 0, work, (void *)i))
            return 4;
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], 0);
    work((void *)(long)THREADS);  /* the main thread too */
    int distinct = 1;
    for (int i = 0; i <= THREADS; i++) {
        printf("thread %d: tls_counter %d, zeroed sum %d\n", i, results[i].value, results[i].zeroed);
        for (int j = 0; j < i; j++)
            if (results[i].where == results[j].where)
                distinct = 0;
    }
    printf("addresses: %s\n", distinct ? "one per thread" : "SHARED");
    return 0;
}
