"""``explain-dataset`` end to end on a tiny random-weight model: one process, resume, failures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import LayerGradCam
from PIL import Image

from captum_igos import cli
from captum_igos.metrics import deletion_insertion
from captum_igos.runs import COLUMNS, explain_dataset
from captum_igos.runs.store import ResultStore
from tests.runs import tiny_model

#: The tiny model and light settings every run of these tests shares.
LIGHT = {"metric_steps": 4, "rsi_steps": 4, "iterations": 1, "igos_steps": 2, "mask_size": 4,
         "quiet": True, "device": "cpu"}
LIGHT_ARGS = ["--model", "tests.runs.tiny_model:build", "--metric-steps", "4", "--rsi-steps",
              "4", "--iterations", "1", "--igos-steps", "2", "--mask-size", "4", "--quiet",
              "--device", "cpu"]


def make_folder(root: Path, per_class: int = 4, bad: bool = True) -> Path:
    """``root/<class>/<i>.png`` random pictures of two classes, plus a corrupt file."""
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(40, 36 + i, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    if bad:
        (root / "dog" / "broken.jpg").write_text("not an image")
    return root


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def comparable(rows: list[dict]) -> list[tuple]:
    """Rows without the timing columns, floats rounded (batches may differ in the last bits)."""
    kept = [c for c in COLUMNS if c not in ("seconds", "batch_seconds", "batch_images")]
    return [tuple(f"{float(row[c]):.5g}" if c.endswith("auc") or c == "probability"
                  else str(row[c]) for c in kept) for row in rows]


@pytest.fixture(scope="module")
def tiny():
    return tiny_model.build()


def test_one_process_writes_the_table_summary_and_report(tmp_path, tiny):
    root = make_folder(tmp_path / "data")
    out = tmp_path / "out"
    rows = explain_dataset(root, ["gradcam", "igos"], out, model=tiny, target="label",
                           batch_size=3, **LIGHT)
    images = [f"{c}/{i}.png" for c in ("cat", "dog") for i in range(4)]
    assert [(r["image"], r["method"]) for r in rows] == [
        (image, method) for image in images for method in ("gradcam", "igos")]
    assert [r["target"] for r in rows] == [0] * 8 + [1] * 8  # class folders: cat, dog
    table = read_csv(out / "results.csv")
    assert list(table[0]) == list(COLUMNS)
    assert comparable(table) == comparable([{k: str(v) for k, v in r.items()} for r in rows])
    summary = json.loads((out / "summary.json").read_text())
    assert [f["image"] for f in summary["failures"]] == ["dog/broken.jpg"]
    assert "not a readable image" in summary["failures"][0]["error"]
    assert summary["missing"] == [] and summary["images"] == 9 and summary["results"] == 16
    stats = summary["per_method"]["gradcam"]
    deletion = [r["deletion_auc"] for r in rows if r["method"] == "gradcam"]
    assert stats["deletion_auc"]["mean"] == pytest.approx(np.mean(deletion))
    low, high = stats["deletion_auc"]["ci95"]
    assert min(deletion) <= low <= stats["deletion_auc"]["mean"] <= high <= max(deletion)
    assert set(stats["per_class"]) == {"cat", "dog"}
    assert stats["per_class"]["cat"]["images"] == 4
    assert summary["images_per_second"] > 0
    assert [(r["rank"], r["images"]) for r in summary["ranks"]] == [(0, 9)]
    assert summary["ranks"][0]["peak_rss_mib"] > 0
    assert (out / "report.html").is_file()
    assert not list(out.rglob(".*")), "temporary files left behind"


def test_batched_results_equal_one_image_at_a_time(tmp_path, tiny):
    root = make_folder(tmp_path / "data", per_class=3, bad=False)
    rows = explain_dataset(root, ["gradcam"], tmp_path / "out", model=tiny, batch_size=4,
                           **LIGHT)
    from captum_igos.models import load_image

    for row in rows:
        x = tiny.batch(load_image(root / row["image"]))
        target = int(tiny.model(x).argmax())
        attribution = LayerGradCam(tiny.model, tiny.default_layer).attribute(x, target=target)
        curves = deletion_insertion(tiny.model, x, attribution, target=target, n_steps=4)
        assert row["target"] == target
        assert row["deletion_auc"] == pytest.approx(float(curves.deletion_auc[0]), abs=1e-6)
        assert row["insertion_auc"] == pytest.approx(float(curves.insertion_auc[0]), abs=1e-6)


def test_a_map_igos_calls_empty_is_empty_in_the_table(tmp_path, tiny, monkeypatch):
    """The status follows the EmptyMapWarning's batch indices, not only constant maps."""
    import warnings

    import captum_igos

    def second_one_barely_moved(self, inputs, *args, **kwargs):
        warnings.warn(captum_igos.EmptyMapWarning("IGOS: ... [1] is empty ...", [1]), stacklevel=2)
        return torch.rand(inputs.shape, generator=torch.Generator().manual_seed(0)) * 1e-6

    monkeypatch.setattr(captum_igos.IGOS, "attribute", second_one_barely_moved)
    root = make_folder(tmp_path / "data", per_class=2, bad=False)
    rows = explain_dataset(root, ["igos"], tmp_path / "out", model=tiny, batch_size=4, **LIGHT)
    assert [r["map_status"] for r in rows] == ["ok", "empty", "ok", "ok"]


