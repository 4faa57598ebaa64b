r"""Reduced-precision network passes: ``autocast=None | torch.float16 | torch.bfloat16``.

Every method and the metric take ``autocast``. With a dtype, each pass through the
network runs under ``torch.autocast(inputs.device.type, dtype)`` (:func:`autocast_forward`),
so convolutions and matrix products run in that dtype where the device supports it
(tensor cores on GPUs, AMX / AVX-512 BF16 on CPUs), and the network's outputs come back in
the inputs' dtype (float32). Everything outside the network stays there: the masks, the
objective and its regularisers, the line search, the Riemann / Riemann-Stieltjes sums and
the metric's curves. ``None`` (the default) leaves the forward function as it is.

**Gradient scaling.** float16 has 5 exponent bits: a gradient below about
:math:`6 \cdot 10^{-8}` flushes to zero on its way back through a float16 layer (and
below :math:`6 \cdot 10^{-5}` it loses precision), and a probability's gradient is often
that small. :class:`LossScale` multiplies the score by :math:`s` before
``torch.autograd.grad`` and divides the gradient by :math:`s` afterwards, in float32,

.. math:: \nabla_M f = \frac{1}{s} \nabla_M (s \cdot f),

the dynamic loss scaling of mixed-precision training (Micikevicius et al., "Mixed
Precision Training", ICLR 2018, arXiv:1710.03740; ``torch.amp.GradScaler``): it starts at
:math:`s = 2^{12}` (a score's gradient up to 16 stays below float16's largest value,
65504, and gradients down to about :math:`10^{-11}` survive); a gradient with inf / NaN
is computed again at :math:`s / 8` (down to 1, after which it is returned as it is and
the method's non-finite rule reports the image), and after 16 finite gradients in a row
:math:`s` doubles again, up to its start. bfloat16 keeps float32's exponent range and is not
scaled. The state lives in one object per call, never on the attribution.

A map whose gradient vanished anyway stays at its start and is reported as every empty
map is (:class:`~captum_igos.EmptyMapWarning`, ``status``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any, Callable, TypeVar

import torch
from torch import Tensor

from captum_igos._utils.validation import describe

__all__ = [
    "AUTOCAST_DTYPES",
    "LossScale",
    "autocast_forward",
    "check_autocast",
]

T = TypeVar("T")

#: The reduced precisions ``autocast`` accepts, by name (for command lines and messages).
AUTOCAST_DTYPES: dict[str, torch.dtype] = {"float16": torch.float16, "bfloat16": torch.bfloat16}
#: float16's loss scale: the first try, the factor after an overflow, and the growth.
FLOAT16_INITIAL_SCALE = 2.0**12
BACKOFF = 1 / 8
GROWTH, GROWTH_INTERVAL = 2.0, 16


def _allowed() -> str:
    return "None, " + " or ".join(f"torch.{name}" for name in AUTOCAST_DTYPES)


def check_autocast(autocast: Any, inputs: Tensor) -> torch.dtype | None:
    """``autocast`` checked against the inputs (their device and dtype), before any pass.

    Raises:
        TypeError: anything but ``None`` or a ``torch.dtype``.
        ValueError: another dtype, inputs not in float32, or a device whose autocast
            does not support the dtype (torch would silently disable it).
    """
    if autocast is None:
        return None
    if not isinstance(autocast, torch.dtype):
        hint = ""
        if isinstance(autocast, str) and autocast in AUTOCAST_DTYPES:
            hint = f"; pass torch.{autocast}"
        raise TypeError(f"expected autocast to be {_allowed()}, got {describe(autocast)}{hint}")
    if autocast not in AUTOCAST_DTYPES.values():
        hint = "; None runs the network in the inputs' dtype" if autocast.is_floating_point else ""
        raise ValueError(f"expected autocast to be {_allowed()}, got {autocast}{hint}")
    if inputs.dtype != torch.float32:
        raise ValueError(
            f"expected float32 inputs with autocast={autocast} (autocast lowers float32 "
            f"operations only), got inputs of dtype {inputs.dtype}"
        )
    device_type = inputs.device.type
    if not torch.amp.is_autocast_available(device_type):
        raise ValueError(
            f"expected inputs on a device with torch.autocast, got {device_type!r}, which "
            "has none; use autocast=None"
        )
    refusal = _autocast_refusal(device_type, autocast)
    if refusal is not None:
        raise ValueError(
            f"expected a dtype that torch.autocast supports on {device_type!r}, got "
            f"{autocast} ({refusal}); use autocast=None"
        )
    return autocast


def _autocast_refusal(device_type: str, dtype: torch.dtype) -> str | None:
    """Why ``torch.autocast(device_type, dtype)`` would not run, or ``None`` if it does
    (torch only warns, then runs everything in full precision)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with torch.autocast(device_type, dtype=dtype):
                if torch.is_autocast_enabled(device_type):
                    return None
        except RuntimeError as error:  # e.g. bfloat16 on a GPU without it
            return " ".join(str(error).split())
    reasons = [" ".join(str(record.message).split()) for record in caught]
    return "; ".join(reasons) or "autocast stayed disabled"


