/* wasm has no thread pointer register: __set_thread_area stores it here. */
extern hidden uintptr_t __wasm_thread_pointer;

static inline uintptr_t __get_tp()
{
	return __wasm_thread_pointer;
}

#define MC_PC __pc
