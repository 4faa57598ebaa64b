"""Batched backtracking line search and Nesterov step on hand-checkable objectives."""

from __future__ import annotations

import pytest
import torch

from captum_igos._utils.optimizers import (
    armijo_decrease,
    backtracking_line_search,
    can_move,
    nesterov_step,
    projected_step,
)

D64 = torch.float64


def cell(*values: float) -> torch.Tensor:
    """(n, 1, 1, 1) masks from one number per image."""
    return torch.tensor(values, dtype=D64).view(-1, 1, 1, 1)


def test_projected_step_clamps_and_uses_one_step_per_image():
    masks = cell(1.0, 0.5, 0.1)
    out = projected_step(masks, cell(1.6, -1.0, 1.0), torch.tensor([0.5, 1.0, 1.0], dtype=D64))
    torch.testing.assert_close(out, cell(0.2, 1.0, 0.0))


def test_armijo_decrease_is_alpha_norm_squared_without_clamping_and_projected_with():
    masks = torch.full((1, 1, 2, 2), 0.5, dtype=D64)
    direction = torch.tensor([[[[0.1, -0.2], [0.3, 0.0]]]], dtype=D64)
    candidate = projected_step(masks, direction, torch.tensor([1.0], dtype=D64))
    torch.testing.assert_close(armijo_decrease((masks,), (candidate,), (direction,)),
                               torch.tensor([0.01 + 0.04 + 0.09], dtype=D64))
    clamped = projected_step(masks, direction, torch.tensor([10.0], dtype=D64))
    # moves: -0.5 (clamped at 0), +0.5 (clamped at 1), -0.5 (clamped), 0
    expected = 0.1 * 0.5 + (-0.2) * (-0.5) + 0.3 * 0.5
    torch.testing.assert_close(armijo_decrease((masks,), (clamped,), (direction,)),
                               torch.tensor([expected], dtype=D64))


def test_can_move_detects_zero_projected_gradient():
    masks = cell(1.0, 0.0, 0.5, 1.0)
    directions = cell(-1.0, 2.0, 0.0, 0.5)
    assert can_move((masks,), (directions,)).tolist() == [False, False, False, True]
    # an image moves if any of its masks moves
    both = can_move((masks, cell(1.0, 0.0, 0.5, 1.0)), (directions, cell(1.0, 0, 0, 0)))
    assert both.tolist() == [True, False, False, True]


def test_line_search_by_hand_batched_with_per_image_steps():
    """F_i(M) = (M - t_i)^2; image 1 has zero projected gradient; image 2 never descends."""
    targets = cell(0.2, 0.5, 0.9, 0.0)
    masks = cell(1.0, 1.0, 1.0, 0.5)
    directions = 2 * (masks - targets)
    directions[1] = -1.0  # at 1 and pushed up: cannot move
    base = ((masks - targets) ** 2).flatten()
    calls = []

    def loss_fn(candidates, rows):
        calls.append(rows.tolist())
        (candidate,) = candidates
        loss = ((candidate - targets[rows]) ** 2).flatten()
        return torch.where(rows == 3, loss + 1.0, loss)  # image 3 is never accepted

    result = backtracking_line_search(
        loss_fn, (masks,), (directions,), base, alpha0=1.0, decay=0.5, armijo=0.4, min_alpha=0.1
    )
    # image 0: alpha 1 -> M+ = 0 (F 0.04 > 0.64 - 0.4 * 1.6 * 1);
    #          alpha 0.5 -> M+ = 0.2 (F 0 <= 0.64 - 0.4 * 1.6 * 0.8)
    # image 2: alpha 1 -> M+ = 0.8 (0.01 > 0.01 - 0.4 * 0.2 * 0.2);
    #          alpha 0.5 -> M+ = 0.9 (0 <= 0.01 - 0.4 * 0.2 * 0.1)
    # image 3: alphas 1, 0.5, 0.25, 0.125 >= 0.1 tried, then 0.0625 < 0.1 stops
    assert calls == [[0, 2, 3], [0, 2, 3], [3], [3]]
    assert result.trials == 4
    assert result.accepted.tolist() == [True, False, True, False]
    torch.testing.assert_close(result.step_sizes, torch.tensor([0.5, 0.0, 0.5, 0.0], dtype=D64))
    torch.testing.assert_close(result.masks[0], cell(0.2, 1.0, 0.9, 0.5))
    torch.testing.assert_close(result.losses[[0, 2]], torch.zeros(2, dtype=D64))
    assert bool(result.losses[[1, 3]].isnan().all())


def test_line_search_accepts_alpha0_when_it_satisfies_armijo():
    masks = cell(1.0)
    result = backtracking_line_search(
        lambda c, rows: (c[0] - 0.4).flatten() ** 2, (masks,), (cell(1.2),),
        torch.tensor([0.36], dtype=D64), alpha0=0.5, decay=0.2, armijo=1e-4, min_alpha=1e-5,
    )
    assert result.trials == 1 and result.accepted.tolist() == [True]
    torch.testing.assert_close(result.masks[0], cell(0.4))


def test_nesterov_step_by_hand():
    masks = (cell(0.5, 1.0),)
    directions = (cell(0.1, -0.3),)
    first, thetas = nesterov_step(masks, directions, masks, step_size=2.0, iteration=0)
    torch.testing.assert_close(thetas[0], cell(0.3, 1.6))
    torch.testing.assert_close(first[0], cell(0.3, 1.0))  # no momentum at t = 0, clamped
    second, thetas2 = nesterov_step(first, (cell(0.05, 0.0),), thetas, step_size=2.0, iteration=1)
    # theta_1 = M - 2 g = (0.2, 1.0); M = theta_1 + 1/4 (theta_1 - theta_0)
    torch.testing.assert_close(thetas2[0], cell(0.2, 1.0))
    torch.testing.assert_close(second[0], cell(0.2 + 0.25 * (0.2 - 0.3), 1.0 + 0.25 * (1.0 - 1.6)))


