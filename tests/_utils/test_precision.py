"""Reduced-precision passes: the autocast check, the forward wrapper and float16 loss scaling."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from captum_igos._utils import precision
from captum_igos._utils.path_scores import PathScorer
from captum_igos._utils.precision import LossScale, autocast_forward, check_autocast
from tests._utils.model_helpers import METHODS, TinyNet, assert_unchanged, run, snapshot

F16, BF16 = torch.float16, torch.bfloat16


class Faint(nn.Module):
    """1x1 conv -> spatial mean -> linear, weights 1e-3: d output / d x = 2e-6 / (H W).

    On 16 x 16 images that is about 7.8e-9, below float16's smallest subnormal (6e-8):
    a float16 backward pass flushes it to zero; times the loss scale 2^12 it is 3.2e-5.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1, bias=False)
        self.head = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(1e-3)
            self.head.weight.fill_(1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean(dim=(2, 3)))


class Steep(nn.Module):
    """Output ``100 * sum(x)`` through a float16 linear layer: a gradient of 100 per input,
    which overflows float16 (max 65504) at any loss scale above 655."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 1, bias=False)
        with torch.no_grad():
            self.head.weight.fill_(100.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


def input_gradient(forward, x: torch.Tensor, loss_scale: LossScale) -> torch.Tensor:
    leaf = x.clone().requires_grad_(True)
    total = forward(leaf).sum()

    def backward(scale: float):
        return torch.autograd.grad(total * scale, leaf, retain_graph=scale > 1), None

    return loss_scale.gradients(backward, x.dtype)[0][0]


def test_float16_loss_scaling_rescues_a_gradient_that_underflows(device):
    net, x = Faint().to(device), torch.rand(2, 3, 16, 16, device=device)
    exact = input_gradient(net, x, LossScale(None))  # float32
    assert 1e-9 < float(exact.abs().min()) and float(exact.abs().max()) < 3e-8
    half = autocast_forward(net, F16, x)
    unscaled = input_gradient(half, x, LossScale(F16, initial=1.0))
    assert unscaled.dtype == torch.float32 and not bool(unscaled.any())  # flushed to zero
    scaled = input_gradient(half, x, LossScale(F16))
    assert scaled.dtype == torch.float32
    torch.testing.assert_close(scaled, exact, rtol=1e-2, atol=0)


def test_an_overflowing_scale_backs_off_and_the_gradient_is_recomputed():
    net, x = Steep(), torch.rand(3, 4)
    loss_scale = LossScale(F16)
    assert loss_scale.scale == 2.0**12
    gradient = input_gradient(autocast_forward(net, F16, x), x, loss_scale)
    torch.testing.assert_close(gradient, torch.full_like(x, 100.0))
    assert loss_scale.scale == 2.0**9  # 2^12 overflowed (100 * 4096 > 65504), 2^9 did not


def test_the_scale_grows_back_after_sixteen_finite_gradients_and_never_passes_its_start():
    loss_scale = LossScale(F16, initial=8.0)
    loss_scale.scale = 1.0
    seen = []

    def backward(scale: float):
        seen.append(scale)
        return (torch.ones(1),), None

    for _ in range(precision.GROWTH_INTERVAL * 5):
        loss_scale.gradients(backward, torch.float32)
    assert seen[0] == 1.0 and seen[precision.GROWTH_INTERVAL] == 2.0 and seen[-1] == 8.0
    assert loss_scale.scale == 8.0


def test_none_and_bfloat16_take_gradients_unscaled_in_one_pass():
    for autocast in (None, BF16):
        calls = []

        def backward(scale: float, calls=calls):
            calls.append(scale)
            return (torch.full((2,), float("inf")),), "extra"

        grads, extra = LossScale(autocast).gradients(backward, torch.float32)
        assert calls == [1.0] and extra == "extra" and bool(torch.isinf(grads[0]).all())


def test_path_scores_under_float16_match_float32_only_with_the_loss_scale(device):
    net, images = Faint().to(device), torch.rand(2, 3, 16, 16, device=device)
    baselines = torch.zeros_like(images)
    up_masks = torch.rand(2, 1, 16, 16, device=device)
    index = torch.arange(2, device=device)
    insertion = torch.tensor([False, True], device=device)

    def path_gradients(forward, loss_scale):
        scorer = PathScorer(forward, images, baselines, None, None, 3, 4, loss_scale=loss_scale)
        return scorer.path_scores(up_masks, index, insertion, None, True)

    scores, exact = path_gradients(net, None)
    half = autocast_forward(net, F16, images)
    _, flushed = path_gradients(half, LossScale(F16, initial=1.0))
    half_scores, rescued = path_gradients(half, LossScale(F16))
    assert float(exact.abs().amax()) > 0 and not bool(flushed.any())
    torch.testing.assert_close(rescued, exact, rtol=1e-2, atol=1e-12)
    torch.testing.assert_close(half_scores, scores, rtol=1e-2, atol=0)


def test_the_network_runs_in_bfloat16_and_returns_float32():
    net, x = Faint(), torch.rand(2, 3, 16, 16)
    seen = []
    handle = net.conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    try:
        output = autocast_forward(net, BF16, x)(x)
    finally:
        handle.remove()
    assert seen == [BF16] and output.dtype == torch.float32
    assert autocast_forward(net, None, x) is net


@pytest.mark.parametrize(
    ("autocast", "error", "message"),
    [
        ("bfloat16", TypeError, r"expected autocast to be None, torch.float16 or "
                                r"torch.bfloat16, got str 'bfloat16'; pass torch.bfloat16"),
        (16, TypeError, "expected autocast to be None, torch.float16 or torch.bfloat16, got int"),
        (torch.float32, ValueError, r"got torch.float32; None runs the network in the inputs'"),
        (torch.int8, ValueError, "expected autocast to be None, torch.float16 or torch.bfloat16"),
    ],
)
def test_bad_values_name_the_allowed_ones(autocast, error, message):
    with pytest.raises(error, match=message):
        check_autocast(autocast, torch.zeros(1))


def test_autocast_needs_float32_inputs_and_a_device_with_autocast():
    assert check_autocast(None, torch.zeros(1, dtype=torch.float64)) is None
    with pytest.raises(ValueError, match="expected float32 inputs with autocast=torch.bfloat16"):
        check_autocast(BF16, torch.zeros(1, dtype=torch.float64))
    with pytest.raises(ValueError, match="expected inputs on a device with torch.autocast, "
                                         "got 'meta'"):
        check_autocast(BF16, torch.zeros(1, device="meta"))


def test_a_dtype_the_device_refuses_is_an_error_not_a_silent_float32_run(monkeypatch):
    monkeypatch.setattr(precision, "_autocast_refusal", lambda device, dtype: "not here")
    with pytest.raises(ValueError, match=r"supports on 'cpu', got torch.float16 \(not here\)"):
        check_autocast(F16, torch.zeros(1))


def test_float16_and_bfloat16_are_both_accepted_on_this_cpu():
    # torch >= 2.3's CPU autocast runs both (the float16 kernels are slow without AMX-FP16:
    # benchmarks/results/precision.md); a device that refuses is caught above.
    assert check_autocast(F16, torch.zeros(1)) is F16
    assert check_autocast(BF16, torch.zeros(1)) is BF16


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("autocast", "error"), [("float16", TypeError), (torch.int8, ValueError)])
def test_every_method_refuses_a_bad_autocast_before_running_the_model(method, autocast, error):
    net = TinyNet().float()
    calls: list[int] = []
    net.register_forward_pre_hook(lambda *args: calls.append(1))
    before = snapshot(net)
    x = torch.rand(2, 3, 6, 6)
    kept = x.clone()
    with pytest.raises(error, match="expected autocast to be None, torch.float16 or"):
        run(method, net, x, autocast=autocast)
    assert calls == [] and torch.equal(x, kept)
    assert_unchanged(net, before, calls)


@pytest.mark.filterwarnings("ignore::captum_igos.maps.EmptyMapWarning")  # side effects only:
# maps under autocast are compared with float32's, moved, in each method's own tests
@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_the_network_in_bfloat16_and_leaves_model_and_inputs_alone(method):
    net = TinyNet().float().train()
    calls: list[int] = []
    net.register_forward_pre_hook(lambda *args: calls.append(1))
    before = snapshot(net)
    seen = []
    x = torch.rand(2, 3, 6, 6, requires_grad=True)
    kept = x.detach().clone()
    handle = net.conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    try:
        kwargs = {"attributions": torch.rand(2, 1, 6, 6)} if method == "deletion_insertion" else {}
        result = run(method, net, x, autocast=BF16, **kwargs)
    finally:
        handle.remove()
    assert seen and set(seen) == {BF16}
    out = result.deletion if method == "deletion_insertion" else result
    assert out.dtype == torch.float32
    assert torch.equal(x.detach(), kept) and x.grad is None
    assert_unchanged(net, before, calls)
