"""Execute the tutorials with tiny settings (CAPTUM_IGOS_TUTORIAL_QUICK=1) and check their outputs.

The committed notebooks hold the outputs of the full settings; this test runs a copy of
each in a fresh kernel (the outputs on disk are not touched) and fails on any cell error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the tutorials' test needs nbformat")
nbclient = pytest.importorskip("nbclient", reason="the tutorials' test needs nbclient")

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"

#: Notebook -> texts its printed output must contain and its number of pictures.
EXPECTED = {
    "01_igos_beside_captum.ipynb": (["academic gown", "I-GOS", "iGOS++", "Occlusion",
                                     "deletion", "iterations run"], 2),
    "02_rsi_gradcam_layers_and_steps.ipynb": (["blocks.6", "bn2", "|delta|",
                                               "cosine similarity"], 2),
    "03_measuring_faithfulness.ipynb": (["infidelity", "sensitivity_max", "cap", "uniform"], 3),
    "04_detection_and_segmentation.ipynb": (["DetectionScore of the clean image",
                                             "together vs one at a time", "mask pixels"], 2),
}


def test_every_tutorial_is_tested():
    assert sorted(path.name for path in TUTORIALS.glob("*.ipynb")) == sorted(EXPECTED)


def outputs(notebook) -> tuple[str, int]:
    text, pictures = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text.append(output["text"])
            data = output.get("data", {})
            text.append(data.get("text/plain", ""))
            pictures += "image/png" in data
    return "".join(text), pictures


def test_committed_notebooks_have_outputs():
    for name in EXPECTED:
        notebook = nbformat.read(TUTORIALS / name, as_version=4)
        text, pictures = outputs(notebook)
        assert pictures >= EXPECTED[name][1], f"{name} was committed without its pictures"
        assert all(cell.get("execution_count") for cell in notebook.cells
                   if cell.cell_type == "code"), f"{name} has unexecuted cells"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tutorial_runs(name, tmp_path, monkeypatch):
    monkeypatch.setenv("CAPTUM_IGOS_TUTORIAL_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(TUTORIALS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    text, pictures = outputs(notebook)
    needles, expected_pictures = EXPECTED[name]
    missing = [needle for needle in needles if needle not in text]
    assert not missing, f"{name}: outputs lack {missing}"
    assert pictures >= expected_pictures
