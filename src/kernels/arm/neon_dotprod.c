/* neon_dotprod.c — the NEON GEMMs of neon.c built again with the dot-product
 * extension (sdot; CMakeLists.txt gives this file -march=armv8.2-a+dotprod)
 * as tern_kernel_ops_neon_dotprod, which the NEON path runs on CPUs that
 * have it (dispatch.c), so a portable aarch64 libtern still uses sdot. */
#define TERN_NEON_DOTPROD
#include "neon.c"
