/* Depthwise 2-D convolution (NCHW, groups = channels, one filter per channel) with bias and fused
 * clamp: AVX2 + FMA. The scalar kernel's direct scheme vectorized along output pixels (8 output x
 * per FMA; stride 1 contiguous, stride 2 from the even lanes of two loads, other strides scalar).
 * Per pixel the taps are added in the scalar kernel's order, with FMA, so results match it within
 * float32 rounding; the clamp propagates NaN as in the scalar kernel. */
#if !defined(__x86_64__)
#error "f32-dwconv-minmax-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Compiled for AVX2+FMA whatever the command line; callers check the CPU first. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

/* Output positions [*lo, *hi) (of `out`) whose tap at `offset` (= tap index * dilation) reads
 * inside the input: 0 <= o * stride + offset - pad < in. */
static void sparsec_dwconv_range(size_t out, size_t in, size_t stride, size_t offset, size_t pad,
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
SPARSEC_AVX2 static __m256i sparsec_dwconv_mask(size_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The 8 even-indexed floats of x[0 .. 16). */
SPARSEC_AVX2 static __m256 sparsec_dwconv_even(const float *x) {
  const __m256 pairs = _mm256_shuffle_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), 0x88);
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), 0xD8));
}

/* yr += w * xr over yr[0 .. count) with x at stride sw: 8 pixels per step for stride 1 (masked tail)
 * and stride 2 (even lanes of two loads; the last step stays one float short of x's end). */
SPARSEC_AVX2 static void sparsec_dwconv_row(float *yr, const float *xr, size_t count, size_t sw, float w) {
  size_t j = 0;
  if (sw == 1) {
    for (; j + 8 <= count; j += 8) {
      const __m256 xv = _mm256_loadu_ps(xr + j);
      _mm256_storeu_ps(yr + j, _mm256_fmadd_ps(_mm256_set1_ps(w), xv, _mm256_loadu_ps(yr + j)));
    }
    if (j < count) {
      const __m256i mask = sparsec_dwconv_mask(count - j);
      const __m256 xv = _mm256_maskload_ps(xr + j, mask);
      const __m256 yv = _mm256_maskload_ps(yr + j, mask);
      _mm256_maskstore_ps(yr + j, mask, _mm256_fmadd_ps(_mm256_set1_ps(w), xv, yv));
    }
    return;
  }
  if (sw == 2) {
    for (; j + 8 < count; j += 8) {
      const __m256 xv = sparsec_dwconv_even(xr + 2 * j);
      const __m256 yv = _mm256_loadu_ps(yr + j);
      _mm256_storeu_ps(yr + j, _mm256_fmadd_ps(_mm256_set1_ps(w), xv, yv));
    }
  }
  for (; j < count; j++) {
    yr[j] += w * xr[j * sw];
  }
}

/* Applies tap (ky, kx) to every output pixel whose tap lies inside the input: one rectangle, so
 * the rows have no bounds checks. With stride 1 and full rows as wide as the input, consecutive
 * rows are contiguous in x and y and run as one long row. */
SPARSEC_AVX2 static void sparsec_dwconv_tap(const struct sparsec_window2d *g, const float *xc, float w,
                                         size_t ky, size_t kx, float *yc) {
  const size_t dy = ky * g->dilation_height, dx = kx * g->dilation_width;
  const size_t sw = g->stride_width, in_w = g->in_width, out_w = g->out_width;
  size_t oy0, oy1, ox0, ox1, oy;
  sparsec_dwconv_range(g->out_height, g->in_height, g->stride_height, dy, g->pad_top, &oy0, &oy1);
  sparsec_dwconv_range(out_w, in_w, sw, dx, g->pad_left, &ox0, &ox1);
  if (ox0 >= ox1 || oy0 >= oy1) {
    return;
  }
  if (sw == 1 && g->stride_height == 1 && ox0 == 0 && ox1 == out_w && out_w == in_w) {
    sparsec_dwconv_row(yc + oy0 * out_w, xc + ((oy0 + dy - g->pad_top) * in_w + (dx - g->pad_left)),
                    (oy1 - oy0) * out_w, 1, w);
    return;
  }
  for (oy = oy0; oy < oy1; oy++) {
    const float *xr =
        xc + ((oy * g->stride_height + dy - g->pad_top) * in_w + (ox0 * sw + dx - g->pad_left));
    sparsec_dwconv_row(yc + oy * out_w + ox0, xr, ox1 - ox0, sw, w);
  }
}

SPARSEC_AVX2 static void sparsec_dwconv_fill(float *yc, size_t size, float v) {
  const __m256 vv = _mm256_set1_ps(v);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    _mm256_storeu_ps(yc + i, vv);
  }
  for (; i < size; i++) {
    yc[i] = v;
  }
}

/* Compare-and-blend, so NaN passes through as in the scalar kernel. */
SPARSEC_AVX2 static void sparsec_dwconv_clamp(float *yc, size_t size, float ymin, float ymax) {
  const __m256 vmin = _mm256_set1_ps(ymin), vmax = _mm256_set1_ps(ymax);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    __m256 v = _mm256_loadu_ps(yc + i);
    v = _mm256_blendv_ps(v, vmin, _mm256_cmp_ps(v, vmin, _CMP_LT_OQ));
    v = _mm256_blendv_ps(v, vmax, _mm256_cmp_ps(v, vmax, _CMP_GT_OQ));
    _mm256_storeu_ps(yc + i, v);
  }
  for (; i < size; i++) {
    float v = yc[i];
    v = v < ymin ? ymin : v;
    v = v > ymax ? ymax : v;
    yc[i] = v;
  }
}

SPARSEC_AVX2 void sparsec_f32_dwconv_minmax_ukernel__avx2(size_t batch, size_t channels,
                                                          const struct sparsec_window2d *g,
                                                          const float *x, const float *w,
                                                          const float *bias, float *y, float ymin,
                                                          float ymax) {
  const size_t kh = g->kernel_height, kw = g->kernel_width;
  const size_t in_plane = g->in_height * g->in_width;
  const size_t out_plane = g->out_height * g->out_width;
  size_t plane;
  for (plane = 0; plane < batch * channels; plane++) {
    const size_t c = plane % channels;
    float *yc = y + plane * out_plane;
    size_t ky, kx;
    sparsec_dwconv_fill(yc, out_plane, bias != NULL ? bias[c] : 0.0f);
    for (ky = 0; ky < kh; ky++) {
      for (kx = 0; kx < kw; kx++) {
        sparsec_dwconv_tap(g, x + plane * in_plane, w[(c * kh + ky) * kw + kx], ky, kx, yc);
      }
    }
    sparsec_dwconv_clamp(yc, out_plane, ymin, ymax);
  }
}
