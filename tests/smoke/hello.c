/* The smallest check: crt start-up, stdio, exit. */
#include <stdio.h>

int main(void)
{
    puts("hello from muslforge");
    return 0;
}
