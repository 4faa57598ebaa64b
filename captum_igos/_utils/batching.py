"""Rows per forward pass, one chunk iterator, and per-row target/argument selection.

Every method and metric of the package sends many *rows* (perturbed or interpolated
examples) through the network; this module is the one place that decides how many go in
one pass and which target and forward arguments each row gets.

**One meaning of** ``internal_batch_size=None``: :func:`rows_per_pass` gives
:func:`default_rows_per_pass` rows, 8 on a CPU and 64 on other devices (GPUs), so memory
is bounded by the chunk and never grows with ``n_steps`` or the number of images. An int
is the most rows (examples x steps) in one pass, as in Captum. Used by ``IGOS``,
``IGOSPlusPlus`` (through ``PathScorer``), ``LayerRSIGradCam`` and
:func:`captum_igos.metrics.deletion_insertion`.

**Chunks.** :func:`chunk_ranges` splits ``total`` items into consecutive ranges; with
``include_endpoint=True`` consecutive chunks share their boundary point, the way Captum's
``captum/attr/_utils/batching.py`` (``_batch_attribution(..., include_endpoint=True)``)
lets ``LayerConductance`` see both ends of every interval of a path.

**Row order.** One layout everywhere: rows are *step-major*, as in Captum,
``row = step * count + item``, where ``item`` is the example (``LayerRSIGradCam``: image
``i`` at path point ``s`` is row ``s * N + i``), the mask path (``PathScorer``: step ``s``
of path ``p`` is row ``s * P + p``) or the image (``deletion_insertion``: perturbation
``k`` of image ``i`` is row ``k * N + i``). :func:`rows_target` and
:func:`rows_additional_args` select each row's target and forward arguments from the
row's image index.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Iterator
from types import FrameType
from typing import Any

import torch
from torch import Tensor

from captum_igos._utils.captum_compat import TargetType

__all__ = [
    "ACCELERATOR_ROWS_PER_PASS",
    "CPU_ROWS_PER_PASS",
    "chunk_ranges",
    "default_rows_per_pass",
    "path_points_per_pass",
    "rows_additional_args",
    "rows_per_pass",
    "rows_target",
    "warn_caller",
]

#: Rows (examples x steps) per forward/backward pass on a CPU when ``internal_batch_size``
#: is None: passes of about 8 rows were fastest on a 2-core CPU (the measurements are in
#: ``benchmarks/results/rsi_gradcam.md``); larger passes overflow the CPU caches.
CPU_ROWS_PER_PASS = 8
#: Rows per pass on other devices (GPUs) when ``internal_batch_size`` is None. Not tuned
#: on a GPU: a size that keeps a ResNet-50 forward+backward at 224 px to a few GiB. Pass
#: ``internal_batch_size`` to use a GPU fully.
ACCELERATOR_ROWS_PER_PASS = 64


def default_rows_per_pass(device: torch.device) -> int:
    """Rows per pass when the caller gives no ``internal_batch_size``, by device type.

    Example:
        >>> default_rows_per_pass(torch.device("cpu"))
        8
    """
    return CPU_ROWS_PER_PASS if torch.device(device).type == "cpu" else ACCELERATOR_ROWS_PER_PASS


def rows_per_pass(internal_batch_size: int | None, device: torch.device) -> int:
    """The most rows in one pass: ``internal_batch_size``, or the device's default for None.

    Example:
        >>> rows_per_pass(None, torch.device("cpu")), rows_per_pass(100, torch.device("cpu"))
        (8, 100)
    """
    return default_rows_per_pass(device) if internal_batch_size is None else internal_batch_size


def chunk_ranges(
    total: int, size: int, *, include_endpoint: bool = False, stride: int = 1
) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges (``stop`` exclusive) of consecutive chunks of ``total`` items.

    Without ``include_endpoint``: chunks of at most ``size`` items, covering each item once.

    With ``include_endpoint``: ``total = num_intervals * stride + 1`` points of a path whose
    interval ``m`` spans the points ``m * stride`` to ``(m + 1) * stride`` (``stride = 2``
    when a midpoint sits between the two ends). Each chunk holds whole intervals, as many
    as fit into ``size`` points but at least one, and begins at the last point of the
    previous chunk, so every interval lies inside exactly one chunk (Captum's
    ``include_endpoint``).

    Example:
        >>> list(chunk_ranges(7, 3))
        [(0, 3), (3, 6), (6, 7)]
        >>> list(chunk_ranges(6, 3, include_endpoint=True))
        [(0, 3), (2, 5), (4, 6)]
        >>> list(chunk_ranges(7, 4, include_endpoint=True, stride=2))
        [(0, 3), (2, 5), (4, 7)]
    """
    if size < 1 or stride < 1:
        raise ValueError(f"expected size >= 1 and stride >= 1, got size={size}, stride={stride}")
    if not include_endpoint:
        for start in range(0, total, size):
            yield start, min(start + size, total)
        return
    num_intervals = (total - 1) // stride
    per_chunk = max(1, (size - 1) // stride)
    for first in range(0, num_intervals, per_chunk):
        yield first * stride, min(first + per_chunk, num_intervals) * stride + 1


def path_points_per_pass(
    internal_batch_size: int | None,
    num_examples: int,
    num_points: int,
    minimum: int,
    device: torch.device,
) -> int:
    """Path points per example in one chunk of overlapping chunks (step-major rows).

    ``internal_batch_size`` counts rows (examples x points), as in Captum: it gives
    ``internal_batch_size // num_examples`` points. A chunk needs at least ``minimum``
    points (one interval); a smaller ``internal_batch_size`` is raised to
    ``minimum * num_examples`` with a warning, as Captum's ``LayerConductance`` does.
    ``None`` gives :func:`default_rows_per_pass` *new* rows per chunk: the first point of a
    chunk is the previous chunk's last, carried over rather than evaluated again, so a chunk
    holds ``1 + ceil(rows / num_examples)`` points.
    """
    if internal_batch_size is None:
        points = 1 + max(1, math.ceil(default_rows_per_pass(device) / num_examples))
    else:
        points = internal_batch_size // num_examples
        if points < minimum:
            warn_caller(
                f"internal_batch_size={internal_batch_size} holds fewer than {minimum} path "
                f"points for each of the {num_examples} example(s); using "
                f"{minimum * num_examples} (consecutive chunks share a point)"
            )
    return min(max(points, minimum), num_points)


def rows_target(target: TargetType, image_index: Tensor) -> TargetType:
    """The target for rows built from the images ``image_index`` (Captum's target types).

    An int, a tuple or a one-element tensor applies to every row; a tensor or list with
    one entry per image is indexed.

    Example:
        >>> rows_target(torch.tensor([5, 6, 7]), torch.tensor([2, 2, 0])).tolist()
        [7, 7, 5]
    """
    if isinstance(target, Tensor) and target.numel() > 1:
        return target[image_index.to(target.device)]
    if isinstance(target, list):
        return [target[i] for i in image_index.tolist()]
    return target


def rows_additional_args(
    additional_forward_args: tuple[Any, ...] | None, image_index: Tensor
) -> tuple[Any, ...] | None:
    """Tensor arguments (first dimension = images) indexed by ``image_index``; others as given."""
    if additional_forward_args is None:
        return None
    return tuple(
        arg[image_index.to(arg.device)] if isinstance(arg, Tensor) and arg.dim() > 0 else arg
        for arg in additional_forward_args
    )


_PACKAGE_DIRS = tuple(
    os.path.dirname(os.path.abspath(module_file)) + os.sep
    for module_file in (
        getattr(sys.modules[name], "__file__", None) for name in ("captum_igos", "captum")
    )
    if module_file
)


def warn_caller(message: str | Warning, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first frame outside captum_igos and Captum.

    The warning points at the user's line whatever the call depth (wrappers such as
    Captum's ``log_usage`` or ``NoiseTunnel`` included), instead of a hard-coded
    ``stacklevel``. A ``Warning`` instance as ``message`` is raised as it is (its class
    is the category).
    """
    frame: FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        _PACKAGE_DIRS
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
