r"""Reduced-precision network passes (``autocast``): time, faithfulness, empty maps, agreement.

Per model, method (I-GOS, iGOS++, RSI-Grad-CAM) and precision (float32, bfloat16,
float16: ``autocast=None / torch.bfloat16 / torch.float16``), on evenly spaced photo views
(``benchmarks/_photos.py``) with each view's float32 top-1 class as the target:

- seconds per image, and its ratio to float32's in the same run (same process, same
  images, one after the other);
- deletion and insertion AUCs of :math:`f_c / f_c(x)` (blurred baseline, random ties,
  pixels and 28 x 28 cells), always measured with the float32 network so that only the
  maps differ; the paired difference to float32 per view, mean and standard error
  (``benchmarks/paired.py``);
- the share of empty maps (:func:`captum_igos.maps.empty_maps`: constant, or named in an
  ``EmptyMapWarning``);
- the maps' Spearman rank correlation to float32's map of the same view (mean over views).

``--compile`` adds I-GOS with ``torch.compile`` on the forward function: the first call
(one view, two iterations: compilation for the shapes it meets) is reported apart from the
timed call. The verdict applies the package's rule (DESIGN.md section 8): a reduced
precision may become a device's default only if every AUC is within one paired standard
error of float32's, no map empties that float32 did not leave empty, and it is faster.

Writes ``benchmarks/results/<output>.md`` and ``.json`` (one row per model, method and
precision with per-view AUCs, readable by ``python -m benchmarks.paired``)::

    python -m benchmarks.precision --views 4 --compile
    python -m benchmarks.paired precision --variant "efficientnet_lite0 IGOS bfloat16" \
        --reference "efficientnet_lite0 IGOS float32"
    python -m benchmarks.precision --quick    # smoke run: 2 views at 64 px
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._measure import time_call  # noqa: E402
from benchmarks._photos import PHOTO_SOURCES, evenly_spaced_views  # noqa: E402
from benchmarks.igos import MODELS, RANDOM_WEIGHT_MODELS, benchmark_model  # noqa: E402
from benchmarks.paired import METRICS, RESULTS, summarize  # noqa: E402
from captum_igos import IGOS, IGOSPlusPlus, LayerRSIGradCam  # noqa: E402
from captum_igos.maps import EmptyMapWarning, empty_maps  # noqa: E402
from captum_igos.metrics import deletion_insertion  # noqa: E402

PRECISIONS: dict[str, torch.dtype | None] = {
    "float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
METHODS = ("IGOS", "IGOSPlusPlus", "LayerRSIGradCam")
GRID = 28


@dataclass(frozen=True)
class Setup:
    """One model with its views, float32 top-1 targets and clean probabilities."""

    name: str
    model: nn.Module
    layer: nn.Module
    inputs: Tensor
    target: Tensor
    clean: Tensor


def load_setup(name: str, args: argparse.Namespace) -> Setup:
    model, preprocess, layer = benchmark_model(name)
    views = evenly_spaced_views(args.photos, args.views)
    inputs = torch.stack([preprocess(image) for _, image in views])
    if inputs.shape[-1] != args.size:
        inputs = torch.nn.functional.interpolate(inputs, size=(args.size, args.size),
                                                 mode="bilinear", antialias=True)
    model, inputs = model.to(args.device), inputs.to(args.device)
    with torch.no_grad():
        probabilities = torch.softmax(model(inputs), dim=1)
    target = probabilities.argmax(dim=1)
    clean = probabilities.gather(1, target[:, None])[:, 0]
    return Setup(name, model, layer, inputs, target, clean)


@dataclass
class Row:
    """One model x method x precision: per-view AUCs and what else was measured."""

    model: str
    method: str
    precision: str
    seconds_per_image: float
    metrics: dict[str, list[float]]
    empty: list[bool]
    maps: Tensor = field(repr=False)
    rank_correlation: float = math.nan
    note: str = ""

    @property
    def variant(self) -> str:
        return f"{self.model} {self.method} {self.precision}"


def explain(setup: Setup, method: str, forward: Callable[..., Tensor],
            autocast: torch.dtype | None, args: argparse.Namespace,
            inputs: Tensor | None = None, iterations: int | None = None) -> Tensor:
    """The method's attributions of ``inputs`` (default: all views) for their targets."""
    inputs = setup.inputs if inputs is None else inputs
    target = setup.target[: inputs.shape[0]]
    if method == "LayerRSIGradCam":
        return LayerRSIGradCam(forward, setup.layer).attribute(
            inputs, target=target, n_steps=args.rsi_steps, autocast=autocast,
            internal_batch_size=args.chunk)
    cls = IGOS if method == "IGOS" else IGOSPlusPlus
    return cls(forward).attribute(
        inputs, target=target, iterations=iterations or args.iterations,
        n_steps=args.n_steps, autocast=autocast, internal_batch_size=args.chunk,
        generator=torch.Generator(device=inputs.device).manual_seed(0))