def test_a_stopped_run_resumes_with_nothing_missing_and_nothing_twice(tmp_path, tiny,
                                                                      monkeypatch):
    root = make_folder(tmp_path / "data")
    methods = ["gradcam", "rsi-gradcam"]
    whole = explain_dataset(root, methods, tmp_path / "whole", model=tiny, batch_size=2, **LIGHT)

    out = tmp_path / "stopped"
    real = ResultStore.write_record
    calls = []

    def stop_on_the_sixth(self, tag, key, record):
        calls.append(key)
        if len(calls) == 6:
            raise KeyboardInterrupt
        real(self, tag, key, record)

    monkeypatch.setattr(ResultStore, "write_record", stop_on_the_sixth)
    with pytest.raises(KeyboardInterrupt):
        explain_dataset(root, methods, out, model=tiny, batch_size=2, **LIGHT)
    monkeypatch.setattr(ResultStore, "write_record", real)
    stored = sorted(p for p in (out / "records").rglob("*.json"))
    assert len(stored) == 5, "every finished result is kept, the one in flight is not"
    before = {p: p.stat().st_mtime_ns for p in stored}

    resumed = explain_dataset(root, methods, out, model=tiny, batch_size=2, **LIGHT)
    assert comparable(read_csv(out / "results.csv")) == comparable(
        read_csv(tmp_path / "whole" / "results.csv"))
    assert [(r["image"], r["method"]) for r in resumed] == [
        (r["image"], r["method"]) for r in whole]
    assert len({(r["image"], r["method"]) for r in resumed}) == len(resumed) == 16
    assert {p: p.stat().st_mtime_ns for p in stored} == before, "finished results rewritten"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images_this_run"] == 7  # cat/2 (one method left), cat/3, dog, broken

    again = explain_dataset(root, methods, out, model=tiny, batch_size=2, **LIGHT)
    assert again == resumed
    assert json.loads((out / "summary.json").read_text())["images_this_run"] == 1  # broken


def test_file_lists_with_targets(tmp_path, tiny):
    root = make_folder(tmp_path / "data", per_class=2, bad=False)
    (tmp_path / "data" / "list.txt").write_text("# image target\ncat/1.png dog\ndog/0.png 2\n")
    (tmp_path / "data" / "list.csv").write_text("image,target\ncat/0.png,fish\ndog/1.png,\n")
    rows = explain_dataset(root / "list.txt", ["gradcam"], tmp_path / "a", model=tiny,
                           target="label", **LIGHT)
    assert [(r["image"], r["target"], r["label"]) for r in rows] == [
        ("cat/1.png", 1, "dog"), ("dog/0.png", 2, "2")]
    rows = explain_dataset(root / "list.csv", ["gradcam"], tmp_path / "b", model=tiny,
                           target="fish", **LIGHT)
    assert [(r["image"], r["target"], r["label"]) for r in rows] == [
        ("cat/0.png", 2, "fish"), ("dog/1.png", 2, None)]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_empty_root_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    status = cli.main(["explain-dataset", str(tmp_path / "empty"), "--methods", "gradcam",
                       "--out", str(tmp_path / "out"), *LIGHT_ARGS])
    line = one_error_line(capsys.readouterr().err)
    assert status == 1 and "no image files" in line and str(tmp_path / "empty") in line
    status = cli.main(["explain-dataset", str(tmp_path / "nowhere"), "--out",
                       str(tmp_path / "out"), *LIGHT_ARGS])
    assert status == 1 and "no such file or folder" in one_error_line(capsys.readouterr().err)


def test_cli_runs_with_the_registry_options(tmp_path, capsys):
    root = make_folder(tmp_path / "data", per_class=1, bad=False)
    out = tmp_path / "out"
    status = cli.main(["explain-dataset", str(root), "--methods", "gradcam,random", "--out",
                       str(out), "--batch-size", "2", "--internal-batch-size", "4",
                       *LIGHT_ARGS])
    assert status == 0, capsys.readouterr().err
    assert [(r["image"], r["method"]) for r in read_csv(out / "results.csv")] == [
        ("cat/0.png", "gradcam"), ("cat/0.png", "random"), ("dog/0.png", "gradcam"),
        ("dog/0.png", "random")]
