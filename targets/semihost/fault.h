/* fault.h - report a CPU fault on the semihosting console, then exit SPARSEC_EXIT_FAULT. */
#ifndef SPARSEC_FAULT_H
#define SPARSEC_FAULT_H

#include <stdint.h>

/* Prints "sparsec: <what> fault, <name1> 0x..., <name2> 0x..." and ends the emulation. */
void sparsec_report_fault(const char *what, const char *name1, uint32_t value1,
                          const char *name2, uint32_t value2) __attribute__((noreturn));

#endif /* SPARSEC_FAULT_H */
