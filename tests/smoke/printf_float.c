/* Float formatting and parsing: double, long double (64-, 80- or 128-bit per arch), strtold round trip. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>

static int roundtrip(long double x)
{
    char text[128];
    snprintf(text, sizeof text, "%.*Lg", LDBL_DECIMAL_DIG, x);
    return strtold(text, NULL) == x;
}

int main(void)
{
    volatile double third = 1.0 / 3.0;
    volatile long double big = 1234567.25L;
    volatile long double tenth = 1.0L / 10;
    printf("%.6f %.3e %g\n", third, 6.02214076e23, 0.0001);
    printf("%.17g\n", 0.1);
    printf("%.2Lf %Lg\n", big, big * 4);
    printf("%.1Lf\n", tenth * 30);
    printf("%a\n", 1.0);
    printf("strtod %.3f\n", strtod("  -2.5e2xyz", NULL));
    printf("strtold %.4Lf\n", strtold("3.14159265358979323846264338327950288", NULL));
    printf("roundtrip %s\n", roundtrip(tenth) && roundtrip(big / 7) && roundtrip(LDBL_MAX) ? "ok" : "FAILED");
    return 0;
}
