"""A random-weight network (a weak model: its top-1 class has p ~ 1e-3) still gets maps."""

from __future__ import annotations

import pytest
import torch
import torchvision

from captum_igos import IGOS, EmptyMapWarning, IGOSPlusPlus
from captum_igos._core.mask_optimization import EMPTY_MAP_TOLERANCE, _outcomes

SETTINGS = {"mask_size": 7, "iterations": 3, "n_steps": 3}


@pytest.fixture(scope="module")
def random_resnet():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        top1 = torch.softmax(model(images), dim=1).amax(dim=1)
    assert bool((top1 < 0.01).all())  # the regime of the issue: nothing is confident
    return model, images


@pytest.mark.parametrize("cls", [IGOS, IGOSPlusPlus])
def test_default_objective_moves_the_mask_of_a_random_weight_resnet(cls, random_resnet):
    model, images = random_resnet
    result = cls(model).optimize(images, generator=torch.Generator().manual_seed(0), **SETTINGS)
    assert result.status == ("moved", "moved") and result.empty == []
    heatmaps = result.heatmap((64, 64))
    assert bool((heatmaps.flatten(1).amax(dim=1) > 0).all())
    assert bool((heatmaps.flatten(1).std(dim=1) > 0).all())  # a map, not a constant


@pytest.mark.parametrize("cls", [IGOS, IGOSPlusPlus])
def test_papers_objective_on_the_same_model_is_empty_and_says_so(cls, random_resnet):
    model, images = random_resnet
    with pytest.warns(EmptyMapWarning, match=r"map of image\(s\) \[0, 1\] is empty.*"
                                         r"objective='normalized'"):
        heatmaps = cls(model).attribute(images, objective="paper",
                                        generator=torch.Generator().manual_seed(0), **SETTINGS)
    assert heatmaps.abs().max() == 0


def test_a_map_that_barely_moved_is_reported_empty_not_silently_returned():
    """Rank-51 target of a random ResNet-18 (p ~ 0.0016): iGOS++ takes steps, but its map
    peaks near 1e-6, which a plot scaled to its maximum would draw as structure."""
    torch.manual_seed(1)
    model = torchvision.models.resnet18(weights=None).eval()
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        target = int(torch.softmax(model(image), dim=1).argsort(descending=True)[0, 50])
    result = IGOSPlusPlus(model).optimize(
        image, target=target, generator=torch.Generator().manual_seed(0), **SETTINGS)
    assert bool((result.step_sizes > 0).any())  # it did move ...
    peak = float((1 - result.mask).max())
    assert 0 < peak < EMPTY_MAP_TOLERANCE  # ... by less than the tolerance
    assert result.status == ("barely_moved",) and result.empty == [0]
    with pytest.warns(EmptyMapWarning, match=r"image\(s\) \[0\] is empty \(all zeros, or every "
                                         r"value below 0.001\): barely_moved; .*more iterations"):
        IGOSPlusPlus(model).attribute(image, target=target,
                                      generator=torch.Generator().manual_seed(0), **SETTINGS)


def test_the_empty_map_tolerance_is_where_moved_starts():
    """Status from the final mask's peak: just below the tolerance is empty, at it is not."""
    steps = torch.tensor([[0.5, 0.0]] * 3)
    never = torch.zeros(3, dtype=torch.bool)
    mask = torch.ones(3, 1, 2, 2)
    mask[0, 0, 0, 0] = 1 - EMPTY_MAP_TOLERANCE / 2
    mask[1, 0, 0, 0] = 1 - 2 * EMPTY_MAP_TOLERANCE
    assert _outcomes(never, steps, mask) == ("barely_moved", "moved", "barely_moved")
    assert _outcomes(torch.tensor([False, False, True]), torch.zeros(3, 2), mask) == (
        "stopped_at_start", "stopped_at_start", "non_finite_loss")
