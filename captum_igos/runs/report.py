"""``report.html``: one static page with the table and a gallery of every image's maps.

The page is rendered from the Jinja2 template ``templates/report.html`` (autoescaped:
every name from the file system or a record is escaped, picture paths URL-quoted). It
needs no server and no network: open it from the file system. Pictures are the PNG files
of the result store (``pictures/...``, ``compare/...``), linked relative to the page, so
the output folder can be moved or zipped whole. A few lines of inline JavaScript sort
the table by any column (click a header; again to reverse; ``report.html#sort=COLUMN``
or ``#sort=-COLUMN`` opens it sorted) and report pictures that fail to load
(``console.error`` and a line at the top of the page).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from captum_igos.runs.files import atomic_path
from captum_igos.runs.summary import COLUMNS

__all__ = ["render_report", "write_report"]

#: Columns shown right-aligned and sorted as numbers.
NUMERIC = {"target", "probability", "deletion_auc", "insertion_auc", "seconds",
           "batch_seconds", "batch_images"}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


@lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )
    environment.filters["cell"] = _cell
    environment.filters["quote"] = quote
    return environment.get_template("report.html")


def render_report(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
                  comparisons: Mapping[str, str] | None = None) -> str:
    """The page's HTML for the records ``rows`` (picture paths relative to the page).

    ``comparisons`` maps an image name to its comparison figure (relative path), if any.
    """
    from captum_igos.visualization import STYLE

    cards: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        cards.setdefault(row["image"], []).append(row)
    return str(_template().render(
        title=f"captum-igos: {summary.get('model', '')} on {summary.get('root', '')}",
        per_method=summary.get("per_method", {}), failures=summary.get("failures", []),
        skipped=summary.get("skipped", []),
        settings=json.dumps(summary.get("settings", {}), indent=1),
        columns=COLUMNS, numeric=NUMERIC, rows=rows, cards=cards,
        comparisons=comparisons or {}, scale=STYLE.caption,
    ))


def write_report(path: Path, rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any],
                 comparisons: Mapping[str, str] | None = None) -> None:
    """Write ``report.html`` atomically (see :func:`render_report`)."""
    text = render_report(rows, summary, comparisons)
    atomic_path(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
