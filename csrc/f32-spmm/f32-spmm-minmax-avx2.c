/* CSR-sparse weight times dense input with bias and fused clamp: AVX2 + FMA.
 *
 * One templated body per column-index type, like the scalar file. Two paths:
 *  - Per sample (m < 8, the rest of m % 8, or k > SPARSEC_SPMM_PANEL_K): SpMV over each CSR
 *    row, 16 nonzeros per step: x[index] is loaded into two 8-lane vectors and multiplied with
 *    the values by FMA into two accumulators, which are added horizontally at the row end;
 *    the last nnz % 8 run scalar.
 *  - 8 samples at a time (m >= 8, k <= SPARSEC_SPMM_PANEL_K): the 8 rows of x are transposed
 *    into a [k][8] stack panel, so one nonzero is one broadcast value, one 8-float load of
 *    x[..][index] and one FMA for all 8 samples: each index and value is loaded once per 8
 *    samples and nothing is gathered (SIMD lanes run along the batch, as in XNNPACK's SpMM).
 * Sums are reassociated (partial sums per lane or per accumulator), so results match the
 * scalar kernel within float32 rounding. The clamp is compare-and-blend, so NaN propagates
 * exactly as in the scalar kernel. */
#if !defined(__x86_64__)
#error "f32-spmm-minmax-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Every function is compiled for AVX2+FMA whatever the command-line flags (-mavx2 -mfma are
 * still passed where the build knows the ISA), so a project builds with any CFLAGS; callers
 * must check the CPU (sparsec does) before calling. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

/* Largest k for the 8-sample path: the panel is 8 * 1024 floats = 32 KiB of stack (L1). */
#define SPARSEC_SPMM_PANEL_K 1024

SPARSEC_AVX2 static float sparsec_spmm_hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

SPARSEC_AVX2 static float sparsec_spmm_clamp(float v, float ymin, float ymax) {
  v = v < ymin ? ymin : v;
  v = v > ymax ? ymax : v;
  return v;
}

