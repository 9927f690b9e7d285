/* Elementwise clamp (ReLU, ReLU6, range limits): NEON (aarch64), 8 floats per step, then 4,
 * then a scalar tail. Compare-and-select (vbslq) gives exactly the scalar kernel's result, NaN
 * and -0.0 included; vmaxq/vminq would not (they order -0.0 below +0.0, so ReLU(-0.0) would
 * be +0.0). In-place (y == x) is safe. */
#if !defined(__aarch64__)
#error "f32-clamp-neon.c is for aarch64 only"
#endif

#include <arm_neon.h>

#include <sparsec/kernels.h>

static float32x4_t sparsec_clampq(float32x4_t v, float32x4_t vmin, float32x4_t vmax) {
  v = vbslq_f32(vcltq_f32(v, vmin), vmin, v);
  return vbslq_f32(vcgtq_f32(v, vmax), vmax, v);
}

void sparsec_f32_clamp_ukernel__neon(size_t n, const float *x, float *y, float ymin, float ymax) {
  const float32x4_t vmin = vdupq_n_f32(ymin);
  const float32x4_t vmax = vdupq_n_f32(ymax);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t v0 = vld1q_f32(x + i);
    const float32x4_t v1 = vld1q_f32(x + i + 4);
    vst1q_f32(y + i, sparsec_clampq(v0, vmin, vmax));
    vst1q_f32(y + i + 4, sparsec_clampq(v1, vmin, vmax));
  }
  if (i + 4 <= n) {
    vst1q_f32(y + i, sparsec_clampq(vld1q_f32(x + i), vmin, vmax));
    i += 4;
  }
  for (; i < n; i++) {
    float v = x[i];
    v = v < ymin ? ymin : v;
    v = v > ymax ? ymax : v;
    y[i] = v;
  }
}
