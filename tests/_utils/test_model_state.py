"""_utils/model_state.py: a model in training mode is run in eval mode and left exactly as
it was (state_dict, every training flag, hooks); inference_mode gives a clear error."""

from __future__ import annotations

import pytest
import torch

from captum_igos.metrics import deletion_insertion
from tests._utils.model_helpers import F64, METHODS, assert_unchanged, make_net, run, snapshot, x2


def _seeded(method, net, **kwargs):
    torch.manual_seed(0)  # the I-GOS noise
    result = run(method, net, x2(), **kwargs)
    if method in ("IGOS", "IGOSPlusPlus"):  # compared maps must have moved
        assert bool((result.flatten(1).amax(dim=1) > 1e-3).all()), method
    return result.deletion if method == "deletion_insertion" else result


def test_control_a_plain_forward_in_training_mode_moves_batchnorm_and_is_random():
    """What the methods must avoid: the test model's own training-mode forward changes it."""
    net = make_net().train()
    before = snapshot(net)
    first, second = net(x2()), net(x2())
    assert not torch.equal(net.bn.running_mean, before[0]["bn.running_mean"])
    assert int(net.bn.num_batches_tracked) == 2
    assert not torch.equal(first, second)  # dropout


@pytest.mark.parametrize("method", METHODS)
def test_training_mode_model_is_left_exactly_as_it_was(method):
    """Every module runs in eval mode inside the call and gets its own flag back; the
    state_dict (BatchNorm running statistics, num_batches_tracked, parameters), hooks and
    .grad are untouched; the result equals the same model's in eval mode (dropout off)."""
    net = make_net()
    net.train()
    net.drop.eval()  # mixed flags are restored one by one
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)
    seen: list[bool] = []
    handles = [m.register_forward_hook(lambda module, *_: seen.append(module.training))
               for m in net.modules() if m is not net]
    result = _seeded(method, net, target=[1, 2])
    for handle in handles:
        handle.remove()
    assert_unchanged(net, before, [])
    assert seen and not any(seen)  # every module ran in eval mode
    torch.testing.assert_close(_seeded(method, net, target=[1, 2]), result)
    torch.testing.assert_close(_seeded(method, make_net().eval(), target=[1, 2]), result)


@pytest.mark.parametrize("method", METHODS)
def test_a_function_calling_the_model_is_switched_too(method):
    """forward_func need not be the module: each module is switched as it is called."""
    net = make_net().train()
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)
    with_function = _seeded(method, _Calls(net), target=[1, 2])
    assert_unchanged(net, before, [])
    torch.testing.assert_close(with_function, _seeded(method, make_net().eval(), target=[1, 2]))


class _Calls:
    """A plain callable (not a Module) around the network, with its layers reachable."""

    def __init__(self, net):
        self.net = net
        self.conv = net.conv

    def __call__(self, x):
        return self.net(x)


@pytest.mark.parametrize("method", METHODS)
def test_flags_and_hooks_are_restored_when_the_model_raises(method):
    net = make_net().train()
    before = snapshot(net)
    net.register_forward_pre_hook(lambda *_: None)

    def fail(module, args):
        assert not module.training
        raise RuntimeError("model failed")

    handle = net.head.register_forward_pre_hook(fail)
    with pytest.raises(RuntimeError, match="model failed"):
        run(method, net, x2(), target=[1, 2])
    handle.remove()
    assert_unchanged(net, before, [])


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
