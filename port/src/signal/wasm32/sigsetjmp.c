#include <setjmp.h>
#include <signal.h>
#include "syscall.h"
#undef sigsetjmp

/* <setjmp.h> makes sigsetjmp(env, save) call this, then setjmp(env), so
 * that the compiler's setjmp lowering sees a setjmp call; siglongjmp
 * restores the saved mask before it jumps. */
int __wasm_sigsetjmp_save(sigjmp_buf env, int save)
{
	env->__fl = save;
	if (save) __syscall(SYS_rt_sigprocmask, SIG_SETMASK, 0, env->__ss, _NSIG/8);
	return 0;
}

int sigsetjmp(sigjmp_buf env, int save)
{
	return __wasm_sigsetjmp_save(env, save);
}
