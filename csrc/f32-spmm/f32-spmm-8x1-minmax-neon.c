/* Block-sparse (BSR, 8x1 blocks) weight times dense input with bias and fused clamp: NEON
 * (aarch64). An 8x1 block is one input column for 8 consecutive output rows, so a block is two
 * 4-float value loads and two FMAs by the scalar x[column] (vfmaq_n_f32): no gather, one index
 * per 8 weights. Two accumulator pairs (even and odd blocks) per block row; rows past n in the
 * last block row are computed from the padding and not stored. Sums are reassociated (two
 * partial sums), so results match the scalar kernel within float32 rounding; the clamp is
 * compare-and-select, so NaN propagates exactly as in the scalar kernel. */
#if !defined(__aarch64__)
#error "f32-spmm-8x1-minmax-neon.c is for aarch64 only"
#endif

#include <arm_neon.h>

#include <sparsec/kernels.h>

static float32x4_t sparsec_bspmm81_clampq(float32x4_t v, float32x4_t vmin, float32x4_t vmax) {
  v = vbslq_f32(vcltq_f32(v, vmin), vmin, v);
  return vbslq_f32(vcgtq_f32(v, vmax), vmax, v);
}

#define SPARSEC_F32_SPMM_8X1_NEON(NAME, INDEX_T)                                              \
  void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,           \
            const INDEX_T *indices, const float *values, const float *bias, float *y,       \
            float ymin, float ymax) {                                                       \
    const float32x4_t vmin = vdupq_n_f32(ymin);                                             \
    const float32x4_t vmax = vdupq_n_f32(ymax);                                             \
    const size_t block_rows = (n + 7) / 8;                                                  \
    size_t i;                                                                               \
    for (i = 0; i < m; i++) {                                                               \
      const float *xi = x + i * k;                                                          \
      float *yi = y + i * n;                                                                \
      size_t br;                                                                            \
      for (br = 0; br < block_rows; br++) {                                                 \
        const size_t r0 = br * 8;                                                           \
        const size_t rows = n - r0 < 8 ? n - r0 : 8;                                        \
        const size_t end = (size_t)indptr[br + 1];                                          \
        size_t p = (size_t)indptr[br];                                                      \
        float32x4_t lo0 = vdupq_n_f32(0.0f), hi0 = lo0, lo1 = lo0, hi1 = lo0;               \
        float lanes[8];                                                                     \
        size_t a;                                                                           \
        for (; p + 2 <= end; p += 2) {                                                      \
          const float *v = values + p * 8;                                                  \
          const float x0 = xi[(size_t)indices[p]], x1 = xi[(size_t)indices[p + 1]];         \
          lo0 = vfmaq_n_f32(lo0, vld1q_f32(v), x0);                                         \
          hi0 = vfmaq_n_f32(hi0, vld1q_f32(v + 4), x0);                                     \
          lo1 = vfmaq_n_f32(lo1, vld1q_f32(v + 8), x1);                                     \
          hi1 = vfmaq_n_f32(hi1, vld1q_f32(v + 12), x1);                                    \
        }                                                                                   \
        if (p < end) {                                                                      \
          const float *v = values + p * 8;                                                  \
          const float x0 = xi[(size_t)indices[p]];                                          \
          lo0 = vfmaq_n_f32(lo0, vld1q_f32(v), x0);                                         \
          hi0 = vfmaq_n_f32(hi0, vld1q_f32(v + 4), x0);                                     \
        }                                                                                   \
        lo0 = vaddq_f32(lo0, lo1);                                                          \
        hi0 = vaddq_f32(hi0, hi1);                                                          \
        if (rows == 8) {                                                                    \
          if (bias != NULL) {                                                               \
            lo0 = vaddq_f32(lo0, vld1q_f32(bias + r0));                                     \
            hi0 = vaddq_f32(hi0, vld1q_f32(bias + r0 + 4));                                 \
          }                                                                                 \
          vst1q_f32(yi + r0, sparsec_bspmm81_clampq(lo0, vmin, vmax));                      \
          vst1q_f32(yi + r0 + 4, sparsec_bspmm81_clampq(hi0, vmin, vmax));                  \
          continue;                                                                         \
        }                                                                                   \
        vst1q_f32(lanes, lo0);                                                              \
        vst1q_f32(lanes + 4, hi0);                                                          \
        for (a = 0; a < rows; a++) {                                                        \
          float v = bias != NULL ? lanes[a] + bias[r0 + a] : lanes[a];                      \
          v = v < ymin ? ymin : v;                                                          \
          v = v > ymax ? ymax : v;                                                          \
          yi[r0 + a] = v;                                                                   \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }

SPARSEC_F32_SPMM_8X1_NEON(sparsec_f32_spmm_minmax_ukernel_8x1_u8__neon, uint8_t)
SPARSEC_F32_SPMM_8X1_NEON(sparsec_f32_spmm_minmax_ukernel_8x1_u16__neon, uint16_t)
SPARSEC_F32_SPMM_8X1_NEON(sparsec_f32_spmm_minmax_ukernel_8x1_i32__neon, int32_t)
