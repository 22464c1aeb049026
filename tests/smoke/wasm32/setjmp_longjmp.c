/* setjmp/longjmp through clang's wasm lowering (exceptions): across frames, value 0 becomes 1,
 * volatile locals survive, sigsetjmp/siglongjmp restore the signal mask. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>

static jmp_buf env;
static sigjmp_buf senv;
static int depth;

static void dive(int n)
{
    depth = n;
    if (n == 0)
        longjmp(env, 42);
    dive(n - 1);
    puts("not reached");
}

static void jump_zero(void)
{
    longjmp(env, 0);
}

static int blocked(int sig)
{
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    return sigismember(&now, sig);
}

int main(void)
{
    volatile int rounds = 0;
    int r = setjmp(env);
    rounds++;
    printf("setjmp -> %d (round %d)\n", r, rounds);
    if (r == 0)
        dive(10);
    printf("depth at jump: %d\n", depth);

    if ((r = setjmp(env)) == 0)
        jump_zero();
    printf("longjmp(env, 0) -> %d\n", r);

    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    r = sigsetjmp(senv, 1);
    printf("sigsetjmp -> %d, SIGUSR1 blocked: %s\n", r, blocked(SIGUSR1) ? "yes" : "no");
    if (r == 0) {
        sigprocmask(SIG_BLOCK, &usr1, NULL);
        siglongjmp(senv, 7);
    }
    return 0;
}
