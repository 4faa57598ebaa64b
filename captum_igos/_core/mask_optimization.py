r"""The optimisation shared by I-GOS and iGOS++: result object, loop, argument handling.

A method supplies a :class:`MaskObjective` (path scores plus regularisers of its masks);
:func:`optimize_masks` runs the iterations for all images at once and
:class:`MaskAttribution` is the Captum ``attribute()`` / ``optimize()`` front end.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import partial
from numbers import Integral
from typing import Any, Callable, Literal, NoReturn, Protocol, TypeVar, Union, cast

import torch
from captum.attr import GradientAttribution
from captum.log import log_usage
from torch import Tensor

from captum_igos._utils.batching import default_rows_per_pass, warn_caller
from captum_igos._utils.captum_compat import (
    BaselineType,
    TargetType,
    TensorOrTupleOfTensorsGeneric,
    format_additional_forward_args,
    format_output,
    format_tensor_into_tuples,
    is_tuple,
    progress,
)
from captum_igos._utils.masks import (
    BILATERAL_CHANNELS,
    BILATERAL_IMAGES,
    BilateralChannels,
    BilateralImage,
    upsample_mask,
)
from captum_igos._utils.model_state import predicts
from captum_igos._utils.optimizers import (
    LineSearch,
    MaskOptimizer,
    Masks,
    Nesterov,
    as_optimizer,
)
from captum_igos._utils.path_scores import (
    FreshNoise,
    Noise,
    PathScorer,
    clean_score_scale,
    draw_noise,
)
from captum_igos._utils.precision import LossScale, autocast_forward, check_autocast
from captum_igos._utils.scores import Score, check_score, score_bounds, scored_forward
from captum_igos._utils.targets import checked_forward, resolve_target
from captum_igos._utils.validation import (
    check_choice,
    check_inputs,
    check_nonnegative,
    check_optional_positive_int,
    check_positive_int,
    check_target,
    check_tensor,
    describe,
)
from captum_igos.baselines import baseline_images
from captum_igos.maps import EmptyMapWarning

#: Default iterations x integration steps and line-search start: the cheapest setting of
#: ``python -m benchmarks.igos --sweep --photos skimage`` whose deletion and insertion AUCs
#: match the papers' 15 x 20 (``iterations=15, n_steps=20, warm_start=False``); fewer than
#: 10 integration steps cost deletion quality, the warm start (each search begins at the
#: image's last accepted step) costs none and saves forward passes. The figures are in
#: ``CHANGELOG.md`` ("Benchmark history": the sweep predates the metric's random ties).
DEFAULT_ITERATIONS = 10
DEFAULT_N_STEPS = 10
PAPER_ITERATIONS = 15
PAPER_N_STEPS = 20

#: Score terms of the objective: ``"normalized"`` divides every path score by the clean
#: image's score :math:`f_c(x)` (:func:`~captum_igos._utils.path_scores.clean_score_scale`);
#: ``"paper"`` is the papers' :math:`f_c` itself.
ObjectiveName = Literal["normalized", "paper"]
OBJECTIVES = ("normalized", "paper")
DEFAULT_OBJECTIVE: ObjectiveName = "normalized"
#: iGOS++'s combined mask in the path terms: ``"low_resolution"`` upsamples the product,
#: :math:`up(M_d M_i)`; ``"upsampled"`` multiplies the upsampled masks, :math:`up(M_d)\,
#: up(M_i)` (the authors' code). The regulariser always sees :math:`M_d M_i`.
MaskProduct = Literal["low_resolution", "upsampled"]
MASK_PRODUCTS = ("low_resolution", "upsampled")
#: ``initial_mask=``: one tensor (I-GOS) or a pair ``(deletion_mask, insertion_mask)``.
InitialMask = Union[Tensor, tuple[Tensor, Tensor]]
#: Per-image outcome of the optimisation (:attr:`MaskOptimizationResult.status`).
MOVED, STOPPED_AT_START, NON_FINITE = "moved", "stopped_at_start", "non_finite_loss"
BARELY_MOVED = "barely_moved"
#: A map whose largest value ``max(1 - M)`` stays below this is reported as empty
#: (``BARELY_MOVED``): steps were taken, but no cell left ones by a thousandth of the
#: [0, 1] range, so the deletion / insertion order is decided by rounding noise, and a
#: plot scaled to the map's maximum shows that noise as structure.
EMPTY_MAP_TOLERANCE = 1e-3


@dataclass(frozen=True)
class MaskOptimizationResult:
    """The optimisation behind an I-GOS / iGOS++ explanation, per image.

    Attributes:
        mask: the explanation mask :math:`M` (iGOS++: :math:`M_d M_i`), low resolution,
            shape (N, 1, h, w), values in [0, 1]; small = important.
        losses: objective :math:`F_S(M_t)` at the start of each iteration (under that
            iteration's noise), shape (N, iterations); NaN after an image stopped.
        step_sizes: step size taken in each iteration, shape (N, iterations); 0 where no
            step was taken.
        iterations_run: iterations in which the image's direction was computed, (N,).
        converged: whether the image stopped before the iteration budget because no step
            changed its mask (line search: no step size >= ``min_alpha`` satisfied Armijo),
            bool (N,).
        status: per image, what happened: ``"moved"`` (the map has a value of at least
            ``EMPTY_MAP_TOLERANCE = 1e-3``), ``"barely_moved"`` (steps were taken but
            every value of ``1 - M`` stayed below 1e-3: empty in effect),
            ``"stopped_at_start"`` (no step from the all-ones mask decreased the
            objective: the map is empty) or ``"non_finite_loss"`` (the objective was NaN
            or infinite, e.g. a model output overflowed; the image stopped there).
        deletion_mask: iGOS++ only, :math:`M_d`, shape (N, 1, h, w).
        insertion_mask: iGOS++ only, :math:`M_i`, shape (N, 1, h, w).
    """

    mask: Tensor
    losses: Tensor
    step_sizes: Tensor
    iterations_run: Tensor
    converged: Tensor
    status: tuple[str, ...] = ()
    deletion_mask: Tensor | None = None
    insertion_mask: Tensor | None = None

    @property
    def empty(self) -> list[int]:
        """Indices of the images whose map is empty (all zeros, or every value below 1e-3)."""
        return [index for index, status in enumerate(self.status) if status != MOVED]

    def heatmap(self, size: tuple[int, int] | None = None) -> Tensor:
        """The heatmap ``1 - up(M)``: shape (N, 1, H, W) for ``size=(H, W)``, else (N, 1, h, w).

        Computed as ``up(1 - M)`` (equal, since bilinear weights sum to 1), so an empty map
        (``M = 1``) is exactly zero rather than the ``1 - (1 - eps)`` rounding of
        ``1 - up(M)``; clamped to [0, 1] against rounding in the upsampling.
        """
        heatmap = 1 - self.mask
        if size is not None:
            heatmap = upsample_mask(heatmap, size)
        return heatmap.clamp(0, 1)


class MaskObjective(Protocol):
    """What a mask method supplies to :func:`optimize_masks`."""

    @property
    def n_masks(self) -> int:
        """Masks per image (1 for I-GOS; deletion and insertion for iGOS++)."""

    @property
    def mask_size(self) -> tuple[int, int]:
        """(h, w) of every mask."""

    def evaluate(
        self, masks: Masks, image_index: Tensor, noise: Noise, with_grad: bool
    ) -> tuple[Tensor, Masks | None]:
        """Objective of shape (n,) for the images ``image_index`` (indices into the N
        images) and, if asked, the directions."""

    def lower_bound(self, masks: Masks, image_index: Tensor) -> Tensor:
        """A lower bound of the objective that runs no model, shape (n,)."""

    def named_masks(self, masks: Masks) -> dict[str, Tensor]:
        """The :class:`MaskOptimizationResult` fields for the final masks."""


#: Keyword arguments that moved into the optimiser objects, and where to.
MOVED_TO_OPTIMIZERS = {
    "alpha0": "LineSearch(alpha0=...)", "decay": "LineSearch(decay=...)",
    "armijo": "LineSearch(armijo=...)", "min_alpha": "LineSearch(min_alpha=...)",
    "warm_start": "LineSearch(warm_start=...)", "nag_step": "Nesterov(step_size=...)",
}


@dataclass(frozen=True)
class MaskOptions:
    r"""The keyword options of IGOS and IGOSPlusPlus ``attribute`` and ``optimize`` (one home).

    The two methods write these keywords out with the same defaults (a test checks that
    they agree); this class holds the defaults, their documentation and the checks.
    :mod:`captum_igos.presets` gives the settings that reproduce the authors' code.

    Attributes:
        mask_size: ``h = w`` or ``(h, w)``, from 1 up to the input size (28).
        iterations: optimisation iterations (10; the papers use 15).
        n_steps: integration steps :math:`S` per iteration (10; the papers use 20).
            ``iterations=15, n_steps=20, optimizer=LineSearch(warm_start=False)`` is the
            papers' setting; the default is the cheapest setting as faithful as it in
            ``benchmarks/igos.py --sweep`` (see ``DEFAULT_ITERATIONS``).
        l1_coeff: :math:`\lambda_1 \ge 0` (1).
        tv_coeff: :math:`\lambda_{TV} \ge 0` (20), on TV (I-GOS) or bilateral TV (iGOS++).
        noise_std: std of the noise :math:`\epsilon_s` added to each path point, in
            model-input units (0.2); one draw per step and iteration, shared by the batch's
            images, and reused by every trial of that iteration's line search (see
            ``fresh_noise``).
        optimizer: how the masks move: ``"line_search"`` /
            :class:`~captum_igos.optimizers.LineSearch` (a backtracking Armijo search per
            image, the papers'; its settings ``alpha0``, ``decay``, ``armijo``,
            ``min_alpha``, ``warm_start``, ``armijo_test``, ``step_when_rejected`` are the
            object's) or ``"nag"`` / :class:`~captum_igos.optimizers.Nesterov` (a fixed
            step with momentum, BMVC 2023; its ``step_size``). A name means the object's
            defaults.
        score: ``"probability"`` (softmax over dim 1, the papers'), ``"sigmoid"``
            (multi-label models), ``"raw"`` (forward functions that return a score, such
            as :mod:`captum_igos.targets`) or a callable from outputs to scores of the same
            shape (:mod:`captum_igos._utils.scores`).
        objective: the score term. ``"normalized"`` (default) divides every path score by
            the clean image's score, :math:`f_c(\cdot) / f_c(x)`, so the term spans [0, 1]
            whatever the target's confidence and low-probability targets (rank 2-100, a
            weak model) get maps too; one extra forward pass. ``"paper"`` is the papers'
            :math:`f_c(\cdot)`, for which a target of probability p can lower the term by
            at most p, so for small p the mask often stays at ones (an empty map;
            ``attribute`` warns). Measured in ``benchmarks/results/targets.md``.
        initial_mask: where the optimisation starts: ``None`` (all ones, the papers'), for
            I-GOS a tensor of shape (N, 1, h, w), for iGOS++ a pair ``(deletion_mask,
            insertion_mask)`` of such tensors; values in [0, 1], ``h, w`` = ``mask_size``.
            Copied, never changed.
        l1_pull_at_one: the L1 term's (sub)gradient where a cell is at 1. ``True``: that of
            ``mean(1 - M)``, :math:`-\lambda_1 / (hw)`, which pulls every cell off 1;
            ``False``: that of ``mean|1 - M|`` through ``abs``, zero at 1 (the authors'
            code, both methods), so a cell leaves 1 only where the score pushes it.
            ``None``: the method's default, ``True`` for I-GOS, ``False`` for iGOS++ (on
            12 views the iGOS++ ablation in ``benchmarks/`` measured each choice).
        fresh_noise: ``False`` (default): the noise described under ``noise_std``.
            ``True``: as the authors' code, a new draw for every image, step and
            evaluation (the direction, the line search's base loss and each trial), so the
            Armijo test compares two different random objectives.
        mask_product: iGOS++ only: the combined mask of the path terms,
            ``"low_resolution"`` (default, :math:`up(M_d M_i)`) or ``"upsampled"``
            (:math:`up(M_d)\, up(M_i)`, the authors' code).
        bilateral_image: iGOS++ only: the image the bilateral weights come from,
            ``"min_max"`` (default: scaled to [0, 1] per image, so sigma = 0.01 means the
            same whatever the model's input normalisation) or ``"input"`` (the model input
            as given, the authors' code).
        bilateral_channels: iGOS++ only: how the bilateral weights average the channels,
            ``"mean_of_squares"`` (default) or ``"authors"``
            (:func:`~captum_igos._utils.masks.bilateral_weights`).
        generator: ``torch.Generator`` on the inputs' device for the noise; ``None`` uses
            torch's global generator. The same seed gives the same heatmaps.
        internal_batch_size: most examples per forward pass; an evaluation has
            ``N * n_steps`` path points (iGOS++: ``4 N n_steps``). ``None``: the device's
            default (:func:`~captum_igos._utils.batching.default_rows_per_pass`: 8 on a
            CPU, 64 elsewhere); on a GPU a larger value is usually faster.
        show_progress: show a tqdm bar over the iterations.
        autocast: ``None`` (default), ``torch.float16`` or ``torch.bfloat16``: run every
            network pass under ``torch.autocast`` on the inputs' device; masks,
            objective, line search and sums stay in float32, float16 gradients are
            scaled (:mod:`captum_igos._utils.precision`). Opt-in: measured in
            ``benchmarks/results/precision.md``.
    """

    mask_size: int | tuple[int, int] = 28
    iterations: int = DEFAULT_ITERATIONS
    n_steps: int = DEFAULT_N_STEPS
    l1_coeff: float = 1.0
    tv_coeff: float = 20.0
    noise_std: float = 0.2
    optimizer: str | LineSearch | Nesterov = "line_search"
    score: Score = "probability"
    objective: ObjectiveName = DEFAULT_OBJECTIVE
    initial_mask: InitialMask | None = None
    l1_pull_at_one: bool | None = None
    fresh_noise: bool = False
    mask_product: MaskProduct = "low_resolution"
    bilateral_image: BilateralImage = "min_max"
    bilateral_channels: BilateralChannels = "mean_of_squares"
    generator: torch.Generator | None = None
    internal_batch_size: int | None = None
    show_progress: bool = False
    autocast: torch.dtype | None = None

    @classmethod
    def from_call(
        cls, method: str, arguments: dict[str, Any], unexpected: dict[str, Any]
    ) -> MaskOptions:
        """The options of a call to ``method`` (``"IGOS.attribute"``): the fields taken from
        its ``arguments`` (``locals()``), any ``unexpected`` keyword refused with a hint."""
        names = [field.name for field in fields(cls)]
        for name in unexpected:
            if name in MOVED_TO_OPTIMIZERS:
                hint = f"; it is now optimizer={MOVED_TO_OPTIMIZERS[name]}"
            else:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(
                f"{method}() got an unexpected keyword argument {name!r}{hint} "
                f"(expected keyword options: {', '.join(names)})"
            )
        return cls(**{name: arguments[name] for name in names})


#: Options that only iGOS++ reads (I-GOS refuses a value other than the default).
IGOS_PLUS_PLUS_ONLY = ("mask_product", "bilateral_image", "bilateral_channels")


@dataclass(frozen=True)
class CheckedOptions:
    """``MaskOptions`` validated against the images (sizes, device) and the method."""

    mask_size: tuple[int, int]
    iterations: int
    n_steps: int
    l1_coeff: float
    tv_coeff: float
    noise_std: float
    optimizer: MaskOptimizer
    score: Score
    objective: str
    initial_mask: Masks | None
    l1_pull_at_one: bool
    fresh_noise: bool
    mask_product: MaskProduct
    bilateral_image: BilateralImage
    bilateral_channels: BilateralChannels
    generator: torch.Generator | None
    internal_batch_size: int | None
    show_progress: bool
    autocast: torch.dtype | None = None


def check_options(
    options: MaskOptions, images: Tensor, n_masks: int = 1, l1_pull_at_one: bool = True
) -> CheckedOptions:
    """Every option checked (a ``ValueError`` / ``TypeError`` naming it) before any model call.

    ``n_masks`` (1 for I-GOS, 2 for iGOS++) and ``l1_pull_at_one`` (the method's default
    for ``l1_pull_at_one=None``) come from the method.
    """
    score = check_score(options.score)  # reported before the other options, as it always was
    if n_masks == 1:
        for name in IGOS_PLUS_PLUS_ONLY:
            default = next(field.default for field in fields(MaskOptions) if field.name == name)
            if getattr(options, name) != default:
                raise ValueError(
                    f"expected {name}={default!r} for I-GOS ({name} is an iGOS++ option), "
                    f"got {getattr(options, name)!r}"
                )
    mask_size = _check_mask_size(options.mask_size, tuple(images.shape[-2:]))
    return CheckedOptions(
        mask_size=mask_size,
        iterations=check_positive_int("iterations", options.iterations),
        n_steps=check_positive_int("n_steps", options.n_steps),
        l1_coeff=check_nonnegative("l1_coeff", options.l1_coeff),
        tv_coeff=check_nonnegative("tv_coeff", options.tv_coeff),
        noise_std=check_nonnegative("noise_std", options.noise_std),
        optimizer=as_optimizer(options.optimizer),
        score=score,
        objective=check_choice("objective", options.objective, OBJECTIVES),
        initial_mask=_check_initial_mask(options.initial_mask, n_masks, mask_size, images),
        l1_pull_at_one=(
            l1_pull_at_one if options.l1_pull_at_one is None
            else _check_bool("l1_pull_at_one", options.l1_pull_at_one)
        ),
        fresh_noise=_check_bool("fresh_noise", options.fresh_noise),
        mask_product=cast(MaskProduct, check_choice(
            "mask_product", options.mask_product, MASK_PRODUCTS)),
        bilateral_image=cast(BilateralImage, check_choice(
            "bilateral_image", options.bilateral_image, BILATERAL_IMAGES)),
        bilateral_channels=cast(BilateralChannels, check_choice(
            "bilateral_channels", options.bilateral_channels, BILATERAL_CHANNELS)),
        generator=_check_generator(options.generator, images),
        internal_batch_size=check_optional_positive_int(
            "internal_batch_size", options.internal_batch_size
        ),
        show_progress=bool(options.show_progress),
        autocast=check_autocast(options.autocast, images),
    )


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected {name} to be a bool, got {describe(value)}")
    return value


def _check_initial_mask(
    value: Any, n_masks: int, mask_size: tuple[int, int], images: Tensor
) -> Masks | None:
    """``initial_mask`` as ``n_masks`` float masks of shape (N, 1, h, w) in [0, 1], copied
    onto the images' device and dtype."""
    if value is None:
        return None
    shape = (images.shape[0], 1, *mask_size)
    expected = f"a tensor of shape {shape}" if n_masks == 1 else (
        f"a pair (deletion_mask, insertion_mask) of tensors of shape {shape}")
    if n_masks == 1:
        parts = (value,) if isinstance(value, Tensor) else None
    else:
        is_pair = isinstance(value, (tuple, list)) and len(value) == 2
        parts = tuple(value) if is_pair else None
    if parts is None:
        raise TypeError(f"expected initial_mask to be {expected}, got {describe(value)}")
    masks = []
    for part in parts:
        part = check_tensor("initial_mask", part)
        if not part.is_floating_point() or tuple(part.shape) != shape:
            raise ValueError(
                f"expected initial_mask to be {expected} (mask_size={mask_size}) of a "
                f"floating dtype, got {describe(part)}"
            )
        if not bool(((part >= 0) & (part <= 1)).all()):
            raise ValueError(
                "expected initial_mask values in [0, 1] (finite), got values from "
                f"{float(part.min())} to {float(part.max())}"
            )
        masks.append(part.detach().to(device=images.device, dtype=images.dtype).clone())
    return tuple(masks)


def optimize_masks(
    objective: MaskObjective,
    like: Tensor,
    options: CheckedOptions,
    progress_bar: Any = None,
) -> MaskOptimizationResult:
    """Run the iterations for all images together; stopped images cost no more passes.

    Each iteration draws one noise sample per integration step, evaluates the objective
    and the descent directions of the images still running, then moves them with the
    optimiser's run (:class:`~captum_igos._utils.optimizers.LineSearchRun`: the batched
    line search, reusing that evaluation as the base loss and the same noise for every
    trial; :class:`~captum_igos._utils.optimizers.NesterovRun`). An image stops when its
    step leaves its masks unchanged.

    Args:
        objective: the method's :class:`MaskObjective`.
        like: the images (N, C, H, W); masks take their device and dtype.
        options: iterations, integration steps, noise, the optimiser and the generator.
        progress_bar: an object with ``update()``, advanced once per iteration.
    """
    n = like.shape[0]
    masks = options.initial_mask or tuple(
        like.new_ones((n, 1, *objective.mask_size)) for _ in range(objective.n_masks)
    )
    run = options.optimizer.start(masks, options.tv_coeff)
    losses = like.new_full((n, options.iterations), float("nan"))
    step_sizes = like.new_zeros((n, options.iterations))
    iterations_run = torch.zeros(n, dtype=torch.long, device=like.device)
    converged = torch.zeros(n, dtype=torch.bool, device=like.device)
    non_finite = torch.zeros(n, dtype=torch.bool, device=like.device)
    active = torch.arange(n, device=like.device)
    for iteration in range(options.iterations):
        if active.numel() == 0:
            break
        noise: Noise = (
            FreshNoise(options.noise_std, options.generator)
            if options.fresh_noise and options.noise_std > 0
            else draw_noise(options.n_steps, like, options.noise_std, options.generator)
        )
        current = tuple(mask[active] for mask in masks)
        loss, directions = objective.evaluate(current, active, noise, True)
        assert directions is not None  # with_grad=True: the objective returned them
        if isinstance(noise, FreshNoise):  # the authors' line search draws its own base loss
            loss = objective.evaluate(current, active, noise, False)[0]
        losses[active, iteration] = loss
        iterations_run[active] += 1
        finite = torch.isfinite(loss)
        for direction in directions:
            finite &= torch.isfinite(direction).flatten(1).all(dim=1)
        if not bool(finite.all()):
            non_finite[active[~finite]] = True
            active, loss = active[finite], loss[finite]
            current = tuple(mask[active] for mask in masks)
            directions = tuple(direction[finite] for direction in directions)
            if active.numel() == 0:
                break
        updated, steps = run.step(
            active, current, directions, loss, iteration,
            partial(_trial_loss, objective, active, noise),
            partial(_trial_lower_bound, objective, active),
        )
        moved = torch.zeros_like(converged[active])
        for mask, old, new in zip(masks, current, updated):
            moved |= (new != old).flatten(1).any(dim=1)
            mask[active] = new
        step_sizes[active, iteration] = torch.where(moved, steps, torch.zeros_like(steps))
        converged[active[~moved]] = True
        active = active[moved]
        if progress_bar is not None:
            progress_bar.update()
    named_masks = objective.named_masks(masks)
    return MaskOptimizationResult(
        losses=losses,
        step_sizes=step_sizes,
        iterations_run=iterations_run,
        converged=converged,
        status=_outcomes(non_finite, step_sizes, named_masks["mask"]),
        **named_masks,
    )


def _outcomes(non_finite: Tensor, step_sizes: Tensor, mask: Tensor) -> tuple[str, ...]:
    """Per image: ``NON_FINITE``, ``STOPPED_AT_START``, ``BARELY_MOVED`` or ``MOVED`` (the
    first that applies)."""
    ever_moved = (step_sizes > 0).any(dim=1).tolist()
    peak = (1 - mask.detach()).flatten(1).amax(dim=1).tolist()
    return tuple(
        NON_FINITE if bad else STOPPED_AT_START if not went
        else BARELY_MOVED if height < EMPTY_MAP_TOLERANCE else MOVED
        for bad, went, height in zip(non_finite.tolist(), ever_moved, peak)
    )


def _trial_loss(
    objective: MaskObjective, active: Tensor, noise: Noise, candidates: Masks, rows: Tensor
) -> Tensor:
    """The line search's trial objective of the searching ``rows`` of the ``active`` images."""
    return objective.evaluate(candidates, active[rows], noise, False)[0]


def _trial_lower_bound(
    objective: MaskObjective, active: Tensor, candidates: Masks, rows: Tensor
) -> Tensor:
    """The model-free lower bound of :func:`_trial_loss`."""
    return objective.lower_bound(candidates, active[rows])


def warn_empty_maps(
    method: str, result: MaskOptimizationResult, objective: str,
    autocast: torch.dtype | None = None,
) -> None:
    """An :class:`EmptyMapWarning` naming the images whose map is empty, and what to try."""
    empty = result.empty
    if not empty:
        return
    reasons = sorted({result.status[index] for index in empty})
    hints = []
    if STOPPED_AT_START in reasons or BARELY_MOVED in reasons:
        if objective == "paper":
            hints.append("objective='normalized' (the papers' score term is in probability "
                         "units, so a low-probability target cannot pay for any deletion)")
        hints.append("a smaller l1_coeff / tv_coeff, or optimizer=LineSearch(min_alpha=...)")
    if BARELY_MOVED in reasons:
        hints.append("more iterations")
    if autocast is not None:
        hints.append(f"autocast=None (under autocast={autocast} the network's gradient can "
                     "vanish or overflow)")
    if NON_FINITE in reasons:
        hints.append("checking the model's outputs for NaN / inf on blurred or noisy inputs "
                     "(or noise_std=0)")
    warn_caller(EmptyMapWarning(
        f"{method}: the map of image(s) {empty} is empty (all zeros, or every value "
        f"below {EMPTY_MAP_TOLERANCE:g}): "
        f"{', '.join(reasons)}; try {'; or '.join(hints)}. "
        "optimize(...).status gives the outcome per image.",
        empty,
    ))


def _check_mask_size(mask_size: Any, image_size: Sequence[int]) -> tuple[int, int]:
    if isinstance(mask_size, Integral) and not isinstance(mask_size, bool):
        size = (int(mask_size), int(mask_size))
    elif isinstance(mask_size, (tuple, list)) and len(mask_size) == 2:
        height, width = (check_positive_int("mask_size", side) for side in mask_size)
        size = (height, width)
    else:
        raise TypeError(
            f"expected mask_size to be an int or a pair (h, w), got {describe(mask_size)}"
        )
    if min(size) < 1 or size[0] > image_size[0] or size[1] > image_size[1]:
        raise ValueError(
            f"expected mask_size between (1, 1) and the input size {tuple(image_size)}, "
            f"got {size}"
        )
    return size


def _check_generator(generator: Any, inputs: Tensor) -> torch.Generator | None:
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"expected generator to be a torch.Generator or None, got {describe(generator)}"
        )
    device = torch.device(generator.device)
    same_index = device.index is None or inputs.device.index in (None, device.index)
    if device.type != inputs.device.type or not same_index:
        raise ValueError(
            f"expected a generator on the inputs' device {inputs.device}, got one on {device}"
        )
    return generator


def _check_target(target: TargetType, n: int, inputs: Tensor) -> TargetType:
    """Per-image targets checked (validation.check_target); lists of ints become a tensor."""
    target = check_target(target, n)
    if isinstance(target, list) and all(isinstance(t, Integral) for t in target):
        return torch.tensor(target, dtype=torch.long, device=inputs.device)
    return target


def _check_additional_args(args: tuple[Any, ...] | None, n: int) -> None:
    for index, arg in enumerate(args or ()):
        if isinstance(arg, Tensor) and arg.dim() > 0 and arg.shape[0] != n:
            raise ValueError(
                f"expected tensor additional_forward_args[{index}] with {n} rows (one per "
                f"image), got shape {tuple(arg.shape)}"
            )


Method = TypeVar("Method", bound=Callable[..., Any])


def logged(method: Method) -> Method:
    """Captum's ``log_usage()``, keeping the method's signature for type checkers (Captum's
    decorator is untyped, so through it ``attribute`` would be ``Any`` to mypy)."""
    return cast(Method, log_usage()(method))


class MaskAttribution(GradientAttribution):
    """Captum front end shared by :class:`IGOS` and :class:`IGOSPlusPlus`.

    Subclasses implement :meth:`_objective` and say how many masks they move. Nothing is
    stored on ``self`` during a call. The keyword options of :meth:`attribute` and
    :meth:`optimize` are written out and typed (editors complete them, type checkers
    refuse a wrong type or an unknown name); ``MaskOptions`` is their one home of
    defaults, documentation and checks, and a test keeps the signatures equal to it.
    """

    #: Masks per image (1: I-GOS; 2: iGOS++'s deletion and insertion masks).
    _n_masks = 1
    #: The method's ``l1_pull_at_one`` when the option is ``None``.
    _l1_pull_at_one = True

    def _objective(self, scorer: PathScorer, options: CheckedOptions) -> MaskObjective:
        raise NotImplementedError

    @logged
    def attribute(  # type: ignore[override, unused-ignore]
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        *,
        mask_size: int | tuple[int, int] = 28,
        iterations: int = DEFAULT_ITERATIONS,
        n_steps: int = DEFAULT_N_STEPS,
        l1_coeff: float = 1.0,
        tv_coeff: float = 20.0,
        noise_std: float = 0.2,
        optimizer: str | LineSearch | Nesterov = "line_search",
        score: Score = "probability",
        objective: ObjectiveName = DEFAULT_OBJECTIVE,
        initial_mask: InitialMask | None = None,
        l1_pull_at_one: bool | None = None,
        fresh_noise: bool = False,
        mask_product: MaskProduct = "low_resolution",
        bilateral_image: BilateralImage = "min_max",
        bilateral_channels: BilateralChannels = "mean_of_squares",
        generator: torch.Generator | None = None,
        internal_batch_size: int | None = None,
        show_progress: bool = False,
        autocast: torch.dtype | None = None,
        **unexpected: NoReturn,
    ) -> TensorOrTupleOfTensorsGeneric:
        """Heatmaps ``1 - up(M)`` of the inputs' shape, values in [0, 1], higher = more important.

        The keyword-only options, ``mask_size`` to ``autocast``, are documented in
        ``MaskOptions``, their one home; :mod:`captum_igos.presets` holds the authors'
        settings (``attribute(x, **AUTHORS_IGOS)``).

        Args:
            inputs: images of shape (N, C, H, W), or a 1-tuple holding them.
            baselines: :math:`\\tilde x`; ``None`` is
                :func:`captum_igos.baselines.blur_baseline` of the inputs; a number or a
                tensor broadcastable to the inputs (Captum's rule) is accepted too.
            target: the explained output per image (any Captum ``TargetType``); ``None``
                explains each image's top-1 class, as both papers do.
            additional_forward_args: extra arguments of ``forward_func``; tensors have one
                row per image.

        Returns:
            A tensor of the inputs' shape, device and dtype (a 1-tuple if ``inputs`` was a
            tuple): ``optimize(...).heatmap((H, W))`` expanded over the channels. A map that
            stayed empty (all zeros, or every value below 1e-3) is named in an
            :class:`EmptyMapWarning` (a ``UserWarning``).

        Raises:
            ValueError / TypeError: for arguments out of range, before the model is run.
        """
        settings = MaskOptions.from_call(f"{type(self).__name__}.attribute", locals(), unexpected)
        result = self._optimize(inputs, baselines, target, additional_forward_args, settings)
        warn_empty_maps(type(self).__name__, result, settings.objective, settings.autocast)
        (images,) = format_tensor_into_tuples(inputs)
        heatmaps = result.heatmap(tuple(images.shape[-2:])).expand_as(images).contiguous()
        return format_output(is_tuple(inputs), (heatmaps,))

    def optimize(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        *,
        mask_size: int | tuple[int, int] = 28,
        iterations: int = DEFAULT_ITERATIONS,
        n_steps: int = DEFAULT_N_STEPS,
        l1_coeff: float = 1.0,
        tv_coeff: float = 20.0,
        noise_std: float = 0.2,
        optimizer: str | LineSearch | Nesterov = "line_search",
        score: Score = "probability",
        objective: ObjectiveName = DEFAULT_OBJECTIVE,
        initial_mask: InitialMask | None = None,
        l1_pull_at_one: bool | None = None,
        fresh_noise: bool = False,
        mask_product: MaskProduct = "low_resolution",
        bilateral_image: BilateralImage = "min_max",
        bilateral_channels: BilateralChannels = "mean_of_squares",
        generator: torch.Generator | None = None,
        internal_batch_size: int | None = None,
        show_progress: bool = False,
        autocast: torch.dtype | None = None,
        **unexpected: NoReturn,
    ) -> MaskOptimizationResult:
        """The optimisation behind :meth:`attribute`: masks, losses, step sizes and status.

        Takes exactly :meth:`attribute`'s arguments (the options of ``MaskOptions``).

        Returns:
            :class:`MaskOptimizationResult`; ``result.heatmap((H, W))`` is the attribution.
        """
        settings = MaskOptions.from_call(f"{type(self).__name__}.optimize", locals(), unexpected)
        return self._optimize(inputs, baselines, target, additional_forward_args, settings)

    @predicts()
    def _optimize(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        baselines: BaselineType,
        target: TargetType,
        additional_forward_args: Any,
        settings: MaskOptions,
    ) -> MaskOptimizationResult:
        if isinstance(inputs, tuple) and len(inputs) != 1:
            raise ValueError(
                f"expected a single input tensor of shape (N, C, H, W) or a 1-tuple, "
                f"got a tuple of {len(inputs)} elements"
            )
        (images,) = check_inputs(inputs, images=True)
        images = images.detach()
        n = images.shape[0]
        options = check_options(settings, images, self._n_masks, self._l1_pull_at_one)
        additional_forward_args = format_additional_forward_args(additional_forward_args)
        _check_additional_args(additional_forward_args, n)
        baseline = baseline_images(baselines, images)
        target = _check_target(target, n, images)

        forward = autocast_forward(self.forward_func, options.autocast, images)
        target = resolve_target(forward, (images,), target, additional_forward_args)
        score_func = scored_forward(checked_forward(forward, target), options.score)
        rows_per_pass = options.internal_batch_size or default_rows_per_pass(images.device)
        scale = None
        if options.objective == "normalized":
            scale = clean_score_scale(
                score_func, images, target, additional_forward_args, rows_per_pass
            )
        scorer = PathScorer(
            score_func=score_func,
            images=images,
            baselines=baseline,
            target=target,
            additional_forward_args=additional_forward_args,
            n_steps=options.n_steps,
            internal_batch_size=rows_per_pass,
            score_bounds=score_bounds(options.score),
            score_scale=scale,
            loss_scale=LossScale(options.autocast),
        )
        mask_objective = self._objective(scorer, options)
        bar: Any = None
        if options.show_progress:
            bar = progress(desc=f"{type(self).__name__} attribution", total=options.iterations)
        try:
            return optimize_masks(mask_objective, images, options, bar)
        finally:
            if bar is not None:
                bar.close()
