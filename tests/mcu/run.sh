#!/usr/bin/env bash
# run.sh — a model exported as C (tern export --format c) on a Cortex-M4F
# microcontroller under qemu, against tern eval:
#
#   bash tests/mcu/run.sh MODEL.h5 NAME       # NAME: mnist_mlp or lenet5
#
# Exports MODEL.h5, builds it with the board's program (main.c: the first
# MCU_IMAGES test images embedded) on the DSP row kernel (MCU_BUILD=dsp, the
# default on a Cortex-M4) or on the portable C one (MCU_BUILD=c:
# -DTERN_PT_NO_DSP), runs it on qemu's mps2-an386 and cmp's its lines with
# `tern eval MODEL.h5 --logits F --limit N`: every prediction and every
# logit's bits must be equal. Then the footprint: flash (text + rodata +
# .data's initial values, plus the newlib and libgcc functions they call)
# and RAM (.data + .bss + the stack predict used + the input and logits
# buffers) of the model and its runtime alone (their objects, before
# --gc-sections: an upper bound), the embedded images apart, and the whole
# ELF. Fails when the model is over NAME's target: mnist_mlp 100 KiB flash,
# 16 KiB RAM; lenet5 200 KiB flash, 64 KiB RAM.
#
# Environment: TERN (the tern program; build/tern), MCU_DATA (the MNIST
# directory; datasets/data/mnist), MCU_IMAGES (200), MCU_BUILD (dsp).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ $# -eq 2 ] || { echo "usage: run.sh MODEL.h5 mnist_mlp|lenet5" >&2; exit 2; }
MODEL="$1" NAME="$2"
TERN="${TERN:-$ROOT/build/tern}" DATA="${MCU_DATA:-$ROOT/datasets/data/mnist}" N="${MCU_IMAGES:-200}"
case "${MCU_BUILD:-dsp}" in
dsp) KERNEL="the DSP kernel" FLAGS=() ;;
c) KERNEL="the portable C kernel (-DTERN_PT_NO_DSP)" FLAGS=(-DTERN_PT_NO_DSP) ;;
*) echo "run.sh: MCU_BUILD is dsp or c, not '$MCU_BUILD'" >&2; exit 2 ;;
esac
case "$NAME" in
mnist_mlp) FLASH_MAX=$((100 * 1024)) RAM_MAX=$((16 * 1024)) ;;
lenet5) FLASH_MAX=$((200 * 1024)) RAM_MAX=$((64 * 1024)) ;;
*) echo "run.sh: no footprint target for '$NAME' (mnist_mlp, lenet5)" >&2; exit 2 ;;
esac
fail() { echo "FAIL [mcu $NAME]: $*" >&2; exit 1; }
mcu_need

W="$(mktemp -d /tmp/tern_mcu.XXXXXX)"
trap 'rm -rf "$W"' EXIT
"$TERN" export "$MODEL" --format c -o "$W/export" > "$W/export.log" 2>&1 || fail "tern export: $(cat "$W/export.log")"
"$TERN" eval "$MODEL" --data "$DATA" --logits "$W/eval.txt" --limit "$N" > "$W/eval.log" 2>&1 ||
    fail "tern eval: $(cat "$W/eval.log")"
bash "$MCU_DIR/images.sh" "$DATA" "$N" "$W"
mcu_cc "$W/images.o" "$W/images.c" -I"$W"

mcu_cc "$W/main.o" "$MCU_DIR/main.c" -I"$W/export" -I"$W" -I"$MCU_DIR"

# The model and its runtime, then the program.
mkdir -p "$W/m"
for src in "$W"/export/*.c; do
    mcu_cc "$W/m/$(basename "$src" .c).o" "$src" -I"$W/export" ${FLAGS[@]+"${FLAGS[@]}"} 2> "$W/cc.log" ||
        fail "$(basename "$src") does not build for the M4F: $(head -5 "$W/cc.log")"
done
mcu_link "$W/prog.elf" "$W"/m/*.o "$W/main.o" "$W/images.o"
mcu_run "$W/prog.elf" "$W/out.txt" || fail "the program failed on the board (status $?): $(tail -3 "$W/out.txt")"
grep -v '^footprint ' "$W/out.txt" > "$W/lines.txt" || true
if ! cmp -s "$W/eval.txt" "$W/lines.txt"; then
    line=$(cmp "$W/eval.txt" "$W/lines.txt" 2>&1 | sed -n 's/.*line \([0-9]*\).*/\1/p' || true)
    echo "tern eval:  $(sed -n "${line:-1}p" "$W/eval.txt")" >&2
    echo "Cortex-M4F: $(sed -n "${line:-1}p" "$W/lines.txt")" >&2
    fail "line ${line:-?} differs from tern eval's ($(wc -l < "$W/lines.txt") lines, $N expected)"