def faithfulness(setup: Setup, maps: Tensor, args: argparse.Namespace) -> dict[str, list[float]]:
    """Per-view normalised deletion / insertion AUCs, pixels and 28 x 28 cells (float32)."""
    values: dict[str, list[float]] = {}
    for grid, unit in ((None, "pixels"), (GRID, "cells")):
        result = deletion_insertion(setup.model, setup.inputs, maps, target=setup.target,
                                    n_steps=args.metric_steps, grid=grid, ties="random",
                                    internal_batch_size=args.metric_chunk)
        values[f"deletion_{unit}"] = (result.deletion_auc / setup.clean).tolist()
        values[f"insertion_{unit}"] = (result.insertion_auc / setup.clean).tolist()
    return values


def rank_correlation(maps: Tensor, reference: Tensor) -> float:
    """Spearman correlation (average ranks for ties) of each view's map with the reference
    map, mean over views whose maps both vary (NaN if none)."""
    values = [_pearson(_average_ranks(a.flatten()), _average_ranks(b.flatten()))
              for a, b in zip(maps.sum(dim=1), reference.sum(dim=1))]
    finite = [value for value in values if math.isfinite(value)]
    return statistics.fmean(finite) if finite else math.nan


def _average_ranks(values: Tensor) -> Tensor:
    ordered, order = values.double().sort()
    _, inverse, counts = torch.unique_consecutive(ordered, return_inverse=True,
                                                  return_counts=True)
    last = counts.cumsum(0).double()
    ranks = torch.empty_like(ordered)
    ranks[order] = ((2 * last - counts + 1) / 2)[inverse]
    return ranks


def _pearson(a: Tensor, b: Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = float(a.norm() * b.norm())
    return float((a * b).sum()) / denominator if denominator > 0 else math.nan


def measure(setup: Setup, method: str, precision: str, forward: Callable[..., Tensor],
            args: argparse.Namespace, note: str = "") -> Row:
    outputs: list[Tensor] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmptyMapWarning)
        timing = time_call(lambda: outputs.append(
            explain(setup, method, forward, PRECISIONS[precision], args)),
            warmup=0, repeats=1, device=setup.inputs.device)
    maps = outputs[-1].detach()
    n = setup.inputs.shape[0]
    return Row(setup.name, method, precision, timing.best / n,
               faithfulness(setup, maps, args), empty_maps(maps, caught), maps, note=note)


def compiled_rows(setup: Setup, args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    """I-GOS with ``torch.compile(model)`` per precision; the first call's time apart."""
    rows, lines = [], []
    try:
        compiled = torch.compile(setup.model)
    except Exception as error:  # noqa: BLE001 (reported, not hidden)
        return [], [f"torch.compile failed: {type(error).__name__}: {error}".splitlines()[0]]
    for precision in args.compile_precisions:
        autocast = PRECISIONS[precision]
        try:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EmptyMapWarning)
                explain(setup, "IGOS", compiled, autocast, args, setup.inputs[:1], iterations=2)
            first = time.perf_counter() - start
            row = measure(setup, "IGOS", precision, compiled, args, note="torch.compile")
        except Exception as error:  # noqa: BLE001 (reported, not hidden)
            message = f"{type(error).__name__}: {error}".splitlines()[0][:200]
            lines.append(f"- {setup.name}, I-GOS, {precision}: torch.compile failed: {message}")
            continue
        rows.append(row)
        lines.append(f"- {setup.name}, I-GOS, {precision} with torch.compile: first call "
                     f"(1 view, 2 iterations, compiling) {first:.1f} s")
    return rows, lines


