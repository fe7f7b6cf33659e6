/* board.h — what the test programs get from the board's startup code
 * (startup.c): stack high-water marks, the heap newlib took, the FPU's
 * flush-to-zero bit. The stack is painted with a pattern at reset; a word no
 * longer holding it has been used. */
#ifndef TERN_MCU_BOARD_H
#define TERN_MCU_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* The stack pointer now. */
static inline uintptr_t tern_mcu_sp(void) {
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Repaint the free stack (below this call's frame), remembering how deep
 * it had been used, so that tern_mcu_stack_low then sees only the calls
 * made after this one. */
void tern_mcu_stack_repaint(void);

/* The lowest stack address written since reset or the last repaint. */
uintptr_t tern_mcu_stack_low(void);

/* Bytes of stack the program has used since reset, at its deepest. */
size_t tern_mcu_stack_peak(void);

/* Bytes newlib's heap has taken (stdio's buffers). */
size_t tern_mcu_heap_used(void);

/* The FPSCR's FZ bit (flush-to-zero): 0 while denormals are IEEE. */
int tern_mcu_fpscr_fz(void);

#endif
