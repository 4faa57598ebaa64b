"""Run a model as it predicts, and leave it exactly as it was.

Every method and metric runs its model inside :func:`predicting`:

- **Training mode.** Each module reached by the call runs with ``training=False``
  (eval mode: dropout off, batch norm on its running statistics), so the attribution
  explains the deterministic predictor and no BatchNorm buffer is updated; each module's
  own ``training`` flag is restored in ``finally``. Parameters and buffers are never
  written. This holds for any ``forward_func`` (a module, its bound ``forward``, or a
  function calling one): a temporary global forward pre-hook, removed in ``finally``,
  switches each module as it is called.
- **torch.inference_mode().** Gradient methods cannot work there (autograd records
  nothing), so they raise a ``RuntimeError`` saying so and what to do instead; the
  forward-only metric works under it.
- **Captum's assertions.** A Captum ``AssertionError`` that our checks did not foresee
  becomes a ``ValueError`` naming the method, never a bare assertion.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, TypeVar

import torch
from torch.nn import Module
from torch.nn.modules.module import register_module_forward_pre_hook

F = TypeVar("F", bound=Callable[..., Any])


def check_grad_possible(method: str) -> None:
    """Gradient methods refuse to run inside ``torch.inference_mode()``."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            f"expected {method} to be called with autograd available, got a call inside "
            "torch.inference_mode(), which records no gradients; call it outside the "
            "inference_mode block (inside torch.no_grad() is fine: the method enables "
            "gradients where it needs them)"
        )


@contextmanager
def predicting(method: str, *, needs_grad: bool = True) -> Iterator[None]:
    """Context in which every module runs in eval mode; flags restored afterwards.

    Args:
        method: the public name, for error messages (e.g. ``"IGOS.attribute"``).
        needs_grad: refuse to run inside ``torch.inference_mode()``.
    """
    if needs_grad:
        check_grad_possible(method)
    switched: list[Module] = []

    def to_eval(module: Module, args: Any) -> None:
        if module.training:
            module.training = False
            switched.append(module)

    handle = register_module_forward_pre_hook(to_eval)
    try:
        yield
    except AssertionError as error:
        if _raised_in_captum(error):
            raise ValueError(f"{method}: invalid arguments ({error})") from error
        raise
    finally:
        handle.remove()
        for module in switched:
            module.training = True


def _raised_in_captum(error: BaseException) -> bool:
    trace = error.__traceback__
    filename = ""
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        trace = trace.tb_next
    return "captum" in filename and "captum_igos" not in filename


def predicts(*, needs_grad: bool = True) -> Callable[[F], F]:
    """Decorator: run the wrapped method or function inside :func:`predicting`."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            owner = args[0] if args and not isinstance(args[0], Module) else None
            name = function.__name__
            if owner is not None and hasattr(type(owner), name):
                name = f"{type(owner).__name__}.{name}"
            with predicting(name, needs_grad=needs_grad):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
