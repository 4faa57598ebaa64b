"""``explain-dataset`` under ``torchrun`` with gloo and 2 CPU ranks, against one process.

Each test starts ``python -m torch.distributed.run --standalone --nproc_per_node=2 -m
captum_igos explain-dataset ...`` as a user would, on the tiny random-weight model, and
compares ``results.csv`` with an in-process run of one rank. The methods are the
deterministic ones (Grad-CAM, RSI-Grad-CAM), whose maps do not depend on which images
share a batch, so any split must give the same rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from captum_igos.runs import explain_dataset
from captum_igos.runs.sharding import share
from captum_igos.runs.sources import list_images
from tests.runs import tiny_model
from tests.runs.test_dataset import LIGHT, LIGHT_ARGS, comparable, make_folder, read_csv

REPO = Path(__file__).resolve().parents[2]
METHODS = ["gradcam", "rsi-gradcam"]


def torchrun(root: Path, out: Path, *extra: str, env: dict | None = None,
             quiet: bool = True) -> subprocess.CompletedProcess:
    """2 gloo ranks on CPUs, launched by torchrun exactly as the README shows."""
    args = [a for a in LIGHT_ARGS if quiet or a != "--quiet"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
               "--nproc_per_node=2", "-m", "captum_igos", "explain-dataset", str(root),
               "--methods", ",".join(METHODS), "--out", str(out), "--batch-size", "2",
               *args, *extra]
    environment = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1",
                       MPLBACKEND="Agg", **(env or {}))
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=300)


def records(out: Path) -> dict[tuple[str, str], dict]:
    """Every stored record by (image, method)."""
    found = {}
    for path in sorted((out / "records").rglob("*.json")):
        record = json.loads(path.read_text())
        assert (record["image"], record["method"]) not in found, f"{path} twice"
        found[record["image"], record["method"]] = record
    return found


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """8 readable images of two classes and a broken one, and the table of one process."""
    tmp = tmp_path_factory.mktemp("torchrun")
    root = make_folder(tmp / "data")
    one = tmp / "one"
    explain_dataset(root, METHODS, one, model=tiny_model.build(), batch_size=3, **LIGHT)
    return root, read_csv(one / "results.csv")


def test_two_gloo_ranks_give_the_rows_of_one_process(dataset, tmp_path):
    root, single = dataset
    out = tmp_path / "two"
    done = torchrun(root, out, quiet=False)
    assert done.returncode == 1, done.stderr[-3000:]  # 1: dog/broken.jpg failed
    assert comparable(read_csv(out / "results.csv")) == comparable(single)

    summary = json.loads((out / "summary.json").read_text())
    assert (summary["world_size"], summary["backend"]) == (2, "gloo")
    assert [f["image"] for f in summary["failures"]] == ["dog/broken.jpg"]
    assert summary["missing"] == [] and summary["results"] == 16
    assert [(r["rank"], r["images"]) for r in summary["ranks"]] == [(0, 5), (1, 4)]
    assert all(r["peak_rss_mib"] > 0 for r in summary["ranks"])

    # each rank explained exactly its strided share: nothing twice, no padding
    names = [image.name for image in list_images(root).images]
    readable = [name for name in names if name != "dog/broken.jpg"]
    stored = records(out)
    for rank in (0, 1):
        mine = [name for name in share(names, rank, 2) if name in readable]
        assert sorted(key for key, r in stored.items() if r["rank"] == rank) == sorted(
            (name, method) for name in mine for method in METHODS)
    assert not list(out.rglob(".*")), "temporary files left behind"

    # one progress bar (rank 0's), which reached every image of both ranks
    bars = done.stderr.count("0/9 [")
    assert bars == 1 and "9/9 [" in done.stderr, done.stderr[-3000:]


def test_a_rank_killed_in_a_batch_loses_only_that_batch_and_a_rerun_completes(dataset,
                                                                              tmp_path):
    root, single = dataset
    out = tmp_path / "killed"
    # Rank 1's share is cat/1, cat/3 | dog/1, dog/3 (batches of 2). Each batch makes 7 model
    # calls: 1 for the targets, 3 for Grad-CAM and its metric, 3 for RSI-Grad-CAM and its
    # metric. Call 12 is RSI-Grad-CAM on its second batch: the process ends there.
    died = torchrun(root, out, "--model", "tests.runs.tiny_model:build_exiting",
                    env={tiny_model.EXIT_RANK: "1", tiny_model.EXIT_AT_CALL: "12"})
    assert died.returncode != 0 and not (out / "results.csv").exists(), died.stderr[-3000:]
    left = records(out)
    by_rank_1 = sorted(key for key, record in left.items() if record["rank"] == 1)
    assert by_rank_1 == [("cat/1.png", "gradcam"), ("cat/1.png", "rsi-gradcam"),
                         ("cat/3.png", "gradcam"), ("cat/3.png", "rsi-gradcam"),
                         ("dog/1.png", "gradcam"), ("dog/3.png", "gradcam")]
    whole = {(row["image"], row["method"]): row for row in single}
    for key, record in left.items():  # what was stored is complete and right
        assert comparable([{c: "" if v is None else str(v) for c, v in record.items()}]) == (
            comparable([whole[key]]))
    before = {path: path.stat().st_mtime_ns for path in (out / "records").rglob("*.json")}

    rows = explain_dataset(root, METHODS, out, model=tiny_model.build(), batch_size=4, **LIGHT)
    assert comparable(read_csv(out / "results.csv")) == comparable(single)
    assert len({(r["image"], r["method"]) for r in rows}) == len(rows) == 16
    assert {p: p.stat().st_mtime_ns for p in before} == before, "finished results rewritten"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["missing"] == [] and summary["world_size"] == 1
    assert summary["images_this_run"] == 9 - len({image for image, _ in left if
                                                  (image, METHODS[1]) in left})
    assert not list(out.rglob(".*")), "temporary files left behind"
