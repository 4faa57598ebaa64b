"""LayerRSIGradCam on token layers (vision transformers) through ``reshape_transform``."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from captum_igos import IGOS, IGOSPlusPlus, LayerRSIGradCam, vit_reshape_transform
from captum_igos._core.mask_optimization import EMPTY_MAP_TOLERANCE
from tests._core.igos_helpers import no_hooks

D64 = torch.float64


class TinyTokenNet(nn.Module):
    """Patchify 8 x 8 images into a 4 x 4 grid of 2 x 2 patches, prepend a class token, mix
    channels per token (the explained layer), classify from the mean patch token."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 5, 2, stride=2)
        self.cls = nn.Parameter(torch.randn(1, 1, 5))
        self.mix = nn.Linear(5, 5)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)          # (N, 16, 5)
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], dim=1)
        mixed = torch.tanh(self.mix(tokens))
        return self.head(mixed[:, 1:].mean(dim=1) + 0.1 * mixed[:, 0])


def plain_token_rsi(model, x, baseline, target, n_steps):
    """Trapezoid Riemann-Stieltjes sum at model.mix, one path point per pass, by hand."""
    grads, acts = [], []
    for m in range(n_steps + 1):
        point = baseline + (m / n_steps) * (x - baseline)
        store = {}

        def keep(_module, _inputs, output, store=store):
            output.retain_grad()
            store["a"] = output

        handle = model.mix.register_forward_hook(keep)
        try:
            out = torch.softmax(model(point), dim=1)[torch.arange(len(x)), target].sum()
            out.backward()
        finally:
            handle.remove()
        grads.append(vit_reshape_transform(store["a"].grad))
        acts.append(vit_reshape_transform(store["a"].detach()))
    total = sum((grads[m] + grads[m + 1]) / 2 * (acts[m + 1] - acts[m]) for m in range(n_steps))
    weights = total.mean(dim=(2, 3), keepdim=True)
    return (weights * acts[-1]).sum(dim=1, keepdim=True)


def test_reshape_transform_equals_a_per_step_loop_on_a_token_layer():
    torch.manual_seed(0)
    model = TinyTokenNet().double()
    x = torch.rand(2, 3, 8, 8, dtype=D64)
    target = torch.tensor([0, 2])
    rsi = LayerRSIGradCam(model, model.mix, reshape_transform=vit_reshape_transform)
    ours = rsi.attribute(x, baselines=0.0, target=target, n_steps=6, internal_batch_size=4)
    expected = plain_token_rsi(model, x, torch.zeros_like(x), target, n_steps=6)
    assert ours.shape == (2, 1, 4, 4)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-10)


def test_token_layer_without_reshape_transform_names_its_shape():
    torch.manual_seed(0)
    model = TinyTokenNet().double()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"got \(\d+, 17, 5\).*reshape_transform"):
        LayerRSIGradCam(model, model.mix).attribute(torch.rand(2, 3, 8, 8, dtype=D64))
    assert no_hooks(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_vit_reshape_transform_checks_its_tokens():
    tokens = torch.arange(2 * 5 * 3.0).reshape(2, 5, 3)
    grid = vit_reshape_transform(tokens)
    assert grid.shape == (2, 3, 2, 2)
    assert torch.equal(grid[1, :, 0, 1], tokens[1, 2])  # token 1 + (row 0, col 1)
    two_prefix = functools.partial(vit_reshape_transform, num_prefix_tokens=2)
    with pytest.raises(ValueError, match="2 prefix token.*3 is not a square"):
        two_prefix(tokens)
    with pytest.raises(ValueError, match=r"\(N, tokens, dim\), got \(5, 3\)"):
        vit_reshape_transform(tokens[0])
    with pytest.raises(TypeError, match="reshape_transform to be a callable"):
        LayerRSIGradCam(nn.Linear(2, 2), nn.Linear(2, 2), reshape_transform="vit")


@pytest.fixture(scope="module")
def vit():
    import timm  # installed by the test extra (captum-igos[models]): no skip

    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()


@pytest.mark.slow
def test_rsi_grad_cam_on_timm_vit_tiny(vit):
    x = torch.rand(1, 3, 224, 224)
    layer = vit.blocks[-1].norm1
    with pytest.raises(ValueError, match=r"got \(\d+, 197, 192\)"):
        LayerRSIGradCam(vit, layer).attribute(x, n_steps=2)
    maps = LayerRSIGradCam(vit, layer, reshape_transform=vit_reshape_transform).attribute(
        x, baselines=0.0, n_steps=4)
    assert maps.shape == (1, 1, 14, 14)
    assert torch.isfinite(maps).all() and maps.abs().max() > 0
    assert no_hooks(vit)


@pytest.mark.slow
@pytest.mark.filterwarnings("error::captum_igos.EmptyMapWarning")  # the map must move
@pytest.mark.parametrize("method", [IGOS, IGOSPlusPlus])
def test_mask_methods_need_no_layer_and_work_on_timm_vit_tiny(vit, method):
    """The random ViT's raw top-1 logit, with a light L1 / TV pull: the map moves (status
    ``moved``: no EmptyMapWarning) and is a map, not a constant."""
    x = torch.rand(1, 3, 224, 224)
    heatmap = method(vit).attribute(x, score="raw", mask_size=7, iterations=2, n_steps=2,
                                    l1_coeff=0.01, tv_coeff=0.1,
                                    generator=torch.Generator().manual_seed(0))
    assert heatmap.shape == x.shape
    assert torch.isfinite(heatmap).all() and heatmap.min() >= 0 and heatmap.max() <= 1
    assert heatmap.max() > EMPTY_MAP_TOLERANCE and heatmap.std() > 0
