/* 2-D average pooling (NCHW, ONNX AveragePool count_include_pad): AVX2. Each plane starts at 0
 * and adds each tap over the rectangle of output pixels where that tap lies inside the input (no
 * bounds checks), 8 output x per step (stride 1 contiguous, stride 2 from the even lanes of two
 * loads, other strides scalar); then every pixel is divided by its count of taps (separable:
 * counted rows x counted columns; columns precounted in chunks of 64 on the stack). Taps are
 * added in the scalar kernel's order, so results equal it bit for bit. */
#if !defined(__x86_64__)
#error "f32-avgpool-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Compiled for AVX2+FMA whatever the command line; callers check the CPU first. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

/* Output positions [*lo, *hi) (of `out`) whose tap at `offset` (= tap index * dilation) reads
 * inside the input: 0 <= o * stride + offset - pad < in. */
static void sparsec_avgpool_range(size_t out, size_t in, size_t stride, size_t offset, size_t pad,
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
SPARSEC_AVX2 static __m256i sparsec_avgpool_mask(size_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The 8 even-indexed floats of x[0 .. 16). */
SPARSEC_AVX2 static __m256 sparsec_avgpool_even(const float *x) {
  const __m256 pairs = _mm256_shuffle_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), 0x88);
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), 0xD8));
}

/* yr += xr over yr[0 .. count) with x at stride sw: 8 pixels per step for stride 1 (masked tail)
 * and stride 2 (even lanes of two loads; the last step stays one float short of x's end). */
SPARSEC_AVX2 static void sparsec_avgpool_row(float *yr, const float *xr, size_t count, size_t sw) {
  size_t j = 0;
  if (sw == 1) {
    for (; j + 8 <= count; j += 8) {
      _mm256_storeu_ps(yr + j, _mm256_add_ps(_mm256_loadu_ps(yr + j), _mm256_loadu_ps(xr + j)));
    }
    if (j < count) {
      const __m256i mask = sparsec_avgpool_mask(count - j);
      const __m256 xv = _mm256_maskload_ps(xr + j, mask);
      const __m256 yv = _mm256_maskload_ps(yr + j, mask);
      _mm256_maskstore_ps(yr + j, mask, _mm256_add_ps(yv, xv));
    }
    return;
  }
  if (sw == 2) {
    for (; j + 8 < count; j += 8) {
      const __m256 xv = sparsec_avgpool_even(xr + 2 * j);
      const __m256 yv = _mm256_loadu_ps(yr + j);
      _mm256_storeu_ps(yr + j, _mm256_add_ps(yv, xv));
    }
  }
  for (; j < count; j++) {
    yr[j] += xr[j * sw];
  }
}

/* Applies tap (ky, kx) to every output pixel whose tap lies inside the input: one rectangle, so
 * the rows have no bounds checks. With stride 1 and full rows as wide as the input, consecutive
 * rows are contiguous in x and y and run as one long row. */
SPARSEC_AVX2 static void sparsec_avgpool_tap(const struct sparsec_window2d *g, const float *xc,
                                         size_t ky, size_t kx, float *yc) {
  const size_t dy = ky * g->dilation_height, dx = kx * g->dilation_width;
  const size_t sw = g->stride_width, in_w = g->in_width, out_w = g->out_width;
  size_t oy0, oy1, ox0, ox1, oy;
  sparsec_avgpool_range(g->out_height, g->in_height, g->stride_height, dy, g->pad_top, &oy0, &oy1);
  sparsec_avgpool_range(out_w, in_w, sw, dx, g->pad_left, &ox0, &ox1);
  if (ox0 >= ox1 || oy0 >= oy1) {
    return;
  }
  if (sw == 1 && g->stride_height == 1 && ox0 == 0 && ox1 == out_w && out_w == in_w) {
    sparsec_avgpool_row(yc + oy0 * out_w, xc + ((oy0 + dy - g->pad_top) * in_w + (dx - g->pad_left)),
                    (oy1 - oy0) * out_w, 1);
    return;
  }
  for (oy = oy0; oy < oy1; oy++) {
    const float *xr =
        xc + ((oy * g->stride_height + dy - g->pad_top) * in_w + (ox0 * sw + dx - g->pad_left));
    sparsec_avgpool_row(yc + oy * out_w + ox0, xr, ox1 - ox0, sw);
  }
}

