"""I-GOS: descent direction, line search, batching, planted evidence, errors, side effects."""

from __future__ import annotations

import pytest
import torch
from captum.attr import GradientAttribution
from torch import nn

from captum_igos import IGOS, EmptyMapWarning, IGOSPlusPlus, MaskOptimizationResult
from captum_igos._core.igos import IGOSObjective
from captum_igos._utils import optimizers
from captum_igos._utils.optimizers import nag_step_size
from captum_igos._utils.path_scores import PathScorer, draw_noise
from captum_igos._utils.scores import scored_forward
from captum_igos.baselines import blur_baseline
from captum_igos.optimizers import LineSearch, Nesterov
from tests._core.igos_helpers import (
    REGION,
    SIZE,
    PlantedEvidence,
    TinyNet,
    in_region,
    no_hooks,
    plain_igos_direction,
    plain_igos_objective,
    plain_path_score,
    plain_tv,
    plain_upsample,
    same_state,
    state_copy,
)

D64 = torch.float64
FAST = {"iterations": 3, "n_steps": 3}


TINY = {"mask_size": 4, **FAST}


def tiny_setup(n=3, size=8, seed=0):
    torch.manual_seed(seed)
    model = TinyNet().double().eval()
    images = torch.rand(n, 3, size, size, dtype=D64)
    return model, images


def planted_images(n=2, seed=0):
    torch.manual_seed(seed)
    return torch.rand(n, 3, SIZE, SIZE)


@pytest.mark.parametrize("mask_size", [(3, 4), (8, 8)])
@pytest.mark.parametrize("score", ["probability", "raw"])
@pytest.mark.parametrize("with_noise", [False, True])
def test_direction_equals_a_per_step_loop(mask_size, score, with_noise):
    model, images = tiny_setup()
    baselines = blur_baseline(images)
    target = torch.tensor([0, 2, 1])
    scorer = PathScorer(scored_forward(model, score), images, baselines, target, None, 5, 4)
    objective = IGOSObjective(scorer, mask_size, l1_coeff=1.5, tv_coeff=3.0)
    masks = torch.rand(3, 1, *mask_size, dtype=D64)
    masks[0, 0, 0, 0] = 1.0  # the L1 term's derivative at 1 is the one of mean(1 - M)
    noise = draw_noise(5, images, 0.2, torch.Generator().manual_seed(2)) if with_noise else None
    loss, (direction,) = objective.evaluate((masks,), torch.arange(3), noise, True)
    for i in range(3):
        expected_loss, expected = plain_igos_direction(
            model, images[i : i + 1], baselines[i : i + 1], masks[i : i + 1], int(target[i]),
            5, noise, 1.5, 3.0, score,
        )
        assert (direction[i] - expected[0]).abs().max() <= 1e-6
        assert abs(float(loss[i] - expected_loss)) <= 1e-9
    no_grad_loss, none = objective.evaluate((masks,), torch.arange(3), noise, False)
    assert none is None
    torch.testing.assert_close(no_grad_loss, loss, rtol=0, atol=1e-12)


def spy_line_search(monkeypatch):
    calls = []
    original = optimizers.backtracking_line_search

    def spy(loss_fn, masks, directions, base_loss, **kwargs):
        result = original(loss_fn, masks, directions, base_loss, **kwargs)
        calls.append((masks, directions, base_loss, result, kwargs))
        return result

    monkeypatch.setattr(optimizers, "backtracking_line_search", spy)
    return calls


def test_accepted_steps_satisfy_armijo_and_objective_never_increases(monkeypatch):
    """Noise 0: every accepted step, recomputed with a plain loop, satisfies Armijo."""
    model = PlantedEvidence().double().eval()
    images = planted_images(n=2, seed=1).double()
    calls = spy_line_search(monkeypatch)
    result = IGOS(model).optimize(
        images, target=1, mask_size=7, iterations=5, n_steps=4, noise_std=0.0,
        optimizer=LineSearch(armijo=0.3), objective="paper")
    baselines = blur_baseline(images)
    accepted_steps = 0
    for masks, directions, base_loss, search, kwargs in calls:
        (mask,), (direction,) = masks, directions
        assert mask.shape[0] == 2  # both images run every iteration: row i is image i
        for i in range(2):
            expected_base = plain_igos_objective(model, images[i : i + 1], baselines[i : i + 1],
                                                 mask[i : i + 1], 1, 4, None, 1.0, 20.0,
                                                 "probability")
            assert abs(float(base_loss[i] - expected_base.detach())) <= 1e-9
            if not bool(search.accepted[i]):
                continue
            new = search.masks[0][i : i + 1]
            new_loss = plain_igos_objective(model, images[i : i + 1], baselines[i : i + 1], new,
                                            1, 4, None, 1.0, 20.0, "probability")
            decrease = (direction[i] * (mask[i] - new[0])).sum()
            assert float(decrease) > 0
            bound = base_loss[i] - kwargs["armijo"] * decrease
            assert float(new_loss.detach()) <= float(bound) + 1e-12
            accepted_steps += 1
    assert accepted_steps >= 8
    losses = result.losses
    assert result.iterations_run.tolist() == [5, 5]
    assert bool((losses[:, 1:] <= losses[:, :-1] + 1e-12).all())
    assert bool((losses[:, -1] < losses[:, 0]).all())


