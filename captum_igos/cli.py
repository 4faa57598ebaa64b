"""``captum-igos``: explain images from the command line.

Three commands::

    captum-igos explain IMAGE... --method igos [--method gradcam ...] [options]
    captum-igos compare IMAGE... --methods igos,igos++,rsi-gradcam,gradcam [options]
    captum-igos demo [--out DIR]

For every image and method, ``OUT/<image>/`` receives ``<method>.png`` (heatmap over the
image), ``<method>.npy`` (the raw map, float32 ``(H, W)`` at the model's input size, as
the metrics rank it), ``<method>_curves.png`` (deletion/insertion curves) and
``<method>.json`` (class, probability, AUCs, seconds, settings, curves); ``compare`` adds
``compare.png``; ``OUT/summary.json`` summarises the run. Files are written to a
temporary name and renamed, so an interrupted run never leaves a half-written file; a
rerun skips every image/method whose results exist with the same settings. A bad image
is reported and the others go on; the exit status is 1 if anything failed, 2 for a
usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from hashlib import sha1
from pathlib import Path
from typing import Any, Callable

import numpy as np

from captum_igos._core.mask_optimization import DEFAULT_ITERATIONS, DEFAULT_N_STEPS

PROG = "captum-igos"
DEFAULT_OUT = "captum-igos-out"

#: Methods the command line knows, in the order figures show them.
METHODS = ("igos", "igos++", "rsi-gradcam", "gradcam", "ig", "saliency", "occlusion", "random")
METHOD_HELP = {
    "igos": "I-GOS (Qi et al., AAAI 2020): integrated-gradient optimised deletion mask",
    "igos++": "iGOS++ (Khorram et al., CHIL 2021): bilateral deletion+insertion masks",
    "rsi-gradcam": "RSI-Grad-CAM (Lucas et al. 2022): Riemann-Stieltjes integrated Grad-CAM",
    "gradcam": "Captum's LayerGradCam (Selvaraju et al. 2017)",
    "ig": "Captum's IntegratedGradients (zero baseline)",
    "saliency": "Captum's Saliency (absolute input gradient)",
    "occlusion": "Captum's Occlusion (sliding zero patch)",
    "random": "a random low-resolution map: the reference every method should beat",
}
DEMO_METHODS = ("igos", "igos++", "rsi-gradcam", "gradcam", "ig", "occlusion")
#: The demo's light settings (the papers': --optimizer line_search --iterations 15
#: --igos-steps 20; Captum-style defaults: --rsi-steps 50 --ig-steps 50 --metric-steps 50).
DEMO_SETTINGS = {
    "optimizer": "nag", "iterations": 5, "igos_steps": 5, "rsi_steps": 10, "ig_steps": 10,
    "occlusion_window": 56, "occlusion_stride": 28, "metric_steps": 16,
}


class CLIError(Exception):
    """A problem reported as one line on stderr (no traceback)."""


# --------------------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _method_list(text: str) -> list[str]:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown method {', '.join(map(repr, unknown)) or repr(text)}; "
            f"choose from {', '.join(METHODS)}"
        )
    return names


def _add_common(parser: argparse.ArgumentParser, *, images: bool = True) -> None:
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
    group.add_argument("--mask-size", type=_positive_int, default=28, metavar="N",
                       help="igos/igos++: mask resolution N x N (default %(default)s)")
    group.add_argument("--iterations", type=_positive_int, default=DEFAULT_ITERATIONS,
                       metavar="N", help="igos/igos++: optimisation iterations (default "
                       "%(default)s; the papers use 15)")
    group.add_argument("--igos-steps", type=_positive_int, default=DEFAULT_N_STEPS, metavar="S",
                       help="igos/igos++: integration steps per iteration (default %(default)s; "
                       "the papers use 20)")
    group.add_argument("--optimizer", choices=("line_search", "nag"), default="line_search",
                       help="igos/igos++: backtracking Armijo line search (the papers') or "
                       "Nesterov steps with a fixed step size (default %(default)s)")
    group.add_argument("--rsi-steps", type=_positive_int, default=50, metavar="N",
                       help="rsi-gradcam: path intervals n (default %(default)s)")
    group.add_argument("--ig-steps", type=_positive_int, default=50, metavar="N",
                       help="ig: integration steps (default %(default)s)")
    group.add_argument("--occlusion-window", type=_positive_int, default=32, metavar="PX",
                       help="occlusion: square patch side in pixels (default %(default)s)")
    group.add_argument("--occlusion-stride", type=_positive_int, default=16, metavar="PX",
                       help="occlusion: patch stride in pixels (default %(default)s)")
    group.add_argument("--metric-steps", type=_positive_int, default=50, metavar="N",
                       help="deletion/insertion curve segments (default %(default)s; 2N forward "
                       "passes per image and method)")
    group.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                       help="most examples per forward pass (internal_batch_size; default: "
                       "the library's)")
    group.add_argument("--seed", type=int, default=0,
                       help="seed for the igos/igos++ noise and the random map "
                       "(default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The ``captum-igos`` argument parser (``explain``, ``compare``, ``demo``)."""
    methods = "\n".join(f"  {name:<12} {text}" for name, text in METHOD_HELP.items())
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
    _add_common(explain)
    explain.add_argument("--method", dest="methods", action="append", type=_method_list,
                         metavar="NAME", help=f"method(s), repeatable or comma-separated: "
                         f"{', '.join(METHODS)} (default: igos)")
    compare = commands.add_parser(
        "compare", help="several methods on the same image(s), one side-by-side figure each",
        description="Run explain for every method, then draw OUT/<image>/compare.png: the "
        "methods side by side, titled with their deletion and insertion AUCs.",
    )
    _add_common(compare)
    compare.add_argument("--methods", type=_method_list, default=None, metavar="A,B,...",
                         help=f"comma-separated methods (default: {','.join(DEMO_METHODS)})")
    demo = commands.add_parser(
        "demo", help="compare on the bundled photo with the offline model (no arguments)",
        description="compare on matplotlib's grace_hopper.jpg with efficientnet_lite0 and "
        "light settings that finish in about a minute on 2 CPU cores: "
        + ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in DEMO_SETTINGS.items())
        + f"; methods {', '.join(DEMO_METHODS)}. Any option below overrides them.",
    )
    _add_common(demo, images=False)
    demo.set_defaults(**DEMO_SETTINGS)
    demo.add_argument("--methods", type=_method_list, default=None, metavar="A,B,...",
                      help=f"comma-separated methods (default: {','.join(DEMO_METHODS)})")
    return parser


