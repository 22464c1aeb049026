#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <unistd.h>
#include "syscall.h"

/* vfork() on wasm32 (docs/wasm32-abi.md, section 9). A wasm function cannot
 * return twice, so <unistd.h> makes vfork() the expression
 *     __wasm_vfork_leave(setjmp(__wasm_vfork_enter()))
 * in the caller: setjmp returns 0 first, and __wasm_vfork_leave(0) asks the
 * host for a vfork child in place (clone with CLONE_VM|CLONE_VFORK and no
 * child function: the host gives the caller the child's own copy of the fd
 * table, signal dispositions, mask and cwd). The code after vfork() then
 * runs as the child, on the parent's stack as on Linux, until it calls
 * execve (the host starts the program and answers with the child's pid
 * instead of never returning) or _exit (the host records the exit status and
 * answers with the pid); either then longjmps back to that setjmp, which
 * returns 1, and __wasm_vfork_leave(1) returns the pid to the parent.
 * Only execve (and the exec functions built on it) and _exit end such a
 * child; this file is linked only into programs that call vfork(). */

static jmp_buf resume, nested;
static pid_t child;
hidden volatile int __wasm_vfork_active;

/* A vfork() inside the child must not overwrite the parent's resume point:
 * it gets a buffer of its own and fails (the host allows one child). */
struct __jmp_buf_tag *__wasm_vfork_enter(void)
{
	return __wasm_vfork_active ? nested : resume;
}

pid_t __wasm_vfork_leave(int again)
{
	if (__wasm_vfork_active && !again) return __syscall_ret(-EAGAIN);
	if (again) {
		__wasm_vfork_active = 0;
		return child;
	}
	long r = __syscall(SYS_clone, CLONE_VM|CLONE_VFORK|SIGCHLD, 0, 0, 0, 0);
	if (r < 0) return __syscall_ret(r);
	__wasm_vfork_active = 1;
	return 0;
}

/* Called by execve and _exit in the child once the host has ended it. */
hidden _Noreturn void __wasm_vfork_resume(pid_t pid)
{
	child = pid;
	longjmp(resume, 1);
}

/* Reached only through a function pointer (or `(vfork)()`): nothing can
 * return twice there. */
pid_t (vfork)(void)
{
	return __syscall_ret(-ENOSYS);
}
