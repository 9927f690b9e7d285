/* Block-sparse (BSR, 1x4 blocks) weight times dense input with bias and fused clamp: AVX2 + FMA.
 *
 * A 1x4 block is 4 consecutive inputs of one output row, so x under a block is one unaligned
 * 128-bit load (no gather) and one column index serves 4 weights. Two blocks fill one 8-lane
 * vector: the two x loads go into its halves and the 8 block values are one load. A single sample
 * runs two accumulators over 4 blocks per step; four samples share each loaded pair of blocks.
 * The lanes are summed at the end of the row. When k % 4 != 0 the last block of a row may reach
 * past x's row; that block alone (the only one that can, since block columns are ascending)
 * runs scalar over its columns inside k. Sums are reassociated, so results match the scalar
 * kernel within float32 rounding; the clamp propagates NaN as in the scalar kernel. */
#if !defined(__x86_64__)
#error "f32-spmm-1x4-minmax-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Compiled for AVX2+FMA whatever the command line; callers check the CPU first. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

SPARSEC_AVX2 static float sparsec_bspmm14_hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* x[c0 .. c0+4) in the low half, x[c1 .. c1+4) in the high half. */
SPARSEC_AVX2 static __m256 sparsec_bspmm14_pair(const float *xi, size_t c0, size_t c1) {
  return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(xi + c0)), _mm_loadu_ps(xi + c1),
                              1);
}

/* The part of the block at column c0 (values v) that lies inside k: the ragged last block. */
static float sparsec_bspmm14_edge(const float *xi, const float *v, size_t c0, size_t k) {
  float acc = 0.0f;
  size_t b;
  for (b = 0; c0 + b < k; b++) {
    acc += v[b] * xi[c0 + b];
  }
  return acc;
}

static float sparsec_bspmm14_clamp(float v, float ymin, float ymax) {
  v = v < ymin ? ymin : v;
  v = v > ymax ? ymax : v;
  return v;
}

#define SPARSEC_F32_SPMM_1X4_AVX2(NAME, INDEX_T)                                                 \
  SPARSEC_AVX2 void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr, \
                         const INDEX_T *indices, const float *values, const float *bias,      \
                         float *y, float ymin, float ymax) {                                  \
    size_t i = 0;                                                                               \
    for (; i + 4 <= m; i += 4) {                                                                \
      const float *xs[4];                                                                       \
      size_t r, s;                                                                              \
      xs[0] = x + i * k;                                                                        \
      xs[1] = xs[0] + k;                                                                        \
      xs[2] = xs[1] + k;                                                                        \
      xs[3] = xs[2] + k;                                                                        \
      for (r = 0; r < n; r++) {                                                                 \
        size_t end = (size_t)indptr[r + 1];                                                     \
        const size_t start = (size_t)indptr[r];                                                 \
        size_t p = start;                                                                       \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                             \
        float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};                                                \
        if (end > start && (size_t)indices[end - 1] * 4 + 4 > k) {                              \
          const size_t c0 = (size_t)indices[end - 1] * 4;                                       \
          end--;                                                                                \
          for (s = 0; s < 4; s++) {                                                             \
            acc[s] = sparsec_bspmm14_edge(xs[s], values + end * 4, c0, k);                      \
          }                                                                                     \
        }                                                                                       \
        for (; p + 2 <= end; p += 2) {                                                          \
          const size_t c0 = (size_t)indices[p] * 4, c1 = (size_t)indices[p + 1] * 4;            \
          const __m256 v = _mm256_loadu_ps(values + p * 4);                                     \
          a0 = _mm256_fmadd_ps(sparsec_bspmm14_pair(xs[0], c0, c1), v, a0);                     \
          a1 = _mm256_fmadd_ps(sparsec_bspmm14_pair(xs[1], c0, c1), v, a1);                     \
          a2 = _mm256_fmadd_ps(sparsec_bspmm14_pair(xs[2], c0, c1), v, a2);                     \
          a3 = _mm256_fmadd_ps(sparsec_bspmm14_pair(xs[3], c0, c1), v, a3);                     \
        }                                                                                       \
        if (p < end) {                                                                          \
          const size_t c0 = (size_t)indices[p] * 4;                                             \
          const __m128 v = _mm_loadu_ps(values + p * 4);                                        \
          const __m256 z = _mm256_setzero_ps();                                                 \
          a0 = _mm256_add_ps(a0, _mm256_insertf128_ps(z, _mm_mul_ps(_mm_loadu_ps(xs[0] + c0), v), 0)); \
          a1 = _mm256_add_ps(a1, _mm256_insertf128_ps(z, _mm_mul_ps(_mm_loadu_ps(xs[1] + c0), v), 0)); \
          a2 = _mm256_add_ps(a2, _mm256_insertf128_ps(z, _mm_mul_ps(_mm_loadu_ps(xs[2] + c0), v), 0)); \
          a3 = _mm256_add_ps(a3, _mm256_insertf128_ps(z, _mm_mul_ps(_mm_loadu_ps(xs[3] + c0), v), 0)); \
        }                                                                                       \
        acc[0] += sparsec_bspmm14_hsum(a0);                                                     \
        acc[1] += sparsec_bspmm14_hsum(a1);                                                     \
        acc[2] += sparsec_bspmm14_hsum(a2);                                                     \
        acc[3] += sparsec_bspmm14_hsum(a3);                                                     \
        for (s = 0; s < 4; s++) {                                                               \
          const float b = bias != NULL ? bias[r] : 0.0f;                                        \
          y[(i + s) * n + r] = sparsec_bspmm14_clamp(acc[s] + b, ymin, ymax);                   \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
    for (; i < m; i++) {                                                                        \
      const float *xi = x + i * k;                                                              \
      size_t r;                                                                                 \
      for (r = 0; r < n; r++) {                                                                 \
        size_t end = (size_t)indptr[r + 1];                                                     \
        const size_t start = (size_t)indptr[r];                                                 \
        size_t p = start;                                                                       \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                              \
        float acc = 0.0f;                                                                       \
        if (end > start && (size_t)indices[end - 1] * 4 + 4 > k) {                              \
          end--;                                                                                \
          acc = sparsec_bspmm14_edge(xi, values + end * 4, (size_t)indices[end] * 4, k);        \
        }                                                                                       \
        for (; p + 4 <= end; p += 4) {                                                          \
          const float *v = values + p * 4;                                                      \
          a0 = _mm256_fmadd_ps(                                                                 \
              sparsec_bspmm14_pair(xi, (size_t)indices[p] * 4, (size_t)indices[p + 1] * 4),     \
              _mm256_loadu_ps(v), a0);                                                          \
          a1 = _mm256_fmadd_ps(                                                                 \
              sparsec_bspmm14_pair(xi, (size_t)indices[p + 2] * 4, (size_t)indices[p + 3] * 4), \
              _mm256_loadu_ps(v + 8), a1);                                                      \
        }                                                                                       \
        if (p + 2 <= end) {                                                                     \
          a0 = _mm256_fmadd_ps(                                                                 \
              sparsec_bspmm14_pair(xi, (size_t)indices[p] * 4, (size_t)indices[p + 1] * 4),     \
              _mm256_loadu_ps(values + p * 4), a0);                                             \
          p += 2;                                                                               \
        }                                                                                       \
        if (p < end) {                                                                          \
          const __m128 t = _mm_mul_ps(_mm_loadu_ps(xi + (size_t)indices[p] * 4),                \
                                      _mm_loadu_ps(values + p * 4));                            \
          a1 = _mm256_add_ps(a1, _mm256_insertf128_ps(_mm256_setzero_ps(), t, 0));              \
        }                                                                                       \
        acc += sparsec_bspmm14_hsum(_mm256_add_ps(a0, a1));                                     \
        if (bias != NULL) {                                                                     \
          acc += bias[r];                                                                       \
        }                                                                                       \
        y[i * n + r] = sparsec_bspmm14_clamp(acc, ymin, ymax);                                  \
      }                                                                                         \
    }                                                                                           \
  }

SPARSEC_F32_SPMM_1X4_AVX2(sparsec_f32_spmm_minmax_ukernel_1x4_u8__avx2, uint8_t)
SPARSEC_F32_SPMM_1X4_AVX2(sparsec_f32_spmm_minmax_ukernel_1x4_u16__avx2, uint16_t)
SPARSEC_F32_SPMM_1X4_AVX2(sparsec_f32_spmm_minmax_ukernel_1x4_i32__avx2, int32_t)
