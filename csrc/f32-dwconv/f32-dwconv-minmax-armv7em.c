/* Depthwise 2-D convolution (NCHW, groups = channels, one filter per channel) with bias and fused
 * clamp: Cortex-M4F/M7 (Armv7E-M with a single-precision FPU, Thumb-2; hard-float or softfp ABI).
 *
 * The same direct method as the scalar kernel (no im2col buffer; every tap adds w * x[c]
 * over the rectangle of output pixels its tap reaches inside the input, so padding costs no
 * branches), with the row update y[0..len) += w * x[0..len) (stride 1) in inline assembly:
 * `vldmia` 8 x and 8 y, 8 vfma, `vstmia` the 8 y back, subs/bne: 13 instructions per 8 pixels,
 * where gcc emits a vldr, vldr, multiply-add, vstr and pointer updates per pixel. Strided rows
 * use C. One fused multiply-add per product, in the scalar kernel's order, so each output
 * differs from it only by rounding; the clamp is compare-and-select (NaN propagates). */
#if !defined(__thumb2__) || !defined(__ARM_ARCH_7EM__) || !defined(__ARM_FP) || !(__ARM_FP & 4)
#error "f32-dwconv-minmax-armv7em.c is for Armv7E-M with an FPU (-mcpu=cortex-m4 -mfpu=...)"
#endif

#include <sparsec/kernels.h>

/* y[0..len) += w * x[0..len): 8 at a time, then bits 2, 1 and 0 of len. */
static void sparsec_dwconv_axpy(float *y, const float *x, size_t len, float w) {
  uint32_t blocks, t;
  __asm__ volatile(
      "lsrs %[blocks], %[len], #3\n\t"
      "beq 2f\n"
      "1:\n\t"
      "vldmia %[x]!, {s0-s7}\n\t"
      "vldmia %[y], {s8-s15}\n\t"
      "vfma.f32 s8, s0, %[w]\n\t"
      "vfma.f32 s9, s1, %[w]\n\t"
      "vfma.f32 s10, s2, %[w]\n\t"
      "vfma.f32 s11, s3, %[w]\n\t"
      "vfma.f32 s12, s4, %[w]\n\t"
      "vfma.f32 s13, s5, %[w]\n\t"
      "vfma.f32 s14, s6, %[w]\n\t"
      "vfma.f32 s15, s7, %[w]\n\t"
      "vstmia %[y]!, {s8-s15}\n\t"
      "subs %[blocks], %[blocks], #1\n\t"
      "bne 1b\n"
      "2:\n\t"
      "lsls %[t], %[len], #30\n\t" /* C = bit 2 of len, N = bit 1 */
      "bcc 3f\n\t"
      "vldmia %[x]!, {s0-s3}\n\t"
      "vldmia %[y], {s8-s11}\n\t"
      "vfma.f32 s8, s0, %[w]\n\t"
      "vfma.f32 s9, s1, %[w]\n\t"
      "vfma.f32 s10, s2, %[w]\n\t"
      "vfma.f32 s11, s3, %[w]\n\t"
      "vstmia %[y]!, {s8-s11}\n"
      "3:\n\t"
      "bpl 4f\n\t"
      "vldmia %[x]!, {s0-s1}\n\t"
      "vldmia %[y], {s8-s9}\n\t"
      "vfma.f32 s8, s0, %[w]\n\t"
      "vfma.f32 s9, s1, %[w]\n\t"
      "vstmia %[y]!, {s8-s9}\n"
      "4:\n\t"
      "lsls %[t], %[len], #31\n\t" /* N = bit 0 of len */
      "bpl 5f\n\t"
      "vldr s0, [%[x]]\n\t"
      "vldr s8, [%[y]]\n\t"
      "vfma.f32 s8, s0, %[w]\n\t"
      "vstr s8, [%[y]]\n"
      "5:\n"
      : [x] "+r"(x), [y] "+r"(y), [blocks] "=&r"(blocks), [t] "=&r"(t)
      : [len] "r"(len), [w] "t"(w)
      : "cc", "memory", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
        "s12", "s13", "s14", "s15");
}

/* Output positions [*lo, *hi) (of `out`) whose tap at `offset` (= tap index * dilation) reads
 * inside the input: 0 <= o * stride + offset - pad < in. */
static void sparsec_dwconv_range(size_t out, size_t in, size_t stride, size_t offset, size_t pad,
                                 size_t *lo, size_t *hi) {
  size_t first = 0, last;
  if (in + pad <= offset) {
    *lo = *hi = 0;
    return;
  }
  if (offset < pad) {
    first = stride == 1 ? pad - offset : (pad - offset + stride - 1) / stride;
  }
  last = stride == 1 ? in + pad - offset : (in + pad - offset + stride - 1) / stride;
  last = last < out ? last : out;
  *lo = first < last ? first : last;
  *hi = last;
}

/* yc[oy][ox] += w * xc[iy][ix] over the output pixels whose tap (ky, kx) lies inside the input. */
static void sparsec_dwconv_tap(const struct sparsec_window2d *g, const float *xc, float w,
                               size_t ky, size_t kx, float *yc) {
  const size_t dy = ky * g->dilation_height, dx = kx * g->dilation_width;
  const size_t sw = g->stride_width;
  size_t oy0, oy1, ox0, ox1, oy;
  sparsec_dwconv_range(g->out_height, g->in_height, g->stride_height, dy, g->pad_top, &oy0, &oy1);
  sparsec_dwconv_range(g->out_width, g->in_width, sw, dx, g->pad_left, &ox0, &ox1);
  for (oy = oy0; oy < oy1 && ox0 < ox1; oy++) {
    const float *xr = xc + ((oy * g->stride_height + dy - g->pad_top) * g->in_width +
                            (ox0 * sw + dx - g->pad_left));
    float *yr = yc + oy * g->out_width + ox0;
    if (sw == 1) {
      sparsec_dwconv_axpy(yr, xr, ox1 - ox0, w);
    } else {
      size_t o;
      for (o = 0; o < ox1 - ox0; o++) {
        yr[o] += w * xr[o * sw];
      }
    }
  }
}

static void sparsec_dwconv_fill(float *yc, size_t size, float v) {
  size_t i;
  for (i = 0; i < size; i++) {
    yc[i] = v;
  }
}

static void sparsec_dwconv_clamp(float *yc, size_t size, float ymin, float ymax) {
  size_t i;
  for (i = 0; i < size; i++) {
    float v = yc[i];
    v = v < ymin ? ymin : v;
    v = v > ymax ? ymax : v;
    yc[i] = v;
  }
}

void sparsec_f32_dwconv_minmax_ukernel__armv7em(size_t batch, size_t channels,
                                                const struct sparsec_window2d *g, const float *x,
                                                const float *w, const float *bias, float *y,
                                                float ymin, float ymax) {
  const size_t kh = g->kernel_height, kw = g->kernel_width;
  const size_t in_plane = g->in_height * g->in_width;
  const size_t out_plane = g->out_height * g->out_width;
  size_t plane;
  for (plane = 0; plane < batch * channels; plane++) {
    const size_t c = plane % channels;
    float *yc = y + plane * out_plane;
    size_t ky, kx;
    sparsec_dwconv_fill(yc, out_plane, bias != NULL ? bias[c] : 0.0f);
    for (ky = 0; ky < kh; ky++) {
      for (kx = 0; kx < kw; kx++) {
        sparsec_dwconv_tap(g, x + plane * in_plane, w[(c * kh + ky) * kw + kx], ky, kx, yc);
      }
    }
    sparsec_dwconv_clamp(yc, out_plane, ymin, ymax);
  }
}
