/* Dense GEMM/GEMV with bias and fused clamp: AVX2 + FMA.
 *
 * Both x rows and w rows are contiguous along k, so each output is a dot product computed
 * 8 lanes wide; the last k % 8 elements use a masked load (nothing past the row is read).
 * Tiles: 2 samples x 4 outputs (8 accumulators; each loaded x/w vector feeds 4 or 2 FMAs),
 * then 1 x 4 (GEMV, m == 1: one x load per 4 weight rows), then single outputs. Output
 * blocks are the outer loop so a block of W stays in L1 across the whole batch.
 * Sums are reassociated (8 lane partial sums, then a horizontal add), so results match the
 * scalar kernel within float32 rounding, not bit for bit. The clamp is compare-and-blend,
 * so NaN propagates exactly as in the scalar kernel. */
#if !defined(__x86_64__)
#error "f32-gemm-minmax-avx2.c is for x86-64 only"
#endif

#include <immintrin.h>

#include <sparsec/kernels.h>

/* Every function is compiled for AVX2+FMA whatever the command-line flags (-mavx2 -mfma are
 * still passed where the build knows the ISA), so a project builds with any CFLAGS; callers
 * must check the CPU (sparsec does) before calling. */
#define SPARSEC_AVX2 __attribute__((target("avx2,fma")))

/* Loading 8 entries at offset 8 - r gives a mask whose first r lanes are set. */
static const int32_t sparsec_gemm_mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                    0,  0,  0,  0,  0,  0,  0,  0};

SPARSEC_AVX2 static float sparsec_gemm_hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* Horizontal sums of four vectors, in lane order a, b, c, d. */
SPARSEC_AVX2 static __m128 sparsec_gemm_hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* Adds bias[0..4) (or nothing), clamps and stores four outputs. */
SPARSEC_AVX2 static void sparsec_gemm_store4(__m128 v, const float *bias, float *y, float ymin,
                                             float ymax) {
  const __m128 vmin = _mm_set1_ps(ymin);
  const __m128 vmax = _mm_set1_ps(ymax);
  if (bias != NULL) {
    v = _mm_add_ps(v, _mm_loadu_ps(bias));
  }
  v = _mm_blendv_ps(v, vmin, _mm_cmplt_ps(v, vmin));
  v = _mm_blendv_ps(v, vmax, _mm_cmpgt_ps(v, vmax));
  _mm_storeu_ps(y, v);
}

SPARSEC_AVX2 static float sparsec_gemm_finish(float acc, const float *bias, size_t j, float ymin,
                                              float ymax) {
  if (bias != NULL) {
    acc += bias[j];
  }
  acc = acc < ymin ? ymin : acc;
  acc = acc > ymax ? ymax : acc;
  return acc;
}

