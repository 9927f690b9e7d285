/* Block-sparse (BSR, 1x4 blocks) weight times dense input with bias and fused clamp: portable C99.
 * The reference for the SIMD 1x4 kernels. One templated body per block-column-index type.
 * 1x4 blocks: one output row, 4 consecutive inputs; one index per 4 weights. */
#include <sparsec/kernels.h>

#define SPARSEC_BSPMM_R 1
#define SPARSEC_BSPMM_C 4

/* Block rows are walked in order, so each output row segment is written once; the block values
 * of a block row are read once per sample. Edge blocks past n or k are cut off, so padding is
 * never read from x nor written to y. */
#define SPARSEC_F32_SPMM_1X4_SCALAR(NAME, INDEX_T)                                              \
  void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,                \
            const INDEX_T *indices, const float *values, const float *bias, float *y,            \
            float ymin, float ymax) {                                                            \
    const size_t block_rows = (n + SPARSEC_BSPMM_R - 1) / SPARSEC_BSPMM_R;                       \
    size_t i;                                                                                    \
    for (i = 0; i < m; i++) {                                                                    \
      const float *xi = x + i * k;                                                               \
      float *yi = y + i * n;                                                                     \
      size_t br;                                                                                 \
      for (br = 0; br < block_rows; br++) {                                                      \
        const size_t r0 = br * SPARSEC_BSPMM_R;                                                  \
        const size_t rows = n - r0 < SPARSEC_BSPMM_R ? n - r0 : SPARSEC_BSPMM_R;                 \
        const size_t end = (size_t)indptr[br + 1];                                               \
        float acc[SPARSEC_BSPMM_R];                                                              \
        size_t p, a;                                                                             \
        for (a = 0; a < SPARSEC_BSPMM_R; a++) {                                                  \
          acc[a] = bias != NULL && a < rows ? bias[r0 + a] : 0.0f;                               \
        }                                                                                        \
        for (p = (size_t)indptr[br]; p < end; p++) {                                             \
          const size_t c0 = (size_t)indices[p] * SPARSEC_BSPMM_C;                                \
          const size_t cols = k - c0 < SPARSEC_BSPMM_C ? k - c0 : SPARSEC_BSPMM_C;               \
          const float *v = values + p * (SPARSEC_BSPMM_R * SPARSEC_BSPMM_C);                     \
          for (a = 0; a < SPARSEC_BSPMM_R; a++) {                                                \
            size_t b;                                                                            \
            for (b = 0; b < cols; b++) {                                                         \
              acc[a] += v[a * SPARSEC_BSPMM_C + b] * xi[c0 + b];                                 \
            }                                                                                    \
          }                                                                                      \
        }                                                                                        \
        for (a = 0; a < rows; a++) {                                                             \
          float v = acc[a];                                                                      \
          v = v < ymin ? ymin : v;                                                               \
          v = v > ymax ? ymax : v;                                                               \
          yi[r0 + a] = v;                                                                        \
        }                                                                                        \
      }                                                                                          \
    }                                                                                            \
  }

SPARSEC_F32_SPMM_1X4_SCALAR(sparsec_f32_spmm_minmax_ukernel_1x4_u8__scalar, uint8_t)
SPARSEC_F32_SPMM_1X4_SCALAR(sparsec_f32_spmm_minmax_ukernel_1x4_u16__scalar, uint16_t)
SPARSEC_F32_SPMM_1X4_SCALAR(sparsec_f32_spmm_minmax_ukernel_1x4_i32__scalar, int32_t)
