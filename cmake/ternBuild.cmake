# ternBuild.cmake — what every build of tern's sources shares, so the
# top-level CMakeLists.txt and tests/aarch64 (the kernels cross-built alone)
# cannot drift apart: the compile flags that decide results, and the
# architecture kernels with their own target flags.

# The flags, for the directory that calls it.
macro(tern_compile_flags)
  add_compile_options(-Wall -Wextra)
  # tern never reads errno; without this GCC will not vectorise loops with sqrtf (Adam).
  add_compile_options(-fno-math-errno)
  # tern never unmasks floating-point traps; without this GCC will not turn
  # compare-and-select loops (relu, the maxpool argmax) into SIMD blends.
  # Values, NaNs and infinities are unchanged.
  add_compile_options(-fno-trapping-math)
  # `#pragma omp simd` marks loops to vectorise; this flag honours it without
  # linking an OpenMP runtime. (No omp-simd reduction: its lane count would
  # follow the target's vector width; sums add in fixed lanes, core/lanes.h.)
  add_compile_options(-fopenmp-simd)
  # a*b + c is two roundings wherever it is written, and fmaf() one: the same
  # source gives the same bits with gcc or clang, with or without FMA in the
  # target (GCC would otherwise fuse such expressions where the ISA has FMA).
  # The inference epilogues (src/kernels/epilogue.h) rely on it: their SIMD
  # and scalar twins agree bit for bit, and with training's batchnorm.
  add_compile_options(-ffp-contract=off)
  # GCC notes that a function passing a vector wider than the target's
  # registers (dot.c's 16 lanes without AVX-512) has another ABI than with it;
  # such functions are static, so no caller can see the difference.
  add_compile_options(-Wno-psabi)
endmacro()

# out = src/kernels/x86/*.c or src/kernels/arm/*.c (for the target's
# architecture; none elsewhere), each with its ISA flags. Only these files
# get them, and src/kernels/dispatch.c chooses among them at run time, so
# the rest builds for the baseline (x86-64, Armv8.0).
function(tern_arch_kernel_sources root out)
  set(files "")
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    file(GLOB files CONFIGURE_DEPENDS ${root}/src/kernels/x86/*.c)
    foreach(f ${files})
      if(f MATCHES "avx512")
        set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS
          "-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mavx2;-mfma")
      elseif(f MATCHES "avx2")
        set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma")
      endif()
    endforeach()
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
    file(GLOB files CONFIGURE_DEPENDS ${root}/src/kernels/arm/*.c)
    # *_dotprod.c: the NEON files again with sdot, run where the CPU has it.
    foreach(f ${files})
      if(f MATCHES "_dotprod\\.c$")
        set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS "-march=armv8.2-a+dotprod")
      endif()
    endforeach()
  endif()
  set(${out} ${files} PARENT_SCOPE)
endfunction()
