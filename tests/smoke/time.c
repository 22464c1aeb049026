/* Clocks and 64-bit time_t: dates after 2038 survive gmtime/timegm. */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>

static void roundtrip(long long seconds)
{
    char text[64];
    struct tm tm;
    time_t when = (time_t)seconds;
    if (!gmtime_r(&when, &tm)) {
        printf("%lld -> gmtime failed\n", seconds);
        return;
    }
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S %a", &tm);
    printf("%lld -> %s -> %s\n", seconds, text, timegm(&tm) == when ? "same" : "DIFFERENT");
}

int main(void)
{
    struct timespec real, mono1, mono2;
    time_t now = time(NULL);
    printf("time_t bits %d\n", (int)(sizeof(time_t) * 8));
    printf("time() after 2020: %s\n", now > 1577836800 ? "yes" : "no");
    printf("CLOCK_REALTIME ok: %s\n",
           clock_gettime(CLOCK_REALTIME, &real) == 0 && real.tv_sec >= now - 5 ? "yes" : "no");
    printf("CLOCK_MONOTONIC ok: %s\n",
           clock_gettime(CLOCK_MONOTONIC, &mono1) == 0 && clock_gettime(CLOCK_MONOTONIC, &mono2) == 0 &&
                   (mono2.tv_sec > mono1.tv_sec ||
                    (mono2.tv_sec == mono1.tv_sec && mono2.tv_nsec >= mono1.tv_nsec))
               ? "yes" : "no");
    roundtrip(0);
    roundtrip(2147483647LL);
    roundtrip(2147483648LL);
    roundtrip(2213818496LL);
    roundtrip(4102444800LL);
    return 0;
}
