/* Elementwise clamp (ReLU, ReLU6, range limits): AVX2, 8 floats per step, scalar tail.
 * Compare-and-blend gives exactly the scalar kernel's result, NaN and -0.0 included
 * (a NaN fails both comparisons and is kept). In-place (y == x) is safe. */
#if !defined(__x86_64__)
#error "f32-clamp-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Every function is compiled for AVX2+FMA whatever the command-line flags (-mavx2 -mfma are
 * still passed where the build knows the ISA), so a project builds with any CFLAGS; callers
 * must check the CPU (sparsec does) before calling. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

SPARSEC_AVX2 void sparsec_f32_clamp_ukernel__avx2(size_t n, const float *x, float *y,
                                                  float ymin, float ymax) {
  const __m256 vmin = _mm256_set1_ps(ymin);
  const __m256 vmax = _mm256_set1_ps(ymax);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    v = _mm256_blendv_ps(v, vmin, _mm256_cmp_ps(v, vmin, _CMP_LT_OQ));
    v = _mm256_blendv_ps(v, vmax, _mm256_cmp_ps(v, vmax, _CMP_GT_OQ));
    _mm256_storeu_ps(y + i, v);
  }
  for (; i < n; i++) {
    float v = x[i];
    v = v < ymin ? ymin : v;
    v = v > ymax ? ymax : v;
    y[i] = v;
  }
}