def paired_cell(row: Row, reference: Row, metric: str) -> str:
    differences = [a - b for a, b in zip(row.metrics[metric], reference.metrics[metric])]
    mean, error, _ = summarize(metric, differences)
    return f"{mean:+.3f} ± {error:.3f}"


def verdict(rows: list[Row], reference: dict[tuple[str, str], Row], precision: str) -> str:
    """The default rule for one reduced precision over every model and method measured."""
    reasons = []
    for row in (r for r in rows if r.precision == precision and not r.note):
        base = reference[(row.model, row.method)]
        for metric in METRICS:
            mean, error, _ = summarize(metric, [a - b for a, b in zip(row.metrics[metric],
                                                                      base.metrics[metric])])
            if round(abs(mean), 3) > round(error, 3):  # as printed: equal AUCs count as equal
                reasons.append(f"{row.model} {row.method} {metric} {mean:+.3f} ± {error:.3f}")
        newly_empty = sum(e and not b for e, b in zip(row.empty, base.empty))
        if newly_empty:
            reasons.append(f"{row.model} {row.method}: {newly_empty} map(s) emptied")
        if row.seconds_per_image >= base.seconds_per_image:
            ratio = row.seconds_per_image / base.seconds_per_image
            reasons.append(f"{row.model} {row.method} {ratio:.2f}x float32's time")
    if not reasons:
        return f"- **{precision}: may be the default here** (every rule met)."
    shown = "; ".join(reasons[:8]) + (f"; and {len(reasons) - 8} more" if len(reasons) > 8
                                       else "")
    return f"- **{precision}: stays opt-in** ({len(reasons)} rule(s) missed: {shown})."


