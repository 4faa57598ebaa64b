"""Batched points on the straight path from a baseline to the input, split into chunks.

Path integrals (integrated gradients, conductance, RSI-Grad-CAM, I-GOS's path-averaged
score) evaluate a network at the points ``x_s = x' + alpha_s (x - x')`` of every example.
These helpers lay the points of all examples out as one batch, step-major as Captum does
(row ``s * N + i`` is example ``i`` at ``alpha_s``), expand targets and additional forward
arguments to match, and split the path into chunks so that memory grows with the chunk,
not with the number of steps.

Sums over the path's intervals ``[alpha_s, alpha_{s+1}]`` (Riemann-Stieltjes sums need
the integrator at both ends of an interval) use
:func:`captum_igos._utils.batching.chunk_ranges` with ``include_endpoint=True``: consecutive
chunks share one point, as in Captum's ``LayerConductance`` batching, so every interval
lies inside exactly one chunk and the chunks' partial sums add up to the full sum (the
caller can carry the shared point's values over instead of evaluating it twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import torch
from torch import Tensor

from captum_igos._utils.captum_compat import (
    TargetType,
    approximation_parameters,
    expand_additional_forward_args,
    expand_target,
)
from captum_igos._utils.validation import check_choice, check_positive_int

BaselineValue = Union[Tensor, int, float]


def path_points(
    inputs: tuple[Tensor, ...],
    baselines: tuple[BaselineValue, ...],
    alphas: Sequence[float],
) -> tuple[Tensor, ...]:
    """The points ``x' + alpha (x - x')`` for each alpha, step-major, for each input tensor.

    ``torch.lerp`` is used, so ``alpha = 0`` gives the baseline and ``alpha = 1`` the input
    exactly (no rounding from ``x' + (x - x')``).

    Args:
        inputs: tensors of shape ``(N, ...)``.
        baselines: one number or tensor broadcastable to ``(N, ...)`` per input.
        alphas: ``S`` positions on the path in ``[0, 1]``.

    Returns:
        One tensor of shape ``(S * N, ...)`` per input, on the input's device and dtype;
        rows ``s * N`` to ``s * N + N - 1`` are the examples at ``alphas[s]``.
    """
    points = []
    for inp, base in zip(inputs, baselines):
        start = torch.as_tensor(base, device=inp.device, dtype=inp.dtype).expand_as(inp)
        weights = torch.tensor(list(alphas), device=inp.device, dtype=inp.dtype)
        weights = weights.view(-1, *([1] * inp.dim()))
        stacked = torch.lerp(start.unsqueeze(0), inp.unsqueeze(0), weights)
        points.append(stacked.reshape(-1, *inp.shape[1:]))
    return tuple(points)


def expand_for_steps(
    num_steps: int,
    target: TargetType,
    additional_forward_args: tuple[Any, ...] | None,
) -> tuple[TargetType, tuple[Any, ...] | None]:
    """Target and additional forward arguments repeated for ``num_steps`` step-major copies.

    Same rules as Captum's integrated gradients: per-example targets (tensor or list) and
    tensor arguments with a batch dimension are repeated; scalars and other objects pass.
    """
    expanded_args = (
        None
        if additional_forward_args is None
        else expand_additional_forward_args(additional_forward_args, num_steps)
    )
    return expand_target(target, num_steps), expanded_args


#: Rules for Riemann-Stieltjes sums; Captum's Gauss-Legendre rule has no Stieltjes form.
STIELTJES_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


@dataclass(frozen=True)
class StieltjesRule:
    """Where a Riemann-Stieltjes sum ``sum_m G_hat_m * (A(t_{m+1}) - A(t_m))`` looks.

    The integrator ``A`` is always evaluated at both ends of every interval of the grid
    ``t_m = m / n``, so the increments telescope to ``A(1) - A(0)`` exactly. The rule only
    decides where the integrand is sampled inside an interval: interval ``m`` spans the
    path points ``m * stride`` to ``(m + 1) * stride`` and
    ``G_hat_m = sum_j weights[j] * G(alphas[m * stride + j])``.

    Attributes:
        alphas: every path point, in order along the path.
        stride: path points per interval (2 when a midpoint sits between the ends).
        weights: integrand weight of each of an interval's ``stride + 1`` points.
    """

    alphas: tuple[float, ...]
    stride: int
    weights: tuple[float, ...]

    @property
    def num_intervals(self) -> int:
        return (len(self.alphas) - 1) // self.stride

    @property
    def last_sample(self) -> int:
        """Index of the last path point at which the integrand is sampled."""
        last_weighted = max(j for j, weight in enumerate(self.weights) if weight != 0)
        return len(self.alphas) - 1 - self.stride + last_weighted

    def partial_sum(self, integrand: Tensor, integrator: Tensor) -> Tensor:
        """The sum over the intervals of consecutive path points (one chunk).

        Args:
            integrand: ``G`` at ``stride * k + 1`` consecutive path points, shape
                ``(stride * k + 1, N, ...)``, starting at an interval's first point.
            integrator: ``A`` at the same points, same shape.

        Returns:
            ``sum_m G_hat_m * (A_{m+1} - A_m)`` over the ``k`` intervals, shape ``(N, ...)``.
        """
        step = self.stride
        num = (integrand.shape[0] - 1) // step
        sampled = sum(
            weight * integrand[j : j + step * num : step]
            for j, weight in enumerate(self.weights)
            if weight != 0
        )
        increments = integrator[step : step * num + 1 : step] - integrator[0 : step * num : step]
        return (sampled * increments).sum(dim=0)


def stieltjes_rule(method: str, n_steps: int) -> StieltjesRule:
    """The path points and weights of Captum's Riemann ``method`` as a Stieltjes sum.

    Captum's rules approximate ``integral_0^1 g(t) dt`` by ``sum_i step_i * g(alpha_i)``;
    a Stieltjes sum ``integral G dA`` replaces the step sizes by the increments of ``A``
    between grid points, so only the rule's sample positions carry over, taken from
    :func:`captum.attr._utils.approximation_methods.approximation_parameters`:

    - ``riemann_left``: ``G`` at each interval's start, ``sum_m G_m (A_{m+1} - A_m)``;
      the points are Captum's left alphas for ``n`` steps plus the end ``t = 1``.
    - ``riemann_right``: ``G`` at each interval's end, ``sum_m G_{m+1} (A_{m+1} - A_m)``;
      the start ``t = 0`` plus Captum's right alphas.
    - ``riemann_trapezoid``: the mean of both ends, ``sum_m (G_m + G_{m+1}) / 2 (A_{m+1}
      - A_m)``, on Captum's trapezoid alphas for ``n + 1`` points (the grid itself).
    - ``riemann_middle``: ``G`` at Captum's midpoints ``(m + 1/2) / n``, interleaved with
      the grid, ``sum_m G_{m+1/2} (A_{m+1} - A_m)``: ``2n + 1`` points, so about twice
      the cost of the other rules for the same ``n``.

    All four need the path's ends, so none uses Captum's left/right/middle alphas alone:
    without ``t = 1`` (left) or ``t = 0`` (right) the increments would not telescope to
    ``A(x) - A(x')`` and completeness would be lost.
    """
    check_choice("method", method, STIELTJES_METHODS)
    check_positive_int("n_steps", n_steps)
    _, alphas_func = approximation_parameters(method)
    grid = approximation_parameters("riemann_trapezoid")[1](n_steps + 1)
    if method == "riemann_trapezoid":
        return StieltjesRule(tuple(grid), 1, (0.5, 0.5))
    # Captum's builders need at least two samples; one interval has one obvious sample.
    samples = alphas_func(n_steps) if n_steps > 1 else [_ONE_INTERVAL_SAMPLE[method]]
    if method == "riemann_left":
        return StieltjesRule((*samples, 1.0), 1, (1.0, 0.0))
    if method == "riemann_right":
        return StieltjesRule((0.0, *samples), 1, (0.0, 1.0))
    interleaved = [alpha for pair in zip(grid, samples) for alpha in pair] + [grid[-1]]
    return StieltjesRule(tuple(interleaved), 2, (0.0, 1.0, 0.0))


_ONE_INTERVAL_SAMPLE = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}
