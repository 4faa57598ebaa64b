"""The ``captum-igos`` argument parser; method options come from the registry."""

from __future__ import annotations

import argparse

from captum_igos.cli.errors import PROG
from captum_igos.cli.methods import METHODS, REGISTRY, all_options, positive_int

__all__ = ["DEFAULT_OUT", "DEMO_METHODS", "DEMO_SETTINGS", "PROG", "build_parser"]

DEFAULT_OUT = "captum-igos-out"
DEMO_METHODS = ("igos", "igos++", "rsi-gradcam", "gradcam", "ig", "occlusion")
#: The demo's light settings (the papers': --optimizer line_search --iterations 15
#: --igos-steps 20; Captum-style defaults: --rsi-steps 50 --ig-steps 50 --metric-steps 50).
DEMO_SETTINGS = {
    "optimizer": "nag", "iterations": 5, "igos_steps": 5, "rsi_steps": 10, "ig_steps": 10,
    "occlusion_window": 56, "occlusion_stride": 28, "metric_steps": 16,
}


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def method_list(text: str) -> list[str]:
    """``argparse`` type: comma-separated registry names."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown method {', '.join(map(repr, unknown)) or repr(text)}; "
            f"choose from {', '.join(METHODS)}"
        )
    return names


def add_common(parser: argparse.ArgumentParser, *, images: bool = True,
               rows_flag: str = "--batch-size") -> None:
    """The options every command shares (model, target, output, method options).

    ``rows_flag`` names the option of ``internal_batch_size`` (dest ``batch_size``).
    """
    if images:
        parser.add_argument("images", nargs="+", metavar="IMAGE",
                            help="image files (JPEG, PNG, ...); any size, resized by the model")
    parser.add_argument("--model", default="efficientnet_lite0", metavar="NAME",
                        help="efficientnet_lite0 (default; offline), a torchvision model "
                        "(e.g. resnet50) or a timm model, whose weights must be cached or "
                        "downloadable")
    parser.add_argument("--layer", metavar="NAME",
                        help="layer for rsi-gradcam and gradcam, a dotted module name (default: "
                        "the model's last spatial layer, bn2 for efficientnet_lite0)")
    parser.add_argument("--target", default="top1", metavar="top1|INDEX|NAME",
                        help="class to explain: top1 (default, the predicted class), an ImageNet "
                        "index 0-999 or a class name such as 'military uniform'")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default: {DEFAULT_OUT}); reruns skip finished work")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to run (default: auto = cuda if available, else cpu)")
    parser.add_argument("--force", action="store_true",
                        help="recompute and overwrite results that already exist")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    group = parser.add_argument_group("method options")
    for option in all_options():
        extra = {"choices": option.choices} if option.choices else {"metavar": option.metavar}
        group.add_argument(option.flag, dest=option.dest, type=option.type or str,
                           default=option.default, help=option.help, **extra)
    group.add_argument("--metric-steps", type=positive_int, default=50, metavar="N",
                       help="deletion/insertion curve segments (default %(default)s; 2N forward "
                       "passes per image and method)")
    group.add_argument(rows_flag, dest="batch_size", type=positive_int, default=None, metavar="N",
                       help="most examples per forward pass (internal_batch_size; default: "
                       "the library's)")
    group.add_argument("--seed", type=int, default=0,
                       help="seed for the igos/igos++ noise and the random map "
                       "(default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The ``captum-igos`` argument parser (``explain``, ``compare``, ``demo``)."""
    methods = "\n".join(f"  {name:<12} {method.help}" for name, method in REGISTRY.items())
    parser = _Parser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Explain image classifiers with I-GOS, iGOS++, RSI-Grad-CAM and Captum's "
        "methods; score each explanation with deletion/insertion curves.",
        epilog=f"methods:\n{methods}\n\nRun '{PROG} COMMAND --help' for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    explain = commands.add_parser(
        "explain", help="heatmaps, raw maps and deletion/insertion curves per image and method",
        description="Write OUT/<image>/<method>.png (overlay), .npy (raw map), _curves.png "
        "(deletion/insertion) and .json per image and method, and OUT/summary.json.",
    )
    add_common(explain)
    explain.add_argument("--method", dest="methods", action="append", type=method_list,
                         metavar="NAME", help=f"method(s), repeatable or comma-separated: "
                         f"{', '.join(METHODS)} (default: igos)")
    compare = commands.add_parser(
        "compare", help="several methods on the same image(s), one side-by-side figure each",
        description="Run explain for every method, then draw OUT/<image>/compare.png: the "
        "methods side by side, titled with their deletion and insertion AUCs.",
    )
    add_common(compare)
    compare.add_argument("--methods", type=method_list, default=None, metavar="A,B,...",
                         help=f"comma-separated methods (default: {','.join(DEMO_METHODS)})")
    demo = commands.add_parser(
        "demo", help="compare on the bundled photo with the offline model (no arguments)",
        description="compare on matplotlib's grace_hopper.jpg with efficientnet_lite0 and "
        "light settings that finish in about a minute on 2 CPU cores: "
        + ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in DEMO_SETTINGS.items())
        + f"; methods {', '.join(DEMO_METHODS)}. Any option below overrides them.",
    )
    add_common(demo, images=False)
    demo.set_defaults(**DEMO_SETTINGS)
    demo.add_argument("--methods", type=method_list, default=None, metavar="A,B,...",
                      help=f"comma-separated methods (default: {','.join(DEMO_METHODS)})")
    from captum_igos.cli.dataset import add_dataset_command

    add_dataset_command(commands)
    return parser
