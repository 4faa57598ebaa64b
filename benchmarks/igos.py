"""I-GOS speed, memory and faithfulness: ours against the authors' way and the bare network.

224 x 224 inputs, 28 x 28 mask, default settings, top-1 class, on the offline default
model (``load_model("efficientnet_lite0")``, views of matplotlib's ``grace_hopper.jpg``:
the only photo the installed packages ship) and on torchvision's ResNet-50 with random
weights (timing only; its near-uniform softmax gives nearly no signal, so most images
stop early). Measured in one run, per model:

- ``(a) ours``: :class:`captum_igos.IGOS` at batch 1 (one call per image, on the same
  ``--authors-images`` images as (b)) and batch 8 (one call), default settings
  (``iterations x n_steps`` = ``DEFAULT_ITERATIONS x DEFAULT_N_STEPS``),
  ``internal_batch_size`` = ``--chunk``;
- ``(b) authors' way``: the same objective written as the authors' code runs it: one
  image at a time, the integrated gradient one path point per forward/backward, the line
  search's base loss recomputed every iteration, every search starting at
  ``alpha0 = 1000`` with the Armijo rule on the full :math:`\\lVert g\\rVert^2`, no early
  stop, parameters' gradients not requested, at the papers' 15 x 20 (``--authors-setting``);
- ``(c) network``: ``iterations`` x one batched forward+backward of the ``n_steps`` path
  points of every image with mask-only gradients (the floor for any I-GOS iteration).
- ``(c') forward only``: ``iterations`` x one batched forward pass of the same points, the
  cost of one line-search trial per iteration: any Armijo search evaluates the objective
  at least once per iteration, so ``(c + c') / c`` is the floor of a/c for the line
  search (``optimizer="nag"`` has no trials and a floor of 1).

Printed: seconds per image, network examples per image (forward-only and
forward+backward, a load-independent cost), peak memory (``benchmarks/_measure.py``, one
iteration: memory does not grow with iterations), the ratios a/b and a/c, and the
deletion / insertion AUCs of (a) and (b) side by side
(:func:`captum_igos.metrics.deletion_insertion`, blurred baseline, probability).

``--sweep`` instead compares ``iterations x n_steps`` settings (5x5, 10x10, 15x20, plus
the warm-started line search and Nesterov at the default) on the offline model: mean
AUCs and seconds per image; it chose the package's default.

Run from the repository root::

    python -m benchmarks.igos --quick     # smoke run: 64 px, 2 images, 2 iterations
    python -m benchmarks.igos             # full run (tens of minutes on a busy CPU)
    python -m benchmarks.igos --sweep --images 4
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torchvision.transforms.functional as TF
from torch import Tensor, nn

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._measure import format_bytes, peak_memory, time_call  # noqa: E402
from benchmarks._photos import PHOTO_SOURCES, photo_views  # noqa: E402
from captum_igos import IGOS  # noqa: E402
from captum_igos._core.mask_optimization import (  # noqa: E402
    DEFAULT_ITERATIONS,
    DEFAULT_N_STEPS,
    PAPER_ITERATIONS,
    PAPER_N_STEPS,
)
from captum_igos._utils.batching import default_rows_per_pass  # noqa: E402
from captum_igos._utils.masks import l1_to_ones, total_variation, upsample_mask  # noqa: E402
from captum_igos._utils.path_scores import PathScorer  # noqa: E402
from captum_igos._utils.scores import scored_forward  # noqa: E402
from captum_igos.baselines import blur_baseline  # noqa: E402
from captum_igos.metrics import deletion_insertion  # noqa: E402
from captum_igos.models import load_model  # noqa: E402
from captum_igos.optimizers import LineSearch  # noqa: E402

MODELS = ("efficientnet_lite0", "resnet50")
MASK_SIZE = 28
L1, TV, NOISE = 1.0, 20.0, 0.2
ALPHA0, DECAY, ARMIJO, MIN_ALPHA = 1000.0, 0.2, 1e-4, 1e-5
#: Images per forward pass of the deletion/insertion metric.
METRIC_CHUNK = 32


class CountingModel(nn.Module):
    """Counts the examples that go through the model, with and without autograd."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.forward_only = 0
        self.forward_backward = 0

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            self.forward_backward += x.shape[0]
        else:
            self.forward_only += x.shape[0]
        return self.model(x)

    def reset(self) -> None:
        self.forward_only = self.forward_backward = 0


