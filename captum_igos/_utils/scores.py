"""The score a method explains: the softmax probability of the target (default) or raw output.

Both I-GOS papers and RSI-Grad-CAM explain the post-softmax probability of the class;
Captum's methods explain the raw output. ``score="probability"`` / ``score="raw"`` switch.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from captum_igos._utils.validation import check_choice

SCORES = ("probability", "raw")


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
