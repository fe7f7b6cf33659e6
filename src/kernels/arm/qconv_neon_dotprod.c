/* qconv_neon_dotprod.c — the direct int8 conv of qconv_neon.c built again
 * with the dot-product extension (sdot; CMakeLists.txt gives this file
 * -march=armv8.2-a+dotprod) as tern_qconv_neon_dotprod, which
 * tern_qconv_neon runs on CPUs that have it. */
#define TERN_NEON_DOTPROD
#include "qconv_neon.c"
