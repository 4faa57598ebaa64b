r"""The presets against the authors' I-GOS / iGOS++ code: one iteration, and whole runs.

``tests/data/authors_reference/`` holds what the authors' code (khorrams/IGOS_pp at
b0820a2, noise off, one thread) computed on four views with the offline EfficientNet-Lite0
(its README). This script runs :mod:`captum_igos.presets` (``noise_std=0``, 15 steps) on
the same tensors and prints

1. the equality table: from each of the authors' traced states (the first five
   iterations), one iteration of ours; max |dM| to their next state (I-GOS: M, iGOS++:
   M_d M_i) and the step each took;
2. whole runs from ones, ``--iterations`` of them (5 and 20 by default): ours against
   their stored masks, and, along the way, where our trajectory leaves their traced one
   (the first iteration whose step differs, and max |dM| after each of the first five).

A whole run is a chain of one-iteration calls (``initial_mask=`` the previous mask): with
no noise and every line search restarted at ``alpha0``, an iteration depends on the current
mask alone, so the chain is the run.

    python -m benchmarks.reproduction --whole                 # the equality table only
    python -m benchmarks.reproduction --skip-equality --whole 5 --output reproduction_whole_5
    python -m benchmarks.reproduction --skip-equality --whole 20 --methods igos \
        --output reproduction_20_igos       # the committed results: three commands
    python -m benchmarks.reproduction                         # all of it in one file

Results: ``benchmarks/results/reproduction.md`` (``--output``), rewritten after each part.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from captum_igos import IGOS, IGOSPlusPlus
from captum_igos.models import load_model
from captum_igos.presets import AUTHORS_IGOS, AUTHORS_IGOS_PLUS_PLUS

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "data" / "authors_reference" / "authors_igos_reference.npz"
RESULTS = Path(__file__).parent / "results"
VIEWS = ("grace_hopper", "astronaut", "chelsea", "coffee")
#: The test's bound on max |dM| after one iteration from the same state.
TOLERANCE = 2e-3
METHODS: dict[str, tuple[Any, dict[str, Any], str]] = {
    "igos": (IGOS, AUTHORS_IGOS, "I-GOS"),
    "igospp": (IGOSPlusPlus, AUTHORS_IGOS_PLUS_PLUS, "iGOS++"),
}


def step_once(model: torch.nn.Module, reference: dict[str, np.ndarray], method: str,
              view: int, masks: Tensor) -> tuple[Tensor, Tensor]:
    """One preset iteration of ``view`` from ``masks`` (n, k, 28, 28): the new masks
    (n, k, 28, 28) and each one's step (n,)."""
    cls, preset, _ = METHODS[method]
    n = masks.shape[0]
    images = torch.from_numpy(reference["inputs"][view : view + 1]).expand(n, -1, -1, -1)
    baselines = torch.from_numpy(reference["baselines"][view : view + 1]).expand(n, -1, -1, -1)
    initial = masks if method == "igos" else (masks[:, :1], masks[:, 1:])
    result = cls(model).optimize(
        images.contiguous(), baselines.contiguous(), target=int(reference["labels"][view]),
        initial_mask=initial, internal_batch_size=15,
        **{**preset, "noise_std": 0.0, "n_steps": 15, "iterations": 1},
    )
    parts = [result.mask] if method == "igos" else [result.deletion_mask, result.insertion_mask]
    return torch.cat(parts, dim=1), result.step_sizes[:, 0].double()


def farthest(ours: Tensor, theirs: Tensor) -> list[float]:
    return (ours - theirs).abs().flatten(1).amax(dim=1).tolist()


def equality_rows(model, reference, method: str, view: int) -> list[str]:
    """One table row per traced iteration: view, method, iteration, max |dM|, steps."""
    states = torch.from_numpy(reference[f"{method}_trace_states"][view])
    final = torch.from_numpy(reference[f"{method}_trace_final"][view])
    theirs = torch.cat([states[1:].prod(dim=1), final[None]])
    masks, steps = step_once(model, reference, method, view, states)
    distances = farthest(masks.prod(dim=1), theirs)
    their_steps = reference[f"{method}_trace_steps"][view].tolist()
    return [
        f"| {VIEWS[view]} | {METHODS[method][2]} | {t + 1} | {distance:.1e} | "
        f"{steps[t]:.4g} / {their_steps[t]:.4g} |"
        for t, distance in enumerate(distances)
    ]


