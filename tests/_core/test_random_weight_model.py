"""A random-weight network (a weak model: its top-1 class has p ~ 1e-3) still gets maps."""

from __future__ import annotations

import pytest
import torch
import torchvision

from captum_igos import IGOS, IGOSPlusPlus

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
    with pytest.warns(UserWarning, match=r"map of image\(s\) \[0, 1\] is empty.*"
                                         r"objective='normalized'"):
        heatmaps = cls(model).attribute(images, objective="paper",
                                        generator=torch.Generator().manual_seed(0), **SETTINGS)
    assert heatmaps.abs().max() == 0
