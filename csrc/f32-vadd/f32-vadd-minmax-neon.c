/* Elementwise add with fused clamp: NEON (aarch64), 8 floats per step, then 4, then a scalar
 * tail. One rounding per element, so results equal the scalar kernel's bit for bit. The clamp
 * is compare-and-select (vbslq), not vmaxq/vminq, which order -0.0 below +0.0 and so differ
 * from the scalar comparisons. In-place (y == a or y == b) is safe: each block is loaded
 * before it is stored. */
#if !defined(__aarch64__)
#error "f32-vadd-minmax-neon.c is for aarch64 only"
#endif

#include <arm_neon.h>

#include <sparsec/kernels.h>

static float32x4_t sparsec_vadd_clampq(float32x4_t v, float32x4_t vmin, float32x4_t vmax) {
  v = vbslq_f32(vcltq_f32(v, vmin), vmin, v);
  return vbslq_f32(vcgtq_f32(v, vmax), vmax, v);
}

void sparsec_f32_vadd_minmax_ukernel__neon(size_t n, const float *a, const float *b, float *y,
                                           float ymin, float ymax) {
  const float32x4_t vmin = vdupq_n_f32(ymin);
  const float32x4_t vmax = vdupq_n_f32(ymax);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t v0 = vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
    const float32x4_t v1 = vaddq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    vst1q_f32(y + i, sparsec_vadd_clampq(v0, vmin, vmax));
    vst1q_f32(y + i + 4, sparsec_vadd_clampq(v1, vmin, vmax));
  }
  if (i + 4 <= n) {
    const float32x4_t v0 = vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
    vst1q_f32(y + i, sparsec_vadd_clampq(v0, vmin, vmax));
    i += 4;
  }
  for (; i < n; i++) {
    float v = a[i] + b[i];
    v = v < ymin ? ymin : v;
    v = v > ymax ? ymax : v;
    y[i] = v;
  }
}
