"""The run: list, split, explain in batches, store, then merge on rank 0.

:func:`~captum_igos.runs.run` is what every command (``explain``, ``compare``, ``demo``,
``explain-dataset``), :func:`~captum_igos.runs.explain_dataset` and
:func:`~captum_igos.runs.explain_images` call, in one process or under ``torchrun``. Per
rank:

1. every rank lists the images (:mod:`~captum_igos.runs.sources`), loads the model and
   reads the targets (:mod:`~captum_igos.runs.labels`): anything wrong stops the run here,
   before any image is explained; rank 0 lists what is missing (an image is pending while
   any of its image x method results is absent) and broadcasts it; every rank takes its
   strided share (:func:`~captum_igos.runs.sharding.share`);
2. the share goes through in batches of ``batch_size`` images: one forward pass for the
   targets, then per method one job (:func:`~captum_igos.runs.job.explain_batch`); each
   result (its picture, its map, then its record) is committed with Ctrl-C held;
3. after a barrier rank 0 merges the records into ``results.csv``, ``summary.json`` and
   ``report.html`` (and, for ``compare``, one comparison figure per image).

Methods that draw random numbers (igos, igos++ noise; random) draw them per call, so
their maps depend on which images share a batch; the deterministic methods give the
same table for any batch size and number of ranks.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import torch

from captum_igos.runs.config import ConfigError, RunConfig, RunError
from captum_igos.runs.files import prepare_out, write_figure, write_json
from captum_igos.runs.interrupts import held_interrupts
from captum_igos.runs.job import Explained, Model, explain_batch
from captum_igos.runs.labels import TargetClass, fixed_class, label_classes
from captum_igos.runs.model import load_run_model, model_layer
from captum_igos.runs.pictures import input_picture, overlay_picture
from captum_igos.runs.progress import RunProgress, rank_usage
from captum_igos.runs.sharding import Ranks, share, start
from captum_igos.runs.sources import Listing, SourceImage, list_files, list_images
from captum_igos.runs.store import ResultStore, result_tag
from captum_igos.runs.summary import COLUMNS, method_statistics, write_results_csv

__all__ = ["RunOutcome", "Source", "explain_dataset", "explain_images", "run"]

#: A folder or ``.txt``/``.csv`` list (``explain-dataset``), or image files (``explain``).
Source = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


@dataclass
class RunOutcome:
    """What a run returns: the merged table (rank 0; empty elsewhere) and its summary.

    ``status`` is the command's exit status: 1 when an image or a result failed.
    """

    rows: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    status: int = 0


@dataclass
class _Plan:
    """Everything a rank needs to explain a batch."""

    config: RunConfig
    source: str
    listing: Listing
    model: Model
    settings: dict[str, dict]
    tags: dict[str, str]
    classes: dict[str, TargetClass]
    fixed: TargetClass | None
    store: ResultStore
    ranks: Ranks

    @property
    def images(self) -> list[SourceImage]:
        return self.listing.images


# --------------------------------------------------------------------------- planning


def _listing(config: RunConfig, source: Source) -> tuple[str, Listing]:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source), list_images(source, out=config.out)
    if not isinstance(source, Sequence):
        raise TypeError(f"source: expected a folder, a .txt/.csv list or a list of image "
                        f"files, got {type(source).__name__}")
    files = list(source)
    return f"{len(files)} image file(s)", list_files(files)


def _targets(config: RunConfig, images: Sequence[SourceImage], loaded: Any
             ) -> tuple[dict[str, TargetClass], TargetClass | None]:
    """Label classes (``target="label"``) or the fixed class; top-1 needs neither."""
    choice = config.target_choice
    if choice == "top1":
        return {}, None
    if choice == "label":
        unlabelled = [image.name for image in images if image.label is None]
        if unlabelled:
            raise ConfigError("target", f"label: expected every image to have a class folder "
                              f"or a target column, got none for {unlabelled[0]!r}")
        labels = [str(image.label) for image in images]
        return label_classes(labels, loaded, config.label_rule), None
    return {}, fixed_class(config.target, loaded)


def result_settings(config: RunConfig, method: str, model: Model) -> dict:
    """What a stored result of ``method`` is made with; a rerun reuses a result only when
    this is equal (``internal_batch_size`` aside: it changes speed, not results)."""
    from captum_igos.metrics.deletion_insertion import DEFAULT_TIES
    from captum_igos.runs.methods import settings_for

    values = vars(config)
    settings = {"model": model.loaded.name, "target": config.target_choice,
                "label_rule": config.label_rule if config.target_choice == "label" else None,
                "metric_steps": config.metric_steps, "metric_ties": DEFAULT_TIES,
                "internal_batch_size": config.internal_batch_size,
                "method_settings": settings_for(method, values, model.layer_name)}
    if config.autocast != "none":
        settings["autocast"] = config.autocast
    return settings


def _plan(config: RunConfig, source: Source, ranks: Ranks) -> _Plan:
    name, listing = _listing(config, source)
    loaded = load_run_model(config.model, ranks.device)
    layer, layer_name = model_layer(loaded, config.layer, config.methods)
    model = Model(loaded, layer, layer_name)
    classes, fixed = _targets(config, listing.images, loaded)
    settings = {method: result_settings(config, method, model) for method in config.methods}
    tags = {method: result_tag(method, settings[method]) for method in config.methods}
    return _Plan(config, name, listing, model, settings, tags, classes, fixed,
                 ResultStore(config.out), ranks)


def _pending(plan: _Plan) -> list[int]:
    """Indices of images with a missing result (all of them under ``force``)."""
    store, tags = plan.store, plan.tags
    return [index for index, image in enumerate(plan.images)
            if plan.config.force
            or not all(store.has_record(tags[name], image.key)
                       for name in plan.config.methods)]


def _digest(plan: _Plan) -> tuple[int, str]:
    """Number and digest of the image names: the ranks must list the same images."""
    names = "\n".join(image.name for image in plan.images)
    return len(plan.images), hashlib.sha1(names.encode()).hexdigest()


# --------------------------------------------------------------------------- one batch


def _read(plan: _Plan, batch: Sequence[int]) -> tuple[list[int], list[torch.Tensor]]:
    """Load and preprocess the batch's images; unreadable ones are recorded and dropped."""
    from captum_igos.models import load_image

    kept, pixels = [], []
    for index in batch:
        image = plan.images[index]
        key = image.key
        try:
            pixels.append(plan.model.loaded.preprocess(load_image(image.path)))
        except Exception as error:  # one bad file must not stop the others
            message = str(error) if isinstance(error, ValueError) else (
                f"{type(error).__name__}: {error}")
            plan.store.write_failure(None, key, {"image": image.name, "method": None,
                                                 "error": message})
            continue
        plan.store.clear_image_failure(key)
        kept.append(index)
    return kept, pixels


