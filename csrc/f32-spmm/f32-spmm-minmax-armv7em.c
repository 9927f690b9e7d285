/* CSR-sparse weight times dense input with bias and fused clamp: Cortex-M4F/M7 (Armv7E-M with a
 * single-precision FPU, Thumb-2; hard-float or softfp ABI).
 *
 * The row loop is inline assembly because gcc and clang emit, per nonzero, an index load, an
 * address add, two vldr and a multiply-add plus loop overhead (7.2 instructions at -O2; the
 * scalar kernel, built with -std=c99, which turns off FMA contraction, takes 9.3 per nonzero on
 * a 784->300 layer); they never use the two instructions that make the difference:
 *  - `vldmia val!, {s8-s15}` loads 8 values in one instruction;
 *  - x[index] is loaded with the integer `ldr t, [x, t, lsl #2]` (the scaled index folded into
 *    the addressing mode, which vldr lacks) and two such words move to the FPU with one
 *    `vmov s0, s1, t0, t1`.
 * So 8 nonzeros take 1 vldmia + 8 index loads + 8 ldr + 4 vmov + 8 vfma + subs/bne = 31
 * instructions (3.9 per nonzero); the last nnz % 8 run through 4-, 2- and 1-wide blocks chosen
 * by the bits of nnz (no scalar loop). With int32 indices, ldrd loads two indices at once (27
 * instructions per 8).
 * Each row has two accumulators (even and odd nonzeros) and one fused multiply-add per
 * nonzero, so results match the scalar kernel within float32 reassociation, not bit for bit.
 * The clamp is compare-and-select, so NaN propagates exactly as in the scalar kernel.
 * The CSR walk carries the index and value pointers from row to row, so a row costs its
 * nonzeros plus about 25 instructions.
 * Batches go two samples per pass (then one): each index and value is loaded once for both,
 * so 8 nonzeros cost 51 instructions for two samples (3.2 per nonzero and sample). */
#if !defined(__thumb2__) || !defined(__ARM_ARCH_7EM__) || !defined(__ARM_FP) || !(__ARM_FP & 4)
#error "f32-spmm-minmax-armv7em.c is for Armv7E-M with an FPU (-mcpu=cortex-m4 -mfpu=fpv4-sp-d16)"
#endif

#include <sparsec/kernels.h>

/* Loads 4 x words at the indices in t0..t3 and moves them to s<D>..s<D+3>. */
#define SPARSEC_X4(D0, D1, D2, D3)                                                           \
  "ldr %[t0], [%[x], %[t0], lsl #2]\n\t"                                                     \
  "ldr %[t1], [%[x], %[t1], lsl #2]\n\t"                                                     \
  "ldr %[t2], [%[x], %[t2], lsl #2]\n\t"                                                     \
  "ldr %[t3], [%[x], %[t3], lsl #2]\n\t"                                                     \
  "vmov " D0 ", " D1 ", %[t0], %[t1]\n\t"                                                    \
  "vmov " D2 ", " D3 ", %[t2], %[t3]\n\t"

/* Index loads, post-incremented: 4 into t0..t3, 2 into t0..t1, 1 into t0. */
#define SPARSEC_IDX4_N(LD, STEP)                                                             \
  LD " %[t0], [%[idx]], #" STEP "\n\t" LD " %[t1], [%[idx]], #" STEP "\n\t"                  \
  LD " %[t2], [%[idx]], #" STEP "\n\t" LD " %[t3], [%[idx]], #" STEP "\n\t"
#define SPARSEC_IDX2_N(LD, STEP)                                                             \
  LD " %[t0], [%[idx]], #" STEP "\n\t" LD " %[t1], [%[idx]], #" STEP "\n\t"
#define SPARSEC_IDX4_I32                                                                     \
  "ldrd %[t0], %[t1], [%[idx]], #8\n\t"                                                      \
  "ldrd %[t2], %[t3], [%[idx]], #8\n\t"
#define SPARSEC_IDX2_I32 "ldrd %[t0], %[t1], [%[idx]], #8\n\t"

