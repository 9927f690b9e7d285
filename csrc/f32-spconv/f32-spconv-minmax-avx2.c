/* Sparse 2-D convolution (NCHW, CSR weights over [out_channels][in_channels*kh*kw]) with bias and
 * fused clamp: AVX2 + FMA.
 *
 * Direct, no im2col buffer, vectorized along output pixels. The nonzeros of an output channel
 * are decoded to (ic, ky, kx) once per image, in chunks of 32, their input offsets in stack
 * tables (1 KiB). With a stride-1 width, every output row accumulates a whole chunk in
 * registers, 32 pixels (4 accumulators) at a time with masked tails, skipping the terms whose
 * tap row falls in the padding; each output pixel is loaded and stored once per chunk instead of
 * once per term. The edge columns, where some horizontal taps fall in the padding, add each term
 * down the rows where it lies inside the input. Other widths use the scalar kernel's scheme: each
 * term adds over the exact rectangle of output pixels its tap reaches inside the input (8 pixels
 * per FMA for stride 2 from the even lanes of two loads, scalar otherwise). Per pixel the terms
 * are added in the scalar kernel's order, with FMA, so results match it within float32 rounding;
 * the clamp is compare-and-blend, so NaN propagates as in the scalar kernel. */
#if !defined(__x86_64__)
#error "f32-spconv-minmax-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Compiled for AVX2+FMA whatever the command line; callers check the CPU first. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

/* Output positions [*lo, *hi) (of `out`) whose tap at `offset` (= tap index * dilation) reads
 * inside the input: 0 <= o * stride + offset - pad < in. */
static void sparsec_spconv_range(size_t out, size_t in, size_t stride, size_t offset, size_t pad,
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

/* Lanes [0, count) set, count <= 8. */
SPARSEC_AVX2 static __m256i sparsec_spconv_mask(size_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The 8 even-indexed floats of x[0 .. 16). */
SPARSEC_AVX2 static __m256 sparsec_spconv_even(const float *x) {
  const __m256 pairs = _mm256_shuffle_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), 0x88);
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), 0xD8));
}

/* yr += w * xr over yr[0 .. count) with x at stride sw: 8 pixels per step for stride 1 (masked tail)
 * and stride 2 (even lanes of two loads; the last step stays one float short of x's end). */
SPARSEC_AVX2 static void sparsec_spconv_row(float *yr, const float *xr, size_t count, size_t sw, float w) {
  size_t j = 0;
  if (sw == 1) {
    for (; j + 8 <= count; j += 8) {
      const __m256 xv = _mm256_loadu_ps(xr + j);
      _mm256_storeu_ps(yr + j, _mm256_fmadd_ps(_mm256_set1_ps(w), xv, _mm256_loadu_ps(yr + j)));
    }
    if (j < count) {
      const __m256i mask = sparsec_spconv_mask(count - j);
      const __m256 xv = _mm256_maskload_ps(xr + j, mask);
      const __m256 yv = _mm256_maskload_ps(yr + j, mask);
      _mm256_maskstore_ps(yr + j, mask, _mm256_fmadd_ps(_mm256_set1_ps(w), xv, yv));
    }
    return;
  }
  if (sw == 2) {
    for (; j + 8 < count; j += 8) {
      const __m256 xv = sparsec_spconv_even(xr + 2 * j);
      const __m256 yv = _mm256_loadu_ps(yr + j);
      _mm256_storeu_ps(yr + j, _mm256_fmadd_ps(_mm256_set1_ps(w), xv, yv));
    }
  }
  for (; j < count; j++) {
    yr[j] += w * xr[j * sw];
  }
}

/* Applies tap (ky, kx) to every output pixel whose tap lies inside the input: one rectangle, so
 * the rows have no bounds checks; clipped to one output region. With stride 1 and full rows as
 * wide as the input, consecutive rows are contiguous in x and y and run as one long row. */
