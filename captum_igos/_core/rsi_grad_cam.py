"""RSI-Grad-CAM: Grad-CAM with channel weights from a Riemann-Stieltjes integral.

Lucas, Lerma, Furst, Raicu. "Visual Explanations from Deep Networks via Riemann-Stieltjes
Integrated Gradient-based Localization", 2022, arXiv:2205.10900.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Union

import torch
import torch.nn.functional as F
from captum.attr import GradientAttribution, LayerAttribution
from captum.log import log_usage
from torch import Tensor
from torch.nn import Module

from captum_igos._utils.batching import chunk_ranges, path_points_per_pass
from captum_igos._utils.captum_compat import (
    BaselineType,
    TargetType,
    compute_layer_gradients_and_eval,
    format_additional_forward_args,
    format_baseline,
    format_output,
    run_forward,
)
from captum_igos._utils.model_state import predicts
from captum_igos._utils.path_integration import (
    STIELTJES_METHODS,
    expand_for_steps,
    path_points,
    stieltjes_rule,
)
from captum_igos._utils.precision import LossScale, autocast_forward, check_autocast
from captum_igos._utils.reshape import ReshapeTransform
from captum_igos._utils.scores import Score, check_score, scored_forward
from captum_igos._utils.targets import checked_forward, resolve_target
from captum_igos._utils.validation import (
    check_baselines,
    check_choice,
    check_finite_results,
    check_inputs,
    check_optional_positive_int,
    check_positive_int,
    describe,
)
from captum_igos.maps import CHANNEL_REDUCTIONS, reduce_channels

MAP_ACTIVATIONS = ("input", "last_sample")

TensorOrTuple = Union[Tensor, tuple[Tensor, ...]]


class LayerRSIGradCam(LayerAttribution, GradientAttribution):
    r"""RSI-Grad-CAM (Lucas et al. 2022, arXiv:2205.10900) at a layer, batched over steps.

    With layer activations ``A(x)`` of shape ``(N, K, h, w)``, path points
    ``x_m = x' + (m / n)(x - x')`` and ``G_m = dy / dA`` at ``x_m``, the channel weights
    come from the Riemann-Stieltjes sum (trapezoid rule shown)

    .. math::
        R_k = \sum_{m=0}^{n-1} \tfrac{1}{2}(G_{m,k} + G_{m+1,k}) \odot (A_k(x_{m+1}) - A_k(x_m)),
        \qquad w_k = \operatorname{mean}_{ij} R_k[i, j],

    and the map is ``sum_k w_k A_k(x)`` (ReLU optional), shape ``(N, 1, h, w)`` as
    :class:`captum.attr.LayerGradCam` returns; upsample with
    :meth:`captum.attr.LayerAttribution.interpolate`. ``sum R`` approximates
    ``y(x) - y(x')`` (completeness), returned as the convergence delta on request.

    All ``n + 1`` path points of all examples go through the network in a few batches
    (chunks sharing one point, as Captum's ``LayerConductance`` does, but the shared point
    is carried over, not run twice, so each point costs one pass); gradients flow only
    from the output back to the layer (``torch.autograd.grad`` on the layer activations,
    through Captum's ``compute_layer_gradients_and_eval``), so parameters' ``.grad`` stay
    untouched. On a single device the forward pass records no autograd graph before the
    layer (a layer hook switches recording on), which saves the memory and time that
    parameters requiring grad would otherwise cost; with ``device_ids`` or a
    ``DataParallel`` model Captum's usual full recording is used.

    Example:
        >>> import torch
        >>> from captum_igos import LayerRSIGradCam
        >>> net = torch.nn.Sequential(
        ...     torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...     torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 5))
        >>> rsi = LayerRSIGradCam(net, net[1])
        >>> rsi.attribute(torch.rand(2, 3, 8, 8), n_steps=10).shape
        torch.Size([2, 1, 6, 6])
    """

    def __init__(
        self,
        forward_func: Callable[..., Tensor],
        layer: Module,
        device_ids: list[int] | None = None,
        reshape_transform: ReshapeTransform = None,
    ) -> None:
        """
        Args:
            forward_func: the model or any function of the inputs returning ``(N, classes)``
                scores (or ``(N,)``).
            layer: the layer whose output (or input) is explained; typically the last
                convolutional block.
            device_ids: as in Captum, only needed when ``forward_func`` wraps a
                ``DataParallel`` model without exposing its ``device_ids``.
            reshape_transform: for layers whose output is not ``(N, K, h, w)`` or
                ``(N, K)``, such as a vision transformer's tokens ``(N, tokens, dim)``: a
                callable from the layer tensor to ``(N, K, h, w)`` that only selects,
                reorders and reshapes entries, applied to the activations and to their
                gradients alike (:func:`captum_igos.vit_reshape_transform` for a class
                token plus a square grid of patches). Entries it drops (the class token)
                leave the sum, so the convergence delta no longer tends to 0.
        """
        LayerAttribution.__init__(self, forward_func, layer, device_ids)
        GradientAttribution.__init__(self, forward_func)
        if reshape_transform is not None and not callable(reshape_transform):
            raise TypeError(
                "expected reshape_transform to be a callable from the layer's output to "
                f"(N, K, h, w) or None, got {describe(reshape_transform)}"
            )
        self.reshape_transform = reshape_transform

    def has_convergence_delta(self) -> bool:
        return True

    @log_usage()
    @predicts()
    def attribute(  # type: ignore[override, unused-ignore]
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "riemann_trapezoid",
        internal_batch_size: int | None = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
        attr_dim_summation: bool = True,
        return_convergence_delta: bool = False,
        score: Score = "probability",
        gradient_relu: bool = False,
        channel_reduction: str = "sum",
        map_activations: str = "input",
        autocast: torch.dtype | None = None,
    ) -> TensorOrTuple | tuple[TensorOrTuple, Tensor]:
        r"""RSI-Grad-CAM maps at ``self.layer`` for ``inputs``.

        Args:
            inputs: a tensor ``(N, ...)`` or tuple of tensors with the same ``N``;
                floating point.
            baselines: the path's start ``x'``: number(s) or tensor(s) broadcastable to
                the inputs; ``None`` is zeros (the authors use a black image: pass the
                normalised black image explicitly).
            target: any Captum target (int, tuple, tensor or list of per-example
                targets). ``None`` explains each example's top-1 class.
            additional_forward_args: passed to ``forward_func`` after the inputs; tensors
                with a batch dimension are repeated for every path point.
            n_steps: intervals ``n`` on the path (``n + 1`` points; ``2n + 1`` for
                ``riemann_middle``).
            method: ``riemann_trapezoid`` (default), ``riemann_left``, ``riemann_right`` or
                ``riemann_middle``: where the gradient is sampled in each interval (see
                :func:`captum_igos._utils.path_integration.stieltjes_rule`).
            internal_batch_size: the most rows (examples x path points) in one
                forward/backward pass, as in Captum; consecutive chunks share one path
                point, so a chunk holds at least 2 points per example (3 for
                ``riemann_middle``) and smaller values are raised with a warning.
                ``None`` runs about 8 new rows per pass on a CPU (fastest there) and 64
                on other devices
                (:func:`~captum_igos._utils.batching.default_rows_per_pass`); on
                a GPU a larger value is usually faster.
            attribute_to_layer_input: explain the layer's input instead of its output.
            relu_attributions: ReLU on the final map (Grad-CAM's original choice).
            attr_dim_summation: reduce over channels; ``False`` returns the per-channel
                terms ``w_k A_k`` of shape ``(N, K, h, w)``, as ``LayerGradCam`` does.
            return_convergence_delta: also return ``sum R - (y(x) - y(x'))`` per example.
            score: ``"probability"`` (softmax of the output, the authors' choice),
                ``"sigmoid"`` (multi-label models), ``"raw"`` (the output itself,
                Captum's convention; for :mod:`captum_igos.targets` wrappers) or a
                callable from outputs to scores of the same shape.
            gradient_relu: authors' port: ReLU on every step's layer gradient ``G_m``
                before the sum (the sum is then no longer complete).
            channel_reduction: ``"sum"`` (``sum_k w_k A_k``), ``"mean"`` (authors'
                port: ``mean_k w_k A_k``) or ``"abs_sum"`` (``sum_k |w_k A_k|``), from
                :data:`captum_igos.maps.CHANNEL_REDUCTIONS`; used when
                ``attr_dim_summation`` is True.
            map_activations: ``"input"`` weights ``A(x)``; ``"last_sample"`` (authors'
                port) weights the activations at the last path point where the gradient
                is sampled (``x_{n-1}`` for ``riemann_left``, the last midpoint for
                ``riemann_middle``, ``x`` for the other rules). The authors' port is
                ``gradient_relu=True, channel_reduction="mean",
                map_activations="last_sample"``.
            autocast: ``None`` (default), ``torch.float16`` or ``torch.bfloat16``: run
                the network passes under ``torch.autocast`` on the inputs' device; the
                layer's activations and gradients are cast to the inputs' dtype before
                the sum, float16 gradients are scaled
                (:mod:`captum_igos._utils.precision`). Opt-in: measured in
                ``benchmarks/results/precision.md``.

        Returns:
            The map, a tensor (a tuple when the layer has several output tensors) on the
            inputs' device and dtype; with ``return_convergence_delta`` also the delta.

        Shape:
            - map: ``(N, 1, h, w)``, or ``(N, K, h, w)`` with ``attr_dim_summation=False``
              (``(N, 1)`` / ``(N, K)`` for a layer with ``(N, K)`` outputs).
            - delta: ``(N,)``.

        Raises:
            TypeError: non-tensor or integer inputs, non-numeric baselines.
            ValueError: baselines not broadcastable to the inputs, ``n_steps < 1``, an
                unknown ``method``/``score``/option, a ``layer`` not in the model.
        """
        inputs_tpl = check_inputs(inputs, images=True)
        baselines_tpl = format_baseline(check_baselines(baselines, inputs_tpl), inputs_tpl)
        check_positive_int("n_steps", n_steps)
        check_choice("method", method, STIELTJES_METHODS)
        check_optional_positive_int("internal_batch_size", internal_batch_size)
        check_score(score)
        check_choice("channel_reduction", channel_reduction, tuple(CHANNEL_REDUCTIONS))
        check_choice("map_activations", map_activations, MAP_ACTIVATIONS)
        autocast = check_autocast(autocast, inputs_tpl[0])
        _check_layer_in_model(self.forward_func, self.layer)

        args = format_additional_forward_args(additional_forward_args)
        network = autocast_forward(self.forward_func, autocast, inputs_tpl[0])
        target = resolve_target(network, inputs_tpl, target, args)
        forward = scored_forward(checked_forward(network, target, self.layer), score)

        sums, activations = self._stieltjes_sums(
            forward,
            inputs_tpl,
            baselines_tpl,
            target,
            args,
            n_steps,
            method,
            internal_batch_size,
            attribute_to_layer_input,
            gradient_relu,
            map_activations,
            LossScale(autocast),
        )
        reference = inputs_tpl[0]
        maps = tuple(
            _weighted_map(
                total, acts, attr_dim_summation, channel_reduction, relu_attributions
            ).to(device=reference.device, dtype=reference.dtype)
            for total, acts in zip(sums, activations)
        )
        for layer_map in maps:
            check_finite_results("maps (layer activations and gradients)", layer_map)
        result = format_output(len(maps) > 1, maps)
        if not return_convergence_delta:
            return result
        total = sum(s.reshape(s.shape[0], -1).sum(dim=1) for s in sums)
        gap = _score_gap(forward, inputs_tpl, baselines_tpl, target, args)
        delta = (total - gap).to(device=reference.device, dtype=reference.dtype)
        return result, delta

    def _stieltjes_sums(
        self,
        forward: Callable[..., Tensor],
        inputs: tuple[Tensor, ...],
        baselines: tuple[Any, ...],
        target: TargetType,
        args: tuple[Any, ...] | None,
        n_steps: int,
        method: str,
        internal_batch_size: int | None,
        attribute_to_layer_input: bool,
        gradient_relu: bool,
        map_activations: str,
        loss_scale: LossScale,
    ) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """``R`` for each layer tensor and the activations the map weights, chunk by chunk.

        Layer gradients and activations are cast to the inputs' dtype before the sum (they
        come in the layer's dtype, reduced under autocast); float16 gradients are taken
        through ``loss_scale``, which may run a chunk again after an overflow.
        """
        num_examples = inputs[0].shape[0]
        rule = stieltjes_rule(method, n_steps)
        map_point = rule.last_sample if map_activations == "last_sample" else len(rule.alphas) - 1
        chunk = path_points_per_pass(
            internal_batch_size, num_examples, len(rule.alphas), rule.stride + 1, inputs[0].device
        )
        device_ids = self.device_ids
        if device_ids is None:  # scored_forward hides a DataParallel model's device_ids
            device_ids = getattr(self.forward_func, "device_ids", None)

        # One device: skip the autograd graph before the layer. Replicas of a DataParallel
        # model run in threads of their own, whose grad mode a hook cannot carry back.
        graph_from_layer = device_ids is None
        if graph_from_layer:
            forward = _without_graph(forward)

        sums: tuple[Tensor, ...] | None = None
        activations: tuple[Tensor, ...] = ()
        # Consecutive chunks share a point; its G and A are carried over, not recomputed
        # (LayerConductance runs it twice), so each path point costs exactly one pass.
        carried: tuple[tuple[Tensor, ...], tuple[Tensor, ...]] | None = None
        chunks = chunk_ranges(len(rule.alphas), chunk, include_endpoint=True, stride=rule.stride)
        for start, stop in chunks:
            first_new = start if carried is None else start + 1
            alphas = rule.alphas[first_new:stop]
            step_target, step_args = expand_for_steps(len(alphas), target, args)
            layer_pass = functools.partial(
                self._layer_pass, forward, path_points(inputs, baselines, alphas), step_target,
                step_args, device_ids, attribute_to_layer_input, graph_from_layer,
            )
            grads, evals = loss_scale.gradients(layer_pass, inputs[0].dtype)
            evals = tuple(a.to(inputs[0].dtype) for a in evals)
            grads = tuple(_by_step(self._layer_map(g), num_examples) for g in grads)
            evals = tuple(_by_step(self._layer_map(a), num_examples) for a in evals)
            if carried is not None:
                grads = tuple(torch.cat((c.unsqueeze(0), g)) for c, g in zip(carried[0], grads))
                evals = tuple(torch.cat((c.unsqueeze(0), a)) for c, a in zip(carried[1], evals))
            carried = (tuple(g[-1] for g in grads), tuple(a[-1] for a in evals))
            if gradient_relu:
                grads = tuple(F.relu(g) for g in grads)
            partial = tuple(rule.partial_sum(g, a) for g, a in zip(grads, evals))
            sums = partial if sums is None else tuple(s + p for s, p in zip(sums, partial))
            if start <= map_point < stop:
                activations = tuple(a[map_point - start] for a in evals)
        assert sums is not None  # n_steps >= 1 gives at least one chunk
        return sums, activations


    def _layer_pass(
        self,
        forward: Callable[..., Tensor],
        points: tuple[Tensor, ...],
        target: TargetType,
        args: tuple[Any, ...] | None,
        device_ids: list[int] | None,
        attribute_to_layer_input: bool,
        graph_from_layer: bool,
        scale: float,
    ) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """Gradients of ``scale`` x the score at the layer, and the layer's activations."""
        with _graph_from(self.layer, attribute_to_layer_input, graph_from_layer):
            return compute_layer_gradients_and_eval(
                forward if scale == 1 else _scaled(forward, scale),
                self.layer,
                points,
                target,
                args,
                device_ids=device_ids,
                attribute_to_layer_input=attribute_to_layer_input,
            )

    def _layer_map(self, rows: Tensor) -> Tensor:
        """A layer tensor (or its gradient) as ``(rows, K, h, w)`` or ``(rows, K)``."""
        mapped = rows if self.reshape_transform is None else self.reshape_transform(rows)
        if not isinstance(mapped, Tensor) or mapped.dim() not in (2, 4):
            shape = tuple(mapped.shape) if isinstance(mapped, Tensor) else describe(mapped)
            source = "reshape_transform's output" if self.reshape_transform else "the layer"
            hint = (
                "" if self.reshape_transform else
                "; for token layers (e.g. a ViT's (N, tokens, dim)) pass reshape_transform="
                "captum_igos.vit_reshape_transform or your own callable to (N, K, h, w)"
            )
            raise ValueError(
                f"expected {source} of shape (N, K, h, w) or (N, K), got {shape}{hint}"
            )
        if mapped.shape[0] != rows.shape[0]:
            raise ValueError(
                f"expected reshape_transform to keep the {rows.shape[0]} rows of the layer "
                f"tensor {tuple(rows.shape)}, got {tuple(mapped.shape)}"
            )
        return mapped


def _scaled(forward: Callable[..., Tensor], scale: float) -> Callable[..., Tensor]:
    """``scale * forward(...)``: gradients of the scaled score (float16 loss scaling)."""

    def scaled_forward(*args: Any, **kwargs: Any) -> Tensor:
        return forward(*args, **kwargs) * scale

    return scaled_forward


def _without_graph(forward: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``forward`` run under ``torch.no_grad``; :func:`_graph_from` turns grad on at the layer."""

    def forward_without_graph(*args: Any, **kwargs: Any) -> Tensor:
        with torch.no_grad():  # restores grad mode on exit, whatever the layer hook set
            return forward(*args, **kwargs)

    return forward_without_graph


@contextmanager
def _graph_from(layer: Module, attribute_to_layer_input: bool, enabled: bool) -> Iterator[None]:
    """Record the autograd graph from ``layer`` on (its input or its output) to the output.

    Gradients are only needed from the output back to the layer, and parameters that
    require grad would otherwise make the forward pass record (and keep) the whole graph
    before the layer too. The hook runs before Captum's layer hook (``prepend``), so
    Captum's clone of the layer tensors is already recorded.
    """
    if not enabled:
        yield
        return

    def enable_grad(*_: Any) -> None:
        torch.set_grad_enabled(True)

    if attribute_to_layer_input:
        handle = layer.register_forward_pre_hook(enable_grad, prepend=True)
    else:
        handle = layer.register_forward_hook(enable_grad, prepend=True)
    try:
        yield
    finally:
        handle.remove()


def _by_step(rows: Tensor, num_examples: int) -> Tensor:
    """``(points * N, ...) -> (points, N, ...)``, detached (frees the graph before the layer)."""
    return rows.detach().reshape(-1, num_examples, *rows.shape[1:])


def _check_layer_in_model(forward_func: Callable[..., Tensor], layer: Any) -> None:
    """The layer must be a module of the model (checked when the model is a Module)."""
    if not isinstance(layer, Module):
        raise TypeError(f"expected layer to be a torch.nn.Module, got {describe(layer)}")
    model = forward_func if isinstance(forward_func, Module) else None
    owner = getattr(forward_func, "__self__", None)  # e.g. model.forward
    if model is None and isinstance(owner, Module):
        model = owner
    if model is not None and not any(module is layer for module in model.modules()):
        raise ValueError(
            f"expected layer to be a submodule of the model {type(model).__name__}, got "
            f"{type(layer).__name__} that is not among its modules"
        )


def _weighted_map(
    stieltjes_sum: Tensor,
    activations: Tensor,
    attr_dim_summation: bool,
    channel_reduction: str,
    relu_attributions: bool,
) -> Tensor:
    """``reduce_k w_k A_k`` with ``w_k = mean_ij R_k`` (``R_k`` itself for ``(N, K)`` layers)."""
    if stieltjes_sum.dim() > 2:
        spatial = tuple(range(2, stieltjes_sum.dim()))
        weights = stieltjes_sum.mean(dim=spatial, keepdim=True)
    else:
        weights = stieltjes_sum
    terms = weights * activations
    if attr_dim_summation:
        terms = reduce_channels(terms, channel_reduction)
    return F.relu(terms) if relu_attributions else terms


def _score_gap(
    forward: Callable[..., Tensor],
    inputs: tuple[Tensor, ...],
    baselines: tuple[Any, ...],
    target: TargetType,
    args: tuple[Any, ...] | None,
) -> Tensor:
    """``y(x) - y(x')`` per example, from one batch holding the inputs and baselines."""
    num_examples = inputs[0].shape[0]
    step_target, step_args = expand_for_steps(2, target, args)
    ends = path_points(inputs, baselines, (1.0, 0.0))
    with torch.no_grad():
        scores = run_forward(forward, ends, step_target, step_args)
    scores = scores.reshape(2, num_examples, -1).sum(dim=2)
    return scores[0] - scores[1]
