/* Elementwise clamp (ReLU, ReLU6, range limits): Cortex-M4F/M7 (Armv7E-M, single-precision
 * FPU). Four elements per step (immediate-offset loads, loop overhead once per four); the
 * compare-and-select keeps NaN and -0.0 exactly as in the scalar kernel, bit for bit.
 * In-place (y == x) is safe. */
#if !defined(__thumb2__) || !defined(__ARM_ARCH_7EM__) || !defined(__ARM_FP) || !(__ARM_FP & 4)
#error "f32-clamp-armv7em.c is for Armv7E-M with an FPU (-mcpu=cortex-m4 -mfpu=fpv4-sp-d16)"
#endif

#include <sparsec/kernels.h>

static float sparsec_clamp1(float v, float ymin, float ymax) {
  v = v < ymin ? ymin : v;
  v = v > ymax ? ymax : v;
  return v;
}

void sparsec_f32_clamp_ukernel__armv7em(size_t n, const float *x, float *y, float ymin,
                                        float ymax) {
  size_t i;
  for (i = n >> 2; i != 0; i--) {
    const float v0 = x[0];
    const float v1 = x[1];
    const float v2 = x[2];
    const float v3 = x[3];
    y[0] = sparsec_clamp1(v0, ymin, ymax);
    y[1] = sparsec_clamp1(v1, ymin, ymax);
    y[2] = sparsec_clamp1(v2, ymin, ymax);
    y[3] = sparsec_clamp1(v3, ymin, ymax);
    x += 4;
    y += 4;
  }
  for (i = n & 3; i != 0; i--) {
    *y++ = sparsec_clamp1(*x++, ymin, ymax);
  }
}
