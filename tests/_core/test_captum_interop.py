"""All three methods inside Captum's own machinery: signatures, NoiseTunnel, metrics."""

from __future__ import annotations

import inspect

import pytest
import torch
from captum.attr import (
    FeatureAblation,
    IntegratedGradients,
    LayerAttribution,
    LayerConductance,
    LayerIntegratedGradients,
    NoiseTunnel,
)
from captum.metrics import infidelity, sensitivity_max

from captum_igos import IGOS, IGOSPlusPlus, LayerRSIGradCam
from tests._core.igos_helpers import SIZE, PlantedEvidence, TinyNet, in_region

D64 = torch.float64
CAPTUM_ORDER = ["inputs", "baselines", "target", "additional_forward_args"]
MASK_SETTINGS = {"mask_size": 4, "iterations": 2, "n_steps": 2, "noise_std": 0.0}


def planted():
    """The planted-evidence model and two images whose I-GOS / iGOS++ maps move (class 1)."""
    torch.manual_seed(0)
    return PlantedEvidence().double().eval(), torch.rand(2, 3, SIZE, SIZE, dtype=D64)


def assert_moved(method, x, maps, **kwargs):
    """A compared map must have moved: every image's status ``moved``, the maximum in the
    planted region (a test on an empty map passes whatever the code under test does)."""
    if isinstance(method, (IGOS, IGOSPlusPlus)):
        status = method.optimize(x, **kwargs).status
        assert status == ("moved",) * x.shape[0], (type(method).__name__, status)
        assert in_region(maps) == [True] * x.shape[0], type(method).__name__
    assert (maps.flatten(1).abs().amax(dim=1) > 1e-3).all(), type(method).__name__


def first_parameters(func, count=4):
    return [name for name in inspect.signature(func).parameters if name != "self"][:count]


def test_positional_order_is_captums():
    for sibling in (IntegratedGradients, FeatureAblation, LayerConductance,
                    LayerIntegratedGradients):
        assert first_parameters(sibling.attribute) == CAPTUM_ORDER, sibling
    for ours in (IGOS.attribute, IGOS.optimize, IGOSPlusPlus.attribute,
                 IGOSPlusPlus.optimize, LayerRSIGradCam.attribute):
        assert first_parameters(ours) == CAPTUM_ORDER, ours


def test_baselines_and_target_pass_positionally_as_in_captum():
    model, x = planted()
    rsi = LayerRSIGradCam(model, model.conv)
    by_keyword = rsi.attribute(x, baselines=0.0, target=1, n_steps=4)
    assert_moved(rsi, x, by_keyword)
    assert torch.equal(rsi.attribute(x, 0.0, 1, None, 4), by_keyword)
    for method in (IGOS(model), IGOSPlusPlus(model)):
        by_keyword = method.attribute(x, baselines=0.0, target=1, **MASK_SETTINGS)
        assert_moved(method, x, by_keyword, baselines=0.0, target=1, **MASK_SETTINGS)
        assert torch.equal(method.attribute(x, 0.0, 1, **MASK_SETTINGS), by_keyword)
        blurred = method.attribute(x, None, 1, **MASK_SETTINGS)  # the baseline did arrive
        assert not torch.equal(blurred, by_keyword)


def _methods(model):
    """(name, method, plain call's keyword arguments) for all three."""
    return [
        ("IGOS", IGOS(model), dict(MASK_SETTINGS)),
        ("IGOSPlusPlus", IGOSPlusPlus(model), dict(MASK_SETTINGS)),
        ("LayerRSIGradCam", LayerRSIGradCam(model, model.conv), {"n_steps": 4}),
    ]


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_noise_tunnel_with_one_noiseless_sample_equals_the_plain_call(nt_type):
    model, x = planted()
    target = torch.tensor([1, 1])
    for name, method, kwargs in _methods(model):
        plain = method.attribute(x, target=target, **kwargs)
        assert_moved(method, x, plain, target=target, **kwargs)
        tunnel = NoiseTunnel(method).attribute(
            x, nt_type=nt_type, nt_samples=1, stdevs=0.0, target=target, **kwargs
        )
        expected = {"smoothgrad": plain, "smoothgrad_sq": plain**2,
                    "vargrad": torch.zeros_like(plain)}[nt_type]
        assert tunnel.shape == plain.shape, name
        torch.testing.assert_close(tunnel, expected, rtol=0, atol=1e-12, msg=name)


def test_noise_tunnel_averages_noisy_samples_and_keeps_per_image_targets():
    torch.manual_seed(0)
    model = TinyNet().double()
    x = torch.rand(2, 3, 8, 8, dtype=D64)
    rsi = LayerRSIGradCam(model, model.conv)
    torch.manual_seed(3)
    tunnel = NoiseTunnel(rsi).attribute(x, nt_samples=3, stdevs=0.1, target=[0, 2], n_steps=4)
    torch.manual_seed(3)  # the same draws (Captum draws them in the default dtype)
    noisy = x.repeat_interleave(3, dim=0) + torch.normal(0, torch.full((6, 3, 8, 8), 0.1))
    by_hand = rsi.attribute(noisy, target=[0, 0, 0, 2, 2, 2], n_steps=4)
    torch.testing.assert_close(tunnel, by_hand.view(2, 3, *by_hand.shape[1:]).mean(dim=1))


def _as_input_shaped(attribution, inputs):
    if attribution.shape == inputs.shape:
        return attribution
    return LayerAttribution.interpolate(attribution, inputs.shape[-2:]).expand_as(inputs)


def test_captum_infidelity_and_sensitivity_accept_all_three():
    model, x = planted()
    target = torch.tensor([1, 1])

    def perturb(inputs):
        noise = 0.01 * torch.randn_like(inputs)
        return noise, inputs - noise

    for name, method, kwargs in _methods(model):
        plain = method.attribute(x, target=target, **kwargs)
        assert_moved(method, x, plain, target=target, **kwargs)
        attribution = _as_input_shaped(plain, x)
        score = infidelity(model, perturb, x, attribution, target=target, n_perturb_samples=2)
        assert score.shape == (2,) and torch.isfinite(score).all(), name
        # sensitivity_max hands the explanation function a tuple and iterates over what
        # it returns; a layer map is a tensor whatever the input (Captum's LayerGradCam
        # fails the same way), so layer methods are passed as a 1-tuple.
        explain = method.attribute
        if name == "LayerRSIGradCam":
            def explain(inputs, rsi=method, **kw):
                return (rsi.attribute(inputs, **kw),)
        # No perturbation: a deterministic method (noise_std=0 for the mask methods) has
        # sensitivity 0 (up to rounding across batch sizes); a radius > 0 moves the RSI map.
        still = sensitivity_max(explain, x, target=target, perturb_radius=0.0,
                                n_perturb_samples=2, **kwargs)
        assert still.shape == (2,) and torch.all(still < 1e-12), name
        moved = sensitivity_max(explain, x, target=target, perturb_radius=0.3,
                                n_perturb_samples=2, **kwargs)
        assert moved.shape == (2,) and torch.isfinite(moved).all(), name
        if name == "LayerRSIGradCam":
            assert (moved > 0).all()
