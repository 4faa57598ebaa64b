"""Sphinx configuration of the captum-igos documentation (``make docs``).

Built offline with warnings as errors: autodoc + napoleon read the docstrings (Google
style, formulas in ``:math:``), myst-nb renders the Markdown pages and the tutorials with
the outputs committed in them (never executed here), and the ``cli-help`` directive
prints the command line's ``--help`` from the parser itself.

The built site also *reads* offline: the furo theme ships its styles and scripts, MathJax
comes from the ``sphinx-mathjax-offline`` wheel and is copied into ``_static/mathjax``,
and ``_static/custom.css`` wraps long code lines instead of hiding them behind a
scrollbar. ``tests/test_docs.py`` checks that no page loads anything remote and that a
formula renders in a headless browser with the network blocked.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from docutils import nodes
from sphinx.errors import ConfigError
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not another installed copy

import captum_igos  # noqa: E402

project = "captum-igos"
author = "the captum-igos developers"
copyright = "2026, the captum-igos developers"
release = captum_igos.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
]

# Offline: no intersphinx, no remote images, and the tutorials keep their stored outputs.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
smartquotes_action = "qe"  # quotes and ellipses, but "--option" stays two hyphens
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints"]

# Every cross-reference to this package must resolve (a broken one is a warning, so an
# error under -W). Names of other packages cannot resolve offline (no intersphinx), and
# the private modules (``captum_igos._core``, ``captum_igos._utils``) are not documented
# here: their names stay plain text.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|torchvision|captum|numpy|matplotlib|PIL|tqdm|argparse|collections"
               r"|typing|os|pathlib|types|warnings)(\..*)?"),
    (r"py:.*", r"captum_igos\._.*"),
    (r"py:.*", r"(nn\.)?Module|Tensor|ReshapeTransform|captum_igos\.runs\.sharding\.T"),
    (r"py:(exc|class|obj)",
     r"([A-Za-z]*(Error|Exception|Warning))( / [A-Za-z]*Error)*|int|float|str|bool|None"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"captum-igos {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]

# MathJax 3 from the sphinx-mathjax-offline wheel, served from _static/mathjax (no CDN):
# the combined TeX-to-HTML component, its fonts, and the TeX extensions it may autoload.
# The menu stays off: its accessibility options would fetch speech rules from a CDN.
mathjax_path = "mathjax/tex-chtml.js"
MATHJAX_FILES = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")
mathjax3_config = {
    "tex": {"macros": {"up": r"\operatorname{up}"}},
    "options": {"enableMenu": False},
}


def packaged_mathjax() -> Path:
    """The MathJax folder inside the installed ``sphinx-mathjax-offline`` package."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise ConfigError("sphinx-mathjax-offline is missing (the pages' MathJax, served "
                          "without a CDN): pip install -e '.[docs]'")
    return Path(spec.origin).parent / "static" / "mathjax"


def copy_mathjax(app, exception) -> None:
    """Copy :data:`MATHJAX_FILES` into the built site's ``_static/mathjax``."""
    if exception is not None or app.builder.format != "html":
        return
    source = packaged_mathjax()
    for name in MATHJAX_FILES:
        target = Path(app.outdir) / "_static" / "mathjax" / name
        if (source / name).is_dir():
            shutil.copytree(source / name, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target)


def _text_block(text: str) -> nodes.literal_block:
    return nodes.literal_block(text, text, language="text")


class CliHelp(SphinxDirective):
    """``.. cli-help::`` -- ``captum-igos --help`` and every command's ``--help``."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from captum_igos.cli import build_parser

        columns = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "92"  # argparse wraps to the terminal's width
        try:
            parser = build_parser()
            blocks: list[nodes.Node] = [_text_block(parser.format_help())]
            subparsers = next(
                action for action in parser._actions
                if isinstance(action, argparse._SubParsersAction)
            )
            for name, command in subparsers.choices.items():
                blocks.append(nodes.rubric(text=f"captum-igos {name}"))
                blocks.append(_text_block(command.format_help()))
        finally:
            if columns is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = columns
        return blocks


def prose_attribute_docs(app, what, name, obj, options, lines) -> None:
    """Keep the first line of a ``#:`` comment as text.

    napoleon reads the first line of a data or attribute docstring as ``type: text``
    (Google style); this package's ``#:`` comments are prose ("The demo's light settings
    (the papers': ...)"), which napoleon would cut at the colon into a bogus type. An empty
    reST comment as the first line gives napoleon no type to find and renders as nothing.
    Runs before napoleon (priority 400 < 500).
    """
    if what in ("data", "attribute") and lines and lines[0].strip():
        lines[:0] = ["..", ""]


def setup(app):  # Sphinx's extension hook
    packaged_mathjax()  # fail at once, not after the build, when it is not installed
    app.add_directive("cli-help", CliHelp)
    app.connect("build-finished", copy_mathjax)
    app.connect("autodoc-process-docstring", prose_attribute_docs, priority=400)
    return {"parallel_read_safe": True}

