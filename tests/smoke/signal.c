/* sigaction + raise: the handler runs synchronously before raise returns. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t caught;

static void on_signal(int signo)
{
    caught = signo;
}

int main(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGUSR1, &action, NULL) != 0) {
        puts("sigaction failed");
        return 1;
    }
    printf("raise: %d\n", raise(SIGUSR1));
    printf("handler ran: %s\n", caught == SIGUSR1 ? "yes" : "no");
    signal(SIGUSR1, SIG_IGN);
    printf("ignored raise: %d\n", raise(SIGUSR1));
    return 0;
}
