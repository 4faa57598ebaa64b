r"""The pointing game (Zhang et al. 2016): does the map's maximum land on the object?

Zhang, Bargal, Lin, Brandt, Shen, Sclaroff, "Top-down Neural Attention by Excitation
Backprop", ECCV 2016 / IJCV 2018 (arXiv:1608.00507): a hit is counted when the maximum
point of the attribution map lies on the annotated object, with a tolerance of 15 pixels
to allow for the annotation's and the map's imprecision; accuracy is hits / (hits + misses).

Here, pixel ``(i, j)`` stands at its centre ``(j + 0.5, i + 0.5)`` in image coordinates
(``x`` to the right, ``y`` down; a box ``(x0, y0, x1, y1)`` covers the pixels whose centre
lies inside it, as torchvision's boxes do). The maximum point is the first maximum in
raster order (``argmax``). It is a hit when its Euclidean distance to the nearest pixel of
the object region is at most ``tolerance`` pixels (``tolerance = 0``: on the region
itself). Several boxes of one image count as their union.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch
from torch import Tensor

from captum_igos._utils.validation import check_finite, check_nonnegative, check_tensor, describe
from captum_igos.maps import saliency_map

__all__ = ["boxes_to_masks", "pointing_game"]

BoxesOrMasks = Union[Tensor, Sequence]


def boxes_to_masks(
    boxes: Tensor | Sequence, image_size: tuple[int, int], device: torch.device | None = None
) -> Tensor:
    """Boolean masks ``(N, H, W)`` of the pixels whose centre lies in any box of the image.

    Args:
        boxes: ``(N, 4)`` tensor, one ``(x0, y0, x1, y1)`` box per image, or a sequence of
            ``N`` per-image boxes (each a ``(K, 4)`` tensor or a list of 4-sequences,
            ``K >= 1``), in pixels with ``0 <= x0 < x1 <= W`` and ``0 <= y0 < y1 <= H``.
        image_size: ``(H, W)``.

    Returns:
        Bool tensor of shape ``(N, H, W)``.

    Example:
        >>> import torch
        >>> boxes_to_masks(torch.tensor([[1, 0, 3, 2]]), (2, 4)).int()
        tensor([[[0, 1, 1, 0],
                 [0, 1, 1, 0]]], dtype=torch.int32)
    """
    per_image = _boxes_per_image(boxes, device)
    height, width = image_size
    masks = []
    for index, image_boxes in enumerate(per_image):
        check_finite(f"boxes[{index}]", image_boxes)
        _check_boxes_inside(index, image_boxes, image_size)
        ys = torch.arange(height, device=image_boxes.device, dtype=image_boxes.dtype) + 0.5
        xs = torch.arange(width, device=image_boxes.device, dtype=image_boxes.dtype) + 0.5
        x0, y0, x1, y1 = (image_boxes[:, k, None, None] for k in range(4))
        inside = (xs >= x0) & (xs <= x1) & (ys[:, None] >= y0) & (ys[:, None] <= y1)
        masks.append(inside.any(dim=0))
    return torch.stack(masks)


def _boxes_per_image(boxes: Tensor | Sequence, device: torch.device | None) -> list[Tensor]:
    if isinstance(boxes, Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 4 or boxes.shape[0] == 0:
            raise ValueError(
                "expected boxes of shape (N, 4) as (x0, y0, x1, y1) or bool masks of shape "
                f"(N, H, W), got {describe(boxes)}"
            )
        return [b.view(1, 4).to(device=device, dtype=torch.float64) for b in boxes]
    if not isinstance(boxes, Sequence) or isinstance(boxes, str) or len(boxes) == 0:
        raise TypeError(
            "expected boxes as an (N, 4) tensor or a list of per-image boxes, "
            f"got {describe(boxes)}"
        )
    per_image = []
    for index, image_boxes in enumerate(boxes):
        image_boxes = torch.as_tensor(image_boxes, dtype=torch.float64, device=device)
        if image_boxes.dim() == 1:
            image_boxes = image_boxes.view(1, -1)
        if image_boxes.dim() != 2 or image_boxes.shape[1] != 4 or image_boxes.shape[0] == 0:
            raise ValueError(
                f"expected boxes[{index}] of shape (K, 4) with K >= 1, "
                f"got {tuple(image_boxes.shape)}"
            )
        per_image.append(image_boxes)
    return per_image


def _check_boxes_inside(index: int, boxes: Tensor, image_size: tuple[int, int]) -> None:
    height, width = image_size
    x0, y0, x1, y1 = boxes.unbind(dim=1)
    valid = (x0 >= 0) & (y0 >= 0) & (x1 <= width) & (y1 <= height) & (x0 < x1) & (y0 < y1)
    if not bool(valid.all()):
        bad = boxes[~valid][0].tolist()
        raise ValueError(
            f"expected boxes inside the {height} x {width} image with 0 <= x0 < x1 <= {width} "
            f"and 0 <= y0 < y1 <= {height}, got {bad} for image {index}"
        )


def _check_masks(masks: Tensor, batch: int) -> Tensor:
    if masks.dtype != torch.bool or masks.dim() != 3 or masks.shape[0] != batch:
        raise ValueError(
            f"expected masks as a bool tensor of shape (N, H, W) with N = {batch}, "
            f"got {describe(masks)}"
        )
    empty = ~masks.flatten(1).any(dim=1)
    if bool(empty.any()):
        raise ValueError(
            f"expected each mask to mark at least one pixel, image(s) "
            f"{empty.nonzero().flatten().tolist()} have none"
        )
    return masks


def pointing_game(
    attributions: Tensor,
    boxes_or_masks: BoxesOrMasks,
    tolerance: float = 15,
    *,
    image_size: tuple[int, int] | None = None,
    channel_reduction: str = "sum",
) -> Tensor:
    r"""Hit (``True``) or miss per image: is the map's maximum within ``tolerance`` of the object?

    Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016
    (arXiv:1608.00507). With :math:`p^* = \arg\max_p A(p)` and region :math:`R`,
    :math:`\mathrm{hit} = \min_{q \in R} \lVert p^* - q \rVert_2 \le \mathrm{tolerance}`.
    The accuracy over a set of images is ``hits.float().mean()``.

    Args:
        attributions: input-shaped ``(N, C, H, W)`` (channels reduced per
            ``channel_reduction``) or layer-shaped ``(N, C, h, w)`` maps, or ``(N, H, W)``.
            Layer maps are upsampled bilinearly to the image size (as in
            :func:`~captum_igos.metrics.deletion_insertion`) before the maximum is taken.
        boxes_or_masks: bool masks ``(N, H, W)``, or boxes ``(N, 4)`` as
            ``(x0, y0, x1, y1)`` in pixels, or a list of ``N`` per-image boxes ``(K, 4)``
            (see :func:`boxes_to_masks`).
        tolerance: pixels, ``>= 0``; the paper uses 15.
        image_size: ``(H, W)`` the boxes refer to; default the masks' size, else the
            attributions' spatial size.
        channel_reduction: ``"sum"`` (signed, default) or ``"abs_sum"``.

    Returns:
        Bool tensor of shape ``(N,)`` on the attributions' device.

    Example:
        >>> import torch
        >>> maps = torch.zeros(2, 1, 8, 8)
        >>> maps[0, 0, 1, 1] = 1.0  # inside the box
        >>> maps[1, 0, 7, 7] = 1.0  # far from it
        >>> pointing_game(maps, torch.tensor([[0, 0, 4, 4], [0, 0, 4, 4]]), tolerance=0)
        tensor([ True, False])
    """
    check_tensor("attributions", attributions)
    tolerance = check_nonnegative("tolerance", tolerance)
    batch = attributions.shape[0] if attributions.dim() > 0 else 0
    device = attributions.device
    if isinstance(boxes_or_masks, Tensor) and boxes_or_masks.dtype == torch.bool:
        masks = _check_masks(boxes_or_masks.to(device), batch)
        size = (masks.shape[1], masks.shape[2])
        if image_size is not None and tuple(image_size) != size:
            raise ValueError(f"expected image_size {size} (the masks' size), got {image_size}")
    else:
        if image_size is None:
            if attributions.dim() not in (3, 4):
                raise ValueError(
                    "expected attributions of shape (N, C, H, W) or (N, H, W), "
                    f"got {tuple(attributions.shape)}"
                )
            image_size = (attributions.shape[-2], attributions.shape[-1])
        size = (int(image_size[0]), int(image_size[1]))
        masks = boxes_to_masks(boxes_or_masks, size, device)
        if masks.shape[0] != batch:
            raise ValueError(f"expected boxes for {batch} images, got {masks.shape[0]}")
    maps = saliency_map(attributions, size, batch, channel_reduction)
    return _hits(maps, masks, tolerance)


def _hits(maps: Tensor, masks: Tensor, tolerance: float) -> Tensor:
    """Distance from each map's argmax pixel to the nearest region pixel, vs tolerance."""
    width = maps.shape[-1]
    peak = maps.flatten(1).argmax(dim=1)
    peak_y, peak_x = (peak // width).to(torch.float64), (peak % width).to(torch.float64)
    ys, xs = torch.meshgrid(
        torch.arange(maps.shape[-2], device=maps.device, dtype=torch.float64),
        torch.arange(width, device=maps.device, dtype=torch.float64),
        indexing="ij",
    )
    squared = (ys - peak_y.view(-1, 1, 1)) ** 2 + (xs - peak_x.view(-1, 1, 1)) ** 2
    squared = squared.masked_fill(~masks, float("inf"))
    return squared.flatten(1).min(dim=1).values <= tolerance**2
