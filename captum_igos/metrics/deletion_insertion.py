r"""Deletion and insertion curves (RISE, as I-GOS evaluates its heatmaps).

Petsiuk, Das, Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
Models", BMVC 2018 (arXiv:1806.07421), define two curves from a saliency map; Qi, Khorram,
Li, "Visualizing Deep Networks by Optimizing with Integrated Gradients", AAAI 2020
(arXiv:1905.00954) use them with the blurred image as the baseline:

- *deletion*: start from the image and replace its pixels, most important first, by the
  baseline in equal steps until none is left; a faithful map makes the score drop fast
  (low area under the curve is good);
- *insertion*: start from the baseline and insert the image's pixels, most important
  first; a faithful map makes the score rise fast (high area is good).

Units and steps. Pixels (or, with ``grid``, the cells of a coarser grid) are ranked by the
attribution map. Units of equal value (a map's flat regions: I-GOS leaves most cells at
exactly :math:`M = 1`, a ReLU'd Grad-CAM is zero outside its peaks) are put in a random
order, one fixed permutation of the ``P`` units (``TIE_SEED``; ``ties="random"``, the
default), so a map that expresses no preference among units scores, in expectation, as a
random map does. ``ties="raster"`` keeps the order of the flattened image (lower index
first), the rule of ``numpy.argsort``: it inserts a flat region as contiguous rows, which
raise a photo's score faster than scattered pixels, and so rewards maps for what they leave
flat (``python -m benchmarks.ties`` measures it). With ``P`` units and
``n = n_steps``, curve point ``k = 0 .. n`` has :math:`c_k = \lfloor kP/n + 1/2 \rfloor`
units replaced (deletion) or inserted (insertion); ``fractions[k] = c_k / P``, which is
``k / n`` exactly when ``n`` divides ``P``. The area is the trapezoid rule over
``fractions``:
:math:`\mathrm{AUC} = \sum_k (f_{k+1} - f_k)(s_k + s_{k+1}) / 2`.
The deletion curve ends on the baseline and the insertion curve starts on it (and vice
versa for the clean image), so each image costs ``2 n`` forward passes (plus one for
``target=None``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Callable, Union

import torch
from torch import Tensor

from captum_igos._utils.batching import (
    chunk_ranges,
    rows_additional_args,
    rows_per_pass,
    rows_target,
)
from captum_igos._utils.captum_compat import (
    TargetType,
    format_additional_forward_args,
    progress,
    run_forward,
)
from captum_igos._utils.model_state import predicts
from captum_igos._utils.precision import autocast_forward, check_autocast
from captum_igos._utils.scores import Score, check_score, scored_forward
from captum_igos._utils.targets import checked_forward, resolve_target
from captum_igos._utils.validation import (
    check_choice,
    check_finite,
    check_finite_results,
    check_floating,
    check_inputs,
    check_optional_positive_int,
    check_positive_int,
    describe,
)
from captum_igos.baselines import baseline_images
from captum_igos.maps import CHANNEL_REDUCTIONS, saliency_map

__all__ = [
    "CHANNEL_REDUCTIONS",
    "TIES",
    "DeletionInsertionResult",
    "ImageDeletionInsertion",
    "deletion_insertion",
    "saliency_map",
]

GridType = Union[int, Sequence[int], None]
#: How units of equal attribution are ordered (module docstring).
TIES = ("random", "raster")
DEFAULT_TIES = "random"
#: Seed of the one permutation that orders tied units under ``ties="random"``.
TIE_SEED = 0


@dataclass(frozen=True, eq=False)
class ImageDeletionInsertion:
    """Deletion and insertion curves of one image (see :class:`DeletionInsertionResult`)."""

    fractions: Tensor
    deletion: Tensor
    insertion: Tensor
    deletion_auc: float
    insertion_auc: float


@dataclass(frozen=True, eq=False)
class DeletionInsertionResult:
    """Deletion and insertion curves and their areas for a batch of ``N`` images.

    Attributes:
        fractions: fraction of units (pixels or grid cells) deleted / inserted at each
            curve point, shape ``(n_steps + 1,)``, from 0 to 1.
        deletion: score after deleting ``fractions[k]`` of the units, most important
            first, shape ``(N, n_steps + 1)``; ``deletion[:, 0]`` is the clean image's score.
        insertion: score after inserting ``fractions[k]`` of the units into the baseline,
            shape ``(N, n_steps + 1)``; ``insertion[:, 0]`` is the baseline's score.
        deletion_auc: trapezoid area under each deletion curve, shape ``(N,)`` (lower is
            better).
        insertion_auc: trapezoid area under each insertion curve, shape ``(N,)`` (higher
            is better).

    ``result[i]`` (and :meth:`per_image`) gives one image's :class:`ImageDeletionInsertion`.
    """

    fractions: Tensor
    deletion: Tensor
    insertion: Tensor
    deletion_auc: Tensor
    insertion_auc: Tensor

    def __len__(self) -> int:
        return self.deletion.shape[0]

    def __getitem__(self, index: int) -> ImageDeletionInsertion:
        return ImageDeletionInsertion(
            fractions=self.fractions,
            deletion=self.deletion[index],
            insertion=self.insertion[index],
            deletion_auc=float(self.deletion_auc[index]),
            insertion_auc=float(self.insertion_auc[index]),
        )

    def __iter__(self) -> Iterator[ImageDeletionInsertion]:
        return iter(self.per_image())

    def per_image(self) -> list[ImageDeletionInsertion]:
        """One :class:`ImageDeletionInsertion` per image, in the batch's order."""
        return [self[index] for index in range(len(self))]


