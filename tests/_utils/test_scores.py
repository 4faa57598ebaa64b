"""Scores: softmax probability, sigmoid (multi-label), raw output, or a callable."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from captum_igos import IGOS, IGOSPlusPlus, LayerRSIGradCam
from captum_igos._utils.scores import check_score, score_bounds, scored_forward
from captum_igos.metrics import deletion_insertion
from tests._core.igos_helpers import TinyNet
from tests._utils.model_helpers import METHODS, assert_unchanged, make_net, run, snapshot, x2

D64 = torch.float64
MASK_SETTINGS = {"mask_size": 4, "iterations": 3, "n_steps": 3, "noise_std": 0.0}


class Sigmoided(nn.Module):
    """sigmoid(model(x)): the multi-label scores as a plain forward function."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.sigmoid(self.model(x))


def test_sigmoid_scores_each_label_independently_by_hand():
    logits = torch.tensor([[0.0, 2.0, -1.0]], dtype=D64)
    scores = scored_forward(lambda x: x, "sigmoid")(logits)
    expected = 1 / (1 + torch.exp(-logits))
    torch.testing.assert_close(scores, expected, rtol=0, atol=1e-15)
    # Independent labels: raising one logit leaves the others' scores alone (softmax
    # would lower them).
    raised = scored_forward(lambda x: x, "sigmoid")(logits + torch.tensor([[0.0, 3.0, 0.0]]))
    assert raised[0, 0] == scores[0, 0] and raised[0, 2] == scores[0, 2]
    softmax = scored_forward(lambda x: x, "probability")
    assert softmax(logits + torch.tensor([[0.0, 3.0, 0.0]]))[0, 0] < softmax(logits)[0, 0]


def test_a_callable_score_is_applied_to_the_outputs():
    log_softmax = scored_forward(lambda x: x, lambda out: torch.log_softmax(out, dim=1))
    logits = torch.tensor([[1.0, 2.0]])
    torch.testing.assert_close(log_softmax(logits), torch.log_softmax(logits, dim=1))
    assert score_bounds(lambda out: out) == (-float("inf"), float("inf"))
    assert score_bounds("sigmoid") == (0.0, 1.0)


@pytest.mark.parametrize("bad", ["softmax", 3, None])
def test_unknown_scores_are_refused_with_the_choices(bad):
    with pytest.raises((ValueError, TypeError), match="probability.*sigmoid.*raw"):
        check_score(bad)


def test_probability_of_a_single_output_column_is_refused_not_constant():
    single = scored_forward(lambda x: x, "probability")
    with pytest.raises(ValueError, match=r"score='raw'.*got shape \(2, 1\)|got shape \(2, 1\)"):
        single(torch.zeros(2, 1))


def _methods(model, layer):
    return [
        (IGOS(model), MASK_SETTINGS),
        (IGOSPlusPlus(model), MASK_SETTINGS),
        (LayerRSIGradCam(model, layer), {"n_steps": 4}),
    ]


def test_sigmoid_score_equals_the_raw_score_of_the_sigmoided_model_for_every_method():
    torch.manual_seed(0)
    model = TinyNet().double().eval()
    with torch.no_grad():  # outputs sensitive enough that every map moves
        model.conv.weight.mul_(5)
        model.head.weight.mul_(10)
    x = torch.rand(2, 3, 8, 8, dtype=D64)
    target = torch.tensor([0, 2])
    settings = {"l1_coeff": 0.01, "tv_coeff": 0.1}
    wrapped = Sigmoided(model)
    pairs = zip(_methods(model, model.conv), _methods(wrapped, model.conv))
    for (ours, kwargs), (reference, _) in pairs:
        if not isinstance(ours, LayerRSIGradCam):
            kwargs = {**kwargs, **settings}
        by_name = ours.attribute(x, target=target, score="sigmoid", **kwargs)
        assert (by_name.flatten(1).abs().amax(dim=1) > 1e-3).all(), type(ours).__name__
        by_model = reference.attribute(x, target=target, score="raw", **kwargs)
        by_callable = ours.attribute(x, target=target, score=torch.sigmoid, **kwargs)
        torch.testing.assert_close(by_name, by_model, rtol=0, atol=1e-12)
        torch.testing.assert_close(by_name, by_callable, rtol=0, atol=1e-12)
    curves = deletion_insertion(model, x, by_name, target=target, n_steps=4, score="sigmoid")
    by_hand = deletion_insertion(wrapped, x, by_name, target=target, n_steps=4, score="raw")
    torch.testing.assert_close(curves.deletion, by_hand.deletion)
    torch.testing.assert_close(curves.insertion, by_hand.insertion)


