"""LayerRSIGradCam against a plain per-step loop, closed forms and Captum's LayerGradCam."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from captum.attr import LayerGradCam
from torch import nn

from captum_igos import LayerRSIGradCam
from captum_igos._utils.path_integration import stieltjes_rule
from tests.conftest import TOLERANCES

METHODS = ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"]
F64 = torch.float64


class SmoothNet(nn.Module):
    """Tiny nonlinear conv net; optional second input and per-example output scale."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.act1 = nn.Tanh()
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.act2 = nn.Softplus()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(24, 5)

    def forward(self, x, x2=None, scale=None):
        if x2 is not None:
            x = x + 0.5 * x2
        h = self.act2(self.conv2(self.act1(self.conv1(x))))
        out = self.fc(self.pool(h).flatten(1))
        return out if scale is None else out * scale[:, None]


class LinearAfterLayer(nn.Module):
    """conv -> relu (the layer) -> flatten -> linear: the output is linear in the layer."""

    def __init__(self, pooled: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1) if pooled else nn.Identity()
        self.fc = nn.Linear(4 if pooled else 4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


def make_net(cls=SmoothNet, dtype=F64, **kwargs) -> nn.Module:
    """Seeded weights, scaled so that maps are of order 0.1 (tolerances are absolute)."""
    torch.manual_seed(1)
    net = cls(**kwargs)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.weight.mul_(3.0)
    return net.to(dtype)


def reference_loop(
    model,
    layer,
    inputs,
    baselines,
    target,
    n,
    method,
    *,
    extra=(),
    score="probability",
    gradient_relu=False,
    channel_reduction="sum",
    map_activations="input",
    to_layer_input=False,
):
    """DESIGN.md section 2 one path point at a time: forward, autograd.grad, plain sums.

    Returns the per-channel terms w_k A_k, the reduced map and the completeness delta.
    """
    num = inputs[0].shape[0]

    def scores(point):
        out = model(*point, *extra)
        out = torch.softmax(out, dim=1) if score == "probability" else out
        return out[torch.arange(num), target]

    def layer_and_grad(alpha):
        point = tuple(b + alpha * (x - b) for x, b in zip(inputs, baselines))
        saved = []
        if to_layer_input:
            hook = layer.register_forward_pre_hook(lambda m, i: saved.append(i[0]))
        else:
            hook = layer.register_forward_hook(lambda m, i, o: saved.append(o))
        try:
            y = scores(point).sum()
        finally:
            hook.remove()
        (grad,) = torch.autograd.grad(y, saved[0])
        return saved[0].detach(), (grad.relu() if gradient_relu else grad)

    ends = [layer_and_grad(m / n) for m in range(n + 1)]
    acts = [a for a, _ in ends]
    grads = [g for _, g in ends]
    mids = [layer_and_grad((m + 0.5) / n) for m in range(n)] if method == "riemann_middle" else []
    total = 0
    for m in range(n):
        sample = {
            "riemann_left": grads[m],
            "riemann_right": grads[m + 1],
            "riemann_trapezoid": (grads[m] + grads[m + 1]) / 2,
            "riemann_middle": mids[m][1] if mids else None,
        }[method]
        total = total + sample * (acts[m + 1] - acts[m])
    weighted = acts[n]
    if map_activations == "last_sample":
        weighted = {"riemann_left": acts[n - 1], "riemann_middle": mids[-1][0] if mids else None}
        weighted = weighted.get(method, acts[n])
    terms = total.mean(dim=(2, 3), keepdim=True) * weighted
    reduce = torch.sum if channel_reduction == "sum" else torch.mean
    reduced = reduce(terms, dim=1, keepdim=True)
    with torch.no_grad():
        gap = scores(inputs) - scores(baselines)
    delta = total.sum(dim=(1, 2, 3)) - gap
    return terms, reduced, delta


def assert_matches(ours, expected, scale=None):
    """Max abs error <= 1e-6 and <= 1e-6 of ``scale`` (default: the largest expected value;
    maps are small numbers, so the absolute bound alone would say little)."""
    assert ours.shape == expected.shape
    scale = expected.abs().max().item() if scale is None else scale
    error = (ours - expected).abs().max().item()
    assert scale > 0 and error <= 1e-6 and error <= 1e-6 * scale, (error, scale)


def assert_no_side_effects(model, reference_state, grad_mode=True):
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not module._backward_hooks
    for name, value in model.state_dict().items():
        assert torch.equal(value, reference_state[name]), name
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert torch.is_grad_enabled() is grad_mode


@pytest.fixture
def data():
    torch.manual_seed(2)
    x = torch.rand(2, 3, 6, 6, dtype=F64)
    base = torch.rand(2, 3, 6, 6, dtype=F64) * 0.3
    return x, base, torch.tensor([1, 3])


@pytest.mark.parametrize("method", METHODS)
def test_equals_per_step_loop(method, data):
    x, base, target = data
    net = make_net()
    state = copy.deepcopy(net.state_dict())
    terms, reduced, delta = reference_loop(net, net.act1, (x,), (base,), target, 7, method)
    rsi = LayerRSIGradCam(net, net.act1)
    kwargs = dict(target=target, baselines=base, n_steps=7, method=method)
    ours_terms = rsi.attribute(x, attr_dim_summation=False, **kwargs)
    ours, ours_delta = rsi.attribute(x, return_convergence_delta=True, **kwargs)
    assert ours_terms.shape == (2, 4, 6, 6) and ours.shape == (2, 1, 6, 6)
    assert_matches(ours_terms, terms)
    assert_matches(ours, reduced)
    assert_matches(ours_delta, delta, scale=0.01)  # |y(x) - y(x')| is about 0.1 here
    assert_no_side_effects(net, state)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "options",
    [
        dict(gradient_relu=True),
        dict(channel_reduction="mean"),
        dict(map_activations="last_sample"),
        dict(gradient_relu=True, channel_reduction="mean", map_activations="last_sample"),
    ],
    ids=["gradient_relu", "channel_mean", "last_sample", "authors_port"],
)
def test_authors_port_options_equal_per_step_loop(method, options, data):
    x, base, target = data
    net = make_net()
    _, reduced, _ = reference_loop(net, net.act1, (x,), (base,), target, 5, method, **options)
    ours = LayerRSIGradCam(net, net.act1).attribute(
        x, target=target, baselines=base, n_steps=5, method=method, **options
    )
    assert_matches(ours, reduced)


