/* Block-sparse (BSR, 4x1 blocks) weight times dense input with bias and fused clamp: AVX2 + FMA.
 *
 * A 4x1 block is 4 consecutive output rows that read the same input column. Two blocks fill one
 * 8-lane vector: their 8 values are one load (blocks are contiguous) and x at their two columns
 * is broadcast into the two 128-bit halves, so one FMA serves two blocks and nothing is gathered;
 * the halves are added at the end of the block row. Four samples share each loaded pair of
 * blocks (the batch loop runs in fours, then one by one). The last block row, when n % 4 != 0,
 * uses masked loads and stores. Sums are reassociated (two halves), so results match the scalar
 * kernel within float32 rounding; the clamp is compare-and-blend, so NaN propagates as in the
 * scalar kernel. */
#if !defined(__x86_64__)
#error "f32-spmm-4x1-minmax-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Compiled for AVX2+FMA whatever the command line; callers check the CPU first. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

/* Lanes [0, rows) set. */
SPARSEC_AVX2 static __m128i sparsec_bspmm4_mask(size_t rows) {
  return _mm_cmpgt_epi32(_mm_set1_epi32((int)rows), _mm_setr_epi32(0, 1, 2, 3));
}

SPARSEC_AVX2 static __m128 sparsec_bspmm4_bias(const float *bias, size_t r0, size_t rows,
                                               __m128i mask) {
  if (bias == NULL) {
    return _mm_setzero_ps();
  }
  return rows == 4 ? _mm_loadu_ps(bias + r0) : _mm_maskload_ps(bias + r0, mask);
}

/* x[c0] in the low half, x[c1] in the high half. */
SPARSEC_AVX2 static __m256 sparsec_bspmm4_pair(const float *xi, size_t c0, size_t c1) {
  return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_broadcast_ss(xi + c0)),
                              _mm_broadcast_ss(xi + c1), 1);
}

/* Folds the two halves (the two blocks of a pair) and clamps. */
SPARSEC_AVX2 static void sparsec_bspmm4_store(float *y, __m256 acc, __m128 vmin, __m128 vmax,
                                              size_t rows, __m128i mask) {
  __m128 v = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  v = _mm_blendv_ps(v, vmin, _mm_cmp_ps(v, vmin, _CMP_LT_OQ));
  v = _mm_blendv_ps(v, vmax, _mm_cmp_ps(v, vmax, _CMP_GT_OQ));
  if (rows == 4) {
    _mm_storeu_ps(y, v);
  } else {
    _mm_maskstore_ps(y, mask, v);
  }
}