def _check_grid(grid: GridType, image_size: tuple[int, int]) -> tuple[int, int] | None:
    if grid is None:
        return None
    if isinstance(grid, Integral) and not isinstance(grid, bool):
        grid = (int(grid), int(grid))
    if (
        not isinstance(grid, Sequence)
        or len(grid) != 2
        or not all(isinstance(g, Integral) and not isinstance(g, bool) for g in grid)
    ):
        raise TypeError(f"expected grid to be None, an int or a pair of ints, got {describe(grid)}")
    rows, cols = (check_positive_int("grid", int(g)) for g in grid)
    if rows > image_size[0] or cols > image_size[1]:
        raise ValueError(
            f"expected a grid no larger than the image {tuple(image_size)}, got {(rows, cols)}"
        )
    return rows, cols


def _cell_index(image_size: tuple[int, int], grid: tuple[int, int], device: torch.device) -> Tensor:
    """``(H, W)`` long tensor: the cell of each pixel; cell rows ``floor(i * gh / H)``."""
    (height, width), (rows, cols) = image_size, grid
    row = torch.arange(height, device=device) * rows // height
    col = torch.arange(width, device=device) * cols // width
    return row[:, None] * cols + col[None, :]


def _unit_scores(
    attributions: Tensor,
    batch: int,
    image_size: tuple[int, int],
    grid: tuple[int, int] | None,
    channel_reduction: str,
) -> tuple[Tensor, Tensor | None]:
    """Importance of each unit ``(N, P)`` and, with a grid, the cell of each pixel."""
    if grid is None:
        maps = saliency_map(attributions, image_size, batch, channel_reduction)
        return maps.flatten(1), None
    cells = _cell_index(image_size, grid, attributions.device)
    if tuple(attributions.shape[-2:]) == grid:
        # a layer map at the grid's resolution is ranked as it is
        maps = saliency_map(attributions, grid, batch, channel_reduction)
        return maps.flatten(1), cells
    maps = saliency_map(attributions, image_size, batch, channel_reduction).flatten(1)
    sums = maps.new_zeros(batch, grid[0] * grid[1]).index_add_(1, cells.flatten(), maps)
    counts = torch.bincount(cells.flatten(), minlength=grid[0] * grid[1]).to(maps.dtype)
    return sums / counts, cells


def tie_order(units: int, ties: str, device: torch.device) -> Tensor:
    """The order in which tied units are taken: ``arange(units)`` for ``"raster"``, else one
    permutation drawn on the CPU from ``TIE_SEED`` (the same on every device and for every
    batch, so an image's curves do not depend on the images beside it)."""
    if ties == "raster":
        return torch.arange(units, device=device)
    generator = torch.Generator().manual_seed(TIE_SEED)
    return torch.randperm(units, generator=generator).to(device)


def _pixel_ranks(unit_scores: Tensor, cells: Tensor | None, ties: str) -> Tensor:
    """Rank of each pixel's unit, 0 = most important; ties in :func:`tie_order`."""
    shuffle = tie_order(unit_scores.shape[1], ties, unit_scores.device)
    by_value = torch.sort(unit_scores[:, shuffle], dim=1, descending=True, stable=True).indices
    order = shuffle[by_value]
    positions = torch.arange(unit_scores.shape[1], device=order.device).expand_as(order)
    ranks = torch.empty_like(order).scatter_(1, order, positions)
    return ranks if cells is None else ranks[:, cells.flatten()]


