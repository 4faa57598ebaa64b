"""Faithfulness benchmark: deletion and insertion AUCs of each method on the offline model.

For the offline default model (``load_model("efficientnet_lite0")``) and views of its
sample photo (matplotlib's ``grace_hopper.jpg``: the centre crop, its mirror image, the
top and the bottom square; no other photo ships with the installed packages), every
method explains the model's top-1 class and
:func:`captum_igos.metrics.deletion_insertion` scores the map (blurred baseline, softmax
probability, pixels ranked by the signed channel sum). Printed as a table and written to
``benchmarks/results/faithfulness.md`` and ``.csv`` (``faithfulness-quick.*`` with
``--quick``), with seconds per image for each method.

Methods: every entry of the method registry (``captum_igos.runs.methods.REGISTRY``, the
one the command line uses), named by class: IGOS, IGOSPlusPlus, LayerRSIGradCam (this
package), Captum's LayerGradCam, IntegratedGradients (black baseline here), Saliency,
Occlusion, and a random map. Captum's methods explain the raw logit (their convention),
ours the probability (the papers'); the metric scores the probability for all.

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
from captum.metrics import infidelity
from torch import Tensor

from benchmarks._measure import time_call
from benchmarks._photos import PHOTO_SOURCES, photo_views
from captum_igos.maps import saliency_map
from captum_igos.metrics import deletion_insertion
from captum_igos.models import load_model
from captum_igos.runs.methods import BLACK_IMAGE, REGISTRY, Request, compute, settings_for

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
    infidelity_samples: int
    mask_kwargs: tuple[tuple[str, int], ...]  # IGOS / IGOSPlusPlus arguments (else defaults)


QUICK = Settings(1, 20, None, 8, 8, 56, 56, 64, 1, 4, (("iterations", 3), ("n_steps", 4)))
FULL = Settings(4, 100, None, 50, 50, 32, 16, 64, 3, 32, ())
#: Standard deviation of the Gaussian perturbations of ``captum.metrics.infidelity``, in
#: model-input units (the default model's inputs span about [-1, 1]).
INFIDELITY_NOISE = 0.1


def option_values(settings: Settings) -> dict:
    """The registry's setting values (RunConfig field names) for these benchmark settings."""
    values = {"rsi_steps": settings.rsi_steps, "ig_steps": settings.ig_steps,
              "ig_baselines": BLACK_IMAGE, "occlusion_window": settings.occlusion_window,
              "occlusion_stride": settings.occlusion_stride,
              "internal_batch_size": settings.batch,
              "random_size": None}
    mask = dict(settings.mask_kwargs)  # IGOS / IGOSPlusPlus: else the library's defaults
    values.update(iterations=mask.get("iterations"), igos_steps=mask.get("n_steps"))
    return values


def build_methods(loaded, settings: Settings, black: Tensor) -> dict[str, Method]:
    """Table name -> ``attribute(x, target)`` for every method of the registry."""
    values = option_values(settings)
    generator = torch.Generator().manual_seed(0)  # the random map: one stream for the run
    methods: dict[str, Method] = {}
    for name, spec in REGISTRY.items():
        method_settings = settings_for(name, values, loaded.default_layer_name)

        def method(x, t, name=name, method_settings=method_settings):
            request = Request(loaded.model, x, t, method_settings, layer=loaded.default_layer,
                              baselines=black,
                              generator=generator if name == "random" else None)
            return compute(name, request)

        methods[spec.title] = method
    return methods


#: Methods slower than this (seconds per batch) are timed once, faster ones ``repeats`` times.
REPEAT_BELOW_S = 5.0


def timed(
    method: Method, inputs: Tensor, target: Tensor, repeats: int, device: torch.device
) -> tuple[Tensor, float]:
    """The method's attributions and its best time (after a one-image warm-up).

    Slow methods (I-GOS: many forward/backward passes) run once on the whole batch; fast
    ones are repeated, where load on a shared machine would otherwise dominate.
    """
    box: dict[str, Tensor] = {}

    def run() -> None:
        box["out"] = method(inputs, target)

    method(inputs[:1], target[:1])  # warm-up: allocator, kernel choice
    first = time_call(run, warmup=0, repeats=1, device=device).best
    if first >= REPEAT_BELOW_S or repeats <= 1:
        return box["out"], first
    return box["out"], min(first, time_call(run, warmup=0, repeats=repeats - 1, device=device).best)


def metric_overhead(loaded, inputs: Tensor, target: Tensor, settings: Settings, device) -> dict:
    """Time of ``deletion_insertion`` vs the bare forward passes it needs, same chunks."""
    model, n_steps, batch = loaded.model, settings.n_steps, settings.batch
    attributions = torch.rand(inputs.shape[0], 1, *inputs.shape[-2:], device=device)

    def metric(forward_func=model) -> None:
        deletion_insertion(
            forward_func, inputs, attributions, target=target, n_steps=n_steps,
            grid=settings.grid, internal_batch_size=batch,
        )

    total = 2 * n_steps * inputs.shape[0]
    sizes = [min(batch, total - start) for start in range(0, total, batch)]
    buffer = inputs[torch.arange(max(sizes), device=device) % inputs.shape[0]]

    def forwards() -> None:
        with torch.no_grad():
            for size in sizes:
                torch.softmax(model(buffer[:size]), dim=1)

    metric(), forwards()  # warm-up
    metric_times, forward_times = [], []
    for _ in range(max(5, settings.repeats)):  # interleaved: load changes hit both alike
        metric_times.append(time_call(metric, warmup=0, repeats=1, device=device).best)
        forward_times.append(time_call(forwards, warmup=0, repeats=1, device=device).best)
    metric_s, forward_s = min(metric_times), min(forward_times)
    paired = statistics.median(m / f for m, f in zip(metric_times, forward_times))
    # the metric's own work alone (ranking, blur, building the steps): a model that costs
    # nothing; less sensitive to load than the difference of two long timings
    classes = len(loaded.class_names)

    def free_model(x: Tensor) -> Tensor:
        return x[:, :1, 0, 0].expand(x.shape[0], classes)

    own_s = time_call(lambda: metric(free_model), warmup=1, repeats=5, device=device).best
    return {"metric_s": metric_s, "forward_s": forward_s, "ratio": metric_s / forward_s,
            "paired": paired, "own_s": own_s, "forwards": total}


