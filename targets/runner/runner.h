/* runner.h - the kernel runner's generated dispatch (sparsec.emulate writes calls.c). */
#ifndef SPARSEC_RUNNER_H
#define SPARSEC_RUNNER_H

#include <stdint.h>

/* Call kernel `id` with the argument words a[0..nargs): sizes and integers as values,
 * floats as their bits, pointers as arena offsets (0xFFFFFFFF: NULL). 0, or -1 when `id`
 * or `nargs` is unknown. */
int sparsec_runner_call(uint32_t id, const uint32_t *a, uint32_t nargs, unsigned char *arena);

#endif /* SPARSEC_RUNNER_H */
