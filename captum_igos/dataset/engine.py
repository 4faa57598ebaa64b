"""The dataset run: list, split, explain in batches, store, then merge on rank 0.

:func:`run_dataset` is what ``captum-igos explain-dataset`` and
:func:`captum_igos.dataset.explain_dataset` call. Per rank:

1. rank 0 lists what is missing (an image is pending while any of its image x method
   results is absent) and broadcasts it; every rank takes its strided share
   (:func:`~captum_igos.dataset.sharding.share`);
2. the share goes through in batches of ``--batch-size`` images: one forward pass for the
   targets, then per method one call of the method and one call of
   :func:`~captum_igos.metrics.deletion_insertion` on the whole batch (the library's
   batching, ``internal_batch_size`` rows per pass), one atomic record per result;
3. after a barrier rank 0 merges the records into ``results.csv``, ``summary.json`` and
   ``report.html``.

The methods are the registry's (:mod:`captum_igos.cli.methods`), called through
:func:`captum_igos.cli.explain.attribute`; maps are :func:`captum_igos.maps.saliency_map`.
Methods that draw random numbers (igos, igos++ noise; random) draw them per call, so
their maps depend on which images share a batch, as they depend on the image order in
``explain``; the deterministic methods give the same table for any batch size and
number of ranks.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from captum_igos.cli.errors import CLIError
from captum_igos.cli.explain import Context, attribute, model_layer, result_settings
from captum_igos.cli.files import prepare_out, write_json
from captum_igos.cli.methods import REGISTRY
from captum_igos.dataset.pictures import input_picture, overlay_picture
from captum_igos.dataset.progress import DatasetProgress, rank_usage
from captum_igos.dataset.sharding import Ranks, share, start
from captum_igos.dataset.sources import DatasetImage, label_classes, list_images, storage_key
from captum_igos.dataset.store import ResultStore, result_tag
from captum_igos.dataset.summary import COLUMNS, method_statistics, write_results_csv

__all__ = ["DatasetOutcome", "load_dataset_model", "run_dataset"]

PROG = "captum-igos explain-dataset"


@dataclass
class DatasetOutcome:
    """What a run returns: the merged table (rank 0; empty elsewhere) and its summary."""

    rows: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    status: int = 0


@dataclass
class _Plan:
    """Everything a rank needs to explain a batch."""

    options: argparse.Namespace
    methods: list[str]
    images: list[DatasetImage]
    context: Context
    expected: dict[str, dict]
    tags: dict[str, str]
    classes: dict[str, int]
    fixed_target: int | None
    store: ResultStore
    ranks: Ranks


# --------------------------------------------------------------------------- the model


def load_dataset_model(model: Any, device: str) -> Any:
    """A :class:`~captum_igos.models.LoadedModel` from a name, ``module:function`` or itself.

    ``module:function`` imports ``module`` and calls ``function(device)``, which must
    return a ``LoadedModel`` (your own model, preprocessing and class names).
    """
    from captum_igos.models import LoadedModel, ModelUnavailableError, load_model

    if isinstance(model, LoadedModel):
        return model
    if not isinstance(model, str):
        raise CLIError(f"--model: expected a name, 'module:function' or a LoadedModel, got "
                       f"{type(model).__name__}")
    if ":" in model:
        module_name, _, function = model.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), function)
        except (ImportError, AttributeError) as error:
            raise CLIError(f"--model: cannot import {model!r}: {error}") from None
        loaded = factory(torch.device(device))
        if not isinstance(loaded, LoadedModel):
            raise CLIError(f"--model: expected {model!r} to return a LoadedModel, got "
                           f"{type(loaded).__name__}")
        return loaded
    try:
        return load_model(model, device=device)
    except (ValueError, TypeError, ModelUnavailableError) as error:
        raise CLIError(f"--model: {error}") from None


def _context(options: argparse.Namespace, methods: Sequence[str], device: str) -> Context:
    loaded = load_dataset_model(options.model, device)
    layer, layer_name = model_layer(loaded, options.layer)
    needing = [name for name in methods if REGISTRY[name].needs_layer]
    if needing and layer is None:
        raise CLIError(f"method {needing[0]!r} needs a convolutional layer and model "
                       f"{loaded.name!r} has no spatial layer; pass --layer NAME")
    return Context(loaded, options, layer, layer_name)


# --------------------------------------------------------------------------- planning


def _targets(options: argparse.Namespace, images: Sequence[DatasetImage],
             loaded: Any) -> tuple[dict[str, int], int | None]:
    """Label classes (``--target label``) or the fixed target; top-1 needs neither."""
    choice = str(options.target).strip().lower()
    if choice == "top1":
        return {}, None
    if choice == "label":
        unlabelled = [image.name for image in images if image.label is None]
        if unlabelled:
            raise CLIError(f"--target label: expected every image to have a class folder or "
                           f"a target column, got none for {unlabelled[0]!r}")
        try:
            return label_classes([str(image.label) for image in images], loaded), None
        except ValueError as error:
            raise CLIError(f"--target label: {error}") from None
    try:
        return {}, loaded.class_index(options.target)
    except (TypeError, ValueError) as error:
        raise CLIError(f"--target: {error}") from None


def _plan(options: argparse.Namespace, methods: list[str], ranks: Ranks) -> _Plan:
    try:
        images = list_images(options.root)
    except ValueError as error:
        raise CLIError(str(error)) from None
    context = _context(options, methods, ranks.device)
    loaded = context.loaded
    classes, fixed = _targets(options, images, loaded)
    target = str(options.target).strip().lower()
    expected = {name: result_settings(name, loaded.name, target, options, context.layer_name)
                for name in methods}
    tags = {name: result_tag(name, expected[name]) for name in methods}
    return _Plan(options, methods, images, context, expected, tags, classes, fixed,
                 ResultStore(options.out), ranks)


def _pending(plan: _Plan) -> list[int]:
    """Indices of images with a missing result (all of them under ``--force``)."""
    store, tags = plan.store, plan.tags
    return [index for index, image in enumerate(plan.images)
            if plan.options.force
            or not all(store.has_record(tags[name], storage_key(image.name))
                       for name in plan.methods)]


def _listing(plan: _Plan) -> tuple[int, str]:
    """Number and digest of the image names: the ranks must list the same ROOT."""
    names = "\n".join(image.name for image in plan.images)
    return len(plan.images), hashlib.sha1(names.encode()).hexdigest()


# --------------------------------------------------------------------------- one batch


def _read(plan: _Plan, batch: Sequence[int]) -> tuple[list[int], list[torch.Tensor]]:
    """Load and preprocess the batch's images; unreadable ones are recorded and dropped."""
    from captum_igos.models import load_image

    kept, pixels = [], []
    for index in batch:
        image = plan.images[index]
        key = storage_key(image.name)
        try:
            pixels.append(plan.context.loaded.preprocess(load_image(image.path)))
        except Exception as error:  # one bad file must not stop the others
            message = str(error) if isinstance(error, ValueError) else (
                f"{type(error).__name__}: {error}")
            plan.store.write_failure(None, key, {"image": image.name, "method": None,
                                                 "error": message})
            continue
        plan.store.clear_image_failure(key)
        kept.append(index)
    return kept, pixels


