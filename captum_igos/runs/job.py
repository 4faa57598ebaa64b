"""One job: explain a batch of images with one method and score every map; writes nothing.

:func:`explain_batch` makes one call of the method (:mod:`~captum_igos.runs.methods`) and
one call of :func:`~captum_igos.metrics.deletion_insertion` on the whole batch (the
library's batching, ``internal_batch_size`` rows per pass), and returns one
:class:`Explained` per image: its record, in the one schema of every command, and its
map. The engine stores them (:mod:`~captum_igos.runs.engine`).

Record (``results.csv`` has the first thirteen, :data:`~captum_igos.runs.summary.COLUMNS`):

- ``image``, ``method``; ``target`` (the class index) and ``class_name``; ``label`` (the
  class folder or list target, if any) and ``label_rule`` (how the target was read:
  ``index``, ``name``, ``wordnet``, ``sorted``; ``None`` for top-1);
- ``probability``: the model's softmax probability of the target on the clean image;
- ``deletion_auc``, ``insertion_auc``: the areas of the curves (RISE; Petsiuk et al. 2018);
- ``seconds = batch_seconds / batch_images``: the method and the metric timed together on
  the batch and shared evenly; per image exactly when ``batch_images`` is 1;
- ``map_status``: ``"empty"`` when the map is empty (constant, or I-GOS/iGOS++ said so
  with an :class:`~captum_igos.EmptyMapWarning`), else ``"ok"``; ``map_warning``;
- ``curves`` (fractions, deletion, insertion) and ``settings`` (what the result was made
  with; a rerun reuses it only under equal settings).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from captum_igos.runs import methods
from captum_igos.runs.labels import TargetClass
from captum_igos.runs.sources import SourceImage

__all__ = ["Explained", "Model", "explain_batch"]


@dataclass(frozen=True)
class Model:
    """The loaded model of a run and the layer of its CAM methods."""

    loaded: Any
    layer: torch.nn.Module | None
    layer_name: str | None


@dataclass(frozen=True)
class Explained:
    """One image's result of one method: its record and its map ``(H, W)`` (float32)."""

    record: dict
    heatmap: Tensor


def _is_empty_map_warning(caught: warnings.WarningMessage) -> bool:
    from captum_igos import EmptyMapWarning

    return issubclass(caught.category, EmptyMapWarning)


def _empty_map_messages(caught: Sequence[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if _is_empty_map_warning(w)]


def explain_batch(model: Model, method: str, settings: Mapping[str, Any],
                  images: Sequence[SourceImage], inputs: Tensor,
                  targets: Sequence[TargetClass | int], probabilities: Tensor
                  ) -> list[Explained]:
    """Explain ``inputs`` (N, C, H, W) for ``targets`` with ``method`` under ``settings``.

    Args:
        model: the model and its layer.
        method: a registry name.
        settings: the result settings (``method_settings``, ``metric_steps``,
            ``metric_ties``, ``autocast``, ...), recorded with every result.
        images: the ``N`` images (names and labels).
        inputs: the model inputs.
        targets: the class of each image (a :class:`~captum_igos.runs.labels.TargetClass`,
            or an index for top-1).
        probabilities: ``(N, classes)`` softmax outputs on the clean images.
    """
    from captum_igos.maps import empty_maps, saliency_map
    from captum_igos.metrics import deletion_insertion

    loaded = model.loaded
    indices = [target.class_index if isinstance(target, TargetClass) else int(target)
               for target in targets]
    target = torch.tensor(indices, device=inputs.device)
    request = methods.Request(loaded.model, inputs, target, settings["method_settings"],
                              layer=model.layer, baselines=methods.black_image(loaded, inputs))
    metric_kwargs = methods.autocast_kwargs(settings)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attributions = methods.compute(method, request).detach()
        curves = deletion_insertion(loaded.model, inputs, attributions, target=indices,
                                    n_steps=settings["metric_steps"],
                                    internal_batch_size=settings.get("internal_batch_size"),
                                    **metric_kwargs)
    batch_seconds = time.perf_counter() - started
    for other in caught:  # the others go on to the caller's filters
        if not _is_empty_map_warning(other):
            warnings.warn(other.message, other.category, stacklevel=2)
    size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
    heatmaps = saliency_map(attributions.float(), size, len(images))
    empty = empty_maps(heatmaps, caught)
    messages = _empty_map_messages(caught)
    results = []
    for row, (image, target_class) in enumerate(zip(images, targets)):
        index = indices[row]
        record = {
            "image": image.name, "method": method, "target": index,
            "class_name": loaded.class_names[index], "label": image.label,
            "label_rule": target_class.rule if isinstance(target_class, TargetClass) else None,
            "probability": float(probabilities[row, index]),
            "deletion_auc": float(curves.deletion_auc[row]),
            "insertion_auc": float(curves.insertion_auc[row]),
            "seconds": round(batch_seconds / len(images), 4),
            "batch_seconds": round(batch_seconds, 4), "batch_images": len(images),
            "map_status": "empty" if empty[row] else "ok",
            "map_warning": messages[0] if empty[row] and messages else None,
            "curves": {"fractions": curves.fractions.tolist(),
                       "deletion": curves.deletion[row].tolist(),
                       "insertion": curves.insertion[row].tolist()},
            "settings": dict(settings),
        }
        results.append(Explained(record, heatmaps[row]))
    return results
