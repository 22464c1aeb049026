/* Files under the current directory only (relative paths: the wasm32 sandbox is the cwd). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define FIRST "muslforge-smoke-file-a.txt"
#define SECOND "muslforge-smoke-file-b.txt"

int main(void)
{
    char line[64];
    FILE *f = fopen(FIRST, "w");
    if (!f || fprintf(f, "line one\nline two\n") < 0 || fclose(f) != 0) {
        printf("write failed: %s\n", strerror(errno));
        return 1;
    }
    f = fopen(FIRST, "a");
    fputs("line three\n", f);
    fclose(f);
    if (rename(FIRST, SECOND) != 0) {
        printf("rename failed: %s\n", strerror(errno));
        return 1;
    }
    printf("old name gone: %s\n", fopen(FIRST, "r") == NULL && errno == ENOENT ? "yes" : "no");
    f = fopen(SECOND, "r");
    if (!f) {
        printf("reopen failed: %s\n", strerror(errno));
        return 1;
    }
    while (fgets(line, sizeof line, f))
        printf("read: %s", line);
    fclose(f);
    printf("remove: %d\n", remove(SECOND));
    printf("removed: %s\n", fopen(SECOND, "r") == NULL && errno == ENOENT ? "yes" : "no");
    return 0;
}