def _class_indices(plan: _Plan, kept: Sequence[int], probabilities: torch.Tensor) -> list[int]:
    if plan.fixed_target is not None:
        return [plan.fixed_target] * len(kept)
    if plan.classes:
        return [plan.classes[plan.images[index].label] for index in kept]  # type: ignore[index]
    return probabilities.argmax(dim=1).tolist()


def _explain_method(plan: _Plan, name: str, kept: Sequence[int], inputs: torch.Tensor,
                    targets: Sequence[int], probabilities: torch.Tensor) -> None:
    """One method on the batch's images that lack its result: one call, one record each."""
    from captum_igos.maps import empty_maps, saliency_map
    from captum_igos.metrics import deletion_insertion

    store, tag, options = plan.store, plan.tags[name], plan.options
    need = [j for j, index in enumerate(kept)
            if options.force or not store.has_record(tag, storage_key(plan.images[index].name))]
    if not need:
        return
    chosen = torch.tensor(need, device=inputs.device)
    sub, sub_targets = inputs[chosen], [targets[j] for j in need]
    started = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            attributions = attribute(name, plan.context, sub,
                                     torch.tensor(sub_targets, device=inputs.device),
                                     plan.expected[name]["method_settings"]).detach()
            curves = deletion_insertion(plan.context.loaded.model, sub, attributions,
                                        target=sub_targets, n_steps=options.metric_steps,
                                        internal_batch_size=options.batch_size)
        heatmaps = saliency_map(attributions.float(), (sub.shape[-2], sub.shape[-1]), len(need))
    except Exception as error:  # a method failing on a batch leaves the others going
        message = str(error) if isinstance(error, CLIError) else f"{type(error).__name__}: {error}"
        for j in need:
            image = plan.images[kept[j]]
            store.write_failure(tag, storage_key(image.name),
                                {"image": image.name, "method": name, "error": message})
        return
    seconds = (time.perf_counter() - started) / len(need)
    empty = empty_maps(heatmaps, caught)
    display = plan.context.loaded.denormalize(sub)
    class_names = plan.context.loaded.class_names
    for row, j in enumerate(need):
        image = plan.images[kept[j]]
        key = storage_key(image.name)
        heatmap = heatmaps[row]
        picture = store.picture_path(tag, key)
        store.write_picture(picture, overlay_picture(display[row], heatmap))
        target = sub_targets[row]
        record = {
            "image": image.name, "method": name, "target": target,
            "class_name": class_names[target], "label": image.label,
            "probability": float(probabilities[j, target]),
            "deletion_auc": float(curves.deletion_auc[row]),
            "insertion_auc": float(curves.insertion_auc[row]),
            "seconds": round(seconds, 4),
            "map_status": "empty" if empty[row] else "ok",
            "rank": plan.ranks.rank, "tag": tag, "picture": store.relative(picture),
            "input_picture": store.relative(store.input_path(key)),
            "settings": plan.expected[name],
        }
        store.write_record(tag, key, record)


