"""The one validation layer: every bad argument gives our error before the model runs.

Each case checks the exception type and message, and that the model (parameters,
buffers, training flags), its hooks and the caller's tensors are unchanged afterwards.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from captum_igos import IGOS, IGOSPlusPlus, LayerRSIGradCam
from captum_igos.metrics import deletion_insertion

F64 = torch.float64
TINY = dict(iterations=1, n_steps=2, mask_size=2)


class TinyNet(nn.Module):
    """Conv -> BatchNorm -> Dropout -> pooled linear head with 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(4, 3)
        self.unused = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.bn(self.conv(x))))
        return self.head(h.mean(dim=(2, 3)))


def make_net() -> TinyNet:
    return TinyNet().to(F64)


def run(method: str, net: TinyNet, x, **kwargs):
    if method == "IGOS":
        return IGOS(net).attribute(x, **TINY, **kwargs)
    if method == "IGOSPlusPlus":
        return IGOSPlusPlus(net).attribute(x, **TINY, **kwargs)
    if method == "LayerRSIGradCam":
        layer = kwargs.pop("layer", net.conv)
        return LayerRSIGradCam(net, layer).attribute(x, n_steps=2, **kwargs)
    attributions = kwargs.pop("attributions", torch.rand(x.shape[0], 1, 6, 6, dtype=F64)
                              if isinstance(x, torch.Tensor) and x.dim() == 4 else None)
    return deletion_insertion(net, x, attributions, n_steps=2, **kwargs)


METHODS = ["IGOS", "IGOSPlusPlus", "LayerRSIGradCam", "deletion_insertion"]


def snapshot(net: nn.Module):
    return (copy.deepcopy(net.state_dict()), [m.training for m in net.modules()])


def assert_unchanged(net: nn.Module, before, calls: list) -> None:
    state, flags = before
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert [m.training for m in net.modules()] == flags
    for module in net.modules():
        # only the test's own counting hook is left
        assert len(module._forward_hooks) == 0
        assert len(module._forward_pre_hooks) == (1 if module is net else 0)
    assert all(p.grad is None for p in net.parameters())


def x2() -> torch.Tensor:
    return torch.rand(2, 3, 6, 6, dtype=F64, generator=torch.Generator().manual_seed(0))


def nan_image() -> torch.Tensor:
    x = x2()
    x[1, 0, 2, 3] = float("nan")
    return x


CASES = [
    (dict(x=np.zeros((2, 3, 6, 6))), TypeError, "torch.Tensor, got numpy.ndarray.*from_numpy"),
    (dict(x=torch.zeros(2, 3, 6, 6, dtype=torch.long)), TypeError, "floating-point tensor"),
    (dict(x=nan_image()), ValueError, "inputs with finite values, got 1 NaN or inf"),
    (dict(x=torch.rand(3, 6, 6, dtype=F64)), ValueError,
     r"inputs of shape \(N, C, H, W\) with N >= 1, got \(3, 6, 6\)"),
    (dict(x=torch.rand(1, 2, 3, 6, 6, dtype=F64)), ValueError,
     r"inputs of shape \(N, C, H, W\) with N >= 1, got \(1, 2, 3, 6, 6\)"),
    (dict(baselines=np.zeros((2, 3, 6, 6))), TypeError,
     r"baselines\[0\] to be a number or a tensor, got numpy.ndarray"),
    (dict(baselines=[0.0, 1.0]), TypeError, r"baselines\[0\] to be a number or a tensor, got list"),
    (dict(baselines="black"), TypeError, r"baselines\[0\] to be a number or a tensor, got str"),
    (dict(baselines=float("nan")), ValueError, r"baselines\[0\] to be a finite number, got nan"),
    (dict(baselines=torch.full((1, 3, 6, 6), float("inf"), dtype=F64)), ValueError,
     r"baselines\[0\] with finite values, got 108 NaN or inf"),
    (dict(baselines=torch.zeros(3, 3, 6, 6, dtype=F64)), ValueError,
     r"baselines\[0\] broadcastable to the input's shape \(2, 3, 6, 6\), got \(3, 3, 6, 6\)"),
    (dict(target=torch.tensor([0.0, 1.0])), TypeError, "integer target tensor.*torch.float32"),
    (dict(target="cat"), TypeError, "expected target to be None, an int.*got str 'cat'"),
    (dict(target=1.0), TypeError, "expected target to be None, an int.*got float 1.0"),
    (dict(target=torch.tensor([[0], [1]])), ValueError,
     r"target tensor with 1 or 2 elements.*got shape \(2, 1\); use target.flatten\(\)"),
    (dict(target=torch.tensor([0, 1, 2])), ValueError, r"1 or 2 elements.*got shape \(3,\)"),
    (dict(target=[1, 2, 3]), ValueError, "target list with 2 entries.*got 3"),
    (dict(target=-1), ValueError, "expected target >= 0, got -1"),
    (dict(target=3), ValueError,
     r"target indices below 3 \(the model's outputs are \(\d+, 3\)\), got 3"),
    (dict(target=torch.tensor([0, 7])), ValueError, "target indices below 3.*got 7"),
    (dict(target=(0, 1)), ValueError, "target with 1 index/indices.*got \\(0, 1\\)"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("change", "error", "message"), CASES)
def test_bad_inputs_baselines_and_targets_give_our_error(method, change, error, message):
    change = dict(change)
    x = change.pop("x", x2())
    x_before = x.clone() if isinstance(x, torch.Tensor) else x.copy()
    net = make_net()
    net.train()
    before = snapshot(net)
    calls: list = []
    net.register_forward_pre_hook(lambda *_: calls.append(1))
    with pytest.raises(error, match=message):
        run(method, net, x, **change)
    if "target" not in change or not ("below" in message or "index" in message):
        assert calls == []  # refused before the model ran
    assert_unchanged(net, before, calls)
    same = torch.equal if isinstance(x, torch.Tensor) else np.array_equal
    assert same(x, x_before) if not isinstance(x, torch.Tensor) or not x.isnan().any() \
        else torch.equal(x.isnan(), x_before.isnan())


@pytest.mark.parametrize("method", ["IGOS", "IGOSPlusPlus"])
@pytest.mark.parametrize("name", ["l1_coeff", "tv_coeff", "noise_std", "alpha0", "min_alpha"])
def test_infinite_hyperparameters_are_refused(method, name):
    net = make_net()
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)
    with pytest.raises(ValueError, match=f"expected {name} to be finite, got inf"):
        run(method, net, x2(), target=0, **{name: float("inf")})
    assert_unchanged(net, before, [])