/* acc0 += sum of the even nonzeros, acc1 += the odd ones, over nnz entries from idx/val;
 * idx and val end just past the row. s0-s15 are scratch (caller-saved in the AAPCS). */
#define SPARSEC_ROW_ASM(IDX4, IDX2, LD1, IDX_P, VAL_P, X_P, NNZ, ACC0, ACC1)                   \
  do {                                                                                       \
    uint32_t t0_, t1_, t2_, t3_, blocks_;                                                    \
    __asm__ volatile(                                                                        \
        "lsrs %[blocks], %[n], #3\n\t"                                                       \
        "beq 2f\n"                                                                           \
        "1:\n\t"                                                                             \
        "vldmia %[val]!, {s8-s15}\n\t"                                                       \
        IDX4 SPARSEC_X4("s0", "s1", "s2", "s3")                                              \
        IDX4 SPARSEC_X4("s4", "s5", "s6", "s7")                                              \
        "vfma.f32 %[a0], s0, s8\n\t"                                                         \
        "vfma.f32 %[a1], s1, s9\n\t"                                                         \
        "vfma.f32 %[a0], s2, s10\n\t"                                                        \
        "vfma.f32 %[a1], s3, s11\n\t"                                                        \
        "vfma.f32 %[a0], s4, s12\n\t"                                                        \
        "vfma.f32 %[a1], s5, s13\n\t"                                                        \
        "vfma.f32 %[a0], s6, s14\n\t"                                                        \
        "vfma.f32 %[a1], s7, s15\n\t"                                                        \
        "subs %[blocks], %[blocks], #1\n\t"                                                  \
        "bne 1b\n"                                                                           \
        "2:\n\t" /* C = bit 2 of nnz, N = bit 1 */                                           \
        "lsls %[t0], %[n], #30\n\t"                                                          \
        "bcc 3f\n\t"                                                                         \
        "vldmia %[val]!, {s8-s11}\n\t"                                                       \
        IDX4 SPARSEC_X4("s0", "s1", "s2", "s3")                                              \
        "vfma.f32 %[a0], s0, s8\n\t"                                                         \
        "vfma.f32 %[a1], s1, s9\n\t"                                                         \
        "vfma.f32 %[a0], s2, s10\n\t"                                                        \
        "vfma.f32 %[a1], s3, s11\n"                                                          \
        "3:\n\t"                                                                             \
        "bpl 4f\n\t"                                                                         \
        "vldmia %[val]!, {s8-s9}\n\t"                                                        \
        IDX2                                                                                 \
        "ldr %[t0], [%[x], %[t0], lsl #2]\n\t"                                               \
        "ldr %[t1], [%[x], %[t1], lsl #2]\n\t"                                               \
        "vmov s0, s1, %[t0], %[t1]\n\t"                                                      \
        "vfma.f32 %[a0], s0, s8\n\t"                                                         \
        "vfma.f32 %[a1], s1, s9\n"                                                           \
        "4:\n\t" /* N = bit 0 of nnz */                                                      \
        "lsls %[t0], %[n], #31\n\t"                                                          \
        "bpl 5f\n\t"                                                                         \
        "vldmia %[val]!, {s8}\n\t"                                                           \
        LD1                                                                                  \
        "ldr %[t0], [%[x], %[t0], lsl #2]\n\t"                                               \
        "vmov s0, %[t0]\n\t"                                                                 \
        "vfma.f32 %[a0], s0, s8\n"                                                           \
        "5:\n"                                                                               \
        : [idx] "+r"(IDX_P), [val] "+r"(VAL_P), [a0] "+t"(ACC0), [a1] "+t"(ACC1),                \
          [t0] "=&r"(t0_), [t1] "=&r"(t1_), [t2] "=&r"(t2_), [t3] "=&r"(t3_),                \
          [blocks] "=&r"(blocks_)                                                            \
        : [x] "r"(X_P), [n] "r"(NNZ)                                                           \
        : "cc", "memory", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",  \
          "s11", "s12", "s13", "s14", "s15");                                                \
  } while (0)

/* Two samples (x rows X0 and X1) per pass: each index and value is loaded once for both.
 * Per pair of nonzeros (values in V0, V1; indices in t0, t1): 4 ldr, 2 vmov, 4 vfma. */
#define SPARSEC_PAIR2(V0, V1)                                                                \
  "ldr %[u0], [%[x0], %[t0], lsl #2]\n\t"                                                    \
  "ldr %[u1], [%[x0], %[t1], lsl #2]\n\t"                                                    \
  "ldr %[t0], [%[x1], %[t0], lsl #2]\n\t"                                                    \
  "ldr %[t1], [%[x1], %[t1], lsl #2]\n\t"                                                    \
  "vmov s0, s1, %[u0], %[u1]\n\t"                                                            \
  "vmov s2, s3, %[t0], %[t1]\n\t"                                                            \
  "vfma.f32 %[a0], s0, " V0 "\n\t"                                                           \
  "vfma.f32 %[a1], s1, " V1 "\n\t"                                                           \
  "vfma.f32 %[c0], s2, " V0 "\n\t"                                                           \
  "vfma.f32 %[c1], s3, " V1 "\n\t"

/* As SPARSEC_ROW_ASM for two samples: a0/a1 accumulate sample X0, c0/c1 sample X1. 8 nonzeros
 * take 51 instructions for both samples (3.2 per nonzero and sample). */
#define SPARSEC_ROW2_ASM(IDX2, LD1, IDX_P, VAL_P, X0_P, X1_P, NNZ, A0, A1, C0, C1)            \
  do {                                                                                       \
    uint32_t t0_, t1_, u0_, u1_, blocks_;                                                    \
    __asm__ volatile(                                                                        \
        "lsrs %[blocks], %[n], #3\n\t"                                                       \
        "beq 2f\n"                                                                           \
        "1:\n\t"                                                                             \
        "vldmia %[val]!, {s8-s15}\n\t"                                                       \
        IDX2 SPARSEC_PAIR2("s8", "s9")                                                       \
        IDX2 SPARSEC_PAIR2("s10", "s11")                                                     \
        IDX2 SPARSEC_PAIR2("s12", "s13")                                                     \
        IDX2 SPARSEC_PAIR2("s14", "s15")                                                     \
        "subs %[blocks], %[blocks], #1\n\t"                                                  \
        "bne 1b\n"                                                                           \
        "2:\n\t" /* C = bit 2 of nnz, N = bit 1 */                                           \
        "lsls %[t0], %[n], #30\n\t"                                                          \
        "bcc 3f\n\t"                                                                         \
        "vldmia %[val]!, {s8-s11}\n\t"                                                       \
        IDX2 SPARSEC_PAIR2("s8", "s9")                                                       \
        IDX2 SPARSEC_PAIR2("s10", "s11")                                                     \
        "3:\n\t"                                                                             \
        "bpl 4f\n\t"                                                                         \
        "vldmia %[val]!, {s8-s9}\n\t"                                                        \
        IDX2 SPARSEC_PAIR2("s8", "s9")                                                       \
        "4:\n\t" /* N = bit 0 of nnz */                                                      \
        "lsls %[t0], %[n], #31\n\t"                                                          \
        "bpl 5f\n\t"                                                                         \
        "vldmia %[val]!, {s8}\n\t"                                                           \
        LD1                                                                                  \
        "ldr %[u0], [%[x0], %[t0], lsl #2]\n\t"                                              \
        "ldr %[t0], [%[x1], %[t0], lsl #2]\n\t"                                              \
        "vmov s0, s1, %[u0], %[t0]\n\t"                                                      \
        "vfma.f32 %[a0], s0, s8\n\t"                                                         \
        "vfma.f32 %[c0], s1, s8\n"                                                           \
        "5:\n"                                                                               \
        : [idx] "+r"(IDX_P), [val] "+r"(VAL_P), [a0] "+t"(A0), [a1] "+t"(A1), [c0] "+t"(C0), \
          [c1] "+t"(C1), [t0] "=&r"(t0_), [t1] "=&r"(t1_), [u0] "=&r"(u0_), [u1] "=&r"(u1_), \
          [blocks] "=&r"(blocks_)                                                            \
        : [x0] "r"(X0_P), [x1] "r"(X1_P), [n] "r"(NNZ)                                       \
        : "cc", "memory", "s0", "s1", "s2", "s3", "s8", "s9", "s10", "s11", "s12", "s13",    \
          "s14", "s15");                                                                     \
  } while (0)

static float sparsec_spmm_clamp(float v, float ymin, float ymax) {
  v = v < ymin ? ymin : v;
  v = v > ymax ? ymax : v;
  return v;
}

/* Per row: the bias pointer steps by 0 (no bias: it points at a zero) or 1, so there is no
 * branch; the row pointer is the loop counter. */
#define SPARSEC_F32_SPMM_1X1_ARMV7EM(NAME, INDEX_T, IDX4, IDX2, LD1)                          \
  void NAME(size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,           \
            const INDEX_T *indices, const float *values, const float *bias, float *y,       \
            float ymin, float ymax) {                                                       \
    const float zero = 0.0f;                                                                \
    const float *const bias0 = bias != NULL ? bias : &zero;                                 \
    const size_t bias_step = bias != NULL ? 1 : 0;                                          \
    const uint32_t *const indptr_end = indptr + n;                                          \
    size_t i = 0;                                                                           \
    for (; i + 2 <= m; i += 2) {                                                            \
      const float *x0 = x + i * k;                                                          \
      const float *x1 = x0 + k;                                                             \
      const INDEX_T *idx = indices;                                                         \
      const float *val = values;                                                            \
      const float *b = bias0;                                                               \
      const uint32_t *row = indptr;                                                         \
      float *y0 = y + i * n;                                                                \
      float *y1 = y0 + n;                                                                   \
      for (; row != indptr_end; row++) {                                                    \
        const uint32_t nnz = row[1] - row[0];                                               \
        float a0 = *b, a1 = 0.0f, c0 = *b, c1 = 0.0f;                                       \
        b += bias_step;                                                                     \
        SPARSEC_ROW2_ASM(IDX2, LD1, idx, val, x0, x1, nnz, a0, a1, c0, c1);                 \
        *y0++ = sparsec_spmm_clamp(a0 + a1, ymin, ymax);                                    \
        *y1++ = sparsec_spmm_clamp(c0 + c1, ymin, ymax);                                    \
      }                                                                                     \
    }                                                                                       \
    if (i < m) {                                                                            \
      const float *xi = x + i * k;                                                          \
      const INDEX_T *idx = indices;                                                         \
      const float *val = values;                                                            \
      const float *b = bias0;                                                               \
      const uint32_t *row = indptr;                                                         \
      float *yi = y + i * n;                                                                \
      for (; row != indptr_end; row++) {                                                    \
        const uint32_t nnz = row[1] - row[0];                                               \
        float acc0 = *b, acc1 = 0.0f;                                                       \
        b += bias_step;                                                                     \
        SPARSEC_ROW_ASM(IDX4, IDX2, LD1, idx, val, xi, nnz, acc0, acc1);                    \
        *yi++ = sparsec_spmm_clamp(acc0 + acc1, ymin, ymax);                                \
      }                                                                                     \
    }                                                                                       \
  }

SPARSEC_F32_SPMM_1X1_ARMV7EM(sparsec_f32_spmm_minmax_ukernel_1x1_u8__armv7em, uint8_t,
                             SPARSEC_IDX4_N("ldrb", "1"), SPARSEC_IDX2_N("ldrb", "1"),
                             "ldrb %[t0], [%[idx]], #1\n\t")
SPARSEC_F32_SPMM_1X1_ARMV7EM(sparsec_f32_spmm_minmax_ukernel_1x1_u16__armv7em, uint16_t,
                             SPARSEC_IDX4_N("ldrh", "2"), SPARSEC_IDX2_N("ldrh", "2"),
                             "ldrh %[t0], [%[idx]], #2\n\t")
SPARSEC_F32_SPMM_1X1_ARMV7EM(sparsec_f32_spmm_minmax_ukernel_1x1_i32__armv7em, int32_t,
                             SPARSEC_IDX4_I32, SPARSEC_IDX2_I32, "ldr %[t0], [%[idx]], #4\n\t")
