"""Layer outputs that are not ``(N, K, h, w)``: token layers of vision transformers."""

from __future__ import annotations

import math
from typing import Callable, Optional

from torch import Tensor

from captum_igos._utils.validation import check_positive_int

#: A callable from a layer tensor to ``(N, K, h, w)``; it must only select, reorder and
#: reshape entries (no arithmetic), so that the layer gradients follow the same mapping.
ReshapeTransform = Optional[Callable[[Tensor], Tensor]]


def vit_reshape_transform(tokens: Tensor, num_prefix_tokens: int = 1) -> Tensor:
    r"""ViT tokens ``(N, P + h w, D)`` to a feature map ``(N, D, h, w)`` with ``h = w``.

    Drops the ``P`` prefix tokens (the class token; ``functools.partial(...,
    num_prefix_tokens=2)`` for models with a distillation or register token) and lays the
    patch tokens out on their square grid, channels first, as pytorch-grad-cam's
    ``reshape_transform`` does for ViTs. Pass it as
    ``LayerRSIGradCam(model, model.blocks[-1].norm1, reshape_transform=vit_reshape_transform)``.

    Example:
        >>> import torch
        >>> vit_reshape_transform(torch.zeros(2, 1 + 14 * 14, 192)).shape
        torch.Size([2, 192, 14, 14])
    """
    check_positive_int("num_prefix_tokens + 1", num_prefix_tokens + 1)
    if tokens.dim() != 3:
        raise ValueError(
            f"expected ViT tokens of shape (N, tokens, dim), got {tuple(tokens.shape)}"
        )
    patches = tokens.shape[1] - num_prefix_tokens
    side = math.isqrt(max(patches, 0))
    if patches < 1 or side * side != patches:
        raise ValueError(
            f"expected {num_prefix_tokens} prefix token(s) followed by a square grid of "
            f"patch tokens, got {tokens.shape[1]} tokens ({patches} is not a square)"
        )
    grid = tokens[:, num_prefix_tokens:, :].reshape(tokens.shape[0], side, side, -1)
    return grid.permute(0, 3, 1, 2)