@pytest.mark.parametrize("optimizer", ["line_search", "nag"])
@pytest.mark.parametrize("noise_std", [0.0, 0.2])
def test_batch_equals_one_image_at_a_time(optimizer, noise_std):
    model = PlantedEvidence().double().eval()
    images = planted_images(n=3, seed=2).double() * torch.tensor([1.0, 0.8, 1.2]).view(3, 1, 1, 1)
    target = torch.tensor([1, 1, 0])
    settings = {"mask_size": 7, "iterations": 4, "n_steps": 3, "noise_std": noise_std,
                "optimizer": optimizer}
    together = IGOS(model).optimize(
        images, target=target, generator=torch.Generator().manual_seed(4),
                                    internal_batch_size=5, **settings)
    for i in range(3):
        alone = IGOS(model).optimize(images[i : i + 1], target=target[i : i + 1],
                                     generator=torch.Generator().manual_seed(4), **settings)
        torch.testing.assert_close(together.mask[i], alone.mask[0], rtol=0, atol=1e-10)
        torch.testing.assert_close(together.step_sizes[i], alone.step_sizes[0])
        torch.testing.assert_close(together.losses[i], alone.losses[0], equal_nan=True)
    assert bool((together.mask[:2] < 0.999).flatten(1).any(dim=1).all())


@pytest.mark.parametrize("optimizer", ["line_search", "nag"])
@pytest.mark.parametrize("mask_size", [7, 28, SIZE])
def test_planted_evidence_is_found(optimizer, mask_size):
    images = planted_images()
    model = PlantedEvidence().eval()
    heatmaps = IGOS(model).attribute(
        images, target=1, mask_size=mask_size, optimizer=optimizer,
        generator=torch.Generator().manual_seed(0),
    )
    assert in_region(heatmaps) == [True, True]
    assert float(heatmaps.amax()) > 0


class TwoRegions(nn.Module):
    """Class 0 is PlantedEvidence's class 1 in ``REGION``, class 1 the same in its mirror."""

    def __init__(self) -> None:
        super().__init__()
        self.left, self.right = PlantedEvidence(), PlantedEvidence()
        self.right.region = self.right.region.flip(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.left(x)[:, 1], self.right(x)[:, 1]], dim=1)


def test_target_none_explains_the_top1_class():
    """Image 0 has texture in REGION only (top-1 class 0), image 1 in its mirror (class 1)."""
    torch.manual_seed(3)
    images = torch.full((2, 3, SIZE, SIZE), 0.5)
    images[:, :, REGION[0], REGION[1]] = torch.rand(2, 3, SIZE, SIZE)[:, :, REGION[0], REGION[1]]
    images[1] = images[1].flip(-1)
    model = TwoRegions().eval()
    top1 = model(images).argmax(dim=1)
    assert top1.tolist() == [0, 1]
    implicit = IGOS(model).attribute(images, generator=torch.Generator().manual_seed(1), **TINY)
    assert in_region(implicit) == [True, False] and in_region(implicit.flip(-1)) == [False, True]
    explicit = IGOS(model).attribute(images, target=top1,
                                     generator=torch.Generator().manual_seed(1), **TINY)
    torch.testing.assert_close(implicit, explicit, rtol=0, atol=0)
    as_list = IGOS(model).attribute(images, target=top1.tolist(),
                                    generator=torch.Generator().manual_seed(1), **TINY)
    torch.testing.assert_close(as_list, explicit, rtol=0, atol=0)


