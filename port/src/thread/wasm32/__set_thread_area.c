#include "pthread_impl.h"

/* wasm has no thread pointer register; __get_tp reads this. */
hidden uintptr_t __wasm_thread_pointer;

int __set_thread_area(void *p)
{
	__wasm_thread_pointer = (uintptr_t)p;
	return 0;
}
