/* Elementwise add with fused clamp: AVX2, 8 floats per step, scalar tail. The sum of two
 * floats is exact-rounded either way, so results equal the scalar kernel's bit for bit.
 * In-place (y == a or y == b) is safe: each block is loaded before it is stored. */
#if !defined(__x86_64__)
#error "f32-vadd-minmax-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Every function is compiled for AVX2+FMA whatever the command-line flags (-mavx2 -mfma are
 * still passed where the build knows the ISA), so a project builds with any CFLAGS; callers
 * must check the CPU (sparsec does) before calling. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

SPARSEC_AVX2 void sparsec_f32_vadd_minmax_ukernel__avx2(size_t n, const float *a, const float *b,
                                                        float *y, float ymin, float ymax) {
  const __m256 vmin = _mm256_set1_ps(ymin);
  const __m256 vmax = _mm256_set1_ps(ymax);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    /* Compare-and-blend, not max/min: a NaN sum must stay NaN as in the scalar kernel. */
    v = _mm256_blendv_ps(v, vmin, _mm256_cmp_ps(v, vmin, _CMP_LT_OQ));
    v = _mm256_blendv_ps(v, vmax, _mm256_cmp_ps(v, vmax, _CMP_GT_OQ));
    _mm256_storeu_ps(y + i, v);
  }
  for (; i < n; i++) {
    float v = a[i] + b[i];
    v = v < ymin ? ymin : v;
    v = v > ymax ? ymax : v;
    y[i] = v;
  }
}
