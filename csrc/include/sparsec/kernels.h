/*
 * sparsec/kernels.h - portable (scalar) C99 kernels used by sparsec-generated code.
 *
 * Conventions shared by every kernel below:
 *   - Matrices are dense, row-major and tightly packed (row stride == number of columns).
 *   - Weights are output-major: W has shape [n][k] (n outputs, k inputs), as in torch Linear
 *     and ONNX Gemm with transB=1, so y = x * W^T.
 *   - "minmax" kernels end with the fused clamp
 *         v = v < ymin ? ymin : v;  v = v > ymax ? ymax : v;
 *     which carries ReLU (0, INFINITY), ReLU6 (0, 6) and range limits. A NaN passes through
 *     unchanged (both comparisons are false); ymin = -INFINITY, ymax = INFINITY means no clamp.
 *     Callers must pass ymin <= ymax.
 *   - All arithmetic, including accumulation, is in float.
 *   - Kernels never allocate, print or touch global state; they are reentrant.
 *   - Unless a kernel says "in-place allowed", its output must not overlap any input.
 *     "In-place allowed" means the output may be exactly the same array as the named input
 *     (same pointer); partial overlap is never allowed.
 *   - Only float (4-byte) alignment is required.
 *   - Zero sizes are allowed; then nothing is read or written.
 *
 * Names follow sparsec_<dtype>_<op>[_minmax]_ukernel[_<tile>][_<index>]__<isa>.
 */
#ifndef SPARSEC_KERNELS_H
#define SPARSEC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Dense matrix product with bias and clamp (GEMM; GEMV when m == 1).
 *
 *   y[i][j] = clamp(bias[j] + sum_{p < k} x[i][p] * w[j][p], ymin, ymax)
 *   for i < m, j < n.
 *
 * Input arguments:
 *   m     - size_t, number of rows of x and y (batch)
 *   n     - size_t, number of output columns (rows of w)
 *   k     - size_t, number of input columns (columns of w); k == 0 gives clamp(bias)
 *   x     - const float[m * k], input, row-major [m][k]
 *   w     - const float[n * k], weights, row-major [n][k] (output-major)
 *   bias  - const float[n], bias per output column, or NULL for zero bias
 *   ymin  - float, lower clamp bound (-INFINITY for none)
 *   ymax  - float, upper clamp bound (INFINITY for none)
 *
 * Output arguments:
 *   y     - float[m * n], output, row-major [m][n]; must not overlap x, w or bias
 */
void sparsec_f32_gemm_minmax_ukernel__scalar(size_t m, size_t n, size_t k, const float *x,
                                             const float *w, const float *bias, float *y,
                                             float ymin, float ymax);

/*
 * CSR-sparse weight times dense input, with bias and clamp (SpMM; SpMV when m == 1).
 * Three variants differ only in the type of the column indices: uint8_t (k <= 256),
 * uint16_t (k <= 65536) and int32_t.
 *
 *   y[i][r] = clamp(bias[r] + sum_{indptr[r] <= p < indptr[r+1]} values[p] * x[i][indices[p]],
 *                   ymin, ymax)
 *   for i < m, r < n. An empty row r gives clamp(bias[r]) (clamp(0) without bias).
 *
 * W is the [n][k] weight matrix stored as CSR: the nonzeros of row r are
 * values[indptr[r] .. indptr[r+1]) at columns indices[indptr[r] .. indptr[r+1]).
 *
 * Input arguments:
 *   m       - size_t, number of rows of x and y (batch)
 *   n       - size_t, number of rows of W == number of output columns
 *   k       - size_t, number of columns of W == number of input columns
 *   x       - const float[m * k], input, row-major [m][k]
 *   indptr  - const uint32_t[n + 1], row pointers: indptr[0] == 0, non-decreasing,
 *             indptr[n] == nnz
 *   indices - const uint8_t / uint16_t / int32_t [nnz], column index of each nonzero,
 *             each in [0, k)
 *   values  - const float[nnz], value of each nonzero
 *   bias    - const float[n], bias per output column, or NULL for zero bias
 *   ymin    - float, lower clamp bound (-INFINITY for none)
 *   ymax    - float, upper clamp bound (INFINITY for none)
 *
 * Output arguments:
 *   y       - float[m * n], output, row-major [m][n]; must not overlap any input
 *
 * The CSR arrays are trusted (validated when the model is compiled); the kernel does no
 * bounds checks.
 */