def test_attribute_is_heatmap_of_optimize_and_formats_like_captum():
    model = PlantedEvidence().eval()
    images = planted_images(n=1)
    igos = IGOS(model)
    assert isinstance(igos, GradientAttribution)
    kwargs = {"target": 1, "mask_size": 7, "iterations": 3, "n_steps": 4}
    result = igos.optimize(images, generator=torch.Generator().manual_seed(5), **kwargs)
    assert isinstance(result, MaskOptimizationResult)
    assert result.mask.shape == (1, 1, 7, 7) and result.deletion_mask is None
    assert result.losses.shape == (1, 3) and result.step_sizes.shape == (1, 3)
    heatmaps = igos.attribute(images, generator=torch.Generator().manual_seed(5), **kwargs)
    expected = 1 - plain_upsample(result.mask, (SIZE, SIZE))
    expected = expected.clamp(0, 1).expand(1, 3, SIZE, SIZE)
    torch.testing.assert_close(heatmaps, expected, rtol=0, atol=1e-6)  # up(1 - M) = 1 - up(M)
    torch.testing.assert_close(result.heatmap(), 1 - result.mask)
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1 and heatmaps.max() > 0
    as_tuple = igos.attribute((images,), generator=torch.Generator().manual_seed(5), **kwargs)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 1
    torch.testing.assert_close(as_tuple[0], heatmaps, rtol=0, atol=0)
    assert not igos.has_convergence_delta()


def test_baselines_as_number_or_tensor():
    model, images = tiny_setup(n=2, seed=4)
    gen = torch.Generator
    by_number = IGOS(model).optimize(images, 0.25, 1, generator=gen().manual_seed(0), **TINY)
    by_tensor = IGOS(model).optimize(images, torch.full((1, 3, 1, 1), 0.25, dtype=D64), 1,
                                     generator=gen().manual_seed(0), **TINY)
    torch.testing.assert_close(by_number.mask, by_tensor.mask, rtol=0, atol=0)
    blurred = IGOS(model).optimize(images, None, 1, generator=gen().manual_seed(0), **TINY)
    explicit = IGOS(model).optimize(images, blur_baseline(images), 1,
                                    generator=gen().manual_seed(0), **TINY)
    torch.testing.assert_close(blurred.mask, explicit.mask, rtol=0, atol=0)
    assert not torch.equal(by_number.losses, blurred.losses)


def test_reproducible_with_a_generator_or_the_global_seed():
    model = PlantedEvidence().eval()
    images = planted_images(n=2)
    kwargs = {"target": 1, "mask_size": 7, "iterations": 3, "n_steps": 4}
    first = IGOS(model).attribute(images, generator=torch.Generator().manual_seed(11), **kwargs)
    second = IGOS(model).attribute(images, generator=torch.Generator().manual_seed(11), **kwargs)
    other = IGOS(model).attribute(images, generator=torch.Generator().manual_seed(12), **kwargs)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.equal(first, other)
    torch.manual_seed(3)
    global_first = IGOS(model).attribute(images, **kwargs)
    torch.manual_seed(3)
    again = IGOS(model).attribute(images, **kwargs)
    torch.testing.assert_close(again, global_first, rtol=0, atol=0)