SPARSEC_AVX2 static void sparsec_spconv_tap(const struct sparsec_window2d *g, const float *xc, float w,
                                         size_t ky, size_t kx, const size_t region[4], float *yc) {
  const size_t dy = ky * g->dilation_height, dx = kx * g->dilation_width;
  const size_t sw = g->stride_width, in_w = g->in_width, out_w = g->out_width;
  size_t oy0, oy1, ox0, ox1, oy;
  if (region[0] >= region[1]) {
    return;
  }
  sparsec_spconv_range(g->out_height, g->in_height, g->stride_height, dy, g->pad_top, &oy0, &oy1);
  /* Only the output rows [region[0], region[1]) x columns [region[2], region[3]). */
  oy0 = oy0 > region[0] ? oy0 : region[0];
  oy1 = oy1 < region[1] ? oy1 : region[1];
  if (oy0 >= oy1) {
    return;
  }
  sparsec_spconv_range(out_w, in_w, sw, dx, g->pad_left, &ox0, &ox1);
  ox0 = ox0 > region[2] ? ox0 : region[2];
  ox1 = ox1 < region[3] ? ox1 : region[3];
  if (ox0 >= ox1 || oy0 >= oy1) {
    return;
  }
  if (sw == 1 && g->stride_height == 1 && ox0 == 0 && ox1 == out_w && out_w == in_w) {
    sparsec_spconv_row(yc + oy0 * out_w, xc + ((oy0 + dy - g->pad_top) * in_w + (dx - g->pad_left)),
                    (oy1 - oy0) * out_w, 1, w);
    return;
  }
  for (oy = oy0; oy < oy1; oy++) {
    const float *xr =
        xc + ((oy * g->stride_height + dy - g->pad_top) * in_w + (ox0 * sw + dx - g->pad_left));
    sparsec_spconv_row(yc + oy * out_w + ox0, xr, ox1 - ox0, sw, w);
  }
}

/* Terms (weights or nonzeros) are taken in chunks of this many: their offsets live on the stack. */
#define SPARSEC_SPCONV_CHUNK 32

/* With a stride-1 width, every output row accumulates `count` terms in registers:
 * y += sum_q val[q] * x[off[q] + (oy * stride_height - pad_top) * in_width + ox - pad_left] over
 * the terms whose tap row lies inside the input (dy[q] = ky * dilation; all of them away from the
 * top and bottom), for the columns [cols[0], cols[1]) where every horizontal tap is inside too:
 * 32 pixels (4 accumulators) at a time, the last 1..31 with masks, each pixel loaded and stored
 * once per chunk of terms. The edge columns outside cols then add each term down the rows where
 * its tap lies inside the input (dx[q] = kx * dilation). Indices are formed in size_t (unsigned
 * wrap is defined) and only the in-range ones become pointers. */
