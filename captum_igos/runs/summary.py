"""The merged table and its summary: ``results.csv`` and ``summary.json``.

Per method (and per method and class), the mean deletion and insertion AUC with a 95%
percentile bootstrap confidence interval (Efron and Tibshirani, *An Introduction to the
Bootstrap*, 1993, ch. 13): the means of ``resamples`` resamples of the rows with
replacement, drawn from a seeded generator, so the same table gives the same interval.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from captum_igos.runs.files import atomic_path

__all__ = ["COLUMNS", "bootstrap_ci", "method_statistics", "write_results_csv"]

#: The columns of ``results.csv``, in order.
#: ``seconds`` is ``batch_seconds / batch_images``: one call of the method and of the metric
#: on the images of a batch, timed together and shared evenly (measured per image when
#: ``batch_images`` is 1). ``label_rule`` says how the target was read
#: (:mod:`~captum_igos.runs.labels`; empty for top-1).
COLUMNS = ("image", "method", "target", "class_name", "label", "label_rule", "probability",
           "deletion_auc", "insertion_auc", "seconds", "batch_seconds", "batch_images",
           "map_status")


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``.

    Example:
        >>> bootstrap_ci([0.5, 0.5, 0.5])
        (0.5, 0.5)
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("expected at least one value for a bootstrap interval, got none")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def _stats(rows: Sequence[Mapping[str, Any]], seed: int) -> dict[str, Any]:
    stats: dict[str, Any] = {"images": len(rows)}
    for column in ("deletion_auc", "insertion_auc"):
        values = [float(row[column]) for row in rows]
        low, high = bootstrap_ci(values, seed=seed)
        stats[column] = {"mean": float(np.mean(values)), "ci95": [low, high]}
    stats["mean_seconds"] = float(np.mean([float(row["seconds"]) for row in rows]))
    return stats


def _class_of(row: Mapping[str, Any]) -> str:
    """The class a row counts under: the image's label if it has one, else its target."""
    return str(row["label"]) if row.get("label") not in (None, "") else str(row["class_name"])


def method_statistics(rows: Sequence[Mapping[str, Any]], methods: Sequence[str],
                      seed: int = 0) -> dict[str, Any]:
    """Per method: images, mean AUCs with 95% bootstrap intervals, mean seconds, per class.

    Classes are the images' labels (class folders, list targets) where the source gives
    them, else the explained class.
    """
    result: dict[str, Any] = {}
    for method in methods:
        mine = [row for row in rows if row["method"] == method]
        if not mine:
            continue
        entry = _stats(mine, seed)
        classes: dict[str, list] = {}
        for row in mine:
            classes.setdefault(_class_of(row), []).append(row)
        entry["per_class"] = {name: _stats(group, seed) for name, group in sorted(classes.items())}
        result[method] = entry
    return result


def write_results_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write the table (:data:`COLUMNS`) to ``path`` atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row.get(key) is None else row.get(key) for key in COLUMNS})
    atomic_path(path, lambda tmp: tmp.write_text(buffer.getvalue()))
