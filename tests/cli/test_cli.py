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


def test_a_result_scored_under_another_tie_rule_is_not_reused(tmp_path, capsys, photo):
    out = tmp_path / "out"
    argv = ["explain", photo, "--method", "random", "--out", out, *FAST]
    assert run(argv, capsys)[0] == 0
    record_path = out / "photo" / "random.json"
    record = json.loads(record_path.read_text())
    assert record["metric_ties"] == "random"
    record["metric_ties"] = "raster"  # as scored before the metric's tie rule changed
    record_path.write_text(json.dumps(record))
    status, err = run(argv, capsys)
    assert status == 1 and "random.json exists with other settings (metric_ties" in err


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

    def empty_attribute(self, inputs, *args, **kwargs):  # not constant: only the warning says
        warnings.warn(captum_igos.EmptyMapWarning(
            "IGOS: the map of image(s) [0] is empty (all zeros, or every value below 0.001): "
            "barely_moved; try more iterations", [0]), stacklevel=2)
        return torch.rand_like(inputs) * 1e-6

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
    assert "barely_moved" in records["igos"]["map_warning"]
    assert records["random"]["map_status"] == "ok" and records["random"]["map_warning"] is None


# --------------------------------------------------------------------------- bad files, names


def test_a_bomb_and_a_directory_are_one_line_each_and_the_next_image_is_done(
        tmp_path, capsys, photo, claimed_png):
    bomb = claimed_png(tmp_path / "bomb.png", 20000, 20000)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    out = tmp_path / "out"
    status, err = run(["explain", bomb, folder, photo, "--method", "random", "--out", out,
                       *FAST], capsys)
    assert status == 1 and "Traceback" not in err
    failed = [line for line in err.splitlines() if line.startswith("captum-igos: failed: ")]
    assert failed == [
        f"captum-igos: failed: cannot read image '{bomb}': too large, possibly a decompression "
        "bomb (Image size (400000000 pixels) exceeds limit of 178956970 pixels, could be "
        "decompression bomb DOS attack.); raise PIL.Image.MAX_IMAGE_PIXELS to allow it",
        f"captum-igos: failed: cannot read image '{folder}': is a directory",
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert [(r["image"], r["method"]) for r in summary["results"]] == [(str(photo), "random")]
    assert [f["image"] for f in summary["failures"]] == [str(bomb), str(folder)]
    assert (out / "photo" / "random.png").is_file()
    assert not (out / "bomb").exists() and not (out / "a-folder").exists()


def test_image_keys_never_clash_with_each_other_or_the_run_files(tmp_path):
    from hashlib import sha1

    from captum_igos.cli.files import image_keys

    def digest(path):
        return sha1(str(Path(path).resolve()).encode()).hexdigest()[:6]

    a, b, upper = tmp_path / "a" / "cat.png", tmp_path / "b" / "cat.png", tmp_path / "Cat.jpg"
    planted = tmp_path / f"cat-{digest(a)}.png"  # a stem equal to another image's hashed key
    keys = image_keys([a, b, tmp_path / "summary.json.png", tmp_path / "my photo.jpg", a,
                       upper, planted, tmp_path / ".png"])
    assert keys[0] == f"cat-{digest(a)}" and keys[1] == f"cat-{digest(b)}"
    assert keys[2:4] == ["summary_json", "my_photo"]
    assert keys[4] == keys[0]  # the same file twice keeps one folder
    assert keys[5] == f"Cat-{digest(upper)}"  # cat/Cat clash on case-insensitive disks
    assert keys[6] == f"cat-{digest(a)}-2"
    assert keys[7] == "_png"
    assert len({key.casefold() for key in keys}) == len(keys) - 1
    assert not any("." in key for key in keys)


def test_output_names_never_clash_with_summary_json_or_each_other(tmp_path, capsys, photo):
    named = tmp_path / "summary.json.png"
    first, second = tmp_path / "a" / "photo.png", tmp_path / "b" / "photo.png"
    for path in (named, first, second):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    status, err = run(["explain", named, first, second, "--method", "random", "--out", out,
                       *FAST], capsys)
    assert status == 0, err
    assert (out / "summary.json").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert [r["image"] for r in summary["results"]] == [str(named), str(first), str(second)]
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(folders) == 3 and "summary_json" in folders
    for folder in folders:
        assert (out / folder / "random.npy").is_file()


# --------------------------------------------------------------------------- Ctrl-C

#: Runs ``captum_igos.cli.main(argv)`` and writes MARKER when the moment for Ctrl-C has
#: come: "start-up" while ``import torch`` runs (the command holds Ctrl-C there, so the
#: import goes on once the test says it has sent SIGINT), "work" in the second
#: attribution, "commit" sends itself SIGINT in the middle of writing the first result.
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
    from captum_igos.cli import explain

    real, calls = explain.explain_item, []

    def second_waits(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            wait_for_ctrl_c()
        return real(*args, **kwargs)

    explain.explain_item = second_waits
if mode == "commit":
    from captum_igos.cli import explain

    real_write, calls = explain.write_explanation, []

    def interrupted_while_writing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real_write(*args, **kwargs)

    explain.write_explanation = interrupted_while_writing
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
    argv = ["explain", photo, second, "--method", "random", "--out", out, *FAST]
    status, err = run_and_interrupt(tmp_path, "work", argv)
    assert status == 130
    assert err.splitlines() == [INTERRUPTED]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["failures"] == []
    assert [(r["image"], r["method"]) for r in summary["results"]] == [(str(photo), "random")]
    finished = ["random.json", "random.npy", "random.png", "random_curves.png"]
    assert sorted(p.name for p in (out / "photo").iterdir()) == finished
    assert list((out / "second").iterdir()) == []  # the interrupted item left nothing
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "photo").iterdir()}

    status, err = run(argv, capsys)
    assert status == 0 and "2 result(s) (1 already there), 0 failure(s)" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert [r["image"] for r in summary["results"]] == [str(photo), str(second)]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "photo").iterdir()} == stamps
    assert sorted(p.name for p in (out / "second").iterdir()) == finished


def test_ctrl_c_while_a_result_is_written_lets_it_finish_first(tmp_path, photo):
    second = tmp_path / "second.png"
    second.write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    status, err = run_and_interrupt(tmp_path, "commit", ["explain", photo, second, "--method",
                                                         "random", "--out", out, *FAST])
    assert status == 130
    assert err.splitlines() == [INTERRUPTED]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert [r["image"] for r in summary["results"]] == [str(photo)]
    record = json.loads((out / "photo" / "random.json").read_text())
    assert record["image"] == str(photo) and len(record["curves"]["deletion"]) == 3
    assert not (out / "second").exists()  # the next image was never started
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

    from captum_igos.cli.interrupts import held_interrupts

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
