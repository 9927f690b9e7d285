/* Dense GEMM/GEMV with bias and fused clamp: Cortex-M4F/M7 (Armv7E-M with a single-precision
 * FPU, Thumb-2; hard-float or softfp ABI).
 *
 * The dot products are inline assembly because gcc and clang load each float with its own
 * vldr (plus pointer updates); `vldmia p!, {s0-s7}` loads 8 floats in one instruction.
 * Tile: 4 outputs per sample, so a block of 8 x values is loaded once for 4 weight rows:
 * 5 vldmia + 32 vfma + subs/bne = 39 instructions per 32 multiply-adds. The last k % 8 run
 * through 4-, 2- and 1-wide blocks chosen by the bits of k; the last n % 4 outputs use a
 * 1-output version (11 instructions per 8). One fused multiply-add per product, in order,
 * so each sum differs from the scalar kernel (separate multiply and add) only by rounding.
 * The clamp is compare-and-select, so NaN propagates exactly as in the scalar kernel. */
#if !defined(__thumb2__) || !defined(__ARM_ARCH_7EM__) || !defined(__ARM_FP) || !(__ARM_FP & 4)
#error "f32-gemm-minmax-armv7em.c is for Armv7E-M with an FPU (-mcpu=cortex-m4 -mfpu=fpv4-sp-d16)"
#endif

#include <sparsec/kernels.h>

/* A += x[0..w) * w-row[0..w) for the x block in s0.. and the weight block in s8... */
#define SPARSEC_FMA8(A)                                                                      \
  "vfma.f32 " A ", s0, s8\n\t"                                                               \
  "vfma.f32 " A ", s1, s9\n\t"                                                               \
  "vfma.f32 " A ", s2, s10\n\t"                                                              \
  "vfma.f32 " A ", s3, s11\n\t"                                                              \
  "vfma.f32 " A ", s4, s12\n\t"                                                              \
  "vfma.f32 " A ", s5, s13\n\t"                                                              \
  "vfma.f32 " A ", s6, s14\n\t"                                                              \
  "vfma.f32 " A ", s7, s15\n\t"
#define SPARSEC_FMA4(A)                                                                      \
  "vfma.f32 " A ", s0, s8\n\t"                                                               \
  "vfma.f32 " A ", s1, s9\n\t"                                                               \
  "vfma.f32 " A ", s2, s10\n\t"                                                              \
  "vfma.f32 " A ", s3, s11\n\t"
#define SPARSEC_FMA2(A) "vfma.f32 " A ", s0, s8\n\t" "vfma.f32 " A ", s1, s9\n\t"
#define SPARSEC_FMA1(A) "vfma.f32 " A ", s0, s8\n\t"

/* One block of width WIDTH (register lists XS for x, WS for w) for 4 or 1 weight rows. */
#define SPARSEC_BLOCK4(XS, WS, FMA)                                                          \
  "vldmia %[x]!, {" XS "}\n\t"                                                               \
  "vldmia %[w0]!, {" WS "}\n\t" FMA("%[a0]")                                                 \
  "vldmia %[w1]!, {" WS "}\n\t" FMA("%[a1]")                                                 \
  "vldmia %[w2]!, {" WS "}\n\t" FMA("%[a2]")                                                 \
  "vldmia %[w3]!, {" WS "}\n\t" FMA("%[a3]")
#define SPARSEC_BLOCK1(XS, WS, FMA)                                                          \
  "vldmia %[x]!, {" XS "}\n\t"                                                               \
  "vldmia %[w0]!, {" WS "}\n\t" FMA("%[a0]")

/* The k loop: 8-wide blocks, then bit 2, bit 1 and bit 0 of k (lsls puts bit 2 of k in C
 * and bit 1 in N, then bit 0 in N). */
#define SPARSEC_DOT_LOOP(BLOCK)                                                              \
  "lsrs %[blocks], %[k], #3\n\t"                                                             \
  "beq 2f\n"                                                                                 \
  "1:\n\t" BLOCK("s0-s7", "s8-s15", SPARSEC_FMA8)                                            \
  "subs %[blocks], %[blocks], #1\n\t"                                                        \
  "bne 1b\n"                                                                                 \
  "2:\n\t"                                                                                   \
  "lsls %[blocks], %[k], #30\n\t"                                                            \
  "bcc 3f\n\t" BLOCK("s0-s3", "s8-s11", SPARSEC_FMA4)                                        \
  "3:\n\t"                                                                                   \
  "bpl 4f\n\t" BLOCK("s0-s1", "s8-s9", SPARSEC_FMA2)                                         \
  "4:\n\t"                                                                                   \
  "lsls %[blocks], %[k], #31\n\t"                                                            \
  "bpl 5f\n\t" BLOCK("s0", "s8", SPARSEC_FMA1)                                               \
  "5:\n"

#define SPARSEC_S0_S15                                                                       \
  "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",    \
      "s14", "s15"

static float sparsec_gemm_clamp(float v, float ymin, float ymax) {
  v = v < ymin ? ymin : v;
  v = v > ymax ? ymax : v;
  return v;
}

void sparsec_f32_gemm_minmax_ukernel__armv7em(size_t m, size_t n, size_t k, const float *x,
                                              const float *w, const float *bias, float *y,
                                              float ymin, float ymax) {
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    size_t i;
    for (i = 0; i < m; i++) {
      const float *xp = x + i * k;
      const float *w0 = w + j * k;
      const float *w1 = w0 + k;
      const float *w2 = w1 + k;
      const float *w3 = w2 + k;
      float *yi = y + i * n + j;
      float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
      uint32_t blocks;
      if (bias != NULL) {
        a0 = bias[j];
        a1 = bias[j + 1];
        a2 = bias[j + 2];
        a3 = bias[j + 3];
      }
      __asm__ volatile(SPARSEC_DOT_LOOP(SPARSEC_BLOCK4)
                       : [x] "+r"(xp), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2),
                         [w3] "+r"(w3), [a0] "+t"(a0), [a1] "+t"(a1), [a2] "+t"(a2),
                         [a3] "+t"(a3), [blocks] "=&r"(blocks)
                       : [k] "r"(k)
                       : "cc", "memory", SPARSEC_S0_S15);
      yi[0] = sparsec_gemm_clamp(a0, ymin, ymax);
      yi[1] = sparsec_gemm_clamp(a1, ymin, ymax);
      yi[2] = sparsec_gemm_clamp(a2, ymin, ymax);
      yi[3] = sparsec_gemm_clamp(a3, ymin, ymax);
    }
  }
  for (; j < n; j++) {
    size_t i;
    for (i = 0; i < m; i++) {
      const float *xp = x + i * k;
      const float *w0 = w + j * k;
      float a0 = bias != NULL ? bias[j] : 0.0f;
      uint32_t blocks;
      __asm__ volatile(SPARSEC_DOT_LOOP(SPARSEC_BLOCK1)
                       : [x] "+r"(xp), [w0] "+r"(w0), [a0] "+t"(a0), [blocks] "=&r"(blocks)
                       : [k] "r"(k)
                       : "cc", "memory", SPARSEC_S0_S15);
      y[i * n + j] = sparsec_gemm_clamp(a0, ymin, ymax);
    }
  }
}
