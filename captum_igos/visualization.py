"""Pictures: heatmap overlays, deletion/insertion curves and side-by-side method comparisons.

Every panel showing an attribution is drawn by Captum's
``captum.attr.visualization.visualize_image_attr`` (with ``use_pyplot=False`` and our own
axes) in one style, :data:`STYLE`: each map scaled to its own range
(:func:`scale_map`) in a perceptual colour map (inferno) blended over the dimmed grey
photo, the scale stated under the figure, so a sparse I-GOS map shows as clearly as a
broad Grad-CAM map. :func:`heatmap_image` draws the same pixels as a PIL image without
a figure (for pictures written by the thousand). The figure functions build
``matplotlib.figure.Figure`` objects directly, never touch pyplot's global figure list and
never call ``plt.show()``: they work headless (Agg) and in notebooks (a returned figure is
displayed by Jupyter). Save with :func:`save_figure`.

Images are given as display images: ``(N, C, H, W)`` (or ``(C, H, W)``) tensors with
values in [0, 1] and ``C`` in (1, 3). Model inputs that were normalised must be mapped back
first, e.g. ``loaded.denormalize(x)`` from :func:`captum_igos.models.load_model`, or passed
with ``denormalize=loaded.denormalize``.

Attributions may be input-shaped (channels summed) or layer-shaped (``(N, 1, h, w)``,
upsampled bilinearly), exactly as the metrics read them
(:func:`captum_igos.metrics.deletion_insertion`). The default ``sign="positive"`` shows
what the metrics rank first: the largest (signed) values.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np
import torch
from captum.attr import visualization as captum_viz
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor

from captum_igos._utils.validation import check_choice, check_finite, check_tensor, describe
from captum_igos.maps import saliency_map
from captum_igos.metrics.deletion_insertion import DeletionInsertionResult, ImageDeletionInsertion

__all__ = [
    "STYLE",
    "PictureStyle",
    "compare_methods",
    "heatmap_image",
    "overlay_heatmap",
    "plot_deletion_insertion",
    "save_figure",
    "scale_map",
]

#: Captum's ``visualize_image_attr`` methods and signs.
METHODS = ("heat_map", "blended_heat_map", "masked_image", "alpha_scaling")
SIGNS = ("positive", "absolute_value", "negative", "all")

Curves = Union[DeletionInsertionResult, ImageDeletionInsertion]


@dataclass(frozen=True)
class PictureStyle:
    """The one picture style of the package: every map over a dimmed photo.

    Each map is scaled to its own range (:func:`scale_map`: its lowest value is 0, its
    top ``top_percent`` % of pixels 1) and coloured with a perceptual colour map whose low
    end is dark, then blended over the grey photo with weight ``alpha_overlay``:
    ``pixel = alpha * cmap(scaled) + (1 - alpha) * grey``. Where the map is low the photo
    shows dimmed to ``1 - alpha``; where it is high the colour map's bright end shows, so
    a sparse I-GOS map (a few cells) is as visible as a broad Grad-CAM map. This is what
    Captum's ``visualize_image_attr(method="blended_heat_map")`` draws given these
    ``cmap`` and ``alpha_overlay`` and a map already scaled (with no further clipping
    to speak of); :func:`heatmap_image` draws the same pixels without a figure.

    Attributes:
        cmap: colour map of one-signed maps (``"positive"``, ``"negative"``,
            ``"absolute_value"``), dark at 0.
        signed_cmap: colour map of ``sign="all"`` maps, scaled to [-1, 1]; dark at 0,
            blue below, red above.
        top_percent: the share of pixels drawn in the brightest colour (at least one).
        alpha_overlay: weight of the colours over the grey photo.
        outlier_perc: Captum's outlier clipping on top of the scaling: none to speak of
            (Captum's 0 can miss its threshold by float rounding and raise IndexError).
        signed_caption: added to the caption when a panel shows a signed map.
    """

    cmap: str = "inferno"
    signed_cmap: str = "berlin"
    alpha_overlay: float = 0.6
    top_percent: float = 1.0
    outlier_perc: float = 1e-6
    signed_caption: str = "signed maps: blue < 0 < red"

    @property
    def caption(self) -> str:
        """The scale, stated under every figure."""
        return f"each map scaled to its own range (dark: min, bright: top {self.top_percent:g}%)"

    def colour_map(self, sign: str) -> str:
        """The colour map for maps shown with Captum's ``sign``."""
        return self.signed_cmap if sign == "all" else self.cmap


#: The style every figure and :func:`heatmap_image` use.
STYLE = PictureStyle()


def _display_images(
    images: Tensor, denormalize: Callable[[Tensor], Tensor] | None, name: str = "images"
) -> Tensor:
    """``(N, C, H, W)`` images in [0, 1], detached, on the CPU as float32 (for plotting)."""
    check_tensor(name, images)
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise ValueError(
            f"expected {name} of shape (N, C, H, W) or (C, H, W) with C in (1, 3), "
            f"got {tuple(images.shape)}"
        )
    images = images.detach()
    if denormalize is not None:
        images = denormalize(images)
    images = check_finite(name, images.float())  # NaN passes the range check below
    low, high = float(images.min()), float(images.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(
            f"expected {name} with values in [0, 1] (display images), got values in "
            f"[{low:.3g}, {high:.3g}]; pass denormalize= (e.g. loaded.denormalize) for "
            "normalised model inputs"
        )
    return images.clamp(0, 1).cpu()


def _maps(attributions: Tensor, images: Tensor, name: str) -> Tensor:
    """``(N, H, W)`` float32 CPU maps for the images (channels summed, layer maps upsampled)."""
    check_tensor(name, attributions)
    if attributions.dim() == 3 and images.shape[0] == 1 and attributions.shape[0] != 1:
        attributions = attributions.unsqueeze(0)  # one image's (C, H, W) map
    elif attributions.dim() == 2 and images.shape[0] == 1:
        attributions = attributions[None, None]  # one image's (H, W) map
    size = (images.shape[-2], images.shape[-1])
    return saliency_map(attributions.detach().float().cpu(), size, images.shape[0], name=name)


def _hwc(image: Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).numpy()


def _selected(attribution_map: Tensor, sign: str) -> Tensor:
    """The values Captum's ``sign`` shows, as magnitudes (``"all"``: signed)."""
    if sign == "positive":
        return attribution_map.clamp(min=0)
    if sign == "negative":
        return (-attribution_map).clamp(min=0)
    if sign == "absolute_value":
        return attribution_map.abs()
    return attribution_map


def _top_level(magnitudes: Tensor, top_percent: float) -> Tensor:
    """The value from which the top ``top_percent`` % of the pixels (at least one) count
    as the map's top: its k-th largest value, or its largest when that one is not above
    the lowest (a map with fewer non-minimal pixels than k)."""
    flat = magnitudes.flatten()
    k = max(1, int(flat.numel() * top_percent / 100))
    level = flat.topk(k).values[-1]
    return level if level > flat.min() else flat.max()


def scale_map(attribution_map: Tensor, sign: str = "positive") -> Tensor:
    r"""The map scaled to its own range, as every picture of the package colours it.

    With :math:`v` the values ``sign`` selects (``"positive"``: :math:`\max(a, 0)`,
    ``"negative"``: :math:`\max(-a, 0)`, ``"absolute_value"``: :math:`|a|`) and
    :math:`t` the value of the map's top :attr:`PictureStyle.top_percent` % of pixels
    (:data:`STYLE`: 1 %, at least one pixel),
    :math:`\mathrm{clip}((v - \min v) / (t - \min v), 0, 1)`; for ``"all"``, with
    :math:`t` taken of :math:`|a|`, :math:`\mathrm{clip}(a / t, -1, 1)`. The lowest value
    is dark, the top 1 % bright, whatever the map's units and however few its cells: a
    sparse I-GOS map and a broad Grad-CAM map reach the same colours. A constant map
    (nothing to scale, e.g. an empty I-GOS map) gives zeros: the dimmed photo.

    Example:
        >>> import torch
        >>> scale_map(torch.tensor([[0.0, 0.1], [0.2, -1.0]])).tolist()
        [[0.0, 0.5], [1.0, 0.0]]
        >>> scale_map(torch.tensor([[-2.0, 1.0]]), "all").tolist()
        [[-1.0, 0.5]]
    """
    check_choice("sign", sign, SIGNS)
    values = _selected(attribution_map.detach().double(), sign)
    if sign == "all":
        top = _top_level(values.abs(), STYLE.top_percent)
        return (values / top).clamp(-1, 1) if top > 0 else torch.zeros_like(values)
    low, top = values.min(), _top_level(values, STYLE.top_percent)
    return ((values - low) / (top - low)).clamp(0, 1) if top > low else torch.zeros_like(values)


def _nothing_to_scale(attribution_map: Tensor, sign: str) -> str | None:
    """Why a map cannot be scaled (the note under its panel), or ``None`` when it can."""
    values = _selected(attribution_map, sign)
    if not bool((values != 0).any()):  # e.g. I-GOS's all-zero map
        return f"(no {sign.replace('_', ' ')} values to draw)"
    if sign != "all" and bool(values.min() == values.max()):
        return "(constant map: nothing to scale)"
    return None


def _grey(image: Tensor) -> np.ndarray:
    """The photo as Captum's blended heat map shows it: channel mean, own range, in [0, 1]."""
    levels = (image.clamp(0, 1) * 255).to(torch.int64).double().mean(dim=0)  # as Captum's
    low, high = levels.min(), levels.max()
    return ((levels - low) / (high - low) if high > low else torch.zeros_like(levels)).numpy()


def _blend(image: Tensor, scaled: Tensor, sign: str) -> np.ndarray:
    """``(H, W, 3)`` in [0, 1]: ``alpha * cmap(scaled) + (1 - alpha) * grey photo``."""
    from matplotlib import colormaps

    unit = (scaled + 1) / 2 if sign == "all" else scaled  # imshow's vmin/vmax for the sign
    colours = colormaps[STYLE.colour_map(sign)](unit.numpy())[..., :3]
    grey = colormaps["gray"](_grey(image))[..., :3]
    return STYLE.alpha_overlay * colours + (1 - STYLE.alpha_overlay) * grey


def _to_pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8))