void sparsec_f32_spmm_minmax_ukernel_1x1_u8__scalar(size_t m, size_t n, size_t k, const float *x,
                                                    const uint32_t *indptr,
                                                    const uint8_t *indices, const float *values,
                                                    const float *bias, float *y, float ymin,
                                                    float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_u16__scalar(size_t m, size_t n, size_t k, const float *x,
                                                     const uint32_t *indptr,
                                                     const uint16_t *indices, const float *values,
                                                     const float *bias, float *y, float ymin,
                                                     float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_i32__scalar(size_t m, size_t n, size_t k, const float *x,
                                                     const uint32_t *indptr,
                                                     const int32_t *indices, const float *values,
                                                     const float *bias, float *y, float ymin,
                                                     float ymax);

/*
 * Add a bias vector to every row, then clamp.
 *
 *   y[i][j] = clamp(x[i][j] + bias[j], ymin, ymax)   for i < m, j < n.
 *
 * Input arguments:
 *   m     - size_t, number of rows
 *   n     - size_t, number of columns
 *   x     - const float[m * n], input, row-major [m][n]
 *   bias  - const float[n], bias per column
 *   ymin  - float, lower clamp bound (-INFINITY for none)
 *   ymax  - float, upper clamp bound (INFINITY for none)
 *
 * Output arguments:
 *   y     - float[m * n], output, row-major [m][n]; in-place allowed (y == x),
 *           must not overlap bias
 */
void sparsec_f32_vbias_minmax_ukernel__scalar(size_t m, size_t n, const float *x,
                                              const float *bias, float *y, float ymin,
                                              float ymax);

/*
 * Elementwise sum, then clamp (residual connections).
 *
 *   y[i] = clamp(a[i] + b[i], ymin, ymax)   for i < n.
 *
 * Input arguments:
 *   n     - size_t, number of elements
 *   a     - const float[n], first addend
 *   b     - const float[n], second addend (may be the same array as a)
 *   ymin  - float, lower clamp bound (-INFINITY for none)
 *   ymax  - float, upper clamp bound (INFINITY for none)
 *
 * Output arguments:
 *   y     - float[n], output; in-place allowed (y == a or y == b)
 */
void sparsec_f32_vadd_minmax_ukernel__scalar(size_t n, const float *a, const float *b, float *y,
                                             float ymin, float ymax);

/*
 * Elementwise clamp (ReLU is ymin = 0, ymax = INFINITY; ReLU6 is 0, 6).
 *
 *   y[i] = clamp(x[i], ymin, ymax)   for i < n.
 *
 * Input arguments:
 *   n     - size_t, number of elements
 *   x     - const float[n], input
 *   ymin  - float, lower clamp bound (-INFINITY for none)
 *   ymax  - float, upper clamp bound (INFINITY for none)
 *
 * Output arguments:
 *   y     - float[n], output; in-place allowed (y == x)
 */
void sparsec_f32_clamp_ukernel__scalar(size_t n, const float *x, float *y, float ymin,
                                       float ymax);

/*
 * Softmax over each row (ONNX Softmax, axis = -1, on a 2-D view).
 *
 *   y[i][j] = expf(x[i][j] - max_l x[i][l]) / sum_l expf(x[i][l] - max_l x[i][l])
 *   for i < m, j < n.
 *
 * Subtracting the row maximum keeps expf from overflowing. A NaN in a row makes that
 * whole row NaN.
 *
 * Input arguments:
 *   m     - size_t, number of rows
 *   n     - size_t, row length (the softmax axis)
 *   x     - const float[m * n], input, row-major [m][n]
 *
 * Output arguments:
 *   y     - float[m * n], output, row-major [m][n]; in-place allowed (y == x)
 */
void sparsec_f32_softmax_ukernel__scalar(size_t m, size_t n, const float *x, float *y);

/*
 * AVX2 + FMA (x86-64) variants: same contracts as the scalar kernels above, same arguments.
 * Their definitions carry __attribute__((target("avx2,fma"))), so the sources build on any
 * x86-64 compiler command line (sparsec passes -mavx2 -mfma where it knows the ISA); call them
 * only on a CPU that has both features (sparsec checks with __builtin_cpu_supports).
 * Only float (4-byte) alignment is required.
 * vbias, vadd and clamp give the scalar kernel's results bit for bit (NaN included); gemm and
 * spmm reassociate their sums (several partial sums per output, added at the end), so they
 * match the scalar kernel within float32 rounding. The clamp propagates NaN exactly as above.
 * spmm with m >= 8 and k <= 1024 transposes 8 rows of x into a 32 KiB stack panel.
 */
void sparsec_f32_gemm_minmax_ukernel__avx2(size_t m, size_t n, size_t k, const float *x,
                                           const float *w, const float *bias, float *y,
                                           float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_u8__avx2(size_t m, size_t n, size_t k, const float *x,
                                                  const uint32_t *indptr, const uint8_t *indices,
                                                  const float *values, const float *bias, float *y,
                                                  float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_u16__avx2(size_t m, size_t n, size_t k, const float *x,
                                                   const uint32_t *indptr,
                                                   const uint16_t *indices, const float *values,
                                                   const float *bias, float *y, float ymin,
                                                   float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_i32__avx2(size_t m, size_t n, size_t k, const float *x,
                                                   const uint32_t *indptr, const int32_t *indices,
                                                   const float *values, const float *bias, float *y,
                                                   float ymin, float ymax);
void sparsec_f32_vbias_minmax_ukernel__avx2(size_t m, size_t n, const float *x, const float *bias,
                                            float *y, float ymin, float ymax);
void sparsec_f32_vadd_minmax_ukernel__avx2(size_t n, const float *a, const float *b, float *y,
                                           float ymin, float ymax);
void sparsec_f32_clamp_ukernel__avx2(size_t n, const float *x, float *y, float ymin, float ymax);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SPARSEC_KERNELS_H */
