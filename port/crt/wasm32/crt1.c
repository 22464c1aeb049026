/* wasm32 program entry. The embedder calls the exported _start(p) with p
 * pointing at a Linux-style initial process block in linear memory:
 * argc, argv[], NULL, envp[], NULL, auxv pairs, AT_NULL. */
#include <features.h>
#include "libc.h"

/* clang names main(int, char **) __main_argc_argv on wasm and leaves
 * main(void) as main; a call through the wrong signature would trap,
 * so call whichever the program defines with its own signature. */
int __main_argc_argv(int, char **) __attribute__((__weak__));
int main(void) __attribute__((__weak__));

weak void _init();
weak void _fini();
int __libc_start_main(int (*)(), int, char **,
	void (*)(), void(*)(), void(*)());

static int call_main(int argc, char **argv, char **envp)
{
	if (__main_argc_argv) return __main_argc_argv(argc, argv);
	return main();
}

void _start(long *p)
{
	int argc = p[0];
	char **argv = (void *)(p+1);
	__libc_start_main(call_main, argc, argv, _init, _fini, 0);
}
