"""The precision benchmark at its smoke size on the CPU, and the device check's script."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks import igos, precision, rsi_gradcam

ROOT = Path(__file__).resolve().parents[2]


def test_device_check_is_valid_bash_and_names_every_step():
    script = ROOT / "benchmarks" / "device_check.sh"
    bash = shutil.which("bash")
    assert bash is not None
    subprocess.run([bash, "-n", str(script)], check=True)
    text = script.read_text()
    for module in ("benchmarks.igos", "benchmarks.rsi_gradcam", "benchmarks.precision"):
        assert f"-m {module} --device cuda" in text
    assert "pytest -m cuda" in text and "benchmarks/results/gpu" in text
    limits = [int(line.split()[-1]) for line in text.splitlines()
              if line.startswith("#   ") and line.split()[-1].isdigit()]
    assert len(limits) == 5 and sum(limits) + 5 <= 8 * 60  # steps' limits + kill grace


def test_every_benchmark_the_device_check_runs_takes_a_device():
    assert igos.parse_args(["--device", "cuda"]).device == "cuda"
    assert rsi_gradcam.parse_args(["--device", "cuda"]).device == "cuda"
    assert precision.parse_args(["--device", "cuda"]).device == "cuda"


@pytest.mark.slow
def test_smoke_run_writes_the_table_the_json_and_a_verdict(tmp_path):
    rows = precision.main(["--quick", "--methods", "LayerRSIGradCam", "--precisions",
                           "bfloat16", "--results", str(tmp_path), "--output", "smoke"])
    assert [row.precision for row in rows] == ["float32", "bfloat16"]
    assert rows[0].rank_correlation == pytest.approx(1.0)
    text = (tmp_path / "smoke.md").read_text()
    assert "| efficientnet_lite0 | LayerRSIGradCam | bfloat16 |" in text
    assert "- **bfloat16: " in text and "Other jobs shared the machine" in text
    records = json.loads((tmp_path / "smoke.json").read_text())
    assert [r["variant"] for r in records] == [
        "efficientnet_lite0 LayerRSIGradCam float32", "efficientnet_lite0 LayerRSIGradCam bfloat16"]
    assert all(len(r[metric]) == 2 for r in records for metric in precision.METRICS)
