/* Allocator churn: many sizes, reallocs, interleaved frees, one large (mmap-sized) block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 512

int main(void)
{
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    unsigned sum = 0; /* 32 bits on every arch, so wrap-around matches */
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        seed = seed * 1103515245u + 12345u;
        int i = (seed >> 8) % SLOTS;
        if (slot[i] && (seed & 1)) {
            for (size_t k = 0; k < size[i]; k++)
                sum += slot[i][k];
            free(slot[i]);
            slot[i] = NULL;
            size[i] = 0;
            continue;
        }
        size_t n = 1 + (seed >> 16) % 3000;
        unsigned char *p = realloc(slot[i], n);
        if (!p) {
            puts("realloc failed");
            return 1;
        }
        if (n > size[i])
            memset(p + size[i], (int)(n & 0xff), n - size[i]);
        slot[i] = p;
        size[i] = n;
    }
    for (int i = 0; i < SLOTS; i++) {
        for (size_t k = 0; k < size[i] && slot[i]; k++)
            sum += slot[i][k];
        free(slot[i]);
    }
    size_t big = 8u << 20;
    unsigned char *p = calloc(big, 1);
    if (!p) {
        puts("calloc failed");
        return 1;
    }
    p[big - 1] = 7;
    sum += p[0] + p[big - 1];
    free(p);
    printf("malloc_churn checksum %u\n", sum);
    return 0;
}
