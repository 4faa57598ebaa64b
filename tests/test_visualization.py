"""Pictures: PNGs of the expected size, curves and titles as computed, no pyplot, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from matplotlib import pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from captum_igos import visualization
from captum_igos.metrics import deletion_insertion
from captum_igos.visualization import (
    STYLE,
    compare_methods,
    heatmap_image,
    overlay_heatmap,
    plot_deletion_insertion,
    save_figure,
    scale_map,
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


def dimmed_photo(image):
    """The photo under a zero map, written out: Captum's grey (channel mean of the 0-255
    levels, stretched to its own range) times ``1 - alpha``, plus ``alpha`` times the
    colour map's darkest colour."""
    levels = np.floor(image.double().numpy() * 255).mean(axis=0)
    grey = (levels - levels.min()) / (levels.max() - levels.min())
    darkest = np.array(colormaps[STYLE.cmap](0.0)[:3])
    grey_rgb = np.array(colormaps["gray"](grey))[..., :3]
    return STYLE.alpha_overlay * darkest + (1 - STYLE.alpha_overlay) * grey_rgb


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
    visualize_image_attr cannot scale it, so the panel shows the dimmed photo with a note."""
    empty = torch.zeros(2, 1, 12, 12)
    fig = compare_methods(images, {"igos": empty, "cam": torch.rand(2, 1, 3, 3)})
    titles = [axis.get_title() for axis in fig.axes]
    assert titles[1] == "igos\n(no positive values to draw)"
    shown = np.asarray(fig.axes[1].images[-1].get_array())
    np.testing.assert_allclose(shown, dimmed_photo(images[0]), atol=0.5 / 255)
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


def blocks(values, size=8):
    """Each value of a (..., h, w) tensor as a size x size block of pixels."""
    return values.repeat_interleave(size, -2).repeat_interleave(size, -1)


def canvas_pixels(fig):
    """The figure's pixels (H, W, 3) as uint8, drawn by Agg."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(int)


def panel_centres(fig, axis, cells):
    """The figure's pixel at the centre of each of cells x cells blocks of ``axis``'s image."""
    pixels = canvas_pixels(fig)
    box = axis.get_window_extent()
    height = pixels.shape[0]
    out = np.zeros((cells, cells, 3), dtype=int)
    for row in range(cells):
        for column in range(cells):
            x = box.x0 + (column + 0.5) / cells * box.width
            y = height - (box.y1 - (row + 0.5) / cells * box.height)
            out[row, column] = pixels[int(y), int(x)]
    return out


