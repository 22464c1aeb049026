/* Loaded with dlopen by dlopen_tls.c: thread-local storage in a shared object (initialized and zeroed),
   so every thread that touches it gets its own copy, allocated by the loader after the fact. */
__thread int tls_counter = 100;
__thread int tls_zeroed[64];

int tls_bump(int by)
{
    tls_counter += by;
    tls_zeroed[by % 64] += 1;
    return tls_counter;
}

int tls_zeroed_sum(void)
{
    int sum = 0;
    for (int i = 0; i < 64; i++)
        sum += tls_zeroed[i];
    return sum;
}

void *tls_address(void)
{
    return &tls_counter;
}
