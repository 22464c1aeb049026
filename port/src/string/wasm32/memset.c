#include <string.h>

#ifdef __wasm_bulk_memory__
/* One memory.fill instruction. */
void *memset(void *dest, int c, size_t n)
{
	return __builtin_memset(dest, c, n);
}
#else
#include "../memset.c"
#endif
