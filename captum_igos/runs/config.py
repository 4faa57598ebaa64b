"""The settings of a run: one :class:`~captum_igos.runs.RunConfig`, built once by every
command and by the Python API.

Every field is one setting with one meaning in every command (``explain``, ``compare``,
``demo``, ``explain-dataset``) and in :func:`~captum_igos.runs.explain_dataset`; its
default and its check live here and nowhere else. The command line builds its options
from :func:`options` (flag, help and type per field) and never checks a value itself.

Checks run when the config is built, before any model is loaded or image read: a bad
value raises :class:`~captum_igos.runs.ConfigError` (a ``ValueError``) or ``TypeError``
whose message names the setting and says what was expected and what was given.

Example:
    >>> RunConfig(methods=["gradcam"], metric_steps=8).metric_steps
    8
    >>> RunConfig(methods=[])
    Traceback (most recent call last):
    ...
    captum_igos.runs.config.ConfigError: methods: expected at least one method name ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

__all__ = [
    "AUTOCAST",
    "DEFAULT_MODEL",
    "DEFAULT_OUT",
    "LABEL_RULES",
    "ConfigError",
    "Flag",
    "RunConfig",
    "RunError",
    "options",
]

DEFAULT_OUT = "captum-igos-out"
DEFAULT_MODEL = "efficientnet_lite0"
#: ``--autocast``: the network passes under ``torch.autocast`` in this dtype, or not at all.
AUTOCAST = ("none", "float16", "bfloat16")  # the names of _utils.precision.AUTOCAST_DTYPES
#: ``--label-rule``: how ``--target label`` maps a folder or list target to a class.
LABEL_RULES = ("classes", "sorted")
DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("line_search", "nag")
OBJECTIVES = ("normalized", "paper")


def _igos_default(argument: str) -> Any:
    """The default of ``IGOS.attribute``'s ``argument``: the library stays its one home."""
    import inspect

    from captum_igos import IGOS

    return inspect.signature(IGOS.attribute).parameters[argument].default


MASK_ITERATIONS, MASK_STEPS = _igos_default("iterations"), _igos_default("n_steps")