def heatmap_image(image: Tensor, heatmap: Tensor, *, sign: str = "positive") -> Image.Image:
    """The map over the dimmed photo in :data:`STYLE`, as a PIL image of the photo's size.

    The same pixels as :func:`overlay_heatmap`'s panel (Captum's blended heat map in
    :data:`STYLE`), drawn with NumPy and a colour map instead of a matplotlib figure,
    which costs about 10 times as long (224 px, PNG written): for pictures written one
    per image and method.
    A constant map gives the dimmed photo alone.

    Args:
        image: ``(3, H, W)`` (or ``(1, H, W)``) display image in [0, 1].
        heatmap: ``(H, W)`` map (a smaller ``(h, w)`` map is upsampled bilinearly).
        sign: which values to show, as Captum's ``sign`` (:func:`scale_map`).

    Returns:
        RGB ``PIL.Image.Image`` of ``W x H`` pixels.

    Example:
        >>> import torch
        >>> heatmap_image(torch.zeros(3, 4, 5), torch.arange(20.).view(4, 5)).size
        (5, 4)
    """
    check_choice("sign", sign, SIGNS)
    images = _display_images(image, None, name="image")
    if images.shape[0] != 1:
        raise ValueError(f"expected one image (C, H, W), got {tuple(image.shape)}")
    check_tensor("heatmap", heatmap)
    if heatmap.dim() != 2:
        raise ValueError(f"expected heatmap of shape (H, W), got {tuple(heatmap.shape)}")
    attribution_map = _maps(heatmap, images, "heatmap")[0]
    check_finite("heatmap", attribution_map)
    return _to_pil(_blend(images[0], scale_map(attribution_map, sign), sign))


