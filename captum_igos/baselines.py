"""Baselines for perturbation: the Gaussian-blurred image that I-GOS and its metrics use."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2.functional import gaussian_blur

from captum_igos._utils.validation import (
    check_baselines_match,
    check_image_batch,
    check_positive,
    check_positive_int,
)

#: I-GOS blurs 224-pixel images with a Gaussian of kernel 51 and sigma 50 (sigma = kernel - 1).
REFERENCE_SIZE = 224
REFERENCE_KERNEL = 51


def default_kernel_size(height: int, width: int) -> int:
    """Kernel 51 at 224 px, scaled linearly with the shorter side and kept odd (>= 3)."""
    scaled = round(REFERENCE_KERNEL * min(height, width) / REFERENCE_SIZE)
    return max(3, scaled | 1)


def _separable_blur(images: Tensor, kernel_size: int, sigma: float) -> Tensor:
    """torchvision's Gaussian blur (reflected borders) as a row pass then a column pass.

    A ``[k, 1]`` then a ``[1, k]`` kernel give the same blur as torchvision's one
    ``k x k`` kernel in ``2k`` instead of ``k**2`` multiplications per pixel.
    """
    rows = gaussian_blur(images, kernel_size=[kernel_size, 1], sigma=[sigma, sigma])
    return gaussian_blur(rows, kernel_size=[1, kernel_size], sigma=[sigma, sigma])


def blur_baseline(
    inputs: Tensor, kernel_size: int | None = None, sigma: float | None = None
) -> Tensor:
    r"""Gaussian blur of each image, the I-GOS baseline :math:`\tilde x`.

    Qi, Khorram, Li, "Visualizing Deep Networks by Optimizing with Integrated Gradients",
    AAAI 2020 (arXiv:1905.00954) blur 224-px images with kernel 51 and
    :math:`\sigma = 50`; by default the kernel scales with the image's shorter side and
    :math:`\sigma` = kernel - 1. The blur is torchvision's
    ``transforms.v2.functional.gaussian_blur`` (weights
    :math:`\propto e^{-d^2 / 2\sigma^2}` at offsets :math:`d = -(k-1)/2 .. (k-1)/2`, summing to
    1), per channel, with reflected borders (replicated where the image is smaller than
    half the kernel), applied as a row pass and a column pass, and differentiable.

    Args:
        inputs: images of shape (N, C, H, W), any floating dtype and device.
        kernel_size: odd kernel size; default :func:`default_kernel_size`.
        sigma: standard deviation in pixels; default ``kernel_size - 1``.

    Returns:
        Tensor of the inputs' shape, device and dtype.

    Example:
        >>> import torch
        >>> from captum_igos.baselines import blur_baseline
        >>> blur_baseline(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
    """
    check_image_batch("inputs", inputs)
    height, width = inputs.shape[-2:]
    if kernel_size is None:
        kernel_size = default_kernel_size(height, width)
    check_positive_int("kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise ValueError(f"expected an odd kernel_size, got {kernel_size}")
    sigma = float(kernel_size - 1) if sigma is None else check_positive("sigma", sigma)
    if kernel_size == 1:
        return inputs.clone()
    pad = kernel_size // 2
    if pad < min(height, width):
        return _separable_blur(inputs, kernel_size, sigma)
    # Reflection needs pad < side: replicate the borders first, blur, crop them off again.
    padded = F.pad(inputs, (pad, pad, pad, pad), mode="replicate")
    return _separable_blur(padded, kernel_size, sigma)[..., pad:-pad, pad:-pad]


def baseline_images(baselines: Any, inputs: Tensor) -> Tensor:
    """The baseline image of every input, shaped, placed and typed like ``inputs``.

    ``None`` is :func:`blur_baseline` of the inputs; otherwise a Captum baseline for one
    input tensor: a number, a tensor broadcastable to the inputs, or a 1-tuple of either.
    """
    if baselines is None:
        return blur_baseline(inputs)
    as_tuple = baselines if isinstance(baselines, tuple) else (baselines,)
    check_baselines_match((inputs,), as_tuple)
    (baseline,) = as_tuple
    if not isinstance(baseline, Tensor):
        return torch.full_like(inputs, float(baseline))
    return baseline.detach().to(device=inputs.device, dtype=inputs.dtype).expand_as(inputs)
