"""The result store: one atomic file per image x method result, so runs resume.

Layout under the output folder ``OUT`` (``<key>`` is the image's name relative to ROOT,
see :func:`~captum_igos.runs.sources.storage_key`; ``<tag>`` is the method and a hash of
its settings, see :func:`result_tag`)::

    records/<tag>/<key>.json      one finished result (a row of results.csv and more)
    pictures/<tag>/<key>.png      its overlay (the map over the image)
    maps/<tag>/<key>.npy          its raw map, float32 (H, W) (with --save-maps)
    pictures/input/<key>.png      the image as the model sees it
    compare/<key>.png             the methods side by side (compare, demo)
    failures/<tag>/<key>.json     a method that failed on the image
    failures/image/<key>.json     an image that could not be read
    progress/rank-<r>.json        images rank r has finished in this run, its peak memory

Every file is written to a temporary name and renamed (``os.replace``, via
:func:`captum_igos.runs.files.atomic_path`), and a record is written after its picture, so
a record that exists is complete and a stopped rank loses at most the batch in flight.
Only the rank that owns an image in a run writes its files. Results are keyed by image x
method x settings: a rerun with other settings writes under another tag and keeps the
old results; a rerun with the same settings skips what is there.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from captum_igos.runs.files import TEMPORARY_PREFIX, atomic_path, write_json, write_npy

__all__ = ["PERFORMANCE_SETTINGS", "ResultStore", "result_tag"]

#: Settings that change speed, not results: left out of the key, so a rerun with another
#: ``--internal-batch-size`` resumes.
PERFORMANCE_SETTINGS = ("internal_batch_size", "perturbations_per_eval")


def result_tag(method: str, settings: Mapping[str, Any]) -> str:
    """``<method>-<hash>``: the folder of one method's results under given settings.

    Example:
        >>> tag = result_tag("igos++", {"model": "m", "internal_batch_size": 8})
        >>> tag.startswith("igospp-"), len(tag)
        (True, 15)
        >>> tag == result_tag("igos++", {"model": "m", "internal_batch_size": 64})
        True
        >>> tag == result_tag("igos++", {"model": "other"})
        False
    """
    kept = _without_performance(settings)
    digest = hashlib.sha1(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()
    return f"{method.replace('+', 'p')}-{digest[:8]}"


def _without_performance(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _without_performance(item) for key, item in value.items()
                if key not in PERFORMANCE_SETTINGS}
    return value


class ResultStore:
    """Reads and writes the per-result files of one output folder (layout above)."""

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)

    # ------------------------------------------------------------------ paths

    def record_path(self, tag: str, key: str) -> Path:
        return self.out / "records" / tag / f"{key}.json"

    def picture_path(self, tag: str, key: str) -> Path:
        return self.out / "pictures" / tag / f"{key}.png"

    def map_path(self, tag: str, key: str) -> Path:
        return self.out / "maps" / tag / f"{key}.npy"

    def compare_path(self, key: str) -> Path:
        return self.out / "compare" / f"{key}.png"

    def input_path(self, key: str) -> Path:
        return self.out / "pictures" / "input" / f"{key}.png"

    def failure_path(self, tag: str | None, key: str) -> Path:
        return self.out / "failures" / (tag or "image") / f"{key}.json"

    def progress_path(self, rank: int) -> Path:
        return self.out / "progress" / f"rank-{rank}.json"

    def relative(self, path: Path) -> str:
        """``path`` relative to ``OUT`` with ``/`` separators (as the report links it)."""
        return path.relative_to(self.out).as_posix()

    # ------------------------------------------------------------------ reading

    def has_record(self, tag: str, key: str) -> bool:
        return self.record_path(tag, key).is_file()

    def read_record(self, tag: str, key: str) -> dict | None:
        """The stored record, or ``None`` when there is none (or it is unreadable)."""
        try:
            return json.loads(self.record_path(tag, key).read_text())
        except (OSError, ValueError):
            return None

    def read_failure(self, tag: str | None, key: str) -> dict | None:
        try:
            return json.loads(self.failure_path(tag, key).read_text())
        except (OSError, ValueError):
            return None

    def read_progress(self, world_size: int) -> list[dict]:
        """Each rank's last progress entry in this run (``{"rank": r}`` alone if none yet)."""
        entries = []
        for rank in range(world_size):
            try:
                entry = json.loads(self.progress_path(rank).read_text())
            except (OSError, ValueError):
                entry = {}
            entries.append({"rank": rank, **(entry if isinstance(entry, dict) else {})})
        return entries

    def images_done(self, world_size: int) -> int:
        """Images finished in this run over all ranks (from the progress files)."""
        done = 0
        for entry in self.read_progress(world_size):
            try:
                done += int(entry.get("images", 0))
            except (ValueError, TypeError):
                pass
        return done

    # ------------------------------------------------------------------ writing

    def _write(self, path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, data)

    def write_picture(self, path: Path, picture: Any) -> None:
        """Save a PIL image as PNG at ``path`` atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_path(path, lambda tmp: picture.save(tmp, format="PNG"))

    def write_map(self, path: Path, heatmap: Any) -> None:
        """Save a raw map (a float32 array) as ``.npy`` at ``path`` atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npy(path, heatmap)

    def write_record(self, tag: str, key: str, record: Mapping[str, Any]) -> None:
        """Store a finished result (last: its picture is written first)."""
        self._write(self.record_path(tag, key), dict(record))
        self.failure_path(tag, key).unlink(missing_ok=True)

    def write_failure(self, tag: str | None, key: str, failure: Mapping[str, Any]) -> None:
        self._write(self.failure_path(tag, key), dict(failure))

    def clear_image_failure(self, key: str) -> None:
        self.failure_path(None, key).unlink(missing_ok=True)

    def write_progress(self, rank: int, progress: Mapping[str, Any]) -> None:
        """Rank ``rank``'s progress: ``{"images": done, ...}`` (its usage, see progress)."""
        self._write(self.progress_path(rank), dict(progress))

    def reset_progress(self) -> None:
        """Forget the previous run's progress files (rank 0, before any rank starts)."""
        folder = self.out / "progress"
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink(missing_ok=True)

    def remove_temporary(self) -> int:
        """Delete temporary files a killed process left (rank 0, before any rank starts)."""
        removed = 0
        for part in ("records", "pictures", "maps", "compare", "failures", "progress"):
            for path in (self.out / part).rglob(f"{TEMPORARY_PREFIX}*"):
                if path.is_file():
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed
