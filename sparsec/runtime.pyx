# cython: language_level=3, boundscheck=False, wraparound=False
"""Load a generated model's shared library and run it on NumPy arrays.

The library is the generated C project built for the host. Batches go through its
``<name>_run_batch_ws`` entry point (tiles of samples through batched kernels), one
sample of a one-input one-output model through ``<name>_run_ws``; both with the GIL
released. Each call gets its own workspace, so several threads may run the same model.
"""

from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc
from posix.dlfcn cimport RTLD_LOCAL, RTLD_NOW, dlclose, dlerror, dlopen, dlsym
cimport numpy as cnp

import numpy as np

cnp.import_array()

ctypedef int (*run_ws_t)(const float *, float *, void *) noexcept nogil
ctypedef int (*run_batch_ws_t)(size_t, const float *const *, float *const *, void *) noexcept nogil


cdef inline bint _float_array(cnp.ndarray a, Py_ssize_t size, bint writable):
    if cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT32 or cnp.PyArray_SIZE(a) != size:
        return False
    return cnp.PyArray_ISCARRAY(a) if writable else cnp.PyArray_ISCARRAY_RO(a)


cdef class Library:
    """A loaded model with ``prefix`` (``<prefix>_run_ws``, ``<prefix>_run_batch_ws``).

    ``in_lens``/``out_lens``: floats per sample of each input/output, in the C order.
    ``ws_bytes``: workspace of one sample; ``batch_ws_bytes``: of the batched entry point.
    """

    cdef void *handle
    cdef run_ws_t fn
    cdef run_batch_ws_t batch_fn
    cdef readonly tuple in_lens, out_lens
    cdef readonly Py_ssize_t ws_bytes, batch_ws_bytes, alignment
    cdef readonly str path

    def __cinit__(self, str path, str prefix, tuple in_lens, tuple out_lens, Py_ssize_t ws_bytes,
                  Py_ssize_t batch_ws_bytes, Py_ssize_t alignment=16):
        self.handle = NULL
        self.path = path
        self.handle = dlopen(path.encode(), RTLD_NOW | RTLD_LOCAL)
        if self.handle == NULL:
            raise OSError(f"cannot load {path}: {dlerror().decode()}")
        self.fn = <run_ws_t>self._symbol(f"{prefix}_run_ws")
        self.batch_fn = <run_batch_ws_t>self._symbol(f"{prefix}_run_batch_ws")
        self.in_lens, self.out_lens = in_lens, out_lens
        self.ws_bytes, self.alignment = ws_bytes, alignment
        self.batch_ws_bytes = max(batch_ws_bytes, ws_bytes)

    cdef void *_symbol(self, str name) except NULL:
        cdef void *fn = dlsym(self.handle, name.encode())
        if fn == NULL:
            raise OSError(f"{self.path} has no symbol {name}")
        return fn

    def __dealloc__(self):
        if self.handle != NULL:
            dlclose(self.handle)

    def run(self, list xs, list ys, workspace=None):
        """Run the xs[i].shape[0] samples of every input (float32 [B, in_lens[i]]) into ys
        (float32 [B, out_lens[i]], writable). ``workspace`` (uint8, batch_ws_bytes + alignment)
        may be given to read a single sample's intermediates afterwards (debug builds); the
        return value is then the offset of the aligned workspace inside it."""
        cdef Py_ssize_t n_in = len(self.in_lens), n_out = len(self.out_lens), j
        if len(xs) != n_in or len(ys) != n_out:
            raise ValueError(f"expected {n_in} input and {n_out} output arrays")
        cdef Py_ssize_t n = xs[0].shape[0] if n_in else ys[0].shape[0]
        for j in range(n_in):
            if not _float_array(xs[j], n * self.in_lens[j], False) or xs[j].shape[0] != n:
                raise ValueError(f"input {j}: expected float32 C-contiguous [{n}, {self.in_lens[j]}]")
        for j in range(n_out):
            if not _float_array(ys[j], n * self.out_lens[j], True) or ys[j].shape[0] != n:
                raise ValueError(f"output {j}: expected writable float32 C-contiguous [{n}, {self.out_lens[j]}]")
        cdef Py_ssize_t need = self.batch_ws_bytes + self.alignment
        cdef unsigned char[::1] ws_view
        cdef unsigned char *raw = NULL
        cdef unsigned char *ws
        cdef uintptr_t a = self.alignment
        cdef int status = 0
        cdef const float **ins = <const float **>malloc((n_in + 1) * sizeof(float *))
        cdef float **outs = <float **>malloc((n_out + 1) * sizeof(float *))
        if workspace is not None:
            ws_view = workspace
            if ws_view.shape[0] < need:
                free(ins)
                free(outs)
                raise ValueError(f"workspace needs {need} bytes")
            ws = &ws_view[0]
        else:
            raw = <unsigned char *>malloc(need)
            ws = raw
        if ins == NULL or outs == NULL or ws == NULL:
            free(ins)
            free(outs)
            free(raw)
            raise MemoryError()
        for j in range(n_in):
            ins[j] = <const float *>cnp.PyArray_DATA(xs[j])
        for j in range(n_out):
            outs[j] = <float *>cnp.PyArray_DATA(ys[j])
        ws = <unsigned char *>((<uintptr_t>ws + a - 1) // a * a)
        with nogil:
            status = self.batch_fn(<size_t>n, ins, outs, ws)
        free(ins)
        free(outs)
        free(raw)
        if status != 0:
            raise RuntimeError(f"{self.path}: run returned {status}")
        return (<uintptr_t>ws) - (<uintptr_t>(&ws_view[0]) if workspace is not None else <uintptr_t>ws)

    def run1(self, cnp.ndarray x, cnp.ndarray y):
        """One sample of a one-input one-output model, with nothing but checks around the C call:
        x and y float32, C-contiguous, in_lens[0] and out_lens[0] elements; y writable."""
        cdef int status
        if len(self.in_lens) != 1 or len(self.out_lens) != 1:
            raise ValueError("run1 is for models with one input and one output")
        if not _float_array(x, self.in_lens[0], False) or not _float_array(y, self.out_lens[0], True):
            raise ValueError(f"run1 needs float32 C-contiguous x[{self.in_lens[0]}] and writable y[{self.out_lens[0]}]")
        cdef const float *xp = <const float *>cnp.PyArray_DATA(x)
        cdef float *yp = <float *>cnp.PyArray_DATA(y)
        cdef unsigned char *raw = <unsigned char *>malloc(self.ws_bytes + self.alignment)
        cdef uintptr_t a = self.alignment
        if raw == NULL:
            raise MemoryError()
        with nogil:
            status = self.fn(xp, yp, <void *>((<uintptr_t>raw + a - 1) // a * a))
        free(raw)
        if status != 0:
            raise RuntimeError(f"{self.path}: run returned {status}")
