/* CSR-sparse weight times dense input with bias and fused clamp: NEON (aarch64).
 *
 * One templated body per column-index type, like the scalar file. Three paths:
 *  - 8 samples at a time (m >= 8, k <= SPARSEC_SPMM_PANEL_K): the 8 rows of x are transposed
 *    into a [k][8] stack panel, so a nonzero is two 4-float loads of x[..][index] and two
 *    FMAs by one lane of a 4-value vector (vfmaq_laneq_f32: values are loaded 4 at a time and
 *    never broadcast): each index and value is loaded once per 8 samples and nothing is
 *    gathered (SIMD lanes run along the batch, as in XNNPACK's SpMM).
 *  - 4 samples at a time, the same with a [k][4] panel, for the next m % 8 >= 4 samples.
 *  - Per sample (SpMV: m < 4, the rest, or k > SPARSEC_SPMM_PANEL_K): 8 nonzeros per step,
 *    x[index] gathered lane by lane into two vectors and multiplied with the values by FMA
 *    into two accumulators, added across lanes at the row end; then 4, then a scalar tail.
 * Sums are reassociated (partial sums per lane or per accumulator), so results match the
 * scalar kernel within float32 rounding. The clamp is compare-and-select (not vmaxq/vminq,
 * which treat -0.0 and NaN differently), so NaN propagates exactly as in the scalar kernel. */
#if !defined(__aarch64__)
#error "f32-spmm-minmax-neon.c is for aarch64 only"
#endif

#include <arm_neon.h>

#include <sparsec/kernels.h>

/* Largest k for the panel paths: the panel is 8 * 1024 floats = 32 KiB of stack. */
#define SPARSEC_SPMM_PANEL_K 1024

static float sparsec_spmm_clamp(float v, float ymin, float ymax) {
  v = v < ymin ? ymin : v;
  v = v > ymax ? ymax : v;
  return v;
}

static float32x4_t sparsec_spmm_clampq(float32x4_t v, float32x4_t vmin, float32x4_t vmax) {
  v = vbslq_f32(vcltq_f32(v, vmin), vmin, v);
  return vbslq_f32(vcgtq_f32(v, vmax), vmax, v);
}

/* 64-bit lane transposes, for the second half of a 4x4 transpose. */
static float32x4_t sparsec_trn1_64(float32x4_t a, float32x4_t b) {
  return vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
}
static float32x4_t sparsec_trn2_64(float32x4_t a, float32x4_t b) {
  return vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
}

/* Transposes rows x[0..tile) (row stride k; tile is 4 or 8) into panel[c * tile + s] = x[s][c]
 * for c < k, 4x4 blocks at a time in registers. */
static void sparsec_spmm_pack(size_t k, size_t tile, const float *x, float *panel) {
  size_t g;
  for (g = 0; g < tile; g += 4) {
    const float *r0 = x + g * k;
    const float *r1 = r0 + k;
    const float *r2 = r1 + k;
    const float *r3 = r2 + k;
    float *o = panel + g;
    size_t c = 0;
    for (; c + 4 <= k; c += 4) {
      const float32x4_t a = vld1q_f32(r0 + c), b = vld1q_f32(r1 + c);
      const float32x4_t d = vld1q_f32(r2 + c), e = vld1q_f32(r3 + c);
      const float32x4_t t0 = vtrn1q_f32(a, b), t1 = vtrn2q_f32(a, b);
      const float32x4_t t2 = vtrn1q_f32(d, e), t3 = vtrn2q_f32(d, e);
      vst1q_f32(o + c * tile, sparsec_trn1_64(t0, t2));
      vst1q_f32(o + (c + 1) * tile, sparsec_trn1_64(t1, t3));
      vst1q_f32(o + (c + 2) * tile, sparsec_trn2_64(t0, t2));
      vst1q_f32(o + (c + 3) * tile, sparsec_trn2_64(t1, t3));
    }
    for (; c < k; c++) {
      o[c * tile] = r0[c];
      o[c * tile + 1] = r1[c];
      o[c * tile + 2] = r2[c];
      o[c * tile + 3] = r3[c];
    }
  }
}

