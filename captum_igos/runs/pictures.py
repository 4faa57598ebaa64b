"""The run's pictures: the model's view of an image, and :func:`overlay_picture`, the one
picture of a map that every command draws (per image and method).

Drawn without a matplotlib figure: a dataset run writes one picture per image and
method, and a figure costs about 10 times as long. The
comparison figures of ``compare`` and ``demo`` are
:func:`captum_igos.visualization.compare_methods`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from torch import Tensor

__all__ = ["input_picture", "overlay_picture"]


def _rgb(pixels: Tensor) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` float array."""
    return pixels.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def input_picture(pixels: Tensor) -> Image.Image:
    """The image ``(3, H, W)`` in [0, 1] as an RGB PIL image."""
    return Image.fromarray(np.round(_rgb(pixels) * 255).astype(np.uint8))


def overlay_picture(pixels: Tensor, heatmap: Tensor) -> Image.Image:
    """The map ``heatmap`` ``(H, W)`` over the image ``pixels`` ``(3, H, W)`` in [0, 1].

    The one overlay of every command: each per-method picture is drawn here, in the
    package's one picture style (:func:`captum_igos.visualization.heatmap_image`: each map
    scaled to its own range over the dimmed photo, as the comparison figures draw it).

    Example:
        >>> import torch
        >>> overlay_picture(torch.zeros(3, 4, 5), torch.arange(20.).view(4, 5)).size
        (5, 4)
    """
    from captum_igos.visualization import heatmap_image

    return heatmap_image(pixels, heatmap)