class CountingModel(torch.nn.Module):
    """Wraps a model and records the batch size of every forward call."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.batches: list[int] = []

    def forward(self, x):
        self.batches.append(x.shape[0])
        return self.model(x)


def test_converged_images_stop_costing_passes_and_chunks_respect_internal_batch_size():
    images = planted_images(n=2, seed=5)
    flat = torch.full((1, 3, SIZE, SIZE), 0.5)  # no texture: nothing to delete, M stays 1
    kwargs = {"target": 1, "mask_size": 7, "iterations": 4, "n_steps": 5, "noise_std": 0.0,
              "objective": "paper"}
    counting = CountingModel(PlantedEvidence().eval())
    alone = IGOS(counting).optimize(images[:1], **kwargs)
    rows_alone = sum(counting.batches)
    counting.batches.clear()
    both = IGOS(counting).optimize(torch.cat([images[:1], flat]), internal_batch_size=4, **kwargs)
    assert max(counting.batches) <= 4
    assert both.converged.tolist()[1] and int(both.iterations_run[1]) == 1
    # the flat image costs one evaluation of its 5 path points, nothing else
    assert sum(counting.batches) == rows_alone + 5
    torch.testing.assert_close(both.mask[:1], alone.mask, rtol=0, atol=1e-6)
    assert bool((both.mask[1] == 1).all()) and bool((both.step_sizes[1] == 0).all())


BAD_ARGUMENTS = [
    ({"mask_size": 33}, ValueError,
     r"mask_size between \(1, 1\) and the input size \(32, 32\), got \(33, 33\)"),
    ({"mask_size": (4, 0)}, ValueError, r"mask_size >= 1, got 0"),
    ({"mask_size": "big"}, TypeError, r"mask_size to be an int or a pair"),
    ({"l1_coeff": -1.0}, ValueError, r"l1_coeff >= 0, got -1.0"),
    ({"tv_coeff": -0.5}, ValueError, r"tv_coeff >= 0, got -0.5"),
    ({"noise_std": -0.1}, ValueError, r"noise_std >= 0, got -0.1"),
    ({"optimizer": "adam"}, ValueError,
     r"optimizer to be one of \('line_search', 'nag'\) or a LineSearch / Nesterov object, "
     r"got 'adam'"),
    ({"optimizer": 3}, TypeError, r"optimizer to be one of .* got 3"),
    ({"alpha0": 1.0}, TypeError, r"keyword argument 'alpha0'; it is now "
                                 r"optimizer=LineSearch\(alpha0=...\)"),
    ({"mask_szie": 7}, TypeError, r"keyword argument 'mask_szie'; did you mean 'mask_size'"),
    ({"score": "logit"}, ValueError, r"score to be one of"),
    ({"iterations": 0}, ValueError, r"iterations >= 1, got 0"),
    ({"n_steps": 2.5}, TypeError, r"n_steps to be an int"),
    ({"internal_batch_size": 0}, ValueError, r"internal_batch_size >= 1, got 0"),
    ({"baselines": torch.zeros(2, 3, 16, 16)}, ValueError,
     r"baselines\[0\] broadcastable to the input's shape \(2, 3, 32, 32\), got \(2, 3, 16, 16\)"),
    ({"target": [1, 0, 1]}, ValueError, r"target list with 2 entries .* got 3"),
    ({"target": torch.tensor([1, 0, 1])}, ValueError, r"target tensor with 1 or 2 elements"),
    ({"generator": 3}, TypeError, r"generator to be a torch.Generator or None, got int 3"),
    ({"additional_forward_args": (torch.zeros(3),)}, ValueError,
     r"additional_forward_args\[0\] with 2 rows .* got shape \(3,\)"),
    ({"initial_mask": torch.ones(2, 1, 7, 7)}, ValueError,
     r"initial_mask to be a tensor of shape \(2, 1, 28, 28\) \(mask_size=\(28, 28\)\)"),
    ({"initial_mask": (torch.ones(2, 1, 28, 28),)}, TypeError,
     r"initial_mask to be a tensor of shape \(2, 1, 28, 28\), got tuple"),
    ({"initial_mask": torch.full((2, 1, 28, 28), 1.5)}, ValueError,
     r"initial_mask values in \[0, 1\] \(finite\), got values from 1.5 to 1.5"),
    ({"initial_mask": torch.ones(2, 1, 28, 28, dtype=torch.long)}, ValueError,
     r"of a floating dtype, got tensor of shape \(2, 1, 28, 28\) and dtype torch.int64"),
    ({"l1_pull_at_one": 1}, TypeError, r"l1_pull_at_one to be a bool, got int 1"),
    ({"fresh_noise": "yes"}, TypeError, r"fresh_noise to be a bool, got str 'yes'"),
    ({"mask_product": "upsampled"}, ValueError,
     r"mask_product='low_resolution' for I-GOS \(mask_product is an iGOS\+\+ option\)"),
    ({"bilateral_image": "input"}, ValueError, r"bilateral_image='min_max' for I-GOS"),
    ({"objective": "papers"}, ValueError, r"objective to be one of 'normalized', 'paper'"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_raise_before_touching_the_model(kwargs, error, message):
    counting = CountingModel(PlantedEvidence().train())
    state = state_copy(counting)
    with pytest.raises(error, match=message):
        IGOS(counting).attribute(planted_images(n=2), **kwargs)
    assert counting.batches == [] and no_hooks(counting) and same_state(counting, state)
    assert counting.training


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (torch.rand(3, 32, 32), r"inputs of shape \(N, C, H, W\) with N >= 1, got \(3, 32, 32\)"),
        (torch.rand(0, 3, 32, 32), r"got \(0, 3, 32, 32\)"),
        ((torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)),
         r"a single input tensor .* 2 elements"),
    ],
)
def test_inputs_must_be_one_4d_batch(inputs, message):
    model = PlantedEvidence()
    with pytest.raises(ValueError, match=message):
        IGOS(model).attribute(inputs, target=1)
    assert no_hooks(model)


def test_no_side_effects_and_output_on_inputs_device_and_dtype(device, dtype):
    model = PlantedEvidence().to(device=device, dtype=dtype).train()
    model.conv.weight.requires_grad_(False)
    hook_calls = []
    handle = model.conv.register_forward_hook(lambda *args: hook_calls.append(1))
    state = state_copy(model)
    images = planted_images(n=2).to(device=device, dtype=dtype).requires_grad_(True)
    before = images.detach().clone()
    generator = torch.Generator(device=device).manual_seed(0)
    heatmaps = IGOS(model).attribute(images, target=1, mask_size=7, generator=generator, **FAST)
    assert heatmaps.device == images.device and heatmaps.dtype == dtype
    assert heatmaps.shape == images.shape and not heatmaps.requires_grad
    assert torch.equal(images.detach(), before) and images.grad is None
    assert model.training and not model.conv.weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert same_state(model, state) and hook_calls
    assert list(model.conv._forward_hooks) == [handle.id]
    handle.remove()
    assert no_hooks(model)


def test_model_errors_propagate_and_leave_nothing_behind():
    class Failing(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("boom")
            return torch.zeros(x.shape[0], 2)

    model = Failing()
    with pytest.raises(RuntimeError, match="boom"):
        IGOS(model).attribute(planted_images(n=1), mask_size=4, **FAST)
    assert no_hooks(model)


def test_show_progress_draws_a_bar(capsys):
    IGOS(PlantedEvidence()).attribute(planted_images(n=1), target=1, mask_size=4,
                                      show_progress=True, **FAST)
    assert "IGOS attribution" in capsys.readouterr().err


def test_warm_start_begins_each_search_at_the_previous_accepted_step(monkeypatch):
    model = PlantedEvidence().double().eval()
    images = planted_images(n=2, seed=1).double()
    calls = spy_line_search(monkeypatch)
    result = IGOS(model).optimize(
        images, target=1, mask_size=7, iterations=4, n_steps=3, noise_std=0.0,
        optimizer=LineSearch(warm_start=True))
    assert torch.equal(calls[0][4]["alpha0"], torch.full((2,), 1000.0, dtype=D64))
    for t in range(1, len(calls)):
        previous = result.step_sizes[:, t - 1]
        assert torch.equal(calls[t][4]["alpha0"], previous)
    assert bool((result.losses[:, 1:] <= result.losses[:, :-1] + 1e-12).all())


def test_cold_line_search_restarts_every_search_at_alpha0_as_the_papers(monkeypatch):
    model = PlantedEvidence().double().eval()
    images = planted_images(n=2, seed=1).double()
    calls = spy_line_search(monkeypatch)
    IGOS(model).optimize(
        images, target=1, mask_size=7, iterations=4, n_steps=3, noise_std=0.0,
        optimizer=LineSearch(warm_start=False, alpha0=500.0))
    assert len(calls) >= 2
    for call in calls:
        assert torch.equal(torch.as_tensor(call[4]["alpha0"]).expand(2), torch.full((2,), 500.0,
                                                                                   dtype=D64))


def test_heatmaps_feed_captum_metrics_like_any_attribution():
    from captum.metrics import infidelity

    model = PlantedEvidence().eval()
    images = planted_images(n=2)
    heatmaps = IGOS(model).attribute(images, target=1, mask_size=7, **FAST)

    def perturb(inputs):
        noise = torch.randn(inputs.shape, generator=torch.Generator().manual_seed(0)) * 0.1
        return noise, inputs - noise

    values = infidelity(model, perturb, images, heatmaps, target=1, n_perturb_samples=2)
    assert values.shape == (2,) and bool(torch.isfinite(values).all())


@pytest.mark.parametrize("method", ["igos", "igos++"])
@pytest.mark.parametrize("score", ["probability", "raw"])
def test_line_search_lower_bound_is_a_bound_and_pruning_changes_nothing(method, score,
                                                                         monkeypatch):
    """The bound never exceeds the objective; searches pruned by it end exactly where the
    plain search ends, with fewer examples through the model (probability only)."""
    from captum_igos import IGOSPlusPlus
    from captum_igos._core.igos_plus_plus import IGOSPlusPlusObjective

    cls, objective_cls = {
        "igos": (IGOS, IGOSObjective), "igos++": (IGOSPlusPlus, IGOSPlusPlusObjective)
    }[method]
    images = planted_images(n=2, seed=3).double()
    counting = CountingModel(PlantedEvidence().double().eval())
    kwargs = {"target": 1, "mask_size": 7, "iterations": 3, "n_steps": 3, "score": score,
              "generator": torch.Generator().manual_seed(0), "internal_batch_size": 64}
    bounds = []
    original_bound = objective_cls.lower_bound

    def checked_bound(self, masks, rows):
        bound = original_bound(self, masks, rows)
        loss, _ = self.evaluate(masks, rows, None, False)
        bounds.append((bound, loss))
        return bound

    monkeypatch.setattr(objective_cls, "lower_bound", checked_bound)
    cls(counting).optimize(images, **{**kwargs, "noise_std": 0.0})
    assert bounds and all(bool((bound <= loss).all()) for bound, loss in bounds)
    if score == "raw":
        assert all(bool(torch.isinf(bound).all()) for bound, _ in bounds)
    monkeypatch.setattr(objective_cls, "lower_bound", original_bound)

    counting.batches.clear()
    pruned = cls(counting).optimize(images, **kwargs)
    pruned_examples = sum(counting.batches)
    monkeypatch.setattr(objective_cls, "lower_bound",
                        lambda self, masks, rows: torch.full((rows.shape[0],), -torch.inf))
    counting.batches.clear()
    kwargs["generator"] = torch.Generator().manual_seed(0)
    plain = cls(counting).optimize(images, **kwargs)
    for field in ("mask", "losses", "step_sizes", "iterations_run", "converged"):
        assert torch.equal(getattr(pruned, field).nan_to_num(-1),
                           getattr(plain, field).nan_to_num(-1)), field
    if score == "probability":
        assert pruned_examples < sum(counting.batches)
    else:
        assert pruned_examples == sum(counting.batches)


class LowProbability(torch.nn.Module):
    """PlantedEvidence with class 1's logit lowered by ``shift``: same evidence, p << 1."""

    def __init__(self, shift: float = 10.0) -> None:
        super().__init__()
        self.planted, self.shift = PlantedEvidence(), shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.planted(x)
        return logits - torch.tensor([0.0, self.shift], dtype=x.dtype, device=x.device)


