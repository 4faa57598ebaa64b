"""Where a run's images come from: files, an ``ImageFolder`` tree or a ``.txt``/``.csv`` list.

:func:`list_images` turns ``ROOT`` into a :class:`Listing`: the images, each with its
name (the ``image`` column of ``results.csv``, and the key of its stored results) and
its label where the source gives one, and every entry that was not taken, with why.

- a folder in torchvision's ``ImageFolder`` layout (``ROOT/<class>/**/<image>``; in each
  folder the files, then the subfolders, sorted; the extensions of
  ``torchvision.datasets.folder.IMG_EXTENSIONS``); the label is the class folder's name.
  Images directly in ``ROOT`` are taken too, without a label. Each file is taken at most
  once (by its resolved path), a symlinked folder is followed once (a link back to a
  folder already listed, a loop, is not followed again), the output folder is never
  read, and hidden entries, other files, dangling links and unreadable folders are
  listed as skipped;
- a ``.txt`` file: one image path per line (without spaces; use a CSV for those),
  optionally followed by whitespace and a target (``#`` starts a comment);
- a ``.csv`` file with a header row naming an ``image`` (or ``path``) column and
  optionally a ``target`` column.

Relative paths in a list are relative to the list's folder, and names are relative to
it. :func:`list_files` takes image files as given (``captum-igos explain IMAGE...``);
the same file twice is skipped. :func:`storage_key` makes a name safe to store: no
``..``, no root, and any part too long for a file name hashed.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from captum_igos.runs.config import ConfigError

__all__ = ["IMAGE_EXTENSIONS", "Listing", "Skipped", "SourceImage", "list_files", "list_images",
           "storage_key"]

#: File extensions taken from an image folder (torchvision's ``IMG_EXTENSIONS``).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: Longest part of a stored name, in bytes (file systems allow 255; the store adds suffixes).
MAX_PART_BYTES = 120


@dataclass(frozen=True)
class SourceImage:
    """One image of a run.

    Attributes:
        path: the file.
        name: its path relative to ``ROOT`` (POSIX separators) or as given, as
            ``results.csv`` shows it.
        label: the class folder's name or the list's target; ``None`` when there is none.
        key: where its results are stored under the output folder (default: the
            :func:`storage_key` of ``name``; files given on the command line: their
            file name, with a hash of the resolved path where two share one).
    """

    path: Path
    name: str
    label: str | None = None
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", storage_key(self.name))


@dataclass(frozen=True)
class Skipped:
    """An entry under ``ROOT`` (or a file given) that was not taken, and why."""

    entry: str
    reason: str


@dataclass
class Listing:
    """The images of a source and the entries left out (``summary.json`` lists them)."""

    images: list[SourceImage] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def storage_key(name: str) -> str:
    """A relative path under the output folder for image ``name``: no ``..``, no root, and
    each part short enough for any file system (a longer part keeps its first bytes and
    adds a hash of the whole part).

    Example:
        >>> storage_key("../photos/cat.jpg")
        '_up_/photos/cat.jpg'
        >>> len(storage_key("x" * 240 + ".png").encode()) <= 120
        True
    """
    parts = [part for part in PurePosixPath(name.replace("\\", "/")).parts if part not in ("/", "")]
    parts = [_short("_up_" if part == ".." else part.replace(":", "_")) for part in parts]
    return "/".join(parts) or "_"


def _short(part: str) -> str:
    data = part.encode()
    if len(data) <= MAX_PART_BYTES:
        return part
    digest = hashlib.sha1(data).hexdigest()[:16]
    head = data[:MAX_PART_BYTES - 17].decode(errors="ignore")
    return f"{head}~{digest}"


def _relative_name(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


class _Walk:
    """One walk of a folder tree: what it took, what it left and the folders it entered."""

    def __init__(self, root: Path, excluded: Iterable[str]) -> None:
        self.root, self.excluded = root, set(excluded)
        self.listing = Listing()
        self.folders: dict[str, str] = {os.path.realpath(root): "."}
        self.files: dict[str, str] = {}

    def skip(self, path: Path, reason: str) -> None:
        self.listing.skipped.append(Skipped(_relative_name(path, self.root), reason))

    def folder(self, directory: Path, label: str | None) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            self.skip(directory, f"unreadable folder ({error.strerror or type(error).__name__})")
            return
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                self.skip(path, "hidden")
            elif entry.is_symlink() and not path.exists():
                self.skip(path, "dangling link")
            elif entry.is_dir():
                subfolders.append(path)
            elif entry.is_file():
                self.file(path, label)
            else:
                self.skip(path, "not a regular file or folder")
        for path in subfolders:
            real = os.path.realpath(path)
            if real in self.excluded:
                self.skip(path, "the output folder (--out) is never read as input")
            elif real in self.folders:
                self.skip(path, f"link to a folder listed already ({self.folders[real]!r}): "
                          "followed once")
            else:
                self.folders[real] = _relative_name(path, self.root)
                self.folder(path, label if label is not None else path.name)

    def file(self, path: Path, label: str | None) -> None:
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            self.skip(path, "not an image file (extension)")
            return
        real = os.path.realpath(path)
        if real in self.files:
            self.skip(path, f"the same file as {self.files[real]!r}")
            return
        if not os.access(path, os.R_OK):
            self.skip(path, "unreadable (permission denied)")
            return
        name = _relative_name(path, self.root)
        self.files[real] = name
        self.listing.images.append(SourceImage(path, name, label))


def _row(path_text: str, target: str | None, base: Path) -> SourceImage:
    path = Path(path_text.strip())
    full = path if path.is_absolute() else base / path
    label = target.strip() if target is not None and target.strip() else None
    return SourceImage(full, _relative_name(full, base), label)


def _from_text(listing: Path) -> list[SourceImage]:
    images = []
    for line in listing.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            path, *target = line.split(None, 1)
            images.append(_row(path, target[0] if target else None, listing.parent))
    return images


def _from_csv(listing: Path) -> list[SourceImage]:
    with open(listing, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = {name.strip().lower(): name for name in reader.fieldnames or ()}
        column = columns.get("image") or columns.get("path")
        if column is None:
            raise ConfigError("root", f"expected a header row with an 'image' or 'path' column "
                              f"in {str(listing)!r}, got columns {list(columns) or 'none'}")
        target = columns.get("target")
        return [_row(row[column], row.get(target) if target else None, listing.parent)
                for row in reader if (row.get(column) or "").strip()]


def _once(images: Sequence[SourceImage]) -> Listing:
    """Each file once: a name or a resolved path seen before is skipped."""
    listing, names, files = Listing(), set(), dict[str, str]()
    for image in images:
        real = os.path.realpath(image.path)
        if image.name in names:
            listing.skipped.append(Skipped(image.name, "listed twice"))
        elif real in files and Path(real).is_file():
            listing.skipped.append(Skipped(image.name, f"the same file as {files[real]!r}"))
        else:
            names.add(image.name)
            files.setdefault(real, image.name)
            listing.images.append(image)
    return listing


def list_images(root: str | os.PathLike, out: str | os.PathLike | None = None) -> Listing:
    """The images of ``root`` (an ``ImageFolder`` tree or a ``.txt`` / ``.csv`` list).

    Args:
        root: the folder or list.
        out: the run's output folder: never read as input when it lies under ``root``.

    Raises:
        ~captum_igos.runs.ConfigError: ``root`` is missing, not a folder or list, or names no image.
    """
    root = Path(root)
    if root.is_dir():
        walk = _Walk(root, [os.path.realpath(out)] if out is not None else [])
        walk.folder(root, None)
        listing = walk.listing
        where = f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {str(root)!r} or its folders"
    elif root.is_file() and root.suffix.lower() in (".txt", ".csv"):
        listing = _once(_from_csv(root) if root.suffix.lower() == ".csv" else _from_text(root))
        where = f"no image listed in {str(root)!r}"
    elif root.exists():
        raise ConfigError("root", f"expected an image folder or a .txt/.csv list, got "
                          f"{str(root)!r}")
    else:
        raise ConfigError("root", f"cannot read {str(root)!r}: no such file or folder")
    if not listing.images:
        raise ConfigError("root", where)
    return listing


def list_files(paths: Sequence[str | os.PathLike]) -> Listing:
    """Image files as given (their names as given); the same file twice is taken once.

    A missing or unreadable file is taken all the same: reading it fails, and the run
    lists that failure with its reason.
    """
    if isinstance(paths, (str, os.PathLike)) or not paths:
        raise ConfigError("images", f"expected a list of image files, got {paths!r}")
    listing = _once([SourceImage(Path(path), os.fspath(path)) for path in paths])
    names = [_short(Path(image.name).name or "_") for image in listing.images]
    shared = {name for name in names if [n.casefold() for n in names].count(name.casefold()) > 1}
    listing.images = [
        SourceImage(image.path, image.name, image.label, name if name not in shared else
                    f"{name}-{hashlib.sha1(os.path.realpath(image.path).encode()).hexdigest()[:8]}")
        for image, name in zip(listing.images, names)]
    return listing
