r"""Forward wrappers that turn a detector or a segmenter into a score per image, ``(N, 1)``.

Every attribution method (ours and Captum's: ``IntegratedGradients``, ``Occlusion``,
``LayerGradCam``, ...) explains a function from images to scores. These
``torch.nn.Module`` wrappers make one of a torchvision detection or segmentation model:

- :class:`DetectionScore`: how strongly the model still detects a given object (box and
  label), by the D-RISE similarity of its best-matching detection;
- :class:`SegmentationScore`: how strongly the model still assigns a given pixel mask
  to a given class.

Their output is already the score, so call our methods with ``score="raw"`` (the default
``score="probability"`` refuses a single output column rather than explaining the
constant softmax of one number) and ``target=0`` or ``None``.

The box (or mask) of each image must follow the image through every batching it meets:
our path points, Captum's ``internal_batch_size``, ``NoiseTunnel``'s samples, the
metric's steps. Two ways, both exact:

- one box / mask for every row: pass it to the constructor (``boxes`` of shape
  ``(1, 4)``, or ``(N, 4)`` when the wrapper is only ever called on those N images);
- one per image: pass them as ``additional_forward_args=(boxes, labels)``, which every
  method expands with the rows it builds, exactly as Captum does.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.fcos import FCOSClassificationHead
from torchvision.models.detection.retinanet import RetinaNetClassificationHead
from torchvision.models.detection.ssd import SSD, SSDScoringHead
from torchvision.models.segmentation import FCN, LRASPP, DeepLabV3
from torchvision.models.segmentation.lraspp import LRASPPHead
from torchvision.ops import box_iou

from captum_igos._utils.model_state import predicting
from captum_igos._utils.validation import check_finite, check_image_batch, describe, describe_output

__all__ = ["DetectionScore", "SegmentationScore"]


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _per_row(name: str, held: Tensor | None, given: Tensor | None, rows: int,
             trailing: int) -> Tensor:
    """The per-row tensor: given per row (additional_forward_args), or the constructor's."""
    value = given if given is not None else held
    if value is None:
        raise ValueError(f"expected {name} in the constructor or as a forward argument")
    _check_values(name, value)
    if value.dim() == trailing:  # a single box / label / mask
        value = value.unsqueeze(0)
    if value.shape[0] == 1:
        return value.expand(rows, *value.shape[1:])
    if value.shape[0] != rows:
        raise ValueError(
            f"expected {name} with 1 or {rows} rows (one per image in this call), got shape "
            f"{tuple(value.shape)}; per-image {name} for a method that adds rows (path "
            "points, noise samples, metric steps) travel as additional_forward_args"
        )
    return value


def _check_values(name: str, value: Any) -> Tensor:
    """Boxes, labels or masks as the wrappers take them, whatever the image size."""
    if not isinstance(value, Tensor):
        raise TypeError(f"expected {name} to be a tensor, got {describe(value)}")
    if name == "labels":
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"expected integer labels (e.g. torch.long), got dtype {value.dtype}")
        if value.dim() > 1:
            raise ValueError(f"expected labels of shape (), (1,) or (N,), got {tuple(value.shape)}")
        if bool((value < 0).any()):
            raise ValueError(f"expected labels >= 0, got {value.min().item()}")
        return value
    if name == "boxes":
        return _check_boxes(value)
    return _check_masks(value)


def _check_boxes(boxes: Tensor) -> Tensor:
    """Finite real boxes ``(x0, y0, x1, y1)`` of positive area, shape ``(4,)`` or ``(N, 4)``."""
    if boxes.dtype == torch.bool or boxes.is_complex():
        raise TypeError(f"expected boxes as real numbers, got dtype {boxes.dtype}")
    if boxes.dim() not in (1, 2) or boxes.shape[-1] != 4 or boxes.numel() == 0:
        raise ValueError(
            f"expected boxes of shape (4,) or (N, 4) as (x0, y0, x1, y1), got {tuple(boxes.shape)}"
        )
    check_finite("boxes", boxes)
    rows = boxes.view(-1, 4)
    bad = ~((rows[:, 0] < rows[:, 2]) & (rows[:, 1] < rows[:, 3]))
    if bool(bad.any()):
        row = int(bad.nonzero()[0])
        raise ValueError(
            "expected boxes (x0, y0, x1, y1) with x0 < x1 and y0 < y1 (a positive area), got "
            f"{rows[row].tolist()} in row {row}"
        )
    return boxes


