"""The method registry: one table for the command line and the benchmarks."""

from __future__ import annotations

import pytest
import torch
from captum.attr import IntegratedGradients, LayerGradCam, Occlusion, Saliency
from torch import nn

from benchmarks import faithfulness
from captum_igos import IGOS
from captum_igos.cli import build_parser
from captum_igos.cli.methods import (
    BLACK_IMAGE,
    METHODS,
    REGISTRY,
    Request,
    all_options,
    compute,
    settings_for,
)


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(16, 5)).eval()


def test_every_registry_option_is_on_every_command():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for sub in commands.values():
        flags = {flag for action in sub._actions for flag in action.option_strings}
        assert {option.flag for option in all_options()} <= flags
    assert len({option.dest for option in all_options()}) == len(all_options())
    assert METHODS == tuple(REGISTRY) and len(METHODS) == 8


def test_settings_record_what_the_options_say():
    values = vars(build_parser().parse_args(["explain", "x.jpg", "--ig-steps", "7",
                                             "--batch-size", "3", "--seed", "2"]))
    assert settings_for("ig", values) == {"n_steps": 7, "baselines": 0, "internal_batch_size": 3}
    assert settings_for("occlusion", values)["perturbations_per_eval"] == 3
    assert settings_for("random", values) == {"size": 28, "seed": 2}
    assert settings_for("rsi-gradcam", values, "bn2")["layer"] == "bn2"
    assert settings_for("igos", values)["seed"] == 2 == settings_for("igos++", values)["seed"]


def test_compute_equals_the_library_called_directly():
    model = tiny_cnn()
    with torch.no_grad():  # outputs sensitive enough that the compared I-GOS maps move
        model[0].weight.mul_(20)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([1, 3])
    black = torch.full((1, 3, 8, 8), -1.0)
    values = {"ig_steps": 4, "ig_baselines": BLACK_IMAGE, "occlusion_window": 4,
              "occlusion_stride": 4, "seed": 5, "iterations": 3, "igos_steps": 2, "mask_size": 4}

    def run(name):
        settings = settings_for(name, values, "0")
        return compute(name, Request(model, x, target, settings, layer=model[0], baselines=black))

    torch.testing.assert_close(run("ig"), IntegratedGradients(model).attribute(
        x, baselines=black, target=target, n_steps=4))
    torch.testing.assert_close(run("saliency"), Saliency(model).attribute(x, target=target))
    torch.testing.assert_close(run("gradcam"),
                               LayerGradCam(model, model[0]).attribute(x, target=target))
    torch.testing.assert_close(run("occlusion"), Occlusion(model).attribute(
        x, target=target, sliding_window_shapes=(3, 4, 4), strides=(3, 4, 4)))
    igos = {"target": target, "mask_size": 4, "iterations": 3, "n_steps": 2}
    moved = IGOS(model).optimize(x, generator=torch.Generator().manual_seed(5), **igos)
    assert moved.status == ("moved", "moved")
    heatmaps = run("igos")
    assert bool((heatmaps.flatten(1).amax(dim=1) > 1e-3).all())
    torch.testing.assert_close(heatmaps, IGOS(model).attribute(
        x, generator=torch.Generator().manual_seed(5), **igos))
    assert run("random").shape == (2, 1, 28, 28)
    torch.testing.assert_close(run("random"), run("random"))  # seeded per call
    with pytest.raises(ValueError, match="expected a method name"):
        compute("gradkam", Request(model, x, target, {}))


def test_the_benchmark_runs_every_registry_method():
    settings = faithfulness.QUICK

    class Loaded:
        model = tiny_cnn()
        default_layer = model[0]
        default_layer_name = "0"

    methods = faithfulness.build_methods(Loaded, settings, torch.zeros(1, 3, 8, 8))
    assert list(methods) == [method.title for method in REGISTRY.values()]
