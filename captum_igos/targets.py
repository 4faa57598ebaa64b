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

from numbers import Integral
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.ops import box_iou

from captum_igos._utils.validation import check_finite, describe

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
    """Boxes and masks finite (masks bool or in [0, 1]), labels integers >= 0."""
    if not isinstance(value, Tensor):
        raise TypeError(f"expected {name} to be a tensor, got {describe(value)}")
    if name == "labels":
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"expected integer labels (e.g. torch.long), got dtype {value.dtype}")
        if bool((value < 0).any()):
            raise ValueError(f"expected labels >= 0, got {value.min().item()}")
        return value
    check_finite(name, value)
    if name == "masks" and value.dtype != torch.bool and bool(((value < 0) | (value > 1)).any()):
        raise ValueError(
            f"expected masks as bool or weights in [0, 1], got values in "
            f"[{value.min().item():.3g}, {value.max().item():.3g}]"
        )
    return value


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
        model: a torchvision detection model in ``eval()`` mode (``fasterrcnn_*``,
            ``retinanet_*``, ``fcos_*``, ``ssd*``: anything returning a list of dicts with
            ``boxes`` (x0, y0, x1, y1), ``labels`` and ``scores`` for a list of images).
        boxes: the objects' boxes, ``(4,)``, ``(1, 4)`` or ``(N, 4)``, in input pixels; or
            ``None`` to give them per call (``additional_forward_args``).
        labels: their labels, an int, ``(1,)`` or ``(N,)``; or ``None`` likewise.
        min_iou: :math:`\tau`, the overlap a detection needs to match (0: any overlap).

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
        self.min_iou = float(min_iou)

    def forward(self, images: Tensor, boxes: Tensor | None = None,
                labels: Tensor | None = None) -> Tensor:
        rows = images.shape[0]
        boxes = _per_row("boxes", self.boxes, boxes, rows, trailing=1)
        labels = _per_row("labels", self.labels, labels, rows, trailing=0)
        if boxes.shape[1:] != (4,):
            raise ValueError(f"expected boxes of shape (N, 4), got {tuple(boxes.shape)}")
        detections = self.model(list(images))
        scores = []
        for box, label, found in zip(boxes, labels, detections):
            overlap = box_iou(box.to(found["boxes"]).unsqueeze(0), found["boxes"])[0]
            similarity = overlap * found["scores"]
            matches = (found["labels"] == label.to(found["labels"])) & (overlap > self.min_iou)
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
            ``(N, classes, H, W)``) or any model returning that tensor.
        masks: pixel masks ``(H, W)``, ``(1, H, W)`` or ``(N, H, W)`` (bool or weights in
            [0, 1]) at the output's resolution, or ``None`` to give them per call.
        labels: the class of each mask, an int, ``(1,)`` or ``(N,)``, or ``None``.
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
        self.probability = bool(probability)
        self.reduction = reduction

    def forward(self, images: Tensor, masks: Tensor | None = None,
                labels: Tensor | None = None) -> Tensor:
        rows = images.shape[0]
        out = self.model(images)
        logits = out["out"] if isinstance(out, dict) else out
        masks = _per_row("masks", self.masks, masks, rows, trailing=2)
        labels = _per_row("labels", self.labels, labels, rows, trailing=0)
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
