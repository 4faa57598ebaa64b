"""A tiny model with BatchNorm and Dropout, one runner for every method and the metric,
and the side-effect checks shared by the validation and model-state tests."""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn
from torch.nn.modules import module as torch_module

from captum_igos import IGOS, EmptyMapWarning, IGOSPlusPlus, LayerRSIGradCam
from captum_igos._core.mask_optimization import EMPTY_MAP_TOLERANCE
from captum_igos.metrics import deletion_insertion

F64 = torch.float64
#: One cheap step; no L1 / TV pull, so the tiny random model's masks move (a side-effect
#: test on an empty map would not exercise the optimiser's writes at all).
TINY = dict(iterations=1, n_steps=2, mask_size=2, l1_coeff=0.0, tv_coeff=0.0)


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
        return IGOS(net).attribute(x, **{**TINY, **kwargs})
    if method == "IGOSPlusPlus":
        return IGOSPlusPlus(net).attribute(x, **{**TINY, **kwargs})
    if method == "LayerRSIGradCam":
        layer = kwargs.pop("layer", net.conv)
        return LayerRSIGradCam(net, layer).attribute(x, n_steps=2, **kwargs)
    attributions = kwargs.pop("attributions", torch.rand(x.shape[0], 1, 6, 6, dtype=F64)
                              if isinstance(x, torch.Tensor) and x.dim() == 4 else None)
    return deletion_insertion(net, x, attributions, n_steps=2, **kwargs)


METHODS = ["IGOS", "IGOSPlusPlus", "LayerRSIGradCam", "deletion_insertion"]


def run_telling_empty(method: str, net, x, **kwargs):
    """:func:`run` for a test that may meet empty maps: a mask method's map is empty
    (below the tolerance) for an image exactly when an ``EmptyMapWarning`` said so."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmptyMapWarning)
        result = run(method, net, x, **kwargs)
    told = [w for w in caught if issubclass(w.category, EmptyMapWarning)]
    if method in ("IGOS", "IGOSPlusPlus"):
        empty = (result.flatten(1).abs().amax(dim=1) < EMPTY_MAP_TOLERANCE).nonzero()
        said = [index for w in told for index in _images_named(str(w.message))]
        assert sorted(said) == empty.flatten().tolist(), (said, told)
    else:
        assert told == []
    return result


def _images_named(message: str) -> list[int]:
    listed = message.split("image(s) [", 1)[1].split("]", 1)[0]
    return [int(index) for index in listed.split(",")]


def _global_hooks() -> list[int]:
    return [len(torch_module._global_forward_pre_hooks), len(torch_module._global_forward_hooks),
            len(torch_module._global_backward_hooks)]


def snapshot(net: nn.Module):
    return (copy.deepcopy(net.state_dict()), [m.training for m in net.modules()],
            _global_hooks())


def assert_unchanged(net: nn.Module, before, calls: list) -> None:
    state, flags, global_hooks = before
    assert _global_hooks() == global_hooks
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