def _classes(plan: _Plan, kept: Sequence[int], probabilities: torch.Tensor
             ) -> list[TargetClass | int]:
    if plan.fixed is not None:
        return [plan.fixed] * len(kept)
    if plan.classes:
        return [plan.classes[str(plan.images[index].label)] for index in kept]
    return list(probabilities.argmax(dim=1).tolist())


def _commit(plan: _Plan, method: str, image: SourceImage, explained: Explained,
            display: torch.Tensor) -> None:
    """Store one result: its picture, its map, then its record (the record last: a record
    that exists is complete). Ctrl-C is held until all three are written."""
    store, tag = plan.store, plan.tags[method]
    key = image.key
    record = dict(explained.record, rank=plan.ranks.rank, tag=tag)
    with held_interrupts():
        picture = store.picture_path(tag, key)
        store.write_picture(picture, overlay_picture(display, explained.heatmap))
        record["picture"] = store.relative(picture)
        record["input_picture"] = store.relative(store.input_path(key))
        record["map"] = None
        if plan.config.save_maps:
            path = store.map_path(tag, key)
            store.write_map(path, explained.heatmap.cpu().numpy().astype("float32"))
            record["map"] = store.relative(path)
        store.write_record(tag, key, record)


def _explain_method(plan: _Plan, method: str, kept: Sequence[int], inputs: torch.Tensor,
                    targets: Sequence[TargetClass | int], probabilities: torch.Tensor,
                    display: torch.Tensor) -> None:
    """One method on the batch's images that lack its result: one job, one record each."""
    store, tag = plan.store, plan.tags[method]
    need = [j for j, index in enumerate(kept) if plan.config.force
            or not store.has_record(tag, plan.images[index].key)]
    if not need:
        return
    chosen = torch.tensor(need, device=inputs.device)
    images = [plan.images[kept[j]] for j in need]
    try:
        results = explain_batch(plan.model, method, plan.settings[method], images,
                                inputs[chosen], [targets[j] for j in need], probabilities[chosen])
    except Exception as error:  # a method failing on a batch leaves the others going
        message = str(error) if isinstance(error, ConfigError) else (
            f"{type(error).__name__}: {error}")
        for image in images:
            store.write_failure(tag, image.key,
                                {"image": image.name, "method": method, "error": message})
        return
    for j, image, explained in zip(need, images, results):
        try:
            _commit(plan, method, image, explained, display[j])
        except Exception as error:  # e.g. a full disk: this result fails, its files do not
            store.write_failure(tag, image.key, {"image": image.name, "method": method,
                                                 "error": f"{type(error).__name__}: {error}"})


