r"""Mask updates: batched backtracking (Armijo) line search and the Nesterov step.

Both work on a tuple of masks per image (one for I-GOS, deletion and insertion for
iGOS++) moved by one step size per image, and keep the masks in :math:`[0, 1]`.

- Line search (Qi, Khorram, Li, AAAI 2020, arXiv:1905.00954): start at
  :math:`\alpha_0`, multiply by ``decay`` while the Armijo condition fails and
  :math:`\alpha \ge \alpha_{min}`. Each trial evaluates all images still searching in one
  call; an image leaves as soon as its step is accepted. The condition is the papers'
  :math:`F(M^+) \le F(M) - c\,\alpha \lVert g\rVert^2` written for the projected step
  :math:`M^+ = \mathrm{clamp}(M - \alpha g, 0, 1)` (Armijo along the projection arc,
  Bertsekas 1976): :math:`F(M^+) \le F(M) - c\,\langle g, M - M^+\rangle`. Where the clamp
  is inactive the two are identical; where it is active the papers' version also asks for
  decrease along coordinates that cannot move (a mask at 1 that the L1 term pushes up),
  which rejects every trial although the free coordinates did descend.
- A trial whose objective is certainly too high is rejected without a network pass:
  with a bounded score (softmax probabilities lie in [0, 1]) the regulariser at
  :math:`M^+` plus the score's lower bound is a lower bound of :math:`F(M^+)`; when it
  already exceeds the Armijo threshold the model cannot change the verdict. The accepted
  steps are exactly those of the plain search (large first steps such as
  :math:`\alpha_0 = 1000` mostly end here, on a jump in the TV term).
- Nesterov (Jiang, Khorram, Li, BMVC 2023): :math:`\theta_t = M - \alpha g`,
  :math:`M \leftarrow \mathrm{clamp}(\theta_t + \tfrac{t}{t+3} (\theta_t - \theta_{t-1}), 0, 1)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Union, cast

import torch
from torch import Tensor

from captum_igos._utils.validation import check_choice, check_nonnegative, check_positive

Masks = tuple[Tensor, ...]
#: Forms of the Armijo test (:class:`LineSearch`): ``"projected"`` compares with
#: :math:`c \langle g, M - M^+\rangle`, ``"gradient"`` with :math:`c\,\alpha \lVert g\rVert^2`.
ArmijoTest = Literal["projected", "gradient"]
ARMIJO_TESTS = ("projected", "gradient")


#: ``loss_fn`` / ``lower_bound_fn`` of the running images: ``(candidate_masks, rows)`` -> (n,).
TrialFunction = Callable[[Masks, Tensor], Tensor]


def projected_step(mask: Tensor, direction: Tensor, step_size: Tensor) -> Tensor:
    r""":math:`\mathrm{clamp}(M - \alpha g, 0, 1)` with one :math:`\alpha` per image.

    Args:
        mask: shape (N, 1, h, w).
        direction: :math:`g`, same shape.
        step_size: :math:`\alpha`, shape (N,).
    """
    return (mask - step_size.view(-1, 1, 1, 1) * direction).clamp(0, 1)


def armijo_decrease(masks: Masks, candidates: Masks, directions: Masks) -> Tensor:
    r""":math:`\langle g, M - M^+\rangle` per image over all masks, shape (N,).

    Equals :math:`\alpha \lVert g\rVert^2` when :math:`M^+ = M - \alpha g` is not clamped.
    """
    return cast(Tensor, sum(
        (direction * (mask - candidate)).flatten(1).sum(dim=1)
        for mask, candidate, direction in zip(masks, candidates, directions)
    ))


def gradient_decrease(directions: Masks, step_size: Tensor) -> Tensor:
    r""":math:`\alpha \lVert g\rVert^2` per image over all masks, shape (N,): the papers'
    Armijo decrease, blind to the clamp (coordinates that cannot move count too)."""
    squares = (direction.flatten(1).square().sum(dim=1) for direction in directions)
    return step_size * cast(Tensor, sum(squares))


def can_move(masks: Masks, directions: Masks) -> Tensor:
    """Whether some coordinate of an image moves under ``clamp(M - alpha g)``, bool (N,).

    A coordinate is stuck where :math:`g = 0`, or at 1 with :math:`g < 0`, or at 0 with
    :math:`g > 0`; an image with every coordinate stuck has zero projected gradient.
    """
    movable = [
        ((direction > 0) & (mask > 0)) | ((direction < 0) & (mask < 1))
        for mask, direction in zip(masks, directions)
    ]
    return torch.stack([free.flatten(1).any(dim=1) for free in movable]).any(dim=0)


@dataclass(frozen=True)
class LineSearchResult:
    """Outcome of :func:`backtracking_line_search` for n images.

    Attributes:
        masks: the accepted masks; an image without an accepted step keeps its masks.
        step_sizes: accepted :math:`\\alpha` per image, 0 where none was accepted, (n,).
        accepted: whether a step satisfied the Armijo condition, bool (n,).
        losses: objective at the accepted masks (NaN where none was accepted), (n,).
        trials: how many batched objective evaluations (network passes) the search ran.
        rejected_by_bound: trials per image rejected by the lower bound alone, without
            an evaluation, long (n,).
    """

    masks: Masks
    step_sizes: Tensor
    accepted: Tensor
    losses: Tensor
    trials: int
    rejected_by_bound: Tensor


def backtracking_line_search(
    loss_fn: TrialFunction,
    masks: Masks,
    directions: Masks,
    base_loss: Tensor,
    *,
    alpha0: float | Tensor,
    decay: float,
    armijo: float,
    min_alpha: float,
    lower_bound_fn: TrialFunction | None = None,
    armijo_test: ArmijoTest = "projected",
    step_when_rejected: bool = False,
) -> LineSearchResult:
    r"""Backtracking line search with one step size per image, batched over images.

    Trial :math:`k` tries :math:`\alpha = \alpha_0 \cdot decay^k` for every image not yet
    accepted, evaluating all of them with a single ``loss_fn`` call, and accepts where

    .. math:: F(M^+) \le F(M) - c\,\langle g, M - M^+\rangle, \qquad
              M^+ = \mathrm{clamp}(M - \alpha g, 0, 1)

    (:math:`= F(M) - c\,\alpha\lVert g\rVert^2` where nothing is clamped;
    ``armijo_test="gradient"`` uses the latter everywhere, as the papers' code). Images whose
    :math:`\alpha` falls below ``min_alpha``, and images that no step can move
    (:func:`can_move`), stop unaccepted; the latter cost no evaluation. With
    ``step_when_rejected`` the search, as the authors' code, also tries the first
    :math:`\alpha` below ``min_alpha`` and takes that step even if it is rejected. A candidate whose
    ``lower_bound_fn`` already exceeds the threshold is rejected without calling
    ``loss_fn`` (same outcome, no network pass). ``base_loss``
    is :math:`F(M)` as already computed with the direction (not recomputed); ``loss_fn``
    must use the same noise draw as that evaluation, otherwise the comparison is between
    two different random objectives.

    Args:
        loss_fn: ``loss_fn(candidate_masks, rows)`` returns :math:`F` of shape (len(rows),)
            for the images ``rows`` (indices into the n images), given their candidates.
        masks: current masks, each of shape (n, 1, h, w).
        directions: :math:`g` for each mask, same shapes.
        base_loss: :math:`F(M)`, shape (n,).
        alpha0: first step size, > 0: a number, or one per image (shape (n,)).
        decay: factor in (0, 1) applied after a rejected trial.
        armijo: :math:`c \ge 0`.
        min_alpha: smallest step size tried.
        lower_bound_fn: ``lower_bound_fn(candidate_masks, rows)``, a cheap lower bound of
            ``loss_fn`` with the same signature, or ``None`` (evaluate every trial).
        armijo_test: ``"projected"`` or ``"gradient"`` (see above).
        step_when_rejected: take the last (smallest) trial step of an image for which no
            trial was accepted, as the authors' code does.

    Returns:
        :class:`LineSearchResult`.
    """
    n = base_loss.shape[0]
    alpha = torch.as_tensor(alpha0, dtype=base_loss.dtype, device=base_loss.device)
    alpha = alpha.expand(n).clone()
    new_masks = tuple(mask.clone() for mask in masks)
    accepted = torch.zeros(n, dtype=torch.bool, device=base_loss.device)
    losses = torch.full_like(base_loss, float("nan"))
    searching = torch.arange(n, device=base_loss.device)
    searching = searching[can_move(masks, directions) & ((alpha >= min_alpha) | step_when_rejected)]
    taken = torch.zeros_like(accepted)
    rejected_by_bound = torch.zeros(n, dtype=torch.long, device=base_loss.device)
    trials = 0
    while searching.numel() > 0:
        step = alpha[searching]
        current = tuple(mask[searching] for mask in masks)
        steepest = tuple(direction[searching] for direction in directions)
        candidates = tuple(projected_step(m, g, step) for m, g in zip(current, steepest))
        if armijo_test == "gradient":
            decrease = gradient_decrease(steepest, step)
        else:
            decrease = armijo_decrease(current, candidates, steepest)
        threshold = base_loss[searching] - armijo * decrease
        hopeless = torch.zeros_like(threshold, dtype=torch.bool)
        if lower_bound_fn is not None:
            hopeless = lower_bound_fn(candidates, searching) > threshold
            rejected_by_bound[searching[hopeless]] += 1
        loss = torch.full_like(threshold, float("inf"))
        if not bool(hopeless.all()):
            hopeful = ~hopeless
            loss[hopeful] = loss_fn(tuple(c[hopeful] for c in candidates), searching[hopeful])
            trials += 1
        ok = loss <= threshold
        done = searching[ok]
        accepted[done] = True
        losses[done] = loss[ok]
        for new_mask, candidate in zip(new_masks, candidates):
            new_mask[done] = candidate[ok]
        rejected = searching[~ok]
        if step_when_rejected:
            # The authors' loop: a rejected step below min_alpha ends the search, taken.
            last = ~ok & (step < min_alpha)
            taken[searching[last]] = True
            for new_mask, candidate in zip(new_masks, candidates):
                new_mask[searching[last]] = candidate[last]
            rejected = searching[~ok & ~last]
            alpha[rejected] = step[~ok & ~last] * decay
            searching = rejected
            continue
        alpha[rejected] = step[~ok] * decay
        searching = rejected[alpha[rejected] >= min_alpha]
    step_sizes = torch.where(accepted | taken, alpha, torch.zeros_like(alpha))
    return LineSearchResult(new_masks, step_sizes, accepted, losses, trials, rejected_by_bound)


def nag_step_size(mask_size: tuple[int, int], tv_coeff: float, default_tv: float = 20.0) -> float:
    r"""Default fixed step of the Nesterov optimiser: :math:`1 / L`, :math:`L` the TV term's
    Lipschitz constant.

    :math:`\lambda_{TV} TV(M)` is a quadratic whose Hessian is
    :math:`2 \lambda_{TV} (L_y / n_y + L_x / n_x)`, with :math:`L_y, L_x` path-graph
    Laplacians (eigenvalues below 4) and :math:`n_y = (h-1) w`, :math:`n_x = h (w-1)` the
    numbers of neighbour pairs, so
    :math:`L = 2 \lambda_{TV} (4 / n_y + 4 / n_x)`. A larger fixed step makes the TV term
    oscillate (chequerboard masks); the score and L1 terms scale like :math:`1/(hw)` too,
    so the step scales with the mask size: 0.13 at 7 x 7, 2.4 at 28 x 28 with
    :math:`\lambda_{TV} = 20`. With ``tv_coeff == 0`` the default weight 20 sets the
    scale; a 1 x 1 mask (no TV) gets 1.

    Example:
        >>> round(nag_step_size((28, 28), 20.0), 3)
        2.363
    """
    h, w = mask_size
    pairs = (4 / ((h - 1) * w) if h > 1 else 0.0) + (4 / (h * (w - 1)) if w > 1 else 0.0)
    lipschitz = 2 * (tv_coeff if tv_coeff > 0 else default_tv) * pairs
    return 1 / lipschitz if lipschitz > 0 else 1.0


def nesterov_step(
    masks: Masks,
    directions: Masks,
    previous_thetas: Masks,
    step_size: float,
    iteration: int,
) -> tuple[Masks, Masks]:
    r"""One Nesterov-accelerated step with a fixed step size (BMVC 2023).

    .. math:: \theta_t = M - \alpha g, \qquad
              M \leftarrow \mathrm{clamp}\big(\theta_t + \tfrac{t}{t+3}
              (\theta_t - \theta_{t-1}), 0, 1\big)

    Args:
        masks: current masks :math:`M`, each (n, 1, h, w).
        directions: :math:`g` per mask.
        previous_thetas: :math:`\theta_{t-1}` per mask (any value at :math:`t = 0`, where
            its weight is 0; the masks themselves are a natural choice).
        step_size: :math:`\alpha`.
        iteration: :math:`t`, counted from 0.

    Returns:
        ``(new_masks, thetas)``: the updated masks and :math:`\theta_t` for the next call.
    """
    momentum = iteration / (iteration + 3)
    thetas = tuple(mask - step_size * direction for mask, direction in zip(masks, directions))
    new_masks = tuple(
        (theta + momentum * (theta - previous)).clamp(0, 1)
        for theta, previous in zip(thetas, previous_thetas)
    )
    return new_masks, thetas


@dataclass(frozen=True)
class LineSearch:
    r"""The papers' optimiser: one backtracking Armijo line search per image and iteration.

    Trial :math:`k` tries :math:`\alpha = \alpha_0\,\mathrm{decay}^k` until
    :math:`F(M^+) \le F(M) - c\,\langle g, M - M^+\rangle`
    (``backtracking_line_search``); an image with no step down to ``min_alpha`` stops.

    Attributes:
        alpha0: first step size of each search, > 0 (1000, both papers).
        decay: step-size factor after a rejected trial, in (0, 1) (0.2).
        armijo: Armijo constant :math:`c \ge 0` (1e-4).
        min_alpha: smallest step size tried, > 0 (1e-5). An image for which no step size
            down to it decreases the objective enough keeps its mask and stops (the
            authors' code would take a step below ``min_alpha``).
        warm_start: start each image's search at its previous accepted step size instead
            of ``alpha0`` (``alpha0`` in the first iteration), which usually accepts at the
            first trial (True: ``benchmarks/igos.py --sweep`` found it as faithful at about
            a quarter fewer forward passes); ``False`` restarts every search at ``alpha0``
            as the papers do.
        armijo_test: ``"projected"`` (default) accepts where
            :math:`F(M^+) \le F(M) - c\,\langle g, M - M^+\rangle`, the Armijo rule along
            the projection arc; ``"gradient"`` where
            :math:`F(M^+) \le F(M) - c\,\alpha \lVert g\rVert^2`, the papers' form and
            the authors' code, which also counts coordinates the clamp holds still.
        step_when_rejected: ``False`` (default): an image with no accepted step keeps its
            masks and stops. ``True``: as the authors' code, the search goes on to the first
            :math:`\alpha` below ``min_alpha`` (4.1e-6 from 1000 with decay 0.2) and takes
            that step even though it was rejected, so every iteration moves the mask.

    Example:
        >>> LineSearch(warm_start=False).alpha0
        1000.0
    """

    alpha0: float = 1000.0
    decay: float = 0.2
    armijo: float = 1e-4
    min_alpha: float = 1e-5
    warm_start: bool = True
    armijo_test: ArmijoTest = "projected"
    step_when_rejected: bool = False

    def __post_init__(self) -> None:
        check_positive("alpha0", self.alpha0)
        if not 0 < check_positive("decay", self.decay) < 1:
            raise ValueError(f"expected decay in (0, 1), got {self.decay}")
        check_nonnegative("armijo", self.armijo)
        check_positive("min_alpha", self.min_alpha)
        for name in ("warm_start", "step_when_rejected"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"expected {name} to be a bool, got {getattr(self, name)!r}")
        check_choice("armijo_test", self.armijo_test, ARMIJO_TESTS)

    def start(self, masks: Masks, tv_coeff: float) -> LineSearchRun:
        """The state of one optimisation of the n images of ``masks``."""
        del tv_coeff  # the search adapts its step; nothing depends on the regulariser
        first = masks[0].new_full((masks[0].shape[0],), self.alpha0)
        return LineSearchRun(self, first)


@dataclass
class LineSearchRun:
    """One optimisation's line-search state: each image's first step of the next search."""

    settings: LineSearch
    first_steps: Tensor

    def step(self, active: Tensor, masks: Masks, directions: Masks, loss: Tensor,
             iteration: int, loss_fn: TrialFunction, lower_bound_fn: TrialFunction
             ) -> tuple[Masks, Tensor]:
        """New masks of the ``active`` images and the step taken (0 where none), (n,)."""
        del iteration
        settings = self.settings
        search = backtracking_line_search(
            loss_fn, masks, directions, loss, alpha0=self.first_steps[active],
            decay=settings.decay, armijo=settings.armijo, min_alpha=settings.min_alpha,
            lower_bound_fn=lower_bound_fn, armijo_test=settings.armijo_test,
            step_when_rejected=settings.step_when_rejected,
        )
        if settings.warm_start:
            accepted = active[search.accepted]
            self.first_steps[accepted] = search.step_sizes[search.accepted]
        return search.masks, search.step_sizes


@dataclass(frozen=True)
class Nesterov:
    r"""Nesterov-accelerated steps with a fixed step size (Jiang, Khorram, Li, BMVC 2023).

    :math:`\theta_t = M - \alpha g`,
    :math:`M \leftarrow \mathrm{clamp}(\theta_t + \tfrac{t}{t+3}(\theta_t - \theta_{t-1}), 0, 1)`
    (``nesterov_step``); no line search, so one evaluation per iteration.

    Attributes:
        step_size: :math:`\alpha > 0`, or ``None`` for the largest step stable for the TV
            term, ``nag_step_size`` (2.4 for a 28 x 28 mask, 0.13 for 7 x 7).

    Example:
        >>> Nesterov().step_size is None
        True
    """

    step_size: float | None = None

    def __post_init__(self) -> None:
        if self.step_size is not None:
            check_positive("step_size", self.step_size)

    def start(self, masks: Masks, tv_coeff: float) -> NesterovRun:
        """The state of one optimisation of the n images of ``masks``."""
        size = (masks[0].shape[-2], masks[0].shape[-1])
        step = self.step_size if self.step_size is not None else nag_step_size(size, tv_coeff)
        return NesterovRun(step, tuple(mask.clone() for mask in masks))


@dataclass
class NesterovRun:
    r"""One optimisation's Nesterov state: the step and :math:`\theta_{t-1}` of every image."""

    step_size: float
    thetas: Masks

    def step(self, active: Tensor, masks: Masks, directions: Masks, loss: Tensor,
             iteration: int, loss_fn: TrialFunction, lower_bound_fn: TrialFunction
             ) -> tuple[Masks, Tensor]:
        """New masks of the ``active`` images and the step taken, (n,)."""
        del loss_fn, lower_bound_fn  # a fixed step evaluates nothing
        previous = tuple(theta[active] for theta in self.thetas)
        updated, thetas = nesterov_step(masks, directions, previous, self.step_size, iteration)
        for theta, new_theta in zip(self.thetas, thetas):
            theta[active] = new_theta
        return updated, loss.new_full(loss.shape, self.step_size)


MaskOptimizer = Union[LineSearch, Nesterov]
#: ``optimizer=`` shortcuts: the name -> the optimiser with its default settings.
OPTIMIZERS: dict[str, Callable[[], MaskOptimizer]] = {"line_search": LineSearch,
                                                      "nag": Nesterov}


def as_optimizer(optimizer: Any) -> MaskOptimizer:
    """``optimizer=`` as an optimiser object: a :class:`LineSearch` / :class:`Nesterov`
    instance, or the name of one with its defaults (``"line_search"``, ``"nag"``)."""
    if isinstance(optimizer, (LineSearch, Nesterov)):
        return optimizer
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer]()
    raise (ValueError if isinstance(optimizer, str) else TypeError)(
        f"expected optimizer to be one of {tuple(OPTIMIZERS)} or a LineSearch / Nesterov "
        f"object, got {optimizer!r}"
    )