SPARSEC_AVX2 static void sparsec_spconv_rows(const struct sparsec_window2d *g, const float *xb,
                                          const size_t *off, const size_t *dy, const size_t *dx,
                                          const float *val, size_t count, const size_t cols[2],
                                          float *yc) {
  const size_t pl = g->pad_left, pt = g->pad_top, sh = g->stride_height;
  const size_t in_h = g->in_height, in_w = g->in_width, out_w = g->out_width;
  size_t oy, ox, q;
  for (oy = 0; oy < g->out_height; oy++) {
    const size_t top = oy * sh; /* input row of tap ky: top + dy[q] - pt */
    const size_t base = top * in_w - pt * in_w + cols[0] - pl;
    float *yr = yc + oy * out_w;
    size_t use[SPARSEC_SPCONV_CHUNK], n = 0;
    for (q = 0; q < count; q++) {
      if (top + dy[q] >= pt && top + dy[q] - pt < in_h) {
        use[n++] = q;
      }
    }
    for (ox = cols[0]; ox + 32 <= cols[1]; ox += 32) {
      __m256 a0 = _mm256_loadu_ps(yr + ox), a1 = _mm256_loadu_ps(yr + ox + 8);
      __m256 a2 = _mm256_loadu_ps(yr + ox + 16), a3 = _mm256_loadu_ps(yr + ox + 24);
      size_t u;
      for (u = 0; u < n; u++) {
        const __m256 vw = _mm256_set1_ps(val[use[u]]);
        const float *xq = xb + (off[use[u]] + base + (ox - cols[0]));
        a0 = _mm256_fmadd_ps(vw, _mm256_loadu_ps(xq), a0);
        a1 = _mm256_fmadd_ps(vw, _mm256_loadu_ps(xq + 8), a1);
        a2 = _mm256_fmadd_ps(vw, _mm256_loadu_ps(xq + 16), a2);
        a3 = _mm256_fmadd_ps(vw, _mm256_loadu_ps(xq + 24), a3);
      }
      _mm256_storeu_ps(yr + ox, a0);
      _mm256_storeu_ps(yr + ox + 8, a1);
      _mm256_storeu_ps(yr + ox + 16, a2);
      _mm256_storeu_ps(yr + ox + 24, a3);
    }
    if (ox < cols[1]) {
      /* The last 1..31 pixels: still 4 independent accumulators, lanes past cols[1] masked off;
       * vectors with no lane stay at offset 0, so no pointer leaves the arrays. */
      const size_t left = cols[1] - ox;
      const __m256i m0 = sparsec_spconv_mask(left < 8 ? left : 8);
      const __m256i m1 = sparsec_spconv_mask(left < 8 ? 0 : left - 8 < 8 ? left - 8 : 8);
      const __m256i m2 = sparsec_spconv_mask(left < 16 ? 0 : left - 16 < 8 ? left - 16 : 8);
      const __m256i m3 = sparsec_spconv_mask(left < 24 ? 0 : left - 24);
      const size_t o1 = left > 8 ? 8 : 0, o2 = left > 16 ? 16 : 0, o3 = left > 24 ? 24 : 0;
      float *ys = yr + ox;
      __m256 a0 = _mm256_maskload_ps(ys, m0), a1 = _mm256_maskload_ps(ys + o1, m1);
      __m256 a2 = _mm256_maskload_ps(ys + o2, m2), a3 = _mm256_maskload_ps(ys + o3, m3);
      size_t u;
      for (u = 0; u < n; u++) {
        const __m256 vw = _mm256_set1_ps(val[use[u]]);
        const float *xq = xb + (off[use[u]] + base + (ox - cols[0]));
        a0 = _mm256_fmadd_ps(vw, _mm256_maskload_ps(xq, m0), a0);
        a1 = _mm256_fmadd_ps(vw, _mm256_maskload_ps(xq + o1, m1), a1);
        a2 = _mm256_fmadd_ps(vw, _mm256_maskload_ps(xq + o2, m2), a2);
        a3 = _mm256_fmadd_ps(vw, _mm256_maskload_ps(xq + o3, m3), a3);
      }
      _mm256_maskstore_ps(ys, m0, a0);
      _mm256_maskstore_ps(ys + o1, m1, a1);
      _mm256_maskstore_ps(ys + o2, m2, a2);
      _mm256_maskstore_ps(ys + o3, m3, a3);
    }
  }
  /* The edge columns (outside cols; all columns when cols is empty): per column, each term whose
   * tap lies inside the input there adds down the rows where its tap row is inside too. */
  for (ox = 0; ox < out_w; ox++) {
    if (ox == cols[0] && cols[0] < cols[1]) {
      ox = cols[1] - 1; /* the inner columns are done */
      continue;
    }
    for (q = 0; q < count; q++) {
      const size_t at = ox + dx[q];
      size_t oy0, oy1;
      if (at < pl || at - pl >= in_w) {
        continue;
      }
      sparsec_spconv_range(g->out_height, in_h, sh, dy[q], pt, &oy0, &oy1);
      for (oy = oy0; oy < oy1; oy++) {
        /* off[q] - dx[q] - dy[q] * in_w is the channel's plane offset. */
        yc[oy * out_w + ox] +=
            val[q] * xb[off[q] - dx[q] - dy[q] * in_w + (oy * sh + dy[q] - pt) * in_w + (at - pl)];
      }
    }
  }
}

