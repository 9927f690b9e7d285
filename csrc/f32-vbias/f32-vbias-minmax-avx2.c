/* Per-column bias add with fused clamp: AVX2, 8 floats per step, scalar tail; bit-identical
 * to the scalar kernel. In-place (y == x) is safe: each block is loaded before it is stored. */
#if !defined(__x86_64__)
#error "f32-vbias-minmax-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Every function is compiled for AVX2+FMA whatever the command-line flags (-mavx2 -mfma are
 * still passed where the build knows the ISA), so a project builds with any CFLAGS; callers
 * must check the CPU (sparsec does) before calling. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

SPARSEC_AVX2 void sparsec_f32_vbias_minmax_ukernel__avx2(size_t m, size_t n, const float *x,
                                                         const float *bias, float *y, float ymin,
                                                         float ymax) {
  const __m256 vmin = _mm256_set1_ps(ymin);
  const __m256 vmax = _mm256_set1_ps(ymax);
  size_t i;
  for (i = 0; i < m; i++) {
    const float *xi = x + i * n;
    float *yi = y + i * n;
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
      __m256 v = _mm256_add_ps(_mm256_loadu_ps(xi + j), _mm256_loadu_ps(bias + j));
      /* Compare-and-blend keeps NaN, like the scalar comparisons. */
      v = _mm256_blendv_ps(v, vmin, _mm256_cmp_ps(v, vmin, _CMP_LT_OQ));
      v = _mm256_blendv_ps(v, vmax, _mm256_cmp_ps(v, vmax, _CMP_GT_OQ));
      _mm256_storeu_ps(yi + j, v);
    }
    for (; j < n; j++) {
      float v = xi[j] + bias[j];
      v = v < ymin ? ymin : v;
      v = v > ymax ? ymax : v;
      yi[j] = v;
    }
  }
}
