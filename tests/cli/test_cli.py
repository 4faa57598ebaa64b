"""The ``captum-igos`` command end to end on the offline model, with tiny settings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import LayerGradCam
from PIL import Image

from captum_igos import cli, models
from captum_igos.maps import saliency_map
from captum_igos.metrics import deletion_insertion

FAST = ["--metric-steps", "2", "--quiet"]


@pytest.fixture(scope="module")
def lite0():
    return models.load_model()


@pytest.fixture(autouse=True)
def cached_model(lite0, monkeypatch):
    """Load the default model once per module; other names go through the real loader."""
    real = models.load_model

    def load(name=models.DEFAULT_MODEL, **kwargs):
        return lite0 if name == models.DEFAULT_MODEL else real(name, **kwargs)

    monkeypatch.setattr(models, "load_model", load)


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def run(argv, capsys) -> tuple[int, str]:
    status = cli.main([str(a) for a in argv])
    return status, capsys.readouterr().err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_explain_writes_maps_curves_and_summary(tmp_path, capsys, lite0, photo):
    out = tmp_path / "out"
    sample = models.sample_image_path()
    status, err = run(["explain", sample, photo, "--method", "gradcam,random", "--out", out,
                       *FAST], capsys)
    assert status == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "efficientnet_lite0" and summary["failures"] == []
    assert [(r["image"], r["method"]) for r in summary["results"]] == [
        (str(sample), "gradcam"), (str(sample), "random"), (str(photo), "gradcam"),
        (str(photo), "random")]
    for key in ("grace_hopper", "photo"):
        names = sorted(p.name for p in (out / key).iterdir())
        assert names == ["gradcam.json", "gradcam.npy", "gradcam.png", "gradcam_curves.png",
                         "random.json", "random.npy", "random.png", "random_curves.png"]
    assert not [p for p in out.rglob(".*")], "temporary files left behind"
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_file()}
    assert modes == {0o666 & ~umask}, "results must be ordinary files, not mkstemp's 0600"

    # The numbers are those of the library called directly.
    x = lite0.batch(models.sample_image())
    with torch.no_grad():
        probabilities = lite0.model(x).softmax(dim=1)[0]
    record = summary["results"][0]
    assert record["class_name"] == "academic gown" == lite0.class_names[record["class_index"]]
    assert record["probability"] == pytest.approx(probabilities.max().item(), rel=1e-5)
    target = record["class_index"]
    expected = LayerGradCam(lite0.model, lite0.model.bn2).attribute(x, target=target).detach()
    heatmap = np.load(out / "grace_hopper" / "gradcam.npy")
    assert heatmap.shape == (224, 224) and heatmap.dtype == np.float32
    np.testing.assert_allclose(heatmap, saliency_map(expected, (224, 224), 1)[0].numpy(),
                               rtol=1e-4, atol=1e-6)
    curves = deletion_insertion(lite0.model, x, expected, target=[record["class_index"]], n_steps=2)
    assert record["deletion_auc"] == pytest.approx(curves.deletion_auc.item(), rel=1e-4)
    assert record["insertion_auc"] == pytest.approx(curves.insertion_auc.item(), rel=1e-4)
    assert record["attribution_seconds"] >= 0 and record["metric_seconds"] > 0
    assert Image.open(out / "grace_hopper" / "gradcam.png").size == (400, 400)


def test_rerun_resumes_and_keeps_what_is_written(tmp_path, capsys, photo):
    out = tmp_path / "out"
    argv = ["explain", photo, "--method", "saliency", "--method", "random", "--out", out, *FAST]
    assert run(argv, capsys)[0] == 0
    folder = out / "photo"
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    status, err = run(argv, capsys)
    assert status == 0 and "2 result(s) (2 already there)" in err
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps

    (folder / "random_curves.png").unlink()  # an interrupted item is redone, alone
    status, err = run(argv, capsys)
    assert status == 0 and "(1 already there)" in err
    assert (folder / "random_curves.png").is_file()
    assert (folder / "saliency.png").stat().st_mtime_ns == stamps["saliency.png"]

    # Other settings never overwrite silently.
    status, err = run([*argv, "--seed", "1"], capsys)
    assert status == 1
    assert "random.json exists with other settings (method_settings" in err
    assert (folder / "saliency.png").stat().st_mtime_ns == stamps["saliency.png"]
    status, err = run([*argv, "--seed", "1", "--force"], capsys)
    assert status == 0 and "(0 already there)" in err
    assert json.loads((folder / "random.json").read_text())["method_settings"]["seed"] == 1


def test_bad_images_are_reported_and_the_rest_goes_on(tmp_path, capsys, photo):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"not an image at all")
    out = tmp_path / "out"
    status, err = run(["explain", tmp_path / "missing.jpg", corrupt, photo, "--method", "random",
                       "--out", out, *FAST], capsys)
    assert status == 1
    lines = err.splitlines()
    assert any(line.startswith("captum-igos: failed: cannot read image '")
               and "missing.jpg': no such file" in line for line in lines)
    assert any("corrupt.jpg': not a readable image" in line for line in lines)
    assert "Traceback" not in err
    assert (out / "photo" / "random.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["results"]) == 1 and len(summary["failures"]) == 2


def test_a_failing_write_leaves_no_partial_file(tmp_path, capsys, photo, monkeypatch):
    import captum_igos.visualization as visualization

    def broken(fig, path, **kwargs):
        Path(path).write_bytes(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(visualization, "save_figure", broken)
    out = tmp_path / "out"
    status, err = run(["explain", photo, "--method", "random", "--out", out, *FAST], capsys)
    assert status == 1 and "[random]: OSError: disk full" in err
    assert sorted(p.name for p in (out / "photo").iterdir()) == ["random.npy"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "gradkam"], "argument --method: unknown method 'gradkam'; choose from igos"),
        (["--model", "no_such_net"], "--model: expected a model name: 'efficientnet_lite0'"),
        (["--layer", "blocks.99"], "--layer: expected a layer name of model 'efficientnet_lite0'"),
        (["--target", "1000"], r"--target: expected a class index in [0, 999], got 1000"),
        (["--target", "unicorn"], "--target: expected a class index in [0, 999] or an ImageNet"),
        (["--metric-steps", "0"], "argument --metric-steps: expected a positive integer, got '0'"),
    ],
)
def test_usage_errors_are_one_line(tmp_path, capsys, photo, extra, message):
    status, err = run(["explain", photo, "--out", tmp_path / "out", *FAST, *extra], capsys)
    assert status in (1, 2)
    line = one_error_line(err)
    assert line.startswith("captum-igos") and message in line


def test_unwritable_output_folder(tmp_path, capsys, photo):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    status, err = run(["explain", photo, "--out", blocker / "out", *FAST], capsys)
    assert status == 1
    assert one_error_line(err).startswith(f"captum-igos: error: cannot write to output folder "
                                          f"'{blocker / 'out'}': ")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is absent")
def test_cuda_requested_without_a_device(tmp_path, capsys, photo):
    status, err = run(["explain", photo, "--device", "cuda", "--out", tmp_path, *FAST], capsys)
    assert status == 1 and "--device cuda: no CUDA device is available" in one_error_line(err)


def test_unavailable_model_fails_fast_with_one_line(tmp_path, capsys, photo, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    status, err = run(["explain", photo, "--model", "resnet18", "--out", tmp_path / "o", *FAST],
                      capsys)
    assert status == 1
    line = one_error_line(err)
    assert "weights of torchvision model 'resnet18' are not in the local cache" in line


def test_compare_draws_all_methods_and_reuses_finished_ones(tmp_path, capsys, photo):
    out = tmp_path / "out"
    argv = ["compare", photo, "--methods", "gradcam,igos,rsi-gradcam,ig,occlusion", "--out", out,
            "--iterations", "1", "--igos-steps", "2", "--rsi-steps", "2",
            "--ig-steps", "2", "--occlusion-window", "112", "--occlusion-stride", "112", *FAST]
    status, err = run(argv, capsys)
    assert status == 0, err
    figure = out / "photo" / "compare.png"
    assert Image.open(figure).size == (6 * 250, 250)
    figure.unlink()
    status, err = run(argv, capsys)
    assert status == 0 and "(5 already there)" in err and figure.is_file()
    records = json.loads((out / "summary.json").read_text())["results"]
    igos = next(r for r in records if r["method"] == "igos")
    assert igos["method_settings"] == {"mask_size": 28, "iterations": 1, "n_steps": 2,
                                       "optimizer": "line_search", "objective": "normalized",
                                       "seed": 0,
                                       "internal_batch_size": None}
    heatmap = np.load(out / "photo" / "igos.npy")
    assert heatmap.min() >= 0 and 0 < heatmap.max() <= 1  # I-GOS heatmaps are 1 - up(M)


def test_demo_explains_the_bundled_photo(tmp_path, capsys):
    status, err = run(["demo", "--methods", "gradcam", "--out", tmp_path, *FAST], capsys)
    assert status == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["command"] == "demo"
    assert summary["results"][0]["image"] == str(models.sample_image_path())
    assert summary["results"][0]["class_name"] == "academic gown"
    assert (tmp_path / "grace_hopper" / "compare.png").is_file()


def test_help_explains_every_option():
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == {"explain", "compare", "demo", "explain-dataset"}
    for name, sub in commands.items():
        text = sub.format_help()
        for action in sub._actions:
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
            for option in action.option_strings:
                assert option in text
    assert all(method in parser.format_help() for method in cli.METHODS)


def test_python_dash_m_runs_the_command():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "captum_igos", "explain", "--help"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: captum-igos explain [-h]")
    assert "--occlusion-window PX" in result.stdout


def test_an_all_zero_map_is_drawn_as_the_plain_image(tmp_path, capsys, photo, monkeypatch):
    """Captum's visualize_image_attr cannot scale an all-zero map (I-GOS returns one when
    its optimisation stops at once); the overlay shows the image and says so."""
    real = cli.attribute

    def zero_for_random(name, context, inputs, target, settings):
        result = real(name, context, inputs, target, settings)
        return torch.zeros_like(result) if name == "random" else result

    monkeypatch.setattr(cli.explain, "attribute", zero_for_random)
    out = tmp_path / "out"
    status, err = run(["compare", photo, "--methods", "random,saliency", "--out", out, *FAST],
                      capsys)
    assert status == 0, err
    assert Image.open(out / "photo" / "random.png").size == (400, 400)
    assert np.load(out / "photo" / "random.npy").max() == 0
    assert Image.open(out / "photo" / "compare.png").size == (2 * 250, 250)  # image + saliency


def test_demo_uses_its_light_settings_unless_overridden():
    parser = cli.build_parser()
    options = parser.parse_args(["demo"])
    for key, value in cli.DEMO_SETTINGS.items():
        assert getattr(options, key) == value
    assert parser.parse_args(["demo", "--metric-steps", "3"]).metric_steps == 3
    explain = parser.parse_args(["explain", "x.jpg"])
    assert (explain.optimizer, explain.metric_steps, explain.rsi_steps) == ("line_search", 50, 50)


def test_an_empty_igos_map_is_recorded_and_warned_in_one_line(tmp_path, capsys, monkeypatch):
    import warnings

    import captum_igos

    def empty_attribute(self, inputs, *args, **kwargs):
        warnings.warn("IGOS: the map of image(s) [0] is empty (all zeros): stopped_at_start; "
                      "try a smaller l1_coeff", UserWarning, stacklevel=2)
        return torch.zeros_like(inputs)

    monkeypatch.setattr(captum_igos.IGOS, "attribute", empty_attribute)
    out = tmp_path / "out"
    status, err = run(["explain", models.sample_image_path(), "--method", "igos,random",
                       "--out", out, *FAST], capsys)
    assert status == 0, err
    lines = [line for line in err.splitlines() if "is empty" in line]
    assert len(lines) == 1 and "[igos]" in lines[0]
    assert lines[0].startswith("captum-igos: warning: ")
    records = {r["method"]: r for r in json.loads((out / "summary.json").read_text())["results"]}
    assert records["igos"]["map_status"] == "empty"
    assert "stopped_at_start" in records["igos"]["map_warning"]
    assert records["random"]["map_status"] == "ok" and records["random"]["map_warning"] is None