def whole_run(model, reference, method: str, view: int, iterations: int) -> dict[str, Any]:
    """Ours from ones for ``iterations``: the steps, max |dM| to their traced states over
    the first five iterations and to their stored masks at 5 and 20."""
    k = 1 if method == "igos" else 2
    masks = torch.ones(1, k, 28, 28)
    states = torch.from_numpy(reference[f"{method}_trace_states"][view])
    final = torch.from_numpy(reference[f"{method}_trace_final"][view])
    traced = torch.cat([states[1:].prod(dim=1), final[None]])  # M or M_d M_i, (5, 28, 28)
    steps, to_trace, to_stored = [], [], {}
    for iteration in range(1, iterations + 1):
        masks, step = step_once(model, reference, method, view, masks)
        steps.append(float(step[0]))
        if iteration <= 5:
            to_trace.append(farthest(masks.prod(dim=1), traced[iteration - 1 : iteration])[0])
        if iteration in (5, 20):
            stored = torch.from_numpy(reference[f"{method}_mask_{iteration}it"][view])
            to_stored[iteration] = farthest(masks.prod(dim=1), stored[None])[0]
    their_steps = reference[f"{method}_trace_steps"][view].tolist()
    parted = next((t + 1 for t, (a, b) in enumerate(zip(steps, their_steps))
                   if abs(a - b) > 1e-6 * b), None)
    return {"steps": steps, "to_trace": to_trace, "to_stored": to_stored, "parted": parted,
            "their_steps": their_steps, "why": why_they_part(to_trace, to_stored, parted)}


def why_they_part(to_trace: list[float], to_stored: dict[int, float],
                  parted: int | None) -> str:
    """Where and why a whole run leaves the authors', from its distances and steps."""
    last = max(to_stored)
    if to_stored[last] <= TOLERANCE:
        return (f"agree after {last} iterations (max abs dM {to_stored[last]:.0e}); the same "
                "steps where theirs are known (iterations 1-5)")
    if parted is not None:
        before = to_trace[parted - 2] if parted > 1 else 0.0
        return (f"iteration {parted}: from states {before:.0e} apart (rounding) the line "
                "search accepted another step; the runs follow different paths from there")
    drift = (f"the same steps in iterations 1-5, but the rounding difference of one "
             f"iteration ({to_trace[0]:.0e}) grows along the run to {to_trace[-1]:.0e} at "
             "iteration 5")
    if last <= 5:
        return drift
    return (f"{drift}; after it, where their steps are unknown, a line-search choice "
            "decided by that drift, as between the authors' own one- and two-thread runs")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", choices=tuple(METHODS), default=list(METHODS))
    parser.add_argument("--views", nargs="+", choices=VIEWS, default=list(VIEWS))
    parser.add_argument("--whole", nargs="*", type=int, default=[5, 20],
                        help="whole-run lengths to compare (5 and/or 20; none: skip)")
    parser.add_argument("--skip-equality", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="reproduction")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model("efficientnet_lite0").model.eval()
    with np.load(REFERENCE) as data:
        reference = dict(data)
    views = [VIEWS.index(name) for name in args.views]
    command = shlex.join(sys.argv[1:] if argv is None else argv)
    lines = [
        "# The presets against the code of the authors",
        "",
        f"Command: `python -m benchmarks.reproduction {command}`; {args.threads} thread(s) "
        "on a 2-core machine shared with other jobs (the times are not benchmarks). "
        "Reference: `tests/data/authors_reference/` (the authors' code, noise off, one "
        "thread). Ours: `captum_igos.presets` with `noise_std=0, n_steps=15`.",
    ]
    output = RESULTS / f"{args.output}.md"

    def write() -> None:
        RESULTS.mkdir(exist_ok=True)
        output.write_text("\n".join(lines) + "\n")

    if not args.skip_equality:
        lines += ["", "## One iteration from each of the authors' traced states", "",
                  "| view | method | iteration | max abs dM | step ours / theirs |",
                  "|---|---|---:|---:|---|"]
        for method in args.methods:
            for view in views:
                start = time.perf_counter()
                rows = equality_rows(model, reference, method, view)
                lines += rows
                print("\n".join(rows), f"({time.perf_counter() - start:.0f} s)", flush=True)
                write()
    for length in args.whole:
        lines += ["", f"## Whole runs of {length} iterations from ones", "",
                  "| view | method | max abs dM to theirs | steps part at | "
                  "max abs dM to their trace, iterations 1-5 | steps ours (theirs, first 5) "
                  "| where and why |",
                  "|---|---|---:|---:|---|---|---|"]
        for method in args.methods:
            for view in views:
                run = whole_run(model, reference, method, view, length)
                row = (
                    f"| {VIEWS[view]} | {METHODS[method][2]} | {run['to_stored'][length]:.1e} | "
                    f"{run['parted'] or '-'} | "
                    f"{', '.join(f'{d:.0e}' for d in run['to_trace'])} | "
                    f"{', '.join(f'{s:.3g}' for s in run['steps'])} "
                    f"({', '.join(f'{s:.3g}' for s in run['their_steps'])}) | {run['why']} |"
                )
                lines.append(row)
                print(row, flush=True)
                write()


if __name__ == "__main__":
    main()
