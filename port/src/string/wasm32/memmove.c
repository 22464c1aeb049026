#include <string.h>

#ifdef __wasm_bulk_memory__
/* memory.copy handles overlapping ranges. */
void *memmove(void *dest, const void *src, size_t n)
{
	return __builtin_memmove(dest, src, n);
}
#else
#include "../memmove.c"
#endif
