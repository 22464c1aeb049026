/* muslforge wasm32 port: syscall() by number.
 *
 * With static syscalls every syscall is a named import (docs/wasm32-abi.md,
 * section 3), so a number known only at run time needs a switch from SYS_
 * numbers to the imports: arch/wasm32/syscall_switch.h, generated from the
 * syscall table at patch time. This file replaces src/misc/syscall.c; only a
 * program that calls syscall() links it and imports every syscall. */

#include <unistd.h>
#include <errno.h>
#include <stdarg.h>
#include "syscall.h"
#include "syscall_switch.h"

#undef syscall

long syscall(long n, ...)
{
	va_list ap;
	syscall_arg_t a,b,c,d,e,f;
	va_start(ap, n);
	a=va_arg(ap, syscall_arg_t);
	b=va_arg(ap, syscall_arg_t);
	c=va_arg(ap, syscall_arg_t);
	d=va_arg(ap, syscall_arg_t);
	e=va_arg(ap, syscall_arg_t);
	f=va_arg(ap, syscall_arg_t);
	va_end(ap);
	return __syscall_ret(__syscall_by_number(n,a,b,c,d,e,f));
}