def test_options_change_the_result(data):
    """Each port option must actually do something on this net (else the loop test is moot)."""
    x, base, target = data
    net = make_net()
    rsi = LayerRSIGradCam(net, net.act1)
    kwargs = dict(target=target, baselines=base, n_steps=5, method="riemann_left")
    plain = rsi.attribute(x, **kwargs)
    for option in (
        dict(gradient_relu=True),
        dict(channel_reduction="mean"),
        dict(map_activations="last_sample"),
    ):
        assert (rsi.attribute(x, **option, **kwargs) - plain).abs().max() > 1e-6, option


@pytest.mark.parametrize("method", ["riemann_trapezoid", "riemann_middle"])
def test_internal_batch_size_does_not_change_the_result(method, data):
    x, base, target = data
    n = 9
    net = make_net()
    rsi = LayerRSIGradCam(net, net.act1)
    rows = []
    net.register_forward_pre_hook(lambda m, args: rows.append(args[0].shape[0]))
    kwargs = dict(target=target, baselines=base, n_steps=n, method=method)
    expected = rsi.attribute(x, internal_batch_size=2 * 100, **kwargs)  # one chunk
    num_points = len(stieltjes_rule(method, n).alphas)
    assert rows == [2 * num_points]
    minimum = 2 * stieltjes_rule(method, n).stride + 2  # one interval for each of 2 examples
    for size in (None, 1, 3, n + 1, 2 * num_points):
        rows.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ours = rsi.attribute(x, internal_batch_size=size, **kwargs)
        assert_matches(ours, expected)
        assert max(rows) <= max(size or 16, minimum), (size, rows)
        assert len(caught) == (size is not None and size < minimum), (size, caught)
        assert sum(rows) == 2 * num_points  # shared points are carried, not recomputed
    net._forward_pre_hooks.clear()


