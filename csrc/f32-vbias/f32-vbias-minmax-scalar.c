/* Per-column bias add with fused clamp: portable C99. In-place (y == x) is safe because each
 * element is read before it is written and no element is read again. */
#include <sparsec/kernels.h>

void sparsec_f32_vbias_minmax_ukernel__scalar(size_t m, size_t n, const float *x,
                                              const float *bias, float *y, float ymin,
                                              float ymax) {
  size_t i;
  for (i = 0; i < m; i++) {
    const float *xi = x + i * n;
    float *yi = y + i * n;
    size_t j;
    for (j = 0; j < n; j++) {
      float v = xi[j] + bias[j];
      v = v < ymin ? ymin : v;
      v = v > ymax ? ymax : v;
      yi[j] = v;
    }
  }
}
