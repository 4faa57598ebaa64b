import pytest
import torch
from captum.testing.helpers.basic_models import BasicModel_MultiLayer

from captum_igos._utils.scores import scored_forward
from captum_igos._utils.targets import resolve_target, top1_targets
from captum_igos._utils.validation import (
    check_baselines_match,
    check_choice,
    check_image_batch,
    check_nonnegative,
    check_positive_int,
)


def test_scored_forward_probability_is_softmax_and_raw_is_identity():
    model = BasicModel_MultiLayer()
    inputs = torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.5, 0.5]])
    raw = model(inputs)
    torch.testing.assert_close(scored_forward(model, "probability")(inputs), raw.softmax(dim=1))
    assert torch.equal(scored_forward(model, "raw")(inputs), raw)  # the outputs, checked
    expected = "score to be one of 'probability', 'sigmoid', 'raw', got 'logit'"
    with pytest.raises(ValueError, match=expected):
        scored_forward(model, "logit")


def test_top1_targets_and_resolve_target():
    model = BasicModel_MultiLayer()
    inputs = torch.tensor([[1.0, -2.0, 3.0], [-4.0, 1.0, 0.5]])
    expected = model(inputs).argmax(dim=1)
    assert torch.equal(top1_targets(model, (inputs,)), expected)
    assert torch.equal(resolve_target(model, (inputs,), None), expected)
    assert resolve_target(model, (inputs,), 1) == 1


def test_top1_needs_two_dimensional_outputs():
    with pytest.raises(ValueError, match=r"shape \(N, classes\), got \(2,\)"):
        top1_targets(lambda x: x.sum(dim=1), (torch.rand(2, 3),))


def test_validation_messages_say_expected_and_given():
    with pytest.raises(ValueError, match=r"got \(2, 3\)"):
        check_image_batch("inputs", torch.rand(2, 3))
    with pytest.raises(TypeError, match="int >= 1, got float 2.0"):
        check_positive_int("n_steps", 2.0)
    with pytest.raises(ValueError, match="n_steps >= 1, got 0"):
        check_positive_int("n_steps", 0)
    with pytest.raises(ValueError, match="tv_coeff >= 0, got -1"):
        check_nonnegative("tv_coeff", -1)
    with pytest.raises(ValueError, match="tv_coeff to be finite, got nan"):
        check_nonnegative("tv_coeff", float("nan"))
    with pytest.raises(ValueError, match="one of 'a', 'b', got 'c'"):
        check_choice("method", "c", ("a", "b"))


def test_baselines_must_broadcast_to_inputs():
    inputs = (torch.rand(2, 3, 4, 4),)
    check_baselines_match(inputs, (0.0,))
    check_baselines_match(inputs, (torch.rand(1, 3, 4, 4),))
    with pytest.raises(ValueError, match=r"input's shape \(2, 3, 4, 4\), got \(3, 3, 4, 4\)"):
        check_baselines_match(inputs, (torch.rand(3, 3, 4, 4),))
    with pytest.raises(ValueError, match=r"input's shape \(2, 3, 4, 4\), got \(2, 3, 5, 5\)"):
        check_baselines_match(inputs, (torch.rand(2, 3, 5, 5),))
    with pytest.raises(ValueError, match="expected 1 baseline"):
        check_baselines_match(inputs, (0.0, 0.0))
    with pytest.raises(TypeError, match="number or a tensor, got str"):
        check_baselines_match(inputs, ("zero",))
