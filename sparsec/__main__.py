"""The sparsec command line.

    sparsec compile MODEL.onnx -o OUT_DIR [--sparsity S] [--range-limit R] [--target T]

Exit status: 0 ok, 1 user error (a one-line cause and fix on stderr), 2 internal error.
"""

from __future__ import annotations

import argparse
import sys
import traceback

EXAMPLES = """examples:
  sparsec compile model.onnx -o out/
  sparsec compile model.onnx -o out/ --sparsity 0.9 --range-limit 1.0
"""


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="sparsec",
        description="Compile pruned ONNX models into small, fast C.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"sparsec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser(
        "compile",
        help="write the C project for a model",
        description="Load MODEL, optionally prune and range-limit it, and write the C project to "
        "OUT_DIR (atomically: a failure leaves no partial folder and keeps an old one).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("model", help="the .onnx file")
    c.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="folder to write the project to")
    c.add_argument(
        "--sparsity",
        type=float,
        default=None,
        metavar="S",
        help="magnitude-prune each layer to this fraction of zeros, e.g. 0.9",
    )
    c.add_argument("--range-limit", type=float, default=None, metavar="R", help="clamp weights and biases into [-R, R]")
    c.add_argument("--target", default="host", help="target name (default: host)")
    c.add_argument("--name", default=None, help="C symbol prefix (default: the model file name)")
    c.add_argument("--outputs", default=None, metavar="NAMES", help="comma-separated outputs to keep")
    c.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME:1x64",
        help="fix a symbolic input shape (repeatable)",
    )
    c.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return p


def _input_shapes(specs: list[str]) -> dict[str, tuple[int, ...]]:
    from .errors import OptionError

    shapes = {}
    for spec in specs:
        name, _, dims = spec.rpartition(":")
        try:
            shapes[name] = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            raise OptionError(
                f"--input-shape '{spec}' is not NAME:DxDx...", hint="e.g. --input-shape input:1x64"
            ) from None
        if not name:
            raise OptionError(f"--input-shape '{spec}' has no input name", hint="e.g. --input-shape input:1x64")
    return shapes


def cmd_compile(args: argparse.Namespace) -> int:
    import sparsec

    model = sparsec.load(
        args.model,
        input_shapes=_input_shapes(args.input_shape) or None,
        outputs=args.outputs.split(",") if args.outputs else None,
    )
    if args.sparsity is not None:
        model = sparsec.prune(model, sparsity=args.sparsity)
    if args.range_limit is not None:
        model = sparsec.range_limit(model, args.range_limit)
    compiled = sparsec.compile(model, target=args.target, name=args.name)
    out = compiled.export(args.output)
    if not args.quiet:
        r = compiled.report
        print(
            f"{r['model']}: {r['input']['name']}{r['input']['shape']} -> {r['output']['name']}{r['output']['shape']}"
            f", target {r['target']} ({r['isa']})"
        )
        print(f"{'layer':28} {'shape':>10} {'nonzeros':>9} {'density':>8} {'format':>12} {'bytes':>8}")
        for L in r["layers"]:
            fmt = L["format"] + (f"/{L['index_type']}" if L["index_type"] else "")
            print(
                f"{L['layer'][:28]:28} {L['shape'][0]:>4}x{L['shape'][1]:<5} {L['nonzeros']:9d} "
                f"{L['density']:8.1%} {fmt:>12} {L['weight_bytes'] + L['bias_bytes']:8d}"
            )
        print(
            f"const data {r['weight_bytes']} bytes, arena {r['arena']['bytes']} bytes "
            f"(lower bound {r['arena']['lower_bound']})"
        )
        print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .errors import SparsecError

    args = _parser().parse_args(argv)
    try:
        return {"compile": cmd_compile}[args.command](args)
    except SparsecError as e:
        print(f"sparsec: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:  # a bug in sparsec, not in the user's input
        traceback.print_exc()
        print("sparsec: internal error (a bug); please report it with the traceback above", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
