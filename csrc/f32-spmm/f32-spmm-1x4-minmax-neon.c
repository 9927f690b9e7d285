/* Block-sparse (BSR, 1x4 blocks) weight times dense input with bias and fused clamp: NEON
 * (aarch64). A 1x4 block is 4 consecutive inputs of one output row, so x under a block is one
 * 4-float load (no gather) and one column index serves 4 weights: per block one x load, one
 * value load and one FMA, two accumulators (even and odd blocks), lanes added at the row end.
 * When k % 4 != 0 the last block of a row may reach past x's row; that block alone (the only
 * one that can, since block columns are ascending) runs scalar over its columns inside k.
 * Sums are reassociated, so results match the scalar kernel within float32 rounding; the clamp
 * is compare-and-select, so NaN propagates exactly as in the scalar kernel. */
#if !defined(__aarch64__)
#error "f32-spmm-1x4-minmax-neon.c is for aarch64 only"
#endif

#include <arm_neon.h>

#include <sparsec/kernels.h>

#define SPARSEC_F32_SPMM_1X4_NEON(NAME, INDEX_T)                                              \
  void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,           \
            const INDEX_T *indices, const float *values, const float *bias, float *y,       \
            float ymin, float ymax) {                                                       \
    size_t i;                                                                               \
    for (i = 0; i < m; i++) {                                                               \
      const float *xi = x + i * k;                                                          \
      float *yi = y + i * n;                                                                \
      size_t r;                                                                             \
      for (r = 0; r < n; r++) {                                                             \
        size_t end = (size_t)indptr[r + 1];                                                 \
        size_t p = (size_t)indptr[r];                                                       \
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0;                                        \
        float acc = bias != NULL ? bias[r] : 0.0f;                                          \
        if (end > p && (size_t)indices[end - 1] * 4 + 4 > k) {                              \
          const size_t c0 = (size_t)indices[end - 1] * 4;                                   \
          size_t b;                                                                         \
          end--;                                                                            \
          for (b = 0; c0 + b < k; b++) {                                                    \
            acc += values[end * 4 + b] * xi[c0 + b];                                        \
          }                                                                                 \
        }                                                                                   \
        for (; p + 2 <= end; p += 2) {                                                      \
          const float32x4_t x0 = vld1q_f32(xi + (size_t)indices[p] * 4);                   \
          const float32x4_t x1 = vld1q_f32(xi + (size_t)indices[p + 1] * 4);               \
          a0 = vfmaq_f32(a0, x0, vld1q_f32(values + p * 4));                                \
          a1 = vfmaq_f32(a1, x1, vld1q_f32(values + p * 4 + 4));                            \
        }                                                                                   \
        if (p < end) {                                                                      \
          const float32x4_t x0 = vld1q_f32(xi + (size_t)indices[p] * 4);                   \
          a0 = vfmaq_f32(a0, x0, vld1q_f32(values + p * 4));                                \
        }                                                                                   \
        acc += vaddvq_f32(vaddq_f32(a0, a1));                                               \
        acc = acc < ymin ? ymin : acc;                                                      \
        acc = acc > ymax ? ymax : acc;                                                      \
        yi[r] = acc;                                                                        \
      }                                                                                     \
    }                                                                                       \
  }

SPARSEC_F32_SPMM_1X4_NEON(sparsec_f32_spmm_minmax_ukernel_1x4_u8__neon, uint8_t)
SPARSEC_F32_SPMM_1X4_NEON(sparsec_f32_spmm_minmax_ukernel_1x4_u16__neon, uint16_t)
SPARSEC_F32_SPMM_1X4_NEON(sparsec_f32_spmm_minmax_ukernel_1x4_i32__neon, int32_t)
