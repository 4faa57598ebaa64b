"""The ``captum-igos`` argument parser, built from :class:`~captum_igos.runs.RunConfig`.

Every command has the same options, one per :class:`~captum_igos.runs.RunConfig` field
(flag, help and choices come from the field; values are checked by the config, never
here). Options not given take the command's defaults (:data:`COMMAND_DEFAULTS`, else
the config's). Abbreviations are refused (``allow_abbrev=False``): an option that used
to be accepted as an abbreviation is a one-line error that says what to write.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from captum_igos.cli.errors import PROG
from captum_igos.runs.config import DEFAULT_OUT, RunConfig, options
from captum_igos.runs.methods import METHODS, REGISTRY

__all__ = ["COMMAND_DEFAULTS", "DEFAULT_OUT", "DEMO_METHODS", "DEMO_SETTINGS", "PROG",
           "build_parser", "config_from", "flag_of"]


DEMO_METHODS = ("igos", "igos++", "rsi-gradcam", "gradcam", "ig", "occlusion")
#: The demo's light settings (the papers': --optimizer line_search --iterations 15
#: --igos-steps 20; Captum-style defaults: --rsi-steps 50 --ig-steps 50 --metric-steps 50).
DEMO_SETTINGS = {
    "optimizer": "nag", "iterations": 5, "igos_steps": 5, "rsi_steps": 10, "ig_steps": 10,
    "occlusion_window": 56, "occlusion_stride": 28, "metric_steps": 16,
}
#: Settings each command changes from the defaults of :class:`~captum_igos.runs.RunConfig`.
COMMAND_DEFAULTS: dict[str, dict[str, Any]] = {
    "explain": {"save_maps": True},
    "compare": {"methods": DEMO_METHODS, "compare": True},
    "demo": {"methods": DEMO_METHODS, "compare": True, **DEMO_SETTINGS},
    "explain-dataset": {},
}
_DESCRIPTIONS = {
    "explain": (
        "heatmaps and deletion/insertion scores per image and method",
        "Explain each IMAGE with each method, --batch-size images per call. Writes "
        "OUT/results.csv (one row per image and method), OUT/summary.json, OUT/report.html, "
        "and per result an overlay (pictures/), the raw map (maps/, .npy) and its record "
        "(records/). A rerun does only what is missing."),
    "compare": (
        "several methods on the same image(s), one side-by-side figure each",
        "explain with every method, then draw OUT/compare/<image>.png: the methods side by "
        "side, titled with their deletion and insertion AUCs (also in report.html)."),
    "demo": (
        "compare on the bundled photo with the offline model (no arguments)",
        "compare on matplotlib's grace_hopper.jpg with efficientnet_lite0 and light "
        "settings that finish in about a minute on 2 CPU cores: "
        + ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in DEMO_SETTINGS.items())
        + f"; methods {', '.join(DEMO_METHODS)}. Any option below overrides them."),
    "explain-dataset": (
        "a whole folder or image list, batched, resumable, under torchrun too",
        "Explain every image of ROOT with every method, --batch-size images per call; write "
        "OUT/results.csv, OUT/summary.json and OUT/report.html. Reruns do only what is "
        "missing. Under 'torchrun --nproc_per_node=K -m captum_igos explain-dataset' each rank "
        "takes its share (NCCL on GPUs, gloo on CPUs)."),
}


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviations, whose usage errors are one line, exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {_what_to_write(self, message)} "
                     f"(see {self.prog} --help)\n")


def _what_to_write(parser: argparse.ArgumentParser, message: str) -> str:
    """An unknown option that abbreviates known ones (accepted before): say what to write."""
    if not message.startswith("unrecognized arguments: "):
        return message
    parsers = [parser]
    for action in parser._actions:  # the commands' own options, for the top-level parser
        if isinstance(action, argparse._SubParsersAction):
            parsers += list(action.choices.values())
    known = sorted({flag for each in parsers for action in each._actions
                    for flag in action.option_strings})
    for word in message.split(": ", 1)[1].split():
        given = word.split("=", 1)[0]
        matches = [flag for flag in known if given.startswith("--") and flag.startswith(given)]
        if matches:
            return (f"{given} is not an option (abbreviations are not accepted); write "
                    f"{' or '.join(matches)}")
    return message


def _methods(text: str) -> list[str]:
    """``--methods A,B`` -> ``["a", "b"]`` (the config checks the names)."""
    return [name.strip().lower() for name in text.split(",") if name.strip()]


def flag_of(setting: str) -> str:
    """The command-line spelling of a :class:`~captum_igos.runs.RunConfig` setting
    (``metric_steps`` -> ``--metric-steps``; ``root`` -> ``ROOT``)."""
    for name, flag, _ in options():
        if name == setting:
            return flag.flag
    return {"root": "ROOT", "images": "IMAGE"}.get(setting, setting)


def _add_settings(parser: argparse.ArgumentParser, command: str) -> None:
    defaults = {name: default for name, _, default in options()}
    defaults.update(COMMAND_DEFAULTS[command])
    group = parser.add_argument_group("run options")
    methods_group = parser.add_argument_group("method options")
    for name, flag, _ in options():
        default = defaults[name]
        shown = (",".join(default) if isinstance(default, tuple)
                 else ("on" if default else "off") if isinstance(default, bool) else default)
        text = flag.help.format(default=shown, methods=", ".join(METHODS))
        where = methods_group if ":" in flag.help.split(" ", 1)[0] else group
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": text}
        if name == "methods":
            kwargs.update(action="append", type=_methods, metavar=flag.metavar)
        elif isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction if name == "save_maps" else (
                "store_true")
        elif flag.choices:
            kwargs["choices"] = flag.choices
        else:
            kwargs.update(metavar=flag.metavar, type=int if isinstance(default, int) or name in (
                "internal_batch_size",) else str)
        where.add_argument(flag.flag, *flag.aliases, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The ``captum-igos`` argument parser (every command)."""
    listed = "\n".join(f"  {name:<12} {method.help}" for name, method in REGISTRY.items())
    parser = _Parser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Explain image classifiers with I-GOS, iGOS++, RSI-Grad-CAM and Captum's "
        "methods; score each explanation with deletion/insertion curves. Every command runs "
        "the same engine (captum_igos.runs) and writes results.csv, summary.json and "
        "report.html; every option means the same in every command.",
        epilog=f"methods:\n{listed}\n\nRun '{PROG} COMMAND --help' for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for command, (summary, description) in _DESCRIPTIONS.items():
        sub = commands.add_parser(command, help=summary, description=description)
        if command == "explain-dataset":
            sub.add_argument("root", metavar="ROOT", help="an ImageFolder tree "
                             "(ROOT/<class>/<image>) or a .txt (path [target] per line) / .csv "
                             "(image[,target] columns) list; --out is never read from it")
        elif command != "demo":
            sub.add_argument("images", nargs="+", metavar="IMAGE",
                             help="image files (JPEG, PNG, ...); any size, resized by the model")
        _add_settings(sub, command)
    return parser


def config_from(namespace: argparse.Namespace) -> RunConfig:
    """The :class:`~captum_igos.runs.RunConfig` of parsed arguments: the command's
    defaults, then what was given (``--methods`` repeated or comma-separated, in order,
    each once)."""
    given = {name: value for name, value in vars(namespace).items()
             if name not in ("command", "root", "images")}
    if "methods" in given:
        given["methods"] = [name for group in given["methods"] for name in group]
    values = {**COMMAND_DEFAULTS[namespace.command], **given, "command": namespace.command}
    return RunConfig.from_options(values)


def parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, RunConfig]:
    """Parse ``argv`` and build the config; a value the config refuses is a usage error
    (one line naming the flag, exit status 2)."""
    from captum_igos.runs.config import ConfigError

    parser = build_parser()
    namespace = parser.parse_args(argv)
    try:
        return namespace, config_from(namespace)
    except ConfigError as error:
        sub = parser._subparsers._group_actions[0].choices[namespace.command]  # type: ignore
        sub.error(f"argument {flag_of(error.setting)}: {error.message}")
        raise  # unreachable: error() exits
