"""Where a dataset's images come from: an ``ImageFolder`` tree or a ``.txt``/``.csv`` list.

:func:`list_images` turns ``ROOT`` into a sorted list of :class:`DatasetImage`, each with
its name relative to ``ROOT`` (the ``image`` column of ``results.csv`` and the key of every
stored result) and its label where the source gives one:

- a folder in torchvision's ``ImageFolder`` layout (``ROOT/<class>/**/<image>``, class
  folders and files sorted, the extensions of ``torchvision.datasets.folder.IMG_EXTENSIONS``,
  hidden files left out); the label is the class folder's name. Images directly in
  ``ROOT`` are taken too, without a label;
- a ``.txt`` file: one image path per line (without spaces; use a CSV for those),
  optionally followed by whitespace and a target (``#`` starts a comment);
- a ``.csv`` file with a header row naming an ``image`` (or ``path``) column and
  optionally a ``target`` column.

Relative paths in a list are relative to the list's folder, and names are relative to it.

:func:`label_classes` maps labels to class indices of a model: folder names that are all
class indices or class names of the model are used as such; otherwise (ImageNet's
``n01440764`` folders) a label's index is its position among the sorted labels, as
``ImageFolder.class_to_idx`` numbers them (sorted WordNet ids are ImageNet's class order).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["IMAGE_EXTENSIONS", "DatasetImage", "label_classes", "list_images", "storage_key"]

#: File extensions taken from an image folder (torchvision's ``IMG_EXTENSIONS``).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class DatasetImage:
    """One image of a dataset.

    Attributes:
        path: the file.
        name: its path relative to ``ROOT`` (POSIX separators), as ``results.csv`` shows it.
        label: the class folder's name or the list's target; ``None`` when there is none.
    """

    path: Path
    name: str
    label: str | None = None


def storage_key(name: str) -> str:
    """A relative path under the output folder for image ``name`` (no ``..``, no root).

    Example:
        >>> storage_key("../photos/cat.jpg")
        '_up_/photos/cat.jpg'
    """
    parts = [part for part in PurePosixPath(name.replace("\\", "/")).parts if part not in ("/", "")]
    parts = ["_up_" if part == ".." else part.replace(":", "_") for part in parts]
    return "/".join(parts) or "_"


def _relative_name(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def _is_image(path: Path) -> bool:
    return (path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS
            and not path.name.startswith("."))


def _from_folder(root: Path) -> list[DatasetImage]:
    images = [DatasetImage(path, path.name) for path in sorted(root.iterdir()) if _is_image(path)]
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for directory, subdirectories, files in os.walk(folder, followlinks=True):
            subdirectories.sort()
            for file in sorted(files):
                path = Path(directory) / file
                if _is_image(path):
                    images.append(DatasetImage(path, _relative_name(path, root), folder.name))
    return images


def _row(path_text: str, target: str | None, base: Path) -> DatasetImage:
    path = Path(path_text.strip())
    full = path if path.is_absolute() else base / path
    label = target.strip() if target is not None and target.strip() else None
    return DatasetImage(full, _relative_name(full, base), label)


def _from_text(listing: Path) -> list[DatasetImage]:
    images = []
    for line in listing.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            path, *target = line.split(None, 1)
            images.append(_row(path, target[0] if target else None, listing.parent))
    return images


def _from_csv(listing: Path) -> list[DatasetImage]:
    with open(listing, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip().lower(): name for name in reader.fieldnames or ()}
        column = columns.get("image") or columns.get("path")
        if column is None:
            raise ValueError(f"expected a header row with an 'image' or 'path' column in "
                             f"{str(listing)!r}, got columns {list(columns) or 'none'}")
        target = columns.get("target")
        return [_row(row[column], row.get(target) if target else None, listing.parent)
                for row in reader if (row.get(column) or "").strip()]


def list_images(root: str | os.PathLike) -> list[DatasetImage]:
    """The images of ``root`` (an ``ImageFolder`` tree or a ``.txt`` / ``.csv`` list).

    Raises:
        ValueError: ``root`` is missing, not a folder or list, or names no image (one line).
    """
    root = Path(root)
    if root.is_dir():
        images = _from_folder(root)
        where = f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {str(root)!r} or its folders"
    elif root.is_file() and root.suffix.lower() in (".txt", ".csv"):
        images = _from_csv(root) if root.suffix.lower() == ".csv" else _from_text(root)
        where = f"no image listed in {str(root)!r}"
    elif root.exists():
        raise ValueError(f"expected ROOT to be an image folder or a .txt/.csv list, "
                         f"got {str(root)!r}")
    else:
        raise ValueError(f"cannot read ROOT {str(root)!r}: no such file or folder")
    if not images:
        raise ValueError(where)
    names = [image.name for image in images]
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"expected each image once, got {', '.join(twice[:3])} more than once")
    return images


def label_classes(labels: Sequence[str], loaded: Any) -> dict[str, int]:
    """Class index of each label for model ``loaded`` (see the module docstring)."""
    distinct = sorted(set(labels))
    named: dict[str, int] = {}
    for label in distinct:
        try:
            named[label] = loaded.class_index(label)
        except (TypeError, ValueError):
            break
    else:
        return named
    count = len(loaded.class_names)
    if len(distinct) > count:
        raise ValueError(f"expected at most {count} class folders or targets for model "
                         f"{loaded.name!r}, got {len(distinct)}")
    return {label: index for index, label in enumerate(distinct)}
