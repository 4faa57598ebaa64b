"""The package is typed: ``py.typed`` ships and ``mypy captum_igos`` is clean.

mypy reads its settings from ``[tool.mypy]`` in ``pyproject.toml`` and keeps its cache in
``.mypy_cache`` at the repository root, so only the first run on a fresh clone is slow.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_py_typed_marker_is_in_the_package():
    assert (ROOT / "captum_igos" / "py.typed").is_file()


def test_mypy_is_clean():
    try:
        import mypy  # noqa: F401
    except ImportError as error:  # a failure, not a skip: the test extra installs mypy
        raise AssertionError("mypy is missing: pip install -e '.[test]'") from error
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "captum_igos"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, f"mypy captum_igos is not clean:\n{run.stdout}{run.stderr}"


MISUSE = '''
import torch
from captum_igos import IGOS, IGOSPlusPlus
from captum_igos.presets import AUTHORS_IGOS_PLUS_PLUS

x = torch.rand(1, 3, 32, 32)
model = torch.nn.Conv2d(3, 2, 32)
IGOS(model).attribute(x, target=1, iterations=5, mask_size=(4, 4), noise_std=0.0)
IGOSPlusPlus(model).optimize(x, target=1, **AUTHORS_IGOS_PLUS_PLUS)
IGOS(model).attribute(x, target=1, iterations="five")  # line 10
IGOS(model).optimize(x, target=1, iteratoins=5)  # line 11
IGOSPlusPlus(model).attribute(x, objective="papers")  # line 12
IGOSPlusPlus(model).optimize(x, initial_mask=0.5)  # line 13
'''


def test_mypy_refuses_a_wrong_type_or_a_misspelt_option(tmp_path):
    """The options are written out and typed: a type checker sees them (issue 22)."""
    script = tmp_path / "misuse.py"
    script.write_text(MISUSE)
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--follow-imports=silent",
         str(script)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    errors = sorted({int(line.split(":")[1]) for line in run.stdout.splitlines()
                     if ": error:" in line})
    assert errors == [10, 11, 12, 13], run.stdout + run.stderr
    assert '"iterations"' in run.stdout and '"iteratoins"' in run.stdout
