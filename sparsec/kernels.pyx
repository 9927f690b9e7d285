# cython: language_level=3, boundscheck=False, wraparound=False
"""NumPy-level wrappers over the portable (scalar) C kernels in ``csrc/``.

These are the very kernels that generated C calls, exposed for tests, benchmarks and
quick experiments. Every argument is validated before the C runs, so bad input raises
``TypeError`` (wrong type or dtype) or ``ValueError`` (wrong ndim, shape, layout, CSR
structure, out-of-range index, overlapping output) instead of crashing. The C itself runs
with the GIL released.

Arrays must be ``numpy.ndarray`` of native float32 and C-contiguous; nothing is copied or
converted implicitly. ``out``, when given, must be a writable float32 C-contiguous array of
the result's shape; it is filled and returned. Only the elementwise kernels (``vbias``,
``vadd``, ``clamp``, ``relu``, ``softmax``) accept an ``out`` that is the input itself;
any other overlap between ``out`` and an input is rejected.

``isa`` picks the kernel variant: ``"scalar"`` (portable C99, the reference; the default)
or ``"avx2"`` (AVX2+FMA, x86-64), per family as listed in ``sparsec.codegen.kernels.KERNELS``.
An ISA this build or this CPU lacks raises ``RuntimeError`` (checked with
``__builtin_cpu_supports``, so an AVX2 kernel never runs on a CPU without it); an ISA the
family has no kernel for raises ``ValueError``. ``available_isas()`` lists the usable ones.
The avx2 gemm/spmm reassociate sums (match scalar within float32 rounding); the elementwise
avx2 kernels are bit-identical to scalar.

Fused clamp (``ymin``/``ymax``): ``v = ymin if v < ymin else v`` then
``v = ymax if v > ymax else v``, so NaN propagates; the defaults (-inf, inf) mean no clamp.
The bounds must not be NaN and ``ymin <= ymax``.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uintptr_t

cimport numpy as cnp
import numpy as np

cnp.import_array()

from sparsec.codegen.kernels import KERNELS

__all__ = ["gemm", "spmm", "vbias", "vadd", "clamp", "relu", "softmax", "available_isas", "isa_supported"]


cdef extern from "sparsec/kernels.h" nogil:
    void sparsec_f32_gemm_minmax_ukernel__scalar(
        size_t m, size_t n, size_t k, const float *x, const float *w, const float *bias,
        float *y, float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_1x1_u8__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint8_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_1x1_u16__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint16_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_1x1_i32__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const int32_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_vbias_minmax_ukernel__scalar(
        size_t m, size_t n, const float *x, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_vadd_minmax_ukernel__scalar(
        size_t n, const float *a, const float *b, float *y, float ymin, float ymax)
    void sparsec_f32_clamp_ukernel__scalar(
        size_t n, const float *x, float *y, float ymin, float ymax)
    void sparsec_f32_softmax_ukernel__scalar(size_t m, size_t n, const float *x, float *y)
    void sparsec_f32_gemm_minmax_ukernel__avx2(
        size_t m, size_t n, size_t k, const float *x, const float *w, const float *bias,
        float *y, float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_1x1_u8__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint8_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_1x1_u16__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint16_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_1x1_i32__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const int32_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_vbias_minmax_ukernel__avx2(
        size_t m, size_t n, const float *x, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_vadd_minmax_ukernel__avx2(
        size_t n, const float *a, const float *b, float *y, float ymin, float ymax)
    void sparsec_f32_clamp_ukernel__avx2(
        size_t n, const float *x, float *y, float ymin, float ymax)


# The AVX2 kernels are linked only on x86-64 (setup.py); elsewhere their names alias the
# scalar ones so this module still links, and _use_avx2() refuses them before any call.
cdef extern from *:
    """
    #if defined(__x86_64__)
    #define SPARSEC_BUILT_AVX2 1
    static int sparsec_cpu_has_avx2_fma(void) {
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    #else
    #define SPARSEC_BUILT_AVX2 0
    static int sparsec_cpu_has_avx2_fma(void) { return 0; }
    #define sparsec_f32_gemm_minmax_ukernel__avx2 sparsec_f32_gemm_minmax_ukernel__scalar
    #define sparsec_f32_spmm_minmax_ukernel_1x1_u8__avx2 sparsec_f32_spmm_minmax_ukernel_1x1_u8__scalar
    #define sparsec_f32_spmm_minmax_ukernel_1x1_u16__avx2 sparsec_f32_spmm_minmax_ukernel_1x1_u16__scalar
    #define sparsec_f32_spmm_minmax_ukernel_1x1_i32__avx2 sparsec_f32_spmm_minmax_ukernel_1x1_i32__scalar
    #define sparsec_f32_vbias_minmax_ukernel__avx2 sparsec_f32_vbias_minmax_ukernel__scalar
    #define sparsec_f32_vadd_minmax_ukernel__avx2 sparsec_f32_vadd_minmax_ukernel__scalar
    #define sparsec_f32_clamp_ukernel__avx2 sparsec_f32_clamp_ukernel__scalar
    #endif
    """
    int SPARSEC_BUILT_AVX2
    int sparsec_cpu_has_avx2_fma() nogil


# Test hook (_pretend_cpu_lacks_avx2): behave as on a CPU without AVX2/FMA.
cdef bint _pretend_no_avx2 = False


def _pretend_cpu_lacks_avx2(bint flag):
    """Tests only: make isa='avx2' fail as it would on a CPU without AVX2/FMA."""
    global _pretend_no_avx2
    _pretend_no_avx2 = flag


#: ISAs compiled into this module (the CPU may still lack some: see available_isas()).
BUILT_ISAS = ("scalar", "avx2") if SPARSEC_BUILT_AVX2 else ("scalar",)


def isa_supported(str isa):
    """True when `isa` is compiled in and this CPU can run it."""
    if isa == "scalar":
        return True
    if isa == "avx2":
        return bool(SPARSEC_BUILT_AVX2) and bool(sparsec_cpu_has_avx2_fma()) and not _pretend_no_avx2
    return False


def available_isas():
    """ISAs usable on this machine, best last (scalar first, as the reference)."""
    return tuple(isa for isa in BUILT_ISAS if isa_supported(isa))


cdef bint _use_avx2(str K, str family, object isa) except -1:
    """False for scalar, True for avx2 when usable; else a clear error (never SIGILL)."""
    if isa == "scalar":
        return False
    have = KERNELS[family].isas
    if isa not in have:
        raise ValueError(f"{K}: no {isa!r} kernel for {family}; it has {', '.join(have)}")
    if isa == "avx2":
        if not SPARSEC_BUILT_AVX2:
            raise RuntimeError(f"{K}: isa='avx2' is not built into sparsec.kernels on this "
                               "platform (x86-64 only); use isa='scalar'")
        if _pretend_no_avx2 or not sparsec_cpu_has_avx2_fma():
            raise RuntimeError(f"{K}: isa='avx2' needs a CPU with AVX2 and FMA, and this one "
                               "lacks them; use isa='scalar'")
        return True
    if isa in ("neon", "armv7em"):
        target = "aarch64-neon" if isa == "neon" else "cortex-m4f"
        raise RuntimeError(f"{K}: isa={isa!r} kernels run only on their target, here under emulation: "
                           f"sparsec.emulate.EmulatedKernels({target!r}); sparsec.kernels runs host "
                           "ISAs only: use isa='scalar'")
    raise RuntimeError(f"{K}: isa={isa!r} is not built into sparsec.kernels")


ctypedef fused index_t:
    uint8_t
    uint16_t
    int32_t


_F32 = np.dtype(np.float32)
_U32 = np.dtype(np.uint32)
# Column-index dtypes the spmm kernels exist for (narrowest first, as `sparsify` picks).
_INDEX_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int32))

# _overlap() results
cdef enum:
    DISJOINT = 0
    SAME = 1
    PARTIAL = 2


cdef object _array(str kernel, str name, object a, object dtype, int ndim):
    """Check that `a` is a C-contiguous ndarray of `dtype` with `ndim` dims (-1: any)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{kernel}: {name} must be a numpy.ndarray of {dtype}, got {type(a).__name__}"
        )
    if a.dtype != dtype:
        raise TypeError(
            f"{kernel}: {name} must have dtype {dtype} (native byte order), got {a.dtype}"
        )
    if ndim >= 0 and a.ndim != ndim:
        raise ValueError(
            f"{kernel}: {name} must be {ndim}-D, got {a.ndim}-D with shape {a.shape}"
        )
    if not a.flags.c_contiguous:
        raise ValueError(
            f"{kernel}: {name} with shape {a.shape} must be C-contiguous "
            "(use numpy.ascontiguousarray)"
        )
    return a