def _explain_batch(plan: _Plan, batch: Sequence[int]) -> None:
    kept, pixels = _read(plan, batch)
    if not kept:
        return
    loaded = plan.model.loaded
    inputs = torch.stack(pixels).to(loaded.device)
    with torch.no_grad():
        probabilities = torch.softmax(loaded.model(inputs), dim=1)
    targets = _classes(plan, kept, probabilities)
    display = loaded.denormalize(inputs)
    for j, index in enumerate(kept):
        path = plan.store.input_path(plan.images[index].key)
        if plan.config.force or not path.is_file():
            plan.store.write_picture(path, input_picture(display[j]))
    for method in plan.config.methods:
        _explain_method(plan, method, kept, inputs, targets, probabilities, display)


# --------------------------------------------------------------------------- merging


def _merge(plan: _Plan) -> tuple[list[dict], list[dict], list[dict]]:
    """Records (image order x method order), failures and missing results from the store."""
    records, failures, missing = [], [], []
    for image in plan.images:
        key = image.key
        unreadable = plan.store.read_failure(None, key)
        if unreadable is not None:
            failures.append(unreadable)
            continue
        for method in plan.config.methods:
            record = plan.store.read_record(plan.tags[method], key)
            if record is not None:
                records.append(record)
                continue
            failure = plan.store.read_failure(plan.tags[method], key)
            if failure is not None:
                failures.append(failure)
            else:
                missing.append({"image": image.name, "method": method})
    return records, failures, missing


def _curves(record: dict) -> Any:
    from captum_igos.metrics import DeletionInsertionResult

    curves = record["curves"]
    return DeletionInsertionResult(
        fractions=torch.tensor(curves["fractions"]),
        deletion=torch.tensor(curves["deletion"])[None],
        insertion=torch.tensor(curves["insertion"])[None],
        deletion_auc=torch.tensor([record["deletion_auc"]]),
        insertion_auc=torch.tensor([record["insertion_auc"]]),
    )


