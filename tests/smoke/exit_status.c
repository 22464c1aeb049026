/* The exit status reaches the runner (argv_env.status holds the expected value). */
#include <stdio.h>

int main(void)
{
    puts("exiting with status 3");
    return 3;
}