def test_lower_bound_rejects_without_evaluation_and_keeps_the_plain_result():
    """F(M) = (M - 0.2)^2 + 1 with the bound 1: alpha 1 lands on M+ = 0 (F = 1.04, bound 1
    above the threshold 1.64 - 0.4 * 1.6 = 1.0), so it is rejected unevaluated."""
    masks, directions = cell(1.0, 1.0), cell(1.6, 1.6)
    base = torch.tensor([1.64, 1.64], dtype=D64)
    calls = []

    def loss_fn(candidates, rows):
        calls.append((rows.tolist(), candidates[0].flatten().tolist()))
        return ((candidates[0] - 0.2) ** 2).flatten() + 1.0

    def lower_bound(candidates, rows):
        # image 0: the true bound 1; image 1: no bound
        return torch.where(rows == 0, 1.0 + 1e-9, -torch.inf).to(D64)

    kwargs = {"alpha0": 1.0, "decay": 0.5, "armijo": 0.4, "min_alpha": 0.1}
    plain = backtracking_line_search(loss_fn, (masks,), (directions,), base, **kwargs)
    calls.clear()
    pruned = backtracking_line_search(loss_fn, (masks,), (directions,), base,
                                      lower_bound_fn=lower_bound, **kwargs)
    assert [rows for rows, _ in calls] == [[1], [0, 1]]  # image 0 skipped alpha 1
    assert calls[1][1] == pytest.approx([0.2, 0.2])
    assert pruned.trials == 2 and pruned.rejected_by_bound.tolist() == [1, 0]
    for field in ("step_sizes", "accepted", "losses"):
        torch.testing.assert_close(getattr(pruned, field), getattr(plain, field))
    torch.testing.assert_close(pruned.masks[0], plain.masks[0])


def test_a_trial_with_every_image_rejected_by_the_bound_runs_no_evaluation():
    calls = []
    result = backtracking_line_search(
        lambda c, rows: calls.append(rows) or (c[0] - 0.4).flatten() ** 2,
        (cell(1.0),), (cell(1.2),), torch.tensor([0.36], dtype=D64),
        alpha0=2.5, decay=0.2, armijo=1e-4, min_alpha=1e-5,
        lower_bound_fn=lambda c, rows: torch.where(c[0].flatten() < 0.1, 10.0, 0.0).to(D64),
    )
    # alpha 2.5 -> M+ = 0 (bound 10: rejected unevaluated); alpha 0.5 -> M+ = 0.4 accepted
    assert len(calls) == 1 and result.trials == 1
    assert result.rejected_by_bound.tolist() == [1]
    torch.testing.assert_close(result.masks[0], cell(0.4))


def test_papers_armijo_test_counts_the_clamped_coordinates():
    """F(M) = -M1 (M2 held at 1 and pushed up): the projected test accepts alpha0, the
    papers' c * alpha * ||g||^2 also counts the stuck coordinate and backtracks."""
    masks = (torch.tensor([[[[0.5, 1.0]]]], dtype=D64),)
    directions = (torch.tensor([[[[-1.0, -10.0]]]], dtype=D64),)

    def loss(candidates, rows):
        return -candidates[0][:, 0, 0, 0]

    base = torch.tensor([-0.5], dtype=D64)
    kwargs = {"decay": 0.5, "armijo": 0.5, "min_alpha": 1e-3}
    projected = backtracking_line_search(loss, masks, directions, base, alpha0=0.4, **kwargs)
    # projected: -0.9 <= -0.5 - 0.5 * 0.4 = -0.7: accepted at once
    assert projected.step_sizes.tolist() == [0.4]
    papers = backtracking_line_search(loss, masks, directions, base, alpha0=0.4,
                                      armijo_test="gradient", **kwargs)
    # papers': needs -0.5 - alpha <= -0.5 - 0.5 * alpha * 101, never: every trial rejected
    assert papers.step_sizes.tolist() == [0.0] and not bool(papers.accepted[0])


def test_step_when_rejected_takes_the_first_step_below_min_alpha_as_the_authors_code():
    masks = (cell(0.5, 0.5),)
    directions = (cell(1.0, -1.0),)
    tried = []

    def never(candidates, rows):
        tried.append(candidates[0].flatten().tolist())
        return torch.full((rows.shape[0],), 1.0, dtype=D64)

    base = torch.zeros(2, dtype=D64)
    kwargs = {"alpha0": 1000.0, "decay": 0.2, "armijo": 1e-4, "min_alpha": 1e-5}
    kept = backtracking_line_search(never, masks, directions, base, **kwargs)
    assert kept.step_sizes.tolist() == [0.0, 0.0] and torch.equal(kept.masks[0], masks[0])
    assert len(tried) == 12  # 1000 * 0.2^k for k = 0..11, the last 2.048e-5
    tried.clear()
    taken = backtracking_line_search(never, masks, directions, base, step_when_rejected=True,
                                     **kwargs)
    last = 1000.0 * 0.2**12  # 4.096e-6, the first step below 1e-5, rejected and taken
    assert len(tried) == 13 and not bool(taken.accepted.any())
    torch.testing.assert_close(taken.step_sizes, torch.full((2,), last, dtype=D64))
    torch.testing.assert_close(taken.masks[0], cell(0.5 - last, 0.5 + last))