@pytest.mark.parametrize("method", ["IGOS", "IGOSPlusPlus"])
def test_low_probability_target_finds_the_planted_region_with_the_normalized_objective(method):
    cls = IGOS if method == "IGOS" else IGOSPlusPlus
    model, images = LowProbability().eval(), planted_images()
    with torch.no_grad():
        assert float(torch.softmax(model(images), dim=1)[:, 1].max()) < 1e-3
    result = cls(model).optimize(images, target=1, mask_size=7,
                                 generator=torch.Generator().manual_seed(0))
    assert result.status == ("moved", "moved")
    if cls is IGOS:  # (iGOS++ finds the region in image 0 only at these settings)
        assert in_region(result.heatmap((SIZE, SIZE))) == [True, True]
    # the papers' objective: a score that can fall by at most p < 1e-3 never pays for the
    # L1 cost of a deletion, so no step is taken; attribute says so instead of staying silent
    with pytest.warns(UserWarning, match=r"image\(s\) \[0, 1\] is empty .*stopped_at_start.*"
                                         r"objective='normalized'"):
        heatmaps = cls(model).attribute(images, target=1, mask_size=7, objective="paper",
                                        generator=torch.Generator().manual_seed(0))
    assert float(heatmaps.abs().max()) <= 1e-6  # all ones upsampled: rounding only
    paper = cls(model).optimize(images, target=1, mask_size=7, objective="paper",
                                generator=torch.Generator().manual_seed(0))
    assert paper.status == ("stopped_at_start", "stopped_at_start") and paper.empty == [0, 1]