def photo_batch(count: int, size: int, preprocess: Callable, skip: int = 0,
                source: str = "grace_hopper") -> Tensor:
    """``count`` views of ``source`` (``benchmarks/_photos.py``) after the first ``skip``."""
    views = [image for _, image in photo_views(source)[skip : skip + count]]
    batch = torch.stack([preprocess(view) for view in views])
    return batch if batch.shape[-1] == size else TF.resize(batch, [size, size], antialias=True)


#: torchvision models the benchmarks build with random weights (seed 0), offline.
RANDOM_WEIGHT_MODELS = ("resnet18", "resnet50")


def benchmark_model(name: str) -> tuple[nn.Module, Callable, nn.Module]:
    """Model in eval mode (parameters still require grad), its preprocessing and its last
    convolutional block: ``load_model(name)``, or a random-weight torchvision ResNet
    (:data:`RANDOM_WEIGHT_MODELS`, seed 0) with ImageNet normalisation."""
    if name in RANDOM_WEIGHT_MODELS:
        import torchvision.models

        torch.manual_seed(0)
        model = getattr(torchvision.models, name)().eval()
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

        def preprocess(image):
            tensor = TF.to_tensor(TF.center_crop(TF.resize(image, 256), 224))
            return TF.normalize(tensor, mean, std)

        return model, preprocess, model.layer4
    loaded = load_model(name)
    assert loaded.default_layer is not None  # the benchmarks' models are CNNs
    return loaded.model, loaded.preprocess, loaded.default_layer


def build(name: str, images: int, size: int, skip: int = 0,
          source: str = "grace_hopper") -> tuple[nn.Module, Tensor]:
    """Model in eval mode (parameters still require grad) and a batch of photo views."""
    model, preprocess, _ = benchmark_model(name)
    return model, photo_batch(images, size, preprocess, skip, source)


# ---------------------------------------------------------------------------------------
# (b) the authors' way: one image, one path point per pass, base loss recomputed
# ---------------------------------------------------------------------------------------


def _authors_point(model, image, baseline, mask, s, n_steps, noise, target):
    size = tuple(image.shape[-2:])
    point = baseline + (s / n_steps) * upsample_mask(mask, size) * (image - baseline) + noise
    return torch.softmax(model(point), dim=1)[0, target]


def _authors_objective(model, image, baseline, mask, noises, target) -> Tensor:
    n_steps = len(noises)
    with torch.no_grad():
        score = sum(
            _authors_point(model, image, baseline, mask, s + 1, n_steps, noises[s], target)
            for s in range(n_steps)
        )
        return score / n_steps + L1 * l1_to_ones(mask)[0] + TV * total_variation(mask)[0]


def authors_igos(model, image, target: int, iterations: int, n_steps: int,
                 generator: torch.Generator) -> Tensor:
    """I-GOS for ONE image (1, C, H, W) written the authors' way; returns the low-res mask."""
    baseline = blur_baseline(image)
    mask = image.new_ones(1, 1, MASK_SIZE, MASK_SIZE)
    for _ in range(iterations):
        noises = [NOISE * torch.randn(image.shape, generator=generator, dtype=image.dtype,
                                      device=image.device)
                  for _ in range(n_steps)]
        grad = torch.zeros_like(mask)
        for s in range(n_steps):  # integrated gradient, one path point at a time
            leaf = mask.detach().requires_grad_(True)
            score = _authors_point(model, image, baseline, leaf, s + 1, n_steps, noises[s], target)
            grad += torch.autograd.grad(score / n_steps, leaf)[0]
        leaf = mask.detach().requires_grad_(True)
        regulariser = L1 * l1_to_ones(leaf).sum() + TV * total_variation(leaf).sum()
        grad += torch.autograd.grad(regulariser, leaf)[0]
        base = _authors_objective(model, image, baseline, mask, noises, target)  # recomputed
        alpha, norm = ALPHA0, float(grad.pow(2).sum())
        while alpha >= MIN_ALPHA:
            candidate = (mask - alpha * grad).clamp(0, 1)
            loss = _authors_objective(model, image, baseline, candidate, noises, target)
            if float(loss) <= float(base) - ARMIJO * alpha * norm:
                break
            alpha *= DECAY
        mask = (mask - alpha * grad).clamp(0, 1)
    return mask


