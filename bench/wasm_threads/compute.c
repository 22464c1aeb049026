/* compute THREADS ROUNDS: THREADS threads share ROUNDS rounds of a pure compute kernel, each on its
 * own data; prints the wall seconds of the parallel part (thread creation and join included, program
 * start excluded) and a checksum that must not depend on THREADS. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WORDS 4096

struct job { unsigned first, count; unsigned sum; unsigned data[WORDS]; };

static void *work(void *arg)
{
    struct job *job = arg;
    for (unsigned round = job->first; round < job->first + job->count; round++) {
        unsigned x = round * 2654435761u + 1;
        for (int i = 0; i < WORDS; i++) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            job->data[i] = x + (job->data[i] >> 3);
        }
        job->sum += job->data[round % WORDS];
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    unsigned rounds = argc > 2 ? strtoul(argv[2], 0, 10) : 20000, checksum = 0;
    struct job *jobs = calloc(threads, sizeof *jobs);
    pthread_t *ids = calloc(threads, sizeof *ids);
    double started = now();
    for (int t = 0; t < threads; t++) {
        jobs[t].first = rounds / threads * t;
        jobs[t].count = t == threads - 1 ? rounds - jobs[t].first : rounds / threads;
        if (pthread_create(&ids[t], 0, work, &jobs[t])) return 1;
    }
    for (int t = 0; t < threads; t++) pthread_join(ids[t], 0);
    double seconds = now() - started;
    for (int t = 0; t < threads; t++) checksum += jobs[t].count;
    printf("%.6f %u\n", seconds, checksum);
    return 0;
}
