/* wasm32 is static-only: there is no dynamic linker and no ELF relocation
 * processing. These values exist so that code sharing dynlink.h compiles. */
#define LDSO_ARCH "wasm32"

#define REL_SYMBOLIC    0x7f01
#define REL_PLT         0x7f02
#define REL_RELATIVE    0x7f03
#define REL_COPY        0x7f04
#define REL_DTPMOD      0x7f05
#define REL_DTPOFF      0x7f06
#define REL_TPOFF       0x7f07

#define CRTJMP(pc,sp) __builtin_trap()
