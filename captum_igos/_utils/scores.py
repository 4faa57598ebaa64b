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
  ``lambda out: torch.log_softmax(out, dim=1)``); its range is taken as unbounded.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Union

import torch

from captum_igos._utils.validation import check_choice

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

    The wrapper keeps the model's modules untouched, so layer hooks still see the model's
    own layers.

    Example:
        >>> logits = lambda x: x
        >>> scored_forward(logits, "sigmoid")(torch.zeros(1, 2))
        tensor([[0.5000, 0.5000]])
    """
    score = check_score(score)
    if score == "raw":
        return forward_func
    transform: Callable[[torch.Tensor], torch.Tensor]
    if callable(score):
        transform = score
    elif score == "sigmoid":
        transform = torch.sigmoid
    else:
        transform = _softmax_over_classes

    def scored(*args: Any, **kwargs: Any) -> torch.Tensor:
        return transform(forward_func(*args, **kwargs))

    return scored


def score_bounds(score: Score) -> tuple[float, float]:
    """``(lowest, highest)`` value the score can take (for pruning line searches).

    Example:
        >>> score_bounds("probability"), score_bounds("sigmoid"), score_bounds("raw")
        ((0.0, 1.0), (0.0, 1.0), (-inf, inf))
    """
    score = check_score(score)
    return (-math.inf, math.inf) if callable(score) else SCORE_BOUNDS[score]