/* x values at 4 column indices, loaded lane by lane (NEON has no gather). */
#define SPARSEC_SPMM_LOAD4(xi, i)                                                             \
  vld1q_lane_f32((xi) + (size_t)(i)[3],                                                      \
                 vld1q_lane_f32((xi) + (size_t)(i)[2],                                       \
                                vld1q_lane_f32((xi) + (size_t)(i)[1],                        \
                                               vld1q_dup_f32((xi) + (size_t)(i)[0]), 1),     \
                                2),                                                          \
                 3)

/* One CSR row for a panel of TILE (4 or 8) samples: lo holds samples 0-3, hi samples 4-7.
 * Two accumulator pairs (even and odd nonzeros) hide the FMA latency. */
#define SPARSEC_SPMM_PANEL_ROW(TILE, INDEX_T)                                                 \
  do {                                                                                       \
    const float32x4_t b0 = vdupq_n_f32(bias != NULL ? bias[r] : 0.0f);                       \
    const float32x4_t zero = vdupq_n_f32(0.0f);                                              \
    float32x4_t lo0 = b0, lo1 = zero, hi0 = b0, hi1 = zero;                                  \
    const size_t end = (size_t)indptr[r + 1];                                                \
    size_t p = (size_t)indptr[r];                                                            \
    for (; p + 4 <= end; p += 4) {                                                           \
      const float32x4_t v = vld1q_f32(values + p);                                           \
      const INDEX_T *ip = indices + p;                                                       \
      const float *c0 = panel + (size_t)ip[0] * (TILE);                                      \
      const float *c1 = panel + (size_t)ip[1] * (TILE);                                      \
      const float *c2 = panel + (size_t)ip[2] * (TILE);                                      \
      const float *c3 = panel + (size_t)ip[3] * (TILE);                                      \
      lo0 = vfmaq_laneq_f32(lo0, vld1q_f32(c0), v, 0);                                       \
      lo1 = vfmaq_laneq_f32(lo1, vld1q_f32(c1), v, 1);                                       \
      lo0 = vfmaq_laneq_f32(lo0, vld1q_f32(c2), v, 2);                                       \
      lo1 = vfmaq_laneq_f32(lo1, vld1q_f32(c3), v, 3);                                       \
      if ((TILE) == 8) {                                                                     \
        hi0 = vfmaq_laneq_f32(hi0, vld1q_f32(c0 + 4), v, 0);                                 \
        hi1 = vfmaq_laneq_f32(hi1, vld1q_f32(c1 + 4), v, 1);                                 \
        hi0 = vfmaq_laneq_f32(hi0, vld1q_f32(c2 + 4), v, 2);                                 \
        hi1 = vfmaq_laneq_f32(hi1, vld1q_f32(c3 + 4), v, 3);                                 \
      }                                                                                      \
    }                                                                                        \
    for (; p < end; p++) {                                                                   \
      const float32x4_t v = vld1q_dup_f32(values + p);                                       \
      const float *c0 = panel + (size_t)indices[p] * (TILE);                                 \
      lo0 = vfmaq_f32(lo0, vld1q_f32(c0), v);                                                \
      if ((TILE) == 8) {                                                                     \
        hi0 = vfmaq_f32(hi0, vld1q_f32(c0 + 4), v);                                          \
      }                                                                                      \
    }                                                                                        \
    lo0 = sparsec_spmm_clampq(vaddq_f32(lo0, lo1), vmin, vmax);                              \
    vst1q_lane_f32(y + i * n + r, lo0, 0);                                                   \
    vst1q_lane_f32(y + (i + 1) * n + r, lo0, 1);                                             \
    vst1q_lane_f32(y + (i + 2) * n + r, lo0, 2);                                             \
    vst1q_lane_f32(y + (i + 3) * n + r, lo0, 3);                                             \
    if ((TILE) == 8) {                                                                       \
      hi0 = sparsec_spmm_clampq(vaddq_f32(hi0, hi1), vmin, vmax);                            \
      vst1q_lane_f32(y + (i + 4) * n + r, hi0, 0);                                           \
      vst1q_lane_f32(y + (i + 5) * n + r, hi0, 1);                                           \
      vst1q_lane_f32(y + (i + 6) * n + r, hi0, 2);                                           \
      vst1q_lane_f32(y + (i + 7) * n + r, hi0, 3);                                           \
    }                                                                                        \
  } while (0)

