/* Block-sparse (BSR, 4x1 blocks) weight times dense input with bias and fused clamp: NEON
 * (aarch64). A 4x1 block is one input column for 4 consecutive output rows, so a block is one
 * 4-float value load and one FMA by the scalar x[column] (vfmaq_n_f32): no gather, one index
 * per 4 weights. Two accumulators (even and odd blocks) per block row; rows past n in the last
 * block row are computed from the padding and not stored. Sums are reassociated (two partial
 * sums), so results match the scalar kernel within float32 rounding; the clamp is
 * compare-and-select, so NaN propagates exactly as in the scalar kernel. */
#if !defined(__aarch64__)
#error "f32-spmm-4x1-minmax-neon.c is for aarch64 only"
#endif

#include <arm_neon.h>

#include <sparsec/kernels.h>

#define SPARSEC_F32_SPMM_4X1_NEON(NAME, INDEX_T)                                              \
  void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,           \
            const INDEX_T *indices, const float *values, const float *bias, float *y,       \
            float ymin, float ymax) {                                                       \
    const float32x4_t vmin = vdupq_n_f32(ymin);                                             \
    const float32x4_t vmax = vdupq_n_f32(ymax);                                             \
    const size_t block_rows = (n + 3) / 4;                                                  \
    size_t i;                                                                               \
    for (i = 0; i < m; i++) {                                                               \
      const float *xi = x + i * k;                                                          \
      float *yi = y + i * n;                                                                \
      size_t br;                                                                            \
      for (br = 0; br < block_rows; br++) {                                                 \
        const size_t r0 = br * 4;                                                           \
        const size_t rows = n - r0 < 4 ? n - r0 : 4;                                        \
        const size_t end = (size_t)indptr[br + 1];                                          \
        size_t p = (size_t)indptr[br];                                                      \
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0;                                        \
        float lanes[4];                                                                     \
        size_t a;                                                                           \
        for (; p + 2 <= end; p += 2) {                                                      \
          a0 = vfmaq_n_f32(a0, vld1q_f32(values + p * 4), xi[(size_t)indices[p]]);          \
          a1 = vfmaq_n_f32(a1, vld1q_f32(values + p * 4 + 4), xi[(size_t)indices[p + 1]]); \
        }                                                                                   \
        if (p < end) {                                                                      \
          a0 = vfmaq_n_f32(a0, vld1q_f32(values + p * 4), xi[(size_t)indices[p]]);          \
        }                                                                                   \
        a0 = vaddq_f32(a0, a1);                                                             \
        if (rows == 4) {                                                                    \
          if (bias != NULL) {                                                               \
            a0 = vaddq_f32(a0, vld1q_f32(bias + r0));                                       \
          }                                                                                 \
          a0 = vbslq_f32(vcltq_f32(a0, vmin), vmin, a0);                                    \
          a0 = vbslq_f32(vcgtq_f32(a0, vmax), vmax, a0);                                    \
          vst1q_f32(yi + r0, a0);                                                           \
          continue;                                                                         \
        }                                                                                   \
        vst1q_f32(lanes, a0);                                                               \
        for (a = 0; a < rows; a++) {                                                        \
          float v = bias != NULL ? lanes[a] + bias[r0 + a] : lanes[a];                      \
          v = v < ymin ? ymin : v;                                                          \
          v = v > ymax ? ymax : v;                                                          \
          yi[r0 + a] = v;                                                                   \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }

SPARSEC_F32_SPMM_4X1_NEON(sparsec_f32_spmm_minmax_ukernel_4x1_u8__neon, uint8_t)
SPARSEC_F32_SPMM_4X1_NEON(sparsec_f32_spmm_minmax_ukernel_4x1_u16__neon, uint16_t)
SPARSEC_F32_SPMM_4X1_NEON(sparsec_f32_spmm_minmax_ukernel_4x1_i32__neon, int32_t)