def _draw_attribution(
    fig: Figure,
    axis: Any,
    image: Tensor,
    attribution_map: Tensor,
    method: str,
    sign: str,
    title: str | None,
    **visualize_kwargs: Any,
) -> None:
    note = _nothing_to_scale(attribution_map, sign)
    if note is not None:  # Captum cannot scale a constant map: show the dimmed photo
        dimmed = _blend(image, torch.zeros(image.shape[-2:], dtype=torch.float64), sign)
        _draw_image(axis, torch.from_numpy(dimmed).permute(2, 0, 1))
        axis.set_title(f"{title}\n{note}" if title else note)
        return
    options = {
        "cmap": STYLE.colour_map(sign),
        "alpha_overlay": STYLE.alpha_overlay,
        "outlier_perc": STYLE.outlier_perc,
        **visualize_kwargs,
    }
    captum_viz.visualize_image_attr(
        scale_map(attribution_map, sign).numpy(),
        _hwc(image),
        method=method,
        sign="all" if sign == "all" else "positive",  # already selected and scaled
        plt_fig_axis=(fig, axis),
        title=title,
        use_pyplot=False,
        **options,
    )


def _state_the_scale(fig: Figure, signs: Iterable[str]) -> None:
    caption = STYLE.caption
    if "all" in signs:
        caption = f"{caption}; {STYLE.signed_caption}"
    fig.supxlabel(caption, fontsize="small")


