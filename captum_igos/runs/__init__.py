"""The one run engine behind every command and the Python API.

From the command line::

    captum-igos explain IMAGE... --methods igos,gradcam --out OUT
    captum-igos explain-dataset ROOT --methods igos,gradcam --out OUT [--batch-size 8]
    torchrun --nproc_per_node=K -m captum_igos explain-dataset ROOT --methods ... --out OUT

From Python, :func:`~captum_igos.runs.explain_dataset` (a folder or list) and
:func:`~captum_igos.runs.explain_images` (image files) return the table;
:func:`~captum_igos.runs.run` takes a :class:`~captum_igos.runs.RunConfig` and returns a
:class:`~captum_igos.runs.RunOutcome`. ``OUT`` receives ``results.csv`` (one row per
image and method),
``summary.json`` (mean AUCs with 95% bootstrap intervals per method and class, images
per second, failures, skipped entries) and ``report.html`` (a static page: the sortable
table and a gallery).

Modules, one job each: :mod:`~captum_igos.runs.config` (the settings),
:mod:`~captum_igos.runs.methods` (the method registry), :mod:`~captum_igos.runs.sources`
(files, ImageFolder trees and lists), :mod:`~captum_igos.runs.labels` (targets),
:mod:`~captum_igos.runs.model` (the model and its layer), :mod:`~captum_igos.runs.job`
(one method on one batch), :mod:`~captum_igos.runs.store` (one atomic file per result,
resume), :mod:`~captum_igos.runs.sharding` (ranks), :mod:`~captum_igos.runs.engine`
(the run), :mod:`~captum_igos.runs.summary` (``results.csv``, bootstrap intervals),
:mod:`~captum_igos.runs.report` (the page), :mod:`~captum_igos.runs.pictures`,
:mod:`~captum_igos.runs.progress`, :mod:`~captum_igos.runs.files` and
:mod:`~captum_igos.runs.interrupts`. Nothing here imports :mod:`captum_igos.cli`.

Names are imported on first use (PEP 562): importing the package loads no PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the static view of the lazy names below
    from captum_igos.runs.config import ConfigError, RunConfig, RunError
    from captum_igos.runs.engine import RunOutcome, explain_dataset, explain_images, run
    from captum_igos.runs.methods import METHODS, REGISTRY
    from captum_igos.runs.summary import COLUMNS, bootstrap_ci

__all__ = [
    "COLUMNS",
    "METHODS",
    "REGISTRY",
    "ConfigError",
    "RunConfig",
    "RunError",
    "RunOutcome",
    "bootstrap_ci",
    "explain_dataset",
    "explain_images",
    "run",
]

_HOMES = {
    "COLUMNS": "summary", "bootstrap_ci": "summary", "METHODS": "methods", "REGISTRY": "methods",
    "ConfigError": "config", "RunConfig": "config", "RunError": "config",
    "RunOutcome": "engine", "explain_dataset": "engine", "explain_images": "engine",
    "run": "engine",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'captum_igos.runs' has no attribute {name!r}")
    return getattr(importlib.import_module(f"captum_igos.runs.{home}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