def authors_heatmaps(model, images, targets, iterations, n_steps, seed=0) -> Tensor:
    generator = torch.Generator(device=images.device).manual_seed(seed)
    masks = torch.cat([
        authors_igos(model, images[i : i + 1], int(targets[i]), iterations, n_steps, generator)
        for i in range(images.shape[0])
    ])
    return (1 - upsample_mask(masks, tuple(images.shape[-2:]))).expand_as(images)


# ---------------------------------------------------------------------------------------
# (a) ours and (c) the bare network cost
# ---------------------------------------------------------------------------------------


def ours_heatmaps(model, images, targets, iterations, n_steps, batch, chunk, seed=0,
                  **options) -> Tensor:
    igos = IGOS(model)
    outputs = []
    for start in range(0, images.shape[0], batch):
        rows = slice(start, start + batch)
        outputs.append(igos.attribute(
            images[rows], target=targets[rows], mask_size=MASK_SIZE, iterations=iterations,
            n_steps=n_steps, internal_batch_size=chunk,
            generator=torch.Generator(device=images.device).manual_seed(seed), **options,
        ))
    return torch.cat(outputs)


def network_cost(model, images, targets, iterations, n_steps, chunk, with_grad=True) -> None:
    """``iterations`` x forward+backward of all path points, gradients w.r.t. the mask only,
    in passes of ``chunk`` rows (``None``: the package's default, ``0``: one pass);
    ``with_grad=False``: forward only, the cost of one line-search trial per iteration."""
    rows = default_rows_per_pass(images.device) if chunk is None else (chunk or None)
    scorer = PathScorer(scored_forward(model, "probability"), images, blur_baseline(images),
                        targets, None, n_steps, rows)
    mask = images.new_ones(images.shape[0], 1, MASK_SIZE, MASK_SIZE)
    index = torch.arange(images.shape[0], device=images.device)
    deletion = torch.zeros(images.shape[0], dtype=torch.bool, device=images.device)
    for _ in range(iterations):
        up = upsample_mask(mask, tuple(images.shape[-2:]))
        scorer.path_scores(up, index, deletion, None, with_grad)


# ---------------------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    seconds_per_image: float
    forward_only: float
    forward_backward: float
    kind: str = "ours"
    batch: int = 1
    peak: int | None = None
    #: per-image deletion and insertion AUCs, each of shape (images,)
    aucs: tuple[Tensor, Tensor] | None = None


def measure(label, counting, images, fn, kind="ours", batch=1) -> tuple[Row, Any]:
    """Time one run of ``fn`` and count the network examples per image."""
    outputs = []
    counting.reset()
    timing = time_call(lambda: outputs.append(fn()), warmup=0, repeats=1, device=images.device)
    n = images.shape[0]
    row = Row(label, timing.best / n, counting.forward_only / n, counting.forward_backward / n,
              kind, batch)
    return row, outputs[-1]


def _memory_setup(name: str, images: int, size: int, device: str = "cpu"):
    model, batch = build(name, images, size)
    model, batch = model.to(device), batch.to(device)
    with torch.no_grad():
        targets = model(batch).argmax(dim=1)
    return model, batch, targets


def _memory_work(state, kind: str, n_steps: int, batch: int, chunk: int | None) -> None:
    model, images, targets = state
    if kind in ("ours", "nag"):
        optimizer = "nag" if kind == "nag" else "line_search"
        ours_heatmaps(model, images, targets, 1, n_steps, batch, chunk, optimizer=optimizer)
    elif kind == "authors":
        authors_heatmaps(model, images[:1], targets[:1], 1, n_steps)
    else:
        network_cost(model, images, targets, 1, n_steps, chunk, with_grad=kind == "network")


def aucs(model, images, targets, heatmaps, args) -> tuple[Tensor, Tensor]:
    """Per-image deletion and insertion AUCs (blurred baseline, probability)."""
    result = deletion_insertion(model, images, heatmaps, targets, n_steps=args.metric_steps,
                                internal_batch_size=METRIC_CHUNK)
    return result.deletion_auc, result.insertion_auc