# --------------------------------------------------------------------------- files


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_path(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(path: Path, data: Any) -> None:
    _atomic_path(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def _write_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array)

    _atomic_path(path, write)


def _write_figure(path: Path, fig: Any) -> None:
    from captum_igos.visualization import save_figure

    _atomic_path(path, lambda tmp: save_figure(fig, tmp))


def _prepare_out(out: str) -> Path:
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise CLIError(f"cannot write to output folder {out!r}: {reason}") from None
    return path


def _image_keys(images: Sequence[str]) -> list[str]:
    """A folder name per image: its stem, plus a short hash where two stems collide."""
    stems = [Path(image).stem or "image" for image in images]
    keys = []
    for image, stem in zip(images, stems):
        if stems.count(stem) > 1:
            stem = f"{stem}-{sha1(str(Path(image).resolve()).encode()).hexdigest()[:6]}"
        keys.append(stem)
    return keys


# --------------------------------------------------------------------------- methods


@dataclass
class Context:
    """What every method needs: the loaded model, options and the run's random seed."""

    loaded: Any
    options: argparse.Namespace
    layer: Any
    layer_name: str | None
    settings: dict[str, Any] = field(default_factory=dict)


def _method_settings(name: str, options: argparse.Namespace, layer_name: str | None) -> dict:
    batch = options.batch_size
    if name in ("igos", "igos++"):
        return {"mask_size": options.mask_size, "iterations": options.iterations,
                "n_steps": options.igos_steps,
                "optimizer": options.optimizer, "seed": options.seed,
                "internal_batch_size": batch}
    if name == "rsi-gradcam":
        return {"layer": layer_name, "n_steps": options.rsi_steps, "baselines": "black image",
                "internal_batch_size": batch}
    if name == "gradcam":
        return {"layer": layer_name}
    if name == "ig":
        return {"n_steps": options.ig_steps, "baselines": 0, "internal_batch_size": batch}
    if name == "occlusion":
        return {"window": options.occlusion_window, "stride": options.occlusion_stride,
                "baselines": 0, "perturbations_per_eval": batch or 16}
    if name == "random":
        return {"size": 28, "seed": options.seed}
    return {}


def _mask_class(name: str) -> type:
    import captum_igos

    class_name = {"igos": "IGOS", "igos++": "IGOSPlusPlus"}[name]
    cls = getattr(captum_igos, class_name, None)
    if cls is None:
        raise CLIError(f"method {name!r} is not available in this version of captum-igos")
    return cls


def _require_layer(name: str, context: Context) -> Any:
    if context.layer is None:
        raise CLIError(
            f"method {name!r} needs a convolutional layer and model {context.loaded.name!r} "
            "has no spatial layer; pass --layer NAME"
        )
    return context.layer


def attribute(name: str, context: Context, inputs: Any, target: int, settings: dict) -> Any:
    """The attribution of ``inputs`` (1, 3, H, W) for class ``target`` by method ``name``."""
    import torch
    from captum.attr import IntegratedGradients, LayerGradCam, Occlusion, Saliency

    model = context.loaded.model
    if name in ("igos", "igos++"):
        generator = torch.Generator(device=inputs.device).manual_seed(settings["seed"])
        return _mask_class(name)(model).attribute(
            inputs, target=target, mask_size=settings["mask_size"],
            iterations=settings["iterations"], n_steps=settings["n_steps"],
            optimizer=settings["optimizer"], generator=generator,
            internal_batch_size=settings["internal_batch_size"],
        )
    if name == "rsi-gradcam":
        import captum_igos

        black = context.loaded.batch(torch.zeros(3, *inputs.shape[-2:], dtype=torch.uint8))
        return captum_igos.LayerRSIGradCam(model, _require_layer(name, context)).attribute(
            inputs, target=target, baselines=black.to(inputs.dtype), n_steps=settings["n_steps"],
            internal_batch_size=settings["internal_batch_size"],
        )
    if name == "gradcam":
        return LayerGradCam(model, _require_layer(name, context)).attribute(inputs, target=target)
    if name == "ig":
        return IntegratedGradients(model).attribute(
            inputs, target=target, n_steps=settings["n_steps"],
            internal_batch_size=settings["internal_batch_size"],
        )
    if name == "saliency":
        return Saliency(model).attribute(inputs, target=target, abs=True)
    if name == "occlusion":
        window, stride = settings["window"], settings["stride"]
        return Occlusion(model).attribute(
            inputs, target=target, sliding_window_shapes=(3, window, window),
            strides=(3, stride, stride), perturbations_per_eval=settings["perturbations_per_eval"],
        )
    if name == "random":
        generator = torch.Generator().manual_seed(settings["seed"])
        size = settings["size"]
        return torch.rand(1, 1, size, size, generator=generator).to(inputs)
    raise CLIError(f"unknown method {name!r}")


# --------------------------------------------------------------------------- one image


@dataclass
class Item:
    """One image and method: where its files go and what it produced."""

    image: str
    key: str
    method: str
    folder: Path

    def path(self, suffix: str) -> Path:
        safe = self.method.replace("+", "p")
        return self.folder / f"{safe}{suffix}"

    @property
    def files(self) -> dict[str, Path]:
        return {"overlay": self.path(".png"), "heatmap": self.path(".npy"),
                "curves": self.path("_curves.png"), "record": self.path(".json")}


def _finished_record(item: Item, expected: dict, force: bool) -> dict | None:
    """The stored record when this item is done with the same settings; else ``None``."""
    files = item.files
    if force or not all(path.is_file() for path in files.values()):
        return None
    try:
        record = json.loads(files["record"].read_text())
    except (OSError, ValueError):
        return None
    stored = {key: record.get(key) for key in expected}
    if stored != expected:
        raise CLIError(
            f"{files['record']} exists with other settings ({_difference(stored, expected)}); "
            "pass --force to overwrite it or choose another --out"
        )
    return record


def _difference(stored: dict, expected: dict) -> str:
    changed = [key for key in expected if stored.get(key) != expected.get(key)]
    return ", ".join(f"{key}: {stored.get(key)!r} -> {expected.get(key)!r}" for key in changed)


def resolve_class(loaded: Any, target: str, probabilities: Any) -> int:
    """``top1``, an index or a class name -> class index (one-line error if out of range)."""
    if str(target).strip().lower() == "top1":
        return int(probabilities.argmax())
    try:
        return loaded.class_index(target)
    except (TypeError, ValueError) as error:
        raise CLIError(f"--target: {error}") from None


def run_item(item: Item, context: Context, inputs: Any, target: int, probability: float,
             expected: dict) -> tuple[dict, Any, Any]:
    """Compute, score and write one image/method; returns the record, the map and curves."""
    from captum_igos.metrics import deletion_insertion
    from captum_igos.metrics.deletion_insertion import saliency_map
    from captum_igos.visualization import overlay_heatmap, plot_deletion_insertion

    loaded, options = context.loaded, context.options
    start = time.perf_counter()
    attributions = attribute(item.method, context, inputs, target, expected["method_settings"])
    attribution_seconds = time.perf_counter() - start
    start = time.perf_counter()
    curves = deletion_insertion(
        loaded.model, inputs, attributions.detach(), target=[target],
        n_steps=options.metric_steps, internal_batch_size=options.batch_size,
    )
    metric_seconds = time.perf_counter() - start
    heatmap = saliency_map(attributions.detach().float(), tuple(inputs.shape[-2:]), 1)[0]
    class_name = loaded.class_names[target]
    title = f"{item.method}: {class_name} ({probability:.2f})"
    files = item.files
    _write_npy(files["heatmap"], heatmap.cpu().numpy().astype(np.float32))
    overlay = overlay_heatmap(inputs[0], attributions[0].detach(), title=title,
                              denormalize=loaded.denormalize)
    _write_figure(files["overlay"], overlay)
    _write_figure(files["curves"], plot_deletion_insertion(curves, title=title))
    one = curves[0]
    record = dict(expected)
    record.update(
        image=item.image, method=item.method, class_index=target, class_name=class_name,
        probability=probability, deletion_auc=one.deletion_auc,
        insertion_auc=one.insertion_auc, attribution_seconds=round(attribution_seconds, 3),
        metric_seconds=round(metric_seconds, 3),
        files={kind: path.name for kind, path in files.items()},
        curves={"fractions": one.fractions.tolist(), "deletion": one.deletion.tolist(),
                "insertion": one.insertion.tolist()},
    )
    _write_json(files["record"], record)
    return record, attributions.detach(), curves


def _drawable(heatmap: Any) -> bool:
    """Captum's ``visualize_image_attr`` (sign "positive") needs some positive value."""
    return bool((heatmap > 0).any())


def _curves_from_record(record: dict) -> Any:
    import torch

    from captum_igos.metrics import DeletionInsertionResult

    curves = record["curves"]
    deletion = torch.tensor(curves["deletion"])[None]
    insertion = torch.tensor(curves["insertion"])[None]
    return DeletionInsertionResult(
        fractions=torch.tensor(curves["fractions"]), deletion=deletion, insertion=insertion,
        deletion_auc=torch.tensor([record["deletion_auc"]]),
        insertion_auc=torch.tensor([record["insertion_auc"]]),
    )


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    """Records and failures of one command, written to ``summary.json``."""

    command: str
    out: Path
    records: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    skipped: int = 0

    def fail(self, image: str, method: str | None, message: str, bar: Any) -> None:
        self.failures.append({"image": image, "method": method, "error": message})
        where = f"{image} [{method}]: " if method else ""
        _say(f"{PROG}: failed: {where}{message}", bar)


def _say(message: str, bar: Any = None) -> None:
    if bar is not None:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr)


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise CLIError("--device cuda: no CUDA device is available (torch.cuda.is_available() "
                       "is False); use --device cpu")
    return choice


