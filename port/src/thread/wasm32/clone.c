#include <errno.h>
#include <stdarg.h>
#include "pthread_impl.h"
#include "syscall.h"

/* A wasm function cannot return twice, so the child cannot resume here as
 * it does after the kernel's clone. __clone stores func and arg in the top
 * 16 bytes of the child's stack and asks the host for a thread with the
 * kernel's clone arguments (flags, stack, ptid, tls, ctid). A host with
 * threads instantiates the module again on the same shared memory and calls
 * its export __wasm_thread_start(tid, stack, tls) on a new host thread
 * (docs/wasm32-abi.md); a host without returns -ENOSYS and pthread_create
 * fails with EAGAIN. */
int __clone(int (*func)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	pid_t *ptid, *ctid;
	void *tls;
	void **sp = (void **)((uintptr_t)stack & -16UL) - 4;

	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);

	sp[0] = (void *)func;
	sp[1] = arg;
	return __syscall(SYS_clone, flags, sp, ptid, tls, ctid);
}

#ifdef __wasm_atomics__
void __wasm_init_tls(void *);

/* __wasm_thread_start(tid, stack, tls), exported: makes the clone stack this
 * instance's C stack before any C code runs (only the assembler can set
 * __stack_pointer), then continues in __wasm_thread_start_c. It lives in this
 * file so that exactly the programs that can create threads export it. */
__asm__(
"	.globaltype __stack_pointer, i32\n"
"	.functype __wasm_thread_start_c (i32, i32, i32) -> ()\n"
"	.globl __wasm_thread_start\n"
"	.export_name __wasm_thread_start, __wasm_thread_start\n"
"	.type __wasm_thread_start,@function\n"
"__wasm_thread_start:\n"
"	.functype __wasm_thread_start (i32, i32, i32) -> ()\n"
"	local.get 1\n"
"	global.set __stack_pointer\n"
"	local.get 0\n"
"	local.get 1\n"
"	local.get 2\n"
"	call __wasm_thread_start_c\n"
"	end_function\n");

/* Called by __wasm_thread_start (thread_start.s) once the stack pointer is
 * the child's: set up this instance's TLS block and thread pointer, run
 * func(arg), and end the thread with its result if it ever returns. */
hidden _Noreturn void __wasm_thread_start_c(int tid, void **sp, void *tls)
{
	if (tls) {
		pthread_t td = tls;
		__wasm_init_tls((void *)(td->dtv[1] - DTP_OFFSET));
		__set_thread_area(tls);
	}
	int (*func)(void *) = (int (*)(void *))sp[0];
	void *arg = sp[1];
	int r = func(arg);
	for (;;) __syscall(SYS_exit, r);
}
#endif
