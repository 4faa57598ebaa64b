"""The ``captum-igos`` command end to end: every command is the run engine on a list of
files; the offline model where numbers are compared with the library, else the tiny one."""

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
from tests.runs.test_dataset import read_csv

FAST = ["--metric-steps", "2", "--quiet"]
#: The tiny random-weight model (tests/runs/tiny_model.py) with light settings.
TINY = ["--model", "tests.runs.tiny_model:build", "--device", "cpu", "--batch-size", "1",
        "--iterations", "1", "--igos-steps", "2", "--mask-size", "4", "--rsi-steps", "2",
        "--ig-steps", "2", "--occlusion-window", "8", "--occlusion-stride", "8", *FAST]


@pytest.fixture(scope="module")
def lite0():
    return models.load_model()


@pytest.fixture
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


def records(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "records").rglob("*.json"))]


def test_explain_gives_the_numbers_of_the_library(tmp_path, capsys, lite0, cached_model, photo):
    out = tmp_path / "out"
    sample = models.sample_image_path()
    status, err = run(["explain", sample, photo, "--methods", "gradcam,random", "--out", out,
                       *FAST], capsys)
    assert status == 0, err
    table = read_csv(out / "results.csv")
    assert [(r["image"], r["method"]) for r in table] == [
        (str(sample), "gradcam"), (str(sample), "random"), (str(photo), "gradcam"),
        (str(photo), "random")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == "explain" and summary["model"] == "efficientnet_lite0"
    assert summary["failures"] == [] and summary["results"] == 4
    assert (out / "report.html").is_file()
    assert not [p for p in out.rglob(".*")], "temporary files left behind"
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_file()}
    assert modes == {0o666 & ~umask}, "results must be ordinary files, not mkstemp's 0600"

    x = lite0.batch(models.sample_image())
    with torch.no_grad():
        probabilities = lite0.model(x).softmax(dim=1)[0]
    record = next(r for r in records(out) if r["image"] == str(sample) and
                  r["method"] == "gradcam")
    target = record["target"]
    assert record["class_name"] == "academic gown" == lite0.class_names[target]
    assert record["label_rule"] is None and record["settings"]["target"] == "top1"
    assert record["probability"] == pytest.approx(probabilities.max().item(), rel=1e-5)
    expected = LayerGradCam(lite0.model, lite0.model.bn2).attribute(x, target=target).detach()
    heatmap = np.load(out / record["map"])
    assert heatmap.shape == (224, 224) and heatmap.dtype == np.float32
    np.testing.assert_allclose(heatmap, saliency_map(expected, (224, 224), 1)[0].numpy(),
                               rtol=1e-4, atol=1e-6)
    curves = deletion_insertion(lite0.model, x, expected, target=[target], n_steps=2)
    assert record["deletion_auc"] == pytest.approx(curves.deletion_auc.item(), rel=1e-4)
    assert record["insertion_auc"] == pytest.approx(curves.insertion_auc.item(), rel=1e-4)
    # the two images went through in one call: seconds is the batch's time shared evenly
    assert record["batch_images"] == 2
    assert record["seconds"] == pytest.approx(record["batch_seconds"] / 2, abs=1e-4)
    assert Image.open(out / record["picture"]).size == (224, 224)


def test_seconds_is_named_for_what_it_is_in_the_csv_and_the_report(tmp_path, capsys, photo):
    second = tmp_path / "second.png"
    second.write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    status, err = run(["explain", photo, second, "--methods", "saliency", "--out", out,
                       *TINY, "--batch-size", "2"], capsys)
    assert status == 0, err
    table = read_csv(out / "results.csv")
    assert [r["batch_images"] for r in table] == ["2", "2"]
    assert table[0]["batch_seconds"] == table[1]["batch_seconds"]
    assert float(table[0]["seconds"]) == pytest.approx(float(table[0]["batch_seconds"]) / 2,
                                                       abs=1e-4)
    report = (out / "report.html").read_text()
    assert "seconds = batch_seconds / batch_images" in report
    assert "<th>batch_seconds</th><th>batch_images</th>" in report


