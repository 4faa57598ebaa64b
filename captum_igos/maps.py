"""Attribution maps as one value per pixel: channel reductions and upsampling.

:func:`saliency_map` turns any Captum attribution of an image batch (input-shaped with any
number of channels, or layer-shaped such as ``LayerGradCam``'s ``(N, 1, h, w)``) into an
``(N, H, W)`` map; the deletion/insertion metric ranks it, the pointing game points with
it, the figures draw it and the command line saves it. :data:`CHANNEL_REDUCTIONS` is the
one table of channel reductions, used here and by ``LayerRSIGradCam``'s
``channel_reduction``. :func:`empty_maps` says which maps of a batch are empty (constant,
or named in an :class:`EmptyMapWarning`), for the command line, explain-dataset and the
benchmarks alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Callable

import torch.nn.functional as F
from torch import Tensor

from captum_igos._utils.validation import check_choice, check_finite, check_floating

__all__ = ["CHANNEL_REDUCTIONS", "EmptyMapWarning", "empty_maps", "reduce_channels", "saliency_map"]

#: The channel reductions by name, how several channels become one. The signed sum
#: (default; Captum's methods are signed and I-GOS ranks by the heatmap value), the sum
#: of absolute values (ranks strongly negative evidence as important too) or the mean
#: (the RSI-Grad-CAM authors' port).
CHANNEL_REDUCTIONS: dict[str, Callable[[Tensor, int], Tensor]] = {
    "sum": lambda x, dim: x.sum(dim=dim, keepdim=True),
    "abs_sum": lambda x, dim: x.abs().sum(dim=dim, keepdim=True),
    "mean": lambda x, dim: x.mean(dim=dim, keepdim=True),
}


def reduce_channels(values: Tensor, channel_reduction: str = "sum", dim: int = 1) -> Tensor:
    """``values`` reduced over ``dim`` (kept, of size 1) by a :data:`CHANNEL_REDUCTIONS` name.

    Example:
        >>> import torch
        >>> reduce_channels(torch.tensor([[[-1.0], [3.0]]]), "abs_sum").tolist()
        [[[4.0]]]
    """
    check_choice("channel_reduction", channel_reduction, tuple(CHANNEL_REDUCTIONS))
    return CHANNEL_REDUCTIONS[channel_reduction](values, dim)


def saliency_map(
    attributions: Tensor,
    image_size: tuple[int, int],
    batch_size: int,
    channel_reduction: str = "sum",
    name: str = "attributions",
) -> Tensor:
    """One value per pixel: channels reduced, layer-resolution maps upsampled bilinearly.

    Args:
        attributions: ``(N, C', H, W)`` (input-shaped, any number of channels) or
            ``(N, C', h, w)`` with ``h <= H``, ``w <= W`` (layer-shaped, e.g. Grad-CAM's
            ``(N, 1, h, w)``), or ``(N, H, W)``.
        image_size: ``(H, W)``.
        batch_size: ``N``.
        channel_reduction: one of :data:`CHANNEL_REDUCTIONS`.

    Returns:
        Tensor of shape ``(N, H, W)`` in the attributions' dtype. Layer maps are upsampled
        with ``F.interpolate(mode="bilinear", align_corners=False)`` as Captum's
        ``LayerAttribution.interpolate`` does.
    """
    check_floating(name, attributions)
    height, width = image_size
    shape = tuple(attributions.shape)
    fits = (
        attributions.dim() in (3, 4)
        and shape[0] == batch_size
        and all(size >= 1 for size in shape)
        and shape[-2] <= height
        and shape[-1] <= width
    )
    if not fits:
        raise ValueError(
            f"expected {name} of shape (N, C, H, W) = (N, C, {height}, {width}) "
            f"(input-shaped, any C) or (N, C, h, w) with h <= {height}, w <= {width} "
            f"(layer-shaped), with N = {batch_size}; got {shape}"
        )
    check_finite(name, attributions)
    maps = attributions if attributions.dim() == 4 else attributions.unsqueeze(1)
    maps = reduce_channels(maps, channel_reduction)
    if maps.shape[-2:] != (height, width):
        maps = F.interpolate(maps, size=(height, width), mode="bilinear", align_corners=False)
    return maps[:, 0]


class EmptyMapWarning(UserWarning):
    """I-GOS / iGOS++ returned an empty map for some images (``images``, batch indices).

    A ``UserWarning``, so it shows by default; ``warnings.simplefilter("error",
    EmptyMapWarning)`` turns it into an exception. The reason per image is in
    :attr:`~captum_igos.MaskOptimizationResult.status`.
    """

    def __init__(self, message: str, images: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.images = tuple(images)


def empty_maps(
    heatmaps: Tensor, caught: Iterable[warnings.WarningMessage] = ()
) -> list[bool]:
    """Per map of a batch ``(N, ...)``: is it empty?

    Empty is a map with no variation at all (any method), or one that I-GOS / iGOS++ named
    in an :class:`~captum_igos.EmptyMapWarning` among ``caught`` (the records of
    ``warnings.catch_warnings(record=True)`` around the call that made ``heatmaps``).
    """
    named = {index for record in caught if isinstance(record.message, EmptyMapWarning)
             for index in record.message.images}
    flat = heatmaps.flatten(1)
    constant = (flat.amax(dim=1) == flat.amin(dim=1)).tolist()
    return [bool(same) or index in named for index, same in enumerate(constant)]
