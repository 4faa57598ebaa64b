"""The method registry: every attribution method the command line and the benchmarks know.

One table, in the shape of pytorch-grad-cam's ``cam.py`` method map: a name maps to a
:class:`Method` that says what it is (``help``), which command-line options it reads
(``options``), which settings a run records (``settings``), and how to build and call it
(``compute``). Every command, :func:`~captum_igos.runs.explain_dataset` and
``benchmarks/faithfulness.py`` read :data:`REGISTRY`; adding a method is one entry.
Settings are read from :class:`~captum_igos.runs.RunConfig` field values by name.

Example:
    >>> from captum_igos.runs.methods import REGISTRY, settings_for
    >>> list(REGISTRY)[:3]
    ['igos', 'igos++', 'rsi-gradcam']
    >>> settings_for("ig", {"ig_steps": 8})
    {'n_steps': 8, 'baselines': 0, 'internal_batch_size': None}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

__all__ = [
    "BLACK_IMAGE",
    "METHODS",
    "Method",
    "REGISTRY",
    "Request",
    "autocast_dtype",
    "autocast_kwargs",
    "black_image",
    "compute",
    "settings_for",
]

#: The ``baselines`` setting meaning "the black image in model-input units".
BLACK_IMAGE = "black image"


@dataclass(frozen=True)
class Request:
    """One call of a method: the model, the images and what to explain.

    Attributes:
        model: the classifier (``nn.Module`` or any forward function).
        inputs: model inputs ``(N, C, H, W)``.
        target: the class per image (an int, or a tensor ``(N,)``).
        settings: the method's settings, as :func:`settings_for` returns them.
        layer: the layer of the CAM methods (``None`` when the model has none).
        baselines: the black image in model-input units, ``(1, C, H, W)``, for settings
            ``baselines == "black image"`` (see :func:`black_image`).
        generator: random source of the methods that draw (the I-GOS noise, the random
            map); ``None``: a generator seeded with ``settings["seed"]`` where that is set,
            else the global random state.

    ``settings["autocast"]`` (``"float16"``, ``"bfloat16"``; absent or ``"none"``: off)
    is passed as ``autocast=<dtype>`` to I-GOS, iGOS++ and RSI-Grad-CAM; Captum's methods
    run inside ``torch.autocast`` instead.
    """

    model: Callable[..., Tensor]
    inputs: Tensor
    target: Any
    settings: Mapping[str, Any]
    layer: nn.Module | None = None
    baselines: Tensor | None = None
    generator: torch.Generator | None = None


@dataclass(frozen=True)
class Method:
    """One entry of the registry.

    Attributes:
        name: the command-line name (``"igos++"``).
        title: the name in tables and figures (``"IGOSPlusPlus"``: the class name).
        help: one line for ``--help``.
        settings: ``settings(values, layer_name) -> dict``, the JSON-able settings a run
            records, from :class:`~captum_igos.runs.RunConfig` values by name (missing
            values count as ``None``).
        compute: ``compute(request) -> attributions`` (input-shaped or layer-shaped).
        needs_layer: whether the method explains a layer (``Request.layer`` required).
        takes_autocast: whether its ``attribute`` takes ``autocast=`` (the package's
            methods); the others run inside ``torch.autocast``.
    """

    name: str
    title: str
    help: str
    settings: Callable[[Mapping[str, Any], str | None], dict]
    compute: Callable[[Request], Tensor]
    needs_layer: bool = False
    takes_autocast: bool = False


# --------------------------------------------------------------------------- methods


def _given(settings: Mapping[str, Any], **names: str) -> dict[str, Any]:
    """Keyword arguments ``argument=settings[key]`` for the keys whose value is not None."""
    return {arg: settings[key] for arg, key in names.items() if settings.get(key) is not None}


def _baselines(request: Request) -> Any:
    chosen = request.settings.get("baselines", 0)
    if chosen != BLACK_IMAGE:
        return chosen
    if request.baselines is None:
        raise ValueError("expected Request.baselines (the black image) for baselines "
                         f"{BLACK_IMAGE!r}, got None")
    return request.baselines.to(request.inputs.dtype)


def _layer(request: Request, name: str) -> nn.Module:
    if request.layer is None:
        raise ValueError(f"method {name!r} needs a convolutional layer; pass --layer NAME")
    return request.layer


def _mask_settings(values: Mapping[str, Any], layer_name: str | None) -> dict:
    return {"mask_size": values.get("mask_size"), "iterations": values.get("iterations"),
            "n_steps": values.get("igos_steps"), "optimizer": values.get("optimizer"),
            "objective": values.get("objective"), "seed": values.get("seed"),
            "internal_batch_size": values.get("internal_batch_size"), **_autocast(values)}


def _autocast(values: Mapping[str, Any]) -> dict[str, str]:
    """``{"autocast": name}`` when a reduced precision is asked for; else nothing, so the
    settings (and the stored results' keys) of a float32 run stay what they were."""
    chosen = values.get("autocast")
    return {} if chosen in (None, "none") else {"autocast": chosen}


def autocast_dtype(name: str | None) -> torch.dtype | None:
    """``"float16"`` / ``"bfloat16"`` -> the dtype; ``None`` or ``"none"`` -> ``None``."""
    from captum_igos._utils.precision import AUTOCAST_DTYPES

    return None if name in (None, "none") else AUTOCAST_DTYPES[str(name)]


def autocast_kwargs(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``autocast=<dtype>`` for the package's methods and the metric, only when one is asked
    for (so a float32 call is the same call as before the option existed)."""
    dtype = autocast_dtype(settings.get("autocast"))
    return {} if dtype is None else {"autocast": dtype}


def _mask_method(cls_name: str) -> Callable[[Request], Tensor]:
    def compute(request: Request) -> Tensor:
        import captum_igos

        settings = request.settings
        generator = request.generator
        if generator is None and settings.get("seed") is not None:
            generator = torch.Generator(device=request.inputs.device).manual_seed(
                settings["seed"])
        kwargs = _given(settings, mask_size="mask_size", iterations="iterations",
                        n_steps="n_steps", optimizer="optimizer", objective="objective")
        if generator is not None:
            kwargs["generator"] = generator
        return getattr(captum_igos, cls_name)(request.model).attribute(
            request.inputs, target=request.target,
            internal_batch_size=settings.get("internal_batch_size"), **kwargs,
            **autocast_kwargs(settings),
        )

    return compute


def _rsi(request: Request) -> Tensor:
    from captum_igos import LayerRSIGradCam

    settings = request.settings
    return LayerRSIGradCam(request.model, _layer(request, "rsi-gradcam")).attribute(
        request.inputs, baselines=_baselines(request), target=request.target,
        internal_batch_size=settings.get("internal_batch_size"),
        **_given(settings, n_steps="n_steps"), **autocast_kwargs(settings),
    )


def _gradcam(request: Request) -> Tensor:
    from captum.attr import LayerGradCam

    layer = _layer(request, "gradcam")
    return LayerGradCam(request.model, layer).attribute(request.inputs, target=request.target)


def _ig(request: Request) -> Tensor:
    from captum.attr import IntegratedGradients

    settings = request.settings
    return IntegratedGradients(request.model).attribute(
        request.inputs, baselines=_baselines(request), target=request.target,
        internal_batch_size=settings.get("internal_batch_size"),
        **_given(settings, n_steps="n_steps"),
    )


def _saliency(request: Request) -> Tensor:
    from captum.attr import Saliency

    return Saliency(request.model).attribute(request.inputs, target=request.target, abs=True)


def _occlusion(request: Request) -> Tensor:
    from captum.attr import Occlusion

    settings = request.settings
    window, stride = settings["window"], settings["stride"]
    return Occlusion(request.model).attribute(
        request.inputs, baselines=settings.get("baselines", 0), target=request.target,
        sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
        perturbations_per_eval=settings["perturbations_per_eval"],
    )


def _random(request: Request) -> Tensor:
    """Uniform noise ``(N, 1, size, size)`` (``size=None``: the input's resolution)."""
    settings, inputs = request.settings, request.inputs
    generator = request.generator
    if generator is None and settings.get("seed") is not None:
        generator = torch.Generator().manual_seed(settings["seed"])
    size = settings.get("size")
    shape = (size, size) if size is not None else tuple(inputs.shape[-2:])
    return torch.rand(inputs.shape[0], 1, *shape, generator=generator).to(inputs)


#: The registry, in the order figures and tables show the methods.
REGISTRY: dict[str, Method] = {method.name: method for method in (
    Method("igos", "IGOS",
           "I-GOS (Qi et al., AAAI 2020): integrated-gradient optimised deletion mask",
           _mask_settings, _mask_method("IGOS"), takes_autocast=True),
    Method("igos++", "IGOSPlusPlus",
           "iGOS++ (Khorram et al., CHIL 2021): bilateral deletion+insertion masks",
           _mask_settings, _mask_method("IGOSPlusPlus"), takes_autocast=True),
    Method("rsi-gradcam", "LayerRSIGradCam",
           "RSI-Grad-CAM (Lucas et al. 2022): Riemann-Stieltjes integrated Grad-CAM",
           lambda values, layer: {"layer": layer, "n_steps": values.get("rsi_steps"),
                                  "baselines": BLACK_IMAGE,
                                  "internal_batch_size": values.get("internal_batch_size"),
                                  **_autocast(values)},
           _rsi, needs_layer=True, takes_autocast=True),
    Method("gradcam", "LayerGradCam", "Captum's LayerGradCam (Selvaraju et al. 2017)",
           lambda values, layer: {"layer": layer, **_autocast(values)}, _gradcam,
           needs_layer=True),
    Method("ig", "IntegratedGradients", "Captum's IntegratedGradients (zero baseline)",
           lambda values, layer: {"n_steps": values.get("ig_steps"),
                                  "baselines": values.get("ig_baselines", 0),
                                  "internal_batch_size": values.get("internal_batch_size"),
                                  **_autocast(values)},
           _ig),
    Method("saliency", "Saliency", "Captum's Saliency (absolute input gradient)",
           lambda values, layer: {**_autocast(values)}, _saliency),
    Method("occlusion", "Occlusion", "Captum's Occlusion (sliding zero patch)",
           lambda values, layer: {"window": values.get("occlusion_window"),
                                  "stride": values.get("occlusion_stride"), "baselines": 0,
                                  "perturbations_per_eval": values.get("internal_batch_size")
                                  or 16, **_autocast(values)},
           _occlusion),
    Method("random", "random",
           "a random low-resolution map: the reference every method should beat",
           lambda values, layer: {"size": values.get("random_size", 28),
                                  "seed": values.get("seed")},
           _random),
)}

#: Method names every command knows, in the order figures show them.
METHODS = tuple(REGISTRY)


def settings_for(name: str, values: Mapping[str, Any], layer_name: str | None = None) -> dict:
    """The settings method ``name`` records for ``values`` (the fields of a
    :class:`~captum_igos.runs.RunConfig` by name, or any mapping of them)."""
    return REGISTRY[name].settings(values, layer_name)


def black_image(loaded: Any, inputs: Tensor) -> Tensor:
    """The black image ``(1, C, H, W)`` in ``loaded``'s model-input units, like ``inputs``."""
    black = loaded.batch(torch.zeros(3, *inputs.shape[-2:], dtype=torch.uint8))
    return black.to(device=inputs.device, dtype=inputs.dtype)


def compute(name: str, request: Request) -> Tensor:
    """The attributions of method ``name`` for ``request`` (see :class:`Request`)."""
    try:
        method = REGISTRY[name]
    except KeyError:
        raise ValueError(f"expected a method name ({', '.join(METHODS)}), got {name!r}") from None
    dtype = autocast_dtype(request.settings.get("autocast"))
    if dtype is None or method.takes_autocast:
        return method.compute(request)
    with torch.autocast(request.inputs.device.type, dtype=dtype):
        return method.compute(request)
