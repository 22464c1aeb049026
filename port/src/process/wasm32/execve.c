#include <unistd.h>
#include "syscall.h"

/* In a vfork() child (vfork.c) the host starts the program and answers with
 * its pid; the child then resumes the parent. vfork.c is linked only when
 * the program calls vfork(), so the references are weak. */
extern hidden volatile int __wasm_vfork_active __attribute__((__weak__));
hidden _Noreturn void __wasm_vfork_resume(pid_t) __attribute__((__weak__));

int execve(const char *path, char *const argv[], char *const envp[])
{
	long r = __syscall(SYS_execve, path, argv, envp);
	if (r > 0 && &__wasm_vfork_active && __wasm_vfork_active)
		__wasm_vfork_resume(r);
	return __syscall_ret(r);
}