def step_counts(units: int, n_steps: int) -> list[int]:
    """Units perturbed at each curve point: ``round(k * units / n_steps)``, halves up."""
    return [(2 * k * units + n_steps) // (2 * n_steps) for k in range(n_steps + 1)]


def _format_single_input(name: str, value: Any) -> Tensor:
    if isinstance(value, tuple):
        if len(value) != 1:
            raise ValueError(f"expected {name} to be one tensor (or a 1-tuple), got {len(value)}")
        value = value[0]
    return value


@predicts(needs_grad=False)
def deletion_insertion(
    forward_func: Callable[..., Tensor],
    inputs: Tensor,
    attributions: Tensor,
    target: TargetType = None,
    baselines: int | float | Tensor | None = None,
    n_steps: int = 100,
    *,
    grid: GridType = None,
    channel_reduction: str = "sum",
    additional_forward_args: Any = None,
    score: Score = "probability",
    ties: str = DEFAULT_TIES,
    internal_batch_size: int | None = None,
    show_progress: bool = False,
    autocast: torch.dtype | None = None,
) -> DeletionInsertionResult:
    r"""Deletion and insertion curves and their areas (RISE; I-GOS's evaluation).

    For image :math:`x`, baseline :math:`\tilde x` and :math:`D_k` the set of the
    :math:`c_k` most important units (module docstring),

    .. math::
        \mathrm{del}_k = f_c\big(x \odot (1 - 1_{D_k}) + \tilde x \odot 1_{D_k}\big),\qquad
        \mathrm{ins}_k = f_c\big(\tilde x \odot (1 - 1_{D_k}) + x \odot 1_{D_k}\big),

    :math:`f_c` the softmax probability of the target (``score="probability"``) or the raw
    output (``score="raw"``). All ``2 n_steps`` perturbed images of all images go through
    ``forward_func`` in chunks of ``internal_batch_size`` examples, under
    ``torch.no_grad()`` and in eval mode (a model in training mode is switched for the
    call and restored: no dropout, no BatchNorm statistics updated).

    Args:
        forward_func: the model or any callable returning ``(N, classes)`` outputs.
        inputs: images ``(N, C, H, W)`` (a tensor or a 1-tuple).
        attributions: any Captum attribution of ``inputs``: input-shaped
            ``(N, C', H, W)`` with any number of channels (reduced per
            ``channel_reduction``), or layer-shaped ``(N, C', h, w)`` (e.g.
            ``LayerGradCam``'s ``(N, 1, h, w)``; reduced, then upsampled bilinearly).
            Higher means more important.
        target: Captum ``TargetType``; ``None`` uses the top-1 class of the clean input.
        baselines: what deleted pixels become; default :func:`captum_igos.baselines.blur_baseline`
            (the blurred image, as I-GOS evaluates). A number or a tensor broadcastable to
            ``inputs``.
        n_steps: curve segments ``n >= 1`` (points at fractions ``0, 1/n, ..., 1``).
        grid: ``None`` ranks pixels; an int or ``(rows, cols)`` ranks the cells of a
            coarser grid (as the I-GOS authors do at mask resolution) by the mean of the
            map over each cell (a layer map of exactly that size is used as it is), and
            perturbs whole cells. Pixel ``(i, j)`` is in cell
            ``(floor(i * rows / H), floor(j * cols / W))``.
        channel_reduction: ``"sum"`` (signed sum over channels, default) or
            ``"abs_sum"``.
        additional_forward_args: passed to ``forward_func`` after the inputs; tensors are
            indexed along dim 0 with each perturbed example's image.
        score: ``"probability"`` (default), ``"sigmoid"`` (multi-label), ``"raw"`` or a
            callable from the outputs ``(N, K)`` to a floating tensor of that shape or
            ``(N,)`` (:mod:`captum_igos._utils.scores`, the same check as the methods';
            the metric takes no gradient, so a detached score is accepted here).
        ties: order of units with equal attribution: ``"random"`` (default; one fixed
            permutation, ``TIE_SEED``) or ``"raster"`` (flattened image order, as
            ``numpy.argsort``); module docstring.
        internal_batch_size: examples per forward pass; ``None``: the methods' default,
            8 on a CPU and 64 on other devices
            (:func:`captum_igos._utils.batching.rows_per_pass`), so memory does not grow
            with ``n_steps`` or ``N``; pass more on a GPU for speed.
        show_progress: show a progress bar over the chunks.
        autocast: ``None`` (default), ``torch.float16`` or ``torch.bfloat16``: run the
            forward passes under ``torch.autocast`` on the inputs' device; the scores come
            back in the inputs' dtype before the curves and areas
            (:mod:`captum_igos._utils.precision`).

    Returns:
        :class:`DeletionInsertionResult`; curves in the model output's dtype.

    Shape:
        fractions ``(n_steps + 1,)``; deletion, insertion ``(N, n_steps + 1)``;
        deletion_auc, insertion_auc ``(N,)``.

    Example:
        >>> import torch
        >>> from captum_igos.metrics import deletion_insertion
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
        >>> x = torch.rand(2, 3, 8, 8)
        >>> result = deletion_insertion(model, x, torch.rand(2, 1, 8, 8), n_steps=8)
        >>> result.deletion.shape, result.insertion_auc.shape
        (torch.Size([2, 9]), torch.Size([2]))
    """
    (inputs,) = check_inputs(_format_single_input("inputs", inputs), images=True)
    attributions = check_floating(
        "attributions", _format_single_input("attributions", attributions)
    )
    check_finite("attributions", attributions)
    n_steps = check_positive_int("n_steps", n_steps)
    internal_batch_size = check_optional_positive_int("internal_batch_size", internal_batch_size)
    check_score(score)
    ties = check_choice("ties", ties, TIES)
    autocast = check_autocast(autocast, inputs)
    image_size = (inputs.shape[-2], inputs.shape[-1])
    grid = _check_grid(grid, image_size)
    unit_scores, cells = _unit_scores(
        attributions.to(inputs.device), inputs.shape[0], image_size, grid, channel_reduction
    )
    baselines = baseline_images(baselines, inputs)
    additional_forward_args = format_additional_forward_args(additional_forward_args)

    network = autocast_forward(forward_func, autocast, inputs)
    with torch.no_grad():
        target = resolve_target(network, (inputs,), target, additional_forward_args)
        ranks = _pixel_ranks(unit_scores, cells, ties).view(-1, *image_size)
        counts = step_counts(unit_scores.shape[1], n_steps)
        scores = _perturbed_scores(
            scored_forward(checked_forward(network, target), score),
            inputs,
            baselines,
            ranks,
            counts,
            target,
            additional_forward_args,
            internal_batch_size,
            show_progress,
        )
    return _curves(scores, counts, unit_scores.shape[1], inputs)


def _perturbed_scores(
    forward_func: Callable[..., Tensor],
    inputs: Tensor,
    baselines: Tensor,
    ranks: Tensor,
    counts: list[int],
    target: TargetType,
    additional_forward_args: tuple[Any, ...] | None,
    internal_batch_size: int | None,
    show_progress: bool,
) -> Tensor:
    """Scores ``(N, 2n)``: deletion points ``0 .. n``, then insertion points ``1 .. n-1``.

    Rows are step-major (:mod:`captum_igos._utils.batching`): example ``e`` is step
    ``e // N`` of image ``e % N``. A deletion step shows the baseline on its top-``c`` units
    and the image elsewhere; an insertion step the reverse.
    """
    n_steps = len(counts) - 1
    per_image = 2 * n_steps
    n_images = inputs.shape[0]
    total = n_images * per_image
    device = inputs.device
    step_count = torch.tensor(counts + counts[1:-1], device=device)
    step_inserts = torch.arange(per_image, device=device) > n_steps
    chunks = list(chunk_ranges(total, rows_per_pass(internal_batch_size, device)))
    if show_progress:
        chunks = progress(chunks, desc="deletion/insertion", total=len(chunks))
    outputs = []
    for start, stop in chunks:
        example = torch.arange(start, stop, device=device)
        step, image = example // n_images, example % n_images
        # deletion shows the baseline on the top-c units, insertion everywhere else
        top = ranks[image] < step_count[step].view(-1, 1, 1)
        shows_baseline = (top != step_inserts[step].view(-1, 1, 1)).unsqueeze(1)
        perturbed = torch.where(shows_baseline, baselines[image], inputs[image])
        output = run_forward(
            forward_func,
            (perturbed,),
            rows_target(target, image),
            rows_additional_args(additional_forward_args, image),
        )
        outputs.append(output.reshape(stop - start))
    return torch.cat(outputs).view(per_image, n_images).T


def _curves(
    scores: Tensor, counts: list[int], units: int, inputs: Tensor
) -> DeletionInsertionResult:
    check_finite_results("scores of the perturbed images", scores)
    n_steps = len(counts) - 1
    deletion = scores[:, : n_steps + 1]
    insertion = torch.cat(
        [deletion[:, n_steps:], scores[:, n_steps + 1 :], deletion[:, :1]], dim=1
    )
    fractions = torch.tensor(counts, device=inputs.device, dtype=inputs.dtype) / units
    x = fractions.to(scores.dtype)
    return DeletionInsertionResult(
        fractions=fractions,
        deletion=deletion,
        insertion=insertion,
        deletion_auc=torch.trapezoid(deletion, x=x, dim=1),
        insertion_auc=torch.trapezoid(insertion, x=x, dim=1),
    )
