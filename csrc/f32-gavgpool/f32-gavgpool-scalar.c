/* Global average pooling (ONNX GlobalAveragePool on NCHW): portable C99, the reference for the
 * SIMD kernel. */
#include <sparsec/kernels.h>

void sparsec_f32_gavgpool_ukernel__scalar(size_t planes, size_t plane_size, const float *x,
                                          float *y) {
  size_t p;
  for (p = 0; p < planes; p++) {
    const float *xp = x + p * plane_size;
    float sum = 0.0f;
    size_t i;
    for (i = 0; i < plane_size; i++) {
      sum += xp[i];
    }
    y[p] = sum / (float)plane_size;
  }
}
