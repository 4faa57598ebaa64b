"""Image I/O: reading image files, the sample photo and classifier preprocessing.

Preprocessing is the libraries' own (torchvision's ``weights.transforms()``, timm's
``resolve_data_config`` / ``create_transform``, torchvision's ``transforms.v2``), wrapped
by :func:`preprocess_with` for the input forms and checks every model shares.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Callable, Union

import torch
import torchvision.transforms.functional as TF
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torchvision.transforms import InterpolationMode, v2

__all__ = [
    "ImageLike",
    "Preprocess",
    "load_image",
    "make_preprocess",
    "preprocess_with",
    "sample_image",
    "sample_image_path",
]

ImageLike = Union[Image.Image, Tensor]
#: ``preprocess(image) -> Tensor (3, S, S)``, normalised model input.
Preprocess = Callable[[ImageLike], Tensor]


def sample_image_path() -> Path:
    """Path of ``grace_hopper.jpg`` (matplotlib's sample data), the default input photo."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file as an RGB PIL image.

    Images with more pixels than Pillow's decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 million) are refused before they are
    decoded, so a tiny file whose header claims 20000 x 20000 pixels cannot exhaust memory.

    Raises:
        ValueError: the path is missing, a directory or not a regular file, or the file is
            unreadable, truncated, not an image or too large (one clear line each).
    """
    path = Path(path)
    where = f"cannot read image {str(path)!r}"
    if path.is_dir():
        raise ValueError(f"{where}: is a directory")
    if not path.exists():
        raise ValueError(f"{where}: no such file")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise ValueError(f"{where}: not a regular file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValueError(
            f"{where}: too large, possibly a decompression bomb ({error}); raise "
            "PIL.Image.MAX_IMAGE_PIXELS to allow it"
        ) from None
    except OSError as error:
        if error.errno is not None and not isinstance(error, UnidentifiedImageError):
            raise ValueError(f"{where}: {(error.strerror or str(error)).lower()}") from None
        raise ValueError(f"{where}: not a readable image ({error})") from None
    except Exception as error:  # Pillow's decoders raise many types on a damaged file
        raise ValueError(
            f"{where}: not a readable image ({type(error).__name__}: {error})"
        ) from None


def sample_image() -> Image.Image:
    """The sample photo (Grace Hopper, 512 x 600) as an RGB PIL image."""
    return load_image(sample_image_path())


def preprocess_with(transform: Callable[[Tensor], Tensor]) -> Preprocess:
    """``preprocess(image)`` from a library's transform of a float image tensor.

    The transform is the library's own (torchvision's ``weights.transforms()``, timm's
    ``create_transform``, :func:`make_preprocess`); this adds the checks and the input
    forms every :class:`~captum_igos.models.LoadedModel` accepts, all given to the
    transform as one float tensor ``(3, H, W)`` in [0, 1] (so the resize interpolates
    float pixels whatever the input form): a PIL image (any mode, made RGB), a ``uint8``
    tensor ``(3, H, W)`` or ``(1, H, W)``, or a float tensor in [0, 1] of those shapes.
    """

    def preprocess(image: ImageLike) -> Tensor:
        if isinstance(image, Tensor):
            if image.dim() != 3 or image.shape[0] not in (1, 3):
                raise ValueError(
                    f"expected an image tensor of shape (3, H, W), got {tuple(image.shape)}"
                )
            pixels = image.detach()
        elif isinstance(image, Image.Image):
            pixels = TF.pil_to_tensor(image.convert("RGB"))
        else:
            raise TypeError(
                f"expected a PIL image or an image tensor (3, H, W), got {type(image).__name__}"
            )
        pixels = pixels.float() / 255.0 if pixels.dtype == torch.uint8 else pixels.float()
        return transform(pixels.expand(3, -1, -1))

    return preprocess


def make_preprocess(
    resize_size: int,
    crop_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    interpolation: InterpolationMode = InterpolationMode.BILINEAR,
) -> Preprocess:
    """Resize the shorter side, centre crop, scale to [0, 1] and normalise.

    torchvision's classification preset (what ``weights.transforms()`` of its models
    does) built from its ``transforms.v2``, for models without such weights.
    """
    transform = v2.Compose([
        v2.Resize([resize_size], interpolation=interpolation, antialias=True),
        v2.CenterCrop([crop_size]),
        v2.Normalize(list(mean), list(std)),
    ])
    return preprocess_with(transform)
