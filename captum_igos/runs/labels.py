"""Which class each image is explained for: ``--target`` and ``--label-rule``.

A class is read from text (``--target CLASS``, a class folder, a list's target column)
by one rule, recorded with every result (``label_rule``):

- ``index``: a class index of the model (``340``);
- ``name``: one of the model's class names, ignoring case (``zebra``); a name two classes
  share (ImageNet's two ``crane``) is refused, use the index or the WordNet id;
- ``wordnet``: an ImageNet WordNet id (``n02391049`` is zebra, 340), for models whose
  classes are ImageNet-1k's, through the synset table timm ships
  (``timm.data.ImageNetInfo``), never by sorted position;
- ``sorted``: ``--label-rule sorted`` only: the label's position among the sorted labels
  (``ImageFolder.class_to_idx``), right only for a tree whose folders are the model's
  classes in order.

With the default rule (``classes``) a label that is none of the first three stops the
run before any image is explained, with one line naming every such label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from captum_igos.runs.config import ConfigError

__all__ = ["TargetClass", "fixed_class", "label_classes", "read_class"]

_WORDNET = re.compile(r"^n\d{8}$")


class TargetClass(NamedTuple):
    """A class index and the rule that read it (``index``, ``name``, ``wordnet``, ``sorted``)."""

    class_index: int
    rule: str


@lru_cache(maxsize=1)
def _imagenet() -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """ImageNet-1k's class names (torchvision) and WordNet ids in class order (timm)."""
    from captum_igos.models import imagenet_class_names

    try:
        from timm.data import ImageNetInfo
    except ImportError:  # the models extra is not installed
        return imagenet_class_names(), None
    return imagenet_class_names(), tuple(ImageNetInfo().label_names())


def _wordnet_ids(loaded: Any) -> tuple[str, ...] | None:
    names, ids = _imagenet()
    return ids if tuple(loaded.class_names) == names else None


def read_class(text: str | int, loaded: Any) -> TargetClass | str:
    """The class ``text`` names for model ``loaded``, or why it names none (a string)."""
    count = len(loaded.class_names)
    value = str(text).strip()
    if isinstance(text, int) or value.isdigit():
        index = int(value)
        return TargetClass(index, "index") if index < count else (
            f"{value!r} (an index beyond the model's {count} classes)")
    matches = [i for i, name in enumerate(loaded.class_names) if name.lower() == value.lower()]
    if len(matches) == 1:
        return TargetClass(matches[0], "name")
    if matches:
        return (f"{value!r} (the name of classes {', '.join(map(str, matches))}: give the "
                "index or the WordNet id)")
    if _WORDNET.match(value):
        ids = _wordnet_ids(loaded)
        if ids is not None and value in ids:
            return TargetClass(ids.index(value), "wordnet")
        if ids is None and count == 1000 and _imagenet()[1] is None:
            return f"{value!r} (WordNet ids need timm: pip install 'captum-igos[models]')"
    return repr(value)


def fixed_class(target: str | int, loaded: Any) -> TargetClass:
    """The one class of ``--target CLASS`` (index, name or WordNet id)."""
    found = read_class(target, loaded)
    if isinstance(found, str):
        raise ConfigError("target", f"expected top1, label, a class index in [0, "
                          f"{len(loaded.class_names) - 1}], a class name or an ImageNet "
                          f"WordNet id of model {loaded.name!r}, got {found}")
    return found


def label_classes(labels: Sequence[str], loaded: Any, rule: str = "classes"
                  ) -> dict[str, TargetClass]:
    """The class of each distinct label under ``rule`` (``classes`` or ``sorted``).

    Raises:
        ~captum_igos.runs.ConfigError: under ``classes``, labels that are not classes of the model
            (all of them named); under ``sorted``, more labels than the model has classes.
    """
    distinct = sorted(set(labels))
    count = len(loaded.class_names)
    if rule == "sorted":
        if len(distinct) > count:
            raise ConfigError("target", f"label with --label-rule sorted: expected at most "
                              f"{count} labels for model {loaded.name!r}, got {len(distinct)}")
        return {label: TargetClass(index, "sorted") for index, label in enumerate(distinct)}
    found = {label: read_class(label, loaded) for label in distinct}
    wrong = [why for why in found.values() if isinstance(why, str)]
    if wrong:
        shown = ", ".join(wrong[:10]) + (f" and {len(wrong) - 10} more" if len(wrong) > 10 else "")
        raise ConfigError("target", f"label: expected each label (class folder or list target) "
                          f"to be a class index, a class name or an ImageNet WordNet id of "
                          f"model {loaded.name!r}, got {len(wrong)} that are not: {shown} "
                          "(--label-rule sorted reads them by sorted position, only right "
                          "when they are the model's classes in order)")
    return {label: value for label, value in found.items() if not isinstance(value, str)}
