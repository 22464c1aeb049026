#include <setjmp.h>
#undef setjmp
#undef _setjmp

/* Code built with -mllvm -wasm-enable-sjlj never calls these: the compiler
 * replaces setjmp calls with __wasm_setjmp. A direct call (through a
 * pointer, or from code built without the flag) records nothing, so a
 * later longjmp to this buffer ends the program with an uncaught
 * exception. */
int setjmp(jmp_buf env)
{
	return 0;
}

int _setjmp(jmp_buf env)
{
	return 0;
}
