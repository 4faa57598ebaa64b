"""Photos for the benchmarks, all offline.

- ``"grace_hopper"`` (always available): 8 views of matplotlib's ``grace_hopper.jpg``,
  the only photo the package's dependencies ship: the centre crop, its mirror, the top
  and bottom squares, their mirrors, a zoom on the face and its mirror.
- ``"skimage"`` (``pip install -e .[bench]``): six photos, each with its mirror (12
  views): grace_hopper.jpg and scikit-image's bundled ``astronaut``, ``chelsea`` (a cat),
  ``coffee``, ``rocket`` and ``camera`` (the cameraman, grey, repeated over RGB). Their
  top-1 classes on the offline model range from 0.16 (astronaut) to 0.95 (coffee), so
  the set covers confident and unsure predictions.
- ``"reference"`` (always available): the four views of the authors' reference data in
  ``tests/data/authors_reference/`` (grace_hopper, astronaut, chelsea, coffee; the first of
  each pair of ``"skimage"``), stored as model inputs, so no scikit-image is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import Tensor

from captum_igos.models import load_model, sample_image

PHOTO_SOURCES = ("grace_hopper", "skimage", "reference")
REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "authors_reference"
REFERENCE_VIEWS = ("grace_hopper", "astronaut", "chelsea", "coffee")
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera")


def grace_hopper_views() -> list[tuple[str, Image.Image]]:
    photo = sample_image()
    width, height = photo.size
    side = min(width, height)
    top, bottom = photo.crop((0, 0, side, side)), photo.crop((0, height - side, side, height))
    zoom = photo.crop((width // 6, height // 8, width - width // 6, height - height // 3))
    views = [("centre", photo), ("top", top), ("bottom", bottom), ("face", zoom)]
    mirrored = [(f"{name} mirrored", TF.hflip(image)) for name, image in views]
    return [views[0], mirrored[0], views[1], views[2], mirrored[1], mirrored[2], views[3],
            mirrored[3]]


def skimage_views() -> list[tuple[str, Image.Image]]:
    try:
        import skimage.data
    except ImportError as error:
        raise SystemExit(
            "--photos skimage needs scikit-image: pip install -e .[bench]"
        ) from error
    photos = [("grace_hopper", sample_image())]
    photos += [(name, Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
               for name in SKIMAGE_PHOTOS]
    views = []
    for name, photo in photos:
        views += [(name, photo), (f"{name} mirrored", TF.hflip(photo))]
    return views


def photo_views(source: str = "grace_hopper") -> list[tuple[str, Image.Image]]:
    """``(name, PIL image)`` of every view of ``source`` (see the module docstring)."""
    if source not in PHOTO_SOURCES:
        raise ValueError(f"expected a photo source in {PHOTO_SOURCES}, got {source!r}")
    return grace_hopper_views() if source == "grace_hopper" else skimage_views()


def evenly_spaced_views(source: str, count: int) -> list[tuple[str, Image.Image]]:
    """``count`` views of ``source`` taken at an even stride (all of them if fewer)."""
    views = photo_views(source)
    step = max(1, len(views) // count)
    return views[::step][:count]


@dataclass(frozen=True)
class Top1Views:
    """Views on the offline model with their top-1 targets and clean probabilities."""

    loaded: Any
    names: list[str]
    inputs: Tensor
    target: Tensor
    clean: Tensor


def top1_views(source: str, count: int) -> Top1Views:
    """:func:`evenly_spaced_views` as a batch for efficientnet_lite0, with each view's
    top-1 class and its probability."""
    loaded = load_model("efficientnet_lite0")
    if source == "reference":
        with np.load(REFERENCE / "authors_igos_reference.npz") as data:
            inputs = torch.from_numpy(data["inputs"][:count])
        names = list(REFERENCE_VIEWS[:count])
    else:
        views = evenly_spaced_views(source, count)
        inputs = loaded.batch([image for _, image in views])
        names = [name for name, _ in views]
    with torch.no_grad():
        probabilities = torch.softmax(loaded.model(inputs), dim=1)
    target = probabilities.argmax(dim=1)
    clean = probabilities.gather(1, target[:, None])[:, 0]
    return Top1Views(loaded, names, inputs, target, clean)
