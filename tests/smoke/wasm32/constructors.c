/* Constructors run after libc is initialized (environment, stdio), destructors and atexit handlers
 * run at exit in reverse order of registration, and stdout is flushed after them. */
#include <stdio.h>
#include <stdlib.h>

static int ctor_ran;

__attribute__((constructor)) static void early(void)
{
    ctor_ran = 1;
    printf("constructor: environ %s, PATH-like lookup %s\n", getenv("MUSLFORGE_SMOKE") ? "set" : "unset",
           getenv("MUSLFORGE_NO_SUCH_VAR") ? "found" : "absent");
}

__attribute__((destructor)) static void late(void)
{
    printf("destructor\n");
}

static void first(void) { printf("atexit first registered\n"); }
static void second(void) { printf("atexit second registered\n"); }

int main(void)
{
    atexit(first);
    atexit(second);
    printf("main: constructor ran: %s\n", ctor_ran ? "yes" : "no");
    return 0;
}
