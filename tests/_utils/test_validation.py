"""The one validation layer: every bad argument gives our error before the model runs.

Each case checks the exception type and message, and that the model (parameters,
buffers, training flags), its hooks and the caller's tensors are unchanged afterwards.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from captum_igos import LayerRSIGradCam
from tests._utils.model_helpers import (
    F64,
    METHODS,
    assert_unchanged,
    make_net,
    run,
    run_telling_empty,
    snapshot,
    x2,
)


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
     r"target indices below 3 \(the model gives 3 outputs per example\), got 3$"),
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
@pytest.mark.parametrize("name", ["l1_coeff", "tv_coeff", "noise_std"])
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_infinite_hyperparameters_are_refused(method, name, value):
    net = make_net()
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)
    with pytest.raises(ValueError, match=f"^expected {name} to be finite, got {value}$"):
        run(method, net, x2(), target=0, **{name: float(value)})
    assert_unchanged(net, before, [])


def test_rsi_layer_that_never_runs_gets_our_error():
    net = make_net()
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)
    with pytest.raises(ValueError, match="layer to run in the model's forward pass, got Conv2d"):
        LayerRSIGradCam(net, net.unused).attribute(x2(), target=0, n_steps=2)
    assert_unchanged(net, before, [])


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
        result = run_telling_empty(method, net, x, target=target, baselines=baselines)
    except (TypeError, ValueError) as error:
        assert str(error).startswith("expected") or "expected" in str(error)
        return
    values = result.deletion if method == "deletion_insertion" else result
    assert values.shape[0] == shape[0] and bool(torch.isfinite(values).all())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("baselines", [5.014039577600614e37, -3e38, 3.402823466385289e38,
                                       torch.full((1, 3, 6, 6), 1e39, dtype=F64)])
def test_a_baseline_that_overflows_float32_gives_our_error_not_nan(method, baselines):
    """Found by the sweep above: such baselines gave NaN maps / AUCs or a torch RuntimeError."""
    net = make_net().float()
    x = torch.rand(2, 3, 6, 6)
    try:
        result = run_telling_empty(method, net, x, target=None, baselines=baselines)
    except ValueError as error:
        assert "expected" in str(error)
        return
    values = result.deletion if method == "deletion_insertion" else result
    assert bool(torch.isfinite(values).all())
