r"""Batched path-averaged scores of masks and their gradients with respect to the masks only.

I-GOS replaces the gradient of the score at the mask by an integrated gradient along the
path that scales the mask from 0 to M (Qi, Khorram, Li, AAAI 2020, arXiv:1905.00954):

.. math:: S(M) = \frac1S \sum_{s=1}^{S} f_c\big(\tilde x + \tfrac sS\, up(M)\,(x - \tilde x)
                 + \epsilon_s\big),

the deletion path, i.e. :math:`f_c(\Phi(x, \tilde x, \tfrac sS M) + \epsilon_s)`. iGOS++'s
insertion path swaps image and baseline, :math:`f_c(\Phi(\tilde x, x, \tfrac sS M) +
\epsilon_s) = f_c(x + \tfrac sS\, up(M)\,(\tilde x - x) + \epsilon_s)`.

:class:`PathScorer` evaluates any number of such paths (a path = one image, one upsampled
mask, one direction) with all their :math:`S` points in one batch, split only into chunks
of at most ``internal_batch_size`` examples (``None``: the device's default rows per
pass, :mod:`captum_igos._utils.batching`). Gradients are taken with
:func:`torch.autograd.grad` with respect to the upsampled masks alone, so the model's
parameters and their ``.grad`` are never touched and no parameter gradient is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Union

import torch
from torch import Tensor

from captum_igos._utils.batching import (
    chunk_ranges,
    rows_additional_args,
    rows_per_pass,
    rows_target,
)
from captum_igos._utils.captum_compat import TargetType, run_forward
from captum_igos._utils.masks import blend
from captum_igos._utils.precision import LossScale


def draw_noise(
    n_steps: int,
    like: Tensor,
    std: float,
    generator: torch.Generator | None = None,
) -> Tensor | None:
    r"""Gaussian noise :math:`\epsilon_s`, one image-sized draw per integration step.

    Args:
        n_steps: :math:`S`.
        like: images of shape (N, C, H, W); the noise takes their (C, H, W), device, dtype.
        std: standard deviation in model-input units; 0 gives ``None`` (no noise, no draw).
        generator: random source on ``like``'s device; ``None`` uses torch's global one.

    Returns:
        Tensor of shape (S, C, H, W), or ``None`` when ``std == 0``.

    The same draw is shared by every image in the batch: each image still sees
    independent noise from one iteration to the next, and an image's noise does not
    depend on which other images are explained with it.
    """
    if std == 0:
        return None
    shape = (n_steps, *like.shape[1:])
    noise = torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
    return noise.mul_(std)


@dataclass(frozen=True)
class FreshNoise:
    r"""Noise drawn anew for every path point of every evaluation (the authors' code).

    Where :func:`draw_noise` gives one draw per step that every image and every
    line-search trial of an iteration shares, this draws :math:`\epsilon` of std ``std``
    for each row at the moment it goes through the model.

    Attributes:
        std: standard deviation in model-input units, > 0.
        generator: random source on the images' device, or ``None`` (torch's global one).
    """

    std: float
    generator: torch.Generator | None = None

    def draw(self, like: Tensor) -> Tensor:
        """Noise of ``like``'s shape, device and dtype."""
        noise = torch.randn(like.shape, generator=self.generator, device=like.device,
                            dtype=like.dtype)
        return noise.mul_(self.std)


#: The noise of one evaluation: a shared draw per step (S, C, H, W), fresh draws, or none.
Noise = Union[Tensor, FreshNoise, None]


