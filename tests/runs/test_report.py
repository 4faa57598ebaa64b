"""``report.html`` in a real headless browser (Debian's ``chromium``; ``.ci/run`` installs it).

The page is opened from the file system as a reader would open it; the browser's console
(``--enable-logging=stderr``) must stay silent, every image x method of ``results.csv``
must appear in the gallery with its pictures loaded, and the table must sort by a column
(``#sort=COLUMN`` clicks the header once, ``#sort=-COLUMN`` twice).
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from captum_igos.runs import COLUMNS, explain_dataset
from tests.runs.test_dataset import LIGHT, make_folder, read_csv

BROWSERS = ("chromium", "chromium-browser")


def browser() -> str:
    """The chromium executable; its absence fails (CI installs it), it never skips."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("report.html is tested in a headless chromium and none is on PATH: run "
                "`apt-get install -y chromium` (bash .ci/run does it where missing)")


def open_page(page: Path, fragment: str = "") -> tuple[str, list[str]]:
    """The DOM after the page's load event and the console lines the page produced."""
    command = [browser(), "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
               "--enable-logging=stderr", "--v=0", "--allow-file-access-from-files",
               "--dump-dom", page.resolve().as_uri() + fragment]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


class Page(HTMLParser):
    """What the test reads from the DOM: table rows, gallery cards and their pictures."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cards: dict[str, list[dict]] = {}
        self.body: dict = {}
        self.status = ""
        self._card: str | None = None
        self._in_body = self._in_status = False
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self.rows[-1].append(attrs.get("data-value", ""))
        elif tag == "div" and "data-image" in attrs:
            self._card = attrs["data-image"]
            self.cards[self._card] = []
        elif tag == "img" and self._card is not None:
            self.cards[self._card].append(attrs)
        elif tag == "p" and attrs.get("id") == "status":
            self._in_status = True

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "p":
            self._in_status = False

    def handle_data(self, data):
        if self._in_status:
            self.status += data


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A run with two methods, a name that needs escaping and a broken image."""
    tmp = tmp_path_factory.mktemp("report")
    root = make_folder(tmp / "data", per_class=2)
    pixels = np.random.default_rng(1).integers(0, 256, size=(30, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "cat" / "a b&c #1.png")
    out = tmp / "out"
    explain_dataset(root, ["gradcam", "rsi-gradcam"], out, model="tests.runs.tiny_model:build",
                    batch_size=2, **LIGHT)
    return out


def test_the_page_loads_silently_with_every_result_and_picture(report):
    dom, console = open_page(report / "report.html")
    assert console == [], f"console output: {console}"
    page = Page(dom)
    table = read_csv(report / "results.csv")
    assert len(table) == 10  # 5 readable images x 2 methods; dog/broken.jpg is a failure
    assert page.body.get("data-pictures-missing") == "0", page.status
    assert page.status == f"{len(table) + 5} pictures, 0 missing"
    assert [row[:2] for row in page.rows] == [[r["image"], r["method"]] for r in table]
    assert list(page.cards) == list(dict.fromkeys(r["image"] for r in table))
    for image, pictures in page.cards.items():
        methods = [r["method"] for r in table if r["image"] == image]
        assert [p["alt"] for p in pictures] == [f"{image} input"] + [
            f"{image} {method}" for method in methods]
        for picture in pictures:
            assert (report / unquote(picture["src"])).is_file(), picture["src"]
    assert "cat/a b&c #1.png" in page.cards  # a name that needs escaping in HTML and URLs
    assert "dog/broken.jpg" in dom  # the failure is listed at the top


@pytest.mark.parametrize("fragment", ["#sort=-insertion_auc", "#sort=probability"])
def test_a_click_on_a_header_sorts_the_table(report, fragment):
    column = fragment.split("=")[1].lstrip("-")
    descending = "=-" in fragment
    dom, console = open_page(report / "report.html", fragment)
    assert console == [], f"console output: {console}"
    page = Page(dom)
    table = read_csv(report / "results.csv")
    expected = sorted(table, key=lambda r: float(r[column]), reverse=descending)
    assert len({r[column] for r in table}) > 2, "nothing to sort"
    index = COLUMNS.index(column)
    assert [row[index] for row in page.rows] == [r[column] for r in expected]
    assert [row[:2] for row in page.rows] == [[r["image"], r["method"]] for r in expected]


def test_every_overlay_is_drawn_in_the_one_picture_style():
    """The run's overlay is the package's picture (visualization.heatmap_image), so a
    sparse I-GOS-like map (one bright cell) shows in the colour map's top colours."""
    import numpy as np
    import torch

    from captum_igos.runs.pictures import overlay_picture
    from captum_igos.visualization import heatmap_image

    pixels = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    sparse = torch.zeros(32, 32)
    sparse[4:8, 20:24] = 1.0
    drawn = np.asarray(overlay_picture(pixels, sparse))
    assert np.array_equal(drawn, np.asarray(heatmap_image(pixels, sparse)))
    # the planted cell is the brightest part of the picture, the rest the dimmed photo
    assert drawn[4:8, 20:24].mean() > drawn[16:, :16].mean() + 60
