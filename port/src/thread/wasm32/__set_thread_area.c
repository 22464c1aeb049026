#include "pthread_impl.h"

/* See pthread_arch.h: one per thread (one per instance). */
hidden _Thread_local uintptr_t __wasm_thread_pointer;

int __set_thread_area(void *p)
{
	__wasm_thread_pointer = (uintptr_t)p;
	return 0;
}