cdef object _f32(str kernel, str name, object a, int ndim):
    return _array(kernel, name, a, _F32, ndim)


cdef object _out(str kernel, object out, tuple shape):
    """Return a fresh result array, or validate the caller's `out`."""
    if out is None:
        return np.empty(shape, dtype=np.float32)
    _f32(kernel, "out", out, len(shape))
    if out.shape != shape:
        raise ValueError(f"{kernel}: out must have shape {shape}, got {out.shape}")
    if not out.flags.writeable:
        raise ValueError(f"{kernel}: out must be writable")
    return out


cdef tuple _bounds(str kernel, object ymin, object ymax):
    """Clamp bounds as floats; the kernels require ymin <= ymax and no NaN."""
    cdef double lo = float(ymin)
    cdef double hi = float(ymax)
    if lo != lo or hi != hi:
        raise ValueError(f"{kernel}: ymin and ymax must not be NaN, got {lo}, {hi}")
    if lo > hi:
        raise ValueError(f"{kernel}: ymin must be <= ymax, got ymin={lo}, ymax={hi}")
    return lo, hi


cdef int _overlap(cnp.ndarray a, cnp.ndarray b):
    """Classify how the memory of two C-contiguous arrays overlaps."""
    cdef uintptr_t a0, a1, b0, b1
    cdef uintptr_t na = <uintptr_t>cnp.PyArray_NBYTES(a)
    cdef uintptr_t nb = <uintptr_t>cnp.PyArray_NBYTES(b)
    if na == 0 or nb == 0:
        return DISJOINT
    # Contiguous arrays occupy exactly [data, data + nbytes), so bounds decide overlap.
    a0 = <uintptr_t>cnp.PyArray_DATA(a)
    b0 = <uintptr_t>cnp.PyArray_DATA(b)
    a1 = a0 + na
    b1 = b0 + nb
    if a0 == b0 and a1 == b1:
        return SAME
    if a0 < b1 and b0 < a1:
        return PARTIAL
    return DISJOINT


cdef int _check_out_overlap(str kernel, object out, object a, str name,
                            bint same_ok) except -1:
    """Reject `out` overlapping input `a`, except exact aliasing when the kernel allows it."""
    cdef int how = _overlap(out, a)
    if how == DISJOINT or (how == SAME and same_ok):
        return 0
    if same_ok:
        raise ValueError(f"{kernel}: out partially overlaps {name}; use {name} itself or "
                         "a separate array")
    raise ValueError(f"{kernel}: out must not share memory with {name} (not an in-place kernel)")


cdef Py_ssize_t _first_decrease(const uint32_t[::1] indptr) noexcept nogil:
    cdef Py_ssize_t r
    for r in range(1, indptr.shape[0]):
        if indptr[r] < indptr[r - 1]:
            return r
    return -1


cdef Py_ssize_t _first_bad_index(const index_t[::1] indices, int64_t k) noexcept nogil:
    cdef Py_ssize_t p
    cdef int64_t v
    for p in range(indices.shape[0]):
        v = <int64_t>indices[p]
        if v < 0 or v >= k:
            return p
    return -1


cdef const float *_optional_f32(object a):
    """Data pointer of a validated float32 C-contiguous array, or NULL for None.

    The pointer outlives the local memoryview because the caller holds ``a``.
    """
    if a is None:
        return NULL
    cdef const float[::1] view = a.reshape(-1)
    return &view[0]


def gemm(x, w, bias=None, ymin=-np.inf, ymax=np.inf, out=None, isa="scalar"):
    """Dense ``clamp(x @ w.T + bias, ymin, ymax)``.

    x: float32 [m, k]; w: float32 [n, k] (output-major, like torch Linear or ONNX Gemm with
    transB=1); bias: float32 [n] or None. Returns float32 [m, n] (``out`` if given; it must
    not overlap any input).
    """
    cdef str K = "gemm"
    cdef bint avx2 = _use_avx2(K, "f32-gemm", isa)
    _f32(K, "x", x, 2)
    _f32(K, "w", w, 2)
    if bias is not None:
        _f32(K, "bias", bias, 1)
    lo, hi = _bounds(K, ymin, ymax)
    m, k = x.shape
    n = w.shape[0]
    if w.shape[1] != k:
        raise ValueError(
            f"{K}: w must have shape (n, {k}) to match x of shape {x.shape}, got {w.shape}"
        )
    if bias is not None and bias.shape[0] != n:
        raise ValueError(f"{K}: bias must have shape ({n},) to match w, got {bias.shape}")
    out = _out(K, out, (m, n))
    _check_out_overlap(K, out, x, "x", False)
    _check_out_overlap(K, out, w, "w", False)
    if bias is not None:
        _check_out_overlap(K, out, bias, "bias", False)

    cdef const float[:, ::1] xv = x
    cdef const float[:, ::1] wv = w
    cdef float[:, ::1] yv = out
    cdef const float *bp = _optional_f32(bias)
    cdef float flo = lo, fhi = hi
    with nogil:
        if avx2:
            sparsec_f32_gemm_minmax_ukernel__avx2(
                <size_t>xv.shape[0], <size_t>wv.shape[0], <size_t>xv.shape[1],
                &xv[0, 0], &wv[0, 0], bp, &yv[0, 0], flo, fhi)
        else:
            sparsec_f32_gemm_minmax_ukernel__scalar(
                <size_t>xv.shape[0], <size_t>wv.shape[0], <size_t>xv.shape[1],
                &xv[0, 0], &wv[0, 0], bp, &yv[0, 0], flo, fhi)
    return out


