"""Build a generated project for the host as a shared library, cached by content hash."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import BuildError, ToolchainError
from .targets import Target


def cache_dir() -> Path:
    base = os.environ.get("SPARSEC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sparsec"
    )
    return Path(base)


def compiler(target: Target) -> str:
    cc = os.environ.get("CC") if target.name == "host" and os.environ.get("CC") else target.cc
    if shutil.which(cc) is None:
        raise ToolchainError(f"C compiler '{cc}' not found", hint="Install one (apt-get install gcc) or set CC")
    return cc


def build_shared(files: dict[str, str], name: str, target: Target, extra_cflags: tuple[str, ...] = ()) -> Path:
    """Compile the project's C sources into lib<name>.so; reuse an identical earlier build."""
    cc = compiler(target)
    flags = [*target.cflags, *extra_cflags]
    digest = hashlib.sha256()
    for part in [cc, *flags, *target.ldflags]:
        digest.update(part.encode() + b"\0")
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
    key = digest.hexdigest()[:24]
    final = cache_dir() / key / f"lib{name}.so"
    if final.is_file():
        return final
    final.parent.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"build-{key}-", dir=final.parent.parent))
    try:
        for rel, text in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
        sources = sorted(rel for rel in files if rel.endswith(".c"))
        cmd = [cc, *flags, "-I.", "-o", f"lib{name}.so", *sources, *target.ldflags]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if proc.returncode != 0:
            kept = final.parent.parent / f"failed-{key}"
            shutil.rmtree(kept, ignore_errors=True)
            os.rename(work, kept)
            raise BuildError(
                f"the C compiler failed (exit {proc.returncode}) on the generated project kept at {kept}:\n"
                f"$ {' '.join(cmd)}\n{proc.stderr.strip()[-4000:]}",
                hint="This is a sparsec bug if the model loaded fine; please report it with the project",
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work / f"lib{name}.so", final)  # atomic: concurrent builders agree on the result
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final
