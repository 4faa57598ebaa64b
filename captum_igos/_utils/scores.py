"""The score a method explains: the softmax probability of the target (default) or raw output.

Both I-GOS papers and RSI-Grad-CAM explain the post-softmax probability of the class;
Captum's methods explain the raw output. ``score="probability"`` / ``score="raw"`` switch.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from captum_igos._utils.validation import check_choice

SCORES = ("probability", "raw")
#: Range of each score: softmax probabilities lie in [0, 1]; raw outputs are unbounded.
SCORE_BOUNDS = {"probability": (0.0, 1.0), "raw": (-math.inf, math.inf)}


def check_score(score: Any) -> str:
    return check_choice("score", score, SCORES)


def scored_forward(forward_func: Callable[..., torch.Tensor], score: str) -> Callable:
    """``forward_func`` followed by a softmax over dim 1 when ``score == "probability"``.

    The wrapper keeps the model's modules untouched, so layer hooks still see the model's
    own layers.
    """
    check_score(score)
    if score == "raw":
        return forward_func

    def probabilities(*args: Any, **kwargs: Any) -> torch.Tensor:
        return torch.softmax(forward_func(*args, **kwargs), dim=1)

    return probabilities


def score_bounds(score: str) -> tuple[float, float]:
    """``(lowest, highest)`` value the score ``score`` can take (for pruning line searches).

    Example:
        >>> score_bounds("probability"), score_bounds("raw")
        ((0.0, 1.0), (-inf, inf))
    """
    return SCORE_BOUNDS[check_score(score)]
