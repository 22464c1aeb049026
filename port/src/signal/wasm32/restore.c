/* Signal handlers return normally on wasm; the embedder resumes the
 * interrupted code itself, so the restorers are never called. */
#include <features.h>

hidden void __restore()
{
}

hidden void __restore_rt()
{
}