def _explain_batch(plan: _Plan, batch: Sequence[int]) -> None:
    kept, pixels = _read(plan, batch)
    if not kept:
        return
    loaded = plan.context.loaded
    inputs = torch.stack(pixels).to(loaded.device)
    with torch.no_grad():
        probabilities = torch.softmax(loaded.model(inputs), dim=1)
    targets = _class_indices(plan, kept, probabilities)
    display = loaded.denormalize(inputs)
    for j, index in enumerate(kept):
        path = plan.store.input_path(storage_key(plan.images[index].name))
        if plan.options.force or not path.is_file():
            plan.store.write_picture(path, input_picture(display[j]))
    for name in plan.methods:
        _explain_method(plan, name, kept, inputs, targets, probabilities)


# --------------------------------------------------------------------------- merging


def _merge(plan: _Plan) -> tuple[list[dict], list[dict], list[dict]]:
    """Rows (image order x method order), failures and missing results from the store."""
    rows, failures, missing = [], [], []
    for image in plan.images:
        key = storage_key(image.name)
        unreadable = plan.store.read_failure(None, key)
        if unreadable is not None:
            failures.append(unreadable)
            continue
        for name in plan.methods:
            record = plan.store.read_record(plan.tags[name], key)
            if record is not None:
                rows.append(record)
                continue
            failure = plan.store.read_failure(plan.tags[name], key)
            if failure is not None:
                failures.append(failure)
            else:
                missing.append({"image": image.name, "method": name})
    return rows, failures, missing


def _summary(plan: _Plan, rows: list[dict], failures: list[dict], missing: list[dict],
             computed: int, seconds: float) -> dict:
    options, ranks = plan.options, plan.ranks
    return {
        "command": "explain-dataset",
        "root": str(options.root),
        "model": plan.context.loaded.name,
        "device": ranks.device,
        "world_size": ranks.world_size,
        "backend": ranks.backend,
        "methods": plan.methods,
        "target": options.target,
        "metric_steps": options.metric_steps,
        "batch_size": options.images_per_call,
        "settings": plan.expected,
        "tags": plan.tags,
        "images": len(plan.images),
        "results": len(rows),
        "images_this_run": computed,
        "seconds_this_run": round(seconds, 3),
        "images_per_second": round(computed / seconds, 4) if computed and seconds > 0 else None,
        "per_method": method_statistics(rows, plan.methods),
        "ranks": plan.store.read_progress(ranks.world_size),
        "failures": failures,
        "missing": missing,
    }


