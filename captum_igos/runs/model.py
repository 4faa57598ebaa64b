"""The model of a run: by name, ``module:factory`` or a ``LoadedModel``, and its CAM layer.

``module:factory`` imports ``module`` (the current folder is searched too) and calls
``factory(device)``, which must return a :class:`~captum_igos.models.LoadedModel` (your
own network, preprocessing and class names). Every way this can fail (the module, the
name, the call, what it returns) is one :class:`~captum_igos.runs.ConfigError` naming the
factory.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from captum_igos.runs.config import ConfigError

__all__ = ["load_run_model", "model_layer"]


def _import(module_name: str) -> Any:
    here = os.getcwd()
    added = here not in sys.path
    if added:  # the console script's path lacks the current folder; python -m has it
        sys.path.append(here)
    try:
        return importlib.import_module(module_name)
    finally:
        if added:
            sys.path.remove(here)


def _from_factory(spec: str, device: Any) -> Any:
    from captum_igos.models import LoadedModel

    module_name, _, function = spec.partition(":")
    try:
        factory = getattr(_import(module_name), function)
    except (ImportError, AttributeError) as error:
        raise ConfigError("model", f"cannot import {spec!r}: {error}") from None
    try:
        loaded = factory(device)
    except Exception as error:  # the user's code: any failure is one line naming it
        raise ConfigError("model", f"{spec!r} failed when called with the device {str(device)!r}"
                          f": {type(error).__name__}: {error}") from None
    if not isinstance(loaded, LoadedModel):
        raise ConfigError("model", f"expected {spec!r} to return a "
                          f"captum_igos.models.LoadedModel, got {type(loaded).__name__}")
    return loaded


def load_run_model(model: Any, device: str) -> Any:
    """A :class:`~captum_igos.models.LoadedModel` from a name, ``module:factory`` or itself."""
    import torch

    from captum_igos.models import LoadedModel, ModelUnavailableError, load_model

    if isinstance(model, LoadedModel):
        return model
    if not isinstance(model, str):
        raise TypeError(f"model: expected a name, 'module:factory' or a LoadedModel, got "
                        f"{type(model).__name__}")
    if ":" in model:
        return _from_factory(model, torch.device(device))
    try:
        return load_model(model, device=device)
    except (ValueError, TypeError, ModelUnavailableError) as error:
        raise ConfigError("model", str(error)) from None


def model_layer(loaded: Any, name: str | None, methods: Sequence[str]) -> tuple[Any, str | None]:
    """The CAM layer ``name`` (default: the model's) and its name.

    Raises:
        ~captum_igos.runs.ConfigError: an unknown layer, or a method that needs one when the model
            has none.
    """
    from captum_igos.runs.methods import REGISTRY

    layer_name = name or loaded.default_layer_name
    layer = None
    if layer_name is not None:
        try:
            layer = loaded.layer(layer_name)
        except ValueError as error:
            raise ConfigError("layer", str(error)) from None
    needing = [method for method in methods if REGISTRY[method].needs_layer]
    if needing and layer is None:
        raise ConfigError("layer", f"method {needing[0]!r} needs a convolutional layer and "
                          f"model {loaded.name!r} has no spatial layer; pass one by name")
    return layer, layer_name