def _draw_image(axis: Any, image: Tensor, title: str | None = None) -> None:
    pixels = _hwc(image)
    axis.imshow(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels, cmap="gray", vmin=0, vmax=1)
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title)


def overlay_heatmap(
    image: Tensor,
    attribution: Tensor,
    *,
    method: str = "blended_heat_map",
    sign: str = "positive",
    title: str | None = None,
    denormalize: Callable[[Tensor], Tensor] | None = None,
    fig_size: tuple[float, float] = (4.0, 4.0),
    dpi: int = 100,
    **visualize_kwargs: Any,
) -> Figure:
    """One image with its attribution drawn over it by Captum's ``visualize_image_attr``.

    Drawn in :data:`STYLE`: the map scaled to its own range (:func:`scale_map`) in a
    perceptual colour map over the dimmed grey photo, the scale stated under the panel.
    A constant map shows the dimmed photo with a note in the title.

    Args:
        image: ``(C, H, W)`` or ``(1, C, H, W)`` display image in [0, 1].
        attribution: the image's attribution, input-shaped ``(C', H, W)`` /
            ``(1, C', H, W)``, a map ``(H, W)`` or layer-shaped ``(1, 1, h, w)``.
        method, sign: Captum's visualisation method and sign (default: blended heat map
            of the positive values).
        title: panel title.
        denormalize: maps normalised model inputs back to [0, 1].
        fig_size, dpi: the figure is ``fig_size * dpi`` pixels.
        **visualize_kwargs: passed to ``visualize_image_attr`` over :data:`STYLE`'s
            (``cmap``, ``alpha_overlay``, ``outlier_perc``, ``show_colorbar``).

    Returns:
        ``matplotlib.figure.Figure``.
    """
    check_choice("method", method, METHODS)
    check_choice("sign", sign, SIGNS)
    images = _display_images(image, denormalize, name="image")
    if images.shape[0] != 1:
        raise ValueError(f"expected one image, got {images.shape[0]}; use compare_methods")
    maps = _maps(attribution, images, "attribution")
    fig = Figure(figsize=fig_size, dpi=dpi, layout="constrained")
    axis = fig.add_subplot()
    _draw_attribution(fig, axis, images[0], maps[0], method, sign, title, **visualize_kwargs)
    _state_the_scale(fig, [sign])
    return fig


def plot_deletion_insertion(
    result: Curves,
    index: int = 0,
    *,
    title: str | None = None,
    fig_size: tuple[float, float] = (5.0, 3.5),
    dpi: int = 100,
) -> Figure:
    """Deletion and insertion curves of one image, with their areas in the legend.

    Args:
        result: a :class:`~captum_igos.metrics.DeletionInsertionResult` (``index`` picks
            the image) or one image's :class:`~captum_igos.metrics.ImageDeletionInsertion`.
        index: which image of a batch result.
        title: axes title.
        fig_size, dpi: the figure is ``fig_size * dpi`` pixels.

    Returns:
        ``matplotlib.figure.Figure`` with one axes: score against the fraction of pixels
        deleted / inserted.
    """
    if isinstance(result, DeletionInsertionResult):
        if isinstance(index, bool) or not isinstance(index, int) or not (
            -len(result) <= index < len(result)
        ):
            raise ValueError(
                f"expected index in [0, {len(result) - 1}] for a result of {len(result)} "
                f"image(s), got {index!r}"
            )
        result = result[index]
    elif not isinstance(result, ImageDeletionInsertion):
        raise TypeError(
            "expected a DeletionInsertionResult or an ImageDeletionInsertion, "
            f"got {describe(result)}"
        )
    fractions = result.fractions.detach().double().cpu().numpy()
    fig = Figure(figsize=fig_size, dpi=dpi, layout="constrained")
    axis = fig.add_subplot()
    for curve, auc, name, color in (
        (result.deletion, result.deletion_auc, "deletion", "tab:red"),
        (result.insertion, result.insertion_auc, "insertion", "tab:green"),
    ):
        values = curve.detach().double().cpu().numpy()
        axis.plot(fractions, values, color=color, label=f"{name} (AUC {auc:.3f})")
        axis.fill_between(fractions, values, color=color, alpha=0.15)
    axis.set_xlim(0, 1)
    axis.set_ylim(bottom=0)
    axis.set_xlabel("fraction of pixels deleted / inserted")
    axis.set_ylabel("score")
    axis.legend(loc="best")
    if title:
        axis.set_title(title)
    return fig


