# Cross-compiling tern for 64-bit Arm Linux with Debian's cross toolchain
# (gcc-aarch64-linux-gnu), e.g. the kernels and their tests:
#     cmake -S tests/aarch64 -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=$PWD/cmake/aarch64-linux-gnu.cmake
# The programs run under user-mode emulation (qemu-user), the emulator below.
# Libraries for aarch64 come from Debian's multiarch packages (e.g.
# libcmocka-dev:arm64 after `dpkg --add-architecture arm64`) in
# /usr/lib/aarch64-linux-gnu, which CMAKE_LIBRARY_ARCHITECTURE makes
# find_library search before the architecture-neutral directories.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# -cpu max: every extension qemu emulates (dot product, SVE, ...). Dynamic
# programs load Debian's arm64 C library (libc6:arm64, multiarch): its loader
# /lib/ld-linux-aarch64.so.1 and libraries in /lib/aarch64-linux-gnu, one
# consistent set, as on an arm64 Debian machine.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -cpu max)
