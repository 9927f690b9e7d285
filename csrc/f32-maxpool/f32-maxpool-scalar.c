/* 2-D max pooling (NCHW): portable C99, the reference for the SIMD kernel.
 * Direct, one output pixel at a time over the taps that lie inside the input (padding never wins). */
#include <float.h>

#include <sparsec/kernels.h>

/* Input index of tap offset `offset` for output position o, or `in` when it falls in the padding. */
static size_t sparsec_maxpool_at(size_t o, size_t stride, size_t offset, size_t pad, size_t in) {
  const size_t at = o * stride + offset;
  return at < pad || at - pad >= in ? in : at - pad;
}

void sparsec_f32_maxpool_ukernel__scalar(size_t batch, size_t channels,
                                         const struct sparsec_window2d *g, const float *x,
                                         float *y) {
  const size_t in_plane = g->in_height * g->in_width;
  size_t plane;
  for (plane = 0; plane < batch * channels; plane++) {
    const float *xc = x + plane * in_plane;
    size_t oy, ox;
    for (oy = 0; oy < g->out_height; oy++) {
      for (ox = 0; ox < g->out_width; ox++) {
        /* A window wholly in the padding gives the lowest finite float, as onnxruntime does. */
        float m = -FLT_MAX;
        int seen = 0;
        size_t ky, kx;
        for (ky = 0; ky < g->kernel_height; ky++) {
          const size_t iy = sparsec_maxpool_at(oy, g->stride_height, ky * g->dilation_height,
                                               g->pad_top, g->in_height);
          for (kx = 0; kx < g->kernel_width && iy < g->in_height; kx++) {
            const size_t ix = sparsec_maxpool_at(ox, g->stride_width, kx * g->dilation_width,
                                                 g->pad_left, g->in_width);
            if (ix < g->in_width) {
              const float v = xc[iy * g->in_width + ix];
              /* The first NaN wins and stays, like numpy.max. */
              if (m == m && (!seen || v > m || v != v)) {
                m = v;
              }
              seen = 1;
            }
          }
        }
        *y++ = m;
      }
    }
  }
}