def _check_boxes_overlap(boxes: Tensor, image_size: tuple[int, int]) -> None:
    """Each box (checked by :func:`_check_boxes`) covers part of the ``H x W`` image."""
    height, width = image_size
    x0, y0, x1, y1 = boxes.unbind(dim=1)
    outside = (x0 >= width) | (y0 >= height) | (x1 <= 0) | (y1 <= 0)
    if bool(outside.any()):
        row = int(outside.nonzero()[0])
        raise ValueError(
            f"expected boxes that overlap the {height} x {width} image (x0 < {width}, "
            f"y0 < {height}, x1 > 0, y1 > 0), got {boxes[row].tolist()} in row {row}, "
            "which lies wholly outside it"
        )


def _check_masks(masks: Tensor) -> Tensor:
    """Bool masks or weights in [0, 1], ``(H, W)`` or ``(N, H, W)``, each with a pixel."""
    if not (masks.dtype == torch.bool or masks.is_floating_point()):
        raise TypeError(
            "expected masks as a bool tensor or floating weights in [0, 1], got dtype "
            f"{masks.dtype}; convert a 0/1 mask with .bool()"
        )
    if masks.dim() not in (2, 3):
        raise ValueError(f"expected masks of shape (H, W) or (N, H, W), got {tuple(masks.shape)}")
    check_finite("masks", masks)
    if masks.dtype != torch.bool and bool(((masks < 0) | (masks > 1)).any()):
        raise ValueError(
            f"expected masks as bool or weights in [0, 1], got values in "
            f"[{masks.min().item():.3g}, {masks.max().item():.3g}]"
        )
    empty = ~(masks.reshape(-1, *masks.shape[-2:]) != 0).flatten(1).any(dim=1)
    if bool(empty.any()):
        raise ValueError(
            "expected each mask to mark at least one pixel (its score would be 0 whatever "
            f"the image), got none in mask(s) {empty.nonzero().flatten().tolist()}"
        )
    return masks


def _labels_the_model_gives(model: Any) -> range | None:
    """The labels a torchvision detector or segmenter can output, from its own layers.

    Faster/Mask/Keypoint R-CNN and SSD reserve label 0 for the background and never
    report it; RetinaNet, FCOS and the segmenters use every class. ``None`` for any other
    model (its output, checked at the call, says how many classes it has).
    """
    if isinstance(model, FasterRCNN) and isinstance(model.roi_heads.box_predictor,
                                                    FastRCNNPredictor):
        return range(1, model.roi_heads.box_predictor.cls_score.out_features)
    if isinstance(model, SSD) and isinstance(model.head.classification_head, SSDScoringHead):
        return range(1, model.head.classification_head.num_columns)
    if isinstance(model, (RetinaNet, FCOS)) and isinstance(
            model.head.classification_head,
            (RetinaNetClassificationHead, FCOSClassificationHead)):
        return range(model.head.classification_head.num_classes)
    if isinstance(model, (FCN, DeepLabV3)) and isinstance(model.classifier, nn.Sequential) \
            and isinstance(model.classifier[-1], nn.Conv2d):
        return range(model.classifier[-1].out_channels)
    if isinstance(model, LRASPP) and isinstance(model.classifier, LRASPPHead):
        return range(model.classifier.low_classifier.out_channels)
    return None


def _check_labels_in(labels: Tensor, model: Any) -> None:
    allowed = _labels_the_model_gives(model)
    if allowed is None or labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < allowed.start or high >= allowed.stop:
        background = "; 0 is its background" if allowed.start == 1 else ""
        raise ValueError(
            f"expected labels in [{allowed.start}, {allowed.stop - 1}] (the classes of this "
            f"{type(model).__name__}{background}), got "
            f"{low if low < allowed.start else high}"
        )


def _check_images(images: Any) -> Tensor:
    if isinstance(images, (list, tuple)):
        raise TypeError(
            f"expected images as one tensor (N, C, H, W), got {describe_output(images)}; "
            "stack images of one size with torch.stack (the wrapper hands the model its list)"
        )
    return check_image_batch("images", images)


def _output_entry(output: Any, key: str, what: str) -> Any:
    """``output[key]``, or a ``ValueError`` naming the keys the output has."""
    if not isinstance(output, Mapping) or key not in output:
        keys = ", ".join(repr(k) for k in output) if isinstance(output, Mapping) else ""
        got = f"keys [{keys}]" if isinstance(output, Mapping) else describe_output(output)
        raise ValueError(f"expected {what} with the key {key!r} (torchvision's format), got {got}")
    return output[key]


