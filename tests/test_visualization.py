"""Pictures: PNGs of the expected size, curves and titles as computed, no pyplot, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from PIL import Image

from captum_igos import visualization
from captum_igos.metrics import deletion_insertion
from captum_igos.visualization import (
    compare_methods,
    overlay_heatmap,
    plot_deletion_insertion,
    save_figure,
)


@pytest.fixture(autouse=True)
def _no_pyplot(monkeypatch):
    """Library code must neither show nor register figures with pyplot."""

    def forbidden(*args, **kwargs):
        raise AssertionError("plt.show() called")

    monkeypatch.setattr(plt, "show", forbidden)
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before


def tiny_model(x):
    pooled = x.mean(dim=(2, 3))
    return torch.cat([pooled, -pooled], dim=1)


@pytest.fixture
def images():
    torch.manual_seed(0)
    return torch.rand(2, 3, 12, 12)


@pytest.fixture
def result(images):
    return deletion_insertion(tiny_model, images, torch.rand(2, 1, 12, 12), n_steps=6)


def png(fig, path):
    written = save_figure(fig, path)
    assert written == path and path.stat().st_size > 0
    with Image.open(path) as picture:
        pixels = np.asarray(picture.convert("RGB"))
    assert pixels.std() > 0  # something was drawn
    return pixels


def test_plot_deletion_insertion_draws_the_curves(tmp_path, result):
    fig = plot_deletion_insertion(result, index=1, title="image 1")
    assert isinstance(fig, Figure)
    axis = fig.axes[0]
    deletion, insertion = axis.get_lines()
    np.testing.assert_allclose(deletion.get_xdata(), result.fractions.numpy(), rtol=1e-6)
    np.testing.assert_allclose(deletion.get_ydata(), result.deletion[1].numpy(), rtol=1e-6)
    np.testing.assert_allclose(insertion.get_ydata(), result.insertion[1].numpy(), rtol=1e-6)
    labels = [text.get_text() for text in axis.get_legend().get_texts()]
    assert labels == [
        f"deletion (AUC {float(result.deletion_auc[1]):.3f})",
        f"insertion (AUC {float(result.insertion_auc[1]):.3f})",
    ]
    assert axis.get_title() == "image 1"
    pixels = png(fig, tmp_path / "nested" / "curves.png")
    assert pixels.shape == (350, 500, 3)


def test_plot_accepts_one_image_result(result):
    fig = plot_deletion_insertion(result[0], fig_size=(3, 2), dpi=50)
    np.testing.assert_allclose(fig.axes[0].get_lines()[1].get_ydata(), result.insertion[0].numpy())
    assert tuple(fig.get_size_inches() * fig.dpi) == (150, 100)


def test_compare_methods_grid_titles_and_size(tmp_path, images, result):
    layer_map = torch.rand(2, 1, 3, 3)
    fig = compare_methods(
        images,
        {"signed": torch.randn(2, 3, 12, 12), "cam": layer_map},
        aucs={"cam": result},
        sign={"signed": "all"},
        row_labels=["cat", "dog"],
        panel_size=2,
        dpi=50,
    )
    assert len(fig.axes) == 6
    titles = [axis.get_title() for axis in fig.axes]
    assert titles[0] == titles[3] == "image"
    assert titles[1] == titles[4] == "signed"
    assert titles[2] == (
        f"cam\ndel {float(result.deletion_auc[0]):.3f} / ins {float(result.insertion_auc[0]):.3f}"
    )
    assert titles[5].startswith("cam\ndel ") and titles[5] != titles[2]
    assert fig.axes[3].get_ylabel() == "dog"
    pixels = png(fig, tmp_path / "compare.png")
    assert pixels.shape == (2 * 100, 3 * 100, 3)


def test_overlay_heatmap_shows_the_attribution(tmp_path, images):
    attribution = torch.zeros(3, 12, 12)
    attribution[:, :, :6] = 1.0  # left half important
    fig = overlay_heatmap(images[0], attribution, title="left", dpi=40)
    heat = np.asarray(fig.axes[0].images[-1].get_array())
    assert heat[:, :6].min() > heat[:, 6:].max()
    assert fig.axes[0].get_title() == "left"
    assert png(fig, tmp_path / "overlay.png").shape == (160, 160, 3)


def test_denormalize_and_range_check(images):
    mean, std = 0.5, 0.25
    normalised = (images - mean) / std
    with pytest.raises(ValueError, match=r"values in \[0, 1\].*pass denormalize="):
        overlay_heatmap(normalised[0], torch.rand(1, 1, 12, 12))
    fig = overlay_heatmap(
        normalised[0], torch.rand(1, 1, 12, 12), denormalize=lambda x: x * std + mean
    )
    assert isinstance(fig, Figure)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda im, r: plot_deletion_insertion(r, index=2), ValueError, r"index in \[0, 1\]"),
        (lambda im, r: plot_deletion_insertion("r"), TypeError, r"DeletionInsertionResult"),
        (lambda im, r: compare_methods(im, {}), ValueError, r"non-empty dict"),
        (
            lambda im, r: compare_methods(im, {"a": torch.rand(2, 1, 12, 12)}, aucs={"b": r}),
            ValueError,
            r"unknown \['b'\]",
        ),
        (
            lambda im, r: compare_methods(im, {"a": torch.rand(3, 1, 12, 12)}),
            ValueError,
            r"attributions\['a'\] of shape .* with N = 2; got \(3, 1, 12, 12\)",
        ),
        (
            lambda im, r: compare_methods(im, {"a": torch.rand(2, 1, 12, 12)}, sign="pos"),
            ValueError,
            r"sign for 'a' to be one of",
        ),
        (
            lambda im, r: compare_methods(im[:1], {"a": torch.rand(1, 1, 12, 12)}, aucs={"a": r}),
            ValueError,
            r"DeletionInsertionResult of 1 image",
        ),
        (lambda im, r: overlay_heatmap(im, torch.rand(2, 1, 12, 12)), ValueError, r"one image"),
        (
            lambda im, r: overlay_heatmap(im[0], torch.rand(1, 1, 4, 4), method="x"),
            ValueError,
            r"method to be one of",
        ),
        (lambda im, r: overlay_heatmap(im[0, :2], torch.rand(1, 1, 4, 4)), ValueError, r"C in"),
    ],
)
def test_bad_input(images, result, call, error, match):
    with pytest.raises(error, match=match):
        call(images, result)


def test_module_is_public():
    assert visualization.compare_methods is compare_methods


@pytest.mark.parametrize("sign", ["positive", "negative", "all"])
def test_a_map_with_nothing_to_draw_shows_the_image_and_says_so(tmp_path, images, sign):
    """I-GOS returns an all-zero map when its optimisation stops at once; Captum's
    visualize_image_attr cannot scale it, so the panel shows the image with a note."""
    empty = torch.zeros(2, 1, 12, 12)
    fig = compare_methods(images, {"igos": empty, "cam": torch.rand(2, 1, 3, 3)})
    titles = [axis.get_title() for axis in fig.axes]
    assert titles[1] == "igos\n(no positive values to draw)"
    shown = np.asarray(fig.axes[1].images[-1].get_array())
    np.testing.assert_allclose(shown, images[0].permute(1, 2, 0).numpy())
    one = overlay_heatmap(images[0], empty[0], sign=sign, title="t", dpi=40)
    assert one.axes[0].get_title() == f"t\n(no {sign} values to draw)"
    png(one, tmp_path / "empty.png")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_images_and_maps_are_refused(images, bad):
    """NaN passes a range check (every comparison is False) and would be drawn as an image."""
    broken = images.clone()
    broken[0, 1, 2, 3] = bad
    kept = broken.clone()
    attribution = torch.rand(1, 1, 12, 12)
    with pytest.raises(ValueError, match=r"^expected image with finite values, got 1 NaN or "
                       r"inf value\(s\) of 432$"):
        overlay_heatmap(broken[0], attribution)
    with pytest.raises(ValueError, match=r"^expected images with finite values, got 1 "):
        compare_methods(broken, {"a": torch.rand(2, 1, 12, 12)})
    assert torch.equal(broken.nan_to_num(7.0), kept.nan_to_num(7.0))
    attribution[0, 0, 4, 4] = bad
    with pytest.raises(ValueError, match=r"^expected attribution with finite values, got 1 "
                       r"NaN or inf value\(s\) of 144$"):
        overlay_heatmap(images[0], attribution)
    with pytest.raises(ValueError, match=r"^expected attributions\['a'\] with finite values"):
        compare_methods(images[:1], {"a": attribution})
