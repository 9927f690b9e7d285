/* Elementwise clamp (ReLU, ReLU6, range limits): portable C99. In-place (y == x) is safe. */
#include <sparsec/kernels.h>

void sparsec_f32_clamp_ukernel__scalar(size_t n, const float *x, float *y, float ymin,
                                       float ymax) {
  size_t i;
  for (i = 0; i < n; i++) {
    float v = x[i];
    /* Comparisons, not fminf/fmaxf: a NaN input must stay NaN. */
    v = v < ymin ? ymin : v;
    v = v > ymax ? ymax : v;
    y[i] = v;
  }
}
