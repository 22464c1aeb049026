/* Runtime for clang's wasm setjmp/longjmp lowering (-mllvm -wasm-enable-sjlj
 * with -fwasm-exceptions). The compiler turns each setjmp call into
 * __wasm_setjmp(env, label, id), where id identifies the invocation of
 * the calling function, and checks caught __c_longjmp exceptions with
 * __wasm_setjmp_test. longjmp throws __c_longjmp with a pointer to the
 * (env, value) pair. All of it lives in the jmp_buf. */
#include <stdint.h>

struct wasm_jmp_buf {
	void *id;
	uint32_t label;
	struct {
		void *env;
		int val;
	} arg;
};

void __wasm_setjmp(void *env, uint32_t label, void *id)
{
	struct wasm_jmp_buf *jb = env;
	jb->id = id;
	jb->label = label;
}

uint32_t __wasm_setjmp_test(void *env, void *id)
{
	struct wasm_jmp_buf *jb = env;
	return jb->id == id ? jb->label : 0;
}

__attribute__((__target__("exception-handling")))
_Noreturn void __wasm_longjmp(void *env, int val)
{
	struct wasm_jmp_buf *jb = env;
	jb->arg.env = env;
	jb->arg.val = val ? val : 1;
	__builtin_wasm_throw(1, &jb->arg);
}
