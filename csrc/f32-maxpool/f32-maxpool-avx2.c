/* 2-D max pooling (NCHW): AVX2. Each plane starts at -INFINITY and takes the max with each tap
 * over the rectangle of output pixels where that tap lies inside the input (no bounds checks,
 * padding never read), 8 output x per step (stride 1 contiguous, stride 2 from the even lanes of
 * two loads, other strides scalar). A window wholly in the padding (possible with large pads or
 * dilations) is then set to -FLT_MAX, as in the scalar kernel. A NaN wins and stays, so results
 * equal the scalar kernel's bit for bit. */
#if !defined(__x86_64__)
#error "f32-maxpool-avx2.c is for x86-64 only"
#endif

#include <float.h>
#include <immintrin.h>
#include <math.h>

#include <sparsec/kernels.h>

/* Compiled for AVX2+FMA whatever the command line; callers check the CPU first. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

/* Output positions [*lo, *hi) (of `out`) whose tap at `offset` (= tap index * dilation) reads
 * inside the input: 0 <= o * stride + offset - pad < in. */
static void sparsec_maxpool_range(size_t out, size_t in, size_t stride, size_t offset, size_t pad,
                              size_t *lo, size_t *hi) {
  size_t first = 0, last;
  if (in + pad <= offset) {
    *lo = *hi = 0;
    return;
  }
  /* Stride 1 needs no division (the common case, and costly on cores without a divider). */
  if (offset < pad) {
    first = stride == 1 ? pad - offset : (pad - offset + stride - 1) / stride;
  }
  last = stride == 1 ? in + pad - offset : (in + pad - offset + stride - 1) / stride;
  last = last < out ? last : out;
  *lo = first < last ? first : last;
  *hi = last;
}

/* Lanes [0, count) set, count < 8. */
SPARSEC_AVX2 static __m256i sparsec_maxpool_mask(size_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The 8 even-indexed floats of x[0 .. 16). */
SPARSEC_AVX2 static __m256 sparsec_maxpool_even(const float *x) {
  const __m256 pairs = _mm256_shuffle_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), 0x88);
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), 0xD8));
}

/* max(x, y) where a NaN in either wins: maxps returns its second operand on NaN. */
SPARSEC_AVX2 static __m256 sparsec_maxpool_max(__m256 xv, __m256 yv) {
  return _mm256_blendv_ps(_mm256_max_ps(xv, yv), xv, _mm256_cmp_ps(xv, xv, _CMP_UNORD_Q));
}

/* yr = max(yr, xr) (a NaN in x wins and stays) over yr[0 .. count) with x at stride sw: 8 pixels
 * per step for stride 1 (masked tail) and stride 2 (even lanes of two loads; the last step stays one float short of x's end). */
SPARSEC_AVX2 static void sparsec_maxpool_row(float *yr, const float *xr, size_t count, size_t sw) {
  size_t j = 0;
  if (sw == 1) {
    for (; j + 8 <= count; j += 8) {
      _mm256_storeu_ps(yr + j, sparsec_maxpool_max(_mm256_loadu_ps(xr + j), _mm256_loadu_ps(yr + j)));
    }
    if (j < count) {
      const __m256i mask = sparsec_maxpool_mask(count - j);
      const __m256 xv = _mm256_maskload_ps(xr + j, mask);
      const __m256 yv = _mm256_maskload_ps(yr + j, mask);
      _mm256_maskstore_ps(yr + j, mask, sparsec_maxpool_max(xv, yv));
    }
    return;
  }
  if (sw == 2) {
    for (; j + 8 < count; j += 8) {
      const __m256 xv = sparsec_maxpool_even(xr + 2 * j);
      const __m256 yv = _mm256_loadu_ps(yr + j);
      _mm256_storeu_ps(yr + j, sparsec_maxpool_max(xv, yv));
    }
  }
  for (; j < count; j++) {
    const float v = xr[j * sw];
    if (yr[j] == yr[j] && (v > yr[j] || v != v)) {
      yr[j] = v;
    }
  }
}