/* Taps of output position o that count toward the divisor: inside the input, or also inside
 * the pads when count_pad (never past the end pad, where ceil_mode windows may reach). */
static size_t sparsec_avgpool_count(size_t o, size_t stride, size_t dilation, size_t taps,
                                    size_t pad, size_t in, size_t pad_end, int count_pad) {
  size_t t, n = 0;
  for (t = 0; t < taps; t++) {
    const size_t at = o * stride + t * dilation;
    n += count_pad ? at < pad + in + pad_end : at >= pad && at - pad < in;
  }
  return n;
}

#define SPARSEC_AVGPOOL_CHUNK 64

SPARSEC_AVX2 void sparsec_f32_avgpool_ukernel__avx2(size_t batch, size_t channels,
                                                    const struct sparsec_window2d *g,
                                                    int count_include_pad, const float *x,
                                                    float *y) {
  const size_t in_plane = g->in_height * g->in_width;
  const size_t out_w = g->out_width, out_plane = g->out_height * out_w;
  const __m256 zero = _mm256_setzero_ps();
  size_t plane;
  for (plane = 0; plane < batch * channels; plane++) {
    float *yc = y + plane * out_plane;
    size_t i = 0, ky, kx, ox0, oy;
    for (; i + 8 <= out_plane; i += 8) {
      _mm256_storeu_ps(yc + i, zero);
    }
    for (; i < out_plane; i++) {
      yc[i] = 0.0f;
    }
    for (ky = 0; ky < g->kernel_height; ky++) {
      for (kx = 0; kx < g->kernel_width; kx++) {
        sparsec_avgpool_tap(g, x + plane * in_plane, ky, kx, yc);
      }
    }
    for (ox0 = 0; ox0 < out_w; ox0 += SPARSEC_AVGPOOL_CHUNK) {
      const size_t cols = out_w - ox0 < SPARSEC_AVGPOOL_CHUNK ? out_w - ox0 : SPARSEC_AVGPOOL_CHUNK;
      float col_count[SPARSEC_AVGPOOL_CHUNK];
      size_t j;
      for (j = 0; j < cols; j++) {
        col_count[j] = (float)sparsec_avgpool_count(ox0 + j, g->stride_width, g->dilation_width,
                                                    g->kernel_width, g->pad_left, g->in_width,
                                                    g->pad_right, count_include_pad);
      }
      for (oy = 0; oy < g->out_height; oy++) {
        const float row_count = (float)sparsec_avgpool_count(
            oy, g->stride_height, g->dilation_height, g->kernel_height, g->pad_top,
            g->in_height, g->pad_bottom, count_include_pad);
        const __m256 rc = _mm256_set1_ps(row_count);
        float *yr = yc + oy * out_w + ox0;
        /* A window that counts nothing averages to 0, as in the scalar kernel. */
        for (j = 0; j + 8 <= cols; j += 8) {
          const __m256 d = _mm256_mul_ps(rc, _mm256_loadu_ps(col_count + j));
          const __m256 q = _mm256_div_ps(_mm256_loadu_ps(yr + j), d);
          _mm256_storeu_ps(yr + j, _mm256_blendv_ps(q, zero, _mm256_cmp_ps(d, zero, _CMP_EQ_OQ)));
        }
        for (; j < cols; j++) {
          const float d = row_count * col_count[j];
          yr[j] = d != 0.0f ? yr[j] / d : 0.0f;
        }
      }
    }
  }
}
