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