/* The columns [cols[0], cols[1]) whose horizontal taps all lie inside the input (stride-1 width). */
static void sparsec_spconv_inner_cols(const struct sparsec_window2d *g, size_t cols[2]) {
  const size_t extent = (g->kernel_width - 1) * g->dilation_width;
  const size_t in = g->in_width, pad = g->pad_left;
  size_t last;
  cols[0] = cols[1] = 0;
  if (in + pad < extent + 1) {
    return;
  }
  last = in - 1 + pad - extent + 1;
  last = last < g->out_width ? last : g->out_width;
  cols[0] = pad < last ? pad : last;
  cols[1] = last;
}

SPARSEC_AVX2 static void sparsec_spconv_fill(float *yc, size_t size, float v) {
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
SPARSEC_AVX2 static void sparsec_spconv_clamp(float *yc, size_t size, float ymin, float ymax) {
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

#define SPARSEC_F32_SPCONV_AVX2(NAME, INDEX_T)                                                   \
  SPARSEC_AVX2 void NAME(size_t batch, size_t in_channels, size_t out_channels,                 \
                         const struct sparsec_window2d *g, const float *x,                      \
                         const uint32_t *indptr, const INDEX_T *indices, const float *values,   \
                         const float *bias, float *y, float ymin, float ymax) {                 \
    const size_t kw = g->kernel_width, taps = g->kernel_height * kw;                            \
    const size_t in_plane = g->in_height * g->in_width;                                        \
    const size_t out_plane = g->out_height * g->out_width;                                     \
    const size_t all_rows[4] = {0, g->out_height, 0, g->out_width};                            \
    /* Stride-1 widths run every row in registers; other widths add each term by rectangles. */ \
    const int registers = g->stride_width == 1;                                                \
    size_t cols[2], off[SPARSEC_SPCONV_CHUNK], dy[SPARSEC_SPCONV_CHUNK], dx[SPARSEC_SPCONV_CHUNK]; \
    size_t b, oc;                                                                              \
    sparsec_spconv_inner_cols(g, cols);                                                        \
    for (b = 0; b < batch; b++) {                                                              \
      const float *xb = x + b * in_channels * in_plane;                                        \
      for (oc = 0; oc < out_channels; oc++) {                                                  \
        float *yc = y + (b * out_channels + oc) * out_plane;                                   \
        const size_t end = (size_t)indptr[oc + 1];                                             \
        size_t p0;                                                                             \
        sparsec_spconv_fill(yc, out_plane, bias != NULL ? bias[oc] : 0.0f);                    \
        for (p0 = (size_t)indptr[oc]; p0 < end; p0 += SPARSEC_SPCONV_CHUNK) {                  \
          const size_t count = end - p0 < SPARSEC_SPCONV_CHUNK ? end - p0 : SPARSEC_SPCONV_CHUNK; \
          size_t q;                                                                            \
          for (q = 0; q < count; q++) {                                                        \
            /* 32-bit division: the column fits (validated < 2^31), and it is cheaper. */      \
            const uint32_t j = (uint32_t)indices[p0 + q], t = j % (uint32_t)taps;              \
            const size_t ic = j / (uint32_t)taps, ky = t / (uint32_t)kw, kx = t % (uint32_t)kw; \
            dy[q] = ky * g->dilation_height;                                                   \
            dx[q] = kx * g->dilation_width;                                                    \
            off[q] = ic * in_plane + dy[q] * g->in_width + dx[q];                              \
            if (!registers) {                                                                  \
              sparsec_spconv_tap(g, xb + ic * in_plane, values[p0 + q], ky, kx, all_rows, yc); \
            }                                                                                  \
          }                                                                                    \
          if (registers) {                                                                     \
            sparsec_spconv_rows(g, xb, off, dy, dx, values + p0, count, cols, yc);             \
          }                                                                                    \
        }                                                                                      \
        sparsec_spconv_clamp(yc, out_plane, ymin, ymax);                                       \
      }                                                                                        \
    }                                                                                          \
  }

SPARSEC_F32_SPCONV_AVX2(sparsec_f32_spconv_minmax_ukernel_u8__avx2, uint8_t)
SPARSEC_F32_SPCONV_AVX2(sparsec_f32_spconv_minmax_ukernel_u16__avx2, uint16_t)
SPARSEC_F32_SPCONV_AVX2(sparsec_f32_spconv_minmax_ukernel_i32__avx2, int32_t)
