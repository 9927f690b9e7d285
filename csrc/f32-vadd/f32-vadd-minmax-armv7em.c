/* Elementwise add with fused clamp: Cortex-M4F/M7 (Armv7E-M, single-precision FPU).
 * Four elements per step (immediate-offset loads from one pointer each, loop overhead once per
 * four); the compare-and-select clamp keeps NaN exactly as in the scalar kernel, whose results
 * this matches bit for bit. In-place (y == a or y == b) is safe: each element's inputs are read
 * before it is written, and nothing is read again. */
#if !defined(__thumb2__) || !defined(__ARM_ARCH_7EM__) || !defined(__ARM_FP) || !(__ARM_FP & 4)
#error "f32-vadd-minmax-armv7em.c is for Armv7E-M with an FPU (-mcpu=cortex-m4 -mfpu=fpv4-sp-d16)"
#endif

#include <sparsec/kernels.h>

static float sparsec_vadd_clamp(float v, float ymin, float ymax) {
  v = v < ymin ? ymin : v;
  v = v > ymax ? ymax : v;
  return v;
}

void sparsec_f32_vadd_minmax_ukernel__armv7em(size_t n, const float *a, const float *b, float *y,
                                              float ymin, float ymax) {
  size_t i;
  for (i = n >> 2; i != 0; i--) {
    /* All four loads before any store: y may alias a or b. */
    const float v0 = a[0] + b[0];
    const float v1 = a[1] + b[1];
    const float v2 = a[2] + b[2];
    const float v3 = a[3] + b[3];
    y[0] = sparsec_vadd_clamp(v0, ymin, ymax);
    y[1] = sparsec_vadd_clamp(v1, ymin, ymax);
    y[2] = sparsec_vadd_clamp(v2, ymin, ymax);
    y[3] = sparsec_vadd_clamp(v3, ymin, ymax);
    a += 4;
    b += 4;
    y += 4;
  }
  for (i = n & 3; i != 0; i--) {
    *y++ = sparsec_vadd_clamp(*a++ + *b++, ymin, ymax);
  }
}
