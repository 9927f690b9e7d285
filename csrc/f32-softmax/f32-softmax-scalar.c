/* Row-wise softmax: portable C99, float math only (expf, float literals) so that targets
 * without a double-precision FPU never pull in soft-double code. */
#include <math.h>

#include <sparsec/kernels.h>

void sparsec_f32_softmax_ukernel__scalar(size_t m, size_t n, const float *x, float *y) {
  size_t i;
  if (n == 0) {
    return;
  }
  for (i = 0; i < m; i++) {
    const float *xi = x + i * n;
    float *yi = y + i * n;
    float vmax = xi[0];
    float sum = 0.0f;
    float scale;
    size_t j;
    /* Subtract the row max so expf never overflows; a NaN anywhere still yields NaN below. */
    for (j = 1; j < n; j++) {
      vmax = xi[j] > vmax ? xi[j] : vmax;
    }
    /* xi[j] is read before yi[j] is written, so y == x is safe. */
    for (j = 0; j < n; j++) {
      const float e = expf(xi[j] - vmax);
      yi[j] = e;
      sum += e;
    }
    /* One division per row instead of n; the max term contributes 1, so sum >= 1. */
    scale = 1.0f / sum;
    for (j = 0; j < n; j++) {
      yi[j] *= scale;
    }
  }
}