def table(rows: list[Row], reference: dict[tuple[str, str], Row]) -> list[str]:
    lines = [
        "| model | method | precision | s / image | × float32 | deletion ↓ px | insertion ↑ px "
        "| deletion ↓ 28² | insertion ↑ 28² | empty | rank corr. |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        base = reference[(row.model, row.method)]
        means = " | ".join(f"{statistics.fmean(row.metrics[m]):.3f}" for m in METRICS)
        name = row.precision + (f" ({row.note})" if row.note else "")
        lines.append(
            f"| {row.model} | {row.method} | {name} | {row.seconds_per_image:.2f} | "
            f"{row.seconds_per_image / base.seconds_per_image:.2f} | {means} | "
            f"{sum(row.empty)}/{len(row.empty)} | {row.rank_correlation:.3f} |")
    lines += [
        "",
        "Paired differences to float32 (same model, method and view), mean ± standard error "
        "over views (deletion: negative is better; insertion: positive is better):",
        "",
        "| model | method | precision | deletion px | insertion px | deletion 28² "
        "| insertion 28² |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row.precision == "float32" and not row.note:
            continue
        base = reference[(row.model, row.method)]
        name = row.precision + (f" ({row.note})" if row.note else "")
        cells = " | ".join(paired_cell(row, base, metric) for metric in METRICS)
        lines.append(f"| {row.model} | {row.method} | {name} | {cells} |")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 views at 64 px, 2 x 2 iterations, short curves")
    parser.add_argument("--models", nargs="+", choices=MODELS + ("resnet18",),
                        default=["efficientnet_lite0"],
                        help=f"random weights for {', '.join(RANDOM_WEIGHT_MODELS)}")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--precisions", nargs="+", choices=list(PRECISIONS),
                        default=list(PRECISIONS), help="float32 is always run (the reference)")
    parser.add_argument("--photos", choices=PHOTO_SOURCES, default="skimage")
    parser.add_argument("--views", type=int, default=12, help="evenly spaced views")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--iterations", type=int, default=5, help="I-GOS / iGOS++ iterations")
    parser.add_argument("--n-steps", type=int, default=5, help="I-GOS / iGOS++ n_steps")
    parser.add_argument("--rsi-steps", type=int, default=20, help="RSI-Grad-CAM n_steps")
    parser.add_argument("--chunk", type=int, default=None, help="internal_batch_size")
    parser.add_argument("--metric-steps", type=int, default=25)
    parser.add_argument("--metric-chunk", type=int, default=16)
    parser.add_argument("--compile", action="store_true",
                        help="add I-GOS with torch.compile(model)")
    parser.add_argument("--compile-precisions", nargs="+", choices=list(PRECISIONS),
                        default=["float32"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--output", default="precision", help="results/<output>.md, .json")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the output")
    parser.add_argument("--shared", default="yes",
                        help="'yes' if other jobs shared the machine while timing (stated)")
    args = parser.parse_args(argv)
    if args.quick:
        args.views, args.size, args.iterations, args.n_steps = 2, 64, 2, 2
        args.rsi_steps, args.metric_steps = 4, 4
        args.photos = "grace_hopper"
    if "float32" not in args.precisions:
        args.precisions = ["float32", *args.precisions]
    return args


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's model, its vector capability as torch sees it and
    whether it has bfloat16 / float16 instructions (without them autocast is emulated)."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    half = sorted(flags & {"avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16"})
    return (f"{model} CPU ({torch.backends.cpu.get_cpu_capability()}, "
            f"{'/'.join(half) if half else 'no bfloat16 / float16 instructions'}), "
            f"{torch.get_num_threads()} thread(s)")


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    command = shlex.join(sys.argv[1:] if argv is None else argv)
    rows: list[Row] = []
    compile_lines: list[str] = []
    for name in args.models:
        setup = load_setup(name, args)
        for method in args.methods:
            for precision in args.precisions:
                row = measure(setup, method, precision, setup.model, args)
                rows.append(row)
                print(f"{row.variant}: {row.seconds_per_image:.2f} s/image, empty "
                      f"{sum(row.empty)}/{len(row.empty)}", flush=True)
        if args.compile and "IGOS" in args.methods:
            extra, lines = compiled_rows(setup, args)
            rows += extra
            compile_lines += lines
            print("\n".join(lines), flush=True)
    reference = {(row.model, row.method): row for row in rows
                 if row.precision == "float32" and not row.note}
    for row in rows:
        row.rank_correlation = rank_correlation(row.maps, reference[(row.model, row.method)].maps)
    views = ", ".join(name for name, _ in evenly_spaced_views(args.photos, args.views))
    lines = [
        f"# Reduced-precision network passes (autocast) on {device_name(args.device)}",
        "",
        f"Command: `python -m benchmarks.precision {command}` (torch {torch.__version__}). "
        f"{len(views.split(', '))} views ({views}), {args.size} px, float32 top-1 targets. "
        f"I-GOS / iGOS++ {args.iterations} iterations x {args.n_steps} steps, RSI-Grad-CAM "
        f"{args.rsi_steps} steps (zeros baseline, the model's last conv block), "
        f"internal_batch_size {args.chunk}. AUCs of f_c / f_c(x), blurred baseline, random "
        f"ties, {args.metric_steps} steps, always with the float32 network. Rank corr.: "
        "Spearman to float32's map of the same view, mean over views. "
        + ("Other jobs shared the machine while timing: single timings are noisy."
           if args.shared == "yes" else "The machine ran nothing else."),
        "",
        *table(rows, reference),
        "",
        "Verdict by the package's rule (a reduced precision becomes a device's default only "
        "if every AUC is within one paired standard error of float32's, no map empties, and "
        "it is faster):",
        "",
        *(verdict(rows, reference, precision) for precision in args.precisions
          if precision != "float32"),
    ]
    if args.compile:
        lines += ["", "torch.compile (rows marked torch.compile above; their × float32 is "
                  "to eager float32 I-GOS):", "", *compile_lines]
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{args.output}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = [{"variant": row.variant + (f" {row.note}" if row.note else ""),
                "seconds_per_image": row.seconds_per_image, "empty": row.empty,
                "rank_correlation": row.rank_correlation, **row.metrics} for row in rows]
    (args.results / f"{args.output}.json").write_text(json.dumps(records, indent=1) + "\n")
    print("\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