def test_examples_together_equal_one_at_a_time(data):
    x, base, target = data
    net = make_net()
    rsi = LayerRSIGradCam(net, net.act1)
    together, delta = rsi.attribute(
        x, target=target, baselines=base, n_steps=6, return_convergence_delta=True
    )
    for i in range(2):
        alone, alone_delta = rsi.attribute(
            x[i : i + 1], target=int(target[i]), baselines=base[i : i + 1], n_steps=6,
            return_convergence_delta=True,
        )
        assert_matches(alone, together[i : i + 1])
        assert_matches(alone_delta, delta[i : i + 1], scale=0.01)


@pytest.mark.parametrize("method", METHODS)
def test_completeness_delta_shrinks_with_n_steps(method, data):
    x, _, target = data
    net = make_net()
    rsi = LayerRSIGradCam(net, net.conv1)
    gaps = [
        rsi.attribute(x, target=target, n_steps=n, method=method, return_convergence_delta=True)[1]
        .abs()
        .max()
        .item()
        for n in (2, 8, 32)
    ]
    assert gaps[0] > gaps[1] > gaps[2], gaps
    order = 2 if method in ("riemann_trapezoid", "riemann_middle") else 1
    assert gaps[2] < gaps[1] / 4 ** (order - 0.5), gaps  # about 4x (first order) or 16x per step


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_steps", [1, 4])
def test_closed_form_when_linear_after_the_layer(method, n_steps):
    torch.manual_seed(3)
    net = make_net(LinearAfterLayer)
    x, base = torch.randn(2, 3, 6, 6, dtype=F64), torch.randn(2, 3, 6, 6, dtype=F64)
    target = torch.tensor([2, 0])
    ours, delta = LayerRSIGradCam(net, net.relu).attribute(
        x, target=target, baselines=base, n_steps=n_steps, method=method, score="raw",
        attr_dim_summation=False, return_convergence_delta=True,
    )
    acts, base_acts = net.relu(net.conv(x)), net.relu(net.conv(base))
    grad = net.fc.weight[target].reshape(2, 4, 4, 4)  # dy/dA, the same on the whole path
    weights = (grad * (acts - base_acts)).mean(dim=(2, 3), keepdim=True)
    assert (ours - weights * acts).abs().max() <= 1e-10
    assert delta.abs().max() <= 1e-10  # exact completeness for a linear score


@pytest.mark.parametrize("method", METHODS)
def test_agrees_with_layer_gradcam_for_pooled_linear_head(method, data):
    """After global average pooling and a linear layer, G_k is constant in space and on the
    path, so w_k = GradCAM's weight times mean_ij (A_k(x) - A_k(x'))."""
    x, base, _ = data
    target = torch.tensor([1, 2])
    net = make_net(LinearAfterLayer, pooled=True)
    ours = LayerRSIGradCam(net, net.relu).attribute(
        x, target=target, baselines=base, n_steps=3, method=method, score="raw",
        attr_dim_summation=False,
    )
    gradcam = LayerGradCam(net, net.relu).attribute(x, target=target, attr_dim_summation=False)
    increments = (net.relu(net.conv(x)) - net.relu(net.conv(base))).mean(dim=(2, 3), keepdim=True)
    assert (ours - gradcam * increments).abs().max() <= 1e-10


def test_target_forms_and_top1(data):
    x, base, _ = data
    net = make_net()
    rsi = LayerRSIGradCam(net, net.act1)
    kwargs = dict(baselines=base, n_steps=4)
    per_example = rsi.attribute(x, target=torch.tensor([2, 2]), **kwargs)
    for target in (2, (2,), [2, 2], torch.tensor(2)):
        assert (rsi.attribute(x, target=target, **kwargs) - per_example).abs().max() <= 1e-12
    top1 = net(x).argmax(dim=1)
    expected = rsi.attribute(x, target=top1, **kwargs)
    assert (rsi.attribute(x, **kwargs) - expected).abs().max() <= 1e-12