@dataclass(frozen=True)
class PathScorer:
    r"""Path-averaged scores :math:`\frac1S \sum_s f_c(\cdot)` of many masks, batched.

    Attributes:
        score_func: maps a batch of model inputs to outputs (e.g. softmax probabilities).
        images: :math:`x`, shape (N, C, H, W), without gradient.
        baselines: :math:`\tilde x`, shape (N, C, H, W), without gradient.
        target: the explained output per image (any Captum ``TargetType`` for N images).
        additional_forward_args: formatted tuple or ``None``; tensors have N rows.
        n_steps: :math:`S`, points per path at :math:`s/S`, :math:`s = 1..S`.
        internal_batch_size: most examples per forward pass; ``None``: the device's
            default (:func:`captum_igos._utils.batching.rows_per_pass`).
        score_bounds: ``(lowest, highest)`` value of one score (``(0, 1)`` for
            probabilities), hence of a path's mean; unbounded by default.
        score_scale: ``None`` (the papers' objective: scores as the model gives them) or
            a positive factor per image, shape (N,), multiplying every score of that
            image's paths; :func:`clean_score_scale` gives :math:`1 / f_c(x)`, the
            normalised objective whose score term spans [0, 1] for every target.
        loss_scale: the call's gradient scaling for float16 passes
            (:class:`~captum_igos._utils.precision.LossScale`); ``None`` takes gradients
            as they come.
    """

    score_func: Callable[..., Tensor]
    images: Tensor
    baselines: Tensor
    target: TargetType
    additional_forward_args: tuple[Any, ...] | None
    n_steps: int
    internal_batch_size: int | None
    score_bounds: tuple[float, float] = (-math.inf, math.inf)
    score_scale: Tensor | None = None
    loss_scale: LossScale | None = None

    def bounds(self, image_index: Tensor) -> tuple[Tensor, Tensor]:
        """``(lowest, highest)`` value of a (scaled) path score of the images
        ``image_index``, each of shape (n,)."""
        ones = self.images.new_ones(image_index.shape[0])
        scale = ones if self.score_scale is None else self.score_scale[image_index]
        # An infinite bound stays infinite under a positive scale (0 * inf would be NaN).
        low, high = self.score_bounds
        return (
            ones * low if math.isinf(low) else scale * low,
            ones * high if math.isinf(high) else scale * high,
        )

    def path_scores(
        self,
        up_masks: Tensor,
        image_index: Tensor,
        insertion: Tensor,
        noise: Noise,
        with_grad: bool,
    ) -> tuple[Tensor, Tensor | None]:
        r"""Mean score along each path, and its gradient with respect to the path's mask.

        Args:
            up_masks: upsampled masks :math:`up(M_p)`, shape (P, 1, H, W).
            image_index: image of each path, long tensor of shape (P,).
            insertion: bool tensor of shape (P,): ``False`` for the deletion path
                :math:`\Phi(x, \tilde x, \tfrac sS M)`, ``True`` for the insertion path
                :math:`\Phi(\tilde x, x, \tfrac sS M)`.
            noise: :math:`\epsilon_s` of shape (S, C, H, W) (see :func:`draw_noise`),
                :class:`FreshNoise` or ``None``; the same draw must be passed to compare
                scores of two masks.
            with_grad: also return the gradient.

        Returns:
            ``(scores, grads)``: scores of shape (P,) and, when ``with_grad``,
            :math:`\partial\, \mathrm{score}_p / \partial\, up(M_p)` of shape (P, 1, H, W)
            (else ``None``). Both are detached.

        All :math:`P \cdot S` examples go through the model in chunks of at most
        ``internal_batch_size``; rows are step-major as everywhere in the package (row
        ``s * P + p`` is step ``s`` of path ``p``, :mod:`captum_igos._utils.batching`).
        """
        n_paths, n_steps = up_masks.shape[0], self.n_steps
        leaf = up_masks.detach().requires_grad_(with_grad)
        scores = up_masks.new_zeros(n_paths)
        grads = torch.zeros_like(up_masks) if with_grad else None
        with torch.set_grad_enabled(with_grad):
            rows_per_chunk = rows_per_pass(self.internal_batch_size, up_masks.device)
            for start, stop in chunk_ranges(n_paths * n_steps, rows_per_chunk):
                rows = torch.arange(start, stop, device=up_masks.device)
                step, path = rows // n_paths, rows % n_paths
                outputs = self._forward_rows(
                    leaf, path, step, image_index[path], insertion[path], noise
                )
                scores.index_add_(0, path, outputs.detach())
                if grads is not None:
                    grads += self._gradient(outputs.sum(), leaf)
                del outputs  # a graph kept for a loss-scale retry goes before the next chunk
        if grads is not None:
            grads /= n_steps
        return scores / n_steps, grads

    def _gradient(self, total: Tensor, leaf: Tensor) -> Tensor:
        """``d total / d leaf``, through :attr:`loss_scale` when there is one."""
        if self.loss_scale is None:
            return torch.autograd.grad(total, leaf)[0]

        def backward(scale: float) -> tuple[tuple[Tensor, ...], None]:
            scaled = total if scale == 1 else total * scale
            return torch.autograd.grad(scaled, leaf, retain_graph=scale > 1), None

        return self.loss_scale.gradients(backward, leaf.dtype)[0][0]

    def _forward_rows(
        self,
        leaf: Tensor,
        path: Tensor,
        step: Tensor,
        image: Tensor,
        insertion: Tensor,
        noise: Noise,
    ) -> Tensor:
        """Scores of the path points ``(path, step)``, one per row, shape (R,)."""
        images, baselines = self.images[image], self.baselines[image]
        flip = insertion.view(-1, 1, 1, 1)
        start = torch.where(flip, images, baselines)
        end = torch.where(flip, baselines, images)
        fraction = ((step + 1).to(leaf.dtype) / self.n_steps).view(-1, 1, 1, 1)
        points = blend(end, start, fraction * leaf[path])
        if isinstance(noise, FreshNoise):
            points = points + noise.draw(points)
        elif noise is not None:
            points = points + noise[step]
        outputs = run_forward(
            self.score_func,
            (points,),
            rows_target(self.target, image),
            rows_additional_args(self.additional_forward_args, image),
        )
        if outputs.numel() != path.shape[0]:
            raise ValueError(
                "expected one score per example after selecting the target, i.e. outputs of "
                f"{path.shape[0]} elements, got shape {tuple(outputs.shape)}; pass a target "
                "that selects a single output per example"
            )
        outputs = outputs.reshape(-1)
        if self.score_scale is not None:
            outputs = outputs * self.score_scale[image]
        return outputs


