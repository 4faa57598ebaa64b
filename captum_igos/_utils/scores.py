r"""The score a method explains: softmax probability (default), sigmoid, raw output, or yours.

Both I-GOS papers and RSI-Grad-CAM explain the post-softmax probability of the class;
Captum's methods explain the raw output. ``score`` switches:

- ``"probability"``: :math:`\mathrm{softmax}(f(x))_c` over dim 1, for single-label
  classifiers (what the papers explain);
- ``"sigmoid"``: :math:`\sigma(f(x)_c)`, for multi-label models with one independent
  sigmoid per class (a softmax across independent labels would make the classes compete);
- ``"raw"``: :math:`f(x)_c`, Captum's convention, and the choice for a forward function
  that already returns a score, such as the :mod:`captum_igos.targets` wrappers;
- a callable mapping the outputs ``(N, K)`` to scores of the same shape (for example
  ``lambda out: torch.log_softmax(out, dim=1)``), or to one score per example ``(N,)``
  (for example ``lambda out: out[:, 3] - out[:, 5]``), which then stands for every target;
  its range is taken as unbounded. Its result must be a floating tensor computed from the
  outputs with torch operations (gradient methods differentiate it): anything else (a
  list, a float, a NumPy array, another shape, a detached tensor) is refused on the first
  call with one message that states this contract.

The forward function itself must return one tensor; a tuple, a dict or a Hugging Face
``ModelOutput`` is refused with what to write instead (``lambda x: model(x).logits``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Union

import torch

from captum_igos._utils.validation import (
    check_choice,
    check_forward_output,
    check_score_output,
)

SCORES = ("probability", "sigmoid", "raw")
#: A score name or a callable from outputs to scores of the same shape.
Score = Union[str, Callable[[torch.Tensor], torch.Tensor]]
#: Range of each score: probabilities and sigmoids lie in [0, 1]; raw outputs are unbounded.
SCORE_BOUNDS = {"probability": (0.0, 1.0), "sigmoid": (0.0, 1.0), "raw": (-math.inf, math.inf)}


def check_score(score: Any) -> Score:
    """``score`` itself if it is a known name or a callable; otherwise a clear error."""
    if callable(score):
        return score
    return check_choice("score", score, SCORES)


def _softmax_over_classes(output: torch.Tensor) -> torch.Tensor:
    if output.dim() < 2 or output.shape[1] == 1:
        raise ValueError(
            "expected outputs of shape (N, classes) with at least 2 classes for "
            f"score='probability' (a softmax over dim 1), got shape {tuple(output.shape)}; "
            "use score='raw' for a forward function that returns one score per image "
            "(such as the captum_igos.targets wrappers) or score='sigmoid'"
        )
    return torch.softmax(output, dim=1)


def scored_forward(forward_func: Callable[..., torch.Tensor], score: Score) -> Callable:
    """``forward_func`` followed by the score's transform of its output.

    Every call checks that ``forward_func`` returned a tensor
    (:func:`~captum_igos._utils.validation.check_forward_output`) and that a callable
    score kept its contract (:func:`~captum_igos._utils.validation.check_score_output`);
    one score per example ``(N,)`` is broadcast over the outputs' shape, so that every
    target selects it. The wrapper keeps the model's modules untouched, so layer hooks
    still see the model's own layers.

    Example:
        >>> logits = lambda x: x
        >>> scored_forward(logits, "sigmoid")(torch.zeros(1, 2))
        tensor([[0.5000, 0.5000]])
        >>> scored_forward(logits, lambda out: out[:, 0] - out[:, 1])(torch.tensor([[3.0, 1.0]]))
        tensor([[2., 2.]])
    """
    score = check_score(score)
    transform: Callable[[torch.Tensor], torch.Tensor] | None
    if callable(score):
        transform = score
    elif score == "sigmoid":
        transform = torch.sigmoid
    elif score == "probability":
        transform = _softmax_over_classes
    else:
        transform = None

    def scored(*args: Any, **kwargs: Any) -> torch.Tensor:
        outputs = check_forward_output(forward_func(*args, **kwargs))
        if transform is None:
            return outputs
        scores = transform(outputs)
        if not callable(score):
            return scores
        scores = check_score_output(scores, outputs)
        if scores.shape != outputs.shape:  # (N,): one score per example, for every target
            scores = scores.view(-1, *([1] * (outputs.dim() - 1))).expand_as(outputs)
        return scores

    return scored


def score_bounds(score: Score) -> tuple[float, float]:
    """``(lowest, highest)`` value the score can take (for pruning line searches).

    Example:
        >>> score_bounds("probability"), score_bounds("sigmoid"), score_bounds("raw")
        ((0.0, 1.0), (0.0, 1.0), (-inf, inf))
    """
    score = check_score(score)
    return (-math.inf, math.inf) if callable(score) else SCORE_BOUNDS[score]
