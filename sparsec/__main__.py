"""The sparsec command line.

    sparsec compile MODEL.onnx -o OUT_DIR [pruning options] [--range-limit R] [--target T]
    sparsec prune MODEL.onnx -o PRUNED.onnx --method M --criterion C --sparsity S | --keep-ratio P
        | --threshold T [--scope global] [--data DATA.npz] [--finetune-epochs N --lr LR] [--schedule S]

Exit status: 0 ok, 1 user error (a one-line cause and fix on stderr), 2 internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback

EXAMPLES = """examples:
  sparsec compile model.onnx -o out/
  sparsec compile model.onnx -o out/ --sparsity 0.9 --range-limit 1.0
  sparsec prune model.onnx -o pruned.onnx --sparsity 0.9 --data train.npz --finetune-epochs 5
  sparsec prune model.onnx -o small.onnx --method neuron --keep-ratio 0.5 --criterion taylor --data train.npz
"""
PRUNE_EXAMPLES = """examples:
  sparsec prune model.onnx -o pruned.onnx --sparsity 0.9
  sparsec prune model.onnx -o pruned.onnx --sparsity 0.9 --scope global --data train.npz \\
      --schedule gradual --steps 4 --finetune-epochs 3 --lr 1e-3
  sparsec prune model.onnx -o pruned.onnx --method block --block 1x4 --sparsity 0.75
  sparsec prune model.onnx -o small.onnx --method neuron --criterion dead --data train.npz
  sparsec prune model.onnx -o pruned.onnx --sparsity 0.8 --range-percentile 99.9

DATA.npz holds an array x [N, *sample shape] and optionally labels y [N]
(np.savez("train.npz", x=x, y=y)).
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
    c = _command(
        sub,
        "compile",
        "write the C project for a model",
        "Load MODEL, optionally prune and range-limit it, and write the C project to "
        "OUT_DIR (atomically: a failure leaves no partial folder and keeps an old one).",
        EXAMPLES,
        ("OUT_DIR", "folder to write the project to"),
    )
    c.add_argument("--target", default="host", help="target name (default: host)")
    c.add_argument("--name", default=None, help="C symbol prefix (default: the model file name)")
    _load_options(c)
    q = _command(
        sub,
        "prune",
        "prune (and fine-tune) a model and write it back as ONNX",
        "Load MODEL, prune it (optionally with data-driven importance, fine-tuning and range "
        "limiting), write the result as a valid ONNX file and print the per-layer report.",
        PRUNE_EXAMPLES,
        ("PRUNED.onnx", "the ONNX file to write"),
    )
    _load_options(q)
    return p


def _command(sub, name: str, help: str, description: str, epilog: str, output: tuple[str, str]):
    """A subcommand that reads MODEL, writes -o OUTPUT and takes the pruning options."""
    c = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("model", help="the .onnx file")
    c.add_argument("-o", "--output", required=True, metavar=output[0], help=output[1])
    _prune_options(c)
    return c


def _load_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--outputs", default=None, metavar="NAMES", help="comma-separated outputs to keep")
    c.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME:1x64",
        help="fix a symbolic input shape (repeatable)",
    )
    c.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def _prune_options(c: argparse.ArgumentParser) -> None:
    g = c.add_argument_group("pruning")
    g.add_argument(
        "--method",
        default="weight",
        choices=["weight", "block", "connection", "neuron", "channel", "layer"],
        help="what is removed: single weights (default), blocks, connections (|w|·|a| from data), "
        "whole neurons/channels, or whole layers",
    )
    g.add_argument(
        "--criterion",
        default="magnitude",
        help="importance: magnitude (default), random, activation, gradient, taylor; for neurons/layers also "
        "l1, l2, contribution, dead, entropy (all but magnitude/l1/l2/random need --data)",
    )
    amount = g.add_mutually_exclusive_group()
    amount.add_argument(
        "--sparsity", type=float, default=None, metavar="S", help="fraction of weights to zero, e.g. 0.9"
    )
    amount.add_argument(
        "--keep-ratio", type=float, default=None, metavar="P", help="fraction of neurons/layers to keep, e.g. 0.5"
    )
    amount.add_argument("--threshold", type=float, default=None, metavar="T", help="prune what scores below T")
    g.add_argument("--scope", default="layer", choices=["layer", "global"], help="rank per layer (default) or globally")
    g.add_argument("--block", default="1x4", metavar="RxC", help="block shape for --method block (default 1x4)")
    g.add_argument(
        "--exclude", action="append", default=[], metavar="LAYER", help="leave this layer alone (repeatable)"
    )
    g.add_argument("--skip-first", action="store_true", help="leave the first layer alone")
    g.add_argument("--skip-last", action="store_true", help="leave the last layer alone")
    g.add_argument(
        "--data", default=None, metavar="DATA.npz", help="arrays x (and labels y) for importance and fine-tuning"
    )
    g.add_argument("--schedule", default="oneshot", choices=["oneshot", "iterative", "gradual"], help="default oneshot")
    g.add_argument("--steps", type=int, default=3, help="pruning steps of iterative/gradual schedules (default 3)")
    g.add_argument("--seed", type=int, default=0, help="seed for random pruning and fine-tuning (default 0)")
    g.add_argument(
        "--compensate",
        action="store_true",
        help="neuron/channel pruning: fold each removed neuron's mean output (on --data) into the next layer's bias",
    )
    t = c.add_argument_group("fine-tuning (needs --data)")
    t.add_argument("--finetune-epochs", type=int, default=0, metavar="N", help="epochs after each pruning step")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    t.add_argument("--batch-size", type=int, default=32, help="default 32")
    t.add_argument("--optimizer", default="adam", choices=["adam", "sgd"], help="default adam")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    t.add_argument("--l1", type=float, default=0.0, help="L1 penalty on weights")
    t.add_argument("--l2", type=float, default=0.0, help="L2 penalty on weights")
    t.add_argument("--clip-norm", type=float, default=None, help="clip gradients to this global norm")
    t.add_argument("--clip-value", type=float, default=None, help="clip gradients to [-V, V]")
    r = c.add_argument_group("range limit")
    lim = r.add_mutually_exclusive_group()
    lim.add_argument(
        "--range-limit", type=float, default=None, metavar="R", help="clamp weights and biases into [-R, R]"
    )
    lim.add_argument(
        "--range-percentile",
        type=float,
        default=None,
        metavar="P",
        help="clamp each layer into [-r, r], r the P-th percentile of its |w|",
    )


