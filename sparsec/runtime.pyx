# cython: language_level=3, boundscheck=False, wraparound=False
"""Load a generated model's shared library and run it on NumPy arrays.

The library is the generated C project built for the host; this module calls its
``<name>_run_ws`` entry point over a batch with the GIL released. Each call gets
its own workspace, so several threads may run the same model at once.
"""

from libc.stdint cimport uintptr_t
cimport numpy as cnp
from libc.stdlib cimport free, malloc
from posix.dlfcn cimport RTLD_LOCAL, RTLD_NOW, dlclose, dlerror, dlopen, dlsym

import numpy as np

cnp.import_array()

ctypedef int (*run_ws_t)(const float *, float *, void *) noexcept nogil
ctypedef int (*run_batch_ws_t)(size_t, const float *, float *, void *) noexcept nogil


cdef class Library:
    """A loaded model: ``run(x, y)`` runs every row of x into the same row of y.

    ``batch_symbol`` (optional) is the model's ``<name>_run_batch_ws``, which takes the whole
    batch in one call (batched kernels) with ``batch_ws_bytes`` of workspace.
    """

    cdef void *handle
    cdef run_ws_t fn
    cdef run_batch_ws_t batch_fn
    cdef readonly Py_ssize_t in_len, out_len, ws_bytes, alignment, batch_ws_bytes
    cdef readonly str path

    def __cinit__(self, str path, str symbol, Py_ssize_t in_len, Py_ssize_t out_len,
                  Py_ssize_t ws_bytes, Py_ssize_t alignment=16, str batch_symbol=None,
                  Py_ssize_t batch_ws_bytes=0):
        self.handle = NULL
        self.path = path
        self.handle = dlopen(path.encode(), RTLD_NOW | RTLD_LOCAL)
        if self.handle == NULL:
            raise OSError(f"cannot load {path}: {dlerror().decode()}")
        cdef void *fn = dlsym(self.handle, symbol.encode())
        if fn == NULL:
            raise OSError(f"{path} has no symbol {symbol}")
        self.fn = <run_ws_t>fn
        self.batch_fn = NULL
        if batch_symbol is not None:
            fn = dlsym(self.handle, batch_symbol.encode())
            if fn == NULL:
                raise OSError(f"{path} has no symbol {batch_symbol}")
            self.batch_fn = <run_batch_ws_t>fn
        self.in_len, self.out_len = in_len, out_len
        self.ws_bytes, self.alignment = ws_bytes, alignment
        self.batch_ws_bytes = max(batch_ws_bytes, ws_bytes)

    def __dealloc__(self):
        if self.handle != NULL:
            dlclose(self.handle)

    def run(self, const float[:, ::1] x, float[:, ::1] y, workspace=None):
        """Run each of the x.shape[0] samples. ``workspace`` (uint8, ws_bytes + alignment)
        may be given to read intermediates afterwards (debug builds); else one is allocated."""
        if x.shape[0] != y.shape[0] or x.shape[1] != self.in_len or y.shape[1] != self.out_len:
            raise ValueError(f"expected x [B, {self.in_len}] and y [B, {self.out_len}], "
                             f"got [{x.shape[0]}, {x.shape[1]}] and [{y.shape[0]}, {y.shape[1]}]")
        cdef unsigned char[::1] ws_view
        cdef unsigned char *raw = NULL
        cdef unsigned char *ws
        cdef Py_ssize_t i = 0, n = x.shape[0]
        cdef int status = 0
        cdef uintptr_t a = self.alignment
        # A caller's workspace (debug reads of intermediates) gets the one-sample path and its layout.
        cdef bint batched = self.batch_fn != NULL and workspace is None and n > 1
        cdef Py_ssize_t need = (self.batch_ws_bytes if batched else self.ws_bytes) + self.alignment
        if n == 0:
            return 0
        if workspace is not None:
            ws_view = workspace
            if ws_view.shape[0] < need:
                raise ValueError(f"workspace needs {need} bytes")
            ws = &ws_view[0]
        else:
            raw = <unsigned char *>malloc(need)
            if raw == NULL:
                raise MemoryError()
            ws = raw
        ws = <unsigned char *>((<uintptr_t>ws + a - 1) // a * a)
        with nogil:
            if batched:
                status = self.batch_fn(n, &x[0, 0], &y[0, 0], ws)
            else:
                for i in range(n):
                    status = self.fn(&x[i, 0], &y[i, 0], ws)
                    if status != 0:
                        break
        free(raw)
        if status != 0:
            where = "a batch" if batched else f"sample {i}"
            raise RuntimeError(f"{self.path}: run returned {status} on {where}")
        return (<uintptr_t>ws) - (<uintptr_t>(&ws_view[0]) if workspace is not None else <uintptr_t>ws)

    def run1(self, cnp.ndarray x, cnp.ndarray y):
        """One sample, for the per-call fast path: x and y must be float32, C-contiguous and
        aligned with in_len and out_len elements (checked); y must be writable."""
        cdef int status
        if (cnp.PyArray_TYPE(x) != cnp.NPY_FLOAT32 or cnp.PyArray_TYPE(y) != cnp.NPY_FLOAT32
                or not cnp.PyArray_ISCARRAY_RO(x) or not cnp.PyArray_ISCARRAY(y)
                or cnp.PyArray_SIZE(x) != self.in_len or cnp.PyArray_SIZE(y) != self.out_len):
            raise ValueError(f"run1 needs float32 C-contiguous x[{self.in_len}] and writable y[{self.out_len}]")
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
