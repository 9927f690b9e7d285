/* Block-sparse (BSR, 1x4 blocks) weight times dense input with bias and fused clamp: Cortex-M4F/M7
 * (Armv7E-M with a single-precision FPU, Thumb-2; hard-float or softfp ABI).
 *
 * A 1x4 block is 4 consecutive inputs of one output row: one index serves 4 weights and x under
 * the block is one `vldmia` from x + 16 * index (the address is one `add t, x, t, lsl #4`). The
 * row loop is inline assembly (gcc and clang never emit vldmia): 2 blocks take one vldmia of
 * their 8 values, 2 index loads, 2 adds, 2 vldmia of x and 8 vfma, plus subs/bne: 17
 * instructions per 8 weights. When k % 4 != 0 the last block of a row may reach past x's row;
 * that block alone (the only one that can, since block columns are ascending) runs in C over
 * its columns inside k. Two accumulators (even and odd columns of a block); sums differ from
 * the scalar kernel by reassociation and fused multiply-adds only. The clamp is
 * compare-and-select, so NaN propagates exactly as in the scalar kernel. */
#if !defined(__thumb2__) || !defined(__ARM_ARCH_7EM__) || !defined(__ARM_FP) || !(__ARM_FP & 4)
#error "f32-spmm-1x4-minmax-armv7em.c is for Armv7E-M with an FPU (-mcpu=cortex-m4 -mfpu=...)"
#endif

#include <sparsec/kernels.h>

/* a0 += even products, a1 += odd products of the x block in s<X>.. and values in s<V>... */
#define SPARSEC_FMA1X4(X0, X1, X2, X3, V0, V1, V2, V3)                                       \
  "vfma.f32 %[a0], " X0 ", " V0 "\n\t"                                                       \
  "vfma.f32 %[a1], " X1 ", " V1 "\n\t"                                                       \
  "vfma.f32 %[a0], " X2 ", " V2 "\n\t"                                                       \
  "vfma.f32 %[a1], " X3 ", " V3 "\n\t"

/* a0/a1 += the nb whole blocks at idx/val; idx and val end past them. */
#define SPARSEC_ROW_1X4_ASM(IDX2, LD1, IDX_P, VAL_P, X_P, NB, A0, A1)                          \
  do {                                                                                       \
    uint32_t t0_, t1_, pairs_;                                                               \
    __asm__ volatile(                                                                        \
        "lsrs %[pairs], %[nb], #1\n\t"                                                       \
        "beq 2f\n"                                                                           \
        "1:\n\t"                                                                             \
        "vldmia %[val]!, {s8-s15}\n\t" IDX2                                                  \
        "add %[t0], %[x], %[t0], lsl #4\n\t"                                                 \
        "add %[t1], %[x], %[t1], lsl #4\n\t"                                                 \
        "vldmia %[t0], {s0-s3}\n\t"                                                          \
        "vldmia %[t1], {s4-s7}\n\t"                                                          \
        SPARSEC_FMA1X4("s0", "s1", "s2", "s3", "s8", "s9", "s10", "s11")                     \
        SPARSEC_FMA1X4("s4", "s5", "s6", "s7", "s12", "s13", "s14", "s15")                   \
        "subs %[pairs], %[pairs], #1\n\t"                                                    \
        "bne 1b\n"                                                                           \
        "2:\n\t"                                                                             \
        "lsls %[t0], %[nb], #31\n\t" /* N = bit 0 of nb */                                   \
        "bpl 3f\n\t"                                                                         \
        "vldmia %[val]!, {s8-s11}\n\t" LD1                                                   \
        "add %[t0], %[x], %[t0], lsl #4\n\t"                                                 \
        "vldmia %[t0], {s0-s3}\n\t"                                                          \
        SPARSEC_FMA1X4("s0", "s1", "s2", "s3", "s8", "s9", "s10", "s11")                     \
        "3:\n"                                                                               \
        : [idx] "+r"(IDX_P), [val] "+r"(VAL_P), [a0] "+t"(A0), [a1] "+t"(A1),                \
          [t0] "=&r"(t0_), [t1] "=&r"(t1_), [pairs] "=&r"(pairs_)                            \
        : [x] "r"(X_P), [nb] "r"(NB)                                                         \
        : "cc", "memory", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",  \
          "s11", "s12", "s13", "s14", "s15");                                                \
  } while (0)

#define SPARSEC_F32_SPMM_1X4_ARMV7EM(NAME, INDEX_T, IDX2, LD1)                                \
  void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,           \
            const INDEX_T *indices, const float *values, const float *bias, float *y,       \
            float ymin, float ymax) {                                                       \
    size_t i;                                                                               \
    for (i = 0; i < m; i++) {                                                               \
      const float *xi = x + i * k;                                                          \
      float *yi = y + i * n;                                                                \
      size_t r;                                                                             \
      for (r = 0; r < n; r++) {                                                             \
        const size_t start = (size_t)indptr[r];                                             \
        uint32_t nb = indptr[r + 1] - indptr[r];                                            \
        const INDEX_T *idx = indices + start;                                               \
        const float *val = values + start * 4;                                              \
        float a0 = bias != NULL ? bias[r] : 0.0f;                                           \
        float a1 = 0.0f;                                                                    \
        if (nb != 0 && (size_t)idx[nb - 1] * 4 + 4 > k) { /* the ragged last block */       \
          const size_t c0 = (size_t)idx[nb - 1] * 4;                                        \
          const float *v = val + (nb - 1) * 4;                                              \
          size_t b;                                                                         \
          for (b = 0; c0 + b < k; b++) {                                                    \
            a1 += v[b] * xi[c0 + b];                                                        \
          }                                                                                 \
          nb--;                                                                             \
        }                                                                                   \
        SPARSEC_ROW_1X4_ASM(IDX2, LD1, idx, val, xi, nb, a0, a1);                           \
        a0 += a1;                                                                           \
        a0 = a0 < ymin ? ymin : a0;                                                         \
        a0 = a0 > ymax ? ymax : a0;                                                         \
        yi[r] = a0;                                                                         \
      }                                                                                     \
    }                                                                                       \
  }

SPARSEC_F32_SPMM_1X4_ARMV7EM(sparsec_f32_spmm_minmax_ukernel_1x4_u8__armv7em, uint8_t,
                             "ldrb %[t0], [%[idx]], #1\n\tldrb %[t1], [%[idx]], #1\n\t",
                             "ldrb %[t0], [%[idx]], #1\n\t")
SPARSEC_F32_SPMM_1X4_ARMV7EM(sparsec_f32_spmm_minmax_ukernel_1x4_u16__armv7em, uint16_t,
                             "ldrh %[t0], [%[idx]], #2\n\tldrh %[t1], [%[idx]], #2\n\t",
                             "ldrh %[t0], [%[idx]], #2\n\t")
SPARSEC_F32_SPMM_1X4_ARMV7EM(sparsec_f32_spmm_minmax_ukernel_1x4_i32__armv7em, int32_t,
                             "ldrd %[t0], %[t1], [%[idx]], #8\n\t", "ldr %[t0], [%[idx]], #4\n\t")
