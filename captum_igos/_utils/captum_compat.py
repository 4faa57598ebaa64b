"""The one door to Captum's private helpers: every ``captum._utils`` / ``captum.attr._utils``
name the package uses is imported here and nowhere else.

Captum's underscore functions may change between releases; pinning them in one module
means a new Captum is checked (``tests/_utils/test_captum_compat.py``) and, if needed,
adapted in one place. Supported range: :data:`SUPPORTED_CAPTUM` (declared in
``pyproject.toml``); the tests run against the newest release in the range, and were run
against the oldest (0.8.0) as the closing note of issue 12 describes.
"""

from __future__ import annotations

from captum._utils.common import (
    _expand_additional_forward_args,
    _expand_target,
    _format_additional_forward_args,
    _format_baseline,
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
    _run_forward,
)
from captum._utils.gradient import compute_layer_gradients_and_eval
from captum._utils.progress import progress
from captum._utils.typing import BaselineType, TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr._utils.approximation_methods import approximation_parameters

__all__ = [
    "SUPPORTED_CAPTUM",
    "BaselineType",
    "TargetType",
    "TensorOrTupleOfTensorsGeneric",
    "approximation_parameters",
    "compute_layer_gradients_and_eval",
    "expand_additional_forward_args",
    "expand_target",
    "format_additional_forward_args",
    "format_baseline",
    "format_output",
    "format_tensor_into_tuples",
    "is_tuple",
    "progress",
    "run_forward",
]

#: The Captum versions this package is tested with (``pyproject.toml`` says the same).
SUPPORTED_CAPTUM = ">=0.8,<0.10"

#: ``_run_forward(forward_func, inputs, target=None, additional_forward_args=None)``:
#: the outputs, with ``target`` selected per example.
run_forward = _run_forward
#: ``_expand_target(target, n, expansion_type=repeat)``: per-example targets repeated.
expand_target = _expand_target
#: ``_expand_additional_forward_args(args, n, expansion_type=repeat)``.
expand_additional_forward_args = _expand_additional_forward_args
#: ``_format_additional_forward_args(args)``: ``None`` or a tuple.
format_additional_forward_args = _format_additional_forward_args
#: ``_format_baseline(baselines, inputs)``: a tuple with one baseline per input.
format_baseline = _format_baseline
#: ``_format_output(is_tuple, output)``: a tuple back to a tensor when not ``is_tuple``.
format_output = _format_output
#: ``_format_tensor_into_tuples(inputs)``: a tensor as a 1-tuple.
format_tensor_into_tuples = _format_tensor_into_tuples
#: ``_is_tuple(inputs)``.
is_tuple = _is_tuple
