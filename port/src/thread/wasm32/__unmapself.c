#include "pthread_impl.h"
#include "syscall.h"

/* The embedder owns the wasm call stack; the memory of the stack being
 * unmapped is not touched again after munmap, and exit ends the thread. */
_Noreturn void __unmapself(void *base, size_t size)
{
	__syscall(SYS_munmap, base, size);
	for (;;) __syscall(SYS_exit, 0);
}
