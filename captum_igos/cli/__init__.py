"""``captum-igos``: the command line. It parses arguments and prints; the work is
:mod:`captum_igos.runs`, the one run engine, which never imports this package.

Four commands, one engine, one set of options::

    captum-igos explain IMAGE... --methods igos[,gradcam,...] [options]
    captum-igos compare IMAGE... --methods igos,igos++,rsi-gradcam,gradcam [options]
    captum-igos demo [--out DIR]
    captum-igos explain-dataset ROOT --methods igos,gradcam --out OUT   (torchrun too)

Each writes ``OUT/results.csv``, ``OUT/summary.json`` and ``OUT/report.html`` (see
:mod:`captum_igos.runs`); ``compare`` and ``demo`` add ``OUT/compare/<image>.png``. A
rerun does only what is missing. A bad image is reported and the others go on; the exit
status is 1 if anything failed, 2 for a usage error, 130 after Ctrl-C (one line; every
finished result is kept).

Layout: :mod:`~captum_igos.cli.parser` (arguments -> :class:`~captum_igos.runs.RunConfig`)
and this module (run, print).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from captum_igos.cli.errors import PROG
from captum_igos.runs.interrupts import held_interrupts

if TYPE_CHECKING:  # the static view of the lazy names below
    from captum_igos.cli.parser import DEFAULT_OUT, DEMO_METHODS, DEMO_SETTINGS, build_parser
    from captum_igos.runs.methods import METHODS, REGISTRY

__all__ = [
    "DEFAULT_OUT",
    "DEMO_METHODS",
    "DEMO_SETTINGS",
    "METHODS",
    "PROG",
    "REGISTRY",
    "build_parser",
    "main",
]

#: Names imported on first use: nothing heavy (PyTorch) is imported before ``main`` runs.
_HOMES = {
    "METHODS": "captum_igos.runs.methods", "REGISTRY": "captum_igos.runs.methods",
    "DEFAULT_OUT": "captum_igos.cli.parser", "DEMO_METHODS": "captum_igos.cli.parser",
    "DEMO_SETTINGS": "captum_igos.cli.parser", "build_parser": "captum_igos.cli.parser",
}
#: Lines of each kind printed at the end of a run (the rest is in summary.json).
SHOWN = 5

INTERRUPTED = f"{PROG}: interrupted; finished results are kept, rerun to resume"


def __getattr__(name: str) -> Any:
    import importlib

    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'captum_igos.cli' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


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
        from captum_igos.cli.parser import flag_of, parse
        from captum_igos.runs import engine
        from captum_igos.runs.config import ConfigError, RunError

    try:
        namespace, config = parse(argv)
    except SystemExit as stop:  # --help, or a usage error already printed on one line
        return stop.code if isinstance(stop.code, int) else 2
    if namespace.command == "explain-dataset":
        source: Any = namespace.root
    elif namespace.command == "demo":
        with held_interrupts():
            from captum_igos.models import sample_image_path

        source = [str(sample_image_path())]
    else:
        source = namespace.images
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # empty maps are listed at the end
            outcome = engine.run(config, source)
    except ConfigError as error:
        print(f"{PROG}: error: {flag_of(error.setting)}: {error.message}", file=sys.stderr)
        return 1
    except (RunError, OSError) as error:  # OSError: e.g. a disk full while writing failures
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    if outcome.summary:
        _print_outcome(outcome.summary, config)
    return outcome.status


def _print_some(kind: str, lines: list[str]) -> None:
    for line in lines[:SHOWN]:
        print(f"{PROG}: {kind}: {line}", file=sys.stderr)
    if len(lines) > SHOWN:
        print(f"{PROG}: ... and {len(lines) - SHOWN} more, listed in summary.json",
              file=sys.stderr)


def _print_outcome(summary: dict, config: Any) -> None:
    """The end of a run on stderr: failures, empty maps, entries left out, one total."""
    _print_some("failed", [f"{f['image']}{f' [{m}]' if (m := f.get('method')) else ''}: "
                           f"{f['error']}" for f in summary["failures"]])
    _print_some("warning", [f"{e['image']} [{e['method']}]: empty map"
                            f"{': ' + e['warning'] if e.get('warning') else ''}"
                            for e in summary["empty_maps"]])
    _print_some("skipped", [f"{s['entry']}: {s['reason']}" for s in summary["skipped"]])
    out = config.out.rstrip("/")
    print(f"{PROG}: {summary['results']} result(s) for {summary['images']} image(s), "
          f"{summary['images_this_run']} image(s) explained now, "
          f"{len(summary['failures'])} failure(s); {out}/report.html", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
