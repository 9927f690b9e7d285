"""Small helpers that make C text: identifiers, exact float literals, arrays."""

from __future__ import annotations

import re

import numpy as np

from ..errors import CodegenError

_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while _Bool _Complex _Imaginary".split()
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def identifier(text: str) -> str:
    """A valid C identifier from any name: invalid characters become '_'."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_")
    s = re.sub(r"_+", "_", s)
    if not s or s[0].isdigit():
        s = "m_" + s
    if s in _C_KEYWORDS:
        s += "_"
    return s


def check_model_name(name: str) -> str:
    """Model names prefix every symbol, so they must already be plain C identifiers."""
    if not _IDENT.match(name) or name in _C_KEYWORDS or name.startswith("sparsec_"):
        raise CodegenError(
            f"model name '{name}' is not a valid C identifier prefix",
            hint=f"Pass name='{identifier(name)}' (letters, digits and '_', not starting with a digit)",
        )
    return name


#: +infinity without <math.h>, which bare-metal toolchains without a C library lack (IEEE overflow).
INFINITY_MACRO = """#include <float.h>
#ifndef SPARSEC_INFINITY
#define SPARSEC_INFINITY (FLT_MAX * 2.0f)
#endif
"""


def float_literal(x: float) -> str:
    """Shortest decimal that parses back to the same float32 bits, with an 'f' suffix
    (infinities as SPARSEC_INFINITY, see INFINITY_MACRO)."""
    v = np.float32(x)
    if not np.isfinite(v):
        if np.isnan(v):
            raise CodegenError("a constant is NaN", hint="Check the trained weights")
        return "SPARSEC_INFINITY" if v > 0 else "-SPARSEC_INFINITY"
    s = str(v)
    if "e" not in s and "." not in s:
        s += ".0"
    return s + "f"


_CTYPES = {
    np.dtype(np.float32): "float",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.uint16): "uint16_t",
    np.dtype(np.uint32): "uint32_t",
    np.dtype(np.int32): "int32_t",
}


def ctype(dtype: np.dtype) -> str:
    return _CTYPES[np.dtype(dtype)]


def array_definition(symbol: str, values: np.ndarray, per_line: int = 8) -> str:
    """``const T symbol[N] = {...};`` (an empty array holds one unused 0: C has no empty arrays)."""
    flat = values.reshape(-1)
    is_float = flat.dtype == np.float32
    items = [float_literal(v) for v in flat] if is_float else [str(int(v)) for v in flat]
    if not items:
        items = ["0"]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n  ".join(lines)
    return f"const {ctype(flat.dtype)} {symbol}[{len(items)}] = {{\n  {body}\n}};\n"


def array_declaration(symbol: str, values: np.ndarray) -> str:
    return f"extern const {ctype(values.dtype)} {symbol}[{max(1, values.size)}];\n"


def dims(shape: tuple[int, ...]) -> str:
    return "".join(f"[{d}]" for d in shape) or "[]"