/* Applies tap (ky, kx) to every output pixel whose tap lies inside the input: one rectangle, so
 * the rows have no bounds checks. With stride 1 and full rows as wide as the input, consecutive
 * rows are contiguous in x and y and run as one long row. */
SPARSEC_AVX2 static void sparsec_maxpool_tap(const struct sparsec_window2d *g, const float *xc,
                                         size_t ky, size_t kx, float *yc) {
  const size_t dy = ky * g->dilation_height, dx = kx * g->dilation_width;
  const size_t sw = g->stride_width, in_w = g->in_width, out_w = g->out_width;
  size_t oy0, oy1, ox0, ox1, oy;
  sparsec_maxpool_range(g->out_height, g->in_height, g->stride_height, dy, g->pad_top, &oy0, &oy1);
  sparsec_maxpool_range(out_w, in_w, sw, dx, g->pad_left, &ox0, &ox1);
  if (ox0 >= ox1 || oy0 >= oy1) {
    return;
  }
  if (sw == 1 && g->stride_height == 1 && ox0 == 0 && ox1 == out_w && out_w == in_w) {
    sparsec_maxpool_row(yc + oy0 * out_w, xc + ((oy0 + dy - g->pad_top) * in_w + (dx - g->pad_left)),
                    (oy1 - oy0) * out_w, 1);
    return;
  }
  for (oy = oy0; oy < oy1; oy++) {
    const float *xr =
        xc + ((oy * g->stride_height + dy - g->pad_top) * in_w + (ox0 * sw + dx - g->pad_left));
    sparsec_maxpool_row(yc + oy * out_w + ox0, xr, ox1 - ox0, sw);
  }
}

/* Whether output position o has at least one tap inside the input. */
static int sparsec_maxpool_any(size_t o, size_t stride, size_t dilation, size_t taps, size_t pad,
                               size_t in) {
  size_t t;
  for (t = 0; t < taps; t++) {
    const size_t at = o * stride + t * dilation;
    if (at >= pad && at - pad < in) {
      return 1;
    }
  }
  return 0;
}

SPARSEC_AVX2 void sparsec_f32_maxpool_ukernel__avx2(size_t batch, size_t channels,
                                                    const struct sparsec_window2d *g,
                                                    const float *x, float *y) {
  const size_t in_plane = g->in_height * g->in_width;
  const size_t out_plane = g->out_height * g->out_width;
  const __m256 lowest = _mm256_set1_ps(-INFINITY);
  int any_empty = 0;
  size_t o, plane;
  for (o = 0; o < g->out_height; o++) {
    any_empty |= !sparsec_maxpool_any(o, g->stride_height, g->dilation_height, g->kernel_height,
                                      g->pad_top, g->in_height);
  }
  for (o = 0; o < g->out_width; o++) {
    any_empty |= !sparsec_maxpool_any(o, g->stride_width, g->dilation_width, g->kernel_width,
                                      g->pad_left, g->in_width);
  }
  for (plane = 0; plane < batch * channels; plane++) {
    float *yc = y + plane * out_plane;
    size_t i = 0, ky, kx;
    for (; i + 8 <= out_plane; i += 8) {
      _mm256_storeu_ps(yc + i, lowest);
    }
    for (; i < out_plane; i++) {
      yc[i] = -INFINITY;
    }
    for (ky = 0; ky < g->kernel_height; ky++) {
      for (kx = 0; kx < g->kernel_width; kx++) {
        sparsec_maxpool_tap(g, x + plane * in_plane, ky, kx, yc);
      }
    }
    for (i = 0; any_empty && i < out_plane; i++) {
      if (!sparsec_maxpool_any(i / g->out_width, g->stride_height, g->dilation_height,
                               g->kernel_height, g->pad_top, g->in_height) ||
          !sparsec_maxpool_any(i % g->out_width, g->stride_width, g->dilation_width,
                               g->kernel_width, g->pad_left, g->in_width)) {
        yc[i] = -FLT_MAX;
      }
    }
  }
}