def test_non_finite_loss_is_reported_per_image():
    class NanForImageOne(torch.nn.Module):
        def forward(self, x):
            logits = PlantedEvidence()(x)
            bad = x[:, 0, 0, 0] > 10  # only the image planted with a huge corner value
            return torch.where(bad[:, None], torch.full_like(logits, float("nan")), logits)

    images = planted_images(n=2)
    images[1, 0, 0, 0] = 100.0
    with pytest.warns(UserWarning, match=r"image\(s\) \[1\] is empty .*non_finite_loss"):
        IGOS(NanForImageOne()).attribute(images, target=1, mask_size=7, noise_std=0.0)
    result = IGOS(NanForImageOne()).optimize(images, target=1, mask_size=7, noise_std=0.0)
    assert result.status == ("moved", "non_finite_loss")
    assert int(result.iterations_run[1]) == 1 and bool((result.mask[1] == 1).all())


def test_normalized_objective_is_the_papers_divided_by_the_clean_score():
    """Per-step loop: F = mean_s f_c(path_s) / f_c(x) + reg, and its gradient."""
    model, images = tiny_setup()
    baselines, target = blur_baseline(images), torch.tensor([0, 2, 1])
    clean = torch.softmax(model(images), dim=1)[torch.arange(3), target].detach()
    scale = 1 / clean
    scorer = PathScorer(scored_forward(model, "probability"), images, baselines, target, None,
                        5, 4, score_scale=scale)
    objective = IGOSObjective(scorer, (4, 4), l1_coeff=1.5, tv_coeff=3.0)
    masks = torch.rand(3, 1, 4, 4, dtype=D64)
    loss, (direction,) = objective.evaluate((masks,), torch.arange(3), None, True)
    for i in range(3):
        mask = masks[i : i + 1].clone().requires_grad_(True)
        up = plain_upsample(mask, tuple(images.shape[-2:]))
        score = plain_path_score(model, baselines[i : i + 1], images[i : i + 1], up,
                                 int(target[i]), 5, None) / clean[i]
        value = score + 1.5 * (1 - mask).abs().mean() + 3.0 * plain_tv(mask)
        (grad,) = torch.autograd.grad(value, mask)
        assert abs(float(loss[i] - value.detach())) <= 1e-9
        assert (direction[i] - grad[0]).abs().max() <= 1e-6