def probability_infidelity(
    model, inputs: Tensor, attributions: Tensor, target: Tensor, settings: Settings
) -> list[float]:
    """Captum's infidelity of the map for the softmax probability (normalised attributions).

    Layer maps are upsampled and spread equally over the channels (input-shaped maps are
    used as they are); Gaussian perturbations of std :data:`INFIDELITY_NOISE`.
    """
    if attributions.shape[1:] != inputs.shape[1:]:
        maps = saliency_map(attributions, tuple(inputs.shape[-2:]), inputs.shape[0])
        attributions = maps.unsqueeze(1).expand_as(inputs) / inputs.shape[1]
    generator = torch.Generator(device=inputs.device).manual_seed(0)

    def perturb(x: Tensor) -> tuple[Tensor, Tensor]:
        noise = INFIDELITY_NOISE * torch.randn(
            x.shape, generator=generator, device=x.device, dtype=x.dtype
        )
        return noise, x - noise

    with torch.no_grad():
        values = infidelity(
            lambda x: torch.softmax(model(x), dim=1),
            perturb,
            inputs,
            attributions.to(inputs.dtype),
            target=target,
            n_perturb_samples=settings.infidelity_samples,
            max_examples_per_batch=settings.batch,
            normalize=True,
        )
    return values.tolist()


def mean_sd(values: list[float], spec: str = ".3f") -> str:
    if len(values) == 1:
        return f"{values[0]:{spec}}"
    return f"{statistics.mean(values):{spec}} ± {statistics.stdev(values):{spec}}"


def format_table(rows: list[dict]) -> str:
    header = (
        "| method | s / image | deletion AUC ↓ | insertion AUC ↑ | ins − del ↑ "
        "| infidelity ↓ |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['method']} | {row['seconds_per_image']:.3f} | {mean_sd(row['deletion'])} "
            f"| {mean_sd(row['insertion'])} | {mean_sd(row['difference'])} "
            f"| {mean_sd(row['infidelity'], '.2e')} |"
        )
    return "\n".join(lines)


def write_results(stem: str, rows: list[dict], text: str) -> list[Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    markdown, table = RESULTS / f"{stem}.md", RESULTS / f"{stem}.csv"
    markdown.write_text(text + "\n")
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["method", "seconds_per_image", "view", "deletion_auc", "insertion_auc", "infidelity"]
        )
        for row in rows:
            per_view = zip(row["views"], row["deletion"], row["insertion"], row["infidelity"])
            for view, d, i, inf in per_view:
                writer.writerow([row["method"], f"{row['seconds_per_image']:.4f}", view,
                                 f"{d:.6f}", f"{i:.6f}", f"{inf:.6e}"])
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
    parser.add_argument("--photos", choices=PHOTO_SOURCES, default="grace_hopper",
                        help="views of grace_hopper.jpg, or six photos with scikit-image")
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
    views = photo_views(args.photos)[: settings.views]
    inputs = loaded.batch([view for _, view in views])
    with torch.no_grad():
        target = loaded.model(inputs).argmax(dim=1)
    black = loaded.batch(torch.zeros(3, 8, 8))[:1].expand(1, *inputs.shape[1:]).clone()
    methods = build_methods(loaded, settings, black)
    if args.methods:
        wanted = {REGISTRY[n].title if n in REGISTRY else n for n in args.methods}
        methods = {name: fn for name, fn in methods.items() if name in wanted}

    rows = []
    for name, method in methods.items():
        attributions, seconds = timed(method, inputs, target, settings.repeats, device)
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
            "infidelity": probability_infidelity(
                loaded.model, inputs, attributions.detach(), target, settings
            ),
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
        f"{torch.__version__}, {torch.get_num_threads()} thread(s); seconds per image = time of "
        f"the whole batch / images, best of {settings.repeats} for methods under "
        f"{REPEAT_BELOW_S:.0f} s a batch, after a one-image warm-up. Infidelity: "
        f"captum.metrics.infidelity of the probability, normalize=True, "
        f"{settings.infidelity_samples} Gaussian perturbations of std {INFIDELITY_NOISE}.",
        "",
        format_table(rows),
        "",
        "",
        f"Metric cost: {overhead['metric_s']:.3f} s for {overhead['forwards']} perturbed images "
        f"vs {overhead['forward_s']:.3f} s for the bare forward passes (best of "
        f"{max(5, settings.repeats)} interleaved runs each): ratio {overhead['ratio']:.3f} "
        f"(median of paired runs {overhead['paired']:.3f}; limit {MAX_OVERHEAD}). The metric's "
        f"own work alone (a model that costs nothing): {overhead['own_s']:.3f} s, i.e. ratio "
        f"{(overhead['forward_s'] + overhead['own_s']) / overhead['forward_s']:.3f}.",
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