def _auc_title(name: str, result: DeletionInsertionResult | None, row: int) -> str:
    if result is None:
        return name
    deletion, insertion = float(result.deletion_auc[row]), float(result.insertion_auc[row])
    return f"{name}\ndel {deletion:.3f} / ins {insertion:.3f}"


def compare_methods(
    images: Tensor,
    attributions: Mapping[str, Tensor],
    aucs: Mapping[str, DeletionInsertionResult] | None = None,
    *,
    method: str = "blended_heat_map",
    sign: str | Mapping[str, str] = "positive",
    denormalize: Callable[[Tensor], Tensor] | None = None,
    row_labels: Sequence[str] | None = None,
    panel_size: float = 2.5,
    dpi: int = 100,
    **visualize_kwargs: Any,
) -> Figure:
    """Several methods side by side on the same images: rows images, columns methods.

    The first column shows the image; each other panel is drawn by Captum's
    ``visualize_image_attr`` in :data:`STYLE` (each map scaled to its own range over the
    dimmed photo, the scale stated under the figure) and titled with the method's name
    and, when ``aucs`` has it, its deletion and insertion AUC for that image.

    Args:
        images: ``(N, C, H, W)`` display images in [0, 1].
        attributions: method name -> its attributions for the ``N`` images (any shape
            the metrics accept), in column order.
        aucs: method name -> :class:`~captum_igos.metrics.DeletionInsertionResult` of
            those images (optional, any subset of the methods).
        method: Captum's visualisation method for every panel.
        sign: Captum's sign, for all methods or per method name (missing names:
            ``"positive"``).
        denormalize: maps normalised model inputs back to [0, 1].
        row_labels: one label per image (e.g. the class explained), left of each row.
        panel_size, dpi: each panel is ``panel_size`` inches square; the figure is
            ``(1 + M) * panel_size * dpi`` by ``N * panel_size * dpi`` pixels.
        **visualize_kwargs: passed to ``visualize_image_attr`` over :data:`STYLE`'s.

    Returns:
        ``matplotlib.figure.Figure``.
    """
    check_choice("method", method, METHODS)
    images = _display_images(images, denormalize)
    if not isinstance(attributions, Mapping) or len(attributions) == 0:
        raise ValueError(
            f"expected attributions as a non-empty dict of method name -> tensor, "
            f"got {describe(attributions)}"
        )
    aucs = {} if aucs is None else dict(aucs)
    unknown = sorted(set(aucs) - set(attributions))
    if unknown:
        raise ValueError(f"expected aucs for methods in attributions, got unknown {unknown}")
    count = images.shape[0]
    for name, result in aucs.items():
        if not isinstance(result, DeletionInsertionResult) or len(result) != count:
            raise ValueError(
                f"expected aucs[{name!r}] to be a DeletionInsertionResult of {count} image(s), "
                f"got {describe(result)}"
            )
    signs = {
        name: sign if isinstance(sign, str) else sign.get(name, "positive") for name in attributions
    }
    for name, value in signs.items():
        check_choice(f"sign for {name!r}", value, SIGNS)
    if row_labels is not None and len(row_labels) != count:
        raise ValueError(f"expected {count} row_labels, got {len(row_labels)}")
    maps = {
        name: _maps(attr, images, f"attributions[{name!r}]") for name, attr in attributions.items()
    }

    columns = 1 + len(maps)
    fig_size = (columns * panel_size, count * panel_size)
    fig = Figure(figsize=fig_size, dpi=dpi, layout="constrained")
    axes = np.asarray(fig.subplots(count, columns, squeeze=False))
    for row in range(count):
        _draw_image(axes[row, 0], images[row], "image")
        if row_labels is not None:
            axes[row, 0].set_ylabel(str(row_labels[row]))
        for column, (name, name_maps) in enumerate(maps.items(), start=1):
            _draw_attribution(
                fig,
                axes[row, column],
                images[row],
                name_maps[row],
                method,
                signs[name],
                _auc_title(name, aucs.get(name), row),
                **visualize_kwargs,
            )
    _state_the_scale(fig, signs.values())
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int | None = None) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, e.g. ``.png``), creating folders.

    The picture keeps the figure's size: ``fig_size * dpi`` pixels (no tight cropping).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=fig.dpi if dpi is None else dpi)
    return path