def paired_difference(ours: Tensor, theirs: Tensor) -> str:
    """Mean and standard error of ``ours - theirs`` over the images both explained."""
    difference = ours[: theirs.shape[0]] - theirs
    n = difference.shape[0]
    error = float(difference.std() / n**0.5) if n > 1 else float("nan")
    return f"{float(difference.mean()):+.4f} +- {error:.4f}"


def compare(args, name: str) -> list[Row]:
    model, images = build(name, args.images, args.size, source=args.photos)
    model, images = model.to(args.device), images.to(args.device)
    counting = CountingModel(model)
    with torch.no_grad():
        targets = model(images).argmax(dim=1)
    its, steps = args.iterations, args.n_steps
    a_its, a_steps = args.authors_setting
    rows = []
    heatmaps = {}
    few = slice(0, args.authors_images)
    warm = " warm" if args.warm_start else " cold"
    for batch in args.batch_sizes:
        subset = few if batch == 1 else slice(0, args.images)
        row, maps = measure(
            f"(a) ours, batch {batch}, {its}x{steps}{warm}", counting, images[subset],
            lambda b=batch, s=subset: ours_heatmaps(counting, images[s], targets[s], its, steps,
                                                    b, args.chunk,
                                                    optimizer=LineSearch(warm_start=args.warm_start)),
            "ours", batch,
        )
        rows.append(row)
        heatmaps[row.label] = maps
    if args.also_nag:
        batch = max(args.batch_sizes)
        row, maps = measure(
            f"(a') ours nag, batch {batch}, {its}x{steps}", counting, images,
            lambda: ours_heatmaps(counting, images, targets, its, steps, batch, args.chunk,
                                  optimizer="nag"),
            "nag", batch,
        )
        rows.append(row)
        heatmaps[row.label] = maps
    row, maps = measure(
        f"(b) authors' way, {a_its}x{a_steps}", counting, images[few],
        lambda: authors_heatmaps(counting, images[few], targets[few], a_its, a_steps),
        "authors", 1,
    )
    rows.append(row)
    heatmaps[row.label] = maps
    batch = max(args.batch_sizes)
    for chunk, how in ((args.chunk, "passes as (a)"), (0, "one pass")):
        row, _ = measure(
            f"(c) network, batch {batch}, {how}", counting, images[:batch],
            lambda chunk=chunk: network_cost(counting, images[:batch], targets[:batch], its,
                                             steps, chunk),
            "network", batch,
        )
        rows.append(row)
    row, _ = measure(
        f"(c') forward only, batch {batch}", counting, images[:batch],
        lambda: network_cost(counting, images[:batch], targets[:batch], its, steps, args.chunk,
                             with_grad=False),
        "trial", batch,
    )
    rows.append(row)
    if not args.no_memory:
        for row in rows:
            row.peak = peak_memory(
                functools.partial(_memory_setup, name, row.batch, args.size, args.device),
                functools.partial(_memory_work, kind=row.kind,
                                  n_steps=a_steps if row.kind == "authors" else steps,
                                  batch=row.batch, chunk=args.chunk),
                device=args.device,
            )
    for row in rows:
        if row.label in heatmaps:
            n = heatmaps[row.label].shape[0]
            row.aucs = aucs(model, images[:n], targets[:n], heatmaps[row.label], args)
    return rows