def clean_score_scale(
    score_func: Callable[..., Tensor],
    images: Tensor,
    target: TargetType,
    additional_forward_args: tuple[Any, ...] | None,
    internal_batch_size: int | None,
) -> Tensor:
    r""":math:`1 / |f_c(x)|` per image: the factor of the normalised objective.

    Dividing the score term by the clean image's score makes it a relative score,
    :math:`f_c(\Phi(x, \tilde x, M)) / f_c(x)`, which falls from 1 (nothing deleted)
    towards :math:`f_c(\tilde x) / f_c(x)` whatever the target's confidence, so its
    trade-off against the L1 and TV terms no longer depends on that confidence. (With the
    papers' objective a class of probability p can lower the score term by at most p, so
    for a small p no deletion pays for its L1 cost and the mask stays at 1.) The ratio to
    the clean score is the normalisation of the deletion / insertion metric's curves
    (Petsiuk, Das, Saenko, RISE, BMVC 2018, arXiv:1806.07421) and of Fong and Vedaldi's
    deletion game (ICCV 2017, arXiv:1704.03296), which compares the masked score with the
    clean one.

    Computed without gradient, at most ``internal_batch_size`` images per pass (``None``:
    the device's default, :func:`captum_igos._utils.batching.rows_per_pass`); clamped
    away from 0 (the dtype's smallest normal number).

    Returns:
        Tensor of shape (N,), on the images' device and dtype.
    """
    scores = []
    with torch.no_grad():
        rows = rows_per_pass(internal_batch_size, images.device)
        for start, stop in chunk_ranges(images.shape[0], rows):
            index = torch.arange(start, stop, device=images.device)
            outputs = run_forward(
                score_func,
                (images[start:stop],),
                rows_target(target, index),
                rows_additional_args(additional_forward_args, index),
            )
            scores.append(outputs.reshape(-1).to(images.dtype))
    clean = torch.cat(scores)
    if clean.numel() != images.shape[0]:
        raise ValueError(
            "expected one score per image after selecting the target, got "
            f"{clean.numel()} scores for {images.shape[0]} images"
        )
    return 1 / clean.abs().clamp_min(torch.finfo(images.dtype).tiny)
