#include <errno.h>
#include <stdarg.h>
#include "pthread_impl.h"
#include "syscall.h"

/* A wasm function cannot return twice, so the child cannot resume here
 * as it does with the kernel's clone. __clone stores func and arg at the
 * top of the child's stack and asks the embedder to start a thread with
 * the kernel's clone arguments (flags, stack, ptid, tls, ctid); an
 * embedder that supports threads runs func(arg) on that stack with that
 * thread pointer, one that does not returns -ENOSYS (pthread_create
 * then fails with EAGAIN). */
int __clone(int (*func)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	pid_t *ptid, *ctid;
	void *tls;
	void **sp = (void **)((uintptr_t)stack & -16UL) - 2;

	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);

	sp[0] = (void *)func;
	sp[1] = arg;
	return __syscall(SYS_clone, flags, sp, ptid, tls, ctid);
}