def spmm(x, indptr, indices, values, bias=None, ymin=-np.inf, ymax=np.inf, out=None, isa="scalar"):
    """Sparse ``clamp(x @ W.T + bias, ymin, ymax)`` with W [n, k] given as CSR.

    x: float32 [m, k]; indptr: uint32 [n + 1] (starts at 0, non-decreasing, ends at nnz);
    indices: uint8, uint16 or int32 [nnz], each in [0, k) (the dtype picks the kernel);
    values: float32 [nnz]; bias: float32 [n] or None. Returns float32 [m, n] (``out`` if
    given; it must not overlap any input).
    """
    cdef str K = "spmm"
    cdef bint avx2 = _use_avx2(K, "f32-spmm-i32", isa)
    _f32(K, "x", x, 2)
    _array(K, "indptr", indptr, _U32, 1)
    if not isinstance(indices, np.ndarray):
        raise TypeError(f"{K}: indices must be a numpy.ndarray of uint8, uint16 or int32, "
                        f"got {type(indices).__name__}")
    if indices.dtype not in _INDEX_DTYPES:
        raise TypeError(f"{K}: indices must have dtype uint8, uint16 or int32 "
                        f"(native byte order), got {indices.dtype}")
    _array(K, "indices", indices, indices.dtype, 1)
    _f32(K, "values", values, 1)
    if bias is not None:
        _f32(K, "bias", bias, 1)
    lo, hi = _bounds(K, ymin, ymax)

    m, k = x.shape
    if indptr.shape[0] < 1:
        raise ValueError(f"{K}: indptr must have n + 1 >= 1 entries, got an empty array")
    n = indptr.shape[0] - 1
    nnz = indices.shape[0]
    if values.shape[0] != nnz:
        raise ValueError(f"{K}: indices and values must have the same length (nnz), "
                         f"got {nnz} and {values.shape[0]}")
    if bias is not None and bias.shape[0] != n:
        raise ValueError(f"{K}: bias must have shape ({n},) = len(indptr) - 1, "
                         f"got {bias.shape}")

    cdef const uint32_t[::1] pv = indptr
    cdef Py_ssize_t bad
    if pv[0] != 0:
        raise ValueError(f"{K}: indptr[0] must be 0, got {pv[0]}")
    with nogil:
        bad = _first_decrease(pv)
    if bad >= 0:
        raise ValueError(f"{K}: indptr must be non-decreasing, got indptr[{bad - 1}] = "
                         f"{pv[bad - 1]} > indptr[{bad}] = {pv[bad]}")
    if pv[n] != nnz:
        raise ValueError(f"{K}: indptr[n] = indptr[{n}] must equal nnz = len(indices) = "
                         f"{nnz}, got {pv[n]}")

    cdef const uint8_t[::1] iv8
    cdef const uint16_t[::1] iv16
    cdef const int32_t[::1] iv32
    cdef int64_t kk = k
    cdef int itype
    if indices.dtype == np.uint8:
        itype = 8
        iv8 = indices
        with nogil:
            bad = _first_bad_index(iv8, kk)
    elif indices.dtype == np.uint16:
        itype = 16
        iv16 = indices
        with nogil:
            bad = _first_bad_index(iv16, kk)
    else:
        itype = 32
        iv32 = indices
        with nogil:
            bad = _first_bad_index(iv32, kk)
    if bad >= 0:
        row = int(np.searchsorted(indptr, bad, side="right")) - 1
        raise ValueError(f"{K}: indices[{bad}] = {indices[bad]} (row {row}) is out of range "
                         f"for x with k = {k} columns; every index must be in [0, {k})")

    out = _out(K, out, (m, n))
    for name, a in (("x", x), ("indptr", indptr), ("indices", indices), ("values", values),
                    ("bias", bias)):
        if a is not None:
            _check_out_overlap(K, out, a, name, False)

    cdef const float[:, ::1] xv = x
    cdef const float[::1] vv = values
    cdef float[:, ::1] yv = out
    cdef const float *bp = _optional_f32(bias)
    cdef size_t cm = <size_t>m, cn = <size_t>n, ck = <size_t>k
    cdef float flo = lo, fhi = hi
    with nogil:
        if avx2:
            if itype == 8:
                sparsec_f32_spmm_minmax_ukernel_1x1_u8__avx2(
                    cm, cn, ck, &xv[0, 0], &pv[0], &iv8[0], &vv[0], bp, &yv[0, 0], flo, fhi)
            elif itype == 16:
                sparsec_f32_spmm_minmax_ukernel_1x1_u16__avx2(
                    cm, cn, ck, &xv[0, 0], &pv[0], &iv16[0], &vv[0], bp, &yv[0, 0], flo, fhi)
            else:
                sparsec_f32_spmm_minmax_ukernel_1x1_i32__avx2(
                    cm, cn, ck, &xv[0, 0], &pv[0], &iv32[0], &vv[0], bp, &yv[0, 0], flo, fhi)
        elif itype == 8:
            sparsec_f32_spmm_minmax_ukernel_1x1_u8__scalar(
                cm, cn, ck, &xv[0, 0], &pv[0], &iv8[0], &vv[0], bp, &yv[0, 0], flo, fhi)
        elif itype == 16:
            sparsec_f32_spmm_minmax_ukernel_1x1_u16__scalar(
                cm, cn, ck, &xv[0, 0], &pv[0], &iv16[0], &vv[0], bp, &yv[0, 0], flo, fhi)
        else:
            sparsec_f32_spmm_minmax_ukernel_1x1_i32__scalar(
                cm, cn, ck, &xv[0, 0], &pv[0], &iv32[0], &vv[0], bp, &yv[0, 0], flo, fhi)
    return out


def vbias(x, bias, ymin=-np.inf, ymax=np.inf, out=None, isa="scalar"):
    """``clamp(x + bias, ymin, ymax)`` with x float32 [m, n] and bias float32 [n].

    ``out`` may be ``x`` itself (in place) but must not overlap ``bias``.
    """
    cdef str K = "vbias"
    cdef bint avx2 = _use_avx2(K, "f32-vbias", isa)
    _f32(K, "x", x, 2)
    _f32(K, "bias", bias, 1)
    lo, hi = _bounds(K, ymin, ymax)
    m, n = x.shape
    if bias.shape[0] != n:
        raise ValueError(f"{K}: bias must have shape ({n},) to match x of shape {x.shape}, "
                         f"got {bias.shape}")
    out = _out(K, out, (m, n))
    _check_out_overlap(K, out, x, "x", True)
    _check_out_overlap(K, out, bias, "bias", False)

    cdef const float[:, ::1] xv = x
    cdef const float[::1] bv = bias
    cdef float[:, ::1] yv = out
    cdef float flo = lo, fhi = hi
    with nogil:
        if avx2:
            sparsec_f32_vbias_minmax_ukernel__avx2(
                <size_t>xv.shape[0], <size_t>xv.shape[1], &xv[0, 0], &bv[0], &yv[0, 0], flo, fhi)
        else:
            sparsec_f32_vbias_minmax_ukernel__scalar(
                <size_t>xv.shape[0], <size_t>xv.shape[1], &xv[0, 0], &bv[0], &yv[0, 0], flo, fhi)
    return out


