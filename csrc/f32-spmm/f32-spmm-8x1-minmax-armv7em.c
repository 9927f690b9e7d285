/* Block-sparse (BSR, 8x1 blocks) weight times dense input with bias and fused clamp: Cortex-M4F/M7
 * (Armv7E-M with a single-precision FPU, Thumb-2; hard-float or softfp ABI).
 *
 * An 8x1 block is one input column for 8 consecutive output rows: one index and one x load serve
 * 8 weights. The block-row loop is inline assembly (as in the CSR kernel: gcc and clang use
 * neither vldmia nor the scaled-index integer load): 2 blocks take `vldmia val!, {s8-s23}`
 * (their 16 values), 2 index loads, 2 `ldr t, [x, t, lsl #2]`, one `vmov s0, s1, t0, t1` and 16
 * vfma, plus subs/bne: 24 instructions per 16 weights. One fused multiply-add per weight, in
 * block order, so each row's sum differs from the scalar kernel only by rounding. Rows past n in
 * the last block row are computed from the padding and not stored. The clamp is
 * compare-and-select, so NaN propagates exactly as in the scalar kernel. */
#if !defined(__thumb2__) || !defined(__ARM_ARCH_7EM__) || !defined(__ARM_FP) || !(__ARM_FP & 4)
#error "f32-spmm-8x1-minmax-armv7em.c is for Armv7E-M with an FPU (-mcpu=cortex-m4 -mfpu=...)"
#endif

#include <sparsec/kernels.h>

/* 8 rows += the values in s<V>..s<V+7> times the x value in XS. */
#define SPARSEC_FMA8X1(XS, V0, V1, V2, V3, V4, V5, V6, V7)                                   \
  "vfma.f32 %[a0], " V0 ", " XS "\n\t"                                                       \
  "vfma.f32 %[a1], " V1 ", " XS "\n\t"                                                       \
  "vfma.f32 %[a2], " V2 ", " XS "\n\t"                                                       \
  "vfma.f32 %[a3], " V3 ", " XS "\n\t"                                                       \
  "vfma.f32 %[a4], " V4 ", " XS "\n\t"                                                       \
  "vfma.f32 %[a5], " V5 ", " XS "\n\t"                                                       \
  "vfma.f32 %[a6], " V6 ", " XS "\n\t"                                                       \
  "vfma.f32 %[a7], " V7 ", " XS "\n\t"

