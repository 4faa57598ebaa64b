"""iGOS++: each term's direction against per-step loops, line search, batching, evidence."""

from __future__ import annotations

import pytest
import torch

from captum_igos import IGOSPlusPlus, MaskOptimizationResult
from captum_igos._core.igos_plus_plus import IGOSPlusPlusObjective
from captum_igos._utils.batching import CPU_ROWS_PER_PASS
from captum_igos._utils.masks import bilateral_weights
from captum_igos._utils.path_scores import PathScorer, draw_noise
from captum_igos._utils.scores import scored_forward
from captum_igos.baselines import blur_baseline
from tests._core.igos_helpers import (
    SIZE,
    PlantedEvidence,
    TinyNet,
    in_region,
    no_hooks,
    plain_path_score,
    plain_tv,
    plain_upsample,
    same_state,
    state_copy,
)
from tests._core.test_igos import CountingModel, planted_images, spy_line_search

D64 = torch.float64
TERMS = {
    "D(Md)": (1.0, 0.0, 0.0, 0.0),
    "I(Mi)": (0.0, -1.0, 0.0, 0.0),
    "D(Md*Mi)": (0.0, 0.0, 1.0, 0.0),
    "I(Md*Mi)": (0.0, 0.0, 0.0, -1.0),
    "all": (1.0, -1.0, 1.0, -1.0),
}


def plain_btv(image, mask, sigma=0.01):
    """0.5 (TV(M) + mean(w_y dy(up M)^2) + mean(w_x dx(up M)^2)), image min-max normalised."""
    norm = (image - image.min()) / (image.max() - image.min())
    w_y = torch.exp(-((norm[..., 1:, :] - norm[..., :-1, :]) ** 2).mean(dim=1) / sigma)
    w_x = torch.exp(-((norm[..., :, 1:] - norm[..., :, :-1]) ** 2).mean(dim=1) / sigma)
    up = plain_upsample(mask, tuple(image.shape[-2:]))
    dy = (up[..., 1:, :] - up[..., :-1, :]) ** 2
    dx = (up[..., :, 1:] - up[..., :, :-1]) ** 2
    return 0.5 * (plain_tv(mask) + (w_y * dy[:, 0]).mean() + (w_x * dx[:, 0]).mean())


def plain_terms(model, x, baseline, deletion, insertion, target, n_steps, noise, score):
    """The four path scores of ONE image, each evaluated step by step."""
    size = tuple(x.shape[-2:])
    combined = deletion * insertion
    return (
        plain_path_score(model, baseline, x, plain_upsample(deletion, size), target, n_steps,
                         noise, score),
        plain_path_score(model, x, baseline, plain_upsample(insertion, size), target, n_steps,
                         noise, score),
        plain_path_score(model, baseline, x, plain_upsample(combined, size), target, n_steps,
                         noise, score),
        plain_path_score(model, x, baseline, plain_upsample(combined, size), target, n_steps,
                         noise, score),
    )


def plain_objective(model, x, baseline, deletion, insertion, target, n_steps, noise, l1, tv,
                    score="probability", signs=TERMS["all"]):
    terms = plain_terms(model, x, baseline, deletion, insertion, target, n_steps, noise, score)
    path = sum(sign * term for sign, term in zip(signs, terms))
    combined = deletion * insertion
    return path, l1 * (1 - combined).abs().mean() + tv * plain_btv(x, combined)


def plain_directions(model, x, baseline, deletion, insertion, target, n_steps, noise, l1, tv,
                     score, signs):
    """0.5 * grad(path terms) + grad(regulariser) for ONE image, per-step backward passes."""
    leaves = (deletion.detach().requires_grad_(True), insertion.detach().requires_grad_(True))
    path, reg = plain_objective(model, x, baseline, *leaves, target, n_steps, noise, l1, tv, score,
                                signs)
    path_grads = torch.autograd.grad(path, leaves, retain_graph=True, allow_unused=True)
    reg_grads = torch.autograd.grad(reg, leaves)
    return (path + reg).detach(), tuple(
        0.5 * (torch.zeros_like(r) if p is None else p) + r for p, r in zip(path_grads, reg_grads)
    )


@pytest.mark.parametrize("term", list(TERMS))
@pytest.mark.parametrize("with_noise", [False, True])
def test_each_term_direction_equals_a_per_step_loop(term, with_noise):
    torch.manual_seed(0)
    model = TinyNet().double().eval()
    images = torch.rand(2, 3, 8, 8, dtype=D64)
    baselines = blur_baseline(images)
    target = torch.tensor([2, 0])
    scorer = PathScorer(scored_forward(model, "probability"), images, baselines, target, None, 4,
                        7)
    l1, tv = (0.0, 0.0) if term != "all" else (1.5, 3.0)
    objective = IGOSPlusPlusObjective(scorer, (4, 3), l1, tv, bilateral_weights(images),
                                      term_signs=TERMS[term])
    deletion = torch.rand(2, 1, 4, 3, dtype=D64)
    insertion = torch.rand(2, 1, 4, 3, dtype=D64)
    noise = draw_noise(4, images, 0.2, torch.Generator().manual_seed(3)) if with_noise else None
    loss, directions = objective.evaluate((deletion, insertion), torch.arange(2), noise, True)
    for i in range(2):
        one = slice(i, i + 1)
        expected_loss, expected = plain_directions(
            model, images[one], baselines[one], deletion[one], insertion[one], int(target[i]), 4,
            noise, l1, tv, "probability", TERMS[term],
        )
        assert abs(float(loss[i] - expected_loss)) <= 1e-9
        for direction, reference in zip(directions, expected):
            assert (direction[i] - reference[0]).abs().max() <= 1e-6
            if term == "all":
                assert reference.abs().max() > 1e-4
    no_grad_loss, _ = objective.evaluate((deletion, insertion), torch.arange(2), noise, False)
    torch.testing.assert_close(no_grad_loss, loss, rtol=0, atol=1e-12)


