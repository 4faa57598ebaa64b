"""``captum-igos``: explain images from the command line.

Three commands::

    captum-igos explain IMAGE... --method igos [--method gradcam ...] [options]
    captum-igos compare IMAGE... --methods igos,igos++,rsi-gradcam,gradcam [options]
    captum-igos demo [--out DIR]
    captum-igos explain-dataset ROOT --methods igos,gradcam --out OUT   (torchrun too)

For every image and method, ``OUT/<image>/`` receives ``<method>.png`` (heatmap over the
image), ``<method>.npy`` (the raw map, float32 ``(H, W)`` at the model's input size, as
the metrics rank it), ``<method>_curves.png`` (deletion/insertion curves) and
``<method>.json`` (class, probability, AUCs, seconds, settings, curves); ``compare`` adds
``compare.png``; ``OUT/summary.json`` summarises the run (rewritten after every result,
``status`` running, finished or interrupted). ``<image>`` is the file's stem with every
character but letters, digits, ``_`` and ``-`` made ``_``, plus a short hash where two
images share one (:func:`~captum_igos.cli.files.image_keys`). Ctrl-C at any moment exits
with status 130 and one line. Files are written to a
temporary name and renamed, so an interrupted run never leaves a half-written file; a
rerun skips every image/method whose results exist with the same settings. A bad image
is reported and the others go on; the exit status is 1 if anything failed, 2 for a
usage error.

Layout: :mod:`~captum_igos.cli.methods` (the method registry, shared with the
benchmarks), :mod:`~captum_igos.cli.parser` (arguments), :mod:`~captum_igos.cli.explain`
(compute a result, then write it), :mod:`~captum_igos.cli.files` (atomic writes, folder
names), :mod:`~captum_igos.cli.interrupts` (Ctrl-C held while a result is committed).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from captum_igos.cli.errors import PROG, CLIError
from captum_igos.cli.interrupts import held_interrupts

if TYPE_CHECKING:  # the static view of the lazy names below
    from captum_igos.cli.explain import attribute
    from captum_igos.cli.methods import METHODS, REGISTRY
    from captum_igos.cli.parser import DEFAULT_OUT, DEMO_METHODS, DEMO_SETTINGS, build_parser

__all__ = [
    "CLIError",
    "DEFAULT_OUT",
    "DEMO_METHODS",
    "DEMO_SETTINGS",
    "METHODS",
    "PROG",
    "REGISTRY",
    "attribute",
    "build_parser",
    "main",
]

#: Names imported on first use: nothing heavy (PyTorch) is imported before ``main`` runs.
_HOMES = {
    "attribute": "explain", "execute": "explain", "METHODS": "methods", "REGISTRY": "methods",
    "DEFAULT_OUT": "parser", "DEMO_METHODS": "parser", "DEMO_SETTINGS": "parser",
    "build_parser": "parser",
}

INTERRUPTED = f"{PROG}: interrupted; finished results are kept, rerun to resume"


def __getattr__(name: str) -> Any:
    import importlib

    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'captum_igos.cli' has no attribute {name!r}")
    return getattr(importlib.import_module(f"captum_igos.cli.{home}"), name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``captum-igos`` command; returns the exit status.

    Ctrl-C at any point from here on (PyTorch's import, the model's construction, an
    attribution, a write) exits with status 130 and one line; every result written so far
    is kept and listed in ``summary.json``.
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:
        with held_interrupts(reraise=False):  # a second Ctrl-C cannot interrupt the message
            print(INTERRUPTED, file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    with held_interrupts():  # PyTorch's C++ start-up aborts on a Ctrl-C inside it
        from captum_igos.cli.explain import execute
        from captum_igos.cli.parser import DEMO_METHODS, build_parser

    try:
        options = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already printed on one line
        return stop.code if isinstance(stop.code, int) else 2
    if options.command == "explain-dataset":
        methods, images = options.methods, []
    elif options.command == "explain":
        methods = [m for group in (options.methods or [["igos"]]) for m in group]
        images = options.images
    else:
        methods = options.methods or list(DEMO_METHODS)
        if options.command == "demo":
            with held_interrupts():
                from captum_igos.models import sample_image_path

            images = [str(sample_image_path())]
        else:
            images = options.images
    methods = list(dict.fromkeys(methods))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if options.command == "explain-dataset":
                with held_interrupts():
                    from captum_igos.cli.dataset import run_command
                    from captum_igos.dataset import run_dataset  # noqa: F401  (its imports)

                return run_command(options)
            return execute(options, methods, images, compare=options.command != "explain")
    except CLIError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
