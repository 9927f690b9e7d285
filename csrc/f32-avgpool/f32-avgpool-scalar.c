/* 2-D average pooling (NCHW, ONNX AveragePool count_include_pad): portable C99, the reference
 * for the SIMD kernel. Direct, one output pixel at a time. */
#include <sparsec/kernels.h>

/* Input index of tap offset `offset` for output position o, or `in` when it falls in the padding;
 * *counted is set when the tap counts toward the divisor (inside, or in a pad when count_pad). */
static size_t sparsec_avgpool_at(size_t o, size_t stride, size_t offset, size_t pad, size_t in,
                                 size_t pad_end, int count_pad, int *counted) {
  const size_t at = o * stride + offset;
  const int inside = at >= pad && at - pad < in;
  *counted = inside || (count_pad && at < pad + in + pad_end);
  return inside ? at - pad : in;
}

void sparsec_f32_avgpool_ukernel__scalar(size_t batch, size_t channels,
                                         const struct sparsec_window2d *g, int count_include_pad,
                                         const float *x, float *y) {
  const size_t in_plane = g->in_height * g->in_width;
  size_t plane;
  for (plane = 0; plane < batch * channels; plane++) {
    const float *xc = x + plane * in_plane;
    size_t oy, ox;
    for (oy = 0; oy < g->out_height; oy++) {
      for (ox = 0; ox < g->out_width; ox++) {
        float sum = 0.0f;
        size_t rows = 0, cols = 0, ky, kx;
        int counted;
        for (kx = 0; kx < g->kernel_width; kx++) {
          sparsec_avgpool_at(ox, g->stride_width, kx * g->dilation_width, g->pad_left, g->in_width,
                             g->pad_right, count_include_pad, &counted);
          cols += (size_t)counted;
        }
        for (ky = 0; ky < g->kernel_height; ky++) {
          const size_t iy =
              sparsec_avgpool_at(oy, g->stride_height, ky * g->dilation_height, g->pad_top,
                                 g->in_height, g->pad_bottom, count_include_pad, &counted);
          rows += (size_t)counted;
          for (kx = 0; kx < g->kernel_width && iy < g->in_height; kx++) {
            const size_t ix =
                sparsec_avgpool_at(ox, g->stride_width, kx * g->dilation_width, g->pad_left,
                                   g->in_width, g->pad_right, count_include_pad, &counted);
            if (ix < g->in_width) {
              sum += xc[iy * g->in_width + ix];
            }
          }
        }
        /* The divisor is separable: counted rows x counted columns. A window that counts
         * nothing (wholly in the padding) averages to 0, as onnxruntime does. */
        *y++ = rows * cols != 0 ? sum / (float)(rows * cols) : 0.0f;
      }
    }
  }
}
