"""``target=None`` means the model's top-1 class for each example, as both papers explain."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from captum_igos._utils.captum_compat import TargetType, run_forward


def top1_targets(
    forward_func: Callable[..., Tensor],
    inputs: tuple[Tensor, ...],
    additional_forward_args: Any = None,
) -> Tensor:
    """Index of the largest output per example, shape ``(N,)``, on the output's device."""
    with torch.no_grad():
        outputs = run_forward(forward_func, inputs, None, additional_forward_args)
    if outputs.dim() != 2:
        raise ValueError(
            "target=None picks the top-1 class and needs outputs of shape (N, classes), "
            f"got {tuple(outputs.shape)}; pass target explicitly"
        )
    return outputs.argmax(dim=1)


def resolve_target(
    forward_func: Callable[..., Tensor],
    inputs: tuple[Tensor, ...],
    target: TargetType,
    additional_forward_args: Any = None,
) -> TargetType:
    """``target`` unchanged, or the top-1 classes when it is ``None``."""
    if target is None:
        return top1_targets(forward_func, inputs, additional_forward_args)
    return target
