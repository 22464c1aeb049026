/* pingpong HANDOFFS: two threads pass a turn back and forth through one mutex and one condition
 * variable; prints the wall seconds for HANDOFFS handoffs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static long turn, handoffs;

static void play(long me)
{
    pthread_mutex_lock(&lock);
    while (turn < handoffs) {
        while (turn < handoffs && turn % 2 != me) pthread_cond_wait(&changed, &lock);
        if (turn < handoffs) {
            turn++;
            pthread_cond_signal(&changed);
        }
    }
    pthread_mutex_unlock(&lock);
}

static void *other(void *arg) { play(1); return 0; }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    pthread_t t;
    handoffs = argc > 1 ? atol(argv[1]) : 2000;
    double started = now();
    if (pthread_create(&t, 0, other, 0)) return 1;
    play(0);
    pthread_join(t, 0);
    printf("%.6f %ld\n", now() - started, turn);
    return 0;
}
