"""``explain`` / ``compare`` / ``demo``: compute each image/method result, then write it.

:func:`explain_item` computes an :class:`Explanation` (the map, the curves, the record)
and writes nothing; :func:`write_explanation` writes its files. :func:`execute` runs the
commands over images and methods, resuming finished work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from captum_igos.cli.errors import PROG, CLIError
from captum_igos.cli.files import image_keys, prepare_out, write_figure, write_json, write_npy
from captum_igos.cli.interrupts import held_interrupts
from captum_igos.cli.methods import REGISTRY, Request, black_image, compute, settings_for
from captum_igos.metrics.deletion_insertion import DEFAULT_TIES

__all__ = [
    "Context",
    "Explanation",
    "Item",
    "Run",
    "attribute",
    "execute",
    "explain_item",
    "method_settings",
    "model_layer",
    "resolve_class",
    "write_explanation",
]


@dataclass
class Context:
    """What every method needs: the loaded model, options and the layer of CAM methods."""

    loaded: Any
    options: argparse.Namespace
    layer: Any
    layer_name: str | None
    settings: dict[str, Any] = field(default_factory=dict)


def method_settings(name: str, options: argparse.Namespace, layer_name: str | None) -> dict:
    """The settings of method ``name`` under the command-line ``options`` (recorded, compared)."""
    return settings_for(name, vars(options), layer_name)


def result_settings(name: str, model: str, target: str | int, options: argparse.Namespace,
                    layer_name: str | None) -> dict:
    """What a stored result of method ``name`` was made with; a rerun reuses a result only
    when this is equal (the metric's tie rule included: AUCs under another rule differ)."""
    return {"model": model, "target": target, "metric_steps": options.metric_steps,
            "metric_ties": DEFAULT_TIES,
            "method_settings": method_settings(name, options, layer_name)}


def attribute(name: str, context: Context, inputs: Any, target: Any, settings: dict) -> Any:
    """The attribution of ``inputs`` (N, 3, H, W) for ``target`` (an int or (N,)) by ``name``."""
    method = REGISTRY.get(name)
    if method is None:
        raise CLIError(f"unknown method {name!r}")
    if method.needs_layer and context.layer is None:
        raise CLIError(
            f"method {name!r} needs a convolutional layer and model {context.loaded.name!r} "
            "has no spatial layer; pass --layer NAME"
        )
    request = Request(context.loaded.model, inputs, target, settings, layer=context.layer,
                      baselines=black_image(context.loaded, inputs))
    return compute(name, request)


# --------------------------------------------------------------------------- one image


@dataclass
class Item:
    """One image and method: where its files go."""

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


@dataclass
class Explanation:
    """One image/method result, computed and not yet written (torch-cam's result object).

    Attributes:
        item: the image and method (and where the files go).
        attributions: the method's output (detached), input- or layer-shaped.
        heatmap: ``(H, W)`` float map at the model's input size, as the metrics rank it.
        curves: the :class:`~captum_igos.metrics.DeletionInsertionResult` of the one image.
        record: the JSON record (class, probability, AUCs, seconds, settings, curves).
        title: the figures' title.
    """

    item: Item
    attributions: Any
    heatmap: Any
    curves: Any
    record: dict
    title: str


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


def explain_item(item: Item, context: Context, inputs: Any, target: int, probability: float,
                 expected: dict) -> Explanation:
    """Compute and score one image/method; writes nothing (see :func:`write_explanation`)."""
    from captum_igos import EmptyMapWarning
    from captum_igos.maps import empty_maps, saliency_map
    from captum_igos.metrics import deletion_insertion

    loaded, options = context.loaded, context.options
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attributions = attribute(item.method, context, inputs, target,
                                 expected["method_settings"])
    attribution_seconds = time.perf_counter() - start
    empty_map = [str(w.message) for w in caught if issubclass(w.category, EmptyMapWarning)]
    for other in caught:
        if not issubclass(other.category, EmptyMapWarning):
            warnings.warn(other.message, other.category, stacklevel=2)
    if empty_map:  # I-GOS / iGOS++: one line instead of the library's warning
        _say(f"{PROG}: warning: {item.image} [{item.method}]: {empty_map[0]}")
    attributions = attributions.detach()
    start = time.perf_counter()
    curves = deletion_insertion(
        loaded.model, inputs, attributions, target=[target],
        n_steps=options.metric_steps, internal_batch_size=options.batch_size,
    )
    metric_seconds = time.perf_counter() - start
    heatmap = saliency_map(attributions.float(), tuple(inputs.shape[-2:]), 1)[0]
    class_name = loaded.class_names[target]
    one = curves[0]
    record = dict(expected)
    record.update(
        image=item.image, method=item.method, class_index=target, class_name=class_name,
        probability=probability,
        map_status="empty" if empty_maps(heatmap[None], caught)[0] else "ok",
        map_warning=empty_map[0] if empty_map else None, deletion_auc=one.deletion_auc,
        insertion_auc=one.insertion_auc, attribution_seconds=round(attribution_seconds, 3),
        metric_seconds=round(metric_seconds, 3),
        files={kind: path.name for kind, path in item.files.items()},
        curves={"fractions": one.fractions.tolist(), "deletion": one.deletion.tolist(),
                "insertion": one.insertion.tolist()},
    )
    title = f"{item.method}: {class_name} ({probability:.2f})"
    return Explanation(item, attributions, heatmap, curves, record, title)


def write_explanation(explanation: Explanation, inputs: Any, denormalize: Any) -> None:
    """Write an :class:`Explanation`'s files: ``.npy``, overlay, curves, then the record."""
    from captum_igos.visualization import overlay_heatmap, plot_deletion_insertion

    files = explanation.item.files
    write_npy(files["heatmap"], explanation.heatmap.cpu().numpy().astype(np.float32))
    overlay = overlay_heatmap(inputs[0], explanation.attributions[0], title=explanation.title,
                              denormalize=denormalize)
    write_figure(files["overlay"], overlay)
    write_figure(files["curves"], plot_deletion_insertion(explanation.curves,
                                                          title=explanation.title))
    write_json(files["record"], explanation.record)


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
    """Records and failures of one command, written to ``summary.json`` as they come.

    ``summary.json`` is rewritten atomically after every finished result and every
    failure, with ``status`` ``"running"``, then ``"finished"`` or ``"interrupted"``: at any
    moment it lists exactly the results whose files are complete.
    """

    command: str
    out: Path
    records: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    skipped: int = 0
    header: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    status: str = "running"

    def fail(self, image: str, method: str | None, message: str, bar: Any) -> None:
        self.failures.append({"image": image, "method": method, "error": message})
        where = f"{image} [{method}]: " if method else ""
        _say(f"{PROG}: failed: {where}{message}", bar)
        self.save()

    def save(self) -> None:
        """Write ``OUT/summary.json`` (atomically) with everything finished so far."""
        summary = {"command": self.command, **self.header, "status": self.status,
                   "seconds": round(time.perf_counter() - self.started, 3),
                   "results": self.records, "failures": self.failures}
        try:
            write_json(self.out / "summary.json", summary)
        except OSError as error:  # e.g. the disk filled up: the run cannot record anything
            reason = error.strerror or type(error).__name__
            raise CLIError(f"cannot write {str(self.out / 'summary.json')!r}: {reason}") from None


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
    with held_interrupts():  # torchvision's C++ start-up aborts on a Ctrl-C inside it
        from captum_igos.models import ModelUnavailableError, load_model

    try:
        loaded = load_model(options.model, device=_device(options.device))
    except (ValueError, TypeError, ModelUnavailableError) as error:
        raise CLIError(f"--model: {error}") from None
    return (loaded, *model_layer(loaded, options.layer))


def model_layer(loaded: Any, name: str | None) -> tuple[Any, str | None]:
    """The CAM layer ``name`` (default: the model's) and its name; one-line error if unknown."""
    layer_name = name or loaded.default_layer_name
    if layer_name is None:
        return None, None
    try:
        return loaded.layer(layer_name), layer_name
    except ValueError as error:
        raise CLIError(f"--layer: {error}") from None


def execute(options: argparse.Namespace, methods: Sequence[str], images: Sequence[str],
            compare: bool) -> int:
    """Run every method on every image; returns the exit status.

    A bad image (missing, a directory, unreadable, truncated, a decompression bomb, an
    output folder that cannot be made) is one ``failed:`` line and the others go on; the
    status is 1 when anything failed. Ctrl-C raises ``KeyboardInterrupt`` after
    ``summary.json`` has been written with ``status: "interrupted"``.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    out = prepare_out(options.out)
    loaded, layer, layer_name = _load(options)
    if options.target.strip().lower() != "top1":
        resolve_class(loaded, options.target, None)  # out-of-range targets fail before work
    context = Context(loaded, options, layer, layer_name)
    run = Run(options.command, out, started=started, header={
        "model": loaded.name, "device": str(loaded.device), "target": options.target,
        "methods": list(methods), "metric_steps": options.metric_steps})
    keys = image_keys(images)
    bar = tqdm(total=len(images) * len(methods), unit="map", disable=options.quiet,
               file=sys.stderr, dynamic_ncols=True)
    try:
        for image, key in zip(images, keys):
            _explain_image(run, context, image, out / key, methods, compare, bar)
    except KeyboardInterrupt:
        run.status = "interrupted"
        with held_interrupts(reraise=False), suppress(CLIError):  # exit 130 all the same
            run.save()
        raise
    finally:
        bar.close()
    run.status = "finished"
    run.save()
    done = len(run.records)
    print(f"{PROG}: {done} result(s) ({run.skipped} already there), {len(run.failures)} "
          f"failure(s); summary in {out / 'summary.json'}", file=sys.stderr)
    return 1 if run.failures else 0


def _prepare_image(context: Context, image: str, folder: Path) -> tuple[Any, int, float]:
    """The model input, class and its probability of one image; its folder created."""
    import torch

    from captum_igos.models import load_image

    loaded = context.loaded
    pixels = load_image(image)
    inputs = loaded.batch(pixels)
    with torch.no_grad():
        probabilities = torch.softmax(loaded.model(inputs), dim=1)[0]
    target = resolve_class(loaded, context.options.target, probabilities)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise CLIError(f"cannot create output folder {str(folder)!r}: {reason}") from None
    return inputs, target, float(probabilities[target])


def _explain_image(run: Run, context: Context, image: str, folder: Path,
                   methods: Sequence[str], compare: bool, bar: Any) -> None:
    """Every method on one image; each result is committed (files + summary) as one step."""
    import torch

    loaded, options = context.loaded, context.options
    try:
        inputs, target, probability = _prepare_image(context, image, folder)
    except (CLIError, ValueError) as error:
        run.fail(image, None, str(error), bar)
        bar.update(len(methods))
        return
    except Exception as error:  # one bad image must not stop the others
        run.fail(image, None, f"{type(error).__name__}: {error}", bar)
        bar.update(len(methods))
        return
    maps, curves = {}, {}
    for method in methods:
        bar.set_postfix_str(f"{folder.name} {method}")
        item = Item(image, folder.name, method, folder)
        expected = result_settings(method, loaded.name, target, options, context.layer_name)
        try:
            record = _finished_record(item, expected, options.force)
            if record is not None:
                run.skipped += 1
                if compare:
                    maps[method] = torch.from_numpy(np.load(item.files["heatmap"]))[None]
                    curves[method] = _curves_from_record(record)
                run.records.append({k: v for k, v in record.items() if k != "curves"})
            else:
                explanation = explain_item(item, context, inputs, target, probability, expected)
                with held_interrupts():  # the files and the summary line land together
                    write_explanation(explanation, inputs, loaded.denormalize)
                    record = explanation.record
                    run.records.append({k: v for k, v in record.items() if k != "curves"})
                    run.save()
                if compare:
                    maps[method], curves[method] = explanation.attributions, explanation.curves
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
    write_figure(path, fig)