class DetectionScore(nn.Module):
    r"""Score of the detection that best matches each image's object, shape ``(N, 1)``.

    For image :math:`n` with object box :math:`b_n` and label :math:`c_n`, and the model's
    detections :math:`(b_j, c_j, p_j)` (box, label, class probability),

    .. math::
        s_n = \max_{j:\ c_j = c_n,\ \mathrm{IoU}(b_n, b_j) > \tau}
              \mathrm{IoU}(b_n, b_j)\, p_j, \qquad s_n = 0 \text{ if no detection matches},

    the similarity of D-RISE (Petsiuk et al., "Black-box Explanation of Object Detectors
    via Saliency Maps", CVPR 2021), :math:`\mathrm{IoU} \cdot O_j \cdot \cos(P_n, P_j)`,
    for a two-stage detector (objectness :math:`O_j = 1`) whose detections carry the
    probability of their own class only: the one-hot target's dot product
    :math:`p_j = P_j[c_n]` stands for the cosine. The Nesterov iGOS++ paper for detectors
    (Jiang, Khorram, Li, BMVC 2023) likewise explains the matched detection's score.
    The score is differentiable with respect to the image through the boxes and the
    probabilities (torchvision computes both with autograd, also in ``eval()``).

    Build the torchvision model with ``box_score_thresh=0.0`` so that a weakened detection
    lowers the score instead of vanishing below the default threshold of 0.05.

    Args:
        model: a torchvision detection model (``fasterrcnn_*``, ``retinanet_*``,
            ``fcos_*``, ``ssd*``: anything returning a list of dicts with ``boxes``
            (x0, y0, x1, y1), ``labels`` and ``scores`` for a list of images). Each call
            runs it in eval mode and restores its modules' ``training`` flags, as the
            methods do, so it may be left in training mode.
        boxes: the objects' boxes, ``(4,)``, ``(1, 4)`` or ``(N, 4)``, in input pixels, each
            with ``x0 < x1``, ``y0 < y1`` and some overlap with the image; or ``None`` to
            give them per call (``additional_forward_args``).
        labels: their labels, an int, ``(1,)`` or ``(N,)``; or ``None`` likewise. For a
            torchvision detector they must be among its classes (not its background 0).
        min_iou: :math:`\tau`, the overlap a detection needs to match (0: any overlap).

    Raises:
        TypeError: a model that is not a module, images that are not one floating tensor
            (a list of images), boxes, labels or masks of the wrong type.
        ValueError: inverted, zero-area, non-finite or wholly outside boxes, labels beyond
            the model's classes, a detector output without ``boxes``/``labels``/``scores``
            (the message names the keys there are).

    Example:
        >>> import torch
        >>> class OneBox(torch.nn.Module):  # a "detector" that always sees one box
        ...     def forward(self, images):
        ...         return [{"boxes": torch.tensor([[0.0, 0.0, 4.0, 4.0]]),
        ...                  "labels": torch.tensor([1]),
        ...                  "scores": image.mean().reshape(1)} for image in images]
        >>> score = DetectionScore(OneBox(), boxes=torch.tensor([0.0, 0.0, 4.0, 2.0]), labels=1)
        >>> score(torch.full((2, 3, 8, 8), 0.5))
        tensor([[0.2500],
                [0.2500]])
    """

    def __init__(self, model: nn.Module, boxes: Tensor | None = None,
                 labels: Tensor | int | None = None, min_iou: float = 0.0) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"expected model to be a torch.nn.Module, got {describe(model)}")
        if not 0.0 <= float(min_iou) < 1.0:
            raise ValueError(f"expected min_iou in [0, 1), got {min_iou}")
        self.model = model
        self.boxes = boxes if boxes is None else _check_values("boxes", boxes)
        labels = torch.as_tensor(labels) if _is_int(labels) else labels
        self.labels = labels if labels is None else _check_values("labels", labels)
        if self.labels is not None:
            _check_labels_in(self.labels, model)
        self.min_iou = float(min_iou)

    def forward(self, images: Tensor, boxes: Tensor | None = None,
                labels: Tensor | None = None) -> Tensor:
        images = _check_images(images)
        rows = images.shape[0]
        boxes = _per_row("boxes", self.boxes, boxes, rows, trailing=1)
        labels = _per_row("labels", self.labels, labels, rows, trailing=0)
        if boxes.dim() != 2:
            raise ValueError(f"expected boxes of shape (N, 4), got {tuple(boxes.shape)}")
        _check_boxes_overlap(boxes, (images.shape[-2], images.shape[-1]))
        _check_labels_in(labels, self.model)
        with predicting(type(self).__name__, needs_grad=False):
            detections = self.model(list(images))
        if not isinstance(detections, (list, tuple)) or len(detections) != rows:
            raise ValueError(
                f"expected the detector to return a list of {rows} dicts (one per image), "
                f"got {describe_output(detections)}"
            )
        scores = []
        for box, label, found in zip(boxes, labels, detections):
            found_boxes, found_labels, found_scores = (
                _output_entry(found, key, "each detection dict")
                for key in ("boxes", "labels", "scores")
            )
            overlap = box_iou(box.to(found_boxes).unsqueeze(0), found_boxes)[0]
            similarity = overlap * found_scores
            matches = (found_labels == label.to(found_labels)) & (overlap > self.min_iou)
            similarity = torch.where(matches, similarity, torch.zeros_like(similarity))
            best = similarity.max() if similarity.numel() else images.new_zeros(())
            # images.sum() * 0 keeps the graph to the image when nothing was detected
            scores.append(best.to(images.dtype) + images.sum() * 0)
        return torch.stack(scores).unsqueeze(1)


