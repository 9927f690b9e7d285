/* Fault report shared by the Cortex-M and RISC-V start-up code (see fault.h). */
#include "fault.h"

#include "semihost.h"

static char *append(char *out, const char *text) {
  while (*text != '\0') {
    *out++ = *text++;
  }
  return out;
}

static char *append_hex(char *out, uint32_t value) {
  static const char digits[] = "0123456789abcdef";
  int shift;
  out = append(out, "0x");
  for (shift = 28; shift >= 0; shift -= 4) {
    *out++ = digits[(value >> shift) & 0xFu];
  }
  return out;
}

void sparsec_report_fault(const char *what, const char *name1, uint32_t value1,
                          const char *name2, uint32_t value2) {
  char line[128];
  char *p = append(line, "sparsec: ");
  p = append(p, what);
  p = append(p, " fault, ");
  p = append(p, name1);
  p = append_hex(append(p, " "), value1);
  p = append(p, ", ");
  p = append(p, name2);
  p = append_hex(append(p, " "), value2);
  p = append(p, "\n");
  *p = '\0';
  sh_puts(line);
  sh_exit(SPARSEC_EXIT_FAULT);
}
