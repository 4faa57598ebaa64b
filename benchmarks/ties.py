r"""How much of an I-GOS / iGOS++ map is flat, and what the metric's tie rule makes of it.

I-GOS leaves every cell whose path gradient does not beat the L1 pull at exactly
:math:`M = 1` (heatmap 0), so most of its map is one tie. The deletion / insertion metric
must order tied pixels somehow: ``ties="raster"`` (flattened image order, as
``numpy.argsort``) inserts a flat region as contiguous rows from the top, which raise a
photo's score faster than scattered pixels; ``ties="random"`` (the default) takes them in
one fixed random order, as a map that expresses no preference deserves. This benchmark
prints, per method, the share of mask cells at exactly 1 (no evidence) and at 0, and the
normalised AUCs (:math:`f_c / f_c(x)`, blurred baseline, 50 steps, pixels and 28 x 28
cells) under both rules, for the same maps; a constant map is the control.

    python -m benchmarks.ties --views 4
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

from benchmarks._photos import PHOTO_SOURCES, top1_views
from captum_igos import IGOS, IGOSPlusPlus
from captum_igos.metrics import deletion_insertion

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", choices=PHOTO_SOURCES, default="skimage")
    parser.add_argument("--views", type=int, default=4, help="evenly spaced subset of views")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="ties")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    setup = top1_views(args.photos, args.views)
    loaded, inputs, target, clean = setup.loaded, setup.inputs, setup.target, setup.clean
    lines = [
        f"# Flat maps and the tie rule of the metric: {len(setup.names)} views "
        f"({', '.join(setup.names)}), top-1 targets, efficientnet_lite0",
        "",
        f"Command: `python -m benchmarks.ties {shlex.join(sys.argv[1:] if argv is None else argv)}`"
        f". Package defaults (seed 0). Cells at 1 / 0: share of the 28 x 28 mask at exactly 1 "
        "(heatmap 0) / exactly 0, mean over views. AUCs of f_c / f_c(x), mean over views.",
        "",
        "| map | cells at 1 | cells at 0 | ties | deletion ↓ (px) | insertion ↑ (px) "
        "| deletion ↓ (28²) | insertion ↑ (28²) |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    maps: dict[str, tuple[Tensor, Tensor | None]] = {
        "constant (control)": (torch.zeros_like(inputs), None)}
    for method in (IGOS, IGOSPlusPlus):
        start = time.perf_counter()
        result = method(loaded.model).optimize(
            inputs, target=target, generator=torch.Generator().manual_seed(0))
        seconds = (time.perf_counter() - start) / len(setup.names)
        size = (inputs.shape[-2], inputs.shape[-1])
        heatmap = result.heatmap(size).expand_as(inputs)
        maps[f"{method.__name__} ({seconds:.0f} s / image)"] = (heatmap, result.mask)
    for name, (attributions, mask) in maps.items():
        at_one = at_zero = "-"
        if mask is not None:
            at_one = f"{(mask == 1).flatten(1).float().mean(1).mean():.2f}"
            at_zero = f"{(mask == 0).flatten(1).float().mean(1).mean():.2f}"
        for ties in ("random", "raster"):
            aucs = []
            for grid in (None, 28):
                metric = deletion_insertion(loaded.model, inputs, attributions, target=target,
                                            n_steps=50, grid=grid, ties=ties,
                                            internal_batch_size=16)
                aucs += [(metric.deletion_auc / clean).mean(),
                         (metric.insertion_auc / clean).mean()]
            lines.append(f"| {name} | {at_one} | {at_zero} | {ties} | "
                         + " | ".join(f"{float(auc):.3f}" for auc in aucs) + " |")
            print(lines[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
