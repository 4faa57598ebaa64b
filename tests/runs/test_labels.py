"""``--target label``: a folder or list target is a class index, a class name or an ImageNet
WordNet id, else a one-line error before any image is explained; sorted position only by
name (``--label-rule sorted``); every record says which rule mapped its target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captum_igos import cli
from captum_igos.runs import ConfigError, explain_dataset
from captum_igos.runs.labels import fixed_class, label_classes
from tests.runs import tiny_model
from tests.runs.test_dataset import LIGHT

IMAGENET = "tests.runs.tiny_model:build_imagenet"


def folders(root: Path, *names: str) -> Path:
    """``root/<name>/0.png`` for every name (one random picture each)."""
    rng = np.random.default_rng(0)
    for name in names:
        (root / name).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(
            root / name / "0.png")
    return root


@pytest.fixture
def counted_forwards(monkeypatch):
    """Counts the forward calls of every tiny model built from here on."""
    calls = []
    real = tiny_model.build

    def build(device="cpu", classes=tiny_model.CLASSES):
        loaded = real(device, classes)
        loaded.model.register_forward_pre_hook(lambda *args: calls.append(1))
        return loaded

    monkeypatch.setattr(tiny_model, "build", build)
    return calls


def test_person_and_scene_folders_are_one_line_naming_them_before_any_work(
        tmp_path, capsys, counted_forwards):
    root = folders(tmp_path / "data", "person", "scene", "zebra")
    out = tmp_path / "out"
    status = cli.main(["explain-dataset", str(root), "--methods", "gradcam", "--target",
                       "label", "--model", IMAGENET, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("captum-igos: error: --target: label: expected each label")
    assert "got 2 that are not: 'person', 'scene' (--label-rule sorted" in lines[0]
    assert counted_forwards == [] and not out.exists()


def test_the_python_api_raises_the_same_error(tmp_path, counted_forwards):
    root = folders(tmp_path / "data", "person", "scene")
    with pytest.raises(ConfigError, match=r"target: label: .*'person', 'scene'"):
        explain_dataset(root, ["gradcam"], tmp_path / "out", model=IMAGENET, target="label",
                        **LIGHT)
    assert counted_forwards == []


def test_wordnet_folders_map_through_timms_synset_table(tmp_path):
    """n02391049 is zebra (340) and n01440764 tench (0): not their sorted positions."""
    root = folders(tmp_path / "data", "n02391049", "n01440764", "n09999999x")
    (root / "n09999999x" / "0.png").unlink()
    (root / "n09999999x").rmdir()
    rows = explain_dataset(root, ["gradcam"], tmp_path / "out", model=IMAGENET,
                           target="label", **LIGHT)
    assert [(r["label"], r["target"], r["class_name"], r["label_rule"]) for r in rows] == [
        ("n01440764", 0, "tench", "wordnet"), ("n02391049", 340, "zebra", "wordnet")]


def test_class_name_and_class_index_folders(tmp_path):
    root = folders(tmp_path / "data", "Zebra", "340", "7")
    rows = explain_dataset(root, ["gradcam"], tmp_path / "out", model=IMAGENET,
                           target="label", **LIGHT)
    assert [(r["label"], r["target"], r["label_rule"]) for r in rows] == [
        ("340", 340, "index"), ("7", 7, "index"), ("Zebra", 340, "name")]


def test_sorted_position_only_when_asked_for_by_name(tmp_path, capsys):
    root = folders(tmp_path / "data", "person", "scene")
    rows = explain_dataset(root, ["gradcam"], tmp_path / "out", model=IMAGENET,
                           target="label", label_rule="sorted", **LIGHT)
    assert [(r["label"], r["target"], r["class_name"], r["label_rule"]) for r in rows] == [
        ("person", 0, "tench", "sorted"), ("scene", 1, "goldfish", "sorted")]
    table = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert table[1].startswith("person/0.png,gradcam,0,tench,person,sorted,")


def test_a_wordnet_id_is_no_class_of_a_model_with_other_classes():
    tiny = tiny_model.build()
    with pytest.raises(ConfigError, match=r"got 1 that are not: 'n02391049'"):
        label_classes(["n02391049", "cat"], tiny)
    assert label_classes(["cat", "4"], tiny) == {"cat": (0, "name"), "4": (4, "index")}
    with pytest.raises(ConfigError, match=r"at most 5 labels for model 'tiny', got 6"):
        label_classes(list("abcdef"), tiny, "sorted")


def test_a_fixed_target_is_read_by_the_same_rules():
    imagenet = tiny_model.build_imagenet()
    assert fixed_class("n02391049", imagenet) == (340, "wordnet")
    assert fixed_class("Zebra", imagenet) == (340, "name")
    assert fixed_class(" 340 ", imagenet) == (340, "index")
    with pytest.raises(ConfigError, match=r"'cardigan' \(the name of classes 264, 474"):
        fixed_class("cardigan", imagenet)
    with pytest.raises(ConfigError, match=r"got '1000' \(an index beyond the model's 1000"):
        fixed_class("1000", imagenet)
