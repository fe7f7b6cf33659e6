# ternDependencies.cmake — libtern's dependencies, found the same way by
# tern's own build and by find_package(tern) (ternConfig.cmake):
#   HDF5 (C and HL)  hdf5::hdf5, hdf5::hdf5_hl
#   libcyaml         PkgConfig::CYAML (pkg-config)
#   zlib, threads    ZLIB::ZLIB, Threads::Threads
#   libpng, libjpeg  PNG::PNG, JPEG::JPEG (the image-folder dataset)
#   OpenBLAS         tern::openblas, from Debian's openblas-pthread first,
#                    whose cblas.h declares openblas_set_num_threads
#   MPI (optional)   MPI::MPI_C, when TERN_MPI is ON or AUTO and MPI is found
#                    (tern's build), or when the installed tern was built
#                    with it (TERN_WITH_MPI set by ternConfig.cmake)
# Sets TERN_WITH_MPI (ON/OFF) and TERN_DEPS_MISSING to what was not found (empty when all were); the
# includer decides whether that is fatal.
set(TERN_DEPS_MISSING "")
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(CYAML QUIET IMPORTED_TARGET libcyaml)
endif()
if(NOT TARGET PkgConfig::CYAML)
  list(APPEND TERN_DEPS_MISSING "libcyaml (pkg-config; Debian: pkg-config libcyaml-dev)")
endif()
find_package(HDF5 QUIET COMPONENTS C HL)
if(NOT HDF5_FOUND OR NOT TARGET hdf5::hdf5_hl)
  list(APPEND TERN_DEPS_MISSING "HDF5 C and HL (Debian: libhdf5-dev)")
endif()
find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  list(APPEND TERN_DEPS_MISSING "zlib (Debian: zlib1g-dev)")
endif()
find_package(PNG QUIET)
if(NOT PNG_FOUND)
  list(APPEND TERN_DEPS_MISSING "libpng (Debian: libpng-dev)")
endif()
find_package(JPEG QUIET)
if(NOT JPEG_FOUND)
  list(APPEND TERN_DEPS_MISSING "libjpeg (Debian: libjpeg62-turbo-dev)")
endif()
find_package(Threads QUIET)
if(NOT Threads_FOUND)
  list(APPEND TERN_DEPS_MISSING "threads")
endif()

find_path(OPENBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-pthread
        /usr/include/aarch64-linux-gnu/openblas-pthread
        /usr/include/openblas
  NO_DEFAULT_PATH)
find_path(OPENBLAS_INCLUDE_DIR cblas.h)
find_library(OPENBLAS_LIBRARY NAMES openblas
  PATHS /usr/lib/x86_64-linux-gnu/openblas-pthread
        /usr/lib/aarch64-linux-gnu/openblas-pthread)
if(OPENBLAS_INCLUDE_DIR AND OPENBLAS_LIBRARY)
  if(NOT TARGET tern::openblas)
    add_library(tern::openblas UNKNOWN IMPORTED)
    set_target_properties(tern::openblas PROPERTIES IMPORTED_LOCATION "${OPENBLAS_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${OPENBLAS_INCLUDE_DIR}")
  endif()
else()
  list(APPEND TERN_DEPS_MISSING "OpenBLAS (Debian: libopenblas-pthread-dev)")
endif()

# MPI: optional for tern's build (TERN_MPI), required by an installed tern
# that was built with it.
if(DEFINED TERN_MPI AND NOT DEFINED TERN_WITH_MPI_INSTALLED)
  set(TERN_WITH_MPI OFF)
  if(NOT TERN_MPI STREQUAL "OFF")
    find_package(MPI QUIET COMPONENTS C)
    if(MPI_C_FOUND)
      set(TERN_WITH_MPI ON)
    elseif(TERN_MPI STREQUAL "ON")
      list(APPEND TERN_DEPS_MISSING "MPI (TERN_MPI=ON; Debian: libopenmpi-dev openmpi-bin)")
    endif()
  endif()
elseif(TERN_WITH_MPI_INSTALLED)
  set(TERN_WITH_MPI ON)
  find_package(MPI QUIET COMPONENTS C)
  if(NOT MPI_C_FOUND)
    list(APPEND TERN_DEPS_MISSING "MPI, as tern was built with it (Debian: libopenmpi-dev)")
  endif()
endif()
