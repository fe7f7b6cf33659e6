/* version.c — tern_version() (tern/api.h). */
#include "tern/api.h"

#define TERN_STR_(x) #x
#define TERN_STR(x) TERN_STR_(x)

const char *tern_version(void) {
    return TERN_STR(TERN_VERSION_MAJOR) "." TERN_STR(TERN_VERSION_MINOR) "." TERN_STR(TERN_VERSION_PATCH);
}