def test_l1_term_does_not_pull_cells_at_one():
    """iGOS++'s L1 goes through ``abs`` (as the authors'): zero subgradient where M_d M_i = 1,
    the mean's -1/(hw) elsewhere."""
    model = TinyNet().double().eval()
    images = torch.rand(1, 3, 8, 8, dtype=D64)
    scorer = PathScorer(scored_forward(model, "probability"), images, blur_baseline(images),
                        torch.tensor([1]), None, 2, 7)
    objective = IGOSPlusPlusObjective(scorer, (2, 2), 1.0, 0.0, bilateral_weights(images),
                                      term_signs=(0.0, 0.0, 0.0, 0.0))
    deletion = torch.tensor([[[[1.0, 0.5], [1.0, 0.2]]]], dtype=D64)
    insertion = torch.ones_like(deletion)
    _, (deletion_direction, insertion_direction) = objective.evaluate(
        (deletion, insertion), torch.arange(1), None, True)
    expected = torch.tensor([[[[0.0, -0.25], [0.0, -0.25]]]], dtype=D64)
    torch.testing.assert_close(deletion_direction, expected)
    torch.testing.assert_close(insertion_direction, expected * deletion)


def test_accepted_steps_satisfy_armijo_and_objective_never_increases(monkeypatch):
    model = PlantedEvidence().double().eval()
    images = planted_images(n=2, seed=1).double()
    calls = spy_line_search(monkeypatch)
    result = IGOSPlusPlus(model).optimize(
        images, target=1, mask_size=7, iterations=4, n_steps=3, noise_std=0.0,
        objective="paper")  # the plain loop below scores probabilities
    baselines = blur_baseline(images)
    accepted = 0
    for masks, directions, base_loss, search, kwargs in calls:
        assert masks[0].shape[0] == 2
        for i in range(2):
            one = slice(i, i + 1)
            if not bool(search.accepted[i]):
                continue
            new = tuple(mask[one] for mask in search.masks)
            path, reg = plain_objective(model, images[one], baselines[one], *new, 1, 3, None,
                                        1.0, 20.0)
            decrease = sum((d[i] * (m[i] - n[0])).sum() for d, m, n in zip(directions, masks, new))
            assert float(decrease) > 0
            bound = base_loss[i] - kwargs["armijo"] * decrease
            assert float((path + reg).detach()) <= float(bound) + 1e-12
            accepted += 1
    assert accepted >= 6
    assert result.iterations_run.tolist() == [4, 4]
    assert bool((result.losses[:, 1:] <= result.losses[:, :-1] + 1e-12).all())


@pytest.mark.parametrize("optimizer", ["line_search", "nag"])
def test_batch_equals_one_image_at_a_time(optimizer):
    model = PlantedEvidence().double().eval()
    images = planted_images(n=3, seed=2).double() * torch.tensor([1.0, 0.8, 1.2]).view(3, 1, 1, 1)
    target = torch.tensor([1, 1, 0])
    settings = {"mask_size": 7, "iterations": 3, "n_steps": 3, "noise_std": 0.0,
                "optimizer": optimizer}
    together = IGOSPlusPlus(model).optimize(
        images, target=target, internal_batch_size=7, **settings
    )
    for i in range(3):
        alone = IGOSPlusPlus(model).optimize(
            images[i : i + 1], target=target[i : i + 1], **settings
        )
        for field in ("deletion_mask", "insertion_mask"):
            torch.testing.assert_close(getattr(together, field)[i], getattr(alone, field)[0],
                                       rtol=0, atol=1e-10)
        torch.testing.assert_close(together.step_sizes[i], alone.step_sizes[0])
    assert bool((together.mask[:2] < 0.99).flatten(1).any(dim=1).all())


@pytest.mark.parametrize("optimizer", ["line_search", "nag"])
@pytest.mark.parametrize("mask_size", [7, 28, SIZE])
def test_planted_evidence_is_found(optimizer, mask_size):
    heatmaps = IGOSPlusPlus(PlantedEvidence().eval()).attribute(
        planted_images(), target=1, mask_size=mask_size, optimizer=optimizer,
        generator=torch.Generator().manual_seed(0),
    )
    assert in_region(heatmaps) == [True, True]


