/*
 * Cortex-M start-up for sparsec's emulator harness: vector table, .data copy, .bss zero,
 * FPU enable (when built for one), then exit(main()) through semihosting so QEMU returns
 * main's code. Every fault handler reports and exits, so a crash never hangs the emulator.
 * The initial stack pointer is the first word of .isr_vector, placed by link.ld.
 */
#include <stdint.h>

#include "fault.h"
#include "semihost.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];

int main(void);
void sparsec_reset(void);
void sparsec_fault(void);

#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)

void sparsec_reset(void) {
  uint32_t *src = __data_load;
  uint32_t *dst;
  for (dst = __data_start; dst < __data_end; dst++) {
    *dst = *src++;
  }
  for (dst = __bss_start; dst < __bss_end; dst++) {
    *dst = 0;
  }
#if defined(__ARM_FP)
  /* CP10 and CP11 full access: without it the first float instruction faults. */
  SCB_CPACR |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  sh_exit(main());
}

/* Which exception is active (ICSR.VECTACTIVE) and, on v7-M, why (CFSR; v6-M has none). */
void sparsec_fault(void) {
#if defined(__ARM_ARCH_6M__)
  const uint32_t cause = 0;
#else
  const uint32_t cause = SCB_CFSR;
#endif
  sparsec_report_fault("Cortex-M", "exception", SCB_ICSR & 0x1FFu, "CFSR", cause);
}

/* Reset, NMI, HardFault, MemManage, BusFault, UsageFault, 4 reserved, SVCall, DebugMonitor,
 * reserved, PendSV, SysTick: all but reset end the run. */
__attribute__((section(".isr_vector"), used)) void (*const sparsec_vectors[15])(void) = {
    sparsec_reset, sparsec_fault, sparsec_fault, sparsec_fault, sparsec_fault,
    sparsec_fault, 0, 0, 0, 0, sparsec_fault, sparsec_fault, 0, sparsec_fault, sparsec_fault};
