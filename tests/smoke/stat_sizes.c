/* stat()/fstat() of a file this program wrote: st_size and st_mode are right (64-bit off_t). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME "muslforge-smoke-stat.bin"

int main(void)
{
    static char block[12345];
    struct stat st;
    memset(block, 'x', sizeof block);
    int fd = open(NAME, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, block, sizeof block) != (ssize_t)sizeof block) {
        puts("write failed");
        return 1;
    }
    printf("fstat size %lld\n", fstat(fd, &st) == 0 ? (long long)st.st_size : -1LL);
    close(fd);
    printf("off_t bits %d\n", (int)(sizeof(off_t) * 8));
    if (stat(NAME, &st) != 0) {
        puts("stat failed");
        return 1;
    }
    printf("stat size %lld\n", (long long)st.st_size);
    printf("regular file: %s\n", S_ISREG(st.st_mode) ? "yes" : "no");
    printf("unlink: %d\n", unlink(NAME));
    printf("stat after unlink fails: %s\n", stat(NAME, &st) != 0 ? "yes" : "no");
    return 0;
}