def autocast_forward(
    forward_func: Callable[..., Any], autocast: torch.dtype | None, like: Tensor
) -> Callable[..., Any]:
    """``forward_func`` run under ``torch.autocast`` on ``like``'s device, its floating
    outputs cast back to ``like``'s dtype (a cast autograd differentiates through);
    ``forward_func`` itself when ``autocast`` is ``None``.

    The backward pass is not run under autocast (as torch recommends): autograd runs each
    operation's backward in the dtype its forward used.

    Example:
        >>> net = torch.nn.Linear(2, 1)
        >>> forward = autocast_forward(net, torch.bfloat16, torch.zeros(1))
        >>> forward(torch.ones(3, 2)).dtype
        torch.float32
        >>> autocast_forward(net, None, torch.zeros(1)) is net
        True
    """
    if autocast is None:
        return forward_func
    device_type, dtype = like.device.type, like.dtype

    @functools.wraps(forward_func)
    def forward_in_reduced_precision(*args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type, dtype=autocast):
            outputs = forward_func(*args, **kwargs)
        if isinstance(outputs, Tensor) and outputs.is_floating_point():
            return outputs.to(dtype)
        return outputs

    return forward_in_reduced_precision


class LossScale:
    """Gradient scaling for one call's network passes (module docstring).

    Args:
        autocast: the call's ``autocast``; only ``torch.float16`` is scaled.
        initial: the first scale (float16's :data:`FLOAT16_INITIAL_SCALE` by default).

    Attributes:
        scale: the scale the next gradient is computed with.
    """

    def __init__(self, autocast: torch.dtype | None, initial: float | None = None) -> None:
        self.scaled = autocast == torch.float16
        self.maximum = FLOAT16_INITIAL_SCALE if initial is None else float(initial)
        self.scale = self.maximum if self.scaled else 1.0
        self._finite_in_a_row = 0

    def gradients(
        self, backward: Callable[[float], tuple[Sequence[Tensor], T]], dtype: torch.dtype
    ) -> tuple[tuple[Tensor, ...], T]:
        r"""The gradients of the score, unscaled, in ``dtype``, and what else ``backward``
        returned.

        Args:
            backward: ``backward(s)`` returns the gradients of :math:`s \cdot` score and
                anything else (e.g. the activations of the same pass). It is called again
                with a smaller ``s`` after an overflow, so a caller that reuses one graph
                keeps it with ``retain_graph=s > 1``.
            dtype: the dtype of the returned gradients (the inputs').
        """
        while True:
            scale = self.scale
            grads, extra = backward(scale)
            if not self.scaled:
                return tuple(grad.to(dtype) for grad in grads), extra
            finite = all(bool(torch.isfinite(grad).all()) for grad in grads)
            if finite or scale <= 1:
                break
            self.scale = max(1.0, scale * BACKOFF)
            self._finite_in_a_row = 0
        self._finite_in_a_row = self._finite_in_a_row + 1 if finite else 0
        if self._finite_in_a_row >= GROWTH_INTERVAL:
            self.scale = min(self.maximum, scale * GROWTH)
            self._finite_in_a_row = 0
        return tuple(grad.to(dtype) / scale for grad in grads), extra