def test_rerun_resumes_and_keeps_what_is_written(tmp_path, capsys, photo):
    out = tmp_path / "out"
    argv = ["explain", photo, "--methods", "saliency", "--method", "random", "--out", out, *TINY]
    assert run(argv, capsys)[0] == 0
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png") if "pictures" in p.parts}

    status, err = run([*argv, "--internal-batch-size", "3"], capsys)  # speed only: reused
    assert status == 0 and "2 result(s) for 1 image(s), 0 image(s) explained now" in err
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    random_record = next((out / "records").glob("random-*/**/*.json"))
    random_record.unlink()  # an interrupted result is redone, alone
    status, err = run(argv, capsys)
    assert status == 0 and "1 image(s) explained now" in err and random_record.is_file()
    saliency = next(p for p in stamps if "saliency" in str(p))
    assert saliency.stat().st_mtime_ns == stamps[saliency]

    # Other settings: stored beside, never over, the first results.
    status, err = run([*argv, "--seed", "1"], capsys)
    assert status == 0 and "1 image(s) explained now" in err
    seeds = sorted(r["settings"]["method_settings"].get("seed", -1) for r in records(out)
                   if r["method"] == "random")
    assert seeds == [0, 1]
    assert all(r["settings"]["metric_ties"] == "random" for r in records(out))
    status, err = run([*argv, "--force"], capsys)
    assert status == 0 and "1 image(s) explained now" in err


def test_bad_images_are_reported_and_the_rest_goes_on(tmp_path, capsys, photo):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"not an image at all")
    out = tmp_path / "out"
    status, err = run(["explain", tmp_path / "missing.jpg", corrupt, photo, "--methods",
                       "random", "--out", out, *TINY], capsys)
    assert status == 1
    lines = err.splitlines()
    assert any(line.startswith("captum-igos: failed: ") and "missing.jpg': no such file"
               in line for line in lines)
    assert any("corrupt.jpg': not a readable image" in line for line in lines)
    assert "Traceback" not in err
    assert [r["image"] for r in read_csv(out / "results.csv")] == [str(photo)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["results"] == 1 and len(summary["failures"]) == 2


def test_a_failing_write_leaves_no_partial_file(tmp_path, capsys, photo, monkeypatch):
    from captum_igos.runs.store import ResultStore

    real = ResultStore.write_picture

    def broken(self, path, picture):
        if "input" in path.parts:
            return real(self, path, picture)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        raise OSError("disk full")

    monkeypatch.setattr(ResultStore, "write_picture", broken)
    out = tmp_path / "out"
    status, err = run(["explain", photo, "--methods", "random", "--out", out, *TINY], capsys)
    assert status == 1 and "photo.png [random]: OSError: disk full" in err
    assert not list((out / "records").rglob("*.json"))
    assert not [p for p in out.rglob(".*")], "temporary files left behind"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", "gradkam"], "argument --methods: expected method names from igos, "),
        (["--method", "gradkam"], "argument --methods: expected method names from igos, "),
        (["--model", "no_such_net"], "--model: expected a model name: 'efficientnet_lite0'"),
        (["--layer", "blocks.99"], "--layer: expected a layer name of model 'efficientnet_lite0'"),
        (["--target", "1000"], "--target: expected top1, label, a class index in [0, 999]"),
        (["--target", "unicorn"], "a class name or an ImageNet WordNet id of model "
         "'efficientnet_lite0', got 'unicorn'"),
        (["--metric-steps", "0"], "argument --metric-steps: expected a positive integer, got 0"),
        (["--batch-size", "0"], "argument --batch-size: expected a positive integer, got 0"),
        (["--metric-st", "3"], "--metric-st is not an option (abbreviations are not accepted); "
         "write --metric-steps"),
        (["--batch", "2"], "--batch is not an option (abbreviations are not accepted); write "
         "--batch-size"),
        (["--internal", "2"], "write --internal-batch-size"),
    ],
)
def test_usage_errors_are_one_line(tmp_path, capsys, cached_model, photo, extra, message):
    status, err = run(["explain", photo, "--out", tmp_path / "out", *FAST, *extra], capsys)
    assert status in (1, 2)
    line = one_error_line(err)
    assert line.startswith("captum-igos") and message in line