#: Score callables that break the contract, with the end of the one message they get.
BAD_SCORES = [
    (lambda out: [out], TypeError, r"got list of 1 \(tensor of shape"),
    (lambda out: 1.0, TypeError, r"got float 1\.0$"),
    (lambda out: out.detach().numpy(), TypeError, r"got numpy\.ndarray of shape"),
    (lambda out: out.argmax(dim=1), TypeError, r"got dtype torch\.int64$"),
    (lambda out: out[:, :1], ValueError, r"got shape \(\d+, 1\)$"),
    (lambda out: out.detach().softmax(dim=1), ValueError, r"got a tensor cut from the graph"),
]
CONTRACT = (r"^expected score to return a floating tensor of the outputs' shape \(N, K\), here "
            r"\(\d+, 3\), or \(N,\) with one score per row, computed from the outputs with "
            r"torch operations \(on the autograd graph\), ")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("score", "error", "match"), BAD_SCORES,
                         ids=["list", "float", "numpy", "integer", "N_by_1", "detached"])
def test_a_score_callable_that_breaks_the_contract_gets_one_message(method, score, error,
                                                                      match):
    net = make_net().train()
    x = x2()
    kept = x.clone()
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)  # the hook assert_unchanged expects
    if method == "deletion_insertion" and match.startswith("got a tensor cut"):
        # the metric needs no gradient: a detached score is a valid score there
        run(method, net, x, target=1, score=score)
    else:
        with pytest.raises(error, match=CONTRACT + match):
            run(method, net, x, target=1, score=score)
    assert torch.equal(x, kept)
    assert_unchanged(net, before, [])


class Output(dict):
    """A dict of outputs, as Hugging Face's ModelOutput (an OrderedDict subclass) is."""


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("target", [1, None])
@pytest.mark.parametrize(
    ("wrap", "described"),
    [(lambda out: (out, out.sum()), r"tuple of 2 \(tensor of shape \(\d+, 3\) and dtype "
      r"torch.float64; tensor of shape \(\) and dtype torch.float64\)"),
     (lambda out: Output(logits=out), r"Output with keys \['logits'\]")],
    ids=["tuple", "ModelOutput"])
def test_a_forward_function_that_returns_no_tensor_is_told_what_to_write(method, target, wrap,
                                                                           described):
    net = make_net().train()
    x = x2()
    kept = x.clone()
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)
    with pytest.raises(TypeError, match=(
            r"^expected forward_func to return a tensor of outputs \(N, K\), got " + described
            + r"; for a model that returns a tuple, a dict or a Hugging Face ModelOutput, pass "
            r"a function that picks the tensor, e.g. lambda x: model\(x\).logits or "
            r"lambda x: model\(x\)\[0\]$")):
        forward = lambda inputs: wrap(net(inputs))  # noqa: E731
        if method == "LayerRSIGradCam":
            LayerRSIGradCam(forward, net.conv).attribute(x, target=target, n_steps=2)
        else:
            run(method, forward, x, target=target)
    assert torch.equal(x, kept)
    assert_unchanged(net, before, [])


def test_one_score_per_row_stands_for_every_target():
    torch.manual_seed(0)
    model = TinyNet().double().eval()
    with torch.no_grad():
        model.conv.weight.mul_(5)
        model.head.weight.mul_(10)
    x = torch.rand(2, 3, 8, 8, dtype=D64)
    difference = lambda out: out[:, 2] - out[:, 0]  # noqa: E731
    scores = scored_forward(model, difference)(x)
    logits = model(x)
    assert scores.shape == (2, 3)
    assert torch.equal(scores, (logits[:, 2] - logits[:, 0]).unsqueeze(1).expand(2, 3))
    reference = lambda inputs: (model(inputs) @ torch.tensor([-1.0, 0, 1], dtype=D64))[:, None]  # noqa: E731
    settings = {"l1_coeff": 0.01, "tv_coeff": 0.1}
    for (ours, kwargs), (by_hand, _) in zip(_methods(model, model.conv),
                                            _methods(reference, model.conv)):
        if not isinstance(ours, LayerRSIGradCam):
            kwargs = {**kwargs, **settings}
        maps = ours.attribute(x, target=1, score=difference, **kwargs)
        assert (maps.flatten(1).abs().amax(dim=1) > 1e-3).all(), type(ours).__name__
        torch.testing.assert_close(maps, by_hand.attribute(x, target=0, score="raw", **kwargs),
                                   rtol=0, atol=1e-12)
