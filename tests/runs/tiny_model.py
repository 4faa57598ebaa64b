"""A random-weight 5-class CNN at 32 x 32 px: ``--model tests.runs.tiny_model:build``."""

from __future__ import annotations

import os

import torch
from torch import nn

from captum_igos.models import LoadedModel, make_preprocess

SIZE = 32
MEAN = STD = (0.5, 0.5, 0.5)
CLASSES = ("cat", "dog", "fish", "bird", "frog")


def build(device: torch.device | str = "cpu",
          classes: tuple[str, ...] = CLASSES) -> LoadedModel:
    """The tiny model, the same weights every call (seeded), in eval mode on ``device``."""
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                          nn.Linear(128, len(classes)))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    device = torch.device(device)
    model = model.to(device).eval()
    return LoadedModel(name="tiny", model=model,
                       preprocess=make_preprocess(SIZE, SIZE, MEAN, STD), mean=MEAN, std=STD,
                       class_names=classes, default_layer=model[2], default_layer_name="2",
                       input_size=SIZE, device=device)


def build_imagenet(device: torch.device | str = "cpu") -> LoadedModel:
    """:func:`build` with ImageNet-1k's classes (torchvision's names, offline)."""
    from captum_igos.models import imagenet_class_names

    return build(device, imagenet_class_names())


#: ``build_exiting`` ends the process of this rank (``RANK``, default 0) ...
EXIT_RANK = "CAPTUM_IGOS_TEST_EXIT_RANK"
#: ... at this forward call of the model (1-based), with ``os._exit``: a hard stop.
EXIT_AT_CALL = "CAPTUM_IGOS_TEST_EXIT_AT_CALL"


def build_exiting(device: torch.device | str = "cpu") -> LoadedModel:
    """:func:`build` whose process dies in the middle of a batch (a killed rank).

    ``--model tests.runs.tiny_model:build_exiting`` with ``CAPTUM_IGOS_TEST_EXIT_RANK``
    and ``CAPTUM_IGOS_TEST_EXIT_AT_CALL`` set: that rank exits (status 3, no clean-up, no
    ``finally``) at that forward call; the other ranks run as :func:`build`.
    """
    loaded = build(device)
    if os.environ.get("RANK", "0") == os.environ.get(EXIT_RANK, "0"):
        at_call, calls = int(os.environ[EXIT_AT_CALL]), [0]

        def count_and_exit(module, inputs):
            calls[0] += 1
            if calls[0] >= at_call:
                os._exit(3)

        loaded.model.register_forward_pre_hook(count_and_exit)
    return loaded