def test_tuple_inputs_and_additional_forward_args(data):
    x, base, target = data
    x2 = torch.rand_like(x)
    scale = torch.tensor([0.5, 2.0], dtype=F64)
    net = make_net()
    _, reduced, delta = reference_loop(
        net, net.act1, (x, x2), (base, 0 * x2), target, 6, "riemann_trapezoid",
        extra=(scale,), score="raw",
    )
    ours, ours_delta = LayerRSIGradCam(net, net.act1).attribute(
        (x, x2), target=target, baselines=(base, 0.0), additional_forward_args=scale,
        n_steps=6, score="raw", return_convergence_delta=True, internal_batch_size=6,
    )
    assert isinstance(ours, torch.Tensor)  # one layer tensor -> one map, as LayerGradCam
    assert_matches(ours, reduced)
    assert_matches(ours_delta, delta, scale=0.01)  # |y(x) - y(x')| is about 0.1 here


def test_attribute_to_layer_input_equals_loop(data):
    x, base, target = data
    net = make_net()
    _, reduced, _ = reference_loop(
        net, net.conv2, (x,), (base,), target, 5, "riemann_right", to_layer_input=True
    )
    ours = LayerRSIGradCam(net, net.conv2).attribute(
        x, target=target, baselines=base, n_steps=5, method="riemann_right",
        attribute_to_layer_input=True,
    )
    assert_matches(ours, reduced)


def test_relu_attributions_and_graph_recorded_only_from_the_layer(data):
    x, base, target = data
    net = make_net()
    kwargs = dict(target=target, baselines=base, n_steps=5)
    recorded = {}
    for name in ("conv1", "conv2"):  # before and after the layer act1
        getattr(net, name).register_forward_hook(
            lambda m, i, out, name=name: recorded.setdefault(name, set()).add(out.requires_grad)
        )
    plain = LayerRSIGradCam(net, net.act1).attribute(x, **kwargs)
    assert recorded == {"conv1": {False}, "conv2": {True}}  # top-1 forward not run: target given
    recorded.clear()
    # device_ids switches to Captum's path, which records the whole graph: same numbers
    captum_path = LayerRSIGradCam(net, net.act1, device_ids=[0]).attribute(x, **kwargs)
    assert recorded == {"conv1": {True}, "conv2": {True}}
    assert (plain - captum_path).abs().max() <= 1e-12
    for name in ("conv1", "conv2"):
        getattr(net, name)._forward_hooks.clear()
    relu = LayerRSIGradCam(net, net.act1).attribute(x, relu_attributions=True, **kwargs)
    assert torch.equal(relu, plain.clamp(min=0)) and (plain < 0).any()