def _load(options: argparse.Namespace) -> tuple[Any, Any, str | None]:
    from captum_igos.models import ModelUnavailableError, load_model

    try:
        loaded = load_model(options.model, device=_device(options.device))
    except (ValueError, TypeError, ModelUnavailableError) as error:
        raise CLIError(f"--model: {error}") from None
    layer_name = options.layer or loaded.default_layer_name
    layer = None
    if layer_name is not None:
        try:
            layer = loaded.layer(layer_name)
        except ValueError as error:
            raise CLIError(f"--layer: {error}") from None
    return loaded, layer, layer_name


def execute(options: argparse.Namespace, methods: Sequence[str], images: Sequence[str],
            compare: bool) -> int:
    """Run every method on every image; returns the exit status."""
    import torch
    from tqdm.auto import tqdm

    from captum_igos.models import load_image

    out = _prepare_out(options.out)
    loaded, layer, layer_name = _load(options)
    if options.target.strip().lower() != "top1":
        resolve_class(loaded, options.target, None)  # out-of-range targets fail before work
    context = Context(loaded, options, layer, layer_name)
    run = Run(options.command, out)
    started = time.perf_counter()
    keys = _image_keys(images)
    bar = tqdm(total=len(images) * len(methods), unit="map", disable=options.quiet,
               file=sys.stderr, dynamic_ncols=True)
    try:
        for image, key in zip(images, keys):
            try:
                pixels = load_image(image)
            except ValueError as error:
                run.fail(image, None, str(error), bar)
                bar.update(len(methods))
                continue
            inputs = loaded.batch(pixels)
            with torch.no_grad():
                probabilities = torch.softmax(loaded.model(inputs), dim=1)[0]
            target = resolve_class(loaded, options.target, probabilities)
            probability = float(probabilities[target])
            folder = out / key
            folder.mkdir(parents=True, exist_ok=True)
            maps, curves = {}, {}
            for method in methods:
                bar.set_postfix_str(f"{key} {method}")
                item = Item(image, key, method, folder)
                expected = {"model": loaded.name, "target": target,
                            "metric_steps": options.metric_steps,
                            "method_settings": _method_settings(method, options, layer_name)}
                try:
                    record = _finished_record(item, expected, options.force)
                    if record is not None:
                        run.skipped += 1
                        if compare:
                            maps[method] = torch.from_numpy(np.load(item.files["heatmap"]))[None]
                            curves[method] = _curves_from_record(record)
                    else:
                        record, attributions, result = run_item(
                            item, context, inputs, target, probability, expected)
                        if compare:
                            maps[method], curves[method] = attributions, result
                    summary = {k: v for k, v in record.items() if k != "curves"}
                    run.records.append(summary)
                except CLIError as error:
                    run.fail(image, method, str(error), bar)
                except Exception as error:  # one failure must not stop the others
                    run.fail(image, method, f"{type(error).__name__}: {error}", bar)
                bar.update(1)
            if compare and maps:
                try:
                    _write_compare(folder / "compare.png", loaded, inputs, maps, curves,
                                   f"{loaded.class_names[target]} ({probability:.2f})")
                except Exception as error:
                    run.fail(image, "compare", f"{type(error).__name__}: {error}", bar)
    finally:
        bar.close()
    _write_summary(run, options, loaded, methods, time.perf_counter() - started)
    done = len(run.records)
    print(f"{PROG}: {done} result(s) ({run.skipped} already there), {len(run.failures)} "
          f"failure(s); summary in {out / 'summary.json'}", file=sys.stderr)
    return 1 if run.failures else 0


def _write_compare(path: Path, loaded: Any, inputs: Any, maps: dict, curves: dict,
                   label: str) -> None:
    from captum_igos.visualization import compare_methods

    empty = [name for name, attribution in maps.items() if not _drawable(attribution)]
    if empty:
        label = f"{label}\nno positive values: {', '.join(empty)}"
    drawable = {name: maps[name] for name in maps if name not in empty}
    if not drawable:
        return
    aucs = {name: curves[name] for name in drawable}
    fig = compare_methods(loaded.denormalize(inputs), drawable, aucs, row_labels=[label])
    _write_figure(path, fig)


def _write_summary(run: Run, options: argparse.Namespace, loaded: Any,
                   methods: Sequence[str], seconds: float) -> None:
    summary = {
        "command": run.command,
        "model": loaded.name,
        "device": str(loaded.device),
        "target": options.target,
        "methods": list(methods),
        "metric_steps": options.metric_steps,
        "seconds": round(seconds, 3),
        "results": run.records,
        "failures": run.failures,
    }
    _write_json(run.out / "summary.json", summary)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``captum-igos`` command; returns the exit status."""
    try:
        options = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already printed on one line
        return stop.code if isinstance(stop.code, int) else 2
    if options.command == "explain":
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
