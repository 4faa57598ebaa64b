"""Writing results: atomic file writes and the output folder.

A temporary file is named ``.tmp-<random><suffix>`` beside its target, whatever the
target's name, so a long (legal) result name never becomes an illegal temporary one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from captum_igos.runs.config import RunError

__all__ = ["TEMPORARY_PREFIX", "atomic_path", "prepare_out", "write_figure", "write_json",
           "write_npy"]

#: Temporary files start with this (rank 0 removes those a killed process left).
TEMPORARY_PREFIX = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_path(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    handle, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    atomic_path(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def write_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as a ``.npy`` file to ``path`` atomically."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array)

    atomic_path(path, write)


def write_figure(path: Path, fig: Any) -> None:
    """Save a matplotlib figure to ``path`` atomically."""
    from captum_igos.visualization import save_figure

    atomic_path(path, lambda tmp: save_figure(fig, tmp))


def prepare_out(out: str) -> Path:
    """Create the output folder and check it is writable (else
    :class:`~captum_igos.runs.RunError`)."""
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise RunError(f"cannot write to output folder {out!r}: {reason}") from None
    return path