/* Transposes rows x[0..8) (row stride k) into panel[c][s] = x[s][c] for c < k. */
SPARSEC_AVX2 static void sparsec_spmm_pack8(size_t k, const float *x, float *panel) {
  size_t c = 0;
  for (; c + 8 <= k; c += 8) {
    /* 8x8 transpose in registers: unpack pairs, then 4-lane shuffles, then 128-bit halves. */
    const __m256 r0 = _mm256_loadu_ps(x + c), r1 = _mm256_loadu_ps(x + k + c);
    const __m256 r2 = _mm256_loadu_ps(x + 2 * k + c), r3 = _mm256_loadu_ps(x + 3 * k + c);
    const __m256 r4 = _mm256_loadu_ps(x + 4 * k + c), r5 = _mm256_loadu_ps(x + 5 * k + c);
    const __m256 r6 = _mm256_loadu_ps(x + 6 * k + c), r7 = _mm256_loadu_ps(x + 7 * k + c);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    float *o = panel + c * 8;
    _mm256_storeu_ps(o, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(o + 8, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(o + 16, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(o + 24, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(o + 32, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(o + 40, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(o + 48, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(o + 56, _mm256_permute2f128_ps(u3, u7, 0x31));
  }
  for (; c < k; c++) {
    size_t s;
    for (s = 0; s < 8; s++) {
      panel[c * 8 + s] = x[s * k + c];
    }
  }
}

/* 8 x values at 8 column indices, loaded one by one into a vector. On the AMD EPYC host this
 * beats _mm256_i32gather_ps by ~1.5x (36 vs 57 us for 105k nonzeros: gathers are microcoded
 * there); Intel cores with fast gathers were not measured. No index widening is needed. */
#define SPARSEC_SPMM_LOAD8(xi, i)                                                             \
  _mm256_setr_ps((xi)[(size_t)(i)[0]], (xi)[(size_t)(i)[1]], (xi)[(size_t)(i)[2]],           \
                 (xi)[(size_t)(i)[3]], (xi)[(size_t)(i)[4]], (xi)[(size_t)(i)[5]],           \
                 (xi)[(size_t)(i)[6]], (xi)[(size_t)(i)[7]])

#define SPARSEC_F32_SPMM_1X1_AVX2(NAME, SUFFIX, INDEX_T)                                        \
  SPARSEC_AVX2 static float sparsec_spmm_row_##SUFFIX(const float *xi, const INDEX_T *idx,      \
                                                      const float *val, size_t nnz) {            \
    __m256 a0 = _mm256_setzero_ps();                                                             \
    __m256 a1 = _mm256_setzero_ps();                                                             \
    float acc;                                                                                   \
    size_t p = 0;                                                                                \
    for (; p + 16 <= nnz; p += 16) {                                                             \
      const __m256 g0 = SPARSEC_SPMM_LOAD8(xi, idx + p);                                        \
      const __m256 g1 = SPARSEC_SPMM_LOAD8(xi, idx + p + 8);                                     \
      a0 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(val + p), a0);                                    \
      a1 = _mm256_fmadd_ps(g1, _mm256_loadu_ps(val + p + 8), a1);                                \
    }                                                                                            \
    if (p + 8 <= nnz) {                                                                          \
      const __m256 g0 = SPARSEC_SPMM_LOAD8(xi, idx + p);                                        \
      a0 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(val + p), a0);                                    \
      p += 8;                                                                                    \
    }                                                                                            \
    acc = sparsec_spmm_hsum(_mm256_add_ps(a0, a1));                                              \
    for (; p < nnz; p++) {                                                                       \
      acc += val[p] * xi[(size_t)idx[p]];                                                        \
    }                                                                                            \
    return acc;                                                                                  \
  }                                                                                              \
                                                                                                 \
  SPARSEC_AVX2 void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,  \
                         const INDEX_T *indices, const float *values, const float *bias,       \
                         float *y, float ymin, float ymax) {                                   \
    size_t i = 0;                                                                                \
    if (k <= SPARSEC_SPMM_PANEL_K && m >= 8) {                                                   \
      float panel[8 * SPARSEC_SPMM_PANEL_K];                                                     \
      float lanes[8];                                                                            \
      const __m256 vmin = _mm256_set1_ps(ymin);                                                  \
      const __m256 vmax = _mm256_set1_ps(ymax);                                                  \
      for (; i + 8 <= m; i += 8) {                                                               \
        size_t r;                                                                                \
        sparsec_spmm_pack8(k, x + i * k, panel);                                                 \
        for (r = 0; r < n; r++) {                                                                \
          const size_t end = (size_t)indptr[r + 1];                                              \
          size_t p = (size_t)indptr[r];                                                          \
          size_t s;                                                                              \
          __m256 a0 = bias != NULL ? _mm256_set1_ps(bias[r]) : _mm256_setzero_ps();              \
          __m256 a1 = _mm256_setzero_ps();                                                       \
          __m256 a2 = _mm256_setzero_ps();                                                       \
          __m256 a3 = _mm256_setzero_ps();                                                       \
          /* Four accumulators: one FMA chain would wait on the FMA latency at every nonzero. */ \
          for (; p + 4 <= end; p += 4) {                                                         \
            const float *c0 = panel + (size_t)indices[p] * 8;                                    \
            const float *c1 = panel + (size_t)indices[p + 1] * 8;                                \
            const float *c2 = panel + (size_t)indices[p + 2] * 8;                                \
            const float *c3 = panel + (size_t)indices[p + 3] * 8;                                \
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(values[p]), _mm256_loadu_ps(c0), a0);            \
            a1 = _mm256_fmadd_ps(_mm256_set1_ps(values[p + 1]), _mm256_loadu_ps(c1), a1);        \
            a2 = _mm256_fmadd_ps(_mm256_set1_ps(values[p + 2]), _mm256_loadu_ps(c2), a2);        \
            a3 = _mm256_fmadd_ps(_mm256_set1_ps(values[p + 3]), _mm256_loadu_ps(c3), a3);        \
          }                                                                                      \
          for (; p < end; p++) {                                                                 \
            const float *c0 = panel + (size_t)indices[p] * 8;                                    \
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(values[p]), _mm256_loadu_ps(c0), a0);            \
          }                                                                                      \
          a0 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));                      \
          a0 = _mm256_blendv_ps(a0, vmin, _mm256_cmp_ps(a0, vmin, _CMP_LT_OQ));                  \
          a0 = _mm256_blendv_ps(a0, vmax, _mm256_cmp_ps(a0, vmax, _CMP_GT_OQ));                  \
          _mm256_storeu_ps(lanes, a0);                                                           \
          for (s = 0; s < 8; s++) {                                                              \
            y[(i + s) * n + r] = lanes[s];                                                       \
          }                                                                                      \
        }                                                                                        \
      }                                                                                          \
    }                                                                                            \
    for (; i < m; i++) {                                                                         \
      const float *xi = x + i * k;                                                               \
      float *yi = y + i * n;                                                                     \
      size_t r;                                                                                  \
      for (r = 0; r < n; r++) {                                                                  \
        const size_t start = (size_t)indptr[r];                                                  \
        const size_t nnz = (size_t)indptr[r + 1] - start;                                        \
        float acc = sparsec_spmm_row_##SUFFIX(xi, indices + start, values + start, nnz);         \
        if (bias != NULL) {                                                                      \
          acc += bias[r];                                                                        \
        }                                                                                        \
        yi[r] = sparsec_spmm_clamp(acc, ymin, ymax);                                             \
      }                                                                                          \
    }                                                                                            \
  }

SPARSEC_F32_SPMM_1X1_AVX2(sparsec_f32_spmm_minmax_ukernel_1x1_u8__avx2, u8, uint8_t)
SPARSEC_F32_SPMM_1X1_AVX2(sparsec_f32_spmm_minmax_ukernel_1x1_u16__avx2, u16, uint16_t)
SPARSEC_F32_SPMM_1X1_AVX2(sparsec_f32_spmm_minmax_ukernel_1x1_i32__avx2, i32, int32_t)