def vadd(a, b, ymin=-np.inf, ymax=np.inf, out=None, isa="scalar"):
    """Elementwise ``clamp(a + b, ymin, ymax)``; a and b float32 of the same shape (any ndim).

    No broadcasting. ``out`` may be ``a`` or ``b`` itself (in place).
    """
    cdef str K = "vadd"
    cdef bint avx2 = _use_avx2(K, "f32-vadd", isa)
    _f32(K, "a", a, -1)
    _f32(K, "b", b, -1)
    lo, hi = _bounds(K, ymin, ymax)
    if a.shape != b.shape:
        raise ValueError(f"{K}: a and b must have the same shape (no broadcasting), "
                         f"got {a.shape} and {b.shape}")
    out = _out(K, out, a.shape)
    _check_out_overlap(K, out, a, "a", True)
    _check_out_overlap(K, out, b, "b", True)

    cdef const float[::1] av = a.reshape(-1)
    cdef const float[::1] bv = b.reshape(-1)
    cdef float[::1] yv = out.reshape(-1)
    cdef float flo = lo, fhi = hi
    with nogil:
        if avx2:
            sparsec_f32_vadd_minmax_ukernel__avx2(
                <size_t>av.shape[0], &av[0], &bv[0], &yv[0], flo, fhi)
        else:
            sparsec_f32_vadd_minmax_ukernel__scalar(
                <size_t>av.shape[0], &av[0], &bv[0], &yv[0], flo, fhi)
    return out


def clamp(x, ymin, ymax, out=None, isa="scalar"):
    """Elementwise ``clamp(x, ymin, ymax)`` for float32 x of any shape; NaN stays NaN.

    ``out`` may be ``x`` itself (in place).
    """
    return _clamp("clamp", x, ymin, ymax, out, isa)


def relu(x, out=None, isa="scalar"):
    """Elementwise ``max(x, 0)`` as ``clamp(x, 0, inf)``; NaN stays NaN, -0.0 stays -0.0.

    ``out`` may be ``x`` itself (in place).
    """
    return _clamp("relu", x, 0.0, np.inf, out, isa)


cdef object _clamp(str K, object x, object ymin, object ymax, object out, object isa):
    cdef bint avx2 = _use_avx2(K, "f32-clamp", isa)
    _f32(K, "x", x, -1)
    lo, hi = _bounds(K, ymin, ymax)
    out = _out(K, out, x.shape)
    _check_out_overlap(K, out, x, "x", True)

    cdef const float[::1] xv = x.reshape(-1)
    cdef float[::1] yv = out.reshape(-1)
    cdef float flo = lo, fhi = hi
    with nogil:
        if avx2:
            sparsec_f32_clamp_ukernel__avx2(<size_t>xv.shape[0], &xv[0], &yv[0], flo, fhi)
        else:
            sparsec_f32_clamp_ukernel__scalar(<size_t>xv.shape[0], &xv[0], &yv[0], flo, fhi)
    return out


def softmax(x, out=None, isa="scalar"):
    """Softmax over the last axis of float32 x [m, n] (ONNX Softmax, axis=-1).

    Numerically stable (subtracts each row's max). ``out`` may be ``x`` itself (in place).
    """
    cdef str K = "softmax"
    _use_avx2(K, "f32-softmax", isa)  # scalar only: any other ISA raises
    _f32(K, "x", x, 2)
    out = _out(K, out, x.shape)
    _check_out_overlap(K, out, x, "x", True)

    cdef const float[:, ::1] xv = x
    cdef float[:, ::1] yv = out
    with nogil:
        sparsec_f32_softmax_ukernel__scalar(
            <size_t>xv.shape[0], <size_t>xv.shape[1], &xv[0, 0], &yv[0, 0])
    return out


# ------------------------------------------------------------------ block-sparse, conv, pooling

__all__ += ["bspmm", "spconv2d", "conv2d", "dwconv2d", "maxpool2d", "avgpool2d", "global_avgpool"]


