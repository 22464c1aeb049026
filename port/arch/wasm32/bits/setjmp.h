/* Space for the wasm setjmp/longjmp runtime (src/setjmp/wasm32):
 * the caller's invocation id, the setjmp label, and the env/value pair
 * that __wasm_longjmp throws with the __c_longjmp tag. */
typedef unsigned long __jmp_buf[8];