def test_each_optimizer_owns_its_settings():
    """One meaning per name: the Nesterov step is Nesterov's, the line search's are its own."""
    images, model = planted_images(), PlantedEvidence().eval()
    kwargs = {"target": 1, "mask_size": 7, "iterations": 3, "n_steps": 3, "noise_std": 0.0}
    default = IGOS(model).optimize(images, optimizer="nag", **kwargs)
    explicit = IGOS(model).optimize(
        images, optimizer=Nesterov(step_size=nag_step_size((7, 7), 20.0)), **kwargs)
    assert torch.equal(explicit.mask, default.mask)
    smaller = IGOS(model).optimize(images, optimizer=Nesterov(step_size=0.01), **kwargs)
    assert smaller.step_sizes[smaller.step_sizes > 0].eq(0.01).all()
    assert not torch.equal(smaller.mask, default.mask)
    searched = IGOS(model).optimize(images, optimizer="line_search", **kwargs)
    assert torch.equal(IGOS(model).optimize(images, optimizer=LineSearch(), **kwargs).mask,
                       searched.mask)
    assert not torch.equal(searched.mask, default.mask)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: LineSearch(alpha0=0.0), ValueError, r"expected alpha0 > 0, got 0.0"),
        (lambda: LineSearch(alpha0=float("inf")), ValueError, r"alpha0 to be finite"),
        (lambda: LineSearch(decay=1.5), ValueError, r"decay in \(0, 1\), got 1.5"),
        (lambda: LineSearch(armijo=-1.0), ValueError, r"armijo >= 0, got -1.0"),
        (lambda: LineSearch(min_alpha=float("inf")), ValueError, r"min_alpha to be finite"),
        (lambda: LineSearch(alpha0=float("nan")), ValueError, r"alpha0 to be finite, got nan"),
        (lambda: LineSearch(armijo=float("nan")), ValueError, r"armijo to be finite, got nan"),
        (lambda: Nesterov(step_size=float("inf")), ValueError, r"step_size to be finite"),
        (lambda: LineSearch(warm_start="yes"), TypeError, r"warm_start to be a bool"),
        (lambda: Nesterov(step_size=-1.0), ValueError, r"step_size > 0, got -1.0"),
    ],
)
def test_optimizer_settings_are_checked_when_made(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_signatures_write_out_every_option_as_the_options_dataclass_has_it():
    """The written-out keywords of attribute / optimize agree with ``MaskOptions`` (the one
    home of defaults): same names, order, defaults and annotations, keyword-only."""
    import inspect
    from dataclasses import fields

    from captum_igos._core.mask_optimization import MaskOptions

    options = [(option.name, option.default, option.type) for option in fields(MaskOptions)]
    for method in (IGOS.attribute, IGOS.optimize, IGOSPlusPlus.attribute, IGOSPlusPlus.optimize):
        parameters = list(inspect.signature(method).parameters.values())
        assert [p.name for p in parameters[:5]] == ["self", "inputs", "baselines", "target",
                                                    "additional_forward_args"]
        written = [(p.name, p.default, p.annotation) for p in parameters[5:-1]]
        assert written == options
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[5:-1])
        assert parameters[-1].kind is inspect.Parameter.VAR_KEYWORD  # only for the hints
        assert parameters[-1].annotation == "NoReturn"