def print_rows(name: str, rows: Sequence[Row], args) -> None:
    print(f"\n== {name}: {args.images} image(s) {args.size}x{args.size}, mask {MASK_SIZE}, "
          f"threads {torch.get_num_threads()}, chunk {args.chunk}, device {args.device} ==")
    print(f"{'':38s} {'s/image':>9s} {'fwd/img':>8s} {'f+b/img':>8s} {'peak':>10s} "
          f"{'deletion':>9s} {'insertion':>9s}")
    for row in rows:
        peak = format_bytes(row.peak) if row.peak is not None else "-"
        auc = (f"{row.aucs[0].mean():9.4f} {row.aucs[1].mean():9.4f}" if row.aucs
               else f"{'-':>9s} {'-':>9s}")
        print(f"{row.label:38s} {row.seconds_per_image:9.2f} {row.forward_only:8.0f} "
              f"{row.forward_backward:8.0f} {peak:>10s} {auc}")
    ours = [r for r in rows if r.kind == "ours"]
    (b,) = [r for r in rows if r.kind == "authors"]
    c = min((r for r in rows if r.kind == "network"), key=lambda r: r.seconds_per_image)
    best_a = min(ours, key=lambda r: r.seconds_per_image)
    largest_a = max(ours, key=lambda r: r.batch)
    print(f"a/b = {best_a.seconds_per_image / b.seconds_per_image:.3f} "
          f"(best (a): {best_a.label}; seconds per image)")
    print(f"a/c = {largest_a.seconds_per_image / c.seconds_per_image:.3f} "
          f"({largest_a.label} vs the faster (c): {c.label})")
    for nag in (r for r in rows if r.kind == "nag"):
        print(f"a'/c = {nag.seconds_per_image / c.seconds_per_image:.3f} ({nag.label})")
    (trial,) = [r for r in rows if r.kind == "trial"]
    floor = c.seconds_per_image + trial.seconds_per_image
    print(f"line-search floor (c + c')/c = {floor / c.seconds_per_image:.3f} (one trial per "
          f"iteration); a/(c + c') = {largest_a.seconds_per_image / floor:.3f}")
    cost = lambda r: r.forward_only + 2 * r.forward_backward  # noqa: E731
    print(f"network examples per image, forward+2*backward units: a/b = "
          f"{cost(best_a) / cost(b):.3f}, a/c = {cost(largest_a) / cost(c):.3f}")
    print(f"AUC minus (b)'s on the {b.aucs[0].shape[0]} image(s) (b) explained, mean +- "
          "standard error (deletion: negative is better; insertion: positive is better):")
    for row in rows:
        if row.aucs is not None and row is not b:
            print(f"  {row.label:36s} deletion {paired_difference(row.aucs[0], b.aucs[0])}"
                  f"   insertion {paired_difference(row.aucs[1], b.aucs[1])}")


# ---------------------------------------------------------------------------------------
# settings sweep
# ---------------------------------------------------------------------------------------


#: Settings compared by ``--sweep`` unless ``--settings`` names others.
SWEEP = ("5x5", "10x5", "5x10", "10x10", "15x20", "5x5 warm", "10x10 warm", "10x10 nag")


def sweep_options(label: str) -> dict[str, Any]:
    """``"ITERATIONSxSTEPS"`` plus an optional word, as keyword arguments of
    :meth:`IGOS.attribute`: none or ``cold`` is the papers' line search (every search starts
    at ``alpha0``), ``warm`` is ``LineSearch(warm_start=True)``, ``nag`` ``optimizer="nag"``."""
    size, *words = label.split()
    try:
        iterations, n_steps = (int(part) for part in size.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a setting like '10x5', '10x5 warm' or '10x10 nag', got {label!r}"
        ) from None
    options: dict[str, Any] = {"iterations": iterations, "n_steps": n_steps,
                               "optimizer": LineSearch(warm_start=False)}
    for word in words:
        if word not in ("warm", "cold", "nag"):
            raise argparse.ArgumentTypeError(
                f"expected 'warm', 'cold' or 'nag' after the size, got {word!r} in {label!r}"
            )
        if word == "nag":
            options["optimizer"] = "nag"
        else:
            options["optimizer"] = LineSearch(warm_start=word == "warm")
    return options


def sweep_setting(label: str) -> str:
    """argparse type of ``--settings``: the label, checked by :func:`sweep_options`."""
    sweep_options(label)
    return label


