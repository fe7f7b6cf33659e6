/* tern/api.h — what every public header shares: the version and TERN_API.
 *
 * TERN_API marks a function of libtern's public surface. libtern is built
 * with hidden visibility, so a shared libtern exports exactly these; the
 * functions of src/'s internal headers stay private to it.
 *
 * The version follows semantic versioning; CMake reads it from here, so this
 * header is its one source. */
#ifndef TERN_API_H
#define TERN_API_H

#define TERN_VERSION_MAJOR 0
#define TERN_VERSION_MINOR 1
#define TERN_VERSION_PATCH 0

#if defined(_WIN32) && defined(TERN_SHARED)
#  ifdef TERN_BUILD
#    define TERN_API __declspec(dllexport)
#  else
#    define TERN_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define TERN_API __attribute__((visibility("default")))
#else
#  define TERN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version as "MAJOR.MINOR.PATCH", e.g. "0.1.0". A program
 * compiled against one header set may compare it with TERN_VERSION_* to
 * detect a different libtern at run time. */
TERN_API const char *tern_version(void);

#ifdef __cplusplus
}
#endif

#endif