def test_the_method_alias_and_every_flag_work_in_every_command(tmp_path, capsys, photo):
    for command, extra in (("explain", [photo]), ("compare", [photo]), ("demo", [])):
        out = tmp_path / command
        status, err = run([command, *extra, "--method", "saliency", "--methods", "random",
                           "--out", out, *TINY], capsys)
        assert status == 0, err
        assert [r["method"] for r in read_csv(out / "results.csv")] == ["saliency", "random"]


def test_a_factory_that_fails_is_one_line_naming_it(tmp_path, capsys, photo, monkeypatch):
    from tests.runs import tiny_model

    monkeypatch.setattr(tiny_model, "no_argument", lambda: None, raising=False)
    monkeypatch.setattr(tiny_model, "a_name", lambda device: "tiny", raising=False)
    status, err = run(["explain", photo, "--out", tmp_path / "o", "--model",
                       "tests.runs.tiny_model:no_argument", *FAST], capsys)
    line = one_error_line(err)
    assert status == 1 and line.startswith("captum-igos: error: --model: "
                                           "'tests.runs.tiny_model:no_argument' failed when "
                                           "called with the device 'cpu': TypeError: ")
    status, err = run(["explain", photo, "--out", tmp_path / "o", "--model",
                       "tests.runs.tiny_model:a_name", *FAST], capsys)
    assert "expected 'tests.runs.tiny_model:a_name' to return a captum_igos.models.LoadedModel, "\
        "got str" in one_error_line(err)
    status, err = run(["explain", photo, "--out", tmp_path / "o", "--model",
                       "tests.runs.no_such_module:build", *FAST], capsys)
    assert "--model: cannot import 'tests.runs.no_such_module:build'" in one_error_line(err)
    assert not (tmp_path / "o").exists()


def test_unwritable_output_folder(tmp_path, capsys, photo):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    status, err = run(["explain", photo, "--out", blocker / "out", *TINY], capsys)
    assert status == 1
    assert one_error_line(err).startswith(f"captum-igos: error: cannot write to output folder "
                                          f"'{blocker / 'out'}': ")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is absent")
def test_cuda_requested_without_a_device(tmp_path, capsys, photo):
    status, err = run(["explain", photo, "--out", tmp_path, *TINY, "--device", "cuda"], capsys)
    assert status == 1 and "--device: expected a CUDA device" in one_error_line(err)


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


def test_compare_draws_all_methods_and_redraws_only_what_is_missing(tmp_path, capsys, photo):
    out = tmp_path / "out"
    argv = ["compare", photo, "--methods", "gradcam,igos,rsi-gradcam,ig,occlusion", "--out", out,
            *TINY]
    status, err = run(argv, capsys)
    assert status == 0, err
    figure = next((out / "compare").rglob("*.png"))
    width, height = Image.open(figure).size
    assert width > 3 * height  # the image and five methods side by side
    assert 'alt="' + str(photo) + ' compare"' in (out / "report.html").read_text()
    figure.unlink()
    status, err = run(argv, capsys)
    assert status == 0 and "0 image(s) explained now" in err and figure.is_file()
    igos = next(r for r in records(out) if r["method"] == "igos")
    assert igos["settings"]["method_settings"] == {
        "mask_size": 4, "iterations": 1, "n_steps": 2, "optimizer": "line_search",
        "objective": "normalized", "seed": 0, "internal_batch_size": None}
    heatmap = np.load(out / igos["map"])
    assert heatmap.min() >= 0 and heatmap.max() <= 1  # I-GOS heatmaps are 1 - up(M)


