/* argv (from argv_env.args, one item per line; argv[0] varies so it is not printed) and the environment. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    const char *smoke = getenv("MUSLFORGE_SMOKE");
    printf("argc %d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d] [%s]\n", i, argv[i]);
    printf("MUSLFORGE_SMOKE [%s]\n", smoke ? smoke : "(unset)");
    printf("unset variable: %s\n", getenv("MUSLFORGE_SMOKE_NOT_SET") ? "set" : "absent");
    return 0;
}
