"""Targets: ``None`` means the model's top-1 class for each example, as both papers explain.

A target is checked in two steps (:mod:`captum_igos._utils.validation`): its type, dtype
and length before the model runs (:func:`resolve_target`), and its range as soon as the
number of outputs is known, which is the first forward pass the method makes anyway
(:func:`checked_forward`): the check runs on that pass's outputs before Captum selects
the target from them and before any gradient is computed, so no extra pass is spent.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor
from torch.nn import Module

from captum_igos._utils.captum_compat import TargetType, run_forward
from captum_igos._utils.validation import (
    check_forward_output,
    check_target,
    check_target_range,
)


def top1_targets(
    forward_func: Callable[..., Tensor],
    inputs: tuple[Tensor, ...],
    additional_forward_args: Any = None,
) -> Tensor:
    """Index of the largest output per example, shape ``(N,)``, on the output's device."""
    with torch.no_grad():
        outputs = run_forward(forward_func, inputs, None, additional_forward_args)
    if check_forward_output(outputs).dim() != 2:
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
    """``target`` checked (type, dtype, length), or the top-1 classes when it is ``None``."""
    check_target(target, inputs[0].shape[0])
    if target is None:
        return top1_targets(forward_func, inputs, additional_forward_args)
    return target


def checked_forward(
    forward_func: Callable[..., Tensor], target: TargetType, layer: Module | None = None
) -> Callable[..., Tensor]:
    """``forward_func`` whose outputs are checked against ``target``'s range on every call.

    With ``layer``, the call also fails with a ``ValueError`` when the forward pass never
    runs that layer (instead of Captum's assertion about a hook without outputs).
    """

    def forward(*args: Any, **kwargs: Any) -> Tensor:
        ran: list[bool] = []
        handle = None
        if layer is not None:
            handle = layer.register_forward_hook(lambda *_: ran.append(True))
        try:
            outputs = forward_func(*args, **kwargs)
        finally:
            if handle is not None:
                handle.remove()
        if layer is not None and not ran:
            raise ValueError(
                "expected layer to run in the model's forward pass, got "
                f"{type(layer).__name__} that the forward pass never calls"
            )
        if isinstance(outputs, Tensor) and outputs.dim() > 0:
            check_target_range(target, tuple(outputs.shape))
        return outputs

    return forward
