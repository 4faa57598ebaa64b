"""Writing results: atomic file writes, the output folder and one folder name per image."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from hashlib import sha1
from pathlib import Path
from typing import Any, Callable

import numpy as np

from captum_igos.cli.errors import CLIError

__all__ = ["atomic_path", "image_keys", "prepare_out", "write_figure", "write_json", "write_npy"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_path(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
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
    """Create the output folder and check it is writable (one-line CLIError if not)."""
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise CLIError(f"cannot write to output folder {out!r}: {reason}") from None
    return path


def _safe_name(stem: str) -> str:
    """``stem`` with every character but letters, digits, ``_`` and ``-`` replaced by ``_``."""
    return re.sub(r"[^\w-]", "_", stem) or "image"


def image_keys(images: Sequence[str]) -> list[str]:
    """A folder name per image, that never clashes with another image's or the run's files.

    The name is the file's stem with every character other than letters, digits, ``_`` and
    ``-`` replaced by ``_`` (``summary.json.png`` -> ``summary_json``): it never contains a
    dot, so it can never equal a file the run writes itself (``summary.json``, the hidden
    temporary files, ``results.csv``, ``report.html``). Where two different files give the
    same name (ignoring case, for case-insensitive file systems), each gets ``-`` and 6 hex
    digits of its resolved path's SHA-1; the same file given twice keeps one name.

    Example:
        >>> image_keys(["a/cat.png", "b/cat.png", "summary.json.png", "my photo.jpg"])[2:]
        ['summary_json', 'my_photo']
    """
    paths = [str(Path(image).resolve()) for image in images]
    names = [_safe_name(Path(image).stem) for image in images]
    files_per_name: dict[str, set[str]] = {}
    for name, path in zip(names, paths):
        files_per_name.setdefault(name.casefold(), set()).add(path)
    keys: list[str] = []
    owner: dict[str, str] = {}  # casefolded key -> the resolved path that has it
    for name, path in zip(names, paths):
        key = name
        if len(files_per_name[name.casefold()]) > 1:
            key = f"{name}-{sha1(path.encode()).hexdigest()[:6]}"
        candidate, number = key, 1
        while owner.setdefault(candidate.casefold(), path) != path:  # a hash that clashes
            number += 1
            candidate = f"{key}-{number}"
        keys.append(candidate)
    return keys
