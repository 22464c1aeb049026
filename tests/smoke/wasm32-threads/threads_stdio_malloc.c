/* printf from 8 threads into one FILE (every line whole: stdio locks the FILE), malloc/free from 4
 * threads at once (mallocng under contention, every block's contents intact). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x) do { if (!(x)) { printf("FAIL line %d: %s\n", __LINE__, #x); return 1; } } while (0)

static FILE *out;
static const char *text = "the quick brown fox jumps over the lazy dog";

static void *printer(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 200; i++)
        fprintf(out, "thread %ld line %03d: %s\n", id, i, text);
    return 0;
}

static int check_lines(void)
{
    char line[256], tail[128];
    int seen[8] = {0}, id, number;
    FILE *in = fopen("lines.txt", "r");
    CHECK(in != 0);
    while (fgets(line, sizeof line, in)) {
        CHECK(sscanf(line, "thread %d line %d: %127[^\n]", &id, &number, tail) == 3);
        CHECK(id >= 0 && id < 8 && number == seen[id]++ && strcmp(tail, text) == 0);
    }
    fclose(in);
    for (int i = 0; i < 8; i++) CHECK(seen[i] == 200);
    return 0;
}

static void *churn(void *arg)
{
    unsigned seed = (unsigned)(long)arg * 2654435761u;
    void *slots[64] = {0};
    size_t sizes[64] = {0};
    for (int i = 0; i < 5000; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (seed >> 8) & 63;
        if (slots[k]) {
            unsigned char *p = slots[k];
            for (size_t j = 0; j < sizes[k]; j++)
                if (p[j] != (unsigned char)(k + sizes[k])) return (void *)1;
            free(p);
            slots[k] = 0;
        } else {
            sizes[k] = 1 + (seed >> 16) % ((seed & 1) ? 100000 : 200);
            slots[k] = malloc(sizes[k]);
            if (!slots[k]) return (void *)2;
            memset(slots[k], k + sizes[k], sizes[k]);
        }
    }
    for (int k = 0; k < 64; k++) free(slots[k]);
    return 0;
}

int main(void)
{
    pthread_t t[8];
    CHECK((out = fopen("lines.txt", "w")) != 0);
    for (long i = 0; i < 8; i++) CHECK(pthread_create(&t[i], 0, printer, (void *)i) == 0);
    for (int i = 0; i < 8; i++) pthread_join(t[i], 0);
    CHECK(fclose(out) == 0);
    if (check_lines()) return 1;
    puts("printf from 8 threads, no torn lines: ok");

    for (long i = 0; i < 4; i++) CHECK(pthread_create(&t[i], 0, churn, (void *)(i + 1)) == 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        CHECK(bad == 0);
    }
    puts("malloc/free from 4 threads: ok");
    return 0;
}
