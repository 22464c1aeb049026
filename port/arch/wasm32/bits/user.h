/* wasm32 has no ptrace register layout; these exist for source compatibility. */
#define ELF_NGREG 4
typedef unsigned long elf_greg_t, elf_gregset_t[ELF_NGREG];
typedef struct { unsigned long __reserved; } elf_fpregset_t;
