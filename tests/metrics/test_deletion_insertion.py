"""Deletion / insertion: closed forms, orderings, a plain per-step loop, batching, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from captum_igos.baselines import blur_baseline
from captum_igos.metrics import DeletionInsertionResult, deletion_insertion
from captum_igos.metrics.deletion_insertion import TIE_SEED, TIES
from tests.conftest import TOLERANCES


class RegionFraction(nn.Module):
    """Output column 0: the fraction of ``region`` whose pixels are still 1 (channel 0)."""

    def __init__(self, region: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("region", region.float())
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        region = self.region.to(x.dtype)
        intact = (x[:, 0] * region).flatten(1).sum(1) / region.sum()
        return torch.stack([intact, 1 - intact], dim=1)


def region_setup(device, dtype, rows=slice(0, 4), cols=slice(0, 4)):
    region = torch.zeros(8, 8, dtype=torch.bool, device=device)
    region[rows, cols] = True
    model = RegionFraction(region).to(device)
    inputs = torch.ones(2, 3, 8, 8, device=device, dtype=dtype)
    perfect = region.to(dtype).expand(2, 1, 8, 8).clone()
    return model, inputs, perfect


def run_region(model, inputs, attributions, **kwargs):
    kwargs.setdefault("n_steps", 8)
    return deletion_insertion(
        model, inputs, attributions, target=0, baselines=0.0, score="raw", **kwargs
    )


def assert_close(actual, expected, dtype):
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, check_dtype=False)


# ---------------------------------------------------------------- closed forms


def test_closed_form_perfect_ranking(device, dtype):
    # region = 16 of 64 pixels, deleted first: score max(0, 1 - 4 f); kink at f = 1/4 = 2/8
    model, inputs, perfect = region_setup(device, dtype)
    result = run_region(model, inputs, perfect)
    fractions = torch.arange(9, dtype=torch.float64) / 8
    expected_deletion = torch.clamp(1 - 4 * fractions, min=0)
    for i in range(2):
        assert_close(result.deletion[i].cpu(), expected_deletion, dtype)
        assert_close(result.insertion[i].cpu(), 1 - expected_deletion, dtype)
    assert result.deletion_auc.device.type == device.type
    assert_close(result.deletion_auc.cpu(), torch.full((2,), 1 / 8, dtype=torch.float64), dtype)
    assert_close(result.insertion_auc.cpu(), torch.full((2,), 7 / 8, dtype=torch.float64), dtype)
    assert (result.deletion_auc.cpu() - 1 / 8).abs().max() < 1e-6
    assert result.fractions.dtype == dtype
    assert_close(result.fractions.cpu(), fractions, dtype)


def test_closed_form_reversed_ranking(device, dtype):
    # region deleted last: 1 until f = 3/4, then down to 0 -> AUC 3/4 + 1/8
    model, inputs, perfect = region_setup(device, dtype)
    result = run_region(model, inputs, -perfect)
    assert (result.deletion_auc.cpu().double() - 7 / 8).abs().max() < 1e-6
    assert (result.insertion_auc.cpu().double() - 1 / 8).abs().max() < 1e-6


def test_closed_form_steps_not_dividing_pixels():
    # 64 pixels in 5 steps: counts round(64 k / 5) = 0, 13, 26, 38, 51, 64
    model, inputs, perfect = region_setup("cpu", torch.float64)
    result = run_region(model, inputs, perfect, n_steps=5)
    counts = torch.tensor([0, 13, 26, 38, 51, 64], dtype=torch.float64)
    torch.testing.assert_close(result.fractions, counts / 64)
    deletion = torch.tensor([1, 3 / 16, 0, 0, 0, 0], dtype=torch.float64)
    torch.testing.assert_close(result.deletion[0], deletion)
    expected_auc = (13 / 64) * (1 + 3 / 16) / 2 + (13 / 64) * (3 / 16) / 2
    assert abs(float(result.deletion_auc[0]) - expected_auc) < 1e-12


def test_raster_ties_take_tied_pixels_in_raster_order():
    # a constant map deletes pixels in raster order: rows 0-1 (the region) go first
    model, inputs, _ = region_setup("cpu", torch.float64, rows=slice(0, 2), cols=slice(None))
    constant = torch.zeros(2, 3, 8, 8, dtype=torch.float64)
    result = run_region(model, inputs, constant, ties="raster")
    assert abs(float(result.deletion_auc[0]) - 1 / 8) < 1e-12
    assert abs(float(result.insertion_auc[1]) - 7 / 8) < 1e-12


def test_random_ties_follow_one_permutation_drawn_from_the_tie_seed():
    # tied units go in the order of torch.randperm(P) seeded with TIE_SEED: the constant
    # map gives exactly the curves of a map that ranks the pixels in that order
    model, inputs, _ = region_setup("cpu", torch.float64, rows=slice(0, 2), cols=slice(None))
    permutation = torch.randperm(64, generator=torch.Generator().manual_seed(TIE_SEED))
    rank = torch.empty(64, dtype=torch.long)
    rank[permutation] = torch.arange(64)
    in_that_order = (64 - rank).to(torch.float64).view(1, 1, 8, 8).expand(2, 1, 8, 8)
    constant = run_region(model, inputs, torch.zeros(2, 1, 8, 8, dtype=torch.float64))
    explicit = run_region(model, inputs, in_that_order)
    torch.testing.assert_close(constant.deletion, explicit.deletion, rtol=0, atol=0)
    torch.testing.assert_close(constant.insertion, explicit.insertion, rtol=0, atol=0)


def test_a_map_without_information_is_not_credited_through_its_ties():
    # the region is rows 0-1: raster ties delete it first, so a constant map (which says
    # nothing) gets the perfect map's deletion AUC 1/8; random ties give it about what a
    # random ranking gets (1/2 in expectation), far from perfect
    model, inputs, _ = region_setup("cpu", torch.float64, rows=slice(0, 2), cols=slice(None))
    constant = torch.zeros(2, 1, 8, 8, dtype=torch.float64)
    raster = run_region(model, inputs, constant, ties="raster", n_steps=64)
    shuffled = run_region(model, inputs, constant, n_steps=64)
    assert abs(float(raster.deletion_auc[0]) - 1 / 8) < 0.01
    assert 0.3 < float(shuffled.deletion_auc[0]) < 0.7
    assert 0.3 < float(shuffled.insertion_auc[0]) < 0.7


def test_ties_rule_changes_nothing_for_a_map_without_ties():
    model, inputs, _ = region_setup("cpu", torch.float64)
    attributions = torch.randn(2, 1, 8, 8, dtype=torch.float64)  # distinct values
    curves = [run_region(model, inputs, attributions, ties=ties) for ties in TIES]
    for name in ("deletion", "insertion"):
        assert getattr(curves[0], name).equal(getattr(curves[1], name))


def test_random_ties_do_not_depend_on_the_other_images_of_the_batch():
    model, inputs, perfect = region_setup("cpu", torch.float64, rows=slice(0, 2), cols=slice(None))
    attributions = torch.zeros(2, 1, 8, 8, dtype=torch.float64)
    attributions[1] = perfect[1]
    attributions[0, :, 4:, :] = 1.0  # ties inside and outside the marked rows
    together = run_region(model, inputs, attributions)
    alone = run_region(model, inputs[:1], attributions[:1])
    torch.testing.assert_close(together.deletion[:1], alone.deletion, rtol=0, atol=0)
    torch.testing.assert_close(together.insertion[:1], alone.insertion, rtol=0, atol=0)


def test_grid_cells_closed_form():
    # a 4 x 4 grid on 8 x 8: the 4 cells of the region go first -> same closed form
    model, inputs, perfect = region_setup("cpu", torch.float64)
    cell_map = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    cell_map[:, :, :2, :2] = 1
    for attributions in (perfect, cell_map, perfect.expand(2, 3, 8, 8)):
        result = run_region(model, inputs, attributions, grid=4, n_steps=16)
        assert abs(float(result.deletion_auc[0]) - 1 / 8) < 1e-12
        assert abs(float(result.insertion_auc[0]) - 7 / 8) < 1e-12


def test_grid_uses_cell_means_and_whole_cells():
    # one bright pixel outside the region outweighs nothing: the cell mean decides
    model, inputs, perfect = region_setup("cpu", torch.float64)
    attributions = perfect.clone()
    attributions[:, :, 7, 7] = 3.0  # cell (3, 3) mean 0.75 < region cells' 1.0
    result = run_region(model, inputs, attributions, grid=(4, 4), n_steps=16)
    assert abs(float(result.deletion_auc[0]) - 1 / 8) < 1e-12
    pixelwise = run_region(model, inputs, attributions, n_steps=64)
    assert float(pixelwise.deletion_auc[0]) > 1 / 8 + 1e-3  # pixel (7, 7) went first


def test_constant_curve_auc_equals_constant():
    class Constant(nn.Module):
        def forward(self, x):
            return torch.full((x.shape[0], 3), 0.37, dtype=x.dtype) + 0 * x.sum()

    inputs = torch.rand(3, 2, 5, 7, dtype=torch.float64)
    for n_steps in (1, 4, 7, 50):
        result = deletion_insertion(
            Constant(), inputs, torch.rand(3, 2, 5, 7, dtype=torch.float64), target=1,
            n_steps=n_steps, score="raw",
        )
        constant = torch.full((3,), 0.37, dtype=torch.float64)
        torch.testing.assert_close(result.deletion_auc, constant)
        torch.testing.assert_close(result.insertion_auc, constant)
        assert result.deletion.shape == (3, n_steps + 1)


# ---------------------------------------------------------------- orderings


def linear_setup(dtype=torch.float64):
    torch.manual_seed(1)
    weights = torch.rand(2, 10, 10, dtype=dtype)

    def model(x):
        score = (x * weights).sum(dim=(1, 2, 3))
        return torch.stack([score, -score], dim=1)

    return model, torch.ones(3, 2, 10, 10, dtype=dtype), weights.sum(0).expand(3, 1, 10, 10)


@pytest.mark.parametrize("score", ["raw", "probability"])
def test_perfect_beats_random_beats_reversed(score):
    model, inputs, perfect = linear_setup()
    results = {
        name: deletion_insertion(
            model, inputs, attributions, target=0, baselines=0.0, n_steps=20, score=score
        )
        for name, attributions in {
            "perfect": perfect,
            "random": torch.rand(3, 1, 10, 10, dtype=torch.float64),
            "reversed": -perfect,
        }.items()
    }
    d = {name: r.deletion_auc for name, r in results.items()}
    i = {name: r.insertion_auc for name, r in results.items()}
    assert bool((d["perfect"] < d["random"]).all()) and bool((d["random"] < d["reversed"]).all())
    assert bool((i["perfect"] > i["random"]).all()) and bool((i["random"] > i["reversed"]).all())


# ---------------------------------------------------------------- against a plain loop


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x, scale=None):
        h = F.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1).flatten(1)
        out = self.fc(h)
        return out if scale is None else out * scale[:, None]


def loop_reference(model, inputs, attributions, target, baselines, n_steps, score, scale=None):
    """Per image and per step, the plain definition."""
    n, _, height, width = inputs.shape
    pixels = height * width
    # ties: the earlier in one permutation drawn from TIE_SEED goes first
    permutation = torch.randperm(pixels, generator=torch.Generator().manual_seed(TIE_SEED))
    position = {unit: k for k, unit in enumerate(permutation.tolist())}
    deletion, insertion = [], []
    for i in range(n):
        values = attributions[i].sum(0).flatten().tolist()
        order = sorted(range(pixels), key=lambda unit: (-values[unit], position[unit]))
        rows_d, rows_i = [], []
        for k in range(n_steps + 1):
            count = int(k * pixels / n_steps + 0.5)
            mask = torch.zeros(pixels, dtype=torch.bool)
            mask[torch.tensor(order[:count], dtype=torch.long)] = True
            mask = mask.view(1, 1, height, width)
            x, b = inputs[i : i + 1], baselines[i : i + 1]
            pairs = ((rows_d, torch.where(mask, b, x)), (rows_i, torch.where(mask, x, b)))
            for rows, perturbed in pairs:
                args = () if scale is None else (scale[i : i + 1],)
                out = model(perturbed, *args)
                if score == "probability":
                    out = torch.softmax(out, dim=1)
                rows.append(out[0, target[i]])
        deletion.append(torch.stack(rows_d))
        insertion.append(torch.stack(rows_i))
    return torch.stack(deletion), torch.stack(insertion)


@pytest.mark.parametrize("score", ["probability", "raw"])
def test_matches_plain_loop(score):
    model = TinyNet().double().eval()
    inputs = torch.rand(3, 3, 6, 5, dtype=torch.float64)
    attributions = torch.randn(3, 3, 6, 5, dtype=torch.float64)
    attributions[0, :, :2] = 0.0  # ties
    with torch.no_grad():
        top1 = model(inputs).argmax(1)
        deletion, insertion = loop_reference(
            model, inputs, attributions, top1, blur_baseline(inputs), 7, score
        )
    result = deletion_insertion(model, inputs, attributions, n_steps=7, score=score)
    torch.testing.assert_close(result.deletion, deletion)
    torch.testing.assert_close(result.insertion, insertion)
    fractions = torch.tensor([int(k * 30 / 7 + 0.5) / 30 for k in range(8)], dtype=torch.float64)
    torch.testing.assert_close(result.deletion_auc, torch.trapezoid(deletion, fractions, dim=1))


def test_additional_forward_args_and_list_target_follow_each_image():
    model = TinyNet().double().eval()
    inputs = torch.rand(3, 3, 4, 4, dtype=torch.float64)
    attributions = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    scale = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    target = [4, 0, 2]
    baselines = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        deletion, insertion = loop_reference(
            model, inputs, attributions, target, baselines.expand_as(inputs), 4, "raw", scale
        )
    for batch in (None, 1, 5):
        result = deletion_insertion(
            model, inputs, attributions, target, baselines, 4,
            additional_forward_args=(scale,), score="raw", internal_batch_size=batch,
        )
        torch.testing.assert_close(result.deletion, deletion)
        torch.testing.assert_close(result.insertion, insertion)


def test_batching_invariance_and_per_image(dtype):
    model = TinyNet().to(dtype).eval()
    inputs = torch.rand(4, 3, 6, 6, dtype=dtype)
    attributions = torch.randn(4, 1, 3, 3, dtype=dtype)
    full = deletion_insertion(model, inputs, attributions, n_steps=6)
    rtol, atol = TOLERANCES[dtype]
    for batch in (1, 5, 13, 10_000):
        chunked = deletion_insertion(
            model, inputs, attributions, n_steps=6, internal_batch_size=batch
        )
        torch.testing.assert_close(chunked.deletion, full.deletion, rtol=rtol, atol=atol)
        torch.testing.assert_close(chunked.insertion_auc, full.insertion_auc, rtol=rtol, atol=atol)
    for i, image in enumerate(full):
        alone = deletion_insertion(model, inputs[i : i + 1], attributions[i : i + 1], n_steps=6)
        torch.testing.assert_close(alone.deletion[0], image.deletion, rtol=rtol, atol=atol)
        assert abs(alone.insertion_auc.item() - image.insertion_auc) < 1e-4
    assert len(full.per_image()) == len(full) == 4
    assert full.deletion[:, 0].equal(full.insertion[:, -1])
    assert full.deletion[:, -1].equal(full.insertion[:, 0])


def test_layer_map_is_upsampled_bilinearly_and_channels_summed():
    model = TinyNet().double().eval()
    inputs = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    layer = torch.randn(2, 1, 3, 3, dtype=torch.float64)
    upsampled = F.interpolate(layer, size=(8, 8), mode="bilinear", align_corners=False)
    split = torch.cat([upsampled * 0.25, upsampled * 0.75, torch.zeros_like(upsampled)], dim=1)
    reference = deletion_insertion(model, inputs, upsampled, n_steps=5)
    for attributions in (layer, split, upsampled[:, 0]):
        result = deletion_insertion(model, inputs, attributions, n_steps=5)
        torch.testing.assert_close(result.deletion, reference.deletion)
        torch.testing.assert_close(result.insertion, reference.insertion)


def test_abs_sum_ranks_by_magnitude():
    model, inputs, perfect = region_setup("cpu", torch.float64)
    signed = run_region(model, inputs, -perfect, channel_reduction="abs_sum")
    assert abs(float(signed.deletion_auc[0]) - 1 / 8) < 1e-12


def test_inputs_untouched_and_no_grad_needed():
    model = TinyNet().eval()
    inputs = torch.rand(2, 3, 5, 5)
    attributions = torch.randn(2, 3, 5, 5)
    before = inputs.clone(), attributions.clone()
    flags = [p.requires_grad for p in model.parameters()]
    deletion_insertion(model, inputs, attributions, n_steps=3)
    assert inputs.equal(before[0]) and attributions.equal(before[1])
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"attributions": torch.rand(2, 1, 9, 8)}, ValueError, r"expected attributions of shape"),
        ({"attributions": torch.rand(3, 1, 8, 8)}, ValueError, r"with N = 2; got \(3, 1, 8, 8\)"),
        ({"attributions": torch.rand(2, 1, 1, 8, 8)}, ValueError, r"expected attributions"),
        ({"attributions": torch.rand(8, 8)}, ValueError, r"got \(8, 8\)"),
        ({"attributions": torch.full((2, 1, 8, 8), float("nan"))}, ValueError, r"finite"),
        ({"n_steps": 0}, ValueError, r"expected n_steps >= 1, got 0"),
        ({"n_steps": 2.5}, TypeError, r"n_steps to be an int"),
        ({"grid": (9, 9)}, ValueError, r"grid no larger than the image \(8, 8\), got \(9, 9\)"),
        ({"grid": 0}, ValueError, r"expected grid >= 1, got 0"),
        ({"grid": (2, 2, 2)}, TypeError, r"grid to be None, an int or a pair"),
        ({"score": "logit"}, ValueError, r"score to be one of"),
        ({"channel_reduction": "max"}, ValueError, r"channel_reduction to be one of"),
        ({"ties": "first"}, ValueError, r"ties to be one of 'random', 'raster', got 'first'"),
        ({"internal_batch_size": 0}, ValueError, r"internal_batch_size >= 1"),
        ({"baselines": torch.rand(2, 3, 4, 4)}, ValueError, r"baselines\[0\] broadcastable"),
        ({"inputs": torch.rand(3, 8, 8)}, ValueError, r"inputs of shape \(N, C, H, W\)"),
    ],
)
def test_bad_input_raises_before_forward(kwargs, error, match):
    model, inputs, perfect = region_setup("cpu", torch.float32)
    hooks = []
    model.register_forward_hook(lambda *args: hooks.append(1))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    call = {"forward_func": model, "inputs": inputs, "attributions": perfect, "target": 0}
    call.update(kwargs)
    with pytest.raises(error, match=match):
        deletion_insertion(**call)
    assert model.calls == 0 and not hooks
    assert len(model._forward_hooks) == 1  # only the test's own hook
    assert not model._backward_hooks and not model._forward_pre_hooks
    assert all(state[k].equal(v) for k, v in model.state_dict().items())


def test_result_is_frozen():
    model, inputs, perfect = region_setup("cpu", torch.float32)
    result = run_region(model, inputs, perfect)
    assert isinstance(result, DeletionInsertionResult)
    with pytest.raises(AttributeError):
        result.deletion_auc = None


# ---------------------------------------------------------------- the offline default model


@pytest.mark.slow
def test_offline_model_grad_cam_beats_random_on_insertion():
    from captum.attr import LayerGradCam

    from captum_igos.models import load_model, sample_image

    loaded = load_model("efficientnet_lite0")
    inputs = loaded.batch(sample_image())
    with torch.no_grad():
        probabilities = torch.softmax(loaded.model(inputs), dim=1)
        blurred = torch.softmax(loaded.model(blur_baseline(inputs)), dim=1)
    target = probabilities.argmax(dim=1)
    cam = LayerGradCam(loaded.model, loaded.default_layer).attribute(inputs, target=target)
    result = deletion_insertion(loaded.model, inputs, cam, n_steps=8, internal_batch_size=8)
    random = deletion_insertion(
        loaded.model, inputs, torch.rand(1, 1, 224, 224), target=target, n_steps=8
    )
    # the curves start / end on the clean and the blurred image's probability
    torch.testing.assert_close(result.deletion[0, 0], probabilities[0, target[0]])
    torch.testing.assert_close(result.insertion[0, 0], blurred[0, target[0]])
    assert float(result.insertion_auc[0]) > float(random.insertion_auc[0]) + 0.1


@pytest.mark.parametrize("autocast", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
def test_reduced_precision_curves_are_float32_and_match_full_precision(autocast):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                          nn.Flatten(), nn.Linear(16, 3))
    inputs, attributions = torch.rand(2, 3, 8, 8), torch.rand(2, 1, 8, 8)
    seen = []
    model[0].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    full = deletion_insertion(model, inputs, attributions, n_steps=8)
    reduced = deletion_insertion(model, inputs, attributions, n_steps=8, autocast=autocast)
    assert autocast in seen
    assert reduced.deletion.dtype == reduced.deletion_auc.dtype == torch.float32
    assert float((full.deletion[:, 0] - full.deletion[:, -1]).abs().amin()) > 0  # curves move
    torch.testing.assert_close(reduced.deletion, full.deletion, rtol=0, atol=0.01)
    torch.testing.assert_close(reduced.insertion_auc, full.insertion_auc, rtol=0, atol=0.01)