def _draw_comparisons(plan: _Plan, records: Sequence[dict]) -> list[dict]:
    """``compare/<image>.png`` for every image whose figure is missing or older than one
    of its results: the methods side by side (:func:`~captum_igos.visualization.compare_methods`),
    titled with their AUCs. Returns the failures."""
    import numpy as np
    from PIL import Image

    from captum_igos.visualization import compare_methods

    store, failures = plan.store, []
    by_image: dict[str, list[dict]] = {}
    for record in records:
        by_image.setdefault(record["image"], []).append(record)
    keys = {image.name: image.key for image in plan.images}
    for image, results in by_image.items():
        key = keys[image]
        path = store.compare_path(key)
        stamps = [(store.out / r["map"]).stat().st_mtime_ns for r in results if r.get("map")]
        if path.is_file() and not plan.config.force and all(
                stamp <= path.stat().st_mtime_ns for stamp in stamps):
            continue
        drawable = [r for r in results if r.get("map") and r["map_status"] == "ok"]
        if not drawable:
            continue
        try:
            picture = np.asarray(Image.open(store.out / results[0]["input_picture"]))
            pixels = torch.from_numpy(picture.copy()).permute(2, 0, 1)[None].float() / 255
            maps = {r["method"]: torch.from_numpy(np.load(store.out / r["map"]))[None, None]
                    for r in drawable}
            empty = [r["method"] for r in results if r not in drawable]
            label = f"{results[0]['class_name']} ({results[0]['probability']:.2f})"
            if empty:
                label += f"\nno map drawn: {', '.join(empty)}"
            figure = compare_methods(pixels, maps, {r["method"]: _curves(r) for r in drawable},
                                     row_labels=[label])
            path.parent.mkdir(parents=True, exist_ok=True)
            write_figure(path, figure)
        except Exception as error:  # a figure that cannot be drawn leaves the table whole
            failures.append({"image": image, "method": "compare",
                             "error": f"{type(error).__name__}: {error}"})
    return failures


def _summary(plan: _Plan, status: str, rows: list[dict], failures: list[dict],
             missing: list[dict], computed: int, seconds: float) -> dict:
    config, ranks = plan.config, plan.ranks
    return {
        "command": config.command,
        "status": status,
        "root": plan.source,
        "model": plan.model.loaded.name,
        "device": ranks.device,
        "world_size": ranks.world_size,
        "backend": ranks.backend,
        "methods": list(config.methods),
        "target": config.target_choice,
        "label_rule": config.label_rule,
        "metric_steps": config.metric_steps,
        "batch_size": config.batch_size,
        "internal_batch_size": config.internal_batch_size,
        "autocast": config.autocast,
        "settings": plan.settings,
        "tags": plan.tags,
        "images": len(plan.images),
        "results": len(rows),
        "images_this_run": computed,
        "seconds_this_run": round(seconds, 3),
        "images_per_second": round(computed / seconds, 4) if computed and seconds > 0 else None,
        "per_method": method_statistics(rows, list(config.methods)),
        "ranks": plan.store.read_progress(ranks.world_size),
        "empty_maps": [{"image": r["image"], "method": r["method"],
                        "warning": r.get("map_warning")}
                       for r in rows if r["map_status"] == "empty"],
        "failures": failures,
        "missing": missing,
        "skipped": [{"entry": s.entry, "reason": s.reason} for s in plan.listing.skipped],
    }


def _finish(plan: _Plan, status: str, computed: int, seconds: float) -> RunOutcome:
    from captum_igos.runs.report import write_report

    out = plan.store.out
    records, failures, missing = _merge(plan)
    if plan.config.compare and status == "finished":
        failures = failures + _draw_comparisons(plan, records)
    table = [{key: record.get(key) for key in COLUMNS} for record in records]
    write_results_csv(out / "results.csv", table)
    summary = _summary(plan, status, records, failures, missing, computed, seconds)
    write_json(out / "summary.json", summary)
    comparisons = {}
    if plan.config.compare:
        for image in plan.images:
            path = plan.store.compare_path(image.key)
            if path.is_file():
                comparisons[image.name] = plan.store.relative(path)
    write_report(out / "report.html", records, summary, comparisons)
    return RunOutcome(table, summary, 1 if failures or missing else 0)


# --------------------------------------------------------------------------- the run