def test_scale_map_by_hand():
    values = torch.tensor([[-2.0, 0.0], [1.0, 3.0]])
    torch.testing.assert_close(scale_map(values), torch.tensor([[0.0, 0.0], [1 / 3, 1.0]],
                                                               dtype=torch.float64))
    torch.testing.assert_close(scale_map(values, "negative"),
                               torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(scale_map(values, "absolute_value"),
                               torch.tensor([[2 / 3, 0.0], [1 / 3, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(scale_map(values, "all"),
                               torch.tensor([[-2 / 3, 0.0], [1 / 3, 1.0]], dtype=torch.float64))
    # its own range: a map between 0.2 and 0.3 spans the whole colour map
    torch.testing.assert_close(scale_map(torch.tensor([0.2, 0.25, 0.3])),
                               torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    assert torch.equal(scale_map(torch.full((2, 2), 0.7)), torch.zeros(2, 2, dtype=torch.float64))
    assert torch.equal(scale_map(torch.zeros(2, 2), "all"), torch.zeros(2, 2, dtype=torch.float64))


@pytest.mark.parametrize("sign", ["positive", "all"])
def test_heatmap_image_draws_what_overlay_heatmap_draws(sign):
    """The fast PIL picture and Captum's figure agree pixel for pixel (8-bit rounding and
    the figure's resampling aside) at the centre of each block of a 6 x 6 map."""
    generator = torch.Generator().manual_seed(1)
    image = blocks(torch.rand(3, 6, 6, generator=generator))
    heat = blocks(torch.randn(6, 6, generator=generator))
    fig = overlay_heatmap(image, heat, sign=sign, fig_size=(4, 4), dpi=100)
    drawn = panel_centres(fig, fig.axes[0], 6)
    fast = np.asarray(heatmap_image(image, heat, sign=sign)).astype(int)[4::8, 4::8]
    assert np.abs(drawn - fast).max() <= 3
    assert fast.std() > 20  # the map shows: not the dimmed photo alone


def test_a_sparse_map_is_drawn_in_the_colour_maps_brightest_colours(images):
    """A sparse I-GOS map (1% of the pixels, small values) gets the colour map's top colour,
    brighter than every pixel of the dimmed photo around it; a broad map beside it gets
    the same top colour at its maximum."""
    generator = torch.Generator().manual_seed(2)
    photo = torch.rand(3, 100, 100, generator=generator)
    sparse = torch.zeros(100, 100)
    sparse[40:50, 60:70] = 0.03  # 1% of the pixels
    top = STYLE.alpha_overlay * np.array(colormaps[STYLE.cmap](1.0)[:3])
    picture = np.asarray(heatmap_image(photo, sparse)).astype(float) / 255
    inside = picture[40:50, 60:70]
    outside = np.delete(picture.reshape(-1, 3), [r * 100 + c for r in range(40, 50)
                                                 for c in range(60, 70)], axis=0)
    assert (inside[..., :2] >= top[:2] - 1 / 255).all()  # at least the top colour's share
    assert inside[..., 0].min() > outside[..., 0].max() + 0.15  # stands out of the photo
    assert outside.max() <= 1 - STYLE.alpha_overlay + 3 / 255  # the photo is dimmed

    broad = torch.linspace(0, 5, 100).view(1, 100).expand(100, 100)
    fig = compare_methods(photo[None], {"igos": sparse[None, None], "cam": broad[None, None]},
                          panel_size=3, dpi=100)
    for axis in fig.axes[1:]:
        assert np.asarray(axis.images[-1].get_array()).max() == 1.0  # the top of the scale
    drawn = panel_centres(fig, fig.axes[1], 20)[9, 13]  # a block of the sparse map
    assert (drawn[:2] / 255 >= top[:2] - 2 / 255).all()
    assert fig.get_supxlabel() == STYLE.caption


def test_a_constant_map_is_the_dimmed_photo_and_says_so(images):
    constant = torch.full((12, 12), 0.7)
    picture = np.asarray(heatmap_image(images[0], constant)).astype(float) / 255
    np.testing.assert_allclose(picture, dimmed_photo(images[0]), atol=0.51 / 255)
    fig = overlay_heatmap(images[0], constant, title="cam")
    assert fig.axes[0].get_title() == "cam\n(constant map: nothing to scale)"
    shown = np.asarray(fig.axes[0].images[-1].get_array())
    np.testing.assert_allclose(shown, dimmed_photo(images[0]), atol=0.5 / 255)


def test_the_top_one_percent_of_pixels_is_brightest_whatever_the_outliers():
    """A ramp with one huge spike: the spike does not squash the ramp into darkness; the
    100 largest of 10,000 pixels (1 %) reach the top colour, the rest scale below them."""
    ramp = torch.arange(10_000, dtype=torch.float64) / 9999
    ramp[0] = 100.0
    scaled = scale_map(ramp.view(100, 100)).flatten()
    # lowest 1 / 9999 (pixel 1), 100th largest 9901 / 9999: pixel i > 0 is (i - 1) / 9900
    expected = ((torch.arange(10_000, dtype=torch.float64) - 1) / 9900).clamp(max=1)
    expected[0] = 1.0
    torch.testing.assert_close(scaled, expected)
    assert int((scaled == 1).sum()) == 100
    assert STYLE.caption == "each map scaled to its own range (dark: min, bright: top 1%)"


def test_the_scale_is_stated_under_every_figure(images):
    fig = compare_methods(images, {"a": torch.rand(2, 1, 3, 3), "b": torch.randn(2, 3, 12, 12)},
                          sign={"b": "all"})
    assert fig.get_supxlabel() == f"{STYLE.caption}; {STYLE.signed_caption}"
    assert overlay_heatmap(images[0], torch.rand(12, 12)).get_supxlabel() == STYLE.caption


def test_heatmap_image_size_and_layer_maps(images):
    picture = heatmap_image(images[0], torch.rand(12, 12))
    assert isinstance(picture, Image.Image) and picture.size == (12, 12) and picture.mode == "RGB"
    layer = torch.rand(3, 3)
    upsampled = torch.nn.functional.interpolate(layer[None, None], size=(12, 12),
                                                mode="bilinear", align_corners=False)[0, 0]
    assert np.array_equal(np.asarray(heatmap_image(images[0], layer)),
                          np.asarray(heatmap_image(images[0], upsampled)))


@pytest.mark.parametrize(
    "image, heatmap, match",
    [
        (torch.rand(3, 12, 12), torch.rand(1, 12, 12), r"^expected heatmap of shape \(H, W\), "
                                                       r"got \(1, 12, 12\)$"),
        (torch.rand(3, 12, 12), torch.rand(13, 12), r"h <= 12"),
        (torch.rand(2, 3, 12, 12), torch.rand(12, 12), r"^expected one image \(C, H, W\)"),
        (torch.rand(3, 12, 12) * 3, torch.rand(12, 12), r"values in \[0, 1\]"),
        (torch.rand(3, 12, 12), torch.full((12, 12), float("nan")), r"heatmap with finite"),
    ],
)
def test_heatmap_image_bad_input(image, heatmap, match):
    with pytest.raises(ValueError, match=match):
        heatmap_image(image, heatmap)


def test_a_map_whose_sum_rounds_badly_is_drawn():
    """Captum's outlier_perc=0 asks for the value where the cumulative sum reaches
    ``total * 0.01 * 100``, which rounds above ``total`` for this map (IndexError)."""
    heat = torch.rand(12, 12, generator=torch.Generator().manual_seed(17))
    fig = overlay_heatmap(torch.rand(3, 12, 12), heat)
    np.testing.assert_allclose(fig.axes[0].images[-1].get_array(), scale_map(heat).numpy())
