/* Global average pooling (ONNX GlobalAveragePool on NCHW): AVX2, four 8-lane partial sums per
 * plane. Sums are reassociated, so results match the scalar kernel within float32 rounding. */
#if !defined(__x86_64__)
#error "f32-gavgpool-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Compiled for AVX2+FMA whatever the command line; callers check the CPU first. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

SPARSEC_AVX2 void sparsec_f32_gavgpool_ukernel__avx2(size_t planes, size_t plane_size,
                                                     const float *x, float *y) {
  size_t p;
  for (p = 0; p < planes; p++) {
    const float *xp = x + p * plane_size;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m128 s;
    float sum;
    size_t i = 0;
    for (; i + 32 <= plane_size; i += 32) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(xp + i));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(xp + i + 8));
      a2 = _mm256_add_ps(a2, _mm256_loadu_ps(xp + i + 16));
      a3 = _mm256_add_ps(a3, _mm256_loadu_ps(xp + i + 24));
    }
    for (; i + 8 <= plane_size; i += 8) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(xp + i));
    }
    a0 = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    s = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    sum = _mm_cvtss_f32(s);
    for (; i < plane_size; i++) {
      sum += xp[i];
    }
    y[p] = sum / (float)plane_size;
  }
}
