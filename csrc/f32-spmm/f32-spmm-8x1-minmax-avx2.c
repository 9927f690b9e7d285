/* Block-sparse (BSR, 8x1 blocks) weight times dense input with bias and fused clamp: AVX2 + FMA.
 *
 * An 8x1 block is 8 consecutive output rows that read the same input column, so its 8 values are
 * one vector load and x[column] is one broadcast: one FMA per block, no gather, and the 8 outputs
 * of a block row are one contiguous store into y. Four samples share each loaded block (the batch
 * loop runs in fours, then one by one); a single sample alternates blocks over four accumulators so
 * the FMA latency is hidden. The last block row, when n % 8 != 0, uses masked loads and stores.
 * Sums are reassociated only for one sample (accumulators are added at the end), so results
 * match the scalar kernel within float32 rounding; the clamp is compare-and-blend, so NaN
 * propagates as in the scalar kernel. */
#if !defined(__x86_64__)
#error "f32-spmm-8x1-minmax-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Compiled for AVX2+FMA whatever the command line; callers check the CPU first. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

/* Lanes [0, rows) set. */
SPARSEC_AVX2 static __m256i sparsec_bspmm8_mask(size_t rows) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

SPARSEC_AVX2 static __m256 sparsec_bspmm8_bias(const float *bias, size_t r0, size_t rows,
                                               __m256i mask) {
  if (bias == NULL) {
    return _mm256_setzero_ps();
  }
  return rows == 8 ? _mm256_loadu_ps(bias + r0) : _mm256_maskload_ps(bias + r0, mask);
}

SPARSEC_AVX2 static void sparsec_bspmm8_store(float *y, __m256 v, __m256 vmin, __m256 vmax,
                                              size_t rows, __m256i mask) {
  v = _mm256_blendv_ps(v, vmin, _mm256_cmp_ps(v, vmin, _CMP_LT_OQ));
  v = _mm256_blendv_ps(v, vmax, _mm256_cmp_ps(v, vmax, _CMP_GT_OQ));
  if (rows == 8) {
    _mm256_storeu_ps(y, v);
  } else {
    _mm256_maskstore_ps(y, mask, v);
  }
}

#define SPARSEC_F32_SPMM_8X1_AVX2(NAME, INDEX_T)                                                 \
  SPARSEC_AVX2 void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr, \
                         const INDEX_T *indices, const float *values, const float *bias,      \
                         float *y, float ymin, float ymax) {                                  \
    const size_t block_rows = (n + 7) / 8;                                                      \
    const __m256 vmin = _mm256_set1_ps(ymin);                                                   \
    const __m256 vmax = _mm256_set1_ps(ymax);                                                   \
    size_t i = 0;                                                                               \
    for (; i + 4 <= m; i += 4) {                                                                \
      const float *x0 = x + i * k, *x1 = x0 + k, *x2 = x1 + k, *x3 = x2 + k;                    \
      size_t br;                                                                                \
      for (br = 0; br < block_rows; br++) {                                                     \
        const size_t r0 = br * 8;                                                               \
        const size_t rows = n - r0 < 8 ? n - r0 : 8;                                            \
        const __m256i mask = sparsec_bspmm8_mask(rows);                                         \
        const size_t end = (size_t)indptr[br + 1];                                              \
        size_t p = (size_t)indptr[br];                                                          \
        __m256 a0 = sparsec_bspmm8_bias(bias, r0, rows, mask);                                  \
        __m256 a1 = a0, a2 = a0, a3 = a0;                                                       \
        for (; p < end; p++) {                                                                  \
          const size_t c = (size_t)indices[p];                                                  \
          const __m256 v = _mm256_loadu_ps(values + p * 8);                                     \
          a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(x0 + c), v, a0);                             \
          a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(x1 + c), v, a1);                             \
          a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(x2 + c), v, a2);                             \
          a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(x3 + c), v, a3);                             \
        }                                                                                       \
        sparsec_bspmm8_store(y + i * n + r0, a0, vmin, vmax, rows, mask);                       \
        sparsec_bspmm8_store(y + (i + 1) * n + r0, a1, vmin, vmax, rows, mask);                 \
        sparsec_bspmm8_store(y + (i + 2) * n + r0, a2, vmin, vmax, rows, mask);                 \
        sparsec_bspmm8_store(y + (i + 3) * n + r0, a3, vmin, vmax, rows, mask);                 \
      }                                                                                         \
    }                                                                                           \
    for (; i < m; i++) {                                                                        \
      const float *xi = x + i * k;                                                              \
      size_t br;                                                                                \
      for (br = 0; br < block_rows; br++) {                                                     \
        const size_t r0 = br * 8;                                                               \
        const size_t rows = n - r0 < 8 ? n - r0 : 8;                                            \
        const __m256i mask = sparsec_bspmm8_mask(rows);                                         \
        const size_t end = (size_t)indptr[br + 1];                                              \
        size_t p = (size_t)indptr[br];                                                          \
        __m256 a0 = sparsec_bspmm8_bias(bias, r0, rows, mask);                                  \
        __m256 a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();    \
        for (; p + 4 <= end; p += 4) {                                                          \
          const float *v = values + p * 8;                                                      \
          a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(xi + (size_t)indices[p]), _mm256_loadu_ps(v), a0);   \
          a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(xi + (size_t)indices[p + 1]), _mm256_loadu_ps(v + 8), \
                               a1);                                                             \
          a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(xi + (size_t)indices[p + 2]),                        \
                               _mm256_loadu_ps(v + 16), a2);                                    \
          a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(xi + (size_t)indices[p + 3]),                        \
                               _mm256_loadu_ps(v + 24), a3);                                    \
        }                                                                                       \
        for (; p < end; p++) {                                                                  \
          a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(xi + (size_t)indices[p]),                            \
                               _mm256_loadu_ps(values + p * 8), a0);                            \
        }                                                                                       \
        a0 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));                       \
        sparsec_bspmm8_store(y + i * n + r0, a0, vmin, vmax, rows, mask);                       \
      }                                                                                         \
    }                                                                                           \
  }

SPARSEC_F32_SPMM_8X1_AVX2(sparsec_f32_spmm_minmax_ukernel_8x1_u8__avx2, uint8_t)
SPARSEC_F32_SPMM_8X1_AVX2(sparsec_f32_spmm_minmax_ukernel_8x1_u16__avx2, uint16_t)
SPARSEC_F32_SPMM_8X1_AVX2(sparsec_f32_spmm_minmax_ukernel_8x1_i32__avx2, int32_t)
