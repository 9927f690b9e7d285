/* Per-column bias add with fused clamp: Cortex-M4F/M7 (Armv7E-M, single-precision FPU).
 * Four elements per step, so loads use immediate offsets from one pointer and the loop
 * overhead is paid once per four; the compare-and-select clamp (vcmp, vmrs, conditional vmov,
 * twice) is most of the work and is what keeps NaN exactly as in the scalar kernel, whose
 * results this matches bit for bit. In-place (y == x) is safe: each element is read before it
 * is written and never read again. */
#if !defined(__thumb2__) || !defined(__ARM_ARCH_7EM__) || !defined(__ARM_FP) || !(__ARM_FP & 4)
#error "f32-vbias-minmax-armv7em.c is for Armv7E-M with an FPU (-mcpu=cortex-m4 -mfpu=fpv4-sp-d16)"
#endif

#include <sparsec/kernels.h>

static float sparsec_vbias_clamp(float v, float ymin, float ymax) {
  v = v < ymin ? ymin : v;
  v = v > ymax ? ymax : v;
  return v;
}

void sparsec_f32_vbias_minmax_ukernel__armv7em(size_t m, size_t n, const float *x,
                                               const float *bias, float *y, float ymin,
                                               float ymax) {
  size_t i;
  for (i = 0; i < m; i++) {
    const float *xi = x + i * n;
    const float *b = bias;
    float *yi = y + i * n;
    size_t j;
    for (j = n >> 2; j != 0; j--) {
      const float v0 = xi[0] + b[0];
      const float v1 = xi[1] + b[1];
      const float v2 = xi[2] + b[2];
      const float v3 = xi[3] + b[3];
      yi[0] = sparsec_vbias_clamp(v0, ymin, ymax);
      yi[1] = sparsec_vbias_clamp(v1, ymin, ymax);
      yi[2] = sparsec_vbias_clamp(v2, ymin, ymax);
      yi[3] = sparsec_vbias_clamp(v3, ymin, ymax);
      xi += 4;
      b += 4;
      yi += 4;
    }
    for (j = n & 3; j != 0; j--) {
      *yi++ = sparsec_vbias_clamp(*xi++ + *b++, ymin, ymax);
    }
  }
}