/* A0..A7 += the nb blocks at idx/val; idx and val end past them. Pairs of blocks, then one. */
#define SPARSEC_BLOCKROW_8X1_ASM(IDX2, LD1, IDX_P, VAL_P, X_P, NB, A0, A1, A2, A3, A4, A5, A6,  \
                                 A7)                                                         \
  do {                                                                                       \
    uint32_t t0_, t1_, pairs_;                                                               \
    __asm__ volatile(                                                                        \
        "lsrs %[pairs], %[nb], #1\n\t"                                                       \
        "beq 2f\n"                                                                           \
        "1:\n\t"                                                                             \
        "vldmia %[val]!, {s8-s23}\n\t" IDX2                                                  \
        "ldr %[t0], [%[x], %[t0], lsl #2]\n\t"                                               \
        "ldr %[t1], [%[x], %[t1], lsl #2]\n\t"                                               \
        "vmov s0, s1, %[t0], %[t1]\n\t"                                                      \
        SPARSEC_FMA8X1("s0", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15")           \
        SPARSEC_FMA8X1("s1", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23")         \
        "subs %[pairs], %[pairs], #1\n\t"                                                    \
        "bne 1b\n"                                                                           \
        "2:\n\t"                                                                             \
        "lsls %[t0], %[nb], #31\n\t" /* N = bit 0 of nb */                                   \
        "bpl 3f\n\t"                                                                         \
        "vldmia %[val]!, {s8-s15}\n\t" LD1                                                   \
        "ldr %[t0], [%[x], %[t0], lsl #2]\n\t"                                               \
        "vmov s0, %[t0]\n\t"                                                                 \
        SPARSEC_FMA8X1("s0", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15")           \
        "3:\n"                                                                               \
        : [idx] "+r"(IDX_P), [val] "+r"(VAL_P), [a0] "+t"(A0), [a1] "+t"(A1), [a2] "+t"(A2), \
          [a3] "+t"(A3), [a4] "+t"(A4), [a5] "+t"(A5), [a6] "+t"(A6), [a7] "+t"(A7),         \
          [t0] "=&r"(t0_), [t1] "=&r"(t1_),                                                  \
          [pairs] "=&r"(pairs_)                                                              \
        : [x] "r"(X_P), [nb] "r"(NB)                                                         \
        : "cc", "memory", "s0", "s1", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15",  \
          "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23");                           \
  } while (0)

static float sparsec_bspmm81_clamp(float v, float ymin, float ymax) {
  v = v < ymin ? ymin : v;
  v = v > ymax ? ymax : v;
  return v;
}

#define SPARSEC_F32_SPMM_8X1_ARMV7EM(NAME, INDEX_T, IDX2, LD1)                                \
  void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,           \
            const INDEX_T *indices, const float *values, const float *bias, float *y,       \
            float ymin, float ymax) {                                                       \
    const size_t block_rows = (n + 7) / 8;                                                  \
    size_t i;                                                                               \
    for (i = 0; i < m; i++) {                                                               \
      const float *xi = x + i * k;                                                          \
      const INDEX_T *idx = indices;                                                         \
      const float *val = values;                                                            \
      float *yi = y + i * n;                                                                \
      size_t br;                                                                            \
      for (br = 0; br < block_rows; br++) {                                                 \
        const size_t r0 = br * 8;                                                           \
        const uint32_t nb = indptr[br + 1] - indptr[br];                                    \
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;                                   \
        float a4 = 0.0f, a5 = 0.0f, a6 = 0.0f, a7 = 0.0f;                                   \
        float acc[8];                                                                       \
        size_t a;                                                                           \
        SPARSEC_BLOCKROW_8X1_ASM(IDX2, LD1, idx, val, xi, nb, a0, a1, a2, a3, a4, a5, a6, a7); \
        acc[0] = a0;                                                                        \
        acc[1] = a1;                                                                        \
        acc[2] = a2;                                                                        \
        acc[3] = a3;                                                                        \
        acc[4] = a4;                                                                        \
        acc[5] = a5;                                                                        \
        acc[6] = a6;                                                                        \
        acc[7] = a7;                                                                        \
        for (a = 0; a < 8 && r0 + a < n; a++) {                                             \
          const float v = bias != NULL ? acc[a] + bias[r0 + a] : acc[a];                    \
          yi[r0 + a] = sparsec_bspmm81_clamp(v, ymin, ymax);                                \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }

SPARSEC_F32_SPMM_8X1_ARMV7EM(sparsec_f32_spmm_minmax_ukernel_8x1_u8__armv7em, uint8_t,
                             "ldrb %[t0], [%[idx]], #1\n\tldrb %[t1], [%[idx]], #1\n\t",
                             "ldrb %[t0], [%[idx]], #1\n\t")
SPARSEC_F32_SPMM_8X1_ARMV7EM(sparsec_f32_spmm_minmax_ukernel_8x1_u16__armv7em, uint16_t,
                             "ldrh %[t0], [%[idx]], #2\n\tldrh %[t1], [%[idx]], #2\n\t",
                             "ldrh %[t0], [%[idx]], #2\n\t")
SPARSEC_F32_SPMM_8X1_ARMV7EM(sparsec_f32_spmm_minmax_ukernel_8x1_i32__armv7em, int32_t,
                             "ldrd %[t0], %[t1], [%[idx]], #8\n\t", "ldr %[t0], [%[idx]], #4\n\t")
