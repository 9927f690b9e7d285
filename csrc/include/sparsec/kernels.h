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
 * Block-sparse (BSR) weight times dense input, with bias and clamp. Same result as the CSR
 * kernel above for the same W; only the storage differs. W [n][k] is cut into aligned blocks of
 * R x C (R output rows x C input columns; tiles 1x4, 4x1 and 8x1, in the name); the blocks that
 * hold a nonzero are stored, each whole, in block-row order:
 *   block row br covers rows [br*R, br*R + R), block column bc covers columns [bc*C, bc*C + C);
 *   the blocks of block row br are values[indptr[br] * R*C .. indptr[br+1] * R*C), R*C floats
 *   per block, row-major inside the block (values[p*R*C + a*C + b] is W[br*R + a][bc*C + b]
 *   with bc = indices[p]).
 * Edge blocks that reach past row n or column k hold padding there; the kernels never read x
 * or write y outside [0, k) and [0, n), so the padding values are ignored (sparsec stores 0).
 * Three variants per tile differ only in the block column index type: uint8_t
 * (ceil(k/C) <= 256), uint16_t (ceil(k/C) <= 65536) and int32_t.
 *
 *   y[i][r] = clamp(bias[r] + sum over stored blocks of row r's block row of
 *                   sum_b W[r][c] * x[i][c] (c = bc*C + b < k), ymin, ymax)
 *   for i < m, r < n. A block row without blocks gives clamp(bias[r]) (clamp(0) without bias).
 *
 * Input arguments:
 *   m       - size_t, number of rows of x and y (batch)
 *   n       - size_t, number of rows of W == number of output columns
 *   k       - size_t, number of columns of W == number of input columns
 *   x       - const float[m * k], input, row-major [m][k]
 *   indptr  - const uint32_t[ceil(n/R) + 1], block row pointers: indptr[0] == 0,
 *             non-decreasing, indptr[ceil(n/R)] == number of stored blocks nb
 *   indices - const uint8_t / uint16_t / int32_t [nb], block column of each stored block, each
 *             in [0, ceil(k/C)), ascending within a block row (the 1x4 kernels rely on it)
 *   values  - const float[nb * R * C], the stored blocks, block-contiguous as above
 *   bias    - const float[n], bias per output column, or NULL for zero bias
 *   ymin    - float, lower clamp bound (-INFINITY for none)
 *   ymax    - float, upper clamp bound (INFINITY for none)
 *
 * Output arguments:
 *   y       - float[m * n], output, row-major [m][n]; must not overlap any input
 *
 * The BSR arrays are trusted (validated when the model is compiled); no bounds checks.
 */