def test_fresh_noise_draws_per_image_and_evaluation_and_is_a_no_op_without_noise():
    """Shared noise: two copies of an image get the same map. Fresh noise (the authors'
    code): each copy, each evaluation its own draw, so the copies part."""
    image, model = planted_images(n=1), PlantedEvidence().eval()
    copies = image.expand(2, -1, -1, -1).contiguous()
    kwargs = {"target": 1, "mask_size": 7, "iterations": 3, "n_steps": 3}
    shared = IGOS(model).optimize(copies, generator=torch.Generator().manual_seed(0), **kwargs)
    assert shared.status == ("moved", "moved") and torch.equal(shared.mask[0], shared.mask[1])
    fresh = IGOS(model).optimize(copies, generator=torch.Generator().manual_seed(0),
                                 fresh_noise=True, **kwargs)
    assert fresh.status[0] == "moved"  # the copy's own draws may stop it (a random test)
    assert (fresh.mask[0] - fresh.mask[1]).abs().max() > 1e-3
    quiet = {**kwargs, "noise_std": 0.0}
    torch.testing.assert_close(IGOS(model).optimize(copies, fresh_noise=True, **quiet).mask,
                               IGOS(model).optimize(copies, **quiet).mask, rtol=0, atol=0)


def test_initial_mask_starts_the_run_there_and_is_not_changed():
    """Two one-iteration calls chained through initial_mask equal one two-iteration call
    (no noise, every search restarted: an iteration depends on the mask alone)."""
    images, model = planted_images(), PlantedEvidence().eval()
    kwargs = {"target": 1, "mask_size": 7, "n_steps": 3, "noise_std": 0.0,
              "optimizer": LineSearch(warm_start=False)}
    for cls in (IGOS, IGOSPlusPlus):
        both = cls(model).optimize(images, iterations=2, **kwargs)
        first = cls(model).optimize(images, iterations=1, **kwargs)
        start = first.mask.clone() if cls is IGOS else (first.deletion_mask.clone(),
                                                         first.insertion_mask.clone())
        second = cls(model).optimize(images, iterations=1, initial_mask=start, **kwargs)
        assert both.status == ("moved", "moved")
        torch.testing.assert_close(second.mask, both.mask, rtol=0, atol=1e-6)
        assert not torch.equal(second.mask, first.mask)
        unchanged = first.mask if cls is IGOS else first.deletion_mask
        assert torch.equal(start if cls is IGOS else start[0], unchanged)


REDUCED_PRECISIONS = [pytest.param(torch.bfloat16, id="bfloat16"),
                      pytest.param(torch.float16, id="float16")]


@pytest.mark.parametrize("autocast", REDUCED_PRECISIONS)
def test_reduced_precision_passes_find_the_planted_region_with_float32_masks(device, autocast):
    images, model = planted_images().to(device), PlantedEvidence().eval().to(device)
    seen = []
    handle = model.conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    try:
        results = {
            precision: IGOS(model).optimize(
                images, target=1, mask_size=7, autocast=precision,
                generator=torch.Generator(device=device).manual_seed(0))
            for precision in (None, autocast)
        }
    finally:
        handle.remove()
    assert set(seen) == {torch.float32, autocast}  # the float32 run, then the reduced one
    full, reduced = results[None], results[autocast]
    assert full.status == reduced.status == ("moved", "moved")  # maps that moved are compared
    assert reduced.mask.dtype == reduced.losses.dtype == torch.float32
    assert in_region(reduced.heatmap((SIZE, SIZE))) == [True, True]
    torch.testing.assert_close(reduced.mask, full.mask, rtol=0, atol=0.05)


def test_a_map_whose_gradient_vanished_under_autocast_is_reported_empty():
    class Constant(torch.nn.Module):  # no gradient at all: the mask cannot move
        def forward(self, x):
            return torch.stack([x.sum(dim=(1, 2, 3)) * 0, x.mean(dim=(1, 2, 3)) * 0 + 1], dim=1)

    with pytest.warns(EmptyMapWarning, match=r"autocast=None \(under autocast=torch.bfloat16"):
        IGOS(Constant()).attribute(planted_images(), target=1, autocast=torch.bfloat16, **TINY)
