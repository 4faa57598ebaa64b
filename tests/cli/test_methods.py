"""The method registry: one table for every command, the Python API and the benchmarks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from captum.attr import IntegratedGradients, LayerGradCam, Occlusion, Saliency
from torch import nn

from benchmarks import faithfulness
from captum_igos import IGOS
from captum_igos.runs import RunConfig
from captum_igos.runs.methods import (
    BLACK_IMAGE,
    METHODS,
    REGISTRY,
    Request,
    compute,
    settings_for,
)


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(16, 5)).eval()


def test_settings_record_what_the_config_says():
    values = vars(RunConfig(ig_steps=7, internal_batch_size=3, seed=2))
    assert METHODS == tuple(REGISTRY) and len(METHODS) == 8
    assert settings_for("ig", values) == {"n_steps": 7, "baselines": 0, "internal_batch_size": 3}
    assert settings_for("occlusion", values)["perturbations_per_eval"] == 3
    assert settings_for("random", values) == {"size": 28, "seed": 2}
    assert settings_for("rsi-gradcam", values, "bn2")["layer"] == "bn2"
    assert settings_for("igos", values)["seed"] == 2 == settings_for("igos++", values)["seed"]
    assert "autocast" not in settings_for("igos", values)  # float32 results keep their keys
    half = vars(RunConfig(autocast="bfloat16"))
    assert all(settings_for(name, half, "bn2")["autocast"] == "bfloat16"
               for name in METHODS if name != "random")


def test_captum_methods_run_inside_torch_autocast():
    """The package's methods get ``autocast=<dtype>``; Captum's run under torch.autocast."""
    model = tiny_cnn()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    seen = []
    model[0].register_forward_hook(
        lambda module, args, output: seen.append(torch.is_autocast_enabled("cpu")))
    settings = settings_for("saliency", {"autocast": "bfloat16"})
    compute("saliency", Request(model, x, torch.tensor([1, 3]), settings))
    compute("saliency", Request(model, x, torch.tensor([1, 3]), settings_for("saliency", {})))
    assert seen == [True, False]


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


def test_autocast_reaches_the_package_methods_and_the_metric_only_when_asked(monkeypatch):
    """``autocast=<dtype>`` is passed to IGOS and to deletion_insertion for --autocast
    float16/bfloat16 and never for none (the keyword is the library's; stubs stand in)."""
    import captum_igos
    import captum_igos.metrics
    from captum_igos.runs.job import Model, explain_batch
    from captum_igos.runs.sources import SourceImage

    seen: list[tuple[str, object]] = []

    def igos(self, inputs, **kwargs):
        seen.append(("igos", kwargs.get("autocast", "absent")))
        return torch.rand(inputs.shape[0], 1, *inputs.shape[-2:])

    real_metric = captum_igos.metrics.deletion_insertion

    def metric(*args, **kwargs):
        seen.append(("metric", kwargs.pop("autocast", "absent")))
        return real_metric(*args, **kwargs)

    monkeypatch.setattr(captum_igos.IGOS, "attribute", igos)
    monkeypatch.setattr(captum_igos.metrics, "deletion_insertion", metric)
    from tests.runs import tiny_model

    loaded = tiny_model.build()
    model = Model(loaded, loaded.default_layer, "2")
    x = torch.rand(1, 3, 32, 32)
    for chosen in ("none", "bfloat16"):
        config = RunConfig(autocast=chosen, metric_steps=2)
        from captum_igos.runs.engine import result_settings

        explain_batch(model, "igos", result_settings(config, "igos", model),
                      [SourceImage(Path("x.png"), "x.png")], x, [1],
                      torch.softmax(loaded.model(x), dim=1).detach())
    assert seen == [("igos", "absent"), ("metric", "absent"),
                    ("igos", torch.bfloat16), ("metric", torch.bfloat16)]


def test_the_command_line_autocast_names_are_the_library_dtypes():
    """--autocast's choices are the names of the library's reduced precisions (one list)."""
    from captum_igos._utils.precision import AUTOCAST_DTYPES
    from captum_igos.runs.config import AUTOCAST
    from captum_igos.runs.methods import autocast_dtype

    assert AUTOCAST == ("none", *AUTOCAST_DTYPES)
    assert [autocast_dtype(name) for name in AUTOCAST] == [None, *AUTOCAST_DTYPES.values()]