#define SPARSEC_F32_SPMM_1X1_NEON(NAME, SUFFIX, INDEX_T)                                        \
  static float sparsec_spmm_row_##SUFFIX(const float *xi, const INDEX_T *idx, const float *val, \
                                         size_t nnz) {                                          \
    float32x4_t a0 = vdupq_n_f32(0.0f);                                                         \
    float32x4_t a1 = a0;                                                                        \
    float acc;                                                                                  \
    size_t p = 0;                                                                               \
    for (; p + 8 <= nnz; p += 8) {                                                              \
      a0 = vfmaq_f32(a0, SPARSEC_SPMM_LOAD4(xi, idx + p), vld1q_f32(val + p));                  \
      a1 = vfmaq_f32(a1, SPARSEC_SPMM_LOAD4(xi, idx + p + 4), vld1q_f32(val + p + 4));          \
    }                                                                                           \
    if (p + 4 <= nnz) {                                                                         \
      a0 = vfmaq_f32(a0, SPARSEC_SPMM_LOAD4(xi, idx + p), vld1q_f32(val + p));                  \
      p += 4;                                                                                   \
    }                                                                                           \
    acc = vaddvq_f32(vaddq_f32(a0, a1));                                                        \
    for (; p < nnz; p++) {                                                                      \
      acc += val[p] * xi[(size_t)idx[p]];                                                       \
    }                                                                                           \
    return acc;                                                                                 \
  }                                                                                             \
                                                                                                \
  void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,              \
            const INDEX_T *indices, const float *values, const float *bias, float *y,          \
            float ymin, float ymax) {                                                          \
    size_t i = 0;                                                                               \
    if (k <= SPARSEC_SPMM_PANEL_K && m >= 4) {                                                  \
      float panel[8 * SPARSEC_SPMM_PANEL_K];                                                    \
      const float32x4_t vmin = vdupq_n_f32(ymin);                                               \
      const float32x4_t vmax = vdupq_n_f32(ymax);                                               \
      size_t r;                                                                                 \
      for (; i + 8 <= m; i += 8) {                                                              \
        sparsec_spmm_pack(k, 8, x + i * k, panel);                                              \
        for (r = 0; r < n; r++) {                                                               \
          SPARSEC_SPMM_PANEL_ROW(8, INDEX_T);                                                   \
        }                                                                                       \
      }                                                                                         \
      if (i + 4 <= m) {                                                                         \
        sparsec_spmm_pack(k, 4, x + i * k, panel);                                              \
        for (r = 0; r < n; r++) {                                                               \
          SPARSEC_SPMM_PANEL_ROW(4, INDEX_T);                                                   \
        }                                                                                       \
        i += 4;                                                                                 \
      }                                                                                         \
    }                                                                                           \
    for (; i < m; i++) {                                                                        \
      const float *xi = x + i * k;                                                              \
      float *yi = y + i * n;                                                                    \
      size_t r;                                                                                 \
      for (r = 0; r < n; r++) {                                                                 \
        const size_t start = (size_t)indptr[r];                                                 \
        const size_t nnz = (size_t)indptr[r + 1] - start;                                       \
        float acc = sparsec_spmm_row_##SUFFIX(xi, indices + start, values + start, nnz);        \
        if (bias != NULL) {                                                                     \
          acc += bias[r];                                                                       \
        }                                                                                       \
        yi[r] = sparsec_spmm_clamp(acc, ymin, ymax);                                            \
      }                                                                                         \
    }                                                                                           \
  }

SPARSEC_F32_SPMM_1X1_NEON(sparsec_f32_spmm_minmax_ukernel_1x1_u8__neon, u8, uint8_t)
SPARSEC_F32_SPMM_1X1_NEON(sparsec_f32_spmm_minmax_ukernel_1x1_u16__neon, u16, uint16_t)
SPARSEC_F32_SPMM_1X1_NEON(sparsec_f32_spmm_minmax_ukernel_1x1_i32__neon, i32, int32_t)
