"""RSI-Grad-CAM speed and memory: ours against the per-step loop and Captum's layer methods.

Torchvision ResNet-50 with random weights (parameters require grad, as users' models do),
224 x 224 images, ``n_steps=50``, ``layer4``, target = top-1 class. Measured in one run:

- ``ours``: :class:`captum_igos.LayerRSIGradCam` with the default ``internal_batch_size``
  and with ``--points-per-chunk`` points per example (``internal_batch_size = N * P``);
- ``authors_loop``: the authors' way, one forward and ``backward()`` through the whole
  network per path point (parameters' ``.grad`` filled each step), trapezoid sum;
- ``LayerGradCam`` (one forward/backward) and ``LayerConductance`` with the same
  ``n_steps`` and ``internal_batch_size`` as ``ours``.

Also a chunk-size sweep (seconds per image against points per chunk; it chose
``CPU_ROWS_PER_PASS`` in ``captum_igos/_utils/batching.py``) and peak memory
against ``internal_batch_size`` and against
``n_steps`` (``benchmarks/_measure.py``: CPU ``ru_maxrss`` in a fresh subprocess, CUDA
allocator peak). Everything is printed, ratios included.

Run from the repository root::

    python -m benchmarks.rsi_gradcam --quick          # smoke run, about a minute
    python -m benchmarks.rsi_gradcam                   # full run (many minutes on a CPU)
    python -m benchmarks.rsi_gradcam --only sweep --batch-sizes 1 8
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from captum.attr import LayerConductance, LayerGradCam  # noqa: E402

from benchmarks._measure import format_bytes, peak_memory, time_call  # noqa: E402
from captum_igos import LayerRSIGradCam  # noqa: E402
from captum_igos._utils.batching import path_points_per_pass  # noqa: E402

PARTS = ("compare", "sweep", "memory")


def build(image_size: int, batch: int, device: str, seed: int = 0) -> tuple[Any, Tensor, Tensor]:
    """ResNet-50 (random weights, eval mode, grads required), a batch and its top-1 targets."""
    from torchvision.models import resnet50

    torch.manual_seed(seed)
    model = resnet50().eval().to(device)
    inputs = torch.rand(batch, 3, image_size, image_size, device=device)
    with torch.no_grad():
        target = model(inputs).argmax(dim=1)
    return model, inputs, target


def ours(model, inputs, target, n_steps, internal_batch_size, **options) -> Tensor:
    return LayerRSIGradCam(model, model.layer4).attribute(
        inputs, target=target, n_steps=n_steps, internal_batch_size=internal_batch_size,
        **options,
    )


def authors_loop(model, inputs, target, n_steps, internal_batch_size=None) -> Tensor:
    """One forward and ``backward()`` per path point; trapezoid Stieltjes sum, softmax score."""
    saved: list[Tensor] = []
    hook = model.layer4.register_forward_hook(lambda m, i, o: saved.append(o))
    rows = torch.arange(inputs.shape[0], device=inputs.device)
    total, prev_grad, prev_act = 0, None, None
    try:
        for m in range(n_steps + 1):
            saved.clear()
            out = model(inputs * (m / n_steps))  # black (zero) baseline
            saved[0].retain_grad()
            model.zero_grad(set_to_none=True)
            torch.softmax(out, dim=1)[rows, target].sum().backward()
            act, grad = saved[0].detach(), saved[0].grad
            if prev_act is not None:
                total = total + (prev_grad + grad) / 2 * (act - prev_act)
            prev_act, prev_grad = act, grad
    finally:
        hook.remove()
        model.zero_grad(set_to_none=True)
    weights = total.mean(dim=(2, 3), keepdim=True)
    return (weights * prev_act).sum(dim=1, keepdim=True)


def gradcam(model, inputs, target, n_steps=None, internal_batch_size=None) -> Tensor:
    return LayerGradCam(model, model.layer4).attribute(inputs, target=target)


def conductance(model, inputs, target, n_steps, internal_batch_size) -> Tensor:
    with warnings.catch_warnings():  # Captum warns when a chunk is raised to 2 steps
        warnings.simplefilter("ignore")
        return LayerConductance(model, model.layer4).attribute(
            inputs, target=target, n_steps=n_steps, method="riemann_trapezoid",
            internal_batch_size=internal_batch_size,
        )


METHODS: dict[str, Callable[..., Tensor]] = {
    "ours_default": functools.partial(ours, internal_batch_size=None),
    "ours": ours,
    "authors_loop": authors_loop,
    "LayerGradCam": gradcam,
    "LayerConductance": conductance,
}


def compare(args, batch: int) -> dict[str, float]:
    """Seconds per image for every method, same model, inputs and chunking."""
    model, inputs, target = build(args.image_size, batch, args.device)
    ibs = batch * args.points_per_chunk
    per_image, outputs = {}, {}
    for name, method in METHODS.items():

        def run(name=name, method=method) -> None:
            outputs[name] = method(
                model, inputs, target, n_steps=args.n_steps, internal_batch_size=ibs
            )

        timing = time_call(
            run, warmup=args.warmup, repeats=args.repeats, device=args.device, clock=args.clock
        )
        per_image[name] = timing.median / batch
        print(f"  {name:<17} {per_image[name]:8.3f} s/image  (repeats {_fmt(timing.seconds)})")
    scale = outputs["authors_loop"].abs().max().item()
    difference = (outputs["ours"] - outputs["authors_loop"]).abs().max().item()
    print(f"  max |ours - authors_loop| = {difference:.2e} (map scale {scale:.2e}; same sum)")
    base = per_image["ours"]
    for other in ("authors_loop", "LayerConductance", "LayerGradCam"):
        print(f"  ratio ours / {other:<17} = {base / per_image[other]:.2f}")
    print(f"  ratio ours_default / ours (P={args.points_per_chunk}) = "
          f"{per_image['ours_default'] / base:.2f}")
    return per_image


def sweep(args, batch: int) -> dict[int, float]:
    """Seconds per image against path points per example in one chunk."""
    model, inputs, target = build(args.image_size, batch, args.device)
    per_image = {}
    for points in args.sweep:
        run = functools.partial(
            ours, model, inputs, target, args.n_steps, internal_batch_size=batch * points
        )
        timing = time_call(
            run, warmup=args.warmup, repeats=args.repeats, device=args.device, clock=args.clock
        )
        per_image[points] = timing.median / batch
        print(f"  {points:>3} points/chunk ({batch * points:>4} rows) "
              f"{per_image[points]:8.3f} s/image")
    best = min(per_image, key=per_image.get)
    default = path_points_per_pass(None, batch, args.n_steps + 1, 2, torch.device(args.device))
    print(f"  best: {best} points/chunk; default {default}", end="")
    if default in per_image:
        ratio = per_image[default] / per_image[best]
        print(f" is {ratio:.2f}x the best (target <= 1.2)")
    else:
        print(" (not in the sweep)")
    return per_image


def _memory_setup(image_size: int, batch: int, device: str):
    return build(image_size, batch, device)


def _memory_work(state, method: str, n_steps: int, internal_batch_size: int | None) -> None:
    model, inputs, target = state
    METHODS[method](model, inputs, target, n_steps=n_steps, internal_batch_size=internal_batch_size)


def memory(args, batch: int) -> dict[str, int]:
    """Peak bytes beyond model + inputs, against chunk size and against n_steps."""
    setup = functools.partial(_memory_setup, args.image_size, batch, args.device)
    results = {}

    def measure(label: str, method: str, n_steps: int, ibs: int | None) -> None:
        work = functools.partial(
            _memory_work, method=method, n_steps=n_steps, internal_batch_size=ibs
        )
        results[label] = peak_memory(setup, work, device=args.device)
        print(f"  {label:<40} {format_bytes(results[label]):>10}")

    for points in args.memory_points:
        measure(f"ours n_steps={args.n_steps} points/chunk={points}", "ours", args.n_steps,
                batch * points)
    for n_steps in args.memory_steps:
        measure(f"ours n_steps={n_steps} points/chunk={args.points_per_chunk}", "ours",
                n_steps, batch * args.points_per_chunk)
    measure(f"authors_loop n_steps={args.n_steps}", "authors_loop", args.n_steps, None)
    measure(f"LayerConductance points/chunk={args.points_per_chunk}", "LayerConductance",
            args.n_steps, batch * args.points_per_chunk)
    measure("LayerGradCam", "LayerGradCam", args.n_steps, None)
    return results


def _fmt(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 64 px, n_steps 4, batch 1, one repeat")
    parser.add_argument("--only", choices=PARTS, nargs="+", default=list(PARTS))
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--points-per-chunk", type=int, default=8,
                        help="P: internal_batch_size = batch * P for ours and LayerConductance")
    parser.add_argument("--sweep", type=int, nargs="+", default=[2, 3, 5, 9, 17, 26, 51])
    parser.add_argument("--memory-points", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--memory-steps", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=0,
                        help="untimed runs per measurement (one model warm-up always runs)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: process CPU seconds (steadier when the machine is shared)")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    args.clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.quick:
        args.image_size, args.n_steps, args.repeats, args.warmup = 64, 4, 1, 0
        args.batch_sizes = [1]
        args.sweep, args.memory_points, args.memory_steps = [2, 5], [2, 5], [2, 4]
        args.points_per_chunk = 3
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = "CPU" if args.clock is time.process_time else "wall"
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads, "
          f"{args.image_size}px, n_steps={args.n_steps}, repeats={args.repeats}, {clock} seconds")
    model, inputs, _ = build(args.image_size, 1, args.device)
    with torch.no_grad():  # warm up the allocator and kernels once
        model(inputs)
    del model, inputs
    results: dict[str, Any] = {}
    start = time.perf_counter()
    for batch in args.batch_sizes:
        for part in args.only:
            print(f"\n[{part}] batch {batch}")
            results[f"{part}/batch{batch}"] = globals()[part](args, batch)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
