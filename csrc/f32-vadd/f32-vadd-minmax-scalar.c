/* Elementwise add with fused clamp (residual connections): portable C99. In-place (y == a or
 * y == b) is safe because element i is read before it is written and never read again. */
#include <sparsec/kernels.h>

void sparsec_f32_vadd_minmax_ukernel__scalar(size_t n, const float *a, const float *b, float *y,
                                             float ymin, float ymax) {
  size_t i;
  for (i = 0; i < n; i++) {
    float v = a[i] + b[i];
    v = v < ymin ? ymin : v;
    v = v > ymax ? ymax : v;
    y[i] = v;
  }
}
