/* Per-column bias add with fused clamp: NEON (aarch64), 8 floats per step, then 4, then a scalar
 * tail; bit-identical to the scalar kernel. The clamp is compare-and-select (vbslq), because
 * vmaxq/vminq are not the scalar comparisons: they order -0.0 below +0.0 (ReLU would turn -0.0
 * into +0.0, which the scalar kernel keeps) and, with FPCR.DN set, replace a NaN's payload.
 * In-place (y == x) is safe: each block is loaded before it is stored. */
#if !defined(__aarch64__)
#error "f32-vbias-minmax-neon.c is for aarch64 only"
#endif

#include <arm_neon.h>

#include <sparsec/kernels.h>

static float32x4_t sparsec_vbias_clampq(float32x4_t v, float32x4_t vmin, float32x4_t vmax) {
  v = vbslq_f32(vcltq_f32(v, vmin), vmin, v);
  return vbslq_f32(vcgtq_f32(v, vmax), vmax, v);
}

void sparsec_f32_vbias_minmax_ukernel__neon(size_t m, size_t n, const float *x, const float *bias,
                                            float *y, float ymin, float ymax) {
  const float32x4_t vmin = vdupq_n_f32(ymin);
  const float32x4_t vmax = vdupq_n_f32(ymax);
  size_t i;
  for (i = 0; i < m; i++) {
    const float *xi = x + i * n;
    float *yi = y + i * n;
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
      const float32x4_t v0 = vaddq_f32(vld1q_f32(xi + j), vld1q_f32(bias + j));
      const float32x4_t v1 = vaddq_f32(vld1q_f32(xi + j + 4), vld1q_f32(bias + j + 4));
      vst1q_f32(yi + j, sparsec_vbias_clampq(v0, vmin, vmax));
      vst1q_f32(yi + j + 4, sparsec_vbias_clampq(v1, vmin, vmax));
    }
    if (j + 4 <= n) {
      const float32x4_t v0 = vaddq_f32(vld1q_f32(xi + j), vld1q_f32(bias + j));
      vst1q_f32(yi + j, sparsec_vbias_clampq(v0, vmin, vmax));
      j += 4;
    }
    for (; j < n; j++) {
      float v = xi[j] + bias[j];
      v = v < ymin ? ymin : v;
      v = v > ymax ? ymax : v;
      yi[j] = v;
    }
  }
}