void sparsec_f32_spmm_minmax_ukernel_1x4_u8__scalar(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x4_u16__scalar(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x4_i32__scalar(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_u8__scalar(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_u16__scalar(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_i32__scalar(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_u8__scalar(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_u16__scalar(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_i32__scalar(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);

/*
 * Geometry of a 2-D sliding window (convolution, pooling) over the planes of an NCHW tensor:
 * input planes in_height x in_width, output planes out_height x out_width, and
 *   output pixel (oy, ox), tap (ky, kx) reads input (oy*stride_height + ky*dilation_height -
 *   pad_top, ox*stride_width + kx*dilation_width - pad_left); taps outside the input read the
 *   padding (zero for convolution, skipped by pooling).
 * kernel, stride and dilation are >= 1. The output size is the caller's (ONNX: floor, or ceil
 * with ceil_mode, of (in + pads - dilated kernel) / stride, + 1); the kernels never read outside
 * the input whatever it is. pad_bottom and pad_right matter only to average pooling with
 * count_include_pad (taps there count toward the divisor).
 */
struct sparsec_window2d {
  size_t in_height, in_width;
  size_t out_height, out_width;
  size_t kernel_height, kernel_width;
  size_t stride_height, stride_width;
  size_t dilation_height, dilation_width;
  size_t pad_top, pad_left, pad_bottom, pad_right;
};

/*
 * Sparse 2-D convolution (ONNX Conv, NCHW, groups = 1) with bias and clamp; weights as CSR over
 * the [out_channels][in_channels * kh * kw] matrix (row oc is filter oc flattened as ONNX lays it
 * out: column j = (ic * kh + ky) * kw + kx). Three variants differ only in the column index type:
 * uint8_t (in_channels*kh*kw <= 256), uint16_t (<= 65536), int32_t.
 *
 *   y[b][oc][oy][ox] = clamp(bias[oc] + sum over nonzeros p of row oc, with column
 *                      j = indices[p] = (ic, ky, kx), of values[p] * x[b][ic][iy][ix], ymin, ymax)
 *   with (iy, ix) the input pixel of tap (ky, kx) (see sparsec_window2d; padding reads 0).
 *
 * Direct, with no im2col buffer and no stack beyond a few scalars (the MCU path): y doubles as
 * the accumulator, one output plane at a time.
 *
 * Input arguments:
 *   batch        - size_t, number of images (N)
 *   in_channels  - size_t, input channels (C)
 *   out_channels - size_t, output channels (M) == number of CSR rows
 *   g            - const struct sparsec_window2d *, the geometry (kernel_* are kh, kw)
 *   x            - const float[batch * in_channels * in_height * in_width], input, NCHW
 *   indptr       - const uint32_t[out_channels + 1], row pointers (as in spmm)
 *   indices      - const uint8_t / uint16_t / int32_t [nnz], columns, each in
 *                  [0, in_channels * kh * kw)
 *   values       - const float[nnz], the nonzero weights
 *   bias         - const float[out_channels], or NULL for zero bias
 *   ymin, ymax   - float, clamp bounds as above
 *
 * Output arguments:
 *   y            - float[batch * out_channels * out_height * out_width], output, NCHW; must not
 *                  overlap any input
 */
void sparsec_f32_spconv_minmax_ukernel_u8__scalar(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const uint8_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_spconv_minmax_ukernel_u16__scalar(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const uint16_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_spconv_minmax_ukernel_i32__scalar(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const int32_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);

/*
 * Dense 2-D convolution (ONNX Conv, NCHW, groups = 1) with bias and clamp: the dense fallback,
 * same geometry and result as sparsec_f32_spconv with every weight stored.
 *
 *   y[b][oc][oy][ox] = clamp(bias[oc] + sum_{ic, ky, kx} w[oc][ic][ky][kx] * x[b][ic][iy][ix],
 *                            ymin, ymax)
 *
 * Input arguments:
 *   batch, in_channels, out_channels, g, x, bias, ymin, ymax - as in sparsec_f32_spconv
 *   w            - const float[out_channels * in_channels * kh * kw], weights [M][C][kh][kw]
 *
 * Output arguments:
 *   y            - float[batch * out_channels * out_height * out_width], NCHW; no overlap
 */
void sparsec_f32_conv_minmax_ukernel__scalar(size_t batch, size_t in_channels, size_t out_channels,
    const struct sparsec_window2d *g, const float *x, const float *w, const float *bias, float *y,
    float ymin, float ymax);

/*
 * Depthwise 2-D convolution (ONNX Conv with group == channels and one filter per group) with
 * bias and clamp.
 *
 *   y[b][c][oy][ox] = clamp(bias[c] + sum_{ky, kx} w[c][ky][kx] * x[b][c][iy][ix], ymin, ymax)
 *
 * Input arguments:
 *   batch        - size_t, number of images
 *   channels     - size_t, input channels == output channels
 *   g, ymin, ymax - as in sparsec_f32_spconv
 *   x            - const float[batch * channels * in_height * in_width], NCHW
 *   w            - const float[channels * kh * kw], weights [C][1][kh][kw]
 *   bias         - const float[channels], or NULL
 *
 * Output arguments:
 *   y            - float[batch * channels * out_height * out_width], NCHW; no overlap
 */
void sparsec_f32_dwconv_minmax_ukernel__scalar(size_t batch, size_t channels,
    const struct sparsec_window2d *g, const float *x, const float *w, const float *bias, float *y,
    float ymin, float ymax);

/*
 * 2-D max pooling (ONNX MaxPool, NCHW, Y output only).
 *
 *   y[b][c][oy][ox] = max over the taps of (oy, ox) that lie inside the input of x[b][c][iy][ix]
 *
 * Padding never wins. A NaN in a window makes its output NaN. A window with no tap inside the
 * input (only possible with pads or dilations that large) gives -FLT_MAX, as onnxruntime does.
 *
 * Input arguments:
 *   batch, channels - size_t, N and C
 *   g            - const struct sparsec_window2d *, the geometry (kernel_* is the pool size)
 *   x            - const float[batch * channels * in_height * in_width], NCHW
 *
 * Output arguments:
 *   y            - float[batch * channels * out_height * out_width], NCHW; no overlap
 */
void sparsec_f32_maxpool_ukernel__scalar(size_t batch, size_t channels,
    const struct sparsec_window2d *g, const float *x, float *y);

/*
 * 2-D average pooling (ONNX AveragePool, NCHW).
 *
 *   y[b][c][oy][ox] = (sum over the taps of (oy, ox) inside the input of x[b][c][iy][ix]) / count
 *
 * count is the number of taps inside the input, or with count_include_pad != 0 inside the input
 * or its pads (pad_top .. pad_right; never the cells past the end pads that ceil_mode windows
 * may reach). A window with count 0 gives 0, as onnxruntime does. Sums are in float.
 *
 * Input arguments:
 *   batch, channels, g, x - as in sparsec_f32_maxpool
 *   count_include_pad     - int, nonzero to count padding taps in the divisor
 *
 * Output arguments:
 *   y            - float[batch * channels * out_height * out_width], NCHW; no overlap
 */
void sparsec_f32_avgpool_ukernel__scalar(size_t batch, size_t channels,
    const struct sparsec_window2d *g, int count_include_pad, const float *x, float *y);

/*
 * Global average pooling (ONNX GlobalAveragePool): the mean of each plane.
 *
 *   y[p] = (sum_{i < plane_size} x[p * plane_size + i]) / plane_size   for p < planes
 *
 * Input arguments:
 *   planes     - size_t, N * C
 *   plane_size - size_t, H * W; must be >= 1 when planes > 0
 *   x          - const float[planes * plane_size]
 *
 * Output arguments:
 *   y          - float[planes] (N x C x 1 x 1); no overlap
 */
void sparsec_f32_gavgpool_ukernel__scalar(size_t planes, size_t plane_size, const float *x,
                                          float *y);

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

/*
 * NEON (aarch64) variants: same contracts as the scalar kernels above, same arguments.
 * The sources build only for aarch64 (Advanced SIMD is part of the base ISA there).
 * Only float (4-byte) alignment is required.
 * vbias, vadd and clamp give the scalar kernel's results bit for bit (NaN included: the clamp
 * is compare-and-select, not vmaxq/vminq); gemm and spmm reassociate their sums, so they match
 * the scalar kernel within float32 rounding.
 * spmm with m >= 4 and k <= 1024 transposes 8 (or 4) rows of x into a stack panel of at most
 * 32 KiB.
 */
void sparsec_f32_gemm_minmax_ukernel__neon(size_t m, size_t n, size_t k, const float *x,
                                           const float *w, const float *bias, float *y, float ymin,
                                           float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_u8__neon(size_t m, size_t n, size_t k, const float *x,
                                                  const uint32_t *indptr, const uint8_t *indices,
                                                  const float *values, const float *bias, float *y,
                                                  float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_u16__neon(size_t m, size_t n, size_t k, const float *x,
                                                   const uint32_t *indptr, const uint16_t *indices,
                                                   const float *values, const float *bias, float *y,
                                                   float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_i32__neon(size_t m, size_t n, size_t k, const float *x,
                                                   const uint32_t *indptr, const int32_t *indices,
                                                   const float *values, const float *bias, float *y,
                                                   float ymin, float ymax);
void sparsec_f32_vbias_minmax_ukernel__neon(size_t m, size_t n, const float *x, const float *bias,
                                            float *y, float ymin, float ymax);
void sparsec_f32_vadd_minmax_ukernel__neon(size_t n, const float *a, const float *b, float *y,
                                           float ymin, float ymax);
void sparsec_f32_clamp_ukernel__neon(size_t n, const float *x, float *y, float ymin, float ymax);
/* Block-sparse 1x4 / 4x1 / 8x1 (see above); sums reassociated like spmm. */
void sparsec_f32_spmm_minmax_ukernel_1x4_u8__neon(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x4_u16__neon(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x4_i32__neon(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_u8__neon(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_u16__neon(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_i32__neon(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_u8__neon(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_u16__neon(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_i32__neon(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
/* Sparse, dense and depthwise direct convolution (see above); fused multiply-adds. */
void sparsec_f32_spconv_minmax_ukernel_u8__neon(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const uint8_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_spconv_minmax_ukernel_u16__neon(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const uint16_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_spconv_minmax_ukernel_i32__neon(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const int32_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_conv_minmax_ukernel__neon(size_t batch, size_t in_channels, size_t out_channels,
    const struct sparsec_window2d *g, const float *x, const float *w, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_dwconv_minmax_ukernel__neon(size_t batch, size_t channels,
    const struct sparsec_window2d *g, const float *x, const float *w, const float *bias, float *y,
    float ymin, float ymax);

/*
 * Cortex-M4F/M7 (Armv7E-M, single-precision FPU, Thumb-2) variants: same contracts as the
 * scalar kernels above, same arguments. The sources build only for such a core (-mcpu=cortex-m4
 * -mthumb -mfpu=fpv4-sp-d16, -mfloat-abi=hard or softfp, or an M7 equivalent); spmm and gemm
 * are Thumb-2 inline assembly inside C functions.
 * Only float (4-byte) alignment is required.
 * vbias, vadd and clamp give the scalar kernel's results bit for bit; gemm and spmm use fused
 * multiply-adds and several partial sums, so they match the scalar kernel within float32
 * rounding. The clamp propagates NaN exactly as above.
 */
void sparsec_f32_gemm_minmax_ukernel__armv7em(size_t m, size_t n, size_t k, const float *x,
                                              const float *w, const float *bias, float *y,
                                              float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_u8__armv7em(size_t m, size_t n, size_t k, const float *x,
                                                     const uint32_t *indptr, const uint8_t *indices,
                                                     const float *values, const float *bias,
                                                     float *y, float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_u16__armv7em(size_t m, size_t n, size_t k, const float *x,
                                                      const uint32_t *indptr,
                                                      const uint16_t *indices, const float *values,
                                                      const float *bias, float *y, float ymin,
                                                      float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x1_i32__armv7em(size_t m, size_t n, size_t k, const float *x,
                                                      const uint32_t *indptr,
                                                      const int32_t *indices, const float *values,
                                                      const float *bias, float *y, float ymin,
                                                      float ymax);
void sparsec_f32_vbias_minmax_ukernel__armv7em(size_t m, size_t n, const float *x,
                                               const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_vadd_minmax_ukernel__armv7em(size_t n, const float *a, const float *b, float *y,
                                              float ymin, float ymax);
void sparsec_f32_clamp_ukernel__armv7em(size_t n, const float *x, float *y, float ymin, float ymax);
/* Block-sparse 1x4 / 4x1 / 8x1 (see above); fused multiply-adds, sums reassociated like spmm. */
void sparsec_f32_spmm_minmax_ukernel_1x4_u8__armv7em(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x4_u16__armv7em(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x4_i32__armv7em(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_u8__armv7em(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_u16__armv7em(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_i32__armv7em(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_u8__armv7em(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_u16__armv7em(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_i32__armv7em(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
/* Sparse, dense and depthwise direct convolution (see above); fused multiply-adds. */
void sparsec_f32_spconv_minmax_ukernel_u8__armv7em(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const uint8_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_spconv_minmax_ukernel_u16__armv7em(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const uint16_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_spconv_minmax_ukernel_i32__armv7em(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const int32_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_conv_minmax_ukernel__armv7em(size_t batch, size_t in_channels, size_t out_channels,
    const struct sparsec_window2d *g, const float *x, const float *w, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_dwconv_minmax_ukernel__armv7em(size_t batch, size_t channels,
    const struct sparsec_window2d *g, const float *x, const float *w, const float *bias, float *y,
    float ymin, float ymax);
/* Block-sparse 1x4 / 4x1 / 8x1 (see above); sums reassociated like spmm. */
void sparsec_f32_spmm_minmax_ukernel_1x4_u8__avx2(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x4_u16__avx2(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_1x4_i32__avx2(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_u8__avx2(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_u16__avx2(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_4x1_i32__avx2(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_u8__avx2(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint8_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_u16__avx2(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const uint16_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_spmm_minmax_ukernel_8x1_i32__avx2(size_t m, size_t n, size_t k, const float *x,
    const uint32_t *indptr, const int32_t *indices, const float *values, const float *bias, float *y,
    float ymin, float ymax);
/* Convolution and pooling (see above). conv, dwconv and spconv add each pixel's terms in the
 * scalar order but with FMA (match within float32 rounding); maxpool and avgpool equal the
 * scalar kernels bit for bit; gavgpool reassociates its sums. conv and spconv keep 1 KiB of
 * input offsets on the stack (chunks of 32 terms); avgpool 256 bytes of column counts. */
void sparsec_f32_spconv_minmax_ukernel_u8__avx2(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const uint8_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_spconv_minmax_ukernel_u16__avx2(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const uint16_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_spconv_minmax_ukernel_i32__avx2(size_t batch, size_t in_channels,
    size_t out_channels, const struct sparsec_window2d *g, const float *x, const uint32_t *indptr,
    const int32_t *indices, const float *values, const float *bias, float *y, float ymin, float ymax);
void sparsec_f32_conv_minmax_ukernel__avx2(size_t batch, size_t in_channels, size_t out_channels,
    const struct sparsec_window2d *g, const float *x, const float *w, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_dwconv_minmax_ukernel__avx2(size_t batch, size_t channels,
    const struct sparsec_window2d *g, const float *x, const float *w, const float *bias, float *y,
    float ymin, float ymax);
void sparsec_f32_maxpool_ukernel__avx2(size_t batch, size_t channels,
    const struct sparsec_window2d *g, const float *x, float *y);
void sparsec_f32_avgpool_ukernel__avx2(size_t batch, size_t channels,
    const struct sparsec_window2d *g, int count_include_pad, const float *x, float *y);
void sparsec_f32_gavgpool_ukernel__avx2(size_t planes, size_t plane_size, const float *x,
                                          float *y);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SPARSEC_KERNELS_H */
