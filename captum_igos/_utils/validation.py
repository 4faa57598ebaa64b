"""Argument checks that raise ``TypeError``/``ValueError`` saying what was expected and given.

Every check runs before a method touches the model, so a rejected call leaves the model,
its hooks and the caller's tensors exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

import torch
from torch import Tensor


def describe(value: Any) -> str:
    """Short description of ``value`` for error messages (shape and dtype for tensors)."""
    if isinstance(value, Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"


def check_tensor(name: str, value: Any) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"expected {name} to be a torch.Tensor, got {describe(value)}")
    return value


def check_floating(name: str, value: Any) -> Tensor:
    """Gradients only exist for floating-point inputs; integer images must be converted."""
    tensor = check_tensor(name, value)
    if not (tensor.is_floating_point() or tensor.is_complex()):
        raise TypeError(
            f"expected {name} to be a floating-point tensor (e.g. float32 or float64), "
            f"got dtype {tensor.dtype}; convert it with .float()"
        )
    return tensor


def check_image_batch(name: str, value: Any) -> Tensor:
    """A floating-point batch of images of shape (N, C, H, W) with N >= 1."""
    tensor = check_floating(name, value)
    if tensor.dim() != 4 or tensor.shape[0] == 0:
        raise ValueError(
            f"expected {name} of shape (N, C, H, W) with N >= 1, got {tuple(tensor.shape)}"
        )
    return tensor


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"expected {name} to be an int >= {minimum}, got {describe(value)}")
    if value < minimum:
        raise ValueError(f"expected {name} >= {minimum}, got {value}")
    return int(value)


def check_optional_positive_int(name: str, value: Any) -> int | None:
    return None if value is None else check_positive_int(name, value)


def check_nonnegative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"expected {name} to be a real number >= 0, got {describe(value)}")
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"expected {name} >= 0, got {value}")
    return float(value)


def check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"expected {name} to be a real number > 0, got {describe(value)}")
    if not value > 0:
        raise ValueError(f"expected {name} > 0, got {value}")
    return float(value)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if value not in options:
        listed = ", ".join(map(repr, options))
        raise ValueError(f"expected {name} to be one of {listed}, got {value!r}")
    return value


def check_same_shape(name: str, value: Tensor, reference_name: str, reference: Tensor) -> None:
    if value.shape != reference.shape:
        raise ValueError(
            f"expected {name} of shape {tuple(reference.shape)} (the shape of "
            f"{reference_name}), got {tuple(value.shape)}"
        )


def check_baselines_match(inputs: tuple[Tensor, ...], baselines: tuple[Any, ...]) -> None:
    """Each baseline is a number or a tensor broadcastable to its input (Captum's rule)."""
    if len(baselines) != len(inputs):
        raise ValueError(
            f"expected {len(inputs)} baseline(s), one per input tensor, got {len(baselines)}"
        )
    for index, (inp, base) in enumerate(zip(inputs, baselines)):
        if isinstance(base, Tensor):
            try:
                torch.broadcast_shapes(base.shape, inp.shape)
            except RuntimeError:
                raise ValueError(
                    f"expected baselines[{index}] broadcastable to the input's shape "
                    f"{tuple(inp.shape)}, got {tuple(base.shape)}"
                ) from None
            if torch.broadcast_shapes(base.shape, inp.shape) != inp.shape:
                raise ValueError(
                    f"expected baselines[{index}] broadcastable to the input's shape "
                    f"{tuple(inp.shape)}, got {tuple(base.shape)}"
                )
        elif isinstance(base, bool) or not isinstance(base, Real):
            raise TypeError(
                f"expected baselines[{index}] to be a number or a tensor, got {describe(base)}"
            )
