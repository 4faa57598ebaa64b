"""``report.html``: one static page with the table and a gallery of every image's maps.

The page needs no server and no network: open it from the file system. Pictures are the
PNG files of the result store (``pictures/...``), linked relative to the page, so the
output folder can be moved or zipped whole. A few lines of inline JavaScript sort the
table by any column (click a header; again to reverse; ``report.html#sort=COLUMN`` or
``#sort=-COLUMN`` opens it sorted) and report pictures that fail to load
(``console.error`` and a line at the top of the page).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from captum_igos.cli.files import atomic_path
from captum_igos.dataset.summary import COLUMNS

__all__ = ["render_report", "write_report"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#eee;cursor:pointer;user-select:none}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.gallery{display:flex;flex-direction:column;gap:12px}
.card{border:1px solid #ccc;padding:6px}
.card h3{margin:0 0 4px;font-size:14px}
.maps{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;font-size:12px;text-align:center}
figure img{width:160px;height:160px;image-rendering:pixelated;display:block}
#status.bad{color:#b00}
"""

_SCRIPT = """
(function () {
  var table = document.getElementById("results");
  var headers = table.tHead.rows[0].cells;
  function value(row, column) {
    var cell = row.cells[column];
    var raw = cell.getAttribute("data-value");
    var number = parseFloat(raw);
    return cell.classList.contains("num") && !isNaN(number) ? number : raw;
  }
  function sortBy(column) {
    var header = headers[column];
    var ascending = !header.classList.contains("asc");
    for (var i = 0; i < headers.length; i++) headers[i].classList.remove("asc", "desc");
    header.classList.add(ascending ? "asc" : "desc");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, column), y = value(b, column);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  for (var i = 0; i < headers.length; i++) {
    headers[i].addEventListener("click", sortBy.bind(null, i));
  }
  // "report.html#sort=deletion_auc" (ascending) or "#sort=-deletion_auc" opens sorted,
  // through the same click a reader makes.
  var wanted = /(?:^#|&)sort=(-?)([^&]+)/.exec(location.hash);
  if (wanted) {
    var name = decodeURIComponent(wanted[2]);
    for (var j = 0; j < headers.length; j++) {
      if (headers[j].textContent === name) {
        headers[j].click();
        if (wanted[1] === "-") headers[j].click();
      }
    }
  }
  window.addEventListener("load", function () {
    var pictures = document.querySelectorAll("img");
    var broken = [];
    pictures.forEach(function (img) {
      if (!img.complete || img.naturalWidth === 0) broken.push(img.getAttribute("src"));
    });
    var status = document.getElementById("status");
    status.textContent = pictures.length + " pictures, " + broken.length + " missing";
    if (broken.length) {
      status.className = "bad";
      console.error("captum-igos report: missing pictures: " + broken.join(", "));
    }
    document.body.setAttribute("data-pictures-missing", String(broken.length));
  });
})();
"""

_NUMERIC = {"target", "probability", "deletion_auc", "insertion_auc", "seconds"}


def _cell(column: str, value: Any) -> str:
    if value is None:
        value = ""
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    kind = ' class="num"' if column in _NUMERIC else ""
    return f'<td{kind} data-value="{html.escape(str(value))}">{html.escape(text)}</td>'


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(column)}</th>" for column in COLUMNS)
    body = "\n".join("<tr>" + "".join(_cell(c, row.get(c)) for c in COLUMNS) + "</tr>"
                     for row in rows)
    return (f'<table id="results"><thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody></table>")


def _figure(source: str, caption: str, alt: str) -> str:
    return (f'<figure><img src="{html.escape(quote(source))}" alt="{html.escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _gallery(rows: Sequence[Mapping[str, Any]]) -> str:
    cards: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        cards.setdefault(row["image"], []).append(row)
    parts = []
    for image, results in cards.items():
        first = results[0]
        label = f" (label {html.escape(str(first['label']))})" if first.get("label") else ""
        figures = [_figure(first["input_picture"], "input", f"{image} input")]
        for row in results:
            caption = (f"{html.escape(row['method'])}<br>del {row['deletion_auc']:.3f} "
                       f"ins {row['insertion_auc']:.3f}")
            figures.append(_figure(row["picture"], caption, f"{image} {row['method']}"))
        parts.append(
            f'<div class="card" data-image="{html.escape(image)}"><h3>{html.escape(image)}: '
            f"{html.escape(str(first['class_name']))} ({first['probability']:.2f}){label}</h3>"
            f'<div class="maps">{"".join(figures)}</div></div>'
        )
    return '<div class="gallery">\n' + "\n".join(parts) + "\n</div>"


def _overview(summary: Mapping[str, Any]) -> str:
    lines = []
    for method, stats in summary.get("per_method", {}).items():
        deletion, insertion = stats["deletion_auc"], stats["insertion_auc"]
        lines.append(
            f"<li>{html.escape(method)}: {stats['images']} images, deletion AUC "
            f"{deletion['mean']:.3f} [{deletion['ci95'][0]:.3f}, {deletion['ci95'][1]:.3f}], "
            f"insertion AUC {insertion['mean']:.3f} [{insertion['ci95'][0]:.3f}, "
            f"{insertion['ci95'][1]:.3f}] (95% bootstrap CI)</li>"
        )
    failures = summary.get("failures", [])
    if failures:
        lines.append(f"<li>{len(failures)} failure(s): " + "; ".join(
            html.escape(f"{f['image']}: {f['error']}") for f in failures[:20]) + "</li>")
    return "<ul>" + "".join(lines) + "</ul>"


def render_report(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> str:
    """The page's HTML for the records ``rows`` (picture paths relative to the page)."""
    title = f"captum-igos: {summary.get('model', '')} on {summary.get('root', '')}"
    settings = html.escape(json.dumps(summary.get("settings", {}), indent=1))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p id="status">loading pictures</p>
{_overview(summary)}
<details><summary>settings</summary><pre>{settings}</pre></details>
<h2>Results (click a column to sort)</h2>
{_table(rows)}
<h2>Gallery</h2>
{_gallery(rows)}
<script>{_SCRIPT}</script>
</body></html>
"""


def write_report(path: Path, rows: Sequence[Mapping[str, Any]],
                 summary: Mapping[str, Any]) -> None:
    """Write ``report.html`` atomically (see :func:`render_report`)."""
    text = render_report(rows, summary)
    atomic_path(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
