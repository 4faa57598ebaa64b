"""``captum-igos explain-dataset``: parse the options and call :mod:`captum_igos.dataset`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import Any

from captum_igos.cli.methods import METHODS, positive_int
from captum_igos.cli.parser import add_common, method_list

__all__ = ["add_dataset_command", "dataset_options", "run_command"]

COMMAND = "explain-dataset"


def add_dataset_command(commands: Any) -> argparse.ArgumentParser:
    """Add ``explain-dataset`` to the subcommands ``commands`` (an argparse subparsers)."""
    parser = commands.add_parser(
        COMMAND, help="a whole folder or image list, batched, resumable, under torchrun too",
        description="Explain every image of ROOT with every method, --batch-size images per "
        "call; write OUT/results.csv, OUT/summary.json and OUT/report.html. Reruns skip "
        "finished results. Under 'torchrun --nproc_per_node=K -m captum_igos explain-dataset' "
        "each rank takes its share (NCCL on GPUs, gloo on CPUs).",
    )
    parser.add_argument("root", metavar="ROOT", help="an ImageFolder tree (ROOT/<class>/<image>) "
                        "or a .txt (path [target] per line) / .csv (image[,target] columns) list")
    add_common(parser, images=False, rows_flag="--internal-batch-size")
    for action in parser._actions:
        if action.dest == "target":
            action.metavar = "top1|label|INDEX|NAME"
            action.help = ("class to explain: top1 (default), label (the class folder or the "
                           "list's target column), an index or a class name")
        if action.dest == "model":
            action.help = (f"{action.help}, or module:function returning a LoadedModel")
    parser.add_argument("--methods", type=method_list, default=["igos"], metavar="A,B,...",
                        help=f"comma-separated methods: {', '.join(METHODS)} (default: igos)")
    parser.add_argument("--batch-size", dest="images_per_call", type=positive_int, default=8,
                        metavar="N", help="images per call of each method (default %(default)s)")
    return parser


def dataset_options(root: str | os.PathLike, methods: Sequence[str],
                    values: Mapping[str, Any]) -> argparse.Namespace:
    """The options of ``explain-dataset ROOT --methods ...`` with ``values`` (by ``dest``)."""
    from captum_igos.cli.parser import build_parser

    names = ",".join(methods) if not isinstance(methods, str) else methods
    namespace = build_parser().parse_args([COMMAND, str(root), "--methods", names])
    unknown = sorted(set(values) - set(vars(namespace)))
    if unknown:
        raise TypeError(f"expected explain-dataset options ({', '.join(sorted(vars(namespace)))}), "
                        f"got {', '.join(unknown)}")
    for key, value in values.items():
        setattr(namespace, key, value)
    return namespace


def run_command(options: argparse.Namespace) -> int:
    """Run ``explain-dataset``; returns the exit status (1 if any image or method failed)."""
    from captum_igos.dataset import run_dataset

    return run_dataset(options, options.methods).status
