"""The one validation layer: checks that raise ``TypeError``/``ValueError`` "expected ..., got ...".

Every check is stated once here (in the spirit of kornia's ``KORNIA_CHECK_SHAPE``) and is
shared by :class:`~captum_igos.IGOS`, :class:`~captum_igos.IGOSPlusPlus`,
:class:`~captum_igos.LayerRSIGradCam`, :func:`~captum_igos.metrics.deletion_insertion`,
the pointing game and the visualisation. The checks run before a method touches the model
and before Captum's own formatting, so a rejected call leaves the model, its hooks and the
caller's tensors exactly as they were, and no Captum ``AssertionError`` reaches the user.

What is checked, in this order:

- inputs (:func:`check_inputs`): torch tensors (not NumPy arrays), floating point, finite,
  one batch size ``N >= 1``; ``(N, C, H, W)`` where the method needs images.
- baselines (:func:`check_baselines`): ``None``, a finite number or a finite tensor
  broadcastable to its input (Captum's rule), one per input; NumPy arrays, lists and
  strings are refused.
- targets (:func:`check_target`): ``None``, a non-negative int, a tuple of them, an
  integer tensor of shape ``()``, ``(1,)`` or ``(N,)``, or a list of ``N`` ints / tuples;
  the range (:func:`check_target_range`) once the number of outputs is known, which is
  after one forward pass of the clean images (:func:`captum_igos._utils.targets.resolve_target`)
  and before any expensive work.
- hyperparameters: finite wherever a number is meant (:func:`check_positive`,
  :func:`check_nonnegative`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import Any

import torch
from torch import Tensor


def describe(value: Any) -> str:
    """Short description of ``value`` for error messages (shape and dtype for arrays)."""
    if isinstance(value, Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    kind = type(value)
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # NumPy and other arrays
        return f"{kind.__module__}.{kind.__name__} of shape {tuple(value.shape)}"
    text = repr(value)
    return f"{kind.__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def describe_output(value: Any) -> str:
    """:func:`describe`, with the items of a tuple or list and the keys of a mapping."""
    if isinstance(value, Mapping):
        keys = ", ".join(repr(key) for key in list(value)[:8])
        return f"{type(value).__name__} with keys [{keys}]"
    if isinstance(value, (tuple, list)):
        items = "; ".join(describe(item) for item in value[:3])
        more = "; ..." if len(value) > 3 else ""
        return f"{type(value).__name__} of {len(value)} ({items}{more})"
    return describe(value)


def check_forward_output(outputs: Any) -> Tensor:
    """The forward function's outputs are one tensor (Captum selects the target from it)."""
    if not isinstance(outputs, Tensor):
        raise TypeError(
            "expected forward_func to return a tensor of outputs (N, K), got "
            f"{describe_output(outputs)}; for a model that returns a tuple, a dict or a "
            "Hugging Face ModelOutput, pass a function that picks the tensor, e.g. "
            "lambda x: model(x).logits or lambda x: model(x)[0]"
        )
    return outputs


def check_score_output(scores: Any, outputs: Tensor) -> Tensor:
    """What a ``score=`` callable returned for ``outputs``: the one contract, checked per call.

    Scores are a floating tensor of the outputs' shape ``(N, K)``, or ``(N,)`` (one score
    per example), and are on the autograd graph whenever the outputs are (gradient
    methods differentiate them).
    """
    rows = outputs.shape[0] if outputs.dim() else None
    contract = (
        "expected score to return a floating tensor of the outputs' shape (N, K), here "
        f"{tuple(outputs.shape)}, or (N,) with one score per row, computed from the outputs "
        "with torch operations (on the autograd graph)"
    )
    if not isinstance(scores, Tensor):
        raise TypeError(f"{contract}, got {describe_output(scores)}")
    if not scores.is_floating_point():
        raise TypeError(f"{contract}, got dtype {scores.dtype}")
    if scores.shape != outputs.shape and (rows is None or tuple(scores.shape) != (rows,)):
        raise ValueError(f"{contract}, got shape {tuple(scores.shape)}")
    if torch.is_grad_enabled() and outputs.requires_grad and not scores.requires_grad:
        raise ValueError(
            f"{contract}, got a tensor cut from the graph (requires_grad=False): remove "
            ".detach(), .item(), NumPy or torch.no_grad() from the score"
        )
    return scores


def check_tensor(name: str, value: Any) -> Tensor:
    if not isinstance(value, Tensor):
        hint = "; convert it with torch.from_numpy" if hasattr(value, "__array__") else ""
        raise TypeError(f"expected {name} to be a torch.Tensor, got {describe(value)}{hint}")
    return value