class SegmentationScore(nn.Module):
    r"""Mean probability of class :math:`c_n` over each image's pixel mask, ``(N, 1)``.

    .. math::
        s_n = \frac{\sum_{ij} m_n[i, j]\ \mathrm{softmax}(z_n[:, i, j])_{c_n}}
                   {\sum_{ij} m_n[i, j]},

    with :math:`z_n` the model's per-pixel logits (torchvision's ``out``). The mean (not
    Captum's tutorial's sum of logits, nor pytorch-grad-cam's masked sum) keeps the score
    in [0, 1] whatever the mask's size, so scores compare across images and the I-GOS
    objective's coefficients mean the same for every mask; ``probability=False`` uses the
    mean logit instead and ``reduction="sum"`` the sum.

    Args:
        model: a torchvision segmentation model (output a dict with ``out`` of shape
            ``(N, classes, H, W)``) or any model returning that tensor; each call runs it
            in eval mode and restores its flags.
        masks: pixel masks ``(H, W)``, ``(1, H, W)`` or ``(N, H, W)`` (bool or floating
            weights in [0, 1], each marking at least one pixel) at the output's
            resolution, or ``None`` to give them per call.
        labels: the class of each mask, an int, ``(1,)`` or ``(N,)``, or ``None``; for a
            torchvision segmenter, below its number of classes.
        probability: softmax over classes (default) or raw logits.
        reduction: ``"mean"`` (default) or ``"sum"`` over the mask.

    Example:
        >>> import torch
        >>> two_classes = lambda x: {"out": torch.cat([x[:, :1], -x[:, :1]], dim=1)}
        >>> mask = torch.zeros(4, 4, dtype=torch.bool)
        >>> mask[:2] = True
        >>> SegmentationScore(two_classes, mask, labels=1)(torch.zeros(2, 1, 4, 4))
        tensor([[0.5000],
                [0.5000]])
    """

    def __init__(self, model: Any, masks: Tensor | None = None,
                 labels: Tensor | int | None = None, probability: bool = True,
                 reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"expected reduction 'mean' or 'sum', got {reduction!r}")
        self.model = model
        self.masks = masks if masks is None else _check_values("masks", masks)
        labels = torch.as_tensor(labels) if _is_int(labels) else labels
        self.labels = labels if labels is None else _check_values("labels", labels)
        if self.labels is not None:
            _check_labels_in(self.labels, model)
        self.probability = bool(probability)
        self.reduction = reduction

    def forward(self, images: Tensor, masks: Tensor | None = None,
                labels: Tensor | None = None) -> Tensor:
        images = _check_images(images)
        rows = images.shape[0]
        masks = _per_row("masks", self.masks, masks, rows, trailing=2)
        labels = _per_row("labels", self.labels, labels, rows, trailing=0)
        _check_labels_in(labels, self.model)
        with predicting(type(self).__name__, needs_grad=False):
            out = self.model(images)
        logits = _output_entry(out, "out", "the segmenter's output dict") \
            if isinstance(out, Mapping) else out
        if not isinstance(logits, Tensor):
            raise TypeError(
                "expected the segmenter to return logits (N, classes, H, W) or a dict with "
                f"them under 'out', got {describe_output(out)}"
            )
        if logits.dim() != 4 or masks.shape[1:] != logits.shape[2:]:
            raise ValueError(
                f"expected masks of shape (N, {', '.join(map(str, logits.shape[2:]))}) "
                f"matching the output (N, classes, H, W) = {tuple(logits.shape)}, got "
                f"{tuple(masks.shape)}"
            )
        if bool((labels >= logits.shape[1]).any()):
            raise ValueError(
                f"expected labels below {logits.shape[1]} (the output's classes), got "
                f"{labels.max().item()}"
            )
        values = torch.softmax(logits, dim=1) if self.probability else logits
        index = labels.to(device=logits.device, dtype=torch.long).view(rows, 1, 1, 1)
        chosen = values.gather(1, index.expand(rows, 1, *logits.shape[2:]))[:, 0]
        weights = masks.to(chosen.dtype)
        total = (chosen * weights).flatten(1).sum(dim=1)
        if self.reduction == "mean":
            total = total / weights.flatten(1).sum(dim=1).clamp_min(1e-12)
        return total.unsqueeze(1)
