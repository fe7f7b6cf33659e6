# lib.sh — what the tests/mcu scripts share: the toolchain check, the
# Cortex-M4F build and the board under qemu. Sourced after `set -euo pipefail`.
#
# The tools (Debian 12 packages): arm-none-eabi-gcc (gcc-arm-none-eabi),
# newlib for it (libnewlib-arm-none-eabi), qemu-system-arm (qemu-system-arm).
# Without one of them a case exits 77 (ctest: skipped) after one line naming
# the package; tests/run.sh installs them (trainers/setup.sh --package).
MCU_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$MCU_DIR/../.." && pwd)"
MCU_CC=arm-none-eabi-gcc
# The target: Cortex-M4 with its single-precision FPU, float arguments in
# FPU registers. ISO C99 (no GNU extensions), so GCC contracts no a*b+c into
# an fma on its own; no -ffast-math.
MCU_CFLAGS=(-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -std=c99 -O2
            -ffunction-sections -fdata-sections -Wall -Wextra)
MCU_LDFLAGS=(--specs=rdimon.specs -nostartfiles -T "$MCU_DIR/mps2_an386.ld" -Wl,--gc-sections)

mcu_skip() { echo "SKIP: $1 not found (Debian package $2)"; exit 77; }

# Exit 77 naming the package when a tool is missing.
mcu_need() {
    command -v "$MCU_CC" > /dev/null || mcu_skip arm-none-eabi-gcc gcc-arm-none-eabi
    # rdimon.specs and librdimon.a (semihosting) for this multilib: newlib.
    [ -f "$("$MCU_CC" "${MCU_CFLAGS[@]}" -print-file-name=librdimon.a)" ] ||
        mcu_skip "newlib for arm-none-eabi (librdimon.a)" libnewlib-arm-none-eabi
    command -v qemu-system-arm > /dev/null || mcu_skip qemu-system-arm qemu-system-arm
}

# Compile one C file to an object: OUT.o SRC [flags...].
mcu_cc() {
    local out="$1" src="$2"
    shift 2
    "$MCU_CC" "${MCU_CFLAGS[@]}" "$@" -c "$src" -o "$out"
}

# Link objects with the board's startup code into an ELF: OUT.elf OBJ...
mcu_link() {
    local out="$1"
    shift
    "$MCU_CC" "${MCU_CFLAGS[@]}" -I"$MCU_DIR" "$MCU_DIR/startup.c" "$@" "${MCU_LDFLAGS[@]}" -lm -o "$out"
}

# Run an ELF on the board (qemu's Cortex-M4 on the MPS2 AN386 image), its
# semihosted stdout into OUT; fails when the program fails, faults, or
# runs past SECONDS (default 120).
mcu_run() { # ELF OUT [SECONDS]
    timeout "${3:-120}" qemu-system-arm -M mps2-an386 -cpu cortex-m4 -semihosting -nographic -kernel "$1" \
        < /dev/null > "$2"
}