def check_finite(name: str, tensor: Tensor) -> Tensor:
    """No NaN or inf anywhere (they make every score NaN and the map silently empty)."""
    if tensor.is_floating_point() or tensor.is_complex():
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise ValueError(
                f"expected {name} with finite values, got {bad} NaN or inf value(s) of "
                f"{tensor.numel()}"
            )
    return tensor


def check_finite_results(what: str, per_image: Tensor) -> Tensor:
    """A result with NaN or inf is not an answer: raise, naming the images (first dim).

    Raised after the model ran, when its outputs or gradients overflowed (for example
    along a path to a baseline far outside the inputs' range).
    """
    bad = (~torch.isfinite(per_image.reshape(per_image.shape[0], -1))).any(dim=1)
    if bool(bad.any()):
        raise ValueError(
            f"expected finite {what}; got NaN or inf for image(s) "
            f"{bad.nonzero().flatten().tolist()}: the model's outputs or gradients overflowed "
            "(check that the baselines lie in the inputs' range)"
        )
    return per_image


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
    """A finite floating-point batch of images of shape (N, C, H, W) with N >= 1."""
    tensor = check_floating(name, value)
    if tensor.dim() != 4 or tensor.shape[0] == 0:
        raise ValueError(
            f"expected {name} of shape (N, C, H, W) with N >= 1, got {tuple(tensor.shape)}"
        )
    return check_finite(name, tensor)


def check_inputs(inputs: Any, *, images: bool = False) -> tuple[Tensor, ...]:
    """Inputs as a tuple of finite floating tensors sharing the batch size ``N >= 1``.

    ``images=True`` also requires each to be ``(N, C, H, W)`` (layers of image models
    fold path steps into the batch, so a 3-D or 5-D input would fail deep inside the
    model with a shape that is not the user's).
    """
    if isinstance(inputs, tuple):
        if len(inputs) == 0:
            raise ValueError("expected inputs to be a tensor or a non-empty tuple, got ()")
        names = [f"inputs[{i}]" for i in range(len(inputs))]
        values = inputs
    else:
        names, values = ["inputs"], (inputs,)
    check = check_image_batch if images else check_floating
    tensors = tuple(check(name, value) for name, value in zip(names, values))
    sizes = [t.shape[0] if t.dim() > 0 else None for t in tensors]
    if sizes[0] in (None, 0) or any(size != sizes[0] for size in sizes):
        raise ValueError(
            "expected input tensors with the same batch size N >= 1 in dimension 0, got "
            f"shapes {[tuple(t.shape) for t in tensors]}"
        )
    for name, tensor in zip(names, tensors):
        check_finite(name, tensor)
    return tensors


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"expected {name} to be an int >= {minimum}, got {describe(value)}")
    if value < minimum:
        raise ValueError(f"expected {name} >= {minimum}, got {value}")
    return int(value)


def check_optional_positive_int(name: str, value: Any) -> int | None:
    return None if value is None else check_positive_int(name, value)


def check_nonnegative(name: str, value: Any) -> float:
    """A finite real number >= 0 (NaN and inf are refused: they make the loss NaN)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"expected {name} to be a real number >= 0, got {describe(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected {name} to be finite, got {value}")
    if not number >= 0:
        raise ValueError(f"expected {name} >= 0, got {value}")
    return number


def check_positive(name: str, value: Any) -> float:
    """A finite real number > 0 (an infinite step size would never shrink below a floor)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"expected {name} to be a real number > 0, got {describe(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected {name} to be finite, got {value}")
    if not number > 0:
        raise ValueError(f"expected {name} > 0, got {value}")
    return number


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


def check_baselines(baselines: Any, inputs: tuple[Tensor, ...]) -> tuple[Any, ...] | None:
    """The user's ``baselines`` as a tuple (one per input), or ``None``; run before Captum.

    Each baseline is a finite number or a finite tensor broadcastable to its input
    (Captum's rule); a NumPy array, a list or a string is refused with a ``TypeError``.
    """
    if baselines is None:
        return None
    as_tuple = baselines if isinstance(baselines, tuple) else (baselines,)
    check_baselines_match(inputs, as_tuple)
    return as_tuple


def check_baselines_match(inputs: tuple[Tensor, ...], baselines: tuple[Any, ...]) -> None:
    """Each baseline is a finite number or tensor broadcastable to its input (Captum's rule)."""
    if len(baselines) != len(inputs):
        raise ValueError(
            f"expected {len(inputs)} baseline(s), one per input tensor, got {len(baselines)}"
        )
    for index, (inp, base) in enumerate(zip(inputs, baselines)):
        name = f"baselines[{index}]"
        if isinstance(base, Tensor):
            try:
                shape = torch.broadcast_shapes(base.shape, inp.shape)
            except RuntimeError:
                shape = None
            if shape != inp.shape:
                raise ValueError(
                    f"expected {name} broadcastable to the input's shape "
                    f"{tuple(inp.shape)}, got {tuple(base.shape)}"
                )
            if not (base.is_floating_point() or base.dtype in _INTEGER_DTYPES):
                raise TypeError(
                    f"expected {name} to be a real-valued tensor, got dtype {base.dtype}"
                )
            check_finite(name, base)
            _check_fits_dtype(name, float(base.abs().max()) if base.numel() else 0.0, inp)
        elif isinstance(base, bool) or not isinstance(base, Real):
            raise TypeError(
                f"expected {name} to be a number or a tensor, got {describe(base)}"
            )
        elif not math.isfinite(base):
            raise ValueError(f"expected {name} to be a finite number, got {base}")
        else:
            _check_fits_dtype(name, abs(float(base)), inp)


