/* rv32 C start-up and trap handler: every trap (illegal instruction, bad access, ...) reports
 * mcause and mepc and exits, so a crash never hangs the emulator. */
#include <stdint.h>

#include "fault.h"
#include "semihost.h"

extern uint32_t __bss_start[], __bss_end[];

int main(void);
void sparsec_start(void);
void sparsec_trap(void) __attribute__((aligned(4)));

void sparsec_start(void) {
  uint32_t *p;
  for (p = __bss_start; p < __bss_end; p++) {
    *p = 0;
  }
  sh_exit(main());
}

void sparsec_trap(void) {
  uint32_t cause, epc;
  __asm__ volatile("csrr %0, mcause" : "=r"(cause));
  __asm__ volatile("csrr %0, mepc" : "=r"(epc));
  sparsec_report_fault("RISC-V", "mcause", cause, "mepc", epc);
}
