/* Depthwise 2-D convolution (NCHW, groups = channels, one filter per channel) with bias and fused
 * clamp: portable C99, the reference for the SIMD kernel.
 *
 * Direct: every tap w[c][ky][kx] adds w * x[c] over the rectangle of output pixels it reaches
 * inside the input, so padding costs no branches; the output plane (bias first) accumulates. */
#include <sparsec/kernels.h>

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

/* yc[oy][ox] += w * xc[iy][ix] over the output pixels whose tap (ky, kx) lies inside the input:
 * one rectangle, so the inner loop has no bounds checks. */
static void sparsec_dwconv_tap(const struct sparsec_window2d *g, const float *xc, float w, size_t ky,
                            size_t kx, float *yc) {
  const size_t dy = ky * g->dilation_height, dx = kx * g->dilation_width;
  const size_t sw = g->stride_width;
  size_t oy0, oy1, ox0, ox1, oy;
  sparsec_dwconv_range(g->out_height, g->in_height, g->stride_height, dy, g->pad_top, &oy0, &oy1);
  sparsec_dwconv_range(g->out_width, g->in_width, sw, dx, g->pad_left, &ox0, &ox1);
  for (oy = oy0; oy < oy1 && ox0 < ox1; oy++) {
    const float *xr =
        xc + ((oy * g->stride_height + dy - g->pad_top) * g->in_width + (ox0 * sw + dx - g->pad_left));
    float *yr = yc + oy * g->out_width;
    size_t ox;
    for (ox = ox0; ox < ox1; ox++) {
      yr[ox] += w * xr[(ox - ox0) * sw];
    }
  }
}

/* Every pixel of a plane to `v`, then (finish) clamped. */
static void sparsec_dwconv_fill(float *yc, size_t size, float v) {
  size_t i;
  for (i = 0; i < size; i++) {
    yc[i] = v;
  }
}

static void sparsec_dwconv_clamp(float *yc, size_t size, float ymin, float ymax) {
  size_t i;
  for (i = 0; i < size; i++) {
    float v = yc[i];
    v = v < ymin ? ymin : v;
    v = v > ymax ? ymax : v;
    yc[i] = v;
  }
}

void sparsec_f32_dwconv_minmax_ukernel__scalar(size_t batch, size_t channels,
                                               const struct sparsec_window2d *g, const float *x,
                                               const float *w, const float *bias, float *y,
                                               float ymin, float ymax) {
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