def test_no_side_effects_inside_no_grad_and_inputs_untouched(data):
    x, base, target = data
    net = make_net()
    state = copy.deepcopy(net.state_dict())
    x_before = x.clone()
    with torch.no_grad():
        ours = LayerRSIGradCam(net, net.act1).attribute(x, target=target, n_steps=3)
        assert_no_side_effects(net, state, grad_mode=False)
    assert torch.equal(x, x_before) and not x.requires_grad
    assert ours.abs().max() > 0


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (dict(inputs=torch.ones(2, 3, 6, 6, dtype=torch.long)), TypeError,
         "inputs to be a floating-point tensor.*got dtype torch.int64"),
        (dict(baselines=torch.zeros(3, 3, 6, 6, dtype=F64)), ValueError,
         r"broadcastable to the input's shape \(2, 3, 6, 6\), got \(3, 3, 6, 6\)"),
        (dict(baselines="black"), TypeError, "baselines\\[0\\] to be a number or a tensor"),
        (dict(n_steps=0), ValueError, "expected n_steps >= 1, got 0"),
        (dict(method="gausslegendre"), ValueError,
         "method to be one of 'riemann_left'.*got 'gausslegendre'"),
        (dict(layer="outside"), ValueError,
         "layer to be a submodule of the model SmoothNet, got Conv2d"),
        (dict(score="logit"), ValueError, "score to be one of 'probability', 'sigmoid', 'raw'"),
        (dict(channel_reduction="max"), ValueError, "channel_reduction to be one of"),
        (dict(internal_batch_size=0), ValueError, "internal_batch_size >= 1, got 0"),
    ],
    ids=["integer", "baseline_shape", "baseline_type", "n_steps", "method", "layer", "score",
         "reduction", "batch"],
)
def test_bad_arguments_raise_before_touching_the_model(change, error, message, data):
    x, base, target = data
    net = make_net()
    state = copy.deepcopy(net.state_dict())
    calls = []
    net.register_forward_pre_hook(lambda m, a: calls.append(1))
    change = dict(change)  # the parameter dict is shared between runs
    layer = nn.Conv2d(3, 3, 1) if change.pop("layer", None) else net.act1
    kwargs = dict(inputs=x, target=target, baselines=base, n_steps=3) | change
    with pytest.raises(error, match=message):
        LayerRSIGradCam(net, layer).attribute(**kwargs)
    assert calls == []
    net._forward_pre_hooks.clear()
    assert_no_side_effects(net, state)
    assert not layer._forward_hooks and not layer._forward_pre_hooks


def test_hooks_removed_when_the_model_raises(data):
    x, _, target = data
    net = make_net()
    state = copy.deepcopy(net.state_dict())

    def failing(inputs):
        out = net(inputs)
        if inputs.shape[0] > 2:  # the path batch, not the top-1 forward
            raise RuntimeError("boom")
        return out

    with pytest.raises(RuntimeError, match="boom"):
        LayerRSIGradCam(failing, net.act1).attribute(x, n_steps=3)
    assert_no_side_effects(net, state)


def test_float32_and_float64(dtype, data):
    x, base, target = data
    net64 = make_net()
    expected = LayerRSIGradCam(net64, net64.act1).attribute(
        x, target=target, baselines=base, n_steps=8
    )
    net = make_net(dtype=dtype)
    ours = LayerRSIGradCam(net, net.act1).attribute(
        x.to(dtype), target=target, baselines=base.to(dtype), n_steps=8
    )
    assert ours.dtype == dtype
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(ours, expected.to(dtype), rtol=rtol, atol=atol)


def test_device(device, data):
    x, base, target = data
    net = make_net()
    expected = LayerRSIGradCam(net, net.act1).attribute(x, target=target, baselines=base)
    net_on = make_net().to(device)
    ours = LayerRSIGradCam(net_on, net_on.act1).attribute(
        x.to(device), target=target.to(device), baselines=base.to(device)
    )
    assert ours.device.type == device.type and ours.dtype == F64
    torch.testing.assert_close(ours.cpu(), expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("autocast", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_reduced_precision_layer_sums_are_float32_and_close_to_full_precision(autocast, data):
    x, base, target = (t.float() if t.is_floating_point() else t for t in data)
    net = make_net(dtype=torch.float32)
    seen = []
    handle = net.act1.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    rsi = LayerRSIGradCam(net, net.act1)
    try:
        full, full_delta = rsi.attribute(x, base, target, n_steps=8, score="raw",
                                         return_convergence_delta=True)
        reduced, delta = rsi.attribute(x, base, target, n_steps=8, score="raw",
                                       autocast=autocast, return_convergence_delta=True)
    finally:
        handle.remove()
    assert autocast in seen and reduced.dtype == delta.dtype == torch.float32
    largest = float(full.abs().amax())
    assert largest > 0.005
    torch.testing.assert_close(reduced, full, rtol=0, atol=0.02 * largest)
    torch.testing.assert_close(delta, full_delta, rtol=0, atol=0.01)
