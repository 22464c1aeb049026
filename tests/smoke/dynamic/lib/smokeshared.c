/* A shared library linked into shared_library.c at build time: functions, and data the program changes. */
int smoke_counter = 40;

int smoke_add(int a, int b)
{
    return a + b + smoke_counter;
}

const char *smoke_greeting(void)
{
    return "hello from libsmokeshared.so";
}
