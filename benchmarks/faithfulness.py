"""Faithfulness benchmark: deletion and insertion AUCs of each method on the offline model.

For the offline default model (``load_model("efficientnet_lite0")``) and views of its
sample photo (matplotlib's ``grace_hopper.jpg``: the centre crop, its mirror image, the
top and the bottom square; no other photo ships with the installed packages), every
method explains the model's top-1 class and
:func:`captum_igos.metrics.deletion_insertion` scores the map (blurred baseline, softmax
probability, pixels ranked by the signed channel sum). Printed as a table and written to
``benchmarks/results/faithfulness.md`` and ``.csv`` (``faithfulness-quick.*`` with
``--quick``), with seconds per image for each method.

Methods: IGOS, IGOSPlusPlus, LayerRSIGradCam (this package; ones that have not landed
yet are listed as such), Captum's IntegratedGradients (black baseline), Saliency,
LayerGradCam, Occlusion, and a random map. Captum's methods explain the raw logit (their
convention), ours the probability (the papers'); the metric scores the probability for all.

The metric's own cost is measured against the pure forward passes it needs
(``2 * n_steps`` per image, in the same chunks) and the ratio printed; it must stay
<= 1.2.

Usage (from the repository root)::

    python -m benchmarks.faithfulness            # full table (slow on CPU)
    python -m benchmarks.faithfulness --quick    # smoke run: one view, few steps
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # run as a script: make `benchmarks` and the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torchvision.transforms.functional as TF
from captum.attr import IntegratedGradients, LayerGradCam, Occlusion, Saliency
from torch import Tensor

import captum_igos
from benchmarks._measure import time_call
from captum_igos.metrics import deletion_insertion
from captum_igos.models import load_model, sample_image

RESULTS = Path(__file__).resolve().parent / "results"
#: Largest ratio of the metric's time to the time of its bare forward passes.
MAX_OVERHEAD = 1.2

Method = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Settings:
    views: int
    n_steps: int
    grid: int | None
    ig_steps: int
    rsi_steps: int
    occlusion_window: int
    occlusion_stride: int
    batch: int
    repeats: int


QUICK = Settings(1, 20, None, 8, 8, 56, 56, 64, 1)
FULL = Settings(4, 100, None, 50, 50, 32, 16, 64, 3)


def photo_views(count: int) -> list[tuple[str, object]]:
    """Views of the sample photo (PIL images), ``count`` of them (1 to 4)."""
    photo = sample_image()
    width, height = photo.size
    side = min(width, height)
    views = [
        ("centre", photo),
        ("mirrored", TF.hflip(photo)),
        ("top", photo.crop((0, 0, side, side))),
        ("bottom", photo.crop((0, height - side, side, height))),
    ]
    return views[:count]


def build_methods(loaded, settings: Settings, black: Tensor) -> tuple[dict[str, Method], list[str]]:
    """Name -> ``attribute(x, target)``, and notes on methods that are not available."""
    model, layer, batch = loaded.model, loaded.default_layer, settings.batch
    window, stride = settings.occlusion_window, settings.occlusion_stride
    methods: dict[str, Method] = {}
    notes: list[str] = []
    for name in ("IGOS", "IGOSPlusPlus"):
        cls = getattr(captum_igos, name, None)
        if cls is None:
            notes.append(f"{name}: not landed yet (captum_igos.{name} missing), left out")
            continue
        methods[name] = lambda x, t, cls=cls: cls(model).attribute(
            x, target=t, internal_batch_size=batch
        )
    rsi = getattr(captum_igos, "LayerRSIGradCam", None)
    if rsi is None:
        notes.append("LayerRSIGradCam: not landed yet, left out")
    else:
        methods["LayerRSIGradCam"] = lambda x, t: rsi(model, layer).attribute(
            x, target=t, baselines=black, n_steps=settings.rsi_steps, internal_batch_size=batch
        )
    methods["IntegratedGradients"] = lambda x, t: IntegratedGradients(model).attribute(
        x, baselines=black, target=t, n_steps=settings.ig_steps, internal_batch_size=batch
    )
    methods["Saliency"] = lambda x, t: Saliency(model).attribute(x, target=t)
    methods["LayerGradCam"] = lambda x, t: LayerGradCam(model, layer).attribute(x, target=t)
    methods["Occlusion"] = lambda x, t: Occlusion(model).attribute(
        x,
        target=t,
        sliding_window_shapes=(3, window, window),
        strides=(3, stride, stride),
        perturbations_per_eval=batch,
    )
    generator = torch.Generator().manual_seed(0)
    methods["random"] = lambda x, t: torch.rand(
        x.shape[0], 1, *x.shape[-2:], generator=generator
    ).to(x.device)
    return methods, notes


def timed(fn: Callable[[], Tensor], repeats: int, device: torch.device) -> tuple[Tensor, float]:
    """``fn()``'s last result and its best time over ``repeats`` runs (after one warm-up)."""
    box: dict[str, Tensor] = {}

    def run() -> None:
        box["out"] = fn()

    timing = time_call(run, warmup=1, repeats=repeats, device=device)
    return box["out"], timing.best


