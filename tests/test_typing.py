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
