/* Thread pointer, errno, _Thread_local, big allocations (memory.grow through brk/mmap), and
 * pthread_create failing cleanly on an embedder without threads. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Thread_local int tls_counter = 5;

static void *worker(void *arg)
{
    return arg;
}

int main(int argc, char **argv)
{
    printf("pthread_self set: %s\n", pthread_self() ? "yes" : "no");
    tls_counter++;
    printf("tls counter: %d\n", tls_counter);
    errno = 0;
    printf("close(-1): %d, errno %s\n", close(-1), errno == EBADF ? "EBADF" : strerror(errno));

    size_t big = 24u << 20;
    unsigned char *p = malloc(big);
    if (!p) {
        puts("malloc failed");
        return 1;
    }
    memset(p, 0xab, big);
    p = realloc(p, big * 2);
    printf("24 MiB block survives realloc: %s\n", p && p[big - 1] == 0xab ? "yes" : "no");
    free(p);

    void *small[1000];
    for (int i = 0; i < 1000; i++)
        small[i] = malloc(16 + i);
    for (int i = 0; i < 1000; i++)
        free(small[i]);
    puts("1000 small allocations freed");

    pthread_t t;
    int rc = pthread_create(&t, NULL, worker, NULL);
    printf("pthread_create: %s\n", rc == 0 ? "created" : rc == EAGAIN ? "EAGAIN" : strerror(rc));
    if (rc == 0)
        pthread_join(t, NULL);
    printf("argc >= 1: %s\n", argc >= 1 && argv[0] ? "yes" : "no");
    return 0;
}
