/* CVE-2025-26519: musl's EUC-KR decoder read past its table on invalid input such as "\xc8\x41", and a
 * bad value made the UTF-8 writer move the output pointer backwards, out of the caller's buffer.
 * Every two-byte input is converted into a small buffer between guard bytes: the output must stay
 * inside it and the guards untouched, and "\xc8\x41" must be refused with EILSEQ. */
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <string.h>

#define GUARD 64
#define ROOM 8

static unsigned char region[GUARD + ROOM + GUARD];

static int guards_intact(void)
{
    for (int i = 0; i < GUARD; i++)
        if (region[i] != 0xA5 || region[GUARD + ROOM + i] != 0xA5)
            return 0;
    return 1;
}

/* 1 when the conversion kept inside the buffer; *refused says whether it failed with EILSEQ. */
static int convert(iconv_t cd, unsigned char lead, unsigned char trail, int *refused)
{
    char input[2] = {(char)lead, (char)trail};
    char *in = input, *out = (char *)region + GUARD;
    size_t inleft = 2, outleft = ROOM;
    memset(region, 0xA5, sizeof region);
    iconv(cd, NULL, NULL, NULL, NULL);
    size_t result = iconv(cd, &in, &inleft, &out, &outleft);
    *refused = result == (size_t)-1 && errno == EILSEQ;
    size_t used = (size_t)(out - ((char *)region + GUARD));
    return out >= (char *)region + GUARD && used <= ROOM && used + outleft == ROOM && guards_intact();
}

int main(void)
{
    iconv_t cd = iconv_open("UTF-8", "EUC-KR");
    if (cd == (iconv_t)-1) {
        puts("iconv_open failed");
        return 1;
    }
    int refused, escapes = 0;
    for (int lead = 0x80; lead <= 0xff; lead++)
        for (int trail = 0; trail <= 0xff; trail++)
            if (!convert(cd, lead, trail, &refused)) {
                if (!escapes++)
                    printf("output left the buffer on \\x%02x\\x%02x\n", lead, trail);
            }
    printf("pairs that wrote outside the buffer: %d\n", escapes);
    convert(cd, 0xc8, 0x41, &refused);
    printf("\\xc8\\x41 refused with EILSEQ: %s\n", refused ? "yes" : "no");
    iconv_close(cd);
    return escapes != 0;
}