#define SPARSEC_F32_SPMM_4X1_AVX2(NAME, INDEX_T)                                                  \
  SPARSEC_AVX2 void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,  \
                         const INDEX_T *indices, const float *values, const float *bias,       \
                         float *y, float ymin, float ymax) {                                   \
    const size_t block_rows = (n + 3) / 4;                                                       \
    const __m128 vmin = _mm_set1_ps(ymin);                                                       \
    const __m128 vmax = _mm_set1_ps(ymax);                                                       \
    size_t i = 0;                                                                                \
    for (; i + 4 <= m; i += 4) {                                                                 \
      const float *x0 = x + i * k, *x1 = x0 + k, *x2 = x1 + k, *x3 = x2 + k;                     \
      size_t br;                                                                                 \
      for (br = 0; br < block_rows; br++) {                                                      \
        const size_t r0 = br * 4;                                                                \
        const size_t rows = n - r0 < 4 ? n - r0 : 4;                                             \
        const __m128i mask = sparsec_bspmm4_mask(rows);                                          \
        const size_t end = (size_t)indptr[br + 1];                                               \
        size_t p = (size_t)indptr[br];                                                           \
        /* Bias in the low half only: the halves are summed at the end. */                       \
        __m256 a0 = _mm256_zextps128_ps256(sparsec_bspmm4_bias(bias, r0, rows, mask));           \
        __m256 a1 = a0, a2 = a0, a3 = a0;                                                        \
        for (; p + 2 <= end; p += 2) {                                                           \
          const size_t c0 = (size_t)indices[p], c1 = (size_t)indices[p + 1];                     \
          const __m256 v = _mm256_loadu_ps(values + p * 4);                                      \
          a0 = _mm256_fmadd_ps(sparsec_bspmm4_pair(x0, c0, c1), v, a0);                          \
          a1 = _mm256_fmadd_ps(sparsec_bspmm4_pair(x1, c0, c1), v, a1);                          \
          a2 = _mm256_fmadd_ps(sparsec_bspmm4_pair(x2, c0, c1), v, a2);                          \
          a3 = _mm256_fmadd_ps(sparsec_bspmm4_pair(x3, c0, c1), v, a3);                          \
        }                                                                                        \
        if (p < end) {                                                                           \
          const size_t c0 = (size_t)indices[p];                                                  \
          const __m256 v = _mm256_castps128_ps256(_mm_loadu_ps(values + p * 4));                 \
          const __m256 keep = _mm256_castsi256_ps(_mm256_setr_epi32(-1, -1, -1, -1, 0, 0, 0, 0)); \
          /* Only the low half is defined; the mask zeroes the high half of the product. */      \
          a0 = _mm256_add_ps(a0, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_broadcast_ss(x0 + c0), v))); \
          a1 = _mm256_add_ps(a1, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_broadcast_ss(x1 + c0), v))); \
          a2 = _mm256_add_ps(a2, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_broadcast_ss(x2 + c0), v))); \
          a3 = _mm256_add_ps(a3, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_broadcast_ss(x3 + c0), v))); \
        }                                                                                        \
        sparsec_bspmm4_store(y + i * n + r0, a0, vmin, vmax, rows, mask);                        \
        sparsec_bspmm4_store(y + (i + 1) * n + r0, a1, vmin, vmax, rows, mask);                  \
        sparsec_bspmm4_store(y + (i + 2) * n + r0, a2, vmin, vmax, rows, mask);                  \
        sparsec_bspmm4_store(y + (i + 3) * n + r0, a3, vmin, vmax, rows, mask);                  \
      }                                                                                          \
    }                                                                                            \
    for (; i < m; i++) {                                                                         \
      const float *xi = x + i * k;                                                               \
      size_t br;                                                                                 \
      for (br = 0; br < block_rows; br++) {                                                      \
        const size_t r0 = br * 4;                                                                \
        const size_t rows = n - r0 < 4 ? n - r0 : 4;                                             \
        const __m128i mask = sparsec_bspmm4_mask(rows);                                          \
        const size_t end = (size_t)indptr[br + 1];                                               \
        size_t p = (size_t)indptr[br];                                                           \
        __m256 a0 = _mm256_zextps128_ps256(sparsec_bspmm4_bias(bias, r0, rows, mask));           \
        __m256 a1 = _mm256_setzero_ps();                                                         \
        __m128 tail;                                                                             \
        for (; p + 4 <= end; p += 4) {                                                           \
          const float *v = values + p * 4;                                                       \
          a0 = _mm256_fmadd_ps(                                                                  \
              sparsec_bspmm4_pair(xi, (size_t)indices[p], (size_t)indices[p + 1]),               \
              _mm256_loadu_ps(v), a0);                                                           \
          a1 = _mm256_fmadd_ps(                                                                  \
              sparsec_bspmm4_pair(xi, (size_t)indices[p + 2], (size_t)indices[p + 3]),           \
              _mm256_loadu_ps(v + 8), a1);                                                       \
        }                                                                                        \
        if (p + 2 <= end) {                                                                      \
          a0 = _mm256_fmadd_ps(                                                                  \
              sparsec_bspmm4_pair(xi, (size_t)indices[p], (size_t)indices[p + 1]),               \
              _mm256_loadu_ps(values + p * 4), a0);                                              \
          p += 2;                                                                                \
        }                                                                                        \
        a0 = _mm256_add_ps(a0, a1);                                                              \
        if (p < end) {                                                                           \
          tail = _mm_fmadd_ps(_mm_broadcast_ss(xi + (size_t)indices[p]),                         \
                              _mm_loadu_ps(values + p * 4), _mm256_castps256_ps128(a0));         \
          a0 = _mm256_insertf128_ps(a0, tail, 0);                                                \
        }                                                                                        \
        sparsec_bspmm4_store(y + i * n + r0, a0, vmin, vmax, rows, mask);                        \
      }                                                                                          \
    }                                                                                            \
  }

SPARSEC_F32_SPMM_4X1_AVX2(sparsec_f32_spmm_minmax_ukernel_4x1_u8__avx2, uint8_t)
SPARSEC_F32_SPMM_4X1_AVX2(sparsec_f32_spmm_minmax_ukernel_4x1_u16__avx2, uint16_t)
SPARSEC_F32_SPMM_4X1_AVX2(sparsec_f32_spmm_minmax_ukernel_4x1_i32__avx2, int32_t)
