/* CSR-sparse weight times dense input with bias and fused clamp: portable C99.
 * One templated body, instantiated for each column-index type, so the narrow-index
 * variants (smaller weights) cannot drift from the int32 one. */
#include <sparsec/kernels.h>

/* The loop over i is outside the CSR walk so each output row is written contiguously; the
 * CSR arrays are small and stay in cache across the batch. k is only x's row stride. */
#define SPARSEC_F32_SPMM_1X1_SCALAR(NAME, INDEX_T)                                         \
  void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,          \
            const INDEX_T *indices, const float *values, const float *bias, float *y,      \
            float ymin, float ymax) {                                                      \
    size_t i;                                                                              \
    for (i = 0; i < m; i++) {                                                              \
      const float *xi = x + i * k;                                                         \
      float *yi = y + i * n;                                                               \
      size_t r;                                                                            \
      for (r = 0; r < n; r++) {                                                            \
        const size_t end = (size_t)indptr[r + 1];                                          \
        size_t p = (size_t)indptr[r];                                                      \
        float acc = bias != NULL ? bias[r] : 0.0f;                                         \
        for (; p < end; p++) {                                                             \
          acc += values[p] * xi[(size_t)indices[p]];                                       \
        }                                                                                  \
        acc = acc < ymin ? ymin : acc;                                                     \
        acc = acc > ymax ? ymax : acc;                                                     \
        yi[r] = acc;                                                                       \
      }                                                                                    \
    }                                                                                      \
  }

SPARSEC_F32_SPMM_1X1_SCALAR(sparsec_f32_spmm_minmax_ukernel_1x1_u8__scalar, uint8_t)
SPARSEC_F32_SPMM_1X1_SCALAR(sparsec_f32_spmm_minmax_ukernel_1x1_u16__scalar, uint16_t)
SPARSEC_F32_SPMM_1X1_SCALAR(sparsec_f32_spmm_minmax_ukernel_1x1_i32__scalar, int32_t)
