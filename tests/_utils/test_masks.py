"""Mask upsampling, blending and the (bilateral) total variation: values and gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from captum_igos._utils.masks import (
    bilateral_tv,
    bilateral_weights,
    blend,
    l1_to_ones,
    normalise_image,
    total_variation,
    upsample_mask,
)
from tests.conftest import TOLERANCES

D64 = torch.float64


def test_upsample_is_bilinear_with_aligned_corners(device, dtype):
    mask = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]], device=device, dtype=dtype)
    up = upsample_mask(mask, (3, 3))
    expected = torch.tensor(
        [[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]], device=device, dtype=dtype
    )
    torch.testing.assert_close(up[0, 0], expected)
    assert up.device == mask.device and up.dtype == dtype


def test_upsample_same_size_is_identity_and_one_cell_is_constant():
    mask = torch.rand(2, 1, 5, 4, dtype=D64)
    assert upsample_mask(mask, (5, 4)) is mask
    one = torch.full((1, 1, 1, 1), 0.3, dtype=D64)
    torch.testing.assert_close(upsample_mask(one, (4, 6)), torch.full((1, 1, 4, 6), 0.3, dtype=D64))


def test_upsample_is_linear_in_the_mask():
    mask = torch.rand(3, 1, 4, 5, dtype=D64)
    expected = 0.3 * upsample_mask(mask, (9, 11))
    torch.testing.assert_close(upsample_mask(0.3 * mask, (9, 11)), expected)


def test_blend_keeps_first_where_mask_is_one_and_second_where_zero():
    first, second = torch.rand(2, 3, 4, 4, dtype=D64), torch.rand(2, 3, 4, 4, dtype=D64)
    up = torch.rand(2, 1, 4, 4, dtype=D64)
    torch.testing.assert_close(blend(first, second, up), first * up + second * (1 - up))
    torch.testing.assert_close(blend(first, second, torch.ones_like(up)), first)
    torch.testing.assert_close(blend(first, second, torch.zeros_like(up)), second)


def test_total_variation_by_hand():
    mask = torch.tensor([[[[0.0, 1.0, 1.0], [0.0, 0.0, 0.5]]]], dtype=D64)
    # vertical squared differences: 0, 1, 0.25 (mean 1.25 / 3); horizontal: 1, 0, 0, 0.25
    expected = 1.25 / 3 + 1.25 / 4
    torch.testing.assert_close(total_variation(mask), torch.tensor([expected], dtype=D64))
    assert total_variation(torch.rand(2, 1, 1, 1)).tolist() == [0.0, 0.0]
    row = torch.tensor([[[[0.0, 2.0]]]], dtype=D64)
    torch.testing.assert_close(total_variation(row), torch.tensor([4.0], dtype=D64))


def test_l1_to_ones_is_mean_distance_to_ones_with_gradient_at_one():
    mask = torch.tensor([[[[1.0, 0.5], [0.0, 1.0]]]], dtype=D64, requires_grad=True)
    value = l1_to_ones(mask)
    torch.testing.assert_close(value, torch.tensor([0.375], dtype=D64))
    (grad,) = torch.autograd.grad(value.sum(), mask)
    torch.testing.assert_close(grad, torch.full_like(mask, -0.25))


def test_l1_to_ones_without_pull_at_one_has_the_same_value_and_zero_subgradient_at_one():
    mask = torch.tensor([[[[1.0, 0.5], [0.0, 1.0]]]], dtype=D64, requires_grad=True)
    value = l1_to_ones(mask, pull_at_one=False)
    torch.testing.assert_close(value, l1_to_ones(mask))
    (grad,) = torch.autograd.grad(value.sum(), mask)
    expected = torch.tensor([[[[0.0, -0.25], [-0.25, 0.0]]]], dtype=D64)
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize("size", [(7, 7), (3, 5), (12, 12)])
def test_gradcheck_upsample_blend_tv_and_bilateral_tv(size):
    torch.manual_seed(1)
    image = torch.rand(2, 3, 12, 12, dtype=D64)
    mask = torch.rand(2, 1, *size, dtype=D64, requires_grad=True)
    first = torch.rand(2, 3, 12, 12, dtype=D64, requires_grad=True)
    second = torch.rand(2, 3, 12, 12, dtype=D64, requires_grad=True)
    weights = bilateral_weights(image)
    assert gradcheck(lambda m: upsample_mask(m, (12, 12)), (mask,))
    assert gradcheck(lambda a, b, m: blend(a, b, upsample_mask(m, (12, 12))), (first, second, mask))
    assert gradcheck(total_variation, (mask,))
    assert gradcheck(lambda m: bilateral_tv(m, weights), (mask,))


def test_bilateral_tv_on_a_flat_image_is_half_tv_plus_tv_of_upsampled():
    mask = torch.rand(3, 1, 4, 4, dtype=D64)
    flat = torch.full((3, 3, 10, 10), 0.7, dtype=D64)
    weights = bilateral_weights(flat)
    assert all(bool((w == 1).all()) for w in weights)
    expected = 0.5 * (total_variation(mask) + total_variation(upsample_mask(mask, (10, 10))))
    torch.testing.assert_close(bilateral_tv(mask, weights), expected)


def test_bilateral_weights_cut_across_edges_and_ignore_input_scaling():
    image = torch.zeros(1, 3, 4, 6, dtype=D64)
    image[..., 3:] = 1.0  # a vertical edge between columns 2 and 3
    weight_y, weight_x = bilateral_weights(image, sigma=0.01)
    assert weight_y.shape == (1, 1, 3, 6) and weight_x.shape == (1, 1, 4, 5)
    assert bool((weight_y == 1).all())
    expected_x = torch.ones(1, 1, 4, 5, dtype=D64)
    expected_x[..., 2] = torch.exp(torch.tensor(-100.0, dtype=D64))
    torch.testing.assert_close(weight_x, expected_x)
    scaled = bilateral_weights(image * 255 - 120)
    torch.testing.assert_close(scaled[1], weight_x)


def test_bilateral_tv_by_hand_on_an_edge_image():
    image = torch.zeros(1, 1, 2, 2, dtype=D64)
    image[..., 1] = 1.0
    weights = bilateral_weights(image, sigma=0.5)
    mask = torch.tensor([[[[1.0, 0.0], [0.5, 0.5]]]], dtype=D64)
    # TV: vertical (0.25 + 0.25) / 2, horizontal (1 + 0) / 2; weights: 1 vertically,
    # exp(-1 / 0.5) across the edge
    tv = 0.25 + 0.5
    weighted = 0.25 + torch.exp(torch.tensor(-2.0, dtype=D64)) * 0.5
    torch.testing.assert_close(bilateral_tv(mask, weights), (0.5 * (tv + weighted)).reshape(1))


def test_normalise_image_per_image_min_max():
    image = torch.stack([torch.linspace(-2, 2, 12), torch.full((12,), 3.0)]).view(2, 3, 2, 2)
    out = normalise_image(image)
    torch.testing.assert_close(out[0].flatten(), torch.linspace(0, 1, 12))
    assert bool((out[1] == 0).all())


def test_masks_helpers_follow_device_and_dtype(device, dtype):
    rtol, atol = TOLERANCES[dtype]
    mask = torch.rand(2, 1, 3, 3, device=device, dtype=dtype)
    image = torch.rand(2, 3, 8, 8, device=device, dtype=dtype)
    value = bilateral_tv(mask, bilateral_weights(image))
    assert value.shape == (2,) and value.device == mask.device and value.dtype == dtype
    reference = bilateral_tv(mask.double().cpu(), bilateral_weights(image.double().cpu()))
    torch.testing.assert_close(value.double().cpu(), reference, rtol=rtol, atol=atol)
    up = F.interpolate(mask, size=(8, 8), mode="bilinear", align_corners=True)
    torch.testing.assert_close(upsample_mask(mask, (8, 8)), up)


def test_bilateral_weights_of_the_authors_code_by_hand():
    """Their vertical weight squares the channel mean of the differences, their horizontal
    one averages the channels' weights; ``source="input"`` skips the min-max scaling."""
    image = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    image[0, 0, 1, :] = 0.2   # a vertical step in channel 0 only
    image[0, 1, :, 1] = 0.1   # a horizontal step in channel 1 only
    w_y, w_x = bilateral_weights(image, sigma=0.01, source="input", channels="authors")
    # vertical: channel-mean difference (0.2 + 0) / 2 = 0.1 in both columns
    torch.testing.assert_close(w_y, torch.full((1, 1, 1, 2), math.exp(-0.01 / 0.01),
                                               dtype=torch.float64))
    # horizontal: mean over channels of exp(-d^2 / sigma): (exp(0) + exp(-0.01 / 0.01)) / 2
    torch.testing.assert_close(w_x, torch.full((1, 1, 2, 1), (1 + math.exp(-1.0)) / 2,
                                               dtype=torch.float64))
    ours_y, ours_x = bilateral_weights(image, sigma=0.01, source="input")
    torch.testing.assert_close(ours_y, torch.full_like(ours_y, math.exp(-0.02 / 0.01)))
    torch.testing.assert_close(ours_x, torch.full_like(ours_x, math.exp(-0.005 / 0.01)))
    scaled_y, _ = bilateral_weights(image, sigma=0.01)  # min-max: the 0.2 step becomes 1
    torch.testing.assert_close(scaled_y, torch.full_like(scaled_y, math.exp(-0.5 / 0.01)))
