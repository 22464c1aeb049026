/* Linked against libsmokeshared.so (-lsmokeshared, found at run time through $ORIGIN): its functions
   and data are the library's, not copies in the program, and the loader found both it and libc.so. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

extern int smoke_counter;
int smoke_add(int a, int b);
const char *smoke_greeting(void);

static const char *base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int main(void)
{
    Dl_info info;
    printf("%s\n", smoke_greeting());
    printf("smoke_add(1, 1) = %d\n", smoke_add(1, 1));
    smoke_counter = 0;
    printf("after smoke_counter = 0: %d\n", smoke_add(1, 1));
    if (!dladdr((void *)smoke_add, &info) || !info.dli_fname)
        return 1;
    printf("smoke_add lives in %s\n", base(info.dli_fname));
    if (!dladdr((void *)printf, &info) || !info.dli_fname)
        return 2;
    printf("printf lives in %s\n", strstr(base(info.dli_fname), "ld-musl-") || !strcmp(base(info.dli_fname), "libc.so")
           ? "musl's libc.so" : base(info.dli_fname));
    return 0;
}