fi

# No call to newlib's fmaf (it computes in double and could round twice):
# every fmaf must be the FPU's fused multiply-add.
arm-none-eabi-nm "$W/prog.elf" 2> /dev/null | grep -qw fmaf && fail "the program calls newlib's fmaf, not vfma.f32"
FMA=$(arm-none-eabi-objdump -d "$W"/m/*.o | grep -c 'vfma\.f32' || true)
# The kernel named is the one built: USADA8 is the DSP kernel's.
DSP=$(arm-none-eabi-objdump -d "$W"/m/*.o | grep -c 'usada8' || true)
[ "${MCU_BUILD:-dsp}" = dsp ] && [ "$DSP" -eq 0 ] && fail "the DSP build holds no USADA8: the DSP kernel is not in it"
[ "${MCU_BUILD:-dsp}" = c ] && [ "$DSP" -ne 0 ] && fail "the -DTERN_PT_NO_DSP build holds the DSP kernel"

# Footprints, in bytes. Berkeley `size`: text is code and read-only data.
read -r M_TEXT M_DATA M_BSS _ < <(arm-none-eabi-size -t "$W"/m/*.o | tail -1)
read -r I_TEXT _ < <(arm-none-eabi-size "$W/images.o" | tail -1)
read -r E_TEXT E_DATA E_BSS _ < <(arm-none-eabi-size "$W/prog.elf" | tail -1)
read -r _ _ STACK _ PEAK _ HEAP _ IO _ FZ _ ARENA < <(grep '^footprint ' "$W/out.txt")
[ "$FZ" = 0 ] || fail "the FPSCR's FZ bit is set: denormals flushed"
# What the model's code calls in newlib and libgcc (rintf, memset, soft
# double helpers), as linked: their own sizes (not what they call in turn).
LIB=0
for sym in $(arm-none-eabi-nm --undefined-only "$W"/m/*.o | awk 'NF == 2 { print $2 }' | sort -u); do
    arm-none-eabi-nm --defined-only "$W"/m/*.o | awk -v s="$sym" '$NF == s { f = 1 } END { exit !f }' && continue
    LIB=$((LIB + 0x$(arm-none-eabi-nm -S "$W/prog.elf" | awk -v s="$sym" '$NF == s { v = $2 } END { print v }')))
done
M_FLASH=$((M_TEXT + M_DATA + LIB)) M_RAM=$((M_DATA + M_BSS + STACK + IO))
E_FLASH=$((E_TEXT + E_DATA)) E_RAM=$((E_DATA + E_BSS + HEAP + PEAK))
RIGHT=$(awk '$2 == $3 { n++ } END { print n + 0 }' "$W/eval.txt")
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
echo "mcu $NAME: $N MNIST test images on qemu mps2-an386 (Cortex-M4F): every prediction and logit equals tern eval's,"
echo "  on $KERNEL ($N lines; $RIGHT/$N correct; $FMA vfma.f32 in the model's code, no fmaf call; FZ 0)"
printf '  %-22s %-34s %s\n' "" "flash (text+rodata+data+lib)" "RAM (data+bss+stack+io)"
printf '  %-22s %-34s %s\n' "model + runtime" "$M_FLASH B = $(kib $M_FLASH) (max $(kib $FLASH_MAX))" \
    "$M_RAM B = $(kib $M_RAM) (max $(kib $RAM_MAX)): data $M_DATA, bss $M_BSS (arena $ARENA), stack $STACK, io $IO"
printf '  %-22s %s\n' "" "(flash: text $M_TEXT, data $M_DATA, newlib and libgcc functions it calls $LIB)"
printf '  %-22s %-34s %s\n' "$N test images" "$I_TEXT B = $(kib $I_TEXT)" "-"
printf '  %-22s %-34s %s\n' "whole ELF" "$E_FLASH B = $(kib $E_FLASH)" \
    "$E_RAM B = $(kib $E_RAM): data $E_DATA, bss $E_BSS, heap $HEAP (stdio), stack $PEAK"
[ "$M_FLASH" -le "$FLASH_MAX" ] || fail "the model's flash, $M_FLASH B, is over its target of $FLASH_MAX B"
[ "$M_RAM" -le "$RAM_MAX" ] || fail "the model's RAM, $M_RAM B, is over its target of $RAM_MAX B"
