# The exception tag that __wasm_longjmp throws and code compiled with
# -mllvm -wasm-enable-sjlj catches; its payload is one i32 (a pointer).
	.globl	__c_longjmp
	.tagtype	__c_longjmp i32
__c_longjmp:
