"""Pictures: heatmap overlays, deletion/insertion curves and side-by-side method comparisons.

Every panel showing an attribution is drawn by Captum's
``captum.attr.visualization.visualize_image_attr`` (with ``use_pyplot=False`` and our own
axes), so the pictures look like Captum's. The functions build
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np
from captum.attr import visualization as captum_viz
from matplotlib.figure import Figure
from torch import Tensor

from captum_igos._utils.validation import check_choice, check_finite, check_tensor, describe
from captum_igos.maps import saliency_map
from captum_igos.metrics.deletion_insertion import DeletionInsertionResult, ImageDeletionInsertion

__all__ = ["compare_methods", "overlay_heatmap", "plot_deletion_insertion", "save_figure"]

#: Captum's ``visualize_image_attr`` methods and signs.
METHODS = ("heat_map", "blended_heat_map", "masked_image", "alpha_scaling")
SIGNS = ("positive", "absolute_value", "negative", "all")

Curves = Union[DeletionInsertionResult, ImageDeletionInsertion]


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
    size = (images.shape[-2], images.shape[-1])
    return saliency_map(attributions.detach().float().cpu(), size, images.shape[0], name=name)


def _hwc(image: Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).numpy()


def _has_values(attribution_map: Tensor, sign: str) -> bool:
    """Whether ``sign`` selects any non-zero value (e.g. I-GOS's all-zero map has none)."""
    if sign == "positive":
        return bool((attribution_map > 0).any())
    if sign == "negative":
        return bool((attribution_map < 0).any())
    return bool((attribution_map != 0).any())


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
    if not _has_values(attribution_map, sign):  # Captum cannot scale a map with none
        note = f"(no {sign.replace('_', ' ')} values to draw)"
        _draw_image(axis, image, f"{title}\n{note}" if title else note)
        return
    captum_viz.visualize_image_attr(
        attribution_map.numpy()[:, :, None],
        _hwc(image),
        method=method,
        sign=sign,
        plt_fig_axis=(fig, axis),
        title=title,
        use_pyplot=False,
        **visualize_kwargs,
    )


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

    Args:
        image: ``(C, H, W)`` or ``(1, C, H, W)`` display image in [0, 1].
        attribution: the image's attribution, input-shaped ``(C', H, W)`` /
            ``(1, C', H, W)`` or layer-shaped ``(1, 1, h, w)``.
        method, sign: Captum's visualisation method and sign (default: blended heat map
            of the positive values).
        title: panel title.
        denormalize: maps normalised model inputs back to [0, 1].
        fig_size, dpi: the figure is ``fig_size * dpi`` pixels.
        **visualize_kwargs: passed to ``visualize_image_attr`` (``cmap``,
            ``alpha_overlay``, ``outlier_perc``, ``show_colorbar``).

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
    ``visualize_image_attr`` and titled with the method's name and, when ``aucs`` has it,
    its deletion and insertion AUC for that image.

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
        **visualize_kwargs: passed to ``visualize_image_attr``.

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
