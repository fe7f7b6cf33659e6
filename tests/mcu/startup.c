/* startup.c — reset to main on a Cortex-M4F (qemu -M mps2-an386), with no
 * vendor code: the vector table, a reset handler that copies .data, zeroes
 * .bss, paints the stack and enables the FPU before any float instruction
 * runs, then main; exit() leaves through semihosting (newlib's librdimon,
 * --specs=rdimon.specs), so qemu exits with the program's status.
 *
 * Build with -nostartfiles (this replaces newlib's crt0); the symbols come
 * from mps2_an386.ld. */
#include <stdint.h>
#include <stdlib.h>

#include "board.h"

extern uint32_t __data_start[], __data_end[], __data_load[], __bss_start__[], __bss_end__[];
extern uint32_t __stack_limit[], __stack_top[];
extern char end[];

int main(void);
void initialise_monitor_handles(void); /* librdimon: stdin, stdout, stderr over semihosting */
void *_sbrk(ptrdiff_t incr);

#define STACK_PAINT 0x5aa5c33cu
#define CPACR (*(volatile uint32_t *)0xe000ed88u) /* Coprocessor Access Control */

/* What crti.o would give: newlib's exit() runs __libc_fini_array, which calls _fini. */
void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}

static uintptr_t stack_low_before; /* the deepest use before the last repaint */

/* Fill [__stack_limit, below) with the pattern. */
static void paint(uint32_t *below) {
    for (volatile uint32_t *p = __stack_limit; p < below; p++) *p = STACK_PAINT;
}

void tern_mcu_reset(void) {
    /* CP10 and CP11 (the FPU) full access, before any float instruction:
     * without it the first one faults. FPSCR stays at its reset value
     * (round to nearest, FZ = 0, DN = 0: IEEE, denormals kept). */
    CPACR |= 0xfu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) *d++ = *s++;
    for (uint32_t *d = __bss_start__; d < __bss_end__;) *d++ = 0;
    paint((uint32_t *)(tern_mcu_sp() - 64)); /* this frame and a margin stay as they are */
    stack_low_before = (uintptr_t)__stack_top;
    initialise_monitor_handles();
    exit(main());
}

static void fault(void) {
    /* A hard fault, bus fault, ...: report over semihosting and stop. Plain
     * writes, so a broken stack or heap cannot hide it. */
    static const char msg[] = "mcu: fault (hard, memory, bus or usage)\n";
    register uint32_t op __asm__("r0") = 0x04; /* SYS_WRITE0 */
    register const char *arg __asm__("r1") = msg;
    __asm__ volatile("bkpt 0xab" : "+r"(op) : "r"(arg) : "memory");
    register uint32_t op2 __asm__("r0") = 0x18;     /* SYS_EXIT */
    register uint32_t why __asm__("r1") = 0x20023u; /* ADP_Stopped_RunTimeErrorUnknown */
    __asm__ volatile("bkpt 0xab" : "+r"(op2) : "r"(why) : "memory");
    for (;;) {
    }
}

/* Initial stack pointer, reset, NMI, then the faults; no interrupt is enabled. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top, tern_mcu_reset, fault, fault, fault, fault, fault,
};

uintptr_t tern_mcu_stack_low(void) {
    const uint32_t *p = __stack_limit;
    while (p < __stack_top && *p == STACK_PAINT) p++;
    return (uintptr_t)p;
}

void tern_mcu_stack_repaint(void) {
    const uintptr_t low = tern_mcu_stack_low();
    if (low < stack_low_before) stack_low_before = low;
    paint((uint32_t *)(tern_mcu_sp() - 64));
}

size_t tern_mcu_stack_peak(void) {
    const uintptr_t low = tern_mcu_stack_low();
    return (uintptr_t)__stack_top - (low < stack_low_before ? low : stack_low_before);
}

size_t tern_mcu_heap_used(void) { return (size_t)((char *)_sbrk(0) - end); }

int tern_mcu_fpscr_fz(void) {
    uint32_t fpscr;
    __asm__ volatile("vmrs %0, fpscr" : "=r"(fpscr));
    return (int)(fpscr >> 24 & 1);
}