def test_demo_explains_the_bundled_photo(tmp_path, capsys, cached_model):
    status, err = run(["demo", "--methods", "gradcam", "--out", tmp_path, *FAST], capsys)
    assert status == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["command"] == "demo" and summary["metric_steps"] == 2
    rows = read_csv(tmp_path / "results.csv")
    assert rows[0]["image"] == str(models.sample_image_path())
    assert rows[0]["class_name"] == "academic gown"
    assert (tmp_path / "compare" / "grace_hopper.jpg.png").is_file()


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
        assert "images per call" in text and "rows per forward pass" in text
    assert all(method in parser.format_help() for method in cli.METHODS)


def test_python_dash_m_runs_the_command():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "captum_igos", "explain", "--help"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: captum-igos explain [-h]")
    assert "--occlusion-window PX" in result.stdout


def test_an_all_zero_map_is_drawn_as_the_dimmed_photo(tmp_path, capsys, photo, monkeypatch):
    from captum_igos.runs import methods

    real = methods.compute

    def zero_for_random(name, request):
        result = real(name, request)
        return torch.zeros_like(result) if name == "random" else result

    monkeypatch.setattr(methods, "compute", zero_for_random)
    out = tmp_path / "out"
    status, err = run(["compare", photo, "--methods", "random,saliency", "--out", out, *TINY],
                      capsys)
    assert status == 0, err
    random = next(r for r in records(out) if r["method"] == "random")
    assert random["map_status"] == "empty" and np.load(out / random["map"]).max() == 0
    # the picture style draws a constant map as the dimmed grey photo: no colour at all
    drawn = np.asarray(Image.open(out / random["picture"])).astype(int)
    photo_pixels = np.asarray(Image.open(out / random["input_picture"])).astype(int)
    assert np.abs(drawn - drawn[..., :1]).max() <= 3  # grey (the colour map's darkest tint)
    assert drawn.mean() < 0.6 * photo_pixels.mean()  # dimmed
    assert "captum-igos: warning: " in err and "[random]: empty map" in err
    assert next((out / "compare").rglob("*.png")).is_file()  # drawn with saliency alone


def test_demo_uses_its_light_settings_unless_overridden():
    from captum_igos.cli.parser import config_from

    parser = cli.build_parser()
    config = config_from(parser.parse_args(["demo"]))
    for key, value in cli.DEMO_SETTINGS.items():
        assert getattr(config, key) == value
    assert config_from(parser.parse_args(["demo", "--metric-steps", "3"])).metric_steps == 3
    explain = config_from(parser.parse_args(["explain", "x.jpg"]))
    assert (explain.optimizer, explain.metric_steps, explain.rsi_steps) == ("line_search", 50, 50)


def test_an_empty_igos_map_is_recorded_and_warned_in_one_line(tmp_path, capsys, monkeypatch,
                                                              photo):
    import warnings

    import captum_igos

    def empty_attribute(self, inputs, *args, **kwargs):  # not constant: only the warning says
        warnings.warn(captum_igos.EmptyMapWarning(
            "IGOS: the map of image(s) [0] is empty (all zeros, or every value below 0.001): "
            "barely_moved; try more iterations", [0]), stacklevel=2)
        return torch.rand_like(inputs) * 1e-6

    monkeypatch.setattr(captum_igos.IGOS, "attribute", empty_attribute)
    out = tmp_path / "out"
    status, err = run(["explain", photo, "--methods", "igos,random", "--out", out, *TINY],
                      capsys)
    assert status == 0, err
    lines = [line for line in err.splitlines() if "is empty" in line]
    assert len(lines) == 1 and "[igos]" in lines[0]
    assert lines[0].startswith("captum-igos: warning: ")
    found = {r["method"]: r for r in records(out)}
    assert found["igos"]["map_status"] == "empty"
    assert "barely_moved" in found["igos"]["map_warning"]
    assert found["random"]["map_status"] == "ok" and found["random"]["map_warning"] is None


