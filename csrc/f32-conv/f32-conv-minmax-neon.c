/* Dense 2-D convolution (NCHW, groups = 1) with bias and fused clamp: NEON (aarch64).
 *
 * The same direct method as the scalar kernel (no im2col buffer; each weight adds w * x[channel]
 * over the rectangle of output pixels its tap reaches inside the input, so padding costs no
 * branches), with the row update y[0..len) += w * x[0..len) (stride 1) 4 lanes wide by FMA and
 * the final clamp vectorized. Strided rows use C. Each output sums the same products in the same
 * order as the scalar kernel (fused in the 4-lane part), so it differs only by rounding; the
 * clamp is compare-and-select, so NaN propagates exactly as in the scalar kernel. */
#if !defined(__aarch64__)
#error "f32-conv-minmax-neon.c is for aarch64 only"
#endif

#include <arm_neon.h>

#include <sparsec/kernels.h>

/* y[0..len) += w * x[0..len): 8 floats per step, then 4, then one at a time. */
static void sparsec_conv_axpy(float *y, const float *x, size_t len, float w) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    const float32x4_t y0 = vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), w);
    const float32x4_t y1 = vfmaq_n_f32(vld1q_f32(y + i + 4), vld1q_f32(x + i + 4), w);
    vst1q_f32(y + i, y0);
    vst1q_f32(y + i + 4, y1);
  }
  if (i + 4 <= len) {
    vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), w));
    i += 4;
  }
  for (; i < len; i++) {
    y[i] += w * x[i];
  }
}

/* Every pixel of a plane clamped, compare-and-select (vmaxq/vminq would differ on -0.0 and NaN). */
static void sparsec_conv_clamp(float *yc, size_t size, float ymin, float ymax) {
  const float32x4_t vmin = vdupq_n_f32(ymin);
  const float32x4_t vmax = vdupq_n_f32(ymax);
  size_t i = 0;
  for (; i + 4 <= size; i += 4) {
    float32x4_t v = vld1q_f32(yc + i);
    v = vbslq_f32(vcltq_f32(v, vmin), vmin, v);
    v = vbslq_f32(vcgtq_f32(v, vmax), vmax, v);
    vst1q_f32(yc + i, v);
  }
  for (; i < size; i++) {
    float v = yc[i];
    v = v < ymin ? ymin : v;
    v = v > ymax ? ymax : v;
    yc[i] = v;
  }
}

/* Output positions [*lo, *hi) (of `out`) whose tap at `offset` (= tap index * dilation) reads
 * inside the input: 0 <= o * stride + offset - pad < in. */
static void sparsec_conv_range(size_t out, size_t in, size_t stride, size_t offset, size_t pad,
                                 size_t *lo, size_t *hi) {
  size_t first = 0, last;
  if (in + pad <= offset) {
    *lo = *hi = 0;
    return;
  }
  if (offset < pad) {
    first = stride == 1 ? pad - offset : (pad - offset + stride - 1) / stride;
  }
  last = stride == 1 ? in + pad - offset : (in + pad - offset + stride - 1) / stride;
  last = last < out ? last : out;
  *lo = first < last ? first : last;
  *hi = last;
}

/* yc[oy][ox] += w * xc[iy][ix] over the output pixels whose tap (ky, kx) lies inside the input. */
static void sparsec_conv_tap(const struct sparsec_window2d *g, const float *xc, float w,
                               size_t ky, size_t kx, float *yc) {
  const size_t dy = ky * g->dilation_height, dx = kx * g->dilation_width;
  const size_t sw = g->stride_width;
  size_t oy0, oy1, ox0, ox1, oy;
  sparsec_conv_range(g->out_height, g->in_height, g->stride_height, dy, g->pad_top, &oy0, &oy1);
  sparsec_conv_range(g->out_width, g->in_width, sw, dx, g->pad_left, &ox0, &ox1);
  for (oy = oy0; oy < oy1 && ox0 < ox1; oy++) {
    const float *xr = xc + ((oy * g->stride_height + dy - g->pad_top) * g->in_width +
                            (ox0 * sw + dx - g->pad_left));
    float *yr = yc + oy * g->out_width + ox0;
    if (sw == 1) {
      sparsec_conv_axpy(yr, xr, ox1 - ox0, w);
    } else {
      size_t o;
      for (o = 0; o < ox1 - ox0; o++) {
        yr[o] += w * xr[o * sw];
      }
    }
  }
}

static void sparsec_conv_fill(float *yc, size_t size, float v) {
  size_t i;
  for (i = 0; i < size; i++) {
    yc[i] = v;
  }
}

void sparsec_f32_conv_minmax_ukernel__neon(size_t batch, size_t in_channels,
                                              size_t out_channels, const struct sparsec_window2d *g,
                                              const float *x, const float *w, const float *bias,
                                              float *y, float ymin, float ymax) {
  const size_t kh = g->kernel_height, kw = g->kernel_width;
  const size_t in_plane = g->in_height * g->in_width;
  const size_t out_plane = g->out_height * g->out_width;
  size_t b, oc;
  for (b = 0; b < batch; b++) {
    const float *xb = x + b * in_channels * in_plane;
    for (oc = 0; oc < out_channels; oc++) {
      float *yc = y + (b * out_channels + oc) * out_plane;
      const float *wc = w + oc * in_channels * kh * kw;
      size_t ic;
      sparsec_conv_fill(yc, out_plane, bias != NULL ? bias[oc] : 0.0f);
      for (ic = 0; ic < in_channels; ic++) {
        size_t ky, kx;
        for (ky = 0; ky < kh; ky++) {
          for (kx = 0; kx < kw; kx++) {
            sparsec_conv_tap(g, xb + ic * in_plane, wc[(ic * kh + ky) * kw + kx], ky, kx, yc);
          }
        }
      }
      sparsec_conv_clamp(yc, out_plane, ymin, ymax);
    }
  }
}
