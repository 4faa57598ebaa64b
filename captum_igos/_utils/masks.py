r"""Mask parameterisation and perturbation for I-GOS and iGOS++.

A mask :math:`M \in [0, 1]^{h \times w}` per image (shape ``(N, 1, h, w)``) is upsampled
bilinearly to the image size, :math:`up(M)`, and blends two images,
:math:`\Phi(a, b, M) = a \cdot up(M) + b \cdot (1 - up(M))`. The regularisers keep the
mask small (:func:`l1_to_ones`) and smooth (:func:`total_variation`,
:func:`bilateral_tv`). Every function here is differentiable and works per image, so a
batch of masks gives a batch of values.

Qi, Khorram, Li, "Visualizing Deep Networks by Optimizing with Integrated Gradients",
AAAI 2020 (arXiv:1905.00954); Khorram, Lawson, Li, "iGOS++: Integrated Gradient
Optimized Saliency by Bilateral Perturbations", ACM CHIL 2021 (arXiv:2012.15783).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

#: iGOS++'s bilateral weights use sigma = 0.01 on images normalised to [0, 1].
BILATERAL_SIGMA = 0.01
#: The image the bilateral weights see: ``"min_max"`` (each image scaled to [0, 1]) or
#: ``"input"`` (the model input as given, the authors' code).
BilateralImage = Literal["min_max", "input"]
BILATERAL_IMAGES = ("min_max", "input")
#: How the bilateral weights combine channels: ``"mean_of_squares"``, or ``"authors"``
#: (their code's two directions differ; :func:`bilateral_weights`).
BilateralChannels = Literal["mean_of_squares", "authors"]
BILATERAL_CHANNELS = ("mean_of_squares", "authors")


def upsample_mask(mask: Tensor, size: Sequence[int]) -> Tensor:
    r"""Bilinear upsampling :math:`up(M)` with ``align_corners=True`` (as the authors' code).

    Bilinear interpolation is linear, so :math:`up(tM) = t\,up(M)`; a mask that already
    has the target size is returned unchanged.

    Args:
        mask: masks of shape (N, 1, h, w).
        size: the image size (H, W), each at least the mask's.

    Returns:
        Tensor of shape (N, 1, H, W) on the mask's device and dtype.

    Example:
        >>> import torch
        >>> upsample_mask(torch.tensor([[[[0.0, 1.0]]]]), (1, 3))
        tensor([[[[0.0000, 0.5000, 1.0000]]]])
    """
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=tuple(size), mode="bilinear", align_corners=True)


def blend(first: Tensor, second: Tensor, up_mask: Tensor) -> Tensor:
    r""":math:`\Phi(a, b, M) = a \cdot up(M) + b \cdot (1 - up(M))`, given :math:`up(M)`.

    Written as :math:`b + up(M) (a - b)`, one multiply-add per element.

    Args:
        first: :math:`a`, shape (N, C, H, W), kept where the mask is 1.
        second: :math:`b`, broadcastable to ``first``, kept where the mask is 0.
        up_mask: :math:`up(M)`, shape (N, 1, H, W).

    Returns:
        Tensor of shape (N, C, H, W).

    Example:
        >>> import torch
        >>> blend(torch.ones(1, 1, 1, 2), torch.zeros(1, 1, 1, 2), torch.tensor([[[[0.25, 1.0]]]]))
        tensor([[[[0.2500, 1.0000]]]])
    """
    return second + up_mask * (first - second)


def l1_to_ones(mask: Tensor, pull_at_one: bool = True) -> Tensor:
    r""":math:`\mathrm{mean}|1 - M|` per image, shape (N,).

    Masks live in :math:`[0, 1]`, where :math:`|1 - M| = 1 - M`, so the value does not depend
    on ``pull_at_one``; the gradient does. With ``pull_at_one`` (I-GOS) the function computes
    ``mean(1 - M)``, whose gradient is :math:`-1/(hw)` everywhere, also at :math:`M = 1`;
    without it (iGOS++) it goes through ``abs``, whose subgradient at :math:`M = 1` is zero,
    so a cell at 1 moves only where the path terms push it (measured in
    ``benchmarks/igos_plus_plus_ablation.py``).

    Example:
        >>> mask = torch.tensor([[[[1.0, 0.5]]]], requires_grad=True)
        >>> [torch.autograd.grad(l1_to_ones(mask, pull), mask)[0].flatten().tolist()
        ...  for pull in (True, False)]
        [[-0.5, -0.5], [-0.0, -0.5]]
    """
    distance = 1 - mask
    if not pull_at_one:
        distance = distance.abs()
    return distance.flatten(1).mean(dim=1)


def _squared_differences(tensor: Tensor) -> tuple[Tensor, Tensor]:
    """Squared neighbour differences along height and along width."""
    dy = (tensor[..., 1:, :] - tensor[..., :-1, :]) ** 2
    dx = (tensor[..., :, 1:] - tensor[..., :, :-1]) ** 2
    return dy, dx


def _mean_per_image(values: Tensor) -> Tensor:
    """Mean over all but the batch dimension; 0 for an empty difference (a 1-pixel side)."""
    if values.numel() == 0:
        return values.new_zeros(values.shape[0])
    return values.flatten(1).mean(dim=1)


def total_variation(mask: Tensor) -> Tensor:
    r"""Squared total variation per image, shape (N,).

    .. math:: TV(M) = \mathrm{mean}_{ij} (M_{i,j} - M_{i+1,j})^2
                    + \mathrm{mean}_{ij} (M_{i,j} - M_{i,j+1})^2

    A side of length 1 has no differences and contributes 0.

    Example:
        >>> import torch
        >>> total_variation(torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]]))
        tensor([1.])
    """
    dy, dx = _squared_differences(mask)
    return _mean_per_image(dy) + _mean_per_image(dx)


def normalise_image(image: Tensor) -> Tensor:
    """Each image min-max scaled to [0, 1] over all its channels and pixels.

    Bilateral weights must not depend on the model's input normalisation (ImageNet mean
    and std, [0, 255], ...), so iGOS++'s sigma = 0.01 is applied to this scaled image. A
    constant image maps to zeros.
    """
    flat = image.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    span = (flat.max(dim=1).values.view(-1, 1, 1, 1) - low).clamp_min(torch.finfo(image.dtype).tiny)
    return (image - low) / span


def bilateral_weights(
    image: Tensor,
    sigma: float = BILATERAL_SIGMA,
    source: BilateralImage = "min_max",
    channels: BilateralChannels = "mean_of_squares",
) -> tuple[Tensor, Tensor]:
    r"""Edge-aware weights :math:`w = \exp(-(\Delta I)^2 / \sigma)` between neighbours.

    ``source="min_max"`` (default) takes the differences on :func:`normalise_image`, so the
    weights do not depend on the model's input normalisation; ``"input"`` on the image as
    given (the authors' code, where it is the ImageNet-normalised input).
    ``channels="mean_of_squares"`` (default) averages the squared differences over
    channels, :math:`\exp(-\mathrm{mean}_c (\Delta I_c)^2 / \sigma)` (a grey image and its
    3-channel copy get the same weights); ``"authors"`` is their code, whose two directions
    differ: vertically the square of the channel-mean difference,
    :math:`\exp(-(\mathrm{mean}_c \Delta_y I_c)^2 / \sigma)`, horizontally the channel
    mean of the weights, :math:`\mathrm{mean}_c \exp(-(\Delta_x I_c)^2 / \sigma)`.

    Args:
        image: images of shape (N, C, H, W).
        sigma: bandwidth, > 0.
        source: ``"min_max"`` or ``"input"``.
        channels: ``"mean_of_squares"`` or ``"authors"``.

    Returns:
        ``(w_y, w_x)`` of shapes (N, 1, H-1, W) and (N, 1, H, W-1), without gradient.

    Example:
        >>> grey = torch.tensor([[[[0.0, 0.1], [0.0, 0.1]]]]).expand(1, 3, 2, 2)
        >>> [round(float(w.mean()), 4) for w in bilateral_weights(grey, source="input")]
        [1.0, 0.3679]
    """
    with torch.no_grad():
        scaled = normalise_image(image) if source == "min_max" else image
        if channels == "authors":
            dy = (scaled[..., 1:, :] - scaled[..., :-1, :]).mean(dim=1, keepdim=True) ** 2
            dx = (scaled[..., :, 1:] - scaled[..., :, :-1]) ** 2
            return torch.exp(-dy / sigma), torch.exp(-dx / sigma).mean(dim=1, keepdim=True)
        dy, dx = _squared_differences(scaled)
        return (
            torch.exp(-dy.mean(dim=1, keepdim=True) / sigma),
            torch.exp(-dx.mean(dim=1, keepdim=True) / sigma),
        )


def bilateral_tv(
    mask: Tensor,
    weights: Sequence[Tensor],
) -> Tensor:
    r"""iGOS++'s bilateral total variation per image, shape (N,).

    .. math:: BTV(x, M) = \tfrac12 \Big( TV(M)
              + \mathrm{mean}\big(w_y\,(\partial_y\, up(M))^2\big)
              + \mathrm{mean}\big(w_x\,(\partial_x\, up(M))^2\big) \Big)

    The first term smooths the low-resolution mask; the weighted terms let the upsampled
    mask change across the image's edges (small :math:`w`) but not inside flat regions
    (:math:`w \approx 1`). On a flat image it is :math:`\tfrac12 (TV(M) + TV(up(M)))`.

    Args:
        mask: masks of shape (N, 1, h, w).
        weights: ``bilateral_weights(image)`` for the images of shape (N, C, H, W).

    Returns:
        Tensor of shape (N,).
    """
    weight_y, weight_x = weights
    size = (weight_x.shape[-2], weight_y.shape[-1])
    dy, dx = _squared_differences(upsample_mask(mask, size))
    weighted = _mean_per_image(weight_y * dy) + _mean_per_image(weight_x * dx)
    return 0.5 * (total_variation(mask) + weighted)
