/* Dense GEMM/GEMV with bias and fused clamp: NEON (aarch64).
 *
 * Both x rows and w rows are contiguous along k, so each output is a dot product computed
 * 4 lanes wide; the last k % 4 elements run scalar into a per-output tail sum.
 * Tiles: 2 samples x 4 outputs (8 accumulators; each loaded x/w vector feeds 4 or 2 FMAs),
 * then 1 x 4 (GEMV, m == 1: one x load per 4 weight rows), then single outputs. Output
 * blocks are the outer loop so a block of W stays in L1 across the whole batch.
 * Sums are reassociated (4 lane partial sums, then a pairwise add), so results match the
 * scalar kernel within float32 rounding, not bit for bit. The clamp is compare-and-select
 * (not vmaxq/vminq, which treat -0.0 and NaN differently), so NaN propagates exactly as in
 * the scalar kernel. */
#if !defined(__aarch64__)
#error "f32-gemm-minmax-neon.c is for aarch64 only"
#endif

#include <arm_neon.h>

#include <sparsec/kernels.h>

/* Horizontal sums of four vectors, in lane order a, b, c, d. */
static float32x4_t sparsec_gemm_hsum4(float32x4_t a, float32x4_t b, float32x4_t c,
                                      float32x4_t d) {
  return vpaddq_f32(vpaddq_f32(a, b), vpaddq_f32(c, d));
}

/* Adds the scalar tails and bias[0..4) (or nothing), clamps and stores four outputs. */
static void sparsec_gemm_store4(float32x4_t v, const float *tail, const float *bias, float *y,
                                float ymin, float ymax) {
  const float32x4_t vmin = vdupq_n_f32(ymin);
  const float32x4_t vmax = vdupq_n_f32(ymax);
  v = vaddq_f32(v, vld1q_f32(tail));
  if (bias != NULL) {
    v = vaddq_f32(v, vld1q_f32(bias));
  }
  v = vbslq_f32(vcltq_f32(v, vmin), vmin, v);
  v = vbslq_f32(vcgtq_f32(v, vmax), vmax, v);
  vst1q_f32(y, v);
}

static float sparsec_gemm_finish(float acc, const float *bias, size_t j, float ymin,
                                 float ymax) {
  if (bias != NULL) {
    acc += bias[j];
  }
  acc = acc < ymin ? ymin : acc;
  acc = acc > ymax ? ymax : acc;
  return acc;
}

void sparsec_f32_gemm_minmax_ukernel__neon(size_t m, size_t n, size_t k, const float *x,
                                           const float *w, const float *bias, float *y, float ymin,
                                           float ymax) {
  const size_t kv = k - (k & 3);
  size_t j = 0;
  /* Output blocks outside, samples inside: a block's 4 weight rows stay in L1 while every
   * sample streams past. */
  for (; j + 4 <= n; j += 4) {
    const float *w0 = w + j * k;
    const float *w1 = w0 + k;
    const float *w2 = w1 + k;
    const float *w3 = w2 + k;
    const float *bj = bias != NULL ? bias + j : NULL;
    size_t i = 0;
    for (; i + 2 <= m; i += 2) {
      const float *x0 = x + i * k;
      const float *x1 = x0 + k;
      float32x4_t a00 = vdupq_n_f32(0.0f), a01 = a00, a02 = a00, a03 = a00;
      float32x4_t a10 = a00, a11 = a00, a12 = a00, a13 = a00;
      float t0[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      float t1[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      size_t p = 0;
      for (; p < kv; p += 4) {
        const float32x4_t vx0 = vld1q_f32(x0 + p);
        const float32x4_t vx1 = vld1q_f32(x1 + p);
        float32x4_t vw = vld1q_f32(w0 + p);
        a00 = vfmaq_f32(a00, vx0, vw);
        a10 = vfmaq_f32(a10, vx1, vw);
        vw = vld1q_f32(w1 + p);
        a01 = vfmaq_f32(a01, vx0, vw);
        a11 = vfmaq_f32(a11, vx1, vw);
        vw = vld1q_f32(w2 + p);
        a02 = vfmaq_f32(a02, vx0, vw);
        a12 = vfmaq_f32(a12, vx1, vw);
        vw = vld1q_f32(w3 + p);
        a03 = vfmaq_f32(a03, vx0, vw);
        a13 = vfmaq_f32(a13, vx1, vw);
      }
      for (; p < k; p++) {
        t0[0] += x0[p] * w0[p];
        t0[1] += x0[p] * w1[p];
        t0[2] += x0[p] * w2[p];
        t0[3] += x0[p] * w3[p];
        t1[0] += x1[p] * w0[p];
        t1[1] += x1[p] * w1[p];
        t1[2] += x1[p] * w2[p];
        t1[3] += x1[p] * w3[p];
      }
      sparsec_gemm_store4(sparsec_gemm_hsum4(a00, a01, a02, a03), t0, bj, y + i * n + j, ymin,
                          ymax);
      sparsec_gemm_store4(sparsec_gemm_hsum4(a10, a11, a12, a13), t1, bj, y + (i + 1) * n + j,
                          ymin, ymax);
    }
    if (i < m) { /* GEMV: the last (or only) sample; one x load feeds 4 weight rows. */
      const float *xi = x + i * k;
      float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
      float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      size_t p = 0;
      for (; p < kv; p += 4) {
        const float32x4_t vx = vld1q_f32(xi + p);
        a0 = vfmaq_f32(a0, vx, vld1q_f32(w0 + p));
        a1 = vfmaq_f32(a1, vx, vld1q_f32(w1 + p));
        a2 = vfmaq_f32(a2, vx, vld1q_f32(w2 + p));
        a3 = vfmaq_f32(a3, vx, vld1q_f32(w3 + p));
      }
      for (; p < k; p++) {
        t[0] += xi[p] * w0[p];
        t[1] += xi[p] * w1[p];
        t[2] += xi[p] * w2[p];
        t[3] += xi[p] * w3[p];
      }
      sparsec_gemm_store4(sparsec_gemm_hsum4(a0, a1, a2, a3), t, bj, y + i * n + j, ymin, ymax);
    }
  }
  /* The last n % 4 outputs, one at a time, one sample at a time. */
  for (; j < n; j++) {
    const float *wj = w + j * k;
    size_t i;
    for (i = 0; i < m; i++) {
      const float *xi = x + i * k;
      float32x4_t a0 = vdupq_n_f32(0.0f);
      float acc;
      size_t p = 0;
      for (; p < kv; p += 4) {
        a0 = vfmaq_f32(a0, vld1q_f32(xi + p), vld1q_f32(wj + p));
      }
      acc = vaddvq_f32(a0);
      for (; p < k; p++) {
        acc += xi[p] * wj[p];
      }
      y[i * n + j] = sparsec_gemm_finish(acc, bias, j, ymin, ymax);
    }
  }
}
