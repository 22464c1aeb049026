#include <unistd.h>
#include <stdlib.h>
#include "syscall.h"

/* In a vfork() child (src/process/wasm32/vfork.c) _exit ends that child with
 * the exit syscall (a vfork child is one thread); the host answers with its
 * pid, and the child resumes the parent. exit_group there (exit(), abort())
 * ends the whole program, as nothing can resume the parent from it. */
extern hidden volatile int __wasm_vfork_active __attribute__((__weak__));
hidden _Noreturn void __wasm_vfork_resume(pid_t) __attribute__((__weak__));

_Noreturn void _exit(int status)
{
	if (&__wasm_vfork_active && __wasm_vfork_active) {
		long r = __syscall(SYS_exit, status);
		if (r > 0) __wasm_vfork_resume(r);
	}
	_Exit(status);
}