cdef extern from "sparsec/kernels.h" nogil:
    cdef struct sparsec_window2d:
        size_t in_height, in_width, out_height, out_width
        size_t kernel_height, kernel_width, stride_height, stride_width
        size_t dilation_height, dilation_width, pad_top, pad_left, pad_bottom, pad_right

    void sparsec_f32_spmm_minmax_ukernel_1x4_u8__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint8_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_1x4_u16__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint16_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_1x4_i32__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const int32_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_4x1_u8__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint8_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_4x1_u16__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint16_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_4x1_i32__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const int32_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_8x1_u8__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint8_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_8x1_u16__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint16_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_8x1_i32__scalar(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const int32_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spconv_minmax_ukernel_u8__scalar(
        size_t batch, size_t in_channels, size_t out_channels, const sparsec_window2d *g,
        const float *x, const uint32_t *indptr, const uint8_t *indices, const float *values,
        const float *bias, float *y, float ymin, float ymax)
    void sparsec_f32_spconv_minmax_ukernel_u16__scalar(
        size_t batch, size_t in_channels, size_t out_channels, const sparsec_window2d *g,
        const float *x, const uint32_t *indptr, const uint16_t *indices, const float *values,
        const float *bias, float *y, float ymin, float ymax)
    void sparsec_f32_spconv_minmax_ukernel_i32__scalar(
        size_t batch, size_t in_channels, size_t out_channels, const sparsec_window2d *g,
        const float *x, const uint32_t *indptr, const int32_t *indices, const float *values,
        const float *bias, float *y, float ymin, float ymax)
    void sparsec_f32_conv_minmax_ukernel__scalar(
        size_t batch, size_t in_channels, size_t out_channels, const sparsec_window2d *g,
        const float *x, const float *w, const float *bias, float *y, float ymin, float ymax)
    void sparsec_f32_dwconv_minmax_ukernel__scalar(
        size_t batch, size_t channels, const sparsec_window2d *g, const float *x,
        const float *w, const float *bias, float *y, float ymin, float ymax)
    void sparsec_f32_maxpool_ukernel__scalar(
        size_t batch, size_t channels, const sparsec_window2d *g, const float *x, float *y)
    void sparsec_f32_avgpool_ukernel__scalar(
        size_t batch, size_t channels, const sparsec_window2d *g, int count_include_pad,
        const float *x, float *y)
    void sparsec_f32_gavgpool_ukernel__scalar(
        size_t planes, size_t plane_size, const float *x, float *y)
    void sparsec_f32_spmm_minmax_ukernel_1x4_u8__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint8_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_1x4_u16__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint16_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_1x4_i32__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const int32_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_4x1_u8__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint8_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_4x1_u16__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint16_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_4x1_i32__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const int32_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_8x1_u8__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint8_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_8x1_u16__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const uint16_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spmm_minmax_ukernel_8x1_i32__avx2(
        size_t m, size_t n, size_t k, const float *x, const uint32_t *indptr,
        const int32_t *indices, const float *values, const float *bias, float *y,
        float ymin, float ymax)
    void sparsec_f32_spconv_minmax_ukernel_u8__avx2(
        size_t batch, size_t in_channels, size_t out_channels, const sparsec_window2d *g,
        const float *x, const uint32_t *indptr, const uint8_t *indices, const float *values,
        const float *bias, float *y, float ymin, float ymax)
    void sparsec_f32_spconv_minmax_ukernel_u16__avx2(
        size_t batch, size_t in_channels, size_t out_channels, const sparsec_window2d *g,
        const float *x, const uint32_t *indptr, const uint16_t *indices, const float *values,
        const float *bias, float *y, float ymin, float ymax)
    void sparsec_f32_spconv_minmax_ukernel_i32__avx2(
        size_t batch, size_t in_channels, size_t out_channels, const sparsec_window2d *g,
        const float *x, const uint32_t *indptr, const int32_t *indices, const float *values,
        const float *bias, float *y, float ymin, float ymax)
    void sparsec_f32_conv_minmax_ukernel__avx2(
        size_t batch, size_t in_channels, size_t out_channels, const sparsec_window2d *g,
        const float *x, const float *w, const float *bias, float *y, float ymin, float ymax)
    void sparsec_f32_dwconv_minmax_ukernel__avx2(
        size_t batch, size_t channels, const sparsec_window2d *g, const float *x,
        const float *w, const float *bias, float *y, float ymin, float ymax)
    void sparsec_f32_maxpool_ukernel__avx2(
        size_t batch, size_t channels, const sparsec_window2d *g, const float *x, float *y)
    void sparsec_f32_avgpool_ukernel__avx2(
        size_t batch, size_t channels, const sparsec_window2d *g, int count_include_pad,
        const float *x, float *y)
    void sparsec_f32_gavgpool_ukernel__avx2(
        size_t planes, size_t plane_size, const float *x, float *y)


# As above: off x86-64 the AVX2 names alias the scalar kernels, and _use_avx2() refuses them.
cdef extern from *:
    """
    #if !defined(__x86_64__)
    #define sparsec_f32_spmm_minmax_ukernel_1x4_u8__avx2 sparsec_f32_spmm_minmax_ukernel_1x4_u8__scalar
    #define sparsec_f32_spmm_minmax_ukernel_1x4_u16__avx2 sparsec_f32_spmm_minmax_ukernel_1x4_u16__scalar
    #define sparsec_f32_spmm_minmax_ukernel_1x4_i32__avx2 sparsec_f32_spmm_minmax_ukernel_1x4_i32__scalar
    #define sparsec_f32_spmm_minmax_ukernel_4x1_u8__avx2 sparsec_f32_spmm_minmax_ukernel_4x1_u8__scalar
    #define sparsec_f32_spmm_minmax_ukernel_4x1_u16__avx2 sparsec_f32_spmm_minmax_ukernel_4x1_u16__scalar
    #define sparsec_f32_spmm_minmax_ukernel_4x1_i32__avx2 sparsec_f32_spmm_minmax_ukernel_4x1_i32__scalar
    #define sparsec_f32_spmm_minmax_ukernel_8x1_u8__avx2 sparsec_f32_spmm_minmax_ukernel_8x1_u8__scalar
    #define sparsec_f32_spmm_minmax_ukernel_8x1_u16__avx2 sparsec_f32_spmm_minmax_ukernel_8x1_u16__scalar
    #define sparsec_f32_spmm_minmax_ukernel_8x1_i32__avx2 sparsec_f32_spmm_minmax_ukernel_8x1_i32__scalar
    #define sparsec_f32_spconv_minmax_ukernel_u8__avx2 sparsec_f32_spconv_minmax_ukernel_u8__scalar
    #define sparsec_f32_spconv_minmax_ukernel_u16__avx2 sparsec_f32_spconv_minmax_ukernel_u16__scalar
    #define sparsec_f32_spconv_minmax_ukernel_i32__avx2 sparsec_f32_spconv_minmax_ukernel_i32__scalar
    #define sparsec_f32_conv_minmax_ukernel__avx2 sparsec_f32_conv_minmax_ukernel__scalar
    #define sparsec_f32_dwconv_minmax_ukernel__avx2 sparsec_f32_dwconv_minmax_ukernel__scalar
    #define sparsec_f32_maxpool_ukernel__avx2 sparsec_f32_maxpool_ukernel__scalar
    #define sparsec_f32_avgpool_ukernel__avx2 sparsec_f32_avgpool_ukernel__scalar
    #define sparsec_f32_gavgpool_ukernel__avx2 sparsec_f32_gavgpool_ukernel__scalar
    #endif
    """


ctypedef void (*bspmm_u8_fn)(size_t, size_t, size_t, const float *, const uint32_t *, const uint8_t *,
                             const float *, const float *, float *, float, float) noexcept nogil
ctypedef void (*bspmm_u16_fn)(size_t, size_t, size_t, const float *, const uint32_t *, const uint16_t *,
                              const float *, const float *, float *, float, float) noexcept nogil
ctypedef void (*bspmm_i32_fn)(size_t, size_t, size_t, const float *, const uint32_t *, const int32_t *,
                              const float *, const float *, float *, float, float) noexcept nogil

#: Block shapes with block-sparse kernels (as sparsec.sparse.BLOCK_SHAPES).
_BLOCKS = ((1, 4), (4, 1), (8, 1))


cdef Py_ssize_t _first_unsorted(const uint32_t[::1] indptr, const index_t[::1] indices) noexcept nogil:
    """First position whose block column is not above the previous one in the same block row."""
    cdef Py_ssize_t r, p
    for r in range(indptr.shape[0] - 1):
        for p in range(<Py_ssize_t>indptr[r] + 1, <Py_ssize_t>indptr[r + 1]):
            if indices[p] <= indices[p - 1]:
                return p
    return -1


cdef int _sparse_index(str K, object indptr, object indices, object values, Py_ssize_t rows,
                       int64_t cols, Py_ssize_t per_entry, str what, bint ascending) except -1:
    """Validate a CSR/BSR triple with `rows` (block) rows and indices in [0, cols); returns the
    index width (8, 16 or 32)."""
    _array(K, "indptr", indptr, _U32, 1)
    if not isinstance(indices, np.ndarray):
        raise TypeError(f"{K}: indices must be a numpy.ndarray of uint8, uint16 or int32, "
                        f"got {type(indices).__name__}")
    if indices.dtype not in _INDEX_DTYPES:
        raise TypeError(f"{K}: indices must have dtype uint8, uint16 or int32 "
                        f"(native byte order), got {indices.dtype}")
    _array(K, "indices", indices, indices.dtype, 1)
    _f32(K, "values", values, 1)
    if indptr.shape[0] != rows + 1:
        raise ValueError(f"{K}: indptr must have {rows + 1} entries ({what} + 1), "
                         f"got {indptr.shape[0]}")
    nnz = indices.shape[0]
    if values.shape[0] != nnz * per_entry:
        raise ValueError(f"{K}: values must have {per_entry} * len(indices) = {nnz * per_entry} "
                         f"entries, got {values.shape[0]}")
    cdef const uint32_t[::1] pv = indptr
    cdef Py_ssize_t bad
    if pv[0] != 0:
        raise ValueError(f"{K}: indptr[0] must be 0, got {pv[0]}")
    with nogil:
        bad = _first_decrease(pv)
    if bad >= 0:
        raise ValueError(f"{K}: indptr must be non-decreasing, got indptr[{bad - 1}] = "
                         f"{pv[bad - 1]} > indptr[{bad}] = {pv[bad]}")
    if pv[rows] != nnz:
        raise ValueError(f"{K}: indptr[{rows}] must equal len(indices) = {nnz}, got {pv[rows]}")
    cdef const uint8_t[::1] iv8
    cdef const uint16_t[::1] iv16
    cdef const int32_t[::1] iv32
    cdef Py_ssize_t unsorted = -1
    cdef int itype
    if indices.dtype == np.uint8:
        itype = 8
        iv8 = indices
        with nogil:
            bad = _first_bad_index(iv8, cols)
            if ascending:
                unsorted = _first_unsorted(pv, iv8)
    elif indices.dtype == np.uint16:
        itype = 16
        iv16 = indices
        with nogil:
            bad = _first_bad_index(iv16, cols)
            if ascending:
                unsorted = _first_unsorted(pv, iv16)
    else:
        itype = 32
        iv32 = indices
        with nogil:
            bad = _first_bad_index(iv32, cols)
            if ascending:
                unsorted = _first_unsorted(pv, iv32)
    if bad >= 0:
        row = int(np.searchsorted(indptr, bad, side="right")) - 1
        raise ValueError(f"{K}: indices[{bad}] = {indices[bad]} (row {row}) is out of range; "
                         f"every index must be in [0, {cols})")
    if unsorted >= 0:
        raise ValueError(f"{K}: indices must be strictly ascending within each block row, got "
                         f"indices[{unsorted - 1}] = {indices[unsorted - 1]} then "
                         f"indices[{unsorted}] = {indices[unsorted]}")
    return itype


def bspmm(x, indptr, indices, values, n, block=(8, 1), bias=None, ymin=-np.inf, ymax=np.inf,
          out=None, isa="scalar"):
    """Block-sparse ``clamp(x @ W.T + bias, ymin, ymax)`` with W [n, k] in BSR form
    (``sparsec.sparse.BSR``; see kernels.h for the layout).

    x: float32 [m, k]; n: rows of W; block: (R, C), one of (1, 4), (4, 1), (8, 1);
    indptr: uint32 [ceil(n/R) + 1]; indices: uint8, uint16 or int32 [blocks], block columns in
    [0, ceil(k/C)), strictly ascending within a block row; values: float32 [blocks * R * C];
    bias: float32 [n] or None. Returns float32 [m, n] (``out`` if given; no overlap with inputs).
    """
    cdef str K = "bspmm"
    try:
        shape = (int(block[0]), int(block[1]))
    except (TypeError, ValueError, IndexError):
        raise TypeError(f"{K}: block must be a pair (R, C), got {block!r}") from None
    if len(block) != 2 or shape not in _BLOCKS:
        raise ValueError(f"{K}: block must be one of {', '.join(map(str, _BLOCKS))}, got {block!r}")
    cdef int R = shape[0], C = shape[1]
    tile = f"{R}x{C}"
    cdef bint avx2 = _use_avx2(K, f"f32-spmm-{tile}-i32", isa)
    _f32(K, "x", x, 2)
    if bias is not None:
        _f32(K, "bias", bias, 1)
    lo, hi = _bounds(K, ymin, ymax)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{K}: n must be a non-negative integer, got {n!r}")
    n = int(n)
    m, k = x.shape
    block_rows = -(-n // R)
    block_cols = -(-k // C)
    itype = _sparse_index(K, indptr, indices, values, block_rows, block_cols, R * C,
                          f"ceil(n / {R}) block rows", True)
    if bias is not None and bias.shape[0] != n:
        raise ValueError(f"{K}: bias must have shape ({n},) = (n,), got {bias.shape}")
    out = _out(K, out, (m, n))
    for name, a in (("x", x), ("indptr", indptr), ("indices", indices), ("values", values),
                    ("bias", bias)):
        if a is not None:
            _check_out_overlap(K, out, a, name, False)

    cdef bspmm_u8_fn f8
    cdef bspmm_u16_fn f16
    cdef bspmm_i32_fn f32
    if avx2:
        if R == 1:
            f8, f16, f32 = (sparsec_f32_spmm_minmax_ukernel_1x4_u8__avx2,
                            sparsec_f32_spmm_minmax_ukernel_1x4_u16__avx2,
                            sparsec_f32_spmm_minmax_ukernel_1x4_i32__avx2)
        elif R == 4:
            f8, f16, f32 = (sparsec_f32_spmm_minmax_ukernel_4x1_u8__avx2,
                            sparsec_f32_spmm_minmax_ukernel_4x1_u16__avx2,
                            sparsec_f32_spmm_minmax_ukernel_4x1_i32__avx2)
        else:
            f8, f16, f32 = (sparsec_f32_spmm_minmax_ukernel_8x1_u8__avx2,
                            sparsec_f32_spmm_minmax_ukernel_8x1_u16__avx2,
                            sparsec_f32_spmm_minmax_ukernel_8x1_i32__avx2)
    elif R == 1:
        f8, f16, f32 = (sparsec_f32_spmm_minmax_ukernel_1x4_u8__scalar,
                        sparsec_f32_spmm_minmax_ukernel_1x4_u16__scalar,
                        sparsec_f32_spmm_minmax_ukernel_1x4_i32__scalar)
    elif R == 4:
        f8, f16, f32 = (sparsec_f32_spmm_minmax_ukernel_4x1_u8__scalar,
                        sparsec_f32_spmm_minmax_ukernel_4x1_u16__scalar,
                        sparsec_f32_spmm_minmax_ukernel_4x1_i32__scalar)
    else:
        f8, f16, f32 = (sparsec_f32_spmm_minmax_ukernel_8x1_u8__scalar,
                        sparsec_f32_spmm_minmax_ukernel_8x1_u16__scalar,
                        sparsec_f32_spmm_minmax_ukernel_8x1_i32__scalar)

    cdef const float[:, ::1] xv = x
    cdef const uint32_t[::1] pv = indptr
    cdef const float[::1] vv = values
    cdef float[:, ::1] yv = out
    cdef const uint8_t[::1] iv8
    cdef const uint16_t[::1] iv16
    cdef const int32_t[::1] iv32
    cdef const float *bp = _optional_f32(bias)
    cdef size_t cm = <size_t>m, cn = <size_t>n, ck = <size_t>k
    cdef float flo = lo, fhi = hi
    if m == 0 or n == 0:
        return out
    # Empty arrays have no element to take the address of; the kernel reads none of them then.
    cdef const float *xp = &xv[0, 0] if k > 0 else NULL
    cdef const float *vp = &vv[0] if vv.shape[0] > 0 else NULL
    if itype == 8:
        iv8 = indices
        with nogil:
            f8(cm, cn, ck, xp, &pv[0], &iv8[0] if iv8.shape[0] > 0 else NULL, vp, bp, &yv[0, 0],
               flo, fhi)
    elif itype == 16:
        iv16 = indices
        with nogil:
            f16(cm, cn, ck, xp, &pv[0], &iv16[0] if iv16.shape[0] > 0 else NULL, vp, bp,
                &yv[0, 0], flo, fhi)
    else:
        iv32 = indices
        with nogil:
            f32(cm, cn, ck, xp, &pv[0], &iv32[0] if iv32.shape[0] > 0 else NULL, vp, bp,
                &yv[0, 0], flo, fhi)
    return out


cdef tuple _pair(str K, str name, object v, int low):
    try:
        a, b = (int(t) for t in v)
        ok = (a, b) == tuple(v)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError(f"{K}: {name} must be a pair of integers, got {v!r}")
    if a < low or b < low:
        raise ValueError(f"{K}: {name} must be >= {low}, got {v!r}")
    return a, b


cdef tuple _window(str K, object x_shape, object kernel, object strides, object pads,
                   object dilations, bint ceil_mode, sparsec_window2d *g):
    """Fill `g` for an NCHW input of x_shape (ONNX window rules); returns (out_h, out_w)."""
    kh, kw = _pair(K, "kernel_shape", kernel, 1)
    sh, sw = _pair(K, "strides", (1, 1) if strides is None else strides, 1)
    dh, dw = _pair(K, "dilations", (1, 1) if dilations is None else dilations, 1)
    if pads is None:
        pads = (0, 0, 0, 0)
    try:
        pt, pl, pb, pr = (int(p) for p in pads)
        ok = (pt, pl, pb, pr) == tuple(pads)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError(f"{K}: pads must be 4 integers (top, left, bottom, right), got {pads!r}")
    if min(pt, pl, pb, pr) < 0:
        raise ValueError(f"{K}: pads must be >= 0, got {pads!r}")
    out = []
    for axis, n, k, s, d, b, e in (("height", x_shape[2], kh, sh, dh, pt, pb),
                                   ("width", x_shape[3], kw, sw, dw, pl, pr)):
        extent = (k - 1) * d + 1
        room = n + b + e - extent
        if room < 0:
            raise ValueError(f"{K}: the kernel (dilated {axis} {extent}) is larger than the padded "
                             f"input {axis} {n + b + e}")
        o = (-(-room // s) if ceil_mode else room // s) + 1
        if ceil_mode and (o - 1) * s >= n + b:
            o -= 1  # the last window must start inside the input or the left padding (ONNX)
        out.append(o)
    g.in_height, g.in_width = x_shape[2], x_shape[3]
    g.out_height, g.out_width = out
    g.kernel_height, g.kernel_width = kh, kw
    g.stride_height, g.stride_width = sh, sw
    g.dilation_height, g.dilation_width = dh, dw
    g.pad_top, g.pad_left, g.pad_bottom, g.pad_right = pt, pl, pb, pr
    return tuple(out)


def spconv2d(x, indptr, indices, values, kernel_shape, bias=None, strides=None, pads=None,
             dilations=None, ymin=-np.inf, ymax=np.inf, out=None, isa="scalar"):
    """Sparse 2-D convolution (ONNX Conv, NCHW, groups=1) ``clamp(conv(x, W) + bias)`` with the
    weights W [M, C, kh, kw] as CSR over the [M, C*kh*kw] matrix (``sparsec.sparse.CSR`` of
    ``W.reshape(M, -1)``).

    x: float32 [N, C, H, W]; indptr: uint32 [M + 1]; indices: uint8, uint16 or int32 [nnz] in
    [0, C*kh*kw); values: float32 [nnz]; kernel_shape: (kh, kw); strides, dilations: pairs
    (default 1); pads: (top, left, bottom, right) (default 0); bias: float32 [M] or None.
    Returns float32 [N, M, OH, OW] with the ONNX output size.
    """
    cdef str K = "spconv2d"
    cdef bint avx2 = _use_avx2(K, "f32-spconv-i32", isa)
    _f32(K, "x", x, 4)
    if bias is not None:
        _f32(K, "bias", bias, 1)
    lo, hi = _bounds(K, ymin, ymax)
    cdef sparsec_window2d g
    oh, ow = _window(K, x.shape, kernel_shape, strides, pads, dilations, False, &g)
    _array(K, "indptr", indptr, _U32, 1)
    if indptr.shape[0] < 1:
        raise ValueError(f"{K}: indptr must have out_channels + 1 >= 1 entries, got an empty array")
    nb, c = x.shape[0], x.shape[1]
    m = indptr.shape[0] - 1
    itype = _sparse_index(K, indptr, indices, values, m, c * g.kernel_height * g.kernel_width, 1,
                          "out_channels", False)
    if bias is not None and bias.shape[0] != m:
        raise ValueError(f"{K}: bias must have shape ({m},) = len(indptr) - 1, got {bias.shape}")
    out = _out(K, out, (nb, m, oh, ow))
    for name, a in (("x", x), ("indptr", indptr), ("indices", indices), ("values", values),
                    ("bias", bias)):
        if a is not None:
            _check_out_overlap(K, out, a, name, False)
    if out.size == 0:
        return out
    cdef const float *xp = <const float *>cnp.PyArray_DATA(x)
    cdef const uint32_t *pp = <const uint32_t *>cnp.PyArray_DATA(indptr)
    cdef const void *ip = cnp.PyArray_DATA(indices)
    cdef const float *vp = <const float *>cnp.PyArray_DATA(values)
    cdef const float *bp = _optional_f32(bias)
    cdef float *yp = <float *>cnp.PyArray_DATA(out)
    cdef size_t cn = nb, cc = c, cm = m
    cdef float flo = lo, fhi = hi
    with nogil:
        if itype == 8:
            if avx2:
                sparsec_f32_spconv_minmax_ukernel_u8__avx2(
                    cn, cc, cm, &g, xp, pp, <const uint8_t *>ip, vp, bp, yp, flo, fhi)
            else:
                sparsec_f32_spconv_minmax_ukernel_u8__scalar(
                    cn, cc, cm, &g, xp, pp, <const uint8_t *>ip, vp, bp, yp, flo, fhi)
        elif itype == 16:
            if avx2:
                sparsec_f32_spconv_minmax_ukernel_u16__avx2(
                    cn, cc, cm, &g, xp, pp, <const uint16_t *>ip, vp, bp, yp, flo, fhi)
            else:
                sparsec_f32_spconv_minmax_ukernel_u16__scalar(
                    cn, cc, cm, &g, xp, pp, <const uint16_t *>ip, vp, bp, yp, flo, fhi)
        elif avx2:
            sparsec_f32_spconv_minmax_ukernel_i32__avx2(
                cn, cc, cm, &g, xp, pp, <const int32_t *>ip, vp, bp, yp, flo, fhi)
        else:
            sparsec_f32_spconv_minmax_ukernel_i32__scalar(
                cn, cc, cm, &g, xp, pp, <const int32_t *>ip, vp, bp, yp, flo, fhi)
    return out


def conv2d(x, w, bias=None, strides=None, pads=None, dilations=None, ymin=-np.inf, ymax=np.inf,
           out=None, isa="scalar"):
    """Dense 2-D convolution (ONNX Conv, NCHW, groups=1) ``clamp(conv(x, w) + bias)``.

    x: float32 [N, C, H, W]; w: float32 [M, C, kh, kw]; bias: float32 [M] or None; strides,
    dilations: pairs (default 1); pads: (top, left, bottom, right). Returns float32
    [N, M, OH, OW].
    """
    cdef str K = "conv2d"
    cdef bint avx2 = _use_avx2(K, "f32-conv", isa)
    _f32(K, "x", x, 4)
    _f32(K, "w", w, 4)
    if bias is not None:
        _f32(K, "bias", bias, 1)
    lo, hi = _bounds(K, ymin, ymax)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"{K}: w must have shape (M, {x.shape[1]}, kh, kw) to match x's "
                         f"{x.shape[1]} channels (groups=1), got {w.shape}")
    cdef sparsec_window2d g
    oh, ow = _window(K, x.shape, w.shape[2:], strides, pads, dilations, False, &g)
    m = w.shape[0]
    if bias is not None and bias.shape[0] != m:
        raise ValueError(f"{K}: bias must have shape ({m},) to match w, got {bias.shape}")
    out = _out(K, out, (x.shape[0], m, oh, ow))
    for name, a in (("x", x), ("w", w), ("bias", bias)):
        if a is not None:
            _check_out_overlap(K, out, a, name, False)
    if out.size == 0:
        return out
    cdef const float *xp = <const float *>cnp.PyArray_DATA(x)
    cdef const float *wp = <const float *>cnp.PyArray_DATA(w)
    cdef const float *bp = _optional_f32(bias)
    cdef float *yp = <float *>cnp.PyArray_DATA(out)
    cdef size_t cn = x.shape[0], cc = x.shape[1], cm = m
    cdef float flo = lo, fhi = hi
    with nogil:
        if avx2:
            sparsec_f32_conv_minmax_ukernel__avx2(cn, cc, cm, &g, xp, wp, bp, yp, flo, fhi)
        else:
            sparsec_f32_conv_minmax_ukernel__scalar(cn, cc, cm, &g, xp, wp, bp, yp, flo, fhi)
    return out


def dwconv2d(x, w, bias=None, strides=None, pads=None, dilations=None, ymin=-np.inf, ymax=np.inf,
             out=None, isa="scalar"):
    """Depthwise 2-D convolution (ONNX Conv with group = C, one filter per channel).

    x: float32 [N, C, H, W]; w: float32 [C, 1, kh, kw]; bias: float32 [C] or None. Returns
    float32 [N, C, OH, OW].
    """
    cdef str K = "dwconv2d"
    cdef bint avx2 = _use_avx2(K, "f32-dwconv", isa)
    _f32(K, "x", x, 4)
    _f32(K, "w", w, 4)
    if bias is not None:
        _f32(K, "bias", bias, 1)
    lo, hi = _bounds(K, ymin, ymax)
    c = x.shape[1]
    if w.shape[0] != c or w.shape[1] != 1:
        raise ValueError(f"{K}: w must have shape ({c}, 1, kh, kw) for x with {c} channels, "
                         f"got {w.shape}")
    cdef sparsec_window2d g
    oh, ow = _window(K, x.shape, w.shape[2:], strides, pads, dilations, False, &g)
    if bias is not None and bias.shape[0] != c:
        raise ValueError(f"{K}: bias must have shape ({c},), got {bias.shape}")
    out = _out(K, out, (x.shape[0], c, oh, ow))
    for name, a in (("x", x), ("w", w), ("bias", bias)):
        if a is not None:
            _check_out_overlap(K, out, a, name, False)
    if out.size == 0:
        return out
    cdef const float *xp = <const float *>cnp.PyArray_DATA(x)
    cdef const float *wp = <const float *>cnp.PyArray_DATA(w)
    cdef const float *bp = _optional_f32(bias)
    cdef float *yp = <float *>cnp.PyArray_DATA(out)
    cdef size_t cn = x.shape[0], cc = c
    cdef float flo = lo, fhi = hi
    with nogil:
        if avx2:
            sparsec_f32_dwconv_minmax_ukernel__avx2(cn, cc, &g, xp, wp, bp, yp, flo, fhi)
        else:
            sparsec_f32_dwconv_minmax_ukernel__scalar(cn, cc, &g, xp, wp, bp, yp, flo, fhi)
    return out


cdef object _pool(str K, str family, object x, object kernel_shape, object strides, object pads,
                  object dilations, bint ceil_mode, int count_include_pad, object out, object isa):
    cdef bint avx2 = _use_avx2(K, family, isa)
    _f32(K, "x", x, 4)
    cdef sparsec_window2d g
    oh, ow = _window(K, x.shape, kernel_shape, strides, pads, dilations, ceil_mode, &g)
    out = _out(K, out, (x.shape[0], x.shape[1], oh, ow))
    _check_out_overlap(K, out, x, "x", False)
    if out.size == 0:
        return out
    cdef const float *xp = <const float *>cnp.PyArray_DATA(x)
    cdef float *yp = <float *>cnp.PyArray_DATA(out)
    cdef size_t cn = x.shape[0], cc = x.shape[1]
    cdef bint is_max = family == "f32-maxpool"
    with nogil:
        if is_max and avx2:
            sparsec_f32_maxpool_ukernel__avx2(cn, cc, &g, xp, yp)
        elif is_max:
            sparsec_f32_maxpool_ukernel__scalar(cn, cc, &g, xp, yp)
        elif avx2:
            sparsec_f32_avgpool_ukernel__avx2(cn, cc, &g, count_include_pad, xp, yp)
        else:
            sparsec_f32_avgpool_ukernel__scalar(cn, cc, &g, count_include_pad, xp, yp)
    return out


def maxpool2d(x, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=False,
              out=None, isa="scalar"):
    """2-D max pooling (ONNX MaxPool, NCHW) of float32 x [N, C, H, W].

    Padding never wins; a NaN in a window gives NaN; a window wholly in the padding gives the
    lowest finite float32 (as onnxruntime). Returns float32 [N, C, OH, OW].
    """
    return _pool("maxpool2d", "f32-maxpool", x, kernel_shape, strides, pads, dilations,
                 bool(ceil_mode), 0, out, isa)


def avgpool2d(x, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=False,
              count_include_pad=False, out=None, isa="scalar"):
    """2-D average pooling (ONNX AveragePool, NCHW) of float32 x [N, C, H, W].

    ``count_include_pad`` counts padding taps in the divisor (never the cells past the end pads
    that ceil_mode windows reach). Returns float32 [N, C, OH, OW].
    """
    return _pool("avgpool2d", "f32-avgpool", x, kernel_shape, strides, pads, dilations,
                 bool(ceil_mode), 1 if count_include_pad else 0, out, isa)


def global_avgpool(x, out=None, isa="scalar"):
    """ONNX GlobalAveragePool: the mean of each plane of float32 x [N, C, H, W] (H*W >= 1);
    returns float32 [N, C, 1, 1]."""
    cdef str K = "global_avgpool"
    cdef bint avx2 = _use_avx2(K, "f32-gavgpool", isa)
    _f32(K, "x", x, 4)
    planes = x.shape[0] * x.shape[1]
    size = x.shape[2] * x.shape[3]
    if size == 0:
        raise ValueError(f"{K}: x must have at least one pixel per plane, got shape {x.shape}")
    out = _out(K, out, (x.shape[0], x.shape[1], 1, 1))
    _check_out_overlap(K, out, x, "x", False)
    if planes == 0:
        return out
    cdef const float *xp = <const float *>cnp.PyArray_DATA(x)
    cdef float *yp = <float *>cnp.PyArray_DATA(out)
    cdef size_t cp = planes, cs = size
    with nogil:
        if avx2:
            sparsec_f32_gavgpool_ukernel__avx2(cp, cs, xp, yp)
        else:
            sparsec_f32_gavgpool_ukernel__scalar(cp, cs, xp, yp)
    return out