def metric_overhead(loaded, inputs: Tensor, target: Tensor, settings: Settings, device) -> dict:
    """Time of ``deletion_insertion`` vs the bare forward passes it needs, same chunks."""
    model, n_steps, batch = loaded.model, settings.n_steps, settings.batch
    attributions = torch.rand(inputs.shape[0], 1, *inputs.shape[-2:], device=device)

    def metric() -> None:
        deletion_insertion(
            model, inputs, attributions, target=target, n_steps=n_steps, grid=settings.grid,
            internal_batch_size=batch,
        )

    total = 2 * n_steps * inputs.shape[0]
    sizes = [min(batch, total - start) for start in range(0, total, batch)]
    buffer = torch.randn(max(sizes), *inputs.shape[1:], device=device)

    def forwards() -> None:
        with torch.no_grad():
            for size in sizes:
                torch.softmax(model(buffer[:size]), dim=1)

    metric(), forwards()  # warm-up
    metric_times, forward_times = [], []
    for _ in range(max(3, settings.repeats)):  # interleaved: load changes hit both alike
        metric_times.append(time_call(metric, warmup=0, repeats=1, device=device).best)
        forward_times.append(time_call(forwards, warmup=0, repeats=1, device=device).best)
    metric_s, forward_s = min(metric_times), min(forward_times)
    return {"metric_s": metric_s, "forward_s": forward_s, "ratio": metric_s / forward_s,
            "forwards": total}


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def format_table(rows: list[dict]) -> str:
    header = "| method | s / image | deletion AUC ↓ | insertion AUC ↑ | ins − del ↑ |"
    lines = [header, "|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['method']} | {row['seconds_per_image']:.3f} | {mean_sd(row['deletion'])} "
            f"| {mean_sd(row['insertion'])} | {mean_sd(row['difference'])} |"
        )
    return "\n".join(lines)


def write_results(stem: str, rows: list[dict], text: str) -> list[Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    markdown, table = RESULTS / f"{stem}.md", RESULTS / f"{stem}.csv"
    markdown.write_text(text + "\n")
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "seconds_per_image", "view", "deletion_auc", "insertion_auc"])
        for row in rows:
            for view, d, i in zip(row["views"], row["deletion"], row["insertion"]):
                writer.writerow([row["method"], f"{row['seconds_per_image']:.4f}", view,
                                 f"{d:.6f}", f"{i:.6f}"])
    return [markdown, table]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one view, few steps (smoke run)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, help="deletion/insertion n_steps")
    parser.add_argument("--grid", type=int, help="rank cells of a grid x grid (e.g. 28)")
    parser.add_argument("--batch", type=int, help="internal_batch_size everywhere")
    parser.add_argument("--methods", nargs="*", help="only these methods (names as in the table)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = QUICK if args.quick else FULL
    overrides = {"n_steps": args.steps, "grid": args.grid, "batch": args.batch}
    settings = Settings(**{**settings.__dict__, **{k: v for k, v in overrides.items() if v}})
    device = torch.device(args.device)
    loaded = load_model("efficientnet_lite0", device=device)
    views = photo_views(settings.views)
    inputs = loaded.batch([view for _, view in views])
    with torch.no_grad():
        target = loaded.model(inputs).argmax(dim=1)
    black = loaded.batch(torch.zeros(3, 8, 8))[:1].expand(1, *inputs.shape[1:]).clone()
    methods, notes = build_methods(loaded, settings, black)
    if args.methods:
        methods = {name: fn for name, fn in methods.items() if name in args.methods}

    rows = []
    for name, method in methods.items():
        attributions, seconds = timed(lambda m=method: m(inputs, target), settings.repeats, device)
        result = deletion_insertion(
            loaded.model, inputs, attributions.detach(), target=target, n_steps=settings.n_steps,
            grid=settings.grid, internal_batch_size=settings.batch,
        )
        deletion, insertion = result.deletion_auc.tolist(), result.insertion_auc.tolist()
        rows.append({
            "method": name,
            "seconds_per_image": seconds / inputs.shape[0],
            "views": [view for view, _ in views],
            "deletion": deletion,
            "insertion": insertion,
            "difference": [i - d for d, i in zip(deletion, insertion)],
        })
        print(f"{name:>20}: {seconds / inputs.shape[0]:8.3f} s/image  "
              f"del {mean_sd(deletion)}  ins {mean_sd(insertion)}", flush=True)

    overhead = metric_overhead(loaded, inputs, target, settings, device)
    classes = ", ".join(
        f"{view}: {loaded.class_names[t]}" for (view, _), t in zip(views, target.tolist())
    )
    text = "\n".join([
        "# Faithfulness: deletion / insertion AUC (efficientnet_lite0, grace_hopper.jpg)",
        "",
        f"{len(views)} view(s) of the photo ({classes}); target = top-1 class; mean ± sd over "
        f"views. Metric: blurred baseline, softmax probability, n_steps={settings.n_steps}, "
        f"{'pixels' if settings.grid is None else f'{settings.grid}x{settings.grid} grid cells'}"
        f" ranked by the signed channel sum. Device {device}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} thread(s); seconds per image = best "
        f"of {settings.repeats} after a warm-up, whole batch / images.",
        "",
        format_table(rows),
        "",
        *[f"- {note}" for note in notes],
        "",
        f"Metric cost: {overhead['metric_s']:.3f} s for {overhead['forwards']} perturbed images "
        f"vs {overhead['forward_s']:.3f} s for the bare forward passes: ratio "
        f"{overhead['ratio']:.3f} (limit {MAX_OVERHEAD}).",
    ])
    print()
    print(text)
    stem = "faithfulness-quick" if args.quick else "faithfulness"
    for path in write_results(stem, rows, text):
        print(f"wrote {path}")
    if not math.isfinite(overhead["ratio"]) or overhead["ratio"] > MAX_OVERHEAD:
        print(f"WARNING: metric overhead {overhead['ratio']:.3f} > {MAX_OVERHEAD}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.1f} s")