def _finish(plan: _Plan, computed: int, seconds: float) -> DatasetOutcome:
    from captum_igos.dataset.report import write_report

    out = plan.store.out
    rows, failures, missing = _merge(plan)
    table = [{key: row.get(key) for key in COLUMNS} for row in rows]
    write_results_csv(out / "results.csv", table)
    summary = _summary(plan, rows, failures, missing, computed, seconds)
    write_json(out / "summary.json", summary)
    write_report(out / "report.html", rows, summary)
    return DatasetOutcome(table, summary, 1 if failures or missing else 0)


# --------------------------------------------------------------------------- the run


def run_dataset(options: argparse.Namespace, methods: Sequence[str]) -> DatasetOutcome:
    """Explain every image of ``options.root`` with ``methods`` on this rank (module doc).

    ``options`` holds the ``explain-dataset`` options by ``dest`` (``root``, ``out``,
    ``model``, ``target``, ``images_per_call``, ``batch_size`` (rows per pass), the
    method options, ``force``, ``quiet``, ``device``).
    """
    methods = list(dict.fromkeys(methods))
    try:
        ranks = start(options.device)
    except ValueError as error:
        raise CLIError(f"--device: {error}") from None
    try:
        plan = _plan(options, methods, ranks)
        pending: list[int] = []
        if ranks.is_main:
            prepare_out(options.out)
            plan.store.remove_temporary()
            plan.store.reset_progress()
            pending = _pending(plan)
        listing = _listing(plan)
        pending, expected_listing = ranks.broadcast((pending, listing))
        if listing != expected_listing:
            raise CLIError(f"rank {ranks.rank} lists {listing[0]} image(s) under ROOT "
                           f"{str(options.root)!r}, rank 0 lists {expected_listing[0]} (or "
                           f"other names); ROOT must be the same on every node")
        progress = DatasetProgress(plan.store, len(pending), ranks.world_size,
                                   enabled=ranks.is_main and not options.quiet)
        started = time.perf_counter()
        mine = share(pending, ranks.rank, ranks.world_size)
        step = options.images_per_call
        try:
            for first in range(0, len(mine), step):
                _explain_batch(plan, mine[first:first + step])
                done = min(first + step, len(mine))
                plan.store.write_progress(ranks.rank, {"images": done,
                                                       **rank_usage(ranks.device)})
                progress.refresh()
            if not mine:
                plan.store.write_progress(ranks.rank, {"images": 0, **rank_usage(ranks.device)})
            ranks.wait_all(progress.refresh if ranks.is_main else None)
        finally:
            progress.close()
        seconds = time.perf_counter() - started
        if not ranks.is_main:
            return DatasetOutcome()
        outcome = _finish(plan, len(pending), seconds)
        _report_end(outcome, plan)
        return outcome
    finally:
        ranks.close()


def _report_end(outcome: DatasetOutcome, plan: _Plan) -> None:
    summary = outcome.summary
    for failure in summary["failures"][:5]:
        where = f" [{failure['method']}]" if failure.get("method") else ""
        print(f"{PROG}: failed: {failure['image']}{where}: {failure['error']}", file=sys.stderr)
    more = len(summary["failures"]) - 5
    if more > 0:
        print(f"{PROG}: ... and {more} more failure(s), listed in summary.json", file=sys.stderr)
    if not plan.options.quiet or summary["failures"]:
        print(f"{PROG}: {summary['results']} result(s) for {summary['images']} image(s), "
              f"{summary['images_this_run']} image(s) explained now, "
              f"{len(summary['failures'])} failure(s); {plan.store.out / 'results.csv'}",
              file=sys.stderr)
