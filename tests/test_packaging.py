"""A package people can depend on: one version, a citation, and clean offline builds.

- ``captum_igos.__version__`` is the only version source: ``pyproject.toml`` reads it
  (``dynamic``) and the installed metadata equals it.
- ``CITATION.cff`` parses as YAML and cites the package (its version and license) and the
  three papers.
- ``python -m build --no-isolation`` (no network: the build backend is the one installed)
  makes an sdist and, from it, a wheel without a single warning; the sdist holds the
  package and its metadata and leaves the tests out (the decision in ``MANIFEST.in``).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import captum_igos

ROOT = Path(__file__).resolve().parent.parent
PAPERS = {  # arXiv id: (first author's family name, year)
    "arXiv:1905.00954": ("Qi", 2020),  # I-GOS
    "arXiv:2012.15783": ("Khorram", 2021),  # iGOS++
    "arXiv:2205.10900": ("Lucas", 2022),  # RSI-Grad-CAM
}


def pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.9/3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_has_one_source_and_matches_the_installed_metadata():
    project = pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = pyproject()["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "captum_igos.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", captum_igos.__version__), captum_igos.__version__
    assert importlib.metadata.version("captum-igos") == captum_igos.__version__


def test_license_is_an_spdx_expression_matching_the_license_file():
    project = pyproject()["project"]
    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("BSD 3-Clause License")
    assert not any(c.startswith("License ::") for c in project["classifiers"]), (
        "PEP 639: a license classifier beside an SPDX expression is an error"
    )


def test_citation_file_cites_the_package_and_the_three_papers():
    import yaml  # the test extra's pyyaml: missing is a failure, not a skip

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    assert citation["type"] == "software" and citation["message"]
    assert citation["title"].startswith("captum-igos")
    assert citation["version"] == captum_igos.__version__
    assert citation["license"] == pyproject()["project"]["license"]
    assert all("name" in a or "family-names" in a for a in citation["authors"])
    cited = {}
    for reference in citation["references"]:
        assert reference["title"] and reference["authors"], reference
        for identifier in reference.get("identifiers", []):
            cited[identifier["value"]] = reference
    for arxiv, (author, year) in PAPERS.items():
        assert arxiv in cited, f"CITATION.cff does not cite {arxiv}"
        assert cited[arxiv]["authors"][0]["family-names"] == author
        assert cited[arxiv]["year"] == year


def test_changelog_names_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{captum_igos.__version__}]" in changelog


def tracked_tree(destination: Path) -> Path:
    """Copy what git tracks (plus new, not ignored files) to ``destination``.

    The build writes ``build/`` and ``*.egg-info`` next to its sources: build a copy, so
    the checkout stays as it is and leftovers of other builds cannot leak in.
    """
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    for module in ("build", "setuptools"):
        try:
            __import__(module)
        except ImportError as error:  # a failure, not a skip: the test extra installs them
            raise AssertionError(f"{module} is missing: pip install -e '.[test]'") from error
    source = tracked_tree(tmp_path_factory.mktemp("source"))
    dist = tmp_path_factory.mktemp("dist")
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONWARNINGS")}  # its own 'warning:'
    run = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        cwd=source, env=env, capture_output=True, text=True, check=False,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, f"python -m build --no-isolation failed:\n{log}"
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return log, sdist, wheel


def test_sdist_and_wheel_build_offline_without_warnings(built):
    log, sdist, wheel = built
    version = captum_igos.__version__
    assert sdist.name == f"captum_igos-{version}.tar.gz"
    assert wheel.name == f"captum_igos-{version}-py3-none-any.whl"
    noisy = [line for line in log.splitlines()
             if re.search(r"warn|deprecat|no previously-included|not found", line, re.I)]
    assert not noisy, "the build warned:\n" + "\n".join(noisy)


def test_sdist_holds_the_package_and_leaves_the_tests_out(built):
    _, sdist, _ = built
    prefix = sdist.name[: -len(".tar.gz")] + "/"
    with tarfile.open(sdist) as archive:
        names = {name[len(prefix):] for name in archive.getnames() if name.startswith(prefix)}
    for required in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "CITATION.cff",
                     "captum_igos/__init__.py", "captum_igos/py.typed",
                     "captum_igos/_core/igos.py", "captum_igos/runs/engine.py",
                     "captum_igos/runs/templates/report.html"):
        assert required in names, f"the sdist lacks {required}"
    package = {str(p.relative_to(ROOT)) for p in (ROOT / "captum_igos").rglob("*.py")}
    assert package <= names, f"the sdist lacks {sorted(package - names)}"
    for left_out in ("tests/", "tutorials/", "benchmarks/", "docs/"):
        assert not any(name.startswith(left_out) for name in names), (
            f"the sdist was decided to leave {left_out} out (MANIFEST.in)"
        )


def test_wheel_ships_the_typed_package_and_its_metadata(built):
    _, _, wheel = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"captum_igos-{captum_igos.__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
    assert "captum_igos/py.typed" in names
    assert "captum_igos/runs/templates/report.html" in names  # report.html's template
    assert f"{info}/licenses/LICENSE" in names
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)
    assert "License-Expression: BSD-3-Clause" in metadata
    assert f"Version: {captum_igos.__version__}" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = [line for line in requires if "extra ==" not in line]
    assert not any("timm" in line or "efficientnet" in line for line in core), (
        "timm and the weights package are the models extra, not core dependencies"
    )
    assert 'Requires-Dist: timm; extra == "models"' in requires
