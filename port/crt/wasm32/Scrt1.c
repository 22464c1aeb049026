/* wasm32 is static-only: the PIE start files are the plain one. */
#include "crt1.c"
