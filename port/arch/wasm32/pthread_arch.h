/* wasm has no thread pointer register. The thread pointer is a thread-local
 * variable: in a shared-memory (-matomics) build every thread is its own
 * instance of the module, and the instance's __tls_base global locates the
 * thread's TLS block; in a single-threaded build it is an ordinary global. */
extern hidden _Thread_local uintptr_t __wasm_thread_pointer;

static inline uintptr_t __get_tp()
{
	return __wasm_thread_pointer;
}

#define MC_PC __pc
