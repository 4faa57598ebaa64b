"""Batched path scores against a plain loop over paths and steps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from captum_igos._utils.path_scores import PathScorer, draw_noise
from captum_igos._utils.scores import scored_forward

D64 = torch.float64


class ScaledNet(nn.Module):
    """Conv net whose logits are multiplied by a per-example extra argument."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.head(torch.tanh(self.conv(x)).mean(dim=(2, 3)))
        return logits if scale is None else logits * scale.view(-1, 1)


def make_scorer(n_steps=4, internal_batch_size=None, target=(0, 2, 1), scale=None):
    torch.manual_seed(3)
    model = ScaledNet().double().eval()
    images = torch.rand(3, 3, 6, 6, dtype=D64)
    baselines = torch.rand(3, 3, 6, 6, dtype=D64)
    if isinstance(target, tuple):
        target = torch.tensor(target)
    args = None if scale is None else (scale,)
    scorer = PathScorer(
        scored_forward(model, "probability"), images, baselines, target, args, n_steps,
        internal_batch_size,
    )
    return model, scorer


def loop_path_scores(model, scorer, up_masks, image_index, insertion, noise, scale=None):
    """One image, one step at a time: mean_s f_c(start + s/S up(M) (end - start) + eps_s)."""
    scores, grads = [], []
    for p in range(up_masks.shape[0]):
        i = int(image_index[p])
        x, b = scorer.images[i : i + 1], scorer.baselines[i : i + 1]
        start, end = (x, b) if bool(insertion[p]) else (b, x)
        mask = up_masks[p : p + 1].detach().requires_grad_(True)
        total = 0.0
        for s in range(1, scorer.n_steps + 1):
            point = start + (s / scorer.n_steps) * mask * (end - start)
            if noise is not None:
                point = point + noise[s - 1]
            logits = model(point) if scale is None else model(point, scale[i : i + 1])
            c = scorer.target if not isinstance(scorer.target, torch.Tensor) else scorer.target[i]
            total = total + torch.softmax(logits, dim=1)[0, int(c)]
        mean = total / scorer.n_steps
        (grad,) = torch.autograd.grad(mean, mask)
        scores.append(mean.detach())
        grads.append(grad)
    return torch.stack(scores), torch.cat(grads)


@pytest.mark.parametrize("with_noise", [False, True])
@pytest.mark.parametrize("internal_batch_size", [None, 1, 5])
def test_path_scores_equal_a_loop_over_paths_and_steps(with_noise, internal_batch_size):
    model, scorer = make_scorer(internal_batch_size=internal_batch_size)
    up_masks = torch.rand(5, 1, 6, 6, dtype=D64)
    image_index = torch.tensor([0, 2, 1, 2, 0])
    insertion = torch.tensor([False, True, False, False, True])
    generator = torch.Generator().manual_seed(1)
    noise = draw_noise(4, scorer.images, 0.2, generator) if with_noise else None
    scores, grads = scorer.path_scores(up_masks, image_index, insertion, noise, with_grad=True)
    expected_scores, expected_grads = loop_path_scores(
        model, scorer, up_masks, image_index, insertion, noise
    )
    torch.testing.assert_close(scores, expected_scores, rtol=0, atol=1e-12)
    torch.testing.assert_close(grads, expected_grads, rtol=0, atol=1e-12)
    no_grad_scores, none = scorer.path_scores(up_masks, image_index, insertion, noise, False)
    assert none is None
    torch.testing.assert_close(no_grad_scores, expected_scores, rtol=0, atol=1e-12)


def test_path_scores_index_additional_args_and_scalar_targets_per_image():
    scale = torch.tensor([1.0, -2.0, 0.5], dtype=D64)
    model, scorer = make_scorer(target=1, scale=scale, internal_batch_size=3)
    up_masks = torch.rand(3, 1, 6, 6, dtype=D64)
    image_index = torch.tensor([2, 0, 1])
    insertion = torch.tensor([False, True, False])
    scores, grads = scorer.path_scores(up_masks, image_index, insertion, None, True)
    expected = loop_path_scores(model, scorer, up_masks, image_index, insertion, None, scale)
    torch.testing.assert_close(scores, expected[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(grads, expected[1], rtol=0, atol=1e-12)


def test_path_scores_do_not_touch_parameters():
    model, scorer = make_scorer()
    model.conv.weight.requires_grad_(False)
    scorer.path_scores(torch.rand(3, 1, 6, 6, dtype=D64), torch.arange(3),
                       torch.zeros(3, dtype=torch.bool), None, True)
    assert all(p.grad is None for p in model.parameters())
    assert not model.conv.weight.requires_grad and model.head.weight.requires_grad


def test_path_scores_reject_outputs_with_several_values_per_example():
    _, scorer = make_scorer()
    scorer = PathScorer(lambda x: x.flatten(1), scorer.images, scorer.baselines, None, None, 2,
                        None)
    with pytest.raises(ValueError, match="one score per example.*got shape"):
        scorer.path_scores(torch.rand(3, 1, 6, 6, dtype=D64), torch.arange(3),
                           torch.zeros(3, dtype=torch.bool), None, False)


def test_draw_noise_shape_std_and_reproducibility():
    like = torch.zeros(2, 3, 40, 40, dtype=D64)
    assert draw_noise(5, like, 0.0) is None
    first = draw_noise(5, like, 0.2, torch.Generator().manual_seed(7))
    second = draw_noise(5, like, 0.2, torch.Generator().manual_seed(7))
    assert first.shape == (5, 3, 40, 40) and first.dtype == D64
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert abs(float(first.std()) - 0.2) < 0.01
