/* wasm32: no syscall instruction. With SYSCALL_STATIC, src/internal/syscall.h
 * turns every syscall into a call to a function imported from the
 * embedder ("env" "__syscall_<name>"), declared in syscall_static.h. */
#define SYSCALL_STATIC 1

#define __SYSCALL_LL_E(x) \
((union { long long ll; long l[2]; }){ .ll = x }).l[0], \
((union { long long ll; long l[2]; }){ .ll = x }).l[1]
#define __SYSCALL_LL_O(x) __SYSCALL_LL_E((x))

#define IPC_64 0
