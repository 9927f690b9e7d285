/* Dense GEMM/GEMV with bias and fused clamp: portable C99, the reference for SIMD variants. */
#include <sparsec/kernels.h>

void sparsec_f32_gemm_minmax_ukernel__scalar(size_t m, size_t n, size_t k, const float *x,
                                             const float *w, const float *bias, float *y,
                                             float ymin, float ymax) {
  size_t i;
  for (i = 0; i < m; i++) {
    const float *xi = x + i * k;
    float *yi = y + i * n;
    size_t j = 0;
    /* Four output columns at a time: each x[i][p] load feeds four independent
     * accumulator chains, which hides FMA latency without reassociating any one sum. */
    for (; j + 4 <= n; j += 4) {
      const float *w0 = w + j * k;
      const float *w1 = w0 + k;
      const float *w2 = w1 + k;
      const float *w3 = w2 + k;
      float acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;
      size_t p;
      if (bias != NULL) {
        acc0 = bias[j];
        acc1 = bias[j + 1];
        acc2 = bias[j + 2];
        acc3 = bias[j + 3];
      }
      for (p = 0; p < k; p++) {
        const float xv = xi[p];
        acc0 += xv * w0[p];
        acc1 += xv * w1[p];
        acc2 += xv * w2[p];
        acc3 += xv * w3[p];
      }
      acc0 = acc0 < ymin ? ymin : acc0;
      acc1 = acc1 < ymin ? ymin : acc1;
      acc2 = acc2 < ymin ? ymin : acc2;
      acc3 = acc3 < ymin ? ymin : acc3;
      acc0 = acc0 > ymax ? ymax : acc0;
      acc1 = acc1 > ymax ? ymax : acc1;
      acc2 = acc2 > ymax ? ymax : acc2;
      acc3 = acc3 > ymax ? ymax : acc3;
      yi[j] = acc0;
      yi[j + 1] = acc1;
      yi[j + 2] = acc2;
      yi[j + 3] = acc3;
    }
    /* Remaining 0-3 columns, one at a time. */
    for (; j < n; j++) {
      const float *wj = w + j * k;
      float acc = bias != NULL ? bias[j] : 0.0f;
      size_t p;
      for (p = 0; p < k; p++) {
        acc += xi[p] * wj[p];
      }
      acc = acc < ymin ? ymin : acc;
      acc = acc > ymax ? ymax : acc;
      yi[j] = acc;
    }
  }
}