def test_rsi_layer_that_never_runs_gets_our_error():
    net = make_net()
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)
    with pytest.raises(ValueError, match="layer to run in the model's forward pass, got Conv2d"):
        LayerRSIGradCam(net, net.unused).attribute(x2(), target=0, n_steps=2)
    assert_unchanged(net, before, [])


@pytest.mark.parametrize("method", METHODS)
def test_training_mode_model_is_left_exactly_as_it_was(method):
    """The call runs every module in eval mode and restores each flag; no buffer moves."""
    net = make_net()
    net.train()
    net.drop.eval()  # mixed flags are restored one by one
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)
    result = run(method, net, x2(), target=[0, 2])
    assert_unchanged(net, before, [])
    # eval mode inside: dropout is off, so the result is deterministic
    again = run(method, net, x2(), target=[0, 2])
    if method == "LayerRSIGradCam":
        torch.testing.assert_close(result, again)
    eval_net = make_net().eval()
    expected = run(method, eval_net, x2(), target=[0, 2])
    if method in ("LayerRSIGradCam",):
        torch.testing.assert_close(result, expected)
    elif method == "deletion_insertion":
        torch.testing.assert_close(result.deletion, expected.deletion)


@pytest.mark.parametrize("method", ["IGOS", "IGOSPlusPlus", "LayerRSIGradCam"])
def test_inference_mode_gives_a_clear_error(method):
    net = make_net()
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)
    x = x2()
    with torch.inference_mode():
        with pytest.raises(RuntimeError, match=r"inside torch.inference_mode\(\).*call it out"):
            run(method, net, x, target=0)
    assert_unchanged(net, before, [])


def test_deletion_insertion_works_inside_inference_mode():
    net = make_net().eval()
    x = x2()
    attributions = torch.rand(2, 1, 6, 6, dtype=F64)
    expected = deletion_insertion(net, x, attributions, target=[0, 1], n_steps=2)
    with torch.inference_mode():
        inside = deletion_insertion(net, x, attributions, target=[0, 1], n_steps=2)
    torch.testing.assert_close(inside.deletion, expected.deletion)
    torch.testing.assert_close(inside.insertion_auc, expected.insertion_auc)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TARGETS = st.one_of(
    st.none(), st.integers(-2, 4), st.floats(allow_nan=True), st.text(max_size=2),
    st.lists(st.integers(0, 3), max_size=3), st.just(torch.tensor([[0], [1]])),
)
_BASELINES = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.just("zero"),
    st.just(np.zeros((2, 3, 6, 6))), st.just(torch.zeros(1, 3, 6, 6, dtype=F64)),
    st.just(torch.zeros(3, 3, 6, 6, dtype=F64)),
)


@settings(max_examples=25, deadline=None)
@given(
    method=st.sampled_from(METHODS),
    shape=st.sampled_from([(2, 3, 6, 6), (3, 6, 6), (2, 3, 6, 6, 1), (0, 3, 6, 6)]),
    dtype=st.sampled_from([torch.float32, F64, torch.int64]),
    target=_TARGETS,
    baselines=_BASELINES,
)
def test_sweep_every_input_gives_a_finite_result_or_our_error(
    method, shape, dtype, target, baselines
):
    net = make_net().to(dtype if dtype.is_floating_point else F64)
    x = torch.rand(shape).to(dtype)
    try:
        result = run(method, net, x, target=target, baselines=baselines)
    except (TypeError, ValueError) as error:
        assert str(error).startswith("expected") or "expected" in str(error)
        return
    values = result.deletion if method == "deletion_insertion" else result
    assert values.shape[0] == shape[0] and bool(torch.isfinite(values).all())
