"""Explain a whole dataset: batched, on many ranks through ``torchrun``, resumable.

From the command line::

    captum-igos explain-dataset ROOT --methods igos,gradcam --out OUT [--batch-size 8]
    torchrun --nproc_per_node=K -m captum_igos explain-dataset ROOT --methods ... --out OUT

From Python, :func:`explain_dataset` returns the table. ``OUT`` receives ``results.csv``
(one row per image and method), ``summary.json`` (mean AUCs with 95% bootstrap intervals
per method and class, images per second, failures) and ``report.html`` (a static page:
the sortable table and a gallery).

Modules, one job each: :mod:`~captum_igos.dataset.sources` (ImageFolder trees and file
lists), :mod:`~captum_igos.dataset.sharding` (ranks, devices, the strided split),
:mod:`~captum_igos.dataset.store` (one atomic file per result, resume),
:mod:`~captum_igos.dataset.engine` (the run), :mod:`~captum_igos.dataset.summary`
(``results.csv``, bootstrap intervals), :mod:`~captum_igos.dataset.report` (the page),
:mod:`~captum_igos.dataset.pictures` and :mod:`~captum_igos.dataset.progress`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from captum_igos.dataset.engine import DatasetOutcome, run_dataset
from captum_igos.dataset.sources import DatasetImage, list_images
from captum_igos.dataset.summary import COLUMNS, bootstrap_ci

__all__ = [
    "COLUMNS",
    "DatasetImage",
    "DatasetOutcome",
    "bootstrap_ci",
    "explain_dataset",
    "list_images",
    "run_dataset",
]


def explain_dataset(
    root: str | os.PathLike,
    methods: Sequence[str] = ("igos",),
    out: str | os.PathLike = "captum-igos-out",
    *,
    model: Any = "efficientnet_lite0",
    target: str | int = "top1",
    batch_size: int = 8,
    **options: Any,
) -> list[dict]:
    """Explain every image under ``root`` with ``methods``; returns the ``results.csv`` rows.

    Args:
        root: an ``ImageFolder`` tree, or a ``.txt`` / ``.csv`` image list
            (:mod:`~captum_igos.dataset.sources`).
        methods: registry names (:data:`captum_igos.cli.METHODS`).
        out: the output folder; a rerun skips finished results.
        model: a model name (as ``load_model``), ``"module:function"`` returning a
            ``LoadedModel``, or a ``LoadedModel``.
        target: ``"top1"``, ``"label"`` (class folder / list target), an index or a name.
        batch_size: images per call of each method (``--batch-size``).
        **options: any other ``explain-dataset`` option by its ``dest`` name
            (``iterations=5``, ``metric_steps=20``, ``internal_batch_size=16``, ``quiet=True``,
            ``force=True``, ``device="cpu"``, ...).

    Returns:
        The merged table (list of dicts with :data:`COLUMNS`) on rank 0; an empty list on
        other ranks under ``torchrun``.

    Raises:
        TypeError: an unknown option name.
        captum_igos.cli.CLIError: bad ROOT, model, layer or target (one line).
    """
    from captum_igos.cli.dataset import dataset_options

    values = dict(options, model=model, target=str(target), images_per_call=batch_size,
                  out=str(out))
    if "internal_batch_size" in values:
        values["batch_size"] = values.pop("internal_batch_size")
    namespace = dataset_options(root, methods, values)
    return run_dataset(namespace, namespace.methods).rows