class ConfigError(ValueError):
    """A setting that cannot be used; ``setting`` names it (``metric_steps``, ``root``, ...)."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting, self.message = setting, message


class RunError(Exception):
    """A run that cannot go on for a reason outside its settings (an output folder that
    cannot be written, ranks that disagree); the command line prints it in one line."""


@dataclass(frozen=True)
class Flag:
    """How a :class:`~captum_igos.runs.RunConfig` field appears on the command line."""

    flag: str
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()


def _flag(default: Any, flag: str, help: str, metavar: str | None = None,
          choices: tuple[str, ...] | None = None, aliases: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"flag": Flag(flag, help, metavar, choices, aliases)})


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _positive_int(name: str, value: Any, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected a positive integer{' or None' if optional else ''}, "
                        f"got {_describe(value)}")
    if value < 1:
        raise ConfigError(name, f"expected a positive integer, got {value}")


def _choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(name, f"expected one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run (see the module docstring); defaults are the commands'."""

    methods: tuple[str, ...] = _flag(
        ("igos",), "--methods", "comma-separated methods, or the flag repeated: {methods} "
        "(default: {default})", "A,B,...", aliases=("--method",))
    out: str = _flag(DEFAULT_OUT, "--out", "output folder (default: {default}); a rerun does "
                     "only what is missing there", "DIR")
    model: Any = _flag(
        DEFAULT_MODEL, "--model", "efficientnet_lite0 (default; offline), a torchvision or timm "
        "model whose weights are cached or downloadable, or module:factory, a function called "
        "with the device that returns a captum_igos.models.LoadedModel", "NAME|module:factory")
    layer: str | None = _flag(
        None, "--layer", "layer of rsi-gradcam and gradcam, a dotted module name (default: the "
        "model's last spatial layer, bn2 for efficientnet_lite0)", "NAME")
    target: str | int = _flag(
        "top1", "--target", "class to explain: top1 (default, the predicted class), label (each "
        "image's class folder or list target), or one class for every image: an index, a class "
        "name or an ImageNet WordNet id (n02391049)", "top1|label|CLASS")
    label_rule: str = _flag(
        "classes", "--label-rule", "how --target label reads a label: classes (default) takes a "
        "class index, a class name or an ImageNet WordNet id and refuses anything else; sorted "
        "takes the label's position among the sorted labels, ImageFolder's rule, only right "
        "when the folders are the model's classes in order", choices=LABEL_RULES)
    batch_size: int = _flag(8, "--batch-size", "images per call of each method and of the "
                            "metric (default {default})", "N")
    internal_batch_size: int | None = _flag(
        None, "--internal-batch-size", "most rows per forward pass inside a call (Captum's "
        "internal_batch_size; default: the library's)", "N")
    metric_steps: int = _flag(50, "--metric-steps", "deletion/insertion curve segments "
                              "(default {default}; 2N forward passes per image and method)", "N")
    autocast: str = _flag(
        "none", "--autocast", "run the network passes under torch.autocast in this precision "
        "(masks, objectives and sums stay float32; default {default})", choices=AUTOCAST)
    device: str = _flag("auto", "--device", "where to run (default auto: cuda if available, "
                        "else cpu; under torchrun one GPU per rank)", choices=DEVICES)
    seed: int = _flag(0, "--seed", "seed of the igos/igos++ noise and of the random map "
                      "(default {default})", "N")
    save_maps: bool = _flag(False, "--save-maps", "also store each raw map as float32 .npy "
                            "(H, W) at the model's input size, as the metric ranks it "
                            "(default {default})")
    force: bool = _flag(False, "--force", "recompute results that already exist")
    quiet: bool = _flag(False, "--quiet", "no progress bar")
    mask_size: int = _flag(_igos_default("mask_size"), "--mask-size", "igos/igos++: mask "
                           "resolution N x N (default {default})", "N")
    iterations: int = _flag(MASK_ITERATIONS, "--iterations", "igos/igos++: optimisation "
                            "iterations (default {default}; the papers use 15)", "N")
    igos_steps: int = _flag(MASK_STEPS, "--igos-steps", "igos/igos++: integration steps per "
                            "iteration (default {default}; the papers use 20)", "S")
    optimizer: str = _flag(
        "line_search", "--optimizer", "igos/igos++: backtracking Armijo line search (the "
        "papers') or Nesterov steps with a fixed step size (default {default})",
        choices=OPTIMIZERS)
    objective: str = _flag(
        "normalized", "--objective", "igos/igos++: score term; normalized divides it by the "
        "clean image's score so every target gets a map, paper is the papers' (default "
        "{default})", choices=OBJECTIVES)
    rsi_steps: int = _flag(50, "--rsi-steps", "rsi-gradcam: path intervals n (default "
                           "{default})", "N")
    ig_steps: int = _flag(50, "--ig-steps", "ig: integration steps (default {default})", "N")
    occlusion_window: int = _flag(32, "--occlusion-window", "occlusion: square patch side in "
                                  "pixels (default {default})", "PX")
    occlusion_stride: int = _flag(16, "--occlusion-stride", "occlusion: patch stride in pixels "
                                  "(default {default})", "PX")
    #: Draw ``compare/<image>.png`` (the methods side by side; implies ``save_maps``);
    #: ``compare`` and ``demo`` set it.
    compare: bool = False
    #: The command (or ``"python"``) recorded in ``summary.json``.
    command: str = "python"

    def __post_init__(self) -> None:
        from captum_igos.runs.methods import METHODS

        methods = self.methods
        if isinstance(methods, str) or not isinstance(methods, Sequence) or not all(
                isinstance(name, str) for name in methods):
            raise TypeError(f"methods: expected a list of method names, got "
                            f"{_describe(methods)}")
        if not methods:
            raise ConfigError("methods", f"expected at least one method name "
                              f"({', '.join(METHODS)}), got none")
        unknown = [name for name in methods if name not in METHODS]
        if unknown:
            raise ConfigError("methods", f"expected method names from {', '.join(METHODS)}, "
                              f"got unknown {', '.join(map(repr, unknown))}")
        object.__setattr__(self, "methods", tuple(dict.fromkeys(methods)))
        if not isinstance(self.out, (str, os.PathLike)):
            raise TypeError(f"out: expected a folder path, got {_describe(self.out)}")
        object.__setattr__(self, "out", os.fspath(self.out))
        if isinstance(self.target, bool) or not isinstance(self.target, (str, int)):
            raise TypeError(f"target: expected 'top1', 'label', a class index or a class name, "
                            f"got {_describe(self.target)}")
        if isinstance(self.target, str) and not self.target.strip():
            raise ConfigError("target", "expected 'top1', 'label', a class index or a class "
                              "name, got ''")
        if self.layer is not None and not isinstance(self.layer, str):
            raise TypeError(f"layer: expected a dotted module name, got {_describe(self.layer)}")
        for name in ("batch_size", "metric_steps", "mask_size", "iterations", "igos_steps",
                     "rsi_steps", "ig_steps", "occlusion_window", "occlusion_stride"):
            _positive_int(name, getattr(self, name))
        _positive_int("internal_batch_size", self.internal_batch_size, optional=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed: expected an integer, got {_describe(self.seed)}")
        for name, choices in (("label_rule", LABEL_RULES), ("autocast", AUTOCAST),
                              ("device", DEVICES), ("optimizer", OPTIMIZERS),
                              ("objective", OBJECTIVES)):
            _choice(name, getattr(self, name), choices)
        for name in ("save_maps", "force", "quiet", "compare"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}: expected True or False, got "
                                f"{_describe(getattr(self, name))}")
        if self.compare:  # the comparison figures are drawn from the stored maps
            object.__setattr__(self, "save_maps", True)

    @classmethod
    def from_options(cls, values: Mapping[str, Any]) -> RunConfig:
        """A config from settings by name; an unknown name is a ``TypeError`` naming it."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"expected settings of RunConfig ({', '.join(sorted(known))}), got "
                            f"unknown {', '.join(unknown)}")
        return cls(**values)

    @property
    def target_choice(self) -> str:
        """``"top1"``, ``"label"`` or the fixed class as given (stripped)."""
        text = str(self.target).strip()
        return text.lower() if text.lower() in ("top1", "label") else text


def options() -> Iterator[tuple[str, Flag, Any]]:
    """``(name, flag, default)`` of every :class:`~captum_igos.runs.RunConfig` field the
    command line sets."""
    for item in fields(RunConfig):
        flag = item.metadata.get("flag")
        if flag is not None:
            default = item.default if item.default is not MISSING else None
            yield item.name, flag, default