def _check_fits_dtype(name: str, magnitude: float, inp: Tensor) -> None:
    """A baseline is cast to the input's dtype: its largest magnitude must survive the cast."""
    if inp.is_floating_point() and magnitude > torch.finfo(inp.dtype).max:
        raise ValueError(
            f"expected {name} to fit the input's dtype {inp.dtype} "
            f"(|value| <= {torch.finfo(inp.dtype).max:.6g}), got a value of magnitude "
            f"{magnitude:.6g}"
        )


_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _is_index(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_target(target: Any, n: int) -> Any:
    """A Captum ``TargetType`` for ``n`` examples, in the user's terms; returns it unchanged.

    Accepted: ``None``; an int ``>= 0``; a tuple of them (an index into outputs with more
    than one dimension); an integer tensor of shape ``()``, ``(1,)`` or ``(n,)``; a list of
    ``n`` ints or ``n`` tuples. Floats, strings and float or bool tensors are refused.
    """
    shapes = f"(), (1,) or (N,) = ({n},)"
    if target is None:
        return None
    if _is_index(target):
        if target < 0:
            raise ValueError(f"expected target >= 0, got {target}")
        return target
    if isinstance(target, Tensor):
        if target.dtype not in _INTEGER_DTYPES:
            raise TypeError(
                f"expected an integer target tensor (e.g. torch.long), got dtype {target.dtype}"
            )
        if target.dim() > 1 or target.numel() not in (1, n):
            hint = "; use target.flatten()" if target.numel() == n else ""
            raise ValueError(
                f"expected a target tensor with 1 or {n} elements (one per example), of shape "
                f"{shapes}, got shape {tuple(target.shape)}{hint}"
            )
        if bool((target < 0).any()):
            raise ValueError(f"expected target indices >= 0, got {target.min().item()}")
        return target
    if isinstance(target, tuple):
        if not target or not all(_is_index(t) and t >= 0 for t in target):
            raise TypeError(
                f"expected a target tuple of ints >= 0 (one index per output dimension), "
                f"got {describe(target)}"
            )
        return target
    if isinstance(target, list):
        if len(target) != n:
            raise ValueError(
                f"expected a target list with {n} entries (one per example), got {len(target)}"
            )
        if all(_is_index(t) and t >= 0 for t in target):
            return target
        if all(isinstance(t, tuple) and t and all(_is_index(i) and i >= 0 for i in t)
               for t in target) and len({len(t) for t in target}) == 1:
            return target
        raise TypeError(
            "expected a target list of ints >= 0 or of equal-length tuples of them, "
            f"got {describe(target)}"
        )
    raise TypeError(
        "expected target to be None, an int, a tuple of ints, an integer tensor of shape "
        f"{shapes} or a list of {n} ints, got {describe(target)}"
    )


def check_target_range(target: Any, output_shape: tuple[int, ...]) -> None:
    """Every index of ``target`` (checked by :func:`check_target`) is inside the outputs.

    ``output_shape`` is the model's output shape ``(N, ...)`` from one forward pass.
    """
    per_example = tuple(output_shape[1:])
    # In the user's terms: the methods run many rows (path points, masks) per image.
    outputs = (f"{per_example[0]} outputs per example" if len(per_example) == 1
               else f"outputs of shape {per_example} per example")
    if target is None:
        return
    if isinstance(target, Tensor):
        indices = [(int(target.max()),)]
    elif _is_index(target):
        indices = [(target,)]
    elif isinstance(target, tuple):
        indices = [target]
    elif target and isinstance(target[0], tuple):
        indices = target
    else:
        indices = [(max(target),)]
    if not per_example:
        raise ValueError(
            f"expected target=None for a model with one output per example, got "
            f"{describe(target)}"
        )
    for index in indices:
        if len(index) != len(per_example):
            raise ValueError(
                f"expected a target with {len(per_example)} index/indices (the model gives "
                f"{outputs}), got {index if len(index) > 1 else index[0]}"
            )
        for i, size in zip(index, per_example):
            if i >= size:
                raise ValueError(
                    f"expected target indices below {size} (the model gives {outputs}), "
                    f"got {i}"
                )