def sweep(args) -> None:
    model, images = build("efficientnet_lite0", args.images, args.size, args.skip_views,
                          args.photos)
    model, images = model.to(args.device), images.to(args.device)
    counting = CountingModel(model)
    with torch.no_grad():
        targets = model(images).argmax(dim=1)
    print(f"\n== sweep on efficientnet_lite0: views {args.skip_views} to "
          f"{args.skip_views + args.images - 1}, batch {args.batch_sizes[-1]}, "
          f"threads {torch.get_num_threads()} ==")
    print(f"{'setting':18s} {'s/image':>8s} {'fwd/img':>8s} {'f+b/img':>8s} {'deletion':>9s} "
          f"{'insertion':>9s}  per-image deletion / insertion")
    for label in args.settings or SWEEP:
        options = sweep_options(label)  # a fresh dict per label: popping is safe
        its, steps = options.pop("iterations"), options.pop("n_steps")
        if args.quick:
            its = min(its, 2)
        deletion, insertion, seconds = [], [], []
        for seed in range(args.seeds):
            row, maps = measure(label, counting, images, lambda its=its, steps=steps, o=options,
                                seed=seed: ours_heatmaps(counting, images, targets, its, steps,
                                                         args.batch_sizes[-1], args.chunk,
                                                         seed=seed, **o), 1)
            result = deletion_insertion(model, images, maps, targets, n_steps=args.metric_steps,
                                        internal_batch_size=METRIC_CHUNK)
            deletion.append(result.deletion_auc)
            insertion.append(result.insertion_auc)
            seconds.append(row.seconds_per_image)
        deletion_auc, insertion_auc = torch.stack(deletion), torch.stack(insertion)
        per_image = " ".join(f"{d:.3f}/{i:.3f}" for d, i in
                             zip(deletion_auc.mean(0).tolist(), insertion_auc.mean(0).tolist()))
        spread = (f" (seeds: {deletion_auc.mean(1).min():.4f}-{deletion_auc.mean(1).max():.4f}"
                  f" / {insertion_auc.mean(1).min():.4f}-{insertion_auc.mean(1).max():.4f})"
                  if args.seeds > 1 else "")
        print(f"{label:18s} {statistics.fmean(seconds):8.2f} {row.forward_only:8.0f} "
              f"{row.forward_backward:8.0f} {deletion_auc.mean():9.4f} "
              f"{insertion_auc.mean():9.4f}{spread}  {per_image}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 64 px, 2 images, 2x2")
    parser.add_argument("--sweep", action="store_true", help="settings sweep instead")
    parser.add_argument("--settings", nargs="+", type=sweep_setting, default=None,
                        help="sweep these settings instead, e.g. '10x5' '10x5 warm' '5x5 nag'")
    parser.add_argument("--skip-views", type=int, default=0, help="sweep: start at this view")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--images", type=int, default=8,
                        help="photo views (<= 8 for grace_hopper, <= 12 for skimage)")
    parser.add_argument("--photos", choices=PHOTO_SOURCES, default="grace_hopper",
                        help="views of grace_hopper.jpg, or six photos (pip install -e .[bench])")
    parser.add_argument("--seeds", type=int, default=1,
                        help="sweep: noise seeds per setting (AUCs averaged over them)")
    parser.add_argument("--authors-images", type=int, default=2,
                        help="images run the authors' way and by ours at batch 1 (slow)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
    parser.add_argument("--n-steps", type=int, default=DEFAULT_N_STEPS)
    parser.add_argument("--authors-setting", type=int, nargs=2,
                        default=[PAPER_ITERATIONS, PAPER_N_STEPS], metavar=("ITER", "STEPS"))
    parser.add_argument("--chunk", type=int, default=None,
                        help="internal_batch_size (default: the package's, 8 rows on a CPU)")
    parser.add_argument("--metric-steps", type=int, default=56,
                        help="deletion/insertion curve steps")
    parser.add_argument("--warm-start", action=argparse.BooleanOptionalAction,
                        default=LineSearch().warm_start,
                        help="(a) with warm_start=True / False (default: the package's, "
                        "%(default)s)")
    parser.add_argument("--also-nag", action="store_true", help="add (a') ours with nag")
    parser.add_argument("--no-memory", action="store_true", help="skip peak-memory runs")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where the model and images live (default: cuda if available)")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.images, args.batch_sizes = 64, 2, [1, 2]
        args.iterations, args.n_steps, args.authors_setting = 2, 2, [2, 3]
        args.chunk, args.metric_steps = 8, 8
    args.authors_images = min(args.authors_images, args.images)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.sweep:
        sweep(args)
        return
    for name in args.models:
        print_rows(name, compare(args, name), args)


if __name__ == "__main__":
    main()