def run(config: RunConfig, source: Source) -> RunOutcome:
    """Explain every image of ``source`` with ``config.methods`` on this rank (module doc).

    Args:
        config: the settings.
        source: a folder or a ``.txt``/``.csv`` list (``explain-dataset``), or a list of
            image files (``explain``, ``compare``, ``demo``).

    Raises:
        ~captum_igos.runs.ConfigError: a setting that cannot be used here (``root``, ``model``,
            ``layer``, ``target``, ``device``), before any image is explained.
        ~captum_igos.runs.RunError: the output folder cannot be written, or ranks list different
            images.
        KeyboardInterrupt: Ctrl-C, after ``summary.json`` says ``"interrupted"`` (one
            process) with every finished result kept.
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"config: expected a RunConfig, got {type(config).__name__}")
    try:
        ranks = start(config.device)
    except ValueError as error:
        raise ConfigError("device", str(error)) from None
    try:
        plan = _plan(config, source, ranks)
        pending: list[int] = []
        if ranks.is_main:
            prepare_out(config.out)
            plan.store.remove_temporary()
            plan.store.reset_progress()
            pending = _pending(plan)
        digest = _digest(plan)
        pending, expected = ranks.broadcast((pending, digest))
        if digest != expected:
            raise RunError(f"rank {ranks.rank} lists {digest[0]} image(s) in "
                           f"{plan.source!r}, rank 0 lists {expected[0]} (or other names); "
                           "the images must be the same on every node")
        return _run_share(plan, pending)
    finally:
        ranks.close()


def _run_share(plan: _Plan, pending: list[int]) -> RunOutcome:
    ranks, config = plan.ranks, plan.config
    progress = RunProgress(plan.store, len(pending), ranks.world_size,
                           enabled=ranks.is_main and not config.quiet)
    started = time.perf_counter()
    mine = share(pending, ranks.rank, ranks.world_size)
    step = config.batch_size
    try:
        for first in range(0, len(mine), step):
            _explain_batch(plan, mine[first:first + step])
            done = min(first + step, len(mine))
            plan.store.write_progress(ranks.rank, {"images": done, **rank_usage(ranks.device)})
            progress.refresh()
        if not mine:
            plan.store.write_progress(ranks.rank, {"images": 0, **rank_usage(ranks.device)})
        ranks.wait_all(progress.refresh if ranks.is_main else None)
    except KeyboardInterrupt:
        if ranks.world_size == 1:  # the table of what is finished, then the interrupt
            with held_interrupts(reraise=False):
                _finish(plan, "interrupted", len(pending), time.perf_counter() - started)
        raise
    finally:
        progress.close()
    seconds = time.perf_counter() - started
    if not ranks.is_main:
        return RunOutcome()
    return _finish(plan, "finished", len(pending), seconds)


def explain_dataset(
    root: str | os.PathLike,
    methods: Sequence[str] = ("igos",),
    out: str | os.PathLike = "captum-igos-out",
    **settings: Any,
) -> list[dict]:
    """Explain every image under ``root`` with ``methods``; returns the ``results.csv`` rows.

    Args:
        root: an ``ImageFolder`` tree, or a ``.txt`` / ``.csv`` image list
            (:mod:`~captum_igos.runs.sources`).
        methods: registry names (:data:`captum_igos.runs.METHODS`).
        out: the output folder; a rerun does only what is missing.
        **settings: any other :class:`~captum_igos.runs.RunConfig` field by name:
            ``model`` (a name, ``"module:factory"`` or a ``LoadedModel``), ``target``
            (``"top1"``, ``"label"``, a class index, name or WordNet id), ``batch_size``
            (images per call), ``internal_batch_size`` (rows per forward pass),
            ``metric_steps``, ``iterations``, ``quiet``, ``force``, ``device``, ...

    Returns:
        The merged table (list of dicts with :data:`~captum_igos.runs.COLUMNS`) on rank
        0; an empty list on other ranks under ``torchrun``.

    Raises:
        TypeError: an unknown setting name, or a value of the wrong type.
        ~captum_igos.runs.ConfigError: (a ``ValueError``) a value that cannot be used, named:
            unknown or no methods, a batch size or step count below 1, a target that is not a class,
            a ROOT with no image, a model that cannot be loaded. Always before any work.
        ~captum_igos.runs.RunError: the output folder cannot be written.
    """
    config = RunConfig.from_options(dict(settings, methods=methods, out=out,
                                         command="python"))
    return run(config, root).rows


def explain_images(
    images: Sequence[str | os.PathLike],
    methods: Sequence[str] = ("igos",),
    out: str | os.PathLike = "captum-igos-out",
    **settings: Any,
) -> list[dict]:
    """:func:`~captum_igos.runs.explain_dataset` on a list of image files (what
    ``captum-igos explain`` runs)."""
    config = RunConfig.from_options(dict(settings, methods=methods, out=out,
                                         command="python"))
    return run(config, list(images)).rows
