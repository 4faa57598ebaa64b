"""Discovery that cannot loop or eat its own output: each file at most once, symlinked
folders followed once, ``--out`` under ROOT never read, long names stored under hashed
names, and every entry not taken listed in ``summary.json`` with its reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captum_igos import cli
from captum_igos.runs import ConfigError, explain_dataset
from captum_igos.runs.sources import MAX_PART_BYTES, list_files, list_images, storage_key
from tests.runs.test_dataset import LIGHT, LIGHT_ARGS, read_csv


def picture(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def skipped(out: Path) -> dict[str, str]:
    return {s["entry"]: s["reason"] for s in json.loads((out / "summary.json").read_text())[
        "skipped"]}


def test_a_symlink_loop_explains_each_image_once(tmp_path):
    root = tmp_path / "d"
    picture(root / "cat" / "a.png")
    picture(root / "cat" / "b.png", 1)
    os.symlink(".", root / "cat" / "again")  # the loop of the issue: explained 41 times before
    os.symlink("cat", root / "dog")  # a second name for the same folder
    rows = explain_dataset(root, ["gradcam"], tmp_path / "out",
                           model="tests.runs.tiny_model:build", **LIGHT)
    assert [r["image"] for r in rows] == ["cat/a.png", "cat/b.png"]
    assert skipped(tmp_path / "out") == {
        "cat/again": "link to a folder listed already ('cat'): followed once",
        "dog": "link to a folder listed already ('cat'): followed once"}


def test_out_inside_root_is_never_read_and_reruns_do_not_grow(tmp_path, capsys):
    root = tmp_path / "d"
    for i in range(2):
        picture(root / "cat" / f"{i}.png", i)
    out = root / "results"
    argv = ["explain-dataset", str(root), "--methods", "gradcam", "--out", str(out),
            *LIGHT_ARGS]
    for _ in range(3):
        assert cli.main(argv) == 0, capsys.readouterr().err
        assert [r["image"] for r in read_csv(out / "results.csv")] == ["cat/0.png", "cat/1.png"]
    assert skipped(out) == {"results": "the output folder (--out) is never read as input"}
    assert "captum-igos: skipped: results: the output folder" in capsys.readouterr().err


def test_a_240_byte_name_is_stored_under_a_hashed_name(tmp_path):
    root = tmp_path / "d"
    long_name = "é" * 100 + "x" * 36 + ".png"  # 240 bytes: legal, near the 255-byte limit
    assert len(long_name.encode()) == 240
    picture(root / "cat" / long_name)
    picture(root / "cat" / "short.png", 1)
    out = tmp_path / "out"
    rows = explain_dataset(root, ["gradcam", "random"], out,
                           model="tests.runs.tiny_model:build", save_maps=True, **LIGHT)
    assert [r["image"] for r in rows] == ["cat/short.png"] * 2 + [f"cat/{long_name}"] * 2
    stored = [p for p in out.rglob("*") if p.is_file()]
    assert max(len(p.name.encode()) for p in stored) <= MAX_PART_BYTES + len(".png.json")
    assert len(list((out / "records").rglob("*.json"))) == 4
    again = explain_dataset(root, ["gradcam", "random"], out,
                            model="tests.runs.tiny_model:build", **LIGHT)
    assert json.loads((out / "summary.json").read_text())["images_this_run"] == 0
    assert [r["image"] for r in again] == [r["image"] for r in rows]


def test_storage_keys_stay_short_and_distinct():
    first, second = "a" * 200 + "1.png", "a" * 200 + "2.png"
    keys = [storage_key(f"cat/{name}") for name in (first, second)]
    assert keys[0] != keys[1]
    assert all(len(part.encode()) <= MAX_PART_BYTES for key in keys for part in key.split("/"))
    assert storage_key("cat/short.png") == "cat/short.png"


def test_every_entry_not_taken_is_listed_with_its_reason(tmp_path):
    root = tmp_path / "d"
    picture(root / "cat" / "a.png")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / ".hidden.png").write_bytes(b"")
    os.symlink(root / "cat" / "gone.png", root / "cat" / "dangling.png")
    os.symlink(root / "cat" / "a.png", root / "cat" / "same.png")
    listing = list_images(root)
    assert [image.name for image in listing.images] == ["cat/a.png"]
    assert {s.entry: s.reason for s in listing.skipped} == {
        "cat/.hidden.png": "hidden", "cat/dangling.png": "dangling link",
        "cat/notes.txt": "not an image file (extension)",
        "cat/same.png": "the same file as 'cat/a.png'"}


def test_files_given_twice_are_explained_once(tmp_path):
    first = picture(tmp_path / "a" / "photo.png")
    second = picture(tmp_path / "b" / "photo.png", 1)
    listing = list_files([first, second, first, tmp_path / "a" / ".." / "a" / "photo.png"])
    assert [image.name for image in listing.images] == [str(first), str(second)]
    assert [image.key[:6] for image in listing.images] == ["photo."] * 2
    assert len({image.key for image in listing.images}) == 2
    assert [s.reason for s in listing.skipped] == ["listed twice",
                                                   f"the same file as {str(first)!r}"]


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_a_root_with_no_images_is_a_config_error(tmp_path, make):
    root = tmp_path / "root"
    if make == "empty":
        (root / "cat").mkdir(parents=True)
    elif make == "file":
        root.write_text("")
    with pytest.raises(ConfigError, match=r"^root: "):
        list_images(root)
