r"""Every target: I-GOS / iGOS++ maps for top-1, rank 2-5 and rank 20-100 classes.

Views: the six offline photos of :mod:`benchmarks._photos` (``--photos skimage``) and
their mirrors (12 views; ``--views`` takes an evenly spaced subset). Target groups on the
offline efficientnet_lite0: the top-1 class, a class of rank 2-5 and a class of rank
20-100 (one per view, chosen by the view's index so the run is reproducible), plus the
top-1 class of a random-weight ResNet-18 (``torchvision.models.resnet18(weights=None)``,
seed 0, the same preprocessing).

Per group and method: the share of empty maps (a map with no variation at all, or one that
I-GOS / iGOS++ name in their ``EmptyMapWarning``: every value below 1e-3), and the
deletion / insertion AUC of the *normalised* score :math:`f_c(\cdot) / f_c(x)` (the
metric's AUC divided by the clean score, so groups of different confidence compare),
and insertion minus deletion. Metric: :func:`captum_igos.metrics.deletion_insertion`,
blurred baseline, softmax probability, pixels ranked by the map.

    python -m benchmarks.targets --photos skimage             # the full table
    python -m benchmarks.targets --views 4 --methods IGOS     # a smaller run

Results are rewritten after every (method, group) to ``benchmarks/results/targets.md``
and ``.json``, so a run cut short still leaves what finished.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
import torchvision
from captum.attr import IntegratedGradients, LayerGradCam
from torch import Tensor

from benchmarks._photos import PHOTO_SOURCES, evenly_spaced_views
from benchmarks.igos_plus_plus_ablation import IGOS_VARIANTS
from captum_igos import IGOS, IGOSPlusPlus
from captum_igos.maps import empty_maps, saliency_map
from captum_igos.metrics import deletion_insertion
from captum_igos.models import load_model

RESULTS = Path(__file__).parent / "results"
GROUPS = ("top-1", "rank 2-5", "rank 20-100", "random ResNet-18 top-1")
METHODS = (
    "IGOS normalized", "IGOS normalized l1 abs", "IGOS paper", "IGOSPlusPlus normalized",
    "IGOSPlusPlus paper",
    "LayerGradCam", "IntegratedGradients", "random",
)

Method = Callable[[torch.nn.Module, torch.nn.Module, Tensor, Tensor, int], Tensor]


def group_targets(probabilities: Tensor, group: str) -> Tensor:
    """One class per view: top-1, or rank ``2 + i % 4`` / ``20 + (7 i) % 81`` for view i."""
    order = probabilities.argsort(dim=1, descending=True)
    views = torch.arange(order.shape[0])
    if group == "rank 2-5":
        rank = 1 + views % 4
    elif group == "rank 20-100":
        rank = 19 + (7 * views) % 81
    else:
        rank = torch.zeros_like(views)
    return order[views, rank]


def methods() -> dict[str, Method]:
    def mask(cls, objective):
        return lambda model, layer, x, t, seed: cls(model).attribute(
            x, target=t, objective=objective, generator=torch.Generator().manual_seed(seed)
        )

    def igos_l1_abs(model, layer, x, t, seed):
        factory, _ = IGOS_VARIANTS["IGOS l1 abs"]
        with factory(x.shape[0]):
            return mask(IGOS, "normalized")(model, layer, x, t, seed)

    table: dict[str, Method] = {
        "IGOS normalized": mask(IGOS, "normalized"),
        "IGOS normalized l1 abs": igos_l1_abs,
        "IGOS paper": mask(IGOS, "paper"),
        "IGOSPlusPlus normalized": mask(IGOSPlusPlus, "normalized"),
        "IGOSPlusPlus paper": mask(IGOSPlusPlus, "paper"),
        "LayerGradCam": lambda model, layer, x, t, seed: LayerGradCam(model, layer).attribute(
            x, target=t
        ),
        # Black image (zero pixels) as IG's baseline; the model input of black is -mean/std.
        "IntegratedGradients": lambda model, layer, x, t, seed: IntegratedGradients(
            model
        ).attribute(x, baselines=black_like(x), target=t, n_steps=50, internal_batch_size=16),
        "random": lambda model, layer, x, t, seed: torch.rand(
            x.shape[0], 1, *x.shape[-2:], generator=torch.Generator().manual_seed(seed)
        ),
    }
    return table


def black_like(x: Tensor) -> Tensor:
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=x.dtype).view(1, 3, 1, 1)
    return ((0 - mean) / std).expand_as(x).contiguous()


def random_resnet() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    return model, model.layer4


def mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f}" if values else "-"


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}" if values else "-"


def write(rows: list[dict], header: str, stem: str = "targets") -> None:
    lines = [header, "", "| group | method | empty maps | s / image | deletion ↓ | insertion ↑ "
             "| ins − del ↑ | median ins − del ↑ | ins − del, raster ties |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        empty = f"{sum(row['empty'])}/{len(row['empty'])}"
        lines.append(
            f"| {row['group']} | {row['method']} | {empty} | {row['seconds_per_image']:.1f} | "
            f"{mean(row['deletion'])} | {mean(row['insertion'])} | {mean(row['difference'])} | "
            f"{median(row['difference'])} | {mean(row.get('difference_raster_ties', []))} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{stem}.json").write_text(json.dumps(rows, indent=1) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", choices=PHOTO_SOURCES, default="skimage")
    parser.add_argument("--views", type=int, default=12, help="evenly spaced subset of views")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--groups", nargs="+", choices=GROUPS, default=list(GROUPS))
    parser.add_argument("--metric-steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="targets", help="stem of the files in results/")
    parser.add_argument("--merge", nargs="+", metavar="STEM",
                        help="run nothing: merge these results/ files into --output, rows "
                             "ordered by group, then by method as in --methods")
    return parser.parse_args(argv)


def merge(stems: list[str], methods: list[str], output: str, command: str) -> None:
    """One table of the rows of several runs (each run's header names its own command)."""
    rows = [row for stem in stems for row in json.loads((RESULTS / f"{stem}.json").read_text())]
    rows.sort(key=lambda row: (GROUPS.index(row["group"]), methods.index(row["method"])
                               if row["method"] in methods else len(methods)))
    header = (f"# Every target: the rows of {', '.join(stems)}\n\nCommand: `{command}`. "
              "Each row as measured by its run (the header of each file says how); "
              "'ins − del, raster ties' is empty for rows measured before the tie rule changed.")
    write(rows, header, output)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.merge:
        given = sys.argv[1:] if argv is None else argv
        command = f"python -m benchmarks.targets {shlex.join(given)}"
        merge(args.merge, args.methods, args.output, command)
        return
    torch.set_num_threads(args.threads)
    loaded = load_model("efficientnet_lite0")
    views = evenly_spaced_views(args.photos, args.views)
    inputs = loaded.batch([image for _, image in views])
    header = (
        f"# Every target: {len(views)} views ({', '.join(name for name, _ in views)}), "
        f"{inputs.shape[-1]} px, efficientnet_lite0 (offline) and a random-weight ResNet-18\n\n"
        f"Command: `python -m benchmarks.targets {' '.join(sys.argv[1:] or argv or [])}`. "
        f"Package defaults for every method. AUCs of the normalised score f_c / f_c(x), "
        f"{args.metric_steps} metric steps, blurred baseline, pixels, tied pixels in the "
        "metric's random order (last column: in raster order, the rule before issue 10); "
        "mean over views. "
        "Empty map = no variation at all, or named in an EmptyMapWarning. "
        f"Timings on a shared 2-core machine, {args.threads} thread(s)."
    )
    rows: list[dict] = []
    table = methods()
    for method in args.methods:
        for group in args.groups:
            if group.startswith("random"):
                model, layer = random_resnet()
            else:
                model, layer = loaded.model, loaded.default_layer
            with torch.no_grad():
                probabilities = torch.softmax(model(inputs), dim=1)
            target = group_targets(probabilities, group)
            clean = probabilities.gather(1, target[:, None])[:, 0]
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                attributions = table[method](model, layer, inputs, target, 0).detach()
            seconds = (time.perf_counter() - start) / len(views)
            maps = saliency_map(attributions, tuple(inputs.shape[-2:]), len(views))
            empty = empty_maps(maps, caught)
            metric = deletion_insertion(model, inputs, attributions, target=target,
                                        n_steps=args.metric_steps, internal_batch_size=16)
            deletion = (metric.deletion_auc / clean).tolist()
            insertion = (metric.insertion_auc / clean).tolist()
            raster = deletion_insertion(model, inputs, attributions, target=target,
                                        n_steps=args.metric_steps, ties="raster",
                                        internal_batch_size=16)
            raster_difference = ((raster.insertion_auc - raster.deletion_auc) / clean).tolist()
            rows.append({
                "group": group, "method": method, "views": [name for name, _ in views],
                "targets": target.tolist(), "clean_probability": clean.tolist(),
                "empty": empty, "seconds_per_image": seconds, "deletion": deletion,
                "insertion": insertion,
                "difference": [i - d for d, i in zip(deletion, insertion)],
                "difference_raster_ties": raster_difference,
            })
            print(f"{group:>24} {method:>24}: empty {sum(empty)}/{len(empty)} "
                  f"del {mean(deletion)} ins {mean(insertion)} {seconds:.1f} s/image",
                  flush=True)
            write(rows, header, args.output)


if __name__ == "__main__":
    main()