def test_a_bomb_and_a_directory_are_one_line_each_and_the_next_image_is_done(
        tmp_path, capsys, photo, claimed_png):
    bomb = claimed_png(tmp_path / "bomb.png", 20000, 20000)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    out = tmp_path / "out"
    status, err = run(["explain", bomb, folder, photo, "--methods", "random", "--out", out,
                       *TINY], capsys)
    assert status == 1 and "Traceback" not in err
    failed = [line for line in err.splitlines() if line.startswith("captum-igos: failed: ")]
    assert failed == [
        f"captum-igos: failed: {bomb}: cannot read image '{bomb}': too large, possibly a "
        "decompression bomb (Image size (400000000 pixels) exceeds limit of 178956970 pixels, "
        "could be decompression bomb DOS attack.); raise PIL.Image.MAX_IMAGE_PIXELS to allow it",
        f"captum-igos: failed: {folder}: cannot read image '{folder}': is a directory",
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert [r["image"] for r in read_csv(out / "results.csv")] == [str(photo)]
    assert [f["image"] for f in summary["failures"]] == [str(bomb), str(folder)]


def test_files_with_one_name_in_two_folders_keep_their_own_results(tmp_path, capsys, photo):
    named = tmp_path / "summary.json.png"
    first, second = tmp_path / "a" / "photo.png", tmp_path / "b" / "photo.png"
    for path in (named, first, second):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    status, err = run(["explain", named, first, second, "--methods", "random", "--out", out,
                       *TINY], capsys)
    assert status == 0, err
    assert json.loads((out / "summary.json").read_text())["results"] == 3
    assert [r["image"] for r in read_csv(out / "results.csv")] == [str(named), str(first),
                                                                    str(second)]
    assert len(list((out / "records").rglob("*.json"))) == 3


# --------------------------------------------------------------------------- Ctrl-C

#: Runs ``captum_igos.cli.main(argv)`` and writes MARKER when the moment for Ctrl-C has
#: come: "start-up" while ``import torch`` runs (the command holds Ctrl-C there, so the
#: import goes on once the test says it has sent SIGINT), "work" in the second
#: attribution, "commit" sends itself SIGINT in the middle of storing the first result.
HARNESS = '''
import atexit, importlib.abc, os, signal, sys, time
from pathlib import Path

signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever the parent
marker, mode, argv = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
atexit.register(lambda: marker.with_suffix(".torch").write_text(
    str(hasattr(sys.modules.get("torch"), "Tensor"))))  # was PyTorch's import complete?


def wait_for_ctrl_c():
    marker.write_text(mode)
    sent = marker.with_suffix(".sent")  # written by the test once SIGINT is sent
    for _ in range(6000):  # a guard against a lost signal; the SIGINT (or sent) ends it
        if sent.exists():
            return
        time.sleep(0.01)


class Gate(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            wait_for_ctrl_c()
        return None


if mode == "start-up":
    sys.meta_path.insert(0, Gate())
import captum_igos.cli as cli

if mode == "work":
    from captum_igos.runs import methods

    real, calls = methods.compute, []

    def second_waits(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            wait_for_ctrl_c()
        return real(*args, **kwargs)

    methods.compute = second_waits
if mode == "commit":
    from captum_igos.runs.store import ResultStore

    real_write, calls = ResultStore.write_picture, []

    def interrupted_while_writing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first result's overlay (the first picture is its input)
            os.kill(os.getpid(), signal.SIGINT)
        return real_write(*args, **kwargs)

    ResultStore.write_picture = interrupted_while_writing
sys.exit(cli.main(argv))
'''

INTERRUPTED = "captum-igos: interrupted; finished results are kept, rerun to resume"


def run_and_interrupt(tmp_path, mode, argv) -> tuple[int, str]:
    """Run the command in a subprocess; send SIGINT once it has written its marker."""
    import signal
    import time

    script, marker = tmp_path / "harness.py", tmp_path / f"{mode}.marker"
    script.write_text(HARNESS)
    root = str(Path(cli.__file__).resolve().parents[2])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(script), str(marker), mode,
                                *map(str, argv)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        if mode != "commit":
            while not marker.exists():  # poll: start-up takes seconds on a loaded machine
                assert process.poll() is None, process.communicate()
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            marker.with_suffix(".sent").write_text("")
        _, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, err


def test_ctrl_c_while_pytorch_loads_is_one_line_and_status_130(tmp_path, photo):
    """Held until ``import torch`` is complete: raised inside PyTorch's C++ start-up, a
    KeyboardInterrupt can abort the process (std::terminate) instead of exiting 130."""
    out = tmp_path / "out"
    status, err = run_and_interrupt(tmp_path, "start-up", ["explain", photo, "--out", out,
                                                           *FAST])
    assert status == 130
    assert err.splitlines() == [INTERRUPTED]
    assert (tmp_path / "start-up.torch").read_text() == "True"  # held until it was
    assert not out.exists()  # interrupted before anything was started


def test_ctrl_c_during_work_keeps_the_finished_results_and_a_rerun_resumes(
        tmp_path, capsys, photo):
    second = tmp_path / "second.png"
    second.write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    argv = ["explain", photo, second, "--methods", "random", "--out", out, *TINY]
    status, err = run_and_interrupt(tmp_path, "work", argv)
    assert status == 130
    assert err.splitlines() == [INTERRUPTED]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["failures"] == []
    assert [(r["image"], r["method"]) for r in read_csv(out / "results.csv")] == [
        (str(photo), "random")]
    stored = sorted((out / "records").rglob("*.json"))
    assert [p.name for p in stored] == ["photo.png.json"]
    stamp = stored[0].stat().st_mtime_ns

    status, err = run(argv, capsys)
    assert status == 0 and "2 result(s) for 2 image(s), 1 image(s) explained now" in err
    assert json.loads((out / "summary.json").read_text())["status"] == "finished"
    assert [r["image"] for r in read_csv(out / "results.csv")] == [str(photo), str(second)]
    assert stored[0].stat().st_mtime_ns == stamp


def test_ctrl_c_while_a_result_is_stored_lets_it_finish_first(tmp_path, photo):
    second = tmp_path / "second.png"
    second.write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    status, err = run_and_interrupt(tmp_path, "commit", ["explain", photo, second, "--methods",
                                                         "random", "--out", out, *TINY])
    assert status == 130
    assert err.splitlines() == [INTERRUPTED]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert [r["image"] for r in read_csv(out / "results.csv")] == [str(photo)]
    record = next((out / "records").rglob("photo.png.json"))
    assert len(json.loads(record.read_text())["curves"]["deletion"]) == 3
    assert not list((out / "records").rglob("second.png.json"))  # never started
    assert not [p for p in out.rglob(".*")], "temporary files left behind"


def test_import_of_the_command_line_loads_no_pytorch():
    code = ("import sys, captum_igos, captum_igos.cli; print('torch' in sys.modules); "
            "print(captum_igos.IGOS.__name__, 'torch' in sys.modules); "
            "print(sorted(set(captum_igos.__all__) - set(dir(captum_igos))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.stdout.splitlines() == ["False", "IGOS True", "[]"], result.stderr
    with pytest.raises(AttributeError, match="module 'captum_igos' has no attribute 'IGSO'"):
        _ = __import__("captum_igos").IGSO


def test_held_interrupts_delays_ctrl_c_to_the_end_of_the_block():
    import signal

    from captum_igos.runs.interrupts import held_interrupts

    original = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        check_held_interrupts(held_interrupts)
    finally:
        signal.signal(signal.SIGINT, original)


def check_held_interrupts(held_interrupts):
    import signal

    done = []
    with pytest.raises(KeyboardInterrupt):
        with held_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the rest of the block")
    assert done == ["the rest of the block"]
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C wins over the block's own error
        with held_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            raise OSError("disk full")
    with held_interrupts(reraise=False):  # dropped: the command is already reporting one
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