SPARSEC_AVX2 void sparsec_f32_gemm_minmax_ukernel__avx2(size_t m, size_t n, size_t k,
                                                        const float *x, const float *w,
                                                        const float *bias, float *y, float ymin,
                                                        float ymax) {
  const size_t kv = k - (k & 7);
  const __m256i mask =
      _mm256_loadu_si256((const __m256i *)(sparsec_gemm_mask_table + 8 - (k & 7)));
  size_t j = 0;
  /* Output blocks outside, samples inside: a block's 4 weight rows stay in L1 while every
   * sample streams past, so W is read from memory once per call, not once per sample pair. */
  for (; j + 4 <= n; j += 4) {
    const float *w0 = w + j * k;
    const float *w1 = w0 + k;
    const float *w2 = w1 + k;
    const float *w3 = w2 + k;
    const float *bj = bias != NULL ? bias + j : NULL;
    size_t i = 0;
    for (; i + 2 <= m; i += 2) {
      const float *x0 = x + i * k;
      const float *x1 = x0 + k;
      __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps();
      __m256 a02 = _mm256_setzero_ps(), a03 = _mm256_setzero_ps();
      __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
      __m256 a12 = _mm256_setzero_ps(), a13 = _mm256_setzero_ps();
      __m256 vx0, vx1, vw;
      size_t p = 0;
      for (; p < kv; p += 8) {
        vx0 = _mm256_loadu_ps(x0 + p);
        vx1 = _mm256_loadu_ps(x1 + p);
        vw = _mm256_loadu_ps(w0 + p);
        a00 = _mm256_fmadd_ps(vx0, vw, a00);
        a10 = _mm256_fmadd_ps(vx1, vw, a10);
        vw = _mm256_loadu_ps(w1 + p);
        a01 = _mm256_fmadd_ps(vx0, vw, a01);
        a11 = _mm256_fmadd_ps(vx1, vw, a11);
        vw = _mm256_loadu_ps(w2 + p);
        a02 = _mm256_fmadd_ps(vx0, vw, a02);
        a12 = _mm256_fmadd_ps(vx1, vw, a12);
        vw = _mm256_loadu_ps(w3 + p);
        a03 = _mm256_fmadd_ps(vx0, vw, a03);
        a13 = _mm256_fmadd_ps(vx1, vw, a13);
      }
      if (p < k) {
        vx0 = _mm256_maskload_ps(x0 + p, mask);
        vx1 = _mm256_maskload_ps(x1 + p, mask);
        vw = _mm256_maskload_ps(w0 + p, mask);
        a00 = _mm256_fmadd_ps(vx0, vw, a00);
        a10 = _mm256_fmadd_ps(vx1, vw, a10);
        vw = _mm256_maskload_ps(w1 + p, mask);
        a01 = _mm256_fmadd_ps(vx0, vw, a01);
        a11 = _mm256_fmadd_ps(vx1, vw, a11);
        vw = _mm256_maskload_ps(w2 + p, mask);
        a02 = _mm256_fmadd_ps(vx0, vw, a02);
        a12 = _mm256_fmadd_ps(vx1, vw, a12);
        vw = _mm256_maskload_ps(w3 + p, mask);
        a03 = _mm256_fmadd_ps(vx0, vw, a03);
        a13 = _mm256_fmadd_ps(vx1, vw, a13);
      }
      sparsec_gemm_store4(sparsec_gemm_hsum4(a00, a01, a02, a03), bj, y + i * n + j, ymin, ymax);
      sparsec_gemm_store4(sparsec_gemm_hsum4(a10, a11, a12, a13), bj, y + (i + 1) * n + j, ymin,
                          ymax);
    }
    if (i < m) { /* GEMV: the last (or only) sample; one x load feeds 4 weight rows. */
      const float *xi = x + i * k;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
      __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      __m256 vx;
      size_t p = 0;
      for (; p < kv; p += 8) {
        vx = _mm256_loadu_ps(xi + p);
        a0 = _mm256_fmadd_ps(vx, _mm256_loadu_ps(w0 + p), a0);
        a1 = _mm256_fmadd_ps(vx, _mm256_loadu_ps(w1 + p), a1);
        a2 = _mm256_fmadd_ps(vx, _mm256_loadu_ps(w2 + p), a2);
        a3 = _mm256_fmadd_ps(vx, _mm256_loadu_ps(w3 + p), a3);
      }
      if (p < k) {
        vx = _mm256_maskload_ps(xi + p, mask);
        a0 = _mm256_fmadd_ps(vx, _mm256_maskload_ps(w0 + p, mask), a0);
        a1 = _mm256_fmadd_ps(vx, _mm256_maskload_ps(w1 + p, mask), a1);
        a2 = _mm256_fmadd_ps(vx, _mm256_maskload_ps(w2 + p, mask), a2);
        a3 = _mm256_fmadd_ps(vx, _mm256_maskload_ps(w3 + p, mask), a3);
      }
      sparsec_gemm_store4(sparsec_gemm_hsum4(a0, a1, a2, a3), bj, y + i * n + j, ymin, ymax);
    }
  }
  /* The last n % 4 outputs, one at a time, two samples per pass. */
  for (; j < n; j++) {
    const float *wj = w + j * k;
    size_t i = 0;
    for (; i + 2 <= m; i += 2) {
      const float *x0 = x + i * k;
      const float *x1 = x0 + k;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
      __m256 vw;
      size_t p = 0;
      for (; p < kv; p += 8) {
        vw = _mm256_loadu_ps(wj + p);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + p), vw, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + p), vw, a1);
      }
      if (p < k) {
        vw = _mm256_maskload_ps(wj + p, mask);
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(x0 + p, mask), vw, a0);
        a1 = _mm256_fmadd_ps(_mm256_maskload_ps(x1 + p, mask), vw, a1);
      }
      y[i * n + j] = sparsec_gemm_finish(sparsec_gemm_hsum(a0), bias, j, ymin, ymax);
      y[(i + 1) * n + j] = sparsec_gemm_finish(sparsec_gemm_hsum(a1), bias, j, ymin, ymax);
    }
    if (i < m) {
      const float *xi = x + i * k;
      __m256 a0 = _mm256_setzero_ps();
      size_t p = 0;
      for (; p < kv; p += 8) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xi + p), _mm256_loadu_ps(wj + p), a0);
      }
      if (p < k) {
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(xi + p, mask), _mm256_maskload_ps(wj + p, mask),
                             a0);
      }
      y[i * n + j] = sparsec_gemm_finish(sparsec_gemm_hsum(a0), bias, j, ymin, ymax);
    }
  }
}