def _optimize(args: argparse.Namespace, model):
    """Prune and range-limit ``model`` as the options say; returns the model and the reports to print."""
    import sparsec

    from .errors import OptionError

    reports = []
    amount = (args.sparsity, args.keep_ratio, args.threshold)
    limit_only = args.range_limit is not None or args.range_percentile is not None
    if any(a is not None for a in amount) or args.criterion == "dead" or (args.command == "prune" and not limit_only):
        try:
            block = tuple(int(b) for b in args.block.lower().split("x"))
        except ValueError:
            raise OptionError(f"--block '{args.block}' is not RxC", hint="e.g. --block 1x4") from None
        finetune = None
        if args.finetune_epochs:
            finetune = {
                "epochs": args.finetune_epochs,
                "lr": args.lr,
                "batch_size": args.batch_size,
                "optimizer": args.optimizer,
                "momentum": args.momentum,
                "l1": args.l1,
                "l2": args.l2,
                "clip_norm": args.clip_norm,
                "clip_value": args.clip_value,
                "range_limit": args.range_limit,
                "progress": False if args.quiet else None,
            }
        model = sparsec.prune(
            model,
            args.sparsity,
            keep_ratio=args.keep_ratio,
            threshold=args.threshold,
            granularity=args.method,
            criterion=args.criterion,
            scope=args.scope,
            data=args.data,
            finetune=finetune,
            schedule=args.schedule,
            steps=args.steps,
            block=block,
            exclude=args.exclude,
            skip_first=args.skip_first,
            skip_last=args.skip_last,
            seed=args.seed,
            compensate=args.compensate,
        )
        reports.append(model.report)
    if args.range_limit is not None or args.range_percentile is not None:
        model = sparsec.range_limit(model, args.range_limit, percentile=args.range_percentile, data=args.data)
        reports.append(model.report)
    return model, reports


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
    model, reports = _optimize(args, model)
    compiled = sparsec.compile(model, target=args.target, name=args.name)
    out = compiled.export(args.output)
    if not args.quiet:
        for report in reports:
            print(report)
        r = compiled.report
        ins = ", ".join(f"{v['name']}{v['shape']}" for v in r["inputs"])
        outs = ", ".join(f"{v['name']}{v['shape']}" for v in r["outputs"])
        print(f"{r['model']}: {ins} -> {outs}, target {r['target']} ({r['isa']})")
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


def cmd_prune(args: argparse.Namespace) -> int:
    import sparsec

    model = sparsec.load(
        args.model,
        input_shapes=_input_shapes(args.input_shape) or None,
        outputs=args.outputs.split(",") if args.outputs else None,
    )
    model, reports = _optimize(args, model)
    out = os.path.abspath(args.output)
    if not os.path.isdir(os.path.dirname(out)):
        from .errors import OptionError

        raise OptionError(f"folder '{os.path.dirname(out)}' does not exist", hint="create it first")
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=os.path.dirname(out))  # a failure leaves no partial file
    os.close(fd)
    try:
        sparsec.save(model, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if not args.quiet:
        for report in reports:
            print(report)
        print(f"wrote {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .errors import SparsecError

    args = _parser().parse_args(argv)
    try:
        return {"compile": cmd_compile, "prune": cmd_prune}[args.command](args)
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
