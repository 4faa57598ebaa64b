"""Captum's private helpers behave as the package uses them (run on every supported Captum)."""

from __future__ import annotations

import captum
import pytest
import torch
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from torch import nn

from captum_igos._utils import captum_compat as compat


def test_installed_captum_is_in_the_declared_range():
    assert Version(captum.__version__) in SpecifierSet(compat.SUPPORTED_CAPTUM)


def test_pyproject_declares_the_same_range():
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("no pyproject.toml beside the tests (installed package)")
    text = pyproject.read_text()
    assert f'"captum{compat.SUPPORTED_CAPTUM}"' in text


def test_run_forward_selects_the_target_per_example():
    model = nn.Linear(2, 3, bias=False)
    model.weight.data = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert compat.run_forward(model, (x,), [2, 0]).tolist() == [3.0, 3.0]
    assert compat.run_forward(model, x, torch.tensor([1, 1])).tolist() == [2.0, 4.0]
    assert compat.run_forward(model, (x,), 2).tolist() == [3.0, 7.0]

    def shifted(inputs, shift):
        return model(inputs) + shift

    out = compat.run_forward(shifted, (x,), 0, (torch.tensor([[10.0], [20.0]]),))
    assert out.tolist() == [11.0, 23.0]


def test_expansion_and_formatting():
    assert compat.expand_target([1, 2], 2) == [1, 2, 1, 2]
    assert compat.expand_target(torch.tensor([1, 2]), 2).tolist() == [1, 2, 1, 2]
    assert compat.expand_target(3, 5) == 3
    args = compat.expand_additional_forward_args((torch.tensor([[1.0], [2.0]]), "k"), 2)
    assert args[0].view(-1).tolist() == [1.0, 2.0, 1.0, 2.0] and args[1] == "k"
    assert compat.format_additional_forward_args(None) is None
    assert compat.format_additional_forward_args(5) == (5,)
    x = torch.ones(2, 3)
    assert compat.format_tensor_into_tuples(x)[0] is x
    assert compat.is_tuple((x,)) and not compat.is_tuple(x)
    assert compat.format_output(False, (x,)) is x
    baselines = compat.format_baseline(0.5, (x,))
    assert baselines == (0.5,)
    assert compat.format_baseline(None, (x,))[0] == 0.0


def test_approximation_and_layer_gradients():
    _, alphas = compat.approximation_parameters("riemann_trapezoid")
    assert alphas(3) == pytest.approx([0.0, 0.5, 1.0])
    assert compat.approximation_parameters("riemann_left")[1](2) == pytest.approx([0.0, 0.5])
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    model[0].weight.data = torch.eye(2) * 2
    model[1].weight.data = torch.tensor([[3.0, -1.0]])
    x = torch.tensor([[1.0, 1.0]])
    grads, evals = compat.compute_layer_gradients_and_eval(model, model[0], (x,), 0)
    assert grads[0].tolist() == [[3.0, -1.0]] and evals[0].tolist() == [[2.0, 2.0]]
    assert list(compat.progress(range(3), desc="x", total=3, disable=True)) == [0, 1, 2]
