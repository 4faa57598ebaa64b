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
``compare.png``; ``OUT/summary.json`` summarises the run. Files are written to a
temporary name and renamed, so an interrupted run never leaves a half-written file; a
rerun skips every image/method whose results exist with the same settings. A bad image
is reported and the others go on; the exit status is 1 if anything failed, 2 for a
usage error.

Layout: :mod:`~captum_igos.cli.methods` (the method registry, shared with the
benchmarks), :mod:`~captum_igos.cli.parser` (arguments), :mod:`~captum_igos.cli.explain`
(compute a result, then write it), :mod:`~captum_igos.cli.files` (atomic writes).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from captum_igos.cli.errors import CLIError
from captum_igos.cli.explain import attribute, execute
from captum_igos.cli.methods import METHODS, REGISTRY
from captum_igos.cli.parser import DEFAULT_OUT, DEMO_METHODS, DEMO_SETTINGS, PROG, build_parser

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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``captum-igos`` command; returns the exit status."""
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
            from captum_igos.models import sample_image_path

            images = [str(sample_image_path())]
        else:
            images = options.images
    methods = list(dict.fromkeys(methods))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if options.command == "explain-dataset":
                from captum_igos.cli.dataset import run_command

                return run_command(options)
            return execute(options, methods, images, compare=options.command != "explain")
    except CLIError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished results are kept, rerun to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