def test_result_masks_heatmap_and_one_batch_per_evaluation():
    counting = CountingModel(PlantedEvidence().eval())
    images = planted_images(n=2)
    kwargs = {"target": 1, "mask_size": 7, "iterations": 2, "n_steps": 3, "objective": "paper"}
    igos = IGOSPlusPlus(counting)
    result = igos.optimize(images, generator=torch.Generator().manual_seed(1),
                           internal_batch_size=64, **kwargs)
    assert isinstance(result, MaskOptimizationResult)
    torch.testing.assert_close(result.mask, result.deletion_mask * result.insertion_mask)
    # every evaluation sends all 4 paths x 2 images x 3 steps through the model at once
    assert set(counting.batches) <= {24, 12} and counting.batches[0] == 24
    # without internal_batch_size a CPU gets passes of at most CPU_ROWS_PER_PASS rows
    counting.batches.clear()
    chunked = igos.optimize(images, generator=torch.Generator().manual_seed(1), **kwargs)
    assert max(counting.batches) == CPU_ROWS_PER_PASS and counting.batches[:3] == [8, 8, 8]
    torch.testing.assert_close(chunked.mask, result.mask, rtol=0, atol=1e-6)
    heatmaps = igos.attribute(images, generator=torch.Generator().manual_seed(1), **kwargs)
    expected = (1 - plain_upsample(result.mask, (SIZE, SIZE))).clamp(0, 1)
    torch.testing.assert_close(heatmaps, expected.expand_as(images), rtol=0, atol=1e-6)


def test_reproducible_with_a_generator():
    model = PlantedEvidence().eval()
    kwargs = {"target": 1, "mask_size": 7, "iterations": 2, "n_steps": 3}
    first = IGOSPlusPlus(model).attribute(planted_images(),
                                          generator=torch.Generator().manual_seed(2), **kwargs)
    second = IGOSPlusPlus(model).attribute(planted_images(),
                                           generator=torch.Generator().manual_seed(2), **kwargs)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mask_size": (8, 40)}, r"mask_size between .* input size \(32, 32\), got \(8, 40\)"),
        ({"tv_coeff": -1.0}, r"tv_coeff >= 0, got -1.0"),
        ({"optimizer": "sgd"}, r"optimizer to be one of \('line_search', 'nag'\) .* got 'sgd'"),
        ({"baselines": torch.zeros(1, 1, 5, 5)}, r"baselines\[0\] broadcastable"),
        ({"initial_mask": torch.ones(1, 1, 28, 28)}, r"initial_mask to be a pair "
         r"\(deletion_mask, insertion_mask\) of tensors of shape \(1, 1, 28, 28\), got tensor"),
        ({"initial_mask": (torch.ones(1, 1, 28, 28), torch.ones(1, 1, 4, 4))},
         r"initial_mask to be a pair .* got tensor of shape \(1, 1, 4, 4\)"),
        ({"mask_product": "before"}, r"mask_product to be one of 'low_resolution', 'upsampled'"),
        ({"bilateral_image": "raw"}, r"bilateral_image to be one of 'min_max', 'input'"),
        ({"bilateral_channels": "max"}, r"bilateral_channels to be one of 'mean_of_squares'"),
    ],
)
def test_bad_arguments_raise_before_touching_the_model(kwargs, message):
    counting = CountingModel(PlantedEvidence())
    state = state_copy(counting)
    with pytest.raises((ValueError, TypeError), match=message):
        IGOSPlusPlus(counting).attribute(planted_images(n=1), target=1, **kwargs)
    assert counting.batches == [] and no_hooks(counting) and same_state(counting, state)


def test_no_side_effects(device):
    model = PlantedEvidence().to(device).train()
    model.conv.weight.requires_grad_(False)
    state = state_copy(model)
    images = planted_images(n=1).to(device).requires_grad_(True)
    before = images.detach().clone()
    heatmaps = IGOSPlusPlus(model).attribute(images, target=1, mask_size=4, iterations=2,
                                             n_steps=2)
    assert heatmaps.device == images.device and heatmaps.dtype == images.dtype
    assert torch.equal(images.detach(), before) and images.grad is None
    assert model.training and not model.conv.weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert same_state(model, state) and no_hooks(model)


@pytest.mark.parametrize("autocast", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_reduced_precision_passes_find_the_planted_region_with_float32_masks(autocast):
    images, model = planted_images(), PlantedEvidence().eval()
    results = {
        precision: IGOSPlusPlus(model).optimize(
            images, target=1, mask_size=7, iterations=3, n_steps=4, autocast=precision,
            generator=torch.Generator().manual_seed(0))
        for precision in (None, autocast)
    }
    full, reduced = results[None], results[autocast]
    assert full.status == reduced.status == ("moved", "moved")
    assert reduced.deletion_mask.dtype == reduced.insertion_mask.dtype == torch.float32
    assert in_region(reduced.heatmap((SIZE, SIZE))) == [True, True]
    torch.testing.assert_close(reduced.mask, full.mask, rtol=0, atol=0.05)
