/* Row-wise softmax: portable C99 with its own expf, so it needs no C library at all (bare-metal
 * RISC-V builds have none) and pulls in no soft-double code on single-precision FPUs. */
#include <sparsec/kernels.h>

/* 2^n for integer n in [-126, 127], built from the exponent bits (through a union: no
 * <string.h> either, which freestanding toolchains lack). */
static float sparsec_exp2i(int n) {
  union {
    uint32_t bits;
    float value;
  } u;
  u.bits = (uint32_t)(n + 127) << 23;
  return u.value;
}

/* e^x within 1.3 ulp of the correctly rounded result (tests/test_kernels.py sweeps it against
 * float64 exp through the softmax kernel):
 * x = n ln2 + r with |r| <= ln2/2 (ln2 split in two, Cody-Waite, so r is exact enough), then a
 * degree-7 Taylor polynomial for e^r (truncation error < 6e-9 relative) scaled by 2^n. */
static float sparsec_expf(float x) {
  const float log2e = 1.44269504f;
  const float ln2_hi = 0.693145752f; /* few mantissa bits, so n * ln2_hi is exact */
  const float ln2_lo = 1.42860677e-6f;
  float n, r, p;
  int k;
  if (!(x == x)) {
    return x; /* NaN */
  }
  if (x > 88.7228394f) {
    return x * 1e30f * 1e30f; /* +inf, raising overflow like expf */
  }
  if (x < -103.972084f) {
    return 0.0f;
  }
  n = x * log2e;
  n = n < 0.0f ? (float)(int)(n - 0.5f) : (float)(int)(n + 0.5f); /* round half away from zero */
  r = (x - n * ln2_hi) - n * ln2_lo;
  p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
  k = (int)n;
  if (k < -126) { /* subnormal result: scale in two steps so no intermediate underflows early */
    return p * sparsec_exp2i(k + 64) * sparsec_exp2i(-64);
  }
  if (k > 127) {
    return p * sparsec_exp2i(k - 1) * 2.0f;
  }
  return p * sparsec_exp2i(k);
}

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
    /* Subtract the row max so e^x never overflows; a NaN anywhere still yields NaN below. */
    for (j = 1; j < n; j++) {
      vmax = xi[j] > vmax ? xi[j] : vmax;
    }
    /* xi[j] is read before yi[j] is written, so y == x is safe. */
    for (j = 0; j < n; j++) {
      const float e = sparsec_expf(xi[j] - vmax);
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
